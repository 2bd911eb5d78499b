/*
 * mtget.h - mtget's parts that need no network: its disk side and its
 * robots.txt, built as the static library mtget_core that the tool and the
 * tests link (the tool's own parts are in tool.h):
 *
 *   name.c         file names from URLs and Content-Disposition headers,
 *                  sanitised and cut to the filesystem's limit
 *   disposition.c  parsing a Content-Disposition header's filename
 *   out.c          writing one download: a temporary in the output
 *                  directory, checked, then renamed into place
 *   sweep.c        leftover temporaries of a killed run
 *   journal.c      the --continue journal: what is done, what is partial
 *   resume.c       the journal folded into each URL's state at start
 *   robots.c       robots.txt (RFC 9309): parsing and deciding a path
 *   errors.c       mtget's own error codes and their messages
 *
 * Every function returns 0 (or a count) or a negative errno / MTGET_E*
 * code; none prints or aborts. Nothing here keeps global state; a handle is
 * used by one thread at a time.
 */
#ifndef MTGET_H
#define MTGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MTGET_NAME "mtget"

/* mtget's own error codes, beside -errno (mtget_strerror names them). */
#define MTGET_ETOOBIG (-2101) /* the body is larger than the size cap */
#define MTGET_ELENGTH (-2102) /* the body's length is not the announced one */
#define MTGET_ETMPGONE (-2103) /* our temporary name now holds another file */
#define MTGET_ESTATUS (-2104)  /* the response's status says the body is not the file */
#define MTGET_EROBOTS (-2105)  /* the URL is disallowed by its host's robots.txt */
#define MTGET_ENOROBOTS (-2106) /* its host's robots.txt cannot be read */

/* ---- errors.c ---- */
/* A message for an mtget code or a -errno (static string). */
const char *mtget_strerror(int err);

/* ---- name.c ---- */
/* Buffer size that holds any name these functions make (NAME_MAX + 1). */
#define MTGET_NAME_SIZE 256

/*
 * mtget_name_from_url - the local file name for a URL: the last segment of
 * its path (query and fragment dropped), percent-decoded after the path is
 * split, so "a%2fb" is one segment. Then sanitised (mtget_name_sanitize):
 * so "../../etc/passwd" gives "passwd", "%2e%2e" is refused, "a%2fb" gives
 * "ab". Fallbacks: "index.html" for an empty last segment ("/dir/") or a
 * refused one; the host name (no user info, no port) for a bare host
 * ("http://h" and "http://h/"). The result is cut to fit `size` bytes with
 * its NUL (see mtget_name_fit). Returns 0, or -EINVAL for a NULL argument, a
 * size under 16, or a URL whose host is empty or unusable as a name where
 * the host name is needed; -ENOMEM.
 */
int mtget_name_from_url(char *out, size_t size, const char *url);

/*
 * mtget_name_sanitize - make a file name of raw bytes (already decoded):
 * control characters (0x00-0x1f, 0x7f), '/' and '\' are removed; "." and
 * ".." (and an empty result) are refused with -EINVAL; a name that starts
 * with '.' gets a '_' in front, so that nothing a server names is hidden or
 * can be taken for one of mtget's own files (".mtget-..."). The result is
 * cut to fit size (mtget_name_fit). Returns 0, -EINVAL, -ENOMEM.
 */
int mtget_name_sanitize(char *out, size_t size, const char *raw, size_t len);

/*
 * mtget_name_fit - cut name in place to at most max bytes, keeping its
 * extension (the last ".ext" of 1 to 16 bytes, when the rest is not empty)
 * and never cutting a UTF-8 sequence in half. A name that fits is left as
 * it is. max must be at least 1 (the whole name is cut, extension too, when
 * even the extension does not fit with one byte before it).
 */
void mtget_name_fit(char *name, size_t max);

/*
 * mtget_name_numbered - the n-th name for `name` when the names before it
 * are taken: n = 0 is the name itself, n >= 1 puts ".n" before the
 * extension ("photo.jpg" -> "photo.1.jpg", "README" -> "README.1"; unlike
 * wget's "photo.jpg.1", the name keeps its type). The result fits in max
 * bytes (the stem is cut, as mtget_name_fit cuts). out has max + 1 bytes.
 */
