/*
 * verify.c - --verify: read the source and the copy back and compare their
 * XXH3 digests, before the copy gets its final name. A copy that differs is
 * never put in place.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <unistd.h>
#include <xxhash.h>

#include "mtcp.h"

/* The XXH3-64 digest of fd's first `size` bytes, into *out. */
static int digest(int fd, char *buf, uint64_t size, XXH64_hash_t *out)
{
    XXH3_state_t *s = XXH3_createState();
    if (!s)
        return -ENOMEM;
    XXH3_64bits_reset(s);
    int err = 0;
    for (uint64_t off = 0; off < size;) {
        size_t want = size - off < MTCP_BUF ? (size_t)(size - off) : MTCP_BUF;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? -errno : MTCP_ECHANGED;
            break;
        }
        XXH3_64bits_update(s, buf, (size_t)n);
        off += (uint64_t)n;
    }
    *out = XXH3_64bits_digest(s);
    XXH3_freeState(s);
    return err;
}

int mtcp_verify(mtcp_worker *w, int sfd, int tfd, uint64_t size)
{
    XXH64_hash_t a, b;
    int err = digest(sfd, w->buf, size, &a);
    if (err == 0)
        err = digest(tfd, w->buf, size, &b);
    if (err == 0 && a != b)
        err = MTCP_EMISMATCH;
    return err;
}
