/*
 * pool.c - the pool's life cycle: start the workers, close, terminate,
 * join, free. The work itself flows through pool_pump.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../process/process_internal.h"
#include "multitask/process.h"
#include "pool_internal.h"

#define DEFAULT_QUEUE_DEPTH 256
#define MAX_PROCESSES 4096
#define TERMINATE_GRACE 1.0

static int ready_count(mt_pool *p)
{
    int n = 0;
    for (int i = 0; i < p->nworkers; i++)
        n += p->workers[i].alive && p->workers[i].ready;
    return n;
}

static int check_opts(const mt_pool_opts *o)
{
    if (o->processes < 0 || o->processes > MAX_PROCESSES)
        return -EINVAL;
    if (o->start_method != MT_START_FORK && o->start_method != MT_START_SPAWN)
        return -EINVAL;
    if (o->start_method == MT_START_SPAWN && !mt__init_called)
        return -EINVAL;
    if (o->initarg_len && !o->initarg)
        return -EINVAL;
    if (o->queue_depth > 65536)
        return -EINVAL;
    return 0;
}

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t v = 1;
    while (v < n)
        v <<= 1;
    return v;
}

/* Allocate everything but the workers. */
static int pool_alloc(mt_pool *p)
{
    uint32_t nslots = pow2_at_least(p->opts.queue_depth ? p->opts.queue_depth
                                                        : DEFAULT_QUEUE_DEPTH);
    int err = mt__shm_create(&p->h, &p->shm_fd, nslots, (uint32_t)p->nworkers,
                             SLOT_BYTES_DEFAULT, p->opts.initarg_len);
    if (err < 0)
        return err;
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->ctl = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->efd < 0 || p->ctl < 0)
        return -errno;
    p->workers = calloc((size_t)p->nworkers, sizeof *p->workers);
    p->jobs = calloc(nslots, sizeof *p->jobs);
    p->free_slots = calloc(nslots, sizeof *p->free_slots);
    p->pollfds = calloc((size_t)p->nworkers + 2, sizeof *p->pollfds);
    p->pollwho = calloc((size_t)p->nworkers + 2, sizeof *p->pollwho);
    if (!p->workers || !p->jobs || !p->free_slots || !p->pollfds || !p->pollwho)
        return -ENOMEM;
    for (int i = 0; i < p->nworkers; i++)
        p->workers[i] = (mt__worker_slot){.pidfd = -1, .sock = -1};
    for (uint32_t s = 0; s < nslots; s++) {
        p->jobs[s].large_fd = -1;
        p->free_slots[p->nfree++] = nslots - 1 - s; /* hand out slot 0 first */
    }
    mt__shm_header *h = p->h;
    for (int i = 0; i < p->nworkers; i++)
        if ((err = mt__shm_prefault_ring(h, (uint32_t)i)) < 0)
            return err;
    h->maxtasks = p->opts.maxtasksperchild;
    h->parent_pid = (int32_t)getpid();
    h->initializer = (uint64_t)(uintptr_t)p->opts.initializer;
    if (p->opts.initarg_len)
        memcpy(SHM_AT(h, h->initarg_off, char *), p->opts.initarg, p->opts.initarg_len);
    if (p->opts.start_method == MT_START_SPAWN) {
        err = mt__fnmap_publish(h);
        if (err < 0)
            return err;
        if (!(p->spawn_argv = mt__read_argv()))
            return -ENOMEM;
    }
    return 0;
}

