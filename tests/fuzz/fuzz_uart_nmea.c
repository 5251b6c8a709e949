/* Fuzz target: the NMEA 0183 framer (drivers/uart/framer_nmea.c): every
 * named field of GGA, RMC, GLL and VTG, raw indexes, explicit types. See
 * uart_fuzz.h for the input layout and the checks. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/uart_fuzz.h"

static const char *const devices[] = {
    /* 0: every named field, untyped */
    "    points:\n"
    "      - { name: lat, sentence: GGA, field: latitude }\n"
    "      - { name: lon, sentence: GGA, field: longitude }\n"
    "      - { name: fix, sentence: GGA, field: fix_quality }\n"
    "      - { name: sats, sentence: GGA, field: satellites }\n"
    "      - { name: hdop, sentence: GGA, field: hdop }\n"
    "      - { name: alt, sentence: GGA, field: altitude }\n"
    "      - { name: time, sentence: GGA, field: time }\n"
    "      - { name: rlat, sentence: RMC, field: latitude }\n"
    "      - { name: rlon, sentence: RMC, field: longitude }\n"
    "      - { name: knots, sentence: RMC, field: speed_knots }\n"
    "      - { name: kmh, sentence: RMC, field: speed_kmh }\n"
    "      - { name: course, sentence: RMC, field: course }\n"
    "      - { name: date, sentence: RMC, field: date }\n"
    "      - { name: status, sentence: RMC, field: status }\n"
    "      - { name: rtime, sentence: RMC, field: time }\n"
    "      - { name: glat, sentence: GLL, field: latitude }\n"
    "      - { name: glon, sentence: GLL, field: longitude }\n"
    "      - { name: gtime, sentence: GLL, field: time }\n"
    "      - { name: gstatus, sentence: GLL, field: status }\n"
    "      - { name: vcourse, sentence: VTG, field: course }\n"
    "      - { name: vknots, sentence: VTG, field: speed_knots }\n"
    "      - { name: vkmh, sentence: VTG, field: speed_kmh }\n",
    /* 1: raw indexes and explicit types */
    "    points:\n"
    "      - { name: gga1, sentence: GGA, index: 1 }\n"
    "      - { name: gga9, sentence: GGA, index: 9, type: float32 }\n"
    "      - { name: gga14, sentence: GGA, index: 14, type: uint16 }\n"
    "      - { name: gga99, sentence: GGA, index: 99 }\n"
    "      - { name: gsa2, sentence: gsa, index: 2, type: int16 }\n"
    "      - { name: txt4, sentence: TXT, index: 4, type: string }\n"
    "      - { name: raw, sentence: GSV, index: 1, type: raw }\n"
    "      - { name: sats16, sentence: GGA, field: satellites, type: uint16 }\n"
    "      - { name: latstr, sentence: GGA, field: latitude, type: string }\n"
    "      - { name: statusb, sentence: RMC, field: status, type: bool }\n"
    "      - { name: kmhint, sentence: RMC, field: speed_kmh, type: int32 }\n"
    "      - { name: date64, sentence: RMC, field: date, type: int64 }\n"
    "      - { name: lon32, sentence: RMC, field: longitude, type: float32 }\n",
};

#define N_DEVICES (sizeof(devices) / sizeof(devices[0]))

/* "$...*HH" without CR/LF, at most FRAMER_NMEA_MAX_LENGTH bytes. */
static void check_sentence(const struct cfg_device *dev, const struct framer_record *rec)
{
    (void)dev;
    FUZZ_CHECK(rec->len >= 4 && rec->len <= FRAMER_NMEA_MAX_LENGTH);
    FUZZ_CHECK(rec->data[0] == '$' && rec->data[rec->len - 3] == '*');
    FUZZ_CHECK(!memchr(rec->data, '\r', rec->len) && !memchr(rec->data, '\n', rec->len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config *configs[N_DEVICES];
    if (!configs[0]) {
        fuzz_quiet_log();
        for (size_t i = 0; i < N_DEVICES; i++)
            configs[i] = uart_fuzz_load("nmea", devices[i]);
    }
    uart_fuzz_run(configs, N_DEVICES, check_sentence, data, size);
    return 0;
}
