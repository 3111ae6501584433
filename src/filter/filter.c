/* filter.c: a recursive-descent parser for RocketMQ's SQL92 subset into a small tree of
 * nodes in one array, and its three-valued evaluation against message properties.
 *   or      := and (OR and)*
 *   and     := not (AND not)*
 *   not     := NOT not | pred
 *   pred    := operand [ cmpop operand | [NOT] BETWEEN operand AND operand
 *                      | [NOT] IN '(' literal (',' literal)* ')' | IS [NOT] NULL ]
 *   operand := '(' or ')' | identifier | 'string' | number | TRUE | FALSE */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filter/filter.h"

enum { N_OR, N_AND, N_NOT, N_CMP, N_BETWEEN, N_IN, N_ISNULL, N_IDENT, N_STR, N_NUM, N_BOOL };
enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
enum { T_FALSE = 0, T_TRUE = 1, T_UNKNOWN = 2 };

typedef struct node {
    int kind;
    int op;                     /* N_CMP: OP_*; N_BETWEEN/N_IN/N_ISNULL: negated */
    int a, b, c;                /* children (node indexes) */
    int first, count;           /* N_IN: literal nodes [first, first+count) in `list` */
    const char *s;              /* N_IDENT / N_STR: into the text copy */
    size_t slen;
    double num;
    int boolean;
} node_t;

struct fl_expr {
    node_t *nodes;
    int n, root;
    int *list;                  /* IN literal node indexes */
    int nlist;
    char *text;                 /* unescaped strings and identifiers point here */
};

/* ---- lexer ------------------------------------------------------------------------------- */

enum { K_EOF, K_IDENT, K_STR, K_NUM, K_LP, K_RP, K_COMMA, K_OP, K_AND, K_OR, K_NOT, K_BETWEEN, K_IN,
       K_IS, K_NULL, K_TRUE, K_FALSE };

typedef struct parser {
    const char *src;
    char *buf;                  /* writable copy: strings are unescaped in place */
    size_t pos;
    int tok, op;
    const char *ts;             /* token text (into buf) */
    size_t tl;
    double num;
    fl_expr_t *e;
    int depth;
    char *err;
    size_t errlen;
    int failed;
} parser_t;

static void fail(parser_t *p, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = 1;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s at column %zu", msg, p->pos + 1);
}

static int keyword(const char *s, size_t n)
{
    static const struct { const char *w; int k; } kw[] = {
        {"AND", K_AND}, {"OR", K_OR}, {"NOT", K_NOT}, {"BETWEEN", K_BETWEEN}, {"IN", K_IN},
        {"IS", K_IS}, {"NULL", K_NULL}, {"TRUE", K_TRUE}, {"FALSE", K_FALSE},
    };
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (strlen(kw[i].w) == n && strncasecmp(kw[i].w, s, n) == 0)
            return kw[i].k;
    return K_IDENT;
}

static void next(parser_t *p)
{
    char *s = p->buf;
    while (isspace((unsigned char)s[p->pos]))
        p->pos++;
    size_t st = p->pos;
    char c = s[st];
    p->ts = s + st;
    p->tl = 0;
    if (!c) {
        p->tok = K_EOF;
        return;
    }
    if (c == '(' || c == ')' || c == ',') {
        p->tok = c == '(' ? K_LP : c == ')' ? K_RP : K_COMMA;
        p->pos++;
        return;
    }
    if (c == '=' || c == '<' || c == '>' || c == '!') {
        char d = s[st + 1];
        p->tok = K_OP;
        p->pos += 2;
        if (c == '=' ) { p->op = OP_EQ; p->pos--; }
        else if (c == '<' && d == '>') p->op = OP_NE;
        else if (c == '!' && d == '=') p->op = OP_NE;
        else if (c == '<' && d == '=') p->op = OP_LE;
        else if (c == '>' && d == '=') p->op = OP_GE;
        else if (c == '<') { p->op = OP_LT; p->pos--; }
        else if (c == '>') { p->op = OP_GT; p->pos--; }
        else { p->pos--; fail(p, "unexpected '!'"); p->tok = K_EOF; }
        return;
    }
    if (c == '\'') { /* 'it''s' -> it's, unescaped in place */
        size_t r = st + 1, w = st + 1;
        for (;;) {
            if (!s[r]) {
                fail(p, "unterminated string");
                p->tok = K_EOF;
                return;
            }
            if (s[r] == '\'') {
                if (s[r + 1] == '\'') {
                    s[w++] = '\'';
                    r += 2;
                    continue;
                }
                break;
            }
            s[w++] = s[r++];
        }
        p->ts = s + st + 1;
        p->tl = w - st - 1;
        p->pos = r + 1;
        p->tok = K_STR;
        return;
    }
    if (isdigit((unsigned char)c) || ((c == '-' || c == '+' || c == '.') && (isdigit((unsigned char)s[st + 1]) || s[st + 1] == '.'))) {
        char *end;
        errno = 0;
        p->num = strtod(s + st, &end);
        if (end == s + st || errno == ERANGE || !isfinite(p->num)) {
            fail(p, "bad number");
            p->tok = K_EOF;
            return;
        }
        /* RocketMQ accepts a trailing L on longs */
        if (*end == 'L' || *end == 'l')
            end++;
        p->pos = (size_t)(end - s);
        p->tok = K_NUM;
        return;
    }
    if (isalpha((unsigned char)c) || c == '_' || c == '$') {
        size_t e = st;
        while (isalnum((unsigned char)s[e]) || s[e] == '_' || s[e] == '$' || s[e] == '.')
            e++;
        p->tl = e - st;
        p->pos = e;
        p->tok = keyword(s + st, p->tl);
        return;
    }
    fail(p, "unexpected character '%c'", c);
    p->tok = K_EOF;
}

