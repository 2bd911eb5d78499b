/*
 * fetch.c - one download: the body streams from the HTTP layer's callback
 * sink into a temporary of the output directory (mtget_out), which takes
 * the file's name only once complete and checked. The headers hook refuses
 * the body of an error status (the URL fails with "HTTP 404"), learns the
 * length, and tells a 206 that goes on from a 200 that starts over.
 * Transient failures are tried again here (not by the HTTP layer, which
 * cannot rewind a callback sink): after bytes came, the next try asks for
 * the rest with Range and If-Range when the server gave a validator.
 * Every temporary is in the journal (PART) from its first byte, and every
 * file once it has its name (DONE): --continue picks up from there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tool.h"

typedef struct fetch {
    mtget *m;
    const char *url;
    int slot;
    mtget_out *out;          /* the temporary, once opened */
    uint64_t from;           /* this try asks for the body from here */
    bool complete;           /* a 416 says the temporary holds it all */
    int64_t length;          /* the file's length when known, else -1 */
    char *etag, *modified;   /* the validators the server sent */
    const char *cd_name;     /* a Content-Disposition name, or NULL */
    char cd_buf[MTGET_NAME_SIZE];
    uint64_t total_shown;    /* added to the progress total */
    bool resumed_shown;      /* the bytes of a previous run are counted as done */
} fetch;

void mtget_http_opts(const mtget *m, mt_http_opts *o)
{
    const mtget_config *c = m->cfg;
    o->connect_timeout = c->connect_timeout;
    o->ca_file = c->ca_file;
    o->user_agent = c->user_agent;
}

bool mtget_transient(int err, long status)
{
    if (err == MTGET_ESTATUS)
        return status == 408 || status == 429 || status == 500 || status == 502 ||
               status == 503 || status == 504;
    /* -EPROTO after a status is a body's broken framing; before one, a TLS
     * failure (a certificate that does not verify), which another try
     * would meet again */
    return err == -ETIMEDOUT || err == -EPIPE || err == -ECONNRESET || err == -ECONNABORTED ||
           (err == -EPROTO && status != 0);
}

void mtget_retry_policy(const mtget *m, mt_http_retry *p)
{
    *p = (mt_http_retry){
        .max_tries = 1 + m->cfg->retries,
        .backoff = 0.5,
        .backoff_max = 30,
        .retry_after_max = MTGET_RETRY_AFTER_MAX,
        .max_time = INFINITY, /* --retries is the only cap */
    };
}

static void journal(fetch *f, int kind, const char *name, uint64_t size)
{
    mtget_record rec = {
        .kind = kind,
        .url = f->url,
        .name = name,
        .size = size,
        .etag = f->etag,
        .last_modified = f->modified,
    };
    int err = mtget_journal_append(f->m->journal, &rec);
    if (err < 0)
        mtget_error(f->m, "cannot write the journal: %s", mtget_strerror(err));
}

/* Open a new temporary for the file. */
static int open_fresh(fetch *f)
{
    char name[MTGET_NAME_SIZE];
    int err = 0;
    if (f->cd_name)
        snprintf(name, sizeof name, "%s", f->cd_name);
    else if ((err = mtget_name_from_url(name, sizeof name, f->url)) < 0)
        return err;
    mtget_out_opts o = {
        .cap = f->m->cfg->max_size > 0 ? (uint64_t)f->m->cfg->max_size : 0,
    };
    if (f->length >= 0) {
        o.flags |= MTGET_OUT_LENGTH;
        o.length = (uint64_t)f->length;
    }
    err = mtget_out_open(&f->out, f->m->dirfd, name, &o);
    if (err < 0)
        return err;
    journal(f, MTGET_REC_PART, mtget_out_tmpname(f->out), f->length > 0 ? (uint64_t)f->length : 0);
    return 0;
}

/* Drop the temporary: removed, and the journal told. */
static void drop(fetch *f)
{
    if (!f->out)
        return;
    journal(f, MTGET_REC_GONE, mtget_out_tmpname(f->out), 0);
    mtget_out_abort(f->out);
    f->out = NULL;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = v && *v && strlen(v) < 1024 && !strpbrk(v, "\r\n") ? strdup(v) : NULL;
}

static bool encoded(const mt_http_response *resp)
{
    const char *ce = mt_http_response_header(resp, "Content-Encoding");
    return ce && *ce && strcasecmp(ce, "identity") != 0;
}

