/*
 * frontier_work.c - the page tasks and downloaders of --frontier: each
 * claims an item from the shared queue, does it as the local pipeline
 * would (crawl.c, fetch.c) and acknowledges it once done. A task that finds
 * its queue empty polls it again (10 ms doubling to 0.2 s) and ends when
 * this process's own inputs are all fed and the shared work is over: no
 * page (for a page task), and no page and no target (for a downloader)
 * queued or claimed by any process. Pages hold their claim while they
 * queue their links, so "over" cannot be seen between a page and the
 * targets it found.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

#define POLL_MIN 0.01
#define POLL_MAX 0.2

/* The end of a loop: an error of the frontier is the run's (reported
 * once); a cancellation is passed on. */
static int finish(mtget *m, int err)
{
    if (err >= 0 || err == -ECANCELED)
        return err < 0 ? err : 0;
    if (!m->frontier_err) {
        m->frontier_err = err;
        mtget_error(m, "the frontier: %s", mt_strerror(err));
    }
    return 0;
}

/* Nothing to take: 1 when the work is over, 0 after a pause, or an
 * error. */
static int idle(mtget *m, bool pages_only, double *pause)
{
    if (!m->feeding) {
        int over = mtget_frontier_over(m->frontier, pages_only);
        if (over != 0)
            return over;
    }
    int err = mt_co_sleep(*pause);
    *pause = *pause * 2 > POLL_MAX ? POLL_MAX : *pause * 2;
    return err;
}

/* A page item "DEPTH URL" into a page; NULL when malformed or no memory. */
static mtget_page *page_of(const mt_buf *item)
{
    char *end;
    long depth = strtol(item->data, &end, 10);
    if (end == item->data || *end != ' ' || depth < 0 || depth > 1000000)
        return NULL;
    size_t len = strlen(end + 1);
    mtget_page *p = malloc(sizeof *p + len + 1);
    if (p) {
        p->depth = (int)depth;
        memcpy(p->url, end + 1, len + 1);
    }
    return p;
}

int mtget_frontier_page_worker(mtget *m)
{
    mt_buf item = MT_BUF_INIT;
    double pause = POLL_MIN;
    int err = 0;
    while (!m->frontier_err && !m->signal) {
        mt_queue_receipt r;
        err = mtget_frontier_take(m->frontier, true, &item, &r);
        if (err == -EAGAIN) {
            if ((err = idle(m, true, &pause)) != 0)
                break;
            continue;
        }
        if (err < 0)
            break;
        pause = POLL_MIN;
        mtget_page *p = page_of(&item);
        if (p) {
            err = mtget_crawl_page(m, p);
            free(p);
        } else {
            mtget_error(m, "the frontier holds a malformed page item: dropped");
        }
        if (err == -ECANCELED || m->signal)
            break; /* not acknowledged: handed out again */
        if ((err = mtget_frontier_done(m->frontier, true, &r)) < 0)
            break;
    }
    mt_buf_free(&item);
    return finish(m, m->signal ? -ECANCELED : err);
}

int mtget_frontier_downloader(mtget *m, int slot)
{
    mt_buf item = MT_BUF_INIT;
    double pause = POLL_MIN;
    int err = 0;
    while (!m->frontier_err && !m->signal) {
        mt_queue_receipt r;
        err = mtget_frontier_take(m->frontier, false, &item, &r);
        if (err == -EAGAIN) {
            if ((err = idle(m, false, &pause)) != 0)
                break;
            continue;
        }
        if (err < 0)
            break;
        pause = POLL_MIN;
        mt_progress_add_total(m->progress, 0, 1);
        err = mtget_fetch(m, item.data, slot);
        if (err == -ECANCELED || m->signal)
            break;
        if ((err = mtget_frontier_done(m->frontier, false, &r)) < 0)
            break;
    }
    mt_buf_free(&item);
    return finish(m, m->signal ? -ECANCELED : err);
}
