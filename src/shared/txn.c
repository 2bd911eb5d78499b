/*
 * txn.c - running dict and list operations in LMDB transactions: reads in a
 * renewed spare read transaction (no malloc, no lock), writes in a write
 * transaction that commits at once or, in a batch, at the batch's commit.
 * A write that finds the map full frees the reader slots of dead processes
 * (which pin old pages) and tries once more.
 */
#define _GNU_SOURCE
#include <errno.h>

#include "shared_internal.h"

int mt__txn_err(mt__txn *t, int rc)
{
    if (rc == MDB_SUCCESS)
        return 0;
    int err = mt__lmdb_err(rc);
    if (rc != MDB_NOTFOUND && rc != MDB_KEYEXIST && t->write && !t->failed)
        t->failed = err;
    return err;
}

ssize_t mt__txn_count(mt__txn *t)
{
    MDB_stat st;
    int err = mt__txn_err(t, mdb_stat(t->txn, t->dbi, &st));
    return err < 0 ? err : (ssize_t)st.ms_entries;
}

static int op_count(mt__txn *t, void *arg)
{
    ssize_t n = mt__txn_count(t);
    if (n < 0)
        return (int)n;
    *(ssize_t *)arg = n;
    return 0;
}

ssize_t mt__shared_count(mt__shared *s)
{
    ssize_t n = 0;
    int err = mt__shared_read(s, op_count, &n);
    return err < 0 ? err : n;
}

/* Whether this thread has a batch open on s (begun since the last fork). */
static bool batch_mine(mt__shared *s)
{
    pthread_t owner = atomic_load_explicit(&s->batch_owner, memory_order_acquire);
    return owner && pthread_equal(owner, pthread_self()) &&
           atomic_load_explicit(&s->batch_gen, memory_order_relaxed) ==
               atomic_load_explicit(&mt__shared_gen, memory_order_relaxed);
}

static int read_begin(mt__shenv *e, MDB_txn **out)
{
    for (int i = 0; i < MT__SHARED_SPARES; i++) {
        MDB_txn *t = atomic_exchange_explicit(&e->spare[i], NULL, memory_order_acquire);
        if (!t)
            continue;
        if (mdb_txn_renew(t) == 0) {
            *out = t;
            return 0;
        }
        mdb_txn_abort(t);
        break;
    }
    int rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, out);
    int dead = 0;
    if (rc == MDB_READERS_FULL && mdb_reader_check(e->env, &dead) == 0 && dead > 0)
        rc = mdb_txn_begin(e->env, NULL, MDB_RDONLY, out);
    return mt__lmdb_err(rc);
}

static void read_end(mt__shenv *e, MDB_txn *t)
{
    mdb_txn_reset(t);
    for (int i = 0; i < MT__SHARED_SPARES; i++) {
        MDB_txn *none = NULL;
        if (atomic_compare_exchange_strong_explicit(&e->spare[i], &none, t,
                                                    memory_order_release, memory_order_relaxed))
            return;
    }
    mdb_txn_abort(t);
}

/* Reopen s after a fork, and run op in this thread's batch if it has one:
 * true when that settled it, with the result in *result. */
static bool settled(mt__shared *s, mt__shared_op *op, void *ctx, int *result)
{
    *result = mt__shared_reopen(s);
    if (*result < 0)
        return true;
    if (!batch_mine(s))
        return false;
    *result = s->batch.failed ? s->batch.failed : op(&s->batch, ctx);
    return true;
}

int mt__shared_read(mt__shared *s, mt__shared_op *op, void *ctx)
{
    int err;
    if (settled(s, op, ctx, &err))
        return err;
    mt__txn t = {.dbi = s->env->dbi};
    if ((err = read_begin(s->env, &t.txn)) < 0)
        return err;
    err = op(&t, ctx);
    read_end(s->env, t.txn);
    return err;
}

static int write_begin(mt__shenv *e, MDB_txn **out)
{
    pthread_t self = pthread_self();
    if (pthread_equal(atomic_load(&e->writer), self))
        return -EDEADLK; /* LMDB's writer lock is not recursive */
    int rc = mdb_txn_begin(e->env, NULL, 0, out);
    if (rc == MDB_SUCCESS)
        atomic_store(&e->writer, self);
    return mt__lmdb_err(rc);
}

/* Commit (or abort) t, giving up the writer mark first: once LMDB lets go
 * of its lock, another thread of ours may take it and set its own. */
static int write_end(mt__shenv *e, mt__txn *t, bool commit)
{
    atomic_store(&e->writer, (pthread_t)0);
    if (commit && !t->failed)
        return mt__lmdb_err(mdb_txn_commit(t->txn));
    mdb_txn_abort(t->txn);
    return commit ? t->failed : 0;
}

int mt__shared_write(mt__shared *s, mt__shared_op *op, void *ctx)
{
    int err;
    if (settled(s, op, ctx, &err))
        return err;
    for (int attempt = 0;; attempt++) {
        mt__txn t = {.dbi = s->env->dbi, .write = true};
        if ((err = write_begin(s->env, &t.txn)) < 0)
            return err;
        int r = op(&t, ctx);
        err = write_end(s->env, &t, r >= 0);
        if (r < 0)
            err = r;
        if (err == 0)
            return r;
        /* The map was full (in LMDB, not in a caller's function): retry
         * once if that freed the slots of dead readers. */
        int dead = 0;
        bool full = err == -ENOSPC && (r >= 0 || t.failed == -ENOSPC);
        if (!full || attempt > 0 || mdb_reader_check(s->env->env, &dead) != 0 || dead == 0)
            return err;
    }
}

int mt__shared_batch_begin(mt__shared *s)
{
    if (s->remote)
        return s->rops->batch_begin(s->remote);
    int err = mt__shared_reopen(s);
    if (err < 0)
        return err;
    unsigned gen = atomic_load(&mt__shared_gen);
    pthread_t self = pthread_self(), owner = (pthread_t)0;
    if (!atomic_compare_exchange_strong(&s->batch_owner, &owner, self)) {
        /* A batch begun before a fork is dead here: take its place. The
         * generation goes first, so a third thread sees it as live. */
        if (atomic_load(&s->batch_gen) == gen)
            return -EBUSY;
        atomic_store(&s->batch_gen, gen);
        if (!atomic_compare_exchange_strong(&s->batch_owner, &owner, self))
            return -EBUSY;
    }
    atomic_store(&s->batch_gen, gen);
    mdb_reader_check(s->env->env, NULL);
    s->batch = (mt__txn){.dbi = s->env->dbi, .write = true};
    if ((err = write_begin(s->env, &s->batch.txn)) < 0)
        atomic_store(&s->batch_owner, (pthread_t)0);
    return err;
}

int mt__shared_batch_end(mt__shared *s, bool commit)
{
    if (s->remote)
        return s->rops->batch_end(s->remote, commit);
    if (!batch_mine(s))
        return -EINVAL;
    mt__txn t = s->batch;
    s->batch = (mt__txn){0};
    int err = write_end(s->env, &t, commit);
    atomic_store_explicit(&s->batch_owner, (pthread_t)0, memory_order_release);
    return err;
}
