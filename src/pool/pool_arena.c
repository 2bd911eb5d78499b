/*
 * pool_arena.c - where a map keeps its results in the parent: blocks of a
 * few MiB, handed out front to back and freed all together with the results.
 * The blocks ask for transparent huge pages: a million small results then
 * cost a handful of page faults instead of one per 4 KiB, which is most of a
 * fresh map's time otherwise.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>

#include "pool_internal.h"

#define BLOCK_BYTES (4u << 20)

typedef struct mt__arena_block {
    struct mt__arena_block *next;
    size_t size; /* the whole mapping */
    size_t used; /* bytes handed out, this header included */
} block;

void *mt__arena_alloc(mt__arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    block *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t size = sizeof *b + n > BLOCK_BYTES ? sizeof *b + n : BLOCK_BYTES;
        void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        madvise(m, size, MADV_HUGEPAGE); /* a hint: fine if refused */
        madvise(m, size, MADV_DONTFORK);  /* workers forked later need none of it */
        b = m;
        b->size = size;
        b->used = (sizeof *b + 15) & ~(size_t)15;
        b->next = a->head;
        a->head = b;
    }
    void *p = (char *)b + b->used;
    b->used += n;
    return p;
}

void mt__arena_free(mt__arena *a)
{
    while (a->head) {
        block *b = a->head;
        a->head = b->next;
        munmap(b, b->size);
    }
}
