/*
 * tool.h - what the parts of the mtget program share (mtget.h holds its
 * disk side and robots.txt, the static library mtget_core):
 *
 *   main.c     signals, the run, the exit status
 *   options.c  the command line into an mtget_config
 *   input.c    URL lists read a line at a time (files, stdin)
 *   seen.c     the set of URLs met so far, as 128-bit hashes
 *   run.c      the pipeline on one coroutine loop: the feeder, the page
 *              tasks, the bounded queue of targets, the downloaders
 *   crawl.c    one list page: fetch, parse, extract targets and next pages
 *   fetch.c    one download, through a temporary, resumed with Range
 *   hosts.c    per host: the delay with jitter, robots.txt fetched once
 *   report.c   messages, the summary, --stats-json
 *   frontier.c      --frontier: the seen set and the work queues on Redis
 *   frontier_work.c --frontier: the page and download tasks that take
 *                   their work from those queues
 *
 * Everything runs on one loop in one thread: the counters below need no
 * lock.
 */
#ifndef MTGET_TOOL_H
#define MTGET_TOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "multitask.h"
#include "mtget.h"

/* Exit statuses (docs/mtget.1). */
#define MTGET_EXIT_OK 0
#define MTGET_EXIT_FAILED 1
#define MTGET_EXIT_USAGE 2

/* What the command line asks for. */
typedef struct mtget_config {
    char **urls;             /* URL operands */
    int nurls;
    const char *input;       /* -i FILE ("-": stdin), or NULL */
    const char **pages;      /* --pages values: a URL, or a file of them */
    int npages;
    const char *xpath;       /* --xpath: crawl mode when set */
    const char *follow;      /* --follow, or NULL */
    int depth;               /* --depth: levels followed; -1 no limit */
    const char *dir;         /* -P */
    int jobs;                /* -j: downloads at once */
    int page_jobs;           /* --page-jobs: list pages at once */
    int per_host;            /* --per-host: transfers to one host at once */
    double delay;            /* --delay: seconds between requests to a host */
    bool robots;             /* robots.txt obeyed (crawl mode) */
    const char *user_agent;
    int retries;             /* tries after the first */
    double timeout;          /* a page's total time; a download's stall time */
    double connect_timeout;
    int64_t max_size;        /* a file's cap; 0 none */
    int64_t page_max_size;   /* a page's cap in memory */
    bool content_disposition;
    const char *ca_file;
    bool resume;             /* -c */
    mt_progress_mode progress;
    const char *stats_json;
    bool quiet;
    const char *frontier;    /* --frontier: a redis:// name, or NULL */
    double frontier_idle;    /* --frontier-idle: seconds before a claim is redelivered */
} mtget_config;

/* Defaults. */
/* Downloads at once. Measured on the benchmark site (bench-crawl: nginx on
 * loopback, 40 list pages -> 2,000 images, 556 MB, output on tmpfs, 2 CPUs,
 * 5 runs each, medians): -j 2 1.49 s, 4 1.78 s, 8 1.44 s, 16 1.80 s,
 * 32 1.72 s: on loopback the CPUs are the limit and any -j from 2 up is
 * within the noise. 8 hides a real network's latency (a file's round trip
 * is then most of its time) while one host still gets no more than
 * --per-host (6). */
#define MTGET_DEFAULT_JOBS 8
#define MTGET_DEFAULT_PAGE_JOBS 4
#define MTGET_DEFAULT_PER_HOST 6
#define MTGET_DEFAULT_RETRIES 3
#define MTGET_DEFAULT_TIMEOUT 30.0
#define MTGET_DEFAULT_CONNECT_TIMEOUT 10.0
#define MTGET_DEFAULT_PAGE_MAX (8 << 20)
#define MTGET_DEFAULT_DEPTH 5
/* The longest Retry-After honoured; a server that asks for more fails the
 * URL at once. */
#define MTGET_RETRY_AFTER_MAX 60.0
#define MTGET_MAX_JOBS 1024
/* --frontier-idle: a claim unfinished this long is handed to another
 * process. Longer than any one page or download should take; a download
 * that takes longer is done twice. */
#define MTGET_DEFAULT_FRONTIER_IDLE 300.0

/* ---- options.c ---- */
/* Parse argv into *c. Returns 0 to run, 1 when --help or --version was
 * answered, MTGET_EXIT_USAGE + 100 after a usage error (reported). */
