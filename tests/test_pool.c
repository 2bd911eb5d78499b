/*
 * test_pool.c - the process pool doing its work: apply, map and friends,
 * chunking, large arguments and results, the life cycle, bad arguments, and
 * the spawn start method.
 */
#define _GNU_SOURCE
#include "pool_tasks.h"

#include <math.h>
#include <poll.h>

/* Spawned workers re-execute this binary: catch them before Criterion's main. */
__attribute__((constructor)) static void spawn_entry(void)
{
    mt_init(0, NULL);
}

LEAK_TEST(pool, apply_async_and_apply, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    cr_expect_eq(mt_pool_processes(p), 2);
    long x = 12;
    mt_future *f;
    cr_assert_eq(mt_pool_apply_async(p, square, &x, sizeof x, &f), 0);
    mt_iov r;
    cr_assert_eq(mt_future_result(f, 10, &r), 0);
    cr_expect_eq(read_long(r.data), 144);
    mt_future_free(f);

    mt_buf out = MT_BUF_INIT;
    cr_expect_eq(mt_pool_apply(p, square, &x, sizeof x, &out), 0);
    cr_expect_eq(read_long(out.data), 144);
    mt_buf_reset(&out);
    cr_expect_eq(mt_pool_apply(p, square, "abc", 3, &out), -EINVAL);
    cr_expect_eq(strncmp(out.data, "want 8 bytes, got 3", out.len), 0);
    mt_buf_free(&out);
    end_pool(p);
}

LEAK_TEST(pool, many_futures_all_complete, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    enum { N = 2000 };
    mt_future *f[N];
    for (long i = 0; i < N; i++)
        cr_assert_eq(mt_pool_apply_async(p, square, &i, sizeof i, &f[i]), 0);
    for (long i = 0; i < N; i++) {
        mt_iov r;
        cr_assert_eq(mt_future_result(f[i], 30, &r), 0);
        cr_expect_eq(read_long(r.data), i * i);
        mt_future_free(f[i]);
    }
    end_pool(p);
}

static void count_done(mt_future *f, void *arg)
{
    if (mt_future_result(f, 0, NULL) == 0) __atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
}

LEAK_TEST(pool, done_callbacks_fire_without_waiting, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    int done = 0;
    enum { N = 50 };
    mt_future *f[N];
    for (long i = 0; i < N; i++) {
        mt_pool_apply_async(p, square, &i, sizeof i, &f[i]);
        mt_future_add_done_callback(f[i], count_done, &done);
    }
    /* Nobody waits on the futures: the supervisor must finish them. */
    double t0 = mt_monotonic();
    while (__atomic_load_n(&done, __ATOMIC_SEQ_CST) < N && mt_monotonic() - t0 < 20)
        mt_sleep(0.001);
    cr_expect_eq(__atomic_load_n(&done, __ATOMIC_SEQ_CST), N);
    for (int i = 0; i < N; i++)
        mt_future_free(f[i]);
    end_pool(p);
}

typedef struct chain {
    mt_pool *p;
    mt_future *next;
    long got;
    int done;
} chain;

/* A done callback that uses the pool: submits more work, chained. */
static void submit_more(mt_future *f, void *arg)
{
    (void)f;
    chain *c = arg;
    long x = 5;
    c->got = mt_pool_apply_async(c->p, square, &x, sizeof x, &c->next);
    __atomic_store_n(&c->done, 1, __ATOMIC_SEQ_CST);
}

LEAK_TEST(pool, done_callbacks_may_use_the_pool, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    chain c = {.p = p};
    double s = 0.2; /* still running when the callback is added */
    mt_future *f;
    cr_assert_eq(mt_pool_apply_async(p, nap, &s, sizeof s, &f), 0);
    cr_assert_eq(mt_future_add_done_callback(f, submit_more, &c), 0);
    double t0 = mt_monotonic();
    while (!__atomic_load_n(&c.done, __ATOMIC_SEQ_CST) && mt_monotonic() - t0 < 20)
        mt_sleep(0.001);
    cr_assert(__atomic_load_n(&c.done, __ATOMIC_SEQ_CST), "the callback never finished");
    cr_assert_eq(c.got, 0);
    mt_iov r;
    cr_expect_eq(mt_future_result(c.next, 10, &r), 0);
    cr_expect_eq(read_long(r.data), 25);
    cr_expect_eq(mt_future_result(f, 10, NULL), 0);
    mt_future_free(c.next);
    mt_future_free(f);
    end_pool(p);
}

LEAK_TEST(pool, map_in_order_with_any_chunksize, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    enum { N = 10007 };
    static long items[N], got[N];
    for (long i = 0; i < N; i++)
        items[i] = i - 5000;
    size_t sizes[] = {0, 1, 3, 64, 5000, N, N * 2};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        mt_results *r;
        cr_assert_eq(mt_pool_map(p, square, items, N, sizeof(long),
                                 &(mt_map_opts){.chunksize = sizes[k]}, &r),
                     0, "chunksize %zu", sizes[k]);
        cr_expect_eq(mt_results_len(r), N);
        cr_assert_eq(mt_results_copy(r, got, sizeof(long)), 0);
        for (long i = 0; i < N; i++)
            cr_assert_eq(got[i], items[i] * items[i], "item %ld, chunksize %zu", i, sizes[k]);
        mt_iov v;
        cr_expect_eq(mt_results_get(r, N, &v), -ERANGE);
        cr_expect_eq(mt_results_copy(r, got, 4), -EMSGSIZE);
        mt_results_free(r);
    }
    mt_results *empty;
    cr_expect_eq(mt_pool_map(p, square, NULL, 0, sizeof(long), NULL, &empty), 0);
    cr_expect_eq(mt_results_len(empty), 0);
    mt_results_free(empty);
    end_pool(p);
}

