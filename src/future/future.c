/*
 * future.c - the one future type. The state word doubles as the futex that
 * waiters sleep on; a spinlock guards only the callback list, so a future is
 * small enough to make by the million. A producer may ask for space of its
 * own in the same allocation (mt__future_new_ext); once the future is
 * finished that space holds a small result, so a task that returns a few
 * bytes costs one malloc in all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../core/core_internal.h"
#include "future_internal.h"

enum {
    ST_PENDING = 0,
    ST_RUNNING = 1,
    ST_DONE = 2,
    ST_CANCELLED = 3,
    ST_MASK = 3,
    ST_WAITERS = 4, /* someone sleeps on the futex: wake them on finish */
    ST_CB_HELD = 8, /* done, but its producer runs the callbacks later */
};

typedef struct callback {
    mt_future_cb *fn;
    void *arg;
} callback;

struct mt_future {
    _Atomic uint32_t state;
    _Atomic uint32_t refs;
    mt__spinlock lock; /* guards the callbacks */
    int err;
    void *map;         /* when set, result.data points into this mapping */
    size_t map_len;
    mt_buf result;     /* result bytes, or the error message */
    mt__future_driver *drive;
    void *drive_ctx;
    callback first;    /* the common single callback, without malloc */
    callback *more;
    uint32_t nmore;
    uint32_t ext_len; /* bytes of producer space after the struct */
};

/* Where the producer's space starts: right after the struct, 8-byte
 * aligned. Keep the struct small: a thread pool makes one per task. */
#define EXT_OFFSET ((sizeof(struct mt_future) + 7) & ~(size_t)7)
#define EXT_MAX (64 * 1024)

static char *ext_of(mt_future *f)
{
    return (char *)f + EXT_OFFSET;
}

static uint32_t state_of(const mt_future *f)
{
    return atomic_load_explicit(&((mt_future *)f)->state, memory_order_acquire) & ST_MASK;
}

mt_future *mt__future_new(void)
{
    return mt__future_new_ext(0);
}

mt_future *mt__future_new_ext(size_t extra)
{
    if (extra > EXT_MAX)
        return NULL;
    /* Only the struct needs zeroing; the producer fills its own space. */
    mt_future *f = malloc(EXT_OFFSET + extra);
    if (!f)
        return NULL;
    memset(f, 0, sizeof *f);
    atomic_init(&f->refs, 1);
    f->ext_len = (uint32_t)extra;
    return f;
}

void *mt__future_ext(mt_future *f)
{
    return f->ext_len ? ext_of(f) : NULL;
}

mt_future *mt__future_of_ext(void *ext)
{
    return (mt_future *)((char *)ext - EXT_OFFSET);
}

/* Whether the result bytes sit in the producer's space. */
static bool result_inline(mt_future *f)
{
    return f->ext_len && f->result.data == ext_of(f);
}

/* Whether result.data is the future's own malloc memory. */
static bool result_owned(mt_future *f)
{
    return !f->map && !result_inline(f);
}

