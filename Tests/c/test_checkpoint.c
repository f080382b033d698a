/*
 * C tests of checkpoints, written from include/descent.h alone.
 *
 * 1. Exact resume: for every algorithm (and its state-changing options) and every
 *    schedule kind, N steps, save, a fresh optimizer over the same buffers loads, M more
 *    steps: parameters, state, step counts, lrs and schedule progress are bit-identical
 *    to N+M steps without a stop.
 * 2. Corruption: every single flipped byte and every truncation of a checkpoint is
 *    refused with DESCENT_ERROR_CORRUPT_CHECKPOINT, and changes nothing.
 * 3. Mismatches: another algorithm, group count, parameter count, size or group, other
 *    schedules: DESCENT_ERROR_MISMATCH, a message saying what differs, nothing changed.
 * 4. The buffer and file calls' arguments; no temporary file left behind.
 * 5. A child process killed with SIGKILL at random moments while saving: the file on
 *    disk always loads.
 */
#define _POSIX_C_SOURCE 200809L
#include <descent.h>

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"

/* ------------------------------------------------------------- the model */

enum { PARAMS = 3, MAX_SIZE = 20000, MAX_SCHEDULES = 4 };
/* The middle parameter spans two of the engine's 16,384-element chunks. */
static const size_t sizes[PARAMS] = {7, 20000, 5};
static const size_t groups_of[PARAMS] = {0, 0, 1};

typedef struct {
    descent_algorithm algorithm;
    const char *name;
    double momentum, dampening, weight_decay, lr_decay, initial_accumulator_value;
    bool nesterov, maximize, amsgrad, centered;
} Config;

static const Config configs[] = {
    {DESCENT_SGD, "SGD", 0, 0, 0, 0, 0, false, false, false, false},
    {DESCENT_SGD, "SGD momentum dampening weight_decay", 0.9, 0.1, 0.01, 0, 0, false, false, false, false},
    {DESCENT_SGD, "SGD nesterov maximize", 0.9, 0, 0, 0, 0, true, true, false, false},
    {DESCENT_ADAM, "Adam", 0, 0, 0, 0, 0, false, false, false, false},
    {DESCENT_ADAM, "Adam amsgrad weight_decay", 0, 0, 0.01, 0, 0, false, false, true, false},
    {DESCENT_ADAMW, "AdamW", 0, 0, 0.01, 0, 0, false, false, false, false},
    {DESCENT_ADAMW, "AdamW amsgrad maximize", 0, 0, 0.01, 0, 0, false, true, true, false},
    {DESCENT_RMSPROP, "RMSprop", 0, 0, 0, 0, 0, false, false, false, false},
    {DESCENT_RMSPROP, "RMSprop centered momentum weight_decay", 0.5, 0, 0.01, 0, 0, false, false, false, true},
    {DESCENT_ADAGRAD, "Adagrad", 0, 0, 0, 0, 0, false, false, false, false},
    {DESCENT_ADAGRAD, "Adagrad lr_decay initial_accumulator_value", 0, 0, 0.01, 0.1, 0.2, false, false, false, false},
};
enum { CONFIGS = sizeof configs / sizeof configs[0] };

