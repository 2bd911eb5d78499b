/*
 * test_coro_stream.c - streams (asyncio's StreamReader/StreamWriter), the
 * stream server, host names looked up without blocking the loop, and a
 * task's byte result. Every stream test uses real sockets on 127.0.0.1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>

#include "coro_helpers.h"

/* ---- a server whose connection function the test picks ----------------- */

typedef struct served {
    mt_stream_fn *fn;
    int results[64]; /* what each connection's function saw, by order */
    size_t n;
    char text[256];
    size_t got;
    bool writer_done;
} served;

static served sv;

/* Start a server on 127.0.0.1 (or host) with fn for each connection. */
static mt_stream_server *serve(const char *host, mt_stream_fn *fn, const mt_stream_opts *so)
{
    memset(&sv, 0, sizeof sv);
    sv.fn = fn;
    mt_stream_server *srv = NULL;
    mt_stream_server_opts o = {.stream = so ? *so : (mt_stream_opts){0}};
    int err = mt_stream_server_new(&srv, host ? host : "127.0.0.1", 0, fn, &sv, &o);
    cr_assert_eq(err, 0, "mt_stream_server_new: %s", mt_strerror(err));
    cr_assert_gt(mt_stream_server_port(srv), 0);
    return srv;
}

/* Close the server and wait for every connection to end. */
static void unserve(mt_stream_server *srv)
{
    cr_expect_eq(mt_stream_server_close(srv), 0);
    cr_expect_eq(mt_stream_server_wait_closed(srv), 0);
    mt_stream_server_free(srv);
}

static mt_stream *dial(mt_stream_server *srv)
{
    mt_stream *s = NULL;
    int err = mt_stream_connect(&s, "127.0.0.1", mt_stream_server_port(srv), NULL);
    cr_assert_eq(err, 0, "mt_stream_connect: %s", mt_strerror(err));
    return s;
}

static void put(mt_stream *s, const char *text)
{
    cr_assert_eq(mt_stream_write(s, text, strlen(text)), 0);
}

/* ---- readexactly ------------------------------------------------------- */

/* Reads 10 bytes that come in pieces, then 10 more of which only 5 come. */
static int exactly_conn(mt_stream *s, void *arg)
{
    served *v = arg;
    char buf[16] = {0};
    size_t got = 99;
    v->results[v->n++] = mt_stream_readexactly(s, buf, 10, &got);
    cr_expect_eq(got, 10);
    cr_expect_arr_eq(buf, "0123456789", 10);
    memset(buf, 0, sizeof buf);
    v->results[v->n++] = mt_stream_readexactly(s, buf, 10, &got);
    v->got = got;
    memcpy(v->text, buf, got);
    cr_expect(mt_stream_at_eof(s));
    v->results[v->n++] = mt_stream_readexactly(s, buf, 0, &got); /* nothing asked: 0 */
    return 0;
}

static int exactly_main(void *arg)
{
    (void)arg;
    mt_stream_server *srv = serve(NULL, exactly_conn, NULL);
    mt_stream *c = dial(srv);
    put(c, "012");
    mt_co_sleep(0.02);
    put(c, "3456");
    mt_co_sleep(0.02);
    put(c, "789abcde");
    mt_co_sleep(0.02);
    cr_expect_eq(mt_stream_close(c), 0);
    cr_expect_eq(mt_stream_write(c, "x", 1), -EPIPE, "written after close");
    unserve(srv);
    mt_stream_free(c);
    cr_expect_eq(sv.n, 3);
    cr_expect_eq(sv.results[0], 0, "10 bytes in three pieces");
    cr_expect_eq(sv.results[1], MT_EOF, "the end came after 5 of 10 bytes");
    cr_expect_eq(sv.got, 5);
    cr_expect_arr_eq(sv.text, "abcde", 5);
    cr_expect_eq(sv.results[2], 0);
    return 0;
}

LEAK_TEST(coro_stream, readexactly_pieces_and_eof, .timeout = 30)
{
    cr_assert_eq(co_run(exactly_main, NULL), 0);
}

/* ---- readline and readuntil -------------------------------------------- */

