/* JSON reader/writer for the fastjson dialect RocketMQ speaks.
 *
 * Why not a stock library (jansson, json-c, cJSON): RocketMQ's Java side writes maps with
 * integer keys unquoted ({0:"10.0.0.1:10911"}) and maps keyed by objects
 * ({{"brokerName":"b","queueId":0,"topic":"T"}:{...}}). Every client (fastjson, ali-ons' JSON2,
 * jsoncpp with numeric keys) reads those, and some tools expect them written that way; stock
 * libraries reject both. So this small DOM keeps keys as values (string, number or object),
 * keeps numbers as their text (exact 64-bit integers), and writes either dialect. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- values ---- */

static lj_val_t *new_val(lj_type_t t)
{
    lj_val_t *v = calloc(1, sizeof *v);
    if (v)
        v->type = t;
    return v;
}

void lj_free(lj_val_t *v)
{
    if (!v)
        return;
    free(v->s);
    for (size_t i = 0; v->type == LJ_ARR && i < v->n; i++)
        lj_free(v->items[i]);
    for (size_t i = 0; v->type == LJ_OBJ && i < v->n; i++) {
        lj_free(v->members[i].key);
        lj_free(v->members[i].val);
    }
    free(v->items);
    free(v->members);
    free(v);
}

lj_val_t *lj_new_obj(void) { return new_val(LJ_OBJ); }
lj_val_t *lj_new_arr(void) { return new_val(LJ_ARR); }
lj_val_t *lj_new_null(void) { return new_val(LJ_NULL); }

lj_val_t *lj_new_strn(const char *s, size_t n)
{
    lj_val_t *v = new_val(LJ_STR);
    if (v && !(v->s = malloc(n + 1))) {
        free(v);
        return NULL;
    }
    if (v) {
        memcpy(v->s, s, n);
        v->s[n] = 0;
        v->slen = n;
    }
    return v;
}

lj_val_t *lj_new_str(const char *s) { return lj_new_strn(s ? s : "", s ? strlen(s) : 0); }

static lj_val_t *num_text(const char *text)
{
    lj_val_t *v = lj_new_str(text);
    if (v)
        v->type = LJ_NUM;
    return v;
}

lj_val_t *lj_new_int(int64_t x)
{
    char t[24];
    snprintf(t, sizeof t, "%lld", (long long)x);
    return num_text(t);
}

lj_val_t *lj_new_double(double d)
{
    char t[40];
    snprintf(t, sizeof t, "%.17g", d);
    /* Java writes a double with an integral value as "1.0". */
    if (!strpbrk(t, ".eEn"))
        strcat(t, ".0");
    return num_text(t);
}

lj_val_t *lj_new_bool(int b)
{
    lj_val_t *v = new_val(LJ_BOOL);
    if (v)
        v->b = b != 0;
    return v;
}

static int reserve(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 4;
    void *p = realloc(*arr, c * size);
    if (!p)
        return CM_ENOMEM;
    *arr = p;
    *cap = c;
    return 0;
}

int lj_put(lj_val_t *obj, lj_val_t *key, lj_val_t *v)
{
    if (!obj || obj->type != LJ_OBJ || !key || !v ||
        reserve((void **)&obj->members, &obj->cap, obj->n, sizeof *obj->members)) {
        lj_free(key);
        lj_free(v);
        return CM_ENOMEM;
    }
    obj->members[obj->n].key = key;
    obj->members[obj->n].val = v;
    obj->n++;
    return 0;
}

int lj_set(lj_val_t *obj, const char *key, lj_val_t *v)
{
    if (!obj || obj->type != LJ_OBJ) {
        lj_free(v);
        return CM_ENOMEM;
    }
    for (size_t i = 0; i < obj->n; i++) {
        lj_val_t *k = obj->members[i].key;
        if (k->type != LJ_OBJ && strcmp(k->s, key) == 0) {
            if (!v)
                return CM_ENOMEM;
            lj_free(obj->members[i].val);
            obj->members[i].val = v;
            return 0;
        }
    }
    return lj_put(obj, lj_new_str(key), v);
}

int lj_push(lj_val_t *arr, lj_val_t *v)
{
    if (!arr || arr->type != LJ_ARR || !v || reserve((void **)&arr->items, &arr->cap, arr->n, sizeof *arr->items)) {
        lj_free(v);
        return CM_ENOMEM;
    }
    arr->items[arr->n++] = v;
    return 0;
}

