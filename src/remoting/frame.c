/* Frame codec for RocketMQ remoting commands: the 4-byte length prefix, the header word
 * (serialize type << 24 | header length), a JSON or ROCKETMQ-binary header, then the body.
 * Every length read from the wire is checked against what is actually there. The JSON writer
 * emits members in the order Java's fastjson does (sorted), so a Java request re-encodes
 * byte for byte. */
#include "remoting.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_lang[] = {"JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY",
                                     "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST"};
#define NLANG (int)(sizeof k_lang / sizeof k_lang[0])

const char *rm_language_name(int lang) { return lang >= 0 && lang < NLANG ? k_lang[lang] : "OTHER"; }

int rm_language_parse(const char *name)
{
    for (int i = 0; i < NLANG; i++)
        if (strcmp(k_lang[i], name) == 0)
            return i;
    return -1;
}

void rm_cmd_init(rm_cmd_t *c, int32_t code)
{
    memset(c, 0, sizeof *c);
    c->code = code;
    c->language = RM_LANG_JAVA;
    c->version = RM_SERVER_VERSION;
}

void rm_cmd_free(rm_cmd_t *c)
{
    for (size_t i = 0; i < c->next; i++) {
        free(c->ext[i].key);
        free(c->ext[i].val);
    }
    free(c->ext);
    free(c->remark);
    free(c->body_owned);
    memset(c, 0, sizeof *c);
}

int rm_cmd_set_remark(rm_cmd_t *c, const char *fmt, ...)
{
    cm_buf_t b;
    cm_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || cm_buf_reserve(&b, (size_t)n))
        return RM_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b.data, (size_t)n + 1, fmt, ap);
    va_end(ap);
    free(c->remark);
    c->remark = b.data;
    return 0;
}

int rm_cmd_own_body(rm_cmd_t *c)
{
    if (c->body_owned || c->body_len == 0)
        return 0;
    uint8_t *p = malloc(c->body_len);
    if (!p)
        return RM_ENOMEM;
    memcpy(p, c->body, c->body_len);
    c->body = c->body_owned = p;
    return 0;
}

int rm_cmd_is_response(const rm_cmd_t *c) { return (c->flag & RM_FLAG_RESPONSE) != 0; }
int rm_cmd_is_oneway(const rm_cmd_t *c) { return (c->flag & RM_FLAG_ONEWAY) != 0; }

const char *rm_ext_get(const rm_cmd_t *c, const char *key)
{
    for (size_t i = 0; i < c->next; i++)
        if (strcmp(c->ext[i].key, key) == 0)
            return c->ext[i].val;
    return NULL;
}

static int ext_add(rm_cmd_t *c, char *key, char *val) /* takes ownership */
{
    if (!key || !val)
        goto err;
    if (c->next == c->ext_cap) {
        size_t cap = c->ext_cap ? c->ext_cap * 2 : 8;
        rm_kv_t *e = realloc(c->ext, cap * sizeof *e);
        if (!e)
            goto err;
        c->ext = e;
        c->ext_cap = cap;
    }
    c->ext[c->next].key = key;
    c->ext[c->next].val = val;
    c->next++;
    return 0;
err:
    free(key);
    free(val);
    return RM_ENOMEM;
}

int rm_ext_set(rm_cmd_t *c, const char *key, const char *val)
{
    for (size_t i = 0; i < c->next; i++) {
        if (strcmp(c->ext[i].key, key) == 0) {
            char *v = cm_strdup(val);
            if (!v)
                return RM_ENOMEM;
            free(c->ext[i].val);
            c->ext[i].val = v;
            return 0;
        }
    }
    return ext_add(c, cm_strdup(key), cm_strdup(val));
}

int rm_ext_set_i64(rm_cmd_t *c, const char *key, int64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%lld", (long long)v);
    return rm_ext_set(c, key, s);
}

int rm_ext_i64(const rm_cmd_t *c, const char *key, int64_t *out)
{
    const char *s = rm_ext_get(c, key);
    if (!s)
        return RM_EMISSING;
    return cm_parse_i64(s, out) ? RM_EBADVAL : 0;
}

int rm_ext_i32(const rm_cmd_t *c, const char *key, int32_t *out)
{
    const char *s = rm_ext_get(c, key);
    if (!s)
        return RM_EMISSING;
    return cm_parse_i32(s, out) ? RM_EBADVAL : 0;
}

int rm_ext_bool(const rm_cmd_t *c, const char *key, int *out)
{
    const char *s = rm_ext_get(c, key);
    if (!s)
        return RM_EMISSING;
    int v = 0;
    if (cm_parse_bool(s, &v))
        v = 0;
    *out = v;
    return 0;
}

int64_t rm_frame_size(const uint8_t *p, size_t avail)
{
    if (avail < 4)
        return 0;
    uint32_t total = cm_be32(p);
    if (total < 4 || total > RM_MAX_FRAME)
        return RM_EFRAME;
    return (int64_t)total + 4;
}

