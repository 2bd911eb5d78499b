/*
 * env.c - the LMDB environment behind each dict and list: its directory
 * (made in a hidden sibling and renamed into place, so that no one ever
 * opens a half-made object), one MDB_env per directory per process (LMDB
 * forbids two), reopening in a forked child (LMDB forbids using one across
 * fork), removal by the creator, and LMDB's error codes as -errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "shared_internal.h"

#define SHM_DIR "/dev/shm"
#define SHM_PREFIX SHM_DIR "/mt-"
#define MAX_NAME 200
#define MAX_READERS 1024
#define MIN_MAP_SIZE ((size_t)64 << 10)

_Atomic unsigned mt__shared_gen = 1;

/* Every environment open in this process, and the lock for it and for
 * opening, closing and reopening any of them. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static mt__shenv *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

int mt__lmdb_err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return -ENOENT;
    case MDB_KEYEXIST:
        return -EEXIST;
    case MDB_MAP_FULL:
        return -ENOSPC;
    case MDB_TXN_FULL:
        return -E2BIG;
    case MDB_READERS_FULL:
        return -EAGAIN;
    case MDB_BAD_VALSIZE:
        return -EINVAL;
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
        return -EPROTO;
    }
    return rc > 0 ? -rc : -EIO; /* errno values are positive, LMDB's negative */
}

/* Take the spare read transactions out; abort them only if they are this
 * process's own (an inherited one would free its parent's reader slot). */
static void drop_spares(mt__shenv *e, bool own)
{
    for (int i = 0; i < MT__SHARED_SPARES; i++) {
        MDB_txn *t = atomic_exchange(&e->spare[i], NULL);
        if (t && own)
            mdb_txn_abort(t);
    }
}

/* Before fork: no spare transaction may be inherited, and the registry must
 * not be inherited locked. */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&registry_lock);
    unsigned gen = atomic_load(&mt__shared_gen);
    for (mt__shenv *e = registry; e; e = e->next)
        if (atomic_load(&e->gen) == gen)
            drop_spares(e, true);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&registry_lock);
}

static void atfork_child(void)
{
    atomic_fetch_add(&mt__shared_gen, 1);
    pthread_mutex_unlock(&registry_lock);
}

static void register_atfork(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/*
 * ThreadSanitizer cannot see how LMDB orders the reuse of a page (through
 * its reader table in the lock file), so a writable map shows every reused
 * page as a race. Builds made for it write through pwrite instead: slower,
 * the same semantics. Such a build must not share objects with a normal one.
 */
#if defined(__SANITIZE_THREAD__)
#define WRITEMAP_OK 0
#else
#define WRITEMAP_OK 1
#endif

/* The flags to open dir with: no thread-local reader slots (a spare
 * transaction may move between threads), a writable map on tmpfs (every
 * process must agree, and they do: it depends on the directory), and the
 * flushing level asked for. */
static unsigned env_flags(const char *dir, mt_shared_sync sync)
{
    struct statfs sf;
    bool tmpfs = statfs(dir, &sf) == 0 && sf.f_type == TMPFS_MAGIC;
    unsigned flags = MDB_NOTLS | (tmpfs && WRITEMAP_OK ? MDB_WRITEMAP : 0);
    if (sync == MT_SHARED_SYNC_DEFAULT)
        sync = tmpfs ? MT_SHARED_SYNC_NONE : MT_SHARED_SYNC_FULL;
    if (sync == MT_SHARED_SYNC_NONE)
        flags |= MDB_NOSYNC | MDB_NOMETASYNC;
    else if (sync == MT_SHARED_SYNC_META)
        flags |= MDB_NOMETASYNC;
    return flags;
}

/* Open e->env on dir. `create`: mark the new main database with e->kind;
 * else check that it holds that kind (-ENOENT if not). */
/* The identity of the data file env opened into *st. */
static int data_file(MDB_env *env, struct stat *st)
{
    mdb_filehandle_t fd;
    return mdb_env_get_fd(env, &fd) == 0 && fstat(fd, st) == 0 ? 0 : -EIO;
}

static int lmdb_open(mt__shenv *e, const char *dir, size_t map_size, bool create)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    unsigned dbflags = 0;
    int rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_maxreaders(env, MAX_READERS);
    if (rc == 0 && map_size)
        rc = mdb_env_set_mapsize(env, map_size);
    if (rc == 0)
        rc = mdb_env_open(env, dir, e->flags, 0600);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, create ? 0 : MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, create ? e->kind : 0, &e->dbi);
    if (rc == 0)
        rc = mdb_dbi_flags(txn, e->dbi, &dbflags);
    if (rc == 0 && (dbflags & MDB_INTEGERKEY) != e->kind)
        rc = MDB_NOTFOUND;
    if (rc == 0 && create)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    txn = NULL;
    if (rc != 0)
        goto fail;
    /* The first open of e records its data file; a later one (after fork,
     * by path again) must find that same file. */
    struct stat now;
    if (data_file(env, &now) < 0) {
        rc = EIO;
        goto fail;
    }
    if (!e->data_ino) {
        e->data_dev = now.st_dev;
        e->data_ino = now.st_ino;
    } else if (now.st_dev != e->data_dev || now.st_ino != e->data_ino) {
        mdb_env_close(env);
        return -ESTALE;
    }
    mdb_reader_check(env, NULL);
    e->env = env;
    return 0;
