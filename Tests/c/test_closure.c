/*
 * descent_step_closure, written from include/descent.h alone. The iterates are held to
 * torch's LBFGS in Tests/parity/test_lbfgs.py; here, what the header promises:
 *
 * 1. LBFGS minimizes Rosenbrock's function (2-D, with and without the line search) and
 *    a 1,000-D one, on one thread and on two with the same bits.
 * 2. A failing closure leaves nothing half-applied: the parameters and the state are
 *    those after the last completed iteration, so the run continues exactly as one that
 *    stopped there; a failure in the first call changes nothing.
 * 3. Inside the closure, descent_zero_grad and descent_set_grad work and other calls on
 *    the optimizer are refused; every other algorithm calls the closure once and steps.
 * 4. Bad input: a status and a message naming what is wrong, and nothing changed.
 * 5. LBFGS's state moves between optimizers (descent_lbfgs_get_state / _set_state).
 */
#include <descent.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "expect.h"

enum { MAX_N = 1000 };

/* The problem a closure evaluates: Rosenbrock's function over x[0..n), its gradient
 * written into grad. `fail_at` > 0 makes the closure's call of that number fail. */
typedef struct {
    descent_optimizer *opt;
    float x[MAX_N], grad[MAX_N];
    size_t n;
    int calls, fail_at;
    descent_status zero_grad_status, nested_status;
} Problem;

static int rosenbrock(void *user_data, double *loss) {
    Problem *p = user_data;
    p->calls++;
    if (p->fail_at > 0 && p->calls == p->fail_at) return 7;
    p->zero_grad_status = descent_zero_grad(p->opt);
    double f = 0;
    for (size_t i = 0; i + 1 < p->n; i++) {
        double a = p->x[i], b = p->x[i + 1];
        f += 100 * (b - a * a) * (b - a * a) + (1 - a) * (1 - a);
        p->grad[i] += (float)(-400 * a * (b - a * a) - 2 * (1 - a));
        p->grad[i + 1] += (float)(200 * (b - a * a));
    }
    *loss = f;
    return 0;
}

static void make(Problem *p, size_t n, const descent_option *options, const double *values, size_t count) {
    memset(p, 0, sizeof *p);
    p->n = n;
    for (size_t i = 0; i < n; i++) p->x[i] = (i % 2) ? 1.0f : -1.2f;
    MUST(descent_create_with(DESCENT_LBFGS, options, values, count, &p->opt));
    MUST(descent_add_group(p->opt, NULL, NULL));
    MUST(descent_add_param(p->opt, 0, p->x, p->grad, n, NULL));
}

static double step(Problem *p) {
    double loss = NAN;
    MUST(descent_step_closure(p->opt, rosenbrock, p, &loss));
    return loss;
}

static void test_minimizes_rosenbrock(void) {
    descent_option options[2] = {DESCENT_OPTION_LINE_SEARCH_FN, DESCENT_OPTION_LR};
    double wolfe[2] = {1, 1}, fixed[2] = {0, 0.1};
    Problem with, without;
    make(&with, 2, options, wolfe, 2);
    make(&without, 2, options, fixed, 2);
    double first = step(&without);
    for (int i = 0; i < 10; i++) step(&with);
    for (int i = 0; i < 10; i++) step(&without);
    EXPECT(fabsf(with.x[0] - 1) < 1e-4f && fabsf(with.x[1] - 1) < 1e-4f, "strong Wolfe ends at (%g, %g)",
           with.x[0], with.x[1]);
    EXPECT(step(&without) < first, "no descent without the line search");
    EXPECT(with.zero_grad_status == DESCENT_OK, "descent_zero_grad inside the closure: %s",
           descent_status_name(with.zero_grad_status));
    /* 20 iterations of at most 25 evaluations each per step. */
    EXPECT(with.calls > 10 && with.calls <= 10 * 25, "%d calls", with.calls);
    MUST(descent_free(with.opt));
    MUST(descent_free(without.opt));
}

