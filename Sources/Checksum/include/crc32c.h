#ifndef DESCENT_CRC32C_H
#define DESCENT_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Descent's
 * checkpoint sections. Continues `crc` (0 to start) over `size` bytes at `data`:
 * crc32c(crc32c(0, a), b) == crc32c(0, a ++ b). Uses the SSE4.2 crc32 instruction
 * where the CPU has it, a table otherwise; both give the same value. */
uint32_t descent_crc32c(uint32_t crc, const void *data, size_t size);

#endif