/* ---- JSON header ---- */

/* Canonical string of a JSON scalar: strings as is, numbers as written, booleans as words. */
static char *scalar_text(const lj_val_t *v)
{
    switch (v->type) {
    case LJ_STR:
    case LJ_NUM:
        return cm_strndup(v->s, v->slen);
    case LJ_BOOL:
        return cm_strdup(v->b ? "true" : "false");
    default:
        return NULL;
    }
}

static int decode_json_header(const uint8_t *h, size_t hlen, rm_cmd_t *c)
{
    lj_val_t *root = NULL;
    if (lj_parse((const char *)h, hlen, &root) != 0 || root->type != LJ_OBJ)
        goto err;
    const lj_val_t *code = lj_get(root, "code");
    if (!code || code->type != LJ_NUM)
        goto err;
    int64_t v = lj_int(code, INT64_MIN);
    if (v < INT32_MIN || v > INT32_MAX)
        goto err;
    c->code = (int32_t)v;
    c->flag = (int32_t)lj_get_int(root, "flag", 0);
    c->opaque = (int32_t)lj_get_int(root, "opaque", 0);
    c->version = (int32_t)lj_get_int(root, "version", 0);
    const lj_val_t *lang = lj_get(root, "language");
    if (lang && lang->type == LJ_STR) {
        int l = rm_language_parse(lang->s);
        c->language = l < 0 ? 7 /* OTHER */ : l;
    } else if (lang && lang->type == LJ_NUM) {
        c->language = (int32_t)lj_int(lang, 7);
    }
    const lj_val_t *remark = lj_get(root, "remark");
    if (remark && remark->type == LJ_STR && !(c->remark = cm_strndup(remark->s, remark->slen)))
        goto err;
    const lj_val_t *ext = lj_get(root, "extFields");
    if (ext && ext->type == LJ_OBJ) {
        for (size_t i = 0; i < ext->n; i++) {
            const lj_member_t *m = &ext->members[i];
            if (m->val->type == LJ_NULL || m->key->type == LJ_OBJ)
                continue; /* null means absent */
            char *val = scalar_text(m->val);
            if (!val)
                continue; /* objects/arrays are not header values; ignore like unknown keys */
            if (ext_add(c, cm_strndup(m->key->s, m->key->slen), val))
                goto err;
        }
    }
    lj_free(root);
    return 0;
err:
    lj_free(root);
    return RM_EHEADER;
}

static int put_json_str(cm_buf_t *b, const char *s)
{
    int rc = cm_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p && rc == 0; p++) {
        if (*p == '"' || *p == '\\') {
            rc = cm_buf_putc(b, '\\');
            if (!rc)
                rc = cm_buf_putc(b, (char)*p);
        } else if (*p == '\n' || *p == '\r' || *p == '\t') { /* fastjson's short escapes */
            rc = cm_buf_putc(b, '\\');
            if (!rc)
                rc = cm_buf_putc(b, *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't');
        } else if (*p < 0x20) {
            rc = cm_buf_printf(b, "\\u%04X", *p);
        } else {
            rc = cm_buf_putc(b, (char)*p);
        }
    }
    return rc ? rc : cm_buf_putc(b, '"');
}

static int encode_json_header(const rm_cmd_t *c, cm_buf_t *b)
{
    int rc = cm_buf_printf(b, "{\"code\":%d", c->code);
    if (c->next) {
        rc |= cm_buf_puts(b, ",\"extFields\":{");
        for (size_t i = 0; i < c->next; i++) {
            if (i)
                rc |= cm_buf_putc(b, ',');
            rc |= put_json_str(b, c->ext[i].key);
            rc |= cm_buf_putc(b, ':');
            rc |= put_json_str(b, c->ext[i].val); /* always strings: the C++ client reads only those */
        }
        rc |= cm_buf_putc(b, '}');
    }
    rc |= cm_buf_printf(b, ",\"flag\":%d,\"language\":", c->flag);
    rc |= put_json_str(b, rm_language_name(c->language));
    rc |= cm_buf_printf(b, ",\"opaque\":%d", c->opaque);
    if (c->remark) {
        rc |= cm_buf_puts(b, ",\"remark\":");
        rc |= put_json_str(b, c->remark);
    }
    rc |= cm_buf_printf(b, ",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":%d}", c->version);
    return rc ? RM_ENOMEM : 0;
}

/* ---- ROCKETMQ binary header ---- */

