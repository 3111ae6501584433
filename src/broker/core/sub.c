/* Subscriptions: a consumer's filter for one topic (a tag expression or SQL92), parsed once and
 * matched against each message's tags hash code. Both the client registry (heartbeats) and
 * PULL_MESSAGE (a subscription in the request) parse them, so they live in the core. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/core.h"

void br_sub_free(br_sub_t *s)
{
    free(s->codes);
    s->codes = NULL;
    fl_free(s->sql);
    s->sql = NULL;
    s->ncodes = 0;
}

/* Tag expression: "*" (or empty) = all, else tags separated by "||". */
int br_sub_parse(br_sub_t *s, const char *topic, const char *expr)
{
    memset(s, 0, sizeof *s);
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    snprintf(s->expr, sizeof s->expr, "%s", expr ? expr : "*");
    if (!expr || !*expr || strcmp(expr, "*") == 0) {
        s->all = 1;
        return 0;
    }
    const char *p = expr;
    while (*p) {
        const char *e = strstr(p, "||");
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && (*p == ' ' || *p == '\t')) { p++; n--; }
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
        if (n) {
            int64_t *c = realloc(s->codes, (s->ncodes + 1) * sizeof *c);
            if (!c)
                return CM_ENOMEM;
            s->codes = c;
            s->codes[s->ncodes++] = cm_java_hash(p, n);
        }
        if (!e)
            break;
        p = e + 2;
    }
    if (s->ncodes == 0)
        s->all = 1;
    return 0;
}

int br_sub_parse_typed(br_sub_t *s, const char *topic, const char *expr, const char *type, char *err, size_t errlen)
{
    if (!type || strcmp(type, "TAG") == 0)
        return br_sub_parse(s, topic, expr);
    memset(s, 0, sizeof *s);
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    snprintf(s->expr, sizeof s->expr, "%s", expr ? expr : "");
    if (strcmp(type, "SQL92") != 0) {
        snprintf(err, errlen, "unknown expressionType %s", type);
        return -1;
    }
    s->isSql = 1;
    return fl_compile(expr, &s->sql, err, errlen);
}

int br_sub_match(const br_sub_t *s, int64_t tagsCode)
{
    if (s->all)
        return 1;
    for (size_t i = 0; i < s->ncodes; i++)
        if (s->codes[i] == tagsCode)
            return 1;
    return 0;
}
