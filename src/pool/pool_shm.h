/*
 * pool_shm.h - the pool's shared memory: what the parent and its workers
 * both see, and the protocol they follow on it.
 *
 * One memfd holds everything, mapped before the workers start:
 *
 *   header          counters, each hot one on its own cache line
 *   slots[nslots]   one 64-byte header per dispatch unit (a task or a chunk)
 *   ring[nslots]    the dispatch ring: which slot to take next
 *   results[W]      one result ring per worker position (SPSC: worker -> parent)
 *   payload         nslots * slot_bytes of inline argument space
 *   initarg         the initializer's argument
 *   modules         the parent's module table (spawn start method)
 *
 * Dispatch (parent -> workers). The parent alone fills slots: it writes the
 * slot, sets its state to QUEUED(gen), writes a ring entry (pos, slot, gen)
 * and then advances `disp_tail`. A worker takes the entry at `disp_head` by
 * CAS on disp_head and then claims the slot by CAS on its state from
 * QUEUED(gen) to RUNNING(gen, worker). The claim is the record: the slot
 * itself says which worker runs it, so when a worker dies the parent fails
 * exactly the slots RUNNING on it, and puts back (as QUEUED(gen+1)) any slot
 * whose ring entry was consumed but which nobody claimed. A stale worker's
 * claim then fails on the generation: nothing runs twice.
 *
 * Results (worker -> parent). Each worker position has a single-producer
 * single-consumer byte ring of records. A record becomes visible when the
 * worker publishes its tail; a worker killed mid-record leaves nothing
 * half-visible. The parent frees a slot (FREE(gen+1)) only after it has read
 * the slot's result record.
 *
 * Sleeping. Workers sleep on the futex `disp_seq` when the ring is empty,
 * each raising `sleeping` in its result ring; the parent bumps disp_seq and
 * wakes as many as it queued work for. A flag per worker rather than one
 * count, so that a worker killed in its sleep cannot skew it for good.
 * The parent's supervisor thread sleeps in poll() on an eventfd: a worker
 * writes it after publishing a result when `sup_sleeping` is set and no
 * parent thread is `watching` the rings itself.
 */
#ifndef MT_POOL_SHM_H
#define MT_POOL_SHM_H

#include <stdatomic.h>
#include <stdint.h>

#define MT__CACHELINE 64
#define MT__ALIGNED __attribute__((aligned(MT__CACHELINE)))

enum {
    SHM_MAGIC = 0x6d74706c, /* "mtpl" */
    RESULT_RING_BYTES = 1 << 20,
    LARGE_RESULT_BYTES = RESULT_RING_BYTES / 4, /* from here results go in a memfd */
    SLOT_BYTES_DEFAULT = 64 * 1024,
    MAX_MODULES = 256,
    MODULE_NAME_BYTES = 256,
};

/* Slot phases (the low byte of a slot's state). */
enum { SLOT_FREE = 0, SLOT_QUEUED = 1, SLOT_RUNNING = 2 };

/* A slot state word: generation (32 bits), worker position (16), phase (8). */
static inline uint64_t slot_state(uint32_t gen, uint32_t worker, uint32_t phase)
{
    return (uint64_t)gen << 32 | (uint64_t)(worker & 0xffff) << 8 | phase;
}
static inline uint32_t state_gen(uint64_t s)
{
    return (uint32_t)(s >> 32);
}
static inline uint32_t state_worker(uint64_t s)
{
    return (uint32_t)(s >> 8) & 0xffff;
}
static inline uint32_t state_phase(uint64_t s)
{
    return (uint32_t)s & 0xff;
}

/* A dispatch ring entry: position + 1 (32 bits), slot (16), generation (16). */
static inline uint64_t ring_entry(uint64_t pos, uint32_t slot, uint32_t gen)
{
    return (uint64_t)(uint32_t)(pos + 1) << 32 | (uint64_t)(slot & 0xffff) << 16 | (gen & 0xffff);
}

/* How a slot's payload is laid out. */
enum {
    JOB_FIXED = 0, /* nitems items of item_size bytes each */
    JOB_IOV = 1,   /* nitems 64-bit lengths, then the items back to back */
};

typedef struct MT__ALIGNED mt__shm_slot {
    _Atomic uint64_t state;
    uint64_t fn;        /* the task, as an address in the parent */
    uint64_t item_size; /* JOB_FIXED */
    uint64_t arg_len;   /* payload bytes */
    uint32_t kind;
    uint32_t nitems;
    int32_t large_fd; /* -1: payload inline; else the parent's fd of a memfd */
    uint32_t skip;    /* item + 1 not to run (it killed a worker before), or 0 */
    _Atomic uint32_t progress; /* the item the worker is running */
} mt__shm_slot;

/* A result ring. head is the parent's, tail the worker's; `sleeping` is
 * set while the worker position's worker sleeps on disp_seq. `cut_off` is
 * set (to fd + 1) by a worker that found one of the file descriptors joining
 * it to the parent closed or replaced by a task, just before it exits; the
 * parent reads it when it reaps the worker, and clears it. */
