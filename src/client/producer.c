/* The producer: route lookup (cached, TBW102 fallback for topics the broker will auto-create),
 * queue round robin, SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE with the one-letter header, retries on
 * another broker for retriable answers and network errors (spec §2.2, §7.2). Sync sends wait on
 * the caller's thread; async sends run their attempts on the instance's loop thread. */
#include "lc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct lc_producer {
    char group[LC_MAX_NAME];
    char *namesrv;
    char *instance_name;
    uint32_t timeout_ms;
    int retries;
    size_t compress_over;
    lc_inst_t *in;
    unsigned rr;        /* round-robin counter */
    int hb_sent;
    lc_tx_check_fn check_fn;    /* transactional producers: the broker's check-back */
    void *check_arg;
    char *ak, *sk;              /* ACL keys: sign every request when both are set */
    int trace;                  /* record a Pub trace after each send that got an answer */
    char *trace_topic;          /* NULL: RMQ_SYS_TRACE_TOPIC */
    lc_tracer_t *tracer;        /* after start, when tracing */
};

/* One message (or batch) ready to go: everything an attempt needs to build its request. */
typedef struct send_job {
    lc_producer_t *p;
    lc_route_t *route;
    char topic[LC_MAX_TOPIC];
    cm_buf_t props;
    cm_buf_t body;
    int sys_flag;
    int32_t flag;
    int batch;
    int64_t born;
    int attempts_left;
    char avoid[LC_MAX_NAME];
    long fixed_queue;          /* >= 0: always this index of the writable queues (ordered) */
    char *tags, *keys;         /* traced producers: what the Pub record names */
    int delayed;
    char addr[64];             /* the broker of the current attempt */
    const lc_mq_t *want;       /* non-NULL: exactly this queue (send to a chosen queue) */
    lc_mq_t mq;
    lc_send_result_t res;
    lc_send_cb cb;
    void *arg;
} send_job_t;

int lc_producer_create(const char *group, const char *namesrv, lc_producer_t **out)
{
    if (!group || !*group || strlen(group) >= LC_MAX_NAME)
        return LC_EINVAL;
    lc_producer_t *p = calloc(1, sizeof *p);
    if (!p)
        return LC_ENOMEM;
    snprintf(p->group, sizeof p->group, "%s", group);
    if (namesrv && !(p->namesrv = cm_strdup(namesrv))) {
        free(p);
        return LC_ENOMEM;
    }
    p->timeout_ms = 3000;
    p->retries = 2;
    p->compress_over = 4096;
    *out = p;
    return 0;
}

void lc_producer_set_instance_name(lc_producer_t *p, const char *name)
{
    free(p->instance_name);
    p->instance_name = name ? cm_strdup(name) : NULL;
}
void lc_producer_set_send_timeout(lc_producer_t *p, uint32_t ms) { p->timeout_ms = ms ? ms : 3000; }
void lc_producer_set_retry_times(lc_producer_t *p, int n) { p->retries = n < 0 ? 0 : n; }
void lc_producer_set_compress_threshold(lc_producer_t *p, size_t bytes) { p->compress_over = bytes; }

int lc_producer_set_credentials(lc_producer_t *p, const char *access_key, const char *secret_key)
{
    return lc_keys_set(&p->ak, &p->sk, access_key, secret_key);
}

int lc_producer_set_trace(lc_producer_t *p, int on, const char *trace_topic)
{
    char *t = trace_topic && *trace_topic ? cm_strdup(trace_topic) : NULL;
    if (trace_topic && *trace_topic && !t)
        return LC_ENOMEM;
    free(p->trace_topic);
    p->trace_topic = t;
    p->trace = on != 0;
    return 0;
}

lc_tracer_t *lc_producer_tracer(lc_producer_t *p) { return p->tracer; }

