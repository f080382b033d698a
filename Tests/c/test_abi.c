/*
 * C tests of the Descent ABI, written from include/descent.h alone.
 *
 * 1. The bad-input table: every row makes one bad call and states the status it must
 *    get and a piece of the message. After every row the fixture optimizer must be
 *    exactly as it was (no half-applied change) and still work.
 * 2. Behaviour: groups, per-group hyperparameters, skipped parameters, re-pointed and
 *    step-time gradients, zero_grad, state access, messages, names.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <descent.h>

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"

/* ------------------------------------------------------------ the fixture */

#define N 8
typedef struct {
    descent_optimizer *opt;   /* Adam, group 0, parameters 0 (p/g) and 1 (q/h) */
    descent_optimizer *freed; /* a handle that has been freed */
    float p[N], g[N], q[N], h[N], spare[2 * N + 1];
    size_t dims[DESCENT_MAX_DIMS + 1]; /* a shape's worth of ones */
    int64_t counts[2];
} Fixture;

static void fixture_init(Fixture *f) {
    memset(f, 0, sizeof *f);
    for (int i = 0; i < N; i++) {
        f->p[i] = 1.0f + (float)i;
        f->g[i] = 0.5f;
        f->q[i] = -1.0f;
        f->h[i] = 0.25f;
    }
    for (int axis = 0; axis <= DESCENT_MAX_DIMS; axis++) f->dims[axis] = 1;
    MUST(descent_create(DESCENT_ADAM, NULL, &f->opt));
    MUST(descent_add_group(f->opt, NULL, NULL));
    MUST(descent_add_param(f->opt, 0, f->p, f->g, N, NULL));
    MUST(descent_add_param(f->opt, 0, f->q, f->h, N, NULL));
    MUST(descent_create(DESCENT_SGD, NULL, &f->freed));
    MUST(descent_free(f->freed));
}

/* Everything a failed call could have half-changed. */
typedef struct {
    size_t groups, params;
    descent_params hp;
    float p[N], g[N];
    int64_t steps;
} Snapshot;

static void snapshot(const Fixture *f, Snapshot *s) {
    memset(s, 0, sizeof *s);
    MUST(descent_group_count(f->opt, &s->groups));
    MUST(descent_param_count(f->opt, &s->params));
    MUST(descent_group_get_params(f->opt, 0, &s->hp));
    MUST(descent_param_step_count(f->opt, 0, &s->steps));
    memcpy(s->p, f->p, sizeof s->p);
    memcpy(s->g, f->g, sizeof s->g);
}

static int same_params(const descent_params *a, const descent_params *b) {
    return a->lr == b->lr && a->momentum == b->momentum && a->dampening == b->dampening
        && a->weight_decay == b->weight_decay && a->beta1 == b->beta1 && a->beta2 == b->beta2
        && a->eps == b->eps && a->alpha == b->alpha && a->lr_decay == b->lr_decay
        && a->initial_accumulator_value == b->initial_accumulator_value
        && a->nesterov == b->nesterov && a->maximize == b->maximize && a->amsgrad == b->amsgrad
        && a->centered == b->centered;
}

static int same_snapshot(const Snapshot *a, const Snapshot *b) {
    return a->groups == b->groups && a->params == b->params && a->steps == b->steps
        && same_params(&a->hp, &b->hp) && !memcmp(a->p, b->p, sizeof a->p)
        && !memcmp(a->g, b->g, sizeof a->g);
}

/* ---------------------------------------------------- the bad-input table */

static descent_params with(descent_algorithm algorithm, const char *field, double value) {
    descent_params p;
    descent_default_params(algorithm, &p);
    if (!strcmp(field, "lr")) p.lr = value;
    else if (!strcmp(field, "momentum")) p.momentum = value;
    else if (!strcmp(field, "dampening")) p.dampening = value;
    else if (!strcmp(field, "weight_decay")) p.weight_decay = value;
    else if (!strcmp(field, "beta1")) p.beta1 = value;
    else if (!strcmp(field, "beta2")) p.beta2 = value;
    else if (!strcmp(field, "eps")) p.eps = value;
    else if (!strcmp(field, "alpha")) p.alpha = value;
    else if (!strcmp(field, "lr_decay")) p.lr_decay = value;
    else if (!strcmp(field, "initial_accumulator_value")) p.initial_accumulator_value = value;
    else if (!strcmp(field, "nesterov")) p.nesterov = value != 0;
    return p;
}

static descent_status create_with(descent_algorithm algorithm, descent_params p) {
    descent_optimizer *opt = (descent_optimizer *)&opt; /* must be reset to NULL */
    descent_status status = descent_create(algorithm, &p, &opt);
    if (status == DESCENT_OK) descent_free(opt);
    else EXPECT(opt == NULL, "descent_create left *out non-NULL on failure");
    return status;
}

/* The bad-input table: each row's name, the status it must get, a piece of the message
 * it must leave, and the call itself, in one list (so a row and its call cannot drift
 * apart). Each call runs on the fixture `f`, with the locals of run_row. */
