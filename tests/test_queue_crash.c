/*
 * test_queue_crash.c - mt_queue when processes die inside put and get.
 *
 * First, deaths at a known instruction: a put or get whose copy faults on
 * unreadable or unwritable memory dies while it owns a slot (the child is
 * left unreaped, a zombie, as a careless parent would leave it). Then the
 * random test: rounds of producers and consumers exchanging numbered
 * messages while the test SIGKILLs some of them at random moments; each
 * round checks that every acknowledged message arrived exactly once and that
 * the queue still works.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "helpers.h"
#include "queue_helpers.h"

static void *shared_mem(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    return p;
}

/* Memory that faults when touched. */
static void *poison(size_t size)
{
    void *p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    return p;
}

/* Reap pid and say whether it died abnormally (a signal, or the sanitizers'
 * own exit code after catching the fault). */
static bool died(pid_t pid)
{
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0);
}

/* Reap pid and return its exit status (-1 when it did not exit). */
static int wait_child_status(pid_t pid)
{
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- deaths at a known instruction ------------------------------------------ */

LEAK_TEST(crash, writer_dies_holding_a_slot, .timeout = 30)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 4, .max_message = 4096}), 0);
    char msg[4096];
    cr_assert_eq(mt_queue_put(q, msg, msg_make(msg, 0, 4096), 0), 0);
    void *bad = poison(4096);
    pid_t pid = fork();
    if (pid == 0)
        _exit(mt_queue_put(q, bad, 4096, 0) == 0 ? 0 : 3); /* faults in the copy */
    while (pid_alive(pid))
        mt_sleep(0.001);
    /* Its position is skipped: the others go on around it (it still holds
     * one of the four slots until someone repairs it). */
    for (uint64_t i = 1; i < 3; i++)
        cr_assert_eq(mt_queue_put(q, msg, msg_make(msg, i, 4096), 0), 0);
    cr_expect_eq(mt_queue_put(q, msg, msg_make(msg, 3, 4096), 0), -EAGAIN);
    for (uint64_t i = 0; i < 3; i++) {
        ssize_t n = mt_queue_get_into(q, msg, sizeof msg, 5);
        cr_assert_geq(n, 0);
        cr_assert_eq(msg_check(msg, (size_t)n, 4096), (int64_t)i);
    }
    /* Going round the ring needs the dead writer's slot: it is repaired. */
    for (uint64_t i = 3; i < 12; i++) {
        cr_assert_eq(mt_queue_put(q, msg, msg_make(msg, i, 4096), 5), 0);
        ssize_t n = mt_queue_get_into(q, msg, sizeof msg, 5);
        cr_assert_eq(msg_check(msg, (size_t)n, 4096), (int64_t)i);
    }
    cr_expect_eq(mt_queue_get_into_nowait(q, msg, sizeof msg), -EAGAIN);
    cr_expect_eq(mt_queue_qsize(q), 0);
    cr_expect(died(pid));
    munmap(bad, 4096);
    mt_queue_free(q);
}

LEAK_TEST(crash, reader_dies_holding_a_message, .timeout = 30)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 4, .max_message = 4096}), 0);
    char msg[4096];
    size_t len = msg_make(msg, 7, 4096);
    if (len < 100) /* make sure the copy runs into the poisoned page */
        len = msg_make(msg, 11, 4096);
    cr_assert_eq(mt_queue_put(q, msg, len, 0), 0);
    void *bad = poison(4096);
    pid_t pid = fork();
    if (pid == 0)
        _exit(mt_queue_get_into(q, bad, 4096, 1) >= 0 ? 0 : 3);
    while (pid_alive(pid))
        mt_sleep(0.001);
    /* The message was not delivered: it comes back, whole, exactly once. */
    memset(msg, 0, sizeof msg);
    ssize_t n = mt_queue_get_into(q, msg, sizeof msg, 5);
    cr_assert_eq(n, (ssize_t)len);
    cr_expect_geq(msg_check(msg, (size_t)n, 4096), 7);
    cr_expect_eq(mt_queue_get_into(q, msg, sizeof msg, 0.2), -ETIMEDOUT);
    cr_expect(died(pid));
    munmap(bad, 4096);
    mt_queue_free(q);
}

static void *get_forever(void *arg)
{
    char buf[16];
    return (void *)(intptr_t)mt_queue_get_into(arg, buf, sizeof buf, MT_FOREVER);
}

