/*
 * mtcp_helpers.h - what the mtcp tests share: running the built tool (its
 * path comes from $MT_MTCP, set in tests/meson.build) with its output
 * captured, as another user or under a file size limit when asked; making
 * trees of real files in temporary directories; comparing two trees
 * property by property; and removing them.
 */
#ifndef MT_MTCP_HELPERS_H
#define MT_MTCP_HELPERS_H

#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "helpers.h"

#define NOBODY 65534

typedef struct run_opts {
    uid_t uid;          /* run as this user (0: as we are) */
    long fsize;         /* RLIMIT_FSIZE in bytes (0: none) */
    bool no_wait;       /* mtcp_start: return the pid at once */
    bool traced;        /* mtcp_start: stopped for ptrace before exec */
} run_opts;

typedef struct run_result {
    int status;       /* exit code, or 128 + signal */
    char out[65536];  /* stdout */
    char err[65536];  /* stderr */
} run_result;

static inline const char *mtcp_path_exe(void)
{
    const char *p = getenv("MT_MTCP");
    cr_assert(p && p[0], "MT_MTCP is not set: run the tests through meson");
    return p;
}

/* Read a whole small file into buf (size cap), NUL-terminated. */
static inline void slurp(const char *path, char *buf, size_t cap)
{
    (void)slurp_file(path, buf, cap);
}

/* Start mtcp with argv (argv[0] is replaced by the tool's path); its
 * stdout and stderr go to files under dir. Returns the pid. */
static inline pid_t mtcp_start(const char *dir, const run_opts *o, char **argv)
{
    char out[512], err[512];
    snprintf(out, sizeof out, "%s/.out", dir);
    snprintf(err, sizeof err, "%s/.err", dir);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        dup2(fo, 1);
        dup2(fe, 2);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        if (o && o->fsize) {
            struct rlimit rl = {(rlim_t)o->fsize, (rlim_t)o->fsize};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        if (o && o->uid && (setgid(o->uid) < 0 || setuid(o->uid) < 0))
            _exit(99);
        if (o && o->traced && (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0 || raise(SIGSTOP) < 0))
            _exit(97);
        argv[0] = (char *)mtcp_path_exe();
        execv(argv[0], argv);
        _exit(98);
    }
    return pid;
}

/* What mtcp wrote, into r. */
static inline void mtcp_read_output(const char *dir, run_result *r)
{
    char path[512];
    snprintf(path, sizeof path, "%s/.out", dir);
    slurp(path, r->out, sizeof r->out);
    unlink(path);
    snprintf(path, sizeof path, "%s/.err", dir);
    slurp(path, r->err, sizeof r->err);
    unlink(path);
}

/* Wait for pid and collect what it wrote into r. */
static inline void mtcp_collect(const char *dir, pid_t pid, run_result *r)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    mtcp_read_output(dir, r);
}

/* Run mtcp to the end: run(dir, &opts, &result, "--flag", "src", "dst", NULL). */
#define mtcp_run_in(dir, opts, r, ...)                                                             \
    do {                                                                                           \
        char *argv_[] = {"mtcp", __VA_ARGS__, NULL};                                               \
        mtcp_collect((dir), mtcp_start((dir), (opts), argv_), (r));                               \
    } while (0)

/* Called in the test each time a thread of a traced mtcp returns from
 * system call nr with ret: it may change the files around it (a hostile
 * neighbour, at an exact point). It returns true once its work is done;
 * mtcp then runs on untraced. */
typedef bool syscall_hook(long nr, long ret, void *ctx);

/* The system call a thread of the traced mtcp is in. */
typedef struct traced_thread {
    pid_t tid;
    long nr;
} traced_thread;

/* Run mtcp (argv as for mtcp_start) under ptrace, calling hook at every
 * system call exit of any of its threads until it returns true. */
