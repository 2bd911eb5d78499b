/*
 * test_examples.c - runs each program in examples/ as a student would and
 * checks what it prints against the lecture's Python: exact lines where the
 * Python's output is fixed, patterns and order where pids, timings and
 * scheduling vary. Elapsed times are checked loosely, only where they are the
 * point of the example.
 *
 * The programs are found in $MT_EXAMPLES_DIR (set by tests/meson.build).
 * Each test makes itself a child subreaper, so that a grandchild an example
 * leaves behind becomes ours: it is counted, reaped, and never outlives the
 * test. The network examples' files are checked against the bytes their
 * local site (examples/site.c, linked in) serves.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "helpers.h"
#include "site.h"

#define MAX_LINES 128

/* One run of an example. */
typedef struct run {
    mt_buf out;            /* what it wrote to stdout */
    mt_buf err;            /* and to stderr */
    char *line[MAX_LINES]; /* stdout split into lines, in out's memory */
    size_t nlines;         /* how many */
    int status;            /* its wait status */
    double elapsed;        /* seconds from start to exit */
    int orphans;           /* its descendants that outlived it */
    int orphan_status;     /* the wait status of the last of them */
} run;

/* Read both pipes to their ends; false when the deadline passed first. */
static bool drain(int out_fd, int err_fd, run *r, double deadline)
{
    struct pollfd pfd[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
    mt_buf *dst[2] = {&r->out, &r->err};
    int open_fds = 2;
    while (open_fds) {
        double left = deadline - mt_monotonic();
        if (left <= 0)
            return false;
        if (poll(pfd, 2, (int)(left * 1000) + 1) < 0 && errno != EINTR)
            return false;
        for (int i = 0; i < 2; i++) {
            if (pfd[i].fd < 0 || !pfd[i].revents)
                continue;
            char chunk[4096];
            ssize_t n = read(pfd[i].fd, chunk, sizeof chunk);
            if (n > 0) {
                cr_assert_eq(mt_buf_append(dst[i], chunk, (size_t)n), 0);
            } else if (n == 0 || errno != EINTR) {
                pfd[i].fd = -1;
                open_fds--;
            }
        }
    }
    return true;
}

/* Split r->out into lines, in place. */
static void split_lines(run *r)
{
    r->nlines = 0;
    if (!r->out.len)
        return;
    cr_assert_eq(r->out.data[r->out.len - 1], '\n', "output does not end with a newline");
    for (char *s = r->out.data; s < r->out.data + r->out.len;) {
        char *nl = strchr(s, '\n');
        *nl = '\0';
        cr_assert_lt(r->nlines, MAX_LINES, "too many lines");
        r->line[r->nlines++] = s;
        s = nl + 1;
    }
}

/* Wait up to `wait` seconds for descendants the example left behind. */
static void collect_orphans(run *r, double wait)
{
    double deadline = mt_monotonic() + wait;
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid > 0) {
            r->orphans++;
            r->orphan_status = st;
        } else if (pid < 0 || mt_monotonic() > deadline) {
            return;
        } else {
            mt_sleep(0.01);
        }
    }
}

/*
 * Run examples/<name> with the arguments in args (NULL-terminated, at most
 * 3) and capture its output; fail the test if it does not end within
 * `timeout` seconds.
 */
static void run_example_argv(run *r, const char *name, const char *const *args, double timeout)
{
    const char *dir = getenv("MT_EXAMPLES_DIR");
    cr_assert_not_null(dir, "MT_EXAMPLES_DIR is not set");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(access(path, X_OK), 0, "%s is not built", path);
    const char *argv[5] = {name};
    for (size_t i = 0; args && args[i]; i++) {
        cr_assert_lt(i, 3, "too many arguments");
        argv[i + 1] = args[i];
    }
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);

    *r = (run){.out = MT_BUF_INIT, .err = MT_BUF_INIT};
    int out[2], err[2];
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(err, O_CLOEXEC), 0);
    double t0 = mt_monotonic();
    pid_t pid = fork();
    if (pid == 0) {
        /* No Criterion call here: only the test process may report. A group
         * of its own lets a timeout kill the example and all it started. */
        setpgid(0, 0);
        dup2(out[1], STDOUT_FILENO);
        dup2(err[1], STDERR_FILENO);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    cr_assert_gt(pid, 0);
    close(out[1]);
    close(err[1]);
    bool ended = drain(out[0], err[0], r, t0 + timeout);
    close(out[0]);
    close(err[0]);
    if (!ended)
        kill(-pid, SIGKILL);
    cr_assert_eq(waitpid(pid, &r->status, 0), pid);
    r->elapsed = mt_monotonic() - t0;
    collect_orphans(r, 0.5);
    if (count_children() > 0) { /* still alive: its group is ours to end */
        kill(-pid, SIGKILL);
        collect_orphans(r, 2);
    }
    cr_assert(ended, "%s did not end within %.0f s", name, timeout);
    split_lines(r);
}

/* Run examples/<name> [arg]; see run_example_argv. */
static void run_example(run *r, const char *name, const char *arg, double timeout)
{
    run_example_argv(r, name, (const char *const[]){arg, NULL}, timeout);
}

static void run_free(run *r)
{
    mt_buf_free(&r->out);
    mt_buf_free(&r->err);
}

/* An example that ended well: status 0, nothing on stderr, no orphan. */
static void expect_clean_exit(const run *r)
{
    cr_expect(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0, "exit status %#x", r->status);
    cr_expect_eq(r->err.len, 0, "stderr: %.*s", (int)r->err.len, r->err.data ? r->err.data : "");
    cr_expect_eq(r->orphans, 0, "left %d processes behind", r->orphans);
}

