/*
 * test_remote_netns.c - mt_dict and mt_list on a Redis server from machines
 * really apart: each "machine" is a network namespace of the test's own
 * with a veth link to the test (netns.h), its processes reach the test's
 * redis-server over TCP on that link. Two machines counting at once; one
 * machine stopped (SIGSTOP: a partition that heals) or killed (SIGKILL)
 * while the other goes on; its link cut and brought back; the server
 * killed and restarted under them; latency added, beyond the calls'
 * timeout too. (What the server's persistence keeps when
 * it is killed is test_remote_durability.c's.)
 *
 * Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN): otherwise every test is
 * skipped and says why.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <sys/mman.h>

#include "helpers.h"
#include "netns.h"
#include "redis_server.h"
#include "remote_workers.h"

/* ------------------------------------------------------------- helpers */

/* The object NAME on s, as machine m reaches it. */
static void url_from(char *out, size_t size, const test_machine *m, const test_redis *s,
                     const char *name)
{
    char host[32];
    int port;
    test_machine_target(m, s->port, host, sizeof host, &port);
    snprintf(out, size, "redis://%s:%d/%s", host, port, name);
}

/* Start `procs` workers in m, with ids from `first`. */
static void start_workers(test_machine *m, worker *w, int first, int procs, const test_redis *s,
                          const char *name, worker shape)
{
    for (int i = first; i < first + procs; i++) {
        w[i] = shape;
        w[i].id = i;
        url_from(w[i].url, sizeof w[i].url, m, s, name);
        test_machine_run(m, worker_main, &w[i]);
    }
}

/* Two machines, and a server listening on the test's end of both links. */
static void two_machines(test_machine *a, test_machine *b, test_redis *s)
{
    test_machine_new(a);
    test_machine_new(b);
    char addrs[64];
    snprintf(addrs, sizeof addrs, "%s %s", a->host_addr, b->host_addr);
    test_redis_start_on(s, addrs, NULL);
}

/* The test's own handle on NAME, through the server's Unix socket. */
static mt_dict *open_dict(const test_redis *s, const char *name)
{
    char url[256];
    snprintf(url, sizeof url, "redis+unix://%s/%s", s->sock, name);
    mt_dict *d = NULL;
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    return d;
}

static int64_t counter(mt_dict *d, const char *key)
{
    int64_t n = -1;
    int err = mt_dict_get_i64(d, key, &n);
    cr_expect(err == 0 || err == MT_EKEY, "%s", mt_err_name(err));
    return err == MT_EKEY ? 0 : n;
}

static void sleep_s(double s)
{
    mt_sleep(s);
}

/* ------------------------------------------------------------- tests */

/* (a) Two machines, three processes each, incr one key of one dict over
 * TCP: the final value is every acknowledged increment, and all were. */
LEAK_TEST(remote_netns, two_machines_count, .timeout = 60)
{
    NETNS_REQUIRE();
    test_machine a, b;
    test_redis s;
    two_machines(&a, &b, &s);
    board *bd = board_new();
    worker w[6];
    worker shape = {.n = 300, .b = bd};
    start_workers(&a, w, 0, 3, &s, "count2", shape);
    start_workers(&b, w, 3, 3, &s, "count2", shape);
    cr_expect_eq(test_machine_join(&a), 0);
    cr_expect_eq(test_machine_join(&b), 0);
    mt_dict *d = open_dict(&s, "count2");
    int64_t acked = board_sum(bd, 0, 6, ACKED);
    cr_expect_eq(acked, 6 * 300, "every increment acknowledged (other: %" PRId64 ")",
                 board_sum(bd, 0, 6, OTHER));
    cr_expect_eq(counter(d, "count"), acked);
    mt_dict_free(d);
    test_redis_stop(&s);
    board_free(bd);
    test_machine_free(&a);
    test_machine_free(&b);
}

/* (b) One machine's processes stopped for 3 s (a partition that heals)
 * while the other machine's go on: the other makes progress meanwhile,
 * the stopped one resumes, and the count is exact. */
