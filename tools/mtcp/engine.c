/*
 * engine.c - the workers that drain the work list (worklist.c).
 *
 * The workers are calls on an mt_executor, one per job slot, each looping
 * over the one work list until it is done or stopped. The main thread waits
 * on the workers' futures, redraws the progress and turns a signal into a
 * clean stop.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "mtcp.h"

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
    while ((j = mtcp_pop(a.m))) {
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
        mtcp_job_done(a.m, j);
    }
    free(w.buf);
    free(w.buf2);
    free(w.dents);
    return 0;
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
    mtcp_drain(m);
    for (int i = 0; roots && i < nops; i++)
        if (roots[i])
            mtcp_node_unref(m, roots[i]);
    free(roots);
    free(futs);
    return err;
}
