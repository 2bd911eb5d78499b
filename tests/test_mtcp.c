/*
 * test_mtcp.c - the mtcp tool on real trees: the edge-case tree checked
 * property by property (sparse size, hard links, symlinks, modes,
 * nanosecond times, xattrs, odd names, empty directories), cp's operand
 * rules, the options, and the command line's errors.
 */
#define _GNU_SOURCE
#include "mtcp_helpers.h"

static char dir[256];
static run_result r;

static void path_in(char *out, size_t size, const char *rel)
{
    snprintf(out, size, "%s/%s", dir, rel);
}

static void mk(const char *rel, mode_t mode)
{
    char p[512];
    path_in(p, sizeof p, rel);
    cr_assert_eq(mkdir(p, mode), 0, "mkdir %s: %s", p, strerror(errno));
}

static void file(const char *rel, size_t size, unsigned seed)
{
    char p[512];
    path_in(p, sizeof p, rel);
    write_file(p, size, seed);
}

static void hard_link(const char *from_rel, const char *to_rel)
{
    char p[512], q[512];
    path_in(p, sizeof p, from_rel);
    path_in(q, sizeof q, to_rel);
    cr_assert_eq(link(p, q), 0, "link %s %s: %s", p, q, strerror(errno));
}

static void set_mtime(const char *rel, time_t sec, long nsec)
{
    char p[512];
    path_in(p, sizeof p, rel);
    struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
    cr_assert_eq(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* The edge-case tree, under dir/src. */
static void edge_tree(void)
{
    char p[512];
    mk("src", 0755);
    mk("src/empty", 0755);
    mk("src/empty/deeper", 0700);
    mk("src/ro", 0755);
    file("src/ro/inside", 100, 1);
    file("src/plain", 5000, 2);
    file("src/exec", 10, 3);
    path_in(p, sizeof p, "src/exec");
    chmod(p, 04750);
    file("src/secret", 10, 4);
    path_in(p, sizeof p, "src/secret");
    chmod(p, 0600);
    file("src/empty-file", 0, 5);
    /* sparse: 8 MiB with 4 KiB of data in the middle */
    path_in(p, sizeof p, "src/sparse");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_eq(ftruncate(fd, 8 << 20), 0);
    cr_assert_eq(pwrite(fd, "data", 4, 4 << 20), 4);
    close(fd);
    /* hard links, one of them in another directory */
    file("src/linked", 3000, 6);
    hard_link("src/linked", "src/linked2");
    hard_link("src/linked", "src/ro/linked3");
    /* symlinks: relative, absolute, dangling, a loop, one out of the tree */
    path_in(p, sizeof p, "src/sl-rel");
    cr_assert_eq(symlink("plain", p), 0);
    path_in(p, sizeof p, "src/sl-abs");
    cr_assert_eq(symlink("/etc/hostname", p), 0);
    path_in(p, sizeof p, "src/sl-dangling");
    cr_assert_eq(symlink("no/such/thing", p), 0);
    path_in(p, sizeof p, "src/loop-a");
    cr_assert_eq(symlink("loop-b", p), 0);
    path_in(p, sizeof p, "src/loop-b");
    cr_assert_eq(symlink("loop-a", p), 0);
    path_in(p, sizeof p, "src/sl-up");
    cr_assert_eq(symlink("..", p), 0);
    /* odd names */
    file("src/with space", 1, 7);
    file("src/new\nline", 2, 8);
    file("src/bad-\xff\xfe-utf8", 3, 9);
    file("src/-leading-dash", 4, 10);
    file("src/.hidden", 5, 11);
    /* a user xattr */
    path_in(p, sizeof p, "src/plain");
    cr_assert_eq(setxattr(p, "user.colour", "blue", 4, 0), 0);
    /* nanosecond times, on files and directories (directories last) */
    set_mtime("src/plain", 1000000000, 123456789);
    set_mtime("src/sparse", 1500000000, 1);
    set_mtime("src/sl-rel", 1200000000, 999999999);
    set_mtime("src/ro/inside", 1300000000, 5);
    path_in(p, sizeof p, "src/ro");
    chmod(p, 0555);
    set_mtime("src/ro", 1400000000, 42);
    set_mtime("src/empty", 1100000000, 7);
    set_mtime("src", 1600000000, 77);
}

static void setup_dir(void)
{
    leak_check_begin();
    make_tmpdir(dir, sizeof dir);
}

static void teardown_dir(void)
{
    rm_tree(dir);
}

/* LEAK_TEST's shape, with a temporary directory made before and removed
 * after each test. */
#define MTCP_TEST(name)                                                                            \
    static void body_##name(void);                                                                 \
    Test(mtcp, name, .init = setup_dir, .fini = teardown_dir, .timeout = 60)                       \
    {                                                                                              \
        body_##name();                                                                             \
        leak_check_end();                                                                          \
    }                                                                                              \
    static void body_##name(void)

MTCP_TEST(edge_case_tree_is_copied_property_by_property)
{
    char src[512], dst[512], p[512], q[512];
    edge_tree();
    path_in(src, sizeof src, "src");
    path_in(dst, sizeof dst, "dst");
    mtcp_run_in(dir, NULL, &r, "-j", "3", src, dst);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect_str_eq(r.err, "");
    expect_same_tree(src, dst, true);
    struct stat a, b;
    /* sparse stays sparse */
    path_in(p, sizeof p, "dst/sparse");
    cr_assert_eq(stat(p, &a), 0);
    cr_expect_eq(a.st_size, 8 << 20);
    cr_expect_lt(a.st_blocks * 512, 1 << 20, "holes filled: %ld blocks", (long)a.st_blocks);
    /* the three names of one file are one inode */
    path_in(p, sizeof p, "dst/linked");
    path_in(q, sizeof q, "dst/ro/linked3");
    cr_assert_eq(stat(p, &a), 0);
    cr_assert_eq(stat(q, &b), 0);
    cr_expect_eq(a.st_ino, b.st_ino);
    cr_expect_eq(a.st_nlink, 3);
    /* the setuid bit survives (as root, the owner is kept) */
    path_in(p, sizeof p, "dst/exec");
    cr_assert_eq(stat(p, &a), 0);
    if (geteuid() == 0)
        cr_expect_eq(a.st_mode & 07777, 04750);
    char v[16] = "";
    path_in(p, sizeof p, "dst/plain");
    cr_expect_eq(getxattr(p, "user.colour", v, sizeof v), 4);
    cr_expect_str_eq(v, "blue");
    cr_expect_eq(temporaries(dst), 0, "temporary files left");
}

MTCP_TEST(operands_follow_cp)
{
    char a[512], d[512], p[512];
    mk("a", 0755);
    file("a/f", 10, 1);
    file("one", 20, 2);
    mk("into", 0755);
    path_in(a, sizeof a, "a");
    path_in(d, sizeof d, "into");
    /* a directory DEST receives SOURCE by its name; several sources too */
    path_in(p, sizeof p, "one");
    mtcp_run_in(dir, NULL, &r, a, p, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    path_in(p, sizeof p, "into/a/f");
    cr_expect(same_bytes(p, a[0] ? p : p));
    path_in(p, sizeof p, "into/one");
    cr_expect_eq(access(p, F_OK), 0);
    /* a new DEST is the copy itself, for a file and for a directory */
    path_in(p, sizeof p, "copy-of-one");
    char one[512];
    path_in(one, sizeof one, "one");
    mtcp_run_in(dir, NULL, &r, one, p);
    cr_expect_eq(r.status, 0);
    cr_expect(same_bytes(one, p));
    path_in(p, sizeof p, "a2/");
    mtcp_run_in(dir, NULL, &r, a, p);
    cr_expect_eq(r.status, 0);
    path_in(p, sizeof p, "a2/f");
    cr_expect_eq(access(p, F_OK), 0);
    /* the contents of "a/." into an existing directory merge there */
    path_in(p, sizeof p, "a/.");
    mk("merge", 0755);
    path_in(d, sizeof d, "merge");
    mtcp_run_in(dir, NULL, &r, p, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    path_in(p, sizeof p, "merge/f");
    cr_expect_eq(access(p, F_OK), 0);
}

MTCP_TEST(refuses_a_directory_into_itself)
{
    char a[512], d[512];
    mk("a", 0755);
    mk("a/sub", 0755);
    file("a/f", 10, 1);
    path_in(a, sizeof a, "a");
    path_in(d, sizeof d, "a/sub/copy");
    mtcp_run_in(dir, NULL, &r, a, d);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "into itself"), "%s", r.err);
    cr_expect_neq(access(d, F_OK), 0);
    mtcp_run_in(dir, NULL, &r, a, a);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "same file") || strstr(r.err, "into itself"), "%s", r.err);
}

