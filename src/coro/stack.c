/*
 * stack.c - coroutine stacks: mappings committed only as touched, a guard
 * below each (a MADV_GUARD_INSTALL region where the kernel has it, else a
 * PROT_NONE page while the process has few, else a canary word), a cache
 * of stacks of ended tasks, and the SIGSEGV handler that turns a fault in a
 * guard into a message naming the coroutine.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "coro_internal.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define MT__VALGRIND 1
#endif
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13 */
#endif
#ifndef PIDFD_SELF_PROCESS
#define PIDFD_SELF_PROCESS (-10001) /* Linux 6.14: this process, no pidfd needed */
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif

/* At most this many mprotect guard pages per process: each splits a kernel
 * mapping in two, and vm.max_map_count is 65,530 by default. */
#define MPROTECT_GUARDS_MAX 16384

static atomic_int madvise_guard = -1; /* -1 unknown, 0 no, 1 yes */
/* Whether process_madvise installs guards for many stacks in one call;
 * not tried under Valgrind, which does not know the call. */
#ifdef MT__VALGRIND
static atomic_int batch_guard = -1;
#define BATCH_GUARD_INIT() (atomic_load(&batch_guard) < 0 ? atomic_store(&batch_guard, !RUNNING_ON_VALGRIND) : (void)0)
#else
static atomic_int batch_guard = 1;
#define BATCH_GUARD_INIT() ((void)0)
#endif
static atomic_int mprotect_guards;

/* MT_CO_GUARD=mprotect or =canary picks a weaker way than the kernel
 * allows, to test it. */
static int forced_guard(void)
{
    const char *e = getenv("MT_CO_GUARD");
    if (!e)
        return 0;
    if (strcmp(e, "mprotect") == 0)
        return MT__GUARD_MPROTECT;
    if (strcmp(e, "canary") == 0)
        return MT__GUARD_CANARY;
    return 0;
}

/* Guards for the n stacks of len bytes from base: returns the mode they
 * got. One process_madvise call covers them all where the kernel has it
 * (6.14: PIDFD_SELF); else one madvise each; else mprotect while the
 * process has few; else canaries. With `faulting`, never a canary (the
 * shared stack: its tasks' frames are copied in and out, so a canary below
 * it is never checked): mprotect past the count, else MT__GUARD_NONE. */
