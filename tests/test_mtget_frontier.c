/*
 * test_mtget_frontier.c - mtget --frontier: several mtget processes, each
 * with its own -P directory, crawl one site (mt-test-httpd) through one
 * frontier on a redis-server of the test's own (redis_server.h): together
 * they fetch each page and download each target once; one of them killed
 * with SIGKILL has its claimed work finished by the others after the idle
 * time; a bad name, a server that is not there and a wrong password are
 * refused with a message that names the problem and not the password.
 */
#define _GNU_SOURCE
#include <time.h>

/* GCC's range analysis of arrays of scratch directories sees their 64-byte
 * names as up to the whole array's size; every name here is short. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include "mtget_helpers.h"
#include "redis_server.h"

#define SEED_XPATH "//li[@class=\"list-group-item\"]/img/@data-original"
#define NEXT_XPATH "//a[@class=\"next\"]/@href"
#define NPROC 3

/* A list page: images, and a link to `next` (or none). */
static void put_list_page(test_httpd *h, const char *name, const char *const *imgs, int n,
                          const char *next)
{
    char page[16384];
    size_t len = (size_t)snprintf(page, sizeof page, "<html><body><ul>\n");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(page + len, sizeof page - len,
                                "<li class=\"list-group-item\"><img data-original=\"%s\"></li>\n",
                                imgs[i]);
    len += (size_t)snprintf(page + len, sizeof page - len, "</ul>%s%s%s</body></html>\n",
                            next ? "<a class=\"next\" href=\"" : "", next ? next : "",
                            next ? "\">next</a>" : "");
    test_httpd_put(h, name, page, len);
}

/* A scratch directory per process (its stdout, stderr, out/). */
static void start_all(scratch *s, pid_t *pids, int n, char **argv_tail, int ntail)
{
    for (int i = 0; i < n; i++) {
        char *argv[32] = {"mtget", "-q", "-P", s[i].out};
        for (int j = 0; j < ntail; j++)
            argv[4 + j] = argv_tail[j];
        pids[i] = mtget_start(&s[i], NULL, argv);
    }
}

/* The number of the dirs' files holding exactly len bytes of data under
 * name (or name.N). */
static int copies(scratch *s, int n, const char *name, const void *data, size_t len)
{
    int found = 0;
    for (int i = 0; i < n; i++) {
        found += file_is(s[i].out, name, data, len);
        for (int k = 1; k < 20; k++) {
            char numbered[128];
            snprintf(numbered, sizeof numbered, "%s.%d", name, k);
            found += file_is(s[i].out, numbered, data, len);
        }
    }
    return found;
}