/* "link/" names the directory a symlink points to, as for cp and rsync:
 * that directory is copied (under the link's name into a directory), and a
 * copy of it into itself through the link is refused. */
MTCP_TEST(a_trailing_slash_follows_a_symlink_to_a_directory)
{
    char link_slash[700], d[512], p[600];
    mk("a", 0755);
    mk("a/sub", 0755);
    mk("into", 0755);
    file("a/f", 10, 1);
    path_in(p, sizeof p, "link");
    cr_assert_eq(symlink("a", p), 0);
    snprintf(link_slash, sizeof link_slash, "%s/", p);
    path_in(d, sizeof d, "into");
    mtcp_run_in(dir, NULL, &r, link_slash, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    struct stat st;
    path_in(p, sizeof p, "into/link");
    cr_expect(lstat(p, &st) == 0 && S_ISDIR(st.st_mode), "into/link is not a directory");
    char a[512], b[600];
    path_in(a, sizeof a, "a/f");
    path_in(b, sizeof b, "into/link/f");
    cr_expect(same_bytes(a, b), "into/link/f");

    path_in(d, sizeof d, "a/sub/copy");
    mtcp_run_in(dir, NULL, &r, link_slash, d);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "into itself"), "%s", r.err);
    cr_expect_neq(access(d, F_OK), 0);
    cr_expect_neq(lstat(d, &st), 0, "a link was made into the source instead");
}

