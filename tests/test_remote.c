/*
 * test_remote.c - mt_dict and mt_list on a Redis server (redis:// names),
 * against a redis-server each test starts (redis_server.h): the names'
 * grammar, every call compared with the same calls on a local object,
 * counters, cas and modify raced by processes with the counts checked,
 * batches, passwords, keys that are not ours, the server killed and
 * restarted mid-run, and connections killed mid-command.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "helpers.h"
#include "remote_helpers.h"

/* ------------------------------------------------------------- helpers */

static void sleep_s(double s)
{
    mt_sleep(s);
}

/* ---------------------------------------------------------- the names */

/* Forms that are no server name: -EINVAL at once, before any connection. */
LEAK_TEST(remote, bad_names, .timeout = 30)
{
    static const char *bad[] = {
        "redis://",                       /* nothing */
        "redis://host",                   /* no NAME */
        "redis://host/",                  /* empty NAME */
        "redis://host//NAME",             /* empty db */
        "redis://host/x/NAME",            /* db not a number */
        "redis://host/-1/NAME",           /* negative db */
        "redis://host/1234567890/NAME",   /* db too long */
        "redis://host/0/a/NAME",          /* a '/' in NAME */
        "redis://host:/NAME",             /* empty port */
        "redis://host:0/NAME",            /* port 0 */
        "redis://host:65536/NAME",        /* port too big */
        "redis://host:6x/NAME",           /* port not a number */
        "redis://-host/NAME",             /* host starts with '-' */
        "redis://ho_st/NAME",             /* '_' in a host */
        "redis://[::1/NAME",              /* unclosed bracket */
        "redis://[::1]x/NAME",            /* junk after the bracket */
        "redis://[]/NAME",                /* empty address */
        "redis://user@host/NAME",         /* user without password */
        "redis://user:@host/NAME",        /* empty password */
        "redis://a:b@c@host/NAME",        /* a raw '@' in the user part */
        "redis://a:%zz@host/NAME",        /* bad escape */
        "redis://a:%00@host/NAME",        /* NUL escaped */
        "redis://a:%4@host/NAME",         /* short escape */
        "redis://host/.hidden",           /* NAME starting with '.' */
        "redis://host/na me",             /* space in NAME */
        "redis://host/na%20me",           /* escapes are not NAME's */
        "redis://host/na{me}",            /* braces in NAME */
        "redis+unix://",                  /* nothing */
        "redis+unix://sock/NAME",         /* relative socket path */
        "redis+unix:///NAME",             /* no socket */
        "redis+unix:///tmp/s/",           /* no NAME */
        "redis+unix:///tmp//s/NAME",      /* empty path part */
        "redis+unix:///tmp/s/NAME?db=",   /* empty db */
        "redis+unix:///tmp/s/NAME?db=x",  /* db not a number */
        "redis+unix:///tmp/s/NAME?dbx=1", /* another query */
        "redis+unix://u@/tmp/s/NAME",     /* user without password */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mt_dict *d = NULL;
        int err = mt_dict_open(&d, bad[i], NULL);
        cr_expect_eq(err, -EINVAL, "'%s': %s", bad[i], mt_err_name(err));
        cr_expect_null(d);
        mt_list *l = NULL;
        cr_expect_eq(mt_list_open(&l, bad[i], NULL), -EINVAL, "'%s' as a list", bad[i]);
        cr_expect_eq(mt_shared_unlink(bad[i]), -EINVAL, "'%s' unlinked", bad[i]);
    }
    char longname[300];
    memset(longname, 'a', sizeof longname);
    snprintf(longname, sizeof longname, "redis://host/%0201d", 0);
    mt_dict *d = NULL;
    cr_expect_eq(mt_dict_open(&d, longname, NULL), -EINVAL, "a NAME of 201 bytes");
    /* TLS: Debian 12's hiredis has none */
    cr_expect_eq(mt_dict_open(&d, "rediss://host/NAME", NULL), -EPROTONOSUPPORT);
    mt_shared_opts nan_timeout = {.timeout = NAN};
    cr_expect_eq(mt_dict_open(&d, "redis://127.0.0.1/NAME", &nan_timeout), -EINVAL);
}

/* Every good form reaches the server: socket, port, db, names, users. */
LEAK_TEST(remote, good_names, .timeout = 30)
{
    test_redis s;
    const char *extra[] = {"--user", "alice", "on", ">p@ss:w/rd", "~*", "&*", "+@all", NULL};
    test_redis_start_tcp(&s, extra);
    char url[512];
    const char *forms[] = {
        "redis+unix://%s/plain",
        "redis+unix://%s/with.dots_and-dash~:colon",
        "redis+unix://%s/db3?db=3",
        "redis+unix://alice:p%%40ss%%3Aw%%2Frd@%s/as-alice",
        "redis+unix://:x@%s/default-user-no-password-set", /* the default user has none */
    };
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        snprintf(url, sizeof url, forms[i], s.sock);
        mt_dict *d = NULL;
        int err = mt_dict_open(&d, url, NULL);
        if (i == 4) { /* AUTH with a password the default user does not have */
            cr_expect_eq(err, MT_EAUTH, "%s: %s", url, mt_err_name(err));
            continue;
        }
        cr_expect_eq(err, 0, "%s: %s", url, mt_err_name(err));
        cr_expect_str_eq(mt_dict_name(d), url);
        cr_expect_eq(mt_dict_set_str(d, "k", url), 0);
        mt_dict_free(d);
    }
    /* db 3 holds its own object, db 0 the others */
    char reply[600];
    cr_expect_eq(test_redis_cmd(&s, reply, sizeof reply, "EXISTS", "db3:multitask", NULL), ':');
    cr_expect_str_eq(reply, "0");
    cr_expect_eq(test_redis_cmd(&s, reply, sizeof reply, "GET", "as-alice:multitask", NULL), '$');
    cr_expect_str_eq(reply, "multitask:dict:1");
    /* TCP: an address, a host name, a db */
    const char *tcp[] = {"redis://127.0.0.1:%d/tcp", "redis://localhost:%d/5/tcp5",
                         "redis://alice:p%%40ss%%3Aw%%2Frd@127.0.0.1:%d/7/tcp7"};
    for (size_t i = 0; i < sizeof tcp / sizeof *tcp; i++) {
        snprintf(url, sizeof url, tcp[i], s.port);
        mt_list *l = NULL;
        int err = mt_list_open(&l, url, NULL);
        cr_expect_eq(err, 0, "%s: %s", url, mt_err_name(err));
        cr_expect_eq(mt_list_append(l, "x", 1), 0);
        cr_expect_eq(mt_list_len(l), 1);
        cr_expect_eq(mt_list_clear(l), 0);
        mt_list_free(l);
        cr_expect_eq(mt_shared_unlink(url), 0);
    }
    /* a db the server does not have: refused at once, not retried */
    snprintf(url, sizeof url, "redis+unix://%s/x?db=99", s.sock);
    mt_dict *bad = NULL;
    cr_expect_eq(mt_dict_open(&bad, url, NULL), MT_EREMOTE);
    /* no server there: MT_ECONNECT within the timeout; an unknown host */
    mt_shared_opts quick = {.timeout = 0.3};
    mt_dict *d = NULL;
    snprintf(url, sizeof url, "redis+unix://%s/nothing-here/NAME", s.dir);
    double t0 = mt_monotonic();
    cr_expect_eq(mt_dict_open(&d, url, &quick), MT_ECONNECT);
    double took = mt_monotonic() - t0;
    cr_expect(took >= 0.29 && took < 3, "gave up after %.2f s", took);
    int err = mt_dict_open(&d, "redis://no-such-host.invalid/NAME", &quick);
    cr_expect(err == MT_ENOHOST || err == MT_ECONNECT, "%s", mt_err_name(err));
    test_redis_stop(&s);
}

