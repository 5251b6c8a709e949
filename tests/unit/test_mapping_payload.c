/* Golden tests of payloads: value, json (every field, in configured order,
 * both timestamp formats), templates with every variable, and grouped
 * objects, for good, bad and stale readings; and every buffer size up to the
 * full length, in exactly-sized heap buffers so ASan sees any overrun. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/mapping/payload.h"

/* 2026-11-26T02:10:00.123Z; the seconds are checked against timegm below. */
#define T_SEC 1795659000
#define T_NSEC 123456789L
#define T_ISO "2026-11-26T02:10:00.123Z"
#define T_MS "1795659000123"

/* ---- fixtures ----------------------------------------------------------- */

/* cfg_strings holds char *: the config owns its strings. */
#define S(lit) ((char *)(lit))

static char *default_fields[] = { S("value"), S("unit"), S("timestamp"), S("quality") };
static char *all_fields[] = { S("value"), S("unit"), S("timestamp"), S("quality"),
                              S("error"), S("device"), S("point"), S("raw") };
static char *reversed_fields[] = { S("raw"), S("point"), S("device"), S("error"),
                                   S("quality"), S("timestamp"), S("unit"), S("value") };

static struct cfg_publish make_pub(int payload, int ts, char **fields, size_t n_fields,
                                   const char *template_text)
{
    struct cfg_publish pub;
    memset(&pub, 0, sizeof pub);
    pub.payload = payload;
    pub.timestamp = ts;
    pub.json_fields.items = fields;
    pub.json_fields.count = n_fields;
    pub.template_text.text = (char *)template_text;
    return pub;
}

static struct cfg_point make_pt(const char *name, const char *unit, int64_t decimals)
{
    struct cfg_point pt;
    memset(&pt, 0, sizeof pt);
    pt.name = (char *)name;
    pt.unit = (char *)unit;
    pt.decimals = decimals;
    return pt;
}

static struct template_values make_names(void)
{
    struct template_values names = { { NULL } };
    template_values_set(&names, TVAR_GATEWAY, "gw1");
    template_values_set(&names, TVAR_BUS, "rs485");
    template_values_set(&names, TVAR_DEVICE, "meter1");
    template_values_set(&names, TVAR_POINT, "voltage");
    template_values_set(&names, TVAR_UNIT, "V");
    template_values_set(&names, TVAR_SLAVE, "3");
    template_values_set(&names, TVAR_ADDRESS, "256");
    template_values_set(&names, TVAR_REGISTER, "input");
    template_values_set(&names, TVAR_TYPE, "uint16");
    return names;
}

static struct timespec t_fixed(void)
{
    return (struct timespec){ .tv_sec = T_SEC, .tv_nsec = T_NSEC };
}

static struct reading good_uint(const struct cfg_point *pt, uint64_t raw)
{
    struct reading r;
    memset(&r, 0, sizeof r);
    r.point = pt;
    r.quality = READING_GOOD;
    r.wall = t_fixed();
    r.value.kind = VALUE_UINT;
    r.value.as.u = raw;
    return r;
}

static struct reading bad(const struct cfg_point *pt, enum reading_error err, int code)
{
    struct reading r;
    memset(&r, 0, sizeof r);
    r.point = pt;
    r.quality = READING_BAD;
    r.error = err;
    r.exception_code = code;
    r.wall = t_fixed();
    snprintf(r.detail, sizeof r.detail, "what went wrong");
    return r;
}

static struct reading stale_uint(const struct cfg_point *pt, uint64_t raw)
{
    struct reading r = good_uint(pt, raw);
    r.quality = READING_STALE;
    r.error = READING_ERR_TIMEOUT;
    snprintf(r.detail, sizeof r.detail, "no data for 5000 ms");
    return r;
}

static struct eng_value eng_num(double x)
{
    struct eng_value v;
    memset(&v, 0, sizeof v);
    v.kind = ENG_NUMBER;
    v.number = x;
    return v;
}

