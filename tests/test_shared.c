/*
 * test_shared.c - mt_dict and mt_list with real processes: sharing through
 * fork and by name, atomic read-modify-write under contention, batches,
 * writers and readers killed mid-transaction, a full map, bad arguments, and
 * the lecture's two Manager examples.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "helpers.h"

/*
 * These tests make directories in /dev/shm. The leak check counts only the
 * test's own (see helpers.h); they also take turns (a lock on /dev/shm
 * itself, across processes), so that a test that counts every new name of
 * its own in the middle (count_ours) sees no other test's.
 */
static int shm_turn = -1;

static void shm_begin(void)
{
    shm_turn = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (shm_turn >= 0)
        flock(shm_turn, LOCK_EX);
    leak_check_begin();
}

static void shm_end(void)
{
    leak_check_end();
    close(shm_turn);
}

#define SHM_TEST(suite, name, ...) CHECKED_TEST(shm_begin, shm_end, suite, name, ##__VA_ARGS__)

/* ------------------------------------------------------------- helpers */

/*
 * Fork a child that runs fn(ctx) and exits 0 when it returned 0 (a failed
 * fork shows as reap's -1). Code that children run must not use cr_*
 * assertions: those talk to the runner through a socket that a forked
 * child must not touch.
 */
static pid_t spawn(int (*fn)(void *), void *ctx)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn(ctx) == 0 ? 0 : 1);
    leak_check_adopt(pid);
    return pid;
}

