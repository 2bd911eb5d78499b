/*
 * multitask/core.h - errors, time and the conventions every layer shares.
 *
 * Return convention (stated once for the whole library): a function that can
 * fail returns 0 on success or a negative error code. Most codes are negated
 * errno values (-EINVAL, -ETIMEDOUT, -EAGAIN for Full/Empty, -ECANCELED for a
 * cancelled task); where errno's text would mislead, the library's own
 * situations have their own codes (MT_E*, below, outside errno's range):
 * MT_ECLOSED for work or items given to a closed pool, executor or queue,
 * MT_EKEY for a missing dict key (KeyError), MT_EINDEX for a list index out
 * of range (IndexError), MT_ENOTCORO for a coroutine-only call made outside
 * a coroutine, MT_ENOHOST for a host name that does not resolve. Objects on
 * a server (shared.h's redis:// names) add MT_ECONNECT (the server could not
 * be reached within the call's time: nothing was done), MT_ECONNLOST (the
 * connection broke after a command was sent and no answer came within the
 * call's time: it may or may not have taken effect, once), MT_EAUTH (user or
 * password refused) and MT_EREMOTE (any other refusal by the server). Their
 * messages never hold a name, an address or a secret.
 * mt_strerror() and mt_err_name() name any of them. The library never aborts
 * and never prints on a caller's error.
 *
 * Timeouts are in seconds as a double, as in Python: a negative value
 * (MT_FOREVER) waits forever, 0 polls without blocking, and a NaN is -EINVAL
 * in every call that takes a timeout.
 */
#ifndef MULTITASK_CORE_H
#define MULTITASK_CORE_H

#include <errno.h> /* the codes every call returns */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MT_VERSION_MAJOR 0
#define MT_VERSION_MINOR 1
#define MT_VERSION_PATCH 0
#define MT_VERSION_STRING "0.1.0"

/* Wait without a time limit. */
#define MT_FOREVER (-1.0)

/*
 * multitask's own error codes, as (NAME, value, message). Values lie below
 * -1000 so that they never collide with a negated errno.
 */
#define MT_OWN_ERRORS(XX)                                                                          \
    XX(MT_EWORKER, -1001, "worker process died while running its work")                            \
    XX(MT_EBROKEN, -1002, "pool is broken: its workers cannot start")                              \
    XX(MT_EFAILED, -1003, "function failed without an error code")                                 \
    XX(MT_ECLOSED, -1004, "closed: it takes no more work or items")                                \
    XX(MT_EKEY, -1005, "no such key")                                                              \
    XX(MT_EINDEX, -1006, "index out of range")                                                     \
    XX(MT_ENOTCORO, -1007, "not inside a coroutine of a running loop")                             \
    XX(MT_ENOHOST, -1008, "host name not known")                                                   \
    XX(MT_ECONNECT, -1009, "cannot reach the server: nothing was done")                            \
    XX(MT_ECONNLOST, -1010, "connection lost: the call may or may not have taken effect")          \
    XX(MT_EAUTH, -1011, "user name or password refused by the server")                             \
    XX(MT_EREMOTE, -1012, "command refused by the server")

enum mt_own_error {
#define MT__ENUM(name, value, msg) name = value,
    MT_OWN_ERRORS(MT__ENUM)
#undef MT__ENUM
};

/* The end of a stream of results or bytes (mt_imap_next, mt_as_completed_next,
 * mt_stream_readexactly): not an error, but outside errno's range like one. */
#define MT_EOF (-1100)

/*
 * mt_strerror - a message for an error code: one of ours, or -errno. A
 * positive code (an errno passed without its minus) gets a message that says
 * so: "positive error code 5: multitask returns negative codes (-EIO)".
 * Never NULL; thread-safe. The string is static, except for a positive code,
 * whose message lives in a buffer of the calling thread's, valid until that
 * thread's next mt_strerror of a positive code.
 */
const char *mt_strerror(int err);

/*
 * mt_err_name - the symbolic name of an error code ("EAGAIN", "MT_EWORKER").
 * Returns a static string ("EUNKNOWN" for a code nobody defines, and for any
 * positive code); thread-safe.
 */
const char *mt_err_name(int err);

/* mt_version - the library's version string, "major.minor.patch". */
const char *mt_version(void);

/* mt_time - wall-clock seconds since the Epoch, like Python's time.time(). */
double mt_time(void);

/* mt_monotonic - seconds on a clock that never goes back (time.monotonic()). */
double mt_monotonic(void);

/* mt_monotonic_ns - the monotonic clock in nanoseconds. */
uint64_t mt_monotonic_ns(void);

/*
 * mt_sleep - sleep for `seconds`, like time.sleep(): resumes after a signal
 * handler runs and sleeps the rest. Returns 0, or -EINVAL for a negative or
 * non-finite duration. Thread-safe and async-signal-safe.
 */
int mt_sleep(double seconds);

#ifdef __cplusplus
}
#endif
#endif
