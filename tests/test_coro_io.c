/*
 * test_coro_io.c - what coroutines await besides each other: fds, sockets
 * (an echo server and its clients), signals, and futures of the thread pool
 * and the process pool (one whose worker is SIGKILLed mid-task).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "coro_helpers.h"
#include "pool_tasks.h"

/* ---- fds -------------------------------------------------------------- */

typedef struct pipe_pair {
    int fds[2];
    int got;
} pipe_pair;

static int pipe_writer(void *arg)
{
    pipe_pair *p = arg;
    mt_co_sleep(0.02);
    return write(p->fds[1], "x", 1) == 1 ? 0 : -errno;
}

static int pipe_reader(void *arg)
{
    pipe_pair *p = arg;
    return mt_co_wait_fd(p->fds[0], MT_READABLE, MT_FOREVER);
}

static int fd_main(void *arg)
{
    pipe_pair *p = arg;
    cr_expect_eq(mt_co_wait_fd(p->fds[0], MT_READABLE, 0.02), -ETIMEDOUT);
    mt_task *w, *r, *r2;
    mt_task_create(&w, pipe_writer, p, NULL);
    mt_task_create(&r, pipe_reader, p, NULL);
    mt_task_create(&r2, pipe_reader, p, NULL);
    cr_expect_eq(mt_task_await(r2), -EBUSY, "a second reader of the same fd");
    cr_expect_eq(mt_task_await(r), MT_READABLE);
    cr_expect_eq(mt_task_await(w), 0);
    cr_expect_eq(mt_co_wait_fd(p->fds[1], MT_WRITABLE, 1.0), MT_WRITABLE);
    cr_expect_eq(mt_co_wait_fd(-1, MT_READABLE, 1.0), -EINVAL);
    cr_expect_eq(mt_co_wait_fd(p->fds[0], 0, 1.0), -EINVAL);
    cr_expect_eq(mt_co_wait_fd(p->fds[0], 3, 1.0), -EINVAL);
    mt_task_free(w);
    mt_task_free(r);
    mt_task_free(r2);
    cr_expect_eq(mt_co_close(p->fds[0]), 0);
    cr_expect_eq(mt_co_close(p->fds[1]), 0);
    return 0;
}

LEAK_TEST(coro_io, wait_fd_readable_writable_timeout, .timeout = 20)
{
    pipe_pair p = {0};
    cr_assert_eq(pipe2(p.fds, O_CLOEXEC), 0);
    cr_assert_eq(co_run(fd_main, &p), 0);
    cr_expect_eq(mt_co_wait_fd(0, MT_READABLE, 0), MT_ENOTCORO);
}

/* Closing an fd with mt_co_close wakes the coroutines waiting on it with
 * -EBADF: epoll forgets a closed fd, so they would otherwise wait forever. */
static int sock_reader(void *arg)
{
    char c;
    return (int)mt_co_sock_recv(*(int *)arg, &c, 1);
}

static int sock_writer(void *arg)
{
    static char lots[1 << 16];
    for (;;) {
        int err = mt_co_sock_sendall(*(int *)arg, lots, sizeof lots);
        if (err)
            return err;
    }
}

static int close_main(void *arg)
{
    int *sv = arg;
    mt_task *r, *w;
    cr_assert_eq(mt_task_create(&r, sock_reader, &sv[0], NULL), 0);
    cr_assert_eq(mt_task_create(&w, sock_writer, &sv[0], NULL), 0);
    mt_co_sleep(0.05); /* both wait now: nothing to read, the buffer full */
    cr_expect(!mt_task_done(r) && !mt_task_done(w));
    cr_expect_eq(mt_co_close(sv[0]), 0);
    cr_expect_eq(mt_co_wait_for(r, 5.0), -EBADF, "the reader of a closed fd");
    cr_expect_eq(mt_co_wait_for(w, 5.0), -EBADF, "the writer of a closed fd");
    mt_task_free(r);
    mt_task_free(w);
    /* The number may come back at once for another fd: it must work. */
    int again[2];
    cr_assert_eq(pipe2(again, O_CLOEXEC), 0);
    cr_expect_eq(write(again[1], "x", 1), 1);
    cr_expect_eq(mt_co_wait_fd(again[0], MT_READABLE, 5.0), MT_READABLE);
    cr_expect_eq(mt_co_close(again[0]), 0);
    cr_expect_eq(mt_co_close(again[1]), 0);
    return mt_co_close(sv[1]);
}

