/*
 * httpd.h - the test HTTP server's parts (mt-test-httpd): a small HTTP/1.1
 * server on the coroutine TCP layer that serves a docroot and, under the
 * reserved prefix /_/, misbehaves on request. One coroutine per connection;
 * everything a client sends is bounded.
 *
 *   parse.c             reading and parsing a request head, query parameters
 *   reply.c             writing responses: head, body, chunks, the request log
 *   respond_static.c    files from the docroot: ETag, Last-Modified, Range
 *   respond_faults.c    statuses, slow/stalled/reset/short/broken bodies
 *   respond_generated.c redirects, names, bodies under any name, generated HTML
 *   respond_range.c     a generated resource honouring Range and If-Range
 *   gzipbomb.c          a small gzip body that inflates to a GiB
 *   counter.c           how many requests each path received (/_/count)
 *   tls.c               the connection's bytes, in clear or through TLS
 *   main.c              options, the listener, one task per connection
 */
#ifndef MT_TEST_HTTPD_H
#define MT_TEST_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

/* Bounds on what a client may send. */
#define HTTPD_MAX_LINE    8192   /* request line; longer: 414 */
#define HTTPD_MAX_HEAD    32768  /* the whole head; larger: 431 */
#define HTTPD_MAX_HEADERS 100    /* header fields; more: 431 */
#define HTTPD_MAX_BODY    65536  /* a request body is read and dropped; larger: 413 */
#define HTTPD_MAX_PATH    4096   /* a decoded path; longer: 414 */
#define HTTPD_MAX_CONNS   512    /* connections at once; more are closed at once */
#define HTTPD_BUF         65536  /* the response body buffer */

/* Settings from the command line, shared by every connection. */
typedef struct httpd_config {
    int rootfd;          /* the docroot, opened as a directory */
    FILE *log;           /* the request log, or NULL */
    double idle;         /* seconds to wait for a request head */
    double send_timeout; /* seconds one write may wait for the client */
    double stall_max;    /* seconds /_/stall holds a connection at most */
    uint64_t cap;        /* most body bytes of any generated response */
} httpd_config;

extern httpd_config httpd_cfg;

typedef struct httpd_header {
    const char *name, *value;
} httpd_header;

/* A parsed request; its strings point into the connection's buffer. */
typedef struct httpd_req {
    const char *method;
    const char *target;    /* as sent: path and query */
    char path[HTTPD_MAX_PATH]; /* percent-decoded, without the query */
    const char *query;     /* after '?', or "" */
    int minor;             /* HTTP/1.<minor> */
    httpd_header headers[HTTPD_MAX_HEADERS];
    size_t nheaders;
    long long content_length; /* of the request body, or -1 */
    bool head;             /* HEAD: the body is not sent */
    bool keep_alive;       /* the client allows another request */
} httpd_req;

/* A connection and the response in progress. */
struct ssl_st;

typedef struct httpd_conn {
    int fd;
    struct ssl_st *tls;      /* the TLS session (--tls-cert), or NULL */
    char in[HTTPD_MAX_HEAD + 1]; /* received bytes; a head ends in it */
    size_t in_len;               /* bytes in `in` */
    size_t head_len;             /* bytes of the current request's head */
    httpd_req req;
    int status;              /* of the response, for the log */
    unsigned long long sent; /* body bytes sent, for the log */
    bool chunked;            /* the body goes in chunks */
    bool close;              /* close the connection after this response */
    bool aborted;            /* the connection is gone (reset, failed write) */
    char buf[HTTPD_BUF];     /* response bodies are built here */
} httpd_conn;

/* ---- tls.c ---- */

/* Serve TLS with this certificate chain and key (PEM files). 0, or -1
 * after saying why on stderr. */
int httpd_tls_setup(const char *cert, const char *key);
void httpd_tls_free(void);

/* A new connection: the TLS handshake, when serving TLS, within the idle
 * time. 0 or a negative code (the connection is then closed). */
int httpd_conn_start(httpd_conn *c);

/* Receive up to len bytes: the count, 0 at the end, or a negative code
 * (an enclosing timeout scope bounds it). */
ssize_t httpd_conn_recv(httpd_conn *c, void *buf, size_t len);

/* Send all len bytes: 0 or a negative code. */
int httpd_conn_send(httpd_conn *c, const void *data, size_t len);

/* The connection ends: send TLS's close_notify (unless aborted) and free
 * the session. Nothing for a clear connection. */
void httpd_conn_end(httpd_conn *c);

/* ---- parse.c ---- */

