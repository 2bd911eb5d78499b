/*
 * remote_ops.h - the seam between libmultitask and the remote layer
 * (libmultitask-remote, src/remote/): what a dict or a list whose name is a
 * redis:// URL does instead of LMDB, and what a queue of such a name does
 * instead of shared memory (src/queue/queue_remote.c).
 *
 * libmultitask does not link hiredis: the first redis:// name loads
 * libmultitask-remote with dlopen (remote_load.c) and takes this table from
 * it, so a program switches a dict from one machine to many by its name
 * alone, and programs that never name a server map nothing more. The table
 * is versioned by its symbol's name: a library of another version is not
 * taken.
 *
 * Arguments reach the table already checked by the public calls (key
 * lengths, NULL pointers), except what only the remote side can judge.
 */
#ifndef MT_SHARED_REMOTE_OPS_H
#define MT_SHARED_REMOTE_OPS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "multitask/queue.h"
#include "multitask/shared.h"

/* A dict's, list's or queue's state on the remote side (a connection and a
 * name). */
typedef struct mt__remote mt__remote;

/* How a queue is opened: made (-EEXIST if it exists), opened (-ENOENT if
 * not), or either (-EEXIST if it exists with other settings). */
enum { MT__RQ_NEW = 1, MT__RQ_OPEN = 2, MT__RQ_EITHER = 3 };

/* Where a queue's get puts the message: an mt_buf (buf), or the caller's
 * cap bytes at dst; len gets its length. receipt: keep the message
 * claimed (mt_queue_claim) and fill it in. */
typedef struct mt__rsink {
    mt_buf *buf;
    void *dst;
    size_t cap;
    size_t len;
    mt_queue_receipt *receipt;
} mt__rsink;

typedef struct mt__remote_ops {
    int (*open)(mt__remote **out, bool list, const char *url, const mt_shared_opts *opts);
    void (*close)(mt__remote *r);
    int (*unlink)(const char *url);
    int (*batch_begin)(mt__remote *r);
    int (*batch_end)(mt__remote *r, bool commit);

    int (*dict_set)(mt__remote *r, const void *key, size_t klen, const void *v, size_t vlen);
    int (*dict_get)(mt__remote *r, const void *key, size_t klen, mt_buf *out);
    int (*dict_delete)(mt__remote *r, const void *key, size_t klen);
    int (*dict_pop)(mt__remote *r, const void *key, size_t klen, mt_buf *out);
    int (*dict_contains)(mt__remote *r, const void *key, size_t klen);
    ssize_t (*dict_len)(mt__remote *r);
    int (*dict_clear)(mt__remote *r);
    int (*dict_items)(mt__remote *r, mt_dict_item_fn *fn, void *ctx);
    int (*dict_incr)(mt__remote *r, const void *key, size_t klen, int64_t delta, int64_t *result);
    int (*dict_cas)(mt__remote *r, const void *key, size_t klen, const mt_iov *expected,
                    const mt_iov *value);
    int (*dict_modify)(mt__remote *r, const void *key, size_t klen, mt_dict_modify_fn *fn,
                       void *ctx);
    int (*dict_update)(mt__remote *r, const mt_dict_pair *pairs, size_t n);

    int (*list_append)(mt__remote *r, const mt_iov *items, size_t n);
    int (*list_insert)(mt__remote *r, long index, const void *value, size_t len);
    int (*list_get)(mt__remote *r, long index, mt_buf *out);
    int (*list_set)(mt__remote *r, long index, const void *value, size_t len);
    int (*list_pop)(mt__remote *r, long index, mt_buf *out);
    ssize_t (*list_len)(mt__remote *r);
    int (*list_clear)(mt__remote *r);
    int (*list_items)(mt__remote *r, mt_list_item_fn *fn, void *ctx);

    /* The queue (v2). opts: the settings to make it with (NULL for
     * MT__RQ_OPEN); actual gets the queue's own maxsize, max_message,
     * joinable and redeliver_after. A handle is freed with close. */
    int (*queue_open)(mt__remote **out, const char *url, const mt_queue_opts *opts, int mode,
                      mt_queue_opts *actual);
    int (*queue_unlink)(const char *url);
    int (*queue_put)(mt__remote *r, const void *data, size_t len, double timeout);
    int (*queue_get)(mt__remote *r, mt__rsink *sink, double timeout);
    int (*queue_settle)(mt__remote *r, const mt_queue_receipt *receipt, bool ack);
    int (*queue_task_done)(mt__remote *r);
    int (*queue_join)(mt__remote *r, double timeout);
    int (*queue_close)(mt__remote *r);
    ssize_t (*queue_qsize)(mt__remote *r);
    int (*queue_closed)(mt__remote *r);
} mt__remote_ops;

/* The table's symbol in libmultitask-remote; the suffix is its version. */
#define MT__REMOTE_OPS_SYMBOL "mt__remote_ops_v2"

/* Whether a name is a server's (redis://, redis+unix://, or rediss://,
 * which the remote layer refuses: no TLS in Debian 12's hiredis). */
bool mt__remote_name(const char *name);

/*
 * The remote layer's table, loading libmultitask-remote on first use (from
 * the directory libmultitask was loaded from, else by the dynamic linker's
 * search). Returns 0, or -EPROTONOSUPPORT when the library cannot be loaded
 * or is of another version. Thread-safe.
 */
int mt__remote_load(const mt__remote_ops **out);

/* A symbol of libmultitask-remote (loaded as mt__remote_load does, once,
 * never unloaded), for the other layers' tables; NULL when the library or
 * the symbol is missing. Thread-safe. */
void *mt__remote_sym(const char *symbol);

#endif
