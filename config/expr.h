/* Point expressions: arithmetic on the raw value `x` with + - * / ( ),
 * unary minus, numbers, and min(a,b), max(a,b), abs(a), round(a). Compiled
 * once (at load) into a short postfix program that the mapping engine runs
 * per reading; no external interpreter, no allocation. */
#ifndef MQGATE_CONFIG_EXPR_H
#define MQGATE_CONFIG_EXPR_H

#include <stddef.h>

#include <stdint.h>

/* The longest program an expression may compile to. */
#define EXPR_MAX_OPS 64

enum expr_opcode {
    EXPR_CONST, EXPR_X, EXPR_NEG, EXPR_ADD, EXPR_SUB, EXPR_MUL, EXPR_DIV,
    EXPR_MIN, EXPR_MAX, EXPR_ABS, EXPR_ROUND,
};

struct expr_op {
    uint8_t code;     /* enum expr_opcode */
    double value;     /* EXPR_CONST */
};

/* Compile `text` into at most `cap` ops (EXPR_MAX_OPS is always enough for an
 * expression that compiles). Returns 0 and the op count in *n_ops, or -1 with
 * a message and the 0-based byte offset of the problem. */
int expr_compile(const char *text, struct expr_op *ops, size_t cap, size_t *n_ops,
                 char *err, size_t err_size, size_t *err_offset);

/* expr_compile without keeping the program: the load-time check. */
int expr_check(const char *text, char *err, size_t err_size, size_t *err_offset);

/* Run a compiled program with x. Returns 0 and the result, or -1 when the
 * result is not a finite number (division by zero, overflow). */
int expr_eval(const struct expr_op *ops, size_t n_ops, double x, double *out);

#endif
