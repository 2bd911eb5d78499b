/*
 * criterion/criterion.h (TSan builds only) - the subset of Criterion's API the
 * test suites use, for ThreadSanitizer builds: Criterion's own runner cannot
 * start under ThreadSanitizer (its inheritable arena collides with the
 * sanitizer's memory layout, Criterion issue #274). Test sources are the same;
 * runner.c provides main(): each test runs in its own forked process with
 * its timeout, and the summary line matches Criterion's.
 */
#ifndef MT_TSAN_RUNNER_CRITERION_H
#define MT_TSAN_RUNNER_CRITERION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Test(s, n) without options leaves the option fields to zero, on purpose. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

struct shim_test {
    const char *suite, *name;
    void (*fn)(void);
    void (*init)(void);
    void (*fini)(void);
    double timeout;
    bool disabled;
    const char *description;
    int exit_code;
    int signal;
};

void shim_register(struct shim_test *t);
void shim_fail(bool fatal, const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#define Test(suite, name, ...)                                                                     \
    static void shim_fn_##suite##_##name(void);                                                    \
    static struct shim_test shim_t_##suite##_##name = {#suite, #name, shim_fn_##suite##_##name,   \
                                                       __VA_ARGS__};                               \
    __attribute__((constructor)) static void shim_reg_##suite##_##name(void)                       \
    {                                                                                              \
        shim_register(&shim_t_##suite##_##name);                                                   \
    }                                                                                              \
    static void shim_fn_##suite##_##name(void)

/* The optional message is a format string and its arguments, or nothing;
 * the leading space keeps an empty one from being a zero-length format. */
#define SHIM_CHECK(fatal, cond, expr, ...)                                                         \
    do {                                                                                           \
        if (!(cond))                                                                               \
            shim_fail(fatal, __FILE__, __LINE__, expr, " " __VA_ARGS__);                           \
    } while (0)

#define cr_assert(c, ...) SHIM_CHECK(true, (c), #c, __VA_ARGS__)
#define cr_expect(c, ...) SHIM_CHECK(false, (c), #c, __VA_ARGS__)
#define cr_assert_not(c, ...) SHIM_CHECK(true, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_expect_not(c, ...) SHIM_CHECK(false, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) SHIM_CHECK(true, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_expect_eq(a, b, ...) SHIM_CHECK(false, (a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) SHIM_CHECK(true, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) SHIM_CHECK(false, (a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) SHIM_CHECK(true, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...) SHIM_CHECK(false, (a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) SHIM_CHECK(true, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...) SHIM_CHECK(false, (a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) SHIM_CHECK(true, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...) SHIM_CHECK(false, (a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) SHIM_CHECK(true, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...) SHIM_CHECK(false, (a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_null(a, ...) SHIM_CHECK(true, (a) == NULL, #a " == NULL", __VA_ARGS__)
#define cr_expect_null(a, ...) SHIM_CHECK(false, (a) == NULL, #a " == NULL", __VA_ARGS__)
#define cr_assert_not_null(a, ...) SHIM_CHECK(true, (a) != NULL, #a " != NULL", __VA_ARGS__)
#define cr_expect_not_null(a, ...) SHIM_CHECK(false, (a) != NULL, #a " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) SHIM_CHECK(true, strcmp((a), (b)) == 0, #a " eq " #b, __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...) SHIM_CHECK(false, strcmp((a), (b)) == 0, #a " eq " #b, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...) SHIM_CHECK(true, strcmp((a), (b)) != 0, #a " neq " #b, __VA_ARGS__)
#define cr_expect_str_neq(a, b, ...) SHIM_CHECK(false, strcmp((a), (b)) != 0, #a " neq " #b, __VA_ARGS__)
#define cr_assert_str_empty(a, ...) SHIM_CHECK(true, *(a) == '\0', #a " empty", __VA_ARGS__)
#define cr_expect_str_empty(a, ...) SHIM_CHECK(false, *(a) == '\0', #a " empty", __VA_ARGS__)
#define cr_assert_str_not_empty(a, ...) SHIM_CHECK(true, *(a) != '\0', #a " not empty", __VA_ARGS__)
#define cr_expect_str_not_empty(a, ...) SHIM_CHECK(false, *(a) != '\0', #a " not empty", __VA_ARGS__)
#define cr_assert_arr_eq(a, b, n, ...) SHIM_CHECK(true, memcmp((a), (b), (n)) == 0, #a " == " #b, __VA_ARGS__)
#define cr_expect_arr_eq(a, b, n, ...) SHIM_CHECK(false, memcmp((a), (b), (n)) == 0, #a " == " #b, __VA_ARGS__)
#define cr_assert_fail(...) SHIM_CHECK(true, 0, "fail", __VA_ARGS__)
#define cr_expect_fail(...) SHIM_CHECK(false, 0, "fail", __VA_ARGS__)
#define cr_skip_test(...) return
#define cr_log_info(...) ((void)0)
#define cr_log_warn(...) ((void)0)

#endif
