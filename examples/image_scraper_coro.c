/*
 * image_scraper_coro.c - the lecture's image scraper (image_scraper.c)
 * done the coroutine way: one process, one thread, one event loop, one
 * HTTP client whose connections all the requests share. The roles stay
 * the lecture's:
 *
 *   get_img_src   a task per list page instead of a process: fetch the
 *                 page, pick the addresses out with the same XPath, put
 *                 them on q (an asyncio.Queue instead of a
 *                 multiprocessing.Queue);
 *   download_img  one task: take each address off q, waiting at most 20 s,
 *                 and hand it to the downloaders;
 *   download_one  20 tasks instead of the 20 threads of the
 *                 ThreadPoolExecutor, taking their work from `jobs`, as the
 *                 executor's threads take theirs from its own queue.
 *
 * Each task suspends while its request is on the wire, so the ten pages
 * and twenty downloads are all in flight at once without a process or a
 * thread more. It prints what image_scraper prints: a line per image, an
 * empty line (the timeout's exception, printed) and the minutes it took.
 *
 *   image_scraper_coro [DIR [TIMEOUT]]    as image_scraper
 */
#define _GNU_SOURCE
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "site.h"

#define PAGES       10
#define DOWNLOADERS 20

static const mt_http_opts headers = {.user_agent = LECTURE_USER_AGENT, .timeout = 60};

/* What every task shares: it all runs in one thread, so plain globals do. */
static const char *img_dir = "img";
static double timeout = 20;
static mt_http_client *session;
static mt_aqueue *q;    /* image addresses (malloc'd strings) from the pages */
static mt_aqueue *jobs; /* the same, handed to the downloaders */
static int failures;

static void fail(const char *url, const char *what)
{
    fprintf(stderr, "%s: %s\n", url, what);
    failures++;
}

/* 协程1: 提取页面中所有的img的下载地址, 放进队列. */
static int get_img_src(void *arg)
{
    const char *url = arg;
    mt_http_response resp = MT_HTTP_RESPONSE_INIT;
    mt_html_doc *tree = NULL;
    mt_buf srcs = MT_BUF_INIT;
    int n = mt_http_get(session, url, &headers, &resp); /* await session.get(url) */
    if (n)
        fail(url, resp.error);
    else if (resp.status != 200)
        fail(url, "not a 200 response");
    else if ((n = mt_html_parse(&tree, resp.body.data, resp.body.len, resp.url, NULL)) < 0 ||
             (n = mt_html_links_list(tree, LECTURE_XPATH, &srcs)) < 0)
        fail(url, mt_strerror(n));
    const char *src = srcs.data;
    for (int i = 0; i < n; i++, src += strlen(src) + 1) {
        char *s = strdup(src);
        if (!s || mt_aqueue_put(q, &s) != 0) { /* await q.put(src) */
            free(s);
            fail(url, "cannot queue an address");
            break;
        }
    }
    mt_buf_free(&srcs);
    mt_html_doc_free(tree);
    mt_http_response_free(&resp);
    return 0;
}

/* 单纯的下载功能: one image. */
static void download_one(const char *s)
{
    mt_http_response resp = MT_HTTP_RESPONSE_INIT;
    if (mt_http_get(session, s, &headers, &resp) != 0 || resp.status != 200) {
        fail(s, resp.error[0] ? resp.error : "not a 200 response");
        mt_http_response_free(&resp);
        return;
    }
    const char *file_name = strrchr(s, '/') + 1; /* s.split("/")[-1] */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", img_dir, file_name);
    /* A small file: written at once, as aiohttp programs do. */
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(resp.body.data, 1, resp.body.len, f) == resp.body.len;
    if (f && fclose(f) != 0)
        ok = false;
    if (ok)
        printf("一张图片下载完毕 %s\n", file_name);
    else
        fail(path, strerror(errno));
    mt_http_response_free(&resp);
}

/* A downloader: the work of one of the executor's threads. */
static int downloader(void *arg)
{
    (void)arg;
    char *s;
    while (mt_aqueue_get(jobs, &s) == 0) {
        download_one(s);
        free(s);
    }
    return 0; /* MT_ECLOSED: shut down and drained */
}

/* 协程2: 将图片的下载地址从队列中提取出来, 交给下载者. */
static int download_img(void *arg)
{
    (void)arg;
    mt_task *t[DOWNLOADERS]; /* with ThreadPoolExecutor(20) as t: */
    for (int i = 0; i < DOWNLOADERS; i++)
        check(mt_task_create(&t[i], downloader, NULL, NULL), "mt_task_create");
    for (;;) {
        char *s;
        mt_co_timeout scope; /* s = await asyncio.wait_for(q.get(), 20) */
        mt_co_timeout_begin(&scope, timeout);
        int err = mt_aqueue_get(q, &s);
        mt_co_timeout_end(&scope);
        if (err) {                                                      /* except ... as e: */
            printf("%s\n", err == -ETIMEDOUT ? "" : mt_strerror(err)); /* print(e) */
            break;
        }
        mt_aqueue_put(jobs, &s); /* t.submit(download_one, s) */
    }
    mt_aqueue_shutdown(jobs, false); /* leaving `with`: what is queued still runs */
    mt_co_gather(t, DOWNLOADERS, NULL, NULL);
    for (int i = 0; i < DOWNLOADERS; i++)
        mt_task_free(t[i]);
    return 0;
}

static int main_coro(void *arg)
{
    const site *web = arg;
    check(mt_http_client_new(&session, NULL), "mt_http_client_new");
    char urls[PAGES][64];
    mt_task *p_list[PAGES], *p2;
    for (int i = 1; i <= PAGES; i++) {
        snprintf(urls[i - 1], sizeof urls[i - 1], "%s/photo/list/?page=%d", web->url, i);
        check(mt_task_create(&p_list[i - 1], get_img_src, urls[i - 1], NULL), "mt_task_create");
    }
    check(mt_task_create(&p2, download_img, NULL, NULL), "mt_task_create");
    mt_co_gather(p_list, PAGES, NULL, NULL);
    mt_task_await(p2);
    for (int i = 0; i < PAGES; i++)
        mt_task_free(p_list[i]);
    mt_task_free(p2);
    return mt_http_client_free(session);
}

int main(int argc, char **argv)
{
    line_buffered_stdout();
    if (argc > 1)
        img_dir = argv[1];
    if (argc > 2)
        timeout = atof(argv[2]);
    if (mkdir(img_dir, 0777) < 0 && errno != EEXIST)
        check(-errno, img_dir);
    site web;
    check(site_start(&web), "starting the local web site");

    double t1 = mt_time();
    check(mt_aqueue_new(&q, NULL), "mt_aqueue_new");
    check(mt_aqueue_new(&jobs, NULL), "mt_aqueue_new");
    check(mt_run(main_coro, &web, NULL), "the event loop");
    printf("%.15g\n", (mt_time() - t1) / 60);

    /* Addresses left over (none, unless a downloader failed to start). */
    char *s;
    while (mt_aqueue_get_nowait(q, &s) == 0)
        free(s);
    mt_aqueue_free(q);
    mt_aqueue_free(jobs);
    check(site_stop(&web), "stopping the local web site");
    return failures ? 1 : 0;
}
