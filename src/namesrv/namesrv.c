/* mqnamesrv request handlers (RequestCode table below), the broker-expiry timer and config.
 * Answers follow the real 4.9.x name server: codes, remarks, and which JSON dialect each
 * requester gets (quoted map keys only for clients >= V4_9_4). */
#include "namesrv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remoting/remoting.h"
#include "route.h"

#define V4_9_4 401

struct ns_server {
    uv_loop_t *loop;
    ns_config_t cfg;
    ns_routes_t routes;
    rm_endpoint_t ep;
    rm_server_t *srv;
    uv_timer_t scan;
};

/* ---- config ---- */

void ns_config_defaults(ns_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listenAddr, sizeof cfg->listenAddr, "0.0.0.0");
    cfg->listenPort = 9876;
    cfg->maxConnections = 10000;
    const char *home = getenv("HOME");
    snprintf(cfg->kvConfigPath, sizeof cfg->kvConfigPath, "%s/namesrv/kvConfig.json", home ? home : ".");
    cfg->brokerExpireMs = 120000;
    cfg->scanIntervalMs = 10000;
}

int ns_config_set(ns_config_t *cfg, const char *key, const char *val)
{
    int64_t v;
    int b;
    if (strcmp(key, "listenPort") == 0) {
        if (cm_parse_i64(val, &v) || v < 0 || v > 65535)
            return -2;
        cfg->listenPort = (int)v;
    } else if (strcmp(key, "maxConnections") == 0) {
        if (cm_parse_i64(val, &v) || v < 1 || v > (1 << 24))
            return -2;
        cfg->maxConnections = (int)v;
    } else if (strcmp(key, "listenAddr") == 0 || strcmp(key, "bindAddress") == 0) {
        snprintf(cfg->listenAddr, sizeof cfg->listenAddr, "%s", val);
    } else if (strcmp(key, "kvConfigPath") == 0) {
        snprintf(cfg->kvConfigPath, sizeof cfg->kvConfigPath, "%s", val);
    } else if (strcmp(key, "orderMessageEnable") == 0) {
        if (cm_parse_bool(val, &b))
            return -2;
        cfg->orderMessageEnable = b;
    } else if (strcmp(key, "brokerExpireMillis") == 0) {
        if (cm_parse_i64(val, &v) || v < 100)
            return -2;
        cfg->brokerExpireMs = (uint64_t)v;
    } else if (strcmp(key, "scanNotActiveBrokerInterval") == 0) {
        if (cm_parse_i64(val, &v) || v < 100)
            return -2;
        cfg->scanIntervalMs = (uint64_t)v;
    } else {
        return -1;
    }
    return 0;
}

void ns_config_print(const ns_config_t *cfg)
{
    printf("listenAddr=%s\nlistenPort=%d\nkvConfigPath=%s\norderMessageEnable=%s\n"
           "brokerExpireMillis=%llu\nscanNotActiveBrokerInterval=%llu\nmaxConnections=%d\n",
           cfg->listenAddr, cfg->listenPort, cfg->kvConfigPath, cfg->orderMessageEnable ? "true" : "false",
           (unsigned long long)cfg->brokerExpireMs, (unsigned long long)cfg->scanIntervalMs, cfg->maxConnections);
}

/* ---- handlers ---- */

