/*
 * copy_single.c - the lecture's 单进程复制文件 (copying files in one
 * process): four files copied one after another, 1024 bytes at a time; it
 * prints how long that took. Compare with copy_pool.c.
 *
 * Usage: copy_single [DIR]. The program first makes its own four 16 MiB
 * sources in DIR/file and copies them to DIR/file2, leaving both there; with
 * no DIR it works in a temporary directory that it removes afterwards.
 */
#define _GNU_SOURCE
#include <string.h>

#include "common.h"
#include "files.h"

int main(int argc, char **argv)
{
    line_buffered_stdout();
    copy_dirs d;
    check(copy_dirs_make(&d, argc > 1 ? argv[1] : NULL), "making the source files");

    double t1 = mt_monotonic();
    for (int i = 1; i < 5; i++) {
        char path[PATH_MAX], to_path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%d.mp4", d.src, i);
        snprintf(to_path, sizeof to_path, "%s/%d.mp4", d.dst, i);
        int err = copy_file(path, to_path);
        if (err < 0) {
            fprintf(stderr, "cannot copy '%s': %s\n", path, strerror(-err));
            copy_dirs_done(&d);
            return 1;
        }
    }
    double t2 = mt_monotonic();
    printf("单进程耗时：%.2f\n", t2 - t1);

    copy_dirs_done(&d);
    return 0;
}
