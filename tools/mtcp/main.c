/*
 * main.c - mtcp's command line: options, the SOURCE and DEST operands
 * (with cp's meaning: into DEST when it is a directory, else as DEST),
 * signals, and the exit status:
 *   0    everything was copied
 *   1    some files failed (each named on stderr), or a stop (disk full)
 *   2    usage error
 *   130  interrupted (SIGINT; 128 + the signal for SIGTERM and SIGHUP),
 *        after the workers stopped and removed their temporary files
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli.h"
#include "mtcp.h"

/* Workers by default: measured on 2-CPU machines, small files gain up to
 * about 4 workers (one walks while others wait on the disk), big files are
 * bound by the disk (see bench/results/mtcp.md). */
#define MTCP_DEFAULT_JOBS 4

volatile sig_atomic_t mtcp_signal;

enum {
    OPT_PROGRESS = 256,
    OPT_NO_PROGRESS,
    OPT_VERIFY,
    OPT_RESUME,
    OPT_EXCLUDE,
    OPT_NO_PRESERVE,
    OPT_FSYNC,
    OPT_REFLINK,
    OPT_SPARSE,
    OPT_BWLIMIT,
};

static const struct option longopts[] = {
    {"archive", no_argument, NULL, 'a'},
    {"bwlimit", required_argument, NULL, OPT_BWLIMIT},
    {"dry-run", no_argument, NULL, 'n'},
    {"exclude", required_argument, NULL, OPT_EXCLUDE},
    {"fsync", no_argument, NULL, OPT_FSYNC},
    {"help", no_argument, NULL, 'h'},
    {"jobs", required_argument, NULL, 'j'},
    {"no-preserve", required_argument, NULL, OPT_NO_PRESERVE},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"progress", optional_argument, NULL, OPT_PROGRESS},
    {"quiet", no_argument, NULL, 'q'},
    {"reflink", optional_argument, NULL, OPT_REFLINK},
    {"resume", no_argument, NULL, OPT_RESUME},
    {"sparse", required_argument, NULL, OPT_SPARSE},
    {"verbose", no_argument, NULL, 'v'},
    {"verify", no_argument, NULL, OPT_VERIFY},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mtcp [OPTIONS] SOURCE... DEST\n"
            "Copy files and directory trees in parallel, as `cp -a` does, with live progress.\n"
            "With one SOURCE and no directory DEST, the copy is named DEST; else every\n"
            "SOURCE is copied into the directory DEST.\n"
            "\n"
            "  -j, --jobs N           copy with N workers (default %d, measured best here)\n"
            "      --progress[=WHEN]  bars (on a terminal, the default there), plain (a line\n"
            "                         a second on stderr), json (events on stdout), none\n"
            "      --no-progress      the same as --progress=none\n"
            "      --verify           read both sides back and compare XXH3 digests\n"
            "      --resume           skip files already complete at DEST (same size and\n"
            "                         mtime); finish big files a killed run left partial,\n"
            "                         and a copy named DEST that a killed run left\n"
            "  -n, --dry-run          say what would be copied, change nothing\n"
            "  -v, --verbose          name each file copied (on stdout)\n"
            "  -q, --quiet            no progress, no warnings, no summary; errors only\n"
            "      --exclude PATTERN  skip names matching PATTERN (a glob; with a '/', it\n"
            "                         matches the path below SOURCE); repeatable\n"
            "      --no-preserve=LIST do not keep: mode,ownership,timestamps,links,xattr,all\n"
            "      --fsync            flush every file to disk before it takes its name\n"
            "      --reflink[=WHEN]   share blocks when the filesystem can: auto (default),\n"
            "                         always (fail where it cannot), never\n"
            "      --sparse=WHEN      keep holes: auto (default), always (also make holes\n"
            "                         of blocks of zeros), never\n"
            "      --bwlimit RATE     copy at most RATE bytes a second (K, M, G suffixes)\n"
            "  -a, --archive          accepted for cp's sake: it is always on\n"
            "  -h, --help             show this help\n"
            "  -V, --version          show the version\n"
            "\n"
            "Exit status: 0 all copied, 1 some files failed, 2 usage error, 130 interrupted.\n",
            MTCP_DEFAULT_JOBS);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, MTCP_NAME ": ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'mtcp --help' for more information.\n");
    return 2;
}

static int tristate(const char *s)
{
    if (!s || strcmp(s, "always") == 0)
        return MTCP_ALWAYS;
    if (strcmp(s, "auto") == 0)
        return MTCP_AUTO;
    if (strcmp(s, "never") == 0)
        return MTCP_NEVER;
    return -1;
}