static void h_register_broker(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *name, *addr, *cluster, *ha;
    int64_t id;
    if (!(name = rm_req_str(c, req, "brokerName")) || !(addr = rm_req_str(c, req, "brokerAddr")) ||
        !(cluster = rm_req_str(c, req, "clusterName")) || rm_req_i64(c, req, "brokerId", &id))
        return;
    ha = rm_ext_get(req, "haServerAddr");
    int64_t crc = 0;
    rm_ext_i64(req, "bodyCrc32", &crc);
    if (crc != 0 && crc != cm_crc32(req->body, req->body_len)) {
        LOG_W("namesrv", "register from %s: body crc32 does not match", addr);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "crc32 not match");
        return;
    }
    int compressed = 0;
    rm_ext_bool(req, "compressed", &compressed);
    ns_reg_body_t rb = {0};
    int rc = ns_reg_body_decode(req->body, req->body_len, compressed, req->version, &rb);
    if (rc) {
        ns_reg_body_free(&rb);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "register body of broker %s cannot be decoded", addr);
        return;
    }
    ns_reg_t g = {.cluster = cluster, .addr = addr, .name = name, .ha = ha, .id = id,
                  .dvCounter = rb.dvCounter, .dvTimestamp = rb.dvTimestamp, .topics = rb.topics,
                  .ntopics = rb.n, .connId = rm_conn_id(c), .now = uv_now(ns->loop)};
    const char *master, *masterHa;
    int isnew = ns_routes_live(&ns->routes, addr) == NULL;
    rc = ns_routes_register(&ns->routes, &g, &master, &masterHa);
    ns_reg_body_free(&rb);
    if (rc) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "out of memory");
        return;
    }
    if (isnew)
        LOG_I("namesrv", "new broker registered, %s (%s, %s, id %lld)", addr, name, cluster, (long long)id);
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    if (master) {
        rm_ext_set(&resp, "masterAddr", master);
        rm_ext_set(&resp, "haServerAddr", masterHa);
    }
    lj_val_t *kv = ns_kv_table_json(&ns->routes, "ORDER_TOPIC_CONFIG");
    cm_buf_t b;
    cm_buf_init(&b);
    if (kv && lj_write(kv, LJ_W_FASTJSON, &b) == 0) {
        resp.body = (const uint8_t *)b.data;
        resp.body_len = b.len;
    }
    lj_free(kv);
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
    cm_buf_free(&b);
}

