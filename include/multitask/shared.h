/*
 * multitask/shared.h - a dict and a list shared by processes
 * (multiprocessing.Manager().dict() and .list()), without a server process.
 *
 * An mt_dict maps byte keys to byte values; an mt_list is a sequence of byte
 * values. Both live in an LMDB environment (a memory-mapped B+tree that many
 * processes read and write at once, crash-safe by copy-on-write), so every
 * process that has one works on the same data, directly, with no messages.
 *
 * Usage:
 *   1. mt_dict_new(&d, NULL) makes an empty dict in a fresh private directory
 *      under /dev/shm (mode 0700); mt_list_new(&l, NULL) the same for a list.
 *      Options (mt_shared_opts) give it a name, put it in a directory of the
 *      caller's choosing, keep it after free, or set its maximum size.
 *   2. Share it: a child forked after this point (mt_process, mt_pool with
 *      MT_START_FORK, fork()) simply keeps using the same handle; an
 *      unrelated process calls mt_dict_open(&d, name, NULL) with the name
 *      that mt_dict_name(d) returns.
 *   3. Use it from every process: mt_dict_set/get/delete/contains/len/items
 *      (mt_dict_set_str/get_str and mt_dict_set_i64/get_i64 for C strings
 *      and numbers), mt_list_append/get/set/pop/len/items. Read-modify-write
 *      is atomic through mt_dict_incr, mt_dict_cas and mt_dict_modify, so the
 *      lost updates of `d[k] += 1` on a Manager dict cannot happen. Many writes
 *      in one transaction: mt_dict_update, mt_list_extend, or a batch
 *      (mt_dict_batch_begin ... mt_dict_batch_commit).
 *   4. mt_dict_free(d) in every process that has it. The creator's free
 *      removes the directory, unless it was named by path or asked to
 *      persist; mt_shared_unlink() removes a kept one.
 *
 * Storage: each dict or list is one LMDB environment of its own (a directory
 * holding data.mdb and lock.mdb, and a small file "multitask-object" that
 * marks it as one and names the pid that made it; only a directory with
 * that mark is opened or removed, and a symbolic link in place of the
 * directory is never followed), so that writers of two different objects
 * never wait for each other (LMDB admits one writer per environment) and each
 * has its own size and lifetime. Keys are 1 to 511 bytes (LMDB's limit);
 * values are 0 bytes up to the map size. Dict keys are kept sorted by their
 * bytes (memcmp order, shorter first on a tie), so iteration is in that
 * order, not in insertion order.
 *
 * Durability: every change is one transaction; a process that dies at any
 * point (even SIGKILL inside a batch) leaves the last committed state, which
 * every other process reads and writes on from. On /dev/shm (the default)
 * nothing is written to a disk: the data lasts until the directory is
 * removed or the machine restarts. In a directory the caller names, each
 * commit is flushed to the disk by default (MT_SHARED_SYNC_FULL), so it
 * survives a power cut; see mt_shared_sync for cheaper levels.
 *
 * Processes: a handle inherited through fork() reopens the environment in
 * the child on first use (LMDB forbids using one environment across fork),
 * so a child should first use it while the creator still has it open: after
 * the creator's free has removed the directory, a child that had not used
 * it yet gets -ENOENT, and one whose path now names another directory
 * (moved or swapped in since) gets -ESTALE. Reader slots of processes that died are reclaimed
 * when an object is opened, when a batch begins, when the map is full, and
 * on mt_dict_reader_check(). Within one process, every handle on the same
 * directory shares one LMDB environment (LMDB requires it): this registry,
 * and a pthread_atfork handler, are the layer's only global state.
 *
 * Threads: every function is thread-safe, except that a batch belongs to the
 * thread that began it (see mt_dict_batch_begin). Callbacks run in the
 * caller's thread, inside a transaction: they must not use the same object.
 *
 * Objects on a server (many machines): a name of the form
 *     redis://[[user]:password@]host[:port][/db]/NAME
 *     redis+unix://[[user]:password@]/path/to/socket/NAME[?db=N]
 * given to mt_dict_open or mt_list_open (mt_*_new stays local) makes the
 * dict a Redis hash and the list a Redis list on that server (Redis 7;
 * Debian's redis-server), and every call below works on it, from any number
 * of machines at once; mt_shared_unlink removes it. Exactly these forms:
 * host is a name, an IPv4 address or an IPv6 one in brackets; port 1 to
 * 65535 (default 6379); db a decimal number (default 0); the socket an
 * absolute path of up to 107 bytes; user and password percent-escaped
 * where they hold '@', '/', ':' (user only), '%', '?', '#', '[', ']',
 * spaces, control or non-ASCII bytes (an empty user is Redis's default
 * user; a user needs a password); NAME 1 to 200 bytes of letters, digits
 * and "._~:-", not starting with '.'. Anything else is -EINVAL; "rediss://" (TLS) is
 * -EPROTONOSUPPORT: Debian 12's hiredis has no TLS. Keep the server on a
 * private network, or reach it through an SSH or stunnel tunnel, and set a
 * password or an ACL user. The code is in libmultitask-remote (on hiredis),
 * which the first such name loads; without it, -EPROTONOSUPPORT.
 *   On the server, NAME is the data (a hash or a list; Redis removes it
 * while it is empty) and NAME:multitask the marker, a string
 * "multitask:dict:1" or "multitask:list:1". Open makes the marker when
 * neither key exists (machines have no creator: open is open-or-create),
 * opens the object when the marker is of its kind, and returns -ENOENT when
 * it is of the other kind (as locally) and -EPROTO when either key holds
 * anything else: a key that is not ours is never written, and unlink
 * leaves it too (-EPROTO). Each call checks the marker again on the server:
 * after an unlink, calls on handles still open return -ENOENT (they do not
 * bring the object back); if a stranger replaced either key, -EPROTO.
 * mt_*_free closes the connection and never removes the object. Of the
 * options, open uses only timeout (sync, persistence and map size are the
 * server's: see its appendonly and maxmemory settings).
 *   Each call is one Lua script on the server, so incr (HINCRBY), cas,
 * pop, insert and the rest are atomic against every other client. What
 * differs from one machine: int64 values (set_i64, get_i64, incr) are
 * decimal text, as HINCRBY keeps them and other clients read them, so the
 * byte calls see "42", not 8 bytes, and incr on a value that is no decimal
 * integer is -EINVAL, unchanged; a view's fn sees a private copy; items,
 * keys and values come in the same key order from one snapshot; values may
 * be up to 512 MB (Redis's limit); reader_check returns 0; an
 * mt_dict_modify's fn may run more than once (it reads, runs fn, and writes
 * only if the value is still the one read, else runs fn again on the new
 * one), so it must do nothing but fill out. A batch is queued in the
 * handle and sent at commit as one script, all or nothing (a server out of
 * memory refuses it whole, as it refuses any write but delete, pop and
 * clear; reads still work): the writes return 0 at once and their own
 * failures (MT_EKEY, MT_EINDEX, a counter that is no integer) are not
 * reported, that write being skipped; calls that must answer at once
 * (reads, len, contains, items, view, cas, modify, incr with a result, pop
 * with out) return -EINPROGRESS inside a batch and queue nothing; other
 * writers do not wait for a batch.
 *   Connections: one per handle and process, opened at open (AUTH with
 * the user and password, SELECT db) and again on first use in a child
 * after fork; fork() waits while a call of another thread is in progress
 * on any server handle. Calls on one handle from several threads or
 * coroutines take turns: open a handle per thread for parallel calls. A
 * call blocks its thread until the server answers; from a coroutine it
 * suspends only that coroutine (the loop runs its other tasks; a first
 * connection is made on the loop's thread pool), and a cancellation or a
 * timeout scope waits for the call's answer, so the call's result is the
 * call's and the request comes at the coroutine's next suspending call. A
 * call waits at most opts->timeout in
 * all (10 s by default): a connection that fails, breaks or times out is
 * dropped and made again with backoff (10 ms, doubling to 0.5 s) within
 * that time, and the call sent again. A call that would not give the same
 * result twice (incr, cas, delete, pop, append, insert, a batch's commit)
 * carries an operation id, whose result the server keeps under
 * NAME:multitask:op:ID for the timeout plus a minute (10 minutes plus one
 * with no timeout; a handle deletes its last one with its next write or at
 * free): sent again, it returns that result and does not run twice. So a call
 * that returns 0 was done once, and a write acknowledged is as durable as
 * the server's persistence makes it (appendonly yes with appendfsync
 * always: it survives the server's crash; everysec: up to a second of
 * writes may be lost). Done once holds across the server's crash when the
 * server restarts on whole scripts: with aof-load-truncated no, an AOF that
 * the crash cut in the middle of a write is repaired with redis-check-aof
 * --fix (Redis 7's default, yes, keeps the first commands of the cut
 * script's effects and runs them at the next restart: a call resent after
 * the crash is then found done twice). Errors of a server's object, besides the others:
 * MT_ECONNECT (no connection within the timeout: nothing was done),
 * MT_ECONNLOST (sent, and no answer within the timeout: done once or not
 * at all), MT_EAUTH (user or password refused), -EACCES (the ACL user may
 * not run that command or touch that key), -ENOSPC (the server is out of
 * memory: maxmemory), MT_ENOHOST, MT_EREMOTE (any other refusal, such as a
 * db beyond the server's number of databases or a read-only replica). No
 * error message holds a name, an address or a secret; mt_dict_name returns
 * the name as given, password included: do not print it.
 *
 * Errors (besides those listed per function): -ENOMEM; -EIO for a damaged
 * environment (LMDB's MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_PANIC and its
 * other internal errors); -EPROTO for a directory that is not a multitask
 * object (no marker) or not an LMDB environment of this version
 * (MDB_INVALID, MDB_VERSION_MISMATCH); -ELOOP for a name that is a
 * symbolic link; -ENOSPC when the map is full (MDB_MAP_FULL); -E2BIG when
 * one transaction holds too many changes (MDB_TXN_FULL: split the batch);
 * -EAGAIN when every reader slot is taken (MDB_READERS_FULL); -EDEADLK when
 * a thread that is writing an object starts a second write on it (inside an
 * mt_dict_modify callback, say); system errors from LMDB's own calls come
 * back negated.
 */
