/* Tests of the Modbus RTU slave simulator (tests/sim/modbus_sim.c) itself,
 * with libmodbus as the master on the pty it serves: register reads and
 * writes on two slave ids, every fault mode, exception ranges, framing and
 * resync, statistics, unplug/replug, how it stops, and its argument checks.
 * Each test starts its own simulator (sim_control.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <modbus.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "drivers/uart/checksum.h"
#include "tests/drivers/sim_control.h"

#define TIMEOUT_US 200000 /* the master's response timeout */

struct fixture {
    struct sim *sim;
    modbus_t *mb;
    char link[PATH_MAX];
    char map[PATH_MAX + 8];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char map_text[] =
    "# slave 2's inputs and discretes\n"
    "2 input 100 11 12 13   # trailing comment\n"
    "\n"
    "2 discrete 0 1 1 0 1\n"
    "2 holding 9999 0xBEEF\n";

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) != 0 ? -1 : rc;
}

static modbus_t *master_open(const char *link)
{
    modbus_t *mb = modbus_new_rtu(link, 115200, 'N', 8, 1);
    if (mb == NULL)
        return NULL;
    if (modbus_connect(mb) != 0) {
        modbus_free(mb);
        return NULL;
    }
    modbus_set_response_timeout(mb, 0, TIMEOUT_US);
    modbus_flush(mb); /* a pty keeps bytes queued before we opened it */
    return mb;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL || sim_link_path(f->link, sizeof f->link, "ttyMB") != 0)
        goto fail;
    snprintf(f->map, sizeof f->map, "%s.map", f->link);
    if (write_file(f->map, map_text) != 0)
        goto fail;
    const char *args[] = {
        "--link", f->link, "--slave", "1", "--slave", "2",
        "--set", "1:holding:0=0x4148,0x0000", "--set", "1:input:10=7,0xffff",
        "--set", "1:coil:3=1,0,1", "--set", "1:discrete:5=1",
        "--set", "2:holding:0=0x1234", "--map", f->map, NULL,
    };
    f->sim = sim_start("modbus_sim", args);
    if (f->sim == NULL || (f->mb = master_open(f->link)) == NULL)
        goto fail;
    *state = f;
    return 0;
fail:
    if (f) {
        unlink(f->map);
        sim_stop(f->sim);
    }
    free(f);
    return -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->mb) {
        modbus_close(f->mb);
        modbus_free(f->mb);
    }
    unlink(f->map);
    int status = sim_stop(f->sim);
    free(f);
    if (status != 0)
        fprintf(stderr, "modbus_sim exit status %d\n", status);
    return status == 0 ? 0 : -1;
}

/* sim_cmd that must succeed; returns the reply. */
#define CMD_OK(f, reply, ...) assert_int_equal(sim_cmd((f)->sim, reply, sizeof reply, __VA_ARGS__), 0)

static void expect_error(modbus_t *mb, int rc, int err)
{
    (void)mb; /* names the master in the calls, for the reader */
    assert_int_equal(rc, -1);
    if (errno != err)
        fail_msg("errno %d (%s), expected %d (%s)", errno, modbus_strerror(errno), err,
                 modbus_strerror(err));
}

/* Bytes of a request with its CRC appended; returns the length. */
static size_t frame(uint8_t *b, const uint8_t *pdu, size_t n)
{
    memcpy(b, pdu, n);
    uint16_t crc = checksum_crc16_modbus(b, n);
    b[n] = (uint8_t)(crc & 0xff);
    b[n + 1] = (uint8_t)(crc >> 8);
    return n + 2;
}

static void write_raw(modbus_t *mb, const uint8_t *b, size_t n)
{
    assert_int_equal(write(modbus_get_socket(mb), b, n), (ssize_t)n);
}

/* ---- reads and writes ---------------------------------------------------- */