/* Reap a child: its exit status, 128 + the signal that ended it, or -1. */
static int reap(pid_t pid)
{
    int st;
    if (pid <= 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Names this test made in /dev/shm since it began (helpers.h), hidden ones
 * of objects being made included. */
static int count_ours(void)
{
    return shm_new_names(NULL, 0);
}

static void set_str(mt_dict *d, const char *k, const char *v)
{
    cr_assert_eq(mt_dict_set(d, k, strlen(k), v, strlen(v)), 0, "set %s", k);
}

/* Whether d[k] is the string v. */
static bool has_str(mt_dict *d, const char *k, const char *v)
{
    mt_buf b = MT_BUF_INIT;
    bool ok = mt_dict_get(d, k, strlen(k), &b) == 0 && b.len == strlen(v) &&
              (b.len == 0 || memcmp(b.data, v, b.len) == 0);
    mt_buf_free(&b);
    return ok;
}

/* Whether l[i] is the string v. */
static bool item_is(mt_list *l, long i, const char *v)
{
    mt_buf b = MT_BUF_INIT;
    bool ok = mt_list_get(l, i, &b) == 0 && b.len == strlen(v) &&
              (b.len == 0 || memcmp(b.data, v, b.len) == 0);
    mt_buf_free(&b);
    return ok;
}

static int64_t counter(mt_dict *d, const char *k)
{
    int64_t n = -1;
    mt_buf b = MT_BUF_INIT;
    cr_assert_eq(mt_dict_get(d, k, strlen(k), &b), 0);
    cr_assert_eq(b.len, sizeof n);
    memcpy(&n, b.data, sizeof n);
    mt_buf_free(&b);
    return n;
}

/* A child that tells the parent it got somewhere, then waits to be killed. */
static int signal_and_hang(int fd)
{
    char c = 1;
    if (write(fd, &c, 1) != 1)
        return -EIO;
    for (;;)
        pause();
}

static void wait_signal(int fd)
{
    char c;
    cr_assert_eq(read(fd, &c, 1), 1, "the child died before it got there");
}

static void kill_and_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    cr_assert_eq(reap(pid), 128 + SIGKILL);
}

/* ------------------------------------------------------------ dict basics */

static int collect_item(const void *key, size_t klen, const void *value, size_t vlen, void *ctx)
{
    mt_buf *b = ctx;
    mt_buf_printf(b, "%.*s=%.*s;", (int)klen, (const char *)key, (int)vlen, (const char *)value);
    return 0;
}

SHM_TEST(dict, set_get_delete_contains_len, .timeout = 30)
{
    mt_dict *d;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    cr_expect_eq(mt_dict_len(d), 0);
    set_str(d, "b", "2");
    set_str(d, "a", "1");
    set_str(d, "c", "");
    set_str(d, "b", "two");
    cr_expect_eq(mt_dict_len(d), 3);
    cr_expect(has_str(d, "a", "1"));
    cr_expect(has_str(d, "b", "two"));
    cr_expect(has_str(d, "c", ""));
    cr_expect_eq(mt_dict_contains(d, "a", 1), 1);
    cr_expect_eq(mt_dict_contains(d, "zz", 2), 0);

    mt_buf b = MT_BUF_INIT;
    mt_buf_append(&b, "keep", 4);
    cr_expect_eq(mt_dict_get(d, "zz", 2, &b), MT_EKEY);
    cr_expect_eq(b.len, 4, "a failed get leaves out alone");
    mt_buf_reset(&b);
    cr_assert_eq(mt_dict_items(d, collect_item, &b), 0);
    cr_expect_eq(b.len, strlen("a=1;b=two;c=;"));
    cr_expect_eq(memcmp(b.data, "a=1;b=two;c=;", b.len), 0, "items in key order");

    cr_expect_eq(mt_dict_delete(d, "a", 1), 0);
    cr_expect_eq(mt_dict_delete(d, "a", 1), MT_EKEY);
    cr_expect_eq(mt_dict_pop(d, "b", 1, &b), 0);
    cr_expect_eq(b.len, 3);
    cr_expect_eq(memcmp(b.data, "two", 3), 0);
    cr_expect_eq(mt_dict_pop(d, "b", 1, &b), MT_EKEY);
    cr_expect_eq(mt_dict_pop(d, "c", 1, NULL), 0);
    cr_expect_eq(mt_dict_len(d), 0);

    set_str(d, "x", "1");
    set_str(d, "y", "2");
    cr_expect_eq(mt_dict_clear(d), 0);
    cr_expect_eq(mt_dict_len(d), 0);
    cr_expect_eq(mt_dict_contains(d, "x", 1), 0);
    mt_buf_free(&b);
    mt_dict_free(d);
}

static int check_view(const void *value, size_t len, void *ctx)
{
    const void **seen = ctx;
    *seen = value;
    return len == 5 && memcmp(value, "hello", 5) == 0 ? 7 : -1;
}

SHM_TEST(dict, view_keys_values, .timeout = 30)
{
    mt_dict *d;
    const void *seen = NULL;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    set_str(d, "greeting", "hello");
    set_str(d, "k2", "v2");
    cr_expect_eq(mt_dict_view(d, "greeting", 8, check_view, &seen), 7, "fn's value comes back");
    cr_expect_neq(seen, NULL);
    seen = NULL;
    cr_expect_eq(mt_dict_view(d, "nope", 4, check_view, &seen), MT_EKEY);
    cr_expect_eq(seen, NULL, "fn is not called for a missing key");

    mt_buf b = MT_BUF_INIT;
    mt_iov parts[4];
    cr_assert_eq(mt_dict_keys(d, &b), 0);
    cr_assert_eq(mt_unpack(b.data, b.len, parts, 4), 2);
    cr_expect_eq(parts[0].len, 8);
    cr_expect_eq(memcmp(parts[0].data, "greeting", 8), 0);
    cr_expect_eq(memcmp(parts[1].data, "k2", 2), 0);
    mt_buf_reset(&b);
    cr_assert_eq(mt_dict_values(d, &b), 0);
    cr_assert_eq(mt_unpack(b.data, b.len, parts, 4), 2);
    cr_expect_eq(memcmp(parts[0].data, "hello", 5), 0);
    cr_expect_eq(memcmp(parts[1].data, "v2", 2), 0);
    mt_buf_free(&b);
    mt_dict_free(d);
}

static int stop_at_second(const void *key, size_t klen, const void *value, size_t vlen, void *ctx)
{
    (void)key, (void)klen, (void)value, (void)vlen;
    return ++*(int *)ctx == 2 ? 42 : 0;
}

SHM_TEST(dict, items_stop_when_fn_says_so, .timeout = 30)
{
    mt_dict *d;
    int calls = 0;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    set_str(d, "a", "1");
    set_str(d, "b", "2");
    set_str(d, "c", "3");
    cr_expect_eq(mt_dict_items(d, stop_at_second, &calls), 42);
    cr_expect_eq(calls, 2);
    mt_dict_free(d);
}

SHM_TEST(dict, bad_arguments_change_nothing, .timeout = 30)
{
    mt_dict *d;
    char big[MT_SHARED_MAX_KEY + 1];
    memset(big, 'k', sizeof big);
    mt_buf b = MT_BUF_INIT;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    set_str(d, "a", "1");
    cr_expect_eq(mt_dict_new(NULL, NULL), -EINVAL);
    cr_expect_eq(mt_dict_set(NULL, "a", 1, "x", 1), -EINVAL);
    cr_expect_eq(mt_dict_set(d, NULL, 1, "x", 1), -EINVAL);
    cr_expect_eq(mt_dict_set(d, "a", 0, "x", 1), -EINVAL);
    cr_expect_eq(mt_dict_set(d, big, sizeof big, "x", 1), -EINVAL);
    cr_expect_eq(mt_dict_set(d, big, sizeof big - 1, "x", 1), 0, "the longest key fits");
    cr_expect_eq(mt_dict_set(d, "a", 1, NULL, 1), -EINVAL);
    cr_expect_eq(mt_dict_get(d, "a", 1, NULL), -EINVAL);
    cr_expect_eq(mt_dict_view(d, "a", 1, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_dict_items(d, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_dict_keys(d, NULL), -EINVAL);
    cr_expect_eq(mt_dict_incr(d, NULL, 0, 1, NULL), -EINVAL);
    cr_expect_eq(mt_dict_modify(d, "a", 1, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_dict_cas(d, "a", 1, &(mt_iov){NULL, 3}, NULL), -EINVAL);
    mt_dict_pair bad[] = {{{"k", 1}, {"v", 1}}, {{"", 0}, {"v", 1}}};
    cr_expect_eq(mt_dict_update(d, bad, 2), -EINVAL);
    cr_expect_eq(mt_dict_update(d, NULL, 1), -EINVAL);
    cr_expect_eq(mt_dict_len(NULL), -EINVAL);
    cr_expect_eq(mt_dict_batch_commit(d), -EINVAL, "no batch open");
    cr_expect_eq(mt_dict_batch_abort(d), -EINVAL);
    cr_expect_eq(mt_dict_len(d), 2, "nothing changed");
    cr_expect(has_str(d, "a", "1"));
    cr_expect_eq(mt_dict_contains(d, "k", 1), 0, "a bad pair stops the whole update");
    mt_dict_free(NULL);
    mt_buf_free(&b);
    mt_dict_free(d);
}

SHM_TEST(dict, bad_options_and_names, .timeout = 30)
{
    mt_dict *d = NULL;
    int before = count_ours();
    cr_expect_eq(mt_dict_new(&d, &(mt_shared_opts){.name = "a", .path = "/tmp/x"}), -EINVAL);
    cr_expect_eq(mt_dict_new(&d, &(mt_shared_opts){.name = "a/b"}), -EINVAL);
    cr_expect_eq(mt_dict_new(&d, &(mt_shared_opts){.name = ".hidden"}), -EINVAL);
    cr_expect_eq(mt_dict_new(&d, &(mt_shared_opts){.name = ""}), -EINVAL);
    cr_expect_eq(mt_dict_new(&d, &(mt_shared_opts){.path = ""}), -EINVAL);
    cr_expect_eq(mt_dict_new(&d, &(mt_shared_opts){.map_size = 4096}), -EINVAL);
    cr_expect_eq(mt_dict_new(&d, &(mt_shared_opts){.sync = 99}), -EINVAL);
    cr_expect_eq(mt_dict_new(&d, &(mt_shared_opts){.path = "/nonexistent-dir/x"}), -ENOENT);
    cr_expect_eq(mt_dict_open(&d, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_dict_open(&d, "", NULL), -EINVAL);
    cr_expect_eq(mt_dict_open(&d, "no-such-object-here", NULL), -ENOENT);
    cr_expect_eq(mt_dict_open(&d, "/nonexistent-dir/x", NULL), -ENOENT);
    cr_expect_eq(mt_dict_open(&d, "/etc/passwd", NULL), -ENOENT);
    cr_expect_eq(mt_shared_unlink("no-such-object-here"), -ENOENT);
    cr_expect_eq(d, NULL, "out is not written on failure");
    cr_expect_eq(count_ours(), before, "nothing was made, not even a hidden directory");
}

/* ------------------------------------------------------ sharing and names */

static int child_sets(void *ctx)
{
    mt_dict *d = ctx;
    if (!has_str(d, "from", "parent"))
        return 1;
    return mt_dict_set(d, "from", 4, "child", 5);
}

SHM_TEST(dict, inherited_through_fork, .timeout = 30)
{
    mt_dict *d;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    set_str(d, "from", "parent"); /* used before the fork: the child reopens */
    cr_expect_eq(reap(spawn(child_sets, d)), 0);
    cr_expect(has_str(d, "from", "child"));
    mt_dict_free(d);
}

static int grandchild(void *ctx)
{
    return mt_dict_incr(ctx, "n", 1, 1, NULL);
}

static int child_forks(void *ctx)
{
    int err = mt_dict_incr(ctx, "n", 1, 1, NULL);
    return err ? err : reap(spawn(grandchild, ctx));
}

SHM_TEST(dict, inherited_by_grandchildren, .timeout = 30)
{
    mt_dict *d;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    cr_expect_eq(reap(spawn(child_forks, d)), 0);
    cr_expect_eq(counter(d, "n"), 2);
    mt_dict_free(d);
}

/* An unrelated process: forked before the dict existed, it gets only the
 * name, through a pipe. */
static int open_by_name(void *ctx)
{
    int fd = *(int *)ctx;
    char name[256] = {0};
    if (read(fd, name, sizeof name - 1) <= 0)
        return 1;
    mt_dict *d;
    int err = mt_dict_open(&d, name, NULL);
    if (err < 0)
        return err;
    err = has_str(d, "hello", "world") ? mt_dict_set(d, "reply", 5, "ok", 2) : 1;
    mt_dict_free(d);
    return err;
}

SHM_TEST(dict, opened_by_name_from_an_unrelated_process, .timeout = 30)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = spawn(open_by_name, &p[0]);
    close(p[0]);
    mt_dict *d;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    set_str(d, "hello", "world");
    char name[256];
    snprintf(name, sizeof name, "%s", mt_dict_name(d));
    cr_assert_eq(write(p[1], name, strlen(name)), (ssize_t)strlen(name));
    close(p[1]);
    cr_expect_eq(reap(pid), 0);
    cr_expect(has_str(d, "reply", "ok"));
    mt_dict_free(d);
    mt_dict *again;
    cr_expect_eq(mt_dict_open(&again, name, NULL), -ENOENT, "the creator's close removed it");
}

/* A child that first touches its inherited dict after the creator's close
 * removed the directory: an error, not a crash. */
static int late_child(void *arg)
{
    struct {
        mt_dict *d;
        int fd;
    } *c = arg;
    char x;
    if (read(c->fd, &x, 1) != 1)
        return 1;
    int err = mt_dict_set(c->d, "k", 1, "v", 1);
    mt_dict_free(c->d); /* a child's close removes nothing */
    return err == -ENOENT ? 0 : 1;
}

SHM_TEST(dict, a_late_child_after_the_creators_close, .timeout = 30)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    struct {
        mt_dict *d;
        int fd;
    } c = {NULL, p[0]};
    cr_assert_eq(mt_dict_new(&c.d, NULL), 0);
    pid_t pid = spawn(late_child, &c);
    mt_dict_free(c.d);
    cr_assert_eq(write(p[1], "x", 1), 1);
    cr_expect_eq(reap(pid), 0);
    close(p[0]);
    close(p[1]);
}

SHM_TEST(dict, named_persisted_and_removed, .timeout = 30)
{
    char name[64];
    test_shm_name(name, sizeof name, "dict");
    mt_dict *d, *d2;
    mt_list *l;
    cr_assert_eq(mt_dict_new(&d, &(mt_shared_opts){.name = name, .persist = true}), 0);
    cr_expect_str_eq(mt_dict_name(d), name);
    cr_expect_eq(mt_dict_new(&d2, &(mt_shared_opts){.name = name}), -EEXIST);
    cr_expect_eq(mt_list_open(&l, name, NULL), -ENOENT, "a dict is not a list");
    set_str(d, "k", "v");
    cr_assert_eq(mt_dict_open(&d2, name, NULL), 0, "a second handle in the same process");
    cr_expect(has_str(d2, "k", "v"));
    mt_dict_free(d);
    cr_expect(has_str(d2, "k", "v"), "the other handle goes on");
    mt_dict_free(d2);
    cr_assert_eq(mt_dict_open(&d, name, NULL), 0, "persisted");
    cr_expect(has_str(d, "k", "v"));
    mt_dict_free(d);
    cr_expect_eq(mt_shared_unlink(name), 0);
    cr_expect_eq(mt_dict_open(&d, name, NULL), -ENOENT);
}

SHM_TEST(dict, in_a_directory_of_the_callers_choosing, .timeout = 30)
{
    char base[] = "/tmp/mt-test-XXXXXX", path[64];
    cr_assert_neq(mkdtemp(base), NULL);
    snprintf(path, sizeof path, "%s/store", base);
    mt_dict *d;
    cr_assert_eq(mt_dict_new(&d, &(mt_shared_opts){.path = path, .map_size = 1 << 20}), 0);
    cr_expect_str_eq(mt_dict_name(d), path);
    set_str(d, "durable", "yes");
    mt_dict_free(d);
    cr_assert_eq(mt_dict_open(&d, path, &(mt_shared_opts){.sync = MT_SHARED_SYNC_META}), 0);
    cr_expect(has_str(d, "durable", "yes"), "a path is kept after close");
    mt_dict_free(d);
    cr_expect_eq(mt_dict_new(&d, &(mt_shared_opts){.path = path}), -EEXIST);
    cr_expect_eq(mt_shared_unlink(path), 0);
    /* A path taken by a file holds other files already: -EEXIST, as mkdir. */
    int fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0600);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_expect_eq(mt_dict_new(&d, &(mt_shared_opts){.path = path}), -EEXIST);
    cr_expect_eq(mt_list_new((mt_list **)&d, &(mt_shared_opts){.path = path}), -EEXIST);
    cr_expect_eq(unlink(path), 0, "the file is left alone");
    /* A directory with an empty data.mdb is not an object: LMDB must not
     * quietly make it a new, empty one. */
    char data[96];
    cr_assert_eq(mkdir(path, 0700), 0);
    snprintf(data, sizeof data, "%s/data.mdb", path);
    fd = open(data, O_CREAT | O_WRONLY | O_EXCL, 0600);
    cr_assert_geq(fd, 0);
    close(fd);
    cr_expect_eq(mt_dict_open(&d, path, NULL), -EPROTO);
    struct stat st;
    cr_expect(stat(data, &st) == 0 && st.st_size == 0, "the empty data.mdb was written");
    cr_expect_eq(unlink(data), 0);
    cr_expect_eq(rmdir(path), 0, "a lock.mdb or other file was left in the directory");
    cr_expect_eq(rmdir(base), 0, "nothing else was left in the directory");
}

/* ------------------------------------------- only our own are touched */

/* Write a file of `text` at dir/name. */
static void put_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0, "%s", path);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* Whether dir/name holds exactly `text`. */
static bool file_is(const char *dir, const char *name, const char *text)
{
    char path[256], buf[256] = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n == (ssize_t)strlen(text) && memcmp(buf, text, (size_t)n) == 0;
}

/* Whether dir holds a file called name. */
static bool has_file(const char *dir, const char *name)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &st) == 0;
}

