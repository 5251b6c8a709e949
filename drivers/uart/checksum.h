/* Checksums of UART frames and sentences: byte sums, XOR, CRC-8 and
 * CRC-16/MODBUS, and the two hex digits NMEA writes its XOR as.
 * Pure functions over caller buffers: no I/O, no allocation, any thread. */
#ifndef MQGATE_DRIVERS_UART_CHECKSUM_H
#define MQGATE_DRIVERS_UART_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Sum of the bytes modulo 256. */
uint8_t checksum_sum8(const uint8_t *data, size_t n);

/* Sum of the bytes modulo 65536 (PMS5003 and other Plantower sensors). */
uint16_t checksum_sum16(const uint8_t *data, size_t n);

/* XOR of the bytes (the NMEA checksum, and many simple frames). */
uint8_t checksum_xor8(const uint8_t *data, size_t n);

/* The byte two hex digits spell ("6A", "6a", "0f"), or -1 when either of
 * text[0], text[1] is not a hex digit. text[1] is read only when text[0] is
 * a digit, so a string ending after one digit is safe. */
int checksum_hex_byte(const char *text);

/* CRC-8 with polynomial 0x07, init 0x00, no reflection, no final XOR
 * (the catalogue's CRC-8/SMBUS): "123456789" gives 0xF4. */
uint8_t checksum_crc8(const uint8_t *data, size_t n);

/* CRC-16/MODBUS: init 0xFFFF, reflected polynomial 0xA001 (0x8005), no final
 * XOR: "123456789" gives 0x4B37. Modbus RTU sends the low byte first. */
uint16_t checksum_crc16_modbus(const uint8_t *data, size_t n);

/* Bytes the checksum `type` (enum cfg_checksum) occupies in a frame: 1 or 2,
 * 0 for none (or an unknown type). */
size_t checksum_size(int type);

/* The checksum `type` (enum cfg_checksum) of the bytes; 0 for none. */
uint32_t checksum_compute(int type, const uint8_t *data, size_t n);

#endif
