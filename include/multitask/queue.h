/*
 * multitask/queue.h - a bounded queue of byte messages in shared memory
 * (queue.Queue, multiprocessing.Queue and JoinableQueue in one).
 *
 * Many producers and many consumers, in one process or in many: the queue
 * lives in shared memory, so the same mt_queue works between threads, between
 * a parent and the children it forks (pool workers included), and, when it
 * has a name, between unrelated processes that open it by that name.
 *
 * Usage:
 *   1. mt_queue_new(&q, &(mt_queue_opts){.maxsize = 64}) makes an anonymous
 *      queue; children forked afterwards inherit it and use the same handle.
 *      With .name = "jobs" it is also reachable by name: another program calls
 *      mt_queue_open(&q, "jobs"), or mt_queue_open_or_new() when it does not
 *      know which program comes first. With .persist the name (and what is
 *      queued) stays after the last handle is freed, until mt_queue_unlink().
 *      With .name = "redis://host/0/jobs" the queue lives on a Redis server
 *      instead, for processes on any machine (see "Queues on a server").
 *   2. Producers call mt_queue_put(q, data, len, timeout); consumers call
 *      mt_queue_get(q, &buf, timeout), or mt_queue_get_into() to receive into
 *      their own memory without any allocation. The _nowait forms never block
 *      and return -EAGAIN where Python raises Full or Empty.
 *      Consumers that must not lose a message when they die take it with
 *      mt_queue_claim() and acknowledge it with mt_queue_ack() once done
 *      (see "Acknowledged gets" below).
 *   3. Optionally mt_queue_close(q): no more puts, for everyone; consumers
 *      receive what is left and then MT_ECLOSED, which makes a natural "done"
 *      signal for worker loops.
 *   4. With .joinable, consumers call mt_queue_task_done(q) for each message
 *      they finished and anyone may mt_queue_join(q, timeout) to wait until
 *      every message put has been done (JoinableQueue), from any process
 *      that has the queue: this is how a producer waits until a named
 *      queue's consumers drained it.
 *   5. mt_queue_free(q) in every process that holds the queue, when it is done
 *      with it. An anonymous queue disappears with its last user; a named
 *      one when its last user frees it (unless it persists) or when
 *      mt_queue_unlink() removes its name.
 *
 * Messages are byte strings of 0 to max_message bytes, copied in by put and
 * out by get. A message larger than max_message is refused with -EMSGSIZE,
 * never truncated. Order is FIFO: one consumer receives the messages of each
 * producer thread in the order they were put; as in Python, nothing orders
 * messages taken by different consumers. (A message given back by a
 * consumer that died while taking it comes after the ones taken meanwhile.)
 *
 * Crash safety: a process killed at any instruction (SIGKILL included) never
 * corrupts the queue and never leaves the others blocked. A message whose put
 * returned 0 is returned by at most one plain get, and by exactly one unless
 * its consumer dies: a put cut short delivers nothing, or delivers its
 * message whole; a get cut short before it returned leaves the message
 * for another consumer (even once the queue is closed). What a plain get
 * cannot protect is the message after it returned: a consumer killed then,
 * before it used the message, loses it. Consumers that cannot lose work use
 * mt_queue_claim and mt_queue_ack (at least once: a message whose claimant
 * died is delivered again, so it may be processed twice, but never after
 * its ack). The others notice a dead process within about a tenth of a
 * second, and only when it stands in their way. All users of one queue must
 * share a PID namespace (they see one another's process ids).
 *
 * Trust: a named queue is a file of its creator's uid, mode 0600. Opening
 * refuses (-EACCES) a segment owned by another uid or that others may read
 * or write, since whoever can write it can read or forge every message. A
 * process of the same uid can still scribble on the segment: that is not
 * the library's to prevent, but every call stays bounded by its timeout,
 * and shared words that no queue can hold are reported as -EPROTO (by put,
 * get, claim, join) rather than spun on. An anonymous queue's memfd is
 * sealed at its size: it cannot be truncated. A named queue's file can be,
 * by its owner: that makes the next access to the lost pages raise SIGBUS
 * in every process that maps it, as for any shared mapping, and the library
 * does not catch signals. Never truncate /dev/shm/mt-queue-NAME (opening
 * one of the wrong size fails with -EINVAL); a program that must survive a
 * hostile process of its own uid should not share that uid.
 *
 * Memory: maxsize * (max_message + 64) bytes of address space, of which only
 * the pages messages actually touch are ever committed. Messages up to 48
 * bytes travel inside the slot's own cache line. A named queue lives in
 * /dev/shm/mt-queue-NAME, mode 0600; an anonymous one in a memfd.
 *
 * Waiting: blocked calls spin for a few microseconds and then sleep in the
 * kernel (futexes in the shared memory); they do not burn a CPU while they
 * wait. Timeouts are in seconds: negative (MT_FOREVER) waits for ever, 0
 * never blocks. A wait whose timeout passes returns -ETIMEDOUT; a call with
 * timeout 0 that cannot proceed returns -EAGAIN, as the _nowait forms do.
 *
 * Thread and fork safety: every function is thread-safe except mt_queue_free,
 * which must be the last call on its handle. A handle stays valid in a child
 * forked while it was open, even if another thread was inside a queue call
 * at the time; the child frees its copy with mt_queue_free when done.
 *
 * Queues on a server (many machines). A name of the form
 *     redis://[[user]:password@]host[:port][/db]/NAME
 *     redis+unix://[[user]:password@]/path/to/socket/NAME[?db=N]
 * (exactly the grammar of shared.h's "Objects on a server"; rediss:// is
 * -EPROTONOSUPPORT, and so is every such name when libmultitask-remote
 * cannot be loaded) given to mt_queue_new, mt_queue_open or
 * mt_queue_open_or_new puts the queue on that Redis 7 server, shared by
 * every process on every machine that opens the name, and every call above
 * works on it with the same signatures and errors, except as said here.
 *   On the server the queue is four keys: NAME, a stream holding each
 * message from its put until it is done, read through a consumer group;
 * NAME:multitask, the marker "multitask:queue:1"; NAME:multitask:queue, a
 * hash of the settings and the closed flag; NAME:multitask:wake, a small
 * stream that wakes waiters. mt_queue_new makes them and returns -EEXIST
 * when the marker exists (a queue, or a dict or list of that name);
 * mt_queue_open returns -ENOENT when there is no queue of that name (a dict
 * or list included); mt_queue_unlink removes the four keys (-ENOENT when
 * there is no queue). Any of the keys holding what is not ours is -EPROTO
 * from all of these and from every call on an open handle, and nothing is
 * written: a key that is not ours is never overwritten or removed. After
 * an unlink, calls on handles still open return -ENOENT.
 *   Settings: maxsize as locally; max_message at most 512 MiB (Redis's
 * largest string; more is -EINVAL). persist is ignored: machines have no
 * last handle, so a queue on a server stays, with its messages, until
 * mt_queue_unlink. A queue without a name (anonymous) is always local.
 * redeliver_after (below) is the creator's; mt_queue_open_or_new compares
 * maxsize, max_message and joinable only.
 *   Delivery. A put that returned 0 has its message in the stream, as
 * durable as the server's persistence makes it (appendonly yes with
 * appendfsync always: it survives the server's crash; see shared.h for
 * aof-load-truncated). Each message goes to one get or claim at a time.
 * A plain get of a queue that is not joinable takes its message for good
 * in the same atomic step on the server that reads it: a consumer that
 * dies after that step, even before the reply reached it, loses the
 * message (locally, a get cut short leaves it). A get of a joinable queue,
 * and a claim, leave the message pending on the server, held by the
 * handle that took it, until mt_queue_task_done or mt_queue_ack. A remote
 * consumer is "dead" when it has held a message for redeliver_after
 * seconds (30 s by default) without finishing it, whatever the reason (a
 * crash, a lost machine or network, or only slow work: there is no
 * heartbeat); the next get or claim, in any process, then receives the
 * message again: at least once, processed twice if its first consumer was
 * only slow. A get or claim that waits tries again at least once a second,
 * so such a message is handed out within about a second of its idle time.
 * Messages handed out again, given back by mt_queue_nack, or left by a get
 * whose buffer was too small (-EMSGSIZE) are taken ahead of or among the
 * messages never delivered: each get first looks for one in the pending
 * list, ten entries at a time from where the last look stopped (locally
 * they come after the ones taken meanwhile). A handle's mt_queue_free
 * gives back at once the claims made through it and not acknowledged (up
 * to 10,000, when the server answers within 0.2 s; otherwise they come
 * back after the idle time); messages got from a joinable queue and not
 * done come back after the idle time.
 *   Joinable queues: mt_queue_task_done marks done the oldest message
 * that this handle, in this process, got and has not marked done: call it
 * on the handle that got the message (a child after fork has its own).
 * It returns -EINVAL when there is none, and -ESTALE when that message was
 * handed to another consumer meanwhile (that one's task_done counts it).
 * mt_queue_join returns once every message put has been done (the stream
 * is empty). mt_queue_ack and mt_queue_nack return -ESTALE also when the
 * message was handed out again after its idle time; any process may settle
 * a receipt, and a receipt is never valid for a later taking of the same
 * message.
 *   Sizes: mt_queue_qsize counts the messages queued and those taken and
 * not finished (claims, and gets of a joinable queue until task_done), and
 * all of them count against maxsize (locally only claims do). qsize, empty,
 * full and closed ask the server: on an error qsize is 0 and closed false.
 *   Close: as locally. Gets on a closed, empty queue wait for the messages
 * others have claimed (not for gets of a joinable queue awaiting
 * task_done) before they return MT_ECLOSED.
 *   Timeouts and the connection: a call's timeout is how long it waits
 * for a message, for room or for join; each exchange with the server may
 * take up to 10 s more, in which a connection that fails, breaks or times
 * out is made again with backoff (10 ms doubling to 0.5 s) and the call
 * sent again. Every put, get, claim, ack, nack and task_done carries an
 * operation id whose result the server keeps for 70 s: a call sent again
 * returns that result and is never applied twice. So 0 means done once;
 * MT_ECONNECT means the server could not be reached (nothing was done);
 * MT_ECONNLOST means sent and no answer in time: a put may or may not have
 * queued its message (once), a plain get may have taken a message that is
 * then lost, a claim's or joinable get's message comes back after the idle
 * time. Also MT_EAUTH (user or password refused), -EACCES (ACL),
 * -ENOSPC (the server is out of memory: puts are refused, gets, acks and
 * close still run), MT_ENOHOST, MT_EREMOTE (any other refusal). -ENOMEM
 * from a get whose message was taken on the server: a plain get's message
 * is lost, a claim's or joinable get's comes back after the idle time.
 *   Threads, fork, coroutines: as for dicts on a server (shared.h). A
 * handle's calls take turns for their exchanges with the server, but a
 * call waiting for a message, for room or for join waits on a connection
 * of its own, so the handle's other threads and coroutines go on. A call
 * blocks its thread until it returns; from a coroutine it suspends only
 * that coroutine, each exchange with the server is seen to its answer
 * (shielded), and a cancellation or a timeout scope that comes while the
 * call waits for a message, room or join makes it return -ECANCELED or
 * -ETIMEDOUT within about 0.1 s, having taken nothing. Waiting does not
 * spin: the server wakes the waiter.
 * The crash-safety, trust, memory and PID namespace paragraphs above are
 * about queues in shared memory; a queue on a server is as safe as the
 * server: keep it on a private network, with a password or an ACL user.
 */
