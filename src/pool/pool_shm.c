/*
 * pool_shm.c - lay out, create and map the pool's shared memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool_shm.h"

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

int mt__shm_create(mt__shm_header **out, int *fdp, uint32_t nslots, uint32_t nworkers,
                   uint64_t slot_bytes, uint64_t initarg_len)
{
    mt__shm_header lay = {.magic = SHM_MAGIC, .nslots = nslots, .nworkers = nworkers,
                      .slot_bytes = slot_bytes, .initarg_len = initarg_len};
    uint64_t off = align_up(sizeof(mt__shm_header), 4096);
    lay.slots_off = off;
    off = align_up(off + (uint64_t)nslots * sizeof(mt__shm_slot), MT__CACHELINE);
    lay.ring_off = off;
    off = align_up(off + (uint64_t)nslots * sizeof(uint64_t), 4096);
    lay.results_off = off;
    off = align_up(off + (uint64_t)nworkers * sizeof(mt__shm_ring), 4096);
    lay.payload_off = off;
    off = align_up(off + (uint64_t)nslots * slot_bytes, 4096);
    lay.initarg_off = off;
    off = align_up(off + initarg_len, 64);
    lay.modules_off = off;
    off = align_up(off + MAX_MODULES * sizeof(mt__shm_module), 4096);
    lay.total = off;

    int fd = memfd_create("multitask-pool", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)lay.total) < 0)
        goto fail;
    /* The file is sparse: pages are committed only as they are touched. */
    mt__shm_header *h = mmap(NULL, lay.total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED)
        goto fail;
    memcpy(h, &lay, sizeof lay);
    _Atomic uint64_t *disp = shm_disp(h);
    for (uint32_t i = 0; i < nslots; i++)
        atomic_init(&disp[i], 0);
    *out = h;
    *fdp = fd;
    return 0;
fail:;
    int err = -errno;
    close(fd);
    return err;
}

int mt__shm_attach(mt__shm_header **out, int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if ((size_t)st.st_size < sizeof(mt__shm_header))
        return -EINVAL;
    mt__shm_header *h = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED)
        return -errno;
    if (h->magic != SHM_MAGIC || h->total != (uint64_t)st.st_size) {
        munmap(h, (size_t)st.st_size);
        return -EINVAL;
    }
    *out = h;
    return 0;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

int mt__shm_prefault_ring(mt__shm_header *h, uint32_t worker)
{
    if (madvise(shm_result_ring(h, worker), sizeof(mt__shm_ring), MADV_POPULATE_WRITE) == 0)
        return 0;
    return errno == ENOMEM || errno == EFAULT ? -ENOMEM : 0;
}

void mt__shm_detach(mt__shm_header *h)
{
    if (h)
        munmap(h, h->total);
}
