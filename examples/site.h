/*
 * site.h - a small web site on 127.0.0.1 for the network examples, so that
 * they run without the Internet: list pages shaped like the lecture's
 * image site (https://www.pkdoutu.com/photo/list/?page=N) and the images
 * they point to.
 *
 *   /                       a home page with a link to each list page
 *   /photo/list/?page=N     list page N (1..SITE_PAGES): SITE_PER_PAGE
 *                           images, each in
 *                             <li class="list-group-item"><img referrerpolicy="no-referrer"
 *                                 src="/static/loading.gif" data-original="/img/N-K.jpg"></li>
 *                           with noise around them and a "next page" link
 *   /img/N-K.jpg            image K of page N: a few KiB of fixed bytes
 *   /static/...             placeholders (the loading picture, the ads)
 *
 * The server runs in a child process (site_start), as a coroutine per
 * connection on the loop of that process, speaking HTTP/1.1 with
 * keep-alive; site_stop ends it. It is a daemon process: should the
 * example die without stopping it, it dies too.
 */
#ifndef MT_EXAMPLES_SITE_H
#define MT_EXAMPLES_SITE_H

#include "multitask.h"

#define SITE_PAGES    10 /* list pages */
#define SITE_PER_PAGE 10 /* images on each */

/* What the lecture's scraper asks of its site: the images of a list page,
 * and the browser it says it is (headers = {"User-Agent": ...}). */
#define LECTURE_XPATH                                                                              \
    "//li[@class='list-group-item']//img[@referrerpolicy='no-referrer']/@data-original"
#define LECTURE_USER_AGENT                                                                         \
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "           \
    "Chrome/99.0.4844.84 Safari/537.36"

typedef struct site {
    mt_process *server; /* the child process that serves it */
    int port;           /* on 127.0.0.1 */
    char url[32];       /* "http://127.0.0.1:PORT" */
    int stop_fd;        /* the pipe that says stop (a byte) */
} site;

/*
 * site_start - start the server in a child process on a free port of
 * 127.0.0.1 and return once it accepts connections. Start it before any
 * thread (the child is a fork). Returns 0 or a negative error code.
 */
int site_start(site *s);

/*
 * site_stop - ask the server to stop (a byte on a pipe of its own), wait
 * for its process and free it. Returns 0 when it stopped cleanly, else a negative error code.
 */
int site_stop(site *s);

/*
 * site_image - replace out's contents with the bytes of image K of page N
 * (what /img/N-K.jpg serves): a JPEG marker, its name, 1000 to 3999 bytes
 * that differ for every image, the end marker. Returns 0 or -ENOMEM.
 */
int site_image(mt_buf *out, int page, int k);

#endif
