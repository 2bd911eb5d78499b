/*
 * main.c - mt-test-httpd: the HTTP/1.1 server the tests start on
 * 127.0.0.1. It serves the files of a docroot and misbehaves on request
 * under /_/ (see respond_faults.c and respond_generated.c), one coroutine
 * per connection, keep-alive and pipelining included.
 *
 *   mt-test-httpd --root DIR [--port N] [--host H] [--log FILE|-]
 *                 [--idle S] [--send-timeout S] [--stall-max S] [--cap BYTES]
 *                 [--parent PID] [--stop-on-stdin] [--tls-cert FILE --tls-key FILE]
 *
 * With --tls-cert (a PEM certificate chain, the server's first) and
 * --tls-key (its PEM key) it speaks HTTPS instead, HTTP/1.1 only (ALPN
 * "http/1.1"): the same routes, behind a TLS handshake made within --idle.
 * Once it listens it prints "port N" on a line of its own to stdout; it
 * stops on SIGTERM or SIGINT, closing every connection, and exits 0; with
 * --stop-on-stdin, also when its standard input becomes readable (a byte,
 * or its end): the tests' way, since under ThreadSanitizer a signal to a
 * loop is sometimes never seen.
 * --log writes one line a request (to stdout with "-"):
 *   METHOD TARGET RANGE STATUS BODY-BYTES        ("-" for what is missing)
 *
 * Files: GET and HEAD of DIR's files (index.html for a directory), ETag,
 * Last-Modified, one byte range (206; 416 beyond the end) while If-Range
 * matches, If-None-Match (304); "." and ".." segments get 403; ?rate=B
 * sends a file at B bytes/s, ?cut=N closes after N bytes of its body.
 * Misbehaviour (generated bodies are the pattern 'a' + offset % 26; each
 * route also takes ?delay-ms=D, a wait before the response head):
 *   /_/status/NNN?retry-after=S&retry-after-date=S|DATE  any status 200..599
 *   /_/slow?bytes=N&rate=B          N bytes at B bytes/s
 *   /_/flaky?fail=K&status=S&retry-after=R&bytes=N
 *                                   S (503) for the first K requests of
 *                                   this target, then N bytes
 *   /_/stall?after=N&bytes=T        claims T bytes, sends N, then nothing
 *   /_/reset?after=N&bytes=T        claims T, sends N, then an RST
 *   /_/short?claim=N&send=M         Content-Length N, M bytes, then FIN
 *   /_/badchunk?kind=hex|overflow|crlf|truncated   "hello", then bad framing
 *   /_/chunked?bytes=N&chunk=C      a correct chunked body
 *   /_/endless?chunk=C              chunks until the client leaves or --cap
 *   /_/gzipbomb?mb=M                gzip of M MiB (1024) of zeros, ~M KiB
 *   /_/redirect?n=K&to=URL&code=C   K redirects, then to URL (or a 200)
 *   /_/loop?len=L                   a cycle of L redirects
 *   /_/redirect-scheme?to=URL       a redirect to URL (file:///etc/passwd)
 *   /_/name?cd=VALUE | ?filename=N  that Content-Disposition, &bytes=N body
 *   /_/any/<anything>?bytes=N       N bytes under any name
 *   /_/html/deep?n=N                N nested divs around a link
 *   /_/html/huge?mb=M               an image list page of M MiB
 *   /_/count?path=P | ?target=T     requests received for a decoded path or
 *                                   an exact target ("/_/count" itself not)
 *   /_/count?most=P | ?most=*       the most requests for path P (for any
 *                                   path) answered at once, from the head
 *                                   read to the response's end
 *   /_/range/<size>?etag=E&lm=DATE&ignore=1&shift=K&multipart=1&reset=N
 *                                   <size> pattern bytes honouring one Range
 *                                   (206, 416) while If-Range matches; or
 *                                   ignoring it, a 206 starting K bytes late,
 *                                   a multipart 206, a reset after N bytes
 *                                   on the first request of the target
 * Bounds: request line 8 KiB (414), head 32 KiB or 100 fields (431),
 * request bodies 64 KiB (413), a head must come within --idle seconds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "multitask/coro.h"

#include "httpd.h"

httpd_config httpd_cfg = {
    .rootfd = -1,
    .idle = 10,
    .send_timeout = 30,
    .stall_max = 300,
    .cap = 1ULL << 30,
};

static int listen_fd = -1;
static int nconns;
static bool stopping;

/* Read and drop a request body (bounded), so the next request can follow. */
static int drop_body(httpd_conn *c)
{
    long long left = c->req.content_length;
    if (left <= 0)
        return 0;
    if (left > HTTPD_MAX_BODY)
        return 413;
    size_t have = c->in_len - c->head_len;
    size_t take = (long long)have < left ? have : (size_t)left;
    c->head_len += take; /* consumed with the head */
    left -= (long long)take;
    mt_co_timeout scope;
    mt_co_timeout_begin(&scope, httpd_cfg.idle);
    while (left > 0) {
        ssize_t n = httpd_conn_recv(c, c->buf, (size_t)(left < HTTPD_BUF ? left : HTTPD_BUF));
        if (n <= 0)
            break;
        left -= n;
    }
    mt_co_timeout_end(&scope);
    return left > 0 ? 400 : 0;
}