static int producer_hb_fill(void *owner, lj_val_t *hb)
{
    lc_producer_t *p = owner;
    lj_val_t *cds = lj_new_arr(), *pds = lj_new_arr(), *a = lj_new_obj(), *b = lj_new_obj();
    int err = !cds || !pds || !a || !b;
    if (!err) {
        err |= lj_set_str(a, "groupName", p->group) != 0;
        err |= lj_set_str(b, "groupName", "CLIENT_INNER_PRODUCER") != 0;
        err |= lj_push(pds, a) != 0;
        a = NULL;
        err |= lj_push(pds, b) != 0;
        b = NULL;
        err |= lj_set(hb, "consumerDataSet", cds) != 0;
        cds = NULL;
        err |= lj_set(hb, "producerDataSet", pds) != 0;
        pds = NULL;
    }
    lj_free(cds);
    lj_free(pds);
    lj_free(a);
    lj_free(b);
    return err ? LC_ENOMEM : 0;
}

int lc_producer_start(lc_producer_t *p)
{
    if (p->in)
        return LC_ESTATE;
    lc_inst_cfg_t cfg = {.namesrv = p->namesrv, .instance_name = p->instance_name, .owner = p,
                         .hb_fill = producer_hb_fill,
                         .on_check_transaction = p->check_fn ? lc_trans_on_check : NULL,
                         .access_key = p->ak, .secret_key = p->sk};
    if (p->trace) {
        lc_tracer_cfg_t tc = {.group = p->group, .type = "PRODUCE", .namesrv = p->namesrv,
                              .topic = p->trace_topic, .access_key = p->ak, .secret_key = p->sk};
        int rc = lc_tracer_start(&tc, &p->tracer);
        if (rc)
            return rc;
    }
    int rc = lc_inst_start(&cfg, &p->in);
    if (rc) {
        lc_tracer_stop(p->tracer);
        p->tracer = NULL;
    }
    return rc;
}

const char *lc_producer_client_id(const lc_producer_t *p) { return p->in ? lc_inst_client_id(p->in) : ""; }

void lc_producer_destroy(lc_producer_t *p)
{
    if (!p)
        return;
    lc_tracer_stop(p->tracer); /* sends the records still waiting */
    if (p->in) {
        lc_unregister(p->in, p->group, NULL);
        lc_inst_stop(p->in);
    }
    free(p->namesrv);
    free(p->instance_name);
    free(p->ak);
    free(p->sk);
    free(p->trace_topic);
    free(p);
}

/* ---- building ---- */

static int check_message(const lc_message_t *m)
{
    if (!m || !m->topic || !*m->topic || strlen(m->topic) > 127)
        return LC_EINVAL;
    if (m->body_len == 0 || m->body_len > LC_MAX_BODY || !m->body)
        return LC_EINVAL;
    return 0;
}

static void job_free(send_job_t *j)
{
    if (!j)
        return;
    lc_route_put(j->route);
    cm_buf_free(&j->props);
    cm_buf_free(&j->body);
    lc_send_result_clear(&j->res);
    free(j->tags);
    free(j->keys);
    free(j);
}

static int job_route(lc_producer_t *p, send_job_t *j)
{
    int rc = lc_route_get(p->in, j->topic, 0, 1, &j->route);
    if (rc)
        return rc;
    if (j->route->nwq == 0)
        return LC_ENOROUTE;
    if (!__atomic_exchange_n(&p->hb_sent, 1, __ATOMIC_ACQ_REL))
        lc_heartbeat(p->in, 0); /* brokers learn the group as soon as we know them */
    return 0;
}

