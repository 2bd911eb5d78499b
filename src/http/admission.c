/*
 * admission.c - how many transfers a client hands to libcurl at once, in
 * all and per host. We hold a request back ourselves, before libcurl sees
 * it: libcurl's own per-host cap queues transfers inside libcurl, where
 * their timeouts already run (curl issues 437, 3728, 4486, 6744). Waiting
 * requests are admitted in the order they came, each as soon as both
 * limits allow (a request for a busy host does not hold back another
 * host's).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

/* The host key of a URL: "scheme://host:port" in lower case, or "" when
 * libcurl cannot parse it (it then fails the request itself). */
void mt__http_host_key(const char *url, char *out, size_t size)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    out[0] = '\0';
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        snprintf(out, size, "%s://%s:%s", scheme, host, port);
        for (char *p = out; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

static mt__http_host *host_find(mt_http_client *c, const char *key)
{
    for (mt__http_host *h = c->hosts; h; h = h->next)
        if (strcmp(h->key, key) == 0)
            return h;
    return NULL;
}

static bool fits(mt_http_client *c, const char *key)
{
    if (c->max_transfers && c->admitted >= c->max_transfers)
        return false;
    if (!c->max_per_host)
        return true;
    mt__http_host *h = host_find(c, key);
    return !h || h->active < c->max_per_host;
}

/* Count one transfer to key in. Returns 0 or -ENOMEM. */
static int take(mt_http_client *c, const char *key)
{
    if (c->max_per_host) {
        mt__http_host *h = host_find(c, key);
        if (!h) {
            size_t len = strlen(key);
            h = malloc(sizeof *h + len + 1);
            if (!h)
                return -ENOMEM;
            h->active = 0;
            memcpy(h->key, key, len + 1);
            h->next = c->hosts;
            c->hosts = h;
        }
        h->active++;
    }
    c->admitted++;
    return 0;
}

static void unlink_wait(mt_http_client *c, mt__http_wait *w, mt__http_wait *prev)
{
    if (prev)
        prev->next = w->next;
    else
        c->waiting = w->next;
    if (c->waiting_tail == w)
        c->waiting_tail = prev;
}

static void forget_wait(mt_http_client *c, mt__http_wait *w)
{
    mt__http_wait *prev = NULL;
    for (mt__http_wait *p = c->waiting; p; prev = p, p = p->next)
        if (p == w) {
            unlink_wait(c, w, prev);
            return;
        }
}

int mt__http_admit(mt_http_client *c, const char *key, mt_task *t)
{
    /* Whoever still waits is held back by its host's limit (each release
     * admits all that fit), so a request that fits does not jump a queue. */
    if (fits(c, key))
        return take(c, key);
    mt__http_wait local, *w = mt__rec(t, &local, sizeof local);
    if (!w)
        return -ENOMEM;
    *w = (mt__http_wait){.task = t, .key = key};
    if (c->waiting_tail)
        c->waiting_tail->next = w;
    else
        c->waiting = w;
    c->waiting_tail = w;
    int r = 0;
    while (!w->granted && !r)
        r = mt__suspend_exported(t);
    if (!w->granted)
        forget_wait(c, w);
    else if (r && !w->err) /* admitted and interrupted at once: pass it on */
        mt__http_release(c, key);
    else if (!r)
        r = w->err;
    mt__rec_free(w, &local);
    return r;
}

void mt__http_release(mt_http_client *c, const char *key)
{
    c->admitted--;
    if (c->max_per_host) {
        mt__http_host **p = &c->hosts;
        while (*p && strcmp((*p)->key, key) != 0)
            p = &(*p)->next;
        if (*p && --(*p)->active == 0) {
            mt__http_host *gone = *p;
            *p = gone->next;
            free(gone);
        }
    }
    /* Admit whoever fits now, in order. */
    mt__http_wait *prev = NULL;
    for (mt__http_wait *w = c->waiting; w;) {
        mt__http_wait *next = w->next;
        if (c->max_transfers && c->admitted >= c->max_transfers)
            break;
        if (fits(c, w->key)) {
            unlink_wait(c, w, prev);
            w->granted = true;
            w->err = take(c, w->key);
            mt__wake(w->task, 0);
        } else {
            prev = w;
        }
        w = next;
    }
}
