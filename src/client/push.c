/* The push consumer (clustering, spec §7.3). Three kinds of threads cooperate:
 *  - the instance's loop thread runs one long-polling pull chain per assigned queue (a "process
 *    queue", pq) and hands each batch of messages to the consumer thread that owns the queue;
 *  - consumer threads call the application back, in queue order (a queue always goes to the same
 *    thread), and advance the queue's consumed offset;
 *  - a service thread rebalances (every 20 s and when a broker says the group changed), commits
 *    offsets every 5 s, and does the blocking calls rebalancing needs.
 * c->mu guards the assignment table, the per-queue counters and the consumer threads' inboxes. */
#include "lc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REBALANCE_MS 20000
#define REBALANCE_RETRY_MS 2000   /* topic not there yet, or the broker does not list us yet */
#define PERSIST_MS 5000
#define SUSPEND_MS 15000
#define PULL_TIMEOUT_MS 30000
#define PULL_BATCH 32
#define PULL_RETRY_MS 3000
#define MAX_CACHED 1000
#define SEND_BACK_TIMEOUT_MS 3000
#define LOCK_RENEW_MS 20000       /* the broker's locks expire after 60 s */

typedef struct pq {
    int refs;                  /* atomic */
    int dropped;               /* atomic */
    lc_push_consumer_t *c;
    lc_mq_t mq;
    const lc_sub_t *sub;
    int worker;
    int64_t pull_offset;       /* loop thread only */
    uint64_t pull_started;     /* loop thread only */
    int64_t consume_offset;    /* under c->mu */
    int64_t persisted;         /* under c->mu */
    int cached;                /* under c->mu: messages handed over, not yet consumed */
    int locked;                /* atomic; orderly: we hold the broker's lock on this queue */
    int in_cb;                 /* atomic; a callback for this queue is running */
    int64_t last_pull_ms;      /* atomic; wall clock of the last pull request */
    int64_t last_consume_ms;   /* atomic; wall clock of the last finished batch */
} pq_t;

/* Per-topic figures of Java's ConsumerStatsManager for GET_CONSUMER_RUNNING_INFO's
 * statusTable: sliding windows of six buckets (10 s each for the minute, 10 min for the hour
 * of failed messages), a bucket remembering which period it holds. Under c->smu. */
#define WIN_N 6
typedef struct win { int64_t period[WIN_N], val[WIN_N], times[WIN_N]; } win_t;
typedef struct tstat {
    win_t pull_rt, pull_msgs, consume_rt, consume_ok, consume_failed; /* minute windows */
    win_t failed_hour;
} tstat_t;
#define MINUTE_BUCKET_MS 10000
#define HOUR_BUCKET_MS 600000

typedef struct batch {
    struct batch *next;
    pq_t *pq;
    lc_message_ext_t **msgs;
    size_t n;
    int64_t next_offset;
} batch_t;

typedef struct worker {
    lc_push_consumer_t *c;
    uv_thread_t th;
    uv_cond_t cv;
    batch_t *head, *tail;
    char name[64];
    int started;
} worker_t;

struct lc_push_consumer {
    char group[LC_MAX_NAME];
    char *namesrv;
    char *instance_name;
    lc_consume_from_t from;
    int nthreads;
    int batch_max;
    int max_reconsume;         /* then the broker moves a failing message to %DLQ% */
    int orderly;               /* consume a queue only under the broker's lock, retry locally */
    int broadcast;             /* every client gets every message; offsets kept locally */
    lc_consume_fn fn;
    void *fn_arg;
    lc_sub_t *subs;
    size_t nsubs;
    lc_inst_t *in;
    uv_mutex_t mu;
    uv_cond_t svc_cv;
    uv_thread_t svc;
    int svc_started;
    int stopping;              /* under mu; also read atomically by the loop */
    int rebalance_now;         /* under mu */
    pq_t **pqs;                /* under mu */
    size_t npqs;
    worker_t *workers;
    size_t known_brokers;
    int64_t start_ms;          /* wall clock at start (PROP_CONSUMER_START_TIMESTAMP) */
    char *ak, *sk;             /* ACL keys: sign every request when both are set */
    int trace;                 /* SubBefore/SubAfter records around each listener call */
    char *trace_topic;         /* NULL: RMQ_SYS_TRACE_TOPIC */
    lc_tracer_t *tracer;       /* after start, when tracing */
    uv_mutex_t smu;            /* guards tstats */
    tstat_t *tstats;           /* after start: one per subscription (c->subs[i]) */
};

