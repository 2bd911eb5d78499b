/*
 * queue_users.c - who uses a queue, and who is dead.
 *
 * Each handle registers its process in the segment's users table as one
 * word: the pid and the process's start time (from /proc). The table serves
 * twice. A slot records only its owner's pid; the start time tells a dead
 * owner from a new process that got the same pid (pid_max is 32768 on many
 * systems, so pids come round again). And a named queue is removed when no
 * live process is left in the table.
 *
 * The pid itself is cached in a global that a pthread_atfork handler keeps
 * current, so that the hot paths never make a system call for it; a handle
 * notices that it was inherited across fork by comparing its pid with it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_internal.h"

static _Atomic uint32_t self_pid;
static _Atomic uint64_t self_start; /* 0 until read */
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void after_fork(void)
{
    atomic_store_explicit(&self_pid, (uint32_t)getpid(), memory_order_relaxed);
    atomic_store_explicit(&self_start, 0, memory_order_relaxed);
}

static void self_init(void)
{
    pthread_atfork(NULL, NULL, after_fork);
    atomic_store_explicit(&self_pid, (uint32_t)getpid(), memory_order_relaxed);
}

uint32_t mt__queue_self(void)
{
    uint32_t pid = atomic_load_explicit(&self_pid, memory_order_relaxed);
    if (pid)
        return pid;
    pthread_once(&self_once, self_init);
    return atomic_load_explicit(&self_pid, memory_order_relaxed);
}

/*
 * Read /proc/<pid>/stat: the state letter and the start time in clock ticks
 * since boot. Returns 0, or -1 when there is no such process (or no /proc).
 */
static int proc_stat(uint32_t pid, char *state, uint64_t *start)
{
    char path[40], buf[1024];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* "pid (comm) S ..." where comm may hold anything: go by the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2])
        return -1;
    *state = p[2];
    p += 2;
    for (int field = 3; field < 22; field++) { /* starttime is field 22 */
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    *start = strtoull(p, NULL, 10);
    return 0;
}

static uint64_t self_start_time(void)
{
    uint64_t start = atomic_load_explicit(&self_start, memory_order_relaxed);
    char state;
    if (!start && proc_stat(mt__queue_self(), &state, &start) == 0)
        atomic_store_explicit(&self_start, start, memory_order_relaxed);
    return start;
}

/*
 * A process whose /proc state reads 'Z' may still run: the state is its main
 * thread's, which can end with pthread_exit() while other threads go on
 * using the queue. It is gone only when no other thread is left.
 */
