/*
 * single_process.c - the lecture's 单进程现象 (one process): run1 then run2
 * in the same process. run2 only starts once run1 has returned.
 *
 * The Python loops forever; here each loop stops after three rounds so that
 * run2 gets its turn.
 */
#define _GNU_SOURCE
#include "common.h"

#define ROUNDS 3

static void run1(void)
{
    for (int i = 0; i < ROUNDS; i++) {
        printf("lucky is a good man\n");
        mt_sleep(1);
    }
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
    run1();
    /* run2 waits for run1: one process does one thing at a time. */
    run2();
    return 0;
}