static void test_reads_return_set_values(void **state)
{
    struct fixture *f = *state;
    uint16_t r[4];
    uint8_t b[4];

    modbus_set_slave(f->mb, 1);
    assert_int_equal(modbus_read_registers(f->mb, 0, 2, r), 2);
    assert_int_equal(r[0], 0x4148);
    assert_int_equal(r[1], 0x0000);
    assert_int_equal(modbus_read_input_registers(f->mb, 10, 2, r), 2);
    assert_int_equal(r[0], 7);
    assert_int_equal(r[1], 0xffff);
    assert_int_equal(modbus_read_bits(f->mb, 3, 3, b), 3);
    assert_int_equal(b[0], 1);
    assert_int_equal(b[1], 0);
    assert_int_equal(b[2], 1);
    assert_int_equal(modbus_read_input_bits(f->mb, 4, 2, b), 2);
    assert_int_equal(b[0], 0);
    assert_int_equal(b[1], 1);

    /* Slave 2 has its own map, partly from the --map file. */
    modbus_set_slave(f->mb, 2);
    assert_int_equal(modbus_read_registers(f->mb, 0, 1, r), 1);
    assert_int_equal(r[0], 0x1234);
    assert_int_equal(modbus_read_input_registers(f->mb, 100, 3, r), 3);
    assert_int_equal(r[0], 11);
    assert_int_equal(r[2], 13);
    assert_int_equal(modbus_read_input_bits(f->mb, 0, 4, b), 4);
    assert_memory_equal(b, ((uint8_t[]){1, 1, 0, 1}), 4);
    assert_int_equal(modbus_read_registers(f->mb, 9999, 1, r), 1);
    assert_int_equal(r[0], 0xbeef);
    /* The map ends at 9999. */
    expect_error(f->mb, modbus_read_registers(f->mb, 9999, 2, r), EMBXILADD);
}

static void test_writes_change_get(void **state)
{
    struct fixture *f = *state;
    char reply[256];
    uint16_t r[2];
    uint8_t b[1];

    modbus_set_slave(f->mb, 1);
    assert_int_equal(modbus_write_bit(f->mb, 7, 1), 1);
    CMD_OK(f, reply, "get 1 coil 7");
    assert_string_equal(reply, "1");
    assert_int_equal(modbus_write_register(f->mb, 20, 0xcafe), 1);
    CMD_OK(f, reply, "get 1 holding 20");
    assert_string_equal(reply, "51966");
    const uint8_t bits[10] = {1, 0, 1, 1, 0, 0, 1, 0, 1, 1};
    assert_int_equal(modbus_write_bits(f->mb, 30, 10, bits), 10);
    CMD_OK(f, reply, "get 1 coil 30 10");
    assert_string_equal(reply, "1 0 1 1 0 0 1 0 1 1");
    assert_int_equal(modbus_write_registers(f->mb, 40, 3, (uint16_t[]){1, 2, 0xffff}), 3);
    CMD_OK(f, reply, "get 1 holding 40 3");
    assert_string_equal(reply, "1 2 65535");
    CMD_OK(f, reply, "get 2 holding 20"); /* the other slave is untouched */
    assert_string_equal(reply, "0");

    /* The other way: set on the control channel, read on the bus. */
    CMD_OK(f, reply, "set 2 holding 50 0x10 32");
    modbus_set_slave(f->mb, 2);
    assert_int_equal(modbus_read_registers(f->mb, 50, 2, r), 2);
    assert_int_equal(r[0], 16);
    assert_int_equal(r[1], 32);
    CMD_OK(f, reply, "set 1 discrete 9 1");
    modbus_set_slave(f->mb, 1);
    assert_int_equal(modbus_read_input_bits(f->mb, 9, 1, b), 1);
    assert_int_equal(b[0], 1);
}

