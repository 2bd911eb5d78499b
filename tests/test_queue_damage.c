/*
 * test_queue_damage.c - mt_queue among hostile or careless neighbours: a
 * segment of another user, or open to other users; a segment whose shared
 * words a process scribbled on; a segment cut short. Every call must come
 * back within its timeout, with an error where the segment cannot be a
 * queue. The tests write the shared words where the library's own layout
 * puts them (queue_internal.h).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "../src/queue/queue_internal.h"
#include "helpers.h"
#include "queue_helpers.h"

/* ---- helpers ------------------------------------------------------------- */

static void seg_file(char *out, size_t size, const char *name)
{
    snprintf(out, size, "/dev/shm/" MT_QUEUE_SHM_PREFIX "%s", name);
}

/* A second mapping of a named queue's segment, as a scribbler makes it. */
typedef struct scribbler {
    qhdr *h;
    qslot *slots;
    size_t len;
} scribbler;

static scribbler scribble_open(const char *name)
{
    char path[300];
    seg_file(path, sizeof path, name);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    scribbler s = {.len = (size_t)st.st_size};
    s.h = mmap(NULL, s.len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    cr_assert_neq(s.h, MAP_FAILED);
    close(fd);
    s.slots = (qslot *)((char *)s.h + s.h->slots_off);
    return s;
}

static void scribble_close(scribbler *s)
{
    munmap(s->h, s->len);
}

/* A pid that no process has: a child that has exited and been reaped. */
static uint32_t dead_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    cr_assert_eq(waitpid(pid, NULL, 0), pid);
    return (uint32_t)pid;
}

/* Call put and get with a timeout on a damaged queue: each must come back
 * well within its timeout, put with the error want_put and get with
 * want_get (0: the call may also succeed, the words it uses being intact). */
static void expect_bounded(mt_queue *q, int want_put, int want_get)
{
    char buf[64] = "x";
    const double timeout = 0.3;
    double t0 = mt_monotonic();
    int r = mt_queue_put(q, buf, 8, timeout);
    cr_expect_lt(mt_monotonic() - t0, timeout + 2, "put took %.2f s", mt_monotonic() - t0);
    if (want_put)
        cr_expect_eq(r, want_put, "put: %s", mt_err_name(r));
    t0 = mt_monotonic();
    ssize_t n = mt_queue_get_into(q, buf, sizeof buf, timeout);
    cr_expect_lt(mt_monotonic() - t0, timeout + 2, "get took %.2f s", mt_monotonic() - t0);
    if (want_get)
        cr_expect_eq(n, want_get, "get: %s", mt_err_name((int)n));
    if (want_put)
        cr_expect_eq(mt_queue_put_nowait(q, buf, 8), want_put);
    if (want_get)
        cr_expect_eq(mt_queue_get_into_nowait(q, buf, sizeof buf), want_get);
}

/* A named queue with a few messages taken and a few left. */
static mt_queue *busy_queue(const char *name, size_t maxsize)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = name, .maxsize = maxsize,
                                                    .max_message = 64}),
                 0);
    char buf[64];
    for (int i = 0; i < 5; i++)
        cr_assert_eq(mt_queue_put(q, "abc", 3, 0), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mt_queue_get_into(q, buf, sizeof buf, 0), 3);
    return q;
}

/* ---- scribbled words ------------------------------------------------------ */

/* Every slot word says it is far in a later round: puts used to walk on for
 * ever at full speed, whatever their timeout. */
LEAK_TEST(damage, slots_in_a_far_round, .timeout = 30)
{
    size_t sizes[] = {8, 5};
    for (int k = 0; k < 2; k++) {
        char name[64];
        unique_name(name, sizeof name, "far-round");
        mt_queue *q = busy_queue(name, sizes[k]);
        scribbler s = scribble_open(name);
        for (uint32_t i = 0; i < s.h->nslots; i++)
            atomic_store(&s.slots[i].state, st_make((1ull << 39) + i * 977, 0, PH_FREE));
        expect_bounded(q, -EPROTO, -EPROTO);
        scribble_close(&s);
        mt_queue_free(q);
    }
}

