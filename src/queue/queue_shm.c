/*
 * queue_shm.c - the queue's segment: its layout, making it (a memfd, or
 * /dev/shm/mt-queue-NAME with mode 0600), opening it by name, and
 * removing the name when its last user leaves.
 *
 * A named segment is complete before it has its name (see new_file), so
 * opening never meets a half-made queue and a creator that dies halfway
 * leaves no file behind.
 *
 * Removing the name races with opening it. The leaving process that finds no
 * live user takes `unlinking` (0 -> its pid), looks again, and either gives
 * it back (someone arrived: they will do it when they leave) or removes the
 * name and marks the segment Q_UNLINKED. An opener registers first and then
 * reads `unlinking`: 0 means it is in; Q_UNLINKED means it came too late and
 * tries the name again; a pid means wait a moment for the outcome, or take
 * over from that pid if it died.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue_internal.h"

enum {
    OPEN_WAIT_NS = 1000 * 1000 * 1000, /* how long an opener waits for a creator */
    PATH_BYTES = MT_QUEUE_NAME_MAX + 64,
};

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

/* Fill in the layout of a queue of nslots slots of max_message bytes. */
static void layout(qhdr *lay, uint64_t nslots, uint64_t max_message)
{
    lay->nslots = (uint32_t)nslots;
    lay->max_message = max_message;
    lay->slots_off = align_up(sizeof(qhdr), 4096);
    lay->data_stride = max_message > Q_INLINE ? align_up(max_message, 64) : 0;
    lay->data_off = align_up(lay->slots_off + nslots * sizeof(qslot), 4096);
    lay->total = align_up(lay->data_off + nslots * lay->data_stride, 4096);
}

/* Point the handle at a mapped segment whose header is trusted. */
static void adopt(mt_queue *q, qhdr *h)
{
    q->h = h;
    q->map_len = h->total;
    q->slots = (qslot *)((char *)h + h->slots_off);
    q->data = (char *)h + h->data_off;
    q->nslots = h->nslots;
    q->mask = (q->nslots & (q->nslots - 1)) == 0 ? q->nslots - 1 : 0;
    q->max_message = h->max_message;
    q->stride = h->data_stride;
    q->joinable = h->joinable != 0;
    q->persist = h->persist != 0;
    atomic_store_explicit(&q->pid, mt__queue_self(), memory_order_relaxed);
    atomic_store_explicit(&q->spin_put, Q_SPIN_INITIAL, memory_order_relaxed);
    atomic_store_explicit(&q->spin_get, Q_SPIN_INITIAL, memory_order_relaxed);
}

bool mt__queue_name_ok(const char *name)
{
    if (!name || !name[0] || name[0] == '.')
        return false;
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok || n >= MT_QUEUE_NAME_MAX)
            return false;
    }
    return true;
}

/* The segment of queue `name`: for shm_open ("/mt-queue-NAME"), or its
 * file ("/dev/shm/mt-queue-NAME"). */
static void seg_path(char *out, size_t size, bool file, const char *name)
{
    snprintf(out, size, "%s" MT_QUEUE_SHM_PREFIX "%s", file ? "/dev/shm/" : "/", name);
}

/*
 * The file of a new segment. A named one is made without a name (O_TMPFILE
 * in /dev/shm) and gets its name only once it is a complete queue (see
 * publish), so that nobody ever opens a half-made queue and a creator killed
 * halfway leaves nothing behind. Where O_TMPFILE is missing, it is made under
 * its name at once (*named set) and openers wait for `magic`.
 */
