/*
 * test_remote_pool.c - a pool whose workers are other processes serving a
 * Redis server (mt_pool_opts.redis, mt_worker_main), against a
 * redis-server each test starts (redis_server.h) and worker processes each
 * test forks: results equal to a local pool's, counts of calls and
 * answers, a call's process killed, a crash in a call, a whole worker
 * killed or stopped and continued, functions not registered, a wrong
 * password, and the server killed and restarted mid-run.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "coro_helpers.h"
#include "helpers.h"
#include "pool_tasks.h"
#include "redis_server.h"

/* ---------------------------------------------------------- functions */

MT_FN_REGISTER(square)
MT_FN_REGISTER(die_on_13)
MT_FN_REGISTER(sum_args)

/* A slow call: {seconds, path}. Appends "pid ppid\n" to path, sleeps,
 * and returns the pid. */
typedef struct slow_arg {
    double seconds;
    char path[96];
} slow_arg;

static int slow(const void *arg, size_t len, mt_buf *out)
{
    slow_arg a;
    if (len != sizeof a)
        return mt_fail(out, -EINVAL, "want a slow_arg");
    memcpy(&a, arg, sizeof a);
    if (a.path[0]) {
        FILE *f = fopen(a.path, "ae");
        if (f) {
            fprintf(f, "%d %d\n", (int)getpid(), (int)getppid());
            fclose(f);
        }
    }
    mt_sleep(a.seconds);
    long pid = getpid();
    return mt_buf_append(out, &pid, sizeof pid);
}
MT_FN_REGISTER(slow)

/* reverse (pool_tasks.h) is registered only in the test process, after
 * the workers started; fail_odd never is. */

/* ------------------------------------------------------------- helpers */

static void url_of(char *out, size_t size, const test_redis *s, const char *name)
{
    snprintf(out, size, "redis+unix://%s/%s", s->sock, name);
}

/* A worker process: its own process group (so that the test can stop or
 * kill it with its pool's processes), stopped through a shared flag. */
typedef struct worker {
    pid_t pid;
    _Atomic(bool) *stop;
} worker;

static worker start_worker(const char *url, const mt_worker_opts *opts)
{
    _Atomic(bool) *stop =
        mmap(NULL, sizeof *stop, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(stop != MAP_FAILED);
    atomic_store(stop, false);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        mt_worker_opts o = opts ? *opts : (mt_worker_opts){0};
        if (!o.processes)
            o.processes = 2;
        o.stop = stop;
        int err = mt_worker_main(url, &o);
        if (err)
            fprintf(stderr, "worker: %s\n", mt_strerror(err));
        _exit(err == 0 ? 0 : 1);
    }
    setpgid(pid, pid);
    return (worker){pid, stop};
}

/* Stop a worker cleanly: 0 when mt_worker_main returned 0. */
static int stop_worker(worker *w)
{
    atomic_store(w->stop, true);
    int status = 0;
    cr_assert_eq(waitpid(w->pid, &status, 0), w->pid);
    munmap(w->stop, sizeof *w->stop);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Kill a worker with every process of its group, and reap it. */
static void kill_worker(worker *w)
{
    kill(-w->pid, SIGKILL);
    waitpid(w->pid, NULL, 0);
    munmap(w->stop, sizeof *w->stop);
}

static mt_pool *open_pool(const char *url, unsigned retries)
{
    mt_pool *p = NULL;
    int err = mt_pool_new(&p, &(mt_pool_opts){.redis = url, .retries = retries});
    cr_assert_eq(err, 0, "mt_pool_new: %s", mt_err_name(err));
    return p;
}

/* Wait until path holds n lines (calls that started); their pid and ppid. */
static void wait_started(const char *path, int n, pid_t *pid, pid_t *ppid)
{
    for (int i = 0; i < 2000; i++) {
        FILE *f = fopen(path, "re");
        int got = 0, a, b;
        while (f && fscanf(f, "%d %d", &a, &b) == 2) {
            if (got == 0) {
                *pid = a;
                *ppid = b;
            }
            got++;
        }
        if (f)
            fclose(f);
        if (got >= n)
            return;
        mt_sleep(0.01);
    }
    cr_assert_fail("calls did not start");
}

/* A server of the test's own, the URL of pool `name` on it, and a slow
 * call's argument whose calls say where they started in the server's
 * directory. */
static void setup_slow(test_redis *s, char *url, size_t size, const char *name, slow_arg *a,
                       double seconds)
{
    test_redis_start(s, NULL);
    url_of(url, size, s, name);
    *a = (slow_arg){.seconds = seconds};
    snprintf(a->path, sizeof a->path, "%s/started", s->dir);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "re");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

/* A coroutine awaits calls of a pool on the server: the loop runs on. */
static int await_squares(void *pool)
{
    for (long i = 0; i < 8; i++) {
        mt_future *f;
        if (mt_pool_apply_async(pool, square, &i, sizeof i, &f) < 0)
            return -1;
        mt_iov res;
        int err = mt_co_await_future(f, 20, &res);
        long v = err == 0 && res.len == sizeof v ? read_long(res.data) : -1;
        mt_future_free(f);
        if (v != i * i)
            return -2;
    }
    return 0;
}

/* Three coroutines of one loop send and await at once: each waits for the
 * server (and for its turn to send) suspended, not blocking the loop. */
static int await_together(void *pool)
{
    mt_task *ts[3];
    for (int i = 0; i < 3; i++)
        if (mt_task_create(&ts[i], await_squares, pool, NULL) < 0)
            return -1;
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        bad |= mt_task_await(ts[i]) != 0;
        mt_task_free(ts[i]);
    }
    return bad ? -2 : 0;
}

