/*
 * bfloat16 and 8-bit state (DESCENT_OPTION_STATE_DTYPE) through the C ABI, written from
 * include/descent.h alone. The arithmetic is held to torch's and bitsandbytes' in
 * Tests/parity/test_state_formats.py; here, what the header promises:
 *
 * 1. Formats: state takes its group's format when made (float32 under min_8bit_size);
 *    descent_param_state() gives float32 state only, others are refused with
 *    DESCENT_ERROR_INVALID_STATE, and descent_param_create_state() makes nothing then.
 * 2. descent_param_write_state() encodes (bfloat16 rounded to nearest even; 8-bit as
 *    code map value × block absmax), descent_param_read_state() decodes, and
 *    descent_param_state_data() shows the stored bytes (made first with `create`).
 * 3. Bad calls get a status and a message and change nothing: a count that is not the
 *    state's, a state_dtype out of range, a negative min_8bit_size, a sparse gradient
 *    for 8-bit Adagrad state.
 * 4. Steps over partial blocks and a checkpoint that resumes bit for bit (run under ASan
 *    too).
 */
#include <descent.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"

enum { N = 3 * DESCENT_INT8_BLOCK_SIZE + 7 }; /* a partial last block */

/* An optimizer of `algorithm` over one parameter of N elements, state in `format`
 * (its index among the choices: 0 float32, 1 bfloat16, 2 int8) from any size. */
static descent_optimizer *create(descent_algorithm algorithm, float *param, float *grad, double format) {
    descent_option ids[] = {DESCENT_OPTION_STATE_DTYPE, DESCENT_OPTION_MIN_8BIT_SIZE};
    double values[] = {format, 0};
    descent_optimizer *opt = NULL;
    MUST(descent_create_with(algorithm, ids, values, 2, &opt));
    MUST(descent_add_group(opt, NULL, NULL));
    MUST(descent_add_param(opt, 0, param, grad, N, NULL));
    return opt;
}

static void fill(float *param, float *grad) {
    for (int i = 0; i < N; i++) {
        param[i] = 0.1f * sinf(0.37f * (float)i);
        grad[i] = 0.01f * cosf(0.11f * (float)i) - 0.002f;
    }
}

static void test_formats_and_float_pointers(void) {
    float param[N], grad[N];
    fill(param, grad);
    EXPECT(strcmp(descent_option_choice(DESCENT_OPTION_STATE_DTYPE, 0), "float32") == 0, "choice 0");
    EXPECT(strcmp(descent_option_choice(DESCENT_OPTION_STATE_DTYPE, 2), "int8") == 0, "choice 2");
    EXPECT(descent_option_is_torchs(DESCENT_OPTION_STATE_DTYPE) == 0, "state_dtype is Descent's own");
    EXPECT(descent_option_is_torchs(DESCENT_OPTION_LR) == 1, "lr is torch's");
    descent_optimizer *opt = create(DESCENT_ADAM, param, grad, 2);
    descent_state_format format = 0;
    MUST(descent_param_state_format(opt, 0, "exp_avg", &format));
    EXPECT(format == DESCENT_STATE_INT8, "exp_avg will be 8-bit, got %d", (int)format);
    float *pointer = (float *)1;
    EXPECT(descent_param_create_state(opt, 0, "exp_avg", &pointer) == DESCENT_ERROR_INVALID_STATE,
           "an 8-bit state is no float array");
    EXPECT(strstr(descent_last_error(opt), "kept in int8, not float32") != NULL, "message: %s", descent_last_error(opt));
    void *data = (void *)1;
    float *absmax = (float *)1;
    MUST(descent_param_state_data(opt, 0, "exp_avg", 0, &data, &absmax));
    EXPECT(data == NULL && absmax == NULL, "the refused create made nothing");
    MUST(descent_step(opt));
    EXPECT(descent_param_state(opt, 0, "exp_avg", &pointer) == DESCENT_ERROR_INVALID_STATE, "refused after a step");
    MUST(descent_param_state_data(opt, 0, "exp_avg", 0, &data, &absmax));
    EXPECT(data != NULL && absmax != NULL, "codes and absmax after a step");
    /* The first step's moment is (1 - β1)·g: decoded within half a code step of it. */
    const float *map = NULL;
    MUST(descent_param_state_code_map(opt, 0, "exp_avg", &map));
    const uint8_t *codes = data;
    for (int i = 0; i < N; i++) {
        float decoded = map[codes[i]] * absmax[i / DESCENT_INT8_BLOCK_SIZE];
        EXPECT(fabsf(decoded - 0.1f * grad[i]) <= 0.02f * absmax[i / DESCENT_INT8_BLOCK_SIZE] + 1e-9f,
               "exp_avg[%d] = %g, (1 - b1) g = %g", i, decoded, 0.1f * grad[i]);
    }
    descent_free(opt);
}

