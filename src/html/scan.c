/*
 * scan.c - a look at the bytes before libxml2 sees them. It does three
 * things, and follows libxml2 2.9.14's own reading of tags to do them (tag
 * names, attributes, quoted values, comments, <!DOCTYPE>, processing
 * instructions, and the raw text of <script> and <style>, where "<" starts
 * no tag):
 *
 *  - It finds the safe places to cut the input: right after a ">" that ends
 *    a tag or comment outside raw text. libxml2's push parser reads some
 *    input differently when a chunk boundary falls elsewhere (inside a
 *    script, a chunk that starts with "</" is taken for an end tag), so
 *    parser.c hands it input only up to such a place.
 *  - It drops a start tag's attributes beyond MT__HTML_MAX_ATTRS, up to the
 *    tag's ">": libxml2 compares each new attribute's name with every
 *    earlier one of the tag, so a tag of n attributes costs n*n/2 string
 *    comparisons (half a megabyte of "<a x1 x2 ..." takes minutes).
 *  - It drops NUL bytes, which libxml2 takes for the end of the input in
 *    some places and not in others.
 */
#include <string.h>

#include "html_internal.h"

enum {
    TEXT,       /* between tags */
    LT,         /* after "<" */
    BANG,       /* after "<!": "--" or "DOCTYPE" may follow */
    QMARK,      /* after "<?" */
    DECL,       /* <!DOCTYPE ...> or <?pi ...>, up to ">" */
    COMMENT,    /* after "<!--", up to "-->" or "--!>" */
    NAME,       /* in a start tag's name */
    SPACE,      /* in a start tag, where an attribute may begin */
    ATTR,       /* in an attribute's name */
    AFTER_ATTR, /* blanks after an attribute's name: "=" may follow */
    EQ,         /* after "=", before the value */
    VALUE,      /* in an unquoted value */
    QUOTED,     /* in a quoted value */
    BOGUS,      /* in something that is no attribute, up to a blank or ">" */
    END_LT,     /* after "</" */
    END_NAME,   /* in an end tag's name */
    END_SKIP,   /* in an end tag after its name, up to ">" */
    RAW,        /* text of script or style, up to "</" and its name */
};

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Bytes libxml2 takes into a tag or attribute name. */
static bool is_name_start(unsigned char c)
{
    return is_letter(c) || c == '_' || c == ':' || c == '.';
}

static bool is_name(unsigned char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '-';
}

static char lower(unsigned char c)
{
    return (char)(c >= 'A' && c <= 'Z' ? c + 'a' - 'A' : c);
}

/* Collect a name's first bytes, lower case; a longer name is "" (it is
 * none of those we look for). */
static void name_add(mt__html_scan *st, unsigned char c)
{
    if (st->name_len + 1 < sizeof st->name) {
        st->name[st->name_len++] = lower(c);
        st->name[st->name_len] = '\0';
    } else {
        st->name[0] = '\0';
    }
}

static void name_start(mt__html_scan *st, unsigned char c)
{
    st->name_len = 0;
    st->name[0] = '\0';
    name_add(st, c);
}

/* A start tag's ">": raw text follows <script> and <style>. */
static int start_tag_end(mt__html_scan *st)
{
    st->attrs = 0;
    st->dropping = false;
    if (strcmp(st->name, "script") == 0 || strcmp(st->name, "style") == 0) {
        memcpy(st->raw, st->name, sizeof st->raw);
        st->raw_match = 0;
        return RAW;
    }
    return TEXT;
}

/* An attribute begins: the first beyond the limit starts the dropping. */
static int attr_start(mt__html_scan *st)
{
    if (++st->attrs > MT__HTML_MAX_ATTRS)
        st->dropping = st->dropped = true;
    return ATTR;
}

/* The state after byte c in a start tag, from a state where blanks and
 * ">" mean what they mean between attributes. */
static int in_tag(mt__html_scan *st, unsigned char c, int state)
{
    if (c == '>')
        return start_tag_end(st);
    if (is_blank(c) || c == '/')
        return state == ATTR || state == AFTER_ATTR ? AFTER_ATTR : SPACE;
    if (c == '=' && (state == ATTR || state == AFTER_ATTR))
        return EQ;
    if (is_name_start(c))
        return state == ATTR ? ATTR : attr_start(st);
    if (is_name(c) && state == ATTR)
        return ATTR;
    return BOGUS;
}

/* Where byte c leads from TEXT (also for a byte that turned out not to
 * continue "<!", "<?" or "</"). */
static int from_text(unsigned char c)
{
    return c == '<' ? LT : TEXT;
}

/* An end tag's ">". One inside raw text that named another element
 * ("</scripts>") leaves the element open: libxml2 reads raw text on. */
static int end_tag_end(mt__html_scan *st)
{
    if (!st->in_raw)
        return TEXT;
    st->in_raw = false;
    st->raw_match = 0;
    return strcmp(st->name, st->raw) == 0 ? TEXT : RAW;
}