/* A wrong password: MT_EAUTH, and no secret in any message. */
LEAK_TEST(remote, wrong_password, .timeout = 30)
{
    test_redis s;
    const char *extra[] = {"--requirepass", "right-secret", "--user", "bob",   "on", ">bobs-secret",
                           "~bob*",         "&*",           "+@all",  "-hset", NULL};
    test_redis_start(&s, extra);
    char url[512];
    snprintf(url, sizeof url, "redis+unix://:wrong-secret@%s/d", s.sock);
    mt_dict *d = NULL;
    int err = mt_dict_open(&d, url, NULL);
    cr_expect_eq(err, MT_EAUTH, "%s", mt_err_name(err));
    cr_expect_null(strstr(mt_strerror(err), "secret"), "%s", mt_strerror(err));
    cr_expect_null(strstr(mt_strerror(err), s.sock));
    snprintf(url, sizeof url, "redis+unix://%s/d", s.sock); /* none at all */
    cr_expect_eq(mt_dict_open(&d, url, NULL), MT_EAUTH);
    snprintf(url, sizeof url, "redis+unix://bob:wrong-secret@%s/bobs", s.sock);
    cr_expect_eq(mt_dict_open(&d, url, NULL), MT_EAUTH);
    /* the right ones */
    snprintf(url, sizeof url, "redis+unix://:right-secret@%s/d", s.sock);
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    cr_expect_eq(mt_dict_set_str(d, "k", "v"), 0);
    mt_dict_free(d);
    /* an ACL user: its keys only, and without HSET */
    snprintf(url, sizeof url, "redis+unix://bob:bobs-secret@%s/bobs", s.sock);
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    err = mt_dict_set_str(d, "k", "v");
    cr_expect_eq(err, -EACCES, "a command the user may not run: %s", mt_err_name(err));
    mt_dict_free(d);
    snprintf(url, sizeof url, "redis+unix://bob:bobs-secret@%s/alices", s.sock);
    cr_expect_eq(mt_dict_open(&d, url, NULL), -EACCES, "a key the user may not touch");
    test_redis_stop(&s);
}

/* ------------------------------------------------ the same as locally */

/* A dict's whole contents as "k=v;" text (both backends in key order). */
static int dump_item(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
    mt_buf *b = ctx;
    mt_buf_append(b, k, kl);
    mt_buf_append(b, "=", 1);
    mt_buf_append(b, v, vl);
    mt_buf_append(b, ";", 1);
    return 0;
}

/* The same without the counter "c", whose bytes differ by design. */
static int dump_but_counter(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
    return kl == 1 && *(const char *)k == 'c' ? 0 : dump_item(k, kl, v, vl, ctx);
}

static int dump_list_item(size_t i, const void *v, size_t vl, void *ctx)
{
    (void)i;
    return dump_item("", 0, v, vl, ctx);
}

static int modify_append_x(const mt_iov *old, mt_buf *out, void *ctx)
{
    int *calls = ctx;
    ++*calls;
    if (old && old->len >= 3) return MT_DICT_DELETE;
    if (old) mt_buf_append(out, old->data, old->len);
    mt_buf_append(out, "x", 1);
    return old && old->len == 2 ? MT_DICT_KEEP : MT_DICT_STORE;
}

static int modify_fail(const mt_iov *old, mt_buf *out, void *ctx)
{
    (void)old;
    (void)out;
    (void)ctx;
    return -ENOTSUP;
}

static int view_len(const void *v, size_t len, void *ctx)
{
    (void)v;
    (void)ctx;
    return (int)len + 100;
}

/*
 * The same random calls on a local dict and on one on the server: every
 * result and the contents after each call must be the same. Counters go
 * through incr only (their bytes differ by design: 8 bytes here, decimal
 * text there).
 */
