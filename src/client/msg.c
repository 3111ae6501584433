/* Message codecs of the client: property strings (spec §4.1), UNIQ_KEY (§5.2), offsetMsgId
 * (§5.1), stored records of pull bodies (§4.4), batch bodies (§4.5), tag subscriptions (§4.8)
 * and the averaging queue allocation. Pure functions, any thread; every length read from the
 * wire is checked against what is left before it is used. */
#include "lc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* ---- property strings ---- */

int lc_props_append(cm_buf_t *out, const char *name, const char *value)
{
    if (!name || !*name || !value || !*value)
        return 0;
    if (out->len && cm_buf_putc(out, 2))
        return LC_ENOMEM;
    if (cm_buf_puts(out, name) || cm_buf_putc(out, 1) || cm_buf_puts(out, value))
        return LC_ENOMEM;
    return 0;
}

void lc_props_walk(const char *s, size_t len, lc_prop_fn fn, void *arg)
{
    size_t i = 0;
    while (i < len) {
        const char *piece = s + i;
        const char *end = memchr(piece, 2, len - i);
        size_t plen = end ? (size_t)(end - piece) : len - i;
        i += plen + 1;
        if (plen < 3)                      /* Java ignores pieces shorter than 3 chars */
            continue;
        const char *sep = memchr(piece, 1, plen);
        if (!sep || sep == piece || sep == piece + plen - 1)
            continue;
        fn(piece, (size_t)(sep - piece), sep + 1, plen - (size_t)(sep - piece) - 1, arg);
    }
}

typedef struct props_acc {
    size_t n, bytes;
    lc_property_t *arr;
    char *w;
} props_acc_t;

static void props_count(const char *name, size_t nlen, const char *val, size_t vlen, void *arg)
{
    props_acc_t *a = arg;
    a->n++;
    a->bytes += nlen + vlen + 2;
}

static void props_fill(const char *name, size_t nlen, const char *val, size_t vlen, void *arg)
{
    props_acc_t *a = arg;
    lc_property_t *p = &a->arr[a->n++];
    memcpy(a->w, name, nlen);
    a->w[nlen] = 0;
    p->name = a->w;
    a->w += nlen + 1;
    memcpy(a->w, val, vlen);
    a->w[vlen] = 0;
    p->value = a->w;
    a->w += vlen + 1;
}

int lc_props_decode(const char *s, size_t len, lc_property_t **out, size_t *n)
{
    props_acc_t a = {0};
    lc_props_walk(s, len, props_count, &a);
    char *block = malloc(a.n * sizeof(lc_property_t) + a.bytes + 1);
    if (!block)
        return LC_ENOMEM;
    props_acc_t f = {.arr = (lc_property_t *)block, .w = block + a.n * sizeof(lc_property_t)};
    lc_props_walk(s, len, props_fill, &f);
    *out = f.arr;
    *n = f.n;
    return 0;
}

/* ---- ids ---- */

static const char k_hex[] = "0123456789ABCDEF";

static void hex_upper(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = k_hex[p[i] >> 4];
        out[2 * i + 1] = k_hex[p[i] & 15];
    }
    out[2 * n] = 0;
}

void lc_offset_msg_id(const uint8_t *addr, size_t alen, int32_t port, int64_t offset, char *out)
{
    uint8_t b[28];
    memcpy(b, addr, alen);
    cm_wbe32(b + alen, (uint32_t)port);
    cm_wbe64(b + alen + 4, (uint64_t)offset);
    hex_upper(b, alen + 12, out);
}

static struct {
    pthread_once_t once;
    pthread_mutex_t mu;
    uint8_t fixed[10];      /* ip, pid, per-process random ("class loader hash") */
    int64_t month_start, next_month;
    uint16_t counter;
} g_uniq = {PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER};

