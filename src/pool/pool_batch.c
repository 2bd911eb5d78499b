/*
 * pool_batch.c - the parent's bookkeeping of a batch (map, imap, starmap):
 * how it is cut into chunks, where each chunk's result waits, and reading an
 * item back out of a finished chunk. A chunk travels as one dispatch unit and
 * comes back as one record (the items' bytes, then an {err, end} entry per
 * item), which is kept as it came.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pool_internal.h"

#define CHUNK_ARG_BYTES (64 * 1024)

size_t mt__batch_pick_chunksize(const mt_pool *p, size_t n, size_t avg_bytes, size_t asked)
{
    if (asked)
        return asked < UINT32_MAX ? asked : UINT32_MAX;
    size_t per = 4 * (size_t)p->nworkers;
    size_t size = n / per + (n % per != 0);
    size_t cap = CHUNK_ARG_BYTES / (avg_bytes ? avg_bytes : 1);
    if (size > cap)
        size = cap;
    return size ? size : 1;
}

mt__batch *mt__batch_new(mt_fn *fn, const void *items, const mt_iov *iov, size_t n,
                     size_t item_size, size_t chunksize, size_t ring, size_t fed_ring,
                     bool unordered)
{
    mt__batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->fn = fn;
    b->items = items;
    b->iov = iov;
    b->n = n;
    b->item_size = item_size;
    b->chunksize = chunksize;
    b->nchunks = n / chunksize + (n % chunksize != 0);
    b->refs = 1;
    b->ring = ring ? ring : (b->nchunks ? b->nchunks : 1);
    b->chunks = calloc(b->ring, sizeof *b->chunks);
    if (unordered)
        b->done_order = calloc(b->ring, sizeof *b->done_order);
    if (fed_ring) {
        b->fed = calloc(fed_ring, sizeof *b->fed);
        b->fed_ring = fed_ring;
        b->feeding = true;
    }
    if (!b->chunks || (unordered && !b->done_order) || (fed_ring && !b->fed)) {
        mt__batch_unref(b);
        return NULL;
    }
    return b;
}

void mt__chunk_free(mt__chunk_result *c)
{
    if (c->map)
        munmap(c->map, c->map_len);
    else if (!c->in_arena)
        free((void *)c->body);
    free(c->msg);
    free(c->crash_msg);
    *c = (mt__chunk_result){.done = c->done};
}

void mt__batch_unref(mt__batch *b)
{
    if (--b->refs > 0)
        return;
    for (size_t i = 0; b->chunks && i < b->ring; i++)
        mt__chunk_free(&b->chunks[i]);
    for (size_t i = 0; b->fed && i < b->fed_ring; i++)
        free((void *)b->fed[i].data); /* fed, never dispatched */
    free(b->fed);
    free(b->chunks);
    free(b->done_order);
    mt__arena_free(&b->arena);
    free(b);
}

size_t mt__batch_ready_items(const mt__batch *b)
{
    size_t left = b->n - b->next_item;
    return b->feeding ? left - left % b->chunksize : left;
}

void mt__batch_chunk_done(mt__batch *b, size_t chunk, mt__chunk_result *res)
{
    res->done = true;
    mt__chunk_result *c = mt__batch_chunk(b, chunk);
    *c = *res;
    if (b->abandoned)
        mt__chunk_free(c);
    if (b->done_order)
        b->done_order[b->ndone_order++ % b->ring] = chunk;
    b->chunks_done++;
    b->inflight--;
    mt__batch_unref(b);
}

void mt__batch_stop_feeding(mt_pool *p, mt__batch *b)
{
    if (!b->feeding)
        return;
    b->feeding = false;
    p->batches_fed--;
}

void mt__batch_fail_rest(mt_pool *p, mt__batch *b, int err, const char *why)
{
    mt__batch_stop_feeding(p, b); /* a fed batch ends here */
    while (b->next_item < b->n) {
        size_t chunk = b->next_item / b->chunksize;
        b->next_item = b->next_item + b->chunksize < b->n ? b->next_item + b->chunksize : b->n;
        b->inflight++; /* mt__batch_chunk_done counts it back */
        b->refs++;
        mt__chunk_result r = {.err = err, .msg = strdup(why)};
        mt__batch_chunk_done(b, chunk, &r);
    }
}

mt__chunk_result mt__chunk_view(const mt__rec_hdr *hdr, const char *body)
{
    return (mt__chunk_result){.done = true, .body = body, .body_len = hdr->body,
                          .nitems = hdr->nitems, .nfailed = hdr->nfailed,
                          .uniform = hdr->uniform != 0, .item_len = hdr->item_len,
                          .err = hdr->err};
}

int mt__chunk_item(const mt__chunk_result *c, size_t j, mt_iov *out)
{
    if (c->err || j >= c->nitems) {
        *out = (mt_iov){c->msg ? c->msg : "", c->msg ? strlen(c->msg) : 0};
        return c->err ? c->err : -EPROTO;
    }
    if (c->crashed == j + 1) {
        const char *m = c->crash_msg ? c->crash_msg : "";
        *out = (mt_iov){m, strlen(m)};
        return MT_EWORKER;
    }
    if (c->uniform) {
        *out = (mt_iov){c->body + j * c->item_len, c->item_len};
        return 0;
    }
    /* Entries follow data of any length: copy them out, they may be unaligned. */
    const char *entries = c->body + c->body_len - (uint64_t)c->nitems * sizeof(mt__rec_entry);
    mt__rec_entry e, prev = {0};
    memcpy(&e, entries + j * sizeof e, sizeof e);
    if (j)
        memcpy(&prev, entries + (j - 1) * sizeof e, sizeof e);
    *out = (mt_iov){c->body + prev.end, e.end - prev.end};
    return e.err;
}
