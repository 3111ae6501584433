/* manage.c: the broker side of mqadmin's management commands.
 *  - subscription groups: UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200), GET_ALL_SUBSCRIPTIONGROUP_
 *    CONFIG (201), DELETE_SUBSCRIPTIONGROUP (207);
 *  - broker config: GET_BROKER_CONFIG (26) as Properties text, UPDATE_BROKER_CONFIG (25) for a
 *    fixed list of keys that are safe to change while running. Paths, addresses, ports, names
 *    and anything else are refused with the key named: RocketMQ's remote config update let a
 *    client point the broker at files and commands; here it cannot;
 *  - GET_CONSUME_STATS (208): per queue broker offset, group offset and last consumed time (and
 *    a POP group's pull offset, the pop cursor: its offset is the lowest message not acked);
 *  - INVOKE_BROKER_TO_RESET_OFFSET (222): move a group's offsets to a time; live consumers are
 *    told (RESET_CONSUMER_CLIENT_OFFSET, 220), offline groups just get the new table.
 * Loop thread. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/core.h"

/* ---- subscription groups ---------------------------------------------------------------------- */

void br_handle_update_and_create_subscriptiongroup(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    lj_val_t *v = NULL;
    const char *name;
    if (lj_parse((const char *)req->body, req->body_len, &v) != 0 || v->type != LJ_OBJ ||
        !(name = lj_get_str(v, "groupName", NULL)) || br_group_name_error(name)) {
        lj_free(v);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "the body is not a SubscriptionGroupConfig with a valid groupName (1..255 of [%%|a-zA-Z0-9_-])");
        return;
    }
    br_group_t *g = br_groups_put(&b->groups, name);
    if (g) {
        g->consumeEnable = lj_get_bool(v, "consumeEnable", 1);
        g->consumeBroadcastEnable = lj_get_bool(v, "consumeBroadcastEnable", 1);
        g->retryQueueNums = (int)lj_get_int(v, "retryQueueNums", 1);
        g->retryMaxTimes = (int)lj_get_int(v, "retryMaxTimes", 16);
        g->brokerId = lj_get_int(v, "brokerId", 0);
        g->whichBrokerWhenConsumeSlowly = lj_get_int(v, "whichBrokerWhenConsumeSlowly", 1);
        br_group_extras_from_json(g, v);
        b->groups.dvCounter++;
        b->groups.dvTimestamp = cm_now_ms();
    }
    if (g)
        LOG_I("broker", "subscription group %s created or updated by %s", name, rm_conn_peer(c));
    lj_free(v); /* name pointed into it */
    if (!g || br_groups_save(&b->groups) != 0) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "the subscription group could not be saved");
        return;
    }
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

void br_handle_get_all_subscriptiongroup_config(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx; /* the file's JSON, as RocketMQ sends it, made off the loop */
    rm_conn_respond_render_async(c, req, br_groups_ptype.snap(&b->groups), br_groups_ptype.render, br_groups_ptype.free);
}