#ifndef MULTITASK_SHARED_H
#define MULTITASK_SHARED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_dict mt_dict;
typedef struct mt_list mt_list;

/* The longest key, in bytes. */
#define MT_SHARED_MAX_KEY 511

/*
 * The maximum size of a new object when the options give none: 1 GiB of
 * address space, used in /dev/shm only as data is written (data.mdb shows
 * its full size but is sparse). On a tmpfs with less room free (a
 * container's /dev/shm may be 64 MiB) the default is three quarters of what
 * is free when the object is made. On tmpfs the map is written in place: if
 * other programs fill the file system before the map is full, a write can
 * end the writing process with SIGBUS, as with any shared memory there.
 */
#define MT_SHARED_DEFAULT_MAP_SIZE ((size_t)1 << 30)

/* When a commit is flushed to the disk: what survives an OS crash or power
 * cut. A process crash never loses a committed change, at any level. */
typedef enum mt_shared_sync {
    MT_SHARED_SYNC_DEFAULT = 0, /* NONE on a tmpfs such as /dev/shm, else FULL */
    MT_SHARED_SYNC_NONE,        /* never flushed: an OS crash may lose recent
                                   commits, and on a disk that reorders writes
                                   may damage the file */
    MT_SHARED_SYNC_META,        /* data flushed, the commit record not: an OS
                                   crash may lose the last commit, never more */
    MT_SHARED_SYNC_FULL,        /* every commit flushed before it returns */
} mt_shared_sync;