LEAK_TEST(coro_io, closing_an_fd_wakes_its_waiters, .timeout = 20)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    cr_assert_eq(co_run(close_main, sv), 0);
}

/* ---- an echo server and its clients ------------------------------------ */

typedef struct echo {
    int lfd;
    int port;
    int served;
} echo;

static int echo_conn(void *arg)
{
    int fd = (int)(long)arg;
    char buf[4096];
    ssize_t n;
    int err = 0;
    while ((n = mt_co_sock_recv(fd, buf, sizeof buf)) > 0)
        if ((err = mt_co_sock_sendall(fd, buf, (size_t)n)) != 0)
            break;
    mt_co_close(fd);
    return n < 0 ? (int)n : err;
}

static int echo_server(void *arg)
{
    echo *e = arg;
    mt_task_group g;
    mt_task_group_init(&g);
    for (;;) {
        int fd;
        int r = mt_co_sock_accept(e->lfd, &fd);
        if (r) {
            mt_task_group_wait(&g);
            return r;
        }
        e->served++;
        mt_task_group_create_task(&g, echo_conn, (void *)(long)fd, NULL, NULL);
    }
}

static int echo_client(void *arg)
{
    echo *e = arg;
    int fd;
    int r = mt_co_sock_connect(&fd, "127.0.0.1", e->port);
    if (r)
        return r;
    for (int i = 0; i < 50; i++) {
        char msg[64], reply[64];
        int len = snprintf(msg, sizeof msg, "message %d from %p", i, (void *)mt_task_current());
        if ((r = mt_co_sock_sendall(fd, msg, (size_t)len)) != 0)
            break;
        size_t got = 0;
        while (got < (size_t)len) {
            ssize_t n = mt_co_sock_recv(fd, reply + got, sizeof reply - got);
            if (n <= 0) {
                r = n ? (int)n : -EPIPE;
                break;
            }
            got += (size_t)n;
        }
        if (r)
            break;
        if (memcmp(msg, reply, (size_t)len) != 0) {
            r = -EILSEQ;
            break;
        }
    }
    mt_co_close(fd);
    return r;
}

static int echo_main(void *arg)
{
    echo *e = arg;
    cr_assert_eq(mt_co_tcp_listen(&e->lfd, "127.0.0.1", 0, 0), 0);
    e->port = mt_co_sock_port(e->lfd);
    cr_assert_gt(e->port, 0);
    mt_task *server, *clients[8];
    mt_task_create(&server, echo_server, e, NULL);
    for (int i = 0; i < 8; i++)
        mt_task_create(&clients[i], echo_client, e, NULL);
    int res[8];
    cr_expect_eq(mt_co_gather(clients, 8, res, NULL), 0);
    for (int i = 0; i < 8; i++) {
        cr_expect_eq(res[i], 0, "client %d: %s", i, mt_strerror(res[i]));
        mt_task_free(clients[i]);
    }
    cr_expect_eq(e->served, 8);
    /* Cancelling the server cancels its connections' group and its accept. */
    mt_task_cancel(server);
    cr_expect_eq(mt_task_await(server), -ECANCELED);
    mt_task_free(server);
    mt_co_close(e->lfd);

    int fd;
    int r = mt_co_sock_connect(&fd, "127.0.0.1", e->port);
    cr_expect_eq(r, -ECONNREFUSED, "connect: %s", mt_err_name(r));
    /* Not a number: looked up as a host name, which nobody knows. */
    r = mt_co_sock_connect(&fd, "not an address", 80);
    cr_expect(r == MT_ENOHOST || r == -EAGAIN, "connect by name: %s", mt_err_name(r));
    cr_expect_eq(mt_co_sock_connect(&fd, "127.0.0.1", 65536), -EINVAL);
    return 0;
}

