/*
 * Checkpoint format version 1 stays readable: fixtures written by the library as it was
 * on 2026-11-30 (commit ac93350, before any format change) load bit for bit.
 *
 * Each scenario builds an optimizer (an algorithm with state-changing options, two
 * groups, three parameters, schedules), takes a few steps and, in `write` mode, saves
 * Tests/fixtures/checkpoint-v1/<name>.ckpt and <name>.values: every group's
 * hyperparameters, every parameter's step count and state buffers, every schedule's
 * last_epoch and last lrs, as the writing library reported them (float and double bit
 * patterns in hex). In the default mode it builds the same optimizer without stepping,
 * loads the .ckpt, and checks everything against the .values file, then takes one more
 * step and checks it changed what a step changes.
 *
 *   test_checkpoint_v1 FIXTURE_DIR          check the fixtures
 *   test_checkpoint_v1 FIXTURE_DIR write    write them (run against the old library)
 */
#include <descent.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expect.h"

enum { PARAMS = 3, MAX_SIZE = 300, SCHEDULES = 3, STEPS = 7 };
static const size_t sizes[PARAMS] = {7, 300, 5};
static const size_t groups_of[PARAMS] = {0, 1, 1};
static const char *const option_names[] = {"lr", "momentum", "dampening", "weight_decay", "nesterov",
                                           "maximize", "beta1", "beta2", "eps", "amsgrad", "alpha",
                                           "centered", "lr_decay", "initial_accumulator_value"};
enum { OPTIONS = sizeof option_names / sizeof option_names[0] };

typedef struct {
    const char *name;
    descent_algorithm algorithm;
    const char *state[3];
} Scenario;

