/*
 * test_queue.c - mt_queue: order, sizes, full and empty, timeouts, close,
 * joinable, threads and processes, named queues opened by another program.
 * Crashes are in test_queue_crash.c.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "helpers.h"
#include "queue_helpers.h"

/* ---- helpers ------------------------------------------------------------- */

static bool shm_exists(const char *name, mode_t *mode)
{
    char path[300];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/" MT_QUEUE_SHM_PREFIX "%s", name);
    if (stat(path, &st) < 0)
        return false;
    if (mode)
        *mode = st.st_mode & 07777;
    return true;
}

/* Start tests/queue_peer (built beside this program) with arguments. */
static pid_t start_peer(const char *const *args, int *stdin_fd, int *stdout_fd)
{
    static char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 20);
    cr_assert_gt(n, 0);
    path[n] = '\0';
    strcat(dirname(path), "/queue_peer");
    char *argv[8] = {"queue_peer"};
    for (int i = 0; args[i]; i++)
        argv[i + 1] = (char *)args[i];
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (stdin_fd)
        cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
    if (stdout_fd)
        cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    pid_t pid = fork();
    if (pid == 0) { /* no Criterion calls here: they would report from the child */
        if (stdin_fd)
            dup2(in[0], 0);
        if (stdout_fd)
            dup2(out[1], 1);
        execv(path, argv);
        _exit(127);
    }
    cr_assert_geq(pid, 0);
    if (stdin_fd) {
        close(in[0]);
        *stdin_fd = in[1];
    }
    if (stdout_fd) {
        close(out[1]);
        *stdout_fd = out[0];
    }
    return pid;
}

/* Exit status of child pid, or minus the signal that killed it. */
static int wait_child(pid_t pid)
{
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

static void *shared_mem(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    return p;
}

/* ---- one thread ------------------------------------------------------------ */

LEAK_TEST(queue, fifo_sizes_and_counts, .timeout = 20)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 300, .max_message = 1000}), 0);
    cr_expect_eq(mt_queue_maxsize(q), 300);
    cr_expect_eq(mt_queue_max_message(q), 1000);
    cr_expect(mt_queue_empty(q));
    char msg[1000];
    /* Every size from 0 to the limit, across the inline boundary. */
    size_t sizes[] = {0, 1, 47, 48, 49, 64, 999, 1000};
    for (int round = 0; round < 3; round++) { /* wrap around the ring */
        for (uint64_t i = 0; i < 250; i++) {
            size_t len = i < 8 ? sizes[i] : msg_make(msg, i, 1000);
            if (i < 8)
                memset(msg, (int)i, len);
            cr_assert_eq(mt_queue_put(q, msg, len, 0), 0);
            cr_expect_eq(mt_queue_qsize(q), i + 1);
        }
        mt_buf got = MT_BUF_INIT;
        for (uint64_t i = 0; i < 250; i++) {
            cr_assert_eq(mt_queue_get(q, &got, 0), 0);
            if (i < 8) {
                cr_assert_eq(got.len, sizes[i]);
                for (size_t k = 0; k < got.len; k++)
                    cr_assert_eq(got.data[k], (char)i);
            } else {
                cr_assert_eq(msg_check(got.data, got.len, 1000), (int64_t)i);
            }
            cr_assert_eq(got.data[got.len], '\0');
            cr_expect_eq(mt_queue_qsize(q), 250 - i - 1);
        }
        mt_buf_free(&got);
    }
    cr_expect(mt_queue_empty(q));
    mt_queue_free(q);
    mt_queue_free(NULL);
}

/* Consumers that finish out of order: the first holds position 0 while it
 * copies into a write-protected buffer (its fault handler waits until the
 * second consumer has taken and released position 1). Once both returned,
 * nothing is in flight and the queue is empty. */
static char *ooo_buf;
static size_t ooo_page;
static _Atomic int ooo_first_in, ooo_second_done;

static void ooo_on_fault(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)uc;
    char *addr = si->si_addr;
    if (addr < ooo_buf || addr >= ooo_buf + ooo_page)
        abort();
    atomic_store(&ooo_first_in, 1);
    while (!atomic_load(&ooo_second_done))
        nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    mprotect(ooo_buf, ooo_page, PROT_READ | PROT_WRITE);
}

static void *ooo_first(void *arg)
{
    mt_queue *q = arg;
    return (void *)(intptr_t)mt_queue_get_into(q, ooo_buf, 100, 5);
}

LEAK_TEST(queue, drained_out_of_order_reads_empty, .timeout = 20)
{
    ooo_page = (size_t)sysconf(_SC_PAGESIZE);
    ooo_buf = mmap(NULL, ooo_page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(ooo_buf, MAP_FAILED);
    struct sigaction sa = {.sa_sigaction = ooo_on_fault, .sa_flags = SA_SIGINFO}, old;
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGSEGV, &sa, &old), 0);
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 4, .max_message = 100}), 0);
    char big[100] = {1};
    cr_assert_eq(mt_queue_put(q, big, sizeof big, 0), 0); /* position 0 */
    cr_assert_eq(mt_queue_put(q, "x", 1, 0), 0);          /* position 1 */
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, ooo_first, q), 0);
    while (!atomic_load(&ooo_first_in))
        nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    char small[8];
    cr_expect_eq(mt_queue_get_into(q, small, sizeof small, 0), 1);
    atomic_store(&ooo_second_done, 1);
    void *first = NULL;
    pthread_join(t, &first);
    cr_expect_eq((intptr_t)first, 100);
    cr_expect_eq(mt_queue_qsize(q), 0);
    cr_expect(mt_queue_empty(q));
    mt_queue_free(q);
    sigaction(SIGSEGV, &old, NULL);
    munmap(ooo_buf, ooo_page);
}

