/* Live producers and consumers, keyed by group, learned from HEART_BEAT. A consumer group's
 * members are told (NOTIFY_CONSUMER_IDS_CHANGED) when the membership changes, so they
 * rebalance at once instead of waiting for their 20 s timer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "br.h"

#define CLIENT_EXPIRE_MS 120000

void br_sub_free(br_sub_t *s)
{
    free(s->codes);
    s->codes = NULL;
    fl_free(s->sql);
    s->sql = NULL;
    s->ncodes = 0;
}

/* Tag expression: "*" (or empty) = all, else tags separated by "||". */
int br_sub_parse(br_sub_t *s, const char *topic, const char *expr)
{
    memset(s, 0, sizeof *s);
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    snprintf(s->expr, sizeof s->expr, "%s", expr ? expr : "*");
    if (!expr || !*expr || strcmp(expr, "*") == 0) {
        s->all = 1;
        return 0;
    }
    const char *p = expr;
    while (*p) {
        const char *e = strstr(p, "||");
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && (*p == ' ' || *p == '\t')) { p++; n--; }
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
        if (n) {
            int64_t *c = realloc(s->codes, (s->ncodes + 1) * sizeof *c);
            if (!c)
                return CM_ENOMEM;
            s->codes = c;
            s->codes[s->ncodes++] = cm_java_hash(p, n);
        }
        if (!e)
            break;
        p = e + 2;
    }
    if (s->ncodes == 0)
        s->all = 1;
    return 0;
}

int br_sub_parse_typed(br_sub_t *s, const char *topic, const char *expr, const char *type, char *err, size_t errlen)
{
    if (!type || strcmp(type, "TAG") == 0)
        return br_sub_parse(s, topic, expr);
    memset(s, 0, sizeof *s);
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    snprintf(s->expr, sizeof s->expr, "%s", expr ? expr : "");
    if (strcmp(type, "SQL92") != 0) {
        snprintf(err, errlen, "unknown expressionType %s", type);
        return -1;
    }
    s->isSql = 1;
    return fl_compile(expr, &s->sql, err, errlen);
}

int br_sub_match(const br_sub_t *s, int64_t tagsCode)
{
    if (s->all)
        return 1;
    for (size_t i = 0; i < s->ncodes; i++)
        if (s->codes[i] == tagsCode)
            return 1;
    return 0;
}

static void free_client_list(br_client_t *c)
{
    while (c) {
        br_client_t *n = c->next;
        rm_conn_unref(c->conn);
        free(c);
        c = n;
    }
}

static void free_cgroup(void *p)
{
    br_cgroup_t *g = p;
    free_client_list(g->clients);
    for (size_t i = 0; i < g->nsubs; i++)
        br_sub_free(&g->subs[i]);
    free(g->subs);
    free(g);
}

static void free_pgroup(void *p)
{
    br_pgroup_t *g = p;
    free_client_list(g->clients);
    free(g);
}

void br_clients_free(br_clients_t *c)
{
    cm_map_free(&c->consumers, free_cgroup);
    cm_map_free(&c->producers, free_pgroup);
}

br_cgroup_t *br_cgroup_get(br_broker_t *b, const char *group) { return cm_map_get(&b->clients.consumers, group); }

/* Add or refresh a connection in a list; returns 1 when it is new. */
static int upsert_client(br_client_t **list, rm_conn_t *conn, const char *clientId, int lang, int ver, uint64_t now)
{
    for (br_client_t *c = *list; c; c = c->next) {
        if (c->conn == conn) {
            c->lastSeen = now;
            if (strcmp(c->clientId, clientId) != 0) {
                snprintf(c->clientId, sizeof c->clientId, "%s", clientId);
                return 1;
            }
            return 0;
        }
    }
    br_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return 0;
    c->conn = conn;
    rm_conn_ref(conn);
    snprintf(c->clientId, sizeof c->clientId, "%s", clientId);
    c->language = lang;
    c->version = ver;
    c->lastSeen = now;
    c->next = *list;
    *list = c;
    return 1;
}

/* Remove entries matching conn (or clientId when conn is NULL, or expired when deadline > 0). */
static int remove_clients(br_client_t **list, rm_conn_t *conn, const char *clientId, uint64_t deadline)
{
    int removed = 0;
    for (br_client_t **pp = list; *pp;) {
        br_client_t *c = *pp;
        int match = conn ? c->conn == conn : clientId ? strcmp(c->clientId, clientId) == 0 : c->lastSeen < deadline;
        if (match) {
            *pp = c->next;
            rm_conn_unref(c->conn);
            free(c);
            removed++;
        } else {
            pp = &c->next;
        }
    }
    return removed;
}

