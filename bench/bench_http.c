/*
 * bench_http.c - the HTTP layer against its anchors, on the crawl
 * benchmark's nginx (127.0.0.1:8088, bench/crawl/bench_site.py; bench/run.py
 * starts it). Each subcommand prints one JSON line (see bench/README.md);
 * bench/py/bench_http.py does the same work with aiohttp and requests.
 *
 *   get_1k          N GETs of one 1 KiB file from ONE thread: P coroutines
 *                   sharing one mt_http_client, each body to memory and
 *                   checked (length and first bytes) -> requests/s
 *   images_threads  the seed's image downloader: P plain threads take the
 *                   image URLs in turn and each calls mt_http_get_blocking
 *                   (a loop and a client per thread, as http.h does today);
 *                   bodies to memory, every length checked -> images/s, MB/s
 *   images_shared   the same threads and work, but every request is handed
 *                   to ONE loop thread that serves all of them with one
 *                   client (the alternative http.h mentions; written here
 *                   only, as a measurement): a job list under a mutex, an
 *                   eventfd to wake the loop, a condition variable back
 *
 * Usage: bench_http SUBCOMMAND [-p WORKERS] [-n COUNT]; WORKERS default to
 * 20, the seed's ThreadPoolExecutor(20). The site: MT_BENCH_SITE (default
 * /var/tmp/mt-bench/crawl: its images.tsv lists "URL<TAB>size"), the
 * server MT_BENCH_URL (default http://127.0.0.1:8088).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_util.h"
#include "multitask.h"

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* ---- get_1k: one thread, coroutines, one client ------------------------- */

#define SMALL_NAME "s000000.bin"
#define SMALL_SIZE 1024

typedef struct get_1k_run {
    mt_http_client *client;
    char url[512];
    long next, n;
    int failed;       /* the first error, or a wrong body */
    char why[1024];
} get_1k_run;

static int get_1k_worker(void *arg)
{
    get_1k_run *g = arg;
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    while (g->next < g->n && !g->failed) {
        g->next++;
        int err = mt_http_get(g->client, g->url, NULL, &r);
        if (err || r.status != 200 || r.body.len != SMALL_SIZE ||
            memcmp(r.body.data, SMALL_NAME "\n", sizeof SMALL_NAME)) {
            g->failed = err ? err : -EBADMSG;
            snprintf(g->why, sizeof g->why, "GET %s: %s, status %ld, %zu bytes", g->url,
                     err ? r.error : "wrong body", r.status, r.body.len);
        }
    }
    mt_http_response_free(&r);
    return 0;
}

typedef struct get_1k_main_arg {
    get_1k_run *g;
    int workers;
    double secs;
} get_1k_main_arg;

static int get_1k_main(void *arg)
{
    get_1k_main_arg *m = arg;
    get_1k_run *g = m->g;
    int err = mt_http_client_new(&g->client, &(mt_http_client_opts){
        .max_transfers = m->workers, .max_per_host = m->workers});
    if (err)
        return err;
    /* One request first, outside the clock: DNS-free, but the first
     * connection and libcurl's lazy set-up are not what is measured. */
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    err = mt_http_get(g->client, g->url, NULL, &r);
    mt_http_response_free(&r);
    if (err) {
        mt_http_client_free(g->client);
        return err;
    }
    double t0 = bench_now();
    mt_task_group tg;
    mt_task_group_init(&tg);
    for (int i = 0; i < m->workers; i++)
        bench_check(mt_task_group_create_task(&tg, get_1k_worker, g, NULL, NULL),
                    "mt_task_group_create_task");
    err = mt_task_group_wait(&tg);
    m->secs = bench_now() - t0;
    mt_http_client_free(g->client);
    return err;
}

static void run_get_1k(const bench_args *a)
{
    get_1k_run g = {.n = a->n};
    snprintf(g.url, sizeof g.url, "%s/small/" SMALL_NAME,
             env_or("MT_BENCH_URL", "http://127.0.0.1:8088"));
    get_1k_main_arg m = {.g = &g, .workers = a->processes};
    int err = mt_run(get_1k_main, &m, NULL);
    if (g.failed)
        bench_die("%s", g.why);
    bench_check(err, "mt_run");
    bench_json_begin(a);
    bench_json_num("seconds", m.secs);
    bench_json_num("requests_per_s", (double)a->n / m.secs);
    bench_json_end();
}

/* ---- the image downloader: the workload --------------------------------- */

typedef struct image {
    char *url;
    long size;
} image;

typedef struct images_run {
    image *img;
    long count;        /* images in the list */
    long n;            /* requests to make (the list in turn, from the start) */
    atomic_long next;
    atomic_llong bytes;
    atomic_int failed;
    char why[1024];
    pthread_mutex_t why_mu;
    /* How one thread makes one blocking request. */
    int (*get)(mt_http_response *resp, const char *url, const mt_http_opts *opts);
} images_run;