#ifndef MULTITASK_QUEUE_H
#define MULTITASK_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_queue mt_queue;

/* Defaults and limits of mt_queue_opts. */
#define MT_QUEUE_DEFAULT_MAXSIZE 1024
#define MT_QUEUE_DEFAULT_MAX_MESSAGE (64 * 1024)
#define MT_QUEUE_MAX_MAXSIZE (1u << 24)         /* slots */
#define MT_QUEUE_MAX_MESSAGE (1u << 30)         /* bytes per message */
#define MT_QUEUE_MAX_BYTES (64ull << 30)        /* maxsize * max_message */
#define MT_QUEUE_NAME_MAX 200                   /* bytes in a name */
#define MT_QUEUE_SHM_PREFIX "mt-queue-"         /* /dev/shm/mt-queue-NAME */

/* Options for mt_queue_new. A zeroed struct means defaults. */
typedef struct mt_queue_opts {
    /* Messages the queue holds at once; 0 means 1024. Unlike Python, a
     * queue is always bounded. */
    size_t maxsize;
    /* The largest message in bytes; 0 means 64 KiB. */
    size_t max_message;
    /* NULL for an anonymous queue, shared by inheritance only. Otherwise
     * the name other processes open it by: 1 to 200 characters from
     * [A-Za-z0-9._-], not starting with a dot. */
    const char *name;
    /* Count unfinished messages for mt_queue_task_done and mt_queue_join. */
    bool joinable;
    /* A named queue only: keep the name, and the messages, when the last
     * handle is freed, so that a producer may finish and exit before its
     * consumer opens the queue. mt_queue_unlink() removes it (it lasts until
     * then, or until the machine restarts). */
    bool persist;
    /* A queue on a server only (see "Queues on a server"): seconds a
     * message taken by mt_queue_claim, or by a get of a joinable queue,
     * may stay unacknowledged before it is handed to another consumer;
     * 0 means 30 s; negative, NaN or above 10^9 is -EINVAL there. Unused
     * (and unchecked) by queues in shared memory. */
    double redeliver_after;
} mt_queue_opts;

