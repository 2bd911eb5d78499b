/*
 * cli.c - what the command-line tools share (cli.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "multitask.h"

#include "cli.h"

char *cli_quote(const char *s)
{
    mt_buf b = MT_BUF_INIT;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int err;
        if (*p == '\n')
            err = mt_buf_append(&b, "\\n", 2);
        else if (*p == '\t')
            err = mt_buf_append(&b, "\\t", 2);
        else if (*p == '\\')
            err = mt_buf_append(&b, "\\\\", 2);
        else if (*p < 0x20 || *p == 0x7f)
            err = mt_buf_printf(&b, "\\%03o", *p);
        else
            err = mt_buf_append(&b, p, 1);
        if (err < 0) {
            mt_buf_free(&b);
            return NULL;
        }
    }
    if (mt_buf_append(&b, "", 1) < 0)
        return NULL;
    return b.data;
}

long long cli_parse_size(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return -1;
    static const char units[] = "KMGT";
    const char *u = *end ? strchr(units, *end & ~0x20) : NULL;
    if (*end && (!u || (end[1] && strcmp(end + 1, "iB") != 0 && strcmp(end + 1, "B") != 0)))
        return -1;
    for (const char *p = units; u && p <= u; p++)
        v *= 1024;
    return v >= 1 && v < 9e18 ? (long long)v : -1;
}
