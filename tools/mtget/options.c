/*
 * options.c - mtget's command line into an mtget_config: getopt_long with
 * the names wget, curl and aria2 users expect (-P, -i, -c, -U, -j), usage
 * errors in mtcp's words (exit status 2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tool.h"

enum {
    OPT_PAGES = 256,
    OPT_XPATH,
    OPT_FOLLOW,
    OPT_DEPTH,
    OPT_PAGE_JOBS,
    OPT_PER_HOST,
    OPT_DELAY,
    OPT_NO_ROBOTS,
    OPT_RETRIES,
    OPT_TIMEOUT,
    OPT_CONNECT_TIMEOUT,
    OPT_MAX_SIZE,
    OPT_PAGE_MAX_SIZE,
    OPT_CONTENT_DISPOSITION,
    OPT_CA_FILE,
    OPT_PROGRESS,
    OPT_NO_PROGRESS,
    OPT_STATS_JSON,
    OPT_FRONTIER,
    OPT_FRONTIER_IDLE,
};

static const struct option longopts[] = {
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"content-disposition", no_argument, NULL, OPT_CONTENT_DISPOSITION},
    {"continue", no_argument, NULL, 'c'},
    {"delay", required_argument, NULL, OPT_DELAY},
    {"depth", required_argument, NULL, OPT_DEPTH},
    {"directory-prefix", required_argument, NULL, 'P'},
    {"follow", required_argument, NULL, OPT_FOLLOW},
    {"frontier", required_argument, NULL, OPT_FRONTIER},
    {"frontier-idle", required_argument, NULL, OPT_FRONTIER_IDLE},
    {"help", no_argument, NULL, 'h'},
    {"input-file", required_argument, NULL, 'i'},
    {"jobs", required_argument, NULL, 'j'},
    {"max-size", required_argument, NULL, OPT_MAX_SIZE},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"no-robots", no_argument, NULL, OPT_NO_ROBOTS},
    {"page-jobs", required_argument, NULL, OPT_PAGE_JOBS},
    {"page-max-size", required_argument, NULL, OPT_PAGE_MAX_SIZE},
    {"pages", required_argument, NULL, OPT_PAGES},
    {"per-host", required_argument, NULL, OPT_PER_HOST},
    {"progress", optional_argument, NULL, OPT_PROGRESS},
    {"quiet", no_argument, NULL, 'q'},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"stats-json", required_argument, NULL, OPT_STATS_JSON},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"user-agent", required_argument, NULL, 'U'},
    {"version", no_argument, NULL, 'V'},
    {"xpath", required_argument, NULL, OPT_XPATH},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mtget [OPTIONS] URL...\n"
            "       mtget [OPTIONS] --pages FILE_OR_URL --xpath EXPR [--follow EXPR] [--depth N]\n"
            "Download many files at once, or crawl list pages and download what they link,\n"
            "with live progress. Files are written under temporary names and renamed\n"
            "into place once complete: no partial file is ever left under a final name.\n"
            "\n"
            "Input:\n"
            "  -i, --input-file FILE  URLs to download, one a line ('-': standard input)\n"
            "  -P, --directory-prefix DIR\n"
            "                         save files into DIR (made if missing; default .)\n"
            "Crawl mode:\n"
            "      --pages FILE_OR_URL  a list page, or a file of them ('-': stdin);\n"
            "                         repeatable; URL operands and -i are pages too\n"
            "      --xpath EXPR       XPath 1.0 selecting the files' URLs on each page\n"
            "                         (an attribute such as @src, or an element's text)\n"
            "      --follow EXPR      XPath selecting more pages to crawl (pagination)\n"
            "      --depth N          follow pages N links deep (default %d; 'inf': no limit)\n"
            "      --no-robots        do not obey robots.txt (obeyed by default)\n"
            "Politeness and limits:\n"
            "  -j, --jobs N           downloads at once (default %d)\n"
            "      --page-jobs N      list pages fetched at once (default %d)\n"
            "      --per-host N       transfers to one host at once (default %d)\n"
            "      --delay SECONDS    wait between requests to one host (0.5x-1.5x, random)\n"
            "  -U, --user-agent TEXT  the User-Agent header (default mtget/VERSION (+multitask))\n"
            "      --retries N        tries after the first for transient failures (default %d)\n"
            "      --timeout SECONDS  a page's whole fetch; a download that receives nothing\n"
            "                         for this long (default %g)\n"
            "      --connect-timeout SECONDS  (default %g)\n"
            "      --max-size SIZE    refuse files larger than SIZE (K, M, G suffixes)\n"
            "      --page-max-size SIZE  largest list page kept in memory (default 8M)\n"
            "      --ca-file FILE     verify HTTPS servers with the CA certificates in FILE\n"
            "Shared crawl (several processes, several machines):\n"
            "      --frontier redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]/NAME\n"
            "                         share the queue of work and the set of URLs seen\n"
            "                         with every mtget given the same name\n"
            "      --frontier-idle SECONDS  a claimed item left unfinished this long goes\n"
            "                         to another process (default %g)\n"
            "Files:\n"
            "      --content-disposition  name files as the server suggests (sanitised)\n"
            "  -c, --continue         skip files a previous run completed, resume partial ones\n"
            "Output:\n"
            "      --progress[=WHEN]  bars (on a terminal, the default there), plain (a line\n"
            "                         a second on stderr), json (events on stdout), none\n"
            "      --no-progress      the same as --progress=none\n"
            "      --stats-json FILE  write the run's figures and failures to FILE as JSON\n"
            "  -q, --quiet            no progress, no notes, no summary; errors only\n"
            "  -h, --help             show this help\n"
            "  -V, --version          show the version\n"
            "\n"
            "Exit status: 0 all downloaded, 1 some failed, 2 usage error, 130 interrupted.\n",
            MTGET_DEFAULT_DEPTH, MTGET_DEFAULT_JOBS, MTGET_DEFAULT_PAGE_JOBS,
            MTGET_DEFAULT_PER_HOST, MTGET_DEFAULT_RETRIES, MTGET_DEFAULT_TIMEOUT,
            MTGET_DEFAULT_CONNECT_TIMEOUT, MTGET_DEFAULT_FRONTIER_IDLE);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, MTGET_NAME ": ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'mtget --help' for more information.\n");
    return MTGET_EXIT_USAGE + 100;
}

static bool parse_int(const char *s, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return false;
    *out = (int)v;
    return true;
}

static bool parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < 0 || v > 1e6)
        return false;
    *out = v;
    return true;
}

static int progress_mode(const char *s, mt_progress_mode *out)
{
    if (!s || strcmp(s, "bars") == 0)
        *out = isatty(2) ? MT_PROGRESS_BARS : MT_PROGRESS_PLAIN;
    else if (strcmp(s, "plain") == 0)
        *out = MT_PROGRESS_PLAIN;
    else if (strcmp(s, "json") == 0)
        *out = MT_PROGRESS_JSON;
    else if (strcmp(s, "none") == 0)
        *out = MT_PROGRESS_NONE;
    else if (strcmp(s, "auto") == 0)
        *out = MT_PROGRESS_AUTO;
    else
        return -1;
    return 0;
}

static int add_page(mtget_config *c, const char *v)
{
    const char **p = realloc(c->pages, sizeof *p * ((size_t)c->npages + 1));
    if (!p)
        return -ENOMEM;
    c->pages = p;
    c->pages[c->npages++] = v;
    return 0;
}

/* One option; 0, 1 (--help, --version answered) or a usage status. */
static int option(mtget_config *c, int opt, const char *arg)
{
    long long v;
    switch (opt) {
    case 'i':
        c->input = arg;
        return 0;
    case 'P':
        if (!*arg)
            return usage_error("%s", "empty directory name");
        c->dir = arg;
        return 0;
    case OPT_PAGES:
        return add_page(c, arg) ? usage_error("%s", "out of memory") : 0;
    case OPT_XPATH:
        c->xpath = arg;
        return 0;
    case OPT_FOLLOW:
        c->follow = arg;
        return 0;
    case OPT_DEPTH:
        if (strcmp(arg, "inf") == 0)
            c->depth = -1;
        else if (!parse_int(arg, 0, 1000000, &c->depth))
            return usage_error("invalid --depth: '%s' (a number, or inf)", arg);
        return 0;
    case 'j':
        if (!parse_int(arg, 1, MTGET_MAX_JOBS, &c->jobs))
            return usage_error("invalid number of jobs: '%s' (1 to 1024)", arg);
        return 0;
    case OPT_PAGE_JOBS:
        if (!parse_int(arg, 1, MTGET_MAX_JOBS, &c->page_jobs))
            return usage_error("invalid --page-jobs: '%s' (1 to 1024)", arg);
        return 0;
    case OPT_PER_HOST:
        if (!parse_int(arg, 1, MTGET_MAX_JOBS, &c->per_host))
            return usage_error("invalid --per-host: '%s' (1 to 1024)", arg);
        return 0;
    case OPT_DELAY:
        if (!parse_seconds(arg, &c->delay))
            return usage_error("invalid --delay: '%s' (seconds)", arg);
        return 0;
    case OPT_NO_ROBOTS:
        c->robots = false;
        return 0;
    case 'U':
        if (strpbrk(arg, "\r\n"))
            return usage_error("%s", "the user agent may not hold a line break");
        c->user_agent = arg;
        return 0;
    case OPT_RETRIES:
        if (!parse_int(arg, 0, 100, &c->retries))
            return usage_error("invalid --retries: '%s' (0 to 100)", arg);
        return 0;
    case OPT_TIMEOUT:
        if (!parse_seconds(arg, &c->timeout) || c->timeout == 0)
            return usage_error("invalid --timeout: '%s' (seconds, more than 0)", arg);
        return 0;
    case OPT_CONNECT_TIMEOUT:
        if (!parse_seconds(arg, &c->connect_timeout) || c->connect_timeout == 0)
            return usage_error("invalid --connect-timeout: '%s' (seconds, more than 0)", arg);
        return 0;
    case OPT_MAX_SIZE:
        if ((v = cli_parse_size(arg)) < 0)
            return usage_error("invalid --max-size: '%s'", arg);
        c->max_size = v;
        return 0;
    case OPT_PAGE_MAX_SIZE:
        if ((v = cli_parse_size(arg)) < 0 || v > (1LL << 30))
            return usage_error("invalid --page-max-size: '%s' (at most 1G)", arg);
        c->page_max_size = v;
        return 0;
    case OPT_CONTENT_DISPOSITION:
        c->content_disposition = true;
        return 0;
    case OPT_CA_FILE:
        if (access(arg, R_OK) != 0)
            return usage_error("cannot read the CA file '%s'", arg);
        c->ca_file = arg;
        return 0;
    case OPT_FRONTIER:
        if (strncmp(arg, "redis://", 8) != 0 && strncmp(arg, "redis+unix://", 13) != 0)
            return usage_error("%s", "--frontier needs a redis:// or redis+unix:// name");
        c->frontier = arg;
        return 0;
    case OPT_FRONTIER_IDLE:
        if (!parse_seconds(arg, &c->frontier_idle) || c->frontier_idle < 0.1)
            return usage_error("invalid --frontier-idle: '%s' (seconds, at least 0.1)", arg);
        return 0;
    case 'c':
        c->resume = true;
        return 0;
    case OPT_PROGRESS:
        if (progress_mode(arg, &c->progress) < 0)
            return usage_error("invalid --progress: '%s' (auto, bars, plain, json, none)", arg);
        return 0;
    case OPT_NO_PROGRESS:
        c->progress = MT_PROGRESS_NONE;
        return 0;
    case OPT_STATS_JSON:
        c->stats_json = arg;
        return 0;
    case 'q':
        c->quiet = true;
        return 0;
    case 'h':
        usage(stdout);
        return 1;
    case 'V':
        printf("mtget (multitask) %s\n", mt_version());
        return 1;
    default:
        fprintf(stderr, "Try 'mtget --help' for more information.\n");
        return MTGET_EXIT_USAGE + 100;
    }
}

