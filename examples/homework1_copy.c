/*
 * homework1_copy.c - homework 1 of 作业10 (进程、线程与协程). Its
 * homework1.py copies every file of ./current into ./target, one file after
 * another, after removing and remaking ./target; the homework asks for
 * workers and a display of the copy's progress, and suggests a pool with
 * one task per file and a Manager().Queue() for the workers to report on.
 *
 * Here a process pool runs one copy_file task per file, and each worker
 * sends its file's progress over an mt_queue to the main process, which
 * shows one line per file and a total. At the end it prints homework1.py's
 * line for each file: Size：1.00 M | ./target/a.bin
 *
 * Usage: homework1_copy [CURRENT [TARGET]]   (default ./current ./target)
 *
 * On a terminal the lines are bars redrawn in place (the progress layer):
 * a total, and one line per file (per worker, when the files are too many
 * for a screen). Elsewhere, in a pipe or a file, each file gets one plain
 * line when its copy is done, then comes the total:
 *
 *   已复制 ./target/b.bin（1/2）
 *   已复制 ./target/a.bin（2/2）
 *   共复制 2 个文件，3.00 M
 *   Size：1.00 M | ./target/a.bin
 *   Size：2.00 M | ./target/b.bin
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "files.h"

#define NAME "homework1_copy"

/* On a terminal, files up to this many get a line each; more share one
 * line per worker. */
#define FILE_LINES 12

/* What a worker tells the main process about file `index`. */
enum { COPY_START, COPY_PROGRESS, COPY_END };

typedef struct report {
    uint32_t kind;  /* COPY_START, _PROGRESS, _END */
    uint32_t index; /* which file */
    uint64_t done;  /* bytes copied so far */
    int32_t err;    /* COPY_END: 0 or -errno */
} report;

/* One file of the source directory, as the main process follows it. */
typedef struct source {
    const char *name;
    uint64_t size; /* from stat, before copying */
    uint64_t done; /* what its worker reported */
    int slot;      /* its line on the terminal, or -1 */
    bool ended;
    int err;
    mt_future *future;
} source;

typedef struct copy_job {
    const char *from, *to; /* the two folders */
    source *files;
    size_t n;
    mt_progress *bars;  /* NULL off a terminal */
    bool line_per_file; /* one terminal line per file, else per worker */
    int nslots;
    size_t ended, copied;
    uint64_t copied_bytes;
} copy_job;

/* os.path.join(folder, file) */
static void join_path(char *buf, size_t size, const char *folder, const char *file)
{
    size_t n = strlen(folder);
    snprintf(buf, size, "%s%s%s", folder, n && folder[n - 1] == '/' ? "" : "/", file);
}

/* ---- the worker ---- */

static int send_report(mt_queue *q, uint32_t kind, uint32_t index, uint64_t done, int err)
{
    report r = {.kind = kind, .index = index, .done = done, .err = err};
    return mt_queue_put(q, &r, sizeof r, MT_FOREVER);
}

/* Copy source to target 1 MiB at a time, as homework1.py does, reporting
 * after each piece; *done counts the bytes copied. */
static int copy_reporting(mt_queue *q, uint32_t index, const char *source, const char *target,
                          uint64_t *done)
{
    static char content[1024 * 1024];
    int err = 0;
    FILE *fr = fopen(source, "rb"), *fw = NULL;
    if (!fr)
        return -errno;
    if (!(fw = fopen(target, "wb"))) {
        err = -errno;
        goto out;
    }
    if ((err = send_report(q, COPY_START, index, 0, 0)) < 0)
        goto out;
    size_t n;
    while ((n = fread(content, 1, sizeof content, fr)) > 0) {
        if (fwrite(content, 1, n, fw) != n) {
            err = -errno;
            break;
        }
        *done += n;
        if ((err = send_report(q, COPY_PROGRESS, index, *done, 0)) < 0)
            break;
    }
    if (err == 0 && ferror(fr))
        err = -EIO;
out:
    if (fw && fclose(fw) != 0 && err == 0)
        err = -errno;
    fclose(fr);
    return err;
}

