/*
 * robots.c - robots.txt as RFC 9309 has it. Parsing keeps only what our
 * crawler needs: the rules of the groups whose user-agent is our product
 * token, and those of the "*" groups, each combined, with their
 * crawl-delay (an extension). Patterns and paths are compared in one
 * normal form: percent-escapes of unreserved characters decoded, other
 * escapes in upper case, raw bytes outside printable ASCII escaped (so
 * "/foo/ツ" and "/foo/%E3%83%84" are the same path).
 *
 * The input is a server's and may be hostile: only its first 500 KiB are
 * read, NULs are bytes like others, overlong rules are dropped, and the
 * matcher backtracks to the last '*' only, so a check costs at most the
 * pattern's length times the path's.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mtget.h"

typedef struct rule {
    size_t off, len; /* the normal-form pattern, in the group's text */
    bool allow;
} rule;

typedef struct group {
    rule *rules;
    size_t n, cap;
    char *text; /* the patterns, one after another */
    size_t used, textcap;
    double delay; /* -1: none */
} group;

struct mtget_robots {
    group us, star;
    bool named; /* a group names us: its rules, not the "*" ones, apply */
};

static bool unreserved(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Write the normal form of len bytes of s to out (3 * len bytes at most);
 * its length. With pattern, runs of '*' become one. */
static size_t normalize(char *out, const char *s, size_t len, bool pattern)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;
        if (c == '%' && i + 2 < len && (hi = mtget__hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = mtget__hexval((unsigned char)s[i + 2])) >= 0) {
            int v = hi << 4 | lo;
            i += 2;
            if (unreserved(v)) {
                out[n++] = (char)v;
                continue;
            }
            c = (unsigned char)v;
        } else if (c > 0x20 && c < 0x7f) {
            if (!(pattern && c == '*' && n > 0 && out[n - 1] == '*'))
                out[n++] = (char)c;
            continue;
        }
        out[n++] = '%';
        out[n++] = hex[c >> 4];
        out[n++] = hex[c & 15];
    }
    return n;
}

static int add_rule(group *g, const char *value, size_t len, bool allow)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 16;
        rule *r = realloc(g->rules, cap * sizeof *r);
        if (!r)
            return -ENOMEM;
        g->rules = r;
        g->cap = cap;
    }
    if (g->textcap - g->used < 3 * len) {
        size_t cap = g->textcap ? g->textcap : 256;
        while (cap - g->used < 3 * len)
            cap *= 2;
        char *t = realloc(g->text, cap);
        if (!t)
            return -ENOMEM;
        g->text = t;
        g->textcap = cap;
    }
    size_t n = normalize(g->text + g->used, value, len, true);
    g->rules[g->n++] = (rule){.off = g->used, .len = n, .allow = allow};
    g->used += n;
    return 0;
}

/* Whether len bytes at s are key, case-insensitively. */
static bool is_key(const char *s, size_t len, const char *key)
{
    return len == strlen(key) && strncasecmp(s, key, len) == 0;
}

/* Whether a user-agent line's value names agent: its product token (the
 * leading letters, '_' and '-') is agent, case-insensitively. */
static bool names_agent(const char *v, size_t len, const char *agent)
{
    size_t t = 0;
    while (t < len && (isalpha((unsigned char)v[t]) || v[t] == '_' || v[t] == '-'))
        t++;
    return t > 0 && is_key(v, t, agent);
}

static double parse_delay(const char *v, size_t len)
{
    char buf[32];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    char *end;
    double d = strtod(buf, &end);
    if (*end || !isfinite(d) || d < 0)
        return -1;
    return d > MTGET_ROBOTS_MAX_DELAY ? MTGET_ROBOTS_MAX_DELAY : d;
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && (**s == ' ' || **s == '\t'))
        (*s)++;
    while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

/* The parser's state between lines. */
typedef struct parse {
    mtget_robots *r;
    const char *agent;
    bool agents;       /* the last group line was a user-agent line */
    bool for_us, for_star; /* the current group's user-agents */
} parse;