void br_handle_delete_subscriptiongroup(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *name = rm_req_str(c, req, "groupName");
    if (!name)
        return;
    free(cm_map_remove(&b->groups.map, name));
    b->groups.dvCounter++;
    b->groups.dvTimestamp = cm_now_ms();
    br_groups_save(&b->groups);
    const char *rm = rm_ext_get(req, "removeOffset");
    if (rm && strcmp(rm, "true") == 0)
        br_offsets_delete_group(&b->offsets, name);
    LOG_I("broker", "subscription group %s deleted by %s", name, rm_conn_peer(c));
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

/* ---- broker config ------------------------------------------------------------------------------ */

/* Keys read live from the config, harmless to change: no paths, no addresses, no identities. */
static const char *const k_runtime_keys[] = {
    "brokerPermission", "autoCreateTopicEnable", "autoCreateSubscriptionGroup", "defaultTopicQueueNums",
    "longPollingEnable", "notifyConsumerIdsChangedEnable", "syncFlushTimeout", "transactionTimeOut",
    "transactionCheckMax", "enablePropertyFilter", "rejectTransactionMessage", "rebalanceLockMaxLiveTime",
};

static int runtime_key(const char *k)
{
    for (size_t i = 0; i < sizeof k_runtime_keys / sizeof k_runtime_keys[0]; i++)
        if (strcmp(k, k_runtime_keys[i]) == 0)
            return 1;
    return 0;
}

void br_handle_get_broker_config(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    cm_buf_t body;
    cm_buf_init(&body);
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    char dv[96];
    snprintf(dv, sizeof dv, "{\"counter\":%" PRId64 ",\"timestamp\":%" PRId64 "}", b->configVersion, b->stats.bootMs);
    rm_ext_set(&resp, "version", dv);
    if (br_config_format(&b->cfg, &body) == 0) {
        resp.body = (const uint8_t *)body.data;
        resp.body_len = body.len;
    } else {
        resp.code = RC_SYSTEM_ERROR;
    }
    rm_conn_respond(c, req, &resp);
    resp.body = NULL;
    rm_cmd_free(&resp);
    cm_buf_free(&body);
}

void br_handle_update_broker_config(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    cm_props_t props = {0};
    if (cm_props_parse(&props, (const char *)req->body, req->body_len) != 0) {
        cm_props_free(&props);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "the body is not a properties text");
        return;
    }
    /* all or nothing: check every key first */
    br_config_t next = b->cfg;
    for (size_t i = 0; i < props.n; i++) {
        const char *k = props.items[i].key, *v = props.items[i].val;
        if (!runtime_key(k)) {
            LOG_W("broker", "UPDATE_BROKER_CONFIG from %s refused: %s cannot change at run time", rm_conn_peer(c), k);
            rm_conn_respond_code(c, req, RC_NO_PERMISSION,
                                 "the broker config key %s cannot be changed at run time (only runtime-safe keys, "
                                 "never paths or addresses)", k);
            cm_props_free(&props);
            return;
        }
        if (strpbrk(v, "\r\n") || br_config_set(&next, k, v) != 0) { /* no line breaks into broker.conf */
            rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "bad value for %s: %s", k, v);
            cm_props_free(&props);
            return;
        }
    }
    int perm_changed = next.brokerPermission != b->cfg.brokerPermission;
    b->cfg = next;
    b->configVersion++;
    LOG_I("broker", "broker config updated by %s (%zu key(s))", rm_conn_peer(c), props.n);
    /* as RocketMQ, the change outlives a restart: written into the -c file, only these keys */
    if (b->cfg.configFile[0] && cm_props_update_file(b->cfg.configFile, &props) != 0)
        LOG_W("broker", "could not write the updated keys into %s; they hold until the broker stops",
              b->cfg.configFile);
    cm_props_free(&props);
    if (perm_changed)
        br_register_soon(b);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

/* ---- consume stats ------------------------------------------------------------------------------ */

typedef struct stats_ctx { br_broker_t *b; const char *group, *only; lj_val_t *tab; } stats_ctx_t;

static void add_topic_stats(void *arg, const char *topic)
{
    stats_ctx_t *x = arg;
    br_broker_t *b = x->b;
    if ((x->only && strcmp(x->only, topic) != 0) || !br_group_subscribes(b, x->group, topic))
        return; /* as RocketMQ: an online group's topics it no longer subscribes are left out */
    br_topic_t *tc = br_topics_get(&b->topics, topic);
    int nq = tc ? tc->readQueueNums : 0;
    for (int q = 0; q < nq; q++) {
        int64_t consumer = br_offsets_get(&b->offsets, x->group, topic, q), ts = 0, pull = -1;
        /* a POP group's offset is the lowest message it has not acked, its pull offset the pop
         * cursor (RocketMQ 5's pullOffset: the difference is what is in flight) */
        int pop = b->hooks.pop_progress && b->hooks.pop_progress(b, x->group, topic, q, &consumer, &pull);
        if (consumer < 0)
            consumer = 0;
        if (consumer > 0)
            st_msg_store_time(b->store, topic, q, consumer - 1, &ts);
        lj_val_t *w = lj_new_obj();
        lj_set_int(w, "brokerOffset", st_max_offset(b->store, topic, q));
        lj_set_int(w, "consumerOffset", consumer);
        if (pop)
            lj_set_int(w, "pullOffset", pull > consumer ? pull : consumer);
        lj_set_int(w, "lastTimestamp", ts);
        lj_put(x->tab, br_mq_json(b->cfg.brokerName, topic, q), w);
    }
}

void br_handle_get_consume_stats(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group = rm_req_str(c, req, "consumerGroup");
    if (!group)
        return;
    const char *topic = rm_ext_get(req, "topic");
    stats_ctx_t x = {b, group, topic && *topic ? topic : NULL, lj_new_obj()};
    if (x.only) /* every queue of that topic, offset 0 where the group has none yet (RocketMQ) */
        add_topic_stats(&x, x.only);
    else
        br_offsets_topics(&b->offsets, group, add_topic_stats, &x);
    lj_val_t *root = lj_new_obj();
    lj_set(root, "consumeTps", lj_new_double(br_stats_group_tps(b, group)));
    lj_set(root, "offsetTable", x.tab);
    rm_conn_respond_json(c, req, root, LJ_W_FASTJSON);
}

/* GET_BROKER_CONSUME_STATS (317, mqadmin brokerConsumeStats): the consume stats of every
 * subscription group for each topic it has offsets on, as RocketMQ's fetchAllConsumeStatsInBroker:
 * an online group's topics it does not subscribe are left out; isOrder keeps ordered topics. */
