/*
 * bench_util.c - the shared part of the benchmark programs: command line,
 * clock, statistics and the JSON line (see bench_util.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "multitask.h"

static const char *prog_name = "bench";

_Noreturn void bench_die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void bench_check(int err, const char *what)
{
    if (err < 0)
        bench_die("%s: %s (%s)", what, mt_strerror(err), mt_err_name(err));
}

void *bench_alloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        bench_die("out of memory (%zu bytes)", size);
    return p;
}

double bench_now(void)
{
    return mt_monotonic();
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double bench_mean(const double *v, size_t n)
{
    if (n == 0)
        return 0;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    return sum / (double)n;
}

/* ---- the JSON line ---------------------------------------------------- */

static void json_key(const char *key)
{
    printf(",\"%s\":", key);
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

static const char *impl_name = "multitask";

void bench_set_impl(const char *impl)
{
    impl_name = impl;
}

void bench_json_begin(const bench_args *a)
{
    bench_json_begin_impl(a, impl_name);
}

void bench_json_begin_impl(const bench_args *a, const char *impl)
{
    printf("{\"bench\":");
    json_string(a->name);
    bench_json_str("impl", impl);
    bench_json_int("processes", a->processes);
    bench_json_int("n", a->n);
}

void bench_json_num(const char *key, double v)
{
    json_key(key);
    printf("%.6g", v);
}

void bench_json_int(const char *key, long v)
{
    json_key(key);
    printf("%ld", v);
}

void bench_json_str(const char *key, const char *v)
{
    json_key(key);
    json_string(v);
}

void bench_json_end(void)
{
    printf("}\n");
    fflush(stdout);
}

void bench_json_switches(const bench_args *a, double secs, long ran)
{
    if (ran != a->n)
        bench_die("the other context ran %ld times, not %ld", ran, a->n);
    bench_json_begin(a);
    bench_json_num("seconds", secs);
    bench_json_num("ns_per_switch", secs * 1e9 / (2.0 * (double)a->n));
    bench_json_end();
}

/* ---- command line ----------------------------------------------------- */

static void usage(FILE *to, const bench_cmd *cmds, size_t ncmds)
{
    fprintf(to, "usage: %s SUBCOMMAND [-p PROCESSES] [-n COUNT]\n       %s --list\n",
            prog_name, prog_name);
    for (size_t i = 0; i < ncmds; i++)
        fprintf(to, "  %-12s %s (default -n %ld)\n", cmds[i].name, cmds[i].help,
                cmds[i].default_n);
}

static long parse_count(const char *s, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > INT_MAX)
        bench_die("bad %s '%s': want a positive number", what, s);
    return v;
}

static int default_processes(int wanted)
{
    int cpus = mt_cpu_count();
    if (wanted == BENCH_THREADPOOL_WORKERS)
        return cpus + 4 < 32 ? cpus + 4 : 32;
    return wanted > 0 ? wanted : cpus;
}

int bench_main(int argc, char **argv, const bench_cmd *cmds, size_t ncmds)
{
    const char *slash = strrchr(argv[0], '/');
    prog_name = slash ? slash + 1 : argv[0];
    if (argc >= 2 && (!strcmp(argv[1], "--list") || !strcmp(argv[1], "--help"))) {
        usage(stdout, cmds, ncmds);
        return 0;
    }
    const bench_cmd *cmd = NULL;
    for (size_t i = 0; argc >= 2 && i < ncmds; i++)
        if (!strcmp(argv[1], cmds[i].name))
            cmd = &cmds[i];
    if (!cmd) {
        usage(stderr, cmds, ncmds);
        return 2;
    }
    bench_args a = {.prog = prog_name, .name = cmd->name};
    static const struct option longopts[] = {
        {"processes", required_argument, NULL, 'p'},
        {"count", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "p:n:", longopts, NULL)) != -1) {
        if (c == 'p')
            a.processes = (int)parse_count(optarg, "process count");
        else if (c == 'n')
            a.n = parse_count(optarg, "count");
        else {
            usage(stderr, cmds, ncmds);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr, cmds, ncmds);
        return 2;
    }
    if (!a.processes)
        a.processes = default_processes(cmd->default_processes);
    if (!a.n)
        a.n = cmd->default_n;
    cmd->run(&a);
    return 0;
}

long bench_server_args(int argc, char **argv, const char **url)
{
    char *end;
    long n = argc == 3 ? strtol(argv[2], &end, 10) : 0;
    if (argc != 3 || *end || n < 1) {
        fprintf(stderr, "usage: %s URL N (N a positive count)\n", argv[0]);
        exit(2);
    }
    *url = argv[1];
    return n;
}

void bench_rate_line(const char *name, long ops, double secs, bool per_op)
{
    printf("{\"name\": \"%s\", \"ops\": %ld, \"seconds\": %.6f, \"rate\": %.1f", name, ops,
           secs, (double)ops / secs);
    if (per_op)
        printf(", \"us_per_op\": %.3f", secs / (double)ops * 1e6);
    printf("}\n");
    fflush(stdout);
}