static void month_bounds(int64_t now_ms)
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    g_uniq.month_start = (int64_t)mktime(&tm) * 1000;
    tm.tm_mon += 1;
    tm.tm_isdst = -1;
    g_uniq.next_month = (int64_t)mktime(&tm) * 1000;
}

static void uniq_init(void)
{
    uint8_t ip[4] = {127, 0, 0, 1};
    uv_interface_address_t *ifs = NULL;
    int nifs = 0;
    if (uv_interface_addresses(&ifs, &nifs) == 0) {
        for (int i = 0; i < nifs; i++) {
            if (!ifs[i].is_internal && ifs[i].address.address4.sin_family == AF_INET) {
                memcpy(ip, &ifs[i].address.address4.sin_addr, 4);
                break;
            }
        }
        uv_free_interface_addresses(ifs, nifs);
    }
    memcpy(g_uniq.fixed, ip, 4);
    cm_wbe16(g_uniq.fixed + 4, (uint16_t)getpid());
    uint32_t r = (uint32_t)cm_mono_us() ^ (uint32_t)((uint64_t)cm_now_ms() * 2654435761u) ^ (uint32_t)getpid() << 16;
    cm_wbe32(g_uniq.fixed + 6, r);
    g_uniq.counter = (uint16_t)(r >> 7);
    month_bounds(cm_now_ms());
}

void lc_uniq_id(char out[33])
{
    uint8_t b[16];
    pthread_once(&g_uniq.once, uniq_init);
    int64_t now = cm_now_ms();
    pthread_mutex_lock(&g_uniq.mu);
    if (now >= g_uniq.next_month)
        month_bounds(now);
    uint32_t since = (uint32_t)(now - g_uniq.month_start);
    uint16_t cnt = g_uniq.counter++;
    pthread_mutex_unlock(&g_uniq.mu);
    memcpy(b, g_uniq.fixed, 10);
    cm_wbe32(b + 10, since);
    cm_wbe16(b + 14, cnt);
    hex_upper(b, 16, out);
}

/* ---- stored records ---- */

static int inflate_body(const uint8_t *p, size_t n, cm_buf_t *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit(&zs) != Z_OK)
        return LC_ENOMEM;
    zs.next_in = (Bytef *)p;
    zs.avail_in = (uInt)n;
    int rc;
    do {
        if (cm_buf_reserve(out, n * 2 + 4096)) {
            inflateEnd(&zs);
            return LC_ENOMEM;
        }
        zs.next_out = (Bytef *)out->data + out->len;
        zs.avail_out = (uInt)(out->cap - out->len - 1);
        size_t before = zs.avail_out;
        rc = inflate(&zs, Z_NO_FLUSH);
        out->len += before - zs.avail_out;
        if (out->len > 64u * 1024 * 1024)
            rc = Z_DATA_ERROR;
    } while (rc == Z_OK);
    inflateEnd(&zs);
    return rc == Z_STREAM_END ? 0 : LC_EDECODE;
}

static int host_text(const uint8_t *p, size_t alen, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN];
    if (!inet_ntop(alen == 4 ? AF_INET : AF_INET6, p, ip, sizeof ip))
        return LC_EDECODE;
    snprintf(out, n, "%s:%d", ip, (int32_t)cm_be32(p + alen));
    return 0;
}