LEAK_TEST(remote, dict_same_as_local, .timeout = 60)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "same");
    mt_dict *local, *remote;
    cr_assert_eq(mt_dict_new(&local, NULL), 0);
    cr_assert_eq(mt_dict_open(&remote, url, NULL), 0);
    mt_dict *d[2] = {local, remote};
    srand(7);
    const char *keys[] = {"a", "b", "ab", "b\0x", "\xff", "c"};
    const size_t klens[] = {1, 1, 2, 3, 1, 1};
    const char *vals[] = {"", "v", "vv", "v\0v", "long value long value"};
    const size_t vlens[] = {0, 1, 2, 3, 21};
    for (int step = 0; step < 600; step++) {
        int op = rand() % 12, k = rand() % 6, v = rand() % 5, w = rand() % 5;
        if (k == 5 && op != 6 && op != 7) k = 0; /* "c" is the counter */
        int r[2];
        int64_t sums[2] = {0, 0};
        mt_buf out[2] = {MT_BUF_INIT, MT_BUF_INIT};
        for (int i = 0; i < 2; i++) {
            mt_iov ev = {vals[v], vlens[v]}, nv = {vals[w], vlens[w]};
            int calls = 0;
            switch (op) {
            case 0:
                r[i] = mt_dict_set(d[i], keys[k], klens[k], vals[v], vlens[v]);
                break;
            case 1:
                r[i] = mt_dict_get(d[i], keys[k], klens[k], &out[i]);
                break;
            case 2:
                r[i] = mt_dict_delete(d[i], keys[k], klens[k]);
                break;
            case 3:
                r[i] = mt_dict_pop(d[i], keys[k], klens[k], v ? &out[i] : NULL);
                break;
            case 4:
                r[i] = mt_dict_contains(d[i], keys[k], klens[k]);
                break;
            case 5:
                r[i] = (int)mt_dict_len(d[i]);
                break;
            case 6:
                r[i] = mt_dict_incr(d[i], "c", 1, v - 2, &sums[i]);
                break;
            case 7:
                r[i] = mt_dict_contains(d[i], "c", 1);
                break;
            case 8:
                r[i] = mt_dict_cas(d[i], keys[k], klens[k], v ? &ev : NULL, w ? &nv : NULL);
                break;
            case 9:
                r[i] = mt_dict_modify(d[i], keys[k], klens[k], modify_append_x, &calls);
                break;
            case 10:
                r[i] = mt_dict_view(d[i], keys[k], klens[k], view_len, NULL);
                break;
            default: {
                mt_dict_pair p[2] = {
                    {{keys[k], klens[k]}, {vals[v], vlens[v]}},
                    {{keys[(k + 1) % 5], klens[(k + 1) % 5]}, {vals[w], vlens[w]}}};
                r[i] = step % 50 == 0 ? mt_dict_clear(d[i]) : mt_dict_update(d[i], p, 2);
            }
            }
        }
        cr_assert_eq(r[0], r[1], "step %d op %d: local %d (%s), server %d (%s)", step, op, r[0],
                     mt_err_name(r[0]), r[1], mt_err_name(r[1]));
        cr_assert_eq(sums[0], sums[1], "step %d: sums", step);
        cr_assert_eq(out[0].len, out[1].len, "step %d op %d: value lengths", step, op);
        cr_assert(out[0].len == 0 || !memcmp(out[0].data, out[1].data, out[0].len));
        mt_buf dump[2] = {MT_BUF_INIT, MT_BUF_INIT};
        for (int i = 0; i < 2; i++) {
            cr_assert_eq(mt_dict_items(d[i], dump_but_counter, &dump[i]), 0);
            mt_buf_free(&out[i]);
        }
        cr_assert(dump[0].len == dump[1].len &&
                      (!dump[0].len || !memcmp(dump[0].data, dump[1].data, dump[0].len)),
                  "step %d op %d: local %.*s, server %.*s", step, op, (int)dump[0].len,
                  (char *)dump[0].data, (int)dump[1].len, (char *)dump[1].data);
        mt_buf_free(&dump[0]);
        mt_buf_free(&dump[1]);
    }
    /* keys, values and items agree exactly, without the counter */
    mt_dict_delete(local, "c", 1);
    mt_dict_delete(remote, "c", 1);
    mt_buf a = MT_BUF_INIT, b = MT_BUF_INIT;
    cr_expect_eq(mt_dict_items(local, dump_item, &a), 0);
    cr_expect_eq(mt_dict_items(remote, dump_item, &b), 0);
    cr_expect_eq(a.len, b.len);
    cr_expect(a.len == 0 || !memcmp(a.data, b.data, a.len), "%.*s vs %.*s", (int)a.len,
              (char *)a.data, (int)b.len, (char *)b.data);
    mt_buf_reset(&a);
    mt_buf_reset(&b);
    cr_expect_eq(mt_dict_keys(local, &a), 0);
    cr_expect_eq(mt_dict_keys(remote, &b), 0);
    cr_expect(a.len == b.len && !memcmp(a.data, b.data, a.len), "keys"); /* a count: never empty */
    mt_buf_free(&a);
    mt_buf_free(&b);
    mt_dict_free(local);
    mt_dict_free(remote);
    test_redis_stop(&s);
}

/* The same for lists: every index form, both ends, the middle. */
LEAK_TEST(remote, list_same_as_local, .timeout = 60)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "same-list");
    mt_list *local, *remote;
    cr_assert_eq(mt_list_new(&local, NULL), 0);
    cr_assert_eq(mt_list_open(&remote, url, NULL), 0);
    mt_list *l[2] = {local, remote};
    srand(11);
    for (int step = 0; step < 800; step++) {
        int op = rand() % 9;
        long index = rand() % 13 - 6;
        char value[32];
        int vlen = snprintf(value, sizeof value, "v%d%s", step, step % 7 ? "" : "\0zero");
        int r[2];
        mt_buf out[2] = {MT_BUF_INIT, MT_BUF_INIT};
        for (int i = 0; i < 2; i++) {
            mt_iov items[3] = {{value, (size_t)vlen}, {"", 0}, {"x\0y", 3}};
            switch (op) {
            case 0:
                r[i] = mt_list_append(l[i], value, (size_t)vlen);
                break;
            case 1:
                r[i] = mt_list_extend(l[i], items, (size_t)(step % 4));
                break;
            case 2:
                r[i] = mt_list_insert(l[i], index * (step % 3 ? 1 : 9), value, (size_t)vlen);
                break;
            case 3:
                r[i] = mt_list_get(l[i], index, &out[i]);
                break;
            case 4:
                r[i] = mt_list_set(l[i], index, value, (size_t)vlen);
                break;
            case 5:
                r[i] = mt_list_pop(l[i], index, index % 2 ? &out[i] : NULL);
                break;
            case 6:
                r[i] = (int)mt_list_len(l[i]);
                break;
            case 7:
                r[i] = mt_list_view(l[i], index, view_len, NULL);
                break;
            default:
                r[i] = step % 100 == 0 ? mt_list_clear(l[i]) : mt_list_pop(l[i], -1, &out[i]);
            }
        }
        cr_assert_eq(r[0], r[1], "step %d op %d index %ld: local %d (%s), server %d (%s)", step, op,
                     index, r[0], mt_err_name(r[0]), r[1], mt_err_name(r[1]));
        cr_assert(out[0].len == out[1].len &&
                      (!out[0].len || !memcmp(out[0].data, out[1].data, out[0].len)),
                  "step %d: values", step);
        mt_buf dump[2] = {MT_BUF_INIT, MT_BUF_INIT};
        for (int i = 0; i < 2; i++) {
            cr_assert_eq(mt_list_items(l[i], dump_list_item, &dump[i]), 0);
            mt_buf_free(&out[i]);
        }
        cr_assert(dump[0].len == dump[1].len &&
                      (!dump[0].len || !memcmp(dump[0].data, dump[1].data, dump[0].len)),
                  "step %d op %d index %ld: local %.*s, server %.*s", step, op, index,
                  (int)dump[0].len, (char *)dump[0].data, (int)dump[1].len, (char *)dump[1].data);
        mt_buf_free(&dump[0]);
        mt_buf_free(&dump[1]);
    }
    cr_expect_eq(mt_list_reader_check(remote), 0);
    mt_list_free(local);
    mt_list_free(remote);
    test_redis_stop(&s);
}