static int lines_conn(mt_stream *s, void *arg)
{
    served *v = arg;
    mt_buf line = MT_BUF_INIT;
    ssize_t n;
    while ((n = mt_stream_readline(s, &line)) > 0) {
        cr_expect_eq(line.data[n], '\0', "a NUL after the line");
        size_t room = sizeof v->text - v->got - 1;
        size_t k = (size_t)n < room ? (size_t)n : room;
        memcpy(v->text + v->got, line.data, k);
        v->got += k;
        v->results[v->n++] = (int)n;
    }
    v->results[v->n++] = (int)n; /* 0 at the end */
    mt_buf_free(&line);
    return 0;
}

static int lines_main(void *arg)
{
    (void)arg;
    mt_stream_server *srv = serve(NULL, lines_conn, NULL);
    mt_stream *c = dial(srv);
    put(c, "one\ntwo\nthr");
    mt_co_sleep(0.02);
    put(c, "ee\nlast, no newline");
    mt_stream_close(c);
    unserve(srv);
    mt_stream_free(c);
    cr_expect_eq(sv.n, 5);
    cr_expect_eq(sv.results[0], 4);
    cr_expect_eq(sv.results[1], 4);
    cr_expect_eq(sv.results[2], 6, "a line split across two writes");
    cr_expect_eq(sv.results[3], 16, "the partial line at the end");
    cr_expect_eq(sv.results[4], 0);
    cr_expect_str_eq(sv.text, "one\ntwo\nthree\nlast, no newline");
    return 0;
}

LEAK_TEST(coro_stream, readline_lines_split_and_partial, .timeout = 30)
{
    cr_assert_eq(co_run(lines_main, NULL), 0);
}

/* readuntil with a two-byte separator; the end before one is MT_EOF. */
static int until_conn(mt_stream *s, void *arg)
{
    served *v = arg;
    mt_buf out = MT_BUF_INIT;
    v->results[v->n++] = (int)mt_stream_readuntil(s, &out, "\r\n", 2);
    cr_expect_str_eq(out.data, "GET / HTTP/1.0\r\n");
    v->results[v->n++] = (int)mt_stream_readuntil(s, &out, "\r\n", 2);
    cr_expect_str_eq(out.data, "Host: x\r\n", "a separator split across receives");
    v->results[v->n++] = (int)mt_stream_readuntil(s, &out, "\r\n", 2);
    cr_expect_str_eq(out.data, "tail\r");
    v->results[v->n++] = (int)mt_stream_readuntil(s, &out, "", 0);
    mt_buf_free(&out);
    return 0;
}

static int until_main(void *arg)
{
    (void)arg;
    mt_stream_server *srv = serve(NULL, until_conn, NULL);
    mt_stream *c = dial(srv);
    put(c, "GET / HTTP/1.0\r\nHost: x\r");
    mt_co_sleep(0.02);
    put(c, "\ntail\r");
    mt_stream_close(c);
    unserve(srv);
    mt_stream_free(c);
    cr_expect_eq(sv.results[0], 16);
    cr_expect_eq(sv.results[1], 9);
    cr_expect_eq(sv.results[2], MT_EOF);
    cr_expect_eq(sv.results[3], -EINVAL, "an empty separator");
    return 0;
}

LEAK_TEST(coro_stream, readuntil_separator_and_eof, .timeout = 30)
{
    cr_assert_eq(co_run(until_main, NULL), 0);
}

/* A line longer than the limit is -EMSGSIZE long before the stream is
 * all read: the sender of 64 MiB without a newline is still sending when
 * the reader gives up, and then fails as the reader hangs up. */
static int overlong_conn(mt_stream *s, void *arg)
{
    served *v = arg;
    mt_buf line = MT_BUF_INIT;
    v->results[v->n++] = (int)mt_stream_readline(s, &line);
    v->results[v->n++] = v->writer_done;
    mt_buf_free(&line);
    return 0;
}

static int overlong_writer(void *arg)
{
    mt_stream *c = arg;
    size_t len = (size_t)64 << 20;
    char *big = malloc(len);
    cr_assert(big);
    memset(big, 'x', len);
    int err = mt_stream_write(c, big, len);
    sv.writer_done = true;
    free(big);
    return err;
}

