/*
 * pool_internal.h - the pool's parts and how they call each other:
 *
 *   pool_shm.c       shared memory layout
 *   pool_worker.c    the worker process: claim a slot, run it, post results
 *   pool_spawn.c     the spawn start method: re-exec, find functions again
 *   pool_pump.c      the parent's engine: dispatch, collect, fail, wait
 *   pool_supervise.c start, reap and replace workers; the supervisor thread
 *   pool.c           life cycle: new, close, terminate, join, free
 *   pool_apply.c     apply_async / apply
 *   pool_batch.c     a batch of items: its chunks and their results
 *   pool_map.c       map, starmap and their results; queuing a batch
 *   pool_imap.c      imap(_unordered), over an array or a producer
 *   pool_remote.c    the same calls on a pool whose workers are on other
 *                    machines (mt_pool_opts.redis), through the remote layer
 *   remote_pool_load.c  finding the remote layer's pool table
 */
#ifndef MT_POOL_INTERNAL_H
#define MT_POOL_INTERNAL_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "../core/core_internal.h"
#include "../future/future_internal.h"
#include "multitask/pool.h"
#include "pool_shm.h"
#include "remote_pool_ops.h"

/* ---- worker side ---------------------------------------------------- */

/* Translates the parent's function addresses in a spawned worker. */
typedef struct mt__fnmap mt__fnmap;

/* Which file an fd was when a worker started (see mt__worker_main). */
typedef struct mt__file_id {
    dev_t dev;
    ino_t ino;
} mt__file_id;

typedef struct mt__worker_ctx {
    mt__shm_header *h;
    uint32_t index; /* worker position: which result ring is ours */
    int efd;        /* eventfd that wakes the parent's supervisor */
    int sock;       /* socket to the parent, for passing memfds */
    mt__file_id efd_id, sock_id;
    uint64_t clock_ns; /* the worker's last look at the clock */
    pid_t parent;
    mt__fnmap *fnmap; /* NULL with fork: addresses are the same */
} mt__worker_ctx;

/* The status of a worker that left because a task closed or replaced one of
 * the fds that join it to the parent (mt__shm_ring.cut_off says which). */
#define WORKER_EXIT_CUT_OFF 4

/* Run a worker until the pool stops it; exits the process. */
_Noreturn void mt__worker_main(mt__worker_ctx *w);

/* The parent's module table, written into shared memory (spawn). */
int mt__fnmap_publish(mt__shm_header *h);
/* Translate a parent address; 0 when it lies in no module we both have. */
uint64_t mt__fnmap_translate(const mt__fnmap *m, uint64_t addr);

/* Start a worker at position `index` by fork + exec (spawn), handing it the
 * worker end of its socket. Returns the child's pid or -errno. */
pid_t mt__spawn_worker(mt_pool *p, uint32_t index, int sock, const char *name);

/* Read this program's argv from /proc/self/cmdline (NULL-terminated,
 * one allocation). */
char **mt__read_argv(void);

/* Whether mt_init() ran in this process. */
extern bool mt__init_called;

/* ---- parent side ---------------------------------------------------- */

typedef struct mt__batch mt__batch;

/* Memory freed all at once: a map's results (pool_arena.c). */
typedef struct mt__arena {
    struct mt__arena_block *head;
} mt__arena;
void *mt__arena_alloc(mt__arena *a, size_t n);
void mt__arena_free(mt__arena *a);

/* A unit of work the parent has not yet put in a slot. */
typedef struct mt__source {
    struct mt__source *next;
    mt_future *future; /* a single task (apply_async), or NULL */
    mt__batch *batch;      /* a map's remaining items, or NULL */
    mt_fn *fn;
    mt_buf arg; /* the single task's argument */
} mt__source;