static void test_threads_give_the_same_bits(void) {
    static Problem one, two;
    descent_option option = DESCENT_OPTION_LINE_SEARCH_FN;
    double wolfe = 1;
    make(&one, MAX_N, &option, &wolfe, 1);
    make(&two, MAX_N, &option, &wolfe, 1);
    MUST(descent_set_num_threads(1));
    double before = step(&one);
    for (int i = 0; i < 3; i++) step(&one);
    MUST(descent_set_num_threads(2));
    for (int i = 0; i < 4; i++) step(&two);
    EXPECT(memcmp(one.x, two.x, sizeof one.x) == 0, "1 and 2 threads differ");
    EXPECT(step(&one) < before / 10, "1,000-D Rosenbrock did not descend");
    MUST(descent_set_num_threads(0));
    MUST(descent_free(one.opt));
    MUST(descent_free(two.opt));
}

/* Two steps of 4 iterations on 10-D Rosenbrock, then one of `iterations` (max_eval is
 * set so that it never ends a step first). */
static void run_reference(Problem *p, double line_search, int iterations) {
    descent_option options[3] = {DESCENT_OPTION_LINE_SEARCH_FN, DESCENT_OPTION_MAX_ITER, DESCENT_OPTION_MAX_EVAL};
    double values[3] = {line_search, 4, 100};
    make(p, 10, options, values, 3);
    step(p);
    if (iterations == 0) return;
    MUST(descent_group_set(p->opt, 0, DESCENT_OPTION_MAX_ITER, iterations));
    step(p);
    MUST(descent_group_set(p->opt, 0, DESCENT_OPTION_MAX_ITER, 4));
}

/* A step that fails at its closure call `fail_at` leaves the parameters and state of
 * the last completed iteration: those of a reference whose step had as many iterations
 * (0: nothing changed), and both runs continue alike. */
static void check_failure_rolls_back(double line_search, int fail_at) {
    static Problem failing, reference;
    run_reference(&failing, line_search, 0);
    failing.calls = 0;
    failing.fail_at = fail_at;
    double loss = -1;
    descent_status status = descent_step_closure(failing.opt, rosenbrock, &failing, &loss);
    EXPECT(status == DESCENT_ERROR_CALLBACK, "a failing closure: %s", descent_status_name(status));
    EXPECT(strstr(descent_last_error(failing.opt), "the closure returned 7") != NULL, "%s",
           descent_last_error(failing.opt));
    EXPECT(loss == -1, "the loss was written by a failed step");
    failing.fail_at = 0;
    int completed = -1;
    for (int iterations = 0; iterations < 4 && completed < 0; iterations++) {
        run_reference(&reference, line_search, iterations);
        if (memcmp(reference.x, failing.x, sizeof reference.x) == 0) completed = iterations;
        else MUST(descent_free(reference.opt));
    }
    EXPECT(completed >= 0, "line search %g, failing call %d: not the parameters after whole iterations",
           line_search, fail_at);
    if (completed < 0) {
        MUST(descent_free(failing.opt));
        return;
    }
    for (int i = 0; i < 2; i++) {
        step(&failing);
        step(&reference);
    }
    EXPECT(memcmp(reference.x, failing.x, sizeof reference.x) == 0,
           "line search %g, failing call %d: the run does not continue as the reference", line_search, fail_at);
    MUST(descent_free(failing.opt));
    MUST(descent_free(reference.opt));
}

static void test_failures_roll_back_to_the_last_iteration(void) {
    /* A fixed-step step of 4 iterations calls the closure 4 times: each call fails once. */
    for (int fail_at = 1; fail_at <= 4; fail_at++) {
        check_failure_rolls_back(0, fail_at);
        check_failure_rolls_back(1, fail_at);
    }
}

static float sgd_grad[2] = {0.5f, -0.5f};

