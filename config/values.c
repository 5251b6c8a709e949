/* Parsers and formatters for configuration scalars (see values.h). */
#include "config/values.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int value_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "true", "yes", "on" };
    static const char *const no[] = { "false", "no", "off" };
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

int value_parse_int(const char *s, int64_t *out)
{
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    if (!isxdigit((unsigned char)*p) || (base == 10 && !isdigit((unsigned char)*p)))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(p, &end, base);
    if (errno || *end != '\0')
        return -1;
    if (!neg && v > (unsigned long long)INT64_MAX)
        return -1;
    if (neg && v > (unsigned long long)INT64_MAX + 1)
        return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int value_parse_double(const char *s, double *out)
{
    if (!*s || isspace((unsigned char)*s))
        return -1;
    /* strtod also reads hex floats, "inf" and "nan": none belongs in a config. */
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789+-.eE", *p))
            return -1;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || *end != '\0' || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

/* Reads "<digits>[.<digits>]" at *p. */
static int read_decimal(const char **p, double *out)
{
    const char *start = *p;
    while (isdigit((unsigned char)**p))
        (*p)++;
    if (**p == '.') {
        (*p)++;
        while (isdigit((unsigned char)**p))
            (*p)++;
    }
    if (*p == start || (*p - start == 1 && *start == '.'))
        return -1;
    char buf[64];
    size_t n = (size_t)(*p - start);
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, start, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return 0;
}

struct unit {
    const char *name;
    double factor;
};

/* Longest names first, so "ms" is not read as "m" followed by "s". */
static const struct unit duration_units[] = {
    { "us", 1.0 }, { "ms", 1e3 }, { "s", 1e6 }, { "m", 60e6 }, { "h", 3600e6 }, { "d", 86400e6 },
    { NULL, 0 },
};

static const struct unit *match_unit(const struct unit *units, const char **p)
{
    const struct unit *best = NULL;
    size_t best_len = 0;
    for (const struct unit *u = units; u->name; u++) {
        size_t n = strlen(u->name);
        if (n > best_len && strncmp(*p, u->name, n) == 0) {
            best = u;
            best_len = n;
        }
    }
    if (best)
        *p += best_len;
    return best;
}

int value_parse_duration(const char *s, int64_t *out_us)
{
    if (strcmp(s, "0") == 0) {
        *out_us = 0;
        return 0;
    }
    const char *p = s;
    double total = 0;
    if (!*p)
        return -1;
    while (*p) {
        double n;
        if (read_decimal(&p, &n))
            return -1;
        const struct unit *u = match_unit(duration_units, &p);
        if (!u)
            return -1;
        total += n * u->factor;
    }
    if (total > 9.0e18 || total != floor(total))
        return -1;
    *out_us = (int64_t)total;
    return 0;
}

static const struct unit size_units[] = {
    { "B", 1.0 },
    { "kB", 1e3 }, { "KB", 1e3 }, { "MB", 1e6 }, { "GB", 1e9 },
    { "KiB", 1024.0 }, { "MiB", 1048576.0 }, { "GiB", 1073741824.0 },
    { NULL, 0 },
};

int value_parse_size(const char *s, uint64_t *out)
{
    const char *p = s;
    double n;
    if (read_decimal(&p, &n))
        return -1;
    double factor = 1.0;
    if (*p) {
        const struct unit *u = match_unit(size_units, &p);
        if (!u || *p)
            return -1;
        factor = u->factor;
    }
    double v = n * factor;
    if (v > 1.8e19 || v != floor(v))
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int value_parse_bytes(const char *s, uint8_t **data, size_t *len)
{
    size_t cap = strlen(s) / 2 + 1;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -1;
    size_t n = 0;
    const char *p = s;
    while (*p) {
        if (*p == ' ' || *p == ',' || *p == ':') {
            p++;
            continue;
        }
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
            p += 2;
        int hi = hex_value((unsigned char)p[0]);
        int lo = hi < 0 ? -1 : hex_value((unsigned char)p[1]);
        if (hi < 0 || lo < 0 || n == cap) {
            free(buf);
            return -1;
        }
        buf[n++] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    if (n == 0) {
        free(buf);
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

void value_format_duration(int64_t us, char *buf, size_t size)
{
    static const struct { const char *name; int64_t us; } units[] = {
        { "d", 86400 * US_PER_S }, { "h", 3600 * US_PER_S }, { "m", 60 * US_PER_S },
        { "s", US_PER_S }, { "ms", US_PER_MS }, { "us", 1 },
    };
    if (us == 0) {
        snprintf(buf, size, "0");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (us % units[i].us == 0) {
            snprintf(buf, size, "%" PRId64 "%s", us / units[i].us, units[i].name);
            return;
        }
    }
}

void value_format_size(uint64_t bytes, char *buf, size_t size)
{
    static const struct { const char *name; uint64_t factor; } units[] = {
        { "GiB", UINT64_C(1) << 30 }, { "MiB", UINT64_C(1) << 20 }, { "KiB", UINT64_C(1) << 10 },
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (bytes && bytes % units[i].factor == 0) {
            snprintf(buf, size, "%" PRIu64 "%s", bytes / units[i].factor, units[i].name);
            return;
        }
    }
    snprintf(buf, size, "%" PRIu64, bytes);
}
