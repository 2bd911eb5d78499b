/*
 * queue_put_get.c - the lecture's 队列共享 (sharing a queue): the main
 * process puts [1, 2, 3, 4, 5] into a queue, a child process puts
 * ['a', 'b', 'c'] into the same queue, and the main process, after joining
 * the child, gets twice:
 *
 *   主进程获取 [1, 2, 3, 4, 5]
 *   主进程获取 ['a', 'b', 'c']
 *
 * First in, first out: the parent gets its own list first.
 *
 * Python's Queue pickles the lists it carries; an mt_queue carries bytes.
 * Here a list travels as one message packed with mt_pack, one part per
 * item, each part a type letter ('i' for an int, 's' for a str) and then
 * the value as text, so that the receiver can print it as Python would.
 */
#define _GNU_SOURCE
#include <string.h>

#include "common.h"

/* Put a list of items such as "i1" or "sa" into the queue, as one message. */
static int put_list(mt_queue *q, const char *const *items, size_t n)
{
    mt_iov parts[8];
    if (n > sizeof parts / sizeof parts[0])
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        parts[i] = (mt_iov){items[i], strlen(items[i])};
    mt_buf msg = MT_BUF_INIT;
    int err = mt_pack(&msg, parts, n);
    if (err == 0)
        err = mt_queue_put(q, msg.data, msg.len, MT_FOREVER);
    mt_buf_free(&msg);
    return err;
}

/* Print s as Python's repr() does: in single quotes, or in double quotes
 * when s holds a single quote and no double one. */
static void print_str(const char *s, size_t n)
{
    char quote = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    putchar(quote);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' || s[i] == quote)
            printf("\\%c", s[i]);
        else if (s[i] == '\n')
            printf("\\n");
        else if (s[i] == '\t')
            printf("\\t");
        else
            putchar(s[i]);
    }
    putchar(quote);
}

/* print(prefix, list): the list as Python prints it, [1, 2] or ['a']. */
static int print_list(const char *prefix, const mt_buf *msg)
{
    mt_iov items[8];
    int n = mt_unpack(msg->data, msg->len, items, 8);
    if (n < 0 || n > 8)
        return -EPROTO;
    printf("%s [", prefix);
    for (int i = 0; i < n; i++) {
        const char *item = items[i].data;
        if (items[i].len == 0)
            return -EPROTO;
        printf("%s", i ? ", " : "");
        if (item[0] == 's')
            print_str(item + 1, items[i].len - 1);
        else
            printf("%.*s", (int)items[i].len - 1, item + 1);
    }
    printf("]\n");
    return 0;
}

/*
 * The child: myque.put(['a', 'b', 'c']). The queue came through fork: the
 * argument is the parent's handle, which is valid in the child too. The
 * child frees its copy of the handle when it is done with it.
 */
static int fun(const void *arg, size_t len, mt_buf *out)
{
    mt_queue *myque;
    if (len != sizeof myque)
        return mt_fail(out, -EINVAL, "fun takes a queue");
    memcpy(&myque, arg, sizeof myque);
    int err = put_list(myque, (const char *const[]){"sa", "sb", "sc"}, 3);
    mt_queue_free(myque);
    return err;
}

int main(void)
{
    line_buffered_stdout();
    mt_queue *queque; /* multiprocessing.Queue() */
    check(mt_queue_new(&queque, NULL), "mt_queue_new");

    check(put_list(queque, (const char *const[]){"i1", "i2", "i3", "i4", "i5"}, 5), "put");
    mt_process *p;
    check(mt_process_new(&p, fun, &queque, sizeof queque, NULL), "mt_process_new");
    check(mt_process_start(p), "mt_process_start");
    check(mt_process_join(p, MT_FOREVER), "mt_process_join");
    int code;
    if (!mt_process_exitcode(p, &code) || code != 0) {
        fprintf(stderr, "queue_put_get: the child failed\n");
        return 1;
    }
    mt_process_free(p);

    mt_buf msg = MT_BUF_INIT;
    for (int i = 0; i < 2; i++) { /* print("主进程获取", queque.get()) */
        check(mt_queue_get(queque, &msg, MT_FOREVER), "get");
        check(print_list("主进程获取", &msg), "a list from the queue");
    }
    mt_buf_free(&msg);
    mt_queue_free(queque);
    return 0;
}