LEAK_TEST(remote_netns, partition_heals, .timeout = 60)
{
    NETNS_REQUIRE();
    test_machine a, b;
    test_redis s;
    two_machines(&a, &b, &s);
    board *bd = board_new();
    worker w[4];
    worker shape = {.n = CALLS, .timeout = 20, .b = bd};
    start_workers(&a, w, 0, 2, &s, "partition", shape);
    start_workers(&b, w, 2, 2, &s, "partition", shape);
    sleep_s(0.5);
    test_machine_signal(&a, SIGSTOP);
    sleep_s(0.2); /* a call of a's that was answered meanwhile is counted by now */
    int64_t a_stopped = board_sum(bd, 0, 2, ACKED), b_before = board_sum(bd, 2, 4, ACKED);
    sleep_s(3);
    int64_t a_during = board_sum(bd, 0, 2, ACKED), b_during = board_sum(bd, 2, 4, ACKED);
    test_machine_signal(&a, SIGCONT);
    sleep_s(1);
    int64_t a_after = board_sum(bd, 0, 2, ACKED);
    __atomic_store_n(&bd->stop, 1, __ATOMIC_RELAXED);
    cr_expect_eq(test_machine_join(&a), 0);
    cr_expect_eq(test_machine_join(&b), 0);
    cr_log_info("a: %" PRId64 " acked before the stop, %" PRId64 " after; b: %" PRId64
                " during the stop",
                a_stopped, a_after - a_during, b_during - b_before);
    cr_expect_eq(a_during, a_stopped, "a stopped calls nothing");
    cr_expect_gt(b_during - b_before, 20, "b went on while a was stopped");
    cr_expect_gt(a_after - a_during, 20, "a resumed");
    int64_t acked = board_sum(bd, 0, 4, ACKED);
    cr_expect_eq(board_sum(bd, 0, 4, LOST) + board_sum(bd, 0, 4, NOCONN) +
                     board_sum(bd, 0, 4, OTHER),
                 0, "with a 20 s timeout no call fails");
    mt_dict *d = open_dict(&s, "partition");
    cr_expect_eq(counter(d, "count"), acked);
    mt_dict_free(d);
    test_redis_stop(&s);
    board_free(bd);
    test_machine_free(&a);
    test_machine_free(&b);
}

/*
 * (c) Machine a's link cut for 3 s, then brought back, while both
 * machines incr a key of each call's own with a 1 s timeout: a's calls
 * fail with MT_ECONNLOST or MT_ECONNECT and nothing else, none waits much
 * beyond its timeout, a's calls succeed again once the link is back, b's
 * all succeed, and every call did what its result promises.
 */