static void expect_lines(const run *r, const char *const *want, size_t n)
{
    cr_expect_eq(r->nlines, n, "%zu lines, want %zu", r->nlines, n);
    for (size_t i = 0; i < n && i < r->nlines; i++)
        cr_expect_str_eq(r->line[i], want[i], "line %zu", i + 1);
}

/* Run an example whose output is fixed: it must end well and print exactly
 * these lines. Returns how long it ran. */
static double run_expecting(const char *name, double timeout, const char *const *want, size_t n)
{
    run r;
    run_example(&r, name, NULL, timeout);
    expect_clean_exit(&r);
    expect_lines(&r, want, n);
    run_free(&r);
    return r.elapsed;
}

#define RUN_EXPECTING(name, timeout, ...)                                                          \
    run_expecting(name, timeout, (const char *const[]){__VA_ARGS__},                               \
                  sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static size_t count_line(const run *r, const char *text)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nlines; i++)
        n += strcmp(r->line[i], text) == 0;
    return n;
}

/* The index of the first line equal to text, or -1. */
static long find_line(const run *r, const char *text)
{
    for (size_t i = 0; i < r->nlines; i++)
        if (strcmp(r->line[i], text) == 0)
            return (long)i;
    return -1;
}

/* Whether line is prefix followed by a number printed with "%.2f". */
static bool seconds_line(const char *line, const char *prefix, double *value)
{
    size_t n = strlen(prefix);
    if (strncmp(line, prefix, n) != 0)
        return false;
    char *end, again[64];
    *value = strtod(line + n, &end);
    snprintf(again, sizeof again, "%.2f", *value);
    return end != line + n && *end == '\0' && strcmp(line + n, again) == 0;
}

/* The index of the one line that seconds_line accepts; fails if not one. */
static size_t the_seconds_line(const run *r, const char *prefix, double *value)
{
    long at = -1;
    double v;
    for (size_t i = 0; i < r->nlines; i++) {
        if (!seconds_line(r->line[i], prefix, &v))
            continue;
        cr_assert_eq(at, -1, "two lines '%s...'", prefix);
        at = (long)i;
        *value = v;
    }
    cr_assert_neq(at, -1, "no line '%s<seconds>'", prefix);
    return (size_t)at;
}

/* A directory of the test's own, removed by .fini = remove_test_dir even
 * when an assertion ends the test early. */
static char test_dir[64];

