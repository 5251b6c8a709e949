/* UTF-8 Encoded Strings (MQTT §1.5.4): well-formed UTF-8 as RFC 3629 defines
 * it (shortest form, no surrogates, at most U+10FFFF) and no U+0000. */
#include "gateway/mqtt/mqtt.h"

static bool utf8_fail(const char **why, const char *msg)
{
    if (why)
        *why = msg;
    return false;
}

/* Length of the sequence led by `b`, 0 for a byte that cannot lead one. */
static size_t utf8_seq_len(uint8_t b)
{
    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf)
        return 2;
    if (b >= 0xe0 && b <= 0xef)
        return 3;
    if (b >= 0xf0 && b <= 0xf4)
        return 4;
    return 0;
}

/* The multi-byte sequence at s (n bytes, all present): continuation bytes,
 * then the code point's range. */
static bool utf8_seq_valid(const uint8_t *s, size_t n, const char **why)
{
    uint32_t cp = s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return utf8_fail(why, "UTF-8: missing continuation byte");
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
        return utf8_fail(why, "UTF-8: overlong encoding");
    if (cp >= 0xd800 && cp <= 0xdfff)
        return utf8_fail(why, "UTF-8: surrogate code point");
    if (cp > 0x10ffff)
        return utf8_fail(why, "UTF-8: code point above U+10FFFF");
    return true;
}

bool mqtt_utf8_valid(const uint8_t *s, size_t len, const char **why)
{
    size_t i = 0;
    while (i < len) {
        uint8_t b = s[i];
        if (b == 0)
            return utf8_fail(why, "UTF-8: null character U+0000");
        size_t n = utf8_seq_len(b);
        if (n == 0)
            return utf8_fail(why, (b == 0xc0 || b == 0xc1) ? "UTF-8: overlong encoding"
                                  : (b >= 0x80 && b < 0xc0) ? "UTF-8: stray continuation byte"
                                  : "UTF-8: invalid byte");
        if (n > len - i)
            return utf8_fail(why, "UTF-8: truncated sequence");
        if (n > 1 && !utf8_seq_valid(s + i, n, why))
            return false;
        i += n;
    }
    return true;
}
