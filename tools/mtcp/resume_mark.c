/*
 * resume_mark.c - the mark of an unfinished copy. `mtcp SOURCE DEST` with a
 * directory SOURCE and no DEST makes DEST the copy; a killed run leaves DEST
 * a directory, and by cp's rule a second `mtcp SOURCE DEST` would copy into
 * it, as DEST/SOURCE. So the copy's top directory holds a small file,
 * MTCP_MARK, naming SOURCE (its absolute path), from the moment it is made
 * until everything in it was copied; `mtcp --resume SOURCE DEST` finds the
 * mark naming that SOURCE and resumes into DEST itself.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtcp.h"

#define MARK_MAX 8192
#define MARK_TMP MTCP_MARK ".part"

char *mtcp_mark_text(const char *src)
{
    char *real = realpath(src, NULL), *text = NULL;
    if (real && asprintf(&text, "mtcp: unfinished copy of\n%s\n", real) < 0)
        text = NULL;
    free(real);
    return text;
}

/* Whether dfd holds the mark with this text. */
static bool has_mark(int dfd, const char *text)
{
    char have[MARK_MAX];
    int fd = openat(dfd, MTCP_MARK, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, have, sizeof have - 1);
    if (fd >= 0)
        close(fd);
    if (n < 0)
        return false;
    have[n] = '\0';
    return strcmp(have, text) == 0;
}

bool mtcp_mark_found(const char *dest, const char *text)
{
    int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool found = dfd >= 0 && has_mark(dfd, text);
    if (dfd >= 0)
        close(dfd);
    return found;
}

int mtcp_mark_set(int dfd, const char *text)
{
    if (has_mark(dfd, text))
        return 0; /* resumed */
    /* Written under a fresh name and renamed over: whatever has the mark's
     * name (a hard link to another file, say) is never written to. */
    if (unlinkat(dfd, MARK_TMP, 0) < 0 && errno != ENOENT)
        return -errno;
    int fd = openat(dfd, MARK_TMP, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    size_t len = strlen(text);
    int err = write(fd, text, len) == (ssize_t)len ? 0 : -EIO;
    close(fd);
    if (err == 0 && renameat(dfd, MARK_TMP, dfd, MTCP_MARK) < 0)
        err = -errno;
    if (err < 0)
        unlinkat(dfd, MARK_TMP, 0);
    return err;
}

void mtcp_mark_clear(int dfd, const char *text)
{
    /* A SOURCE file of that name, copied over the mark, stays. */
    if (has_mark(dfd, text))
        unlinkat(dfd, MTCP_MARK, 0);
}
