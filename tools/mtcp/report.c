/*
 * report.c - what mtcp tells people: error messages on stderr in the form
 * `mtcp: cannot open 'a/b': Permission denied` (names quoted, control
 * characters escaped so that a name holding a newline stays on one line),
 * the same as JSON events with --progress=json, -v lines, and the summary.
 * Everything goes through the progress display, which keeps bars and
 * messages from tearing each other.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mtcp.h"

static const char *reason(int err)
{
    if (err == MTCP_ECHANGED)
        return "file changed while being copied";
    if (err == MTCP_ETMPGONE)
        return "its temporary name was taken by another file (one named like mtcp's temporaries?)";
    if (err == MTCP_EMOVED)
        return "its first name's copy was moved or replaced in the destination";
    if (err == MTCP_EMISMATCH)
        return "the copy differs from the source";
    if (err == -EINTR)
        return "interrupted";
    return mt_strerror(err);
}

void mtcp_error(mtcp *m, const char *path, const char *what, int err)
{
    char *q = cli_quote(path);
    const char *shown = q ? q : "?";
    mt_progress_print(m->progress, 2, MTCP_NAME ": %s '%s': %s", what, shown, reason(err));
    if (mt_progress_mode_of(m->progress) == MT_PROGRESS_JSON) {
        mt_buf f = MT_BUF_INIT;
        if (mt_buf_append(&f, "\"path\":", 7) == 0 && mt_progress_json_string(&f, path) == 0 &&
            mt_buf_append(&f, ",\"what\":", 8) == 0 && mt_progress_json_string(&f, what) == 0 &&
            mt_buf_printf(&f, ",\"errno\":\"%s\",\"message\":", mt_err_name(err)) == 0 &&
            mt_progress_json_string(&f, reason(err)) == 0 && mt_buf_append(&f, "", 1) == 0)
            mt_progress_event(m->progress, "error", f.data);
        mt_buf_free(&f);
    }
    free(q);
}

void mtcp_warn(mtcp *m, const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *q = cli_quote(msg);
    if (m->o->verbose >= 0)
        mt_progress_print(m->progress, 2, MTCP_NAME ": warning: %s", q ? q : msg);
    free(q);
    free(msg);
}

void mtcp_verbose(mtcp *m, const char *src, const char *what)
{
    if (m->o->verbose < 1)
        return;
    if (mt_progress_mode_of(m->progress) == MT_PROGRESS_JSON) {
        mt_buf f = MT_BUF_INIT;
        if (mt_buf_append(&f, "\"path\":", 7) == 0 && mt_progress_json_string(&f, src) == 0 &&
            mt_buf_append(&f, "", 1) == 0)
            mt_progress_event(m->progress, what ? "would_copy" : "copied", f.data);
        mt_buf_free(&f);
        return;
    }
    char *q = cli_quote(src);
    mt_progress_print(m->progress, 1, "%s '%s'", what ? what : "copied", q ? q : "?");
    free(q);
}

void mtcp_summary(mtcp *m, int status)
{
    char size[32];
    mt_progress_stat ps;
    mt_progress_stats(m->progress, &ps);
    uint64_t copied = atomic_load(&m->files_copied), failed = atomic_load(&m->files_failed);
    uint64_t skipped = atomic_load(&m->files_skipped), bytes = atomic_load(&m->bytes_copied);
    uint64_t incomplete = atomic_load(&m->files_incomplete);
    uint64_t not_started = atomic_load(&m->files_not_started);
    uint64_t untouched = ps.items_total > ps.items_done ? ps.items_total - ps.items_done : 0;
    double secs = (double)(mt_monotonic_ns() - m->start_ns) / 1e9;
    mt_progress_format_size(size, sizeof size, (double)bytes);
    if (mt_progress_mode_of(m->progress) == MT_PROGRESS_JSON) {
        char f[512];
        snprintf(f, sizeof f,
                 "\"status\":%d,\"copied\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"failed\":%" PRIu64
                 ",\"skipped\":%" PRIu64 ",\"incomplete\":%" PRIu64 ",\"not_started\":%" PRIu64
                 ",\"seconds\":%.3f",
                 status, copied, bytes, failed, skipped, incomplete, not_started, secs);
        mt_progress_event(m->progress, "summary", f);
    }
    bool trouble = failed || atomic_load(&m->stop);
    if (m->o->verbose < 0 || (!trouble && m->o->verbose < 1))
        return;
    mt_buf b = MT_BUF_INIT;
    mt_buf_printf(&b, "%s %" PRIu64 " files (%s) in %.1f s", m->o->dry_run ? "would copy" : "copied",
                  copied, size, secs);
    if (skipped)
        mt_buf_printf(&b, ", %" PRIu64 " skipped", skipped);
    if (failed)
        mt_buf_printf(&b, ", %" PRIu64 " failed", failed);
    if (incomplete)
        mt_buf_printf(&b, " (%" PRIu64 " incomplete)", incomplete);
    int why = atomic_load(&m->stop);
    if (why && not_started)
        mt_buf_printf(&b, "; stopped (%s), %" PRIu64 " files not started%s", reason(why),
                      not_started, untouched ? " and more not yet found" : "");
    else if (why)
        mt_buf_printf(&b, "; stopped (%s)%s", reason(why),
                      untouched ? ", some files were not copied" : "");
    mt_progress_print(m->progress, 2, MTCP_NAME ": %s", b.data ? b.data : "");
    mt_buf_free(&b);
}
