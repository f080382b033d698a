/*
 * Hardening, round 2: what a C client written from include/descent.h alone found, each
 * a test that failed before its fix. Built plain and under ASan+UBSan.
 *
 * 1. Step counts are bounded by DESCENT_MAX_STEP_COUNT at every entrance: setting,
 *    loading a checkpoint with valid CRCs, stepping past it (it trapped).
 * 2. Loading a checkpoint file: a FIFO, a directory or a device is refused without
 *    blocking (a FIFO blocked forever); a valid checkpoint followed by 2 GiB is refused
 *    without reading them; a file shorter than its declared sections is refused.
 * 3. lr callbacks of two optimizers calling each other's optimizer from two threads:
 *    one call is refused, nothing deadlocks (it did); a nested callback calling an outer
 *    optimizer is refused (it waited for its own thread).
 * 4. descent_last_error read on one thread while another thread's calls on the same
 *    optimizer fail: each thread reads its own message (it was a use after free).
 * 5. Saving over a FIFO, a directory, a symlink to one: refused, the entry untouched; a
 *    symlink to a regular file writes that file and keeps the link.
 * 6. A schedule's saved state is checksummed: every single-bit flip is refused and
 *    changes nothing; a state with a NaN lr is refused; a cosine schedule with a
 *    negative eta_min is refused at creation.
 */
#define _XOPEN_SOURCE 700
#include <descent.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../fuzz/crc32c_ref.h"
#include "expect.h"

/* A test that hangs fails instead of stalling the suite. */
static const char *running = "";

static void on_alarm(int signal) {
    (void)signal;
    static const char text[] = "test_hardening: hung (deadlock or blocking call) in ";
    ssize_t ignored = write(2, text, sizeof text - 1);
    ignored = write(2, running, strlen(running));
    ignored = write(2, "\n", 1);
    (void)ignored;
    _exit(2);
}

static void start(const char *name) {
    running = name;
    alarm(60);
}

/* ------------------------------------------------------------ the helpers */

enum { SIZE = 64 };

typedef struct {
    descent_optimizer *opt;
    float param[SIZE], grad[SIZE];
} Model;

static void model_init(Model *m, descent_algorithm algorithm) {
    memset(m, 0, sizeof *m);
    MUST(descent_create(algorithm, NULL, &m->opt));
    MUST(descent_add_group(m->opt, NULL, NULL));
    for (int k = 0; k < SIZE; k++) {
        m->param[k] = 0.01f * (float)k;
        m->grad[k] = 0.5f - 0.02f * (float)k;
    }
    MUST(descent_add_param(m->opt, 0, m->param, m->grad, SIZE, NULL));
}

