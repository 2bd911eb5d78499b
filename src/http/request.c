/*
 * request.c - mt_http_get: a coroutine hands a transfer to its client's
 * libcurl and suspends until the client finishes it, or until it is
 * cancelled or times out, in which case the transfer is taken back from
 * libcurl at once (its connection closes with it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "http_internal.h"

int mt_http_get(mt_http_response *resp, mt_http_client *c, const char *url,
                const mt_http_opts *opts)
{
    mt_task *t = mt__current();
    if (!t)
        return MT_ENOTCORO;
    if (!resp || !c || !url || c->loop != t->loop)
        return -EINVAL;
    mt_http_opts none = {0};
    int err = mt__interrupt_code(t);
    if (err)
        return err;
    mt__http_response_reset(resp);
    mt__http_xfer *x = calloc(1, sizeof *x);
    if (!x)
        return -ENOMEM;
    mt_buf_move(&x->body, &resp->body); /* reuse its memory */
    x->task = t;
    err = mt__http_xfer_init(x, c, url, opts ? opts : &none);
    if (err)
        goto out;
    char key[MT__HTTP_KEY_SIZE];
    mt__http_host_key(url, key, sizeof key);
    err = mt__http_admit(c, key, t);
    if (err)
        goto out;
    if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
        mt__http_release(c, key);
        err = -ENOMEM;
        goto out;
    }
    c->active++;
    while (!x->done && !err)
        err = mt__suspend(t, false);
    if (!x->done) { /* cancelled or timed out: take it back */
        curl_multi_remove_handle(c->multi, x->easy);
        c->active--;
        snprintf(x->errbuf, sizeof x->errbuf, "%s", mt_strerror(err));
    } else {
        err = mt__http_error(x);
    }
    mt__http_release(c, key);
    mt__http_response_fill(resp, x, err);
out:
    if (err && !resp->error[0])
        snprintf(resp->error, sizeof resp->error, "%s", mt_strerror(err));
    mt__http_xfer_free(x);
    free(x);
    return err;
}