LEAK_TEST(queue, nowait_full_empty_and_timeouts, .timeout = 20)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 3, .max_message = 8}), 0);
    char buf[8];
    cr_expect_eq(mt_queue_get_into_nowait(q, buf, sizeof buf), -EAGAIN); /* Empty */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mt_queue_put_nowait(q, "abc", 3), 0);
    cr_expect(mt_queue_full(q));
    cr_expect_eq(mt_queue_put_nowait(q, "abc", 3), -EAGAIN); /* Full */
    cr_expect_eq(mt_queue_put(q, "abc", 3, 0), -EAGAIN);
    double t0 = mt_monotonic();
    cr_expect_eq(mt_queue_put(q, "abc", 3, 0.05), -ETIMEDOUT);
    double waited = mt_monotonic() - t0;
    cr_expect_geq(waited, 0.05);
    cr_expect_lt(waited, 2);
    cr_expect_eq(mt_queue_qsize(q), 3);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mt_queue_get_into(q, buf, sizeof buf, 1), 3);
    t0 = mt_monotonic();
    cr_expect_eq(mt_queue_get_into(q, buf, sizeof buf, 0.05), -ETIMEDOUT);
    cr_expect_geq(mt_monotonic() - t0, 0.05);
    mt_buf b = MT_BUF_INIT;
    cr_expect_eq(mt_queue_get_nowait(q, &b), -EAGAIN);
    cr_expect_eq(mt_queue_get(q, &b, 0.01), -ETIMEDOUT);
    mt_buf_free(&b);
    mt_queue_free(q);
}

LEAK_TEST(queue, oversized_messages_are_refused_whole, .timeout = 20)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 4, .max_message = 100}), 0);
    char big[101] = {0}, small[10];
    cr_expect_eq(mt_queue_put(q, big, 101, 0), -EMSGSIZE);
    cr_expect_eq(mt_queue_put(q, big, 101, MT_FOREVER), -EMSGSIZE);
    cr_expect_eq(mt_queue_qsize(q), 0);
    /* Too long for the caller's buffer: it stays queued, in its place. */
    memset(big, 'x', 100);
    cr_assert_eq(mt_queue_put(q, big, 100, 0), 0);
    cr_assert_eq(mt_queue_put(q, "second", 6, 0), 0);
    cr_expect_eq(mt_queue_get_into(q, small, sizeof small, 0), -EMSGSIZE);
    cr_expect_eq(mt_queue_get_into_nowait(q, small, sizeof small), -EMSGSIZE);
    cr_expect_eq(mt_queue_qsize(q), 2);
    char out[100];
    cr_assert_eq(mt_queue_get_into(q, out, mt_queue_max_message(q), 0), 100);
    cr_expect_eq(memcmp(out, big, 100), 0);
    cr_assert_eq(mt_queue_get_into(q, small, sizeof small, 0), 6);
    cr_expect_eq(memcmp(small, "second", 6), 0);
    /* Zero bytes into no buffer at all. */
    cr_assert_eq(mt_queue_put(q, NULL, 0, 0), 0);
    cr_expect_eq(mt_queue_get_into(q, NULL, 0, 0), 0);
    mt_queue_free(q);
}

LEAK_TEST(queue, bad_arguments_change_nothing, .timeout = 20)
{
    mt_queue *q = (mt_queue *)1;
    cr_expect_eq(mt_queue_new(NULL, NULL), -EINVAL);
    cr_expect_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = MT_QUEUE_MAX_MAXSIZE + 1}), -EINVAL);
    cr_expect_eq(q, NULL);
    cr_expect_eq(mt_queue_new(&q, &(mt_queue_opts){.max_message = MT_QUEUE_MAX_MESSAGE + 1}),
                 -EINVAL);
    cr_expect_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 1 << 20, .max_message = 1 << 20}),
                 -EINVAL);
    cr_expect_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = SIZE_MAX}), -EINVAL);
    char longname[MT_QUEUE_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *bad[] = {"", ".hidden", "a/b", "/abs", "sp ace", "tab\t", "\xc3\xa9", longname};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(mt_queue_new(&q, &(mt_queue_opts){.name = bad[i]}), -EINVAL, "%s", bad[i]);
        cr_expect_eq(mt_queue_open(&q, bad[i]), -EINVAL, "%s", bad[i]);
        cr_expect_eq(mt_queue_unlink(bad[i]), -EINVAL, "%s", bad[i]);
        cr_expect(!shm_exists(bad[i], NULL), "%s", bad[i]);
    }
    cr_expect_eq(mt_queue_open(&q, NULL), -EINVAL);
    cr_expect_eq(mt_queue_open(NULL, "x"), -EINVAL);
    cr_expect_eq(mt_queue_unlink(NULL), -EINVAL);

    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 2, .max_message = 8}), 0);
    mt_buf b = MT_BUF_INIT;
    char c[8];
    cr_expect_eq(mt_queue_put(NULL, "x", 1, 0), -EINVAL);
    cr_expect_eq(mt_queue_put(q, NULL, 1, 0), -EINVAL);
    cr_expect_eq(mt_queue_put(q, "x", 1, NAN), -EINVAL);
    cr_expect_eq(mt_queue_get(q, NULL, 0), -EINVAL);
    cr_expect_eq(mt_queue_get(NULL, &b, 0), -EINVAL);
    cr_expect_eq(mt_queue_get(q, &b, NAN), -EINVAL);
    cr_expect_eq(mt_queue_get_into(q, NULL, 1, 0), -EINVAL);
    cr_expect_eq(mt_queue_get_into(q, c, sizeof c, NAN), -EINVAL);
    cr_expect_eq(mt_queue_task_done(q), -EINVAL); /* not joinable */
    cr_expect_eq(mt_queue_join(q, 0), -EINVAL);
    cr_expect_eq(mt_queue_task_done(NULL), -EINVAL);
    cr_expect_eq(mt_queue_close(NULL), -EINVAL);
    cr_expect_eq(mt_queue_qsize(q), 0);
    cr_expect(!mt_queue_closed(q));
    cr_assert_eq(mt_queue_put(q, "ok", 2, 0), 0); /* still usable */
    cr_expect_eq(mt_queue_get_into(q, c, sizeof c, 0), 2);
    mt_queue_free(q);
}

