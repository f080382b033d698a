/*
 * libFuzzer harness: random sequences of ABI calls with random arguments.
 *
 * The input is a program: each operation byte picks a call, the bytes after it its
 * arguments (indices, counts, raw doubles that may be NaN or inf, C bools holding any
 * byte, NULL, misaligned, forged and freed handles). Buffers come from a static pool that
 * outlives every optimizer, so every call is one a careless caller could make without
 * itself corrupting memory. Invariants, beyond "no crash and no sanitizer report": every
 * failed call leaves a message. Everything left alive is freed at the end of the input.
 *
 * What found the bugs of hardening round 2 is in the vocabulary: step counts and sizes at
 * and around their bounds, special files (FIFO, directory, symlinks, a device) as
 * checkpoint paths, lr callbacks that call into other optimizers and step other
 * schedules (nested callbacks), and messages read on a second thread while calls fail.
 */
#define _XOPEN_SOURCE 700
#include <descent.h>

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { SLOTS = 4, BUFFERS = 8, FLOATS = 256, CHECKPOINT = 64 * 1024 };

static float pool[BUFFERS][FLOATS], grad_pool[BUFFERS][FLOATS];
static unsigned char checkpoint[CHECKPOINT];
static size_t checkpoint_size;

typedef struct {
    const uint8_t *data;
    size_t size, at;
} Input;

static uint8_t byte(Input *in) { return in->at < in->size ? in->data[in->at++] : 0; }

static uint64_t u64(Input *in) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | byte(in);
    return v;
}

