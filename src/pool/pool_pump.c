/*
 * pool_pump.c - the parent's engine: put pending work into free slots,
 * collect results from the workers' rings, fail work, and settle what a dead
 * worker was running (fail it, or put it back). Everything here runs with
 * the pool's mutex held, in the supervisor thread (pool_supervise.c) or in
 * a caller that waits for its own work (mt__pool_wait).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../process/process_internal.h"
#include "pool_internal.h"

/* How long a waiting caller reads the rings itself before it sleeps. */
#define WAIT_SPIN_NS 50000

/* Inline payload queued at once. Beyond it, work waits in the parent: the
 * slots in use stay few and their pages hot (the free list is a stack), and
 * a big map does not touch every slot's memory. */
#define INFLIGHT_BYTES_MAX (1u << 20)


static void fail_pending(mt_pool *p, int err, const char *why);

/* ---- collecting results --------------------------------------------- */

static void free_slot(mt_pool *p, uint32_t s)
{
    mt__shm_slot *sl = &shm_slots(p->h)[s];
    uint64_t st = atomic_load_explicit(&sl->state, memory_order_relaxed);
    atomic_store_explicit(&sl->state, slot_state(state_gen(st) + 1, 0, SLOT_FREE),
                          memory_order_release);
    mt__slot_job *j = &p->jobs[s];
    if (j->large_fd >= 0)
        close(j->large_fd);
    free(j->crash_msg);
    p->inflight_bytes -= j->inline_bytes;
    *j = (mt__slot_job){.large_fd = -1};
    p->free_slots[p->nfree++] = s;
}

/* ---- futures: finished under mu, their callbacks after it ------------- */

int mt__pool_own_future(mt_pool *p)
{
    if (p->futures_owned + 1 > p->capheld) {
        size_t cap = p->capheld ? p->capheld * 2 : 64;
        mt_future **held = realloc(p->held, cap * sizeof *held);
        if (!held)
            return -ENOMEM;
        p->held = held;
        p->capheld = cap;
    }
    p->futures_owned++;
    return 0;
}

/* Keep a future finished under mu for mt__pool_unlock, with the pool's
 * reference. */
static void hold(mt_pool *p, mt_future *f)
{
    size_t n = atomic_load_explicit(&p->nheld, memory_order_relaxed);
    p->held[n] = f; /* room was made when the pool took the future */
    atomic_store_explicit(&p->nheld, n + 1, memory_order_release);
}

/* Finish a future the pool owns, under mu; its callbacks wait for
 * mt__pool_unlock and the pool's reference goes with them. */
static void finish(mt_pool *p, mt_future *f, int err, mt_buf *result)
{
    mt__future_finish_held(f, err, result);
    hold(p, f);
}

void mt__pool_unlock(mt_pool *p)
{
    pthread_mutex_unlock(&p->mu);
    while (atomic_load_explicit(&p->nheld, memory_order_acquire)) {
        mt_future *batch[64];
        size_t k = 0;
        pthread_mutex_lock(&p->mu);
        size_t n = atomic_load_explicit(&p->nheld, memory_order_relaxed);
        while (k < 64 && n)
            batch[k++] = p->held[--n];
        atomic_store_explicit(&p->nheld, n, memory_order_relaxed);
        p->futures_owned -= k;
        pthread_mutex_unlock(&p->mu);
        for (size_t i = 0; i < k; i++) {
            mt__future_run_callbacks(batch[i]);
            mt_future_free(batch[i]);
        }
    }
}

/* Finish a single task's future from its result record. */
static void finish_future(mt_pool *p, mt_future *f, const mt__rec_hdr *hdr, const char *body,
                          void *map, size_t map_len)
{
    mt_buf buf = MT_BUF_INIT;
    if (hdr->err) {
        mt_buf_append(&buf, body, hdr->body);
        finish(p, f, hdr->err, &buf);
    } else {
        mt__chunk_result c = mt__chunk_view(hdr, body);
        mt_iov item;
        int err = mt__chunk_item(&c, 0, &item);
        if (map && err == 0) {
            mt__future_finish_mapped_held(f, map, map_len, item.data, item.len);
            hold(p, f);
            return; /* the future owns the mapping now */
        }
        mt_buf_append(&buf, item.data, item.len);
        finish(p, f, err, &buf);
    }
    if (map)
        munmap(map, map_len);
}

