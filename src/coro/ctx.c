/*
 * ctx.c - making a new context on a stack, for the assembly switch of each
 * architecture and for the ucontext fallback, and the sanitizers' view of
 * fibers.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "ctx.h"

#if defined(MT_CORO_UCONTEXT)

/* makecontext passes int arguments only: a pointer travels in two halves. */
static void uc_entry(unsigned hi, unsigned lo)
{
    uintptr_t p = ((uintptr_t)hi << 32) | lo;
    void **pair = (void **)p;
    void (*fn)(void *);
    memcpy(&fn, &pair[0], sizeof fn);
    fn(pair[1]);
}

void mt__ctx_make(mt__ctx *c, void *lo, size_t size, void (*fn)(void *), void *arg)
{
    /* The function and its argument live at the top of the new stack. */
    uintptr_t top = ((uintptr_t)lo + size - 2 * sizeof(void *)) & ~(uintptr_t)15;
    void **pair = (void **)top;
    memcpy(&pair[0], &fn, sizeof fn);
    pair[1] = arg;
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = lo;
    c->uc.uc_stack.ss_size = top - (uintptr_t)lo;
    c->uc.uc_link = NULL;
    makecontext(&c->uc, (void (*)(void))uc_entry, 2, (unsigned)((uintptr_t)pair >> 32),
                (unsigned)(uintptr_t)pair);
}

void *mt__ctx_sp(const mt__ctx *c)
{
#if defined(__x86_64__)
    return (void *)c->uc.uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (void *)c->uc.uc_mcontext.sp;
#else
#error "mt__ctx_sp: add this architecture's stack pointer register"
#endif
}

#else /* the assembly switch */

void mt__ctx_entry(void);

void mt__ctx_make(mt__ctx *c, void *lo, size_t size, void (*fn)(void *), void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
#if defined(__x86_64__)
    /* The 56-byte frame mt__ctx_swap loads: control words, rbp, rbx,
     * r12 (fn), r13 (arg), r14, r15, then the return address
     * mt__ctx_entry. After the ret the stack pointer is top - 16:
     * 16-aligned at the call of fn. */
    uint64_t *frame = (uint64_t *)(top - 24 - 56);
    uint32_t mxcsr;
    uint16_t fpucw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    memset(frame, 0, 56 + 24);
    frame[0] = (uint64_t)mxcsr | ((uint64_t)fpucw << 32);
    frame[3] = (uint64_t)(uintptr_t)fn;
    frame[4] = (uint64_t)(uintptr_t)arg;
    frame[7] = (uint64_t)(uintptr_t)mt__ctx_entry;
    c->sp = frame;
#elif defined(__aarch64__)
    /* The 176-byte frame mt__ctx_swap loads: x19 = fn, x20 = arg,
     * x29 = 0, x30 = mt__ctx_entry, FPCR as now; sp 16-aligned. */
    uint64_t *frame = (uint64_t *)(top - 176);
    memset(frame, 0, 176);
    frame[0] = (uint64_t)(uintptr_t)fn;
    frame[1] = (uint64_t)(uintptr_t)arg;
    frame[11] = (uint64_t)(uintptr_t)mt__ctx_entry;
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    frame[20] = fpcr;
    c->sp = frame;
#else
#error "no assembly context switch for this architecture: build with -Dcoro_switch=ucontext"
#endif
}

void *mt__ctx_sp(const mt__ctx *c)
{
    return c->sp;
}

#endif

#if defined(MT__ASAN) || defined(MT__TSAN)

void mt__fiber_init(mt__fiber *f, void *lo, size_t size, bool main)
{
    memset(f, 0, sizeof *f);
#ifdef MT__ASAN
    if (main) { /* the thread's own stack */
        pthread_attr_t attr;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            void *addr;
            size_t len;
            if (pthread_attr_getstack(&attr, &addr, &len) == 0) {
                lo = addr;
                size = len;
            }
            pthread_attr_destroy(&attr);
        }
    }
    f->asan_lo = lo;
    f->asan_size = size;
#endif
#ifdef MT__TSAN
    f->tsan = main ? __tsan_get_current_fiber() : __tsan_create_fiber(0);
#endif
    (void)lo;
    (void)size;
    (void)main;
}

void mt__fiber_destroy(mt__fiber *f, bool main)
{
#ifdef MT__TSAN
    if (!main && f->tsan)
        __tsan_destroy_fiber(f->tsan);
    f->tsan = NULL;
#endif
    (void)f;
    (void)main;
}

#endif
