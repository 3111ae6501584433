/* api_message.c: the Message and Message Trace pages' requests (spec dashboard.md §3.6, §3.7):
 * a message by id with each consumer group's track, by key, by topic and time range (paged on
 * the server), a resend to one consumer client, and the trace of a message as records, as a
 * graph of producer and consumer nodes.
 *
 * Everything is read with plain admin requests (src/admin) to the brokers of the topic's
 * route, and the stored records are decoded by the client library's decoder:
 *   - by id: an offset id names its broker and commit-log offset (VIEW_MESSAGE_BY_ID, 33), but
 *     only a broker of the cluster is ever dialled; a client's unique key is looked up in the
 *     index (QUERY_MESSAGE, 12, unique-key flag) over the whole retention, not the last 3 days
 *     (rocketmq-dashboard issue #274);
 *   - by time: each queue's window [first message stored at or after begin, first after end)
 *     comes from SEARCH_OFFSET_BY_TIMESTAMP (29) checked against the store times of a pull
 *     (11), because the broker answers the nearest message, not the first one in range. The
 *     windows are kept under a taskId (bounded: DH_TASKS tasks, 60 minutes unused), so the next
 *     pages read only their own messages; a page takes the queues in turn, as the original.
 * Handlers run on the HTTP worker threads; the task table is the only shared state (g_tasks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "client/lc.h" /* lc_decode_records: the stored-record decoder of the client */
#include "dashboard.h"

#define TOOLS_GROUP "TOOLS_CONSUMER" /* the group the original's pulls use (a system group) */
#define PULL_BATCH 32
#define KEY_MAX 64                   /* "Only Return 64 Messages" */
#define LEGACY_MAX 2000              /* queryMessageByTopic.query's old cap */
#define TASKS_MAX 1000
#define TASK_TTL_MS (60 * 60 * 1000)
#define TRACK_GROUPS_MAX 256         /* groups tracked for one message */
#define SEEK_STEPS 64                /* bound of the pulls that find one window edge */

/* ---- small checks ---- */

/* RocketMQ's topic name rule: 1-127 characters of letters, digits, '%', '|', '-', '_'. */
static int topic_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (n == 0 || n > 127)
        return 0;
    return strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789%|-_") == n;
}

/* Message ids (offset ids and unique keys) are hex text; anything else is no id at all. */
static int id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return n > 0 && n <= 128 && strspn(id, "0123456789abcdefABCDEF") == n;
}

static int req_topic(dh_req_t *r, const char *name, const char **out)
{
    if (dh_param_req(r, name, out))
        return -1;
    return topic_ok(*out) ? 0 : dh_fail(r, "bad %s: 1 to 127 letters, digits, %%, |, - or _", name);
}

/* A JSON member as a whole number: absent or null gives dflt; -1 for anything else. */
static int json_i64(const lj_val_t *obj, const char *key, int64_t dflt, int64_t *out)
{
    const lj_val_t *v = lj_get(obj, key);
    if (!v || v->type == LJ_NULL) {
        *out = dflt;
        return 0;
    }
    if (v->type != LJ_NUM && v->type != LJ_STR)
        return -1;
    return cm_parse_i64(v->s, out) == 0 ? 0 : -1;
}

static void set_str_or_null(lj_val_t *o, const char *key, const char *s)
{
    lj_set(o, key, s ? lj_new_str(s) : lj_new_null());
}

/* ---- requests to brokers ---- */

/* One request to a broker (its VIP port when the OPS page says so); any answer code. */
static int broker_rpc(const char *addr, rm_cmd_t *req, rm_cmd_t *resp, ad_err_t *e)
{
    char to[128];
    dh_broker_addr(addr, to);
    return ad_rpc(to, req, resp, e);
}

static int answer_error(const rm_cmd_t *resp, ad_err_t *e)
{
    const char *r = resp->remark ? resp->remark : "";
    return ad_fail(e, "CODE: %d DESC: %.*s", resp->code, (int)strcspn(r, "\n"), r);
}

/* The readable brokers of a topic's route: name, master address, read queue count. */
typedef struct rbroker { char name[128], addr[128]; int nq; } rbroker_t;

static int route_brokers(const char *topic, rbroker_t **out, size_t *n, ad_err_t *e)
{
    char ns[128];
    lj_val_t *route = NULL;
    dh_namesrv_first(ns);
    *out = NULL;
    *n = 0;
    if (ad_route(ns, topic, &route, e))
        return -1;
    const lj_val_t *qds = lj_get(route, "queueDatas");
    size_t cnt = qds && qds->type == LJ_ARR ? qds->n : 0;
    rbroker_t *v = calloc(cnt ? cnt : 1, sizeof *v);
    if (!v) {
        lj_free(route);
        return ad_fail(e, "out of memory");
    }
    for (size_t i = 0; i < cnt; i++) {
        const lj_val_t *qd = qds->items[i];
        const char *name = lj_get_str(qd, "brokerName", "");
        const char *addr = ad_master_addr(route, name);
        int64_t nq = lj_get_int(qd, "readQueueNums", 0);
        if (!addr || !(lj_get_int(qd, "perm", 6) & 4) || nq <= 0 || nq > 1024)
            continue; /* no master (reads would fail) or not readable */
        snprintf(v[*n].name, sizeof v[*n].name, "%s", name);
        snprintf(v[*n].addr, sizeof v[*n].addr, "%s", addr);
        v[*n].nq = (int)nq;
        (*n)++;
    }
    lj_free(route);
    *out = v;
    return 0;
}

/* Decode the stored records of an answer's body; NULL list when there are none. */
static int decode(const rm_cmd_t *resp, const char *broker, lc_message_ext_t ***msgs, size_t *n, ad_err_t *e)
{
    *msgs = NULL;
    *n = 0;
    if (!resp->body_len)
        return 0;
    if (lc_decode_records(resp->body, resp->body_len, broker, NULL, 0, msgs, n) != LC_OK)
        return ad_fail(e, "unreadable message records from the broker");
    return 0;
}

/* A pull of up to max messages of one queue from off, with TOOLS_CONSUMER and "*": no offset
 * is committed and nothing is held (no suspend flag). code: 0 found, 19 none at off, 20
 * filtered, 21 off out of [min, max]; other codes are errors. */
typedef struct pulled {
    int code;
    int64_t next, min, max;
    lc_message_ext_t **msgs;
    size_t n;
} pulled_t;

static int pull(const char *addr, const char *broker, const char *topic, int qid, int64_t off, int max, pulled_t *p,
                ad_err_t *e)
{
    rm_cmd_t req, resp;
    memset(p, 0, sizeof *p);
    rm_cmd_init(&req, 11);
    rm_ext_set(&req, "consumerGroup", TOOLS_GROUP);
    rm_ext_set(&req, "topic", topic);
    rm_ext_set_i64(&req, "queueId", qid);
    rm_ext_set_i64(&req, "queueOffset", off);
    rm_ext_set_i64(&req, "maxMsgNums", max);
    rm_ext_set_i64(&req, "sysFlag", 4); /* the subscription below, nothing else */
    rm_ext_set(&req, "commitOffset", "0");
    rm_ext_set(&req, "suspendTimeoutMillis", "0");
    rm_ext_set(&req, "subscription", "*");
    rm_ext_set(&req, "subVersion", "0");
    rm_ext_set(&req, "expressionType", "TAG");
    int rc = broker_rpc(addr, &req, &resp, e);
    rm_cmd_free(&req);
    if (rc)
        return -1;
    p->code = resp.code;
    rm_ext_i64(&resp, "nextBeginOffset", &p->next);
    rm_ext_i64(&resp, "minOffset", &p->min);
    rm_ext_i64(&resp, "maxOffset", &p->max);
    if (resp.code == RC_SUCCESS)
        rc = decode(&resp, broker, &p->msgs, &p->n, e);
    else if (resp.code < RC_PULL_NOT_FOUND || resp.code > RC_PULL_OFFSET_MOVED)
        rc = answer_error(&resp, e);
    rm_cmd_free(&resp);
    return rc;
}