static const char *make_test_dir(void)
{
    snprintf(test_dir, sizeof test_dir, "/tmp/mt-examples-test.XXXXXX");
    cr_assert_not_null(mkdtemp(test_dir));
    return test_dir;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_test_dir(void)
{
    if (test_dir[0])
        nftw(test_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    test_dir[0] = '\0';
}

/* Run an example with TMPDIR pointing at an empty directory, and check that
 * it leaves the directory empty. */
static void run_in_empty_tmpdir(run *r, const char *name, double timeout)
{
    const char *tmp = make_test_dir();
    cr_assert_eq(setenv("TMPDIR", tmp, 1), 0);
    run_example(r, name, NULL, timeout);
    cr_expect_eq(count_dir(tmp, ""), 0, "%s left files in TMPDIR", name);
}

/* ---- 2. 使用进程 ---- */

LEAK_TEST(examples, single_process_runs_run2_after_run1, .timeout = 30)
{
    double elapsed = RUN_EXPECTING(
        "single_process", 25, "lucky is a good man", "lucky is a good man", "lucky is a good man",
        "lucky is a nice man", "lucky is a nice man", "lucky is a nice man");
    cr_expect_geq(elapsed, 5.9, "three 1 s rounds each, one after the other");
}

LEAK_TEST(examples, process_start_runs_both_at_once, .timeout = 30)
{
    run r;
    run_example(&r, "process_start", NULL, 25);
    expect_clean_exit(&r);
    cr_expect_eq(r.nlines, 6);
    cr_expect_eq(count_line(&r, "lucky is a good man"), 3);
    cr_expect_eq(count_line(&r, "lucky is a nice man"), 3);
    /* Both say their first line in the first round: they run at once. */
    long good = find_line(&r, "lucky is a good man");
    long nice = find_line(&r, "lucky is a nice man");
    cr_expect(good >= 0 && nice >= 0 && good < 3 && nice < 3, "lines do not interleave");
    cr_expect_geq(r.elapsed, 2.9, "the parent waits for its child");
    cr_expect_lt(r.elapsed, 5.5, "3 s side by side, not 6 s one after the other");
    run_free(&r);
}

/* Run process_schedule or process_join: 13 lines, one of them 耗时; returns
 * that line's index and its seconds in *t. */
static size_t run_two_children(run *r, const char *name, double *t)
{
    run_example(r, name, NULL, 25);
    expect_clean_exit(r);
    cr_expect_eq(r->nlines, 13);
    cr_expect_eq(count_line(r, "lucky is a good man"), 7);
    cr_expect_eq(count_line(r, "lucky is a cool man"), 5);
    return the_seconds_line(r, "耗时：", t);
}

LEAK_TEST(examples, process_schedule_reports_at_once_then_waits, .timeout = 30)
{
    run r;
    double t;
    size_t at = run_two_children(&r, "process_schedule", &t);
    cr_expect_lt(t, 0.5, "the main process does not wait: 耗时 %.2f", t);
    cr_expect_leq(at, 2, "耗时 printed before the children's second round");
    cr_expect_geq(r.elapsed, 6.9, "the program still waits for its children");
    run_free(&r);
}

LEAK_TEST(examples, process_join_takes_the_longest_child, .timeout = 30)
{
    run r;
    double t;
    size_t at = run_two_children(&r, "process_join", &t);
    cr_expect_eq(at, 12, "耗时 is the last line");
    cr_expect_geq(t, 6.9, "耗时 %.2f: it joined both", t);
    cr_expect_lt(t, 10.0, "耗时 %.2f: about 7 s side by side, not 12", t);
    run_free(&r);
}

/* ---- 3. 全局变量在多个子进程中不能共享 ---- */

LEAK_TEST(examples, globals_not_shared, .timeout = 20)
{
    RUN_EXPECTING("globals_not_shared", 15, "我是子进程的开始", "11", "我是子进程的结束", "10");
}

LEAK_TEST(examples, list_not_shared, .timeout = 20)
{
    RUN_EXPECTING("list_not_shared", 15, "我是子进程的开始", "我是子进程的结束", "[]");
}

/* ---- 4. 启动大量子进程 ---- */

LEAK_TEST(examples, pool_apply_async_runs_two_at_a_time, .timeout = 90)
{
    run r;
    run_example(&r, "pool_apply_async", NULL, 80);
    expect_clean_exit(&r);
    cr_assert_eq(r.nlines, 20);
    cr_expect_str_eq(r.line[0], "启动主进程……");
    cr_expect_str_eq(r.line[19], "结束主进程……");

    char cpu[32];
    snprintf(cpu, sizeof cpu, "CPU number:%d", mt_cpu_count());
    cr_expect_eq(count_line(&r, cpu), 6, "six lines '%s'", cpu);

    /* Each task starts once, ends once after it started, and sleeps 2-7 s;
     * never more than two run at once. */
    long started[7] = {0}, ended[7] = {0};
    int running = 0, most = 0;
    double total = 0;
    for (size_t i = 1; i < 19; i++) {
        int index, n = -1;
        double t;
        if (sscanf(r.line[i], "子进程 %d 启动%n", &index, &n) == 1 && n == (int)strlen(r.line[i])) {
            cr_assert(index >= 1 && index <= 6 && !started[index], "%s", r.line[i]);
            started[index] = (long)i;
            most = ++running > most ? running : most;
        } else if (sscanf(r.line[i], "子进程 %d 结束，耗时：%n", &index, &n) == 1 && n > 0) {
            cr_assert(index >= 1 && index <= 6 && started[index] && !ended[index], "%s", r.line[i]);
            char prefix[64];
            snprintf(prefix, sizeof prefix, "子进程 %d 结束，耗时：", index);
            cr_assert(seconds_line(r.line[i], prefix, &t), "%s", r.line[i]);
            cr_expect(t >= 2.0 && t < 7.5, "task %d slept %.2f s", index, t);
            ended[index] = (long)i;
            total += t;
            running--;
        } else {
            cr_expect_str_eq(r.line[i], cpu);
        }
    }
    for (int i = 1; i <= 6; i++)
        cr_expect(started[i] && ended[i], "task %d did not start and end", i);
    cr_expect_eq(most, 2, "Pool(2) runs two tasks at a time, at most");
    cr_expect_lt(r.elapsed, total - 1.0, "%.2f s for %.2f s of tasks: not in parallel", r.elapsed,
                 total);
    run_free(&r);
}

LEAK_TEST(examples, pool_get_serialises_the_tasks, .timeout = 40)
{
    double elapsed = RUN_EXPECTING("pool_get", 35, "Start process:  0", "End process 0", "0",
                                   "Start process:  1", "End process 1", "1", "Start process:  2",
                                   "End process 2", "2", "Start process:  3", "End process 3", "3",
                                   "Started processes", "Subprocess done.");
    cr_expect_geq(elapsed, 7.9, "get() waits for each 2 s task before the next starts");
}

/* ---- 5. map方法 ---- */

/* The port of a line "<prefix>http://127.0.0.1:PORT/<suffix>", or -1. */
static int url_port(const char *line, const char *prefix, const char *suffix)
{
    char want[128];
    int port = -1, n = -1;
    size_t plen = strlen(prefix);
    if (strncmp(line, prefix, plen) != 0 ||
        sscanf(line + plen, "http://127.0.0.1:%d/%n", &port, &n) != 1 || n < 0)
        return -1;
    snprintf(want, sizeof want, "%shttp://127.0.0.1:%d/%s", prefix, port, suffix);
    return strcmp(line, want) == 0 && port > 0 && port < 65536 ? port : -1;
}

/* The port in the one line url_port accepts; fails if not exactly one. */
static int the_url_port(const run *r, const char *prefix, const char *suffix)
{
    int port = -1;
    for (size_t i = 0; i < r->nlines; i++) {
        int p = url_port(r->line[i], prefix, suffix);
        if (p < 0)
            continue;
        cr_assert_eq(port, -1, "two lines '%shttp://127.0.0.1:PORT/%s'", prefix, suffix);
        port = p;
    }
    cr_assert_neq(port, -1, "no line '%shttp://127.0.0.1:PORT/%s'", prefix, suffix);
    return port;
}

LEAK_TEST(examples, pool_map_scrapes_every_url, .timeout = 30)
{
    run r;
    run_example(&r, "pool_map", NULL, 25);
    /* The local site's process was stopped and joined: no orphan. */
    expect_clean_exit(&r);
    cr_assert_eq(r.nlines, 8);
    /* Three pages of the site, fetched for real, and a port where nothing
     * listens (the lecture's http://xxxyxxx.net). */
    cr_expect_eq(count_line(&r, "<Response [200]>"), 3);
    int site = the_url_port(&r, "URL ", "photo/list/?page=1  Scraped");
    cr_expect_eq(the_url_port(&r, "URL ", "img/1-1.jpg  Scraped"), site);
    int dead = the_url_port(&r, "Error Occured  ", "");
    cr_expect_neq(dead, site);
    char line[128];
    snprintf(line, sizeof line, "URL http://127.0.0.1:%d/  Scraped", site);
    cr_expect_eq(count_line(&r, line), 1, "no line '%s'", line);
    snprintf(line, sizeof line, "URL http://127.0.0.1:%d/  Scraped", dead);
    cr_expect_eq(count_line(&r, line), 1, "no line '%s'", line);
    /* Each URL's result comes before its "Scraped" (the finally clause). */
    char error[128];
    snprintf(error, sizeof error, "Error Occured  http://127.0.0.1:%d/", dead);
    long err = find_line(&r, error);
    long done = find_line(&r, line);
    cr_expect(err >= 0 && err < done, "the error comes before its Scraped line");
    size_t results = 0, scraped = 0;
    for (size_t i = 0; i < r.nlines; i++) {
        results += strncmp(r.line[i], "URL ", 4) != 0;
        scraped += strncmp(r.line[i], "URL ", 4) == 0;
        cr_expect_leq(scraped, results, "line %zu: Scraped before a result", i + 1);
    }
    run_free(&r);
}

/* ---- 6. 单进程与多进程复制文件对比 ---- */

static void expect_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    cr_assert(stat(a, &sa) == 0 && stat(b, &sb) == 0, "cannot stat '%s' or '%s'", a, b);
    cr_assert_eq(sb.st_size, sa.st_size, "the copy '%s' has %lld bytes, its source %lld", b,
                 (long long)sb.st_size, (long long)sa.st_size);
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    cr_assert(fa && fb, "cannot open '%s' or '%s'", a, b);
    static char ba[1 << 16], bb[1 << 16];
    for (size_t at = 0, n; (n = fread(ba, 1, sizeof ba, fa)) > 0; at += n) {
        if (fread(bb, 1, n, fb) != n || memcmp(ba, bb, n) != 0) {
            cr_expect_fail("'%s' differs from '%s' in bytes %zu-%zu", b, a, at, at + n);
            break;
        }
    }
    fclose(fa);
    fclose(fb);
}

/* The first bytes of a file, to tell files apart. */
static void read_head(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open '%s'", path);
    cr_expect_eq(fread(buf, 1, n, f), n);
    fclose(f);
}

/* Run a copy example in a directory of ours; check its line and copies. */
static void check_copy_example(const char *name, const char *prefix)
{
    const char *dir = make_test_dir();
    run r;
    run_example(&r, name, dir, 100);
    expect_clean_exit(&r);
    cr_expect_eq(r.nlines, 1);
    double t;
    the_seconds_line(&r, prefix, &t);
    char src[128], dst[128];
    for (int i = 1; i <= 4; i++) {
        snprintf(src, sizeof src, "%s/file/%d.mp4", dir, i);
        snprintf(dst, sizeof dst, "%s/file2/%d.mp4", dir, i);
        struct stat st;
        cr_expect(stat(src, &st) == 0 && st.st_size == 16 << 20, "'%s' is not 16 MiB", src);
        expect_same_file(src, dst);
    }
    /* Copies of identical files would prove less: the sources differ. */
    char head1[64], head4[64];
    read_head(src, head4, sizeof head4);
    snprintf(src, sizeof src, "%s/file/1.mp4", dir);
    read_head(src, head1, sizeof head1);
    cr_expect_neq(memcmp(head1, head4, sizeof head1), 0, "the sources are all alike");
    run_free(&r);
}

LEAK_TEST(examples, copy_single_copies_every_byte, .fini = remove_test_dir, .timeout = 120)
{
    check_copy_example("copy_single", "单进程耗时：");
}

LEAK_TEST(examples, copy_pool_copies_every_byte, .fini = remove_test_dir, .timeout = 120)
{
    check_copy_example("copy_pool", "耗时：");
}

LEAK_TEST(examples, copy_without_a_directory_cleans_up, .fini = remove_test_dir, .timeout = 120)
{
    run r;
    run_in_empty_tmpdir(&r, "copy_pool", 100);
    expect_clean_exit(&r);
    cr_expect_eq(r.nlines, 1);
    run_free(&r);
}

LEAK_TEST(examples, copy_into_a_bad_directory_fails, .timeout = 20)
{
    run r;
    run_example(&r, "copy_single", "/dev/null/nowhere", 15);
    cr_expect(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1, "exit status %#x", r.status);
    cr_expect_eq(r.nlines, 0, "no timing line for a copy that did not happen");
    cr_expect_gt(r.err.len, 0, "no message on stderr");
    cr_expect_eq(r.orphans, 0);
    run_free(&r);
}

/* ---- 7. terminate and daemon ---- */

LEAK_TEST(examples, terminate_stops_the_child, .timeout = 30)
{
    double elapsed = RUN_EXPECTING("terminate", 25, "over");
    cr_expect_lt(elapsed, 20.0, "the child did not sleep its 100 s");
}

LEAK_TEST(examples, daemon_child_dies_with_its_parent, .timeout = 30)
{
    run r;
    run_example(&r, "daemon", NULL, 25);
    cr_expect(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "exit status %#x", r.status);
    cr_expect_eq(r.err.len, 0);
    expect_lines(&r, (const char *const[]){"over"}, 1);
    /* The parent did not wait for it: the child outlived main() and ended
     * right after (we, the subreaper, reaped it). Either the kernel killed it
     * as its parent died, or the parent was gone before the child had asked
     * for that, and it saw so and exited at once with status 1. It never
     * finished its 100 s sleep (status 0). */
    cr_expect_eq(r.orphans, 1, "the daemon child should outlive main(), then die");
    int st = r.orphan_status;
    cr_expect((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
                  (WIFEXITED(st) && WEXITSTATUS(st) == 1),
              "the daemon child ended with status %#x", st);
    cr_expect_lt(r.elapsed, 20.0);
    run_free(&r);
}

/* ---- 7. 队列共享 ---- */

LEAK_TEST(examples, queue_put_get_first_in_first_out, .timeout = 20)
{
    RUN_EXPECTING("queue_put_get", 15, "主进程获取 [1, 2, 3, 4, 5]", "主进程获取 ['a', 'b', 'c']");
}

/* ---- 8. 进程实现生产者消费者 ---- */

static long producer_end_line(const run *r)
{
    return find_line(r, "结束生产子进程……");
}

LEAK_TEST(examples, producer_consumer_stops_on_the_stop_message, .timeout = 40)
{
    static const char *const data[] = {"good", "nice", "cool", "handsome"};
    run r;
    run_example(&r, "producer_consumer", NULL, 35);
    /* Had the consumer not left its loop, the main process would have
     * terminated it, said so on stderr and exited with 1. */
    expect_clean_exit(&r);
    cr_assert_eq(r.nlines, 18);
    cr_expect_eq(count_line(&r, "启动生产子进程……"), 1);
    cr_expect_eq(count_line(&r, "启动消费子进程……"), 1);
    cr_expect_eq(count_line(&r, "等待生产者生产数据"), 5, "one wait per get, the stop message's too");

    /* Each item is produced, then consumed, in the producer's order; the
     * consumer waits again after each one. */
    long start = find_line(&r, "启动消费子进程……");
    cr_assert(start >= 0 && start < 3, "启动消费子进程 on line %ld", start + 1);
    /* (The producer, another process, may say it started in between.) */
    long first_wait = start + 1 + !strcmp(r.line[start + 1], "启动生产子进程……");
    cr_expect_str_eq(r.line[first_wait], "等待生产者生产数据");
    long produced_before = -1, consumed_before = start;
    for (size_t i = 0; i < 4; i++) {
        char made[64], used[64];
        snprintf(made, sizeof made, "生产出：%s", data[i]);
        snprintf(used, sizeof used, "消费者消费了%s数据", data[i]);
        cr_expect_eq(count_line(&r, made), 1, "no line '%s'", made);
        cr_expect_eq(count_line(&r, used), 1, "no line '%s'", used);
        long p = find_line(&r, made), c = find_line(&r, used);
        cr_expect(p > produced_before && c > consumed_before && c > p,
                  "'%s' (line %ld) and '%s' (line %ld) out of order", made, p + 1, used, c + 1);
        /* (The producer's last line may come between the last two.) */
        long next = c + 1 + (i == 3 && c + 1 == producer_end_line(&r));
        if (c >= 0 && (size_t)next < r.nlines)
            cr_expect_str_eq(r.line[next], "等待生产者生产数据");
        produced_before = p;
        consumed_before = c;
    }
    /* The consumer ends after the producer (the stop message comes once
     * the producer is joined) and after its last item; the main process
     * ends last. */
    long producer_end = producer_end_line(&r);
    long consumer_end = find_line(&r, "结束消费子进程……");
    cr_expect(producer_end > produced_before, "结束生产子进程 before the last item");
    cr_expect(consumer_end > producer_end && consumer_end > consumed_before,
              "结束消费子进程 (line %ld) too early", consumer_end + 1);
    cr_expect_str_eq(r.line[16], "结束消费子进程……");
    cr_expect_str_eq(r.line[17], "主进程结束");
    cr_expect_geq(r.elapsed, 7.9, "four items, 2 s apart");
    run_free(&r);
}

/* ---- 作业10 第1题: copying a folder with a pool and a progress display ---- */

/* A file of `size` bytes from a xorshift generator seeded with `seed`. */
static void write_test_file(const char *dir, const char *name, size_t size, uint64_t seed)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot make '%s'", path);
    for (size_t i = 0; i < size; i++) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        cr_assert_eq(fputc((int)(seed & 0xff), f), (int)(seed & 0xff));
    }
    cr_assert_eq(fclose(f), 0);
}