/* What the parent remembers of a slot while a worker has it. */
typedef struct mt__slot_job {
    mt_future *future; /* single task */
    mt__batch *batch;      /* or a chunk of a batch */
    size_t chunk;      /* which chunk */
    uint64_t ring_pos; /* where its ring entry was written */
    int large_fd;      /* memfd holding the payload, or -1 */
    uint64_t inline_bytes; /* payload bytes in the slot's own space */
    uint32_t crashed;      /* chunk: item + 1 that killed a worker, or 0 */
    char *crash_msg;       /* and how that worker ended */
    bool busy;
} mt__slot_job;

typedef struct mt__worker_slot {
    pid_t pid;
    int pidfd;
    int sock;   /* parent's end of the worker's socketpair */
    bool alive; /* started and not yet reaped */
    bool ready; /* posted REC_READY */
    bool rejected; /* wrote a malformed record: stopped, its records ignored */
    char name[32];
} mt__worker_slot;

struct mt_pool {
    pthread_mutex_t mu;  /* guards everything below that is not atomic */
    pthread_cond_t cond; /* broadcast when workers start/exit or work ends */
    mt__shm_header *h;
    int shm_fd;
    int efd; /* workers -> supervisor */
    int ctl; /* other parent threads -> supervisor */
    mt_pool_opts opts;
    int nworkers;
    mt__worker_slot *workers;
    mt__slot_job *jobs; /* per slot */
    uint32_t *free_slots;
    uint32_t nfree;
    mt__source *pending, **pending_tail;
    uint64_t disp_tail;      /* parent's copy of h->disp_tail */
    uint64_t inflight_bytes; /* inline payload bytes in busy slots */
    int state;              /* POOL_RUN, POOL_CLOSED, POOL_TERMINATED */
    int broken;             /* an error that makes new work fail, or 0 */
    mt_buf broken_msg;      /* why, NUL-terminated */
    int start_error;        /* the supervisor could not start the workers */
    mt__deadline kill_at;   /* after terminate: when to SIGKILL */
    bool exiting;           /* the supervisor should return */
    bool starting;          /* mt_pool_new has not returned: do not replace */
    bool supervisor_running;
    pthread_t supervisor;
    struct pollfd *pollfds; /* the supervisor's: efd, ctl, pidfds */
    int *pollwho;           /* worker position of each pollfd */
    unsigned worker_serial; /* names: ForkPoolWorker-N */
    size_t batches_fed;     /* batches still fed (mt_pool_imap_fn): a closed
                             * pool keeps its workers for them */
    /* Futures finished under mu whose done callbacks must run once it is
     * released (a callback may call into the pool): see mt__pool_unlock.
     * held has room for every future the pool owns, so holding never
     * allocates; futures_owned counts them. */
    mt_future **held;
    _Atomic size_t nheld;
    size_t capheld, futures_owned;
    char **spawn_argv;      /* spawn: the program's argv, from /proc */
    /* A pool on a server (opts.redis): only mu, state and opts above are
     * used; the rest is the remote layer's. */
    const mt__remote_pool_ops *rops;
    mt__rpool *remote;
};

enum { POOL_RUN, POOL_CLOSED, POOL_TERMINATED };

/* Parent-side batch of items (map, imap, starmap), cut into chunks. */
struct mt__batch {
    mt_fn *fn;
    const char *items;     /* JOB_FIXED: n * item_size bytes */
    const mt_iov *iov;     /* JOB_IOV */
    size_t n, item_size, chunksize, nchunks;
    size_t next_item;      /* the next item to dispatch */
    size_t chunks_done;
    size_t inflight;       /* chunks in slots */
    int refs;              /* owner + 1 while queued as a source + chunks in flight */
    bool abandoned;        /* imap freed early: drop its results */
    bool use_arena;        /* map: results go to `arena`, freed together */
    mt__arena arena;
    bool queued;           /* on the pending list */
    /* Chunk c's result is chunks[c % ring] (see mt__batch_chunk): a batch
     * with all its items known has a place for every chunk (ring ==
     * nchunks); a fed one (mt_pool_imap_fn) reuses the places of chunks
     * that were handed back. */
    struct mt__chunk_result *chunks;
    size_t ring;
    /* imap_unordered: chunk indexes in completion order, also a ring */
    size_t *done_order;
    size_t ndone_order;
    /* A fed batch: items come one by one from a producer. n and nchunks
     * grow as they do; an item's bytes wait at fed[i % fed_ring] until they
     * are dispatched. Only whole chunks go out while it is `feeding`. */
    mt_iov *fed;
    size_t fed_ring;
    bool feeding;
};

