/* Who may connect and what they may do: the broker's glue between its
 * packets and the password file (passwd.h) and ACL (acl.h). Internal to the
 * broker: runs on the loop's thread, like everything in broker_internal.h.
 * The public entry points (broker_load_auth, broker_reload_auth) are in
 * broker.h; broker_may_read and auth_free are in broker_internal.h. */
#ifndef MQGATE_BROKER_AUTH_H
#define MQGATE_BROKER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/broker/broker_internal.h"

/* Decide a CONNECT's credentials on c's listener. On success returns 0 and
 * sets *username to a copy of the user name (caller owns it; NULL for an
 * anonymous client). Otherwise returns the v5 CONNACK reason to refuse with
 * (MQTT_RC_BAD_USERNAME_PASSWORD, MQTT_RC_NOT_AUTHORIZED,
 * MQTT_RC_SERVER_UNAVAILABLE, MQTT_RC_SERVER_BUSY) and logs the failure with
 * the client's address and user name, at most one line per source address
 * per AUTH_FAIL_LOG_INTERVAL_MS (the lines skipped are counted in the
 * next one). With a password file this blocks the loop thread for one
 * PBKDF2 hash (see PASSWD_DEFAULT_ITERATIONS). */
int auth_connect(struct client *c, const struct mqtt_connect *p, char **username);

#define AUTH_FAIL_LOG_INTERVAL_MS 10000

/* Whether the client of session s may publish on `topic` (`len` bytes):
 * ACL WRITE for s's user name and client id. Also for its will. */
bool auth_may_write(const struct session *s, const char *topic, size_t len);

/* Whether the client of session s may subscribe to `filter` (as sent, with
 * any "$share/GROUP/" prefix; NUL-terminated): ACL SUBSCRIBE. */
bool auth_may_subscribe(const struct session *s, const char *filter);

/* Whether two user names (NULL: anonymous) are the same user: a session
 * is resumed only by the user who made it. */
bool auth_same_user(const char *a, const char *b);

#endif
