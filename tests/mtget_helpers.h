/*
 * mtget_helpers.h - what the mtget tests share: running the built tool
 * (its path comes from $MT_MTGET, set in tests/meson.build) with its
 * output captured, to its end or in the background (to be signalled), and
 * looking at what it left on disk and in the test server's request log.
 */
#ifndef MT_MTGET_HELPERS_H
#define MT_MTGET_HELPERS_H

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#include "helpers.h"
#include "http_server.h"

typedef struct mtget_result {
    int status;      /* exit code, or 128 + signal */
    char out[65536]; /* stdout */
    char err[65536]; /* stderr */
} mtget_result;

/* A scratch directory for one test: files under it, mtget's output in out/. */
typedef struct scratch {
    char dir[64];
    char out[96];
} scratch;

static inline void scratch_new(scratch *s)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/mtget-test-XXXXXX");
    cr_assert(mkdtemp(s->dir), "mkdtemp: %s", strerror(errno));
    snprintf(s->out, sizeof s->out, "%s/out", s->dir);
}

static inline int scratch_rm(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)st, (void)type, (void)f;
    remove(path);
    return 0;
}

static inline void scratch_free(scratch *s)
{
    nftw(s->dir, scratch_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Start mtget with argv (argv[0] replaced by the tool's path), its stdout
 * and stderr into files of dir, stdin from `input` (NULL: /dev/null). */
static inline pid_t mtget_start(const scratch *s, const char *input, char **argv)
{
    const char *exe = getenv("MT_MTGET");
    cr_assert(exe && exe[0], "MT_MTGET is not set: run the tests through meson");
    char out[128], err[128];
    snprintf(out, sizeof out, "%s/stdout", s->dir);
    snprintf(err, sizeof err, "%s/stderr", s->dir);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        int in = open(input ? input : "/dev/null", O_RDONLY);
        dup2(fo, 1);
        dup2(fe, 2);
        dup2(in, 0);
        argv[0] = (char *)exe;
        execv(exe, argv);
        _exit(98);
    }
    return pid;
}

static inline void mtget_wait(const scratch *s, pid_t pid, mtget_result *r)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    char path[128];
    snprintf(path, sizeof path, "%s/stdout", s->dir);
    slurp_file(path, r->out, sizeof r->out);
    snprintf(path, sizeof path, "%s/stderr", s->dir);
    slurp_file(path, r->err, sizeof r->err);
}

/* Run mtget to its end: mtget_run(&s, &r, "-P", dir, url, NULL). */
#define mtget_run(s, r, ...)                                                                       \
    do {                                                                                           \
        char *argv_[] = {"mtget", __VA_ARGS__, NULL};                                              \
        mtget_wait((s), mtget_start((s), NULL, argv_), (r));                                       \
    } while (0)

/* A URL of the test server. */
static inline char *url_of(const test_httpd *h, const char *path)
{
    char *u = NULL;
    cr_assert_geq(asprintf(&u, "http://127.0.0.1:%d%s", h->port, path), 0);
    return u;
}

/* Size of dir/name (no link followed), or -1. */
static inline long long file_size(const char *dir, const char *name)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode) ? (long long)st.st_size : -1;
}

/* Whether dir/name holds exactly len bytes equal to data. */
static inline bool file_is(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *buf = malloc(len + 2);
    cr_assert(buf);
    long n = slurp_file(path, buf, len + 2);
    bool same = n == (long)len && memcmp(buf, data, len) == 0;
    free(buf);
    return same;
}

/* The test server's body pattern: byte i is 'a' + i % 26. */
static inline char *pattern(size_t len)
{
    char *p = malloc(len + 1);
    cr_assert(p);
    for (size_t i = 0; i < len; i++)
        p[i] = (char)('a' + i % 26);
    p[len] = '\0';
    return p;
}

/* Random bytes for a file. */
static inline char *random_bytes(size_t len, unsigned seed)
{
    char *p = malloc(len);
    cr_assert(p);
    srand(seed);
    for (size_t i = 0; i < len; i++)
        p[i] = (char)rand();
    return p;
}

/* Entries of dir, mtget's journal not counted; those named like its
 * temporaries into *tmps. */
static inline int dir_entries(const char *dir, int *tmps)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0, t = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            !strcmp(e->d_name, ".mtget-journal"))
            continue;
        n++;
        t += strncmp(e->d_name, ".mtget-", 7) == 0 && strstr(e->d_name, ".part") != NULL;
    }
    closedir(d);
    if (tmps)
        *tmps = t;
    return n;
}

/* Lines of the server's log that hold `part`. */
static inline int log_lines(const test_httpd *h, const char *part)
{
    FILE *f = fopen(h->log, "re");
    char line[8192];
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, part) != NULL;
    if (f)
        fclose(f);
    return n;
}

/* The count of log_lines, once it has reached `want` (the server writes a
 * line after its response, so after the client may have gone), or after
 * 2 s without reaching it. */
static inline int log_count_is(const test_httpd *h, const char *part, int want)
{
    int n = log_lines(h, part);
    for (int i = 0; i < 200 && n < want; i++) {
        usleep(10000);
        n = log_lines(h, part);
    }
    return n;
}

static inline void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    cr_assert(f, "cannot write '%s'", path);
    fputs(text, f);
    fclose(f);
}

#endif
