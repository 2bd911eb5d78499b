/*
 * multitask/pool.h - a supervised pool of worker processes
 * (multiprocessing.Pool and concurrent.futures.ProcessPoolExecutor).
 *
 * Usage:
 *   1. mt_pool_new(&pool, &(mt_pool_opts){.processes = 4}) starts the workers
 *      (by default one per usable CPU, see mt_cpu_count) and returns once
 *      every worker has run its initializer.
 *   2. Give it work, all with the function signature of fn.h:
 *        mt_pool_apply_async  one task, a future for its result
 *        mt_pool_apply        one task, wait for it
 *        mt_pool_map          many items, results in order, wait for all
 *        mt_pool_imap         many items, results streamed in order (Python's
 *                             imap) or, with .unordered = true, as they
 *                             finish (Python's imap_unordered)
 *        mt_pool_imap_fn      the same over items made one at a time by a
 *                             function of yours (a directory walk), taken
 *                             only as fast as results are taken back
 *        mt_pool_starmap      many items of several arguments each
 *   3. mt_pool_close() then mt_pool_join() to let the work finish and the
 *      workers exit, or mt_pool_terminate() to stop them now.
 *   4. mt_pool_free().
 *
 * Supervision: a worker that dies (a signal, exit(), a crash in a task) fails
 * only the task it was running, with MT_EWORKER and a message that names the
 * worker and the signal or status; work queued behind it runs elsewhere, and
 * the pool forks a replacement so it keeps serving at full size. In a map,
 * the chunk that was running goes round again without the item that killed
 * the worker, so that item alone fails; the chunk's items before it run a
 * second time (their first results died with the worker), and a chunk that
 * kills a second worker fails whole. A task that closes or replaces the
 * file descriptors joining its worker to the pool (closing every fd from 3
 * up, as daemons do) leaves that worker unable to report. Workers keep those
 * fds at the top of their fd table (below the limit on open files), out of
 * reach of a loop over 3..1023 when the limit is higher. A worker that finds
 * them closed all the same leaves, and a replacement starts: the task (a
 * map's whole chunk) fails with MT_EWORKER and a message saying so when it
 * ran 20 microseconds or more, as closing fds one by one does; a faster one
 * keeps its result. A worker's stdout/stderr are the parent's.
 *
 * Lifetimes: results (mt_results) and futures outlive the pool; an mt_imap
 * does not: free it before the pool. Do not free a pool while other threads
 * still call it or wait on its futures.
 *
 * Transport: tasks and their arguments travel through shared memory (memfd
 * mappings made before the workers start); small results through a ring per
 * worker, large ones (from 256 KiB) in a memory file mapped once by the
 * parent, so their bytes are copied once after the task wrote them.
 * Arguments over the slot's inline space (64 KiB) go in a memory file that
 * the worker opens through /proc/<parent pid>/fd: a parent that made itself
 * non-dumpable (prctl PR_SET_DUMPABLE 0, setuid/setgid programs) or a /proc
 * mounted with hidepid keeps workers from opening it, and such arguments
 * then fail with the error of that open (-EACCES); keep them small, or
 * pass a path instead.
 * A task that scribbles over the pool's shared memory is treated as a crash:
 * the parent checks every record a worker writes and stops a worker whose
 * records do not hold together.
 *
 * Start methods: MT_START_FORK (default) forks workers from the parent, so
 * they inherit its memory; as with mt_process (see process.h), it is unsafe
 * once the parent has other threads that may hold locks. MT_START_SPAWN
 * re-executes the program instead: main() must call mt_init() first, and
 * task functions are found again by their offset within their module, so
 * they must live in the executable or in a library loaded at startup.
 *
 * Threads: the pool runs one supervisor thread in the parent that collects
 * results, runs done callbacks and replaces dead workers. All functions are
 * thread-safe unless said otherwise. Workers die with the parent (SIGKILL on
 * parent death).
 *
 * Pools on a Redis server (mt_pool_opts.redis = "redis://host/NAME" or
 * "redis+unix:///path/to/socket/NAME", the grammar of shared.h): the calls
 * go to the server, and worker machines serve them, each a program built
 * from the same sources that calls mt_worker_main(url, opts), which runs
 * the calls in a local pool of its own processes. apply, apply_async, map,
 * map_iov, starmap, imap (ordered or not), the futures, mt_wait,
 * mt_as_completed and coroutine awaits work as on one machine. What
 * differs:
 *  - Functions travel by name: only functions registered with
 *    MT_FN_REGISTER (fn.h) can be sent; any other makes apply_async, apply,
 *    map, starmap and imap return -EINVAL with nothing sent. A worker that
 *    has no function of that name fails the call with -ENOSYS and a message
 *    naming it. Arguments and results are bytes, sent as they are: the
 *    machines must agree on the layout of what they hold (mt_pack's counts
 *    are in host byte order).
 *  - mt_pool_new connects (a wrong password or user is MT_EAUTH, a server
 *    away MT_ECONNECT after 10 s, NAME holding something not a pool of ours
 *    -EPROTO, -EINVAL for a bad URL, -EPROTONOSUPPORT when the remote
 *    library cannot be loaded) and starts one thread, which reads the
 *    answers, finishes the futures (and so runs their done callbacks) and
 *    every half second takes back the calls of dead workers. The password
 *    is sent to the server only; the library prints nothing and no error
 *    message holds it. The options for local workers (processes,
 *    initializer, maxtasksperchild, start_method, queue_depth) do not
 *    apply; mt_pool_processes and mt_pool_worker_pids give 0;
 *    mt_pool_imap_fn is -EOPNOTSUPP.
 *  - Calls wait on the server until a worker takes them, however long: a
 *    pool with no worker keeps them (use a timeout on the future). Sending
 *    them is one round trip per 512 stream entries; an entry holds one
 *    call of apply_async, or for map up to `chunksize` calls (by default
 *    n / 64 rounded up, at most 256; imap's default is 1). Each call is
 *    answered on its own. A send that gets no answer from the server
 *    within 10 s (through reconnections) fails with MT_ECONNECT (not sent)
 *    or MT_ECONNLOST (perhaps sent: its answer, if any, is dropped).
 *  - A worker machine is dead when its heartbeat stops: it beats every
 *    quarter of its mt_worker_opts.timeout (10 s by default) and counts as
 *    dead once a whole timeout passed without a beat: its process ended,
 *    its machine stopped, or it was cut off from the server (a network
 *    partition, a SIGSTOP) for that long. Its calls are then taken back
 *    (by the client or any worker, within about a second) and, with
 *    .retries = 0 (the default), fail with MT_EWORKER and a message naming
 *    the worker; with .retries = k they are sent again, at the end of the
 *    stream, up to k times each, then fail so. A call whose process dies
 *    (a crash in the call) fails at once with MT_EWORKER and a message
 *    naming the signal, or with retries runs again on the same machine up
 *    to k times.
 *  - Once only: a future is finished at most once, by the first answer;
 *    every later answer to the same call (from a worker that came back
 *    after its calls were failed or sent again, or from a call run twice)
 *    is dropped. With .retries = 0 a call runs at most once, save one
 *    exception: a send resent after the connection broke (the server may
 *    have taken it before it broke) may run it twice. With .retries = k it
 *    runs at least once, as with Celery's acks_late: on each machine it
 *    is given to (at most k + 1 machines, the same exception aside) it
 *    runs at most k + 1 times. A call acknowledged to the client
 *    is on the server, which keeps it through a restart when it writes its
 *    AOF with appendfsync always.
 *  - Cancelling: mt_future_cancel succeeds until the answer came; the call
 *    may still run on a worker, and its answer is dropped. mt_imap_free
 *    cancels so what was not answered; mt_pool_terminate and mt_pool_free
 *    cancel every call not answered (-ECANCELED). mt_pool_close then
 *    mt_pool_join wait until every call sent through this handle is
 *    answered. mt_pool_free also deletes the handle's answers from the
 *    server; answers nobody reads (a client gone) expire 10 minutes after
 *    the last one came.
 *  - A pool handle belongs to the process that made it: a child forked
 *    from it must not use it.
 * On the server, NAME is NAME:multitask (the marker "multitask:pool:1"),
 * NAME:tasks (a stream and its consumer group "workers"), NAME:hb:WORKER
 * (heartbeats) and NAME:res:CLIENT (answers), all of one server (no
 * Cluster).
 */