void mtget_name_numbered(char *out, size_t max, const char *name, unsigned n);

/* Percent-decode len bytes of s into out (len + 1 bytes, NUL-terminated);
 * the decoded length. A '%' not followed by two hex digits stays. */
size_t mtget__pct_decode(char *out, const char *s, size_t len);
/* The value of hex digit c, or -1. */
int mtget__hexval(int c);

/* ---- disposition.c ---- */
/*
 * mtget_name_from_disposition - the file name a Content-Disposition header
 * value suggests: `filename*=UTF-8''...` (RFC 8187, percent-decoded; charset
 * UTF-8 or US-ASCII) is preferred to `filename=` (a token or a quoted
 * string). Anything before the last '/' or '\' is dropped, then the name is
 * sanitised as mtget_name_sanitize does (a refused filename* falls back to
 * filename). Use it only when the user asks for server-suggested names.
 * Returns 0, -ENOENT when the header names no file, -EINVAL when the name
 * is refused or an argument is NULL, -ENOMEM.
 */
int mtget_name_from_disposition(char *out, size_t size, const char *header);

/* ---- out.c ---- */
typedef struct mtget_out mtget_out;

/* Flags of mtget_out_opts. */
#define MTGET_OUT_LENGTH 0x1  /* the body has exactly opts.length bytes */
#define MTGET_OUT_FSYNC 0x2   /* fsync the file before the rename, the directory after */
#define MTGET_OUT_REPLACE 0x4 /* an existing file at the name is replaced (not .1) */

typedef struct mtget_out_opts {
    unsigned flags;     /* MTGET_OUT_* */
    uint64_t length;    /* with MTGET_OUT_LENGTH: the body's length */
    uint64_t cap;       /* most bytes the file may have; 0: no cap */
    mode_t mode;        /* 0: 0644 (the umask applies) */
    const char *resume; /* a temporary's name (from the journal) to go on
                           writing; NULL: a new temporary */
} mtget_out_opts;

/* Temporaries are named ".mtget-<16 hex>.part" in the output directory. */
#define MTGET_TMP_PREFIX ".mtget-"
#define MTGET_TMP_SUFFIX ".part"
#define MTGET_TMP_SIZE 32

/* Whether name has the form of one of our temporaries. */
bool mtget_is_tmpname(const char *name);

/*
 * mtget_out_open - start writing the file to be named `name` in the
 * directory dirfd (which stays the caller's and must stay open until the
 * handle is released). The bytes go to a new temporary created with
 * openat(O_CREAT|O_EXCL|O_NOFOLLOW) (a name that exists, a planted link
 * included, is never opened: another random name is drawn), or, with
 * opts->resume, to that existing temporary, opened O_NOFOLLOW and appended
 * to (mtget_out_size says from where). name must be a sanitised name:
 * no '/', not starting with '.' (so never ".", ".." or one of mtget's own
 * files), under 4096 bytes. opts may be NULL.
 * Returns 0 with *o set, -EINVAL (bad name; resume not one of our names or
 * not a regular file with one link), -ELOOP (resume is a link), -ENOENT
 * (resume is gone), MTGET_ETOOBIG (resume already past the cap),
 * MTGET_ELENGTH (past the length), or another -errno.
 */
int mtget_out_open(mtget_out **o, int dirfd, const char *name, const mtget_out_opts *opts);

/* The temporary's name (for the journal); valid until the handle goes. */
const char *mtget_out_tmpname(const mtget_out *o);

/* Bytes in the temporary so far (where a Range request starts). */
uint64_t mtget_out_size(const mtget_out *o);

/*
 * mtget_out_write - append len bytes. Nothing is written and MTGET_ETOOBIG is
 * returned when they would take the file past the cap, MTGET_ELENGTH when
 * past the announced length. Else 0 or -errno (-ENOSPC...), after which
 * part of the bytes may be written: mtget_out_size counts them.
 */