fail:
    mdb_env_close(env); /* NULL is ignored */
    return mt__lmdb_err(rc);
}

static bool name_ok(const char *name)
{
    size_t len = strnlen(name, MAX_NAME + 1);
    return len > 0 && len <= MAX_NAME && name[0] != '.' && !strchr(name, '/');
}

/* The directory a name stands for: a path as it is, else under /dev/shm. */
static int resolve(const char *name, char **dir)
{
    if (!name || !*name)
        return -EINVAL;
    if (strnlen(name, PATH_MAX) > PATH_MAX - 32)
        return -ENAMETOOLONG; /* room for "/data.mdb" and the like */
    if (strchr(name, '/'))
        *dir = strdup(name);
    else if (!name_ok(name))
        return -EINVAL;
    else if (asprintf(dir, SHM_PREFIX "%s", name) < 0)
        *dir = NULL;
    return *dir ? 0 : -ENOMEM;
}

/* A fresh hidden directory beside `dir` (mode 0700), to build in. */
static char *sibling_tmpdir(const char *dir)
{
    const char *slash = strrchr(dir, '/');
    char *tmp = NULL;
    int plen = slash ? (int)(slash - dir) : 0;
    if (asprintf(&tmp, "%.*s%s.mt-XXXXXX", plen, dir, slash ? "/" : "") < 0)
        return NULL;
    if (!mkdtemp(tmp)) {
        int err = errno;
        free(tmp);
        errno = err;
        return NULL;
    }
    return tmp;
}

static void env_free(mt__shenv *e)
{
    if (!e)
        return;
    drop_spares(e, atomic_load(&e->gen) == atomic_load(&mt__shared_gen));
    mdb_env_close(e->env);
    free(e->dir);
    free(e);
}

static mt__shenv *env_new(unsigned kind, unsigned flags)
{
    mt__shenv *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->kind = kind;
    e->flags = flags;
    e->refs = 1;
    atomic_store(&e->gen, atomic_load(&mt__shared_gen));
    return e;
}

/* The default map size: 1 GiB, or less on a smaller tmpfs (a container's
 * /dev/shm may hold 64 MiB), so that the map fills (-ENOSPC) before the
 * file system does: a writable map on a full tmpfs would raise SIGBUS. */
static size_t default_map_size(const mt__shenv *e, const char *dir)
{
    struct statfs sf;
    size_t size = MT_SHARED_DEFAULT_MAP_SIZE;
    if (!(e->flags & MDB_WRITEMAP) || statfs(dir, &sf) < 0)
        return size;
    size_t avail = (size_t)sf.f_bavail * (size_t)sf.f_bsize / 4 * 3;
    return avail < size ? (avail > MIN_MAP_SIZE ? avail : MIN_MAP_SIZE) : size;
}

static int validate(const mt_shared_opts *o)
{
    if (o->name && o->path)
        return -EINVAL;
    if (o->name && !name_ok(o->name))
        return -EINVAL;
    if (o->path && (!*o->path || strnlen(o->path, PATH_MAX) > PATH_MAX - 32))
        return -EINVAL;
    if (o->map_size && o->map_size < MIN_MAP_SIZE)
        return -EINVAL;
    if ((unsigned)o->sync > MT_SHARED_SYNC_FULL)
        return -EINVAL;
    return 0;
}