static void test_control_errors(void **state)
{
    struct fixture *f = *state;
    char reply[256];
    static const char *const bad[] = {
        "set 3 holding 0 1",        /* no such slave */
        "set 1 coil 0 2",           /* a bit is 0 or 1 */
        "set 1 holding 9999 1 2",   /* past the map */
        "set 1 holding 0 -1",
        "set 1 holding 0 010x",
        "set 1 register 0 1",
        "get 1 holding 10000",
        "fault 1 slow",
        "fault 1 sideways",
        "fault 1 exception 0",
        "exception 1 holding 0 0 2",
        "stats 9",
        "log maybe",
        "bogus",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (sim_cmd(f->sim, reply, sizeof reply, "%s", bad[i]) != -1)
            fail_msg("'%s' was accepted", bad[i]);
        if (strncmp(reply, "err ", 4) != 0)
            fail_msg("'%s' gave '%s'", bad[i], reply);
    }
    /* A failed set stores nothing, not even its good values. */
    assert_int_equal(sim_cmd(f->sim, reply, sizeof reply, "set 1 holding 0 5 70000"), -1);
    CMD_OK(f, reply, "get 1 holding 0x0 2");
    assert_string_equal(reply, "16712 0");
}

static void test_broadcast_writes_every_slave(void **state)
{
    struct fixture *f = *state;
    char reply[64];
    modbus_set_slave(f->mb, 0);
    /* Nobody answers a broadcast; libmodbus 3.1.6 may still wait for it. */
    int rc = modbus_write_register(f->mb, 60, 77);
    assert_true(rc == 1 || (rc == -1 && errno == ETIMEDOUT));
    CMD_OK(f, reply, "get 1 holding 60");
    assert_string_equal(reply, "77");
    CMD_OK(f, reply, "get 2 holding 60");
    assert_string_equal(reply, "77");
}

/* ---- faults -------------------------------------------------------------- */

static void test_unserved_id_times_out(void **state)
{
    struct fixture *f = *state;
    char reply[128];
    uint16_t r[1];
    modbus_set_slave(f->mb, 7);
    expect_error(f->mb, modbus_read_registers(f->mb, 0, 1, r), ETIMEDOUT);
    CMD_OK(f, reply, "stats");
    assert_string_equal(reply, "requests=0 bad_crc=0 ignored=1");
}

static void test_fault_silent_spares_other_slave(void **state)
{
    struct fixture *f = *state;
    char reply[256];
    uint16_t r[1];
    CMD_OK(f, reply, "fault 2 silent");
    modbus_set_slave(f->mb, 2);
    expect_error(f->mb, modbus_read_registers(f->mb, 0, 1, r), ETIMEDOUT);
    modbus_set_slave(f->mb, 1);
    assert_int_equal(modbus_read_registers(f->mb, 0, 1, r), 1);
    assert_int_equal(r[0], 0x4148);
    CMD_OK(f, reply, "fault 2 none");
    modbus_set_slave(f->mb, 2);
    assert_int_equal(modbus_read_registers(f->mb, 0, 1, r), 1);
    assert_int_equal(r[0], 0x1234);
    CMD_OK(f, reply, "stats 2"); /* the unanswered request still counts */
    assert_string_equal(reply, "requests=2 reads=2 writes=0 fc01=0 fc02=0 fc03=2 fc04=0 "
                               "fc05=0 fc06=0 fc15=0 fc16=0");
}

static void test_fault_badcrc_and_wrongid(void **state)
{
    struct fixture *f = *state;
    char reply[64];
    uint16_t r[1];
    modbus_set_slave(f->mb, 1);
    CMD_OK(f, reply, "fault 1 badcrc");
    expect_error(f->mb, modbus_read_registers(f->mb, 0, 1, r), EMBBADCRC);
    CMD_OK(f, reply, "fault 1 wrongid");
    expect_error(f->mb, modbus_read_registers(f->mb, 0, 1, r), EMBBADSLAVE);
    CMD_OK(f, reply, "fault 1 exception 6");
    expect_error(f->mb, modbus_read_registers(f->mb, 0, 1, r), EMBXSBUSY);
    expect_error(f->mb, modbus_write_register(f->mb, 0, 1), EMBXSBUSY);
    CMD_OK(f, reply, "get 1 holding 0"); /* a refused write changes nothing */
    assert_string_equal(reply, "16712");
    CMD_OK(f, reply, "fault 1 none");
    assert_int_equal(modbus_read_registers(f->mb, 0, 1, r), 1);
    assert_int_equal(r[0], 0x4148);
}

