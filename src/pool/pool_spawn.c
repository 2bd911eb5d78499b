/*
 * pool_spawn.c - the spawn start method. A worker is a fresh exec of this
 * program; mt_init() at the top of main() recognises it by an environment
 * variable and turns it into a worker. Task functions are passed as the
 * parent's addresses and found again by their offset in the module (the
 * executable or a shared library) that holds them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <signal.h>
#include <unistd.h>

#include "../process/process_internal.h"
#include "pool_internal.h"

#define ENV_NAME "MT_POOL_WORKER"

extern char **environ;

bool mt__init_called;

struct mt__fnmap {
    uint32_t n;
    struct {
        uint64_t start, end;
        int64_t delta; /* child address - parent address */
    } m[MAX_MODULES];
};

/* Fill a module entry from one loaded object. */
static void describe(struct dl_phdr_info *info, mt__shm_module *m)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        if (ph->p_vaddr < lo)
            lo = ph->p_vaddr;
        if (ph->p_vaddr + ph->p_memsz > hi)
            hi = ph->p_vaddr + ph->p_memsz;
    }
    m->bias = info->dlpi_addr;
    m->start = lo == UINT64_MAX ? 0 : info->dlpi_addr + lo;
    m->end = info->dlpi_addr + hi;
    snprintf(m->name, sizeof m->name, "%s", info->dlpi_name ? info->dlpi_name : "");
}

static int publish_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    mt__shm_header *h = arg;
    if (h->nmodules < MAX_MODULES)
        describe(info, &shm_modules(h)[h->nmodules++]);
    return 0;
}

int mt__fnmap_publish(mt__shm_header *h)
{
    h->nmodules = 0;
    dl_iterate_phdr(publish_one, h);
    return h->nmodules ? 0 : -ENOENT;
}

typedef struct match_ctx {
    const mt__shm_module *want;
    uint64_t bias;
    bool found;
} match_ctx;

static int match_one(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    match_ctx *c = arg;
    mt__shm_module mine;
    describe(info, &mine);
    /* Same file, same layout: its segments span as much as the parent's. */
    if (strcmp(mine.name, c->want->name) == 0 &&
        mine.end - mine.start == c->want->end - c->want->start) {
        c->bias = mine.bias;
        c->found = true;
        return 1;
    }
    return 0;
}

/* Build the translation in a spawned worker; NULL when out of memory. */
static mt__fnmap *fnmap_new(mt__shm_header *h)
{
    mt__fnmap *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    for (uint32_t i = 0; i < h->nmodules && i < MAX_MODULES; i++) {
        match_ctx c = {.want = &shm_modules(h)[i]};
        dl_iterate_phdr(match_one, &c);
        if (!c.found)
            continue;
        m->m[m->n].start = c.want->start;
        m->m[m->n].end = c.want->end;
        m->m[m->n].delta = (int64_t)(c.bias - c.want->bias);
        m->n++;
    }
    return m;
}

uint64_t mt__fnmap_translate(const mt__fnmap *m, uint64_t addr)
{
    for (uint32_t i = 0; i < m->n; i++)
        if (addr >= m->m[i].start && addr < m->m[i].end)
            return addr + (uint64_t)m->m[i].delta;
    return 0;
}

char **mt__read_argv(void)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    mt_buf b = MT_BUF_INIT;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        mt_buf_append(&b, chunk, (size_t)n);
    close(fd);
    size_t count = 0;
    for (size_t i = 0; i < b.len; i++)
        count += b.data[i] == '\0';
    /* One allocation: the pointer array, then the strings. */
    char **argv = malloc((count + 1) * sizeof *argv + b.len + 1);
    if (argv) {
        char *s = (char *)(argv + count + 1);
        if (b.len)
            memcpy(s, b.data, b.len);
        s[b.len] = '\0';
        for (size_t i = 0, at = 0; i < count; i++) {
            argv[i] = s + at;
            at += strlen(s + at) + 1;
        }
        argv[count] = NULL;
    }
    mt_buf_free(&b);
    return argv;
}

pid_t mt__spawn_worker(mt_pool *p, uint32_t index, int sock, const char *name)
{
    /* Everything the child needs is made before fork: between fork and exec
     * only async-signal-safe calls. */
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **envp = calloc(nenv + 2, sizeof *envp);
    char *var = NULL;
    if (!envp || asprintf(&var, ENV_NAME "=%d,%d,%d,%u,%d,%s", p->shm_fd, p->efd, sock, index,
                          (int)getpid(), name) < 0) {
        free(envp);
        return -ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(environ[i], ENV_NAME "=", sizeof ENV_NAME) != 0)
            envp[k++] = environ[i];
    envp[k++] = var;
    envp[k] = NULL;
    pid_t parent = getpid();
    pid_t pid = mt__fork();
    if (pid == 0) {
        int keep[3] = {p->shm_fd, p->efd, sock};
        for (int i = 0; i < 3; i++)
            fcntl(keep[i], F_SETFD, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        execve("/proc/self/exe", p->spawn_argv, envp);
        _exit(127);
    }
    free(var);
    free(envp);
    return pid;
}

int mt_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const char *env = getenv(ENV_NAME);
    if (!env) {
        mt__init_called = true;
        return 0;
    }
    int shm_fd, efd, sock, parent;
    unsigned index;
    char name[64] = "SpawnPoolWorker";
    if (sscanf(env, "%d,%d,%d,%u,%d,%63s", &shm_fd, &efd, &sock, &index, &parent, name) < 5)
        _exit(126);
    unsetenv(ENV_NAME); /* the worker's own children are ordinary processes */
    fcntl(shm_fd, F_SETFD, FD_CLOEXEC);
    fcntl(efd, F_SETFD, FD_CLOEXEC);
    fcntl(sock, F_SETFD, FD_CLOEXEC);
    mt__shm_header *h;
    if (mt__shm_attach(&h, shm_fd) < 0 || index >= h->nworkers)
        _exit(126);
    mt__set_current_name(name);
    mt__worker_ctx w = {.h = h, .index = index, .efd = efd, .sock = sock, .parent = parent,
                    .fnmap = fnmap_new(h)};
    if (!w.fnmap)
        _exit(126);
    mt__worker_main(&w);
}