/* A job's result record arrived: hand it to its future or batch. */
static void finish_slot(mt_pool *p, const mt__rec_hdr *hdr, const char *body, void *map,
                        size_t map_len)
{
    uint32_t s = hdr->slot;
    if (s >= p->h->nslots || !p->jobs[s].busy ||
        state_gen(atomic_load(&shm_slots(p->h)[s].state)) != hdr->gen) {
        if (map) /* not ours (cannot happen unless memory was corrupted) */
            munmap(map, map_len);
        return;
    }
    mt__slot_job *j = &p->jobs[s];
    if (j->future) {
        finish_future(p, j->future, hdr, body, map, map_len);
    } else {
        mt__chunk_result r = mt__chunk_view(hdr, NULL);
        r.done = false;
        r.crashed = j->crashed; /* a chunk run again without the item that crashed */
        r.crash_msg = j->crash_msg;
        j->crash_msg = NULL;
        if (map) {
            r.body = body;
            r.map = map;
            r.map_len = map_len;
        } else if (hdr->err) {
            r.msg = strndup(body, hdr->body);
        } else {
            mt__batch *b = j->batch;
            char *copy = b->use_arena ? mt__arena_alloc(&b->arena, hdr->body ? hdr->body : 1)
                                      : malloc(hdr->body ? hdr->body : 1);
            r.in_arena = b->use_arena;
            if (copy) {
                memcpy(copy, body, hdr->body);
                r.body = copy;
            } else {
                r.err = -ENOMEM;
                r.nitems = 0;
            }
        }
        mt__batch_chunk_done(j->batch, j->chunk, &r);
    }
    free_slot(p, s);
}

static int recv_fd(int sock)
{
    char byte;
    struct iovec iov = {&byte, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                         .msg_controllen = sizeof u.buf};
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
    if (!c || c->cmsg_type != SCM_RIGHTS)
        return -EPROTO;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/*
 * Worker wi wrote a record that does not hold together: its memory is not to
 * be trusted. Stop it; the reap fails the slot it was running as a crash and
 * starts a replacement, and nothing more is read from its ring.
 */
static void reject_worker(mt_pool *p, uint32_t wi)
{
    mt__worker_slot *w = &p->workers[wi];
    if (!w->rejected && w->alive)
        kill(w->pid, SIGKILL);
    w->rejected = true;
}

/* Whether a chunk's result record carries the items its chunk had. Records
 * for slots that are not running are dropped later by finish_slot. */
static bool result_fits(mt_pool *p, const mt__rec_hdr *hdr, const char *body)
{
    uint32_t s = hdr->slot;
    if (s >= p->h->nslots || !p->jobs[s].busy || !p->jobs[s].batch)
        return true;
    const mt__batch *b = p->jobs[s].batch;
    size_t first = p->jobs[s].chunk * b->chunksize;
    uint64_t items = first < b->n ? (b->n - first < b->chunksize ? b->n - first : b->chunksize) : 0;
    return mt__chunk_record_ok(hdr, body, items);
}

static void take_large(mt_pool *p, uint32_t wi, mt__rec_hdr hdr)
{
    int fd = recv_fd(p->workers[wi].sock);
    void *map = MAP_FAILED;
    size_t len = hdr.body ? hdr.body : 1;
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || (uint64_t)st.st_size < hdr.body)) {
        close(fd); /* shorter than announced: reading it would fault */
        reject_worker(p, wi);
        return;
    }
    if (fd >= 0) {
        map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
        close(fd);
        /* Workers forked later must not keep the pages alive. */
        if (map != MAP_FAILED)
            madvise(map, len, MADV_DONTFORK);
    }
    if (map == MAP_FAILED) {
        static const char msg[] = "the parent could not map a large result";
        hdr.err = fd < 0 ? fd : -ENOMEM;
        hdr.body = sizeof msg - 1;
        finish_slot(p, &hdr, msg, NULL, 0);
        return;
    }
    if (!result_fits(p, &hdr, map)) {
        munmap(map, len);
        reject_worker(p, wi);
        return;
    }
    finish_slot(p, &hdr, map, map, len);
}

