/*
 * process_join.c - the lecture's 父子进程的先后顺序 (the parent waits for its
 * children): the same two children as process_schedule.c, but the main
 * process joins them before it reads the clock, so it prints about 7.00: the
 * two ran side by side, 7 s and 5 s, not 12 s one after the other.
 */
#define _GNU_SOURCE
#include "two_children.h"

int main(void)
{
    line_buffered_stdout();
    double t1 = mt_monotonic(); /* time.time() in the Python */

    mt_process *p1, *p2;
    start_both(&p1, &p2);

    /* Block until each child has ended: p1.join(); p2.join() */
    check(mt_process_join(p1, MT_FOREVER), "mt_process_join");
    check(mt_process_join(p2, MT_FOREVER), "mt_process_join");

    double t2 = mt_monotonic();
    printf("耗时：%.2f\n", t2 - t1);
    mt_process_free(p1);
    mt_process_free(p2);
    return 0;
}
