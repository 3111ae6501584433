/* Consumer-side requests shared by both consumers (offsets, PULL_MESSAGE building and
 * decoding, subscription JSON) and the pull consumer, which the application drives queue by
 * queue with blocking calls. */
#include "lc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_TIMEOUT_MS 5000

struct lc_pull_consumer {
    char group[LC_MAX_NAME];
    char *namesrv;
    char *instance_name;
    lc_inst_t *in;
    uv_mutex_t mu;
    cm_map_t topics;    /* topics pulled so far: reported in heartbeats */
    char *ak, *sk;      /* ACL keys: sign every request when both are set */
};

/* ---- shared helpers ---- */

static int broker_of(lc_inst_t *in, const lc_mq_t *mq, char *addr, size_t n)
{
    if (lc_broker_addr(in, mq->broker_name, addr, n) == 0)
        return 0;
    lc_route_t *r;
    int rc = lc_route_get(in, mq->topic, 1, 0, &r);
    if (rc)
        return rc;
    const char *a = lc_route_read_addr(r, mq->broker_name);
    if (a)
        snprintf(addr, n, "%s", a);
    lc_route_put(r);
    return a ? 0 : LC_ENOROUTE;
}

static int set_mq_header(rm_cmd_t *req, const char *group, const lc_mq_t *mq)
{
    if (group && rm_ext_set(req, "consumerGroup", group))
        return LC_ENOMEM;
    if (rm_ext_set(req, "topic", mq->topic) || rm_ext_set_i64(req, "queueId", mq->queue_id))
        return LC_ENOMEM;
    return 0;
}

int lc_query_offset(lc_inst_t *in, const char *group, const lc_mq_t *mq, int64_t *off)
{
    char addr[64];
    int rc = broker_of(in, mq, addr, sizeof addr);
    if (rc)
        return rc;
    rm_cmd_t req, resp;
    lc_req_init(&req, RQ_QUERY_CONSUMER_OFFSET);
    if (set_mq_header(&req, group, mq)) {
        rm_cmd_free(&req);
        return LC_ENOMEM;
    }
    rc = lc_rpc_sync(in, addr, &req, CALL_TIMEOUT_MS, &resp);
    if (rc)
        return rc;
    if (resp.code == RC_SUCCESS)
        rc = rm_ext_i64(&resp, "offset", off) == 0 ? 0 : LC_EDECODE;
    else if (resp.code == RC_QUERY_NOT_FOUND)
        rc = LC_ENOTFOUND;
    else
        rc = LC_EBROKER;
    rm_cmd_free(&resp);
    return rc;
}

int lc_update_offset(lc_inst_t *in, const char *group, const lc_mq_t *mq, int64_t off, int oneway)
{
    char addr[64];
    int rc = broker_of(in, mq, addr, sizeof addr);
    if (rc)
        return rc;
    rm_cmd_t req, resp;
    lc_req_init(&req, RQ_UPDATE_CONSUMER_OFFSET);
    if (set_mq_header(&req, group, mq) || rm_ext_set_i64(&req, "commitOffset", off)) {
        rm_cmd_free(&req);
        return LC_ENOMEM;
    }
    if (oneway)
        return lc_rpc_oneway(in, addr, &req);
    rc = lc_rpc_sync(in, addr, &req, CALL_TIMEOUT_MS, &resp);
    if (rc)
        return rc;
    rc = resp.code == RC_SUCCESS ? 0 : LC_EBROKER;
    rm_cmd_free(&resp);
    return rc;
}

int lc_get_queue_offset(lc_inst_t *in, int code, const lc_mq_t *mq, int64_t *off)
{
    char addr[64];
    int rc = broker_of(in, mq, addr, sizeof addr);
    if (rc)
        return rc;
    rm_cmd_t req, resp;
    lc_req_init(&req, code);
    if (set_mq_header(&req, NULL, mq)) {
        rm_cmd_free(&req);
        return LC_ENOMEM;
    }
    rc = lc_rpc_sync(in, addr, &req, CALL_TIMEOUT_MS, &resp);
    if (rc)
        return rc;
    if (resp.code == RC_SUCCESS)
        rc = rm_ext_i64(&resp, "offset", off) == 0 ? 0 : LC_EDECODE;
    else
        rc = LC_EBROKER;
    rm_cmd_free(&resp);
    return rc;
}

int lc_pull_request(rm_cmd_t *req, const char *group, const lc_mq_t *mq, const lc_sub_t *sub,
                    int64_t offset, int max_nums, int sys_flag, int64_t commit_offset, uint32_t suspend_ms)
{
    lc_req_init(req, RQ_PULL_MESSAGE);
    if (set_mq_header(req, group, mq) || rm_ext_set_i64(req, "queueOffset", offset) ||
        rm_ext_set_i64(req, "maxMsgNums", max_nums) || rm_ext_set_i64(req, "sysFlag", sys_flag) ||
        rm_ext_set_i64(req, "commitOffset", commit_offset) ||
        rm_ext_set_i64(req, "suspendTimeoutMillis", suspend_ms) ||
        rm_ext_set(req, "subscription", sub->expr) || rm_ext_set_i64(req, "subVersion", sub->version) ||
        rm_ext_set(req, "expressionType", sub->sql ? "SQL92" : "TAG")) {
        rm_cmd_free(req);
        return LC_ENOMEM;
    }
    return 0;
}