LEAK_TEST(remote_netns, link_cut, .timeout = 60)
{
    NETNS_REQUIRE();
    test_machine a, b;
    test_redis s;
    two_machines(&a, &b, &s);
    board *bd = board_new();
    worker w[4];
    const double timeout = 1.0;
    worker shape = {.n = CALLS, .timeout = timeout, .per_call = true, .pace = 0.002, .b = bd};
    start_workers(&a, w, 0, 2, &s, "cut", shape);
    start_workers(&b, w, 2, 2, &s, "cut", shape);
    sleep_s(0.5);
    test_machine_link(&a, false);
    sleep_s(3);
    int64_t a_failed = board_sum(bd, 0, 2, LOST) + board_sum(bd, 0, 2, NOCONN);
    test_machine_link(&a, true);
    int64_t a_healed = board_sum(bd, 0, 2, ACKED);
    sleep_s(2.5); /* a call that began on the cut link gives up within 1 s */
    int64_t a_after = board_sum(bd, 0, 2, ACKED) - a_healed;
    __atomic_store_n(&bd->stop, 1, __ATOMIC_RELAXED);
    cr_expect_eq(test_machine_join(&a), 0);
    cr_expect_eq(test_machine_join(&b), 0);
    cr_log_info("a: %" PRId64 " acked, %" PRId64 " lost, %" PRId64 " not connected; %" PRId64
                " acked after the link came back; longest call %.2f s",
                board_sum(bd, 0, 2, ACKED), board_sum(bd, 0, 2, LOST),
                board_sum(bd, 0, 2, NOCONN), a_after,
                fmax(bd->t[0].longest, bd->t[1].longest));
    cr_expect_geq(a_failed, 2, "a's calls failed while its link was cut");
    cr_expect_eq(board_sum(bd, 0, 4, OTHER), 0, "no error but the connection's (first: %s)",
                 mt_err_name((int)(bd->t[0].first_err ? bd->t[0].first_err : bd->t[1].first_err)));
    cr_expect_gt(a_after, 10, "a works again with its link back");
    cr_expect_eq(board_sum(bd, 2, 4, LOST) + board_sum(bd, 2, 4, NOCONN), 0, "b never cut");
    for (int i = 0; i < 4; i++)
        cr_expect_leq(bd->t[i].longest, timeout + 0.5, "worker %d waited %.2f s", i,
                      bd->t[i].longest);
    /* a resend or a late packet of a call that gave up may still reach the
     * server: wait until the link's retransmissions are over */
    sleep_s(1);
    mt_dict *d = open_dict(&s, "cut");
    seen *sn = calloc(1, sizeof *sn);
    cr_assert(sn);
    cr_expect_eq(mt_dict_items(d, collect, sn), 0);
    cr_expect_eq(sn->strays, 0);
    cr_expect_eq(check_calls(bd, sn, 4), 0);
    free(sn);
    mt_dict_free(d);
    test_redis_stop(&s);
    board_free(bd);
    test_machine_free(&a);
    test_machine_free(&b);
}

/* The list holds each acknowledged item once and nothing twice; items
 * per worker: present[id] counts them. */
typedef struct items {
    uint8_t seen[WORKERS][CALLS];
    int bad, twice;
} items;

static int collect_item(size_t index, const void *v, size_t len, void *ctx)
{
    (void)index;
    items *it = ctx;
    char item[32] = "";
    memcpy(item, v, len < 31 ? len : 31);
    int id, i;
    if (sscanf(item, "%d:%d", &id, &i) != 2 || id < 0 || id >= WORKERS || i < 0 || i >= CALLS)
        it->bad++;
    else if (it->seen[id][i]++)
        it->twice++;
    return 0;
}

/* (d) Appends from two machines: every acknowledged item is in the list
 * exactly once, and nothing else. */
LEAK_TEST(remote_netns, list_two_machines, .timeout = 60)
{
    NETNS_REQUIRE();
    test_machine a, b;
    test_redis s;
    two_machines(&a, &b, &s);
    board *bd = board_new();
    worker w[4];
    worker shape = {.n = 400, .list = true, .b = bd};
    start_workers(&a, w, 0, 2, &s, "items", shape);
    start_workers(&b, w, 2, 2, &s, "items", shape);
    cr_expect_eq(test_machine_join(&a), 0);
    cr_expect_eq(test_machine_join(&b), 0);
    cr_expect_eq(board_sum(bd, 0, 4, ACKED), 4 * 400);
    char url[256];
    snprintf(url, sizeof url, "redis+unix://%s/items", s.sock);
    mt_list *l;
    cr_assert_eq(mt_list_open(&l, url, NULL), 0);
    items *it = calloc(1, sizeof *it);
    cr_assert(it);
    cr_expect_eq(mt_list_items(l, collect_item, it), 0);
    cr_expect_eq(it->bad + it->twice, 0, "%d bad, %d twice", it->bad, it->twice);
    for (int id = 0; id < 4; id++)
        for (int i = 0; i < 400; i++)
            cr_expect_eq(it->seen[id][i], bd->outcome[id][i] == ACKED, "item %d:%d", id, i);
    cr_expect_eq(mt_list_len(l), 4 * 400);
    free(it);
    mt_list_free(l);
    test_redis_stop(&s);
    board_free(bd);
    test_machine_free(&a);
    test_machine_free(&b);
}

