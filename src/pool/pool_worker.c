/*
 * pool_worker.c - the worker process: take a slot from the dispatch ring,
 * run its items, post their results on our ring, and repeat until the pool
 * stops us. See pool_shm.h for the protocol.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/trace_internal.h"
#include "../process/process_internal.h"
#include "pool_internal.h"

/* How long an idle worker keeps looking at the ring before it sleeps. */
#define IDLE_SPIN_NS 50000

/* A job that ran this long is followed by a look at our fds (see
 * check_connection). */
#define CHECK_AFTER_NS 20000

typedef struct job_out {
    mt_buf data;    /* item bytes while the total stays small */
    mt_buf entries; /* mt__rec_entry per item */
    mt_buf item;    /* what the task is writing now */
    int memfd;      /* once results are large: where the data goes */
    uint64_t spilled;
    uint32_t nitems;
    uint32_t nfailed;
    bool uniform;   /* every item so far succeeded with first_len bytes */
    uint64_t first_len;
} job_out;

static uint64_t align8(uint64_t x)
{
    return (x + 7) & ~(uint64_t)7;
}

/* Exit without running the parent's atexit handlers, and flushing only the
 * streams mt__fork emptied before the fork: any other stdio buffer holds the
 * parent's data, which the parent writes itself. */
static _Noreturn void leave(int status)
{
    mt__flush_std();
    _exit(status);
}

static int file_id(int fd, mt__file_id *id)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    *id = (mt__file_id){st.st_dev, st.st_ino};
    return 0;
}

static bool same_file(int fd, const mt__file_id *id)
{
    mt__file_id now;
    return file_id(fd, &now) == 0 && now.dev == id->dev && now.ino == id->ino;
}

/*
 * A task may close the fds that join us to the parent (a daemon-style
 * "close everything from 3 up"), or close them and open files that take
 * their numbers. Then our wake-ups would go nowhere, or into the task's
 * files, and the parent could sleep for ever. So before we use either fd we
 * check that it is still the file it was; if it is not, we say which one in
 * our ring and leave, and the parent starts a replacement.
 *
 * The check costs two fstat calls, too dear for every tiny task. It runs
 * after a job only when the job took CHECK_AFTER_NS or more (closing fds one
 * by one takes a system call each, so closing hundreds takes that long):
 * then the job itself fails with MT_EWORKER, since its results cannot be
 * trusted to reach the parent. A task that cuts us off faster is caught at
 * the next use of the fds instead, after its results were posted: the
 * wake-up write fails (our fds sit where new files do not land, see
 * move_high), and a memfd is sent only after the check.
 */
static _Noreturn void cut_off(mt__worker_ctx *w, int fd)
{
    atomic_store(&shm_result_ring(w->h, w->index)->cut_off, (uint32_t)fd + 1);
    leave(WORKER_EXIT_CUT_OFF);
}

static void check_connection(mt__worker_ctx *w)
{
    if (!same_file(w->efd, &w->efd_id))
        cut_off(w, w->efd);
    if (!same_file(w->sock, &w->sock_id))
        cut_off(w, w->sock);
}

/*
 * Move one of our fds to the top of the fd table (below the soft limit),
 * where files a task opens do not land: a task that closed ours and opened
 * files then finds them on low numbers, and our wake-up write fails (EBADF)
 * instead of writing into its file. Returns the new fd, or fd itself.
 */
static int move_high(int fd, int top)
{
    int high = fcntl(fd, F_DUPFD_CLOEXEC, top);
    if (high < 0)
        return fd;
    close(fd);
    return high;
}

/* Where move_high puts the fds: a few below the soft limit on open files. */
static int high_fds(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024 - 8;
    /* A huge limit (containers give 1048576) must not put them low, within
     * the reach of a daemon's loop over 3..1023; 64 Ki keeps the fd table of
     * each worker small. */
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536)
        return 65536 - 8;
    return rl.rlim_cur > 64 ? (int)rl.rlim_cur - 8 : 3;
}