/* --------------------------------------------------------------- tests */

/* apply, apply_async, map, starmap, imap and imap_unordered give what a
 * local pool gives; every call sent is answered once. */
LEAK_TEST(remote_pool, results_as_local, .timeout = 60)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "p1");
    worker w1 = start_worker(url, NULL), w2 = start_worker(url, NULL);
    mt_pool *rp = open_pool(url, 0), *lp = NULL;
    cr_assert_eq(mt_pool_new(&lp, &(mt_pool_opts){.processes = 2}), 0);

    long x = 12;
    mt_buf out = MT_BUF_INIT;
    cr_assert_eq(mt_pool_apply(rp, square, &x, sizeof x, &out), 0);
    cr_assert_eq(out.len, sizeof x);
    cr_expect_eq(read_long(out.data), 144);

    enum { N = 1000, A = 50 };
    long items[N];
    for (long i = 0; i < N; i++)
        items[i] = i - 500;
    mt_results *rr = NULL, *lr = NULL;
    cr_assert_eq(mt_pool_map(rp, square, items, N, sizeof(long), NULL, &rr), 0);
    cr_assert_eq(mt_pool_map(lp, square, items, N, sizeof(long), NULL, &lr), 0);
    cr_assert_eq(mt_results_len(rr), N);
    long got[N], want[N];
    cr_assert_eq(mt_results_copy(rr, got, sizeof(long)), 0);
    cr_assert_eq(mt_results_copy(lr, want, sizeof(long)), 0);
    cr_expect_arr_eq(got, want, sizeof got);
    mt_results_free(rr);
    mt_results_free(lr);

    /* a map whose items fail: the same errors as locally */
    long bad[3] = {1, 2, 3};
    cr_assert_eq(mt_pool_map_iov(rp, square, (mt_iov[]){{bad, 8}, {bad, 3}, {bad + 2, 8}}, 3,
                                 NULL, &rr),
                 -EINVAL);
    mt_iov v;
    cr_expect_eq(mt_results_get(rr, 1, &v), -EINVAL);
    cr_expect(strstr(v.data, "want 8 bytes, got 3") != NULL, "%s", (const char *)v.data);
    cr_expect_eq(mt_results_get(rr, 2, &v), 0);
    cr_expect_eq(read_long(v.data), 9);
    mt_results_free(rr);

    /* apply_async: futures, mt_wait, mt_as_completed */
    mt_future *fs[A];
    for (long i = 0; i < A; i++)
        cr_assert_eq(mt_pool_apply_async(rp, square, &items[i], sizeof(long), &fs[i]), 0);
    size_t ndone = 0;
    cr_assert_eq(mt_wait(fs, A, 20, MT_ALL_COMPLETED, NULL, &ndone, NULL, NULL), 0);
    cr_expect_eq(ndone, A);
    mt_as_completed *ac;
    cr_assert_eq(mt_as_completed_new(&ac, fs, A, 20), 0);
    int seen[A] = {0}, count = 0;
    size_t idx;
    mt_future *f;
    while (mt_as_completed_next(ac, &idx, &f) == 0) {
        cr_assert_eq(mt_future_result(f, 0, &v), 0);
        cr_expect_eq(read_long(v.data), items[idx] * items[idx]);
        seen[idx]++;
        count++;
    }
    mt_as_completed_free(ac);
    cr_expect_eq(count, A);
    for (int i = 0; i < A; i++) {
        cr_expect_eq(seen[i], 1);
        mt_future_free(fs[i]);
    }

    /* starmap: packed arguments travel whole */
    mt_iov args[6] = {{&items[0], 8}, {&items[1], 8}, {&items[2], 8},
                      {&items[3], 8}, {&items[4], 8}, {&items[5], 8}};
    cr_assert_eq(mt_pool_starmap(rp, sum_args, args, 3, 2, NULL, &rr), 0);
    cr_assert_eq(mt_pool_starmap(lp, sum_args, args, 3, 2, NULL, &lr), 0);
    long rs[3], ls[3];
    cr_assert_eq(mt_results_copy(rr, rs, sizeof(long)), 0);
    cr_assert_eq(mt_results_copy(lr, ls, sizeof(long)), 0);
    cr_expect_arr_eq(rs, ls, sizeof rs);
    mt_results_free(rr);
    mt_results_free(lr);

    cr_expect_eq(co_run(await_together, rp), 0);

    /* imap, ordered and not */
    for (int unordered = 0; unordered < 2; unordered++) {
        mt_imap *it;
        cr_assert_eq(mt_pool_imap(rp, square, items, 100, sizeof(long),
                                  &(mt_map_opts){.unordered = unordered}, &it),
                     0);
        int hits[100] = {0}, n = 0, err;
        while ((err = mt_imap_next(it, 20, &idx, &v)) == 0) {
            cr_assert_lt(idx, 100);
            if (!unordered)
                cr_expect_eq(idx, (size_t)n);
            cr_expect_eq(read_long(v.data), items[idx] * items[idx]);
            hits[idx]++;
            n++;
        }
        cr_expect_eq(err, MT_EOF);
        cr_expect_eq(n, 100);
        for (int i = 0; i < 100; i++)
            cr_expect_eq(hits[i], 1);
        mt_imap_free(it);
    }

    /* close + join: the calls sent are done; later ones are refused */
    mt_future *last;
    cr_assert_eq(mt_pool_apply_async(rp, square, &x, sizeof x, &last), 0);
    cr_assert_eq(mt_pool_close(rp), 0);
    cr_expect_eq(mt_pool_apply_async(rp, square, &x, sizeof x, &f), MT_ECLOSED);
    cr_assert_eq(mt_pool_join(rp, 20), 0);
    cr_expect(mt_future_done(last));
    mt_future_free(last);

    mt_buf_free(&out);
    mt_pool_free(rp);
    mt_pool_free(lp);
    cr_expect_eq(stop_worker(&w1), 0);
    cr_expect_eq(stop_worker(&w2), 0);
    /* nothing left behind on the server but the pool itself */
    char reply[128];
    cr_expect_eq(test_redis_cmd(&s, reply, sizeof reply, "XLEN", "p1:tasks", NULL), ':');
    cr_expect_str_eq(reply, "0");
    test_redis_stop(&s);
}