#ifndef MULTITASK_POOL_H
#define MULTITASK_POOL_H

#include <stdbool.h>
#include <sys/types.h>

#include "future.h"
#include "results.h"
#include "fn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_pool mt_pool;

typedef enum mt_start_method {
    MT_START_FORK = 0,  /* fork the parent (Python's "fork") */
    MT_START_SPAWN = 1, /* fork + exec the program again (Python's "spawn") */
} mt_start_method;

typedef struct mt_pool_opts {
    int processes; /* workers; 0 means mt_cpu_count() */
    /* Run once in each worker before its first task, with these bytes. If it
     * fails in a starting pool, mt_pool_new returns its error; if it fails in
     * a replacement worker, the pool is broken and work fails with
     * MT_EBROKEN. */
    mt_fn *initializer;
    const void *initarg;
    size_t initarg_len;
    /* A worker exits and is replaced after this many tasks (map items count
     * one each); 0 means never. */
    unsigned maxtasksperchild;
    mt_start_method start_method;
    /* Dispatch units (single tasks or chunks) queued in shared memory at
     * once; 0 means 256. */
    unsigned queue_depth;
    /* A pool on a Redis server (see "Pools on a Redis server" below): its
     * redis:// or redis+unix:// URL, whose last part is the pool's NAME.
     * NULL for a pool of this machine's processes. The options above do not
     * apply to it (they are the workers', see mt_worker_opts). */
    const char *redis;
    /* Redis only: times a call whose worker machine died (or was cut off
     * for longer than its heartbeat timeout) is given to a worker again
     * before it fails with MT_EWORKER; 0 (the default) fails it at once,
     * as a pool of this machine does. The same count applies to a call
     * whose worker process died (a crash in the call). */
    unsigned retries;
} mt_pool_opts;