LEAK_TEST(pool, map_reports_item_errors, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    long items[] = {2, 4, 7, 8, 9};
    mt_results *r;
    cr_expect_eq(mt_pool_map(p, fail_odd, items, 5, sizeof(long), NULL, &r), -EDOM,
                 "map returns the first failure, as Python raises it");
    mt_iov v;
    cr_expect_eq(mt_results_get(r, 1, &v), 0);
    cr_expect_eq(read_long(v.data), 4);
    cr_expect_eq(mt_results_get(r, 2, &v), -EDOM);
    cr_expect_eq(v.len, strlen("7 is odd"));
    cr_expect_eq(memcmp(v.data, "7 is odd", v.len), 0);
    cr_expect_eq(mt_results_get(r, 3, &v), 0);
    cr_expect_eq(mt_results_get(r, 4, &v), -EDOM);
    mt_results_free(r);
    end_pool(p);
}

LEAK_TEST(pool, a_late_odd_result_in_a_big_chunk, .timeout = 60)
{
    /* 70,000 empty results, then one error: the record's per-item table
     * appears only at the end, and must still find room. */
    mt_pool *p = new_pool(2);
    enum { N = 70000 };
    char *items = calloc(N, 1);
    items[N - 1] = 1;
    mt_results *r;
    cr_assert_eq(mt_pool_map(p, empty_unless_marked, items, N, 1,
                             &(mt_map_opts){.chunksize = N}, &r),
                 -EDOM);
    mt_iov v;
    cr_expect_eq(mt_results_get(r, 0, &v), 0);
    cr_expect_eq(v.len, 0);
    cr_expect_eq(mt_results_get(r, N - 2, &v), 0);
    cr_expect_eq(mt_results_get(r, N - 1, &v), -EDOM);
    cr_expect_eq(v.len, 6);
    mt_results_free(r);
    /* The default chunking of a million one-byte items, the odd one late. */
    char *many = calloc(1000000, 1);
    many[65535] = 1;
    cr_assert_eq(mt_pool_map(p, empty_unless_marked, many, 1000000, 1, NULL, &r), -EDOM);
    cr_expect_eq(mt_results_get(r, 65535, &v), -EDOM);
    cr_expect_eq(mt_results_get(r, 65536, &v), 0);
    mt_results_free(r);
    free(many);
    free(items);
    end_pool(p);
}

LEAK_TEST(pool, workers_do_not_write_the_parents_buffers, .timeout = 60)
{
    char path[] = "/tmp/mt-test-flush-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs("one line\n", f); /* buffered, not yet written */
    mt_pool *p = new_pool(3);
    end_pool(p); /* the workers exit */
    fclose(f);
    f = fopen(path, "r");
    char buf[256] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    unlink(path);
    cr_expect_eq(n, strlen("one line\n"), "the file holds: %s", buf);
}

LEAK_TEST(pool, map_iov_of_any_sizes, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    enum { N = 300 };
    mt_iov items[N];
    char *bufs[N];
    for (int i = 0; i < N; i++) {
        size_t len = (size_t)(i * i * 13) % 70000; /* some above the 64 KiB slot */
        bufs[i] = malloc(len + 1);
        for (size_t k = 0; k < len; k++)
            bufs[i][k] = (char)(k + i);
        items[i] = (mt_iov){bufs[i], len};
    }
    mt_results *r;
    cr_assert_eq(mt_pool_map_iov(p, reverse, items, N, NULL, &r), 0);
    for (int i = 0; i < N; i++) {
        mt_iov v;
        cr_assert_eq(mt_results_get(r, (size_t)i, &v), 0);
        cr_assert_eq(v.len, items[i].len);
        size_t wrong = 0;
        for (size_t k = 0; k < v.len; k++)
            wrong += ((const char *)v.data)[k] != bufs[i][v.len - 1 - k];
        cr_assert_eq(wrong, 0, "item %d has %zu wrong bytes", i, wrong);
    }
    mt_results_free(r);
    for (int i = 0; i < N; i++)
        free(bufs[i]);
    end_pool(p);
}

