/*
 * test_mtget.c - the mtget program, run for real against the test server
 * (mt-test-httpd on 127.0.0.1): download lists, the seed's crawl with
 * --follow and --depth, dedupe, failures named with their reasons, retries
 * with Retry-After, broken bodies, a gzip bomb, a redirect to file:,
 * hostile names, a planted link, robots.txt, --continue after SIGKILL,
 * SIGINT, usage errors and the JSON progress. Every test says what it
 * expects and looks at the files on disk: never a partial or wrong body
 * under a final name, nothing outside -P, no temporary left behind.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <time.h>

#include "mtget_helpers.h"
#include "tls_certs.h"

#define SEED_XPATH "//li[@class=\"list-group-item\"]/img/@data-original"

/* A test's server (started) and scratch directory (made), and their end. */
static void test_begin(test_httpd *h, scratch *s)
{
    test_httpd_start(h, NULL);
    scratch_new(s);
}

static void test_end(test_httpd *h, scratch *s)
{
    scratch_free(s);
    test_httpd_stop(h);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A list page like the lecture's gallery: images, and a link to `next`. */
static void put_list_page(test_httpd *h, const char *name, const char *const *imgs,
                          const char *next)
{
    char page[8192];
    size_t n = (size_t)snprintf(page, sizeof page,
                                "<html><head><title>list</title></head><body><ul class=\"list-group\">\n");
    for (int i = 0; imgs[i]; i++)
        n += (size_t)snprintf(page + n, sizeof page - n,
                              "<li class=\"list-group-item\"><img src=\"/static/loading.gif\" "
                              "data-original=\"%s\" alt=\"x\"></li>\n",
                              imgs[i]);
    n += (size_t)snprintf(page + n, sizeof page - n, "</ul>%s%s%s</body></html>\n",
                          next ? "<a class=\"next\" href=\"" : "", next ? next : "",
                          next ? "\">next</a>" : "");
    test_httpd_put(h, name, page, n);
}

LEAK_TEST(mtget, download_list, .timeout = 60)
{
    /* Expect: every URL of the -i list (and an operand) saved under its own
     * name with its exact bytes, the same URL spelled three ways fetched
     * once, exit 0, no temporary left; a second run with -c fetches
     * nothing and skips all. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    char *a = random_bytes(300000, 1), *b = random_bytes(5000, 2);
    test_httpd_put(&h, "files/a.bin", a, 300000);
    test_httpd_put(&h, "files/b.dat", b, 5000);
    test_httpd_put(&h, "files/empty.txt", "", 0);
    char list[1024], listpath[128];
    snprintf(list, sizeof list,
             "# a comment\n"
             "http://127.0.0.1:%d/files/a.bin\n\n"
             "  HTTP://127.0.0.1:%d/files/./a.bin#fragment  \n"
             "http://127.0.0.1:%d/files/%%62.dat\n"
             "http://127.0.0.1:%d/files/empty.txt\n",
             h.port, h.port, h.port, h.port);
    snprintf(listpath, sizeof listpath, "%s/urls.txt", s.dir);
    write_file(listpath, list);
    char *a_again = url_of(&h, "/files/a.bin");
    mtget_result r;
    mtget_run(&s, &r, "-q", "-P", s.out, "-i", listpath, a_again);
    cr_expect_eq(r.status, 0, "status %d, stderr: %s", r.status, r.err);
    cr_expect(file_is(s.out, "a.bin", a, 300000), "a.bin is not the file");
    cr_expect(file_is(s.out, "b.dat", b, 5000), "b.dat is not the file");
    cr_expect_eq(file_size(s.out, "empty.txt"), 0);
    int tmps = -1;
    cr_expect_eq(dir_entries(s.out, &tmps), 3, "only the three files");
    cr_expect_eq(tmps, 0);
    cr_expect_eq(log_count_is(&h, "GET /files/a.bin ", 1), 1, "a.bin fetched once");
    cr_expect_eq(log_count_is(&h, "GET /files/b.dat ", 1), 1);
    cr_expect_str_eq(r.err, "", "-q prints nothing on success");

    mtget_run(&s, &r, "-P", s.out, "-c", "-i", listpath, a_again);
    cr_expect_eq(r.status, 0, "status %d, stderr: %s", r.status, r.err);
    cr_expect_eq(log_count_is(&h, "GET /files/a.bin ", 1), 1, "-c skips what is done");
    cr_expect(strstr(r.err, "3 skipped"), "summary: %s", r.err);
    cr_expect_eq(dir_entries(s.out, NULL), 3);
    free(a);
    free(b);
    free(a_again);
    test_end(&h, &s);
}

LEAK_TEST(mtget, input_from_stdin, .timeout = 60)
{
    /* Expect: "-i -" reads the URLs from standard input. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    test_httpd_put(&h, "one.txt", "one\n", 4);
    char list[256], listpath[128];
    snprintf(list, sizeof list, "http://127.0.0.1:%d/one.txt\n", h.port);
    snprintf(listpath, sizeof listpath, "%s/urls.txt", s.dir);
    write_file(listpath, list);
    char *argv[] = {"mtget", "-q", "-P", s.out, "-i", "-", NULL};
    mtget_result r;
    mtget_wait(&s, mtget_start(&s, listpath, argv), &r);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect(file_is(s.out, "one.txt", "one\n", 4));
    test_end(&h, &s);
}

LEAK_TEST(mtget, input_read_as_it_comes, .timeout = 60)
{
    /* Expect: URLs from a pipe are fetched as they come, before the pipe
     * ends: the first file is on disk while the writer still holds the
     * pipe open, and the second follows once written. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    test_httpd_put(&h, "first.txt", "1", 1);
    test_httpd_put(&h, "second.txt", "2", 1);
    char fifo[128], line[128];
    snprintf(fifo, sizeof fifo, "%s/fifo", s.dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    char *argv[] = {"mtget", "-q", "-P", s.out, "-i", "-", NULL};
    pid_t pid = mtget_start(&s, fifo, argv);
    int w = open(fifo, O_WRONLY | O_CLOEXEC);
    cr_assert_geq(w, 0);
    int n = snprintf(line, sizeof line, "http://127.0.0.1:%d/first.txt\n", h.port);
    cr_assert_eq(write(w, line, (size_t)n), n);
    double t0 = now();
    while (file_size(s.out, "first.txt") != 1 && now() - t0 < 20)
        usleep(10000);
    cr_expect_eq(file_size(s.out, "first.txt"), 1, "fetched while the list goes on");
    n = snprintf(line, sizeof line, "http://127.0.0.1:%d/second.txt\n", h.port);
    cr_assert_eq(write(w, line, (size_t)n), n);
    close(w);
    mtget_result r;
    mtget_wait(&s, pid, &r);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect(file_is(s.out, "second.txt", "2", 1));
    test_end(&h, &s);
}

LEAK_TEST(mtget, delay_spaces_requests_to_a_host, .timeout = 60)
{
    /* Expect: with --delay 0.4, three files of one host take at least two
     * waits of 0.2 s (the least of 0.5x-1.5x) even with -j 3. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    test_httpd_put(&h, "a", "a", 1);
    test_httpd_put(&h, "b", "b", 1);
    test_httpd_put(&h, "c", "c", 1);
    char *a = url_of(&h, "/a"), *b = url_of(&h, "/b"), *c = url_of(&h, "/c");
    mtget_result r;
    double t0 = now();
    mtget_run(&s, &r, "-q", "-j", "3", "--delay", "0.4", "-P", s.out, a, b, c);
    double took = now() - t0;
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect_eq(dir_entries(s.out, NULL), 3);
    cr_expect_geq(took, 0.4, "took %.2f s", took);
    free(a);
    free(b);
    free(c);
    test_end(&h, &s);
}

LEAK_TEST(mtget, crawl_seed_xpath_follow_depth, .timeout = 60)
{
    /* Expect: with the seed's XPath as written, the images of list pages 1
     * and 2 (--depth 1 follows one "next" link) are downloaded, relative
     * links resolved against the page (and a <base>), an image listed on
     * both pages fetched once, page 3 never fetched, exit 0. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    const char *p1[] = {"../img/p1a.jpg", "/img/p1b.jpg", "/img/both.jpg", NULL};
    const char *p2[] = {"../img/p2a.jpg", "/img/both.jpg", NULL};
    const char *p3[] = {"/img/p3a.jpg", NULL};
    put_list_page(&h, "list/1.html", p1, "2.html");
    put_list_page(&h, "list/2.html", p2, "/list/3.html");
    put_list_page(&h, "list/3.html", p3, NULL);
    const char *imgs[] = {"p1a.jpg", "p1b.jpg", "both.jpg", "p2a.jpg", "p3a.jpg"};
    char *data[5];
    for (int i = 0; i < 5; i++) {
        char name[64];
        data[i] = random_bytes(2000 + (size_t)i, 10 + (unsigned)i);
        snprintf(name, sizeof name, "img/%s", imgs[i]);
        test_httpd_put(&h, name, data[i], 2000 + (size_t)i);
    }
    char *page = url_of(&h, "/list/1.html");
    mtget_result r;
    mtget_run(&s, &r, "-P", s.out, "--pages", page, "--xpath", SEED_XPATH, "--follow",
              "//a[@class=\"next\"]/@href", "--depth", "1");
    cr_expect_eq(r.status, 0, "status %d, stderr: %s", r.status, r.err);
    for (int i = 0; i < 4; i++)
        cr_expect(file_is(s.out, imgs[i], data[i], 2000 + (size_t)i), "%s", imgs[i]);
    cr_expect_eq(file_size(s.out, "p3a.jpg"), -1, "page 3 is beyond --depth 1");
    cr_expect_eq(dir_entries(s.out, NULL), 4);
    cr_expect_eq(log_count_is(&h, "GET /img/both.jpg ", 1), 1, "deduplicated across pages");
    cr_expect_eq(log_count_is(&h, "GET /list/3.html ", 0), 0);
    cr_expect(strstr(r.err, "downloaded 4 files"), "summary: %s", r.err);
    cr_expect(strstr(r.err, "2 pages"), "summary: %s", r.err);

    /* a page list from a file, and no --follow: the pages listed only */
    char list[512], listpath[128];
    snprintf(list, sizeof list, "http://127.0.0.1:%d/list/3.html\nhttp://127.0.0.1:%d/list/3.html\n",
             h.port, h.port);
    snprintf(listpath, sizeof listpath, "%s/pages.txt", s.dir);
    write_file(listpath, list);
    scratch s2;
    scratch_new(&s2);
    mtget_run(&s2, &r, "-q", "-P", s2.out, "--pages", listpath, "--xpath", SEED_XPATH);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect(file_is(s2.out, "p3a.jpg", data[4], 2004));
    cr_expect_eq(dir_entries(s2.out, NULL), 1);
    cr_expect_eq(log_count_is(&h, "GET /list/3.html ", 1), 1, "a page listed twice is fetched once");
    for (int i = 0; i < 5; i++)
        free(data[i]);
    free(page);
    scratch_free(&s2);
    test_end(&h, &s);
}

LEAK_TEST(mtget, failures_are_named, .timeout = 60)
{
    /* Expect: a 404 and a 500 fail their URLs, each named on stderr with
     * its status, and counted in --stats-json; the good file is saved;
     * nothing is saved for the failures; exit 1. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    test_httpd_put(&h, "good.txt", "good\n", 5);
    char *good = url_of(&h, "/good.txt"), *missing = url_of(&h, "/missing.txt"),
         *broken = url_of(&h, "/_/status/500");
    char stats[128], text[65536], want[256];
    snprintf(stats, sizeof stats, "%s/stats.json", s.dir);
    mtget_result r;
    mtget_run(&s, &r, "-P", s.out, "--retries", "0", "--stats-json", stats, good, missing, broken);
    cr_expect_eq(r.status, 1, "status %d", r.status);
    cr_expect(file_is(s.out, "good.txt", "good\n", 5));
    int tmps = -1;
    cr_expect_eq(dir_entries(s.out, &tmps), 1, "only the good file");
    cr_expect_eq(tmps, 0);
    snprintf(want, sizeof want, "mtget: cannot download '%s': HTTP 404", missing);
    cr_expect(strstr(r.err, want), "stderr: %s", r.err);
    snprintf(want, sizeof want, "mtget: cannot download '%s': HTTP 500", broken);
    cr_expect(strstr(r.err, want), "stderr: %s", r.err);
    cr_assert_gt(slurp_file(stats, text, sizeof text), 0);
    cr_expect(strstr(text, "\"status\":1"), "%s", text);
    cr_expect(strstr(text, "\"downloaded\":1"), "%s", text);
    cr_expect(strstr(text, "\"failed\":2"), "%s", text);
    cr_expect(strstr(text, "\"reason\":\"HTTP 404\""), "%s", text);
    cr_expect(strstr(text, "\"reason\":\"HTTP 500\""), "%s", text);
    free(good);
    free(missing);
    free(broken);
    test_end(&h, &s);
}

LEAK_TEST(mtget, retries_honour_retry_after, .timeout = 60)
{
    /* Expect: a URL that answers 503 with Retry-After: 1 twice, then the
     * file, is saved after three requests spaced by the second asked for;
     * one that always answers 503 fails after --retries 1 (two requests). */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    char *flaky = url_of(&h, "/_/flaky?fail=2&retry-after=1&bytes=3000");
    char *always = url_of(&h, "/_/status/503?retry-after=1");
    mtget_result r;
    double t0 = now();
    mtget_run(&s, &r, "-q", "-P", s.out, "--retries", "3", flaky);
    double took = now() - t0;
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    char *want = pattern(3000);
    cr_expect(file_is(s.out, "flaky", want, 3000));
    cr_expect_eq(log_count_is(&h, "GET /_/flaky", 3), 3);
    cr_expect_geq(took, 1.9, "two waits of 1 s, took %.2f s", took);
    mtget_run(&s, &r, "-P", s.out, "--retries", "1", always);
    cr_expect_eq(r.status, 1);
    cr_expect_eq(log_count_is(&h, "GET /_/status/503", 2), 2);
    cr_expect(strstr(r.err, "HTTP 503"), "stderr: %s", r.err);
    cr_expect(strstr(r.err, "1 retries"), "summary: %s", r.err);
    cr_expect_eq(dir_entries(s.out, NULL), 1);
    free(want);
    free(flaky);
    free(always);
    test_end(&h, &s);
}

LEAK_TEST(mtget, broken_bodies_never_get_a_name, .timeout = 90)
{
    /* Expect: a body reset midway, one shorter than its Content-Length and
     * one with broken chunking all fail (exit 1, each named), and nothing
     * is left: no file under a final name, no temporary. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    char *reset = url_of(&h, "/_/reset?after=20000&bytes=100000");
    char *shortb = url_of(&h, "/_/short?claim=50000&send=1000");
    char *chunk = url_of(&h, "/_/badchunk?kind=hex");
    mtget_result r;
    mtget_run(&s, &r, "-P", s.out, "--retries", "1", reset, shortb, chunk);
    cr_expect_eq(r.status, 1);
    int tmps = -1;
    cr_expect_eq(dir_entries(s.out, &tmps), 0, "nothing in -P");
    cr_expect_eq(tmps, 0);
    cr_expect(strstr(r.err, "cannot download 'http"), "stderr: %s", r.err);
    cr_expect(strstr(r.err, "3 failed"), "stderr: %s", r.err);
    cr_expect_eq(log_count_is(&h, "GET /_/reset", 2), 2, "a reset is tried again");
    free(reset);
    free(shortb);
    free(chunk);
    test_end(&h, &s);
}

LEAK_TEST(mtget, gzip_bomb_and_file_redirect_refused, .timeout = 60)
{
    /* Expect: a gzip body that inflates to 1 GiB stops at --max-size (it
     * fails as "larger than --max-size", nothing saved, quickly), and a
     * redirect to file:///etc/passwd is refused: nothing named passwd; a
     * list page over --page-max-size fails. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    char *bomb = url_of(&h, "/_/gzipbomb?mb=1024");
    char *redir = url_of(&h, "/_/redirect-scheme?to=file:///etc/passwd");
    mtget_result r;
    double t0 = now();
    mtget_run(&s, &r, "-P", s.out, "--max-size", "1M", bomb, redir);
    cr_expect_lt(now() - t0, 20, "the bomb is not inflated whole");
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "larger than --max-size"), "stderr: %s", r.err);
    cr_expect(strstr(r.err, "redirect"), "stderr: %s", r.err);
    /* a list page is held in memory only up to --page-max-size */
    char *huge = url_of(&h, "/_/html/huge?mb=20");
    mtget_run(&s, &r, "-P", s.out, "--no-robots", "--page-max-size", "1M", "--pages", huge,
              "--xpath", SEED_XPATH);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "larger than --page-max-size"), "stderr: %s", r.err);
    free(huge);
    int tmps = -1;
    cr_expect_eq(dir_entries(s.out, &tmps), 0);
    cr_expect_eq(tmps, 0);
    free(bomb);
    free(redir);
    test_end(&h, &s);
}