static void pulled_free(pulled_t *p)
{
    lc_free_msgs(p->msgs, p->n);
    p->msgs = NULL;
    p->n = 0;
}

static int search_offset(const char *addr, const char *topic, int qid, int64_t ts, int64_t *off, ad_err_t *e)
{
    rm_cmd_t req, resp;
    rm_cmd_init(&req, 29);
    rm_ext_set(&req, "topic", topic);
    rm_ext_set_i64(&req, "queueId", qid);
    rm_ext_set_i64(&req, "timestamp", ts);
    int rc = broker_rpc(addr, &req, &resp, e);
    rm_cmd_free(&req);
    if (rc)
        return -1;
    if (resp.code != RC_SUCCESS || rm_ext_i64(&resp, "offset", off) != 0)
        rc = resp.code != RC_SUCCESS ? answer_error(&resp, e) : ad_fail(e, "no offset in the broker's answer");
    rm_cmd_free(&resp);
    return rc;
}

/* The offset of the first message of the queue stored at or after ts (the queue's max offset
 * when there is none). The broker's search answers the message nearest to ts, which may be
 * one before it, or, for equal times, any of them; the pulls around it settle the edge. Store
 * times only grow along a queue but for clock steps: once the walk went forward it never
 * goes back, and it is bounded anyway. */
static int seek_time(const char *addr, const char *broker, const char *topic, int qid, int64_t ts, int64_t *out,
                     ad_err_t *e)
{
    int64_t x;
    if (search_offset(addr, topic, qid, ts, &x, e))
        return -1;
    int64_t p = x > 0 ? x - 1 : 0;
    int forward = 0;
    for (int step = 0; step < SEEK_STEPS; step++) {
        pulled_t pr;
        if (pull(addr, broker, topic, qid, p, PULL_BATCH, &pr, e))
            return -1;
        if (pr.code == RC_PULL_NOT_FOUND) { /* nothing at p: the end of the queue */
            *out = p < pr.max ? p : pr.max;
            return 0;
        }
        if (pr.code != RC_SUCCESS) {           /* moved (p outside [min, max]) or filtered */
            if (pr.next == p) {
                *out = p;
                return 0;
            }
            forward |= pr.next > p;
            p = pr.next;
            continue;
        }
        if (pr.n == 0) { /* found, yet no record decoded: take the broker's next offset */
            if (pr.next <= p) {
                *out = p;
                return 0;
            }
            forward = 1;
            p = pr.next;
            continue;
        }
        if (pr.msgs[0]->store_timestamp >= ts && p > pr.min && !forward) {
            p = p - PULL_BATCH > pr.min ? p - PULL_BATCH : pr.min; /* the edge is further back */
            pulled_free(&pr);
            continue;
        }
        for (size_t i = 0; i < pr.n; i++) {
            if (pr.msgs[i]->store_timestamp >= ts) {
                *out = pr.msgs[i]->queue_offset;
                pulled_free(&pr);
                return 0;
            }
        }
        forward = 1;
        p = pr.next > p ? pr.next : p + (int64_t)pr.n;
        pulled_free(&pr);
    }
    *out = p;
    return 0;
}

/* ---- MessageView ---- */

/* rocketmq-dashboard's MessageView of one message; the body as text (or left out). */
static lj_val_t *view_json(const lc_message_ext_t *m, int with_body)
{
    lj_val_t *o = lj_new_obj(), *props = lj_new_obj();
    if (!o || !props) {
        lj_free(o);
        lj_free(props);
        return NULL;
    }
    for (size_t i = 0; i < m->nprops; i++)
        lj_set_str(props, m->props[i].name, m->props[i].value);
    lj_set_str(o, "topic", m->topic);
    lj_set_int(o, "flag", m->flag);
    lj_set(o, "properties", props);
    lj_set(o, "messageBody", with_body ? lj_new_strn((const char *)m->body, m->body_len) : lj_new_null());
    lj_set_int(o, "queueId", m->queue_id);
    lj_set_int(o, "storeSize", m->store_size);
    lj_set_int(o, "queueOffset", m->queue_offset);
    lj_set_int(o, "sysFlag", m->sys_flag);
    lj_set_int(o, "bornTimestamp", m->born_timestamp);
    lj_set_str(o, "bornHost", m->born_host);
    lj_set_int(o, "storeTimestamp", m->store_timestamp);
    lj_set_str(o, "storeHost", m->store_host);
    lj_set_str(o, "msgId", m->msg_id);
    lj_set_int(o, "commitLogOffset", m->commit_log_offset);
    lj_set_int(o, "bodyCRC", m->body_crc);
    lj_set_int(o, "reconsumeTimes", m->reconsume_times);
    lj_set_int(o, "preparedTransactionOffset", m->prepared_transaction_offset);
    return o;
}

/* ---- a message by id ---- */

/* An offset id: hex of the store host's address (4 or 16 bytes), port (4) and commit-log
 * offset (8). The address as the cluster info writes it. */
static int offset_id_decode(const char *id, char addr[128], int64_t *off)
{
    size_t n = strlen(id), alen = n == 32 ? 4 : n == 56 ? 16 : 0;
    uint8_t b[28];
    if (!alen)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned x;
        if (sscanf(id + 2 * i, "%2x", &x) != 1)
            return -1;
        b[i] = (uint8_t)x;
    }
    uint32_t port = cm_be32(b + alen);
    if (port == 0 || port > 65535)
        return -1;
    *off = (int64_t)cm_be64(b + alen + 4);
    if (alen == 4) {
        snprintf(addr, 128, "%u.%u.%u.%u:%u", b[0], b[1], b[2], b[3], port);
    } else {
        char *w = addr;
        for (int i = 0; i < 16; i += 2)
            w += sprintf(w, "%s%x", i ? ":" : "", (unsigned)(b[i] << 8 | b[i + 1]));
        sprintf(w, ":%u", port);
    }
    return *off >= 0 ? 0 : -1;
}

static int view_by_offset_id(const char *id, lc_message_ext_t **out, char addr[128])
{
    int64_t off;
    ad_err_t e;
    rm_cmd_t resp;
    if (offset_id_decode(id, addr, &off) || dh_known_broker(addr, &e) != 1)
        return -1;
    char o[32];
    snprintf(o, sizeof o, "%lld", (long long)off);
    char to[128];
    dh_broker_addr(addr, to);
    if (ad_call_raw(to, &resp, &e, NULL, 0, 33, "offset", o, NULL))
        return -1;
    lc_message_ext_t **msgs;
    size_t n;
    int rc = decode(&resp, NULL, &msgs, &n, &e);
    rm_cmd_free(&resp);
    /* a record must start at that very offset: the broker reads whatever lies there */
    if (rc || n == 0 || msgs[0]->commit_log_offset != off) {
        lc_free_msgs(msgs, n);
        return -1;
    }
    *out = msgs[0];
    msgs[0] = NULL;
    lc_free_msgs(msgs, n);
    return 0;
}

/* QUERY_MESSAGE to one broker: the records of topic whose key (or unique key) is key, over the
 * whole retention. Appended to *all (grown); a broker without any is no error. */
