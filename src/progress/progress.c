/*
 * progress.c - the progress display's counts, slots and drawing: when to
 * draw (interval, delay, foreground terminal), and how a frame of bars is
 * redrawn in place. What the lines say is in render.c.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "../core/core_internal.h"
#include "progress_internal.h"

/* Whether the locale's environment asks for UTF-8. */
static bool utf8_locale(void)
{
    const char *names[] = {"LC_ALL", "LC_CTYPE", "LANG"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(names[i]);
        if (v && v[0])
            return strcasestr(v, "utf-8") || strcasestr(v, "utf8");
    }
    return false;
}

static char *dup_or_null(const char *s, bool *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *failed = true;
    return d;
}

int mt_progress_new(mt_progress **out, const mt_progress_opts *opts)
{
    static const mt_progress_opts defaults = {0};
    const mt_progress_opts *o = opts ? opts : &defaults;
    if (!out || o->mode < MT_PROGRESS_AUTO || o->mode > MT_PROGRESS_NONE || o->fd < 0 ||
        !(o->interval >= 0) || !(o->delay >= 0) || o->slots < 0 ||
        o->slots > MT_PROGRESS_MAX_SLOTS || o->width < 0)
        return -EINVAL;
    mt_progress *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    bool failed = false;
    p->mode = o->mode;
    p->fd = o->fd ? o->fd : o->mode == MT_PROGRESS_JSON ? STDOUT_FILENO : STDERR_FILENO;
    if (p->mode == MT_PROGRESS_AUTO)
        p->mode = isatty(p->fd) ? MT_PROGRESS_BARS : MT_PROGRESS_NONE;
    p->interval = o->interval > 0 ? o->interval : p->mode == MT_PROGRESS_BARS ? 0.1 : 1.0;
    p->delay = o->delay;
    p->desc = dup_or_null(o->desc, &failed);
    p->unit = dup_or_null(o->unit ? o->unit : "B", &failed);
    p->item_unit = dup_or_null(o->item_unit ? o->item_unit : "items", &failed);
    p->bytes = !o->unit || strcmp(o->unit, "B") == 0;
    p->utf8 = utf8_locale();
    p->width = o->width;
    p->nslots = o->slots;
    p->slots = calloc(o->slots ? (size_t)o->slots : 1, sizeof *p->slots);
    if (failed || !p->slots) {
        free(p->desc);
        free(p->unit);
        free(p->item_unit);
        free(p->slots);
        free(p);
        return -ENOMEM;
    }
    for (int k = 0; k < p->nslots; k++)
        pthread_mutex_init(&p->slots[k].lock, NULL);
    pthread_mutex_init(&p->draw_lock, NULL);
    p->start_ns = mt_monotonic_ns();
    p->rate_ns = p->start_ns;
    *out = p;
    return 0;
}

mt_progress_mode mt_progress_mode_of(const mt_progress *p)
{
    return p ? p->mode : MT_PROGRESS_NONE;
}

void mt_progress_add_total(mt_progress *p, uint64_t amount, uint64_t items)
{
    if (!p)
        return;
    atomic_fetch_add_explicit(&p->total, amount, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->items_total, items, memory_order_relaxed);
}

void mt_progress_advance(mt_progress *p, uint64_t amount, uint64_t items)
{
    if (!p)
        return;
    if (amount)
        atomic_fetch_add_explicit(&p->done, amount, memory_order_relaxed);
    if (items)
        atomic_fetch_add_explicit(&p->items_done, items, memory_order_relaxed);
}

void mt_progress_skipped(mt_progress *p, uint64_t n)
{
    if (p)
        atomic_fetch_add_explicit(&p->skipped, n, memory_order_relaxed);
}

void mt_progress_failed(mt_progress *p, uint64_t n)
{
    if (p)
        atomic_fetch_add_explicit(&p->failed, n, memory_order_relaxed);
}

void mt_progress_retried(mt_progress *p, uint64_t n)
{
    if (p)
        atomic_fetch_add_explicit(&p->retries, n, memory_order_relaxed);
}

int mt_progress_slot_start(mt_progress *p, int k, const char *label, uint64_t total)
{
    if (!p || k < 0 || k >= p->nslots || !label)
        return -EINVAL;
    mt__slot *sl = &p->slots[k];
    char *copy = strdup(label);
    if (!copy)
        return -ENOMEM;
    pthread_mutex_lock(&sl->lock);
    free(sl->label);
    sl->label = copy;
    atomic_store_explicit(&sl->done, 0, memory_order_relaxed);
    atomic_store_explicit(&sl->total, total, memory_order_relaxed);
    pthread_mutex_unlock(&sl->lock);
    return 0;
}

