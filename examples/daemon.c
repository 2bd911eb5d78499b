/*
 * daemon.c - the lecture's daemon (守护进程): a daemon child would sleep
 * 100 s, but the parent prints over and ends, and the child ends with it.
 */
#define _GNU_SOURCE
#include "common.h"

static int fun(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    mt_sleep(100);
    return 0;
}

/* Static so that it is still reachable when main returns (it is never
 * freed: freeing would kill the child itself, and the point is that the
 * kernel does that). */
static mt_process *p;

int main(void)
{
    line_buffered_stdout();
    /* p.daemon = True, set before start as in Python */
    check(mt_process_new(&p, fun, NULL, 0, &(mt_process_opts){.daemon = true}), "mt_process_new");
    check(mt_process_start(p), "mt_process_start");
    printf("over\n");
    /* No join: main returns, the process exits, and the kernel kills the
     * daemon child (SIGKILL) because its parent died; a child that finds its
     * parent already gone when it starts exits at once. Python instead
     * terminates its daemon children on the way out; either way none
     * outlives the parent. */
    return 0;
}
