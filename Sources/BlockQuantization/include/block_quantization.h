/*
 * The inner loops of 8-bit block-wise state (bitsandbytes' format): the absmax of a
 * block, its codes' values, and its values' nearest codes. In C because `restrict` tells
 * the compiler that a block's buffers and the code book's tables do not overlap, which
 * it must know to vectorize the table lookups (Swift cannot say so). Each function is
 * built three times, for the instruction sets the kernels modules are built for; the
 * arithmetic (IEEE float multiplies, integer operations, no contraction) is the same, so
 * all three give the same bits.
 */
#ifndef DESCENT_BLOCK_QUANTIZATION_H
#define DESCENT_BLOCK_QUANTIZATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * The code book's lookup table (built by KernelInterface's CodeBook): indexed by a
 * magnitude's exponent and its top DESCENT_BUCKET_MANTISSA_BITS mantissa bits; row 0
 * holds every magnitude below 2^(DESCENT_BUCKET_LOWEST_EXPONENT - 127), rows 1 ... from
 * that exponent up to 127 (magnitudes below 2). Each entry: the number of midpoints
 * below the smallest magnitude it covers (bits 24-31) and the low 16 bits of the one
 * midpoint among the magnitudes it covers (bits 0-16; 0x10000 where there is none).
 */
#define DESCENT_BUCKET_LOWEST_EXPONENT 102
#define DESCENT_BUCKET_MANTISSA_BITS 7
#define DESCENT_BUCKET_ROWS 27 /* 128 - DESCENT_BUCKET_LOWEST_EXPONENT + 1 */

/* Elements per absmax: bitsandbytes' block size. */
#define DESCENT_BLOCK_SIZE 256

/*
 * Both functions take whole blocks: `n` elements from the start of a block (the last
 * block may be partial), block i's absmax in absmax[i].
 */
#define DESCENT_DECLARE_BLOCK_QUANTIZATION(isa)                                                          \
    /* out[i] = values[codes[i]] * absmax[i / DESCENT_BLOCK_SIZE]. */                                  \
    void descent_block_dequantize_##isa(const uint8_t *codes, ptrdiff_t n, const float *values,        \
                                        const float *absmax, float *out);                              \
    /*                                                                                                 \
     * Per block: absmax[b] = the largest magnitude of its x (NaN left out; 0 for none), and           \
     * codes[i] = the code nearest x[i] / absmax[b] in the map of `buckets` (CodeBook in               \
     * StateFormats.swift).                                                                            \
     */                                                                                                \
    void descent_block_quantize_##isa(const float *x, ptrdiff_t n, const uint32_t *buckets, int is_signed, \
                                      uint8_t *codes, float *absmax);

DESCENT_DECLARE_BLOCK_QUANTIZATION(portable)
DESCENT_DECLARE_BLOCK_QUANTIZATION(avx2)
DESCENT_DECLARE_BLOCK_QUANTIZATION(avx512)

#endif