static void notify_ids_changed(br_broker_t *b, br_cgroup_t *g)
{
    if (!b->cfg.notifyConsumerIdsChangedEnable)
        return;
    for (br_client_t *c = g->clients; c; c = c->next) {
        rm_cmd_t req;
        rm_cmd_init(&req, 40); /* NOTIFY_CONSUMER_IDS_CHANGED, oneway */
        rm_ext_set(&req, "consumerGroup", g->name);
        rm_conn_oneway(c->conn, &req);
        rm_cmd_free(&req);
    }
}

/* Heartbeat enums may arrive as names (Java, ali-ons) or ordinals (C++). */
static const char *enum_name(const lj_val_t *v, const char *const *names, size_t n, const char *dflt)
{
    if (!v)
        return dflt;
    if (v->type == LJ_STR)
        return v->s;
    int64_t i = lj_int(v, -1);
    return i >= 0 && (size_t)i < n ? names[i] : dflt;
}

static const char *const k_consume_type[] = {"CONSUME_ACTIVELY", "CONSUME_PASSIVELY"};
static const char *const k_model[] = {"BROADCASTING", "CLUSTERING"};
static const char *const k_from[] = {"CONSUME_FROM_LAST_OFFSET", "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
                                     "CONSUME_FROM_MIN_OFFSET", "CONSUME_FROM_MAX_OFFSET",
                                     "CONSUME_FROM_FIRST_OFFSET", "CONSUME_FROM_TIMESTAMP"};

/* Replace the group's subscriptions with the heartbeat's; returns 1 if anything changed. */
static int update_subs(br_cgroup_t *g, const lj_val_t *set)
{
    size_t n = set && set->type == LJ_ARR ? set->n : 0;
    br_sub_t *subs = calloc(n ? n : 1, sizeof *subs);
    if (!subs)
        return 0;
    int changed = n != g->nsubs;
    for (size_t i = 0; i < n; i++) {
        const lj_val_t *sd = set->items[i];
        char err[200];
        if (br_sub_parse_typed(&subs[i], lj_get_str(sd, "topic", ""), lj_get_str(sd, "subString", "*"),
                               lj_get_str(sd, "expressionType", "TAG"), err, sizeof err) != 0)
            LOG_W("broker", "group %s: subscription to %s not usable: %s", g->name, subs[i].topic, err);
        subs[i].subVersion = lj_get_int(sd, "subVersion", 0);
        int found = 0;
        for (size_t j = 0; j < g->nsubs; j++)
            if (strcmp(g->subs[j].topic, subs[i].topic) == 0 && strcmp(g->subs[j].expr, subs[i].expr) == 0)
                found = 1;
        changed |= !found;
    }
    for (size_t j = 0; j < g->nsubs; j++)
        br_sub_free(&g->subs[j]);
    free(g->subs);
    g->subs = subs;
    g->nsubs = n;
    return changed;
}

static br_cgroup_t *cgroup_put(br_broker_t *b, const char *name)
{
    br_cgroup_t *g = cm_map_get(&b->clients.consumers, name);
    if (g)
        return g;
    g = calloc(1, sizeof *g);
    if (!g || strlen(name) >= sizeof g->name || cm_map_put(&b->clients.consumers, name, g)) {
        free(g);
        return NULL;
    }
    snprintf(g->name, sizeof g->name, "%s", name);
    return g;
}

static void heartbeat_consumer(br_broker_t *b, rm_conn_t *c, const rm_cmd_t *req, const char *clientId, const lj_val_t *cd)
{
    const char *name = lj_get_str(cd, "groupName", NULL);
    if (!name || !*name)
        return;
    if (!br_groups_get(&b->groups, name)) {
        if (!b->cfg.autoCreateSubscriptionGroup)
            return;
        br_groups_put(&b->groups, name);
        br_groups_save(&b->groups);
    }
    /* The retry topic must exist so that failed messages have somewhere to go. */
    char retry[300];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", name);
    if (!br_topics_get(&b->topics, retry) && strlen(retry) < 128) {
        br_topics_put(&b->topics, retry, 1, 1, PERM_READ | PERM_WRITE, 0);
        br_register_soon(b);
    }
    br_cgroup_t *g = cgroup_put(b, name);
    if (!g)
        return;
    snprintf(g->consumeType, sizeof g->consumeType, "%s", enum_name(lj_get(cd, "consumeType"), k_consume_type, 2, "CONSUME_PASSIVELY"));
    snprintf(g->messageModel, sizeof g->messageModel, "%s", enum_name(lj_get(cd, "messageModel"), k_model, 2, "CLUSTERING"));
    snprintf(g->consumeFromWhere, sizeof g->consumeFromWhere, "%s", enum_name(lj_get(cd, "consumeFromWhere"), k_from, 6, "CONSUME_FROM_LAST_OFFSET"));
    int changed = upsert_client(&g->clients, c, clientId, req->language, req->version, uv_now(b->loop));
    changed |= update_subs(g, lj_get(cd, "subscriptionDataSet"));
    if (changed) {
        LOG_I("broker", "consumer group %s changed: client %s from %s", name, clientId, rm_conn_peer(c));
        notify_ids_changed(b, g);
    }
}

