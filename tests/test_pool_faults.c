/*
 * test_pool_faults.c - what breaks a process pool: workers killed by signals,
 * crashing or exiting inside a task, failing initializers, a killed parent.
 * Python's Pool hangs on most of these; ours fails only the task that was
 * running and serves on at full size.
 */
#define _GNU_SOURCE
#include "pool_tasks.h"

#include <fcntl.h>
#include <stdio.h>

#include "../src/pool/pool_shm.h"

__attribute__((constructor)) static void spawn_entry(void)
{
    mt_init(0, NULL);
}

/* Wait until the pool has `n` workers again (a replacement was started). */
static void expect_size(mt_pool *p, int n)
{
    double t0 = mt_monotonic();
    while (mt_pool_worker_pids(p, NULL, 0) != n && mt_monotonic() - t0 < 10)
        mt_sleep(0.005);
    cr_expect_eq(mt_pool_worker_pids(p, NULL, 0), n, "the pool did not get back to full size");
}

static void expect_task_dies(mt_fn *fn, const char *how)
{
    mt_pool *p = new_pool(2);
    mt_future *f;
    cr_assert_eq(mt_pool_apply_async(p, fn, NULL, 0, &f), 0);
    cr_expect_eq(mt_future_result(f, 30, NULL), MT_EWORKER);
    const char *msg = mt_future_error_message(f);
    cr_expect(strstr(msg, "worker") && strstr(msg, "PoolWorker"), "message: %s", msg);
    cr_expect(strstr(msg, how), "message '%s' lacks '%s'", msg, how);
    mt_future_free(f);
    expect_size(p, 2);
    long x = 9;
    mt_buf out = MT_BUF_INIT;
    cr_expect_eq(mt_pool_apply(p, square, &x, sizeof x, &out), 0, "the pool serves on");
    cr_expect_eq(read_long(out.data), 81);
    mt_buf_free(&out);
    end_pool(p);
}

LEAK_TEST(faults, task_killed_by_sigkill, .timeout = 60)
{
    expect_task_dies(kill_myself, "killed by signal 9");
}

LEAK_TEST(faults, task_segfaults, .timeout = 60)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    /* The sanitizers catch the SIGSEGV themselves and exit with a status. */
    expect_task_dies(segfault, "worker");
#else
    expect_task_dies(segfault, "killed by signal 11");
#endif
}

LEAK_TEST(faults, task_calls_exit, .timeout = 60)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    /* The sanitizers' exit-time checks may change the status. */
    expect_task_dies(exit_three, "exited with status");
#else
    expect_task_dies(exit_three, "exited with status 3");
#endif
}

/* ---- a task that cuts its worker off from the pool ----------------------- */

/* After a nap (so that the parent is asleep when the result comes), close
 * every fd from 3 up, as a daemon does, then open `how` files that may take
 * the closed numbers; for `how` -1 close only 3..1023, as a daemon that
 * assumes the usual limit does. */
static int close_every_fd(const void *arg, size_t len, mt_buf *out)
{
    long how = len == sizeof(long) ? read_long(arg) : 0;
    long top = how < 0 ? 1024 : sysconf(_SC_OPEN_MAX);
    mt_sleep(0.05);
    for (long fd = 3; fd < top; fd++)
        close((int)fd);
    for (long i = 0; i < how; i++)
        (void)!open("/dev/null", O_RDWR);
    return mt_buf_append(out, "done", 4);
}

/* The program: it hung for ever. The worker keeps its fds near the
 * top of the fd table, so with a limit above 1024 it is not even cut off. */
LEAK_TEST(faults, a_task_that_closes_fds_3_to_1023_does_not_hang_the_pool, .timeout = 30)
{
    mt_pool *p = new_pool(2);
    long how = -1;
    mt_buf out = MT_BUF_INIT;
    int err = mt_pool_apply(p, close_every_fd, &how, sizeof how, &out);
    mt_buf_append(&out, "", 1);
    if (sysconf(_SC_OPEN_MAX) > 1024)
        cr_expect_eq(err, 0, "%s", out.data);
    else
        cr_expect(err == MT_EWORKER && strstr(out.data, "lost its connection"), "%d: %s", err,
                  out.data);
    mt_buf_free(&out);
    expect_size(p, 2);
    long x = 5;
    cr_expect_eq(mt_pool_apply(p, square, &x, sizeof x, NULL), 0, "the pool serves on");
    end_pool(p);
}