/* Typed calls: strings, and int64 as decimal text on the server. */
LEAK_TEST(remote, typed_values, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "typed");
    mt_dict *d;
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    mt_buf b = MT_BUF_INIT;
    cr_expect_eq(mt_dict_set_str(d, "s", "hello"), 0);
    cr_expect_eq(mt_dict_get_str(d, "s", &b), 0);
    cr_expect_str_eq((char *)b.data, "hello");
    int64_t n = 0;
    cr_expect_eq(mt_dict_get_i64(d, "s", &n), -EINVAL, "not a number");
    cr_expect_eq(mt_dict_set_i64(d, "n", INT64_MIN), 0);
    cr_expect_eq(mt_dict_get_i64(d, "n", &n), 0);
    cr_expect_eq(n, INT64_MIN);
    cr_expect_eq(mt_dict_incr(d, "n", 1, -1, NULL), -EOVERFLOW);
    cr_expect_eq(mt_dict_set_i64(d, "n", INT64_MAX - 1), 0);
    int64_t sum = 0;
    cr_expect_eq(mt_dict_incr(d, "n", 1, 1, &sum), 0);
    cr_expect_eq(sum, INT64_MAX, "exact beyond 2^53: %" PRId64, sum);
    cr_expect_eq(mt_dict_incr(d, "n", 1, 1, &sum), -EOVERFLOW);
    cr_expect_eq(mt_dict_get_i64(d, "n", &n), 0);
    cr_expect_eq(n, INT64_MAX, "unchanged by the overflow");
    cr_expect_eq(mt_dict_incr(d, "s", 1, 1, &sum), -EINVAL, "not an integer");
    cr_expect_eq(mt_dict_get_str(d, "s", &b), 0);
    cr_expect_str_eq((char *)b.data, "hello", "unchanged");
    char reply[64];
    test_redis_cmd(&s, reply, sizeof reply, "HGET", "typed", "n", NULL);
    cr_expect_str_eq(reply, "9223372036854775807", "what other clients read");
    cr_expect_eq(mt_dict_get_i64(d, "none", &n), MT_EKEY);
    cr_expect_eq(mt_dict_modify(d, "s", 1, modify_fail, NULL), -ENOTSUP);
    cr_expect_eq(mt_dict_get_str(d, "s", &b), 0);
    cr_expect_str_eq((char *)b.data, "hello", "unchanged by a failed modify");
    mt_buf_free(&b);
    mt_dict_free(d);
    test_redis_stop(&s);
}

/* ------------------------------------------------ not ours, removal */

LEAK_TEST(remote, keys_not_ours, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256], reply[128];
    /* a string under the name */
    test_redis_cmd(&s, reply, sizeof reply, "SET", "str", "precious", NULL);
    url_of(url, sizeof url, &s, "str");
    mt_dict *d = NULL;
    mt_list *l = NULL;
    cr_expect_eq(mt_dict_open(&d, url, NULL), -EPROTO);
    cr_expect_eq(mt_list_open(&l, url, NULL), -EPROTO);
    cr_expect_eq(mt_shared_unlink(url), -EPROTO);
    /* a hash without our marker */
    test_redis_cmd(&s, reply, sizeof reply, "HSET", "hash", "f", "precious", NULL);
    url_of(url, sizeof url, &s, "hash");
    cr_expect_eq(mt_dict_open(&d, url, NULL), -EPROTO);
    cr_expect_eq(mt_shared_unlink(url), -EPROTO);
    /* a marker key holding something else */
    test_redis_cmd(&s, reply, sizeof reply, "SET", "m:multitask", "someone else's", NULL);
    url_of(url, sizeof url, &s, "m");
    cr_expect_eq(mt_dict_open(&d, url, NULL), -EPROTO);
    test_redis_cmd(&s, reply, sizeof reply, "RPUSH", "n:multitask", "x", NULL);
    url_of(url, sizeof url, &s, "n");
    cr_expect_eq(mt_list_open(&l, url, NULL), -EPROTO);
    /* nothing was written */
    cr_expect_eq(test_redis_cmd(&s, reply, sizeof reply, "GET", "str", NULL), '$');
    cr_expect_str_eq(reply, "precious");
    test_redis_cmd(&s, reply, sizeof reply, "HGET", "hash", "f", NULL);
    cr_expect_str_eq(reply, "precious");
    test_redis_cmd(&s, reply, sizeof reply, "GET", "m:multitask", NULL);
    cr_expect_str_eq(reply, "someone else's");
    test_redis_cmd(&s, reply, sizeof reply, "DBSIZE", NULL);
    cr_expect_str_eq(reply, "4", "no key made: %s", reply);
    /* ours as a list, opened as a dict: no dict by that name */
    url_of(url, sizeof url, &s, "ours");
    cr_assert_eq(mt_list_open(&l, url, NULL), 0);
    cr_expect_eq(mt_dict_open(&d, url, NULL), -ENOENT);
    cr_expect_eq(mt_list_append(l, "a", 1), 0);
    /* replaced under an open handle: a clear error, the stranger kept */
    test_redis_cmd(&s, reply, sizeof reply, "DEL", "ours", NULL);
    test_redis_cmd(&s, reply, sizeof reply, "SET", "ours", "stranger", NULL);
    cr_expect_eq(mt_list_append(l, "b", 1), -EPROTO);
    cr_expect_eq(mt_list_len(l), -EPROTO);
    test_redis_cmd(&s, reply, sizeof reply, "GET", "ours", NULL);
    cr_expect_str_eq(reply, "stranger");
    cr_expect_eq(mt_shared_unlink(url), -EPROTO);
    test_redis_cmd(&s, reply, sizeof reply, "DEL", "ours", NULL);
    /* unlink: ours goes, twice is -ENOENT, an open handle gets -ENOENT */
    cr_expect_eq(mt_list_append(l, "c", 1), 0);
    cr_expect_eq(mt_shared_unlink(url), 0);
    cr_expect_eq(test_redis_cmd(&s, reply, sizeof reply, "EXISTS", "ours", "ours:multitask", NULL),
                 ':');
    cr_expect_str_eq(reply, "0");
    cr_expect_eq(mt_shared_unlink(url), -ENOENT);
    cr_expect_eq(mt_list_append(l, "d", 1), -ENOENT);
    cr_expect_eq(test_redis_cmd(&s, reply, sizeof reply, "EXISTS", "ours", NULL), ':');
    cr_expect_str_eq(reply, "0", "a removed object is not made again by a write");
    mt_list_free(l);
    test_redis_stop(&s);
}

/* ------------------------------------------------------------ batches */

typedef struct batch_ctx {
    const char *url;
    int rounds;
} batch_ctx;