LEAK_TEST(coro_io, echo_server_and_clients, .timeout = 30)
{
    echo e = {0};
    cr_assert_eq(co_run(echo_main, &e), 0);
    int fd;
    cr_expect_eq(mt_co_tcp_listen(&fd, "127.0.0.1", 70000, 0), -EINVAL);
    cr_expect_eq(mt_co_sock_recv(0, NULL, 0), MT_ENOTCORO);
}

/* ---- signals ---------------------------------------------------------- */

static void raise_usr1(void *arg)
{
    (void)arg;
    kill(getpid(), SIGUSR1);
}

static int signal_main(void *arg)
{
    (void)arg;
    cr_expect_eq(mt_co_wait_signal(SIGUSR1, 0.02), -ETIMEDOUT);
    mt_co_call_later(NULL, 0.02, raise_usr1, NULL);
    cr_expect_eq(mt_co_wait_signal(SIGUSR1, 5.0), SIGUSR1);
    cr_expect_eq(mt_co_wait_signal(0, 1.0), -EINVAL);
    return 0;
}

LEAK_TEST(coro_io, wait_signal, .timeout = 20)
{
    cr_assert_eq(co_run(signal_main, NULL), 0);
}

/* ---- futures ---------------------------------------------------------- */

/* A thread-pool task given a pointer to two flags: it sets the first
 * (started) and returns once the second is set. */
static int wait_gate(const void *arg, size_t len, mt_buf *out)
{
    (void)len, (void)out;
    atomic_int *gate;
    memcpy(&gate, arg, sizeof gate);
    atomic_store(&gate[0], 1);
    while (!atomic_load(&gate[1]))
        usleep(1000);
    return 0;
}

static int futures_main(void *arg)
{
    (void)arg;
    /* to_thread: the loop's default thread pool. */
    mt_buf out = MT_BUF_INIT;
    long x = 12;
    cr_expect_eq(mt_co_to_thread(square, &x, sizeof x, &out), 0);
    cr_assert_eq(out.len, sizeof x);
    cr_expect_eq(read_long(out.data), 144);
    mt_buf_reset(&out);
    cr_expect_eq(mt_co_to_thread(fail_odd, &(long){3}, sizeof x, &out), -EDOM);
    cr_expect(strstr(out.data, "3 is odd"));
    mt_buf_free(&out);

    /* Many at once, the loop running meanwhile. */
    mt_executor *ex;
    cr_assert_eq(mt_executor_new(&ex, &(mt_executor_opts){.max_workers = 4}), 0);
    mt_future *fs[16];
    for (long i = 0; i < 16; i++)
        cr_assert_eq(mt_executor_submit(ex, square, &i, sizeof i, &fs[i]), 0);
    for (long i = 15; i >= 0; i--) {
        mt_iov res;
        cr_expect_eq(mt_co_await_future(fs[i], MT_FOREVER, &res), 0);
        cr_expect_eq(read_long(res.data), i * i);
        mt_future_free(fs[i]);
    }

    /* A timeout leaves a running task running and the future usable. The
     * task has started (a task not started yet is cancelled by the
     * timeout) and waits for the gate, so it cannot end first on a slow
     * machine. */
    atomic_int gate[2] = {0, 0}; /* started, open */
    atomic_int *gatep = gate;
    mt_future *slow;
    cr_assert_eq(mt_executor_submit(ex, wait_gate, &gatep, sizeof gatep, &slow), 0);
    while (!atomic_load(&gate[0]))
        mt_co_sleep(0.001);
    cr_expect_eq(mt_co_await_future(slow, 0.02, NULL), -ETIMEDOUT);
    atomic_store(&gate[1], 1);
    cr_expect_eq(mt_co_await_future(slow, MT_FOREVER, NULL), 0);
    mt_future_free(slow);
    mt_executor_free(ex);
    cr_expect_eq(mt_co_await_future(NULL, 1.0, NULL), -EINVAL);
    return 0;
}

LEAK_TEST(coro_io, await_thread_pool_futures, .timeout = 30)
{
    cr_assert_eq(co_run(futures_main, NULL), 0);
}