mt_future *mt_future_ref(mt_future *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void mt_future_free(mt_future *f)
{
    if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (f->map)
        munmap(f->map, f->map_len);
    else if (result_owned(f))
        free(f->result.data);
    free(f->more);
    free(f);
}

/* Move from `from` to `to` if the state is `from`; keeps the waiters bit
 * (`to` may add ST_CB_HELD). */
static bool transition(mt_future *f, uint32_t from, uint32_t to, uint32_t *old)
{
    uint32_t s = atomic_load_explicit(&f->state, memory_order_relaxed);
    do {
        if ((s & ST_MASK) != from) {
            if (old)
                *old = s;
            return false;
        }
    } while (!atomic_compare_exchange_weak_explicit(&f->state, &s, to | (s & ST_WAITERS),
                                                    memory_order_acq_rel, memory_order_relaxed));
    if (old)
        *old = s;
    return true;
}

int mt__future_start(mt_future *f)
{
    uint32_t old;
    if (transition(f, ST_PENDING, ST_RUNNING, &old))
        return 0;
    return (old & ST_MASK) == ST_CANCELLED ? -ECANCELED : -EINVAL;
}

/* Take the callbacks of a future that ended, clearing ST_CB_HELD, and run
 * them. The lock orders this against mt_future_add_done_callback, which runs
 * a callback at once only when the future is done and none are held. */
static void run_callbacks(mt_future *f)
{
    mt__spin_lock(&f->lock);
    callback first = f->first;
    callback *more = f->more;
    size_t nmore = f->nmore;
    f->first.fn = NULL;
    f->more = NULL;
    f->nmore = 0;
    atomic_fetch_and_explicit(&f->state, ~(uint32_t)ST_CB_HELD, memory_order_release);
    mt__spin_unlock(&f->lock);

    if (first.fn)
        first.fn(f, first.arg);
    for (size_t i = 0; i < nmore; i++)
        more[i].fn(f, more[i].arg);
    free(more);
}

static void wake_waiters(mt_future *f)
{
    if (atomic_load_explicit(&f->state, memory_order_relaxed) & ST_WAITERS)
        mt__futex_wake(&f->state, INT32_MAX, false);
}

/* A future that just ended: wake its waiters, then run its callbacks unless
 * the producer takes that on (held). */
static void settle(mt_future *f, bool held)
{
    wake_waiters(f);
    if (!held)
        run_callbacks(f);
}

static bool finish_state(mt_future *f, bool held)
{
    uint32_t done = ST_DONE | (held ? ST_CB_HELD : 0);
    return transition(f, ST_RUNNING, done, NULL) || transition(f, ST_PENDING, done, NULL);
}

/* Store an outcome and end the future (see mt__future_finish). */
static int finish(mt_future *f, int err, mt_buf *result, bool held)
{
    uint32_t s = state_of(f);
    if (s == ST_DONE || s == ST_CANCELLED) {
        if (result)
            mt_buf_free(result);
        return -EINVAL;
    }
    f->err = err > 0 ? MT_EFAILED : err;
    if (result && result->len < f->ext_len) {
        /* Small enough for the producer's space, with room for a NUL: copy,
         * and leave the caller its memory to reuse. */
        char *ext = ext_of(f);
        if (result->len)
            memcpy(ext, result->data, result->len);
        ext[result->len] = '\0';
        f->result = (mt_buf){ext, result->len, f->ext_len};
        mt_buf_reset(result);
    } else if (result) {
        mt_buf_move(&f->result, result);
    }
    /* Error messages are read as C strings: keep a NUL after the bytes. */
    if (f->err && !result_inline(f) && mt_buf_reserve(&f->result, 1) == 0)
        f->result.data[f->result.len] = '\0';
    if (!finish_state(f, held)) /* cancelled meanwhile: the cancel won */
        return -EINVAL;
    settle(f, held);
    return 0;
}

static int finish_mapped(mt_future *f, void *map, size_t map_len, const void *data, size_t len,
                         bool held)
{
    uint32_t s = state_of(f);
    if (s == ST_DONE || s == ST_CANCELLED) {
        munmap(map, map_len);
        return -EINVAL;
    }
    f->err = 0;
    f->map = map;
    f->map_len = map_len;
    f->result = (mt_buf){(char *)data, len, len};
    if (!finish_state(f, held))
        return -EINVAL;
    settle(f, held);
    return 0;
}

int mt__future_finish(mt_future *f, int err, mt_buf *result)
{
    return finish(f, err, result, false);
}

int mt__future_finish_mapped(mt_future *f, void *map, size_t map_len, const void *data,
                             size_t len)
{
    return finish_mapped(f, map, map_len, data, len, false);
}

int mt__future_finish_held(mt_future *f, int err, mt_buf *result)
{
    return finish(f, err, result, true);
}

int mt__future_finish_mapped_held(mt_future *f, void *map, size_t map_len, const void *data,
                                  size_t len)
{
    return finish_mapped(f, map, map_len, data, len, true);
}

void mt__future_run_callbacks(mt_future *f)
{
    if (atomic_load_explicit(&f->state, memory_order_acquire) & ST_CB_HELD)
        run_callbacks(f);
}

int mt_future_cancel(mt_future *f)
{
    uint32_t old;
    if (transition(f, ST_PENDING, ST_CANCELLED, &old)) {
        settle(f, false);
        return 0;
    }
    return (old & ST_MASK) == ST_CANCELLED ? 0 : -EBUSY;
}

void mt__future_set_driver(mt_future *f, mt__future_driver *drive, void *ctx)
{
    f->drive = drive;
    f->drive_ctx = ctx;
}

int mt_future_wait(mt_future *f, double timeout)
{
    mt__deadline d;
    if (!f || mt__deadline_set(&d, timeout) < 0)
        return -EINVAL;
    if (f->drive && timeout != 0 && state_of(f) < ST_DONE)
        f->drive(f->drive_ctx, f, d);
    for (;;) {
        uint32_t s = atomic_load_explicit(&f->state, memory_order_acquire);
        if ((s & ST_MASK) >= ST_DONE)
            return 0;
        if (timeout == 0)
            return -ETIMEDOUT;
        if (!(s & ST_WAITERS) &&
            !atomic_compare_exchange_weak_explicit(&f->state, &s, s | ST_WAITERS,
                                                   memory_order_acq_rel, memory_order_acquire))
            continue;
        if (mt__futex_wait(&f->state, s | ST_WAITERS, d, false) == -ETIMEDOUT)
            return state_of(f) >= ST_DONE ? 0 : -ETIMEDOUT;
    }
}

int mt_future_result(mt_future *f, double timeout, mt_iov *result)
{
    int err = mt_future_wait(f, timeout);
    if (err < 0)
        return err;
    if (state_of(f) == ST_CANCELLED)
        return -ECANCELED;
    if (result)
        *result = f->err ? (mt_iov){"", 0} : (mt_iov){f->result.data, f->result.len};
    return f->err;
}

const char *mt_future_error_message(mt_future *f)
{
    if (state_of(f) != ST_DONE || !f->err || !f->result.data)
        return "";
    return f->result.data;
}

int mt_future_take(mt_future *f, mt_buf *out)
{
    int err = mt_future_wait(f, 0);
    if (err < 0)
        return err;
    if (state_of(f) == ST_CANCELLED)
        return -ECANCELED;
    if (f->err)
        return f->err;
    if (result_owned(f)) {
        mt_buf_move(out, &f->result);
        return 0;
    }
    /* A mapped or inline result cannot become malloc memory without a copy. */
    mt_buf_reset(out);
    err = mt_buf_append(out, f->result.data, f->result.len);
    if (err == 0) {
        if (f->map)
            munmap(f->map, f->map_len);
        f->map = NULL;
        f->result = (mt_buf)MT_BUF_INIT;
    }
    return err;
}

bool mt_future_done(const mt_future *f)
{
    return state_of(f) >= ST_DONE;
}

bool mt_future_running(const mt_future *f)
{
    return state_of(f) == ST_RUNNING;
}

bool mt_future_cancelled(const mt_future *f)
{
    return state_of(f) == ST_CANCELLED;
}

int mt_future_add_done_callback(mt_future *f, mt_future_cb *cb, void *arg)
{
    if (!cb)
        return -EINVAL;
    mt__spin_lock(&f->lock);
    uint32_t st = atomic_load_explicit(&f->state, memory_order_acquire);
    if ((st & ST_MASK) >= ST_DONE && !(st & ST_CB_HELD)) {
        mt__spin_unlock(&f->lock);
        cb(f, arg);
        return 0;
    }
    if (!f->first.fn && !f->nmore) {
        f->first = (callback){cb, arg};
    } else {
        callback *more = realloc(f->more, (f->nmore + 1) * sizeof *more);
        if (!more) {
            mt__spin_unlock(&f->lock);
            return -ENOMEM;
        }
        more[f->nmore++] = (callback){cb, arg};
        f->more = more;
    }
    mt__spin_unlock(&f->lock);
    return 0;
}

int mt__future_remove_done_callback(mt_future *f, mt_future_cb *cb, void *arg)
{
    int removed = -ENOENT;
    mt__spin_lock(&f->lock);
    if (f->first.fn == cb && f->first.arg == arg) {
        /* Keep the order: the first of the others moves up. */
        if (f->nmore) {
            f->first = f->more[0];
            memmove(f->more, f->more + 1, --f->nmore * sizeof *f->more);
        } else {
            f->first.fn = NULL;
        }
        removed = 0;
    } else {
        for (size_t i = 0; i < f->nmore; i++) {
            if (f->more[i].fn != cb || f->more[i].arg != arg)
                continue;
            memmove(f->more + i, f->more + i + 1, (f->nmore - i - 1) * sizeof *f->more);
            f->nmore--;
            removed = 0;
            break;
        }
    }
    mt__spin_unlock(&f->lock);
    return removed;
}
