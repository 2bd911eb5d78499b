/*
 * test_mtcp_faults.c - mtcp when things go wrong: a missing source, an
 * unreadable file, a full destination (a small tmpfs, or RLIMIT_FSIZE),
 * SIGINT and SIGKILL in the middle of a copy (then --resume), a source
 * that changes while it is copied, symlink loops, FIFOs and device nodes.
 * After each: the exit status, the message, and that no name holds a
 * partial file and no temporary file is left.
 */
#define _GNU_SOURCE
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "mtcp_helpers.h"

#include <inttypes.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/fs.h>
#include <xxhash.h>

static char dir[256];
static run_result r;

static void path_in(char *out, size_t size, const char *rel)
{
    snprintf(out, size, "%s/%s", dir, rel);
}

static void mk(const char *rel)
{
    char p[512];
    path_in(p, sizeof p, rel);
    cr_assert_eq(mkdir(p, 0755), 0, "mkdir %s: %s", p, strerror(errno));
}

static void file(const char *rel, size_t size, unsigned seed)
{
    char p[512];
    path_in(p, sizeof p, rel);
    write_file(p, size, seed);
}

static void setup_dir(void)
{
    leak_check_begin();
    make_tmpdir(dir, sizeof dir);
}

static void teardown_dir(void)
{
    char p[512];
    path_in(p, sizeof p, "mnt");
    umount2(p, MNT_DETACH);
    rm_tree(dir);
}

#define FAULT_TEST(name)                                                                           \
    static void body_##name(void);                                                                 \
    Test(mtcp_faults, name, .init = setup_dir, .fini = teardown_dir, .timeout = 60)                \
    {                                                                                              \
        body_##name();                                                                             \
        leak_check_end();                                                                          \
    }                                                                                              \
    static void body_##name(void)

/* Every regular file under dst has the bytes of its twin under src. */
static int check_complete(const char *src, const char *dst)
{
    DIR *d = opendir(dst);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char a[1024], b[1024];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(a, sizeof a, "%s/%s", src, e->d_name);
        snprintf(b, sizeof b, "%s/%s", dst, e->d_name);
        if (lstat(b, &st) == 0 && S_ISDIR(st.st_mode)) {
            n += check_complete(a, b);
        } else {
            cr_expect(same_bytes(a, b), "'%s' is not a complete copy", b);
            n++;
        }
    }
    closedir(d);
    return n;
}

FAULT_TEST(missing_source_fails_the_others_are_copied)
{
    char missing[512], ok[512], d[512], p[512];
    file("ok", 10, 1);
    mk("d");
    path_in(missing, sizeof missing, "nope");
    path_in(ok, sizeof ok, "ok");
    path_in(d, sizeof d, "d");
    mtcp_run_in(dir, NULL, &r, missing, ok, d);
    cr_expect_eq(r.status, 1);
    char want[600];
    snprintf(want, sizeof want, "mtcp: cannot stat '%s': No such file or directory", missing);
    cr_expect(strstr(r.err, want), "%s", r.err);
    path_in(p, sizeof p, "d/ok");
    cr_expect(same_bytes(ok, p));
}

FAULT_TEST(unreadable_file_is_named_the_others_are_copied)
{
    char s[512], d[512], p[512];
    run_opts o = {0};
    mk("s");
    file("s/a", 100, 1);
    file("s/locked", 100, 2);
    file("s/c", 100, 3);
    path_in(p, sizeof p, "s/locked");
    chmod(p, 0000);
    mk("out");
    path_in(d, sizeof d, "out");
    if (geteuid() == 0) { /* root reads anything: be nobody */
        o.uid = NOBODY;
        cr_assert_eq(chown(d, NOBODY, NOBODY), 0);
    }
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "out/s");
    mtcp_run_in(dir, &o, &r, s, d);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "cannot open") && strstr(r.err, "locked': Permission denied"), "%s",
              r.err);
    cr_expect(strstr(r.err, "1 failed"), "no summary: %s", r.err);
    path_in(p, sizeof p, "out/s/a");
    cr_expect_eq(access(p, F_OK), 0);
    path_in(p, sizeof p, "out/s/c");
    cr_expect_eq(access(p, F_OK), 0);
    path_in(p, sizeof p, "out/s/locked");
    cr_expect_neq(access(p, F_OK), 0);
    cr_expect_eq(temporaries(d), 0);
}

