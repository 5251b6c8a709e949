/* The configuration reference, generated from the key tables: every key with
 * its type, default, range, description and example, as Markdown. It is
 * `mqgate help config`, and the reference part of config/README.md. */
#ifndef MQGATE_CONFIG_DOC_H
#define MQGATE_CONFIG_DOC_H

#include <stdio.h>

void config_doc_write(FILE *out);

#endif
