/* query.c: finding stored messages by key and by id (the Java client's queryMessage and
 * viewMessage). By key: QUERY_MESSAGE to the master of every broker in the topic's route, the
 * union filtered by the exact key (the index compares hashes only). By offsetMsgId: the id
 * holds the broker's address and the commit-log offset, so one VIEW_MESSAGE_BY_ID. By UNIQ_KEY:
 * QUERY_MESSAGE with _UNIQUE_KEY_QUERY, keeping the oldest record with that id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/lc.h"

#define QUERY_TIMEOUT_MS 5000

void lc_query_result_free(lc_message_ext_t **msgs, size_t n) { lc_free_msgs(msgs, n); }
void lc_message_ext_free(lc_message_ext_t *m) { free(m); }

static int has_key(const lc_message_ext_t *m, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = m->keys; p && *p;) {
        const char *sp = strchr(p, ' ');
        size_t l = sp ? (size_t)(sp - p) : strlen(p);
        if (l == kl && memcmp(p, key, kl) == 0)
            return 1;
        p += l + (sp ? 1 : 0);
    }
    return 0;
}

static int append(lc_message_ext_t ***all, size_t *n, lc_message_ext_t *m)
{
    lc_message_ext_t **nv = realloc(*all, (*n + 1) * sizeof *nv);
    if (!nv)
        return LC_ENOMEM;
    nv[(*n)++] = m;
    *all = nv;
    return LC_OK;
}

/* QUERY_MESSAGE to one broker; matching records are appended to *all. */
static int query_broker(lc_inst_t *in, const struct lc_broker *b, const char *topic, const char *key,
                        int max_num, int64_t begin, int64_t end, int uniq, lc_message_ext_t ***all, size_t *n)
{
    rm_cmd_t req, resp;
    lc_req_init(&req, 12);
    rm_ext_set(&req, "topic", topic);
    rm_ext_set(&req, "key", key);
    rm_ext_set_i64(&req, "maxNum", max_num);
    rm_ext_set_i64(&req, "beginTimestamp", begin);
    rm_ext_set_i64(&req, "endTimestamp", end);
    rm_ext_set(&req, "_UNIQUE_KEY_QUERY", uniq ? "true" : "false");
    int rc = lc_rpc_sync(in, b->addr, &req, QUERY_TIMEOUT_MS, &resp);
    if (rc != LC_OK)
        return rc;
    if (resp.code != 0) {
        rc = resp.code == 22 ? LC_ENOTFOUND : LC_EBROKER;
        rm_cmd_free(&resp);
        return rc;
    }
    lc_message_ext_t **msgs = NULL;
    size_t nm = 0;
    rc = lc_decode_records(resp.body, resp.body_len, b->name, NULL, 0, &msgs, &nm);
    rm_cmd_free(&resp);
    if (rc != LC_OK)
        return rc;
    for (size_t i = 0; i < nm; i++) {
        lc_message_ext_t *m = msgs[i];
        int ok = strcmp(m->topic, topic) == 0 && (uniq ? strcmp(m->msg_id, key) == 0 : has_key(m, key));
        if (!ok || append(all, n, m) != LC_OK)
            free(m);
    }
    free(msgs);
    return LC_OK;
}

static int query_all(lc_producer_t *p, const char *topic, const char *key, int max_num, int64_t begin,
                     int64_t end, int uniq, lc_message_ext_t ***msgs, size_t *n)
{
    lc_inst_t *in = lc_producer_inst(p);
    lc_route_t *r;
    *msgs = NULL;
    *n = 0;
    if (!in)
        return LC_ESTATE;
    if (!topic || !key || !*key)
        return LC_EINVAL;
    int rc = lc_route_get(in, topic, 0, 0, &r);
    if (rc != LC_OK)
        return rc;
    int last = LC_ENOTFOUND;
    for (size_t i = 0; i < r->nbrokers; i++) {
        int brc = query_broker(in, &r->brokers[i], topic, key, max_num, begin, end, uniq, msgs, n);
        if (brc != LC_OK && brc != LC_ENOTFOUND)
            last = brc;
    }
    lc_route_put(r);
    return *n ? LC_OK : last;
}

