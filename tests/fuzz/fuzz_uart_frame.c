/* Fuzz target: the binary frame framer (drivers/uart/framer_frame.c) over a
 * table of devices: length fields of every size, byte order and meaning,
 * fixed lengths, each checksum, headers of one to three bytes, points of
 * every type and byte order, some past the end of the frame. See
 * uart_fuzz.h for the input layout and the checks. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/uart_fuzz.h"

static const char *const devices[] = {
    /* 0: Plantower PMS5003 (config/examples/pms5003.yaml) */
    "    frame:\n"
    "      header: \"42 4d\"\n"
    "      length: { offset: 2, size: 2, endian: big, counts: rest }\n"
    "      checksum: { type: sum16, start: 0, endian: big }\n"
    "      max_length: 64\n"
    "    points:\n"
    "      - { name: pm1_0, byte_offset: 10 }\n"
    "      - { name: pm2_5, byte_offset: 12, type: uint16 }\n"
    "      - { name: p03, byte_offset: 16, type: uint32, byte_order: cdab }\n"
    "      - { name: past, byte_offset: 30, type: uint32 }\n"
    "      - { name: hdr, byte_offset: 0, type: string, count: 3 }\n",
    /* 1: fixed length, xor8 from byte 1 (MH-Z19 style), little-endian device */
    "    byte_order: dcba\n"
    "    frame:\n"
    "      header: \"ff 86\"\n"
    "      fixed_length: 9\n"
    "      checksum: { type: xor8, start: 1 }\n"
    "    points:\n"
    "      - { name: co2, byte_offset: 2, type: int16 }\n"
    "      - { name: t, byte_offset: 4, type: float32 }\n"
    "      - { name: on, byte_offset: 8, type: bool }\n",
    /* 2: Modbus RTU reply: one-byte length counting the payload, CRC-16 */
    "    frame:\n"
    "      header: \"01 03\"\n"
    "      length: { offset: 2, size: 1, counts: payload }\n"
    "      checksum: { type: crc16_modbus, endian: little }\n"
    "      max_length: 256\n"
    "    points:\n"
    "      - { name: r0, byte_offset: 3, type: uint16 }\n"
    "      - { name: r01, byte_offset: 3, type: float64, byte_order: badc }\n"
    "      - { name: raw, byte_offset: 3, type: raw, count: 8 }\n",
    /* 3: little-endian length of the whole frame, adjusted, crc8 */
    "    frame:\n"
    "      header: \"aa\"\n"
    "      length: { offset: 1, size: 2, endian: little, counts: frame, adjust: -1 }\n"
    "      checksum: { type: crc8, start: 3 }\n"
    "      max_length: 300\n"
    "    points:\n"
    "      - { name: i64, byte_offset: 3, type: int64 }\n"
    "      - { name: u64, byte_offset: 3, type: uint64, byte_order: dcba }\n"
    "      - { name: s, byte_offset: 11, type: string, count: 16 }\n",
    /* 4: four-byte length, sum8, three-byte header, tiny max_length */
    "    frame:\n"
    "      header: \"55 aa 55\"\n"
    "      length: { offset: 3, size: 4, endian: big, counts: rest, adjust: 1 }\n"
    "      checksum: { type: sum8, start: 3 }\n"
    "      max_length: 16\n"
    "    points:\n"
    "      - { name: b, byte_offset: 7, type: bool }\n"
    "      - { name: f, byte_offset: 8, type: float32, byte_order: cdab }\n",
    /* 5: no checksum, a one-byte length of the whole frame, short frames */
    "    frame:\n"
    "      header: \"02\"\n"
    "      length: { offset: 1, size: 1, counts: frame }\n"
    "      max_length: 4\n"
    "    points:\n"
    "      - { name: x, byte_offset: 2, type: raw, count: 1 }\n",
};

#define N_DEVICES (sizeof(devices) / sizeof(devices[0]))

/* A frame starts with the header and fits max_length. */
static void check_frame(const struct cfg_device *dev, const struct framer_record *rec)
{
    const struct cfg_frame_framing *fr = &dev->frame;
    size_t max = fr->max_length ? (size_t)fr->max_length : 1024;
    FUZZ_CHECK(rec->len >= fr->header.len && rec->len <= max);
    FUZZ_CHECK(memcmp(rec->data, fr->header.data, fr->header.len) == 0);
    FUZZ_CHECK(fr->fixed_length == 0 || rec->len == (size_t)fr->fixed_length);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config *configs[N_DEVICES];
    if (!configs[0]) {
        fuzz_quiet_log();
        for (size_t i = 0; i < N_DEVICES; i++)
            configs[i] = uart_fuzz_load("frame", devices[i]);
    }
    uart_fuzz_run(configs, N_DEVICES, check_frame, data, size);
    return 0;
}
