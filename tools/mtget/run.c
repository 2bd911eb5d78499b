/*
 * run.c - the pipeline, on one coroutine loop (the seed's design, page
 * workers -> queue -> downloaders, without processes or threads):
 *
 *   feeder        reads the URL operands, -i and --pages lists a line at a
 *                 time; in download mode they are targets, in crawl mode
 *                 seed pages (at most 2 x --page-jobs of them queued)
 *   page tasks    (--page-jobs) fetch and mine pages (crawl.c); pages found
 *                 by --follow join the page queue
 *   targets       a bounded queue (2 x -j): a page task that finds it full
 *                 waits, so memory stays bounded by the concurrency
 *   downloaders   (-j) take targets and fetch them (fetch.c)
 *   signals       SIGINT, SIGTERM, SIGHUP cancel every task above: their
 *                 transfers stop and their temporaries go (or stay for
 *                 --continue, journaled)
 *   ticker        redraws the progress at most 10 times a second
 *
 * Every URL is canonicalised and deduplicated (seen.c) before it is queued.
 * With --frontier the seen set and the page and target queues are shared on
 * a server instead (frontier.c), and the page tasks and downloaders take
 * their work from there (frontier_work.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool.h"

/* Task stacks: the html layer's calls fit in 64 KiB; ours add little. */
#define STACK (256 << 10)

typedef struct worker {
    mtget *m;
    int index;
} worker;

int mtget_canonical(mt_buf *out, const char *url)
{
    if (!mt_url_is_http(url))
        return -EINVAL;
    return mt_url_canonical(out, url);
}

int mtget_queue_page(mtget *m, const char *url, int depth)
{
    if (m->frontier)
        return mtget_frontier_put(m->frontier, url, depth);
    size_t len = strlen(url);
    mtget_page *p = malloc(sizeof *p + len + 1);
    if (!p)
        return -ENOMEM;
    p->depth = depth;
    memcpy(p->url, url, len + 1);
    int err = mt_aqueue_put_nowait(m->pages, &p); /* unbounded */
    if (err < 0) {
        free(p);
        return err;
    }
    m->pages_pending++;
    return 0;
}

int mtget_queue_target(mtget *m, const char *url)
{
    if (m->frontier) /* counted in the total by the process that takes it */
        return mtget_frontier_put(m->frontier, url, -1);
    char *t = strdup(url);
    if (!t)
        return -ENOMEM;
    mt_progress_add_total(m->progress, 0, 1);
    int err = mt_aqueue_put(m->targets, &t);
    if (err < 0) {
        free(t);
        return err;
    }
    return 0;
}

/* A page is done: the last one closes the page queue once the feeder is. */
static void page_finished(mtget *m, int depth)
{
    if (depth == 0) {
        int token;
        mt_aqueue_get_nowait(m->seed_slots, &token);
    }
    if (--m->pages_pending == 0 && !m->feeding)
        mt_aqueue_shutdown(m->pages, false);
}

/* One input URL: a target, or in crawl mode a seed page. */
static int feed_one(mtget *m, const char *url, mt_buf *canon)
{
    if (mtget_canonical(canon, url) < 0) {
        mtget_fail(m, m->crawl ? "fetch page" : "download", url, "not an http or https URL");
        if (m->crawl)
            m->pages_failed++;
        else
            m->files_failed++;
        return 0;
    }
    int fresh = mtget_dedupe(m, canon->data, m->crawl ? MTGET_SEEN_PAGE : MTGET_SEEN_FILE, NULL);
    if (fresh <= 0)
        return fresh;
    if (!m->crawl)
        return mtget_queue_target(m, canon->data);
    if (m->frontier) /* the shared queue is the bound */
        return mtget_queue_page(m, canon->data, 0);
    int token = 1;
    int err = mt_aqueue_put(m->seed_slots, &token); /* waits while enough are queued */
    if (err == 0 && (err = mtget_queue_page(m, canon->data, 0)) < 0)
        mt_aqueue_get_nowait(m->seed_slots, &token);
    return err;
}