static int overlong_main(void *arg)
{
    (void)arg;
    mt_stream_server *srv = serve(NULL, overlong_conn, &(mt_stream_opts){.limit = 1024});
    mt_stream *c = dial(srv);
    mt_task *w;
    mt_task_create(&w, overlong_writer, c, NULL);
    int werr = mt_task_await(w);
    mt_task_free(w);
    unserve(srv);
    mt_stream_free(c);
    cr_expect_eq(sv.results[0], -EMSGSIZE);
    cr_expect_eq(sv.results[1], false, "the reader gave up before the writer finished");
    cr_expect(werr == -EPIPE || werr == -ECONNRESET, "the writer saw the hang-up: %s",
              mt_strerror(werr));
    return 0;
}

LEAK_TEST(coro_stream, readline_overlong_is_bounded, .timeout = 60)
{
    cr_assert_eq(co_run(overlong_main, NULL), 0);
}

/* After an overlong line readline goes on with the next; readuntil keeps
 * the bytes for mt_stream_read. */
static int overlong2_conn(mt_stream *s, void *arg)
{
    served *v = arg;
    mt_buf line = MT_BUF_INIT;
    v->results[v->n++] = (int)mt_stream_readline(s, &line);
    v->results[v->n++] = (int)mt_stream_readline(s, &line);
    cr_expect_str_eq(line.data, "ok\n");
    v->results[v->n++] = (int)mt_stream_readuntil(s, &line, ";", 1);
    char buf[64] = {0};
    v->results[v->n++] = (int)mt_stream_read(s, buf, sizeof buf - 1);
    cr_expect_str_eq(buf, "0123456789abcdefghij;", "readuntil left the bytes");
    mt_buf_free(&line);
    return 0;
}

static int overlong2_main(void *arg)
{
    (void)arg;
    mt_stream_server *srv = serve(NULL, overlong2_conn, &(mt_stream_opts){.limit = 8});
    mt_stream *c = dial(srv);
    put(c, "much too long\nok\n0123456789abcdefghij;");
    mt_co_sleep(0.05);
    mt_stream_close(c);
    unserve(srv);
    mt_stream_free(c);
    cr_expect_eq(sv.results[0], -EMSGSIZE);
    cr_expect_eq(sv.results[1], 3);
    cr_expect_eq(sv.results[2], -EMSGSIZE);
    cr_expect_eq(sv.results[3], 21);
    return 0;
}

LEAK_TEST(coro_stream, overlong_line_then_next, .timeout = 30)
{
    cr_assert_eq(co_run(overlong2_main, NULL), 0);
}

/* ---- timeouts and cancellation ----------------------------------------- */

/* A read that times out keeps what it received: the next one gets it. */
static int timeout_conn(mt_stream *s, void *arg)
{
    served *v = arg;
    char buf[10];
    size_t got = 99;
    mt_co_timeout scope;
    mt_co_timeout_begin(&scope, 0.1);
    v->results[v->n++] = mt_stream_readexactly(s, buf, 10, &got);
    mt_co_timeout_end(&scope);
    cr_expect_eq(got, 0);
    v->results[v->n++] = mt_stream_write(s, "go", 2);
    v->results[v->n++] = mt_stream_readexactly(s, buf, 10, &got);
    memcpy(v->text, buf, 10);
    return 0;
}

static int timeout_main(void *arg)
{
    (void)arg;
    mt_stream_server *srv = serve(NULL, timeout_conn, NULL);
    mt_stream *c = dial(srv);
    put(c, "01234");
    char go[2];
    cr_expect_eq(mt_stream_readexactly(c, go, 2, NULL), 0);
    put(c, "56789");
    unserve(srv);
    mt_stream_free(c);
    cr_expect_eq(sv.results[0], -ETIMEDOUT);
    cr_expect_eq(sv.results[1], 0);
    cr_expect_eq(sv.results[2], 0);
    cr_expect_arr_eq(sv.text, "0123456789", 10, "nothing lost by the timeout");
    return 0;
}

LEAK_TEST(coro_stream, read_timeout_loses_nothing, .timeout = 30)
{
    cr_assert_eq(co_run(timeout_main, NULL), 0);
}

