#include "crc32c.h"

#include <string.h>

/* Not exported from libdescent.so: an internal helper of the checkpoint code. */
#define INTERNAL __attribute__((visibility("hidden")))

static uint32_t table[8][256];

/* Slicing-by-8 tables, built by a load-time constructor, before any thread can ask. */
__attribute__((constructor)) static void build_tables(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t crc = n;
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
        table[0][n] = crc;
    }
    for (uint32_t n = 0; n < 256; n++) {
        for (int k = 1; k < 8; k++) table[k][n] = (table[k - 1][n] >> 8) ^ table[0][table[k - 1][n] & 0xFF];
    }
}

static uint32_t crc32c_table(uint32_t crc, const unsigned char *p, size_t size) {
    while (size >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        word ^= crc;
        crc = table[7][word & 0xFF] ^ table[6][(word >> 8) & 0xFF] ^ table[5][(word >> 16) & 0xFF] ^
              table[4][(word >> 24) & 0xFF] ^ table[3][(word >> 32) & 0xFF] ^ table[2][(word >> 40) & 0xFF] ^
              table[1][(word >> 48) & 0xFF] ^ table[0][word >> 56];
        p += 8;
        size -= 8;
    }
    while (size--) crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xFF];
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const unsigned char *p, size_t size) {
    uint64_t c = crc;
    while (size >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = __builtin_ia32_crc32di(c, word);
        p += 8;
        size -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (size--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

INTERNAL uint32_t descent_crc32c(uint32_t crc, const void *data, size_t size) {
    const unsigned char *p = data;
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2")) return ~crc32c_sse42(crc, p, size);
#endif
    return ~crc32c_table(crc, p, size);
}