static void expect_cut_off(long how)
{
    mt_pool *p = new_pool(2);
    mt_buf out = MT_BUF_INIT;
    cr_expect_eq(mt_pool_apply(p, close_every_fd, &how, sizeof how, &out), MT_EWORKER);
    mt_buf_append(&out, "", 1);
    cr_expect(strstr(out.data, "PoolWorker") && strstr(out.data, "lost its connection") &&
                  strstr(out.data, "file descriptor"),
              "message: %s", out.data);
    mt_buf_free(&out);
    expect_size(p, 2);
    long x = 7;
    mt_buf res = MT_BUF_INIT;
    cr_expect_eq(mt_pool_apply(p, square, &x, sizeof x, &res), 0, "the pool serves on");
    cr_expect_eq(res.len, sizeof x);
    if (res.len == sizeof x)
        cr_expect_eq(read_long(res.data), 49);
    mt_buf_free(&res);
    end_pool(p);
}

LEAK_TEST(faults, a_task_that_closes_every_fd_fails_and_is_replaced, .timeout = 30)
{
    expect_cut_off(0);
}

LEAK_TEST(faults, a_task_that_reuses_the_closed_fds_fails_and_is_replaced, .timeout = 30)
{
    expect_cut_off(8);
}

/* In a chunk: which item did it is not known, so the whole chunk fails. */
static int close_every_fd_on_5(const void *arg, size_t len, mt_buf *out)
{
    if (read_long(arg) == 5)
        return close_every_fd(NULL, 0, out);
    return square(arg, len, out);
}

/* Map 0..n-1 with chunks of `chunksize`: items [lo, hi) fail with MT_EWORKER,
 * the others give their squares, and the pool gets back to its size. */
static void expect_map_fails_chunk(mt_fn *fn, size_t n, size_t chunksize, size_t lo,
                                   size_t hi)
{
    mt_pool *p = new_pool(2);
    long items[64];
    cr_assert_leq(n, 64);
    for (size_t i = 0; i < n; i++)
        items[i] = (long)i;
    mt_results *r;
    cr_expect_eq(mt_pool_map(p, fn, items, n, sizeof(long), &(mt_map_opts){.chunksize = chunksize},
                             &r),
                 MT_EWORKER);
    for (size_t i = 0; i < n; i++) {
        mt_iov v;
        int err = mt_results_get(r, i, &v);
        cr_expect_eq(err, i >= lo && i < hi ? MT_EWORKER : 0, "item %zu", i);
        if (err == 0)
            cr_expect_eq(read_long(v.data), (long)(i * i), "item %zu", i);
    }
    mt_results_free(r);
    expect_size(p, 2);
    end_pool(p);
}

LEAK_TEST(faults, a_chunk_that_closes_every_fd_fails_whole, .timeout = 30)
{
    expect_map_fails_chunk(close_every_fd_on_5, 12, 4, 4, 8);
}

/* ---- a task that scribbles over its worker's result ring --------------- */

/* The pool's shared memory as this worker mapped it, found by its name. */
static mt__shm_header *pool_memory(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long lo = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, "/memfd:multitask-pool") && sscanf(line, "%lx-", &lo) == 1)
            break;
    if (f)
        fclose(f);
    return (mt__shm_header *)lo;
}

/* The ring of the worker running the one job in flight. */
static mt__shm_ring *my_ring(mt__shm_header *h)
{
    for (uint32_t s = 0; s < h->nslots; s++) {
        uint64_t st = atomic_load(&shm_slots(h)[s].state);
        if (state_phase(st) == SLOT_RUNNING)
            return shm_result_ring(h, state_worker(st));
    }
    return NULL;
}

/* Publish `hdr` as if the worker had, claiming `claimed` bytes of the ring,
 * and return: the worker's own record for the task follows it. The parent
 * must stop this worker rather than believe either. */
static int publish_bogus(mt__rec_hdr hdr, uint64_t claimed)
{
    mt__shm_header *h = pool_memory();
    mt__shm_ring *r = h ? my_ring(h) : NULL;
    if (!r)
        return 1;
    uint64_t tail = atomic_load(&r->tail);
    memcpy(r->data + tail % RESULT_RING_BYTES, &hdr, sizeof hdr);
    atomic_store(&r->tail, tail + claimed);
    return 0;
}

