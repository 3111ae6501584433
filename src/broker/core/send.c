/* SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320): validate, pick or
 * auto-create the topic, divert exhausted retries to the DLQ, rewrite the properties
 * (drop WAIT and internal properties, add CLUSTER) into a reused scratch buffer, append to the store, answer.
 * Nothing here allocates per message once the scratch buffer has grown. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/core.h"

#define MIN_CLIENT_VERSION_FOR_MAX_RECONSUME 121 /* V3_4_9 */

/* SEND_MESSAGE_V2 names the fields of the V1 header with the letters a..n; both forms are
 * gathered in one pass over the header, so the hot path does no per-field search. */
static const char *const k_v1_names[14] = {
    "producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums", "queueId", "sysFlag", "bornTimestamp",
    "flag", "properties", "reconsumeTimes", "unitMode", "maxReconsumeTimes", "batch", "bname"};

typedef struct send_hdr { const char *v[14]; } send_hdr_t;

static void gather(const rm_cmd_t *req, int v2, send_hdr_t *h)
{
    memset(h, 0, sizeof *h);
    for (size_t i = 0; i < req->next; i++) {
        const char *k = req->ext[i].key;
        if (v2) {
            if (k[0] >= 'a' && k[0] <= 'n' && k[1] == 0)
                h->v[k[0] - 'a'] = req->ext[i].val;
            continue;
        }
        for (int j = 0; j < 14; j++)
            if (strcmp(k, k_v1_names[j]) == 0)
                h->v[j] = req->ext[i].val;
    }
}

static const char *hf(const send_hdr_t *h, char letter) { return h->v[letter - 'a']; }

static int hf_i64(const send_hdr_t *h, char letter, int64_t *out)
{
    const char *s = hf(h, letter);
    if (!s)
        return RM_EMISSING;
    return cm_parse_i64(s, out) ? RM_EBADVAL : 0;
}

static void respond_send(rm_conn_t *c, const rm_cmd_t *req, br_broker_t *b, int code, const char *remark)
{
    rm_cmd_t resp;
    rm_cmd_init(&resp, code);
    /* Java clients read these from every send answer. */
    rm_ext_set(&resp, "MSG_REGION", b->cfg.regionId);
    rm_ext_set(&resp, "TRACE_ON", "true");
    if (remark)
        resp.remark = cm_strdup(remark);
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
}

br_topic_t *br_topic_for_send(br_broker_t *b, const char *topic, const char *tmpl, int queues, int *code)
{
    br_topic_t *tc = br_topics_get(&b->topics, topic);
    if (tc)
        return tc;
    if (br_topic_name_error(topic)) { /* e.g. %RETRY% of an over-long group: never created */
        *code = RC_TOPIC_NOT_EXIST;
        return NULL;
    }
    br_topic_t *t = tmpl ? br_topics_get(&b->topics, tmpl) : NULL;
    int retry = strncmp(topic, "%RETRY%", 7) == 0 || strncmp(topic, "%DLQ%", 5) == 0;
    if (t && (t->perm & PERM_INHERIT) && b->cfg.autoCreateTopicEnable) {
        int n = queues < t->writeQueueNums ? queues : t->writeQueueNums;
        if (n <= 0)
            n = 1;
        tc = br_topics_put(&b->topics, topic, n, n, t->perm & ~PERM_INHERIT, 0);
    } else if (retry) {
        tc = br_topics_put(&b->topics, topic, 1, 1, PERM_READ | PERM_WRITE, 0);
    }
    if (!tc) {
        *code = RC_TOPIC_NOT_EXIST;
        return NULL;
    }
    LOG_I("broker", "topic %s auto-created with %d queues", topic, tc->writeQueueNums);
    if (b->store) /* its consume-queue files are made off the loop, ahead of the first puts */
        st_cq_preallocate(b->store, topic, tc->writeQueueNums);
    br_register_soon(b);
    return tc;
}

/* Properties only the broker may set: the real destination of a delayed, timer or half
 * message, the timer's due time and the check count of a transaction. A client that sets them
 * could otherwise steer its message past the topic and queue checks when it is delivered. */
static const char *const k_internal_props[] = {"WAIT", "REAL_TOPIC", "REAL_QID", "TIMER_OUT_MS",
                                               "TRANSACTION_CHECK_TIMES"};

