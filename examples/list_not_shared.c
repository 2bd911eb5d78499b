/*
 * list_not_shared.c - the lecture's 尝试列表是否能共享 (is a list shared?):
 * the child appends 1, 2 and 3 to its copy of the list; the parent's list is
 * still empty and prints as [].
 */
#define _GNU_SOURCE
#include "common.h"

/* C has no list type: an array and its length stand in for Python's []. */
static int mylist[8];
static size_t mylist_len;

static void append(int x)
{
    if (mylist_len < sizeof mylist / sizeof mylist[0])
        mylist[mylist_len++] = x;
}

/* Print the list the way Python prints one: [1, 2, 3] */
static void print_list(void)
{
    printf("[");
    for (size_t i = 0; i < mylist_len; i++)
        printf(i ? ", %d" : "%d", mylist[i]);
    printf("]\n");
}

static int run(const void *arg, size_t len, mt_buf *out)
{
    (void)arg, (void)len, (void)out;
    printf("我是子进程的开始\n");
    /* The child's own copy of the list, made at fork. */
    append(1);
    append(2);
    append(3);
    printf("我是子进程的结束\n");
    return 0;
}

int main(void)
{
    line_buffered_stdout();
    mt_process *p;
    check(mt_process_new(&p, run, NULL, 0, NULL), "mt_process_new");
    check(mt_process_start(p), "mt_process_start");
    check(mt_process_join(p, MT_FOREVER), "mt_process_join");
    mt_process_free(p);

    print_list();
    return 0;
}