/* Answer one request whose head is in c->in; 0 to go on with the next. */
static int serve_one(httpd_conn *c, int status)
{
    if (status == 0)
        status = httpd_parse_head(c);
    if (status == 0)
        status = drop_body(c);
    if (status) {
        c->close = true;
        char text[64];
        snprintf(text, sizeof text, "%s\n", httpd_reason(status));
        httpd_reply_text(c, status, status == 405 ? "Allow: GET, HEAD\r\n" : NULL, text);
        httpd_log(c);
        return -1;
    }
    bool counted = strcmp(c->req.path, "/_/count") != 0;
    if (counted) {
        httpd_count(&c->req);
        httpd_busy(&c->req, 1);
    }
    int err = strncmp(c->req.path, "/_/", 3) == 0 ? httpd_serve_fault(c) : httpd_serve_static(c);
    if (counted)
        httpd_busy(&c->req, -1);
    httpd_log(c);
    return err || c->close || c->aborted ? -1 : 0;
}

/* Close gracefully: stop sending, then read what the client still sends
 * (a while, a few MiB at most), so that unread bytes do not turn the close
 * into a reset that could destroy the response before the client reads it. */
static void close_conn(httpd_conn *c)
{
    httpd_conn_end(c);
    if (c->fd < 0)
        return;
    shutdown(c->fd, SHUT_WR);
    mt_co_timeout scope;
    mt_co_timeout_begin(&scope, 2.0);
    for (size_t total = 0; total < 4u << 20;) {
        ssize_t n = mt_co_sock_recv(c->fd, c->buf, HTTPD_BUF);
        if (n <= 0)
            break;
        total += (size_t)n;
    }
    mt_co_timeout_end(&scope);
    mt_co_close(c->fd);
    c->fd = -1;
}

static int conn_main(void *arg)
{
    httpd_conn *c = arg;
    bool up = httpd_conn_start(c) == 0; /* the TLS handshake, if any, made */
    while (up) {
        c->status = 0;
        c->sent = 0;
        c->chunked = c->close = false;
        c->req.method = c->req.target = c->req.query = "";
        c->req.path[0] = '\0';
        c->req.nheaders = 0;
        c->req.keep_alive = c->req.head = false;
        int status = httpd_read_head(c);
        if (status < 0 || serve_one(c, status) != 0)
            break;
        memmove(c->in, c->in + c->head_len, c->in_len - c->head_len);
        c->in_len -= c->head_len;
    }
    close_conn(c);
    free(c);
    nconns--;
    return 0;
}

static void stop_serving(void)
{
    stopping = true;
    mt_co_close(listen_fd); /* wakes the accepting loop */
    listen_fd = -1;
}

static int stop_on_stdin(void *arg)
{
    (void)arg;
    if (mt_co_wait_fd(STDIN_FILENO, MT_READABLE, MT_FOREVER) > 0 && !stopping)
        stop_serving();
    return 0;
}

static int stop_on_signal(void *arg)
{
    int sig = (int)(intptr_t)arg;
    if (mt_co_wait_signal(sig, MT_FOREVER) == sig && !stopping)
        stop_serving();
    return 0;
}

static bool stdin_stops;