static void make_dir_in(char *path, size_t size, const char *dir, const char *name)
{
    snprintf(path, size, "%s/%s", dir, name);
    cr_assert_eq(mkdir(path, 0777), 0, "cannot make '%s'", path);
}

/* The test's source folder: files of sizes around the 1 MiB the workers copy
 * at a time, an empty one, a hidden one, a name with a space; sorted. */
static const struct {
    const char *name;
    size_t size;
} hw_files[] = {
    {".hidden", 5000}, {"a.bin", 1 << 20}, {"b.bin", (3 << 20) + 17},
    {"c empty", 0},    {"d.txt", 1},       {"e.bin", (1 << 20) - 1},
};
#define HW_FILES (sizeof hw_files / sizeof hw_files[0])

/* Make <dir>/current with hw_files in it, and a <dir>/target holding older
 * things that must go. */
static void make_homework_dirs(const char *dir, char *current, char *target, size_t size)
{
    char stale[320];
    make_dir_in(current, size, dir, "current");
    for (size_t i = 0; i < HW_FILES; i++)
        write_test_file(current, hw_files[i].name, hw_files[i].size, 0x9e3779b97f4a7c15u + i);
    make_dir_in(target, size, dir, "target");
    write_test_file(target, "old.txt", 10, 1);
    make_dir_in(stale, sizeof stale, target, "old dir");
    write_test_file(stale, "x", 10, 2);
}