static int on_headers(const mt_http_response *resp, void *arg)
{
    fetch *f = arg;
    long st = resp->status;
    if (f->from > 0 && st == 416) {
        /* the range starts at the end: complete when the length says so */
        f->complete = resp->length >= 0 && (uint64_t)resp->length == f->from;
        return f->complete ? 0 : MTGET_ESTATUS;
    }
    if (st < 200 || st > 299)
        return MTGET_ESTATUS;
    set_str(&f->etag, mt_http_response_header(resp, "ETag"));
    set_str(&f->modified, mt_http_response_header(resp, "Last-Modified"));
    f->length = encoded(resp) ? -1 : resp->length;
    if (f->out && f->from > 0 && resp->range_start == 0)
        drop(f); /* a 200: the whole body comes, into a new temporary */
    if (f->out && f->length >= 0 && mtget_out_size(f->out) > (uint64_t)f->length)
        return MTGET_ELENGTH;
    if (f->m->cfg->max_size > 0 && f->length > f->m->cfg->max_size)
        return MTGET_ETOOBIG;
    if (!f->out && f->m->cfg->content_disposition) {
        const char *cd = mt_http_response_header(resp, "Content-Disposition");
        if (cd && mtget_name_from_disposition(f->cd_buf, sizeof f->cd_buf, cd) == 0)
            f->cd_name = f->cd_buf;
    }
    if (!f->out) {
        int err = open_fresh(f);
        if (err < 0)
            return err;
    }
    if (f->from > 0 && resp->range_start > 0 && !f->resumed_shown) {
        mt_progress_advance(f->m->progress, f->from, 0); /* they are in the total below */
        f->resumed_shown = true;
    }
    if (f->length >= 0 && (uint64_t)f->length > f->total_shown) {
        mt_progress_add_total(f->m->progress, (uint64_t)f->length - f->total_shown, 0);
        f->total_shown = (uint64_t)f->length;
    }
    mt_progress_slot_start(f->m->progress, f->slot, f->url, f->length > 0 ? (uint64_t)f->length : 0);
    mt_progress_slot_advance(f->m->progress, f->slot, mtget_out_size(f->out));
    return 0;
}

static int on_body(const void *data, size_t len, void *arg)
{
    fetch *f = arg;
    if (!f->out) {
        int err = open_fresh(f);
        if (err < 0)
            return err;
    }
    int err = mtget_out_write(f->out, data, len);
    if (err < 0)
        return err;
    mt_progress_advance(f->m->progress, len, 0);
    mt_progress_slot_advance(f->m->progress, f->slot, len);
    return 0;
}

/* The temporary is the whole file: give it its name. */
static int commit(fetch *f, char **final)
{
    if (!f->out) {
        int err = open_fresh(f); /* an empty body */
        if (err < 0)
            return err;
    }
    uint64_t size = mtget_out_size(f->out);
    if (f->length >= 0 && size != (uint64_t)f->length)
        return MTGET_ELENGTH;
    int err = mtget_out_commit(f->out, final);
    if (err < 0)
        return err;
    f->out = NULL;
    journal(f, MTGET_REC_DONE, *final, size);
    f->m->bytes += size;
    return 0;
}

/* With --continue: a DONE record whose file is still there skips the URL;
 * a PART record's temporary is opened to go on. Returns 1 to skip. */
