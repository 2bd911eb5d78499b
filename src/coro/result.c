/*
 * result.c - a task's byte result: an mt_buf on the heap, made when the
 * task first asks for it, read or taken by whoever holds the task's handle
 * (a result larger than the int a coroutine returns).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "coro_internal.h"

int mt_task_result_buf(mt_buf **out)
{
    if (!out)
        return -EINVAL;
    mt_task *t = mt__current();
    if (!t)
        return MT_ENOTCORO;
    mt__task_extra *x = mt__task_extra_of(t);
    if (!x)
        return -ENOMEM;
    if (!x->bytes) {
        x->bytes = calloc(1, sizeof *x->bytes);
        if (!x->bytes)
            return -ENOMEM;
    }
    *out = x->bytes;
    return 0;
}

int mt_task_result_bytes(mt_task *t, mt_iov *out)
{
    if (!out)
        return -EINVAL;
    *out = (mt_iov){NULL, 0};
    int r = mt_task_result(t);
    mt_buf *b = t && t->extra ? t->extra->bytes : NULL;
    if (t && t->state == MT__T_DONE && b && b->len)
        *out = (mt_iov){b->data, b->len};
    return r;
}

int mt_task_take(mt_task *t, mt_buf *out)
{
    if (!out)
        return -EINVAL;
    int r = mt_task_result(t);
    if (!t || t->state != MT__T_DONE)
        return r;
    if (t->extra && t->extra->bytes)
        mt_buf_move(out, t->extra->bytes);
    else
        mt_buf_free(out);
    return r;
}

void mt__task_bytes_free(mt_task *t)
{
    mt_buf_free(t->extra->bytes);
    free(t->extra->bytes);
    t->extra->bytes = NULL;
}