static int blocked_reader(void *arg)
{
    mt_buf line = MT_BUF_INIT;
    ssize_t n = mt_stream_readline(arg, &line);
    mt_buf_free(&line);
    return (int)n;
}

static int idle_conn(mt_stream *s, void *arg)
{
    (void)arg;
    char c;
    return (int)mt_stream_read(s, &c, 1); /* until the client goes */
}

static int cancel_main(void *arg)
{
    (void)arg;
    mt_stream_server *srv = serve(NULL, idle_conn, NULL);
    mt_stream *c = dial(srv);
    mt_task *r, *r2;
    mt_task_create(&r, blocked_reader, c, NULL);
    mt_co_sleep(0.02);
    mt_task_create(&r2, blocked_reader, c, NULL);
    cr_expect_eq(mt_task_await(r2), -EBUSY, "a second reader at once");
    cr_expect_eq(mt_task_cancel(r), 0);
    cr_expect_eq(mt_task_await(r), -ECANCELED);
    cr_expect_eq(mt_task_cancel(r), -EBUSY);
    release_all((mt_task *[]){r, r2}, 2);
    mt_stream_free(c);
    unserve(srv);
    return 0;
}

LEAK_TEST(coro_stream, read_cancelled, .timeout = 30)
{
    cr_assert_eq(co_run(cancel_main, NULL), 0);
}

/* ---- the server with many clients -------------------------------------- */

