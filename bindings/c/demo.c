/*
 * Descent C demo: trains a two-layer MLP (64 -> 32 tanh -> 10 softmax) on the 8x8
 * handwritten digits, with the forward and backward pass in plain C and Descent doing
 * the optimizer step and zero_grad. It trains twice, with SGD (momentum, Nesterov) and
 * with AdamW (two parameter groups: weights decayed, biases not), both under a
 * warmup-then-cosine lr schedule run by Descent, prints the lr and loss per epoch and
 * the test accuracy, and exits non-zero if either run misses REQUIRED_ACCURACY.
 *
 * Usage: descent_demo [path/to/digits.csv]
 */
#include <descent.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_SAMPLES 1797
#define N_IN 64
#define N_HIDDEN 32
#define N_OUT 10
#define N_TEST 300
#define N_TRAIN (N_SAMPLES - N_TEST)
#define BATCH 32
#define EPOCHS 30
#define STEPS_PER_EPOCH ((N_TRAIN + BATCH - 1) / BATCH)
#define REQUIRED_ACCURACY 0.93

#ifndef DESCENT_DIGITS_PATH
#define DESCENT_DIGITS_PATH "bindings/c/data/digits.csv"
#endif

/* Stops the demo with Descent's own message when a call fails. */
#define CHECK(opt, call)                                                          \
    do {                                                                          \
        descent_status status_ = (call);                                          \
        if (status_ != DESCENT_OK) {                                              \
            fprintf(stderr, "%s failed: %s: %s\n", #call,                         \
                    descent_status_name(status_), descent_last_error(opt));       \
            exit(2);                                                              \
        }                                                                         \
    } while (0)

typedef struct {
    float x[N_SAMPLES][N_IN];
    int label[N_SAMPLES];
} Dataset;

/* The model's parameters and their gradients, each a caller-owned buffer. */
typedef struct {
    float w1[N_HIDDEN * N_IN], b1[N_HIDDEN], w2[N_OUT * N_HIDDEN], b2[N_OUT];
    float gw1[N_HIDDEN * N_IN], gb1[N_HIDDEN], gw2[N_OUT * N_HIDDEN], gb2[N_OUT];
} Model;

static uint32_t rng_state;

