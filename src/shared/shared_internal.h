/*
 * shared_internal.h - what mt_dict and mt_list have in common: one LMDB
 * environment per object, opened once per process and reopened after fork
 * (env.c), in a directory marked as an object (dir.c), and transactions run
 * on it, single or batched (txn.c).
 */
#ifndef MT_SHARED_INTERNAL_H
#define MT_SHARED_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "multitask/core.h"
#include "multitask/shared.h"
#include "remote_ops.h"

/* The kind of object an environment holds, as its main database's flags. */
enum { MT__SHARED_DICT = 0, MT__SHARED_LIST = MDB_INTEGERKEY };

/* Spare read transactions kept per environment, ready to renew. */
#define MT__SHARED_SPARES 4

/*
 * One LMDB environment open in this process; every handle on the same
 * directory shares it (LMDB forbids opening one twice in a process).
 */
typedef struct mt__shenv {
    MDB_env *env;
    _Atomic unsigned gen; /* mt__shared_gen when opened: stale after a fork */
    MDB_dbi dbi;       /* the main database, which holds the data */
    unsigned flags;    /* flags given to mdb_env_open */
    unsigned kind;     /* MT__SHARED_DICT or MT__SHARED_LIST */
    dev_t dev;         /* the directory, to find it again */
    ino_t ino;
    dev_t data_dev;    /* its data.mdb, to check a reopen by path (after fork) */
    ino_t data_ino;
    bool removed;      /* its directory was removed: not to be found again */
    int refs;          /* handles on it; under the registry lock */
    char *dir;
    _Atomic(pthread_t) writer; /* thread inside a write transaction, or 0 */
    _Atomic(MDB_txn *) spare[MT__SHARED_SPARES];
    struct mt__shenv *next;
} mt__shenv;

/* A transaction as the operations see it. */
typedef struct mt__txn {
    MDB_txn *txn;
    MDB_dbi dbi;
    bool write;
    int failed; /* first LMDB error of a write: the transaction is spoiled */
} mt__txn;

/* What a dict or a list handle is: an LMDB environment, or (remote not
 * NULL) an object on a server, which rops serves and env is NULL. */
typedef struct mt__shared {
    mt__shenv *env;
    mt__remote *remote;
    const mt__remote_ops *rops;
    char *name;    /* what mt_*_open takes */
    pid_t creator; /* the process whose close removes the directory, or 0 */
    _Atomic(pthread_t) batch_owner; /* the thread with an open batch, or 0 */
    _Atomic unsigned batch_gen;     /* mt__shared_gen when it began */
    mt__txn batch;
} mt__shared;

/* Bumped in every child after fork: environments of an older one are stale. */
extern _Atomic unsigned mt__shared_gen;

/* Create a new object of `kind` (see mt_dict_new); a handle in *out. */
int mt__shared_create(mt__shared **out, unsigned kind, const mt_shared_opts *opts);

/* Open an existing object of `kind` by name (see mt_dict_open). */
int mt__shared_open(mt__shared **out, unsigned kind, const char *name,
                    const mt_shared_opts *opts);

/* Free a handle (NULL is ignored); the creator removes the directory. */
void mt__shared_close(mt__shared *s);

/* The same three for a server's name (remote.c; see remote_ops.h). */
int mt__shared_remote_open(mt__shared **out, bool list, const char *name,
                           const mt_shared_opts *opts);
void mt__shared_remote_close(mt__shared *s);
int mt__shared_remote_unlink(const char *name);

/* Whether d lives on a server (dict.c). */
bool mt__dict_remote(const mt_dict *d);

/* Make s->env usable in this process: reopen it after a fork. */
int mt__shared_reopen(mt__shared *s);

/* Free the reader slots of dead processes; how many, or -errno. */
int mt__shared_reader_check(mt__shared *s);

/* The file in every object's directory that says it is one of ours. */
#define MT__SHARED_MARKER "multitask-object"

struct stat;

/* Write the marker into dir (a directory this process just made). */
int mt__shdir_mark(const char *dir);

/* Whether the directory dfd is an object: 0, -ENOENT (nothing there: no
 * marker, no data), -EPROTO (not one of ours, or its data file is gone). */
int mt__shdir_check(int dfd);

/* Open dir (its last name not followed: -ELOOP for a link) and check that it
 * is an object; 0 and the directory's fd in *dfd_out, or -errno. */
int mt__shdir_open(const char *dir, int *dfd_out);

/*
 * Remove an object's files and its directory, never following a link and
 * working on the directory opened: 0 or -errno (-ESTALE when dir is no
 * longer `expect`, if given, or was swapped meanwhile). `check`: only if
 * mt__shdir_check says it is an object. *seen (if not NULL) gets the
 * directory's stat once it is known to be the one to remove.
 */
int mt__shdir_remove(const char *dir, const struct stat *expect, bool check, struct stat *seen);

/* An LMDB return code as 0 or a negative errno (the mapping in shared.h). */
int mt__lmdb_err(int rc);

/*
 * An operation run inside a transaction: returns >= 0 (committed, and
 * returned by the runner) or a negative error (nothing of it is kept).
 * Operations pass LMDB's codes through mt__txn_err.
 */
typedef int mt__shared_op(mt__txn *t, void *ctx);

/* Map an LMDB code; a failure other than NOTFOUND/KEYEXIST spoils t. */
int mt__txn_err(mt__txn *t, int rc);

/* Run op in a read transaction (in this thread's batch if it has one). */
int mt__shared_read(mt__shared *s, mt__shared_op *op, void *ctx);

/* Run op in a write transaction and commit it (or join this thread's batch). */
int mt__shared_write(mt__shared *s, mt__shared_op *op, void *ctx);

int mt__shared_batch_begin(mt__shared *s);
int mt__shared_batch_end(mt__shared *s, bool commit);

/* Number of entries in t's database. */
ssize_t mt__txn_count(mt__txn *t);

/* Number of entries, in a read transaction of its own (or the batch's). */
ssize_t mt__shared_count(mt__shared *s);

/* Whether a key is of a length LMDB takes. */
static inline bool mt__key_ok(const void *key, size_t klen)
{
    return key && klen > 0 && klen <= MT_SHARED_MAX_KEY;
}

/* Whether a byte range is well formed (data may be NULL only when empty). */
static inline bool mt__iov_ok(const void *data, size_t len)
{
    return data || len == 0;
}

#endif