void lc_pull_result_free(lc_pull_result_t *r)
{
    if (!r)
        return;
    lc_free_msgs(r->msgs, r->nmsgs);
    r->msgs = NULL;
    r->nmsgs = 0;
}

int lc_pull_decode(const rm_cmd_t *resp, const lc_mq_t *mq, const lc_sub_t *sub, lc_pull_result_t *res)
{
    memset(res, 0, sizeof *res);
    switch (resp->code) {
    case RC_SUCCESS: res->status = LC_PULL_FOUND; break;
    case RC_PULL_NOT_FOUND: res->status = LC_PULL_NO_NEW_MSG; break;
    case RC_PULL_RETRY_IMMEDIATELY: res->status = LC_PULL_NO_MATCHED_MSG; break;
    case RC_PULL_OFFSET_MOVED: res->status = LC_PULL_OFFSET_ILLEGAL; break;
    default: return LC_EBROKER;
    }
    if (rm_ext_i64(resp, "nextBeginOffset", &res->next_begin_offset) ||
        rm_ext_i64(resp, "minOffset", &res->min_offset) || rm_ext_i64(resp, "maxOffset", &res->max_offset))
        return LC_EDECODE;
    if (res->status != LC_PULL_FOUND || resp->body_len == 0)
        return 0;
    lc_message_ext_t **msgs;
    size_t n;
    char mins[24], maxs[24];   /* Java clients copy the queue bounds into every message */
    snprintf(mins, sizeof mins, "%lld", (long long)res->min_offset);
    snprintf(maxs, sizeof maxs, "%lld", (long long)res->max_offset);
    lc_property_t extra[2] = {{"MIN_OFFSET", mins}, {"MAX_OFFSET", maxs}};
    int rc = lc_decode_records(resp->body, resp->body_len, mq->broker_name, extra, 2, &msgs, &n);
    if (rc)
        return rc;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (sub && !lc_sub_match(sub, msgs[i]->tags)) {  /* broker filters by hash only */
            free(msgs[i]);
            continue;
        }
        msgs[k++] = msgs[i];
    }
    res->msgs = msgs;
    res->nmsgs = k;
    if (k == 0)
        res->status = LC_PULL_NO_MATCHED_MSG;
    return 0;
}

static void sub_json_tags(lj_val_t *tags, lj_val_t *codes, const lc_sub_t *s, int *err)
{
    for (size_t i = 0; i < s->ntags; i++) {
        if (lj_push(tags, lj_new_str(s->tags[i])) || lj_push(codes, lj_new_int(s->codes[i])))
            *err = 1;
    }
}

int lc_subscription_json(const lc_sub_t *s, lj_val_t **out)
{
    lj_val_t *o = lj_new_obj(), *tags = lj_new_arr(), *codes = lj_new_arr();
    int err = !o || !tags || !codes;
    if (!err) {
        sub_json_tags(tags, codes, s, &err);
        err |= lj_set_bool(o, "classFilterMode", 0) != 0;
        err |= lj_set(o, "codeSet", codes) != 0;
        codes = NULL;
        err |= lj_set_str(o, "expressionType", s->sql ? "SQL92" : "TAG") != 0;
        err |= lj_set_str(o, "subString", s->all && !s->sql ? "*" : s->expr) != 0;
        err |= lj_set_int(o, "subVersion", s->version) != 0;
        err |= lj_set(o, "tagsSet", tags) != 0;
        tags = NULL;
        err |= lj_set_str(o, "topic", s->topic) != 0;
    }
    lj_free(tags);
    lj_free(codes);
    if (err) {
        lj_free(o);
        return LC_ENOMEM;
    }
    *out = o;
    return 0;
}

/* ---- pull consumer ---- */

static void topic_sub_json(const char *key, void *val, void *arg)
{
    lj_val_t *arr = arg;
    lj_val_t *o;
    if (lc_subscription_json(val, &o) == 0)
        lj_push(arr, o);
}

static int pull_hb_fill(void *owner, lj_val_t *hb)
{
    lc_pull_consumer_t *c = owner;
    lj_val_t *subs = lj_new_arr();
    if (subs) {
        uv_mutex_lock(&c->mu);
        cm_map_each(&c->topics, topic_sub_json, subs);
        uv_mutex_unlock(&c->mu);
    }
    return lc_consumer_hb_json(hb, c->group, "CONSUME_ACTIVELY", "CONSUME_FROM_LAST_OFFSET", subs);
}

int lc_pull_consumer_create(const char *group, const char *namesrv, lc_pull_consumer_t **out)
{
    if (!group || !*group || strlen(group) >= LC_MAX_NAME)
        return LC_EINVAL;
    lc_pull_consumer_t *c = calloc(1, sizeof *c);
    if (!c)
        return LC_ENOMEM;
    snprintf(c->group, sizeof c->group, "%s", group);
    if (namesrv && !(c->namesrv = cm_strdup(namesrv))) {
        free(c);
        return LC_ENOMEM;
    }
    uv_mutex_init(&c->mu);
    cm_map_init(&c->topics);
    *out = c;
    return 0;
}

