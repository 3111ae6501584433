/* filter: RocketMQ's SQL92 message filter (store spec §7.7), for subscriptions with
 * expressionType SQL92 when the broker has enablePropertyFilter=true.
 * The subset RocketMQ supports: comparisons (=, <>, <, <=, >, >=) on numbers and strings,
 * [NOT] BETWEEN a AND b, [NOT] IN ('a', 'b'), IS [NOT] NULL, AND / OR / NOT, TRUE / FALSE,
 * 'string' literals ('' for a quote), integer and decimal literals, parentheses. Identifiers are
 * message property names (TAGS included). A comparison with a missing property is unknown, and
 * unknown never matches (SQL three-valued logic, as RocketMQ). A property compared with a
 * number matches only if its value reads as a number.
 * Compiled expressions are immutable: any thread may evaluate one. Bounded: at most
 * FL_MAX_LEN characters, FL_MAX_NODES nodes, nesting FL_MAX_DEPTH. */
#ifndef LOULAN_FILTER_H
#define LOULAN_FILTER_H

#include <stddef.h>

#define FL_MAX_LEN 4096
#define FL_MAX_NODES 1024
#define FL_MAX_DEPTH 64

typedef struct fl_expr fl_expr_t;

/* Compile sql. 0 and *out on success; -1 with a one-line reason in err (e.g.
 * "expected ')' at column 17") for a bad expression. */
int fl_compile(const char *sql, fl_expr_t **out, char *err, size_t errlen);
void fl_free(fl_expr_t *e);

/* The value of a property (not NUL-terminated; *len set), or NULL if the message has none. */
typedef const char *(*fl_lookup_fn)(void *arg, const char *name, size_t *len);

/* 1 if the message matches, 0 if not (false or unknown). */
int fl_eval(const fl_expr_t *e, fl_lookup_fn lookup, void *arg);

#endif