/*
 * mt_pool_new - start a pool. opts may be NULL for defaults.
 * Returns 0; -EINVAL for bad options (negative processes, MT_START_SPAWN
 * without mt_init, more than 4096 processes); the initializer's error;
 * MT_EBROKEN when a worker died while starting; -ENOMEM, -EAGAIN, -EMFILE.
 * On error nothing is left behind: no child, no fd, no mapping.
 */
int mt_pool_new(mt_pool **out, const mt_pool_opts *opts);

/* mt_pool_processes - the number of workers the pool keeps. */
int mt_pool_processes(const mt_pool *p);

/*
 * mt_pool_apply_async - queue fn(arg, len) and return its future in *out
 * (the caller owns one reference). arg is copied. Returns 0; MT_ECLOSED after
 * close or terminate; MT_EBROKEN; -EINVAL; -ENOMEM.
 */
int mt_pool_apply_async(mt_pool *p, mt_fn *fn, const void *arg, size_t len,
                        mt_future **out);

/*
 * mt_pool_apply - run fn(arg, len) in a worker and wait. The result (or the
 * error message) is appended to *out when out is not NULL. Returns the task's
 * return value or one of mt_pool_apply_async's errors.
 */
int mt_pool_apply(mt_pool *p, mt_fn *fn, const void *arg, size_t len, mt_buf *out);

/* Options for the map family. A zeroed struct means defaults. */
typedef struct mt_map_opts {
    /* Items sent to a worker at once. 0 picks one: for map and starmap
     * about four chunks per worker, at most 64 KiB of arguments each; for
     * the imap family 1, as in Python, so that results come as soon as
     * each item is done. */
    size_t chunksize;
    /* imap family only: yield results as they finish (Python's
     * imap_unordered). */
    bool unordered;
    /* mt_pool_imap_fn only: items taken from the producer and not yet
     * handed back by mt_imap_next, at most (at least two chunks, at most
     * 2^24). 0 means four chunks per worker. */
    size_t max_inflight;
} mt_map_opts;

/*
 * mt_pool_map - run fn on each of n items and wait for all of them.
 * `items` is an array of n items of item_size bytes each (copied into the
 * pool as they are dispatched). On return *out holds every item's outcome
 * (the caller frees it with mt_results_free, see results.h), even when some
 * failed. Returns 0 when every item succeeded, else the error of the first
 * failed item in item order; MT_ECLOSED, MT_EBROKEN, -EINVAL (n > 0 with items
 * NULL, item_size 0), -ENOMEM, where *out is left NULL.
 */