/* ---- parser ------------------------------------------------------------------------------ */

static int add(parser_t *p, node_t n)
{
    if (p->failed)
        return -1;
    if (p->e->n >= FL_MAX_NODES) {
        fail(p, "expression too large");
        return -1;
    }
    p->e->nodes[p->e->n] = n;
    return p->e->n++;
}

static int parse_or(parser_t *p);

static int literal(parser_t *p)
{
    node_t n = {0};
    switch (p->tok) {
    case K_STR: n.kind = N_STR; n.s = p->ts; n.slen = p->tl; break;
    case K_NUM: n.kind = N_NUM; n.num = p->num; break;
    case K_TRUE: case K_FALSE: n.kind = N_BOOL; n.boolean = p->tok == K_TRUE; break;
    default: fail(p, "expected a literal"); return -1;
    }
    next(p);
    return add(p, n);
}

static int operand(parser_t *p)
{
    if (p->tok == K_LP) {
        if (++p->depth > FL_MAX_DEPTH) {
            fail(p, "expression nested too deeply");
            return -1;
        }
        next(p);
        int i = parse_or(p);
        if (p->tok != K_RP)
            fail(p, "expected ')'");
        next(p);
        p->depth--;
        return i;
    }
    if (p->tok == K_IDENT) {
        node_t n = {.kind = N_IDENT, .s = p->ts, .slen = p->tl};
        next(p);
        return add(p, n);
    }
    return literal(p);
}

static int parse_in(parser_t *p, int lhs, int negated)
{
    if (p->tok != K_LP) {
        fail(p, "expected '(' after IN");
        return -1;
    }
    next(p);
    node_t n = {.kind = N_IN, .op = negated, .a = lhs, .first = p->e->nlist};
    for (;;) {
        int l = literal(p);
        if (l < 0)
            return -1;
        if (p->e->nlist >= FL_MAX_NODES) {
            fail(p, "IN list too long");
            return -1;
        }
        p->e->list[p->e->nlist++] = l;
        n.count++;
        if (p->tok == K_COMMA) {
            next(p);
            continue;
        }
        if (p->tok != K_RP) {
            fail(p, "expected ',' or ')' in IN list");
            return -1;
        }
        next(p);
        return add(p, n);
    }
}

static int predicate(parser_t *p)
{
    int lhs = operand(p);
    if (lhs < 0)
        return -1;
    if (p->tok == K_OP) {
        node_t n = {.kind = N_CMP, .op = p->op, .a = lhs};
        next(p);
        n.b = operand(p);
        return n.b < 0 ? -1 : add(p, n);
    }
    int negated = 0;
    if (p->tok == K_NOT) {
        negated = 1;
        next(p);
        if (p->tok != K_BETWEEN && p->tok != K_IN) {
            fail(p, "expected BETWEEN or IN after NOT");
            return -1;
        }
    }
    if (p->tok == K_BETWEEN) {
        node_t n = {.kind = N_BETWEEN, .op = negated, .a = lhs};
        next(p);
        n.b = operand(p);
        if (p->tok != K_AND) {
            fail(p, "expected AND in BETWEEN");
            return -1;
        }
        next(p);
        n.c = operand(p);
        return n.b < 0 || n.c < 0 ? -1 : add(p, n);
    }
    if (p->tok == K_IN) {
        next(p);
        return parse_in(p, lhs, negated);
    }
    if (p->tok == K_IS) {
        node_t n = {.kind = N_ISNULL, .a = lhs};
        next(p);
        if (p->tok == K_NOT) {
            n.op = 1;
            next(p);
        }
        if (p->tok != K_NULL) {
            fail(p, "expected NULL after IS");
            return -1;
        }
        next(p);
        return add(p, n);
    }
    return lhs;
}