typedef struct mt_shared_opts {
    /* At creation: the object's name, giving the directory /dev/shm/mt-NAME
     * (1 to 200 bytes, no '/', not starting with '.'); NULL makes a fresh
     * unique one. Creating a name that exists (even as an empty
     * directory) fails with -EEXIST. */
    const char *name;
    /* At creation, instead of name: the directory to use (created, mode
     * 0700; it may exist if empty). Its name for mt_*_open is this path. */
    const char *path;
    /* Keep a /dev/shm directory after the creator frees the object (one
     * given by path is always kept). mt_shared_unlink() removes it. */
    bool persist;
    /* At creation: the maximum size of the data in bytes, rounded up to the
     * page size; 0 means MT_SHARED_DEFAULT_MAP_SIZE. Writes beyond it fail
     * with -ENOSPC. Opening adopts the creator's size. */
    size_t map_size;
    /* This process's flushing level, at creation and at open. */
    mt_shared_sync sync;
    /* For a server's name, at open: how long each call on the handle may
     * take in all, reconnecting included, in seconds; 0 means 10 s,
     * MT_FOREVER (any negative) no limit, NaN is -EINVAL. Unused otherwise. */
    double timeout;
} mt_shared_opts;

/*
 * mt_shared_unlink - remove a kept object's directory by the name mt_*_open
 * takes (a /dev/shm name, or a path). Processes that have it open keep
 * working on it; no one can open it any more. Only an object's own files
 * (data.mdb, lock.mdb, the marker, in that order) and then its directory
 * are removed, and only when the directory carries the marker: a foreign
 * directory loses nothing. An unlink that fails, or a process killed midway,
 * may leave some of the object's files removed and the marker in place;
 * calling it again finishes the removal. Returns 0, -ENOENT if there is no such
 * object (nothing there, a file, an empty directory), -ELOOP when the name
 * is a symbolic link (never followed), -EPROTO for a directory that is not
 * a multitask object (no marker; an object made by multitask before 0.1.0
 * has none either), -ESTALE when the directory was replaced meanwhile,
 * -EINVAL for a bad name, or the error of unlinkat (-ENOTEMPTY when the
 * directory holds other files; they are kept). A server's name (see
 * "Objects on a server" above) removes both keys of an object of either
 * kind: 0, -ENOENT (nothing there), -EPROTO (a key there that is not ours:
 * nothing removed), or a connection's error. Thread-safe.
 */
