/* Template syntax and load-time checks: `{var}` placeholders, `{{`/`}}`
 * escapes, allowed variables per context, and MQTT topic rules for topics. */
#include "config/template.h"

#include <stdio.h>
#include <string.h>

#include "config/suggest.h"

static const char *const tvar_names[] = {
    "gateway", "bus", "device", "point", "unit", "slave", "address", "register",
    "type", "value", "raw", "timestamp", "quality", "error", "topic", "client",
};
#define TVAR_COUNT (sizeof(tvar_names) / sizeof(tvar_names[0]))

const char *tvar_name(enum tvar v)
{
    for (size_t i = 0; i < TVAR_COUNT; i++)
        if ((unsigned)v == 1u << i)
            return tvar_names[i];
    return "?";
}

enum tvar tvar_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < TVAR_COUNT; i++)
        if (strlen(tvar_names[i]) == len && memcmp(tvar_names[i], name, len) == 0)
            return (enum tvar)(1u << i);
    return (enum tvar)0;
}

static int fail(char *err, size_t size, size_t *err_offset, size_t at, const char *msg)
{
    snprintf(err, size, "%s", msg);
    if (err_offset)
        *err_offset = at;
    return -1;
}

static int check_variable(const char *name, size_t len, unsigned allowed, unsigned *used,
                          char *err, size_t size, size_t *err_offset, size_t at)
{
    enum tvar v = tvar_lookup(name, len);
    if (v && (allowed & v)) {
        if (used)
            *used |= v;
        return 0;
    }
    char word[64];
    snprintf(word, sizeof(word), "%.*s", (int)(len < 60 ? len : 60), name);
    if (v) {
        snprintf(err, size, "variable '{%s}' cannot be used here", word);
    } else {
        struct suggest s;
        suggest_init(&s, word);
        for (size_t i = 0; i < TVAR_COUNT; i++)
            if (allowed & (1u << i))
                suggest_offer(&s, tvar_names[i]);
        if (suggest_result(&s))
            snprintf(err, size, "unknown variable '{%s}', did you mean '{%s}'?", word,
                     suggest_result(&s));
        else
            snprintf(err, size, "unknown variable '{%s}'", word);
    }
    if (err_offset)
        *err_offset = at;
    return -1;
}

int template_check(const char *text, enum template_kind kind, unsigned allowed,
                   unsigned *used, char *err, size_t size, size_t *err_offset)
{
    size_t level_len = 0; /* bytes (literal or variable) in the current topic level */
    for (size_t i = 0; text[i];) {
        char c = text[i];
        if (c == '{' && text[i + 1] == '{') {
            i += 2;
            level_len++;
        } else if (c == '}' && text[i + 1] == '}') {
            i += 2;
            level_len++;
        } else if (c == '{') {
            const char *close = strchr(text + i + 1, '}');
            if (!close)
                return fail(err, size, err_offset, i, "'{' without a matching '}'");
            size_t len = (size_t)(close - (text + i + 1));
            if (len == 0)
                return fail(err, size, err_offset, i, "empty variable '{}'");
            if (check_variable(text + i + 1, len, allowed, used, err, size, err_offset, i))
                return -1;
            i += len + 2;
            level_len++;
        } else if (c == '}') {
            return fail(err, size, err_offset, i, "'}' without a matching '{' (write '}}' for a brace)");
        } else if (kind == TEMPLATE_TOPIC && (c == '+' || c == '#')) {
            return fail(err, size, err_offset, i,
                        c == '+' ? "wildcard '+' in a topic name" : "wildcard '#' in a topic name");
        } else if (kind == TEMPLATE_TOPIC && c == '/') {
            if (level_len == 0)
                return fail(err, size, err_offset, i, "empty topic level");
            level_len = 0;
            i++;
        } else {
            level_len++;
            i++;
        }
    }
    if (kind == TEMPLATE_TOPIC) {
        if (text[0] == '\0')
            return fail(err, size, err_offset, 0, "empty topic");
        if (level_len == 0)
            return fail(err, size, err_offset, strlen(text) - 1, "empty topic level");
    }
    return 0;
}

static int tvar_bit(enum tvar v)
{
    for (int i = 0; i < (int)TVAR_COUNT; i++)
        if ((unsigned)v == 1u << i)
            return i;
    return -1;
}

void template_values_set(struct template_values *vals, enum tvar var, const char *value)
{
    int bit = tvar_bit(var);
    if (bit >= 0)
        vals->v[bit] = value;
}

static void out_add(char *buf, size_t size, size_t *len, const char *s, size_t n)
{
    if (*len < size) {
        size_t room = size - 1 - *len;
        memcpy(buf + *len, s, n < room ? n : room);
    }
    *len += n;
}

size_t template_render(const char *text, const struct template_values *vals, char *buf,
                       size_t size)
{
    size_t len = 0;
    for (size_t i = 0; text[i];) {
        if ((text[i] == '{' && text[i + 1] == '{') || (text[i] == '}' && text[i + 1] == '}')) {
            out_add(buf, size, &len, text + i, 1);
            i += 2;
        } else if (text[i] == '{') {
            const char *close = strchr(text + i + 1, '}');
            if (!close)
                break;
            int bit = tvar_bit(tvar_lookup(text + i + 1, (size_t)(close - text - i - 1)));
            const char *v = bit >= 0 && vals->v[bit] ? vals->v[bit] : "";
            out_add(buf, size, &len, v, strlen(v));
            i = (size_t)(close - text) + 1;
        } else {
            out_add(buf, size, &len, text + i, 1);
            i++;
        }
    }
    if (size)
        buf[len < size ? len : size - 1] = '\0';
    return len;
}