static void take_record(mt_pool *p, uint32_t wi, const mt__rec_hdr *hdr, const char *body)
{
    switch (hdr->kind) {
    case REC_READY:
        p->workers[wi].ready = true;
        break;
    case REC_INITFAIL:
        if (!p->broken) {
            p->broken = hdr->err ? hdr->err : MT_EFAILED;
            mt_buf_reset(&p->broken_msg);
            mt_buf_append(&p->broken_msg, body, hdr->body);
            mt_buf_append(&p->broken_msg, "", 1);
            fail_pending(p, MT_EBROKEN, p->broken_msg.data);
        }
        break;
    case REC_RESULT:
        if (result_fits(p, hdr, body))
            finish_slot(p, hdr, body, NULL, 0);
        else
            reject_worker(p, wi);
        break;
    case REC_LARGE:
        take_large(p, wi, *hdr);
        break;
    }
}

/* Read every published record of worker position wi. */
bool mt__pool_drain_ring(mt_pool *p, uint32_t wi)
{
    mt__shm_ring *r = shm_result_ring(p->h, wi);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (head == tail)
        return false;
    if (tail - head > RESULT_RING_BYTES)
        reject_worker(p, wi);
    while (head != tail) {
        if (p->workers[wi].rejected) { /* drop what it wrote */
            atomic_store_explicit(&r->head, tail, memory_order_release);
            break;
        }
        uint64_t off = head % RESULT_RING_BYTES;
        const mt__rec_hdr *hdr = (const mt__rec_hdr *)(r->data + off);
        if (RESULT_RING_BYTES - off < sizeof(mt__rec_hdr) || hdr->kind == REC_PAD) {
            if (tail - head < RESULT_RING_BYTES - off)
                reject_worker(p, wi);
            else
                head += RESULT_RING_BYTES - off;
            continue;
        }
        mt__rec_hdr copy = *hdr;
        if (!mt__record_ok(&copy, off, tail - head)) {
            reject_worker(p, wi);
            continue;
        }
        take_record(p, wi, &copy, r->data + off + sizeof(mt__rec_hdr));
        head += copy.size;
        /* Free ring space at once: a worker may be waiting for it. */
        atomic_store_explicit(&r->head, head, memory_order_release);
    }
    return true;
}

/* Whether any ring has unread records (lock-free peek). */
bool mt__pool_rings_pending(mt_pool *p)
{
    for (uint32_t i = 0; i < p->h->nworkers; i++) {
        mt__shm_ring *r = shm_result_ring(p->h, i);
        if (atomic_load_explicit(&r->head, memory_order_relaxed) !=
            atomic_load_explicit(&r->tail, memory_order_acquire))
            return true;
    }
    return false;
}

/* ---- dispatching ---------------------------------------------------- */

/*
 * Where to write a payload of `len` bytes for slot s: its inline space, or a
 * fresh memfd mapped for writing (then *map is set and *fd keeps the file).
 */
static char *payload_space(mt_pool *p, uint32_t s, uint64_t len, int *fd, void **map)
{
    *fd = -1;
    *map = NULL;
    if (len <= p->h->slot_bytes)
        return shm_payload(p->h, s);
    int f = memfd_create("multitask-arg", MFD_CLOEXEC);
    if (f < 0)
        return NULL;
    void *m = MAP_FAILED;
    if (ftruncate(f, (off_t)len) == 0)
        m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
    if (m == MAP_FAILED) {
        close(f);
        return NULL;
    }
    *fd = f;
    *map = m;
    return m;
}

/* Fill slot s's header and make it QUEUED; the ring entry comes after. */
static void queue_slot(mt_pool *p, uint32_t s, mt_fn *fn, uint32_t kind, uint32_t nitems,
                       uint64_t item_size, uint64_t arg_len, int large_fd)
{
    mt__shm_slot *sl = &shm_slots(p->h)[s];
    sl->fn = (uint64_t)(uintptr_t)fn;
    sl->kind = kind;
    sl->nitems = nitems;
    sl->item_size = item_size;
    sl->arg_len = arg_len;
    sl->large_fd = large_fd;
    sl->skip = 0;
    p->jobs[s].large_fd = large_fd;
    p->jobs[s].inline_bytes = large_fd < 0 ? arg_len : 0;
    p->inflight_bytes += p->jobs[s].inline_bytes;
    p->jobs[s].busy = true;
    uint64_t st = atomic_load_explicit(&sl->state, memory_order_relaxed);
    atomic_store_explicit(&sl->state, slot_state(state_gen(st), 0, SLOT_QUEUED),
                          memory_order_release);
}

