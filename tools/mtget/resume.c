/*
 * resume.c - what --continue does with the journal at start: fold its
 * records into the state of each URL (the last record wins: done, partial
 * in a temporary, or nothing), so that a rerun skips what is done, resumes
 * what is partial with its validator, and removes every other temporary
 * (mtget_resume_keep is the sweep's filter).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "mtget.h"

/* A record with its own copies of the strings. */
typedef struct entry {
    mtget_record rec;
    char text[];
} entry;

/* An open-addressing table of entries by a string key (never deleted). */
typedef struct table {
    entry **slots;
    size_t cap, n;
    bool by_name; /* keyed by rec.name, else by rec.url */
} table;

struct mtget_resume {
    table urls;  /* every URL's last record */
    table parts; /* the temporaries of URLs whose last record is PART */
};

static const char *key_of(const table *t, const entry *e)
{
    return t->by_name ? e->rec.name : e->rec.url;
}

/* The slot of key: its entry's, or the empty one where it would go. */
static size_t slot_of(const table *t, const char *key)
{
    size_t mask = t->cap - 1, i = (size_t)XXH3_64bits(key, strlen(key)) & mask;
    while (t->slots[i] && strcmp(key_of(t, t->slots[i]), key) != 0)
        i = (i + 1) & mask;
    return i;
}

static int grow(table *t)
{
    size_t cap = t->cap ? 2 * t->cap : 64;
    entry **old = t->slots;
    size_t oldcap = t->cap;
    t->slots = calloc(cap, sizeof *t->slots);
    if (!t->slots) {
        t->slots = old;
        return -ENOMEM;
    }
    t->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i])
            t->slots[slot_of(t, key_of(t, old[i]))] = old[i];
    free(old);
    return 0;
}

/* Put e under its key; the entry it replaces, or NULL. */
static int put(table *t, entry *e, entry **replaced)
{
    *replaced = NULL;
    if (2 * (t->n + 1) > t->cap) {
        int err = grow(t);
        if (err < 0)
            return err;
    }
    size_t i = slot_of(t, key_of(t, e));
    if (t->slots[i])
        *replaced = t->slots[i];
    else
        t->n++;
    t->slots[i] = e;
    return 0;
}

static entry *entry_new(const mtget_record *rec)
{
    const char *s[4] = {rec->url, rec->name, rec->etag, rec->last_modified};
    size_t len[4], total = 0;
    for (int i = 0; i < 4; i++)
        total += (len[i] = strlen(s[i])) + 1;
    entry *e = malloc(sizeof *e + total);
    if (!e)
        return NULL;
    e->rec = *rec;
    char *p = e->text;
    const char **dst[4] = {&e->rec.url, &e->rec.name, &e->rec.etag, &e->rec.last_modified};
    for (int i = 0; i < 4; i++) {
        memcpy(p, s[i], len[i] + 1);
        *dst[i] = p;
        p += len[i] + 1;
    }
    return e;
}

static int fold(void *ctx, const mtget_record *rec)
{
    mtget_resume *r = ctx;
    entry *e = entry_new(rec), *old;
    if (!e)
        return -ENOMEM;
    int err = put(&r->urls, e, &old);
    if (err < 0) {
        free(e);
        return err;
    }
    free(old);
    return 0;
}

void mtget_resume_free(mtget_resume *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->urls.cap; i++)
        free(r->urls.slots[i]);
    free(r->urls.slots);
    free(r->parts.slots); /* its entries are the urls' */
    free(r);
}

int mtget_resume_new(mtget_resume **out, mtget_journal *j)
{
    if (!out || !j)
        return -EINVAL;
    *out = NULL;
    mtget_resume *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->parts.by_name = true;
    int err = mtget_journal_replay(j, fold, r);
    /* the index of temporaries, from each URL's last record */
    for (size_t i = 0; err >= 0 && i < r->urls.cap; i++) {
        entry *e = r->urls.slots[i], *old;
        if (e && e->rec.kind == MTGET_REC_PART && mtget_is_tmpname(e->rec.name))
            err = put(&r->parts, e, &old);
    }
    if (err < 0) {
        mtget_resume_free(r);
        return err;
    }
    *out = r;
    return 0;
}

const mtget_record *mtget_resume_find(const mtget_resume *r, const char *url)
{
    if (!r || !url || !r->urls.cap)
        return NULL;
    entry *e = r->urls.slots[slot_of(&r->urls, url)];
    return e && e->rec.kind != MTGET_REC_GONE ? &e->rec : NULL;
}

bool mtget_resume_keep(void *ctx, const char *name)
{
    const mtget_resume *r = ctx;
    if (!r || !name || !r->parts.cap)
        return false;
    entry *e = r->parts.slots[slot_of(&r->parts, name)];
    /* the URL's last word on this temporary must still be PART */
    return e && mtget_resume_find(r, e->rec.url) == &e->rec;
}