/*
 * Check what homework1_copy printed when it copied hw_files to `target`
 * (as given on its command line), and that target holds exact copies of
 * them and nothing else.
 */
static void check_homework_copy(const run *r, const char *current, const char *target,
                                const char *target_shown)
{
    cr_assert_eq(r->nlines, 2 * HW_FILES + 1);
    /* One line per file as its copy ends, counting up; each file once. */
    bool seen[HW_FILES] = {false};
    for (size_t k = 0; k < HW_FILES; k++) {
        size_t i;
        char want[320];
        for (i = 0; i < HW_FILES; i++) {
            snprintf(want, sizeof want, "已复制 %s/%s（%zu/%zu）", target_shown, hw_files[i].name,
                     k + 1, HW_FILES);
            if (strcmp(r->line[k], want) == 0)
                break;
        }
        cr_expect(i < HW_FILES && !seen[i], "line %zu: '%s'", k + 1, r->line[k]);
        if (i < HW_FILES)
            seen[i] = true;
    }
    /* The total, then homework1.py's line for each file, in name order. */
    size_t total = 0;
    for (size_t i = 0; i < HW_FILES; i++)
        total += hw_files[i].size;
    char want[320];
    snprintf(want, sizeof want, "共复制 %zu 个文件，%.2f M", HW_FILES, (double)total / 1024 / 1024);
    cr_expect_str_eq(r->line[HW_FILES], want);
    for (size_t i = 0; i < HW_FILES; i++) {
        snprintf(want, sizeof want, "Size：%.2f M | %s/%s", (double)hw_files[i].size / 1024 / 1024,
                 target_shown, hw_files[i].name);
        cr_expect_str_eq(r->line[HW_FILES + 1 + i], want);
    }
    /* The same bytes, and the old contents of target are gone. */
    cr_expect_eq(count_dir(target, ""), (int)HW_FILES - 1, /* count_dir skips .hidden */
                 "target: %d entries besides .hidden, want %zu", count_dir(target, ""),
                 HW_FILES - 1);
    for (size_t i = 0; i < HW_FILES; i++) {
        char src[320], dst[320];
        snprintf(src, sizeof src, "%s/%s", current, hw_files[i].name);
        snprintf(dst, sizeof dst, "%s/%s", target, hw_files[i].name);
        expect_same_file(src, dst);
    }
}

