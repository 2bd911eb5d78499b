/*
 * mtcp.h - what the parts of mtcp share: the options, the operands (one
 * SOURCE each), the directories being copied (nodes), the queue of work and
 * the functions each file of the tool provides.
 *
 * How a copy runs: main.c turns the command line into operands and starts
 * the engine (engine.c), which runs `jobs` workers on an mt_executor. Each
 * worker takes work from one queue: reading a directory (walk.c) or copying
 * a batch of files (copy_file.c, moving bytes through copy_data.c), or a
 * range of a big file. A directory's node stays alive, with its source and
 * destination fds open, while anything inside it is queued or running; the
 * last one out sets the directory's metadata (metadata.c), so directory
 * times are set after their contents.
 */
#ifndef MTCP_H
#define MTCP_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "multitask.h"

#define MTCP_NAME "mtcp"

/* Files at least this big are copied range by range, by several workers
 * when some are idle, and resume range by range. */
#define MTCP_BIG_FILE (64ull << 20)
#define MTCP_RANGE (64ull << 20)

/* mtcp's own error codes, beside -errno (report.c names them). */
#define MTCP_ECHANGED (-2001)  /* the source changed while being copied */
#define MTCP_ETMPGONE (-2003)  /* our temporary name now holds another file */
#define MTCP_EMISMATCH (-2002) /* --verify found the two sides differ */
#define MTCP_EMOVED (-2004)    /* a hard link's copy is no longer where we put it */

enum mtcp_tristate { MTCP_AUTO = 0, MTCP_ALWAYS = 1, MTCP_NEVER = 2 };

/* The command line, once parsed. */
typedef struct mtcp_opts {
    int jobs;
    bool verify, resume, dry_run, fsync;
    int verbose; /* -v: each file; 0 default; -1 for -q */
    int reflink, sparse; /* enum mtcp_tristate */
    bool keep_mode, keep_owner, keep_times, keep_links, keep_xattr;
    char **excludes;
    int nexcludes;
    uint64_t bwlimit; /* bytes per second over all workers; 0: none */
    mt_progress_mode progress;
    bool progress_set;
    mode_t umask;
    bool root; /* effective uid 0: ownership and devices are kept */
    uid_t euid;
    gid_t egid;
} mtcp_opts;

/* One SOURCE operand and where it goes. */
typedef struct mtcp_operand {
    char *src;      /* as given, trailing slashes removed: messages start here */
    int src_parent; /* fd of the directory holding the source */
    char *src_name; /* its name there ("." for a source like "." or "/") */
    int dst_parent; /* fd of the directory that receives the copy */
    char *dst_name; /* the copy's name there ("." when it is dst_parent) */
    atomic_bool no_reflink, no_cfr; /* learnt: this pair does not do them */
    struct stat src_st;    /* the source (what a trailing slash names) */
    dev_t dst_dev;         /* dst_parent's identity */
    ino_t dst_ino;
    int round;             /* copied after the rounds before it (operands.c) */
    int drop;              /* enum mtcp_drop: not copied */
    bool repeated;         /* given again later (warned once) */
    char *mark;            /* the text of the unfinished copy's mark, or NULL */
} mtcp_operand;

enum mtcp_drop { MTCP_DROP_NONE, MTCP_DROP_REPEAT, MTCP_DROP_FAILED };

/* A directory being copied. */
typedef struct mtcp_node {
    atomic_uint refs;
    struct mtcp_node *parent;
    mtcp_operand *op;
    int sfd, dfd;   /* source and destination; dfd -1 in a dry run */
    struct stat st; /* the source directory, for its metadata */
    char *rel;      /* source path for messages ("src/a/b") */
    char *drel;     /* destination path relative to op->dst_parent */
    bool pseudo;    /* the operand's parents: no metadata, fds not ours */
} mtcp_node;

