/* ${VAR} substitution in configuration values, so secrets stay out of the
 * file: "${NAME}" is the variable (an error when unset), "${NAME:-text}" falls
 * back to text, "$$" is a literal dollar. */
#ifndef MQGATE_CONFIG_ENV_H
#define MQGATE_CONFIG_ENV_H

#include <stddef.h>

/* Returns 0 and a malloc'd result in *out (owned by the caller), or -1 with a
 * message in err (and *out NULL). Texts without '$' are copied as they are. */
int env_expand(const char *in, char **out, char *err, size_t err_size);

#endif
