/*
 * parser.c - the push parser (a page in chunks, as it downloads) and the
 * one-shot parse, which is the push parser given one chunk, so that both
 * always build the same document.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/encoding.h>
#include <libxml/parserInternals.h>

#include "html_internal.h"

/* Never HTML_PARSE_HUGE: libxml2's nesting and text-length limits stay on.
 * NONET: no fetching of anything a page names. */
#define PARSE_OPTIONS                                                                              \
    (HTML_PARSE_RECOVER | HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |            \
     HTML_PARSE_COMPACT)

/* The chunk size handed to libxml2 at once (its sizes are ints). */
#define FEED_MAX (1 << 30)

/* libxml2's errors while parsing: most are repairs of bad HTML and are
 * ignored; a fatal one means the parse stopped, and says why. */
static void on_error(void *ctx, xmlErrorPtr e)
{
    mt_html_parser *p = ctx;
    if (!e)
        return;
    if (e->code == XML_ERR_NO_MEMORY) {
        p->nomem = true;
        return;
    }
    if (e->level != XML_ERR_FATAL || p->warning)
        return;
    const char *why;
    if (e->domain == XML_FROM_I18N || e->domain == XML_FROM_IO)
        why = "parsing stopped at bytes the page's charset cannot decode";
    else if (e->code == XML_ERR_INTERNAL_ERROR && e->message && strstr(e->message, "depth"))
        why = "parsing stopped at elements nested deeper than libxml2's limit (256)";
    else
        why = "parsing stopped early";
    p->warning = strdup(why);
    if (!p->warning)
        p->nomem = true;
}

/* The server's charset, when known, wins over the page's <meta> (libxml2
 * changes encoding only while input->encoding is unset, as its own
 * htmlCtxtReadMemory does). Otherwise UTF-8 until a <meta> says else:
 * libxml2's own guess would be Latin-1, and falls back to it anyway when
 * the bytes are not UTF-8. */
static void set_encoding(htmlParserCtxtPtr ctxt, const char *name)
{
    xmlCharEncodingHandlerPtr h = name ? xmlFindCharEncodingHandler(name) : NULL;
    if (!h) {
        xmlSwitchEncoding(ctxt, XML_CHAR_ENCODING_UTF8);
        return;
    }
    xmlSwitchToEncoding(ctxt, h);
    xmlChar *copy = xmlStrdup((const xmlChar *)name);
    if (copy) {
        xmlFree((xmlChar *)ctxt->input->encoding);
        ctxt->input->encoding = copy;
    }
}

/* The parse's error: out of memory, or too many nodes (0: none). */
static int parse_error(const mt_html_parser *p)
{
    return p->nomem ? -ENOMEM : p->too_many ? -EMSGSIZE : 0;
}

/* Count what makes memory (elements with their attributes, comments):
 * libxml2's tree takes up to 70 times the bytes of a page made of empty
 * attributes, so the byte cap alone bounds memory too loosely. */
static bool count_nodes(htmlParserCtxtPtr ctxt, size_t n)
{
    mt_html_parser *p = ctxt->_private;
    p->nodes += n;
    if (p->nodes <= p->opts.max_nodes)
        return true;
    p->too_many = true;
    xmlStopParser(ctxt);
    return false;
}

static void on_start_element(void *ctx, const xmlChar *name, const xmlChar **atts)
{
    size_t n = 1;
    for (size_t i = 0; atts && atts[i]; i += 2)
        n++;
    htmlParserCtxtPtr ctxt = ctx;
    if (count_nodes(ctxt, n))
        ((mt_html_parser *)ctxt->_private)->start_element(ctx, name, atts);
}

static void on_comment(void *ctx, const xmlChar *text)
{
    htmlParserCtxtPtr ctxt = ctx;
    if (count_nodes(ctxt, 1))
        ((mt_html_parser *)ctxt->_private)->comment(ctx, text);
}

int mt_html_parser_new(mt_html_parser **out, const char *url, const mt_html_opts *opts)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    mt__html_init();
    mt_html_parser *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->opts = mt__html_opts(opts);
    if (url && !(p->url = strdup(url)))
        goto nomem;

    mt__html_quiet q;
    mt__html_quiet_begin(&q, on_error, p);
    p->ctxt = htmlCreatePushParserCtxt(NULL, NULL, NULL, 0, url, XML_CHAR_ENCODING_NONE);
    if (p->ctxt) {
        htmlCtxtUseOptions(p->ctxt, PARSE_OPTIONS);
        /* The context has its own copy of the SAX handlers, and passes
         * itself to them. */
        p->ctxt->_private = p;
        p->start_element = p->ctxt->sax->startElement;
        p->comment = p->ctxt->sax->comment;
        p->ctxt->sax->startElement = on_start_element;
        p->ctxt->sax->comment = on_comment;
        set_encoding(p->ctxt, opts ? opts->encoding : NULL);
    }
    mt__html_quiet_end(&q);
    if (!p->ctxt || p->nomem)
        goto nomem;
    *out = p;
    return 0;
