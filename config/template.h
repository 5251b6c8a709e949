/* `{variable}` templates for topics and payloads: the variables there are, the
 * syntax (`{name}`, with `{{` and `}}` for literal braces), and the checks a
 * template must pass at load. The mapping engine decides the values; this
 * file says what a valid template is, and renders one from given values. */
#ifndef MQGATE_CONFIG_TEMPLATE_H
#define MQGATE_CONFIG_TEMPLATE_H

#include <stddef.h>

enum tvar {
    TVAR_GATEWAY = 1u << 0,
    TVAR_BUS = 1u << 1,
    TVAR_DEVICE = 1u << 2,
    TVAR_POINT = 1u << 3,
    TVAR_UNIT = 1u << 4,
    TVAR_SLAVE = 1u << 5,
    TVAR_ADDRESS = 1u << 6,
    TVAR_REGISTER = 1u << 7,
    TVAR_TYPE = 1u << 8,
    TVAR_VALUE = 1u << 9,
    TVAR_RAW = 1u << 10,
    TVAR_TIMESTAMP = 1u << 11,
    TVAR_QUALITY = 1u << 12,
    TVAR_ERROR = 1u << 13,
    TVAR_TOPIC = 1u << 14,
    TVAR_CLIENT = 1u << 15,
};

/* Variables of a topic about a point, a device, the gateway. */
#define TVARS_GATEWAY_TOPIC (TVAR_GATEWAY)
#define TVARS_DEVICE_TOPIC (TVARS_GATEWAY_TOPIC | TVAR_BUS | TVAR_DEVICE | TVAR_SLAVE)
#define TVARS_POINT_TOPIC (TVARS_DEVICE_TOPIC | TVAR_POINT | TVAR_UNIT | TVAR_ADDRESS | \
                           TVAR_REGISTER | TVAR_TYPE)
#define TVARS_PAYLOAD (TVARS_POINT_TOPIC | TVAR_VALUE | TVAR_RAW | TVAR_TIMESTAMP | \
                       TVAR_QUALITY | TVAR_ERROR)
#define TVARS_BRIDGE_TOPIC (TVAR_GATEWAY | TVAR_TOPIC)
#define TVARS_CLIENT_ID (TVAR_GATEWAY)

/* Name of one variable ("device"), and the variable of a name (0: none). */
const char *tvar_name(enum tvar v);
enum tvar tvar_lookup(const char *name, size_t len);

enum template_kind {
    TEMPLATE_TOPIC,   /* an MQTT topic name: no + or #, no empty level */
    TEMPLATE_TEXT,    /* free text (payloads, client ids) */
};

/* Check `text` against the rules of `kind` and the `allowed` variables.
 * Returns 0, or -1 with a message in `err` and the 0-based byte offset of the
 * problem in *err_offset (so the caller can point at the column). The
 * variables used are ORed into *used when `used` is not NULL. */
int template_check(const char *text, enum template_kind kind, unsigned allowed,
                   unsigned *used, char *err, size_t err_size, size_t *err_offset);

/* Values of the variables, for rendering; NULL entries render as "". */
struct template_values {
    const char *v[16];   /* indexed by bit number of enum tvar */
};

void template_values_set(struct template_values *vals, enum tvar var, const char *value);

/* Render into buf (always NUL-terminated). Returns the length the whole text
 * needs, like snprintf; the caller checks it against size. The template must
 * have passed template_check. */
size_t template_render(const char *text, const struct template_values *vals, char *buf,
                       size_t size);

#endif
