/*
 * C tests of the schedule ABI, written from include/descent.h alone.
 *
 * 1. The bad-input table: every row makes one bad schedule call and states the status
 *    it must get and a piece of the message. After every row the fixture's groups
 *    (lr, momentum) and its schedule are exactly as they were.
 * 2. Behaviour: an lr_lambda with user data, calls from inside a callback, saved state,
 *    composites letting their children go, schedules outliving their optimizer.
 * lr sequences against torch are tested from Python (Tests/python/test_lr_scheduler.py).
 */
#include <descent.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "expect.h"

/* ------------------------------------------------------------ the fixture */

typedef struct {
    descent_optimizer *opt;     /* SGD, momentum 0.9, groups with lr 0.1 and 0.05 */
    descent_optimizer *adagrad; /* no momentum to cycle */
    descent_optimizer *other;   /* another SGD */
    descent_optimizer *freed;
    descent_schedule *step;     /* StepLR(step_size 2, gamma 0.5) on opt, stepped once */
    descent_schedule *plateau;  /* ReduceLROnPlateau on opt */
    descent_schedule *constant; /* ConstantLR(factor 1) on opt */
    descent_schedule *child;    /* belongs to `chained` */
    descent_schedule *chained;
    descent_schedule *on_other; /* StepLR on `other` */
    descent_schedule *gone;     /* a freed schedule */
    float p[4], q[4], r[4], s[4];
} Fixture;

static descent_optimizer *sgd(float *p, float *q) {
    descent_optimizer *opt;
    descent_params hp;
    MUST(descent_default_params(DESCENT_SGD, &hp));
    hp.lr = 0.1;
    hp.momentum = 0.9;
    MUST(descent_create(DESCENT_SGD, &hp, &opt));
    MUST(descent_add_group(opt, NULL, NULL));
    hp.lr = 0.05;
    MUST(descent_add_group(opt, &hp, NULL));
    MUST(descent_add_param(opt, 0, p, NULL, 4, NULL));
    MUST(descent_add_param(opt, 1, q, NULL, 4, NULL));
    return opt;
}

static void fixture_init(Fixture *f) {
    memset(f, 0, sizeof *f);
    f->opt = sgd(f->p, f->q);
    f->other = sgd(f->r, f->s);
    MUST(descent_create(DESCENT_ADAGRAD, NULL, &f->adagrad));
    MUST(descent_add_group(f->adagrad, NULL, NULL));
    MUST(descent_create(DESCENT_SGD, NULL, &f->freed));
    MUST(descent_free(f->freed));
    MUST(descent_schedule_step_lr(f->opt, 2, 0.5, &f->step));
    MUST(descent_schedule_step(f->step));
    descent_reduce_lr_on_plateau_options plateau;
    MUST(descent_reduce_lr_on_plateau_defaults(&plateau));
    MUST(descent_schedule_reduce_lr_on_plateau(f->opt, &plateau, &f->plateau));
    MUST(descent_schedule_constant_lr(f->opt, 1.0, 5, &f->constant));
    MUST(descent_schedule_exponential_lr(f->opt, 1.0, &f->child));
    MUST(descent_schedule_chained_scheduler(f->opt, &f->child, 1, &f->chained));
    MUST(descent_schedule_step_lr(f->other, 3, 0.5, &f->on_other));
    MUST(descent_schedule_constant_lr(f->other, 0.5, 2, &f->gone));
    MUST(descent_schedule_free(f->gone));
}

static void fixture_free(Fixture *f) {
    MUST(descent_schedule_free(f->chained));
    MUST(descent_schedule_free(f->child));
    MUST(descent_schedule_free(f->step));
    MUST(descent_schedule_free(f->plateau));
    MUST(descent_schedule_free(f->constant));
    MUST(descent_schedule_free(f->on_other));
    MUST(descent_free(f->opt));
    MUST(descent_free(f->other));
    MUST(descent_free(f->adagrad));
}

/* Everything a failed call could have half-changed. */
typedef struct {
    double lr[2], momentum[2], last_lr[2];
    int64_t epoch;
} Snapshot;