/* ---- threads --------------------------------------------------------------- */

enum { T_PRODUCERS = 4, T_CONSUMERS = 4, T_EACH = 20000 };

typedef struct tshared {
    mt_queue *q;
    _Atomic uint8_t seen[T_PRODUCERS * T_EACH];
    _Atomic int bad;
    _Atomic long got;
} tshared;

typedef struct targ {
    tshared *s;
    uint64_t id;
} targ;

static void *t_producer(void *arg)
{
    targ *a = arg;
    char msg[64];
    for (uint64_t i = 0; i < T_EACH; i++) {
        uint64_t id = a->id * T_EACH + i;
        size_t len = msg_make(msg, id, 64);
        if (mt_queue_put(a->s->q, msg, len, 10) != 0)
            atomic_store(&a->s->bad, 1);
    }
    return NULL;
}

static void *t_consumer(void *arg)
{
    targ *a = arg;
    char msg[64];
    int64_t last[T_PRODUCERS];
    for (int p = 0; p < T_PRODUCERS; p++)
        last[p] = -1;
    for (;;) {
        ssize_t n = mt_queue_get_into(a->s->q, msg, sizeof msg, 10);
        if (n == MT_ECLOSED)
            break;
        int64_t id = n < 0 ? -1 : msg_check(msg, (size_t)n, 64);
        if (id < 0 || id >= T_PRODUCERS * T_EACH || atomic_exchange(&a->s->seen[id], 1) ||
            id <= last[id / T_EACH]) { /* unknown, twice, or out of its producer's order */
            atomic_store(&a->s->bad, 1);
            break;
        }
        last[id / T_EACH] = id;
        atomic_fetch_add(&a->s->got, 1);
    }
    return NULL;
}

LEAK_TEST(queue, threads_many_producers_many_consumers, .timeout = 60)
{
    tshared *s = calloc(1, sizeof *s);
    cr_assert_eq(mt_queue_new(&s->q, &(mt_queue_opts){.maxsize = 16, .max_message = 64}), 0);
    pthread_t pt[T_PRODUCERS], ct[T_CONSUMERS];
    targ pa[T_PRODUCERS], ca[T_CONSUMERS];
    for (int i = 0; i < T_CONSUMERS; i++) {
        ca[i] = (targ){s, (uint64_t)i};
        pthread_create(&ct[i], NULL, t_consumer, &ca[i]);
    }
    for (int i = 0; i < T_PRODUCERS; i++) {
        pa[i] = (targ){s, (uint64_t)i};
        pthread_create(&pt[i], NULL, t_producer, &pa[i]);
    }
    for (int i = 0; i < T_PRODUCERS; i++)
        pthread_join(pt[i], NULL);
    mt_queue_close(s->q);
    for (int i = 0; i < T_CONSUMERS; i++)
        pthread_join(ct[i], NULL);
    cr_expect_eq(atomic_load(&s->bad), 0);
    cr_expect_eq(atomic_load(&s->got), T_PRODUCERS * T_EACH);
    mt_queue_free(s->q);
    free(s);
}

/* ---- processes ------------------------------------------------------------- */

enum { P_PRODUCERS = 3, P_CONSUMERS = 2, P_EACH = 20000 };

typedef struct pshared {
    _Atomic uint8_t seen[P_PRODUCERS * P_EACH];
    _Atomic long got[P_CONSUMERS];
} pshared;

static int p_consumer(mt_queue *q, pshared *s, int me)
{
    char msg[256];
    int64_t last[P_PRODUCERS] = {-1, -1, -1};
    for (;;) {
        ssize_t n = mt_queue_get_into(q, msg, sizeof msg, 20);
        if (n == MT_ECLOSED)
            return 0;
        int64_t id = n < 0 ? -1 : msg_check(msg, (size_t)n, 256);
        if (id < 0 || id >= P_PRODUCERS * P_EACH || atomic_exchange(&s->seen[id], 1) ||
            id <= last[id / P_EACH])
            return 1;
        last[id / P_EACH] = id;
        atomic_fetch_add(&s->got[me], 1);
    }
}

