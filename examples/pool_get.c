/*
 * pool_get.c - the lecture's get方法 (getting a result): each task's result
 * is awaited right after it is queued, so although the pool has three
 * workers the four tasks run one after another, 2 s each.
 */
#define _GNU_SOURCE
#include <string.h>

#include "common.h"

static int function(const void *arg, size_t len, mt_buf *out)
{
    int index;
    if (len != sizeof index)
        return mt_fail(out, -EINVAL, "function takes an int");
    memcpy(&index, arg, sizeof index);
    printf("Start process:  %d\n", index); /* print(a, b) puts a space between */
    mt_sleep(2);
    printf("End process %d\n", index);
    /* return index: the result travels back to the parent as bytes */
    return mt_buf_append(out, &index, sizeof index);
}

int main(void)
{
    line_buffered_stdout();
    mt_pool *pool;
    check(mt_pool_new(&pool, &(mt_pool_opts){.processes = 3}), "mt_pool_new");
    for (int i = 0; i < 4; i++) {
        mt_future *result;
        check(mt_pool_apply_async(pool, function, &i, sizeof i, &result), "mt_pool_apply_async");
        /* result.get(): wait for this task before queueing the next one */
        mt_iov bytes;
        check(mt_future_result(result, MT_FOREVER, &bytes), "mt_future_result");
        int value;
        memcpy(&value, bytes.data, sizeof value);
        printf("%d\n", value);
        mt_future_free(result);
    }
    printf("Started processes\n");
    check(mt_pool_close(pool), "mt_pool_close");
    check(mt_pool_join(pool, MT_FOREVER), "mt_pool_join");
    mt_pool_free(pool);
    printf("Subprocess done.\n");
    return 0;
}