LEAK_TEST(crash, sleepers_killed_skew_nothing, .timeout = 30)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 1, .max_message = 16}), 0);
    /* A getter and a putter die asleep. */
    pid_t getter = fork();
    if (getter == 0)
        _exit((int)(intptr_t)get_forever(q));
    mt_sleep(0.1);
    kill(getter, SIGKILL);
    cr_expect(died(getter));
    cr_assert_eq(mt_queue_put(q, "full", 4, 0), 0);
    pid_t putter = fork();
    if (putter == 0)
        _exit(mt_queue_put(q, "never", 5, MT_FOREVER));
    mt_sleep(0.1);
    kill(putter, SIGKILL);
    cr_expect(died(putter));
    /* A getter asleep is still woken by the next put. Woken by the put, not
     * by the periodic wake (every 100 ms): a lost wake-up would land that
     * late in half the rounds or more. */
    char buf[16];
    cr_expect_eq(mt_queue_get_into(q, buf, sizeof buf, 0), 4);
    for (int round = 0; round < 8; round++) {
        pthread_t t;
        pthread_create(&t, NULL, get_forever, q);
        mt_sleep(0.03 + 0.01 * round);
        double t0 = mt_monotonic();
        cr_assert_eq(mt_queue_put(q, "wake", 4, 1), 0);
        void *r;
        pthread_join(t, &r);
        cr_expect_eq((intptr_t)r, 4);
        cr_expect_lt(mt_monotonic() - t0, 0.05, "round %d", round);
    }
    mt_queue_free(q);
}

LEAK_TEST(crash, join_survives_a_dead_writer, .timeout = 30)
{
    mt_queue *q;
    cr_assert_eq(
        mt_queue_new(&q, &(mt_queue_opts){.maxsize = 2, .max_message = 4096, .joinable = true}),
        0);
    void *bad = poison(4096);
    pid_t pid = fork();
    if (pid == 0)
        _exit(mt_queue_put(q, bad, 4096, 0) == 0 ? 0 : 3);
    while (pid_alive(pid))
        mt_sleep(0.001);
    /* The dead put promised nothing, so join waits for nothing of it. */
    cr_assert_eq(mt_queue_put(q, "real", 4, 0), 0);
    cr_expect_eq(mt_queue_join(q, 0), -EAGAIN);
    char buf[8];
    cr_assert_eq(mt_queue_get_into(q, buf, sizeof buf, 1), 4);
    cr_assert_eq(mt_queue_task_done(q), 0);
    cr_expect_eq(mt_queue_task_done(q), -EINVAL);
    cr_expect_eq(mt_queue_join(q, 5), 0);
    /* Going round the ring repairs the slot; the count stays right. */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(mt_queue_put(q, "more", 4, 5), 0);
        cr_assert_eq(mt_queue_get_into(q, buf, sizeof buf, 1), 4);
        cr_assert_eq(mt_queue_task_done(q), 0);
    }
    cr_expect_eq(mt_queue_task_done(q), -EINVAL);
    cr_expect_eq(mt_queue_join(q, 5), 0);
    cr_expect(died(pid));
    munmap(bad, 4096);
    mt_queue_free(q);
}

/* A consumer dies holding a message; the queue is closed after that. Close
 * ends puts, not the messages still there: the dead consumer's message is
 * given back and drained, by a get that waits and by one that does not,
 * and only then do gets say MT_ECLOSED. */