static void pq_unref(pq_t *q)
{
    if (q && __atomic_sub_fetch(&q->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(q);
}

static int stopping(lc_push_consumer_t *c) { return __atomic_load_n(&c->stopping, __ATOMIC_ACQUIRE); }

/* ---- consume statistics (statusTable) ---- */

static void win_add(win_t *w, int64_t bucket_ms, int64_t now, int64_t v)
{
    int64_t period = now / bucket_ms;
    int i = (int)(period % WIN_N);
    if (w->period[i] != period) { /* the bucket held an older period: start it again */
        w->period[i] = period;
        w->val[i] = w->times[i] = 0;
    }
    w->val[i] += v;
    w->times[i]++;
}

static void win_sum(const win_t *w, int64_t bucket_ms, int64_t now, int64_t *val, int64_t *times)
{
    int64_t period = now / bucket_ms;
    *val = *times = 0;
    for (int i = 0; i < WIN_N; i++)
        if (w->period[i] > period - WIN_N && w->period[i] <= period) {
            *val += w->val[i];
            *times += w->times[i];
        }
}

/* The stats of sub (NULL before start or for a topic not subscribed). */
static tstat_t *tstat_of(lc_push_consumer_t *c, const lc_sub_t *sub)
{
    if (!c->tstats || !sub || sub < c->subs || sub >= c->subs + c->nsubs)
        return NULL;
    return &c->tstats[sub - c->subs];
}

static void stat_pull(lc_push_consumer_t *c, const lc_sub_t *sub, int64_t rt_ms, size_t nmsgs)
{
    tstat_t *t = tstat_of(c, sub);
    if (!t)
        return;
    int64_t now = cm_now_ms();
    uv_mutex_lock(&c->smu);
    win_add(&t->pull_rt, MINUTE_BUCKET_MS, now, rt_ms);
    win_add(&t->pull_msgs, MINUTE_BUCKET_MS, now, (int64_t)nmsgs);
    uv_mutex_unlock(&c->smu);
}

static void stat_consume(lc_push_consumer_t *c, const lc_sub_t *sub, int64_t rt_ms, size_t nmsgs, int ok)
{
    tstat_t *t = tstat_of(c, sub);
    if (!t)
        return;
    int64_t now = cm_now_ms();
    uv_mutex_lock(&c->smu);
    win_add(&t->consume_rt, MINUTE_BUCKET_MS, now, rt_ms);
    win_add(ok ? &t->consume_ok : &t->consume_failed, MINUTE_BUCKET_MS, now, (int64_t)nmsgs);
    if (!ok)
        win_add(&t->failed_hour, HOUR_BUCKET_MS, now, (int64_t)nmsgs);
    uv_mutex_unlock(&c->smu);
}

/* Java's ConsumeStatus of one topic: RTs are per pull / per listener call (ms), TPS are
 * messages per second over the last minute (or since start, when younger). */
static lj_val_t *consume_status(lc_push_consumer_t *c, const tstat_t *t)
{
    int64_t now = cm_now_ms(), v, n, span = now - c->start_ms;
    if (span > WIN_N * MINUTE_BUCKET_MS)
        span = WIN_N * MINUTE_BUCKET_MS;
    double secs = span < 1000 ? 1.0 : (double)span / 1000.0;
    lj_val_t *o = lj_new_obj();
    uv_mutex_lock(&c->smu);
    win_sum(&t->failed_hour, HOUR_BUCKET_MS, now, &v, &n);
    lj_set_int(o, "consumeFailedMsgs", v);
    win_sum(&t->consume_failed, MINUTE_BUCKET_MS, now, &v, &n);
    lj_set(o, "consumeFailedTPS", lj_new_double((double)v / secs));
    win_sum(&t->consume_ok, MINUTE_BUCKET_MS, now, &v, &n);
    lj_set(o, "consumeOKTPS", lj_new_double((double)v / secs));
    win_sum(&t->consume_rt, MINUTE_BUCKET_MS, now, &v, &n);
    lj_set(o, "consumeRT", lj_new_double(n ? (double)v / (double)n : 0));
    win_sum(&t->pull_rt, MINUTE_BUCKET_MS, now, &v, &n);
    lj_set(o, "pullRT", lj_new_double(n ? (double)v / (double)n : 0));
    win_sum(&t->pull_msgs, MINUTE_BUCKET_MS, now, &v, &n);
    lj_set(o, "pullTPS", lj_new_double((double)v / secs));
    uv_mutex_unlock(&c->smu);
    return o;
}

/* ---- options ---- */

int lc_push_consumer_create(const char *group, const char *namesrv, lc_push_consumer_t **out)
{
    if (!group || !*group || strlen(group) >= LC_MAX_NAME - 8)
        return LC_EINVAL;
    lc_push_consumer_t *c = calloc(1, sizeof *c);
    if (!c)
        return LC_ENOMEM;
    snprintf(c->group, sizeof c->group, "%s", group);
    if (namesrv && !(c->namesrv = cm_strdup(namesrv))) {
        free(c);
        return LC_ENOMEM;
    }
    c->from = LC_FROM_LAST_OFFSET;
    c->nthreads = 4;
    c->batch_max = 1;
    c->max_reconsume = 16;
    uv_mutex_init(&c->mu);
    uv_mutex_init(&c->smu);
    uv_cond_init(&c->svc_cv);
    *out = c;
    return 0;
}

void lc_push_consumer_set_instance_name(lc_push_consumer_t *c, const char *name)
{
    free(c->instance_name);
    c->instance_name = name ? cm_strdup(name) : NULL;
}
void lc_push_consumer_set_consume_from(lc_push_consumer_t *c, lc_consume_from_t from) { c->from = from; }
void lc_push_consumer_set_threads(lc_push_consumer_t *c, int n) { c->nthreads = n < 1 ? 1 : n > 64 ? 64 : n; }
void lc_push_consumer_set_batch_max(lc_push_consumer_t *c, int n) { c->batch_max = n < 1 ? 1 : n; }
void lc_push_consumer_set_max_reconsume_times(lc_push_consumer_t *c, int n) { c->max_reconsume = n < 0 ? 0 : n; }
void lc_push_consumer_set_orderly(lc_push_consumer_t *c, int on) { c->orderly = on != 0; }
void lc_push_consumer_set_broadcast(lc_push_consumer_t *c, int on) { c->broadcast = on != 0; }
int lc_push_consumer_set_credentials(lc_push_consumer_t *c, const char *access_key, const char *secret_key)
{
    return lc_keys_set(&c->ak, &c->sk, access_key, secret_key);
}

int lc_push_consumer_set_trace(lc_push_consumer_t *c, int on, const char *trace_topic)
{
    char *t = trace_topic && *trace_topic ? cm_strdup(trace_topic) : NULL;
    if (trace_topic && *trace_topic && !t)
        return LC_ENOMEM;
    free(c->trace_topic);
    c->trace_topic = t;
    c->trace = on != 0;
    return 0;
}

void lc_push_consumer_set_listener(lc_push_consumer_t *c, lc_consume_fn fn, void *arg)
{
    c->fn = fn;
    c->fn_arg = arg;
}

static int subscribe(lc_push_consumer_t *c, const char *topic, const char *expr, int sql)
{
    if (c->in || !topic || !*topic || strlen(topic) > 127)
        return c->in ? LC_ESTATE : LC_EINVAL;
    for (size_t i = 0; i < c->nsubs; i++) {
        if (strcmp(c->subs[i].topic, topic) == 0) {   /* re-subscribing replaces */
            lc_sub_free(&c->subs[i]);
            return sql ? lc_sub_parse_sql(&c->subs[i], topic, expr) : lc_sub_parse(&c->subs[i], topic, expr);
        }
    }
    lc_sub_t *s = realloc(c->subs, (c->nsubs + 1) * sizeof *s);
    if (!s)
        return LC_ENOMEM;
    c->subs = s;
    int rc = sql ? lc_sub_parse_sql(&c->subs[c->nsubs], topic, expr) : lc_sub_parse(&c->subs[c->nsubs], topic, expr);
    if (rc == 0)
        c->nsubs++;
    return rc;
}

int lc_push_consumer_subscribe(lc_push_consumer_t *c, const char *topic, const char *expr)
{
    return subscribe(c, topic, expr, 0);
}

int lc_push_consumer_subscribe_sql(lc_push_consumer_t *c, const char *topic, const char *sql)
{
    return subscribe(c, topic, sql, 1);
}

/* As Java's checkClientInBroker: every broker of a SQL92 subscription's topic must accept the
 * expression (CHECK_CLIENT_CONFIG) before the consumer starts. */
static int check_sql_subs(lc_push_consumer_t *c, char *why, size_t n)
{
    for (size_t i = 0; i < c->nsubs; i++) {
        if (!c->subs[i].sql)
            continue;
        lc_route_t *r;
        if (lc_route_get(c->in, c->subs[i].topic, 1, 0, &r) != 0)
            continue; /* no broker yet: nothing to ask */
        int rc = 0;
        for (size_t k = 0; k < r->nbrokers && rc == 0; k++) {
            lj_val_t *body = lj_new_obj(), *sd = NULL;
            rm_cmd_t req, resp;
            lc_req_init(&req, 46);
            if (!body || lc_subscription_json(&c->subs[i], &sd) || lj_set_str(body, "clientId", lc_inst_client_id(c->in)) ||
                lj_set_str(body, "group", c->group) || lj_set(body, "subscriptionData", sd)) {
                lj_free(body);
                rm_cmd_free(&req);
                rc = LC_ENOMEM;
                break;
            }
            cm_buf_t out;
            cm_buf_init(&out);
            lj_write(body, 0, &out);
            lj_free(body);
            req.body = (const uint8_t *)out.data;
            req.body_len = out.len;
            rm_cmd_own_body(&req);
            cm_buf_free(&out);
            rc = lc_rpc_sync(c->in, r->brokers[k].any, &req, 3000, &resp);
            if (rc == 0) {
                if (resp.code != 0) {
                    snprintf(why, n, "broker %s refused the subscription to %s: %s", r->brokers[k].name,
                             c->subs[i].topic, lc_resp_remark(&resp));
                    rc = LC_EBROKER;
                }
                rm_cmd_free(&resp);
            }
        }
        lc_route_put(r);
        if (rc)
            return rc;
    }
    return 0;
}

const char *lc_push_consumer_client_id(const lc_push_consumer_t *c) { return c->in ? lc_inst_client_id(c->in) : ""; }

int lc_push_consumer_assigned(lc_push_consumer_t *c, lc_mq_t **mqs, size_t *n)
{
    uv_mutex_lock(&c->mu);
    *mqs = malloc((c->npqs ? c->npqs : 1) * sizeof **mqs);
    if (*mqs) {
        for (size_t i = 0; i < c->npqs; i++)
            (*mqs)[i] = c->pqs[i]->mq;
        *n = c->npqs;
    }
    uv_mutex_unlock(&c->mu);
    return *mqs ? 0 : LC_ENOMEM;
}

/* ---- heartbeat, notifications ---- */

static const char *from_name(lc_consume_from_t f)
{
    return f == LC_FROM_FIRST_OFFSET ? "CONSUME_FROM_FIRST_OFFSET" : "CONSUME_FROM_LAST_OFFSET";
}

static int push_hb_fill(void *owner, lj_val_t *hb)
{
    lc_push_consumer_t *c = owner;
    lj_val_t *subs = lj_new_arr();
    int err = !subs;
    for (size_t i = 0; i < c->nsubs && !err; i++) {  /* subs are fixed once started */
        lj_val_t *o;
        err |= lc_subscription_json(&c->subs[i], &o) != 0;
        if (!err)
            err |= lj_push(subs, o) != 0;
    }
    if (err) {
        lj_free(subs);
        return LC_ENOMEM;
    }
    int rc = lc_consumer_hb_json(hb, c->group, "CONSUME_PASSIVELY", from_name(c->from), subs);
    const lj_val_t *cds = lj_get(hb, "consumerDataSet");
    if (rc == 0 && c->broadcast && cds && cds->type == LJ_ARR && cds->n)
        rc = lj_set_str(cds->items[0], "messageModel", "BROADCASTING") ? LC_ENOMEM : 0;
    return rc;
}

/* The broker moved our offsets of a topic: forget those queues without committing what we had
 * (that would undo the reset); the rebalance takes them again from the broker's new offsets. */
static void push_reset_offset(void *owner, const char *group, const char *topic)
{
    lc_push_consumer_t *c = owner;
    if (strcmp(group, c->group) != 0)
        return;
    uv_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->npqs;) {
        pq_t *q = c->pqs[i];
        if (strcmp(q->mq.topic, topic) != 0) {
            i++;
            continue;
        }
        __atomic_store_n(&q->dropped, 1, __ATOMIC_RELEASE);
        c->pqs[i] = c->pqs[--c->npqs];
        pq_unref(q);
    }
    c->rebalance_now = 1;
    uv_cond_signal(&c->svc_cv);
    uv_mutex_unlock(&c->mu);
}

static void push_ids_changed(void *owner, const char *group)
{
    lc_push_consumer_t *c = owner;
    if (strcmp(group, c->group) != 0)
        return;
    uv_mutex_lock(&c->mu);
    c->rebalance_now = 1;
    uv_cond_signal(&c->svc_cv);
    uv_mutex_unlock(&c->mu);
}

/* ---- GET_CONSUMER_RUNNING_INFO (loop thread) ---- */

static void prop(lj_val_t *o, const char *k, const char *fmt, long long v)
{
    char b[64];
    snprintf(b, sizeof b, fmt, v);
    lj_set_str(o, k, b); /* Java reads these with getProperty: strings only */
}

static lj_val_t *pq_info(const pq_t *q)
{
    lj_val_t *o = lj_new_obj();
    lj_set_int(o, "commitOffset", q->consume_offset);
    lj_set_int(o, "cachedMsgMinOffset", q->consume_offset);
    lj_set_int(o, "cachedMsgMaxOffset", q->cached ? q->pull_offset - 1 : q->consume_offset);
    lj_set_int(o, "cachedMsgCount", q->cached);
    lj_set_int(o, "cachedMsgSizeInMiB", 0);
    lj_set_int(o, "transactionMsgMinOffset", 0);
    lj_set_int(o, "transactionMsgMaxOffset", 0);
    lj_set_int(o, "transactionMsgCount", 0);
    lj_set_bool(o, "locked", q->c->orderly && __atomic_load_n(&q->locked, __ATOMIC_ACQUIRE));
    lj_set_int(o, "tryUnlockTimes", 0);
    lj_set_int(o, "lastLockTimestamp", 0);
    lj_set_bool(o, "droped", __atomic_load_n(&q->dropped, __ATOMIC_ACQUIRE));
    lj_set_int(o, "lastPullTimestamp", __atomic_load_n(&q->last_pull_ms, __ATOMIC_RELAXED));
    lj_set_int(o, "lastConsumeTimestamp", __atomic_load_n(&q->last_consume_ms, __ATOMIC_RELAXED));
    return o;
}

/* Java's ConsumerRunningInfo: properties, subscriptionSet, mqTable and statusTable. */
static lj_val_t *push_running_info(void *owner, const char *group)
{
    lc_push_consumer_t *c = owner;
    if (strcmp(group, c->group) != 0)
        return NULL;
    lj_val_t *info = lj_new_obj(), *props = lj_new_obj(), *subs = lj_new_arr(), *mqs = lj_new_obj();
    const char *ns = c->namesrv ? c->namesrv : getenv("NAMESRV_ADDR");
    lj_set_str(props, "PROP_NAMESERVER_ADDR", ns ? ns : "");
    lj_set_str(props, "PROP_CONSUME_TYPE", "CONSUME_PASSIVELY");
    lj_set_str(props, "PROP_CONSUMEORDERLY", c->orderly ? "true" : "false");
    prop(props, "PROP_THREADPOOL_CORE_SIZE", "%lld", c->nthreads);
    prop(props, "PROP_CONSUMER_START_TIMESTAMP", "%lld", c->start_ms);
    lj_set_str(props, "PROP_CLIENT_VERSION", "V4_9_8");
    lj_set_str(props, "consumerGroup", c->group);
    lj_set_str(props, "messageModel", c->broadcast ? "BROADCASTING" : "CLUSTERING");
    lj_set_str(props, "consumeFromWhere", from_name(c->from));
    prop(props, "consumeMessageBatchMaxSize", "%lld", c->batch_max);
    prop(props, "pullBatchSize", "%lld", PULL_BATCH);
    prop(props, "maxReconsumeTimes", "%lld", c->max_reconsume);
    /* more of Java's DefaultMQPushConsumer fields, with the values this consumer works by */
    prop(props, "consumeThreadMin", "%lld", c->nthreads);
    prop(props, "consumeThreadMax", "%lld", c->nthreads);
    prop(props, "pullThresholdForQueue", "%lld", MAX_CACHED);
    prop(props, "persistConsumerOffsetInterval", "%lld", PERSIST_MS);
    prop(props, "suspendCurrentQueueTimeMillis", "%lld", 1000); /* orderly: the pause before a retry */
    lj_set_str(props, "instanceName", c->instance_name ? c->instance_name : "DEFAULT");
    lj_set_str(props, "unitMode", "false");
    for (size_t i = 0; i < c->nsubs; i++) {
        lj_val_t *o;
        if (lc_subscription_json(&c->subs[i], &o) == 0)
            lj_push(subs, o);
    }
    uv_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->npqs; i++) {
        const pq_t *q = c->pqs[i];
        lj_val_t *k = lj_new_obj();
        lj_set_str(k, "brokerName", q->mq.broker_name);
        lj_set_int(k, "queueId", q->mq.queue_id);
        lj_set_str(k, "topic", q->mq.topic);
        lj_put(mqs, k, pq_info(q));
    }
    uv_mutex_unlock(&c->mu);
    lj_set(info, "properties", props);
    lj_set(info, "subscriptionSet", subs);
    lj_set(info, "mqTable", mqs);
    lj_val_t *status = lj_new_obj();
    for (size_t i = 0; c->tstats && i < c->nsubs; i++)
        lj_set(status, c->subs[i].topic, consume_status(c, &c->tstats[i]));
    lj_set(info, "statusTable", status);
    return info;
}