static void test_write_read_and_data(void) {
    float param[N], grad[N], values[N], out[N];
    fill(param, grad);
    for (int i = 0; i < N; i++) values[i] = (float)(i - N / 2) / 300.0f;
    int present = -1;
    /* bfloat16: rounded to nearest even on write. */
    descent_optimizer *opt = create(DESCENT_SGD, param, grad, 1);
    MUST(descent_group_set(opt, 0, DESCENT_OPTION_MOMENTUM, 0.9));
    MUST(descent_param_read_state(opt, 0, "momentum_buffer", out, N, &present));
    EXPECT(present == 0, "no state before a step or a write");
    MUST(descent_param_write_state(opt, 0, "momentum_buffer", values, N));
    MUST(descent_param_read_state(opt, 0, "momentum_buffer", out, N, &present));
    EXPECT(present == 1, "written state is present");
    for (int i = 0; i < N; i++) {
        uint32_t bits;
        memcpy(&bits, &values[i], 4);
        bits = (bits + 0x7fff + ((bits >> 16) & 1)) & 0xffff0000u;
        float rounded;
        memcpy(&rounded, &bits, 4);
        EXPECT(out[i] == rounded, "bfloat16 element %d: %g, expected %g", i, out[i], rounded);
    }
    void *data = NULL;
    float *absmax = (float *)1;
    MUST(descent_param_state_data(opt, 0, "momentum_buffer", 0, &data, &absmax));
    EXPECT(data != NULL && absmax == NULL, "bfloat16 has no absmax");
    EXPECT(descent_param_read_state(opt, 0, "momentum_buffer", out, N - 1, &present) == DESCENT_ERROR_INVALID_ARGUMENT,
           "a count other than the state's");
    EXPECT(strstr(descent_last_error(opt), "has 775 elements, the buffer 774") != NULL, "message: %s",
           descent_last_error(opt));
    descent_free(opt);
    /* 8-bit: made on demand with `create`; every value decodes to map × absmax. */
    opt = create(DESCENT_ADAM, param, grad, 2);
    MUST(descent_param_state_data(opt, 0, "exp_avg_sq", 1, &data, &absmax));
    EXPECT(data != NULL && absmax != NULL, "create makes the state");
    for (int b = 0; b < (N + DESCENT_INT8_BLOCK_SIZE - 1) / DESCENT_INT8_BLOCK_SIZE; b++)
        EXPECT(absmax[b] == 0.0f, "a new second moment is zero: absmax[%d] = %g", b, absmax[b]);
    for (int i = 0; i < N; i++) values[i] = fabsf(values[i]);
    MUST(descent_param_write_state(opt, 0, "exp_avg_sq", values, N));
    MUST(descent_param_read_state(opt, 0, "exp_avg_sq", out, N, &present));
    const float *map = NULL;
    MUST(descent_param_state_code_map(opt, 0, "exp_avg_sq", &map));
    EXPECT(map[0] == 0.0f && map[255] == 1.0f, "the unsigned map runs from 0 to 1");
    const uint8_t *codes = data;
    for (int i = 0; i < N; i++) {
        float scale = absmax[i / DESCENT_INT8_BLOCK_SIZE];
        EXPECT(out[i] == map[codes[i]] * scale, "element %d decodes as its code", i);
        EXPECT(fabsf(out[i] - values[i]) <= 0.04f * scale, "element %d: %g for %g", i, out[i], values[i]);
    }
    descent_free(opt);
}

