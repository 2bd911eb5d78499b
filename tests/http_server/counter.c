/*
 * counter.c - how many requests each path (and each exact target)
 * received, and the most of them answered at once, for /_/count: tests of
 * deduplication and of a client's concurrency limits ask it. A fixed
 * table of chains; past HTTPD_COUNT_MAX keys new ones are no longer
 * counted.
 */
#define _GNU_SOURCE
#include <stdio.h>
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

/* Add delta to the count of prefix+value; returns the new count (0 when
 * it cannot be counted). */
static unsigned long long add(const char *prefix, const char *value, long long delta)
{
    size_t lp = strlen(prefix), lv = strlen(value);
    char *key = malloc(lp + lv + 1);
    if (!key)
        return 0;
    memcpy(key, prefix, lp);
    memcpy(key + lp, value, lv + 1);
    count_entry **e = find(key);
    if (!*e && nkeys < HTTPD_COUNT_MAX && (*e = malloc(sizeof **e + lp + lv + 1))) {
        (*e)->next = NULL;
        (*e)->n = 0;
        memcpy((*e)->key, key, lp + lv + 1);
        nkeys++;
    }
    unsigned long long n = 0;
    if (*e)
        n = (*e)->n += (unsigned long long)delta;
    free(key);
    return n;
}

void httpd_count(const httpd_req *r)
{
    add("path:", r->path, 1);
    add("target:", r->target, 1);
}

/* Raise the record "most:" + value to n if below. */
static void record(const char *value, unsigned long long n)
{
    unsigned long long most = httpd_count_get_parts("most:", value);
    if (n > most)
        add("most:", value, (long long)(n - most));
}

void httpd_busy(const httpd_req *r, int delta)
{
    record(r->path, add("busy:", r->path, delta));
    record("*", add("busy:", "*", delta));
}

unsigned long long httpd_count_get(const char *key)
{
    count_entry *e = *find(key);
    return e ? e->n : 0;
}

unsigned long long httpd_count_get_parts(const char *prefix, const char *value)
{
    char key[HTTPD_MAX_PATH + 16];
    snprintf(key, sizeof key, "%s%s", prefix, value);
    return httpd_count_get(key);
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