LEAK_TEST(mtget, hostile_names_stay_inside, .timeout = 60)
{
    /* Expect: names that try to climb out ("../" encoded), carry control
     * characters or are 300 bytes long, and a Content-Disposition name
     * with a path, all land inside -P under sanitised names; nothing is
     * written beside -P. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    char longpath[512] = "/_/any/";
    for (int i = 0; i < 300; i++)
        strcat(longpath, "x");
    strcat(longpath, ".txt?bytes=10");
    char *climb = url_of(&h, "/_/any/..%2F..%2Fescape.txt?bytes=10");
    char *ctl = url_of(&h, "/_/any/a%0Ab%01c.txt?bytes=10");
    char *lng = url_of(&h, longpath);
    char *cd = url_of(&h, "/_/name?filename=..%2F..%2Fcd.txt&bytes=10");
    mtget_result r;
    mtget_run(&s, &r, "-q", "-P", s.out, "--content-disposition", climb, ctl, lng, cd);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect_eq(dir_entries(s.dir, NULL), 3, "only out/, stdout and stderr beside -P");
    cr_expect_eq(dir_entries(s.out, NULL), 4);
    cr_expect_eq(file_size(s.out, "abc.txt"), 10, "control characters removed");
    cr_expect_eq(file_size(s.out, "cd.txt"), 10, "the server's name without its path");
    DIR *d = opendir(s.out);
    struct dirent *e;
    bool long_ok = false, climb_ok = false;
    while (d && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        cr_expect((!strchr(e->d_name, '/') && e->d_name[0] != '.') || !strcmp(e->d_name, ".") ||
                      !strcmp(e->d_name, "..") || !strcmp(e->d_name, ".mtget-journal"),
                  "name '%s'", e->d_name);
        long_ok |= n <= 255 && n > 200 && strcmp(e->d_name + n - 4, ".txt") == 0;
        climb_ok |= strstr(e->d_name, "escape.txt") != NULL;
    }
    if (d)
        closedir(d);
    cr_expect(long_ok, "the long name cut, keeping .txt");
    cr_expect(climb_ok, "the climbing name kept inside");
    free(climb);
    free(ctl);
    free(lng);
    free(cd);
    test_end(&h, &s);
}

LEAK_TEST(mtget, planted_link_not_followed, .timeout = 60)
{
    /* Expect: a symbolic link planted in -P under the file's name is left
     * alone (its target outside unchanged); the file takes the next name,
     * a.1.bin. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    char outside[128], link[160];
    snprintf(outside, sizeof outside, "%s/outside", s.dir);
    write_file(outside, "secret\n");
    cr_assert_eq(mkdir(s.out, 0755), 0);
    snprintf(link, sizeof link, "%s/a.bin", s.out);
    cr_assert_eq(symlink(outside, link), 0);
    test_httpd_put(&h, "a.bin", "payload", 7);
    char *u = url_of(&h, "/a.bin");
    mtget_result r;
    mtget_run(&s, &r, "-q", "-P", s.out, u);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect(file_is(s.dir, "outside", "secret\n", 7), "the link's target is untouched");
    struct stat st;
    cr_expect(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "the link is still a link");
    cr_expect(file_is(s.out, "a.1.bin", "payload", 7));
    free(u);
    test_end(&h, &s);
}

LEAK_TEST(mtget, robots_txt_in_crawl_mode, .timeout = 60)
{
    /* Expect: in crawl mode a path robots.txt disallows for mtget is never
     * requested (the others are; exit 0, it is skipped, not failed);
     * --no-robots fetches it and never asks for robots.txt; a robots.txt
     * that cannot be read fails its host's pages (exit 1). */
    test_httpd h;
    scratch s, s2;
    test_httpd_start(&h, NULL);
    scratch_new(&s);
    scratch_new(&s2);
    const char robots[] = "User-agent: *\nDisallow: /\n\nUser-agent: mtget\nDisallow: /img/private/\n";
    test_httpd_put(&h, "robots.txt", robots, sizeof robots - 1);
    const char *imgs[] = {"/img/public.jpg", "/img/private/secret.jpg", NULL};
    put_list_page(&h, "list.html", imgs, NULL);
    test_httpd_put(&h, "img/public.jpg", "pub", 3);
    test_httpd_put(&h, "img/private/secret.jpg", "sec", 3);
    char *page = url_of(&h, "/list.html");
    mtget_result r;
    mtget_run(&s, &r, "-P", s.out, "--pages", page, "--xpath", SEED_XPATH);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect(file_is(s.out, "public.jpg", "pub", 3));
    cr_expect_eq(file_size(s.out, "secret.jpg"), -1);
    cr_expect_eq(log_count_is(&h, "GET /img/private/", 0), 0, "never requested");
    cr_expect_eq(log_count_is(&h, "GET /robots.txt ", 1), 1, "robots.txt read once");
    cr_expect(strstr(r.err, "disallowed by robots.txt"), "stderr: %s", r.err);

    mtget_run(&s2, &r, "-q", "-P", s2.out, "--no-robots", "--pages", page, "--xpath", SEED_XPATH);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect(file_is(s2.out, "secret.jpg", "sec", 3));
    cr_expect_eq(log_count_is(&h, "GET /robots.txt ", 1), 1, "not asked again");

    /* a host whose robots.txt cannot be read is not crawled: its pages fail */
    scratch s3;
    scratch_new(&s3);
    mtget_run(&s3, &r, "-P", s3.out, "--retries", "0", "--pages", "http://127.0.0.1:1/list",
              "--xpath", SEED_XPATH);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "cannot fetch page 'http://127.0.0.1:1/list': cannot read its robots.txt"),
              "stderr: %s", r.err);
    scratch_free(&s3);
    free(page);
    scratch_free(&s);
    scratch_free(&s2);
    test_httpd_stop(&h);
}

