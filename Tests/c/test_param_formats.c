/*
 * bfloat16 and float16 parameters (descent_add_param_format) through the C ABI, written
 * from include/descent.h alone. Tests/python/test_parameter_formats.py holds the
 * arithmetic to torch's; here, what the header promises:
 *
 * 1. Registration: 2-byte alignment and overlap by 2-byte elements; an unknown format
 *    and an algorithm without state formats refused, nothing registered.
 * 2. A step widens, runs the float32 update and rounds to nearest even; with
 *    DESCENT_OPTION_MASTER_WEIGHTS the master ("master_param") steps exactly as a float32
 *    parameter and the parameter is it rounded. A float32 parameter keeps no master.
 * 3. Gradient passes (unscale, zeroing) write the gradient in its format and not one
 *    byte past it.
 * 4. A checkpoint with masters resumes bit for bit; its masters do not load into float32
 *    parameters (run under ASan too).
 */
#include <descent.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"

enum { N = 1030 }; /* past a 1,024-element piece, a remainder of 6 in torch's 8-wide tail */

static uint16_t bf16(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    return (uint16_t)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
}

static float from_bf16(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

/* float16 by its definition (C99 has no half type): round to nearest even. */
static uint16_t fp16(float x) {
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    float a = fabsf(x);
    if (isnan(a)) return sign | 0x7E00;
    if (a >= 65520.0f) return sign | 0x7C00; /* rounds to infinity */
    if (a < 0x1p-14f) return sign | (uint16_t)nearbyintf(a * 0x1p24f); /* subnormal, in units of 2^-24 */
    int e;
    frexpf(a, &e); /* a in [2^(e-1), 2^e) */
    float q = nearbyintf(ldexpf(a, 11 - e)); /* 11 significant bits, in [1024, 2048] */
    if (q == 2048.0f) {
        q = 1024.0f;
        e += 1;
    }
    return sign | (uint16_t)((e - 1 + 15) << 10) | (uint16_t)((uint16_t)q - 1024);
}

static float from_fp16(uint16_t h) {
    int exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
    float magnitude = exponent == 0    ? ldexpf((float)mantissa, -24)
                      : exponent == 31 ? (mantissa ? NAN : INFINITY)
                                       : ldexpf((float)(mantissa | 0x400), exponent - 25);
    return h & 0x8000 ? -magnitude : magnitude;
}

static uint16_t to_format(descent_param_format format, float x) {
    return format == DESCENT_PARAM_BFLOAT16 ? bf16(x) : fp16(x);
}

static float from_format(descent_param_format format, uint16_t h) {
    return format == DESCENT_PARAM_BFLOAT16 ? from_bf16(h) : from_fp16(h);
}

static descent_optimizer *adamw(double master_weights) {
    descent_option ids[] = {DESCENT_OPTION_LR, DESCENT_OPTION_MASTER_WEIGHTS};
    double values[] = {1e-2, master_weights};
    descent_optimizer *opt = NULL;
    MUST(descent_create_with(DESCENT_ADAMW, ids, values, 2, &opt));
    MUST(descent_add_group(opt, NULL, NULL));
    return opt;
}

static void test_registration(void) {
    uint16_t memory[2 * N + 2];
    descent_optimizer *opt = adamw(0);
    size_t index = 7, count = 9;
    EXPECT(descent_add_param_format(opt, 0, (char *)memory + 1, NULL, N, DESCENT_PARAM_BFLOAT16, &index) ==
               DESCENT_ERROR_INVALID_ARGUMENT, "odd address");
    EXPECT(strstr(descent_last_error(opt), "not aligned to 2 bytes (its elements are bfloat16)") != NULL, "message: %s",
           descent_last_error(opt));
    EXPECT(descent_add_param_format(opt, 0, memory, NULL, N, (descent_param_format)3, &index) ==
               DESCENT_ERROR_INVALID_ARGUMENT, "8-bit is a state format");
    EXPECT(strstr(descent_last_error(opt), "a parameter's format is one of float32, bfloat16, float16, got int8") != NULL,
           "message: %s", descent_last_error(opt));
    EXPECT(descent_add_param_format(opt, 0, memory, NULL, N, (descent_param_format)9, &index) ==
               DESCENT_ERROR_INVALID_ARGUMENT, "unknown format");
    EXPECT(strstr(descent_last_error(opt), "unknown parameter format 9") != NULL, "message: %s", descent_last_error(opt));
    EXPECT(descent_add_param_format(opt, 0, memory, memory + N - 1, N, DESCENT_PARAM_FLOAT16, &index) ==
               DESCENT_ERROR_OVERLAP, "a gradient one element into its parameter");
    MUST(descent_param_count(opt, &count));
    EXPECT(count == 0 && index == 7, "refusals registered nothing");
    /* Back to back in 2-byte elements: as float32 they would overlap. */
    MUST(descent_add_param_format(opt, 0, memory, memory + N, N, DESCENT_PARAM_FLOAT16, &index));
    descent_param_format format = 0;
    MUST(descent_param_format_of(opt, index, &format));
    EXPECT(format == DESCENT_PARAM_FLOAT16, "format %d", (int)format);
    EXPECT(descent_add_param_format(opt, 0, memory + N - 1, NULL, 2, DESCENT_PARAM_BFLOAT16, NULL) ==
               DESCENT_ERROR_OVERLAP, "one element into the parameter");
    descent_free(opt);

    descent_optimizer *factored = NULL;
    MUST(descent_create(DESCENT_ADAFACTOR, NULL, &factored));
    MUST(descent_add_group(factored, NULL, NULL));
    EXPECT(descent_add_param_format(factored, 0, memory, NULL, N, DESCENT_PARAM_BFLOAT16, NULL) ==
               DESCENT_ERROR_UNSUPPORTED, "Adafactor keeps float32 parameters");
    EXPECT(strstr(descent_last_error(factored), "Adafactor takes float32 parameters only, got bfloat16") != NULL,
           "message: %s", descent_last_error(factored));
    descent_free(factored);

    float param[4] = {1, 2, 3, 4}, grad[4] = {0};
    opt = adamw(1);
    MUST(descent_add_param(opt, 0, param, grad, 4, NULL));
    MUST(descent_param_format_of(opt, 0, &format));
    EXPECT(format == DESCENT_PARAM_FLOAT32, "descent_add_param registers float32");
    float *master = (float *)1;
    MUST(descent_param_state(opt, 0, "master_param", &master));
    EXPECT(master == NULL, "not made");
    EXPECT(descent_param_create_state(opt, 0, "master_param", &master) == DESCENT_ERROR_INVALID_ARGUMENT,
           "a float32 parameter is its own master");
    EXPECT(strstr(descent_last_error(opt), "its own master") != NULL, "message: %s", descent_last_error(opt));
    MUST(descent_step(opt));
    MUST(descent_param_state(opt, 0, "master_param", &master));
    EXPECT(master == NULL, "no master for float32 under master_weights");
    descent_free(opt);
}

static void fill(uint16_t *param, uint16_t *grad, float *param32, float *grad32, descent_param_format format,
                 int step) {
    for (int i = 0; i < N; i++) {
        if (step == 0) param[i] = to_format(format, sinf(0.37f * (float)i));
        grad[i] = to_format(format, cosf(0.11f * (float)(i + 3 * step)) - 0.2f);
        param32[i] = step == 0 ? from_format(format, param[i]) : param32[i];
        grad32[i] = from_format(format, grad[i]);
    }
}

/* Against a float32 AdamW that starts at the widened values: with a master, it is the
 * master; without, each step starts from the parameter rounded. */
static void test_steps(descent_param_format format, int master_weights) {
    static uint16_t param[N], grad[N];
    static float param32[N], grad32[N];
    descent_optimizer *opt = adamw(master_weights), *reference = adamw(0);
    MUST(descent_add_param_format(opt, 0, param, grad, N, format, NULL));
    MUST(descent_add_param(reference, 0, param32, grad32, N, NULL));
    for (int step = 0; step < 4; step++) {
        fill(param, grad, param32, grad32, format, step);
        if (!master_weights)
            for (int i = 0; i < N; i++) param32[i] = from_format(format, param[i]);
        MUST(descent_step(opt));
        MUST(descent_step(reference));
        int wrong = 0;
        for (int i = 0; i < N; i++) wrong += param[i] != to_format(format, param32[i]);
        EXPECT(wrong == 0, "format %d master %d step %d: %d elements are not float32's rounded", (int)format,
               master_weights, step, wrong);
        float *master = (float *)1;
        MUST(descent_param_state(opt, 0, "master_param", &master));
        if (master_weights) {
            EXPECT(master && memcmp(master, param32, sizeof param32) == 0, "the master is float32's parameter");
        } else {
            EXPECT(master == NULL, "no master without master_weights");
        }
    }
    descent_free(opt);
    descent_free(reference);
}

/* The gradient passes stay inside a bfloat16 gradient's N·2 bytes. */
static void test_gradient_passes(void) {
    static uint16_t param[N], memory[N + 64];
    static float param32[N], grad32[N];
    uint16_t *grad = memory;
    fill(param, grad, param32, grad32, DESCENT_PARAM_BFLOAT16, 0);
    for (int i = N; i < N + 64; i++) memory[i] = 0xA5A5;
    descent_optimizer *opt = adamw(1);
    MUST(descent_add_param_format(opt, 0, param, grad, N, DESCENT_PARAM_BFLOAT16, NULL));
    descent_step_options options;
    MUST(descent_step_options_default(&options));
    options.grad_scale = 3;
    uint16_t before[N];
    memcpy(before, grad, sizeof before);
    MUST(descent_step_phase(opt, &options, NULL, 0, NULL));
    int wrong = 0;
    for (int i = 0; i < N; i++) wrong += grad[i] != bf16(from_bf16(before[i]) / 3.0f);
    EXPECT(wrong == 0, "%d unscaled gradient elements are not the float32 quotient rounded", wrong);
    options.grad_scale = 1;
    options.zero_grad = true;
    MUST(descent_step_phase(opt, &options, NULL, 0, NULL));
    int nonzero = 0, touched = 0;
    for (int i = 0; i < N; i++) nonzero += grad[i] != 0;
    for (int i = N; i < N + 64; i++) touched += memory[i] != 0xA5A5;
    EXPECT(nonzero == 0, "%d gradient elements left", nonzero);
    EXPECT(touched == 0, "%d elements past the gradient written", touched);
    memcpy(grad, before, sizeof before);
    MUST(descent_zero_grad(opt));
    nonzero = touched = 0;
    for (int i = 0; i < N; i++) nonzero += grad[i] != 0;
    for (int i = N; i < N + 64; i++) touched += memory[i] != 0xA5A5;
    EXPECT(nonzero == 0 && touched == 0, "descent_zero_grad: %d left, %d past written", nonzero, touched);
    descent_free(opt);
}

static void test_checkpoint(void) {
    static uint16_t param[N], grad[N], resumed_param[N];
    static float param32[N], grad32[N];
    descent_optimizer *opt = adamw(1);
    MUST(descent_add_param_format(opt, 0, param, grad, N, DESCENT_PARAM_BFLOAT16, NULL));
    for (int step = 0; step < 3; step++) {
        fill(param, grad, param32, grad32, DESCENT_PARAM_BFLOAT16, step);
        MUST(descent_step(opt));
    }
    size_t size = 0;
    MUST(descent_checkpoint_size(opt, &size));
    void *saved = malloc(size);
    MUST(descent_checkpoint_save(opt, saved, size, &size));
    memcpy(resumed_param, param, sizeof param);
    descent_optimizer *resumed = adamw(1);
    MUST(descent_add_param_format(resumed, 0, resumed_param, grad, N, DESCENT_PARAM_BFLOAT16, NULL));
    MUST(descent_checkpoint_load(resumed, saved, size));
    for (int step = 3; step < 6; step++) {
        fill(param, grad, param32, grad32, DESCENT_PARAM_BFLOAT16, step);
        MUST(descent_step(opt));
        MUST(descent_step(resumed));
    }
    EXPECT(memcmp(param, resumed_param, sizeof param) == 0, "resumed bit for bit");
    float *a = NULL, *b = NULL;
    MUST(descent_param_state(opt, 0, "master_param", &a));
    MUST(descent_param_state(resumed, 0, "master_param", &b));
    EXPECT(a && b && memcmp(a, b, N * sizeof(float)) == 0, "masters resumed bit for bit");

    descent_optimizer *float32 = adamw(1);
    MUST(descent_add_param(float32, 0, param32, grad32, N, NULL));
    EXPECT(descent_checkpoint_load(float32, saved, size) == DESCENT_ERROR_MISMATCH, "a master for a float32 parameter");
    EXPECT(strstr(descent_last_error(float32), "holds 'master_param' for parameter 0, which is float32") != NULL,
           "message: %s", descent_last_error(float32));
    free(saved);
    descent_free(opt);
    descent_free(resumed);
    descent_free(float32);
}

int main(void) {
    test_registration();
    for (int master_weights = 0; master_weights <= 1; master_weights++) {
        test_steps(DESCENT_PARAM_BFLOAT16, master_weights);
        test_steps(DESCENT_PARAM_FLOAT16, master_weights);
    }
    test_gradient_passes();
    test_checkpoint();
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
