/* acl: remote-address patterns of plain_acl.yml (acl spec §1.5), RocketMQ 4.9.5's classification
 * and its quirks: blank never matches; "*", "*.*.*.*", "*:*:*:*:*:*:*:*" match all; "{x,y}" sets
 * and comma lists are exact lists; '*' or '-' makes a range where only the first wild position
 * is checked (later octets are not); anything else is one literal. Addresses are compared as
 * canonical dotted IPv4 or as fully expanded upper-case IPv6; an IPv4-mapped IPv6 client address
 * counts as its IPv4 form. Pure: no I/O, no globals. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"

enum { PAT_NONE, PAT_ALL, PAT_LIST, PAT_RANGE4, PAT_RANGE6 };

/* Canonical forms are at most 39 characters ("XXXX:" * 7 + "XXXX"). */
#define CANON_MAX 48

struct acl_pattern {
    int kind;
    char (*list)[CANON_MAX]; /* PAT_LIST: canonical addresses */
    size_t nlist;
    char head[CANON_MAX];    /* ranges: the text every match starts with (dotted, or expanded groups + ':') */
    int pos;                 /* ranges: index of the wild octet / group */
    unsigned lo, hi;         /* ranges: the wild part's bounds */
};

static void seterr(char *err, size_t errlen, const char *fmt, const char *arg)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, arg);
}

static void expand6(const unsigned char a[16], char out[CANON_MAX])
{
    char *o = out;
    for (int i = 0; i < 8; i++)
        o += sprintf(o, i ? ":%02X%02X" : "%02X%02X", a[2 * i], a[2 * i + 1]);
}

/* A literal address (as in a pattern) to its canonical form: dotted IPv4 as inet_ntop writes it,
 * or expanded upper-case IPv6. 0, or -1 when it is neither. */
static int canon_literal(const char *s, size_t n, char out[CANON_MAX])
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    unsigned char a[16];
    if (inet_pton(AF_INET, buf, a) == 1) {
        inet_ntop(AF_INET, a, out, CANON_MAX);
        return 0;
    }
    if (inet_pton(AF_INET6, buf, a) == 1) {
        expand6(a, out);
        return 0;
    }
    return -1;
}

/* The client's address: IPv4 -> dotted; IPv4-mapped IPv6 -> dotted; IPv6 -> expanded.
 * *v6 tells which. -1 when it is not an address. */
static int canon_client(const char *ip, char out[CANON_MAX], int *v6)
{
    if (!ip)
        return -1;
    size_t n = strlen(ip);
    if (n == 0 || n >= 64)
        return -1;
    unsigned char a[16];
    if (inet_pton(AF_INET, ip, a) == 1) {
        inet_ntop(AF_INET, a, out, CANON_MAX);
        *v6 = 0;
        return 0;
    }
    if (inet_pton(AF_INET6, ip, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, 12) == 0) {
            inet_ntop(AF_INET, a + 12, out, CANON_MAX);
            *v6 = 0;
        } else {
            expand6(a, out);
            *v6 = 1;
        }
        return 0;
    }
    return -1;
}

static int is_blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return 0;
    return 1;
}

static int list_add(acl_pattern_t *p, const char *s, size_t n)
{
    char c[CANON_MAX];
    if (canon_literal(s, n, c) != 0)
        return -1;
    char(*nl)[CANON_MAX] = realloc(p->list, (p->nlist + 1) * sizeof *p->list);
    if (!nl)
        return -2;
    p->list = nl;
    memcpy(p->list[p->nlist++], c, CANON_MAX);
    return 0;
}

/* Add every non-empty comma-separated item of [s, s+n), each prefixed with `prefix`. */
static int list_add_items(acl_pattern_t *p, const char *prefix, const char *s, size_t n, const char *text,
                          char *err, size_t errlen)
{
    size_t plen = strlen(prefix);
    const char *end = s + n;
    while (s < end) {
        const char *c = memchr(s, ',', (size_t)(end - s));
        if (!c)
            c = end;
        if (c > s) {
            char item[128];
            size_t ilen = (size_t)(c - s);
            if (plen + ilen >= sizeof item) {
                seterr(err, errlen, "Netaddress examine Exception netaddress is %s", text);
                return -1;
            }
            memcpy(item, prefix, plen);
            memcpy(item + plen, s, ilen);
            int rc = list_add(p, item, plen + ilen);
            if (rc == -2) {
                seterr(err, errlen, "out of memory parsing %s", text);
                return -1;
            }
            if (rc) {
                seterr(err, errlen, "Netaddress examine Exception netaddress is %s", text);
                return -1;
            }
        }
        s = c + 1;
    }
    return 0;
}