/* Decode one record of exactly `len` bytes. */
static int decode_one(const uint8_t *p, size_t len, const char *broker, const lc_property_t *extra,
                      size_t nextra, lc_message_ext_t **out)
{
    size_t off = 36;
    int32_t sys = (int32_t)cm_be32(p + 36);
    size_t bh = (sys & LC_SYSFLAG_BORNHOST_V6) ? 16 : 4;
    size_t sh = (sys & LC_SYSFLAG_STOREHOST_V6) ? 16 : 4;
    size_t fixed = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + bh + 4 + 8 + sh + 4 + 4 + 8 + 4;
    if (len < fixed + 1 + 2)
        return LC_EDECODE;
    off = 40;
    int64_t born_ts = (int64_t)cm_be64(p + off);
    off += 8;
    const uint8_t *born = p + off;
    off += bh + 4;
    int64_t store_ts = (int64_t)cm_be64(p + off);
    off += 8;
    const uint8_t *store = p + off;
    off += sh + 4;
    int32_t reconsume = (int32_t)cm_be32(p + off);
    off += 4;
    int64_t prepared = (int64_t)cm_be64(p + off);
    off += 8;
    uint32_t body_len = cm_be32(p + off);
    off += 4;
    if (body_len > len - off)
        return LC_EDECODE;
    const uint8_t *body = p + off;
    off += body_len;
    if (off + 1 > len)
        return LC_EDECODE;
    size_t tlen = p[off];
    off += 1;
    if (tlen > 127 || tlen > len - off)
        return LC_EDECODE;
    const char *topic = (const char *)p + off;
    off += tlen;
    if (off + 2 > len)
        return LC_EDECODE;
    size_t plen = cm_be16(p + off);
    off += 2;
    if (plen > 32767 || plen > len - off)
        return LC_EDECODE;
    const char *props = (const char *)p + off;

    cm_buf_t plain;
    cm_buf_init(&plain);
    if (sys & LC_SYSFLAG_COMPRESSED) {
        int rc = inflate_body(body, body_len, &plain);
        if (rc) {
            cm_buf_free(&plain);
            return rc;
        }
        body = (const uint8_t *)plain.data;
        body_len = (uint32_t)plain.len;
    }

    props_acc_t a = {0};
    for (size_t i = 0; i < nextra; i++)
        props_count(extra[i].name, strlen(extra[i].name), extra[i].value, strlen(extra[i].value), &a);
    lc_props_walk(props, plen, props_count, &a);
    size_t blen = broker ? strlen(broker) : 0;
    size_t need = sizeof(lc_message_ext_t) + a.n * sizeof(lc_property_t) + a.bytes + tlen + 1 + blen + 1 + body_len + 1;
    char *block = malloc(need);
    if (!block) {
        cm_buf_free(&plain);
        return LC_ENOMEM;
    }
    lc_message_ext_t *m = (lc_message_ext_t *)block;
    memset(m, 0, sizeof *m);
    char *w = block + sizeof *m;
    props_acc_t f = {.arr = (lc_property_t *)w, .w = w + a.n * sizeof(lc_property_t)};
    for (size_t i = 0; i < nextra; i++)
        props_fill(extra[i].name, strlen(extra[i].name), extra[i].value, strlen(extra[i].value), &f);
    lc_props_walk(props, plen, props_fill, &f);
    m->props = f.arr;
    m->nprops = f.n;
    w = f.w;
    memcpy(w, topic, tlen);
    w[tlen] = 0;
    m->topic = w;
    w += tlen + 1;
    if (broker)
        memcpy(w, broker, blen);
    w[blen] = 0;
    m->broker_name = w;
    w += blen + 1;
    if (body_len)
        memcpy(w, body, body_len);
    w[body_len] = 0;
    m->body = (const uint8_t *)w;
    m->body_len = body_len;
    cm_buf_free(&plain);

    m->store_size = (int32_t)len;
    m->body_crc = (int32_t)cm_be32(p + 8);
    m->queue_id = (int32_t)cm_be32(p + 12);
    m->flag = (int32_t)cm_be32(p + 16);
    m->queue_offset = (int64_t)cm_be64(p + 20);
    m->commit_log_offset = (int64_t)cm_be64(p + 28);
    m->sys_flag = sys;
    m->born_timestamp = born_ts;
    m->store_timestamp = store_ts;
    m->reconsume_times = reconsume;
    m->prepared_transaction_offset = prepared;
    host_text(born, bh, m->born_host, sizeof m->born_host);
    host_text(store, sh, m->store_host, sizeof m->store_host);
    lc_offset_msg_id(store, sh, (int32_t)cm_be32(store + sh), m->commit_log_offset, m->offset_msg_id);
    m->tags = lc_message_property(m, "TAGS");
    m->keys = lc_message_property(m, "KEYS");
    const char *uniq = lc_message_property(m, "UNIQ_KEY");
    snprintf(m->msg_id, sizeof m->msg_id, "%s", uniq && strlen(uniq) < LC_MAX_ID ? uniq : m->offset_msg_id);
    *out = m;
    return 0;
}

