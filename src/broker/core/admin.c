/* Offsets, queue bounds, lookup by id, and topic administration requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/core.h"

/* Common prelude of the per-queue requests: topic and queueId headers. */
static int queue_args(rm_conn_t *c, const rm_cmd_t *req, const char **topic, int32_t *qid)
{
    if (!(*topic = rm_req_str(c, req, "topic")) || rm_req_i32(c, req, "queueId", qid))
        return -1;
    return 0;
}

static void respond_i64(rm_conn_t *c, const rm_cmd_t *req, const char *key, int64_t v)
{
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_ext_set_i64(&resp, key, v);
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
}

void br_handle_query_consumer_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group, *topic;
    int32_t qid;
    if (!(group = rm_req_str(c, req, "consumerGroup")) || queue_args(c, req, &topic, &qid))
        return;
    int64_t off = br_offsets_get(&b->offsets, group, topic, qid);
    if (off >= 0) {
        respond_i64(c, req, "offset", off);
        return;
    }
    /* A brand-new group reads a young queue from its start, as RocketMQ answers 0 while the
     * first message is still in memory; we treat "queue starts at 0" the same way. */
    if (st_min_offset(b->store, topic, qid) <= 0) {
        respond_i64(c, req, "offset", 0);
        return;
    }
    rm_conn_respond_code(c, req, RC_QUERY_NOT_FOUND, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first");
}

void br_handle_update_consumer_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group, *topic;
    int32_t qid;
    int64_t off;
    if (!(group = rm_req_str(c, req, "consumerGroup")) || queue_args(c, req, &topic, &qid) ||
        rm_req_i64(c, req, "commitOffset", &off))
        return;
    br_offsets_set(&b->offsets, group, topic, qid, off);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

void br_handle_get_max_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *topic;
    int32_t qid;
    if (queue_args(c, req, &topic, &qid) == 0)
        respond_i64(c, req, "offset", st_max_offset(b->store, topic, qid));
}

void br_handle_get_min_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *topic;
    int32_t qid;
    if (queue_args(c, req, &topic, &qid) == 0)
        respond_i64(c, req, "offset", st_min_offset(b->store, topic, qid));
}

void br_handle_get_earliest_msg_storetime(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *topic;
    int32_t qid;
    int64_t ts = -1;
    if (queue_args(c, req, &topic, &qid) == 0) {
        if (st_earliest_msg_time(b->store, topic, qid, &ts) != ST_OK)
            ts = -1;
        respond_i64(c, req, "timestamp", ts);
    }
}

void br_handle_search_offset_by_timestamp(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *topic;
    int32_t qid;
    int64_t ts;
    if (queue_args(c, req, &topic, &qid) || rm_req_i64(c, req, "timestamp", &ts))
        return;
    respond_i64(c, req, "offset", st_offset_by_time(b->store, topic, qid, ts));
}

void br_handle_view_message_by_id(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    int64_t off;
    if (rm_req_i64(c, req, "offset", &off))
        return;
    const uint8_t *p;
    uint32_t len;
    if (off < 0 || st_read_record_at(b->store, off, &p, &len) != 0) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "can not find message by the offset, %lld", (long long)off);
        return;
    }
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    resp.body = p;
    resp.body_len = len;
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
}