static int parse_not(parser_t *p)
{
    if (p->tok == K_NOT) {
        if (++p->depth > FL_MAX_DEPTH) {
            fail(p, "expression nested too deeply");
            return -1;
        }
        next(p);
        node_t n = {.kind = N_NOT};
        n.a = parse_not(p);
        p->depth--;
        return n.a < 0 ? -1 : add(p, n);
    }
    return predicate(p);
}

static int parse_and(parser_t *p)
{
    int l = parse_not(p);
    while (l >= 0 && p->tok == K_AND) {
        next(p);
        node_t n = {.kind = N_AND, .a = l};
        n.b = parse_not(p);
        l = n.b < 0 ? -1 : add(p, n);
    }
    return l;
}

static int parse_or(parser_t *p)
{
    int l = parse_and(p);
    while (l >= 0 && p->tok == K_OR) {
        next(p);
        node_t n = {.kind = N_OR, .a = l};
        n.b = parse_and(p);
        l = n.b < 0 ? -1 : add(p, n);
    }
    return l;
}

/* The whole expression must be a condition, not a bare operand ("a" or "'x'" alone). */
static int is_condition(const fl_expr_t *e, int i)
{
    int k = e->nodes[i].kind;
    return k != N_IDENT && k != N_STR && k != N_NUM;
}

void fl_free(fl_expr_t *e)
{
    if (!e)
        return;
    free(e->nodes);
    free(e->list);
    free(e->text);
    free(e);
}