int lc_decode_records(const uint8_t *p, size_t len, const char *broker_name, const lc_property_t *extra,
                      size_t nextra, lc_message_ext_t ***out, size_t *n)
{
    size_t cap = 0, cnt = 0, off = 0;
    lc_message_ext_t **arr = NULL;
    int rc = 0;
    while (len - off >= 4) {
        uint32_t total = cm_be32(p + off);
        if (total < 40 || total > len - off)
            break;                      /* truncated record ends the list */
        if (cnt == cap) {
            cap = cap ? cap * 2 : 32;
            lc_message_ext_t **na = realloc(arr, cap * sizeof *na);
            if (!na) {
                rc = LC_ENOMEM;
                goto err;
            }
            arr = na;
        }
        rc = decode_one(p + off, total, broker_name, extra, nextra, &arr[cnt]);
        if (rc)
            goto err;
        cnt++;
        off += total;
    }
    *out = arr;
    *n = cnt;
    return 0;
err:
    lc_free_msgs(arr, cnt);
    return rc;
}

void lc_free_msgs(lc_message_ext_t **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(msgs[i]);
    free(msgs);
}

const char *lc_message_property(const lc_message_ext_t *m, const char *name)
{
    for (size_t i = 0; i < m->nprops; i++)
        if (strcmp(m->props[i].name, name) == 0)
            return m->props[i].value;
    return NULL;
}

char *lc_message_ext_to_string(const lc_message_ext_t *m)
{
    cm_buf_t b;
    cm_buf_init(&b);
    int rc = cm_buf_printf(&b,
        "MessageExt [brokerName=%s, queueId=%d, storeSize=%d, queueOffset=%lld, sysFlag=%d, "
        "bornTimestamp=%lld, bornHost=/%s, storeTimestamp=%lld, storeHost=/%s, msgId=%s, "
        "commitLogOffset=%lld, bodyCRC=%d, reconsumeTimes=%d, preparedTransactionOffset=%lld, "
        "toString()=Message{topic='%s', flag=%d, properties={",
        m->broker_name && *m->broker_name ? m->broker_name : "null", m->queue_id, m->store_size,
        (long long)m->queue_offset, m->sys_flag, (long long)m->born_timestamp, m->born_host,
        (long long)m->store_timestamp, m->store_host, m->msg_id, (long long)m->commit_log_offset,
        m->body_crc, m->reconsume_times, (long long)m->prepared_transaction_offset, m->topic, m->flag);
    for (size_t i = 0; i < m->nprops && rc == 0; i++)
        rc = cm_buf_printf(&b, "%s%s=%s", i ? ", " : "", m->props[i].name, m->props[i].value);
    if (rc == 0)
        rc = cm_buf_puts(&b, "}, body=[");
    for (size_t i = 0; i < m->body_len && rc == 0; i++)  /* Java bytes are signed */
        rc = cm_buf_printf(&b, "%s%d", i ? ", " : "", (int)(int8_t)m->body[i]);
    if (rc == 0)
        rc = cm_buf_puts(&b, "], transactionId='null'}]");
    if (rc) {
        cm_buf_free(&b);
        return NULL;
    }
    return cm_buf_steal(&b);
}

/* ---- outgoing messages ---- */