/* ---- CONSUME_MESSAGE_DIRECTLY (a thread of libuv's pool) ---- */

/* Java's ConsumeMessageConcurrentlyService / ...OrderlyService.consumeMessageDirectly: the
 * listener gets the one message now, outside the queues' order and offsets, without trace or
 * statistics; a %RETRY% message shows the topic it was first sent to. */
static lj_val_t *push_consume_directly(void *owner, const char *group, lc_message_ext_t *msg)
{
    lc_push_consumer_t *c = owner;
    if (strcmp(group, c->group) != 0 || stopping(c))
        return NULL;
    char retry[LC_MAX_NAME + 16];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", c->group);
    const char *rt = lc_message_property(msg, "RETRY_TOPIC");
    if (rt && strcmp(msg->topic, retry) == 0)
        msg->topic = rt;
    lc_mq_t mq = {.queue_id = msg->queue_id};
    snprintf(mq.topic, sizeof mq.topic, "%s", msg->topic);
    snprintf(mq.broker_name, sizeof mq.broker_name, "%s", msg->broker_name ? msg->broker_name : "");
    lc_consume_ctx_t ctx = {.thread_name = "ConsumeMessageDirectly", .mq = &mq};
    uint64_t t0 = cm_mono_ms();
    lc_consume_status_t st = c->fn(&ctx, &msg, 1, c->fn_arg);
    uint64_t spent = cm_mono_ms() - t0;
    lj_val_t *r = lj_new_obj();
    lj_set_bool(r, "autoCommit", 1);
    /* a value outside the enum is what Java reports for a listener returning null */
    lj_set_str(r, "consumeResult", st == LC_CONSUME_SUCCESS ? "CR_SUCCESS"
                                   : st == LC_CONSUME_LATER ? "CR_LATER"
                                                            : "CR_RETURN_NULL");
    lj_set_bool(r, "order", c->orderly);
    lj_set_int(r, "spentTimeMills", (int64_t)spent);
    return r;
}