int lj_set_str(lj_val_t *o, const char *k, const char *s) { return lj_set(o, k, lj_new_str(s)); }
int lj_set_int(lj_val_t *o, const char *k, int64_t v) { return lj_set(o, k, lj_new_int(v)); }
int lj_set_bool(lj_val_t *o, const char *k, int v) { return lj_set(o, k, lj_new_bool(v)); }

/* ---- lookups ---- */

lj_val_t *lj_get(const lj_val_t *obj, const char *key)
{
    if (!obj || obj->type != LJ_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->n; i++) {
        const lj_val_t *k = obj->members[i].key;
        if (k->type != LJ_OBJ && strcmp(k->s, key) == 0)
            return obj->members[i].val;
    }
    return NULL;
}

const char *lj_str(const lj_val_t *v, const char *dflt) { return v && v->type == LJ_STR ? v->s : dflt; }

int64_t lj_int(const lj_val_t *v, int64_t dflt)
{
    int64_t x;
    if (!v || (v->type != LJ_NUM && v->type != LJ_STR))
        return dflt;
    return cm_parse_i64(v->s, &x) == 0 ? x : dflt;
}

double lj_double(const lj_val_t *v, double dflt)
{
    if (!v || (v->type != LJ_NUM && v->type != LJ_STR))
        return dflt;
    char *e;
    double d = strtod(v->s, &e);
    return e != v->s && *e == 0 ? d : dflt;
}

int lj_bool(const lj_val_t *v, int dflt)
{
    int b;
    if (v && v->type == LJ_BOOL)
        return v->b;
    if (v && v->type == LJ_STR && cm_parse_bool(v->s, &b) == 0)
        return b;
    return dflt;
}

const char *lj_get_str(const lj_val_t *o, const char *k, const char *d) { return lj_str(lj_get(o, k), d); }
int64_t lj_get_int(const lj_val_t *o, const char *k, int64_t d) { return lj_int(lj_get(o, k), d); }
int lj_get_bool(const lj_val_t *o, const char *k, int d) { return lj_bool(lj_get(o, k), d); }

/* ---- reader ---- */

typedef struct { const char *p, *end; int depth; } rd_t;

