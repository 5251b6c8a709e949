/* Authentication and authorisation in the broker: loading (and reloading)
 * the password file and ACL of the configuration, deciding a CONNECT's
 * credentials, the ACL checks on PUBLISH, SUBSCRIBE and each delivery, and
 * a rate-limited log of failed logins. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/diag.h"
#include "gateway/broker/acl.h"
#include "gateway/broker/auth.h"
#include "gateway/broker/passwd.h"
#include "gateway/log.h"
#include "gateway/loop.h"

/* ---- loading ------------------------------------------------------------- */

static void report_passwd(void *ctx, enum passwd_severity severity, const char *msg)
{
    (void)ctx;
    if (severity == PASSWD_ERROR)
        log_error("broker", "%s", msg);
    else
        log_warn("broker", "%s", msg);
}

static void log_acl_diag(struct diag *diag)
{
    for (size_t i = 0; i < diag->count; i++) {
        char line[1024];
        diag_format(&diag->entries[i], line, sizeof(line));
        if (diag->entries[i].severity == DIAG_ERROR)
            log_error("broker", "%s", line);
        else
            log_warn("broker", "%s", line);
    }
}

/* Both files of `cfg`, or neither: 0 with *pw and *acl set (each NULL when
 * not configured), or -errno after logging every problem. */
static int load_files(const struct cfg_broker *cfg, struct passwd_db **pw, struct acl **acl)
{
    *pw = NULL;
    *acl = NULL;
    const char *pw_path = cfg->auth.password_file, *acl_path = cfg->auth.acl_file;
    if (pw_path) {
        int rc = passwd_db_load(pw_path, pw, report_passwd, NULL);
        if (rc < 0) {
            log_error("broker", "cannot load the password file %s: %s", pw_path, strerror(-rc));
            return rc;
        }
    }
    if (acl_path) {
        struct diag diag;
        diag_init(&diag);
        int rc = acl_load_file(acl_path, acl, &diag);
        log_acl_diag(&diag);
        diag_free(&diag);
        if (rc < 0) {
            log_error("broker", "cannot load the ACL file %s: %s", acl_path, strerror(-rc));
            passwd_db_free(*pw);
            *pw = NULL;
            return rc;
        }
    }
    return 0;
}

static void log_loaded(const struct cfg_broker *cfg, const struct passwd_db *pw,
                       const struct acl *acl)
{
    if (pw)
        log_info("broker", "password file %s: %zu user(s)", cfg->auth.password_file,
                 passwd_db_count(pw));
    if (acl)
        log_info("broker", "ACL file %s: %zu rule(s)", cfg->auth.acl_file, acl_rule_count(acl));
}

/* The will of a client (or a session's delayed will) on a topic its owner
 * may no longer write is dropped, so that a reload acts on wills as if they
 * were checked when published (Mosquitto checks them then). */
static void drop_denied_wills(struct broker *b)
{
    for (struct client *c = b->clients; c; c = c->next) {
        if (c->will && c->session && !auth_may_write(c->session, c->will->topic,
                                                     c->will->topic_len)) {
            log_info("broker", "will of client '%s' on '%s' dropped: no longer authorized",
                     c->session->client_id, c->will->topic);
            msg_unref(c->will);
            c->will = NULL;
        }
    }
    const char *id;
    void *value;
    for (size_t i = 0; strmap_next(&b->sessions, &i, &id, &value);) {
        struct session *s = value;
        struct broker_msg *w = s->pending_will;
        if (w && !auth_may_write(s, w->topic, w->topic_len)) {
            log_info("broker", "delayed will of '%s' on '%s' dropped: no longer authorized",
                     s->client_id, w->topic);
            session_cancel_will(s);
        }
    }
}

static void swap_in(struct broker *b, struct passwd_db *pw, struct acl *acl)
{
    passwd_db_free(b->passwd);
    acl_free(b->acl);
    b->passwd = pw;
    b->acl = acl;
}

int broker_load_auth(struct broker *b, const struct cfg_broker *cfg)
{
    struct passwd_db *pw;
    struct acl *acl;
    int rc = load_files(cfg, &pw, &acl);
    if (rc < 0)
        return rc;
    swap_in(b, pw, acl);
    log_loaded(cfg, pw, acl);
    return 0;
}