MTCP_TEST(usage_errors_exit_2)
{
    mtcp_run_in(dir, NULL, &r, "--jobs", "0", "a", "b");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "mtcp: invalid number of jobs: '0'"), "%s", r.err);
    mtcp_run_in(dir, NULL, &r, "--no-such-option", "a", "b");
    cr_expect_eq(r.status, 2);
    mtcp_run_in(dir, NULL, &r, "only-one");
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "missing destination operand"), "%s", r.err);
    mtcp_run_in(dir, NULL, &r, "--progress=loud", "a", "b");
    cr_expect_eq(r.status, 2);
    mtcp_run_in(dir, NULL, &r, "--no-preserve=colour", "a", "b");
    cr_expect_eq(r.status, 2);
    file("x", 1, 1);
    file("y", 1, 1);
    char x[512], y[512], z[512];
    path_in(x, sizeof x, "x");
    path_in(y, sizeof y, "y");
    path_in(z, sizeof z, "not-a-dir");
    mtcp_run_in(dir, NULL, &r, x, y, z);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "is not a directory"), "%s", r.err);
    mtcp_run_in(dir, NULL, &r, "--help");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "usage: mtcp"), "%s", r.out);
    mtcp_run_in(dir, NULL, &r, "--version");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, MT_VERSION_STRING));
}

MTCP_TEST(dry_run_changes_nothing)
{
    char s[512], d[512];
    mk("s", 0755);
    mk("s/d", 0755);
    file("s/d/f", 100, 1);
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "d");
    mtcp_run_in(dir, NULL, &r, "-n", "-v", s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "would copy"), "%s", r.out);
    cr_expect(strstr(r.out, "s/d/f"), "%s", r.out);
    cr_expect_neq(access(d, F_OK), 0);
}

MTCP_TEST(exclude_by_name_and_by_path)
{
    char s[512], d[512], p[512];
    mk("s", 0755);
    mk("s/keep", 0755);
    mk("s/cache", 0755);
    file("s/keep/a.o", 1, 1);
    file("s/keep/a.c", 1, 2);
    file("s/cache/x", 1, 3);
    file("s/top.o", 1, 4);
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "d");
    mtcp_run_in(dir, NULL, &r, "--exclude", "*.o", "--exclude", "cache", s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    path_in(p, sizeof p, "d/keep/a.c");
    cr_expect_eq(access(p, F_OK), 0);
    path_in(p, sizeof p, "d/keep/a.o");
    cr_expect_neq(access(p, F_OK), 0);
    path_in(p, sizeof p, "d/top.o");
    cr_expect_neq(access(p, F_OK), 0);
    path_in(p, sizeof p, "d/cache");
    cr_expect_neq(access(p, F_OK), 0);
    path_in(d, sizeof d, "d2");
    mtcp_run_in(dir, NULL, &r, "--exclude", "keep/*.c", s, d);
    path_in(p, sizeof p, "d2/keep/a.c");
    cr_expect_neq(access(p, F_OK), 0);
    path_in(p, sizeof p, "d2/keep/a.o");
    cr_expect_eq(access(p, F_OK), 0);
}

