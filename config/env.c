/* ${VAR} expansion for configuration values. */
#include "config/env.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct buf {
    char *data;
    size_t len, cap;
};

static int buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* The message is `what`, the quoted name, then `after`. */
static int fail(struct buf *b, char **out, char *err, size_t size, const char *what,
                const char *name, size_t name_len, const char *after)
{
    snprintf(err, size, "%s%.*s%s", what, (int)name_len, name, after);
    free(b->data);
    *out = NULL;
    return -1;
}

int env_expand(const char *in, char **out, char *err, size_t err_size)
{
    struct buf b = { NULL, 0, 0 };
    if (buf_add(&b, "", 0))
        return fail(&b, out, err, err_size, "out of memory", "", 0, "");
    const char *p = in;
    while (*p) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            if (buf_add(&b, p, strlen(p)))
                return fail(&b, out, err, err_size, "out of memory", "", 0, "");
            break;
        }
        if (buf_add(&b, p, (size_t)(dollar - p)))
            return fail(&b, out, err, err_size, "out of memory", "", 0, "");
        if (dollar[1] == '$') {
            if (buf_add(&b, "$", 1))
                return fail(&b, out, err, err_size, "out of memory", "", 0, "");
            p = dollar + 2;
            continue;
        }
        if (dollar[1] != '{') {
            /* A lone '$' is text; only ${...} is special. */
            if (buf_add(&b, "$", 1))
                return fail(&b, out, err, err_size, "out of memory", "", 0, "");
            p = dollar + 1;
            continue;
        }
        const char *name = dollar + 2;
        const char *close = strchr(name, '}');
        if (!close)
            return fail(&b, out, err, err_size, "'${' without a closing '}'", "", 0, "");
        const char *fallback = strstr(name, ":-");
        if (fallback && fallback > close)
            fallback = NULL;
        size_t name_len = (size_t)((fallback ? fallback : close) - name);
        if (name_len == 0)
            return fail(&b, out, err, err_size, "empty variable name in '${}'", "", 0, "");
        for (size_t i = 0; i < name_len; i++)
            if (!(isalnum((unsigned char)name[i]) || name[i] == '_'))
                return fail(&b, out, err, err_size, "invalid environment variable name '",
                            name, name_len, "'");
        char key[256];
        if (name_len >= sizeof(key))
            return fail(&b, out, err, err_size, "environment variable name too long: '",
                        name, name_len, "'");
        memcpy(key, name, name_len);
        key[name_len] = '\0';
        const char *value = getenv(key);
        if (!value && !fallback)
            return fail(&b, out, err, err_size, "environment variable '",
                        name, name_len, "' is not set");
        if (value) {
            if (buf_add(&b, value, strlen(value)))
                return fail(&b, out, err, err_size, "out of memory", "", 0, "");
        } else if (buf_add(&b, fallback + 2, (size_t)(close - fallback - 2))) {
            return fail(&b, out, err, err_size, "out of memory", "", 0, "");
        }
        p = close + 1;
    }
    *out = b.data;
    return 0;
}