static int record_of_size_zero(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    /* Once made the parent spin for ever with the pool's lock held. */
    return publish_bogus((mt__rec_hdr){.kind = REC_RESULT, .size = 0}, 8);
}

static int body_past_the_record(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    return publish_bogus((mt__rec_hdr){.kind = REC_RESULT, .size = sizeof(mt__rec_hdr),
                                   .body = 1u << 30},
                         sizeof(mt__rec_hdr));
}

static int tail_far_ahead(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    return publish_bogus((mt__rec_hdr){.kind = REC_RESULT, .size = sizeof(mt__rec_hdr)},
                         3ull * RESULT_RING_BYTES);
}

LEAK_TEST(faults, malformed_result_records_stop_the_worker, .timeout = 60)
{
    expect_task_dies(record_of_size_zero, "malformed result record");
    expect_task_dies(body_past_the_record, "malformed result record");
    expect_task_dies(tail_far_ahead, "malformed result record");
}

/* A chunk whose entries point past its data: the parent would hand the
 * caller views of memory outside the record. */
static int chunk_entries_out_of_bounds(const void *arg, size_t len, mt_buf *out)
{
    mt__shm_header *h = pool_memory();
    mt__shm_ring *r = h ? my_ring(h) : NULL;
    if (!r)
        return 1;
    uint32_t slot = 0;
    for (uint32_t s = 0; s < h->nslots; s++)
        if (state_phase(atomic_load(&shm_slots(h)[s].state)) == SLOT_RUNNING)
            slot = s;
    uint64_t st = atomic_load(&shm_slots(h)[slot].state);
    uint32_t nitems = shm_slots(h)[slot].nitems;
    uint64_t body = (uint64_t)nitems * sizeof(mt__rec_entry);
    mt__rec_hdr hdr = {.kind = REC_RESULT, .slot = slot, .gen = state_gen(st), .nitems = nitems,
                   .body = body, .size = (uint32_t)(sizeof hdr + body)};
    uint64_t tail = atomic_load(&r->tail);
    char *at = r->data + tail % RESULT_RING_BYTES;
    memcpy(at, &hdr, sizeof hdr);
    for (uint32_t i = 0; i < nitems; i++) {
        mt__rec_entry e = {.end = 1u << 20};
        memcpy(at + sizeof hdr + i * sizeof e, &e, sizeof e);
    }
    atomic_store(&r->tail, tail + hdr.size);
    return mt_buf_append(out, arg, len);
}

LEAK_TEST(faults, chunk_with_entries_past_its_data_fails_as_a_crash, .timeout = 60)
{
    mt_pool *p = new_pool(1);
    long items[4] = {1, 2, 3, 4};
    mt_results *res;
    mt_map_opts one_chunk = {.chunksize = 4};
    cr_assert_eq(mt_pool_map(p, chunk_entries_out_of_bounds, items, 4, sizeof items[0],
                             &one_chunk, &res),
                 MT_EWORKER);
    for (size_t i = 0; i < 4; i++) {
        mt_iov v;
        int rc = mt_results_get(res, i, &v);
        cr_expect(rc == MT_EWORKER, "item %zu: %d", i, rc);
        cr_expect(rc != 0 || v.len <= sizeof(long), "a view past the record");
    }
    mt_results_free(res);
    expect_size(p, 1);
    end_pool(p);
}

LEAK_TEST(faults, worker_killed_from_outside_mid_task, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    double s = 30;
    mt_future *f;
    mt_pool_apply_async(p, nap, &s, sizeof s, &f);
    pid_t pids[2];
    mt_pool_worker_pids(p, pids, 2);
    mt_sleep(0.1);
    /* Whichever worker took it: kill both, the idle one must simply be replaced. */
    kill(pids[0], SIGKILL);
    kill(pids[1], SIGKILL);
    cr_expect_eq(mt_future_result(f, 10, NULL), MT_EWORKER);
    mt_future_free(f);
    /* Both get replaced: two workers, neither of them an old one. */
    pid_t now[2] = {pids[0], pids[1]};
    double t0 = mt_monotonic();
    while (mt_monotonic() - t0 < 10) {
        if (mt_pool_worker_pids(p, now, 2) == 2 && now[0] != pids[0] && now[0] != pids[1] &&
            now[1] != pids[0] && now[1] != pids[1])
            break;
        mt_sleep(0.005);
    }
    cr_expect(now[0] != pids[0] && now[0] != pids[1] && now[1] != pids[0] && now[1] != pids[1]);
    end_pool(p);
}