/* A directory of someone else's that happens to hold files by LMDB's names. */
static void make_foreign_dir(const char *dir)
{
    cr_assert_eq(mkdir(dir, 0700), 0, "%s", dir);
    put_file(dir, "data.mdb", "precious data, not an LMDB file at all; long enough to be read");
    put_file(dir, "lock.mdb", "precious lock");
}

static void remove_foreign_dir(const char *dir)
{
    char path[256];
    const char *files[] = {"data.mdb", "lock.mdb", "multitask-object"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    cr_expect_eq(rmdir(dir), 0, "%s held something else", dir);
}

SHM_TEST(dict, remove_and_open_leave_a_foreign_directory_alone, .timeout = 30)
{
    char base[] = "/tmp/mt-test-XXXXXX", path[64], name[64], shm[128];
    cr_assert_neq(mkdtemp(base), NULL);
    snprintf(path, sizeof path, "%s/theirs", base);
    make_foreign_dir(path);
    mt_dict *d = NULL;
    cr_expect_eq(mt_shared_unlink(path), -EPROTO);
    cr_expect_eq(mt_dict_open(&d, path, NULL), -EPROTO);
    cr_expect(file_is(path, "data.mdb", "precious data, not an LMDB file at all; long enough to be read"));
    cr_expect(file_is(path, "lock.mdb", "precious lock"));
    remove_foreign_dir(path);
    /* The same under a /dev/shm name. */
    test_shm_name(name, sizeof name, "foreign");
    snprintf(shm, sizeof shm, "/dev/shm/mt-%s", name);
    make_foreign_dir(shm);
    cr_expect_eq(mt_shared_unlink(name), -EPROTO);
    cr_expect_eq(mt_list_open((mt_list **)&d, name, NULL), -EPROTO);
    cr_expect(file_is(shm, "data.mdb", "precious data, not an LMDB file at all; long enough to be read"));
    remove_foreign_dir(shm);
    /* An empty directory holds no object: -ENOENT, and it stays. */
    cr_assert_eq(mkdir(shm, 0700), 0);
    cr_expect_eq(mt_shared_unlink(name), -ENOENT);
    cr_expect_eq(rmdir(shm), 0);
    cr_expect_eq(d, NULL);
    cr_expect_eq(rmdir(base), 0);
}

SHM_TEST(dict, remove_and_open_never_follow_a_symlink, .timeout = 30)
{
    char base[] = "/tmp/mt-test-XXXXXX", path[64], name[64], shm[128];
    cr_assert_neq(mkdtemp(base), NULL);
    snprintf(path, sizeof path, "%s/store", base);
    /* A real object of the caller's (by path), and a name planted in
     * /dev/shm that leads to it. */
    mt_dict *d = NULL;
    cr_assert_eq(mt_dict_new(&d, &(mt_shared_opts){.path = path, .map_size = 1 << 20}), 0);
    set_str(d, "k", "v");
    mt_dict_free(d);
    d = NULL;
    test_shm_name(name, sizeof name, "planted");
    snprintf(shm, sizeof shm, "/dev/shm/mt-%s", name);
    cr_assert_eq(symlink(path, shm), 0);
    cr_expect_eq(mt_shared_unlink(name), -ELOOP);
    cr_expect_eq(mt_dict_open(&d, name, NULL), -ELOOP);
    cr_expect(has_file(path, "data.mdb"), "removed through the link");
    cr_expect(has_file(path, "lock.mdb"), "removed through the link");
    struct stat st;
    cr_expect_eq(lstat(shm, &st), 0, "the link itself went");
    cr_expect_eq(unlink(shm), 0);
    /* A link to a foreign directory is left alone the same way. */
    char theirs[96];
    snprintf(theirs, sizeof theirs, "%s/theirs", base);
    make_foreign_dir(theirs);
    cr_assert_eq(symlink(theirs, shm), 0);
    cr_expect_eq(mt_shared_unlink(name), -ELOOP);
    cr_expect(file_is(theirs, "data.mdb", "precious data, not an LMDB file at all; long enough to be read"));
    cr_expect_eq(unlink(shm), 0);
    remove_foreign_dir(theirs);
    /* The object itself is still whole, and removable by its path. */
    cr_assert_eq(mt_dict_open(&d, path, NULL), 0);
    cr_expect(has_str(d, "k", "v"));
    mt_dict_free(d);
    cr_expect_eq(mt_shared_unlink(path), 0);
    cr_expect_eq(rmdir(base), 0, "remove left something behind");
}

SHM_TEST(dict, opening_a_foreign_directory_leaves_nothing, .timeout = 30)
{
    char base[] = "/tmp/mt-test-XXXXXX", path[64];
    cr_assert_neq(mkdtemp(base), NULL);
    snprintf(path, sizeof path, "%s/theirs", base);
    cr_assert_eq(mkdir(path, 0700), 0);
    /* A data.mdb of a page of zeros and text: not LMDB's, not empty. */
    char page[4096];
    memset(page, 0, sizeof page);
    strcpy(page + 100, "someone's file");
    char data[96];
    snprintf(data, sizeof data, "%s/data.mdb", path);
    int fd = open(data, O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, page, sizeof page), (ssize_t)sizeof page);
    close(fd);
    mt_dict *d = NULL;
    cr_expect_eq(mt_dict_open(&d, path, NULL), -EPROTO);
    cr_expect(!has_file(path, "lock.mdb"), "open left a lock.mdb");
    cr_expect_eq(unlink(data), 0);
    /* An empty directory: nothing there, and nothing made. */
    cr_expect_eq(mt_dict_open(&d, path, NULL), -ENOENT);
    cr_expect_eq(rmdir(path), 0, "open left a file in an empty directory");
    cr_expect_eq(rmdir(base), 0);
    cr_expect_eq(d, NULL);
}

