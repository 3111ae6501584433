/* inspect.c: the remaining admin requests of RocketMQ 4.9's AdminBrokerProcessor that look
 * into or tidy the store, for mqadmin (queryCq, cloneGroupOffset, cleanExpiredCQ,
 * cleanUnusedTopic, deleteExpiredCommitLog) and for tools that read the broker's tables:
 *  - GET_ALL_CONSUMER_OFFSET (43), GET_ALL_DELAY_OFFSET (45): consumerOffset.json / delayOffset.json;
 *  - QUERY_CONSUME_TIME_SPAN (303): per queue, first/last store time and the consumer's position;
 *  - GET_SYSTEM_TOPIC_LIST_FROM_BROKER (305);
 *  - CLEAN_EXPIRED_CONSUMEQUEUE (306), DELETE_EXPIRED_COMMITLOG (329), CLEAN_UNUSED_TOPIC (316);
 *  - CLONE_GROUP_OFFSET (314);
 *  - QUERY_CONSUME_QUEUE (321): raw consume-queue units.
 * Loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/core.h"

void br_handle_get_all_consumer_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    rm_conn_respond_json(c, req, br_offsets_json(&b->offsets), LJ_W_FASTJSON);
}

void br_handle_get_all_delay_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    lj_val_t *o = b->hooks.delay_json ? b->hooks.delay_json(b) : NULL;
    if (!o) { /* no delay levels served here: an empty table */
        o = lj_new_obj();
        lj_set(o, "offsetTable", lj_new_obj());
    }
    rm_conn_respond_json(c, req, o, LJ_W_FASTJSON);
}

static int64_t store_time(br_broker_t *b, const char *topic, int q, int64_t offset)
{
    int64_t ts = 0;
    if (offset < 0 || st_msg_store_time(b->store, topic, q, offset, &ts) != ST_OK)
        return 0;
    return ts;
}

void br_handle_query_consume_time_span(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *topic = rm_req_str(c, req, "topic");
    const char *group = topic ? rm_req_str(c, req, "group") : NULL;
    if (!group)
        return;
    br_topic_t *tc = br_topics_get(&b->topics, topic);
    if (!tc) {
        rm_conn_respond_code(c, req, RC_TOPIC_NOT_EXIST, "topic[%s] not exist", topic);
        return;
    }
    lj_val_t *set = lj_new_arr();
    for (int q = 0; q < tc->writeQueueNums; q++) {
        int64_t minTime = 0, max = st_max_offset(b->store, topic, q);
        st_earliest_msg_time(b->store, topic, q, &minTime);
        int64_t off = br_offsets_get(&b->offsets, group, topic, q);
        lj_val_t *span = lj_new_obj();
        lj_set(span, "messageQueue", br_mq_json(b->cfg.brokerName, topic, q));
        lj_set_int(span, "minTimeStamp", minTime);
        lj_set_int(span, "maxTimeStamp", store_time(b, topic, q, max - 1));
        lj_set_int(span, "consumeTimeStamp", off > 0 ? store_time(b, topic, q, off - 1) : minTime);
        int64_t next = off < max ? store_time(b, topic, q, off < 0 ? 0 : off) : 0;
        lj_set_int(span, "delayTime", next ? cm_now_ms() - next : 0);
        lj_push(set, span);
    }
    lj_val_t *root = lj_new_obj();
    lj_set(root, "consumeTimeSpanSet", set);
    rm_conn_respond_json(c, req, root, LJ_W_FASTJSON);
}

void br_handle_get_system_topic_list(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    (void)ctx;
    static const char *const sys[] = {"TBW102", "SCHEDULE_TOPIC_XXXX", "BenchmarkTest", "RMQ_SYS_TRANS_HALF_TOPIC",
                                      "RMQ_SYS_TRACE_TOPIC", "RMQ_SYS_TRANS_OP_HALF_TOPIC",
                                      "TRANS_CHECK_MAX_TIME_TOPIC", "SELF_TEST_TOPIC", "OFFSET_MOVED_EVENT",
                                      "rmq_sys_wheel_timer", BR_UNDELIVERABLE_TOPIC};
    lj_val_t *list = lj_new_arr(), *root = lj_new_obj();
    for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
        lj_push(list, lj_new_str(sys[i]));
    lj_set(root, "topicList", list);
    rm_conn_respond_json(c, req, root, LJ_W_FASTJSON);
}

/* ---- maintenance ---------------------------------------------------------------------------- */