static const Scenario scenarios[] = {
    {"adamw-amsgrad-cosine-exponential", DESCENT_ADAMW, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
    {"sgd-nesterov-sequential", DESCENT_SGD, {"momentum_buffer"}},
    {"rmsprop-centered-one-cycle", DESCENT_RMSPROP, {"square_avg", "momentum_buffer", "grad_avg"}},
    {"adagrad-plateau", DESCENT_ADAGRAD, {"sum"}},
    {"adam-warmup-cosine-chained", DESCENT_ADAM, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
};
enum { SCENARIOS = sizeof scenarios / sizeof scenarios[0] };

typedef struct {
    descent_optimizer *opt;
    descent_schedule *schedules[SCHEDULES + 2]; /* the attached ones first, then children */
    int attached;
    float param[PARAMS][MAX_SIZE], grad[PARAMS][MAX_SIZE];
} Model;

static Model model;

/* The optimizer of scenario `s`: its defaults, a second group with other values. */
static void build(const Scenario *s) {
    descent_params hp;
    MUST(descent_default_params(s->algorithm, &hp));
    switch (s->algorithm) {
    case DESCENT_SGD: hp.momentum = 0.9, hp.nesterov = true, hp.weight_decay = 0.01, hp.lr = 0.05; break;
    case DESCENT_RMSPROP: hp.momentum = 0.5, hp.centered = true, hp.weight_decay = 0.02; break;
    case DESCENT_ADAGRAD: hp.lr_decay = 0.01, hp.initial_accumulator_value = 0.1, hp.lr = 0.05; break;
    case DESCENT_ADAM: hp.weight_decay = 0.001, hp.maximize = true; break;
    case DESCENT_ADAMW: hp.amsgrad = true, hp.lr = 0.003; break;
    default: break; /* the fixtures hold the five algorithms of 2026-11-30 */
    }
    MUST(descent_create(s->algorithm, &hp, &model.opt));
    MUST(descent_add_group(model.opt, NULL, NULL));
    hp.lr *= 0.5;
    hp.weight_decay = 0.0;
    MUST(descent_add_group(model.opt, &hp, NULL));
    for (int i = 0; i < PARAMS; i++) {
        for (size_t k = 0; k < sizes[i]; k++) model.param[i][k] = 0.5f * sinf(0.1f * (float)k + (float)i);
        MUST(descent_add_param(model.opt, groups_of[i], model.param[i], model.grad[i], sizes[i], NULL));
    }
    descent_optimizer *opt = model.opt;
    descent_schedule **out = model.schedules;
    switch (s->algorithm) {
    case DESCENT_ADAMW:
        MUST(descent_schedule_cosine_annealing_lr(opt, 5, 0.0001, &out[0]));
        MUST(descent_schedule_exponential_lr(opt, 0.9, &out[1]));
        model.attached = 2;
        break;
    case DESCENT_SGD: {
        int64_t milestones[] = {3};
        MUST(descent_schedule_linear_lr(opt, 0.2, 1.0, 3, &out[1]));
        MUST(descent_schedule_step_lr(opt, 2, 0.5, &out[2]));
        MUST(descent_schedule_sequential_lr(opt, &out[1], 2, milestones, &out[0]));
        model.attached = 1;
        break;
    }
    case DESCENT_RMSPROP: {
        descent_one_cycle_lr_options o;
        MUST(descent_one_cycle_lr_defaults(&o));
        o.max_lr = 0.02;
        o.total_steps = 20;
        MUST(descent_schedule_one_cycle_lr(opt, &o, &out[0]));
        model.attached = 1;
        break;
    }
    case DESCENT_ADAGRAD: {
        descent_reduce_lr_on_plateau_options o;
        MUST(descent_reduce_lr_on_plateau_defaults(&o));
        o.patience = 1;
        o.factor = 0.5;
        MUST(descent_schedule_reduce_lr_on_plateau(opt, &o, &out[0]));
        model.attached = 1;
        break;
    }
    default:
        MUST(descent_schedule_warmup_cosine_lr(opt, 2, 6, 0.0001, &out[0]));
        MUST(descent_schedule_step_lr(opt, 3, 0.7, &out[2]));
        MUST(descent_schedule_exponential_lr(opt, 0.95, &out[3]));
        MUST(descent_schedule_chained_scheduler(opt, &out[2], 2, &out[1]));
        model.attached = 2;
        break;
    }
}

/* Step t: gradients from t (parameter 2 gets none on odd steps), the step, the
 * schedules (a metric that stalls for the plateau). */
static void step(int t) {
    for (int i = 0; i < PARAMS; i++) {
        for (size_t k = 0; k < sizes[i]; k++) model.grad[i][k] = cosf(0.37f * (float)k + 0.9f * (float)(t + i));
        MUST(descent_set_grad(model.opt, (size_t)i, i == 2 && t % 2 ? NULL : model.grad[i]));
    }
    MUST(descent_step(model.opt));
    for (int k = 0; k < model.attached; k++) {
        descent_schedule_kind kind;
        MUST(descent_schedule_get_kind(model.schedules[k], &kind));
        if (kind == DESCENT_REDUCE_LR_ON_PLATEAU) MUST(descent_schedule_step_metric(model.schedules[k], 1.0));
        else MUST(descent_schedule_step(model.schedules[k]));
    }
}

static void release(void) {
    for (int k = 0; k < SCHEDULES + 2; k++) MUST(descent_schedule_free(model.schedules[k]));
    MUST(descent_free(model.opt));
    memset(model.schedules, 0, sizeof model.schedules);
}

/* ----------------------------------------------------- the values file */

static uint64_t double_bits(double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return bits;
}

static uint32_t float_bits(float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return bits;
}

/* Writes (or, with `check`, compares against `in`) everything a checkpoint restores.
 * Lines: "group G OPTION BITS", "param I step N", "state I NAME count BITS...",
 * "schedule K epoch E lr BITS BITS". */
static void values(const Scenario *s, FILE *out, FILE *in) {
    char expected[256], actual[256];
#define LINE(...)                                                                                \
    do {                                                                                         \
        snprintf(actual, sizeof actual, __VA_ARGS__);                                            \
        if (out) fprintf(out, "%s\n", actual);                                                   \
        if (in) {                                                                                \
            EXPECT(fgets(expected, sizeof expected, in) != NULL, "%s: values end early", s->name); \
            expected[strcspn(expected, "\n")] = 0;                                               \
            EXPECT(!strcmp(expected, actual), "%s: '%s' where the fixture holds '%s'", s->name,  \
                   actual, expected);                                                            \
        }                                                                                        \
    } while (0)
    for (size_t g = 0; g < 2; g++) {
        for (int o = 0; o < OPTIONS; o++) {
            double v = 0;
            if (descent_group_get(model.opt, g, (descent_option)(o + 1), &v) != DESCENT_OK) continue;
            LINE("group %zu %s %016" PRIx64, g, option_names[o], double_bits(v));
        }
    }
    for (int i = 0; i < PARAMS; i++) {
        int64_t steps = 0;
        MUST(descent_param_step_count(model.opt, (size_t)i, &steps));
        LINE("param %d step %" PRId64, i, steps);
        for (int k = 0; k < 3 && s->state[k]; k++) {
            float *state = NULL;
            MUST(descent_param_state(model.opt, (size_t)i, s->state[k], &state));
            if (!state) {
                LINE("state %d %s none", i, s->state[k]);
                continue;
            }
            /* Each element on a line of its own, so a mismatch names it. */
            LINE("state %d %s %zu", i, s->state[k], sizes[i]);
            for (size_t e = 0; e < sizes[i]; e++) LINE("%08" PRIx32, float_bits(state[e]));
        }
    }
    for (int k = 0; k < model.attached; k++) {
        int64_t epoch = 0;
        double lrs[2];
        MUST(descent_schedule_last_epoch(model.schedules[k], &epoch));
        MUST(descent_schedule_last_lr(model.schedules[k], lrs, 2));
        LINE("schedule %d epoch %" PRId64 " lr %016" PRIx64 " %016" PRIx64, k, epoch, double_bits(lrs[0]),
             double_bits(lrs[1]));
    }
#undef LINE
    if (in) EXPECT(fgets(expected, sizeof expected, in) == NULL, "%s: the fixture holds more values", s->name);
}

static char *path(const char *directory, const char *name, const char *extension) {
    static char buffer[512];
    snprintf(buffer, sizeof buffer, "%s/%s.%s", directory, name, extension);
    return buffer;
}

static void write_fixture(const Scenario *s, const char *directory) {
    build(s);
    for (int t = 0; t < STEPS; t++) step(t);
    MUST(descent_checkpoint_save_file(model.opt, path(directory, s->name, "ckpt")));
    FILE *out = fopen(path(directory, s->name, "values"), "w");
    EXPECT(out != NULL, "cannot write %s", path(directory, s->name, "values"));
    values(s, out, NULL);
    fclose(out);
    release();
}

static void check_fixture(const Scenario *s, const char *directory) {
    build(s);
    descent_status status = descent_checkpoint_load_file(model.opt, path(directory, s->name, "ckpt"));
    EXPECT(status == DESCENT_OK, "%s: %s", s->name, descent_last_error(model.opt));
    FILE *in = fopen(path(directory, s->name, "values"), "r");
    EXPECT(in != NULL, "cannot read %s", path(directory, s->name, "values"));
    if (in) {
        values(s, NULL, in);
        fclose(in);
    }
    /* The loaded optimizer goes on stepping: every stepped parameter's count moves. */
    int64_t before = 0, after = 0;
    MUST(descent_param_step_count(model.opt, 1, &before));
    step(STEPS);
    MUST(descent_param_step_count(model.opt, 1, &after));
    EXPECT(after == before + 1, "%s: step count %" PRId64 " after %" PRId64, s->name, after, before);
    release();
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR [write]\n", argv[0]);
        return 2;
    }
    int writing = argc > 2 && !strcmp(argv[2], "write");
    for (int i = 0; i < SCENARIOS; i++) {
        if (writing) write_fixture(&scenarios[i], argv[1]);
        else check_fixture(&scenarios[i], argv[1]);
    }
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