static void test_bad_calls_change_nothing(void) {
    float param[N], grad[N];
    fill(param, grad);
    descent_optimizer *opt = NULL;
    descent_option ids[] = {DESCENT_OPTION_STATE_DTYPE};
    double three[] = {3};
    EXPECT(descent_create_with(DESCENT_ADAM, ids, three, 1, &opt) == DESCENT_ERROR_INVALID_HYPERPARAMETER,
           "state_dtype 3");
    EXPECT(strstr(descent_last_error(NULL), "\"float32\", \"bfloat16\", \"int8\"") != NULL, "message: %s",
           descent_last_error(NULL));
    descent_option size[] = {DESCENT_OPTION_MIN_8BIT_SIZE};
    double negative[] = {-1};
    EXPECT(descent_create_with(DESCENT_ADAM, size, negative, 1, &opt) == DESCENT_ERROR_INVALID_HYPERPARAMETER,
           "min_8bit_size -1");
    EXPECT(descent_create_with(DESCENT_LBFGS, ids, three, 1, &opt) == DESCENT_ERROR_UNKNOWN_OPTION,
           "L-BFGS keeps float32 state");
    /* Adagrad's sparse rows would split blocks: refused, nothing stepped. */
    opt = create(DESCENT_ADAGRAD, param, grad, 2);
    float before[N];
    memcpy(before, param, sizeof before);
    int64_t rows[] = {1};
    float row_values[5] = {1, 2, 3, 4, 5};
    MUST(descent_set_grad(opt, 0, NULL));
    MUST(descent_set_sparse_grad(opt, 0, rows, 1, row_values, 5));
    EXPECT(descent_step(opt) == DESCENT_ERROR_UNSUPPORTED, "a sparse gradient with 8-bit state");
    EXPECT(strstr(descent_last_error(opt), "needs float32 state") != NULL, "message: %s", descent_last_error(opt));
    EXPECT(memcmp(before, param, sizeof before) == 0, "nothing stepped");
    /* 8-bit state whose group now asks for float32: the step converts it, then takes the rows. */
    MUST(descent_set_grad(opt, 0, grad));
    MUST(descent_step(opt));
    MUST(descent_group_set(opt, 0, DESCENT_OPTION_STATE_DTYPE, 0));
    MUST(descent_set_sparse_grad(opt, 0, rows, 1, row_values, 5)); /* in place of the dense gradient */
    MUST(descent_step(opt));
    descent_state_format format = 0;
    MUST(descent_param_state_format(opt, 0, "sum", &format));
    EXPECT(format == DESCENT_STATE_FLOAT32, "moved to float32 by the sparse step, got %d", (int)format);
    descent_free(opt);
}

static void test_checkpoint_resumes_bit_for_bit(void) {
    for (double format = 1; format <= 2; format++) {
        float param[N], grad[N], copy[N];
        fill(param, grad);
        descent_optimizer *opt = create(DESCENT_ADAMW, param, grad, format);
        MUST(descent_group_set(opt, 0, DESCENT_OPTION_AMSGRAD, 1));
        for (int step = 0; step < 3; step++) MUST(descent_step(opt));
        size_t size = 0, written = 0;
        MUST(descent_checkpoint_size(opt, &size));
        void *bytes = malloc(size);
        MUST(descent_checkpoint_save(opt, bytes, size, &written));
        memcpy(copy, param, sizeof copy);
        descent_optimizer *resumed = create(DESCENT_ADAMW, copy, grad, format);
        MUST(descent_group_set(resumed, 0, DESCENT_OPTION_AMSGRAD, 1));
        MUST(descent_checkpoint_load(resumed, bytes, written));
        free(bytes);
        MUST(descent_step(opt));
        MUST(descent_step(resumed));
        EXPECT(memcmp(param, copy, sizeof copy) == 0, "format %g: parameters after the resumed step", format);
        const char *names[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
        for (int k = 0; k < 3; k++) {
            float a[N], b[N];
            int present = 0;
            MUST(descent_param_read_state(opt, 0, names[k], a, N, &present));
            MUST(descent_param_read_state(resumed, 0, names[k], b, N, &present));
            EXPECT(memcmp(a, b, sizeof a) == 0, "format %g: %s after the resumed step", format, names[k]);
        }
        descent_free(opt);
        descent_free(resumed);
    }
}

int main(void) {
    test_formats_and_float_pointers();
    test_write_read_and_data();
    test_bad_calls_change_nothing();
    test_checkpoint_resumes_bit_for_bit();
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