static int to_thread_sleeper(void *arg)
{
    double secs = 0.2;
    mt_buf out = MT_BUF_INIT;
    int r = mt_co_to_thread(nap, &secs, sizeof secs, &out);
    mt_buf_free(&out);
    *(int *)arg = r;
    return r;
}

static int to_thread_cancel_main(void *arg)
{
    (void)arg;
    int r = 1;
    mt_task *t;
    mt_task_create(&t, to_thread_sleeper, &r, NULL);
    mt_co_sleep(0.05);
    double t0 = mt_loop_time();
    mt_task_cancel(t);
    cr_expect_eq(mt_task_await(t), -ECANCELED);
    cr_expect_lt(mt_loop_time() - t0, 0.1, "the await gave up at once");
    cr_expect_eq(r, -ECANCELED);
    mt_task_free(t);
    return 0;
}

LEAK_TEST(coro_io, cancelling_a_to_thread_await, .timeout = 20)
{
    cr_assert_eq(co_run(to_thread_cancel_main, NULL), 0);
}

/* A pool task that tells the parent its pid through a pipe, then waits to
 * be killed. */
static int crash_fd = -1;

static int report_pid_and_wait(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    pid_t me = getpid();
    if (write(crash_fd, &me, sizeof me) != sizeof me)
        return -EIO;
    mt_sleep(30);
    return 0;
}

static int killed_worker_main(void *arg)
{
    int *fds = arg;
    mt_pool *pool;
    cr_assert_eq(mt_pool_new(&pool, &(mt_pool_opts){.processes = 1}), 0);
    mt_future *f;
    cr_assert_eq(mt_pool_apply_async(pool, report_pid_and_wait, NULL, 0, &f), 0);
    /* The loop goes on while the worker runs: wait for its pid on the pipe. */
    cr_assert_eq(mt_co_wait_fd(fds[0], MT_READABLE, 10.0), MT_READABLE);
    pid_t pid;
    cr_assert_eq(read(fds[0], &pid, sizeof pid), (ssize_t)sizeof pid);
    kill(pid, SIGKILL);
    cr_expect_eq(mt_co_await_future(f, 10.0, NULL), MT_EWORKER);
    cr_expect(strstr(mt_future_error_message(f), "SIGKILL") || strstr(mt_future_error_message(f), "signal"),
              "message: %s", mt_future_error_message(f));
    mt_future_free(f);
    /* The pool serves on with a replacement worker. */
    cr_assert_eq(mt_pool_apply_async(pool, square, &(long){7}, sizeof(long), &f), 0);
    mt_iov res;
    cr_expect_eq(mt_co_await_future(f, 10.0, &res), 0);
    cr_expect_eq(read_long(res.data), 49);
    mt_future_free(f);
    mt_pool_terminate(pool);
    mt_pool_join(pool, MT_FOREVER);
    mt_pool_free(pool);
    mt_co_forget_fd(fds[0]);
    return 0;
}

LEAK_TEST(coro_io, await_future_of_a_sigkilled_pool_worker, .timeout = 30)
{
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    crash_fd = fds[1];
    cr_assert_eq(co_run(killed_worker_main, fds), 0);
    close(fds[0]);
    close(fds[1]);
}

/* ---- the trace: coroutines, the thread pool and the process pool ------- */

static int traced_main(void *arg)
{
    (void)arg;
    mt_buf out = MT_BUF_INIT;
    long x = 5;
    cr_expect_eq(mt_co_to_thread(square, &x, sizeof x, &out), 0);
    mt_buf_free(&out);
    mt_pool *pool;
    cr_assert_eq(mt_pool_new(&pool, &(mt_pool_opts){.processes = 1}), 0);
    mt_future *f;
    cr_assert_eq(mt_pool_apply_async(pool, square, &x, sizeof x, &f), 0);
    cr_expect_eq(mt_co_await_future(f, 10.0, NULL), 0);
    mt_future_free(f);
    mt_pool_close(pool);
    mt_pool_join(pool, MT_FOREVER);
    mt_pool_free(pool);
    return mt_co_sleep(0.01);
}