/*
 * mt_queue_new - make a queue and return a handle to it in *out (the caller
 * frees it with mt_queue_free). opts may be NULL for defaults. A server's
 * name (see "Queues on a server") makes the queue there.
 * Returns 0; -EINVAL for a bad size (maxsize above MT_QUEUE_MAX_MAXSIZE,
 * max_message above MT_QUEUE_MAX_MESSAGE, their product above
 * MT_QUEUE_MAX_BYTES) or a bad name; -EEXIST when a segment of that name
 * exists already; -ENOMEM, -EMFILE, -EACCES from the system. On error
 * nothing is left behind: no fd, no mapping, no file in /dev/shm.
 */
int mt_queue_new(mt_queue **out, const mt_queue_opts *opts);

/*
 * mt_queue_open - attach to the named queue `name` made by mt_queue_new in
 * any process, and return a handle in *out (freed with mt_queue_free).
 * Returns 0; -ENOENT when no queue has that name (or it is being removed);
 * -EINVAL for a bad name, or a segment of that name that is not a queue (a
 * file shorter or longer than its header says included); -EACCES for a
 * segment of another uid or with any group or other permission bit (checked
 * before it is mapped); -EXDEV when its creator runs in another
 * PID namespace; -EUSERS when 1024 processes hold it already; -ENOMEM,
 * -EMFILE. A queue still being made by its creator is waited for (about a
 * second at most).
 */