static int feed_list(mtget *m, const char *path, mt_buf *line, mt_buf *canon)
{
    mtget_input *in;
    int err = mtget_input_open(&in, path);
    if (err < 0) {
        mtget_error(m, "cannot read '%s': %s", path, mt_strerror(err));
        m->files_failed++;
        return 0;
    }
    while ((err = mtget_input_next(in, line)) > 0)
        if ((err = feed_one(m, line->data, canon)) < 0)
            break;
    if (err < 0 && err != -ECANCELED) {
        mtget_error(m, "cannot read '%s': %s", path, mt_strerror(err));
        m->files_failed++;
        err = 0;
    }
    mtget_input_free(in);
    return err;
}

static int feeder(void *arg)
{
    mtget *m = arg;
    const mtget_config *c = m->cfg;
    mt_buf line = MT_BUF_INIT, canon = MT_BUF_INIT;
    int err = 0;
    for (int i = 0; i < c->nurls && err == 0; i++)
        err = feed_one(m, c->urls[i], &canon);
    if (err == 0 && c->input)
        err = feed_list(m, c->input, &line, &canon);
    for (int i = 0; i < c->npages && err == 0; i++)
        err = mt_url_is_http(c->pages[i]) ? feed_one(m, c->pages[i], &canon)
                                          : feed_list(m, c->pages[i], &line, &canon);
    mt_buf_free(&line);
    mt_buf_free(&canon);
    m->feeding = false;
    if (m->crawl && m->pages_pending == 0)
        mt_aqueue_shutdown(m->pages, false);
    if (err < 0 && err != -ECANCELED)
        mtget_error(m, "%s", mt_strerror(err));
    return err;
}

static int page_worker(void *arg)
{
    worker *w = arg;
    mtget *m = w->m;
    mtget_page *p;
    if (m->frontier)
        return mtget_frontier_page_worker(m);
    while (mt_aqueue_get(m->pages, &p) == 0) {
        int err = mtget_crawl_page(m, p);
        int depth = p->depth;
        free(p);
        page_finished(m, depth);
        if (err == -ECANCELED)
            return err;
    }
    return 0;
}

static int downloader(void *arg)
{
    worker *w = arg;
    mtget *m = w->m;
    char *url;
    if (m->frontier)
        return mtget_frontier_downloader(m, w->index);
    while (mt_aqueue_get(m->targets, &url) == 0) {
        int err = mtget_fetch(m, url, w->index);
        free(url);
        if (err == -ECANCELED)
            return err;
    }
    return 0;
}

/* The tasks a signal cancels. */
typedef struct work {
    mt_task **tasks;
    size_t n;
    mtget *m;
} work;

typedef struct sigwatch {
    work *w;
    int signum;
} sigwatch;

static int on_signal(void *arg)
{
    sigwatch *s = arg;
    int r = mt_co_wait_signal(s->signum, MT_FOREVER);
    if (r != s->signum)
        return 0;
    if (!s->w->m->signal)
        s->w->m->signal = r;
    for (size_t i = 0; i < s->w->n; i++)
        if (s->w->tasks[i])
            mt_task_cancel(s->w->tasks[i]);
    return 0;
}

static int ticker(void *arg)
{
    mtget *m = arg;
    while (mt_co_sleep(0.1) == 0)
        mt_progress_refresh(m->progress);
    return 0;
}

/* Drop what the queues still hold (after an interruption). */
static void drain(mtget *m)
{
    void *item;
    while (m->targets && mt_aqueue_get_nowait(m->targets, &item) == 0)
        free(item);
    while (m->pages && mt_aqueue_get_nowait(m->pages, &item) == 0)
        free(item);
}

static int start(mt_task **out, mt_co_fn *fn, void *arg, const char *name)
{
    return mt_task_create(out, fn, arg, &(mt_task_opts){.name = name, .stack_size = STACK});
}