LEAK_TEST(crash, close_after_a_dead_reader_drains_its_message, .timeout = 30)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 4, .max_message = 4096}), 0);
    char msg[4096];
    size_t len[2];
    for (uint64_t i = 0; i < 2; i++) {
        len[i] = msg_make(msg, 100 + i, 4096);
        while (len[i] < 100) /* long enough for the copy to reach the poisoned page */
            len[i] = msg_make(msg, 100 + i + 2 * (uint64_t)(len[i] + 1), 4096);
        cr_assert_eq(mt_queue_put(q, msg, len[i], 0), 0);
    }
    void *bad = poison(4096);
    pid_t pid[2];
    for (int k = 0; k < 2; k++) {
        pid[k] = fork();
        if (pid[k] == 0)
            _exit(mt_queue_get_into(q, bad, 4096, 1) >= 0 ? 0 : 3);
        cr_expect(died(pid[k])); /* reaped: a get that does not wait knows it is dead */
    }
    cr_assert_eq(mt_queue_close(q), 0);
    /* One with a timeout of for ever, one that does not wait. */
    memset(msg, 0, sizeof msg);
    ssize_t n = mt_queue_get_into(q, msg, sizeof msg, MT_FOREVER);
    cr_assert_geq(n, 0, "got %s", mt_err_name((int)n));
    cr_expect_geq(msg_check(msg, (size_t)n, 4096), 100);
    n = mt_queue_get_into_nowait(q, msg, sizeof msg);
    cr_assert_geq(n, 0, "got %s", mt_err_name((int)n));
    cr_expect_geq(msg_check(msg, (size_t)n, 4096), 100);
    cr_expect_eq(mt_queue_get_into(q, msg, sizeof msg, MT_FOREVER), MT_ECLOSED);
    cr_expect_eq(mt_queue_get_into_nowait(q, msg, sizeof msg), MT_ECLOSED);
    munmap(bad, 4096);
    mt_queue_free(q);
}

/* ---- random kills ----------------------------------------------------------- */

/* Each round forks six processes: ThreadSanitizer makes that slow, and the
 * threads it is there for are in test_queue.c. */
#ifdef __SANITIZE_THREAD__
#define ROUNDS 25
#else
#define ROUNDS 200
#endif

enum {
    PRODUCERS = 3,
    CONSUMERS = 3,
    EACH = 150, /* messages per producer */
    TOTAL = PRODUCERS * EACH,
    MAX_MSG = 256 * 1024, /* a quarter of the messages are large: long copies */
    LOGS = CONSUMERS + 1, /* the consumers', then the test's own */
};

/* What the processes of one round record, in memory they all share. */
typedef struct record {
    _Atomic uint8_t attempted[TOTAL]; /* a put of it began */
    _Atomic uint8_t acked[TOTAL];     /* that put returned 0 */
    _Atomic uint32_t progress;        /* puts acknowledged, to time the kills */
    _Atomic uint32_t count[LOGS];     /* messages each log holds */
    _Atomic int stop;
    uint32_t got[LOGS][TOTAL]; /* the ids each one received, in order */
    /* Where each one receives. A consumer killed after get's last step, but
     * before it logged the message, leaves the message here. */
    char inbox[LOGS][MAX_MSG];
} record;

static int producer(mt_queue *q, record *r, int me)
{
    char *msg = malloc(MAX_MSG);
    for (int i = 0; i < EACH; i++) {
        uint64_t id = (uint64_t)me * EACH + (uint64_t)i;
        size_t len = msg_make(msg, id, MAX_MSG);
        atomic_store(&r->attempted[id], 1);
        if (mt_queue_put(q, msg, len, 10) != 0)
            return 1;
        atomic_store(&r->acked[id], 1);
        atomic_fetch_add(&r->progress, 1);
        if (i % 16 == 0)
            sched_yield(); /* mix the processes up */
    }
    free(msg);
    return 0;
}

/* Take one message into log `me`. Returns get's result, or -EBADMSG for a
 * message that is not whole and intact. */
static ssize_t receive(mt_queue *q, record *r, int me, double timeout)
{
    ssize_t n = mt_queue_get_into(q, r->inbox[me], MAX_MSG, timeout);
    if (n < 0)
        return n;
    int64_t id = msg_check(r->inbox[me], (size_t)n, MAX_MSG);
    if (id < 0 || id >= TOTAL)
        return -EBADMSG;
    uint32_t k = atomic_load(&r->count[me]);
    r->got[me][k] = (uint32_t)id;
    atomic_store(&r->count[me], k + 1);
    return n;
}

static int consumer(mt_queue *q, record *r, int me)
{
    for (;;) {
        ssize_t n = receive(q, r, me, 0.005);
        if (n == -ETIMEDOUT && atomic_load(&r->stop))
            return 0;
        if (n < 0 && n != -ETIMEDOUT)
            return 1;
    }
}

typedef struct tally {
    int times[TOTAL];
    bool pending[TOTAL]; /* only in the inbox of a consumer killed inside get */
} tally;

