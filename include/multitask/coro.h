/*
 * multitask/coro.h - coroutines on an event loop (asyncio).
 *
 * A coroutine is a C function running on its own stack: it can suspend in
 * the middle of any call of this header or aqueue.h (a sleep, a queue get,
 * a socket read, awaiting a task or an mt_future) and resume there later,
 * so code written top to bottom behaves like Python's `async def` with an
 * `await` at each of those calls. One loop per thread runs one coroutine at
 * a time and waits in libuv when none is ready. Blocking work goes to a
 * thread or process pool and is awaited (mt_co_to_thread,
 * mt_co_await_future). How it works, and the details this header only
 * names: docs/coroutines.md.
 *
 * Usage:
 *   1. Write the coroutines: int fn(void *arg), returning 0 or a value >= 0
 *      on success, a negative error code on failure (-ECANCELED when it
 *      gave up because it was cancelled).
 *   2. mt_run(main_fn, arg, NULL) runs main_fn as the first task of a new
 *      loop and returns its result once it ends (asyncio.run); tasks it
 *      left pending are then cancelled, run to their end and reported.
 *   3. Inside, start more tasks with mt_task_create (asyncio.create_task)
 *      and await them with mt_task_await, mt_co_gather, mt_co_wait,
 *      mt_co_wait_for or a task group; suspend with mt_co_sleep / mt_co_yield
 *      and the calls of aqueue.h; cancel with mt_task_cancel.
 *
 * Python's names, in C:
 *   asyncio.run(main())              mt_run(main, arg, NULL)
 *   asyncio.create_task(coro())      mt_task_create(&t, fn, arg, NULL)
 *   await task                       mt_task_await(t)
 *   task.cancel()                    mt_task_cancel(t)
 *   await asyncio.sleep(s)           mt_co_sleep(s); sleep(0): mt_co_yield()
 *   asyncio.gather(...)              mt_co_gather(ts, n, results, NULL)
 *   asyncio.wait(..., return_when)   mt_co_wait(ts, n, timeout, when, ...)
 *   asyncio.wait_for(t, timeout)     mt_co_wait_for(t, timeout)
 *   async with asyncio.timeout(s)    mt_co_timeout_begin / mt_co_timeout_end
 *   asyncio.TaskGroup()              mt_task_group_*
 *   asyncio.shield(t)                mt_co_shield(t); around code:
 *                                    mt_co_shield_begin / mt_co_shield_end
 *   loop.call_later(s, cb)           mt_co_call_later(&h, s, cb, arg)
 *   loop.add_reader / add_writer     mt_co_wait_fd(fd, MT_READABLE, timeout)
 *   loop.sock_accept/recv/sendall    mt_co_sock_accept / _recv / _sendall
 *   loop.sock_connect                mt_co_sock_connect
 *   loop.add_signal_handler          mt_co_wait_signal(signum, timeout)
 *   loop.run_in_executor(ex, f, a)   mt_co_run_in_executor(ex, f, a, len, out)
 *   asyncio.to_thread(f, a)          mt_co_to_thread(f, a, len, out)
 *   await asyncio.wrap_future(fut)   mt_co_await_future(f, timeout, &res)
 *   asyncio.current_task()           mt_task_current()
 *   loop.set_exception_handler(h)    mt_loop_set_report(loop, fn, arg)
 *
 * Cancellation: mt_task_cancel(t) makes t's current or next suspending call
 * return -ECANCELED, and every later one (the request stays), so that t
 * runs its cleanup and returns -ECANCELED. Events already handed to t are
 * not lost; mt_co_shield_begin/_end hold the request back around cleanup
 * that must await; awaiting a task passes the awaiter's cancellation on.
 * Timeouts (seconds; MT_FOREVER waits forever) make the calls inside return
 * -ETIMEDOUT the same way.
 *
 * Stacks: a private stack each (64 KiB by default, committed as touched;
 * a sleeping coroutine costs about one page), or with MT_STACK_SHARED the
 * loop's shared stack, copied out on each switch (a few hundred bytes a
 * sleeper; never hand a pointer to such a coroutine's locals to anyone who
 * uses it while it waits). A guard region below every stack turns an
 * overflow into the message "multitask: coroutine 'NAME' overflowed its
 * stack of N bytes" and the end of the program (SIGSEGV; SIGABRT where a
 * canary stands in, see docs/coroutines.md). A frame larger than the 16 KiB
 * guard can jump over it into a neighbouring stack unnoticed: compile the
 * code that runs in coroutines with -fstack-clash-protection (the library
 * is), or keep every frame under 16 KiB, or give that coroutine a stack
 * big enough for its frames (mt_task_opts.stack_size).
 *
 * Reports: what this layer must tell the program and cannot return as an
 * error (a task's error nobody retrieved, tasks pending when the loop
 * closes, slow tasks in debug mode) goes to the loop's report hook
 * (mt_loop_set_report, mt_run_opts.report). The default hook writes to
 * stderr. Besides it, this layer prints only just before it ends the
 * program: the stack-overflow message above, and "multitask: out of memory
 * saving a shared stack" (a shared-stack coroutine's frames cannot be kept).
 *
 * Threads: a loop belongs to the thread that runs it; every call here is
 * made from one of its coroutines unless it says otherwise. Other threads
 * reach a loop only through futures (mt_co_await_future). A child of a
 * plain fork must not use its parent's loop.
 *
 * Global state: the SIGSEGV handler (installed once, by the first loop),
 * the count of guard pages made with mprotect, a thread-local pointer to
 * the thread's running loop, and libuv's own: from the first loop on, libuv
 * keeps one pipe open for the process (its signal handling).
 */