static int no_preserve(mtcp_opts *o, const char *list)
{
    char *copy = strdup(list), *save = NULL;
    int err = copy ? 0 : -ENOMEM;
    for (char *w = copy ? strtok_r(copy, ",", &save) : NULL; w; w = strtok_r(NULL, ",", &save)) {
        bool all = strcmp(w, "all") == 0;
        if (all || strcmp(w, "mode") == 0)
            o->keep_mode = false;
        if (all || strcmp(w, "ownership") == 0)
            o->keep_owner = false;
        if (all || strcmp(w, "timestamps") == 0)
            o->keep_times = false;
        if (all || strcmp(w, "links") == 0)
            o->keep_links = false;
        if (all || strcmp(w, "xattr") == 0)
            o->keep_xattr = false;
        if (!all && strcmp(w, "mode") && strcmp(w, "ownership") && strcmp(w, "timestamps") &&
            strcmp(w, "links") && strcmp(w, "xattr")) {
            err = -EINVAL;
            break;
        }
    }
    free(copy);
    return err;
}

/* Parse the options into *o; returns the index of the first operand, or
 * -2 for a usage error (already reported), -1 for --help/--version. */
static int parse(int argc, char **argv, mtcp_opts *o)
{
    int c;
    while ((c = getopt_long(argc, argv, "aj:nqvhVrRp", longopts, NULL)) != -1) {
        long long v;
        char *end;
        switch (c) {
        case 'a':
        case 'r':
        case 'R':
        case 'p':
            break;
        case 'j':
            errno = 0;
            v = strtoll(optarg, &end, 10);
            if (errno || *end || v < 1 || v > MT_PROGRESS_MAX_SLOTS)
                return usage_error("invalid number of jobs: '%s' (1 to 256)", optarg), -2;
            o->jobs = (int)v;
            break;
        case OPT_PROGRESS:
            o->progress_set = true;
            if (!optarg || strcmp(optarg, "bars") == 0)
                o->progress = isatty(2) ? MT_PROGRESS_BARS : MT_PROGRESS_PLAIN;
            else if (strcmp(optarg, "plain") == 0)
                o->progress = MT_PROGRESS_PLAIN;
            else if (strcmp(optarg, "json") == 0)
                o->progress = MT_PROGRESS_JSON;
            else if (strcmp(optarg, "none") == 0)
                o->progress = MT_PROGRESS_NONE;
            else if (strcmp(optarg, "auto") == 0)
                o->progress = MT_PROGRESS_AUTO;
            else
                return usage_error("invalid --progress: '%s' (bars, plain, json, none)", optarg), -2;
            break;
        case OPT_NO_PROGRESS:
            o->progress_set = true;
            o->progress = MT_PROGRESS_NONE;
            break;
        case OPT_VERIFY:
            o->verify = true;
            break;
        case OPT_RESUME:
            o->resume = true;
            break;
        case 'n':
            o->dry_run = true;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case 'q':
            o->verbose = -1;
            break;
        case OPT_EXCLUDE: {
            char **e = realloc(o->excludes, sizeof *e * ((size_t)o->nexcludes + 1));
            if (!e)
                return usage_error("%s", "out of memory"), -2;
            o->excludes = e;
            o->excludes[o->nexcludes++] = optarg;
            break;
        }
        case OPT_NO_PRESERVE:
            if (no_preserve(o, optarg) < 0)
                return usage_error("invalid --no-preserve list: '%s'", optarg), -2;
            break;
        case OPT_FSYNC:
            o->fsync = true;
            break;
        case OPT_REFLINK:
            if ((o->reflink = tristate(optarg)) < 0)
                return usage_error("invalid --reflink: '%s' (auto, always, never)", optarg), -2;
            break;
        case OPT_SPARSE:
            if ((o->sparse = tristate(optarg)) < 0)
                return usage_error("invalid --sparse: '%s' (auto, always, never)", optarg), -2;
            break;
        case OPT_BWLIMIT:
            if ((v = cli_parse_size(optarg)) < 0)
                return usage_error("invalid --bwlimit: '%s'", optarg), -2;
            o->bwlimit = (uint64_t)v;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case 'V':
            printf("mtcp (multitask) %s\n", mt_version());
            return -1;
        default:
            fprintf(stderr, "Try 'mtcp --help' for more information.\n");
            return -2;
        }
    }
    if (argc - optind < 2)
        return usage_error("%s", argc - optind == 0 ? "missing file operand"
                                                    : "missing destination operand"),
               -2;
    return optind;
}

/* Split path into its directory and last name. "a/b" -> "a", "b";
 * "b" -> ".", "b"; "/" -> "/", "."; "a/." -> "a/.", ".". */
