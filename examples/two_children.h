/*
 * two_children.h - the two children of the lecture's 主进程负责调度 and
 * 父子进程的先后顺序 programs, which differ only in their main: run1 says its
 * line 7 times and run2(name, word) 5 times, once a second.
 * process_schedule.c and process_join.c both start them with start_both().
 */
#ifndef MT_EXAMPLES_TWO_CHILDREN_H
#define MT_EXAMPLES_TWO_CHILDREN_H

#include "common.h"

static int run1(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    for (int i = 0; i < 7; i++) {
        printf("lucky is a good man\n");
        mt_sleep(1);
    }
    return 0;
}

/* Two arguments travel packed into one byte string (see mt_pack). */
static int run2(const void *arg, size_t len, mt_buf *out)
{
    mt_iov a[2];
    if (mt_unpack(arg, len, a, 2) != 2)
        return mt_fail(out, -EINVAL, "run2 takes (name, word)");
    for (int i = 0; i < 5; i++) {
        printf("%.*s is a %.*s man\n", (int)a[0].len, (const char *)a[0].data, (int)a[1].len,
               (const char *)a[1].data);
        mt_sleep(1);
    }
    return 0;
}

/*
 * p1 = Process(target=run1)
 * p2 = Process(target=run2, args=("lucky", "cool"))
 * p1.start()
 * p2.start()
 */
static void start_both(mt_process **p1, mt_process **p2)
{
    mt_buf args = MT_BUF_INIT;
    check(mt_pack(&args, (mt_iov[]){{"lucky", 5}, {"cool", 4}}, 2), "mt_pack");
    check(mt_process_new(p1, run1, NULL, 0, NULL), "mt_process_new");
    check(mt_process_new(p2, run2, args.data, args.len, NULL), "mt_process_new");
    mt_buf_free(&args);
    check(mt_process_start(*p1), "mt_process_start");
    check(mt_process_start(*p2), "mt_process_start");
}

#endif