#ifndef MULTITASK_CORO_H
#define MULTITASK_CORO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "executor.h"
#include "future.h"
#include "fn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_loop mt_loop;
typedef struct mt_task mt_task;

/* A coroutine: returns >= 0 on success (the value is its result), or a
 * negative error code. */
typedef int mt_co_fn(void *arg);

typedef enum mt_stack_mode {
    MT_STACK_PRIVATE = 0, /* its own stack (the default) */
    MT_STACK_SHARED = 1,  /* the loop's shared stack, copied out on switch */
} mt_stack_mode;

/* Options for mt_task_create. A zeroed struct means defaults. */
typedef struct mt_task_opts {
    /* Shown in reports and traces; not copied, so it must outlive the task
     * (a string literal). NULL: "Task-<n>". */
    const char *name;
    /* Private stack size in bytes, rounded up to pages; 0 means 64 KiB
     * (256 KiB under AddressSanitizer). At least 16 KiB, at most 1 GiB. */
    size_t stack_size;
    mt_stack_mode stack;
} mt_task_opts;

/* A report hook (asyncio's exception handler): receives each report of a
 * loop, one line of text without the final newline, in the loop's thread.
 * It must not suspend. See mt_loop_set_report. */
typedef void mt_co_report_fn(const char *line, void *arg);

/* Options for mt_run and mt_loop_new. A zeroed struct means defaults. */
typedef struct mt_run_opts {
    /* Debug mode: report a task that runs longer than
     * slow_callback_duration without suspending, and a timer callback
     * that takes that long. Also MT_CO_DEBUG=1 in the environment. */
    bool debug;
    /* Debug mode's threshold in seconds; 0 means 0.1. */
    double slow_callback_duration;
    /* Size of the shared stack (MT_STACK_SHARED); 0 means 256 KiB. */
    size_t shared_stack_size;
    /* The loop's report hook (mt_loop_set_report); NULL: the default,
     * which writes each line to stderr. */
    mt_co_report_fn *report;
    void *report_arg;
} mt_run_opts;

/* ---- the loop --------------------------------------------------------- */

/*
 * mt_run - make a loop in this thread, run fn(arg) as its first task until
 * it ends, then cancel what it left pending and close the loop (see
 * mt_loop_free). Returns fn's result; -EINVAL (fn NULL, bad options);
 * -EBUSY when this thread is already running a loop; -ENOMEM; -EDEADLK when
 * every task waits for something that cannot happen any more (the tasks are
 * cancelled and reported). Not to be called from a coroutine.
 */
int mt_run(mt_co_fn *fn, void *arg, const mt_run_opts *opts);

/*
 * mt_loop_new - make a loop for this thread without running it (Python's
 * new_event_loop), for mt_loop_create_task and mt_loop_run_until_complete.
 * Returns 0, -EINVAL (out NULL, bad options), -ENOMEM, or a libuv error
 * turned into -errno.
 */
int mt_loop_new(mt_loop **out, const mt_run_opts *opts);

/*
 * mt_loop_create_task - mt_task_create from outside the loop: the task
 * starts when the loop runs. The arguments of mt_task_create, the loop first
 * and *out (which may be NULL) last; the same errors.
 */
int mt_loop_create_task(mt_loop *loop, mt_co_fn *fn, void *arg,
                        const mt_task_opts *opts, mt_task **out);

/*
 * mt_loop_run_until_complete - run the loop until task t ends; returns its
 * result (as mt_task_result; it counts as retrieved). -EINVAL (NULL, or t
 * of another loop), -EBUSY when called from a coroutine or while another
 * loop runs in this thread, -EDEADLK as mt_run.
 */
int mt_loop_run_until_complete(mt_loop *loop, mt_task *t);

/*
 * mt_loop_free - cancel every task still pending, run the loop until they
 * have ended, report them and any error nobody retrieved, then free the
 * loop and everything in it: every task handle of the loop is invalid
 * afterwards (release them before, or never). Returns 0, or the number of
 * tasks that were still pending (each reported); -EBUSY (nothing done)
 * when called while the loop runs (from one of its coroutines or
 * callbacks). NULL is ignored (0).
 */