SHM_TEST(dict, a_name_taken_by_an_empty_directory_is_eexist, .timeout = 30)
{
    char name[64], shm[128];
    test_shm_name(name, sizeof name, "empty");
    snprintf(shm, sizeof shm, "/dev/shm/mt-%s", name);
    cr_assert_eq(mkdir(shm, 0700), 0);
    mt_dict *d = NULL;
    mt_list *l = NULL;
    cr_expect_eq(mt_dict_new(&d, &(mt_shared_opts){.name = name}), -EEXIST);
    cr_expect_eq(mt_list_new(&l, &(mt_shared_opts){.name = name, .persist = true}), -EEXIST);
    cr_expect_eq(rmdir(shm), 0, "the directory was taken over");
    cr_expect_eq(d, NULL);
    cr_expect_eq(l, NULL);
}

SHM_TEST(dict, an_object_carries_its_marker, .timeout = 30)
{
    char name[64], shm[128], want[64];
    test_shm_name(name, sizeof name, "marked");
    snprintf(shm, sizeof shm, "/dev/shm/mt-%s", name);
    mt_dict *d;
    cr_assert_eq(mt_dict_new(&d, &(mt_shared_opts){.name = name, .persist = true}), 0);
    snprintf(want, sizeof want, "multitask shared object 1\ncreator pid %d\n", (int)getpid());
    cr_expect(file_is(shm, "multitask-object", want));
    mt_dict_free(d);
    /* A marker that is a link is no marker. */
    char marker[160];
    snprintf(marker, sizeof marker, "%s/multitask-object", shm);
    cr_assert_eq(unlink(marker), 0);
    cr_assert_eq(symlink("/etc/hostname", marker), 0);
    cr_expect_eq(mt_shared_unlink(name), -EPROTO);
    cr_expect_eq(mt_dict_open(&d, name, NULL), -EPROTO);
    cr_assert_eq(unlink(marker), 0);
    put_file(shm, "multitask-object", want);
    /* A remove killed after its first unlink left the marker without
     * data.mdb: the next one finishes it (it was refused with -EPROTO). */
    char data[160];
    snprintf(data, sizeof data, "%s/data.mdb", shm);
    cr_assert_eq(unlink(data), 0);
    cr_expect_eq(mt_dict_open(&d, name, NULL), -EPROTO, "no object to open");
    cr_expect_eq(mt_shared_unlink(name), 0);
    struct stat st;
    cr_expect_neq(lstat(shm, &st), 0, "not removed");
}

/* A child reopens an inherited object by its path: a directory swapped in
 * under that path since (here another object) is refused, never used as
 * if it were the same object (the child read the other object's data). */
SHM_TEST(dict, a_child_never_reopens_a_swapped_directory, .timeout = 30)
{
    char na[64], nb[64], pa[128], pb[128], away[160];
    test_shm_name(na, sizeof na, "swap-a");
    test_shm_name(nb, sizeof nb, "swap-b");
    snprintf(pa, sizeof pa, "/dev/shm/mt-%s", na);
    snprintf(pb, sizeof pb, "/dev/shm/mt-%s", nb);
    snprintf(away, sizeof away, "%s-away", pa);
    mt_dict *a, *b;
    cr_assert_eq(mt_dict_new(&a, &(mt_shared_opts){.name = na, .persist = true}), 0);
    cr_assert_eq(mt_dict_new(&b, &(mt_shared_opts){.name = nb, .persist = true}), 0);
    cr_assert_eq(mt_dict_set_str(a, "k", "a"), 0);
    cr_assert_eq(mt_dict_set_str(b, "k", "b"), 0);
    cr_assert_eq(rename(pa, away), 0);
    cr_assert_eq(rename(pb, pa), 0);
    pid_t child = fork();
    if (child == 0) {
        mt_buf v = MT_BUF_INIT;
        int err = mt_dict_get_str(a, "k", &v);
        _exit(err == -ESTALE ? 0 : err == 0 && strcmp(v.data, "b") == 0 ? 2 : 3);
    }
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the child used the swapped-in object (status %d)", status);
    cr_assert_eq(rename(pa, pb), 0);
    cr_assert_eq(rename(away, pa), 0);
    mt_dict_free(a);
    mt_dict_free(b);
    cr_expect_eq(mt_shared_unlink(na), 0);
    cr_expect_eq(mt_shared_unlink(nb), 0);
}

/* ------------------------------------------- C strings and int64 values */

static int child_sets_typed(void *ctx)
{
    mt_dict *d = ctx;
    return mt_dict_set_str(d, "from child", "hello") || mt_dict_set_i64(d, "pid", getpid());
}

