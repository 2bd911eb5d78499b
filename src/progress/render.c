/*
 * render.c - what a progress display says: the total line, the slot lines
 * and the JSON events, with sizes, rates and times made short and labels
 * made safe for a terminal (names may hold newlines or invalid UTF-8).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "progress_internal.h"

char *mt_progress_format_size(char *buf, size_t size, double n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int u = 0;
    if (!buf || size == 0)
        return buf;
    if (!(n >= 0))
        n = 0;
    while (n >= 1024 && u < 6) {
        n /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%.0f B", n);
    else if (n < 10)
        snprintf(buf, size, "%.2f %s", n, units[u]);
    else if (n < 100)
        snprintf(buf, size, "%.1f %s", n, units[u]);
    else
        snprintf(buf, size, "%.0f %s", n, units[u]);
    return buf;
}

/* An amount in the display's unit. */
static void amount(const mt_progress *p, char *buf, size_t size, uint64_t n)
{
    if (p->bytes)
        mt_progress_format_size(buf, size, (double)n);
    else
        snprintf(buf, size, "%" PRIu64, n);
}

/* Seconds as "m:ss" or "h:mm:ss"; "--:--" when unknown. */
static void duration(char *buf, size_t size, double s)
{
    if (!(s >= 0) || s > 360000) {
        snprintf(buf, size, "--:--");
        return;
    }
    unsigned long t = (unsigned long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, size, "%lu:%02lu", t / 60, t % 60);
}

/* Length of the valid UTF-8 sequence at s (n bytes left) that is a
 * printable character, or 0. */
static int printable_char(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c >= 0x20 && c < 0x7f)
        return 1;
    int len = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (len == 0 || (size_t)len > n || c >= 0xf5)
        return 0;
    uint32_t cp = c & (0xff >> (len + 1));
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000) || (cp >= 0x80 && cp < 0xa0))
        return 0;
    return len;
}

int mt__progress_label(mt_buf *b, const char *s, int cols)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    int total = 0;
    for (size_t i = 0; i < n; total++) {
        int len = printable_char(u + i, n - i);
        i += len ? (size_t)len : 1;
    }
    int skip = 0;
    if (total > cols) {
        if (cols < 4)
            return 0;
        if (mt_buf_append(b, "...", 3) < 0)
            return -ENOMEM;
        skip = total - (cols - 3);
    }
    for (size_t i = 0; i < n; skip--) {
        int len = printable_char(u + i, n - i);
        if (skip <= 0 && mt_buf_append(b, len ? s + i : "?", len ? (size_t)len : 1) < 0)
            return -ENOMEM;
        i += len ? (size_t)len : 1;
    }
    return 0;
}

/* Columns taken by the UTF-8 text in b from byte `from` on. */
static int columns(const mt_buf *b, size_t from)
{
    int n = 0;
    for (size_t i = from; i < b->len; i++)
        n += ((unsigned char)b->data[i] & 0xc0) != 0x80;
    return n;
}

int mt__progress_total_line(mt_progress *p, const mt__snap *s, int width, bool bar, mt_buf *b)
{
    char d[32], t[32], r[32], eta[32], tail[256];
    uint64_t total = s->total > s->done ? s->total : s->done;
    uint64_t itotal = s->items_total > s->items_done ? s->items_total : s->items_done;
    double frac = total ? (double)s->done / (double)total : (itotal ? (double)s->items_done / (double)itotal : 0);
    amount(p, d, sizeof d, s->done);
    amount(p, t, sizeof t, total);
    if (p->bytes)
        mt_progress_format_size(r, sizeof r, s->rate);
    else
        snprintf(r, sizeof r, "%.1f %s", s->rate, p->unit);
    double left = total > s->done && s->rate > 0 ? (double)(total - s->done) / s->rate : -1;
    if (total == s->done && s->done > 0)
        left = 0;
    duration(eta, sizeof eta, left);
    int n = snprintf(tail, sizeof tail, " %s/%s%s%s  %" PRIu64 "/%" PRIu64 " %s  %s/s  ETA %s", d, t,
                     p->bytes ? "" : " ", p->bytes ? "" : p->unit, s->items_done, itotal,
                     p->item_unit, r, eta);
    if (s->skipped && n < (int)sizeof tail)
        n += snprintf(tail + n, sizeof tail - n, "  %" PRIu64 " skipped", s->skipped);
    if (s->failed && n < (int)sizeof tail)
        n += snprintf(tail + n, sizeof tail - n, "  %" PRIu64 " failed", s->failed);
    if (s->retries && n < (int)sizeof tail)
        snprintf(tail + n, sizeof tail - n, "  %" PRIu64 " retries", s->retries);

    size_t start = b->len;
    int err = 0;
    if (p->desc && p->desc[0])
        err = mt_buf_printf(b, "%s%s ", p->desc, bar ? "" : ":");
    if (err == 0)
        err = mt_buf_printf(b, "%3d%%", (int)floor(frac * 100));
    int room = width - columns(b, start) - (int)strlen(tail) - 3;
    if (err == 0 && bar && room >= 10) {
        int cells = room > 40 ? 40 : room;
        int full = (int)(frac * cells * 8);
        err = mt_buf_append(b, " |", 2);
        for (int i = 0; i < cells && err == 0; i++) {
            int eighths = full - i * 8;
            if (!p->utf8)
                err = mt_buf_append(b, eighths >= 8 ? "#" : eighths >= 4 ? "=" : " ", 1);
            else if (eighths >= 8)
                err = mt_buf_append(b, "\u2588", 3);
            else if (eighths > 0) /* U+2589..U+258F: seven eighths down to one */
                err = mt_buf_append(b, (char[]){'\xe2', '\x96', (char)(0x88 + 8 - eighths)}, 3);
            else
                err = mt_buf_append(b, " ", 1);
        }
        if (err == 0)
            err = mt_buf_append(b, "|", 1);
    }
    if (err == 0)
        err = mt_buf_append(b, tail, strlen(tail));
    return err;
}

