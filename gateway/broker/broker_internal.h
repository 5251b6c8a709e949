/* The broker's inside, shared by its files and nothing else: the broker,
 * connections (client), sessions, refcounted messages, and the calls between
 * them. Everything here runs on the loop's thread. */
#ifndef MQGATE_BROKER_INTERNAL_H
#define MQGATE_BROKER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/broker/broker.h"
#include "gateway/broker/strmap.h"
#include "gateway/broker/subs.h"
#include "gateway/mqtt/mqtt.h"

struct loop;
struct client;
struct session;
struct connrate;                   /* tls/limits: connrate.h */
struct ssl_ctx_st;                 /* tls: OpenSSL's SSL_CTX */
struct ssl_st;                     /* tls: OpenSSL's SSL */

/* ---- messages ------------------------------------------------------------
 * One stored message, shared by every queue that holds it (never copied per
 * subscriber). Immutable once made, freed when the last reference goes. */
struct broker_msg {
    uint32_t refs;
    uint8_t qos;
    bool retain;
    bool has_expiry;
    int64_t expires_at_ms;       /* loop clock, when has_expiry */
    const struct session *origin; /* publisher, for no-local; alive only while routing */
    uint32_t topic_len;
    uint32_t payload_len;
    uint32_t props_len;          /* v5 properties forwarded as they came */
    char *topic;                 /* NUL-terminated */
    uint8_t *payload;
    uint8_t *props;              /* raw property block, without length */
    struct mqtt_props fwd;       /* the forwarded properties, decoded from props */
    /* memory */
    struct broker *broker;       /* charged to its memory count; NULL: not counted */
};

/* A message with its own copy of topic, payload and forwardable properties
 * (message expiry is turned into expires_at_ms), its bytes charged to `b`'s
 * memory count until the last unref (b NULL: not counted; b must outlive the
 * message). NULL when out of memory. */
struct broker_msg *msg_new(struct broker *b, const char *topic, size_t topic_len,
                           const void *payload, size_t payload_len,
                           const struct mqtt_props *props, uint8_t qos, bool retain,
                           int64_t now_ms);
struct broker_msg *msg_ref(struct broker_msg *m);
void msg_unref(struct broker_msg *m);
bool msg_expired(const struct broker_msg *m, int64_t now_ms);

/* ---- the broker -------------------------------------------------------- */

struct broker_limits {
    uint32_t max_packet_size;
    uint16_t max_keepalive;
    uint16_t receive_maximum;
    uint16_t topic_alias_maximum;
    uint16_t max_inflight;
    uint32_t max_queued_messages;
    uint64_t max_queued_bytes;
    uint32_t max_session_expiry;    /* seconds */
    int64_t connect_timeout_ms;
    uint32_t max_connections;
    bool retain_available;
};

struct listener {
    struct broker *broker;
    int fd;
    int port;
    bool loopback;
    bool allow_anonymous;
    char *bind;
    /* tls */
    bool tls;                       /* protocol: mqtts */
    bool tls_identity;              /* use_identity_as_username */
    struct ssl_ctx_st *tls_ctx;     /* for new connections; swapped by broker_reload_tls */
};

/* One read buffer for every connection (the loop has one thread): an idle
 * connection then costs no read buffer of its own. */
#define BROKER_SCRATCH_SIZE (64 * 1024)

