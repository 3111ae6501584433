/* Live producers and consumers, keyed by group, learned from HEART_BEAT. A consumer group's
 * members are told (NOTIFY_CONSUMER_IDS_CHANGED) when the membership changes, so they
 * rebalance at once instead of waiting for their 20 s timer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/clients/clients.h"

#define CLIENT_EXPIRE_MS 120000

/* ---- memberships ------------------------------------------------------------------------
 * A membership (br_client_t) sits in three places at once: its group's list and hash (by
 * connection), its connection's chain (br_cconn_t, found by connection), and one list of all
 * memberships in heartbeat order. So a heartbeat, a closed connection, an UNREGISTER_CLIENT and
 * the expiry scan each cost what they remove or refresh, never the number of groups or clients. */

typedef struct br_cconn { br_client_t *first; } br_cconn_t;

static void conn_key(const rm_conn_t *conn, char key[32]) { snprintf(key, 32, "%p", (const void *)conn); }

/* Who a heartbeat comes from: a remoting connection, or a 5.x gRPC client (conn NULL, keyed by
 * its client id; it brings the address and language name admin views show). */
typedef struct hb_who {
    rm_conn_t *conn;
    char key[272];
    const char *addr, *langName;
    int language, version;
} hb_who_t;

static void who_of_conn(hb_who_t *w, rm_conn_t *c, const rm_cmd_t *req)
{
    memset(w, 0, sizeof *w);
    w->conn = c;
    conn_key(c, w->key);
    w->addr = rm_conn_peer(c);
    w->language = req->language;
    w->version = req->version;
}

static void lru_unlink(br_clients_t *cl, br_client_t *m)
{
    if (m->lru_prev)
        m->lru_prev->lru_next = m->lru_next;
    else
        cl->lru_head = m->lru_next;
    if (m->lru_next)
        m->lru_next->lru_prev = m->lru_prev;
    else
        cl->lru_tail = m->lru_prev;
    m->lru_prev = m->lru_next = NULL;
}

/* uv_now never goes back, so appending keeps the list sorted by lastSeen. */
static void lru_append(br_clients_t *cl, br_client_t *m)
{
    m->lru_prev = cl->lru_tail;
    m->lru_next = NULL;
    if (cl->lru_tail)
        cl->lru_tail->lru_next = m;
    else
        cl->lru_head = m;
    cl->lru_tail = m;
}

static br_client_t *member_find(const cm_map_t *members, const rm_conn_t *conn)
{
    char key[32];
    conn_key(conn, key);
    return cm_map_get(members, key);
}

/* A new membership of `w` in a group (list head *list, hash members); NULL without memory. */
static br_client_t *member_add(br_clients_t *cl, br_client_t **list, cm_map_t *members, void *group, int consumer,
                               const hb_who_t *w, const char *clientId, uint64_t now)
{
    const char *key = w->key;
    br_cconn_t *cc = cm_map_get(&cl->conns, key);
    int new_cc = cc == NULL;
    br_client_t *m = calloc(1, sizeof *m);
    if (new_cc && (!(cc = calloc(1, sizeof *cc)) || cm_map_put(&cl->conns, key, cc)))
        goto err;
    if (!m || cm_map_put(members, key, m))
        goto err;
    m->conn = w->conn;
    if (w->conn)
        rm_conn_ref(w->conn);
    snprintf(m->key, sizeof m->key, "%s", key);
    snprintf(m->clientId, sizeof m->clientId, "%s", clientId);
    m->language = w->language;
    m->version = w->version;
    if (w->conn && !consumer)
        ((br_pgroup_t *)group)->nconn++;
    if (!w->conn) {
        snprintf(m->addr, sizeof m->addr, "%s", w->addr ? w->addr : "");
        snprintf(m->langName, sizeof m->langName, "%s", w->langName ? w->langName : "");
    }
    m->lastSeen = now;
    m->group = group;
    m->consumer = consumer;
    if ((m->next = *list) != NULL)
        m->next->pprev = &m->next;
    m->pprev = list;
    *list = m;
    if ((m->conn_next = cc->first) != NULL)
        m->conn_next->conn_pprev = &m->conn_next;
    m->conn_pprev = &cc->first;
    cc->first = m;
    lru_append(cl, m);
    return m;
err:
    if (new_cc && cc) {
        cm_map_remove(&cl->conns, key);
        free(cc);
    }
    free(m);
    return NULL;
}