static br_pgroup_t *pgroup_put(br_broker_t *b, const char *name)
{
    br_pgroup_t *g = cm_map_get(&b->clients.producers, name);
    if (g)
        return g;
    g = calloc(1, sizeof *g);
    if (!g || strlen(name) >= sizeof g->name || cm_map_put(&b->clients.producers, name, g)) {
        free(g);
        return NULL;
    }
    snprintf(g->name, sizeof g->name, "%s", name);
    return g;
}

void br_handle_heart_beat(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    lj_val_t *hb = NULL;
    if (lj_parse((const char *)req->body, req->body_len, &hb) != 0 || hb->type != LJ_OBJ) {
        lj_free(hb);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "heartbeat body is not valid HeartbeatData JSON");
        return;
    }
    const char *clientId = lj_get_str(hb, "clientID", "");
    const lj_val_t *cs = lj_get(hb, "consumerDataSet");
    for (size_t i = 0; cs && cs->type == LJ_ARR && i < cs->n; i++)
        heartbeat_consumer(b, c, req, clientId, cs->items[i]);
    const lj_val_t *ps = lj_get(hb, "producerDataSet");
    for (size_t i = 0; ps && ps->type == LJ_ARR && i < ps->n; i++) {
        const char *name = lj_get_str(ps->items[i], "groupName", NULL);
        br_pgroup_t *g = name ? pgroup_put(b, name) : NULL;
        if (g)
            upsert_client(&g->clients, c, clientId, req->language, req->version, uv_now(b->loop));
    }
    lj_free(hb);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static int drop_from_consumers(br_broker_t *b, const char *group, rm_conn_t *conn, const char *clientId, uint64_t deadline)
{
    br_cgroup_t *g = cm_map_get(&b->clients.consumers, group);
    if (!g || !remove_clients(&g->clients, conn, clientId, deadline))
        return 0;
    if (g->clients)
        notify_ids_changed(b, g);
    else
        free_cgroup(cm_map_remove(&b->clients.consumers, group));
    return 1;
}

void br_handle_unregister_client(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *clientId = rm_req_str(c, req, "clientID");
    if (!clientId)
        return;
    const char *pg = rm_ext_get(req, "producerGroup"), *cg = rm_ext_get(req, "consumerGroup");
    if (pg) {
        br_pgroup_t *g = cm_map_get(&b->clients.producers, pg);
        if (g)
            remove_clients(&g->clients, NULL, clientId, 0);
    }
    if (cg)
        drop_from_consumers(b, cg, NULL, clientId, 0);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

typedef struct { char **names; size_t n; } names_t;

static void collect_name(const char *key, void *val, void *arg)
{
    names_t *n = arg;
    char **p = realloc(n->names, (n->n + 1) * sizeof *p);
    if (p) {
        n->names = p;
        n->names[n->n++] = strdup(key);
    }
}

/* Drop a connection (closed) or every client silent since `deadline` from all groups. */
static void drop_everywhere(br_broker_t *b, rm_conn_t *conn, uint64_t deadline)
{
    names_t n = {0};
    cm_map_each(&b->clients.consumers, collect_name, &n);
    for (size_t i = 0; i < n.n; i++) {
        drop_from_consumers(b, n.names[i], conn, NULL, deadline);
        free(n.names[i]);
    }
    free(n.names);
    memset(&n, 0, sizeof n);
    cm_map_each(&b->clients.producers, collect_name, &n);
    for (size_t i = 0; i < n.n; i++) {
        br_pgroup_t *g = cm_map_get(&b->clients.producers, n.names[i]);
        remove_clients(&g->clients, conn, NULL, deadline);
        if (!g->clients)
            free_pgroup(cm_map_remove(&b->clients.producers, n.names[i]));
        free(n.names[i]);
    }
    free(n.names);
}

void br_clients_conn_closed(br_broker_t *b, rm_conn_t *conn) { drop_everywhere(b, conn, 0); }

void br_clients_scan(br_broker_t *b, uint64_t now)
{
    if (now > CLIENT_EXPIRE_MS)
        drop_everywhere(b, NULL, now - CLIENT_EXPIRE_MS);
}

void br_handle_get_consumer_list_by_group(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group = rm_req_str(c, req, "consumerGroup");
    if (!group)
        return;
    br_cgroup_t *g = cm_map_get(&b->clients.consumers, group);
    if (!g || !g->clients) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "no consumer for this group, %s", group);
        return;
    }
    lj_val_t *o = lj_new_obj(), *ids = lj_new_arr();
    for (br_client_t *cl = g->clients; cl; cl = cl->next)
        lj_push(ids, lj_new_str(cl->clientId));
    lj_set(o, "consumerIdList", ids);
    rm_conn_respond_json(c, req, o, LJ_W_FASTJSON);
}

