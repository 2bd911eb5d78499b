/*
 * image_scraper.c - the lecture's 案例（抓取斗图）as it was written: a
 * process per list page (ten of them) fetches its page (requests.get),
 * picks the image addresses out of it with the lecture's XPath (lxml) and
 * puts them on a queue that all the processes share; one more process
 * takes them off the queue and hands each to a pool of 20 threads
 * (ThreadPoolExecutor(20)), which download them into img/. It prints a
 * line per image, then what ends the downloader: the queue stayed empty
 * for 20 s (Python prints that exception, queue.Empty, whose text is
 * empty: an empty line), and last the minutes it all took.
 *
 * The site is a local one that the program starts (site.h): its list
 * pages look like the lecture's, but give relative addresses
 * ("/img/1-1.jpg"), resolved against the page's URL as a browser would.
 *
 *   image_scraper [DIR [TIMEOUT]]
 *
 * writes the images into DIR (img by default, made if missing: the lecture
 * asks you to make it first) and lets the downloader wait TIMEOUT seconds
 * (20) for the next address.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "common.h"
#include "site.h"

#define PAGES 10

/* headers = {"User-Agent": ...}: the lecture sends a browser's. */
static const mt_http_opts headers = {.user_agent = LECTURE_USER_AGENT, .timeout = 60};

/* Where the images go. Set before any process starts: they are forked
 * copies of this one, so they see it too. */
static const char *img_dir = "img";

/* The arguments of a process: (url, q) and (q,) in the lecture. */
typedef struct page_args {
    mt_queue *q;
    char url[128];
} page_args;

typedef struct download_args {
    mt_queue *q;
    double timeout;
} download_args;

/* A failure, said on stderr (Python would print a traceback). */
static int fail(const char *url, const char *what)
{
    fprintf(stderr, "%s: %s\n", url, what);
    return -EIO;
}

/* q.put(src.strip()), for each address the XPath finds. */
static int put_src(void *q, const char *src, size_t len)
{
    return mt_queue_put(q, src, len, MT_FOREVER);
}

/*
 * 进程1: 负责提取页面中所有的img的下载地址, 将图片的下载地址通过队列传输给
 * 另一个进程进行下载.
 */
static int get_img_src(const void *arg, size_t len, mt_buf *out)
{
    (void)len, (void)out;
    page_args a;
    memcpy(&a, arg, sizeof a);
    mt_http_response resp = MT_HTTP_RESPONSE_INIT;
    mt_html_doc *tree = NULL;
    int err = mt_http_get_blocking(&resp, a.url, &headers);
    if (err)
        err = fail(a.url, resp.error);
    else if (resp.status != 200)
        err = fail(a.url, "not a 200 response");
    else if ((err = mt_html_parse(&tree, resp.body.data, resp.body.len, resp.url, NULL)) < 0)
        fail(a.url, mt_strerror(err));
    else if ((err = mt_html_links(tree, LECTURE_XPATH, put_src, a.q)) < 0)
        fail(a.url, mt_strerror(err));
    mt_html_doc_free(tree);
    mt_http_response_free(&resp); /* resp.close() */
    mt_queue_free(a.q);           /* this process's handle of the queue */
    return err;
}

/* 单纯的下载功能: one image, in a thread of the pool. */
static int download_one(const void *arg, size_t len, mt_buf *out)
{
    (void)len, (void)out;
    const char *s = arg;
    mt_http_response resp = MT_HTTP_RESPONSE_INIT;
    int err = mt_http_get_blocking(&resp, s, &headers);
    if (err || resp.status != 200) {
        err = fail(s, err ? resp.error : "not a 200 response");
        mt_http_response_free(&resp);
        return err;
    }
    const char *file_name = strrchr(s, '/') + 1; /* s.split("/")[-1] */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", img_dir, file_name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(resp.body.data, 1, resp.body.len, f) != resp.body.len)
        err = fail(path, strerror(errno));
    if (f && fclose(f) != 0 && !err)
        err = fail(path, strerror(errno));
    if (!err)
        printf("一张图片下载完毕 %s\n", file_name);
    mt_http_response_free(&resp);
    return err;
}

/* 进程2: 将图片的下载地址从队列中提取出来, 进行下载. */
static int download_img(const void *arg, size_t len, mt_buf *out)
{
    (void)len, (void)out;
    download_args a;
    memcpy(&a, arg, sizeof a);
    mt_executor *t; /* with ThreadPoolExecutor(20) as t: */
    int err = mt_executor_new(&t, &(mt_executor_opts){.max_workers = 20});
    if (err)
        return err;
    mt_buf s = MT_BUF_INIT;
    for (;;) {
        err = mt_queue_get(a.q, &s, a.timeout); /* s = q.get(timeout=20) */
        if (err) {                              /* except Exception as e: */
            printf("%s\n", err == -ETIMEDOUT ? "" : mt_strerror(err)); /* print(e) */
            break;
        }
        mt_future *f;
        if ((err = mt_executor_submit(t, download_one, s.data, s.len + 1, &f)) < 0)
            break;
        mt_future_free(f); /* nobody asks for its result, as in the lecture */
    }
    mt_executor_free(t); /* leaving `with`: the downloads still queued finish */
    mt_buf_free(&s);
    mt_queue_free(a.q);
    return err == -ETIMEDOUT ? 0 : err;
}

/* Join a process; false (and a message) when it failed. */
static bool joined_well(mt_process *p)
{
    int code = 0;
    mt_process_join(p, MT_FOREVER);
    if (mt_process_exitcode(p, &code) && code == 0)
        return true;
    fprintf(stderr, "%s ended with exit code %d\n", mt_process_name(p), code);
    return false;
}

int main(int argc, char **argv)
{
    line_buffered_stdout();
    if (argc > 1)
        img_dir = argv[1];
    double timeout = argc > 2 ? atof(argv[2]) : 20;
    if (mkdir(img_dir, 0777) < 0 && errno != EEXIST)
        check(-errno, img_dir);
    site web;
    check(site_start(&web), "starting the local web site");

    double t1 = mt_time();
    mt_queue *q; /* 两个进程必须使用同一个队列. 否则数据传输不了 */
    check(mt_queue_new(&q, NULL), "mt_queue_new");
    mt_process *p_list[PAGES], *p2;
    for (int i = 1; i <= PAGES; i++) {
        page_args a = {.q = q};
        snprintf(a.url, sizeof a.url, "%s/photo/list/?page=%d", web.url, i);
        check(mt_process_new(&p_list[i - 1], get_img_src, &a, sizeof a, NULL), "mt_process_new");
    }
    for (int i = 0; i < PAGES; i++)
        check(mt_process_start(p_list[i]), "mt_process_start");
    download_args d = {q, timeout};
    check(mt_process_new(&p2, download_img, &d, sizeof d, NULL), "mt_process_new");
    check(mt_process_start(p2), "mt_process_start");
    bool ok = true;
    for (int i = 0; i < PAGES; i++)
        ok = joined_well(p_list[i]) && ok;
    ok = joined_well(p2) && ok;
    printf("%.15g\n", (mt_time() - t1) / 60);

    for (int i = 0; i < PAGES; i++)
        mt_process_free(p_list[i]);
    mt_process_free(p2);
    mt_queue_free(q);
    check(site_stop(&web), "stopping the local web site");
    return ok ? 0 : 1;
}
