/*
 * dict.c - mt_dict: byte keys to byte values in the main database of the
 * object's LMDB environment. Each call is one small operation run in a
 * transaction by txn.c; the read-modify-write ones (incr, cas, modify) read
 * and write inside the same write transaction, which is what makes them
 * atomic across processes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "multitask/fn.h"
#include "shared_internal.h"

struct mt_dict {
    mt__shared s;
};

/* One operation's arguments and results; each op uses the fields it needs. */
typedef struct dict_op {
    MDB_val key, val;
    mt_buf *out;
    const void *fn;
    void *ctx;
    int64_t delta, *result;
    const mt_iov *expected, *value;
    const mt_dict_pair *pairs;
    size_t n;
} dict_op;

static MDB_val val_of(const void *p, size_t len)
{
    return (MDB_val){.mv_size = len, .mv_data = (void *)p};
}

/* Replace out's contents with v. */
static int copy_out(mt_buf *out, const MDB_val *v)
{
    mt_buf_reset(out);
    return mt_buf_append(out, v->mv_data, v->mv_size);
}

/* ----------------------------------------------------------- life cycle */

int mt_dict_new(mt_dict **out, const mt_shared_opts *opts)
{
    mt__shared *s = NULL;
    int err = out ? mt__shared_create(&s, MT__SHARED_DICT, opts) : -EINVAL;
    if (err == 0)
        *out = (mt_dict *)s;
    return err;
}

int mt_dict_open(mt_dict **out, const char *name, const mt_shared_opts *opts)
{
    mt__shared *s = NULL;
    int err = out ? mt__shared_open(&s, MT__SHARED_DICT, name, opts) : -EINVAL;
    if (err == 0)
        *out = (mt_dict *)s;
    return err;
}

void mt_dict_free(mt_dict *d)
{
    mt__shared_close(d ? &d->s : NULL);
}

bool mt__dict_remote(const mt_dict *d)
{
    return d && d->s.remote;
}

const char *mt_dict_name(const mt_dict *d)
{
    return d ? d->s.name : NULL;
}

/* ------------------------------------------------------- plain get/set */

static int op_set(mt__txn *t, void *arg)
{
    dict_op *o = arg;
    return mt__txn_err(t, mdb_put(t->txn, t->dbi, &o->key, &o->val, 0));
}

int mt_dict_set(mt_dict *d, const void *key, size_t klen, const void *value, size_t vlen)
{
    if (!d || !mt__key_ok(key, klen) || !mt__iov_ok(value, vlen))
        return -EINVAL;
    if (d->s.remote)
        return d->s.rops->dict_set(d->s.remote, key, klen, value, vlen);
    dict_op o = {.key = val_of(key, klen), .val = val_of(value, vlen)};
    return mt__shared_write(&d->s, op_set, &o);
}

/* A missing key is MT_EKEY (Python's KeyError), not LMDB's not-found turned
 * into -ENOENT, whose text speaks of files. */
static int key_err(int err)
{
    return err == -ENOENT ? MT_EKEY : err;
}

/* Look the key up into o->val. */
static int lookup(mt__txn *t, dict_op *o)
{
    return key_err(mt__txn_err(t, mdb_get(t->txn, t->dbi, &o->key, &o->val)));
}

static int op_get(mt__txn *t, void *arg)
{
    dict_op *o = arg;
    int err = lookup(t, o);
    return err < 0 ? err : copy_out(o->out, &o->val);
}

int mt_dict_get(mt_dict *d, const void *key, size_t klen, mt_buf *out)
{
    if (!d || !mt__key_ok(key, klen) || !out)
        return -EINVAL;
    if (d->s.remote)
        return d->s.rops->dict_get(d->s.remote, key, klen, out);
    dict_op o = {.key = val_of(key, klen), .out = out};
    return mt__shared_read(&d->s, op_get, &o);
}

