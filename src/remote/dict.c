/*
 * dict.c - mt_dict on a server: a hash, each call one operation of the
 * script (script.c). Counters are decimal text, as HINCRBY keeps them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "remote_internal.h"

/* An operation on one key. */
static void key_op(mt__rargs *a, const char *op, const void *key, size_t klen)
{
    mt__rargs_op(a, op);
    mt__rargs_add(a, key, klen);
}

int mt__rdict_set(mt__remote *r, const void *key, size_t klen, const void *v, size_t vlen)
{
    mt__rargs a = {0};
    key_op(&a, "set", key, klen);
    mt__rargs_add(&a, v, vlen);
    return mt__robj_one(r, &a, 0, NULL, NULL);
}

int mt__rdict_get(mt__remote *r, const void *key, size_t klen, mt_buf *out)
{
    mt__rargs a = {0};
    key_op(&a, "get", key, klen);
    return mt__robj_one(r, &a, MT__RUN_READ, out, NULL);
}

int mt__rdict_delete(mt__remote *r, const void *key, size_t klen)
{
    mt__rargs a = {0};
    key_op(&a, "del", key, klen);
    return mt__robj_one(r, &a, MT__RUN_ONCE | MT__RUN_SHRINK, NULL, NULL);
}

int mt__rdict_pop(mt__remote *r, const void *key, size_t klen, mt_buf *out)
{
    mt__rargs a = {0};
    key_op(&a, "pop", key, klen);
    return mt__robj_one(r, &a, MT__RUN_ONCE | MT__RUN_SHRINK | (out ? MT__RUN_ANSWER : 0), out,
                        NULL);
}

int mt__rdict_contains(mt__remote *r, const void *key, size_t klen)
{
    mt__rargs a = {0};
    long long n = 0;
    key_op(&a, "has", key, klen);
    int err = mt__robj_one(r, &a, MT__RUN_READ, NULL, &n);
    return err < 0 ? err : n != 0;
}

ssize_t mt__rdict_len(mt__remote *r)
{
    mt__rargs a = {0};
    long long n = 0;
    mt__rargs_op(&a, "len");
    int err = mt__robj_one(r, &a, MT__RUN_READ, NULL, &n);
    return err < 0 ? err : (ssize_t)n;
}

int mt__rdict_clear(mt__remote *r)
{
    mt__rargs a = {0};
    mt__rargs_op(&a, "clear");
    return mt__robj_one(r, &a, MT__RUN_SHRINK, NULL, NULL);
}

/* An item of a reply, for sorting. */
typedef struct item {
    const redisReply *k, *v;
} item;

/* Key order, as on one machine: memcmp, shorter first on a tie. */
static int item_cmp(const void *a, const void *b)
{
    const redisReply *x = ((const item *)a)->k, *y = ((const item *)b)->k;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->str, y->str, n) : 0;
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

int mt__rdict_items(mt__remote *r, mt_dict_item_fn *fn, void *ctx)
{
    mt__rargs a = {0};
    redisReply *reply;
    const redisReply *res;
    mt__rargs_op(&a, "all");
    int err = mt__robj_run(r, &a, MT__RUN_READ, &reply);
    mt__rargs_free(&a);
    if (err < 0) return err;
    if ((err = mt__robj_result(reply, &res)) == 0 &&
        (res->elements < 2 || res->element[1]->type != REDIS_REPLY_ARRAY ||
         res->element[1]->elements % 2))
        err = MT_EREMOTE;
    const redisReply *all = err == 0 ? res->element[1] : NULL;
    size_t n = all ? all->elements / 2 : 0;
    item *items = n ? malloc(n * sizeof *items) : NULL;
    if (n && !items) err = -ENOMEM;
    for (size_t i = 0; items && i < n; i++)
        items[i] = (item){all->element[2 * i], all->element[2 * i + 1]};
    if (items) qsort(items, n, sizeof *items, item_cmp);
    for (size_t i = 0; items && i < n && err == 0; i++)
        err = fn(items[i].k->str, items[i].k->len, items[i].v->str, items[i].v->len, ctx);
    free(items);
    freeReplyObject(reply);
    return err;
}

int mt__rdict_incr(mt__remote *r, const void *key, size_t klen, int64_t delta, int64_t *result)
{
    mt__rargs a = {0};
    key_op(&a, "incr", key, klen);
    mt__rargs_fmt(&a, "%" PRId64, delta);
    mt_buf sum = MT_BUF_INIT;
    int err = mt__robj_one(r, &a, MT__RUN_ONCE | (result ? MT__RUN_ANSWER : 0), &sum, NULL);
    if (err == 0 && result && sum.len) {
        char text[24] = {0};
        memcpy(text, sum.data, sum.len < sizeof text - 1 ? sum.len : sizeof text - 1);
        *result = strtoll(text, NULL, 10);
    }
    mt_buf_free(&sum);
    return err;
}

int mt__rdict_cas(mt__remote *r, const void *key, size_t klen, const mt_iov *expected,
                  const mt_iov *value)
{
    mt__rargs a = {0};
    long long swapped = 0;
    key_op(&a, "cas", key, klen);
    mt__rargs_add(&a, expected ? "1" : "0", 1);
    mt__rargs_add(&a, expected ? expected->data : "", expected ? expected->len : 0);
    mt__rargs_add(&a, value ? "1" : "0", 1);
    mt__rargs_add(&a, value ? value->data : "", value ? value->len : 0);
    int err = mt__robj_one(r, &a, MT__RUN_ONCE | MT__RUN_ANSWER, NULL, &swapped);
    return err < 0 ? err : swapped != 0;
}

/*
 * Optimistic: read the value, let fn compute the new one, and write it only
 * if the value is still the one read (a cas); else run fn again on the new
 * value. fn may run more than once, never with its result half applied.
 */
int mt__rdict_modify(mt__remote *r, const void *key, size_t klen, mt_dict_modify_fn *fn, void *ctx)
{
    if (mt__rbatch_mine(r)) return -EINPROGRESS;
    mt_buf old = MT_BUF_INIT, nv = MT_BUF_INIT;
    int err;
    for (;;) {
        err = mt__rdict_get(r, key, klen, &old);
        if (err < 0 && err != MT_EKEY) break;
        mt_iov was = {old.data, old.len};
        const mt_iov *before = err == 0 ? &was : NULL;
        mt_buf_reset(&nv);
        int what = fn(before, &nv, ctx);
        if (what < 0 || what == MT_DICT_KEEP || (what == MT_DICT_DELETE && !before)) {
            err = what < 0 ? what : 0;
            break;
        }
        if (what != MT_DICT_STORE && what != MT_DICT_DELETE) {
            err = -EINVAL;
            break;
        }
        mt_iov now = {nv.data, nv.len};
        err = mt__rdict_cas(r, key, klen, before, what == MT_DICT_STORE ? &now : NULL);
        if (err != 0) { /* 1: done; < 0: failed */
            err = err < 0 ? err : 0;
            break;
        }
    }
    mt_buf_free(&old);
    mt_buf_free(&nv);
    return err;
}

int mt__rdict_update(mt__remote *r, const mt_dict_pair *pairs, size_t n)
{
    if (n == 0) return 0;
    mt__rargs a = {0};
    mt__rargs_op(&a, "mset");
    mt__rargs_fmt(&a, "%zu", n);
    for (size_t i = 0; i < n; i++) {
        mt__rargs_add(&a, pairs[i].key.data, pairs[i].key.len);
        mt__rargs_add(&a, pairs[i].value.data, pairs[i].value.len);
    }
    return mt__robj_one(r, &a, 0, NULL, NULL);
}