struct broker {
    void (*before_flush)(void *ctx);   /* broker_set_before_flush */
    void *before_flush_ctx;
    struct loop *loop;
    uint8_t *scratch;               /* BROKER_SCRATCH_SIZE bytes */
    struct broker_limits limits;
    struct listener *listeners;
    size_t n_listeners;
    struct client *clients;         /* every open connection */
    struct client *dead;            /* closed, freed before the next sleep */
    struct client *dirty;           /* output queued this turn, written before the next sleep */
    struct strmap sessions;         /* client id → struct session */
    struct strmap retained;         /* topic → struct broker_msg */
    struct subs *subs;
    uint64_t delivery_serial;       /* to merge overlapping subscriptions */
    uint64_t assigned_ids;          /* for v5 clients that send no id */
    uint64_t sessions_expiry_timer;
    int64_t started_ms;
    int64_t sys_interval_ms;        /* 0: no $SYS topics */
    uint64_t sys_timer;
    size_t congested;               /* sessions over their high watermark */
    size_t paused;                  /* publishers not being read (back-pressure) */
    struct broker_stats stats;
    /* persistence (persist.c) */
    struct persist *persist;        /* NULL: state not kept */
    /* auth (auth.c) */
    struct passwd_db *passwd;       /* NULL: no password file */
    struct acl *acl;                /* NULL: no ACL file, everything allowed */
    struct auth_fails *auth_fails;  /* rate limit of failed-login log lines */
    /* tls, and the limits checked at accept (broker.c, connrate.c) */
    size_t n_clients;               /* on broker->clients */
    struct connrate *connrate;      /* max_connect_rate; NULL: no limit */
    uint8_t *tls_wbuf;              /* one TLS record gathered per write (client.c) */
    /* memory (counted in msg.c and client.c, memory_limit kept in backpressure.c) */
    uint64_t mem_limit;             /* memory_limit in bytes; 0: none */
    uint64_t mem_current;           /* bytes held: messages, output queues, read buffers */
    uint64_t mem_max;               /* the highest mem_current */
    bool mem_biting;                /* over mem_limit, and not yet back under 90% of it */
    bool mem_logged;                /* this episode's warning was logged */
    int64_t mem_logged_ms;          /* when the last warning was (rate limit) */
    uint64_t mem_episodes;          /* times it began to bite since the last warning */
    struct broker_mem_counts {      /* what the limit did since the last log line */
        uint64_t dropped;           /* QoS 0: from clients, or not queued for subscribers */
        uint64_t refused;           /* QoS 1/2 from MQTT 5 clients (0x97) */
        uint64_t held;              /* QoS 1/2 of MQTT 3.1.1 clients held, publisher paused */
        uint64_t admitted;          /* stored over the limit: in-process, wills, pauses ended */
    } mem_counts;
};

/* Route a message to every matching subscription (and nowhere else). */
void broker_route(struct broker *b, struct broker_msg *m);

/* $SYS topics (sys.c): publish the version, then every figure each interval. */
void sys_start(struct broker *b);
void sys_publish(struct broker *b);

/* ---- memory (backpressure.c) ---------------------------------------------
 * The bytes the broker holds (every broker_msg from msg_new to its last
 * unref, clients' output queues and read buffers) are counted in
 * mem_current. Past memory_limit the limit bites until the count is back
 * under 90% of it: QoS 0 is queued for no one (straight to a socket that
 * takes it is fine); client PUBLISHes at QoS 0 are dropped, at QoS 1/2
 * refused with 0x97 for MQTT 5 clients, and held for MQTT 3.1.1 ones (the
 * publisher is not read; each pause is bounded like a congestion pause, after
 * which one message passes, so a client waiting on itself cannot deadlock).
 * In-process publishers are never refused. One warning when it begins, one
 * info line when it ends (rate-limited). */
void broker_mem_add(struct broker *b, size_t n);
void broker_mem_sub(struct broker *b, size_t n);
static inline bool broker_mem_biting(const struct broker *b)
{
    return b->mem_biting;
}
/* Called before a connected client's PUBLISH is handled: true when it is
 * held (left unread, the client paused until the limit clears or the pause
 * bound passes, when it is handled). */
bool broker_mem_hold(struct client *c, const struct mqtt_publish *p);
/* The limit acted (a count of mem_counts was raised): a warning held back
 * by the rate limit goes out now if it is due. */
void broker_mem_note(struct broker *b);

/* ---- retained messages (retain.c) --------------------------------------- */

/* Store (or with an empty payload, clear) the retained message of m->topic. */
void retain_store(struct broker *b, struct broker_msg *m);
/* Deliver the retained messages matching `filter` to a new subscription. */
void retain_deliver(struct broker *b, struct session *s, const char *filter,
                    const struct sub_options *opt);
void retain_free_all(struct broker *b);

/* ---- sessions (session.c) ----------------------------------------------- */

struct session_sub {
    char *filter;
    struct sub_options opt;
};

struct inflight {
    struct broker_msg *msg;
    uint16_t packet_id;
    uint8_t qos;
    bool retain;
    bool released;          /* QoS 2: PUBREC received, PUBREL sent */
    uint32_t sub_ids[4];
    uint8_t n_sub_ids;
};

/* A message waiting for room in the inflight window (or for the client). */
struct queued {
    struct broker_msg *msg;
    uint8_t qos;
    bool retain;
    uint32_t sub_ids[4];
    uint8_t n_sub_ids;
};

