/*
 * remote.c - a dict or a list whose name is a server's: the handle carries
 * the remote layer's state and table instead of an LMDB environment.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shared_internal.h"

int mt__shared_remote_open(mt__shared **out, bool list, const char *name,
                           const mt_shared_opts *opts)
{
    const mt__remote_ops *ops;
    int err = mt__remote_load(&ops);
    if (err < 0) return err;
    mt__shared *s = calloc(1, sizeof *s);
    if (!s || !(s->name = strdup(name))) {
        free(s);
        return -ENOMEM;
    }
    if ((err = ops->open(&s->remote, list, name, opts)) < 0) {
        free(s->name);
        free(s);
        return err;
    }
    s->rops = ops;
    *out = s;
    return 0;
}

void mt__shared_remote_close(mt__shared *s)
{
    s->rops->close(s->remote);
    free(s->name);
    free(s);
}

int mt__shared_remote_unlink(const char *name)
{
    const mt__remote_ops *ops;
    int err = mt__remote_load(&ops);
    return err < 0 ? err : ops->unlink(name);
}