LEAK_TEST(mtget_frontier, three_processes_share_one_crawl, .timeout = 60)
{
    /* Expect: three mtget with the same --pages, --xpath, --follow and
     * --frontier, each into its own directory: each of the 4 pages is
     * fetched once and each of the 24 images downloaded once (the server's
     * log), the union of the directories is the site's images byte for
     * byte, with no other file; all three exit 0. */
    test_redis rs;
    test_redis_start(&rs, NULL);
    test_httpd h;
    test_httpd_start(&h, NULL);
    enum { PAGES = 4, PER = 6, IMGS = PAGES * PER };
    char names[IMGS][32], *data[IMGS];
    const char *links[PER + 1];
    for (int p = 0; p < PAGES; p++) {
        char page[32], next[32];
        for (int i = 0; i < PER; i++) {
            int k = p * PER + i;
            snprintf(names[k], sizeof names[k], "img%02d.bin", k);
            data[k] = random_bytes(3000 + (size_t)k * 97, 100 + (unsigned)k);
            char path[64];
            snprintf(path, sizeof path, "list/%s", names[k]);
            test_httpd_put(&h, path, data[k], 3000 + (size_t)k * 97);
            links[i] = names[k];
        }
        /* the previous page's first image again: deduplicated */
        links[PER] = names[p > 0 ? (p - 1) * PER : 0];
        snprintf(page, sizeof page, "list/%d.html", p);
        snprintf(next, sizeof next, "%d.html", p + 1);
        put_list_page(&h, page, links, PER + 1, p + 1 < PAGES ? next : NULL);
    }
    char *seed = url_of(&h, "/list/0.html");
    char frontier[256];
    snprintf(frontier, sizeof frontier, "redis+unix://%s/crawl", rs.sock);
    scratch s[NPROC];
    pid_t pids[NPROC];
    for (int i = 0; i < NPROC; i++)
        scratch_new(&s[i]);
    char *tail[] = {"-j", "2", "--no-robots", "--frontier", frontier, "--pages", seed,
                    "--xpath", SEED_XPATH, "--follow", NEXT_XPATH, "--depth", "inf"};
    start_all(s, pids, NPROC, tail, 13);
    mtget_result r;
    int files = 0;
    for (int i = 0; i < NPROC; i++) {
        mtget_wait(&s[i], pids[i], &r);
        cr_expect_eq(r.status, 0, "process %d: status %d, stderr: %s", i, r.status, r.err);
        int mine = dir_entries(s[i].out, NULL);
        cr_log_info("process %d downloaded %d files", i, mine);
        files += mine;
    }
    cr_expect_eq(files, IMGS, "the union holds the images and nothing else");
    for (int k = 0; k < IMGS; k++) {
        cr_expect_eq(copies(s, NPROC, names[k], data[k], 3000 + (size_t)k * 97), 1, "%s",
                     names[k]);
        char get[64];
        snprintf(get, sizeof get, "GET /list/%s ", names[k]);
        cr_expect_eq(log_count_is(&h, get, 1), 1, "%s downloaded once", names[k]);
    }
    for (int p = 0; p < PAGES; p++) {
        char get[64];
        snprintf(get, sizeof get, "GET /list/%d.html ", p);
        cr_expect_eq(log_count_is(&h, get, 1), 1, "page %d fetched once", p);
    }
    for (int k = 0; k < IMGS; k++)
        free(data[k]);
    for (int i = 0; i < NPROC; i++)
        scratch_free(&s[i]);
    free(seed);
    test_httpd_stop(&h);
    test_redis_stop(&rs);
}

LEAK_TEST(mtget_frontier, killed_process_work_is_redelivered, .timeout = 60)
{
    /* Expect: three mtget with the same command and --frontier-idle 1; the
     * first, started ahead, is SIGKILLed while it downloads (a temporary of
     * it in its directory) just after the two others start: those two exit
     * 0, having finished the crawl between them: every one of the 12 slow
     * targets is downloaded whole (the server logs a full 200 for each) and
     * is in the union of the three directories, every file there whole. */
    test_redis rs;
    test_redis_start(&rs, NULL);
    test_httpd h;
    test_httpd_start(&h, NULL);
    enum { TARGETS = 12, BYTES = 3000 };
    char links[TARGETS][96];
    const char *half1[TARGETS / 2], *half2[TARGETS / 2];
    for (int k = 0; k < TARGETS; k++) {
        snprintf(links[k], sizeof links[k], "/_/slow?bytes=%d&rate=6000&id=%d", BYTES, k);
        (k < TARGETS / 2 ? half1 : half2)[k % (TARGETS / 2)] = links[k];
    }
    put_list_page(&h, "list/0.html", half1, TARGETS / 2, "1.html");
    put_list_page(&h, "list/1.html", half2, TARGETS / 2, NULL);
    char *seed = url_of(&h, "/list/0.html");
    char frontier[256];
    snprintf(frontier, sizeof frontier, "redis+unix://%s/crawl", rs.sock);
    scratch s[NPROC];
    pid_t pids[NPROC];
    for (int i = 0; i < NPROC; i++)
        scratch_new(&s[i]);
    char *tail[] = {"-j", "2", "--no-robots", "--frontier-idle", "1", "--frontier", frontier,
                    "--pages", seed, "--xpath", SEED_XPATH, "--follow", NEXT_XPATH};
    start_all(s, pids, 1, tail, 13);
    int tmps = 0;
    for (int i = 0; i < 3000 && tmps == 0; i++) {
        usleep(5000);
        dir_entries(s[0].out, &tmps);
    }
    cr_assert_gt(tmps, 0, "the first process started a download");
    start_all(s + 1, pids + 1, NPROC - 1, tail, 13);
    kill(pids[0], SIGKILL);
    mtget_result r;
    mtget_wait(&s[0], pids[0], &r);
    cr_expect_eq(r.status, 128 + SIGKILL);
    for (int i = 1; i < NPROC; i++) {
        mtget_wait(&s[i], pids[i], &r);
        cr_expect_eq(r.status, 0, "process %d: status %d, stderr: %s", i, r.status, r.err);
    }
    int files = 0, whole = 0;
    char *body = pattern(BYTES);
    for (int i = 0; i < NPROC; i++) {
        files += dir_entries(s[i].out, &tmps) - tmps; /* the killed one's temporaries stay */
        whole += copies(s + i, 1, "slow", body, BYTES);
    }
    cr_expect_geq(files, TARGETS, "every target in the union");
    cr_expect_eq(whole, files, "every file saved whole");
    for (int k = 0; k < TARGETS; k++) {
        char line[160];
        snprintf(line, sizeof line, "GET %s - 200 %d", links[k], BYTES);
        cr_expect_geq(log_count_is(&h, line, 1), 1, "target %d downloaded whole", k);
    }
    /* the first process's download, cut by the kill, was done again */
    cr_expect_geq(log_count_is(&h, "GET /_/slow?", TARGETS + 1), TARGETS + 1,
                  "the killed process's claim was redelivered");
    free(body);
    for (int i = 0; i < NPROC; i++)
        scratch_free(&s[i]);
    free(seed);
    test_httpd_stop(&h);
    test_redis_stop(&rs);
}

