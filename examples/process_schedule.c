/*
 * process_schedule.c - the lecture's 主进程负责调度 (the main process only
 * schedules): it starts two children and prints how long that took, about
 * 0.00 s, without waiting for them. The children are in two_children.h.
 */
#define _GNU_SOURCE
#include "two_children.h"

int main(void)
{
    line_buffered_stdout();
    double t1 = mt_monotonic(); /* time.time() in the Python */

    mt_process *p1, *p2;
    start_both(&p1, &p2);

    double t2 = mt_monotonic();
    printf("耗时：%.2f\n", t2 - t1);

    /* Python still waits for its children when the program ends; C must say
     * so, or mt_process_free would kill them. */
    check(mt_process_join(p1, MT_FOREVER), "mt_process_join");
    check(mt_process_join(p2, MT_FOREVER), "mt_process_join");
    mt_process_free(p1);
    mt_process_free(p2);
    return 0;
}
