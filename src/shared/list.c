/*
 * list.c - mt_list: a sequence of byte values, item i under the integer key
 * first + i in the main database (MDB_INTEGERKEY). The keys are always
 * consecutive; the first starts in the middle of the key space, so the list
 * can grow and shrink at both ends by changing one key, and an insert or a
 * pop elsewhere moves only the items on the shorter side.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shared_internal.h"

struct mt_list {
    mt__shared s;
};

/* Where an empty list's first item goes: room on both sides. */
#define FIRST_KEY ((size_t)1 << 62)

/* One operation's arguments; each op uses the fields it needs. */
typedef struct list_op {
    long index;
    MDB_val val;
    const mt_iov *items;
    size_t n;
    mt_buf *out;
    const void *fn;
    void *ctx;
} list_op;

/* The list as seen in a transaction: its first key and its length. */
typedef struct span {
    size_t first, n;
} span;

static MDB_val key_of(size_t *pos)
{
    return (MDB_val){.mv_size = sizeof *pos, .mv_data = pos};
}

/* The first or last key (MDB_FIRST, MDB_LAST) into *pos; -ENOENT if empty. */
static int end_key(mt__txn *t, MDB_cursor_op which, size_t *pos)
{
    MDB_cursor *c;
    MDB_val k, v;
    int err = mt__txn_err(t, mdb_cursor_open(t->txn, t->dbi, &c));
    if (err < 0)
        return err;
    err = mt__txn_err(t, mdb_cursor_get(c, &k, &v, which));
    if (err == 0)
        memcpy(pos, k.mv_data, sizeof *pos);
    mdb_cursor_close(c);
    return err;
}

static int get_span(mt__txn *t, span *sp)
{
    ssize_t n = mt__txn_count(t);
    if (n < 0)
        return (int)n;
    sp->n = (size_t)n;
    sp->first = FIRST_KEY;
    return n ? end_key(t, MDB_FIRST, &sp->first) : 0;
}

/* The span, and `index` made absolute (negative counts from the end) but
 * not checked. */
static int locate(mt__txn *t, long index, span *sp, long *i)
{
    int err = get_span(t, sp);
    *i = index < 0 ? index + (long)sp->n : index;
    return err;
}

/* The key of item `index` (negative from the end), or MT_EINDEX. */
static int item_key(mt__txn *t, long index, size_t *pos)
{
    span sp = {0, 0};
    long i;
    int err = locate(t, index, &sp, &i);
    if (err < 0)
        return err;
    if (i < 0 || (size_t)i >= sp.n)
        return MT_EINDEX;
    *pos = sp.first + (size_t)i;
    return 0;
}

static int put_at(mt__txn *t, size_t pos, MDB_val *v, unsigned flags)
{
    MDB_val k = key_of(&pos);
    return mt__txn_err(t, mdb_put(t->txn, t->dbi, &k, v, flags));
}

static int get_at(mt__txn *t, size_t pos, MDB_val *v)
{
    MDB_val k = key_of(&pos);
    return mt__txn_err(t, mdb_get(t->txn, t->dbi, &k, v));
}

static int del_at(mt__txn *t, size_t pos)
{
    MDB_val k = key_of(&pos);
    return mt__txn_err(t, mdb_del(t->txn, t->dbi, &k, NULL));
}

/* Copy the item at `from` to `to` through tmp (a put may move the page the
 * source lies in). */
static int move_item(mt__txn *t, size_t from, size_t to, mt_buf *tmp)
{
    MDB_val v;
    int err = get_at(t, from, &v);
    if (err == 0) {
        mt_buf_reset(tmp);
        err = mt_buf_append(tmp, v.mv_data, v.mv_size);
    }
    if (err == 0) {
        v = (MDB_val){.mv_size = tmp->len, .mv_data = tmp->data};
        err = put_at(t, to, &v, 0);
    }
    return err;
}

/* Move items [lo, hi] by `step` (+1 or -1), starting from the end that
 * moves into free space. */
static int shift(mt__txn *t, size_t lo, size_t hi, int step)
{
    mt_buf tmp = MT_BUF_INIT;
    int err = 0;
    for (size_t i = 0; i <= hi - lo && err == 0; i++) {
        size_t pos = step > 0 ? hi - i : lo + i;
        err = move_item(t, pos, pos + (size_t)(ptrdiff_t)step, &tmp);
    }
    mt_buf_free(&tmp);
    return err;
}

/* ----------------------------------------------------------- life cycle */