/* Slot words a few rounds ahead: no queue says so either, but it is not
 * beyond what a lagging hint can meet. Calls come back within their
 * timeout (with a message or an error), and never spin for ever. */
LEAK_TEST(damage, slots_a_few_rounds_ahead, .timeout = 30)
{
    char name[64];
    unique_name(name, sizeof name, "few-rounds");
    mt_queue *q = busy_queue(name, 8);
    scribbler s = scribble_open(name);
    for (uint32_t i = 0; i < s.h->nslots; i++)
        atomic_store(&s.slots[i].state, st_make(8 * 1000, 0, PH_FULL));
    char buf[64];
    for (int round = 0; round < 3; round++) {
        double t0 = mt_monotonic();
        int r = mt_queue_put(q, buf, 8, 0.3);
        cr_expect_lt(mt_monotonic() - t0, 2.3);
        cr_expect(r == 0 || r == -ETIMEDOUT || r == -EPROTO, "%s", mt_err_name(r));
        t0 = mt_monotonic();
        ssize_t n = mt_queue_get_into(q, buf, sizeof buf, 0.3);
        cr_expect_lt(mt_monotonic() - t0, 2.3);
        cr_expect(n >= 0 || n == -ETIMEDOUT || n == -EPROTO, "%s", mt_err_name((int)n));
    }
    scribble_close(&s);
    mt_queue_free(q);
}

/* Position hints near 2^64: with a slot count that does not divide 2^64
 * the ring's arithmetic breaks there; no queue ever gets that far. */
LEAK_TEST(damage, hints_near_the_end_of_positions, .timeout = 30)
{
    size_t sizes[] = {8, 5};
    for (int k = 0; k < 2; k++) {
        for (int which = 0; which < 3; which++) {
            char name[64];
            unique_name(name, sizeof name, "hints");
            mt_queue *q = busy_queue(name, sizes[k]);
            scribbler s = scribble_open(name);
            if (which != 1)
                atomic_store(&s.h->tail, UINT64_MAX - 2);
            if (which != 0)
                atomic_store(&s.h->head, UINT64_MAX - 3);
            expect_bounded(q, which == 1 ? 0 : -EPROTO, which == 0 ? 0 : -EPROTO);
            cr_expect_leq(mt_queue_qsize(q), mt_queue_maxsize(q));
            scribble_close(&s);
            mt_queue_free(q);
        }
    }
}

/* ---- a segment cut short -------------------------------------------------- */

/* Opening maps exactly what the header describes, after checking the file
 * is that long: a truncated segment is not a queue. */
LEAK_TEST(damage, truncated_segment_does_not_open, .timeout = 30)
{
    char name[64], path[300];
    unique_name(name, sizeof name, "truncated");
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = name, .maxsize = 64,
                                                    .max_message = 4096}),
                 0);
    seg_file(path, sizeof path, name);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(truncate(path, st.st_size - 4096), 0);
    mt_queue *other;
    cr_expect_eq(mt_queue_open(&other, name), -EINVAL);
    cr_assert_eq(truncate(path, 100), 0);
    cr_expect_eq(mt_queue_open(&other, name), -EINVAL);
    cr_assert_eq(truncate(path, st.st_size), 0); /* so that the handle may unmap it */
    mt_queue_free(q);
}

/* ---- a lagging tail hint ---------------------------------------------------- */

/* A writer dies right after its claim, before it moved the tail hint, and a
 * sweep gives its position up before any put passes it. The puts after that
 * must still move the hint, or qsize reads low (0 here) for good. */