/* Unlink and free one membership; its group is left for the caller (maybe empty now). */
static void member_remove(br_clients_t *cl, br_client_t *m)
{
    const char *key = m->key;
    cm_map_remove(m->consumer ? &((br_cgroup_t *)m->group)->members : &((br_pgroup_t *)m->group)->members, key);
    if ((*m->pprev = m->next) != NULL)
        m->next->pprev = m->pprev;
    if ((*m->conn_pprev = m->conn_next) != NULL)
        m->conn_next->conn_pprev = m->conn_pprev;
    br_cconn_t *cc = cm_map_get(&cl->conns, key);
    if (cc && !cc->first)
        free(cm_map_remove(&cl->conns, key));
    lru_unlink(cl, m);
    if (m->conn && !m->consumer)
        ((br_pgroup_t *)m->group)->nconn--;
    if (m->conn)
        rm_conn_unref(m->conn);
    free(m);
}

/* Add or refresh w's membership; returns 1 when it is new or its clientId changed. */
static int upsert_client(br_clients_t *cl, br_client_t **list, cm_map_t *members, void *group, int consumer,
                         const hb_who_t *w, const char *clientId, uint64_t now)
{
    br_client_t *m = cm_map_get(members, w->key);
    if (!m)
        return member_add(cl, list, members, group, consumer, w, clientId, now) != NULL;
    m->lastSeen = now;
    lru_unlink(cl, m);
    lru_append(cl, m);
    if (strcmp(m->clientId, clientId) == 0)
        return 0;
    snprintf(m->clientId, sizeof m->clientId, "%s", clientId);
    return 1;
}

static void free_subs(br_sub_t *subs, size_t n, cm_map_t *index)
{
    for (size_t i = 0; i < n; i++)
        br_sub_free(&subs[i]);
    free(subs);
    cm_map_free(index, NULL);
}

/* Groups are freed only when their last member is gone, and never while a removal pass still
 * holds pointers to them: the pass marks them (settle list) and settle_groups ends it. */
static void free_cgroup(br_cgroup_t *g)
{
    free_subs(g->subs, g->nsubs, &g->subIndex);
    cm_map_free(&g->members, NULL);
    free(g);
}

static void free_pgroup(br_pgroup_t *g)
{
    cm_map_free(&g->members, NULL);
    free(g);
}

static void free_cgroup_cb(void *p) { free_cgroup(p); }
static void free_pgroup_cb(void *p) { free_pgroup(p); }

br_cgroup_t *br_cgroup_get(br_broker_t *b, const char *group) { return cm_map_get(&b->clients->consumers, group); }

const br_sub_t *br_cgroup_sub(const br_cgroup_t *g, const char *topic)
{
    uintptr_t i = g ? (uintptr_t)cm_map_get(&g->subIndex, topic) : 0;
    return i ? &g->subs[i - 1] : NULL;
}

/* Fan-out to the group's members: proportional to the members told, as in RocketMQ. */
static void notify_ids_changed(br_broker_t *b, br_cgroup_t *g)
{
    if (!b->cfg.notifyConsumerIdsChangedEnable)
        return;
    for (br_client_t *c = g->clients; c; c = c->next) {
        if (!c->conn)
            continue; /* gRPC clients pop: nothing to rebalance */
        rm_cmd_t req;
        rm_cmd_init(&req, 40); /* NOTIFY_CONSUMER_IDS_CHANGED, oneway */
        rm_ext_set(&req, "consumerGroup", g->name);
        rm_conn_oneway(c->conn, &req);
        rm_cmd_free(&req);
    }
}

/* Remove one membership as part of a pass; consumer groups are settled afterwards, producer
 * groups (nobody to notify) are freed at once when empty. */
static void remove_in_pass(br_broker_t *b, br_client_t *m, br_cgroup_t **settle)
{
    if (m->consumer) {
        br_cgroup_t *g = m->group;
        member_remove(b->clients, m);
        if (!g->settle) {
            g->settle = 1;
            g->settle_next = *settle;
            *settle = g;
        }
        return;
    }
    br_pgroup_t *g = m->group;
    member_remove(b->clients, m);
    if (!g->clients)
        free_pgroup(cm_map_remove(&b->clients->producers, g->name));
}

/* End a removal pass: tell the members left in each touched group once, or drop the group. */
static void settle_groups(br_broker_t *b, br_cgroup_t *g)
{
    while (g) {
        br_cgroup_t *n = g->settle_next;
        g->settle = 0;
        g->settle_next = NULL;
        if (g->clients)
            notify_ids_changed(b, g);
        else
            free_cgroup(cm_map_remove(&b->clients->consumers, g->name));
        g = n;
    }
}

/* ---- HEART_BEAT ----------------------------------------------------------------------------- */

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

