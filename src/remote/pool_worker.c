/*
 * pool_worker.c - a worker machine (mt_worker_main): takes entries of calls
 * from NAME:tasks through the consumer group, runs each call in a pool of
 * this machine's processes, and sends the answers back.
 *
 * Two threads and two connections, so that neither waits on the other:
 *   - the reader (the caller's thread) blocks in XREADGROUP while fewer
 *     than max_inflight calls are running here, and hands each call to the
 *     local pool (mt_pool_apply_async) with a done callback that only
 *     queues it as finished;
 *   - the sender takes the finished calls, runs a call again when its
 *     process died and the entry allows retries, and sends every answer
 *     ready, to every client at once, with the acknowledgement of the
 *     entries fully answered, in one script call (pool_scripts.c's done
 *     script): answers pile up while a call is on its way, so under load
 *     one round trip carries many. It also beats (the heartbeat key) and
 *     reaps (takes back the calls of dead workers).
 *
 * After the server went away and came back, the reader reads its own
 * pending entries again (XREADGROUP from id 0) before new ones: an entry
 * the server handed out just before it went down, whose reply was lost,
 * is in this worker's pending list and would otherwise wait there for
 * ever, as the worker's heartbeat keeps it from being reaped. Entries
 * already in flight here are recognised by their id and not run twice.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/core_internal.h"
#include "remote_internal.h"

#define DEFAULT_TIMEOUT 10.0
#define DEFAULT_INFLIGHT_PER_PROCESS 64
#define READ_BLOCK_MS 100
/* Entries per XREADGROUP, at most. */
#define READ_COUNT 64
/* How long a stopping worker tries to send its last answers to a server
 * that is away. */
#define STOP_SEND_WINDOW 5.0

typedef struct entry entry;

/* One call of an entry. */
typedef struct job {
    entry *e;
    size_t idx;
    mt_fn *fn; /* NULL: no such function here */
    mt_iov arg;
    mt_future *f;
    unsigned tries;
    struct job *next_done; /* on the finished list */
} job;

struct entry {
    char sid[48];  /* its id in NAME:tasks */
    char cid[40];  /* the client that sent it */
    uint64_t first;
    size_t n, left; /* calls; calls not yet answered */
    unsigned retries;
    mt_buf args; /* the packed arguments, which jobs point into */
    job *jobs;
    char fname[MT__RNAME_MAX + 1]; /* the function's name */
    bool malformed;                /* the entry does not hold together */
    struct wk *w;
    entry *next, *prev; /* in flight */
};

/* Answers for one client, waiting to be sent. */
typedef struct outbox {
    char cid[40];
    char key[MT__RNAME_MAX + 64];
    mt_buf blob;
} outbox;

typedef struct wk {
    mt__rurl url;
    mt__rpool_keys keys;
    char wid[96];
    char hb_key[MT__RNAME_MAX + 128];
    double timeout;
    size_t max_inflight;
    const _Atomic(bool) *stop;
    mt_pool *local;
    mt__rconn rd, wr;

    pthread_mutex_t lock;
    pthread_cond_t cond;   /* sender: something finished; reader: room */
    job *finished;         /* calls done, for the sender */
    size_t inflight;       /* calls taken and not yet answered */
    size_t running;        /* calls taken and not yet finished here: the
                            * reader takes more while below max_inflight,
                            * so that the next entry is here before the
                            * last calls of this one are done */
    size_t last_entry_calls; /* the reader's: calls in the last entry taken */
    entry *entries;        /* in flight */
    bool sender_exit;
    pthread_t sender;

    /* the sender's own */
    outbox *boxes;
    size_t nboxes, capboxes;
    entry **acks;
    size_t nacks, capacks;
    double next_beat;
} wk;

/* ------------------------------------------------------------- helpers */

static void free_entry(entry *e)
{
    free(e->jobs);
    mt_buf_free(&e->args);
    free(e);
}