MTCP_TEST(no_preserve_mode_and_timestamps)
{
    char s[512], d[512];
    file("f", 10, 1);
    path_in(s, sizeof s, "f");
    chmod(s, 0754);
    set_mtime("f", 1000, 0);
    path_in(d, sizeof d, "g");
    mtcp_run_in(dir, NULL, &r, "--no-preserve=mode,timestamps", s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    struct stat st;
    cr_assert_eq(stat(d, &st), 0);
    cr_expect_neq(st.st_mtim.tv_sec, 1000);
    mode_t um = umask(0);
    umask(um);
    cr_expect_eq(st.st_mode & 0777, 0754 & ~um);
}

MTCP_TEST(verify_and_resume)
{
    char s[512], d[512], p[512];
    mk("s", 0755);
    file("s/a", 300000, 1);
    file("s/b", 200, 2);
    mk("out", 0755);
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "out");
    mtcp_run_in(dir, NULL, &r, "--verify", s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    char copy[512];
    path_in(copy, sizeof copy, "out/s");
    expect_same_tree(s, copy, true);
    /* change d/a's bytes but not its size and mtime: --resume keeps it */
    path_in(p, sizeof p, "out/s/a");
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    int fd = open(p, O_WRONLY);
    cr_assert_eq(pwrite(fd, "XYZ", 3, 0), 3);
    close(fd);
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    utimensat(AT_FDCWD, p, ts, 0);
    file("s/b", 300, 3); /* b changed: copied again */
    mtcp_run_in(dir, NULL, &r, "--resume", "-v", s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    char buf[4] = "";
    fd = open(p, O_RDONLY);
    cr_assert_eq(read(fd, buf, 3), 3);
    close(fd);
    cr_expect_str_eq(buf, "XYZ", "a complete file was copied again");
    char sb[512], db[512];
    path_in(sb, sizeof sb, "s/b");
    path_in(db, sizeof db, "out/s/b");
    cr_expect(same_bytes(sb, db));
    cr_expect(strstr(r.err, "1 skipped"), "%s", r.err);
}

MTCP_TEST(big_file_in_ranges_by_several_workers)
{
    char s[512], d[512];
    /* 130 MiB: three ranges, and holes at both ends made of real data */
    file("big", (size_t)130 << 20, 5);
    path_in(s, sizeof s, "big");
    path_in(d, sizeof d, "big.copy");
    mtcp_run_in(dir, NULL, &r, "-j", "3", "--verify", s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(same_bytes(s, d));
    cr_expect_eq(temporaries(dir), 0);
    struct stat st;
    cr_assert_eq(stat(d, &st), 0);
    cr_expect_eq(st.st_size, (off_t)130 << 20);
}

/* Read the JSON lines: each an object, "done" never going back, and an
 * "end" event with done == total. */
MTCP_TEST(json_progress_counts_never_go_back)
{
    char s[512], d[512];
    mk("s", 0755);
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "s/f%d", i);
        file(name, 50000, (unsigned)i);
    }
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "d");
    mtcp_run_in(dir, NULL, &r, "--progress=json", "--bwlimit", "1500K", s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    long long last = -1, done = -1, total = -2;
    int events = 0, ends = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        cr_expect_eq(line[0], '{', "not JSON: %s", line);
        cr_expect_eq(line[strlen(line) - 1], '}', "not JSON: %s", line);
        char *p = strstr(line, "\"done\":");
        if (strstr(line, "\"event\":\"progress\"") || strstr(line, "\"event\":\"end\"")) {
            cr_assert_not_null(p);
            done = atoll(p + 7);
            cr_expect_geq(done, last, "done went back: %lld after %lld", done, last);
            last = done;
            total = atoll(strstr(line, "\"total\":") + 8);
            cr_expect_leq(done, total);
            events++;
            ends += strstr(line, "\"event\":\"end\"") != NULL;
        }
    }
    cr_expect_geq(events, 2, "a progress event and the end");
    cr_expect_eq(ends, 1);
    cr_expect_eq(done, total);
    cr_expect_eq(total, 40 * 50000);
}

MTCP_TEST(plain_progress_lines)
{
    char s[512], d[512];
    file("f", 300000, 1);
    path_in(s, sizeof s, "f");
    path_in(d, sizeof d, "g");
    mtcp_run_in(dir, NULL, &r, "--progress=plain", s, d);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.err, "mtcp: 100%"), "%s", r.err);
    cr_expect(strstr(r.err, "1/1 files"), "%s", r.err);
    cr_expect_str_eq(r.out, "");
}

/* --resume over a complete copy with hard links: nothing to do, and no
 * temporary name left behind (renaming a name onto another name of the same
 * file does nothing). */
