/* The small MQTT client session behind `mqgate pub` and `mqgate sub`: one
 * blocking TCP connection driven with poll() and deadlines, no threads. It
 * connects, sends packets, and hands back the next packet the tool needs while
 * it answers the protocol itself (acks of received QoS 1/2 messages, PUBREL,
 * keep-alive pings, topic aliases). Errors are printed on stderr. */
#ifndef MQGATE_GATEWAY_CLI_CLIENT_H
#define MQGATE_GATEWAY_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/cli/options.h"
#include "gateway/mqtt/mqtt.h"

enum cli_result {
    CLI_PACKET = 1,        /* a packet for the caller in *out */
    CLI_TIMEOUT = 0,       /* the deadline passed */
    CLI_ERROR = -1,        /* connection lost, protocol error, broker DISCONNECT */
    CLI_INTERRUPTED = -2,  /* SIGINT or SIGTERM arrived */
    CLI_FD_READY = 2,      /* the watched descriptor is readable */
};

struct cli_client {
    const char *prog;          /* "mqgate sub", to prefix messages */
    int fd;
    int version;
    bool debug;
    char id[256];              /* for the trace; the assigned one when the broker gave it */
    int watch_fd;              /* also polled when >= 0: CLI_FD_READY */
    uint32_t keep_alive_ms;
    int64_t last_send;         /* monotonic ms */
    int64_t ping_sent;         /* 0: no PINGREQ outstanding */
    uint32_t max_in;           /* our maximum packet size (0: none) */
    uint32_t max_out;          /* the broker's (0: none) */
    uint8_t max_qos;           /* the broker's maximum QoS */
    bool retain_available;
    uint16_t broker_alias_max; /* the broker's topic alias maximum (0: none) */
    uint8_t *rbuf;
    size_t rlen, rcap, rdone;  /* bytes held, capacity, bytes of the packet last returned */
    uint8_t *wbuf;
    size_t wcap;
    uint16_t next_id;
    uint8_t out_ids[8192];     /* bit per packet id: our QoS 1/2 publish in flight */
    uint8_t in_qos2[8192];     /* bit per packet id: QoS 2 received, PUBREL awaited */
    unsigned in_qos2_count;    /* bits set in in_qos2 */
    char **aliases;            /* inbound topic aliases 1..n_aliases, owned */
    uint16_t n_aliases;
};

/* Milliseconds of the monotonic clock. */
int64_t cli_now_ms(void);

/* SIGINT and SIGTERM make blocking calls return CLI_INTERRUPTED; SIGPIPE is
 * ignored (send errors are reported instead). */
void cli_install_signals(void);
bool cli_interrupted(void);

/* Fills the CONNECT of `o` (version, client id `id`, clean start, keep
 * alive, credentials, will, connect and will properties, and in v5 a topic
 * alias maximum unless -D set one). The strings stay those of `o`. */
void cli_connect_from_options(struct mqtt_connect *c, const struct cli_options *o, const char *id);

/* Resolves host, connects (10 s bound), sends CONNECT and waits for the
 * CONNACK (10 s). On a refusal prints "PROG: connection refused: REASON".
 * Returns 0 with *session_present set, or -1 (closed, message printed).
 * The client owns its buffers until cli_client_close. */
int cli_client_open(struct cli_client *c, const char *prog, const char *host, int port,
                    const struct mqtt_connect *conn, bool debug, bool *session_present);

/* Encodes and writes one packet (tracing it with -d). A QoS > 0 PUBLISH must
 * carry an id from cli_client_new_id. 0 or -1 (message printed). */
int cli_client_send(struct cli_client *c, const struct mqtt_packet *pkt);

/* A packet id not in flight, marked in flight (the id of a PUBLISH stays so
 * until its flow ends; SUBSCRIBE and UNSUBSCRIBE ids until their ack). */
uint16_t cli_client_new_id(struct cli_client *c);

/* Waits, until `deadline` (cli_now_ms() based; -1 for none), for the next
 * packet the caller needs: a PUBLISH (acknowledged already, its topic alias
 * resolved, a repeated QoS 2 delivery dropped), SUBACK, UNSUBACK, or the end
 * of one of our QoS flows: PUBACK, PUBCOMP, or a v5 PUBREC with an error
 * reason. Sends PINGREQ when the connection has been idle for the keep
 * alive. *out points into the client's buffer until the next call. */
int cli_client_next(struct cli_client *c, int64_t deadline, struct mqtt_packet *out);

/* Publishes and, at QoS 1 and 2, waits for the end of the flow, acking what
 * else arrives meanwhile. A v5 ack with an error reason is printed and gives
 * -1, as do QoS or retain the broker refused in its CONNACK. 0 on success,
 * CLI_ERROR or CLI_INTERRUPTED. */
int cli_client_publish(struct cli_client *c, const struct mqtt_publish *pub);

/* When `graceful`: first serves the connection (up to 1 s) until received
 * QoS 2 messages have their PUBREL, then sends DISCONNECT (with `reason` and
 * `props` in v5) and waits up to 1 s for the broker to close; then closes and frees everything. Safe to call twice. */
void cli_client_close(struct cli_client *c, bool graceful, uint8_t reason,
                      const struct mqtt_props *props);

/* The text of a CONNACK code: the v5 reason name, and a 3.1.1 return code
 * (1..5) mapped to its v5 equivalent. */
const char *cli_connack_reason(int version, uint8_t code);

#endif