int mt_loop_free(mt_loop *loop);

/*
 * mt_loop_set_report - make fn(line, arg) the loop's report hook
 * (loop.set_exception_handler): the one place where the coroutine layer
 * tells the program what it cannot return as an error - a task's error
 * nobody retrieved, tasks still pending when the loop closed (or that
 * would not end), slow tasks and timer callbacks in debug mode. fn NULL
 * restores the default hook, the only one that prints: it writes each line
 * to stderr. mt_run_opts.report sets the same hook when the loop is made;
 * from inside mt_run, call this with mt_loop_current(). Call it from the
 * loop's thread. Returns 0, or -EINVAL for a NULL loop.
 */
int mt_loop_set_report(mt_loop *loop, mt_co_report_fn *fn, void *arg);

/* mt_loop_current - the loop running in this thread, or NULL. */
mt_loop *mt_loop_current(void);

/* mt_loop_time - the loop's clock (seconds, monotonic): loop.time(). Works
 * from any thread. */
double mt_loop_time(void);

/* ---- tasks ------------------------------------------------------------ */

/*
 * mt_task_create - start fn(arg) as a new task of the running loop
 * (asyncio.create_task). It is queued to run once the caller suspends;
 * tasks start in the order they were created. With out not NULL, *out is a
 * handle to the task, owned by the caller (mt_task_free); with out NULL
 * the task runs detached. opts may be NULL.
 * Returns 0; -EINVAL (fn NULL, bad options); MT_ENOTCORO when no loop runs in
 * this thread; -ENOMEM. On error nothing is started.
 */
int mt_task_create(mt_task **out, mt_co_fn *fn, void *arg, const mt_task_opts *opts);

/*
 * mt_task_await - wait for t to end and return its result (await task): its
 * return value, or -ECANCELED if it was cancelled. If the awaiting task is
 * cancelled or times out meanwhile, t is cancelled, awaited to its end, and
 * the awaiter's -ECANCELED / -ETIMEDOUT returned. -EINVAL for NULL or
 * awaiting oneself; MT_ENOTCORO outside a coroutine.
 */
int mt_task_await(mt_task *t);

/*
 * mt_task_cancel - ask t to stop (see the overview). Returns 0 (asked now,
 * or before), -EBUSY when t has already ended, -EINVAL for NULL. May be
 * called from the loop's thread outside any coroutine too.
 */
int mt_task_cancel(mt_task *t);

/* mt_task_done - whether t has ended (returned, failed or was cancelled). */
bool mt_task_done(const mt_task *t);

/* mt_task_cancelled - whether t ended with -ECANCELED. */
bool mt_task_cancelled(const mt_task *t);

/*
 * mt_task_result - t's result if it ended: its return value, or
 * -ECANCELED; -EAGAIN while t is still pending (Python's InvalidStateError);
 * -EINVAL for NULL. Marks an error as retrieved.
 */
int mt_task_result(mt_task *t);

/* mt_task_name - the task's name ("Task-<n>" unless given). */
const char *mt_task_name(const mt_task *t);

/* mt_task_current - the running task, or NULL outside a coroutine. The
 * handle is borrowed. */
mt_task *mt_task_current(void);

/*
 * mt_task_free - give up a handle. The task goes on if it has not
 * ended; its memory is reused once it has ended and no handle is left. An
 * error nobody retrieved is reported now. NULL is ignored.
 */
void mt_task_free(mt_task *t);

/* ---- suspending ------------------------------------------------------- */

/*
 * mt_co_sleep - suspend for `seconds` (asyncio.sleep). Timers that fall due
 * together fire in the order they were started. Returns 0; -ECANCELED,
 * -ETIMEDOUT (an enclosing timeout); -EINVAL for a negative or non-finite
 * duration; MT_ENOTCORO outside a coroutine.
 */
int mt_co_sleep(double seconds);

/* mt_co_yield - let every other ready task run once, then go on
 * (asyncio.sleep(0)). Returns 0, -ECANCELED, -ETIMEDOUT or MT_ENOTCORO. */
int mt_co_yield(void);

/* A timer of mt_co_call_later; owned by the loop. */
typedef struct mt_co_timer mt_co_timer;
typedef void mt_co_timer_fn(void *arg);

/*
 * mt_co_call_later - call cb(arg) in the loop after `seconds`, outside any
 * coroutine (loop.call_later). cb must not suspend; it may create tasks.
 * With out not NULL, *out identifies the timer for mt_co_timer_cancel until
 * it fires or is cancelled (out may be NULL: nobody will cancel it).
 * Returns 0, -EINVAL, MT_ENOTCORO, -ENOMEM.
 */
int mt_co_call_later(mt_co_timer **out, double seconds, mt_co_timer_fn *cb, void *arg);