/* A function not registered: -EINVAL at the client; one registered in the
 * client only: -ENOSYS from the worker, with its name. */
LEAK_TEST(remote_pool, unregistered, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "p2");
    worker w = start_worker(url, NULL);
    static mt_fn_entry late_entry = {"reverse", reverse, NULL};
    cr_assert_eq(mt_fn_register(&late_entry), 0);
    cr_expect_eq(mt_fn_register(&late_entry), 0);
    cr_expect_eq(mt_fn_lookup("reverse"), reverse);
    cr_expect_str_eq(mt_fn_name(square), "square");
    cr_expect_null(mt_fn_name(fail_odd));
    static mt_fn_entry clash = {"square", reverse, NULL}, blank = {"a b", reverse, NULL};
    cr_expect_eq(mt_fn_register(&blank), -EINVAL);
    cr_expect_eq(mt_fn_register(&clash), -EEXIST);
    mt_pool *p = open_pool(url, 0);
    mt_future *f;
    cr_expect_eq(mt_pool_apply_async(p, fail_odd, "x", 1, &f), -EINVAL);
    mt_results *r = NULL;
    cr_expect_eq(mt_pool_map(p, fail_odd, "ab", 2, 1, NULL, &r), -EINVAL);
    cr_expect_null(r);
    mt_buf out = MT_BUF_INIT;
    cr_expect_eq(mt_pool_apply(p, reverse, "x", 1, &out), -ENOSYS);
    mt_buf_append(&out, "", 1);
    cr_expect(strstr(out.data, "'reverse'") != NULL, "%s", out.data);
    mt_buf_free(&out);
    mt_pool_free(p);
    cr_expect_eq(stop_worker(&w), 0);
    test_redis_stop(&s);
}