static size_t arr_len(const lj_val_t *v) { return v && v->type == LJ_ARR ? v->n : 0; }

/* One subscriptionDataSet into c->subs, one entry per topic (a later duplicate replaces an
 * earlier one, as RocketMQ's topic-keyed table does). Unusable expressions are kept (a pull
 * then gets SUBSCRIPTION_PARSE_FAILED) and counted in hb. */
static int decode_subs(br_heartbeat_t *hb, br_hb_consumer_t *c, const lj_val_t *set)
{
    size_t n = arr_len(set);
    if (n && !(c->subs = calloc(n, sizeof *c->subs)))
        return CM_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const lj_val_t *sd = set->items[i];
        br_sub_t s;
        char err[200];
        if (br_sub_parse_typed(&s, lj_get_str(sd, "topic", ""), lj_get_str(sd, "subString", "*"),
                               lj_get_str(sd, "expressionType", "TAG"), err, sizeof err) != 0 && hb->badSubs++ == 0)
            snprintf(hb->firstBad, sizeof hb->firstBad, "group %s, topic %s: %s", c->groupName, s.topic, err);
        s.subVersion = lj_get_int(sd, "subVersion", 0);
        uintptr_t at = (uintptr_t)cm_map_get(&c->subIndex, s.topic);
        if (at) {
            br_sub_free(&c->subs[at - 1]);
            c->subs[at - 1] = s;
        } else if (cm_map_put(&c->subIndex, s.topic, (void *)(uintptr_t)(c->nsubs + 1)) == 0) {
            c->subs[c->nsubs++] = s;
        } else {
            br_sub_free(&s);
            return CM_ENOMEM;
        }
    }
    return 0;
}

/* Checks the limits before building anything, so a huge body costs one parse, not its subs. */
static int check_limits(const lj_val_t *cs, const lj_val_t *ps, char *err, size_t errlen)
{
    size_t nsubs = 0;
    if (arr_len(cs) > BR_HB_MAX_GROUPS || arr_len(ps) > BR_HB_MAX_GROUPS) {
        snprintf(err, errlen, "heartbeat has %zu consumer and %zu producer groups, at most %d each", arr_len(cs),
                 arr_len(ps), BR_HB_MAX_GROUPS);
        return -1;
    }
    for (size_t i = 0; i < arr_len(cs); i++)
        nsubs += arr_len(lj_get(cs->items[i], "subscriptionDataSet"));
    if (nsubs > BR_HB_MAX_SUBS) {
        snprintf(err, errlen, "heartbeat has %zu subscriptions, at most %d", nsubs, BR_HB_MAX_SUBS);
        return -1;
    }
    return 0;
}

/* A group name a heartbeat may not register (it would become %RETRY% topics, file entries and
 * metric labels): -1 with the reason in err. */
static int bad_group(const char *name, char *err, size_t errlen)
{
    const char *why = br_group_name_error(name);
    if (!why)
        return 0;
    snprintf(err, errlen, "heartbeat refused: group [%.64s]: %s", name, why);
    return -1;
}

int br_heartbeat_decode(const void *body, size_t len, br_heartbeat_t *hb, char *err, size_t errlen)
{
    lj_val_t *v = NULL;
    memset(hb, 0, sizeof *hb);
    if (lj_parse(body, len, &v) != 0 || v->type != LJ_OBJ) {
        snprintf(err, errlen, "heartbeat body is not valid HeartbeatData JSON");
        goto err;
    }
    const lj_val_t *cs = lj_get(v, "consumerDataSet"), *ps = lj_get(v, "producerDataSet");
    if (check_limits(cs, ps, err, errlen) != 0)
        goto err;
    snprintf(hb->clientID, sizeof hb->clientID, "%s", lj_get_str(v, "clientID", ""));
    if ((arr_len(cs) && !(hb->consumers = calloc(arr_len(cs), sizeof *hb->consumers))) ||
        (arr_len(ps) && !(hb->producers = calloc(arr_len(ps), sizeof *hb->producers))))
        goto nomem;
    for (size_t i = 0; i < arr_len(cs); i++) {
        const lj_val_t *cd = cs->items[i];
        const char *name = lj_get_str(cd, "groupName", "");
        br_hb_consumer_t *c = &hb->consumers[hb->nconsumers];
        if (!*name)
            continue; /* no group to join, as before: ignored */
        if (bad_group(name, err, errlen))
            goto err;
        hb->nconsumers++;
        snprintf(c->groupName, sizeof c->groupName, "%s", name);
        snprintf(c->consumeType, sizeof c->consumeType, "%s", enum_name(lj_get(cd, "consumeType"), k_consume_type, 2, "CONSUME_PASSIVELY"));
        snprintf(c->messageModel, sizeof c->messageModel, "%s", enum_name(lj_get(cd, "messageModel"), k_model, 2, "CLUSTERING"));
        snprintf(c->consumeFromWhere, sizeof c->consumeFromWhere, "%s",
                 enum_name(lj_get(cd, "consumeFromWhere"), k_from, 6, "CONSUME_FROM_LAST_OFFSET"));
        if (decode_subs(hb, c, lj_get(cd, "subscriptionDataSet")) != 0)
            goto nomem;
    }
    for (size_t i = 0; i < arr_len(ps); i++) {
        const char *name = lj_get_str(ps->items[i], "groupName", "");
        if (*name && bad_group(name, err, errlen))
            goto err;
        if (*name)
            snprintf(hb->producers[hb->nproducers++], sizeof hb->producers[0], "%s", name);
    }
    lj_free(v);
    return 0;
nomem:
    snprintf(err, errlen, "out of memory decoding the heartbeat");
err:
    lj_free(v);
    return -1;
}