void mt_progress_slot_advance(mt_progress *p, int k, uint64_t amount)
{
    if (p && k >= 0 && k < p->nslots)
        atomic_fetch_add_explicit(&p->slots[k].done, amount, memory_order_relaxed);
}

void mt_progress_slot_end(mt_progress *p, int k)
{
    if (!p || k < 0 || k >= p->nslots)
        return;
    mt__slot *sl = &p->slots[k];
    pthread_mutex_lock(&sl->lock);
    free(sl->label);
    sl->label = NULL;
    pthread_mutex_unlock(&sl->lock);
}

/* Read the counts; `final` makes the rate the whole run's average. Called
 * with draw_lock held (it moves the smoothed rate). */
static void snapshot(mt_progress *p, mt__snap *s, bool final)
{
    uint64_t now = mt_monotonic_ns();
    s->done = atomic_load_explicit(&p->done, memory_order_relaxed);
    s->total = atomic_load_explicit(&p->total, memory_order_relaxed);
    s->items_done = atomic_load_explicit(&p->items_done, memory_order_relaxed);
    s->items_total = atomic_load_explicit(&p->items_total, memory_order_relaxed);
    s->skipped = atomic_load_explicit(&p->skipped, memory_order_relaxed);
    s->failed = atomic_load_explicit(&p->failed, memory_order_relaxed);
    s->retries = atomic_load_explicit(&p->retries, memory_order_relaxed);
    s->elapsed = (double)(now - p->start_ns) / 1e9;
    double dt = (double)(now - p->rate_ns) / 1e9;
    if (dt >= 0.25) {
        double inst = (double)(s->done - p->rate_done) / dt;
        p->rate = p->rate_done == 0 && p->rate == 0 ? inst : 0.3 * inst + 0.7 * p->rate;
        p->rate_done = s->done;
        p->rate_ns = now;
    }
    double average = s->elapsed > 0 ? (double)s->done / s->elapsed : 0;
    s->rate = final || p->rate <= 0 ? average : p->rate;
}