/* NAME holding what is not a pool of ours: -EPROTO, and it is not
 * touched; a bad URL: -EINVAL. */
LEAK_TEST(remote_pool, foreign_name, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256], reply[128];
    cr_assert_eq(test_redis_cmd(&s, reply, sizeof reply, "SET", "p9:tasks", "mine", NULL), '+');
    url_of(url, sizeof url, &s, "p9");
    mt_pool *p = NULL;
    cr_expect_eq(mt_pool_new(&p, &(mt_pool_opts){.redis = url}), -EPROTO);
    cr_expect_eq(mt_worker_main(url, NULL), -EPROTO);
    cr_expect_eq(test_redis_cmd(&s, reply, sizeof reply, "GET", "p9:tasks", NULL), '$');
    cr_expect_str_eq(reply, "mine");
    cr_expect_eq(test_redis_cmd(&s, reply, sizeof reply, "EXISTS", "p9:multitask", NULL), ':');
    cr_expect_str_eq(reply, "0");
    cr_expect_eq(mt_pool_new(&p, &(mt_pool_opts){.redis = "redis://host"}), -EINVAL);
    cr_expect_eq(mt_worker_main("redis://host", NULL), -EINVAL);
    cr_expect_eq(mt_worker_main(url, &(mt_worker_opts){.timeout = NAN}), -EINVAL);
    test_redis_stop(&s);
}

/* A call that kills its own process fails alone (MT_EWORKER); the worker
 * keeps serving. */
LEAK_TEST(remote_pool, crash_fails_one_call, .timeout = 40)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "p3");
    worker w = start_worker(url, NULL);
    mt_pool *p = open_pool(url, 0);
    long items[20];
    for (long i = 0; i < 20; i++)
        items[i] = i;
    mt_results *r;
    cr_assert_eq(mt_pool_map(p, die_on_13, items, 20, sizeof(long),
                             &(mt_map_opts){.chunksize = 5}, &r),
                 MT_EWORKER);
    for (size_t i = 0; i < 20; i++) {
        mt_iov v;
        int err = mt_results_get(r, i, &v);
        if (i == 13) {
            cr_expect_eq(err, MT_EWORKER);
        } else {
            cr_expect_eq(err, 0, "item %zu: %s", i, mt_err_name(err));
            cr_expect_eq(read_long(v.data), (long)(i * i));
        }
    }
    mt_results_free(r);
    long x = 5;
    mt_buf out = MT_BUF_INIT;
    cr_expect_eq(mt_pool_apply(p, square, &x, sizeof x, &out), 0);
    mt_buf_free(&out);
    mt_pool_free(p);
    cr_expect_eq(stop_worker(&w), 0);
    test_redis_stop(&s);
}

/* A call's process SIGKILLed: MT_EWORKER by default; with retries, the
 * call runs again and succeeds, answered once. */
static void process_killed(unsigned retries)
{
    test_redis s;
    char url[256];
    slow_arg a;
    setup_slow(&s, url, sizeof url, "p4", &a, 1.0);
    worker w = start_worker(url, NULL);
    mt_pool *p = open_pool(url, retries);
    mt_future *f;
    cr_assert_eq(mt_pool_apply_async(p, slow, &a, sizeof a, &f), 0);
    pid_t pid, ppid;
    wait_started(a.path, 1, &pid, &ppid);
    cr_assert_eq(ppid, w.pid);
    kill(pid, SIGKILL);
    mt_iov v;
    int err = mt_future_result(f, 15, &v);
    if (retries) {
        cr_expect_eq(err, 0, "%s", mt_err_name(err));
        cr_expect_eq(count_lines(a.path), 2);
        cr_expect_neq(read_long(v.data), pid);
    } else {
        cr_expect_eq(err, MT_EWORKER, "%s", mt_err_name(err));
        cr_expect_eq(count_lines(a.path), 1);
    }
    mt_future_free(f);
    mt_pool_free(p);
    cr_expect_eq(stop_worker(&w), 0);
    test_redis_stop(&s);
}

LEAK_TEST(remote_pool, process_killed_fails, .timeout = 30)
{
    process_killed(0);
}