/* A view of a server's value: fn sees a private copy. */
static int remote_view(mt__shared *s, const void *key, size_t klen, mt_shared_view_fn *fn,
                       void *ctx)
{
    mt_buf v = MT_BUF_INIT;
    int err = s->rops->dict_get(s->remote, key, klen, &v);
    if (err == 0)
        err = fn(v.data, v.len, ctx);
    mt_buf_free(&v);
    return err;
}

static int op_view(mt__txn *t, void *arg)
{
    dict_op *o = arg;
    int err = lookup(t, o);
    return err < 0 ? err : ((mt_shared_view_fn *)o->fn)(o->val.mv_data, o->val.mv_size, o->ctx);
}

int mt_dict_view(mt_dict *d, const void *key, size_t klen, mt_shared_view_fn *fn, void *ctx)
{
    if (!d || !mt__key_ok(key, klen) || !fn)
        return -EINVAL;
    if (d->s.remote)
        return remote_view(&d->s, key, klen, fn, ctx);
    dict_op o = {.key = val_of(key, klen), .fn = (const void *)fn, .ctx = ctx};
    return mt__shared_read(&d->s, op_view, &o);
}

static int op_contains(mt__txn *t, void *arg)
{
    int err = lookup(t, arg);
    return err == MT_EKEY ? 0 : err < 0 ? err : 1;
}

int mt_dict_contains(mt_dict *d, const void *key, size_t klen)
{
    if (!d || !mt__key_ok(key, klen))
        return -EINVAL;
    if (d->s.remote)
        return d->s.rops->dict_contains(d->s.remote, key, klen);
    dict_op o = {.key = val_of(key, klen)};
    return mt__shared_read(&d->s, op_contains, &o);
}

static int op_delete(mt__txn *t, void *arg)
{
    dict_op *o = arg;
    return key_err(mt__txn_err(t, mdb_del(t->txn, t->dbi, &o->key, NULL)));
}

int mt_dict_delete(mt_dict *d, const void *key, size_t klen)
{
    if (!d || !mt__key_ok(key, klen))
        return -EINVAL;
    if (d->s.remote)
        return d->s.rops->dict_delete(d->s.remote, key, klen);
    dict_op o = {.key = val_of(key, klen)};
    return mt__shared_write(&d->s, op_delete, &o);
}

static int op_pop(mt__txn *t, void *arg)
{
    dict_op *o = arg;
    int err = lookup(t, o);
    if (err == 0 && o->out)
        err = copy_out(o->out, &o->val);
    return err < 0 ? err : op_delete(t, o);
}

int mt_dict_pop(mt_dict *d, const void *key, size_t klen, mt_buf *out)
{
    if (!d || !mt__key_ok(key, klen))
        return -EINVAL;
    if (d->s.remote)
        return d->s.rops->dict_pop(d->s.remote, key, klen, out);
    dict_op o = {.key = val_of(key, klen), .out = out};
    return mt__shared_write(&d->s, op_pop, &o);
}

ssize_t mt_dict_len(mt_dict *d)
{
    if (!d)
        return -EINVAL;
    if (d->s.remote)
        return d->s.rops->dict_len(d->s.remote);
    return mt__shared_count(&d->s);
}

static int op_clear(mt__txn *t, void *arg)
{
    (void)arg;
    return mt__txn_err(t, mdb_drop(t->txn, t->dbi, 0));
}

int mt_dict_clear(mt_dict *d)
{
    if (d && d->s.remote)
        return d->s.rops->dict_clear(d->s.remote);
    return d ? mt__shared_write(&d->s, op_clear, NULL) : -EINVAL;
}

/* ------------------------------------------------------------ iteration */