int mt_list_new(mt_list **out, const mt_shared_opts *opts)
{
    mt__shared *s = NULL;
    int err = out ? mt__shared_create(&s, MT__SHARED_LIST, opts) : -EINVAL;
    if (err == 0)
        *out = (mt_list *)s;
    return err;
}

int mt_list_open(mt_list **out, const char *name, const mt_shared_opts *opts)
{
    mt__shared *s = NULL;
    int err = out ? mt__shared_open(&s, MT__SHARED_LIST, name, opts) : -EINVAL;
    if (err == 0)
        *out = (mt_list *)s;
    return err;
}

void mt_list_free(mt_list *l)
{
    mt__shared_close(l ? &l->s : NULL);
}

const char *mt_list_name(const mt_list *l)
{
    return l ? l->s.name : NULL;
}

/* --------------------------------------------------------------- writes */

/* Append through one cursor kept at the end: no search per item. */
static int op_extend(mt__txn *t, void *arg)
{
    list_op *o = arg;
    MDB_cursor *c;
    MDB_val k, v;
    size_t pos = FIRST_KEY - 1;
    int err = mt__txn_err(t, mdb_cursor_open(t->txn, t->dbi, &c));
    if (err < 0)
        return err;
    err = mt__txn_err(t, mdb_cursor_get(c, &k, &v, MDB_LAST));
    if (err == 0)
        memcpy(&pos, k.mv_data, sizeof pos);
    else if (err == -ENOENT)
        err = 0;
    for (size_t i = 0; i < o->n && err == 0; i++) {
        pos++;
        k = key_of(&pos);
        v = (MDB_val){.mv_size = o->items[i].len, .mv_data = (void *)o->items[i].data};
        err = mt__txn_err(t, mdb_cursor_put(c, &k, &v, MDB_APPEND));
    }
    mdb_cursor_close(c);
    return err;
}

int mt_list_append(mt_list *l, const void *value, size_t len)
{
    mt_iov item = {value, len};
    return mt_list_extend(l, &item, 1);
}

int mt_list_extend(mt_list *l, const mt_iov *items, size_t n)
{
    if (!l || (!items && n))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!mt__iov_ok(items[i].data, items[i].len))
            return -EINVAL;
    if (l->s.remote)
        return l->s.rops->list_append(l->s.remote, items, n);
    list_op o = {.items = items, .n = n};
    return mt__shared_write(&l->s, op_extend, &o);
}

static int op_insert(mt__txn *t, void *arg)
{
    list_op *o = arg;
    span sp = {0, 0};
    long i;
    int err = locate(t, o->index, &sp, &i);
    if (err < 0)
        return err;
    long n = (long)sp.n;
    i = i < 0 ? 0 : i > n ? n : i;
    size_t at = sp.first + (size_t)i;
    if (i < n / 2) { /* the front moves one key down */
        if (sp.first == 0)
            return -ENOSPC;
        err = i ? shift(t, sp.first, at - 1, -1) : 0;
        at--;
    } else if (i < n) { /* the back moves one key up */
        err = shift(t, at, sp.first + sp.n - 1, +1);
    }
    return err < 0 ? err : put_at(t, at, &o->val, 0);
}

static int op_set(mt__txn *t, void *arg);

/* Run op (insert or set) with one index and one value. */
static int write_at(mt_list *l, long index, const void *value, size_t len, mt__shared_op *op)
{
    if (!l || !mt__iov_ok(value, len))
        return -EINVAL;
    if (l->s.remote)
        return (op == op_insert ? l->s.rops->list_insert : l->s.rops->list_set)(l->s.remote, index,
                                                                                value, len);
    list_op o = {.index = index, .val = {.mv_size = len, .mv_data = (void *)value}};
    return mt__shared_write(&l->s, op, &o);
}

int mt_list_insert(mt_list *l, long index, const void *value, size_t len)
{
    return write_at(l, index, value, len, op_insert);
}

static int op_set(mt__txn *t, void *arg)
{
    list_op *o = arg;
    size_t pos;
    int err = item_key(t, o->index, &pos);
    return err < 0 ? err : put_at(t, pos, &o->val, 0);
}

int mt_list_set(mt_list *l, long index, const void *value, size_t len)
{
    return write_at(l, index, value, len, op_set);
}

