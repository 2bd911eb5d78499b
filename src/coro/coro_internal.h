/*
 * coro_internal.h - the loop, the task record, timers and the scheduler's
 * calls shared by the files of src/coro/. Not installed.
 *
 * The scheduler runs on the thread's own stack (the loop's "main" fiber).
 * A task runs until it suspends; it then switches back to the main fiber,
 * which resumes the next ready task or, when none is ready, waits in libuv.
 * Every suspension goes through mt__suspend, which is also where
 * cancellation and timeouts are delivered.
 */
#ifndef MT_CORO_INTERNAL_H
#define MT_CORO_INTERNAL_H

#include <errno.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <uv.h>

#include "../core/core_internal.h"
#include "ctx.h"
#include "multitask/coro.h"
#include "multitask/executor.h"

/* Everything below stays inside the library: calls need no PLT. */
#pragma GCC visibility push(hidden)

/* ---- timers: ordered by (deadline, sequence) --------------------------- */

typedef struct mt__timer mt__timer;
typedef void mt__timer_fire(mt__timer *tm);

struct mt__timer {
    int64_t deadline;     /* CLOCK_MONOTONIC, ns */
    uint64_t seq;         /* order of starting, for equal deadlines */
    mt__timer_fire *fire; /* runs in the scheduler, outside any task */
    uint64_t slot;        /* where it is queued; 0 when not armed */
    mt__timer *prev, *next; /* in the FIFO */
};

/* Timers whose keys arrive in order (the usual case: equal sleeps) go to a
 * FIFO, a list through the timers themselves (no memory of its own); the
 * others to a binary heap holding copies of their keys. */
typedef struct mt__tentry {
    int64_t deadline;
    uint64_t seq;
    mt__timer *tm;
} mt__tentry;

typedef struct mt__timers {
    mt__timer *fifo_head, *fifo_tail;
    mt__tentry *heap;
    size_t heap_len, heap_cap;
    uint64_t seq;
    size_t live; /* armed timers */
} mt__timers;

/* Arm tm to fire at `deadline`. Returns 0 or -ENOMEM. */
int mt__timer_start(mt_loop *l, mt__timer *tm, int64_t deadline);
/* Disarm tm if armed. */
void mt__timer_stop(mt_loop *l, mt__timer *tm);
/* Fire every timer due at `now`, in order. */
void mt__timers_run(mt_loop *l, int64_t now);
/* The earliest deadline armed, or INT64_MAX. */
int64_t mt__timers_next(mt_loop *l);
void mt__timers_free(mt__timers *ts);

/* A timer that wakes task `who` with -ETIMEDOUT: the timeout of a wait. */
typedef struct mt__wake_timer {
    mt__timer tm;
    mt_task *who;
} mt__wake_timer;

/* Arm wt to wake the running task t after `timeout` seconds (nothing for a
 * negative timeout). Returns 0 or -ENOMEM. */
int mt__wake_timer_start(mt__wake_timer *wt, mt_task *t, double timeout);
void mt__wake_timer_stop(mt__wake_timer *wt);

/* ---- stacks ----------------------------------------------------------- */

typedef enum mt__guard {
    MT__GUARD_NONE = 0,   /* no stack (shared-stack task) */
    MT__GUARD_MADVISE,    /* MADV_GUARD_INSTALL region */
    MT__GUARD_MPROTECT,   /* PROT_NONE page */
    MT__GUARD_CANARY,     /* canary word, checked at each suspension */
} mt__guard;

#define MT__GUARD_SIZE ((size_t)16384)
#define MT__CANARY 0x6d742d737461636bULL /* "mt-stack" */
/* Canary mode: the usable stack starts at the same place, and the 64 bytes
 * below it hold the canary (the rest of the guard's room is unused). */
#define MT__CANARY_BAND ((size_t)64)

/* A mapping for a private stack: [map, map + guard) is the guard, the task
 * record sits at its top. */