static int term_width(mt_progress *p)
{
    struct winsize ws;
    if (p->width > 0)
        return p->width;
    if (ioctl(p->fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 80;
}

/* Whether bars may be drawn now: the fd is our foreground terminal. */
static bool foreground(mt_progress *p)
{
    pid_t fg = tcgetpgrp(p->fd);
    return fg != -1 && fg == getpgrp();
}

/* Move to the first line of the bars on screen, then clear below. */
static int erase_bars(mt_progress *p, mt_buf *b)
{
    int err = 0;
    if (p->lines_shown > 1)
        err = mt_buf_printf(b, "\r\x1b[%dA", p->lines_shown - 1);
    else if (p->lines_shown == 1)
        err = mt_buf_append(b, "\r", 1);
    if (err == 0 && p->lines_shown > 0)
        err = mt_buf_append(b, "\x1b[J", 3);
    return err;
}

/* Draw once, with draw_lock held. `final` draws the closing state.
 * Returns 0 when it drew, 1 when there was nothing to draw, or -errno. */
static int draw(mt_progress *p, bool final)
{
    mt__snap s;
    mt_buf *b = &p->frame;
    mt_buf_reset(b);
    snapshot(p, &s, final);
    int err = 0;
    switch (p->mode) {
    case MT_PROGRESS_BARS: {
        if (!foreground(p))
            return 1;
        int width = term_width(p) - 1;
        err = erase_bars(p, b);
        if (err == 0)
            err = mt__progress_total_line(p, &s, width, true, b);
        for (int k = 0; k < p->nslots && !final && err == 0; k++) {
            err = mt_buf_append(b, "\n", 1);
            if (err == 0)
                err = mt__progress_slot_line(p, k, width, b);
        }
        if (err == 0 && final)
            err = mt_buf_append(b, "\n", 1);
        if (err < 0)
            return err;
        p->lines_shown = final ? 0 : 1 + p->nslots;
        break;
    }
    case MT_PROGRESS_PLAIN:
        err = mt__progress_total_line(p, &s, 1 << 20, false, b);
        if (err == 0)
            err = mt_buf_append(b, "\n", 1);
        break;
    case MT_PROGRESS_JSON:
        err = mt__progress_json(p, &s, final ? "end" : "progress", b);
        break;
    default:
        return 1;
    }
    if (err < 0)
        return err;
    atomic_store(&p->last_draw_ns, mt_monotonic_ns());
    return mt__write_all(p->fd, b->data, b->len);
}

bool mt_progress_refresh(mt_progress *p)
{
    if (!p || p->mode == MT_PROGRESS_NONE || atomic_load(&p->closed))
        return false;
    uint64_t now = mt_monotonic_ns();
    uint64_t last = atomic_load_explicit(&p->last_draw_ns, memory_order_relaxed);
    uint64_t since = last ? last : p->start_ns;
    double wait = last || p->mode != MT_PROGRESS_BARS ? p->interval : p->delay;
    if ((double)(now - since) / 1e9 < wait)
        return false;
    if (pthread_mutex_trylock(&p->draw_lock) != 0)
        return false;
    bool drew = false;
    if (!atomic_load(&p->closed))
        drew = draw(p, false) == 0;
    pthread_mutex_unlock(&p->draw_lock);
    return drew;
}

int mt_progress_print(mt_progress *p, int fd_out, const char *fmt, ...)
{
    if (!fmt || fd_out < 0)
        return -EINVAL;
    mt_buf line = MT_BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    int err = mt_buf_vprintf(&line, fmt, ap);
    va_end(ap);
    if (err == 0)
        err = mt_buf_append(&line, "\n", 1);
    if (err < 0 || !p) {
        if (err == 0)
            err = mt__write_all(fd_out, line.data, line.len);
        mt_buf_free(&line);
        return err;
    }
    pthread_mutex_lock(&p->draw_lock);
    /* Bars and the message share a screen when both go to a terminal. */
    bool shown = p->mode == MT_PROGRESS_BARS && p->lines_shown > 0 &&
                 (fd_out == p->fd || isatty(fd_out));
    mt_buf erase = MT_BUF_INIT;
    if (shown && erase_bars(p, &erase) == 0)
        err = mt__write_all(p->fd, erase.data, erase.len);
    if (err == 0)
        err = mt__write_all(fd_out, line.data, line.len);
    if (shown) {
        p->lines_shown = 0;
        if (err == 0 && !atomic_load(&p->closed) && draw(p, false) < 0)
            err = -EIO;
    }
    pthread_mutex_unlock(&p->draw_lock);
    mt_buf_free(&erase);
    mt_buf_free(&line);
    return err;
}

int mt_progress_event(mt_progress *p, const char *name, const char *fields)
{
    if (!p || !name)
        return -EINVAL;
    if (p->mode != MT_PROGRESS_JSON)
        return 0;
    mt_buf b = MT_BUF_INIT;
    double elapsed = (double)(mt_monotonic_ns() - p->start_ns) / 1e9;
    int err = mt_buf_append(&b, "{\"event\":", 9);
    if (err == 0)
        err = mt_progress_json_string(&b, name);
    if (err == 0)
        err = mt_buf_printf(&b, ",\"elapsed\":%.3f%s%s}\n", elapsed, fields && fields[0] ? "," : "",
                            fields ? fields : "");
    if (err == 0) {
        pthread_mutex_lock(&p->draw_lock);
        err = mt__write_all(p->fd, b.data, b.len);
        pthread_mutex_unlock(&p->draw_lock);
    }
    mt_buf_free(&b);
    return err;
}

void mt_progress_stats(mt_progress *p, mt_progress_stat *out)
{
    if (!p || !out)
        return;
    mt__snap s;
    pthread_mutex_lock(&p->draw_lock);
    snapshot(p, &s, atomic_load(&p->closed));
    pthread_mutex_unlock(&p->draw_lock);
    *out = (mt_progress_stat){.done = s.done,
                              .total = s.total > s.done ? s.total : s.done,
                              .items_done = s.items_done,
                              .items_total = s.items_total > s.items_done ? s.items_total
                                                                          : s.items_done,
                              .skipped = s.skipped,
                              .failed = s.failed,
                              .retries = s.retries,
                              .elapsed = s.elapsed,
                              .rate = s.rate};
}

int mt_progress_finish(mt_progress *p)
{
    if (!p)
        return -EINVAL;
    pthread_mutex_lock(&p->draw_lock);
    int err = 0;
    if (!atomic_exchange(&p->closed, true)) {
        /* Bars that never appeared (a short job) stay unshown. */
        bool show = p->mode != MT_PROGRESS_BARS || p->lines_shown > 0;
        if (show && p->mode != MT_PROGRESS_NONE && (err = draw(p, true)) > 0)
            err = 0;
    }
    pthread_mutex_unlock(&p->draw_lock);
    return err;
}

void mt_progress_free(mt_progress *p)
{
    if (!p)
        return;
    mt_progress_finish(p);
    for (int k = 0; k < p->nslots; k++) {
        free(p->slots[k].label);
        pthread_mutex_destroy(&p->slots[k].lock);
    }
    pthread_mutex_destroy(&p->draw_lock);
    mt_buf_free(&p->frame);
    free(p->slots);
    free(p->desc);
    free(p->unit);
    free(p->item_unit);
    free(p);
}
