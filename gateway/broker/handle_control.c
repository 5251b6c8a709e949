/* PINGREQ, DISCONNECT and AUTH: keep-alive answers, a client's clean goodbye
 * (with or without its will), and refusing enhanced authentication, which
 * the broker does not offer. */
#include "gateway/broker/broker_internal.h"

int handle_control(struct client *c, const struct mqtt_packet *p)
{
    if (p->type == MQTT_PINGREQ) {
        uint8_t buf[2];
        size_t n = mqtt_encode_ping(buf, sizeof(buf), MQTT_PINGRESP);
        client_send(c, buf, n);
        return 0;
    }
    if (p->type == MQTT_AUTH)
        return MQTT_RC_BAD_AUTH_METHOD;
    /* DISCONNECT: the will is dropped, unless a v5 client asks for it (0x04). */
    const struct mqtt_disconnect *d = &p->u.disconnect;
    if (c->version == MQTT_V5 && d->reason == MQTT_RC_DISCONNECT_WITH_WILL) {
        client_close(c, 0, "disconnected with will", false);
        return 0;
    }
    if (c->version == MQTT_V5 && c->session &&
        mqtt_props_has(&d->props, MQTT_PROP_SESSION_EXPIRY)) {
        /* MQTT-3.14.2-2: a session that had expiry 0 may not be made persistent here. */
        if (c->session->expiry_s == 0 && d->props.session_expiry != 0)
            return MQTT_RC_PROTOCOL_ERROR;
        c->session->expiry_s = d->props.session_expiry;
        c->session->persistent = d->props.session_expiry > 0;
    }
    client_close(c, 0, NULL, true);
    return 0;
}
