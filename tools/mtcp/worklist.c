/*
 * worklist.c - the one list of work that mtcp's workers share.
 *
 * It holds directories to read (a stack, so the walk goes depth first and
 * its frontier stays small) and batches of files to copy (first in, first
 * out). A worker reads a directory when fewer than half the workers are
 * walking and the files queued take less than MTCP_QUEUE_CAP bytes, so that
 * the walk runs ahead (the total, and so the ETA, is known early) while
 * memory stays bounded; otherwise it copies. With nothing else to do, a
 * worker helps copy a big file that another worker opened, one range at a
 * time. A stop wakes every waiting worker.
 */
#define _GNU_SOURCE
#include <stdlib.h>

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
mtcp_job *mtcp_pop(mtcp *m)
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

void mtcp_job_done(mtcp *m, mtcp_job *j)
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

/* Release what the queue still holds after a stop. */
void mtcp_drain(mtcp *m)
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