static int query_index(const rbroker_t *b, const char *topic, const char *key, int uniq, int max,
                       lc_message_ext_t ***all, size_t *n, ad_err_t *e)
{
    rm_cmd_t req, resp;
    rm_cmd_init(&req, 12);
    rm_ext_set(&req, "topic", topic);
    rm_ext_set(&req, "key", key);
    rm_ext_set_i64(&req, "maxNum", max);
    rm_ext_set(&req, "beginTimestamp", "0");
    rm_ext_set_i64(&req, "endTimestamp", INT64_MAX);
    rm_ext_set(&req, "_UNIQUE_KEY_QUERY", uniq ? "true" : "false");
    int rc = broker_rpc(b->addr, &req, &resp, e);
    rm_cmd_free(&req);
    if (rc)
        return -1;
    lc_message_ext_t **msgs = NULL;
    size_t cnt = 0;
    if (resp.code == RC_SUCCESS)
        rc = decode(&resp, b->name, &msgs, &cnt, e);
    else if (resp.code != RC_QUERY_NOT_FOUND)
        rc = answer_error(&resp, e);
    rm_cmd_free(&resp);
    for (size_t i = 0; rc == 0 && i < cnt; i++) {
        lc_message_ext_t *m = msgs[i];
        int keep = strcmp(m->topic, topic) == 0;
        if (keep && uniq)
            keep = strcmp(m->msg_id, key) == 0;
        else if (keep) { /* the index compares hashes: the key must really be one of KEYS */
            keep = 0;
            size_t kl = strlen(key);
            for (const char *p = m->keys; p && *p && !keep; p += strcspn(p, " "), p += *p == ' ')
                keep = strcspn(p, " ") == kl && strncmp(p, key, kl) == 0;
        }
        lc_message_ext_t **g = keep ? realloc(*all, (*n + 1) * sizeof *g) : NULL;
        if (g) {
            *all = g;
            (*all)[(*n)++] = m;
            msgs[i] = NULL;
        }
    }
    lc_free_msgs(msgs, cnt);
    return rc;
}

/* The oldest message of topic whose unique key is id, from every broker of the topic. */
static int view_by_unique_key(const char *topic, const char *id, lc_message_ext_t **out, char addr[128])
{
    rbroker_t *bs;
    size_t nb, n = 0;
    lc_message_ext_t **all = NULL;
    ad_err_t e;
    size_t *from = NULL;
    if (route_brokers(topic, &bs, &nb, &e))
        return -1;
    from = calloc(nb ? nb : 1, sizeof *from);
    for (size_t i = 0; from && i < nb; i++) {
        query_index(&bs[i], topic, id, 1, 32, &all, &n, &e);
        from[i] = n; /* messages [from[i-1], from[i]) came from broker i */
    }
    int rc = -1;
    if (n > 0) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (all[i]->store_timestamp < all[best]->store_timestamp)
                best = i;
        size_t b = 0;
        while (from[b] <= best)
            b++;
        snprintf(addr, 128, "%s", bs[b].addr);
        *out = all[best];
        all[best] = NULL;
        rc = 0;
    }
    lc_free_msgs(all, n);
    free(from);
    free(bs);
    return rc;
}

/* A message by offset id or unique key; addr gets the broker it came from. */
static int find_message(dh_req_t *r, const char *topic, const char *id, lc_message_ext_t **m, char addr[128])
{
    if (!id_ok(id) || (topic && *topic && !topic_ok(topic)))
        return dh_fail(r, "Failed to query message by Id: %.128s", id);
    if (view_by_offset_id(id, m, addr) == 0)
        return 0;
    if (topic && *topic && view_by_unique_key(topic, id, m, addr) == 0)
        return 0;
    return dh_fail(r, "Failed to query message by Id: %s", id);
}

/* ---- track: what each consumer group did with a message ---- */

/* Whether a group's subscription to the topic takes a message with these tags. The tags come
 * from tagsSet, or else from subString ("TagA || TagB"): some brokers answer an empty tagsSet
 * (Loulan's 203 does). An SQL92 subscription cannot be judged here: taken. */
static int tags_match(const lj_val_t *sub, const char *tags)
{
    const lj_val_t *set = lj_get(sub, "tagsSet");
    const char *expr = lj_get_str(sub, "subString", "*");
    if (strcmp(lj_get_str(sub, "expressionType", "TAG"), "TAG") != 0)
        return 1;
    if (set && set->type == LJ_ARR && set->n > 0) {
        for (size_t i = 0; i < set->n; i++) {
            const char *t = lj_str(set->items[i], "");
            if (strcmp(t, "*") == 0 || (tags && strcmp(t, tags) == 0))
                return 1;
        }
        return 0;
    }
    if (expr[strspn(expr, " ")] == 0)
        return 1; /* an empty expression: everything */
    for (const char *p = expr;;) {
        p += strspn(p, " ");
        const char *bar = strstr(p, "||");
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n == 1 && *p == '*')
            return 1;
        if (tags && n == strlen(tags) && strncmp(p, tags, n) == 0)
            return 1;
        if (!bar)
            return 0;
        p = bar + 2;
    }
}

/* One group's MessageTrack, as RocketMQ's messageTrackDetail decides it. */
static lj_val_t *track_one(const char *addr, const lc_message_ext_t *m, const char *group)
{
    const char *type = "UNKNOWN";
    char desc[600] = "";
    ad_err_t e;
    rm_cmd_t req, resp;
    lj_val_t *cc = NULL, *st = NULL;
    rm_cmd_init(&req, 203);
    rm_ext_set(&req, "consumerGroup", group);
    int rc = broker_rpc(addr, &req, &resp, &e);
    rm_cmd_free(&req);
    if (rc) {
        snprintf(desc, sizeof desc, "%s", e.msg);
    } else if (resp.code != RC_SUCCESS) {
        if (resp.code == RC_CONSUMER_NOT_ONLINE)
            type = "NOT_ONLINE";
        answer_error(&resp, &e);
        snprintf(desc, sizeof desc, "%s", e.msg);
    } else if (lj_parse((const char *)resp.body, resp.body_len, &cc) != 0) {
        snprintf(desc, sizeof desc, "unreadable consumer connection answer");
    } else if (strcmp(lj_get_str(cc, "consumeType", ""), "CONSUME_ACTIVELY") == 0) {
        type = "PULL";
    } else if (strcmp(lj_get_str(cc, "messageModel", ""), "BROADCASTING") == 0) {
        type = "CONSUME_BROADCASTING"; /* offsets live in the clients, not on the broker */
    } else {
        char to[128];
        dh_broker_addr(addr, to);
        if (ad_call_fields(to, &st, &e, 208, "consumerGroup", group, "topic", m->topic, NULL)) {
            snprintf(desc, sizeof desc, "%s", e.msg);
        } else {
            type = "NOT_CONSUME_YET";
            const lj_val_t *tab = lj_get(st, "offsetTable");
            for (size_t i = 0; tab && tab->type == LJ_OBJ && i < tab->n; i++) {
                const lj_val_t *mq = tab->members[i].key;
                if (strcmp(lj_get_str(mq, "topic", ""), m->topic) == 0 &&
                    strcmp(lj_get_str(mq, "brokerName", ""), m->broker_name) == 0 &&
                    lj_get_int(mq, "queueId", -1) == m->queue_id &&
                    lj_get_int(tab->members[i].val, "consumerOffset", 0) > m->queue_offset)
                    type = "CONSUMED";
            }
            const lj_val_t *sub = lj_get(lj_get(cc, "subscriptionTable"), m->topic);
            if (strcmp(type, "CONSUMED") == 0 && sub && !tags_match(sub, m->tags))
                type = "CONSUMED_BUT_FILTERED";
        }
    }
    if (!rc)
        rm_cmd_free(&resp);
    lj_free(cc);
    lj_free(st);
    lj_val_t *o = lj_new_obj();
    if (o) {
        lj_set_str(o, "consumerGroup", group);
        lj_set_str(o, "trackType", type);
        set_str_or_null(o, "exceptionDesc", desc[0] ? desc : NULL);
    }
    return o;
}

