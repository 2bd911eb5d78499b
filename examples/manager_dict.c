/*
 * manager_dict.c - the lecture's 字典共享 (sharing a dict): a child process
 * sets x, y and z in a dict shared with its parent, and the parent, after
 * joining it, prints {'x': 'x', 'y': 'y', 'z': 'z'} as Python would.
 * Python's Manager().dict() needs a server process; mt_dict needs none.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multitask.h"

/* The child: mydict['x'] = 'x' and so on. The handle came through fork. */
static int fun(const void *arg, size_t len, mt_buf *out)
{
    mt_dict *mydict;
    (void)len, (void)out;
    memcpy(&mydict, arg, sizeof mydict);
    int err = mt_dict_set(mydict, "x", 1, "x", 1);
    if (err == 0)
        err = mt_dict_set(mydict, "y", 1, "y", 1);
    if (err == 0)
        err = mt_dict_set(mydict, "z", 1, "z", 1);
    return err;
}

/* Print one item the way Python prints a dict of str: 'key': 'value'. */
static int print_item(const void *key, size_t klen, const void *value, size_t vlen, void *ctx)
{
    int *count = ctx;
    printf("%s'%.*s': '%.*s'", (*count)++ ? ", " : "", (int)klen, (const char *)key, (int)vlen,
           (const char *)value);
    return 0;
}

int main(void)
{
    mt_dict *mydict = NULL;
    mt_process *p = NULL;
    int count = 0;
    int err = mt_dict_new(&mydict, NULL);
    if (err == 0)
        err = mt_process_new(&p, fun, &mydict, sizeof mydict, NULL);
    if (err == 0)
        err = mt_process_start(p);
    if (err == 0)
        err = mt_process_join(p, MT_FOREVER);
    if (err == 0) {
        printf("{");
        err = mt_dict_items(mydict, print_item, &count);
        printf("}\n");
    }
    mt_process_free(p);
    mt_dict_free(mydict);
    if (err < 0)
        fprintf(stderr, "manager_dict: %s\n", mt_strerror(err));
    return err < 0;
}