void br_handle_check_client_config(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    lj_val_t *body = NULL;
    lj_parse((const char *)req->body, req->body_len, &body);
    const lj_val_t *sd = lj_get(body, "subscriptionData");
    const char *type = lj_get_str(sd, "expressionType", "TAG");
    int tag = strcmp(type, "TAG") == 0;
    char err[256] = "";
    br_sub_t sub;
    int bad = !tag && b->cfg.enablePropertyFilter &&
              br_sub_parse_typed(&sub, lj_get_str(sd, "topic", ""), lj_get_str(sd, "subString", ""), type, err, sizeof err) != 0;
    if (!tag && b->cfg.enablePropertyFilter)
        br_sub_free(&sub);
    if (!tag && !b->cfg.enablePropertyFilter)
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "The broker does not support consumer to filter message by %s", type);
    else if (bad)
        rm_conn_respond_code(c, req, RC_SUBSCRIPTION_PARSE_FAILED, "the %s expression does not parse: %s", type, err);
    else
        rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
    lj_free(body);
}

static lj_val_t *connection_set(const br_client_t *list)
{
    lj_val_t *a = lj_new_arr();
    for (const br_client_t *cl = list; cl; cl = cl->next) {
        lj_val_t *o = lj_new_obj();
        lj_set_str(o, "clientAddr", rm_conn_peer(cl->conn));
        lj_set_str(o, "clientId", cl->clientId);
        lj_set_str(o, "language", rm_language_name(cl->language));
        lj_set_int(o, "version", cl->version);
        lj_push(a, o);
    }
    return a;
}

void br_handle_get_consumer_connection_list(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group = rm_req_str(c, req, "consumerGroup");
    if (!group)
        return;
    br_cgroup_t *g = cm_map_get(&b->clients.consumers, group);
    if (!g || !g->clients) {
        rm_conn_respond_code(c, req, RC_CONSUMER_NOT_ONLINE, "the consumer group[%s] not online", group);
        return;
    }
    lj_val_t *o = lj_new_obj(), *subs = lj_new_obj();
    lj_set(o, "connectionSet", connection_set(g->clients));
    lj_set_str(o, "consumeFromWhere", g->consumeFromWhere);
    lj_set_str(o, "consumeType", g->consumeType);
    lj_set_str(o, "messageModel", g->messageModel);
    for (size_t i = 0; i < g->nsubs; i++) {
        lj_val_t *sd = lj_new_obj(), *tags = lj_new_arr(), *codes = lj_new_arr();
        lj_set_bool(sd, "classFilterMode", 0);
        for (size_t k = 0; k < g->subs[i].ncodes; k++)
            lj_push(codes, lj_new_int(g->subs[i].codes[k]));
        lj_set(sd, "codeSet", codes);
        lj_set_str(sd, "expressionType", "TAG");
        lj_set_str(sd, "subString", g->subs[i].expr);
        lj_set_int(sd, "subVersion", g->subs[i].subVersion);
        lj_set(sd, "tagsSet", tags);
        lj_set_str(sd, "topic", g->subs[i].topic);
        lj_set(subs, g->subs[i].topic, sd);
    }
    lj_set(o, "subscriptionTable", subs);
    rm_conn_respond_json(c, req, o, LJ_W_FASTJSON);
}

void br_handle_get_producer_connection_list(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group = rm_req_str(c, req, "producerGroup");
    if (!group)
        return;
    br_pgroup_t *g = cm_map_get(&b->clients.producers, group);
    lj_val_t *o = lj_new_obj();
    lj_set(o, "connectionSet", connection_set(g ? g->clients : NULL));
    rm_conn_respond_json(c, req, o, LJ_W_FASTJSON);
}

int br_group_subscribes(br_broker_t *b, const char *group, const char *topic)
{
    br_cgroup_t *cg = br_cgroup_get(b, group);
    if (!cg || cg->nsubs == 0)
        return 1; /* offline: every topic it has offsets on counts */
    for (size_t i = 0; i < cg->nsubs; i++)
        if (!strcmp(cg->subs[i].topic, topic))
            return 1;
    return 0;
}
