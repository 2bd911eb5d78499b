/*
 * multitask/progress.h - progress displays (Python's tqdm) for programs that
 * work on many things at once.
 *
 * One mt_progress follows one job: an amount (bytes, usually) and a count of
 * items, each with a total that may grow while the job discovers its work
 * (a directory walk, a crawl), a count of items skipped and failed, and a
 * few "slots": lines that show what each worker is busy with. Any thread may
 * move the counts; one of them (or any, now and then) calls
 * mt_progress_refresh, which draws when the interval has passed.
 *
 * Usage:
 *   1. mt_progress_new(&p, &(mt_progress_opts){.mode = MT_PROGRESS_AUTO,
 *      .desc = "copy", .item_unit = "files", .slots = 4}).
 *   2. While working, from any thread:
 *        mt_progress_add_total   the walk found more work
 *        mt_progress_advance     some of it is done
 *        mt_progress_skipped / mt_progress_failed / mt_progress_retried
 *        mt_progress_slot_start / _advance / _end   what worker k is doing
 *      and now and then mt_progress_refresh(p) (a cheap no-op until the
 *      interval passes). mt_progress_print writes a line of text (an error
 *      message) above the bars without tearing them.
 *   3. mt_progress_finish(p) draws the final state; mt_progress_free(p).
 *
 * Output, by mode:
 *   BARS   one line with the total (percent, bar, amount, items, rate, ETA,
 *          skipped, failed, retries) and one line per slot, redrawn in place. Drawn
 *          only while the fd is a terminal and the process is in its
 *          foreground process group (a job sent to the background stops
 *          drawing and carries on), at most every `interval` (0.1 s), and
 *          not before `delay` has passed (short jobs print nothing).
 *   PLAIN  the total line as plain text every `interval` (1 s), and once
 *          more when finished.
 *   JSON   one JSON object per line: {"event":"progress",...} every
 *          `interval` (1 s) and {"event":"end",...} when finished, and any
 *          event the program adds with mt_progress_event.
 *   AUTO   BARS when the fd is a terminal, else nothing.
 *   NONE   nothing (the counts still work: mt_progress_stats reads them).
 *
 * Counts never go backwards: amounts are only ever added, a total only
 * grows, and the total shown is never below what is done (a file that grew
 * while being copied does not make the bar pass 100%).
 *
 * Thread safety: every function may be called from any thread at once,
 * except mt_progress_free, which must be the last call. Fork: a child must
 * not use its parent's progress object. No global state.
 */
#ifndef MULTITASK_PROGRESS_H
#define MULTITASK_PROGRESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mt_progress mt_progress;

/* What the display looks like (see above). */
typedef enum mt_progress_mode {
    MT_PROGRESS_AUTO = 0, /* BARS on a terminal, else NONE */
    MT_PROGRESS_BARS = 1, /* live bars, only on a foreground terminal */
    MT_PROGRESS_PLAIN = 2, /* a line of text every interval */
    MT_PROGRESS_JSON = 3, /* one JSON event per line */
    MT_PROGRESS_NONE = 4, /* nothing */
} mt_progress_mode;

/* The most slots a display has. */
#define MT_PROGRESS_MAX_SLOTS 256

typedef struct mt_progress_opts {
    mt_progress_mode mode;
    /* Where to write; 0 means stderr for BARS and PLAIN, stdout for JSON
     * (fd 0, standard input, is never a place to write). Not closed. */
    int fd;
    /* Seconds between two draws; 0 means 0.1 for BARS, 1.0 otherwise. */
    double interval;
    /* Seconds before the bars first appear; 0 means at once. */
    double delay;
    /* The name shown first on the total line; NULL means none. Copied. */
    const char *desc;
    /* The amount's unit: NULL or "B" means bytes, shown with binary
     * prefixes (KiB, MiB); any other string is shown after a plain number.
     * Copied. */
    const char *unit;
    /* What items are called ("files"); NULL means "items". Copied. */
    const char *item_unit;
    /* Lines for the workers, 0 to MT_PROGRESS_MAX_SLOTS. */
    int slots;
    /* Columns; 0 means the terminal's width (80 off a terminal). */
    int width;
} mt_progress_opts;

/* A snapshot of the counts (mt_progress_stats). */
typedef struct mt_progress_stat {
    uint64_t done, total;             /* amount */
    uint64_t items_done, items_total; /* items */
    uint64_t skipped, failed;         /* items */
    double elapsed;                   /* seconds since mt_progress_new */
    double rate;                      /* amount per second, smoothed */
    uint64_t retries;                 /* tries made again (mt_progress_retried) */
} mt_progress_stat;