/* ---- pulling (loop thread) ---- */

static void pull_task(lc_inst_t *in, void *arg, int cancelled);

static void pull_later(pq_t *q, uint64_t ms)
{
    if (lc_run_later(q->c->in, ms, pull_task, q) != 0)
        pq_unref(q);
}

static void dispatch(pq_t *q, lc_message_ext_t **msgs, size_t n, int64_t next)
{
    lc_push_consumer_t *c = q->c;
    batch_t *b = malloc(sizeof *b);
    if (!b) {
        lc_free_msgs(msgs, n);
        return;
    }
    /* Retry-topic messages are shown with the topic they were first sent to. */
    for (size_t i = 0; i < n; i++) {
        const char *rt = lc_message_property(msgs[i], "RETRY_TOPIC");
        if (rt && strncmp(msgs[i]->topic, "%RETRY%", 7) == 0)
            msgs[i]->topic = rt;
    }
    b->next = NULL;
    b->pq = q;
    b->msgs = msgs;
    b->n = n;
    b->next_offset = next;
    __atomic_add_fetch(&q->refs, 1, __ATOMIC_RELAXED);
    worker_t *w = &c->workers[q->worker];
    uv_mutex_lock(&c->mu);
    q->cached += (int)n;
    if (w->tail)
        w->tail->next = b;
    else
        w->head = b;
    w->tail = b;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&c->mu);
}

static void on_pull(int status, rm_cmd_t *resp, void *arg)
{
    pq_t *q = arg;
    lc_push_consumer_t *c = q->c;
    if (__atomic_load_n(&q->dropped, __ATOMIC_ACQUIRE) || stopping(c)) {
        pq_unref(q);
        return;
    }
    if (status != RM_OK) {
        LOG_W("client", "pull %s/%s/%d failed: %s", q->mq.topic, q->mq.broker_name, q->mq.queue_id,
              lc_strerror(lc_err_from_rm(status)));
        pull_later(q, PULL_RETRY_MS);
        return;
    }
    lc_pull_result_t res;
    int rc = lc_pull_decode(resp, &q->mq, q->sub, &res);
    if (rc) {
        LOG_W("client", "pull %s/%s/%d: %s (code %d %s)", q->mq.topic, q->mq.broker_name, q->mq.queue_id,
              lc_strerror(rc), resp->code, lc_resp_remark(resp));
        pull_later(q, PULL_RETRY_MS);
        return;
    }
    q->pull_offset = res.next_begin_offset;
    if (res.nmsgs) {
        stat_pull(c, q->sub, (int64_t)(uv_hrtime() / 1000000 - q->pull_started), res.nmsgs);
        dispatch(q, res.msgs, res.nmsgs, res.next_begin_offset);
        pull_task(c->in, q, 0);
        return;
    }
    lc_pull_result_free(&res);
    uv_mutex_lock(&c->mu);
    if (q->cached == 0 || res.status == LC_PULL_OFFSET_ILLEGAL)
        q->consume_offset = res.next_begin_offset;  /* nothing pending: skipped entries count as consumed */
    uv_mutex_unlock(&c->mu);
    if (res.status == LC_PULL_OFFSET_ILLEGAL)   /* committed by the next 5 s persist */
        LOG_W("client", "offset of %s/%s/%d moved to %lld", q->mq.topic, q->mq.broker_name, q->mq.queue_id,
              (long long)res.next_begin_offset);
    /* A broker that does not hold the request would make us spin: pace such answers. */
    if (res.status == LC_PULL_NO_NEW_MSG && uv_hrtime() / 1000000 - q->pull_started < 100)
        pull_later(q, 100);
    else
        pull_task(c->in, q, 0);
}

