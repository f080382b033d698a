/*
 * libFuzzer harness: descent_checkpoint_load on arbitrary bytes.
 *
 * The first byte picks the target optimizer and whether to repair the CRCs of the
 * framing it finds (so that mutations reach the section decoders rather than all
 * dying at a checksum). The rest is the checkpoint. Invariants, beyond "no crash and no
 * sanitizer report":
 *   - a refused load changes nothing (the optimizer's snapshot is unchanged);
 *   - after an accepted load, a step works and the optimizer's own checkpoint loads.
 * Built with clang -fsanitize=fuzzer by scripts/fuzz.sh; built with any compiler and
 * replay_main.c, it replays the corpus in the tests.
 */
#include <descent.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c_ref.h"

enum { TARGETS = 3 };
static descent_optimizer *targets[TARGETS];
static descent_schedule *schedules[TARGETS];
static float params[TARGETS][3][40], grads[TARGETS][3][40];
static const size_t sizes[3] = {40, 7, 1};

static void build(void) {
    /* Adafactor's state is sized by shapes (the first parameter a 5 x 8 matrix), which
     * its checkpoints record. */
    const descent_algorithm algorithms[TARGETS] = {DESCENT_ADAM, DESCENT_SGD, DESCENT_ADAFACTOR};
    const size_t matrix[2] = {5, 8};
    for (int t = 0; t < TARGETS; t++) {
        descent_params hp;
        descent_default_params(algorithms[t], &hp);
        hp.momentum = t == 1 ? 0.9 : 0;
        descent_create(algorithms[t], &hp, &targets[t]);
        descent_add_group(targets[t], NULL, NULL);
        descent_add_group(targets[t], NULL, NULL);
        for (int i = 0; i < 3; i++) {
            for (size_t k = 0; k < sizes[i]; k++) grads[t][i][k] = 0.1f * (float)k - 1.0f;
            descent_add_param(targets[t], (size_t)(i == 2), params[t][i], grads[t][i], sizes[i], NULL);
        }
        if (algorithms[t] == DESCENT_ADAFACTOR) descent_param_set_shape(targets[t], 0, matrix, 2);
        descent_schedule_step_lr(targets[t], 2, 0.5, &schedules[t]);
        descent_step(targets[t]);
        descent_schedule_step(schedules[t]);
    }
}

/* The optimizer's checkpoint, as its snapshot: it covers everything a load may change. */
static unsigned char *snapshot(descent_optimizer *opt, size_t *size) {
    if (descent_checkpoint_size(opt, size) != DESCENT_OK) abort();
    unsigned char *bytes = malloc(*size);
    if (descent_checkpoint_save(opt, bytes, *size, NULL) != DESCENT_OK) abort();
    return bytes;
}

/* Recomputes the header CRC and every section CRC that the framing points at. */
static void repair(unsigned char *data, size_t size) {
    if (size < 24) return;
    uint32_t crc = crc32c_ref(data, 20);
    memcpy(data + 20, &crc, 4);
    for (size_t offset = 24; offset + 16 <= size;) {
        uint64_t length;
        memcpy(&length, data + offset + 8, 8);
        if (length > size - offset - 16 || size - offset - 16 - length < 4) return;
        crc = crc32c_ref(data + offset, 16 + (size_t)length);
        memcpy(data + offset + 16 + length, &crc, 4);
        offset += 16 + (size_t)length + 4;
    }
}

static int at_step_bound(descent_optimizer *opt) {
    size_t count = 0;
    if (descent_param_count(opt, &count) != DESCENT_OK) abort();
    for (size_t i = 0; i < count; i++) {
        int64_t steps = 0;
        if (descent_param_step_count(opt, i, &steps) != DESCENT_OK) abort();
        if (steps == DESCENT_MAX_STEP_COUNT) return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!targets[0]) build();
    if (size < 1) return 0;
    descent_optimizer *opt = targets[(data[0] & 0x7F) % TARGETS];  /* bit 7: repair */
    unsigned char *bytes = malloc(size);
    memcpy(bytes, data + 1, size - 1);
    if (data[0] & 0x80) repair(bytes, size - 1);

    size_t before_size, after_size;
    unsigned char *before = snapshot(opt, &before_size);
    descent_status status = descent_checkpoint_load(opt, bytes, size - 1);
    if (status != DESCENT_OK) {
        const char *message = descent_last_error(opt);
        if (!message || !*message) abort();
        unsigned char *after = snapshot(opt, &after_size);
        if (after_size != before_size || memcmp(before, after, before_size)) abort(); /* changed on failure */
        free(after);
    } else {
        /* A loaded step count may be at the bound: the step is then refused, unchanged. */
        descent_status stepped = descent_step(opt);
        if (stepped != DESCENT_OK && !(stepped == DESCENT_ERROR_INVALID_STATE && at_step_bound(opt))) abort();
        unsigned char *after = snapshot(opt, &after_size);
        if (descent_checkpoint_load(opt, after, after_size) != DESCENT_OK) abort();
        free(after);
        /* Back to the fixed state, so that inputs do not depend on each other. */
        if (descent_checkpoint_load(opt, before, before_size) != DESCENT_OK) abort();
    }
    free(before);
    free(bytes);
    return 0;
}

#ifdef DESCENT_FUZZ_WRITE_SEEDS
#include <stdio.h>

/* Writes the seed inputs into the directory argv[1]: each target's own checkpoint, as
 * is and with the repair flag. (Run by hand when the format changes.) */
int main(int argc, char **argv) {
    if (argc != 2) return 2;
    build();
    for (int t = 0; t < TARGETS; t++) {
        size_t size;
        unsigned char *bytes = snapshot(targets[t], &size);
        for (int repaired = 0; repaired < 2; repaired++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/seed-target%d%s", argv[1], t, repaired ? "-repaired" : "");
            FILE *f = fopen(path, "wb");
            if (!f) return 1;
            unsigned char first = (unsigned char)(t | (repaired ? 0x80 : 0));
            fwrite(&first, 1, 1, f);
            fwrite(bytes, 1, size, f);
            fclose(f);
        }
        free(bytes);
    }
    return 0;
}
#endif