/*
 * Machine a's processes SIGKILLed mid-task while b's go on: b's appends
 * are all there once; of a killed process's, its acknowledged ones are
 * there, and at most the one it was making when it died besides.
 */
LEAK_TEST(remote_netns, machine_killed, .timeout = 60)
{
    NETNS_REQUIRE();
    test_machine a, b;
    test_redis s;
    two_machines(&a, &b, &s);
    board *bd = board_new();
    worker w[4];
    worker shape = {.n = 600, .list = true, .b = bd};
    /* a's processes are paced, so that they are mid-task when they are
     * killed, once each has had a few calls answered, on any machine */
    worker paced = shape;
    paced.pace = 0.005;
    start_workers(&a, w, 0, 2, &s, "killed", paced);
    start_workers(&b, w, 2, 2, &s, "killed", shape);
    for (int i = 0; i < 2000 && !(__atomic_load_n(&bd->outcome[0][9], __ATOMIC_ACQUIRE) &&
                                  __atomic_load_n(&bd->outcome[1][9], __ATOMIC_ACQUIRE));
         i++)
        sleep_s(0.005);
    test_machine_signal(&a, SIGKILL);
    cr_expect_eq(test_machine_join(&a), 2, "a's processes were killed");
    cr_expect_eq(test_machine_join(&b), 0);
    char url[256];
    snprintf(url, sizeof url, "redis+unix://%s/killed", s.sock);
    mt_list *l;
    cr_assert_eq(mt_list_open(&l, url, NULL), 0);
    items *it = calloc(1, sizeof *it);
    cr_assert(it);
    cr_expect_eq(mt_list_items(l, collect_item, it), 0);
    cr_expect_eq(it->bad + it->twice, 0, "%d bad, %d twice", it->bad, it->twice);
    for (int id = 0; id < 4; id++) {
        int acked = 0, present = 0, first_missing = -1;
        for (int i = 0; i < 600; i++) {
            acked += bd->outcome[id][i] == ACKED;
            present += it->seen[id][i];
            if (bd->outcome[id][i] == ACKED) cr_expect(it->seen[id][i], "%d:%d acked", id, i);
            if (!it->seen[id][i] && first_missing < 0) first_missing = i;
        }
        if (id < 2) {
            cr_log_info("killed process %d: %d acknowledged, %d in the list", id, acked, present);
            cr_expect_lt(acked, 600, "killed mid-task");
            cr_expect(present == acked || present == acked + 1, "%d present, %d acked", present,
                      acked);
            cr_expect(first_missing < 0 || present == first_missing, "no gap in process %d", id);
        } else {
            cr_expect_eq(acked, 600);
            cr_expect_eq(present, 600);
        }
    }
    free(it);
    mt_list_free(l);
    test_redis_stop(&s);
    board_free(bd);
    test_machine_free(&a);
    test_machine_free(&b);
}

/*
 * (e) Latency: 5 ms each way between each machine and the server (netem,
 * or the relay where the kernel has none). Increments from both machines
 * count exactly. Then a's latency goes to 400 ms each way, beyond its
 * calls' 0.3 s timeout: they fail plainly (MT_ECONNLOST, or MT_ECONNECT
 * when even connecting takes too long) within their timeout, and the
 * count stays within what was acknowledged and what may have been done.
 */