static void pull_task(lc_inst_t *in, void *arg, int cancelled)
{
    pq_t *q = arg;
    lc_push_consumer_t *c = q->c;
    if (cancelled || __atomic_load_n(&q->dropped, __ATOMIC_ACQUIRE) || stopping(c)) {
        pq_unref(q);
        return;
    }
    uv_mutex_lock(&c->mu);
    int cached = q->cached;
    int64_t commit = q->consume_offset;
    uv_mutex_unlock(&c->mu);
    if (cached > MAX_CACHED) {  /* flow control: let the consumer thread catch up */
        pull_later(q, 50);
        return;
    }
    char addr[64];
    if (lc_broker_addr(in, q->mq.broker_name, addr, sizeof addr) != 0) {
        pull_later(q, PULL_RETRY_MS);
        return;
    }
    rm_cmd_t req;
    int flag = LC_PULL_SUSPEND | LC_PULL_SUBSCRIPTION | (commit > 0 ? LC_PULL_COMMIT : 0);
    if (lc_pull_request(&req, c->group, &q->mq, q->sub, q->pull_offset, PULL_BATCH, flag, commit, SUSPEND_MS) != 0) {
        pull_later(q, PULL_RETRY_MS);
        return;
    }
    q->pull_started = uv_hrtime() / 1000000;
    __atomic_store_n(&q->last_pull_ms, cm_now_ms(), __ATOMIC_RELAXED);
    if (lc_rpc_async(in, addr, &req, PULL_TIMEOUT_MS, on_pull, q) != 0)
        pull_later(q, PULL_RETRY_MS);
}

/* ---- consumer threads ---- */

static int send_back(lc_push_consumer_t *c, const pq_t *q, const lc_message_ext_t *m, int level)
{
    char addr[64];
    if (lc_broker_addr(c->in, q->mq.broker_name, addr, sizeof addr) != 0)
        return LC_ENOROUTE;
    rm_cmd_t req, resp;
    lc_req_init(&req, RQ_CONSUMER_SEND_MSG_BACK);
    if (rm_ext_set_i64(&req, "offset", m->commit_log_offset) || rm_ext_set(&req, "group", c->group) ||
        rm_ext_set_i64(&req, "delayLevel", level) || rm_ext_set(&req, "originMsgId", m->msg_id) ||
        rm_ext_set(&req, "originTopic", m->topic) || rm_ext_set(&req, "unitMode", "false") ||
        rm_ext_set_i64(&req, "maxReconsumeTimes", c->max_reconsume)) {
        rm_cmd_free(&req);
        return LC_ENOMEM;
    }
    int rc = lc_rpc_sync(c->in, addr, &req, SEND_BACK_TIMEOUT_MS, &resp);
    if (rc == 0) {
        rc = resp.code == RC_SUCCESS ? 0 : LC_EBROKER;
        rm_cmd_free(&resp);
    }
    return rc;
}

/* Sleep up to ms, waking early when stopping. */
static void nap(lc_push_consumer_t *c, uv_cond_t *cv, uint64_t ms)
{
    uv_mutex_lock(&c->mu);
    if (!c->stopping)
        uv_cond_timedwait(cv, &c->mu, ms * 1000000ull);
    uv_mutex_unlock(&c->mu);
}

/* ---- trace hooks (Java's ConsumeMessageTraceHookImpl) ---- */

typedef struct trace_ctx { int n; int64_t ts; char request_id[33]; } trace_ctx_t;

static int traced(const lc_message_ext_t *m)
{
    const char *on = lc_message_property(m, "TRACE_ON");
    return !on || strcmp(on, "false") != 0;
}

/* SubBefore for each traced message; all share the call's requestId and the region of the
 * last one, as Java's single TraceContext does. */
static void trace_before(lc_push_consumer_t *c, trace_ctx_t *t, lc_message_ext_t *const *msgs, size_t k)
{
    t->n = 0;
    if (!c->tracer)
        return;
    const char *region = NULL;
    for (size_t j = 0; j < k; j++) {
        if (traced(msgs[j])) {
            region = lc_message_property(msgs[j], "MSG_REGION");
            t->n++;
        }
    }
    if (!t->n)
        return;
    lc_uniq_id(t->request_id);
    t->ts = cm_now_ms();
    for (size_t j = 0; j < k; j++) {
        if (!traced(msgs[j]))
            continue;
        lc_trace_rec_t r = {.ts = t->ts, .region = region, .group = c->group, .request_id = t->request_id,
                            .msg_id = msgs[j]->msg_id, .reconsume_times = msgs[j]->reconsume_times,
                            .keys = msgs[j]->keys};
        lc_trace_record(c->tracer, lc_trace_encode_sub_before, &r);
    }
}

/* SubAfter for the same messages: cost is the call's time shared out over the whole batch;
 * contextCode is ConsumeReturnType's ordinal (SUCCESS 0, FAILED 4). */
static void trace_after(lc_push_consumer_t *c, const trace_ctx_t *t, lc_message_ext_t *const *msgs, size_t k,
                        lc_consume_status_t st)
{
    if (!c->tracer || !t->n)
        return;
    int64_t now = cm_now_ms();
    for (size_t j = 0; j < k; j++) {
        if (!traced(msgs[j]))
            continue;
        lc_trace_rec_t r = {.ts = now, .group = c->group, .request_id = t->request_id, .msg_id = msgs[j]->msg_id,
                            .cost_ms = (now - t->ts) / (int64_t)k, .success = st == LC_CONSUME_SUCCESS,
                            .keys = msgs[j]->keys, .context_code = st == LC_CONSUME_SUCCESS ? 0 : 4};
        lc_trace_record(c->tracer, lc_trace_encode_sub_after, &r);
    }
}