/* Run the pipeline; returns 0 or an error of the run itself. */
static int pipeline(mtget *m)
{
    const mtget_config *c = m->cfg;
    size_t nwork = 1 + (size_t)c->jobs + (m->crawl ? (size_t)c->page_jobs : 0);
    work w = {.m = m, .tasks = calloc(nwork, sizeof(mt_task *))};
    worker *workers = calloc(nwork, sizeof *workers);
    static const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    sigwatch sw[3];
    mt_task *watchers[3] = {NULL}, *tick = NULL;
    int err = w.tasks && workers ? 0 : -ENOMEM;
    for (int i = 0; i < 3 && err == 0; i++) {
        sw[i] = (sigwatch){.w = &w, .signum = signals[i]};
        err = start(&watchers[i], on_signal, &sw[i], "mtget-signal");
    }
    if (err == 0)
        err = start(&tick, ticker, m, "mtget-progress");
    /* let the watchers start waiting before any work begins */
    if (err == 0)
        err = mt_co_yield();
    if (err == 0)
        err = start(&w.tasks[w.n++], feeder, m, "mtget-feeder");
    for (int i = 0; m->crawl && i < c->page_jobs && err == 0; i++, w.n++) {
        workers[w.n] = (worker){.m = m, .index = i};
        err = start(&w.tasks[w.n], page_worker, &workers[w.n], "mtget-page");
    }
    size_t first_dl = w.n;
    for (int i = 0; i < c->jobs && err == 0; i++, w.n++) {
        workers[w.n] = (worker){.m = m, .index = i};
        err = start(&w.tasks[w.n], downloader, &workers[w.n], "mtget-download");
    }
    if (err < 0) { /* the ones started end soon; drain() frees what is queued */
        m->feeding = false;
        mt_aqueue_shutdown(m->targets, false);
        mt_aqueue_shutdown(m->pages, false);
        mt_aqueue_shutdown(m->seed_slots, false);
    }
    /* the feeder, then the pages, then (the queue closed) the downloads */
    for (size_t i = 0; i < w.n; i++) {
        if (i == first_dl)
            mt_aqueue_shutdown(m->targets, false);
        if (w.tasks[i])
            mt_task_await(w.tasks[i]);
    }
    for (int i = 0; i < 3; i++)
        if (watchers[i]) {
            mt_task_cancel(watchers[i]);
            mt_task_await(watchers[i]);
            mt_task_free(watchers[i]);
        }
    if (tick) {
        mt_task_cancel(tick);
        mt_task_await(tick);
        mt_task_free(tick);
    }
    for (size_t i = 0; i < w.n; i++)
        mt_task_free(w.tasks[i]);
    drain(m);
    free(w.tasks);
    free(workers);
    return err;
}

/* Make the output directory (and its parents) and open it. */
static int open_dir(const char *dir)
{
    char *p = strdup(dir);
    if (!p)
        return -ENOMEM;
    for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
        if (s)
            *s = '\0';
        if (mkdir(p, 0777) < 0 && errno != EEXIST) {
            int err = -errno;
            free(p);
            return err;
        }
        if (!s)
            break;
        *s = '/';
    }
    free(p);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* Journal, resume state, leftovers. */
static int open_journal(mtget *m)
{
    int err = mtget_journal_open(&m->journal, m->dirfd, 0);
    if (err == -EBUSY) {
        mtget_error(m, "another mtget is writing into '%s'", m->cfg->dir);
        return err;
    }
    if (err < 0) {
        mtget_error(m, "cannot open the journal in '%s': %s", m->cfg->dir, mtget_strerror(err));
        return err;
    }
    if (m->cfg->resume && (err = mtget_resume_new(&m->resume, m->journal)) < 0) {
        mtget_error(m, "cannot read the journal in '%s': %s", m->cfg->dir, mtget_strerror(err));
        return err;
    }
    /* temporaries of a killed run: kept to resume with -c, else removed */
    int n = mtget_out_sweep(m->dirfd, m->resume ? mtget_resume_keep : NULL, m->resume);
    if (n < 0)
        mtget_error(m, "cannot remove leftover temporaries in '%s': %s", m->cfg->dir,
                    mt_strerror(n));
    return 0;
}

