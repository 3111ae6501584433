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
                                     "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST", "NODE_JS"};
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

void rm_cmd_init_header_of(rm_cmd_t *dst, const rm_cmd_t *req)
{
    rm_cmd_init(dst, req->code);
    dst->language = req->language;
    dst->version = req->version;
    dst->opaque = req->opaque;
    dst->flag = req->flag;
    dst->serialize = req->serialize;
}

void rm_cmd_free(rm_cmd_t *c)
{
    for (size_t i = c->arena_n; i < c->next; i++)
        free(c->ext[i].key); /* the value lives in the same block */
    free(c->ext);
    free(c->remark);
    free(c->body_owned);
    free(c->arena);
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

/* An entry outside the arena is one block: "key\0value\0", key pointing at its start. */
static int ext_entry(rm_kv_t *e, const char *k, size_t kl, const char *v, size_t vl)
{
    char *blk = malloc(kl + vl + 2);
    if (!blk)
        return RM_ENOMEM;
    memcpy(blk, k, kl);
    blk[kl] = 0;
    memcpy(blk + kl + 1, v, vl);
    blk[kl + 1 + vl] = 0;
    e->key = blk;
    e->val = blk + kl + 1;
    return 0;
}

static int ext_add(rm_cmd_t *c, const char *k, size_t kl, const char *v, size_t vl)
{
    if (c->next == c->ext_cap) {
        size_t cap = c->ext_cap ? c->ext_cap * 2 : 16;
        rm_kv_t *e = realloc(c->ext, cap * sizeof *e);
        if (!e)
            return RM_ENOMEM;
        c->ext = e;
        c->ext_cap = cap;
    }
    if (ext_entry(&c->ext[c->next], k, kl, v, vl))
        return RM_ENOMEM;
    c->next++;
    return 0;
}

int rm_ext_add(rm_cmd_t *c, const char *key, const char *val)
{
    return ext_add(c, key, strlen(key), val, strlen(val));
}

int rm_ext_set(rm_cmd_t *c, const char *key, const char *val)
{
    size_t kl = strlen(key), vl = strlen(val);
    for (size_t i = 0; i < c->next; i++) {
        if (strcmp(c->ext[i].key, key) != 0)
            continue;
        rm_kv_t e;
        if (ext_entry(&e, key, kl, val, vl))
            return RM_ENOMEM;
        if (i >= c->arena_n) {
            free(c->ext[i].key);
            c->ext[i] = e;
        } else { /* the old entry is in the arena: move the last arena entry here, ours after it */
            c->ext[i] = c->ext[c->arena_n - 1];
            c->ext[c->arena_n - 1] = e;
            c->arena_n--;
        }
        return 0;
    }
    return ext_add(c, key, kl, val, vl);
}

/* Decimal text of v (no printf: every send request and answer carries several numbers). */
static const char *i64_text(int64_t v, char buf[24])
{
    char *p = buf + 23;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    *p = 0;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    return p;
}

int rm_ext_set_i64(rm_cmd_t *c, const char *key, int64_t v)
{
    char s[24];
    return rm_ext_set(c, key, i64_text(v, s));
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

/* The JSON header is parsed in one pass without building a tree: its strings are unescaped
 * into one arena (one allocation per frame) because this runs for every message sent. */
typedef struct hp {
    const char *p, *end;
    char *out;          /* arena write position */
} hp_t;

static void hp_ws(hp_t *h)
{
    while (h->p < h->end && (*h->p == ' ' || *h->p == '\t' || *h->p == '\n' || *h->p == '\r'))
        h->p++;
}

static int hp_hex4(hp_t *h, unsigned *v)
{
    if (h->end - h->p < 4)
        return -1;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = *h->p++;
        *v <<= 4;
        if (ch >= '0' && ch <= '9') *v |= (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') *v |= (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F') *v |= (unsigned)(ch - 'A' + 10);
        else return -1;
    }
    return 0;
}

/* Unescape a JSON string (at the opening quote) into the arena; returns its start or NULL.
 * Output never outgrows input (an escape is at least as long as the UTF-8 it stands for). */
static char *hp_string(hp_t *h)
{
    if (h->p >= h->end || *h->p != '"')
        return NULL;
    h->p++;
    char *start = h->out;
    while (h->p < h->end && *h->p != '"') {
        char ch = *h->p++;
        if (ch != '\\') {
            *h->out++ = ch;
            continue;
        }
        if (h->p >= h->end)
            return NULL;
        ch = *h->p++;
        unsigned u, lo;
        switch (ch) {
        case 'n': *h->out++ = '\n'; break;
        case 'r': *h->out++ = '\r'; break;
        case 't': *h->out++ = '\t'; break;
        case 'b': *h->out++ = '\b'; break;
        case 'f': *h->out++ = '\f'; break;
        case '"': case '\\': case '/': *h->out++ = ch; break;
        case 'u':
            if (hp_hex4(h, &u))
                return NULL;
            if (u >= 0xD800 && u < 0xDC00 && h->end - h->p >= 6 && h->p[0] == '\\' && h->p[1] == 'u') {
                h->p += 2;
                if (hp_hex4(h, &lo) || lo < 0xDC00 || lo >= 0xE000)
                    return NULL;
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            } else if (u >= 0xD800 && u < 0xE000) {
                u = 0xFFFD;
            }
            if (u < 0x80) {
                *h->out++ = (char)u;
            } else if (u < 0x800) {
                *h->out++ = (char)(0xC0 | u >> 6);
                *h->out++ = (char)(0x80 | (u & 0x3F));
            } else if (u < 0x10000) {
                *h->out++ = (char)(0xE0 | u >> 12);
                *h->out++ = (char)(0x80 | ((u >> 6) & 0x3F));
                *h->out++ = (char)(0x80 | (u & 0x3F));
            } else {
                *h->out++ = (char)(0xF0 | u >> 18);
                *h->out++ = (char)(0x80 | ((u >> 12) & 0x3F));
                *h->out++ = (char)(0x80 | ((u >> 6) & 0x3F));
                *h->out++ = (char)(0x80 | (u & 0x3F));
            }
            break;
        default:
            return NULL;
        }
    }
    if (h->p >= h->end)
        return NULL;
    h->p++;
    *h->out++ = 0;
    return start;
}

/* A scalar as its canonical text in the arena: strings unescaped, numbers and booleans as
 * written; *is_null for null. Objects and arrays are refused (no header value is one). */
static char *hp_scalar(hp_t *h, int *is_null)
{
    *is_null = 0;
    hp_ws(h);
    if (h->p >= h->end)
        return NULL;
    if (*h->p == '"')
        return hp_string(h);
    const char *s = h->p;
    while (h->p < h->end && (*h->p == '-' || *h->p == '+' || *h->p == '.' || (*h->p >= '0' && *h->p <= '9') ||
                             (*h->p >= 'a' && *h->p <= 'z') || (*h->p >= 'A' && *h->p <= 'Z')))
        h->p++;
    size_t n = (size_t)(h->p - s);
    if (n == 0)
        return NULL;
    if (n == 4 && memcmp(s, "null", 4) == 0) {
        *is_null = 1;
        return h->out;
    }
    int num = (*s == '-' || (*s >= '0' && *s <= '9'));
    if (!num && !(n == 4 && memcmp(s, "true", 4) == 0) && !(n == 5 && memcmp(s, "false", 5) == 0))
        return NULL;
    char *start = h->out;
    memcpy(h->out, s, n);
    h->out += n;
    *h->out++ = 0;
    return start;
}

static int hp_int(const char *text, int32_t *out)
{
    int64_t v;
    if (!text || cm_parse_i64(text, &v) || v < INT32_MIN || v > INT32_MAX)
        return -1;
    *out = (int32_t)v;
    return 0;
}

static int hp_ext(hp_t *h, rm_cmd_t *c)
{
    hp_ws(h);
    if (h->p >= h->end)
        return -1;
    if (*h->p == 'n') { /* "extFields":null */
        int is_null;
        return hp_scalar(h, &is_null) && is_null ? 0 : -1;
    }
    if (*h->p != '{')
        return -1;
    h->p++;
    hp_ws(h);
    if (h->p < h->end && *h->p == '}') {
        h->p++;
        return 0;
    }
    for (;;) {
        hp_ws(h);
        char *k = hp_string(h);
        hp_ws(h);
        if (!k || h->p >= h->end || *h->p++ != ':')
            return -1;
        int is_null;
        char *v = hp_scalar(h, &is_null);
        if (!v)
            return -1;
        if (!is_null) { /* null means absent */
            if (c->next == c->ext_cap) {
                size_t cap = c->ext_cap ? c->ext_cap * 2 : 16;
                rm_kv_t *e = realloc(c->ext, cap * sizeof *e);
                if (!e)
                    return -1;
                c->ext = e;
                c->ext_cap = cap;
            }
            c->ext[c->next].key = k;
            c->ext[c->next].val = v;
            c->next++;
            c->arena_n++;
        }
        hp_ws(h);
        if (h->p < h->end && *h->p == ',') {
            h->p++;
            continue;
        }
        if (h->p < h->end && *h->p == '}') {
            h->p++;
            return 0;
        }
        return -1;
    }
}

static int decode_json_header(const uint8_t *hdr, size_t hlen, rm_cmd_t *c)
{
    c->arena = malloc(hlen + 1);
    if (!c->arena)
        return RM_ENOMEM;
    hp_t h = {(const char *)hdr, (const char *)hdr + hlen, c->arena};
    int have_code = 0;
    hp_ws(&h);
    if (h.p >= h.end || *h.p++ != '{')
        return RM_EHEADER;
    hp_ws(&h);
    if (h.p < h.end && *h.p == '}')
        return RM_EHEADER; /* no code */
    for (;;) {
        hp_ws(&h);
        char *key = hp_string(&h);
        hp_ws(&h);
        if (!key || h.p >= h.end || *h.p++ != ':')
            return RM_EHEADER;
        int is_null = 0;
        if (strcmp(key, "extFields") == 0) {
            if (hp_ext(&h, c))
                return RM_EHEADER;
        } else {
            char *mark = h.out;
            char *v = hp_scalar(&h, &is_null);
            if (!v)
                return RM_EHEADER;
            if (strcmp(key, "code") == 0) {
                if (hp_int(v, &c->code))
                    return RM_EHEADER;
                have_code = 1;
            } else if (strcmp(key, "flag") == 0) {
                if (!is_null && hp_int(v, &c->flag))
                    return RM_EHEADER;
            } else if (strcmp(key, "opaque") == 0) {
                if (!is_null && hp_int(v, &c->opaque))
                    return RM_EHEADER;
            } else if (strcmp(key, "version") == 0) {
                if (!is_null && hp_int(v, &c->version))
                    return RM_EHEADER;
            } else if (strcmp(key, "language") == 0) {
                int32_t l;
                if (!is_null) /* a name as Java writes it, or the byte value */
                    c->language = hp_int(v, &l) == 0 ? l : (l = rm_language_parse(v)) < 0 ? 7 : l;
            } else if (strcmp(key, "remark") == 0) {
                free(c->remark); /* a repeated member: the last one wins */
                c->remark = NULL;
                if (!is_null && !(c->remark = cm_strdup(v)))
                    return RM_ENOMEM;
            }
            h.out = mark; /* only extFields strings need to stay in the arena */
        }
        hp_ws(&h);
        if (h.p < h.end && *h.p == ',') {
            h.p++;
            continue;
        }
        if (h.p < h.end && *h.p == '}') {
            h.p++;
            break;
        }
        return RM_EHEADER;
    }
    hp_ws(&h);
    return have_code && h.p == h.end ? 0 : RM_EHEADER;
}

/* Runs of characters that need no escape are copied at once: headers are mostly plain text. */
static int put_json_str(cm_buf_t *b, const char *s)
{
    int rc = cm_buf_putc(b, '"');
    const unsigned char *p = (const unsigned char *)s;
    while (*p && rc == 0) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p != '"' && *p != '\\')
            p++;
        if (p > run)
            rc = cm_buf_append(b, run, (size_t)(p - run));
        if (!*p || rc)
            break;
        if (*p == '"' || *p == '\\') {
            char e[2] = {'\\', (char)*p};
            rc = cm_buf_append(b, e, 2);
        } else if (*p == '\n' || *p == '\r' || *p == '\t') { /* fastjson's short escapes */
            char e[2] = {'\\', *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't'};
            rc = cm_buf_append(b, e, 2);
        } else { /* \u00XX: the property separators 1 and 2 come twice per property */
            static const char hex[] = "0123456789ABCDEF";
            char e[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            rc = cm_buf_append(b, e, 6);
        }
        p++;
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
        if (ext_add(c, k, kl, (const char *)h + pos, vl))
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
