/*
 * queue_ring.c - the queue's lock-free protocol on its slots, and why it
 * survives a process killed at any instruction.
 *
 * Positions. Every message gets a position p = 0, 1, 2, ... (64 bits) and
 * lives in slot i = p % N. The slot's state word holds its round's base
 * b = p - i (kept modulo 2^40), a phase, and the pid of the process inside:
 *
 *   FREE(b)        empty, waiting for position b + i
 *   WRITING(b, w)  process w is copying a message in
 *   FULL(b)        holds the message of position b + i
 *   READING(b, r)  process r is copying that message out
 *
 * and moves FREE(b) -> WRITING(b, w) -> FULL(b) -> READING(b, r) -> FREE(b+N).
 * Each step is one atomic operation on that one word, and whoever made a step
 * owns the slot until the next one. A zeroed word is FREE(0): a new segment
 * needs no setup.
 *
 * Put. A producer starts at the tail hint t and tries CAS FREE(t) ->
 * WRITING(t, self). Won: position t is its own. It moves the tail hint on,
 * checks the queue was not closed meanwhile, copies the length and bytes,
 * stores FULL(t) and returns. Lost: the word says why. Same round but not
 * FREE: another producer has t, try t + 1. A later round: t was used long
 * ago, try t + 1. An earlier round (the slot still holds t - N): the queue is
 * full. A producer passes t only after seeing t claimed, so the claimed
 * positions always form a prefix [0, F): the first FREE position a consumer
 * meets is the end of everything put so far.
 *
 * Get. A consumer first tries CAS FULL(h) -> READING(h, self) at the head
 * hint h, the common case. Otherwise it scans on from h: a slot a round ahead
 * was consumed (pass it, moving the head hint); WRITING or READING belongs to
 * someone else (skip it); FULL(p) is the message to take; FREE(p) ends the
 * scan. It claims with CAS FULL(p) -> READING(p, self), copies the message
 * out and stores FREE(p + N). Skipping lets consumers pass a preempted or
 * dead writer. FIFO per producer still holds for one consumer: when the scan
 * skipped WRITING slots before the first FULL one at f, it reads positions
 * f - 1 down to the first skipped one again and takes the lowest FULL one.
 * A message the same producer put before the one at c was complete before
 * that put began, so before c was seen FULL; reading backwards, each lower
 * position is read after c was seen FULL, so that message is seen (and taken
 * first) unless another consumer has it already.
 *
 * Hints. Every position below tail is claimed and every position below head
 * is consumed: each moves by CAS from p to p + 1 only after p was seen so.
 * A lost or late update costs a few more steps, never a wrong answer; and
 * whoever moves a hint moves it on past the positions seen done meanwhile
 * (advance_tail, advance_head), and a put helps it past every position it
 * finds claimed, so a hint never stays behind for good. head passes p only
 * once p's slot is a round ahead, so a slot READING by a dead consumer is
 * never left behind the place where scans and sweeps start.
 *
 * Claims. mt_queue_claim is a get that stops before its last step: the
 * slot stays READING(b, r) until the ack stores FREE(b + N), or the nack
 * FULL(b), each one CAS from the exact word the claim left. A claimant
 * that dies is repaired like any dead reader: the message comes back.
 *
 * Damage. Loops over shared words are bounded (a put walks a few laps at
 * most, a get scans one lap per round and gives up after CLAIM_ROUNDS), so
 * a scribbled segment costs a caller its timeout, never a spin for ever;
 * words no healthy queue holds (Q_POS_LIMIT) are reported as -EPROTO.
 *
 * Close. A put checks `closed` again after its claim: the claim and that
 * load, close's store and a consumer's load of `closed` before its scan are
 * all sequentially consistent, so either the consumer's scan sees the slot
 * (WRITING: it waits for it) or the put sees the queue closed and gives the
 * position up (FREE(t + N)) and fails. A consumer returns MT_ECLOSED only when
 * the queue was closed before a scan that found no message, no put under
 * way and no message held by another process: nothing put successfully can
 * arrive after that. A message another process holds (READING) may still
 * come back, if that process dies before it frees the slot, so a closed
 * queue's consumers wait for it: a sweep tells at once whether the holder
 * is dead (the message is then given back and taken), and a live holder
 * wakes them when it frees the slot. Slots this process holds do not count:
 * should it die, its getters die with it.
 *
 * Crashes. Kill a process anywhere:
 *  - before its claim, or after its final store: it held nothing;
 *  - holding WRITING(b, w): its put had not returned, so nobody was promised
 *    that message. The slot is repaired to FREE(b + N): the position is
 *    skipped (consumers pass it already, head then moves on) and no half
 *    message is ever seen;
 *  - holding READING(b, r): its get had not returned (storing FREE is the
 *    get's last step on the slot), so the message was not delivered. The
 *    slot is repaired to FULL(b) and another consumer takes the message,
 *    whole and once: the bytes are only ever written while WRITING;
 *  - while moving a hint or waking sleepers: hints are only hints, and
 *    sleepers wake on their own every 100 ms (queue.c) in case a wake-up
 *    was lost.
 * A repair is one CAS from the exact word that was seen, so it happens once
 * and never touches a slot that has moved on since. It needs the owner to be
 * dead for certain: mt__queue_pid_dead says so for a pid with no process, a
 * zombie (a killed child not yet reaped is dead to us), or a live process
 * that reused the pid (a start time that the users table does not list). A
 * process may also find its own pid in a slot, left by a dead earlier
 * holder of that pid; it repairs those once, before its first operation.
 *
 * Who repairs. mt__ring_sweep walks the positions in flight, from head to the
 * first FREE one, and repairs the slots of dead owners. Calls run it only
 * when they are blocked (full, empty, or after skipping many slots), at most
 * once per SWEEP_NS per handle: a healthy queue never pays for it.
 *
 * Wrapping. State words compare positions modulo 2^40: a thread would have
 * to stall between reading a position and its CAS while some 10^12 messages
 * pass for a stale CAS to match.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "queue_internal.h"

enum {
    SWEEP_NS = 20 * 1000 * 1000, /* the least time between a handle's sweeps */
    SWEEP_SKIPPED = 32,          /* a get that skips this many slots sweeps */
    PUT_BATCH = 8,               /* put_ready waits for this many free slots */
    CLAIM_ROUNDS = 1024,         /* a get's scans before it gives up for now */
    PUT_WALK_LAPS = 4,           /* a put gives up after walking this many laps */
};