int mt_queue_open(mt_queue **out, const char *name);

/*
 * mt_queue_open_or_new - attach to the named queue opts->name, making it
 * with opts if it does not exist yet, in one step that races safely with
 * other processes doing the same (POSIX's O_CREAT without O_EXCL). The
 * handle is freed with mt_queue_free. Returns 0; -EINVAL (out or opts NULL,
 * no name, a bad size or name); -EEXIST when the queue exists with another
 * maxsize, max_message or joinable than opts asks (after defaults; persist
 * stays as its creator made it); the errors of mt_queue_new and
 * mt_queue_open; -EAGAIN when the name kept appearing and vanishing under
 * it (other processes making and removing it at that moment).
 */
int mt_queue_open_or_new(mt_queue **out, const mt_queue_opts *opts);

/*
 * mt_queue_put - append a copy of the len bytes at data, waiting up to
 * `timeout` seconds for room. Returns 0 once the message is in the queue;
 * -EAGAIN when full and timeout is 0 (Python's Full); -ETIMEDOUT when still
 * full after the timeout; MT_ECLOSED when the queue is closed (also when it is
 * closed while the call waits); -EMSGSIZE when len > max_message; -EINVAL
 * (q NULL, data NULL with len > 0, timeout NaN); -EPROTO when the segment's
 * shared words were scribbled on (see "Trust").
 */
int mt_queue_put(mt_queue *q, const void *data, size_t len, double timeout);

/* mt_queue_put_nowait - mt_queue_put with timeout 0: -EAGAIN when full. */
int mt_queue_put_nowait(mt_queue *q, const void *data, size_t len);