typedef struct mt__stack {
    char *map;
    size_t len;
    uint8_t guard; /* mt__guard */
    bool in_slab;  /* part of a slab (the loop's default size) */
    unsigned valgrind_id;
} mt__stack;

/* Stacks of the default size are mapped this many at a time. */
#define MT__SLAB_STACKS 64

/* A mapping of `len` bytes (a multiple of the page size) with its guard.
 * Returns 0 or -ENOMEM. */
int mt__stack_map(mt__stack *s, size_t len);
/* The same for the loop's shared stack, whose guard always faults (never a
 * canary, whatever MT_CO_GUARD says). Returns 0 or -ENOMEM. */
int mt__stack_map_shared(mt__stack *s, size_t len);
void mt__stack_unmap(mt__stack *s);
/* Canary mode: write the band / whether it is whole. */
void mt__canary_fill(mt__stack *s);
bool mt__canary_intact(const mt__stack *s);
/* A stack of len bytes (guard included) for a task of loop l: from the
 * loop's free list or slabs for the default size, else its own mapping.
 * Returns 0 or -ENOMEM. */
int mt__stack_get(mt_loop *l, size_t len, mt__stack *out);
/* Unmap a stack that is not in a slab (slab stacks stay for reuse with
 * their records, on the loop's free_records, until the loop closes). */
void mt__stack_put(mt_loop *l, mt__stack *s);
/* Unmap every slab of the loop (at close). */
void mt__stacks_free_all(mt_loop *l);
/* Install the SIGSEGV handler (once per process) and an alternate signal
 * stack for this thread if it has none; *alt receives one to free, or NULL. */
int mt__stack_signals_init(void **alt);
void mt__stack_signals_fini(void *alt);
/* End the program with the overflow message for t. */
_Noreturn void mt__stack_overflow(const mt_task *t);

/* ---- tasks ------------------------------------------------------------ */

/* Task states. */
enum {
    MT__T_READY = 1,   /* in the ready queue */
    MT__T_RUNNING,     /* the one running */
    MT__T_SUSPENDED,   /* waiting to be woken */
    MT__T_DONE,        /* ended; result is final */
};

/* Task flags. */
enum {
    MT__F_STARTED = 1 << 0,    /* its function has begun */
    MT__F_SHARED = 1 << 1,     /* runs on the loop's shared stack */
    MT__F_RETRIEVED = 1 << 2,  /* someone looked at its result */
    MT__F_HARD = 1 << 3,       /* suspended where nothing may interrupt */
    MT__F_REPORTED = 1 << 4,   /* its unread error was reported */
    MT__F_CLOSING = 1 << 5,    /* cancelled because the loop closes */
};

/* Why a task is asked to stop (bits of mt_task.interrupt). */
enum {
    MT__I_CANCEL = 1 << 0,  /* mt_task_cancel */
    MT__I_GROUP = 1 << 1,   /* a task group's child failed */
    MT__I_TIMEOUT = 1 << 2, /* a timeout scope ran out */
};

/* Someone waiting for a task to end: a record on the waiter's stack. */
typedef struct mt__waiter mt__waiter;
struct mt__waiter {
    mt__waiter *prev, *next;
    void (*notify)(mt__waiter *w, mt_task *ended);
};

typedef struct mt__scope mt__scope; /* a timeout scope (timer.c) */

/* What few tasks use, out of the record: made when first needed (a name
 * given, a timeout scope, a group, a byte result), freed with the task. */
typedef struct mt__task_extra {
    const char *name;
    mt__scope *scopes;  /* innermost timeout scope */
    struct mt_task_group *group;
    mt_task *group_prev, *group_next;
    mt_buf *bytes;      /* its byte result (result.c); NULL until asked for */
} mt__task_extra;

/*
 * A task record. Kept small: a shared-stack task's whole cost while it
 * sleeps is this record plus its saved frames, and every field is cleared
 * when a task is made. Rarely used fields are in `extra`; the function and
 * argument share room with the sleep timer (the timer is first armed by the
 * task itself, after both were read); the usable stack is computed
 * (mt__stack_lo/hi), not stored.
 */