static void test_fault_slow_keeps_control_responsive(void **state)
{
    struct fixture *f = *state;
    char reply[64];
    uint8_t req[8], rsp[MODBUS_RTU_MAX_ADU_LENGTH];
    uint16_t r[1];

    modbus_set_slave(f->mb, 1);
    CMD_OK(f, reply, "fault 1 slow 60");
    int64_t t0 = now_ms();
    assert_int_equal(modbus_read_registers(f->mb, 0, 1, r), 1);
    assert_true(now_ms() - t0 >= 55);
    assert_int_equal(r[0], 0x4148);

    /* While a slow reply waits, commands are still answered at once. */
    CMD_OK(f, reply, "fault 1 slow 400");
    write_raw(f->mb, req, frame(req, (const uint8_t[]){1, 3, 0, 0, 0, 1}, 6));
    t0 = now_ms();
    CMD_OK(f, reply, "get 1 holding 0");
    assert_true(now_ms() - t0 < 300);
    modbus_set_response_timeout(f->mb, 2, 0);
    int n = modbus_receive_confirmation(f->mb, rsp);
    assert_int_equal(n, 7);
    assert_true(now_ms() - t0 >= 300);
    assert_memory_equal(rsp, ((const uint8_t[]){1, 3, 2, 0x41, 0x48}), 5);
}

static void test_fault_split(void **state)
{
    struct fixture *f = *state;
    char reply[64];
    uint16_t r[1];
    modbus_set_slave(f->mb, 1);
    CMD_OK(f, reply, "fault 1 split 40");
    int64_t t0 = now_ms();
    assert_int_equal(modbus_read_registers(f->mb, 0, 1, r), 1); /* byte timeout 0.5 s */
    assert_true(now_ms() - t0 >= 35);
    assert_int_equal(r[0], 0x4148);

    /* A gap longer than the master's byte timeout breaks the reply. */
    CMD_OK(f, reply, "fault 1 split 150");
    modbus_set_byte_timeout(f->mb, 0, 30000);
    expect_error(f->mb, modbus_read_registers(f->mb, 0, 1, r), ETIMEDOUT);
    struct pollfd p = {.fd = modbus_get_socket(f->mb), .events = POLLIN};
    assert_int_equal(poll(&p, 1, 2000), 1); /* the tail comes later */
    modbus_flush(f->mb);
    CMD_OK(f, reply, "fault 1 none");
    assert_int_equal(modbus_read_registers(f->mb, 0, 1, r), 1);
}

static void test_exception_range(void **state)
{
    struct fixture *f = *state;
    char reply[64];
    uint16_t r[8];
    modbus_set_slave(f->mb, 1);
    CMD_OK(f, reply, "exception 1 holding 100 1 2");
    expect_error(f->mb, modbus_read_registers(f->mb, 98, 4, r), EMBXILADD);
    expect_error(f->mb, modbus_read_registers(f->mb, 100, 1, r), EMBXILADD);
    expect_error(f->mb, modbus_write_register(f->mb, 100, 5), EMBXILADD);
    expect_error(f->mb, modbus_write_registers(f->mb, 99, 2, (uint16_t[]){5, 5}), EMBXILADD);
    CMD_OK(f, reply, "get 1 holding 99 2");
    assert_string_equal(reply, "0 0");
    assert_int_equal(modbus_read_registers(f->mb, 101, 5, r), 5);
    assert_int_equal(modbus_read_registers(f->mb, 96, 4, r), 4);
    assert_int_equal(modbus_read_input_registers(f->mb, 100, 1, r), 1); /* other kind */
    modbus_set_slave(f->mb, 2);
    assert_int_equal(modbus_read_registers(f->mb, 100, 1, r), 1); /* other slave */
    modbus_set_slave(f->mb, 1);
    CMD_OK(f, reply, "exception 1 coil 0 8 4");
    expect_error(f->mb, modbus_write_bit(f->mb, 7, 1), EMBXSFAIL);
    CMD_OK(f, reply, "exception 1 clear");
    assert_int_equal(modbus_read_registers(f->mb, 100, 1, r), 1);
    assert_int_equal(modbus_write_bit(f->mb, 7, 1), 1);
}