/* mt_co_timer_cancel - stop a timer of mt_co_call_later that has not fired;
 * returns 0, or -EINVAL for NULL. */
int mt_co_timer_cancel(mt_co_timer *t);

/* ---- timeouts and shields --------------------------------------------- */

/* A timeout scope; lives on the coroutine's stack. */
typedef struct mt_co_timeout {
    void *priv[12];
} mt_co_timeout;

/*
 * mt_co_timeout_begin - from now on, for `seconds` (MT_FOREVER: no limit),
 * until mt_co_timeout_end: once the time is up, the suspending call in
 * progress and every later one return -ETIMEDOUT (async with
 * asyncio.timeout). Scopes nest. Returns 0, -EINVAL (NaN), MT_ENOTCORO,
 * -ENOMEM (a task's first scope makes a small record, kept until the task
 * is freed; a timer may need room too).
 */
int mt_co_timeout_begin(mt_co_timeout *scope, double seconds);

/* mt_co_timeout_end - close the innermost scope, which must be `scope`.
 * Returns -ETIMEDOUT if its time ran out, else 0. */
int mt_co_timeout_end(mt_co_timeout *scope);

/* mt_co_shield_begin / mt_co_shield_end - between the two (they nest),
 * cancellation and timeouts are held back: suspending calls work normally;
 * a request that came meanwhile is delivered after mt_co_shield_end. */
void mt_co_shield_begin(void);
void mt_co_shield_end(void);

/* mt_co_cancelling - whether the running task has been asked to stop. */
bool mt_co_cancelling(void);

/* ---- awaiting many ---------------------------------------------------- */

typedef struct mt_gather_opts {
    /* Wait for all and report each failure in results, instead of
     * cancelling the others at the first failure (return_exceptions). */
    bool return_exceptions;
} mt_gather_opts;

/*
 * mt_co_gather - await the n tasks ts and store each one's result in
 * results[i] (may be NULL), in the order given (asyncio.gather). At the
 * first failure (a negative result) the others are cancelled and awaited,
 * and that error is returned; with .return_exceptions every task runs to
 * its end and 0 is returned. If the caller is cancelled, so are the tasks.
 * The handles stay the caller's. Returns 0, the first error, -ECANCELED,
 * -ETIMEDOUT, -EINVAL (ts NULL with n > 0, a NULL entry), MT_ENOTCORO.
 */
int mt_co_gather(mt_task *const *ts, size_t n, int *results, const mt_gather_opts *opts);

/*
 * mt_co_wait - wait until `when` holds for the n tasks (MT_FIRST_COMPLETED,
 * MT_FIRST_EXCEPTION, MT_ALL_COMPLETED of future.h) or `timeout` seconds
 * pass (asyncio.wait). Nothing is cancelled. done / not_done (each may be
 * NULL; room for n) receive the tasks in the order of ts, with their counts.
 * Returns 0, -ETIMEDOUT (the outputs are filled all the same), -ECANCELED,
 * -EINVAL, MT_ENOTCORO.
 */
int mt_co_wait(mt_task *const *ts, size_t n, double timeout, mt_return_when when,
               mt_task **done, size_t *ndone, mt_task **not_done, size_t *nnot_done);

/*
 * mt_co_wait_for - await t for at most `timeout` seconds
 * (asyncio.wait_for): returns its result, or -ETIMEDOUT after cancelling t
 * and waiting for it to end. -ECANCELED when the caller is cancelled (t is
 * too), -EINVAL, MT_ENOTCORO, -ENOMEM (as mt_co_timeout_begin).
 */
int mt_co_wait_for(mt_task *t, double timeout);

/*
 * mt_co_shield - await t without passing cancellation on (await
 * asyncio.shield(t)): when the caller is cancelled or times out it gets
 * -ECANCELED / -ETIMEDOUT at once and t goes on. Otherwise t's result.
 */
int mt_co_shield(mt_task *t);


/* ---- task groups (asyncio.TaskGroup) ---------------------------------- */

/* A task group; lives on the stack of the task that made it. */
typedef struct mt_task_group {
    void *priv[6];
} mt_task_group;

/*
 * mt_task_group_init - start a group owned by the running task (entering
 * `async with asyncio.TaskGroup() as tg`). The owner must call
 * mt_task_group_wait before it returns. Returns 0, -EINVAL, MT_ENOTCORO.
 */
int mt_task_group_init(mt_task_group *g);

/*
 * mt_task_group_create_task - start fn(arg) as a child of g (tg.create_task).
 * fn, arg, opts and out (last, may be NULL) as mt_task_create. When a child
 * fails (any error but -ECANCELED), its siblings are cancelled and so is the
 * owner, at its next suspension point before mt_task_group_wait. The group reads the
 * children's results: their errors are not reported as unread. Returns 0,
 * MT_ECLOSED once the group is failing or finished, mt_task_create's errors.
 */