static bool zombie_gone(uint32_t pid)
{
    char path[40];
    snprintf(path, sizeof path, "/proc/%u/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return true;
    bool others = false;
    struct dirent *e;
    while (!others && (e = readdir(d)))
        others = e->d_name[0] != '.' && strtoul(e->d_name, NULL, 10) != pid;
    closedir(d);
    return !others;
}

static bool state_gone(uint32_t pid, char state)
{
    return state == 'X' || (state == 'Z' && zombie_gone(pid));
}

/* Whether the process that made users-table entry u is gone. */
static bool entry_dead(uint64_t u)
{
    uint32_t pid = (uint32_t)(u & ST_PID_MASK);
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return true;
    char state;
    uint64_t start;
    if (proc_stat(pid, &state, &start) < 0)
        return kill((pid_t)pid, 0) < 0 && errno == ESRCH; /* gone meanwhile, or no /proc */
    return state_gone(pid, state) || (u >> 22 && u >> 22 != start);
}

bool mt__queue_pid_dead(const mt_queue *q, uint32_t pid)
{
    if (pid == 0 || pid == mt__queue_self())
        return false;
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return true;
    char state;
    uint64_t start;
    if (proc_stat(pid, &state, &start) < 0)
        return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
    if (state_gone(pid, state))
        return true;
    /* Alive under that pid. It is the slot's owner unless the table lists
     * the pid only with other start times: then the owner died and an
     * unrelated process got its pid. (A user always clears stale entries of
     * its own pid before it takes any slot, see mt__queue_users_add.) */
    bool listed = false;
    for (unsigned i = 0; i < Q_USERS; i++) {
        uint64_t u = atomic_load_explicit(&q->h->users[i], memory_order_seq_cst);
        if (!u || (u & ST_PID_MASK) != pid)
            continue;
        if (u >> 22 == start || !(u >> 22))
            return false;
        listed = true;
    }
    return listed;
}

/*
 * Forget users-table entry i (u), of a dead process, after freeing the slots
 * it held: once the entry is gone its pid could be taken by a process that
 * the table does not know, and those slots could no longer be told dead.
 * Should a live user of the queue hold that pid already, its slots and the
 * dead one's cannot be told apart: leave them to the sweeps.
 */
static void forget_dead(mt_queue *q, unsigned i, uint64_t u)
{
    uint32_t pid = (uint32_t)(u & ST_PID_MASK);
    bool pid_in_use = false;
    for (unsigned j = 0; j < Q_USERS && !pid_in_use; j++) {
        uint64_t v = atomic_load_explicit(&q->h->users[j], memory_order_seq_cst);
        pid_in_use = j != i && v && (v & ST_PID_MASK) == pid && !entry_dead(v);
    }
    if (!pid_in_use)
        mt__ring_repair_pid(q, pid);
    atomic_compare_exchange_strong(&q->h->users[i], &u, 0);
}

int mt__queue_users_add(mt_queue *q)
{
    qhdr *h = q->h;
    uint32_t self = mt__queue_self();
    uint64_t me = user_make(self, self_start_time());
    /* Entries of our pid with another start time belong to a dead earlier
     * holder of the pid; its slots are ours to repair, unless this process
     * holds the queue already through another handle. */
    bool first = true;
    for (unsigned i = 0; i < Q_USERS; i++) {
        uint64_t u = atomic_load_explicit(&h->users[i], memory_order_seq_cst);
        if (u == me)
            first = false;
        else if (u && (u & ST_PID_MASK) == self)
            atomic_compare_exchange_strong(&h->users[i], &u, 0);
    }
    if (first)
        mt__ring_repair_own(q);
    for (int round = 0; round < 2; round++) {
        for (unsigned i = 0; i < Q_USERS; i++) {
            uint64_t u = 0;
            if (atomic_compare_exchange_strong(&h->users[i], &u, me))
                return 0;
        }
        /* Full: drop the entries of dead processes and try once more. */
        for (unsigned i = 0; i < Q_USERS; i++) {
            uint64_t u = atomic_load_explicit(&h->users[i], memory_order_seq_cst);
            if (u && (u & ST_PID_MASK) != self && entry_dead(u))
                forget_dead(q, i, u);
        }
    }
    return -EUSERS;
}

bool mt__queue_users_remove(mt_queue *q)
{
    uint64_t me = user_make(mt__queue_self(), self_start_time());
    bool removed = false, others = false;
    for (unsigned i = 0; i < Q_USERS && !others; i++) {
        uint64_t u = me;
        if (!removed && atomic_compare_exchange_strong(&q->h->users[i], &u, 0))
            removed = true;
        else
            others = atomic_load_explicit(&q->h->users[i], memory_order_seq_cst) == me;
    }
    return others;
}

bool mt__queue_users_live(mt_queue *q)
{
    for (unsigned i = 0; i < Q_USERS; i++) {
        uint64_t u = atomic_load_explicit(&q->h->users[i], memory_order_seq_cst);
        if (!u)
            continue;
        if (!entry_dead(u))
            return true;
        forget_dead(q, i, u);
    }
    return false;
}

void mt__queue_attach_slow(mt_queue *q)
{
    uint32_t self = mt__queue_self();
    /* The lock word holds the attaching process's pid: a lock inherited from
     * a parent that was attaching when it forked has no owner here. */
    for (;;) {
        uint32_t holder = 0;
        if (atomic_compare_exchange_strong(&q->attach_lock, &holder, self))
            break;
        if (holder != self && atomic_compare_exchange_strong(&q->attach_lock, &holder, self))
            break;
        sched_yield();
    }
    if (atomic_load_explicit(&q->pid, memory_order_acquire) != self) {
        /* A full table only costs the start-time check for this process. */
        mt__queue_users_add(q);
        atomic_store_explicit(&q->pid, self, memory_order_release);
    }
    atomic_store_explicit(&q->attach_lock, 0, memory_order_release);
}

uint64_t mt__queue_pidns(void)
{
    struct stat st;
    return stat("/proc/self/ns/pid", &st) == 0 ? (uint64_t)st.st_ino : 0;
}