/* ---- framing ------------------------------------------------------------- */

static void test_unknown_function_gets_illegal_function(void **state)
{
    struct fixture *f = *state;
    uint8_t rsp[MODBUS_RTU_MAX_ADU_LENGTH], want[5];
    modbus_set_slave(f->mb, 1);
    /* Framed by the silence after it, since its length is not known. */
    assert_true(modbus_send_raw_request(f->mb, (const uint8_t[]){1, 0x41, 0x12, 0x34}, 4) > 0);
    assert_int_equal(modbus_receive_confirmation(f->mb, rsp), 5);
    frame(want, (const uint8_t[]){1, 0xc1, 1}, 3);
    assert_memory_equal(rsp, want, 5);
    /* Not for a slave it does not serve. */
    assert_true(modbus_send_raw_request(f->mb, (const uint8_t[]){9, 0x41}, 2) > 0);
    expect_error(f->mb, modbus_receive_confirmation(f->mb, rsp), ETIMEDOUT);
}

static void test_resync_after_noise(void **state)
{
    struct fixture *f = *state;
    char reply[128];
    uint8_t buf[64], rsp[MODBUS_RTU_MAX_ADU_LENGTH], want[9];
    uint16_t r[2];
    modbus_set_slave(f->mb, 1);

    /* A request with a broken CRC, then a good one: the first is dropped
     * (counted once), the second answered, whether or not they arrive in
     * one burst. */
    write_raw(f->mb, (const uint8_t[]){1, 3, 0, 0, 0, 1, 0, 0, 0xff, 0x42}, 10);
    assert_int_equal(modbus_read_registers(f->mb, 0, 2, r), 2);
    assert_int_equal(r[0], 0x4148);
    CMD_OK(f, reply, "stats");
    assert_string_equal(reply, "requests=1 bad_crc=1 ignored=0");

    /* Noise that cannot be framed, glued to a request in one write: the
     * request is found at the tail when the line falls silent. */
    buf[0] = 0xff;
    buf[1] = 0x42;
    buf[2] = 0x13;
    size_t n = 3 + frame(buf + 3, (const uint8_t[]){1, 3, 0, 0, 0, 2}, 6);
    write_raw(f->mb, buf, n);
    assert_int_equal(modbus_receive_confirmation(f->mb, rsp), 9);
    frame(want, (const uint8_t[]){1, 3, 4, 0x41, 0x48, 0, 0}, 7);
    assert_memory_equal(rsp, want, 9);
    CMD_OK(f, reply, "stats");
    assert_string_equal(reply, "requests=2 bad_crc=2 ignored=0");
}

static void test_malformed_writes_get_illegal_value(void **state)
{
    struct fixture *f = *state;
    char reply[64];
    uint8_t req[300], rsp[MODBUS_RTU_MAX_ADU_LENGTH], want[5];
    frame(want, (const uint8_t[]){1, 0x90, 3}, 3);
    modbus_set_slave(f->mb, 1);

    /* Byte count 4 for 3 registers. */
    write_raw(f->mb, req, frame(req, (const uint8_t[]){1, 16, 0, 0, 0, 3, 4, 0, 9, 0, 9}, 11));
    assert_int_equal(modbus_receive_confirmation(f->mb, rsp), 5);
    assert_memory_equal(rsp, want, 5);

    /* 125 registers (over the limit of 123): a 259-byte frame. */
    uint8_t pdu[7 + 250] = {1, 16, 0, 0, 0, 125, 250};
    memset(pdu + 7, 9, 250);
    write_raw(f->mb, req, frame(req, pdu, sizeof pdu));
    assert_int_equal(modbus_receive_confirmation(f->mb, rsp), 5);
    assert_memory_equal(rsp, want, 5);
    CMD_OK(f, reply, "get 1 holding 0 3");
    assert_string_equal(reply, "16712 0 0");
    CMD_OK(f, reply, "stats");
    assert_string_equal(reply, "requests=2 bad_crc=0 ignored=0");
}