static int resume(fetch *f)
{
    const mtget_record *rec = f->m->resume ? mtget_resume_find(f->m->resume, f->url) : NULL;
    if (!rec)
        return 0;
    struct stat st;
    if (rec->kind == MTGET_REC_DONE)
        return fstatat(f->m->dirfd, rec->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               S_ISREG(st.st_mode) && (uint64_t)st.st_size == rec->size;
    char name[MTGET_NAME_SIZE];
    if (mtget_name_from_url(name, sizeof name, f->url) < 0)
        return 0;
    mtget_out_opts o = {
        .cap = f->m->cfg->max_size > 0 ? (uint64_t)f->m->cfg->max_size : 0,
        .resume = rec->name,
    };
    if (mtget_out_open(&f->out, f->m->dirfd, name, &o) < 0) {
        f->out = NULL; /* gone or not ours: start afresh */
        return 0;
    }
    set_str(&f->etag, rec->etag);
    set_str(&f->modified, rec->last_modified);
    f->resumed_shown = false;
    f->length = rec->size > 0 ? (int64_t)rec->size : -1;
    return 0;
}

/* One try; fills resp. */
static int try_once(fetch *f, mt_http_response *resp)
{
    mt_http_opts o = {
        .to = MT_HTTP_TO_CALLBACK,
        .write = on_body,
        .write_arg = f,
        .on_headers = on_headers,
        .on_headers_arg = f,
        .max_size = f->m->cfg->max_size > 0 ? f->m->cfg->max_size : -1,
        /* a download may take long; one that stalls may not */
        .low_speed_bytes = 1,
        .low_speed_time = f->m->cfg->timeout,
    };
    mtget_http_opts(f->m, &o);
    f->complete = false;
    f->from = 0;
    const char *validator = f->etag ? f->etag : f->modified;
    if (f->out && mtget_out_size(f->out) > 0 && validator) {
        f->from = mtget_out_size(f->out);
        o.range_from = (int64_t)f->from;
        o.if_range = validator;
    } else if (f->out && mtget_out_size(f->out) > 0) {
        drop(f); /* nothing to resume it safely with */
    }
    int err = mt_http_get(f->m->http, f->url, &o, resp);
    /* (a library without the headers hook still gets here with the status) */
    if (err == 0 && !f->complete && (resp->status < 200 || resp->status > 299))
        err = MTGET_ESTATUS;
    if (err == 0 && f->from > 0 && resp->status == 200 && resp->range_start == 0 && f->out &&
        mtget_out_size(f->out) != resp->size)
        err = MTGET_ELENGTH; /* a 200 appended to the part: never commit that */
    return err;
}

int mtget_fetch(mtget *m, const char *url, int slot)
{
    fetch f = {.m = m, .url = url, .slot = slot, .length = -1, .resumed_shown = true};
    mt_http_response resp = MT_HTTP_RESPONSE_INIT;
    char *final = NULL;
    int err = mtget_host_enter(m, url);
    if (err == MTGET_EROBOTS) {
        m->files_skipped++;
        mtget_note(m, "skipped '%s': disallowed by robots.txt", url);
        mt_progress_skipped(m->progress, 1);
        mt_progress_advance(m->progress, 0, 1);
        return 0;
    }
    if (err == 0 && resume(&f) == 1) {
        m->files_skipped++;
        mt_progress_skipped(m->progress, 1);
        mt_progress_advance(m->progress, 0, 1);
        return 0;
    }
    mt_progress_slot_start(m->progress, slot, url, 0);
    mt_http_retry policy;
    mtget_retry_policy(m, &policy);
    double waited = 0;
    for (int tries = 1; err == 0; tries++) {
        err = try_once(&f, &resp);
        if (err == 0)
            err = commit(&f, &final);
        double wait;
        if (err == 0 || m->signal || err == -ECANCELED || !mtget_transient(err, resp.status) ||
            mt_http_retry_wait(&policy, tries, &resp, waited, &wait) != 1)
            break;
        waited += wait;
        m->retries++;
        mt_progress_retried(m->progress, 1);
        int r = mt_co_sleep(wait);
        if (r < 0) {
            err = r;
            break;
        }
        err = mtget_host_enter(m, url);
    }
    mt_progress_slot_end(m->progress, slot);
    if (err == 0) {
        m->files_done++;
        mt_progress_advance(m->progress, 0, 1);
    } else if (err == -ECANCELED || m->signal) {
        if (f.out && m->cfg->resume)
            mtget_out_free(f.out); /* journaled as PART: the next -c goes on */
        else
            drop(&f);
        f.out = NULL;
        err = -ECANCELED;
    } else {
        char why[MT_HTTP_ERROR_SIZE + 64];
        if (err == MTGET_ENOROBOTS)
            snprintf(why, sizeof why, "%s", mtget_host_why(m, url));
        else
            mtget_reason(why, sizeof why, err, &resp);
        bool keep = f.out && m->cfg->resume && mtget_out_size(f.out) > 0 &&
                    mtget_transient(err, resp.status) && (f.etag || f.modified);
        if (keep)
            mtget_out_free(f.out);
        else
            drop(&f);
        f.out = NULL;
        m->files_failed++;
        mt_progress_failed(m->progress, 1);
        mt_progress_advance(m->progress, 0, 1);
        mtget_fail(m, "download", url, why);
        err = 0;
    }
    free(final);
    free(f.etag);
    free(f.modified);
    mt_http_response_free(&resp);
    return err;
}