/* Release what pool_alloc made; the workers and the thread are gone. */
static void pool_release(mt_pool *p)
{
    for (int i = 0; p->workers && i < p->nworkers; i++) {
        if (p->workers[i].pidfd >= 0)
            close(p->workers[i].pidfd);
        if (p->workers[i].sock >= 0)
            close(p->workers[i].sock);
    }
    for (uint32_t s = 0; p->jobs && p->h && s < p->h->nslots; s++)
        if (p->jobs[s].large_fd >= 0)
            close(p->jobs[s].large_fd);
    if (p->efd >= 0)
        close(p->efd);
    if (p->ctl >= 0)
        close(p->ctl);
    if (p->shm_fd >= 0)
        close(p->shm_fd);
    mt__shm_detach(p->h);
    free(p->workers);
    free(p->jobs);
    free(p->free_slots);
    free(p->pollfds);
    free(p->pollwho);
    free(p->spawn_argv);
    free(p->held);
    mt_buf_free(&p->broken_msg);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static int init_sync(mt_pool *p)
{
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        return -ENOMEM;
    return mt__cond_init(&p->cond);
}

int mt_pool_new(mt_pool **out, const mt_pool_opts *opts)
{
    static const mt_pool_opts defaults;
    if (!out)
        return -EINVAL;
    if (!opts)
        opts = &defaults;
    if (opts->redis)
        return mt__rpool_new(out, opts);
    int err = check_opts(opts);
    if (err < 0)
        return err;
    mt_pool *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->opts = *opts;
    p->nworkers = opts->processes ? opts->processes : mt_cpu_count();
    if (p->nworkers > MAX_PROCESSES)
        p->nworkers = MAX_PROCESSES;
    p->shm_fd = p->efd = p->ctl = -1;
    p->pending_tail = &p->pending;
    p->starting = true;
    if ((err = init_sync(p)) < 0) {
        free(p);
        return err;
    }
    if ((err = pool_alloc(p)) < 0) {
        pool_release(p);
        return err;
    }
    if ((err = -pthread_create(&p->supervisor, NULL, mt__pool_supervise, p)) < 0) {
        pool_release(p);
        return err;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->start_error && !p->broken &&
           !(p->supervisor_running && ready_count(p) == p->nworkers))
        pthread_cond_wait(&p->cond, &p->mu);
    err = p->broken ? p->broken : p->start_error; /* the initializer's own error first */
    p->starting = false;
    pthread_mutex_unlock(&p->mu);
    if (err < 0) {
        mt_pool_free(p);
        return err;
    }
    *out = p;
    return 0;
}

int mt_pool_processes(const mt_pool *p)
{
    return p ? p->nworkers : 0;
}

int mt_pool_close(mt_pool *p)
{
    if (!p)
        return -EINVAL;
    if (p->remote)
        return mt__rpool_close(p);
    pthread_mutex_lock(&p->mu);
    if (p->state == POOL_RUN)
        p->state = POOL_CLOSED;
    pthread_mutex_unlock(&p->mu);
    mt__pool_poke(p);
    return 0;
}

int mt_pool_terminate(mt_pool *p)
{
    if (!p)
        return -EINVAL;
    if (p->remote)
        return mt__rpool_terminate(p);
    pthread_mutex_lock(&p->mu);
    if (p->state != POOL_TERMINATED) {
        p->state = POOL_TERMINATED;
        atomic_store(&p->h->stop, 2);
        atomic_fetch_add(&p->h->disp_seq, 1);
        mt__futex_wake(&p->h->disp_seq, INT32_MAX, true);
        for (int i = 0; i < p->nworkers; i++)
            if (p->workers[i].alive)
                mt__signal_child(p->workers[i].pid, p->workers[i].pidfd, SIGTERM);
        p->kill_at = mt__deadline_in(TERMINATE_GRACE);
        mt__pool_fail_all(p, -ECANCELED, "the pool was terminated");
    }
    mt__pool_unlock(p);
    mt__pool_poke(p);
    return 0;
}

int mt_pool_join(mt_pool *p, double timeout)
{
    mt__deadline d;
    if (!p || mt__deadline_set(&d, timeout) < 0)
        return -EINVAL;
    if (p->remote)
        return mt__rpool_join(p, timeout);
    int err = 0;
    pthread_mutex_lock(&p->mu);
    if (p->state == POOL_RUN)
        err = -EINVAL;
    while (!err && mt__pool_alive_workers(p) > 0 && p->supervisor_running)
        if (mt__cond_wait(&p->cond, &p->mu, d) < 0 && mt__pool_alive_workers(p))
            err = -ETIMEDOUT;
    pthread_mutex_unlock(&p->mu);
    return err;
}

void mt_pool_free(mt_pool *p)
{
    if (!p)
        return;
    if (p->remote) {
        mt__rpool_free(p);
        return;
    }
    pthread_mutex_lock(&p->mu);
    bool finished = p->state != POOL_RUN && mt__pool_alive_workers(p) == 0 && !p->pending;
    pthread_mutex_unlock(&p->mu);
    if (!finished)
        mt_pool_terminate(p);
    mt_pool_join(p, MT_FOREVER);

    pthread_mutex_lock(&p->mu);
    p->exiting = true;
    pthread_mutex_unlock(&p->mu);
    mt__pool_poke(p);
    pthread_join(p->supervisor, NULL);

    /* A worker that never got going (failed start) may still need reaping. */
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->nworkers; i++)
        if (p->workers[i].alive) {
            mt__signal_child(p->workers[i].pid, p->workers[i].pidfd, SIGKILL);
            mt__pool_reap(p, (uint32_t)i, true);
        }
    mt__pool_fail_all(p, -ECANCELED, "the pool was freed");
    mt__pool_unlock(p); /* runs the callbacks of what was just failed */
    pool_release(p);
}

int mt_pool_worker_pids(mt_pool *p, pid_t *pids, int n)
{
    if (!p)
        return -EINVAL;
    if (p->remote)
        return 0; /* its workers are other machines' processes */
    int count = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->nworkers; i++) {
        if (!p->workers[i].alive)
            continue;
        if (count < n && pids)
            pids[count] = p->workers[i].pid;
        count++;
    }
    pthread_mutex_unlock(&p->mu);
    return count;
}
