/* The mapping engine: what each driver event becomes on MQTT. Readings →
 * (topic, payload, QoS, retain) by each point's resolved `publish` block
 * (conversion, report policy, payload format; `grouped` devices collected
 * into one message per poll cycle); device state → retained `online` /
 * `offline` on the availability topic; command topics → the raw value to
 * write, and the reply to publish when the write is done.
 *
 * One engine per loaded config; single-threaded (the loop's thread). It
 * never publishes itself: messages go to the caller's function, so the
 * same engine serves `mqgate run` (the broker) and `check --dry-run`. */
#ifndef MQGATE_MAPPING_MAPPING_H
#define MQGATE_MAPPING_MAPPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "drivers/reading.h"

struct mapping;

typedef void mapping_publish_fn(void *ctx, const char *topic, const void *payload, size_t len,
                                int qos, bool retain);

/* An engine for `cfg` (which must outlive it). Returns 0, or -1 with a
 * message in err. */
int mapping_new(const struct config *cfg, mapping_publish_fn *publish, void *ctx,
                struct mapping **out, char *err, size_t errlen);
void mapping_free(struct mapping *m);   /* NULL ok */

/* Map one event from the drivers. `now_ms` is CLOCK_MONOTONIC in ms (the
 * report policy's clock). Write results are matched with mapping_command's
 * requests and answered on the reply topic. */
void mapping_on_event(struct mapping *m, const struct driver_event *ev, int64_t now_ms);

/* Publish `status` ("online"/"offline") retained on every enabled device's
 * availability topic (at a clean stop: "offline"). */
void mapping_publish_all_availability(struct mapping *m, const char *status);

/* ---- commands ------------------------------------------------------------ */

/* The command topics of writable points: n filters, valid while m is. */
size_t mapping_command_topics(const struct mapping *m, const char *const **topics);

/* What a command asks for. */
struct mapping_command {
    const char *device;
    const char *point;
    struct value raw;            /* what to write */
};

/* A message on a command topic. On success returns 0 and fills cmd; on a
 * bad command returns -1 and publishes the refusal on the point's reply
 * topic itself (the device is never touched). An unknown topic returns -1
 * and publishes nothing. */
int mapping_command_parse(struct mapping *m, const char *topic, const void *payload, size_t len,
                          struct mapping_command *cmd);

/* Remember that write `id` answers the command last parsed for device /
 * point, so its WRITE_DONE event is replied on the right topic. */
void mapping_command_sent(struct mapping *m, const char *device, const char *point, uint64_t id);

/* A command that could not even be queued (drivers_write failed). */
void mapping_command_failed(struct mapping *m, const char *device, const char *point,
                            const char *why);

#endif
