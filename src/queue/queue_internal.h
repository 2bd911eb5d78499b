/*
 * queue_internal.h - the queue's shared memory, its slot state words, the
 * process-local handle, and how the queue's files call each other:
 *
 *   queue_ring.c    the lock-free protocol on the slots (read its opening
 *                   comment first: it is the argument for crash safety)
 *   queue_users.c   who uses the queue: process identity, the users table,
 *                   telling dead processes from live ones
 *   queue_shm.c     making, opening, mapping and unlinking the segment
 *   queue.c         the public calls: waiting, timeouts, close, join
 */
#ifndef MT_QUEUE_INTERNAL_H
#define MT_QUEUE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../core/core_internal.h"
#include "../shared/remote_ops.h"
#include "multitask/queue.h"

#define Q_ALIGNED __attribute__((aligned(64)))

enum {
    Q_MAGIC = 0x7571746d, /* "mtqu" */
    Q_VERSION = 2,   /* 2: the persist word */
    Q_INLINE = 48,   /* message bytes that fit in the slot's own cache line */
    Q_USERS = 1024,  /* handles (in any processes) attached at once */
    Q_SPIN_INITIAL = 16, /* a new handle's spin budget, in peeks (queue.c) */
};

/*
 * What no healthy queue's shared words can say (a process that scribbled on
 * the segment can): a position hint of 2^62 or more (a billion messages a
 * second for 146 years), or a slot whose round is more than 2^32 positions
 * away from a fresh hint's. Calls that meet them return -EPROTO.
 */
#define Q_POS_LIMIT (1ull << 62)
#define Q_ROUND_LIMIT ((int64_t)1 << 32)

/* Slot phases: the low two bits of a slot's state word. */
enum { PH_FREE = 0, PH_WRITING = 1, PH_FULL = 2, PH_READING = 3 };

/*
 * A slot state word: the round's base position (40 bits, see queue_ring.c),
 * the pid of the process inside the slot (22 bits; 0 when nobody is) and the
 * phase (2 bits). Linux pids are below 2^22 (PID_MAX_LIMIT).
 */
#define ST_PID_MASK ((1u << 22) - 1)

static inline uint64_t st_make(uint64_t base, uint32_t pid, unsigned phase)
{
    return base << 24 | (uint64_t)(pid & ST_PID_MASK) << 2 | phase;
}
static inline unsigned st_phase(uint64_t s)
{
    return (unsigned)(s & 3);
}
static inline uint32_t st_pid(uint64_t s)
{
    return (uint32_t)(s >> 2) & ST_PID_MASK;
}
/* How many positions the slot's round is ahead of `base` (negative: behind),
 * computed modulo 2^40 so that wrapping is harmless. */
static inline int64_t st_diff(uint64_t s, uint64_t base)
{
    return (int64_t)((s & ~(uint64_t)0xffffff) - (base << 24)) >> 24;
}

/* One slot: its state, the message length and the first bytes. Longer
 * messages live in the slot's stretch of the data area. */
typedef struct Q_ALIGNED qslot {
    _Atomic uint64_t state;
    uint64_t len;
    char inline_data[Q_INLINE];
} qslot;

/* A users-table entry: start time (clock ticks since boot) << 22 | pid. */
static inline uint64_t user_make(uint32_t pid, uint64_t start)
{
    return start << 22 | (pid & ST_PID_MASK);
}

/* The start of the shared memory. Fields are grouped by who writes them so
 * that producers and consumers do not share cache lines. */
typedef struct qhdr {
    /* Set by the creator before `magic`, then read-only (but `closed`). */
    _Atomic uint32_t magic; /* Q_MAGIC once the queue is ready to use */
    uint32_t version;
    uint32_t nslots;
    uint32_t joinable;
    uint32_t persist; /* the name stays when its last user leaves */
    uint64_t max_message;
    uint64_t slots_off, data_off, data_stride, total;
    uint64_t pidns; /* the creator's PID namespace (inode), 0 if unknown */
    _Atomic uint32_t closed;

    Q_ALIGNED _Atomic uint64_t tail; /* producers' hint: positions below are claimed */
    Q_ALIGNED _Atomic uint64_t head; /* consumers' hint: positions below are consumed */
    /* Getters sleep on put_seq after raising getters_waiting; a put that sees
     * the flag clears it, bumps put_seq and wakes them all. */
    Q_ALIGNED _Atomic uint32_t put_seq;
    _Atomic uint32_t getters_waiting;
    Q_ALIGNED _Atomic uint32_t get_seq; /* the same for putters */
    _Atomic uint32_t putters_waiting;
    /* Joinable accounting (queue.c): puts counts published messages as a hint,
     * skipped the positions given up because their writer died. */
    Q_ALIGNED _Atomic uint64_t puts;
    _Atomic uint64_t dones;
    _Atomic uint64_t skipped;
    _Atomic uint32_t join_seq;
    _Atomic uint32_t joiners_waiting;
    /* Named queues: the pid removing the name, Q_UNLINKED once removed. */
    Q_ALIGNED _Atomic uint32_t unlinking;
    _Atomic uint64_t users[Q_USERS];
} qhdr;

#define Q_UNLINKED UINT32_MAX

/* The process-local handle. Sizes are copied out of the shared header once,
 * checked, and never read from it again: a scribbled header cannot make this
 * process write outside its mapping. */
