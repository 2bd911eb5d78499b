/*
 * request.c - mt_http_get: a coroutine hands a transfer to its client's
 * libcurl (once admitted) and suspends until the client finishes it, or
 * until it is cancelled or times out, in which case the transfer is taken
 * back from libcurl at once (its connection closes with it). With a retry
 * policy, a transient failure is tried again after a wait on the loop's
 * timers (retry.c), the sink rewound first.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "http_internal.h"

/* One try: resp filled. *transient tells whether a retry may help;
 * *truncated whether a 200 to a range request emptied the fd sink. */
static int attempt(mt_http_response *resp, mt_http_client *c, const char *url,
                   const mt_http_opts *o, mt_task *t, bool *transient, bool *truncated)
{
    *transient = *truncated = false;
    mt__http_response_reset(resp);
    mt__http_xfer *x = calloc(1, sizeof *x);
    if (!x)
        return -ENOMEM;
    mt_buf_move(&x->body, &resp->body); /* reuse its memory */
    x->task = t;
    int err = mt__http_xfer_init(x, c, url, o);
    if (err)
        goto out;
    mt__http_host_key(url, x->key, sizeof x->key);
    err = mt__http_admit(c, x->key, t);
    if (err)
        goto out;
    if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
        mt__http_release(c, x->key);
        err = -ENOMEM;
        goto out;
    }
    c->active++;
    while (!x->done && !err)
        err = mt__suspend_exported(t);
    if (!x->done) { /* cancelled or timed out: take it back */
        curl_multi_remove_handle(c->multi, x->easy);
        c->active--;
        snprintf(x->errbuf, sizeof x->errbuf, "%s", mt_strerror(err));
    } else {
        err = mt__http_error(x);
    }
    mt__http_release(c, x->key);
    mt__http_response_fill(resp, x, err);
    *transient = x->done && !x->err && mt__http_transient(x->code, resp->status);
    *truncated = x->truncated;
out:
    if (err && !resp->error[0])
        snprintf(resp->error, sizeof resp->error, "%s", mt_strerror(err));
    mt__http_xfer_free(x);
    free(x);
    return err;
}

/* Undo what a failed try gave the sink, so that the next try starts
 * clean. Returns whether it could. */
static bool rewind_sink(const mt_http_opts *o, const mt_http_response *resp, off_t fd_start)
{
    if (resp->size == 0 || o->to == MT_HTTP_TO_MEMORY || o->to == MT_HTTP_TO_NOWHERE)
        return true;
    if (o->to != MT_HTTP_TO_FD || fd_start < 0)
        return false; /* a callback cannot take bytes back */
    return ftruncate(o->fd, fd_start) == 0 && lseek(o->fd, fd_start, SEEK_SET) == fd_start;
}

int mt_http_get(mt_http_client *c, const char *url, const mt_http_opts *opts,
                mt_http_response *resp)
{
    mt_task *t = mt_task_current();
    if (!t)
        return MT_ENOTCORO;
    if (!resp || !c || !url || c->loop != t->loop)
        return -EINVAL;
    mt_http_opts none = {0};
    const mt_http_opts *o = opts ? opts : &none;
    int err = mt__interrupt_code(t);
    if (err)
        return err;
    if (o->retry && (err = mt__http_retry_check(o->retry)) != 0)
        return err;
    off_t fd_start = o->to == MT_HTTP_TO_FD && o->retry ? lseek(o->fd, 0, SEEK_CUR) : -1;
    mt_http_opts now = *o; /* what the next try asks */
    double waited = 0;
    for (int tries = 1;; tries++) {
        bool transient, truncated;
        err = attempt(resp, c, url, &now, t, &transient, &truncated);
        resp->tries = tries;
        if (truncated && fd_start >= 0) {
            /* The range_from bytes of the fd are gone: a retry can only
             * ask for the whole body, into the file emptied again. */
            now.range_from = 0;
            now.if_range = NULL;
            fd_start = 0;
        }
        double wait;
        if (!o->retry || !transient ||
            mt_http_retry_wait(o->retry, tries, resp, waited, &wait) != 1 ||
            !rewind_sink(o, resp, fd_start))
            return err;
        int r = mt_co_sleep(wait);
        if (r) {
            snprintf(resp->error, sizeof resp->error, "%s", mt_strerror(r));
            return r;
        }
        waited += wait;
    }
}
