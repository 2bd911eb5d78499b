/*
 * cpu_count.c - how many CPUs this process can really use: its affinity
 * mask, lowered to the CPU quota of its cgroup (v2 or v1), as container
 * runtimes set it.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/core_internal.h"
#include "multitask/process.h"

static int affinity_count(void)
{
    for (int ncpus = CPU_SETSIZE; ncpus <= 1 << 20; ncpus *= 2) {
        cpu_set_t *set = CPU_ALLOC(ncpus);
        if (!set)
            break;
        size_t size = CPU_ALLOC_SIZE(ncpus);
        if (sched_getaffinity(0, size, set) == 0) {
            int n = CPU_COUNT_S(size, set);
            CPU_FREE(set);
            return n;
        }
        CPU_FREE(set);
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Read up to two numbers from a one-line file; returns how many were read
 * (a "max" where the first should be counts as none). */
static int read_numbers(const char *path, double *a, double *b)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char word[64];
    int n = 0;
    if (fscanf(f, "%63s", word) == 1 && strcmp(word, "max") != 0) {
        *a = strtod(word, NULL);
        n = 1;
        if (fscanf(f, "%lf", b) == 1)
            n = 2;
    }
    fclose(f);
    return n;
}

/* read_numbers on dir/file; 0 when the path does not fit. */
static int read_at(const char *dir, const char *file, double *a, double *b)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", dir, file);
    return n > 0 && (size_t)n < sizeof path ? read_numbers(path, a, b) : 0;
}

/* The quota of one cgroup directory in CPUs, or +inf if none. */
static double quota_at(const char *dir, bool v2)
{
    double quota, period;
    if (v2) {
        if (read_at(dir, "cpu.max", &quota, &period) == 2 && quota > 0 && period > 0)
            return quota / period;
        return INFINITY;
    }
    if (read_at(dir, "cpu.cfs_quota_us", &quota, &period) < 1 || quota <= 0)
        return INFINITY;
    if (read_at(dir, "cpu.cfs_period_us", &period, &period) < 1 || period <= 0)
        return INFINITY;
    return quota / period;
}

/* The smallest quota on the path from this cgroup up to the mount root. */
static double cgroup_quota(const char *mount, const char *rel, bool v2)
{
    char dir[PATH_MAX];
    double best = INFINITY;
    int n = snprintf(dir, sizeof dir, "%s%s", mount, strcmp(rel, "/") == 0 ? "" : rel);
    if (n < 0 || (size_t)n >= sizeof dir)
        return best;
    for (;;) {
        double q = quota_at(dir, v2);
        if (q < best)
            best = q;
        char *slash = strrchr(dir, '/');
        if (!slash || (size_t)(slash - dir) < strlen(mount))
            break;
        *slash = '\0';
    }
    return best;
}

static double cpu_quota(void)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return INFINITY;
    char line[4096];
    double best = INFINITY;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *ctrl = strchr(line, ':');
        if (!ctrl)
            continue;
        *ctrl++ = '\0';
        char *rel = strchr(ctrl, ':');
        if (!rel)
            continue;
        *rel++ = '\0';
        double q = INFINITY;
        if (strcmp(line, "0") == 0 && *ctrl == '\0')
            q = cgroup_quota("/sys/fs/cgroup", rel, true);
        else if (strstr(ctrl, "cpu") && !strstr(ctrl, "cpuset")) {
            q = cgroup_quota("/sys/fs/cgroup/cpu,cpuacct", rel, false);
            if (isinf(q))
                q = cgroup_quota("/sys/fs/cgroup/cpu", rel, false);
        }
        if (q < best)
            best = q;
    }
    fclose(f);
    return best;
}

int mt_cpu_count(void)
{
    int n = affinity_count();
    double q = cpu_quota();
    if (q < n)
        n = (int)mt__ceil_i64(q);
    return n > 0 ? n : 1;
}