SHM_TEST(dict, strings_and_int64_values, .timeout = 30)
{
    mt_dict *d;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    mt_buf b = MT_BUF_INIT;
    /* d["k"] = "v", read back as a C string and as bytes. */
    cr_expect_eq(mt_dict_set_str(d, "k", "value"), 0);
    cr_expect_eq(mt_dict_get_str(d, "k", &b), 0);
    cr_expect_str_eq(b.data, "value");
    cr_expect_eq(b.len, 5, "the NUL is not counted");
    cr_expect(has_str(d, "k", "value"), "stored without its NUL, found by strlen(key)");
    set_str(d, "raw", "bytes");
    cr_expect_eq(mt_dict_get_str(d, "raw", &b), 0);
    cr_expect_str_eq(b.data, "bytes");
    cr_expect_eq(mt_dict_set_str(d, "empty", ""), 0);
    cr_expect_eq(mt_dict_get_str(d, "empty", &b), 0);
    cr_expect_str_eq(b.data, "");
    cr_expect_eq(b.len, 0);
    /* A value with a NUL inside is bytes, no C string; out is untouched. */
    cr_assert_eq(mt_dict_set(d, "nul", 3, "a\0b", 3), 0);
    mt_buf_reset(&b);
    mt_buf_append(&b, "kept", 4);
    cr_expect_eq(mt_dict_get_str(d, "nul", &b), -EINVAL);
    cr_expect_eq(mt_dict_get_str(d, "missing", &b), MT_EKEY);
    cr_expect(b.len == 4 && memcmp(b.data, "kept", 4) == 0, "out changed on failure");

    /* d["n"] = 5, shared with mt_dict_incr's counters. */
    int64_t n = 0;
    cr_expect_eq(mt_dict_set_i64(d, "n", 5), 0);
    cr_expect_eq(mt_dict_get_i64(d, "n", &n), 0);
    cr_expect_eq(n, 5);
    cr_expect_eq(mt_dict_incr(d, "n", 1, 10, &n), 0);
    cr_expect_eq(n, 15);
    cr_expect_eq(mt_dict_incr(d, "c", 1, -7, NULL), 0);
    cr_expect_eq(mt_dict_get_i64(d, "c", &n), 0);
    cr_expect_eq(n, -7);
    cr_expect_eq(mt_dict_set_i64(d, "min", INT64_MIN), 0);
    cr_expect_eq(mt_dict_get_i64(d, "min", &n), 0);
    cr_expect_eq(n, INT64_MIN);
    /* A value that is not 8 bytes is no int64; *out is untouched. */
    n = 42;
    cr_expect_eq(mt_dict_get_i64(d, "k", &n), -EINVAL);
    cr_expect_eq(mt_dict_get_i64(d, "missing", &n), MT_EKEY);
    cr_expect_eq(n, 42);

    /* Bad arguments change nothing. */
    char longkey[MT_SHARED_MAX_KEY + 2];
    memset(longkey, 'x', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    ssize_t len = mt_dict_len(d);
    cr_expect_eq(mt_dict_set_str(NULL, "k", "v"), -EINVAL);
    cr_expect_eq(mt_dict_set_str(d, NULL, "v"), -EINVAL);
    cr_expect_eq(mt_dict_set_str(d, "", "v"), -EINVAL);
    cr_expect_eq(mt_dict_set_str(d, longkey, "v"), -EINVAL);
    cr_expect_eq(mt_dict_set_str(d, "k", NULL), -EINVAL);
    cr_expect_eq(mt_dict_get_str(d, "k", NULL), -EINVAL);
    cr_expect_eq(mt_dict_get_str(NULL, "k", &b), -EINVAL);
    cr_expect_eq(mt_dict_set_i64(d, longkey, 1), -EINVAL);
    cr_expect_eq(mt_dict_set_i64(NULL, "n", 1), -EINVAL);
    cr_expect_eq(mt_dict_get_i64(d, "n", NULL), -EINVAL);
    cr_expect_eq(mt_dict_get_i64(d, NULL, &n), -EINVAL);
    longkey[MT_SHARED_MAX_KEY] = '\0'; /* the longest key there is */
    cr_expect_eq(mt_dict_set_i64(d, longkey, 3), 0);
    cr_expect_eq(mt_dict_len(d), len + 1);

    /* Another process's writes, read here. */
    cr_assert_eq(reap(spawn(child_sets_typed, d)), 0);
    cr_expect_eq(mt_dict_get_str(d, "from child", &b), 0);
    cr_expect_str_eq(b.data, "hello");
    cr_expect_eq(mt_dict_get_i64(d, "pid", &n), 0);
    cr_expect_gt(n, 0);
    cr_expect_neq(n, getpid());
    mt_buf_free(&b);
    mt_dict_free(d);
}

/* ------------------------------------------------- read-modify-write */

static int incr_many(void *ctx)
{
    for (int i = 0; i < 100000; i++) {
        int err = mt_dict_incr(ctx, "hits", 4, 1, NULL);
        if (err < 0)
            return err;
    }
    return 0;
}

SHM_TEST(dict, incr_from_four_processes_loses_nothing, .timeout = 240)
{
    mt_dict *d;
    pid_t pids[4];
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    for (int i = 0; i < 4; i++)
        pids[i] = spawn(incr_many, d);
    for (int i = 0; i < 4; i++)
        cr_expect_eq(reap(pids[i]), 0);
    cr_expect_eq(counter(d, "hits"), 400000);
    mt_dict_free(d);
}

SHM_TEST(dict, incr_checks_the_value_and_overflow, .timeout = 30)
{
    mt_dict *d;
    int64_t r = 0;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    cr_expect_eq(mt_dict_incr(d, "n", 1, 5, &r), 0);
    cr_expect_eq(r, 5);
    cr_expect_eq(mt_dict_incr(d, "n", 1, -7, &r), 0);
    cr_expect_eq(r, -2);
    cr_expect_eq(mt_dict_incr(d, "n", 1, INT64_MIN, &r), -EOVERFLOW);
    cr_expect_eq(counter(d, "n"), -2, "an overflow changes nothing");
    set_str(d, "s", "text");
    cr_expect_eq(mt_dict_incr(d, "s", 1, 1, NULL), -EINVAL);
    cr_expect(has_str(d, "s", "text"));
    mt_dict_free(d);
}

static int cas_add(void *ctx)
{
    for (int i = 0; i < 2000; i++) {
        for (;;) {
            mt_buf b = MT_BUF_INIT;
            int64_t n = 0, m;
            int err = mt_dict_get(ctx, "c", 1, &b);
            if (err == 0)
                memcpy(&n, b.data, sizeof n);
            mt_buf_free(&b);
            m = n + 1;
            mt_iov old = {&n, sizeof n}, new = {&m, sizeof m};
            err = mt_dict_cas(ctx, "c", 1, err == 0 ? &old : NULL, &new);
            if (err < 0)
                return err;
            if (err == 1)
                break;
        }
    }
    return 0;
}

SHM_TEST(dict, cas, .timeout = 60)
{
    mt_dict *d;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    cr_expect_eq(mt_dict_cas(d, "k", 1, NULL, &(mt_iov){"a", 1}), 1, "insert if absent");
    cr_expect_eq(mt_dict_cas(d, "k", 1, NULL, &(mt_iov){"b", 1}), 0, "present: no swap");
    cr_expect_eq(mt_dict_cas(d, "k", 1, &(mt_iov){"x", 1}, &(mt_iov){"b", 1}), 0);
    cr_expect(has_str(d, "k", "a"));
    cr_expect_eq(mt_dict_cas(d, "k", 1, &(mt_iov){"a", 1}, &(mt_iov){"bb", 2}), 1);
    cr_expect(has_str(d, "k", "bb"));
    cr_expect_eq(mt_dict_cas(d, "k", 1, &(mt_iov){"b", 1}, NULL), 0, "a prefix is not equal");
    cr_expect_eq(mt_dict_cas(d, "k", 1, &(mt_iov){"bb", 2}, NULL), 1, "delete if equal");
    cr_expect_eq(mt_dict_contains(d, "k", 1), 0);

    pid_t a = spawn(cas_add, d), b = spawn(cas_add, d);
    cr_expect_eq(reap(a), 0);
    cr_expect_eq(reap(b), 0);
    cr_expect_eq(counter(d, "c"), 4000);
    mt_dict_free(d);
}

/* Append the byte in ctx to the value (a string that grows). */
static int append_byte(const mt_iov *old, mt_buf *out, void *ctx)
{
    if (old && mt_buf_append(out, old->data, old->len) < 0)
        return -ENOMEM;
    return mt_buf_append(out, ctx, 1);
}

static int modify_many(void *ctx)
{
    mt_dict *d = ctx;
    char c = getpid() % 2 ? 'o' : 'e';
    for (int i = 0; i < 500; i++)
        if (mt_dict_modify(d, "log", 3, append_byte, &c) < 0)
            return 1;
    return 0;
}

static int want(const mt_iov *old, mt_buf *out, void *ctx)
{
    (void)old, (void)out;
    return *(int *)ctx;
}

static int saw_old(const mt_iov *old, mt_buf *out, void *ctx)
{
    (void)out;
    *(int *)ctx = old ? (int)old->len : -1;
    return MT_DICT_KEEP;
}

/* A modify function that writes to its own dict: refused, not a hang. */
static int reenter(const mt_iov *old, mt_buf *out, void *ctx)
{
    (void)old, (void)out;
    return mt_dict_set(ctx, "x", 1, "y", 1);
}

SHM_TEST(dict, modify, .timeout = 60)
{
    mt_dict *d;
    int r, len;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    pid_t a = spawn(modify_many, d), b = spawn(modify_many, d);
    cr_expect_eq(reap(a), 0);
    cr_expect_eq(reap(b), 0);
    mt_buf v = MT_BUF_INIT;
    cr_assert_eq(mt_dict_get(d, "log", 3, &v), 0);
    cr_expect_eq(v.len, 1000, "no append was lost");
    mt_buf_free(&v);

    cr_expect_eq(mt_dict_modify(d, "nokey", 5, saw_old, &len), 0);
    cr_expect_eq(len, -1, "absent: old is NULL");
    cr_expect_eq(mt_dict_modify(d, "log", 3, saw_old, &len), 0);
    cr_expect_eq(len, 1000);
    r = -ECANCELED;
    cr_expect_eq(mt_dict_modify(d, "log", 3, want, &r), -ECANCELED);
    r = 7;
    cr_expect_eq(mt_dict_modify(d, "log", 3, want, &r), -EINVAL);
    cr_expect_eq(mt_dict_contains(d, "log", 3), 1, "errors change nothing");
    r = MT_DICT_DELETE;
    cr_expect_eq(mt_dict_modify(d, "log", 3, want, &r), 0);
    cr_expect_eq(mt_dict_contains(d, "log", 3), 0);
    cr_expect_eq(mt_dict_modify(d, "new", 3, append_byte, "z"), 0);
    cr_expect(has_str(d, "new", "z"));
    cr_expect_eq(mt_dict_modify(d, "q", 1, reenter, d), -EDEADLK);
    cr_expect_eq(mt_dict_contains(d, "x", 1), 0);
    mt_dict_free(d);
}

/* Two threads through one handle. */
static void *incr_thread(void *arg)
{
    for (int i = 0; i < 5000; i++)
        if (mt_dict_incr(arg, "t", 1, 1, NULL) < 0)
            return arg;
    return NULL;
}

SHM_TEST(dict, threads_share_a_handle, .timeout = 60)
{
    mt_dict *d;
    pthread_t t[2];
    void *r0, *r1;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, incr_thread, d), 0);
    pthread_join(t[0], &r0);
    pthread_join(t[1], &r1);
    cr_expect_eq(r0, NULL);
    cr_expect_eq(r1, NULL);
    cr_expect_eq(counter(d, "t"), 10000);
    mt_dict_free(d);
}

