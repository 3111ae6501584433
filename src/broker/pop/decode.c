/* decode.c: the POP texts that come from outside: receipt handles (from clients), journal lines
 * (from the store, written by an earlier run) and BATCH_ACK_MESSAGE bodies. Pure functions,
 * any thread; fuzzed by tests/fuzz/fuzz_broker_pop.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/pop/pop.h"

/* A decimal int64 of s[len] (optional '-'), nothing else; 0 if it is one. */
static int parse_i64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0;
    if (len && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == len || len - i > 19)
        return -1;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int parse_i32(const char *s, size_t len, int32_t *out)
{
    int64_t v;
    if (parse_i64(s, len, &v) || v < INT32_MIN || v > INT32_MAX)
        return -1;
    *out = (int32_t)v;
    return 0;
}

/* Split s[len] on single spaces into at most max fields; the count, or -1 for more fields or
 * an empty one. */
static int split(const char *s, size_t len, const char **f, size_t *fl, int max)
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ' ')
            continue;
        if (i == start || n == max)
            return -1;
        f[n] = s + start;
        fl[n++] = i - start;
        start = i + 1;
    }
    return n;
}

/* A name of printable non-space bytes (UTF-8 allowed), shorter than cap. */
static int name_ok(const char *s, size_t len, size_t cap)
{
    if (len == 0 || len >= cap)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return 0;
    return 1;
}

int br_pop_handle_parse(const char *s, size_t len, br_pop_handle_t *h)
{
    const char *f[9];
    size_t fl[9];
    int n = split(s, len, f, fl, 9);
    if (n < 8 || !name_ok(f[5], fl[5], sizeof h->brokerName))
        return -1;
    memset(h, 0, sizeof *h);
    h->commitLogOffset = -1;
    if (parse_i64(f[0], fl[0], &h->ckStartOffset) || parse_i64(f[1], fl[1], &h->popTime) ||
        parse_i64(f[2], fl[2], &h->invisibleTime) || parse_i32(f[3], fl[3], &h->reviveQid) ||
        parse_i32(f[4], fl[4], &h->retryFlag) || parse_i32(f[6], fl[6], &h->queueId) ||
        parse_i64(f[7], fl[7], &h->queueOffset) || (n == 9 && parse_i64(f[8], fl[8], &h->commitLogOffset)))
        return -1;
    if (h->queueId < 0 || h->queueOffset < 0 || h->popTime < 0 || h->invisibleTime < 0)
        return -1;
    memcpy(h->brokerName, f[5], fl[5]);
    h->brokerName[fl[5]] = 0;
    return 0;
}

static int journal_line(const char *s, size_t len, br_pop_jrec_t *r)
{
    const char *f[9];
    size_t fl[9];
    int n = split(s, len, f, fl, 9);
    if (n < 5 || fl[0] != 1 || !name_ok(f[1], fl[1], sizeof r->group) || !name_ok(f[2], fl[2], sizeof r->topic))
        return -1;
    memset(r, 0, sizeof *r);
    r->kind = f[0][0];
    memcpy(r->group, f[1], fl[1]);
    memcpy(r->topic, f[2], fl[2]);
    if (parse_i32(f[3], fl[3], &r->queueId) || parse_i64(f[4], fl[4], &r->offset) || r->queueId < 0 ||
        r->queueId > 65535 || r->offset < 0)
        return -1;
    if (r->kind == 'A' || r->kind == 'C' || r->kind == 'S' || r->kind == 'E')
        return n == 5 ? 0 : -1;
    if (r->kind != 'P' || n != 9)
        return -1;
    if (parse_i64(f[5], fl[5], &r->commitLogOffset) || parse_i32(f[6], fl[6], &r->reconsumeTimes) ||
        parse_i64(f[7], fl[7], &r->popTime) || parse_i64(f[8], fl[8], &r->invisibleTime))
        return -1;
    if (r->commitLogOffset < 0 || r->reconsumeTimes < 0 || r->popTime < 0 || r->invisibleTime < 0 ||
        r->invisibleTime > INT64_MAX - r->popTime)
        return -1;
    return 0;
}

int br_pop_journal_each(const char *s, size_t len, void (*fn)(void *arg, const br_pop_jrec_t *r), void *arg)
{
    int bad = 0;
    size_t i = 0;
    br_pop_jrec_t r;
    while (i < len) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t l = nl ? (size_t)(nl - (s + i)) : len - i;
        if (l > 0) {
            if (journal_line(s + i, l, &r) == 0)
                fn(arg, &r);
            else
                bad++;
        }
        i += l + 1;
    }
    return bad;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Standard or URL-safe base64, padding optional; the bytes decoded into out[cap], or -1. */
static long b64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=')
            break;
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap)
                return -1;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)n;
}

#define MAX_BITMAP_BYTES 8192 /* 65536 offsets per ack */

int br_pop_batch_ack_each(const char *body, size_t len,
                          void (*fn)(void *arg, const char *group, const char *topic, int32_t queueId, int64_t offset,
                                     int64_t popTime),
                          void *arg)
{
    lj_val_t *root = NULL;
    if (lj_parse(body, len, &root) != 0)
        return -1;
    const lj_val_t *acks = lj_get(root, "acks");
    if (!acks || acks->type != LJ_ARR) {
        lj_free(root);
        return -1;
    }
    uint8_t bm[MAX_BITMAP_BYTES];
    int visited = 0;
    for (size_t i = 0; i < acks->n; i++) {
        const lj_val_t *a = acks->items[i];
        const char *g = lj_get_str(a, "c", NULL), *t = lj_get_str(a, "t", NULL), *b = lj_get_str(a, "b", NULL);
        int64_t q = lj_get_int(a, "q", -1), so = lj_get_int(a, "so", -1), pt = lj_get_int(a, "pt", -1);
        if (!g || !t || !b || q < 0 || q > 65535 || so < 0 || so > INT64_MAX - 65536 || pt < 0)
            continue;
        long n = b64_decode(b, strlen(b), bm, sizeof bm);
        if (n < 0)
            continue;
        visited++;
        for (long byte = 0; byte < n; byte++)
            for (int bit = 0; bit < 8; bit++)
                if (bm[byte] & (1u << bit))
                    fn(arg, g, t, (int32_t)q, so + byte * 8 + bit, pt);
    }
    lj_free(root);
    return visited;
}