static inline qslot *slot_at(const mt_queue *q, uint64_t pos, uint64_t *base)
{
    uint64_t i = q_index(q, pos);
    *base = pos - i;
    return &q->slots[i];
}

static inline char *bytes_of(const mt_queue *q, qslot *sl, size_t len)
{
    if (len <= Q_INLINE)
        return sl->inline_data;
    return q->data + (uint64_t)(sl - q->slots) * q->stride;
}

/* Move a hint from pos to pos + 1 if nobody has moved it yet. */
static inline void advance(_Atomic uint64_t *hint, uint64_t pos)
{
    uint64_t seen = pos;
    atomic_compare_exchange_strong_explicit(hint, &seen, pos + 1, memory_order_release,
                                            memory_order_relaxed);
}

static inline bool cas(_Atomic uint64_t *w, uint64_t *seen, uint64_t to)
{
    return atomic_compare_exchange_strong_explicit(w, seen, to, memory_order_seq_cst,
                                                   memory_order_seq_cst);
}

void mt__queue_wake(_Atomic uint32_t *flag, _Atomic uint32_t *seq)
{
    if (!atomic_exchange_explicit(flag, 0, memory_order_seq_cst))
        return;
    atomic_fetch_add_explicit(seq, 1, memory_order_seq_cst);
    mt__futex_wake(seq, INT32_MAX, true);
}

static inline void wake_if_waiting(_Atomic uint32_t *flag, _Atomic uint32_t *seq)
{
    if (atomic_load_explicit(flag, memory_order_seq_cst))
        mt__queue_wake(flag, seq);
}

