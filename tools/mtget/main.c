/*
 * main.c - mtget's entry: the command line (options.c), a check of the
 * XPath expressions before anything is fetched, the process settings, the
 * run (run.c), and the exit status:
 *   0    every URL was downloaded (or skipped: done before, robots.txt)
 *   1    some failed (each named on stderr with its reason), or the run
 *        could not start (the output directory, the journal)
 *   2    usage error
 *   130  interrupted (SIGINT; 128 + the signal for SIGTERM and SIGHUP),
 *        after the transfers stopped and their temporaries went (kept and
 *        journaled with --continue)
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "tool.h"

/* Whether expr is good XPath: tried on an empty page. */
static bool xpath_ok(const char *opt, const char *expr)
{
    if (!expr)
        return true;
    mt_html_doc *doc;
    static const char page[] = "<html><body></body></html>";
    if (mt_html_parse(&doc, page, sizeof page - 1, "http://localhost/", NULL) < 0)
        return true; /* let the run say what is wrong */
    mt_buf out = MT_BUF_INIT;
    int r = mt_html_xpath_list(doc, expr, &out);
    if (r == -EINVAL)
        fprintf(stderr, MTGET_NAME ": invalid %s '%s': %s\nTry 'mtget --help' for more information.\n",
                opt, expr, mt_html_error(doc));
    mt_buf_free(&out);
    mt_html_doc_free(doc);
    return r != -EINVAL;
}

int main(int argc, char **argv)
{
    mtget_config c;
    int r = mtget_options(&c, argc, argv);
    if (r) {
        mtget_config_free(&c);
        return r == 1 ? MTGET_EXIT_OK : MTGET_EXIT_USAGE;
    }
    if (!xpath_ok("--xpath", c.xpath) || !xpath_ok("--follow", c.follow)) {
        mtget_config_free(&c);
        return MTGET_EXIT_USAGE;
    }
    /* A file size limit shows as EFBIG on the write; a closed stdout as
     * EPIPE. Neither should kill us halfway. */
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl; /* every transfer holds a socket and a file */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int status = mtget_run(&c);
    mtget_config_free(&c);
    return status;
}
