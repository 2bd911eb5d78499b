/*
 * manager_list.c - the lecture's 列表共享 (sharing a list): a child process
 * appends x, y and z to a list shared with its parent, and the parent, after
 * joining it, prints ['x', 'y', 'z'] as Python would.
 * Python's Manager().list() needs a server process; mt_list needs none.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multitask.h"

/* The child: List.append('x') and so on. The handle came through fork. */
static int fun(const void *arg, size_t len, mt_buf *out)
{
    mt_list *list;
    (void)len, (void)out;
    memcpy(&list, arg, sizeof list);
    int err = mt_list_append(list, "x", 1);
    if (err == 0)
        err = mt_list_append(list, "y", 1);
    if (err == 0)
        err = mt_list_append(list, "z", 1);
    return err;
}

/* Print one item the way Python prints a list of str: 'item'. */
static int print_item(size_t index, const void *value, size_t len, void *ctx)
{
    (void)ctx;
    printf("%s'%.*s'", index ? ", " : "", (int)len, (const char *)value);
    return 0;
}

int main(void)
{
    mt_list *list = NULL;
    mt_process *p = NULL;
    int err = mt_list_new(&list, NULL);
    if (err == 0)
        err = mt_process_new(&p, fun, &list, sizeof list, NULL);
    if (err == 0)
        err = mt_process_start(p);
    if (err == 0)
        err = mt_process_join(p, MT_FOREVER);
    if (err == 0) {
        printf("[");
        err = mt_list_items(list, print_item, NULL);
        printf("]\n");
    }
    mt_process_free(p);
    mt_list_free(list);
    if (err < 0)
        fprintf(stderr, "manager_list: %s\n", mt_strerror(err));
    return err < 0;
}
