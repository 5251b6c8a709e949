/* `mqgate check --dry-run`: the exact messages a configuration produces,
 * computed by the real mapping engine from sample readings (no device, no
 * broker): every point's topic and payload, a failed read, availability,
 * and the command topics of writable points. */
#ifndef MQGATE_GATEWAY_DRY_RUN_H
#define MQGATE_GATEWAY_DRY_RUN_H

#include <stdio.h>

#include "config/config.h"

/* Print them to `out`. 0, or -1 (a message on stderr). */
int dry_run_print(const struct config *cfg, FILE *out);

#endif