static void images_load(images_run *w)
{
    const char *site = env_or("MT_BENCH_SITE", "/var/tmp/mt-bench/crawl");
    char path[1024];
    snprintf(path, sizeof path, "%s/images.tsv", site);
    FILE *f = fopen(path, "r");
    if (!f)
        bench_die("%s: %s (generate the site: bench/crawl/bench_site.py gen)", path,
                  strerror(errno));
    char line[2048];
    long cap = 0;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab)
            continue;
        *tab = '\0';
        if (w->count == cap) {
            cap = cap ? 2 * cap : 1024;
            w->img = realloc(w->img, (size_t)cap * sizeof *w->img);
            if (!w->img)
                bench_die("out of memory");
        }
        w->img[w->count].url = strdup(line);
        w->img[w->count].size = strtol(tab + 1, NULL, 10);
        if (!w->img[w->count].url)
            bench_die("out of memory");
        w->count++;
    }
    fclose(f);
    if (w->count == 0)
        bench_die("%s lists no images", path);
}

static void images_fail(images_run *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void images_fail(images_run *w, const char *fmt, ...)
{
    pthread_mutex_lock(&w->why_mu);
    if (!atomic_load(&w->failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->why, sizeof w->why, fmt, ap);
        va_end(ap);
        atomic_store(&w->failed, 1);
    }
    pthread_mutex_unlock(&w->why_mu);
}

/* One downloader thread: take the next URL, GET it into memory (what the
 * seed's requests.get(url).content does), check its length. */
static void *images_thread(void *arg)
{
    images_run *w = arg;
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    for (;;) {
        long i = atomic_fetch_add(&w->next, 1);
        if (i >= w->n || atomic_load(&w->failed))
            break;
        const image *im = &w->img[i % w->count];
        int err = w->get(&r, im->url, NULL);
        if (err || r.status != 200 || (long)r.body.len != im->size) {
            images_fail(w, "GET %s: %s, status %ld, %zu bytes of %ld", im->url,
                        err ? r.error : "wrong length", r.status, r.body.len, im->size);
            break;
        }
        atomic_fetch_add(&w->bytes, (long long)r.body.len);
    }
    mt_http_response_free(&r);
    return NULL;
}

static double images_threads_run(images_run *w, int threads)
{
    pthread_t *t = bench_alloc((size_t)threads * sizeof *t);
    double t0 = bench_now();
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, images_thread, w))
            bench_die("pthread_create failed");
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    double secs = bench_now() - t0;
    free(t);
    return secs;
}