/* ------------------------------------------------------------- batching */

SHM_TEST(dict, update_is_one_transaction, .timeout = 30)
{
    mt_dict *d;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    mt_dict_pair pairs[] = {
        {{"a", 1}, {"1", 1}}, {{"b", 1}, {"2", 1}}, {{"a", 1}, {"3", 1}}};
    cr_expect_eq(mt_dict_update(d, pairs, 3), 0);
    cr_expect_eq(mt_dict_len(d), 2);
    cr_expect(has_str(d, "a", "3"), "the later pair wins");
    cr_expect_eq(mt_dict_update(d, pairs, 0), 0);
    mt_dict_free(d);
}

static int sees_only_old(void *ctx)
{
    return has_str(ctx, "k", "old") && mt_dict_contains(ctx, "new", 3) == 0 ? 0 : 1;
}

SHM_TEST(dict, batch, .timeout = 30)
{
    mt_dict *d;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    set_str(d, "k", "old");
    cr_assert_eq(mt_dict_batch_begin(d), 0);
    cr_expect_eq(mt_dict_batch_begin(d), -EBUSY);
    set_str(d, "k", "new");
    set_str(d, "new", "1");
    cr_expect(has_str(d, "k", "new"), "the batch reads its own writes");
    cr_expect_eq(mt_dict_len(d), 2);
    cr_expect_eq(mt_dict_delete(d, "missing", 7), MT_EKEY);
    cr_expect_eq(reap(spawn(sees_only_old, d)), 0, "others see nothing before commit");
    cr_expect_eq(mt_dict_batch_commit(d), 0, "a failed delete does not spoil the batch");
    cr_expect(has_str(d, "k", "new"));

    cr_assert_eq(mt_dict_batch_begin(d), 0);
    cr_expect_eq(mt_dict_clear(d), 0);
    cr_expect_eq(mt_dict_len(d), 0);
    cr_expect_eq(mt_dict_batch_abort(d), 0);
    cr_expect_eq(mt_dict_len(d), 2, "abort drops the batch");

    cr_assert_eq(mt_dict_batch_begin(d), 0);
    set_str(d, "left", "open");
    mt_dict_free(d); /* aborts it */
}

static void *begin_in_thread(void *arg)
{
    return (void *)(intptr_t)mt_dict_batch_begin(arg);
}

SHM_TEST(dict, a_batch_belongs_to_its_thread, .timeout = 30)
{
    mt_dict *d;
    pthread_t t;
    void *r;
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    cr_assert_eq(mt_dict_batch_begin(d), 0);
    cr_assert_eq(pthread_create(&t, NULL, begin_in_thread, d), 0);
    pthread_join(t, &r);
    cr_expect_eq((intptr_t)r, -EBUSY);
    cr_expect_eq(mt_dict_batch_commit(d), 0);
    mt_dict_free(d);
}

/* ------------------------------------------------------- crashes */

/* What a child that is to die gets: its object, and a pipe to say when. */
struct crash_ctx {
    mt_dict *d;
    mt_list *l;
    int fd;
};

static int die_in_batch(void *arg)
{
    struct crash_ctx *c = arg;
    if (mt_dict_batch_begin(c->d) < 0)
        return 1;
    mt_dict_set(c->d, "k", 1, "new", 3);
    for (int i = 0; i < 2000; i++) {
        char key[32];
        int n = snprintf(key, sizeof key, "key-%d", i);
        if (mt_dict_set(c->d, key, (size_t)n, "v", 1) < 0)
            return 1;
    }
    return signal_and_hang(c->fd);
}

static int hang_in_modify(const mt_iov *old, mt_buf *out, void *ctx)
{
    (void)old, (void)out;
    return signal_and_hang(*(int *)ctx);
}

static int die_in_modify(void *arg)
{
    struct crash_ctx *c = arg;
    return mt_dict_modify(c->d, "k", 1, hang_in_modify, &c->fd);
}

static int write_after_crash(void *arg)
{
    return mt_dict_set(((struct crash_ctx *)arg)->d, "after", 5, "yes", 3);
}

/* Kill a child inside a write transaction: the old state stands, for this
 * process and for another, and both can write. */
static void crash_while_writing(int (*child)(void *))
{
    mt_dict *d;
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(mt_dict_new(&d, NULL), 0);
    set_str(d, "k", "old");
    struct crash_ctx c = {.d = d, .fd = p[1]};
    pid_t pid = spawn(child, &c);
    wait_signal(p[0]);
    kill_and_reap(pid);
    cr_expect(has_str(d, "k", "old"));
    cr_expect_eq(mt_dict_len(d), 1, "nothing of the dead transaction is seen");
    set_str(d, "k", "later");
    cr_expect_eq(reap(spawn(write_after_crash, &c)), 0, "another process writes too");
    cr_expect(has_str(d, "after", "yes"));
    cr_expect(has_str(d, "k", "later"));
    close(p[0]);
    close(p[1]);
    mt_dict_free(d);
}

SHM_TEST(dict, writer_killed_in_a_batch, .timeout = 60)
{
    crash_while_writing(die_in_batch);
}

SHM_TEST(dict, writer_killed_in_modify, .timeout = 60)
{
    crash_while_writing(die_in_modify);
}

static int hang_in_view(const void *value, size_t len, void *ctx)
{
    (void)value, (void)len;
    return signal_and_hang(*(int *)ctx);
}

static int die_reading(void *arg)
{
    struct crash_ctx *c = arg;
    return mt_dict_view(c->d, "big", 3, hang_in_view, &c->fd);
}

/* A reader killed inside its transaction pins the pages it saw. Rewriting a
 * large value must then reclaim its slot when the map fills, or fail. */
SHM_TEST(dict, dead_readers_are_reclaimed, .timeout = 60)
{
    mt_dict *d;
    int p[2];
    static char big[100 << 10];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(mt_dict_new(&d, &(mt_shared_opts){.map_size = 2 << 20}), 0);
    cr_assert_eq(mt_dict_set(d, "big", 3, big, sizeof big), 0);
    struct crash_ctx c = {.d = d, .fd = p[1]};
    pid_t pid = spawn(die_reading, &c);
    wait_signal(p[0]);
    kill_and_reap(pid);
    for (int i = 0; i < 100; i++) {
        big[0] = (char)i;
        cr_assert_eq(mt_dict_set(d, "big", 3, big, sizeof big), 0, "rewrite %d", i);
    }
    /* Once more, by hand this time. */
    pid = spawn(die_reading, &c);
    wait_signal(p[0]);
    kill_and_reap(pid);
    cr_expect_eq(mt_dict_reader_check(d), 1);
    cr_expect_eq(mt_dict_reader_check(d), 0);
    close(p[0]);
    close(p[1]);
    mt_dict_free(d);
}

