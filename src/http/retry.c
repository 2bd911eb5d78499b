/*
 * retry.c - the retry policy: which failures are worth another try, and
 * how long to wait before it (exponential backoff with jitter, or what the
 * server's Retry-After asks, in seconds or as an HTTP date), within a cap
 * on tries and on the total time spent waiting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_internal.h"

#define DEFAULT_TRIES 3
#define DEFAULT_BACKOFF 0.5
#define DEFAULT_BACKOFF_MAX 30.0
#define DEFAULT_MAX_TIME 60.0

bool mt__http_transient(CURLcode code, long status)
{
    switch (code) {
    case CURLE_OK:
        return status == 408 || status == 429 || status == 500 || status == 502 ||
               status == 503 || status == 504;
    case CURLE_OPERATION_TIMEDOUT: /* includes the low-speed abort */
    case CURLE_PARTIAL_FILE:       /* a short body */
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:         /* a reset, broken chunking */
    case CURLE_SEND_ERROR:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static bool bad(double s)
{
    return isnan(s) || isinf(s) || s < 0;
}

int mt__http_retry_check(const mt_http_retry *p)
{
    return p->max_tries < 0 || bad(p->backoff) || bad(p->backoff_max) ||
                   (bad(p->max_time) && p->max_time != INFINITY) || bad(p->retry_after_max)
               ? -EINVAL
               : 0;
}

/* A number in [0, 1) from a per-thread generator (xorshift64*): jitter
 * needs no quality, only that clients do not retry in step. */
static double jitter(void)
{
    static _Thread_local uint64_t s;
    if (!s)
        s = mt__now_ns() ^ ((uint64_t)(uintptr_t)&s << 17) ^ 0x9e3779b97f4a7c15ULL;
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return (double)((s * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0;
}

/* Seconds the response's Retry-After asks for; negative if none. */
static double retry_after(const mt_http_response *resp)
{
    const char *v = mt_http_response_header(resp, "Retry-After");
    if (!v || !*v)
        return -1;
    if (strspn(v, "0123456789") == strlen(v))
        return strlen(v) > 9 ? 1e9 : (double)atol(v);
    time_t when = curl_getdate(v, NULL);
    if (when == -1)
        return -1;
    double d = difftime(when, time(NULL));
    return d > 0 ? d : 0;
}

int mt_http_retry_wait(const mt_http_retry *p, int tries, const mt_http_response *resp,
                       double waited, double *wait)
{
    if (!p || !wait || tries < 1 || isnan(waited) || waited < 0 || mt__http_retry_check(p))
        return -EINVAL;
    int max_tries = p->max_tries ? p->max_tries : DEFAULT_TRIES;
    double first = p->backoff ? p->backoff : DEFAULT_BACKOFF;
    double longest = p->backoff_max ? p->backoff_max : DEFAULT_BACKOFF_MAX;
    double budget = p->max_time ? p->max_time : DEFAULT_MAX_TIME;
    double obeyed = p->retry_after_max ? p->retry_after_max : longest;
    if (tries >= max_tries)
        return 0;
    double w = resp ? retry_after(resp) : -1;
    if (w > obeyed)
        return 0; /* the server asks for longer than we would wait */
    if (w < 0) { /* "equal jitter": half the backoff, plus up to half again */
        double base = first;
        for (int i = 1; i < tries && base < longest; i++)
            base *= 2;
        if (base > longest)
            base = longest;
        w = base / 2 + jitter() * base / 2;
    }
    if (waited + w > budget)
        return 0;
    *wait = w;
    return 1;
}