static int split(const char *path, char **dir, char **name)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    const char *slash = memrchr(path, '/', len);
    const char *base = slash ? slash + 1 : path;
    size_t blen = len - (size_t)(base - path);
    bool dots = (blen == 1 && base[0] == '.') || (blen == 2 && base[0] == '.' && base[1] == '.');
    if (len == 1 && path[0] == '/') {
        *dir = strdup("/");
        *name = strdup(".");
    } else if (dots) {
        *dir = strndup(path, len);
        *name = strdup(".");
    } else {
        *dir = !slash ? strdup(".") : slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
        *name = strndup(base, blen);
    }
    return *dir && *name ? 0 : -ENOMEM;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Whether the directory dirfd is src or inside it. */
static bool inside(int dirfd, const struct stat *src)
{
    struct stat root, st;
    if (stat("/", &root) < 0)
        return false;
    int fd = dup(dirfd);
    bool found = false;
    while (fd >= 0 && fstat(fd, &st) == 0) {
        if (same_file(&st, src)) {
            found = true;
            break;
        }
        if (same_file(&st, &root))
            break;
        int up = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        close(fd);
        fd = up;
    }
    if (fd >= 0)
        close(fd);
    return found;
}

/* Make the operand for `src`; returns 0, or 1 when it failed (reported). */
static int operand(mtcp *m, mtcp_operand *op, const char *src, const char *dest, bool into)
{
    struct stat st, dst;
    char *sdir = NULL, *ddir = NULL, *dname = NULL, *link_name = NULL;
    const char *what = "cannot stat";
    const char *subject = src;
    int err = 0;
    memset(op, 0, sizeof *op);
    op->src_parent = op->dst_parent = -1;
    if (split(src, &sdir, &op->src_name) < 0)
        goto nomem;
    size_t len = strlen(src);
    while (len > 1 && src[len - 1] == '/')
        len--;
    if (!(op->src = strndup(src, len)))
        goto nomem;
    if (fstatat(AT_FDCWD, op->src, &st, AT_SYMLINK_NOFOLLOW) < 0)
        goto fail;
    if (len < strlen(src) && S_ISLNK(st.st_mode)) {
        /* "link/" names the directory the link points to, as for cp and
         * rsync: copy that directory, under the link's name. */
        char *real = realpath(op->src, NULL);
        if (!real || stat(real, &st) < 0 || (!S_ISDIR(st.st_mode) && (errno = ENOTDIR))) {
            free(real);
            goto fail;
        }
        link_name = op->src_name;
        free(sdir);
        sdir = NULL;
        int r = split(real, &sdir, &op->src_name);
        free(real);
        if (r < 0)
            goto nomem;
    }
    what = "cannot open directory";
    subject = sdir;
    op->src_parent = open(sdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (op->src_parent < 0)
        goto fail;
    if (into) {
        subject = dest;
        op->dst_parent = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        const char *base = link_name ? link_name : op->src_name;
        op->dst_name = strdup(strcmp(base, ".") == 0 ? "." : base);
    } else {
        if (split(dest, &ddir, &dname) < 0)
            goto nomem;
        subject = ddir;
        op->dst_parent = open(ddir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        op->dst_name = dname;
        dname = NULL;
    }
    if (op->dst_parent < 0 || fstat(op->dst_parent, &dst) < 0)
        goto fail;
    if (!op->dst_name)
        goto nomem;
    op->src_st = st;
    op->dst_dev = dst.st_dev;
    op->dst_ino = dst.st_ino;
    if (fstatat(op->dst_parent, op->dst_name, &dst, AT_SYMLINK_NOFOLLOW) == 0 && same_file(&st, &dst)) {
        mt_progress_print(NULL, 2, MTCP_NAME ": '%s' and '%s' are the same file", src, dest);
        goto failed;
    }
    if (S_ISDIR(st.st_mode) && inside(op->dst_parent, &st)) {
        mt_progress_print(NULL, 2, MTCP_NAME ": cannot copy a directory, '%s', into itself, '%s'",
                          src, dest);
        goto failed;
    }
    free(sdir);
    free(ddir);
    free(link_name);
    return 0;
nomem:
    errno = ENOMEM;
fail:
    err = -errno;
    mtcp_error(m, subject, what, err);
failed:
    free(sdir);
    free(ddir);
    free(dname);
    free(link_name);
    return 1;
}

/* The mark a copy of src to dest carries until complete (resume_mark.c),
 * or NULL. A DEST directory that holds the mark of an unfinished copy of
 * this very SOURCE is that copy: --resume finishes it there (*into turns
 * false) instead of copying into it as DEST/SOURCE, as cp's rule would. */
static char *unfinished_copy(mtcp *m, const char *src, const char *dest, bool *into)
{
    char *mark = mtcp_mark_text(src);
    if (!mark || !*into || !mtcp_mark_found(dest, mark))
        return mark;
    if (m->o->resume)
        *into = false;
    else
        mtcp_warn(m, "'%s' holds an unfinished copy of '%s': copying into it, as cp does "
                     "(--resume finishes that copy instead)", dest, src);
    return mark;
}

/* Run the engine on the operands of one round that are not dropped. */
static int run_round(mtcp *m, mtcp_operand *ops, int n)
{
    mtcp_operand **keep = calloc((size_t)n + 1, sizeof *keep);
    if (!keep)
        return -ENOMEM;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!ops[i].drop)
            keep[k++] = &ops[i];
    int err = k > 0 ? mtcp_run(m, keep, k) : 0;
    free(keep);
    return err;
}

static void operand_free(mtcp_operand *op)
{
    if (op->src_parent >= 0)
        close(op->src_parent);
    if (op->dst_parent >= 0)
        close(op->dst_parent);
    free(op->src);
    free(op->src_name);
    free(op->dst_name);
    free(op->mark);
}

static void on_signal(int sig)
{
    mtcp_signal = sig;
}

static void setup_process(mtcp_opts *o)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* A file size limit shows as EFBIG on the write; a closed stdout as
     * EPIPE. Neither should kill us halfway. */
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* Directories hold two fds each while their contents are copied. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Modes are set exactly as asked, not filtered by the umask. */
    o->umask = umask(0);
    o->euid = geteuid();
    o->egid = getegid();
    o->root = o->euid == 0;
}