LEAK_TEST(mtget_frontier, list_mode_shares_the_downloads, .timeout = 60)
{
    /* Expect: two mtget given the same -i list of 10 URLs (one listed
     * twice) and one --frontier: each file downloaded once between them,
     * the union of their directories the 10 files byte for byte, each
     * process's summary counting its own downloads; both exit 0. */
    test_redis rs;
    test_redis_start(&rs, NULL);
    test_httpd h;
    test_httpd_start(&h, NULL);
    enum { FILES = 10, NP = 2 };
    char names[FILES][32], *data[FILES], list[4096] = "", listpath[128];
    size_t n = 0;
    for (int k = 0; k < FILES; k++) {
        snprintf(names[k], sizeof names[k], "f%d.dat", k);
        data[k] = random_bytes(5000 + (size_t)k, 300 + (unsigned)k);
        test_httpd_put(&h, names[k], data[k], 5000 + (size_t)k);
        n += (size_t)snprintf(list + n, sizeof list - n, "http://127.0.0.1:%d/%s\n", h.port,
                              names[k]);
    }
    n += (size_t)snprintf(list + n, sizeof list - n, "http://127.0.0.1:%d/%s\n", h.port, names[3]);
    char frontier[256];
    snprintf(frontier, sizeof frontier, "redis+unix://%s/list", rs.sock);
    scratch s[NP];
    pid_t pids[NP];
    for (int i = 0; i < NP; i++)
        scratch_new(&s[i]);
    snprintf(listpath, sizeof listpath, "%s/urls.txt", s[0].dir);
    write_file(listpath, list);
    for (int i = 0; i < NP; i++) {
        char *argv[] = {"mtget", "-P", s[i].out, "-j", "2", "--frontier", frontier, "-i",
                        listpath, NULL};
        pids[i] = mtget_start(&s[i], NULL, argv);
    }
    int files = 0;
    for (int i = 0; i < NP; i++) {
        mtget_result r;
        mtget_wait(&s[i], pids[i], &r);
        cr_expect_eq(r.status, 0, "process %d: status %d, stderr: %s", i, r.status, r.err);
        int mine = dir_entries(s[i].out, NULL);
        char summary[64];
        snprintf(summary, sizeof summary, "downloaded %d file", mine);
        cr_expect(mine == 0 || strstr(r.err, summary), "process %d: %s", i, r.err);
        files += mine;
    }
    cr_expect_eq(files, FILES);
    for (int k = 0; k < FILES; k++) {
        cr_expect_eq(copies(s, NP, names[k], data[k], 5000 + (size_t)k), 1, "%s", names[k]);
        char get[64];
        snprintf(get, sizeof get, "GET /%s ", names[k]);
        cr_expect_eq(log_count_is(&h, get, 1), 1, "%s downloaded once", names[k]);
        free(data[k]);
    }
    for (int i = 0; i < NP; i++)
        scratch_free(&s[i]);
    test_httpd_stop(&h);
    test_redis_stop(&rs);
}