LEAK_TEST(faults, work_queued_behind_a_dead_worker_still_runs, .timeout = 60)
{
    mt_pool *p = new_pool(1);
    long items[40];
    for (long i = 0; i < 40; i++)
        items[i] = i;
    mt_results *r;
    cr_expect_eq(
        mt_pool_map(p, die_on_13, items, 40, sizeof(long), &(mt_map_opts){.chunksize = 1}, &r),
        MT_EWORKER);
    for (size_t i = 0; i < 40; i++) {
        mt_iov v;
        int err = mt_results_get(r, i, &v);
        if (i == 13) {
            cr_expect_eq(err, MT_EWORKER);
        } else {
            cr_expect_eq(err, 0, "item %zu", i);
            cr_expect_eq(read_long(v.data), (long)(i * i));
        }
    }
    mt_results_free(r);
    end_pool(p);
}

LEAK_TEST(faults, a_crash_in_a_chunk_fails_only_its_item, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    long items[100];
    for (long i = 0; i < 100; i++)
        items[i] = i;
    mt_results *r;
    cr_expect_eq(mt_pool_map(p, die_on_13, items, 100, sizeof(long),
                             &(mt_map_opts){.chunksize = 10}, &r),
                 MT_EWORKER);
    for (size_t i = 0; i < 100; i++) {
        mt_iov v;
        int err = mt_results_get(r, i, &v);
        if (i == 13) {
            cr_expect_eq(err, MT_EWORKER);
            cr_expect(v.len && memmem(v.data, v.len, "killed by signal 9", 18), "item 13: %.*s",
                      (int)v.len, (const char *)v.data);
        } else {
            cr_expect_eq(err, 0, "item %zu", i);
            cr_expect_eq(read_long(v.data), (long)(i * i), "item %zu", i);
        }
    }
    mt_results_free(r);
    end_pool(p);
}

/* Kill the worker on 13 and on 17: two deaths in one chunk. */
static int die_on_13_or_17(const void *arg, size_t len, mt_buf *out)
{
    if (read_long(arg) == 17)
        raise(SIGKILL);
    return die_on_13(arg, len, out);
}

LEAK_TEST(faults, a_chunk_that_crashes_twice_fails_whole, .timeout = 60)
{
    expect_map_fails_chunk(die_on_13_or_17, 30, 10, 10, 20);
}