/* Queue a finished call for the sender (lock taken here). */
static void push_finished(wk *w, job *j)
{
    pthread_mutex_lock(&w->lock);
    j->next_done = w->finished;
    w->finished = j;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* A local future finished: the sender takes it from here (a done
 * callback must not block). */
static void on_done(mt_future *f, void *arg)
{
    (void)f;
    job *j = arg;
    push_finished(j->e->w, j);
}

/* Start call j on the local pool; a failure to start is its answer. */
static void start_job(wk *w, job *j)
{
    int err = mt_pool_apply_async(w->local, j->fn, j->arg.data, j->arg.len, &j->f);
    if (err == 0)
        err = mt_future_add_done_callback(j->f, on_done, j);
    if (err < 0) {
        if (j->f) {
            /* the callback is not registered: the future is ours alone */
            mt_future_cancel(j->f);
            mt_future_wait(j->f, MT_FOREVER);
        }
        push_finished(w, j);
    }
}

/* ---------------------------------------------------------------- sender */

static outbox *box_for(wk *w, const entry *e)
{
    for (size_t i = 0; i < w->nboxes; i++)
        if (strcmp(w->boxes[i].cid, e->cid) == 0)
            return &w->boxes[i];
    if (w->nboxes == w->capboxes) {
        size_t cap = w->capboxes ? w->capboxes * 2 : 8;
        outbox *b = realloc(w->boxes, cap * sizeof *b);
        if (!b)
            return NULL;
        w->boxes = b;
        w->capboxes = cap;
    }
    outbox *b = &w->boxes[w->nboxes++];
    memset(b, 0, sizeof *b);
    snprintf(b->cid, sizeof b->cid, "%s", e->cid);
    snprintf(b->key, sizeof b->key, "%s:res:%s", w->url.name, e->cid);
    return b;
}

/* Call j's answer into its client's outbox; its entry, once every call
 * is answered, into the acknowledgements. Returns the calls answered (0
 * when j goes round again). */
static size_t answer(wk *w, job *j)
{
    entry *e = j->e;
    mt_iov res = {"", 0};
    int err;
    char msg[MT__RNAME_MAX + 64];
    if (!j->fn) {
        err = e->malformed ? -EPROTO : -ENOSYS;
        int n = e->malformed ? snprintf(msg, sizeof msg, "a malformed entry of the pool's stream")
                             : snprintf(msg, sizeof msg, "no function named '%s' in worker %s",
                                        e->fname, w->wid);
        res = (mt_iov){msg, n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1};
    } else if (!j->f) {
        err = -ENOMEM;
        res = (mt_iov){"out of memory starting the call", 31};
    } else {
        err = mt_future_result(j->f, 0, &res);
        if (err == MT_EWORKER && j->tries < e->retries) {
            mt_future_free(j->f);
            j->f = NULL;
            j->tries++;
            start_job(w, j);
            return 0;
        }
        if (err) {
            const char *m = mt_future_error_message(j->f);
            res = (mt_iov){m, strlen(m)};
        }
    }
    outbox *b = box_for(w, e);
    if (b)
        mt__rpool_put_answer(&b->blob, e->first + j->idx, err, res.data, res.len);
    if (j->f) {
        mt_future_free(j->f);
        j->f = NULL;
    }
    if (--e->left == 0 && w->nacks < w->capacks)
        w->acks[w->nacks++] = e;
    return 1;
}

/* Send the outboxes and acknowledgements: one script call. Returns 0 or
 * the connection's error (then everything stays, to be sent again). */
static int send_answers(wk *w, double window)
{
    if (w->nboxes == 0 && w->nacks == 0)
        return 0;
    mt__rargs a = {0};
    mt__rargs_add(&a, "", 0);
    mt__rargs_add(&a, "", 0);
    mt__rargs_fmt(&a, "%zu", 1 + w->nboxes);
    mt__rargs_add(&a, w->keys.tasks, strlen(w->keys.tasks));
    for (size_t i = 0; i < w->nboxes; i++)
        mt__rargs_add(&a, w->boxes[i].key, strlen(w->boxes[i].key));
    mt__rargs_add(&a, MT__RPOOL_GROUP, strlen(MT__RPOOL_GROUP));
    mt__rargs_fmt(&a, "%d", MT__RPOOL_ANSWER_TTL_MS);
    mt__rargs_fmt(&a, "%zu", w->nacks);
    for (size_t i = 0; i < w->nacks; i++)
        mt__rargs_add(&a, w->acks[i]->sid, strlen(w->acks[i]->sid));
    for (size_t i = 0; i < w->nboxes; i++)
        mt__rargs_add(&a, w->boxes[i].blob.data, w->boxes[i].blob.len);
    int err = mt__rpool_script(&w->wr, window, mt__rscript_pool_done, &a, NULL);
    mt__rargs_free(&a);
    if (err < 0)
        return err;
    for (size_t i = 0; i < w->nboxes; i++)
        mt_buf_free(&w->boxes[i].blob);
    w->nboxes = 0;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->nacks; i++) {
        entry *e = w->acks[i];
        if (e->prev)
            e->prev->next = e->next;
        else
            w->entries = e->next;
        if (e->next)
            e->next->prev = e->prev;
    }
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < w->nacks; i++)
        free_entry(w->acks[i]);
    w->nacks = 0;
    return 0;
}

