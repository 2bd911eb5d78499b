/*
 * pool_supervise.c - the workers' supervision: start a worker, reap one
 * that exited and say why, start its replacement, and the supervisor thread
 * that sleeps until a worker posts a result, dies, or another thread pokes
 * it. What a dead worker was running is settled by pool_pump.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../process/process_internal.h"
#include "pool_internal.h"

/* How long the supervisor sleeps at most while work is out. */
#define LOST_WAKEUP_MS 1000

/* Start a worker at position i (fork or spawn). */
static int start_worker(mt_pool *p, uint32_t i)
{
    mt__worker_slot *w = &p->workers[i];
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    bool spawn = p->opts.start_method == MT_START_SPAWN;
    snprintf(w->name, sizeof w->name, "%sPoolWorker-%u", spawn ? "Spawn" : "Fork",
             ++p->worker_serial);
    pid_t pid;
    if (spawn) {
        pid = mt__spawn_worker(p, i, sv[1], w->name);
    } else {
        pid_t parent = getpid();
        pid = mt__fork();
        if (pid == 0) {
            close(sv[0]);
            /* Arguments in flight belong to the parent: holding their files
             * would keep the memory alive as long as this worker lives. */
            for (uint32_t s = 0; s < p->h->nslots; s++)
                if (p->jobs[s].large_fd >= 0)
                    close(p->jobs[s].large_fd);
            mt__set_current_name(w->name);
            mt__die_with_parent(parent);
            mt__worker_ctx ctx = {.h = p->h, .index = i, .efd = p->efd, .sock = sv[1],
                              .parent = parent};
            mt__worker_main(&ctx);
        }
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return pid;
    }
    w->pid = pid;
    w->pidfd = mt__pidfd_open(pid);
    w->sock = sv[0];
    w->alive = true;
    w->ready = false;
    return 0;
}

int mt__pool_alive_workers(const mt_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->nworkers; i++)
        n += p->workers[i].alive;
    return n;
}

/* Whether work waits for a worker: pending, queued in the ring, or still to
 * be fed to a streaming map. */
static bool work_waits(mt_pool *p)
{
    return p->pending || p->batches_fed || p->disp_tail != atomic_load(&p->h->disp_head);
}

void mt__pool_reap(mt_pool *p, uint32_t i, bool block)
{
    mt__worker_slot *w = &p->workers[i];
    mt__shm_header *h = p->h;
    int status;
    if (!w->alive || mt__wait_child(w->pid, w->pidfd, block ? MT__NEVER : mt__deadline_in(0),
                                    &status) != 0)
        return;
    w->alive = false;
    if (w->pidfd >= 0)
        close(w->pidfd);
    w->pidfd = -1;

    /* Results it posted before it died still count. */
    mt__pool_drain_ring(p, i);
    char why[256], how[160];
    uint32_t cut_off = atomic_exchange(&shm_result_ring(h, i)->cut_off, 0);
    if (w->rejected)
        snprintf(how, sizeof how, "wrote a malformed result record and was stopped");
    else if (cut_off && WIFEXITED(status) && WEXITSTATUS(status) == WORKER_EXIT_CUT_OFF)
        snprintf(how, sizeof how,
                 "lost its connection to the pool: a task closed or replaced its file "
                 "descriptor %u, so it left",
                 cut_off - 1);
    else
        mt__describe_exit(status, how, sizeof how);
    w->rejected = false;
    snprintf(why, sizeof why, "worker %d (%s) %s", (int)w->pid, w->name, how);
    mt__pool_recover_slots(p, i, why, !cut_off);
    if (w->sock >= 0)
        close(w->sock);
    w->sock = -1;
    atomic_store(&shm_result_ring(h, i)->sleeping, 0);

    if (p->starting && !p->start_error) { /* mt_pool_new gives up: no replacement */
        p->start_error = MT_EBROKEN;
        mt_buf_reset(&p->broken_msg);
        mt_buf_printf(&p->broken_msg, "%s while starting%c", why, '\0');
    }
    bool wanted = p->state == POOL_RUN || (p->state == POOL_CLOSED && work_waits(p));
    if (p->state != POOL_TERMINATED && !p->broken && !p->start_error && wanted && !p->exiting) {
        int err = start_worker(p, i);
        if (err < 0 && !p->broken) {
            p->broken = MT_EBROKEN;
            mt_buf_reset(&p->broken_msg);
            mt_buf_printf(&p->broken_msg, "cannot start a replacement worker: %s%c",
                          mt_strerror(err), '\0');
        }
    }
    if (p->broken && !mt__pool_alive_workers(p))
        mt__pool_fail_all(p, p->broken, p->broken_msg.data ? p->broken_msg.data : "");
    pthread_cond_broadcast(&p->cond);
}