int mt_task_group_create_task(mt_task_group *g, mt_co_fn *fn, void *arg,
                              const mt_task_opts *opts, mt_task **out);

/*
 * mt_task_group_wait - wait for every child to end (leaving the `async
 * with` block). Returns 0; the first child's error when one failed (the
 * owner's cancellation by the group is then withdrawn); -ECANCELED when the
 * owner was cancelled from outside (the children are cancelled and
 * awaited first); -EINVAL when g is not the running task's. The group is
 * finished afterwards.
 */
int mt_task_group_wait(mt_task_group *g);


/* ---- file descriptors, signals, sockets ------------------------------- */

#define MT_READABLE 1 /* the fd can be read (or is at its end, or failed) */
#define MT_WRITABLE 2 /* the fd can be written */

/*
 * mt_co_wait_fd - suspend until fd is readable or writable (events is one
 * of MT_READABLE, MT_WRITABLE) or `timeout` seconds pass (loop.add_reader /
 * add_writer as one await). Returns the event (> 0); -ETIMEDOUT,
 * -ECANCELED; -EBUSY when another coroutine waits for the same event on
 * this fd; -EBADF when mt_co_close closes fd during the wait; -EINVAL
 * (bad fd or events); MT_ENOTCORO; a libuv error as -errno (-EBADF, -EPERM for
 * a regular file). One reader and one writer may wait
 * at once. The loop keeps a watcher for each fd waited on (it sets the fd
 * non-blocking): close such fds with mt_co_close, or call mt_co_forget_fd
 * before closing them, or a later fd of the same number is confused with it.
 */
int mt_co_wait_fd(int fd, int events, double timeout);

/* mt_co_forget_fd - drop the loop's watcher of fd (nobody may be waiting on
 * it: -EBUSY). Returns 0, -EINVAL, MT_ENOTCORO (no loop in this thread). */
int mt_co_forget_fd(int fd);

/* mt_co_close - close fd and drop the loop's watcher of it. Coroutines
 * waiting on fd (mt_co_wait_fd, a socket call) wake with -EBADF. Returns 0
 * or close's -errno. Works outside a loop too (it then only closes). */
int mt_co_close(int fd);

/*
 * mt_co_wait_signal - suspend until signal signum arrives (libuv's signal
 * handling, loop.add_signal_handler as one await) or `timeout` passes.
 * Returns signum, -ETIMEDOUT, -ECANCELED, -EINVAL, MT_ENOTCORO, -ENOMEM.
 */
int mt_co_wait_signal(int signum, double timeout);

/*
 * mt_co_tcp_listen - a non-blocking TCP socket listening on host:port
 * (host numeric IPv4 or IPv6, a name such as "localhost", which binds its
 * first IPv4 address, else its first, or NULL for every address; port 0
 * picks a free one, see mt_co_sock_port), with SO_REUSEADDR; backlog 0
 * means 128. A name is looked up as mt_co_getaddrinfo does (a coroutine
 * waits, without blocking the loop); otherwise it does not suspend, and it
 * is usable outside a loop. Returns 0 with *fd_out set, -EINVAL, the
 * lookup's errors (MT_ENOHOST, -EAGAIN, -ECANCELED, -ETIMEDOUT), or the
 * socket call's -errno.
 */
int mt_co_tcp_listen(int *fd_out, const char *host, int port, int backlog);

/* mt_co_sock_port - the local port of a socket, or -errno. */
int mt_co_sock_port(int fd);

/*
 * mt_co_sock_accept - accept a connection on listening socket lfd
 * (loop.sock_accept): *fd_out is a non-blocking socket with TCP_NODELAY.
 * Returns 0, -ECANCELED, -ETIMEDOUT (an enclosing timeout scope), accept's
 * -errno, -EINVAL, MT_ENOTCORO.
 */
int mt_co_sock_accept(int lfd, int *fd_out);

/*
 * mt_co_sock_connect - connect to host:port (host as mt_co_tcp_listen;
 * NULL means 127.0.0.1; a name's addresses are tried in turn): *fd_out is
 * a new non-blocking socket with TCP_NODELAY. Returns 0, -ECONNREFUSED and
 * connect's other -errno (the last address's), MT_ENOHOST for a name
 * nobody knows, -EAGAIN when the lookup failed for now, -ECANCELED,
 * -ETIMEDOUT, -EINVAL, MT_ENOTCORO.
 */
int mt_co_sock_connect(int *fd_out, const char *host, int port);

/*
 * mt_co_sock_recv - receive up to len bytes (loop.sock_recv). Returns the
 * count, 0 at the end of the stream, or -errno, -ECANCELED, -ETIMEDOUT (an
 * enclosing timeout scope), MT_ENOTCORO.
 */
ssize_t mt_co_sock_recv(int fd, void *buf, size_t len);