static void beat(wk *w)
{
    char ms[24];
    snprintf(ms, sizeof ms, "%lld", (long long)(w->timeout * 1000));
    const char *argv[] = {"SET", w->hb_key, "1", "PX", ms};
    redisReply *reply;
    if (mt__rconn_call(&w->wr, w->timeout / 4, 5, argv, NULL, &reply) == 0)
        freeReplyObject(reply);
}

/* Room for every entry in flight in the acknowledgements (sender only):
 * an entry is acknowledged once, so that many always suffice. */
static int acks_room(wk *w, size_t entries)
{
    if (entries <= w->capacks)
        return 0;
    size_t cap = w->capacks ? w->capacks : 64;
    while (cap < entries)
        cap *= 2;
    entry **a = realloc(w->acks, cap * sizeof *a);
    if (!a)
        return -ENOMEM;
    w->acks = a;
    w->capacks = cap;
    return 0;
}

static size_t count_entries(const wk *w)
{
    size_t n = 0;
    for (const entry *e = w->entries; e; e = e->next)
        n++;
    return n;
}

static void *sender(void *arg)
{
    wk *w = arg;
    double period = w->timeout / 4;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (!w->finished && !w->sender_exit && mt_monotonic() < w->next_beat)
            mt__cond_wait(&w->cond, &w->lock, mt__deadline_in(w->next_beat - mt_monotonic()));
        job *done = w->finished;
        w->finished = NULL;
        bool leaving = w->sender_exit;
        size_t nentries = count_entries(w);
        pthread_mutex_unlock(&w->lock);

        size_t answered = 0;
        if (acks_room(w, nentries) == 0) {
            for (job *j = done, *next; j; j = next) {
                next = j->next_done;
                answered += answer(w, j);
            }
        } else {
            for (job *j = done, *next; j; j = next) { /* again, when memory is back */
                next = j->next_done;
                push_finished(w, j);
            }
        }
        if (answered) {
            pthread_mutex_lock(&w->lock);
            w->running -= answered;
            pthread_cond_broadcast(&w->cond);
            pthread_mutex_unlock(&w->lock);
        }
        while (send_answers(w, leaving ? STOP_SEND_WINDOW : 1.0) < 0 && !leaving)
            ;
        if (answered) {
            pthread_mutex_lock(&w->lock);
            w->inflight -= answered;
            pthread_cond_broadcast(&w->cond);
            pthread_mutex_unlock(&w->lock);
        }
        if (leaving)
            return NULL;
        if (mt_monotonic() >= w->next_beat) {
            beat(w);
            mt__rpool_reap(&w->wr, period, w->url.name, &w->keys);
            w->next_beat = mt_monotonic() + period;
        }
    }
}

/* ---------------------------------------------------------------- reader */

static const redisReply *field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(fields->element[i]->str, name) == 0 &&
            fields->element[i + 1]->type == REDIS_REPLY_STRING)
            return fields->element[i + 1];
    return NULL;
}

static bool in_flight(wk *w, const char *sid)
{
    bool found = false;
    pthread_mutex_lock(&w->lock);
    for (entry *e = w->entries; e && !found; e = e->next)
        found = strcmp(e->sid, sid) == 0;
    pthread_mutex_unlock(&w->lock);
    return found;
}

/* Take one entry of NAME:tasks: run its calls. An entry that does not hold
 * together is acknowledged unrun (with an answer when its client is
 * known). */
