/*
 * Sparse gradients through the C ABI (descent_set_sparse_grad), written from
 * include/descent.h alone. The arithmetic is held to torch's in Tests/python/test_sparse.py;
 * here, what the header promises:
 *
 * 1. Repeated rows are summed in the order given: the same step as the summed rows.
 * 2. Only the rows present move (Adagrad, SparseAdam), parameter and state.
 * 3. SGD steps a sparse gradient as the dense one it is (momentum included).
 * 4. Every step kind uses it: descent_step, and NULL entries of descent_step_with_grads;
 *    descent_zero_grad leaves it with no rows; descent_set_grad replaces it.
 * 5. Bad input: a status and a message naming what is wrong, and nothing changed.
 */
#include <descent.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "expect.h"

enum { ROWS = 5, ROW = 3, N = ROWS * ROW };

typedef struct {
    descent_optimizer *opt;
    float param[N];
} Fixture;

/* Fills `f` in place: the optimizer holds the address of f->param. */
static void make(Fixture *f, descent_algorithm algorithm) {
    for (int i = 0; i < N; i++) f->param[i] = 0.25f * (float)(i % 7) - 0.5f;
    MUST(descent_create(algorithm, NULL, &f->opt));
    MUST(descent_add_group(f->opt, NULL, NULL));
    MUST(descent_add_param(f->opt, 0, f->param, NULL, N, NULL));
}

static float *state(Fixture *f, const char *name) {
    float *s = NULL;
    MUST(descent_param_state(f->opt, 0, name, &s));
    return s;
}

/* Rows 3, 1, 3 (row 3 twice), and the same as rows 1 and 3 with row 3 summed first. */
static const int64_t repeated[] = {3, 1, 3};
static const float repeated_values[] = {0.5f, -1, 2, 0.25f, 0.125f, -3, 1.5f, 4, -0.75f};
static const int64_t summed[] = {1, 3};
static const float summed_values[] = {0.25f, 0.125f, -3, 0.5f + 1.5f, -1 + 4, 2 - 0.75f};

static void test_repeats_sum_in_order_and_only_present_rows_move(void) {
    const descent_algorithm algorithms[] = {DESCENT_SPARSE_ADAM, DESCENT_ADAGRAD};
    const char *states[] = {"exp_avg_sq", "sum"};
    for (int a = 0; a < 2; a++) {
        Fixture x, y;
        make(&x, algorithms[a]);
        make(&y, algorithms[a]);
        float before[N];
        memcpy(before, x.param, sizeof before);
        for (int step = 0; step < 3; step++) {
            MUST(descent_set_sparse_grad(x.opt, 0, repeated, 3, repeated_values, ROW));
            MUST(descent_set_sparse_grad(y.opt, 0, summed, 2, summed_values, ROW));
            MUST(descent_step(x.opt));
            MUST(descent_step(y.opt));
        }
        EXPECT(!memcmp(x.param, y.param, sizeof x.param), "%s: repeated rows differ from summed ones",
               descent_algorithm_name(algorithms[a]));
        float *s = state(&x, states[a]);
        for (int row = 0; row < ROWS; row++) {
            int present = row == 1 || row == 3;
            for (int k = 0; k < ROW; k++) {
                int i = row * ROW + k;
                EXPECT(present == (x.param[i] != before[i]), "%s: row %d element %d", descent_algorithm_name(algorithms[a]), row, k);
                if (!present) EXPECT(s[i] == 0.0f, "state of row %d", row);
            }
        }
        int64_t steps = 0;
        MUST(descent_param_step_count(x.opt, 0, &steps));
        EXPECT(steps == 3, "%lld steps", (long long)steps);
        MUST(descent_free(x.opt));
        MUST(descent_free(y.opt));
    }
}

