/*
 * http_internal.h - the http layer's parts and the records they share.
 *
 *   client.c    the client: a libcurl multi handle driven by the loop
 *               (socket and timer callbacks, finishing transfers)
 *   sockets.c   the sockets libcurl uses, opened and closed by us, each
 *               with its libuv poll handle
 *   transfer.c  one transfer: the easy handle, its options and callbacks
 *               (body sink with the cap, header store, redirect loops)
 *   headers.c   the final response's headers in: Range checks, the
 *               headers hook, the fd sink emptied for a whole body
 *   admission.c how many transfers go to libcurl at once, in all and per host
 *   request.c   mt_http_get: a coroutine's request, from start to result
 *   blocking.c  mt_http_get_blocking: a loop and client per thread
 *   retry.c     the retry policy: what is transient, how long to wait
 *   response.c  the response: headers lookup, reset, free
 *   errors.c    libcurl's codes as ours
 *
 * The layer is built as libmultitask-http: it reaches the scheduler only
 * through inline calls on its records and the exported calls at the end
 * of coro_internal.h (mt__suspend_exported), never a hidden function.
 */
#ifndef MT_HTTP_INTERNAL_H
#define MT_HTTP_INTERNAL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <uv.h>

#include "../coro/coro_internal.h"
#include "multitask/http.h"

#pragma GCC visibility push(hidden)

/* A socket libcurl uses, with the poll handle that watches it. */
typedef struct mt__http_sock {
    uv_poll_t poll;
    struct mt_http_client *client;
    int fd;       /* libcurl's */
    int watch;    /* ours: a duplicate of fd, what the poll handle watches */
    bool ours;    /* opened by our open-socket callback (we close it) */
} mt__http_sock;

/* Transfers of one host handed to libcurl (admission.c). */
typedef struct mt__http_host {
    struct mt__http_host *next;
    size_t active;
    char key[]; /* "scheme://host:port" */
} mt__http_host;

/* A request waiting for admission: on its task's stack (see mt__rec). */
typedef struct mt__http_wait {
    struct mt__http_wait *next;
    mt_task *task;
    const char *key;
    bool granted;
    int err;
} mt__http_wait;

struct mt_http_client {
    mt_loop *loop;
    CURLM *multi;
    uv_timer_t timer;       /* libcurl's one timeout */
    mt__http_sock **socks;  /* by fd */
    size_t nsocks;
    size_t active;          /* transfers handed to libcurl */
    char *user_agent;
    size_t max_transfers, max_per_host; /* 0: no limit */
    size_t admitted;        /* transfers admitted (about to be, or active) */
    mt__http_host *hosts;   /* hosts with admitted transfers */
    mt__http_wait *waiting, *waiting_tail; /* requests held back, in order */
};

/* One transfer: lives on the heap (a shared-stack coroutine's frames move
 * while it waits), reached by libcurl's callbacks through its pointer. */
/* The longest admission key, "scheme://host:port", with its NUL. */
#define MT__HTTP_KEY_SIZE 320

typedef struct mt__http_xfer {
    mt_http_client *client;
    CURL *easy;
    mt_task *task;          /* who waits for it */
    bool done;              /* libcurl finished it (code is final) */
    CURLcode code;
    int err;                /* our own reason to stop it, or 0 */
    mt_http_sink to;
    int fd;
    mt_http_write_fn *write;
    void *write_arg;
    uint64_t cap;           /* UINT64_MAX: none */
    uint64_t delivered;
    bool follow;            /* redirects are followed: watch for loops */
    mt_buf body;            /* MT_HTTP_TO_MEMORY */
    mt_buf headers;         /* "name\0value\0" of the latest response */
    mt_buf visited;         /* URLs requested so far, each NUL-ended */
    long status_seen;       /* status line of the latest response */
    bool location_seen;     /* the latest response is a 3xx with a Location */
    bool final_seen;        /* the final response's headers are all in */
    /* The resume (see mt_http_opts.range_from) and the headers hook. */
    int64_t range_from;
    mt_http_headers_fn *on_headers;
    void *on_headers_arg;
    bool discard;           /* a 416 to a range request: its body is dropped */
    bool truncated;         /* a 200 to a range request emptied the fd sink */
    bool head;              /* a HEAD: no body comes */
    int64_t range_start, length; /* of the final response, as in mt_http_response */
    struct curl_slist *req_headers;
    char errbuf[CURL_ERROR_SIZE];
    /* Its admission key. Here, not on the task's stack: a shared-stack task's
     * frames move while it waits, and other tasks read the key then. */
    char key[MT__HTTP_KEY_SIZE];
} mt__http_xfer;

/* libcurl's global init, once per process. Returns 0 or -ENOMEM. */
int mt__http_global_init(void);

/* sockets.c: the callbacks installed on each easy handle / the multi. */
curl_socket_t mt__http_open_socket(void *client, curlsocktype purpose,
                                   struct curl_sockaddr *addr);
int mt__http_close_socket(void *client, curl_socket_t fd);
int mt__http_on_socket(CURL *easy, curl_socket_t fd, int what, void *client, void *sockp);
/* Close every poll handle left (the client is being freed). */
void mt__http_socks_free(mt_http_client *c);

/* admission.c: the host key of url ("" if it does not parse); wait until
 * a transfer to key may start (0, -ECANCELED, -ETIMEDOUT, -ENOMEM); give
 * its place back when it has ended. */
void mt__http_host_key(const char *url, char *out, size_t size);
int mt__http_admit(mt_http_client *c, const char *key, mt_task *t);
void mt__http_release(mt_http_client *c, const char *key);

/* client.c: after libcurl acted, finish the transfers it completed. */
void mt__http_finish(mt_http_client *c);

/* transfer.c: make x's easy handle for url with options o (resolved
 * defaults). Returns 0, -EINVAL, -ENOMEM. */
int mt__http_xfer_init(mt__http_xfer *x, mt_http_client *c, const char *url,
                       const mt_http_opts *o);
void mt__http_xfer_free(mt__http_xfer *x);

/* headers.c: the final response's headers are in x->headers (status
 * x->status_seen). Returns 0 to take its body, or the transfer's end. */
int mt__http_headers_done(mt__http_xfer *x);

/* response.c: fill resp from x (what libcurl knows, x's body and headers,
 * the error message for result `err`). */
void mt__http_response_fill(mt_http_response *resp, mt__http_xfer *x, int err);
void mt__http_response_reset(mt_http_response *resp);

/* retry.c: whether a try that ended with libcurl's code and status may
 * succeed if tried again; -EINVAL for a bad policy (the wait itself is the
 * public mt_http_retry_wait). */
bool mt__http_transient(CURLcode code, long status);
int mt__http_retry_check(const mt_http_retry *p);

/* errors.c: the code for transfer x's result. */
int mt__http_error(const mt__http_xfer *x);

#pragma GCC visibility pop

#endif
