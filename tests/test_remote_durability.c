/*
 * test_remote_durability.c - what a Redis server's persistence keeps of
 * acknowledged writes when redis-server is killed (SIGKILL) mid-run and
 * started again on its AOF. Processes incr keys of each call's own as fast
 * as they can; the server is killed three times; then each acknowledged
 * call's key is looked for.
 *
 * With appendfsync always the test asserts that nothing acknowledged was
 * lost. With everysec it asserts only what holds there too (no call done
 * twice, nothing done by a call that never connected) and reports how many
 * acknowledged increments the kills lost: include/multitask/shared.h
 * quotes the figure. What is measured is the server process killed, not
 * the machine: the kernel's page cache survives a process kill, so what
 * the server had written but not yet fsynced is kept; a power cut or a
 * kernel crash would lose that too.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <sys/mman.h>

#include "helpers.h"
#include "redis_server.h"
#include "remote_workers.h"

#define PROCS  4
#define ROUNDS 3

static pid_t spawn_worker(worker *w)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) _exit(worker_main(w));
    return pid;
}

/* One round: PROCS workers (ids from first) incr as fast as they can for
 * `run` seconds; the server is SIGKILLed under them; they stop; it starts
 * again on its AOF. */
static void kill_round(test_redis *s, board *bd, worker *w, int first, double run)
{
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        w[first + i] = (worker){.id = first + i, .n = CALLS, .timeout = 0.5, .per_call = true,
                                .b = bd};
        snprintf(w[first + i].url, sizeof w[first + i].url, "redis+unix://%s/durable", s->sock);
        pids[i] = spawn_worker(&w[first + i]);
    }
    mt_sleep(run);
    test_redis_kill(s);
    __atomic_store_n(&bd->stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < PROCS; i++) {
        int status = 0;
        cr_expect_eq(waitpid(pids[i], &status, 0), pids[i]);
        cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker %d", first + i);
    }
    __atomic_store_n(&bd->stop, 0, __ATOMIC_RELAXED);
    test_redis_restart(s);
}

typedef struct measured {
    int64_t acked, missing, lost, noconn;
    int64_t worst, worst_of; /* the most one kill lost, of how many acked in its round */
    char rounds[128];        /* lost/acked at each kill */
    int broken; /* calls whose key breaks the promises besides a missing ack */
} measured;

/* Kill the server ROUNDS times under the workers with this appendfsync. */
static measured measure(const char *fsync)
{
    test_redis s;
    const char *extra[] = {"--appendfsync", fsync, NULL};
    test_redis_start(&s, extra);
    board *bd = board_new();
    worker w[PROCS * ROUNDS];
    for (int r = 0; r < ROUNDS; r++)
        kill_round(&s, bd, w, r * PROCS, 0.8 + 0.3 * r);
    char url[256];
    snprintf(url, sizeof url, "redis+unix://%s/durable", s.sock);
    mt_dict *d;
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    seen *sn = calloc(1, sizeof *sn);
    cr_assert(sn);
    cr_expect_eq(mt_dict_items(d, collect, sn), 0);
    cr_expect_eq(sn->strays, 0);
    measured m = {0};
    for (int r = 0; r < ROUNDS; r++) {
        int64_t acked = 0, missing = 0;
        for (int id = r * PROCS; id < (r + 1) * PROCS; id++)
            for (int i = 0; i < CALLS; i++) {
                int what = bd->outcome[id][i];
                int64_t v = sn->value[id][i];
                acked += what == ACKED;
                missing += what == ACKED && v == 0;
                m.lost += what == LOST;
                m.noconn += what == NOCONN;
                m.broken += v > 1 || (v != 0 && (what == NOCONN || what == NOT_MADE)) ||
                            what == OTHER;
            }
        m.acked += acked;
        m.missing += missing;
        size_t used = strlen(m.rounds);
        snprintf(m.rounds + used, sizeof m.rounds - used, "%s%" PRId64 "/%" PRId64, r ? ", " : "",
                 missing, acked);
        if (missing > m.worst || r == 0) {
            m.worst = missing;
            m.worst_of = acked;
        }
    }
    cr_log_info("appendfsync %s: %d SIGKILLs of redis-server lost %" PRId64 " of %" PRId64
                " acknowledged increments, at most %" PRId64 " of %" PRId64
                " at one kill (each kill: %s; calls cut off: %" PRId64 " lost, %" PRId64
                " not connected)",
                fsync, ROUNDS, m.missing, m.acked, m.worst, m.worst_of, m.rounds, m.lost, m.noconn);
    s.keep = m.broken > 0;
    free(sn);
    mt_dict_free(d);
    board_free(bd);
    test_redis_stop(&s);
    return m;
}

/* appendfsync always: every acknowledged increment survives the kills. */
LEAK_TEST(remote_durability, kill_always, .timeout = 60)
{
    measured m = measure("always");
    cr_expect_gt(m.acked, 100, "the workers ran");
    cr_expect_eq(m.missing, 0, "acknowledged and lost: %" PRId64 " of %" PRId64, m.missing,
                 m.acked);
    cr_expect_eq(m.broken, 0);
}

/* appendfsync everysec: measured and reported; what holds whatever the
 * disk's speed is asserted (no call twice, none done that never went). */
LEAK_TEST(remote_durability, kill_everysec, .timeout = 60)
{
    measured m = measure("everysec");
    cr_expect_gt(m.acked, 100, "the workers ran");
    cr_expect_leq(m.missing, m.acked);
    cr_expect_eq(m.broken, 0);
}