/* Wake the parent's supervisor if it sleeps and nobody else watches. */
static void kick_parent(mt__worker_ctx *w)
{
    mt__shm_header *h = w->h;
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&h->watching, memory_order_relaxed) == 0 &&
        atomic_load_explicit(&h->sup_sleeping, memory_order_relaxed) &&
        atomic_exchange(&h->sup_sleeping, 0)) {
        uint64_t one = 1;
        ssize_t n;
        do
            n = write(w->efd, &one, sizeof one);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN) /* closed, or not an eventfd any more */
            cut_off(w, w->efd);
    }
}

/* Reserve `need` contiguous bytes in our result ring, padding over the end
 * when they do not fit there. Waits (kicking the parent) while it is full. */
static char *ring_reserve(mt__worker_ctx *w, uint64_t need, uint64_t *tail_out)
{
    mt__shm_ring *r = shm_result_ring(w->h, w->index);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t off = tail % RESULT_RING_BYTES;
    uint64_t skip = RESULT_RING_BYTES - off < need ? RESULT_RING_BYTES - off : 0;
    for (long ns = 1000; tail + skip + need - atomic_load_explicit(&r->head, memory_order_acquire) >
                         RESULT_RING_BYTES;
         ns = ns < 1000000 ? ns * 2 : ns) {
        kick_parent(w);
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
    }
    if (skip) {
        if (skip >= sizeof(mt__rec_hdr))
            ((mt__rec_hdr *)(r->data + off))->kind = REC_PAD;
        tail += skip;
    }
    *tail_out = tail;
    return r->data + tail % RESULT_RING_BYTES;
}

static void ring_publish(mt__worker_ctx *w, uint64_t tail)
{
    atomic_store_explicit(&shm_result_ring(w->h, w->index)->tail, tail, memory_order_release);
    kick_parent(w);
}

/* Post a record whose body is `body` bytes (or none). */
static void post(mt__worker_ctx *w, mt__rec_hdr hdr, const void *a, size_t alen, const void *b,
                 size_t blen)
{
    hdr.body = alen + blen;
    hdr.size = (uint32_t)align8(sizeof hdr + hdr.body);
    uint64_t tail;
    char *at = ring_reserve(w, hdr.size, &tail);
    memcpy(at, &hdr, sizeof hdr);
    if (alen)
        memcpy(at + sizeof hdr, a, alen);
    if (blen)
        memcpy(at + sizeof hdr + alen, b, blen);
    ring_publish(w, tail + hdr.size);
}