/* ---- statistics ---------------------------------------------------------- */

static void test_stats_count_requests(void **state)
{
    struct fixture *f = *state;
    char reply[256];
    uint16_t r[2];
    uint8_t b[2];
    CMD_OK(f, reply, "log on"); /* hex dumps on stderr: exercised, not parsed */
    modbus_set_slave(f->mb, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(modbus_read_registers(f->mb, 0, 2, r), 2);
    for (int i = 0; i < 2; i++)
        assert_int_equal(modbus_read_input_registers(f->mb, 0, 2, r), 2);
    assert_int_equal(modbus_read_bits(f->mb, 0, 2, b), 2);
    assert_int_equal(modbus_read_input_bits(f->mb, 0, 2, b), 2);
    assert_int_equal(modbus_write_bit(f->mb, 0, 1), 1);
    assert_int_equal(modbus_write_register(f->mb, 0, 1), 1);
    assert_int_equal(modbus_write_bits(f->mb, 0, 2, (uint8_t[]){1, 1}), 2);
    assert_int_equal(modbus_write_registers(f->mb, 0, 2, (uint16_t[]){1, 2}), 2);
    modbus_set_slave(f->mb, 2);
    for (int i = 0; i < 2; i++)
        assert_int_equal(modbus_read_registers(f->mb, 0, 1, r), 1);
    modbus_set_slave(f->mb, 5);
    expect_error(f->mb, modbus_read_registers(f->mb, 0, 1, r), ETIMEDOUT);
    CMD_OK(f, reply, "log off");

    CMD_OK(f, reply, "stats 1");
    assert_string_equal(reply, "requests=11 reads=7 writes=4 fc01=1 fc02=1 fc03=3 fc04=2 "
                               "fc05=1 fc06=1 fc15=1 fc16=1");
    CMD_OK(f, reply, "stats 2");
    assert_string_equal(reply, "requests=2 reads=2 writes=0 fc01=0 fc02=0 fc03=2 fc04=0 "
                               "fc05=0 fc06=0 fc15=0 fc16=0");
    CMD_OK(f, reply, "stats");
    assert_string_equal(reply, "requests=13 bad_crc=0 ignored=1");
    CMD_OK(f, reply, "reset-stats");
    CMD_OK(f, reply, "stats");
    assert_string_equal(reply, "requests=0 bad_crc=0 ignored=0");
    CMD_OK(f, reply, "stats 1");
    assert_string_equal(reply, "requests=0 reads=0 writes=0 fc01=0 fc02=0 fc03=0 fc04=0 "
                               "fc05=0 fc06=0 fc15=0 fc16=0");
}

/* ---- the link and the process -------------------------------------------- */

static void test_unplug_replug(void **state)
{
    struct fixture *f = *state;
    char reply[64];
    uint16_t r[1];
    modbus_set_slave(f->mb, 1);
    CMD_OK(f, reply, "unplug");
    assert_int_equal(access(f->link, F_OK), -1);
    expect_error(f->mb, modbus_read_registers(f->mb, 0, 1, r), EIO);
    CMD_OK(f, reply, "replug");
    assert_int_equal(access(f->link, F_OK), 0);
    modbus_close(f->mb);
    assert_int_equal(modbus_connect(f->mb), 0);
    modbus_flush(f->mb);
    assert_int_equal(modbus_read_registers(f->mb, 0, 1, r), 1);
    assert_int_equal(r[0], 0x4148); /* the registers outlive the pty */
}

static void test_quit_removes_link(void **state)
{
    struct fixture *f = *state;
    char reply[64];
    CMD_OK(f, reply, "quit");
    assert_int_equal(sim_wait(f->sim, 5000), 0);
    assert_int_equal(access(f->link, F_OK), -1);
}

static void test_sigterm_removes_link(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(kill(sim_pid(f->sim), SIGTERM), 0);
    assert_int_equal(sim_wait(f->sim, 5000), 0);
    assert_int_equal(access(f->link, F_OK), -1);
}

static void test_stdin_eof_stops(void **state)
{
    struct fixture *f = *state;
    assert_string_equal(sim_ready_text(f->sim), f->link);
    assert_int_equal(sim_close_input(f->sim), 0);
    assert_int_equal(sim_wait(f->sim, 5000), 0);
    assert_int_equal(access(f->link, F_OK), -1);
}

/* The exit status of modbus_sim run with args and no stdin, bounded. */
static int run_status(const char *const *args)
{
    char path[PATH_MAX];
    const char *argv[16] = {path};
    size_t i = 0;
    snprintf(path, sizeof path, "%s/modbus_sim", getenv("MQGATE_SIM_DIR"));
    for (; args[i] != NULL && i < 14; i++)
        argv[i + 1] = args[i];
    argv[i + 1] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    int st;
    for (int64_t end = now_ms() + 5000; now_ms() < end;) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -2;
}

static void test_bad_arguments_exit_2(void **state)
{
    (void)state;
    char link[PATH_MAX], map[PATH_MAX + 8];
    assert_int_equal(sim_link_path(link, sizeof link, "ttyBAD"), 0);
    snprintf(map, sizeof map, "%s.map", link);
    assert_int_equal(write_file(map, "1 holding 0 1\n1 holding 5 70000\n"), 0);
    const char *const cases[][12] = {
        {"--bogus", NULL},
        {"--slave", "1", NULL},                               /* no --link */
        {"--link", link, NULL},                               /* no slave */
        {"--link", link, "--slave", "0", NULL},
        {"--link", link, "--slave", "248", NULL},
        {"--link", link, "--slave", "1", "--set", "1:holding:0=70000", NULL},
        {"--link", link, "--slave", "1", "--set", "2:holding:0=1", NULL},
        {"--link", link, "--slave", "1", "--set", "1:holding:9999=1,2", NULL},
        {"--link", link, "--slave", "1", "--map", "/nonexistent/map", NULL},
        {"--link", link, "--slave", "1", "--map", map, NULL},  /* line 2 is bad */
        {"--link", link, "--slave", "1", "extra", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st = run_status(cases[i]);
        if (st != 2)
            fail_msg("case %zu (%s ...): exit status %d, expected 2", i, cases[i][0], st);
        assert_int_equal(access(link, F_OK), -1); /* never served */
    }
    const char *const help[] = {"--help", NULL};
    assert_int_equal(run_status(help), 0);
    unlink(map);
    sim_link_remove(link);
}

int main(void)
{
    if (getenv("MQGATE_SIM_DIR") == NULL) {
        fprintf(stderr, "MQGATE_SIM_DIR must name the build's tests/sim\n");
        return 1;
    }
    alarm(120); /* last-resort bound on top of every bounded wait */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reads_return_set_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writes_change_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broadcast_writes_every_slave, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unserved_id_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_silent_spares_other_slave, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_badcrc_and_wrongid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_slow_keeps_control_responsive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exception_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_function_gets_illegal_function, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resync_after_noise, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_writes_get_illegal_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_count_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unplug_replug, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quit_removes_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_removes_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdin_eof_stops, setup, teardown),
        cmocka_unit_test(test_bad_arguments_exit_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
