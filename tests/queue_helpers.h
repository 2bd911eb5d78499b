/*
 * queue_helpers.h - what the queue tests and their peer program share:
 * self-checking messages (a partial or mixed-up copy never passes the check)
 * and unique names for named queues.
 */
#ifndef MT_TEST_QUEUE_HELPERS_H
#define MT_TEST_QUEUE_HELPERS_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The size of message `id`: 16 to 48 bytes (inside the slot) three times in
 * four, else up to max bytes (in the data area). Never all zeros. */
static inline size_t msg_size(uint64_t id, size_t max)
{
    uint64_t h = (id + 1) * 0x9E3779B97F4A7C15ull;
    size_t span = (h >> 62) ? 33 : max - 15;
    return 16 + (size_t)((h >> 32) % span);
}

/* Write message `id` into buf (at least msg_size(id, max) bytes); returns its length. */
static inline size_t msg_make(char *buf, uint64_t id, size_t max)
{
    size_t len = msg_size(id, max);
    memcpy(buf, &id, sizeof id);
    for (size_t k = 8; k < len; k++)
        buf[k] = (char)(id * 31 + k);
    return len;
}

/* The id of a whole, intact message of len bytes, or -1. */
static inline int64_t msg_check(const char *buf, size_t len, size_t max)
{
    uint64_t id;
    if (len < 8)
        return -1;
    memcpy(&id, buf, sizeof id);
    if (id > (uint64_t)INT64_MAX || len != msg_size(id, max))
        return -1;
    for (size_t k = 8; k < len; k++)
        if (buf[k] != (char)(id * 31 + k))
            return -1;
    return (int64_t)id;
}

/* A queue name no other test run uses at the same time. */
static inline void unique_name(char *out, size_t size, const char *what)
{
    snprintf(out, size, "mt-test-%s-%d", what, (int)getpid());
}

#endif