static void snapshot(const Fixture *f, Snapshot *s) {
    for (size_t g = 0; g < 2; g++) {
        MUST(descent_group_get(f->opt, g, DESCENT_OPTION_LR, &s->lr[g]));
        MUST(descent_group_get(f->opt, g, DESCENT_OPTION_MOMENTUM, &s->momentum[g]));
    }
    MUST(descent_schedule_last_lr(f->step, s->last_lr, 2));
    MUST(descent_schedule_last_epoch(f->step, &s->epoch));
}

/* ---------------------------------------------------- the bad-input table */

/* The bad-input table: each row's name, the status it must get, a piece of the message
 * it must leave, and the call itself, in one list (so a row and its call cannot drift
 * apart). Each call runs on the fixture `f`, with the locals of run_row. */
#define BAD_INPUT(X) \
    X("step_lr: out NULL", DESCENT_ERROR_NULL_POINTER, "out is NULL", descent_schedule_step_lr(f->opt, 2, 0.1, NULL)) \
    X("step_lr: opt NULL", DESCENT_ERROR_NULL_POINTER, "opt is NULL", descent_schedule_step_lr(NULL, 2, 0.1, &out)) \
    X("step_lr: freed opt", DESCENT_ERROR_INVALID_HANDLE, "not a live descent optimizer", descent_schedule_step_lr(f->freed, 2, 0.1, &out)) \
    X("step_lr: step_size 0", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Expected positive integer step_size, but got 0", descent_schedule_step_lr(f->opt, 0, 0.1, &out)) \
    X("step_lr: gamma -0.1", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Expected positive gamma, but got -0.1", descent_schedule_step_lr(f->opt, 2, -0.1, &out)) \
    X("multi_step: milestones NULL", DESCENT_ERROR_NULL_POINTER, "milestones is NULL", descent_schedule_multi_step_lr(f->opt, NULL, 2, 0.1, &out)) \
    X("multi_step: unsorted", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Expected milestones in increasing order, but got [30, 10]", descent_schedule_multi_step_lr(f->opt, unsorted, 2, 0.1, &out)) \
    X("multi_step: count (size_t)-1", DESCENT_ERROR_INVALID_ARGUMENT, "is too large", descent_schedule_multi_step_lr(f->opt, unsorted, (size_t)-1, 0.1, &out)) \
    X("constant: factor 1.5", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Constant multiplicative factor expected to be between 0 and 1.", descent_schedule_constant_lr(f->opt, 1.5, 5, &out)) \
    X("linear: start 0", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Starting multiplicative factor expected to be greater than 0", descent_schedule_linear_lr(f->opt, 0.0, 1.0, 5, &out)) \
    X("cosine: T_max 0", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Expected positive integer T_max, but got 0", descent_schedule_cosine_annealing_lr(f->opt, 0, 0.0, &out)) \
    X("warm restarts: T_mult 0", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Expected integer T_mult >= 1, but got 0", descent_schedule_cosine_annealing_warm_restarts(f->opt, 10, 0, 0.0, &out)) \
    X("warmup cosine: decay < warmup", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Expected decay_steps >= warmup_steps", descent_schedule_warmup_cosine_lr(f->opt, 10, 5, 0.0, &out)) \
    X("warmup cosine: start 2", DESCENT_ERROR_INVALID_ARGUMENT, "unknown warmup start 2", descent_schedule_warmup_cosine_lr_with(f->opt, 1, 5, 0.0, (descent_warmup_start)2, &out)) \
    X("cyclic: options NULL", DESCENT_ERROR_NULL_POINTER, "options is NULL", descent_schedule_cyclic_lr(f->opt, NULL, &out)) \
    X("cyclic: mode 7", DESCENT_ERROR_INVALID_HYPERPARAMETER, "mode 7 is invalid and scale_fn is None", (cyclic.mode = (descent_cyclic_mode)7, descent_schedule_cyclic_lr(f->opt, &cyclic, &out))) \
    X("cyclic: step_size_down -2", DESCENT_ERROR_INVALID_HYPERPARAMETER, "step_size_down", (cyclic.step_size_down = -2, descent_schedule_cyclic_lr(f->opt, &cyclic, &out))) \
    X("cyclic: Adagrad momentum", DESCENT_ERROR_INVALID_HYPERPARAMETER, "optimizer must support momentum or beta1", descent_schedule_cyclic_lr(f->adagrad, &cyclic, &out)) \
    X("one_cycle: total_steps 0", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Expected positive integer total_steps, but got 0", (one.total_steps = 0, descent_schedule_one_cycle_lr(f->opt, &one, &out))) \
    X("one_cycle: pct_start 1.5", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Expected float between 0 and 1 pct_start, but got 1.5", (one.pct_start = 1.5, descent_schedule_one_cycle_lr(f->opt, &one, &out))) \
    X("one_cycle: anneal 5", DESCENT_ERROR_INVALID_HYPERPARAMETER, "anneal_strategy must be one of 'cos' or 'linear', instead got 5", (one.anneal_strategy = (descent_anneal_strategy)5, descent_schedule_one_cycle_lr(f->opt, &one, &out))) \
    X("one_cycle: empty first phase", DESCENT_ERROR_INVALID_STATE, "float division by zero", (one.total_steps = 10, one.pct_start = 0.1, descent_schedule_one_cycle_lr(f->opt, &one, &out))) \
    X("plateau: factor 1", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Factor should be < 1.0.", (plateau.factor = 1.0, descent_schedule_reduce_lr_on_plateau(f->opt, &plateau, &out))) \
    X("plateau: mode 9", DESCENT_ERROR_INVALID_HYPERPARAMETER, "mode 9 is unknown!", (plateau.mode = (descent_plateau_mode)9, descent_schedule_reduce_lr_on_plateau(f->opt, &plateau, &out))) \
    X("plateau: threshold mode 9", DESCENT_ERROR_INVALID_HYPERPARAMETER, "threshold mode 9 is unknown!", (plateau.threshold_mode = (descent_threshold_mode)9, descent_schedule_reduce_lr_on_plateau(f->opt, &plateau, &out))) \
    X("lambda: NULL", DESCENT_ERROR_NULL_POINTER, "lr_lambda is NULL", descent_schedule_lambda_lr(f->opt, NULL, NULL, &out)) \
    X("lambda: fails at creation", DESCENT_ERROR_CALLBACK, "lr_lambda returned 7 for group 0 at epoch 0", descent_schedule_lambda_lr(f->opt, failing_lambda, NULL, &out)) \
    X("sequential: none", DESCENT_ERROR_INVALID_HYPERPARAMETER, "SequentialLR expects at least one scheduler, but got no scheduler.", descent_schedule_sequential_lr(f->opt, list, 0, NULL, &out)) \
    X("sequential: schedules NULL", DESCENT_ERROR_NULL_POINTER, "schedules is NULL", descent_schedule_sequential_lr(f->opt, NULL, 2, same, &out)) \
    X("sequential: freed child", DESCENT_ERROR_INVALID_HANDLE, "schedules[0] is not a live descent schedule", (list[0] = f->gone, descent_schedule_sequential_lr(f->opt, list, 1, NULL, &out))) \
    X("sequential: owned child", DESCENT_ERROR_INVALID_ARGUMENT, "already belongs to a ChainedScheduler", (list[0] = f->child, descent_schedule_sequential_lr(f->opt, list, 1, NULL, &out))) \
    X("sequential: child of another optimizer", DESCENT_ERROR_INVALID_ARGUMENT, "belongs to another optimizer", (list[0] = f->step, list[1] = f->on_other, descent_schedule_sequential_lr(f->opt, list, 2, same, &out))) \
    X("sequential: milestones NULL", DESCENT_ERROR_NULL_POINTER, "milestones is NULL", (list[0] = list[1] = f->step, descent_schedule_sequential_lr(f->opt, list, 2, NULL, &out))) \
    X("sequential: milestones unsorted", DESCENT_ERROR_INVALID_HYPERPARAMETER, "strictly increasing order, but got [5, 5]", descent_schedule_sequential_lr(f->opt, three, 3, same, &out)) \
    X("sequential: same child twice", DESCENT_ERROR_INVALID_ARGUMENT, "is given twice", (list[0] = list[1] = f->step, descent_schedule_sequential_lr(f->opt, list, 2, unsorted, &out))) \
    X("chained: optimizer as schedule", DESCENT_ERROR_INVALID_HANDLE, "schedules[0] is not a live descent schedule", (list[0] = (descent_schedule *)f->opt, descent_schedule_chained_scheduler(f->opt, list, 1, &out))) \
    X("step: NULL", DESCENT_ERROR_NULL_POINTER, "schedule is NULL", descent_schedule_step(NULL)) \
    X("step: freed", DESCENT_ERROR_INVALID_HANDLE, "not a live descent schedule", descent_schedule_step(f->gone)) \
    X("step: owned child", DESCENT_ERROR_INVALID_STATE, "belongs to a ChainedScheduler; step that one", descent_schedule_step(f->child)) \
    X("step: plateau without metric", DESCENT_ERROR_INVALID_STATE, "ReduceLROnPlateau needs a metric", descent_schedule_step(f->plateau)) \
    X("step_metric: NaN", DESCENT_ERROR_INVALID_ARGUMENT, "metric is nan", descent_schedule_step_metric(f->plateau, NAN)) \
    X("last_lr: wrong count", DESCENT_ERROR_INVALID_ARGUMENT, "count must be the number of param groups (2), got 1", descent_schedule_last_lr(f->step, lrs, 1)) \
    X("last_lr: out NULL", DESCENT_ERROR_NULL_POINTER, "out is NULL", descent_schedule_last_lr(f->step, NULL, 2)) \
    X("last_epoch: out NULL", DESCENT_ERROR_NULL_POINTER, "out is NULL", descent_schedule_last_epoch(f->step, NULL)) \
    X("save_state: too small", DESCENT_ERROR_INVALID_ARGUMENT, "is too small for the state", descent_schedule_save_state(f->step, bytes, 8, &size)) \
    X("load_state: garbage", DESCENT_ERROR_INVALID_ARGUMENT, "bad magic", (memset(bytes, 0xAB, sizeof bytes), descent_schedule_load_state(f->step, bytes, sizeof bytes))) \
    X("load_state: NULL buffer", DESCENT_ERROR_NULL_POINTER, "buffer is NULL", descent_schedule_load_state(f->step, NULL, 10)) \
    X("load_state: another kind", DESCENT_ERROR_INVALID_ARGUMENT, "schedule state is for StepLR, this schedule is a ReduceLROnPlateau", (save_step_state(f, bytes, sizeof bytes, &size), descent_schedule_load_state(f->plateau, bytes, size))) \
    X("load_state: truncated", DESCENT_ERROR_INVALID_ARGUMENT, "schedule state fails its CRC-32C check", (save_step_state(f, bytes, sizeof bytes, &size), descent_schedule_load_state(f->step, bytes, size - 1))) \
    X("free: owned child", DESCENT_ERROR_INVALID_STATE, "belongs to a ChainedScheduler; free that one first", descent_schedule_free(f->child)) \
    X("free: twice", DESCENT_ERROR_INVALID_HANDLE, "not a live descent schedule", descent_schedule_free(f->gone)) \
    X("descent_step on a schedule handle", DESCENT_ERROR_INVALID_HANDLE, "not a live descent optimizer", descent_step((descent_optimizer *)f->step)) \
    X("cosine: T_max INT64_MAX", DESCENT_ERROR_INVALID_HYPERPARAMETER, "Expected T_max <= 2**53, but got 9223372036854775807", descent_schedule_cosine_annealing_lr(f->opt, INT64_MAX, 0.0, &out))

static const Row rows[] = {BAD_INPUT(TABLE_ROW)};


/* The step schedule's saved state into `bytes`. */
static void save_step_state(Fixture *f, unsigned char *bytes, size_t capacity, size_t *size) {
    MUST(descent_schedule_save_state(f->step, bytes, capacity, size));
}

static int failing_lambda(void *user_data, size_t group, int64_t epoch, double *factor) {
    (void)user_data, (void)group, (void)epoch, (void)factor;
    return 7;
}

static descent_status run_row(int row, Fixture *f) {
    descent_schedule *out = NULL;
    descent_cyclic_lr_options cyclic;
    descent_one_cycle_lr_options one;
    descent_reduce_lr_on_plateau_options plateau;
    descent_cyclic_lr_defaults(&cyclic);
    cyclic.base_lr = 0.01;
    cyclic.max_lr = 0.1;
    descent_one_cycle_lr_defaults(&one);
    one.max_lr = 1.0;
    one.total_steps = 100;
    descent_reduce_lr_on_plateau_defaults(&plateau);
    int64_t unsorted[] = {30, 10}, same[] = {5, 5};
    double lrs[2];
    unsigned char bytes[256];
    size_t size = 0;
    descent_schedule *list[2] = {NULL, NULL};
    descent_schedule *three[3] = {f->step, f->plateau, f->constant};
    int k = 0;
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
        const char *messages[] = {descent_last_error(f.opt), descent_last_error(f.adagrad), descent_last_error(NULL)};
        check_row(i, &rows[i], status, messages, 3);
        snapshot(&f, &after);
        EXPECT(!memcmp(&before, &after, sizeof before), "row %d '%s' changed the groups or the schedule", i,
               rows[i].name);
    }
    /* After all of that the schedule still steps: epoch 2 halves both lrs. */
    MUST(descent_schedule_step(f.step));
    double lrs[2];
    MUST(descent_schedule_last_lr(f.step, lrs, 2));
    EXPECT(lrs[0] == 0.05 && lrs[1] == 0.025, "lrs %g %g", lrs[0], lrs[1]);
    fixture_free(&f);
    printf("schedule bad-input table: %d rows\n", n);
}