LEAK_TEST(remote_netns, latency, .timeout = 60)
{
    NETNS_REQUIRE();
    test_machine a, b;
    test_redis s;
    two_machines(&a, &b, &s);
    test_machine_latency(&a, 5, s.port);
    test_machine_latency(&b, 5, s.port);
    cr_log_info("latency by %s", a.netem ? "netem" : "the test's relay (no netem here)");
    board *bd = board_new();
    worker w[6];
    const int n = 100;
    worker shape = {.n = n, .b = bd};
    double t0 = mt_monotonic();
    start_workers(&a, w, 0, 2, &s, "slow", shape);
    start_workers(&b, w, 2, 2, &s, "slow", shape);
    cr_expect_eq(test_machine_join(&a), 0);
    cr_expect_eq(test_machine_join(&b), 0);
    double took = mt_monotonic() - t0;
    mt_dict *d = open_dict(&s, "slow");
    cr_expect_eq(board_sum(bd, 0, 4, ACKED), 4 * n);
    cr_expect_eq(counter(d, "count"), 4 * n, "2 machines x 2 processes x %d", n);
    /* each call waits at least a round trip of 10 ms */
    cr_expect_geq(took, n * 0.010, "%d calls in turn took %.2f s", n, took);
    cr_log_info("%d increments per process with 10 ms round trips: %.2f s", n, took);

    mt_dict_free(d); /* no handle of the test's open across the fork */
    const double timeout = 0.3;
    worker slow = {.n = 5, .timeout = timeout, .wait_go = true, .b = bd};
    start_workers(&a, w, 4, 2, &s, "slow", slow);
    for (int i = 0; i < 1000 && __atomic_load_n(&bd->ready, __ATOMIC_RELAXED) < 2; i++)
        sleep_s(0.01);
    cr_assert_eq(__atomic_load_n(&bd->ready, __ATOMIC_RELAXED), 2, "the workers opened");
    test_machine_latency(&a, 400, s.port);
    sleep_s(0.05); /* what is in flight arrives */
    __atomic_store_n(&bd->go, 1, __ATOMIC_RELAXED);
    cr_expect_eq(test_machine_join(&a), 0);
    int64_t acked = board_sum(bd, 4, 6, ACKED), lost = board_sum(bd, 4, 6, LOST);
    int64_t noconn = board_sum(bd, 4, 6, NOCONN);
    cr_log_info("with 400 ms each way and a 0.3 s timeout: %" PRId64 " acked, %" PRId64
                " lost, %" PRId64 " not connected; longest call %.2f s",
                acked, lost, noconn, fmax(bd->t[4].longest, bd->t[5].longest));
    cr_expect_eq(board_sum(bd, 4, 6, OTHER), 0);
    cr_expect_eq(acked, 0, "no answer can come within the timeout");
    cr_expect_eq(lost + noconn, 10);
    for (int i = 4; i < 6; i++)
        cr_expect_leq(bd->t[i].longest, timeout + 0.4, "worker %d waited %.2f s", i,
                      bd->t[i].longest);
    sleep_s(1); /* what was sent arrives meanwhile */
    d = open_dict(&s, "slow");
    int64_t final = counter(d, "count");
    cr_expect(final >= 4 * n + acked && final <= 4 * n + acked + lost,
              "final %" PRId64 ": never a wrong count", final);
    mt_dict_free(d);
    test_redis_stop(&s);
    board_free(bd);
    test_machine_free(&a);
    test_machine_free(&b);
}

/*
 * A server with a password, a db other than 0 and 200 ms each way: a new
 * connection's AUTH and SELECT take 0.8 s between them. An open with a
 * 0.5 s timeout gives up within that timeout ("A call waits at most
 * opts->timeout in all"), plainly, and sends nothing after it.
 */
