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

/* At most this many mprotect guard pages per process: each splits a kernel
 * mapping in two, and vm.max_map_count is 65,530 by default. */
#define MPROTECT_GUARDS_MAX 16384

static atomic_int madvise_guard = -1; /* -1 unknown, 0 no, 1 yes */
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

static int guard_install(mt__stack *s)
{
    int forced = forced_guard();
    if (forced == MT__GUARD_CANARY)
        return MT__GUARD_CANARY;
    if (!forced && atomic_load_explicit(&madvise_guard, memory_order_relaxed) != 0) {
        if (madvise(s->map, MT__GUARD_SIZE, MADV_GUARD_INSTALL) == 0) {
            atomic_store_explicit(&madvise_guard, 1, memory_order_relaxed);
            return MT__GUARD_MADVISE;
        }
        if (errno == EINVAL)
            atomic_store_explicit(&madvise_guard, 0, memory_order_relaxed);
    }
    if (atomic_fetch_add(&mprotect_guards, 1) < MPROTECT_GUARDS_MAX) {
        if (mprotect(s->map, MT__GUARD_SIZE, PROT_NONE) == 0)
            return MT__GUARD_MPROTECT;
    }
    atomic_fetch_sub(&mprotect_guards, 1);
    return MT__GUARD_CANARY;
}

int mt__stack_map(mt__stack *s, size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    s->map = p;
    s->len = len;
    s->guard = (uint8_t)guard_install(s);
    if (s->guard == MT__GUARD_CANARY)
        mt__canary_fill(s);
#ifdef MT__VALGRIND
    s->valgrind_id = VALGRIND_STACK_REGISTER(s->map + MT__GUARD_SIZE, s->map + len);
#endif
    return 0;
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
    if (!s->map)
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
    if (t->name) {
        n = put_str(buf, n, sizeof buf, t->name);
    } else {
        n = put_str(buf, n, sizeof buf, "Task-");
        n = put_num(buf, n, sizeof buf, t->id);
    }
    n = put_str(buf, n, sizeof buf, "' overflowed its stack of ");
    const mt__stack *s = t->map.map ? &t->map : &t->loop->shared;
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
    if (t && (in_guard(&t->map, addr) || ((t->flags & MT__F_SHARED) && in_guard(&l->shared, addr)))) {
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
