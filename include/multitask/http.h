/*
 * multitask/http.h - HTTP(S) requests on libcurl, awaited from coroutines
 * or made blocking from plain threads (aiohttp / requests).
 *
 * A client drives libcurl's multi_socket API from one coroutine loop: its
 * sockets are watched by the loop (libuv poll handles, one timer), so a
 * request suspends only the coroutine that made it, and many requests of
 * many coroutines share the client's connections (kept alive, reused, and
 * multiplexed over HTTP/2 where the server offers it).
 *
 * Linking: this layer is a library of its own, libmultitask-http
 * (pkg-config multitask-http; in this tree's meson, multitask_http_dep),
 * so that libcurl and the thirty-odd libraries it brings are mapped only
 * into programs that use HTTP: each library mapped makes every fork dearer.
 *
 * Usage from coroutines:
 *   1. mt_http_client_new(&c, NULL) in a coroutine (or with .loop given).
 *   2. mt_http_response r = MT_HTTP_RESPONSE_INIT;
 *      err = mt_http_get(c, "http://...", &(mt_http_opts){...}, &r);
 *      err is 0 when a response arrived whatever its status (check
 *      r.status, as requests' raise_for_status would), else a negative code
 *      with r.error saying what went wrong.
 *   3. mt_http_response_free(&r); mt_http_client_free(c) before the loop
 *      closes.
 * From a plain thread (a thread-pool task): mt_http_get_blocking(&r, url,
 * &opts), same options and response.
 *
 * Where the body goes (mt_http_opts.to): to memory (r.body, capped), to an
 * fd, to a callback, or nowhere (counted only). Nothing else buffers a body.
 *
 * Safe defaults, each an option: connect timeout 10 s; a transfer that
 * moves less than 1 byte/s for 30 s is abandoned (-ETIMEDOUT); no total
 * timeout unless .timeout is set (set it for pages, rely on the low-speed
 * abort for large downloads); at most 10 redirects, http: and https: only,
 * first and after each redirect (a redirect to file: or anything else is
 * -EPROTONOSUPPORT), a redirect back to a URL already visited is -ELOOP at
 * once; gzip, deflate, br and zstd are accepted and decoded (not by a
 * range request: see range_from); the cap on the body (64 MiB in memory,
 * none otherwise unless .max_size) counts the bytes delivered to the sink,
 * after decoding (-EFBIG), and a Content-Length above it is refused before
 * the body; User-Agent "multitask/<version>".
 *
 * Admission (mt_http_client_opts): how many transfers run at once, in all
 * and per host, is decided before libcurl sees a request. Retries
 * (mt_http_opts.retry): a policy object says which failures are tried
 * again, after which waits, within which caps.
 *
 * Errors (besides -EINVAL, -ENOMEM, MT_ENOTCORO): -ETIMEDOUT (a time limit
 * of the options, the low-speed abort, or an enclosing mt_co_timeout),
 * -ECANCELED (the coroutine was cancelled: the transfer is removed and its
 * connection closed), MT_ENOHOST (host name not found), -ECONNREFUSED and
 * the other errno of a failed connect, -ELOOP (too many redirects, or a
 * loop), -EPROTONOSUPPORT (a scheme other than http/https), -EFBIG (the
 * cap), -EPIPE (the connection ended before the body was whole, or with
 * nothing at all), -ECONNRESET and other errno of a failed receive or
 * send, -EPROTO (a reply that is not HTTP, broken chunking, HTTP/2 or TLS
 * failure, a 206 that is not the range asked for), -EBADMSG (content encoding that does not decode), -EMSGSIZE
 * (response headers above 256 KiB in all), a write's -errno for an fd
 * sink, a callback sink's own negative code, -EIO for anything else.
 *
 * Threads: a client belongs to its loop's thread; none of its calls may be
 * made from another thread. mt_http_get_blocking is thread-safe: each
 * calling thread gets its own loop and client, made on first use and freed
 * when the thread exits (a pthread key). Why this and not one shared loop
 * thread: a call then runs entirely on its caller's thread, without a
 * hand-off, a lock or a wake-up between threads, and nothing global needs
 * stopping; the cost is a connection cache per thread (connections are not
 * shared between threads). Measured with the seed's image downloader (20
 * threads fetching 10,000 images, 2.99 GB, from one host on loopback;
 * bench/bench_http.c): 1,083 MB/s against 710 MB/s for one shared loop
 * thread serving all twenty (1.5x), 15% less CPU, 4% more memory.
 *
 * Global state: libcurl's, initialised once (curl_global_init, through
 * pthread_once) and never cleaned up; the per-thread loop and client of
 * mt_http_get_blocking. Fork: a child process must not use its parent's
 * clients (their epoll instance is shared with the parent). A child started
 * by the process layer (mt_process, the pools) forgets its parent's
 * per-thread loop and client, without freeing them, and makes its own on
 * its first mt_http_get_blocking; a child of a plain fork() must call
 * neither.
 */