int mt_shared_unlink(const char *name);

/* ------------------------------------------------------------------ dict */

/*
 * mt_dict_new - create an empty dict (see mt_shared_opts; opts may be NULL).
 * Returns 0 and the handle in *out, or -EINVAL (out NULL, a bad name, both
 * name and path, a map size below 64 KiB), -EEXIST (the name or path holds
 * an object or other files already), -ENOENT (the parent of path is
 * missing), -EACCES and other errors of mkdir, -ENOMEM. Nothing is left
 * behind on failure. Thread-safe.
 */
int mt_dict_new(mt_dict **out, const mt_shared_opts *opts);

/*
 * mt_dict_open - open an existing dict by name: what mt_dict_name() gives,
 * i.e. a /dev/shm name or a directory path (anything with a '/'). Only
 * opts->sync is used; opts may be NULL. A directory that is not an object
 * is left exactly as it was. Returns 0, -EINVAL (out or name NULL, a bad
 * name), -ENOENT (no dict by that name: nothing there, an empty directory,
 * or a list), -ELOOP (the name is a symbolic link: not followed), -EPROTO
 * (a directory without multitask's marker, or not an LMDB environment of
 * this version), -EACCES, -ENOMEM. A server's name opens or makes the dict
 * there: see "Objects on a server" above for its errors. Thread-safe.
 */
int mt_dict_open(mt_dict **out, const char *name, const mt_shared_opts *opts);

/*
 * mt_dict_free - release the handle. In the creating process (not in a
 * forked child) this also removes the directory unless it was given by path
 * or opts.persist was set. A batch this thread left open is aborted. NULL is
 * ignored. Not to be called while another thread uses d.
 */
void mt_dict_free(mt_dict *d);

/* mt_dict_name - the name mt_dict_open takes; owned by d. Thread-safe. */
const char *mt_dict_name(const mt_dict *d);

/*
 * mt_dict_set - d[key] = value: insert or replace. The bytes are copied.
 * Returns 0, -EINVAL (d NULL, key NULL, klen 0 or above MT_SHARED_MAX_KEY,
 * value NULL with vlen > 0; nothing changes), -ENOSPC.
 */