/* Set a and b to the same number in one batch, many times. */
static int batch_writer(void *arg)
{
    batch_ctx *c = arg;
    mt_dict *d;
    if (mt_dict_open(&d, c->url, NULL) < 0) return 1;
    int bad = 0;
    for (int i = 1; i <= c->rounds && !bad; i++) {
        bad |= mt_dict_batch_begin(d) != 0;
        bad |= mt_dict_set_i64(d, "a", i) != 0;
        bad |= mt_dict_incr(d, "n", 1, 1, NULL) != 0;
        bad |= mt_dict_set_i64(d, "b", i) != 0;
        bad |= mt_dict_batch_commit(d) != 0;
    }
    mt_dict_free(d);
    return bad;
}

typedef struct pair_seen {
    int64_t a, b;
} pair_seen;

static int see_pair(const void *k, size_t kl, const void *v, size_t vl, void *ctx)
{
    pair_seen *p = ctx;
    char text[24] = {0};
    memcpy(text, v, vl < 23 ? vl : 23);
    if (kl == 1 && *(const char *)k == 'a') p->a = atoll(text);
    if (kl == 1 && *(const char *)k == 'b') p->b = atoll(text);
    return 0;
}

LEAK_TEST(remote, batches, .timeout = 60)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "batch");
    mt_dict *d, *other;
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    cr_assert_eq(mt_dict_open(&other, url, NULL), 0);
    /* queued, invisible, then all at once */
    cr_expect_eq(mt_dict_batch_begin(d), 0);
    cr_expect_eq(mt_dict_batch_begin(d), -EBUSY);
    cr_expect_eq(mt_dict_set_str(d, "x", "1"), 0);
    cr_expect_eq(mt_dict_incr(d, "n", 1, 5, NULL), 0);
    cr_expect_eq(mt_dict_delete(d, "missing", 7), 0, "its MT_EKEY is not reported in a batch");
    int64_t sum;
    mt_buf b = MT_BUF_INIT;
    cr_expect_eq(mt_dict_incr(d, "n", 1, 5, &sum), -EINPROGRESS);
    cr_expect_eq(mt_dict_get(d, "x", 1, &b), -EINPROGRESS);
    cr_expect_eq(mt_dict_len(d), -EINPROGRESS);
    cr_expect_eq(mt_dict_cas(d, "x", 1, NULL, NULL), -EINPROGRESS);
    cr_expect_eq(mt_dict_len(other), 0, "nothing seen before the commit");
    cr_expect_eq(mt_dict_set_str(other, "y", "2"), 0, "other writers go on");
    cr_expect_eq(mt_dict_batch_commit(d), 0);
    cr_expect_eq(mt_dict_batch_commit(d), -EINVAL);
    cr_expect_eq(mt_dict_len(other), 3);
    int64_t n = 0;
    cr_expect_eq(mt_dict_get_i64(other, "n", &n), 0);
    cr_expect_eq(n, 5);
    /* abort drops it all */
    cr_expect_eq(mt_dict_batch_begin(d), 0);
    cr_expect_eq(mt_dict_set_str(d, "z", "3"), 0);
    cr_expect_eq(mt_dict_clear(d), 0);
    cr_expect_eq(mt_dict_batch_abort(d), 0);
    cr_expect_eq(mt_dict_len(d), 3);
    /* a list batch */
    url_of(url, sizeof url, &s, "batch-list");
    mt_list *l;
    cr_assert_eq(mt_list_open(&l, url, NULL), 0);
    cr_expect_eq(mt_list_batch_begin(l), 0);
    for (int i = 0; i < 100; i++)
        cr_expect_eq(mt_list_append(l, &i, sizeof i), 0);
    cr_expect_eq(mt_list_pop(l, 0, NULL), 0);
    cr_expect_eq(mt_list_pop(l, 0, &b), -EINPROGRESS);
    cr_expect_eq(mt_list_batch_commit(l), 0);
    cr_expect_eq(mt_list_len(l), 99);
    cr_expect_eq(mt_list_get(l, 0, &b), 0);
    cr_expect_eq(b.len, sizeof(int));
    cr_expect_eq(*(int *)b.data, 1);
    mt_list_free(l);
    /* atomic against a reader: a and b always equal in one snapshot */
    url_of(url, sizeof url, &s, "batch");
    batch_ctx c = {url, 300};
    pid_t pid = spawn(batch_writer, &c);
    int seen = 0;
    siginfo_t info = {0};
    for (int i = 0; i < 2000; i++) {
        info.si_pid = 0;
        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid)
            break; /* the writer is done (reaped below) */
        pair_seen p = {0, 0};
        cr_assert_eq(mt_dict_items(other, see_pair, &p), 0);
        cr_assert_eq(p.a, p.b, "half a batch seen: a=%" PRId64 " b=%" PRId64, p.a, p.b);
        seen += p.a > 0;
    }
    cr_expect_eq(reap(pid), 0);
    cr_expect_eq(mt_dict_get_i64(other, "n", &n), 0);
    cr_expect_eq(n, 5 + 300, "every batch's incr committed once");
    cr_expect_gt(seen, 0);
    mt_buf_free(&b);
    mt_dict_free(d);
    mt_dict_free(other);
    test_redis_stop(&s);
}

/* ------------------------------------------------- processes racing */

typedef struct hammer {
    const char *url;
    mt_dict *inherited; /* the parent's handle, or NULL: open by name */
    int id, n;
    double timeout;
    int64_t *counts; /* per child: [0] acked, [1] lost, [2] other errors */
} hammer;

enum { ACKED, LOST, OTHER, NCOUNTS };

/* n increments of "count", and n appends of "id:i" to the list url-list. */
static int incr_child(void *arg)
{
    hammer *h = arg;
    mt_shared_opts o = {.timeout = h->timeout};
    mt_dict *d = h->inherited;
    if (!d && mt_dict_open(&d, h->url, &o) < 0) return 1;
    int64_t *c = h->counts + NCOUNTS * 2 * h->id;
    for (int i = 0; i < h->n; i++) {
        int err = mt_dict_incr(d, "count", 5, 1, NULL);
        c[err == 0 ? ACKED : err == MT_ECONNLOST ? LOST : OTHER]++;
    }
    if (!h->inherited) mt_dict_free(d);
    return 0;
}

/* The same with appends of unique items to a list. */
static int append_child(void *arg)
{
    hammer *h = arg;
    mt_shared_opts o = {.timeout = h->timeout};
    mt_list *l;
    if (mt_list_open(&l, h->url, &o) < 0) return 1;
    int64_t *c = h->counts + NCOUNTS * (2 * h->id + 1);
    for (int i = 0; i < h->n; i++) {
        char item[32];
        int len = snprintf(item, sizeof item, "%d:%d", h->id, i);
        int err = mt_list_append(l, item, (size_t)len);
        c[err == 0 ? ACKED : err == MT_ECONNLOST ? LOST : OTHER]++;
    }
    mt_list_free(l);
    return 0;
}

