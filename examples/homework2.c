/*
 * homework2.c - homework 2 of the seed (作业10, 2; examples/py/homework2.py):
 * a consumer that awaits a producer directly. Each `await` is a plain call
 * here: the coroutine runs on its own stack, so produce() suspends inside
 * mt_co_sleep and resumes there. It is still one chain of waits: three
 * rounds of produce (1 s) then consume (1 s) take about 6 s.
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "multitask.h"

static int x = 0;

/* async def produce(): an ordinary function that suspends in mt_co_sleep. */
static int produce(void)
{
    x += 1;
    int err = mt_co_sleep(1);
    if (err)
        return err;
    printf("Produce %d\n", x);
    return x;
}

static int consumer(void *arg)
{
    int num = *(int *)arg;
    int count = 0;
    while (1) {
        int item = produce(); /* item = await produce() */
        if (item < 0)
            return item;
        mt_co_sleep(1);
        printf("Consume %d\n", item);
        count += 1;
        if (count == num)
            break;
    }
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int num = 3;
    int err = mt_run(consumer, &num, NULL); /* asyncio.run(consumer(3)) */
    if (err < 0) {
        fprintf(stderr, "homework2: %s\n", mt_strerror(err));
        return 1;
    }
    return 0;
}