LEAK_TEST(remote_pool, process_killed_retried, .timeout = 30)
{
    process_killed(1);
}

/* A whole worker machine killed mid-call: after its heartbeat timeout the
 * call fails with MT_EWORKER, or, with retries, the other worker runs it.
 * (Both workers start before the pool: no fork once the test has threads.) */
static void machine_killed(unsigned retries)
{
    test_redis s;
    char url[256];
    slow_arg a;
    setup_slow(&s, url, sizeof url, "p5", &a, 1.5);
    mt_worker_opts wo = {.timeout = 1.0};
    worker ws[2] = {start_worker(url, &wo), start_worker(url, &wo)};
    mt_pool *p = open_pool(url, retries);
    mt_future *f;
    cr_assert_eq(mt_pool_apply_async(p, slow, &a, sizeof a, &f), 0);
    pid_t pid, ppid;
    wait_started(a.path, 1, &pid, &ppid);
    int dead = ppid == ws[1].pid;
    cr_assert(ppid == ws[dead].pid);
    kill_worker(&ws[dead]);
    double t0 = mt_monotonic();
    mt_iov v;
    int err = mt_future_result(f, 15, &v);
    double took = mt_monotonic() - t0;
    if (retries) {
        cr_expect_eq(err, 0, "%s", mt_err_name(err));
        cr_expect_eq(count_lines(a.path), 2);
    } else {
        cr_expect_eq(err, MT_EWORKER, "%s", mt_err_name(err));
        cr_expect(strstr(mt_future_error_message(f), "stopped beating") != NULL);
        /* the last beat came at most a quarter of the timeout before the kill */
        cr_expect_geq(took, 0.7, "failed after %.2f s, before the heartbeat expired", took);
        cr_expect_lt(took, 4.0, "failed after %.2f s", took);
        cr_expect_eq(count_lines(a.path), 1);
    }
    mt_future_free(f);
    mt_pool_free(p);
    cr_expect_eq(stop_worker(&ws[!dead]), 0);
    test_redis_stop(&s);
}

LEAK_TEST(remote_pool, machine_killed_fails, .timeout = 30)
{
    machine_killed(0);
}

LEAK_TEST(remote_pool, machine_killed_retried, .timeout = 30)
{
    machine_killed(1);
}

/* A worker stopped (SIGSTOP: cut off) longer than its timeout, then
 * continued: its calls were failed (or, with retries, run elsewhere), and
 * its late answers change no future. */
static void partition(unsigned retries)
{
    test_redis s;
    char url[256];
    slow_arg a;
    setup_slow(&s, url, sizeof url, "p6", &a, 0.6);
    mt_worker_opts wo = {.timeout = 1.0};
    worker w1 = start_worker(url, &wo), w2 = start_worker(url, &wo);
    mt_pool *p = open_pool(url, retries);
    enum { N = 8 };
    mt_future *fs[N];
    for (int i = 0; i < N; i++)
        cr_assert_eq(mt_pool_apply_async(p, slow, &a, sizeof a, &fs[i]), 0);
    pid_t pid, ppid;
    wait_started(a.path, 2, &pid, &ppid);
    /* the worker running the first call to start is cut off */
    cr_assert(ppid == w1.pid || ppid == w2.pid);
    kill(-ppid, SIGSTOP);
    mt_sleep(2.5);
    kill(-ppid, SIGCONT);
    int errs[N], failed = 0;
    long vals[N];
    for (int i = 0; i < N; i++) {
        mt_iov v;
        errs[i] = mt_future_result(fs[i], 15, &v);
        vals[i] = errs[i] == 0 ? read_long(v.data) : 0;
        if (retries)
            cr_expect_eq(errs[i], 0, "call %d: %s", i, mt_err_name(errs[i]));
        else
            cr_expect(errs[i] == 0 || errs[i] == MT_EWORKER, "call %d: %s", i,
                      mt_err_name(errs[i]));
        failed += errs[i] == MT_EWORKER;
    }
    if (!retries)
        cr_expect_gt(failed, 0, "no call of the stopped worker failed");
    /* the stopped worker's late answers arrive now: nothing changes */
    mt_sleep(1.5);
    for (int i = 0; i < N; i++) {
        mt_iov v;
        int err = mt_future_result(fs[i], 0, &v);
        cr_expect_eq(err, errs[i]);
        if (err == 0)
            cr_expect_eq(read_long(v.data), vals[i]);
        mt_future_free(fs[i]);
    }
    mt_pool_free(p);
    cr_expect_eq(stop_worker(&w1), 0);
    cr_expect_eq(stop_worker(&w2), 0);
    test_redis_stop(&s);
}

