/*
 * redis_server.h - start a redis-server of the test's own (Debian's
 * redis-server, found on PATH) in a fresh temporary directory, listening on
 * a Unix socket there (and, from test_redis_start_tcp, on a loopback port
 * the kernel picked), with AOF persistence (appendonly yes, appendfsync always), and stop it:
 * SIGTERM, then wait (SIGKILL after 10 s), then remove the directory.
 *
 * An AOF that a crash cut in the middle of a write is repaired as the
 * server's operator should: aof-load-truncated no (the server refuses to
 * start), then redis-check-aof --fix, which cuts the file before the
 * unfinished MULTI of a script's effects. Redis 7.0's own repair
 * (aof-load-truncated yes) cuts it after the last whole command, inside
 * that MULTI: the script's first commands stay in the file, unfinished,
 * and the next restart runs them with the following transaction, so a
 * call done once and resent after the crash is found done twice.
 *
 * The server is started with PR_SET_PDEATHSIG, so a test that fails before
 * it stops the server takes it along when its process ends.
 *
 *   test_redis s;
 *   test_redis_start(&s, NULL);         // extra config: {"--requirepass", "x", NULL}
 *   ... redis+unix://<s.sock>/NAME
 *   test_redis_start_tcp(&s, NULL);     // and redis://127.0.0.1:<s.port>/NAME
 *   test_redis_start_on(&s, "10.213.0.1 10.213.0.5", NULL);  // TCP on these addresses
 *   test_redis_kill(&s);                // SIGKILL: the data is what the AOF has
 *   test_redis_restart(&s);             // again, on the same directory and AOF
 *   test_redis_cmd(&s, reply, size, "GET", "k", NULL);  // a command of the test's
 *   test_redis_stop(&s);
 */
#ifndef MT_TEST_REDIS_SERVER_H
#define MT_TEST_REDIS_SERVER_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct test_redis {
    pid_t pid;
    int port;
    char dir[64];
    char sock[96];
    const char *extra[16]; /* more configuration, NULL-terminated */
    /* the password for the test's own commands, if the server wants one */
    const char *password;
    /* keep the directory (its AOF, its log) at stop, to look at a failure */
    bool keep;
    /* the addresses TCP listens on, separated by spaces ("": 127.0.0.1) */
    char bind[128];
} test_redis;

/* A free loopback port (the kernel's pick, released for the server). */
static inline int test_redis_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A connection to the server's socket, or -1. */
static inline int test_redis_connect(const test_redis *s)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", s->sock);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        struct timeval tv = {10, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        return fd;
    }
    if (fd >= 0) close(fd);
    return -1;
}

/* Send a command (NULL-terminated arguments) on fd and read its reply's
 * first line into reply ("+OK", "-ERR ...", ":5", "$3" then the bulk's
 * bytes on the next read: a bulk reply is given as its contents). Returns
 * the reply's type character, or 0 when the connection failed. */
static inline char test_redis_cmdv(int fd, char *reply, size_t size, const char *const *argv)
{
    char buf[8192];
    int n = 0, argc = 0;
    while (argv[argc])
        argc++;
    n += snprintf(buf + n, sizeof buf - (size_t)n, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
    if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n) return 0;
    size_t got = 0;
    char *eol = NULL;
    while (!(eol = memmem(buf, got, "\r\n", 2))) {
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        if (r <= 0) return 0;
        got += (size_t)r;
    }
    char type = buf[0];
    if (type == '$' && atol(buf + 1) >= 0) {
        size_t blen = (size_t)atol(buf + 1), start = (size_t)(eol + 2 - buf);
        while (got < start + blen + 2) {
            ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
            if (r <= 0) return 0;
            got += (size_t)r;
        }
        snprintf(reply, size, "%.*s", (int)blen, buf + start);
        return type;
    }
    /* an array's header only (the tests' arrays are not read further) */
    snprintf(reply, size, "%.*s", (int)(eol - buf - 1), buf + 1);
    return type;
}

/* One command on a connection of its own (with AUTH if s->password). */
static inline char test_redis_cmd(const test_redis *s, char *reply, size_t size, ...)
{
    const char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, size);
    while (argc < 15 && (argv[argc] = va_arg(ap, const char *)))
        argc++;
    va_end(ap);
    argv[argc] = NULL;
    int fd = test_redis_connect(s);
    if (fd < 0) return 0;
    char ignored[256];
    const char *auth[] = {"AUTH", s->password, NULL};
    char type = s->password ? test_redis_cmdv(fd, ignored, sizeof ignored, auth) : '+';
    if (type == '+') type = test_redis_cmdv(fd, reply, size, argv);
    close(fd);
    return type;
}

/* Whether the log, from offset `from`, says the AOF ends inside a command. */
static inline bool test_redis_aof_cut(const char *log, long from)
{
    char line[1024];
    bool cut = false;
    FILE *f = fopen(log, "re");
    if (f && fseek(f, from, SEEK_SET) == 0)
        while (!cut && fgets(line, sizeof line, f))
            cut = strstr(line, "Unexpected end of file reading the append only file") != NULL;
    if (f) fclose(f);
    return cut;
}

/* redis-check-aof --fix on the directory's AOF (it asks before it cuts):
 * true when it succeeded. */