static int guards_install(char *base, size_t len, size_t n, bool faulting)
{
    int forced = forced_guard();
    if (forced == MT__GUARD_CANARY && !faulting)
        return MT__GUARD_CANARY;
    if (forced == MT__GUARD_CANARY)
        forced = 0;
    BATCH_GUARD_INIT();
    if (!forced && atomic_load_explicit(&madvise_guard, memory_order_relaxed) != 0) {
        struct iovec iov[MT__SLAB_STACKS];
        if (n <= MT__SLAB_STACKS && atomic_load_explicit(&batch_guard, memory_order_relaxed)) {
            for (size_t i = 0; i < n; i++)
                iov[i] = (struct iovec){base + i * len, MT__GUARD_SIZE};
            if (syscall(SYS_process_madvise, PIDFD_SELF_PROCESS, iov, n, MADV_GUARD_INSTALL, 0) ==
                (long)(n * MT__GUARD_SIZE)) {
                atomic_store_explicit(&madvise_guard, 1, memory_order_relaxed);
                return MT__GUARD_MADVISE;
            }
            atomic_store_explicit(&batch_guard, 0, memory_order_relaxed); /* one madvise each */
        }
        size_t done = 0;
        while (done < n && madvise(base + done * len, MT__GUARD_SIZE, MADV_GUARD_INSTALL) == 0)
            done++;
        if (done == n) {
            atomic_store_explicit(&madvise_guard, 1, memory_order_relaxed);
            return MT__GUARD_MADVISE;
        }
        if (errno == EINVAL)
            atomic_store_explicit(&madvise_guard, 0, memory_order_relaxed);
    }
    if (atomic_fetch_add(&mprotect_guards, (int)n) + (int)n <= MPROTECT_GUARDS_MAX || faulting) {
        size_t done = 0;
        while (done < n && mprotect(base + done * len, MT__GUARD_SIZE, PROT_NONE) == 0)
            done++;
        if (done == n)
            return MT__GUARD_MPROTECT;
        /* A partial failure leaves some PROT_NONE: they stay harmless below
         * the canaries, but their count is kept. */
        atomic_fetch_sub(&mprotect_guards, (int)(n - done));
        return faulting ? MT__GUARD_NONE : MT__GUARD_CANARY;
    }
    atomic_fetch_sub(&mprotect_guards, (int)n);
    return MT__GUARD_CANARY;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
static atomic_bool no_populate;

/* Commit a fresh stack's top page, which its task record and first frames
 * touch at once anyway (no memory is added): one madvise costs a fraction
 * of the page fault it saves, which a virtual machine makes expensive. */
static void commit_top(char *map, size_t len)
{
    if (atomic_load_explicit(&no_populate, memory_order_relaxed))
        return;
    size_t ps = 4096;
    if (madvise(map + len - ps, ps, MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
        atomic_store_explicit(&no_populate, true, memory_order_relaxed);
}

static void stack_setup(mt__stack *s, char *map, size_t len, int guard, bool in_slab)
{
    commit_top(map, len);
    s->map = map;
    s->len = len;
    s->guard = (uint8_t)guard;
    s->in_slab = in_slab;
    if (guard == MT__GUARD_CANARY)
        mt__canary_fill(s);
#ifdef MT__VALGRIND
    s->valgrind_id = VALGRIND_STACK_REGISTER(map + MT__GUARD_SIZE, map + len);
#endif
}

static void *map_anon(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

int mt__stack_map(mt__stack *s, size_t len)
{
    char *p = map_anon(len);
    if (!p)
        return -ENOMEM;
    stack_setup(s, p, len, guards_install(p, len, 1, false), false);
    return 0;
}

int mt__stack_map_shared(mt__stack *s, size_t len)
{
    char *p = map_anon(len);
    if (!p)
        return -ENOMEM;
    int guard = guards_install(p, len, 1, true);
    if (guard == MT__GUARD_NONE) {
        munmap(p, len);
        return -ENOMEM;
    }
    stack_setup(s, p, len, guard, false);
    return 0;
}

/* ---- slabs: stacks of the loop's default size, many to a mapping ------- */

typedef struct mt__slab {
    struct mt__slab *next;
    char *map;
    size_t stack_len;
    size_t carved; /* stacks handed out so far */
    int guard;
} mt__slab;

int mt__stack_get(mt_loop *l, size_t len, mt__stack *out)
{
    if (len != l->default_stack + MT__GUARD_SIZE)
        return mt__stack_map(out, len);
    mt__slab *sl = l->slabs;
    if (!sl || sl->carved == MT__SLAB_STACKS) {
        sl = calloc(1, sizeof *sl);
        if (!sl)
            return -ENOMEM;
        sl->map = map_anon(len * MT__SLAB_STACKS);
        if (!sl->map) {
            free(sl);
            return -ENOMEM;
        }
        sl->stack_len = len;
        sl->guard = guards_install(sl->map, len, MT__SLAB_STACKS, false);
        sl->next = l->slabs;
        l->slabs = sl;
    }
    stack_setup(out, sl->map + sl->carved * len, len, sl->guard, true);
    sl->carved++;
    return 0;
}

void mt__stack_put(mt_loop *l, mt__stack *s)
{
    (void)l;
    mt__stack_unmap(s); /* a slab stack is kept: its record goes to free_records */
}

void mt__stacks_free_all(mt_loop *l)
{
#ifdef MT__VALGRIND
    for (mt_task *t = l->free_records; t; t = t->next)
        VALGRIND_STACK_DEREGISTER(t->map.valgrind_id);
#endif
    l->free_records = NULL; /* they live in the slabs */
    while (l->slabs) {
        mt__slab *sl = l->slabs;
        l->slabs = sl->next;
        if (sl->guard == MT__GUARD_MPROTECT)
            atomic_fetch_sub(&mprotect_guards, MT__SLAB_STACKS);
        munmap(sl->map, sl->stack_len * MT__SLAB_STACKS);
        free(sl);
    }
}

void mt__canary_fill(mt__stack *s)
{
    uint64_t *band = (uint64_t *)(s->map + MT__GUARD_SIZE - MT__CANARY_BAND);
    for (size_t i = 0; i < MT__CANARY_BAND / sizeof *band; i++)
        band[i] = MT__CANARY;
}

bool mt__canary_intact(const mt__stack *s)
{
    const uint64_t *band = (const uint64_t *)(s->map + MT__GUARD_SIZE - MT__CANARY_BAND);
    uint64_t diff = 0;
    for (size_t i = 0; i < MT__CANARY_BAND / sizeof *band; i++)
        diff |= band[i] ^ MT__CANARY;
    return diff == 0;
}

void mt__stack_unmap(mt__stack *s)
{
    if (!s->map || s->in_slab)
        return;
#ifdef MT__VALGRIND
    VALGRIND_STACK_DEREGISTER(s->valgrind_id);
#endif
    if (s->guard == MT__GUARD_MPROTECT)
        atomic_fetch_sub(&mprotect_guards, 1);
    munmap(s->map, s->len);
    s->map = NULL;
}

/* ---- the overflow message --------------------------------------------- */

/* Async-signal-safe formatting: append s, or a number. */
static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
    while (*s && at + 1 < cap)
        buf[at++] = *s++;
    return at;
}

static size_t put_num(char *buf, size_t at, size_t cap, unsigned long v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n && at + 1 < cap)
        buf[at++] = tmp[--n];
    return at;
}

static void overflow_message(const mt_task *t)
{
    char buf[256];
    size_t n = put_str(buf, 0, sizeof buf, "multitask: coroutine '");
    if (t->extra && t->extra->name) {
        n = put_str(buf, n, sizeof buf, t->extra->name);
    } else {
        n = put_str(buf, n, sizeof buf, "Task-");
        n = put_num(buf, n, sizeof buf, t->id);
    }
    n = put_str(buf, n, sizeof buf, "' overflowed its stack of ");
    const mt__stack *s = (t->flags & MT__F_SHARED) ? &t->loop->shared : &t->map;
    n = put_num(buf, n, sizeof buf, (unsigned long)(s->len - MT__GUARD_SIZE));
    n = put_str(buf, n, sizeof buf, " bytes\n");
    ssize_t w = write(STDERR_FILENO, buf, n);
    (void)w;
}

_Noreturn void mt__stack_overflow(const mt_task *t)
{
    overflow_message(t);
    abort();
}

/* ---- the SIGSEGV handler ---------------------------------------------- */

static struct sigaction old_segv;
static atomic_int handler_installed;

static bool in_guard(const mt__stack *s, const char *addr)
{
    return s->map && (s->guard == MT__GUARD_MADVISE || s->guard == MT__GUARD_MPROTECT) &&
           addr >= s->map && addr < s->map + MT__GUARD_SIZE;
}

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    mt_loop *l = mt__loop_tls;
    mt_task *t = l ? l->current : NULL;
    const char *addr = si->si_addr;
    if (t && ((t->flags & MT__F_SHARED) ? in_guard(&l->shared, addr) : in_guard(&t->map, addr))) {
        overflow_message(t);
        signal(sig, SIG_DFL);
        return; /* the access faults again, and the default action ends us */
    }
    /* Not ours: let the handler from before us see the fault again. */
    sigaction(SIGSEGV, &old_segv, NULL);
}

int mt__stack_signals_init(void **alt)
{
    *alt = NULL;
    int expected = 0;
    if (atomic_compare_exchange_strong(&handler_installed, &expected, 1)) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, &old_segv);
    }
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_DISABLE))
        return 0;
    size_t size = 64 * 1024;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    stack_t ss = {.ss_sp = p, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(p, size);
        return -errno;
    }
    *alt = p;
    return 0;
}

void mt__stack_signals_fini(void *alt)
{
    if (!alt)
        return;
    stack_t ss = {.ss_flags = SS_DISABLE};
    sigaltstack(&ss, NULL);
    munmap(alt, 64 * 1024);
}