static void test_sgd_steps_the_dense_gradient(void) {
    float dense_gradient[N] = {0};
    for (int k = 0; k < 2; k++)
        for (int e = 0; e < ROW; e++) dense_gradient[summed[k] * ROW + e] = summed_values[k * ROW + e];
    Fixture x, y;
    make(&x, DESCENT_SGD);
    make(&y, DESCENT_SGD);
    MUST(descent_group_set(x.opt, 0, DESCENT_OPTION_MOMENTUM, 0.9));
    MUST(descent_group_set(y.opt, 0, DESCENT_OPTION_MOMENTUM, 0.9));
    MUST(descent_group_set(x.opt, 0, DESCENT_OPTION_NESTEROV, 1));
    MUST(descent_group_set(y.opt, 0, DESCENT_OPTION_NESTEROV, 1));
    MUST(descent_set_grad(y.opt, 0, dense_gradient));
    for (int step = 0; step < 3; step++) {
        MUST(descent_set_sparse_grad(x.opt, 0, repeated, 3, repeated_values, ROW));
        MUST(descent_step(x.opt));
        MUST(descent_step(y.opt));
    }
    EXPECT(!memcmp(x.param, y.param, sizeof x.param), "SGD: sparse differs from dense");
    MUST(descent_free(x.opt));
    MUST(descent_free(y.opt));
}

static void test_every_step_kind_uses_it_and_zero_grad_empties_it(void) {
    Fixture x, y;
    make(&x, DESCENT_SPARSE_ADAM);
    make(&y, DESCENT_SPARSE_ADAM);
    MUST(descent_set_sparse_grad(x.opt, 0, summed, 2, summed_values, ROW));
    MUST(descent_set_sparse_grad(y.opt, 0, summed, 2, summed_values, ROW));
    const float *none[1] = {NULL};
    MUST(descent_step(x.opt));
    MUST(descent_step_with_grads(y.opt, none, 1));
    EXPECT(!memcmp(x.param, y.param, sizeof x.param), "step_with_grads(NULL) did not use the sparse gradient");
    /* It stays for the next step until zeroed; then a step moves nothing but counts. */
    MUST(descent_step(x.opt));
    float before[N];
    memcpy(before, x.param, sizeof before);
    MUST(descent_zero_grad(x.opt));
    MUST(descent_step(x.opt));
    EXPECT(!memcmp(x.param, before, sizeof before), "a zeroed sparse gradient moved the parameter");
    int64_t steps = 0;
    MUST(descent_param_step_count(x.opt, 0, &steps));
    EXPECT(steps == 3, "%lld steps", (long long)steps);
    /* set_grad(NULL) removes it: no gradient, no step. */
    MUST(descent_set_sparse_grad(x.opt, 0, summed, 2, summed_values, ROW));
    MUST(descent_set_grad(x.opt, 0, NULL));
    MUST(descent_step(x.opt));
    MUST(descent_param_step_count(x.opt, 0, &steps));
    EXPECT(steps == 3 && !memcmp(x.param, before, sizeof before), "a removed sparse gradient stepped");
    MUST(descent_free(x.opt));
    MUST(descent_free(y.opt));
}

/* Bad calls on a SparseAdam optimizer `f` holding a sparse gradient (rows 1 and 3):
 * name, status, message piece, call. */
static const int64_t out_of_range[] = {1, 5}, negative[] = {-1};
static float dense[N];
#define BAD_INPUT(X) \
    X("row 5 of 5", DESCENT_ERROR_OUT_OF_RANGE, "sparse gradient of parameter 0: row index 5 is out of range (the parameter has 5 rows of 3)", descent_set_sparse_grad(f->opt, 0, out_of_range, 2, summed_values, ROW)) \
    X("row -1", DESCENT_ERROR_OUT_OF_RANGE, "row index -1 is out of range", descent_set_sparse_grad(f->opt, 0, negative, 1, summed_values, ROW)) \
    X("row size 4", DESCENT_ERROR_INVALID_ARGUMENT, "row size 4 does not divide its 15 elements", descent_set_sparse_grad(f->opt, 0, summed, 2, summed_values, 4)) \
    X("row size 0", DESCENT_ERROR_INVALID_ARGUMENT, "row size 0 does not divide", descent_set_sparse_grad(f->opt, 0, summed, 2, summed_values, 0)) \
    X("indices NULL", DESCENT_ERROR_INVALID_ARGUMENT, "indices or values is NULL", descent_set_sparse_grad(f->opt, 0, NULL, 2, summed_values, ROW)) \
    X("values NULL", DESCENT_ERROR_INVALID_ARGUMENT, "indices or values is NULL", descent_set_sparse_grad(f->opt, 0, summed, 2, NULL, ROW)) \
    X("count (size_t)-1", DESCENT_ERROR_INVALID_ARGUMENT, "is too large", descent_set_sparse_grad(f->opt, 0, summed, (size_t)-1, summed_values, ROW)) \
    X("parameter 1", DESCENT_ERROR_OUT_OF_RANGE, "parameter index 1 is out of range", descent_set_sparse_grad(f->opt, 1, summed, 2, summed_values, ROW)) \
    X("opt NULL", DESCENT_ERROR_NULL_POINTER, "opt is NULL", descent_set_sparse_grad(NULL, 0, summed, 2, summed_values, ROW)) \
    X("a dense gradient", DESCENT_ERROR_UNSUPPORTED, "SparseAdam does not support dense gradients, please consider Adam instead", (descent_set_grad(f->opt, 0, dense), descent_step(f->opt)))