LEAK_TEST(remote_pool, partition_heals, .timeout = 40)
{
    partition(0);
}

LEAK_TEST(remote_pool, partition_retried, .timeout = 40)
{
    partition(1);
}

/* A wrong password: MT_EAUTH for the client and the worker; no secret in
 * any message. */
LEAK_TEST(remote_pool, wrong_password, .timeout = 30)
{
    const char *extra[] = {"--requirepass", "right-secret", NULL};
    test_redis s;
    test_redis_start(&s, extra);
    char url[256];
    snprintf(url, sizeof url, "redis+unix://:wrong-secret@%s/p7", s.sock);
    mt_pool *p = NULL;
    cr_expect_eq(mt_pool_new(&p, &(mt_pool_opts){.redis = url}), MT_EAUTH);
    cr_expect_null(p);
    cr_expect_eq(mt_worker_main(url, NULL), MT_EAUTH);
    cr_expect(!strstr(mt_strerror(MT_EAUTH), "secret"));
    snprintf(url, sizeof url, "redis+unix://:right-secret@%s/p7", s.sock);
    worker w = start_worker(url, NULL);
    p = open_pool(url, 0);
    long x = 3;
    mt_buf out = MT_BUF_INIT;
    cr_expect_eq(mt_pool_apply(p, square, &x, sizeof x, &out), 0);
    mt_buf_free(&out);
    mt_pool_free(p);
    cr_expect_eq(stop_worker(&w), 0);
    s.password = "right-secret";
    test_redis_stop(&s);
}

/* The server killed and restarted mid-map: every call is answered, with
 * the right result (appendfsync always: nothing acknowledged is lost). */
LEAK_TEST(remote_pool, server_restart, .timeout = 60)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "p8");
    worker w = start_worker(url, NULL);
    mt_pool *p = open_pool(url, 0);
    enum { N = 60 };
    mt_future *fs[N];
    slow_arg a = {.seconds = 0.05};
    for (int i = 0; i < N; i++)
        cr_assert_eq(mt_pool_apply_async(p, slow, &a, sizeof a, &fs[i]), 0);
    mt_sleep(0.4);
    test_redis_kill(&s);
    mt_sleep(0.3);
    test_redis_restart(&s);
    for (int i = 0; i < N; i++) {
        int err = mt_future_result(fs[i], 30, NULL);
        cr_expect_eq(err, 0, "call %d: %s", i, mt_err_name(err));
        mt_future_free(fs[i]);
    }
    long x = 4;
    mt_buf out = MT_BUF_INIT;
    cr_expect_eq(mt_pool_apply(p, square, &x, sizeof x, &out), 0);
    mt_buf_free(&out);
    mt_pool_free(p);
    cr_expect_eq(stop_worker(&w), 0);
    test_redis_stop(&s);
}

/* examples/remote_pool.c: the same program as worker (--worker, until
 * SIGTERM) and as client. */
LEAK_TEST(remote_pool, example_program, .timeout = 60)
{
    const char *dir = getenv("MT_EXAMPLES_DIR");
    char exe[512];
    snprintf(exe, sizeof exe, "%s/remote_pool", dir ? dir : "");
    if (!dir || access(exe, X_OK) != 0)
        cr_skip_test("the examples are not built");
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256], cmd[1024];
    url_of(url, sizeof url, &s, "ex");
    fflush(NULL);
    pid_t w = fork();
    cr_assert(w >= 0);
    if (w == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execl(exe, exe, "--worker", url, (char *)NULL);
        _exit(127);
    }
    snprintf(cmd, sizeof cmd, "'%s' '%s'", exe, url);
    FILE *out = popen(cmd, "r");
    cr_assert(out);
    char line[256];
    int ran = 0, sums = 0;
    while (fgets(line, sizeof line, out)) {
        sums += strcmp(line, "sum of the squares of 1..20: 2870\n") == 0;
        ran += strncmp(line, "call ", 5) == 0 && strstr(line, " ran on ") != NULL;
    }
    cr_expect_eq(pclose(out), 0);
    cr_expect_eq(sums, 1);
    cr_expect_eq(ran, 4);
    kill(w, SIGTERM);
    int status = 0;
    cr_assert_eq(waitpid(w, &status, 0), w);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker status %#x", status);
    test_redis_stop(&s);
}