struct mt_task {
    mt__fiber fiber;
    mt_task *next;      /* ready queue; the loop's free records once freed */
    mt_loop *loop;
    union {
        struct {        /* until the task starts */
            mt_co_fn *fn;
            void *arg;
        };
        mt__timer timer; /* its sleep, once started (slot is not shared) */
    };
    mt_task *all_prev, *all_next; /* every task of the loop not yet freed */
    mt__waiter *waiters;
    mt__task_extra *extra; /* NULL until needed (mt__task_extra_of) */
    char *saved;        /* shared-stack mode: the copied-out part (its room:
                         * malloc_usable_size) */
    uint32_t saved_len;
    int result;
    int wake;           /* the value mt__suspend returns */
    uint8_t state;
    uint8_t flags;
    uint8_t interrupt;  /* MT__I_* */
    uint8_t guard;      /* mt__guard of its stack */
    uint16_t shield;    /* mt_co_shield_begin depth */
    uint16_t refs;      /* handles, plus one while not done */
    uint32_t id;
    /* Private stacks only, and last: a shared-stack task's record is
     * allocated without it (MT__SHARED_RECORD bytes). */
    mt__stack map;      /* private stack mapping */
};

_Static_assert(offsetof(struct mt_task, fn) + 2 * sizeof(void *) <=
                   offsetof(struct mt_task, timer) + offsetof(mt__timer, slot),
               "a task's fn and arg must not overlap its timer's slot");

#define MT__SHARED_RECORD offsetof(struct mt_task, map)

/* ---- the loop --------------------------------------------------------- */

/* A wake-up from another thread (a future finished). */
typedef struct mt__remote {
    struct mt__remote *_Atomic next;
    void (*deliver)(struct mt__remote *r);
} mt__remote;

/* A task's extra record, made if it has none. NULL when out of memory. */
mt__task_extra *mt__task_extra_of(mt_task *t);

struct mt_loop {
    uv_loop_t uv;
    uv_timer_t uv_timer;   /* bounds one poll by our earliest deadline */
    uv_prepare_t uv_prepare; /* arms uv_timer just before libuv polls */
    bool polling;          /* in the uv_run that may wait (loop.c) */
    uv_async_t uv_async;   /* remote wake-ups */
    mt__fiber main;        /* the scheduler's fiber: the thread's stack */
    mt_task *current;      /* the running task */
    mt_task *ready_head, *ready_tail;
    mt__timers timers;
    mt_task *tasks;        /* every task not yet freed (all_next list) */
    size_t live;           /* tasks not ended */
    uint32_t next_id;
    int running;           /* inside mt_loop_run_until_complete */
    unsigned budget;       /* direct task-to-task switches left */
    bool slow_path;        /* debug or trace: every switch via the scheduler */
    int64_t slice_start;   /* when the running slice began (slow path) */
    mt_task *dead;         /* a task that ended, its stack still to free */
    bool closing;
    bool debug;
    int64_t slow_ns;
    /* Records of freed tasks on slab stacks (listed through `next`), each
     * at the top of its stack, ready for reuse; the slabs they come from. */
    struct mt__slab *slabs;
    mt_task *free_records;
    size_t default_stack;
    /* The shared stack and the task whose frames are on it. */
    mt__stack shared;
    size_t shared_size;
    mt_task *shared_owner;
    /* Remote wake-ups: a lock-free list pushed by other threads. */
    mt__remote *_Atomic remote;
    size_t remote_waits;   /* futures awaited: keeps uv_async referenced */
    void *altstack;
    mt_co_report_fn *report;
    void *report_arg;
    mt_executor *executor; /* the default one, made on first use */
    struct mt__fdw **fdw;  /* fd watchers by fd (io.c) */
    size_t nfdw;
    struct mt_co_timer *free_timers;
};

extern _Thread_local mt_loop *mt__loop_tls __attribute__((tls_model("initial-exec")));

