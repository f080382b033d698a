/* A bitwise CRC-32C for the fuzz harnesses (independent of the library's). */
#ifndef DESCENT_FUZZ_CRC32C_REF_H
#define DESCENT_FUZZ_CRC32C_REF_H

#include <stddef.h>
#include <stdint.h>

static uint32_t crc32c_ref(const unsigned char *p, size_t size) {
    uint32_t crc = 0xFFFFFFFFu;
    while (size--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
    }
    return ~crc;
}

#endif