/* Start `procs` children of each kind; give the sums of their counts. */
typedef struct crowd {
    pid_t pids[16];
    int n;
    hammer h[16];
    int64_t *counts;
} crowd;

static void crowd_start(crowd *c, int procs, const char *dict_url, const char *list_url,
                        mt_dict *inherited, int n, double timeout)
{
    memset(c, 0, sizeof *c);
    c->counts = shared_counts((size_t)procs * 2 * NCOUNTS);
    for (int i = 0; i < procs; i++) {
        c->h[2 * i] = (hammer){dict_url, i % 2 ? inherited : NULL, i, n, timeout, c->counts};
        c->pids[c->n++] = spawn(incr_child, &c->h[2 * i]);
        if (list_url) {
            c->h[2 * i + 1] = (hammer){list_url, NULL, i, n, timeout, c->counts};
            c->pids[c->n++] = spawn(append_child, &c->h[2 * i + 1]);
        }
    }
}

/* Wait for them all; sums[kind][ACKED..OTHER], kind 0 incr, 1 append. */
static void crowd_wait(crowd *c, int procs, int64_t sums[2][NCOUNTS])
{
    for (int i = 0; i < c->n; i++)
        cr_expect_eq(reap(c->pids[i]), 0, "child %d", i);
    memset(sums, 0, 2 * NCOUNTS * sizeof(int64_t));
    for (int i = 0; i < procs; i++)
        for (int k = 0; k < 2; k++)
            for (int j = 0; j < NCOUNTS; j++)
                sums[k][j] += c->counts[NCOUNTS * (2 * i + k) + j];
    munmap(c->counts, (size_t)procs * 2 * NCOUNTS * sizeof(int64_t));
}

/* The list holds each acknowledged item once, and nothing twice. */
static int check_items(size_t i, const void *v, size_t len, void *ctx)
{
    (void)i;
    char item[32] = {0};
    memcpy(item, v, len < 31 ? len : 31);
    int id, k;
    uint8_t *seen = ctx;
    if (sscanf(item, "%d:%d", &id, &k) != 2 || id < 0 || id >= 8 || k < 0 || k >= 4000) return -1;
    return seen[id * 4000 + k]++ ? -2 : 0;
}

static void expect_list(const char *url, int procs, int n, int64_t acked, int64_t lost)
{
    mt_list *l;
    cr_assert_eq(mt_list_open(&l, url, NULL), 0);
    uint8_t *seen = calloc(8 * 4000, 1);
    int err = mt_list_items(l, check_items, seen);
    cr_expect_eq(err, 0, "a bad or a repeated item (%d)", err);
    ssize_t len = mt_list_len(l);
    cr_expect(len >= acked && len <= acked + lost, "%zd items, %" PRId64 " acknowledged", len,
              acked);
    (void)procs;
    (void)n;
    free(seen);
    mt_list_free(l);
}

static int64_t counter(mt_dict *d)
{
    int64_t n = -1;
    cr_expect_eq(mt_dict_get_i64(d, "count", &n), 0);
    return n;
}

/* N processes (half on the parent's handle, through fork) increment one
 * key: the final value is every increment, once. */
LEAK_TEST(remote, incr_processes, .timeout = 60)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256], lurl[256];
    url_of(url, sizeof url, &s, "counters");
    url_of(lurl, sizeof lurl, &s, "items");
    mt_dict *d;
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    cr_expect_eq(mt_dict_incr(d, "count", 5, 0, NULL), 0, "the parent connects before fork");
    crowd c;
    int64_t sums[2][NCOUNTS];
    crowd_start(&c, 4, url, lurl, d, 500, 0);
    crowd_wait(&c, 4, sums);
    cr_expect_eq(sums[0][ACKED], 4 * 500);
    cr_expect_eq(sums[1][ACKED], 4 * 500);
    cr_expect_eq(counter(d), 4 * 500);
    expect_list(lurl, 4, 500, sums[1][ACKED], 0);
    mt_dict_free(d);
    test_redis_stop(&s);
}

/* cas loops and modify from several processes: no update lost. */
static int cas_child(void *arg)
{
    hammer *h = arg;
    mt_dict *d;
    if (mt_dict_open(&d, h->url, NULL) < 0) return 1;
    int bad = 0;
    for (int i = 0; i < h->n && !bad; i++) {
        for (;;) {
            mt_buf old = MT_BUF_INIT;
            int err = mt_dict_get(d, "count", 5, &old);
            int64_t n = 0;
            if (err == 0)
                n = atoll((char *)memcpy((char[24]){0}, old.data, old.len < 23 ? old.len : 23));
            char next[24];
            int len = snprintf(next, sizeof next, "%" PRId64, n + 1);
            mt_iov was = {old.data, old.len}, now = {next, (size_t)len};
            int r = mt_dict_cas(d, "count", 5, err == 0 ? &was : NULL, &now);
            mt_buf_free(&old);
            if (r == 1) break;
            if (r != 0) {
                bad = 1;
                break;
            }
            h->counts[h->id]++; /* a lost race, retried */
        }
    }
    mt_dict_free(d);
    return bad;
}

static int plus_one(const mt_iov *old, mt_buf *out, void *ctx)
{
    (void)ctx;
    int64_t n = 0;
    if (old) n = atoll((char *)memcpy((char[24]){0}, old->data, old->len < 23 ? old->len : 23));
    char next[24];
    mt_buf_append(out, next, (size_t)snprintf(next, sizeof next, "%" PRId64, n + 1));
    return MT_DICT_STORE;
}

static int modify_child(void *arg)
{
    hammer *h = arg;
    mt_dict *d;
    if (mt_dict_open(&d, h->url, NULL) < 0) return 1;
    int bad = 0;
    for (int i = 0; i < h->n && !bad; i++)
        bad = mt_dict_modify(d, "count", 5, plus_one, NULL) != 0;
    mt_dict_free(d);
    return bad;
}

LEAK_TEST(remote, cas_and_modify_races, .timeout = 60)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "races");
    mt_dict *d;
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    int64_t *retries = shared_counts(8);
    hammer h[8];
    pid_t pids[8];
    for (int i = 0; i < 8; i++) {
        h[i] = (hammer){url, NULL, i, 150, 0, retries};
        pids[i] = spawn(i < 4 ? cas_child : modify_child, &h[i]);
    }
    int64_t lost_races = 0;
    for (int i = 0; i < 8; i++) {
        cr_expect_eq(reap(pids[i]), 0);
        lost_races += retries[i];
    }
    cr_expect_eq(counter(d), 8 * 150, "no update lost");
    cr_log_info("cas races lost and retried: %" PRId64, lost_races);
    munmap(retries, 8 * sizeof(int64_t));
    mt_dict_free(d);
    test_redis_stop(&s);
}

/* ---------------------------------------------------------- faults */

