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

/* One logical line: key and value trimmed; 0 for a blank or comment line. */
static int split_line(const char *line, size_t n, const char **k, size_t *kn, const char **v, size_t *vn)
{
    if (n == 0 || line[0] == '#' || line[0] == '!')
        return 0;
    const char *sep = NULL;
    for (size_t i = 0; i < n && !sep; i++)
        if (line[i] == '=' || line[i] == ':')
            sep = line + i;
    *k = trim(line, sep ? sep : line + n, kn);
    if (sep)
        *v = trim(sep + 1, line + n, vn);
    else
        *v = line + n, *vn = 0;
    return 1;
}

int cm_props_parse(cm_props_t *p, const char *text, size_t len)
{
    const char *s = text, *end = text + len;
    while (s < end) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        if (!eol)
            eol = end;
        size_t n, kn, vn;
        const char *line = trim(s, eol, &n), *k, *v;
        s = eol + 1;
        if (!split_line(line, n, &k, &kn, &v, &vn))
            continue;
        char *key = cm_strndup(k, kn), *val = cm_strndup(v, vn);
        int rc = (key && val) ? cm_props_set(p, key, val) : CM_ENOMEM;
        free(key);
        free(val);
        if (rc)
            return rc;
    }
    return 0;
}

/* Rewrite `path` with `changes`: a line that sets a changed key gets the new value in place,
 * keys not in the file are appended; comments, order and other keys stay as they were. */
int cm_props_update_file(const char *path, const cm_props_t *changes)
{
    char *text = NULL;
    size_t len = 0;
    int rc = cm_read_file(path, &text, &len);
    if (rc)
        return rc;
    cm_buf_t out;
    cm_buf_init(&out);
    char *done = calloc(changes->n + 1, 1);
    const char *s = text, *end = text + len;
    while (s < end && done) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        if (!eol)
            eol = end;
        size_t n, kn, vn, i = changes->n;
        const char *line = trim(s, eol, &n), *k, *v;
        if (split_line(line, n, &k, &kn, &v, &vn))
            for (i = 0; i < changes->n; i++)
                if (strlen(changes->items[i].key) == kn && !memcmp(changes->items[i].key, k, kn))
                    break;
        if (i < changes->n) {
            cm_buf_printf(&out, "%s=%s\n", changes->items[i].key, changes->items[i].val);
            done[i] = 1;
        } else {
            cm_buf_append(&out, s, (size_t)(eol - s));
            cm_buf_append(&out, "\n", 1);
        }
        s = eol + 1;
    }
    for (size_t i = 0; done && i < changes->n; i++)
        if (!done[i])
            cm_buf_printf(&out, "%s=%s\n", changes->items[i].key, changes->items[i].val);
    rc = done ? cm_write_file_safe(path, out.data, out.len) : CM_ENOMEM;
    free(done);
    free(text);
    cm_buf_free(&out);
    return rc;
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