/* Calls on the optimizer from inside its closure, other than zero_grad and set_grad. */
static int nested_step(void *user_data, double *loss) {
    Problem *p = user_data;
    p->nested_status = descent_step(p->opt);
    MUST(descent_set_grad(p->opt, 0, sgd_grad));
    *loss = 1;
    return 0;
}

static void test_other_algorithms_and_nesting(void) {
    float x[2] = {1, 2}, grad[2] = {0};
    descent_optimizer *sgd;
    MUST(descent_create(DESCENT_SGD, NULL, &sgd));
    MUST(descent_add_group(sgd, NULL, NULL));
    MUST(descent_add_param(sgd, 0, x, grad, 2, NULL));
    Problem p = {.opt = sgd};
    double loss = 0;
    MUST(descent_step_closure(sgd, nested_step, &p, &loss));
    EXPECT(loss == 1, "loss %g", loss);
    EXPECT(p.nested_status == DESCENT_ERROR_REENTRANT_CALL, "descent_step inside: %s",
           descent_status_name(p.nested_status));
    EXPECT(x[0] == 1 - 0.001f * 0.5f && x[1] == 2 + 0.001f * 0.5f, "SGD did not step once: %g %g", x[0], x[1]);
    MUST(descent_free(sgd));
}

static int never_called(void *user_data, double *loss) {
    (void)user_data;
    *loss = 0;
    return 1;
}