static int send_fd(int sock, int fd)
{
    char byte = 0;
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t n;
    do
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

/* Move the data gathered so far into a memfd: results are large. */
static int spill(job_out *o)
{
    o->memfd = memfd_create("multitask-result", MFD_CLOEXEC);
    if (o->memfd < 0)
        return -errno;
    int err = mt__write_all(o->memfd, o->data.data, o->data.len);
    o->spilled = o->data.len;
    mt_buf_reset(&o->data);
    return err;
}

/* Record one item's outcome. Small data is copied together; once the job's
 * data passes LARGE_RESULT_BYTES it goes straight to a memfd instead. */
static int add_item(job_out *o, int err, const mt_buf *item)
{
    /* Count every entry the record may need, written yet or not: a run of
     * uniform results owes its entries the moment one result differs. */
    uint64_t total = o->spilled + o->data.len + item->len + (o->nitems + 1) * sizeof(mt__rec_entry);
    int rc = 0;
    if (o->memfd < 0 && total > LARGE_RESULT_BYTES)
        rc = spill(o);
    if (rc == 0 && o->memfd >= 0) {
        rc = mt__write_all(o->memfd, item->data, item->len);
        o->spilled += item->len;
    } else if (rc == 0) {
        rc = mt_buf_append(&o->data, item->data, item->len);
    }
    if (o->nitems++ == 0)
        o->first_len = item->len;
    o->nfailed += err != 0;
    if (o->uniform && err == 0 && item->len == o->first_len)
        return rc; /* entries are written only once the results differ */
    if (o->uniform) { /* they just did: write the entries of the items so far */
        o->uniform = false;
        for (uint32_t i = 0; rc == 0 && i + 1 < o->nitems; i++) {
            mt__rec_entry e = {.end = (uint64_t)(i + 1) * o->first_len};
            rc = mt_buf_append(&o->entries, &e, sizeof e);
        }
    }
    mt__rec_entry e = {.err = err, .end = o->spilled + o->data.len};
    int rc2 = mt_buf_append(&o->entries, &e, sizeof e);
    return rc ? rc : rc2;
}

static void post_results(mt__worker_ctx *w, uint32_t slot, uint32_t gen, uint32_t nitems, job_out *o)
{
    mt__rec_hdr hdr = {.kind = REC_RESULT, .slot = slot, .gen = gen, .nitems = nitems,
                   .nfailed = o->nfailed, .uniform = o->uniform, .item_len = o->first_len};
    /* Results of one size need no table: item j is at j * item_len (and
     * add_item wrote none). A record must fit the ring: should the table
     * have grown past what add_item expected, the memfd takes it all. */
    int err = 0;
    if (o->memfd < 0 && sizeof hdr + o->data.len + o->entries.len > LARGE_RESULT_BYTES)
        err = spill(o);
    if (err == 0 && o->memfd < 0) {
        post(w, hdr, o->data.data, o->data.len, o->entries.data, o->entries.len);
        return;
    }
    if (err == 0)
        err = mt__write_all(o->memfd, o->entries.data, o->entries.len);
    if (err == 0) {
        check_connection(w);
        err = send_fd(w->sock, o->memfd);
    }
    if (o->memfd >= 0)
        close(o->memfd);
    o->memfd = -1;
    if (err < 0) { /* the results are lost: say so instead */
        hdr.err = err;
        hdr.nitems = 0;
        post(w, hdr, NULL, 0, NULL, 0);
        return;
    }
    hdr.kind = REC_LARGE;
    hdr.body = o->spilled + o->entries.len;
    hdr.size = (uint32_t)align8(sizeof hdr);
    uint64_t tail;
    char *at = ring_reserve(w, hdr.size, &tail);
    memcpy(at, &hdr, sizeof hdr);
    ring_publish(w, tail + hdr.size);
}

/* Map a payload the parent put in a memfd (open it through /proc). */
static const char *map_large(mt__worker_ctx *w, int parent_fd, uint64_t len, int *err)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)w->parent, parent_fd);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *err = -errno;
        return NULL;
    }
    void *m = mmap(NULL, len ? len : 1, PROT_READ, MAP_SHARED, fd, 0);
    *err = m == MAP_FAILED ? -errno : 0;
    close(fd);
    return m == MAP_FAILED ? NULL : m;
}

static mt_fn *task_of(mt__worker_ctx *w, uint64_t addr)
{
    if (w->fnmap)
        addr = mt__fnmap_translate(w->fnmap, addr);
    return (mt_fn *)(uintptr_t)addr;
}

/* Run every item of a claimed slot and post the results. Once they are
 * posted the slot is the parent's again: read nothing from it after that. */
