/*
 * terminate.c - the lecture's 进程名.terminate() (stop a child by force): the
 * child would sleep 100 s, but the parent terminates it at once, joins it
 * and prints over.
 */
#define _GNU_SOURCE
#include "common.h"

static int fun(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    mt_sleep(100);
    return 0;
}

int main(void)
{
    line_buffered_stdout();
    mt_process *p;
    check(mt_process_new(&p, fun, NULL, 0, NULL), "mt_process_new");
    check(mt_process_start(p), "mt_process_start");
    /* SIGTERM: the child dies without finishing its sleep. */
    check(mt_process_terminate(p), "mt_process_terminate");
    /* Reap it, or it would stay a zombie. */
    check(mt_process_join(p, MT_FOREVER), "mt_process_join");
    mt_process_free(p);
    printf("over\n");
    return 0;
}