/* Copy dir/s with two workers onto a fresh 2 MiB tmpfs at dir/mnt (its
 * path in m), into mnt/copy. False when no tmpfs can be mounted. */
static bool copy_to_small_disk(char s[512], char m[512])
{
    mk("mnt");
    path_in(m, 512, "mnt");
    if (mount("mtcp-test", m, "tmpfs", 0, "size=2m") < 0)
        return false;
    path_in(s, 512, "s");
    char d[600];
    snprintf(d, sizeof d, "%s/copy", m);
    mtcp_run_in(dir, NULL, &r, "-j", "2", s, d);
    return true;
}

FAULT_TEST(full_destination_stops_cleanly)
{
    char s[512], m[512];
    mk("s");
    for (int i = 0; i < 6; i++) {
        char name[32];
        snprintf(name, sizeof name, "s/f%d", i);
        file(name, 700 << 10, (unsigned)i);
    }
    if (!copy_to_small_disk(s, m))
        cr_skip_test("cannot mount a tmpfs here (%s): RLIMIT_FSIZE covers the case",
                     strerror(errno));
    char d[600];
    snprintf(d, sizeof d, "%s/copy", m);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "incomplete") && strstr(r.err, "No space left on device"), "%s",
              r.err);
    cr_expect_eq(temporaries(m), 0, "temporary files left on the full disk");
    int n = check_complete(s, d);
    cr_expect_lt(n, 6);
    cr_expect_eq(umount(m), 0);
}

/* After a stop for a full disk, every file is accounted for: copied, named
 * incomplete, or counted as not started. */
FAULT_TEST(full_destination_accounts_for_every_file)
{
    char s[512], m[512];
    mk("s");
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "s/f%02d", i);
        file(name, 100 << 10, (unsigned)i);
    }
    if (!copy_to_small_disk(s, m))
        cr_skip_test("cannot mount a tmpfs here (%s)", strerror(errno));
    char d[600];
    snprintf(d, sizeof d, "%s/copy", m);
    cr_expect_eq(r.status, 1, "%s", r.err);
    int complete = check_complete(s, d), named = 0, not_started = 0;
    for (const char *at = r.err; (at = strstr(at, ": incomplete '")); at++)
        named++;
    const char *ns = strstr(r.err, " files not started");
    if (ns) {
        while (ns > r.err && ns[-1] >= '0' && ns[-1] <= '9')
            ns--;
        not_started = atoi(ns);
    }
    if (strstr(r.err, "not yet found"))
        cr_expect_leq(complete + named + not_started, 40, "%s", r.err);
    else
        cr_expect_eq(complete + named + not_started, 40,
                     "%d copied + %d named + %d not started\n%s", complete, named, not_started,
                     r.err);
    cr_expect_eq(temporaries(m), 0);
    cr_expect_eq(umount(m), 0);
}

FAULT_TEST(file_size_limit_stops_cleanly)
{
    char s[512], d[512], p[512];
    mk("s");
    file("s/small", 1000, 1);
    file("s/huge", 3 << 20, 2);
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "d");
    run_opts o = {.fsize = 1 << 20};
    mtcp_run_in(dir, &o, &r, s, d);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "huge': File too large"), "%s", r.err);
    path_in(p, sizeof p, "d/huge");
    cr_expect_neq(access(p, F_OK), 0, "a partial file under its final name");
    cr_expect_eq(temporaries(d), 0);
}

/* Start a slow copy of s to d, wait, send sig; returns the result. */
static void interrupt(int sig, double after, const char *limit)
{
    char s[512], d[512];
    mk("out");
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "out");
    char *argv[] = {"mtcp", "--bwlimit", (char *)limit, s, d, NULL};
    pid_t pid = mtcp_start(dir, NULL, argv);
    mt_sleep(after);
    kill(pid, sig);
    mtcp_collect(dir, pid, &r);
}