static void test_bad_input(void) {
    Problem p;
    make(&p, 4, NULL, NULL, 0);
    float before[4];
    memcpy(before, p.x, sizeof before);
    EXPECT(descent_step(p.opt) == DESCENT_ERROR_UNSUPPORTED, "descent_step on LBFGS");
    EXPECT(strstr(descent_last_error(p.opt), "descent_step_closure") != NULL, "%s", descent_last_error(p.opt));
    EXPECT(descent_step_closure(p.opt, NULL, NULL, NULL) == DESCENT_ERROR_NULL_POINTER, "NULL closure");
    EXPECT(strstr(descent_last_error(p.opt), "closure is NULL") != NULL, "%s", descent_last_error(p.opt));
    EXPECT(descent_step_closure(NULL, never_called, NULL, NULL) == DESCENT_ERROR_NULL_POINTER, "NULL opt");
    EXPECT(descent_add_group(p.opt, NULL, NULL) == DESCENT_ERROR_UNSUPPORTED, "a second group");
    EXPECT(strstr(descent_last_error(p.opt), "LBFGS doesn't support per-parameter options (parameter groups)"),
           "%s", descent_last_error(p.opt));
    struct {
        descent_option option;
        double value;
        const char *message;
    } bad[] = {
        {DESCENT_OPTION_HISTORY_SIZE, 0, "Invalid history_size value: 0.0"},
        {DESCENT_OPTION_MAX_ITER, 2.5, "Invalid max_iter value: 2.5"},
        {DESCENT_OPTION_MAX_EVAL, -2, "Invalid max_eval value: -2.0"},
        {DESCENT_OPTION_LR, -1, "Invalid learning rate: -1.0"},
        {DESCENT_OPTION_TOLERANCE_GRAD, NAN, "Invalid tolerance_grad value: nan"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT(descent_group_set(p.opt, 0, bad[i].option, bad[i].value) == DESCENT_ERROR_INVALID_HYPERPARAMETER,
               "%s", bad[i].message);
        EXPECT(strstr(descent_last_error(p.opt), bad[i].message) != NULL, "'%s' lacks '%s'",
               descent_last_error(p.opt), bad[i].message);
    }
    EXPECT(memcmp(before, p.x, sizeof before) == 0, "a refused call changed the parameters");
    step(&p);
    float extra[2] = {0};
    MUST(descent_add_param(p.opt, 0, extra, NULL, 2, NULL));
    EXPECT(descent_step_closure(p.opt, rosenbrock, &p, NULL) == DESCENT_ERROR_INVALID_STATE, "a parameter added");
    EXPECT(strstr(descent_last_error(p.opt), "parameters cannot be added after its first step") != NULL, "%s",
           descent_last_error(p.opt));
    MUST(descent_free(p.opt));
}

/* The state taken with descent_lbfgs_get_state and given to a fresh optimizer with
 * descent_lbfgs_set_state continues bit for bit; bad records are refused. */
static void test_state_moves_between_optimizers(void) {
    descent_option options[2] = {DESCENT_OPTION_LINE_SEARCH_FN, DESCENT_OPTION_HISTORY_SIZE};
    double values[2] = {1, 3};
    static Problem source, target;
    make(&source, 10, options, values, 2);
    make(&target, 10, options, values, 2);
    for (int i = 0; i < 3; i++) step(&source);
    memcpy(target.x, source.x, sizeof source.x);
    descent_lbfgs_state state = {0};
    size_t count = 0;
    MUST(descent_lbfgs_get_state(source.opt, &state, NULL, 0, &count));
    EXPECT(state.history == 3 && state.numel == 10 && count == 2 + 2 * 3, "history %zu numel %zu vectors %zu",
           state.history, state.numel, count);
    EXPECT((state.flags & DESCENT_LBFGS_HAS_D) && (state.flags & DESCENT_LBFGS_H_DIAG_IS_TENSOR), "flags %u",
           state.flags);
    float ro[3], al[8];
    float *vectors[8];
    EXPECT(state.al_count <= 8, "al_count %zu", state.al_count);
    state.ro = ro;
    state.al = al;
    MUST(descent_lbfgs_get_state(source.opt, &state, vectors, 8, &count));
    MUST(descent_lbfgs_set_state(target.opt, &state, (const float *const *)vectors));
    for (int i = 0; i < 3; i++) {
        step(&source);
        step(&target);
    }
    EXPECT(memcmp(source.x, target.x, sizeof source.x) == 0, "the moved state did not continue alike");

    descent_lbfgs_state bad = state;
    bad.flags |= 1u << 20;
    EXPECT(descent_lbfgs_set_state(target.opt, &bad, (const float *const *)vectors) == DESCENT_ERROR_INVALID_ARGUMENT,
           "unknown flags");
    bad = state;
    bad.numel = 9;
    EXPECT(descent_lbfgs_set_state(target.opt, &bad, (const float *const *)vectors) == DESCENT_ERROR_MISMATCH,
           "numel");
    EXPECT(strstr(descent_last_error(target.opt), "vectors of 9 elements") != NULL, "%s", descent_last_error(target.opt));
    EXPECT(descent_lbfgs_set_state(target.opt, &state, NULL) == DESCENT_ERROR_NULL_POINTER, "NULL vectors");
    bad = state;
    bad.ro = NULL;
    EXPECT(descent_lbfgs_set_state(target.opt, &bad, (const float *const *)vectors) == DESCENT_ERROR_NULL_POINTER,
           "NULL ro");
    EXPECT(descent_lbfgs_get_state(target.opt, NULL, NULL, 0, NULL) == DESCENT_ERROR_NULL_POINTER, "NULL out");
    EXPECT(descent_lbfgs_get_state(target.opt, &state, NULL, 1, NULL) == DESCENT_ERROR_NULL_POINTER,
           "NULL vectors with capacity");
    descent_optimizer *adam;
    MUST(descent_create(DESCENT_ADAM, NULL, &adam));
    EXPECT(descent_lbfgs_get_state(adam, &state, NULL, 0, NULL) == DESCENT_ERROR_UNSUPPORTED, "Adam");
    MUST(descent_free(adam));
    MUST(descent_free(source.opt));
    MUST(descent_free(target.opt));
}

int main(void) {
    test_minimizes_rosenbrock();
    test_threads_give_the_same_bits();
    test_failures_roll_back_to_the_last_iteration();
    test_other_algorithms_and_nesting();
    test_bad_input();
    test_state_moves_between_optimizers();
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
