/*
 * ctx.h - the machine context of a coroutine and the switch between two of
 * them, with the notes the sanitizers and Valgrind need about it. Internal.
 *
 * Two implementations, chosen when the library is built (meson option
 * coro_switch): our own assembly (arch/switch_<arch>.S; the context is a
 * stack pointer) or the portable ucontext (the context is a ucontext_t and
 * every switch is glibc's swapcontext, about 40 times slower).
 */
#ifndef MT_CORO_CTX_H
#define MT_CORO_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(MT_CORO_UCONTEXT)
#include <ucontext.h>
typedef struct mt__ctx {
    ucontext_t uc;
} mt__ctx;
#else
typedef struct mt__ctx {
    void *sp;
} mt__ctx;
void mt__ctx_swap(void **from_sp, void *to_sp);
#endif

#if defined(__SANITIZE_ADDRESS__)
#define MT__ASAN 1
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#define MT__TSAN 1
#include <sanitizer/tsan_interface.h>
#endif

/*
 * A fiber: a context plus what the sanitizers track about it. The loop's
 * own context (the thread's stack) is one; each coroutine is another.
 */
typedef struct mt__fiber {
    mt__ctx ctx;
#ifdef MT__ASAN
    void *asan_fake;      /* ASan's fake stack while suspended */
    const void *asan_lo;  /* the stack's lowest address and size */
    size_t asan_size;
#endif
#ifdef MT__TSAN
    void *tsan;           /* TSan's fiber */
#endif
} mt__fiber;

/* Prepare c to run fn(arg) on the stack [lo, lo + size) when first switched
 * to; fn must never return. */
void mt__ctx_make(mt__ctx *c, void *lo, size_t size, void (*fn)(void *), void *arg);

/* The stack pointer saved in a suspended context. */
void *mt__ctx_sp(const mt__ctx *c);

#if defined(MT__ASAN) || defined(MT__TSAN)
/* Set up a fiber for the stack [lo, lo + size); main: the thread's own. */
void mt__fiber_init(mt__fiber *f, void *lo, size_t size, bool main);

/* Release what the sanitizers keep for a fiber that will not run again
 * (called from another fiber). */
void mt__fiber_destroy(mt__fiber *f, bool main);
#else
/* Without sanitizers a fiber is its context alone: nothing to set up. */
static inline void mt__fiber_init(mt__fiber *f, void *lo, size_t size, bool main)
{
    (void)f, (void)lo, (void)size, (void)main;
}

static inline void mt__fiber_destroy(mt__fiber *f, bool main)
{
    (void)f, (void)main;
}
#endif

/*
 * Switch from the running fiber `from` to `to`. `from_ends` says that from
 * will never run again (its sanitizer state may go). Returns when some
 * fiber switches back to from; `came_from` is then told which one did, for
 * ASan's bookkeeping of the thread's own stack (may be NULL).
 */
static inline void mt__fiber_switch(mt__fiber *from, mt__fiber *to, bool from_ends)
{
#ifdef MT__ASAN
    __sanitizer_start_switch_fiber(from_ends ? NULL : &from->asan_fake, to->asan_lo,
                                   to->asan_size);
#endif
#ifdef MT__TSAN
    __tsan_switch_to_fiber(to->tsan, 0);
#endif
    (void)from_ends;
#if defined(MT_CORO_UCONTEXT)
    swapcontext(&from->ctx.uc, &to->ctx.uc);
#else
    mt__ctx_swap(&from->ctx.sp, to->ctx.sp);
#endif
#ifdef MT__ASAN
    __sanitizer_finish_switch_fiber(from->asan_fake, NULL, NULL);
#endif
}

/* The first thing a new fiber runs: completes the switch that started it. */
static inline void mt__fiber_started(void)
{
#ifdef MT__ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
}

#endif
