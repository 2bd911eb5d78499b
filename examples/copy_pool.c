/*
 * copy_pool.c - the lecture's 多进程复制文件 (copying files with a process
 * pool): one apply_async per file in the source directory, then close() and
 * join(); it prints how long that took. Compare with copy_single.c.
 *
 * Usage: copy_pool [DIR]. The program first makes its own four 16 MiB
 * sources in DIR/file and copies them to DIR/file2, leaving both there; with
 * no DIR it works in a temporary directory that it removes afterwards.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <string.h>

#include "common.h"
#include "files.h"

/* copy_file(path, toPath) as a task: the two paths arrive packed. */
static int copy_task(const void *arg, size_t len, mt_buf *out)
{
    mt_iov a[2];
    if (mt_unpack(arg, len, a, 2) != 2)
        return mt_fail(out, -EINVAL, "copy_task takes (path, toPath)");
    char path[PATH_MAX], to_path[PATH_MAX];
    snprintf(path, sizeof path, "%.*s", (int)a[0].len, (const char *)a[0].data);
    snprintf(to_path, sizeof to_path, "%.*s", (int)a[1].len, (const char *)a[1].data);
    int err = copy_file(path, to_path);
    if (err < 0)
        return mt_fail(out, err, "cannot copy '%s': %s", path, strerror(-err));
    return 0;
}

/* Queue one copy: pool.apply_async(copy_file, args=(newPath1, newPath2)) */
static int copy_async(mt_pool *pool, const char *from, const char *to, const char *name,
                      mt_future **f)
{
    char path[PATH_MAX], to_path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", from, name);
    snprintf(to_path, sizeof to_path, "%s/%s", to, name);
    mt_buf args = MT_BUF_INIT;
    int err = mt_pack(&args, (mt_iov[]){{path, strlen(path)}, {to_path, strlen(to_path)}}, 2);
    if (err == 0)
        err = mt_pool_apply_async(pool, copy_task, args.data, args.len, f);
    mt_buf_free(&args);
    return err;
}

int main(int argc, char **argv)
{
    line_buffered_stdout();
    copy_dirs d;
    check(copy_dirs_make(&d, argc > 1 ? argv[1] : NULL), "making the source files");

    double t1 = mt_monotonic();
    DIR *dir = opendir(d.src); /* os.listdir(path) */
    if (!dir) {
        perror(d.src);
        copy_dirs_done(&d);
        return 1;
    }
    mt_pool *pool; /* Pool(): one worker per CPU */
    check(mt_pool_new(&pool, NULL), "mt_pool_new");

    mt_future *futures[64];
    int n = 0;
    for (struct dirent *e; n < 64 && (e = readdir(dir));) {
        if (e->d_name[0] == '.') /* ".", ".." */
            continue;
        check(copy_async(pool, d.src, d.dst, e->d_name, &futures[n]), "apply_async");
        n++;
    }
    closedir(dir);

    check(mt_pool_close(pool), "mt_pool_close");
    check(mt_pool_join(pool, MT_FOREVER), "mt_pool_join");
    double t2 = mt_monotonic();
    printf("耗时：%.2f\n", t2 - t1);

    /* The Python never looks at the results, so a failed copy goes unseen.
     * Here each future tells whether its copy worked. */
    int failed = 0;
    for (int i = 0; i < n; i++) {
        if (mt_future_result(futures[i], 0, NULL) != 0) {
            fprintf(stderr, "%s\n", mt_future_error_message(futures[i]));
            failed = 1;
        }
        mt_future_free(futures[i]);
    }
    mt_pool_free(pool);
    copy_dirs_done(&d);
    return failed;
}