/*
 * mt_progress_new - make a display. opts may be NULL for defaults (AUTO on
 * stderr). Nothing is written yet. Returns 0; -EINVAL (out NULL, an unknown
 * mode, a negative fd, interval or delay, slots outside 0..256, a negative
 * width); -ENOMEM. Thread-safe.
 */
int mt_progress_new(mt_progress **out, const mt_progress_opts *opts);

/* mt_progress_mode_of - the mode in force: AUTO is resolved at creation to
 * BARS or NONE. */
mt_progress_mode mt_progress_mode_of(const mt_progress *p);

/* mt_progress_add_total - the job found `amount` and `items` more work.
 * Never fails; thread-safe; NULL p is ignored (so is every call below). */
void mt_progress_add_total(mt_progress *p, uint64_t amount, uint64_t items);

/* mt_progress_advance - `amount` and `items` more are done. */
void mt_progress_advance(mt_progress *p, uint64_t amount, uint64_t items);

/* mt_progress_skipped - n items were skipped (also count them done with
 * mt_progress_advance if they are in the totals). */
void mt_progress_skipped(mt_progress *p, uint64_t n);

/* mt_progress_failed - n items failed (likewise). */
void mt_progress_failed(mt_progress *p, uint64_t n);

/* mt_progress_retried - n more tries were made of work that failed and is
 * tried again (a download after a reset). Shown once there is one: "N
 * retries" on the total line, "retries" in JSON events. */
void mt_progress_retried(mt_progress *p, uint64_t n);

/*
 * mt_progress_slot_start - slot k now works on `label` (copied; bytes that
 * are not printable UTF-8 are shown as '?') of `total` amount (0: unknown).
 * Returns 0; -EINVAL when k is not a slot; -ENOMEM (the label is kept as
 * it was). Thread-safe; one slot is meant for one thread at a time.
 */
int mt_progress_slot_start(mt_progress *p, int k, const char *label, uint64_t total);

/* mt_progress_slot_advance - slot k did `amount` more of its item. */
void mt_progress_slot_advance(mt_progress *p, int k, uint64_t amount);

/* mt_progress_slot_end - slot k is idle. */
void mt_progress_slot_end(mt_progress *p, int k);

/*
 * mt_progress_refresh - draw when the interval has passed since the last
 * draw (and, for BARS, the delay since creation); else return at once.
 * Returns true when it drew. When another thread is drawing, returns false
 * without waiting. Thread-safe.
 */
bool mt_progress_refresh(mt_progress *p);

/*
 * mt_progress_print - write `fmt` (a line; the newline is added) to the
 * display's stream fd_out (for BARS: the bars are erased first and redrawn
 * at the next refresh), so that messages and bars never tear each other.
 * Use fd_out 2 for error messages. Returns 0 or -errno of the write.
 * Thread-safe.
 */
int mt_progress_print(mt_progress *p, int fd_out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * mt_progress_event - in JSON mode, write one line
 * {"event":"<name>","elapsed":<s>,<fields>} where `fields` is a JSON
 * fragment of members ("\"path\":\"a\",\"n\":1") or NULL. Does nothing in
 * other modes. Returns 0 or -errno of the write. Thread-safe.
 */
int mt_progress_event(mt_progress *p, const char *name, const char *fields);

/*
 * mt_progress_json_string - append `s` to *b as a JSON string, quotes
 * included; bytes that are not valid UTF-8 become U+FFFD. Returns 0 or
 * -ENOMEM. Thread-safe on distinct buffers.
 */
int mt_progress_json_string(mt_buf *b, const char *s);

/* mt_progress_stats - read the counts into *out. Thread-safe. */
void mt_progress_stats(mt_progress *p, mt_progress_stat *out);

/*
 * mt_progress_finish - draw the final state (BARS: the total line stays and
 * the slot lines go; PLAIN: a last line; JSON: the "end" event) and stop
 * drawing. Later calls draw nothing. Returns 0 or -errno of the write.
 * Thread-safe; calling it twice is harmless.
 */
int mt_progress_finish(mt_progress *p);

/* mt_progress_free - finish when not done yet, and release p. NULL is
 * ignored. */
void mt_progress_free(mt_progress *p);

/* mt_progress_format_size - write n bytes as "512 B", "1.5 KiB", "3.21 GiB"
 * into buf (size at least 16). Returns buf. Thread-safe. */
char *mt_progress_format_size(char *buf, size_t size, double n);

#ifdef __cplusplus
}
#endif
#endif