/* The state names of an algorithm, NULL-terminated. */
static const char *const *state_names(descent_algorithm algorithm) {
    static const char *const sgd[] = {"momentum_buffer", NULL};
    static const char *const adam[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", NULL};
    static const char *const rmsprop[] = {"square_avg", "momentum_buffer", "grad_avg", NULL};
    static const char *const adagrad[] = {"sum", NULL};
    switch (algorithm) {
    case DESCENT_SGD: return sgd;
    case DESCENT_ADAM: case DESCENT_ADAMW: return adam;
    case DESCENT_RMSPROP: return rmsprop;
    default: return adagrad;
    }
}

/* An optimizer over its own parameter and gradient buffers, with schedules. */
typedef struct {
    const Config *config;
    descent_optimizer *opt;
    descent_schedule *schedules[MAX_SCHEDULES]; /* [0] is the one stepped */
    int schedule_kind;                          /* 0: none */
    float param[PARAMS][MAX_SIZE], grad[PARAMS][MAX_SIZE];
} Model;

static descent_optimizer *create(const Config *c, double second_lr) {
    descent_params hp;
    MUST(descent_default_params(c->algorithm, &hp));
    hp.lr = 0.05;
    hp.momentum = c->momentum;
    hp.dampening = c->dampening;
    hp.weight_decay = c->weight_decay;
    hp.lr_decay = c->lr_decay;
    hp.initial_accumulator_value = c->initial_accumulator_value;
    hp.nesterov = c->nesterov;
    hp.maximize = c->maximize;
    hp.amsgrad = c->amsgrad;
    hp.centered = c->centered;
    descent_optimizer *opt = NULL;
    MUST(descent_create(c->algorithm, &hp, &opt));
    MUST(descent_add_group(opt, NULL, NULL));
    hp.lr = second_lr;
    MUST(descent_add_group(opt, &hp, NULL));
    return opt;
}

static int factor_lambda(void *user_data, size_t group, int64_t epoch, double *factor) {
    (void)user_data;
    *factor = 1.0 / (1.0 + 0.1 * (double)epoch + 0.05 * (double)group);
    return 0;
}

/* Creates schedule `kind` (1…16, DESCENT_*_LR) on m->opt; composites keep children. */
static void add_schedule(Model *m, int kind) {
    descent_optimizer *opt = m->opt;
    descent_schedule **s = m->schedules;
    m->schedule_kind = kind;
    switch ((descent_schedule_kind)kind) {
    case DESCENT_STEP_LR: MUST(descent_schedule_step_lr(opt, 3, 0.5, s)); break;
    case DESCENT_MULTI_STEP_LR: {
        int64_t milestones[] = {2, 6, 7};
        MUST(descent_schedule_multi_step_lr(opt, milestones, 3, 0.3, s));
        break;
    }
    case DESCENT_CONSTANT_LR: MUST(descent_schedule_constant_lr(opt, 0.25, 6, s)); break;
    case DESCENT_LINEAR_LR: MUST(descent_schedule_linear_lr(opt, 0.2, 1.0, 7, s)); break;
    case DESCENT_EXPONENTIAL_LR: MUST(descent_schedule_exponential_lr(opt, 0.9, s)); break;
    case DESCENT_POLYNOMIAL_LR: MUST(descent_schedule_polynomial_lr(opt, 8, 1.5, s)); break;
    case DESCENT_COSINE_ANNEALING_LR: MUST(descent_schedule_cosine_annealing_lr(opt, 5, 0.001, s)); break;
    case DESCENT_COSINE_ANNEALING_WARM_RESTARTS:
        MUST(descent_schedule_cosine_annealing_warm_restarts(opt, 2, 2, 0.001, s));
        break;
    case DESCENT_CYCLIC_LR: {
        descent_cyclic_lr_options o;
        MUST(descent_cyclic_lr_defaults(&o));
        o.base_lr = 0.01;
        o.max_lr = 0.1;
        o.step_size_up = 3;
        o.mode = DESCENT_CYCLIC_EXP_RANGE;
        o.gamma = 0.95;
        o.cycle_momentum = m->config->momentum > 0;
        MUST(descent_schedule_cyclic_lr(opt, &o, s));
        break;
    }
    case DESCENT_ONE_CYCLE_LR: {
        descent_one_cycle_lr_options o;
        MUST(descent_one_cycle_lr_defaults(&o));
        o.max_lr = 0.1;
        o.total_steps = 20;
        o.three_phase = true;
        o.cycle_momentum = m->config->momentum > 0 || m->config->algorithm == DESCENT_ADAM;
        MUST(descent_schedule_one_cycle_lr(opt, &o, s));
        break;
    }
    case DESCENT_REDUCE_LR_ON_PLATEAU: {
        descent_reduce_lr_on_plateau_options o;
        MUST(descent_reduce_lr_on_plateau_defaults(&o));
        o.patience = 1;
        o.factor = 0.5;
        MUST(descent_schedule_reduce_lr_on_plateau(opt, &o, s));
        break;
    }
    case DESCENT_LAMBDA_LR: MUST(descent_schedule_lambda_lr(opt, factor_lambda, NULL, s)); break;
    case DESCENT_MULTIPLICATIVE_LR: MUST(descent_schedule_multiplicative_lr(opt, factor_lambda, NULL, s)); break;
    case DESCENT_SEQUENTIAL_LR: {
        int64_t milestones[] = {4};
        MUST(descent_schedule_linear_lr(opt, 0.1, 1.0, 4, &s[1]));
        MUST(descent_schedule_cosine_annealing_lr(opt, 6, 0.0, &s[2]));
        MUST(descent_schedule_sequential_lr(opt, &s[1], 2, milestones, s));
        break;
    }
    case DESCENT_CHAINED_SCHEDULER:
        MUST(descent_schedule_step_lr(opt, 2, 0.7, &s[1]));
        MUST(descent_schedule_exponential_lr(opt, 0.95, &s[2]));
        MUST(descent_schedule_chained_scheduler(opt, &s[1], 2, s));
        break;
    case DESCENT_WARMUP_COSINE_LR: MUST(descent_schedule_warmup_cosine_lr(opt, 3, 10, 0.001, s)); break;
    default: EXPECT(0, "unknown schedule kind %d", kind);
    }
}

/* A model with its optimizer and, if kind > 0, a schedule; parameters start from a fixed
 * pattern unless `keep_params` (a resumed run keeps the values in its buffers). */
static void model_init(Model *m, const Config *c, int kind, bool keep_params) {
    m->config = c;
    m->opt = create(c, 0.02);
    memset(m->schedules, 0, sizeof m->schedules);
    m->schedule_kind = 0;
    for (int i = 0; i < PARAMS; i++) {
        if (!keep_params)
            for (size_t k = 0; k < sizes[i]; k++) m->param[i][k] = 0.5f * sinf(0.1f * (float)k + (float)i);
        MUST(descent_add_param(m->opt, groups_of[i], m->param[i], m->grad[i], sizes[i], NULL));
    }
    if (kind) add_schedule(m, kind);
}

static void model_free(Model *m) {
    for (int i = 0; i < MAX_SCHEDULES; i++) MUST(descent_schedule_free(m->schedules[i]));
    MUST(descent_free(m->opt));
}

/* Step t: gradients from t, the optimizer step, the schedule step (a metric for
 * ReduceLROnPlateau that stalls now and then). */
static void model_step(Model *m, int t) {
    for (int i = 0; i < PARAMS; i++)
        for (size_t k = 0; k < sizes[i]; k++) m->grad[i][k] = cosf(0.37f * (float)k + 1.3f * (float)t + (float)i);
    MUST(descent_step(m->opt));
    if (!m->schedule_kind) return;
    if (m->schedule_kind == DESCENT_REDUCE_LR_ON_PLATEAU)
        MUST(descent_schedule_step_metric(m->schedules[0], 1.0 / (1 + t / 3)));
    else
        MUST(descent_schedule_step(m->schedules[0]));
}

/* Everything a resumed run must reproduce, as bits. */
typedef struct {
    uint32_t *bits;
    size_t count, capacity;
} Snapshot;

static void push(Snapshot *s, const void *data, size_t bytes) {
    size_t words = bytes / 4;
    if (s->count + words > s->capacity) {
        s->capacity = (s->count + words) * 2;
        s->bits = realloc(s->bits, s->capacity * 4);
    }
    memcpy(s->bits + s->count, data, bytes);
    s->count += words;
}

static Snapshot snapshot(const Model *m) {
    Snapshot s = {0};
    for (int i = 0; i < PARAMS; i++) {
        push(&s, m->param[i], sizes[i] * 4);
        for (const char *const *name = state_names(m->config->algorithm); *name; name++) {
            float *state = NULL;
            MUST(descent_param_state(m->opt, (size_t)i, *name, &state));
            if (state) push(&s, state, sizes[i] * 4);
            else push(&s, "none", 4);
        }
        int64_t steps;
        MUST(descent_param_step_count(m->opt, (size_t)i, &steps));
        push(&s, &steps, 8);
    }
    for (size_t g = 0; g < 2; g++) {
        descent_params hp;
        MUST(descent_group_get_params(m->opt, g, &hp));
        push(&s, &hp.lr, 8);
        push(&s, &hp.momentum, 8);
        push(&s, &hp.beta1, 8);
    }
    if (m->schedules[0]) {
        int64_t epoch;
        double lrs[2];
        MUST(descent_schedule_last_epoch(m->schedules[0], &epoch));
        MUST(descent_schedule_last_lr(m->schedules[0], lrs, 2));
        push(&s, &epoch, 8);
        push(&s, lrs, sizeof lrs);
    }
    return s;
}

static bool same(Snapshot a, Snapshot b) {
    bool equal = a.count == b.count && !memcmp(a.bits, b.bits, a.count * 4);
    free(a.bits);
    free(b.bits);
    return equal;
}

static unsigned char *save(descent_optimizer *opt, size_t *size) {
    MUST(descent_checkpoint_size(opt, size));
    unsigned char *bytes = malloc(*size);
    size_t written = 0;
    MUST(descent_checkpoint_save(opt, bytes, *size, &written));
    EXPECT(written == *size, "wrote %zu of %zu bytes", written, *size);
    return bytes;
}

/* ------------------------------------------------------- 1. exact resume */

static Model straight, resumed;
static char directory[] = "/tmp/descent-checkpoint-XXXXXX";

/* N steps, save (to a file when `via_file`), a new optimizer over the same buffers
 * loads, M steps; against N + M straight steps. */
static void check_resume(const Config *c, int kind, int n, int m, bool via_file) {
    model_init(&straight, c, kind, false);
    for (int t = 0; t < n + m; t++) model_step(&straight, t);

    model_init(&resumed, c, kind, false);
    for (int t = 0; t < n; t++) model_step(&resumed, t);
    size_t size = 0;
    unsigned char *bytes = NULL;
    char path[256];
    snprintf(path, sizeof path, "%s/resume.ckpt", directory);
    if (via_file) MUST(descent_checkpoint_save_file(resumed.opt, path));
    else bytes = save(resumed.opt, &size);
    model_free(&resumed);

    model_init(&resumed, c, kind, true);
    descent_status status = via_file ? descent_checkpoint_load_file(resumed.opt, path)
                                     : descent_checkpoint_load(resumed.opt, bytes, size);
    EXPECT(status == DESCENT_OK, "%s, schedule %d: load: %s", c->name, kind, descent_last_error(resumed.opt));
    for (int t = n; t < n + m; t++) model_step(&resumed, t);
    EXPECT(same(snapshot(&straight), snapshot(&resumed)), "%s, schedule %s: resumed run differs",
           c->name, kind ? descent_schedule_kind_name((descent_schedule_kind)kind) : "none");
    free(bytes);
    model_free(&straight);
    model_free(&resumed);
}

static void test_resume(void) {
    for (int i = 0; i < CONFIGS; i++) {
        check_resume(&configs[i], 0, 5, 4, i % 2 == 1);
        check_resume(&configs[i], 0, 0, 3, false); /* a checkpoint before any step */
    }
    /* Every schedule, on SGD with momentum (cycled by CyclicLR and OneCycleLR) and on
     * Adam (beta1 cycled by OneCycleLR). */
    for (int kind = DESCENT_STEP_LR; kind <= DESCENT_WARMUP_COSINE_LR; kind++) {
        check_resume(&configs[1], kind, 5, 6, kind % 2 == 0);
        check_resume(&configs[3], kind, 7, 4, kind % 2 == 1);
    }
}

/* ----------------------------------------------------------- 2. corruption */

static void test_corruption(void) {
    Model *source = &straight, *target = &resumed;
    model_init(source, &configs[4], DESCENT_STEP_LR, false);
    model_step(source, 0);
    model_step(source, 1);
    size_t size;
    unsigned char *bytes = save(source->opt, &size);
    model_init(target, &configs[4], DESCENT_STEP_LR, false);
    model_step(target, 0);
    Snapshot before = snapshot(target);

    /* Every byte outside the big state payload, and a sample inside it. */
    size_t flipped = 0, refused = 0;
    for (size_t i = 0; i < size; i += (i > 4096 && i < size - 4096) ? 997 : 1) {
        for (unsigned char bit = 1; bit; bit <<= 3) {
            bytes[i] ^= bit;
            descent_status status = descent_checkpoint_load(target->opt, bytes, size);
            bytes[i] ^= bit;
            flipped++;
            refused += status == DESCENT_ERROR_CORRUPT_CHECKPOINT;
            if (status != DESCENT_ERROR_CORRUPT_CHECKPOINT)
                EXPECT(0, "byte %zu bit %u flipped: %s (%s)", i, bit, descent_status_name(status),
                       descent_last_error(target->opt));
        }
    }
    EXPECT(flipped == refused, "%zu of %zu flips refused", refused, flipped);
    for (size_t cut = 0; cut < size; cut += cut < 512 ? 1 : 4093) {
        descent_status status = descent_checkpoint_load(target->opt, bytes, cut);
        EXPECT(status == DESCENT_ERROR_CORRUPT_CHECKPOINT, "cut at %zu: %s", cut, descent_status_name(status));
    }
    unsigned char *longer = malloc(size + 1);
    memcpy(longer, bytes, size);
    longer[size] = 0;
    EXPECT(descent_checkpoint_load(target->opt, longer, size + 1) == DESCENT_ERROR_CORRUPT_CHECKPOINT,
           "a trailing byte was accepted");
    EXPECT(strstr(descent_last_error(target->opt), "unexpected bytes after its last section") != NULL, "%s",
           descent_last_error(target->opt));
    memcpy(longer, "NOTACKPT", 8);
    EXPECT(descent_checkpoint_load(target->opt, longer, size) == DESCENT_ERROR_CORRUPT_CHECKPOINT &&
               strstr(descent_last_error(target->opt), "bad magic") != NULL,
           "%s", descent_last_error(target->opt));
    EXPECT(same(before, snapshot(target)), "a refused load changed the optimizer");

    /* The same bytes, unflipped, still load. */
    MUST(descent_checkpoint_load(target->opt, bytes, size));
    free(longer);
    free(bytes);
    model_free(source);
    model_free(target);
}

/* ----------------------------------------------------------- 3. mismatches */

static void expect_mismatch(descent_optimizer *opt, const unsigned char *bytes, size_t size, const char *piece) {
    descent_status status = descent_checkpoint_load(opt, bytes, size);
    EXPECT(status == DESCENT_ERROR_MISMATCH, "'%s': got %s (%s)", piece, descent_status_name(status),
           descent_last_error(opt));
    EXPECT(strstr(descent_last_error(opt), piece) != NULL, "message '%s' lacks '%s'", descent_last_error(opt),
           piece);
}

static void test_mismatches(void) {
    Model *source = &straight;
    model_init(source, &configs[5], DESCENT_STEP_LR, false);
    model_step(source, 0);
    size_t size;
    unsigned char *bytes = save(source->opt, &size);
    static float spare[MAX_SIZE], spare_grad[MAX_SIZE];

    descent_optimizer *adam = create(&configs[3], 0.1);
    expect_mismatch(adam, bytes, size, "checkpoint is of a AdamW optimizer, this one is Adam");
    MUST(descent_free(adam));

    descent_optimizer *opt = create(&configs[5], 0.1);
    MUST(descent_add_group(opt, NULL, NULL));
    expect_mismatch(opt, bytes, size, "checkpoint has 2 param groups, this optimizer has 3");
    MUST(descent_free(opt));

    opt = create(&configs[5], 0.1);
    MUST(descent_add_param(opt, 0, spare, spare_grad, 7, NULL));
    expect_mismatch(opt, bytes, size, "checkpoint has 3 parameters, this optimizer has 1");
    MUST(descent_free(opt));

    /* Sizes and groups, each with the parameter registered and stepped: nothing changes. */
    for (int variant = 0; variant < 3; variant++) {
        Model *target = &resumed;
        target->config = &configs[5];
        target->opt = create(&configs[5], 0.1);
        memset(target->schedules, 0, sizeof target->schedules);
        target->schedule_kind = 0;
        for (int i = 0; i < PARAMS; i++) {
            size_t n = sizes[i] - (variant == 0 && i == 2);
            size_t group = variant == 1 && i == 1 ? 1 : groups_of[i];
            MUST(descent_add_param(target->opt, group, target->param[i], target->grad[i], n, NULL));
        }
        if (variant == 2) MUST(descent_schedule_exponential_lr(target->opt, 0.5, &target->schedules[0]));
        model_step(target, 3);
        Snapshot before = variant == 0 ? (Snapshot){0} : snapshot(target);
        const char *pieces[] = {"parameter 2 has 5 elements in the checkpoint, 4 in this optimizer",
                                "parameter 1 is in group 0 in the checkpoint, in group 1 in this optimizer",
                                "checkpoint has schedules [StepLR], this optimizer has [ExponentialLR]"};
        expect_mismatch(target->opt, bytes, size, pieces[variant]);
        if (variant) EXPECT(same(before, snapshot(target)), "variant %d: a refused load changed something", variant);
        model_free(target);
    }
    free(bytes);
    model_free(source);
}

/* ------------------------------------------------------ 4. argument checks */

static size_t leftover_files(void) {
    size_t count = 0;
    DIR *dir = opendir(directory);
    for (struct dirent *e; dir && (e = readdir(dir));)
        if (strstr(e->d_name, ".tmp-")) count++;
    if (dir) closedir(dir);
    return count;
}

static void test_arguments(void) {
    Model *m = &straight;
    model_init(m, &configs[3], DESCENT_COSINE_ANNEALING_LR, false);
    model_step(m, 0);
    size_t size = 0, written = 0;
    MUST(descent_checkpoint_size(m->opt, &size));
    unsigned char small[64];
    memset(small, 0xAB, sizeof small);
    EXPECT(descent_checkpoint_save(m->opt, small, sizeof small, &written) == DESCENT_ERROR_INVALID_ARGUMENT,
           "a small buffer was accepted");
    EXPECT(written == size && small[0] == 0xAB, "written %zu (size %zu), buffer touched: %d", written, size,
           small[0] != 0xAB);
    EXPECT(descent_checkpoint_save(m->opt, NULL, size, &written) == DESCENT_ERROR_NULL_POINTER, "NULL buffer");
    unsigned char *unreported = malloc(size);
    MUST(descent_checkpoint_save(m->opt, unreported, size, NULL)); /* `written` may be NULL */
    MUST(descent_checkpoint_load(m->opt, unreported, size));
    free(unreported);
    EXPECT(descent_checkpoint_save(NULL, small, 64, NULL) == DESCENT_ERROR_NULL_POINTER, "NULL opt");
    EXPECT(descent_checkpoint_size(m->opt, NULL) == DESCENT_ERROR_NULL_POINTER, "NULL out");
    EXPECT(descent_checkpoint_load(m->opt, NULL, 10) == DESCENT_ERROR_NULL_POINTER, "NULL bytes");
    EXPECT(descent_checkpoint_load(m->opt, small, (size_t)-1) == DESCENT_ERROR_INVALID_ARGUMENT, "huge size");
    EXPECT(descent_checkpoint_load(m->opt, NULL, 0) == DESCENT_ERROR_CORRUPT_CHECKPOINT, "empty");
    EXPECT(descent_checkpoint_save_file(m->opt, NULL) == DESCENT_ERROR_NULL_POINTER, "NULL path");
    EXPECT(descent_checkpoint_save_file(m->opt, "") == DESCENT_ERROR_INVALID_ARGUMENT, "empty path");
    EXPECT(descent_checkpoint_save_file(m->opt, "/nonexistent-dir/x.ckpt") == DESCENT_ERROR_IO &&
               strstr(descent_last_error(m->opt), "No such file or directory"),
           "%s", descent_last_error(m->opt));
    EXPECT(descent_checkpoint_save_file(m->opt, directory) == DESCENT_ERROR_IO, "a directory as target: %s",
           descent_last_error(m->opt));
    EXPECT(descent_checkpoint_load_file(m->opt, "/nonexistent-dir/x.ckpt") == DESCENT_ERROR_IO, "missing file");
    EXPECT(descent_checkpoint_load_file(m->opt, directory) == DESCENT_ERROR_IO, "a directory");
    EXPECT(descent_checkpoint_load_file(m->opt, "\xff\xfe") == DESCENT_ERROR_INVALID_ARGUMENT, "bad UTF-8");
    EXPECT(leftover_files() == 0, "%zu temporary files left", leftover_files());

    /* A file save replaces the old file; its bytes are the buffer save's. */
    char path[256];
    snprintf(path, sizeof path, "%s/args.ckpt", directory);
    MUST(descent_checkpoint_save_file(m->opt, path));
    model_step(m, 1);
    MUST(descent_checkpoint_save_file(m->opt, path));
    unsigned char *bytes = save(m->opt, &size);
    FILE *file = fopen(path, "rb");
    unsigned char *disk = malloc(size + 1);
    size_t read = file ? fread(disk, 1, size + 1, file) : 0;
    if (file) fclose(file);
    EXPECT(read == size && !memcmp(bytes, disk, size), "file of %zu bytes, buffer %zu", read, size);
    EXPECT(leftover_files() == 0, "%zu temporary files left", leftover_files());
    remove(path);
    free(disk);
    free(bytes);
    model_free(m);
}

/* --------------------------------------------------- 5. SIGKILL while saving */

static void test_kill_while_saving(void) {
    char path[256];
    snprintf(path, sizeof path, "%s/killed.ckpt", directory);
    Model *m = &straight;
    model_init(m, &configs[6], DESCENT_EXPONENTIAL_LR, false);
    model_step(m, 0);
    MUST(descent_checkpoint_save_file(m->opt, path));
    srand((unsigned)time(NULL));
    int loads = 0, kills = 0;
    for (int round = 0; round < 25; round++) {
        pid_t child = fork();
        if (child == 0) {
            /* Save over and over, stepping in between, until killed. */
            for (int t = 1;; t++) {
                model_step(m, t % 15);
                if (descent_checkpoint_save_file(m->opt, path) != DESCENT_OK) _exit(3);
            }
        }
        struct timespec pause = {0, (long)(rand() % 20000) * 1000};
        nanosleep(&pause, NULL);
        kill(child, SIGKILL);
        int status = 0;
        waitpid(child, &status, 0);
        kills += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        descent_status loaded = descent_checkpoint_load_file(m->opt, path);
        loads += loaded == DESCENT_OK;
        EXPECT(loaded == DESCENT_OK, "round %d: the checkpoint on disk does not load: %s", round,
               descent_last_error(m->opt));
    }
    EXPECT(kills == 25, "%d of 25 children died of SIGKILL", kills);
    EXPECT(loads == 25, "%d of 25 loads", loads);
    /* Killed saves may leave temporary files behind (documented); remove them. */
    DIR *dir = opendir(directory);
    for (struct dirent *e; dir && (e = readdir(dir));) {
        char name[512];
        snprintf(name, sizeof name, "%s/%s", directory, e->d_name);
        if (e->d_name[0] != '.') remove(name);
    }
    if (dir) closedir(dir);
    model_free(m);
}

int main(void) {
    if (!mkdtemp(directory)) {
        perror("mkdtemp");
        return 1;
    }
    test_resume();
    test_corruption();
    test_mismatches();
    test_arguments();
    test_kill_while_saving();
    rmdir(directory);
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