#ifndef MULTITASK_HTTP_H
#define MULTITASK_HTTP_H

#include <stdint.h>

#include "buf.h"
#include "core.h"
#include "coro.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_http_client mt_http_client;

/* Options for mt_http_client_new. A zeroed struct means defaults. */
typedef struct mt_http_client_opts {
    /* The loop whose thread uses the client. NULL: the loop running in this
     * thread (call from one of its coroutines). */
    mt_loop *loop;
    /* The default User-Agent of its requests (copied). NULL:
     * "multitask/<version>". */
    const char *user_agent;
    /* Admission: transfers in progress at once, in all and per host
     * ("scheme://host:port" of the URL asked for; redirects elsewhere are
     * not counted again). More requests wait, in order, before libcurl
     * sees them (so their time limits do not run yet); one for a host at
     * its limit does not hold back others. max_transfers 0: 100 (as
     * aiohttp); max_per_host 0: no limit. */
    int max_transfers;
    int max_per_host;
} mt_http_client_opts;

/* Where a response body goes (mt_http_opts.to). */
typedef enum mt_http_sink {
    MT_HTTP_TO_MEMORY = 0, /* response.body (the default) */
    MT_HTTP_TO_FD = 1,     /* written to .fd as it arrives */
    MT_HTTP_TO_CALLBACK = 2, /* handed to .write as it arrives */
    MT_HTTP_TO_NOWHERE = 3,  /* counted in response.size, then dropped */
} mt_http_sink;

/*
 * A body sink: receives each piece of the body, in order, in the loop's
 * thread, outside any coroutine (it must not suspend). Returns 0 to go on,
 * or a negative code that ends the transfer and becomes the request's
 * result.
 */
typedef int mt_http_write_fn(const void *data, size_t len, void *arg);

/*
 * A headers hook (mt_http_opts.on_headers): called in the loop's thread,
 * outside any coroutine (it must not suspend), once per try when the final
 * response's status line and headers have arrived (not for a 1xx, nor for
 * the 3xx of a followed redirect, nor for a 206 refused as -EPROTO: see
 * range_from), before its first body byte reaches the sink, and also when
 * the body is empty (a 204, a HEAD, a 416, Content-Length: 0). resp holds
 * the status, the headers (mt_http_response_header), the URL, redirects,
 * and range_start and length (see mt_http_response); its body is empty.
 * Return 0 (or more) to take the body, or a negative code that ends the
 * transfer at once, without a byte delivered (an fd sink untouched), and
 * becomes the request's result (resp keeps the status and headers): how to
 * refuse the body of a 404 or of a file too large for its disk.
 */
struct mt_http_response;
typedef int mt_http_headers_fn(const struct mt_http_response *resp, void *arg);

/* Request flags (mt_http_opts.flags). */
enum {
    MT_HTTP_NO_DECODE = 1 << 0,   /* no Accept-Encoding: the body as sent */
    MT_HTTP_HEAD = 1 << 1,        /* HEAD instead of GET: no body */
};

/*
 * A retry policy (mt_http_opts.retry); a zeroed struct means defaults.
 * Transient failures are tried again: a time limit of the options (the
 * low-speed abort included), a connection reset or failed receive, a short
 * or empty body, broken chunking, a reset HTTP/2 stream, and the statuses
 * 408, 429, 500, 502, 503, 504. The wait before try n+1 is the server's
 * Retry-After (seconds, or an HTTP date) when it sends one, else backoff *
 * 2^(n-1), capped at backoff_max, of which a random half ("equal jitter").
 * No retry when Retry-After asks for more than retry_after_max, when the
 * wait would take the total waited past max_time, or when the sink cannot be
 * rewound: memory and nowhere always can, an fd when it can be truncated
 * back to where it was (a file), a callback only before its first byte.
 * Waits are loop timers (mt_co_sleep): the thread never sleeps, and a
 * cancellation or timeout ends a wait at once. The last try's response
 * and result are returned; response.tries counts them.
 */
typedef struct mt_http_retry {
    int max_tries;       /* tries in all, the first included; 0: 3 */
    double backoff;      /* seconds, before the second try; 0: 0.5 */
    double backoff_max;  /* the longest backoff, in seconds; 0: 30 */
    double max_time;     /* the most seconds waited in all; 0: 60; INFINITY: no cap */
    double retry_after_max; /* the longest Retry-After obeyed; 0: backoff_max */
} mt_http_retry;


