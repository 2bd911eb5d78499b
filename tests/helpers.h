/*
 * helpers.h - what every test file shares: proving that a test left nothing
 * behind (no fd, no child process, no zombie, no shared-memory file), and
 * small conveniences for tasks.
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
#include <signal.h>
#include <stdio.h>
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
    while ((e = readdir(d)))
        n += e->d_name[0] != '.' && strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n - (strcmp(path, "/proc/self/fd") == 0); /* opendir's own fd */
}

/* Everything multitask puts in /dev/shm is named "multitask-..."; other
 * programs' files there are none of our business. */
#define SHM_PREFIX "multitask"


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
static int leak_shm_before = -1;

static inline void leak_check_begin(void)
{
    leak_fds_before = count_dir("/proc/self/fd", "");
    leak_shm_before = count_dir("/dev/shm", SHM_PREFIX);
}

static inline void leak_check_end(void)
{
    cr_expect_eq(count_dir("/proc/self/fd", ""), leak_fds_before, "file descriptors leaked");
    cr_expect_eq(count_children(), 0, "child processes left behind");
    /* Tests running beside this one may make theirs: only growth counts. */
    cr_expect_leq(count_dir("/dev/shm", SHM_PREFIX), leak_shm_before,
                  "shared-memory files left behind");
}

#define LEAK_TEST(suite, name, ...)                                                                \
    static void leak_body_##suite##_##name(void);                                                  \
    Test(suite, name, .init = leak_check_begin, ##__VA_ARGS__)                                     \
    {                                                                                              \
        leak_body_##suite##_##name();                                                              \
        leak_check_end();                                                                          \
    }                                                                                              \
    static void leak_body_##suite##_##name(void)

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

#endif