int lc_producer_query_message(lc_producer_t *p, const char *topic, const char *key, int max_num,
                              int64_t begin_ms, int64_t end_ms, lc_message_ext_t ***msgs, size_t *n)
{
    return query_all(p, topic, key, max_num, begin_ms, end_ms, 0, msgs, n);
}

/* offsetMsgId: 32 hex chars = ip(4) port(4) offset(8) */
static int decode_offset_id(const char *id, char *addr, size_t alen, int64_t *off)
{
    uint8_t b[16];
    if (strlen(id) != 32)
        return -1;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(id + 2 * i, "%2x", &v) != 1)
            return -1;
        b[i] = (uint8_t)v;
    }
    uint32_t port = (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7];
    uint64_t o = 0;
    for (int i = 8; i < 16; i++)
        o = o << 8 | b[i];
    snprintf(addr, alen, "%u.%u.%u.%u:%u", b[0], b[1], b[2], b[3], port);
    *off = (int64_t)o;
    return port > 0 && port < 65536 ? 0 : -1;
}

static int route_has_addr(lc_inst_t *in, const char *topic, const char *addr)
{
    lc_route_t *r;
    int found = 0;
    if (lc_route_get(in, topic, 0, 0, &r) != LC_OK)
        return 0;
    for (size_t i = 0; i < r->nbrokers && !found; i++)
        found = strcmp(r->brokers[i].addr, addr) == 0;
    lc_route_put(r);
    return found;
}

static int view_by_offset(lc_producer_t *p, const char *topic, const char *id, lc_message_ext_t **msg)
{
    char addr[64];
    int64_t off;
    lc_inst_t *in = lc_producer_inst(p);
    if (!in)
        return LC_ESTATE;
    if (decode_offset_id(id, addr, sizeof addr, &off) != 0 || !route_has_addr(in, topic, addr))
        return LC_EINVAL; /* a UNIQ_KEY decodes to no broker of ours: never dial what it says */
    rm_cmd_t req, resp;
    lc_req_init(&req, 33);
    rm_ext_set_i64(&req, "offset", off);
    int rc = lc_rpc_sync(in, addr, &req, QUERY_TIMEOUT_MS, &resp);
    if (rc != LC_OK)
        return rc;
    if (resp.code != 0) {
        rm_cmd_free(&resp);
        return LC_ENOTFOUND;
    }
    lc_message_ext_t **msgs = NULL;
    size_t n = 0;
    rc = lc_decode_records(resp.body, resp.body_len, NULL, NULL, 0, &msgs, &n);
    rm_cmd_free(&resp);
    if (rc == LC_OK && n == 0)
        rc = LC_ENOTFOUND;
    if (rc == LC_OK) {
        *msg = msgs[0];
        msgs[0] = NULL;
    }
    lc_free_msgs(msgs, n);
    return rc;
}

int lc_producer_view_message(lc_producer_t *p, const char *topic, const char *msg_id, lc_message_ext_t **msg)
{
    *msg = NULL;
    if (!msg_id)
        return LC_EINVAL;
    /* an offsetMsgId first, as Java's MQAdminImpl.viewMessage; a UNIQ_KEY does not name a broker */
    if (view_by_offset(p, topic, msg_id, msg) == LC_OK)
        return LC_OK;
    lc_message_ext_t **msgs;
    size_t n;
    int rc = query_all(p, topic, msg_id, 32, 0, INT64_MAX, 1, &msgs, &n);
    if (rc != LC_OK)
        return rc;
    size_t oldest = 0;
    for (size_t i = 1; i < n; i++)
        if (msgs[i]->store_timestamp < msgs[oldest]->store_timestamp)
            oldest = i;
    *msg = msgs[oldest];
    msgs[oldest] = NULL;
    lc_free_msgs(msgs, n);
    return LC_OK;
}
