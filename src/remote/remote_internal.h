/*
 * remote_internal.h - the remote layer: a dict, a list or a queue on a
 * Redis server, through hiredis's blocking API.
 *
 *   url.c      redis:// and redis+unix:// names taken apart
 *   conn.c     one connection: connect, AUTH, SELECT, a command with a
 *              deadline, reconnection with backoff, server errors mapped
 *   co.c       inside a coroutine: a handle's lock that suspends, not blocks
 *   script.c   the Lua scripts that do every operation on the server, and
 *              the argument lists that call them
 *   object.c   open, free, unlink, batches; the table libmultitask takes
 *   dict.c     the dict calls
 *   list.c     the list calls
 *   pool_scripts.c  a pool's keys, its Lua scripts and its answer records
 *   pool_client.c   a pool's client: sending calls, the thread that reads
 *                   the answers and finishes the futures (remote_pool_ops.h)
 *   pool_worker.c   a worker machine: mt_worker_main over a local pool
 *   queue.c    the queue calls: open, waiting for messages or room, the
 *              consumer names that a Redis consumer group delivers to
 *   queue_script.c  the queue's Lua scripts (its keys, the stream and the
 *              consumer group, are described there)
 *
 * On the server an object NAME is two keys: NAME itself, the data (a hash
 * for a dict, a list for a list; Redis removes it when it is empty), and
 * NAME:multitask, the marker, a string "multitask:dict:1" or
 * "multitask:list:1" that says the data key is ours (a queue,
 * "multitask:queue:1", has two keys more: see queue_script.c). Every operation is one
 * script that checks the marker and the data key's type before it touches
 * anything, so a key that is not ours is never written.
 *
 * Exactly once: a call that changes something and would not give the same
 * result twice (incr, cas, pop, delete, append, insert, a batch) carries an
 * operation id; its script stores its result under NAME:multitask:op:ID
 * (expiring) in the same atomic step, and a resent call with that id gets
 * the stored result instead of running again. So a reply lost with the
 * connection is resent after reconnecting and never applied twice. The
 * next call on the connection deletes the record of the last one answered.
 * A server crash keeps this only if the server restarts on whole scripts
 * (a script's effects are one MULTI ... EXEC in the AOF): Redis 7 with
 * aof-load-truncated yes keeps the start of a MULTI the crash cut, and runs
 * it with the next transaction at the next restart (see shared.h).
 */
#ifndef MT_REMOTE_INTERNAL_H
#define MT_REMOTE_INTERNAL_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../pool/remote_pool_ops.h"
#include "../shared/remote_ops.h"
#include "multitask/core.h"

/* ------------------------------------------------------------------ url */

/* The longest NAME, in bytes. */
#define MT__RNAME_MAX 200

/* A server's name taken apart. Strings are owned (NULL when absent). */
typedef struct mt__rurl {
    char *host;   /* TCP: a host name or an address (IPv6 without brackets) */
    int port;     /* TCP: 6379 unless given */
    char *socket; /* Unix: the socket's path */
    char *user;   /* AUTH's user, NULL for the default user */
    char *password;
    int db;     /* SELECT's number, 0 unless given */
    char *name; /* the object's NAME */
} mt__rurl;

/*
 * Parse `url` (see shared.h's "Objects on a server" for the grammar).
 * Returns 0, -EINVAL for anything else, -ENOMEM. *u is zeroed on failure.
 */
int mt__rurl_parse(mt__rurl *u, const char *url);
void mt__rurl_free(mt__rurl *u);

/* ----------------------------------------------------------- connection */

/* One connection to the server, used under its owner's lock. */
typedef struct mt__rconn {
    const mt__rurl *url;
    redisContext *ctx; /* NULL while not connected */
    double timeout;    /* seconds a call may take in all; < 0: no limit */
} mt__rconn;

/* The default of timeout: how long a call waits for the server in all. */
#define MT__RTIMEOUT_DEFAULT 10.0

/* The longest a call that must not run twice is resent, when its timeout
 * is unlimited; its record of having run lives a minute longer. */
#define MT__RRESEND_MAX 600.0