static int server_main(void *arg)
{
    (void)arg;
    static const mt_task_opts conn_opts = {.name = "connection", .stack_size = 256 * 1024};
    mt_task_create(NULL, stop_on_signal, (void *)(intptr_t)SIGTERM, NULL);
    mt_task_create(NULL, stop_on_signal, (void *)(intptr_t)SIGINT, NULL);
    if (stdin_stops)
        mt_task_create(NULL, stop_on_stdin, NULL, NULL);
    mt_co_yield(); /* the signal handlers are in place: now say where we are */
    printf("port %d\n", mt_co_sock_port(listen_fd));
    fflush(stdout);
    while (!stopping) {
        int fd;
        int err = mt_co_sock_accept(listen_fd, &fd);
        if (err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM) {
            mt_co_sleep(0.05);
            continue;
        }
        if (err)
            break;
        httpd_conn *c = nconns < HTTPD_MAX_CONNS ? malloc(sizeof *c) : NULL;
        if (!c) {
            mt_co_close(fd);
            continue;
        }
        memset(c, 0, offsetof(httpd_conn, buf));
        c->fd = fd;
        if (mt_task_create(NULL, conn_main, c, &conn_opts) != 0) {
            mt_co_close(fd);
            free(c);
            continue;
        }
        nconns++;
    }
    return 0;
}

/* The loop's reports: the connections cancelled when the server stops are
 * expected; anything else goes to stderr. */
static void report(const char *line, void *arg)
{
    (void)arg;
    if (!stopping)
        fprintf(stderr, "mt-test-httpd: %s\n", line);
}

static void usage(FILE *to)
{
    fprintf(to, "usage: mt-test-httpd --root DIR [--port N] [--host H] [--log FILE|-]\n"
                "         [--idle S] [--send-timeout S] [--stall-max S] [--cap BYTES]\n"
                "         [--parent PID] [--stop-on-stdin] [--tls-cert FILE --tls-key FILE]\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"root", required_argument, NULL, 'r'},  {"port", required_argument, NULL, 'p'},
        {"host", required_argument, NULL, 'H'},  {"log", required_argument, NULL, 'l'},
        {"idle", required_argument, NULL, 'i'},  {"send-timeout", required_argument, NULL, 's'},
        {"stall-max", required_argument, NULL, 'S'}, {"cap", required_argument, NULL, 'c'},
        {"parent", required_argument, NULL, 'P'}, {"help", no_argument, NULL, 'h'},
        {"tls-cert", required_argument, NULL, 'C'}, {"tls-key", required_argument, NULL, 'K'},
        {"stop-on-stdin", no_argument, NULL, 'I'},
        {NULL, 0, NULL, 0},
    };
    const char *root = NULL, *host = "127.0.0.1", *log = NULL, *cert = NULL, *key = NULL;
    int port = 0, parent = 0, opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'r': root = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'H': host = optarg; break;
        case 'l': log = optarg; break;
        case 'i': httpd_cfg.idle = atof(optarg); break;
        case 's': httpd_cfg.send_timeout = atof(optarg); break;
        case 'S': httpd_cfg.stall_max = atof(optarg); break;
        case 'c': httpd_cfg.cap = strtoull(optarg, NULL, 10); break;
        case 'P': parent = atoi(optarg); break;
        case 'C': cert = optarg; break;
        case 'K': key = optarg; break;
        case 'I': stdin_stops = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!root || optind != argc || !(httpd_cfg.idle > 0) || !(httpd_cfg.send_timeout > 0) ||
        !(httpd_cfg.stall_max > 0) || !cert != !key) {
        usage(stderr);
        return 2;
    }
    /* A test that dies before it stops the server must not leave it behind:
     * with --parent it gets SIGTERM when that process ends. */
    if (parent && (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent))
        return 0;
    signal(SIGPIPE, SIG_IGN);
    if (cert && httpd_tls_setup(cert, key) != 0)
        return 1;
    httpd_cfg.rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (httpd_cfg.rootfd < 0) {
        fprintf(stderr, "mt-test-httpd: cannot open '%s': %s\n", root, strerror(errno));
        return 1;
    }
    if (log)
        httpd_cfg.log = strcmp(log, "-") == 0 ? stdout : fopen(log, "ae");
    int err = httpd_cfg.log || !log ? mt_co_tcp_listen(&listen_fd, host, port, 0) : -errno;
    if (err == 0)
        err = mt_run(server_main, NULL, &(mt_run_opts){.report = report});
    if (err < 0)
        fprintf(stderr, "mt-test-httpd: %s\n", mt_strerror(err));
    if (listen_fd >= 0)
        mt_co_close(listen_fd);
    if (httpd_cfg.log && httpd_cfg.log != stdout)
        fclose(httpd_cfg.log);
    close(httpd_cfg.rootfd);
    httpd_count_free();
    httpd_gzipbomb_free();
    httpd_tls_free();
    return err < 0;
}