static const Row rows[] = {BAD_INPUT(TABLE_ROW)};

static descent_status run_row(int row, Fixture *f) {
    int k = 0;
    BAD_INPUT(TABLE_CALL)
    return DESCENT_ERROR_INTERNAL;
}

/* Each bad call leaves the parameter, its state and its step count as they were; a
 * refused sparse gradient leaves the one set before (the last row's dense gradient is
 * the exception it tests: refused at the step). */
static void test_bad_input_table(void) {
    int n = (int)(sizeof rows / sizeof rows[0]);
    for (int i = 0; i < n; i++) {
        Fixture f;
        make(&f, DESCENT_SPARSE_ADAM);
        MUST(descent_set_sparse_grad(f.opt, 0, summed, 2, summed_values, ROW));
        MUST(descent_step(f.opt));
        float before[N], moments[N];
        memcpy(before, f.param, sizeof before);
        memcpy(moments, state(&f, "exp_avg"), sizeof moments);
        descent_status status = run_row(i, &f);
        const char *messages[] = {descent_last_error(f.opt), descent_last_error(NULL)};
        check_row(i, &rows[i], status, messages, 2);
        int64_t steps = -1;
        MUST(descent_param_step_count(f.opt, 0, &steps));
        int same = steps == 1 && !memcmp(before, f.param, sizeof before) &&
                   !memcmp(moments, state(&f, "exp_avg"), sizeof moments);
        EXPECT(same, "row %d '%s' changed something", i, rows[i].name);
        if (i < n - 1) { /* the sparse gradient is still the one set: the next step moves rows 1 and 3 */
            MUST(descent_step(f.opt));
            EXPECT(memcmp(before, f.param, sizeof before) != 0 && !memcmp(before, f.param, ROW * sizeof(float)),
                   "row %d '%s': the gradient set before was lost", i, rows[i].name);
        }
        MUST(descent_free(f.opt));
    }
    printf("bad-input table: %d rows\n", n);
}

/* What other algorithms refuse, with torch's messages, changing nothing. */
static void test_refusals(void) {
    const descent_algorithm refusing[] = {DESCENT_ADAM, DESCENT_ADAMW, DESCENT_RMSPROP, DESCENT_RPROP};
    const char *messages[] = {"Adam does not support sparse gradients, please consider SparseAdam instead",
                              "Adam does not support sparse gradients, please consider SparseAdam instead",
                              "RMSprop does not support sparse gradients", "Rprop does not support sparse gradients"};
    for (int a = 0; a < 4; a++) {
        Fixture r;
        make(&r, refusing[a]);
        EXPECT(descent_set_sparse_grad(r.opt, 0, summed, 2, summed_values, ROW) == DESCENT_ERROR_UNSUPPORTED, "%d", a);
        EXPECT(!strcmp(descent_last_error(r.opt), messages[a]), "'%s'", descent_last_error(r.opt));
        MUST(descent_free(r.opt));
    }
    const descent_algorithm decaying[] = {DESCENT_ADAGRAD, DESCENT_SGD};
    for (int a = 0; a < 2; a++) {
        Fixture w;
        make(&w, decaying[a]);
        MUST(descent_group_set(w.opt, 0, DESCENT_OPTION_WEIGHT_DECAY, 0.1));
        MUST(descent_set_sparse_grad(w.opt, 0, summed, 2, summed_values, ROW));
        float before[N];
        memcpy(before, w.param, sizeof before);
        EXPECT(descent_step(w.opt) == DESCENT_ERROR_UNSUPPORTED, "%s weight decay", descent_algorithm_name(decaying[a]));
        EXPECT(!strcmp(descent_last_error(w.opt), "weight_decay option is not compatible with sparse gradients"), "'%s'",
               descent_last_error(w.opt));
        int64_t steps = -1;
        MUST(descent_param_step_count(w.opt, 0, &steps));
        EXPECT(steps == 0 && !memcmp(w.param, before, sizeof before), "a refused step changed something");
        MUST(descent_free(w.opt));
    }
}

