/*
 * Adafactor's shapes through the C ABI, written from include/descent.h alone. Its
 * arithmetic is held to torch's in Tests/parity/test_adafactor.py; here, what the header
 * promises about shapes:
 *
 * 1. A parameter given two or more dimensions keeps row_var and col_var, in torch's
 *    shapes (descent_param_state_shape); one of fewer keeps variance.
 * 2. A shape cannot change once state sized by it exists; descent_param_create_state
 *    refuses a slot the shape does not keep.
 * 3. Checkpoints record shapes: a load needs the same ones, and restores bit for bit.
 * 4. eps[0] takes NAN for torch's None; a negative one is refused with torch's message.
 */
#include <descent.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"

enum { ROWS = 3, COLUMNS = 5, N = ROWS * COLUMNS, VECTOR = 4 };

typedef struct {
    descent_optimizer *opt;
    float matrix[N], matrix_grad[N], vector[VECTOR], vector_grad[VECTOR];
} Model;

/* Adafactor over a 3 x 5 matrix and a vector of 4, given their shapes; `shaped` 0 leaves
 * the matrix flat. */
static void make(Model *m, int shaped) {
    for (int i = 0; i < N; i++) m->matrix[i] = 0.1f * (float)(i - 7), m->matrix_grad[i] = 0.05f * (float)(i % 4 + 1);
    for (int i = 0; i < VECTOR; i++) m->vector[i] = 1.0f, m->vector_grad[i] = 0.25f * (float)(i + 1);
    MUST(descent_create(DESCENT_ADAFACTOR, NULL, &m->opt));
    MUST(descent_add_group(m->opt, NULL, NULL));
    MUST(descent_add_param(m->opt, 0, m->matrix, m->matrix_grad, N, NULL));
    MUST(descent_add_param(m->opt, 0, m->vector, m->vector_grad, VECTOR, NULL));
    size_t dims[] = {ROWS, COLUMNS};
    if (shaped) MUST(descent_param_set_shape(m->opt, 0, dims, 2));
}

static size_t state_shape(descent_optimizer *opt, size_t index, const char *name, size_t *dims) {
    size_t ndim = 0;
    MUST(descent_param_state_shape(opt, index, name, dims, DESCENT_MAX_DIMS, &ndim));
    return ndim;
}

static void test_factored_state_in_torchs_shapes(void) {
    Model m;
    make(&m, 1);
    MUST(descent_step(m.opt));
    size_t dims[DESCENT_MAX_DIMS];
    EXPECT(state_shape(m.opt, 0, "row_var", dims) == 2 && dims[0] == ROWS && dims[1] == 1, "row_var (3, 1)");
    EXPECT(state_shape(m.opt, 0, "col_var", dims) == 2 && dims[0] == 1 && dims[1] == COLUMNS, "col_var (1, 5)");
    EXPECT(state_shape(m.opt, 1, "variance", dims) == 1 && dims[0] == VECTOR, "variance (4,)");
    float *state = NULL;
    MUST(descent_param_state(m.opt, 0, "row_var", &state));
    EXPECT(state != NULL, "row_var made by the first step");
    MUST(descent_param_state(m.opt, 0, "variance", &state));
    EXPECT(state == NULL, "a factored parameter keeps no variance");
    MUST(descent_param_state(m.opt, 1, "row_var", &state));
    EXPECT(state == NULL, "a vector keeps no row_var");
    size_t ndim = 0;
    EXPECT(descent_param_state_shape(m.opt, 1, "col_var", dims, DESCENT_MAX_DIMS, &ndim) ==
               DESCENT_ERROR_INVALID_ARGUMENT, "col_var of a vector has no shape");
    EXPECT(strstr(descent_last_error(m.opt), "keeps no 'col_var'") != NULL, "%s", descent_last_error(m.opt));
    /* A first step's variance is g·g (lerp with weight 1), its row factor the rows' mean square. */
    MUST(descent_param_state(m.opt, 1, "variance", &state));
    EXPECT(state && state[1] == 0.25f, "variance %g", state ? state[1] : -1);
    MUST(descent_free(m.opt));
}