/* Consume queues are cleaned with the commit-log files they point into (clean.c); one pass now. */
void br_handle_clean_expired_consumequeue(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    st_clean_report_t rep;
    LOG_W("broker", "cleanExpiredConsumeQueue invoked by %s", rm_conn_peer(c));
    st_clean(b->store, cm_now_ms(), &rep);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

/* As RocketMQ's executeDeleteFilesManually: the next passes delete expired files at any hour. */
void br_handle_delete_expired_commitlog(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    LOG_W("broker", "deleteExpiredCommitLog invoked by %s", rm_conn_peer(c));
    st_clean_request(b->store);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

typedef struct unused { br_broker_t *b; char (*names)[128]; size_t n, cap; } unused_t;

static void find_unused(void *arg, const char *topic, int32_t qid, int64_t mn, int64_t mx)
{
    (void)qid, (void)mn, (void)mx;
    unused_t *u = arg;
    if (br_topics_get(&u->b->topics, topic) || strlen(topic) >= 128 || !strcmp(topic, "SCHEDULE_TOPIC_XXXX"))
        return;
    for (size_t i = 0; i < u->n; i++)
        if (!strcmp(u->names[i], topic))
            return;
    if (u->n == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 16;
        char (*p)[128] = realloc(u->names, cap * sizeof *p);
        if (!p)
            return;
        u->names = p;
        u->cap = cap;
    }
    snprintf(u->names[u->n++], 128, "%s", topic);
}

/* Consume queues of topics no longer in the topic table (deleted elsewhere, or left by an old
 * configuration) are removed; the commit log is untouched. */
void br_handle_clean_unused_topic(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    unused_t u = {b, NULL, 0, 0};
    st_queue_each(b->store, find_unused, &u);
    for (size_t i = 0; i < u.n; i++) {
        LOG_W("broker", "cleanUnusedTopic by %s: removing the consume queues of %s", rm_conn_peer(c), u.names[i]);
        st_delete_topic(b->store, u.names[i]);
    }
    free(u.names);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

/* ---- CLONE_GROUP_OFFSET (314) --------------------------------------------------------------- */

typedef struct clone { br_broker_t *b; const char *src, *dst; int offline; } clone_t;

static void clone_topic(void *arg, const char *topic)
{
    clone_t *x = arg;
    br_topic_t *tc = br_topics_get(&x->b->topics, topic);
    if (!tc)
        return;
    if (!x->offline && !br_group_subscribes(x->b, x->src, topic))
        return; /* an online source group that no longer subscribes the topic is skipped */
    for (int q = 0; q < tc->readQueueNums || q < tc->writeQueueNums; q++) {
        int64_t off = br_offsets_get(&x->b->offsets, x->src, topic, q);
        if (off >= 0)
            br_offsets_set(&x->b->offsets, x->dst, topic, q, off);
    }
}

void br_handle_clone_group_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *src = rm_req_str(c, req, "srcGroup");
    const char *dst = src ? rm_req_str(c, req, "destGroup") : NULL;
    if (!dst)
        return;
    const char *topic = rm_ext_get(req, "topic"), *offline = rm_ext_get(req, "offline");
    clone_t x = {b, src, dst, offline && !strcmp(offline, "true")};
    if (topic && *topic)
        clone_topic(&x, topic);
    else
        br_offsets_topics(&b->offsets, src, clone_topic, &x);
    br_offsets_save(&b->offsets);
    LOG_I("broker", "offsets of %s cloned to %s (%s) by %s", src, dst, topic && *topic ? topic : "all topics",
          rm_conn_peer(c));
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

/* ---- QUERY_CONSUME_QUEUE (321) -------------------------------------------------------------- */

static lj_val_t *subscription_of(br_broker_t *b, const char *group, const char *topic)
{
    const br_sub_t *s = br_find_sub(b, group, topic);
    if (s) {
        lj_val_t *o = lj_new_obj();
        lj_set_bool(o, "classFilterMode", 0);
        lj_set_str(o, "expressionType", s->sql ? "SQL92" : "TAG");
        lj_set_str(o, "subString", s->expr);
        lj_set_int(o, "subVersion", s->subVersion);
        lj_set_str(o, "topic", s->topic);
        return o;
    }
    return NULL;
}

void br_handle_query_consume_queue(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *topic = rm_req_str(c, req, "topic");
    int32_t qid, count;
    int64_t index;
    if (!topic || rm_req_i32(c, req, "queueId", &qid) || rm_req_i64(c, req, "index", &index) ||
        rm_req_i32(c, req, "count", &count))
        return;
    if (!st_queue_exists(b->store, topic, qid)) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "%d@%s is not exist!", qid, topic);
        return;
    }
    lj_val_t *root = lj_new_obj();
    const char *group = rm_ext_get(req, "consumerGroup");
    if (group && *group) {
        lj_val_t *sub = subscription_of(b, group, topic);
        char fd[400];
        snprintf(fd, sizeof fd, "%s@%s is not online!", group, topic);
        if (sub)
            lj_set(root, "subscriptionData", sub);
        else
            lj_set_str(root, "filterData", fd);
    }
    lj_set_int(root, "maxQueueIndex", st_max_offset(b->store, topic, qid));
    lj_set_int(root, "minQueueIndex", st_min_offset(b->store, topic, qid));
    lj_val_t *units = lj_new_arr();
    int64_t phy, tags;
    int32_t size;
    for (int32_t i = 0; i < count && i < 1000 &&
                        st_cq_entry(b->store, topic, qid, index + i, &phy, &size, &tags) == ST_OK; i++) {
        lj_val_t *u = lj_new_obj();
        lj_set_int(u, "physicOffset", phy);
        lj_set_int(u, "physicSize", size);
        lj_set_int(u, "tagsCode", tags);
        lj_set_bool(u, "eval", 0);
        lj_push(units, u);
    }
    if (units->n == 0) { /* as RocketMQ: SUCCESS with a remark and no body */
        lj_free(units);
        lj_free(root);
        rm_conn_respond_code(c, req, RC_SUCCESS, "Index %lld of %d@%s is not exist!", (long long)index, qid, topic);
        return;
    }
    lj_set(root, "queueData", units);
    rm_conn_respond_json(c, req, root, LJ_W_FASTJSON);
}
