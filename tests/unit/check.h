/*
 * Tiny assertion macros for the plain-C unit tests: each CHECK counts a pass or prints
 * file:line and the failed expression, and check_summary() prints "NAME: N passed, N failed"
 * and gives the exit status. Failures do not stop the test, so one run shows all of them.
 */
#ifndef HOOKPIPE_CHECK_H
#define HOOKPIPE_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed;
static int check_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

/* Like CHECK, with a printf-style explanation on failure. */
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                         \
    do {                                                                                           \
        const char *check_a_ = (a), *check_b_ = (b);                                               \
        CHECKF(check_a_ != NULL && check_b_ != NULL && strcmp(check_a_, check_b_) == 0,            \
               "\"%s\" != \"%s\"", check_a_ ? check_a_ : "(null)",                                 \
               check_b_ ? check_b_ : "(null)");                                                    \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
    do {                                                                                           \
        const char *check_h_ = (hay), *check_n_ = (needle);                                        \
        CHECKF(check_h_ != NULL && strstr(check_h_, check_n_) != NULL,                             \
               "\"%s\" does not contain \"%s\"", check_h_ ? check_h_ : "(null)", check_n_);        \
    } while (0)

#define CHECK_LONG_EQ(a, b)                                                                        \
    do {                                                                                           \
        long check_x_ = (long)(a), check_y_ = (long)(b);                                           \
        CHECKF(check_x_ == check_y_, "%ld != %ld", check_x_, check_y_);                            \
    } while (0)

/* Prints the summary line; returns the process exit status (0 when all passed). */
static inline int check_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed == 0 && check_passed > 0 ? 0 : 1;
}

#endif