static int p_producer(mt_queue *q, int me)
{
    char msg[256];
    for (uint64_t i = 0; i < P_EACH; i++) {
        uint64_t id = (uint64_t)me * P_EACH + i;
        if (mt_queue_put(q, msg, msg_make(msg, id, 256), 20) != 0)
            return 1;
    }
    return 0;
}

LEAK_TEST(queue, processes_many_producers_many_consumers, .timeout = 60)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 32, .max_message = 256}), 0);
    pshared *s = shared_mem(sizeof *s);
    pid_t cons[P_CONSUMERS], prod[P_PRODUCERS];
    for (int i = 0; i < P_CONSUMERS; i++)
        if ((cons[i] = fork()) == 0)
            _exit(p_consumer(q, s, i));
    for (int i = 0; i < P_PRODUCERS; i++)
        if ((prod[i] = fork()) == 0)
            _exit(p_producer(q, i));
    for (int i = 0; i < P_PRODUCERS; i++)
        cr_expect_eq(wait_child(prod[i]), 0);
    mt_queue_close(q);
    long total = 0;
    for (int i = 0; i < P_CONSUMERS; i++) {
        cr_expect_eq(wait_child(cons[i]), 0);
        total += atomic_load(&s->got[i]);
    }
    cr_expect_eq(total, P_PRODUCERS * P_EACH);
    munmap(s, sizeof *s);
    mt_queue_free(q);
}

LEAK_TEST(queue, child_put_wakes_parent_blocked_in_get, .timeout = 20)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 1, .max_message = 16}), 0);
    pid_t pid = fork();
    if (pid == 0) {
        mt_sleep(0.2);
        _exit(mt_queue_put(q, "from child", 10, 5) == 0 ? 0 : 1);
    }
    char buf[16];
    double t0 = mt_monotonic();
    cr_expect_eq(mt_queue_get_into(q, buf, sizeof buf, 10), 10);
    cr_expect_lt(mt_monotonic() - t0, 5); /* woken, not timed out */
    cr_expect_eq(memcmp(buf, "from child", 10), 0);
    cr_expect_eq(wait_child(pid), 0);
    mt_queue_free(q);
}

/* ---- acknowledged gets ------------------------------------------------------ */

LEAK_TEST(queue, claim_ack_and_nack, .timeout = 20)
{
    mt_queue *q;
    cr_assert_eq(
        mt_queue_new(&q, &(mt_queue_opts){.maxsize = 4, .max_message = 8, .joinable = true}), 0);
    mt_buf b = MT_BUF_INIT;
    mt_queue_receipt r1, r2, r3;
    cr_assert_eq(mt_queue_put(q, "a", 1, 0), 0);
    cr_assert_eq(mt_queue_put(q, "b", 1, 0), 0);
    cr_assert_eq(mt_queue_claim(q, &b, &r1, 0), 0);
    cr_expect_str_eq(b.data, "a");
    cr_expect_eq(mt_queue_qsize(q), 2, "a claim keeps its slot");
    /* Others go on around the claim. */
    cr_assert_eq(mt_queue_get(q, &b, 0), 0);
    cr_expect_str_eq(b.data, "b");
    cr_assert_eq(mt_queue_task_done(q), 0);
    cr_expect_eq(mt_queue_claim(q, &b, &r2, 0), -EAGAIN);
    cr_expect_eq(mt_queue_join(q, 0), -EAGAIN);
    /* Given back: received again. */
    cr_assert_eq(mt_queue_nack(q, &r1), 0);
    cr_assert_eq(mt_queue_claim(q, &b, &r2, 0), 0);
    cr_expect_str_eq(b.data, "a");
    cr_expect_eq(mt_queue_join(q, 0), -EAGAIN);
    /* Acknowledged: gone, and the join counts it done. */
    cr_assert_eq(mt_queue_ack(q, &r2), 0);
    cr_expect_eq(mt_queue_ack(q, &r2), -ESTALE);
    cr_expect_eq(mt_queue_nack(q, &r2), -ESTALE);
    cr_expect_eq(mt_queue_join(q, 0), 0);
    cr_expect_eq(mt_queue_task_done(q), -EINVAL);
    cr_expect_eq(mt_queue_qsize(q), 0);
    cr_expect_eq(mt_queue_get(q, &b, 0), -EAGAIN);
    /* Round the ring with claims. */
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(mt_queue_put(q, "c", 1, 0), 0);
        cr_assert_eq(mt_queue_claim(q, &b, &r3, 0), 0);
        cr_assert_eq(mt_queue_ack(q, &r3), 0);
    }
    cr_expect_eq(mt_queue_join(q, 0), 0);
    /* A claimed message also counted done by task_done: the ack frees the
     * slot but says the count went wrong (it said 0 and joined for ever). */
    cr_assert_eq(mt_queue_put(q, "d", 1, 0), 0);
    cr_assert_eq(mt_queue_claim(q, &b, &r3, 0), 0);
    cr_assert_eq(mt_queue_task_done(q), 0);
    cr_expect_eq(mt_queue_ack(q, &r3), -EINVAL);
    cr_expect_eq(mt_queue_qsize(q), 0, "the slot is free all the same");
    /* Bad arguments. */
    mt_queue_receipt bad = {0, 0};
    cr_expect_eq(mt_queue_ack(q, &bad), -EINVAL);
    cr_expect_eq(mt_queue_ack(q, NULL), -EINVAL);
    cr_expect_eq(mt_queue_ack(NULL, &r3), -EINVAL);
    cr_expect_eq(mt_queue_claim(q, &b, NULL, 0), -EINVAL);
    cr_expect_eq(mt_queue_claim(q, NULL, &r3, 0), -EINVAL);
    cr_expect_eq(mt_queue_claim(q, &b, &r3, NAN), -EINVAL);
    mt_buf_free(&b);
    mt_queue_free(q);
}

