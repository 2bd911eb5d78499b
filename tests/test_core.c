/*
 * test_core.c - errors, time, buffers, packing.
 */
#define _GNU_SOURCE
#include <math.h>

#include "helpers.h"

#include "../src/core/core_internal.h"

Test(core, error_names_and_messages)
{
    cr_expect_str_eq(mt_err_name(-EAGAIN), "EAGAIN");
    cr_expect_str_eq(mt_err_name(MT_EWORKER), "MT_EWORKER");
    cr_expect_str_eq(mt_err_name(MT_EOF), "MT_EOF");
    cr_expect_str_eq(mt_err_name(-99999), "EUNKNOWN");
    cr_expect_str_eq(mt_strerror(-ETIMEDOUT), "timed out");
    cr_expect_str_eq(mt_strerror(-ENOENT), "No such file or directory");
    cr_expect_str_eq(mt_strerror(MT_ECLOSED), "closed: it takes no more work or items");
    cr_expect_str_eq(mt_strerror(MT_EKEY), "no such key");
    cr_expect_str_eq(mt_strerror(MT_EINDEX), "index out of range");
    cr_expect_str_eq(mt_err_name(MT_ENOTCORO), "MT_ENOTCORO");
    cr_expect_str_eq(mt_strerror(MT_EBROKEN), "pool is broken: its workers cannot start");
    cr_expect_str_eq(mt_strerror(12345), "unknown error");
    cr_expect_str_eq(mt_strerror(0), "success");
}

Test(core, version)
{
    cr_expect_str_eq(mt_version(), MT_VERSION_STRING);
}

Test(core, sleep_sleeps_and_rejects_bad_durations)
{
    double t0 = mt_monotonic();
    cr_assert_eq(mt_sleep(0.05), 0);
    double dt = mt_monotonic() - t0;
    cr_expect_geq(dt, 0.05);
    cr_expect_eq(mt_sleep(-1), -EINVAL);
    cr_expect_eq(mt_sleep(NAN), -EINVAL);
    cr_expect_eq(mt_sleep(INFINITY), -EINVAL);
}

Test(core, clocks)
{
    cr_expect_gt(mt_time(), 1.6e9);
    uint64_t a = mt_monotonic_ns(), b = mt_monotonic_ns();
    cr_expect_geq(b, a);
}

Test(buf, append_printf_move)
{
    mt_buf b = MT_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(mt_buf_append(&b, "ab", 2), 0);
    cr_expect_eq(b.len, 2000);
    cr_assert_eq(mt_buf_printf(&b, "%d-%s", 42, "x"), 0);
    cr_expect_eq(b.len, 2004);
    cr_expect_eq(memcmp(b.data + 2000, "42-x", 4), 0);
    cr_expect_eq(b.data[b.len], '\0');
    mt_buf c = MT_BUF_INIT;
    mt_buf_move(&c, &b);
    cr_expect_eq(b.data, NULL);
    cr_expect_eq(c.len, 2004);
    mt_buf_reset(&c);
    cr_expect_eq(c.len, 0);
    mt_buf_free(&c);
    mt_buf_free(&c); /* twice is harmless */
}

Test(buf, grow_refuses_absurd_sizes)
{
    mt_buf b = MT_BUF_INIT;
    cr_expect_eq(mt_buf_reserve(&b, SIZE_MAX), -ENOMEM);
    cr_expect_eq(b.data, NULL);
}

Test(task, fail_writes_the_message)
{
    mt_buf b = MT_BUF_INIT;
    mt_buf_append(&b, "partial", 7);
    cr_expect_eq(mt_fail(&b, -ENOENT, "no file %s", "x"), -ENOENT);
    cr_expect_eq(b.len, 9);
    cr_expect_eq(memcmp(b.data, "no file x", 9), 0);
    cr_expect_eq(mt_fail(&b, 5, "positive"), MT_EFAILED);
    mt_buf_free(&b);
}

Test(task, pack_and_unpack)
{
    mt_buf b = MT_BUF_INIT;
    mt_iov in[3] = {{"alpha", 5}, {"", 0}, {"\0\1\2", 3}};
    cr_assert_eq(mt_pack(&b, in, 3), 0);
    mt_iov out[3];
    cr_assert_eq(mt_unpack(b.data, b.len, out, 3), 3);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(out[i].len, in[i].len);
        cr_expect_eq(memcmp(out[i].data, in[i].data, in[i].len), 0);
    }
    /* More ranges than room: the count still says how many. */
    cr_expect_eq(mt_unpack(b.data, b.len, out, 1), 3);
    /* Truncated or padded bytes are not a pack. */
    cr_expect_eq(mt_unpack(b.data, b.len - 1, out, 3), -EINVAL);
    mt_buf_append(&b, "x", 1);
    cr_expect_eq(mt_unpack(b.data, b.len, out, 3), -EINVAL);
    cr_expect_eq(mt_unpack(NULL, 0, out, 3), -EINVAL);
    mt_buf_free(&b);
}

/* The library's own ceil (it links no libm) against libm's. */
LEAK_TEST(core, ceil_without_libm_matches_libm)
{
    const double xs[] = {0.0,   -0.0, 0.5,  1.0,  1.0000001, -0.5,         -1.5,
                         -2.0,  3e9,  3e9 + 0.25, 1e18 + 0.5, 2.5e-300,   -2.5e-300,
                         4.9999999999};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++)
        cr_expect_eq(mt__ceil_i64(xs[i]), (int64_t)ceil(xs[i]), "ceil(%.17g)", xs[i]);
}
