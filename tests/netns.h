/*
 * netns.h - "machines" of the test's own: each a network namespace with a
 * veth link to the test's namespace and a private /30 of addresses, in
 * which the test runs ordinary forked children (they can be SIGKILLed or
 * SIGSTOPped like any process of the test), and whose link it can cut, or
 * slow down.
 *
 *   NETNS_REQUIRE();                     // skips the test without root/CAP_NET_ADMIN
 *   test_machine a;
 *   test_machine_new(&a);                // namespace mt<pid>n<k>, link mtv<pid>n<k>
 *   ... a.host_addr: the test's end ("10.213.x.y"), a.addr: the machine's end
 *   pid_t p = test_machine_run(&a, fn, ctx);   // fn(ctx) in a child inside it
 *   test_machine_signal(&a, SIGSTOP);    // every child it runs
 *   test_machine_link(&a, false);        // the link down (then up again)
 *   test_machine_latency(&a, 5, port);   // 5 ms each way to the test's port
 *   test_machine_join(&a);               // reap its children: how many failed
 *   test_machine_free(&a);               // kill, unlink, remove: nothing left
 *
 * Addresses: a free /30 of 10.213.0.0/16, the first tried chosen by the
 * test's pid, checked against every address the test's namespace has and
 * taken under a lock (flock on /run/netns), so that tests running side by
 * side never share one. The machine's end is the /30's second address, the
 * test's end the first; the machine's lo is up.
 *
 * Latency: netem (tc) on both ends of the link when the kernel has it;
 * otherwise a relay of the test's own in the machine (delay_relay.h) that
 * holds every byte for the delay before passing it on, each way, and the
 * machine's processes reach the port through it (test_machine_target).
 * m->netem says which.
 *
 * Nothing is left behind even when the test fails: each machine has a
 * watchdog, a shell started in a session of its own that removes the link
 * and the namespace when its pipe from the test closes, that is when the
 * test frees the machine, when the test process exits (a failed assertion
 * included: an atexit handler frees what is left) or when it is killed
 * (its timeout). Children in a machine die with the test (PDEATHSIG).
 */
#ifndef MT_TEST_NETNS_H
#define MT_TEST_NETNS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "delay_relay.h"

#define TEST_MACHINE_PROCS 32
#define TEST_MACHINES_MAX 8

typedef struct test_machine {
    char ns[32];        /* the namespace's name */
    char link[16];      /* the veth end in the test's namespace */
    char host_addr[16]; /* the test's address on the link */
    char addr[16];      /* the machine's address */
    int ns_fd;          /* the namespace, for setns */
    pid_t watchdog;     /* removes link and namespace when watch_fd closes */
    int watch_fd;
    pid_t pids[TEST_MACHINE_PROCS]; /* the children it runs */
    int npids;
    bool netem;         /* latency by netem (else by the relay) */
    bool delayed;       /* test_machine_latency was called */
    pid_t relay;        /* the delaying relay, or 0 */
    int relay_port;     /* where it listens, on the machine's 127.0.0.1 */
    int *relay_delay;   /* its delay in ms, shared with it */
    pid_t owner;        /* the test process that made it */
} test_machine;

/* The live machines, for the atexit handler and for children (which close
 * the watchdogs' pipes they inherit). */
static test_machine *test_machines[TEST_MACHINES_MAX];

/* Run a command line of the test's own making (names and addresses it
 * chose; no outside text) through the shell: its exit status, its output
 * (stderr included) into out when out is not NULL. */
