/* CONSUMER_SEND_MSG_BACK (36): a consumer could not process a message; store a copy for the
 * group's %RETRY% topic (reconsumeTimes + 1, RETRY_TOPIC and ORIGIN_MESSAGE_ID kept) after a
 * back-off by delay level (the request's delayLevel, or 3 + reconsumeTimes as RocketMQ: 10 s,
 * 30 s, 1 min, ... with the default levels), or in its %DLQ% topic once the retries are used up
 * or the consumer asks for it (negative delayLevel). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/schedule/schedule.h"

#define MIN_CLIENT_VERSION_FOR_MAX_RECONSUME 121 /* V3_4_9 */

static int append_prop(cm_buf_t *b, const char *k, const char *v, size_t vlen)
{
    if (b->len && b->data[b->len - 1] != 2 && cm_buf_putc(b, 2))
        return CM_ENOMEM;
    return cm_buf_puts(b, k) || cm_buf_putc(b, 1) || cm_buf_append(b, v, vlen) || cm_buf_putc(b, 2) ? CM_ENOMEM : 0;
}

void br_handle_consumer_send_msg_back(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group;
    int64_t offset;
    int32_t delayLevel, maxTimes = -1;
    if (!(group = rm_req_str(c, req, "group")) || rm_req_i64(c, req, "offset", &offset) ||
        rm_req_i32(c, req, "delayLevel", &delayLevel))
        return;
    if (rm_ext_get(req, "maxReconsumeTimes") && rm_req_i32(c, req, "maxReconsumeTimes", &maxTimes))
        return;
    br_group_t *g = br_group_for_request(b, c, req, group);
    if (!g)
        return;
    if (!(b->cfg.brokerPermission & PERM_WRITE)) {
        rm_conn_respond_code(c, req, RC_NO_PERMISSION, "the broker[%s] sending message is forbidden", b->cfg.brokerName);
        return;
    }
    if (g->retryQueueNums <= 0) {
        rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
        return;
    }
    const uint8_t *p;
    uint32_t len;
    st_record_t r;
    if (offset < 0 || st_read_record_at(b->store, offset, &p, &len) != ST_OK || st_record_decode(p, len, 0, &r) != ST_OK) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "look message by offset failed, %lld", (long long)offset);
        return;
    }
    int max = g->retryMaxTimes;
    if (maxTimes >= 0 && req->version >= MIN_CLIENT_VERSION_FOR_MAX_RECONSUME)
        max = maxTimes;
    char topic[300];
    int dead = r.reconsumeTimes >= max || delayLevel < 0;
    snprintf(topic, sizeof topic, "%s%s", dead ? "%DLQ%" : "%RETRY%", group);
    int code = RC_SUCCESS;
    br_topic_t *tc = br_topic_for_send(b, topic, NULL, 1, &code);
    if (!tc) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "topic[%s] not exist", topic);
        return;
    }
    /* Properties: the original's, plus where it came from (first original wins). */
    cm_buf_t props;
    cm_buf_init(&props);
    int rc = cm_buf_append(&props, r.properties, (size_t)r.propertiesLen);
    const char *v;
    size_t vl;
    if (st_props_get(r.properties, (size_t)r.propertiesLen, "RETRY_TOPIC", &v, &vl) != ST_OK)
        rc |= append_prop(&props, "RETRY_TOPIC", r.topic, (size_t)r.topicLen);
    const char *origin = rm_ext_get(req, "originMsgId");
    if (origin && st_props_get(r.properties, (size_t)r.propertiesLen, "ORIGIN_MESSAGE_ID", &v, &vl) != ST_OK)
        rc |= append_prop(&props, "ORIGIN_MESSAGE_ID", origin, strlen(origin));
    if (rc) {
        cm_buf_free(&props);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "out of memory");
        return;
    }
    const char *st_topic = topic;
    int qid = dead ? 0 : rand() % (tc->writeQueueNums > 0 ? tc->writeQueueNums : 1), st_qid = qid;
    int level = delayLevel > 0 ? delayLevel : 3 + r.reconsumeTimes;
    if (!dead && br_schedule_divert(b, &props, topic, qid, level, &st_topic, &st_qid) != 0) {
        cm_buf_free(&props);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "out of memory");
        return;
    }
    st_msg_t m = {0};
    m.topic = st_topic;
    m.queueId = st_qid;
    m.flag = r.flag;
    m.body = r.body;
    m.bodyLen = (uint32_t)r.bodyLen;
    m.properties = props.data;
    m.propertiesLen = (uint32_t)props.len;
    m.sysFlag = r.sysFlag & ~0xC; /* a copy is never a transaction half */
    m.bornTimestamp = r.bornTimestamp;
    m.bornHostIp = (r.sysFlag & 0x10) ? 0 : cm_be32(r.bornHost); /* an IPv6 born host is not kept */
    m.bornHostPort = r.bornPort;
    m.reconsumeTimes = r.reconsumeTimes + 1;
    st_put_result_t res;
    st_put_result_init(&res);
    rc = st_put(b->store, &m, &res);
    st_put_result_free(&res);
    cm_buf_free(&props);
    if (rc != ST_OK) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "the store refused the retry message (%s)", st_strerror(rc));
        return;
    }
    b->stats.putTotal++;
    if (dead)
        LOG_I("broker", "message at %lld of group %s moved to %s after %d attempts", (long long)offset, group, topic, r.reconsumeTimes);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
    if (dead)
        br_message_arrived(b, topic, m.queueId);
}