LEAK_TEST(pool, starmap_packs_the_arguments, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    enum { N = 100 };
    long a[N], b[N], c[N];
    mt_iov args[N * 3];
    for (int i = 0; i < N; i++) {
        a[i] = i, b[i] = 10 * i, c[i] = 100 * i;
        args[i * 3] = (mt_iov){&a[i], sizeof(long)};
        args[i * 3 + 1] = (mt_iov){&b[i], sizeof(long)};
        args[i * 3 + 2] = (mt_iov){&c[i], sizeof(long)};
    }
    mt_results *r;
    cr_assert_eq(mt_pool_starmap(p, sum_args, args, N, 3, NULL, &r), 0);
    long sums[N];
    cr_assert_eq(mt_results_copy(r, sums, sizeof(long)), 0);
    for (int i = 0; i < N; i++)
        cr_expect_eq(sums[i], 111 * i);
    mt_results_free(r);
    end_pool(p);
}

LEAK_TEST(pool, imap_streams_in_order, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    enum { N = 5000 };
    static long items[N];
    for (long i = 0; i < N; i++)
        items[i] = i;
    mt_imap *it;
    cr_assert_eq(
        mt_pool_imap(p, square, items, N, sizeof(long), &(mt_map_opts){.chunksize = 7}, &it), 0);
    for (size_t i = 0; i < N; i++) {
        size_t index;
        mt_iov v;
        cr_assert_eq(mt_imap_next(it, 30, &index, &v), 0);
        cr_assert_eq(index, i);
        cr_assert_eq(read_long(v.data), (long)(i * i));
    }
    cr_expect_eq(mt_imap_next(it, 1, NULL, NULL), MT_EOF);
    cr_expect_eq(mt_imap_next(it, 1, NULL, NULL), MT_EOF);
    mt_imap_free(it);
    end_pool(p);
}

LEAK_TEST(pool, imap_unordered_yields_each_once, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    /* The first item sleeps longer, so completion order differs from item order:
     * one worker holds it while the other does the rest. */
    enum { N = 12 };
    double naps[N];
    for (int i = 0; i < N; i++)
        naps[i] = i == 0 ? 0.5 : 0.01;
    mt_imap *it;
    cr_assert_eq(mt_pool_imap(p, nap, naps, N, sizeof(double),
                              &(mt_map_opts){.chunksize = 1, .unordered = true}, &it),
                 0);
    bool seen[N] = {false};
    size_t first = N;
    for (int k = 0; k < N; k++) {
        size_t index;
        cr_assert_eq(mt_imap_next(it, 30, &index, NULL), 0);
        cr_assert_lt(index, N);
        cr_expect_not(seen[index], "item %zu twice", index);
        seen[index] = true;
        if (k == 0) first = index;
    }
    cr_expect_geq(first, 1, "a quick item should come before the slow first one");
    cr_expect_eq(mt_imap_next(it, 0, NULL, NULL), MT_EOF);
    mt_imap_free(it);
    end_pool(p);
}

/* ---- imap's chunk size, and imap over items made on demand -------------- */

/* Workers inherit these pipes (fork): `gate` holds tasks back until the test
 * lets them go, `ran` tells the test that a task has started. */
static int gate[2] = {-1, -1}, ran[2] = {-1, -1};

static void pipes_open(void)
{
    cr_assert_eq(pipe(gate), 0);
    cr_assert_eq(pipe(ran), 0);
}

static void pipes_close(void)
{
    close(gate[0]), close(gate[1]), close(ran[0]), close(ran[1]);
}

/* Wait (at most `s` seconds) for a byte on fd; true when one came. */
static bool byte_within(int fd, double s)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char c;
    return poll(&pfd, 1, (int)(s * 1000)) == 1 && read(fd, &c, 1) == 1;
}

/* Item 0 goes at once; the others wait for the gate. Returns the square. */
static int gated_square(const void *arg, size_t len, mt_buf *out)
{
    if (read_long(arg) != 0 && !byte_within(gate[0], 20))
        return mt_fail(out, -ETIMEDOUT, "the gate never opened");
    return square(arg, len, out);
}

LEAK_TEST(pool, imap_hands_out_one_item_at_a_time_by_default, .timeout = 60)
{
    pipes_open();
    mt_pool *p = new_pool(2);
    enum { N = 40 };
    long items[N];
    for (long i = 0; i < N; i++)
        items[i] = i;
    /* With the map rule item 0 would share a chunk with gated items and
     * its result would wait for theirs. */
    mt_imap *it;
    cr_assert_eq(mt_pool_imap(p, gated_square, items, N, sizeof(long), NULL, &it), 0);
    size_t index = N;
    mt_iov v;
    cr_expect_eq(mt_imap_next(it, 10, &index, &v), 0, "item 0 came not alone");
    cr_expect_eq(index, 0);
    char open[N];
    memset(open, 1, sizeof open);
    cr_assert_eq(write(gate[1], open, N - 1), N - 1);
    for (size_t i = 1; i < N; i++) {
        cr_assert_eq(mt_imap_next(it, 30, &index, &v), 0);
        cr_expect_eq(index, i);
        cr_expect_eq(read_long(v.data), (long)(i * i));
    }
    cr_expect_eq(mt_imap_next(it, 1, NULL, NULL), MT_EOF);
    mt_imap_free(it);
    end_pool(p);
    pipes_close();
}

/* A producer of the longs 0..n-1 that counts its calls; at item `wait_at`
 * it waits for item 0 to have started in a worker. */
typedef struct counting {
    long n, made, wait_at; /* wait_at 0: no waiting */
    bool item0_ran_while_making;
    int fail_with; /* returned instead of item n, when not 0 */
} counting;

