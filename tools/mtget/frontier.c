/*
 * frontier.c - the shared frontier of --frontier: on one Redis server, the
 * set of URLs met (a dict NAME:seen, 16-byte keys as seen.c hashes them)
 * and the work, two joinable queues taken with claim and ack: NAME:pages
 * ("DEPTH URL") and NAME:targets ("URL"). An item is acknowledged only once
 * it is finished (a page parsed and its links queued, a file committed), so
 * the items of a process that dies go to another after --frontier-idle;
 * "nothing queued and nothing claimed" (both queues joined) is the end of
 * the crawl for every process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

/* Room for any queued item: a URL up to 64 KiB and its depth. */
#define ITEM_MAX (64 * 1024 + 32)
/* Items queued or claimed at once, in each queue: a put waits while it is
 * full. Large, so that the pages' claims (which count against it) never
 * fill it: a page waiting for room while holding its claim must not wait
 * on itself. (QUEUE_MAX * ITEM_MAX stays under MT_QUEUE_MAX_BYTES.) */
#define QUEUE_MAX (1u << 19)

enum { G_TARGETS = 0, G_PAGES = 1, G_SEEN = 2 };

struct mtget_frontier {
    mt_dict *seen;
    mt_queue *pages, *targets;
    /* The turn on each handle (a token each, indexed by G_*): its calls
     * take turns anyway, and once the server is lost the tasks waiting for
     * the turn see the error at once instead of each waiting out the
     * call's 10 s on the handle. */
    mt_aqueue *gate[3];
    int failed; /* the first error of a call to the server, or 0 */
};

/* Keep the first error that is the server's or the connection's. */
static int note(mtget_frontier *f, int err)
{
    if (err < 0 && err != -EAGAIN && err != -ETIMEDOUT && err != -ECANCELED && !f->failed)
        f->failed = err;
    return err;
}

/* url with ":suffix" put after its NAME (before a redis+unix "?db=N"). */
static char *derived(const char *url, const char *suffix)
{
    const char *q = strncmp(url, "redis+unix://", 13) == 0 ? strchr(url, '?') : NULL;
    size_t at = q ? (size_t)(q - url) : strlen(url);
    char *out = NULL;
    if (asprintf(&out, "%.*s:%s%s", (int)at, url, suffix, url + at) < 0)
        return NULL;
    return out;
}

void mtget_frontier_redact(char *out, size_t size, const char *url)
{
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    const char *slash = strchr(auth, '/'), *at = strchr(auth, '@');
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!at || (slash && slash < at) || !colon) {
        snprintf(out, size, "%s", url);
        return;
    }
    snprintf(out, size, "%.*s:***%s", (int)(colon - url), url, at);
}

static int open_queue(mt_queue **q, const char *url, const char *suffix, double idle)
{
    char *name = derived(url, suffix);
    if (!name)
        return -ENOMEM;
    int err = mt_queue_open_or_new(q, &(mt_queue_opts){.name = name,
                                                        .maxsize = QUEUE_MAX,
                                                        .max_message = ITEM_MAX,
                                                        .joinable = true,
                                                        .redeliver_after = idle});
    free(name);
    return err;
}

int mtget_frontier_open(mtget_frontier **out, const char *url, double idle)
{
    mtget_frontier *f = calloc(1, sizeof *f);
    char *name = derived(url, "seen");
    int err = f && name ? 0 : -ENOMEM;
    if (err == 0)
        err = mt_dict_open(&f->seen, name, NULL);
    free(name);
    if (err == 0)
        err = open_queue(&f->pages, url, "pages", idle);
    if (err == 0)
        err = open_queue(&f->targets, url, "targets", idle);
    for (int i = 0; i < 3 && err == 0; i++) {
        err = mt_aqueue_new(&f->gate[i], &(mt_aqueue_opts){.maxsize = 1, .item_size = 1});
        if (err == 0)
            err = mt_aqueue_put_nowait(f->gate[i], "");
    }
    if (err < 0) {
        mtget_frontier_free(f);
        return err;
    }
    *out = f;
    return 0;
}