/*
 * copy_file(file, old_folder, new_folder, queue) as a task: the queue
 * handle, the file's index and the two paths arrive packed. The workers
 * inherited the queue when the pool forked them, so the handle is valid
 * there. (Python cannot pass a multiprocessing.Queue to a pool task, hence
 * the homework's Manager().Queue().)
 */
static int copy_file_task(const void *arg, size_t len, mt_buf *out)
{
    mt_iov a[4];
    mt_queue *q;
    uint32_t index;
    if (mt_unpack(arg, len, a, 4) != 4 || a[0].len != sizeof q || a[1].len != sizeof index)
        return mt_fail(out, -EINVAL, "copy_file takes (queue, index, source, target)");
    memcpy(&q, a[0].data, sizeof q);
    memcpy(&index, a[1].data, sizeof index);
    char source[PATH_MAX], target[PATH_MAX];
    snprintf(source, sizeof source, "%.*s", (int)a[2].len, (const char *)a[2].data);
    snprintf(target, sizeof target, "%.*s", (int)a[3].len, (const char *)a[3].data);

    uint64_t done = 0;
    int err = copy_reporting(q, index, source, target, &done);
    int sent = send_report(q, COPY_END, index, done, err);
    if (err < 0)
        return mt_fail(out, err, "cannot copy '%s': %s", source, mt_strerror(err));
    return sent;
}

static int copy_async(mt_pool *pool, mt_queue *q, const copy_job *job, uint32_t index)
{
    char source[PATH_MAX], target[PATH_MAX];
    join_path(source, sizeof source, job->from, job->files[index].name);
    join_path(target, sizeof target, job->to, job->files[index].name);
    mt_buf args = MT_BUF_INIT;
    int err = mt_pack(&args,
                      (mt_iov[]){{&q, sizeof q},
                                 {&index, sizeof index},
                                 {source, strlen(source)},
                                 {target, strlen(target)}},
                      4);
    if (err == 0)
        err = mt_pool_apply_async(pool, copy_file_task, args.data, args.len,
                                  &job->files[index].future);
    mt_buf_free(&args);
    return err;
}

/* ---- the main process: the folders ---- */

static void free_names(struct dirent **names, int count)
{
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
}

/* Whether path is dir or lies below it (both already resolved). */
static bool within(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/' || n == 1);
}

/*
 * The regular files of `from` (os.listdir), sorted by name so that the
 * Size lines come in a fixed order. Returns how many names scandir found,
 * or -errno; *names is scandir's list, for the caller to free with
 * free_names. Anything else in the folder (a directory, a device) is
 * skipped with a word on stderr: homework1.py would fail to open it, and
 * the pool would drop that error unseen.
 */
static int list_sources(const char *from, struct dirent ***names, source **out, size_t *n)
{
    int count = scandir(from, names, NULL, alphasort);
    if (count < 0)
        return -errno;
    source *files = calloc((size_t)count + 1, sizeof *files);
    if (!files) {
        free_names(*names, count);
        return -ENOMEM;
    }
    size_t k = 0;
    for (int i = 0; i < count; i++) {
        const char *name = (*names)[i]->d_name;
        char path[PATH_MAX];
        struct stat st;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        join_path(path, sizeof path, from, name);
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
            fprintf(stderr, NAME ": skipping '%s': not a regular file\n", path);
            continue;
        }
        files[k++] = (source){.name = name, .size = (uint64_t)st.st_size, .slot = -1};
    }
    *out = files;
    *n = k;
    return count;
}

/*
 * shutil.rmtree(target) if it exists, then os.mkdir(target). Unlike
 * homework1.py, it refuses a target that is not a directory, or that holds
 * the source folder: removing it would remove the files to copy.
 */