int mt_pool_map(mt_pool *p, mt_fn *fn, const void *items, size_t n, size_t item_size,
                const mt_map_opts *opts, mt_results **out);

/* mt_pool_map_iov - mt_pool_map over n byte ranges of any sizes; an item
 * with data NULL and a length is -EINVAL (nothing is queued). */
int mt_pool_map_iov(mt_pool *p, mt_fn *fn, const mt_iov *items, size_t n,
                    const mt_map_opts *opts, mt_results **out);

/*
 * mt_pool_starmap - mt_pool_map where item i has `nargs` arguments:
 * args[i * nargs + k] is argument k. fn receives them packed with
 * mt_pack(); mt_unpack() splits them again. The arguments are copied; *out
 * and its ownership, and the errors, are as for mt_pool_map, with -EINVAL
 * also for an argument {NULL, len > 0} or n * nargs past SIZE_MAX.
 */
int mt_pool_starmap(mt_pool *p, mt_fn *fn, const mt_iov *args, size_t n, size_t nargs,
                    const mt_map_opts *opts, mt_results **out);

/* A streaming map (imap / imap_unordered). */
typedef struct mt_imap mt_imap;

/*
 * mt_pool_imap - start a map whose results are taken one at a time with
 * mt_imap_next. Items are read from `items` while they are dispatched, so
 * the array must stay valid and unchanged until mt_imap_free. Errors as
 * mt_pool_map; *out is the caller's to free.
 */
int mt_pool_imap(mt_pool *p, mt_fn *fn, const void *items, size_t n, size_t item_size,
                 const mt_map_opts *opts, mt_imap **out);

/* mt_pool_imap_iov - mt_pool_imap over byte ranges; the ranges and their
 * bytes must stay valid until mt_imap_free. */
int mt_pool_imap_iov(mt_pool *p, mt_fn *fn, const mt_iov *items, size_t n,
                     const mt_map_opts *opts, mt_imap **out);

/*
 * mt_next_item_fn - makes the items of mt_pool_imap_fn, one per call:
 * append the next item's bytes to `item` (empty on entry; the pool takes
 * them) and return 0; return MT_EOF when there are no more. Any other
 * negative value ends the items there: mt_imap_next hands it back once the
 * items made before it were handed back, then MT_EOF.
 */
typedef int mt_next_item_fn(void *ctx, mt_buf *item);

/*
 * mt_pool_imap_fn - imap over items made on demand: the first task starts
 * as soon as next_item has made the first chunk, not after it made them
 * all. next_item(ctx, ...) is called only from this call and from
 * mt_imap_next, in the calling thread, never from the pool's own thread,
 * and only while fewer than opts->max_inflight items are out (taken from
 * it and not yet handed back by mt_imap_next): a slow consumer slows the
 * producer down instead of piling up items or results. Results come in
 * item order, or with .unordered as they finish; item indexes count from 0
 * in the order next_item made them. A pool closed meanwhile still runs
 * every item (and mt_pool_join waits for them until mt_imap_free); a pool
 * terminated or broken fails the items not yet done and calls next_item no
 * more. Returns 0 with *out set (free it with mt_imap_free, before the
 * pool); -EINVAL (a NULL argument); MT_ECLOSED after close or terminate;
 * MT_EBROKEN; -ENOMEM.
 */
int mt_pool_imap_fn(mt_pool *p, mt_fn *fn, mt_next_item_fn *next_item, void *ctx,
                    const mt_map_opts *opts, mt_imap **out);

/*
 * mt_imap_next - wait for the next result: the next item in order, or with
 * .unordered the next to finish. Sets *index to its item index and *out to
 * its bytes (valid until the next call on `it`) and returns its return value:
 * 0, or for an item that failed its error code with *out holding its error
 * message (MT_EWORKER and a message naming the signal for an item whose
 * worker died); MT_EOF once every item was returned (for mt_pool_imap_fn,
 * the producer's own error first if it ended with one); -ETIMEDOUT; -EINVAL
 * for a NaN timeout. With mt_pool_imap_fn it first takes more items from the
 * producer while there is room (the timeout does not bound the producer).
 */
