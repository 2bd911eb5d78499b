/*
 * globals_not_shared.c - the lecture's 全局变量在多个子进程中不能共享
 * (globals are not shared): the child adds 1 to its copy of num and prints
 * 11; the parent's num is still 10.
 */
#define _GNU_SOURCE
#include "common.h"

static int num = 10;

static int run(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    printf("我是子进程的开始\n");
    /* fork gave the child a copy of the parent's memory: this num is the
     * child's own. */
    num += 1;
    printf("%d\n", num);
    printf("我是子进程的结束\n");
    return 0;
}

int main(void)
{
    line_buffered_stdout();
    mt_process *p;
    check(mt_process_new(&p, run, NULL, 0, NULL), "mt_process_new");
    check(mt_process_start(p), "mt_process_start");
    check(mt_process_join(p, MT_FOREVER), "mt_process_join");
    mt_process_free(p);

    printf("%d\n", num);
    return 0;
}