struct session {
    struct broker *broker;
    char *client_id;
    struct client *client;          /* NULL while offline */
    bool persistent;                /* survives its connection */
    uint32_t expiry_s;              /* v5 session expiry; 3.1.1: persistent = forever */
    int64_t offline_since_ms;
    struct session_sub *subs;
    size_t n_subs, cap_subs;
    struct inflight *inflight;      /* sent, not yet acknowledged */
    size_t n_inflight, cap_inflight;
    struct queued *queue;           /* FIFO: head .. head+n_queue */
    size_t head, n_queue, cap_queue;
    uint64_t queued_bytes;          /* payload bytes in the queue */
    uint16_t *rx_qos2;              /* packet ids of QoS 2 received, not released */
    size_t n_rx_qos2, cap_rx_qos2;
    uint16_t next_packet_id;
    uint64_t last_delivery;         /* broker->delivery_serial of the last delivery */
    bool congested;                 /* counted in broker->congested */
    struct broker_msg *pending_will; /* v5 will waiting out its delay */
    broker_local_fn *local_fn;      /* in-process subscriber: no client, no queue */
    void *local_ctx;
    uint64_t will_timer;
    /* persistence (persist.c): what the log knows of this session */
    bool persist_logged;            /* the log holds it (a persistent session) */
    bool persist_touched;           /* on the persist's list of sessions to look at */
    uint32_t persist_expiry_s;      /* expiry_s as logged */
    /* auth */
    char *username;                 /* of the client that made it; NULL: anonymous */
};

struct session *session_find(struct broker *b, const char *id, size_t len);
struct session *session_create(struct broker *b, const char *id, size_t len);
void session_destroy(struct session *s);
int session_add_sub(struct session *s, const char *filter, const struct sub_options *opt);
int session_remove_sub(struct session *s, const char *filter);
/* Hand a message to the session: sent at once when its client is online
 * and the window allows, else queued (QoS 0 is dropped for offline sessions). */
void session_deliver(struct session *s, struct broker_msg *m, uint8_t qos, bool retain,
                     const uint32_t *sub_ids, size_t n_sub_ids);
/* Send what the window now allows (after an ack, on reconnect). */
void session_pump(struct session *s);
/* On reconnect: resend unacknowledged PUBLISH (DUP) and PUBREL. */
void session_resend_inflight(struct session *s);
int session_ack(struct session *s, uint8_t type, uint16_t packet_id);
bool session_rx_qos2_has(const struct session *s, uint16_t id);
int session_rx_qos2_add(struct session *s, uint16_t id);
void session_rx_qos2_remove(struct session *s, uint16_t id);
/* Back-pressure (backpressure.c): a connected session whose queue or socket
 * buffer is over its high watermark is congested; publishers feeding it stop
 * being read until every session is below its low watermark again (or a
 * pause bound passes, so two clients feeding each other cannot deadlock).
 * QoS 1/2 messages are never dropped for a connected subscriber. */
void session_update_congestion(struct session *s);
bool session_is_congested(const struct session *s);
void client_pause(struct client *c);
void client_resume(struct client *c);

/* MQTT 5 will delay: the will of a connection that failed is published
 * after `delay_s`, unless the session is resumed first; if the session ends
 * sooner, it is published then (MQTT-3.1.3-9). Takes a reference. */
void session_delay_will(struct session *s, struct broker_msg *will, uint32_t delay_s);
/* The client is back: a pending will is dropped. */
void session_cancel_will(struct session *s);
/* Publish the will now (routing and retaining it). */
void broker_publish_will(struct broker *b, struct broker_msg *will);

/* Expire offline sessions whose time is up. */
void session_expire_offline(struct broker *b, int64_t now_ms);

/* ---- auth (auth.c) -------------------------------------------------------
 * READ is checked for each message handed to a session (session_deliver),
 * so live routing, retained messages and wills all pass it. In-process
 * sessions (local_fn) are trusted. */
bool broker_may_read(const struct broker *b, const struct session *s, const char *topic);
/* Free the password table, the ACL and the failed-login log (broker_free). */
void auth_free(struct broker *b);

/* ---- connections (client.c) --------------------------------------------- */

struct out_item {
    struct out_item *next;
    struct broker_msg *msg;         /* payload reference for PUBLISH, or NULL */
    size_t head_len;
    size_t sent;                    /* of head_len + payload */
    uint8_t head[];                 /* the encoded packet (without a PUBLISH's payload) */
};

