/*
 * homework3.c - homework 3 of the seed (作业10, 3; examples/py/homework3.py):
 * a producer and a consumer on a queue of at most 10 items, scheduled by
 * the event loop. Producing takes 1 s and consuming 1 s, five items each,
 * yet it all ends after about 6 s, not 10: while the consumer sleeps over
 * item i the producer sleeps over item i + 1, so the two overlap (run with
 * MT_TRACE=hw3.json and draw it with scripts/trace_to_png.py to see it).
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "multitask.h"

#define NONE (-1) /* Python's None: no more items */

static int consumer(void *arg)
{
    mt_aqueue *q = arg;
    printf("consumer starts.\n");
    while (1) {
        int item;
        int err = mt_aqueue_get(q, &item); /* item = await q.get() */
        if (err)
            return err;
        if (item == NONE) {
            mt_aqueue_task_done(q); /* a formerly enqueued task is complete */
            break;
        }
        mt_co_sleep(1); /* take 1s to consume */
        printf("consume %d\n", item);
        mt_aqueue_task_done(q);
    }
    printf("consumer ends.\n");
    return 0;
}

static int producer(void *arg)
{
    mt_aqueue *q = arg;
    printf("producer starts.\n");
    for (int i = 0; i < 5; i++) {
        mt_co_sleep(1); /* take 1s to produce */
        printf("produce %d\n", i);
        mt_aqueue_put(q, &i);
    }
    mt_aqueue_put(q, &(int){NONE});
    mt_aqueue_join(q); /* until every item has been gotten and processed */
    printf("producer ends.\n");
    return 0;
}

/* asyncio.wait(tasks): wait until both are done. */
static int wait_all(void *arg)
{
    mt_task **tasks = arg;
    return mt_co_wait(tasks, 2, MT_FOREVER, MT_ALL_COMPLETED, NULL, NULL, NULL, NULL);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    mt_aqueue *q;
    mt_loop *loop;
    mt_task *tasks[2], *waiter;
    if (mt_aqueue_new(&q, &(mt_aqueue_opts){.maxsize = 10, .item_size = sizeof(int)}) != 0 ||
        mt_loop_new(&loop, NULL) != 0)
        return 1;
    double t0 = mt_time();
    mt_loop_create_task(loop, producer, q, &(mt_task_opts){.name = "producer"}, &tasks[0]);
    mt_loop_create_task(loop, consumer, q, &(mt_task_opts){.name = "consumer"}, &tasks[1]);
    mt_loop_create_task(loop, wait_all, tasks, &(mt_task_opts){.name = "wait"}, &waiter);
    mt_loop_run_until_complete(loop, waiter);
    for (int i = 0; i < 2; i++)
        mt_task_free(tasks[i]);
    mt_task_free(waiter);
    mt_loop_free(loop);
    mt_aqueue_free(q);
    printf("%.15g  s\n", mt_time() - t0);
    return 0;
}