/*
 * mt_queue_get - take the oldest message, waiting up to `timeout` seconds
 * for one, and store it in *out: its contents are replaced (out->len is the
 * message's length; a NUL byte follows it, not counted). The memory stays
 * the caller's; reusing one mt_buf avoids allocations after the first.
 * Returns 0; -EAGAIN when empty and timeout is 0 (Python's Empty);
 * -ETIMEDOUT; MT_ECLOSED when the queue is closed and empty (a message another
 * process holds, in a get under way or claimed, is waited for: it comes
 * back if that process dies); -ENOMEM (the message stays in the queue);
 * -EINVAL (q or out NULL, timeout NaN); -EPROTO (see "Trust").
 */
int mt_queue_get(mt_queue *q, mt_buf *out, double timeout);

/* mt_queue_get_nowait - mt_queue_get with timeout 0: -EAGAIN when empty. */
int mt_queue_get_nowait(mt_queue *q, mt_buf *out);

/*
 * mt_queue_get_into - mt_queue_get into the caller's cap bytes at buf,
 * without any allocation. Returns the message's length (0 or more), or a
 * negative error as mt_queue_get does, and -EMSGSIZE when the message is
 * longer than cap: it then stays in the queue, and a buffer of
 * mt_queue_max_message(q) bytes always suffices. -EINVAL when buf is NULL
 * and cap > 0.
 */
ssize_t mt_queue_get_into(mt_queue *q, void *buf, size_t cap, double timeout);

/* mt_queue_get_into_nowait - mt_queue_get_into with timeout 0. */
ssize_t mt_queue_get_into_nowait(mt_queue *q, void *buf, size_t cap);

/*
 * Acknowledged gets, for consumers that cannot lose work (at-least-once, as
 * Redis streams' consumer groups and SQS give). A plain get hands the message
 * over when it returns: a consumer killed after that and before it used the
 * message loses it. mt_queue_claim instead returns the message while keeping
 * it claimed by the calling process, until the process acknowledges it with
 * mt_queue_ack. Should the process die first (SIGKILL included), or free its
 * last handle of the queue, the message goes back to the queue and another
 * get or claim receives it: a message is then processed at least once, and
 * never again once acknowledged. A claimed message keeps its slot: claims
 * not yet acknowledged count against maxsize and in qsize.
 */

/* What mt_queue_claim returns beside the message: pass it to mt_queue_ack or
 * mt_queue_nack, once. Plain data: it may be copied, kept in shared memory,
 * or settled by another thread or process that has the queue. */
typedef struct mt_queue_receipt {
    uint64_t pos;  /* the message's position */
    uint64_t word; /* the claim as its slot records it */
} mt_queue_receipt;

/*
 * mt_queue_claim - mt_queue_get that keeps the message claimed by the
 * calling process: it leaves the queue only when mt_queue_ack(q, receipt)
 * says it was processed, and goes back to it if this process dies first, or
 * with mt_queue_nack. Waits, timeouts and errors as mt_queue_get (-EINVAL
 * also for receipt NULL). On a joinable queue, the ack counts as the
 * message's mt_queue_task_done: do not call both. On a closed queue, gets
 * and claims wait for the claims other processes still hold (their messages
 * come back should those die) before they return MT_ECLOSED: two processes
 * that each wait in a get while holding a claim wait for each other, so
 * acknowledge before taking the next message.
 */
int mt_queue_claim(mt_queue *q, mt_buf *out, mt_queue_receipt *receipt, double timeout);

/*
 * mt_queue_ack - a claimed message was processed: free its slot, for good.
 * Returns 0; -ESTALE when the claim is no longer held (acknowledged or given
 * back already, or its claimant died and the message went back to the
 * queue: it may be processed again); -EINVAL (q or receipt NULL, not a
 * receipt; on a joinable queue, also when more messages were counted done
 * than were put, task_done having been called for claimed messages too);
 * -EPROTO when the shared words are damaged (see "Trust"). With -EINVAL or
 * -EPROTO from the count the slot is freed all the same. Thread-safe; any
 * process that has the queue may acknowledge.
 *
 * A receipt is good for one ack or nack. The claim is recognised by its slot
 * and the claiming process, so a receipt used again after its nack, once the
 * same process has taken the same message again (a claim, or a plain get in
 * progress in another thread), settles that newer taking instead of
 * returning -ESTALE: never reuse a receipt.
 */