/* Give up a position this process claimed for writing. */
static void skip_position(mt_queue *q, qslot *sl, uint64_t base)
{
    qhdr *h = q->h;
    atomic_store_explicit(&sl->state, st_make(base + q->nslots, 0, PH_FREE), memory_order_seq_cst);
    if (q->joinable)
        atomic_fetch_add_explicit(&h->skipped, 1, memory_order_seq_cst);
    wake_if_waiting(&h->putters_waiting, &h->get_seq);
    wake_if_waiting(&h->getters_waiting, &h->put_seq); /* a closed queue's getters wait for puts */
}

/* After claiming position pos: move the tail hint on from pos, and past the
 * positions after it that others claimed already (while the hint was still
 * below pos, their own moves failed), so that qsize counts every message put.
 * As advance_head: of this CAS-then-load and a later claimer's claim-then-CAS,
 * one sees the other. */
static void advance_tail(mt_queue *q, uint64_t pos)
{
    qhdr *h = q->h;
    for (uint64_t n = 0; n < q->nslots; n++, pos++) {
        uint64_t seen = pos, base;
        if (!atomic_compare_exchange_strong_explicit(&h->tail, &seen, pos + 1,
                                                     memory_order_seq_cst, memory_order_seq_cst))
            return;
        qslot *sl = slot_at(q, pos + 1, &base);
        uint64_t s = atomic_load_explicit(&sl->state, memory_order_seq_cst);
        int64_t d = st_diff(s, base);
        if (d < 0 || (d == 0 && st_phase(s) == PH_FREE))
            return;
    }
}

int mt__ring_damaged(const mt_queue *q)
{
    qhdr *h = q->h;
    uint64_t hd = atomic_load_explicit(&h->head, memory_order_seq_cst);
    uint64_t t = atomic_load_explicit(&h->tail, memory_order_seq_cst);
    if (hd >= Q_POS_LIMIT || t >= Q_POS_LIMIT)
        return -EPROTO;
    uint64_t base[2];
    const qslot *sl[2] = {slot_at(q, hd, &base[0]), slot_at(q, t, &base[1])};
    for (int i = 0; i < 2; i++) {
        int64_t d = st_diff(atomic_load_explicit(&sl[i]->state, memory_order_seq_cst), base[i]);
        if (d > Q_ROUND_LIMIT || d < -Q_ROUND_LIMIT)
            return -EPROTO;
    }
    return 0;
}

int mt__ring_put(mt_queue *q, const void *data, size_t len)
{
    qhdr *h = q->h;
    if (atomic_load_explicit(&h->closed, memory_order_acquire))
        return MT_ECLOSED;
    uint32_t self = mt__queue_self();
    uint64_t t = atomic_load_explicit(&h->tail, memory_order_relaxed);
    if (t >= Q_POS_LIMIT)
        return -EPROTO;
    /* A healthy queue ends a walk from a fresh hint within nslots steps; a
     * longer walk means others kept claiming (or the words are scribbled):
     * give up as if full, and the caller's timeout decides. */
    for (uint64_t walked = 1; walked <= PUT_WALK_LAPS * q->nslots; walked++, t++) {
        if (walked % q->nslots == 0) { /* the hint lags far behind: catch up */
            uint64_t tail = atomic_load_explicit(&h->tail, memory_order_relaxed);
            t = tail > t ? tail : t;
        }
        uint64_t base;
        qslot *sl = slot_at(q, t, &base);
        uint64_t s = st_make(base, 0, PH_FREE);
        if (cas(&sl->state, &s, st_make(base, self, PH_WRITING))) {
            advance_tail(q, t);
            if (atomic_load_explicit(&h->closed, memory_order_seq_cst)) {
                skip_position(q, sl, base);
                return MT_ECLOSED;
            }
            sl->len = len;
            if (len)
                memcpy(bytes_of(q, sl, len), data, len);
            atomic_store_explicit(&sl->state, st_make(base, 0, PH_FULL), memory_order_seq_cst);
            if (q->joinable)
                atomic_fetch_add_explicit(&h->puts, 1, memory_order_seq_cst);
            wake_if_waiting(&h->getters_waiting, &h->put_seq);
            return 0;
        }
        int64_t d = st_diff(s, base);
        if (d < 0) /* the slot still holds position t - N: full */
            return d < -Q_ROUND_LIMIT ? mt__ring_damaged(q) ?: -EAGAIN : -EAGAIN;
        if (d > Q_ROUND_LIMIT)
            return mt__ring_damaged(q) ?: -EAGAIN;
        /* Position t was claimed (and perhaps consumed since): help move
         * the hint past it, or a hint left behind would stay behind. */
        advance(&h->tail, t);
    }
    return -EAGAIN;
}

