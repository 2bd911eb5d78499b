/*
 * multitask/trace.h - a timeline of what ran when, as a Chrome trace-event
 * file (JSON, opened by Perfetto or chrome://tracing, or drawn to a PNG by
 * scripts/trace_to_png.py).
 *
 * Usage:
 *   1. Set MT_TRACE=file.json in the environment: the file is written from
 *      the program's start to its end. Or call mt_trace_start(path) and
 *      mt_trace_stop() around the part of interest.
 *   2. Run the program: the coroutine loop records each task's run slices
 *      (one row per task), its sleeps and its waits on async queues; the
 *      thread pool and the process pool record each task they run (one row
 *      per thread or worker process).
 *   3. Open the file in Perfetto (ui.perfetto.dev), or
 *      scripts/trace_to_png.py file.json out.png.
 *
 * Format: a JSON array of events, one per line, written with O_APPEND
 * writes so that pool workers (other processes) add theirs to the same
 * file. The process that started the trace closes the array (a last
 * "trace_end" metadata event, then "]") when it calls mt_trace_stop or exits
 * normally (exit, or a return from main), so that the file is plain JSON for
 * jq or Python's json. A program killed, or ended with _exit, leaves the
 * bracket out, which Chrome's format allows (scripts/trace_to_png.py reads
 * both). Processes still writing after that (a pool not joined before exit)
 * add lines after the bracket. Times are microseconds on CLOCK_MONOTONIC.
 *
 * Cost: when no trace is on, each place that could record tests one global
 * flag. Thread-safe and fork-safe: a forked child keeps writing to the same
 * file. Global state: the trace file and that flag.
 */
#ifndef MULTITASK_TRACE_H
#define MULTITASK_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * mt_trace_start - start writing a trace to `path` (created or truncated).
 * Returns 0; -EBUSY when a trace is already on; -EINVAL for NULL; -errno
 * from open. Thread-safe.
 */
int mt_trace_start(const char *path);

/* mt_trace_stop - stop tracing and close the file, ending the JSON array if
 * this process started the trace (not in a forked child, which only stops
 * its own writing); harmless when off. */
void mt_trace_stop(void);

/* mt_trace_enabled - whether a trace is being written. */
bool mt_trace_enabled(void);

/*
 * mt_trace_slice - record that `name` (category `cat`, e.g. "run") took
 * place on row `track` of this process from t0_ns to t1_ns
 * (mt_monotonic_ns() values). Rows are named with mt_trace_track_name.
 * Nothing happens when no trace is on. Thread-safe.
 */
void mt_trace_slice(const char *name, const char *cat, uint64_t track, uint64_t t0_ns,
                    uint64_t t1_ns);

/* mt_trace_track_name - give row `track` of this process a name. */
void mt_trace_track_name(uint64_t track, const char *name);

#ifdef __cplusplus
}
#endif
#endif