int main(int argc, char **argv)
{
    mtcp_opts o = {
        .jobs = MTCP_DEFAULT_JOBS,
        .keep_mode = true,
        .keep_owner = true,
        .keep_times = true,
        .keep_links = true,
        .keep_xattr = true,
    };
    int first = parse(argc, argv, &o);
    if (first < 0) {
        free(o.excludes);
        return first == -1 ? 0 : 2;
    }
    setup_process(&o);
    if (!o.progress_set)
        o.progress = MT_PROGRESS_AUTO;
    if (o.verbose < 0 && o.progress != MT_PROGRESS_JSON)
        o.progress = MT_PROGRESS_NONE;

    mtcp m = {.o = &o, .start_ns = mt_monotonic_ns()};
    pthread_mutex_init(&m.mu, NULL);
    pthread_cond_init(&m.cv, NULL);
    int nsrc = argc - first - 1, nops = 0, status = 0;
    const char *dest = argv[argc - 1];
    struct stat dst;
    bool into = stat(dest, &dst) == 0 && S_ISDIR(dst.st_mode);
    mtcp_operand *ops = calloc((size_t)nsrc, sizeof *ops);
    if (!ops) {
        fprintf(stderr, MTCP_NAME ": out of memory\n");
        return 1;
    }
    if (nsrc > 1 && !into) {
        free(ops);
        free(o.excludes);
        return usage_error("target '%s' is not a directory", dest);
    }
    char *mark = nsrc == 1 && !o.dry_run ? unfinished_copy(&m, argv[first], dest, &into) : NULL;
    for (int i = 0; i < nsrc; i++) {
        if (operand(&m, &ops[nops], argv[first + i], dest, into) == 0) {
            /* the copy is DEST itself: marked until it is complete */
            if (mark && S_ISDIR(ops[nops].src_st.st_mode) &&
                (!into || strcmp(ops[nops].dst_name, ".") == 0)) {
                ops[nops].mark = mark;
                mark = NULL;
            }
            nops++;
        } else {
            operand_free(&ops[nops]);
            atomic_fetch_add(&m.files_failed, 1);
        }
    }
    free(mark);
    int err = mt_progress_new(&m.progress, &(mt_progress_opts){.mode = o.progress,
                                                               .desc = MTCP_NAME,
                                                               .item_unit = "files",
                                                               .slots = o.jobs,
                                                               .delay = 0.3});
    if (err < 0) {
        fprintf(stderr, MTCP_NAME ": cannot start the progress display: %s\n", mt_strerror(err));
        status = 1;
        goto out;
    }
    int rounds = mtcp_operands_plan(&m, ops, nops, dest, into);
    for (int i = 0, r = 0; r < rounds && err >= 0 && !mtcp_stopping(&m) && !mtcp_signal; r++) {
        int n = 0;
        while (i + n < nops && ops[i + n].round == r)
            n++;
        err = run_round(&m, ops + i, n);
        i += n;
    }
    if (err < 0 && err != -EINTR && !mtcp_signal)
        fprintf(stderr, MTCP_NAME ": %s\n", mt_strerror(err));
    mt_progress_finish(m.progress);
    if (mtcp_signal)
        status = 128 + mtcp_signal;
    else if (atomic_load(&m.files_failed) || atomic_load(&m.stop) || err < 0)
        status = 1;
    mtcp_summary(&m, status);
out:
    mt_progress_free(m.progress);
    mtcp_hl_free_all();
    for (int i = 0; i < nops; i++)
        operand_free(&ops[i]);
    free(ops);
    free(o.excludes);
    pthread_cond_destroy(&m.cv);
    pthread_mutex_destroy(&m.mu);
    return status;
}