/* Wait until -P holds a temporary of at least `bytes`; its name into name. */
static bool wait_for_part(const char *dir, long long bytes, char *name, size_t size, double timeout)
{
    double t0 = now();
    while (now() - t0 < timeout) {
        DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (strncmp(e->d_name, ".mtget-", 7) == 0 && strstr(e->d_name, ".part") &&
                file_size(dir, e->d_name) >= bytes) {
                snprintf(name, size, "%s", e->d_name);
                closedir(d);
                return true;
            }
        if (d)
            closedir(d);
        usleep(10000);
    }
    return false;
}

LEAK_TEST(mtget, sigint_leaves_no_partial_file, .timeout = 60)
{
    /* Expect: SIGINT in the middle of a slow download ends mtget with 130,
     * its temporary removed, nothing under the final name; SIGTERM with -c
     * ends it with 143 and keeps the temporary, which the next run without
     * -c removes. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    char *big = random_bytes(400000, 3);
    test_httpd_put(&h, "big.bin", big, 400000);
    char *u = url_of(&h, "/big.bin?rate=100000");
    char *argv[] = {"mtget", "-P", s.out, u, NULL};
    pid_t pid = mtget_start(&s, NULL, argv);
    char part[256];
    cr_assert(wait_for_part(s.out, 20000, part, sizeof part, 20), "no download under way");
    kill(pid, SIGINT);
    mtget_result r;
    mtget_wait(&s, pid, &r);
    cr_expect_eq(r.status, 130, "stderr: %s", r.err);
    int tmps = -1;
    cr_expect_eq(dir_entries(s.out, &tmps), 0, "nothing left in -P");
    cr_expect_eq(tmps, 0);
    cr_expect(strstr(r.err, "interrupted"), "stderr: %s", r.err);

    /* with -c the temporary stays, for the next -c */
    char *argv_c[] = {"mtget", "-c", "-P", s.out, u, NULL};
    pid = mtget_start(&s, NULL, argv_c);
    cr_assert(wait_for_part(s.out, 20000, part, sizeof part, 20), "no download under way");
    kill(pid, SIGTERM);
    mtget_wait(&s, pid, &r);
    cr_expect_eq(r.status, 128 + SIGTERM, "stderr: %s", r.err);
    cr_expect_eq(dir_entries(s.out, &tmps), 1, "only the temporary");
    cr_expect_eq(tmps, 1);
    cr_expect_eq(file_size(s.out, "big.bin"), -1);

    /* a run without -c sweeps the leftover away */
    test_httpd_put(&h, "small.txt", "small", 5);
    char *small = url_of(&h, "/small.txt");
    mtget_run(&s, &r, "-q", "-P", s.out, small);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect_eq(dir_entries(s.out, &tmps), 1, "only small.txt");
    cr_expect_eq(tmps, 0);
    free(small);
    free(big);
    free(u);
    test_end(&h, &s);
}