int lc_message_props(const lc_message_t *m, const char *uniq, int with_wait, cm_buf_t *out)
{
    int rc = 0;
    for (size_t i = 0; i < m->nprops && rc == 0; i++)
        rc = lc_props_append(out, m->props[i].name, m->props[i].value);
    if (rc == 0)
        rc = lc_props_append(out, "KEYS", m->keys);
    if (rc == 0)
        rc = lc_props_append(out, "TAGS", m->tags);
    if (rc == 0 && m->delay_level > 0) {
        char lv[16];
        snprintf(lv, sizeof lv, "%d", m->delay_level);
        rc = lc_props_append(out, "DELAY", lv);
    }
    if (rc == 0 && with_wait)
        rc = lc_props_append(out, "WAIT", "true");
    if (rc == 0)
        rc = lc_props_append(out, "UNIQ_KEY", uniq);
    return rc;
}

int lc_batch_encode(const lc_message_t *msgs, size_t n, char (*uniq)[33], cm_buf_t *out)
{
    cm_buf_t props;
    cm_buf_init(&props);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        cm_buf_reset(&props);
        rc = lc_message_props(&msgs[i], uniq[i], 0, &props);
        if (rc)
            break;
        if (props.len > 32767 || msgs[i].body_len > LC_MAX_BODY) {
            rc = LC_EINVAL;
            break;
        }
        uint32_t total = (uint32_t)(4 + 4 + 4 + 4 + 4 + msgs[i].body_len + 2 + props.len);
        if (cm_buf_put_be32(out, total) || cm_buf_put_be32(out, 0) || cm_buf_put_be32(out, 0) ||
            cm_buf_put_be32(out, (uint32_t)msgs[i].flag) || cm_buf_put_be32(out, (uint32_t)msgs[i].body_len) ||
            cm_buf_append(out, msgs[i].body, msgs[i].body_len) || cm_buf_put_be16(out, (uint16_t)props.len) ||
            cm_buf_append(out, props.data, props.len))
            rc = LC_ENOMEM;
    }
    cm_buf_free(&props);
    return rc;
}

/* ---- allocation, subscriptions ---- */

void lc_allocate_average(size_t n_mq, size_t n_cid, size_t index, size_t *start, size_t *count)
{
    *start = 0;
    *count = 0;
    if (n_cid == 0 || index >= n_cid || n_mq == 0)
        return;
    size_t mod = n_mq % n_cid;
    size_t avg = n_mq <= n_cid ? 1 : (mod > 0 && index < mod ? n_mq / n_cid + 1 : n_mq / n_cid);
    size_t s = (mod > 0 && index < mod) ? index * avg : index * avg + mod;
    if (s >= n_mq)
        return;
    *start = s;
    *count = avg < n_mq - s ? avg : n_mq - s;
}

int lc_sub_parse(lc_sub_t *s, const char *topic, const char *expr)
{
    memset(s, 0, sizeof *s);
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    if (!expr)
        expr = "*";
    s->expr = cm_strdup(expr);
    if (!s->expr)
        return LC_ENOMEM;
    s->version = cm_now_ms();
    const char *t = expr;
    while (isspace((unsigned char)*t))
        t++;
    if (*t == 0 || strcmp(t, "*") == 0) {
        s->all = 1;
        return 0;
    }
    size_t cap = 4;
    s->tags = calloc(cap, sizeof *s->tags);
    s->codes = calloc(cap, sizeof *s->codes);
    if (!s->tags || !s->codes)
        goto nomem;
    const char *p = expr;
    while (*p) {
        const char *e = strstr(p, "||");
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *a = p, *b = p + len;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a) {
            if (s->ntags == cap) {
                cap *= 2;
                char **nt = realloc(s->tags, cap * sizeof *nt);
                if (!nt)
                    goto nomem;
                s->tags = nt;
                int32_t *nc = realloc(s->codes, cap * sizeof *nc);
                if (!nc)
                    goto nomem;
                s->codes = nc;
            }
            s->tags[s->ntags] = cm_strndup(a, (size_t)(b - a));
            if (!s->tags[s->ntags])
                goto nomem;
            s->codes[s->ntags] = cm_java_hash(a, (size_t)(b - a));
            s->ntags++;
        }
        if (!e)
            break;
        p = e + 2;
    }
    if (s->ntags == 0)
        s->all = 1;
    return 0;
