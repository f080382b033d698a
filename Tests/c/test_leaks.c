/*
 * Leak check: 100,000 cycles of create / register / schedule / step / save / load /
 * free. Memory must stay flat: the resident set may not grow between cycle 2,000 and
 * cycle 100,000 (plain build), and LeakSanitizer must find nothing at exit (the ASan
 * build, where the allocator's quarantine makes the resident set meaningless).
 */
#define _POSIX_C_SOURCE 200809L
#include <descent.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "expect.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

enum { CYCLES = 100000, WARMUP = 2000 };

/* The resident set in KiB, from /proc/self/statm. */
static long resident_kib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static float p[64], q[3], g[64], h[3];
static unsigned char buffer[8192];

static void cycle(int i, const char *path) {
    descent_optimizer *opt = NULL, *other = NULL;
    descent_schedule *schedule = NULL, *same = NULL;
    descent_algorithm algorithm = (descent_algorithm)(1 + i % 5);
    MUST(descent_create(algorithm, NULL, &opt));
    MUST(descent_add_group(opt, NULL, NULL));
    MUST(descent_add_param(opt, 0, p, g, 64, NULL));
    MUST(descent_add_param(opt, 0, q, h, 3, NULL));
    MUST(descent_schedule_step_lr(opt, 2, 0.5, &schedule));
    MUST(descent_step(opt));
    MUST(descent_schedule_step(schedule));
    size_t written = 0;
    MUST(descent_checkpoint_save(opt, buffer, sizeof buffer, &written));
    if (i % 10000 == 0) MUST(descent_checkpoint_save_file(opt, path));
    MUST(descent_schedule_free(schedule));
    MUST(descent_free(opt));

    MUST(descent_create(algorithm, NULL, &other));
    MUST(descent_add_group(other, NULL, NULL));
    MUST(descent_add_param(other, 0, p, g, 64, NULL));
    MUST(descent_add_param(other, 0, q, h, 3, NULL));
    MUST(descent_schedule_step_lr(other, 2, 0.5, &same));
    MUST(descent_checkpoint_load(other, buffer, written));
    if (i % 10000 == 0) MUST(descent_checkpoint_load_file(other, path));
    /* A refused load allocates nothing that stays. */
    EXPECT(descent_checkpoint_load(other, buffer, written / 2) == DESCENT_ERROR_CORRUPT_CHECKPOINT, "cycle %d", i);
    MUST(descent_step(other));
    MUST(descent_schedule_free(same));
    MUST(descent_free(other));
}

int main(void) {
    char path[] = "/tmp/descent-leaks-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    for (int k = 0; k < 64; k++) g[k] = 0.01f * (float)k;
    long before = 0;
    for (int i = 0; i < CYCLES; i++) {
        if (i == WARMUP) before = resident_kib();
        cycle(i, path);
    }
    long after = resident_kib();
    remove(path);
    printf("resident set: %ld KiB after %d cycles, %ld KiB after %d\n", before, WARMUP, after, CYCLES);
#ifndef UNDER_ASAN
    EXPECT(before > 0 && after - before < 1024, "grew by %ld KiB over %d cycles", after - before, CYCLES - WARMUP);
#endif
    printf("%d checks, %d failed\n", checks, failures);
    return failures != 0;
}
