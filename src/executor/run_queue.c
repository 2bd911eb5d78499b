/*
 * run_queue.c - the thread pool's queue of tasks, and how idle workers wait
 * for it without costing the producers a system call per task.
 *
 * The queue is an intrusive many-producer list (Vyukov's): a push exchanges
 * the head and then links the previous node, so producers never wait; the
 * consumers take turns under a spinlock. Between the exchange and the link
 * the queue is briefly "busy": a consumer then spins and tries again.
 *
 * Idle workers follow the scheme of Go's scheduler: a worker with nothing to
 * do becomes the spinner if there is none (nspinning 0 -> 1) and watches the
 * queue for a few microseconds; otherwise, or after that, it sleeps on the
 * wake_seq futex. A push wakes a sleeper only when nobody spins, and makes
 * nspinning 1 on its behalf (token tells the woken worker so); a spinner that
 * finds work gives the role up and, if more work waits, wakes the next one.
 * Every flag is sequentially consistent: a worker announces itself
 * (nsleeping++ or nspinning--) before its last look at the queue, and a
 * producer looks at those counters after its push, so one of the two always
 * sees the other and no task waits while every worker sleeps.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <sched.h>

#include "executor_internal.h"

/* How long a spinner watches an empty queue before it sleeps. */
#define SPIN_NS 20000

void mt__rq_init(run_queue *q)
{
    atomic_init(&q->stub.next, NULL);
    atomic_init(&q->head, &q->stub);
    atomic_init(&q->tail, &q->stub);
    atomic_init(&q->pop_lock, 0);
    atomic_init(&q->nsleeping, 0);
    atomic_init(&q->nspinning, 0);
    atomic_init(&q->token, 0);
    atomic_init(&q->wake_seq, 0);
    atomic_init(&q->stopping, false);
}

static void link_node(run_queue *q, task *t)
{
    atomic_store_explicit(&t->next, NULL, memory_order_relaxed);
    task *prev = atomic_exchange(&q->head, t);
    atomic_store_explicit(&prev->next, t, memory_order_release);
}

/* Whether a task is queued, or being pushed. */
static bool has_work(run_queue *q)
{
    return atomic_load(&q->head) != &q->stub ||
           atomic_load_explicit(&q->tail, memory_order_relaxed) != &q->stub;
}

/* Make one sleeping worker the spinner, unless someone already looks. */
static void wake_one(run_queue *q)
{
    if (atomic_load(&q->nspinning) != 0 || atomic_load(&q->nsleeping) == 0)
        return;
    uint32_t none = 0;
    if (!atomic_compare_exchange_strong(&q->nspinning, &none, 1))
        return;
    atomic_store(&q->token, 1);
    atomic_fetch_add(&q->wake_seq, 1);
    mt__futex_wake(&q->wake_seq, 1, false);
}

void mt__rq_push(run_queue *q, task *t)
{
    link_node(q, t);
    wake_one(q);
}

enum { POP_EMPTY, POP_BUSY, POP_TASK };

/* One attempt to unlink the oldest task; pop_lock held. */
static int try_pop(run_queue *q, task **out)
{
    task *tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    task *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (!next)
            return atomic_load(&q->head) == tail ? POP_EMPTY : POP_BUSY;
        atomic_store_explicit(&q->tail, next, memory_order_relaxed);
        tail = next;
        next = atomic_load_explicit(&tail->next, memory_order_acquire);
    }
    if (!next) {
        /* tail is the last task: put the stub behind it so it can go. */
        if (atomic_load(&q->head) != tail)
            return POP_BUSY;
        link_node(q, &q->stub);
        next = atomic_load_explicit(&tail->next, memory_order_acquire);
        if (!next)
            return POP_BUSY;
    }
    atomic_store_explicit(&q->tail, next, memory_order_relaxed);
    *out = tail;
    return POP_TASK;
}

task *mt__rq_pop(run_queue *q)
{
    for (unsigned i = 1;; i++) {
        task *t = NULL;
        mt__spin_lock(&q->pop_lock);
        int r = try_pop(q, &t);
        mt__spin_unlock(&q->pop_lock);
        if (r != POP_BUSY)
            return t;
        /* A producer is between its exchange and its link: a few
         * instructions away, unless it was preempted right there. */
        if (i % 128 == 0)
            sched_yield();
        else
            mt__cpu_relax();
    }
}

/* Watch the queue until it has work or stops (true), or the spin ends. */
static bool spin_wait(run_queue *q, uint64_t until)
{
    for (unsigned i = 1;; i++) {
        if (has_work(q) || atomic_load_explicit(&q->stopping, memory_order_relaxed))
            return true;
        if (i % 64 == 0) {
            if (mt_monotonic_ns() >= until)
                return false;
            sched_yield(); /* let a producer on this CPU run */
        } else {
            mt__cpu_relax();
        }
    }
}

/* Take the token a waker left: the caller is then the spinner. */
static bool take_token(run_queue *q)
{
    uint32_t one = 1;
    return atomic_load(&q->token) && atomic_compare_exchange_strong(&q->token, &one, 0);
}

/* Sleep until woken, unless there is work, a stop or a token already.
 * Returns true when the caller took the token (it is now the spinner). */
static bool sleep_until_woken(run_queue *q)
{
    uint32_t seq = atomic_load(&q->wake_seq);
    atomic_fetch_add(&q->nsleeping, 1);
    bool spinner = false;
    if (!has_work(q) && !atomic_load(&q->stopping) && !(spinner = take_token(q)))
        mt__futex_wait(&q->wake_seq, seq, MT__NEVER, false);
    atomic_fetch_sub(&q->nsleeping, 1);
    return spinner || take_token(q);
}

task *mt__rq_next(run_queue *q)
{
    bool spinner = false;
    uint64_t until = 0;
    for (;;) {
        bool stop = atomic_load(&q->stopping);
        task *t = mt__rq_pop(q);
        if (t || stop) {
            if (spinner) {
                atomic_fetch_sub(&q->nspinning, 1);
                if (t && has_work(q))
                    wake_one(q); /* more to do: hand the role on */
            }
            return t;
        }
        if (!spinner) {
            uint32_t none = 0;
            spinner = atomic_compare_exchange_strong(&q->nspinning, &none, 1);
            until = mt_monotonic_ns() + SPIN_NS;
        }
        if (spinner) {
            if (spin_wait(q, until))
                continue;
            atomic_fetch_sub(&q->nspinning, 1);
            spinner = false;
        }
        if (sleep_until_woken(q)) {
            spinner = true;
            until = mt_monotonic_ns() + SPIN_NS;
        }
    }
}

void mt__rq_stop(run_queue *q)
{
    atomic_store(&q->stopping, true);
    atomic_fetch_add(&q->wake_seq, 1);
    mt__futex_wake(&q->wake_seq, INT_MAX, false);
}