int mt_queue_ack(mt_queue *q, const mt_queue_receipt *receipt);

/*
 * mt_queue_nack - give a claimed message back unprocessed: the next get or
 * claim receives it (after the messages taken meanwhile, as for one a dead
 * consumer held). Returns 0, -ESTALE or -EINVAL as mt_queue_ack.
 */
int mt_queue_nack(mt_queue *q, const mt_queue_receipt *receipt);

/*
 * mt_queue_qsize - about how many messages are in the queue: messages being
 * put or taken at this moment may or may not count; claimed messages count
 * until acknowledged, and so may messages taken after the oldest claim. As in Python, the
 * answer may be stale before the caller sees it.
 */
size_t mt_queue_qsize(const mt_queue *q);

/* mt_queue_empty - mt_queue_qsize(q) == 0, just as approximate. */
bool mt_queue_empty(const mt_queue *q);

/* mt_queue_full - mt_queue_qsize(q) == mt_queue_maxsize(q), as approximate. */
bool mt_queue_full(const mt_queue *q);

/* mt_queue_maxsize - the number of slots. */
size_t mt_queue_maxsize(const mt_queue *q);

/* mt_queue_max_message - the largest message in bytes. */
size_t mt_queue_max_message(const mt_queue *q);

/*
 * mt_queue_close - close the queue for every process that uses it: later
 * puts fail with MT_ECLOSED, gets return the messages still queued and then
 * MT_ECLOSED, and every call blocked in put or get wakes up (with MT_ECLOSED unless
 * a message arrives for it). Messages given back after the close (by a
 * consumer that died holding one, or by mt_queue_nack) are still queued:
 * gets return them too. A put racing with close either returns 0, and
 * its message is delivered like the others, or MT_ECLOSED, having queued
 * nothing. mt_queue_join is not affected: it still waits for the remaining
 * messages to be done. Closing twice is harmless. Returns 0, or -EINVAL for
 * NULL. The handle must still be freed.
 */
int mt_queue_close(mt_queue *q);

/* mt_queue_closed - whether mt_queue_close was called (by anyone). */
bool mt_queue_closed(const mt_queue *q);

/*
 * mt_queue_task_done - a consumer says it finished a message it got
 * (JoinableQueue.task_done). Returns 0; -EINVAL when the queue is not
 * joinable or when task_done has been called as many times as messages
 * were put (Python's ValueError); -EPROTO (see "Trust"). A message taken
 * with mt_queue_claim is counted done by its mt_queue_ack instead.
 */
int mt_queue_task_done(mt_queue *q);

/*
 * mt_queue_join - wait until every message put so far has been marked done
 * with mt_queue_task_done (JoinableQueue.join), up to `timeout` seconds.
 * Returns 0; -ETIMEDOUT (or -EAGAIN with timeout 0) while messages remain
 * unfinished; -EINVAL when the queue is not joinable or timeout is NaN.
 * A consumer that dies between a plain get and task_done leaves its message
 * unfinished for ever, as in Python; one that dies holding a claim gives
 * the message back, so join still returns once another consumer acks it.
 */
int mt_queue_join(mt_queue *q, double timeout);

/*
 * mt_queue_unlink - remove the name of a named queue (like shm_unlink):
 * handles already open keep working, mt_queue_open no longer finds it, and
 * the name may be used for a new queue at once. This is also how a
 * persistent queue is removed. Returns 0; -ENOENT; -EINVAL for a bad name
 * or a segment that is not a queue (which is left alone); -EACCES for a
 * segment open_ would refuse (also left alone).
 */
int mt_queue_unlink(const char *name);

/*
 * mt_queue_free - detach this handle: unmap the queue and release the
 * handle. The last handle of a named queue removes its name, unless the
 * queue persists or that name now belongs to another queue; an anonymous
 * queue goes when no process maps it any more. A process's last handle of a
 * queue gives back the messages it claimed and did not acknowledge. Waiting calls on the same handle must have
 * returned. NULL is ignored. Other processes and handles are unaffected: to
 * stop them, close the queue first.
 */
void mt_queue_free(mt_queue *q);

#ifdef __cplusplus
}
#endif
#endif
