/*
 * blocking.c - mt_http_get_blocking: the request of a plain thread runs on
 * a loop of that thread's own, made with its client on the first call and
 * freed when the thread exits (a pthread key's destructor). The call runs
 * one task on that loop until the response is complete. A child process
 * forgets its parent's (it must not touch their sockets) and makes its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "http_internal.h"

typedef struct thread_http {
    mt_loop *loop;
    mt_http_client *client;
} thread_http;

static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static int key_err;
static _Thread_local thread_http *mine;

static void thread_http_free(void *p)
{
    thread_http *th = p;
    mt_http_client_free(th->client);
    mt_loop_free(th->loop); /* runs the close callbacks of the client's handles */
    free(th);
    mine = NULL;
}

/* In a child process: the parent's loop and client are not ours (their
 * epoll instance is the parent's too: closing their handles would stop the
 * parent's watches). Forget them, and keep the key's destructor off them. */
static void forget_in_child(void)
{
    if (mine)
        pthread_setspecific(key, NULL);
    mine = NULL;
}

static void key_init(void)
{
    key_err = -pthread_key_create(&key, thread_http_free);
    mt__child_reset_register(forget_in_child);
}

static int thread_http_get(thread_http **out)
{
    pthread_once(&key_once, key_init);
    if (key_err)
        return key_err;
    if (mine) {
        *out = mine;
        return 0;
    }
    thread_http *th = calloc(1, sizeof *th);
    if (!th)
        return -ENOMEM;
    int err = mt_loop_new(&th->loop, NULL);
    if (!err)
        err = mt_http_client_new(&th->client, &(mt_http_client_opts){.loop = th->loop});
    if (!err)
        err = -pthread_setspecific(key, th);
    if (err) {
        mt_http_client_free(th->client);
        mt_loop_free(th->loop);
        free(th);
        return err;
    }
    *out = mine = th;
    return 0;
}

typedef struct blocking_call {
    mt_http_response *resp;
    mt_http_client *client;
    const char *url;
    const mt_http_opts *opts;
} blocking_call;

static int blocking_task(void *arg)
{
    blocking_call *b = arg;
    return mt_http_get(b->client, b->url, b->opts, b->resp);
}

int mt_http_get_blocking(mt_http_response *resp, const char *url, const mt_http_opts *opts)
{
    if (!resp || !url)
        return -EINVAL;
    if (mt_loop_current())
        return -EBUSY;
    thread_http *th;
    int err = thread_http_get(&th);
    if (err)
        return err;
    blocking_call b = {resp, th->client, url, opts};
    mt_task *t;
    err = mt_loop_create_task(th->loop, blocking_task, &b, &(mt_task_opts){.name = "http"}, &t);
    if (err)
        return err;
    int r = mt_loop_run_until_complete(th->loop, t);
    mt_task_free(t);
    return r;
}