struct client {
    struct client *next;            /* broker->clients or broker->dead */
    struct broker *broker;
    const struct listener *listener;
    int fd;
    char peer[64];
    int version;                    /* MQTT_V311 or MQTT_V5, once CONNECT is read */
    bool connected;                 /* CONNECT accepted */
    bool closed;
    bool closing;                      /* in client_close: a write error inside it must not close again */
    bool send_will;
    bool no_problem_info;           /* v5: the client asked for no reason strings */
    uint16_t keepalive;             /* seconds, 0 = none */
    int64_t last_rx_ms;
    uint64_t timer;
    struct session *session;
    struct broker_msg *will;        /* will message, sent on abnormal close */
    uint32_t will_delay;
    uint8_t *rbuf;
    size_t rlen, rcap;
    struct out_item *out_head, *out_tail;
    size_t out_bytes;
    bool want_write;
    bool dirty;                     /* on broker->dirty */
    struct client *dirty_next;
    bool paused;                    /* back-pressure: input not read */
    uint64_t pause_timer;
    /* memory */
    bool mem_held;                  /* paused with a PUBLISH held (broker_mem_hold) */
    bool mem_grace;                 /* the pause ran out: the held PUBLISH passes */
    /* v5 limits the client announced */
    uint32_t max_packet_out;        /* 0: none */
    uint16_t receive_max_out;       /* inflight window towards the client */
    uint16_t topic_alias_max_in;    /* what we granted */
    char **aliases_in;              /* topic alias → topic, from the client */
    uint16_t topic_alias_max_out;   /* what the client accepts from us */
    uint16_t aliases_out_used;
    struct strmap aliases_out;      /* topic → alias number we assigned */
    /* tls */
    struct ssl_st *ssl;             /* NULL on a plain listener */
    bool tls_handshaking;           /* CONNECT is not read before the handshake ends */
    bool tls_read_wants_write;      /* SSL_read needs the socket writable first */
    /* The verified client certificate's subject CN when the listener has
     * use_identity_as_username (else NULL), set before CONNECT is read;
     * owned by the client. CONNECT must use it as the username in place of
     * the one the packet carries (Mosquitto's behaviour). */
    char *tls_identity;
};

struct client *client_accept(struct broker *b, const struct listener *l, int fd,
                             const char *peer);
/* Queue an encoded packet (copied). 0, or -1 when out of memory (closes). */
int client_send(struct client *c, const uint8_t *pkt, size_t len);
/* Queue a PUBLISH of `m` (payload shared, not copied). */
int client_send_publish(struct client *c, const struct broker_msg *m, uint8_t qos, bool retain,
                        bool dup, uint16_t packet_id, const uint32_t *sub_ids, size_t n_sub_ids,
                        int64_t now_ms);
/* Handle the packets already read (after a pause). */
void client_process_buffered(struct client *c);
/* (Re)arm the keep-alive timer once CONNECT is accepted. */
void client_start_keepalive(struct client *c);
/* Close: v5 clients get DISCONNECT with `reason` first when reason != 0 and
 * the connection is established; the will is sent unless `normal`. */
void client_close(struct client *c, uint8_t reason, const char *why, bool normal);
void client_free_dead(struct broker *b);
/* Write what every client queued during this loop turn: one writev per
 * client per turn rather than one per packet. */
void client_flush_dirty(struct broker *b);

/* ---- packet handlers (handle_*.c) ---------------------------------------
 * Each returns 0, or a v5 reason code (> 0) to close the connection with. */
int handle_connect(struct client *c, const struct mqtt_connect *p);
int handle_publish(struct client *c, const struct mqtt_publish *p);
int handle_ack(struct client *c, const struct mqtt_ack *p);
int handle_subscribe(struct client *c, const struct mqtt_subscribe *p);
int handle_unsubscribe(struct client *c, const struct mqtt_unsubscribe *p);
int handle_control(struct client *c, const struct mqtt_packet *p);

/* ---- persistence (persist.c, restore helpers in session.c) ---------------
 * Loading puts records back with these, bypassing the queue limits (what was
 * accepted once stays accepted). */
struct persist;
/* packet_id 0: append q to the queue; else put it in flight under that id. */
int session_restore_msg(struct session *s, const struct queued *q, uint16_t packet_id,
                        bool released);
/* The queue's head leaves: in flight under packet_id, or dropped with 0. */
int session_restore_pop(struct session *s, uint16_t packet_id);
/* An in-flight message is released (PUBREC) or done. */
void session_restore_ack(struct session *s, uint16_t packet_id, bool released);
/* A message rebuilt from its stored form: `props` is the raw v5 property
 * block (without its length, none when props_len is 0); expiry as given
 * (loop clock) rather than recomputed. NULL when out of memory or the
 * properties do not decode. */
struct broker_msg *msg_restore(struct broker *b, const char *topic, size_t topic_len,
                               const void *payload, size_t payload_len, const uint8_t *props,
                               size_t props_len, uint8_t qos, bool retain, bool has_expiry,
                               int64_t expires_at_ms);

/* Run the broker_set_before_flush hook: before any client output leaves
 * (end of turn, a write on EPOLLOUT, a close). */
void broker_before_flush(struct broker *b);

#endif