/*
 * mt_co_sock_sendall - send all len bytes (loop.sock_sendall), suspending
 * while the socket buffer is full. Returns 0, -EPIPE / -ECONNRESET and
 * send's other -errno, -ECANCELED or -ETIMEDOUT (a timeout scope; some
 * bytes may have gone), MT_ENOTCORO.
 */
int mt_co_sock_sendall(int fd, const void *buf, size_t len);

/* ---- futures and executors -------------------------------------------- */

/*
 * mt_co_await_future - suspend until the future f (from a thread pool, a
 * process pool, anything) is done, without blocking the loop (await
 * asyncio.wrap_future(f)). Returns what mt_future_result returns: the
 * task's result or error (MT_EWORKER when a pool worker died running it),
 * -ECANCELED when f was cancelled; with *result set as there. When the
 * coroutine is cancelled or `timeout` passes first, f is cancelled if it
 * has not started, and -ECANCELED / -ETIMEDOUT is returned. The caller
 * keeps its reference to f. -EINVAL, MT_ENOTCORO, -ENOMEM.
 */
int mt_co_await_future(mt_future *f, double timeout, mt_iov *result);

/*
 * mt_co_run_in_executor - run fn(arg, len) on thread pool ex (NULL: the
 * loop's default one, made on first use with Python's default size and
 * freed when the loop closes) and await it (loop.run_in_executor). The
 * result bytes (or the error message) are moved into *out when out is not
 * NULL. Returns the task's result, or mt_executor_submit's and
 * mt_co_await_future's errors.
 */
int mt_co_run_in_executor(mt_executor *ex, mt_fn *fn, const void *arg, size_t len,
                          mt_buf *out);

/* mt_co_to_thread - mt_co_run_in_executor on the default thread pool
 * (asyncio.to_thread). */
int mt_co_to_thread(mt_fn *fn, const void *arg, size_t len, mt_buf *out);

/* ---- a task's byte result ---------------------------------------------- */

/* The calls of this section are for the thread of the task's loop. */

/*
 * A coroutine returns an int; a result larger than that goes into its
 * byte result, an mt_buf the task owns (as a future's result bytes are):
 *
 *   static int fetch(void *arg)              // the task
 *   {
 *       mt_buf *out;
 *       int err = mt_task_result_buf(&out);
 *       if (err)
 *           return err;
 *       return mt_buf_append(out, page, page_len);
 *   }
 *   ...
 *   int r = mt_task_await(t);                // the awaiter
 *   mt_buf page = MT_BUF_INIT;
 *   if (r >= 0)
 *       mt_task_take(t, &page);              // or mt_task_result_bytes
 */

/*
 * mt_task_result_buf - *out is the running task's byte result, empty at
 * first and made on the first call (later calls give the same buffer).
 * What the task appends is its result for mt_task_result_bytes and
 * mt_task_take; the buffer is the task's and is freed with it. It is
 * plain heap memory, so it works on the shared stack too. Returns 0,
 * MT_ENOTCORO outside a coroutine, -ENOMEM, -EINVAL (out NULL).
 */
int mt_task_result_buf(mt_buf **out);

/*
 * mt_task_result_bytes - mt_task_result, and *out (not NULL) set to t's
 * byte result: borrowed, valid until the handle is released or the bytes
 * are taken; {NULL, 0} when the task stored none. Returns what
 * mt_task_result returns (-EAGAIN while t is pending: *out is then empty).
 */
int mt_task_result_bytes(mt_task *t, mt_iov *out);

/*
 * mt_task_take - move t's byte result into *out (whose old memory is
 * freed) without copying, as mt_future_take does: t keeps none. Returns
 * what mt_task_result returns; on -EAGAIN (t pending) or -EINVAL nothing
 * is moved.
 */
int mt_task_take(mt_task *t, mt_buf *out);

/* ---- streams (asyncio's StreamReader and StreamWriter) ----------------- */

/*
 * A stream reads and writes a connected socket (or a pipe) from
 * coroutines, with a buffer of received bytes, as asyncio's StreamReader
 * and StreamWriter do together:
 *
 *   asyncio.open_connection(h, p)     mt_stream_connect(&s, h, p, NULL)
 *   await reader.read(n)              mt_stream_read(s, buf, n)
 *   await reader.readexactly(n)       mt_stream_readexactly(s, buf, n, &got)
 *   await reader.readline()           mt_stream_readline(s, &line)
 *   await reader.readuntil(sep)       mt_stream_readuntil(s, &out, sep, len)
 *   reader.at_eof()                   mt_stream_at_eof(s)
 *   writer.write(d); await drain()    mt_stream_write(s, d, len)
 *   writer.write_eof()                mt_stream_close(s)
 *   writer.close(); wait_closed()     mt_stream_free(s)
 *   asyncio.start_server(cb, h, p)    mt_stream_server_new(&srv, h, p, cb, arg, NULL)
 *   loop.getaddrinfo(h, p)            mt_co_getaddrinfo(&res, h, p, hints)
 *
 * Reads and writes suspend the calling coroutine only; they take no
 * timeout of their own: an enclosing timeout scope (mt_co_timeout_begin,
 * mt_co_wait_for) or a cancellation ends them with -ETIMEDOUT /
 * -ECANCELED, and the bytes a read had received by then stay in the
 * stream's buffer for the next read: nothing is lost. One coroutine may
 * read while another writes; a second reader (or writer) at the same time
 * gets -EBUSY. A stream belongs to its loop's thread.
 */