int broker_reload_auth(struct broker *b, const struct cfg_broker *cfg)
{
    struct passwd_db *pw;
    struct acl *acl;
    int rc = load_files(cfg, &pw, &acl);
    if (rc < 0) {
        log_error("broker", "authentication not reloaded: keeping the previous password file "
                  "and ACL");
        return rc;
    }
    swap_in(b, pw, acl);
    log_loaded(cfg, pw, acl);
    drop_denied_wills(b);
    return 0;
}

/* ---- failed logins, logged with a bound ----------------------------------
 * A password-guessing client could otherwise fill the disk: one line per
 * source address per interval, the lines skipped counted in the next one.
 * A small table, oldest entry replaced: an attack from many addresses still
 * logs at most one line per CONNECT, and each of those paid a PBKDF2 hash. */

#define AUTH_FAIL_SLOTS 32
/* Past this many failures from one address within AUTH_FAIL_WINDOW_MS,
 * its logins are refused without running PBKDF2 (tens of ms on a Pi, on
 * the loop thread): one guessing client cannot stall the broker. */
#define AUTH_FAIL_BURST 20
#define AUTH_FAIL_WINDOW_MS 10000

struct auth_fail_slot {
    char addr[64];
    int64_t last_ms;        /* when a line was last written for addr */
    uint32_t suppressed;    /* failures since, not logged */
    int64_t window_ms;      /* start of the current counting window */
    uint32_t window_fails;  /* failures in it */
};

struct auth_fails {
    struct auth_fail_slot slot[AUTH_FAIL_SLOTS];
};

/* The address of "HOST:PORT" or "[HOST]:PORT", without the port. */
static void peer_host(const char *peer, char *out, size_t size)
{
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    snprintf(out, size, "%.*s", (int)n, peer);
}

static struct auth_fail_slot *fail_slot(struct auth_fails *f, const char *host)
{
    struct auth_fail_slot *oldest = &f->slot[0];
    for (size_t i = 0; i < AUTH_FAIL_SLOTS; i++) {
        if (strcmp(f->slot[i].addr, host) == 0)
            return &f->slot[i];
        if (f->slot[i].last_ms < oldest->last_ms)
            oldest = &f->slot[i];
    }
    snprintf(oldest->addr, sizeof(oldest->addr), "%s", host);
    oldest->last_ms = INT64_MIN;
    oldest->suppressed = 0;
    oldest->window_ms = INT64_MIN;
    oldest->window_fails = 0;
    return oldest;
}

/* Whether the client's address failed too often lately to be checked. */
static bool login_throttled(const struct client *c)
{
    const struct broker *b = c->broker;
    if (!b->auth_fails)
        return false;
    char host[64];
    peer_host(c->peer, host, sizeof(host));
    int64_t now = loop_now_ms(b->loop);
    for (size_t i = 0; i < AUTH_FAIL_SLOTS; i++) {
        const struct auth_fail_slot *sl = &b->auth_fails->slot[i];
        if (strcmp(sl->addr, host) == 0)
            return sl->window_ms != INT64_MIN && now - sl->window_ms < AUTH_FAIL_WINDOW_MS &&
                   sl->window_fails >= AUTH_FAIL_BURST;
    }
    return false;
}

/* A user name fit for a log line: printable ASCII, at most 64 bytes (a
 * client could otherwise forge log lines with a newline in its name). */
static void printable_name(const struct mqtt_bytes *name, char *out, size_t size)
{
    size_t n = 0;
    for (uint32_t i = 0; i < name->len && n + 4 < size && i < 64; i++)
        out[n++] = name->data[i] >= 0x20 && name->data[i] < 0x7f ? (char)name->data[i] : '?';
    if (name->len > 64 && n + 4 < size)
        out[n++] = '.', out[n++] = '.', out[n++] = '.';
    out[n] = '\0';
}

static void log_failure(struct client *c, const struct mqtt_connect *p, const char *why)
{
    struct broker *b = c->broker;
    if (!b->auth_fails && !(b->auth_fails = calloc(1, sizeof(*b->auth_fails))))
        return;
    char host[64];
    peer_host(c->peer, host, sizeof(host));
    struct auth_fail_slot *slot = fail_slot(b->auth_fails, host);
    int64_t now = loop_now_ms(b->loop);
    if (slot->window_ms == INT64_MIN || now - slot->window_ms >= AUTH_FAIL_WINDOW_MS) {
        slot->window_ms = now;
        slot->window_fails = 0;
    }
    slot->window_fails++;
    if (slot->last_ms != INT64_MIN && now - slot->last_ms < AUTH_FAIL_LOG_INTERVAL_MS) {
        slot->suppressed++;
        return;
    }
    char user[80] = "";
    if (p->has_username)
        printable_name(&p->username, user, sizeof(user));
    char more[128] = "";
    if (slot->suppressed)
        snprintf(more, sizeof(more), " (%u more from %s not logged)", slot->suppressed, host);
    log_warn("broker", "login failed from %s%s%s%s: %s%s", c->peer,
             p->has_username ? " as '" : " without a user name", user,
             p->has_username ? "'" : "", why, more);
    slot->last_ms = now;
    slot->suppressed = 0;
}