LEAK_TEST(faults, many_crashes_in_a_row, .timeout = 120)
{
    mt_pool *p = new_pool(2);
    enum { N = 30 };
    mt_future *f[N];
    for (int i = 0; i < N; i++) {
        long x = i % 3 == 0 ? 13 : 1000 + i;
        cr_assert_eq(mt_pool_apply_async(p, die_on_13, &x, sizeof x, &f[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        cr_expect_eq(mt_future_result(f[i], 60, NULL), i % 3 == 0 ? MT_EWORKER : 0, "task %d", i);
        mt_future_free(f[i]);
    }
    expect_size(p, 2);
    end_pool(p);
}

/* The longs 10..39, one a call: item 3 is 13, which kills its worker. */
static int count_from_10(void *ctx, mt_buf *item)
{
    long *made = ctx, x = 10 + *made;
    if (*made == 30)
        return MT_EOF;
    ++*made;
    return mt_buf_append(item, &x, sizeof x);
}

/*
 * A closed pool that still feeds a streaming map replaces a worker that
 * died, though nothing else was queued then: the items still to come need
 * one. Here the only worker runs items 1..3 while the caller waits, and dies
 * on item 3 with nothing behind it.
 */
LEAK_TEST(faults, a_closed_pool_replaces_a_worker_its_imap_fn_needs, .timeout = 60)
{
    mt_pool *p = new_pool(1);
    long made = 0;
    mt_imap *it;
    cr_assert_eq(mt_pool_imap_fn(p, die_on_13, count_from_10, &made, &(mt_map_opts){.max_inflight = 4}, &it),
                 0);
    cr_assert_eq(mt_pool_close(p), 0);
    for (long i = 0; i < 30; i++) {
        size_t index;
        mt_iov v;
        int err = mt_imap_next(it, 20, &index, &v);
        cr_assert_eq(err, i == 3 ? MT_EWORKER : 0, "item %ld", i);
        cr_assert_eq(index, (size_t)i);
        if (err == 0)
            cr_expect_eq(read_long(v.data), (10 + i) * (10 + i));
        if (i == 0)
            mt_sleep(0.5); /* the worker runs on to item 3 and dies */
    }
    cr_expect_eq(mt_imap_next(it, 1, NULL, NULL), MT_EOF);
    mt_imap_free(it);
    cr_expect_eq(mt_pool_join(p, 30), 0);
    mt_pool_free(p);
}

LEAK_TEST(faults, failing_initializer_fails_creation, .timeout = 60)
{
    mt_pool *p = NULL;
    cr_expect_eq(mt_pool_new(&p, &(mt_pool_opts){.processes = 2, .initializer = refuse_init}),
                 -EACCES);
    cr_expect_null(p);
}

LEAK_TEST(faults, crashing_initializer_fails_creation, .timeout = 60)
{
    mt_pool *p = NULL;
    cr_expect_eq(mt_pool_new(&p, &(mt_pool_opts){.processes = 2, .initializer = kill_myself}),
                 MT_EBROKEN);
    cr_expect_null(p);
}

/* In a child: make a pool, report its worker pids, then wait to be killed. */
static int pool_then_wait(const void *arg, size_t len, mt_buf *out)
{
    (void)len, (void)out;
    int fd = *(const int *)arg;
    mt_pool *p;
    if (mt_pool_new(&p, &(mt_pool_opts){.processes = 2}) < 0) return -EIO;
    pid_t pids[2];
    mt_pool_worker_pids(p, pids, 2);
    if (write(fd, pids, sizeof pids) != sizeof pids) return -EIO;
    mt_sleep(60);
    return 0;
}

LEAK_TEST(faults, workers_die_with_a_killed_parent, .timeout = 60)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    mt_process *parent;
    mt_process_new(&parent, pool_then_wait, &fds[1], sizeof fds[1], NULL);
    mt_process_start(parent);
    close(fds[1]);
    pid_t pids[2];
    cr_assert_eq(read(fds[0], pids, sizeof pids), (ssize_t)sizeof pids);
    close(fds[0]);
    cr_assert(pid_alive(pids[0]) && pid_alive(pids[1]));
    mt_process_kill(parent);
    mt_process_join(parent, 10);
    double t0 = mt_monotonic();
    while ((pid_alive(pids[0]) || pid_alive(pids[1])) && mt_monotonic() - t0 < 1.0)
        mt_sleep(0.01);
    cr_expect_not(pid_alive(pids[0]) || pid_alive(pids[1]), "workers outlived their parent");
    mt_process_free(parent);
}

LEAK_TEST(faults, spawned_worker_crash, .timeout = 60)
{
    mt_pool *p;
    cr_assert_eq(mt_pool_new(&p, &(mt_pool_opts){.processes = 2, .start_method = MT_START_SPAWN}),
                 0);
    mt_future *f;
    mt_pool_apply_async(p, kill_myself, NULL, 0, &f);
    cr_expect_eq(mt_future_result(f, 30, NULL), MT_EWORKER);
    mt_future_free(f);
    expect_size(p, 2);
    long x = 6;
    mt_buf out = MT_BUF_INIT;
    cr_expect_eq(mt_pool_apply(p, square, &x, sizeof x, &out), 0);
    mt_buf_free(&out);
    end_pool(p);
}

LEAK_TEST(faults, terminate_during_map, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    double naps[50];
    for (int i = 0; i < 50; i++)
        naps[i] = 0.05;
    mt_imap *it;
    cr_assert_eq(
        mt_pool_imap(p, nap, naps, 50, sizeof(double), &(mt_map_opts){.chunksize = 1}, &it), 0);
    cr_assert_eq(mt_imap_next(it, 10, NULL, NULL), 0);
    mt_pool_terminate(p);
    int ok = 0, cancelled = 0, err;
    while ((err = mt_imap_next(it, 10, NULL, NULL)) != MT_EOF) {
        ok += err == 0;
        cancelled += err == -ECANCELED;
    }
    cr_expect_gt(cancelled, 0);
    cr_expect_eq(ok + cancelled, 49);
    mt_imap_free(it);
    cr_expect_eq(mt_pool_join(p, 10), 0);
    mt_pool_free(p);
}