MTCP_TEST(resume_keeps_hard_links_without_leftovers)
{
    char s[512], d[512], p[512], q[512];
    mk("s", 0755);
    file("s/one", 1000, 1);
    hard_link("s/one", "s/two");
    hard_link("s/one", "s/three");
    mk("out", 0755);
    path_in(s, sizeof s, "s");
    path_in(d, sizeof d, "out");
    mtcp_run_in(dir, NULL, &r, s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    mtcp_run_in(dir, NULL, &r, "--resume", s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(temporaries(d), 0, "--resume left temporary names");
    struct stat a, b;
    path_in(p, sizeof p, "out/s/one");
    path_in(q, sizeof q, "out/s/three");
    cr_assert_eq(stat(p, &a), 0);
    cr_assert_eq(stat(q, &b), 0);
    cr_expect_eq(a.st_ino, b.st_ino);
    cr_expect_eq(a.st_nlink, 3);
}

/* --resume compares a symlink with the one at its destination name, not
 * with one that happens to carry the source's name there. */
MTCP_TEST(resume_checks_a_renamed_symlink_under_its_new_name)
{
    char s[512], d[512], p[512];
    mk("out", 0755);
    path_in(s, sizeof s, "lnk");
    cr_assert_eq(symlink("target", s), 0);
    path_in(p, sizeof p, "out/lnk");
    cr_assert_eq(symlink("target", p), 0);
    path_in(d, sizeof d, "out/newname");
    mtcp_run_in(dir, NULL, &r, "--resume", s, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    char buf[64] = "";
    cr_expect_eq(readlink(d, buf, sizeof buf - 1), 6, "out/newname was not made");
    cr_expect_str_eq(buf, "target");
}

/* Occurrences of needle in haystack. */
static int count_of(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* The same SOURCE four times is copied once, with one warning, as cp does
 * (two workers shared one temporary name: one removed the other's live
 * file, a hard link was lost, and the run failed). */
MTCP_TEST(the_same_source_twice_is_copied_once)
{
    char a[512], dot_a[600], d[512], copy[600];
    mk("a", 0755);
    for (int i = 0; i < 40; i++) {
        char name[32], other[32];
        snprintf(name, sizeof name, "a/f%02d", i);
        file(name, 20000, (unsigned)i);
        if (i % 4 == 0) {
            snprintf(other, sizeof other, "a/l%02d", i);
            hard_link(name, other);
        }
    }
    mk("dst", 0755);
    path_in(a, sizeof a, "a");
    snprintf(dot_a, sizeof dot_a, "%s/../%s/a/", dir, strrchr(dir, '/') + 1);
    path_in(d, sizeof d, "dst");
    mtcp_run_in(dir, NULL, &r, "-j", "8", a, a, dot_a, a, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(count_of(r.err, "specified more than once"), 1, "%s", r.err);
    cr_expect(strstr(r.err, "mtcp: warning: source directory '"), "%s", r.err);
    snprintf(copy, sizeof copy, "%s/a", d);
    expect_same_tree(a, copy, true);
    cr_expect_eq(temporaries(d), 0);
}

/* Different SOURCEs with one destination name go one after the other:
 * directories merge, the later one's files winning; a file does not replace
 * the one an earlier SOURCE just made (as cp). */
MTCP_TEST(sources_with_one_destination_name_go_in_turn)
{
    char x[512], y[512], d[512], p[512], q[512];
    mk("x", 0755);
    mk("y", 0755);
    mk("x/d", 0755);
    mk("y/d", 0755);
    file("x/d/one", 100, 1);
    file("y/d/two", 100, 2);
    file("x/d/both", 300000, 3);
    file("y/d/both", 300000, 4);
    file("x/f", 10, 5);
    file("y/f", 10, 6);
    mk("dst", 0755);
    path_in(x, sizeof x, "x/d");
    path_in(y, sizeof y, "y/d");
    path_in(d, sizeof d, "dst");
    mtcp_run_in(dir, NULL, &r, "-j", "4", x, y, d);
    cr_expect_eq(r.status, 0, "%s", r.err);
    path_in(p, sizeof p, "y/d/both");
    path_in(q, sizeof q, "dst/d/both");
    cr_expect(same_bytes(p, q), "the later SOURCE's file did not win");
    path_in(q, sizeof q, "dst/d/one");
    cr_expect_eq(access(q, F_OK), 0);
    path_in(q, sizeof q, "dst/d/two");
    cr_expect_eq(access(q, F_OK), 0);
    cr_expect_eq(temporaries(d), 0);

    path_in(x, sizeof x, "x/f");
    path_in(y, sizeof y, "y/f");
    mtcp_run_in(dir, NULL, &r, x, y, d);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "will not overwrite just-created '") && strstr(r.err, "y/f'"), "%s",
              r.err);
    path_in(q, sizeof q, "dst/f");
    cr_expect(same_bytes(x, q));
}