static float uniform(void) { /* xorshift32 in [0, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return (float)(rng_state >> 8) / 16777216.0f;
}

static int load_digits(const char *path, Dataset *data) {
    FILE *file = fopen(path, "r");
    if (!file) {
        perror(path);
        return -1;
    }
    for (int i = 0; i < N_SAMPLES; i++) {
        for (int j = 0; j < N_IN; j++) {
            int pixel;
            if (fscanf(file, "%d,", &pixel) != 1) goto malformed;
            data->x[i][j] = (float)pixel / 16.0f;
        }
        if (fscanf(file, "%d", &data->label[i]) != 1) goto malformed;
    }
    fclose(file);
    return 0;
malformed:
    fprintf(stderr, "%s: malformed digits file\n", path);
    fclose(file);
    return -1;
}

static void init_model(Model *m, uint32_t seed) {
    memset(m, 0, sizeof *m);
    rng_state = seed;
    float a1 = 1.0f / sqrtf((float)N_IN), a2 = 1.0f / sqrtf((float)N_HIDDEN);
    for (int i = 0; i < N_HIDDEN * N_IN; i++) m->w1[i] = (2 * uniform() - 1) * a1;
    for (int i = 0; i < N_OUT * N_HIDDEN; i++) m->w2[i] = (2 * uniform() - 1) * a2;
}

/* Forward pass for one sample; returns its cross-entropy loss, writes the hidden
 * activations and the softmax probabilities. */
static float forward(const Model *m, const float *x, int label, float *hidden, float *prob) {
    for (int h = 0; h < N_HIDDEN; h++) {
        float z = m->b1[h];
        for (int j = 0; j < N_IN; j++) z += m->w1[h * N_IN + j] * x[j];
        hidden[h] = tanhf(z);
    }
    float max_logit = -INFINITY;
    for (int o = 0; o < N_OUT; o++) {
        float z = m->b2[o];
        for (int h = 0; h < N_HIDDEN; h++) z += m->w2[o * N_HIDDEN + h] * hidden[h];
        prob[o] = z;
        if (z > max_logit) max_logit = z;
    }
    float sum = 0;
    for (int o = 0; o < N_OUT; o++) {
        prob[o] = expf(prob[o] - max_logit);
        sum += prob[o];
    }
    for (int o = 0; o < N_OUT; o++) prob[o] /= sum;
    return -logf(prob[label] + 1e-12f);
}

/* Adds this sample's gradient (scaled by `scale`) into the model's gradient buffers. */
static void backward(Model *m, const float *x, int label, const float *hidden,
                     const float *prob, float scale) {
    float dhidden[N_HIDDEN] = {0};
    for (int o = 0; o < N_OUT; o++) {
        float dz = (prob[o] - (o == label ? 1.0f : 0.0f)) * scale;
        m->gb2[o] += dz;
        for (int h = 0; h < N_HIDDEN; h++) {
            m->gw2[o * N_HIDDEN + h] += dz * hidden[h];
            dhidden[h] += dz * m->w2[o * N_HIDDEN + h];
        }
    }
    for (int h = 0; h < N_HIDDEN; h++) {
        float dz = dhidden[h] * (1 - hidden[h] * hidden[h]);
        m->gb1[h] += dz;
        for (int j = 0; j < N_IN; j++) m->gw1[h * N_IN + j] += dz * x[j];
    }
}

static double accuracy(const Model *m, const Dataset *data, const int *order, int from, int to) {
    float hidden[N_HIDDEN], prob[N_OUT];
    int correct = 0;
    for (int i = from; i < to; i++) {
        int s = order[i];
        forward(m, data->x[s], data->label[s], hidden, prob);
        int best = 0;
        for (int o = 1; o < N_OUT; o++)
            if (prob[o] > prob[best]) best = o;
        correct += best == data->label[s];
    }
    return (double)correct / (to - from);
}

/* Trains a fresh model with `opt` (already holding groups 0 = weights, 1 = biases);
 * returns the test accuracy. */
static double train(descent_optimizer *opt, Model *m, const Dataset *data, int *order) {
    CHECK(opt, descent_add_param(opt, 0, m->w1, m->gw1, N_HIDDEN * N_IN, NULL));
    CHECK(opt, descent_add_param(opt, 1, m->b1, m->gb1, N_HIDDEN, NULL));
    CHECK(opt, descent_add_param(opt, 0, m->w2, m->gw2, N_OUT * N_HIDDEN, NULL));
    CHECK(opt, descent_add_param(opt, 1, m->b2, m->gb2, N_OUT, NULL));

    /* The lr schedule, stepped after every optimizer step: one epoch of linear warmup
     * to each group's lr, cosine decay to zero by the last step. */
    descent_schedule *schedule = NULL;
    CHECK(opt, descent_schedule_warmup_cosine_lr(opt, STEPS_PER_EPOCH, EPOCHS * STEPS_PER_EPOCH, 0.0, &schedule));
    float hidden[N_HIDDEN], prob[N_OUT];
    for (int epoch = 1; epoch <= EPOCHS; epoch++) {
        double lr[2];
        CHECK(opt, descent_schedule_last_lr(schedule, lr, 2));
        for (int i = N_TRAIN - 1; i > 0; i--) { /* shuffle the training samples */
            int j = (int)(uniform() * (float)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double total = 0;
        for (int start = 0; start < N_TRAIN; start += BATCH) {
            int end = start + BATCH < N_TRAIN ? start + BATCH : N_TRAIN;
            CHECK(opt, descent_zero_grad(opt));
            for (int i = start; i < end; i++) {
                int s = order[i];
                total += forward(m, data->x[s], data->label[s], hidden, prob);
                backward(m, data->x[s], data->label[s], hidden, prob, 1.0f / (float)(end - start));
            }
            CHECK(opt, descent_step(opt));
            CHECK(opt, descent_schedule_step(schedule));
        }
        printf("  epoch %2d  lr %.2e  loss %.4f\n", epoch, lr[0], total / N_TRAIN);
    }
    CHECK(opt, descent_schedule_free(schedule));
    return accuracy(m, data, order, N_TRAIN, N_SAMPLES);
}

static double run(const char *label, descent_algorithm algorithm, const descent_params *weights,
                  const descent_params *biases, const Dataset *data, int *order) {
    static Model model;
    descent_optimizer *opt = NULL;
    printf("%s\n", label);
    init_model(&model, 42);
    CHECK(NULL, descent_create(algorithm, weights, &opt));
    CHECK(opt, descent_add_group(opt, NULL, NULL));   /* group 0: the defaults given */
    CHECK(opt, descent_add_group(opt, biases, NULL)); /* group 1: its own */
    double acc = train(opt, &model, data, order);
    CHECK(NULL, descent_free(opt));
    printf("  test accuracy %.4f (%s)\n\n", acc, acc >= REQUIRED_ACCURACY ? "ok" : "TOO LOW");
    return acc;
}

int main(int argc, char **argv) {
    static Dataset data;
    static int order[N_SAMPLES];
    const char *path = argc > 1 ? argv[1] : DESCENT_DIGITS_PATH;
    if (load_digits(path, &data) != 0) return 2;
    if (descent_version_number() != DESCENT_VERSION_NUMBER) {
        fprintf(stderr, "header %d and library %u disagree\n", DESCENT_VERSION_NUMBER,
                descent_version_number());
        return 2;
    }
    printf("Descent %s: a 64-32-10 MLP on %d digits (%d held out), %d epochs\n\n",
           descent_version_string(), N_SAMPLES, N_TEST, EPOCHS);

    /* One fixed shuffle splits train and test; training reshuffles its own part. */
    rng_state = 7;
    for (int i = 0; i < N_SAMPLES; i++) order[i] = i;
    for (int i = N_SAMPLES - 1; i > 0; i--) {
        int j = (int)(uniform() * (float)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }

    descent_params sgd, sgd_bias, adamw, adamw_bias;
    CHECK(NULL, descent_default_params(DESCENT_SGD, &sgd));
    sgd.lr = 0.05;
    sgd.momentum = 0.9;
    sgd.nesterov = true;
    sgd_bias = sgd;
    CHECK(NULL, descent_default_params(DESCENT_ADAMW, &adamw));
    adamw.lr = 3e-3;
    adamw_bias = adamw;
    adamw_bias.weight_decay = 0.0;

    int failed = 0;
    failed |= run("SGD (lr 0.05, momentum 0.9, nesterov)", DESCENT_SGD, &sgd, &sgd_bias,
                  &data, order) < REQUIRED_ACCURACY;
    failed |= run("AdamW (lr 3e-3, weight_decay 1e-2 on weights, 0 on biases)", DESCENT_ADAMW,
                  &adamw, &adamw_bias, &data, order) < REQUIRED_ACCURACY;
    printf(failed ? "FAILED: accuracy below %.2f\n" : "both optimizers reached %.2f test accuracy\n",
           REQUIRED_ACCURACY);
    return failed;
}