int mt__progress_slot_line(mt_progress *p, int k, int width, mt_buf *b)
{
    mt__slot *sl = &p->slots[k];
    char d[32], t[32], head[32], tail[96] = "";
    snprintf(head, sizeof head, "  [%d] ", k);
    uint64_t done = atomic_load_explicit(&sl->done, memory_order_relaxed);
    uint64_t total = atomic_load_explicit(&sl->total, memory_order_relaxed);
    int err = mt_buf_append(b, head, strlen(head));
    pthread_mutex_lock(&sl->lock);
    if (!sl->label) {
        pthread_mutex_unlock(&sl->lock);
        return err ? err : mt_buf_append(b, "-", 1);
    }
    amount(p, d, sizeof d, done);
    if (total) {
        amount(p, t, sizeof t, total > done ? total : done);
        snprintf(tail, sizeof tail, "  %3d%% %s/%s", (int)(done >= total ? 100 : done * 100 / total), d, t);
    } else if (done) {
        snprintf(tail, sizeof tail, "  %s", d);
    }
    int room = width - (int)strlen(head) - (int)strlen(tail);
    if (err == 0)
        err = mt__progress_label(b, sl->label, room < 8 ? 8 : room);
    pthread_mutex_unlock(&sl->lock);
    return err ? err : mt_buf_append(b, tail, strlen(tail));
}

int mt_progress_json_string(mt_buf *b, const char *s)
{
    if (!b || !s)
        return -EINVAL;
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    int err = mt_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n && err == 0;) {
        unsigned c = u[i];
        if (c == '"' || c == '\\') {
            err = mt_buf_printf(b, "\\%c", c);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            err = mt_buf_printf(b, "\\u%04x", c);
            i++;
        } else {
            int len = printable_char(u + i, n - i);
            err = len ? mt_buf_append(b, s + i, (size_t)len) : mt_buf_append(b, "\\ufffd", 6);
            i += len ? (size_t)len : 1;
        }
    }
    return err ? err : mt_buf_append(b, "\"", 1);
}

int mt__progress_json(mt_progress *p, const mt__snap *s, const char *event, mt_buf *b)
{
    uint64_t total = s->total > s->done ? s->total : s->done;
    uint64_t itotal = s->items_total > s->items_done ? s->items_total : s->items_done;
    int err = mt_buf_printf(b,
                            "{\"event\":\"%s\",\"elapsed\":%.3f,\"done\":%" PRIu64 ",\"total\":%" PRIu64
                            ",\"items_done\":%" PRIu64 ",\"items_total\":%" PRIu64 ",\"skipped\":%" PRIu64
                            ",\"failed\":%" PRIu64 ",\"rate\":%.0f",
                            event, s->elapsed, s->done, total, s->items_done, itotal, s->skipped,
                            s->failed, s->rate);
    if (err == 0 && s->retries)
        err = mt_buf_printf(b, ",\"retries\":%" PRIu64, s->retries);
    if (err == 0 && s->rate > 0 && total >= s->done)
        err = mt_buf_printf(b, ",\"eta\":%.1f", (double)(total - s->done) / s->rate);
    else if (err == 0)
        err = mt_buf_append(b, ",\"eta\":null", 11);
    if (err == 0)
        err = mt_buf_append(b, ",\"active\":[", 11);
    bool first = true;
    for (int k = 0; k < p->nslots && err == 0; k++) {
        mt__slot *sl = &p->slots[k];
        pthread_mutex_lock(&sl->lock);
        if (sl->label) {
            err = mt_buf_printf(b, "%s{\"slot\":%d,\"label\":", first ? "" : ",", k);
            if (err == 0)
                err = mt_progress_json_string(b, sl->label);
            if (err == 0)
                err = mt_buf_printf(b, ",\"done\":%" PRIu64 ",\"total\":%" PRIu64 "}",
                                    atomic_load(&sl->done), atomic_load(&sl->total));
            first = false;
        }
        pthread_mutex_unlock(&sl->lock);
    }
    return err ? err : mt_buf_append(b, "]}\n", 3);
}