LEAK_TEST(mtget, continue_resumes_after_sigkill, .timeout = 60)
{
    /* Expect: a run killed with SIGKILL mid-download leaves its temporary,
     * and no file under the final name; a rerun with -c asks for the rest
     * with Range (the server's log shows it, answered 206) and the final
     * bytes are exactly the file's, with no temporary left. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    char *big = random_bytes(600000, 4);
    test_httpd_put(&h, "big.bin", big, 600000);
    char *u = url_of(&h, "/big.bin?rate=200000");
    char *argv[] = {"mtget", "-c", "-q", "-P", s.out, u, NULL};
    pid_t pid = mtget_start(&s, NULL, argv);
    char part[256];
    cr_assert(wait_for_part(s.out, 100000, part, sizeof part, 20), "no download under way");
    kill(pid, SIGKILL);
    mtget_result r;
    mtget_wait(&s, pid, &r);
    cr_assert_eq(r.status, 128 + SIGKILL);
    cr_expect_eq(file_size(s.out, "big.bin"), -1, "no partial file under the final name");
    long long had = file_size(s.out, part);
    cr_assert_geq(had, 100000);

    mtget_run(&s, &r, "-c", "-q", "-P", s.out, u);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect(file_is(s.out, "big.bin", big, 600000), "the resumed file is the file");
    cr_expect(test_httpd_log_has(&h, " bytes=", 1), "a Range request was made");
    cr_expect(test_httpd_log_has(&h, " 206 ", 1), "and answered with the rest");
    int tmps = -1;
    cr_expect_eq(dir_entries(s.out, &tmps), 1);
    cr_expect_eq(tmps, 0);
    free(big);
    free(u);
    test_end(&h, &s);
}

/* Start `mtget -c -q -P out url`, and SIGKILL it once its temporary has
 * `bytes`; the temporary's name into part. */
static void killed_midway(scratch *s, const char *url, long long bytes, char *part, size_t size)
{
    char *argv[] = {"mtget", "-c", "-q", "-P", s->out, (char *)url, NULL};
    pid_t pid = mtget_start(s, NULL, argv);
    cr_assert(wait_for_part(s->out, bytes, part, size, 20), "no download under way");
    kill(pid, SIGKILL);
    mtget_result r;
    mtget_wait(s, pid, &r);
    cr_assert_eq(r.status, 128 + SIGKILL);
}

LEAK_TEST(mtget, continue_finds_the_part_complete, .timeout = 60)
{
    /* Expect: a temporary that already holds the whole file (a run killed
     * between its last byte and the rename) is completed by -c from the
     * server's 416 (the range starts at the end), with no body fetched
     * again; the file is right. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    char *big = random_bytes(300000, 6);
    test_httpd_put(&h, "whole.bin", big, 300000);
    char *u = url_of(&h, "/whole.bin?rate=100000");
    char part[256], path[512];
    killed_midway(&s, u, 20000, part, sizeof part);
    snprintf(path, sizeof path, "%s/%s", s.out, part);
    long long had = file_size(s.out, part);
    int fd = open(path, O_WRONLY | O_APPEND);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, big + had, (size_t)(300000 - had)), 300000 - had);
    close(fd);
    mtget_result r;
    mtget_run(&s, &r, "-c", "-q", "-P", s.out, u);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect(file_is(s.out, "whole.bin", big, 300000));
    cr_expect(test_httpd_log_has(&h, " bytes=300000- 416 ", 2), "the range past the end");
    int tmps = -1;
    cr_expect_eq(dir_entries(s.out, &tmps), 1);
    cr_expect_eq(tmps, 0);
    free(big);
    free(u);
    test_end(&h, &s);
}

LEAK_TEST(mtget, continue_starts_over_when_the_file_changed, .timeout = 60)
{
    /* Expect: when the file changed on the server since the partial
     * download (another ETag), -c's If-Range gets the whole new file (a
     * 200), which replaces the old part: the final bytes are the new
     * file's, never old bytes with new ones after them. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    char *old = random_bytes(300000, 7), *new = random_bytes(250000, 8);
    test_httpd_put(&h, "changing.bin", old, 300000);
    char *u = url_of(&h, "/changing.bin?rate=100000");
    char part[256];
    killed_midway(&s, u, 20000, part, sizeof part);
    test_httpd_put(&h, "changing.bin", new, 250000);
    mtget_result r;
    mtget_run(&s, &r, "-c", "-q", "-P", s.out, u);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect(file_is(s.out, "changing.bin", new, 250000), "the new file, whole");
    cr_expect(test_httpd_log_has(&h, " 200 250000", 2), "sent whole");
    int tmps = -1;
    cr_expect_eq(dir_entries(s.out, &tmps), 1);
    cr_expect_eq(tmps, 0);
    free(old);
    free(new);
    free(u);
    test_end(&h, &s);
}

LEAK_TEST(mtget, short_body_resumed_in_the_run, .timeout = 60)
{
    /* Expect: a file whose connection closes after 40,000 bytes of each
     * response is completed by the retries, each asking for the rest with
     * Range and If-Range: the final bytes are the file's. */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    char *data = random_bytes(100000, 5);
    test_httpd_put(&h, "cut.bin", data, 100000);
    char *u = url_of(&h, "/cut.bin?cut=40000");
    mtget_result r;
    mtget_run(&s, &r, "-q", "-P", s.out, "--retries", "3", u);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect(file_is(s.out, "cut.bin", data, 100000));
    cr_expect_eq(log_count_is(&h, " bytes=40000- 206 ", 1), 1, "the second try asks for the rest");
    cr_expect_eq(log_count_is(&h, " bytes=80000- 206 ", 1), 1);
    free(data);
    free(u);
    test_end(&h, &s);
}

LEAK_TEST(mtget, https_with_a_private_ca, .timeout = 60)
{
    /* Expect: over HTTPS with a certificate of a private CA, --ca-file
     * with that CA downloads the file; without it the URL fails, naming
     * the certificate problem, and nothing is saved. */
    test_ca ca;
    test_ca_new(&ca);
    test_ca_issue(&ca, "server", "IP:127.0.0.1,DNS:localhost", -60, 3600);
    char cert[128], key[128];
    test_ca_path(&ca, "server.pem", cert, sizeof cert);
    test_ca_path(&ca, "server.key", key, sizeof key);
    const char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    test_httpd h;
    test_httpd_start(&h, extra);
    scratch s, s2;
    scratch_new(&s);
    scratch_new(&s2);
    test_httpd_put(&h, "secure.bin", "over tls", 8);
    char *u = NULL;
    cr_assert_geq(asprintf(&u, "https://127.0.0.1:%d/secure.bin", h.port), 0);
    mtget_result r;
    mtget_run(&s, &r, "-q", "-P", s.out, "--ca-file", ca.pem, u);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect(file_is(s.out, "secure.bin", "over tls", 8));
    mtget_run(&s2, &r, "-q", "-P", s2.out, "--retries", "0", u);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "cannot download 'https://"), "stderr: %s", r.err);
    cr_expect(strcasestr(r.err, "certificate"), "stderr: %s", r.err);
    cr_expect_eq(dir_entries(s2.out, NULL), 0);
    free(u);
    scratch_free(&s);
    scratch_free(&s2);
    test_httpd_stop(&h);
    test_ca_free(&ca);
}