/* ------------------------------------------------------------- behaviour */

typedef struct {
    descent_optimizer *opt;
    double factor;
    int calls;
    descent_status inner[3];
} LambdaData;

/* factor^epoch, counting calls; at epoch 2 it tries to call back into its optimizer. */
static int power_lambda(void *user_data, size_t group, int64_t epoch, double *factor) {
    LambdaData *data = user_data;
    data->calls++;
    if (epoch == 2 && group == 0) {
        double lr;
        data->inner[0] = descent_group_get(data->opt, 0, DESCENT_OPTION_LR, &lr);
        data->inner[1] = descent_step(data->opt);
        data->inner[2] = descent_free(data->opt);
        EXPECT(strstr(descent_last_error(data->opt), "called from a callback") != NULL, "%s",
               descent_last_error(data->opt));
    }
    *factor = pow(data->factor, (double)epoch);
    return 0;
}

static void test_lambda_and_reentrancy(void) {
    float p[4] = {0}, q[4] = {0};
    LambdaData data = {sgd(p, q), 0.5, 0, {DESCENT_OK, DESCENT_OK, DESCENT_OK}};
    descent_schedule *s;
    MUST(descent_schedule_lambda_lr(data.opt, power_lambda, &data, &s));
    EXPECT(data.calls == 2, "one call per group at creation, got %d", data.calls);
    MUST(descent_schedule_step(s));
    MUST(descent_schedule_step(s));
    double lrs[2];
    MUST(descent_schedule_last_lr(s, lrs, 2));
    EXPECT(lrs[0] == 0.1 * 0.25 && lrs[1] == 0.05 * 0.25, "lrs %g %g", lrs[0], lrs[1]);
    for (int i = 0; i < 3; i++) {
        EXPECT(data.inner[i] == DESCENT_ERROR_REENTRANT_CALL, "inner call %d: %s", i,
               descent_status_name(data.inner[i]));
    }
    MUST(descent_step(data.opt)); /* the optimizer is fine afterwards */
    MUST(descent_schedule_free(s));
    MUST(descent_free(data.opt));
}