/* Call o->fn (an mt_dict_item_fn) on every item, in key order. */
static int op_items(mt__txn *t, void *arg)
{
    dict_op *o = arg;
    MDB_cursor *c;
    int err = mt__txn_err(t, mdb_cursor_open(t->txn, t->dbi, &c));
    if (err < 0)
        return err;
    MDB_val k, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    for (; rc == MDB_SUCCESS && err == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        err = ((mt_dict_item_fn *)o->fn)(k.mv_data, k.mv_size, v.mv_data, v.mv_size, o->ctx);
    if (err == 0 && rc != MDB_NOTFOUND)
        err = mt__txn_err(t, rc);
    mdb_cursor_close(c);
    return err;
}

int mt_dict_items(mt_dict *d, mt_dict_item_fn *fn, void *ctx)
{
    if (!d || !fn)
        return -EINVAL;
    if (d->s.remote)
        return d->s.rops->dict_items(d->s.remote, fn, ctx);
    dict_op o = {.fn = (const void *)fn, .ctx = ctx};
    return mt__shared_read(&d->s, op_items, &o);
}

/* Keys or values, packed as mt_pack does: a 32-bit count, then each as a
 * 32-bit length and its bytes. */
typedef struct packer {
    mt_buf *out;
    size_t start;
    uint32_t count;
    bool values;
} packer;

static int pack_one(const void *key, size_t klen, const void *value, size_t vlen, void *ctx)
{
    packer *p = ctx;
    const void *data = p->values ? value : key;
    size_t n = p->values ? vlen : klen;
    if (n > UINT32_MAX || p->count == UINT32_MAX)
        return -EMSGSIZE;
    uint32_t len = (uint32_t)n;
    int err = mt_buf_reserve(p->out, 4 + n);
    if (err < 0)
        return err;
    mt_buf_append(p->out, &len, 4);
    mt_buf_append(p->out, data, n);
    p->count++;
    return 0;
}

static int pack_all(mt_dict *d, mt_buf *out, bool values)
{
    if (!d || !out)
        return -EINVAL;
    packer p = {.out = out, .start = out->len, .values = values};
    int err = mt_buf_append(out, &p.count, 4);
    if (err == 0)
        err = mt_dict_items(d, pack_one, &p);
    if (err < 0) {
        out->len = p.start;
        return err;
    }
    memcpy(out->data + p.start, &p.count, 4);
    return 0;
}

int mt_dict_keys(mt_dict *d, mt_buf *out)
{
    return pack_all(d, out, false);
}

int mt_dict_values(mt_dict *d, mt_buf *out)
{
    return pack_all(d, out, true);
}

/* --------------------------------------------------- read-modify-write */

static int op_incr(mt__txn *t, void *arg)
{
    dict_op *o = arg;
    int64_t n = 0;
    int err = lookup(t, o);
    if (err == 0 && o->val.mv_size != sizeof n)
        return -EINVAL;
    if (err == 0)
        memcpy(&n, o->val.mv_data, sizeof n);
    else if (err != MT_EKEY)
        return err;
    if (__builtin_add_overflow(n, o->delta, &n))
        return -EOVERFLOW;
    o->val = val_of(&n, sizeof n);
    if ((err = op_set(t, o)) == 0 && o->result)
        *o->result = n;
    return err;
}

int mt_dict_incr(mt_dict *d, const void *key, size_t klen, int64_t delta, int64_t *result)
{
    if (!d || !mt__key_ok(key, klen))
        return -EINVAL;
    if (d->s.remote)
        return d->s.rops->dict_incr(d->s.remote, key, klen, delta, result);
    dict_op o = {.key = val_of(key, klen), .delta = delta, .result = result};
    return mt__shared_write(&d->s, op_incr, &o);
}

static int op_cas(mt__txn *t, void *arg)
{
    dict_op *o = arg;
    int err = lookup(t, o);
    if (err < 0 && err != MT_EKEY)
        return err;
    bool present = err == 0;
    if (present != (o->expected != NULL))
        return 0;
    if (present && (o->val.mv_size != o->expected->len ||
                    (o->val.mv_size && memcmp(o->val.mv_data, o->expected->data, o->val.mv_size))))
        return 0;
    if (o->value) {
        o->val = val_of(o->value->data, o->value->len);
        err = op_set(t, o);
    } else {
        err = present ? op_delete(t, o) : 0; /* absent as expected: nothing to delete */
    }
    return err < 0 ? err : 1;
}

int mt_dict_cas(mt_dict *d, const void *key, size_t klen, const mt_iov *expected,
                const mt_iov *value)
{
    if (!d || !mt__key_ok(key, klen) || (expected && !mt__iov_ok(expected->data, expected->len)) ||
        (value && !mt__iov_ok(value->data, value->len)))
        return -EINVAL;
    if (d->s.remote)
        return d->s.rops->dict_cas(d->s.remote, key, klen, expected, value);
    dict_op o = {.key = val_of(key, klen), .expected = expected, .value = value};
    return mt__shared_write(&d->s, op_cas, &o);
}

static int op_modify(mt__txn *t, void *arg)
{
    dict_op *o = arg;
    int err = lookup(t, o);
    if (err < 0 && err != MT_EKEY)
        return err;
    mt_iov old = {o->val.mv_data, o->val.mv_size};
    mt_buf nv = MT_BUF_INIT;
    int r = ((mt_dict_modify_fn *)o->fn)(err == 0 ? &old : NULL, &nv, o->ctx);
    if (r == MT_DICT_STORE) {
        o->val = val_of(nv.data, nv.len);
        r = op_set(t, o);
    } else if (r == MT_DICT_DELETE) {
        r = err == 0 ? op_delete(t, o) : 0;
    } else if (r == MT_DICT_KEEP) {
        r = 0;
    } else if (r > 0) {
        r = -EINVAL;
    }
    mt_buf_free(&nv);
    return r;
}

int mt_dict_modify(mt_dict *d, const void *key, size_t klen, mt_dict_modify_fn *fn, void *ctx)
{
    if (!d || !mt__key_ok(key, klen) || !fn)
        return -EINVAL;
    if (d->s.remote)
        return d->s.rops->dict_modify(d->s.remote, key, klen, fn, ctx);
    dict_op o = {.key = val_of(key, klen), .fn = (const void *)fn, .ctx = ctx};
    return mt__shared_write(&d->s, op_modify, &o);
}

/* ------------------------------------------------------------ batching */

static int op_update(mt__txn *t, void *arg)
{
    dict_op *o = arg;
    int err = 0;
    for (size_t i = 0; i < o->n && err == 0; i++) {
        MDB_val k = val_of(o->pairs[i].key.data, o->pairs[i].key.len);
        MDB_val v = val_of(o->pairs[i].value.data, o->pairs[i].value.len);
        err = mt__txn_err(t, mdb_put(t->txn, t->dbi, &k, &v, 0));
    }
    return err;
}

int mt_dict_update(mt_dict *d, const mt_dict_pair *pairs, size_t n)
{
    if (!d || (!pairs && n))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!mt__key_ok(pairs[i].key.data, pairs[i].key.len) ||
            !mt__iov_ok(pairs[i].value.data, pairs[i].value.len))
            return -EINVAL;
    if (d->s.remote)
        return d->s.rops->dict_update(d->s.remote, pairs, n);
    dict_op o = {.pairs = pairs, .n = n};
    return mt__shared_write(&d->s, op_update, &o);
}

int mt_dict_batch_begin(mt_dict *d)
{
    return d ? mt__shared_batch_begin(&d->s) : -EINVAL;
}

int mt_dict_batch_commit(mt_dict *d)
{
    return d ? mt__shared_batch_end(&d->s, true) : -EINVAL;
}

int mt_dict_batch_abort(mt_dict *d)
{
    return d ? mt__shared_batch_end(&d->s, false) : -EINVAL;
}

int mt_dict_reader_check(mt_dict *d)
{
    return d ? mt__shared_reader_check(&d->s) : -EINVAL;
}