FAULT_TEST(sigint_stops_workers_and_removes_temporaries)
{
    char s[512], d[512];
    mk("s");
    for (int i = 0; i < 8; i++) {
        char name[32];
        snprintf(name, sizeof name, "s/f%d", i);
        file(name, 1 << 20, (unsigned)i);
    }
    interrupt(SIGINT, 0.6, "2M");
    cr_expect_eq(r.status, 130, "%s", r.err);
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "out/s");
    cr_expect_eq(temporaries(d), 0);
    int n = check_complete(s, d);
    cr_expect_lt(n, 8, "the copy was not interrupted");
    cr_expect(strstr(r.err, "interrupted"), "%s", r.err);
}

/* dir/s: a big file of `big` bytes and ten small ones in s/sub. */
static void big_and_small_tree(size_t big)
{
    mk("s");
    mk("s/sub");
    file("s/big", big, 9);
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "s/sub/f%d", i);
        file(name, 100 << 10, (unsigned)i);
    }
}

FAULT_TEST(sigkill_then_resume_gives_the_same_tree)
{
    char s[512], d[512];
    big_and_small_tree((size_t)136 << 20); /* three ranges */
    interrupt(SIGKILL, 1.5, "64M");
    cr_expect_eq(r.status, 128 + SIGKILL);
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "out");
    cr_expect_gt(temporaries(d), 0, "the kill left no partial file to resume");
    mtcp_run_in(dir, NULL, &r, "--resume", s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    path_in(d, sizeof d, "out/s");
    expect_same_tree(s, d, true);
    cr_expect_eq(temporaries(d), 0);
    char big[512];
    path_in(big, sizeof big, "out/s/big");
    char v[64];
    cr_expect_lt(getxattr(big, "user.mtcp.src", v, sizeof v), 0, "resume marks left on the copy");
}

FAULT_TEST(source_changing_during_copy_is_reported)
{
    char s[512], d[512];
    mk("s");
    file("s/moving", 4 << 20, 1);
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "d");
    char *argv[] = {"mtcp", "--bwlimit", "2M", s, d, NULL};
    pid_t pid = mtcp_start(dir, NULL, argv);
    mt_sleep(0.5);
    char p[512];
    path_in(p, sizeof p, "s/moving");
    int fd = open(p, O_WRONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(pwrite(fd, "changed", 7, 3 << 20), 7);
    close(fd);
    mtcp_collect(dir, pid, &r);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "moving': file changed while being copied"), "%s", r.err);
    path_in(p, sizeof p, "d/moving");
    cr_expect_neq(access(p, F_OK), 0, "a torn copy was put in place");
    cr_expect_eq(temporaries(d), 0);
}

FAULT_TEST(symlink_loops_fifos_and_devices)
{
    char s[512], d[512], p[512];
    mk("s");
    path_in(p, sizeof p, "s/loop1");
    cr_assert_eq(symlink("loop2", p), 0);
    path_in(p, sizeof p, "s/loop2");
    cr_assert_eq(symlink("loop1", p), 0);
    path_in(p, sizeof p, "s/self");
    cr_assert_eq(symlink(".", p), 0);
    path_in(p, sizeof p, "s/fifo");
    cr_assert_eq(mkfifo(p, 0640), 0);
    bool dev = false;
    if (geteuid() == 0) {
        path_in(p, sizeof p, "s/null");
        dev = mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0;
    }
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "d");
    mtcp_run_in(dir, NULL, &r, s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    expect_same_tree(s, d, true);
    if (!dev)
        return;
    /* not root: the device is skipped with a warning, the rest copied */
    mk("out");
    path_in(p, sizeof p, "out");
    cr_assert_eq(chown(p, NOBODY, NOBODY), 0);
    path_in(d, sizeof d, "out/d");
    run_opts o = {.uid = NOBODY};
    mtcp_run_in(dir, &o, &r, s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.err, "warning: skipping device") && strstr(r.err, "null"), "%s", r.err);
    path_in(p, sizeof p, "out/d/null");
    cr_expect_neq(access(p, F_OK), 0);
    struct stat st;
    path_in(p, sizeof p, "out/d/fifo");
    cr_expect(lstat(p, &st) == 0 && S_ISFIFO(st.st_mode));
    path_in(p, sizeof p, "out/d/loop1");
    cr_expect(lstat(p, &st) == 0 && S_ISLNK(st.st_mode));
}