static void images_report(const bench_args *a, images_run *w, double secs)
{
    if (atomic_load(&w->failed))
        bench_die("%s", w->why);
    bench_json_begin(a);
    bench_json_num("seconds", secs);
    bench_json_num("images_per_s", (double)a->n / secs);
    bench_json_num("mb_per_s", (double)atomic_load(&w->bytes) / 1e6 / secs);
    /* The design's cost besides time: CPU of the whole process (the loop
     * thread included) and its peak resident memory. */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    bench_json_num("cpu_s", (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    bench_json_num("peak_rss_mib", (double)ru.ru_maxrss / 1024);
    bench_json_end();
    for (long i = 0; i < w->count; i++)
        free(w->img[i].url);
    free(w->img);
}

/* images_threads: a loop and a client per thread (mt_http_get_blocking). */
static void run_images_threads(const bench_args *a)
{
    images_run w = {.n = a->n, .why_mu = PTHREAD_MUTEX_INITIALIZER,
                    .get = mt_http_get_blocking};
    images_load(&w);
    /* The threads' loops and clients are made on their first request and
     * freed when they exit: both inside the clock, as in a program that
     * starts its pool to download. */
    double secs = images_threads_run(&w, a->processes);
    images_report(a, &w, secs);
}

/* ---- images_shared: one loop thread serves every thread's requests ------- */

typedef struct shared_job {
    const char *url;
    const mt_http_opts *opts;
    mt_http_response *resp;
    int result;
    bool done;
    pthread_cond_t done_cv;   /* the caller waits on it, under shared.mu */
    struct shared_job *next;
} shared_job;

static struct {
    pthread_mutex_t mu;
    shared_job *head, *tail;  /* jobs not yet taken by the loop */
    bool stop;
    int efd;                  /* wakes the loop: written when the list was empty */
    int max_transfers;
    mt_http_client *client;
    int err;                  /* the loop thread's own failure */
} shared = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* A task of the loop thread: one request, then wake its caller. */
static int shared_job_task(void *arg)
{
    shared_job *j = arg;
    int r = mt_http_get(shared.client, j->url, j->opts, j->resp);
    pthread_mutex_lock(&shared.mu);
    j->result = r;
    j->done = true;
    pthread_cond_signal(&j->done_cv);
    pthread_mutex_unlock(&shared.mu);
    return 0;
}

/* The loop thread's first task: wait for the eventfd, start a task per job
 * taken, until asked to stop (after every caller has its answer). */
static int shared_main(void *arg)
{
    (void)arg;
    int err = mt_http_client_new(&shared.client, &(mt_http_client_opts){
        .max_transfers = shared.max_transfers, .max_per_host = shared.max_transfers});
    if (err)
        return err;
    for (;;) {
        err = mt_co_wait_fd(shared.efd, MT_READABLE, -1);
        if (err < 0)
            break;
        uint64_t v;
        if (read(shared.efd, &v, sizeof v) < 0 && errno != EAGAIN) {
            err = -errno;
            break;
        }
        pthread_mutex_lock(&shared.mu);
        shared_job *j = shared.head;
        shared.head = shared.tail = NULL;
        bool stop = shared.stop;
        pthread_mutex_unlock(&shared.mu);
        while (j) {
            shared_job *next = j->next; /* j belongs to its caller once done */
            int e = mt_task_create(NULL, shared_job_task, j, NULL);
            if (e) {
                pthread_mutex_lock(&shared.mu);
                j->result = e;
                j->done = true;
                pthread_cond_signal(&j->done_cv);
                pthread_mutex_unlock(&shared.mu);
            }
            j = next;
        }
        if (stop)
            break;
    }
    /* Stop comes after every caller's answer: the job tasks have finished
     * their requests (at most their return is left). */
    mt_co_forget_fd(shared.efd);
    mt_co_yield();
    int ferr = mt_http_client_free(shared.client);
    return err < 0 ? err : ferr;
}

static void *shared_loop_thread(void *arg)
{
    (void)arg;
    shared.err = mt_run(shared_main, NULL, NULL);
    return NULL;
}

static void shared_wake(void)
{
    uint64_t one = 1;
    if (write(shared.efd, &one, sizeof one) != sizeof one)
        bench_die("eventfd write: %s", strerror(errno));
}

/* mt_http_get_blocking's signature, through the shared loop thread. */
static int shared_get(mt_http_response *resp, const char *url, const mt_http_opts *opts)
{
    shared_job j = {.url = url, .opts = opts, .resp = resp};
    pthread_cond_init(&j.done_cv, NULL);
    pthread_mutex_lock(&shared.mu);
    bool was_empty = shared.head == NULL;
    if (shared.tail)
        shared.tail->next = &j;
    else
        shared.head = &j;
    shared.tail = &j;
    pthread_mutex_unlock(&shared.mu);
    if (was_empty) /* else the loop has a wake-up coming for this list */
        shared_wake();
    pthread_mutex_lock(&shared.mu);
    while (!j.done)
        pthread_cond_wait(&j.done_cv, &shared.mu);
    pthread_mutex_unlock(&shared.mu);
    pthread_cond_destroy(&j.done_cv);
    return j.result;
}

static void run_images_shared(const bench_args *a)
{
    images_run w = {.n = a->n, .why_mu = PTHREAD_MUTEX_INITIALIZER, .get = shared_get};
    images_load(&w);
    shared.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (shared.efd < 0)
        bench_die("eventfd: %s", strerror(errno));
    shared.max_transfers = a->processes;
    /* The loop thread starts inside the clock, as the per-thread loops do. */
    double t0 = bench_now();
    pthread_t loop;
    if (pthread_create(&loop, NULL, shared_loop_thread, NULL))
        bench_die("pthread_create failed");
    double secs = images_threads_run(&w, a->processes);
    pthread_mutex_lock(&shared.mu);
    shared.stop = true;
    pthread_mutex_unlock(&shared.mu);
    shared_wake();
    pthread_join(loop, NULL);
    secs = bench_now() - t0;
    close(shared.efd);
    bench_check(shared.err, "the shared loop thread");
    images_report(a, &w, secs);
}

int main(int argc, char **argv)
{
    static const bench_cmd cmds[] = {
        {"get_1k", "GETs of a 1 KiB file from one thread (coroutines, one client)", 100000,
         20, run_get_1k},
        {"images_threads", "image downloads from plain threads, a loop per thread", 10000,
         20, run_images_threads},
        {"images_shared", "image downloads from plain threads, one shared loop thread", 10000,
         20, run_images_shared},
    };
    return bench_main(argc, argv, cmds, sizeof cmds / sizeof cmds[0]);
}
