/* PULL_MESSAGE (11) with long polling. A pull that finds nothing new is parked under its
 * queue ("topic@queueId", as RocketMQ's PullRequestHoldService keys them) and in a deadline
 * heap. A put wakes only the pulls parked on its queue (br_pull_notify: one hash lookup), the
 * poll timer answers the pulls whose hold ended (heap order: the ones due, nothing else) and,
 * every 5 s like RocketMQ, re-checks each parked queue once for data that came without a
 * notify (replication on a slave). Found records are written straight from the mapped commit
 * log (writev), never copied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/pull/pull.h"

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

/* The pulls parked on one queue, in arrival order. */
typedef struct pull_queue {
    br_pull_wait_t *head, *tail;
    char key[160];
} pull_queue_t;

struct br_pull_wait {
    br_pull_wait_t *prev, *next; /* in its queue */
    pull_queue_t *q;
    size_t heap_at;             /* index in b->pulls->heap */
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
                         int64_t next, int64_t min, int64_t max, const rm_span_t *spans, unsigned n, int64_t suggest)
{
    rm_cmd_t resp;
    rm_cmd_init(&resp, code);
    rm_ext_set_i64(&resp, "nextBeginOffset", next);
    rm_ext_set_i64(&resp, "minOffset", min);
    rm_ext_set_i64(&resp, "maxOffset", max);
    rm_ext_set_i64(&resp, "suggestWhichBrokerId", suggest);
    if (remark)
        resp.remark = cm_strdup(remark);
    rm_conn_respond_spans(c, opaque, serialize, &resp, spans, n);
    rm_cmd_free(&resp);
}

/* ---- the deadline heap (cm_heap_t): every wait knows its index ---- */

static int64_t wait_key(const void *w) { return (int64_t)((const br_pull_wait_t *)w)->deadline; }
static void wait_pos(void *w, size_t i) { ((br_pull_wait_t *)w)->heap_at = i; }

/* ---- parked pulls per queue ---- */

static void queue_key(char *key, size_t len, const char *topic, int queueId) { snprintf(key, len, "%s@%d", topic, queueId); }

/* Take w out of its queue (dropping the queue when empty) and out of the heap. */
static void unpark(br_broker_t *b, br_pull_wait_t *w)
{
    pull_queue_t *q = w->q;
    if (w->prev)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->prev = w->next = NULL;
    if (!q->head) {
        cm_map_remove(&b->pulls->queues, q->key);
        free(q);
    }
    cm_heap_remove(&b->pulls->heap, w->heap_at);
}

