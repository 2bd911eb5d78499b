/*
 * files.h - file chores shared by the examples that touch files, so that
 * each example shows only the lecture's program: a scratch directory, the
 * source files to copy, removing it all afterwards, and the lecture's
 * copy_file.
 */
#ifndef MT_EXAMPLES_FILES_H
#define MT_EXAMPLES_FILES_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * scratch_dir_new - make a new empty directory $TMPDIR/<name>.XXXXXX (/tmp
 * when TMPDIR is unset) and write its path into path. Returns 0 or -errno.
 */
int scratch_dir_new(char *path, size_t size, const char *name);

/* remove_tree - remove dir and everything below it. Returns 0 or -errno. */
int remove_tree(const char *dir);

/*
 * copy_file - the lecture's copy_file(path, toPath): copy 1024 bytes at a
 * time, flushing each write. Returns 0 or -errno.
 */
int copy_file(const char *path, const char *to_path);

/* Where the copy examples work: <root>/file holds the sources 1.mp4 ... and
 * <root>/file2 receives the copies. */
typedef struct copy_dirs {
    char root[PATH_MAX / 2];
    char src[PATH_MAX / 2 + 8];
    char dst[PATH_MAX / 2 + 8];
    bool scratch; /* root is ours to remove */
} copy_dirs;

#define COPY_FILES     4
#define COPY_FILE_SIZE (16 << 20)

/*
 * copy_dirs_make - set up the copy examples' directories: in `where` when
 * not NULL (they are left there afterwards), else in a scratch directory;
 * then write COPY_FILES source files of COPY_FILE_SIZE pseudo-random bytes.
 * Returns 0 or -errno.
 */
int copy_dirs_make(copy_dirs *d, const char *where);

/* copy_dirs_done - remove the scratch directory, if it is one. */
void copy_dirs_done(copy_dirs *d);

#endif
