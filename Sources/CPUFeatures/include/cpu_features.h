/* What the CPU and the process may use, for the engine's run-time choices. Swift has no
 * cpuid and no CPU_COUNT, so these few lines are C. Internal to libdescent.so. */
#ifndef DESCENT_CPU_FEATURES_H
#define DESCENT_CPU_FEATURES_H

/* 1 when the CPU and the operating system support AVX2 and FMA. */
int cpu_features_has_avx2_fma(void);

/* 1 when the CPU and the operating system support AVX-512 F, BW, DQ and VL. */
int cpu_features_has_avx512(void);

/* The number of CPUs in this process's affinity mask (at least 1). */
int cpu_features_affinity_count(void);

#endif
