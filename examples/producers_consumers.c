/*
 * producers_consumers.c - several producers and consumers on one queue
 * (examples/py/producers_consumers.py, the optional part of homework 3):
 * three producers at different paces put 12 items into a queue of at most
 * 4; two consumers take them as they come, each stopping at one "None".
 * Everything runs in one thread: the loop switches to whichever coroutine
 * is ready, so the 12 items take about 0.8 s in all.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "multitask.h"

/* A queue item: "p1-2", or "" for None. */
typedef struct item {
    char text[24];
} item;

typedef struct producer_arg {
    mt_aqueue *q;
    char name[8];
    int n;
    double delay;
} producer_arg;

typedef struct consumer_arg {
    mt_aqueue *q;
    char name[8];
    double delay;
} consumer_arg;

static int producer(void *arg)
{
    producer_arg *p = arg;
    for (int i = 0; i < p->n; i++) {
        mt_co_sleep(p->delay);
        item it;
        snprintf(it.text, sizeof it.text, "%s-%d", p->name, i);
        int err = mt_aqueue_put(p->q, &it);
        if (err)
            return err;
        printf("%s put %s\n", p->name, it.text);
    }
    return 0;
}

static int consumer(void *arg)
{
    consumer_arg *c = arg;
    int count = 0;
    while (1) {
        item it;
        int err = mt_aqueue_get(c->q, &it);
        if (err)
            return err;
        if (!it.text[0]) { /* None */
            mt_aqueue_task_done(c->q);
            break;
        }
        mt_co_sleep(c->delay);
        printf("%s got %s\n", c->name, it.text);
        count += 1;
        mt_aqueue_task_done(c->q);
    }
    printf("%s ends after %d items\n", c->name, count);
    return 0;
}

static int main_coro(void *arg)
{
    (void)arg;
    mt_aqueue *q;
    int err = mt_aqueue_new(&q, &(mt_aqueue_opts){.maxsize = 4, .item_size = sizeof(item)});
    if (err)
        return err;
    double t0 = mt_time();
    producer_arg pa[3];
    consumer_arg ca[2];
    mt_task *producers[3], *consumers[2];
    const double pdelay[3] = {0.11, 0.17, 0.29}, cdelay[2] = {0.05, 0.08};
    for (int k = 0; k < 3; k++) {
        pa[k] = (producer_arg){.q = q, .n = 4, .delay = pdelay[k]};
        snprintf(pa[k].name, sizeof pa[k].name, "p%d", k);
        mt_task_create(&producers[k], producer, &pa[k], NULL);
    }
    for (int k = 0; k < 2; k++) {
        ca[k] = (consumer_arg){.q = q, .delay = cdelay[k]};
        snprintf(ca[k].name, sizeof ca[k].name, "c%d", k);
        mt_task_create(&consumers[k], consumer, &ca[k], NULL);
    }
    err = mt_co_gather(producers, 3, NULL, NULL);
    for (int k = 0; k < 2 && !err; k++)
        err = mt_aqueue_put(q, &(item){""});
    if (!err)
        err = mt_aqueue_join(q);
    if (!err)
        err = mt_co_gather(consumers, 2, NULL, NULL);
    printf("12 items in %.1f s\n", mt_time() - t0);
    for (int k = 0; k < 3; k++)
        mt_task_free(producers[k]);
    for (int k = 0; k < 2; k++)
        mt_task_free(consumers[k]);
    mt_aqueue_free(q);
    return err;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int err = mt_run(main_coro, NULL, NULL);
    if (err) {
        fprintf(stderr, "producers_consumers: %s\n", mt_strerror(err));
        return 1;
    }
    return 0;
}