static void run_job(mt__worker_ctx *w, uint32_t slot_id, uint32_t gen, job_out *o)
{
    const mt__shm_slot *s = &shm_slots(w->h)[slot_id];
    const uint32_t kind = s->kind, nitems = s->nitems;
    const uint64_t item_size = s->item_size, arg_len = s->arg_len;
    const int large_fd = s->large_fd;
    const uint32_t skip = s->skip;
    _Atomic uint32_t *progress = &shm_slots(w->h)[slot_id].progress;
    mt_fn *fn = task_of(w, s->fn);
    int err = 0;
    const char *payload = shm_payload(w->h, slot_id);
    if (large_fd >= 0)
        payload = map_large(w, large_fd, arg_len, &err);
    if (!err && !fn)
        err = -ENOENT;
    if (err) {
        mt__rec_hdr hdr = {.kind = REC_RESULT, .slot = slot_id, .gen = gen, .err = err};
        const char *msg = "the worker could not load the task or its argument";
        post(w, hdr, msg, strlen(msg), NULL, 0);
        w->clock_ns = mt_monotonic_ns();
        return;
    }
    const uint64_t *lens = (const uint64_t *)payload;
    const char *item = payload;
    if (kind == JOB_IOV)
        item = payload + (uint64_t)nitems * sizeof(uint64_t);
    mt_buf_reset(&o->data);
    mt_buf_reset(&o->entries);
    o->spilled = 0;
    o->nitems = 0;
    o->nfailed = 0;
    o->uniform = true;
    /* The clock was read last just before the claim (see wait_for_work):
     * reading it again here would cost a tiny task a tenth of its time. */
    uint64_t started = w->clock_ns;
    for (uint32_t i = 0; i < nitems; i++) {
        uint64_t len = kind == JOB_IOV ? lens[i] : item_size;
        mt_buf_reset(&o->item);
        /* Say which item runs: if it kills us, the parent fails that one
         * and runs the chunk again without it. */
        atomic_store_explicit(progress, i, memory_order_release);
        uint64_t t0 = mt__trace_on ? mt_monotonic_ns() : 0;
        int rc = i + 1 == skip ? MT_EWORKER : fn(item, len, &o->item);
        if (mt__trace_on)
            mt_trace_slice("task", "pool", (uint64_t)getpid(), t0, mt_monotonic_ns());
        if (rc > 0)
            rc = MT_EFAILED;
        item += len;
        if (add_item(o, rc, &o->item) < 0) {
            /* No room for the results: fail the job as a whole. */
            if (o->memfd >= 0)
                close(o->memfd);
            o->memfd = -1;
            check_connection(w);
            mt__rec_hdr hdr = {.kind = REC_RESULT, .slot = slot_id, .gen = gen, .err = -ENOMEM};
            post(w, hdr, NULL, 0, NULL, 0);
            goto out;
        }
    }
    if ((w->clock_ns = mt_monotonic_ns()) - started >= CHECK_AFTER_NS)
        check_connection(w);
    post_results(w, slot_id, gen, nitems, o);
out:
    if (large_fd >= 0)
        munmap((void *)payload, arg_len ? arg_len : 1);
}

/* Try to take one slot. Returns true with the slot and its generation set. */
static bool claim(mt__worker_ctx *w, uint32_t *slot, uint32_t *gen)
{
    mt__shm_header *h = w->h;
    uint32_t mask = h->nslots - 1;
    for (;;) {
        uint64_t head = atomic_load_explicit(&h->disp_head, memory_order_acquire);
        if (head == atomic_load_explicit(&h->disp_tail, memory_order_acquire))
            return false;
        uint64_t e = atomic_load_explicit(&shm_disp(h)[head & mask], memory_order_acquire);
        if ((uint32_t)(e >> 32) != (uint32_t)(head + 1))
            continue; /* we read a stale head; look again */
        if (!atomic_compare_exchange_weak_explicit(&h->disp_head, &head, head + 1,
                                                   memory_order_acq_rel, memory_order_relaxed))
            continue;
        uint32_t s = (uint32_t)(e >> 16) & 0xffff;
        mt__shm_slot *sl = &shm_slots(h)[s];
        uint64_t st = atomic_load_explicit(&sl->state, memory_order_acquire);
        if (state_phase(st) != SLOT_QUEUED || (state_gen(st) & 0xffff) != (e & 0xffff))
            continue; /* put back by the parent meanwhile: the newer entry counts */
        uint64_t mine = slot_state(state_gen(st), w->index, SLOT_RUNNING);
        if (!atomic_compare_exchange_strong_explicit(&sl->state, &st, mine, memory_order_acq_rel,
                                                     memory_order_acquire))
            continue;
        *slot = s;
        *gen = state_gen(st);
        return true;
    }
}

