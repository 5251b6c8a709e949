/* Recursive-descent checker for point expressions (grammar in expr.h):
 *   expr := term (('+'|'-') term)*     term := unary (('*'|'/') unary)*
 *   unary := '-' unary | primary       primary := number | 'x' | '(' expr ')' | call */
#include "config/expr.h"

#include <ctype.h>
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

static int parse_expr(struct parser *p);

static const struct { const char *name; int args; } functions[] = {
    { "min", 2 }, { "max", 2 }, { "abs", 1 }, { "round", 1 },
};

static int parse_call(struct parser *p, size_t name_len)
{
    const char *name = p->s + p->i;
    int args = -1;
    for (size_t f = 0; f < sizeof(functions) / sizeof(functions[0]); f++)
        if (strlen(functions[f].name) == name_len && strncmp(functions[f].name, name, name_len) == 0)
            args = functions[f].args;
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
    return 0;
}

static int parse_primary(struct parser *p)
{
    skip_space(p);
    char c = p->s[p->i];
    if (isdigit((unsigned char)c) || c == '.') {
        char *end;
        strtod(p->s + p->i, &end);
        if (end == p->s + p->i)
            return fail(p, "malformed number");
        p->i = (size_t)(end - p->s);
        return 0;
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
            return 0;
        }
        return parse_call(p, len);
    }
    return fail(p, c ? "expected a number, 'x' or '('" : "unexpected end of expression");
}

static int parse_unary(struct parser *p)
{
    skip_space(p);
    if (p->s[p->i] == '-' || p->s[p->i] == '+') {
        p->i++;
        if (++p->depth > EXPR_MAX_DEPTH)
            return fail(p, "expression nested too deeply");
        int rc = parse_unary(p);
        p->depth--;
        return rc;
    }
    return parse_primary(p);
}

static int parse_term(struct parser *p)
{
    if (parse_unary(p))
        return -1;
    for (;;) {
        skip_space(p);
        if (p->s[p->i] != '*' && p->s[p->i] != '/')
            return 0;
        p->i++;
        if (parse_unary(p))
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
        if (p->s[p->i] != '+' && p->s[p->i] != '-')
            break;
        p->i++;
        if (parse_term(p))
            return -1;
    }
    p->depth--;
    return 0;
}

int expr_check(const char *text, char *err, size_t err_size, size_t *err_offset)
{
    struct parser p = { .s = text };
    if (parse_expr(&p) == 0) {
        skip_space(&p);
        if (p.s[p.i] == '\0')
            return 0;
        fail(&p, "unexpected text after the expression");
    }
    snprintf(err, err_size, "%s", p.error);
    if (err_offset)
        *err_offset = p.error_at;
    return -1;
}