int mt_dict_set(mt_dict *d, const void *key, size_t klen, const void *value, size_t vlen);

/*
 * mt_dict_get - copy d[key] into out, replacing its contents.
 * Returns 0, MT_EKEY (no such key: Python's KeyError; out is unchanged),
 * -EINVAL (bad arguments as for set, out NULL).
 */
int mt_dict_get(mt_dict *d, const void *key, size_t klen, mt_buf *out);

/*
 * C strings and int64 values, as Python's d["k"] = "v" and d["n"] = 5. The
 * key is a C string (1 to MT_SHARED_MAX_KEY bytes before its NUL) stored
 * without its NUL, so the byte calls find it with strlen(key); a string
 * value is stored without its NUL too, and an int64 as 8 bytes in host byte
 * order, as mt_dict_incr keeps its counters: the byte calls, mt_dict_incr
 * and these read each other's values. Thread-safe as the byte calls.
 */

/* mt_dict_set_str - d[key] = value. Returns 0, -EINVAL (d, key or value
 * NULL, a bad key), -ENOSPC. */
int mt_dict_set_str(mt_dict *d, const char *key, const char *value);

/*
 * mt_dict_get_str - d[key] as a C string: out's contents are replaced by the
 * value followed by a NUL that out->len does not count, so out->data is the
 * string. Returns 0, MT_EKEY (no such key), -EINVAL (bad arguments, or the
 * value holds a NUL byte, so it is no C string), -ENOMEM; out is unchanged
 * on failure.
 */
int mt_dict_get_str(mt_dict *d, const char *key, mt_buf *out);

/* mt_dict_set_i64 - d[key] = value, as 8 bytes. Returns 0, -EINVAL (d or
 * key NULL, a bad key), -ENOSPC. */
int mt_dict_set_i64(mt_dict *d, const char *key, int64_t value);

/*
 * mt_dict_get_i64 - d[key] as an int64 into *out. Returns 0, MT_EKEY (no
 * such key), -EINVAL (bad arguments, or the value is not 8 bytes long);
 * *out is unchanged on failure.
 */
int mt_dict_get_i64(mt_dict *d, const char *key, int64_t *out);

/*
 * A callback that sees a value without copying it: `value` points into the
 * shared map and is valid only until the callback returns; never write it.
 * Its return value is passed back to the caller.
 */
typedef int mt_shared_view_fn(const void *value, size_t len, void *ctx);

/*
 * mt_dict_view - call fn(value, len, ctx) on d[key] without copying it, in
 * one read transaction. Returns fn's return value, MT_EKEY (no such key; fn
 * is not called), -EINVAL (bad arguments, fn NULL).
 */
int mt_dict_view(mt_dict *d, const void *key, size_t klen, mt_shared_view_fn *fn, void *ctx);

/*
 * mt_dict_delete - del d[key]. Returns 0, MT_EKEY (no such key), -EINVAL.
 */
int mt_dict_delete(mt_dict *d, const void *key, size_t klen);

/*
 * mt_dict_pop - remove d[key] and move its value into out (replaced), in one
 * transaction. out may be NULL to drop the value. Returns 0, MT_EKEY,
 * -EINVAL.
 */
int mt_dict_pop(mt_dict *d, const void *key, size_t klen, mt_buf *out);

/*
 * mt_dict_contains - `key in d`. Returns 1 (present), 0 (absent), -EINVAL.
 */
int mt_dict_contains(mt_dict *d, const void *key, size_t klen);

/* mt_dict_len - len(d): the number of keys, or -EINVAL (d NULL). */
ssize_t mt_dict_len(mt_dict *d);

/*
 * mt_dict_clear - remove every key, in one transaction. Returns 0, -EINVAL.
 */
int mt_dict_clear(mt_dict *d);

/*
 * A callback for each item: key and value point into the shared map and are
 * valid only until it returns. Return 0 to go on; any other value stops the
 * iteration and is returned by it.
 */
typedef int mt_dict_item_fn(const void *key, size_t klen, const void *value, size_t vlen,
                            void *ctx);

/*
 * mt_dict_items - call fn on every item, in key order, as one consistent
 * snapshot (one read transaction: writers go on meanwhile, unseen).
 * Returns 0, fn's non-zero return value, -EINVAL (d or fn NULL).
 */
