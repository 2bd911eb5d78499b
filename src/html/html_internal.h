/*
 * html_internal.h - what the html layer's files share: the document and
 * parser structs, libxml2's one-time initialisation and the silencing of
 * its error output around each call, and XPath evaluation with a callback.
 * Sources: init.c (libxml2 set-up, silencing), scan.c (a look at the
 * bytes first), parser.c (push parser, one-shot parse), doc.c (documents,
 * <base href>), xpath.c (queries), links.c (queries as links). Not
 * installed.
 */
#ifndef MT_HTML_INTERNAL_H
#define MT_HTML_INTERNAL_H

#include <stdbool.h>

#include <libxml/HTMLparser.h>
#include <libxml/xmlerror.h>

#include "multitask/html.h"

struct mt_html_doc {
    xmlDocPtr xml;
    size_t max_results;
    unsigned long max_xpath_ops;
    char *base;    /* see mt_html_doc_base; NULL for none */
    char *warning; /* see mt_html_doc_warning; NULL for none */
    mt_buf error;  /* the last query's error message, NUL-terminated */
};

/* A start tag's attributes beyond this many are dropped (see scan.c). */
#define MT__HTML_MAX_ATTRS 100
#define MT__HTML_MAX_ATTRS_TEXT "100"

/* Where the scan of a page's bytes stands (scan.c); zeroed at the start. */
typedef struct mt__html_scan {
    int state;
    char quote;        /* the quote of a quoted value */
    bool dropping;     /* in a tag's attributes beyond the limit */
    bool dropped;      /* some attributes were dropped */
    bool in_raw;       /* reading the end tag that may end raw text */
    bool bang;         /* in a comment, "--!" just seen */
    char name[8];      /* the tag's name, lower case, if that short */
    size_t name_len;
    char raw[8];       /* in raw text: the element's name */
    size_t raw_match;  /* bytes of "</name" seen */
    size_t attrs;      /* attributes of the tag so far */
    size_t match;      /* after "<!": bytes of "DOCTYPE" seen, 100 for "-" */
    size_t dashes;     /* in a comment, "-" just seen */
} mt__html_scan;

/* Scan `n` more bytes, appending those kept to `out`; *cut is set to the
 * length of `out` after each ">" that ends a tag, comment or raw text.
 * Returns 0 or -ENOMEM (nothing appended). */
int mt__html_scan_feed(mt__html_scan *st, const char *s, size_t n, mt_buf *out, size_t *cut);

struct mt_html_parser {
    htmlParserCtxtPtr ctxt;
    mt_html_opts opts; /* with defaults filled in; no encoding */
    char *url;         /* copy of the page's URL, or NULL */
    size_t fed;        /* bytes fed (counted against max_bytes) */
    mt_buf pending;    /* scanned bytes after the last cut, not yet parsed */
    mt__html_scan scan;
    size_t nodes;      /* elements, attributes and comments made */
    startElementSAXFunc start_element; /* libxml2's own SAX callbacks */
    commentSAXFunc comment;
    int err;           /* the first error, which every later call returns */
    bool finished;
    bool nomem;     /* libxml2 reported running out of memory */
    bool too_many;  /* more nodes than max_nodes: parsing stopped */
    char *warning;  /* why libxml2 stopped early, or NULL */
};

/* Saved libxml2 error handlers of the calling thread. */
typedef struct mt__html_quiet {
    xmlGenericErrorFunc generic;
    void *generic_ctx;
    xmlStructuredErrorFunc structured;
    void *structured_ctx;
} mt__html_quiet;

/* Initialise libxml2 once per process (thread-safe). */
void mt__html_init(void);

/* Route the calling thread's libxml2 errors to fn(ctx, error) (nothing is
 * printed) until mt__html_quiet_end restores the handlers saved in q.
 * Pairs nest. */
void mt__html_quiet_begin(mt__html_quiet *q, xmlStructuredErrorFunc fn, void *ctx);
void mt__html_quiet_end(const mt__html_quiet *q);

/* Fill in the defaults of opts (NULL: all). */
mt_html_opts mt__html_opts(const mt_html_opts *opts);

/* A document taking over xml (freed on failure too), its base computed
 * from url and the first <base href>. Returns 0 or -ENOMEM. */
int mt__html_doc_new(mt_html_doc **out, xmlDocPtr xml, const char *url, const mt_html_opts *opts,
                     char *warning);

/* Run `query` appending each result and a NUL to `out`: the count of
 * results, or an error with `out` as it was (the _list functions). */
int mt__html_collect(mt_html_doc *doc, const char *expr, mt_buf *out,
                     int (*query)(mt_html_doc *, const char *, mt_html_each_fn *, void *));

#endif
