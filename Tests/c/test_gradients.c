/*
 * C tests of the gradient utilities and the fused phase, from include/descent.h alone.
 *
 * 1. The bad-input table: every row makes one bad call and states the status and a
 *    piece of the message; after each row the parameters, gradients and step counts
 *    must be exactly as they were.
 * 2. Behaviour: norms of known vectors, torch's clip arithmetic, the phase with default
 *    options equal to descent_step bit for bit, skip, zero and the report.
 */
#include <descent.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "expect.h"

#define N 8
typedef struct {
    descent_optimizer *opt; /* Adam, parameters p/g and q/h */
    float p[N], g[N], q[N], h[N];
} Fixture;

static void fixture_init(Fixture *f) {
    memset(f, 0, sizeof *f);
    for (int i = 0; i < N; i++) f->p[i] = 1.0f + (float)i, f->g[i] = 0.5f, f->q[i] = -1.0f, f->h[i] = 0.25f;
    MUST(descent_create(DESCENT_ADAM, NULL, &f->opt));
    MUST(descent_add_group(f->opt, NULL, NULL));
    MUST(descent_add_param(f->opt, 0, f->p, f->g, N, NULL));
    MUST(descent_add_param(f->opt, 0, f->q, f->h, N, NULL));
}

/* The bad-input table: each row's name, the status it must get, a piece of the message
 * it must leave, and the call itself, in one list (so a row and its call cannot drift
 * apart). Each call runs on the fixture `f`, with the locals of run_row. */
