/*
 * helpers.h - what every test file shares: proving that a test left nothing
 * behind (no fd, no child process, no zombie, no shared-memory file), and
 * small conveniences for tasks.
 *
 *   Test(pool, something, .init = leak_check_begin, .fini = leak_check_end)
 *
 * Criterion runs each test in its own process with a timeout, so the counts
 * are per test.
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

static inline int count_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - (strcmp(path, "/proc/self/fd") == 0); /* opendir's own fd */
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
static int leak_shm_before = -1;

static inline void leak_check_begin(void)
{
    leak_fds_before = count_dir("/proc/self/fd");
    leak_shm_before = count_dir("/dev/shm");
}

static inline void leak_check_end(void)
{
    cr_expect_eq(count_dir("/proc/self/fd"), leak_fds_before, "file descriptors leaked");
    cr_expect_eq(count_children(), 0, "child processes left behind");
    /* Other programs may use /dev/shm too: only growth is suspicious. */
    cr_expect_leq(count_dir("/dev/shm"), leak_shm_before, "shared-memory files left behind");
}

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