/* The tracks of every group that consumes the message's topic (QUERY_TOPIC_CONSUME_BY_WHO on
 * each broker of the topic, merged); asked of the broker the message came from. */
static lj_val_t *track_list(const lc_message_ext_t *m, const char *addr)
{
    lj_val_t *list = lj_new_arr();
    rbroker_t *bs = NULL;
    size_t nb = 0;
    ad_err_t e;
    cm_map_t seen = {0};
    if (!list || route_brokers(m->topic, &bs, &nb, &e))
        return list;
    for (size_t i = 0; i < nb && list->n < TRACK_GROUPS_MAX; i++) {
        lj_val_t *gl = NULL;
        char to[128];
        dh_broker_addr(bs[i].addr, to);
        if (ad_call_fields(to, &gl, &e, 300, "topic", m->topic, NULL))
            continue;
        const lj_val_t *groups = lj_get(gl, "groupList");
        for (size_t j = 0; groups && groups->type == LJ_ARR && j < groups->n && list->n < TRACK_GROUPS_MAX; j++) {
            const char *g = lj_str(groups->items[j], NULL);
            if (!g || cm_map_get(&seen, g))
                continue;
            cm_map_put(&seen, g, (void *)1);
            lj_val_t *t = track_one(addr, m, g);
            if (t)
                lj_push(list, t);
        }
        lj_free(gl);
    }
    cm_map_free(&seen, NULL);
    free(bs);
    return list;
}

/* {messageView} of msgId (and topic, needed for a unique-key id), with the messageTrackList of
 * every subscribed group when with_track. */
static int view_message(dh_req_t *r, lj_val_t **data, int with_track)
{
    const char *id;
    lc_message_ext_t *m;
    char addr[128];
    if (dh_param_req(r, "msgId", &id) || find_message(r, dh_param(r, "topic"), id, &m, addr))
        return -1;
    lj_val_t *o = lj_new_obj();
    if (o) {
        lj_set(o, "messageView", view_json(m, 1));
        if (with_track)
            lj_set(o, "messageTrackList", track_list(m, addr));
    }
    free(m);
    *data = o;
    return o ? 0 : dh_fail(r, "out of memory");
}

/* GET message/viewMessage.query?msgId=&topic= : {messageView, messageTrackList} */
static int h_view_message(dh_req_t *r, lj_val_t **data) { return view_message(r, data, 1); }

/* GET messageTrace/viewMessage.query?msgId=&topic= : {messageView} */
static int h_trace_view_message(dh_req_t *r, lj_val_t **data) { return view_message(r, data, 0); }

/* ---- by key ---- */

static int by_store_time_desc(const void *a, const void *b)
{
    const lc_message_ext_t *x = *(lc_message_ext_t *const *)a, *y = *(lc_message_ext_t *const *)b;
    return x->store_timestamp < y->store_timestamp ? 1 : x->store_timestamp > y->store_timestamp ? -1 : 0;
}

/* The messages of topic whose key is key, from the index of every broker of the topic (at most
 * KEY_MAX each) into *all and *n (caller frees with lc_free_msgs); -1 with r failed when the route
 * is unknown or no broker answered. */
static int by_key_everywhere(dh_req_t *r, const char *topic, const char *key, lc_message_ext_t ***all, size_t *n)
{
    rbroker_t *bs;
    size_t nb;
    ad_err_t e;
    *all = NULL;
    *n = 0;
    if (route_brokers(topic, &bs, &nb, &e))
        return dh_fail_ad(r, &e);
    int failed = 0;
    for (size_t i = 0; i < nb; i++)
        failed += query_index(&bs[i], topic, key, 0, KEY_MAX, all, n, &e) != 0;
    free(bs);
    if (failed && failed == (int)nb) {
        lc_free_msgs(*all, *n);
        return dh_fail_ad(r, &e);
    }
    return 0;
}

/* GET message/queryMessageByTopicAndKey.query?topic=&key= : [MessageView], at most 64, newest first */
static int h_by_key(dh_req_t *r, lj_val_t **data)
{
    const char *topic, *key;
    if (req_topic(r, "topic", &topic) || dh_param_req(r, "key", &key))
        return -1;
    if (strlen(key) > 1024)
        return dh_fail(r, "bad key: longer than 1024 characters");
    size_t n;
    lc_message_ext_t **all;
    if (by_key_everywhere(r, topic, key, &all, &n))
        return -1;
    if (n > 1)
        qsort(all, n, sizeof *all, by_store_time_desc);
    lj_val_t *arr = lj_new_arr();
    for (size_t i = 0; arr && i < n && i < KEY_MAX; i++)
        lj_push(arr, view_json(all[i], 1));
    lc_free_msgs(all, n);
    *data = arr;
    return arr ? 0 : dh_fail(r, "out of memory");
}

/* ---- by topic and time: windows, tasks, pages ---- */

typedef struct win {
    char broker[128], addr[128];
    int qid;
    int64_t start, count; /* the queue's messages [start, start + count) are in the range */
} win_t;

typedef struct task {
    char id[33];
    char topic[128];
    int64_t begin, end, total;
    uint64_t used_ms;
    win_t *w;
    size_t nw;
} task_t;

static pthread_mutex_t g_tasks_mu = PTHREAD_MUTEX_INITIALIZER;
static task_t *g_tasks[TASKS_MAX];
static size_t g_ntasks;

static void task_free(task_t *t)
{
    if (t) {
        free(t->w);
        free(t);
    }
}

static task_t *task_copy(const task_t *t)
{
    task_t *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = *t;
    c->w = malloc((t->nw ? t->nw : 1) * sizeof *c->w);
    if (!c->w) {
        free(c);
        return NULL;
    }
    if (t->nw)
        memcpy(c->w, t->w, t->nw * sizeof *c->w);
    return c;
}

/* A copy of the task id (for the same query), or NULL: unknown, expired or other conditions. */
static task_t *task_get(const char *id, const char *topic, int64_t begin, int64_t end)
{
    task_t *found = NULL;
    uint64_t now = cm_mono_ms();
    pthread_mutex_lock(&g_tasks_mu);
    for (size_t i = 0; id && i < g_ntasks; i++) {
        task_t *t = g_tasks[i];
        if (strcmp(t->id, id) != 0)
            continue;
        if (now - t->used_ms <= TASK_TTL_MS && strcmp(t->topic, topic) == 0 && t->begin == begin && t->end == end) {
            t->used_ms = now;
            found = task_copy(t);
        }
        break;
    }
    pthread_mutex_unlock(&g_tasks_mu);
    return found;
}

/* Keep a copy of t; the expired tasks go first, then, when still full, the least recently used. */
static void task_put(const task_t *t)
{
    task_t *c = task_copy(t);
    if (!c)
        return;
    uint64_t now = cm_mono_ms();
    pthread_mutex_lock(&g_tasks_mu);
    for (size_t i = 0; i < g_ntasks;) {
        if (now - g_tasks[i]->used_ms > TASK_TTL_MS) {
            task_free(g_tasks[i]);
            g_tasks[i] = g_tasks[--g_ntasks];
        } else {
            i++;
        }
    }
    if (g_ntasks == TASKS_MAX) {
        size_t lru = 0;
        for (size_t i = 1; i < g_ntasks; i++)
            if (g_tasks[i]->used_ms < g_tasks[lru]->used_ms)
                lru = i;
        task_free(g_tasks[lru]);
        g_tasks[lru] = g_tasks[--g_ntasks];
    }
    c->used_ms = now;
    g_tasks[g_ntasks++] = c;
    pthread_mutex_unlock(&g_tasks_mu);
}