int mtget_options(mtget_config *c, int argc, char **argv);
void mtget_config_free(mtget_config *c);

/* ---- input.c ---- */
typedef struct mtget_input mtget_input;
/* Open a list of URLs: a file, or "-" for stdin. 0 or -errno. */
int mtget_input_open(mtget_input **in, const char *path);
/* The next URL (blank lines and "#" comments skipped, blanks trimmed) into
 * line, NUL-terminated. Suspends on a pipe, never blocks the loop there.
 * Returns 1, 0 at the end, or -errno. */
int mtget_input_next(mtget_input *in, mt_buf *line);
void mtget_input_free(mtget_input *in);

/* ---- seen.c ---- */
typedef struct mtget_seen mtget_seen;
int mtget_seen_new(mtget_seen **s);
/* Add url (a canonical URL) under `kind` (a page and a file are told
 * apart). Returns 1 when it is new, 0 when seen before, -ENOMEM. */
int mtget_seen_add(mtget_seen *s, const char *url, unsigned kind);
size_t mtget_seen_count(const mtget_seen *s);
/* The 16-byte key of url under kind (the hash the set keeps). */
void mtget_seen_key(unsigned char key[16], const char *url, unsigned kind);
void mtget_seen_free(mtget_seen *s);

/* ---- the run's state ---- */
typedef struct mtget_hosts mtget_hosts;
typedef struct mtget_frontier mtget_frontier;

typedef struct mtget {
    const mtget_config *cfg;
    int dirfd;                 /* -P */
    mt_http_client *http;
    mtget_journal *journal;
    mtget_resume *resume;      /* -c: the journal's state at start */
    mt_progress *progress;
    mtget_seen *seen;
    mtget_frontier *frontier;  /* --frontier, or NULL (then seen and the queues below) */
    int frontier_err;          /* the first error of the shared frontier, or 0 */
    mtget_hosts *hosts;
    mt_aqueue *targets;        /* char * canonical URLs, bounded */
    mt_aqueue *pages;          /* mtget_page *, unbounded (pages found by --follow) */
    mt_aqueue *seed_slots;     /* tokens: seed pages queued or in work, bounded */
    size_t pages_pending;      /* pages queued or in work */
    bool feeding;              /* the feeder still reads its inputs */
    int signal;                /* the signal that interrupts the run, or 0 */
    bool crawl;
    uint64_t start_ns;
    /* counts */
    uint64_t files_done, files_failed, files_skipped, bytes;
    uint64_t pages_done, pages_failed, retries, refused;
    mt_buf failures;           /* JSON objects, comma-separated */
    uint64_t failures_listed, failures_dropped;
} mtget;

/* A list page to fetch. */
typedef struct mtget_page {
    int depth;                 /* 0 for a seed */
    char url[];
} mtget_page;

/* Kinds for mtget_seen_add. */
#define MTGET_SEEN_FILE 1
#define MTGET_SEEN_PAGE 2

/* ---- run.c ---- */
/* Run the whole job (in a new loop); returns the exit status. */
int mtget_run(const mtget_config *c);
/* Queue a page (pages_pending counted). 0 or -errno. */
int mtget_queue_page(mtget *m, const char *url, int depth);
/* Queue a target, suspending while the queue is full (back-pressure). 0,
 * or -ECANCELED, -ENOMEM. */
int mtget_queue_target(mtget *m, const char *url);
/* The canonical form of url into out, if it is an http(s) URL: 0, or
 * -EINVAL (reported by the caller). */
int mtget_canonical(mt_buf *out, const char *url);

/* ---- frontier.c ---- */
/*
 * mtget_frontier_open - open (or make) the frontier `url` names: the set
 * NAME:seen (a dict) and the joinable queues NAME:pages and NAME:targets
 * (NAME: the name part of url). idle: --frontier-idle. Blocking. Returns 0,
 * -EINVAL (a bad name), or the server's error (MT_ECONNECT, MT_EAUTH...).
 * The calls below suspend only their task (on the run's loop); after the
 * first error of the server every call returns it at once.
 */
int mtget_frontier_open(mtget_frontier **f, const char *url, double idle);
/* Gives back this process's unacknowledged claims. NULL is ignored. */
void mtget_frontier_free(mtget_frontier *f);
/* url with its password (if any) replaced by "***", into out. */
void mtget_frontier_redact(char *out, size_t size, const char *url);
/*
 * mtget_frontier_seen_add - add url under kind to the shared set, atomically
 * across processes; `owner` is the canonical URL of the page that found it
 * (NULL for a seed). Returns 1 when new, or when the same owner added it
 * before (a page processed again after its process died queues its links
 * again); 0 when seen; or a server's error.
 */