FAULT_TEST(directory_over_a_file_fails)
{
    char s[512], d[512];
    mk("s");
    file("s/x", 1, 1);
    file("d", 1, 2);
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "d");
    mtcp_run_in(dir, NULL, &r, s, d);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "cannot overwrite non-directory"), "%s", r.err);
}

/* The first temporary name mtcp would write `name` under. */
static void lookalike(char *out, size_t size, const char *name)
{
    snprintf(out, size, "s/.mtcp-%016" PRIx64 ".part", (uint64_t)XXH3_64bits(name, strlen(name)));
}

/* Files named like the temporaries of the files beside them (a killed run's
 * leftovers, copied back) are files like any other: a second run with
 * --resume finds them complete at the destination, and must neither take
 * them for leftovers and remove them, nor write another file under their
 * names. Every kind of entry that goes through a temporary name: a big
 * file, a small one, a symlink, both names of a hard link. */
FAULT_TEST(files_named_like_temporaries_are_kept)
{
    const char *names[] = {"big", "small", "link", "first", "second"};
    char like[5][64], s[512], d[512], p[1024], q[1024];
    mk("s");
    mk("out");
    for (int i = 0; i < 5; i++) {
        lookalike(like[i], sizeof like[i], names[i]);
        file(like[i], 27, 90u + (unsigned)i);
    }
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "out");
    mtcp_run_in(dir, NULL, &r, s, d);
    cr_assert_eq(r.status, 0, "%s", r.err);

    file("s/big", (size_t)(65 << 20), 1);
    file("s/small", 1000, 2);
    file("s/first", 3000, 3);
    char a[1024], b[1024];
    path_in(a, sizeof a, "s/first");
    path_in(b, sizeof b, "s/second");
    cr_assert_eq(link(a, b), 0);
    path_in(p, sizeof p, "s/link");
    cr_assert_eq(symlink("small", p), 0);
    mtcp_run_in(dir, NULL, &r, "-j", "4", "--resume", s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    for (int i = 0; i < 5; i++) {
        path_in(p, sizeof p, like[i]);
        snprintf(q, sizeof q, "%s/out/%s", dir, like[i]);
        cr_expect(same_bytes(p, q), "%s was lost or overwritten", like[i]);
    }
    for (int i = 0; i < 5; i++) {
        if (i == 2)
            continue;
        snprintf(p, sizeof p, "%s/s/%s", dir, names[i]);
        snprintf(q, sizeof q, "%s/out/s/%s", dir, names[i]);
        cr_expect(same_bytes(p, q), "%s has the wrong bytes", names[i]);
    }
    char target[16] = "";
    snprintf(q, sizeof q, "%s/out/s/link", dir);
    cr_expect_eq(readlink(q, target, sizeof target - 1), 5, "the symlink was not copied");
    cr_expect_str_eq(target, "small");
    struct stat one, two;
    snprintf(p, sizeof p, "%s/out/s/first", dir);
    snprintf(q, sizeof q, "%s/out/s/second", dir);
    cr_expect(stat(p, &one) == 0 && stat(q, &two) == 0 && one.st_ino == two.st_ino,
              "the hard link was not kept");
    snprintf(p, sizeof p, "%s/out/s", dir);
    cr_expect_eq(count_entries(p), 10, "a temporary file was left, or a file is missing");
}

/* A directory whose attributes cannot be set counts as a failure. */
FAULT_TEST(directory_attributes_that_cannot_be_set_fail_the_run)
{
    char s[512], d[512], p[512];
    mk("s");
    mk("s/sub");
    path_in(p, sizeof p, "s/sub");
    cr_assert_eq(chmod(p, 0750), 0);
    mk("out");
    mk("out/s");
    mk("out/s/sub");
    path_in(p, sizeof p, "out/s/sub");
    int fd = open(p, O_RDONLY | O_DIRECTORY);
    int flags = FS_IMMUTABLE_FL;
    if (fd < 0 || ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0) {
        if (fd >= 0)
            close(fd);
        cr_skip_test("cannot make a directory immutable here");
    }
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "out");
    mtcp_run_in(dir, NULL, &r, s, d);
    flags = 0;
    ioctl(fd, FS_IOC_SETFLAGS, &flags);
    close(fd);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "cannot set the attributes"), "%s", r.err);
    cr_expect(strstr(r.err, "1 failed"), "%s", r.err);
}