int mt_dict_items(mt_dict *d, mt_dict_item_fn *fn, void *ctx);

/*
 * mt_dict_keys / mt_dict_values - every key (or value), in key order, from
 * one snapshot, appended to out as one mt_pack (task.h): read them back with
 * mt_unpack. Returns 0, -EINVAL (d or out NULL), -ENOMEM, -EMSGSIZE (more
 * than 4 GiB), with out as it was on failure.
 */
int mt_dict_keys(mt_dict *d, mt_buf *out);
int mt_dict_values(mt_dict *d, mt_buf *out);

/*
 * mt_dict_incr - atomically add delta to the int64 counter at key (8 bytes,
 * host byte order; a missing key counts as 0) and store the sum in *result
 * if result is not NULL. Returns 0, -EINVAL (bad arguments, or the value
 * there is not 8 bytes long: nothing changes), -EOVERFLOW (the sum does not
 * fit in an int64: nothing changes).
 */
int mt_dict_incr(mt_dict *d, const void *key, size_t klen, int64_t delta, int64_t *result);

/*
 * mt_dict_cas - compare and set, atomically: if the value at key is
 * `expected` (NULL: the key must be absent), replace it with `value` (NULL:
 * delete the key). Returns 1 when swapped, 0 when the value was different
 * (nothing changes), -EINVAL (bad key, or an iov with data NULL and len > 0).
 */
int mt_dict_cas(mt_dict *d, const void *key, size_t klen, const mt_iov *expected,
                const mt_iov *value);

/* What an mt_dict_modify function wants done (or a negative error). */
enum mt_dict_modify_result {
    MT_DICT_STORE = 0,  /* store the bytes in `out` as the new value */
    MT_DICT_DELETE = 1, /* delete the key (nothing if absent) */
    MT_DICT_KEEP = 2,   /* leave the key as it is */
};

/*
 * An update function: `old` is the current value (NULL when the key is
 * absent; its bytes are valid until the function returns), `out` is empty.
 * Returns an mt_dict_modify_result, or a negative error to change nothing.
 */
typedef int mt_dict_modify_fn(const mt_iov *old, mt_buf *out, void *ctx);

/*
 * mt_dict_modify - run fn(old, out, ctx) inside one write transaction on key
 * and apply what it asks, so no other process writes in between (other
 * writers of d wait; readers do not). fn must be short and must not use d.
 * Returns 0, fn's negative error (nothing changes), -EINVAL (bad arguments,
 * or fn returned a positive value outside the enum: nothing changes).
 */
int mt_dict_modify(mt_dict *d, const void *key, size_t klen, mt_dict_modify_fn *fn, void *ctx);

/* One key and its value, for mt_dict_update. */
typedef struct mt_dict_pair {
    mt_iov key;
    mt_iov value;
} mt_dict_pair;

/*
 * mt_dict_update - set n pairs in one transaction: all or none (Python's
 * d.update). A later pair wins over an earlier one with the same key.
 * Returns 0, -EINVAL (a bad pair: nothing changes), -ENOSPC, -E2BIG.
 */
int mt_dict_update(mt_dict *d, const mt_dict_pair *pairs, size_t n);

/*
 * mt_dict_batch_begin - from now until commit or abort, every call on d from
 * this thread (writes and reads alike, which see the batch's own writes) is
 * part of one write transaction. Other processes and threads see nothing of
 * it until the commit, and their writes to d wait until then; their reads do
 * not. Returns 0, -EINVAL (d NULL), -EBUSY (a batch is already open on d, in
 * this thread or another), -EDEADLK (this thread is writing d otherwise).
 * Do not fork while a batch is open.
 */
int mt_dict_batch_begin(mt_dict *d);

/*
 * mt_dict_batch_commit - make the batch's writes visible, all at once.
 * Returns 0, -EINVAL (no batch of this thread's is open on d), or the
 * first error a write of the batch failed with inside LMDB (-ENOSPC, ...):
 * from that failure on, every call of the batch returns that error too,
 * and nothing of the batch is kept. A write that failed for its own reason
 * (MT_EKEY, -EINVAL, -EOVERFLOW, a modify function's error) changed nothing
 * and does not fail the batch. The batch is over in every case.
 */