/* Set form: "a.b.c.{x,y}" or "v6prefix:{x,y}". */
static int parse_set(acl_pattern_t *p, const char *text, char *err, size_t errlen)
{
    size_t n = strlen(text);
    const char *last;
    if (strchr(text, ':')) {
        const char *c = strrchr(text, ':');
        last = c + 1;
    } else {
        /* dot-separated, empty parts dropped: exactly 4 parts, the last one the set */
        int parts = 0;
        const char *s = text, *start = NULL;
        last = NULL;
        for (;;) {
            if (*s == '.' || *s == 0) {
                if (start && s > start) {
                    parts++;
                    last = start;
                }
                start = NULL;
                if (!*s)
                    break;
            } else if (!start) {
                start = s;
            }
            s++;
        }
        if (parts != 4) {
            seterr(err, errlen, "MultipleRemoteAddressStrategy netaddress examine scope Exception netaddress is %s", text);
            return -1;
        }
    }
    if (!last || *last != '{') {
        seterr(err, errlen, "MultipleRemoteAddressStrategy netaddress examine scope Exception netaddress is %s", text);
        return -1;
    }
    const char *brace = strchr(text, '{');
    char prefix[96];
    size_t plen = (size_t)(brace - text);
    if (plen >= sizeof prefix) {
        seterr(err, errlen, "Netaddress examine Exception netaddress is %s", text);
        return -1;
    }
    memcpy(prefix, text, plen);
    prefix[plen] = 0;
    /* items: between the last part's '{' and the final '}' */
    const char *items = last + 1;
    size_t ilen = (size_t)(text + n - 1 - items);
    p->kind = PAT_LIST;
    return list_add_items(p, prefix, items, ilen, text, err, errlen);
}

static int parse_dec_octet(const char *s, size_t n, unsigned *v)
{
    if (n == 0 || n > 3)
        return -1;
    unsigned x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        x = x * 10 + (unsigned)(s[i] - '0');
    }
    if (x > 255)
        return -1;
    *v = x;
    return 0;
}

static int parse_hex_group(const char *s, size_t n, unsigned *v)
{
    if (n == 0 || n > 4)
        return -1;
    unsigned x = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (!isxdigit(c))
            return -1;
        x = x * 16 + (unsigned)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
    }
    *v = x;
    return 0;
}

/* "a-b" with each side parsed by `num`; 0 ok, -1 bad. */
static int parse_minus(const char *s, size_t n, int (*num)(const char *, size_t, unsigned *), unsigned *lo,
                       unsigned *hi)
{
    if (n == 0 || s[0] == '-')
        return -1;
    const char *m = memchr(s, '-', n);
    if (!m)
        return -1;
    const char *b = m + 1;
    size_t blen = (size_t)(s + n - b);
    if (memchr(b, '-', blen))
        return -1;
    if (num(s, (size_t)(m - s), lo) || num(b, blen, hi) || *lo > *hi)
        return -1;
    return 0;
}

static int parse_range4(acl_pattern_t *p, const char *text, char *err, size_t errlen)
{
    /* parts split on '.', empty ones dropped (as StringUtils.split) */
    const char *ps[5];
    size_t pl[5];
    int np = 0;
    for (const char *s = text; *s;) {
        const char *d = strchr(s, '.');
        size_t l = d ? (size_t)(d - s) : strlen(s);
        if (l) {
            if (np == 4)
                goto bad;
            ps[np] = s;
            pl[np++] = l;
        }
        s += l;
        if (*s == '.')
            s++;
    }
    int pos = -1;
    unsigned lo = 0, hi = 0;
    for (int i = 1; i < np && pos < 0; i++) {
        if (pl[i] == 1 && ps[i][0] == '*') {
            pos = i;
            lo = 0;
            hi = 255;
        } else if (memchr(ps[i], '-', pl[i])) {
            if (parse_minus(ps[i], pl[i], parse_dec_octet, &lo, &hi))
                goto bad;
            if (hi > 0) /* 4.9.5 recognises a range only when its upper bound is above 0 */
                pos = i;
        }
    }
    if (pos < 0)
        goto bad;
    size_t hl = 0;
    for (int i = 0; i < pos; i++) {
        unsigned v;
        if (parse_dec_octet(ps[i], pl[i], &v))
            goto bad;
        memcpy(p->head + hl, ps[i], pl[i]);
        hl += pl[i];
        p->head[hl++] = '.';
    }
    p->head[hl] = 0;
    p->kind = PAT_RANGE4;
    p->pos = pos;
    p->lo = lo;
    p->hi = hi;
    return 0;
bad:
    seterr(err, errlen, "RangeRemoteAddressStrategy netaddress examine scope Exception netaddress is %s", text);
    return -1;
}