static inline int netns_sh(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int netns_sh(char *out, size_t size, const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    strncat(cmd, " 2>&1", sizeof cmd - strlen(cmd) - 1);
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char buf[512];
    size_t used = 0;
    if (out && size) out[0] = '\0';
    while (fgets(buf, sizeof buf, p))
        if (out && used + 1 < size) {
            snprintf(out + used, size - used, "%s", buf);
            used = strlen(out);
        }
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Why machines cannot be made here, or NULL when they can: a namespace
 * and a veth link are tried once per process. */
static inline const char *test_netns_unavailable(void)
{
    static char why[512];
    static int known = -1;
    if (known >= 0) return known ? why : NULL;
    char ns[32], link[16], out[400];
    snprintf(ns, sizeof ns, "mt%dprobe", (int)getpid());
    snprintf(link, sizeof link, "mtv%dp", (int)getpid());
    int err = netns_sh(out, sizeof out, "ip netns add %s", ns);
    if (err == 0) {
        err = netns_sh(out, sizeof out, "ip link add %s type veth peer name eth0 netns %s", link,
                       ns);
        netns_sh(NULL, 0, "ip link del %s", link);
        netns_sh(NULL, 0, "ip netns del %s", ns);
    }
    known = err != 0;
    out[strcspn(out, "\n")] = '\0';
    snprintf(why, sizeof why, "network namespaces cannot be made here (root with CAP_NET_ADMIN "
             "and iproute2's ip are needed): %s", out[0] ? out : "ip failed");
    return known ? why : NULL;
}

/* Skip the test, with the reason, when machines cannot be made. (A macro:
 * the sanitizer runner's cr_skip_test returns from the function it is in.) */
#define NETNS_REQUIRE()                                                                            \
    do {                                                                                           \
        const char *netns_why_ = test_netns_unavailable();                                         \
        if (netns_why_) cr_skip_test("%s", netns_why_);                                            \
    } while (0)

/* Whether any address of the test's namespace lies in 10.213.hi.lo/30. */
static inline bool netns_block_used(int block)
{
    struct ifaddrs *all, *a;
    bool used = false;
    if (getifaddrs(&all) != 0) return true;
    for (a = all; a && !used; a = a->ifa_next)
        if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET) {
            uint32_t ip = ntohl(((struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr);
            used = (ip & 0xfffffffc) == (0x0ad50000u | (uint32_t)(block * 4));
        }
    freeifaddrs(all);
    return used;
}

static inline void netns_machine_free(test_machine *m, bool check);

/* At the exit of a test that did not free its machines (a failed assertion
 * ends it early): free them, without assertions (the test is over). */
static void test_machines_atexit(void)
{
    for (int i = 0; i < TEST_MACHINES_MAX; i++)
        if (test_machines[i] && test_machines[i]->owner == getpid())
            netns_machine_free(test_machines[i], false);
}

/* Start the watchdog: a shell in a session of its own that waits for its
 * pipe to close, then removes the link and the namespace. */
static inline void netns_watchdog(test_machine *m)
{
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    char script[256];
    snprintf(script, sizeof script,
             "read _; ip link del %s >/dev/null 2>&1; ip netns del %s >/dev/null 2>&1", m->link,
             m->ns);
    fflush(NULL);
    m->watchdog = fork();
    cr_assert(m->watchdog >= 0);
    if (m->watchdog == 0) {
        setsid();
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        dup2(p[0], 0);
        close_range(3, ~0u, 0); /* nothing of the test's held open */
        execlp("sh", "sh", "-c", script, (char *)NULL);
        _exit(127);
    }
    close(p[0]);
    m->watch_fd = p[1];
}

/* Make a machine (see above). Assumes NETNS_REQUIRE passed. */
static inline void test_machine_new(test_machine *m)
{
    static int made;
    memset(m, 0, sizeof *m);
    m->ns_fd = m->watch_fd = -1;
    m->owner = getpid();
    int k = made++;
    snprintf(m->ns, sizeof m->ns, "mt%dn%d", (int)getpid(), k);
    snprintf(m->link, sizeof m->link, "mtv%dn%d", (int)getpid(), k);
    int slot = 0;
    while (slot < TEST_MACHINES_MAX && test_machines[slot])
        slot++;
    cr_assert(slot < TEST_MACHINES_MAX, "too many machines");
    if (k == 0) atexit(test_machines_atexit);
    test_machines[slot] = m;
    netns_watchdog(m);
    char out[512];
    cr_assert_eq(netns_sh(out, sizeof out, "ip netns add %s", m->ns), 0, "ip netns add: %s", out);
    char path[64];
    snprintf(path, sizeof path, "/run/netns/%s", m->ns);
    m->ns_fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(m->ns_fd >= 0, "%s: %s", path, strerror(errno));
    /* the addresses: a /30 no other test has, under the lock */
    int lock = open("/run/netns", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cr_assert(lock >= 0 && flock(lock, LOCK_EX) == 0);
    int block = (int)(((unsigned)getpid() * 4u + (unsigned)k) % 16384u);
    for (int tries = 0; tries < 16384 && (block == 0 || netns_block_used(block)); tries++)
        block = (block + 1) % 16384;
    snprintf(m->host_addr, sizeof m->host_addr, "10.213.%d.%d", block / 64, block % 64 * 4 + 1);
    snprintf(m->addr, sizeof m->addr, "10.213.%d.%d", block / 64, block % 64 * 4 + 2);
    int err = netns_sh(out, sizeof out,
                       "ip link add %s type veth peer name eth0 netns %s && "
                       "ip addr add %s/30 dev %s && ip link set %s up && "
                       "ip -n %s addr add %s/30 dev eth0 && ip -n %s link set eth0 up && "
                       "ip -n %s link set lo up",
                       m->link, m->ns, m->host_addr, m->link, m->link, m->ns, m->addr, m->ns,
                       m->ns);
    flock(lock, LOCK_UN);
    close(lock);
    cr_assert_eq(err, 0, "the link of %s: %s", m->ns, out);
}

/* Fork a child that runs fn(ctx) inside the machine and exits 0 when fn
 * returned 0 (it must not use cr_* assertions). Its pid, also kept in m. */
static inline pid_t test_machine_run(test_machine *m, int (*fn)(void *), void *ctx)
{
    cr_assert(m->npids < TEST_MACHINE_PROCS);
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        for (int i = 0; i < TEST_MACHINES_MAX; i++)
            if (test_machines[i] && test_machines[i]->watch_fd >= 0)
                close(test_machines[i]->watch_fd);
        if (setns(m->ns_fd, CLONE_NEWNET) != 0) _exit(126);
        _exit(fn(ctx) == 0 ? 0 : 1);
    }
    m->pids[m->npids++] = pid;
    return pid;
}

/* A signal to every child the machine runs (not its relay). */
static inline void test_machine_signal(test_machine *m, int sig)
{
    for (int i = 0; i < m->npids; i++)
        kill(m->pids[i], sig);
}

/* Reap the machine's children: how many did not exit 0. */
static inline int test_machine_join(test_machine *m)
{
    int failed = 0;
    for (int i = 0; i < m->npids; i++) {
        int status = 0;
        if (waitpid(m->pids[i], &status, 0) != m->pids[i] || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            failed++;
    }
    m->npids = 0;
    return failed;
}

/* Set the link up or down (the test's end: the machine's sees no carrier). */
static inline void test_machine_link(test_machine *m, bool up)
{
    char out[256];
    cr_assert_eq(netns_sh(out, sizeof out, "ip link set %s %s", m->link, up ? "up" : "down"), 0,
                 "%s", out);
}

/* The relay's child: in the machine, listening on its 127.0.0.1. */
typedef struct netns_relay_args {
    test_machine *m;
    int port;    /* the test's port on host_addr */
    int pipe_fd; /* the listening port goes here */
} netns_relay_args;

static inline int netns_relay_main(void *arg)
{
    netns_relay_args *a = arg;
    return delay_relay_serve(a->m->host_addr, a->port, a->m->relay_delay, a->pipe_fd);
}

/*
 * Delay every packet between the machine and the test by ms, each way: by
 * netem when the kernel has it, else by a relay to the test's `port` (see
 * test_machine_target). Called again, changes the delay (for the relay:
 * of bytes that arrive from then on).
 */
static inline void test_machine_latency(test_machine *m, int ms, int port)
{
    char out[512];
    if (!m->delayed) {
        m->delayed = true;
        m->netem = netns_sh(out, sizeof out, "tc qdisc add dev %s root netem delay %dms", m->link,
                            ms) == 0;
        if (m->netem) {
            cr_assert_eq(netns_sh(out, sizeof out,
                                  "tc -n %s qdisc add dev eth0 root netem delay %dms", m->ns, ms),
                         0, "%s", out);
            return;
        }
        m->relay_delay = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        cr_assert(m->relay_delay != MAP_FAILED);
        __atomic_store_n(m->relay_delay, ms, __ATOMIC_RELAXED);
        int p[2];
        cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
        netns_relay_args args = {m, port, p[1]};
        m->relay = test_machine_run(m, netns_relay_main, &args);
        m->npids--; /* not one of the machine's workers */
        close(p[1]);
        int got = (int)read(p[0], &m->relay_port, sizeof m->relay_port);
        close(p[0]);
        cr_assert(got == (int)sizeof m->relay_port && m->relay_port > 0, "the relay did not start");
        return;
    }
    if (m->netem) {
        cr_assert_eq(netns_sh(out, sizeof out, "tc qdisc change dev %s root netem delay %dms && "
                              "tc -n %s qdisc change dev eth0 root netem delay %dms",
                              m->link, ms, m->ns, ms),
                     0, "%s", out);
        return;
    }
    __atomic_store_n(m->relay_delay, ms, __ATOMIC_RELAXED);
}

/* Where the machine's processes reach the test's `port`: the test's
 * address, or the relay's port on the machine's loopback. */
static inline void test_machine_target(const test_machine *m, int port, char *host, size_t size,
                                       int *out_port)
{
    bool relayed = m->delayed && !m->netem;
    snprintf(host, size, "%s", relayed ? "127.0.0.1" : m->host_addr);
    *out_port = relayed ? m->relay_port : port;
}

/* Whether the namespace or the link still exists. */
static inline bool test_machine_left(const test_machine *m)
{
    char out[4096], path[64];
    netns_sh(out, sizeof out, "ip netns list");
    bool left = false;
    for (char *line = strtok(out, "\n"); line && !left; line = strtok(NULL, "\n"))
        left = strncmp(line, m->ns, strlen(m->ns)) == 0 &&
               (line[strlen(m->ns)] == '\0' || line[strlen(m->ns)] == ' ');
    snprintf(path, sizeof path, "/sys/class/net/%s", m->link);
    return left || access(path, F_OK) == 0;
}

static inline void netns_machine_free(test_machine *m, bool check)
{
    for (int i = 0; i < m->npids; i++) {
        kill(m->pids[i], SIGKILL);
        waitpid(m->pids[i], NULL, 0);
    }
    m->npids = 0;
    if (m->relay > 0) {
        kill(m->relay, SIGKILL);
        waitpid(m->relay, NULL, 0);
        m->relay = 0;
    }
    if (m->relay_delay) munmap(m->relay_delay, sizeof(int));
    m->relay_delay = NULL;
    if (m->ns_fd >= 0) close(m->ns_fd);
    m->ns_fd = -1;
    if (m->watch_fd >= 0) close(m->watch_fd);
    m->watch_fd = -1;
    if (m->watchdog > 0) waitpid(m->watchdog, NULL, 0);
    m->watchdog = 0;
    for (int i = 0; i < TEST_MACHINES_MAX; i++)
        if (test_machines[i] == m) test_machines[i] = NULL;
    if (check) cr_expect(!test_machine_left(m), "%s or %s left behind", m->ns, m->link);
}

/* Kill the machine's children (and its relay), remove its link and its
 * namespace (the watchdog does it), and check that neither is left. */
static inline void test_machine_free(test_machine *m)
{
    netns_machine_free(m, true);
}

#endif