LEAK_TEST(examples, homework1_copy_copies_every_file, .fini = remove_test_dir, .timeout = 30)
{
    const char *dir = make_test_dir();
    char current[128], target[128];
    make_homework_dirs(dir, current, target, sizeof current);
    run r;
    run_example_argv(&r, "homework1_copy", (const char *const[]){current, target, NULL}, 25);
    expect_clean_exit(&r);
    check_homework_copy(&r, current, target, target);
    run_free(&r);
}

LEAK_TEST(examples, homework1_copy_defaults_to_current_and_target, .fini = remove_test_dir,
          .timeout = 30)
{
    const char *dir = make_test_dir();
    char current[128], target[128], sub[160];
    make_homework_dirs(dir, current, target, sizeof current);
    /* A folder inside ./current is not a file to copy: it is skipped, and
     * said so. */
    make_dir_in(sub, sizeof sub, current, "sub");
    cr_assert_eq(chdir(dir), 0);
    run r;
    run_example(&r, "homework1_copy", NULL, 25);
    cr_expect(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "exit status %#x", r.status);
    cr_expect_eq(r.orphans, 0);
    const char *skipped = "homework1_copy: skipping './current/sub': not a regular file\n";
    cr_expect(r.err.len == strlen(skipped) && memcmp(r.err.data, skipped, r.err.len) == 0,
              "stderr: %.*s", (int)r.err.len, r.err.data ? r.err.data : "");
    check_homework_copy(&r, current, target, "./target");
    run_free(&r);
}

LEAK_TEST(examples, homework1_copy_of_an_empty_folder, .fini = remove_test_dir, .timeout = 30)
{
    const char *dir = make_test_dir();
    char current[128], target[128];
    make_dir_in(current, sizeof current, dir, "current");
    snprintf(target, sizeof target, "%s/target", dir);
    run r;
    run_example_argv(&r, "homework1_copy", (const char *const[]){current, target, NULL}, 25);
    expect_clean_exit(&r);
    expect_lines(&r, (const char *const[]){"共复制 0 个文件，0.00 M"}, 1);
    cr_expect_eq(count_dir(target, ""), 0, "the target is made, and empty");
    run_free(&r);
}

/* A run that must fail with a message and no output, leaving target as it
 * was (holding `kept` entries, or missing when kept is -1). */
static void expect_refused(const char *current, const char *target, int kept, const char *says)
{
    run r;
    run_example_argv(&r, "homework1_copy", (const char *const[]){current, target, NULL}, 25);
    cr_expect(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1, "exit status %#x", r.status);
    cr_expect_eq(r.nlines, 0, "no output for a copy that did not happen");
    cr_expect(r.err.len > 0 && memmem(r.err.data, r.err.len, says, strlen(says)),
              "stderr does not say '%s': %.*s", says, (int)r.err.len, r.err.data ? r.err.data : "");
    cr_expect_eq(r.orphans, 0);
    cr_expect_eq(count_dir(target, ""), kept, "the target was changed");
    run_free(&r);
}