#define BAD_INPUT(X) \
    X("phase: opt NULL", DESCENT_ERROR_NULL_POINTER, "opt is NULL", descent_step_phase(NULL, &o, NULL, 0, NULL)) \
    X("phase: grad_scale 0", DESCENT_ERROR_INVALID_ARGUMENT, "grad_scale must be a finite number > 0 (as a float32), got 0.0", (o.grad_scale = 0, descent_step_phase(f->opt, &o, NULL, 0, NULL))) \
    X("phase: grad_scale NaN", DESCENT_ERROR_INVALID_ARGUMENT, "got nan", (o.grad_scale = NAN, descent_step_phase(f->opt, &o, NULL, 0, NULL))) \
    X("phase: grad_scale -1", DESCENT_ERROR_INVALID_ARGUMENT, "got -1.0", (o.grad_scale = -1, descent_step_phase(f->opt, &o, NULL, 0, NULL))) \
    X("phase: grad_scale beyond float32", DESCENT_ERROR_INVALID_ARGUMENT, "got 1e+300", (o.grad_scale = 1e300, descent_step_phase(f->opt, &o, NULL, 0, NULL))) \
    X("phase: max_norm -1", DESCENT_ERROR_INVALID_ARGUMENT, "max_norm must be >= 0, got -1.0", (o.clip = DESCENT_CLIP_NORM, o.max_norm = -1, descent_step_phase(f->opt, &o, NULL, 0, NULL))) \
    X("phase: max_norm NaN", DESCENT_ERROR_INVALID_ARGUMENT, "max_norm must be >= 0, got nan", (o.clip = DESCENT_CLIP_NORM, o.max_norm = NAN, descent_step_phase(f->opt, &o, NULL, 0, NULL))) \
    X("phase: norm_type 0.5", DESCENT_ERROR_INVALID_ARGUMENT, "norm_type must be >= 1 or inf, got 0.5", (o.clip = DESCENT_CLIP_NORM, o.max_norm = 1, o.norm_type = 0.5, descent_step_phase(f->opt, &o, NULL, 0, NULL))) \
    X("phase: norm_type -inf", DESCENT_ERROR_INVALID_ARGUMENT, "norm_type must be >= 1 or inf, got -inf", (o.clip = DESCENT_CLIP_NORM, o.max_norm = 1, o.norm_type = -INFINITY, descent_step_phase(f->opt, &o, NULL, 0, NULL))) \
    X("phase: clip_value -1", DESCENT_ERROR_INVALID_ARGUMENT, "clip_value must be >= 0, got -1.0", (o.clip = DESCENT_CLIP_VALUE, o.clip_value = -1, descent_step_phase(f->opt, &o, NULL, 0, NULL))) \
    X("phase: nonfinite 7", DESCENT_ERROR_INVALID_ARGUMENT, "nonfinite 7 is not a descent_nonfinite_policy", (o.nonfinite = (descent_nonfinite_policy)7, descent_step_phase(f->opt, &o, NULL, 0, NULL))) \
    X("phase: clip 9", DESCENT_ERROR_INVALID_ARGUMENT, "clip 9 is not a descent_clip_mode", (o.clip = (descent_clip_mode)9, descent_step_phase(f->opt, &o, NULL, 0, NULL))) \
    X("phase: grads NULL, count 2", DESCENT_ERROR_INVALID_ARGUMENT, "grads is NULL (the registered gradients) but count is 2", descent_step_phase(f->opt, &o, NULL, 2, NULL)) \
    X("phase: count 1 of 2", DESCENT_ERROR_INVALID_ARGUMENT, "expected 2 gradients (one per parameter), got 1", descent_step_phase(f->opt, &o, grads, 1, NULL)) \
    X("phase: grad overlaps a parameter", DESCENT_ERROR_OVERLAP, "grad of parameter 1 overlaps registered parameter 0", (grads[1] = f->p, descent_step_phase(f->opt, &o, grads, 2, NULL))) \
    X("phase: inf gradient, policy error", DESCENT_ERROR_NONFINITE, "a gradient holds inf or NaN (nonfinite policy: error)", (f->h[3] = INFINITY, o.nonfinite = DESCENT_NONFINITE_ERROR, o.zero_grad = true, descent_step_phase(f->opt, &o, NULL, 0, NULL))) \
    X("phase: inf norm, error_if_nonfinite", DESCENT_ERROR_NONFINITE, "The total norm of order 2.0 for gradients", (f->h[3] = NAN, o.clip = DESCENT_CLIP_NORM, o.max_norm = 1, o.error_if_nonfinite = true, descent_step_phase(f->opt, &o, NULL, 0, NULL))) \
    X("clip_grad_norm: grads NULL", DESCENT_ERROR_NULL_POINTER, "grads is NULL", descent_clip_grad_norm(NULL, numels, 2, 1.0, 2.0, false, &total)) \
    X("clip_grad_norm: numels NULL", DESCENT_ERROR_NULL_POINTER, "numels is NULL", descent_clip_grad_norm(grads, NULL, 2, 1.0, 2.0, false, &total)) \
    X("clip_grad_norm: count -1", DESCENT_ERROR_INVALID_ARGUMENT, "count -1 is out of range", descent_clip_grad_norm(grads, numels, (size_t)-1, 1.0, 2.0, false, &total)) \
    X("clip_grad_norm: overlapping buffers", DESCENT_ERROR_OVERLAP, "grads[0] and grads[1] overlap", (grads[1] = f->g + 3, descent_clip_grad_norm(grads, numels, 2, 1.0, 2.0, false, &total))) \
    X("clip_grad_norm: misaligned buffer", DESCENT_ERROR_INVALID_ARGUMENT, "grads[1] is not aligned to 4 bytes", (grads[1] = (float *)((char *)f->h + 1), descent_clip_grad_norm(grads, numels, 2, 1.0, 2.0, false, &total))) \
    X("clip_grad_norm: NULL buffer", DESCENT_ERROR_INVALID_ARGUMENT, "grads[1] is NULL", (grads[1] = NULL, descent_clip_grad_norm(grads, numels, 2, 1.0, 2.0, false, &total))) \
    X("clip_grad_norm: numel huge", DESCENT_ERROR_INVALID_ARGUMENT, "grads[0]: numel -1 is out of range", (numels[0] = (size_t)-1, descent_clip_grad_norm(grads, numels, 2, 1.0, 2.0, false, &total))) \
    X("clip_grad_norm: max_norm -2", DESCENT_ERROR_INVALID_ARGUMENT, "max_norm must be >= 0, got -2.0", descent_clip_grad_norm(grads, numels, 2, -2.0, 2.0, false, &total)) \
    X("clip_grad_norm: inf norm, error_if_nonfinite", DESCENT_ERROR_NONFINITE, "is non-finite, so it cannot be clipped", (f->g[0] = INFINITY, descent_clip_grad_norm(grads, numels, 2, 1.0, 2.0, true, &total))) \
    X("clip_grad_value: clip_value NaN", DESCENT_ERROR_INVALID_ARGUMENT, "clip_value must be >= 0, got nan", descent_clip_grad_value(grads, numels, 2, NAN)) \
    X("grad_norm: total_norm NULL", DESCENT_ERROR_NULL_POINTER, "total_norm is NULL", descent_grad_norm(grads, numels, 2, 2.0, false, NULL)) \
    X("grad_norm: norm_type 0", DESCENT_ERROR_INVALID_ARGUMENT, "norm_type must be >= 1 or inf, got 0.0", descent_grad_norm(grads, numels, 2, 0.0, false, &total)) \
    X("step_options_default: NULL", DESCENT_ERROR_NULL_POINTER, "out is NULL", descent_step_options_default(NULL)) \
    X("phase: zero_grad holds byte 7", DESCENT_ERROR_INVALID_ARGUMENT, "descent_step_options.zero_grad holds the byte 7", (memset(&o.zero_grad, 7, 1), descent_step_phase(f->opt, &o, NULL, 0, NULL))) /* a C bool with a byte no bool can hold */

static const Row rows[] = {BAD_INPUT(TABLE_ROW)};


static descent_status run_row(int row, Fixture *f) {
    descent_step_options o;
    descent_step_options_default(&o);
    float *grads[2] = {f->g, f->h};
    size_t numels[2] = {N, N};
    float total;
    int k = 0;
    BAD_INPUT(TABLE_CALL)
    return DESCENT_ERROR_INTERNAL;
}

