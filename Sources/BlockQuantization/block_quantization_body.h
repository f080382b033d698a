/*
 * One instruction set's block quantization (block_quantization.c includes this once per
 * instruction set, with ISA and TARGET defined). Not a header of its own.
 */
#define NAME_(isa, name) descent_block_##name##_##isa
#define NAME(isa, name) NAME_(isa, name)

#ifndef DEQUANTIZE_BY_PERMUTES
TARGET void NAME(ISA, dequantize)(const uint8_t *restrict codes, ptrdiff_t n, const float *restrict values,
                                  const float *restrict absmax, float *restrict out) {
    for (ptrdiff_t first = 0; first < n; first += DESCENT_BLOCK_SIZE) {
        ptrdiff_t end = n - first < DESCENT_BLOCK_SIZE ? n : first + DESCENT_BLOCK_SIZE;
        float scale = absmax[first / DESCENT_BLOCK_SIZE];
        for (ptrdiff_t i = first; i < end; i++) out[i] = values[codes[i]] * scale;
    }
}
#endif

static inline TARGET float NAME(ISA, absmax)(const float *restrict x, ptrdiff_t n) {
    uint32_t largest = 0;
    for (ptrdiff_t i = 0; i < n; i++) {
        uint32_t magnitude;
        memcpy(&magnitude, &x[i], sizeof magnitude);
        magnitude &= 0x7fffffffu;
        magnitude = magnitude <= 0x7f800000u ? magnitude : 0;
        largest = magnitude > largest ? magnitude : largest;
    }
    float absmax;
    memcpy(&absmax, &largest, sizeof absmax);
    return absmax;
}

/* The code of y: the number of midpoints below y (see CodeBook.code in StateFormats.swift). */
static inline uint32_t NAME(ISA, count_below)(float y, const uint32_t *restrict buckets, uint32_t *negative) {
    uint32_t bits;
    memcpy(&bits, &y, sizeof bits);
    uint32_t magnitude = bits & 0x7fffffffu;
    *negative = bits >> 31;
    uint32_t exponent = magnitude >> 23;
    exponent = exponent < DESCENT_BUCKET_LOWEST_EXPONENT - 1 ? DESCENT_BUCKET_LOWEST_EXPONENT - 1 : exponent;
    uint32_t row = exponent - (DESCENT_BUCKET_LOWEST_EXPONENT - 1);
    row = row < DESCENT_BUCKET_ROWS - 1 ? row : DESCENT_BUCKET_ROWS - 1;
    uint32_t entry = buckets[row << DESCENT_BUCKET_MANTISSA_BITS | ((magnitude >> 16) & 0x7f)];
    /* A negative y counts a midpoint equal to its magnitude: rest + 1 > t ⇔ rest >= t. */
    return (entry >> 24) + (((magnitude & 0xffffu) + *negative) > (entry & 0x1ffffu));
}

/* One block's codes of x[i] * inverse. */
static inline TARGET void NAME(ISA, codes)(const float *restrict x, ptrdiff_t n, float inverse,
                                           const uint32_t *restrict buckets, int is_signed, uint8_t *restrict codes) {
    if (is_signed) {
        for (ptrdiff_t i = 0; i < n; i++) {
            uint32_t negative, k = NAME(ISA, count_below)(x[i] * inverse, buckets, &negative);
            uint32_t capped = k < 254 ? k : 254, mirrored = 254 - capped;
            codes[i] = (uint8_t)(negative ? (mirrored < 126 ? mirrored : 126) : k);
        }
    } else {
        for (ptrdiff_t i = 0; i < n; i++) {
            uint32_t negative, k = NAME(ISA, count_below)(x[i] * inverse, buckets, &negative);
            codes[i] = (uint8_t)(negative ? 0 : k);
        }
    }
}

TARGET void NAME(ISA, quantize)(const float *restrict x, ptrdiff_t n, const uint32_t *restrict buckets,
                                int is_signed, uint8_t *restrict codes, float *restrict absmax) {
    for (ptrdiff_t first = 0; first < n; first += DESCENT_BLOCK_SIZE) {
        ptrdiff_t count = n - first < DESCENT_BLOCK_SIZE ? n - first : DESCENT_BLOCK_SIZE;
        float largest = NAME(ISA, absmax)(x + first, count);
        absmax[first / DESCENT_BLOCK_SIZE] = largest;
        NAME(ISA, codes)(x + first, count, largest > 0 ? 1 / largest : 0, buckets, is_signed, codes + first);
    }
}

#undef NAME
#undef NAME_
