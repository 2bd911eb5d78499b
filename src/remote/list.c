/*
 * list.c - mt_list on a server: a Redis list, each call one operation of
 * the script (script.c), which keeps Python's indexes (negative from the
 * end, MT_EINDEX past either end) and moves the shorter side on an insert
 * or a pop in the middle.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "remote_internal.h"

int mt__rlist_append(mt__remote *r, const mt_iov *items, size_t n)
{
    if (n == 0) return 0;
    mt__rargs a = {0};
    mt__rargs_op(&a, "push");
    mt__rargs_fmt(&a, "%zu", n);
    for (size_t i = 0; i < n; i++)
        mt__rargs_add(&a, items[i].data, items[i].len);
    return mt__robj_one(r, &a, MT__RUN_ONCE, NULL, NULL);
}

int mt__rlist_insert(mt__remote *r, long index, const void *value, size_t len)
{
    mt__rargs a = {0};
    mt__rargs_op(&a, "ins");
    mt__rargs_fmt(&a, "%ld", index);
    mt__rargs_add(&a, value, len);
    return mt__robj_one(r, &a, MT__RUN_ONCE, NULL, NULL);
}

int mt__rlist_get(mt__remote *r, long index, mt_buf *out)
{
    mt__rargs a = {0};
    mt__rargs_op(&a, "lget");
    mt__rargs_fmt(&a, "%ld", index);
    return mt__robj_one(r, &a, MT__RUN_READ, out, NULL);
}

int mt__rlist_set(mt__remote *r, long index, const void *value, size_t len)
{
    mt__rargs a = {0};
    mt__rargs_op(&a, "lset");
    mt__rargs_fmt(&a, "%ld", index);
    mt__rargs_add(&a, value, len);
    return mt__robj_one(r, &a, 0, NULL, NULL);
}

int mt__rlist_pop(mt__remote *r, long index, mt_buf *out)
{
    mt__rargs a = {0};
    mt__rargs_op(&a, "lpop");
    mt__rargs_fmt(&a, "%ld", index);
    return mt__robj_one(r, &a, MT__RUN_ONCE | MT__RUN_SHRINK | (out ? MT__RUN_ANSWER : 0), out,
                        NULL);
}

ssize_t mt__rlist_len(mt__remote *r)
{
    mt__rargs a = {0};
    long long n = 0;
    mt__rargs_op(&a, "llen");
    int err = mt__robj_one(r, &a, MT__RUN_READ, NULL, &n);
    return err < 0 ? err : (ssize_t)n;
}

int mt__rlist_clear(mt__remote *r)
{
    mt__rargs a = {0};
    mt__rargs_op(&a, "clear");
    return mt__robj_one(r, &a, MT__RUN_SHRINK, NULL, NULL);
}

int mt__rlist_items(mt__remote *r, mt_list_item_fn *fn, void *ctx)
{
    mt__rargs a = {0};
    redisReply *reply;
    const redisReply *res;
    mt__rargs_op(&a, "lall");
    int err = mt__robj_run(r, &a, MT__RUN_READ, &reply);
    mt__rargs_free(&a);
    if (err < 0) return err;
    if ((err = mt__robj_result(reply, &res)) == 0 &&
        (res->elements < 2 || res->element[1]->type != REDIS_REPLY_ARRAY))
        err = MT_EREMOTE;
    for (size_t i = 0; err == 0 && i < res->element[1]->elements; i++) {
        const redisReply *v = res->element[1]->element[i];
        err = fn(i, v->str, v->len, ctx);
    }
    freeReplyObject(reply);
    return err;
}