typedef struct all_ctx {
    br_broker_t *b;
    const char *group;
    int isOrder;
    lj_val_t *list;             /* the current group's ConsumeStats */
    int64_t diff;
    lj_val_t *out;              /* [{group: [ConsumeStats]}] */
    cm_map_t *idx;              /* group -> topic_list_t of the topics it has offsets on */
} all_ctx_t;

static void add_group_topic(void *arg, const char *topic)
{
    all_ctx_t *x = arg;
    br_topic_t *tc = br_topics_get(&x->b->topics, topic);
    if (!tc || (x->isOrder && !tc->order) || !br_group_subscribes(x->b, x->group, topic))
        return;
    stats_ctx_t s = {x->b, x->group, topic, lj_new_obj()};
    add_topic_stats(&s, topic);
    for (size_t i = 0; i < s.tab->n; i++)
        x->diff += lj_get_int(s.tab->members[i].val, "brokerOffset", 0) -
                   lj_get_int(s.tab->members[i].val, "consumerOffset", 0);
    lj_val_t *cs = lj_new_obj();
    lj_set(cs, "consumeTps", lj_new_double(br_stats_group_tps(x->b, x->group)));
    lj_set(cs, "offsetTable", s.tab);
    lj_push(x->list, cs);
}

/* The topics each group has offsets on, gathered in one pass over the offset table: asking the
 * table group by group costs groups x offsets, seconds of loop time with 10,000 groups (the
 * console asks for these stats on every page of its group list). */
typedef struct topic_list { size_t n, cap; char **v; } topic_list_t;

static void index_pair(void *arg, const char *topic, const char *group)
{
    cm_map_t *idx = arg;
    topic_list_t *l = cm_map_get(idx, group);
    if (!l && (!(l = calloc(1, sizeof *l)) || cm_map_put(idx, group, l) != 0)) {
        free(l);
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    if ((l->v[l->n] = strdup(topic)) != NULL)
        l->n++;
}

static void free_topic_list(void *p)
{
    topic_list_t *l = p;
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    free(l);
}

static void add_group_stats(const char *group, void *val, void *arg)
{
    (void)val;
    all_ctx_t *x = arg;
    const topic_list_t *l = cm_map_get(x->idx, group);
    x->group = group;
    x->list = lj_new_arr();
    for (size_t i = 0; l && i < l->n; i++)
        add_group_topic(x, l->v[i]);
    lj_val_t *m = lj_new_obj();
    lj_set(m, group, x->list);
    lj_push(x->out, m);
}

void br_handle_get_broker_consume_stats(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *order = rm_ext_get(req, "isOrder");
    cm_map_t idx;
    cm_map_init(&idx);
    br_offsets_pairs(&b->offsets, index_pair, &idx);
    all_ctx_t x = {b, NULL, order && !strcmp(order, "true"), NULL, 0, lj_new_arr(), &idx};
    cm_map_each(&b->groups.map, add_group_stats, &x);
    cm_map_free(&idx, free_topic_list);
    char addr[160];
    snprintf(addr, sizeof addr, "%s:%d", b->cfg.brokerIP1, (int)b->cfg.listenPort);
    lj_val_t *root = lj_new_obj();
    lj_set_str(root, "brokerAddr", addr);
    lj_set(root, "consumeStatsList", x.out);
    lj_set_int(root, "totalDiff", x.diff);
    rm_conn_respond_json(c, req, root, LJ_W_FASTJSON);
}

/* ---- reset offsets -------------------------------------------------------------------------------- */

typedef struct reset_ctx {
    const char *topic, *group;
    int64_t ts;
    int isForce;
    const cm_buf_t *body;
    int told;
} reset_ctx_t;

/* RESET_CONSUMER_CLIENT_OFFSET (220) to one live consumer of the group. */
static void tell_consumer(void *arg, rm_conn_t *conn)
{
    reset_ctx_t *x = arg;
    rm_cmd_t r;
    rm_cmd_init(&r, 220);
    rm_ext_set(&r, "topic", x->topic);
    rm_ext_set(&r, "group", x->group);
    rm_ext_set_i64(&r, "timestamp", x->ts);
    rm_ext_set(&r, "isForce", x->isForce ? "true" : "false");
    r.body = (const uint8_t *)x->body->data;
    r.body_len = x->body->len;
    if (!rm_conn_is_closed(conn) && rm_conn_oneway(conn, &r) == 0)
        x->told++;
    r.body = NULL;
    rm_cmd_free(&r);
}

void br_handle_invoke_broker_to_reset_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *topic = rm_req_str(c, req, "topic");
    const char *group = topic ? rm_req_str(c, req, "group") : NULL;
    int64_t ts;
    if (!group || rm_req_i64(c, req, "timestamp", &ts))
        return;
    const char *force = rm_ext_get(req, "isForce");
    int isForce = !force || strcmp(force, "false") != 0;
    br_topic_t *tc = br_topics_get(&b->topics, topic);
    if (!tc) {
        rm_conn_respond_code(c, req, RC_TOPIC_NOT_EXIST, "[reset offset] topic %s does not exist", topic);
        return;
    }
    lj_val_t *tab = lj_new_obj();
    for (int q = 0; q < tc->readQueueNums; q++) {
        int64_t target = ts < 0 ? st_max_offset(b->store, topic, q) : st_offset_by_time(b->store, topic, q, ts);
        int64_t cur = br_offsets_get(&b->offsets, group, topic, q);
        if (isForce || cur < 0 || target < cur)
            br_offsets_set(&b->offsets, group, topic, q, target);
        else
            target = cur;
        lj_put(tab, br_mq_json(b->cfg.brokerName, topic, q), lj_new_int(target));
    }
    br_offsets_save(&b->offsets);
    lj_val_t *body = lj_new_obj();
    lj_set(body, "offsetTable", tab);
    cm_buf_t out;
    cm_buf_init(&out);
    lj_write(body, LJ_W_FASTJSON, &out);
    /* live consumers move now (they drop the queues and rebalance from the new offsets) */
    reset_ctx_t x = {topic, group, ts, isForce, &out, 0};
    if (b->hooks.each_consumer)
        b->hooks.each_consumer(b, group, tell_consumer, &x);
    LOG_I("broker", "offsets of %s on %s reset to %" PRId64 " (%d live consumer(s) told)", group, topic, ts, x.told);
    cm_buf_free(&out);
    rm_conn_respond_json(c, req, body, LJ_W_FASTJSON);
}