static void h_unregister_broker(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *name, *addr, *cluster;
    int64_t id;
    if (!(name = rm_req_str(c, req, "brokerName")) || !(addr = rm_req_str(c, req, "brokerAddr")) ||
        !(cluster = rm_req_str(c, req, "clusterName")) || rm_req_i64(c, req, "brokerId", &id))
        return;
    LOG_I("namesrv", "broker %s (%s, id %lld) unregistered", addr, name, (long long)id);
    ns_routes_unregister(&ns->routes, cluster, addr, name, id);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static void h_get_route(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *topic = rm_req_str(c, req, "topic");
    if (!topic)
        return;
    const char *order = ns->cfg.orderMessageEnable ? ns_kv_get(&ns->routes, "ORDER_TOPIC_CONFIG", topic) : NULL;
    lj_val_t *route = ns_routes_route_json(&ns->routes, topic, order);
    if (!route) {
        rm_conn_respond_code(c, req, RC_TOPIC_NOT_EXIST,
                             "No topic route info in name server for the topic: %s\n"
                             "See http://rocketmq.apache.org/docs/faq/ for further details.", topic);
        return;
    }
    int standard = 0;
    rm_ext_bool(req, "acceptStandardJsonOnly", &standard);
    /* Clients older than 4.9.4 get fastjson's bare integer keys, as the real server sends. */
    rm_conn_respond_json(c, req, route, standard || req->version >= V4_9_4 ? LJ_W_STRICT : LJ_W_FASTJSON);
}

static void h_cluster_info(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    rm_conn_respond_json(c, req, ns_routes_cluster_json(&ns->routes), LJ_W_FASTJSON);
}

static void topic_list(rm_conn_t *c, rm_cmd_t *req, ns_server_t *ns, int filter)
{
    const char *cluster = NULL;
    if (filter == 1 && !(cluster = rm_req_str(c, req, "cluster")))
        return;
    rm_conn_respond_json(c, req, ns_routes_topic_list_json(&ns->routes, filter, cluster), LJ_W_FASTJSON);
}

static void h_all_topics(rm_conn_t *c, rm_cmd_t *req, void *ctx) { topic_list(c, req, ctx, 0); }
static void h_topics_by_cluster(rm_conn_t *c, rm_cmd_t *req, void *ctx) { topic_list(c, req, ctx, 1); }
static void h_unit_topics(rm_conn_t *c, rm_cmd_t *req, void *ctx) { topic_list(c, req, ctx, 2); }
static void h_unit_sub_topics(rm_conn_t *c, rm_cmd_t *req, void *ctx) { topic_list(c, req, ctx, 3); }
static void h_unit_sub_ununit_topics(rm_conn_t *c, rm_cmd_t *req, void *ctx) { topic_list(c, req, ctx, 4); }
static void h_system_topics(rm_conn_t *c, rm_cmd_t *req, void *ctx) { topic_list(c, req, ctx, 5); }

static void h_delete_topic(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *topic = rm_req_str(c, req, "topic");
    if (!topic)
        return;
    ns_routes_delete_topic(&ns->routes, topic, rm_ext_get(req, "clusterName"));
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static void write_perm(rm_conn_t *c, rm_cmd_t *req, ns_server_t *ns, int wipe)
{
    const char *name = rm_req_str(c, req, "brokerName");
    if (!name)
        return;
    int n = ns_routes_write_perm(&ns->routes, name, wipe);
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_ext_set_i64(&resp, wipe ? "wipeTopicCount" : "addTopicCount", n);
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
}

static void h_wipe_write_perm(rm_conn_t *c, rm_cmd_t *req, void *ctx) { write_perm(c, req, ctx, 1); }
static void h_add_write_perm(rm_conn_t *c, rm_cmd_t *req, void *ctx) { write_perm(c, req, ctx, 0); }

static void h_put_kv(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *n, *k, *v;
    if (!(n = rm_req_str(c, req, "namespace")) || !(k = rm_req_str(c, req, "key")) || !(v = rm_req_str(c, req, "value")))
        return;
    if (ns_kv_put(&ns->routes, n, k, v) || ns_kv_save(&ns->routes, ns->cfg.kvConfigPath)) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "cannot persist KV config to %s", ns->cfg.kvConfigPath);
        return;
    }
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static void h_get_kv(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *n, *k;
    if (!(n = rm_req_str(c, req, "namespace")) || !(k = rm_req_str(c, req, "key")))
        return;
    const char *v = ns_kv_get(&ns->routes, n, k);
    if (!v) {
        rm_conn_respond_code(c, req, RC_QUERY_NOT_FOUND, "No config item, Namespace: %s Key: %s", n, k);
        return;
    }
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_ext_set(&resp, "value", v);
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
}

static void h_delete_kv(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *n, *k;
    if (!(n = rm_req_str(c, req, "namespace")) || !(k = rm_req_str(c, req, "key")))
        return;
    if (ns_kv_delete(&ns->routes, n, k) == 0)
        ns_kv_save(&ns->routes, ns->cfg.kvConfigPath);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static void h_kv_list(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *n = rm_req_str(c, req, "namespace");
    if (!n)
        return;
    lj_val_t *t = ns_kv_table_json(&ns->routes, n);
    if (!t) {
        rm_conn_respond_code(c, req, RC_QUERY_NOT_FOUND, "No config item, Namespace: %s", n);
        return;
    }
    rm_conn_respond_json(c, req, t, LJ_W_FASTJSON);
}

static void h_query_data_version(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *addr = rm_req_str(c, req, "brokerAddr");
    if (!addr)
        return;
    lj_val_t *dv = NULL;
    lj_parse((const char *)req->body, req->body_len, &dv);
    int64_t counter = lj_get_int(dv, "counter", -1), ts = lj_get_int(dv, "timestamp", -1);
    lj_free(dv);
    ns_live_t *l = ns_routes_live(&ns->routes, addr);
    int changed = !l || l->dvCounter != counter || l->dvTimestamp != ts;
    if (l && !changed)
        l->last = uv_now(ns->loop);
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_ext_set(&resp, "changed", changed ? "true" : "false");
    cm_buf_t b;
    cm_buf_init(&b);
    if (l) {
        cm_buf_printf(&b, "{\"counter\":%lld,\"timestamp\":%lld}", (long long)l->dvCounter, (long long)l->dvTimestamp);
        resp.body = (const uint8_t *)b.data;
        resp.body_len = b.len;
    }
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
    cm_buf_free(&b);
}

static void h_get_config(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    cm_buf_t b;
    cm_buf_init(&b);
    cm_buf_printf(&b, "listenPort=%d\nkvConfigPath=%s\norderMessageEnable=%s\n", ns->cfg.listenPort,
                  ns->cfg.kvConfigPath, ns->cfg.orderMessageEnable ? "true" : "false");
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    resp.body = (const uint8_t *)b.data;
    resp.body_len = b.len;
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
    cm_buf_free(&b);
}

/* Runtime config changes are limited to harmless switches: never paths (RocketMQ's
 * remote-config-injection hole came from exactly that). */
static void h_update_config(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    cm_props_t p = {0};
    cm_props_parse(&p, (const char *)req->body, req->body_len);
    for (size_t i = 0; i < p.n; i++) {
        if (strcmp(p.items[i].key, "orderMessageEnable") != 0) {
            rm_conn_respond_code(c, req, RC_NO_PERMISSION, "Can not update config in black list: %s", p.items[i].key);
            cm_props_free(&p);
            return;
        }
    }
    for (size_t i = 0; i < p.n; i++)
        ns_config_set(&ns->cfg, p.items[i].key, p.items[i].val);
    cm_props_free(&p);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static const rm_handler_t k_handlers[] = {
    {100, h_put_kv},
    {101, h_get_kv},
    {102, h_delete_kv},
    {103, h_register_broker},
    {104, h_unregister_broker},
    {105, h_get_route},
    {106, h_cluster_info},
    {205, h_wipe_write_perm},
    {206, h_all_topics},
    {216, h_delete_topic},
    {219, h_kv_list},
    {224, h_topics_by_cluster},
    {304, h_system_topics},
    {311, h_unit_topics},
    {312, h_unit_sub_topics},
    {313, h_unit_sub_ununit_topics},
    {318, h_update_config},
    {319, h_get_config},
    {322, h_query_data_version},
    {327, h_add_write_perm},
};

static void on_conn_close(rm_conn_t *c, void *ctx)
{
    ns_server_t *ns = ctx;
    ns_routes_expire(&ns->routes, rm_conn_id(c), 0);
}

static void on_scan(uv_timer_t *t)
{
    ns_server_t *ns = t->data;
    uint64_t now = uv_now(ns->loop);
    if (now > ns->cfg.brokerExpireMs)
        ns_routes_expire(&ns->routes, 0, now - ns->cfg.brokerExpireMs);
}

int ns_start(uv_loop_t *loop, const ns_config_t *cfg, ns_server_t **out)
{
    ns_server_t *ns = calloc(1, sizeof *ns);
    if (!ns)
        return CM_ENOMEM;
    ns->loop = loop;
    ns->cfg = *cfg;
    if (ns_kv_load(&ns->routes, cfg->kvConfigPath) != 0)
        LOG_W("namesrv", "KV config %s is unreadable; starting with an empty one", cfg->kvConfigPath);
    ns->ep = (rm_endpoint_t){.name = "namesrv", .handlers = k_handlers,
                             .nhandlers = sizeof k_handlers / sizeof k_handlers[0],
                             .on_close = on_conn_close, .ctx = ns, .idle_timeout_ms = 120000};
    int rc = rm_server_start(loop, cfg->listenAddr, cfg->listenPort, &ns->ep, &ns->srv);
    if (rc) {
        ns_routes_free(&ns->routes);
        free(ns);
        return rc;
    }
    uv_timer_init(loop, &ns->scan);
    ns->scan.data = ns;
    uv_timer_start(&ns->scan, on_scan, cfg->scanIntervalMs < 5000 ? cfg->scanIntervalMs : 5000, cfg->scanIntervalMs);
    *out = ns;
    return 0;
}

int ns_port(const ns_server_t *ns) { return rm_server_port(ns->srv); }

static void on_scan_closed(uv_handle_t *h)
{
    ns_server_t *ns = h->data;
    ns_routes_free(&ns->routes);
    free(ns);
}

void ns_stop(ns_server_t *ns)
{
    rm_server_stop(ns->srv);
    uv_close((uv_handle_t *)&ns->scan, on_scan_closed);
}