int fl_compile(const char *sql, fl_expr_t **out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    *out = NULL;
    if (!sql || !*sql) {
        snprintf(err, errlen, "empty expression");
        return -1;
    }
    if (strlen(sql) > FL_MAX_LEN) {
        snprintf(err, errlen, "expression longer than %d characters", FL_MAX_LEN);
        return -1;
    }
    fl_expr_t *e = calloc(1, sizeof *e);
    if (!e || !(e->nodes = calloc(FL_MAX_NODES, sizeof *e->nodes)) ||
        !(e->list = calloc(FL_MAX_NODES, sizeof *e->list)) || !(e->text = strdup(sql))) {
        fl_free(e);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    parser_t p = {.src = sql, .buf = e->text, .e = e, .err = err, .errlen = errlen};
    next(&p);
    e->root = parse_or(&p);
    if (!p.failed && p.tok != K_EOF)
        fail(&p, "unexpected text after the expression");
    if (!p.failed && (e->root < 0 || !is_condition(e, e->root)))
        fail(&p, "the expression is not a condition");
    if (p.failed || e->root < 0) {
        fl_free(e);
        return -1;
    }
    *out = e;
    return 0;
}

/* ---- evaluation ------------------------------------------------------------------------------ */

typedef struct val {
    int kind;                   /* N_STR, N_NUM, N_BOOL, or -1 = null */
    const char *s;
    size_t slen;
    double num;
    int boolean;
} val_t;

typedef struct ctx { const fl_expr_t *e; fl_lookup_fn lookup; void *arg; } ctx_t;

static val_t value(const ctx_t *x, int i)
{
    const node_t *n = &x->e->nodes[i];
    val_t v = {.kind = -1};
    switch (n->kind) {
    case N_STR: v.kind = N_STR; v.s = n->s; v.slen = n->slen; break;
    case N_NUM: v.kind = N_NUM; v.num = n->num; break;
    case N_BOOL: v.kind = N_BOOL; v.boolean = n->boolean; break;
    case N_IDENT: {
        char name[256];
        size_t l = n->slen < sizeof name ? n->slen : sizeof name - 1;
        memcpy(name, n->s, l);
        name[l] = 0;
        size_t vl = 0;
        const char *s = x->lookup(x->arg, name, &vl);
        if (s) {
            v.kind = N_STR;
            v.s = s;
            v.slen = vl;
        }
        break;
    }
    default: break;
    }
    return v;
}

/* A property string as a number, for comparison with a numeric literal. */
static int as_num(const val_t *v, double *out)
{
    if (v->kind == N_NUM) {
        *out = v->num;
        return 0;
    }
    if (v->kind != N_STR || v->slen == 0 || v->slen > 63)
        return -1;
    char buf[64], *end;
    memcpy(buf, v->s, v->slen);
    buf[v->slen] = 0;
    *out = strtod(buf, &end);
    if (*end == 'L' || *end == 'l')
        end++;
    return *end == 0 && end != buf ? 0 : -1;
}

/* -2 = incomparable (unknown); else <0, 0, >0 */
static int compare(const val_t *l, const val_t *r)
{
    if (l->kind < 0 || r->kind < 0)
        return -2;
    if (l->kind == N_NUM || r->kind == N_NUM) {
        double a, b;
        if (as_num(l, &a) || as_num(r, &b))
            return -2;
        return a < b ? -1 : a > b;
    }
    if (l->kind == N_BOOL || r->kind == N_BOOL) {
        int a = l->kind == N_BOOL ? l->boolean : (l->slen == 4 && !strncasecmp(l->s, "true", 4));
        int b = r->kind == N_BOOL ? r->boolean : (r->slen == 4 && !strncasecmp(r->s, "true", 4));
        return a - b;
    }
    size_t m = l->slen < r->slen ? l->slen : r->slen;
    int c = memcmp(l->s, r->s, m);
    if (c)
        return c < 0 ? -1 : 1;
    return l->slen < r->slen ? -1 : l->slen > r->slen;
}

static int tnot(int t) { return t == T_UNKNOWN ? T_UNKNOWN : !t; }

static int eval(const ctx_t *x, int i)
{
    const node_t *n = &x->e->nodes[i];
    switch (n->kind) {
    case N_OR: {
        int a = eval(x, n->a);
        if (a == T_TRUE)
            return T_TRUE;
        int b = eval(x, n->b);
        return b == T_TRUE ? T_TRUE : (a == T_UNKNOWN || b == T_UNKNOWN) ? T_UNKNOWN : T_FALSE;
    }
    case N_AND: {
        int a = eval(x, n->a);
        if (a == T_FALSE)
            return T_FALSE;
        int b = eval(x, n->b);
        return b == T_FALSE ? T_FALSE : (a == T_UNKNOWN || b == T_UNKNOWN) ? T_UNKNOWN : T_TRUE;
    }
    case N_NOT:
        return tnot(eval(x, n->a));
    case N_CMP: {
        val_t l = value(x, n->a), r = value(x, n->b);
        int c = compare(&l, &r);
        if (c == -2)
            return T_UNKNOWN;
        switch (n->op) {
        case OP_EQ: return c == 0;
        case OP_NE: return c != 0;
        case OP_LT: return c < 0;
        case OP_LE: return c <= 0;
        case OP_GT: return c > 0;
        default: return c >= 0;
        }
    }
    case N_BETWEEN: {
        val_t v = value(x, n->a), lo = value(x, n->b), hi = value(x, n->c);
        int a = compare(&v, &lo), b = compare(&v, &hi);
        if (a == -2 || b == -2)
            return T_UNKNOWN;
        int in = a >= 0 && b <= 0;
        return n->op ? !in : in;
    }
    case N_IN: {
        val_t v = value(x, n->a);
        if (v.kind < 0)
            return T_UNKNOWN;
        int found = 0;
        for (int k = 0; k < n->count && !found; k++) {
            val_t lit = value(x, x->e->list[n->first + k]);
            found = compare(&v, &lit) == 0;
        }
        return n->op ? !found : found;
    }
    case N_ISNULL: {
        int isnull = value(x, n->a).kind < 0;
        return n->op ? !isnull : isnull;
    }
    case N_BOOL:
        return n->boolean;
    case N_IDENT: { /* a bare property used as a condition: 'true' is true */
        val_t v = value(x, i);
        if (v.kind < 0)
            return T_UNKNOWN;
        return v.slen == 4 && !strncasecmp(v.s, "true", 4);
    }
    default:
        return T_UNKNOWN;
    }
}

int fl_eval(const fl_expr_t *e, fl_lookup_fn lookup, void *arg)
{
    ctx_t x = {e, lookup, arg};
    return e && eval(&x, e->root) == T_TRUE;
}