static void ws(rd_t *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int hex4(rd_t *r, unsigned *out)
{
    if (r->end - r->p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = r->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    r->p += 4;
    *out = v;
    return 0;
}

static int put_utf8(cm_buf_t *b, unsigned c)
{
    char t[4];
    int n;
    if (c < 0x80) { t[0] = (char)c; n = 1; }
    else if (c < 0x800) { t[0] = (char)(0xC0 | c >> 6); t[1] = (char)(0x80 | (c & 0x3F)); n = 2; }
    else if (c < 0x10000) { t[0] = (char)(0xE0 | c >> 12); t[1] = (char)(0x80 | ((c >> 6) & 0x3F)); t[2] = (char)(0x80 | (c & 0x3F)); n = 3; }
    else { t[0] = (char)(0xF0 | c >> 18); t[1] = (char)(0x80 | ((c >> 12) & 0x3F)); t[2] = (char)(0x80 | ((c >> 6) & 0x3F)); t[3] = (char)(0x80 | (c & 0x3F)); n = 4; }
    return cm_buf_append(b, t, (size_t)n);
}

/* A quoted string; raw control bytes are accepted (RocketMQ property strings carry \x01 \x02). */
static lj_val_t *rd_string(rd_t *r)
{
    cm_buf_t b;
    cm_buf_init(&b);
    r->p++; /* opening quote */
    while (r->p < r->end && *r->p != '"') {
        char c = *r->p++;
        if (c != '\\') {
            if (cm_buf_putc(&b, c))
                goto err;
            continue;
        }
        if (r->p >= r->end)
            goto err;
        c = *r->p++;
        unsigned u, lo;
        switch (c) {
        case '"': case '\\': case '/': if (cm_buf_putc(&b, c)) goto err; break;
        case 'b': if (cm_buf_putc(&b, '\b')) goto err; break;
        case 'f': if (cm_buf_putc(&b, '\f')) goto err; break;
        case 'n': if (cm_buf_putc(&b, '\n')) goto err; break;
        case 'r': if (cm_buf_putc(&b, '\r')) goto err; break;
        case 't': if (cm_buf_putc(&b, '\t')) goto err; break;
        case 'u':
            if (hex4(r, &u))
                goto err;
            if (u >= 0xD800 && u < 0xDC00 && r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u') {
                r->p += 2;
                if (hex4(r, &lo))
                    goto err;
                if (lo >= 0xDC00 && lo < 0xE000)
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                else if (put_utf8(&b, 0xFFFD)) /* lone high surrogate */
                    goto err;
                else
                    u = lo;
            }
            if (u >= 0xD800 && u < 0xE000)
                u = 0xFFFD;
            if (put_utf8(&b, u))
                goto err;
            break;
        default:
            goto err;
        }
    }
    if (r->p >= r->end)
        goto err;
    r->p++;
    lj_val_t *v = lj_new_strn(b.data ? b.data : "", b.len);
    cm_buf_free(&b);
    return v;
err:
    cm_buf_free(&b);
    return NULL;
}

static lj_val_t *rd_number(rd_t *r)
{
    const char *s = r->p;
    if (r->p < r->end && *r->p == '-')
        r->p++;
    const char *digits = r->p;
    while (r->p < r->end && ((*r->p >= '0' && *r->p <= '9') || *r->p == '.' || *r->p == 'e' ||
                             *r->p == 'E' || *r->p == '+' || *r->p == '-'))
        r->p++;
    if (r->p == digits || !(*digits >= '0' && *digits <= '9') || r->p - s > 64)
        return NULL;
    char t[80];
    memcpy(t, s, (size_t)(r->p - s));
    t[r->p - s] = 0;
    char *e;
    strtod(t, &e);
    if (*e)
        return NULL;
    return num_text(t);
}

static lj_val_t *rd_value(rd_t *r);

static lj_val_t *rd_object(rd_t *r)
{
    lj_val_t *o = lj_new_obj();
    if (!o)
        return NULL;
    r->p++;
    ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return o;
    }
    for (;;) {
        ws(r);
        if (r->p >= r->end)
            goto err;
        /* fastjson keys: quoted strings, bare integers, or whole objects. */
        lj_val_t *k = NULL;
        if (*r->p == '"')
            k = rd_string(r);
        else if (*r->p == '{')
            k = rd_value(r);
        else if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9'))
            k = rd_number(r);
        if (!k)
            goto err;
        ws(r);
        if (r->p >= r->end || *r->p != ':') {
            lj_free(k);
            goto err;
        }
        r->p++;
        lj_val_t *v = rd_value(r);
        if (!v) {
            lj_free(k);
            goto err;
        }
        if (lj_put(o, k, v))
            goto err;
        ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            return o;
        }
        goto err;
    }
err:
    lj_free(o);
    return NULL;
}

static lj_val_t *rd_array(rd_t *r)
{
    lj_val_t *a = lj_new_arr();
    if (!a)
        return NULL;
    r->p++;
    ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        return a;
    }
    for (;;) {
        lj_val_t *v = rd_value(r);
        if (!v || lj_push(a, v))
            goto err;
        ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            return a;
        }
        goto err;
    }
err:
    lj_free(a);
    return NULL;
}

static int word(rd_t *r, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0)
        return 0;
    r->p += n;
    return 1;
}

static lj_val_t *rd_value(rd_t *r)
{
    ws(r);
    if (r->p >= r->end || r->depth >= LJ_MAX_DEPTH)
        return NULL;
    lj_val_t *v = NULL;
    r->depth++;
    switch (*r->p) {
    case '{': v = rd_object(r); break;
    case '[': v = rd_array(r); break;
    case '"': v = rd_string(r); break;
    case 't': v = word(r, "true") ? lj_new_bool(1) : NULL; break;
    case 'f': v = word(r, "false") ? lj_new_bool(0) : NULL; break;
    case 'n': v = word(r, "null") ? lj_new_null() : NULL; break;
    default: v = rd_number(r); break;
    }
    r->depth--;
    return v;
}

int lj_parse(const char *text, size_t len, lj_val_t **out)
{
    rd_t r = {text, text + len, 0};
    *out = NULL;
    if (!text)
        return CM_EPARSE;
    lj_val_t *v = rd_value(&r);
    ws(&r);
    if (!v || r.p != r.end) {
        lj_free(v);
        return CM_EPARSE;
    }
    *out = v;
    return 0;
}

/* ---- writer ---- */

