/*
 * error.c - names and messages for error codes: multitask's own table first,
 * then glibc's for negated errno values. A positive errno is a caller's
 * mistake (the library returns negative codes): its message says so.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "multitask/core.h"

/* A positive code's message, one per thread: valid until that thread's next
 * mt_strerror of a positive code. */
static _Thread_local char positive_msg[128];

static const char *positive_message(int err)
{
    const char *name = strerrorname_np(err);
    if (name)
        snprintf(positive_msg, sizeof positive_msg,
                 "positive error code %d: multitask returns negative codes (-%s)", err, name);
    else
        snprintf(positive_msg, sizeof positive_msg,
                 "positive error code %d: multitask returns negative codes", err);
    return positive_msg;
}

const char *mt_strerror(int err)
{
    switch (err) {
#define MT__MSG(name, value, msg)                                                                  \
    case value:                                                                                    \
        return msg;
        MT_OWN_ERRORS(MT__MSG)
#undef MT__MSG
    case MT_EOF:
        return "end of results";
    case 0:
        return "success";
    case -ETIMEDOUT: /* glibc's "Connection timed out" misleads for a queue or a future */
        return "timed out";
    }
    if (err > 0)
        return positive_message(err);
    /* INT_MIN has no negation: no errno is that large anyway. */
    const char *s = err != INT_MIN ? strerrordesc_np(-err) : NULL;
    return s ? s : "unknown error";
}

const char *mt_err_name(int err)
{
    switch (err) {
#define MT__NAME(name, value, msg)                                                                 \
    case value:                                                                                    \
        return #name;
        MT_OWN_ERRORS(MT__NAME)
#undef MT__NAME
    case MT_EOF:
        return "MT_EOF";
    case 0:
        return "OK";
    }
    const char *s = err < 0 && err != INT_MIN ? strerrorname_np(-err) : NULL;
    return s ? s : "EUNKNOWN";
}

const char *mt_version(void)
{
    return MT_VERSION_STRING;
}
