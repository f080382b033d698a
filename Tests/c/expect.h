/*
 * The C tests' check macros: count a check, report a failure with its location and
 * keep going (main returns non-zero if any failed).
 */
#ifndef DESCENT_TEST_EXPECT_H
#define DESCENT_TEST_EXPECT_H

#include <stdio.h>

static int failures = 0, checks = 0;

#define EXPECT(cond, ...)                                            \
    do {                                                             \
        checks++;                                                    \
        if (!(cond)) {                                               \
            failures++;                                              \
            fprintf(stderr, "%s:%d: FAILED %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                            \
            fprintf(stderr, "\n");                                   \
        }                                                            \
    } while (0)

#define MUST(call) EXPECT((call) == DESCENT_OK, "%s", descent_last_error(NULL))

#endif