/* The running task, or NULL outside a coroutine. */
static inline mt_task *mt__current(void)
{
    mt_loop *l = mt__loop_tls;
    return l ? l->current : NULL;
}

/* The usable stack of t: [mt__stack_lo(t), mt__stack_hi(t)). A private
 * stack ends under the task record at its top. */
static inline char *mt__stack_lo(const mt_task *t)
{
    return (t->flags & MT__F_SHARED) ? t->loop->shared.map + MT__GUARD_SIZE
                                     : t->map.map + MT__GUARD_SIZE;
}

static inline char *mt__stack_hi(const mt_task *t)
{
    return (t->flags & MT__F_SHARED) ? t->loop->shared.map + t->loop->shared.len : (char *)t;
}

/* The deadline `seconds` from now on the core's clock (mt__now_ns),
 * rounded up so that a timer never fires early; INT64_MAX for a negative
 * value. */
int64_t mt__deadline_ns(double seconds);

/* The interrupt t would see now: 0, -ECANCELED or -ETIMEDOUT. */
static inline int mt__interrupt_code(const mt_task *t)
{
    if (__builtin_expect(t->shield || !t->interrupt, 1))
        return 0;
    if (t->interrupt & (MT__I_CANCEL | MT__I_GROUP))
        return -ECANCELED;
    return -ETIMEDOUT;
}

/* ---- the scheduler's hot path (inline: each suspending call is then one
 * frame deep, which also keeps shared-stack copies small) ----------------- */

/* Queue t to run (it is ready or new). */
static inline void mt__ready_push(mt_loop *l, mt_task *t)
{
    t->state = MT__T_READY;
    t->next = NULL;
    if (l->ready_tail)
        l->ready_tail->next = t;
    else
        l->ready_head = t;
    l->ready_tail = t;
}

static inline mt_task *mt__ready_pop(mt_loop *l)
{
    mt_task *t = l->ready_head;
    if (t) {
        l->ready_head = t->next;
        if (!l->ready_head)
            l->ready_tail = NULL;
    }
    return t;
}

/* End the program if t's canary (canary-guarded stacks) is damaged. */
void mt__check_canary(const mt_task *t);

/* Free what the task that ended last (loop->dead) leaves, now that nobody
 * runs on its stack any more. */
void mt__reap(mt_loop *l);

/*
 * Leave the running task t (already queued or marked suspended): switch
 * straight to the next ready task while the budget lasts, else to the
 * scheduler, which also polls libuv and fires timers. Returns when t runs
 * again. Tasks on the shared stack always go through the scheduler, which
 * copies their frames.
 */
static inline void mt__switch_out(mt_task *t)
{
    if (t->guard == MT__GUARD_CANARY)
        mt__check_canary(t);
    mt_loop *l = t->loop; /* read after the call: not kept across it */
    mt_task *next = l->ready_head;
    if (next && l->budget && !((t->flags | next->flags) & MT__F_SHARED) && !l->slow_path) {
        l->budget--;
        mt__ready_pop(l);
        next->state = MT__T_RUNNING;
        if (next == t)
            return;
        l->current = next;
        mt__fiber_switch(&t->fiber, &next->fiber, false);
    } else {
        mt__fiber_switch(&t->fiber, &l->main, false);
    }
    /* t->loop again rather than l: then only t stays live across the
     * switch, and the frame that a shared-stack task saves is smaller. */
    if (t->loop->dead)
        mt__reap(t->loop);
}

/*
 * Suspend the running task until mt__wake(t, value); returns value. An
 * interruptible suspension (hard = false) returns the pending interrupt
 * (-ECANCELED, -ETIMEDOUT) at once, or when one arrives; the caller must
 * then undo what it registered. A hard one only ends with mt__wake.
 */
static inline int mt__suspend(mt_task *t, bool hard)
{
    if (!hard) {
        int code = mt__interrupt_code(t);
        if (code)
            return code;
    } else {
        t->flags |= MT__F_HARD;
    }
    t->state = MT__T_SUSPENDED;
    mt__switch_out(t);
    t->flags &= (uint8_t)~MT__F_HARD;
    return t->wake;
}

