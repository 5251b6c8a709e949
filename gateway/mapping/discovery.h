/* Home Assistant MQTT discovery: one retained config message per point
 * (an entity of its device, reading the topic the mapping engine publishes
 * it on), and one for the gateway itself (a connectivity binary_sensor on
 * its status topic: the device the others name as `via_device`). Built from
 * the loaded config alone; pure but for the caller's publish function and a
 * log line per message that does not fit. */
#ifndef MQGATE_MAPPING_DISCOVERY_H
#define MQGATE_MAPPING_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/* Largest topic and payload discovery_publish builds; longer ones are
 * logged and skipped. */
#define DISCOVERY_TOPIC_MAX 1024
#define DISCOVERY_PAYLOAD_MAX 16384

typedef void discovery_publish_fn(void *ctx, const char *topic, const void *payload, size_t len,
                                  int qos, bool retain);

/* What a point becomes, from its config:
 *  - an enum map: `select` when writable (its labels as options), else a
 *    text `sensor`;
 *  - a bool: `switch` when writable, else `binary_sensor`;
 *  - string/raw: `text` when writable, else a text `sensor`;
 *  - a number: `number` when writable and its mapping can be inverted
 *    (scale/offset, an affine expression), else a numeric `sensor`.
 * Topic: <prefix>/<component>/<gateway>_<device>/<point>/config, names
 * cut to [a-zA-Z0-9_-] (any other character, a UTF-8 one included, becomes
 * one `_`; so "a b" and "a_b" collide: keep names plain). unique_id is
 * "<gateway>_<device>_<point>" of the same cut names, default_entity_id
 * "<component>.<that, lowercased, runs of _ joined>" (HA ≥ 2025.10
 * replaced `object_id` by it; `object_id` is not sent).
 * The state topic and value_template follow the point's `payload`:
 * `value` as is (numeric entities map text that is not a number, the error
 * of a bad reading, to None: unknown); `json` → value_json.value (needs
 * `value` in json_fields); `grouped` → the device's topic and
 * value_json.get('<point>'); `template` → the text around {value} cut off,
 * when the template has {value} once and otherwise only the point's own
 * names (no raw/timestamp/quality/error). Bools read from JSON render as
 * Python's True/False, so those are their state payloads; commands are
 * "true"/"false". Device class: the point's `device_class`, else guessed
 * from the unit for numeric entities (V/mV/kV voltage, A/mA current,
 * mW/W/kW/MW power, Wh/kWh/MWh energy, Hz/kHz frequency, °C/°F/K
 * temperature, Pa/kPa/hPa/bar/mbar/psi pressure, VA apparent_power, var
 * reactive_power, km/h m/s speed, dBm signal_strength, µg/m³ pm25/pm10/pm1
 * by "pm2"/"25", "pm10", "pm1" in the point's name; % and the rest: none).
 * Numeric sensors get state_class total_increasing (energy, gas, water),
 * total (monetary), none (date, timestamp, enum) or measurement. Entities
 * are available while both the device's availability topic and the
 * gateway's status topic say "online". */

/* One point's config message: topic and JSON payload into the caller's
 * buffers (always NUL-terminated when their size > 0). Returns 0; 1 when
 * the point has no entity (its readings are not published in a form Home
 * Assistant can read: `json` without `value`, a `template` that is not
 * text around one {value}, a `grouped` point of a device that is not
 * grouped); -1 when it does not fit (or memory ran out). Unless 0, topic
 * and payload are "". Does not look at `enabled` flags. */
int discovery_message(const struct config *cfg, const struct cfg_device *dev,
                      const struct cfg_point *pt, char *topic, size_t topic_len, char *payload,
                      size_t payload_len);

/* The gateway's own config message (binary_sensor, device_class
 * connectivity, on gateway.status_topic). Returns as discovery_message;
 * 1 when the status topic is empty. */
int discovery_gateway_message(const struct config *cfg, char *topic, size_t topic_len,
                              char *payload, size_t payload_len);

/* When cfg->homeassistant.enabled: publish the gateway's message and those
 * of every point of every enabled device, each retained with QoS 1, through
 * `publish` (called synchronously; it copies what it keeps). Returns the
 * number published (0 when disabled), or -1 when one did not fit or memory
 * ran out (logged; the others are still sent). Single-threaded: call from
 * the loop, e.g. at start and whenever Home Assistant's birth message
 * (<prefix>/status "online") arrives. */
int discovery_publish(const struct config *cfg, discovery_publish_fn *publish, void *ctx);

#endif
