/* PULL_MESSAGE (11) with long polling. A pull that finds nothing new is parked per
 * (topic, queue) and re-run when a message arrives there (br_pull_notify, called after each
 * put) or when its hold time ends (br_pull_check, a loop timer). Found records are written
 * straight from the mapped commit log (writev), never copied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "br.h"

#define FLAG_COMMIT_OFFSET 0x1
#define FLAG_SUSPEND 0x2
#define FLAG_SUBSCRIPTION 0x4
#define MAX_PULL_MSGS 32
#define MAX_PULL_BYTES (256 * 1024)
#define HOLD_CAP_MS 20000 /* stay below the clients' 30 s read timeout */

typedef struct pull_req {
    char group[256];
    char topic[128];
    int32_t queueId;
    int64_t offset;
    int32_t maxNums;
    br_sub_t sub;
    int have_sub;
} pull_req_t;

struct br_pull_wait {
    br_pull_wait_t *next;
    rm_conn_t *conn;
    int32_t opaque;
    int serialize;
    uint64_t deadline;
    pull_req_t pr;
};

/* Answer a pull; returns 1 when it was parked instead (only if may_park). */
static const char *prop_lookup(void *arg, const char *name, size_t *len)
{
    const st_record_t *r = arg;
    const char *v;
    return st_props_get(r->properties, r->propertiesLen, name, &v, len) == ST_OK ? v : NULL;
}

/* SQL92: evaluated against the stored record's properties, as RocketMQ's broker does. */
static int sql_match(void *arg, int64_t tagsCode, const uint8_t *record, uint32_t len)
{
    st_record_t r;
    if (st_record_decode(record, len, 0, &r) != ST_OK)
        return 0;
    return fl_eval(arg, prop_lookup, &r);
}

static int pull_exec(br_broker_t *b, rm_conn_t *c, int32_t opaque, int serialize, pull_req_t *pr, int may_park, uint64_t hold);

/* Which broker id the consumer should pull from next (spec §5.5): with slaveReadEnable, a
 * consumer whose reads fall out of the page cache goes to the group's
 * whichBrokerWhenConsumeSlowly (1), others to the group's brokerId (0); otherwise the master. */
static int64_t suggest_broker(br_broker_t *b, const char *group, int lagging)
{
    if (!b->cfg.slaveReadEnable)
        return 0;
    br_group_t *g = br_groups_get(&b->groups, group);
    return lagging ? (g ? g->whichBrokerWhenConsumeSlowly : 1) : (g ? g->brokerId : 0);
}

static void respond_pull(rm_conn_t *c, int32_t opaque, int serialize, int code, const char *remark,
                         int64_t next, int64_t min, int64_t max, const uv_buf_t *bufs, unsigned n, int64_t suggest)
{
    rm_cmd_t resp;
    rm_cmd_init(&resp, code);
    rm_ext_set_i64(&resp, "nextBeginOffset", next);
    rm_ext_set_i64(&resp, "minOffset", min);
    rm_ext_set_i64(&resp, "maxOffset", max);
    rm_ext_set_i64(&resp, "suggestWhichBrokerId", suggest);
    if (remark)
        resp.remark = cm_strdup(remark);
    rm_conn_respond_raw(c, opaque, serialize, &resp, bufs, n, NULL, NULL);
    rm_cmd_free(&resp);
}

static void park(br_broker_t *b, rm_conn_t *c, int32_t opaque, int serialize, pull_req_t *pr, uint64_t hold)
{
    br_pull_wait_t *w = calloc(1, sizeof *w);
    if (!w) {
        respond_pull(c, opaque, serialize, RC_PULL_NOT_FOUND, "OFFSET_OVERFLOW_ONE", pr->offset, 0, 0, NULL, 0, 0);
        return;
    }
    w->conn = c;
    rm_conn_ref(c);
    w->opaque = opaque;
    w->serialize = serialize;
    w->deadline = uv_now(b->loop) + (hold > HOLD_CAP_MS ? HOLD_CAP_MS : hold);
    w->pr = *pr;
    pr->sub.codes = NULL; /* ownership moved to the waiter */
    pr->sub.sql = NULL;
    w->next = b->waits;
    b->waits = w;
}