static void test_bad_input_table(void) {
    int n = (int)(sizeof rows / sizeof rows[0]);
    for (int i = 0; i < n; i++) {
        Fixture f;
        fixture_init(&f);
        descent_status status = run_row(i, &f);
        const char *messages[] = {descent_last_error(f.opt), descent_last_error(NULL)};
        check_row(i, &rows[i], status, messages, 2);
        int64_t steps = -1;
        MUST(descent_param_step_count(f.opt, 1, &steps));
        float *state = (float *)1;
        MUST(descent_param_state(f.opt, 0, "exp_avg", &state));
        int same = steps == 0 && state == NULL && f.p[0] == 1.0f && f.q[0] == -1.0f && f.g[1] == 0.5f && f.h[1] == 0.25f;
        EXPECT(same, "row %d '%s' changed something", i, rows[i].name);
        MUST(descent_free(f.opt));
    }
    printf("bad-input table: %d rows\n", n);
}

static void test_norms_and_clipping(void) {
    float a[2] = {3, -4}, b[3] = {0, 0, 0};
    float *grads[3] = {a, b, NULL};
    size_t numels[3] = {2, 3, 0};
    float total;
    MUST(descent_grad_norm(grads, numels, 3, 2.0, false, &total));
    EXPECT(total == 5.0f, "L2 %g", total);
    MUST(descent_grad_norm(grads, numels, 3, 1.0, false, &total));
    EXPECT(total == 7.0f, "L1 %g", total);
    MUST(descent_grad_norm(grads, numels, 3, INFINITY, false, &total));
    EXPECT(total == 4.0f, "inf %g", total);
    MUST(descent_grad_norm(grads, numels, 0, 2.0, false, &total));
    EXPECT(total == 0.0f, "empty %g", total);

    /* torch: clip_coef = reciprocal(total + 1e-6) * max_norm, clamped to 1, in float32. */
    float coef = (1.0f / (5.0f + 1e-6f)) * 1.0f;
    MUST(descent_clip_grad_norm(grads, numels, 3, 1.0, 2.0, false, &total));
    EXPECT(total == 5.0f && a[0] == 3 * coef && a[1] == -4 * coef, "clipped %g %g", a[0], a[1]);
    MUST(descent_clip_grad_norm(grads, numels, 3, 10.0, 2.0, false, NULL));
    EXPECT(a[0] == 3 * coef, "coefficient 1 changed the gradient");

    float c[4] = {-2, 0.5f, NAN, 3};
    float *one[1] = {c};
    size_t four[1] = {4};
    MUST(descent_clip_grad_value(one, four, 1, 1.0));
    EXPECT(c[0] == -1 && c[1] == 0.5f && isnan(c[2]) && c[3] == 1, "clamped %g %g %g %g", c[0], c[1], c[2], c[3]);
}

static void test_phase(void) {
    Fixture a, b;
    fixture_init(&a);
    fixture_init(&b);
    descent_step_options o;
    MUST(descent_step_options_default(&o));
    descent_step_report r;
    MUST(descent_step_phase(a.opt, &o, NULL, 0, &r));
    MUST(descent_step(b.opt));
    EXPECT(!memcmp(a.p, b.p, sizeof a.p) && !memcmp(a.q, b.q, sizeof a.q), "default phase differs from step");
    EXPECT(r.skipped == DESCENT_SKIP_NONE && !r.found_inf && isnan(r.total_norm) && r.clip_coef == 1.0 &&
           r.params_updated == 2 && r.elements_updated == 2 * N, "report %zu %zu", r.params_updated, r.elements_updated);

    /* A loss-scaled step with an overflow: skipped, gradients zeroed, nothing else moved. */
    float before = a.p[0];
    a.g[5] = INFINITY;
    o.grad_scale = 1024;
    o.nonfinite = DESCENT_NONFINITE_SKIP;
    o.zero_grad = true;
    MUST(descent_step_phase(a.opt, &o, NULL, 0, &r));
    int64_t steps;
    MUST(descent_param_step_count(a.opt, 0, &steps));
    EXPECT(r.skipped == DESCENT_SKIP_NONFINITE && r.found_inf && r.elements_updated == 0, "skip report");
    EXPECT(steps == 1 && a.p[0] == before && a.g[5] == 0 && a.h[0] == 0, "skipped step changed state");

    /* Clip by norm through passed gradients: the report has torch's norm and coefficient. */
    float g[N], h[N];
    for (int i = 0; i < N; i++) g[i] = 3, h[i] = 4;
    float *grads[2] = {g, h};
    descent_step_options_default(&o);
    o.clip = DESCENT_CLIP_NORM, o.max_norm = 1.0;
    MUST(descent_step_phase(a.opt, &o, grads, 2, &r));
    float norm = sqrtf(8 * 9 + 8 * 16);
    EXPECT(r.total_norm == (double)norm && r.clip_coef == (double)((1.0f / (norm + 1e-6f)) * 1.0f), "norm %g coef %g",
           r.total_norm, r.clip_coef);
    EXPECT(g[0] == 3 * (float)r.clip_coef, "clipped gradient not written back: %g", g[0]);
    MUST(descent_free(a.opt));
    MUST(descent_free(b.opt));
}

int main(void) {
    test_bad_input_table();
    test_norms_and_clipping();
    test_phase();
    printf("%d checks, %d failures\n", checks, failures);
    return failures != 0;
}