/* A process that frees its last handle can acknowledge nothing any more: its
 * claims go back to the queue at once (it is still alive, so no repair of a
 * dead process could give them back). */
LEAK_TEST(queue, claims_go_back_when_their_process_frees_the_queue, .timeout = 20)
{
    char name[64];
    unique_name(name, sizeof name, "claim-free");
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = name, .maxsize = 4, .max_message = 8}),
                 0);
    cr_assert_eq(mt_queue_put(q, "kept", 4, 0), 0);
    int done[2], hold[2];
    cr_assert_eq(pipe(done), 0);
    cr_assert_eq(pipe(hold), 0);
    pid_t child = fork();
    if (child == 0) {
        close(hold[1]);
        close(done[0]);
        mt_queue *mine;
        mt_buf b = MT_BUF_INIT;
        mt_queue_receipt r;
        int err = mt_queue_open(&mine, name);
        if (err == 0)
            err = mt_queue_claim(mine, &b, &r, 1);
        mt_queue_free(mine);
        char c = (char)-err;
        (void)!write(done[1], &c, 1);
        (void)!read(hold[0], &c, 1); /* alive until the parent looked */
        _exit(0);
    }
    close(done[1]);
    close(hold[0]);
    char c = 1, buf[8];
    cr_assert_eq(read(done[0], &c, 1), 1);
    cr_expect_eq(c, 0);
    cr_expect(pid_alive(child));
    cr_expect_eq(mt_queue_get_into(q, buf, sizeof buf, 0), 4);
    close(hold[1]);
    close(done[0]);
    cr_expect_eq(wait_child(child), 0);
    mt_queue_free(q);
}

/* ---- close --------------------------------------------------------------- */

static void *blocked_get(void *arg)
{
    mt_buf b = MT_BUF_INIT;
    intptr_t r = mt_queue_get(arg, &b, MT_FOREVER);
    mt_buf_free(&b);
    return (void *)r;
}

static void *blocked_put(void *arg)
{
    return (void *)(intptr_t)mt_queue_put(arg, "late", 4, MT_FOREVER);
}

LEAK_TEST(queue, close_wakes_blocked_getters, .timeout = 20)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 2, .max_message = 8}), 0);
    pid_t child = fork();
    if (child == 0)
        _exit((intptr_t)blocked_get(q) == MT_ECLOSED ? 0 : 1);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, blocked_get, q);
    mt_sleep(0.2);
    cr_expect(!mt_queue_closed(q));
    cr_assert_eq(mt_queue_close(q), 0);
    cr_expect(mt_queue_closed(q));
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        cr_expect_eq((intptr_t)r, MT_ECLOSED);
    }
    cr_expect_eq(wait_child(child), 0, "the child's get returned MT_ECLOSED");
    cr_expect_eq(mt_queue_close(q), 0); /* twice is harmless */
    mt_queue_free(q);
}

/* A closed queue's gets wait for the claims other processes hold: given
 * back, the message is drained; acknowledged, the gets say MT_ECLOSED. */
static pid_t claim_in_child(mt_queue *q, int *cmd_fd)
{
    int ready[2], cmd[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(cmd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        close(cmd[1]);
        mt_buf b = MT_BUF_INIT;
        mt_queue_receipt r;
        char c = mt_queue_claim(q, &b, &r, 5) == 0 ? 'y' : 'n';
        (void)!write(ready[1], &c, 1);
        if (read(cmd[0], &c, 1) != 1)
            _exit(2);
        _exit((c == 'a' ? mt_queue_ack(q, &r) : mt_queue_nack(q, &r)) == 0 ? 0 : 1);
    }
    close(ready[1]);
    close(cmd[0]);
    char c = 0;
    cr_assert_eq(read(ready[0], &c, 1), 1);
    cr_assert_eq(c, 'y');
    close(ready[0]);
    *cmd_fd = cmd[1];
    return pid;
}

LEAK_TEST(queue, closed_queue_waits_for_others_claims, .timeout = 20)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 4, .max_message = 8}), 0);
    cr_assert_eq(mt_queue_put(q, "m", 1, 0), 0);
    int cmd;
    pid_t child = claim_in_child(q, &cmd);
    cr_assert_eq(mt_queue_close(q), 0);
    char buf[8];
    cr_expect_eq(mt_queue_get_into(q, buf, sizeof buf, 0.2), -ETIMEDOUT);
    cr_expect_eq(mt_queue_get_into_nowait(q, buf, sizeof buf), -EAGAIN);
    cr_assert_eq(write(cmd, "n", 1), 1); /* given back */
    cr_expect_eq(mt_queue_get_into(q, buf, sizeof buf, 5), 1);
    cr_expect_eq(wait_child(child), 0);
    close(cmd);
    cr_expect_eq(mt_queue_get_into_nowait(q, buf, sizeof buf), MT_ECLOSED);
    mt_queue_free(q);

    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 4, .max_message = 8}), 0);
    cr_assert_eq(mt_queue_put(q, "m", 1, 0), 0);
    child = claim_in_child(q, &cmd);
    cr_assert_eq(mt_queue_close(q), 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, blocked_get, q), 0);
    mt_sleep(0.1);
    cr_assert_eq(write(cmd, "a", 1), 1); /* acknowledged */
    void *r;
    pthread_join(t, &r);
    cr_expect_eq((intptr_t)r, MT_ECLOSED);
    cr_expect_eq(wait_child(child), 0);
    close(cmd);
    mt_queue_free(q);
}