SHM_TEST(dict, full_map_is_enospc, .timeout = 60)
{
    mt_dict *d;
    static char chunk[32 << 10];
    cr_assert_eq(mt_dict_new(&d, &(mt_shared_opts){.map_size = 1 << 20}), 0);
    int err = 0, i;
    for (i = 0; i < 100 && err == 0; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "k%d", i);
        err = mt_dict_set(d, key, (size_t)n, chunk, sizeof chunk);
    }
    cr_expect_eq(err, -ENOSPC);
    cr_expect_gt(i, 5);
    ssize_t n = mt_dict_len(d);
    cr_expect_eq(n, i - 1, "the failed set changed nothing");
    mt_dict_pair many[] = {{{"x", 1}, {chunk, sizeof chunk}}, {{"y", 1}, {chunk, sizeof chunk}}};
    cr_expect_eq(mt_dict_update(d, many, 2), -ENOSPC);
    cr_expect_eq(mt_dict_len(d), n);
    cr_assert_eq(mt_dict_batch_begin(d), 0);
    cr_expect_eq(mt_dict_set(d, "x", 1, chunk, sizeof chunk), -ENOSPC);
    cr_expect_eq(mt_dict_set(d, "tiny", 4, "t", 1), -ENOSPC, "the batch is spoiled");
    cr_expect_eq(mt_dict_batch_commit(d), -ENOSPC);
    cr_expect_eq(mt_dict_delete(d, "k0", 2), 0, "still usable");
    cr_expect_eq(mt_dict_set(d, "x", 1, "small", 5), 0);
    mt_dict_free(d);
}

/* ------------------------------------------------------------------ list */

static int collect_list(size_t index, const void *value, size_t len, void *ctx)
{
    mt_buf *b = ctx;
    mt_buf_printf(b, "%zu:%.*s;", index, (int)len, (const char *)value);
    return 0;
}

/* Whether the list reads as `want` ("0:a;1:b;"). */
static bool list_is(mt_list *l, const char *want)
{
    mt_buf b = MT_BUF_INIT;
    bool ok = mt_list_items(l, collect_list, &b) == 0 && b.len == strlen(want) &&
              memcmp(b.data, want, b.len) == 0;
    if (!ok)
        cr_log_error("list is %.*s, not %s", (int)b.len, b.data, want);
    mt_buf_free(&b);
    return ok;
}

SHM_TEST(list, append_get_set_pop_insert, .timeout = 30)
{
    mt_list *l;
    mt_buf b = MT_BUF_INIT;
    cr_assert_eq(mt_list_new(&l, NULL), 0);
    cr_expect_eq(mt_list_len(l), 0);
    cr_expect_eq(mt_list_pop(l, -1, &b), MT_EINDEX, "pop from empty list");
    cr_expect_eq(mt_list_get(l, 0, &b), MT_EINDEX);
    for (const char *s = "abcde"; *s; s++)
        cr_assert_eq(mt_list_append(l, s, 1), 0);
    cr_expect_eq(mt_list_len(l), 5);
    cr_expect(item_is(l, 0, "a"));
    cr_expect(item_is(l, 4, "e"));
    cr_expect(item_is(l, -1, "e"));
    cr_expect(item_is(l, -5, "a"));
    cr_expect_eq(mt_list_get(l, 5, &b), MT_EINDEX);
    cr_expect_eq(mt_list_get(l, -6, &b), MT_EINDEX);
    cr_expect_eq(mt_list_set(l, 1, "B", 1), 0);
    cr_expect_eq(mt_list_set(l, -1, "E!", 2), 0);
    cr_expect_eq(mt_list_set(l, 5, "x", 1), MT_EINDEX);
    cr_expect(list_is(l, "0:a;1:B;2:c;3:d;4:E!;"));

    cr_expect_eq(mt_list_pop(l, -1, &b), 0);
    cr_expect_eq(b.len, 2);
    cr_expect_eq(memcmp(b.data, "E!", 2), 0);
    cr_expect_eq(mt_list_pop(l, 0, &b), 0);
    cr_expect_eq(memcmp(b.data, "a", 1), 0);
    cr_expect(list_is(l, "0:B;1:c;2:d;"));
    cr_expect_eq(mt_list_pop(l, 1, NULL), 0);
    cr_expect(list_is(l, "0:B;1:d;"));
    cr_expect_eq(mt_list_pop(l, 2, &b), MT_EINDEX);

    cr_expect_eq(mt_list_insert(l, 0, "0", 1), 0);
    cr_expect_eq(mt_list_insert(l, 100, "9", 1), 0);
    cr_expect_eq(mt_list_insert(l, -1, "8", 1), 0);
    cr_expect_eq(mt_list_insert(l, -100, "first", 5), 0);
    cr_expect_eq(mt_list_insert(l, 2, "m", 1), 0);
    cr_expect(list_is(l, "0:first;1:0;2:m;3:B;4:d;5:8;6:9;"));
    cr_expect_eq(mt_list_clear(l), 0);
    cr_expect_eq(mt_list_len(l), 0);
    cr_expect_eq(mt_list_insert(l, 3, "only", 4), 0);
    cr_expect(list_is(l, "0:only;"));
    mt_buf_free(&b);
    mt_list_free(l);
}

/* Python's list is the model: random inserts and pops on both, compared. */
SHM_TEST(list, matches_a_plain_array, .timeout = 60)
{
    mt_list *l;
    int model[300], n = 0;
    srand(7);
    cr_assert_eq(mt_list_new(&l, NULL), 0);
    for (int step = 0; step < 600; step++) {
        int op = rand() % 3, v = step;
        if (op < 2 && n < 300) {
            long i = rand() % (n + 1);
            cr_assert_eq(mt_list_insert(l, i, &v, sizeof v), 0);
            memmove(model + i + 1, model + i, (size_t)(n - i) * sizeof *model);
            model[i] = v;
            n++;
        } else if (n > 0) {
            long i = rand() % n;
            mt_buf b = MT_BUF_INIT;
            cr_assert_eq(mt_list_pop(l, i, &b), 0);
            cr_assert_eq(read_long(b.data) & 0xffffffff, (long)(unsigned)model[i]);
            memmove(model + i, model + i + 1, (size_t)(n - i - 1) * sizeof *model);
            n--;
            mt_buf_free(&b);
        }
    }
    cr_assert_eq(mt_list_len(l), n);
    for (int i = 0; i < n; i++) {
        mt_buf b = MT_BUF_INIT;
        cr_assert_eq(mt_list_get(l, i, &b), 0);
        int v;
        memcpy(&v, b.data, sizeof v);
        cr_expect_eq(v, model[i], "item %d", i);
        mt_buf_free(&b);
    }
    mt_list_free(l);
}