static int recreate_target(const char *from, const char *to)
{
    struct stat st;
    if (lstat(to, &st) == 0) {
        char real_from[PATH_MAX], real_to[PATH_MAX];
        if (!S_ISDIR(st.st_mode)) {
            fprintf(stderr, NAME ": '%s' is not a directory\n", to);
            return -ENOTDIR;
        }
        if (realpath(from, real_from) && realpath(to, real_to) && within(real_from, real_to)) {
            fprintf(stderr, NAME ": the target '%s' holds the source '%s'\n", to, from);
            return -EINVAL;
        }
        int err = remove_tree(to);
        if (err < 0) {
            fprintf(stderr, NAME ": cannot remove '%s': %s\n", to, mt_strerror(err));
            return err;
        }
    }
    if (mkdir(to, 0777) < 0) {
        int err = -errno;
        fprintf(stderr, NAME ": cannot make '%s': %s\n", to, mt_strerror(err));
        return err;
    }
    return 0;
}

/* ---- the main process: the display ---- */

/* Bars on a terminal: the total, and a line per file or per worker. */
static int open_bars(copy_job *job, int workers)
{
    uint64_t total = 0;
    for (size_t i = 0; i < job->n; i++)
        total += job->files[i].size;
    job->line_per_file = job->n <= FILE_LINES;
    job->nslots = job->line_per_file ? (int)job->n : workers;
    if (job->nslots > MT_PROGRESS_MAX_SLOTS)
        job->nslots = MT_PROGRESS_MAX_SLOTS;
    int err = mt_progress_new(&job->bars, &(mt_progress_opts){.mode = MT_PROGRESS_BARS,
                                                              .fd = STDOUT_FILENO,
                                                              .desc = "copy",
                                                              .item_unit = "files",
                                                              .slots = job->nslots});
    if (err < 0)
        return err;
    mt_progress_add_total(job->bars, total, job->n);
    for (size_t i = 0; job->line_per_file && i < job->n; i++) {
        job->files[i].slot = (int)i;
        mt_progress_slot_start(job->bars, (int)i, job->files[i].name, job->files[i].size);
    }
    return 0;
}

/* A free line for a file that starts, when there is a line per worker. */
static int free_slot(const copy_job *job)
{
    bool used[MT_PROGRESS_MAX_SLOTS] = {false};
    for (size_t i = 0; i < job->n; i++)
        if (job->files[i].slot >= 0)
            used[job->files[i].slot] = true;
    for (int k = 0; k < job->nslots; k++)
        if (!used[k])
            return k;
    return -1;
}

/* The file's copy has ended, well or not: say so. `why` tells what went
 * wrong when err < 0; NULL means mt_strerror(err). */
static void file_ended(copy_job *job, source *f, int err, const char *why)
{
    char target[PATH_MAX];
    join_path(target, sizeof target, job->to, f->name);
    f->ended = true;
    f->err = err;
    job->ended++;
    if (err < 0) {
        char source[PATH_MAX];
        join_path(source, sizeof source, job->from, f->name);
        why = why && *why ? why : mt_strerror(err);
        if (job->bars)
            mt_progress_print(job->bars, 2, NAME ": cannot copy '%s': %s", source, why);
        else
            fprintf(stderr, NAME ": cannot copy '%s': %s\n", source, why);
        mt_progress_failed(job->bars, 1);
    } else {
        job->copied++;
        job->copied_bytes += f->done;
        if (!job->bars)
            printf("已复制 %s（%zu/%zu）\n", target, job->ended, job->n);
    }
    mt_progress_advance(job->bars, 0, 1);
    if (!job->line_per_file && f->slot >= 0)
        mt_progress_slot_end(job->bars, f->slot);
    if (!job->line_per_file)
        f->slot = -1;
}

static void on_report(copy_job *job, const report *r)
{
    if (r->index >= job->n || job->files[r->index].ended)
        return;
    source *f = &job->files[r->index];
    if (r->kind == COPY_START && !job->line_per_file && job->bars) {
        f->slot = free_slot(job);
        if (f->slot >= 0)
            mt_progress_slot_start(job->bars, f->slot, f->name, f->size);
    }
    if (r->done > f->done) {
        mt_progress_advance(job->bars, r->done - f->done, 0);
        if (f->slot >= 0)
            mt_progress_slot_advance(job->bars, f->slot, r->done - f->done);
        f->done = r->done;
    }
    if (r->kind == COPY_END)
        file_ended(job, f, r->err, NULL);
}