struct mt_queue {
    qhdr *h;
    qslot *slots;
    char *data;
    size_t map_len;
    uint64_t nslots;
    uint64_t mask; /* nslots - 1 when nslots is a power of two, else 0 */
    uint64_t max_message;
    uint64_t stride;
    bool joinable;
    bool persist;
    _Atomic uint32_t pid;         /* the process this handle is registered for */
    _Atomic uint32_t attach_lock; /* pid of the process attaching, 0 when free */
    _Atomic uint64_t last_sweep;  /* mt_monotonic_ns() of the last sweep */
    _Atomic uint32_t spin_put;    /* spin budgets of waits, adapted (queue.c) */
    _Atomic uint32_t spin_get;
    dev_t dev;                    /* a named queue's file, to unlink only ours */
    ino_t ino;
    char name[MT_QUEUE_NAME_MAX + 1]; /* "" when anonymous */
    /* A queue on a server (queue_remote.c): every call goes to the remote
     * layer's table, and nothing above but nslots, max_message and
     * joinable is used. */
    mt__remote *remote;
    const mt__remote_ops *rops;
};

static inline uint64_t q_index(const mt_queue *q, uint64_t pos)
{
    return q->mask ? pos & q->mask : pos % q->nslots;
}

/* ---- queue_ring.c ---------------------------------------------------- */

/* A message a get has claimed (its slot is READING for this process). */
typedef struct mt__claim {
    uint64_t pos;
    qslot *slot;
    const char *bytes;
    size_t len;
} mt__claim;

/* Put a copy of the message. Returns 0, -EAGAIN (full) or MT_ECLOSED (closed). */
int mt__ring_put(mt_queue *q, const void *data, size_t len);

/* Claim the oldest message. Returns 0 with *c filled, -EAGAIN when there is
 * none, or MT_ECLOSED when the queue is closed and no put is under way. */
int mt__ring_claim(mt_queue *q, mt__claim *c);

/* Free a claimed slot after copying the message out. */
void mt__ring_release(mt_queue *q, const mt__claim *c);

/* Give a claimed message back: the next get takes it again. */
void mt__ring_unclaim(mt_queue *q, const mt__claim *c);

/* -EPROTO when the hints or the slots at them say what no healthy queue
 * can (see Q_POS_LIMIT), else 0. */
int mt__ring_damaged(const mt_queue *q);

/* The state word of a slot this process claimed: what a receipt keeps. */
uint64_t mt__ring_claim_word(const mt_queue *q, const mt__claim *c);

/* Settle a kept claim, the slot of pos seen as word when claimed: free the
 * slot (ack) or give the message back (!ack). Returns 0; -EINVAL when word
 * is no claim of pos; -ESTALE when the slot no longer holds that claim. */
int mt__ring_settle(mt_queue *q, uint64_t pos, uint64_t word, bool ack);

/* Cheap checks for spinning: whether a get (put) may succeed now. */
bool mt__ring_get_ready(const mt_queue *q);
bool mt__ring_put_ready(const mt_queue *q);

/* Repair the slots of dead processes, at most once per sweep interval per
 * handle unless `force`. Returns the number of slots repaired. */
int mt__ring_sweep(mt_queue *q, bool force);

/* Give back every slot that a dead earlier holder of this process's pid
 * left in progress (called once per process, before its first operation). */
void mt__ring_repair_own(mt_queue *q);

/* Repair the slots a dead process `pid` held (before forgetting its users
 * table entry). */
void mt__ring_repair_pid(mt_queue *q, uint32_t pid);

/* Positions below the first that no put has claimed yet. */
uint64_t mt__ring_frontier(const mt_queue *q);

/* Slots WRITING between head and `frontier`. */
uint64_t mt__ring_writing(const mt_queue *q, uint64_t frontier);

/* Wake everyone sleeping on seq if flag says someone does. */
void mt__queue_wake(_Atomic uint32_t *flag, _Atomic uint32_t *seq);

/* ---- queue_users.c --------------------------------------------------- */

/* This process's pid, kept current across fork without a system call. */
uint32_t mt__queue_self(void);

/* Register the handle for the calling process if it is not yet (the first
 * call after a fork). Cheap when nothing is to be done. */
void mt__queue_attach_slow(mt_queue *q);
static inline void mt__queue_attach(mt_queue *q)
{
    if (atomic_load_explicit(&q->pid, memory_order_acquire) != mt__queue_self())
        mt__queue_attach_slow(q);
}

/* Add the calling process to the users table, first repairing what a dead
 * earlier holder of its pid left behind. Returns 0 or -EUSERS. */
int mt__queue_users_add(mt_queue *q);

/* Remove one entry of the calling process. Returns whether another entry
 * of it (another handle of this process) remains. */
bool mt__queue_users_remove(mt_queue *q);

/* Whether a live process other than the caller's handle holds the queue. */
bool mt__queue_users_live(mt_queue *q);

/* Whether the process `pid` that took a slot is certainly gone: no such
 * process, a zombie, or another process that reused the pid. */
bool mt__queue_pid_dead(const mt_queue *q, uint32_t pid);

/* The PID namespace of the calling process (an inode number), 0 if unknown. */
uint64_t mt__queue_pidns(void);

/* ---- queue_remote.c -------------------------------------------------- */

/* Make or open the queue `name` on a server (mode: MT__RQ_*; o: the
 * settings with defaults filled in, NULL to open). */
int mt__queue_remote_open(mt_queue **out, const char *name, const mt_queue_opts *o, int mode);

/* Remove the queue `name` from its server. */
int mt__queue_remote_unlink(const char *name);

/* ---- queue_shm.c ----------------------------------------------------- */

/* Whether name is a valid queue name. */
bool mt__queue_name_ok(const char *name);

/* Make the segment (memfd or /dev/shm/name) and map it. */
int mt__queue_create(mt_queue *q, const mt_queue_opts *o);

/* Map the named segment and check it. */
int mt__queue_map_named(mt_queue *q, const char *name);

/* Unmap; remove the name when this was its last live user. */
void mt__queue_unmap(mt_queue *q);

#endif
