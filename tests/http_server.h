/*
 * http_server.h - start the test HTTP server (mt-test-httpd, built beside
 * the tests; its path is in $MT_TEST_HTTPD) on 127.0.0.1 with a port the
 * kernel picks, in a fresh temporary docroot, and stop it: a byte on its
 * standard input (--stop-on-stdin), then wait for it (SIGKILL after 30 s),
 * so that the leak checks of helpers.h
 * find no child left. A test that fails before it stops the server takes
 * it along: the server ends when the test's process does (--parent).
 * The server logs one line a request to s->log:
 *   METHOD TARGET RANGE STATUS BODY-BYTES     ("-" for a missing field)
 *
 *   test_httpd s;
 *   test_httpd_start(&s, NULL);
 *   test_httpd_put(&s, "a.bin", data, len);   // files in the docroot
 *   ... http://127.0.0.1:<s.port>/a.bin, /_/status/503, ...
 *   test_httpd_stop(&s);                      // expects exit status 0
 */
#ifndef MT_TEST_HTTP_SERVER_H
#define MT_TEST_HTTP_SERVER_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct test_httpd {
    pid_t pid;
    int port;
    char dir[64];   /* temporary directory holding root/ and log */
    char root[96];  /* the docroot */
    char log[96];   /* the request log */
    int stop_fd;    /* its standard input: a byte stops it */
} test_httpd;

/* Start the server; extra is a NULL-terminated list of more arguments
 * (--cap, --idle, ...) or NULL. Fails the test if it does not come up. */
static inline void test_httpd_start(test_httpd *s, const char *const *extra)
{
    const char *exe = getenv("MT_TEST_HTTPD");
    cr_assert(exe, "MT_TEST_HTTPD is not set");
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/mt-httpd-XXXXXX");
    cr_assert(mkdtemp(s->dir), "mkdtemp: %s", strerror(errno));
    snprintf(s->root, sizeof s->root, "%s/root", s->dir);
    snprintf(s->log, sizeof s->log, "%s/log", s->dir);
    cr_assert_eq(mkdir(s->root, 0755), 0);
    char parent[32];
    snprintf(parent, sizeof parent, "%d", (int)getpid());
    const char *argv[32] = {exe, "--root", s->root,   "--log",  s->log,
                            "--port", "0", "--parent", parent, "--stop-on-stdin"};
    for (int i = 10, j = 0; extra && extra[j] && i < 31; i++, j++)
        argv[i] = extra[j];
    int out[2], stop[2];
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(stop, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, stop[0], STDIN_FILENO);
    int err = posix_spawn(&s->pid, exe, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    close(stop[0]);
    s->stop_fd = stop[1];
    cr_assert_eq(err, 0, "cannot start %s: %s", exe, strerror(err));
    /* "port N\n", within 30 s (a sanitized build starts slowly) */
    char line[64] = {0};
    size_t len = 0;
    struct pollfd p = {.fd = out[0], .events = POLLIN};
    while (len < sizeof line - 1 && !memchr(line, '\n', len) && poll(&p, 1, 30000) == 1) {
        ssize_t n = read(out[0], line + len, sizeof line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(out[0]);
    if (sscanf(line, "port %d", &s->port) != 1) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        close(s->stop_fd);
        cr_assert_fail("the server did not say its port: '%s'", line);
    }
}

/* Write a file of the docroot (name relative to it, directories made). */
static inline void test_httpd_put(const test_httpd *s, const char *name, const void *data,
                                  size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", s->root, name);
    for (char *slash = strchr(path + strlen(s->root) + 1, '/'); slash;
         slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(path, 0755);
        *slash = '/';
    }
    FILE *f = fopen(path, "we");
    cr_assert(f, "cannot write '%s'", path);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Whether a line of the request log holds `part`, waiting up to `timeout`
 * seconds for it (the server writes a line once its response is over). */
static inline bool test_httpd_log_has(const test_httpd *s, const char *part, double timeout)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        FILE *f = fopen(s->log, "re");
        char line[8192];
        bool found = false;
        while (f && !found && fgets(line, sizeof line, f))
            found = strstr(line, part) != NULL;
        if (f)
            fclose(f);
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (found || (double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > timeout)
            return found;
        usleep(10000);
    }
}

static inline int test_httpd_rm(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)st, (void)type, (void)f;
    remove(path);
    return 0;
}

/* Connect to the server and hang up at once. Under TSan a signal that
 * arrives while the server sleeps in the kernel with no timer armed may be
 * held back until its next system call returns: a connection makes one
 * return. Harmless otherwise (the server drops it, or refuses it once its
 * listening socket is closed). */
static inline void test_httpd_poke(const test_httpd *s)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    (void)connect(fd, (struct sockaddr *)&a, sizeof a);
    close(fd);
}

/* Stop the server and remove its directory. Expects it to exit 0 on
 * SIGTERM (a sanitized server exits otherwise when it leaked). */
static inline void test_httpd_stop(test_httpd *s)
{
    int status = 0;
    /* A byte on its standard input, not SIGTERM: under ThreadSanitizer a
     * signal to the server's loop is sometimes never seen. (A byte, not the
     * pipe's end: children the test forked since may hold the write end.) */
    if (write(s->stop_fd, "", 1) != 1)
        kill(s->pid, SIGTERM);
    close(s->stop_fd);
    /* 30 s: a sanitized server closing a thousand connections on a loaded
     * machine took more than 10. Poked once a second meanwhile. */
    for (int i = 0; i < 3000 && waitpid(s->pid, &status, WNOHANG) == 0; i++) {
        if (i % 100 == 99)
            test_httpd_poke(s);
        usleep(10000);
    }
    if (waitpid(s->pid, &status, WNOHANG) == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
    }
    nftw(s->dir, test_httpd_rm, 16, FTW_DEPTH | FTW_PHYS);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "the server ended with status 0x%x", status);
}

#endif