/* Make a suspended task ready; it resumes with `value`. No effect on a task
 * that is not suspended. */
static inline void mt__wake(mt_task *t, int value)
{
    if (t->state != MT__T_SUSPENDED)
        return;
    t->wake = value;
    mt__ready_push(t->loop, t);
}

/*
 * Where to keep a record that the loop or another thread reaches while its
 * task is suspended (a waiter on a list, a wake timer, a group's state).
 * On a private stack a local does. A shared-stack task's frames are copied
 * out when it suspends, and another task's frames take their place, so its
 * records go to the heap. Returns local or heap memory of `size` bytes
 * (NULL when out of memory); mt__rec_free(rec, local) gives it back.
 */
static inline void *mt__rec(const mt_task *t, void *local, size_t size)
{
    return __builtin_expect(t->flags & MT__F_SHARED, 0) ? malloc(size) : local;
}

static inline void mt__rec_free(void *rec, void *local)
{
    if (__builtin_expect(rec != local, 0))
        free(rec);
}

/* Ask t to stop for `why` (MT__I_*): wake it if it waits interruptibly. */
void mt__interrupt(mt_task *t, int why);

/* How mt__task_new makes a task (flags). */
enum {
    MT__NEW_HANDLE = 1 << 0, /* *out is the caller's handle, else borrowed (detached) */
    MT__NEW_EXTRA = 1 << 1,  /* make its extra record now (a group's child) */
};

/* Make a task of loop l and queue it; *out receives it (out may be NULL
 * for a detached task). `how`: MT__NEW_*.
 * Returns 0, -EINVAL, MT_ECLOSED or -ENOMEM. */
int mt__task_new(mt_loop *l, mt_task **out, unsigned how, mt_co_fn *fn, void *arg,
                 const mt_task_opts *o);

/* Drop one reference; frees an ended task at zero. */
void mt__task_unref(mt_task *t);

/* Add / remove a waiter for t's end (t not done). Inline: each await
 * does both. */
static inline void mt__waiter_add(mt_task *t, mt__waiter *w)
{
    w->prev = NULL;
    w->next = t->waiters;
    if (t->waiters)
        t->waiters->prev = w;
    t->waiters = w;
}

static inline void mt__waiter_remove(mt_task *t, mt__waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else if (t->waiters == w)
        t->waiters = w->next;
    else
        return; /* not on the list (already notified) */
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

/* Resume the first ready task; returns when the scheduler's turn comes
 * again (tasks may switch among themselves meanwhile). */
void mt__run_ready(mt_loop *l);

/* Report a line through the loop's report function. */
void mt__report(mt_loop *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Report t's unread error, once. */
void mt__report_unretrieved(mt_task *t);

/* The remote list: push from any thread; drained by the loop. */
void mt__remote_push(mt_loop *l, mt__remote *r);

/* Await a future from a coroutine (future_await.c). */
int mt__await_future(mt_future *f, double timeout);

/* Task-group hook: a child ended (group.c). */
void mt__group_child_ended(mt_task *t);

/* Free what the loop keeps for timers of mt_co_call_later. */
void mt__call_later_free(mt_loop *l);

/* Scopes: called by mt__suspend's callers on timeouts (timer.c). */
void mt__scopes_abandon(mt_task *t);

/* Close every fd watcher (io.c). */
void mt__fdw_free_all(mt_loop *l);

/* Free a task's byte result (result.c). */
void mt__task_bytes_free(mt_task *t);

/* Default executor of the loop, made on first use. */
int mt__loop_executor(mt_loop *l, mt_executor **out);

#pragma GCC visibility pop

/* For layers built as libraries of their own (the http layer, so that
 * libcurl and its libraries are mapped only into the programs that use
 * HTTP, and every fork of the others stays cheap): mt__suspend(t, false)
 * as an exported call (the inline one reaches the scheduler's hidden
 * functions). bridge.c. */
int mt__suspend_exported(mt_task *t);

#endif