/* ---- CONNECT ------------------------------------------------------------- */

static int refuse_login(struct client *c, const struct mqtt_connect *p, int reason,
                        const char *why)
{
    log_failure(c, p, why);
    return reason;
}

/* The user name of a TLS client certificate (use_identity_as_username):
 * the certificate vouches for it, so no password is checked (as Mosquitto). */
static int identity_login(struct client *c, const struct mqtt_connect *p, char **username)
{
    if (!c->tls_identity)
        return refuse_login(c, p, MQTT_RC_BAD_USERNAME_PASSWORD, "no client certificate identity");
    *username = strdup(c->tls_identity);
    return *username ? 0 : MQTT_RC_SERVER_BUSY;
}

static int password_login(struct client *c, const struct mqtt_connect *p, const char *user)
{
    const struct broker *b = c->broker;
    if (!b->passwd) {
        /* No password file: a user name is taken as given where anonymous
         * clients are welcome; elsewhere nothing could check it. */
        if (c->listener->allow_anonymous)
            return 0;
        return refuse_login(c, p, MQTT_RC_BAD_USERNAME_PASSWORD,
                            "listener requires authentication and no password file is configured");
    }
    if (login_throttled(c))
        return refuse_login(c, p, MQTT_RC_BAD_USERNAME_PASSWORD,
                            "too many failed logins from this address: not checked");
    switch (passwd_check(b->passwd, user, p->has_password ? p->password.data : NULL,
                         p->has_password ? p->password.len : 0)) {
    case PASSWD_MATCH:
        return 0;
    case PASSWD_MISMATCH:
        return refuse_login(c, p, MQTT_RC_BAD_USERNAME_PASSWORD,
                            p->has_password ? "wrong password" : "no password");
    case PASSWD_UNKNOWN_USER:
        return refuse_login(c, p, MQTT_RC_BAD_USERNAME_PASSWORD, "unknown user");
    case PASSWD_FAILED:
    default:
        return refuse_login(c, p, MQTT_RC_SERVER_UNAVAILABLE, "password check failed (OpenSSL)");
    }
}

int auth_connect(struct client *c, const struct mqtt_connect *p, char **username)
{
    *username = NULL;
    if (c->listener->tls_identity)
        return identity_login(c, p, username);
    if (!p->has_username) {
        if (c->listener->allow_anonymous)
            return 0;
        return refuse_login(c, p, MQTT_RC_NOT_AUTHORIZED, "anonymous clients not allowed");
    }
    char *user = strndup((const char *)p->username.data, p->username.len);
    if (!user)
        return MQTT_RC_SERVER_BUSY;
    int reason = strlen(user) != p->username.len ?
                 refuse_login(c, p, MQTT_RC_BAD_USERNAME_PASSWORD, "NUL in the user name") :
                 password_login(c, p, user);
    if (reason)
        free(user);
    else
        *username = user;
    return reason;
}

/* ---- the ACL ------------------------------------------------------------- */

bool auth_may_write(const struct session *s, const char *topic, size_t len)
{
    return acl_check_n(s->broker->acl, s->username, s->client_id, topic, len, ACL_WRITE);
}

bool auth_may_subscribe(const struct session *s, const char *filter)
{
    return acl_check(s->broker->acl, s->username, s->client_id, filter, ACL_SUBSCRIBE);
}

bool broker_may_read(const struct broker *b, const struct session *s, const char *topic)
{
    return s->local_fn || acl_check(b->acl, s->username, s->client_id, topic, ACL_READ);
}

bool auth_same_user(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

void auth_free(struct broker *b)
{
    passwd_db_free(b->passwd);
    acl_free(b->acl);
    free(b->auth_fails);
    b->passwd = NULL;
    b->acl = NULL;
    b->auth_fails = NULL;
}
