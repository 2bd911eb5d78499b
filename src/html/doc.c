/*
 * doc.c - a parsed document: its base URL (the page's URL and its
 * <base href>), its warning and error messages, and its release.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "html_internal.h"

static int first_base_href(void *ctx, const char *s, size_t len)
{
    (void)len;
    char **href = ctx;
    *href = strdup(s);
    return *href ? 1 : -ENOMEM; /* 1: one is enough */
}

/* The page's URL, or what its first <base href> makes of it when that is
 * an http(s) URL (as a browser would, a base of javascript: or data: is
 * not followed). */
static int find_base(mt_html_doc *doc, const char *url)
{
    char *href = NULL;
    int err = mt_html_xpath(doc, "(//base[@href])[1]/@href", first_base_href, &href);
    if (err < 0)
        return err;
    if (href) {
        mt_buf b = MT_BUF_INIT;
        err = mt_url_resolve(&b, url, href);
        free(href);
        if (err == -ENOMEM)
            return err;
        if (err == 0 && mt_url_is_http(b.data)) {
            doc->base = b.data; /* NUL-terminated, malloc memory: ours now */
            return 0;
        }
        mt_buf_free(&b);
    }
    if (url && !(doc->base = strdup(url)))
        return -ENOMEM;
    return 0;
}

int mt__html_doc_new(mt_html_doc **out, xmlDocPtr xml, const char *url, const mt_html_opts *opts,
                     char *warning)
{
    mt_html_doc *doc = calloc(1, sizeof *doc);
    if (!doc) {
        xmlFreeDoc(xml);
        free(warning);
        return -ENOMEM;
    }
    doc->xml = xml;
    doc->warning = warning;
    doc->max_results = opts->max_results;
    doc->max_xpath_ops = opts->max_xpath_ops;
    int err = find_base(doc, url);
    if (err < 0) {
        mt_html_doc_free(doc);
        return err;
    }
    mt_buf_reset(&doc->error);
    *out = doc;
    return 0;
}

void mt_html_doc_free(mt_html_doc *doc)
{
    if (!doc)
        return;
    mt__html_quiet q;
    mt__html_quiet_begin(&q, NULL, NULL);
    xmlFreeDoc(doc->xml);
    mt__html_quiet_end(&q);
    free(doc->base);
    free(doc->warning);
    mt_buf_free(&doc->error);
    free(doc);
}

const char *mt_html_doc_base(const mt_html_doc *doc)
{
    return doc ? doc->base : NULL;
}

const char *mt_html_doc_warning(const mt_html_doc *doc)
{
    return doc ? doc->warning : NULL;
}

const char *mt_html_error(const mt_html_doc *doc)
{
    return doc && doc->error.len ? doc->error.data : "";
}