static int pull_exec(br_broker_t *b, rm_conn_t *c, int32_t opaque, int serialize, pull_req_t *pr, int may_park, uint64_t hold)
{
    int n = pr->maxNums > 0 && pr->maxNums < MAX_PULL_MSGS ? pr->maxNums : MAX_PULL_MSGS;
    static st_get_result_t r; /* loop thread only: its slice array is reused */
    static int r_ready;
    if (!r_ready) {
        st_get_result_init(&r);
        r_ready = 1;
    }
    st_filter_t filter = {.codes = pr->sub.codes, .ncodes = pr->sub.ncodes};
    if (pr->sub.sql) {
        filter.ncodes = 0;
        filter.match = sql_match;
        filter.arg = pr->sub.sql;
    }
    int rc = st_get(b->store, pr->topic, pr->queueId, pr->offset, n, MAX_PULL_BYTES, pr->sub.all ? NULL : &filter, &r);
    if (rc < 0) {
        respond_pull(c, opaque, serialize, RC_SYSTEM_ERROR, "store read failed", pr->offset, 0, 0, NULL, 0, 0);
        return 0;
    }
    int code;
    int64_t next = r.nextBeginOffset;
    switch (r.status) {
    case ST_GET_FOUND: code = RC_SUCCESS; break;
    case ST_GET_NO_MATCHED_MESSAGE:
    case ST_GET_MESSAGE_WAS_REMOVING: code = RC_PULL_RETRY_IMMEDIATELY; break;
    case ST_GET_NO_MESSAGE_IN_QUEUE:
    case ST_GET_NO_MATCHED_LOGIC_QUEUE: code = pr->offset == 0 ? RC_PULL_NOT_FOUND : RC_PULL_OFFSET_MOVED; break;
    case ST_GET_OFFSET_OVERFLOW_ONE:
    case ST_GET_OFFSET_FOUND_NULL: code = RC_PULL_NOT_FOUND; break;
    default: code = RC_PULL_OFFSET_MOVED; break; /* too small / overflow badly */
    }
    if (code == RC_PULL_NOT_FOUND && may_park && !b->stopping) {
        park(b, c, opaque, serialize, pr, hold);
        return 1;
    }
    uv_buf_t bufs[MAX_PULL_MSGS];
    unsigned nb = 0;
    for (uint32_t i = 0; code == RC_SUCCESS && i < r.n && nb < MAX_PULL_MSGS; i++)
        bufs[nb++] = uv_buf_init(r.msgs[i].iov_base, (unsigned)r.msgs[i].iov_len);
    b->stats.getTotal += nb;
    if (nb) {
        char key[600];
        snprintf(key, sizeof key, "%s@%s", pr->topic, pr->group);
        br_stats_group_add(b, pr->group, nb);
        br_stats_count(b, BR_STAT_GROUP_GET, key, nb);
    }
    respond_pull(c, opaque, serialize, code, st_get_status_name(r.status), next, r.minOffset, r.maxOffset, bufs, nb,
                 suggest_broker(b, pr->group, r.suggestPullingFromSlave));
    return 0;
}