/* Wait up to 10 s for a temporary file to appear under path. */
static bool wait_for_temporary(const char *path)
{
    for (int i = 0; i < 1000; i++) {
        if (temporaries(path) > 0)
            return true;
        mt_sleep(0.01);
    }
    return false;
}

/* A hostile neighbour swaps a destination directory for a symlink to an
 * outside directory while the first name of a hard-linked file is copied:
 * the second name must not be linked through the symlink (the outside file
 * would get an extra link, and the copy its bytes). With one worker, s/f is
 * copied first (its directory's files are queued before s/b is read). */
FAULT_TEST(a_hard_link_never_follows_a_symlink_planted_in_the_destination)
{
    char s[512], d[512], p[512], q[512], outside[512], moved[512];
    mk("s");
    mk("s/b");
    mk("out");
    mk("outside");
    file("s/f", 2 << 20, 1);
    char a[512], b[512];
    path_in(a, sizeof a, "s/f");
    path_in(b, sizeof b, "s/b/g");
    cr_assert_eq(link(a, b), 0);
    file("outside/f", 100, 2);
    char keep[512];
    path_in(keep, sizeof keep, "outside-original");
    file("outside-original", 100, 2);
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "out");
    char *argv[] = {"mtcp", "-j", "1", "--bwlimit", "1M", s, d, NULL};
    pid_t pid = mtcp_start(dir, NULL, argv);
    path_in(p, sizeof p, "out/s");
    bool copying = wait_for_temporary(p);
    path_in(moved, sizeof moved, "out/s.moved");
    path_in(outside, sizeof outside, "outside");
    if (copying) { /* mv out/s out/s.moved && ln -s outside out/s */
        cr_expect_eq(rename(p, moved), 0);
        cr_expect_eq(symlink(outside, p), 0);
    }
    mtcp_collect(dir, pid, &r);
    cr_assert(copying, "the copy of s/f was never seen");
    struct stat st;
    path_in(q, sizeof q, "outside/f");
    cr_assert_eq(stat(q, &st), 0);
    cr_expect_eq(st.st_nlink, 1, "an outside file was linked into the copy");
    cr_expect(same_bytes(q, keep), "an outside file was changed");
    path_in(q, sizeof q, "out/s.moved/b/g");
    if (access(q, F_OK) == 0)
        cr_expect(same_bytes(q, b), "the copy holds another file's bytes");
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "cannot link") && strstr(r.err, "s/b/g"), "%s", r.err);
}

/* Hard links deeper than PATH_MAX below the destination: every name is made
 * through directory fds, never a path. */