/* A phase that fails (inf/NaN under the error policy) keeps the sparse gradient even
 * with zero_grad asked, as it keeps dense ones; a skipped one empties it. */
static void test_a_failed_phase_keeps_it(void) {
    Fixture f;
    make(&f, DESCENT_SPARSE_ADAM);
    float bad[6];
    memcpy(bad, summed_values, sizeof bad);
    bad[4] = NAN;
    MUST(descent_set_sparse_grad(f.opt, 0, summed, 2, bad, ROW));
    descent_step_options o;
    MUST(descent_step_options_default(&o));
    o.nonfinite = DESCENT_NONFINITE_ERROR;
    o.zero_grad = true;
    EXPECT(descent_step_phase(f.opt, &o, NULL, 0, NULL) == DESCENT_ERROR_NONFINITE, "NaN under the error policy");
    descent_step_report report;
    o.nonfinite = DESCENT_NONFINITE_SKIP;
    MUST(descent_step_phase(f.opt, &o, NULL, 0, &report));
    EXPECT(report.found_inf, "the failed phase emptied the sparse gradient");
    MUST(descent_step_phase(f.opt, &o, NULL, 0, &report));
    EXPECT(!report.found_inf, "the skipped phase with zero_grad left rows");
    int64_t steps = -1;
    MUST(descent_param_step_count(f.opt, 0, &steps));
    EXPECT(steps == 1, "%lld steps (the empty gradient's step counts)", (long long)steps);
    MUST(descent_free(f.opt));
}

/* torch checks SparseAdam's lr > 0 in its constructor only: a schedule may take it to 0. */
static void test_sparse_adam_takes_a_schedule_from_lr_zero(void) {
    descent_option lr = DESCENT_OPTION_LR;
    double zero = 0;
    descent_optimizer *refused = NULL;
    EXPECT(descent_create_with(DESCENT_SPARSE_ADAM, &lr, &zero, 1, &refused) == DESCENT_ERROR_INVALID_HYPERPARAMETER,
           "lr 0 at construction");
    EXPECT(strstr(descent_last_error(NULL), "Invalid learning rate: 0.0") != NULL, "%s", descent_last_error(NULL));
    Fixture f;
    make(&f, DESCENT_SPARSE_ADAM);
    descent_schedule *warmup = NULL;
    MUST(descent_schedule_warmup_cosine_lr(f.opt, 4, 8, 0.0, &warmup));
    double now = -1;
    MUST(descent_group_get(f.opt, 0, DESCENT_OPTION_LR, &now));
    EXPECT(now == 0, "lr %g at the warmup's start", now);
    EXPECT(descent_group_set(f.opt, 0, DESCENT_OPTION_LR, -1e-3) == DESCENT_ERROR_INVALID_HYPERPARAMETER, "negative lr");
    MUST(descent_schedule_free(warmup));
    MUST(descent_free(f.opt));
}

int main(void) {
    test_repeats_sum_in_order_and_only_present_rows_move();
    test_sgd_steps_the_dense_gradient();
    test_every_step_kind_uses_it_and_zero_grad_empties_it();
    test_bad_input_table();
    test_refusals();
    test_a_failed_phase_keeps_it();
    test_sparse_adam_takes_a_schedule_from_lr_zero();
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