/* A whole number from an integer register, as convert_to_eng makes it. */
static struct eng_value eng_int(long long x)
{
    struct eng_value v = eng_num((double)x);
    v.integral = true;
    snprintf(v.text, sizeof v.text, "%lld", x);
    return v;
}

static struct eng_value eng_bool(bool b)
{
    struct eng_value v;
    memset(&v, 0, sizeof v);
    v.kind = ENG_BOOL;
    v.b = b;
    return v;
}

static struct eng_value eng_text(const char *s)
{
    struct eng_value v;
    memset(&v, 0, sizeof v);
    v.kind = ENG_TEXT;
    snprintf(v.text, sizeof v.text, "%s", s);
    return v;
}

/* The voltage point: raw 2301 × 0.1 = 230.1 V, one decimal. */
struct fix {
    struct cfg_point pt;
    struct template_values names;
    struct reading good, bad_timeout, bad_exc, stale;
    struct eng_value eng;
};

static void fix_init(struct fix *f)
{
    f->pt = make_pt("voltage", "V", 1);
    f->names = make_names();
    f->good = good_uint(&f->pt, 2301);
    f->bad_timeout = bad(&f->pt, READING_ERR_TIMEOUT, 0);
    f->bad_exc = bad(&f->pt, READING_ERR_EXCEPTION, 2);
    f->stale = stale_uint(&f->pt, 2301);
    f->eng = eng_num(230.1);
}

static struct payload_point pp(const struct fix *f, const struct reading *r, bool with_eng)
{
    return (struct payload_point){ .pt = &f->pt, .names = &f->names, .r = r,
                                   .eng = with_eng ? &f->eng : NULL };
}

/* Renders into a roomy buffer and checks the text and the returned length. */
static void expect_render(const struct cfg_publish *pub, const struct payload_point *p,
                          const char *want)
{
    char buf[2048];
    memset(buf, 'X', sizeof buf);
    int n = payload_render(pub, p, buf, sizeof buf);
    assert_string_equal(buf, want);
    assert_int_equal(n, (int)strlen(want));
}

/* ---- timestamps and error text ------------------------------------------ */