static void consume_batch(worker_t *w, batch_t *b)
{
    lc_push_consumer_t *c = w->c;
    pq_t *q = b->pq;
    lc_consume_ctx_t ctx = {.thread_name = w->name, .mq = &q->mq};
    size_t step = (size_t)c->batch_max;
    int attempts = 0;
    for (size_t i = 0; i < b->n;) {
        if (__atomic_load_n(&q->dropped, __ATOMIC_ACQUIRE) || stopping(c))
            return;
        if (c->orderly && !__atomic_load_n(&q->locked, __ATOMIC_ACQUIRE)) {
            nap(c, &w->cv, 200); /* not ours (yet, or any more): the lock renewal decides */
            continue;
        }
        size_t k = b->n - i < step ? b->n - i : step;
        __atomic_store_n(&q->in_cb, 1, __ATOMIC_RELEASE);
        if (__atomic_load_n(&q->dropped, __ATOMIC_ACQUIRE)) { /* handed over meanwhile */
            __atomic_store_n(&q->in_cb, 0, __ATOMIC_RELEASE);
            return;
        }
        trace_ctx_t tr;
        trace_before(c, &tr, b->msgs + i, k);
        uint64_t t0 = cm_mono_ms();
        lc_consume_status_t st = c->fn(&ctx, b->msgs + i, k, c->fn_arg);
        stat_consume(c, q->sub, (int64_t)(cm_mono_ms() - t0), k, st == LC_CONSUME_SUCCESS);
        trace_after(c, &tr, b->msgs + i, k, st);
        if (st != LC_CONSUME_SUCCESS && c->broadcast) {
            LOG_W("client", "broadcast consumer dropped %zu failed message(s) of %s (not retried, as RocketMQ)", k,
                  q->mq.topic);
        } else if (st != LC_CONSUME_SUCCESS && c->orderly && attempts < c->max_reconsume) {
            /* in order: the same messages again after a pause, never the next ones first */
            attempts++;
            for (size_t j = i; j < i + k; j++)
                b->msgs[j]->reconsume_times++;
            __atomic_store_n(&q->in_cb, 0, __ATOMIC_RELEASE);
            nap(c, &w->cv, 1000);
            continue;
        } else if (st != LC_CONSUME_SUCCESS) {
            /* orderly and out of attempts: straight to the DLQ (level -1) so the queue moves on */
            int failed = 0;
            for (size_t j = i; j < i + k && !failed; j++)
                failed = send_back(c, q, b->msgs[j], c->orderly ? -1 : 0) != 0;
            if (failed) {   /* the broker would not take them back: try again here shortly */
                __atomic_store_n(&q->in_cb, 0, __ATOMIC_RELEASE);
                nap(c, &w->cv, 1000);
                continue;
            }
        }
        attempts = 0;
        i += k;
        if (c->orderly) { /* progress per message: a hand-over starts right after it */
            uv_mutex_lock(&c->mu);
            if (b->msgs[i - 1]->queue_offset + 1 > q->consume_offset)
                q->consume_offset = b->msgs[i - 1]->queue_offset + 1;
            uv_mutex_unlock(&c->mu);
        }
        __atomic_store_n(&q->in_cb, 0, __ATOMIC_RELEASE);
    }
    uv_mutex_lock(&c->mu);
    if (b->next_offset > q->consume_offset)
        q->consume_offset = b->next_offset;
    uv_mutex_unlock(&c->mu);
    __atomic_store_n(&q->last_consume_ms, cm_now_ms(), __ATOMIC_RELAXED);
}

static void worker_main(void *arg)
{
    worker_t *w = arg;
    lc_push_consumer_t *c = w->c;
    for (;;) {
        uv_mutex_lock(&c->mu);
        while (!w->head && !c->stopping)
            uv_cond_wait(&w->cv, &c->mu);
        batch_t *b = w->head;
        if (c->stopping)
            b = NULL;
        else if ((w->head = b->next) == NULL)
            w->tail = NULL;
        uv_mutex_unlock(&c->mu);
        if (!b)
            break;
        consume_batch(w, b);
        uv_mutex_lock(&c->mu);
        b->pq->cached -= (int)b->n;
        uv_mutex_unlock(&c->mu);
        lc_free_msgs(b->msgs, b->n);
        pq_unref(b->pq);
        free(b);
    }
}

/* ---- rebalance, offsets (service thread) ---- */

static int consumer_ids(lc_push_consumer_t *c, const char *addr, char ***ids, size_t *n)
{
    rm_cmd_t req, resp;
    lc_req_init(&req, RQ_GET_CONSUMER_LIST_BY_GROUP);
    if (rm_ext_set(&req, "consumerGroup", c->group)) {
        rm_cmd_free(&req);
        return LC_ENOMEM;
    }
    int rc = lc_rpc_sync(c->in, addr, &req, 3000, &resp);
    if (rc)
        return rc;
    lj_val_t *root = NULL, *list;
    rc = LC_EDECODE;
    if (resp.code != RC_SUCCESS) {
        rc = LC_EBROKER;
    } else if (resp.body_len && lj_parse((const char *)resp.body, resp.body_len, &root) == 0 &&
               (list = lj_get(root, "consumerIdList")) && list->type == LJ_ARR) {
        *ids = calloc(list->n + 1, sizeof **ids);
        *n = 0;
        rc = *ids ? 0 : LC_ENOMEM;
        for (size_t i = 0; rc == 0 && i < list->n; i++) {
            const char *s = lj_str(list->items[i], NULL);
            if (s && !((*ids)[(*n)++] = cm_strdup(s)))
                rc = LC_ENOMEM;
        }
    }
    lj_free(root);
    rm_cmd_free(&resp);
    return rc;
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
}

static int find_pq(lc_push_consumer_t *c, const lc_mq_t *mq)
{
    for (size_t i = 0; i < c->npqs; i++)
        if (lc_mq_cmp(&c->pqs[i]->mq, mq) == 0)
            return (int)i;
    return -1;
}

/* Where a newly assigned queue starts. */
static int start_offset(lc_push_consumer_t *c, const lc_mq_t *mq, int64_t *off)
{
    int rc = c->broadcast ? lc_local_offset_load(lc_inst_client_id(c->in), c->group, mq, off)
                          : lc_query_offset(c->in, c->group, mq, off);
    if (rc == 0 && *off >= 0)
        return 0;
    if (rc != 0 && rc != LC_ENOTFOUND)
        return rc;
    if (c->from == LC_FROM_FIRST_OFFSET || strncmp(mq->topic, "%RETRY%", 7) == 0) {
        *off = 0;
        return 0;
    }
    return lc_get_queue_offset(c->in, RQ_GET_MAX_OFFSET, mq, off);
}

static int take_queues(lc_push_consumer_t *c, const lc_sub_t *sub, lc_route_t *r, const lc_mq_t *mine, size_t count);

/* Returns 1 when the topic could not be balanced yet (no route, not listed by the broker). */
static int rebalance_topic(lc_push_consumer_t *c, const lc_sub_t *sub)
{
    lc_route_t *r;
    char **ids = NULL;
    size_t nids = 0;
    /* e.g. a topic nobody created yet, or the group's %RETRY% topic that the broker creates at
     * our first heartbeat and registers a moment later: look again soon */
    if (lc_route_get(c->in, sub->topic, 0, 0, &r) != 0)
        return 1;
    if (c->broadcast) /* every client takes every queue */
        return take_queues(c, sub, r, r->rq, r->nrq);
    if (r->nbrokers == 0 || consumer_ids(c, r->brokers[0].any, &ids, &nids) != 0 || nids == 0) {
        lc_route_put(r);
        free_ids(ids, nids);
        return 1;
    }
    qsort(ids, nids, sizeof *ids, str_cmp);
    size_t me = nids;
    for (size_t i = 0; i < nids; i++)
        if (strcmp(ids[i], lc_inst_client_id(c->in)) == 0)
            me = i;
    free_ids(ids, nids);
    if (me == nids) {   /* the broker does not list us yet: keep what we have */
        lc_route_put(r);
        return 1;
    }
    size_t start, count;
    lc_allocate_average(r->nrq, nids, me, &start, &count);
    return take_queues(c, sub, r, r->rq + start, count);
}

/* An orderly consumer hands a queue over only when no callback of it is running, after its
 * offset is committed: the next owner starts after the last message we finished. */
static void release_queue(lc_push_consumer_t *c, pq_t *q)
{
    for (int i = 0; i < 300 && __atomic_load_n(&q->in_cb, __ATOMIC_ACQUIRE); i++)
        usleep(10000); /* the worker stops at the next message: it sees q->dropped */
    uv_mutex_lock(&c->mu);
    int64_t off = q->consume_offset;
    uv_mutex_unlock(&c->mu);
    if (off >= 0 && !c->broadcast)
        lc_update_offset(c->in, c->group, &q->mq, off, 0);
    if (c->orderly)
        lc_unlock_mqs(c->in, c->group, &q->mq, 1);
    LOG_I("client", "%s: released %s/%s/%d at %lld", lc_inst_client_id(c->in), q->mq.topic, q->mq.broker_name,
          q->mq.queue_id, (long long)off);
}