static void usage_is_2(const char *what, char **argv)
{
    scratch s;
    scratch_new(&s);
    mtget_result r;
    mtget_wait(&s, mtget_start(&s, NULL, argv), &r);
    cr_expect_eq(r.status, 2, "%s: status %d", what, r.status);
    cr_expect(strstr(r.err, "mtget"), "%s: stderr: %s", what, r.err);
    scratch_free(&s);
}

LEAK_TEST(mtget, usage_errors_exit_2, .timeout = 60)
{
    /* Expect: exit 2 and a message for each misuse; --help and --version
     * exit 0. */
    usage_is_2("no URL", (char *[]){"mtget", NULL});
    usage_is_2("bad -j", (char *[]){"mtget", "-j", "0", "http://127.0.0.1:1/", NULL});
    usage_is_2("bad option", (char *[]){"mtget", "--bogus", "http://127.0.0.1:1/", NULL});
    usage_is_2("ftp URL", (char *[]){"mtget", "ftp://127.0.0.1/x", NULL});
    usage_is_2("--pages without --xpath",
               (char *[]){"mtget", "--pages", "http://127.0.0.1:1/", NULL});
    usage_is_2("bad XPath",
               (char *[]){"mtget", "--xpath", "//li[", "http://127.0.0.1:1/", NULL});
    usage_is_2("--follow without --xpath",
               (char *[]){"mtget", "--follow", "//a/@href", "http://127.0.0.1:1/", NULL});
    usage_is_2("bad --progress",
               (char *[]){"mtget", "--progress=loud", "http://127.0.0.1:1/", NULL});
    scratch s;
    scratch_new(&s);
    mtget_result r;
    mtget_run(&s, &r, "--help");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "--xpath"));
    mtget_run(&s, &r, "--version");
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "mtget (multitask)"));
    scratch_free(&s);
}