int mtget_frontier_seen_add(mtget_frontier *f, const char *url, unsigned kind,
                            const char *owner);
/* Queue a page at depth, or a target (depth < 0). 0 or an error. */
int mtget_frontier_put(mtget_frontier *f, const char *url, int depth);
/* Claim a page (page true) or a target without waiting: 0, -EAGAIN when
 * none is queued, or an error. */
int mtget_frontier_take(mtget_frontier *f, bool page, mt_buf *item, mt_queue_receipt *r);
/* Acknowledge a finished item (one handed to another meanwhile: 0 too). */
int mtget_frontier_done(mtget_frontier *f, bool page, const mt_queue_receipt *r);
/* Whether the pages' work (pages_only) or all the work is over for every
 * process: nothing queued, nothing claimed. 1, 0, or an error. */
int mtget_frontier_over(mtget_frontier *f, bool pages_only);
/* Run the page tasks' or downloaders' loop (frontier_work.c); 0 or
 * -ECANCELED (an error of the frontier is reported, kept in
 * m->frontier_err, and ends the loop). */
int mtget_frontier_page_worker(mtget *m);
int mtget_frontier_downloader(mtget *m, int slot);

/* Dedupe url, in the shared set with --frontier, else in m->seen. */
static inline int mtget_dedupe(mtget *m, const char *url, unsigned kind, const char *owner)
{
    if (m->frontier)
        return mtget_frontier_seen_add(m->frontier, url, kind, owner);
    return mtget_seen_add(m->seen, url, kind);
}

/* ---- crawl.c ---- */
/* Fetch and mine one page. Failures are reported and counted; returns 0,
 * or -ECANCELED. */
int mtget_crawl_page(mtget *m, const mtget_page *p);

/* ---- fetch.c ---- */
/* Download url into the output directory, showing it in progress slot
 * `slot`. Failures are reported and counted; returns 0, or -ECANCELED. */
int mtget_fetch(mtget *m, const char *url, int slot);
/* The common request options: timeouts, CA, user agent. */
void mtget_http_opts(const mtget *m, mt_http_opts *o);
/* The retry policy of pages and downloads (docs/mtget.1, Retries): 1 +
 * --retries tries, backoff 0.5 s doubling to 30 s, Retry-After obeyed up to
 * MTGET_RETRY_AFTER_MAX, no cap on the time waited in all. */
void mtget_retry_policy(const mtget *m, mt_http_retry *p);
/* Whether a failure (err, and the status for MTGET_ESTATUS) may pass on
 * another try. */
bool mtget_transient(int err, long status);

/* ---- hosts.c ---- */
int mtget_hosts_new(mtget_hosts **h);
void mtget_hosts_free(mtget_hosts *h);
/*
 * mtget_host_enter - before a request for url: in crawl mode with robots
 * on, fetch the host's robots.txt the first time (other tasks wait for it)
 * and decide (MTGET_EROBOTS when disallowed, MTGET_ENOROBOTS when it could
 * not be read); then wait for the host's delay (--delay with jitter, or the
 * robots.txt crawl-delay). Returns 0, MTGET_EROBOTS, MTGET_ENOROBOTS,
 * -ECANCELED, -ENOMEM, -EINVAL (no host).
 */
int mtget_host_enter(mtget *m, const char *url);
/* After MTGET_ENOROBOTS: why the host's robots.txt could not be read. */
const char *mtget_host_why(mtget *m, const char *url);

/* ---- report.c ---- */
/* The reason of a failure in words ("HTTP 404", "Connection reset..."). */
void mtget_reason(char *out, size_t size, int err, const mt_http_response *resp);
/* A failure: on stderr (`mtget: cannot download 'URL': REASON`), as a JSON
 * event, and in the stats. what: "download" or "fetch page". */
void mtget_fail(mtget *m, const char *what, const char *url, const char *reason);
/* A note (skipped URLs...), unless -q. */
void mtget_note(mtget *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An error of the run itself (not of a URL). */
void mtget_error(mtget *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The final summary line (stderr, unless -q), the JSON summary event, and
 * the --stats-json file. Returns 0 or -errno of the stats file. */
int mtget_summary(mtget *m, int status);

#endif
