/*
 * report.c - what mtget tells people, in mtcp's words and forms: failures
 * on stderr as `mtget: cannot download 'URL': HTTP 404` (control
 * characters escaped, so one failure is one line), the same as JSON events
 * with --progress=json, notes, the summary line, and the --stats-json file
 * (the figures and every failure with its reason, up to a bound).
 * Everything goes through the progress display, which keeps the status
 * line and messages from tearing each other.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tool.h"

/* Failures kept for --stats-json; beyond, only counted. */
#define FAILURES_LISTED 10000

void mtget_reason(char *out, size_t size, int err, const mt_http_response *resp)
{
    if (err == MTGET_ESTATUS && resp && resp->status)
        snprintf(out, size, "HTTP %ld", resp->status);
    else if (err == MTGET_EROBOTS)
        snprintf(out, size, "disallowed by robots.txt");
    else if (err == MTGET_ETOOBIG || err == -EFBIG)
        snprintf(out, size, "larger than --max-size");
    else if (err == -EPROTONOSUPPORT)
        snprintf(out, size, "redirected to a scheme other than http and https (refused)%s%s",
                 resp && resp->error[0] ? ": " : "", resp ? resp->error : "");
    else if (resp && resp->error[0] && err != MTGET_ELENGTH && err != MTGET_ETMPGONE)
        snprintf(out, size, "%s", resp->error);
    else
        snprintf(out, size, "%s", mtget_strerror(err));
}

static void json_event(mtget *m, const char *name, const char *k1, const char *v1,
                       const char *k2, const char *v2)
{
    mt_buf f = MT_BUF_INIT;
    if (mt_buf_printf(&f, "\"%s\":", k1) == 0 && mt_progress_json_string(&f, v1) == 0 &&
        mt_buf_printf(&f, ",\"%s\":", k2) == 0 && mt_progress_json_string(&f, v2) == 0 &&
        mt_buf_append(&f, "", 1) == 0)
        mt_progress_event(m->progress, name, f.data);
    mt_buf_free(&f);
}

void mtget_fail(mtget *m, const char *what, const char *url, const char *reason)
{
    char *q = cli_quote(url);
    mt_progress_print(m->progress, 2, MTGET_NAME ": cannot %s '%s': %s", what, q ? q : "?",
                      reason);
    free(q);
    if (mt_progress_mode_of(m->progress) == MT_PROGRESS_JSON)
        json_event(m, "error", "url", url, "reason", reason);
    if (m->failures_listed >= FAILURES_LISTED) {
        m->failures_dropped++;
        return;
    }
    mt_buf *b = &m->failures;
    if ((b->len == 0 || mt_buf_append(b, ",", 1) == 0) && mt_buf_append(b, "{\"url\":", 7) == 0 &&
        mt_progress_json_string(b, url) == 0 && mt_buf_printf(b, ",\"what\":\"%s\",\"reason\":", what) == 0 &&
        mt_progress_json_string(b, reason) == 0 && mt_buf_append(b, "}", 1) == 0)
        m->failures_listed++;
}

static void vsay(mtget *m, bool note, const char *fmt, va_list ap)
{
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        return;
    char *q = cli_quote(msg);
    mt_progress_print(m->progress, 2, MTGET_NAME ": %s", q ? q : msg);
    if (mt_progress_mode_of(m->progress) == MT_PROGRESS_JSON) {
        mt_buf f = MT_BUF_INIT;
        if (mt_buf_append(&f, "\"message\":", 10) == 0 && mt_progress_json_string(&f, msg) == 0 &&
            mt_buf_append(&f, "", 1) == 0)
            mt_progress_event(m->progress, note ? "note" : "error", f.data);
        mt_buf_free(&f);
    }
    free(q);
    free(msg);
}

void mtget_note(mtget *m, const char *fmt, ...)
{
    if (m->cfg->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsay(m, true, fmt, ap);
    va_end(ap);
}

void mtget_error(mtget *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(m, false, fmt, ap);
    va_end(ap);
}

/* The figures as JSON members (no braces). */
static int figures(mtget *m, mt_buf *b, int status, double secs)
{
    return mt_buf_printf(b,
                         "\"status\":%d,\"downloaded\":%" PRIu64 ",\"bytes\":%" PRIu64
                         ",\"failed\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"pages\":%" PRIu64
                         ",\"pages_failed\":%" PRIu64 ",\"robots_refused\":%" PRIu64
                         ",\"retries\":%" PRIu64 ",\"seconds\":%.3f,\"interrupted\":%s",
                         status, m->files_done, m->bytes, m->files_failed, m->files_skipped,
                         m->pages_done, m->pages_failed, m->refused, m->retries, secs,
                         m->signal ? "true" : "false");
}

static int stats_file(mtget *m, int status, double secs)
{
    mt_buf b = MT_BUF_INIT;
    int err = mt_buf_append(&b, "{", 1);
    if (err == 0)
        err = figures(m, &b, status, secs);
    if (err == 0)
        err = mt_buf_printf(&b, ",\"failures_omitted\":%" PRIu64 ",\"failures\":[",
                            m->failures_dropped);
    if (err == 0 && m->failures.len)
        err = mt_buf_append(&b, m->failures.data, m->failures.len);
    if (err == 0)
        err = mt_buf_append(&b, "]}\n", 3);
    FILE *f = err == 0 ? fopen(m->cfg->stats_json, "we") : NULL;
    if (err == 0 && !f)
        err = -errno;
    if (f && fwrite(b.data, 1, b.len, f) != b.len)
        err = -errno;
    if (f && fclose(f) != 0 && err == 0)
        err = -errno;
    if (err < 0)
        mtget_error(m, "cannot write '%s': %s", m->cfg->stats_json, mt_strerror(err));
    mt_buf_free(&b);
    return err;
}

int mtget_summary(mtget *m, int status)
{
    double secs = (double)(mt_monotonic_ns() - m->start_ns) / 1e9;
    if (mt_progress_mode_of(m->progress) == MT_PROGRESS_JSON) {
        mt_buf f = MT_BUF_INIT;
        if (figures(m, &f, status, secs) == 0 && mt_buf_append(&f, "", 1) == 0)
            mt_progress_event(m->progress, "summary", f.data);
        mt_buf_free(&f);
    }
    if (!m->cfg->quiet) {
        char size[32], rate[32];
        mt_progress_format_size(size, sizeof size, (double)m->bytes);
        mt_progress_format_size(rate, sizeof rate, secs > 0 ? (double)m->bytes / secs : 0);
        mt_buf b = MT_BUF_INIT;
        mt_buf_printf(&b, "downloaded %" PRIu64 " files (%s) in %.1f s, %s/s", m->files_done, size,
                      secs, rate);
        if (m->crawl)
            mt_buf_printf(&b, ", %" PRIu64 " pages", m->pages_done);
        if (m->files_skipped)
            mt_buf_printf(&b, ", %" PRIu64 " skipped", m->files_skipped);
        if (m->retries)
            mt_buf_printf(&b, ", %" PRIu64 " retries", m->retries);
        if (m->files_failed || m->pages_failed)
            mt_buf_printf(&b, ", %" PRIu64 " failed", m->files_failed + m->pages_failed);
        if (m->signal)
            mt_buf_printf(&b, "; interrupted (%s)", strsignal(m->signal));
        mt_progress_print(m->progress, 2, MTGET_NAME ": %s", b.data ? b.data : "");
        mt_buf_free(&b);
    }
    return m->cfg->stats_json ? stats_file(m, status, secs) : 0;
}