static int claimed(mt_queue *q, mt__claim *c, uint64_t pos, qslot *sl)
{
    uint64_t len = sl->len;
    if (len > q->max_message) /* only a scribbled segment says so: stay inside it */
        len = q->max_message;
    c->pos = pos;
    c->slot = sl;
    c->len = len;
    c->bytes = bytes_of(q, sl, len);
    return 0;
}

/* The lowest position in [from, to] whose slot is FULL, reading downwards. */
static uint64_t lowest_full(const mt_queue *q, uint64_t from, uint64_t to)
{
    uint64_t best = to, base;
    for (uint64_t p = to; p-- > from;) {
        qslot *sl = slot_at(q, p, &base);
        if (atomic_load_explicit(&sl->state, memory_order_seq_cst) == st_make(base, 0, PH_FULL))
            best = p;
    }
    return best;
}

int mt__ring_claim(mt_queue *q, mt__claim *c)
{
    qhdr *h = q->h;
    uint32_t self = mt__queue_self();
    /* Each round that fails lost its message to another consumer, who made
     * progress; so many losses in a row mean scribbled words, or a caller
     * that will simply try again. */
    for (unsigned round = 0; round < CLAIM_ROUNDS; round++) {
        bool closed = atomic_load_explicit(&h->closed, memory_order_seq_cst);
        uint64_t hd = atomic_load_explicit(&h->head, memory_order_acquire), base;
        qslot *sl = slot_at(q, hd, &base);
        uint64_t s = st_make(base, 0, PH_FULL);
        if (cas(&sl->state, &s, st_make(base, self, PH_READING)))
            return claimed(q, c, hd, sl);
        if (hd >= Q_POS_LIMIT)
            return -EPROTO;

        uint64_t found = UINT64_MAX, first_writing = UINT64_MAX, p = hd;
        unsigned skipped = 0;
        bool others_reading = false;
        for (uint64_t n = 0; n < q->nslots; n++, p++) {
            if (n > 0) {
                sl = slot_at(q, p, &base);
                s = atomic_load_explicit(&sl->state, memory_order_seq_cst);
            }
            int64_t d = st_diff(s, base);
            if (d > 0) { /* consumed: pass it */
                if (p == hd)
                    advance(&h->head, hd++);
                continue;
            }
            unsigned ph = st_phase(s);
            if (d < 0 || ph == PH_FREE)
                break;
            if (ph == PH_FULL) {
                found = p;
                break;
            }
            if (ph == PH_WRITING && first_writing == UINT64_MAX)
                first_writing = p;
            others_reading |= ph == PH_READING && st_pid(s) != self;
            skipped++;
        }
        if (skipped >= SWEEP_SKIPPED)
            mt__ring_sweep(q, false);
        if (found == UINT64_MAX) {
            if (!closed || first_writing != UINT64_MAX)
                return -EAGAIN;
            if (!others_reading)
                return MT_ECLOSED;
            /* Closed, but another process holds a message: it either frees
             * it or dies and the message comes back. Find out now. */
            if (mt__ring_sweep(q, true) > 0)
                continue;
            return -EAGAIN;
        }
        if (first_writing < found)
            found = lowest_full(q, first_writing, found);
        sl = slot_at(q, found, &base);
        s = st_make(base, 0, PH_FULL);
        if (cas(&sl->state, &s, st_make(base, self, PH_READING)))
            return claimed(q, c, found, sl);
        /* Another consumer took it first: it made progress, so may we. */
    }
    return -EAGAIN;
}

