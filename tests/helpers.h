/*
 * helpers.h - what every test file shares: proving that a test left nothing
 * behind (no fd, no child process, no zombie, no shared-memory file of its
 * own), and small conveniences for tasks.
 *
 *   LEAK_TEST(pool, something, .timeout = 30) { ... }
 *
 * is a Criterion Test whose body is followed by the checks. (Criterion does
 * not count failed expectations made in a .fini function, so the checks run
 * inside the test.) Criterion runs each test in its own process with a
 * timeout, so the counts are per test.
 */
#ifndef MT_TEST_HELPERS_H
#define MT_TEST_HELPERS_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "multitask.h"

/* Entries of a directory whose names start with prefix ("" for all). */
static inline int count_dir(const char *path, const char *prefix)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    /* Criterion keeps a "bxfi_<pid>" file in /dev/shm for each running
     * test, another test's too when they run in parallel: not ours. */
    while ((e = readdir(d)))
        n += e->d_name[0] != '.' && strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n - (strcmp(path, "/proc/self/fd") == 0); /* opendir's own fd */
}

/* Everything multitask puts in /dev/shm is named "mt-..." (".mt-..." while
 * a shared object is being made); other programs' files there are none of
 * our business. */
#define SHM_PREFIX "mt-"

/*
 * Shared-memory names of this test's own. Other multitask programs (another
 * test run among them) may make and remove names in /dev/shm meanwhile, so
 * the leak check counts only a name that is new since the test began and
 * that this test made:
 *   - named objects carry the test's pid: name them with test_shm_name;
 *   - a shared dict or list names its creator in its marker file: this
 *     process, a live descendant of it, or a child handed to
 *     leak_check_adopt (a child that made objects may be gone by the end).
 */
static inline void test_shm_name(char *out, size_t size, const char *what)
{
    snprintf(out, size, "test-%s-%d", what, (int)getpid());
}

#define LEAK_MAX_ADOPTED 64
static pid_t leak_adopted[LEAK_MAX_ADOPTED];
static int leak_nadopted;

/* Count objects that child `pid` makes as this test's. */
static inline void leak_check_adopt(pid_t pid)
{
    if (pid > 0 && leak_nadopted < LEAK_MAX_ADOPTED)
        leak_adopted[leak_nadopted++] = pid;
}

/* Whether pid is this process or one of its live descendants, or adopted. */
static inline int pid_is_ours(pid_t pid)
{
    for (int i = 0; i < leak_nadopted; i++)
        if (leak_adopted[i] == pid)
            return 1;
    for (int depth = 0; pid > 1 && depth < 64; depth++) {
        if (pid == getpid())
            return 1;
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "re");
        int ppid = 0;
        int ok = f && fscanf(f, "%*d (%*[^)]) %*c %d", &ppid) == 1;
        if (f)
            fclose(f);
        if (!ok)
            return 0;
        pid = ppid;
    }
    return 0;
}

/* Whether /dev/shm entry `name` is this test's: see above. */
static inline int shm_name_is_ours(const char *name)
{
    char tag[32], path[512], text[128] = {0};
    int n = snprintf(tag, sizeof tag, "-%d", (int)getpid());
    for (const char *p = name; (p = strstr(p, tag)); p++)
        if (p[n] == '\0' || p[n] == '-')
            return 1;
    snprintf(path, sizeof path, "/dev/shm/%s/multitask-object", name);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    const char *creator = strstr(text, "\ncreator pid ");
    return creator && pid_is_ours((pid_t)atoi(creator + strlen("\ncreator pid ")));
}

static inline int shm_name_is_multitask(const char *name)
{
    return strncmp(name, SHM_PREFIX, 3) == 0 || strncmp(name, "." SHM_PREFIX, 4) == 0;
}

/* The multitask names in /dev/shm when the test began, sorted. */
static char **leak_shm_names;
static size_t leak_shm_count;

