/*
 * queue_remote.c - a queue whose name is a server's (redis://,
 * redis+unix://): the handle carries the remote layer's state and table
 * (src/shared/remote_ops.h, loaded on first use) instead of a mapping, and
 * queue.c's calls hand it every operation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "queue_internal.h"

int mt__queue_remote_open(mt_queue **out, const char *name, const mt_queue_opts *o, int mode)
{
    const mt__remote_ops *ops;
    int err = mt__remote_load(&ops);
    if (err < 0)
        return err;
    mt_queue *q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    mt_queue_opts actual;
    if ((err = ops->queue_open(&q->remote, name, o, mode, &actual)) < 0) {
        free(q);
        return err;
    }
    q->rops = ops;
    q->nslots = actual.maxsize;
    q->max_message = actual.max_message;
    q->joinable = actual.joinable;
    q->persist = true;
    /* mt_queue_open_or_new: the settings must be those asked for */
    if (mode == MT__RQ_EITHER && (actual.maxsize != o->maxsize ||
                                  actual.max_message != o->max_message ||
                                  actual.joinable != o->joinable)) {
        ops->close(q->remote);
        free(q);
        return -EEXIST;
    }
    *out = q;
    return 0;
}

int mt__queue_remote_unlink(const char *name)
{
    const mt__remote_ops *ops;
    int err = mt__remote_load(&ops);
    return err < 0 ? err : ops->queue_unlink(name);
}