LEAK_TEST(examples, homework1_copy_of_a_missing_folder_fails, .fini = remove_test_dir,
          .timeout = 30)
{
    const char *dir = make_test_dir();
    char missing[128], target[128], nowhere[128];
    snprintf(missing, sizeof missing, "%s/current", dir);
    snprintf(nowhere, sizeof nowhere, "%s/nowhere", dir);
    make_dir_in(target, sizeof target, dir, "target");
    write_test_file(target, "keep", 10, 3);
    /* homework1.py would have emptied target before failing. */
    expect_refused(missing, target, 1, "No such file or directory");
    expect_refused(missing, nowhere, -1, missing);
}

LEAK_TEST(examples, homework1_copy_never_removes_its_source, .fini = remove_test_dir,
          .timeout = 30)
{
    const char *dir = make_test_dir();
    char current[128], target[128];
    make_homework_dirs(dir, current, target, sizeof current);
    /* homework1.py would remove ./current with the target that holds it. */
    expect_refused(current, dir, 2, "holds the source");
    expect_refused(current, current, (int)HW_FILES - 1, "holds the source");
}

/* ---- 9. 案例（抓取斗图）, and the site the network examples start ---- */

/* Read a whole file into b. */
static void read_file(const char *path, mt_buf *b)
{
    mt_buf_reset(b);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open '%s'", path);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        cr_assert_eq(mt_buf_append(b, chunk, n), 0);
    fclose(f);
}

/* The number after prefix in "<prefix>N-K.jpg" (page N, image K), each in
 * the site's range; false if the line is not that. */
static bool image_name(const char *line, const char *prefix, int *n, int *k)
{
    size_t plen = strlen(prefix);
    int end = -1;
    return strncmp(line, prefix, plen) == 0 &&
           sscanf(line + plen, "%d-%d.jpg%n", n, k, &end) == 2 &&
           end == (int)strlen(line + plen) && *n >= 1 && *n <= SITE_PAGES && *k >= 1 &&
           *k <= SITE_PER_PAGE;
}

/*
 * Run an image scraper with img/ in a directory of ours and a 2 s wait for
 * the queue: it must print a line per image of the site, each once, then
 * the empty line of the timeout's exception, then the minutes it took, and
 * leave exactly the site's images in img/, byte for byte.
 */
static void check_image_scraper(const char *name)
{
    enum { IMAGES = SITE_PAGES * SITE_PER_PAGE };
    const char *dir = make_test_dir();
    char img[128];
    snprintf(img, sizeof img, "%s/img", dir);
    run r;
    run_example_argv(&r, name, (const char *const[]){img, "2", NULL}, 60);
    /* Its processes (the site's too) all ended before it did. */
    expect_clean_exit(&r);
    cr_assert_eq(r.nlines, IMAGES + 2);
    bool seen[SITE_PAGES + 1][SITE_PER_PAGE + 1] = {{false}};
    for (size_t i = 0; i < IMAGES; i++) {
        int n, k;
        cr_assert(image_name(r.line[i], "一张图片下载完毕 ", &n, &k), "line %zu: '%s'", i + 1,
                  r.line[i]);
        cr_expect(!seen[n][k], "line %zu: %d-%d.jpg again", i + 1, n, k);
        seen[n][k] = true;
    }
    cr_expect_str_eq(r.line[IMAGES], "", "print(e) of queue.Empty is an empty line");
    char *end;
    double minutes = strtod(r.line[IMAGES + 1], &end);
    cr_expect(end != r.line[IMAGES + 1] && *end == '\0', "last line: '%s'", r.line[IMAGES + 1]);
    cr_expect(minutes * 60 >= 1.9 && minutes * 60 <= r.elapsed,
              "%.3f min: the downloader waits its 2 s, all within the %.2f s run", minutes,
              r.elapsed);

    cr_expect_eq(count_dir(img, ""), IMAGES, "%d files in img/", count_dir(img, ""));
    mt_buf want = MT_BUF_INIT, got = MT_BUF_INIT;
    for (int n = 1; n <= SITE_PAGES; n++) {
        for (int k = 1; k <= SITE_PER_PAGE; k++) {
            char path[192];
            snprintf(path, sizeof path, "%s/%d-%d.jpg", img, n, k);
            cr_assert_eq(site_image(&want, n, k), 0);
            cr_assert_geq(want.len, 1000);
            read_file(path, &got);
            cr_expect(got.len == want.len && memcmp(got.data, want.data, got.len) == 0,
                      "%s: %zu bytes, not the %zu the site serves", path, got.len, want.len);
        }
    }
    mt_buf_free(&want);
    mt_buf_free(&got);
    run_free(&r);
}

LEAK_TEST(examples, image_scraper_downloads_every_image, .fini = remove_test_dir, .timeout = 90)
{
    check_image_scraper("image_scraper");
}

LEAK_TEST(examples, image_scraper_coro_downloads_every_image, .fini = remove_test_dir,
          .timeout = 90)
{
    check_image_scraper("image_scraper_coro");
}

/* The lecture asks to make img/ before the run: a relative DIR that exists
 * already is used as it is. */
LEAK_TEST(examples, image_scraper_coro_uses_an_existing_img, .fini = remove_test_dir,
          .timeout = 90)
{
    const char *dir = make_test_dir();
    cr_assert_eq(chdir(dir), 0);
    cr_assert_eq(mkdir("img", 0777), 0);
    run r;
    run_example_argv(&r, "image_scraper_coro", (const char *const[]){"img", "1", NULL}, 60);
    expect_clean_exit(&r);
    cr_expect_eq(r.nlines, SITE_PAGES * SITE_PER_PAGE + 2);
    cr_expect_eq(count_dir("img", ""), SITE_PAGES * SITE_PER_PAGE);
    run_free(&r);
}