void br_heartbeat_free(br_heartbeat_t *hb)
{
    for (size_t i = 0; i < hb->nconsumers; i++)
        free_subs(hb->consumers[i].subs, hb->consumers[i].nsubs, &hb->consumers[i].subIndex);
    free(hb->consumers);
    free(hb->producers);
    memset(hb, 0, sizeof *hb);
}

/* Take the heartbeat's subscriptions for the group (hashed compare, then a swap of ownership);
 * returns 1 if any topic or expression changed. */
static int update_subs(br_cgroup_t *g, br_hb_consumer_t *hc)
{
    int changed = hc->nsubs != g->nsubs;
    for (size_t i = 0; i < hc->nsubs && !changed; i++) {
        const br_sub_t *old = br_cgroup_sub(g, hc->subs[i].topic);
        changed = !old || strcmp(old->expr, hc->subs[i].expr) != 0;
    }
    free_subs(g->subs, g->nsubs, &g->subIndex);
    g->subs = hc->subs;
    g->nsubs = hc->nsubs;
    g->subIndex = hc->subIndex;
    hc->subs = NULL;
    hc->nsubs = 0;
    memset(&hc->subIndex, 0, sizeof hc->subIndex);
    return changed;
}

static br_cgroup_t *cgroup_put(br_broker_t *b, const char *name)
{
    br_cgroup_t *g = cm_map_get(&b->clients->consumers, name);
    if (g)
        return g;
    g = calloc(1, sizeof *g);
    if (!g || strlen(name) >= sizeof g->name || cm_map_put(&b->clients->consumers, name, g)) {
        free(g);
        return NULL;
    }
    snprintf(g->name, sizeof g->name, "%s", name);
    return g;
}

/* Returns 1 when the subscription group table gained the group (the caller saves it once). */
static int heartbeat_consumer(br_broker_t *b, const hb_who_t *w, const char *clientId, br_hb_consumer_t *hc)
{
    const char *name = hc->groupName;
    int created = 0;
    br_group_t *cfg = br_groups_get(&b->groups, name);
    if (!cfg) {
        if (!b->cfg.autoCreateSubscriptionGroup)
            return 0;
        cfg = br_groups_put(&b->groups, name);
        created = cfg != NULL;
    }
    /* The retry topic must exist so that failed messages have somewhere to go, and be routed
     * (registered at once): admin tools read a group's lag and clients through its route. Its
     * queues are the group's retryQueueNums, as RocketMQ's heartbeat creates it. */
    char retry[300];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", name);
    if (!br_topics_get(&b->topics, retry) && strlen(retry) < 128) {
        int nq = cfg && cfg->retryQueueNums > 0 && cfg->retryQueueNums <= 1024 ? cfg->retryQueueNums : 1;
        br_topics_put(&b->topics, retry, nq, nq, PERM_READ | PERM_WRITE, 0);
        br_register_soon(b);
    }
    br_cgroup_t *g = cgroup_put(b, name);
    if (!g)
        return created;
    snprintf(g->consumeType, sizeof g->consumeType, "%s", hc->consumeType);
    snprintf(g->messageModel, sizeof g->messageModel, "%s", hc->messageModel);
    snprintf(g->consumeFromWhere, sizeof g->consumeFromWhere, "%s", hc->consumeFromWhere);
    int changed = upsert_client(b->clients, &g->clients, &g->members, g, 1, w, clientId, uv_now(b->loop));
    changed |= update_subs(g, hc);
    if (!g->clients) { /* no memory for the membership: do not keep an empty group */
        free_cgroup(cm_map_remove(&b->clients->consumers, name));
        return created;
    }
    if (changed) {
        LOG_I("broker", "consumer group %s changed: client %s from %s", name, clientId, w->addr);
        notify_ids_changed(b, g);
    }
    return created;
}