SHM_TEST(list, bad_arguments_change_nothing, .timeout = 30)
{
    mt_list *l;
    mt_buf b = MT_BUF_INIT;
    cr_assert_eq(mt_list_new(&l, NULL), 0);
    cr_assert_eq(mt_list_append(l, "a", 1), 0);
    cr_expect_eq(mt_list_append(NULL, "a", 1), -EINVAL);
    cr_expect_eq(mt_list_append(l, NULL, 1), -EINVAL);
    cr_expect_eq(mt_list_extend(l, (mt_iov[]){{"b", 1}, {NULL, 2}}, 2), -EINVAL);
    cr_expect_eq(mt_list_get(l, 0, NULL), -EINVAL);
    cr_expect_eq(mt_list_set(l, 0, NULL, 1), -EINVAL);
    cr_expect_eq(mt_list_insert(l, 0, NULL, 1), -EINVAL);
    cr_expect_eq(mt_list_view(l, 0, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_list_items(l, NULL, NULL), -EINVAL);
    cr_expect_eq(mt_list_pop(NULL, 0, &b), -EINVAL);
    cr_expect_eq(mt_list_len(NULL), -EINVAL);
    cr_expect_eq(mt_list_pop(l, 1, &b), MT_EINDEX);
    cr_expect_eq(mt_list_pop(l, -2, &b), MT_EINDEX);
    cr_expect_eq(mt_list_set(l, 1, "x", 1), MT_EINDEX);
    cr_expect_eq(mt_list_new(NULL, NULL), -EINVAL);
    cr_expect_eq(mt_list_open(&l, NULL, NULL), -EINVAL);
    cr_expect(list_is(l, "0:a;"));
    mt_list_free(NULL);
    mt_buf_free(&b);
    mt_list_free(l);
}

static int append_many(void *ctx)
{
    int v = getpid();
    for (int i = 0; i < 1000; i++)
        if (mt_list_append(ctx, &v, sizeof v) < 0)
            return 1;
    return 0;
}

static int count_by_value(size_t index, const void *value, size_t len, void *ctx)
{
    int *c = ctx, v;
    (void)index;
    if (len != sizeof v)
        return -EINVAL;
    memcpy(&v, value, sizeof v);
    c[v == c[2]]++;
    return 0;
}

SHM_TEST(list, appends_from_two_processes, .timeout = 60)
{
    mt_list *l;
    cr_assert_eq(mt_list_new(&l, NULL), 0);
    pid_t a = spawn(append_many, l), b = spawn(append_many, l);
    cr_expect_eq(reap(a), 0);
    cr_expect_eq(reap(b), 0);
    cr_expect_eq(mt_list_len(l), 2000);
    int counts[3] = {0, 0, (int)a};
    cr_expect_eq(mt_list_items(l, count_by_value, counts), 0);
    cr_expect_eq(counts[0], 1000);
    cr_expect_eq(counts[1], 1000);
    mt_list_free(l);
}

static int list_die_in_batch(void *arg)
{
    struct crash_ctx *c = arg;
    mt_list *l = c->l;
    if (mt_list_batch_begin(l) < 0)
        return 1;
    for (int i = 0; i < 1000; i++)
        if (mt_list_append(l, "n", 1) < 0)
            return 1;
    mt_list_set(l, 0, "changed", 7);
    mt_list_pop(l, 0, NULL);
    return signal_and_hang(c->fd);
}

SHM_TEST(list, writer_killed_in_a_batch, .timeout = 60)
{
    mt_list *l;
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(mt_list_new(&l, NULL), 0);
    cr_assert_eq(mt_list_extend(l, (mt_iov[]){{"a", 1}, {"b", 1}}, 2), 0);
    struct crash_ctx c = {.l = l, .fd = p[1]};
    pid_t pid = spawn(list_die_in_batch, &c);
    wait_signal(p[0]);
    kill_and_reap(pid);
    cr_expect(list_is(l, "0:a;1:b;"));
    cr_expect_eq(mt_list_append(l, "c", 1), 0);
    cr_expect(list_is(l, "0:a;1:b;2:c;"));
    close(p[0]);
    close(p[1]);
    mt_list_free(l);
}

static int list_by_name(void *arg)
{
    mt_list *l;
    int err = mt_list_open(&l, arg, NULL);
    if (err < 0)
        return err;
    err = item_is(l, -1, "parent") ? mt_list_append(l, "child", 5) : 1;
    mt_list_free(l);
    return err;
}

SHM_TEST(list, named_and_opened_by_name, .timeout = 30)
{
    char name[64];
    mt_list *l;
    mt_dict *d;
    test_shm_name(name, sizeof name, "list");
    cr_assert_eq(mt_list_new(&l, &(mt_shared_opts){.name = name}), 0);
    cr_expect_str_eq(mt_list_name(l), name);
    cr_expect_eq(mt_dict_open(&d, name, NULL), -ENOENT, "a list is not a dict");
    cr_assert_eq(mt_list_append(l, "parent", 6), 0);
    cr_expect_eq(reap(spawn(list_by_name, name)), 0);
    cr_expect(list_is(l, "0:parent;1:child;"));
    mt_list_free(l);
    cr_expect_eq(mt_list_open(&l, name, NULL), -ENOENT, "removed by the creator's close");
}

SHM_TEST(list, batch_and_extend, .timeout = 30)
{
    mt_list *l;
    cr_assert_eq(mt_list_new(&l, NULL), 0);
    cr_assert_eq(mt_list_batch_begin(l), 0);
    cr_expect_eq(mt_list_append(l, "a", 1), 0);
    cr_expect_eq(mt_list_extend(l, (mt_iov[]){{"b", 1}, {"c", 1}}, 2), 0);
    cr_expect_eq(mt_list_len(l), 3);
    cr_expect_eq(mt_list_get(l, 7, &(mt_buf)MT_BUF_INIT), MT_EINDEX);
    cr_expect_eq(mt_list_batch_commit(l), 0);
    cr_expect(list_is(l, "0:a;1:b;2:c;"));
    cr_assert_eq(mt_list_batch_begin(l), 0);
    cr_expect_eq(mt_list_pop(l, 0, NULL), 0);
    cr_expect_eq(mt_list_batch_abort(l), 0);
    cr_expect(list_is(l, "0:a;1:b;2:c;"));
    cr_expect_eq(mt_list_reader_check(l), 0);
    mt_list_free(l);
}

/* ------------------------------------------------------------ examples */

/* Run an example program and compare what it prints. */
static void run_example(const char *name, const char *want)
{
    const char *dir = getenv("MT_EXAMPLES_DIR");
    cr_assert_not_null(dir, "MT_EXAMPLES_DIR is not set");
    char cmd[512], out[256] = {0};
    snprintf(cmd, sizeof cmd, "%s/%s", dir, name);
    cr_assert_eq(access(cmd, X_OK), 0, "%s is not built", cmd);
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        execl(cmd, name, (char *)NULL);
        _exit(127);
    }
    leak_check_adopt(pid); /* what it makes counts as this test's */
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n < sizeof out - 1 && (r = read(p[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    close(p[0]);
    cr_expect_eq(reap(pid), 0);
    cr_expect_eq(n, strlen(want));
    cr_expect_str_eq(out, want);
}

SHM_TEST(examples, manager_dict, .timeout = 30)
{
    run_example("manager_dict", "{'x': 'x', 'y': 'y', 'z': 'z'}\n");
}

SHM_TEST(examples, manager_list, .timeout = 30)
{
    run_example("manager_list", "['x', 'y', 'z']\n");
}

/* ------------------------------------------------------ the leak check */

/* Make a kept object (named ctx if it holds a name), and put its name in
 * ctx. */
static int make_and_keep(void *ctx)
{
    char *name = ctx;
    mt_dict *d;
    int err = mt_dict_new(&d, &(mt_shared_opts){.name = *name ? name : NULL, .persist = true});
    if (err == 0) {
        snprintf(name, 64, "%s", mt_dict_name(d));
        mt_dict_free(d);
    }
    return err;
}

/* The check must count what this test leaves, and nothing that another
 * program makes meanwhile (here: a process that is no descendant of this
 * test any more). */
SHM_TEST(leak_check, counts_only_the_tests_own_names, .timeout = 30)
{
    /* Another program: a grandchild whose parent is gone makes two objects,
     * a fresh one and a named one, and keeps them. */
    char theirs[2][64] = {"", "leak-check-other"};
    int p[2];
    cr_assert_eq(pipe(p), 0);
    fflush(NULL);
    pid_t mid = fork();
    if (mid == 0) {
        if (fork() == 0) {
            int err = make_and_keep(theirs[0]) || make_and_keep(theirs[1]);
            ssize_t w = write(p[1], theirs, sizeof theirs);
            _exit(!err && w == sizeof theirs ? 0 : 1);
        }
        _exit(0);
    }
    cr_assert_eq(reap(mid), 0);
    cr_assert_eq(read(p[0], theirs, sizeof theirs), (ssize_t)sizeof theirs);
    close(p[0]);
    close(p[1]);
    cr_assert_neq(theirs[0][0], '\0', "the other program could not make its objects");
    cr_expect_eq(count_ours(), 0, "another program's objects were counted");

    /* This test's own: a fresh kept object, a named one, and one that an
     * adopted child made. */
    char mine[64] = "", named[64], childs[64] = "", text[1024];
    cr_assert_eq(make_and_keep(mine), 0);
    test_shm_name(named, sizeof named, "leak");
    cr_assert_eq(make_and_keep(named), 0);
    cr_assert_eq(reap(spawn(make_and_keep, childs)), 0); /* spawn adopts it */
    cr_expect_eq(shm_new_names(text, sizeof text), 3, "counted as this test's:\n%s", text);
    cr_expect(strstr(text, mine), "%s", text);
    cr_expect(strstr(text, named), "%s", text);

    /* Tidy up: everyone's. The child's name is the one left. */
    cr_expect_eq(mt_shared_unlink(mine), 0);
    cr_expect_eq(mt_shared_unlink(named), 0);
    cr_expect_eq(mt_shared_unlink(theirs[0]), 0);
    cr_expect_eq(mt_shared_unlink(theirs[1]), 0);
    cr_expect_eq(shm_new_names(text, sizeof text), 1, "%s", text);
    char *at = strstr(text, "/dev/shm/mt-");
    cr_assert_not_null(at);
    cr_assert_eq(sscanf(at + strlen("/dev/shm/mt-"), "%63s", childs), 1);
    cr_expect_eq(mt_shared_unlink(childs), 0);
}