static void test_timestamp_formats(void **state)
{
    (void)state;
    struct tm tm = { .tm_year = 2026 - 1900, .tm_mon = 10, .tm_mday = 26,
                     .tm_hour = 2, .tm_min = 10, .tm_sec = 0 };
    assert_int_equal((long long)timegm(&tm), (long long)T_SEC);

    struct timespec t = t_fixed();
    char buf[64];
    assert_int_equal(payload_timestamp(CFG_TS_ISO8601, &t, buf, sizeof buf), 24);
    assert_string_equal(buf, T_ISO);
    assert_int_equal(payload_timestamp(CFG_TS_EPOCH_MS, &t, buf, sizeof buf), 13);
    assert_string_equal(buf, T_MS);

    /* milliseconds are truncated, not rounded into the next second */
    struct timespec late = { .tv_sec = T_SEC, .tv_nsec = 999999999L };
    payload_timestamp(CFG_TS_ISO8601, &late, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-26T02:10:00.999Z");
    payload_timestamp(CFG_TS_EPOCH_MS, &late, buf, sizeof buf);
    assert_string_equal(buf, "1795659000999");

    struct timespec epoch = { 0, 0 };
    payload_timestamp(CFG_TS_ISO8601, &epoch, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    payload_timestamp(CFG_TS_EPOCH_MS, &epoch, buf, sizeof buf);
    assert_string_equal(buf, "0");

    /* snprintf-style: the needed length, a cut and terminated prefix */
    char small[8];
    assert_int_equal(payload_timestamp(CFG_TS_ISO8601, &t, small, sizeof small), 24);
    assert_string_equal(small, "2026-11");
}

static void test_error_text(void **state)
{
    (void)state;
    struct cfg_point pt = make_pt("p", "", -1);
    static const struct { enum reading_error err; int code; const char *want; } cases[] = {
        { READING_ERR_TIMEOUT, 0, "timeout" },
        { READING_ERR_CRC, 0, "crc" },
        { READING_ERR_BAD_REPLY, 0, "bad reply" },
        { READING_ERR_DISCONNECTED, 0, "disconnected" },
        { READING_ERR_PARSE, 0, "parse error" },
        { READING_ERR_IO, 0, "i/o error" },
        { READING_ERR_EXCEPTION, 2, "illegal data address" },
        { READING_ERR_EXCEPTION, 4, "server device failure" },
        { READING_ERR_EXCEPTION, 99, "exception 99" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct reading r = bad(&pt, cases[i].err, cases[i].code);
        assert_string_equal(payload_error_text(&r), cases[i].want);
    }
    struct reading st = stale_uint(&pt, 1);
    assert_string_equal(payload_error_text(&st), "timeout");
    st.error = READING_ERR_NONE; /* stale with no reason given */
    assert_string_equal(payload_error_text(&st), "stale");
}

/* ---- payload: value ----------------------------------------------------- */

static void test_value_payload(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    struct cfg_publish pub = make_pub(CFG_PAYLOAD_VALUE, CFG_TS_ISO8601, NULL, 0, NULL);
    struct payload_point p = pp(&f, &f.good, true);
    expect_render(&pub, &p, "230.1");
    p = pp(&f, &f.stale, true);
    expect_render(&pub, &p, "230.1");
    p = pp(&f, &f.bad_timeout, false);
    expect_render(&pub, &p, "timeout");
    p = pp(&f, &f.bad_exc, false);
    expect_render(&pub, &p, "illegal data address");

    /* the point's decimals */
    f.pt.decimals = 3;
    p = pp(&f, &f.good, true);
    expect_render(&pub, &p, "230.100");
    f.pt.decimals = -1;
    f.eng = eng_int(-7);
    expect_render(&pub, &p, "-7");
    f.eng = eng_bool(true);
    expect_render(&pub, &p, "true");
    f.eng = eng_text("on");
    expect_render(&pub, &p, "on");
}

/* ---- payload: json ------------------------------------------------------ */

static void test_json_default_fields(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    struct cfg_publish pub = make_pub(CFG_PAYLOAD_JSON, CFG_TS_ISO8601, default_fields, 4, NULL);
    struct payload_point p = pp(&f, &f.good, true);
    expect_render(&pub, &p,
                  "{\"value\":230.1,\"unit\":\"V\",\"timestamp\":\"" T_ISO "\",\"quality\":\"good\"}");
    p = pp(&f, &f.bad_timeout, false);
    expect_render(&pub, &p,
                  "{\"value\":null,\"unit\":\"V\",\"timestamp\":\"" T_ISO "\",\"quality\":\"bad\"}");
    p = pp(&f, &f.stale, true);
    expect_render(&pub, &p,
                  "{\"value\":230.1,\"unit\":\"V\",\"timestamp\":\"" T_ISO "\",\"quality\":\"stale\"}");

    pub.timestamp = CFG_TS_EPOCH_MS;
    p = pp(&f, &f.good, true);
    expect_render(&pub, &p,
                  "{\"value\":230.1,\"unit\":\"V\",\"timestamp\":" T_MS ",\"quality\":\"good\"}");
}

static void test_json_every_field(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    struct cfg_publish pub = make_pub(CFG_PAYLOAD_JSON, CFG_TS_ISO8601, all_fields, 8, NULL);
    struct payload_point p = pp(&f, &f.good, true);
    expect_render(&pub, &p,
                  "{\"value\":230.1,\"unit\":\"V\",\"timestamp\":\"" T_ISO "\",\"quality\":\"good\","
                  "\"device\":\"meter1\",\"point\":\"voltage\",\"raw\":2301}");
    p = pp(&f, &f.bad_timeout, false);
    expect_render(&pub, &p,
                  "{\"value\":null,\"unit\":\"V\",\"timestamp\":\"" T_ISO "\",\"quality\":\"bad\","
                  "\"error\":\"timeout\",\"device\":\"meter1\",\"point\":\"voltage\",\"raw\":null}");
    p = pp(&f, &f.bad_exc, false);
    expect_render(&pub, &p,
                  "{\"value\":null,\"unit\":\"V\",\"timestamp\":\"" T_ISO "\",\"quality\":\"bad\","
                  "\"error\":\"illegal data address\",\"device\":\"meter1\",\"point\":\"voltage\","
                  "\"raw\":null}");
    p = pp(&f, &f.stale, true);
    expect_render(&pub, &p,
                  "{\"value\":230.1,\"unit\":\"V\",\"timestamp\":\"" T_ISO "\",\"quality\":\"stale\","
                  "\"error\":\"timeout\",\"device\":\"meter1\",\"point\":\"voltage\",\"raw\":2301}");

    pub.timestamp = CFG_TS_EPOCH_MS;
    p = pp(&f, &f.stale, true);
    expect_render(&pub, &p,
                  "{\"value\":230.1,\"unit\":\"V\",\"timestamp\":" T_MS ",\"quality\":\"stale\","
                  "\"error\":\"timeout\",\"device\":\"meter1\",\"point\":\"voltage\",\"raw\":2301}");
}

static void test_json_field_order(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    struct cfg_publish pub = make_pub(CFG_PAYLOAD_JSON, CFG_TS_EPOCH_MS, reversed_fields, 8, NULL);
    struct payload_point p = pp(&f, &f.good, true);
    /* "error" is left out of a good reading without a stray comma */
    expect_render(&pub, &p,
                  "{\"raw\":2301,\"point\":\"voltage\",\"device\":\"meter1\",\"quality\":\"good\","
                  "\"timestamp\":" T_MS ",\"unit\":\"V\",\"value\":230.1}");
    p = pp(&f, &f.bad_timeout, false);
    expect_render(&pub, &p,
                  "{\"raw\":null,\"point\":\"voltage\",\"device\":\"meter1\",\"error\":\"timeout\","
                  "\"quality\":\"bad\",\"timestamp\":" T_MS ",\"unit\":\"V\",\"value\":null}");

    char *error_first[] = { S("error"), S("value") };
    char *error_mid[] = { S("value"), S("error"), S("unit") };
    char *error_only[] = { S("error") };
    pub = make_pub(CFG_PAYLOAD_JSON, CFG_TS_ISO8601, error_first, 2, NULL);
    p = pp(&f, &f.good, true);
    expect_render(&pub, &p, "{\"value\":230.1}");
    p = pp(&f, &f.bad_timeout, false);
    expect_render(&pub, &p, "{\"error\":\"timeout\",\"value\":null}");
    pub = make_pub(CFG_PAYLOAD_JSON, CFG_TS_ISO8601, error_mid, 3, NULL);
    p = pp(&f, &f.good, true);
    expect_render(&pub, &p, "{\"value\":230.1,\"unit\":\"V\"}");
    pub = make_pub(CFG_PAYLOAD_JSON, CFG_TS_ISO8601, error_only, 1, NULL);
    expect_render(&pub, &p, "{}");
    pub = make_pub(CFG_PAYLOAD_JSON, CFG_TS_ISO8601, NULL, 0, NULL);
    expect_render(&pub, &p, "{}");
}

/* "raw" for every value kind, and "value" for every engineering kind. */
static void test_json_raw_and_value_kinds(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    f.pt.decimals = -1;
    char *fields[] = { S("value"), S("raw") };
    struct cfg_publish pub = make_pub(CFG_PAYLOAD_JSON, CFG_TS_ISO8601, fields, 2, NULL);
    struct payload_point p = pp(&f, &f.good, true);

    f.good.value = (struct value){ .kind = VALUE_INT, .as.i = -10 };
    f.eng = eng_int(-10);
    expect_render(&pub, &p, "{\"value\":-10,\"raw\":-10}");
    f.good.value = (struct value){ .kind = VALUE_UINT, .as.u = UINT64_MAX };
    f.eng = eng_int(0);
    snprintf(f.eng.text, sizeof f.eng.text, "18446744073709551615");
    expect_render(&pub, &p, "{\"value\":18446744073709551615,\"raw\":18446744073709551615}");
    f.good.value = (struct value){ .kind = VALUE_FLOAT, .as.f = 0.5 };
    f.eng = eng_num(0.05);
    expect_render(&pub, &p, "{\"value\":0.05,\"raw\":0.5}");
    f.good.value = (struct value){ .kind = VALUE_FLOAT, .as.f = NAN };
    f.eng = eng_num(NAN);
    expect_render(&pub, &p, "{\"value\":null,\"raw\":null}");
    f.good.value = (struct value){ .kind = VALUE_FLOAT, .as.f = -INFINITY };
    f.eng = eng_num(-INFINITY);
    expect_render(&pub, &p, "{\"value\":null,\"raw\":null}");
    f.good.value = (struct value){ .kind = VALUE_BOOL, .as.b = true };
    f.eng = eng_bool(true);
    expect_render(&pub, &p, "{\"value\":true,\"raw\":true}");
    f.good.value = (struct value){ .kind = VALUE_BOOL, .as.b = false };
    f.eng = eng_text("off"); /* an enum label */
    expect_render(&pub, &p, "{\"value\":\"off\",\"raw\":false}");

    f.good.value = (struct value){ .kind = VALUE_STRING, .len = 6 };
    memcpy(f.good.value.bytes, "SN\"1\\2", 7);
    f.eng = eng_text("SN\"1\\2");
    expect_render(&pub, &p, "{\"value\":\"SN\\\"1\\\\2\",\"raw\":\"SN\\\"1\\\\2\"}");

    f.good.value = (struct value){ .kind = VALUE_RAW, .len = 4 };
    memcpy(f.good.value.bytes, "\x00\x1f\xab\xff", 4);
    f.eng = eng_text("001fabff");
    expect_render(&pub, &p, "{\"value\":\"001fabff\",\"raw\":\"001fabff\"}");
}

static void test_json_unit_and_names(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    char *fields[] = { S("unit"), S("device"), S("point") };
    struct cfg_publish pub = make_pub(CFG_PAYLOAD_JSON, CFG_TS_ISO8601, fields, 3, NULL);
    struct payload_point p = pp(&f, &f.good, true);
    f.pt.unit = NULL;
    expect_render(&pub, &p, "{\"unit\":\"\",\"device\":\"meter1\",\"point\":\"voltage\"}");
    f.pt.unit = S("°C");
    template_values_set(&f.names, TVAR_DEVICE, "boiler \"2\"");
    template_values_set(&f.names, TVAR_POINT, "a\\b\tc");
    expect_render(&pub, &p,
                  "{\"unit\":\"°C\",\"device\":\"boiler \\\"2\\\"\",\"point\":\"a\\\\b\\u0009c\"}");
    template_values_set(&f.names, TVAR_DEVICE, NULL);
    expect_render(&pub, &p, "{\"unit\":\"°C\",\"device\":\"\",\"point\":\"a\\\\b\\u0009c\"}");
}

/* ---- payload: template -------------------------------------------------- */

#define EVERY_VAR "{gateway}|{bus}|{device}|{point}|{unit}|{slave}|{address}|{register}|" \
                  "{type}|{value}|{raw}|{timestamp}|{quality}|{error}|{{x}}"
#define NAMES_OUT "gw1|rs485|meter1|voltage|V|3|256|input|uint16|"

static void test_template_every_variable(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    struct template_values before = f.names;
    struct cfg_publish pub = make_pub(CFG_PAYLOAD_TEMPLATE, CFG_TS_ISO8601, NULL, 0, EVERY_VAR);
    struct payload_point p = pp(&f, &f.good, true);
    expect_render(&pub, &p, NAMES_OUT "230.1|2301|" T_ISO "|good||{x}");
    p = pp(&f, &f.bad_timeout, false);
    expect_render(&pub, &p, NAMES_OUT "||" T_ISO "|bad|timeout|{x}");
    p = pp(&f, &f.bad_exc, false);
    expect_render(&pub, &p, NAMES_OUT "||" T_ISO "|bad|illegal data address|{x}");
    p = pp(&f, &f.stale, true);
    expect_render(&pub, &p, NAMES_OUT "230.1|2301|" T_ISO "|stale|timeout|{x}");
    pub.timestamp = CFG_TS_EPOCH_MS;
    p = pp(&f, &f.good, true);
    expect_render(&pub, &p, NAMES_OUT "230.1|2301|" T_MS "|good||{x}");
    /* the caller's names are copied, not written */
    assert_memory_equal(&before, &f.names, sizeof before);

    pub = make_pub(CFG_PAYLOAD_TEMPLATE, CFG_TS_ISO8601, NULL, 0, "{value} {unit}");
    expect_render(&pub, &p, "230.1 V");
    pub.template_text.text = S("");
    expect_render(&pub, &p, "");
}

/* ---- payload: grouped --------------------------------------------------- */

/* A meter cycle: good, bad, stale, bad (exception), good bool. */
struct group_fix {
    struct cfg_point pts[5];
    struct reading rs[5];
    struct eng_value engs[5];
    struct payload_point pps[5];
};

static void group_fix_init(struct group_fix *g)
{
    g->pts[0] = make_pt("voltage", "V", 1);
    g->pts[1] = make_pt("current", "A", 2);
    g->pts[2] = make_pt("we\"ird", "", -1);
    g->pts[3] = make_pt("status", "", -1);
    g->pts[4] = make_pt("relay", "", -1);
    g->rs[0] = good_uint(&g->pts[0], 2301);
    g->rs[1] = bad(&g->pts[1], READING_ERR_TIMEOUT, 0);
    g->rs[2] = stale_uint(&g->pts[2], 42);
    g->rs[3] = bad(&g->pts[3], READING_ERR_EXCEPTION, 2);
    g->rs[4] = good_uint(&g->pts[4], 1);
    g->engs[0] = eng_num(230.1);
    g->engs[2] = eng_int(42);
    g->engs[4] = eng_bool(true);
    for (size_t i = 0; i < 5; i++)
        g->pps[i] = (struct payload_point){ .pt = &g->pts[i], .r = &g->rs[i],
                                            .eng = g->rs[i].quality == READING_BAD ? NULL
                                                                                    : &g->engs[i] };
}

#define GROUP_ISO "{\"timestamp\":\"" T_ISO "\",\"voltage\":230.1,\"we\\\"ird\":42,\"relay\":true," \
                  "\"errors\":{\"current\":\"timeout\",\"status\":\"illegal data address\"}}"
#define GROUP_ERRORS_LEN (sizeof ",\"current\":\"timeout\",\"status\":\"illegal data address\"" - 1)

/* Adds the points `mask` selects and closes the group. */
static int group_run(const struct group_fix *g, unsigned mask, int ts, char *buf, size_t cap,
                     char *errors, size_t errors_cap, struct payload_group *out)
{
    struct cfg_publish pub = make_pub(CFG_PAYLOAD_GROUPED, ts, NULL, 0, NULL);
    struct timespec wall = t_fixed();
    payload_group_begin(out, buf, cap, errors, errors_cap);
    for (size_t i = 0; i < 5; i++)
        if (mask & (1u << i))
            payload_group_add(out, &g->pps[i]);
    return payload_group_end(out, &pub, &wall);
}

static void expect_group(const struct group_fix *g, unsigned mask, int ts, const char *want)
{
    char buf[1024], errors[512];
    struct payload_group pg;
    memset(buf, 'X', sizeof buf);
    int n = group_run(g, mask, ts, buf, sizeof buf, errors, sizeof errors, &pg);
    assert_string_equal(buf, want);
    assert_int_equal(n, (int)strlen(want));
}

static void test_grouped(void **state)
{
    (void)state;
    struct group_fix g;
    group_fix_init(&g);
    expect_group(&g, 0x1f, CFG_TS_ISO8601, GROUP_ISO);
    expect_group(&g, 0x1f, CFG_TS_EPOCH_MS,
                 "{\"timestamp\":" T_MS ",\"voltage\":230.1,\"we\\\"ird\":42,\"relay\":true,"
                 "\"errors\":{\"current\":\"timeout\",\"status\":\"illegal data address\"}}");
    /* no bad point: no "errors" */
    expect_group(&g, 0x15, CFG_TS_EPOCH_MS,
                 "{\"timestamp\":" T_MS ",\"voltage\":230.1,\"we\\\"ird\":42,\"relay\":true}");
    /* only bad points */
    expect_group(&g, 0x0a, CFG_TS_ISO8601,
                 "{\"timestamp\":\"" T_ISO "\",\"errors\":{\"current\":\"timeout\","
                 "\"status\":\"illegal data address\"}}");
    expect_group(&g, 0x02, CFG_TS_EPOCH_MS,
                 "{\"timestamp\":" T_MS ",\"errors\":{\"current\":\"timeout\"}}");
    expect_group(&g, 0x04, CFG_TS_EPOCH_MS, "{\"timestamp\":" T_MS ",\"we\\\"ird\":42}");

    /* no point: nothing to publish */
    char buf[64], errors[64];
    struct payload_group pg;
    memset(buf, 'X', sizeof buf);
    assert_int_equal(group_run(&g, 0, CFG_TS_ISO8601, buf, sizeof buf, errors, sizeof errors, &pg),
                     0);
    assert_string_equal(buf, "");
    assert_int_equal(group_run(&g, 0, CFG_TS_ISO8601, NULL, 0, NULL, 0, &pg), 0);
    assert_int_equal(pg.n_values + pg.n_errors, 0);
}

/* ---- every buffer size -------------------------------------------------- */

/* Renders with exactly n bytes of heap for every n up to the full length:
 * -1 and a terminated prefix while short, the whole text once it fits. */
static void expect_every_size(const struct cfg_publish *pub, const struct payload_point *p)
{
    char full[2048];
    int len = payload_render(pub, p, full, sizeof full);
    assert_true(len > 0 && (size_t)len < sizeof full);
    for (size_t n = 0; n <= (size_t)len + 1; n++) {
        char *buf = malloc(n ? n : 1);
        assert_non_null(buf);
        memset(buf, 'X', n ? n : 1);
        int r = payload_render(pub, p, buf, n);
        if (n <= (size_t)len) {
            assert_int_equal(r, -1);
            if (n > 0) {
                size_t cut = strnlen(buf, n);
                assert_true(cut < n);
                assert_memory_equal(buf, full, cut);
            } else {
                assert_int_equal(buf[0], 'X'); /* nothing written */
            }
        } else {
            assert_int_equal(r, len);
            assert_string_equal(buf, full);
        }
        free(buf);
    }
}

static void test_render_every_size(void **state)
{
    (void)state;
    struct fix f;
    fix_init(&f);
    template_values_set(&f.names, TVAR_DEVICE, "m\"1"); /* escapes cut in the middle too */
    struct cfg_publish pubs[] = {
        make_pub(CFG_PAYLOAD_VALUE, CFG_TS_ISO8601, NULL, 0, NULL),
        make_pub(CFG_PAYLOAD_JSON, CFG_TS_ISO8601, all_fields, 8, NULL),
        make_pub(CFG_PAYLOAD_JSON, CFG_TS_EPOCH_MS, reversed_fields, 8, NULL),
        make_pub(CFG_PAYLOAD_TEMPLATE, CFG_TS_ISO8601, NULL, 0, EVERY_VAR),
    };
    const struct reading *rs[] = { &f.good, &f.bad_timeout, &f.bad_exc, &f.stale };
    for (size_t i = 0; i < sizeof pubs / sizeof pubs[0]; i++)
        for (size_t k = 0; k < sizeof rs / sizeof rs[0]; k++) {
            struct payload_point p = pp(&f, rs[k], rs[k]->quality != READING_BAD);
            expect_every_size(&pubs[i], &p);
        }
    /* a raw block: the longest piece */
    f.good.value = (struct value){ .kind = VALUE_RAW, .len = VALUE_MAX_BYTES };
    memset(f.good.value.bytes, 0xa5, VALUE_MAX_BYTES);
    f.eng = eng_text("a5a5");
    struct payload_point p = pp(&f, &f.good, true);
    expect_every_size(&pubs[1], &p);
    expect_every_size(&pubs[3], &p);
}

static void test_grouped_every_size(void **state)
{
    (void)state;
    struct group_fix g;
    group_fix_init(&g);
    const size_t len = sizeof GROUP_ISO - 1;
    struct payload_group pg;
    char errors[512];
    for (size_t cap = 0; cap <= len + 1; cap++) {
        char *buf = malloc(cap ? cap : 1);
        assert_non_null(buf);
        memset(buf, 'X', cap ? cap : 1);
        int r = group_run(&g, 0x1f, CFG_TS_ISO8601, cap ? buf : NULL, cap, errors, sizeof errors,
                          &pg);
        if (cap <= len) {
            assert_int_equal(r, -1);
            assert_true(pg.overflow);
            if (cap)
                assert_string_equal(buf, "");
        } else {
            assert_int_equal(r, (int)len);
            assert_string_equal(buf, GROUP_ISO);
        }
        free(buf);
    }
    /* the error scratch area: its members plus one byte */
    char buf[1024];
    for (size_t cap = 0; cap <= GROUP_ERRORS_LEN + 1; cap++) {
        char *scratch = malloc(cap ? cap : 1);
        assert_non_null(scratch);
        int r = group_run(&g, 0x1f, CFG_TS_ISO8601, buf, sizeof buf, cap ? scratch : NULL, cap,
                          &pg);
        if (cap <= GROUP_ERRORS_LEN) {
            assert_int_equal(r, -1);
            assert_string_equal(buf, "");
        } else {
            assert_int_equal(r, (int)len);
            assert_string_equal(buf, GROUP_ISO);
        }
        free(scratch);
    }
    /* a group that fits exactly in a stack array */
    char exact[sizeof GROUP_ISO];
    assert_int_equal(group_run(&g, 0x1f, CFG_TS_ISO8601, exact, sizeof exact, errors,
                               sizeof errors, &pg),
                     (int)len);
    assert_string_equal(exact, GROUP_ISO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamp_formats),
        cmocka_unit_test(test_error_text),
        cmocka_unit_test(test_value_payload),
        cmocka_unit_test(test_json_default_fields),
        cmocka_unit_test(test_json_every_field),
        cmocka_unit_test(test_json_field_order),
        cmocka_unit_test(test_json_raw_and_value_kinds),
        cmocka_unit_test(test_json_unit_and_names),
        cmocka_unit_test(test_template_every_variable),
        cmocka_unit_test(test_grouped),
        cmocka_unit_test(test_render_every_size),
        cmocka_unit_test(test_grouped_every_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
