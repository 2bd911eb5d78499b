/*
 * runner.c (TSan builds only) - main() for the Criterion-compatible header:
 * runs each registered test in its own forked process under its timeout and
 * prints Criterion's summary line. Options are accepted and ignored, except
 * --filter=SUITE/NAME-prefix.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "criterion/criterion.h"

static struct shim_test **tests;
static size_t ntests, captests;
static bool failed;
static jmp_buf abort_test;

void shim_register(struct shim_test *t)
{
    if (ntests == captests) {
        captests = captests ? captests * 2 : 64;
        tests = realloc(tests, captests * sizeof *tests);
        if (!tests)
            abort();
    }
    tests[ntests++] = t;
}

void shim_fail(bool fatal, const char *file, int line, const char *expr, const char *fmt, ...)
{
    fprintf(stderr, "[----] %s:%d: Assertion Failed\n[----]   %s\n", file, line, expr);
    if (fmt && fmt[0] && fmt[1]) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "[----]   ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    failed = true;
    if (fatal)
        longjmp(abort_test, 1);
}

static _Noreturn void run_child(struct shim_test *t)
{
    if (t->init)
        t->init();
    if (setjmp(abort_test) == 0)
        t->fn();
    if (t->fini)
        t->fini();
    fflush(NULL);
    exit(failed ? 1 : t->exit_code);
}

/* 0 pass, 1 fail, 2 crash or timeout. */
static int run_one(struct shim_test *t)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0)
        run_child(t);
    double limit = t->timeout > 0 ? t->timeout : 300;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double dt = (double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) * 1e-9;
        if (dt > limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "[FAIL] %s::%s: Timed out. (%.2fs)\n", t->suite, t->name, dt);
            return 2;
        }
        usleep(2000);
    }
    if (WIFSIGNALED(status)) {
        if (t->signal && WTERMSIG(status) == t->signal)
            return 0;
        fprintf(stderr, "[FAIL] %s::%s: CRASH (signal %d)\n", t->suite, t->name,
                WTERMSIG(status));
        return 2;
    }
    if (WEXITSTATUS(status) != t->exit_code) {
        fprintf(stderr, "[FAIL] %s::%s\n", t->suite, t->name);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *filter = NULL;
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--filter=", 9) == 0)
            filter = argv[i] + 9;
    int tested = 0, passing = 0, failing = 0, crashing = 0;
    for (size_t i = 0; i < ntests; i++) {
        struct shim_test *t = tests[i];
        char full[512];
        snprintf(full, sizeof full, "%s/%s", t->suite, t->name);
        if (t->disabled || (filter && strncmp(full, filter, strlen(filter)) != 0))
            continue;
        tested++;
        int r = run_one(t);
        passing += r == 0;
        failing += r != 0;
        crashing += r == 2;
    }
    fprintf(stderr, "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d \n",
            tested, passing, failing, crashing);
    return failing ? 1 : 0;
}