/* A new task id: 128 random bits in hex (not guessable: a task says what a user searched). */
static void task_new_id(char out[33])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        uint64_t x = cm_mono_us() ^ (uint64_t)cm_now_ms() << 20 ^ (uint64_t)(uintptr_t)out;
        for (int i = 0; i < 16; i++, x = x * 6364136223846793005ULL + 1442695040888963407ULL)
            b[i] = (unsigned char)(x >> 56);
    }
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02X", b[i]);
}

/* Every queue's window of the range [begin, end] (ms, inclusive). A %DLQ% topic that has no
 * route yet has no dead letters: no windows and no error (the DLQ page asks for any group). */
static int windows(dh_req_t *r, task_t *t)
{
    rbroker_t *bs;
    size_t nb;
    ad_err_t e;
    if (route_brokers(t->topic, &bs, &nb, &e)) {
        if (strncmp(t->topic, "%DLQ%", 5) == 0 && strstr(e.msg, "CODE: 17 "))
            return 0;
        return dh_fail_ad(r, &e);
    }
    size_t nq = 0;
    for (size_t i = 0; i < nb; i++)
        nq += (size_t)bs[i].nq;
    t->w = calloc(nq ? nq : 1, sizeof *t->w);
    if (!t->w) {
        free(bs);
        return dh_fail(r, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; i < nb && rc == 0; i++) {
        for (int q = 0; q < bs[i].nq && rc == 0; q++) {
            int64_t lo, hi;
            rc = seek_time(bs[i].addr, bs[i].name, t->topic, q, t->begin, &lo, &e);
            if (rc == 0)
                rc = t->end == INT64_MAX ? seek_time(bs[i].addr, bs[i].name, t->topic, q, INT64_MAX, &hi, &e)
                                         : seek_time(bs[i].addr, bs[i].name, t->topic, q, t->end + 1, &hi, &e);
            if (rc == 0 && hi > lo) {
                win_t *w = &t->w[t->nw++];
                snprintf(w->broker, sizeof w->broker, "%s", bs[i].name);
                snprintf(w->addr, sizeof w->addr, "%s", bs[i].addr);
                w->qid = q;
                w->start = lo;
                w->count = hi - lo;
                t->total += w->count;
            }
        }
    }
    free(bs);
    return rc ? dh_fail_ad(r, &e) : 0;
}

/* The order of a page: item k of the whole range is (window j, round r) taking the windows in
 * turn, rounds first, as the original spreads a page over the queues. A slot is one item: its
 * MessageView once read (the record itself is not kept: bodies may be large) and store time. */
typedef struct slot { size_t w; int64_t round, ts; lj_val_t *v; } slot_t;

static int64_t items_before_round(const task_t *t, int64_t round)
{
    int64_t n = 0;
    for (size_t j = 0; j < t->nw; j++)
        n += t->w[j].count < round ? t->w[j].count : round;
    return n;
}

/* The slots of items [from, to) (to - from <= cap). */
static size_t page_slots(const task_t *t, int64_t from, int64_t to, slot_t *out)
{
    int64_t maxc = 0;
    for (size_t j = 0; j < t->nw; j++)
        maxc = t->w[j].count > maxc ? t->w[j].count : maxc;
    int64_t lo = 0, hi = maxc; /* the last round that starts at or before item `from` */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (items_before_round(t, mid) <= from)
            lo = mid;
        else
            hi = mid - 1;
    }
    size_t n = 0;
    int64_t k = items_before_round(t, lo);
    for (int64_t round = lo; k < to && round < maxc; round++)
        for (size_t j = 0; j < t->nw && k < to; j++)
            if (t->w[j].count > round) {
                if (k >= from)
                    out[n++] = (slot_t){.w = j, .round = round};
                k++;
            }
    return n;
}

/* Fill the slots' views: for each window, one run of pulls over the offsets its slots need.
 * newest: round r is the r-th message from the window's end instead of its start. A message
 * that cannot be read (deleted meanwhile) leaves its slot empty. */
static void page_read(const task_t *t, slot_t *s, size_t n, int newest, int with_body)
{
    for (size_t j = 0; j < t->nw; j++) {
        const win_t *w = &t->w[j];
        int64_t rlo = INT64_MAX, rhi = -1;
        for (size_t i = 0; i < n; i++)
            if (s[i].w == j) {
                rlo = s[i].round < rlo ? s[i].round : rlo;
                rhi = s[i].round > rhi ? s[i].round : rhi;
            }
        if (rhi < 0)
            continue;
        int64_t first = newest ? w->start + w->count - 1 - rhi : w->start + rlo;
        int64_t last = newest ? w->start + w->count - 1 - rlo : w->start + rhi;
        for (int64_t off = first; off <= last;) {
            pulled_t p;
            ad_err_t e;
            int64_t want = last - off + 1 < PULL_BATCH ? last - off + 1 : PULL_BATCH;
            if (pull(w->addr, w->broker, t->topic, w->qid, off, (int)want, &p, &e) || p.code != RC_SUCCESS)
                break;
            for (size_t k = 0; k < p.n; k++) {
                int64_t qo = p.msgs[k]->queue_offset;
                int64_t round = newest ? w->start + w->count - 1 - qo : qo - w->start;
                for (size_t i = 0; i < n; i++)
                    if (s[i].w == j && s[i].round == round && !s[i].v) {
                        s[i].v = view_json(p.msgs[k], with_body);
                        s[i].ts = p.msgs[k]->store_timestamp;
                        break;
                    }
            }
            int64_t next = p.next > off ? p.next : off + (int64_t)p.n;
            pulled_free(&p);
            if (next <= off)
                break;
            off = next;
        }
    }
}

/* The query of a page request's JSON body (MessageQuery). */
typedef struct mquery {
    const char *topic, *task_id;
    int64_t begin, end, page, size;
} mquery_t;

static int parse_query(dh_req_t *r, const lj_val_t *q, mquery_t *out)
{
    out->topic = lj_get_str(q, "topic", NULL);
    out->task_id = lj_get_str(q, "taskId", NULL);
    if (!out->topic || !*out->topic)
        return dh_fail(r, "topic is required");
    if (!topic_ok(out->topic))
        return dh_fail(r, "bad topic: 1 to 127 letters, digits, %%, |, - or _");
    if (!lj_get(q, "begin") || !lj_get(q, "end"))
        return dh_fail(r, "begin and end are required (epoch milliseconds)");
    if (json_i64(q, "begin", 0, &out->begin) || json_i64(q, "end", 0, &out->end))
        return dh_fail(r, "bad begin or end: epoch milliseconds expected");
    if (out->begin < 0 || out->end < 0)
        return dh_fail(r, "bad begin or end: negative time");
    if (out->end < out->begin)
        return dh_fail(r, "bad time range: end is before begin");
    if (json_i64(q, "pageNum", 1, &out->page) || json_i64(q, "pageSize", 20, &out->size))
        return dh_fail(r, "bad pageNum or pageSize: a whole number expected");
    if (out->page < 1 || out->page > 100000000)
        return dh_fail(r, "bad pageNum: it counts from 1");
    out->size = out->size < 10 ? 10 : out->size > 100 ? 100 : out->size; /* as the original clamps it */
    return 0;
}