static unsigned char *save(descent_optimizer *opt, size_t *size) {
    MUST(descent_checkpoint_size(opt, size));
    unsigned char *bytes = malloc(*size);
    MUST(descent_checkpoint_save(opt, bytes, *size, size));
    return bytes;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* The offset of section `index`'s framing in a checkpoint (docs/checkpoint-format.md). */
static size_t section_at(const unsigned char *bytes, int index) {
    size_t offset = 24;
    for (int i = 0; i < index; i++) offset += 20 + (size_t)get_u64(bytes + offset + 8);
    return offset;
}

/* Recomputes the CRC of section `index` after its payload was edited. */
static void reseal(unsigned char *bytes, int index) {
    size_t at = section_at(bytes, index), length = (size_t)get_u64(bytes + at + 8);
    put_u32(bytes + at + 16 + length, crc32c_ref(bytes + at, 16 + length));
}

static char directory[] = "/tmp/descent-hardening-XXXXXX";

static const char *path_of(const char *name) {
    static char path[4][256];
    static int next = 0;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", directory, name);
    return p;
}

static int has(const char *text, const char *piece) { return strstr(text, piece) != NULL; }

/* ------------------------------------------------------ 1. step counts */

static void test_step_count_bounds(void) {
    start("step count bounds");
    for (int algorithm = DESCENT_SGD; algorithm <= DESCENT_ADAGRAD; algorithm++) {
        Model m;
        model_init(&m, (descent_algorithm)algorithm);
        const char *name = descent_algorithm_name((descent_algorithm)algorithm);
        EXPECT(descent_param_set_step_count(m.opt, 0, INT64_MAX) == DESCENT_ERROR_INVALID_ARGUMENT, "%s", name);
        EXPECT(has(descent_last_error(m.opt), "2**53"), "%s: %s", name, descent_last_error(m.opt));
        EXPECT(descent_param_set_step_count(m.opt, 0, DESCENT_MAX_STEP_COUNT + 1) == DESCENT_ERROR_INVALID_ARGUMENT,
               "%s", name);
        MUST(descent_param_set_step_count(m.opt, 0, DESCENT_MAX_STEP_COUNT));

        /* A step would pass the bound: refused by every step call, nothing changed. */
        float before[SIZE];
        memcpy(before, m.param, sizeof before);
        const float *grads[1] = {m.grad};
        descent_step_options options;
        MUST(descent_step_options_default(&options));
        descent_status statuses[3] = {
            descent_step(m.opt),
            descent_step_with_grads(m.opt, grads, 1),
            descent_step_phase(m.opt, &options, NULL, 0, NULL),
        };
        for (int k = 0; k < 3; k++) {
            EXPECT(statuses[k] == DESCENT_ERROR_INVALID_STATE, "%s, step call %d: %s", name, k,
                   descent_status_name(statuses[k]));
        }
        EXPECT(has(descent_last_error(m.opt), "parameter 0 has taken 9007199254740992 steps"), "%s: %s", name,
               descent_last_error(m.opt));
        int64_t steps = 0;
        MUST(descent_param_step_count(m.opt, 0, &steps));
        EXPECT(steps == DESCENT_MAX_STEP_COUNT && !memcmp(before, m.param, sizeof before), "%s: changed", name);

        /* One below the bound steps up to it. */
        MUST(descent_param_set_step_count(m.opt, 0, DESCENT_MAX_STEP_COUNT - 1));
        EXPECT(descent_step(m.opt) == DESCENT_OK, "%s: %s", name, descent_last_error(m.opt));
        MUST(descent_param_step_count(m.opt, 0, &steps));
        EXPECT(steps == DESCENT_MAX_STEP_COUNT, "%s: %lld steps", name, (long long)steps);

        /* A checkpoint with valid CRCs and a step count past the bound does not load. */
        size_t size = 0;
        unsigned char *bytes = save(m.opt, &size);
        size_t parm = section_at(bytes, 2);
        for (int k = 0; k < 2; k++) {
            put_u64(bytes + parm + 16 + 16, k == 0 ? (uint64_t)INT64_MAX : (uint64_t)DESCENT_MAX_STEP_COUNT + 1);
            reseal(bytes, 2);
            MUST(descent_param_set_step_count(m.opt, 0, 5));
            EXPECT(descent_checkpoint_load(m.opt, bytes, size) == DESCENT_ERROR_CORRUPT_CHECKPOINT, "%s: %s", name,
                   descent_last_error(m.opt));
            EXPECT(has(descent_last_error(m.opt), "step count"), "%s: %s", name, descent_last_error(m.opt));
            MUST(descent_param_step_count(m.opt, 0, &steps));
            EXPECT(steps == 5, "%s: a refused load changed the step count to %lld", name, (long long)steps);
        }
        free(bytes);
        MUST(descent_free(m.opt));
    }
}

/* The element bound the header states is the library's. */
static void test_numel_bound(void) {
    start("numel bound");
    descent_optimizer *opt;
    static float big[4];
    MUST(descent_create(DESCENT_SGD, NULL, &opt));
    MUST(descent_add_group(opt, NULL, NULL));
    EXPECT(descent_add_param(opt, 0, big, NULL, DESCENT_MAX_NUMEL + 1, NULL) == DESCENT_ERROR_INVALID_ARGUMENT,
           "%s", descent_last_error(opt));
    EXPECT(has(descent_last_error(opt), "is too large"), "%s", descent_last_error(opt));
    /* Registering touches no element: the largest count is taken. */
    EXPECT(descent_add_param(opt, 0, big, NULL, DESCENT_MAX_NUMEL, NULL) == DESCENT_OK, "%s",
           descent_last_error(opt));
    MUST(descent_free(opt));
}

/* ---------------------------------------------------- 2. loading files */

static long max_resident_kib(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

static void test_load_special_files(void) {
    start("loading special files");
    Model m;
    model_init(&m, DESCENT_ADAMW);
    MUST(descent_step(m.opt));

    const char *fifo = path_of("fifo");
    EXPECT(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
    EXPECT(descent_checkpoint_load_file(m.opt, fifo) == DESCENT_ERROR_IO, "FIFO: %s",
           descent_last_error(m.opt));
    EXPECT(has(descent_last_error(m.opt), "is a FIFO, not a regular file"), "%s", descent_last_error(m.opt));
    EXPECT(descent_checkpoint_load_file(m.opt, directory) == DESCENT_ERROR_IO, "directory");
    EXPECT(has(descent_last_error(m.opt), "is a directory"), "%s", descent_last_error(m.opt));
    EXPECT(descent_checkpoint_load_file(m.opt, "/dev/zero") == DESCENT_ERROR_IO, "/dev/zero");
    EXPECT(has(descent_last_error(m.opt), "is a character device"), "%s", descent_last_error(m.opt));

    /* A valid checkpoint followed by 2 GiB of zeros (a sparse file: no disk used). */
    size_t size = 0;
    unsigned char *bytes = save(m.opt, &size);
    const char *padded = path_of("padded");
    FILE *file = fopen(padded, "wb");
    EXPECT(file && fwrite(bytes, 1, size, file) == size, "write %s", padded);
    fclose(file);
    EXPECT(truncate(padded, (off_t)size + ((off_t)2 << 30)) == 0, "truncate: %s", strerror(errno));
    long resident = max_resident_kib();
    EXPECT(descent_checkpoint_load_file(m.opt, padded) == DESCENT_ERROR_CORRUPT_CHECKPOINT, "padded: %s",
           descent_last_error(m.opt));
    EXPECT(has(descent_last_error(m.opt), "2147483648 unexpected bytes after its last section"), "%s",
           descent_last_error(m.opt));
    EXPECT(max_resident_kib() - resident < 256 * 1024, "loading the padded file took %ld KiB",
           max_resident_kib() - resident);
    unlink(padded);

    /* Declared sections longer than the file: refused as truncated. */
    const char *cut = path_of("cut");
    file = fopen(cut, "wb");
    EXPECT(file && fwrite(bytes, 1, size - 9, file) == size - 9, "write %s", cut);
    fclose(file);
    EXPECT(descent_checkpoint_load_file(m.opt, cut) == DESCENT_ERROR_CORRUPT_CHECKPOINT, "cut: %s",
           descent_last_error(m.opt));
    /* The same bytes in memory get the same message. */
    char from_file[512];
    snprintf(from_file, sizeof from_file, "%s", descent_last_error(m.opt));
    EXPECT(descent_checkpoint_load(m.opt, bytes, size - 9) == DESCENT_ERROR_CORRUPT_CHECKPOINT, "cut bytes");
    EXPECT(!strcmp(from_file, descent_last_error(m.opt)), "file: '%s', bytes: '%s'", from_file,
           descent_last_error(m.opt));
    unlink(cut);

    /* And the whole file still loads. */
    const char *whole = path_of("whole");
    MUST(descent_checkpoint_save_file(m.opt, whole));
    EXPECT(descent_checkpoint_load_file(m.opt, whole) == DESCENT_OK, "%s", descent_last_error(m.opt));
    unlink(whole);
    unlink(fifo);
    free(bytes);
    MUST(descent_free(m.opt));
}

/* ---------------------------------------------- 3. callbacks, two threads */

typedef struct {
    descent_optimizer *self, *other;
    descent_schedule *schedule;
    descent_status status;      /* of the call into `other`, at the rendezvous */
    descent_status step_status; /* of the schedule step that ran the callback */
    char message[256];
} Side;

static pthread_barrier_t rendezvous;
static int armed = 0;

/* Both threads meet here, each holding its own optimizer's lock, then each calls into
 * the other's optimizer: before the fix, both waited forever. */
static int calling_lambda(void *user_data, size_t group, int64_t epoch, double *factor) {
    Side *side = user_data;
    (void)epoch;
    *factor = 1.0;
    if (!__atomic_load_n(&armed, __ATOMIC_SEQ_CST) || group != 0) return 0;
    pthread_barrier_wait(&rendezvous);
    size_t count = 0;
    side->status = descent_group_count(side->other, &count);
    /* Read without waiting: the other thread still holds that optimizer. */
    snprintf(side->message, sizeof side->message, "%s", descent_last_error(side->other));
    if (side->status != DESCENT_OK && strcmp(side->message, descent_last_error(NULL)) != 0) side->message[0] = 0;
    return 0;
}

static void *step_schedule(void *arg) {
    Side *side = arg;
    side->step_status = descent_schedule_step(side->schedule);
    return NULL;
}

static int nested_status = -1;
static descent_schedule *inner_schedule;
static descent_optimizer *outer_opt;

static int inner_lambda(void *user_data, size_t group, int64_t epoch, double *factor) {
    (void)user_data;
    (void)group;
    (void)epoch;
    *factor = 1.0;
    size_t count = 0;
    if (__atomic_load_n(&armed, __ATOMIC_SEQ_CST)) nested_status = descent_group_count(outer_opt, &count);
    return 0;
}

static int outer_lambda(void *user_data, size_t group, int64_t epoch, double *factor) {
    (void)user_data;
    (void)group;
    (void)epoch;
    *factor = 1.0;
    if (__atomic_load_n(&armed, __ATOMIC_SEQ_CST)) return descent_schedule_step(inner_schedule) != DESCENT_OK;
    return 0;
}

static void test_callbacks_across_optimizers(void) {
    start("callbacks calling each other's optimizers");
    Model a, b;
    model_init(&a, DESCENT_SGD);
    model_init(&b, DESCENT_ADAM);
    Side sides[2] = {{.self = a.opt, .other = b.opt}, {.self = b.opt, .other = a.opt}};
    MUST(descent_schedule_lambda_lr(a.opt, calling_lambda, &sides[0], &sides[0].schedule));
    MUST(descent_schedule_lambda_lr(b.opt, calling_lambda, &sides[1], &sides[1].schedule));
    pthread_barrier_init(&rendezvous, NULL, 2);
    __atomic_store_n(&armed, 1, __ATOMIC_SEQ_CST);
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, step_schedule, &sides[i]);
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    __atomic_store_n(&armed, 0, __ATOMIC_SEQ_CST);
    pthread_barrier_destroy(&rendezvous);
    /* Exactly one of the two calls closes the cycle and is refused; the other waits for
     * the refused thread's step to end, then succeeds. */
    int refused = 0, succeeded = 0;
    for (int i = 0; i < 2; i++) {
        EXPECT(sides[i].step_status == DESCENT_OK, "side %d: %s", i, descent_status_name(sides[i].step_status));
        if (sides[i].status == DESCENT_ERROR_REENTRANT_CALL) {
            refused++;
            EXPECT(has(sides[i].message, "waiting would deadlock"), "side %d: '%s'", i, sides[i].message);
        }
        succeeded += sides[i].status == DESCENT_OK;
    }
    EXPECT(refused == 1 && succeeded == 1, "%d refused, %d succeeded (statuses %s, %s)", refused, succeeded,
           descent_status_name(sides[0].status), descent_status_name(sides[1].status));
    MUST(descent_schedule_free(sides[0].schedule));
    MUST(descent_schedule_free(sides[1].schedule));

    /* A's callback steps B's schedule, whose callback calls A: A's lock is this
     * thread's own (held by the outer callback), so the call is refused. */
    outer_opt = a.opt;
    descent_schedule *outer;
    MUST(descent_schedule_lambda_lr(b.opt, inner_lambda, NULL, &inner_schedule));
    MUST(descent_schedule_lambda_lr(a.opt, outer_lambda, NULL, &outer));
    __atomic_store_n(&armed, 1, __ATOMIC_SEQ_CST);
    EXPECT(descent_schedule_step(outer) == DESCENT_OK, "%s", descent_last_error(a.opt));
    __atomic_store_n(&armed, 0, __ATOMIC_SEQ_CST);
    EXPECT(nested_status == DESCENT_ERROR_REENTRANT_CALL, "nested call: %s",
           descent_status_name((descent_status)nested_status));
    MUST(descent_schedule_free(outer));
    MUST(descent_schedule_free(inner_schedule));
    MUST(descent_free(a.opt));
    MUST(descent_free(b.opt));
}

/* ------------------------------------------ 4. messages, several threads */

enum { MESSAGE_ROUNDS = 20000 };
static descent_optimizer *shared;

/* Fails a call on `shared` and reads the message, many times: a thread's message names
 * its own bad group index, never the other thread's. */
static void *fail_and_read(void *arg) {
    size_t group = (size_t)(uintptr_t)arg;
    char expected[64];
    snprintf(expected, sizeof expected, "group index %zu is out of range", group);
    intptr_t wrong = 0;
    for (int i = 0; i < MESSAGE_ROUNDS; i++) {
        if (descent_group_set(shared, group, DESCENT_OPTION_LR, 0.1) != DESCENT_ERROR_OUT_OF_RANGE) wrong++;
        const char *message = descent_last_error(shared);
        if (!has(message, expected)) wrong++;
        if (i % 7 == 0) {
            size_t count = 0; /* a success clears this thread's message only */
            if (descent_group_count(shared, &count) != DESCENT_OK || descent_last_error(shared)[0] != '\0') wrong++;
        }
    }
    return (void *)wrong;
}

static void test_messages_per_thread(void) {
    start("messages read while other threads fail");
    MUST(descent_create(DESCENT_SGD, NULL, &shared));
    MUST(descent_add_group(shared, NULL, NULL));
    pthread_t threads[3];
    for (size_t i = 0; i < 3; i++) pthread_create(&threads[i], NULL, fail_and_read, (void *)(uintptr_t)(7 + 1000 * i));
    for (int i = 0; i < 3; i++) {
        void *wrong = NULL;
        pthread_join(threads[i], &wrong);
        EXPECT(wrong == NULL, "thread %d read %ld wrong messages or statuses", i, (long)(intptr_t)wrong);
    }
    /* This thread made no failing call on `shared`: its message is empty. */
    EXPECT(descent_last_error(shared)[0] == '\0', "'%s'", descent_last_error(shared));
    MUST(descent_free(shared));
}

/* ------------------------------------------------- 5. saving over things */

static int is_kind(const char *path, mode_t kind) {
    struct stat info;
    return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == kind;
}

static void test_save_targets(void) {
    start("saving over special files");
    Model m;
    model_init(&m, DESCENT_ADAM);
    MUST(descent_step(m.opt));

    const char *fifo = path_of("save-fifo");
    EXPECT(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
    EXPECT(descent_checkpoint_save_file(m.opt, fifo) == DESCENT_ERROR_IO, "FIFO: %s",
           descent_last_error(m.opt));
    EXPECT(has(descent_last_error(m.opt), "is a FIFO, not a regular file"), "%s", descent_last_error(m.opt));
    EXPECT(is_kind(fifo, S_IFIFO), "the FIFO was replaced");

    const char *folder = path_of("save-dir");
    EXPECT(mkdir(folder, 0700) == 0, "mkdir: %s", strerror(errno));
    EXPECT(descent_checkpoint_save_file(m.opt, folder) == DESCENT_ERROR_IO, "directory: %s",
           descent_last_error(m.opt));
    EXPECT(has(descent_last_error(m.opt), "is a directory"), "%s", descent_last_error(m.opt));
    EXPECT(is_kind(folder, S_IFDIR), "the directory was replaced");

    const char *to_fifo = path_of("link-to-fifo");
    EXPECT(symlink(fifo, to_fifo) == 0, "symlink: %s", strerror(errno));
    EXPECT(descent_checkpoint_save_file(m.opt, to_fifo) == DESCENT_ERROR_IO, "link to FIFO: %s",
           descent_last_error(m.opt));
    EXPECT(has(descent_last_error(m.opt), "which is a FIFO"), "%s", descent_last_error(m.opt));
    EXPECT(is_kind(to_fifo, S_IFLNK) && is_kind(fifo, S_IFIFO), "the link or the FIFO was replaced");

    const char *dangling = path_of("dangling");
    EXPECT(symlink(path_of("nowhere"), dangling) == 0, "symlink: %s", strerror(errno));
    EXPECT(descent_checkpoint_save_file(m.opt, dangling) == DESCENT_ERROR_IO, "dangling: %s",
           descent_last_error(m.opt));
    EXPECT(is_kind(dangling, S_IFLNK), "the dangling link was replaced");

    /* A symlink to a regular file: the file gets the checkpoint, the link stays. */
    const char *target = path_of("target"), *link = path_of("latest");
    FILE *file = fopen(target, "wb");
    fclose(file);
    EXPECT(symlink("target", link) == 0, "symlink: %s", strerror(errno));
    EXPECT(descent_checkpoint_save_file(m.opt, link) == DESCENT_OK, "%s", descent_last_error(m.opt));
    EXPECT(is_kind(link, S_IFLNK) && is_kind(target, S_IFREG), "the link was replaced");
    struct stat info;
    size_t size = 0;
    MUST(descent_checkpoint_size(m.opt, &size));
    EXPECT(stat(target, &info) == 0 && (size_t)info.st_size == size, "the target holds %lld bytes, not %zu",
           (long long)info.st_size, size);
    EXPECT(descent_checkpoint_load_file(m.opt, link) == DESCENT_OK, "%s", descent_last_error(m.opt));

    const char *made[] = {link, target, dangling, to_fifo, fifo};
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) unlink(made[i]);
    rmdir(folder);
    MUST(descent_free(m.opt));
}

/* ---------------------------------------------- 6. schedule saved states */

static void test_schedule_states(void) {
    start("schedule states");
    Model m;
    model_init(&m, DESCENT_SGD);
    descent_schedule *schedule;
    MUST(descent_schedule_cosine_annealing_lr(m.opt, 10, 0.001, &schedule));
    for (int t = 0; t < 3; t++) MUST(descent_schedule_step(schedule));
    size_t size = 0;
    MUST(descent_schedule_state_size(schedule, &size));
    unsigned char *state = malloc(size), *flipped = malloc(size);
    MUST(descent_schedule_save_state(schedule, state, size, NULL));
    MUST(descent_schedule_step(schedule));
    double lr = 0, lr_after = 0;
    int64_t epoch = 0, epoch_after = 0;
    MUST(descent_group_get(m.opt, 0, DESCENT_OPTION_LR, &lr));
    MUST(descent_schedule_last_epoch(schedule, &epoch));

    int loaded = 0, changed = 0;
    for (size_t bit = 0; bit < 8 * size; bit++) {
        memcpy(flipped, state, size);
        flipped[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        if (descent_schedule_load_state(schedule, flipped, size) == DESCENT_OK) loaded++;
        MUST(descent_group_get(m.opt, 0, DESCENT_OPTION_LR, &lr_after));
        MUST(descent_schedule_last_epoch(schedule, &epoch_after));
        changed += lr_after != lr || epoch_after != epoch;
    }
    EXPECT(loaded == 0 && changed == 0, "%d of %zu single-bit flips loaded, %d changed the schedule", loaded,
           8 * size, changed);

    /* A NaN base lr with a valid checksum is refused by the value checks. The layout:
     * magic, version (4 bytes each), kind, last_epoch, step count, base_lrs count (8
     * bytes each), base_lrs[0]. */
    memcpy(flipped, state, size);
    double nan_value = NAN;
    memcpy(flipped + 40, &nan_value, 8);
    put_u32(flipped + size - 4, crc32c_ref(flipped, size - 4));
    EXPECT(descent_schedule_load_state(schedule, flipped, size) == DESCENT_ERROR_INVALID_ARGUMENT, "NaN lr: %s",
           descent_last_error(m.opt));
    EXPECT(has(descent_last_error(m.opt), "base_lrs[0] = nan"), "%s", descent_last_error(m.opt));

    /* The unflipped state loads and resumes. */
    EXPECT(descent_schedule_load_state(schedule, state, size) == DESCENT_OK, "%s", descent_last_error(m.opt));
    MUST(descent_schedule_last_epoch(schedule, &epoch_after));
    EXPECT(epoch_after == 3, "last_epoch %lld after loading", (long long)epoch_after);

    /* A negative eta_min could never be an lr: refused when the schedule is made. */
    descent_schedule *bad = NULL;
    EXPECT(descent_schedule_cosine_annealing_lr(m.opt, 10, -1.0, &bad) == DESCENT_ERROR_INVALID_HYPERPARAMETER,
           "cosine, eta_min -1: %s", descent_last_error(m.opt));
    EXPECT(has(descent_last_error(m.opt), "Expected non-negative eta_min, but got -1.0"), "%s",
           descent_last_error(m.opt));
    EXPECT(descent_schedule_cosine_annealing_warm_restarts(m.opt, 10, 1, -0.5, &bad) ==
               DESCENT_ERROR_INVALID_HYPERPARAMETER,
           "warm restarts, eta_min -0.5: %s", descent_last_error(m.opt));
    EXPECT(bad == NULL, "a refused schedule was returned");
    free(state);
    free(flipped);
    MUST(descent_schedule_free(schedule));
    MUST(descent_free(m.opt));
}

/* `test_hardening [NAME...]` runs only the tests named (all by default). */
static const struct {
    const char *name;
    void (*run)(void);
} tests[] = {
    {"step_counts", test_step_count_bounds},     {"numel", test_numel_bound},
    {"load_files", test_load_special_files},
    {"callbacks", test_callbacks_across_optimizers}, {"messages", test_messages_per_thread},
    {"save_files", test_save_targets},           {"schedule_states", test_schedule_states},
};

int main(int argc, char **argv) {
    signal(SIGALRM, on_alarm);
    if (!mkdtemp(directory)) {
        perror("mkdtemp");
        return 1;
    }
    for (size_t t = 0; t < sizeof tests / sizeof tests[0]; t++) {
        int wanted = argc == 1;
        for (int a = 1; a < argc; a++) wanted |= !strcmp(argv[a], tests[t].name);
        if (wanted) tests[t].run();
    }
    rmdir(directory);
    alarm(0);
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