void br_handle_pull_message(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group, *topic;
    int32_t qid, maxNums, sysFlag;
    int64_t offset, commitOffset = -1, suspend = 15000;
    if (!(group = rm_req_str(c, req, "consumerGroup")) || !(topic = rm_req_str(c, req, "topic")) ||
        rm_req_i32(c, req, "queueId", &qid) || rm_req_i64(c, req, "queueOffset", &offset) ||
        rm_req_i32(c, req, "maxMsgNums", &maxNums) || rm_req_i32(c, req, "sysFlag", &sysFlag))
        return;
    rm_ext_i64(req, "commitOffset", &commitOffset);
    rm_ext_i64(req, "suspendTimeoutMillis", &suspend);
    if (!(b->cfg.brokerPermission & PERM_READ)) {
        rm_conn_respond_code(c, req, RC_NO_PERMISSION, "the broker[%s] pulling message is forbidden", b->cfg.brokerName);
        return;
    }
    br_group_t *g = br_group_for_request(b, c, req, group);
    if (!g)
        return;
    if (!g->consumeEnable) {
        rm_conn_respond_code(c, req, RC_NO_PERMISSION, "subscription group no permission, %s", group);
        return;
    }
    br_topic_t *tc = br_topics_get(&b->topics, topic), replicated;
    if (!tc && br_is_slave(b) && st_queue_exists(b->store, topic, qid)) {
        /* replicated data whose topic config has not been copied yet (the master may be gone
         * for good): serve what this slave holds rather than refuse it, as RocketMQ would */
        memset(&replicated, 0, sizeof replicated);
        replicated.perm = PERM_READ;
        replicated.readQueueNums = replicated.writeQueueNums = qid + 1;
        tc = &replicated;
    }
    if (!tc) {
        rm_conn_respond_code(c, req, RC_TOPIC_NOT_EXIST, "topic[%s] not exist, apply first please!", topic);
        return;
    }
    if (!(tc->perm & PERM_READ)) {
        rm_conn_respond_code(c, req, RC_NO_PERMISSION, "the topic[%s] pulling message is forbidden", topic);
        return;
    }
    if (qid < 0 || qid >= tc->readQueueNums) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "queueId[%d] is illegal, topic:[%s] topicConfig.readQueueNums:[%d] consumer:[%s]",
                             qid, topic, tc->readQueueNums, rm_conn_peer(c));
        return;
    }
    pull_req_t pr = {0};
    snprintf(pr.group, sizeof pr.group, "%s", group);
    snprintf(pr.topic, sizeof pr.topic, "%s", topic);
    pr.queueId = qid;
    pr.offset = offset;
    pr.maxNums = maxNums;
    const char *etype = rm_ext_get(req, "expressionType");
    if (etype && strcmp(etype, "TAG") != 0 && !b->cfg.enablePropertyFilter) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "The broker does not support consumer to filter message by %s", etype);
        return;
    }
    char err[256];
    if (sysFlag & FLAG_SUBSCRIPTION) {
        if (br_sub_parse_typed(&pr.sub, topic, rm_ext_get(req, "subscription"), etype, err, sizeof err) != 0) {
            br_sub_free(&pr.sub);
            rm_conn_respond_code(c, req, RC_SUBSCRIPTION_PARSE_FAILED, "parse the consumer's subscription failed: %s", err);
            return;
        }
    } else {
        br_cgroup_t *cg = br_cgroup_get(b, group);
        const br_sub_t *s = NULL;
        for (size_t i = 0; cg && i < cg->nsubs; i++)
            if (strcmp(cg->subs[i].topic, topic) == 0)
                s = &cg->subs[i];
        if (!s) {
            rm_conn_respond_code(c, req, RC_SUBSCRIPTION_NOT_EXIST, "the consumer's subscription not exist, group: %s topic: %s", group, topic);
            return;
        }
        if (s->isSql && !b->cfg.enablePropertyFilter) {
            rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "The broker does not support consumer to filter message by SQL92");
            return;
        }
        if (br_sub_parse_typed(&pr.sub, topic, s->expr, s->isSql ? "SQL92" : "TAG", err, sizeof err) != 0) {
            br_sub_free(&pr.sub);
            rm_conn_respond_code(c, req, RC_SUBSCRIPTION_PARSE_FAILED, "parse the consumer's subscription failed: %s", err);
            return;
        }
    }
    if ((sysFlag & FLAG_COMMIT_OFFSET) && commitOffset >= 0 && !br_is_slave(b)) /* a slave ignores commits */
        br_offsets_set(&b->offsets, group, topic, qid, commitOffset);
    int may_park = (sysFlag & FLAG_SUSPEND) != 0;
    uint64_t hold = b->cfg.longPollingEnable ? (uint64_t)(suspend > 0 ? suspend : 0) : (uint64_t)b->cfg.shortPollingTimeMills;
    pull_exec(b, c, req->opaque, req->serialize, &pr, may_park, hold);
    br_sub_free(&pr.sub);
}

static void finish_wait(br_broker_t *b, br_pull_wait_t *w)
{
    if (!rm_conn_is_closed(w->conn))
        pull_exec(b, w->conn, w->opaque, w->serialize, &w->pr, 0, 0);
    rm_conn_unref(w->conn);
    br_sub_free(&w->pr.sub);
    free(w);
}

/* Unlink every parked pull for which due(b, w, arg) holds and answer it. Unlinking first
 * keeps the list consistent while answers run (an answer may park nothing, but it writes). */
static void answer_parked(br_broker_t *b, int (*due)(br_broker_t *, const br_pull_wait_t *, const void *), const void *arg)
{
    br_pull_wait_t *ready = NULL;
    for (br_pull_wait_t **pp = &b->waits; *pp;) {
        br_pull_wait_t *w = *pp;
        if (due(b, w, arg)) {
            *pp = w->next;
            w->next = ready;
            ready = w;
        } else {
            pp = &w->next;
        }
    }
    while (ready) {
        br_pull_wait_t *n = ready->next;
        finish_wait(b, ready);
        ready = n;
    }
}

typedef struct { const char *topic; int queueId; } queue_key_t;

static int on_queue(br_broker_t *b, const br_pull_wait_t *w, const void *arg)
{
    const queue_key_t *k = arg;
    return w->pr.queueId == k->queueId && strcmp(w->pr.topic, k->topic) == 0;
}

/* A message landed in (topic, queueId): wake the pulls parked on it. */
void br_pull_notify(br_broker_t *b, const char *topic, int queueId)
{
    queue_key_t k = {topic, queueId};
    if (b->waits)
        answer_parked(b, on_queue, &k);
}

static int expired_or_ready(br_broker_t *b, const br_pull_wait_t *w, const void *arg)
{
    return *(const int *)arg || w->deadline <= uv_now(b->loop) || rm_conn_is_closed(w->conn) ||
           st_max_offset(b->store, w->pr.topic, w->pr.queueId) > w->pr.offset;
}

/* Timer: answer parked pulls whose hold ended, whose client left, or whose queue grew. */
void br_pull_check(br_broker_t *b, int expire_all)
{
    answer_parked(b, expired_or_ready, &expire_all);
}