void lc_pull_consumer_set_instance_name(lc_pull_consumer_t *c, const char *name)
{
    free(c->instance_name);
    c->instance_name = name ? cm_strdup(name) : NULL;
}

int lc_pull_consumer_set_credentials(lc_pull_consumer_t *c, const char *access_key, const char *secret_key)
{
    return lc_keys_set(&c->ak, &c->sk, access_key, secret_key);
}

int lc_pull_consumer_start(lc_pull_consumer_t *c)
{
    if (c->in)
        return LC_ESTATE;
    lc_inst_cfg_t cfg = {.namesrv = c->namesrv, .instance_name = c->instance_name, .owner = c,
                         .hb_fill = pull_hb_fill, .access_key = c->ak, .secret_key = c->sk};
    return lc_inst_start(&cfg, &c->in);
}

int lc_pull_consumer_fetch_queues(lc_pull_consumer_t *c, const char *topic, lc_mq_t **mqs, size_t *n)
{
    if (!c->in)
        return LC_ESTATE;
    lc_route_t *r;
    int rc = lc_route_get(c->in, topic, 0, 0, &r);
    if (rc)
        return rc;
    *mqs = malloc((r->nrq ? r->nrq : 1) * sizeof **mqs);
    if (!*mqs) {
        lc_route_put(r);
        return LC_ENOMEM;
    }
    memcpy(*mqs, r->rq, r->nrq * sizeof **mqs);
    *n = r->nrq;
    lc_route_put(r);
    return 0;
}

static void free_sub(void *v)
{
    lc_sub_free(v);
    free(v);
}

int lc_pull_consumer_pull(lc_pull_consumer_t *c, const lc_mq_t *mq, const char *sub_expr,
                          int64_t offset, int max_nums, uint32_t long_poll_ms, lc_pull_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (!c->in)
        return LC_ESTATE;
    char addr[64];
    int rc = broker_of(c->in, mq, addr, sizeof addr);
    if (rc)
        return rc;
    lc_sub_t sub;
    if ((rc = lc_sub_parse(&sub, mq->topic, sub_expr)) != 0)
        return rc;
    uv_mutex_lock(&c->mu);
    lc_sub_t *known = cm_map_get(&c->topics, mq->topic);
    if (!known || strcmp(known->expr, sub.expr) != 0) {
        lc_sub_t *copy = malloc(sizeof *copy);
        if (copy && lc_sub_parse(copy, mq->topic, sub_expr) == 0) {
            if (known)
                free_sub(cm_map_remove(&c->topics, mq->topic));
            if (cm_map_put(&c->topics, mq->topic, copy) != 0)
                free_sub(copy);
        } else {
            free(copy);
        }
    }
    uv_mutex_unlock(&c->mu);
    rm_cmd_t req, resp;
    int flag = LC_PULL_SUBSCRIPTION | (long_poll_ms ? LC_PULL_SUSPEND : 0);
    rc = lc_pull_request(&req, c->group, mq, &sub, offset, max_nums > 0 ? max_nums : 32, flag, 0, long_poll_ms);
    if (rc == 0) {
        rc = lc_rpc_sync(c->in, addr, &req, long_poll_ms + CALL_TIMEOUT_MS, &resp);
        if (rc == 0) {
            rc = lc_pull_decode(&resp, mq, &sub, res);
            rm_cmd_free(&resp);
        }
    }
    lc_sub_free(&sub);
    return rc;
}

int lc_pull_consumer_query_offset(lc_pull_consumer_t *c, const lc_mq_t *mq, int64_t *offset)
{
    return c->in ? lc_query_offset(c->in, c->group, mq, offset) : LC_ESTATE;
}

int lc_pull_consumer_update_offset(lc_pull_consumer_t *c, const lc_mq_t *mq, int64_t offset)
{
    return c->in ? lc_update_offset(c->in, c->group, mq, offset, 0) : LC_ESTATE;
}

int lc_pull_consumer_max_offset(lc_pull_consumer_t *c, const lc_mq_t *mq, int64_t *offset)
{
    return c->in ? lc_get_queue_offset(c->in, RQ_GET_MAX_OFFSET, mq, offset) : LC_ESTATE;
}

int lc_pull_consumer_min_offset(lc_pull_consumer_t *c, const lc_mq_t *mq, int64_t *offset)
{
    return c->in ? lc_get_queue_offset(c->in, RQ_GET_MIN_OFFSET, mq, offset) : LC_ESTATE;
}

void lc_pull_consumer_destroy(lc_pull_consumer_t *c)
{
    if (!c)
        return;
    if (c->in) {
        lc_unregister(c->in, NULL, c->group);
        lc_inst_stop(c->in);
    }
    cm_map_free(&c->topics, free_sub);
    uv_mutex_destroy(&c->mu);
    free(c->namesrv);
    free(c->instance_name);
    free(c->ak);
    free(c->sk);
    free(c);
}
