/*
 * files.c - file chores shared by the examples that touch files (see
 * files.h). Plain POSIX; nothing here uses multitask.
 */
#define _GNU_SOURCE
#include "files.h"

#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int scratch_dir_new(char *path, size_t size, const char *name)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    if ((size_t)snprintf(path, size, "%s/%s.XXXXXX", tmp, name) >= size)
        return -ENAMETOOLONG;
    return mkdtemp(path) ? 0 : -errno;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) < 0 ? -errno : 0;
}

int remove_tree(const char *dir)
{
    int r = nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return r < 0 ? -errno : r;
}

int copy_file(const char *path, const char *to_path)
{
    int err = 0;
    FILE *fp1 = fopen(path, "rb");
    if (!fp1)
        return -errno;
    FILE *fp2 = fopen(to_path, "wb");
    if (!fp2) {
        err = -errno;
        goto out;
    }
    char info[1024];
    size_t n;
    while ((n = fread(info, 1, sizeof info, fp1)) > 0) {
        if (fwrite(info, 1, n, fp2) != n || fflush(fp2) != 0) {
            err = -errno;
            break;
        }
    }
    if (!err && ferror(fp1))
        err = -EIO;
    if (fclose(fp2) != 0 && !err)
        err = -errno;
out:
    fclose(fp1);
    return err;
}

/* COPY_FILE_SIZE bytes from a xorshift generator, so every file differs. */
static int write_source(const char *path, uint64_t seed)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -errno;
    static uint64_t block[1 << 14];
    int err = 0;
    for (size_t done = 0; done < COPY_FILE_SIZE && !err; done += sizeof block) {
        for (size_t i = 0; i < sizeof block / sizeof block[0]; i++) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            block[i] = seed;
        }
        if (fwrite(block, 1, sizeof block, f) != sizeof block)
            err = -errno;
    }
    if (fclose(f) != 0 && !err)
        err = -errno;
    return err;
}

static int make_dir(const char *path)
{
    return mkdir(path, 0777) < 0 && errno != EEXIST ? -errno : 0;
}

int copy_dirs_make(copy_dirs *d, const char *where)
{
    int err;
    d->scratch = !where;
    if (where)
        snprintf(d->root, sizeof d->root, "%s", where);
    else if ((err = scratch_dir_new(d->root, sizeof d->root, "copy")) < 0)
        return err;
    snprintf(d->src, sizeof d->src, "%s/file", d->root);
    snprintf(d->dst, sizeof d->dst, "%s/file2", d->root);
    if ((err = make_dir(d->root)) < 0 || (err = make_dir(d->src)) < 0 ||
        (err = make_dir(d->dst)) < 0)
        goto fail;
    for (int i = 1; i <= COPY_FILES; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%d.mp4", d->src, i);
        if ((err = write_source(path, 0x9e3779b97f4a7c15u * (uint64_t)i)) < 0)
            goto fail;
    }
    return 0;
fail:
    copy_dirs_done(d);
    return err;
}

void copy_dirs_done(copy_dirs *d)
{
    if (d->scratch)
        remove_tree(d->root);
    d->scratch = false;
}