LEAK_TEST(coro_io, trace_records_tasks_threads_and_workers, .timeout = 30)
{
    char path[] = "/tmp/multitask-trace-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    if (mt_trace_enabled()) /* MT_TRACE set for the whole run: leave it be */
        return;
    cr_assert_eq(mt_trace_start(path), 0);
    cr_expect_eq(mt_trace_start(path), -EBUSY);
    cr_expect(mt_trace_enabled());
    cr_assert_eq(co_run(traced_main, NULL), 0);
    mt_trace_stop();
    cr_expect(!mt_trace_enabled());
    FILE *f = fopen(path, "re");
    cr_assert(f);
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text - 1, f);
    text[len] = '\0';
    fclose(f);
    unlink(path);
    cr_expect(strstr(text, "\"name\":\"main\",\"cat\":\"run\""), "trace:\n%s", text);
    cr_expect(strstr(text, "\"cat\":\"sleep\""));
    cr_expect(strstr(text, "\"cat\":\"executor\""), "no thread-pool slice");
    cr_expect(strstr(text, "\"cat\":\"pool\""), "no process-pool slice");
    cr_expect(strstr(text, "\"thread_name\""));
    cr_expect_eq(mt_trace_start(NULL), -EINVAL);
}

/* ---- every wait from shared-stack tasks ---------------------------------- */

/* A shared-stack task's frames are copied out while it waits and other
 * tasks' frames take their place, so nothing the loop or a thread pool
 * touches during a wait may live on its stack. Several such tasks each wait
 * in every way at once; each must get the right answer at the right time,
 * and find its own locals intact. */
typedef struct everything {
    mt_aqueue *q;
    int pipe_rd;
    int id;
    int checked;
} everything;

static int returns_id(void *arg)
{
    mt_co_sleep(0.005);
    return ((everything *)arg)->id;
}

static int fails_soon(void *arg)
{
    (void)arg;
    mt_co_sleep(0.005);
    return -EDOM;
}

static int sleeps_long(void *arg)
{
    (void)arg;
    return mt_co_sleep(10);
}

static int wait_in_every_way(void *arg)
{
    everything *e = arg;
    volatile char mine[256];
    for (size_t i = 0; i < sizeof mine; i++)
        mine[i] = (char)(e->id * 31 + (int)i);
    mt_task_opts shared = {.stack = MT_STACK_SHARED};

    mt_co_timeout scope;
    cr_assert_eq(mt_co_timeout_begin(&scope, 0.01 + 0.002 * e->id), 0);
    cr_expect_eq(mt_co_sleep(10), -ETIMEDOUT, "task %d: sleep in a timeout scope", e->id);
    cr_expect_eq(mt_co_timeout_end(&scope), -ETIMEDOUT);

    mt_task *t[2];
    cr_assert_eq(mt_task_create(&t[0], sleeps_long, e, &shared), 0);
    cr_expect_eq(mt_co_wait_for(t[0], 0.01 + 0.002 * e->id), -ETIMEDOUT);
    mt_task_free(t[0]);

    int results[2] = {0, 0};
    cr_assert_eq(mt_task_create(&t[0], returns_id, e, &shared), 0);
    cr_assert_eq(mt_task_create(&t[1], returns_id, e, &shared), 0);
    cr_expect_eq(mt_co_gather(t, 2, results, NULL), 0);
    cr_expect(results[0] == e->id && results[1] == e->id, "task %d: gather", e->id);
    release_all(t, 2);

    cr_assert_eq(mt_task_create(&t[0], sleeps_long, e, &shared), 0);
    cr_assert_eq(mt_task_create(&t[1], returns_id, e, &shared), 0);
    mt_task *done[2];
    size_t ndone = 0;
    cr_expect_eq(mt_co_wait(t, 2, 5.0, MT_FIRST_COMPLETED, done, &ndone, NULL, NULL), 0);
    cr_expect(ndone == 1 && done[0] == t[1], "task %d: wait", e->id);
    mt_task_cancel(t[0]);
    mt_task_await(t[0]);
    release_all(t, 2);

    mt_task_group g;
    cr_assert_eq(mt_task_group_init(&g), 0);
    cr_assert_eq(mt_task_group_create_task(&g, sleeps_long, e, &shared, NULL), 0);
    cr_assert_eq(mt_task_group_create_task(&g, fails_soon, e, &shared, NULL), 0);
    cr_expect_eq(mt_co_sleep(5), -ECANCELED, "task %d: the group cancels its owner", e->id);
    cr_expect_eq(mt_task_group_wait(&g), -EDOM);

    cr_expect_eq(mt_co_wait_fd(e->pipe_rd, MT_READABLE, 0.01), -ETIMEDOUT);
    double secs = 0.01;
    cr_expect_eq(mt_co_to_thread(nap, &secs, sizeof secs, NULL), 0);
    int item = -1;
    cr_expect_eq(mt_aqueue_get(e->q, &item), 0);
    cr_expect_geq(item, 0);

    for (size_t i = 0; i < sizeof mine; i++)
        if (mine[i] != (char)(e->id * 31 + (int)i))
            return -EILSEQ;
    e->checked = 1;
    return 0;
}

