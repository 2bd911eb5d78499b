/*
 * links.c - queries whose results are links: each resolved against the
 * document's base, its fragment dropped, kept only when http(s).
 */
#define _GNU_SOURCE
#include <string.h>

#include "html_internal.h"

typedef struct link_state {
    mt_html_doc *doc;
    mt_html_each_fn *fn;
    void *ctx;
    mt_buf url;
} link_state;

static int one_link(void *ctx, const char *s, size_t len)
{
    (void)len;
    link_state *ls = ctx;
    int err = mt_url_resolve(&ls->url, ls->doc->base, s);
    if (err == -EINVAL)
        return 0; /* relative without a base, or not a URL: skipped */
    if (err < 0)
        return err;
    char *hash = memchr(ls->url.data, '#', ls->url.len);
    if (hash) {
        *hash = '\0';
        ls->url.len = (size_t)(hash - ls->url.data);
    }
    if (!mt_url_is_http(ls->url.data))
        return 0;
    return ls->fn(ls->ctx, ls->url.data, ls->url.len);
}

int mt_html_links(mt_html_doc *doc, const char *expr, mt_html_each_fn *fn, void *ctx)
{
    if (!fn)
        return -EINVAL;
    link_state ls = {doc, fn, ctx, MT_BUF_INIT};
    int err = mt_html_xpath(doc, expr, one_link, &ls);
    mt_buf_free(&ls.url);
    return err;
}

int mt_html_links_list(mt_html_doc *doc, const char *expr, mt_buf *out)
{
    return mt__html_collect(doc, expr, out, mt_html_links);
}