int mt_dict_batch_commit(mt_dict *d);

/*
 * mt_dict_batch_abort - drop the batch's writes. Returns 0 or -EINVAL (no
 * batch of this thread's open on d).
 */
int mt_dict_batch_abort(mt_dict *d);

/*
 * mt_dict_reader_check - free the reader slots of processes that died while
 * reading (they would keep old pages from being reused). Returns how many
 * were freed, or -EINVAL.
 */
int mt_dict_reader_check(mt_dict *d);

/* ------------------------------------------------------------------ list */

/* mt_list_new, mt_list_open, mt_list_free, mt_list_name - as for a dict. */
int mt_list_new(mt_list **out, const mt_shared_opts *opts);
int mt_list_open(mt_list **out, const char *name, const mt_shared_opts *opts);
void mt_list_free(mt_list *l);
const char *mt_list_name(const mt_list *l);

/*
 * Indexes are as in Python: 0 is the first item, -1 the last. A bad index
 * returns MT_EINDEX (IndexError) and changes nothing.
 */

/*
 * mt_list_append - l.append(value). Returns 0, -EINVAL (l NULL, value NULL
 * with len > 0), -ENOSPC.
 */
int mt_list_append(mt_list *l, const void *value, size_t len);

/*
 * mt_list_extend - append n values in one transaction, all or none.
 * Returns 0, -EINVAL (an item with data NULL and len > 0: nothing changes),
 * -ENOSPC, -E2BIG.
 */
int mt_list_extend(mt_list *l, const mt_iov *items, size_t n);

/*
 * mt_list_insert - l.insert(index, value): before the item at index; an
 * index past either end is clamped, as in Python. Moves the items on the
 * shorter side: O(min(index, len - index)). Returns 0, -EINVAL, -ENOSPC.
 */
int mt_list_insert(mt_list *l, long index, const void *value, size_t len);

/* mt_list_get - copy l[index] into out (replaced). Returns 0, MT_EINDEX,
 * -EINVAL (l or out NULL). */
int mt_list_get(mt_list *l, long index, mt_buf *out);

/* mt_list_view - fn(value, len, ctx) on l[index] without a copy (see
 * mt_shared_view_fn). Returns fn's value, MT_EINDEX, -EINVAL. */
int mt_list_view(mt_list *l, long index, mt_shared_view_fn *fn, void *ctx);

/* mt_list_set - l[index] = value. Returns 0, MT_EINDEX, -EINVAL, -ENOSPC. */
int mt_list_set(mt_list *l, long index, const void *value, size_t len);

/*
 * mt_list_pop - remove l[index] (-1: the last) and move its value into out
 * (replaced; NULL to drop it). Popping either end is O(log n); elsewhere the
 * items on the shorter side move. Returns 0, MT_EINDEX (bad index, or the list
 * is empty), -EINVAL.
 */
int mt_list_pop(mt_list *l, long index, mt_buf *out);

/* mt_list_len - len(l), or -EINVAL (l NULL). */
ssize_t mt_list_len(mt_list *l);

/* mt_list_clear - remove every item. Returns 0, -EINVAL. */
int mt_list_clear(mt_list *l);

/* A callback for each item (see mt_shared_view_fn for `value`): return 0 to
 * go on; any other value stops the iteration and is returned by it. */
typedef int mt_list_item_fn(size_t index, const void *value, size_t len, void *ctx);

/* mt_list_items - fn on each item in order, from one snapshot. Returns 0,
 * fn's non-zero value, -EINVAL. */
int mt_list_items(mt_list *l, mt_list_item_fn *fn, void *ctx);

/* mt_list_batch_begin / _commit / _abort, mt_list_reader_check - as for a
 * dict. */
int mt_list_batch_begin(mt_list *l);
int mt_list_batch_commit(mt_list *l);
int mt_list_batch_abort(mt_list *l);
int mt_list_reader_check(mt_list *l);

#ifdef __cplusplus
}
#endif
#endif