static int make_long(void *ctx, mt_buf *item)
{
    counting *c = ctx;
    if (c->made == c->n)
        return c->fail_with ? c->fail_with : MT_EOF;
    if (c->wait_at && c->made == c->wait_at && byte_within(ran[0], 10))
        c->item0_ran_while_making = true;
    long x = c->made++;
    return mt_buf_append(item, &x, sizeof x);
}

/* Square, telling the test when item 0 starts. */
static int square_tell_0(const void *arg, size_t len, mt_buf *out)
{
    if (read_long(arg) == 0)
        (void)!write(ran[1], "r", 1);
    return square(arg, len, out);
}

LEAK_TEST(pool, imap_fn_starts_before_the_items_are_all_made, .timeout = 60)
{
    pipes_open();
    mt_pool *p = new_pool(2);
    counting c = {.n = 1000, .wait_at = 3};
    mt_imap *it;
    cr_assert_eq(mt_pool_imap_fn(p, square_tell_0, make_long, &c, &(mt_map_opts){.max_inflight = 16}, &it),
                 0);
    cr_expect(c.item0_ran_while_making, "item 0 did not run while items were being made");
    cr_expect_leq(c.made, 16, "more items made than the window holds");
    for (long i = 0; i < 1000; i++) {
        size_t index;
        mt_iov v;
        cr_assert_eq(mt_imap_next(it, 30, &index, &v), 0, "item %ld", i);
        cr_assert_eq(index, (size_t)i);
        cr_assert_eq(read_long(v.data), i * i);
        cr_assert_leq(c.made, i + 1 + 16, "the producer ran ahead of the window");
    }
    cr_expect_eq(c.made, 1000);
    cr_expect_eq(mt_imap_next(it, 1, NULL, NULL), MT_EOF);
    cr_expect_eq(mt_imap_next(it, 1, NULL, NULL), MT_EOF);
    mt_imap_free(it);
    end_pool(p);
    pipes_close();
}

/* Item 0 sleeps; the others are quick. */
static int slow_first(void *ctx, mt_buf *item)
{
    counting *c = ctx;
    if (c->made == c->n)
        return MT_EOF;
    double s = c->made++ == 0 ? 0.5 : 0.001;
    return mt_buf_append(item, &s, sizeof s);
}

LEAK_TEST(pool, imap_fn_unordered_yields_each_once, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    enum { N = 200 };
    counting c = {.n = N};
    mt_imap *it;
    cr_assert_eq(mt_pool_imap_fn(p, nap, slow_first, &c, &(mt_map_opts){.unordered = true, .chunksize = 3}, &it),
                 0);
    bool seen[N] = {false};
    size_t first = N, index;
    for (int k = 0; k < N; k++) {
        cr_assert_eq(mt_imap_next(it, 30, &index, NULL), 0);
        cr_assert_lt(index, N);
        cr_expect_not(seen[index], "item %zu twice", index);
        seen[index] = true;
        if (k == 0)
            first = index;
    }
    cr_expect_geq(first, 3, "a quick chunk should come before the slow first one");
    cr_expect_eq(mt_imap_next(it, 1, NULL, NULL), MT_EOF);
    mt_imap_free(it);
    end_pool(p);
}

/* Square the longs c->made.. made by make_long. */
static mt_imap *imap_squares(mt_pool *p, counting *c)
{
    mt_imap *it = NULL;
    cr_assert_eq(mt_pool_imap_fn(p, square, make_long, c, NULL, &it), 0);
    return it;
}

/* An absurd chunksize is cut to what the window can hold: the items still
 * come back, without a ring sized for 2^64 items. */
LEAK_TEST(pool, imap_fn_with_a_huge_chunksize, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    counting c = {.n = 20};
    mt_imap *it = NULL;
    cr_assert_eq(mt_pool_imap_fn(p, square, make_long, &c, &(mt_map_opts){.chunksize = SIZE_MAX}, &it), 0);
    size_t index;
    mt_iov out;
    long i = 0;
    int err;
    while ((err = mt_imap_next(it, 10, &index, &out)) == 0) {
        cr_expect_eq(index, (size_t)i);
        cr_expect_eq(read_long(out.data), i * i);
        i++;
    }
    cr_expect_eq(err, MT_EOF);
    cr_expect_eq(i, 20);
    mt_imap_free(it);
    end_pool(p);
}

/* Item i: i * 23 KiB of bytes (i * 7 + k) % 251, so some items go in a
 * memory file and the last chunk is part-filled. */
static int make_varied(void *ctx, mt_buf *item)
{
    long *made = ctx, i = *made;
    if (i == 10)
        return MT_EOF;
    ++*made;
    size_t len = (size_t)i * 23 * 1024;
    int err = mt_buf_reserve(item, len ? len : 1);
    for (size_t k = 0; err == 0 && k < len; k++)
        item->data[k] = (char)((i * 7 + (long)k) % 251);
    item->len = len;
    return err;
}

