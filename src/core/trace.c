/*
 * trace.c - the trace writer: Chrome trace-event JSON, one event per line,
 * each line one O_APPEND write so that threads and forked pool workers can
 * share the file. MT_TRACE=file.json starts it before main(). The process
 * that started the trace closes the JSON array when it stops the trace or
 * exits normally, so that any JSON reader takes the file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace_internal.h"

atomic_int mt__trace_fd_on;
static _Atomic int trace_fd = -1;
/* Threads between loading trace_fd and finishing their write: stop waits for
 * them before it closes the file, so no line lands in a file that reuses the
 * number. */
static atomic_int trace_writers;
static pthread_mutex_t trace_mu = PTHREAD_MUTEX_INITIALIZER;
/* The process that made the file, which alone closes the array (its forked
 * children and the workers it spawns only append), or 0. */
static pid_t trace_owner;
static pthread_once_t atexit_once = PTHREAD_ONCE_INIT;

/* Every line ends with a comma, so the array ends with one last event, a
 * metadata record that viewers ignore, and then the bracket. */
static void close_array(int fd)
{
    char tail[128];
    int len = snprintf(tail, sizeof tail,
                       "{\"name\":\"trace_end\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"args\":{}}\n]\n",
                       (int)getpid());
    ssize_t w = write(fd, tail, (size_t)len);
    (void)w;
}

/* A normal exit ends the trace as mt_trace_stop does. */
static void stop_at_exit(void)
{
    mt_trace_stop();
}

static void register_stop_at_exit(void)
{
    atexit(stop_at_exit);
}

/* The trace is on, written to fd; `owner`: this process made the file. */
static void trace_on(int fd, bool owner)
{
    trace_fd = fd;
    trace_owner = owner ? getpid() : 0;
    if (owner)
        pthread_once(&atexit_once, register_stop_at_exit);
    atomic_store(&mt__trace_fd_on, 1);
}

static int open_trace(const char *path, bool truncate)
{
    int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0);
    int fd = open(path, flags, 0644);
    if (fd < 0)
        return -errno;
    if (truncate) {
        static const char head[] = "[\n";
        if (write(fd, head, sizeof head - 1) < 0) {
            int err = -errno;
            close(fd);
            return err;
        }
    }
    return fd;
}

int mt_trace_start(const char *path)
{
    if (!path)
        return -EINVAL;
    pthread_mutex_lock(&trace_mu);
    int err = 0;
    if (trace_fd >= 0) {
        err = -EBUSY;
        goto out;
    }
    int fd = open_trace(path, true);
    if (fd < 0) {
        err = fd;
        goto out;
    }
    trace_on(fd, true);
out:
    pthread_mutex_unlock(&trace_mu);
    return err;
}

void mt_trace_stop(void)
{
    pthread_mutex_lock(&trace_mu);
    int fd = atomic_exchange(&trace_fd, -1);
    if (fd >= 0) {
        atomic_store(&mt__trace_fd_on, 0);
        while (atomic_load(&trace_writers))
            sched_yield();
        if (trace_owner == getpid())
            close_array(fd);
        close(fd);
    }
    pthread_mutex_unlock(&trace_mu);
}

bool mt_trace_enabled(void)
{
    return mt__trace_on;
}

/* MT_TRACE=file: start before main(). A program started again by a pool
 * (the spawn start method) finds MT__TRACE_APPEND set and appends. */
__attribute__((constructor)) static void trace_from_env(void)
{
    const char *path = getenv("MT_TRACE");
    if (!path || !*path)
        return;
    bool append = getenv("MT__TRACE_APPEND") != NULL;
    int fd = open_trace(path, !append);
    if (fd < 0)
        return;
    trace_on(fd, !append);
    setenv("MT__TRACE_APPEND", "1", 1);
}

/* JSON-escape s into buf (at most cap - 1 bytes). */
static void escape(char *buf, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", c);
        } else {
            buf[n++] = (char)c;
        }
    }
    buf[n] = '\0';
}

static void emit(const char *line, int len)
{
    atomic_fetch_add(&trace_writers, 1);
    int fd = atomic_load(&trace_fd);
    if (fd >= 0 && len > 0) {
        ssize_t w = write(fd, line, (size_t)len);
        (void)w;
    }
    atomic_fetch_sub(&trace_writers, 1);
}

void mt_trace_slice(const char *name, const char *cat, uint64_t track, uint64_t t0_ns,
                    uint64_t t1_ns)
{
    if (!mt__trace_on)
        return;
    char ename[128], ecat[64], line[400];
    escape(ename, sizeof ename, name ? name : "");
    escape(ecat, sizeof ecat, cat ? cat : "");
    int len = snprintf(line, sizeof line,
                       "{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":%llu,"
                       "\"ts\":%.3f,\"dur\":%.3f},\n",
                       ename, ecat, (int)getpid(), (unsigned long long)track,
                       (double)t0_ns / 1000.0, (double)(t1_ns - t0_ns) / 1000.0);
    emit(line, len < (int)sizeof line ? len : (int)sizeof line - 1);
}

void mt_trace_track_name(uint64_t track, const char *name)
{
    if (!mt__trace_on)
        return;
    char ename[128], line[300];
    escape(ename, sizeof ename, name ? name : "");
    int len = snprintf(line, sizeof line,
                       "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%llu,"
                       "\"args\":{\"name\":\"%s\"}},\n",
                       (int)getpid(), (unsigned long long)track, ename);
    emit(line, len < (int)sizeof line ? len : (int)sizeof line - 1);
}
