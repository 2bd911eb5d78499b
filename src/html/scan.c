/*
 * scan.c - a look at the bytes before libxml2 sees them, for the one
 * hostile input its parser cannot bear: a start tag with very many
 * attributes. libxml2 checks each new attribute's name against every
 * earlier one of the tag, so a tag of n attributes costs n*n/2 string
 * comparisons (half a megabyte of "<a x1 x2 ..." takes minutes). The scan
 * follows tags (and skips comments, declarations and the raw text of
 * <script> and <style>, where "<" starts no tag) and drops the attributes
 * of a tag beyond MT__HTML_MAX_ATTRS, up to the tag's ">". It also tells
 * where the last ">" is that ends a tag or raw text, so that libxml2 is
 * never handed a tag cut in two (see parser.c).
 */
#include <ctype.h>
#include <string.h>

#include "html_internal.h"

enum {
    TEXT,       /* between tags */
    LT,         /* after "<" */
    NAME,       /* in a tag's name */
    SPACE,      /* in a tag, between attributes */
    ATTR,       /* in an attribute's name */
    EQ,         /* after "=", before the value */
    VALUE,      /* in an unquoted value */
    QUOTED,     /* in a quoted value (quote: the quote byte) */
    DECL,       /* "<!...>" or "<?...>" */
    COMMENT,    /* "<!-- ... -->" */
    RAW,        /* text of script or style, until its end tag */
};

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* The tag ended: raw text follows a <script> or <style> start tag. */
static int tag_end(mt__html_scan *st)
{
    st->attrs = 0;
    st->dropping = false;
    if (!st->end_tag && (strcmp(st->name, "script") == 0 || strcmp(st->name, "style") == 0)) {
        memcpy(st->raw, st->name, sizeof st->raw);
        st->raw_match = 0;
        return RAW;
    }
    return TEXT;
}

/* One byte; returns whether it is kept. */
static bool step(mt__html_scan *st, unsigned char c)
{
    switch (st->state) {
    case TEXT:
        if (c == '<') {
            st->state = LT;
            st->end_tag = false;
        }
        return true;
    case LT:
        if (c == '/' && !st->end_tag) {
            st->end_tag = true; /* "</": the name comes next */
        } else if (!st->end_tag && (c == '!' || c == '?')) {
            st->state = DECL;
            st->dashes = 0;
            st->decl_len = 0;
        } else if (isalpha(c)) {
            st->state = NAME;
            st->name[0] = (char)tolower(c);
            st->name[1] = '\0';
            st->name_len = 1;
        } else {
            st->state = c == '<' ? LT : TEXT;
            st->end_tag = false;
        }
        return true;
    case DECL:
        /* "<!--" opens a comment, which only "-->" ends */
        if (c == '-' && ++st->dashes == 2 && st->decl_len == 1) {
            st->state = COMMENT;
            st->dashes = 0;
        } else if (c == '>') {
            st->state = TEXT;
        }
        st->decl_len++;
        if (c != '-')
            st->dashes = 0;
        return true;
    case COMMENT:
        if (c == '>' && st->dashes >= 2)
            st->state = TEXT;
        st->dashes = c == '-' ? st->dashes + 1 : 0;
        return true;
    case RAW: {
        /* Look for "</" + the element's name. */
        const char *want = st->raw;
        size_t k = st->raw_match;
        if (k == 0 && c == '<')
            st->raw_match = 1;
        else if (k == 1 && c == '/')
            st->raw_match = 2;
        else if (k >= 2 && want[k - 2] && tolower(c) == want[k - 2])
            st->raw_match++;
        else if (k >= 2 && !want[k - 2] && (is_space(c) || c == '>' || c == '/')) {
            st->state = c == '>' ? TEXT : SPACE;
            st->end_tag = true;
            st->name[0] = '\0';
        } else
            st->raw_match = c == '<';
        return true;
    }
    case NAME:
        if (c == '>') {
            st->state = tag_end(st);
        } else if (is_space(c) || c == '/') {
            st->state = SPACE;
        } else if (st->name_len + 1 < sizeof st->name) {
            st->name[st->name_len++] = (char)tolower(c);
            st->name[st->name_len] = '\0';
        } else {
            st->name[0] = '\0'; /* longer than any name we look for */
        }
        return true;
    case SPACE:
    case ATTR:
        if (c == '>') {
            st->state = tag_end(st);
            return true;
        }
        if (c == '=') {
            st->state = EQ;
        } else if (is_space(c) || c == '/') {
            st->state = SPACE;
        } else if (st->state == SPACE) {
            st->state = ATTR;
            if (++st->attrs > MT__HTML_MAX_ATTRS && !st->dropping) {
                st->dropping = true;
                st->dropped = true;
            }
        }
        return !st->dropping;
    case EQ:
        if (c == '>') {
            st->state = tag_end(st);
            return true;
        }
        if (c == '"' || c == '\'') {
            st->quote = (char)c;
            st->state = QUOTED;
        } else if (!is_space(c)) {
            st->state = VALUE;
        }
        return !st->dropping;
    case VALUE:
        if (c == '>') {
            st->state = tag_end(st);
            return true;
        }
        if (is_space(c))
            st->state = SPACE;
        return !st->dropping;
    case QUOTED:
        if (c == (unsigned char)st->quote)
            st->state = SPACE;
        return !st->dropping;
    }
    return true;
}

/* The byte before which every byte is kept and changes nothing but
 * itself, or -1. */
static int skip_to(const mt__html_scan *st)
{
    if (st->state == TEXT || (st->state == RAW && st->raw_match == 0))
        return '<';
    if (st->state == QUOTED && !st->dropping)
        return (unsigned char)st->quote;
    return -1;
}

int mt__html_scan_feed(mt__html_scan *st, const char *s, size_t n, mt_buf *out, size_t *cut)
{
    int err = mt_buf_reserve(out, n);
    if (err < 0)
        return err;
    for (size_t i = 0; i < n; i++) {
        /* Long stretches where only one byte matters go at memchr's pace:
         * text up to the next "<", a quoted value up to its quote, raw
         * text up to the next "<". */
        int stop = skip_to(st);
        if (stop >= 0) {
            const char *p = memchr(s + i, stop, n - i);
            size_t k = p ? (size_t)(p - (s + i)) : n - i;
            memcpy(out->data + out->len, s + i, k);
            out->len += k;
            i += k;
            if (i == n)
                break;
        }
        int before = st->state;
        if (step(st, (unsigned char)s[i]))
            out->data[out->len++] = s[i];
        /* A ">" that ended a tag, a comment or raw text: a safe cut. */
        if (s[i] == '>' && st->state == TEXT && before != TEXT)
            *cut = out->len;
    }
    return 0;
}