static int job_new(lc_producer_t *p, const lc_message_t *m, send_job_t **out)
{
    int rc = check_message(m);
    if (rc)
        return rc;
    send_job_t *j = calloc(1, sizeof *j);
    if (!j)
        return LC_ENOMEM;
    j->p = p;
    snprintf(j->topic, sizeof j->topic, "%s", m->topic);
    cm_buf_init(&j->props);
    cm_buf_init(&j->body);
    j->flag = m->flag;
    j->born = cm_now_ms();
    j->attempts_left = 1 + p->retries;
    j->fixed_queue = -1;
    char uniq[33];
    lc_uniq_id(uniq);
    snprintf(j->res.msg_id, sizeof j->res.msg_id, "%s", uniq);
    rc = lc_message_props(m, uniq, 1, &j->props);
    if (rc == 0 && j->props.len > 32767)
        rc = LC_EINVAL;
    if (rc == 0 && p->tracer && ((m->tags && *m->tags && !(j->tags = cm_strdup(m->tags))) ||
                                 (m->keys && *m->keys && !(j->keys = cm_strdup(m->keys)))))
        rc = LC_ENOMEM;
    j->delayed = m->delay_level > 0;
    if (rc)
        goto err;
    if (p->compress_over && m->body_len >= p->compress_over) {
        uLongf bound = compressBound((uLong)m->body_len);
        if (cm_buf_reserve(&j->body, bound)) {
            rc = LC_ENOMEM;
            goto err;
        }
        if (compress2((Bytef *)j->body.data, &bound, m->body, (uLong)m->body_len, 5) == Z_OK &&
            bound < m->body_len) {
            j->body.len = bound;
            j->sys_flag |= LC_SYSFLAG_COMPRESSED;   /* type bits 0 = zlib, read by every client */
        }
    }
    if (!(j->sys_flag & LC_SYSFLAG_COMPRESSED) && cm_buf_append(&j->body, m->body, m->body_len)) {
        rc = LC_ENOMEM;
        goto err;
    }
    if ((rc = job_route(p, j)) != 0)
        goto err;
    *out = j;
    return 0;
err:
    job_free(j);
    return rc;
}

/* Choose the next queue, avoiding the broker that just failed when another one exists. */
static const lc_mq_t *pick_queue(lc_producer_t *p, const lc_route_t *r, const char *avoid)
{
    const lc_mq_t *q = NULL;
    for (size_t i = 0; i < r->nwq; i++) {
        q = &r->wq[__atomic_fetch_add(&p->rr, 1, __ATOMIC_RELAXED) % r->nwq];
        if (!avoid || !*avoid || strcmp(q->broker_name, avoid) != 0)
            return q;
    }
    return q;
}

/* The writable queue that is `want` (broker name and queue id), or NULL. */
static const lc_mq_t *find_queue(const lc_route_t *r, const lc_mq_t *want)
{
    for (size_t i = 0; i < r->nwq; i++)
        if (r->wq[i].queue_id == want->queue_id && !strcmp(r->wq[i].broker_name, want->broker_name))
            return &r->wq[i];
    return NULL;
}

/* The request for the next attempt; fills j->mq and the address. */
static int job_request(send_job_t *j, rm_cmd_t *req, char *addr, size_t addrlen)
{
    const lc_mq_t *q = j->fixed_queue >= 0 ? &j->route->wq[(size_t)j->fixed_queue % j->route->nwq]
                       : j->want         ? find_queue(j->route, j->want)
                                         : pick_queue(j->p, j->route, j->avoid);
    const char *a = q ? lc_route_addr(j->route, q->broker_name) : NULL;
    if (!a)
        return LC_ENOROUTE;
    j->mq = *q;
    snprintf(addr, addrlen, "%s", a);
    snprintf(j->addr, sizeof j->addr, "%s", a);
    lc_req_init(req, j->batch ? RQ_SEND_BATCH_MESSAGE : RQ_SEND_MESSAGE_V2);
    if (rm_ext_add(req, "a", j->p->group) || rm_ext_add(req, "b", j->topic) || rm_ext_add(req, "c", "TBW102") ||
        rm_ext_add(req, "d", "4") || rm_ext_set_i64(req, "e", q->queue_id) || rm_ext_set_i64(req, "f", j->sys_flag) ||
        rm_ext_set_i64(req, "g", j->born) || rm_ext_set_i64(req, "h", j->flag) ||
        (j->props.len && rm_ext_add(req, "i", j->props.data)) || rm_ext_add(req, "j", "0") ||
        rm_ext_add(req, "k", "false") || rm_ext_add(req, "m", j->batch ? "true" : "false") ||
        rm_ext_add(req, "n", q->broker_name)) {
        rm_cmd_free(req);
        return LC_ENOMEM;
    }
    req->body = (const uint8_t *)j->body.data;
    req->body_len = j->body.len;
    return 0;
}

static int retriable_code(int code)
{
    return code == 17 || code == 14 || code == 1 || code == 16 || code == 204 || code == 205;
}