LEAK_TEST(pool, imap_fn_items_of_any_size_in_chunks, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    long made = 0;
    mt_imap *it;
    cr_assert_eq(mt_pool_imap_fn(p, reverse, make_varied, &made, &(mt_map_opts){.chunksize = 4, .max_inflight = 8}, &it),
                 0);
    for (long i = 0; i < 10; i++) {
        size_t index;
        mt_iov v;
        cr_assert_eq(mt_imap_next(it, 30, &index, &v), 0, "item %ld", i);
        cr_assert_eq(index, (size_t)i);
        cr_assert_eq(v.len, (size_t)i * 23 * 1024);
        for (size_t k = 0; k < v.len; k++)
            cr_assert_eq((unsigned char)((const char *)v.data)[v.len - 1 - k],
                         (unsigned char)((i * 7 + (long)k) % 251), "item %ld byte %zu", i, k);
    }
    cr_expect_eq(mt_imap_next(it, 1, NULL, NULL), MT_EOF);
    mt_imap_free(it);
    end_pool(p);
}

LEAK_TEST(pool, imap_fn_producer_error_comes_after_its_items, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    counting c = {.n = 5, .fail_with = -EIO};
    mt_imap *it = imap_squares(p, &c);
    for (long i = 0; i < 5; i++) {
        mt_iov v;
        cr_assert_eq(mt_imap_next(it, 30, NULL, &v), 0);
        cr_expect_eq(read_long(v.data), i * i);
    }
    cr_expect_eq(mt_imap_next(it, 30, NULL, NULL), -EIO);
    cr_expect_eq(mt_imap_next(it, 30, NULL, NULL), MT_EOF);
    mt_imap_free(it);
    end_pool(p);
}

LEAK_TEST(pool, imap_fn_freed_early_or_on_a_closed_pool, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    counting c = {.n = 100000};
    mt_imap *it = imap_squares(p, &c);
    /* Closed after the start: every item still runs, join waits for them. */
    cr_expect_eq(mt_pool_close(p), 0);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(mt_imap_next(it, 30, NULL, NULL), 0);
    cr_expect_eq(mt_pool_join(p, 0.2), -ETIMEDOUT, "the workers left with work to do");
    long made = c.made;
    mt_imap_free(it);
    cr_expect_eq(c.made, made, "the producer was called after free");
    cr_expect_eq(mt_pool_join(p, 30), 0);
    cr_expect_eq(mt_pool_imap_fn(p, square, make_long, &c, NULL, &it), MT_ECLOSED);
    cr_expect_eq(mt_pool_imap_fn(p, square, make_long, &c, NULL, NULL), -EINVAL);
    mt_pool_free(p);
}

LEAK_TEST(pool, imap_fn_on_a_terminated_pool, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    counting c = {.n = 100000};
    mt_imap *it = imap_squares(p, &c);
    cr_assert_eq(mt_imap_next(it, 30, NULL, NULL), 0);
    mt_pool_terminate(p);
    int err, n = 0;
    while ((err = mt_imap_next(it, 30, NULL, NULL)) != MT_EOF && n < 200000) {
        cr_assert(err == 0 || err == -ECANCELED, "err %d", err);
        n++;
    }
    cr_expect_eq(err, MT_EOF);
    cr_expect_lt(c.made, 1000, "the producer was called on after terminate");
    mt_imap_free(it);
    cr_expect_eq(mt_pool_join(p, 30), 0);
    mt_pool_free(p);
}

LEAK_TEST(pool, imap_freed_early, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    enum { N = 2000 };
    long *items = malloc(N * sizeof *items);
    for (long i = 0; i < N; i++)
        items[i] = i;
    mt_imap *it;
    cr_assert_eq(
        mt_pool_imap(p, square, items, N, sizeof(long), &(mt_map_opts){.chunksize = 1}, &it), 0);
    cr_assert_eq(mt_imap_next(it, 30, NULL, NULL), 0);
    mt_imap_free(it);
    free(items); /* after free the pool must not read them */
    long x = 5;
    mt_buf out = MT_BUF_INIT;
    cr_expect_eq(mt_pool_apply(p, square, &x, sizeof x, &out), 0, "the pool serves on");
    mt_buf_free(&out);
    end_pool(p);
}

LEAK_TEST(pool, large_arguments_and_results, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    size_t sizes[] = {0, 1, 65536, 65537, 262144, 262145, 3u << 20, 33u << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        mt_future *f;
        cr_assert_eq(mt_pool_apply_async(p, make_bytes, &sizes[k], sizeof sizes[k], &f), 0);
        mt_iov r;
        cr_assert_eq(mt_future_result(f, 30, &r), 0, "size %zu", sizes[k]);
        cr_assert_eq(r.len, sizes[k]);
        size_t wrong = 0;
        for (size_t i = 0; i < r.len; i++)
            wrong += ((const char *)r.data)[i] != (char)(i * 7 + 3);
        cr_assert_eq(wrong, 0, "size %zu: %zu wrong bytes", sizes[k], wrong);
        mt_buf taken = MT_BUF_INIT;
        cr_expect_eq(mt_future_take(f, &taken), 0);
        cr_expect_eq(taken.len, sizes[k]);
        mt_buf_free(&taken);
        mt_future_free(f);

        /* And as an argument, echoed back reversed. */
        char *arg = malloc(sizes[k] + 1);
        for (size_t i = 0; i < sizes[k]; i++)
            arg[i] = (char)(i % 251);
        mt_buf out = MT_BUF_INIT;
        cr_assert_eq(mt_pool_apply(p, reverse, arg, sizes[k], &out), 0);
        cr_assert_eq(out.len, sizes[k]);
        wrong = 0;
        for (size_t i = 0; i < sizes[k]; i++)
            wrong += out.data[i] != arg[sizes[k] - 1 - i];
        cr_assert_eq(wrong, 0, "argument of %zu bytes: %zu wrong bytes", sizes[k], wrong);
        mt_buf_free(&out);
        free(arg);
    }
    end_pool(p);
}