static void count_logs(record *r, const bool *killed, tally *t)
{
    memset(t, 0, sizeof *t);
    for (int c = 0; c < LOGS; c++) {
        uint32_t n = atomic_load(&r->count[c]);
        for (uint32_t k = 0; k < n; k++) {
            uint32_t id = r->got[c][k];
            cr_assert(atomic_load(&r->attempted[id]), "message %u was never put", id);
            t->times[id]++;
        }
        if (c < CONSUMERS && killed[c]) {
            uint64_t id;
            memcpy(&id, r->inbox[c], sizeof id);
            if (id < TOTAL && msg_check(r->inbox[c], msg_size(id, MAX_MSG), MAX_MSG) >= 0)
                t->pending[id] = true;
        }
    }
}

/* Every acknowledged message arrived, and nothing arrived twice. */
static bool all_delivered(record *r, const tally *t)
{
    for (int id = 0; id < TOTAL; id++) {
        cr_assert_leq(t->times[id], 1, "message %d arrived %d times", id, t->times[id]);
        if (atomic_load(&r->acked[id]) && !t->times[id] && !t->pending[id])
            return false;
    }
    return true;
}

static void drain_one(mt_queue *q, record *r, double timeout)
{
    ssize_t n = receive(q, r, CONSUMERS, timeout);
    cr_assert(n >= 0 || n == -ETIMEDOUT || n == -EAGAIN, "%s", mt_strerror((int)n));
}

/* A random child, one that is on a CPU right now if there is one: it is
 * more likely to be inside a copy, holding a slot. */
static int pick_victim(const pid_t *pids, unsigned *seed)
{
    int n = CONSUMERS + PRODUCERS, start = rand_r(seed) % n;
    for (int k = 0; k < n; k++) {
        int i = (start + k) % n;
        char path[64], state = 0;
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pids[i]);
        FILE *f = fopen(path, "re");
        if (f && fscanf(f, "%*d (%*[^)]) %c", &state) == 1 && state == 'R') {
            fclose(f);
            return i;
        }
        if (f)
            fclose(f);
    }
    return start;
}

/* Kill one to three children while the messages flow: each when the
 * acknowledged puts reach a random mark. Nobody is reaped yet. */
static void kill_some(record *r, const pid_t *pids, bool *killed, unsigned *seed)
{
    int kills = 1 + rand_r(seed) % 3;
    uint32_t mark = 0;
    for (int k = 0; k < kills; k++) {
        mark += (uint32_t)rand_r(seed) % (TOTAL / kills);
        double until = mt_monotonic() + 0.05;
        while (atomic_load(&r->progress) < mark && mt_monotonic() < until)
            mt_sleep(20e-6);
        int victim = pick_victim(pids, seed);
        kill(pids[victim], SIGKILL);
        killed[victim] = true;
    }
}

static void one_round(unsigned *seed)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 1 + rand_r(seed) % 8,
                                                   .max_message = MAX_MSG}),
                 0);
    record *r = shared_mem(sizeof *r);
    pid_t pids[CONSUMERS + PRODUCERS];
    bool killed[CONSUMERS + PRODUCERS] = {false};
    for (int i = 0; i < CONSUMERS + PRODUCERS; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            _exit(i < CONSUMERS ? consumer(q, r, i) : producer(q, r, i - CONSUMERS));
        cr_assert_geq(pids[i], 0);
    }
    kill_some(r, pids, killed, seed);
    /* Help drain while the producers finish: all consumers may be dead. The
     * dead are reaped only now: until then they are zombies, which the
     * queue must tell from the living. */
    for (int left = PRODUCERS; left > 0;) {
        for (int i = CONSUMERS; i < CONSUMERS + PRODUCERS; i++) {
            int status;
            if (pids[i] <= 0 || waitpid(pids[i], &status, WNOHANG) != pids[i])
                continue;
            cr_assert(killed[i] || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
                      "producer %d failed", i - CONSUMERS);
            pids[i] = 0;
            left--;
        }
        drain_one(q, r, 0.002);
    }
    atomic_store(&r->stop, 1);
    for (int i = 0; i < CONSUMERS; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        cr_assert(killed[i] || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
                  "consumer %d failed", i);
    }
    /* Drain what is left (repairs included) until every acknowledged
     * message is accounted for. */
    tally *t = malloc(sizeof *t);
    double until = mt_monotonic() + 10;
    for (;;) {
        count_logs(r, killed, t);
        if (all_delivered(r, t))
            break;
        cr_assert_lt(mt_monotonic(), until, "acknowledged messages are missing");
        drain_one(q, r, 0.05);
    }
    /* The queue is not stuck: it takes and gives a full load again. Messages
     * of the round may still turn up (unacknowledged ones, or repaired
     * late): they are logged, and so checked against duplicates below. */
    char *msg = malloc(MAX_MSG);
    size_t slots = mt_queue_maxsize(q);
    for (uint64_t id = TOTAL; id < TOTAL + 2 * slots; id++) {
        size_t len = msg_make(msg, id, MAX_MSG);
        while (mt_queue_put(q, msg, len, 0.01) == -ETIMEDOUT)
            drain_one(q, r, 0);
        for (;;) {
            ssize_t n = mt_queue_get_into(q, msg, MAX_MSG, 5);
            cr_assert_geq(n, 0, "%s", mt_strerror((int)n));
            int64_t got = msg_check(msg, (size_t)n, MAX_MSG);
            if (got == (int64_t)id)
                break;
            cr_assert(got >= 0 && got < TOTAL, "a stranger in the queue");
            uint32_t k = atomic_load(&r->count[CONSUMERS]);
            r->got[CONSUMERS][k] = (uint32_t)got;
            atomic_store(&r->count[CONSUMERS], k + 1);
        }
    }
    count_logs(r, killed, t);
    cr_assert(all_delivered(r, t));
    free(msg);
    free(t);
    munmap(r, sizeof *r);
    mt_queue_free(q);
}