static void push_entry(mt_pool *p, uint32_t s)
{
    uint64_t st = atomic_load_explicit(&shm_slots(p->h)[s].state, memory_order_relaxed);
    uint64_t pos = p->disp_tail++;
    p->jobs[s].ring_pos = pos;
    atomic_store_explicit(&shm_disp(p->h)[pos & (p->h->nslots - 1)],
                          ring_entry(pos, s, state_gen(st)), memory_order_release);
}

static void publish(mt_pool *p, uint32_t count)
{
    mt__shm_header *h = p->h;
    atomic_store_explicit(&h->disp_tail, p->disp_tail, memory_order_release);
    atomic_thread_fence(memory_order_seq_cst);
    uint32_t idle = 0;
    for (uint32_t i = 0; i < h->nworkers; i++)
        idle += atomic_load_explicit(&shm_result_ring(h, i)->sleeping, memory_order_relaxed);
    if (idle) {
        atomic_fetch_add_explicit(&h->disp_seq, 1, memory_order_release);
        mt__futex_wake(&h->disp_seq, (int)(count < idle ? count : idle), true);
    }
}

/* Put one single task in slot s. Returns false when its payload could not
 * be placed (the future is failed). */
static bool dispatch_single(mt_pool *p, uint32_t s, mt__source *src)
{
    int fd;
    void *map;
    char *dst = payload_space(p, s, src->arg.len, &fd, &map);
    if (!dst) {
        mt_buf msg = MT_BUF_INIT;
        mt_buf_printf(&msg, "cannot place a %zu-byte argument in shared memory", src->arg.len);
        finish(p, src->future, -ENOMEM, &msg);
        return false;
    }
    if (src->arg.len)
        memcpy(dst, src->arg.data, src->arg.len);
    if (map)
        munmap(map, src->arg.len);
    p->jobs[s].future = src->future;
    queue_slot(p, s, src->fn, JOB_FIXED, 1, src->arg.len, src->arg.len, fd);
    return true;
}

/* Item i's bytes (an iov or a fed batch; JOB_FIXED batches use items). */
static mt_iov batch_iov(const mt__batch *b, size_t i)
{
    return b->fed ? b->fed[i % b->fed_ring] : b->iov[i];
}

/* Put the next chunk of batch b in slot s. */
static bool dispatch_chunk(mt_pool *p, uint32_t s, mt__batch *b)
{
    size_t first = b->next_item;
    size_t count = b->n - first < b->chunksize ? b->n - first : b->chunksize;
    size_t chunk = first / b->chunksize;
    bool iov = b->iov || b->fed;
    uint64_t len = 0;
    if (iov) {
        len = count * sizeof(uint64_t);
        for (size_t i = 0; i < count; i++)
            len += batch_iov(b, first + i).len;
    } else {
        len = (uint64_t)count * b->item_size;
    }
    b->next_item += count;
    b->inflight++; /* mt__batch_chunk_done counts it back */
    b->refs++;
    int fd;
    void *map;
    char *dst = payload_space(p, s, len, &fd, &map);
    if (!dst) {
        mt__chunk_result r = {.err = -ENOMEM, .msg = strdup("cannot place a chunk in shared memory")};
        mt__batch_chunk_done(b, chunk, &r);
        return false;
    }
    if (iov) {
        uint64_t *lens = (uint64_t *)dst;
        char *data = dst + count * sizeof(uint64_t);
        for (size_t i = 0; i < count; i++) {
            mt_iov item = batch_iov(b, first + i);
            lens[i] = item.len;
            if (lens[i])
                memcpy(data, item.data, lens[i]);
            data += lens[i];
        }
    } else if (len) {
        memcpy(dst, b->items + first * b->item_size, len);
    }
    if (map)
        munmap(map, len);
    for (size_t i = 0; b->fed && i < count; i++) { /* the slot has the bytes now */
        mt_iov *item = &b->fed[(first + i) % b->fed_ring];
        free((void *)item->data);
        *item = (mt_iov){NULL, 0};
    }
    p->jobs[s].batch = b;
    p->jobs[s].chunk = chunk;
    queue_slot(p, s, b->fn, iov ? JOB_IOV : JOB_FIXED, (uint32_t)count, b->item_size, len, fd);
    return true;
}

