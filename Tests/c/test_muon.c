/*
 * Muon through the C ABI, written from include/descent.h alone. Its arithmetic is held
 * to torch's in Tests/parity/test_muon.py; here, what the header promises:
 *
 * 1. The update orthogonalizes: from a zero momentum buffer, without momentum or
 *    Nesterov, one step with lr 1 moves a wide matrix by U with U·Uᵀ near the identity
 *    (the quintic Newton–Schulz iteration leaves singular values in about 0.7..1.2).
 * 2. Every parameter a step takes must have a 2-D shape: one without is refused with
 *    DESCENT_ERROR_INVALID_ARGUMENT and torch's message, and nothing changes.
 * 3. oneDNN: found next to libdescent.so, kept for the process; another path is refused.
 * 4. Options: ns_steps below 100 (torch's message), adjust_lr_fn's choices by name.
 * 5. A checkpoint resumes bit for bit.
 */
#include <descent.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"

enum { ROWS = 4, COLUMNS = 8, N = ROWS * COLUMNS };

static descent_optimizer *muon(float *param, float *grad, const descent_option *ids, const double *values,
                               size_t count) {
    descent_optimizer *opt = NULL;
    MUST(descent_create_with(DESCENT_MUON, ids, values, count, &opt));
    MUST(descent_add_group(opt, NULL, NULL));
    MUST(descent_add_param(opt, 0, param, grad, N, NULL));
    size_t dims[] = {ROWS, COLUMNS};
    MUST(descent_param_set_shape(opt, 0, dims, 2));
    return opt;
}

static void fill(float *param, float *grad) {
    for (int i = 0; i < N; i++) {
        param[i] = 0.0f;
        grad[i] = sinf(0.7f * (float)i) + 0.1f * (float)(i % 3);
    }
}

static void test_update_is_nearly_orthogonal(void) {
    float param[N], grad[N];
    fill(param, grad);
    descent_option ids[] = {DESCENT_OPTION_LR, DESCENT_OPTION_MOMENTUM, DESCENT_OPTION_NESTEROV,
                            DESCENT_OPTION_WEIGHT_DECAY};
    double values[] = {1.0, 0.0, 0.0, 0.0};
    descent_optimizer *opt = muon(param, grad, ids, values, 4);
    MUST(descent_step(opt));
    /* p = -U (original adjustment: sqrt(max(1, 4/8)) = 1). */
    for (int i = 0; i < ROWS; i++) {
        for (int j = 0; j < ROWS; j++) {
            double dot = 0;
            for (int k = 0; k < COLUMNS; k++) dot += (double)param[i * COLUMNS + k] * param[j * COLUMNS + k];
            if (i == j) EXPECT(dot > 0.4 && dot < 1.6, "row %d of U has squared norm %g", i, dot);
            else EXPECT(fabs(dot) < 0.4, "rows %d and %d of U have dot product %g", i, j, dot);
        }
    }
    descent_free(opt);
}

static void test_parameters_must_be_matrices(void) {
    float param[N], grad[N], vector[3] = {1, 2, 3}, vector_grad[3] = {1, 1, 1};
    fill(param, grad);
    descent_optimizer *opt = muon(param, grad, NULL, NULL, 0);
    MUST(descent_add_param(opt, 0, vector, vector_grad, 3, NULL));
    EXPECT(descent_step(opt) == DESCENT_ERROR_INVALID_ARGUMENT, "a vector is refused");
    EXPECT(strstr(descent_last_error(opt),
                  "Muon only supports 2D parameters whereas we found a parameter with size: [3] (parameter 1") != NULL,
           "torch's message: %s", descent_last_error(opt));
    EXPECT(param[0] == 0.0f && vector[0] == 1.0f, "nothing changed");
    float *buffer = NULL;
    MUST(descent_param_state(opt, 0, "momentum_buffer", &buffer));
    EXPECT(buffer == NULL, "no state made");
    size_t three_d[] = {1, 1, 3};
    MUST(descent_param_set_shape(opt, 1, three_d, 3));
    EXPECT(descent_step(opt) == DESCENT_ERROR_INVALID_ARGUMENT, "a 3-D parameter is refused");
    size_t matrix[] = {1, 3};
    MUST(descent_param_set_shape(opt, 1, matrix, 2));
    MUST(descent_step(opt));
    EXPECT(param[0] != 0.0f && vector[0] != 1.0f, "both stepped as matrices");
    descent_free(opt);
}

static void test_onednn_is_loaded_once(void) {
    MUST(descent_load_onednn(NULL));
    const char *path = descent_onednn_path();
    EXPECT(path != NULL && strstr(path, "libdnnl.so.3") != NULL, "loaded from %s", path ? path : "(null)");
    MUST(descent_load_onednn(path));
    EXPECT(descent_load_onednn("/nonexistent/libdnnl.so.3") == DESCENT_ERROR_UNSUPPORTED, "another path refused");
    EXPECT(strstr(descent_last_error(NULL), "already loaded") != NULL, "%s", descent_last_error(NULL));
}

static void test_options(void) {
    descent_optimizer *opt = NULL;
    descent_option steps = DESCENT_OPTION_NS_STEPS;
    double hundred = 100;
    EXPECT(descent_create_with(DESCENT_MUON, &steps, &hundred, 1, &opt) == DESCENT_ERROR_INVALID_HYPERPARAMETER,
           "ns_steps 100 refused");
    EXPECT(strcmp(descent_last_error(NULL), "Number of steps must be less than 100 for computational efficiency") == 0,
           "torch's message: %s", descent_last_error(NULL));
    EXPECT(descent_option_choice(DESCENT_OPTION_ADJUST_LR_FN, 0) == NULL, "0 is None");
    EXPECT(strcmp(descent_option_choice(DESCENT_OPTION_ADJUST_LR_FN, 2), "match_rms_adamw") == 0, "choice 2");
    EXPECT(descent_option_choice(DESCENT_OPTION_ADJUST_LR_FN, 4) == NULL, "past the choices");
    descent_option adjust = DESCENT_OPTION_ADJUST_LR_FN;
    double four = 4;
    EXPECT(descent_create_with(DESCENT_MUON, &adjust, &four, 1, &opt) == DESCENT_ERROR_INVALID_HYPERPARAMETER,
           "adjust_lr_fn 4 refused");
}

static void test_checkpoint_resumes_bit_for_bit(void) {
    float a[N], a_grad[N], b[N], b_grad[N];
    fill(a, a_grad);
    fill(b, b_grad);
    descent_optimizer *first = muon(a, a_grad, NULL, NULL, 0);
    MUST(descent_step(first));
    size_t size = 0;
    MUST(descent_checkpoint_size(first, &size));
    void *bytes = malloc(size);
    MUST(descent_checkpoint_save(first, bytes, size, &size));
    memcpy(b, a, sizeof a);
    descent_optimizer *second = muon(b, b_grad, NULL, NULL, 0);
    MUST(descent_checkpoint_load(second, bytes, size));
    for (int i = 0; i < N; i++) a_grad[i] = b_grad[i] = cosf((float)i);
    MUST(descent_step(first));
    MUST(descent_step(second));
    EXPECT(memcmp(a, b, sizeof a) == 0, "resumed bit for bit");
    free(bytes);
    descent_free(first);
    descent_free(second);
}

int main(void) {
    test_update_is_nearly_orthogonal();
    test_parameters_must_be_matrices();
    test_onednn_is_loaded_once();
    test_options();
    test_checkpoint_resumes_bit_for_bit();
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