nomem:
    lc_sub_free(s);
    return LC_ENOMEM;
}

void lc_sub_free(lc_sub_t *s)
{
    for (size_t i = 0; i < s->ntags; i++)
        free(s->tags[i]);
    free(s->tags);
    free(s->codes);
    free(s->expr);
    memset(s, 0, sizeof *s);
}

int lc_sub_parse_sql(lc_sub_t *s, const char *topic, const char *sql)
{
    memset(s, 0, sizeof *s);
    if (!sql || !*sql)
        return LC_EINVAL;
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    if (!(s->expr = cm_strdup(sql)))
        return LC_ENOMEM;
    s->sql = 1;
    s->version = cm_now_ms();
    return 0;
}

int lc_sub_match(const lc_sub_t *s, const char *tags)
{
    if (s->all || s->sql)
        return 1; /* SQL92: the broker evaluated it */
    if (!tags)
        return 0;
    for (size_t i = 0; i < s->ntags; i++)
        if (strcmp(s->tags[i], tags) == 0)
            return 1;
    return 0;
}

int lc_mq_cmp(const void *a, const void *b)
{
    const lc_mq_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c == 0)
        c = strcmp(x->broker_name, y->broker_name);
    if (c == 0)
        c = (x->queue_id > y->queue_id) - (x->queue_id < y->queue_id);
    return c;
}

int lc_err_from_rm(int st)
{
    switch (st) {
    case RM_OK: return 0;
    case RM_ENOMEM: return LC_ENOMEM;
    case RM_ETIMEOUT: return LC_ETIMEOUT;
    case RM_ECLOSED: case RM_ECONNECT: return LC_ENETWORK;
    default: return LC_EDECODE;
    }
}

const char *lc_strerror(int err)
{
    switch (err) {
    case LC_OK: return "success";
    case LC_ENOMEM: return "out of memory";
    case LC_EINVAL: return "invalid argument";
    case LC_ETIMEOUT: return "timed out";
    case LC_ENETWORK: return "network error";
    case LC_ENOROUTE: return "no route for topic";
    case LC_EBROKER: return "server answered an error";
    case LC_ESTATE: return "wrong state";
    case LC_ENOTFOUND: return "not found";
    case LC_EDECODE: return "undecodable answer";
    default: return "unknown error";
    }
}

const char *lc_send_status_name(lc_send_status_t s)
{
    switch (s) {
    case LC_SEND_OK: return "SEND_OK";
    case LC_SEND_FLUSH_DISK_TIMEOUT: return "FLUSH_DISK_TIMEOUT";
    case LC_SEND_FLUSH_SLAVE_TIMEOUT: return "FLUSH_SLAVE_TIMEOUT";
    case LC_SEND_SLAVE_NOT_AVAILABLE: return "SLAVE_NOT_AVAILABLE";
    }
    return "UNKNOWN";
}

void lc_send_result_clear(lc_send_result_t *r)
{
    free(r->batch_msg_ids);
    r->batch_msg_ids = NULL;
}

int lc_send_result_format(const lc_send_result_t *r, char *buf, size_t n)
{
    return snprintf(buf, n,
                    "SendResult [sendStatus=%s, msgId=%s, offsetMsgId=%s, messageQueue=MessageQueue "
                    "[topic=%s, brokerName=%s, queueId=%d], queueOffset=%lld]",
                    lc_send_status_name(r->status), r->batch_msg_ids ? r->batch_msg_ids : r->msg_id,
                    r->offset_msg_id, r->mq.topic, r->mq.broker_name, r->mq.queue_id,
                    (long long)r->queue_offset);
}