static void pop_pending(mt_pool *p)
{
    mt__source *s = p->pending;
    p->pending = s->next;
    if (!p->pending)
        p->pending_tail = &p->pending;
}

/* Move pending work into free slots. Returns true if anything moved. */
static bool dispatch(mt_pool *p)
{
    uint32_t queued = 0;
    bool any = false;
    while (p->nfree && p->pending &&
           (p->inflight_bytes < INFLIGHT_BYTES_MAX || p->nfree == p->h->nslots)) {
        mt__source *src = p->pending;
        any = true;
        if (src->future) {
            pop_pending(p);
            if (mt__future_start(src->future) != 0) { /* cancelled while pending */
                hold(p, src->future);             /* released outside the lock */
            } else {
                uint32_t s = p->free_slots[--p->nfree];
                if (dispatch_single(p, s, src)) {
                    push_entry(p, s);
                    queued++;
                } else {
                    p->free_slots[p->nfree++] = s;
                }
            }
            mt_buf_free(&src->arg);
            free(src);
            continue;
        }
        mt__batch *b = src->batch;
        if (b->abandoned || mt__batch_ready_items(b) == 0) {
            pop_pending(p);
            b->queued = false;
            free(src);
            mt__batch_unref(b);
            continue;
        }
        uint32_t s = p->free_slots[--p->nfree];
        if (dispatch_chunk(p, s, b)) {
            push_entry(p, s);
            queued++;
        } else {
            p->free_slots[p->nfree++] = s;
        }
    }
    if (queued)
        publish(p, queued);
    return any;
}

void mt__pool_enqueue(mt_pool *p, mt__source *s)
{
    s->next = NULL;
    *p->pending_tail = s;
    p->pending_tail = &s->next;
    if (s->batch)
        s->batch->queued = true;
    dispatch(p);
}

/* When a closed pool has handed out all its work, let idle workers exit. */
static void maybe_stop(mt_pool *p)
{
    if (p->state != POOL_CLOSED || p->pending || p->batches_fed ||
        atomic_load_explicit(&p->h->stop, memory_order_relaxed))
        return;
    atomic_store(&p->h->stop, 1);
    atomic_fetch_add(&p->h->disp_seq, 1);
    mt__futex_wake(&p->h->disp_seq, INT32_MAX, true);
}

bool mt__pool_pump(mt_pool *p)
{
    bool any = false;
    for (uint32_t i = 0; i < p->h->nworkers; i++)
        any |= mt__pool_drain_ring(p, i);
    any |= dispatch(p);
    maybe_stop(p);
    if (any)
        pthread_cond_broadcast(&p->cond);
    return any;
}

/* ---- failing work --------------------------------------------------- */

static void fail_slot(mt_pool *p, uint32_t s, int err, const char *why)
{
    mt__slot_job *j = &p->jobs[s];
    if (j->future) {
        mt_buf msg = MT_BUF_INIT;
        mt_buf_printf(&msg, "%s", why);
        finish(p, j->future, err, &msg);
    } else if (j->batch) {
        mt__chunk_result r = {.err = err, .msg = strdup(why)};
        mt__batch_chunk_done(j->batch, j->chunk, &r);
    }
    free_slot(p, s);
}

static void fail_pending(mt_pool *p, int err, const char *why)
{
    while (p->pending) {
        mt__source *src = p->pending;
        pop_pending(p);
        if (src->future) {
            mt_buf msg = MT_BUF_INIT;
            mt_buf_printf(&msg, "%s", why);
            if (mt__future_start(src->future) == 0) {
                finish(p, src->future, err, &msg);
            } else {
                mt_buf_free(&msg);
                hold(p, src->future);
            }
            mt_buf_free(&src->arg);
        } else {
            mt__batch_fail_rest(p, src->batch, err, why);
            src->batch->queued = false;
            mt__batch_unref(src->batch);
        }
        free(src);
    }
}