static inline bool test_redis_aof_fix(const test_redis *s)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "redis-check-aof --fix '%s/appendonlydir/appendonly.aof.manifest' >>'%s/check-aof.log' "
             "2>&1",
             s->dir, s->dir);
    FILE *p = popen(cmd, "w");
    if (!p) return false;
    fputs("y\n", p);
    return pclose(p) == 0;
}

/* Start the server on s->dir (made already) and wait until it answers;
 * may_fix: repair a cut AOF once if it does not start for that. */
static inline void test_redis_spawn_fix(test_redis *s, bool may_fix)
{
    char port[16], log[128];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(log, sizeof log, "%s/log", s->dir);
    /* port 0: no TCP at all (a restart cannot find its port taken) */
    const char *argv[64] = {
        "redis-server",   "--port",  port,   "--unixsocket", s->sock,        "--unixsocketperm",
        "700",            "--dir",   s->dir, "--appendonly", "yes",          "--appendfsync",
        "always",         "--save",  "",     "--daemonize",  "no",           "--logfile",
        log,              "--aof-load-truncated", "no", "--bind"};
    int argc = 22;
    char bind[sizeof s->bind];
    snprintf(bind, sizeof bind, "%s", s->bind[0] ? s->bind : "127.0.0.1");
    for (char *save = NULL, *a = strtok_r(bind, " ", &save); a && argc < 30;
         a = strtok_r(NULL, " ", &save))
        argv[argc++] = a;
    /* clients from the test's own private links, without a password */
    if (s->bind[0]) {
        argv[argc++] = "--protected-mode";
        argv[argc++] = "no";
    }
    for (int i = 0; s->extra[i] && argc < 63; i++)
        argv[argc++] = s->extra[i];
    struct stat st;
    long from = stat(log, &st) == 0 ? (long)st.st_size : 0;
    pid_t parent = getpid();
    s->pid = fork();
    cr_assert(s->pid >= 0);
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    /* PONG (not LOADING) within 20 s: a sanitized machine is slow */
    for (int i = 0; i < 2000; i++) {
        char reply[128] = "";
        int fd = test_redis_connect(s);
        const char *ping[] = {"PING", NULL};
        char type = fd >= 0 ? test_redis_cmdv(fd, reply, sizeof reply, ping) : 0;
        if (fd >= 0) close(fd);
        /* a password-protected server answers NOAUTH: it is up too */
        if (type == '+' || (type == '-' && !strncmp(reply, "NOAUTH", 6))) return;
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            if (may_fix && test_redis_aof_cut(log, from)) {
                fprintf(stderr, "redis-server's AOF was cut: repaired with redis-check-aof --fix\n");
                cr_assert(test_redis_aof_fix(s), "redis-check-aof --fix failed: see %s", s->dir);
                test_redis_spawn_fix(s, false);
                return;
            }
            char line[512] = "";
            FILE *f = fopen(log, "re");
            while (f && fgets(line, sizeof line, f) && !strstr(line, "# "))
                ;
            if (f) fclose(f);
            cr_assert_fail("redis-server exited at start: %s", line);
        }
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    cr_assert_fail("redis-server did not answer");
}

static inline void test_redis_spawn(test_redis *s)
{
    test_redis_spawn_fix(s, true);
}

/* Start a server; extra: NULL or more configuration, NULL-terminated. */
static inline void test_redis_start(test_redis *s, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; extra && extra[i] && i < 15; i++)
        s->extra[i] = extra[i];
    snprintf(s->dir, sizeof s->dir, "/tmp/mt-redis-XXXXXX");
    cr_assert(mkdtemp(s->dir), "mkdtemp: %s", strerror(errno));
    snprintf(s->sock, sizeof s->sock, "%s/redis.sock", s->dir);
    test_redis_spawn(s);
}

/* The same, listening on the given addresses (separated by spaces: the
 * test's own, on links it made) instead of loopback, on a port free there. */
static inline void test_redis_start_on(test_redis *s, const char *addrs, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; extra && extra[i] && i < 15; i++)
        s->extra[i] = extra[i];
    cr_assert(strlen(addrs) < sizeof s->bind);
    snprintf(s->bind, sizeof s->bind, "%s", addrs);
    snprintf(s->dir, sizeof s->dir, "/tmp/mt-redis-XXXXXX");
    cr_assert(mkdtemp(s->dir), "mkdtemp: %s", strerror(errno));
    snprintf(s->sock, sizeof s->sock, "%s/redis.sock", s->dir);
    s->port = test_redis_free_port();
    test_redis_spawn(s);
}

/* The same, listening on a loopback port (s->port) too. */
static inline void test_redis_start_tcp(test_redis *s, const char *const *extra)
{
    test_redis_start_on(s, "", extra);
}

/* SIGKILL the server and reap it. */
static inline void test_redis_kill(test_redis *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
}

/* Start it again on the same directory: it loads the AOF. */
static inline void test_redis_restart(test_redis *s)
{
    test_redis_spawn(s);
}

static inline int test_redis_rm(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

/* Stop the server (SIGTERM, SIGKILL after 10 s) and remove its directory. */
static inline void test_redis_stop(test_redis *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int status = 0;
        for (int i = 0; i < 1000 && waitpid(s->pid, &status, WNOHANG) == 0; i++) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        if (waitpid(s->pid, &status, WNOHANG) == 0) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
        }
        s->pid = 0;
    }
    if (s->keep || getenv("MT_TEST_KEEP_REDIS"))
        fprintf(stderr, "redis-server's directory kept: %s\n", s->dir);
    else
        nftw(s->dir, test_redis_rm, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
