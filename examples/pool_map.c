/*
 * pool_map.c - the lecture's map方法 (pool.map): scrape() runs on each of
 * four URLs in a pool of three worker processes; map returns when all four
 * are done.
 *
 * No network here: the "web" is a directory this program makes, with one
 * page per host. Three of the hosts have a page; 'http://xxxyxxx.net' has
 * none and fails as it does in the lecture, with no connection.
 */
#define _GNU_SOURCE
#include <string.h>

#include "common.h"
#include "files.h"

/* The web's directory. Set before the pool starts: its workers are forked
 * copies of this process, so they see it too. */
static char web[PATH_MAX / 2];

/* The page of a URL: the host part, after "://" and before the next '/'. */
static void page_path(const char *url, char *path, size_t size)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    snprintf(path, size, "%s/%.*s", web, (int)strcspn(host, "/"), host);
}

/* The items are the URLs with their NUL, so each arrives as a C string. */
static int scrape(const void *arg, size_t len, mt_buf *out)
{
    (void)len, (void)out;
    const char *url = arg;
    char path[PATH_MAX];
    page_path(url, path, sizeof path);
    FILE *page = fopen(path, "r"); /* requests.get(url) */
    if (page) {
        printf("<Response [200]>\n");
        fclose(page);
    } else { /* except ConnectionError */
        printf("Error Occured  %s\n", url);
    }
    printf("URL %s  Scraped\n", url); /* finally */
    return 0;
}

static const char *urls[] = {
    "https://www.baidu.com",
    "http://www.meituan.com/",
    "http://blog.csdn.net/",
    "http://xxxyxxx.net",
};

/* Put a page on the local web for every URL but the last. */
static int make_web(void)
{
    int err = scratch_dir_new(web, sizeof web, "web");
    if (err < 0)
        return err;
    for (size_t i = 0; i < 3; i++) {
        char path[PATH_MAX];
        page_path(urls[i], path, sizeof path);
        FILE *f = fopen(path, "w");
        if (!f) {
            err = -errno;
            remove_tree(web);
            return err;
        }
        fprintf(f, "<html><body>%s</body></html>\n", urls[i]);
        fclose(f);
    }
    return 0;
}

int main(void)
{
    line_buffered_stdout();
    int err = make_web();
    if (err < 0) {
        fprintf(stderr, "cannot make the local web: %s\n", strerror(-err));
        return 1;
    }

    mt_pool *pool;
    check(mt_pool_new(&pool, &(mt_pool_opts){.processes = 3}), "mt_pool_new");
    mt_iov items[4];
    for (int i = 0; i < 4; i++)
        items[i] = (mt_iov){urls[i], strlen(urls[i]) + 1};
    mt_results *results;
    check(mt_pool_map_iov(pool, scrape, items, 4, NULL, &results), "mt_pool_map");

    /* Python tears the pool down when the program ends; C does it here. */
    mt_results_free(results);
    mt_pool_free(pool);
    remove_tree(web);
    return 0;
}