LEAK_TEST(queue, close_wakes_blocked_putters_and_drains, .timeout = 20)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 2, .max_message = 8}), 0);
    cr_assert_eq(mt_queue_put(q, "one", 3, 0), 0);
    cr_assert_eq(mt_queue_put(q, "two", 3, 0), 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, blocked_put, q);
    mt_sleep(0.2);
    mt_queue_close(q);
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        cr_expect_eq((intptr_t)r, MT_ECLOSED);
    }
    cr_expect_eq(mt_queue_put_nowait(q, "x", 1), MT_ECLOSED);
    cr_expect_eq(mt_queue_put(q, "x", 1, 1), MT_ECLOSED);
    char buf[8];
    cr_expect_eq(mt_queue_get_into(q, buf, sizeof buf, 1), 3);
    cr_expect_eq(memcmp(buf, "one", 3), 0);
    cr_expect_eq(mt_queue_get_into(q, buf, sizeof buf, 1), 3);
    cr_expect_eq(memcmp(buf, "two", 3), 0);
    cr_expect_eq(mt_queue_get_into(q, buf, sizeof buf, 1), MT_ECLOSED);
    cr_expect_eq(mt_queue_get_into_nowait(q, buf, sizeof buf), MT_ECLOSED);
    mt_queue_free(q);
}

/* ---- joinable ------------------------------------------------------------- */

LEAK_TEST(queue, joinable_task_done_and_join, .timeout = 20)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 8, .joinable = true}), 0);
    cr_expect_eq(mt_queue_join(q, 0), 0); /* nothing put yet */
    cr_expect_eq(mt_queue_task_done(q), -EINVAL);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mt_queue_put(q, "job", 3, 0), 0);
    cr_expect_eq(mt_queue_join(q, 0), -EAGAIN);
    cr_expect_eq(mt_queue_join(q, 0.05), -ETIMEDOUT);
    cr_expect_eq(mt_queue_join(q, NAN), -EINVAL);
    char buf[8];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(mt_queue_get_into(q, buf, sizeof buf, 0), 3);
        cr_expect_eq(mt_queue_join(q, 0), -EAGAIN); /* got, not yet done */
        cr_assert_eq(mt_queue_task_done(q), 0);
    }
    cr_expect_eq(mt_queue_join(q, 0), 0);
    cr_expect_eq(mt_queue_task_done(q), -EINVAL); /* one too many */
    cr_expect_eq(mt_queue_join(q, 0), 0);
    mt_queue_free(q);
}

LEAK_TEST(queue, join_waits_for_workers_in_other_processes, .timeout = 30)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 64, .joinable = true}), 0);
    enum { WORKERS = 2, JOBS = 200 };
    pshared *s = shared_mem(sizeof *s);
    pid_t w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        if ((w[i] = fork()) == 0) {
            char buf[8];
            while (mt_queue_get_into(q, buf, sizeof buf, MT_FOREVER) >= 0) {
                mt_sleep(0.0005); /* the work */
                atomic_fetch_add(&s->got[0], 1);
                if (mt_queue_task_done(q) != 0)
                    _exit(1);
            }
            _exit(0);
        }
    }
    for (int i = 0; i < JOBS; i++)
        cr_assert_eq(mt_queue_put(q, "job", 3, 10), 0);
    cr_assert_eq(mt_queue_join(q, 20), 0);
    /* Joined means done: every job was counted before its task_done. */
    cr_expect_eq(atomic_load(&s->got[0]), JOBS);
    mt_queue_close(q);
    for (int i = 0; i < WORKERS; i++)
        cr_expect_eq(wait_child(w[i]), 0);
    munmap(s, sizeof *s);
    mt_queue_free(q);
}

/* ---- named queues ---------------------------------------------------------- */

