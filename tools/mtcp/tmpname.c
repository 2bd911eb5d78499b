/*
 * tmpname.c - the temporary names files are written under before they are
 * renamed into place: ".mtcp-<XXH3 of the final name>.part", the same on
 * every run so that --resume finds a killed run's big file again.
 *
 * A source directory may itself hold a file of such a name (a killed run's
 * leftover that was copied back, or a file named so by chance). That file is
 * copied like any other, so a name the source holds is never used as a
 * temporary name, and never removed as a leftover: the next name,
 * ".mtcp-<hash>.<n>.part", is taken instead.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "mtcp.h"

#define MAX_NAMES 10 /* a tenth colliding source file is too many to be chance */

static void tmpname(char out[MTCP_TMPNAME], const char *dname, unsigned n)
{
    uint64_t h = XXH3_64bits(dname, strlen(dname));
    if (n == 0)
        snprintf(out, MTCP_TMPNAME, ".mtcp-%016" PRIx64 ".part", h);
    else
        snprintf(out, MTCP_TMPNAME, ".mtcp-%016" PRIx64 ".%u.part", h, n);
}

static bool in_source(const mtcp_node *dir, const char *name)
{
    struct stat st;
    return fstatat(dir->sfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int mtcp_tmp_first_free(const mtcp_node *dir, const char *dname, char out[MTCP_TMPNAME])
{
    for (unsigned n = 0; n < MAX_NAMES; n++) {
        tmpname(out, dname, n);
        if (!in_source(dir, out))
            return (int)n;
    }
    return -EEXIST;
}

int mtcp_tmp_make(const mtcp_node *dir, const char *dname, char out[MTCP_TMPNAME], int first,
                  mtcp_make_fn *make, void *ctx)
{
    if (first < 0)
        return first;
    for (unsigned n = (unsigned)first; n < MAX_NAMES; n++) {
        tmpname(out, dname, n);
        int r = make(ctx, dir->dfd, out);
        if (r != -EEXIST)
            return r;
        if (in_source(dir, out))
            continue;
        /* A killed run's leftover: replace it, once. */
        if (unlinkat(dir->dfd, out, 0) < 0 && errno != ENOENT)
            return -errno;
        return make(ctx, dir->dfd, out);
    }
    return -EEXIST;
}