static void take_entry(wk *w, const redisReply *e)
{
    if (e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
        return;
    const char *sid = e->element[0]->str;
    const redisReply *fl = e->element[1];
    const redisReply *c = field(fl, "c"), *i = field(fl, "i"), *f = field(fl, "f"),
                     *n = field(fl, "n"), *a = field(fl, "a"), *r = field(fl, "r");
    entry *en = calloc(1, sizeof *en);
    if (!en)
        return; /* stays pending here: reaped if this worker dies */
    en->w = w;
    snprintf(en->sid, sizeof en->sid, "%s", sid);
    snprintf(en->cid, sizeof en->cid, "%s", c ? c->str : "");
    en->first = i ? strtoull(i->str, NULL, 10) : 0;
    en->retries = r ? (unsigned)strtoul(r->str, NULL, 10) : 0;
    size_t want = n ? strtoull(n->str, NULL, 10) : 0;
    int got = -EINVAL;
    if (a && mt_buf_append(&en->args, a->str, a->len) == 0)
        got = mt_unpack(en->args.data, en->args.len, NULL, 0);
    bool ok = c && i && f && got >= 0 && (size_t)got == want && want > 0;
    en->malformed = !ok;
    if (f)
        snprintf(en->fname, sizeof en->fname, "%s", f->str);
    en->n = en->left = ok ? want : 1;
    en->jobs = calloc(en->n, sizeof *en->jobs);
    mt_iov *args = ok ? calloc(want, sizeof *args) : NULL;
    if (!en->jobs || (ok && !args)) {
        free(args);
        free_entry(en);
        return;
    }
    if (ok)
        mt_unpack(en->args.data, en->args.len, args, want);
    mt_fn *fn = ok ? mt_fn_lookup(f->str) : NULL;
    pthread_mutex_lock(&w->lock);
    en->next = w->entries;
    if (w->entries)
        w->entries->prev = en;
    w->entries = en;
    w->inflight += en->n;
    w->running += en->n;
    pthread_mutex_unlock(&w->lock);
    w->last_entry_calls = en->n;
    /* Once its last call is handed on, the entry may be answered and freed
     * by the sender at any moment: the loops below touch nothing of it but
     * the calls not yet handed on. */
    size_t calls = en->n;
    job *jobs = en->jobs;
    for (size_t k = 0; k < calls; k++)
        jobs[k] = (job){.e = en, .idx = k, .fn = fn, .arg = ok ? args[k] : (mt_iov){"", 0}};
    free(args);
    for (size_t k = 0; k < calls; k++) {
        if (fn)
            start_job(w, &jobs[k]);
        else
            push_finished(w, &jobs[k]);
    }
}

/* One XREADGROUP: new entries (">"), or with `own` this worker's pending
 * ones ("0"). Returns 0 or the connection's error. */
static int read_entries(wk *w, bool own, size_t count)
{
    char cnt[24], block[16];
    snprintf(cnt, sizeof cnt, "%zu", count);
    snprintf(block, sizeof block, "%d", READ_BLOCK_MS);
    const char *argv[] = {"XREADGROUP", "GROUP", MT__RPOOL_GROUP, w->wid, "COUNT", cnt,
                          "BLOCK", block, "STREAMS", w->keys.tasks, own ? "0" : ">"};
    int argc = 11;
    if (own) { /* no BLOCK: pending entries are there or not */
        argv[6] = "STREAMS";
        argv[7] = w->keys.tasks;
        argv[8] = "0";
        argc = 9;
    }
    redisReply *reply;
    int err = mt__rconn_call(&w->rd, 1.0 + READ_BLOCK_MS / 1000.0, argc, argv, NULL, &reply);
    if (err < 0)
        return err;
    if (reply->type == REDIS_REPLY_ERROR) {
        /* NOGROUP: the stream went (a server that lost its data): again */
        err = strncmp(reply->str, "NOGROUP", 7) ? mt__rerr(reply) : -EAGAIN;
        if (err == -EAGAIN)
            mt__rpool_open_keys(&w->rd, &w->keys);
    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
               reply->element[0]->elements == 2) {
        const redisReply *entries = reply->element[0]->element[1];
        for (size_t k = 0; k < entries->elements; k++) {
            const redisReply *e = entries->element[k];
            /* own pending: one already here is not run twice; one whose
             * body is gone (deleted) has nil fields */
            if (own && (e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
                        in_flight(w, e->element[0]->str) ||
                        e->element[1]->type != REDIS_REPLY_ARRAY))
                continue;
            take_entry(w, e);
        }
    }
    freeReplyObject(reply);
    return err;
}

static void serve(wk *w)
{
    bool own = true; /* first, what a worker of this id left (none: a new id) */
    while (!(w->stop && atomic_load(w->stop))) {
        pthread_mutex_lock(&w->lock);
        if (w->running >= w->max_inflight)
            mt__cond_wait(&w->cond, &w->lock, mt__deadline_in(READ_BLOCK_MS / 1000.0));
        size_t room = w->running < w->max_inflight ? w->max_inflight - w->running : 0;
        pthread_mutex_unlock(&w->lock);
        if (room == 0)
            continue;
        /* entries, as many as there is room for calls, if they hold as
         * many as the last one did (a map's hold many: taking 64 of them
         * would leave nothing for the other workers) */
        size_t per = w->last_entry_calls ? w->last_entry_calls : 1;
        size_t count = room / per ? room / per : 1;
        int err = read_entries(w, own, count < READ_COUNT ? count : READ_COUNT);
        own = err < 0; /* after a lost server, look at our own pending first */
        if (err < 0)
            mt_sleep(0.05);
    }
}

/* ------------------------------------------------------------------ main */

static void wk_release(wk *w)
{
    for (size_t i = 0; i < w->nboxes; i++)
        mt_buf_free(&w->boxes[i].blob);
    free(w->boxes);
    free(w->acks);
    while (w->entries) {
        entry *e = w->entries;
        w->entries = e->next;
        free_entry(e);
    }
    mt__rconn_drop(&w->rd);
    mt__rconn_drop(&w->wr);
    mt__rurl_free(&w->url);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
}

/* Leave: the calls in flight finish and are answered, then the heartbeat
 * and this worker's name in the group go. */
static void leave(wk *w)
{
    pthread_mutex_lock(&w->lock);
    while (w->inflight > 0)
        mt__cond_wait(&w->cond, &w->lock, mt__deadline_in(0.1));
    w->sender_exit = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->sender, NULL);
    const char *del[] = {"DEL", w->hb_key};
    const char *delc[] = {"XGROUP", "DELCONSUMER", w->keys.tasks, MT__RPOOL_GROUP, w->wid};
    redisReply *reply;
    if (mt__rconn_call(&w->wr, 1.0, 5, delc, NULL, &reply) == 0)
        freeReplyObject(reply);
    if (mt__rconn_call(&w->wr, 1.0, 2, del, NULL, &reply) == 0)
        freeReplyObject(reply);
}

