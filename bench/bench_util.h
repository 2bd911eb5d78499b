/*
 * bench_util.h - what every benchmark program shares: its command line
 * (`prog SUBCOMMAND [-p PROCESSES] [-n COUNT]`), the clock, medians, and the
 * one JSON line each run prints for bench/run.py to read.
 *
 * Usage:
 *   1. Write one function per subcommand, taking the parsed bench_args.
 *   2. List them in a bench_cmd table and return bench_main(argc, argv,
 *      cmds, n) from main().
 *   3. In each function, time the work with bench_now(), check every result,
 *      then print the figures:
 *        bench_json_begin(a);
 *        bench_json_num("tasks_per_s", n / secs);
 *        bench_json_end();
 *
 * A benchmark that finds a wrong result or a failing call exits with status 1
 * and a message on stderr (bench_die, bench_check): a figure is printed only
 * for work that was done and verified.
 */
#ifndef MT_BENCH_UTIL_H
#define MT_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>

typedef struct bench_args {
    const char *prog; /* program name, for messages */
    const char *name; /* the subcommand */
    int processes;    /* -p: workers (processes or threads); the subcommand's default */
    long n;           /* -n: how many times / items; the subcommand's default */
} bench_args;

/* A bench_cmd's default_processes that means ThreadPoolExecutor's default
 * worker count, min(32, CPUs + 4). */
#define BENCH_THREADPOOL_WORKERS (-1)

typedef struct bench_cmd {
    const char *name;
    const char *help;
    long default_n;
    int default_processes; /* 0 means mt_cpu_count(); or BENCH_THREADPOOL_WORKERS */
    void (*run)(const bench_args *a);
} bench_cmd;

/* Parse the command line, run the chosen subcommand, return the exit status.
 * `prog --list` prints the subcommands; usage errors exit 2. */
int bench_main(int argc, char **argv, const bench_cmd *cmds, size_t ncmds);

/* Monotonic seconds. */
double bench_now(void);

/* The median of v[0..n-1] (sorts v in place); 0 when n is 0. */
double bench_median(double *v, size_t n);

/* The mean of v[0..n-1]; 0 when n is 0. */
double bench_mean(const double *v, size_t n);

/* Print "prog: message" to stderr and exit with status 1. */
_Noreturn void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* bench_die with mt_strerror(err) when err < 0; `what` names the call. */
void bench_check(int err, const char *what);

/* Allocate or die. */
void *bench_alloc(size_t size);

/*
 * The JSON line: bench_json_begin prints {"bench":..,"impl":"multitask",
 * "processes":..,"n":.. and each bench_json_* call adds one field;
 * bench_json_end closes the object, ends the line and flushes stdout.
 * bench_json_begin_impl does the same for work done by something else (a
 * second anchor built into the program, such as "glib").
 */
void bench_json_begin(const bench_args *a);
void bench_json_begin_impl(const bench_args *a, const char *impl);
/* The "impl" of the JSON line: "multitask" unless an anchor program names
 * itself ("swapcontext", "st", ...). */
void bench_set_impl(const char *impl);
void bench_json_num(const char *key, double v);
void bench_json_int(const char *key, long v);
void bench_json_str(const char *key, const char *v);
void bench_json_end(void);

/* The switch benchmarks' ending: die unless the other context ran `ran`
 * times (a->n), else print seconds and ns_per_switch (two switches a round
 * trip) as the JSON line. */
void bench_json_switches(const bench_args *a, double secs, long ran);

/*
 * The Redis benchmarks (bench/remote/): their command line is `prog URL N`,
 * URL naming the object on its server (redis+unix:///path/redis.sock/NAME).
 * bench_server_args returns N (at least 1) and sets *url; a usage error
 * exits with status 2.
 * bench_rate_line prints one measurement as bench/remote/run.py reads it:
 *   {"name": NAME, "ops": OPS, "seconds": S, "rate": OPS/S}
 * with "us_per_op" added when per_op is true (a round trip), and flushes.
 */
long bench_server_args(int argc, char **argv, const char **url);
void bench_rate_line(const char *name, long ops, double secs, bool per_op);

#endif