/*
 * The server is killed (SIGKILL) twice while processes increment and
 * append, and started again on its AOF: every acknowledged write is there,
 * once; a call that was cut off either succeeded after the reconnect or
 * said MT_ECONNLOST, and then counted at most once.
 */
LEAK_TEST(remote, server_restarted, .timeout = 90)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256], lurl[256];
    url_of(url, sizeof url, &s, "survivor");
    url_of(lurl, sizeof lurl, &s, "survivor-items");
    mt_dict *d;
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    crowd c;
    int64_t sums[2][NCOUNTS];
    crowd_start(&c, 3, url, lurl, NULL, 400, 20);
    for (int round = 0; round < 2; round++) {
        sleep_s(0.25);
        test_redis_kill(&s);
        /* meanwhile: a quick call fails plainly, a patient one waits */
        mt_shared_opts quick = {.timeout = 0.2};
        mt_dict *q = NULL;
        int err = mt_dict_open(&q, url, &quick);
        cr_expect_eq(err, MT_ECONNECT, "open while down: %s", mt_err_name(err));
        sleep_s(0.3);
        test_redis_restart(&s);
    }
    crowd_wait(&c, 3, sums);
    cr_log_info("increments acked %" PRId64 ", cut off %" PRId64 ", other %" PRId64, sums[0][ACKED],
                sums[0][LOST], sums[0][OTHER]);
    cr_expect_eq(sums[0][OTHER] + sums[1][OTHER], 0);
    cr_expect_eq(sums[0][ACKED] + sums[0][LOST], 3 * 400);
    int64_t final = counter(d);
    s.keep = final < sums[0][ACKED] || final > sums[0][ACKED] + sums[0][LOST];
    cr_expect(!s.keep, "final %" PRId64 ", acked %" PRId64 ", cut off %" PRId64, final,
              sums[0][ACKED], sums[0][LOST]);
    cr_expect_eq(sums[0][LOST], 0, "with a 20 s timeout every call outlives the outage");
    expect_list(lurl, 3, 400, sums[1][ACKED], sums[1][LOST]);
    /* and once more with everything fsynced: a kill now loses nothing */
    test_redis_kill(&s);
    test_redis_restart(&s);
    cr_expect_eq(counter(d), final, "the AOF kept every acknowledged increment");
    mt_dict_free(d);
    test_redis_stop(&s);
}

/* Connections killed by the server (CLIENT KILL) under every kind of call:
 * counts exact, nothing applied twice. */
LEAK_TEST(remote, connections_killed, .timeout = 90)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256], lurl[256];
    url_of(url, sizeof url, &s, "killed");
    url_of(lurl, sizeof lurl, &s, "killed-items");
    mt_dict *d;
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    killer k = {.s = &s};
    pthread_t t;
    crowd c;
    int64_t sums[2][NCOUNTS];
    crowd_start(&c, 3, url, lurl, NULL, 400, 20);
    pthread_create(&t, NULL, kill_clients, &k);
    crowd_wait(&c, 3, sums);
    atomic_store(&k.stop, true);
    pthread_join(t, NULL);
    cr_log_info("connections killed: %d", k.kills);
    cr_expect_gt(k.kills, 0);
    cr_expect_eq(sums[0][ACKED], 3 * 400);
    cr_expect_eq(sums[1][ACKED], 3 * 400);
    cr_expect_eq(counter(d), 3 * 400);
    expect_list(lurl, 3, 400, 3 * 400, 0);
    mt_dict_free(d);
    test_redis_stop(&s);
}

/* One command waiting at the server (CLIENT PAUSE) when its connection is
 * killed: it is sent again and applied once. */
static int one_incr(void *arg)
{
    hammer *h = arg;
    mt_dict *d;
    if (mt_dict_open(&d, h->url, NULL) < 0) return 1;
    int err = mt_dict_incr(d, "count", 5, 1, NULL);
    mt_dict_free(d);
    return err;
}

LEAK_TEST(remote, killed_mid_command, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256], reply[64];
    url_of(url, sizeof url, &s, "mid");
    mt_dict *d;
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    cr_expect_eq(test_redis_cmd(&s, reply, sizeof reply, "CLIENT", "PAUSE", "600", "WRITE", NULL),
                 '+');
    hammer h = {.url = url};
    pid_t pid = spawn(one_incr, &h);
    sleep_s(0.3); /* its incr waits at the server */
    cr_expect_eq(test_redis_cmd(&s, reply, sizeof reply, "CLIENT", "KILL", "TYPE", "normal",
                                "SKIPME", "yes", NULL),
                 ':');
    cr_expect_geq(atoi(reply), 1, "the waiting client was killed");
    cr_expect_eq(reap(pid), 0, "the incr succeeded after reconnecting");
    cr_expect_eq(counter(d), 1, "applied once");
    mt_dict_free(d);
    test_redis_stop(&s);
}

/* The size of the server's AOF increment file (Redis 7's multi-part AOF
 * has one being written), or -1. */
static off_t aof_incr_size(const test_redis *s, char *path, size_t size)
{
    char dir[96];
    snprintf(dir, sizeof dir, "%s/appendonlydir", s->dir);
    DIR *d = opendir(dir);
    off_t found = -1;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".incr.aof")) {
            struct stat st;
            snprintf(path, size, "%s/%.255s", dir, e->d_name);
            if (stat(path, &st) == 0) found = st.st_size;
        }
    if (d) closedir(d);
    return found;
}

/*
 * The server dies in the middle of writing a call's effects to its AOF
 * (as a SIGKILL or a power cut can leave it: here RLIMIT_FSIZE cuts the
 * write and SIGXFSZ ends the server): the call is resent and done once, and
 * it stays done once over the next restart. The script's effects are one
 * MULTI ... EXEC in the AOF; a server that loads the cut file and keeps
 * the unfinished MULTI (Redis 7's aof-load-truncated yes) replays the cut
 * part with the next transaction at the next restart: the increment twice.
 */