typedef struct mt__chunk_result {
    bool done;
    const char *body; /* data then entries (see mt__rec_hdr) */
    uint64_t body_len;
    uint32_t nitems;
    uint32_t nfailed;  /* items that failed */
    bool uniform;      /* no entries: item j is at j * item_len */
    uint64_t item_len;
    int err;          /* job-level error: every item failed with it */
    bool in_arena;    /* body lives in its batch's arena */
    uint32_t crashed; /* item + 1 that killed a worker (its record has an
                       * MT_EWORKER placeholder there), or 0 */
    char *crash_msg;  /* that item's error message */
    void *map;        /* the mapping behind body, if any */
    size_t map_len;
    char *msg;        /* the job-level error message */
    bool consumed;    /* imap: handed back and freed; its place may be reused */
} mt__chunk_result;

/* Workers started and not yet reaped. mu held. */
int mt__pool_alive_workers(const mt_pool *p);

/* Do whatever is ready: collect results, handle dead workers, dispatch
 * pending work. Returns true if anything happened. Called with mu held. */
bool mt__pool_pump(mt_pool *p);

/* 0 when new work may be queued, else MT_ECLOSED or MT_EBROKEN. mu held. */
static inline int mt__pool_open_for_work(const mt_pool *p)
{
    if (p->state != POOL_RUN)
        return MT_ECLOSED;
    return p->broken ? MT_EBROKEN : 0;
}

/* Put a source on the pending list and dispatch what fits. mu held. */
void mt__pool_enqueue(mt_pool *p, mt__source *s);

/* Handle a worker whose pidfd became readable (or reap check). mu held. */
void mt__pool_reap(mt_pool *p, uint32_t i, bool block);

/* Read every published record of worker position i; true if there were
 * any. mu held. */
bool mt__pool_drain_ring(mt_pool *p, uint32_t i);

/* Whether any result ring has unread records (a lock-free peek). */
bool mt__pool_rings_pending(mt_pool *p);

/* Worker position i died (why says how): fail what it was running, or with
 * `retry` run a chunk again without the item that was running; put back
 * what it took off the ring without claiming it. mu held. */
void mt__pool_recover_slots(mt_pool *p, uint32_t i, const char *why, bool retry);

/* Fail every job in flight or pending with err (terminate, free). mu held. */
void mt__pool_fail_all(mt_pool *p, int err, const char *why);

/* Release mu, then run the callbacks of the futures finished under it. Use it
 * instead of a plain unlock wherever futures may have been finished. */
void mt__pool_unlock(mt_pool *p);

/* Make room to hold one more owned future (mu held): 0 or -ENOMEM. */
int mt__pool_own_future(mt_pool *p);

/* Wake the supervisor thread (from another parent thread). */
void mt__pool_poke(mt_pool *p);

/*
 * Drive the pool from a waiting thread until done(arg) is true or d passes,
 * spinning on the rings for a short while, then sleeping on the pool's
 * condition. Returns 0 or -ETIMEDOUT. Called without mu.
 */
int mt__pool_wait(mt_pool *p, bool (*done)(void *), void *arg, mt__deadline d);

/* The supervisor thread's body. */
void *mt__pool_supervise(void *pool);

/* An mt__chunk_result describing a record's body (not owning it). */
mt__chunk_result mt__chunk_view(const mt__rec_hdr *hdr, const char *body);

/* Whether a record of a worker's result ring holds together: found at ring
 * offset `off` with `avail` bytes published from there (pool_records.c). */