LEAK_TEST(queue, named_open_from_unrelated_process, .timeout = 30)
{
    char in_name[64], out_name[64];
    unique_name(in_name, sizeof in_name, "in");
    unique_name(out_name, sizeof out_name, "out");
    mt_queue *in, *out;
    cr_assert_eq(mt_queue_new(&in, &(mt_queue_opts){.name = in_name, .max_message = 512}), 0);
    cr_assert_eq(mt_queue_new(&out, &(mt_queue_opts){.name = out_name, .max_message = 512}), 0);
    mode_t mode = 0;
    cr_expect(shm_exists(in_name, &mode));
    cr_expect_eq(mode, 0600);
    mt_queue *again = (mt_queue *)1;
    cr_expect_eq(mt_queue_new(&again, &(mt_queue_opts){.name = in_name}), -EEXIST);
    cr_expect_eq(again, NULL);

    enum { N = 500 };
    pid_t peer = start_peer((const char *[]){"echo", in_name, out_name, "500", NULL}, NULL, NULL);
    char msg[512];
    for (uint64_t i = 0; i < N; i++)
        cr_assert_eq(mt_queue_put(in, msg, msg_make(msg, i, 512), 10), 0);
    for (uint64_t i = 0; i < N; i++) {
        ssize_t n = mt_queue_get_into(out, msg, sizeof msg, 10);
        cr_assert_geq(n, 0, "%s", mt_strerror((int)n));
        cr_assert_eq(msg_check(msg, (size_t)n, 512), (int64_t)i); /* in order, intact */
    }
    cr_expect_eq(wait_child(peer), 0);
    mt_queue_free(in);
    mt_queue_free(out);
    cr_expect(!shm_exists(in_name, NULL));
    cr_expect(!shm_exists(out_name, NULL));
}

LEAK_TEST(queue, named_segment_goes_with_its_last_user, .timeout = 30)
{
    char name[64];
    unique_name(name, sizeof name, "last");
    mt_queue *q, *q2;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = name, .maxsize = 4}), 0);
    /* Another program holds it: the creator leaving does not remove it. */
    int to_peer, from_peer;
    pid_t peer = start_peer((const char *[]){"hold", name, NULL}, &to_peer, &from_peer);
    char line[8] = {0};
    cr_assert_eq(read(from_peer, line, 6), 6);
    cr_expect_str_eq(line, "ready\n");
    cr_assert_eq(mt_queue_put(q, "kept", 4, 0), 0);
    mt_queue_free(q);
    cr_expect(shm_exists(name, NULL));
    cr_assert_eq(mt_queue_open(&q2, name), 0);
    char buf[8];
    cr_expect_eq(mt_queue_get_into(q2, buf, sizeof buf, 0), 4); /* the same queue */
    /* A killed holder does not keep it alive. */
    kill(peer, SIGKILL);
    cr_expect_eq(wait_child(peer), -SIGKILL);
    close(to_peer);
    close(from_peer);
    mt_queue_free(q2);
    cr_expect(!shm_exists(name, NULL));
    cr_expect_eq(mt_queue_open(&q2, name), -ENOENT);
}

/* A producer program that finishes before its consumer opens the queue: with
 * persist, its messages wait for the consumer; the name goes only with
 * mt_queue_unlink. */
LEAK_TEST(queue, persist_keeps_a_finished_producers_messages, .timeout = 30)
{
    char name[64];
    unique_name(name, sizeof name, "persist");
    enum { N = 100 };
    pid_t peer = start_peer((const char *[]){"produce", name, "100", NULL}, NULL, NULL);
    cr_assert_eq(wait_child(peer), 0);
    mode_t mode = 0;
    cr_expect(shm_exists(name, &mode), "the producer's queue went with it");
    cr_expect_eq(mode, 0600);
    mt_queue *q;
    cr_assert_eq(mt_queue_open(&q, name), 0);
    cr_expect_eq(mt_queue_qsize(q), N);
    char msg[512];
    for (uint64_t i = 0; i < N; i++) {
        ssize_t n = mt_queue_get_into(q, msg, sizeof msg, 0);
        cr_assert_geq(n, 0, "%s", mt_strerror((int)n));
        cr_assert_eq(msg_check(msg, (size_t)n, 512), (int64_t)i);
        cr_assert_eq(mt_queue_task_done(q), 0);
    }
    cr_expect_eq(mt_queue_join(q, 0), 0);
    mt_queue_free(q);
    cr_expect(shm_exists(name, NULL), "a persistent queue went with its last handle");
    cr_assert_eq(mt_queue_unlink(name), 0);
    cr_expect(!shm_exists(name, NULL));
    /* Without persist, the name goes with the last handle, as before. */
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = name}), 0);
    mt_queue_free(q);
    cr_expect(!shm_exists(name, NULL));
}

