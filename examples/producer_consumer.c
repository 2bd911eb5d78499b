/*
 * producer_consumer.c - the lecture's 进程实现生产者消费者 (producer and
 * consumer processes): the producer puts "good", "nice", "cool" and
 * "handsome" into a queue, one every 2 s, and the consumer takes them out as
 * they come, saying 等待生产者生产数据 before each get.
 *
 * The Python's consumer loops forever, so its main process ends it with
 * p2.terminate() and its last line, 结束消费子进程……, is never printed.
 * Here the main process, once the producer is done, puts a stop message (an
 * empty one, as Python code often puts None) and joins the consumer, which
 * leaves its loop and says 结束消费子进程…… before the main process says
 * 主进程结束.
 */
#define _GNU_SOURCE
#include <string.h>

#include "common.h"

/* How long the main process waits for the consumer to stop by itself. */
#define STOP_TIMEOUT 10.0

/* The argument of both children is the queue handle, inherited by fork. */
static mt_queue *queue_arg(const void *arg, size_t len)
{
    mt_queue *q = NULL;
    if (len == sizeof q)
        memcpy(&q, arg, sizeof q);
    return q;
}

static int product(const void *arg, size_t len, mt_buf *out)
{
    static const char *const data[] = {"good", "nice", "cool", "handsome"};
    mt_queue *q = queue_arg(arg, len);
    if (!q)
        return mt_fail(out, -EINVAL, "product takes a queue");
    printf("启动生产子进程……\n");
    int err = 0;
    for (size_t i = 0; i < 4 && err == 0; i++) {
        mt_sleep(2);
        printf("生产出：%s\n", data[i]);
        /* 将生产的数据写入队列 */
        err = mt_queue_put(q, data[i], strlen(data[i]), MT_FOREVER);
    }
    if (err == 0)
        printf("结束生产子进程……\n");
    mt_queue_free(q);
    return err < 0 ? mt_fail(out, err, "put: %s", mt_strerror(err)) : 0;
}

/* The Python names its target customer but defines it as t. */
static int customer(const void *arg, size_t len, mt_buf *out)
{
    mt_queue *q = queue_arg(arg, len);
    if (!q)
        return mt_fail(out, -EINVAL, "customer takes a queue");
    printf("启动消费子进程……\n");
    mt_buf value = MT_BUF_INIT;
    int err;
    for (;;) {
        printf("等待生产者生产数据\n");
        /* 获取生产者生产的数据，如果队列中没有数据会阻塞 */
        err = mt_queue_get(q, &value, MT_FOREVER);
        if (err < 0 || value.len == 0) /* the stop message */
            break;
        printf("消费者消费了%s数据\n", value.data);
    }
    if (err == 0)
        printf("结束消费子进程……\n");
    mt_buf_free(&value);
    mt_queue_free(q);
    return err < 0 ? mt_fail(out, err, "get: %s", mt_strerror(err)) : 0;
}

/* Whether a joined child ended with status 0. */
static bool succeeded(const mt_process *p)
{
    int code;
    return mt_process_exitcode(p, &code) && code == 0;
}

int main(void)
{
    line_buffered_stdout();
    mt_queue *q;
    check(mt_queue_new(&q, NULL), "mt_queue_new");

    mt_process *p1, *p2;
    check(mt_process_new(&p1, product, &q, sizeof q, NULL), "mt_process_new");
    check(mt_process_new(&p2, customer, &q, sizeof q, NULL), "mt_process_new");
    check(mt_process_start(p1), "mt_process_start");
    check(mt_process_start(p2), "mt_process_start");

    check(mt_process_join(p1, MT_FOREVER), "mt_process_join");
    /* Instead of p2.terminate(): tell the consumer to stop, and wait for it.
     * Should it not stop, it is terminated as in the Python, and that is an
     * error. */
    check(mt_queue_put(q, "", 0, MT_FOREVER), "put the stop message");
    int err = mt_process_join(p2, STOP_TIMEOUT);
    if (err == -ETIMEDOUT) {
        fprintf(stderr, "producer_consumer: the consumer did not stop; terminating it\n");
        mt_process_terminate(p2);
        mt_process_join(p2, MT_FOREVER);
    }
    int failed = err < 0 || !succeeded(p1) || !succeeded(p2);
    if (err == 0 && failed)
        fprintf(stderr, "producer_consumer: a child failed\n");

    printf("主进程结束\n");
    mt_process_free(p1);
    mt_process_free(p2);
    mt_queue_free(q);
    return failed;
}