static br_pgroup_t *pgroup_put(br_broker_t *b, const char *name)
{
    br_pgroup_t *g = cm_map_get(&b->clients->producers, name);
    if (g)
        return g;
    g = calloc(1, sizeof *g);
    if (!g || strlen(name) >= sizeof g->name || cm_map_put(&b->clients->producers, name, g)) {
        free(g);
        return NULL;
    }
    snprintf(g->name, sizeof g->name, "%s", name);
    return g;
}

static void heartbeat_apply(br_broker_t *b, const hb_who_t *w, br_heartbeat_t *hb)
{
    if (hb->badSubs)
        LOG_W("broker", "client %s: %zu subscriptions not usable, first: %s", hb->clientID, hb->badSubs, hb->firstBad);
    int groups_added = 0;
    for (size_t i = 0; i < hb->nconsumers; i++)
        groups_added |= heartbeat_consumer(b, w, hb->clientID, &hb->consumers[i]);
    if (groups_added)
        br_groups_save(&b->groups); /* once per heartbeat, not once per new group */
    for (size_t i = 0; i < hb->nproducers; i++) {
        br_pgroup_t *g = pgroup_put(b, hb->producers[i]);
        if (!g)
            continue;
        upsert_client(b->clients, &g->clients, &g->members, g, 0, w, hb->clientID, uv_now(b->loop));
        if (!g->clients)
            free_pgroup(cm_map_remove(&b->clients->producers, g->name));
    }
}

/* Access control of a decoded heartbeat (acl spec §1.6): SUB on every consumer group and every
 * subscribed topic. 0 to apply it, else it has been answered (refused). */
static int heartbeat_acl(br_broker_t *b, rm_conn_t *c, const rm_cmd_t *req, const char *ak, const br_heartbeat_t *hb)
{
    if (!b->hooks.acl_subscribe || hb->nconsumers == 0)
        return 0; /* a producer-only heartbeat needs nothing */
    size_t nt = 0;
    for (size_t i = 0; i < hb->nconsumers; i++)
        nt += hb->consumers[i].nsubs;
    const char **names = malloc((hb->nconsumers + nt) * sizeof *names);
    char msg[512];
    const char *why = "out of memory checking the heartbeat";
    if (names) {
        size_t k = hb->nconsumers;
        for (size_t i = 0; i < hb->nconsumers; i++) {
            names[i] = hb->consumers[i].groupName;
            for (size_t j = 0; j < hb->consumers[i].nsubs; j++)
                names[k++] = hb->consumers[i].subs[j].topic;
        }
        why = br_acl_subscribe(b, c, ak, names, hb->nconsumers, names + hb->nconsumers, nt, msg, sizeof msg);
        free(names);
    }
    if (!why)
        return 0;
    rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, BR_ACL_REMARK_PREFIX "%s", why);
    return 1;
}

/* Large heartbeats (a 40k-subscription body is 6 MB of JSON: 0.3 s to parse, several seconds
 * under the sanitizers) are decoded on libuv's thread pool, which br_heartbeat_decode allows
 * since it touches no broker state; the loop only swaps the result in. Jobs run one at a time
 * in arrival order, and while any is queued every heartbeat queues behind it, so a client's
 * heartbeats are applied in the order it sent them. At most HB_ASYNC_MAX large ones wait;
 * more are refused with SYSTEM_BUSY (memory stays bounded). Real clients' heartbeats are
 * under 1 KiB and are handled at once, as before. */
#define HB_ASYNC_BYTES (64 * 1024)
#define HB_ASYNC_MAX 4

typedef struct br_hb_job {
    uv_work_t work;
    br_broker_t *b;             /* NULL once the broker is gone: the job only frees itself */
    rm_conn_t *conn;
    rm_cmd_t req;               /* the request's header fields, for the answer */
    uint8_t *body;
    size_t len;
    int big, rc;
    br_heartbeat_t hb;
    char err[256];
    char *ak;                   /* the request's AccessKey (access control), NULL if none */
    struct br_hb_job *next;
} br_hb_job_t;