void mt__pool_fail_all(mt_pool *p, int err, const char *why)
{
    fail_pending(p, err, why);
    for (uint32_t s = 0; s < p->h->nslots; s++)
        if (p->jobs[s].busy)
            fail_slot(p, s, err, why);
    pthread_cond_broadcast(&p->cond);
}

int mt__pool_wait(mt_pool *p, bool (*done)(void *), void *arg, mt__deadline d)
{
    mt__shm_header *h = p->h;
    bool finished = false;
    atomic_fetch_add(&h->watching, 1);
    uint64_t start = mt_monotonic_ns();
    for (unsigned spins = 0; !finished; spins++) {
        if (pthread_mutex_trylock(&p->mu) == 0) {
            mt__pool_pump(p);
            finished = done(arg);
            mt__pool_unlock(p);
        }
        if (finished || mt_monotonic_ns() - start > WAIT_SPIN_NS || mt__deadline_passed(d))
            break;
        if (spins % 32 == 31)
            sched_yield();
        else
            mt__cpu_relax();
    }
    atomic_fetch_sub(&h->watching, 1);

    pthread_mutex_lock(&p->mu);
    /* Records published while the workers saw us watching woke nobody. */
    mt__pool_pump(p);
    while (!(finished = done(arg)) && !mt__deadline_passed(d)) {
        if (atomic_load(&p->nheld)) { /* callbacks first: they may be what we wait for */
            mt__pool_unlock(p);
            pthread_mutex_lock(&p->mu);
            continue;
        }
        mt__cond_wait(&p->cond, &p->mu, d);
    }
    mt__pool_unlock(p);
    return finished ? 0 : -ETIMEDOUT;
}

/* ---- a dead worker's slots ------------------------------------------ */

/*
 * A worker died running slot s (state st). A chunk of several items goes back
 * to the ring once, marked to skip the item that was running: that item
 * fails with MT_EWORKER, the others run (those before it a second time). A
 * chunk that kills a worker again fails whole. Returns true if requeued.
 */
static bool retry_without_crashed_item(mt_pool *p, uint32_t s, uint64_t st, const char *why)
{
    mt__slot_job *j = &p->jobs[s];
    mt__shm_slot *sl = &shm_slots(p->h)[s];
    if (!j->batch || j->crashed || sl->nitems < 2)
        return false;
    uint32_t item = atomic_load_explicit(&sl->progress, memory_order_acquire);
    char *msg = strdup(why);
    if (item >= sl->nitems || !msg) {
        free(msg);
        return false;
    }
    j->crashed = item + 1;
    j->crash_msg = msg;
    sl->skip = item + 1;
    atomic_store_explicit(&sl->state, slot_state(state_gen(st) + 1, 0, SLOT_QUEUED),
                          memory_order_release);
    push_entry(p, s);
    return true;
}

void mt__pool_recover_slots(mt_pool *p, uint32_t i, const char *why, bool retry)
{
    mt__shm_header *h = p->h;
    uint64_t head = atomic_load(&h->disp_head);
    uint32_t requeued = 0;
    for (uint32_t s = 0; s < h->nslots; s++) {
        if (!p->jobs[s].busy)
            continue;
        _Atomic uint64_t *state = &shm_slots(h)[s].state;
        uint64_t st = atomic_load(state);
        if (state_phase(st) == SLOT_RUNNING && state_worker(st) == i) {
            if (retry && retry_without_crashed_item(p, s, st, why))
                requeued++;
            else
                fail_slot(p, s, MT_EWORKER, why);
        } else if (state_phase(st) == SLOT_QUEUED && p->jobs[s].ring_pos < head) {
            /* Taken off the ring but never claimed: put it back. */
            uint64_t again = slot_state(state_gen(st) + 1, 0, SLOT_QUEUED);
            if (atomic_compare_exchange_strong(state, &st, again)) {
                push_entry(p, s);
                requeued++;
            }
        }
    }
    if (requeued)
        publish(p, requeued);
}