/* ---- 作业10 第3题（选做）: crawling pages with coroutines ---- */

LEAK_TEST(examples, homework3_crawl_visits_every_page_once, .timeout = 30)
{
    run r;
    run_example(&r, "homework3_crawl", NULL, 25);
    expect_clean_exit(&r);
    cr_assert_eq(r.nlines, SITE_PAGES + 2);
    /* The home page, alone in the queue at first, then the list pages it
     * and they link to, in whatever order the three workers finish them. */
    cr_expect_str_eq(r.line[0], "photo list: 0 images");
    for (int n = 1; n <= SITE_PAGES; n++) {
        char want[64];
        snprintf(want, sizeof want, "photo list - page %d: %d images", n, SITE_PER_PAGE);
        cr_expect_eq(count_line(&r, want), 1, "no line '%s'", want);
    }
    int pages = 0, images = 0, end = -1;
    double secs = -1;
    const char *last = r.line[SITE_PAGES + 1];
    cr_expect(sscanf(last, "crawled %d pages, %d images in %lf s%n", &pages, &images, &secs,
                     &end) == 3 &&
                  end == (int)strlen(last),
              "last line: '%s'", last);
    cr_expect_eq(pages, SITE_PAGES + 1);
    cr_expect_eq(images, SITE_PAGES * SITE_PER_PAGE);
    cr_expect(secs >= 0 && secs <= r.elapsed, "%.2f s", secs);
    run_free(&r);
}

/* One response of a keep-alive connection, from `at` in buf: its status
 * line's status, its head, and its body (Content-Length bytes). Returns
 * where the next response starts, or NULL. */
static const char *next_response(const char *at, const char *end, int *status, mt_buf *head,
                                 mt_buf *body)
{
    const char *blank = memmem(at, (size_t)(end - at), "\r\n\r\n", 4);
    if (!blank || sscanf(at, "HTTP/1.1 %d ", status) != 1)
        return NULL;
    mt_buf_reset(head);
    mt_buf_reset(body);
    cr_assert_eq(mt_buf_append(head, at, (size_t)(blank + 2 - at)), 0);
    cr_assert_eq(mt_buf_append(head, "", 1), 0);
    const char *cl = strcasestr(head->data, "\r\nContent-Length: ");
    size_t len = cl ? strtoul(cl + 18, NULL, 10) : 0;
    const char *b = blank + 4;
    if (!cl || (size_t)(end - b) < len)
        return NULL;
    cr_assert_eq(mt_buf_append(body, b, len), 0);
    return b + len;
}

/* The examples' site: three pipelined requests on one connection (keep-
 * alive), the last asking to close it; a 404 for what it does not have;
 * and a clean stop of its process. */
LEAK_TEST(examples, site_serves_keep_alive_and_stops_cleanly, .timeout = 30)
{
    site s;
    cr_assert_eq(site_start(&s), 0);
    cr_expect_eq(strncmp(s.url, "http://127.0.0.1:", 17), 0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){.tv_sec = 10}, sizeof(struct timeval));
    const char req[] = "GET /img/2-3.jpg HTTP/1.1\r\nHost: site\r\n\r\n"
                       "GET /img/2-99.jpg HTTP/1.1\r\nHost: site\r\n\r\n"
                       "GET /photo/list/?page=2 HTTP/1.1\r\nHost: site\r\nConnection: close\r\n\r\n";
    cr_assert_eq(write(fd, req, sizeof req - 1), (ssize_t)sizeof req - 1);
    mt_buf all = MT_BUF_INIT, head = MT_BUF_INIT, body = MT_BUF_INIT, want = MT_BUF_INIT;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) /* to the end: the server closes */
        cr_assert_eq(mt_buf_append(&all, chunk, (size_t)n), 0);
    cr_assert_eq(n, 0, "the server did not close the connection: %s", strerror(errno));
    close(fd);

    const char *at = all.data, *end = all.data + all.len;
    int status = 0;
    cr_assert_not_null(at = next_response(at, end, &status, &head, &body));
    cr_expect_eq(status, 200);
    cr_expect_not_null(strstr(head.data, "\r\nContent-Type: image/jpeg\r\n"));
    cr_assert_eq(site_image(&want, 2, 3), 0);
    cr_expect(body.len == want.len && memcmp(body.data, want.data, body.len) == 0,
              "/img/2-3.jpg is not site_image(2, 3)");
    cr_assert_not_null(at = next_response(at, end, &status, &head, &body));
    cr_expect_eq(status, 404, "there is no image 99 on page 2");
    cr_assert_not_null(at = next_response(at, end, &status, &head, &body));
    cr_expect_eq(status, 200);
    cr_expect_not_null(strstr(head.data, "\r\nConnection: close\r\n"));
    cr_assert_eq(mt_buf_append(&body, "", 1), 0);
    cr_expect_not_null(strstr(body.data, "<li class=\"list-group-item\"><img referrerpolicy="
                                         "\"no-referrer\" src=\"/static/loading.gif\" "
                                         "data-original=\"/img/2-1.jpg\""));
    cr_expect_not_null(strstr(body.data, "<a href=\"/photo/list/?page=3\" rel=\"next\">"));
    cr_expect_eq(at, end, "%zu bytes after the last response", (size_t)(end - at));
    mt_buf_free(&all);
    mt_buf_free(&head);
    mt_buf_free(&body);
    mt_buf_free(&want);
    cr_expect_eq(site_stop(&s), 0, "the site's process did not end cleanly on SIGTERM");
}