/* Upper-cases each line until the client ends. */
static int upper_conn(mt_stream *s, void *arg)
{
    (void)arg;
    mt_buf line = MT_BUF_INIT;
    ssize_t n;
    int err = 0;
    while (!err && (n = mt_stream_readline(s, &line)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            line.data[i] = (char)toupper((unsigned char)line.data[i]);
        err = mt_stream_write(s, line.data, (size_t)n);
    }
    mt_buf_free(&line);
    return err;
}

typedef struct client {
    int port;
    int id;
} client;

static int client_main(void *arg)
{
    client *cl = arg;
    mt_stream *s;
    int err = mt_stream_connect(&s, "127.0.0.1", cl->port, NULL);
    if (err)
        return err;
    mt_buf line = MT_BUF_INIT;
    int ok = 0;
    for (int i = 0; i < 10; i++) {
        char msg[64], want[64];
        snprintf(msg, sizeof msg, "client %d line %d\n", cl->id, i);
        snprintf(want, sizeof want, "CLIENT %d LINE %d\n", cl->id, i);
        if (mt_stream_write(s, msg, strlen(msg)) != 0)
            break;
        if (mt_stream_readline(s, &line) <= 0 || strcmp(line.data, want) != 0)
            break;
        ok++;
    }
    mt_buf_free(&line);
    mt_stream_free(s);
    return ok;
}

static int many_main(void *arg)
{
    (void)arg;
    mt_stream_server *srv = serve(NULL, upper_conn, NULL);
    enum { N = 40 };
    client cls[N];
    mt_task *ts[N];
    int results[N];
    for (int i = 0; i < N; i++) {
        cls[i] = (client){.port = mt_stream_server_port(srv), .id = i};
        mt_task_create(&ts[i], client_main, &cls[i], NULL);
    }
    cr_expect_eq(mt_co_gather(ts, N, results, NULL), 0);
    for (int i = 0; i < N; i++)
        cr_expect_eq(results[i], 10, "client %d: %d lines echoed", i, results[i]);
    release_all(ts, N);
    unserve(srv);
    /* Closed: nobody is accepted any more. */
    mt_stream *s;
    cr_expect_eq(mt_stream_connect(&s, "127.0.0.1", cls[0].port, NULL), -ECONNREFUSED);
    return 0;
}

LEAK_TEST(coro_stream, server_serves_many_clients, .timeout = 60)
{
    cr_assert_eq(co_run(many_main, NULL), 0);
}

/* Freeing a server with connections still open cancels them; nothing is
 * left behind once the loop has run them to their end. */
static int free_main(void *arg)
{
    (void)arg;
    mt_stream_server *srv = serve(NULL, idle_conn, NULL);
    mt_stream *c1 = dial(srv), *c2 = dial(srv);
    mt_co_sleep(0.02);
    mt_stream_server_free(srv);
    char ch;
    cr_expect_eq(mt_stream_read(c1, &ch, 1), 0, "the server's side closed");
    cr_expect_eq(mt_stream_read(c2, &ch, 1), 0);
    mt_stream_free(c1);
    mt_stream_free(c2);
    return 0;
}

LEAK_TEST(coro_stream, server_free_cancels_connections, .timeout = 30)
{
    cr_assert_eq(co_run(free_main, NULL), 0);
    cr_expect_eq(co_reports[0], '\0', "no report: %s", co_reports);
}

/* A task waiting in wait_closed while another frees the server wakes to a
 * server that is still there (it read freed memory: ASan's
 * heap-use-after-free). */
static int wait_closed_of(void *arg)
{
    return mt_stream_server_wait_closed(arg);
}

static int free_while_waited_main(void *arg)
{
    (void)arg;
    mt_stream_server *srv = serve(NULL, idle_conn, NULL);
    mt_stream *c = dial(srv);
    mt_task *waiter;
    cr_assert_eq(mt_task_create(&waiter, wait_closed_of, srv, NULL), 0);
    mt_co_sleep(0.02); /* the waiter waits, the connection is served */
    mt_stream_server_free(srv);
    cr_expect_eq(mt_task_await(waiter), 0);
    mt_task_free(waiter);
    mt_stream_free(c);
    return 0;
}

LEAK_TEST(coro_stream, server_freed_while_a_task_waits_for_its_close, .timeout = 30)
{
    cr_assert_eq(co_run(free_while_waited_main, NULL), 0);
}

/* ---- host names -------------------------------------------------------- */

static int localhost_main(void *arg)
{
    (void)arg;
    struct addrinfo *res = NULL;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    cr_assert_eq(mt_co_getaddrinfo(&res, "localhost", "80", &hints), 0);
    cr_assert(res);
    struct sockaddr_in *in = (struct sockaddr_in *)res->ai_addr;
    cr_expect_eq(ntohl(in->sin_addr.s_addr) >> 24, 127, "localhost is a loopback address");
    cr_expect_eq(ntohs(in->sin_port), 80);
    freeaddrinfo(res);

    mt_stream_server *srv = serve("localhost", upper_conn, NULL);
    mt_stream *c;
    int err = mt_stream_connect(&c, "localhost", mt_stream_server_port(srv), NULL);
    cr_assert_eq(err, 0, "%s", mt_strerror(err));
    put(c, "by name\n");
    mt_buf line = MT_BUF_INIT;
    cr_expect_eq(mt_stream_readline(c, &line), 8);
    cr_expect_str_eq(line.data, "BY NAME\n");
    mt_buf_free(&line);
    mt_stream_free(c);
    unserve(srv);
    return 0;
}

LEAK_TEST(coro_stream, localhost_resolves, .timeout = 30)
{
    cr_assert_eq(co_run(localhost_main, NULL), 0);
}

static int unknown_main(void *arg)
{
    (void)arg;
    mt_stream *s = NULL;
    int err = mt_stream_connect(&s, "no-such-host.invalid", 80, NULL);
    cr_expect(err == MT_ENOHOST || err == -EAGAIN, "an unknown host: %s (%d)", mt_strerror(err),
              err);
    cr_expect_null(s);
    int fd = -1;
    err = mt_co_tcp_listen(&fd, "no-such-host.invalid", 0, 0);
    cr_expect(err == MT_ENOHOST || err == -EAGAIN, "listen on an unknown host: %s",
              mt_strerror(err));
    cr_expect_eq(fd, -1);
    return 0;
}

LEAK_TEST(coro_stream, unknown_host_is_clear, .timeout = 60)
{
    cr_assert_eq(co_run(unknown_main, NULL), 0);
    /* Outside a loop a name is looked up directly. */
    int fd = -1;
    cr_expect_eq(mt_co_tcp_listen(&fd, "localhost", 0, 0), 0);
    cr_expect_gt(mt_co_sock_port(fd), 0);
    close(fd);
    fd = -1;
    int err = mt_co_tcp_listen(&fd, "no-such-host.invalid", 0, 0);
    cr_expect(err == MT_ENOHOST || err == -EAGAIN, "%s", mt_strerror(err));
    cr_expect_eq(fd, -1);
    cr_expect_str_eq(mt_err_name(MT_ENOHOST), "MT_ENOHOST");
    cr_expect_str_eq(mt_strerror(MT_ENOHOST), "host name not known");
}

/* A lookup abandoned by its task (cancelled) frees itself when it ends. */
static int lookup_task(void *arg)
{
    (void)arg;
    struct addrinfo *res = NULL;
    int err = mt_co_getaddrinfo(&res, "localhost", "80", NULL);
    if (res)
        freeaddrinfo(res);
    return err;
}

static int lookup_cancel_main(void *arg)
{
    (void)arg;
    mt_task *t;
    mt_task_create(&t, lookup_task, NULL, NULL);
    mt_co_yield(); /* it starts its lookup and waits */
    mt_task_cancel(t);
    cr_expect_eq(mt_task_await(t), -ECANCELED);
    mt_task_free(t);
    cr_expect_eq(mt_co_getaddrinfo(NULL, "localhost", NULL, NULL), -EINVAL);
    cr_expect_eq(mt_co_getaddrinfo(&(struct addrinfo *){NULL}, NULL, NULL, NULL), -EINVAL);
    return 0;
}

LEAK_TEST(coro_stream, lookup_cancelled, .timeout = 30)
{
    cr_assert_eq(co_run(lookup_cancel_main, NULL), 0);
}

/* ---- a task's byte result ---------------------------------------------- */

static int big_result(void *arg)
{
    size_t n = (size_t)arg;
    mt_buf *out, *again;
    cr_assert_eq(mt_task_result_buf(&out), 0);
    cr_assert_eq(mt_task_result_buf(&again), 0);
    cr_expect_eq(out, again, "one buffer per task");
    mt_co_yield();
    for (size_t i = 0; i < n; i++) {
        char c = (char)('a' + i % 26);
        if (mt_buf_append(out, &c, 1))
            return -ENOMEM;
    }
    return 7;
}

static int bytes_main(void *arg)
{
    (void)arg;
    size_t n = 100000;
    mt_task *t, *sh, *none;
    mt_task_create(&t, big_result, (void *)n, NULL);
    mt_task_create(&sh, big_result, (void *)(size_t)3, &(mt_task_opts){.stack = MT_STACK_SHARED});
    mt_task_create(&none, co_nothing, NULL, NULL);
    mt_iov v;
    cr_expect_eq(mt_task_result_bytes(t, &v), -EAGAIN, "pending");
    cr_expect_null(v.data);
    mt_buf b = MT_BUF_INIT;
    cr_expect_eq(mt_task_take(t, &b), -EAGAIN);
    cr_expect_eq(mt_task_await(t), 7, "the int result still works");
    cr_expect_eq(mt_task_result_bytes(t, &v), 7);
    cr_expect_eq(v.len, n);
    cr_expect_eq(((const char *)v.data)[n - 1], (char)('a' + (n - 1) % 26));
    cr_expect_eq(mt_task_take(t, &b), 7);
    cr_expect_eq(b.len, n);
    cr_expect_eq(b.data[27], 'b');
    cr_expect_eq(mt_task_result_bytes(t, &v), 7);
    cr_expect_eq(v.len, 0, "taken: nothing left");
    cr_expect_eq(mt_task_await(sh), 7);
    cr_expect_eq(mt_task_take(sh, &b), 7);
    cr_expect_eq(b.len, 3);
    cr_expect_arr_eq(b.data, "abc", 3);
    cr_expect_eq(mt_task_await(none), 0);
    cr_expect_eq(mt_task_take(none, &b), 0);
    cr_expect_eq(b.len, 0, "no bytes stored");
    cr_expect_eq(mt_task_take(NULL, &b), -EINVAL);
    mt_buf_free(&b);
    release_all((mt_task *[]){t, sh, none}, 3);
    /* A detached task's bytes are freed with it (ASan's leak check). */
    mt_task_create(NULL, big_result, (void *)(size_t)10, NULL);
    mt_co_sleep(0.01);
    return 0;
}

LEAK_TEST(coro_stream, task_byte_result, .timeout = 30)
{
    cr_assert_eq(co_run(bytes_main, NULL), 0);
    mt_buf *out;
    cr_expect_eq(mt_task_result_buf(&out), MT_ENOTCORO);
}

/* ---- a stream over a pipe ---------------------------------------------- */

static int pipe_writer_task(void *arg)
{
    int fd = *(int *)arg;
    mt_stream *w;
    int err = mt_stream_new(&w, fd, NULL);
    if (err)
        return err;
    for (int i = 0; i < 3 && !err; i++) {
        err = mt_stream_write(w, "ab\n", 3);
        mt_co_sleep(0.01);
    }
    cr_expect_eq(mt_stream_close(w), -ENOTSOCK, "a pipe has no half-close");
    mt_stream_free(w); /* the end of the stream for the reader */
    return err;
}

static int pipe_main(void *arg)
{
    int *fds = arg;
    mt_stream *r;
    cr_assert_eq(mt_stream_new(&r, fds[0], NULL), 0);
    mt_task *w;
    mt_task_create(&w, pipe_writer_task, &fds[1], NULL);
    mt_buf line = MT_BUF_INIT;
    int lines = 0;
    ssize_t n;
    while ((n = mt_stream_readline(r, &line)) > 0) {
        cr_expect_str_eq(line.data, "ab\n");
        lines++;
    }
    cr_expect_eq(n, 0);
    cr_expect_eq(lines, 3);
    cr_expect(mt_stream_at_eof(r));
    cr_expect_eq(mt_task_await(w), 0);
    mt_task_free(w);
    mt_buf_free(&line);
    mt_stream_free(r);
    return 0;
}

LEAK_TEST(coro_stream, stream_over_a_pipe, .timeout = 30)
{
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    cr_assert_eq(co_run(pipe_main, fds), 0);
    mt_stream *s;
    cr_expect_eq(mt_stream_new(&s, -1, NULL), -EINVAL);
    cr_expect_eq(mt_stream_new(&s, 1000000, NULL), -EBADF);
}

/* ---- large transfers: the buffer grows for readexactly, and a large
 * read goes straight to the caller's memory ---------------------------- */

#define BIG ((size_t)1 << 20)

static int big_conn(mt_stream *s, void *arg)
{
    served *v = arg;
    char *buf = malloc(BIG);
    cr_assert(buf);
    v->results[v->n++] = mt_stream_readexactly(s, buf, BIG, NULL);
    size_t bad = 0;
    for (size_t i = 0; i < BIG; i++)
        bad += buf[i] != (char)(i * 7);
    v->results[v->n++] = (int)bad;
    size_t total = 0;
    ssize_t n;
    while ((n = mt_stream_read(s, buf, BIG)) > 0) { /* 16 KiB and more: no copy */
        for (ssize_t i = 0; i < n; i++)
            bad += buf[i] != (char)((total + (size_t)i) * 3);
        total += (size_t)n;
    }
    v->results[v->n++] = (int)n;
    v->results[v->n++] = (int)bad;
    v->got = total;
    free(buf);
    return 0;
}

static int big_main(void *arg)
{
    (void)arg;
    mt_stream_server *srv = serve(NULL, big_conn, NULL);
    mt_stream *c = dial(srv);
    char *data = malloc(BIG);
    cr_assert(data);
    for (size_t i = 0; i < BIG; i++)
        data[i] = (char)(i * 7);
    cr_expect_eq(mt_stream_write(c, data, BIG), 0);
    for (size_t i = 0; i < BIG; i++)
        data[i] = (char)(i * 3);
    cr_expect_eq(mt_stream_write(c, data, BIG), 0);
    cr_expect_eq(mt_stream_close(c), 0);
    free(data);
    unserve(srv);
    mt_stream_free(c);
    cr_expect_eq(sv.results[0], 0);
    cr_expect_eq(sv.results[1], 0, "readexactly's bytes");
    cr_expect_eq(sv.results[2], 0, "read ends at the end");
    cr_expect_eq(sv.results[3], 0, "read's bytes");
    cr_expect_eq(sv.got, BIG);
    return 0;
}

LEAK_TEST(coro_stream, large_transfers, .timeout = 60)
{
    cr_assert_eq(co_run(big_main, NULL), 0);
}