LEAK_TEST(crash, random_kills_lose_and_duplicate_nothing, .timeout = 240)
{
    unsigned seed = (unsigned)getpid() ^ (unsigned)mt_monotonic_ns();
    for (int round = 0; round < ROUNDS; round++)
        one_round(&seed);
}

/* ---- acknowledged gets under random kills ------------------------------------ */

/* Two processes on a named queue, as two programs would use it: a producer
 * puts numbered messages; a consumer claims each, processes it (counts it)
 * and acknowledges it. The test SIGKILLs the consumer at random moments and
 * starts another. Every message whose put returned 0 must be processed at
 * least once, none may be delivered again once acknowledged, and no more
 * may be processed twice than there were kills. */
enum {
    ACK_TOTAL = 3000,
    ACK_MAX_MSG = 64,
#ifdef __SANITIZE_THREAD__
    ACK_KILLS = 15,
#else
    ACK_KILLS = 60,
#endif
};

typedef struct ack_record {
    _Atomic uint8_t put_ok[ACK_TOTAL];      /* its put returned 0 */
    _Atomic uint32_t processed[ACK_TOTAL];  /* times a consumer processed it */
    _Atomic uint8_t acked[ACK_TOTAL];       /* its ack returned 0 */
    _Atomic uint32_t after_ack;             /* deliveries of acknowledged ones */
    _Atomic uint32_t consumed;              /* messages acknowledged, to time kills */
    _Atomic int producer_done;
} ack_record;

static int ack_producer(const char *name, ack_record *r)
{
    mt_queue *q;
    if (mt_queue_open(&q, name) < 0)
        return 1;
    char msg[ACK_MAX_MSG];
    for (uint64_t id = 0; id < ACK_TOTAL; id++) {
        if (mt_queue_put(q, msg, msg_make(msg, id, ACK_MAX_MSG), 30) < 0)
            return 2;
        atomic_store(&r->put_ok[id], 1);
    }
    mt_queue_free(q);
    atomic_store(&r->producer_done, 1);
    return 0;
}

/* Consume until the producer is done and nothing came for a while. */
static int ack_consumer(const char *name, ack_record *r, unsigned seed)
{
    mt_queue *q;
    if (mt_queue_open(&q, name) < 0)
        return 1;
    mt_buf b = MT_BUF_INIT;
    for (;;) {
        mt_queue_receipt rc;
        int err = mt_queue_claim(q, &b, &rc, 1);
        if (err == -ETIMEDOUT && atomic_load(&r->producer_done))
            break;
        if (err == -ETIMEDOUT)
            continue;
        if (err < 0)
            return 3;
        int64_t id = msg_check(b.data, b.len, ACK_MAX_MSG);
        if (id < 0 || id >= ACK_TOTAL)
            return 4;
        if (atomic_load(&r->acked[id]))
            atomic_fetch_add(&r->after_ack, 1);
        atomic_fetch_add(&r->processed[id], 1);
        for (unsigned spin = rand_r(&seed) % 2000; spin > 0; spin--) /* the work */
            atomic_signal_fence(memory_order_seq_cst);
        if (mt_queue_ack(q, &rc) < 0)
            return 5;
        atomic_store(&r->acked[id], 1);
        atomic_fetch_add(&r->consumed, 1);
    }
    mt_buf_free(&b);
    mt_queue_free(q);
    return 0;
}