static inline void mtcp_run_traced(const char *dir, char **argv, syscall_hook *hook, void *ctx,
                                   run_result *r)
{
    run_opts o = {.traced = true};
    pid_t pid = mtcp_start(dir, &o, argv);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 97)
        cr_skip_test("ptrace is not allowed here");
    cr_assert(WIFSTOPPED(st), "mtcp did not stop for tracing");
    cr_assert_eq(ptrace(PTRACE_SETOPTIONS, pid, NULL,
                        (void *)(long)(PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE |
                                       PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL)),
                 0);
    cr_assert_eq(ptrace(PTRACE_SYSCALL, pid, NULL, NULL), 0);
    traced_thread threads[512] = {{0, 0}};
    bool done = false;
    for (;;) {
        pid_t t = waitpid(-1, &st, __WALL);
        if (t < 0)
            break;
        if (WIFEXITED(st) || WIFSIGNALED(st)) {
            if (t == pid) {
                r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                break;
            }
            continue;
        }
        int sig = WSTOPSIG(st), deliver = 0;
        if (sig == (SIGTRAP | 0x80) && !done) {
            traced_thread *th = NULL;
            for (size_t i = 0; i < sizeof threads / sizeof threads[0] && !th; i++)
                if (threads[i].tid == t || threads[i].tid == 0)
                    th = &threads[i];
            struct __ptrace_syscall_info info;
            if (th && ptrace(PTRACE_GET_SYSCALL_INFO, t, (void *)sizeof info, &info) > 0) {
                th->tid = t;
                if (info.op == PTRACE_SYSCALL_INFO_ENTRY)
                    th->nr = (long)info.entry.nr;
                else if (info.op == PTRACE_SYSCALL_INFO_EXIT)
                    done = hook(th->nr, (long)info.exit.rval, ctx);
            }
        } else if (sig != SIGTRAP && sig != (SIGTRAP | 0x80) && sig != SIGSTOP) {
            deliver = sig; /* a real signal; SIGSTOP starts a new thread */
        }
        ptrace(done ? PTRACE_DETACH : PTRACE_SYSCALL, t, NULL, (void *)(long)deliver);
    }
    mtcp_read_output(dir, r);
}

/* A fresh temporary directory, world-readable so that "nobody" can read
 * what the tests put there. */
static inline void make_tmpdir(char *out, size_t size)
{
    snprintf(out, size, "/tmp/mtcp-test-XXXXXX");
    cr_assert_not_null(mkdtemp(out));
    chmod(out, 0755);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        chmod(path, 0700);
    return remove(path) < 0 && errno != ENOENT ? 0 : 0;
}

static inline void rm_tree(const char *path)
{
    /* Directories first made writable (some tests make them read-only). */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' 2>/dev/null", path);
    if (system(cmd) != 0)
        (void)0;
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    /* a tree deeper than PATH_MAX is beyond nftw's paths */
    if (access(path, F_OK) == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", path);
        if (system(cmd) != 0)
            (void)0;
    }
}

/* Write `size` bytes that depend on `seed` (not zeros) to path. */
static inline void write_file(const char *path, size_t size, unsigned seed)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert_geq(fd, 0, "cannot create %s: %s", path, strerror(errno));
    static char block[1 << 16];
    unsigned x = seed * 2654435761u + 1;
    for (size_t i = 0; i < sizeof block; i++) {
        x = x * 1103515245u + 12345u;
        block[i] = (char)(x >> 16);
    }
    for (size_t off = 0; off < size;) {
        size_t n = size - off < sizeof block ? size - off : sizeof block;
        block[0] = (char)(off >> 16); /* no two blocks alike */
        cr_assert_eq(write(fd, block, n), (ssize_t)n);
        off += n;
    }
    close(fd);
}

/* Whether two regular files have the same bytes. */
static inline bool same_bytes(const char *a, const char *b)
{
    int fa = open(a, O_RDONLY | O_CLOEXEC), fb = open(b, O_RDONLY | O_CLOEXEC);
    bool same = fa >= 0 && fb >= 0;
    static char ba[1 << 16], bb[1 << 16];
    while (same) {
        ssize_t na = read(fa, ba, sizeof ba), nb = read(fb, bb, sizeof bb);
        if (na != nb || na < 0 || memcmp(ba, bb, (size_t)na) != 0)
            same = false;
        if (na <= 0)
            break;
    }
    if (fa >= 0)
        close(fa);
    if (fb >= 0)
        close(fb);
    return same;
}

