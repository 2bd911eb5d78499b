/*
 * response.c - what a request hands back: filled from the transfer when it
 * ends; header lookup over the final response's "name\0value\0" pairs.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_internal.h"

static double seconds(CURL *e, CURLINFO what)
{
    curl_off_t us = 0;
    curl_easy_getinfo(e, what, &us);
    return (double)us / 1e6;
}

void mt__http_response_reset(mt_http_response *r)
{
    mt_buf body = r->body, headers = r->headers_;
    free(r->url);
    *r = (mt_http_response)MT_HTTP_RESPONSE_INIT;
    mt_buf_reset(&body);
    mt_buf_reset(&headers);
    r->body = body;
    r->headers_ = headers;
}

void mt__http_response_fill(mt_http_response *r, mt__http_xfer *x, int err)
{
    CURL *e = x->easy;
    char *url = NULL;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(e, CURLINFO_REDIRECT_COUNT, &r->redirects);
    curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &url);
    r->url = url ? strdup(url) : NULL;
    r->time = (mt_http_timings){
        .namelookup = seconds(e, CURLINFO_NAMELOOKUP_TIME_T),
        .connect = seconds(e, CURLINFO_CONNECT_TIME_T),
        .tls = seconds(e, CURLINFO_APPCONNECT_TIME_T),
        .pretransfer = seconds(e, CURLINFO_PRETRANSFER_TIME_T),
        .starttransfer = seconds(e, CURLINFO_STARTTRANSFER_TIME_T),
        .total = seconds(e, CURLINFO_TOTAL_TIME_T),
        .redirect = seconds(e, CURLINFO_REDIRECT_TIME_T),
    };
    r->size = x->delivered;
    r->range_start = x->range_start;
    r->length = x->length;
    mt_buf_move(&r->body, &x->body);
    mt_buf_move(&r->headers_, &x->headers);
    if (!err)
        return;
    if (x->err || !x->errbuf[0]) /* our reason, or libcurl said nothing */
        snprintf(r->error, sizeof r->error, "%s", mt_strerror(err));
    else
        snprintf(r->error, sizeof r->error, "%s", x->errbuf);
}

int mt_http_response_header_at(const mt_http_response *r, size_t i, const char **name,
                               const char **value)
{
    if (!r || !name || !value)
        return -EINVAL;
    const mt_buf *h = &r->headers_;
    for (size_t at = 0; at < h->len;) {
        const char *n = h->data + at;
        const char *v = n + strlen(n) + 1;
        if (i-- == 0) {
            *name = n;
            *value = v;
            return 0;
        }
        at = (size_t)(v + strlen(v) + 1 - h->data);
    }
    return MT_EINDEX;
}

const char *mt_http_response_header(const mt_http_response *r, const char *name)
{
    const char *n, *v;
    if (!name)
        return NULL;
    for (size_t i = 0; mt_http_response_header_at(r, i, &n, &v) == 0; i++)
        if (strcasecmp(n, name) == 0)
            return v;
    return NULL;
}

void mt_http_response_free(mt_http_response *r)
{
    if (!r)
        return;
    free(r->url);
    mt_buf_free(&r->body);
    mt_buf_free(&r->headers_);
    *r = (mt_http_response)MT_HTTP_RESPONSE_INIT;
}