static int op_pop(mt__txn *t, void *arg)
{
    list_op *o = arg;
    span sp = {0, 0};
    long i;
    int err = locate(t, o->index, &sp, &i);
    if (err < 0)
        return err;
    long n = (long)sp.n;
    if (i < 0 || i >= n)
        return MT_EINDEX;
    size_t at = sp.first + (size_t)i, last = sp.first + sp.n - 1;
    MDB_val v;
    if (o->out && (err = get_at(t, at, &v)) == 0) {
        mt_buf_reset(o->out);
        err = mt_buf_append(o->out, v.mv_data, v.mv_size);
    }
    if (err < 0)
        return err;
    if (i < n / 2) { /* close the gap from the front */
        err = at > sp.first ? shift(t, sp.first, at - 1, +1) : 0;
        return err < 0 ? err : del_at(t, sp.first);
    }
    err = at < last ? shift(t, at + 1, last, -1) : 0;
    return err < 0 ? err : del_at(t, last);
}

int mt_list_pop(mt_list *l, long index, mt_buf *out)
{
    if (!l)
        return -EINVAL;
    if (l->s.remote)
        return l->s.rops->list_pop(l->s.remote, index, out);
    list_op o = {.index = index, .out = out};
    return mt__shared_write(&l->s, op_pop, &o);
}

static int op_clear(mt__txn *t, void *arg)
{
    (void)arg;
    return mt__txn_err(t, mdb_drop(t->txn, t->dbi, 0));
}

int mt_list_clear(mt_list *l)
{
    if (l && l->s.remote)
        return l->s.rops->list_clear(l->s.remote);
    return l ? mt__shared_write(&l->s, op_clear, NULL) : -EINVAL;
}

/* ---------------------------------------------------------------- reads */

static int op_view(mt__txn *t, void *arg)
{
    list_op *o = arg;
    size_t pos;
    MDB_val v;
    int err = item_key(t, o->index, &pos);
    if (err == 0)
        err = get_at(t, pos, &v);
    return err < 0 ? err : ((mt_shared_view_fn *)o->fn)(v.mv_data, v.mv_size, o->ctx);
}

int mt_list_view(mt_list *l, long index, mt_shared_view_fn *fn, void *ctx)
{
    if (!l || !fn)
        return -EINVAL;
    if (l->s.remote) { /* fn sees a private copy */
        mt_buf v = MT_BUF_INIT;
        int err = l->s.rops->list_get(l->s.remote, index, &v);
        if (err == 0)
            err = fn(v.data, v.len, ctx);
        mt_buf_free(&v);
        return err;
    }
    list_op o = {.index = index, .fn = (const void *)fn, .ctx = ctx};
    return mt__shared_read(&l->s, op_view, &o);
}

static int copy_value(const void *value, size_t len, void *ctx)
{
    mt_buf *out = ctx;
    mt_buf_reset(out);
    return mt_buf_append(out, value, len);
}

int mt_list_get(mt_list *l, long index, mt_buf *out)
{
    return out ? mt_list_view(l, index, copy_value, out) : -EINVAL;
}

ssize_t mt_list_len(mt_list *l)
{
    if (l && l->s.remote)
        return l->s.rops->list_len(l->s.remote);
    return l ? mt__shared_count(&l->s) : -EINVAL;
}

static int op_items(mt__txn *t, void *arg)
{
    list_op *o = arg;
    MDB_cursor *c;
    int err = mt__txn_err(t, mdb_cursor_open(t->txn, t->dbi, &c));
    if (err < 0)
        return err;
    MDB_val k, v;
    size_t i = 0;
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    for (; rc == MDB_SUCCESS && err == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
        err = ((mt_list_item_fn *)o->fn)(i++, v.mv_data, v.mv_size, o->ctx);
    if (err == 0 && rc != MDB_NOTFOUND)
        err = mt__txn_err(t, rc);
    mdb_cursor_close(c);
    return err;
}

int mt_list_items(mt_list *l, mt_list_item_fn *fn, void *ctx)
{
    if (!l || !fn)
        return -EINVAL;
    if (l->s.remote)
        return l->s.rops->list_items(l->s.remote, fn, ctx);
    list_op o = {.fn = (const void *)fn, .ctx = ctx};
    return mt__shared_read(&l->s, op_items, &o);
}

/* ------------------------------------------------------------ batching */

int mt_list_batch_begin(mt_list *l)
{
    return l ? mt__shared_batch_begin(&l->s) : -EINVAL;
}

int mt_list_batch_commit(mt_list *l)
{
    return l ? mt__shared_batch_end(&l->s, true) : -EINVAL;
}

int mt_list_batch_abort(mt_list *l)
{
    return l ? mt__shared_batch_end(&l->s, false) : -EINVAL;
}

int mt_list_reader_check(mt_list *l)
{
    return l ? mt__shared_reader_check(&l->s) : -EINVAL;
}
