/*
 * Concurrency, built plain, under ASan+UBSan and under ThreadSanitizer:
 * 1. Separate optimizers stepped, saved and loaded on separate threads at once give
 *    bit-identical results to the same runs one after another.
 * 2. One optimizer (and its schedule) used from two threads at once: every call
 *    succeeds, serialized by the optimizer's lock; no step is lost.
 */
#define _POSIX_C_SOURCE 200809L
#include <descent.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"

enum { RUNS = 4, SIZE = 40000, STEPS = 60, SHARED_CALLS = 300 };

typedef struct {
    descent_algorithm algorithm;
    float param[SIZE], grad[SIZE];
    int failed_calls;
} Run;

static Run serial[RUNS], parallel[RUNS];

/* Steps one optimizer of its own, saving and loading a checkpoint every 10 steps. */
static void *train(void *arg) {
    Run *run = arg;
    descent_optimizer *opt = NULL;
    descent_schedule *schedule = NULL;
    int bad = 0;
    bad += descent_create(run->algorithm, NULL, &opt) != DESCENT_OK;
    bad += descent_add_group(opt, NULL, NULL) != DESCENT_OK;
    for (int k = 0; k < SIZE; k++) run->param[k] = sinf(0.01f * (float)k);
    bad += descent_add_param(opt, 0, run->param, run->grad, SIZE, NULL) != DESCENT_OK;
    bad += descent_schedule_exponential_lr(opt, 0.97, &schedule) != DESCENT_OK;
    unsigned char *bytes = NULL;
    for (int t = 0; t < STEPS; t++) {
        for (int k = 0; k < SIZE; k++) run->grad[k] = cosf(0.3f * (float)k + (float)t);
        bad += descent_step(opt) != DESCENT_OK;
        bad += descent_schedule_step(schedule) != DESCENT_OK;
        if (t % 10 == 9) {
            size_t size = 0;
            bad += descent_checkpoint_size(opt, &size) != DESCENT_OK;
            bytes = realloc(bytes, size);
            bad += descent_checkpoint_save(opt, bytes, size, NULL) != DESCENT_OK;
            bad += descent_checkpoint_load(opt, bytes, size) != DESCENT_OK;
        }
    }
    free(bytes);
    bad += descent_schedule_free(schedule) != DESCENT_OK;
    bad += descent_free(opt) != DESCENT_OK;
    run->failed_calls = bad;
    return NULL;
}

static void test_separate_optimizers(void) {
    for (int i = 0; i < RUNS; i++) {
        serial[i].algorithm = parallel[i].algorithm = (descent_algorithm)(1 + i % 5);
        train(&serial[i]);
    }
    pthread_t threads[RUNS];
    for (int i = 0; i < RUNS; i++) pthread_create(&threads[i], NULL, train, &parallel[i]);
    for (int i = 0; i < RUNS; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < RUNS; i++) {
        EXPECT(serial[i].failed_calls == 0 && parallel[i].failed_calls == 0, "run %d: %d and %d failed calls", i,
               serial[i].failed_calls, parallel[i].failed_calls);
        EXPECT(!memcmp(serial[i].param, parallel[i].param, sizeof serial[i].param),
               "run %d: threads changed the result", i);
    }
}

/* ------------------------------------------------- one optimizer, two threads */

static descent_optimizer *shared;
static descent_schedule *shared_schedule;
static float shared_param[SIZE], shared_grad[SIZE];

static void *stepper(void *arg) {
    int *bad = arg;
    for (int i = 0; i < SHARED_CALLS; i++) {
        *bad += descent_step(shared) != DESCENT_OK;
        *bad += descent_zero_grad(shared) != DESCENT_OK;
    }
    return NULL;
}

static void *inspector(void *arg) {
    int *bad = arg;
    int64_t last = 0;
    unsigned char *bytes = NULL;
    for (int i = 0; i < SHARED_CALLS; i++) {
        /* The size can grow between the two calls (the other thread's first step
         * allocates state): a too-small buffer fails cleanly with the size needed. */
        size_t size = 0, needed = 0;
        *bad += descent_checkpoint_size(shared, &size) != DESCENT_OK;
        bytes = realloc(bytes, size);
        descent_status status = descent_checkpoint_save(shared, bytes, size, &needed);
        if (status == DESCENT_ERROR_INVALID_ARGUMENT && needed > size) {
            bytes = realloc(bytes, needed);
            status = descent_checkpoint_save(shared, bytes, needed, NULL);
        }
        *bad += status != DESCENT_OK;
        int64_t steps = 0;
        *bad += descent_param_step_count(shared, 0, &steps) != DESCENT_OK;
        *bad += steps < last; /* steps only go up */
        last = steps;
        double lr = 0;
        *bad += descent_group_get(shared, 0, DESCENT_OPTION_LR, &lr) != DESCENT_OK;
        *bad += descent_schedule_step(shared_schedule) != DESCENT_OK;
        *bad += descent_group_set(shared, 0, DESCENT_OPTION_WEIGHT_DECAY, 0.01) != DESCENT_OK;
        /* A failing call: its message goes to this optimizer, and the call is harmless. */
        *bad += descent_group_set(shared, 7, DESCENT_OPTION_LR, 0.1) != DESCENT_ERROR_OUT_OF_RANGE;
        *bad += descent_last_error(shared) == NULL;
    }
    free(bytes);
    return NULL;
}

static void test_shared_optimizer(void) {
    MUST(descent_create(DESCENT_ADAMW, NULL, &shared));
    MUST(descent_add_group(shared, NULL, NULL));
    MUST(descent_add_param(shared, 0, shared_param, shared_grad, SIZE, NULL));
    MUST(descent_schedule_cosine_annealing_lr(shared, 50, 0.0, &shared_schedule));
    int bad_steps = 0, bad_inspections = 0;
    pthread_t a, b;
    pthread_create(&a, NULL, stepper, &bad_steps);
    pthread_create(&b, NULL, inspector, &bad_inspections);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    int64_t steps = 0;
    MUST(descent_param_step_count(shared, 0, &steps));
    EXPECT(bad_steps == 0 && bad_inspections == 0, "%d step calls and %d other calls went wrong", bad_steps,
           bad_inspections);
    EXPECT(steps == SHARED_CALLS, "%lld steps counted, %d taken", (long long)steps, SHARED_CALLS);
    MUST(descent_schedule_free(shared_schedule));
    MUST(descent_free(shared));
}

int main(void) {
    test_separate_optimizers();
    test_shared_optimizer();
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