/* Spring Data's Page around content (taken). */
static lj_val_t *page_json(lj_val_t *content, int64_t total, int64_t page, int64_t size)
{
    lj_val_t *p = lj_new_obj(), *pageable = lj_new_obj(), *sort = lj_new_obj();
    if (!p || !pageable || !sort || !content) {
        lj_free(p);
        lj_free(pageable);
        lj_free(sort);
        lj_free(content);
        return NULL;
    }
    int64_t pages = (total + size - 1) / size, n = (int64_t)content->n;
    lj_set_bool(sort, "sorted", 0);
    lj_set_bool(sort, "unsorted", 1);
    lj_set_bool(sort, "empty", 1);
    lj_set_int(pageable, "pageNumber", page - 1);
    lj_set_int(pageable, "pageSize", size);
    lj_set_int(pageable, "offset", (page - 1) * size);
    lj_set_bool(pageable, "paged", 1);
    lj_set_bool(pageable, "unpaged", 0);
    lj_set(p, "content", content);
    lj_set(p, "pageable", pageable);
    lj_set_int(p, "totalElements", total);
    lj_set_int(p, "totalPages", pages);
    lj_set_int(p, "number", page - 1);
    lj_set_int(p, "size", size);
    lj_set_bool(p, "first", page == 1);
    lj_set_bool(p, "last", page >= pages);
    lj_set_int(p, "numberOfElements", n);
    lj_set_bool(p, "empty", n == 0);
    lj_set(p, "sort", sort);
    return p;
}

/* POST message/queryMessagePageByTopic.query, JSON {topic, begin, end, pageNum, pageSize,
 * taskId}: {page, taskId}. An unknown or expired taskId, or one of other conditions, starts
 * over with a new one. */
static int h_page_by_topic(dh_req_t *r, lj_val_t **data)
{
    const lj_val_t *body = dh_body_obj(r);
    mquery_t q;
    if (!body || parse_query(r, body, &q))
        return -1;
    task_t *t = task_get(q.task_id, q.topic, q.begin, q.end);
    if (!t) {
        t = calloc(1, sizeof *t);
        if (!t)
            return dh_fail(r, "out of memory");
        snprintf(t->topic, sizeof t->topic, "%s", q.topic);
        t->begin = q.begin;
        t->end = q.end;
        task_new_id(t->id);
        if (windows(r, t)) {
            task_free(t);
            return -1;
        }
        task_put(t);
    }
    int64_t from = (q.page - 1) * q.size, to = from + q.size > t->total ? t->total : from + q.size;
    slot_t *s = calloc((size_t)q.size, sizeof *s);
    lj_val_t *content = lj_new_arr();
    size_t n = s && from < to ? page_slots(t, from, to, s) : 0;
    page_read(t, s, n, 0, 1);
    for (size_t i = 0; i < n; i++) {
        if (content && s[i].v)
            lj_push(content, s[i].v);
        else
            lj_free(s[i].v);
    }
    free(s);
    lj_val_t *o = lj_new_obj(), *page = page_json(content, t->total, q.page, q.size);
    if (o && page) {
        lj_set(o, "page", page);
        lj_set_str(o, "taskId", t->id);
    } else {
        lj_free(page);
        lj_free(o);
        o = NULL;
    }
    task_free(t);
    *data = o;
    return o ? 0 : dh_fail(r, "out of memory");
}

