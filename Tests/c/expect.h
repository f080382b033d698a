/*
 * The C tests' check macros: count a check, report a failure with its location and
 * keep going (main returns non-zero if any failed).
 */
#ifndef DESCENT_TEST_EXPECT_H
#define DESCENT_TEST_EXPECT_H

#include <stdio.h>
#include <string.h>

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

/* One row of a bad-input table: a bad call, the status it must get and a piece of the
 * message it must leave. */
typedef struct {
    const char *name;
    descent_status expected;
    const char *message;
} Row;

/* A bad-input table is one X-macro list of (name, status, message piece, call): TABLE_ROW
 * makes its Row entries, TABLE_CALL (with `row` the row to run and `k` an int counter at
 * 0) returns that row's call. */
#define TABLE_ROW(name, status, message, call) {name, status, message},
#define TABLE_CALL(name, status, message, call) \
    if (row == k++) return (call);

/* Checks row `i`'s status and message, right after its call: the message is the first
 * of `messages` (the places a failure can report to) that holds the expected piece. */
static inline void check_row(int i, const Row *row, descent_status status, const char *const *messages, int count) {
    const char *message = messages[count - 1];
    for (int k = 0; k < count; k++) {
        if (strstr(messages[k], row->message)) {
            message = messages[k];
            break;
        }
    }
    EXPECT(status == row->expected, "row %d '%s': got %s, expected %s (%s)", i, row->name,
           descent_status_name(status), descent_status_name(row->expected), message);
    EXPECT(strstr(message, row->message) != NULL, "row %d '%s': message '%s' lacks '%s'", i, row->name,
           message, row->message);
}

#endif