/* Make `mine` (count queues of route r) this consumer's queues of sub's topic; takes r.
 * Returns 1 if some queue could not be taken yet (orderly: locked by another consumer). */
static int take_queues(lc_push_consumer_t *c, const lc_sub_t *sub, lc_route_t *r, const lc_mq_t *mine, size_t count)
{
    int again = 0;

    /* Drop queues that went elsewhere; commit their offsets so the next owner starts there. */
    pq_t *gone[256];
    size_t ngone = 0;
    uv_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->npqs;) {
        pq_t *q = c->pqs[i];
        int keep = strcmp(q->mq.topic, sub->topic) != 0 || ngone == 256;
        for (size_t j = 0; j < count && !keep; j++)
            keep = lc_mq_cmp(&q->mq, &mine[j]) == 0;
        if (keep) {
            i++;
            continue;
        }
        __atomic_store_n(&q->dropped, 1, __ATOMIC_RELEASE);
        gone[ngone++] = q;
        c->pqs[i] = c->pqs[--c->npqs];
    }
    uv_mutex_unlock(&c->mu);
    for (size_t i = 0; i < ngone; i++) {
        release_queue(c, gone[i]);
        pq_unref(gone[i]);
    }

    for (size_t j = 0; j < count && !stopping(c); j++) {
        uv_mutex_lock(&c->mu);
        int have = find_pq(c, &mine[j]) >= 0;
        uv_mutex_unlock(&c->mu);
        if (have)
            continue;
        int locked = 1;
        if (c->orderly)
            lc_lock_mqs(c->in, c->group, &mine[j], 1, &locked);
        if (!locked) {
            again = 1; /* its previous owner still holds it: ask again soon */
            continue;
        }
        int64_t off;
        int rc = start_offset(c, &mine[j], &off);
        if (rc) {
            LOG_W("client", "no start offset for %s/%s/%d: %s", mine[j].topic, mine[j].broker_name,
                  mine[j].queue_id, lc_strerror(rc));
            continue;
        }
        pq_t *q = calloc(1, sizeof *q);
        pq_t **arr = NULL;
        uv_mutex_lock(&c->mu);
        if (q)
            arr = realloc(c->pqs, (c->npqs + 1) * sizeof *arr);
        if (arr) {
            c->pqs = arr;
            q->refs = 2;   /* the table's and the pull chain's */
            q->c = c;
            q->mq = mine[j];
            q->sub = sub;
            q->pull_offset = q->consume_offset = q->persisted = off;
            q->locked = locked;
            uint32_t h = (uint32_t)cm_java_hash(q->mq.broker_name, strlen(q->mq.broker_name)) * 31u +
                         (uint32_t)cm_java_hash(q->mq.topic, strlen(q->mq.topic)) * 7u + (uint32_t)q->mq.queue_id;
            q->worker = (int)(h % (uint32_t)c->nthreads);
            c->pqs[c->npqs++] = q;
        }
        uv_mutex_unlock(&c->mu);
        if (!arr) {
            free(q);
            continue;
        }
        LOG_I("client", "%s: took %s/%s/%d from offset %lld", lc_inst_client_id(c->in), q->mq.topic,
              q->mq.broker_name, q->mq.queue_id, (long long)off);
        if (lc_run_later(c->in, 0, pull_task, q) != 0)
            pq_unref(q);
    }
    lc_route_put(r);
    return again;
}

/* Returns 1 if some topic should be tried again soon. */
static int rebalance(lc_push_consumer_t *c)
{
    /* Greet brokers we have not met yet first (synchronously), or they will not list us. */
    for (size_t i = 0; i < c->nsubs && !stopping(c); i++) {
        lc_route_t *r;
        if (lc_route_get(c->in, c->subs[i].topic, 0, 0, &r) == 0)
            lc_route_put(r);
    }
    char **addrs;
    size_t n;
    if (lc_known_brokers(c->in, &addrs, &n) == 0) {
        if (n != c->known_brokers) {
            c->known_brokers = n;
            lc_heartbeat(c->in, 1);
        }
        for (size_t i = 0; i < n; i++)
            free(addrs[i]);
        free(addrs);
    }
    int again = 0;
    for (size_t i = 0; i < c->nsubs && !stopping(c); i++)
        again |= rebalance_topic(c, &c->subs[i]);
    return again;
}

static void save_local(lc_push_consumer_t *c)
{
    uv_mutex_lock(&c->mu);
    size_t n = c->npqs;
    lc_mq_t *mqs = malloc((n ? n : 1) * sizeof *mqs);
    int64_t *offs = malloc((n ? n : 1) * sizeof *offs);
    for (size_t i = 0; mqs && offs && i < n; i++) {
        mqs[i] = c->pqs[i]->mq;
        offs[i] = c->pqs[i]->consume_offset;
    }
    uv_mutex_unlock(&c->mu);
    if (mqs && offs && lc_local_offset_save(lc_inst_client_id(c->in), c->group, mqs, offs, n) != 0)
        LOG_W("client", "cannot write the local offsets of group %s", c->group);
    free(mqs);
    free(offs);
}

/* Orderly: renew the locks of every queue we have (every 20 s, as Java); a queue whose lock
 * went to someone else stops being consumed here until the next rebalance sorts it out. */
static void renew_locks(lc_push_consumer_t *c)
{
    uv_mutex_lock(&c->mu);
    size_t n = c->npqs;
    lc_mq_t *mqs = malloc((n ? n : 1) * sizeof *mqs);
    pq_t **qs = malloc((n ? n : 1) * sizeof *qs);
    int *locked = calloc(n ? n : 1, sizeof *locked);
    for (size_t i = 0; mqs && qs && i < n; i++) {
        mqs[i] = c->pqs[i]->mq;
        qs[i] = c->pqs[i];
        __atomic_add_fetch(&qs[i]->refs, 1, __ATOMIC_RELAXED);
    }
    uv_mutex_unlock(&c->mu);
    if (mqs && qs && locked) {
        lc_lock_mqs(c->in, c->group, mqs, n, locked);
        for (size_t i = 0; i < n; i++)
            __atomic_store_n(&qs[i]->locked, locked[i], __ATOMIC_RELEASE);
    }
    for (size_t i = 0; qs && i < n; i++)
        pq_unref(qs[i]);
    free(mqs);
    free(qs);
    free(locked);
}