static int slot_newest_first(const void *a, const void *b)
{
    int64_t x = ((const slot_t *)a)->ts, y = ((const slot_t *)b)->ts;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* GET message/queryMessageByTopic.query?topic=&begin=&end= : the original's older list, at most
 * 2000 MessageViews without bodies, newest first. */
static int h_by_topic(dh_req_t *r, lj_val_t **data)
{
    const char *topic;
    int64_t begin, end;
    if (req_topic(r, "topic", &topic))
        return -1;
    if (!dh_param(r, "begin") || !dh_param(r, "end"))
        return dh_fail(r, "begin and end are required (epoch milliseconds)");
    if (dh_param_i64(r, "begin", 0, &begin) || dh_param_i64(r, "end", 0, &end))
        return -1;
    if (begin < 0 || end < begin)
        return dh_fail(r, "bad time range: end is before begin");
    task_t t = {.begin = begin, .end = end};
    snprintf(t.topic, sizeof t.topic, "%s", topic);
    if (windows(r, &t)) {
        free(t.w);
        return -1;
    }
    int64_t want = t.total < LEGACY_MAX ? t.total : LEGACY_MAX;
    slot_t *s = calloc((size_t)(want ? want : 1), sizeof *s);
    size_t n = s ? page_slots(&t, 0, want, s) : 0;
    page_read(&t, s, n, 1, 0);
    free(t.w);
    if (n > 1)
        qsort(s, n, sizeof *s, slot_newest_first);
    lj_val_t *arr = lj_new_arr();
    for (size_t i = 0; i < n; i++) {
        if (arr && s[i].v)
            lj_push(arr, s[i].v);
        else
            lj_free(s[i].v);
    }
    free(s);
    *data = arr;
    return arr ? 0 : dh_fail(r, "out of memory");
}

/* ---- resend to one client ---- */

/* The first client online in the group, as the broker holding the message sees it. */
static int first_client(const char *addr, const char *group, char out[256], ad_err_t *e)
{
    rm_cmd_t req, resp;
    rm_cmd_init(&req, 203);
    rm_ext_set(&req, "consumerGroup", group);
    int rc = broker_rpc(addr, &req, &resp, e);
    rm_cmd_free(&req);
    if (rc)
        return -1;
    lj_val_t *cc = NULL;
    const char *id = NULL;
    if (resp.code == RC_SUCCESS && lj_parse((const char *)resp.body, resp.body_len, &cc) == 0) {
        const lj_val_t *set = lj_get(cc, "connectionSet");
        for (size_t i = 0; set && set->type == LJ_ARR && i < set->n && !id; i++)
            id = lj_get_str(set->items[i], "clientId", NULL);
    }
    if (id)
        snprintf(out, 256, "%s", id);
    else
        rc = ad_fail(e, "NO CONSUMER");
    lj_free(cc);
    rm_cmd_free(&resp);
    return rc;
}

/* POST message/consumeMessageDirectly.do?topic=&consumerGroup=&msgId=&clientId= : the client's
 * ConsumeMessageDirectlyResult. CONSUME_MESSAGE_DIRECTLY (309) goes to the broker that stores
 * the message, which passes it with the record to the client. */
static int h_consume_directly(dh_req_t *r, lj_val_t **data)
{
    const char *topic = dh_param(r, "topic"), *group, *id, *client = dh_param(r, "clientId");
    if (!topic || !*topic)
        topic = dh_param(r, "topicName"); /* the DLQ page's spelling */
    if (!topic || !*topic)
        return dh_fail(r, "topic is required");
    if (!topic_ok(topic))
        return dh_fail(r, "bad topic: 1 to 127 letters, digits, %%, |, - or _");
    if (dh_param_req(r, "consumerGroup", &group) || dh_param_req(r, "msgId", &id))
        return -1;
    if (strlen(group) > 255 || (client && strlen(client) > 255))
        return dh_fail(r, "bad consumerGroup or clientId: longer than 255 characters");
    lc_message_ext_t *m;
    char addr[128], cid[256];
    ad_err_t e;
    if (find_message(r, topic, id, &m, addr))
        return -1;
    if (client && *client)
        snprintf(cid, sizeof cid, "%s", client);
    else if (first_client(addr, group, cid, &e)) {
        free(m);
        return dh_fail_ad(r, &e);
    }
    char to[128];
    dh_broker_addr(addr, to);
    lj_val_t *res = NULL;
    int rc = ad_call_fields(to, &res, &e, 309, "consumerGroup", group, "clientId", cid, "msgId", m->offset_msg_id,
                            "brokerName", m->broker_name[0] ? m->broker_name : NULL, "topic", m->topic, NULL);
    free(m);
    if (rc)
        return dh_fail_ad(r, &e);
    *data = res;
    return 0;
}

/* ---- message trace ---- */

static const char *msg_type_name(const char *ordinal)
{
    static const char *const k[] = {"Normal_Msg", "Trans_Msg_Half", "Trans_msg_Commit", "Delay_Msg"};
    int64_t i;
    return cm_parse_i64(ordinal, &i) == 0 && i >= 0 && i < 4 ? k[i] : NULL;
}

/* Whether id is the record's msgId, or one of a batch's comma-joined ids. */
static int id_in(const char *ids, const char *id)
{
    size_t n = strlen(id);
    for (const char *p = ids; *p; p += strcspn(p, ","), p += *p == ',')
        if (strcspn(p, ",") == n && strncmp(p, id, n) == 0)
            return 1;
    return 0;
}

static int64_t num(const char *s, int64_t dflt)
{
    int64_t v;
    return cm_parse_i64(s, &v) == 0 ? v : dflt;
}

/* One TraceDataEncoder record (fields split on 0x01, already cut) as a MessageTraceView, if it
 * is about id; NULL otherwise (other ids, unknown types, too few fields). */
static lj_val_t *trace_view(char **f, int n, const char *id, const char *client_host)
{
    const char *type = f[0], *msg = NULL, *req = NULL, *group = NULL, *topic = NULL, *tags = NULL, *keys = NULL,
               *store = NULL, *mtype = NULL, *offid = NULL, *txid = NULL, *txstate = NULL;
    int64_t ts = 0, cost = 0, retry = 0;
    int ok = 1, check = 0;
    if (strcmp(type, "Pub") == 0 && n >= 13) {
        ts = num(f[1], 0), group = f[3], topic = f[4], msg = f[5], tags = f[6], keys = f[7], store = f[8];
        cost = num(f[10], 0), mtype = msg_type_name(f[11]);
        offid = n >= 14 ? f[12] : NULL;
        ok = strcmp(n >= 14 ? f[13] : f[12], "true") == 0;
    } else if (strcmp(type, "SubBefore") == 0 && n >= 8) {
        ts = num(f[1], 0), group = f[3], req = f[4], msg = f[5], retry = num(f[6], 0), keys = f[7];
    } else if (strcmp(type, "SubAfter") == 0 && n >= 6) {
        req = f[1], msg = f[2], cost = num(f[3], 0), ok = strcmp(f[4], "true") == 0, keys = f[5];
        if (n >= 9)
            ts = num(f[7], 0), group = f[8];
    } else if (strcmp(type, "EndTransaction") == 0 && n >= 13) {
        ts = num(f[1], 0), group = f[3], topic = f[4], msg = f[5], tags = f[6], keys = f[7], store = f[8];
        mtype = msg_type_name(f[9]), txid = f[10], txstate = f[11], check = strcmp(f[12], "true") == 0;
    } else {
        return NULL;
    }
    if (!id_in(msg, id))
        return NULL;
    lj_val_t *v = lj_new_obj();
    if (!v)
        return NULL;
    set_str_or_null(v, "requestId", req);
    lj_set_str(v, "msgId", id);
    set_str_or_null(v, "tags", tags);
    set_str_or_null(v, "keys", keys);
    set_str_or_null(v, "storeHost", store);
    lj_set_str(v, "clientHost", client_host);
    lj_set_int(v, "costTime", cost);
    set_str_or_null(v, "msgType", mtype);
    set_str_or_null(v, "offSetMsgId", offid);
    lj_set_int(v, "timeStamp", ts);
    set_str_or_null(v, "topic", topic);
    set_str_or_null(v, "groupName", group);
    lj_set_int(v, "retryTimes", retry);
    lj_set_str(v, "status", ok ? "success" : "failed");
    set_str_or_null(v, "transactionState", txstate);
    set_str_or_null(v, "transactionId", txid);
    lj_set_bool(v, "fromTransactionCheck", check);
    lj_set_str(v, "traceType", type);
    return v;
}

/* The views about id in one trace message's body: records end with 0x02, fields split on 0x01. */
static void trace_views_of(const lc_message_ext_t *m, const char *id, lj_val_t *out)
{
    char host[64];
    snprintf(host, sizeof host, "%s", m->born_host + (m->born_host[0] == '['));
    char *colon = strrchr(host, ':'); /* the client's address without its port */
    if (colon)
        *colon = 0;
    if (host[0] && host[strlen(host) - 1] == ']')
        host[strlen(host) - 1] = 0;
    char *body = cm_strndup((const char *)m->body, m->body_len);
    for (char *rec = body, *next; rec && *rec; rec = next) {
        next = strchr(rec, '\002');
        if (next)
            *next++ = 0;
        char *f[16];
        int n = 0;
        for (char *p = rec; n < 16;) {
            f[n++] = p;
            char *e = strchr(p, '\001');
            if (!e)
                break;
            *e = 0;
            p = e + 1;
        }
        while (n > 0 && !*f[n - 1]) /* Java's split drops trailing empty fields */
            n--;
        lj_val_t *v = n > 0 ? trace_view(f, n, id, host) : NULL;
        if (v)
            lj_push(out, v);
    }
    free(body);
}

/* Every MessageTraceView about id in the trace topic: a key query (the trace messages' KEYS
 * hold the traced ids) on every broker of the topic. */
static int trace_views(dh_req_t *r, const char *trace_topic, const char *id, lj_val_t **out)
{
    size_t n;
    lc_message_ext_t **all;
    if (by_key_everywhere(r, trace_topic, id, &all, &n))
        return -1;
    lj_val_t *views = lj_new_arr();
    for (size_t i = 0; views && i < n; i++)
        trace_views_of(all[i], id, views);
    lc_free_msgs(all, n);
    *out = views;
    return views ? 0 : dh_fail(r, "out of memory");
}

static int trace_args(dh_req_t *r, const char **id, const char **topic)
{
    if (dh_param_req(r, "msgId", id))
        return -1;
    if (!id_ok(*id))
        return dh_fail(r, "bad msgId: hex digits expected");
    *topic = dh_param(r, "traceTopic");
    if (!*topic || !**topic)
        *topic = LC_TRACE_TOPIC_DEFAULT;
    return topic_ok(*topic) ? 0 : dh_fail(r, "bad traceTopic: 1 to 127 letters, digits, %%, |, - or _");
}

/* GET messageTrace/viewMessageTraceDetail.query?msgId=[&traceTopic=] : [MessageTraceView] */
static int h_trace_detail(dh_req_t *r, lj_val_t **data)
{
    const char *id, *topic;
    if (trace_args(r, &id, &topic))
        return -1;
    return trace_views(r, topic, id, data);
}

/* A TraceNode of the graph. */
static lj_val_t *trace_node(const lj_val_t *v, int64_t begin, int64_t end, int64_t cost, const char *status,
                            const char *store)
{
    lj_val_t *n = lj_new_obj();
    if (!n)
        return NULL;
    set_str_or_null(n, "requestId", lj_get_str(v, "requestId", NULL));
    set_str_or_null(n, "storeHost", store);
    set_str_or_null(n, "clientHost", lj_get_str(v, "clientHost", NULL));
    lj_set_int(n, "costTime", cost);
    lj_set_int(n, "beginTimestamp", begin);
    lj_set_int(n, "endTimestamp", end);
    lj_set_int(n, "retryTimes", lj_get_int(v, "retryTimes", 0));
    lj_set_str(n, "status", status);
    set_str_or_null(n, "msgType", lj_get_str(v, "msgType", NULL));
    set_str_or_null(n, "transactionId", lj_get_str(v, "transactionId", NULL));
    set_str_or_null(n, "transactionState", lj_get_str(v, "transactionState", NULL));
    lj_set_bool(n, "fromTransactionCheck", lj_get_bool(v, "fromTransactionCheck", 0));
    return n;
}

static int by_begin_desc(const void *a, const void *b)
{
    int64_t x = lj_get_int(*(lj_val_t *const *)a, "beginTimestamp", 0);
    int64_t y = lj_get_int(*(lj_val_t *const *)b, "beginTimestamp", 0);
    return x < y ? 1 : x > y ? -1 : 0;
}

static int by_newest_node_desc(const void *a, const void *b)
{
    const lj_val_t *la = lj_get(*(lj_val_t *const *)a, "consumeNodeList");
    const lj_val_t *lb = lj_get(*(lj_val_t *const *)b, "consumeNodeList");
    int64_t x = la && la->n ? lj_get_int(la->items[0], "beginTimestamp", 0) : 0;
    int64_t y = lb && lb->n ? lj_get_int(lb->items[0], "beginTimestamp", 0) : 0;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The consumer group's subscription node in list, added when missing. */
static lj_val_t *sub_node(lj_val_t *list, const char *group)
{
    if (!group || !*group || strcmp(group, "null") == 0)
        group = "%UNKNOWN_GROUP%";
    for (size_t i = 0; i < list->n; i++)
        if (strcmp(lj_get_str(list->items[i], "subscriptionGroup", ""), group) == 0)
            return lj_get(list->items[i], "consumeNodeList");
    lj_val_t *s = lj_new_obj(), *nodes = lj_new_arr();
    if (!s || !nodes) {
        lj_free(s);
        lj_free(nodes);
        return NULL;
    }
    lj_set_str(s, "subscriptionGroup", group);
    lj_set(s, "consumeNodeList", nodes);
    lj_push(list, s);
    return nodes;
}

/* One consume attempt from its SubBefore (b) and SubAfter (a), either may be missing. */
static lj_val_t *consume_node(const lj_val_t *b, const lj_val_t *a, const char *store)
{
    int64_t cost = a ? lj_get_int(a, "costTime", 0) : -1;
    int64_t begin = b ? lj_get_int(b, "timeStamp", 0) : -1, end = -1;
    if (b && a)
        end = begin + cost;
    else if (a && lj_get_int(a, "timeStamp", 0) > 0) /* a SubAfter with its time, no SubBefore */
        end = lj_get_int(a, "timeStamp", 0), begin = end - cost;
    const char *status = a ? lj_get_str(a, "status", "unknown") : "unknown";
    lj_val_t *n = trace_node(b ? b : a, begin, end, cost, status, store);
    if (n && b)
        lj_set_int(n, "retryTimes", lj_get_int(b, "retryTimes", 0));
    return n;
}

/* {producerNode, subscriptionNodeList, messageTraceViews} from the views (taken). */
static lj_val_t *trace_graph(lj_val_t *views)
{
    lj_val_t *g = lj_new_obj(), *subs = lj_new_arr(), *txs = lj_new_arr(), *prod = NULL;
    if (!g || !subs || !txs) {
        lj_free(g);
        lj_free(subs);
        lj_free(txs);
        lj_free(views);
        return NULL;
    }
    const lj_val_t *pub = NULL, *endtx = NULL;
    for (size_t i = 0; i < views->n; i++) {
        const lj_val_t *v = views->items[i];
        const char *t = lj_get_str(v, "traceType", "");
        if (strcmp(t, "Pub") == 0 && !pub)
            pub = v;
        else if (strcmp(t, "EndTransaction") == 0) {
            endtx = endtx ? endtx : v;
            int64_t ts = lj_get_int(v, "timeStamp", 0);
            lj_push(txs, trace_node(v, ts, ts, -1, lj_get_str(v, "transactionState", "unknown"),
                                    lj_get_str(v, "storeHost", NULL)));
        }
    }
    const char *store = pub ? lj_get_str(pub, "storeHost", NULL) : NULL;
    /* consume attempts: each SubBefore with the SubAfter of the same requestId */
    for (size_t i = 0; i < views->n; i++) {
        const lj_val_t *v = views->items[i];
        const char *t = lj_get_str(v, "traceType", ""), *req = lj_get_str(v, "requestId", "");
        const lj_val_t *b = NULL, *a = NULL;
        if (strcmp(t, "SubBefore") == 0) {
            b = v;
            for (size_t j = 0; j < views->n && !a; j++)
                if (strcmp(lj_get_str(views->items[j], "traceType", ""), "SubAfter") == 0 &&
                    strcmp(lj_get_str(views->items[j], "requestId", ""), req) == 0)
                    a = views->items[j];
        } else if (strcmp(t, "SubAfter") == 0) {
            int paired = 0;
            for (size_t j = 0; j < views->n && !paired; j++)
                paired = strcmp(lj_get_str(views->items[j], "traceType", ""), "SubBefore") == 0 &&
                         strcmp(lj_get_str(views->items[j], "requestId", ""), req) == 0;
            if (paired)
                continue;
            a = v;
        } else {
            continue;
        }
        lj_val_t *nodes = sub_node(subs, lj_get_str(b ? b : a, "groupName", NULL));
        lj_val_t *n = nodes ? consume_node(b, a, store) : NULL;
        if (n)
            lj_push(nodes, n);
    }
    for (size_t i = 0; i < subs->n; i++) {
        lj_val_t *nodes = lj_get(subs->items[i], "consumeNodeList");
        if (nodes && nodes->n > 1)
            qsort(nodes->items, nodes->n, sizeof *nodes->items, by_begin_desc);
    }
    if (subs->n > 1)
        qsort(subs->items, subs->n, sizeof *subs->items, by_newest_node_desc);
    if (txs->n > 1)
        qsort(txs->items, txs->n, sizeof *txs->items, by_begin_desc);
    const lj_val_t *head = pub ? pub : endtx;
    if (head && (prod = lj_new_obj()) != NULL) {
        set_str_or_null(prod, "msgId", lj_get_str(head, "msgId", NULL));
        set_str_or_null(prod, "tags", lj_get_str(head, "tags", NULL));
        set_str_or_null(prod, "keys", lj_get_str(head, "keys", NULL));
        set_str_or_null(prod, "offSetMsgId", lj_get_str(head, "offSetMsgId", NULL));
        set_str_or_null(prod, "topic", lj_get_str(head, "topic", NULL));
        set_str_or_null(prod, "groupName", lj_get_str(head, "groupName", NULL));
        int64_t ts = pub ? lj_get_int(pub, "timeStamp", 0) : 0, cost = pub ? lj_get_int(pub, "costTime", 0) : 0;
        lj_set(prod, "traceNode", pub ? trace_node(pub, ts, ts + cost, cost, lj_get_str(pub, "status", "unknown"), store)
                                      : lj_new_null());
        lj_set(prod, "transactionNodeList", txs);
        txs = NULL;
    }
    lj_free(txs);
    lj_set(g, "producerNode", prod ? prod : lj_new_null());
    lj_set(g, "subscriptionNodeList", subs);
    lj_set(g, "messageTraceViews", views);
    return g;
}

/* GET messageTrace/viewMessageTraceGraph.query?msgId=[&traceTopic=] */
static int h_trace_graph(dh_req_t *r, lj_val_t **data)
{
    const char *id, *topic;
    lj_val_t *views;
    if (trace_args(r, &id, &topic) || trace_views(r, topic, id, &views))
        return -1;
    *data = trace_graph(views);
    return *data ? 0 : dh_fail(r, "out of memory");
}

const dh_route_t dh_routes_message[] = {
    {"message/viewMessage.query", h_view_message, "GET"},
    {"message/queryMessagePageByTopic.query", h_page_by_topic, "POST"},
    {"message/queryMessageByTopicAndKey.query", h_by_key, "GET"},
    {"message/queryMessageByTopic.query", h_by_topic, "GET"},
    {"message/consumeMessageDirectly.do", h_consume_directly, "POST"},
    {"messageTrace/viewMessage.query", h_trace_view_message, "GET"},
    {"messageTrace/viewMessageTraceDetail.query", h_trace_detail, "GET"},
    {"messageTrace/viewMessageTraceGraph.query", h_trace_graph, "GET"},
    {NULL},
};