int mtget_out_write(mtget_out *o, const void *buf, size_t len);

/* Empty the temporary: the server sent the whole body instead of the rest
 * (a 200 to a Range request). 0 or -errno. */
int mtget_out_restart(mtget_out *o);

/*
 * mtget_out_commit - check the file (its length is the announced one, with
 * MTGET_OUT_LENGTH; the temporary name still holds our file), fsync it if
 * asked, and rename it into place: under `name`, or when that is taken (by
 * anything: a file, a directory, a link) under the first free of
 * mtget_name_numbered's names (up to name.9999), never replacing one
 * (RENAME_NOREPLACE, or link+unlink where the filesystem lacks it), unless
 * MTGET_OUT_REPLACE (then a directory at the name gives -EISDIR). The name
 * is cut to the directory's limit (fpathconf _PC_NAME_MAX).
 * On 0 the handle is released and *final_name (if final_name is not NULL)
 * is the name used, malloc'd, the caller's to free. On error the handle is
 * still the caller's, to mtget_out_abort (remove the temporary) or
 * mtget_out_free (keep it to resume): MTGET_ELENGTH, MTGET_ETMPGONE,
 * -EEXIST (every numbered name taken), -EISDIR, -ENOMEM, -errno.
 */
int mtget_out_commit(mtget_out *o, char **final_name);

/* Remove the temporary (while its name still holds our file) and release
 * the handle. NULL is ignored. */
void mtget_out_abort(mtget_out *o);

/* Release the handle and keep the temporary, to be resumed by a later run
 * (mtget_out_opts.resume). NULL is ignored. */
void mtget_out_free(mtget_out *o);

/* ---- sweep.c ---- */
/* Whether the temporary `name` is to be kept (the journal knows it). */
typedef bool mtget_keep_fn(void *ctx, const char *name);

/*
 * mtget_out_sweep - remove the temporaries a killed run left in dirfd:
 * every entry named like ours (mtget_is_tmpname) that is a regular file or a
 * link, except those keep (if not NULL) wants kept. Directories are left.
 * Returns the number removed, or -errno.
 */
int mtget_out_sweep(int dirfd, mtget_keep_fn *keep, void *ctx);

/* ---- journal.c ---- */
/* The journal's name in the output directory. */
#define MTGET_JOURNAL ".mtget-journal"
/* The longest record line; longer records are refused (-E2BIG). */
#define MTGET_JOURNAL_LINE_MAX (64u << 10)

enum mtget_record_kind {
    MTGET_REC_DONE = 1, /* url is complete under name */
    MTGET_REC_PART = 2, /* url is being written to the temporary name */
    MTGET_REC_GONE = 3, /* the temporary name no longer belongs to url */
};

/* One line of the journal. Strings are never NULL in a replayed record
 * ("" when absent); NULL counts as "" when appending. */
typedef struct mtget_record {
    int kind;                  /* enum mtget_record_kind */
    const char *url;           /* canonical URL */
    const char *name;          /* DONE: final name; PART, GONE: temporary */
    uint64_t size;             /* DONE: the file's bytes; PART: the full length, 0 unknown */
    const char *etag;          /* validator for If-Range, "" none */
    const char *last_modified; /* the other one, as the server wrote it */
} mtget_record;

typedef struct mtget_journal mtget_journal;

/* Flags of mtget_journal_open. */
#define MTGET_JOURNAL_FSYNC 0x1 /* fdatasync after each record */

/*
 * mtget_journal_open - open (create) the journal of the output directory
 * dirfd, locked against a second run (flock): -EBUSY when another holds it.
 * A torn last line (a run killed while appending) is cut off so that the
 * next record starts a line of its own. Returns 0 with *j set, -ELOOP when
 * the name is a symbolic link, -EINVAL when it is not a regular file with
 * one link (a hard link to another file is never written or cut), -EBUSY,
 * or another -errno.
 */
int mtget_journal_open(mtget_journal **j, int dirfd, unsigned flags);

/* Called once per good record, in order; the strings live until it
 * returns. A nonzero return stops the replay and is returned by it. It must
 * not append to the journal being replayed. */