static int is_internal_prop(const char *p, size_t n)
{
    for (size_t i = 0; i < sizeof k_internal_props / sizeof k_internal_props[0]; i++) {
        size_t kl = strlen(k_internal_props[i]);
        if (n > kl && p[kl] == 1 && memcmp(p, k_internal_props[i], kl) == 0)
            return 1;
    }
    return 0;
}

/* Copy the property string without WAIT and the broker's internal properties, then add
 * CLUSTER. */
static int rewrite_props(cm_buf_t *out, const char *p, size_t n, const char *cluster)
{
    cm_buf_reset(out);
    const char *end = p + n;
    while (p < end) {
        const char *sep = memchr(p, 2, (size_t)(end - p));
        const char *stop = sep ? sep : end;
        if (!is_internal_prop(p, (size_t)(stop - p)) && stop > p) {
            if (cm_buf_append(out, p, (size_t)(stop - p)) || cm_buf_putc(out, 2))
                return CM_ENOMEM;
        }
        p = sep ? sep + 1 : end;
    }
    if (cm_buf_puts(out, "CLUSTER\x01") || cm_buf_puts(out, cluster) || cm_buf_putc(out, 2))
        return CM_ENOMEM;
    return 0;
}

static int prop_value(const char *p, size_t n, const char *key, char *out, size_t outlen)
{
    size_t kl = strlen(key);
    const char *end = p + n;
    while (p < end) {
        const char *sep = memchr(p, 2, (size_t)(end - p));
        const char *stop = sep ? sep : end;
        if ((size_t)(stop - p) > kl && memcmp(p, key, kl) == 0 && p[kl] == 1) {
            size_t vl = (size_t)(stop - p) - kl - 1;
            if (vl >= outlen)
                vl = outlen - 1;
            memcpy(out, p + kl + 1, vl);
            out[vl] = 0;
            return 1;
        }
        p = sep ? sep + 1 : end;
    }
    return 0;
}

static void peer_host(rm_conn_t *c, uint32_t *ip, int *port)
{
    const char *peer = rm_conn_peer(c);
    const char *colon = strrchr(peer, ':');
    char host[64] = "0.0.0.0";
    if (colon && (size_t)(colon - peer) < sizeof host) {
        memcpy(host, peer, (size_t)(colon - peer));
        host[colon - peer] = 0;
        *port = atoi(colon + 1);
    }
    struct in_addr a = {0};
    inet_pton(AF_INET, host, &a);
    *ip = ntohl(a.s_addr);
}

static int store_code(int rc, const char **remark)
{
    switch (rc) {
    case ST_OK: return RC_SUCCESS;
    case ST_EMSG_ILLEGAL: *remark = "the message is illegal, maybe msg body or properties length not matched. msg body length limit 4194304 bytes."; return RC_MESSAGE_ILLEGAL;
    case ST_EPROPS_TOO_LONG: *remark = "the message properties length is longer than 32767 bytes."; return RC_MESSAGE_ILLEGAL;
    case ST_ENOTWRITABLE: *remark = "service not available now: the message store is shut down or in an error state; see the broker log"; return RC_SERVICE_NOT_AVAILABLE;
    case ST_ENOFILES: *remark = "[TOO_MANY_OPEN_FILES] service not available now: the broker is out of file descriptors (see its log; raise its limit or maxConnections); nothing was stored"; return RC_SERVICE_NOT_AVAILABLE;
    case ST_EDISKFULL: *remark = "[DISK_FULL] service not available now: the broker's disk is full (over diskSpaceWarningLevelRatio); nothing was stored, sends resume when space is freed"; return RC_SERVICE_NOT_AVAILABLE;
    case ST_ESLAVE: *remark = "service not available now: this broker is a slave (brokerRole=SLAVE); messages are sent to its master"; return RC_SERVICE_NOT_AVAILABLE;
    case ST_EFLUSH: *remark = "[DISK_IO_ERROR] service not available now: the broker's last disk flush failed (see its log); nothing was stored, sends resume when a flush succeeds"; return RC_SERVICE_NOT_AVAILABLE;
    default: *remark = "the store failed to write the message (I/O error); nothing was stored"; return RC_SYSTEM_ERROR;
    }
}