int mtget_options(mtget_config *c, int argc, char **argv)
{
    *c = (mtget_config){
        .depth = MTGET_DEFAULT_DEPTH,
        .dir = ".",
        .jobs = MTGET_DEFAULT_JOBS,
        .page_jobs = MTGET_DEFAULT_PAGE_JOBS,
        .per_host = MTGET_DEFAULT_PER_HOST,
        .robots = true,
        .retries = MTGET_DEFAULT_RETRIES,
        .timeout = MTGET_DEFAULT_TIMEOUT,
        .connect_timeout = MTGET_DEFAULT_CONNECT_TIMEOUT,
        .page_max_size = MTGET_DEFAULT_PAGE_MAX,
        .progress = MT_PROGRESS_AUTO,
        .frontier_idle = MTGET_DEFAULT_FRONTIER_IDLE,
    };
    int opt;
    bool depth_set = false;
    while ((opt = getopt_long(argc, argv, "i:P:j:U:cqhV", longopts, NULL)) != -1) {
        depth_set |= opt == OPT_DEPTH;
        int r = option(c, opt, optarg);
        if (r)
            return r;
    }
    c->urls = argv + optind;
    c->nurls = argc - optind;
    if (c->quiet && c->progress != MT_PROGRESS_JSON)
        c->progress = MT_PROGRESS_NONE;
    if (!c->xpath && c->npages)
        return usage_error("%s", "--pages needs --xpath (what to download from the pages)");
    if (!c->xpath && (c->follow || depth_set))
        return usage_error("%s", "--follow and --depth crawl pages: they need --xpath");
    if (!c->follow && depth_set && c->depth != 0)
        return usage_error("%s", "--depth counts pages followed: it needs --follow");
    if (!c->follow)
        c->depth = 0;
    if (c->nurls == 0 && !c->input && c->npages == 0)
        return usage_error("%s", c->xpath ? "no pages to crawl (--pages, -i or URL operands)"
                                          : "missing URL (operands or -i FILE)");
    int stdin_users = (c->input && strcmp(c->input, "-") == 0);
    for (int i = 0; i < c->npages; i++)
        stdin_users += strcmp(c->pages[i], "-") == 0;
    if (stdin_users > 1)
        return usage_error("%s", "standard input can be read only once");
    for (int i = 0; i < c->nurls; i++)
        if (!mt_url_is_http(c->urls[i]))
            return usage_error("not an http or https URL: '%s'", c->urls[i]);
    return 0;
}

void mtget_config_free(mtget_config *c)
{
    free(c->pages);
    c->pages = NULL;
}
