/* Checksums of UART binary frames (see checksum.h). Bitwise CRCs rather than
 * tables: frames are short and arrive at serial speeds, so 10 lines of code
 * beat 512 bytes of table that must be proven right. */
#include "drivers/uart/checksum.h"

#include "config/config.h"

uint8_t checksum_sum8(const uint8_t *data, size_t n)
{
    return (uint8_t)checksum_sum16(data, n);
}

uint16_t checksum_sum16(const uint8_t *data, size_t n)
{
    uint16_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum = (uint16_t)(sum + data[i]);
    return sum;
}

uint8_t checksum_xor8(const uint8_t *data, size_t n)
{
    uint8_t x = 0;
    for (size_t i = 0; i < n; i++)
        x ^= data[i];
    return x;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int checksum_hex_byte(const char *text)
{
    int hi = hex_digit(text[0]);
    int lo = hi < 0 ? -1 : hex_digit(text[1]);
    return lo < 0 ? -1 : hi << 4 | lo;
}

uint8_t checksum_crc8(const uint8_t *data, size_t n)
{
    uint8_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= data[i];
        for (int b = 0; b < 8; b++)
            crc = (uint8_t)(crc & 0x80 ? (crc << 1) ^ 0x07 : crc << 1);
    }
    return crc;
}

uint16_t checksum_crc16_modbus(const uint8_t *data, size_t n)
{
    uint16_t crc = 0xffff;
    for (size_t i = 0; i < n; i++) {
        crc ^= data[i];
        for (int b = 0; b < 8; b++)
            crc = (uint16_t)(crc & 1 ? (crc >> 1) ^ 0xa001 : crc >> 1);
    }
    return crc;
}

size_t checksum_size(int type)
{
    switch (type) {
    case CFG_CHECKSUM_SUM8:
    case CFG_CHECKSUM_XOR8:
    case CFG_CHECKSUM_CRC8: return 1;
    case CFG_CHECKSUM_SUM16:
    case CFG_CHECKSUM_CRC16_MODBUS: return 2;
    default: return 0;
    }
}

uint32_t checksum_compute(int type, const uint8_t *data, size_t n)
{
    switch (type) {
    case CFG_CHECKSUM_SUM8: return checksum_sum8(data, n);
    case CFG_CHECKSUM_SUM16: return checksum_sum16(data, n);
    case CFG_CHECKSUM_XOR8: return checksum_xor8(data, n);
    case CFG_CHECKSUM_CRC8: return checksum_crc8(data, n);
    case CFG_CHECKSUM_CRC16_MODBUS: return checksum_crc16_modbus(data, n);
    default: return 0;
    }
}