/* Whether a ">" after this state ends markup: a tag, a comment, a
 * declaration (not "<>" or "</>", which libxml2 reads as text). */
static bool ends_markup(int state)
{
    return state != TEXT && state != LT && state != BANG && state != QMARK && state != END_LT &&
           state != RAW;
}

/* One byte (never NUL): the state after it. It is kept unless
 * st->dropping is set after the call (a ">" always is). */
static int step(mt__html_scan *st, unsigned char c)
{
    switch (st->state) {
    case TEXT:
        return from_text(c);
    case LT:
        if (c == '/')
            return END_LT;
        if (c == '!') {
            st->match = 0;
            return BANG;
        }
        if (c == '?')
            return QMARK;
        if (is_letter(c)) {
            name_start(st, c);
            return NAME;
        }
        return from_text(c);
    case BANG: {
        /* "<!--" or "<!DOCTYPE" (any case); else "<!" was text */
        static const char doctype[] = "DOCTYPE";
        size_t k = st->match;
        if (k == 0 && c == '-') {
            st->match = 100; /* one "-" of "--" */
            return BANG;
        }
        if (k == 100) {
            if (c != '-')
                return from_text(c);
            st->dashes = 0;
            st->bang = false;
            return COMMENT;
        }
        if (k < 7 && lower(c) == lower((unsigned char)doctype[k]))
            return ++st->match == 7 ? DECL : BANG;
        return from_text(c);
    }
    case QMARK: /* (a PI's target is an XML name: non-ASCII letters too) */
        return is_name_start(c) || c >= 0x80 ? DECL : from_text(c);
    case DECL:
        return c == '>' ? TEXT : DECL;
    case COMMENT: {
        /* Ends at "-->" and "--!>" ("<!-->" is no comment end for libxml2
         * 2.9.14: the "--" must follow "<!--"). */
        bool ends = c == '>' && (st->dashes >= 2 || st->bang);
        if (ends)
            return TEXT;
        st->bang = c == '!' && st->dashes >= 2;
        st->dashes = c == '-' ? st->dashes + 1 : 0;
        return COMMENT;
    }
    case NAME:
        if (is_name(c)) {
            name_add(st, c);
            return NAME;
        }
        return in_tag(st, c, SPACE);
    case SPACE:
    case ATTR:
    case AFTER_ATTR:
        return in_tag(st, c, st->state);
    case EQ:
        if (c == '>')
            return start_tag_end(st);
        if (is_blank(c))
            return EQ;
        if (c == '"' || c == '\'') {
            st->quote = (char)c;
            return QUOTED;
        }
        return VALUE;
    case VALUE:
        if (c == '>')
            return start_tag_end(st);
        return is_blank(c) ? SPACE : VALUE;
    case QUOTED:
        return c == (unsigned char)st->quote ? SPACE : QUOTED;
    case BOGUS:
        if (c == '>')
            return start_tag_end(st);
        return is_blank(c) ? SPACE : BOGUS;
    case END_LT:
        if (is_name_start(c)) {
            name_start(st, c);
            return END_NAME;
        }
        return from_text(c); /* libxml2 drops the "</" */
    case END_NAME:
        if (is_name(c)) {
            name_add(st, c);
            return END_NAME;
        }
        return c == '>' ? end_tag_end(st) : END_SKIP;
    case END_SKIP:
        return c == '>' ? end_tag_end(st) : END_SKIP;
    case RAW: {
        /* libxml2 ends raw text at "</" and the element's name, whatever
         * follows the name, and then reads an end tag. */
        size_t k = st->raw_match, len = strlen(st->raw);
        bool more = (k == 0 && c == '<') || (k == 1 && c == '/') ||
                    (k >= 2 && k - 2 < len && lower(c) == st->raw[k - 2]);
        if (!more) {
            st->raw_match = c == '<';
            return RAW;
        }
        if (++st->raw_match < len + 2)
            return RAW;
        memcpy(st->name, st->raw, sizeof st->name);
        st->name_len = len;
        st->in_raw = true;
        return END_NAME;
    }
    }
    return TEXT;
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
         * text up to the next "<" (NUL bytes found in them after). */
        int stop = skip_to(st);
        if (stop >= 0) {
            const char *p = memchr(s + i, stop, n - i);
            size_t k = p ? (size_t)(p - (s + i)) : n - i;
            for (size_t j = i; j < i + k; j++)
                if (s[j])
                    out->data[out->len++] = s[j];
            i += k;
            if (i == n)
                break;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '\0')
            continue;
        int before = st->state;
        st->state = step(st, c);
        if (c == '>' || !st->dropping)
            out->data[out->len++] = (char)c;
        if (c == '>' && st->state == TEXT && ends_markup(before))
            *cut = out->len;
    }
    return 0;
}