static void test_saved_state_resumes(void) {
    float p[4] = {0}, q[4] = {0}, r[4] = {0}, s4[4] = {0};
    descent_optimizer *a = sgd(p, q), *b = sgd(r, s4);
    descent_one_cycle_lr_options o;
    MUST(descent_one_cycle_lr_defaults(&o));
    o.max_lr = 1.0;
    o.total_steps = 50;
    descent_schedule *first, *second;
    MUST(descent_schedule_one_cycle_lr(a, &o, &first));
    for (int i = 0; i < 20; i++) MUST(descent_schedule_step(first));
    size_t size, written;
    MUST(descent_schedule_state_size(first, &size));
    unsigned char bytes[1024];
    EXPECT(size <= sizeof bytes, "state of %zu bytes", size);
    MUST(descent_schedule_save_state(first, bytes, sizeof bytes, &written));
    EXPECT(written == size, "wrote %zu of %zu", written, size);
    MUST(descent_schedule_one_cycle_lr(b, &o, &second));
    MUST(descent_schedule_load_state(second, bytes, written));
    for (int i = 0; i < 25; i++) {
        double la[2], lb[2], ma, mb;
        MUST(descent_schedule_last_lr(first, la, 2));
        MUST(descent_schedule_last_lr(second, lb, 2));
        MUST(descent_group_get(a, 1, DESCENT_OPTION_MOMENTUM, &ma));
        MUST(descent_group_get(b, 1, DESCENT_OPTION_MOMENTUM, &mb));
        EXPECT(la[0] == lb[0] && la[1] == lb[1] && ma == mb, "step %d: %g/%g %g/%g", i, la[0], lb[0], ma, mb);
        MUST(descent_schedule_step(first));
        MUST(descent_schedule_step(second));
    }
    descent_schedule_kind kind;
    MUST(descent_schedule_get_kind(second, &kind));
    EXPECT(kind == DESCENT_ONE_CYCLE_LR && !strcmp(descent_schedule_kind_name(kind), "OneCycleLR"), "kind %d", kind);
    EXPECT(descent_schedule_kind_name((descent_schedule_kind)99) == NULL, "unknown kind has a name");
    MUST(descent_schedule_free(first));
    MUST(descent_schedule_free(second));
    MUST(descent_free(a));
    MUST(descent_free(b));
}

