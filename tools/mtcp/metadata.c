/*
 * metadata.c - what `cp -a` keeps besides the bytes: owner and group (when
 * root, or when allowed), permission bits (with setuid/setgid only where the
 * owner was kept), extended attributes, and access and modification times
 * to the nanosecond. The order matters: chown clears setuid bits, so the
 * mode comes after it, and the times come last.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "mtcp.h"

static bool needs_chown(mtcp *m, const struct stat *st)
{
    return m->o->keep_owner && (st->st_uid != m->o->euid || st->st_gid != m->o->egid);
}

/* The permission bits the copy ends with. */
static mode_t final_mode(mtcp *m, const struct stat *st)
{
    if (!m->o->keep_mode)
        return st->st_mode & 0777 & ~m->o->umask;
    return st->st_mode & 07777;
}

mode_t mtcp_create_mode(mtcp *m, const struct stat *st)
{
    /* Until its owner is right, a file is ours alone. */
    return needs_chown(m, st) ? 0600 : final_mode(m, st) & 0777;
}

/* chown, forgiving EPERM when not root as cp does; *kept says whether the
 * owner is now the source's. */
static int own(mtcp *m, int fd, const char *name, const struct stat *st, bool *kept)
{
    *kept = true;
    if (!needs_chown(m, st))
        return 0;
    int r = name ? fchownat(fd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW)
                 : fchown(fd, st->st_uid, st->st_gid);
    if (r == 0)
        return 0;
    *kept = false;
    return errno == EPERM && !m->o->root ? 0 : -errno;
}

static bool xattr_unsupported(int e)
{
    return e == ENOTSUP || e == EOPNOTSUPP || e == EPERM || e == EACCES;
}

int mtcp_copy_xattrs(int sfd, int tfd)
{
    char small[1024], *names = small, *val = NULL;
    ssize_t n = flistxattr(sfd, small, sizeof small);
    if (n < 0 && errno == ERANGE) {
        n = flistxattr(sfd, NULL, 0);
        names = n > 0 ? malloc((size_t)n) : NULL;
        n = names ? flistxattr(sfd, names, (size_t)n) : -1;
    }
    if (n <= 0)
        return n == 0 || xattr_unsupported(errno) ? 0 : -errno;
    int err = 0;
    size_t cap = 0;
    for (char *k = names; k < names + n && err == 0; k += strlen(k) + 1) {
        if (strncmp(k, "user.mtcp.", 10) == 0)
            continue; /* our own marks on a partial copy */
        ssize_t len = fgetxattr(sfd, k, NULL, 0);
        if (len < 0)
            continue;
        if ((size_t)len + 1 > cap) {
            free(val);
            cap = (size_t)len + 1;
            val = malloc(cap);
            if (!val) {
                err = -ENOMEM;
                break;
            }
        }
        len = fgetxattr(sfd, k, val, cap);
        if (len >= 0 && fsetxattr(tfd, k, val, (size_t)len, 0) < 0 && !xattr_unsupported(errno))
            err = -errno;
    }
    free(val);
    if (names != small)
        free(names);
    return err;
}

int mtcp_meta_fd(mtcp *m, int fd, const struct stat *st, int src_fd, bool is_dir)
{
    bool kept;
    int err = own(m, fd, NULL, st, &kept);
    if (err < 0)
        return err;
    if (m->o->keep_xattr && src_fd >= 0 && (err = mtcp_copy_xattrs(src_fd, fd)) < 0)
        return err;
    mode_t mode = final_mode(m, st);
    if (!kept)
        mode &= ~(mode_t)(S_ISUID | S_ISGID);
    if ((is_dir || mode != mtcp_create_mode(m, st)) && fchmod(fd, mode) < 0)
        return -errno;
    if (m->o->keep_times && futimens(fd, (struct timespec[]){st->st_atim, st->st_mtim}) < 0)
        return -errno;
    return 0;
}

int mtcp_meta_at(mtcp *m, int dirfd, const char *name, const struct stat *st, bool symlink)
{
    bool kept;
    int err = own(m, dirfd, name, st, &kept);
    if (err < 0)
        return err;
    mode_t mode = final_mode(m, st);
    if (!kept)
        mode &= ~(mode_t)(S_ISUID | S_ISGID);
    if (!symlink && fchmodat(dirfd, name, mode, 0) < 0)
        return -errno;
    if (m->o->keep_times && utimensat(dirfd, name, (struct timespec[]){st->st_atim, st->st_mtim},
                                      AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    return 0;
}