/* A small JSON checker: whether s[*i..] is one JSON value. */
static bool json_value(const char *s, size_t *i, int depth);

static void json_ws(const char *s, size_t *i)
{
    while (s[*i] == ' ' || s[*i] == '\t')
        (*i)++;
}

static bool json_string(const char *s, size_t *i)
{
    if (s[*i] != '"')
        return false;
    for ((*i)++; s[*i] && s[*i] != '"'; (*i)++) {
        if ((unsigned char)s[*i] < 0x20)
            return false;
        if (s[*i] == '\\' && !s[++(*i)])
            return false;
    }
    return s[(*i)++] == '"';
}

static bool json_value(const char *s, size_t *i, int depth)
{
    json_ws(s, i);
    if (depth > 32)
        return false;
    char c = s[*i];
    if (c == '"')
        return json_string(s, i);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        (*i)++;
        json_ws(s, i);
        if (s[*i] == close)
            return (*i)++, true;
        for (;;) {
            if (c == '{') {
                json_ws(s, i);
                if (!json_string(s, i))
                    return false;
                json_ws(s, i);
                if (s[(*i)++] != ':')
                    return false;
            }
            if (!json_value(s, i, depth + 1))
                return false;
            json_ws(s, i);
            if (s[*i] == ',') {
                (*i)++;
                continue;
            }
            return s[(*i)++] == close;
        }
    }
    if (!strncmp(s + *i, "true", 4) || !strncmp(s + *i, "null", 4))
        return *i += 4, true;
    if (!strncmp(s + *i, "false", 5))
        return *i += 5, true;
    size_t start = *i;
    while (s[*i] && strchr("+-0123456789.eE", s[*i]))
        (*i)++;
    return *i > start;
}