enum { NEVERY = 6 };

static int every_main(void *arg)
{
    everything *es = arg;
    mt_task *ts[NEVERY];
    for (int i = 0; i < NEVERY; i++)
        cr_assert_eq(mt_task_create(&ts[i], wait_in_every_way, &es[i],
                                    &(mt_task_opts){.stack = MT_STACK_SHARED}),
                     0);
    mt_co_sleep(0.2); /* every task waits on the queue by now */
    for (int i = 0; i < NEVERY; i++)
        cr_assert_eq(mt_aqueue_put_nowait(es[0].q, &i), 0);
    int results[NEVERY];
    int r = mt_co_gather(ts, NEVERY, results, NULL);
    for (int i = 0; i < NEVERY; i++)
        cr_expect_eq(results[i], 0, "task %d", i);
    release_all(ts, NEVERY);
    return r;
}

LEAK_TEST(coro_io, shared_stack_tasks_wait_in_every_way, .timeout = 30)
{
    int fds[NEVERY][2];
    mt_aqueue *q;
    cr_assert_eq(mt_aqueue_new(&q, &(mt_aqueue_opts){.item_size = sizeof(int)}), 0);
    everything es[NEVERY];
    for (int i = 0; i < NEVERY; i++) {
        cr_assert_eq(pipe2(fds[i], O_CLOEXEC | O_NONBLOCK), 0);
        es[i] = (everything){.q = q, .pipe_rd = fds[i][0], .id = i};
    }
    cr_expect_eq(co_run(every_main, es), 0);
    for (int i = 0; i < NEVERY; i++) {
        cr_expect_eq(es[i].checked, 1, "task %d", i);
        close(fds[i][0]);
        close(fds[i][1]);
    }
    mt_aqueue_free(q);
}

/* ---- a process started from a coroutine --------------------------------- */

/* Its target runs in a copy of a thread that was running a loop: that loop
 * is the parent's, and the child starts its own (asyncio.run in a child of
 * asyncio code works too). */
static int child_main_co(void *arg)
{
    (void)arg;
    mt_co_sleep(0.01);
    return 5;
}

static int child_runs_a_loop(const void *arg, size_t len, mt_buf *out)
{
    (void)arg;
    (void)len;
    int r = mt_run(child_main_co, NULL, NULL);
    return r == 5 ? 0 : mt_fail(out, r < 0 ? r : -EPROTO, "mt_run in the child: %d", r);
}

static int start_child_main(void *arg)
{
    int *code = arg;
    mt_process *p;
    cr_assert_eq(mt_process_new(&p, child_runs_a_loop, NULL, 0, NULL), 0);
    cr_assert_eq(mt_process_start(p), 0);
    while (mt_process_is_alive(p))
        mt_co_sleep(0.005);
    cr_expect_eq(mt_process_join(p, 0), 0);
    cr_expect(mt_process_exitcode(p, code));
    mt_process_free(p);
    return 0;
}

LEAK_TEST(coro_io, a_process_started_from_a_coroutine_runs_its_own_loop, .timeout = 20)
{
    int code = -1;
    cr_assert_eq(co_run(start_child_main, &code), 0);
    cr_expect_eq(code, 0, "the child could not run a loop of its own");
}