#define BAD_INPUT(X) \
    /* creation and hyperparameters: torch's messages */ \
    X("create: out NULL", DESCENT_ERROR_NULL_POINTER, "out is NULL", descent_create(DESCENT_ADAM, NULL, NULL)) \
    X("create: algorithm 0", DESCENT_ERROR_UNKNOWN_ALGORITHM, "unknown algorithm id 0", create_with((descent_algorithm)0, with(DESCENT_ADAM, "lr", 1e-3))) \
    X("create: algorithm 99", DESCENT_ERROR_UNKNOWN_ALGORITHM, "unknown algorithm id 99", create_with((descent_algorithm)99, with(DESCENT_ADAM, "lr", 1e-3))) \
    X("Adam lr -1", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid learning rate: -1.0", create_with(DESCENT_ADAM, with(DESCENT_ADAM, "lr", -1.0))) \
    X("Adam lr NaN", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid learning rate: nan", create_with(DESCENT_ADAM, with(DESCENT_ADAM, "lr", NAN))) \
    X("Adam beta1 1.5", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid beta parameter at index 0: 1.5", create_with(DESCENT_ADAM, with(DESCENT_ADAM, "beta1", 1.5))) \
    X("Adam beta1 1.0", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid beta parameter at index 0: 1.0", create_with(DESCENT_ADAM, with(DESCENT_ADAM, "beta1", 1.0))) \
    X("Adam beta2 -0.1", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid beta parameter at index 1: -0.1", create_with(DESCENT_ADAM, with(DESCENT_ADAM, "beta2", -0.1))) \
    X("Adam beta2 NaN", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid beta parameter at index 1: nan", create_with(DESCENT_ADAM, with(DESCENT_ADAM, "beta2", NAN))) \
    X("Adam eps -1e-8", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid epsilon value: -1e-08", create_with(DESCENT_ADAM, with(DESCENT_ADAM, "eps", -1e-8))) \
    X("AdamW weight_decay -0.1", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid weight_decay value: -0.1", create_with(DESCENT_ADAMW, with(DESCENT_ADAMW, "weight_decay", -0.1))) \
    X("SGD momentum -0.5", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid momentum value: -0.5", create_with(DESCENT_SGD, with(DESCENT_SGD, "momentum", -0.5))) \
    X("SGD momentum NaN", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid momentum value: nan", create_with(DESCENT_SGD, with(DESCENT_SGD, "momentum", NAN))) \
    X("SGD dampening NaN", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid dampening value: nan", create_with(DESCENT_SGD, with(DESCENT_SGD, "dampening", NAN))) \
    X("SGD nesterov, no momentum", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Nesterov momentum requires a momentum and zero dampening", create_with(DESCENT_SGD, with(DESCENT_SGD, "nesterov", 1))) \
    X("RMSprop alpha -0.5", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid alpha value: -0.5", create_with(DESCENT_RMSPROP, with(DESCENT_RMSPROP, "alpha", -0.5))) \
    X("RMSprop eps NaN", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid epsilon value: nan", create_with(DESCENT_RMSPROP, with(DESCENT_RMSPROP, "eps", NAN))) \
    X("Adagrad lr_decay -1", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid lr_decay value: -1.0", create_with(DESCENT_ADAGRAD, with(DESCENT_ADAGRAD, "lr_decay", -1.0))) \
    X("Adagrad initial_accumulator_value -1", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid initial_accumulator_value value: -1.0", create_with(DESCENT_ADAGRAD, with(DESCENT_ADAGRAD, "initial_accumulator_value", -1.0))) \
    X("default_params: unknown algorithm", DESCENT_ERROR_UNKNOWN_ALGORITHM, "unknown algorithm id 42", descent_default_params((descent_algorithm)42, &p)) \
    X("default_params: out NULL", DESCENT_ERROR_NULL_POINTER, "out is NULL", descent_default_params(DESCENT_SGD, NULL)) \
    /* handles */ \
    X("step: NULL handle", DESCENT_ERROR_NULL_POINTER, "opt is NULL", descent_step(NULL)) \
    X("zero_grad: NULL handle", DESCENT_ERROR_NULL_POINTER, "opt is NULL", descent_zero_grad(NULL)) \
    X("add_param: NULL handle", DESCENT_ERROR_NULL_POINTER, "opt is NULL", descent_add_param(NULL, 0, f->spare, NULL, N, NULL)) \
    X("step: freed handle", DESCENT_ERROR_INVALID_HANDLE, "not a live descent optimizer", descent_step(f->freed)) \
    X("add_group: freed handle", DESCENT_ERROR_INVALID_HANDLE, "not a live descent optimizer", descent_add_group(f->freed, NULL, NULL)) \
    X("group_set: freed handle", DESCENT_ERROR_INVALID_HANDLE, "not a live descent optimizer", descent_group_set(f->freed, 0, DESCENT_OPTION_LR, 0.1)) \
    X("free: freed handle", DESCENT_ERROR_INVALID_HANDLE, "not a live descent optimizer", descent_free(f->freed)) \
    X("step: forged handle", DESCENT_ERROR_INVALID_HANDLE, "not a live descent optimizer", descent_step(forged)) \
    X("step: odd forged handle", DESCENT_ERROR_INVALID_HANDLE, "not a live descent optimizer", descent_step((descent_optimizer *)((char *)f->opt + 1))) \
    /* parameters and buffers */ \
    X("add_param: param NULL", DESCENT_ERROR_NULL_POINTER, "param is NULL", descent_add_param(f->opt, 0, NULL, NULL, N, NULL)) \
    X("add_param: numel 0", DESCENT_ERROR_INVALID_ARGUMENT, "numel must be positive, got 0", descent_add_param(f->opt, 0, f->spare, NULL, 0, NULL)) \
    X("add_param: numel -1", DESCENT_ERROR_INVALID_ARGUMENT, "numel must be positive, got -1", descent_add_param(f->opt, 0, f->spare, NULL, (size_t)-1, NULL)) \
    X("add_param: numel huge", DESCENT_ERROR_INVALID_ARGUMENT, "too large", descent_add_param(f->opt, 0, f->spare, NULL, (size_t)1 << 60, NULL)) \
    X("add_param: group 1 of 1", DESCENT_ERROR_OUT_OF_RANGE, "group index 1 is out of range", descent_add_param(f->opt, 1, f->spare, NULL, N, NULL)) \
    X("add_param: registered twice", DESCENT_ERROR_DUPLICATE_PARAMETER, "already registered (parameter 0)", descent_add_param(f->opt, 0, f->p, NULL, N, NULL)) \
    X("add_param: overlaps a parameter", DESCENT_ERROR_OVERLAP, "param overlaps registered parameter 0", descent_add_param(f->opt, 0, f->p + 4, NULL, N, NULL)) \
    X("add_param: grad is its param", DESCENT_ERROR_OVERLAP, "grad overlaps its own param", descent_add_param(f->opt, 0, f->spare, f->spare, N, NULL)) \
    X("add_param: grad overlaps its param", DESCENT_ERROR_OVERLAP, "grad overlaps its own param", descent_add_param(f->opt, 0, f->spare, f->spare + 3, N, NULL)) \
    X("add_param: grad overlaps another parameter", DESCENT_ERROR_OVERLAP, "overlaps registered parameter 1", descent_add_param(f->opt, 0, f->spare, f->q + 2, N, NULL)) \
    X("add_param: misaligned param", DESCENT_ERROR_INVALID_ARGUMENT, "param is not aligned", descent_add_param(f->opt, 0, (float *)((char *)f->spare + 1), NULL, N, NULL)) \
    X("set_grad: index 2 of 2", DESCENT_ERROR_OUT_OF_RANGE, "parameter index 2 is out of range", descent_set_grad(f->opt, 2, f->spare)) \
    X("set_grad: grad is a parameter", DESCENT_ERROR_OVERLAP, "grad of parameter 0 overlaps registered parameter 1", descent_set_grad(f->opt, 0, f->q)) \
    X("param_step_count: out NULL", DESCENT_ERROR_NULL_POINTER, "out is NULL", descent_param_step_count(f->opt, 0, NULL)) \
    X("param_state: unknown name", DESCENT_ERROR_UNKNOWN_OPTION, "Adam has no state 'momentum_buffer'", descent_param_state(f->opt, 0, "momentum_buffer", &state)) \
    X("param_state: name NULL", DESCENT_ERROR_NULL_POINTER, "name is NULL", descent_param_state(f->opt, 0, NULL, &state)) \
    X("param_create_state: unknown name", DESCENT_ERROR_UNKNOWN_OPTION, "Adam has no state 'sum'", descent_param_create_state(f->opt, 0, "sum", &state)) \
    X("param_set_step_count: -1", DESCENT_ERROR_INVALID_ARGUMENT, "step count must be in 0...2**53, got -1", descent_param_set_step_count(f->opt, 0, -1)) \
    X("param_set_step_count: index 9", DESCENT_ERROR_OUT_OF_RANGE, "parameter index 9 is out of range", descent_param_set_step_count(f->opt, 9, 3)) \
    X("param_step_counts: out NULL", DESCENT_ERROR_NULL_POINTER, "out is NULL", descent_param_step_counts(f->opt, 0, 2, NULL)) \
    X("param_step_counts: 1 + 2 of 2", DESCENT_ERROR_OUT_OF_RANGE, "parameters 1 ..< 1 + 2 are out of range", descent_param_step_counts(f->opt, 1, 2, f->counts)) \
    X("param_step_counts: count -1", DESCENT_ERROR_OUT_OF_RANGE, "are out of range", descent_param_step_counts(f->opt, 1, (size_t)-1, f->counts)) \
    X("param_set_shape: dims NULL", DESCENT_ERROR_NULL_POINTER, "dims is NULL", descent_param_set_shape(f->opt, 0, NULL, 2)) \
    X("param_set_shape: 33 dimensions", DESCENT_ERROR_INVALID_ARGUMENT, "at most 32 dimensions, got 33", descent_param_set_shape(f->opt, 0, f->dims, DESCENT_MAX_DIMS + 1)) \
    X("param_set_shape: ndim -1", DESCENT_ERROR_INVALID_ARGUMENT, "at most 32 dimensions, got 18446744073709551615", descent_param_set_shape(f->opt, 0, f->dims, (size_t)-1)) \
    X("param_set_shape: 3 x 3 for 8", DESCENT_ERROR_INVALID_ARGUMENT, "shape [3, 3] has more elements than parameter 0 (8)", descent_param_set_shape(f->opt, 0, (const size_t[]){3, 3}, 2)) \
    X("param_set_shape: 2 x 2 for 8", DESCENT_ERROR_INVALID_ARGUMENT, "shape [2, 2] has 4 elements, parameter 0 has 8", descent_param_set_shape(f->opt, 0, (const size_t[]){2, 2}, 2)) \
    X("param_set_shape: scalar for 8", DESCENT_ERROR_INVALID_ARGUMENT, "shape [] has 1 elements, parameter 0 has 8", descent_param_set_shape(f->opt, 0, NULL, 0)) \
    X("param_set_shape: a zero dimension", DESCENT_ERROR_INVALID_ARGUMENT, "dimension 1 of the shape is 0", descent_param_set_shape(f->opt, 0, (const size_t[]){8, 0}, 2)) \
    X("param_set_shape: a dimension -1", DESCENT_ERROR_INVALID_ARGUMENT, "dimension 0 of the shape is -1", descent_param_set_shape(f->opt, 0, (const size_t[]){(size_t)-1, 8}, 2)) \
    X("param_set_shape: product overflows", DESCENT_ERROR_INVALID_ARGUMENT, "more elements than parameter 0 (8)", descent_param_set_shape(f->opt, 0, (const size_t[]){(size_t)1 << 40, (size_t)1 << 40}, 2)) \
    X("param_set_shape: index 9", DESCENT_ERROR_OUT_OF_RANGE, "parameter index 9 is out of range", descent_param_set_shape(f->opt, 9, (const size_t[]){8}, 1)) \
    X("param_shape: ndim_out NULL", DESCENT_ERROR_NULL_POINTER, "ndim_out is NULL", descent_param_shape(f->opt, 0, f->dims, DESCENT_MAX_DIMS, NULL)) \
    X("param_shape: capacity 0", DESCENT_ERROR_INVALID_ARGUMENT, "has 1 dimensions, capacity is 0 (*ndim_out holds the count)", descent_param_shape(f->opt, 0, f->dims, 0, &count)) \
    X("param_shape: dims NULL", DESCENT_ERROR_NULL_POINTER, "dims is NULL", descent_param_shape(f->opt, 0, NULL, 1, &count)) \
    X("param_shape: index 9", DESCENT_ERROR_OUT_OF_RANGE, "parameter index 9 is out of range", descent_param_shape(f->opt, 9, f->dims, DESCENT_MAX_DIMS, &count)) \
    /* groups and options */ \
    X("group_get: option 99", DESCENT_ERROR_UNKNOWN_OPTION, "unknown option id 99", descent_group_get(f->opt, 0, (descent_option)99, &value)) \
    X("group_get: momentum of Adam", DESCENT_ERROR_UNKNOWN_OPTION, "Adam has no hyperparameter 'momentum'", descent_group_get(f->opt, 0, DESCENT_OPTION_MOMENTUM, &value)) \
    X("group_get: group 7", DESCENT_ERROR_OUT_OF_RANGE, "group index 7 is out of range", descent_group_get(f->opt, 7, DESCENT_OPTION_LR, &value)) \
    X("group_set: lr -1", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid learning rate: -1.0", descent_group_set(f->opt, 0, DESCENT_OPTION_LR, -1.0)) \
    X("group_set: amsgrad 0.5", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid amsgrad value: 0.5 (expected 0 or 1)", descent_group_set(f->opt, 0, DESCENT_OPTION_AMSGRAD, 0.5)) \
    X("group_set: eps NaN", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid epsilon value: nan", descent_group_set(f->opt, 0, DESCENT_OPTION_EPS, NAN)) \
    X("group_set_params: NULL", DESCENT_ERROR_NULL_POINTER, "params is NULL", descent_group_set_params(f->opt, 0, NULL)) \
    X("group_set_params: beta1 2", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid beta parameter at index 0: 2.0", (p = with(DESCENT_ADAM, "beta1", 2.0), descent_group_set_params(f->opt, 0, &p))) \
    X("add_group: lr NaN", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Invalid learning rate: nan", (p = with(DESCENT_ADAM, "lr", NAN), descent_add_group(f->opt, &p, &count))) \
    X("group_get_params: out NULL", DESCENT_ERROR_NULL_POINTER, "out is NULL", descent_group_get_params(f->opt, 0, NULL)) \
    /* steps */ \
    X("step_with_grads: count 1 of 2", DESCENT_ERROR_INVALID_ARGUMENT, "expected 2 gradients (one per parameter), got 1", descent_step_with_grads(f->opt, grads, 1)) \
    X("step_with_grads: count huge", DESCENT_ERROR_INVALID_ARGUMENT, "expected 2 gradients (one per parameter), got 1099511627776", descent_step_with_grads(f->opt, grads, (size_t)1 << 40)) \
    X("step_with_grads: count -1", DESCENT_ERROR_INVALID_ARGUMENT, "expected 2 gradients (one per parameter), got -1", descent_step_with_grads(f->opt, grads, (size_t)-1)) \
    X("step_with_grads: grads NULL", DESCENT_ERROR_NULL_POINTER, "grads is NULL", descent_step_with_grads(f->opt, NULL, 2)) \
    X("step_with_grads: grad overlaps a parameter", DESCENT_ERROR_OVERLAP, "grad of parameter 1 overlaps registered parameter 0", (grads[1] = f->p + 1, descent_step_with_grads(f->opt, grads, 2))) \
    /* C bools holding bytes other than 0 or 1 */ \
    X("group_set_params: amsgrad byte 2", DESCENT_ERROR_INVALID_ARGUMENT, "descent_params.amsgrad holds the byte 2", (descent_group_get_params(f->opt, 0, &p), memset(&p.amsgrad, 2, 1), descent_group_set_params(f->opt, 0, &p))) \
    X("add_group: maximize byte 255", DESCENT_ERROR_INVALID_ARGUMENT, "descent_params.maximize holds the byte 255", (descent_group_get_params(f->opt, 0, &p), memset(&p.maximize, 255, 1), descent_add_group(f->opt, &p, &count)))

static const Row rows[] = {BAD_INPUT(TABLE_ROW)};

/* Runs row `i`'s call. */
static descent_status run_row(int i, Fixture *f) {
    descent_params p;
    double value;
    size_t count;
    float *state;
    descent_optimizer *forged = (descent_optimizer *)f->spare;
    const float *grads[2] = {f->g, f->h};
    int row = i, k = 0;
    BAD_INPUT(TABLE_CALL)
    return DESCENT_ERROR_INTERNAL;
}

static void test_bad_input_table(void) {
    Fixture f;
    fixture_init(&f);
    int n = (int)(sizeof rows / sizeof rows[0]);
    for (int i = 0; i < n; i++) {
        Snapshot before, after;
        snapshot(&f, &before);
        descent_status status = run_row(i, &f);
        /* The message lives on the handle when the call had a live one, else per thread. */
        const char *messages[] = {descent_last_error(f.opt), descent_last_error(NULL)};
        check_row(i, &rows[i], status, messages, 2);
        snapshot(&f, &after);
        EXPECT(same_snapshot(&before, &after), "row %d '%s' changed the optimizer", i,
               rows[i].name);
    }
    /* After all of that the fixture still steps. */
    MUST(descent_step(f.opt));
    int64_t steps = 0;
    MUST(descent_param_step_count(f.opt, 1, &steps));
    EXPECT(steps == 1, "steps %lld", (long long)steps);
    EXPECT(f.p[0] != 1.0f, "parameter did not move");
    MUST(descent_free(f.opt));
    printf("bad-input table: %d rows\n", n);
}

/* -------------------------------------------------------------- behaviour */

static void test_names_and_version(void) {
    EXPECT(descent_version_number() == DESCENT_VERSION_NUMBER, "version mismatch");
    EXPECT(!strcmp(descent_version_string(), "0.1.0"), "%s", descent_version_string());
    EXPECT(!strcmp(descent_status_name(DESCENT_OK), "DESCENT_OK"), "status name");
    EXPECT(!strcmp(descent_status_name(DESCENT_ERROR_OVERLAP), "DESCENT_ERROR_OVERLAP"), "status name");
    EXPECT(!strcmp(descent_status_name((descent_status)999), "DESCENT_ERROR_UNKNOWN_STATUS"), "unknown status");
    EXPECT(!strcmp(descent_algorithm_name(DESCENT_RMSPROP), "RMSprop"), "algorithm name");
    EXPECT(descent_algorithm_name((descent_algorithm)0) == NULL, "unknown algorithm name");
    EXPECT(!strcmp(descent_option_name(DESCENT_OPTION_BETA2), "betas[1]"), "option name");
    EXPECT(descent_option_name((descent_option)77) == NULL, "unknown option name");
    EXPECT(descent_free(NULL) == DESCENT_OK, "free(NULL)");
}

static void test_defaults(void) {
    descent_params p;
    MUST(descent_default_params(DESCENT_ADAMW, &p));
    EXPECT(p.lr == 1e-3 && p.beta1 == 0.9 && p.beta2 == 0.999 && p.eps == 1e-8 && p.weight_decay == 1e-2
           && !p.amsgrad && !p.maximize, "AdamW defaults");
    MUST(descent_default_params(DESCENT_ADAM, &p));
    EXPECT(p.weight_decay == 0, "Adam weight_decay default");
    MUST(descent_default_params(DESCENT_SGD, &p));
    EXPECT(p.lr == 1e-3 && p.momentum == 0 && p.dampening == 0 && !p.nesterov, "SGD defaults");
    MUST(descent_default_params(DESCENT_RMSPROP, &p));
    EXPECT(p.lr == 1e-2 && p.alpha == 0.99 && p.eps == 1e-8 && !p.centered, "RMSprop defaults");
    MUST(descent_default_params(DESCENT_ADAGRAD, &p));
    EXPECT(p.lr == 1e-2 && p.eps == 1e-10 && p.lr_decay == 0 && p.initial_accumulator_value == 0,
           "Adagrad defaults");
}

/* Plain SGD is p <- fma(g, -lr, p): easy to check exactly, group by group. */
static void test_groups_and_gradients(void) {
    float a[4] = {1, 2, 3, 4}, ga[4] = {1, 1, 1, 1};
    float b[3] = {10, 20, 30}, gb[3] = {2, 2, 2}, gb2[3] = {-1, -1, -1};
    float c[2] = {5, 5};
    descent_params sgd;
    descent_optimizer *opt;
    size_t group = 99, index = 99;
    MUST(descent_default_params(DESCENT_SGD, &sgd));
    sgd.lr = 0.5;
    MUST(descent_create(DESCENT_SGD, &sgd, &opt));
    MUST(descent_add_group(opt, NULL, &group));
    EXPECT(group == 0, "first group index %zu", group);
    sgd.lr = 0.25;
    MUST(descent_add_group(opt, &sgd, &group));
    EXPECT(group == 1, "second group index %zu", group);
    MUST(descent_add_param(opt, 0, a, ga, 4, &index));
    EXPECT(index == 0, "index %zu", index);
    MUST(descent_add_param(opt, 1, b, gb, 3, &index));
    MUST(descent_add_param(opt, 1, c, NULL, 2, &index)); /* no gradient: skipped */
    EXPECT(index == 2, "index %zu", index);
    EXPECT(!strcmp(descent_last_error(opt), ""), "message after success: '%s'", descent_last_error(opt));

    MUST(descent_step(opt));
    EXPECT(a[0] == 0.5f && a[3] == 3.5f, "group 0 lr 0.5: %g %g", a[0], a[3]);
    EXPECT(b[0] == 9.5f && b[2] == 29.5f, "group 1 lr 0.25: %g %g", b[0], b[2]);
    EXPECT(c[0] == 5 && c[1] == 5, "parameter without gradient moved");
    int64_t steps;
    MUST(descent_param_step_count(opt, 2, &steps));
    EXPECT(steps == 0, "skipped parameter counted a step");
    MUST(descent_param_step_count(opt, 0, &steps));
    EXPECT(steps == 1, "steps %lld", (long long)steps);

    /* Change a hyperparameter between steps; read it back. */
    double lr;
    MUST(descent_group_set(opt, 1, DESCENT_OPTION_LR, 1.0));
    MUST(descent_group_get(opt, 1, DESCENT_OPTION_LR, &lr));
    EXPECT(lr == 1.0, "lr %g", lr);
    MUST(descent_set_grad(opt, 1, gb2)); /* re-pointed gradient */
    MUST(descent_step(opt));
    EXPECT(b[0] == 10.5f, "re-pointed gradient with lr 1: %g", b[0]);

    /* Step-time gradients: registered ones are neither used nor changed. */
    float ta[4] = {0, 0, 0, 2};
    const float *grads[3] = {ta, NULL, NULL};
    MUST(descent_step_with_grads(opt, grads, 3));
    EXPECT(a[0] == 0.0f && a[3] == 2.0f, "step-time gradient: %g %g", a[0], a[3]);
    EXPECT(b[0] == 10.5f, "NULL step-time gradient should skip");
    EXPECT(ga[0] == 1 && gb2[0] == -1, "registered gradients changed");

    /* zero_grad fills registered gradients only. */
    MUST(descent_zero_grad(opt));
    EXPECT(ga[0] == 0 && ga[3] == 0 && gb2[2] == 0 && gb[0] == 2, "zero_grad");
    MUST(descent_set_grad(opt, 0, NULL));
    MUST(descent_step(opt));
    MUST(descent_param_step_count(opt, 0, &steps));
    EXPECT(steps == 3, "parameter with gradient removed still stepped: %lld", (long long)steps);

    /* A group added after steps. */
    float d[2] = {1, 1}, gd[2] = {1, 1};
    MUST(descent_add_group(opt, NULL, &group));
    MUST(descent_add_param(opt, group, d, gd, 2, NULL));
    MUST(descent_step(opt));
    EXPECT(d[0] == 0.5f, "late group: %g", d[0]);
    MUST(descent_free(opt));
}

/* Adam's state is reachable under torch's names; created on the first step. */
static void test_state_access(void) {
    float p[16], g[16];
    for (int i = 0; i < 16; i++) p[i] = 1, g[i] = 0.5f;
    descent_params adam;
    descent_optimizer *opt;
    float *m = (float *)p, *v = (float *)p, *vmax = (float *)p;
    MUST(descent_default_params(DESCENT_ADAM, &adam));
    adam.amsgrad = true;
    MUST(descent_create(DESCENT_ADAM, &adam, &opt));
    MUST(descent_add_group(opt, NULL, NULL));
    MUST(descent_add_param(opt, 0, p, g, 16, NULL));
    MUST(descent_param_state(opt, 0, "exp_avg", &m));
    EXPECT(m == NULL, "state before the first step");
    MUST(descent_step(opt));
    MUST(descent_param_state(opt, 0, "exp_avg", &m));
    MUST(descent_param_state(opt, 0, "exp_avg_sq", &v));
    MUST(descent_param_state(opt, 0, "max_exp_avg_sq", &vmax));
    EXPECT(m && v && vmax, "state after the first step");
    if (m && v && vmax) {
        EXPECT(fabsf(m[5] - 0.05f) < 1e-7f, "exp_avg %g", m[5]);
        EXPECT(fabsf(v[5] - 0.00025f) < 1e-9f, "exp_avg_sq %g", v[5]);
        EXPECT(vmax[5] == v[5], "max_exp_avg_sq");
        EXPECT(fabsf(p[0] - (1 - 1e-3f)) < 1e-6f, "first Adam step moves by lr: %.8f", p[0]);
    }
    MUST(descent_free(opt));
}

/* Saved state restored into a fresh optimizer continues the run exactly. */
static void test_state_restore(void) {
    float p[3] = {1, 2, 3}, g[3] = {1, 1, 1}, q[3] = {1, 2, 3};
    descent_params sgd;
    descent_optimizer *a, *b;
    float *buf_a, *buf_b;
    MUST(descent_default_params(DESCENT_SGD, &sgd));
    sgd.lr = 0.5;
    sgd.momentum = 0.5;
    MUST(descent_create(DESCENT_SGD, &sgd, &a));
    MUST(descent_create(DESCENT_SGD, &sgd, &b));
    MUST(descent_add_group(a, NULL, NULL));
    MUST(descent_add_group(b, NULL, NULL));
    MUST(descent_add_param(a, 0, p, g, 3, NULL));
    MUST(descent_step(a));                       /* a: buffer = g, p = p - 0.5 */
    MUST(descent_add_param(b, 0, q, g, 3, NULL));
    memcpy(q, p, sizeof q);
    MUST(descent_param_state(a, 0, "momentum_buffer", &buf_a));
    MUST(descent_param_create_state(b, 0, "momentum_buffer", &buf_b));
    if (buf_a && buf_b) memcpy(buf_b, buf_a, sizeof p);
    MUST(descent_param_set_step_count(b, 0, 1));
    MUST(descent_step(a));
    MUST(descent_step(b));                       /* buffer = 0.5 + 1, not a copy of g */
    EXPECT(!memcmp(p, q, sizeof p) && p[0] == -0.25f, "restored run: %g vs %g", p[0], q[0]);
    int64_t steps;
    MUST(descent_param_step_count(b, 0, &steps));
    EXPECT(steps == 2, "restored step count %lld", (long long)steps);
    MUST(descent_free(a));
    MUST(descent_free(b));
}

/* The thread's message for calls without a live handle. */
static void test_thread_message(void) {
    descent_optimizer *opt = NULL;
    EXPECT(descent_create((descent_algorithm)200, NULL, &opt) == DESCENT_ERROR_UNKNOWN_ALGORITHM, "create");
    EXPECT(strstr(descent_last_error(NULL), "unknown algorithm id 200") != NULL, "%s", descent_last_error(NULL));
}

/* Execution settings: bad values refused with a message and nothing changed; the
 * default thread count is the affinity mask's CPU count; every ISA the CPU supports
 * can be chosen and is reported back. */
static void test_execution_settings(void) {
    cpu_set_t set;
    EXPECT(sched_getaffinity(0, sizeof set, &set) == 0, "sched_getaffinity");
    int before = descent_get_num_threads();
    EXPECT(descent_set_num_threads(-1) == DESCENT_ERROR_INVALID_ARGUMENT, "-1 threads");
    EXPECT(strstr(descent_last_error(NULL), "thread count must be in 0...1024") != NULL, "%s",
           descent_last_error(NULL));
    EXPECT(descent_set_num_threads(1025) == DESCENT_ERROR_INVALID_ARGUMENT, "1025 threads");
    EXPECT(descent_get_num_threads() == before, "a refused count changed the setting");
    MUST(descent_set_num_threads(3));
    EXPECT(descent_get_num_threads() == 3, "%d", descent_get_num_threads());
    MUST(descent_set_num_threads(0));
    EXPECT(descent_get_num_threads() == CPU_COUNT(&set), "default %d, affinity %d", descent_get_num_threads(),
           CPU_COUNT(&set));

    descent_isa best = descent_get_isa();
    EXPECT(descent_isa_supported(best), "the running ISA is supported");
    EXPECT(descent_isa_supported(DESCENT_ISA_PORTABLE), "portable runs everywhere");
    EXPECT(descent_set_isa((descent_isa)9) == DESCENT_ERROR_INVALID_ARGUMENT, "ISA 9");
    EXPECT(strstr(descent_last_error(NULL), "unknown instruction set id 9") != NULL, "%s", descent_last_error(NULL));
    EXPECT(!descent_isa_supported((descent_isa)9), "ISA 9 is not supported");
    EXPECT(strcmp(descent_isa_name((descent_isa)9), "unknown") == 0, "name of ISA 9");
    const char *names[] = {"portable", "avx2", "avx512"};
    for (int id = DESCENT_ISA_PORTABLE; id <= DESCENT_ISA_AVX512; id++) {
        EXPECT(strcmp(descent_isa_name((descent_isa)id), names[id]) == 0, "name of ISA %d", id);
        descent_status status = descent_set_isa((descent_isa)id);
        if (descent_isa_supported((descent_isa)id)) {
            EXPECT(status == DESCENT_OK && descent_get_isa() == (descent_isa)id, "set %s", names[id]);
        } else {
            EXPECT(status == DESCENT_ERROR_UNSUPPORTED && descent_get_isa() != (descent_isa)id, "set %s", names[id]);
        }
    }
    MUST(descent_set_isa(best));
}

/* descent_param_move: a parameter followed to new memory keeps its state and steps
 * there, as one that never moved; the old memory is left alone; bad moves change
 * nothing. */
static void test_param_move(void) {
    float a[8], b[8], moved[8], other[8], grad[8];
    for (int i = 0; i < 8; i++) a[i] = b[i] = other[i] = 0.5f * (float)i, grad[i] = 1.0f - 0.25f * (float)i;
    descent_optimizer *still = NULL, *mover = NULL;
    MUST(descent_create(DESCENT_ADAMW, NULL, &still));
    MUST(descent_create(DESCENT_ADAMW, NULL, &mover));
    descent_optimizer *both[2] = {still, mover};
    for (int k = 0; k < 2; k++) MUST(descent_add_group(both[k], NULL, NULL));
    MUST(descent_add_param(still, 0, a, grad, 8, NULL));
    MUST(descent_add_param(mover, 0, b, grad, 8, NULL));
    MUST(descent_add_param(mover, 0, other, NULL, 8, NULL));
    for (int s = 0; s < 2; s++) {
        MUST(descent_step(still));
        MUST(descent_step(mover));
    }
    memcpy(moved, b, sizeof moved);
    float before[8];
    memcpy(before, b, sizeof before);
    EXPECT(descent_param_move(mover, 0, other + 2) == DESCENT_ERROR_OVERLAP, "onto parameter 1");
    EXPECT(descent_param_move(mover, 0, grad) == DESCENT_ERROR_OVERLAP, "onto its own gradient");
    EXPECT(descent_param_move(mover, 0, (float *)((char *)moved + 1)) == DESCENT_ERROR_INVALID_ARGUMENT, "misaligned");
    EXPECT(descent_param_move(mover, 2, moved) == DESCENT_ERROR_OUT_OF_RANGE, "parameter 2");
    EXPECT(descent_param_move(mover, 0, NULL) == DESCENT_ERROR_NULL_POINTER, "NULL");
    MUST(descent_param_move(mover, 0, moved));
    for (int s = 0; s < 3; s++) {
        MUST(descent_step(still));
        MUST(descent_step(mover));
    }
    EXPECT(!memcmp(a, moved, sizeof a), "the moved parameter stepped otherwise than one that stayed");
    int64_t counts[3] = {-1, -1, -1};
    MUST(descent_param_step_counts(mover, 0, 2, counts));
    EXPECT(counts[0] == 5 && counts[1] == 0 && counts[2] == -1, "step counts %lld %lld %lld", (long long)counts[0],
           (long long)counts[1], (long long)counts[2]);
    MUST(descent_param_step_counts(mover, 2, 0, NULL));
    EXPECT(!memcmp(b, before, sizeof b), "the old memory was written after the move");
    MUST(descent_free(still));
    MUST(descent_free(mover));
}

/* Shapes: {numel} until given; any row-major factorization of numel up to
 * DESCENT_MAX_DIMS dimensions, a scalar for one element; a refused shape leaves the
 * one before; a move keeps it; steps do not depend on it. */
static void test_param_shape(void) {
    float p[12] = {0}, g[12], one = 1.0f, one_grad = 0.5f, flat[12] = {0};
    for (int i = 0; i < 12; i++) g[i] = 0.1f * (float)(i - 6);
    descent_optimizer *opt = NULL, *flat_opt = NULL;
    MUST(descent_create(DESCENT_ADAMW, NULL, &opt));
    MUST(descent_create(DESCENT_ADAMW, NULL, &flat_opt));
    MUST(descent_add_group(opt, NULL, NULL));
    MUST(descent_add_group(flat_opt, NULL, NULL));
    MUST(descent_add_param(opt, 0, p, g, 12, NULL));
    MUST(descent_add_param(opt, 0, &one, &one_grad, 1, NULL));
    MUST(descent_add_param(flat_opt, 0, flat, g, 12, NULL));
    size_t dims[DESCENT_MAX_DIMS], ndim = 99;
    MUST(descent_param_shape(opt, 0, dims, DESCENT_MAX_DIMS, &ndim));
    EXPECT(ndim == 1 && dims[0] == 12, "an unshaped parameter is {numel}");
    MUST(descent_param_set_shape(opt, 0, (const size_t[]){3, 4}, 2));
    EXPECT(descent_param_set_shape(opt, 0, (const size_t[]){5, 4}, 2) == DESCENT_ERROR_INVALID_ARGUMENT, "5 x 4");
    MUST(descent_param_shape(opt, 0, dims, 2, &ndim));
    EXPECT(ndim == 2 && dims[0] == 3 && dims[1] == 4, "3 x 4, kept after a refused shape");
    EXPECT(descent_param_shape(opt, 0, dims, 1, &ndim) == DESCENT_ERROR_INVALID_ARGUMENT && ndim == 2,
           "capacity 1 for 2 dimensions: refused, the count given");
    size_t many[DESCENT_MAX_DIMS];
    for (int axis = 0; axis < DESCENT_MAX_DIMS; axis++) many[axis] = 1;
    many[DESCENT_MAX_DIMS - 1] = 12;
    MUST(descent_param_set_shape(opt, 0, many, DESCENT_MAX_DIMS));
    MUST(descent_param_shape(opt, 0, dims, DESCENT_MAX_DIMS, &ndim));
    EXPECT(ndim == DESCENT_MAX_DIMS && dims[DESCENT_MAX_DIMS - 1] == 12, "DESCENT_MAX_DIMS dimensions");
    MUST(descent_param_set_shape(opt, 1, NULL, 0));
    MUST(descent_param_shape(opt, 1, NULL, 0, &ndim));
    EXPECT(ndim == 0, "a one-element parameter as a scalar");
    MUST(descent_param_set_shape(opt, 0, (const size_t[]){2, 2, 3}, 3));
    float moved[12];
    memcpy(moved, p, sizeof moved);
    MUST(descent_param_move(opt, 0, moved));
    MUST(descent_param_shape(opt, 0, dims, DESCENT_MAX_DIMS, &ndim));
    EXPECT(ndim == 3 && dims[0] == 2 && dims[1] == 2 && dims[2] == 3, "a move keeps the shape");
    for (int s = 0; s < 3; s++) {
        MUST(descent_step(opt));
        MUST(descent_step(flat_opt));
    }
    EXPECT(!memcmp(moved, flat, sizeof flat), "AdamW stepped a shaped parameter otherwise than a flat one");
    MUST(descent_free(opt));
    MUST(descent_free(flat_opt));
}

int main(void) {
    test_names_and_version();
    test_execution_settings();
    test_defaults();
    test_bad_input_table();
    test_groups_and_gradients();
    test_state_access();
    test_state_restore();
    test_thread_message();
    test_param_move();
    test_param_shape();
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
