/* CRC-32 as zlib, PNG and Ethernet compute it (IEEE 802.3 polynomial,
 * reflected, initial value and final xor 0xFFFFFFFF), table-driven. The
 * spool's records carry it; pure functions, any thread. */
#ifndef MQGATE_BRIDGE_CRC32_H
#define MQGATE_BRIDGE_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* CRC of `len` bytes at `data` (NULL allowed when len is 0).
 * crc32_ieee("123456789", 9) == 0xCBF43926. */
uint32_t crc32_ieee(const void *data, size_t len);

/* Continue a CRC over more bytes: start from 0 (the CRC of nothing) and pass
 * each piece in order; the result equals crc32_ieee over the concatenation. */
uint32_t crc32_ieee_update(uint32_t crc, const void *data, size_t len);

#endif