void mtget_frontier_free(mtget_frontier *f)
{
    if (!f)
        return;
    mt_queue_free(f->pages);
    mt_queue_free(f->targets);
    mt_dict_free(f->seen);
    for (int i = 0; i < 3; i++)
        mt_aqueue_free(f->gate[i]);
    free(f);
}

/* Take the turn on handle g (suspending this task only): 0, the first
 * error of the frontier, or -ECANCELED. */
static int enter(mtget_frontier *f, int g)
{
    char token;
    int err = mt_aqueue_get(f->gate[g], &token);
    if (err == 0 && f->failed) {
        mt_aqueue_put_nowait(f->gate[g], &token);
        err = f->failed;
    }
    return err;
}

static void leave(mtget_frontier *f, int g)
{
    mt_aqueue_put_nowait(f->gate[g], "");
}

int mtget_frontier_seen_add(mtget_frontier *f, const char *url, unsigned kind, const char *owner)
{
    unsigned char key[16], who[16];
    if (owner)
        mtget_seen_key(who, owner, MTGET_SEEN_PAGE);
    else
        memset(who, 0, sizeof who); /* a seed: never queued twice */
    mt_iov value = {who, sizeof who};
    mtget_seen_key(key, url, kind);
    int r = enter(f, G_SEEN);
    if (r < 0)
        return r;
    r = note(f, mt_dict_cas(f->seen, key, sizeof key, NULL, &value));
    if (r == 0 && owner) {
        /* seen: by this same page, processed before by a process that
         * died between adding the link and queueing it? queue it again */
        mt_buf was = MT_BUF_INIT;
        r = note(f, mt_dict_get(f->seen, key, sizeof key, &was));
        if (r == 0 || r == MT_EKEY)
            r = r == 0 && was.len == sizeof who && memcmp(was.data, who, sizeof who) == 0;
        mt_buf_free(&was);
    }
    leave(f, G_SEEN);
    return r;
}

/* Put without holding the turn while the queue is full (room comes from
 * the acks, which need the turn). */
static int put(mtget_frontier *f, int g, const char *item, size_t len)
{
    for (;;) {
        int err = enter(f, g);
        if (err < 0)
            return err;
        err = note(f, mt_queue_put_nowait(g == G_PAGES ? f->pages : f->targets, item, len));
        leave(f, g);
        if (err != -EAGAIN || (err = mt_co_sleep(0.1)) < 0)
            return err;
    }
}

int mtget_frontier_put(mtget_frontier *f, const char *url, int depth)
{
    if (depth < 0)
        return put(f, G_TARGETS, url, strlen(url));
    char *item = NULL;
    int len = asprintf(&item, "%d %s", depth, url);
    if (len < 0)
        return -ENOMEM;
    int err = put(f, G_PAGES, item, (size_t)len);
    free(item);
    return err;
}

int mtget_frontier_take(mtget_frontier *f, bool page, mt_buf *item, mt_queue_receipt *r)
{
    int err = enter(f, page);
    if (err < 0)
        return err;
    err = note(f, mt_queue_claim(page ? f->pages : f->targets, item, r, 0));
    leave(f, page);
    return err;
}

int mtget_frontier_done(mtget_frontier *f, bool page, const mt_queue_receipt *r)
{
    int err = enter(f, page);
    if (err < 0)
        return err;
    err = mt_queue_ack(page ? f->pages : f->targets, r);
    leave(f, page);
    return err == -ESTALE ? 0 : note(f, err);
}

int mtget_frontier_over(mtget_frontier *f, bool pages_only)
{
    int err = enter(f, G_PAGES);
    if (err < 0)
        return err;
    err = mt_queue_join(f->pages, 0);
    leave(f, G_PAGES);
    if (err == 0 && !pages_only && (err = enter(f, G_TARGETS)) == 0) {
        err = mt_queue_join(f->targets, 0);
        leave(f, G_TARGETS);
    }
    if (err == -EAGAIN || err == -ETIMEDOUT)
        return 0;
    return err == 0 ? 1 : note(f, err);
}