nomem:
    mt_html_parser_free(p);
    return -ENOMEM;
}

/* Hand `len` bytes to libxml2 (terminate: and end the input). */
static void parse(mt_html_parser *p, const char *s, size_t len, int terminate)
{
    mt__html_quiet q;
    mt__html_quiet_begin(&q, on_error, p);
    do {
        int n = len < FEED_MAX ? (int)len : FEED_MAX;
        /* The return value is the last error seen, repairs included:
         * on_error tells what matters. */
        htmlParseChunk(p->ctxt, s, n, terminate && (size_t)n == len);
        s += n;
        len -= (size_t)n;
    } while (len > 0 && !p->nomem);
    mt__html_quiet_end(&q);
}

/*
 * libxml2 2.9.14's push parser misreads an end tag cut by a chunk boundary
 * inside <script> or <style> ("</sty" + "le>" is taken as text, and the
 * rest of the page with it). So libxml2 only ever gets input up to the last
 * ">" that ends a tag, a comment or raw text (the scan finds it), and the
 * bytes after it wait for more: a boundary then never falls inside a tag,
 * and every chunking of a page gives the same document.
 */
int mt_html_parser_feed(mt_html_parser *p, const void *data, size_t len)
{
    if (!p || (!data && len) || p->finished)
        return -EINVAL;
    if (p->err)
        return p->err;
    if (len > p->opts.max_bytes - p->fed)
        return p->err = -EMSGSIZE;
    p->fed += len;

    size_t cut = 0;
    if (mt__html_scan_feed(&p->scan, data, len, &p->pending, &cut) < 0)
        return p->err = -ENOMEM;
    if (cut > 0) {
        parse(p, p->pending.data, cut, 0);
        memmove(p->pending.data, p->pending.data + cut, p->pending.len - cut);
        p->pending.len -= cut;
    }
    return p->err = parse_error(p);
}

int mt_html_parser_finish(mt_html_parser *p, mt_html_doc **out)
{
    if (!p || !out)
        return -EINVAL;
    *out = NULL;
    if (p->finished)
        return -EINVAL;
    p->finished = true;
    if (p->err)
        return p->err;

    parse(p, p->pending.data ? p->pending.data : "", p->pending.len, 1);
    mt_buf_free(&p->pending);
    xmlDocPtr xml = p->ctxt->myDoc;
    p->ctxt->myDoc = NULL;
    if (parse_error(p)) {
        xmlFreeDoc(xml);
        return p->err = parse_error(p);
    }
    if (!xml)
        return p->err = -EPROTO;
    if (p->scan.dropped && !p->warning)
        p->warning = strdup("a tag's attributes beyond " MT__HTML_MAX_ATTRS_TEXT " were dropped");
    char *warning = p->warning;
    p->warning = NULL;
    return p->err = mt__html_doc_new(out, xml, p->url, &p->opts, warning);
}

void mt_html_parser_free(mt_html_parser *p)
{
    if (!p)
        return;
    if (p->ctxt) {
        mt__html_quiet q;
        mt__html_quiet_begin(&q, on_error, p);
        xmlFreeDoc(p->ctxt->myDoc);
        p->ctxt->myDoc = NULL;
        htmlFreeParserCtxt(p->ctxt);
        mt__html_quiet_end(&q);
    }
    mt_buf_free(&p->pending);
    free(p->warning);
    free(p->url);
    free(p);
}

int mt_html_parse(mt_html_doc **out, const void *data, size_t len, const char *url,
                  const mt_html_opts *opts)
{
    if (!out || (!data && len))
        return -EINVAL;
    *out = NULL;
    /* Refused before any memory is spent on it. */
    if (len > mt__html_opts(opts).max_bytes)
        return -EMSGSIZE;
    mt_html_parser *p;
    int err = mt_html_parser_new(&p, url, opts);
    if (err < 0)
        return err;
    err = mt_html_parser_feed(p, data, len);
    if (!err)
        err = mt_html_parser_finish(p, out);
    mt_html_parser_free(p);
    return err;
}