/* Read until conn holds a whole request head (within the idle time). 0
 * when it does; an HTTP status (414, 431) to answer with before closing;
 * -1 when the client left or went quiet (nothing to answer). */
int httpd_read_head(httpd_conn *c);

/* Parse the head read into c->req. 0, or an HTTP status to answer with. */
int httpd_parse_head(httpd_conn *c);

/* The value of header `name` (case-insensitive), or NULL. */
const char *httpd_header_get(const httpd_req *r, const char *name);

/* Query parameter `name`, percent-decoded ('+' as space) into out. false
 * when absent, too long or holding a NUL. */
bool httpd_param(const httpd_req *r, const char *name, char *out, size_t size);

/* Query parameter `name` as sent (still percent-encoded), its length in
 * *len; NULL when absent. */
const char *httpd_param_raw(const httpd_req *r, const char *name, size_t *len);

/* Query parameter `name` as a number in [min, max]; def when absent or not
 * a number; clamped into the range. */
long long httpd_param_num(const httpd_req *r, const char *name, long long def, long long min,
                          long long max);

/* Percent-decode in[0..len) into out (NUL-terminated). -1 on a NUL byte,
 * a bad escape or no room. */
int httpd_pct_decode(char *out, size_t size, const char *in, size_t len, bool plus_space);

/* Whether s may go into a header value (no CR, LF or NUL). */
bool httpd_header_safe(const char *s);

/* ---- reply.c ---- */

#define HTTPD_CHUNKED (-1) /* clen of a chunked body */
#define HTTPD_NO_BODY (-2) /* clen of a response without a body (304) */

/* Send the status line and headers: Date, Server, Connection, then `extra`
 * (CRLF-terminated lines, may be NULL), then Content-Length: clen, or
 * Transfer-Encoding: chunked (HTTPD_CHUNKED), or neither (HTTPD_NO_BODY).
 * 0 or -errno. */
int httpd_reply_head(httpd_conn *c, int status, const char *extra, long long clen);

/* Send body bytes (none for HEAD), counted for the log; in a chunk when the
 * body is chunked. 0 or -errno (the connection is then aborted). */
int httpd_send_body(httpd_conn *c, const void *data, size_t len);

/* Send raw bytes, bounded by the send timeout, uncounted. 0 or -errno. */
int httpd_send_raw(httpd_conn *c, const void *data, size_t len);

/* End a chunked body (the last chunk). */
int httpd_end_chunks(httpd_conn *c);

/* A whole short response with a text body. */
int httpd_reply_text(httpd_conn *c, int status, const char *extra, const char *text);

/* The reason phrase of a status. */
const char *httpd_reason(int status);

/* t as an HTTP date (IMF-fixdate) into out (at least 32 bytes). */
void httpd_http_date(time_t t, char *out, size_t size);

/* Fill out with the body pattern from offset `off`: byte i is 'a' + i % 26. */
void httpd_pattern(char *out, size_t len, unsigned long long off);

/* Write the log line of the request just answered (if logging). */
void httpd_log(const httpd_conn *c);

/* Send `total` pattern bytes starting at offset 0 as the body. */
int httpd_send_pattern(httpd_conn *c, unsigned long long total);

/* ---- the responders ---- */

int httpd_serve_static(httpd_conn *c);
/* Answer a request under /_/; 404 for an unknown one. */
int httpd_serve_fault(httpd_conn *c);
int httpd_serve_redirect(httpd_conn *c, const char *what);
int httpd_serve_name(httpd_conn *c);
int httpd_serve_any(httpd_conn *c);
int httpd_serve_html(httpd_conn *c, const char *what);
int httpd_serve_gzipbomb(httpd_conn *c);
/* /_/range/<size>: see respond_range.c. */
int httpd_serve_range(httpd_conn *c, const char *size);
/* Once what was sent has left (2 s at most, and only when err is 0), reset
 * the connection (SO_LINGER 0, close). Returns err, or the wait's error. */
int httpd_reset(httpd_conn *c, int err);
void httpd_gzipbomb_free(void);

/* ---- counter.c ---- */

/* Count a request for its decoded path and for its exact target. */
void httpd_count(const httpd_req *r);
/* A request for r's path is being answered (delta 1) or its answer is
 * over (-1): keeps how many are at once, and the most, per path and for
 * all ("*"). */
void httpd_busy(const httpd_req *r, int delta);
/* The count of key ("path:/x", "target:/x?y", "most:/x" or "most:*"). */
unsigned long long httpd_count_get(const char *key);
unsigned long long httpd_count_get_parts(const char *prefix, const char *value);
void httpd_count_free(void);

#endif