/* The mark of an unfinished copy, in the copy's top directory. */
#define MTCP_MARK ".mtcp-unfinished"

/* Entries whose name starts with ".mtcp-" anywhere under path, but for the
 * mark of an unfinished copy. */
static int tmp_count;
static int count_tmp(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    tmp_count += strncmp(path + ftw->base, ".mtcp-", 6) == 0 &&
                 strcmp(path + ftw->base, MTCP_MARK) != 0;
    return 0;
}

static inline int temporaries(const char *path)
{
    tmp_count = 0;
    nftw(path, count_tmp, 16, FTW_PHYS);
    return tmp_count;
}

/* Entries of a directory, dot files included. */
static inline int count_entries(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Compare the trees a and b entry by entry: type, mode, owner, size,
 * bytes, symlink target, device number, mtime (nanoseconds), xattrs, and
 * which names share an inode. Fails the test at the first difference. */
static inline void expect_same_tree(const char *a, const char *b, bool times)
{
    struct stat sa, sb;
    cr_assert_eq(lstat(a, &sa), 0, "%s: %s", a, strerror(errno));
    cr_assert_eq(lstat(b, &sb), 0, "missing in the copy: %s", b);
    cr_expect_eq(sa.st_mode, sb.st_mode, "mode of %s: %o vs %o", b, sa.st_mode, sb.st_mode);
    cr_expect_eq(sa.st_uid, sb.st_uid, "owner of %s", b);
    cr_expect_eq(sa.st_gid, sb.st_gid, "group of %s", b);
    if (times && !S_ISLNK(sa.st_mode)) {
        cr_expect_eq(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec, "mtime of %s", b);
        cr_expect_eq(sa.st_mtim.tv_nsec, sb.st_mtim.tv_nsec, "mtime ns of %s", b);
    }
    if (S_ISREG(sa.st_mode)) {
        cr_expect_eq(sa.st_size, sb.st_size, "size of %s", b);
        cr_expect(same_bytes(a, b), "bytes of %s", b);
        cr_expect_eq(sa.st_nlink, sb.st_nlink, "links of %s", b);
        char la[4096], lb[4096];
        ssize_t na = listxattr(a, la, sizeof la), nb = listxattr(b, lb, sizeof lb);
        cr_expect_eq(na, nb, "xattrs of %s", b);
        if (na > 0 && na == nb)
            cr_expect_eq(memcmp(la, lb, (size_t)na), 0, "xattr names of %s", b);
    } else if (S_ISLNK(sa.st_mode)) {
        char ta[4096] = "", tb[4096] = "";
        cr_expect_eq(readlink(a, ta, sizeof ta - 1), readlink(b, tb, sizeof tb - 1));
        cr_expect_str_eq(ta, tb, "target of %s", b);
    } else if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) {
        cr_expect_eq(sa.st_rdev, sb.st_rdev, "device number of %s", b);
    } else if (S_ISDIR(sa.st_mode)) {
        DIR *d = opendir(a);
        cr_assert_not_null(d);
        struct dirent *e;
        int n = 0;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char ca[4096], cb[4096];
            snprintf(ca, sizeof ca, "%s/%s", a, e->d_name);
            snprintf(cb, sizeof cb, "%s/%s", b, e->d_name);
            expect_same_tree(ca, cb, times);
            n++;
        }
        closedir(d);
        cr_expect_eq(count_entries(b), n, "entries of %s", b);
        if (times) { /* after the children: reading them changed nothing */
            cr_expect_eq(sa.st_mtim.tv_nsec, sb.st_mtim.tv_nsec, "dir mtime of %s", b);
        }
    }
}

#endif