void br_handle_update_and_create_topic(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *topic = rm_req_str(c, req, "topic");
    if (!topic)
        return;
    const char *err = br_topic_name_error(topic);
    if (err) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "%s", err);
        return;
    }
    if (strcmp(topic, b->cfg.brokerClusterName) == 0 || strcmp(topic, "TBW102") == 0 || br_topic_is_system_forbidden(topic)) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "The topic[%s] is conflict with system topic.", topic);
        return;
    }
    int32_t r = 8, w = 8, perm = 6, sysFlag = 0;
    if (rm_ext_get(req, "readQueueNums") && rm_req_i32(c, req, "readQueueNums", &r))
        return;
    if (rm_ext_get(req, "writeQueueNums") && rm_req_i32(c, req, "writeQueueNums", &w))
        return;
    if (rm_ext_get(req, "perm") && rm_req_i32(c, req, "perm", &perm))
        return;
    if (rm_ext_get(req, "topicSysFlag") && rm_req_i32(c, req, "topicSysFlag", &sysFlag))
        return;
    if (r <= 0 || w <= 0 || r > 1024 || w > 1024 || perm < 0 || perm > 15) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "invalid queue numbers or perm for topic %s: read %d write %d perm %d", topic, r, w, perm);
        return;
    }
    /* RocketMQ 5's attributes (a 2.x console sends +message.type=...): kept and given back in
     * GET_ALL_TOPIC_CONFIG; an update without them keeps the topic's own, as RocketMQ 5 */
    const br_topic_t *old = br_topics_get(&b->topics, topic);
    char attrs[sizeof old->attributes], why[256];
    if (br_topic_attributes_alter(old ? old->attributes : "", rm_ext_get(req, "attributes"), !old, attrs, sizeof attrs,
                                  why, sizeof why) != 0) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "%s", why);
        return;
    }
    br_topic_t *tc = br_topics_put(&b->topics, topic, r, w, perm, sysFlag);
    if (!tc) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "cannot create topic %s", topic);
        return;
    }
    int order = 0;
    rm_ext_bool(req, "order", &order);
    tc->order = order;
    const char *ft = rm_ext_get(req, "topicFilterType");
    tc->multiTag = ft && strcmp(ft, "MULTI_TAG") == 0;
    memcpy(tc->attributes, attrs, sizeof attrs);
    br_topics_save(&b->topics);
    if (!old && b->store) /* its consume-queue files are made off the loop, ahead of the first puts */
        st_cq_preallocate(b->store, topic, w);
    LOG_I("broker", "topic %s created/updated: read %d write %d perm %d by %s", topic, r, w, perm, rm_conn_peer(c));
    br_register_all(b, 0);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

void br_handle_delete_topic_in_broker(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *topic = rm_req_str(c, req, "topic");
    if (!topic)
        return;
    /* Deleting SCHEDULE_TOPIC_XXXX or a transaction topic would lose acknowledged messages. */
    if (br_topic_is_system(topic, b->cfg.brokerClusterName, b->cfg.brokerName)) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "The topic[%s] is conflict with system topic.", topic);
        return;
    }
    if (br_topics_delete(&b->topics, topic) == 0) {
        br_offsets_delete_topic(&b->offsets, topic);
        st_delete_topic(b->store, topic);
        LOG_I("broker", "topic %s deleted by %s", topic, rm_conn_peer(c));
        br_register_all(b, 0);
    }
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

void br_handle_get_all_topic_config(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    rm_conn_respond_render_async(c, req, br_topics_answer_ptype.snap(&b->topics), br_topics_answer_ptype.render,
                                 br_topics_answer_ptype.free);
}

lj_val_t *br_mq_json(const char *brokerName, const char *topic, int queueId)
{
    lj_val_t *o = lj_new_obj();
    lj_set_str(o, "brokerName", brokerName);
    lj_set_int(o, "queueId", queueId);
    lj_set_str(o, "topic", topic);
    return o;
}

/* TopicStatsTable: MessageQueue objects as map keys, as fastjson writes them for Java readers. */
void br_handle_get_topic_stats_info(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *topic = rm_req_str(c, req, "topic");
    if (!topic)
        return;
    br_topic_t *tc = br_topics_get(&b->topics, topic);
    if (!tc) {
        rm_conn_respond_code(c, req, RC_TOPIC_NOT_EXIST, "topic[%s] not exist", topic);
        return;
    }
    lj_val_t *o = lj_new_obj(), *tab = lj_new_obj();
    for (int q = 0; q < tc->writeQueueNums; q++) {
        lj_val_t *off = lj_new_obj();
        int64_t min = st_min_offset(b->store, topic, q), max = st_max_offset(b->store, topic, q), ts = 0;
        if (max > 0 && st_msg_store_time(b->store, topic, q, max - 1, &ts) != ST_OK)
            ts = 0;
        lj_set_int(off, "lastUpdateTimestamp", ts);
        lj_set_int(off, "maxOffset", max);
        lj_set_int(off, "minOffset", min);
        lj_put(tab, br_mq_json(b->cfg.brokerName, topic, q), off);
    }
    lj_set(o, "offsetTable", tab);
    rm_conn_respond_json(c, req, o, LJ_W_FASTJSON);
}
