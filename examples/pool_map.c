/*
 * pool_map.c - the lecture's map方法 (pool.map): scrape() runs on each of
 * four URLs in a pool of three worker processes; map returns when all four
 * are done.
 *
 * The workers fetch their URLs for real, with mt_http_get_blocking (the
 * lecture's requests.get), from a web site this program starts on
 * 127.0.0.1 (site.h), so that it runs without the Internet. The first three
 * URLs are pages of that site. The fourth, like the lecture's
 * 'http://xxxyxxx.net', has no server behind it: it names a port of
 * 127.0.0.1 on which nothing listens, so its request cannot connect.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "site.h"

/* The items are the URLs with their NUL, so each arrives as a C string. */
static int scrape(const void *arg, size_t len, mt_buf *out)
{
    (void)len, (void)out;
    const char *url = arg;
    mt_http_response r = MT_HTTP_RESPONSE_INIT;
    if (mt_http_get_blocking(&r, url, &(mt_http_opts){.timeout = 10}) == 0) /* requests.get */
        printf("<Response [%ld]>\n", r.status);
    else /* except ConnectionError */
        printf("Error Occured  %s\n", url);
    printf("URL %s  Scraped\n", url); /* finally */
    mt_http_response_free(&r);
    return 0;
}

/* A socket bound to a free port of 127.0.0.1 but not listening: while it
 * is open, nobody else gets the port, and connecting to it is refused.
 * Returns the socket (its port in *port) or -errno. */
static int dead_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
        int err = -errno;
        if (fd >= 0)
            close(fd);
        return err;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int main(void)
{
    line_buffered_stdout();
    site web;
    check(site_start(&web), "starting the local web site");
    int port = 0, dead = dead_port(&port);
    check(dead, "finding a port where nothing listens");

    char urls[4][64];
    snprintf(urls[0], sizeof urls[0], "%s/", web.url);
    snprintf(urls[1], sizeof urls[1], "%s/photo/list/?page=1", web.url);
    snprintf(urls[2], sizeof urls[2], "%s/img/1-1.jpg", web.url);
    snprintf(urls[3], sizeof urls[3], "http://127.0.0.1:%d/", port);

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
    close(dead);
    check(site_stop(&web), "stopping the local web site");
    return 0;
}