static void hb_work(uv_work_t *w)
{
    br_hb_job_t *j = w->data;
    j->rc = br_heartbeat_decode(j->body, j->len, &j->hb, j->err, sizeof j->err);
    free(j->body); /* the JSON is not needed any more; free it off the loop too */
    j->body = NULL;
}

static void hb_after(uv_work_t *w, int status);

static void hb_start_next(br_clients_t *cl)
{
    br_hb_job_t *j = cl->hb_head;
    if (j && uv_queue_work(j->b->loop, &j->work, hb_work, hb_after) != 0)
        hb_after(&j->work, UV_ECANCELED);
}

static void hb_after(uv_work_t *w, int status)
{
    br_hb_job_t *j = w->data;
    br_broker_t *b = j->b;
    if (b) {
        if (status != 0)
            rm_conn_respond_code(j->conn, &j->req, RC_SYSTEM_ERROR, "heartbeat not processed");
        else if (j->rc != 0)
            rm_conn_respond_code(j->conn, &j->req, RC_SYSTEM_ERROR, "%s", j->err);
        else if (!rm_conn_is_closed(j->conn) && !b->stopping && /* a closed client has left already */
                 heartbeat_acl(b, j->conn, &j->req, j->ak, &j->hb) == 0) {
            hb_who_t w;
            who_of_conn(&w, j->conn, &j->req);
            heartbeat_apply(b, &w, &j->hb);
            rm_conn_respond_code(j->conn, &j->req, RC_SUCCESS, NULL);
        }
        b->clients->hb_head = j->next;
        if (!j->next)
            b->clients->hb_tail = NULL;
        b->clients->hb_big -= j->big;
    }
    br_heartbeat_free(&j->hb);
    free(j->body);
    free(j->ak);
    rm_conn_unref(j->conn);
    free(j);
    if (b)
        hb_start_next(b->clients);
}

static int heartbeat_queue(br_broker_t *b, rm_conn_t *c, const rm_cmd_t *req)
{
    br_clients_t *cl = b->clients;
    int big = req->body_len > HB_ASYNC_BYTES;
    if (big && cl->hb_big >= HB_ASYNC_MAX) {
        rm_conn_respond_code(c, req, RC_SYSTEM_BUSY, "too many large heartbeats in progress (%d), try again later", HB_ASYNC_MAX);
        return 0;
    }
    br_hb_job_t *j = calloc(1, sizeof *j);
    if (!j || (req->body_len && !(j->body = malloc(req->body_len)))) {
        free(j);
        return -1;
    }
    const char *ak = rm_ext_get(req, "AccessKey");
    if (ak && !(j->ak = strdup(ak))) {
        free(j->body);
        free(j);
        return -1;
    }
    memcpy(j->body, req->body, req->body_len);
    j->len = req->body_len;
    j->work.data = j;
    j->b = b;
    j->conn = c;
    rm_conn_ref(c);
    rm_cmd_init_header_of(&j->req, req);
    j->big = big;
    cl->hb_big += big;
    int idle = cl->hb_head == NULL;
    if (cl->hb_tail)
        cl->hb_tail->next = j;
    else
        cl->hb_head = j;
    cl->hb_tail = j;
    if (idle)
        hb_start_next(cl);
    return 0;
}

void br_handle_heart_beat(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    if ((req->body_len > HB_ASYNC_BYTES || b->clients->hb_head) && heartbeat_queue(b, c, req) == 0)
        return;
    br_heartbeat_t hb;
    char err[256];
    if (br_heartbeat_decode(req->body, req->body_len, &hb, err, sizeof err) != 0) {
        br_heartbeat_free(&hb);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "%s", err);
        return;
    }
    if (heartbeat_acl(b, c, req, rm_ext_get(req, "AccessKey"), &hb) == 0) {
        hb_who_t w;
        who_of_conn(&w, c, req);
        heartbeat_apply(b, &w, &hb);
        rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
    }
    br_heartbeat_free(&hb);
}

void br_clients_free(br_clients_t *c)
{
    br_hb_job_t *j = c->hb_head;
    if (j) {
        j->b = NULL; /* on the thread pool: it frees itself when it ends */
        j = j->next;
    }
    while (j) { /* never started */
        br_hb_job_t *n = j->next;
        free(j->body);
        free(j->ak);
        rm_conn_unref(j->conn);
        free(j);
        j = n;
    }
    c->hb_head = c->hb_tail = NULL;
    while (c->lru_head)
        member_remove(c, c->lru_head);
    cm_map_free(&c->consumers, free_cgroup_cb);
    cm_map_free(&c->producers, free_pgroup_cb);
    cm_map_free(&c->conns, free);
}

/* ---- leaving ------------------------------------------------------------------------------- */