static int parse_range6(acl_pattern_t *p, const char *text, char *err, size_t errlen)
{
    char buf[96];
    size_t n = strlen(text);
    if (n >= sizeof buf)
        goto bad;
    memcpy(buf, text, n + 1);
    int trailing_star = 0;
    unsigned lo, hi;
    if (n >= 2 && strcmp(buf + n - 2, ":*") == 0) {
        buf[n - 2] = 0; /* "...:*": the wild group is '*' itself, or a range just before it */
        n -= 2;
        trailing_star = 1;
    }
    char *colon = strrchr(buf, ':');
    const char *lastg = colon ? colon + 1 : buf;
    size_t lastlen = strlen(lastg);
    int range_in_last = memchr(lastg, '-', lastlen) != NULL;
    char prefix[sizeof buf + 2];
    if (range_in_last) {
        if (!colon || parse_minus(lastg, lastlen, parse_hex_group, &lo, &hi))
            goto bad;
        size_t pl = (size_t)(lastg - buf);
        memcpy(prefix, buf, pl);
        prefix[pl] = 0;
    } else if (trailing_star) {
        lo = 0;
        hi = 0xffff;
        snprintf(prefix, sizeof prefix, "%s:", buf);
        trailing_star = 0; /* the '*' is the wild group; nothing follows it */
    } else {
        goto bad;
    }
    /* prefix ends with ':' and has no other '*' or '-' */
    size_t pl = strlen(prefix);
    if (pl < 2 || prefix[pl - 1] != ':' || strpbrk(prefix, "*-"))
        goto bad;
    int pos;
    char probe[128];
    unsigned char a[16];
    if (strstr(prefix, "::")) {
        /* the zero run fills up to the wild group, which is the last one (or the one before a trailing '*') */
        pos = trailing_star ? 6 : 7;
        snprintf(probe, sizeof probe, "%s0%s", prefix, trailing_star ? ":0" : "");
        if (inet_pton(AF_INET6, probe, a) != 1)
            goto bad;
        char full[CANON_MAX];
        expand6(a, full);
        memcpy(p->head, full, (size_t)pos * 5);
        p->head[pos * 5] = 0;
    } else {
        /* g0:g1:...:g(k-1): -> k explicit groups */
        pos = 0;
        size_t hl = 0;
        const char *s = prefix;
        while (*s) {
            const char *c = strchr(s, ':');
            unsigned v;
            if (!c || parse_hex_group(s, (size_t)(c - s), &v))
                goto bad;
            if (pos >= (trailing_star ? 6 : 7))
                goto bad;
            hl += (size_t)sprintf(p->head + hl, "%04X:", v);
            pos++;
            s = c + 1;
        }
        if (pos == 0)
            goto bad;
    }
    p->kind = PAT_RANGE6;
    p->pos = pos;
    p->lo = lo;
    p->hi = hi;
    return 0;
bad:
    seterr(err, errlen, "RangeRemoteAddressStrategy netaddress examine scope Exception netaddress is %s", text);
    return -1;
}

acl_pattern_t *acl_pattern_parse(const char *text, char *err, size_t errlen)
{
    if (!text)
        text = "";
    acl_pattern_t *p = calloc(1, sizeof *p);
    if (!p) {
        seterr(err, errlen, "out of memory%s", "");
        return NULL;
    }
    int rc = 0;
    size_t n = strlen(text);
    if (is_blank(text))
        p->kind = PAT_NONE;
    else if (!strcmp(text, "*") || !strcmp(text, "*.*.*.*") || !strcmp(text, "*:*:*:*:*:*:*:*"))
        p->kind = PAT_ALL;
    else if (text[n - 1] == '}')
        rc = parse_set(p, text, err, errlen);
    else if (strchr(text, ',')) {
        p->kind = PAT_LIST;
        rc = list_add_items(p, "", text, n, text, err, errlen);
    } else if (strpbrk(text, "*-"))
        rc = strchr(text, ':') ? parse_range6(p, text, err, errlen) : parse_range4(p, text, err, errlen);
    else {
        p->kind = PAT_LIST;
        rc = list_add(p, text, n);
        if (rc)
            seterr(err, errlen, rc == -2 ? "out of memory parsing %s" : "Netaddress examine Exception netaddress is %s",
                   text);
    }
    if (rc) {
        acl_pattern_free(p);
        return NULL;
    }
    return p;
}

void acl_pattern_free(acl_pattern_t *p)
{
    if (!p)
        return;
    free(p->list);
    free(p);
}

int acl_pattern_match(const acl_pattern_t *p, const char *ip)
{
    if (!p || p->kind == PAT_NONE)
        return 0;
    if (p->kind == PAT_ALL)
        return 1;
    char c[CANON_MAX];
    int v6;
    if (canon_client(ip, c, &v6))
        return 0;
    switch (p->kind) {
    case PAT_LIST:
        for (size_t i = 0; i < p->nlist; i++)
            if (!strcmp(p->list[i], c))
                return 1;
        return 0;
    case PAT_RANGE4: {
        if (v6)
            return 0;
        size_t hl = strlen(p->head);
        if (strncmp(c, p->head, hl))
            return 0;
        /* c is dotted: skip to the octet at p->pos (the head covers the ones before) */
        const char *s = c;
        for (int i = 0; i < p->pos; i++)
            s = strchr(s, '.') + 1;
        unsigned v = (unsigned)strtoul(s, NULL, 10);
        return v >= p->lo && v <= p->hi;
    }
    case PAT_RANGE6: {
        if (!v6)
            return 0;
        size_t hl = (size_t)p->pos * 5;
        if (strncmp(c, p->head, hl))
            return 0;
        unsigned v = (unsigned)strtoul(c + hl, NULL, 16);
        return v >= p->lo && v <= p->hi;
    }
    }
    return 0;
}