/* Options of a request. A zeroed struct (or NULL) means defaults. What
 * they point to need not outlive the call that takes them. */
typedef struct mt_http_opts {
    mt_http_sink to;
    int fd;                   /* MT_HTTP_TO_FD: a blocking fd (a file) */
    mt_http_write_fn *write;  /* MT_HTTP_TO_CALLBACK */
    void *write_arg;
    /* Cap on the body bytes delivered to the sink, after decoding (-EFBIG
     * beyond). 0: 64 MiB for MT_HTTP_TO_MEMORY, no cap otherwise; negative:
     * no cap. */
    int64_t max_size;
    /* Seconds for the whole request, redirects included. 0: no limit. */
    double timeout;
    /* Seconds to connect (TCP and TLS). 0: 10; negative: libcurl's own
     * limit (300). */
    double connect_timeout;
    /* The low-speed abort: fewer than low_speed_bytes a second for
     * low_speed_time seconds ends the transfer with -ETIMEDOUT. 0 for
     * either: 1 byte/s over 30 s; a negative low_speed_time: never. */
    long low_speed_bytes;
    double low_speed_time;
    /* Redirects to follow. 0: 10; negative: none (the 3xx is the response). */
    int max_redirects;
    /* User-Agent. NULL: the client's. */
    const char *user_agent;
    /* More request headers, "Name: value", ended by NULL; may be NULL. */
    const char *const *headers;
    /* CA certificates (PEM file) to verify HTTPS servers with. NULL: the
     * system's. A certificate that does not verify (another CA, another
     * name, expired) or a CA file that cannot be read: -EPROTO. */
    const char *ca_file;
    unsigned flags; /* MT_HTTP_* above */
    /* Retries of transient failures; NULL: one try only. */
    const mt_http_retry *retry;
    /* See mt_http_headers_fn; NULL: none. */
    mt_http_headers_fn *on_headers;
    void *on_headers_arg;
    /*
     * Resume: range_from > 0 asks for the body from that byte on
     * ("Range: bytes=N-"), without Accept-Encoding (the offsets are those
     * of the body as stored, not of a coding of it); negative is -EINVAL.
     * With if_range (an ETag, or a Last-Modified date, as the server sent
     * it; NULL or "": none; CR or LF in it: -EINVAL), only if the resource
     * is still that one ("If-Range"), else the server sends it whole. What
     * came is in response.range_start: range_from for a 206 whose
     * Content-Range starts there (any other start, none, or a multipart 206
     * is -EPROTO, before a byte is delivered), 0 for a 200 (the whole body:
     * the resource changed, or the server ignores ranges). The sink gets the
     * bytes as sent: a memory sink holds only them; an fd sink must be the
     * partial file with range_from bytes, its offset at its end: on a 200
     * (once on_headers took it; not for a HEAD) it is truncated to 0 and
     * written from its start; a callback sink learns which from on_headers. The body of any
     * other status goes to the sink as for any request (refuse it with
     * on_headers). A 416 (the range starts at or past the end: with a
     * length equal to range_from, the file was complete) is a response like
     * any other (result 0, status 416, nothing delivered). A retry goes back
     * to the state at the call, as for any sink, but for one case: once a
     * 200 has truncated an fd sink, its range_from bytes are gone, and a
     * retry asks for the whole body (no Range, no If-Range) into the file
     * emptied again.
     */
    int64_t range_from;
    const char *if_range;
} mt_http_opts;

/* Where the time of a request went, in seconds from its start (libcurl's
 * CURLINFO_*_TIME_T): total includes the redirects, redirect is the time
 * they took; tls is 0 for plain http. */
typedef struct mt_http_timings {
    double namelookup, connect, tls, pretransfer, starttransfer, total, redirect;
} mt_http_timings;

#define MT_HTTP_ERROR_SIZE 256

/* A response. Initialise with MT_HTTP_RESPONSE_INIT; a request replaces
 * what it holds (reusing its memory); release with mt_http_response_free.
 * Read the fields; change them only through these functions. */