static int decode_binary_header(const uint8_t *h, size_t hlen, rm_cmd_t *c)
{
    size_t pos = 17;
    if (hlen < 21)
        return RM_EHEADER;
    c->code = (int16_t)cm_be16(h);
    c->language = h[2];
    c->version = (int16_t)cm_be16(h + 3);
    c->opaque = (int32_t)cm_be32(h + 5);
    c->flag = (int32_t)cm_be32(h + 9);
    uint32_t rlen = cm_be32(h + 13);
    if (rlen > hlen - pos)
        return RM_EHEADER;
    if (rlen && !(c->remark = cm_strndup((const char *)h + pos, rlen)))
        return RM_ENOMEM;
    pos += rlen;
    if (hlen - pos < 4)
        return RM_EHEADER;
    uint32_t xlen = cm_be32(h + pos);
    pos += 4;
    if (xlen > hlen - pos)
        return RM_EHEADER;
    size_t end = pos + xlen;
    while (pos < end) {
        if (end - pos < 2)
            return RM_EHEADER;
        uint16_t kl = cm_be16(h + pos);
        pos += 2;
        if (kl > end - pos || end - pos - kl < 4)
            return RM_EHEADER;
        const char *k = (const char *)h + pos;
        pos += kl;
        uint32_t vl = cm_be32(h + pos);
        pos += 4;
        if (vl > end - pos)
            return RM_EHEADER;
        if (ext_add(c, cm_strndup(k, kl), cm_strndup((const char *)h + pos, vl)))
            return RM_ENOMEM;
        pos += vl;
    }
    return 0;
}

static int encode_binary_header(const rm_cmd_t *c, cm_buf_t *b)
{
    int rc = cm_buf_put_be16(b, (uint16_t)c->code);
    rc |= cm_buf_put_u8(b, (uint8_t)c->language);
    rc |= cm_buf_put_be16(b, (uint16_t)c->version);
    rc |= cm_buf_put_be32(b, (uint32_t)c->opaque);
    rc |= cm_buf_put_be32(b, (uint32_t)c->flag);
    size_t rl = c->remark ? strlen(c->remark) : 0;
    rc |= cm_buf_put_be32(b, (uint32_t)rl);
    rc |= cm_buf_append(b, c->remark, rl);
    size_t xlen = 0;
    for (size_t i = 0; i < c->next; i++)
        if (*c->ext[i].val) /* a zero length decodes as null on the Java side: skip empty values */
            xlen += 2 + strlen(c->ext[i].key) + 4 + strlen(c->ext[i].val);
    rc |= cm_buf_put_be32(b, (uint32_t)xlen);
    for (size_t i = 0; i < c->next; i++) {
        if (!*c->ext[i].val)
            continue;
        size_t kl = strlen(c->ext[i].key), vl = strlen(c->ext[i].val);
        rc |= cm_buf_put_be16(b, (uint16_t)kl);
        rc |= cm_buf_append(b, c->ext[i].key, kl);
        rc |= cm_buf_put_be32(b, (uint32_t)vl);
        rc |= cm_buf_append(b, c->ext[i].val, vl);
    }
    return rc ? RM_ENOMEM : 0;
}

int rm_frame_decode(const uint8_t *frame, size_t len, rm_cmd_t *out)
{
    rm_cmd_init(out, 0);
    out->version = 0;
    int64_t size = rm_frame_size(frame, len);
    if (size <= 0 || (size_t)size != len || len < 8)
        return RM_EFRAME;
    uint32_t word = cm_be32(frame + 4);
    size_t hlen = word & 0xFFFFFF;
    int ser = (int)(word >> 24);
    if (hlen > len - 8 || (ser != RM_SER_JSON && ser != RM_SER_ROCKETMQ))
        return RM_EFRAME;
    const uint8_t *h = frame + 8;
    int rc = ser == RM_SER_JSON ? decode_json_header(h, hlen, out) : decode_binary_header(h, hlen, out);
    if (rc) {
        rm_cmd_free(out);
        return rc == RM_ENOMEM ? rc : RM_EHEADER;
    }
    out->serialize = ser;
    out->body = h + hlen;
    out->body_len = len - 8 - hlen;
    return 0;
}

int rm_frame_encode_header(const rm_cmd_t *c, size_t body_len, cm_buf_t *out)
{
    size_t start = out->len;
    if (cm_buf_append(out, "\0\0\0\0\0\0\0\0", 8))
        return RM_ENOMEM;
    int rc = c->serialize == RM_SER_ROCKETMQ ? encode_binary_header(c, out) : encode_json_header(c, out);
    if (rc)
        return rc;
    size_t hlen = out->len - start - 8;
    if (hlen > 0xFFFFFF || 4 + hlen + body_len > RM_MAX_FRAME) {
        out->len = start;
        return RM_EFRAME;
    }
    cm_wbe32(out->data + start, (uint32_t)(4 + hlen + body_len));
    cm_wbe32(out->data + start + 4, (uint32_t)c->serialize << 24 | (uint32_t)hlen);
    return 0;
}

int rm_frame_encode(const rm_cmd_t *c, cm_buf_t *out)
{
    int rc = rm_frame_encode_header(c, c->body_len, out);
    return rc ? rc : cm_buf_append(out, c->body, c->body_len);
}