typedef struct mt_stream mt_stream;

/* Options of a stream. A zeroed struct means defaults. */
typedef struct mt_stream_opts {
    /* The longest line mt_stream_readline and _readuntil accept, separator
     * included, in bytes; 0 means 64 KiB (asyncio's limit). Those calls
     * never grow the stream's buffer past limit + 16 KiB, whatever the
     * peer sends. */
    size_t limit;
} mt_stream_opts;

/*
 * mt_stream_new - a stream over fd, a connected socket or a pipe, which it
 * makes non-blocking and owns from now on (mt_stream_free closes it; on
 * error the caller keeps it). opts may be NULL. Returns 0, -EINVAL (out
 * NULL, fd < 0), fcntl's or fstat's -errno (-EBADF), -ENOMEM.
 */
int mt_stream_new(mt_stream **out, int fd, const mt_stream_opts *opts);

/*
 * mt_stream_connect - connect to host:port as mt_co_sock_connect does
 * (names are looked up without blocking the loop) and make a stream of the
 * socket (asyncio.open_connection). Returns 0 or mt_co_sock_connect's and
 * mt_stream_new's errors (MT_ENOHOST for an unknown name, -ECONNREFUSED).
 */
int mt_stream_connect(mt_stream **out, const char *host, int port, const mt_stream_opts *opts);

/*
 * mt_stream_read - read up to n bytes into buf (reader.read(n)): what is
 * buffered, else what one receive brings. Returns the count, 0 at the end
 * of the stream (or for n 0), or an error: -ECANCELED, -ETIMEDOUT, -EBUSY,
 * MT_ENOTCORO (outside a coroutine), -EINVAL, the receive's -errno
 * (-ECONNRESET).
 */
ssize_t mt_stream_read(mt_stream *s, void *buf, size_t n);

/*
 * mt_stream_readexactly - read exactly n bytes into buf
 * (reader.readexactly(n)). Returns 0 with all n there; MT_EOF when the
 * stream ended first (asyncio's IncompleteReadError): buf then holds the
 * *got bytes that came, and the stream is at its end. On any other error
 * (-ECANCELED, -ETIMEDOUT, -EBUSY, MT_ENOTCORO, -EINVAL, -ENOMEM, the receive's
 * -errno) nothing is consumed: the bytes received stay buffered and *got
 * is 0. got may be NULL. The buffer grows to n bytes if need be.
 */
int mt_stream_readexactly(mt_stream *s, void *buf, size_t n, size_t *got);

/*
 * mt_stream_readline - read one line, up to and including "\n"
 * (reader.readline()), into *line: its contents are replaced (line->len is
 * the line's length; a NUL byte follows it, not counted). Returns that
 * length; at the end of the stream the last bytes without a "\n" (a
 * partial line), and 0 once nothing is left. A line longer than the
 * stream's limit is -EMSGSIZE and is dropped, as far as it has come (through
 * its "\n" if that has come; the rest is what the next read returns).
 * Other errors as mt_stream_readexactly's (nothing consumed).
 */
ssize_t mt_stream_readline(mt_stream *s, mt_buf *line);

/*
 * mt_stream_readuntil - read up to and including the separator sep
 * (seplen bytes, at least 1) into *out, contents replaced as by
 * mt_stream_readline (reader.readuntil(sep)). Returns the length read,
 * separator included; MT_EOF when the stream ended before a separator
 * (*out then holds the bytes that came, and the stream is at its end);
 * -EMSGSIZE when the separator does not come within the stream's limit
 * (asyncio's LimitOverrunError): the bytes stay buffered, for
 * mt_stream_read. Other errors as mt_stream_readexactly's.
 */
ssize_t mt_stream_readuntil(mt_stream *s, mt_buf *out, const void *sep, size_t seplen);

/* mt_stream_at_eof - whether the stream has ended and every byte of it has
 * been read (reader.at_eof()). */
bool mt_stream_at_eof(const mt_stream *s);

/*
 * mt_stream_write - send all len bytes, suspending while the socket's
 * buffer is full (writer.write + await writer.drain()). Returns 0; -EPIPE
 * after mt_stream_close or when the peer has gone (a socket's; for a pipe
 * whose reader has gone the kernel sends SIGPIPE first, which kills the
 * program unless it ignores SIGPIPE, as a program that writes to pipes
 * should), -ECONNRESET and send's other -errno; -ECANCELED / -ETIMEDOUT
 * (some bytes may have gone); -EBUSY, MT_ENOTCORO, -EINVAL.
 */
