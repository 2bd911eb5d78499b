/*
 * multitask/html.h - HTML pages and XPath, on libxml2 (the engine under
 * Python's lxml): parse a page, pull strings and links out of it.
 *
 * Usage:
 *   1. Parse a page, whole or as it arrives:
 *        mt_html_doc *doc;
 *        mt_html_parse(&doc, body, len, "http://example.com/list/1", NULL);
 *      or
 *        mt_html_parser *p;
 *        mt_html_parser_new(&p, url, NULL);
 *        mt_html_parser_feed(p, chunk, n);      // as often as data comes
 *        mt_html_parser_finish(p, &doc);
 *        mt_html_parser_free(p);
 *   2. Ask it questions in XPath 1.0; every result is a string:
 *        mt_html_xpath(doc, "//title", each, ctx);          // text
 *        mt_html_links(doc, "//li[@class=\"list-group-item\"]/img/@data-original",
 *                      each, ctx);                          // absolute URLs
 *      or collect them: mt_html_xpath_list / mt_html_links_list.
 *   3. mt_html_doc_free(doc).
 *
 * Results: a node's XPath string-value (an attribute's value, an element's
 * text content), with character references and entities decoded (an href of
 * "a?x=1&amp;y=2" reads "a?x=1&y=2"), in UTF-8; a number, boolean or string
 * expression gives one result. Pages in other charsets are converted: from
 * the `encoding` option (an HTTP Content-Type charset), else from the page's
 * <meta charset>, else UTF-8 (and Latin-1 when the bytes are not UTF-8).
 *
 * Hostile pages: malformed HTML is repaired as browsers do (unclosed tags,
 * stray bytes, invalid UTF-8 all give a document; NUL bytes are dropped).
 * Input beyond max_bytes, or more than max_nodes elements, attributes and
 * comments, is refused (-EMSGSIZE): a document's memory stays under about 150 bytes per
 * node plus a few times max_bytes (with the defaults, under 60 MiB for the
 * worst pages we could make; a list page of 40 KiB takes 0.6 MiB). Nesting
 * deeper than libxml2's limit (256 elements) or bytes that the page's
 * declared charset cannot decode stop the parse there: the document holds
 * what came before, and mt_html_doc_warning says why. A start tag's
 * attributes beyond the 100th are dropped (libxml2 spends time quadratic in
 * their number) and the warning says so. The parser never touches the
 * network or files (no DTDs, no XInclude) and never prints.
 *
 * Errors (0 or negative, as everywhere): -EINVAL for a bad argument or a bad
 * XPath expression (mt_html_error says what is wrong), -EMSGSIZE for input
 * over max_bytes or max_nodes, a result count over max_results or an
 * expression that does more than max_xpath_ops steps, -ENOMEM, -EPROTO for
 * input in which libxml2 finds no document at all (empty input).
 *
 * Thread safety: one document or parser per thread at a time (calls on one
 * object must not overlap); distinct objects may be used from any threads at
 * once. libxml2 is initialised once, on first use, and its error reporting
 * is silenced only inside these calls and only for the calling thread (the
 * thread's own libxml2 error handlers are restored before each call
 * returns), so a program that also uses libxml2 directly is undisturbed.
 * Fork: a child may go on using documents and parsers it inherited only if
 * no other thread of the parent was inside this layer at the fork (libxml2
 * keeps process-wide locks).
 *
 * Stack: every call fits in 64 KiB (a coroutine's default stack), hostile
 * expressions included: XPath nesting is limited to 20 parentheses or 200
 * nested operations, beyond which an expression is -EINVAL ("nested too
 * deep").
 */
#ifndef MULTITASK_HTML_H
#define MULTITASK_HTML_H

#include "buf.h"
#include "core.h"
#include "url.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_html_doc mt_html_doc;
typedef struct mt_html_parser mt_html_parser;

#define MT_HTML_MAX_BYTES_DEFAULT (8u << 20)   /* 8 MiB of input */
#define MT_HTML_MAX_NODES_DEFAULT 250000u      /* elements, attributes, comments */
#define MT_HTML_MAX_RESULTS_DEFAULT 100000u    /* strings per query */
#define MT_HTML_MAX_XPATH_OPS_DEFAULT 10000000ul /* XPath steps per query */
#define MT_HTML_MAX_XPATH_LEN 4096u            /* bytes of an expression */

/* Options; a zeroed struct (or NULL) means the defaults. */
typedef struct mt_html_opts {
    /* Input bytes accepted; more is -EMSGSIZE. 0: MT_HTML_MAX_BYTES_DEFAULT. */
    size_t max_bytes;
    /* Elements, attributes and comments a page may have; more is -EMSGSIZE.
     * 0: MT_HTML_MAX_NODES_DEFAULT. */
    size_t max_nodes;
    /* Results one query may give; more is -EMSGSIZE (and no result is
     * given). 0: MT_HTML_MAX_RESULTS_DEFAULT. */
    size_t max_results;
    /* Evaluation steps one query may take (libxml2's XPath operation
     * limit); more is -EMSGSIZE. 0: MT_HTML_MAX_XPATH_OPS_DEFAULT. */
    unsigned long max_xpath_ops;
    /* The page's charset as the server named it ("iso-8859-1"), or NULL to
     * detect it; an unknown name is ignored. */
    const char *encoding;
} mt_html_opts;

/*
 * mt_html_each_fn - called once per result with the string `s` (`len`
 * bytes, NUL-terminated; it may contain no NUL) that stays valid only
 * during the call. Return 0 to go on; any other value stops the query, which
 * returns that value.
 */
