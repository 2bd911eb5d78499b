/*
 * tls.c - the connection's bytes, in clear or through TLS (OpenSSL) when
 * the server was started with --tls-cert and --tls-key. TLS runs on the
 * same non-blocking socket: when OpenSSL wants to read or write, the
 * connection's coroutine waits for the socket (mt_co_wait_fd), so the
 * timeout scopes around the calls bound a handshake, a read or a write as
 * they bound the clear ones. ALPN: "http/1.1" only (no HTTP/2 here).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>

#include "multitask/coro.h"

#include "httpd.h"

static SSL_CTX *ctx;

/* ALPN: only HTTP/1.1 is offered; a client that does not ask gets it too. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl, (void)arg;
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof ours - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

int httpd_tls_setup(const char *cert, const char *key)
{
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char msg[256];
        ERR_error_string_n(ERR_get_error(), msg, sizeof msg);
        fprintf(stderr, "mt-test-httpd: TLS: %s\n", msg);
        httpd_tls_free();
        return -1;
    }
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
    return 0;
}

void httpd_tls_free(void)
{
    SSL_CTX_free(ctx);
    ctx = NULL;
}

/* Wait for what OpenSSL asked for after a call returned `ret`: 0 to call
 * again, -EPIPE when the peer closed, another negative code on failure. */
static int tls_wait(httpd_conn *c, int ret)
{
    int e = SSL_get_error(c->tls, ret);
    int r;
    switch (e) {
    case SSL_ERROR_WANT_READ:
        r = mt_co_wait_fd(c->fd, MT_READABLE, MT_FOREVER);
        return r > 0 ? 0 : r;
    case SSL_ERROR_WANT_WRITE:
        r = mt_co_wait_fd(c->fd, MT_WRITABLE, MT_FOREVER);
        return r > 0 ? 0 : r;
    case SSL_ERROR_ZERO_RETURN:
        return -EPIPE;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        return errno ? -errno : -EPIPE;
    default:
        ERR_clear_error();
        return -EPROTO;
    }
}

int httpd_conn_start(httpd_conn *c)
{
    if (!ctx)
        return 0;
    c->tls = SSL_new(ctx);
    if (!c->tls || SSL_set_fd(c->tls, c->fd) != 1)
        return -ENOMEM;
    mt_co_timeout scope;
    mt_co_timeout_begin(&scope, httpd_cfg.idle);
    int err = 0, ret;
    while (!err && (ret = SSL_accept(c->tls)) != 1)
        err = tls_wait(c, ret);
    mt_co_timeout_end(&scope);
    return err;
}

ssize_t httpd_conn_recv(httpd_conn *c, void *buf, size_t len)
{
    if (!c->tls)
        return mt_co_sock_recv(c->fd, buf, len);
    for (;;) {
        int n = SSL_read(c->tls, buf, len > INT_MAX ? INT_MAX : (int)len);
        if (n > 0)
            return n;
        int err = tls_wait(c, n);
        if (err == -EPIPE)
            return 0; /* close_notify, or the peer just left */
        if (err)
            return err;
    }
}

int httpd_conn_send(httpd_conn *c, const void *data, size_t len)
{
    if (!c->tls)
        return mt_co_sock_sendall(c->fd, data, len);
    const char *p = data;
    while (len) {
        int n = SSL_write(c->tls, p, len > INT_MAX ? INT_MAX : (int)len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        int err = tls_wait(c, n);
        if (err)
            return err;
    }
    return 0;
}

void httpd_conn_end(httpd_conn *c)
{
    if (!c->tls)
        return;
    if (c->fd >= 0 && !c->aborted)
        SSL_shutdown(c->tls); /* one try: a close_notify if it fits */
    SSL_free(c->tls);
    c->tls = NULL;
    ERR_clear_error();
}