static void test_shapes_are_fixed_once_state_exists(void) {
    Model m;
    make(&m, 1);
    float *state = NULL;
    EXPECT(descent_param_create_state(m.opt, 0, "variance", &state) == DESCENT_ERROR_INVALID_ARGUMENT,
           "variance of a matrix");
    EXPECT(strstr(descent_last_error(m.opt), "row_var, col_var") != NULL, "%s", descent_last_error(m.opt));
    MUST(descent_step(m.opt));
    size_t flat[] = {N}, dims[DESCENT_MAX_DIMS] = {0}, ndim = 0;
    EXPECT(descent_param_set_shape(m.opt, 0, flat, 1) == DESCENT_ERROR_INVALID_STATE, "reshaped after state");
    MUST(descent_param_shape(m.opt, 0, dims, DESCENT_MAX_DIMS, &ndim));
    EXPECT(ndim == 2 && dims[0] == ROWS, "the shape stays");
    size_t same[] = {ROWS, COLUMNS};
    MUST(descent_param_set_shape(m.opt, 0, same, 2));
    /* A vector made a matrix would keep row_var and col_var instead of its variance. */
    size_t square[] = {2, 2};
    EXPECT(descent_param_set_shape(m.opt, 1, square, 2) == DESCENT_ERROR_INVALID_STATE, "vector made a matrix");
    MUST(descent_free(m.opt));
}

static void test_checkpoints_record_shapes(void) {
    Model source, same, flat;
    make(&source, 1);
    for (int step = 0; step < 3; step++) MUST(descent_step(source.opt));
    size_t size = 0;
    MUST(descent_checkpoint_size(source.opt, &size));
    unsigned char *bytes = malloc(size), *again = malloc(size);
    MUST(descent_checkpoint_save(source.opt, bytes, size, &size));
    make(&flat, 0);
    EXPECT(descent_checkpoint_load(flat.opt, bytes, size) == DESCENT_ERROR_MISMATCH, "flat matrix");
    EXPECT(strstr(descent_last_error(flat.opt), "shape") != NULL, "%s", descent_last_error(flat.opt));
    make(&same, 1);
    MUST(descent_checkpoint_load(same.opt, bytes, size));
    MUST(descent_checkpoint_save(same.opt, again, size, &size));
    EXPECT(memcmp(bytes, again, size) == 0, "restored bit for bit");
    free(bytes);
    free(again);
    MUST(descent_free(source.opt));
    MUST(descent_free(same.opt));
    MUST(descent_free(flat.opt));
}

static void test_eps_none(void) {
    descent_option option = DESCENT_OPTION_EPS1;
    double none = NAN, negative = -1.0, value = 0;
    descent_optimizer *opt;
    MUST(descent_create_with(DESCENT_ADAFACTOR, &option, &none, 1, &opt));
    MUST(descent_add_group(opt, NULL, NULL));
    MUST(descent_group_get(opt, 0, DESCENT_OPTION_EPS1, &value));
    EXPECT(isnan(value), "None stays None");
    EXPECT(descent_option_kind_of(DESCENT_OPTION_EPS1) == DESCENT_KIND_OPTIONAL_REAL, "kind");
    EXPECT(descent_group_set(opt, 0, DESCENT_OPTION_EPS1, negative) == DESCENT_ERROR_INVALID_HYPERPARAMETER, "-1");
    EXPECT(!strcmp(descent_last_error(opt), "epsilon1 should be >= 0 but is: -1.0"), "%s", descent_last_error(opt));
    MUST(descent_free(opt));
}

int main(void) {
    test_factored_state_in_torchs_shapes();
    test_shapes_are_fixed_once_state_exists();
    test_checkpoints_record_shapes();
    test_eps_none();
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