typedef int mt_html_each_fn(void *ctx, const char *s, size_t len);

/*
 * mt_html_parse - parse `len` bytes of HTML into *out. `url` is the page's
 * own URL (links resolve against it and the page's <base href>), or NULL.
 * opts may be NULL. The bytes are copied as needed; the caller keeps them.
 * Gives the same document as mt_html_parser_feed of the same bytes in any
 * chunks. Returns 0 (the caller owns *out and frees it with
 * mt_html_doc_free), or -EINVAL (out NULL, data NULL with len > 0),
 * -EMSGSIZE (len over max_bytes, nothing parsed; or nodes over max_nodes),
 * -ENOMEM, -EPROTO (no document: empty input); on error *out is NULL.
 */
int mt_html_parse(mt_html_doc **out, const void *data, size_t len, const char *url,
                  const mt_html_opts *opts);

/*
 * mt_html_parser_new - a parser that takes a page in chunks as they arrive
 * (from a download callback), with the same `url` and `opts` as
 * mt_html_parse (copied; the caller keeps its strings). The caller owns
 * *out and releases it with mt_html_parser_free. Returns 0, -EINVAL or
 * -ENOMEM (then *out is NULL).
 */
int mt_html_parser_new(mt_html_parser **out, const char *url, const mt_html_opts *opts);

/*
 * mt_html_parser_feed - parse `len` more bytes (copied as needed). Memory
 * grows with the bytes fed, never beyond what max_bytes and max_nodes
 * allow. Returns 0; -EMSGSIZE once the bytes fed exceed max_bytes or the
 * page's nodes max_nodes (the parser refuses everything after, and finish
 * returns -EMSGSIZE too); -ENOMEM (likewise final); -EINVAL for a NULL
 * parser, data NULL with len > 0, or after finish.
 */
int mt_html_parser_feed(mt_html_parser *p, const void *data, size_t len);

/*
 * mt_html_parser_finish - end of input: the document is complete. On
 * success *out is the document, owned by the caller (the parser still has
 * to be freed, and can do nothing else). Returns 0, or the error a feed
 * returned, -EINVAL after a previous finish, -ENOMEM, -EPROTO (empty
 * input); on error *out is NULL.
 */
int mt_html_parser_finish(mt_html_parser *p, mt_html_doc **out);

/* mt_html_parser_free - release a parser, finished or not; NULL is a no-op. */
void mt_html_parser_free(mt_html_parser *p);

/* mt_html_doc_free - release a document; NULL is a no-op. */
void mt_html_doc_free(mt_html_doc *doc);

/*
 * mt_html_doc_base - the URL relative links resolve against: the page's
 * <base href> (the first one, if it resolves to an http(s) URL) resolved
 * against the page's URL, else the page's URL; NULL when there is neither.
 * Owned by the document.
 */
const char *mt_html_doc_base(const mt_html_doc *doc);

/*
 * mt_html_doc_warning - NULL when the whole input was parsed as it is;
 * otherwise what was left out: why parsing stopped early (elements nested
 * deeper than 256, bytes the page's charset cannot decode; the document
 * holds the part before) or that a tag's attributes beyond the 100th were
 * dropped. Owned by the document.
 */
const char *mt_html_doc_warning(const mt_html_doc *doc);

/*
 * mt_html_error - the message of the last failed query on `doc` (what is
 * wrong with an expression, which limit was reached), or "" when the last
 * query succeeded. Owned by the document, valid until its next query.
 */
const char *mt_html_error(const mt_html_doc *doc);

/*
 * mt_html_xpath - evaluate the XPath 1.0 expression `expr` on the document
 * and call fn(ctx, s, len) for each result, in document order (see the top
 * of this file for what a result is). Returns 0 after the last result;
 * fn's non-zero return value when fn stops it; -EINVAL for a NULL argument
 * or a bad expression (longer than MT_HTML_MAX_XPATH_LEN, nested too deep,
 * a syntax error, an unknown function or variable) before fn is ever called; -EMSGSIZE when
 * the expression takes more than max_xpath_ops steps or gives more than
 * max_results results, before fn is ever called; -ENOMEM.
 */
int mt_html_xpath(mt_html_doc *doc, const char *expr, mt_html_each_fn *fn, void *ctx);

/*
 * mt_html_xpath_list - like mt_html_xpath, but appends each result to `out`
 * followed by a NUL byte ("a\0b\0"). Returns the number of results (>= 0)
 * or an error of mt_html_xpath; on error `out` is as it was.
 */
int mt_html_xpath_list(mt_html_doc *doc, const char *expr, mt_buf *out);

/*
 * mt_html_links - like mt_html_xpath, but each result is taken as a link
 * (an href, a src, a data-original), resolved against mt_html_doc_base
 * with mt_url_resolve, its fragment dropped, and given to fn only when it
 * is an http: or https: URL with a host: javascript:, mailto:, data:,
 * file: and links that do not resolve (relative links in a document
 * without a base) are skipped silently. Not deduplicated (see
 * mt_url_canonical). Returns and errors as mt_html_xpath; max_results
 * counts results before they are filtered.
 */
int mt_html_links(mt_html_doc *doc, const char *expr, mt_html_each_fn *fn, void *ctx);

/* mt_html_links_list - mt_html_links into `out` as NUL-terminated strings;
 * returns the count or an error, as mt_html_xpath_list. */
int mt_html_links_list(mt_html_doc *doc, const char *expr, mt_buf *out);

#ifdef __cplusplus
}
#endif
#endif
