/*
 * process_start.c - the lecture's 启动进程实现多任务 (start a process for
 * multitasking): run1("lucky") in a child process while the main process
 * runs run2, so their lines interleave.
 *
 * The Python loops forever; here each loop stops after three rounds.
 */
#define _GNU_SOURCE
#include "common.h"

#define ROUNDS 3

/*
 * A process's target has multitask's task signature: its argument arrives
 * as bytes (Python's args=("lucky",) tuple), here the name without a NUL.
 */
static int run1(const void *arg, size_t len, mt_buf *out)
{
    (void)out;
    for (int i = 0; i < ROUNDS; i++) {
        printf("%.*s is a good man\n", (int)len, (const char *)arg);
        mt_sleep(1);
    }
    return 0;
}

static void run2(void)
{
    for (int i = 0; i < ROUNDS; i++) {
        printf("lucky is a nice man\n");
        mt_sleep(1);
    }
}

int main(void)
{
    line_buffered_stdout();
    /* The process that runs main() is the main (parent) process. */
    mt_process *p;
    check(mt_process_new(&p, run1, "lucky", 5, NULL), "mt_process_new");
    check(mt_process_start(p), "mt_process_start");

    /* The main process runs run2 meanwhile. */
    run2();

    /* Python waits for its non-daemon children when the program ends; in C
     * we say so. Without the join, mt_process_free would kill the child. */
    check(mt_process_join(p, MT_FOREVER), "mt_process_join");
    mt_process_free(p);
    return 0;
}