static void test_lifetimes(void) {
    float p[4] = {0}, q[4] = {0};
    descent_optimizer *opt = sgd(p, q);
    descent_schedule *warm, *cos, *seq;
    MUST(descent_schedule_linear_lr(opt, 0.5, 1.0, 4, &warm));
    MUST(descent_schedule_cosine_annealing_lr(opt, 10, 0.0, &cos));
    descent_schedule *children[2] = {warm, cos};
    int64_t milestone = 4;
    MUST(descent_schedule_sequential_lr(opt, children, 2, &milestone, &seq));
    for (int i = 0; i < 6; i++) MUST(descent_schedule_step(seq));
    MUST(descent_schedule_free(seq));
    MUST(descent_schedule_step(cos)); /* let go by its composite */
    /* A group added later: the schedule refuses instead of guessing. */
    MUST(descent_add_group(opt, NULL, NULL));
    EXPECT(descent_schedule_step(cos) == DESCENT_ERROR_INVALID_STATE, "%s", descent_last_error(opt));
    /* The optimizer goes first: its schedules fail cleanly and can still be freed. */
    MUST(descent_free(opt));
    EXPECT(descent_schedule_step(warm) == DESCENT_ERROR_INVALID_HANDLE, "step after the optimizer was freed");
    EXPECT(strstr(descent_last_error(NULL), "has been freed") != NULL, "%s", descent_last_error(NULL));
    MUST(descent_schedule_free(warm));
    MUST(descent_schedule_free(cos));
    MUST(descent_schedule_free(NULL));
}

int main(void) {
    test_bad_input_table();
    test_lambda_and_reentrancy();
    test_saved_state_resumes();
    test_lifetimes();
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