LEAK_TEST(crash, claimed_messages_survive_killed_consumers, .timeout = 120)
{
    char name[64];
    unique_name(name, sizeof name, "ack-kills");
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = name, .maxsize = 16,
                                                   .max_message = ACK_MAX_MSG}),
                 0);
    ack_record *r = shared_mem(sizeof *r);
    unsigned seed = (unsigned)getpid() ^ (unsigned)mt_monotonic_ns();
    pid_t producer = fork();
    if (producer == 0)
        _exit(ack_producer(name, r));
    int kills = 0;
    for (; kills < ACK_KILLS && atomic_load(&r->consumed) < ACK_TOTAL * 9 / 10; kills++) {
        unsigned child_seed = rand_r(&seed);
        pid_t consumer = fork();
        if (consumer == 0)
            _exit(ack_consumer(name, r, child_seed));
        /* Let it open the queue and consume a little, then kill it. */
        uint32_t from = atomic_load(&r->consumed);
        double until = mt_monotonic() + 2;
        while (atomic_load(&r->consumed) < from + 1 + rand_r(&seed) % 8 &&
               mt_monotonic() < until)
            mt_sleep(0.0002);
        mt_sleep((rand_r(&seed) % 1000) * 1e-6);
        kill(consumer, SIGKILL);
        cr_expect(died(consumer));
    }
    /* The last consumer is left to finish. */
    pid_t last = fork();
    if (last == 0)
        _exit(ack_consumer(name, r, rand_r(&seed)));
    cr_expect_eq(wait_child_status(producer), 0, "producer failed");
    cr_expect_eq(wait_child_status(last), 0, "consumer failed");
    uint64_t put = 0, processed = 0, missing = 0;
    for (int id = 0; id < ACK_TOTAL; id++) {
        put += atomic_load(&r->put_ok[id]);
        processed += atomic_load(&r->processed[id]);
        missing += atomic_load(&r->put_ok[id]) && !atomic_load(&r->processed[id]);
    }
    cr_log_info("%d kills: %llu put, %llu processed", kills, (unsigned long long)put,
                (unsigned long long)processed);
    cr_expect_eq(put, ACK_TOTAL);
    cr_expect_eq(missing, 0, "messages put and never processed");
    cr_expect_eq(atomic_load(&r->after_ack), 0, "messages delivered after their ack");
    cr_expect_leq(processed, put + (uint64_t)kills, "more processed twice than kills");
    char buf[ACK_MAX_MSG];
    cr_expect_eq(mt_queue_get_into_nowait(q, buf, sizeof buf), -EAGAIN);
    munmap(r, sizeof *r);
    mt_queue_free(q);
}

/* ---- liveness of a process whose main thread has ended ------------------ */

bool mt__queue_pid_dead(const mt_queue *q, uint32_t pid); /* src/queue */

static void *sleep_then_exit(void *arg)
{
    (void)arg;
    mt_sleep(1.0);
    exit(0);
}

LEAK_TEST(crash, a_process_whose_main_thread_ended_is_alive, .timeout = 30)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, NULL), 0);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t t;
        pthread_create(&t, NULL, sleep_then_exit, NULL);
        if (write(fds[1], "x", 1) != 1)
            _exit(2);
        pthread_exit(NULL); /* /proc/PID/stat now reads 'Z', the process runs on */
    }
    close(fds[1]);
    char c;
    cr_assert_eq(read(fds[0], &c, 1), 1);
    close(fds[0]);
    mt_sleep(0.2);
    cr_expect_not(mt__queue_pid_dead(q, (uint32_t)pid), "a live process was taken for dead");
    /* Once the last thread is gone too, the zombie is dead. (Poll: an exit
     * under ThreadSanitizer lingers a second in its atexit handler.) */
    double deadline = mt_monotonic() + 10.0;
    while (!mt__queue_pid_dead(q, (uint32_t)pid) && mt_monotonic() < deadline)
        mt_sleep(0.05);
    cr_expect(mt__queue_pid_dead(q, (uint32_t)pid));
    int status;
    waitpid(pid, &status, 0);
    mt_queue_free(q);
}
