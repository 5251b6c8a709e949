/* The gateway's data path in `mqgate run`: the drivers' events through the
 * mapping engine into the embedded broker, and commands from the broker's
 * command topics back to the drivers. One per loaded configuration; a
 * reload stops the old one and starts a new one, while the broker and its
 * clients stay. Loop thread only. */
#ifndef MQGATE_GATEWAY_PIPELINE_H
#define MQGATE_GATEWAY_PIPELINE_H

#include "config/config.h"

struct broker;
struct loop;
struct pipeline;

/* Start the drivers of `cfg` and map what they read into `broker` (NULL
 * when the embedded broker is disabled: nothing is published locally).
 * cfg, loop and broker must outlive the pipeline. 0, or -1 (logged). */
int pipeline_start(const struct config *cfg, struct loop *loop, struct broker *broker,
                   struct pipeline **out);

/* Stop the drivers (waiting for transactions in progress) and free. With
 * `final`, every device's availability becomes a retained "offline" first
 * (a clean stop; not on reload, where the devices carry on). NULL ok. */
void pipeline_stop(struct pipeline *p, bool final);

/* Whether `topic` is the command topic of one of the pipeline's writable
 * points (what the bridge's receive rules may publish to by default).
 * False for a NULL pipeline. */
bool pipeline_is_command_topic(const struct pipeline *p, const char *topic);

#endif