/* The directory a new object goes to: named, a path, or a fresh one. */
static int new_dir(const mt_shared_opts *o, char **dir, bool *fresh)
{
    *fresh = !o->name && !o->path;
    if (o->path) {
        size_t len = strlen(o->path);
        while (len > 1 && o->path[len - 1] == '/')
            len--; /* "a/b/" is "a/b": build beside it, not in it */
        bool bare = !memchr(o->path, '/', len); /* else it would read as a name */
        if (asprintf(dir, "%s%.*s", bare ? "./" : "", (int)len, o->path) < 0)
            *dir = NULL;
    } else if (o->name)
        return resolve(o->name, dir);
    else if ((*dir = strdup(SHM_PREFIX "XXXXXX")) && !mkdtemp(*dir)) {
        int err = -errno;
        free(*dir);
        *dir = NULL;
        return err;
    }
    return *dir ? 0 : -ENOMEM;
}

int mt__shared_create(mt__shared **out, unsigned kind, const mt_shared_opts *opts)
{
    static const mt_shared_opts defaults;
    mt_shared_opts o = opts ? *opts : defaults;
    char *dir = NULL, *build = NULL;
    const char *made = NULL; /* the directory holding what we made so far */
    mt__shenv *e = NULL;
    struct stat st;
    bool fresh;
    int err = validate(&o);
    if (err < 0)
        return err;
    mt__shared *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    pthread_once(&atfork_once, register_atfork);
    if ((err = new_dir(&o, &dir, &fresh)) < 0)
        goto fail;
    if (fresh)
        made = dir;
    else if ((build = sibling_tmpdir(dir)))
        made = build;
    else {
        err = errno ? -errno : -ENOMEM;
        goto fail;
    }
    if ((err = mt__shdir_mark(made)) < 0)
        goto fail;
    if (!(e = env_new(kind, env_flags(made, o.sync)))) {
        err = -ENOMEM;
        goto fail;
    }
    err = lmdb_open(e, made, o.map_size ? o.map_size : default_map_size(e, made), true);
    if (err < 0)
        goto fail;
    if (stat(made, &st) < 0) {
        err = -errno;
        goto fail;
    }
    e->dev = st.st_dev;
    e->ino = st.st_ino; /* rename keeps the inode */
    e->dir = strdup(dir);
    s->name = strdup(o.name ? o.name : o.path ? dir : dir + strlen(SHM_PREFIX));
    if (!e->dir || !s->name) {
        err = -ENOMEM;
        goto fail;
    }
    if (!fresh) {
        /* A name must be free; a path may be an empty directory. */
        if (o.name ? renameat2(AT_FDCWD, build, AT_FDCWD, dir, RENAME_NOREPLACE) < 0
                   : rename(build, dir) < 0) {
            /* A directory with files in it, or a file (ENOTDIR): taken. */
            err = errno == ENOTEMPTY || errno == EEXIST || errno == ENOTDIR ? -EEXIST : -errno;
            goto fail;
        }
        made = dir;
    }
    pthread_mutex_lock(&registry_lock);
    e->next = registry;
    registry = e;
    pthread_mutex_unlock(&registry_lock);
    s->env = e;
    s->creator = o.path || o.persist ? 0 : getpid();
    atomic_store(&s->batch_gen, atomic_load(&mt__shared_gen));
    *out = s;
    free(build);
    free(dir);
    return 0;
fail:
    if (made)
        mt__shdir_remove(made, NULL, false, NULL);
    env_free(e);
    free(s->name);
    free(s);
    free(build);
    free(dir);
    return err;
}

/* The registered environment of directory `st`, if any. Registry lock held. */
static mt__shenv *env_find(const struct stat *st)
{
    for (mt__shenv *e = registry; e; e = e->next)
        if (e->dev == st->st_dev && e->ino == st->st_ino && !e->removed)
            return e;
    return NULL;
}

/* Open dir, checked and opened as dfd, for the first time in this process
 * and register it. LMDB opens files by path, so it is given dfd's
 * /proc/self/fd name: a directory swapped for a symbolic link after the
 * check is never followed. Registry lock held. */
static int open_new(mt__shenv **out, unsigned kind, const char *dir, int dfd, mt_shared_sync sync,
                    const struct stat *st)
{
    char via[64];
    snprintf(via, sizeof via, "/proc/self/fd/%d", dfd);
    struct stat proc;
    const char *path = stat(via, &proc) == 0 && proc.st_dev == st->st_dev &&
                               proc.st_ino == st->st_ino
                           ? via
                           : dir; /* no /proc: the path, checked just before */
    mt__shenv *e = env_new(kind, env_flags(dir, sync));
    int err = e && (e->dir = strdup(dir)) ? lmdb_open(e, path, 0, false) : -ENOMEM;
    if (err < 0) {
        env_free(e);
        return err;
    }
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->next = registry;
    registry = e;
    *out = e;
    return 0;
}