LEAK_TEST(damage, tail_hint_passes_a_dead_writers_position, .timeout = 30)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 8, .max_message = 16}), 0);
    /* What the dead writer left: position 0 WRITING, the hint still at 0. */
    atomic_store(&q->slots[0].state, st_make(0, dead_pid(), PH_WRITING));
    char buf[16];
    cr_expect_eq(mt_queue_get_into_nowait(q, buf, sizeof buf), -EAGAIN); /* sweeps */
    cr_assert_eq(st_phase(atomic_load(&q->slots[0].state)), PH_FREE);
    for (int i = 1; i <= 3; i++) {
        cr_assert_eq(mt_queue_put(q, "m", 1, 0), 0);
        cr_expect_eq(mt_queue_qsize(q), (size_t)i);
    }
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mt_queue_get_into(q, buf, sizeof buf, 0), 1);
    cr_expect_eq(mt_queue_qsize(q), 0);
    mt_queue_free(q);
}

/* ---- another user's segment ------------------------------------------------ */

/* A segment open to other users, or owned by another user (a name squatted
 * before its rightful creator came), is refused before it is mapped; unlink
 * leaves it alone too. */
LEAK_TEST(damage, foreign_or_open_segment_is_refused, .timeout = 30)
{
    char name[64], path[300];
    unique_name(name, sizeof name, "foreign");
    seg_file(path, sizeof path, name);
    mt_queue *q, *other = NULL;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.name = name, .maxsize = 4}), 0);
    cr_assert_eq(mt_queue_open(&other, name), 0);
    mt_queue_free(other);
    other = NULL;

    mode_t modes[] = {0666, 0640, 0604, 0620};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(chmod(path, modes[i]), 0);
        cr_expect_eq(mt_queue_open(&other, name), -EACCES, "mode %o", (unsigned)modes[i]);
        cr_expect_null(other);
        cr_expect_eq(mt_queue_unlink(name), -EACCES);
    }
    cr_assert_eq(chmod(path, 0600), 0);

    if (geteuid() == 0) { /* the tests run as root: give it away */
        cr_assert_eq(chown(path, 12345, 12345), 0);
        cr_expect_eq(mt_queue_open(&other, name), -EACCES);
        cr_expect_null(other);
        cr_expect_eq(mt_queue_unlink(name), -EACCES);
        struct stat st;
        cr_expect_eq(stat(path, &st), 0, "unlink removed another user's segment");
        cr_assert_eq(chown(path, 0, 0), 0);
    } else {
        cr_log_warn("not root: the other-owner case is not tested");
    }
    cr_assert_eq(mt_queue_open(&other, name), 0);
    mt_queue_free(other);
    mt_queue_free(q);
}

/* An anonymous queue's memfd is sealed: whoever reaches it (through /proc)
 * cannot truncate it under the queue's users. */
LEAK_TEST(damage, anonymous_segment_cannot_be_truncated, .timeout = 30)
{
    mt_queue *q;
    cr_assert_eq(mt_queue_new(&q, &(mt_queue_opts){.maxsize = 8, .max_message = 4096}), 0);
    char line[512], path[128] = "";
    FILE *maps = fopen("/proc/self/maps", "re");
    cr_assert_not_null(maps);
    while (fgets(line, sizeof line, maps)) {
        unsigned long from, to;
        if (strstr(line, "memfd:multitask-queue") && sscanf(line, "%lx-%lx", &from, &to) == 2 &&
            (void *)from == (void *)q->h) {
            snprintf(path, sizeof path, "/proc/self/map_files/%lx-%lx", from, to);
            break;
        }
    }
    fclose(maps);
    cr_assert_neq(path[0], '\0', "the queue's mapping was not found");
    int fd = open(path, O_RDWR | O_CLOEXEC);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    cr_expect_eq(ftruncate(fd, 4096), -1);
    cr_expect_eq(errno, EPERM);
    close(fd);
    cr_assert_eq(mt_queue_put(q, "still", 5, 0), 0);
    char buf[8];
    cr_expect_eq(mt_queue_get_into(q, buf, sizeof buf, 0), 5);
    mt_queue_free(q);
}