/* A unit of work in the queue. */
enum mtcp_job_kind {
    MTCP_JOB_ENTRY, /* one entry of a directory, found by name (a SOURCE) */
    MTCP_JOB_DIR,   /* read a directory */
    MTCP_JOB_FILES, /* copy a batch of regular files of one directory */
    MTCP_JOB_RANGE, /* copy a range of a big file */
};

struct mtcp_bigfile;

typedef struct mtcp_job {
    struct mtcp_job *next;
    int kind;
    mtcp_node *dir;             /* holds one reference */
    struct mtcp_bigfile *big;   /* RANGE */
    size_t n;                   /* FILES: entries */
    size_t mem;                 /* bytes this job takes while queued */
    char *dname;                /* ENTRY, DIR, FILES of one: another destination name */
    size_t len;                 /* bytes in data */
    char data[];                /* DIR/ENTRY: the name; FILES: n x (u64 size, name, NUL) */
} mtcp_job;

/* What a worker owns. */
typedef struct mtcp_worker {
    int index; /* also its progress slot */
    char *buf; /* MTCP_BUF bytes for read/write copies and verifying */
    char *buf2; /* a second buffer, for --verify */
    char *dents; /* for getdents64 */
    uint64_t budget, credited; /* progress of the file in hand */
} mtcp_worker;

#define MTCP_BUF (1u << 20)
#define MTCP_DENTS (64u << 10)

/* The signal that asks us to stop (main.c), or 0. */
extern volatile sig_atomic_t mtcp_signal;

/* Everything a run shares. */
typedef struct mtcp {
    mtcp_opts *o;
    mt_progress *progress;
    atomic_int stop;       /* 0, or why we stop: -ENOSPC, -EINTR (a signal) */
    atomic_uint_fast64_t files_copied, bytes_copied, files_failed, files_skipped;
    atomic_uint_fast64_t files_incomplete;
    atomic_uint_fast64_t files_not_started; /* listed, then left by a stop */
    uint64_t start_ns;
    atomic_uint_fast64_t bw_bytes; /* for --bwlimit */

    /* the queue (engine.c) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    mtcp_job *dirs;                   /* a stack: the walk goes depth first */
    mtcp_job *files, *files_tail;     /* FIFO */
    struct mtcp_bigfile *helpable;    /* big files with ranges unclaimed */
    size_t files_mem;
    int walking, max_walkers;
    size_t outstanding;
} mtcp;

/* ---- engine.c ---- */
/* Copy the operands (one round: no two share a destination name). */
int mtcp_run(mtcp *m, mtcp_operand **ops, int nops);

/* ---- worklist.c ---- */
void mtcp_push(mtcp *m, mtcp_job *j);
void mtcp_offer_big(mtcp *m, struct mtcp_bigfile *b);
bool mtcp_stopping(mtcp *m);
void mtcp_stop(mtcp *m, int why);
/* The next job for a worker, or NULL when the work is done or stopped. */
mtcp_job *mtcp_pop(mtcp *m);
/* A worker finished j: count it done, wake who waits, free j. */
void mtcp_job_done(mtcp *m, mtcp_job *j);
/* Release what the list still holds after a stop (workers all gone). */
void mtcp_drain(mtcp *m);

/* ---- operands.c ---- */
/* Mark repeated SOURCEs (warned) and those that may not replace an earlier
 * one's copy (reported and counted failed), and sort the rest into rounds
 * (ops[].round, in order); returns the number of rounds. */
int mtcp_operands_plan(mtcp *m, mtcp_operand *ops, int nops, const char *dest, bool into);

/* ---- resume_mark.c ---- */
#define MTCP_MARK ".mtcp-unfinished"
/* The mark's text for a copy of src (malloc'd), or NULL. */
char *mtcp_mark_text(const char *src);
/* Whether the directory dest holds the mark with this text. */
bool mtcp_mark_found(const char *dest, const char *text);
/* Put the mark in the copy's top directory dfd; 0 or -errno. */
int mtcp_mark_set(int dfd, const char *text);
/* Remove it (when it is still ours): everything in the copy was copied. */
void mtcp_mark_clear(int dfd, const char *text);