/* After position pos was consumed: move the head hint on from pos, and past
 * the positions after it that were consumed already (by consumers that
 * finished before this one), so that a drained queue's qsize reads 0 without
 * waiting for the next get. Sequentially consistent, against a consumer of a
 * later position that frees its slot while this one looks: one of the two
 * sees the other and moves the hint. */
static void advance_head(mt_queue *q, uint64_t pos)
{
    qhdr *h = q->h;
    for (uint64_t n = 0; n < q->nslots; n++, pos++) {
        uint64_t seen = pos, base;
        if (!atomic_compare_exchange_strong_explicit(&h->head, &seen, pos + 1,
                                                     memory_order_seq_cst, memory_order_seq_cst))
            return;
        qslot *sl = slot_at(q, pos + 1, &base);
        if (st_diff(atomic_load_explicit(&sl->state, memory_order_seq_cst), base) <= 0)
            return;
    }
}

/* After the slot of position pos was freed: wake who waits for that. */
static void after_free(mt_queue *q, uint64_t pos)
{
    qhdr *h = q->h;
    wake_if_waiting(&h->putters_waiting, &h->get_seq);
    if (atomic_load_explicit(&h->closed, memory_order_seq_cst))
        wake_if_waiting(&h->getters_waiting, &h->put_seq); /* they wait for held messages */
    advance_head(q, pos);
}

void mt__ring_release(mt_queue *q, const mt__claim *c)
{
    uint64_t base = c->pos - q_index(q, c->pos);
    atomic_store_explicit(&c->slot->state, st_make(base + q->nslots, 0, PH_FREE),
                          memory_order_seq_cst);
    after_free(q, c->pos);
}

void mt__ring_unclaim(mt_queue *q, const mt__claim *c)
{
    qhdr *h = q->h;
    uint64_t base = c->pos - q_index(q, c->pos);
    atomic_store_explicit(&c->slot->state, st_make(base, 0, PH_FULL), memory_order_seq_cst);
    wake_if_waiting(&h->getters_waiting, &h->put_seq);
}

uint64_t mt__ring_claim_word(const mt_queue *q, const mt__claim *c)
{
    return st_make(c->pos - q_index(q, c->pos), mt__queue_self(), PH_READING);
}

int mt__ring_settle(mt_queue *q, uint64_t pos, uint64_t word, bool ack)
{
    uint64_t base;
    qslot *sl = slot_at(q, pos, &base);
    if (st_phase(word) != PH_READING || st_diff(word, base) != 0 || !st_pid(word))
        return -EINVAL;
    uint64_t seen = word;
    if (!cas(&sl->state, &seen, st_make(ack ? base + q->nslots : base, 0, ack ? PH_FREE : PH_FULL)))
        return -ESTALE;
    if (ack)
        after_free(q, pos);
    else
        wake_if_waiting(&q->h->getters_waiting, &q->h->put_seq);
    return 0;
}

bool mt__ring_get_ready(const mt_queue *q)
{
    qhdr *h = q->h;
    uint64_t base, hd = atomic_load_explicit(&h->head, memory_order_relaxed);
    qslot *sl = slot_at(q, hd, &base);
    uint64_t s = atomic_load_explicit(&sl->state, memory_order_relaxed);
    unsigned ph = st_phase(s);
    return st_diff(s, base) != 0 || (ph != PH_FREE && ph != PH_WRITING) ||
           atomic_load_explicit(&h->closed, memory_order_relaxed);
}

bool mt__ring_put_ready(const mt_queue *q)
{
    /* Wait for a few free slots rather than one, so that producer and
     * consumer do not fight over the same cache line message by message. */
    qhdr *h = q->h;
    uint64_t batch = q->nslots / 4 < PUT_BATCH ? q->nslots / 4 : PUT_BATCH;
    uint64_t base, t = atomic_load_explicit(&h->tail, memory_order_relaxed);
    qslot *sl = slot_at(q, t + (batch ? batch - 1 : 0), &base);
    uint64_t s = atomic_load_explicit(&sl->state, memory_order_relaxed);
    return st_diff(s, base) >= 0 || atomic_load_explicit(&h->closed, memory_order_relaxed);
}

