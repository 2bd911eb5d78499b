/*
 * engine.c - the queue of work and the workers that drain it.
 *
 * The workers are tasks on an mt_executor, one per job slot, each looping
 * over the one queue. The queue holds directories to read (a stack, so the
 * walk goes depth first and its frontier stays small) and batches of files
 * to copy (first in, first out). A worker reads a directory when fewer than
 * half the workers are walking and the files queued take less than
 * MTCP_QUEUE_CAP bytes, so that the walk runs ahead (the total, and so the
 * ETA, is known early) while memory stays bounded; otherwise it copies.
 * With nothing else to do, a worker helps copy a big file that another
 * worker opened, one range at a time. The main thread waits on the workers'
 * futures, redraws the progress and turns a signal into a clean stop.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "mtcp.h"

/* The most bytes of queued file batches before the walk waits. */
#define MTCP_QUEUE_CAP (16u << 20)

bool mtcp_stopping(mtcp *m)
{
    return atomic_load_explicit(&m->stop, memory_order_relaxed) != 0;
}

void mtcp_stop(mtcp *m, int why)
{
    int expected = 0;
    atomic_compare_exchange_strong(&m->stop, &expected, why);
    pthread_mutex_lock(&m->mu);
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

void mtcp_push(mtcp *m, mtcp_job *j)
{
    pthread_mutex_lock(&m->mu);
    m->outstanding++;
    if (j->kind == MTCP_JOB_FILES) {
        j->next = NULL;
        if (m->files_tail)
            m->files_tail->next = j;
        else
            m->files = j;
        m->files_tail = j;
        m->files_mem += j->mem;
    } else {
        j->next = m->dirs;
        m->dirs = j;
    }
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

void mtcp_offer_big(mtcp *m, struct mtcp_bigfile *b)
{
    (void)b;
    pthread_mutex_lock(&m->mu);
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* The next job for a worker, or NULL when the work is done or stopped. */
static mtcp_job *pop(mtcp *m)
{
    mtcp_job *j = NULL;
    pthread_mutex_lock(&m->mu);
    while (!mtcp_stopping(m)) {
        bool may_walk = m->dirs && m->walking < m->max_walkers;
        if (may_walk && (m->files_mem < MTCP_QUEUE_CAP || !m->files)) {
            j = m->dirs;
            m->dirs = j->next;
            m->walking++;
            break;
        }
        if (m->files) {
            j = m->files;
            m->files = j->next;
            if (!m->files)
                m->files_tail = NULL;
            m->files_mem -= j->mem;
            break;
        }
        j = mtcp_big_job(m);
        if (j) {
            m->outstanding++;
            break;
        }
        if (m->outstanding == 0)
            break;
        pthread_cond_wait(&m->cv, &m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return j;
}

static void done(mtcp *m, mtcp_job *j)
{
    pthread_mutex_lock(&m->mu);
    m->outstanding--;
    if (j->kind == MTCP_JOB_DIR || j->kind == MTCP_JOB_ENTRY)
        m->walking--;
    if (m->outstanding == 0 || j->kind != MTCP_JOB_FILES)
        pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    mtcp_job_free(m, j);
}

typedef struct worker_arg {
    mtcp *m;
    int index;
} worker_arg;

static int worker_main(const void *arg, size_t len, mt_buf *out)
{
    worker_arg a;
    if (len != sizeof a)
        return mt_fail(out, -EINVAL, "bad worker argument");
    memcpy(&a, arg, sizeof a);
    mtcp_worker w = {.index = a.index};
    w.buf = malloc(MTCP_BUF);
    w.dents = malloc(MTCP_DENTS);
    if (!w.buf || !w.dents) {
        free(w.buf);
        free(w.dents);
        mtcp_stop(a.m, -ENOMEM);
        return mt_fail(out, -ENOMEM, "no memory for a worker");
    }
    mtcp_job *j;
    while ((j = pop(a.m))) {
        switch (j->kind) {
        case MTCP_JOB_ENTRY:
            mtcp_do_entry(a.m, &w, j);
            break;
        case MTCP_JOB_DIR:
            mtcp_do_dir(a.m, &w, j);
            break;
        case MTCP_JOB_FILES:
            mtcp_do_files(a.m, &w, j);
            break;
        default:
            mtcp_do_range(a.m, &w, j);
            break;
        }
        done(a.m, j);
    }
    free(w.buf);
    free(w.buf2);
    free(w.dents);
    return 0;
}

/* Release what the queue still holds after a stop. */
static void drain(mtcp *m)
{
    mtcp_job *lists[2] = {m->dirs, m->files};
    m->dirs = m->files = m->files_tail = NULL;
    for (int i = 0; i < 2; i++) {
        while (lists[i]) {
            mtcp_job *j = lists[i];
            lists[i] = j->next;
            mtcp_job_free(m, j);
        }
    }
}

int mtcp_run(mtcp *m, mtcp_operand **ops, int nops)
{
    mt_executor *ex = NULL;
    mt_future **futs = NULL;
    mtcp_node **roots = calloc((size_t)nops + 1, sizeof *roots);
    int n = m->o->jobs, started = 0, err = 0;
    m->max_walkers = n > 1 ? n / 2 : 1;
    futs = calloc((size_t)n, sizeof *futs);
    if (!roots || !futs) {
        err = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < nops; i++) {
        roots[i] = mtcp_node_pseudo(ops[i]);
        mtcp_job *j = roots[i] ? mtcp_job_new(MTCP_JOB_ENTRY, roots[i], ops[i]->src_name,
                                              ops[i]->dst_name)
                               : NULL;
        if (!j) {
            err = -ENOMEM;
            goto out;
        }
        mtcp_push(m, j);
    }
    err = mt_executor_new(&ex, &(mt_executor_opts){.max_workers = n,
                                                   .thread_name_prefix = MTCP_NAME});
    if (err < 0)
        goto out;
    for (; started < n; started++) {
        worker_arg a = {m, started};
        err = mt_executor_submit(ex, worker_main, &a, sizeof a, &futs[started]);
        if (err < 0)
            break;
    }
    if (started == 0)
        goto out;
    err = 0;
    while (mt_wait(futs, (size_t)started, 0.05, MT_ALL_COMPLETED, NULL, NULL, NULL, NULL) ==
           -ETIMEDOUT) {
        if (mtcp_signal && !mtcp_stopping(m))
            mtcp_stop(m, -EINTR);
        mt_progress_refresh(m->progress);
    }
    if (mtcp_signal && !mtcp_stopping(m))
        mtcp_stop(m, -EINTR);
out:
    if (err < 0)
        mtcp_stop(m, err);
    for (int i = 0; i < started; i++)
        mt_future_free(futs[i]);
    mt_executor_free(ex);
    drain(m);
    for (int i = 0; roots && i < nops; i++)
        if (roots[i])
            mtcp_node_unref(m, roots[i]);
    free(roots);
    free(futs);
    return err;
}
