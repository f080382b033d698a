#include "block_quantization.h"

#include <string.h>

_Static_assert(DESCENT_BUCKET_ROWS == 128 - DESCENT_BUCKET_LOWEST_EXPONENT + 1, "a row per exponent, and row 0");

/* Not exported from libdescent.so: internal to the kernels. */
#define INTERNAL __attribute__((visibility("hidden")))

#define ISA portable
#define TARGET INTERNAL
#include "block_quantization_body.h"
#undef ISA
#undef TARGET

#define ISA avx2
#define TARGET INTERNAL __attribute__((target("avx2,fma")))
#include "block_quantization_body.h"
#undef ISA
#undef TARGET

/* 512-bit vectors, as the AVX-512 kernels use (clang would prefer 256 bits). */
#define ISA avx512
#define TARGET INTERNAL __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"), min_vector_width(512)))
#include "block_quantization_body.h"
#undef ISA
#undef TARGET
