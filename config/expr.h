/* Point expressions: arithmetic on the raw value `x` with + - * / ( ),
 * unary minus, numbers, and min(a,b), max(a,b), abs(a), round(a). This file
 * gives the grammar's checker used at load; evaluation is the mapping
 * engine's, over the same grammar. No external interpreter is involved. */
#ifndef MQGATE_CONFIG_EXPR_H
#define MQGATE_CONFIG_EXPR_H

#include <stddef.h>

/* 0 when `text` is a valid expression; else -1 with a message and the
 * 0-based byte offset of the problem. */
int expr_check(const char *text, char *err, size_t err_size, size_t *err_offset);

#endif
