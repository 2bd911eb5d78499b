/*
 * error.c - names and messages for error codes: multitask's own table first,
 * then glibc's for negated errno values.
 */
#define _GNU_SOURCE
#include <string.h>

#include "multitask/core.h"

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
    const char *s = err < 0 ? strerrordesc_np(-err) : NULL;
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
    const char *s = err < 0 ? strerrorname_np(-err) : NULL;
    return s ? s : "EUNKNOWN";
}

const char *mt_version(void)
{
    return MT_VERSION_STRING;
}
