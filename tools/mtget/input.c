/*
 * input.c - lists of URLs (-i FILE, --pages FILE), read a line at a time
 * as the pipeline takes them, so a list of millions costs no more memory
 * than a list of ten. A regular file is read with getline (the page cache
 * answers at once); anything else (standard input from a pipe or a
 * terminal) through a stream of the loop, so that a slow writer suspends
 * only the feeder, never the downloads.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool.h"

/* A URL longer than this is not a URL we fetch; its line is skipped. */
#define LINE_MAX_BYTES (64 << 10)

struct mtget_input {
    FILE *file;        /* a regular file */
    mt_stream *stream; /* anything else */
    char *line;
    size_t cap;
};

int mtget_input_open(mtget_input **out, const char *path)
{
    mtget_input *in = calloc(1, sizeof *in);
    if (!in)
        return -ENOMEM;
    bool std = strcmp(path, "-") == 0;
    int fd = std ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int err = 0;
    if (fd < 0 || fstat(fd, &st) < 0) {
        err = -errno;
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        err = -EISDIR;
        goto fail;
    }
    if (S_ISREG(st.st_mode)) {
        if (!(in->file = fdopen(fd, "r"))) {
            err = -errno;
            goto fail;
        }
    } else {
        err = mt_stream_new(&in->stream, fd, &(mt_stream_opts){.limit = LINE_MAX_BYTES});
        if (err)
            goto fail;
    }
    *out = in;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    free(in);
    return err;
}

/* Trim blanks; whether what is left is a URL line (not empty, not a
 * comment). */
static bool clean(mt_buf *b)
{
    size_t s = 0, e = b->len;
    while (s < e && isspace((unsigned char)b->data[s]))
        s++;
    while (e > s && isspace((unsigned char)b->data[e - 1]))
        e--;
    memmove(b->data, b->data + s, e - s);
    b->len = e - s;
    b->data[b->len] = '\0';
    return b->len > 0 && b->data[0] != '#';
}

int mtget_input_next(mtget_input *in, mt_buf *line)
{
    for (;;) {
        mt_buf_reset(line);
        if (in->file) {
            errno = 0;
            ssize_t n = getline(&in->line, &in->cap, in->file);
            if (n < 0)
                return errno ? -errno : 0;
            if (n > LINE_MAX_BYTES)
                continue;
            if (mt_buf_append(line, in->line, (size_t)n) < 0 || mt_buf_reserve(line, 1) < 0)
                return -ENOMEM;
        } else {
            ssize_t n = mt_stream_readline(in->stream, line);
            if (n == -EMSGSIZE)
                continue;
            if (n <= 0)
                return (int)n;
        }
        if (mt_buf_reserve(line, 1) < 0)
            return -ENOMEM;
        if (clean(line))
            return 1;
    }
}

void mtget_input_free(mtget_input *in)
{
    if (!in)
        return;
    if (in->file)
        fclose(in->file);
    mt_stream_free(in->stream);
    free(in->line);
    free(in);
}