/* A worker that died (killed, crashed) sends no COPY_END: its task's future
 * says that it failed. A task that ended well sent its COPY_END first. */
static void reap_failed_tasks(copy_job *job)
{
    for (size_t i = 0; i < job->n; i++) {
        source *f = &job->files[i];
        if (!f->ended && mt_future_done(f->future)) {
            int err = mt_future_result(f->future, 0, NULL);
            if (err < 0)
                file_ended(job, f, err, mt_future_error_message(f->future));
        }
    }
}

/* Show the reports until every file has ended. */
static int follow(copy_job *job, mt_queue *q)
{
    while (job->ended < job->n) {
        report r;
        ssize_t got = mt_queue_get_into(q, &r, sizeof r, 0.1);
        if (got == (ssize_t)sizeof r)
            on_report(job, &r);
        else if (got == -ETIMEDOUT)
            reap_failed_tasks(job);
        else
            return got < 0 ? (int)got : -EPROTO;
        mt_progress_refresh(job->bars);
    }
    return 0;
}

/* ---- main ---- */

/* Copy the listed files with a pool, showing their progress. */
static int copy_all(copy_job *job)
{
    mt_queue *q = NULL;
    mt_pool *pool = NULL;
    /* The queue first: the pool's workers inherit it when they are forked. */
    int err = mt_queue_new(&q, &(mt_queue_opts){.max_message = sizeof(report)});
    if (err == 0)
        err = mt_pool_new(&pool, NULL);
    if (err == 0 && isatty(STDOUT_FILENO))
        err = open_bars(job, mt_pool_processes(pool));
    for (size_t i = 0; err == 0 && i < job->n; i++)
        err = copy_async(pool, q, job, (uint32_t)i);
    if (err == 0)
        err = follow(job, q);
    if (err == 0)
        err = mt_pool_close(pool);
    if (err == 0)
        err = mt_pool_join(pool, MT_FOREVER);
    mt_progress_free(job->bars);
    job->bars = NULL;
    mt_pool_free(pool);
    mt_queue_free(q);
    for (size_t i = 0; i < job->n; i++)
        mt_future_free(job->files[i].future);
    return err;
}

int main(int argc, char **argv)
{
    line_buffered_stdout();
    copy_job job = {.from = argc > 1 ? argv[1] : "./current",
                    .to = argc > 2 ? argv[2] : "./target"};
    if (argc > 3) {
        fprintf(stderr, "usage: " NAME " [CURRENT [TARGET]]\n");
        return 2;
    }
    /* homework1.py remakes the target before it lists the source; here a
     * source that cannot be read leaves the target alone. */
    struct dirent **names = NULL;
    int nnames = list_sources(job.from, &names, &job.files, &job.n);
    if (nnames < 0) {
        fprintf(stderr, NAME ": cannot read '%s': %s\n", job.from, mt_strerror(nnames));
        return 1;
    }
    int err;
    if (recreate_target(job.from, job.to) == 0) {
        err = copy_all(&job);
        if (err < 0)
            fprintf(stderr, NAME ": %s\n", mt_strerror(err));
    } else {
        err = -1;
    }

    if (err == 0) {
        printf("共复制 %zu 个文件，%.2f M\n", job.copied, (double)job.copied_bytes / 1024 / 1024);
        for (size_t i = 0; i < job.n; i++) {
            char target[PATH_MAX];
            join_path(target, sizeof target, job.to, job.files[i].name);
            if (job.files[i].err == 0)
                printf("Size：%.2f M | %s\n", (double)job.files[i].size / 1024 / 1024, target);
        }
    }
    int failed = err < 0 || job.copied < job.n;
    free(job.files);
    free_names(names, nnames);
    return failed;
}
