/*
 * queue_peer.c - an unrelated program for the queue tests: it shares nothing
 * with them but a queue's name.
 *
 *   queue_peer open NAME          open and free NAME; exit 0, or the error
 *                                 as a positive number
 *   queue_peer echo IN OUT N      take N messages from queue IN and put each
 *                                 on queue OUT, unchanged
 *   queue_peer hold NAME          open NAME, write "ready\n" on stdout, wait
 *                                 until stdin closes, then free it
 *   queue_peer produce NAME N     open or make NAME (joinable, persistent,
 *                                 128 slots of 512 bytes), put messages 0 to
 *                                 N - 1 (queue_helpers.h) and leave
 *   queue_peer drain NAME N       take N messages from NAME, marking each done
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "multitask.h"
#include "queue_helpers.h"

static int open_queue(const char *name, mt_queue **q)
{
    int err = mt_queue_open(q, name);
    if (err < 0)
        fprintf(stderr, "queue_peer: cannot open '%s': %s\n", name, mt_strerror(err));
    return err;
}

static int echo(const char *in_name, const char *out_name, long n)
{
    mt_queue *in = NULL, *out = NULL;
    mt_buf msg = MT_BUF_INIT;
    int err = open_queue(in_name, &in);
    if (err == 0)
        err = open_queue(out_name, &out);
    for (long i = 0; err == 0 && i < n; i++) {
        err = mt_queue_get(in, &msg, 10);
        if (err == 0)
            err = mt_queue_put(out, msg.data, msg.len, 10);
    }
    mt_buf_free(&msg);
    mt_queue_free(out);
    mt_queue_free(in);
    return err;
}

static int produce(const char *name, long n)
{
    mt_queue *q;
    mt_queue_opts o = {
        .name = name, .maxsize = 128, .max_message = 512, .joinable = true, .persist = true};
    int err = mt_queue_open_or_new(&q, &o);
    if (err < 0)
        return err;
    char msg[512];
    for (long i = 0; err == 0 && i < n; i++)
        err = mt_queue_put(q, msg, msg_make(msg, (uint64_t)i, 512), 10);
    mt_queue_free(q);
    return err;
}

static int drain(const char *name, long n)
{
    mt_queue *q = NULL;
    int err = open_queue(name, &q);
    char msg[512];
    for (long i = 0; err == 0 && i < n; i++) {
        ssize_t len = mt_queue_get_into(q, msg, sizeof msg, 10);
        err = len < 0 ? (int)len : 0;
        if (err == 0) {
            usleep(1000); /* the work */
            err = mt_queue_task_done(q);
        }
    }
    mt_queue_free(q);
    return err;
}

int main(int argc, char **argv)
{
    mt_queue *q;
    int err = -EINVAL;
    if (argc == 3 && strcmp(argv[1], "open") == 0) {
        if ((err = mt_queue_open(&q, argv[2])) == 0)
            mt_queue_free(q);
    } else if (argc == 5 && strcmp(argv[1], "echo") == 0) {
        err = echo(argv[2], argv[3], atol(argv[4]));
    } else if (argc == 3 && strcmp(argv[1], "hold") == 0) {
        if ((err = open_queue(argv[2], &q)) == 0) {
            printf("ready\n");
            fflush(stdout);
            char c;
            while (read(0, &c, 1) > 0)
                ;
            mt_queue_free(q);
        }
    } else if (argc == 4 && strcmp(argv[1], "produce") == 0) {
        err = produce(argv[2], atol(argv[3]));
    } else if (argc == 4 && strcmp(argv[1], "drain") == 0) {
        err = drain(argv[2], atol(argv[3]));
    } else {
        fprintf(stderr, "usage: queue_peer open NAME | echo IN OUT N | hold NAME | "
                        "produce NAME N | drain NAME N\n");
        return 2;
    }
    return -err;
}