/* Java's SendMessageTraceHookImpl: a Pub record for a send the broker answered, unless the
 * answer says TRACE_ON=false; the region is the answer's MSG_REGION. */
static void trace_pub(send_job_t *j, const rm_cmd_t *resp)
{
    const char *on = rm_ext_get(resp, "TRACE_ON"), *region = rm_ext_get(resp, "MSG_REGION");
    if (!j->p->tracer || (on && strcmp(on, "false") == 0))
        return;
    lc_trace_rec_t r = {
        .ts = j->born, .region = region && *region ? region : "DefaultRegion", .group = j->p->group,
        .topic = j->topic, .msg_id = j->res.batch_msg_ids ? j->res.batch_msg_ids : j->res.msg_id,
        .tags = j->tags, .keys = j->keys, .store_host = j->addr, .body_len = (int64_t)j->body.len,
        .cost_ms = cm_now_ms() - j->born, .msg_type = (j->sys_flag & 0x4) ? 1 : j->delayed ? 3 : 0,
        .offset_msg_id = j->res.offset_msg_id, .success = j->res.status == LC_SEND_OK};
    lc_trace_record(j->p->tracer, lc_trace_encode_pub, &r);
}

/* Fill j->res from a send answer. */
static int parse_answer(send_job_t *j, const rm_cmd_t *resp)
{
    lc_send_result_t *r = &j->res;
    r->response_code = resp->code;
    switch (resp->code) {
    case RC_SUCCESS: r->status = LC_SEND_OK; break;
    case RC_FLUSH_DISK_TIMEOUT: r->status = LC_SEND_FLUSH_DISK_TIMEOUT; break;
    case RC_FLUSH_SLAVE_TIMEOUT: r->status = LC_SEND_FLUSH_SLAVE_TIMEOUT; break;
    case RC_SLAVE_NOT_AVAILABLE: r->status = LC_SEND_SLAVE_NOT_AVAILABLE; break;
    default:
        snprintf(r->error, sizeof r->error, "broker %s answered %d: %s", j->mq.broker_name, resp->code,
                 lc_resp_remark(resp));
        return LC_EBROKER;
    }
    const char *id = rm_ext_get(resp, "msgId");
    int32_t qid;
    if (!id || rm_ext_i32(resp, "queueId", &qid) || rm_ext_i64(resp, "queueOffset", &r->queue_offset)) {
        snprintf(r->error, sizeof r->error, "send answer from %s lacks msgId/queueId/queueOffset", j->mq.broker_name);
        return LC_EDECODE;
    }
    size_t idlen = strcspn(id, ",");
    if (idlen >= sizeof r->offset_msg_id)
        idlen = sizeof r->offset_msg_id - 1;
    memcpy(r->offset_msg_id, id, idlen);
    r->offset_msg_id[idlen] = 0;
    r->mq = j->mq;
    r->mq.queue_id = qid;
    r->error[0] = 0;
    trace_pub(j, resp);
    return 0;
}

static int should_retry(send_job_t *j, int rc)
{
    if (--j->attempts_left <= 0)
        return 0;
    if (rc == LC_ENETWORK || rc == LC_ETIMEOUT || (rc == LC_EBROKER && retriable_code(j->res.response_code))) {
        snprintf(j->avoid, sizeof j->avoid, "%s", j->mq.broker_name);
        return 1;
    }
    return 0;
}

static int send_job_sync(send_job_t *j, lc_send_result_t *out)
{
    int rc;
    for (;;) {
        rm_cmd_t req, resp;
        char addr[64];
        if ((rc = job_request(j, &req, addr, sizeof addr)) != 0)
            break;
        rc = lc_rpc_sync(j->p->in, addr, &req, j->p->timeout_ms, &resp);
        if (rc == 0) {
            rc = parse_answer(j, &resp);
            rm_cmd_free(&resp);
        } else {
            snprintf(j->res.error, sizeof j->res.error, "send to %s (%s): %s", j->mq.broker_name, addr,
                     lc_strerror(rc));
        }
        if (rc == 0 || !should_retry(j, rc))
            break;
        LOG_W("client", "send to %s failed (%s), retrying on another broker", j->mq.broker_name, j->res.error);
    }
    *out = j->res;
    j->res.batch_msg_ids = NULL;
    return rc;
}

