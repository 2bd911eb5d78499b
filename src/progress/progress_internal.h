/*
 * progress_internal.h - the state of a progress display, shared by
 * progress.c (counts, slots, when to draw) and render.c (what a line says).
 */
#ifndef MT_PROGRESS_INTERNAL_H
#define MT_PROGRESS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "multitask/buf.h"
#include "multitask/progress.h"

typedef struct mt__slot {
    pthread_mutex_t lock; /* guards label */
    char *label;          /* NULL: idle */
    _Atomic uint64_t done, total;
} mt__slot;

struct mt_progress {
    mt_progress_mode mode;
    int fd;
    double interval, delay;
    char *desc, *unit, *item_unit;
    bool bytes; /* the unit is bytes */
    bool utf8;  /* the terminal takes UTF-8 bar characters */
    int width;  /* 0: ask the terminal */
    int nslots;
    mt__slot *slots;

    _Atomic uint64_t done, total, items_done, items_total, skipped, failed, retries;

    uint64_t start_ns;
    _Atomic uint64_t last_draw_ns; /* 0: never drawn */
    atomic_bool closed;

    pthread_mutex_t draw_lock; /* one thread draws at a time; guards below */
    int lines_shown;           /* BARS: lines on screen now (0: none) */
    double rate;               /* smoothed amount per second */
    uint64_t rate_done, rate_ns; /* the last sample behind `rate` */
    mt_buf frame;
};

/* Counts read once for one drawing. */
typedef struct mt__snap {
    uint64_t done, total, items_done, items_total, skipped, failed, retries;
    double elapsed, rate;
} mt__snap;

/* The total line, without a newline, at most `width` columns wide (PLAIN
 * and BARS); `bar` draws the bar itself. */
int mt__progress_total_line(mt_progress *p, const mt__snap *s, int width, bool bar, mt_buf *b);

/* Slot k's line ("  [k] label  12% 1.0/8.0 MiB"), at most width columns. */
int mt__progress_slot_line(mt_progress *p, int k, int width, mt_buf *b);

/* The JSON "progress" or "end" event, newline included. */
int mt__progress_json(mt_progress *p, const mt__snap *s, const char *event, mt_buf *b);

/* Append `s` with bytes that are not printable UTF-8 as '?', keeping at
 * most `cols` columns; when cut, keep the end and start with "...". */
int mt__progress_label(mt_buf *b, const char *s, int cols);

#endif