/* Wait until there may be work, or the pool wants us gone (returns false). */
static bool wait_for_work(mt__worker_ctx *w)
{
    mt__shm_header *h = w->h;
    uint64_t start = w->clock_ns; /* when the last job ended */
    for (unsigned spins = 0;; spins++) {
        uint32_t stop = atomic_load_explicit(&h->stop, memory_order_acquire);
        bool empty = atomic_load_explicit(&h->disp_head, memory_order_acquire) ==
                     atomic_load_explicit(&h->disp_tail, memory_order_acquire);
        if (stop == 2 || (stop == 1 && empty))
            return false;
        if (!empty)
            return true;
        if ((w->clock_ns = mt_monotonic_ns()) - start < IDLE_SPIN_NS) {
            if (spins % 64 == 63)
                sched_yield();
            else
                mt__cpu_relax();
            continue;
        }
        _Atomic uint32_t *sleeping = &shm_result_ring(h, w->index)->sleeping;
        uint32_t seq = atomic_load_explicit(&h->disp_seq, memory_order_acquire);
        atomic_store_explicit(sleeping, 1, memory_order_seq_cst);
        empty = atomic_load_explicit(&h->disp_head, memory_order_seq_cst) ==
                atomic_load_explicit(&h->disp_tail, memory_order_seq_cst);
        if (empty && !atomic_load_explicit(&h->stop, memory_order_seq_cst))
            mt__futex_wait(&h->disp_seq, seq, mt__deadline_in(1.0), true);
        atomic_store_explicit(sleeping, 0, memory_order_relaxed);
        if (getppid() != w->parent) /* orphaned without PDEATHSIG */
            return false;
        start = w->clock_ns = mt_monotonic_ns();
    }
}

_Noreturn void mt__worker_main(mt__worker_ctx *w)
{
    mt__shm_header *h = w->h;
    int top = high_fds();
    w->efd = move_high(w->efd, top);
    w->sock = move_high(w->sock, top);
    if (file_id(w->efd, &w->efd_id) < 0 || file_id(w->sock, &w->sock_id) < 0)
        leave(WORKER_EXIT_CUT_OFF);
    if (mt__trace_on) {
        char name[32];
        snprintf(name, sizeof name, "pool worker %d", (int)getpid());
        mt_trace_track_name((uint64_t)getpid(), name);
    }
    if (h->initializer) {
        mt_fn *init = task_of(w, h->initializer);
        mt_buf msg = MT_BUF_INIT;
        int rc = init ? init(SHM_AT(h, h->initarg_off, char *), h->initarg_len, &msg) : -ENOENT;
        check_connection(w);
        if (rc != 0) {
            mt__rec_hdr hdr = {.kind = REC_INITFAIL, .err = rc > 0 ? MT_EFAILED : rc};
            post(w, hdr, msg.data, msg.len < 65536 ? msg.len : 65536, NULL, 0);
            leave(3);
        }
        mt_buf_free(&msg);
    }
    post(w, (mt__rec_hdr){.kind = REC_READY}, NULL, 0, NULL, 0);
    w->clock_ns = mt_monotonic_ns();

    job_out out = {.memfd = -1};
    uint64_t done = 0;
    while (wait_for_work(w)) {
        uint32_t slot, gen;
        if (!claim(w, &slot, &gen))
            continue;
        done += shm_slots(h)[slot].nitems;
        run_job(w, slot, gen, &out);
        if (h->maxtasks && done >= h->maxtasks)
            break;
    }
    leave(0);
}