int mt_imap_next(mt_imap *it, double timeout, size_t *index, mt_iov *out);

/* mt_imap_free - stop a streaming map: items not yet dispatched are dropped,
 * running ones finish in the pool and are discarded; a producer is called
 * no more. NULL is ignored. */
void mt_imap_free(mt_imap *it);

/*
 * mt_pool_close - accept no more work (later submissions fail with MT_ECLOSED);
 * the workers exit when the work already given is done. Returns 0.
 */
int mt_pool_close(mt_pool *p);

/*
 * mt_pool_terminate - stop now: workers get SIGTERM (then SIGKILL after a
 * second), work not yet finished fails with -ECANCELED. Returns 0.
 */
int mt_pool_terminate(mt_pool *p);

/*
 * mt_pool_join - wait until every worker has exited, after close or
 * terminate. Returns 0, -ETIMEDOUT, or -EINVAL if the pool is still open or
 * the timeout is NaN.
 */
int mt_pool_join(mt_pool *p, double timeout);

/*
 * mt_pool_free - terminate if needed, join, and release the pool: no worker,
 * thread, fd or mapping is left. Futures still held elsewhere stay valid;
 * those not finished are cancelled (-ECANCELED). NULL is ignored.
 */
void mt_pool_free(mt_pool *p);

/*
 * mt_pool_worker_pids - copy up to n current worker pids into pids; returns
 * the number of workers. For supervision tools and tests.
 */
int mt_pool_worker_pids(mt_pool *p, pid_t *pids, int n);

/* ---- pools on a Redis server ----------------------------------------- */

/* What a worker machine does (mt_worker_main). A zeroed struct means
 * defaults. */
typedef struct mt_worker_opts {
    /* Processes of this machine's pool that run the calls; 0 means
     * mt_cpu_count(). */
    int processes;
    /* Seconds this worker may go without a heartbeat before the others
     * count it as dead and fail (or retry) the calls it holds; 0 means 10.
     * The worker beats every quarter of it. Not NaN, not negative. */
    double timeout;
    /* Calls taken from the server and not yet finished here: no more are
     * taken while this many are (entries are taken whole, so a map's entry
     * may go past it); 0 means 64 per process. */
    unsigned max_inflight;
    /* mt_worker_main returns once this becomes true (looked at every
     * tenth of a second); NULL: it serves until its process ends. It takes
     * no more calls then, and returns once those it took are answered. */
    const _Atomic(bool) *stop;
} mt_worker_opts;

/*
 * mt_worker_main - serve the pool `url` (a redis:// or redis+unix:// URL,
 * as mt_pool_opts.redis) on this machine: take calls from the server, run
 * each in a local pool of opts->processes worker processes (so a crash in
 * a call takes down only its process: the call fails with MT_EWORKER, or
 * runs again under the client's retries), and send the results back. A
 * call names its function; only functions registered with MT_FN_REGISTER
 * (fn.h) run: any other fails with -ENOSYS and a message naming it.
 * opts may be NULL for defaults. Returns 0 once *opts->stop is true
 * (calls in flight are answered first); -EINVAL (a bad URL or option);
 * -EPROTONOSUPPORT (the remote library cannot be loaded); MT_ECONNECT,
 * MT_EAUTH, -EACCES when the server cannot be reached or refuses us at
 * start; -EPROTO when NAME holds something not a pool of ours; the local
 * pool's errors (mt_pool_new). Once serving, a lost server is waited for
 * (with backoff), not returned. Ending the process (SIGTERM, SIGKILL) is
 * a worker machine dying (see "Pools on a Redis server" above): its
 * local pool's processes end with it. Fork-safe as mt_pool_new is: call
 * it before the process has other threads.
 */
int mt_worker_main(const char *url, const mt_worker_opts *opts);

/*
 * mt_init - call at the top of main() in programs that use MT_START_SPAWN.
 * Returns 0 at once in a normal start. In a process the pool started by
 * re-executing the program, it runs the worker and never returns.
 */
int mt_init(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