LEAK_TEST(pool, map_with_large_results_per_chunk, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    size_t sizes[40];
    for (int i = 0; i < 40; i++)
        sizes[i] = (size_t)i * 20000;
    mt_results *r;
    cr_assert_eq(
        mt_pool_map(p, make_bytes, sizes, 40, sizeof(size_t), &(mt_map_opts){.chunksize = 8}, &r),
        0);
    for (size_t i = 0; i < 40; i++) {
        mt_iov v;
        cr_assert_eq(mt_results_get(r, i, &v), 0);
        cr_assert_eq(v.len, sizes[i]);
        if (v.len) cr_assert_eq(((const char *)v.data)[v.len - 1], (char)((v.len - 1) * 7 + 3));
    }
    mt_results_free(r);
    end_pool(p);
}

LEAK_TEST(pool, initializer_runs_in_every_worker, .timeout = 60)
{
    long v = 4242;
    mt_pool *p;
    cr_assert_eq(mt_pool_new(&p, &(mt_pool_opts){.processes = 2,
                                                 .initializer = set_init_value,
                                                 .initarg = &v,
                                                 .initarg_len = sizeof v}),
                 0);
    long zeros[20] = {0};
    mt_results *r;
    cr_assert_eq(
        mt_pool_map(p, get_init_value, zeros, 20, sizeof(long), &(mt_map_opts){.chunksize = 1}, &r),
        0);
    long got[20];
    mt_results_copy(r, got, sizeof(long));
    for (int i = 0; i < 20; i++)
        cr_expect_eq(got[i], 4242);
    cr_expect_eq(init_value, 0, "the parent's copy is untouched");
    mt_results_free(r);
    end_pool(p);
}

LEAK_TEST(pool, maxtasksperchild_replaces_workers, .timeout = 60)
{
    mt_pool *p;
    cr_assert_eq(mt_pool_new(&p, &(mt_pool_opts){.processes = 2, .maxtasksperchild = 3}), 0);
    enum { N = 30 };
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        mt_buf out = MT_BUF_INIT;
        cr_assert_eq(mt_pool_apply(p, my_pid, NULL, 0, &out), 0);
        memcpy(&pids[i], out.data, sizeof(pid_t));
        mt_buf_free(&out);
    }
    int distinct = 0;
    for (int i = 0; i < N; i++) {
        int uses = 0;
        bool first = true;
        for (int j = 0; j < N; j++) {
            uses += pids[j] == pids[i];
            if (j < i && pids[j] == pids[i]) first = false;
        }
        cr_expect_leq(uses, 3, "a worker ran more than maxtasksperchild tasks");
        distinct += first;
    }
    cr_expect_geq(distinct, N / 3);
    cr_expect_eq(mt_pool_worker_pids(p, NULL, 0), 2, "the pool keeps its size");
    end_pool(p);
}

LEAK_TEST(pool, worker_names, .timeout = 60)
{
    mt_pool *p = new_pool(1);
    mt_buf out = MT_BUF_INIT;
    cr_assert_eq(mt_pool_apply(p, my_name, NULL, 0, &out), 0);
    mt_buf_append(&out, "", 1);
    cr_expect_str_eq(out.data, "ForkPoolWorker-1");
    mt_buf_free(&out);
    end_pool(p);
}

LEAK_TEST(pool, closed_pool_refuses_work, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    cr_expect_eq(mt_pool_join(p, 0), -EINVAL, "join before close");
    long x = 3;
    mt_future *f;
    cr_assert_eq(mt_pool_apply_async(p, square, &x, sizeof x, &f), 0);
    cr_assert_eq(mt_pool_close(p), 0);
    mt_future *g = NULL;
    cr_expect_eq(mt_pool_apply_async(p, square, &x, sizeof x, &g), MT_ECLOSED);
    cr_expect_null(g);
    cr_expect_str_eq(mt_strerror(MT_ECLOSED), "closed: it takes no more work or items");
    mt_results *r = NULL;
    cr_expect_eq(mt_pool_map(p, square, &x, 1, sizeof x, NULL, &r), MT_ECLOSED);
    cr_expect_null(r);
    cr_expect_eq(mt_pool_join(p, 30), 0);
    cr_expect_eq(mt_future_result(f, 0, NULL), 0, "work given before close finishes");
    cr_expect_eq(mt_pool_worker_pids(p, NULL, 0), 0);
    mt_future_free(f);
    mt_pool_free(p);
}