/* A synchronous send: to any queue (fixed < 0, want NULL, with retries), to the fixed-th
 * writable queue, or to exactly `want`; the last two never retry elsewhere. */
static int send_sync_to(lc_producer_t *p, const lc_message_t *m, long fixed, const lc_mq_t *want,
                        lc_send_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (!p->in)
        return LC_ESTATE;
    send_job_t *j;
    int rc = job_new(p, m, &j);
    if (rc) {
        snprintf(res->error, sizeof res->error, "%s", lc_strerror(rc));
        return rc;
    }
    if (fixed >= 0 || want) {
        j->fixed_queue = fixed;
        j->want = want;
        j->attempts_left = 1;
    }
    rc = send_job_sync(j, res);
    job_free(j);
    return rc;
}

int lc_producer_send_sync(lc_producer_t *p, const lc_message_t *m, lc_send_result_t *res)
{
    return send_sync_to(p, m, -1, NULL, res);
}

/* ---- async ---- */

static void async_attempt(send_job_t *j);

static void async_finish(send_job_t *j, int rc)
{
    j->cb(rc, &j->res, j->arg);
    job_free(j);
}

static void on_async_answer(int status, rm_cmd_t *resp, void *arg)
{
    send_job_t *j = arg;
    int rc = lc_err_from_rm(status);
    if (rc == 0)
        rc = parse_answer(j, resp);
    else
        snprintf(j->res.error, sizeof j->res.error, "send to %s: %s", j->mq.broker_name, lc_strerror(rc));
    if (rc != 0 && should_retry(j, rc)) {
        async_attempt(j);
        return;
    }
    async_finish(j, rc);
}

static void async_attempt(send_job_t *j)
{
    rm_cmd_t req;
    char addr[64];
    int rc = job_request(j, &req, addr, sizeof addr);
    if (rc == 0)
        rc = lc_rpc_async(j->p->in, addr, &req, j->p->timeout_ms, on_async_answer, j);
    if (rc) {
        snprintf(j->res.error, sizeof j->res.error, "send: %s", lc_strerror(rc));
        async_finish(j, rc);
    }
}

int lc_producer_send_async(lc_producer_t *p, const lc_message_t *m, lc_send_cb cb, void *arg)
{
    if (!p->in || !cb)
        return p->in ? LC_EINVAL : LC_ESTATE;
    send_job_t *j;
    int rc = job_new(p, m, &j);
    if (rc)
        return rc;
    j->cb = cb;
    j->arg = arg;
    rm_cmd_t req;
    char addr[64];
    rc = job_request(j, &req, addr, sizeof addr);
    if (rc == 0)
        rc = lc_rpc_async(p->in, addr, &req, p->timeout_ms, on_async_answer, j);
    if (rc)
        job_free(j);
    return rc;
}

int lc_producer_send_oneway(lc_producer_t *p, const lc_message_t *m)
{
    if (!p->in)
        return LC_ESTATE;
    send_job_t *j;
    int rc = job_new(p, m, &j);
    if (rc)
        return rc;
    rm_cmd_t req;
    char addr[64];
    rc = job_request(j, &req, addr, sizeof addr);
    if (rc == 0)
        rc = lc_rpc_oneway(p->in, addr, &req);
    job_free(j);
    return rc;
}