/* Commit every queue's consumed offset (oneway on the timer, acknowledged on shutdown). */
static void persist(lc_push_consumer_t *c, int sync)
{
    if (c->broadcast) { /* the whole table in one local file, not at the broker */
        save_local(c);
        return;
    }
    uv_mutex_lock(&c->mu);
    size_t n = c->npqs;
    struct { lc_mq_t mq; int64_t off; pq_t *q; } *todo = malloc((n ? n : 1) * sizeof *todo);
    size_t k = 0;
    for (size_t i = 0; todo && i < n; i++) {
        pq_t *q = c->pqs[i];
        if (q->consume_offset < 0 || (!sync && q->consume_offset == q->persisted))
            continue;
        todo[k].mq = q->mq;
        todo[k].off = q->consume_offset;
        todo[k].q = q;
        __atomic_add_fetch(&q->refs, 1, __ATOMIC_RELAXED);
        k++;
    }
    uv_mutex_unlock(&c->mu);
    for (size_t i = 0; i < k; i++) {
        if (lc_update_offset(c->in, c->group, &todo[i].mq, todo[i].off, !sync) == 0) {
            uv_mutex_lock(&c->mu);
            todo[i].q->persisted = todo[i].off;
            uv_mutex_unlock(&c->mu);
        }
        pq_unref(todo[i].q);
    }
    free(todo);
}

static void svc_main(void *arg)
{
    lc_push_consumer_t *c = arg;
    uint64_t next_rebalance = 0, next_persist = cm_mono_ms() + PERSIST_MS, next_lock = cm_mono_ms() + LOCK_RENEW_MS;
    for (;;) {
        uint64_t now = cm_mono_ms();
        int do_rebalance = 0;
        uv_mutex_lock(&c->mu);
        while (!c->stopping && !c->rebalance_now && now < next_rebalance && now < next_persist) {
            uint64_t until = next_rebalance < next_persist ? next_rebalance : next_persist;
            uv_cond_timedwait(&c->svc_cv, &c->mu, (until - now) * 1000000ull);
            now = cm_mono_ms();
        }
        if (c->stopping) {
            uv_mutex_unlock(&c->mu);
            break;
        }
        if (c->rebalance_now || now >= next_rebalance) {
            do_rebalance = 1;
            c->rebalance_now = 0;
        }
        uv_mutex_unlock(&c->mu);
        if (do_rebalance) {
            int again = rebalance(c);
            next_rebalance = cm_mono_ms() + (again ? REBALANCE_RETRY_MS : REBALANCE_MS);
        }
        if (cm_mono_ms() >= next_persist) {
            persist(c, 0);
            next_persist = cm_mono_ms() + PERSIST_MS;
        }
        if (c->orderly && cm_mono_ms() >= next_lock) {
            renew_locks(c);
            next_lock = cm_mono_ms() + LOCK_RENEW_MS;
        }
    }
}

/* ---- lifecycle ---- */

int lc_push_consumer_start(lc_push_consumer_t *c)
{
    if (c->in)
        return LC_ESTATE;
    if (!c->fn || c->nsubs == 0)
        return LC_EINVAL;
    char retry[LC_MAX_NAME + 16];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", c->group);
    int rc = c->broadcast ? 0 : lc_push_consumer_subscribe(c, retry, "*"); /* as Java clustering consumers do */
    if (rc)
        return rc;
    c->workers = calloc((size_t)c->nthreads, sizeof *c->workers);
    c->tstats = calloc(c->nsubs, sizeof *c->tstats);
    if (!c->workers || !c->tstats)
        return LC_ENOMEM;
    lc_inst_cfg_t cfg = {.namesrv = c->namesrv, .instance_name = c->instance_name, .owner = c,
                         .hb_fill = push_hb_fill, .on_ids_changed = push_ids_changed,
                         .on_reset_offset = push_reset_offset, .running_info = push_running_info,
                         .consume_directly = push_consume_directly,
                         .access_key = c->ak, .secret_key = c->sk};
    c->start_ms = cm_now_ms();
    if (c->trace && !c->tracer) {
        lc_tracer_cfg_t tc = {.group = c->group, .type = "CONSUME", .namesrv = c->namesrv,
                              .topic = c->trace_topic, .access_key = c->ak, .secret_key = c->sk};
        if ((rc = lc_tracer_start(&tc, &c->tracer)) != 0)
            return rc;
    }
    if ((rc = lc_inst_start(&cfg, &c->in)) != 0)
        return rc;
    char why[300] = "";
    if ((rc = check_sql_subs(c, why, sizeof why)) != 0) {
        LOG_E("client", "%s", why[0] ? why : lc_strerror(rc));
        lc_inst_stop(c->in);
        c->in = NULL;
        return rc;
    }
    for (size_t i = 0; i < c->nsubs; i++) {
        lc_route_t *r;
        if (lc_route_get(c->in, c->subs[i].topic, 1, 0, &r) == 0)
            lc_route_put(r);
        else if (strncmp(c->subs[i].topic, "%RETRY%", 7) != 0)
            LOG_W("client", "no route for topic %s yet", c->subs[i].topic);
    }
    lc_heartbeat(c->in, 1);
    for (int i = 0; i < c->nthreads; i++) {
        worker_t *w = &c->workers[i];
        w->c = c;
        snprintf(w->name, sizeof w->name, "ConsumeMessageThread_%d", i + 1);
        uv_cond_init(&w->cv);
        if (uv_thread_create(&w->th, worker_main, w) == 0)
            w->started = 1;
    }
    if (uv_thread_create(&c->svc, svc_main, c) == 0)
        c->svc_started = 1;
    return 0;
}

void lc_push_consumer_destroy(lc_push_consumer_t *c)
{
    if (!c)
        return;
    uv_mutex_lock(&c->mu);
    __atomic_store_n(&c->stopping, 1, __ATOMIC_RELEASE);
    uv_cond_broadcast(&c->svc_cv);
    for (int i = 0; c->workers && i < c->nthreads; i++)
        uv_cond_broadcast(&c->workers[i].cv);
    uv_mutex_unlock(&c->mu);
    if (c->svc_started)
        uv_thread_join(&c->svc);
    for (int i = 0; c->workers && i < c->nthreads; i++) {
        worker_t *w = &c->workers[i];
        if (w->started)
            uv_thread_join(&w->th);
    }
    lc_tracer_stop(c->tracer); /* no listener runs any more: send what is left */
    c->tracer = NULL;
    if (c->in) {
        persist(c, 1);
        if (c->orderly) { /* offsets are committed: the next owner may start */
            for (size_t i = 0; i < c->npqs; i++)
                lc_unlock_mqs(c->in, c->group, &c->pqs[i]->mq, 1);
        }
        lc_unregister(c->in, NULL, c->group);
        lc_inst_stop(c->in);   /* ends the pull chains (their references go) */
    }
    for (int i = 0; c->workers && i < c->nthreads; i++) {
        worker_t *w = &c->workers[i];
        while (w->head) {
            batch_t *b = w->head;
            w->head = b->next;
            lc_free_msgs(b->msgs, b->n);
            pq_unref(b->pq);
            free(b);
        }
        if (w->c)
            uv_cond_destroy(&w->cv);
    }
    for (size_t i = 0; i < c->npqs; i++)
        pq_unref(c->pqs[i]);
    free(c->pqs);
    free(c->workers);
    free(c->tstats);
    uv_mutex_destroy(&c->smu);
    for (size_t i = 0; i < c->nsubs; i++)
        lc_sub_free(&c->subs[i]);
    free(c->subs);
    uv_cond_destroy(&c->svc_cv);
    uv_mutex_destroy(&c->mu);
    free(c->namesrv);
    free(c->instance_name);
    free(c->ak);
    free(c->sk);
    free(c->trace_topic);
    free(c);
}