LEAK_TEST(remote_netns, slow_handshake_within_timeout, .timeout = 30)
{
    NETNS_REQUIRE();
    test_machine a;
    test_machine_new(&a);
    test_redis s;
    const char *extra[] = {"--requirepass", "handshake-secret", NULL};
    test_redis_start_on(&s, a.host_addr, extra);
    s.password = "handshake-secret";
    test_machine_latency(&a, 200, s.port);
    board *bd = board_new();
    worker w[2];
    const double timeout = 0.5;
    for (int i = 0; i < 2; i++) {
        w[i] = (worker){.id = i, .n = 1, .timeout = timeout, .b = bd};
        char host[32];
        int port;
        test_machine_target(&a, s.port, host, sizeof host, &port);
        snprintf(w[i].url, sizeof w[i].url, "redis://:handshake-secret@%s:%d/1/hs", host, port);
        test_machine_run(&a, worker_main, &w[i]);
    }
    cr_expect_eq(test_machine_join(&a), 2, "neither open can succeed in time");
    for (int i = 0; i < 2; i++) {
        int err = (int)bd->t[i].open_err;
        cr_expect(err == MT_ECONNECT || err == MT_ECONNLOST, "open %d: %s", i, mt_err_name(err));
        cr_expect_leq(bd->t[i].open_took, timeout + 0.4, "open %d took %.2f s", i,
                      bd->t[i].open_took);
    }
    cr_log_info("opens gave up after %.2f and %.2f s: %s, %s", bd->t[0].open_took,
                bd->t[1].open_took, mt_err_name((int)bd->t[0].open_err),
                mt_err_name((int)bd->t[1].open_err));
    /* nothing reached db 1 after the time was up */
    sleep_s(1);
    char reply[64];
    int fd = test_redis_connect(&s);
    const char *auth[] = {"AUTH", "handshake-secret", NULL}, *sel[] = {"SELECT", "1", NULL},
               *size[] = {"DBSIZE", NULL};
    cr_expect_eq(test_redis_cmdv(fd, reply, sizeof reply, auth), '+');
    cr_expect_eq(test_redis_cmdv(fd, reply, sizeof reply, sel), '+');
    cr_expect_eq(test_redis_cmdv(fd, reply, sizeof reply, size), ':');
    cr_expect_str_eq(reply, "0", "keys made in db 1: %s", reply);
    close(fd);
    test_redis_stop(&s);
    board_free(bd);
    test_machine_free(&a);
}

/*
 * The server killed (SIGKILL) twice under both machines' increments and
 * started again on its AOF (appendfsync always): calls outlive the outage
 * within their 20 s timeout, and every call did what its result promises,
 * every acknowledged one present once.
 */
LEAK_TEST(remote_netns, server_restarted, .timeout = 60)
{
    NETNS_REQUIRE();
    test_machine a, b;
    test_redis s;
    two_machines(&a, &b, &s);
    board *bd = board_new();
    worker w[4];
    worker shape = {.n = CALLS, .timeout = 20, .per_call = true, .pace = 0.002, .b = bd};
    start_workers(&a, w, 0, 2, &s, "restarted", shape);
    start_workers(&b, w, 2, 2, &s, "restarted", shape);
    for (int round = 0; round < 2; round++) {
        sleep_s(0.6);
        test_redis_kill(&s);
        sleep_s(0.4);
        test_redis_restart(&s);
    }
    sleep_s(0.6);
    __atomic_store_n(&bd->stop, 1, __ATOMIC_RELAXED);
    cr_expect_eq(test_machine_join(&a), 0);
    cr_expect_eq(test_machine_join(&b), 0);
    int64_t acked = board_sum(bd, 0, 4, ACKED);
    cr_log_info("%" PRId64 " increments acknowledged across two restarts", acked);
    cr_expect_eq(board_sum(bd, 0, 4, LOST) + board_sum(bd, 0, 4, NOCONN) +
                     board_sum(bd, 0, 4, OTHER),
                 0, "with a 20 s timeout every call outlives the outage");
    mt_dict *d = open_dict(&s, "restarted");
    seen *sn = calloc(1, sizeof *sn);
    cr_assert(sn);
    cr_expect_eq(mt_dict_items(d, collect, sn), 0);
    cr_expect_eq(sn->strays, 0);
    cr_expect_eq(check_calls(bd, sn, 4), 0);
    cr_expect_eq(mt_dict_len(d), acked);
    free(sn);
    mt_dict_free(d);
    test_redis_stop(&s);
    board_free(bd);
    test_machine_free(&a);
    test_machine_free(&b);
}