LEAK_TEST(mtget, progress_json_lines_parse, .timeout = 60)
{
    /* Expect: with --progress=json every line of stdout is one JSON object
     * with an "event"; an error event names the failed URL; the last
     * events are "end" and "summary". */
    test_httpd h;
    scratch s;
    test_begin(&h, &s);
    test_httpd_put(&h, "x.bin", "xxxxxxxxxxxx", 12);
    char *ok = url_of(&h, "/x.bin?rate=8"), *bad = url_of(&h, "/nothing");
    mtget_result r;
    mtget_run(&s, &r, "--progress=json", "-P", s.out, ok, bad);
    cr_expect_eq(r.status, 1);
    int lines = 0;
    bool error = false, end = false, summary = false, progress = false;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        size_t i = 0;
        cr_expect(line[0] == '{' && json_value(line, &i, 0) && line[i] == '\0', "not JSON: %s",
                  line);
        cr_expect(strncmp(line, "{\"event\":\"", 10) == 0, "no event: %s", line);
        error |= strstr(line, "\"event\":\"error\"") && strstr(line, "/nothing");
        progress |= strstr(line, "\"event\":\"progress\"") != NULL;
        end |= strstr(line, "\"event\":\"end\"") != NULL;
        summary |= strstr(line, "\"event\":\"summary\"") && strstr(line, "\"failed\":1");
    }
    cr_expect_geq(lines, 3);
    cr_expect(error && end && summary, "stdout: %s", r.out);
    cr_expect(progress, "a progress event in a run of a second");
    free(ok);
    free(bad);
    test_end(&h, &s);
}