void br_handle_send_message(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    static cm_buf_t props; /* loop thread only: scratch reused for every send */
    int v2 = req->code != 10;
    send_hdr_t h;
    gather(req, v2, &h);
    const char *group = hf(&h, 'a');
    const char *topic = hf(&h, 'b');
    const char *tmpl = hf(&h, 'c');
    int64_t qnums = 4, qid = -1, sysFlag = 0, born = 0, flag = 0, reconsume = 0, maxReconsume = -1;
    static const struct { const char *l, *n; } need[] = {{"a", "producerGroup"}, {"b", "topic"}, {"e", "queueId"}, {"f", "sysFlag"}, {"g", "bornTimestamp"}, {"h", "flag"}};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (!hf(&h, need[i].l[0])) {
            char msg[96];
            snprintf(msg, sizeof msg, "the custom field <%s> is null", need[i].n);
            respond_send(c, req, b, RC_SYSTEM_ERROR, msg);
            return;
        }
    }
    (void)group;
    if (hf_i64(&h, 'e', &qid) || hf_i64(&h, 'f', &sysFlag) ||
        hf_i64(&h, 'g', &born) || hf_i64(&h, 'h', &flag) ||
        (hf(&h, 'd') && hf_i64(&h, 'd', &qnums)) ||
        (hf(&h, 'j') && hf_i64(&h, 'j', &reconsume)) ||
        (hf(&h, 'l') && hf_i64(&h, 'l', &maxReconsume))) {
        respond_send(c, req, b, RC_SYSTEM_ERROR, "a numeric field of the send header is not a number");
        return;
    }
    int batch = req->code == 320;
    const char *m = hf(&h, 'm');
    if (m && strcmp(m, "true") == 0)
        batch = 1;
    const char *err = br_topic_name_error(topic);
    if (err) {
        respond_send(c, req, b, RC_SYSTEM_ERROR, err);
        return;
    }
    char remark[256];
    if (br_topic_is_system_forbidden(topic)) {
        snprintf(remark, sizeof remark, "Sending message to topic[%s] is forbidden.", topic);
        respond_send(c, req, b, RC_NO_PERMISSION, remark);
        return;
    }
    if (!(b->cfg.brokerPermission & PERM_WRITE)) {
        snprintf(remark, sizeof remark, "the broker[%s] sending message is forbidden", b->cfg.brokerName);
        respond_send(c, req, b, RC_NO_PERMISSION, remark);
        return;
    }
    const char *rawprops = hf(&h, 'i');
    size_t rawlen = rawprops ? strlen(rawprops) : 0;
    char val[32];
    int tran = rawprops && prop_value(rawprops, rawlen, "TRAN_MSG", val, sizeof val) && strcmp(val, "true") == 0;
    if (tran && batch) {
        respond_send(c, req, b, RC_MESSAGE_ILLEGAL, "batch messages cannot be transactional");
        return;
    }
    int code = RC_SUCCESS;
    char dlq[300];
    /* A retry that has been consumed too often goes to the group's dead-letter queue. */
    if (strncmp(topic, "%RETRY%", 7) == 0) {
        br_group_t *g = br_groups_get(&b->groups, topic + 7);
        int64_t max = g ? g->retryMaxTimes : 16;
        if (maxReconsume >= 0 && req->version >= MIN_CLIENT_VERSION_FOR_MAX_RECONSUME)
            max = maxReconsume;
        if (reconsume >= max) {
            snprintf(dlq, sizeof dlq, "%%DLQ%%%s", topic + 7);
            topic = dlq;
            qid = 0;
        }
    }
    br_topic_t *tc = br_topic_for_send(b, topic, tmpl, (int)qnums, &code);
    if (!tc) {
        snprintf(remark, sizeof remark, "topic[%s] not exist, apply first please! (autoCreateTopicEnable=%s)", topic,
                 b->cfg.autoCreateTopicEnable ? "true" : "false");
        respond_send(c, req, b, code, remark);
        return;
    }
    if (!(tc->perm & PERM_WRITE)) {
        snprintf(remark, sizeof remark, "the topic[%s] sending message is forbidden", topic);
        respond_send(c, req, b, RC_NO_PERMISSION, remark);
        return;
    }
    int qmax = tc->writeQueueNums > tc->readQueueNums ? tc->writeQueueNums : tc->readQueueNums;
    if (qid >= qmax) {
        snprintf(remark, sizeof remark, "request queueId[%lld] is illegal, topic %s has %d queues", (long long)qid, topic, qmax);
        respond_send(c, req, b, RC_SYSTEM_ERROR, remark);
        return;
    }
    if (qid < 0)
        qid = rand() % (tc->writeQueueNums > 0 ? tc->writeQueueNums : 1);
    if (rewrite_props(&props, rawprops ? rawprops : "", rawlen, b->cfg.brokerClusterName)) {
        respond_send(c, req, b, RC_SYSTEM_ERROR, "out of memory");
        return;
    }
    const char *st_topic = topic;
    int st_qid = (int)qid;
    if (tran) { /* a half message: stored out of consumers' sight until END_TRANSACTION */
        const char *why = "transaction messages are not served by this broker";
        int tc_code = b->hooks.trans_half ? b->hooks.trans_half(b, &props, topic, (int)qid, &st_topic, &st_qid, &sysFlag, &why)
                                          : RC_NO_PERMISSION;
        if (tc_code != RC_SUCCESS) {
            respond_send(c, req, b, tc_code, why);
            return;
        }
    }
    if (!tran && !batch && strncmp(topic, "%DLQ%", 5) != 0 && rawprops && strstr(rawprops, "TIMER_") &&
        b->hooks.timer_divert) {
        const char *why = NULL;
        int tcode = b->hooks.timer_divert(b, &props, topic, (int)qid, &st_topic, &st_qid, &why);
        if (tcode != RC_SUCCESS) {
            respond_send(c, req, b, tcode, why);
            return;
        }
    }
    int64_t level = 0;
    if (!tran && !batch && st_topic == topic && strncmp(topic, "%DLQ%", 5) != 0 && rawprops &&
        prop_value(rawprops, rawlen, "DELAY", val, sizeof val) && cm_parse_i64(val, &level) == 0 && level > 0 &&
        b->hooks.delay_divert && b->hooks.delay_divert(b, &props, topic, (int)qid, (int)level, &st_topic, &st_qid) != 0) {
        respond_send(c, req, b, RC_SYSTEM_ERROR, "out of memory");
        return;
    }
    st_msg_t msg = {0};
    msg.topic = st_topic;
    msg.queueId = st_qid;
    msg.flag = (int32_t)flag;
    msg.body = req->body;
    msg.bodyLen = (uint32_t)req->body_len;
    msg.properties = props.data;
    msg.propertiesLen = (uint32_t)props.len;
    msg.sysFlag = (int32_t)sysFlag | (tc->multiTag ? 0x2 : 0);
    msg.bornTimestamp = born;
    peer_host(c, &msg.bornHostIp, &msg.bornHostPort);
    msg.reconsumeTimes = (int32_t)reconsume;
    static st_put_result_t res; /* loop thread only: its id buffer is reused */
    static int res_ready;
    if (!res_ready) {
        st_put_result_init(&res);
        res_ready = 1;
    }
    if (req->body_len > UINT32_MAX) {
        respond_send(c, req, b, RC_MESSAGE_ILLEGAL, "message body too large");
        return;
    }
    res.count = 0;
    int rc = batch ? st_put_batch(b->store, &msg, req->body, req->body_len, &res) : st_put(b->store, &msg, &res);
    const char *why = NULL;
    code = store_code(rc, &why);
    if (code != RC_SUCCESS) {
        b->stats.putFailed++;
        LOG_W("broker", "send to %s refused: store error %d", topic, rc);
        respond_send(c, req, b, code, why);
        return;
    }
    b->stats.putTotal += res.count;
    b->stats.putBytes += res.size;
    br_stats_count(b, BR_STAT_TOPIC_PUT, topic, res.count);
    rm_cmd_t resp;
    rm_cmd_init(&resp, code);
    rm_ext_set(&resp, "msgId", batch && res.msgIds.len ? res.msgIds.data : res.msgId);
    rm_ext_set_i64(&resp, "queueId", qid);
    rm_ext_set_i64(&resp, "queueOffset", res.queueOffset);
    rm_ext_set(&resp, "MSG_REGION", b->cfg.regionId);
    rm_ext_set(&resp, "TRACE_ON", "true");
    if (code == RC_SUCCESS && br_flushwait_needed(b, req, rawprops ? rawprops : "", rawlen)) {
        br_flushwait_add(b, c, req, &resp, res.phyOffset + res.size);
    } else {
        rm_conn_respond(c, req, &resp);
        rm_cmd_free(&resp);
    }
    br_message_arrived(b, st_topic, st_qid);
}