/* Repair slot sl, seen in state s, whose owner is dead. */
static bool repair(mt_queue *q, qslot *sl, uint64_t s, uint64_t base)
{
    qhdr *h = q->h;
    if (st_phase(s) == PH_WRITING) {
        if (!cas(&sl->state, &s, st_make(base + q->nslots, 0, PH_FREE)))
            return false;
        if (q->joinable)
            atomic_fetch_add_explicit(&h->skipped, 1, memory_order_seq_cst);
        wake_if_waiting(&h->putters_waiting, &h->get_seq);
        wake_if_waiting(&h->getters_waiting, &h->put_seq);
        return true;
    }
    if (!cas(&sl->state, &s, st_make(base, 0, PH_FULL)))
        return false;
    wake_if_waiting(&h->getters_waiting, &h->put_seq);
    return true;
}

/* Walk the positions in flight and repair the slots in progress whose owner
 * is dead; with own != 0, those of pid `own` (dead by the caller's word). */
static int walk_and_repair(mt_queue *q, uint32_t own)
{
    struct known_pid {
        uint32_t pid;
        bool dead;
    } known[8];
    unsigned nknown = 0;
    uint32_t self = mt__queue_self();
    int repaired = 0;
    uint64_t base, p = atomic_load_explicit(&q->h->head, memory_order_acquire);
    for (uint64_t n = 0; n < q->nslots; n++, p++) {
        qslot *sl = slot_at(q, p, &base);
        uint64_t s = atomic_load_explicit(&sl->state, memory_order_seq_cst);
        int64_t d = st_diff(s, base);
        unsigned ph = st_phase(s);
        if (d > 0 || (d == 0 && ph == PH_FULL))
            continue;
        if (d < 0 || ph == PH_FREE)
            break;
        uint32_t pid = st_pid(s);
        bool dead;
        if (own) {
            dead = pid == own;
        } else if (pid == self) {
            continue;
        } else {
            unsigned k = 0;
            while (k < nknown && known[k].pid != pid)
                k++;
            if (k == nknown) {
                dead = mt__queue_pid_dead(q, pid);
                if (nknown < 8)
                    known[nknown++] = (struct known_pid){pid, dead};
            } else {
                dead = known[k].dead;
            }
        }
        if (dead && repair(q, sl, s, base))
            repaired++;
    }
    return repaired;
}

int mt__ring_sweep(mt_queue *q, bool force)
{
    uint64_t now = mt_monotonic_ns();
    uint64_t last = atomic_load_explicit(&q->last_sweep, memory_order_relaxed);
    if (!force && now - last < SWEEP_NS)
        return 0;
    if (!atomic_compare_exchange_strong_explicit(&q->last_sweep, &last, now,
                                                 memory_order_relaxed, memory_order_relaxed))
        return 0; /* another thread of this process sweeps */
    return walk_and_repair(q, 0);
}

void mt__ring_repair_pid(mt_queue *q, uint32_t pid)
{
    walk_and_repair(q, pid);
}

void mt__ring_repair_own(mt_queue *q)
{
    walk_and_repair(q, mt__queue_self());
}

uint64_t mt__ring_frontier(const mt_queue *q)
{
    uint64_t base, t = atomic_load_explicit(&q->h->tail, memory_order_seq_cst);
    for (uint64_t n = 0; n < q->nslots; n++, t++) {
        qslot *sl = slot_at(q, t, &base);
        uint64_t s = atomic_load_explicit(&sl->state, memory_order_seq_cst);
        int64_t d = st_diff(s, base);
        if (d < 0 || (d == 0 && st_phase(s) == PH_FREE))
            break;
    }
    return t;
}

uint64_t mt__ring_writing(const mt_queue *q, uint64_t frontier)
{
    uint64_t base, count = 0, p = atomic_load_explicit(&q->h->head, memory_order_seq_cst);
    for (uint64_t n = 0; p < frontier && n < q->nslots; n++, p++) {
        qslot *sl = slot_at(q, p, &base);
        uint64_t s = atomic_load_explicit(&sl->state, memory_order_seq_cst);
        count += st_diff(s, base) == 0 && st_phase(s) == PH_WRITING;
    }
    return count;
}