static int new_file(const char *name, bool *named)
{
    *named = false;
    if (!name)
        return memfd_create("multitask-queue", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    int fd = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    char path[PATH_BYTES];
    seg_path(path, sizeof path, false, name);
    *named = true;
    return shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

/* Give an unnamed segment its name; -EEXIST when the name is taken. */
static int publish(int fd, const char *name)
{
    char from[64], to[PATH_BYTES];
    snprintf(from, sizeof from, "/proc/self/fd/%d", fd);
    seg_path(to, sizeof to, true, name);
    return linkat(AT_FDCWD, from, AT_FDCWD, to, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

int mt__queue_create(mt_queue *q, const mt_queue_opts *o)
{
    qhdr lay = {.version = Q_VERSION,
                .joinable = o->joinable,
                .persist = o->name && o->persist,
                .pidns = mt__queue_pidns()};
    layout(&lay, o->maxsize, o->max_message);
    bool named;
    int fd = new_file(o->name, &named);
    if (fd < 0)
        return -errno;
    int err = 0;
    struct stat st;
    qhdr *h = MAP_FAILED;
    if (fchmod(fd, 0600) < 0 || ftruncate(fd, (off_t)lay.total) < 0 || fstat(fd, &st) < 0)
        goto fail;
    /* An anonymous queue's size is fixed for good: nobody who reaches the
     * memfd (through /proc) can cut it short under its users (SIGBUS). A
     * named one's file cannot be sealed (queue.h says what truncating does). */
    if (!o->name && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        goto fail;
    /* The file is sparse: pages are committed only as messages touch them. */
    h = mmap(NULL, lay.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED)
        goto fail;
    h->version = lay.version;
    h->nslots = lay.nslots;
    h->joinable = lay.joinable;
    h->persist = lay.persist;
    h->max_message = lay.max_message;
    h->slots_off = lay.slots_off;
    h->data_off = lay.data_off;
    h->data_stride = lay.data_stride;
    h->total = lay.total;
    h->pidns = lay.pidns;
    adopt(q, h);
    q->dev = st.st_dev;
    q->ino = st.st_ino;
    if (o->name)
        snprintf(q->name, sizeof q->name, "%s", o->name);
    if ((err = mt__queue_users_add(q)) < 0)
        goto fail;
    atomic_store_explicit(&h->magic, Q_MAGIC, memory_order_release);
    if (o->name && !named && (err = publish(fd, o->name)) < 0)
        goto fail;
    close(fd);
    return 0;
fail:
    err = err ? err : -errno;
    if (h != MAP_FAILED)
        munmap(h, lay.total);
    if (named) {
        char path[PATH_BYTES];
        seg_path(path, sizeof path, false, o->name);
        shm_unlink(path);
    }
    close(fd);
    q->h = NULL;
    return err;
}

/*
 * Map the header of fd's segment and wait for its creator to finish. Returns
 * 0 with *out mapped (hdr_len bytes), or -EINVAL (not a queue).
 */
static int map_header(int fd, qhdr **out, size_t *hdr_len)
{
    size_t len = align_up(sizeof(qhdr), 4096);
    mt__deadline until = mt__deadline_in((double)OPEN_WAIT_NS * 1e-9);
    for (;;) {
        struct stat st;
        if (fstat(fd, &st) < 0)
            return -errno;
        if ((uint64_t)st.st_size >= len) {
            qhdr *h = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (h == MAP_FAILED)
                return -errno;
            uint32_t magic = atomic_load_explicit(&h->magic, memory_order_acquire);
            if (magic == Q_MAGIC) {
                *out = h;
                *hdr_len = len;
                return 0;
            }
            munmap(h, len);
            if (magic != 0)
                return -EINVAL;
        }
        if (mt__deadline_passed(until))
            return -EINVAL; /* never became a queue */
        mt_sleep(0.001);
    }
}

/* Whether a header describes a layout this library made: sizes in range and
 * offsets exactly as layout() computes them for the file's size. */
static bool header_ok(const qhdr *h, uint64_t file_size)
{
    if (h->version != Q_VERSION || h->nslots == 0 || h->nslots > MT_QUEUE_MAX_MAXSIZE ||
        h->max_message == 0 || h->max_message > MT_QUEUE_MAX_MESSAGE)
        return false;
    qhdr lay = {0};
    layout(&lay, h->nslots, h->max_message);
    return lay.slots_off == h->slots_off && lay.data_off == h->data_off &&
           lay.data_stride == h->data_stride && lay.total == h->total && h->total == file_size;
}

/*
 * Whether fd's segment may be trusted: a file of the caller's effective uid
 * that no one else may read or write. Another user's segment could be a
 * squatter waiting for our messages, or could be changed under us; one open
 * to others could be read or scribbled on by anyone. Checked on the fd
 * before anything is mapped, so that the answer is about the file we map.
 */
static int owner_ok(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
        return -EACCES;
    return 0;
}

/* Remove the name if it still names this handle's segment. */
static void unlink_if_ours(const mt_queue *q)
{
    char path[PATH_BYTES];
    struct stat st;
    seg_path(path, sizeof path, true, q->name);
    if (stat(path, &st) == 0 && st.st_dev == q->dev && st.st_ino == q->ino) {
        seg_path(path, sizeof path, false, q->name);
        shm_unlink(path);
    }
}

/*
 * After registering: find out whether a last user is removing the name.
 * Returns 0 (we are in), or -ENOENT (it is gone; try the name again).
 */
static int settle_unlinking(mt_queue *q)
{
    qhdr *h = q->h;
    mt__deadline until = mt__deadline_in(0.5);
    for (;;) {
        uint32_t u = atomic_load_explicit(&h->unlinking, memory_order_seq_cst);
        if (u == 0)
            return 0;
        if (u == Q_UNLINKED)
            return -ENOENT;
        if (mt__queue_pid_dead(q, u) || mt__deadline_passed(until)) {
            /* The remover died (or hangs) halfway: finish its decision. */
            char path[PATH_BYTES];
            struct stat st;
            seg_path(path, sizeof path, true, q->name);
            bool named = stat(path, &st) == 0 && st.st_dev == q->dev && st.st_ino == q->ino;
            atomic_compare_exchange_strong(&h->unlinking, &u, named ? 0 : Q_UNLINKED);
            continue;
        }
        mt_sleep(0.0005);
    }
}

int mt__queue_map_named(mt_queue *q, const char *name)
{
    char path[PATH_BYTES];
    seg_path(path, sizeof path, false, name);
    for (int attempt = 0;; attempt++) {
        int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        qhdr *hh = NULL, *h = MAP_FAILED;
        size_t hh_len = 0;
        struct stat st;
        int err = owner_ok(fd);
        if (err == 0)
            err = map_header(fd, &hh, &hh_len);
        if (err < 0)
            goto out;
        if (fstat(fd, &st) < 0) {
            err = -errno;
            goto out;
        }
        if (!header_ok(hh, (uint64_t)st.st_size)) {
            err = -EINVAL;
            goto out;
        }
        if (hh->pidns && mt__queue_pidns() && hh->pidns != mt__queue_pidns()) {
            err = -EXDEV;
            goto out;
        }
        h = mmap(NULL, hh->total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (h == MAP_FAILED) {
            err = -errno;
            goto out;
        }
        adopt(q, h);
        q->dev = st.st_dev;
        q->ino = st.st_ino;
        snprintf(q->name, sizeof q->name, "%s", name);
        if ((err = mt__queue_users_add(q)) == 0 && (err = settle_unlinking(q)) < 0)
            mt__queue_users_remove(q);
    out:
        if (err < 0 && h != MAP_FAILED)
            munmap(h, q->map_len);
        if (hh)
            munmap(hh, hh_len);
        close(fd);
        if (err == -ENOENT && attempt < 3)
            continue; /* removed as we came: perhaps made again since */
        if (err < 0)
            q->h = NULL;
        return err;
    }
}

void mt__queue_unmap(mt_queue *q)
{
    if (!q->h)
        return;
    qhdr *h = q->h;
    /* This process's last handle: the messages it claimed and did not
     * acknowledge go back to the queue (nothing could acknowledge them). */
    if (!mt__queue_users_remove(q) && atomic_load_explicit(&q->pid, memory_order_acquire) ==
                                          mt__queue_self())
        mt__ring_repair_own(q);
    uint32_t none = 0, self = mt__queue_self();
    if (q->name[0] && !q->persist && !mt__queue_users_live(q) &&
        atomic_compare_exchange_strong(&h->unlinking, &none, self)) {
        if (mt__queue_users_live(q)) {
            atomic_store(&h->unlinking, 0); /* someone arrived: theirs to do */
        } else {
            unlink_if_ours(q);
            atomic_store(&h->unlinking, Q_UNLINKED);
        }
    }
    munmap(h, q->map_len);
    q->h = NULL;
}

int mt_queue_unlink(const char *name)
{
    if (mt__remote_name(name))
        return mt__queue_remote_unlink(name);
    if (!mt__queue_name_ok(name))
        return -EINVAL;
    char path[PATH_BYTES];
    seg_path(path, sizeof path, false, name);
    int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    qhdr *h = NULL;
    size_t len = 0;
    int err = owner_ok(fd);
    if (err == 0)
        err = map_header(fd, &h, &len);
    if (err == 0) {
        mt_queue q = {.h = h};
        struct stat st;
        if (fstat(fd, &st) == 0) {
            q.dev = st.st_dev;
            q.ino = st.st_ino;
            snprintf(q.name, sizeof q.name, "%s", name);
            atomic_store(&h->unlinking, Q_UNLINKED);
            unlink_if_ours(&q);
        } else {
            err = -errno;
        }
        munmap(h, len);
    }
    close(fd);
    return err;
}