/* Processes that all call open_or_new at once end up on one queue. */
LEAK_TEST(queue, open_or_new_makes_one_queue_for_all, .timeout = 30)
{
    char name[64];
    unique_name(name, sizeof name, "open-or-new");
    enum { KIDS = 4 };
    int report[2], go[2];
    cr_assert_eq(pipe(report), 0);
    cr_assert_eq(pipe(go), 0);
    mt_queue_opts o = {.name = name, .maxsize = 8, .max_message = 16, .joinable = true};
    pid_t kids[KIDS];
    for (int k = 0; k < KIDS; k++) {
        if ((kids[k] = fork()) == 0) {
            close(report[0]);
            close(go[1]);
            mt_queue *q;
            int err = mt_queue_open_or_new(&q, &o);
            if (err == 0)
                err = mt_queue_put(q, &k, sizeof k, 0);
            char c = (char)-err;
            (void)!write(report[1], &c, 1);
            (void)!read(go[0], &c, 1); /* keep the queue until the parent looked */
            if (err == 0)
                mt_queue_free(q);
            _exit(err == 0 ? 0 : 1);
        }
    }
    close(report[1]);
    close(go[0]);
    for (int k = 0; k < KIDS; k++) {
        char c = 1;
        cr_assert_eq(read(report[0], &c, 1), 1);
        cr_expect_eq(c, 0, "open_or_new: %s", mt_err_name(-c));
    }
    mt_queue *q;
    cr_assert_eq(mt_queue_open_or_new(&q, &o), 0);
    cr_expect_eq(mt_queue_qsize(q), KIDS);
    unsigned seen = 0;
    for (int k = 0; k < KIDS; k++) {
        int who = -1;
        cr_assert_eq(mt_queue_get_into(q, &who, sizeof who, 0), (ssize_t)sizeof who);
        cr_assert(who >= 0 && who < KIDS);
        seen |= 1u << who;
    }
    cr_expect_eq(seen, (1u << KIDS) - 1);
    /* Another shape under the same name is refused, not quietly adopted. */
    mt_queue *other = (mt_queue *)1;
    mt_queue_opts bigger = o;
    bigger.maxsize = 16;
    cr_expect_eq(mt_queue_open_or_new(&other, &bigger), -EEXIST);
    cr_expect_null(other);
    mt_queue_opts plain = o;
    plain.joinable = false;
    cr_expect_eq(mt_queue_open_or_new(&other, &plain), -EEXIST);
    cr_expect_eq(mt_queue_open_or_new(&other, &(mt_queue_opts){0}), -EINVAL);
    cr_expect_eq(mt_queue_open_or_new(&other, NULL), -EINVAL);
    cr_expect_eq(mt_queue_open_or_new(NULL, &o), -EINVAL);
    close(go[1]);
    close(report[0]);
    for (int k = 0; k < KIDS; k++)
        cr_expect_eq(wait_child(kids[k]), 0);
    mt_queue_free(q);
    cr_expect(!shm_exists(name, NULL));
}

/* Waiting until a named queue is drained, from another program: join counts
 * the task_done calls of every process on the queue. */
LEAK_TEST(queue, join_waits_for_an_unrelated_consumer, .timeout = 30)
{
    char name[64];
    unique_name(name, sizeof name, "join-named");
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = name, .maxsize = 128,
                                                   .max_message = 512, .joinable = true}),
                 0);
    enum { N = 60 };
    char msg[512];
    for (uint64_t i = 0; i < N; i++)
        cr_assert_eq(mt_queue_put(q, msg, msg_make(msg, i, 512), 0), 0);
    cr_expect_eq(mt_queue_join(q, 0.05), -ETIMEDOUT);
    pid_t peer = start_peer((const char *[]){"drain", name, "60", NULL}, NULL, NULL);
    cr_expect_eq(mt_queue_join(q, 20), 0);
    cr_expect_eq(mt_queue_qsize(q), 0);
    cr_expect_eq(wait_child(peer), 0);
    mt_queue_free(q);
}

LEAK_TEST(queue, unlink_removes_the_name_not_the_queue, .timeout = 30)
{
    char name[64];
    unique_name(name, sizeof name, "unlink");
    mt_queue *q, *fresh;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = name, .maxsize = 4}), 0);
    cr_assert_eq(mt_queue_unlink(name), 0);
    cr_expect(!shm_exists(name, NULL));
    cr_expect_eq(mt_queue_unlink(name), -ENOENT);
    cr_expect_eq(mt_queue_open(&fresh, name), -ENOENT);
    cr_expect_eq(wait_child(start_peer((const char *[]){"open", name, NULL}, NULL, NULL)),
                 ENOENT);
    /* The old handle still works, and the name is free for a new queue
     * that the old one's last user must not remove. */
    cr_assert_eq(mt_queue_put(q, "old", 3, 0), 0);
    cr_assert_eq(mt_queue_new(&fresh, &(mt_queue_opts){.name = name, .maxsize = 4}), 0);
    char buf[8];
    cr_expect_eq(mt_queue_get_into(q, buf, sizeof buf, 0), 3);
    cr_expect_eq(mt_queue_get_into_nowait(fresh, buf, sizeof buf), -EAGAIN);
    mt_queue_free(q);
    cr_expect(shm_exists(name, NULL));
    cr_expect_eq(wait_child(start_peer((const char *[]){"open", name, NULL}, NULL, NULL)), 0);
    mt_queue_free(fresh);
    cr_expect(!shm_exists(name, NULL));
}

LEAK_TEST(queue, open_refuses_what_is_not_a_queue, .timeout = 30)
{
    char name[64], path[128];
    unique_name(name, sizeof name, "notq");
    snprintf(path, sizeof path, "/dev/shm/" MT_QUEUE_SHM_PREFIX "%s", name);
    mt_queue *q;
    cr_expect_eq(mt_queue_open(&q, name), -ENOENT);
    cr_expect_eq(mt_queue_unlink(name), -ENOENT);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    char junk[16384];
    memset(junk, 0x5a, sizeof junk);
    cr_assert_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    cr_expect_eq(mt_queue_open(&q, name), -EINVAL);
    cr_expect_eq(mt_queue_unlink(name), -EINVAL);
    cr_expect(shm_exists(name, NULL)); /* left alone */
    cr_expect_eq(mt_queue_new(&q, &(mt_queue_opts){.name = name}), -EEXIST);
    unlink(path);
}