/* RocketMQ removes the requesting channel's membership (unregisterChannel keys by channel);
 * clientID only names it in the log. */
void br_handle_unregister_client(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *clientId = rm_req_str(c, req, "clientID");
    if (!clientId)
        return;
    const char *pg = rm_ext_get(req, "producerGroup"), *cg = rm_ext_get(req, "consumerGroup");
    br_cgroup_t *settle = NULL;
    br_pgroup_t *p = pg ? cm_map_get(&b->clients->producers, pg) : NULL;
    br_client_t *m = p ? member_find(&p->members, c) : NULL;
    if (m)
        remove_in_pass(b, m, &settle);
    br_cgroup_t *g = cg ? cm_map_get(&b->clients->consumers, cg) : NULL;
    if (g && (m = member_find(&g->members, c)) != NULL) {
        LOG_I("broker", "client %s left consumer group %s", clientId, cg);
        remove_in_pass(b, m, &settle);
    }
    settle_groups(b, settle);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

/* A closed connection (or a gone gRPC client) leaves every group it was in: its own chain, not a
 * walk of all groups. */
static void leave_all(br_broker_t *b, const char *key)
{
    br_cconn_t *cc = cm_map_get(&b->clients->conns, key);
    br_cgroup_t *settle = NULL;
    while (cc && cc->first) {
        br_client_t *m = cc->first;
        int last = m->conn_next == NULL; /* removing the last one frees cc */
        remove_in_pass(b, m, &settle);
        if (last)
            break;
    }
    settle_groups(b, settle);
}

void br_clients_conn_closed(br_broker_t *b, rm_conn_t *conn)
{
    char key[32];
    conn_key(conn, key);
    leave_all(b, key);
}

/* A 5.x gRPC client's settings or heartbeat, as the HeartbeatData its proxy would have sent (spec
 * grpc-5x.md 3.3: consumers in their group, producers under each topic they publish to), so
 * consumerConnection and producerConnection list it. Bodies are small: the gRPC side caps
 * topics and subscriptions (BR_HB_MAX_GROUPS). Access control is the gRPC side's. */
void br_clients_vclient_beat(br_broker_t *b, const char *key, const char *addr, const char *language, int version,
                             const char *body, size_t len)
{
    hb_who_t w;
    memset(&w, 0, sizeof w);
    snprintf(w.key, sizeof w.key, "grpc:%s", key);
    if (!body) {
        leave_all(b, w.key);
        return;
    }
    br_heartbeat_t hb;
    char err[256];
    if (br_heartbeat_decode(body, len, &hb, err, sizeof err) != 0) {
        LOG_W("broker", "gRPC client %s not registered: %s", key, err);
    } else {
        w.addr = addr;
        w.langName = language;
        w.language = 7; /* OTHER: langName is what admin views show */
        w.version = version;
        heartbeat_apply(b, &w, &hb);
    }
    br_heartbeat_free(&hb);
}

/* Every 10 s: memberships silent for CLIENT_EXPIRE_MS, oldest first, so the scan stops at the
 * first one still alive instead of visiting every client. */
void br_clients_scan(br_broker_t *b, uint64_t now)
{
    br_cgroup_t *settle = NULL;
    while (now > CLIENT_EXPIRE_MS && b->clients->lru_head && b->clients->lru_head->lastSeen < now - CLIENT_EXPIRE_MS) {
        br_client_t *m = b->clients->lru_head;
        LOG_I("broker", "client %s expired (no heartbeat for %d s)", m->clientId, CLIENT_EXPIRE_MS / 1000);
        remove_in_pass(b, m, &settle);
    }
    settle_groups(b, settle);
}

void br_handle_get_consumer_list_by_group(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group = rm_req_str(c, req, "consumerGroup");
    if (!group)
        return;
    br_cgroup_t *g = cm_map_get(&b->clients->consumers, group);
    if (!g || !g->clients) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "no consumer for this group, %s", group);
        return;
    }
    lj_val_t *o = lj_new_obj(), *ids = lj_new_arr();
    for (br_client_t *cl = g->clients; cl; cl = cl->next)
        if (cl->conn) /* 4.x consumers rebalance among themselves; gRPC ones pop */
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
        lj_set_str(o, "clientAddr", cl->conn ? rm_conn_peer(cl->conn) : cl->addr);
        lj_set_str(o, "clientId", cl->clientId);
        lj_set_str(o, "language", cl->langName[0] ? cl->langName : rm_language_name(cl->language));
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
    br_cgroup_t *g = cm_map_get(&b->clients->consumers, group);
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
        lj_put(subs, lj_new_str(g->subs[i].topic), sd); /* topics are unique: no lj_set search */
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
    br_pgroup_t *g = cm_map_get(&b->clients->producers, group);
    if (!g || !g->clients) { /* as RocketMQ: a group with no live producer is an error, not an empty set */
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "the producer group[%s] not exist", group);
        return;
    }
    lj_val_t *o = lj_new_obj();
    lj_set(o, "connectionSet", connection_set(g->clients));
    rm_conn_respond_json(c, req, o, LJ_W_FASTJSON);
}