int mt__shared_open(mt__shared **out, unsigned kind, const char *name,
                    const mt_shared_opts *opts)
{
    static const mt_shared_opts defaults;
    const mt_shared_opts *o = opts ? opts : &defaults;
    char *dir = NULL;
    mt__shenv *e = NULL;
    struct stat st;
    int dfd = -1;
    if ((unsigned)o->sync > MT_SHARED_SYNC_FULL)
        return -EINVAL;
    if (mt__remote_name(name))
        return mt__shared_remote_open(out, kind == MT__SHARED_LIST, name, opts);
    int err = resolve(name, &dir);
    if (err < 0)
        return err;
    pthread_once(&atfork_once, register_atfork);
    mt__shared *s = calloc(1, sizeof *s);
    if (!s) {
        err = -ENOMEM;
        goto out;
    }
    /* Checked before LMDB sees it: LMDB would make a lock.mdb in any
     * directory, and a new, empty object of an empty data.mdb. */
    if ((err = mt__shdir_open(dir, &dfd)) < 0)
        goto out;
    if (fstat(dfd, &st) < 0) {
        err = -errno;
        goto out;
    }
    if (!(s->name = strdup(name))) {
        err = -ENOMEM;
        goto out;
    }
    pthread_mutex_lock(&registry_lock);
    if ((e = env_find(&st))) {
        err = e->kind == kind ? 0 : -ENOENT;
        e->refs += err == 0;
    } else {
        err = open_new(&e, kind, dir, dfd, o->sync, &st);
    }
    pthread_mutex_unlock(&registry_lock);
    if (err == 0) {
        s->env = e;
        atomic_store(&s->batch_gen, atomic_load(&mt__shared_gen));
        *out = s;
    }
out:
    if (err < 0 && s) {
        free(s->name);
        free(s);
    }
    if (dfd >= 0)
        close(dfd);
    free(dir);
    return err;
}

int mt__shared_reopen(mt__shared *s)
{
    mt__shenv *e = s->env;
    unsigned gen = atomic_load_explicit(&mt__shared_gen, memory_order_relaxed);
    if (atomic_load_explicit(&e->gen, memory_order_acquire) == gen)
        return 0;
    int err = 0;
    pthread_mutex_lock(&registry_lock);
    if (atomic_load(&e->gen) != gen) {
        /* Inherited through fork: the parent's, so closed without touching
         * its reader slots (mdb_env_close frees only this pid's). */
        drop_spares(e, false);
        atomic_store(&e->writer, (pthread_t)0);
        mdb_env_close(e->env);
        e->env = NULL;
        err = lmdb_open(e, e->dir, 0, false); /* by path: checked in there */
        if (err == 0)
            atomic_store_explicit(&e->gen, gen, memory_order_release);
    }
    pthread_mutex_unlock(&registry_lock);
    return err;
}

void mt__shared_close(mt__shared *s)
{
    if (!s)
        return;
    if (s->remote) {
        mt__shared_remote_close(s);
        return;
    }
    mt__shenv *e = s->env;
    mt__shared_batch_end(s, false); /* -EINVAL unless this thread has one */
    pthread_mutex_lock(&registry_lock);
    if (s->creator && s->creator == getpid()) {
        struct stat made = {.st_dev = e->dev, .st_ino = e->ino};
        e->removed = true;
        mt__shdir_remove(e->dir, &made, false, NULL);
    }
    if (--e->refs == 0) {
        mt__shenv **p = &registry;
        while (*p != e)
            p = &(*p)->next;
        *p = e->next;
        env_free(e);
    }
    pthread_mutex_unlock(&registry_lock);
    free(s->name);
    free(s);
}

int mt__shared_reader_check(mt__shared *s)
{
    if (s->remote)
        return 0; /* a server has no reader slots */
    int dead = 0;
    int err = mt__shared_reopen(s);
    if (err < 0)
        return err;
    err = mt__lmdb_err(mdb_reader_check(s->env->env, &dead));
    return err < 0 ? err : dead;
}

int mt_shared_unlink(const char *name)
{
    char *dir = NULL;
    struct stat st = {0};
    if (mt__remote_name(name))
        return mt__shared_remote_unlink(name);
    int err = resolve(name, &dir);
    if (err < 0)
        return err;
    pthread_mutex_lock(&registry_lock);
    err = mt__shdir_remove(dir, NULL, true, &st);
    mt__shenv *e = st.st_ino ? env_find(&st) : NULL;
    if (e)
        e->removed = true;
    pthread_mutex_unlock(&registry_lock);
    free(dir);
    return err;
}
