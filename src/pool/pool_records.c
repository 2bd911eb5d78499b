/*
 * pool_records.c - checks on the result records workers write.
 *
 * A worker's result ring lives in memory that the task code running in that
 * worker can write. A wild write there must not take the parent down with it:
 * before the parent follows any length or offset of a record it checks that
 * it stays inside the record, and a worker that wrote one that does not is
 * stopped like a crashed one (see pool_pump.c). The checks guard against
 * corruption, not against a hostile worker racing the parent.
 */
#include "pool_internal.h"

#include <string.h>

bool mt__record_ok(const mt__rec_hdr *h, uint64_t off, uint64_t avail)
{
    if (h->size < sizeof *h || h->size % 8 || h->size > avail ||
        h->size > RESULT_RING_BYTES - off)
        return false;
    switch (h->kind) {
    case REC_LARGE: /* body is the size of the memfd that follows on the socket */
        return h->size == sizeof *h;
    case REC_RESULT:
    case REC_READY:
    case REC_INITFAIL:
        return h->body <= h->size - sizeof *h;
    default:
        return false;
    }
}

bool mt__chunk_record_ok(const mt__rec_hdr *h, const char *body, uint64_t items)
{
    if (h->err)
        return true; /* the body is a message, read with its length */
    if (h->nitems != items || h->nfailed > h->nitems)
        return false;
    if (h->uniform)
        return !h->nitems || h->item_len <= h->body / h->nitems;
    if (h->body / sizeof(mt__rec_entry) < h->nitems)
        return false;
    /* Item data comes first, then one entry per item whose `end` offsets
     * climb through the data. */
    uint64_t data = h->body - (uint64_t)h->nitems * sizeof(mt__rec_entry), prev = 0;
    for (uint32_t i = 0; i < h->nitems; i++) {
        mt__rec_entry e;
        memcpy(&e, body + data + (uint64_t)i * sizeof e, sizeof e);
        if (e.end < prev || e.end > data)
            return false;
        prev = e.end;
    }
    return true;
}