typedef int mtget_replay_fn(void *ctx, const mtget_record *rec);

/*
 * mtget_journal_replay - read every record from the start: each line whose
 * checksum and fields are right goes to fn; torn, garbage, overlong lines
 * and records of kinds it does not know are skipped. Returns the number of
 * records given to fn, fn's nonzero return, or -errno.
 */
int mtget_journal_replay(mtget_journal *j, mtget_replay_fn *fn, void *ctx);

/*
 * mtget_journal_append - add one record, in one write(2) of one line:
 * a kill leaves either the whole line, nothing, or a torn line that replay
 * ignores. Returns 0, -EINVAL (no url, unknown kind), -E2BIG (longer than
 * MTGET_JOURNAL_LINE_MAX), or -errno.
 */
int mtget_journal_append(mtget_journal *j, const mtget_record *rec);

/* Unlock, close and release. NULL is ignored. */
void mtget_journal_free(mtget_journal *j);

/* ---- resume.c ---- */
typedef struct mtget_resume mtget_resume;

/*
 * mtget_resume_new - replay the journal and fold it into each URL's state:
 * the URL's last record wins (a GONE record forgets the URL). Memory grows
 * with the number of URLs in the journal. Returns 0 with *r set, -EINVAL,
 * -ENOMEM, or the replay's -errno.
 */
int mtget_resume_new(mtget_resume **r, mtget_journal *j);

/* The last record of url (DONE: skip it; PART: resume its temporary with
 * its etag or last_modified for If-Range), or NULL when there is none or
 * it was GONE. Valid until mtget_resume_free. */
const mtget_record *mtget_resume_find(const mtget_resume *r, const char *url);

/* An mtget_keep_fn (ctx: the mtget_resume): whether temporary `name` is the
 * partial file of a URL whose last record is PART. With mtget_out_sweep it
 * removes every other temporary a killed run left. */
bool mtget_resume_keep(void *ctx, const char *name);

/* Release. NULL is ignored. */
void mtget_resume_free(mtget_resume *r);

/* ---- robots.c ---- */
typedef struct mtget_robots mtget_robots;

/* robots.txt bytes past this are not parsed (RFC 9309 asks for 500 KiB). */
#define MTGET_ROBOTS_MAX (500u << 10)
/* A rule whose path is longer than this is ignored. */
#define MTGET_ROBOTS_RULE_MAX 4096

/*
 * mtget_robots_new - parse a robots.txt (len bytes, NULs and all; a UTF-8
 * BOM and CRLF, LF or CR line ends accepted) for the crawler whose product
 * token is `agent` ("mtget"): the groups whose user-agent matches it
 * (case-insensitively) are combined; when none does, the "*" groups. Unknown
 * lines are ignored. Returns 0 with *r set, -EINVAL, -ENOMEM.
 * mtget_robots_new with text NULL and len 0 gives rules that allow all
 * (a 4xx robots.txt).
 */
int mtget_robots_new(mtget_robots **r, const char *text, size_t len, const char *agent);

/*
 * mtget_robots_allowed - whether path ("/path?query", percent-encoded or
 * not; "" is "/") may be fetched: the longest matching allow or disallow
 * rule decides ('*' matches any run, a final '$' the end), allow winning a
 * tie; no matching rule allows; "/robots.txt" is always allowed. False for
 * a NULL argument and when memory for the path's normal form runs out.
 * A check costs at most the rules' total length times the path's.
 */
bool mtget_robots_allowed(const mtget_robots *r, const char *path);

/* The longest crawl-delay a robots.txt can ask for; more is cut to it, so
 * that a hostile file cannot stall a crawl for ever. */
#define MTGET_ROBOTS_MAX_DELAY 60.0

/* The crawl-delay of the chosen group, in seconds (at most
 * MTGET_ROBOTS_MAX_DELAY), or -1 when none. */
double mtget_robots_crawl_delay(const mtget_robots *r);

/* Release. NULL is ignored. */
void mtget_robots_free(mtget_robots *r);

#endif