/* ---- statistics for statsAll ---------------------------------------------------------------- */

static lj_val_t *stats_item(br_broker_t *b, int which, const char *key, int w)
{
    int64_t sum = 0;
    double tps = 0, avgpt = 0;
    br_stats_window(b, which, key, w, &sum, &tps, &avgpt);
    lj_val_t *o = lj_new_obj();
    lj_set(o, "avgpt", lj_new_double(avgpt));
    lj_set_int(o, "sum", sum);
    lj_set(o, "tps", lj_new_double(tps));
    return o;
}

void br_handle_view_broker_stats_data(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *name = rm_req_str(c, req, "statsName");
    const char *key = name ? rm_req_str(c, req, "statsKey") : NULL;
    if (!key)
        return;
    int which = strcmp(name, "TOPIC_PUT_NUMS") == 0 ? BR_STAT_TOPIC_PUT : strcmp(name, "GROUP_GET_NUMS") == 0 ? BR_STAT_GROUP_GET : -1;
    int64_t sum;
    double tps;
    if (which < 0 || br_stats_window(b, which, key, 0, &sum, &tps, NULL) != 0) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "The stats <%s> <%s> not exist", name, key);
        return;
    }
    lj_val_t *o = lj_new_obj();
    lj_set(o, "statsDay", stats_item(b, which, key, 2));
    lj_set(o, "statsHour", stats_item(b, which, key, 1));
    lj_set(o, "statsMinute", stats_item(b, which, key, 0));
    rm_conn_respond_json(c, req, o, LJ_W_FASTJSON);
}

typedef struct who_ctx { const char *topic; lj_val_t *list; cm_map_t seen; } who_ctx_t;

static void add_group(who_ctx_t *x, const char *group)
{
    if (!cm_map_get(&x->seen, group) && cm_map_put(&x->seen, group, (void *)1) == 0)
        lj_push(x->list, lj_new_str(group));
}

static void offsets_entry(const char *key, void *val, void *arg)
{
    who_ctx_t *x = arg;
    size_t tl = strlen(x->topic);
    if (strncmp(key, x->topic, tl) == 0 && key[tl] == '@')
        add_group(x, key + tl + 1);
}

static void live_group(void *arg, const char *group) { add_group(arg, group); }

/* QUERY_TOPIC_CONSUME_BY_WHO (300): groups subscribed now or with offsets for the topic. */
void br_handle_query_topic_consume_by_who(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *topic = rm_req_str(c, req, "topic");
    if (!topic)
        return;
    who_ctx_t x = {topic, lj_new_arr()};
    cm_map_init(&x.seen);
    if (b->hooks.each_group_of_topic)
        b->hooks.each_group_of_topic(b, topic, live_group, &x);
    cm_map_each(&b->offsets.map, offsets_entry, &x);
    cm_map_free(&x.seen, NULL);
    lj_val_t *o = lj_new_obj();
    lj_set(o, "groupList", x.list);
    rm_conn_respond_json(c, req, o, LJ_W_FASTJSON);
}
