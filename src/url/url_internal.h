/*
 * url_internal.h - the pieces both URL operations share: cleaning an href,
 * splitting a URL into its five components (RFC 3986 appendix B), removing
 * dot segments (section 5.2.4) and writing components as valid URL text.
 * Sources: url_parts.c (these), resolve.c, canonical.c. Not installed.
 */
#ifndef MT_URL_INTERNAL_H
#define MT_URL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "multitask/url.h"

/* One component: `n` bytes at `s`; `has` tells an empty component ("?")
 * from an absent one. */
typedef struct mt__url_part {
    const char *s;
    size_t n;
    bool has;
} mt__url_part;

typedef struct mt__url {
    mt__url_part scheme;    /* without the ":" */
    mt__url_part authority; /* without the "//" */
    mt__url_part path;      /* always present, maybe empty */
    mt__url_part query;     /* without the "?" */
    mt__url_part fragment;  /* without the "#" */
} mt__url;

/* The authority's parts: host is the bracketed literal for IPv6
 * ("[::1]"), port the digits after the ":" (has is false without one). */
typedef struct mt__url_authority {
    mt__url_part userinfo; /* without the "@" */
    mt__url_part host;
    mt__url_part port;
} mt__url_authority;

/* Replace `out` with `text` as browsers read an href: leading and trailing
 * spaces and control characters dropped, tabs and newlines removed. A NUL
 * is stored after it. Returns 0 or -ENOMEM. */
int mt__url_clean(mt_buf *out, const char *text);

/* Split `len` bytes at `s` into components pointing into them. Never
 * fails: anything is at least a relative path. */
void mt__url_split(const char *s, size_t len, mt__url *u);

/* Split an authority into userinfo, host and port. Returns 0, or -EINVAL
 * for an unclosed "[" or bytes between "]" and the port's ":". */
int mt__url_split_authority(mt__url_part a, mt__url_authority *out);

/* Append `n` bytes, percent-encoding those that may not appear in a URL
 * (controls, space, non-ASCII, "<>\^`{|}); "%" is kept. Returns 0 or -ENOMEM. */
int mt__url_append(mt_buf *out, const char *s, size_t n);

/* Append `n` bytes of path with its dot segments removed (RFC 3986
 * 5.2.4), percent-encoded as mt__url_append does. Returns 0 or -ENOMEM. */
int mt__url_append_path(mt_buf *out, const char *s, size_t n);

/* A path written at `start` of a URL without an authority must not start
 * with "//" (it would read as one): make it "/.//". Returns 0 or -ENOMEM. */
int mt__url_guard_path(mt_buf *out, size_t start);

/* Whether a scheme (as split) equals `name`, ignoring case. */
bool mt__url_scheme_is(mt__url_part scheme, const char *name);

#endif
