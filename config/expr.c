/* Recursive-descent compiler and postfix evaluator for point expressions
 * (grammar in expr.h):
 *   expr := term (('+'|'-') term)*     term := unary (('*'|'/') unary)*
 *   unary := '-' unary | primary       primary := number | 'x' | '(' expr ')' | call */
#include "config/expr.h"

#include <ctype.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPR_MAX_DEPTH 32

struct parser {
    const char *s;
    size_t i;
    int depth;
    const char *error;
    size_t error_at;
    struct expr_op *ops;
    size_t n_ops, cap;
};

static void skip_space(struct parser *p)
{
    while (isspace((unsigned char)p->s[p->i]))
        p->i++;
}

static int fail(struct parser *p, const char *msg)
{
    if (!p->error) {
        p->error = msg;
        p->error_at = p->i;
    }
    return -1;
}

static int emit(struct parser *p, enum expr_opcode code, double value)
{
    if (p->n_ops == p->cap)
        return fail(p, "expression too long");
    p->ops[p->n_ops++] = (struct expr_op){ (uint8_t)code, value };
    return 0;
}

static int parse_expr(struct parser *p);

static const struct { const char *name; int args; enum expr_opcode code; } functions[] = {
    { "min", 2, EXPR_MIN }, { "max", 2, EXPR_MAX }, { "abs", 1, EXPR_ABS },
    { "round", 1, EXPR_ROUND },
};

static int parse_call(struct parser *p, size_t name_len)
{
    const char *name = p->s + p->i;
    int args = -1;
    enum expr_opcode code = EXPR_ABS;
    for (size_t f = 0; f < sizeof(functions) / sizeof(functions[0]); f++) {
        if (strlen(functions[f].name) == name_len && strncmp(functions[f].name, name, name_len) == 0) {
            args = functions[f].args;
            code = functions[f].code;
        }
    }
    if (args < 0)
        return fail(p, "unknown name (use x, numbers, min, max, abs, round)");
    p->i += name_len;
    skip_space(p);
    if (p->s[p->i] != '(')
        return fail(p, "expected '(' after a function name");
    p->i++;
    for (int a = 0; a < args; a++) {
        if (a > 0) {
            skip_space(p);
            if (p->s[p->i] != ',')
                return fail(p, "expected ',' between arguments");
            p->i++;
        }
        if (parse_expr(p))
            return -1;
    }
    skip_space(p);
    if (p->s[p->i] != ')')
        return fail(p, args == 2 ? "expected ')' after two arguments" : "expected ')' after one argument");
    p->i++;
    return emit(p, code, 0);
}

static int parse_primary(struct parser *p)
{
    skip_space(p);
    char c = p->s[p->i];
    if (isdigit((unsigned char)c) || c == '.') {
        char *end;
        double v = strtod(p->s + p->i, &end);
        if (end == p->s + p->i || !isfinite(v))
            return fail(p, "malformed number");
        p->i = (size_t)(end - p->s);
        return emit(p, EXPR_CONST, v);
    }
    if (c == '(') {
        p->i++;
        if (parse_expr(p))
            return -1;
        skip_space(p);
        if (p->s[p->i] != ')')
            return fail(p, "expected ')'");
        p->i++;
        return 0;
    }
    if (isalpha((unsigned char)c)) {
        size_t len = 0;
        while (isalnum((unsigned char)p->s[p->i + len]) || p->s[p->i + len] == '_')
            len++;
        if (len == 1 && c == 'x') {
            p->i++;
            return emit(p, EXPR_X, 0);
        }
        return parse_call(p, len);
    }
    return fail(p, c ? "expected a number, 'x' or '('" : "unexpected end of expression");
}

static int parse_unary(struct parser *p)
{
    skip_space(p);
    if (p->s[p->i] == '-' || p->s[p->i] == '+') {
        bool negate = p->s[p->i] == '-';
        p->i++;
        if (++p->depth > EXPR_MAX_DEPTH)
            return fail(p, "expression nested too deeply");
        int rc = parse_unary(p);
        p->depth--;
        return rc == 0 && negate ? emit(p, EXPR_NEG, 0) : rc;
    }
    return parse_primary(p);
}

static int parse_term(struct parser *p)
{
    if (parse_unary(p))
        return -1;
    for (;;) {
        skip_space(p);
        char op = p->s[p->i];
        if (op != '*' && op != '/')
            return 0;
        p->i++;
        if (parse_unary(p) || emit(p, op == '*' ? EXPR_MUL : EXPR_DIV, 0))
            return -1;
    }
}

static int parse_expr(struct parser *p)
{
    if (++p->depth > EXPR_MAX_DEPTH)
        return fail(p, "expression nested too deeply");
    if (parse_term(p))
        return -1;
    for (;;) {
        skip_space(p);
        char op = p->s[p->i];
        if (op != '+' && op != '-')
            break;
        p->i++;
        if (parse_term(p) || emit(p, op == '+' ? EXPR_ADD : EXPR_SUB, 0))
            return -1;
    }
    p->depth--;
    return 0;
}

int expr_compile(const char *text, struct expr_op *ops, size_t cap, size_t *n_ops,
                 char *err, size_t err_size, size_t *err_offset)
{
    struct parser p = { .s = text, .ops = ops, .cap = cap };
    if (parse_expr(&p) == 0) {
        skip_space(&p);
        if (p.s[p.i] == '\0') {
            *n_ops = p.n_ops;
            return 0;
        }
        fail(&p, "unexpected text after the expression");
    }
    snprintf(err, err_size, "%s", p.error);
    if (err_offset)
        *err_offset = p.error_at;
    return -1;
}

int expr_check(const char *text, char *err, size_t err_size, size_t *err_offset)
{
    struct expr_op ops[EXPR_MAX_OPS];
    size_t n;
    return expr_compile(text, ops, EXPR_MAX_OPS, &n, err, err_size, err_offset);
}

/* Each binary op pops two and pushes one, so the stack never holds more
 * values than the program has ops. */
int expr_eval(const struct expr_op *ops, size_t n_ops, double x, double *out)
{
    double stack[EXPR_MAX_OPS];
    size_t top = 0;
    for (size_t i = 0; i < n_ops; i++) {
        const struct expr_op *op = &ops[i];
        bool binary = op->code >= EXPR_ADD && op->code <= EXPR_MAX;
        if ((binary && top < 2) || (op->code >= EXPR_NEG && top < 1) || top == EXPR_MAX_OPS)
            return -1; /* not a program expr_compile made */
        double b = top ? stack[top - 1] : 0, a = top > 1 ? stack[top - 2] : 0;
        switch (op->code) {
        case EXPR_CONST: stack[top++] = op->value; continue;
        case EXPR_X: stack[top++] = x; continue;
        case EXPR_NEG: stack[top - 1] = -b; continue;
        case EXPR_ABS: stack[top - 1] = fabs(b); continue;
        case EXPR_ROUND: stack[top - 1] = round(b); continue;
        case EXPR_ADD: a = a + b; break;
        case EXPR_SUB: a = a - b; break;
        case EXPR_MUL: a = a * b; break;
        case EXPR_DIV: a = a / b; break;
        case EXPR_MIN: a = a < b ? a : b; break;
        case EXPR_MAX: a = a > b ? a : b; break;
        default: return -1;
        }
        stack[--top - 1] = a;
    }
    if (top != 1 || !isfinite(stack[0]))
        return -1;
    *out = stack[0];
    return 0;
}