LEAK_TEST(pool, close_waits_for_queued_work, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    enum { N = 600 }; /* more than the 256 slots: some wait in the parent */
    mt_future *f[N];
    double s = 0.001;
    for (int i = 0; i < N; i++)
        cr_assert_eq(mt_pool_apply_async(p, nap, &s, sizeof s, &f[i]), 0);
    mt_pool_close(p);
    cr_expect_eq(mt_pool_join(p, 30), 0);
    for (int i = 0; i < N; i++) {
        cr_expect(mt_future_done(f[i]));
        cr_expect_eq(mt_future_result(f[i], 0, NULL), 0);
        mt_future_free(f[i]);
    }
    mt_pool_free(p);
}

LEAK_TEST(pool, terminate_cancels_what_is_left, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    double s = 30;
    mt_future *f[5];
    for (int i = 0; i < 5; i++)
        mt_pool_apply_async(p, nap, &s, sizeof s, &f[i]);
    mt_sleep(0.1);
    double t0 = mt_monotonic();
    cr_expect_eq(mt_pool_terminate(p), 0);
    cr_expect_eq(mt_pool_join(p, 10), 0);
    cr_expect_lt(mt_monotonic() - t0, 5);
    for (int i = 0; i < 5; i++) {
        cr_expect_eq(mt_future_result(f[i], 0, NULL), -ECANCELED);
        mt_future_free(f[i]);
    }
    long x = 1;
    mt_future *g;
    cr_expect_eq(mt_pool_apply_async(p, square, &x, sizeof x, &g), MT_ECLOSED);
    mt_pool_free(p);
}

LEAK_TEST(pool, free_without_close, .timeout = 60)
{
    mt_pool *p = new_pool(2);
    double s = 30;
    mt_future *f;
    mt_pool_apply_async(p, nap, &s, sizeof s, &f);
    pid_t pids[2];
    cr_assert_eq(mt_pool_worker_pids(p, pids, 2), 2);
    mt_pool_free(p);
    cr_expect_eq(mt_future_result(f, 0, NULL), -ECANCELED, "the future outlives the pool");
    mt_future_free(f);
    cr_expect_not(pid_alive(pids[0]));
    cr_expect_not(pid_alive(pids[1]));
}

LEAK_TEST(pool, future_timeout_and_cancel, .timeout = 60)
{
    mt_pool *p;
    cr_assert_eq(mt_pool_new(&p, &(mt_pool_opts){.processes = 1, .queue_depth = 1}), 0);
    double s = 0.5;
    mt_future *busy, *queued;
    mt_pool_apply_async(p, nap, &s, sizeof s, &busy);
    mt_pool_apply_async(p, nap, &s, sizeof s, &queued);
    cr_expect_eq(mt_future_result(busy, 0.05, NULL), -ETIMEDOUT);
    cr_expect_eq(mt_future_cancel(busy), -EBUSY, "dispatched: too late to cancel");
    cr_expect_eq(mt_future_cancel(queued), 0, "still waiting for a slot: cancelled");
    cr_expect_eq(mt_future_result(busy, 10, NULL), 0);
    cr_expect_eq(mt_future_result(queued, 0, NULL), -ECANCELED);
    mt_future_free(busy);
    mt_future_free(queued);
    end_pool(p);
}

LEAK_TEST(pool, bad_arguments, .timeout = 60)
{
    mt_pool *p = NULL;
    cr_expect_eq(mt_pool_new(NULL, NULL), -EINVAL);
    cr_expect_eq(mt_pool_new(&p, &(mt_pool_opts){.processes = -1}), -EINVAL);
    cr_expect_eq(mt_pool_new(&p, &(mt_pool_opts){.processes = 100000}), -EINVAL);
    cr_expect_eq(mt_pool_new(&p, &(mt_pool_opts){.start_method = 7}), -EINVAL);
    cr_expect_eq(mt_pool_new(&p, &(mt_pool_opts){.initarg_len = 4}), -EINVAL);
    cr_expect_eq(mt_pool_new(&p, &(mt_pool_opts){.queue_depth = 70000}), -EINVAL);
    cr_expect_null(p);
    p = new_pool(1);
    mt_future *f = NULL;
    mt_results *r = NULL;
    cr_expect_eq(mt_pool_apply_async(p, NULL, NULL, 0, &f), -EINVAL);
    cr_expect_eq(mt_pool_apply_async(p, square, NULL, 8, &f), -EINVAL);
    cr_expect_eq(mt_pool_apply_async(p, square, NULL, 0, NULL), -EINVAL);
    cr_expect_eq(mt_pool_map(p, square, NULL, 3, 8, NULL, &r), -EINVAL);
    cr_expect_eq(mt_pool_map(p, square, "x", 1, 0, NULL, &r), -EINVAL);
    cr_expect_eq(mt_pool_map(p, square, "x", 1, 1, NULL, NULL), -EINVAL);
    mt_imap *it = NULL;
    cr_expect_eq(mt_pool_imap(p, square, NULL, 4, 8, NULL, &it), -EINVAL);
    cr_expect_eq(mt_pool_imap_iov(p, square, NULL, 4, NULL, &it), -EINVAL);
    cr_expect_null(it);
    cr_expect_null(f);
    cr_expect_null(r);
    cr_expect_eq(mt_results_len(NULL), 0);
    cr_expect_eq(mt_results_get(NULL, 0, NULL), -ERANGE);
    mt_results_free(NULL);
    mt_imap_free(NULL);
    mt_pool_free(NULL);
    end_pool(p);
}