/* ---- walk.c ---- */
mtcp_node *mtcp_node_pseudo(mtcp_operand *op);
void mtcp_node_ref(mtcp_node *n);
void mtcp_node_unref(mtcp *m, mtcp_node *n);
mtcp_job *mtcp_job_new(int kind, mtcp_node *dir, const char *name, const char *dname);
void mtcp_job_free(mtcp *m, mtcp_job *j);
void mtcp_do_entry(mtcp *m, mtcp_worker *w, mtcp_job *j);
void mtcp_do_dir(mtcp *m, mtcp_worker *w, mtcp_job *j);
char *mtcp_join(const char *dir, const char *name);
char *mtcp_path(const mtcp_node *dir, const char *name);

/* ---- copy_file.c ---- */
void mtcp_do_files(mtcp *m, mtcp_worker *w, mtcp_job *j);
void mtcp_do_range(mtcp *m, mtcp_worker *w, mtcp_job *j);
int mtcp_copy_one(mtcp *m, mtcp_worker *w, mtcp_node *dir, const char *name, const char *dname,
                  uint64_t walked_size);
mtcp_job *mtcp_big_job(mtcp *m); /* a range nobody copies yet; m->mu held */

/* ---- tmpname.c ---- */
#define MTCP_TMPNAME 40
/* Creates a temporary file (or link, node) at dfd/tmp; -EEXIST when the name
 * is taken; else what the caller wants returned (an fd, 0, -errno). */
typedef int mtcp_make_fn(void *ctx, int dfd, const char *tmp);
/* The index of dname's first temporary name that the source directory does
 * not hold, with that name in out; for files whose temporary name must not
 * be taken by a file being copied beside them. -EEXIST if none. */
int mtcp_tmp_first_free(const mtcp_node *dir, const char *dname, char out[MTCP_TMPNAME]);
/* Make dname's temporary through make(), from name index `first` on (a
 * negative first is returned as is). A taken name is a leftover of a killed
 * run, removed and made again, unless the source directory holds it. */
int mtcp_tmp_make(const mtcp_node *dir, const char *dname, char out[MTCP_TMPNAME], int first,
                  mtcp_make_fn *make, void *ctx);

/* ---- copy_data.c ---- */
int mtcp_copy_range(mtcp *m, mtcp_worker *w, mtcp_operand *op, int sfd, int tfd,
                    const struct stat *st, uint64_t off, uint64_t len);
void mtcp_credit(mtcp *m, mtcp_worker *w, uint64_t n);

/* ---- verify.c ---- */
int mtcp_verify(mtcp_worker *w, int sfd, int tfd, uint64_t size);

/* ---- metadata.c ---- */
int mtcp_meta_fd(mtcp *m, int fd, const struct stat *st, int src_fd, bool is_dir);
/* The metadata of the symlink, FIFO or device node just made as dirfd/name,
 * set through an fd of that node once it is checked to be the one we made;
 * MTCP_ETMPGONE when the name holds something else. */
int mtcp_meta_node(mtcp *m, int dirfd, const char *name, const struct stat *st);
int mtcp_copy_xattrs(int sfd, int tfd);
mode_t mtcp_create_mode(mtcp *m, const struct stat *st);

/* ---- hardlinks.c ---- */
enum { MTCP_HL_OWNER, MTCP_HL_LINKED, MTCP_HL_QUEUED };
int mtcp_hl_claim(mtcp *m, const struct stat *st, mtcp_node *dir, const char *dname,
                  uint64_t size, void **entry);
void mtcp_hl_done(mtcp *m, void *entry, bool ok, mtcp_node *dir, const char *dname);
void mtcp_hl_free_all(void);

/* ---- report.c ---- */
void mtcp_error(mtcp *m, const char *path, const char *what, int err);
void mtcp_warn(mtcp *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mtcp_verbose(mtcp *m, const char *src, const char *what);
void mtcp_file_failed(mtcp *m, mtcp_worker *w);
void mtcp_summary(mtcp *m, int status);

#endif