int mt_stream_write(mt_stream *s, const void *data, size_t len);

/*
 * mt_stream_close - write no more: the peer reads the end of the stream
 * once what was written has reached it (writer.write_eof(); Python's
 * close() is mt_stream_free). What the peer still sends can be read.
 * Returns 0 (again 0 if already closed), -ENOTSOCK for a pipe, shutdown's
 * -errno, -EINVAL. Does not suspend.
 */
int mt_stream_close(mt_stream *s);

/* mt_stream_fd - the stream's fd (still the stream's), or -EINVAL. */
int mt_stream_fd(const mt_stream *s);

/*
 * mt_stream_free - close the fd and release the stream; bytes still
 * buffered are dropped. No coroutine may be in a call on the stream when it
 * is called (cancel a reader or writer and let it return first): the stream
 * is gone once it returns. NULL is ignored. Usable outside a coroutine.
 */
void mt_stream_free(mt_stream *s);

/* A server's work for one connection: s is the server's, freed (its
 * socket closed) when the function returns, so tasks it started must be
 * done with s by then. Returns as a coroutine does. */
typedef int mt_stream_fn(mt_stream *s, void *arg);

typedef struct mt_stream_server mt_stream_server;

/* Options of mt_stream_server_new. A zeroed struct means defaults. */
typedef struct mt_stream_server_opts {
    int backlog;           /* of listen(); 0 means 128 */
    mt_stream_opts stream; /* for each connection's stream */
    mt_task_opts task;     /* for each connection's task (name, stack); the
                              name is borrowed until the server is freed */
} mt_stream_server_opts;

/* Every mt_stream_server_* call is for the thread of the server's loop. */

/*
 * mt_stream_server_new - listen on host:port (as mt_co_tcp_listen) and
 * serve each connection accepted by a task of its own running fn(stream,
 * arg) (asyncio.start_server). A connection task that fails is reported as
 * any detached task is. When accepting fails for lack of fds or memory the
 * server retries every 0.1 s; another accept error stops the server (see
 * mt_stream_server_wait_closed). The handle is the caller's: free it with
 * mt_stream_server_free before the loop closes. opts may be NULL. Returns
 * 0, MT_ENOTCORO when no loop runs in this thread, -EINVAL (out or fn NULL, bad
 * options), mt_co_tcp_listen's errors, -ENOMEM. Call it from a coroutine to
 * listen on a name (else it is looked up blocking).
 */
int mt_stream_server_new(mt_stream_server **out, const char *host, int port, mt_stream_fn *fn,
                         void *arg, const mt_stream_server_opts *opts);

/* mt_stream_server_port - the port the server listens on (port 0 given:
 * the one picked), or -EINVAL. */
int mt_stream_server_port(const mt_stream_server *srv);

/*
 * mt_stream_server_close - stop listening (Server.close()): no connection
 * is accepted any more; those being served go on. Returns 0 (also when
 * closed before), -EINVAL. Does not suspend.
 */
int mt_stream_server_close(mt_stream_server *srv);

/*
 * mt_stream_server_wait_closed - wait until the server has stopped (closed,
 * or its accepting failed) and every connection task has ended (await
 * server.serve_forever() and wait_closed() in one). Returns 0; the accept
 * error that stopped the server; -ECANCELED / -ETIMEDOUT (the server goes
 * on); -EBUSY when another coroutine waits already; -EINVAL; MT_ENOTCORO.
 */
int mt_stream_server_wait_closed(mt_stream_server *srv);

/*
 * mt_stream_server_free - close the server, cancel the connection tasks
 * still running and release the handle; the memory goes when the last of
 * its tasks has ended. Does not wait (mt_stream_server_wait_closed does).
 * NULL is ignored.
 */
void mt_stream_server_free(mt_stream_server *srv);

struct addrinfo;

/*
 * mt_co_getaddrinfo - getaddrinfo(host, service, hints) without blocking
 * the loop (loop.getaddrinfo): the lookup runs on libuv's thread pool while
 * the coroutine waits; outside a coroutine it is looked up directly.
 * *out is the list, freed with freeaddrinfo(). Returns 0; MT_ENOHOST when
 * the name is not known (or has no address of the family asked); -EAGAIN
 * when the lookup failed for now (no DNS server answered); -ENOMEM;
 * -EINVAL (out NULL, host and service both NULL, bad hints); -ECANCELED /
 * -ETIMEDOUT (the lookup is abandoned, and its result freed when it ends).
 */
int mt_co_getaddrinfo(struct addrinfo **out, const char *host, const char *service,
                      const struct addrinfo *hints);

#ifdef __cplusplus
}
#endif
#endif
