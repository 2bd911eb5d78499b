/*
 * seen.c - the URLs a run has met, for dedupe: an open-addressing set of
 * XXH3 128-bit hashes of the canonical URLs, 16 bytes a URL instead of the
 * strings (a million URLs: 32 MiB at most, half that usually). Two
 * different URLs share a hash with odds of about n^2 / 2^129: never, in
 * practice.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tool.h"

struct mtget_seen {
    XXH128_hash_t *slots; /* {0, 0}: empty */
    size_t cap;           /* a power of two */
    size_t count;
};

int mtget_seen_new(mtget_seen **out)
{
    mtget_seen *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->cap = 1024;
    s->slots = calloc(s->cap, sizeof *s->slots);
    if (!s->slots) {
        free(s);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

static bool empty(XXH128_hash_t h)
{
    return h.low64 == 0 && h.high64 == 0;
}

/* The slot of h: where it is, or the empty one where it goes. */
static XXH128_hash_t *find(XXH128_hash_t *slots, size_t cap, XXH128_hash_t h)
{
    for (size_t i = (size_t)h.low64 & (cap - 1);; i = (i + 1) & (cap - 1))
        if (empty(slots[i]) || XXH128_isEqual(slots[i], h))
            return &slots[i];
}

static int grow(mtget_seen *s)
{
    size_t cap = s->cap * 2;
    XXH128_hash_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (size_t i = 0; i < s->cap; i++)
        if (!empty(s->slots[i]))
            *find(slots, cap, s->slots[i]) = s->slots[i];
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return 0;
}

static XXH128_hash_t hash(const char *url, unsigned kind)
{
    XXH128_hash_t h = XXH3_128bits_withSeed(url, strlen(url), kind);
    if (empty(h))
        h.low64 = 1;
    return h;
}

void mtget_seen_key(unsigned char key[16], const char *url, unsigned kind)
{
    XXH128_canonicalFromHash((XXH128_canonical_t *)key, hash(url, kind));
}

int mtget_seen_add(mtget_seen *s, const char *url, unsigned kind)
{
    XXH128_hash_t h = hash(url, kind);
    XXH128_hash_t *slot = find(s->slots, s->cap, h);
    if (!empty(*slot))
        return 0;
    if ((s->count + 1) * 4 > s->cap * 3) { /* keep it under 3/4 full */
        if (grow(s) < 0)
            return -ENOMEM;
        slot = find(s->slots, s->cap, h);
    }
    *slot = h;
    s->count++;
    return 1;
}

size_t mtget_seen_count(const mtget_seen *s)
{
    return s->count;
}

void mtget_seen_free(mtget_seen *s)
{
    if (!s)
        return;
    free(s->slots);
    free(s);
}