LEAK_TEST(remote, aof_cut_mid_script, .timeout = 60)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256], aof[512];
    url_of(url, sizeof url, &s, "torn");
    mt_dict *d;
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    cr_assert_eq(mt_dict_incr(d, "count", 5, 1, NULL), 0);
    /* an AOF bigger than the server's log, so that the limit hits the AOF */
    static char big[32 << 10];
    memset(big, 'x', sizeof big);
    cr_assert_eq(mt_dict_set(d, "big", 3, big, sizeof big), 0);
    off_t before = aof_incr_size(&s, aof, sizeof aof);
    cr_assert_gt(before, 0);
    /* a new handle's first incr is MULTI, HINCRBY, SET (its record), EXEC
     * in the AOF: cut it inside the SET */
    size_t multi = 15, hincrby = 4 + 13 + 10 + 11 + 7;
    off_t cut = before + (off_t)(multi + hincrby + 20);
    struct rlimit fsize = {(rlim_t)cut, (rlim_t)cut}, core = {0, 0};
    cr_assert_eq(prlimit(s.pid, RLIMIT_CORE, &core, NULL), 0);
    cr_assert_eq(prlimit(s.pid, RLIMIT_FSIZE, &fsize, NULL), 0);
    /* in a process of its own: a fork (the server's restart) waits while
     * a call of this process is in progress */
    hammer h = {.url = url};
    pid_t pid = spawn(one_incr, &h);
    int status = 0;
    cr_assert_eq(waitpid(s.pid, &status, 0), s.pid);
    s.pid = 0;
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ, "the server died of the limit");
    /* the file ends inside the transaction, after its HINCRBY */
    char tail[512] = "";
    FILE *f = fopen(aof, "re");
    cr_assert(f);
    fseeko(f, before, SEEK_SET);
    size_t got = fread(tail, 1, sizeof tail - 1, f);
    fclose(f);
    cr_expect_eq((off_t)got, cut - before);
    cr_expect(memmem(tail, got, "HINCRBY", 7) && !memmem(tail, got, "EXEC", 4),
              "cut after the HINCRBY, before the EXEC");
    test_redis_restart(&s);
    cr_expect_eq(reap(pid), 0, "the incr was resent and answered");
    cr_expect_eq(counter(d), 2, "applied once");
    cr_expect_eq(mt_dict_incr(d, "count", 5, 1, NULL), 0);
    test_redis_kill(&s);
    test_redis_restart(&s);
    int64_t n = counter(d);
    cr_expect_eq(n, 3, "still once after another restart: %" PRId64, n);
    mt_dict_free(d);
    test_redis_stop(&s);
}

/* A server out of memory (maxmemory, noeviction): writes fail with
 * -ENOSPC and a batch is refused whole; reads and removals still work. */
LEAK_TEST(remote, server_full, .timeout = 60)
{
    test_redis s;
    const char *extra[] = {"--maxmemory", "3mb", "--maxmemory-policy", "noeviction", NULL};
    test_redis_start(&s, extra);
    char url[256];
    url_of(url, sizeof url, &s, "full");
    mt_dict *d;
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    static char big[64 << 10];
    memset(big, 'x', sizeof big);
    int err = 0, n = 0;
    for (; n < 200 && (err = mt_dict_set(d, &n, sizeof n, big, sizeof big)) == 0; n++)
        ;
    cr_assert_eq(err, -ENOSPC, "after %d values: %s", n, mt_err_name(err));
    /* then small ones: full even for a write no bigger than the batch's */
    for (; n < 100000 && (err = mt_dict_set(d, &n, sizeof n, big, 16)) == 0; n++)
        ;
    cr_assert_eq(err, -ENOSPC, "after %d values: %s", n, mt_err_name(err));
    cr_expect_eq(mt_dict_len(d), n, "a read works when full");
    mt_buf b = MT_BUF_INIT;
    int zero = 0;
    cr_expect_eq(mt_dict_get(d, &zero, sizeof zero, &b), 0);
    cr_expect_eq(b.len, sizeof big);
    cr_expect_eq(mt_dict_batch_begin(d), 0);
    cr_expect_eq(mt_dict_set_str(d, "small", "1"), 0);
    cr_expect_eq(mt_dict_delete(d, &zero, sizeof zero), 0);
    cr_expect_eq(mt_dict_batch_commit(d), -ENOSPC);
    cr_expect_eq(mt_dict_len(d), n, "nothing of the batch was done");
    cr_expect_eq(mt_dict_contains(d, &zero, sizeof zero), 1);
    cr_expect_eq(mt_dict_pop(d, &zero, sizeof zero, &b), 0, "a removal works when full");
    cr_expect_eq(mt_dict_clear(d), 0);
    cr_expect_eq(mt_dict_set_str(d, "small", "1"), 0, "room again");
    mt_buf_free(&b);
    mt_dict_free(d);
    test_redis_stop(&s);
}

/* Threads sharing one handle take turns on its connection. */
typedef struct thread_arg {
    mt_dict *d;
    int n;
} thread_arg;

static void *incr_thread(void *arg)
{
    thread_arg *t = arg;
    for (int i = 0; i < t->n; i++)
        if (mt_dict_incr(t->d, "count", 5, 1, NULL) != 0) return (void *)1;
    return NULL;
}

LEAK_TEST(remote, threads_share_a_handle, .timeout = 60)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "threads");
    mt_dict *d;
    cr_assert_eq(mt_dict_open(&d, url, NULL), 0);
    pthread_t t[4];
    thread_arg a = {d, 300};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, incr_thread, &a);
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        cr_expect_null(ret);
    }
    cr_expect_eq(counter(d), 4 * 300);
    /* each handle leaves at most its last call's record behind */
    char reply[64];
    test_redis_cmd(&s, reply, sizeof reply, "DBSIZE", NULL);
    cr_expect_leq(atoi(reply), 3, "data, marker, one record: %s keys", reply);
    mt_dict_free(d);
    test_redis_cmd(&s, reply, sizeof reply, "DBSIZE", NULL);
    cr_expect_eq(atoi(reply), 2, "free deleted its record: %s keys", reply);
    test_redis_stop(&s);
}

/* A server that stops answering (SIGSTOP) while a call waits: the call
 * gives MT_ECONNLOST at its timeout, and was done once or not at all. */
LEAK_TEST(remote, server_hangs, .timeout = 30)
{
    test_redis s;
    test_redis_start(&s, NULL);
    char url[256];
    url_of(url, sizeof url, &s, "hang");
    mt_shared_opts quick = {.timeout = 0.5};
    mt_dict *d;
    cr_assert_eq(mt_dict_open(&d, url, &quick), 0);
    cr_expect_eq(mt_dict_incr(d, "count", 5, 1, NULL), 0);
    kill(s.pid, SIGSTOP);
    double t0 = mt_monotonic();
    int err = mt_dict_incr(d, "count", 5, 1, NULL);
    double took = mt_monotonic() - t0;
    kill(s.pid, SIGCONT);
    cr_expect_eq(err, MT_ECONNLOST, "%s", mt_err_name(err));
    cr_expect(took >= 0.49 && took < 3, "gave up after %.2f s", took);
    int64_t n = counter(d);
    cr_expect(n == 1 || n == 2, "done once or not at all: %" PRId64, n);
    cr_expect_eq(mt_dict_incr(d, "count", 5, 1, NULL), 0, "the handle works again");
    cr_expect_eq(counter(d), n + 1);
    mt_dict_free(d);
    test_redis_stop(&s);
}
