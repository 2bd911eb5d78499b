/*
 * multitask/fn.h - the one signature of work: an mt_fn.
 *
 * An mt_fn is a plain function that reads argument bytes and writes result
 * bytes. The same function runs unchanged in a child process (mt_process), a
 * process pool (mt_pool), a thread pool (mt_executor) and, through those,
 * under a coroutine (mt_co_await_future, mt_co_run_in_executor). The word
 * "task" belongs to coroutines (mt_task_create, as asyncio's create_task);
 * the pools' documentation says "a call of fn" or "work" for one run of an
 * mt_fn:
 *
 *   static int square(const void *arg, size_t len, mt_buf *out)
 *   {
 *       long x;
 *       if (len != sizeof x)
 *           return mt_fail(out, -EINVAL, "want a long, got %zu bytes", len);
 *       memcpy(&x, arg, sizeof x);
 *       x *= x;
 *       return mt_buf_append(out, &x, sizeof x);
 *   }
 *
 * Contract:
 *  - `arg`/`len` are the argument bytes; they stay valid until the function
 *    returns and must not be written. In a process they are not aligned
 *    beyond 8 bytes; copy them out (memcpy) rather than casting.
 *  - `out` is empty when the function starts; what it appends is the
 *    result.
 *  - Return 0 for success, or a negative error code (-errno or MT_E*) for
 *    failure. On failure the bytes in `out` are the error message (text);
 *    mt_fail() writes one. A positive return value counts as MT_EFAILED.
 */
#ifndef MULTITASK_FN_H
#define MULTITASK_FN_H

#include "buf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int mt_fn(const void *arg, size_t len, mt_buf *out);

/*
 * mt_fail - replace `out` with a formatted error message and return
 * `err`, so a function can end with `return mt_fail(out, -ENOENT, "...")`.
 * `err` should be negative; 0 or a positive value is returned as MT_EFAILED.
 */
int mt_fail(mt_buf *out, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * mt_pack - append `n` byte ranges to `b` as one argument, for functions that
 * take several arguments (the starmap case). The layout is a 32-bit count,
 * then each range as a 32-bit length and its bytes, in host byte order.
 * Returns 0, -ENOMEM, -EMSGSIZE when a range is 4 GiB or larger, or -EINVAL
 * (b NULL, parts NULL with n > 0, a range with data NULL and len > 0).
 */
int mt_pack(mt_buf *b, const mt_iov *parts, size_t n);

/*
 * mt_unpack - split bytes made by mt_pack back into ranges that point into
 * `data`. Fills at most `max` entries of `parts` and returns how many ranges
 * the data holds (which may exceed `max`), or -EINVAL when the bytes are not
 * a well-formed pack.
 */
int mt_unpack(const void *data, size_t len, mt_iov *parts, size_t max);

/*
 * Functions by name, for pools whose workers run on other machines (a pool
 * on a Redis server, see pool.h): the client sends a function's name, and a
 * worker built from the same sources finds the function again by it. Put
 *
 *   MT_FN_REGISTER(square)
 *
 * at file scope after `square`'s definition: it registers the function
 * under the name "square" before main() runs (a constructor), in every
 * program linked with that file, so the client and its workers agree.
 * Register each function once, in one file (a static function defined in
 * a header is a different function in each file that includes it: the
 * second registration of its name is refused). The
 * registry is the one piece of process-wide state of this header: a list
 * of mt_fn_entry records that only grows, read without locks.
 */
typedef struct mt_fn_entry {
    const char *name; /* at most 200 bytes, unique within the program */
    mt_fn *fn;
    struct mt_fn_entry *next; /* the registry's link: leave it NULL */
} mt_fn_entry;

#define MT_FN_REGISTER(f)                                                                          \
    static mt_fn_entry mt__fn_entry_##f = {#f, f, 0};                                              \
    __attribute__((constructor)) static void mt__fn_register_##f(void)                             \
    {                                                                                              \
        mt_fn_register(&mt__fn_entry_##f);                                                         \
    }

/*
 * mt_fn_register - add e (which must live until exit; MT_FN_REGISTER uses
 * a static one) to the registry. Returns 0; -EINVAL for a NULL e, name or
 * fn, a name of more than 200 bytes or with a byte below 0x21, -EEXIST when
 * the name is taken by another function (registering the same pair again
 * is 0). Thread-safe.
 */
int mt_fn_register(mt_fn_entry *e);

/* mt_fn_lookup - the function registered under `name`, or NULL (also for
 * a NULL name). Thread-safe; fork-safe. */
mt_fn *mt_fn_lookup(const char *name);

/* mt_fn_name - the name fn was registered under (the first, when it was
 * registered under several), or NULL when it was not (also for NULL). The
 * string is the registered entry's. Thread-safe; fork-safe. */
const char *mt_fn_name(mt_fn *fn);

#ifdef __cplusplus
}
#endif
#endif