/* A double: mostly small ordinary values, sometimes any bit pattern. */
static double number(Input *in) {
    uint8_t kind = byte(in);
    if (kind < 200) return (double)(int8_t)byte(in) / 16.0;
    if (kind < 230) {
        const double special[] = {0.0, -0.0, 1.0, NAN, INFINITY, -INFINITY, 1e308, 5e-324};
        return special[byte(in) % 8];
    }
    uint64_t bits = u64(in);
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

/* A count: small, one at or around a bound, or any size_t. */
static size_t count(Input *in) {
    uint8_t kind = byte(in);
    if (kind < 230) return (size_t)byte(in);
    if (kind < 240) {
        const size_t bounds[] = {DESCENT_MAX_NUMEL, DESCENT_MAX_NUMEL + 1, SIZE_MAX, SIZE_MAX / 4, (size_t)INT64_MAX,
                                 (size_t)INT64_MAX + 1, (size_t)DESCENT_MAX_STEP_COUNT, 0};
        return bounds[byte(in) % 8];
    }
    return (size_t)u64(in);
}

/* A step count: small, at or around DESCENT_MAX_STEP_COUNT, INT64's extremes, or any. */
static int64_t step_count(Input *in) {
    uint8_t kind = byte(in);
    if (kind < 128) return (int64_t)byte(in);
    if (kind < 240) {
        const int64_t bounds[] = {DESCENT_MAX_STEP_COUNT, DESCENT_MAX_STEP_COUNT - 1, DESCENT_MAX_STEP_COUNT + 1,
                                  INT64_MAX, INT64_MAX - 1, INT64_MIN, -1, 0};
        return bounds[byte(in) % 8];
    }
    return (int64_t)u64(in);
}

static descent_optimizer *opts[SLOTS];
static descent_schedule *scheds[SLOTS];
static descent_optimizer *stale_opt;
static descent_schedule *stale_sched;
/* Every schedule created by this input: freed at the end, children after composites. */
static descent_schedule *created[512];
static int created_count;

static descent_optimizer *pick_opt(Input *in) {
    uint8_t k = byte(in);
    if (k < 224) return opts[k % SLOTS];
    if (k < 236) return stale_opt;
    if (k < 246) return NULL;
    return (descent_optimizer *)(uintptr_t)(k < 251 ? 0x10 * (uintptr_t)byte(in) : (uintptr_t)pool[0]);
}

static descent_schedule *pick_sched(Input *in) {
    uint8_t k = byte(in);
    if (k < 224) return scheds[k % SLOTS];
    if (k < 240) return stale_sched;
    return NULL;
}

/* A gradient for a step or for set_grad, which the library reads for its parameter's
 * whole count (at most FLOATS): a whole row of the gradient pool, NULL, or a misaligned
 * pointer (refused before anything is read). */
static float *whole_gradient(Input *in) {
    uint8_t k = byte(in);
    if (k < 200) return grad_pool[k % BUFFERS];
    if (k < 230) return NULL;
    return (float *)((char *)grad_pool[k % BUFFERS] + 1);
}

/* A float buffer of at least `n` floats from the pool (n clamped so it fits), or a bad one. */
static float *buffer(Input *in, float (*from)[FLOATS], size_t *n) {
    uint8_t k = byte(in);
    size_t offset = byte(in) % FLOATS;
    if (*n > FLOATS - offset) *n = FLOATS - offset;
    if (k < 230) return from[k % BUFFERS] + offset;
    if (k < 240) return NULL;
    *n = *n > 8 ? 8 : *n;
    return (float *)((char *)from[k % BUFFERS] + 1); /* misaligned */
}

static void random_params(Input *in, descent_params *p) {
    descent_default_params(descent_algorithm_at(byte(in) % descent_algorithm_count()), p);
    uint8_t fields = byte(in);
    if (fields & 1) p->lr = number(in);
    if (fields & 2) p->momentum = number(in);
    if (fields & 4) p->weight_decay = number(in);
    if (fields & 8) p->beta1 = number(in);
    if (fields & 16) p->eps = number(in);
    if (fields & 32) memset(&p->nesterov, byte(in), 1);
    if (fields & 64) memset(&p->amsgrad, byte(in) % 3, 1);
    if (fields & 128) memset(&p->centered, byte(in) % 3, 1);
}

/* An lr_lambda whose mood (its user data) decides what it does: a factor, a NaN or
 * negative one, a failure, or calls into some optimizer (its own is refused) and steps of
 * some schedule (nested callbacks) before answering. */
static int lambda(void *user_data, size_t group, int64_t epoch, double *factor) {
    uint8_t mood = *(const uint8_t *)user_data;
    if (mood >= 150 && mood < 200) {
        descent_optimizer *other = opts[mood % SLOTS];
        size_t groups = 0;
        double lr = 0;
        descent_status status = descent_group_count(other, &groups);
        if (status == DESCENT_OK) status = descent_group_get(other, group, DESCENT_OPTION_LR, &lr);
        if (status != DESCENT_OK && !*descent_last_error(other) && !*descent_last_error(NULL)) abort();
        if (mood % 3 == 0) descent_schedule_step(scheds[mood / 4 % SLOTS]);
    }
    *factor = mood < 200 ? 1.0 / (1.0 + (double)epoch) : (mood < 230 ? NAN : -1.0);
    return mood > 245;
}

/* A step closure whose mood decides what each call does: gradients written or not, a
 * NaN or huge loss, a failure, calls into its own optimizer (zero_grad and set_grad work,
 * a step is refused). It fails from its 40th call on, which bounds any step. */
typedef struct {
    descent_optimizer *opt;
    uint8_t mood;
    int calls;
} ClosureMood;

static int closure(void *user_data, double *loss) {
    ClosureMood *c = user_data;
    c->calls++;
    uint8_t mood = (uint8_t)(c->mood + c->calls * 37);
    if (mood % 5 == 0) (void)descent_zero_grad(c->opt);
    if (mood % 7 == 0 && descent_step(c->opt) != DESCENT_ERROR_REENTRANT_CALL) abort();
    if (mood % 11 == 0) (void)descent_set_grad(c->opt, mood % 3, grad_pool[mood % BUFFERS]);
    for (size_t i = 0; i < FLOATS && mood % 2; i++) grad_pool[mood % BUFFERS][i] = (float)((int)(i % 9) - 4) * 0.25f;
    *loss = mood < 20 ? NAN : mood < 40 ? 1e300 : (double)mood;
    return c->calls >= 40 || mood > 240;
}

/* Special files as checkpoint paths, made once in a directory of their own. Saving to a
 * device is never tried (a regression would replace it); loading from one is. */
static char files[] = "/tmp/descent-fuzz-XXXXXX";
static const char *paths[8];

static void remove_files(void) {
    for (int i = 0; i < 7; i++) {
        if (i == 2) rmdir(paths[i]);
        else unlink(paths[i]);
    }
    rmdir(files);
}

static void make_files(void) {
    static char names[8][64];
    if (paths[0] || !mkdtemp(files)) return;
    const char *leaves[] = {"regular", "fifo", "dir", "link-to-regular", "link-to-fifo", "dangling", "missing"};
    for (int i = 0; i < 7; i++) {
        snprintf(names[i], sizeof names[i], "%s/%s", files, leaves[i]);
        paths[i] = names[i];
    }
    FILE *file = fopen(paths[0], "wb");
    if (!file) abort();
    fclose(file);
    mkfifo(paths[1], 0600);
    mkdir(paths[2], 0700);
    if (symlink("regular", paths[3]) || symlink("fifo", paths[4]) || symlink("nowhere", paths[5])) abort();
    paths[7] = "/dev/zero";
    atexit(remove_files);
}

/* Reads an optimizer's message many times while the main thread's calls on it fail. */
static void *read_messages(void *arg) {
    descent_optimizer *opt = arg;
    size_t total = 0;
    for (int i = 0; i < 200; i++) total += strlen(descent_last_error(opt));
    return (void *)(uintptr_t)total;
}

static void check(descent_status status, descent_optimizer *opt) {
    if (status == DESCENT_OK) return;
    const char *message = descent_last_error(opt);
    const char *other = descent_last_error(NULL);
    if ((!message || !*message) && (!other || !*other)) abort();
}

static descent_schedule **free_sched_slot(Input *in) {
    descent_schedule **slot = &scheds[byte(in) % SLOTS];
    if (*slot && descent_schedule_free(*slot) == DESCENT_OK) stale_sched = *slot;
    *slot = NULL;
    return slot;
}

static void run(Input *in) {
    static uint8_t moods[256];
    uint8_t op = byte(in) % 34;
    descent_optimizer *opt = pick_opt(in);
    descent_params p;
    descent_status s = DESCENT_OK;
    size_t n, index, out_size;
    double value;
    float *f, *g;
    switch (op) {
    case 0: {
        descent_optimizer **slot = &opts[byte(in) % SLOTS];
        if (*slot && descent_free(*slot) == DESCENT_OK) stale_opt = *slot;
        *slot = NULL;
        random_params(in, &p);
        /* Every algorithm id, and one below and one above them. */
        s = descent_create((descent_algorithm)(byte(in) % (descent_algorithm_count() + 2)), byte(in) & 1 ? &p : NULL,
                           slot);
        opt = *slot;
        break;
    }
    case 1: {
        uint8_t k = byte(in) % SLOTS;
        s = descent_free(opts[k]);
        if (s == DESCENT_OK && opts[k]) stale_opt = opts[k];
        opts[k] = NULL;
        break;
    }
    case 2: random_params(in, &p); s = descent_add_group(opt, byte(in) & 1 ? &p : NULL, &index); break;
    case 3: {
        n = count(in);
        f = buffer(in, pool, &n);
        g = byte(in) & 1 ? buffer(in, grad_pool, &n) : NULL;
        uint8_t kind = byte(in);
        if (kind & 1) {
            s = descent_add_param(opt, count(in), f, g, n, &index);
        } else { /* any format code, known or not; 16-bit elements fit twice as many, an odd address none */
            descent_param_format format = (descent_param_format)((kind >> 1) % 6);
            size_t numel = format == DESCENT_PARAM_BFLOAT16 || format == DESCENT_PARAM_FLOAT16 ? 2 * n : n;
            s = descent_add_param_format(opt, count(in), f ? (char *)f + (kind >> 7) : NULL, g, numel, format, &index);
        }
        break;
    }
    case 4: s = descent_step(opt); break;
    case 5: s = descent_zero_grad(opt); break;
    case 6: random_params(in, &p); s = descent_group_set_params(opt, count(in), &p); break;
    case 7: s = descent_group_set(opt, count(in), (descent_option)byte(in), number(in)); break;
    case 8: s = descent_group_get(opt, count(in), (descent_option)byte(in), &value); break;
    case 9: {
        descent_step_options o;
        descent_step_options_default(&o);
        o.grad_scale = byte(in) & 1 ? number(in) : 1.0;
        memset(&o.found_inf, byte(in) % 3, 1);
        o.nonfinite = (descent_nonfinite_policy)(byte(in) % 4);
        o.clip = (descent_clip_mode)(byte(in) % 4);
        o.max_norm = number(in);
        o.norm_type = number(in);
        memset(&o.error_if_nonfinite, byte(in) % 3, 1);
        o.clip_value = number(in);
        memset(&o.zero_grad, byte(in) % 3, 1);
        descent_step_report report;
        s = descent_step_phase(opt, &o, NULL, 0, byte(in) & 1 ? &report : NULL);
        break;
    }
    case 10: {
        n = count(in);
        float *bufs[2] = {buffer(in, grad_pool, &n), buffer(in, grad_pool, &n)};
        size_t numels[2] = {n, n};
        float total;
        s = descent_clip_grad_norm(bufs, numels, byte(in) % 3, number(in), number(in), byte(in) & 1, &total);
        break;
    }
    case 11: {
        const float *bufs[4];
        size_t k = byte(in) % 4;
        for (size_t i = 0; i < k; i++) bufs[i] = whole_gradient(in);
        s = descent_step_with_grads(opt, bufs, byte(in) & 1 ? k : count(in));
        break;
    }
    case 12: s = descent_set_grad(opt, count(in), whole_gradient(in)); break;
    case 13: {
        float *state;
        const char *names[] = {"exp_avg", "momentum_buffer", "sum", "nope", "square_avg", "grad_avg", "exp_inf",
                               "mu_product"};
        s = byte(in) & 1 ? descent_param_state(opt, count(in), names[byte(in) % 8], &state)
                         : descent_param_create_state(opt, count(in), names[byte(in) % 8], &state);
        break;
    }
    case 14: s = descent_param_set_step_count(opt, count(in), step_count(in)); break;
    case 15: {
        descent_schedule **slot = free_sched_slot(in);
        switch (byte(in) % 6) {
        case 0: s = descent_schedule_step_lr(opt, (int64_t)count(in), number(in), slot); break;
        case 1: s = descent_schedule_cosine_annealing_lr(opt, (int64_t)count(in), number(in), slot); break;
        case 2: s = descent_schedule_warmup_cosine_lr_with(opt, (int64_t)count(in), (int64_t)count(in), number(in),
                                                           (descent_warmup_start)(byte(in) % 3), slot); break;
        case 3: {
            descent_one_cycle_lr_options o;
            descent_one_cycle_lr_defaults(&o);
            o.max_lr = number(in);
            o.total_steps = (int64_t)count(in);
            memset(&o.three_phase, byte(in) % 3, 1);
            memset(&o.cycle_momentum, byte(in) % 3, 1);
            s = descent_schedule_one_cycle_lr(opt, &o, slot);
            break;
        }
        case 4: {
            uint8_t *mood = &moods[byte(in)];
            *mood = byte(in);
            s = descent_schedule_lambda_lr(opt, lambda, mood, slot);
            break;
        }
        default: {
            descent_reduce_lr_on_plateau_options o;
            descent_reduce_lr_on_plateau_defaults(&o);
            o.patience = (int64_t)count(in);
            o.factor = number(in);
            s = descent_schedule_reduce_lr_on_plateau(opt, &o, slot);
        }
        }
        break;
    }
    case 16: {
        descent_schedule *children[2] = {pick_sched(in), pick_sched(in)};
        descent_schedule **slot = free_sched_slot(in);
        int64_t milestones[1] = {(int64_t)count(in)};
        s = byte(in) & 1 ? descent_schedule_sequential_lr(opt, children, byte(in) % 3, milestones, slot)
                         : descent_schedule_chained_scheduler(opt, children, byte(in) % 3, slot);
        break;
    }
    case 17: {
        descent_schedule *sched = pick_sched(in);
        s = byte(in) & 1 ? descent_schedule_step(sched) : descent_schedule_step_metric(sched, number(in));
        break;
    }
    case 18: {
        uint8_t k = byte(in) % SLOTS;
        s = descent_schedule_free(scheds[k]);
        if (s == DESCENT_OK && scheds[k]) stale_sched = scheds[k];
        if (s == DESCENT_OK) scheds[k] = NULL;
        break;
    }
    case 19: {
        size_t written = 0;
        s = descent_checkpoint_save(opt, checkpoint, byte(in) & 1 ? CHECKPOINT : count(in), &written);
        if (s == DESCENT_OK) checkpoint_size = written;
        break;
    }
    case 20: {
        size_t size = byte(in) & 1 ? checkpoint_size : count(in) % (CHECKPOINT + 1);
        if (byte(in) & 1 && size) checkpoint[byte(in) % size] ^= (uint8_t)(1u << (byte(in) % 8));
        s = descent_checkpoint_load(opt, checkpoint, size);
        break;
    }
    case 21: s = descent_checkpoint_size(opt, &out_size); break;
    case 22: {
        double lrs[4];
        s = descent_schedule_last_lr(pick_sched(in), lrs, byte(in) % 5);
        break;
    }
    case 23: {
        make_files();
        uint8_t k = byte(in);
        /* Saving writes and fsyncs a file: rarer than the other calls. */
        if (k < 64 && paths[k % 7]) s = descent_checkpoint_save_file(opt, paths[k % 7]);
        else if (paths[k % 8]) s = descent_checkpoint_load_file(opt, paths[k % 8]);
        break;
    }
    case 24: {
        /* A second thread reads messages while this one's calls fail and succeed. */
        pthread_t reader;
        if (pthread_create(&reader, NULL, read_messages, opt)) break;
        for (int i = 0; i < 20; i++) {
            s = descent_group_set(opt, 1000 + (size_t)i, DESCENT_OPTION_LR, 0.1);
            check(s, opt);
            s = descent_group_count(opt, &out_size);
        }
        pthread_join(reader, NULL);
        break;
    }
    case 25: {
        int64_t steps[8] = {0};
        if (byte(in) & 1) {
            s = descent_param_step_count(opt, count(in), steps);
        } else { /* a range of any start and length; out holds 8 */
            size_t first = count(in), n = byte(in) & 1 ? byte(in) % 9 : count(in);
            s = descent_param_step_counts(opt, first, n, n <= 8 && byte(in) & 1 ? steps : NULL);
        }
        break;
    }
    case 26: {
        /* (option id, value) pairs: any ids (unknown, another algorithm's, repeated). */
        descent_option ids[4];
        double values[4];
        size_t pairs = byte(in) % 5;
        for (size_t i = 0; i < pairs; i++) {
            ids[i] = (descent_option)(byte(in) % 44);
            values[i] = number(in);
        }
        if (byte(in) & 1) {
            descent_optimizer **slot = &opts[byte(in) % SLOTS];
            if (*slot && descent_free(*slot) == DESCENT_OK) stale_opt = *slot;
            *slot = NULL;
            s = descent_create_with((descent_algorithm)(byte(in) % (descent_algorithm_count() + 2)), ids, values,
                                    byte(in) & 1 ? pairs : SIZE_MAX - byte(in), slot); /* huge: refused unread */
            opt = *slot;
        } else {
            s = byte(in) & 1 ? descent_add_group_with(opt, ids, values, pairs, NULL)
                             : descent_group_set_with(opt, count(in), ids, values, pairs);
        }
        break;
    }
    case 27: {
        descent_option_info info[4];
        descent_state_info slots[4];
        size_t n_out = 0;
        descent_algorithm algorithm = (descent_algorithm)(byte(in) % (descent_algorithm_count() + 2));
        s = byte(in) & 1 ? descent_algorithm_options(algorithm, info, byte(in) % 5, &n_out)
                         : descent_algorithm_state(algorithm, slots, byte(in) % 5, &n_out);
        break;
    }
    case 28: { /* a sparse gradient: rows in and out of range, repeated, any row size */
        int64_t rows[8];
        size_t k = byte(in) % 9;
        for (size_t i = 0; i < k; i++) rows[i] = (int64_t)(int8_t)byte(in);
        size_t row_size = byte(in) & 1 ? (size_t)(1 + byte(in) % 8) : count(in);
        /* Values for k rows where that fits the pool; a row size beyond any parameter is
         * refused before values are read. */
        size_t need = row_size <= FLOATS ? k * row_size : 0, have = need;
        float *v = buffer(in, grad_pool, &have);
        int with_rows = byte(in) & 1;
        s = descent_set_sparse_grad(opt, count(in), with_rows ? rows : NULL, with_rows ? k : count(in),
                                    have >= need ? v : NULL, row_size);
        break;
    }
    case 29: { /* shapes: any count of any dimensions, read back into any capacity */
        size_t dims[DESCENT_MAX_DIMS + 2] = {0};
        size_t ndim = byte(in) % (DESCENT_MAX_DIMS + 3);
        for (size_t i = 0; i < ndim; i++) dims[i] = byte(in) & 1 ? (size_t)(1 + byte(in) % 8) : count(in);
        if (byte(in) & 1) {
            size_t target = count(in), own[DESCENT_MAX_DIMS], own_ndim = 0, numel = 1;
            /* A matrix of the parameter's own size, which Muon's and Adafactor's steps take:
             * random dimensions rarely multiply to a parameter's numel. */
            if (byte(in) % 4 == 0 && descent_param_shape(opt, target, own, DESCENT_MAX_DIMS, &own_ndim) == DESCENT_OK) {
                for (size_t i = 0; i < own_ndim; i++) numel *= own[i];
                size_t rows = 1 + byte(in) % 8;
                while (numel % rows) rows--;
                dims[0] = rows, dims[1] = numel / rows, ndim = 2;
            }
            s = descent_param_set_shape(opt, target, byte(in) & 1 ? dims : NULL, byte(in) & 1 ? ndim : count(in));
        } else {
            size_t capacity = byte(in) % (DESCENT_MAX_DIMS + 3), got = 0;
            size_t *into = capacity <= DESCENT_MAX_DIMS + 2 && byte(in) & 1 ? dims : NULL;
            if (byte(in) & 1) {
                s = descent_param_shape(opt, count(in), into, capacity, byte(in) & 1 ? &got : NULL);
            } else {  /* a state buffer's shape (Adafactor's factors), by any name */
                static const char *const names[] = {"row_var", "col_var", "variance", "exp_avg", "nope"};
                s = descent_param_state_shape(opt, count(in), byte(in) % 8 ? names[byte(in) % 5] : NULL, into,
                                              capacity, byte(in) & 1 ? &got : NULL);
            }
        }
        break;
    }
    case 30: { /* a closure step (LBFGS's, or any algorithm's one call) */
        ClosureMood mood = {opt, byte(in), 0};
        double loss = 0;
        s = descent_step_closure(opt, byte(in) % 8 ? closure : NULL, &mood, byte(in) & 1 ? &loss : NULL);
        break;
    }
    case 31: { /* LBFGS's state out and back in, some fields changed */
        descent_lbfgs_state state = {0};
        float ro[4], al[4], *vectors[12] = {0};
        size_t vector_count = 0;
        s = descent_lbfgs_get_state(opt, byte(in) & 7 ? &state : NULL, NULL, 0, &vector_count);
        if (s != DESCENT_OK || state.history > 4 || state.al_count > 4 || vector_count > 12) break;
        state.ro = ro;
        state.al = al;
        s = descent_lbfgs_get_state(opt, &state, vectors, byte(in) % 13, &vector_count);
        if (s != DESCENT_OK) break;
        if (byte(in) & 1) state.flags ^= 1u << (byte(in) % 10);
        if (byte(in) & 1) state.numel = count(in);
        if (byte(in) & 1) state.history = byte(in) % 5;
        if (byte(in) & 1) state.func_evals = (int64_t)u64(in);
        s = descent_lbfgs_set_state(opt, &state, byte(in) % 8 ? (const float *const *)vectors : NULL);
        break;
    }
    case 32: { /* state in any format: its format, its bytes (made or not), read and written as floats */
        static float values[4 * 4096];
        const char *names[] = {"exp_avg", "exp_avg_sq", "momentum_buffer", "sum", "nope", "ax", "mu_product", NULL};
        const char *name = names[byte(in) % 8];
        size_t index = count(in), n = byte(in) & 1 ? byte(in) % 64 : count(in);
        descent_state_format format;
        void *data;
        float *absmax;
        const float *map;
        int present;
        switch (byte(in) % 5) {
        case 0: s = descent_param_state_format(opt, index, name, byte(in) & 7 ? &format : NULL); break;
        case 1: s = descent_param_state_data(opt, index, name, byte(in) & 1, byte(in) & 7 ? &data : NULL,
                                             byte(in) & 1 ? &absmax : NULL); break;
        case 2: s = descent_param_read_state(opt, index, name, n <= 4 * 4096 ? values : NULL, n, &present); break;
        case 3:
            for (size_t i = 0; i < 64; i++) values[i] = (float)number(in);
            s = descent_param_write_state(opt, index, name, n <= 4 * 4096 ? values : NULL, n);
            break;
        default: s = descent_param_state_code_map(opt, index, name, byte(in) & 7 ? &map : NULL); break;
        }
        break;
    }
    default: s = descent_set_num_threads(1 + byte(in) % 3); break;
    }
    if (op >= 15 && op <= 16 && s == DESCENT_OK && created_count < 512) {
        for (int k = 0; k < SLOTS; k++)
            if (scheds[k] && (created_count == 0 || created[created_count - 1] != scheds[k])) {
                int known = 0;
                for (int j = 0; j < created_count; j++) known |= created[j] == scheds[k];
                if (!known) created[created_count++] = scheds[k];
            }
    }
    check(s, opt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Input in = {data, size, 0};
    for (int ops = 0; in.at < in.size && ops < 64; ops++) run(&in);
    /* Every schedule created, composites before their children (a child cannot be freed
     * while its composite lives): passes until none is left. A handle the input freed
     * already answers INVALID_HANDLE. */
    for (int pass = 0; pass <= created_count; pass++) {
        for (int j = 0; j < created_count; j++) {
            descent_status status = created[j] ? descent_schedule_free(created[j]) : DESCENT_OK;
            if (status == DESCENT_OK || status == DESCENT_ERROR_INVALID_HANDLE) created[j] = NULL;
        }
    }
    for (int j = 0; j < created_count; j++)
        if (created[j]) abort(); /* a schedule that can never be freed */
    created_count = 0;
    memset(scheds, 0, sizeof scheds);
    for (int k = 0; k < SLOTS; k++) {
        if (opts[k] && descent_free(opts[k]) != DESCENT_OK) abort();
        opts[k] = NULL;
    }
    descent_set_num_threads(0);
    return 0;
}