static int leak_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static inline void shm_snapshot(void)
{
    /* A second snapshot in one process starts afresh. */
    for (size_t i = 0; i < leak_shm_count; i++)
        free(leak_shm_names[i]);
    free(leak_shm_names);
    leak_shm_names = NULL;
    leak_shm_count = 0;
    size_t cap = 0;
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!shm_name_is_multitask(e->d_name))
            continue;
        if (leak_shm_count == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(leak_shm_names, cap * sizeof *leak_shm_names);
            cr_assert(grown, "no memory for the /dev/shm snapshot");
            leak_shm_names = grown;
        }
        char *name = strdup(e->d_name);
        cr_assert(name, "no memory for the /dev/shm snapshot");
        leak_shm_names[leak_shm_count++] = name;
    }
    if (d)
        closedir(d);
    if (leak_shm_count)
        qsort(leak_shm_names, leak_shm_count, sizeof *leak_shm_names, leak_name_cmp);
}

/* The names this test made since it began and left in /dev/shm, one per
 * line into out (if not NULL); how many. */
static inline int shm_new_names(char *out, size_t size)
{
    int n = 0;
    size_t used = 0;
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    if (out && size)
        out[0] = '\0';
    while (d && (e = readdir(d))) {
        const char *name = e->d_name;
        if (!shm_name_is_multitask(name) ||
            (leak_shm_count && bsearch(&name, leak_shm_names, leak_shm_count,
                                       sizeof *leak_shm_names, leak_name_cmp)) ||
            !shm_name_is_ours(name))
            continue;
        n++;
        if (out && used < size)
            used += (size_t)snprintf(out + used, size - used, "  /dev/shm/%s\n", name);
    }
    if (d)
        closedir(d);
    return n;
}


/* Children of this process that are alive or zombies, from /proc. */
static inline int count_children(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)getpid());
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char cpath[600], buf[4096];
        snprintf(cpath, sizeof cpath, "%s/%s/children", path, e->d_name);
        FILE *f = fopen(cpath, "re");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n"))
            n++;
    }
    closedir(d);
    return n;
}

static int leak_fds_before = -1;

static inline void leak_check_begin(void)
{
    leak_fds_before = count_dir("/proc/self/fd", "");
    leak_nadopted = 0;
    shm_snapshot();
}

static inline void leak_check_end(void)
{
    char names[1024];
    cr_expect_eq(count_dir("/proc/self/fd", ""), leak_fds_before, "file descriptors leaked");
    cr_expect_eq(count_children(), 0, "child processes left behind");
    cr_expect_eq(shm_new_names(names, sizeof names), 0, "shared-memory files left behind:\n%s",
                 names);
}

/* A Test whose body runs between begin() (as .init) and end(), inside the
 * test, so that failed expectations in end() count. */
#define CHECKED_TEST(begin, end, suite, name, ...)                                                 \
    static void checked_body_##suite##_##name(void);                                               \
    Test(suite, name, .init = begin, ##__VA_ARGS__)                                                \
    {                                                                                              \
        checked_body_##suite##_##name();                                                           \
        end();                                                                                     \
    }                                                                                              \
    static void checked_body_##suite##_##name(void)

#define LEAK_TEST(suite, name, ...)                                                                \
    CHECKED_TEST(leak_check_begin, leak_check_end, suite, name, ##__VA_ARGS__)

/* Whether a process with this pid exists (zombies count as gone). */
static inline int pid_alive(pid_t pid)
{
    char path[64], state = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int ok = fscanf(f, "%*d (%*[^)]) %c", &state) == 1;
    fclose(f);
    return ok && state != 'Z' && state != 'X';
}

static inline long read_long(const void *p)
{
    long v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Read a whole small file into buf (size cap), NUL-terminated; its length,
 * or -1 when it cannot be opened. */
static inline long slurp_file(const char *path, char *buf, size_t cap)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = 0;
    ssize_t n;
    while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fd);
    return (long)len;
}

#endif
