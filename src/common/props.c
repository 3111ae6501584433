/* Java .properties reader (the format of RocketMQ's broker.conf / namesrv.conf) and strict
 * number parsing for config and header values, so a typo is a clear error and not a silent 0. */
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *trim(const char *s, const char *e, size_t *n)
{
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    *n = (size_t)(e - s);
    return s;
}

int cm_props_set(cm_props_t *p, const char *key, const char *val)
{
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->items[i].key, key) == 0) {
            char *v = cm_strdup(val);
            if (!v)
                return CM_ENOMEM;
            free(p->items[i].val);
            p->items[i].val = v;
            return 0;
        }
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        cm_prop_t *it = realloc(p->items, cap * sizeof *it);
        if (!it)
            return CM_ENOMEM;
        p->items = it;
        p->cap = cap;
    }
    p->items[p->n].key = cm_strdup(key);
    p->items[p->n].val = cm_strdup(val);
    if (!p->items[p->n].key || !p->items[p->n].val) {
        free(p->items[p->n].key);
        free(p->items[p->n].val);
        return CM_ENOMEM;
    }
    p->n++;
    return 0;
}

int cm_props_parse(cm_props_t *p, const char *text, size_t len)
{
    const char *s = text, *end = text + len;
    while (s < end) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        if (!eol)
            eol = end;
        size_t n;
        const char *line = trim(s, eol, &n);
        s = eol + 1;
        if (n == 0 || line[0] == '#' || line[0] == '!')
            continue;
        const char *sep = NULL;
        for (size_t i = 0; i < n; i++)
            if (line[i] == '=' || line[i] == ':') {
                sep = line + i;
                break;
            }
        size_t kn, vn;
        const char *k = trim(line, sep ? sep : line + n, &kn);
        const char *v = sep ? trim(sep + 1, line + n, &vn) : (vn = 0, line + n);
        char *key = cm_strndup(k, kn), *val = cm_strndup(v, vn);
        int rc = (key && val) ? cm_props_set(p, key, val) : CM_ENOMEM;
        free(key);
        free(val);
        if (rc)
            return rc;
    }
    return 0;
}

int cm_props_load(cm_props_t *p, const char *path)
{
    char *text;
    size_t len;
    int rc = cm_read_file(path, &text, &len);
    if (rc)
        return rc;
    rc = cm_props_parse(p, text, len);
    free(text);
    return rc;
}

const char *cm_props_get(const cm_props_t *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->items[i].key, key) == 0)
            return p->items[i].val;
    return NULL;
}

void cm_props_free(cm_props_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->items[i].key);
        free(p->items[i].val);
    }
    free(p->items);
    p->items = NULL;
    p->n = p->cap = 0;
}

int cm_parse_i64(const char *s, int64_t *out)
{
    if (!s || !*s)
        return CM_EPARSE;
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno || *e || isspace((unsigned char)*s))
        return CM_EPARSE;
    *out = v;
    return 0;
}

int cm_parse_i32(const char *s, int32_t *out)
{
    int64_t v;
    if (cm_parse_i64(s, &v) || v < INT32_MIN || v > INT32_MAX)
        return CM_EPARSE;
    *out = (int32_t)v;
    return 0;
}

int cm_parse_bool(const char *s, int *out)
{
    if (s && strcasecmp(s, "true") == 0)
        *out = 1;
    else if (s && strcasecmp(s, "false") == 0)
        *out = 0;
    else
        return CM_EPARSE;
    return 0;
}