FAULT_TEST(hard_links_deeper_than_path_max)
{
    enum { DEPTH = 40 };
    char name[121], s[512], d[512];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    mk("s");
    path_in(s, sizeof s, "s");
    int fd = open(s, O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < DEPTH; i++) { /* 40 x 121 bytes: beyond PATH_MAX */
        cr_assert_eq(mkdirat(fd, name, 0755), 0);
        int next = openat(fd, name, O_RDONLY | O_DIRECTORY);
        close(fd);
        fd = next;
        cr_assert_geq(fd, 0);
    }
    int f = openat(fd, "f", O_WRONLY | O_CREAT, 0644);
    cr_assert_eq(write(f, "hard link", 9), 9);
    close(f);
    cr_assert_eq(linkat(fd, "f", fd, "g", 0), 0);
    cr_assert_eq(linkat(fd, "f", fd, "h", 0), 0);
    close(fd);
    path_in(d, sizeof d, "copy");
    mtcp_run_in(dir, NULL, &r, s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    fd = open(d, O_RDONLY | O_DIRECTORY);
    for (int i = 0; i < DEPTH && fd >= 0; i++) {
        int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        close(fd);
        fd = next;
    }
    cr_assert_geq(fd, 0, "the deep directories were not copied");
    struct stat a, b, c;
    cr_assert_eq(fstatat(fd, "f", &a, AT_SYMLINK_NOFOLLOW), 0);
    cr_expect_eq(fstatat(fd, "g", &b, AT_SYMLINK_NOFOLLOW), 0, "g is missing");
    cr_expect_eq(fstatat(fd, "h", &c, AT_SYMLINK_NOFOLLOW), 0, "h is missing");
    cr_expect(a.st_ino == b.st_ino && a.st_ino == c.st_ino && a.st_nlink == 3,
              "the hard links were not kept");
    close(fd);
}

/* What a hostile neighbour does at one system call of mtcp's. */
typedef struct swap_at {
    long nr;          /* when mtcp returns from this call with 0 */
    const char *from; /* rename this */
    char to[600];     /* over this */
    bool done;
} swap_at;

static bool swap_hook(long nr, long ret, void *ctx)
{
    swap_at *s = ctx;
    if (nr != s->nr || ret != 0)
        return false;
    s->done = rename(s->from, s->to) == 0;
    return true;
}

/* Copy dir/s, holding a FIFO (mode 0666, owned by nobody as root), to dir/d
 * with one worker while a hostile neighbour renames `spare` over the FIFO's
 * temporary name just after mtcp made it; spare is a symlink to, or a hard
 * link of, dir/secret (mode 0600). Neither the outside file's mode nor its
 * owner changes, and what was renamed in is not put in place. */
static void swap_over_a_fifo(bool hard)
{
    char s[512], d[512], p[512], secret[512], like[64];
    mk("s");
    path_in(p, sizeof p, "s/fifo");
    cr_assert_eq(mkfifo(p, 0666), 0);
    cr_assert_eq(chmod(p, 0666), 0);
    if (geteuid() == 0)
        cr_assert_eq(lchown(p, NOBODY, NOBODY), 0);
    file("secret", 10, 1);
    path_in(secret, sizeof secret, "secret");
    cr_assert_eq(chmod(secret, 0600), 0);
    path_in(p, sizeof p, "spare");
    cr_assert_eq(hard ? link(secret, p) : symlink(secret, p), 0);
    lookalike(like, sizeof like, "fifo");
    swap_at sw = {.nr = SYS_mknodat, .from = p};
    snprintf(sw.to, sizeof sw.to, "%s/d/%s", dir, like + 2); /* like is "s/..." */
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "d");
    char *argv[] = {"mtcp", "-j", "1", s, d, NULL};
    mtcp_run_traced(dir, argv, swap_hook, &sw, &r);
    cr_assert(sw.done, "the FIFO's temporary name was never swapped");
    struct stat st;
    cr_assert_eq(stat(secret, &st), 0);
    cr_expect_eq(st.st_mode & 07777, 0600, "the outside file was chmod-ed to %o",
                 st.st_mode & 07777);
    cr_expect_eq(st.st_uid, geteuid(), "the outside file was chown-ed");
    path_in(p, sizeof p, "d/fifo");
    cr_expect(lstat(p, &st) != 0 || S_ISFIFO(st.st_mode), "what was renamed in was put in place");
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "fifo'"), "%s", r.err);
    cr_expect_eq(temporaries(d), 0);
}

/* A symlink renamed over the FIFO was followed: as root, an outside file
 * went from 0600 to 0666. */
FAULT_TEST(a_symlink_renamed_over_a_fifo_is_never_followed)
{
    swap_over_a_fifo(false);
}

/* A hard link to an outside file renamed over the FIFO got its owner and
 * mode. */
FAULT_TEST(a_hard_link_renamed_over_a_fifo_is_never_changed)
{
    swap_over_a_fifo(true);
}

/* A source written through a shared mapping while it is copied keeps its
 * size, times and inode when its pages were already dirty (the kernel
 * stamps the times at the first write to a clean page): mtcp writes such
 * pages back before copying, so that the next write through the mapping
 * stamps the file, and the torn copy is reported and never put in place. */