typedef struct mt__shm_ring {
    MT__ALIGNED _Atomic uint64_t head;
    MT__ALIGNED _Atomic uint64_t tail;
    MT__ALIGNED _Atomic uint32_t sleeping;
    _Atomic uint32_t cut_off;
    MT__ALIGNED char data[RESULT_RING_BYTES];
} mt__shm_ring;

/* Result record kinds. */
enum {
    REC_PAD = 0,     /* skip to the start of the ring */
    REC_RESULT = 1,  /* a job's results follow */
    REC_LARGE = 2,   /* a job's results are in a memfd sent on the socket */
    REC_READY = 3,   /* a worker started and ran its initializer */
    REC_INITFAIL = 4 /* the initializer failed: err, message follows */
};

/*
 * A record: this header, then for REC_RESULT the items' bytes back to back
 * followed by nitems entries {err, end} (end: offset just past the item's
 * bytes). When every item succeeded with results of one size (`uniform`),
 * the entries are left out: item j is at j * item_len. A REC_LARGE record
 * has the same body in a memfd instead. A record with a job-level err has no
 * entries: its body is the error message. Records start 8-byte aligned.
 */
typedef struct mt__rec_hdr {
    uint32_t size; /* the whole record, aligned up to 8 */
    uint32_t kind;
    uint32_t slot;
    uint32_t gen;
    uint32_t nitems;
    int32_t err;       /* a job-level failure (its items all fail with it) */
    uint64_t body;     /* bytes after this header (data + entries) */
    uint32_t nfailed;  /* items that returned an error */
    uint32_t uniform;  /* 1: no entries; every item succeeded with item_len bytes */
    uint64_t item_len; /* with uniform */
} mt__rec_hdr;

typedef struct mt__rec_entry {
    int32_t err;
    uint32_t pad;
    uint64_t end;
} mt__rec_entry;

/* A module (the executable or a shared library) as the parent loaded it. */
typedef struct mt__shm_module {
    uint64_t bias;  /* load bias: addresses in the file + bias */
    uint64_t start; /* lowest mapped address */
    uint64_t end;   /* just past the highest */
    char name[MODULE_NAME_BYTES];
} mt__shm_module;

typedef struct mt__shm_header {
    uint32_t magic;
    uint32_t nslots;     /* a power of two, at most 65536 */
    uint32_t nworkers;   /* worker positions */
    uint32_t nmodules;
    uint64_t slot_bytes; /* inline payload bytes per slot */
    uint64_t slots_off, ring_off, results_off, payload_off, initarg_off, modules_off, total;
    uint64_t initarg_len;
    uint64_t initializer; /* parent address, or 0 */
    uint32_t maxtasks;
    int32_t parent_pid;

    MT__ALIGNED _Atomic uint64_t disp_head; /* workers */
    MT__ALIGNED _Atomic uint64_t disp_tail; /* parent */
    MT__ALIGNED _Atomic uint32_t disp_seq;  /* futex workers sleep on */
    _Atomic uint32_t stop;                  /* 1: exit when idle; 2: exit now */
    MT__ALIGNED _Atomic uint32_t sup_sleeping; /* the supervisor sleeps in poll */
    _Atomic uint32_t watching;                 /* parent threads reading the rings */
} mt__shm_header;

#define SHM_AT(h, off, type) ((type)((char *)(h) + (off)))

static inline mt__shm_slot *shm_slots(mt__shm_header *h)
{
    return SHM_AT(h, h->slots_off, mt__shm_slot *);
}
static inline _Atomic uint64_t *shm_disp(mt__shm_header *h)
{
    return SHM_AT(h, h->ring_off, _Atomic uint64_t *);
}
static inline mt__shm_ring *shm_result_ring(mt__shm_header *h, uint32_t worker)
{
    return SHM_AT(h, h->results_off, mt__shm_ring *) + worker;
}
static inline char *shm_payload(mt__shm_header *h, uint32_t slot)
{
    return SHM_AT(h, h->payload_off, char *) + (uint64_t)slot * h->slot_bytes;
}
static inline mt__shm_module *shm_modules(mt__shm_header *h)
{
    return SHM_AT(h, h->modules_off, mt__shm_module *);
}

/*
 * Create the memfd and map it (MAP_SHARED). Returns 0 with *out and *fd set,
 * or -errno.
 */
int mt__shm_create(mt__shm_header **out, int *fd, uint32_t nslots, uint32_t nworkers,
                   uint64_t slot_bytes, uint64_t initarg_len);

/* Map an existing pool memfd (a spawned worker). Returns 0 or -errno. */
int mt__shm_attach(mt__shm_header **out, int fd);

/* Unmap. */
void mt__shm_detach(mt__shm_header *h);

/* Allocate a worker position's result ring now rather than page by page as
 * records arrive. Returns 0 (also on kernels before 5.14, which lack the
 * call), or -ENOMEM when the memory is not there to be had. Done by
 * the parent once; a worker then only maps pages that exist, which costs it
 * less than populating them itself would delay its start. */
int mt__shm_prefault_ring(mt__shm_header *h, uint32_t worker);

#endif