static int group_subscribes(br_broker_t *b, const char *group, const char *topic)
{
    br_cgroup_t *cg = br_cgroup_get(b, group);
    if (!cg || cg->nsubs == 0)
        return 1; /* offline: every topic it has offsets on counts */
    return br_cgroup_sub(cg, topic) != NULL;
}

/* ---- the subsystem ---- */

static const br_sub_t *find_sub(br_broker_t *b, const char *group, const char *topic)
{
    return br_cgroup_sub(br_cgroup_get(b, group), topic);
}

static void each_consumer(br_broker_t *b, const char *group, void (*fn)(void *arg, rm_conn_t *conn), void *arg)
{
    br_cgroup_t *cg = br_cgroup_get(b, group);
    for (br_client_t *cl = cg ? cg->clients : NULL; cl; cl = cl->next)
        if (cl->conn)
            fn(arg, cl->conn);
}

typedef struct of_topic { const char *topic; void (*fn)(void *arg, const char *group); void *arg; } of_topic_t;

static void group_of_topic(const char *key, void *val, void *arg)
{
    of_topic_t *x = arg;
    const br_cgroup_t *g = val;
    for (size_t i = 0; i < g->nsubs; i++)
        if (strcmp(g->subs[i].topic, x->topic) == 0)
            x->fn(x->arg, key);
}

static void each_group_of_topic(br_broker_t *b, const char *topic, void (*fn)(void *arg, const char *group), void *arg)
{
    of_topic_t x = {topic, fn, arg};
    cm_map_each(&b->clients->consumers, group_of_topic, &x);
}

static rm_conn_t *producer_conn(br_broker_t *b, const char *group)
{
    br_pgroup_t *g = cm_map_get(&b->clients->producers, group);
    if (g && !g->nconn)
        return NULL; /* only gRPC producers (a topic's): no walk over them per check */
    for (br_client_t *cl = g ? g->clients : NULL; cl; cl = cl->next)
        if (cl->conn && !rm_conn_is_closed(cl->conn)) /* gRPC producers: trans_check_remote */
            return cl->conn;
    return NULL;
}

static void on_scan(uv_timer_t *t)
{
    br_broker_t *b = t->data;
    br_clients_scan(b, uv_now(b->loop));
}

static int clients_start(br_broker_t *b)
{
    if (!(b->clients = calloc(1, sizeof *b->clients)))
        return -1;
    b->hooks.conn_closed = br_clients_conn_closed;
    b->hooks.find_sub = find_sub;
    b->hooks.group_subscribes = group_subscribes;
    b->hooks.each_consumer = each_consumer;
    b->hooks.producer_conn = producer_conn;
    b->hooks.vclient_beat = br_clients_vclient_beat;
    b->hooks.each_group_of_topic = each_group_of_topic;
    uv_timer_init(b->loop, &b->clients->scan);
    b->clients->scan.data = b;
    uv_timer_start(&b->clients->scan, on_scan, 10000, 10000);
    return 0;
}

static int clients_stop(br_broker_t *b, uv_close_cb cb)
{
    uv_close((uv_handle_t *)&b->clients->scan, cb);
    return 1;
}

static void clients_release(br_broker_t *b)
{
    br_clients_free(b->clients);
    br_locks_free(b->clients);
    free(b->clients);
    b->clients = NULL;
}

static const rm_handler_t k_handlers[] = {
    {34, br_handle_heart_beat},
    {35, br_handle_unregister_client},
    {38, br_handle_get_consumer_list_by_group},
    {41, br_handle_lock_batch_mq},
    {42, br_handle_unlock_batch_mq},
    {46, br_handle_check_client_config},
    {203, br_handle_get_consumer_connection_list},
    {204, br_handle_get_producer_connection_list},
    {307, br_handle_relay_to_consumer},
    {309, br_handle_relay_to_consumer},
};

const br_subsys_t br_clients_subsys = {"clients", clients_start, clients_stop, clients_release, k_handlers,
                                       sizeof k_handlers / sizeof k_handlers[0], 0};