static int w_string(cm_buf_t *b, const char *s, size_t n, int ascii)
{
    int rc = cm_buf_putc(b, '"');
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    while (p < e && rc == 0) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            rc = cm_buf_putc(b, '\\') | cm_buf_putc(b, (char)c);
            p++;
        } else if (c < 0x20) {
            const char *esc = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            rc = esc ? cm_buf_puts(b, esc) : cm_buf_printf(b, "\\u%04X", c);
            p++;
        } else if (c < 0x80 || !ascii) {
            rc = cm_buf_putc(b, (char)c);
            p++;
        } else {
            /* Decode one UTF-8 sequence and write \uXXXX (surrogates above the BMP). */
            unsigned cp = 0xFFFD;
            int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
            if (more && e - p > more) {
                cp = c & (0x3F >> more);
                for (int i = 1; i <= more; i++)
                    cp = cp << 6 | (p[i] & 0x3F);
            }
            p += more + 1;
            if (cp >= 0x10000) {
                cp -= 0x10000;
                rc = cm_buf_printf(b, "\\u%04X\\u%04X", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
            } else {
                rc = cm_buf_printf(b, "\\u%04X", cp);
            }
        }
    }
    return rc ? rc : cm_buf_putc(b, '"');
}

static int write_val(const lj_val_t *v, int flags, cm_buf_t *b);

/* Key text for sorting and strict mode: strings and numbers as is, objects as their JSON. */
static char *key_text(const lj_val_t *k, int flags)
{
    if (k->type != LJ_OBJ)
        return strdup(k->s);
    cm_buf_t t;
    cm_buf_init(&t);
    write_val(k, flags & ~LJ_W_STRICT, &t);
    return cm_buf_steal(&t);
}

typedef struct { char *text; const lj_member_t *m; } sorted_t;

static int cmp_sorted(const void *a, const void *b)
{
    return strcmp(((const sorted_t *)a)->text, ((const sorted_t *)b)->text);
}

static int write_obj(const lj_val_t *v, int flags, cm_buf_t *b)
{
    int strict = flags & LJ_W_STRICT, sort = strict || (flags & LJ_W_SORT);
    sorted_t *s = calloc(v->n ? v->n : 1, sizeof *s);
    if (!s)
        return CM_ENOMEM;
    for (size_t i = 0; i < v->n; i++) {
        s[i].m = &v->members[i];
        s[i].text = sort || strict ? key_text(v->members[i].key, flags) : NULL;
    }
    if (sort)
        qsort(s, v->n, sizeof *s, cmp_sorted);
    int rc = cm_buf_putc(b, '{');
    for (size_t i = 0; i < v->n && rc == 0; i++) {
        const lj_val_t *k = s[i].m->key;
        if (i)
            rc |= cm_buf_putc(b, ',');
        if (strict)
            rc |= w_string(b, s[i].text, strlen(s[i].text), 1);
        else if (k->type == LJ_STR)
            rc |= w_string(b, k->s, k->slen, 0);
        else
            rc |= write_val(k, flags, b); /* bare number or object key, as fastjson */
        rc |= cm_buf_putc(b, ':');
        rc |= write_val(s[i].m->val, flags, b);
    }
    for (size_t i = 0; i < v->n; i++)
        free(s[i].text);
    free(s);
    return rc ? rc : cm_buf_putc(b, '}');
}

static int write_val(const lj_val_t *v, int flags, cm_buf_t *b)
{
    switch (v->type) {
    case LJ_NULL: return cm_buf_puts(b, "null");
    case LJ_BOOL: return cm_buf_puts(b, v->b ? "true" : "false");
    case LJ_NUM: return cm_buf_append(b, v->s, v->slen);
    case LJ_STR: return w_string(b, v->s, v->slen, flags & LJ_W_STRICT);
    case LJ_ARR: {
        int rc = cm_buf_putc(b, '[');
        for (size_t i = 0; i < v->n && rc == 0; i++) {
            if (i)
                rc |= cm_buf_putc(b, ',');
            rc |= write_val(v->items[i], flags, b);
        }
        return rc ? rc : cm_buf_putc(b, ']');
    }
    case LJ_OBJ: return write_obj(v, flags, b);
    }
    return CM_EPARSE;
}

int lj_write(const lj_val_t *v, int flags, cm_buf_t *out)
{
    if (!v)
        return CM_EPARSE;
    return write_val(v, flags, out) ? CM_ENOMEM : 0;
}
