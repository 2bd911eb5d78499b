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
 *   loop.call_later(s, cb)           mt_co_call_later(arg, &h, s, cb)
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
 * starts when the loop runs. Same arguments and errors as mt_task_create.
 */
int mt_loop_create_task(mt_loop *loop, mt_task **out, mt_co_fn *fn, void *arg,
                        const mt_task_opts *opts);

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
 * asyncio.timeout). Scopes nest. Returns 0, -EINVAL (NaN), MT_ENOTCORO.
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
 * too), -EINVAL, MT_ENOTCORO.
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
 * out, fn, arg and opts as mt_task_create. When a child fails (any error
 * but -ECANCELED), its siblings are cancelled and so is the owner, at its
 * next suspension point before mt_task_group_wait. The group reads the
 * children's results: their errors are not reported as unread. Returns 0,
 * MT_ECLOSED once the group is failing or finished, mt_task_create's errors.
 */
int mt_task_group_create_task(mt_task_group *g, mt_task **out, mt_co_fn *fn, void *arg,
                              const mt_task_opts *opts);

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
 * (host numeric IPv4 or IPv6, "localhost", or NULL for every address; port
 * 0 picks a free one, see mt_co_sock_port), with SO_REUSEADDR; backlog 0
 * means 128. Does not suspend; usable outside a loop. Returns 0 with
 * *fd_out set, -EINVAL, or the socket call's -errno.
 */
int mt_co_tcp_listen(int *fd_out, const char *host, int port, int backlog);

/* mt_co_sock_port - the local port of a socket, or -errno. */
int mt_co_sock_port(int fd);

/*
 * mt_co_sock_accept - accept a connection on listening socket lfd
 * (loop.sock_accept): *fd_out is a non-blocking socket with TCP_NODELAY.
 * Returns 0, -ECANCELED, accept's -errno, -EINVAL, MT_ENOTCORO.
 */
int mt_co_sock_accept(int lfd, int *fd_out);

/*
 * mt_co_sock_connect - connect to host:port (host as mt_co_tcp_listen;
 * NULL means 127.0.0.1): *fd_out is a new non-blocking socket with
 * TCP_NODELAY. Returns 0, -ECONNREFUSED and connect's other -errno,
 * -ECANCELED, -EINVAL, MT_ENOTCORO.
 */
int mt_co_sock_connect(const char *host, int port, int *fd_out);

/*
 * mt_co_sock_recv - receive up to len bytes (loop.sock_recv). Returns the
 * count, 0 at the end of the stream, or -errno, -ECANCELED, MT_ENOTCORO.
 */
ssize_t mt_co_sock_recv(int fd, void *buf, size_t len);

/*
 * mt_co_sock_sendall - send all len bytes (loop.sock_sendall), suspending
 * while the socket buffer is full. Returns 0, -EPIPE / -ECONNRESET and
 * send's other -errno, -ECANCELED (some bytes may have gone), MT_ENOTCORO.
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

#ifdef __cplusplus
}
#endif
#endif