/*
 * Run one command (argv as hiredis takes it) and give its reply in *out
 * (freed by the caller with freeReplyObject). Connects first if needed;
 * when the connection breaks or cannot be made, drops it and tries again
 * with backoff until `window` seconds have passed (< 0: no limit). Returns
 * 0 (the reply may be an error reply: see mt__rerr), MT_ECONNECT (never
 * connected in time: the command was not sent), MT_ECONNLOST (sent, and no
 * answer in time), MT_EAUTH, -EACCES, MT_ENOHOST, MT_EREMOTE (AUTH or
 * SELECT refused otherwise), -ENOMEM.
 */
int mt__rconn_call(mt__rconn *c, double window, int argc, const char **argv, const size_t *lens,
                   redisReply **out);

/*
 * Run a script with EVALSHA (its text goes to the server once, with SCRIPT
 * LOAD, and again when the server answers NOSCRIPT: it lost its scripts).
 * argv[0] and argv[1] (and lens[0], lens[1] when lens is not NULL) are
 * filled in here; the rest are KEYS' count, the keys and the arguments.
 * Returns as mt__rconn_call.
 */
int mt__rconn_script(mt__rconn *c, double window, const char *script, int argc, const char **argv,
                     size_t *lens, redisReply **out);

/* Drop the connection (if any). */
void mt__rconn_drop(mt__rconn *c);

/* An error reply as a code: MT_EAUTH, -EACCES, -ENOSPC (out of memory),
 * MT_EREMOTE. */
int mt__rerr(const redisReply *reply);

/* ------------------------------------------------------ coroutines (co.c) */

/* Whether the caller is a coroutine. */
bool mt__rco(void);
/* Take and give back a handle's lock; in a coroutine, without blocking the
 * loop, and shielded from cancellation in between. */
void mt__rlock(pthread_mutex_t *lock);
void mt__runlock(pthread_mutex_t *lock);

/* --------------------------------------------------------------- object */

/* An argument list under construction: pointers into the caller's bytes,
 * or into `store` for what the list formats itself. */
typedef struct mt__rargs {
    const char **argv;
    size_t *lens;
    size_t *offs; /* for arguments in store: their offset, else SIZE_MAX */
    int argc, cap;
    char *store;
    size_t slen, scap;
    int nops;    /* operations in the list */
    bool failed; /* out of memory on the way: the list is unusable */
} mt__rargs;