/* An item with no bytes but a length is refused by every call that takes
 * items, as apply_async refuses such an argument. */
LEAK_TEST(pool, a_null_item_with_a_length_is_refused, .timeout = 30)
{
    mt_pool *p = new_pool(1);
    mt_iov items[3] = {{"abcdefgh", 8}, {NULL, 5}, {"", 0}};
    mt_results *r = NULL;
    mt_imap *it = NULL;
    cr_expect_eq(mt_pool_map_iov(p, reverse, items, 3, NULL, &r), -EINVAL);
    cr_expect_eq(mt_pool_imap_iov(p, reverse, items, 3, NULL, &it), -EINVAL);
    cr_expect_eq(mt_pool_starmap(p, sum_args, items, 1, 3, NULL, &r), -EINVAL);
    cr_expect_null(r);
    /* n * nargs past SIZE_MAX is refused before anything is read, and *out
     * is NULL on every error. */
    r = (mt_results *)1;
    cr_expect_eq(mt_pool_starmap(p, sum_args, items, SIZE_MAX / 2 + 1, 2, NULL, &r), -EINVAL);
    cr_expect_null(r);
    cr_expect_null(it);
    /* A NULL item of length 0 is an empty item. */
    cr_expect_eq(mt_pool_map_iov(p, reverse, items + 2, 1, NULL, &r), 0);
    mt_results_free(r);
    end_pool(p);
}

/* A NaN timeout means nothing: every wait refuses it instead of spinning. */
LEAK_TEST(pool, a_nan_timeout_is_refused, .timeout = 30)
{
    mt_pool *p = new_pool(1);
    long x = 3;
    mt_future *f;
    cr_assert_eq(mt_pool_apply_async(p, square, &x, sizeof x, &f), 0);
    cr_expect_eq(mt_future_wait(f, NAN), -EINVAL);
    cr_expect_eq(mt_future_result(f, NAN, NULL), -EINVAL);
    size_t nd = 7;
    cr_expect_eq(mt_wait(&f, 1, NAN, MT_ALL_COMPLETED, NULL, &nd, NULL, NULL), -EINVAL);
    cr_expect_eq(nd, 7, "nothing written");
    mt_as_completed *ac = NULL;
    cr_expect_eq(mt_as_completed_new(&ac, &f, 1, NAN), -EINVAL);
    cr_expect_null(ac);
    cr_expect_eq(mt_future_result(f, 10, NULL), 0);
    mt_future_free(f);
    mt_imap *it;
    cr_assert_eq(mt_pool_imap(p, square, &x, 1, sizeof x, NULL, &it), 0);
    cr_expect_eq(mt_imap_next(it, NAN, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_imap_next(it, 10, NULL, NULL), 0, "the item is still there");
    mt_imap_free(it);
    cr_expect_eq(mt_pool_close(p), 0);
    cr_expect_eq(mt_pool_join(p, NAN), -EINVAL);
    cr_expect_eq(mt_pool_join(p, -NAN), -EINVAL);
    cr_expect_eq(mt_pool_join(p, 30), 0);
    mt_pool_free(p);
}

LEAK_TEST(pool, default_size_is_cpu_count, .timeout = 60)
{
    mt_pool *p;
    cr_assert_eq(mt_pool_new(&p, NULL), 0);
    cr_expect_eq(mt_pool_processes(p), mt_cpu_count());
    cr_expect_eq(mt_pool_worker_pids(p, NULL, 0), mt_cpu_count());
    end_pool(p);
}

LEAK_TEST(pool, spawn_start_method, .timeout = 60)
{
    long v = 77;
    mt_pool *p;
    cr_assert_eq(mt_pool_new(&p, &(mt_pool_opts){.processes = 2,
                                                 .start_method = MT_START_SPAWN,
                                                 .initializer = set_init_value,
                                                 .initarg = &v,
                                                 .initarg_len = sizeof v}),
                 0);
    mt_buf out = MT_BUF_INIT;
    cr_assert_eq(mt_pool_apply(p, my_name, NULL, 0, &out), 0);
    cr_expect_eq(strncmp(out.data, "SpawnPoolWorker-", 16), 0);
    mt_buf_reset(&out);
    cr_assert_eq(mt_pool_apply(p, get_init_value, NULL, 0, &out), 0);
    cr_expect_eq(read_long(out.data), 77);
    mt_buf_free(&out);
    long items[100];
    for (long i = 0; i < 100; i++)
        items[i] = i;
    mt_results *r;
    cr_assert_eq(mt_pool_map(p, square, items, 100, sizeof(long), NULL, &r), 0);
    long got[100];
    mt_results_copy(r, got, sizeof(long));
    for (long i = 0; i < 100; i++)
        cr_expect_eq(got[i], i * i);
    mt_results_free(r);
    end_pool(p);
}