/* Open --frontier; an exit status (a bad name is a usage error). */
static int open_frontier(mtget *m)
{
    int err = mtget_frontier_open(&m->frontier, m->cfg->frontier, m->cfg->frontier_idle);
    if (err == 0)
        return MTGET_EXIT_OK;
    char name[1024];
    mtget_frontier_redact(name, sizeof name, m->cfg->frontier);
    if (err == -EINVAL) {
        mtget_error(m, "invalid --frontier name '%s'", name);
        return MTGET_EXIT_USAGE;
    }
    mtget_error(m, "cannot open the frontier '%s': %s", name, mt_strerror(err));
    return MTGET_EXIT_FAILED;
}

static int run_main(void *arg)
{
    mtget *m = arg;
    const mtget_config *c = m->cfg;
    char ua[128];
    if (!c->user_agent)
        snprintf(ua, sizeof ua, "mtget/%s (+multitask)", mt_version());
    mt_http_client_opts ho = {
        .user_agent = c->user_agent ? c->user_agent : ua,
        .max_transfers = c->jobs + (m->crawl ? c->page_jobs : 0),
        .max_per_host = c->per_host,
    };
    int err = mt_http_client_new(&m->http, &ho);
    if (err < 0) {
        mtget_error(m, "cannot start HTTP: %s", mt_strerror(err));
        return err;
    }
    err = pipeline(m);
    if (err < 0)
        mtget_error(m, "%s", mt_strerror(err));
    mt_http_client_free(m->http);
    m->http = NULL;
    return err;
}

int mtget_run(const mtget_config *c)
{
    mtget m = {.cfg = c, .dirfd = -1, .crawl = c->xpath != NULL, .feeding = true};
    m.start_ns = mt_monotonic_ns();
    int status = MTGET_EXIT_FAILED, err;
    srandom((unsigned)(m.start_ns ^ (uint64_t)getpid()));
    err = mt_progress_new(&m.progress, &(mt_progress_opts){.mode = c->progress,
                                                           .desc = MTGET_NAME,
                                                           .item_unit = "files",
                                                           .slots = c->jobs < 16 ? c->jobs : 16,
                                                           .delay = 0.3});
    if (err < 0) {
        fprintf(stderr, MTGET_NAME ": cannot start the progress display: %s\n", mt_strerror(err));
        return MTGET_EXIT_FAILED;
    }
    if ((m.dirfd = open_dir(c->dir)) < 0) {
        mtget_error(&m, "cannot make the directory '%s': %s", c->dir, mt_strerror(m.dirfd));
        goto out;
    }
    if (open_journal(&m) < 0)
        goto out;
    if (c->frontier && (status = open_frontier(&m)) != MTGET_EXIT_OK)
        goto out;
    status = MTGET_EXIT_FAILED;
    err = mtget_seen_new(&m.seen);
    if (err == 0)
        err = mtget_hosts_new(&m.hosts);
    if (err == 0)
        err = mt_aqueue_new(&m.targets, &(mt_aqueue_opts){.maxsize = 2 * (size_t)c->jobs});
    if (err == 0)
        err = mt_aqueue_new(&m.pages, NULL);
    if (err == 0)
        err = mt_aqueue_new(&m.seed_slots, &(mt_aqueue_opts){.maxsize = 2 * (size_t)c->page_jobs,
                                                              .item_size = sizeof(int)});
    if (err < 0) {
        mtget_error(&m, "%s", mt_strerror(err));
        goto out;
    }
    err = mt_run(run_main, &m, NULL);
    mt_progress_finish(m.progress);
    if (m.signal)
        status = 128 + m.signal;
    else if (err < 0 || m.files_failed || m.pages_failed || m.frontier_err)
        status = MTGET_EXIT_FAILED;
    else
        status = MTGET_EXIT_OK;
    if (mtget_summary(&m, status) < 0 && status == MTGET_EXIT_OK)
        status = MTGET_EXIT_FAILED;
out:
    mt_progress_free(m.progress);
    mt_aqueue_free(m.targets);
    mt_aqueue_free(m.pages);
    mt_aqueue_free(m.seed_slots);
    mtget_hosts_free(m.hosts);
    mtget_frontier_free(m.frontier);
    mtget_seen_free(m.seen);
    mtget_resume_free(m.resume);
    mtget_journal_free(m.journal);
    mt_buf_free(&m.failures);
    if (m.dirfd >= 0)
        close(m.dirfd);
    return status;
}
