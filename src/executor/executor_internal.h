/*
 * executor_internal.h - the thread pool's parts and how they call each
 * other:
 *
 *   run_queue.c     the queue of tasks and the sleep and wake-up of idle
 *                   threads
 *   executor.c      life cycle, the worker threads, submit, shutdown
 *   executor_map.c  map and its results
 *
 * A queued task lives in its future's own allocation (mt__future_new_ext):
 * submitting a small task costs one malloc, and the queue links the tasks
 * through them, so it allocates nothing itself.
 */
#ifndef MT_EXECUTOR_INTERNAL_H
#define MT_EXECUTOR_INTERNAL_H

#include <pthread.h>
#include <stdalign.h>

#include "../core/core_internal.h"
#include "../future/future_internal.h"
#include "multitask/executor.h"

#define CACHE_LINE 64

/* A task waiting in the queue or running: the producer space of its future
 * (mt__future_of_ext finds the future). Its argument's bytes follow it when
 * they are small enough. */
typedef struct task {
    _Atomic(struct task *) next; /* the queue's link */
    mt_fn *fn;
    const void *arg;
    size_t len;
    void *owned; /* a malloc'd copy of a large argument, or NULL */
} task;

/*
 * The run queue: tasks in submission order. Any thread pushes (a producer
 * exchanges the head and links the old one, so pushes never wait for each
 * other); one worker at a time pops, under pop_lock. Workers with nothing to
 * do spin a while, at most one at once, then sleep on a futex; a push wakes
 * one sleeper only when nobody is spinning, and a spinner that finds work
 * passes the role on, so a steady stream of tasks costs no system call.
 * Producer, consumer and idle-state fields each have their own cache line.
 */
typedef struct run_queue {
    alignas(CACHE_LINE) _Atomic(task *) head; /* the newest task */

    alignas(CACHE_LINE) mt__spinlock pop_lock;
    _Atomic(task *) tail; /* the oldest; written under pop_lock */

    alignas(CACHE_LINE) task stub; /* stands in when the queue is empty */

    alignas(CACHE_LINE) _Atomic uint32_t nsleeping; /* workers in the sleep protocol */
    _Atomic uint32_t nspinning; /* 0 or 1: a worker looking for work */
    _Atomic uint32_t token;     /* a waker made nspinning 1 for whoever wakes */
    _Atomic uint32_t wake_seq;  /* the futex sleepers wait on */
    _Atomic bool stopping;      /* workers exit once the queue is empty */
} run_queue;

void mt__rq_init(run_queue *q);

/* Append t (any thread) and wake a worker if one is needed. */
void mt__rq_push(run_queue *q, task *t);

/* Take the oldest task without waiting; NULL when empty. */
task *mt__rq_pop(run_queue *q);

/* A worker's wait for its next task: pop, spin, sleep. NULL once the queue
 * is stopping and empty. */
task *mt__rq_next(run_queue *q);

/* Make every worker exit once the queue is empty; the caller guarantees no
 * push follows. */
void mt__rq_stop(run_queue *q);

/* Gate bits: submits in progress count in units of GATE_ONE. */
enum { GATE_SHUTDOWN = 1, GATE_BROKEN = 2, GATE_ONE = 4 };

struct mt_executor {
    run_queue q;

    /* Producers: submits in flight and the closed bits, in one word. */
    alignas(CACHE_LINE) _Atomic uint32_t gate;

    /* Lazy start: idle workers (Python's idle semaphore) and threads. */
    alignas(CACHE_LINE) _Atomic uint32_t idle;
    _Atomic int nthreads;

    alignas(CACHE_LINE) pthread_mutex_t mu; /* guards the fields below */
    pthread_t *threads;
    bool *joined;
    int broken;      /* the initializer's error, once one failed */
    mt_buf broken_msg;
    pthread_mutex_t join_mu; /* one joiner at a time; never taken with mu */

    int max_workers;
    mt_fn *initializer;
    mt_buf initarg;
    char prefix[32]; /* of thread names, cut to what can show */
};

/* Start a task: queue fn with its argument (copied when `copy`), as
 * mt_executor_submit / _submit_ref. */
int mt__executor_submit(mt_executor *ex, mt_fn *fn, const void *arg, size_t len, bool copy,
                        mt_future **out);

#endif