typedef struct mt_http_response {
    long status;              /* the final response's status; 0 if none came */
    mt_buf body;              /* MT_HTTP_TO_MEMORY: the body */
    uint64_t size;            /* body bytes delivered to the sink */
    char *url;                /* the final URL, after redirects; NULL if none */
    long redirects;           /* redirects followed (by the last try) */
    int tries;                /* tries made (see mt_http_retry) */
    /* Where the delivered body starts in the resource: range_from for a 206
     * to a resume, else 0. */
    int64_t range_start;
    /* The resource's whole length when the response says it (Content-Length
     * of a 200, the total of a 206's or a 416's Content-Range; before
     * decoding), else -1. */
    int64_t length;
    mt_http_timings time;
    char error[MT_HTTP_ERROR_SIZE]; /* what went wrong, in words; "" on success */
    mt_buf headers_;          /* private: the final response's headers */
} mt_http_response;

#define MT_HTTP_RESPONSE_INIT {.status = 0, .length = -1}

/*
 * mt_http_client_new - make a client for a loop (opts->loop, or the loop
 * running in this thread). *out is the caller's until mt_http_client_free.
 * Call it in the loop's thread (before the loop runs, or from one of its
 * coroutines). Returns 0; -EINVAL (out NULL, a negative limit); MT_ENOTCORO
 * (no loop given and none running in this thread); -ENOMEM.
 */
int mt_http_client_new(mt_http_client **out, const mt_http_client_opts *opts);

/*
 * mt_http_client_free - close the client's connections and free it, in
 * its loop's thread, before the loop is freed. Returns 0, or -EBUSY
 * (nothing done) while requests of it are in progress. NULL is ignored.
 */
int mt_http_client_free(mt_http_client *c);

/*
 * mt_http_get - GET url with client c, suspending the calling coroutine
 * until the response is complete, and fill *resp (see the overview for
 * sinks, defaults and errors). Returns 0 when a response arrived, whatever
 * its status, else a negative code; resp then still says what is known
 * (status, URL, timings, error). Cancelling the coroutine or an enclosing
 * timeout ends the transfer at once (-ECANCELED / -ETIMEDOUT): libcurl
 * closes its HTTP/1 connection, or resets its stream of a shared HTTP/2
 * connection. -EINVAL: a NULL argument, c of another loop, a NaN or
 * infinite time, a negative .low_speed_bytes, an fd sink with a negative
 * .fd (0 is an fd like any other: set it), a callback sink without its
 * callback, a retry policy with a negative or NaN field, a negative
 * .range_from, an .if_range holding CR or LF. MT_ENOTCORO outside a
 * coroutine.
 */
int mt_http_get(mt_http_client *c, const char *url, const mt_http_opts *opts,
                mt_http_response *resp);

/*
 * mt_http_get_blocking - mt_http_get from a plain thread: blocks the
 * calling thread until the response is complete. Uses the thread's own
 * loop and client (see Threads in the overview). Returns what mt_http_get
 * returns, and -EBUSY when called while this thread runs a loop (from a
 * coroutine, use mt_http_get). Thread-safe.
 */
int mt_http_get_blocking(mt_http_response *resp, const char *url, const mt_http_opts *opts);

/*
 * mt_http_response_header - the value of the final response's header
 * `name` (case-insensitive; the first one if repeated), NUL-terminated and
 * without surrounding blanks; NULL if absent. Valid until resp changes.
 */
const char *mt_http_response_header(const mt_http_response *resp, const char *name);

/*
 * mt_http_retry_wait - the policy's decision after try number `tries`
 * (1 for the first) ended with resp (NULL: no response, so no Retry-After),
 * `waited` seconds having been waited before it: 1 and the seconds to wait
 * before the next try in *wait, or 0 when the policy says stop (tries used
 * up, a Retry-After longer than retry_after_max, the wait past max_time).
 * It does not judge whether the failure is transient: that is the caller's
 * (see the list above). For callers that run their own tries, such as a
 * download that goes on with Range after a short body. Returns -EINVAL for
 * a NULL policy or wait, tries < 1, a negative or NaN waited, or a policy
 * field negative or NaN (or infinite, max_time aside); *wait is set only
 * when it returns 1. Thread-safe (the jitter's generator is per thread);
 * it reads resp and p and keeps nothing.
 */
int mt_http_retry_wait(const mt_http_retry *p, int tries, const mt_http_response *resp,
                       double waited, double *wait);

/*
 * mt_http_response_header_at - the i-th header of the final response
 * (from 0): *name and *value point into resp. Returns 0, or MT_EINDEX past
 * the last one, -EINVAL for NULL arguments.
 */
int mt_http_response_header_at(const mt_http_response *resp, size_t i, const char **name,
                               const char **value);

/* mt_http_response_free - release what resp holds; it is
 * MT_HTTP_RESPONSE_INIT again. NULL is ignored. */
void mt_http_response_free(mt_http_response *resp);

#ifdef __cplusplus
}
#endif
#endif