static void park(br_broker_t *b, rm_conn_t *c, int32_t opaque, int serialize, pull_req_t *pr, uint64_t hold)
{
    char key[160];
    queue_key(key, sizeof key, pr->topic, pr->queueId);
    pull_queue_t *q = cm_map_get(&b->pulls->queues, key);
    br_pull_wait_t *w = calloc(1, sizeof *w);
    int new_q = q == NULL;
    if (new_q && (q = calloc(1, sizeof *q)) != NULL) {
        snprintf(q->key, sizeof q->key, "%s", key);
        if (cm_map_put(&b->pulls->queues, key, q) != 0) {
            free(q);
            q = NULL;
        }
    }
    if (w)
        w->deadline = uv_now(b->loop) + (hold > HOLD_CAP_MS ? HOLD_CAP_MS : hold);
    if (!w || !q || cm_heap_push(&b->pulls->heap, w) != 0) {
        if (new_q && q)
            free(cm_map_remove(&b->pulls->queues, key));
        free(w);
        respond_pull(c, opaque, serialize, RC_PULL_NOT_FOUND, "OFFSET_OVERFLOW_ONE", pr->offset, 0, 0, NULL, 0, 0);
        return;
    }
    w->conn = c;
    rm_conn_ref(c);
    w->opaque = opaque;
    w->serialize = serialize;
    w->pr = *pr;
    pr->sub.codes = NULL; /* ownership moved to the waiter */
    pr->sub.sql = NULL;
    w->q = q;
    w->prev = q->tail;
    if (q->tail)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
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
    if (r.status == ST_GET_FOUND) /* every store read counts, a parked pull's retry too, as RocketMQ */
        b->stats.getFound++;
    else
        b->stats.getMiss++;
    if (code == RC_PULL_NOT_FOUND && may_park && !b->stopping) {
        park(b, c, opaque, serialize, pr, hold);
        return 1;
    }
    rm_span_t spans[MAX_PULL_MSGS]; /* the records, to go out from the commit-log files (sendfile) */
    unsigned nb = 0;
    for (uint32_t i = 0; code == RC_SUCCESS && i < r.n && nb < MAX_PULL_MSGS; i++, nb++) {
        spans[nb].mem = uv_buf_init(r.msgs[i].iov_base, (unsigned)r.msgs[i].iov_len);
        if (st_record_file(b->store, r.phys[i], r.msgs[i].iov_base, &spans[nb].fd, &spans[nb].off) != ST_OK)
            spans[nb].fd = -1;
    }
    b->stats.getTotal += nb;
    if (nb) {
        char key[600];
        snprintf(key, sizeof key, "%s@%s", pr->topic, pr->group);
        br_stats_group_add(b, pr->group, nb);
        br_stats_count(b, BR_STAT_GROUP_GET, key, nb);
    }
    respond_pull(c, opaque, serialize, code, st_get_status_name(r.status), next, r.minOffset, r.maxOffset, spans, nb,
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
        const br_sub_t *s = br_find_sub(b, group, topic); /* hashed: groups may have 64k */
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

/* A message landed in (topic, queueId): wake the pulls parked on that queue, and only those. */
void br_pull_notify(br_broker_t *b, const char *topic, int queueId)
{
    if (b->pulls->heap.n == 0)
        return;
    char key[160];
    queue_key(key, sizeof key, topic, queueId);
    pull_queue_t *q = cm_map_get(&b->pulls->queues, key);
    if (!q)
        return;
    /* Unlink the whole queue first: answering writes, and nothing may see a half-built list. */
    br_pull_wait_t *ready = q->head;
    cm_map_remove(&b->pulls->queues, key);
    free(q);
    for (br_pull_wait_t *w = ready; w; w = w->next)
        cm_heap_remove(&b->pulls->heap, w->heap_at);
    while (ready) {
        br_pull_wait_t *n = ready->next;
        finish_wait(b, ready);
        ready = n;
    }
}

typedef struct { br_broker_t *b; br_pull_wait_t **ready; size_t n, cap; } sweep_t;

/* The safety net: one max-offset lookup per parked queue; waits of closed clients go too.
 * Only collects (a map walk must not change the map). */
static void sweep_queue(const char *key, void *val, void *arg)
{
    sweep_t *s = arg;
    pull_queue_t *q = val;
    (void)key;
    int64_t max = st_max_offset(s->b->store, q->head->pr.topic, q->head->pr.queueId);
    for (br_pull_wait_t *w = q->head; w; w = w->next) {
        if (max <= w->pr.offset && !rm_conn_is_closed(w->conn))
            continue;
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 64;
            br_pull_wait_t **r = realloc(s->ready, cap * sizeof *r);
            if (!r)
                return; /* the next sweep or the deadline answers it */
            s->ready = r;
            s->cap = cap;
        }
        s->ready[s->n++] = w;
    }
}

/* Poll timer: answer the parked pulls whose hold ended (earliest deadline first, stopping at
 * the first one still due later), then those whose queue grew without a notify or whose
 * client left. expire_all (shutdown) answers every one and frees the tables. */
void br_pull_check(br_broker_t *b, int expire_all)
{
    br_pulls_t *p = b->pulls;
    uint64_t now = uv_now(b->loop);
    while (p->heap.n > 0 && (expire_all || wait_key(p->heap.v[0]) <= (int64_t)now)) {
        br_pull_wait_t *w = p->heap.v[0];
        unpark(b, w);
        finish_wait(b, w);
    }
    if (expire_all) {
        cm_map_free(&p->queues, free);
        cm_heap_free(&p->heap);
        memset(&p->queues, 0, sizeof p->queues); /* not the whole struct: p->timer may be closing */
        return;
    }
    if (p->heap.n == 0)
        return;
    sweep_t s = {.b = b};
    cm_map_each(&p->queues, sweep_queue, &s);
    for (size_t i = 0; i < s.n; i++) {
        unpark(b, s.ready[i]);
        finish_wait(b, s.ready[i]);
    }
    free(s.ready);
}

/* ---- the subsystem ---- */

static void on_poll(uv_timer_t *t) { br_pull_check(t->data, 0); }

static int pull_start(br_broker_t *b)
{
    if (!(b->pulls = calloc(1, sizeof *b->pulls)))
        return -1;
    b->pulls->heap = (cm_heap_t){.key = wait_key, .pos = wait_pos};
    b->hooks.message_arrived = br_pull_notify;
    uv_timer_init(b->loop, &b->pulls->timer);
    b->pulls->timer.data = b;
    uv_timer_start(&b->pulls->timer, on_poll, 1000,
                   b->cfg.longPollingEnable ? 5000 : (uint64_t)b->cfg.shortPollingTimeMills);
    return 0;
}

static int pull_stop(br_broker_t *b, uv_close_cb cb)
{
    br_pull_check(b, 1); /* answer every parked pull */
    uv_close((uv_handle_t *)&b->pulls->timer, cb);
    return 1;
}

static void pull_release(br_broker_t *b)
{
    b->hooks.message_arrived = NULL; /* nothing is parked any more, and nothing may look */
    free(b->pulls);
    b->pulls = NULL;
}

static const rm_handler_t k_handlers[] = {
    {11, br_handle_pull_message},
};

const br_subsys_t br_pull_subsys = {"pull", pull_start, pull_stop, pull_release, k_handlers,
                                    sizeof k_handlers / sizeof k_handlers[0], 0};
