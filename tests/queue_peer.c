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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "multitask.h"

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
    } else {
        fprintf(stderr, "usage: queue_peer open NAME | echo IN OUT N | hold NAME\n");
        return 2;
    }
    return -err;
}