void mt__rargs_add(mt__rargs *a, const void *p, size_t len);
/* Start an operation: its name (a static string). */
void mt__rargs_op(mt__rargs *a, const char *name);
void mt__rargs_copy(mt__rargs *a, const void *p, size_t len);
void mt__rargs_fmt(mt__rargs *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mt__rargs_free(mt__rargs *a);

/* Results of an operation, in what the script answers, element 0 being
 * the operation's code. */
enum {
    MT__R_OK = 0,
    MT__R_KEY = -1,      /* MT_EKEY */
    MT__R_INDEX = -2,    /* MT_EINDEX */
    MT__R_NOTINT = -3,   /* -EINVAL: a counter that is no integer */
    MT__R_OVERFLOW = -4, /* -EOVERFLOW */
    MT__R_GONE = -5,     /* -ENOENT: no such object (removed, or another kind) */
    MT__R_FOREIGN = -6,  /* -EPROTO: the name holds something not ours */
    MT__R_EMPTY = -7,    /* -EAGAIN: a queue with nothing to get, or to join */
    MT__R_FULL = -8,     /* -EAGAIN: a queue with no room */
    MT__R_CLOSED = -9,   /* MT_ECLOSED */
    MT__R_STALE = -10,   /* -ESTALE: a claim no longer held */
    MT__R_EXISTS = -11,  /* -EEXIST */
    MT__R_TOOBIG = -12,  /* -EMSGSIZE: a message longer than the get's room */
};

/* 64 random bits (getrandom, else the clock and the pid): the ids that
 * tell one client's or worker's operations from another's. */
uint64_t mt__rrandom64(void);

/* An operation's code as the library's error. */
int mt__rcode(long long code);

/* A queue handle's spare connections for blocking waits (queue.c), so
 * that a call waiting for a message does not hold the handle's own
 * connection from the handle's other threads. */
#define MT__RWAITERS 4

struct mt__remote {
    pthread_mutex_t lock; /* the connection and everything below (error-checking) */
    mt__rconn conn;
    mt__rurl url;
    const char *tag;          /* the marker's value: "multitask:dict:1", ... */
    const char *const *ops;   /* the operations script: write, read, shrink */
    int nextra;               /* keys after the four of every operation */
    char *extra_keys[2];      /* a queue's: NAME:multitask:queue, ...:wake */
    char *data_key, *mark_key, *op_prefix; /* NAME, NAME:multitask, ...:op: */
    size_t data_len, mark_len;
    /* A queue's settings, as its creator made them. */
    size_t maxsize, max_message;
    bool joinable;
    long long idle_ms;
    long long held; /* joinable gets of this process not yet task_done */
    pthread_mutex_t wait_lock;   /* the spare connections */
    mt__rconn waiters[MT__RWAITERS];
    bool waiter_busy[MT__RWAITERS];
    char forget[MT__RNAME_MAX + 64]; /* the record to delete next, or "" */
    uint64_t op_rand, op_count;      /* operation ids: random, counter */
    _Atomic(pthread_t) batch_owner;  /* the thread with an open batch, or 0 */
    mt__rargs batch;                 /* its queued operations */
    struct mt__remote *next, *prev;  /* every handle, for fork */
    bool held_at_fork;               /* this thread held lock when it forked */
};

/* How an operation is run. */
enum {
    MT__RUN_ONCE = 1,    /* must not run twice: carries an operation id */
    MT__RUN_ANSWER = 2,  /* answers at once: refused inside this thread's batch */
    MT__RUN_NOWRITE = 4, /* writes nothing: runs when the server is out of memory */
    MT__RUN_READ = MT__RUN_ANSWER | MT__RUN_NOWRITE,
    MT__RUN_SHRINK = 8, /* only removes: runs when the server is out of memory */
};

/* Whether this thread has a batch open on r. */
bool mt__rbatch_mine(mt__remote *r);

/*
 * Start an operation list for r: `ops` gets its operations (name, then
 * arguments, see script.c), then mt__robj_run runs it. If this thread has
 * a batch open on r, a write is queued there instead and 0 is returned
 * with *reply NULL (a MT__RUN_READ operation gets -EINPROGRESS). Otherwise
 * returns 0 and the reply (an array: the object's code, then one result per
 * operation, each an array of its code and its value), or the error.
 */
int mt__robj_run(mt__remote *r, mt__rargs *ops, int how, redisReply **reply);

/* Run ops (one operation, freed here) and give its value: a string into
 * out (replaced; unchanged on failure) or an integer into *num, each may be
 * NULL. Returns 0 or the operation's error. */
int mt__robj_one(mt__remote *r, mt__rargs *ops, int how, mt_buf *out, long long *num);

/* Its first operation's result array, code checked: 0 and *res, or error. */
int mt__robj_result(const redisReply *reply, const redisReply **res);

/* A handle for url, not connected yet (opts may be NULL), for a kind whose
 * marker is tag; -EINVAL, -ENOMEM. Freed with mt__robj_free. */
int mt__robj_new(mt__remote **out, const char *tag, const char *url, const mt_shared_opts *opts);
void mt__robj_free(mt__remote *r);
/* Add an opened handle to the handles a fork looks after. */
void mt__robj_register(mt__remote *r);
/* A process's consumer name for a queue handle: "<kind>:<hex id>", unique
 * per handle and process (a child after fork gets new ones). */
void mt__robj_consumer(mt__remote *r, char kind, char out[40]);

/* The dict's and the list's calls (dict.c, list.c), as remote_ops.h. */
int mt__rdict_set(mt__remote *r, const void *key, size_t klen, const void *v, size_t vlen);
int mt__rdict_get(mt__remote *r, const void *key, size_t klen, mt_buf *out);
int mt__rdict_delete(mt__remote *r, const void *key, size_t klen);
int mt__rdict_pop(mt__remote *r, const void *key, size_t klen, mt_buf *out);
int mt__rdict_contains(mt__remote *r, const void *key, size_t klen);
ssize_t mt__rdict_len(mt__remote *r);
int mt__rdict_clear(mt__remote *r);
int mt__rdict_items(mt__remote *r, mt_dict_item_fn *fn, void *ctx);
int mt__rdict_incr(mt__remote *r, const void *key, size_t klen, int64_t delta, int64_t *result);
int mt__rdict_cas(mt__remote *r, const void *key, size_t klen, const mt_iov *expected,
                  const mt_iov *value);
int mt__rdict_modify(mt__remote *r, const void *key, size_t klen, mt_dict_modify_fn *fn, void *ctx);
int mt__rdict_update(mt__remote *r, const mt_dict_pair *pairs, size_t n);
int mt__rlist_append(mt__remote *r, const mt_iov *items, size_t n);
int mt__rlist_insert(mt__remote *r, long index, const void *value, size_t len);
int mt__rlist_get(mt__remote *r, long index, mt_buf *out);
int mt__rlist_set(mt__remote *r, long index, const void *value, size_t len);
int mt__rlist_pop(mt__remote *r, long index, mt_buf *out);
ssize_t mt__rlist_len(mt__remote *r);
int mt__rlist_clear(mt__remote *r);
int mt__rlist_items(mt__remote *r, mt_list_item_fn *fn, void *ctx);
int mt__rqueue_open(mt__remote **out, const char *url, const mt_queue_opts *opts, int mode,
                    mt_queue_opts *actual);
int mt__rqueue_unlink(const char *url);
int mt__rqueue_put(mt__remote *r, const void *data, size_t len, double timeout);
int mt__rqueue_get(mt__remote *r, mt__rsink *sink, double timeout);
int mt__rqueue_settle(mt__remote *r, const mt_queue_receipt *receipt, bool ack);
int mt__rqueue_task_done(mt__remote *r);
int mt__rqueue_join(mt__remote *r, double timeout);
int mt__rqueue_close(mt__remote *r);
ssize_t mt__rqueue_qsize(mt__remote *r);
int mt__rqueue_closed(mt__remote *r);
void mt__rqueue_bye(mt__remote *r);

/* The scripts (script.c): the operations script as a write (refused
 * whole when the server is out of memory), as a read, and as a removal
 * (both allowed then). */
extern const char mt__rscript_ops[];
extern const char mt__rscript_ops_read[];
extern const char mt__rscript_ops_shrink[];
extern const char mt__rscript_open[];
extern const char mt__rscript_unlink[];
/* The queue's (queue_script.c). */
extern const char *const mt__rscript_queue[3];
extern const char mt__rscript_queue_open[];
extern const char mt__rscript_queue_unlink[];

/* ----------------------------------------------------------------- pool */

#define MT__RPOOL_TAG   "multitask:pool:1"
#define MT__RPOOL_GROUP "workers"
/* Answers nobody reads expire this long after the last one came: a client
 * gone, or futures abandoned. */
#define MT__RPOOL_ANSWER_TTL_MS 600000

/* The keys of a pool NAME (see pool_scripts.c). */
typedef struct mt__rpool_keys {
    char mark[MT__RNAME_MAX + 16];
    char tasks[MT__RNAME_MAX + 16];
} mt__rpool_keys;

int mt__rpool_keys_of(mt__rpool_keys *k, const char *name);

extern const char mt__rscript_pool_open[];
extern const char mt__rscript_pool_submit[];
extern const char mt__rscript_pool_done[];
extern const char mt__rscript_pool_reap[];

/* Run a pool script whose arguments are a (argv[0], argv[1] left for
 * EVALSHA) and whose reply is an integer, into *result (may be NULL).
 * 0, -EPROTO for the scripts' -6 (NAME is not a pool of ours), or
 * mt__rconn_script's errors. */
int mt__rpool_script(mt__rconn *c, double window, const char *script, mt__rargs *a,
                     long long *result);

/* Make or check the pool behind k: 0, -EPROTO, or the connection's error. */
int mt__rpool_open_keys(mt__rconn *c, const mt__rpool_keys *k);

/* Take back the calls of dead workers (see the reap script): how many
 * entries, or an error. */
int mt__rpool_reap(mt__rconn *c, double window, const char *name, const mt__rpool_keys *k);

/* An answer record: call id (u64), its return value (i32), its bytes' length
 * (u32), little-endian, then the bytes (the result, or the error message). */
int mt__rpool_put_answer(mt_buf *b, uint64_t id, int err, const void *p, size_t len);
/* The next record from *pos: 1 and its fields (*pos moves past it), 0 at
 * end, -EPROTO for a cut record. */
int mt__rpool_next_answer(const char **pos, const char *end, uint64_t *id, int *err, mt_iov *v);

/* The worker machine (pool_worker.c). */
int mt__rpool_worker_main(const char *url, const mt_worker_opts *opts);

#endif
