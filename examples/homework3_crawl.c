/*
 * homework3_crawl.c - homework 3's optional part (作业10, 3, 选做;
 * examples/py/homework3_crawl.py): crawl some pages with coroutines,
 * producers and consumers on one queue scheduled by the event loop, as the
 * homework suggests doing with aiohttp. Three workers take page addresses
 * off the queue, fetch each page (mt_http_get suspends only the worker
 * that asked), print its title and how many images it lists, and put the
 * links to the site's other pages back on the queue, each address once:
 * every worker consumes and produces. mt_aqueue_join tells when every page
 * found has been crawled; the workers are then cancelled.
 *
 * The site is a local one the program starts (site.h): a home page and
 * ten list pages linked to one another, 100 images in all.
 */
#define _GNU_SOURCE
#include <string.h>

#include "common.h"
#include "site.h"

#define WORKERS   3
#define MAX_PAGES 64

/* What the workers share: they all run in one thread. */
static mt_http_client *session;
static mt_aqueue *q;              /* addresses to crawl (malloc'd strings) */
static char *seen[MAX_PAGES];     /* every address ever queued: Python's set */
static int nseen;
static char site_root[48];        /* "http://127.0.0.1:PORT/": links under it are followed */
static int pages, images, failures;

/* seen.add(link) if it is new (and there is room); whether it was new. */
static bool first_sight(const char *link)
{
    for (int i = 0; i < nseen; i++)
        if (strcmp(seen[i], link) == 0)
            return false;
    if (nseen == MAX_PAGES || !(seen[nseen] = strdup(link)))
        return false;
    nseen++;
    return true;
}

/* Queue a copy of url. */
static void put(const char *url)
{
    char *s = strdup(url);
    if (!s || mt_aqueue_put(q, &s) != 0) {
        free(s);
        failures++;
    }
}

static void crawl(const char *url)
{
    mt_http_response resp = MT_HTTP_RESPONSE_INIT;
    mt_html_doc *tree = NULL;
    mt_buf title = MT_BUF_INIT, srcs = MT_BUF_INIT, links = MT_BUF_INIT;
    int err = mt_http_get(session, url, &(mt_http_opts){.timeout = 30}, &resp);
    int n = 0, nlinks = 0;
    if (err || resp.status != 200) {
        fprintf(stderr, "%s: %s\n", url, err ? resp.error : "not a 200 response");
        failures++;
    } else if ((err = mt_html_parse(&tree, resp.body.data, resp.body.len, resp.url, NULL)) < 0 ||
               (err = mt_html_xpath_list(tree, "//title/text()", &title)) < 0 ||
               (err = n = mt_html_xpath_list(tree, LECTURE_XPATH, &srcs)) < 0 ||
               (err = nlinks = mt_html_links_list(tree, "//a/@href", &links)) < 0) {
        fprintf(stderr, "%s: %s\n", url, mt_strerror(err));
        failures++;
    } else {
        printf("%s: %d images\n", title.len ? title.data : "", n);
        pages++;
        images += n;
        const char *link = links.data;
        for (int i = 0; i < nlinks; i++, link += strlen(link) + 1)
            if (strncmp(link, site_root, strlen(site_root)) == 0 && first_sight(link))
                put(link); /* await q.put(link) */
    }
    mt_buf_free(&links);
    mt_buf_free(&srcs);
    mt_buf_free(&title);
    mt_html_doc_free(tree);
    mt_http_response_free(&resp);
}

static int worker(void *arg)
{
    (void)arg;
    for (;;) {
        char *url;
        int err = mt_aqueue_get(q, &url); /* url = await q.get() */
        if (err)
            return err; /* cancelled */
        crawl(url);
        free(url);
        mt_aqueue_task_done(q);
    }
}

static int main_coro(void *arg)
{
    const char *start = arg;
    check(mt_http_client_new(&session, NULL), "mt_http_client_new"); /* aiohttp.ClientSession() */
    first_sight(start);
    put(start);
    double t0 = mt_time();
    mt_task *workers[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        check(mt_task_create(&workers[i], worker, NULL, NULL), "mt_task_create");
    mt_aqueue_join(q); /* until every page found has been crawled */
    for (int i = 0; i < WORKERS; i++)
        mt_task_cancel(workers[i]);
    mt_co_gather(workers, WORKERS, NULL, &(mt_gather_opts){.return_exceptions = true});
    for (int i = 0; i < WORKERS; i++)
        mt_task_free(workers[i]);
    printf("crawled %d pages, %d images in %.2f s\n", pages, images, mt_time() - t0);
    return mt_http_client_free(session);
}

int main(void)
{
    line_buffered_stdout();
    site web;
    check(site_start(&web), "starting the local web site");
    snprintf(site_root, sizeof site_root, "%s/", web.url);
    check(mt_aqueue_new(&q, NULL), "mt_aqueue_new");
    check(mt_run(main_coro, site_root, NULL), "the event loop");
    mt_aqueue_free(q);
    for (int i = 0; i < nseen; i++)
        free(seen[i]);
    check(site_stop(&web), "stopping the local web site");
    return failures ? 1 : 0;
}
