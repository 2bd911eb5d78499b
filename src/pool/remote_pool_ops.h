/*
 * remote_pool_ops.h - the seam between the pool (libmultitask) and the
 * remote layer's pool (libmultitask-remote, src/remote/pool_*.c): what a
 * pool whose mt_pool_opts.redis names a server does instead of forking.
 *
 * The pool side keeps the public API (futures, map results, imap) and
 * gives the remote side calls to send, each with the future it must
 * finish; the remote side talks to the server. Like remote_ops.h, the
 * table is taken with dlsym from the library libmultitask loads on the
 * first redis:// name, and is versioned by its symbol's name.
 */
#ifndef MT_POOL_REMOTE_POOL_OPS_H
#define MT_POOL_REMOTE_POOL_OPS_H

#include <stddef.h>

#include "multitask/pool.h"

/* A client's state on the remote side: connections, its futures. */
typedef struct mt__rpool mt__rpool;

typedef struct mt__remote_pool_ops {
    /* Connect and check NAME (creating it when new). opts->redis is the
     * URL. 0, -EINVAL, MT_ECONNECT, MT_EAUTH, -EACCES, MT_EREMOTE, -ENOMEM. */
    int (*open)(mt__rpool **out, const mt_pool_opts *opts);
    /*
     * Send n calls of the function registered as `name`, call i with
     * args[i] (copied), to be finished in fs[i] (the remote side takes a
     * reference on each). Calls sent together travel in entries of at most
     * `chunk` calls. Returns 0, or an error: then none of fs was taken
     * (calls already sent are forgotten, their results dropped).
     */
    int (*submit)(mt__rpool *rp, const char *name, const mt_iov *args, size_t n, size_t chunk,
                  mt_future **fs);
    /* Calls sent whose future is not finished yet. */
    size_t (*outstanding)(mt__rpool *rp);
    /* Wait until outstanding is 0 or `timeout` seconds pass: 0 or
     * -ETIMEDOUT. */
    int (*drain)(mt__rpool *rp, double timeout);
    /* Finish every outstanding future with err and msg; later results of
     * those calls are dropped. */
    void (*cancel_all)(mt__rpool *rp, int err, const char *msg);
    /* cancel_all, stop the result thread, remove this client's results
     * from the server, disconnect, free. */
    void (*free)(mt__rpool *rp);
    /* mt_worker_main, opts checked and defaulted. */
    int (*worker_main)(const char *url, const mt_worker_opts *opts);
} mt__remote_pool_ops;

/* The table's symbol in libmultitask-remote; the suffix is its version. */
#define MT__REMOTE_POOL_OPS_SYMBOL "mt__remote_pool_ops_v1"

/* The table, loading the remote library on first use: 0, or
 * -EPROTONOSUPPORT when it cannot be loaded or is of another version. */
int mt__remote_pool_load(const mt__remote_pool_ops **out);

#endif