static int parse_line(parse *ps, const char *s, const char *e)
{
    const char *hash = memchr(s, '#', (size_t)(e - s));
    if (hash)
        e = hash;
    const char *colon = memchr(s, ':', (size_t)(e - s));
    if (!colon)
        return 0;
    const char *ks = s, *ke = colon, *vs = colon + 1, *ve = e;
    trim(&ks, &ke);
    trim(&vs, &ve);
    size_t klen = (size_t)(ke - ks), vlen = (size_t)(ve - vs);
    if (is_key(ks, klen, "user-agent")) {
        if (!ps->agents)
            ps->for_us = ps->for_star = false;
        ps->agents = true;
        if (vlen == 1 && *vs == '*')
            ps->for_star = true;
        else if (names_agent(vs, vlen, ps->agent))
            ps->for_us = ps->r->named = true;
        return 0;
    }
    bool allow = is_key(ks, klen, "allow"), disallow = is_key(ks, klen, "disallow");
    bool delay = is_key(ks, klen, "crawl-delay");
    if (!allow && !disallow && !delay)
        return 0; /* unknown lines (sitemap, host...) are ignored */
    ps->agents = false;
    group *gs[2] = {ps->for_us ? &ps->r->us : NULL, ps->for_star ? &ps->r->star : NULL};
    for (int i = 0; i < 2; i++) {
        group *g = gs[i];
        if (!g)
            continue;
        if (delay) {
            if (g->delay < 0)
                g->delay = parse_delay(vs, vlen);
            continue;
        }
        if (vlen == 0 || vlen > MTGET_ROBOTS_RULE_MAX) /* "Disallow:" allows all */
            continue;
        int err = add_rule(g, vs, vlen, allow);
        if (err < 0)
            return err;
    }
    return 0;
}

int mtget_robots_new(mtget_robots **out, const char *text, size_t len, const char *agent)
{
    if (!out || !agent || !*agent || (!text && len))
        return -EINVAL;
    *out = NULL;
    mtget_robots *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->us.delay = r->star.delay = -1;
    if (len > MTGET_ROBOTS_MAX)
        len = MTGET_ROBOTS_MAX;
    const char *p = text, *end = text ? text + len : NULL;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    parse ps = {.r = r, .agent = agent};
    while (p && p < end) {
        const char *e = p;
        while (e < end && *e != '\n' && *e != '\r')
            e++;
        int err = parse_line(&ps, p, e);
        if (err < 0) {
            mtget_robots_free(r);
            return err;
        }
        p = e;
        if (p < end && *p == '\r' && ++p < end && *p == '\n') /* CRLF is one end */
            p++;
        else if (p < end && *p == '\n')
            p++;
    }
    *out = r;
    return 0;
}

/* Whether pattern p (m bytes, normal form) matches path s (n bytes): a
 * prefix of it, or all of it when p ends in '$'. On a mismatch only the
 * last '*' is retried one byte further: linear backtracking. */
static bool match(const char *p, size_t m, const char *s, size_t n)
{
    bool anchored = m > 0 && p[m - 1] == '$';
    if (anchored)
        m--;
    size_t i = 0, j = 0, star = SIZE_MAX, mark = 0;
    for (;;) {
        if (i == m) {
            if (!anchored || j == n)
                return true;
        } else if (p[i] == '*') {
            star = i++;
            mark = j;
            continue;
        } else if (j < n && p[i] == s[j]) {
            i++;
            j++;
            continue;
        }
        if (star == SIZE_MAX || mark >= n)
            return false;
        j = ++mark;
        i = star + 1;
    }
}

bool mtget_robots_allowed(const mtget_robots *r, const char *path)
{
    if (!r || !path)
        return false;
    if (!*path)
        path = "/";
    size_t len = strlen(path);
    char *norm = malloc(3 * len + 1);
    if (!norm)
        return false; /* in doubt, do not fetch */
    size_t n = normalize(norm, path, len, false);
    bool allowed = true;
    if (!(n == 11 && memcmp(norm, "/robots.txt", 11) == 0)) {
        const group *g = r->named ? &r->us : &r->star;
        size_t best = 0;
        bool found = false;
        for (size_t k = 0; k < g->n; k++) {
            const rule *ru = &g->rules[k];
            /* only a longer rule, or an allow as long as a disallow, wins */
            if (found && (ru->len < best || (ru->len == best && (allowed || !ru->allow))))
                continue;
            if (!match(g->text + ru->off, ru->len, norm, n))
                continue;
            if (!found || ru->len > best || (ru->len == best && ru->allow)) {
                allowed = ru->allow;
                best = ru->len;
                found = true;
            }
        }
    }
    free(norm);
    return allowed;
}

double mtget_robots_crawl_delay(const mtget_robots *r)
{
    return r ? (r->named ? r->us.delay : r->star.delay) : -1;
}

static void group_free(group *g)
{
    free(g->rules);
    free(g->text);
}

void mtget_robots_free(mtget_robots *r)
{
    if (!r)
        return;
    group_free(&r->us);
    group_free(&r->star);
    free(r);
}
