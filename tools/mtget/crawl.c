/*
 * crawl.c - one list page of a crawl: fetched into memory (capped by
 * --page-max-size, within --timeout in all), parsed by the html layer,
 * mined with --xpath for the files to download and with --follow for more
 * pages (up to --depth), each link resolved against the page's final URL
 * and its <base>, canonicalised and deduplicated. The page and its document
 * are freed before the targets go on the queue: a page task blocked on a
 * full queue holds only its list of links.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tool.h"

/* The charset of a Content-Type ("text/html; charset=ISO-8859-1"), into
 * out; NULL when none. */
static const char *charset(const mt_http_response *resp, char *out, size_t size)
{
    const char *ct = mt_http_response_header(resp, "Content-Type");
    const char *cs = ct ? strcasestr(ct, "charset=") : NULL;
    if (!cs)
        return NULL;
    cs += strlen("charset=");
    if (*cs == '"')
        cs++;
    size_t n = strcspn(cs, "\"; \t");
    if (n == 0 || n >= size)
        return NULL;
    memcpy(out, cs, n);
    out[n] = '\0';
    return out;
}

/* Fetch the page into resp; 0 or an error (MTGET_ESTATUS for a status
 * that is not 2xx). */
static int get_page(mtget *m, const char *url, mt_http_response *resp)
{
    mt_http_retry retry;
    mtget_retry_policy(m, &retry);
    mt_http_opts o = {
        .to = MT_HTTP_TO_MEMORY,
        .max_size = m->cfg->page_max_size,
        .timeout = m->cfg->timeout,
        .retry = &retry,
    };
    mtget_http_opts(m, &o);
    int err = mtget_host_enter(m, url);
    if (err == 0)
        err = mt_http_get(m->http, url, &o, resp);
    if (resp->tries > 1) {
        m->retries += (uint64_t)resp->tries - 1;
        mt_progress_retried(m->progress, (uint64_t)resp->tries - 1);
    }
    if (err == 0 && (resp->status < 200 || resp->status > 299))
        err = MTGET_ESTATUS;
    return err;
}

/* The links `expr` selects, as NUL-separated strings in out. */
static int links(mt_html_doc *doc, const char *expr, mt_buf *out, char *why, size_t size)
{
    int n = mt_html_links_list(doc, expr, out);
    if (n < 0)
        snprintf(why, size, "XPath '%s': %s", expr,
                 *mt_html_error(doc) ? mt_html_error(doc) : mt_strerror(n));
    return n;
}

/* Queue each new link of list (NUL-separated) found on page `from`; page
 * links at depth. With --frontier a link the page lists twice is dropped
 * here first: the shared set takes a link its page added before for one
 * the page's earlier processing left unqueued (frontier.c). */
static int queue_links(mtget *m, const mt_buf *list, bool pages, int depth, const char *from)
{
    mt_buf canon = MT_BUF_INIT;
    mtget_seen *mine = NULL;
    unsigned kind = pages ? MTGET_SEEN_PAGE : MTGET_SEEN_FILE;
    int err = m->frontier ? mtget_seen_new(&mine) : 0;
    for (size_t at = 0; at < list->len && err == 0; at += strlen(list->data + at) + 1) {
        const char *link = list->data + at;
        if (mtget_canonical(&canon, link) < 0)
            continue; /* html gives only http(s) URLs with a host */
        int fresh = mine ? mtget_seen_add(mine, canon.data, kind) : 1;
        if (fresh > 0)
            fresh = mtget_dedupe(m, canon.data, kind, from);
        if (fresh < 0)
            err = fresh;
        else if (fresh && pages)
            err = mtget_queue_page(m, canon.data, depth);
        else if (fresh)
            err = mtget_queue_target(m, canon.data);
    }
    mtget_seen_free(mine);
    mt_buf_free(&canon);
    return err;
}

int mtget_crawl_page(mtget *m, const mtget_page *p)
{
    mt_http_response resp = MT_HTTP_RESPONSE_INIT;
    mt_buf targets = MT_BUF_INIT, next = MT_BUF_INIT;
    char why[MT_HTTP_ERROR_SIZE + 4200] = "";
    mt_html_doc *doc = NULL;
    int err = get_page(m, p->url, &resp);
    if (err == MTGET_EROBOTS) {
        m->refused++;
        mtget_note(m, "skipped page '%s': disallowed by robots.txt", p->url);
        err = 0;
        goto out;
    }
    if (err == 0) {
        char cs[64];
        mt_html_opts ho = {
            .max_bytes = (size_t)m->cfg->page_max_size,
            .encoding = charset(&resp, cs, sizeof cs),
        };
        err = mt_html_parse(&doc, resp.body.data, resp.body.len, resp.url ? resp.url : p->url, &ho);
        if (err == -EPROTO) /* an empty page: no links, no failure */
            err = 0;
        else if (err < 0)
            snprintf(why, sizeof why, "cannot parse the page: %s", mt_strerror(err));
    } else if (err == MTGET_ENOROBOTS) {
        snprintf(why, sizeof why, "%s", mtget_host_why(m, p->url));
    } else if (err == -EFBIG) {
        snprintf(why, sizeof why, "larger than --page-max-size");
    } else if (err != -ECANCELED) {
        mtget_reason(why, sizeof why, err, &resp);
    }
    mt_http_response_free(&resp); /* the body goes before the queue waits */
    if (err == 0 && doc && (err = links(doc, m->cfg->xpath, &targets, why, sizeof why)) > 0)
        err = 0;
    bool deeper = m->cfg->follow && (m->cfg->depth < 0 || p->depth < m->cfg->depth);
    if (err == 0 && doc && deeper && (err = links(doc, m->cfg->follow, &next, why, sizeof why)) > 0)
        err = 0;
    mt_html_doc_free(doc);
    if (err == 0 && (err = queue_links(m, &next, true, p->depth + 1, p->url)) == 0)
        err = queue_links(m, &targets, false, 0, p->url);
    if (err == 0) {
        m->pages_done++;
    } else if (err != -ECANCELED && !m->signal) {
        if (!why[0])
            snprintf(why, sizeof why, "%s", mtget_strerror(err));
        m->pages_failed++;
        mtget_fail(m, "fetch page", p->url, why);
        err = 0;
    }
out:
    mt_http_response_free(&resp);
    mt_buf_free(&targets);
    mt_buf_free(&next);
    return err == -ECANCELED || m->signal ? -ECANCELED : 0;
}
