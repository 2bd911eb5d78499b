/*
 * remote_pool_load.c - the remote layer's pool table (remote_pool_ops.h),
 * from the library the shared layer loads (src/shared/remote_load.c), and
 * mt_worker_main, which is that table's worker.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>

#include "../shared/remote_ops.h"
#include "remote_pool_ops.h"

int mt__remote_pool_load(const mt__remote_pool_ops **out)
{
    *out = mt__remote_sym(MT__REMOTE_POOL_OPS_SYMBOL);
    return *out ? 0 : -EPROTONOSUPPORT;
}

int mt_worker_main(const char *url, const mt_worker_opts *opts)
{
    static const mt_worker_opts defaults;
    if (!opts)
        opts = &defaults;
    if (!url || opts->processes < 0 || isnan(opts->timeout) || opts->timeout < 0)
        return -EINVAL;
    const mt__remote_pool_ops *ops;
    int err = mt__remote_pool_load(&ops);
    return err < 0 ? err : ops->worker_main(url, opts);
}