FAULT_TEST(a_source_written_through_a_mapping_is_never_put_in_place_torn)
{
    char s[512], d[512], p[512];
    enum { SIZE = 4 << 20 };
    mk("s");
    file("s/mapped", SIZE, 1);
    path_in(p, sizeof p, "s/mapped");
    int fd = open(p, O_RDWR);
    cr_assert_geq(fd, 0);
    char *map = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    cr_assert_neq(map, MAP_FAILED);
    memset(map, 'a', SIZE); /* every page dirty and writable: no more stamps */
    mt_sleep(0.05);
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "d");
    char *argv[] = {"mtcp", "--bwlimit", "2M", s, d, NULL};
    pid_t pid = mtcp_start(dir, NULL, argv);
    mt_sleep(0.8); /* about a third copied */
    memset(map, 'b', SIZE);
    mtcp_collect(dir, pid, &r);
    munmap(map, SIZE);
    close(fd);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "mapped': file changed while being copied"), "%s", r.err);
    path_in(d, sizeof d, "d/mapped");
    cr_expect(access(d, F_OK) != 0 || same_bytes(p, d), "a torn copy was put in place");
    path_in(d, sizeof d, "d");
    cr_expect_eq(temporaries(d), 0);
}

/* The man page's `mtcp --resume big-tree /mnt/usb/big-tree` after a killed
 * `mtcp big-tree /mnt/usb/big-tree`: the unfinished copy is finished where
 * it is (it was copied again into it, as big-tree/big-tree, and the killed
 * run's temporary files were left). */
FAULT_TEST(resume_finishes_a_copy_named_dest_where_it_is)
{
    char s[512], d[512], p[600];
    big_and_small_tree((size_t)70 << 20); /* two ranges */
    mk("usb");
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "usb/copy");
    char *argv[] = {"mtcp", "--bwlimit", "40M", s, d, NULL};
    pid_t pid = mtcp_start(dir, NULL, argv);
    mt_sleep(1.0);
    kill(pid, SIGKILL);
    mtcp_collect(dir, pid, &r);
    cr_assert_eq(r.status, 128 + SIGKILL, "the copy ended before the kill: %s", r.err);
    cr_assert_gt(temporaries(d), 0, "the kill left no partial file");
    snprintf(p, sizeof p, "%s/" MTCP_MARK, d);
    cr_assert_eq(access(p, F_OK), 0, "the unfinished copy has no mark");
    mtcp_run_in(dir, NULL, &r, "--resume", s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    snprintf(p, sizeof p, "%s/s", d);
    cr_expect_neq(access(p, F_OK), 0, "a second copy was made inside the first");
    expect_same_tree(s, d, true);
    cr_expect_eq(temporaries(d), 0, "temporary files were left");
    cr_expect_eq(count_entries(d), count_entries(s), "the mark was left");
    /* once complete, the rule is cp's again: into DEST */
    mtcp_run_in(dir, NULL, &r, "--resume", s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(access(p, F_OK), 0, "a complete copy was taken for an unfinished one");
}

/* A file at the destination that the user may not write is not replaced,
 * as cp -a refuses to (it was replaced silently); the others are copied.
 * Root writes anything, as with cp. */
FAULT_TEST(a_read_only_destination_file_is_not_replaced)
{
    char s[512], d[512], p[512], q[512];
    run_opts o = {.uid = geteuid() == 0 ? NOBODY : 0};
    mk("s");
    file("s/ro", 100, 1);
    file("s/rw", 100, 2);
    path_in(p, sizeof p, "s/ro");
    cr_assert_eq(chmod(p, 0444), 0);
    mk("out");
    path_in(d, sizeof d, "out");
    if (o.uid)
        cr_assert_eq(chown(d, o.uid, o.uid), 0);
    path_in(s, sizeof s, "s");
    mtcp_run_in(dir, &o, &r, s, d);
    cr_assert_eq(r.status, 0, "%s", r.err);
    file("s/ro", 200, 3);
    cr_assert_eq(chmod(p, 0444), 0);
    file("s/rw", 200, 4);
    mtcp_run_in(dir, &o, &r, s, d);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "cannot replace the read-only copy of '") && strstr(r.err, "s/ro'"),
              "%s", r.err);
    struct stat st;
    path_in(q, sizeof q, "out/s/ro");
    cr_expect(stat(q, &st) == 0 && st.st_size == 100, "the read-only file was replaced");
    path_in(p, sizeof p, "s/rw");
    path_in(q, sizeof q, "out/s/rw");
    cr_expect(same_bytes(p, q), "the writable file was not copied");
    path_in(d, sizeof d, "out/s");
    cr_expect_eq(temporaries(d), 0);
}
