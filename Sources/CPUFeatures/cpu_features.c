#define _GNU_SOURCE
#include "cpu_features.h"

#include <sched.h>

/* __builtin_cpu_supports reads cpuid and checks with xgetbv that the OS saves the
 * vector registers, so a "yes" means the instructions will run. */
int cpu_features_has_avx2_fma(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int cpu_features_has_avx512(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return cpu_features_has_avx2_fma() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

int cpu_features_affinity_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    int count = CPU_COUNT(&set);
    return count > 0 ? count : 1;
}