int lc_producer_send_batch(lc_producer_t *p, const lc_message_t *msgs, size_t n, lc_send_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (!p->in)
        return LC_ESTATE;
    if (n == 0 || !msgs)
        return LC_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (check_message(&msgs[i]) || strcmp(msgs[i].topic, msgs[0].topic) != 0 || msgs[i].delay_level > 0 ||
            strncmp(msgs[i].topic, "%RETRY%", 7) == 0) {
            snprintf(res->error, sizeof res->error, "message %zu cannot go in this batch", i);
            return LC_EINVAL;
        }
    }
    int rc = LC_ENOMEM;
    char (*uniq)[33] = malloc(n * sizeof *uniq);
    send_job_t *j = calloc(1, sizeof *j);
    if (!uniq || !j)
        goto out;
    j->p = p;
    j->batch = 1;
    snprintf(j->topic, sizeof j->topic, "%s", msgs[0].topic);
    cm_buf_init(&j->props);
    cm_buf_init(&j->body);
    j->born = cm_now_ms();
    j->attempts_left = 1 + p->retries;
    j->fixed_queue = -1;
    cm_buf_t ids;
    cm_buf_init(&ids);
    for (size_t i = 0; i < n; i++) {
        lc_uniq_id(uniq[i]);
        if ((i && cm_buf_putc(&ids, ',')) || cm_buf_puts(&ids, uniq[i])) {
            cm_buf_free(&ids);
            goto out;
        }
    }
    j->res.batch_msg_ids = cm_buf_steal(&ids);
    snprintf(j->res.msg_id, sizeof j->res.msg_id, "%s", uniq[0]);
    if ((rc = lc_batch_encode(msgs, n, uniq, &j->body)) != 0)
        goto out;
    if (j->body.len > LC_MAX_BODY) {
        rc = LC_EINVAL;
        snprintf(res->error, sizeof res->error, "batch body of %zu bytes is over 4 MiB", j->body.len);
        goto out;
    }
    if ((rc = lc_props_append(&j->props, "WAIT", "true")) != 0)
        goto out;
    if ((rc = job_route(p, j)) != 0) {
        snprintf(res->error, sizeof res->error, "%s", lc_strerror(rc));
        goto out;
    }
    rc = send_job_sync(j, res);
out:
    free(uniq);
    job_free(j);
    return rc;
}

lc_inst_t *lc_producer_inst(lc_producer_t *p) { return p->in; }

int lc_producer_send_orderly(lc_producer_t *p, const lc_message_t *m, const char *shard_key, lc_send_result_t *res)
{
    if (!shard_key) {
        memset(res, 0, sizeof *res);
        return LC_EINVAL;
    }
    /* Java's SelectMessageQueueByHash: abs(hashCode(key)) % number of writable queues; no
     * retry on another queue, which would break the order */
    int32_t h = cm_java_hash(shard_key, strlen(shard_key));
    return send_sync_to(p, m, h == INT32_MIN ? 0 : (h < 0 ? -h : h), NULL, res);
}

int lc_producer_send_to_queue(lc_producer_t *p, const lc_message_t *m, const lc_mq_t *mq, lc_send_result_t *res)
{
    if (!mq || !*mq->broker_name) {
        memset(res, 0, sizeof *res);
        return LC_EINVAL;
    }
    int rc = send_sync_to(p, m, -1, mq, res);
    if (rc == LC_ENOROUTE && !res->error[0])
        snprintf(res->error, sizeof res->error, "no writable queue %d on broker %s for topic %s", mq->queue_id,
                 mq->broker_name, m->topic);
    return rc;
}

const char *lc_producer_group(const lc_producer_t *p) { return p->group; }

void lc_producer_set_transaction_check(lc_producer_t *p, lc_tx_check_fn fn, void *arg)
{
    p->check_fn = fn;
    p->check_arg = arg;
}

lc_tx_state_t lc_producer_call_check(lc_producer_t *p, const lc_message_ext_t *m)
{
    return p->check_fn ? p->check_fn(m, p->check_arg) : LC_TX_UNKNOWN;
}

int lc_producer_send_flagged(lc_producer_t *p, const lc_message_t *m, const lc_property_t *extra, size_t nextra,
                             int sys_flag, lc_send_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (!p->in)
        return LC_ESTATE;
    send_job_t *j;
    int rc = job_new(p, m, &j);
    if (rc == 0) {
        for (size_t i = 0; rc == 0 && i < nextra; i++)
            rc = lc_props_append(&j->props, extra[i].name, extra[i].value);
        if (rc)
            job_free(j);
    }
    if (rc) {
        snprintf(res->error, sizeof res->error, "%s", lc_strerror(rc));
        return rc;
    }
    j->sys_flag |= sys_flag;
    rc = send_job_sync(j, res);
    job_free(j);
    return rc;
}
