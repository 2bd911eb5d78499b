/*
 * gzipbomb.c - /_/gzipbomb?mb=M: a body with Content-Encoding: gzip that
 * inflates to M MiB of zeros (1024 by default) from about M KiB on the
 * wire. Made with zlib on first request and kept for the next ones of the
 * same size (another size replaces it). X-Uncompressed-Length states the size it inflates to.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "httpd.h"

static unsigned char *bomb;
static size_t bomb_len;
static long long bomb_mb = -1;

#define MIB (1u << 20)

/* Deflating 1 GiB takes seconds; instead one MiB of zeros is deflated with
 * a full flush, after which the compressor starts afresh, so the bytes for
 * every further MiB are the same: the stream is that piece mb times, an
 * empty final block, and the gzip header and trailer around them. */
static int make_bomb(long long mb)
{
    z_stream z = {0};
    unsigned char piece[4096], last[64], *zeros = calloc(1, MIB);
    size_t piece_len = 0, last_len = 0;
    int err = -ENOMEM;
    if (!zeros || deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        goto done;
    for (int round = 0; round < 2; round++) { /* the second piece is the repeating one */
        z.next_in = zeros;
        z.avail_in = MIB;
        z.next_out = piece;
        z.avail_out = sizeof piece;
        if (deflate(&z, Z_FULL_FLUSH) != Z_OK || z.avail_in || !z.avail_out)
            goto end;
        piece_len = sizeof piece - z.avail_out;
    }
    z.next_out = last;
    z.avail_out = sizeof last;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        goto end;
    last_len = sizeof last - z.avail_out;
    size_t total = 10 + (size_t)mb * piece_len + last_len + 8;
    unsigned char *out = malloc(total), *p = out;
    if (!out)
        goto end;
    static const unsigned char header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3};
    memcpy(p, header, sizeof header);
    p += sizeof header;
    uLong crc_piece = crc32(0, zeros, MIB), crc = crc32(0, NULL, 0);
    for (long long i = 0; i < mb; i++, p += piece_len) {
        memcpy(p, piece, piece_len);
        crc = crc32_combine(crc, crc_piece, MIB);
    }
    memcpy(p, last, last_len);
    p += last_len;
    uint32_t trailer[2] = {(uint32_t)crc, (uint32_t)((unsigned long long)mb * MIB)};
    for (int i = 0; i < 8; i++) /* little-endian */
        *p++ = (unsigned char)(trailer[i / 4] >> (8 * (i % 4)));
    free(bomb);
    bomb = out;
    bomb_len = total;
    bomb_mb = mb;
    err = 0;
end:
    deflateEnd(&z);
done:
    free(zeros);
    return err;
}

int httpd_serve_gzipbomb(httpd_conn *c)
{
    long long mb = httpd_param_num(&c->req, "mb", 1024, 1, 16384);
    if (mb != bomb_mb && make_bomb(mb) != 0)
        return httpd_reply_text(c, 500, NULL, "cannot make the bomb\n");
    char extra[256];
    snprintf(extra, sizeof extra,
             "Content-Encoding: gzip\r\nContent-Type: application/octet-stream\r\n"
             "X-Uncompressed-Length: %lld\r\n",
             mb << 20);
    int err = httpd_reply_head(c, 200, extra, (long long)bomb_len);
    return err ? err : httpd_send_body(c, bomb, bomb_len);
}

void httpd_gzipbomb_free(void)
{
    free(bomb);
    bomb = NULL;
    bomb_mb = -1;
}
