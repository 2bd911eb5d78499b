/*
 * write_all.c - write a whole buffer to an fd: the one loop every layer
 * that writes files, pipes or terminals uses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>

#include "core_internal.h"

int mt__write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