LEAK_TEST(mtget_frontier, server_lost_mid_run_fails, .timeout = 60)
{
    /* Expect: the frontier's server killed while mtget downloads: mtget
     * ends with status 1 (within the 10 s its calls retry, and the
     * downloads under way), naming the frontier's error, no temporary left
     * under a final name (the directory holds only whole files). */
    test_redis rs;
    test_redis_start(&rs, NULL);
    test_httpd h;
    test_httpd_start(&h, NULL);
    enum { TARGETS = 8, BYTES = 3000 };
    char links[TARGETS][96];
    const char *all[TARGETS];
    for (int k = 0; k < TARGETS; k++) {
        snprintf(links[k], sizeof links[k], "/_/slow?bytes=%d&rate=6000&id=%d", BYTES, k);
        all[k] = links[k];
    }
    put_list_page(&h, "list/0.html", all, TARGETS, NULL);
    char *seed = url_of(&h, "/list/0.html");
    char frontier[256];
    snprintf(frontier, sizeof frontier, "redis+unix://%s/crawl", rs.sock);
    scratch s;
    scratch_new(&s);
    char *tail[] = {"-j", "2", "--no-robots", "--frontier", frontier, "--pages", seed,
                    "--xpath", SEED_XPATH};
    pid_t pid;
    start_all(&s, &pid, 1, tail, 9);
    int tmps = 0;
    for (int i = 0; i < 3000 && tmps == 0; i++) {
        usleep(5000);
        dir_entries(s.out, &tmps);
    }
    cr_assert_gt(tmps, 0, "a download started");
    test_redis_kill(&rs);
    mtget_result r;
    mtget_wait(&s, pid, &r);
    cr_expect_eq(r.status, 1, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "mtget: the frontier: "), "%s", r.err);
    char *body = pattern(BYTES);
    int files = dir_entries(s.out, &tmps);
    cr_expect_eq(copies(&s, 1, "slow", body, BYTES), files - tmps, "only whole files");
    free(body);
    scratch_free(&s);
    free(seed);
    test_httpd_stop(&h);
    test_redis_stop(&rs);
}

/* Run mtget with --frontier name and a page that is never reached; its
 * result. */
static void run_frontier(char *name, mtget_result *r)
{
    scratch s;
    scratch_new(&s);
    mtget_run(&s, r, "-P", s.out, "--frontier", name, "--pages", "http://127.0.0.1:1/list",
              "--xpath", SEED_XPATH);
    scratch_free(&s);
}

LEAK_TEST(mtget_frontier, bad_name_is_a_usage_error, .timeout = 30)
{
    /* Expect: a name that is not redis:// (exit 2 at parsing) and a
     * redis:// name outside the grammar (port 99999: exit 2), each named
     * in the message. */
    mtget_result r;
    run_frontier((char[]){"http://127.0.0.1/crawl"}, &r);
    cr_expect_eq(r.status, 2, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "redis://"), "%s", r.err);
    run_frontier((char[]){"redis://127.0.0.1:99999/crawl"}, &r);
    cr_expect_eq(r.status, 2, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "invalid --frontier name 'redis://127.0.0.1:99999/crawl'"), "%s",
              r.err);
}

LEAK_TEST(mtget_frontier, server_down_fails_clearly, .timeout = 30)
{
    /* Expect: a socket where no server listens: exit 1, "cannot open the
     * frontier", the reason, and no download attempted. */
    mtget_result r;
    run_frontier((char[]){"redis+unix:///tmp/mtget-frontier-no-such-dir/redis.sock/crawl"}, &r);
    cr_expect_eq(r.status, 1, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "cannot open the frontier 'redis+unix:///tmp/mtget-frontier-no-such-"
                            "dir/redis.sock/crawl': cannot reach the server"),
              "%s", r.err);
}

LEAK_TEST(mtget_frontier, wrong_password_not_printed, .timeout = 30)
{
    /* Expect: a server with a password and a URL with another one: exit 1,
     * the refusal named, the password shown as *** and never in clear. */
    test_redis rs;
    test_redis_start(&rs, (const char *const[]){"--requirepass", "right-one", NULL});
    char name[256];
    snprintf(name, sizeof name, "redis+unix://:not-the-pass@%s/crawl", rs.sock);
    mtget_result r;
    run_frontier(name, &r);
    cr_expect_eq(r.status, 1, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "password refused"), "%s", r.err);
    cr_expect(strstr(r.err, "redis+unix://:***@"), "%s", r.err);
    cr_expect_null(strstr(r.err, "not-the-pass"), "%s", r.err);
    rs.password = "right-one";
    test_redis_stop(&rs);
}