void mt__pool_poke(mt_pool *p)
{
    uint64_t one = 1;
    (void)!write(p->ctl, &one, sizeof one);
}

/* ---- the supervisor thread ------------------------------------------ */

static void drain_eventfd(int fd)
{
    uint64_t v;
    (void)!read(fd, &v, sizeof v);
}

/* After terminate: SIGKILL whoever is still alive a second later. */
static int escalate(mt_pool *p)
{
    if (p->state != POOL_TERMINATED || !mt__pool_alive_workers(p))
        return -1;
    if (mt__deadline_passed(p->kill_at)) {
        for (int i = 0; i < p->nworkers; i++)
            if (p->workers[i].alive)
                mt__signal_child(p->workers[i].pid, p->workers[i].pidfd, SIGKILL);
        return 100;
    }
    return mt__deadline_poll_ms(p->kill_at);
}

void *mt__pool_supervise(void *arg)
{
    mt_pool *p = arg;
    mt__shm_header *h = p->h;
    struct pollfd *fds = p->pollfds;
    int *who = p->pollwho;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->nworkers && !p->start_error; i++)
        p->start_error = start_worker(p, (uint32_t)i);
    p->supervisor_running = true;
    pthread_cond_broadcast(&p->cond);
    while (!p->exiting) {
        if (mt__pool_pump(p)) {
            /* Let submitters and waiting callers have the lock now and then. */
            mt__pool_unlock(p);
            pthread_mutex_lock(&p->mu);
            continue;
        }
        int nfds = 2, timeout = escalate(p);
        fds[0] = (struct pollfd){.fd = p->efd, .events = POLLIN};
        fds[1] = (struct pollfd){.fd = p->ctl, .events = POLLIN};
        bool polling_pids = true;
        for (int i = 0; i < p->nworkers; i++) {
            if (!p->workers[i].alive)
                continue;
            if (p->workers[i].pidfd < 0)
                polling_pids = false;
            who[nfds] = i;
            fds[nfds++] = (struct pollfd){.fd = p->workers[i].pidfd, .events = POLLIN};
        }
        if (!polling_pids && (timeout < 0 || timeout > 20))
            timeout = 20; /* no pidfds: look for dead workers now and then */
        /* A worker's wake-up can go astray (a task may swap the eventfd for
         * one of its own, which a worker cannot tell apart): while work is
         * out, look at the rings now and then all the same. */
        if (p->nfree < h->nslots && (timeout < 0 || timeout > LOST_WAKEUP_MS))
            timeout = LOST_WAKEUP_MS;
        atomic_store(&h->sup_sleeping, 1);
        if (mt__pool_rings_pending(p)) {
            atomic_store(&h->sup_sleeping, 0);
            continue;
        }
        mt__pool_unlock(p);
        int n = poll(fds, (nfds_t)nfds, timeout);
        pthread_mutex_lock(&p->mu);
        atomic_store(&h->sup_sleeping, 0);
        if (n > 0 && fds[0].revents)
            drain_eventfd(p->efd);
        if (n > 0 && fds[1].revents)
            drain_eventfd(p->ctl);
        for (int k = 2; k < nfds; k++)
            if (fds[k].fd < 0 || fds[k].revents || !polling_pids)
                mt__pool_reap(p, (uint32_t)who[k], false);
    }
    p->supervisor_running = false;
    pthread_cond_broadcast(&p->cond);
    mt__pool_unlock(p);
    return NULL;
}