bool mt__record_ok(const mt__rec_hdr *h, uint64_t off, uint64_t avail);

/* Whether a chunk's result body (h->body bytes) holds `items` items whose
 * entries stay inside it. */
bool mt__chunk_record_ok(const mt__rec_hdr *h, const char *body, uint64_t items);

/* Item j of a finished chunk: its return value, and its bytes (or error
 * message) in *out. */
int mt__chunk_item(const mt__chunk_result *c, size_t j, mt_iov *out);

/* ---- a pool on a server (pool_remote.c) ----------------------------- */

typedef struct mt__rimap mt__rimap;

int mt__rpool_new(mt_pool **out, const mt_pool_opts *opts);
/* The calls below check nothing the public ones check before them. */
int mt__rpool_apply_async(mt_pool *p, mt_fn *fn, const void *arg, size_t len, mt_future **out);
int mt__rpool_map(mt_pool *p, mt_fn *fn, const void *items, const mt_iov *iov, size_t n,
                  size_t item_size, const mt_map_opts *opts, mt_results **out);
int mt__rpool_imap(mt_pool *p, mt_fn *fn, const void *items, const mt_iov *iov, size_t n,
                   size_t item_size, const mt_map_opts *opts, mt__rimap **out);
int mt__rimap_next(mt__rimap *it, double timeout, size_t *index, mt_iov *out);
void mt__rimap_free(mt__rimap *it);
int mt__rpool_close(mt_pool *p);
int mt__rpool_terminate(mt_pool *p);
int mt__rpool_join(mt_pool *p, double timeout);
void mt__rpool_free(mt_pool *p);

/* ---- batches (pool_batch.c) ------------------------------------------ */

/* Where chunk c's result lives. */
static inline mt__chunk_result *mt__batch_chunk(const mt__batch *b, size_t c)
{
    return &b->chunks[c % b->ring];
}

/* The chunk size for n items of about avg_bytes each: `asked`, or for 0
 * Python's map rule (about four chunks per worker, capped so that a chunk's
 * arguments fit a slot's inline space). */
size_t mt__batch_pick_chunksize(const mt_pool *p, size_t n, size_t avg_bytes, size_t asked);

/* A new batch of n items (items, iov, or neither for a fed batch, which then
 * gets rooms for `ring` chunks and fed_ring items), holding one reference. */
mt__batch *mt__batch_new(mt_fn *fn, const void *items, const mt_iov *iov, size_t n,
                     size_t item_size, size_t chunksize, size_t ring, size_t fed_ring,
                     bool unordered);

/* Make a batch of n items and queue it (pool_map.c; takes mu): `whole` when its
 * results are kept until all are done (map), so that they share an arena
 * and the chunk size follows the map rule; imap's default is one item. The
 * caller holds the one reference *out gets. 0, -EINVAL, -ENOMEM, or
 * mt__pool_open_for_work's error. */
int mt__batch_start(mt_pool *p, mt_fn *fn, const void *items, const mt_iov *iov, size_t n,
                    size_t item_size, const mt_map_opts *opts, bool whole, mt__batch **out);

/* Release one reference (mu held). */
void mt__batch_unref(mt__batch *b);

/* Items ready to dispatch now: all the rest, or while a batch is still fed
 * only whole chunks. */
size_t mt__batch_ready_items(const mt__batch *b);

/* A finished chunk arrived (mu held): takes the result record's memory. */
void mt__batch_chunk_done(mt__batch *b, size_t chunk, mt__chunk_result *res);

/* A fed batch gets no more items (mu held); its last chunk may go out. */
void mt__batch_stop_feeding(mt_pool *p, mt__batch *b);

/* Fail the items of batch b that were never dispatched, and stop feeding
 * it (mu held). */
void mt__batch_fail_rest(mt_pool *p, mt__batch *b, int err, const char *why);

/* Free what a chunk result holds; it stays done. */
void mt__chunk_free(mt__chunk_result *c);

#endif
