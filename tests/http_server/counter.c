/*
 * counter.c - how many requests each path (and each exact target)
 * received, for /_/count: tests of deduplication ask it. A fixed table of
 * chains; past HTTPD_COUNT_MAX keys new ones are no longer counted.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "httpd.h"

#define BUCKETS         4096
#define HTTPD_COUNT_MAX 1000000

typedef struct count_entry {
    struct count_entry *next;
    unsigned long long n;
    char key[];
} count_entry;

static count_entry *table[BUCKETS];
static size_t nkeys;

static size_t bucket_of(const char *key)
{
    size_t h = 5381;
    for (; *key; key++)
        h = h * 33 + (unsigned char)*key;
    return h % BUCKETS;
}

static count_entry **find(const char *key)
{
    count_entry **e = &table[bucket_of(key)];
    while (*e && strcmp((*e)->key, key) != 0)
        e = &(*e)->next;
    return e;
}

static void bump(const char *prefix, const char *value)
{
    size_t lp = strlen(prefix), lv = strlen(value);
    char *key = malloc(lp + lv + 1);
    if (!key)
        return;
    memcpy(key, prefix, lp);
    memcpy(key + lp, value, lv + 1);
    count_entry **e = find(key);
    if (!*e && nkeys < HTTPD_COUNT_MAX && (*e = malloc(sizeof **e + lp + lv + 1))) {
        (*e)->next = NULL;
        (*e)->n = 0;
        memcpy((*e)->key, key, lp + lv + 1);
        nkeys++;
    }
    if (*e)
        (*e)->n++;
    free(key);
}

void httpd_count(const httpd_req *r)
{
    bump("path:", r->path);
    bump("target:", r->target);
}

unsigned long long httpd_count_get(const char *key)
{
    count_entry *e = *find(key);
    return e ? e->n : 0;
}

void httpd_count_free(void)
{
    for (size_t i = 0; i < BUCKETS; i++)
        while (table[i]) {
            count_entry *e = table[i];
            table[i] = e->next;
            free(e);
        }
    nkeys = 0;
}
