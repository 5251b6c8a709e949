/* How `mqgate sub` prints a received message: the payload, "topic payload"
 * (-v), or a -F format string in mosquitto_sub's language (%t %p %q %r %m %l
 * %x %X %I %U %j, the v5 properties %P %R %D %C %E %F %S %A, @ strftime
 * sequences, \ escapes, flags, width and precision). Pure: writes to a FILE. */
#ifndef MQGATE_GATEWAY_CLI_FORMAT_H
#define MQGATE_GATEWAY_CLI_FORMAT_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "gateway/mqtt/mqtt.h"

/* Writes `msg`, received at wall-clock time `when`, as `fmt` says (see the
 * header comment and mosquitto_sub(1), "OUTPUT FORMAT"). Properties that are
 * absent print nothing; unknown sequences print as they are. No newline is
 * added. */
void cli_format_message(FILE *out, const char *fmt, const struct mqtt_publish *msg,
                        const struct timespec *when);

/* The whole output of one message: with `fmt` as above, else "topic payload"
 * when `verbose` ("topic (null)" for an empty payload, as mosquitto_sub), else
 * the payload; then a newline unless `no_eol`. */
void cli_print_message(FILE *out, const char *fmt, bool verbose, bool no_eol,
                       const struct mqtt_publish *msg, const struct timespec *when);

#endif