int mt__rpool_worker_main(const char *url, const mt_worker_opts *opts)
{
    wk w = {0};
    int err = mt__rurl_parse(&w.url, url);
    if (err < 0)
        return err;
    pthread_mutex_init(&w.lock, NULL);
    mt__cond_init(&w.cond);
    w.timeout = opts->timeout > 0 ? opts->timeout : DEFAULT_TIMEOUT;
    w.stop = opts->stop;
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(w.wid, sizeof w.wid, "%s-%d-%08llx", host[0] ? host : "host", (int)getpid(),
             (unsigned long long)(mt__rrandom64() & 0xffffffffu));
    snprintf(w.hb_key, sizeof w.hb_key, "%s:hb:%s", w.url.name, w.wid);
    w.rd = (mt__rconn){.url = &w.url, .timeout = MT__RTIMEOUT_DEFAULT};
    w.wr = (mt__rconn){.url = &w.url, .timeout = MT__RTIMEOUT_DEFAULT};
    if ((err = mt__rpool_keys_of(&w.keys, w.url.name)) < 0)
        goto out;
    /* The processes first: they are forked before this thread has company. */
    mt_pool_opts lo = {.processes = opts->processes};
    if ((err = mt_pool_new(&w.local, &lo)) < 0)
        goto out;
    int procs = mt_pool_processes(w.local);
    w.max_inflight = opts->max_inflight ? opts->max_inflight
                                        : (size_t)procs * DEFAULT_INFLIGHT_PER_PROCESS;
    if ((err = mt__rpool_open_keys(&w.wr, &w.keys)) < 0)
        goto out_pool;
    beat(&w); /* before the first read: an entry of ours is never unbeaten */
    w.next_beat = mt_monotonic() + w.timeout / 4;
    if ((err = -pthread_create(&w.sender, NULL, sender, &w)) < 0)
        goto out_pool;
    serve(&w);
    leave(&w);
out_pool:
    mt_pool_close(w.local);
    mt_pool_join(w.local, MT_FOREVER);
    mt_pool_free(w.local);
out:
    wk_release(&w);
    return err;
}
