/*
 * hosts.c - what mtget keeps per host ("scheme://host:port"): when its next
 * request may start (--delay, randomised to 0.5x-1.5x so that requests do
 * not fall into step, or the robots.txt Crawl-delay when longer), and in
 * crawl mode its robots.txt, fetched once before the host's first request
 * while the other tasks bound for that host wait for it. The number of
 * requests at once per host is the HTTP client's admission
 * (mt_http_client_opts.max_per_host), not ours. A robots.txt that
 * answers 4xx allows everything; one that cannot be read (5xx, no answer)
 * disallows everything (RFC 9309 2.3.1), and the host's URLs fail with that
 * reason rather than being skipped in silence.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tool.h"

#define NBUCKETS 256

typedef struct host {
    struct host *next;
    double next_start;     /* loop time the next request may start */
    int robots_state;      /* 0 not asked, 1 being fetched, 2 known */
    mtget_robots *robots;  /* NULL once known: it could not be read */
    char *why;             /* then why not */
    mt_aqueue *ready;      /* shut down once the robots.txt is known */
    char key[];
} host;

struct mtget_hosts {
    host *buckets[NBUCKETS];
};

int mtget_hosts_new(mtget_hosts **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void mtget_hosts_free(mtget_hosts *h)
{
    if (!h)
        return;
    for (int i = 0; i < NBUCKETS; i++)
        for (host *e = h->buckets[i], *n; e; e = n) {
            n = e->next;
            mtget_robots_free(e->robots);
            mt_aqueue_free(e->ready);
            free(e->why);
            free(e);
        }
    free(h);
}

/* "http://h:80/a?b" -> key "http://h:80" (length), *path "/a?b". */
static size_t split(const char *url, const char **path)
{
    const char *p = strstr(url, "://");
    if (!p)
        return 0;
    p += 3;
    size_t n = strcspn(p, "/?#");
    *path = p[n] ? p + n : "/";
    return (size_t)(p - url) + n;
}

static host *lookup(mtget_hosts *h, const char *key, size_t len)
{
    unsigned b = (unsigned)(XXH3_64bits(key, len) % NBUCKETS);
    for (host *e = h->buckets[b]; e; e = e->next)
        if (strlen(e->key) == len && memcmp(e->key, key, len) == 0)
            return e;
    host *e = calloc(1, sizeof *e + len + 1);
    if (!e)
        return NULL;
    memcpy(e->key, key, len);
    e->next = h->buckets[b];
    h->buckets[b] = e;
    return e;
}

/* Keep the first MTGET_ROBOTS_MAX bytes, drop the rest (RFC 9309 2.5). */
static int robots_body(const void *data, size_t len, void *arg)
{
    mt_buf *b = arg;
    size_t room = MTGET_ROBOTS_MAX - b->len;
    return mt_buf_append(b, data, len < room ? len : room);
}

/* Fetch and parse the host's robots.txt (RFC 9309 2.3.1: a 4xx allows
 * everything; a 5xx or no answer disallows everything). */
static void fetch_robots(mtget *m, host *e)
{
    mt_buf url = MT_BUF_INIT, body = MT_BUF_INIT;
    mt_http_response resp = MT_HTTP_RESPONSE_INIT;
    mt_http_retry retry = {.max_tries = 1 + m->cfg->retries};
    mt_http_opts o = {
        .to = MT_HTTP_TO_CALLBACK,
        .write = robots_body,
        .write_arg = &body,
        .timeout = m->cfg->timeout,
        .max_redirects = 5,
        .retry = &retry,
    };
    mtget_http_opts(m, &o);
    int err = mt_buf_printf(&url, "%s/robots.txt", e->key);
    if (err == 0)
        err = mt_http_get(m->http, url.data, &o, &resp);
    if (err == 0 && resp.status >= 200 && resp.status <= 299)
        err = mtget_robots_new(&e->robots, body.data, body.len, MTGET_NAME);
    else if (err == 0 && resp.status >= 400 && resp.status <= 499)
        err = mtget_robots_new(&e->robots, NULL, 0, MTGET_NAME);
    if (!e->robots) {
        char why[MT_HTTP_ERROR_SIZE + 64], *text = NULL;
        mtget_reason(why, sizeof why, err ? err : MTGET_ESTATUS, &resp);
        if (asprintf(&text, "cannot read its robots.txt: %s", why) >= 0)
            e->why = text;
    }
    mt_http_response_free(&resp);
    mt_buf_free(&url);
    mt_buf_free(&body);
}

static int robots_check(mtget *m, host *e, const char *path)
{
    if (e->robots_state == 0) {
        e->robots_state = 1;
        int err = mt_aqueue_new(&e->ready, NULL);
        if (err < 0) {
            e->robots_state = 0;
            return err;
        }
        fetch_robots(m, e);
        e->robots_state = 2;
        mt_aqueue_shutdown(e->ready, true); /* wakes those waiting below */
    }
    while (e->robots_state == 1) {
        void *none;
        int err = mt_aqueue_get(e->ready, &none);
        if (err == -ECANCELED || err == -ETIMEDOUT)
            return err;
    }
    if (!e->robots)
        return MTGET_ENOROBOTS;
    return mtget_robots_allowed(e->robots, path) ? 0 : MTGET_EROBOTS;
}

/* A random factor in [0.5, 1.5). */
static double jitter(void)
{
    return 0.5 + (double)random() / ((double)RAND_MAX + 1);
}

const char *mtget_host_why(mtget *m, const char *url)
{
    const char *path;
    size_t len = split(url, &path);
    host *e = len ? lookup(m->hosts, url, len) : NULL;
    return e && e->why ? e->why : "cannot read its robots.txt";
}

int mtget_host_enter(mtget *m, const char *url)
{
    const char *path = "/";
    size_t len = split(url, &path);
    if (len == 0)
        return -EINVAL;
    host *e = lookup(m->hosts, url, len);
    if (!e)
        return -ENOMEM;
    bool robots = m->crawl && m->cfg->robots;
    if (robots) {
        int err = robots_check(m, e, path);
        if (err)
            return err;
    }
    double delay = m->cfg->delay * jitter();
    double crawl_delay = robots && e->robots ? mtget_robots_crawl_delay(e->robots) : -1;
    if (crawl_delay > delay)
        delay = crawl_delay;
    if (delay <= 0)
        return 0;
    double now = mt_loop_time();
    double start = e->next_start > now ? e->next_start : now;
    e->next_start = start + delay;
    return start > now ? mt_co_sleep(start - now) : 0;
}
