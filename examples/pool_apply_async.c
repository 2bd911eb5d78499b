/*
 * pool_apply_async.c - the lecture's 启动大量子进程 (many child processes):
 * six tasks of 2 to 7 s each go to a pool of two worker processes with
 * apply_async; at most two run at a time, and the main process waits for
 * all of them with close() and join().
 */
#define _GNU_SOURCE
#include <string.h>
#include <unistd.h>

#include "common.h"

static int run(const void *arg, size_t len, mt_buf *out)
{
    int index;
    if (len != sizeof index)
        return mt_fail(out, -EINVAL, "run takes an int");
    memcpy(&index, arg, sizeof index);

    printf("CPU number:%d\n", mt_cpu_count());
    printf("子进程 %d 启动\n", index);
    double t1 = mt_monotonic();
    /* random.random(): workers are forked copies of one parent, so seed here
     * or each would draw the same numbers (Python reseeds after a fork). */
    unsigned seed = (unsigned)getpid() ^ (unsigned)mt_monotonic_ns();
    mt_sleep((double)rand_r(&seed) / RAND_MAX * 5 + 2);
    double t2 = mt_monotonic();
    printf("子进程 %d 结束，耗时：%.2f\n", index, t2 - t1);
    return 0;
}

int main(void)
{
    line_buffered_stdout();
    printf("启动主进程……\n");

    /* Pool(2): two tasks at a time, whatever the number of CPUs. */
    mt_pool *pool;
    check(mt_pool_new(&pool, &(mt_pool_opts){.processes = 2}), "mt_pool_new");
    for (int i = 1; i < 7; i++) {
        mt_future *f;
        check(mt_pool_apply_async(pool, run, &i, sizeof i, &f), "mt_pool_apply_async");
        /* The Python drops each AsyncResult; in C we drop our reference. The
         * task still runs: the pool holds its own. */
        mt_future_free(f);
    }

    /* No more tasks after close(); join() waits for those given. */
    check(mt_pool_close(pool), "mt_pool_close");
    check(mt_pool_join(pool, MT_FOREVER), "mt_pool_join");
    mt_pool_free(pool);

    printf("结束主进程……\n");
    return 0;
}
