/* The name server's route table and KV config, and the REGISTER_BROKER body decoder.
 * Topics, brokers, clusters, live brokers and KV namespaces are hash maps (cm_map_t), so a
 * request costs what it touches: a registration is linear in the topics it carries, a route
 * lookup is constant, a topic list is linear in its answer. Registration rebuilds a broker's
 * queue data only when its data version changes, as RocketMQ does. Loop thread only, except
 * the body decoder at the end, which touches nothing shared. */
#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define SYS_TOPIC_UNIT 1
#define SYS_TOPIC_UNIT_SUB 2
#define PERM_READ 4
#define PERM_WRITE 2
#define V3_0_11 37
#define MAX_INFLATED (64u * 1024 * 1024)

/* Append a zeroed element to a growable array. */
static void *grow(void **arr, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        void *p = realloc(*arr, c * size);
        if (!p)
            return NULL;
        *arr = p;
        *cap = c;
    }
    void *slot = (char *)*arr + (*n)++ * size;
    memset(slot, 0, size);
    return slot;
}
#define GROW(arr, n, cap) grow((void **)&(arr), &(n), &(cap), sizeof *(arr))

static void remove_at(void *arr, size_t *n, size_t i, size_t size)
{
    memmove((char *)arr + i * size, (char *)arr + (i + 1) * size, (*n - i - 1) * size);
    (*n)--;
}

static ns_topic_t *find_topic(const ns_routes_t *r, const char *name) { return cm_map_get(&r->topics, name); }
static ns_broker_t *find_broker(const ns_routes_t *r, const char *name) { return cm_map_get(&r->brokers, name); }
static ns_cluster_t *find_cluster(const ns_routes_t *r, const char *name) { return cm_map_get(&r->clusters, name); }
ns_live_t *ns_routes_live(const ns_routes_t *r, const char *addr) { return cm_map_get(&r->live, addr); }

static void free_topic(void *p)
{
    ns_topic_t *t = p;
    for (size_t i = 0; i < t->nq; i++)
        free(t->q[i].brokerName);
    free(t->q);
    free(t->name);
    free(t);
}

static void free_broker(void *p)
{
    ns_broker_t *b = p;
    for (size_t i = 0; i < b->n; i++)
        free(b->addrs[i].addr);
    free(b->addrs);
    free(b->name);
    free(b->cluster);
    free(b);
}

static void free_cluster(void *p)
{
    ns_cluster_t *c = p;
    for (size_t j = 0; j < c->n; j++)
        free(c->brokers[j]);
    free(c->brokers);
    free(c->name);
    free(c);
}

static void free_live(void *p)
{
    ns_live_t *l = p;
    free(l->addr);
    free(l->ha);
    free(l->cluster);
    free(l->brokerName);
    free(l);
}

static void free_kv_ns(void *p)
{
    cm_map_free(p, free);
    free(p);
}

void ns_routes_free(ns_routes_t *r)
{
    cm_map_free(&r->topics, free_topic); /* the list holds the same topics */
    cm_map_free(&r->brokers, free_broker);
    cm_map_free(&r->clusters, free_cluster);
    cm_map_free(&r->live, free_live);
    cm_map_free(&r->kv, free_kv_ns);
    memset(r, 0, sizeof *r);
}

/* A new, empty topic, hashed and linked last. */
static ns_topic_t *add_topic(ns_routes_t *r, const char *name)
{
    ns_topic_t *t = calloc(1, sizeof *t);
    if (!t || !(t->name = cm_strdup(name)) || cm_map_put(&r->topics, name, t)) {
        if (t)
            free(t->name);
        free(t);
        return NULL;
    }
    t->prev = r->last;
    if (r->last)
        r->last->next = t;
    else
        r->first = t;
    r->last = t;
    return t;
}

static void remove_topic(ns_routes_t *r, ns_topic_t *t)
{
    if (r->prune_at == t)
        r->prune_at = t->next;
    cm_map_remove(&r->topics, t->name);
    if (t->prev)
        t->prev->next = t->next;
    else
        r->first = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        r->last = t->prev;
    free_topic(t);
}

/* Set the queue data of (topic, brokerName). */
static int put_queue_data(ns_routes_t *r, const ns_topic_conf_t *tc, const char *brokerName, uint32_t gen)
{
    ns_topic_t *t = find_topic(r, tc->name);
    if (!t && !(t = add_topic(r, tc->name)))
        return CM_ENOMEM;
    ns_qdata_t *q = NULL;
    for (size_t i = 0; i < t->nq && !q; i++) /* one entry per broker name: tens at most */
        if (strcmp(t->q[i].brokerName, brokerName) == 0)
            q = &t->q[i];
    if (!q) {
        q = GROW(t->q, t->nq, t->capq);
        if (!q || !(q->brokerName = cm_strdup(brokerName))) {
            if (q)
                t->nq--;
            if (t->nq == 0)
                remove_topic(r, t);
            return CM_ENOMEM;
        }
    }
    q->r = tc->r;
    q->w = tc->w;
    q->perm = tc->perm;
    q->sysFlag = tc->sysFlag;
    q->gen = gen;
    return 0;
}

/* The cluster entry of g, created if new, with g's broker name in it. */
static int put_cluster(ns_routes_t *r, const ns_reg_t *g)
{
    ns_cluster_t *c = find_cluster(r, g->cluster);
    if (!c) {
        if (!(c = calloc(1, sizeof *c)) || !(c->name = cm_strdup(g->cluster)) || cm_map_put(&r->clusters, g->cluster, c)) {
            if (c)
                free(c->name);
            free(c);
            return CM_ENOMEM;
        }
    }
    for (size_t i = 0; i < c->n; i++) /* once per registration, over one cluster's brokers */
        if (strcmp(c->brokers[i], g->name) == 0)
            return 0;
    char **slot = GROW(c->brokers, c->n, c->cap);
    if (!slot || !(*slot = cm_strdup(g->name))) {
        if (slot)
            c->n--;
        return CM_ENOMEM;
    }
    return 0;
}

/* The broker entry of g, created if new, with g's address under g's id. */
static int put_broker(ns_routes_t *r, const ns_reg_t *g, ns_broker_t **out)
{
    ns_broker_t *b = find_broker(r, g->name);
    if (!b) {
        if (!(b = calloc(1, sizeof *b)) || !(b->name = cm_strdup(g->name)) || !(b->cluster = cm_strdup(g->cluster)) ||
            cm_map_put(&r->brokers, g->name, b)) {
            if (b) {
                free(b->name);
                free(b->cluster);
            }
            free(b);
            return CM_ENOMEM;
        }
    }
    *out = b;
    /* A slave promoted to master keeps its address under a new id: drop the old id. */
    ns_baddr_t *slot = NULL;
    for (size_t i = 0; i < b->n;) {
        if (strcmp(b->addrs[i].addr, g->addr) == 0 && b->addrs[i].id != g->id) {
            free(b->addrs[i].addr);
            remove_at(b->addrs, &b->n, i, sizeof *b->addrs);
            continue;
        }
        if (b->addrs[i].id == g->id)
            slot = &b->addrs[i];
        i++;
    }
    if (!slot) {
        slot = GROW(b->addrs, b->n, b->cap);
        if (!slot)
            return CM_ENOMEM;
        slot->id = g->id;
    }
    if (!slot->addr || strcmp(slot->addr, g->addr) != 0) {
        char *a = cm_strdup(g->addr);
        if (!a)
            return CM_ENOMEM;
        free(slot->addr);
        slot->addr = a;
    }
    return 0;
}

/* The live entry of g's address, refreshed; *changed says whether its data version moved. */
static int put_live(ns_routes_t *r, const ns_reg_t *g, int *changed)
{
    ns_live_t *l = ns_routes_live(r, g->addr);
    /* a new id counts as a change: a slave promoted to master (a DLedger group's new leader)
     * brings the topics it had not brought as a slave */
    *changed = !l || l->dvCounter != g->dvCounter || l->dvTimestamp != g->dvTimestamp || l->brokerId != g->id;
    if (!l) {
        if (!(l = calloc(1, sizeof *l)) || !(l->addr = cm_strdup(g->addr)) || cm_map_put(&r->live, g->addr, l)) {
            if (l)
                free(l->addr);
            free(l);
            return CM_ENOMEM;
        }
    }
    char *ha = cm_strdup(g->ha ? g->ha : ""), *cluster = cm_strdup(g->cluster), *name = cm_strdup(g->name);
    if (!ha || !cluster || !name) {
        free(ha);
        free(cluster);
        free(name);
        return CM_ENOMEM;
    }
    free(l->ha);
    free(l->cluster);
    free(l->brokerName);
    l->ha = ha;
    l->cluster = cluster;
    l->brokerName = name;
    l->brokerId = g->id;
    l->last = g->now;
    l->dvCounter = g->dvCounter;
    l->dvTimestamp = g->dvTimestamp;
    l->connId = g->connId;
    return 0;
}

int ns_routes_register_broker(ns_routes_t *r, const ns_reg_t *g, int *topics_due)
{
    ns_broker_t *b;
    int changed, rc;
    *topics_due = 0;
    if ((rc = put_cluster(r, g)) || (rc = put_broker(r, g, &b)) || (rc = put_live(r, g, &changed)))
        return rc;
    *topics_due = g->id == 0 && changed; /* only a master's topics, and only a new version of them */
    return 0;
}

int ns_routes_put_topics(ns_routes_t *r, const ns_reg_t *g, size_t from, size_t to)
{
    for (size_t i = from; i < to && i < g->ntopics; i++) {
        if (put_queue_data(r, &g->topics[i], g->name, g->gen)) {
            /* Forget the data version, so the broker's next registration applies all again. */
            ns_live_t *l = ns_routes_live(r, g->addr);
            if (l)
                l->dvCounter = l->dvTimestamp = -1;
            return CM_ENOMEM;
        }
    }
    return 0;
}

uint32_t ns_routes_next_gen(ns_routes_t *r)
{
    if (++r->gen == 0) /* 0 is "not whole" */
        r->gen = 1;
    return r->gen;
}

void ns_routes_prune_start(ns_routes_t *r) { r->prune_at = r->first; }

int ns_routes_prune_step(ns_routes_t *r, const char *brokerName, uint32_t gen, size_t max, size_t *dropped)
{
    for (size_t k = 0; k < max && r->prune_at; k++) {
        ns_topic_t *t = r->prune_at;
        r->prune_at = t->next;
        for (size_t j = 0; j < t->nq; j++) {
            if (t->q[j].gen != gen && strcmp(t->q[j].brokerName, brokerName) == 0) {
                free(t->q[j].brokerName);
                remove_at(t->q, &t->nq, j, sizeof *t->q);
                ++*dropped;
                break; /* one entry per broker name */
            }
        }
        if (t->nq == 0)
            remove_topic(r, t);
    }
    return r->prune_at == NULL;
}

void ns_routes_master(const ns_routes_t *r, const ns_reg_t *g, const char **master, const char **masterHa)
{
    *master = *masterHa = NULL;
    const ns_broker_t *b = g->id != 0 ? find_broker(r, g->name) : NULL;
    for (size_t i = 0; b && i < b->n; i++) {
        if (b->addrs[i].id == 0) {
            const ns_live_t *m = ns_routes_live(r, b->addrs[i].addr);
            if (m) {
                *master = m->addr;
                *masterHa = m->ha;
            }
        }
    }
}

int ns_routes_register(ns_routes_t *r, const ns_reg_t *g, const char **master, const char **masterHa)
{
    int due, rc;
    *master = *masterHa = NULL;
    if ((rc = ns_routes_register_broker(r, g, &due)) || (due && (rc = ns_routes_put_topics(r, g, 0, g->ntopics))))
        return rc;
    ns_routes_master(r, g, master, masterHa);
    return 0;
}

/* Remove the queue data of brokerName from every topic; topics left empty go away. One pass,
 * each removal O(1): a broker of 40k topics going away costs one walk of the list. */
static void drop_broker_queues(ns_routes_t *r, const char *brokerName)
{
    for (ns_topic_t *t = r->first, *next; t; t = next) {
        next = t->next;
        for (size_t j = 0; j < t->nq;) {
            if (strcmp(t->q[j].brokerName, brokerName) == 0) {
                free(t->q[j].brokerName);
                remove_at(t->q, &t->nq, j, sizeof *t->q);
            } else {
                j++;
            }
        }
        if (t->nq == 0)
            remove_topic(r, t);
    }
}

static void drop_cluster_member(ns_routes_t *r, const char *cluster, const char *name)
{
    ns_cluster_t *c = find_cluster(r, cluster);
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->brokers[i], name) == 0) {
            free(c->brokers[i]);
            remove_at(c->brokers, &c->n, i, sizeof *c->brokers);
            break;
        }
    }
    if (c->n == 0) {
        cm_map_remove(&r->clusters, cluster);
        free_cluster(c);
    }
}

void ns_routes_unregister(ns_routes_t *r, const char *cluster, const char *addr, const char *name, int64_t id)
{
    ns_live_t *l = cm_map_remove(&r->live, addr);
    if (l)
        free_live(l);
    ns_broker_t *b = find_broker(r, name);
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++) {
        if (b->addrs[i].id == id) {
            free(b->addrs[i].addr);
            remove_at(b->addrs, &b->n, i, sizeof *b->addrs);
            break;
        }
    }
    if (b->n > 0)
        return;
    cm_map_remove(&r->brokers, name);
    free_broker(b);
    drop_cluster_member(r, cluster, name);
    drop_broker_queues(r, name);
}

typedef struct expire_ctx { uint64_t connId, deadline; ns_live_t **hit; size_t n, cap; int oom; } expire_ctx_t;

static void collect_expired(const char *addr, void *val, void *arg)
{
    expire_ctx_t *x = arg;
    ns_live_t *l = val;
    if (!((x->connId && l->connId == x->connId) || (!x->connId && l->last < x->deadline)))
        return;
    ns_live_t **slot = GROW(x->hit, x->n, x->cap);
    if (slot)
        *slot = l;
    else
        x->oom = 1;
}

size_t ns_routes_expire(ns_routes_t *r, uint64_t connId, uint64_t deadline)
{
    /* Collect first: unregistering changes the map, which cm_map_each forbids. */
    expire_ctx_t x = {.connId = connId, .deadline = deadline};
    cm_map_each(&r->live, collect_expired, &x);
    if (x.oom)
        LOG_E("namesrv", "out of memory while expiring brokers; the rest go at the next scan");
    for (size_t i = 0; i < x.n; i++) {
        ns_live_t *l = x.hit[i]; /* each entry is freed only by its own unregistration */
        char *cluster = cm_strdup(l->cluster), *addr = cm_strdup(l->addr), *name = cm_strdup(l->brokerName);
        int64_t id = l->brokerId;
        if (cluster && addr && name) {
            LOG_W("namesrv", "broker %s (%s, id %lld) removed: %s", addr, name, (long long)id,
                  connId ? "its connection closed" : "no registration for 120 s");
            ns_routes_unregister(r, cluster, addr, name, id);
        }
        free(cluster);
        free(addr);
        free(name);
    }
    free(x.hit);
    return x.n;
}

static lj_val_t *broker_json(const ns_broker_t *b)
{
    lj_val_t *o = lj_new_obj(), *addrs = lj_new_obj();
    for (size_t i = 0; i < b->n; i++)
        lj_put(addrs, lj_new_int(b->addrs[i].id), lj_new_str(b->addrs[i].addr));
    lj_set(o, "brokerAddrs", addrs);
    lj_set_str(o, "brokerName", b->name);
    lj_set_str(o, "cluster", b->cluster);
    return o;
}

lj_val_t *ns_routes_route_json(const ns_routes_t *r, const char *topic, const char *orderConf)
{
    const ns_topic_t *t = find_topic(r, topic);
    if (!t || t->nq == 0)
        return NULL;
    lj_val_t *o = lj_new_obj(), *bd = lj_new_arr(), *qd = lj_new_arr();
    for (size_t i = 0; i < t->nq; i++) {
        const ns_qdata_t *q = &t->q[i];
        lj_val_t *x = lj_new_obj();
        lj_set_str(x, "brokerName", q->brokerName);
        lj_set_int(x, "perm", q->perm);
        lj_set_int(x, "readQueueNums", q->r);
        lj_set_int(x, "topicSysFlag", q->sysFlag);
        lj_set_int(x, "writeQueueNums", q->w);
        lj_push(qd, x);
        const ns_broker_t *b = find_broker(r, q->brokerName);
        if (b)
            lj_push(bd, broker_json(b));
    }
    if (bd->n == 0) {
        lj_free(bd);
        lj_free(qd);
        lj_free(o);
        return NULL;
    }
    lj_set(o, "brokerDatas", bd);
    lj_set(o, "filterServerTable", lj_new_obj());
    if (orderConf)
        lj_set_str(o, "orderTopicConf", orderConf);
    lj_set(o, "queueDatas", qd);
    return o;
}

typedef struct json_ctx { lj_val_t *o; const char *first_addr; } json_ctx_t;

static void put_broker_json(const char *name, void *val, void *arg)
{
    json_ctx_t *x = arg;
    lj_put(x->o, lj_new_str(name), broker_json(val)); /* names are unique: no lj_set search */
}

static void put_cluster_json(const char *name, void *val, void *arg)
{
    const ns_cluster_t *c = val;
    lj_val_t *a = lj_new_arr();
    for (size_t j = 0; j < c->n; j++)
        lj_push(a, lj_new_str(c->brokers[j]));
    lj_put(((json_ctx_t *)arg)->o, lj_new_str(name), a);
}

lj_val_t *ns_routes_cluster_json(const ns_routes_t *r)
{
    lj_val_t *o = lj_new_obj();
    json_ctx_t bt = {lj_new_obj(), NULL}, ct = {lj_new_obj(), NULL};
    cm_map_each(&r->brokers, put_broker_json, &bt);
    cm_map_each(&r->clusters, put_cluster_json, &ct);
    lj_set(o, "brokerAddrTable", bt.o);
    lj_set(o, "clusterAddrTable", ct.o);
    return o;
}

static int topic_in_cluster(const ns_topic_t *t, const cm_map_t *members)
{
    for (size_t i = 0; i < t->nq; i++)
        if (cm_map_get(members, t->q[i].brokerName))
            return 1;
    return 0;
}

static int topic_flags(const ns_topic_t *t)
{
    int f = 0;
    for (size_t i = 0; i < t->nq; i++)
        f |= t->q[i].sysFlag;
    return f;
}

static void put_system_names(const char *name, void *val, void *arg)
{
    const ns_cluster_t *c = val;
    lj_val_t *a = arg;
    lj_push(a, lj_new_str(name));
    for (size_t j = 0; j < c->n; j++)
        lj_push(a, lj_new_str(c->brokers[j]));
}

static void first_broker_addr(const char *name, void *val, void *arg)
{
    const ns_broker_t *b = val;
    json_ctx_t *x = arg;
    if (!x->first_addr && b->n > 0)
        x->first_addr = b->addrs[0].addr;
}

/* The broker names of a cluster as a set, so each topic's membership is a few hashed lookups. */
static void cluster_members(const ns_routes_t *r, const char *cluster, cm_map_t *set)
{
    const ns_cluster_t *c = cluster ? find_cluster(r, cluster) : NULL;
    for (size_t j = 0; c && j < c->n; j++)
        cm_map_put(set, c->brokers[j], (void *)c);
}

lj_val_t *ns_routes_topic_list_json(const ns_routes_t *r, int filter, const char *cluster)
{
    lj_val_t *o = lj_new_obj(), *a = lj_new_arr();
    if (filter == 5) { /* system topics: cluster and broker names */
        json_ctx_t x = {NULL, NULL};
        cm_map_each(&r->clusters, put_system_names, a);
        cm_map_each(&r->brokers, first_broker_addr, &x);
        if (x.first_addr)
            lj_set_str(o, "brokerAddr", x.first_addr);
    }
    cm_map_t members = {0};
    if (filter == 1)
        cluster_members(r, cluster, &members);
    for (const ns_topic_t *t = filter != 5 ? r->first : NULL; t; t = t->next) {
        int f = topic_flags(t), keep;
        switch (filter) {
        case 1: keep = topic_in_cluster(t, &members); break;
        case 2: keep = f & SYS_TOPIC_UNIT; break;
        case 3: keep = f & SYS_TOPIC_UNIT_SUB; break;
        case 4: keep = (f & SYS_TOPIC_UNIT_SUB) && !(f & SYS_TOPIC_UNIT); break;
        default: keep = 1;
        }
        if (keep)
            lj_push(a, lj_new_str(t->name));
    }
    cm_map_free(&members, NULL);
    lj_set(o, "topicList", a);
    return o;
}

int ns_routes_delete_topic(ns_routes_t *r, const char *topic, const char *cluster)
{
    ns_topic_t *t = find_topic(r, topic);
    if (!t)
        return 0;
    const ns_cluster_t *c = cluster && *cluster ? find_cluster(r, cluster) : NULL;
    if (cluster && *cluster && c) {
        for (size_t j = 0; j < t->nq;) { /* one topic: its queue data times one cluster's brokers */
            int in = 0;
            for (size_t k = 0; k < c->n; k++)
                in |= strcmp(c->brokers[k], t->q[j].brokerName) == 0;
            if (in) {
                free(t->q[j].brokerName);
                remove_at(t->q, &t->nq, j, sizeof *t->q);
            } else {
                j++;
            }
        }
        if (t->nq > 0)
            return 0;
    }
    remove_topic(r, t);
    return 0;
}

/* Linear in the topics (each may carry the broker), as RocketMQ's own walk. */
int ns_routes_write_perm(ns_routes_t *r, const char *brokerName, int wipe)
{
    int n = 0;
    for (ns_topic_t *t = r->first; t; t = t->next)
        for (size_t j = 0; j < t->nq; j++) {
            ns_qdata_t *q = &t->q[j];
            if (strcmp(q->brokerName, brokerName) != 0)
                continue;
            q->perm = wipe ? q->perm & ~PERM_WRITE : PERM_READ | PERM_WRITE;
            n++;
        }
    return n;
}

/* ---- KV config: namespace -> (key -> value), both hashed; ORDER_TOPIC_CONFIG may hold a key
 * per topic and is read on every route lookup and registration. ---- */

const char *ns_kv_get(const ns_routes_t *r, const char *ns, const char *key)
{
    const cm_map_t *tab = cm_map_get(&r->kv, ns);
    return tab ? cm_map_get(tab, key) : NULL;
}

int ns_kv_put(ns_routes_t *r, const char *ns, const char *key, const char *val)
{
    cm_map_t *tab = cm_map_get(&r->kv, ns);
    if (!tab) {
        if (!(tab = calloc(1, sizeof *tab)) || cm_map_put(&r->kv, ns, tab)) {
            free(tab);
            return CM_ENOMEM;
        }
    }
    char *v = cm_strdup(val), *old = cm_map_get(tab, key);
    if (!v || cm_map_put(tab, key, v)) {
        free(v);
        return CM_ENOMEM;
    }
    free(old);
    return 0;
}

int ns_kv_delete(ns_routes_t *r, const char *ns, const char *key)
{
    cm_map_t *tab = cm_map_get(&r->kv, ns);
    char *v = tab ? cm_map_remove(tab, key) : NULL;
    if (!v)
        return CM_ENOENT;
    free(v);
    if (tab->n == 0)
        free_kv_ns(cm_map_remove(&r->kv, ns));
    return 0;
}

static void put_kv_json(const char *key, void *val, void *arg)
{
    lj_put(arg, lj_new_str(key), lj_new_str(val)); /* keys are unique: no lj_set search */
}

lj_val_t *ns_kv_table_json(const ns_routes_t *r, const char *ns)
{
    const cm_map_t *tab = cm_map_get(&r->kv, ns);
    if (!tab || tab->n == 0)
        return NULL;
    lj_val_t *t = lj_new_obj(), *o = lj_new_obj();
    cm_map_each(tab, put_kv_json, t);
    lj_set(o, "table", t);
    return o;
}

/* kvConfig.json: {"configTable":{"<namespace>":{"<key>":"<value>"}}}, as RocketMQ writes it. */
int ns_kv_load(ns_routes_t *r, const char *path)
{
    char *text;
    size_t len;
    int rc = cm_read_file(path, &text, &len);
    if (rc == CM_ENOENT)
        return 0;
    if (rc)
        return rc;
    lj_val_t *root = NULL;
    rc = lj_parse(text, len, &root);
    free(text);
    if (rc)
        return rc;
    const lj_val_t *t = lj_get(root, "configTable");
    for (size_t i = 0; t && t->type == LJ_OBJ && i < t->n; i++) {
        const lj_val_t *tab = t->members[i].val, *nk = t->members[i].key;
        for (size_t j = 0; nk->type != LJ_OBJ && tab->type == LJ_OBJ && j < tab->n; j++)
            if (tab->members[j].val->type == LJ_STR && tab->members[j].key->type != LJ_OBJ)
                ns_kv_put(r, nk->s, tab->members[j].key->s, tab->members[j].val->s);
    }
    lj_free(root);
    return 0;
}

static void put_kv_ns_json(const char *ns, void *val, void *arg)
{
    lj_val_t *tab = lj_new_obj();
    cm_map_each(val, put_kv_json, tab);
    lj_put(arg, lj_new_str(ns), tab);
}

int ns_kv_save(const ns_routes_t *r, const char *path)
{
    lj_val_t *root = lj_new_obj(), *ct = lj_new_obj();
    cm_map_each(&r->kv, put_kv_ns_json, ct);
    lj_set(root, "configTable", ct);
    cm_buf_t b;
    cm_buf_init(&b);
    int rc = lj_write(root, LJ_W_SORT, &b);
    lj_free(root);
    if (rc == 0) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = 0;
            cm_mkdirs(dir);
        }
        rc = cm_write_file_safe(path, b.data, b.len);
    }
    cm_buf_free(&b);
    return rc;
}

/* ---- REGISTER_BROKER body forms ---- */

void ns_reg_body_free(ns_reg_body_t *rb)
{
    for (size_t i = 0; i < rb->n; i++)
        free(rb->topics[i].name);
    free(rb->topics);
    memset(rb, 0, sizeof *rb);
}

static int body_topic(ns_reg_body_t *rb, const char *name, size_t nlen, int r, int w, int perm, int sysFlag)
{
    ns_topic_conf_t *t = GROW(rb->topics, rb->n, rb->cap); /* doubling: linear in the topics */
    if (!t)
        return CM_ENOMEM;
    if (!(t->name = cm_strndup(name, nlen))) {
        rb->n--;
        return CM_ENOMEM;
    }
    t->r = r;
    t->w = w;
    t->perm = perm;
    t->sysFlag = sysFlag;
    return 0;
}

/* {"dataVersion":{..},"topicConfigTable":{name:TopicConfig}} */
static int parse_wrapper(const lj_val_t *w, ns_reg_body_t *rb)
{
    const lj_val_t *dv = lj_get(w, "dataVersion");
    rb->dvCounter = lj_get_int(dv, "counter", 0);
    rb->dvTimestamp = lj_get_int(dv, "timestamp", 0);
    const lj_val_t *tab = lj_get(w, "topicConfigTable");
    for (size_t i = 0; tab && tab->type == LJ_OBJ && i < tab->n; i++) {
        const lj_val_t *tc = tab->members[i].val, *k = tab->members[i].key;
        if (tc->type != LJ_OBJ || k->type == LJ_OBJ)
            continue;
        if (body_topic(rb, k->s, k->slen, (int)lj_get_int(tc, "readQueueNums", 0), (int)lj_get_int(tc, "writeQueueNums", 0),
                       (int)lj_get_int(tc, "perm", 6), (int)lj_get_int(tc, "topicSysFlag", 0)))
            return CM_ENOMEM;
    }
    return 0;
}

static int parse_json_body(const uint8_t *body, size_t len, int version, ns_reg_body_t *rb)
{
    if (len == 0)
        return 0;
    lj_val_t *root = NULL;
    if (lj_parse((const char *)body, len, &root) || root->type != LJ_OBJ) {
        lj_free(root);
        return CM_EPARSE;
    }
    const lj_val_t *w = version >= V3_0_11 ? lj_get(root, "topicConfigSerializeWrapper") : root;
    int rc = w ? parse_wrapper(w, rb) : 0;
    lj_free(root);
    return rc;
}

static int inflate_all(const uint8_t *in, size_t n, cm_buf_t *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit(&z) != Z_OK)
        return CM_ENOMEM;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    int zr = Z_OK;
    while (zr == Z_OK) {
        if (cm_buf_reserve(out, 65536) || out->len > MAX_INFLATED) {
            zr = Z_MEM_ERROR;
            break;
        }
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = 65536;
        zr = inflate(&z, Z_NO_FLUSH);
        out->len = (size_t)((char *)z.next_out - out->data);
        if (zr == Z_BUF_ERROR && z.avail_in == 0)
            break;
    }
    inflateEnd(&z);
    return zr == Z_STREAM_END ? 0 : CM_EPARSE;
}

/* Compressed form: u32 len + DataVersion JSON, u32 count, count x (u32 len + "name r w perm filter"),
 * u32 len + filter server list. */
static int parse_compressed_body(const uint8_t *body, size_t len, ns_reg_body_t *rb)
{
    cm_buf_t b;
    cm_buf_init(&b);
    int rc = inflate_all(body, len, &b);
    const uint8_t *p = (const uint8_t *)b.data, *end = p + b.len;
    if (rc)
        goto out;
    rc = CM_EPARSE;
    if (end - p < 4 || cm_be32(p) > (size_t)(end - p - 4))
        goto out;
    uint32_t l = cm_be32(p);
    lj_val_t *dv = NULL;
    if (lj_parse((const char *)p + 4, l, &dv) == 0) {
        rb->dvCounter = lj_get_int(dv, "counter", 0);
        rb->dvTimestamp = lj_get_int(dv, "timestamp", 0);
    }
    lj_free(dv);
    p += 4 + l;
    if (end - p < 4)
        goto out;
    uint32_t count = cm_be32(p);
    p += 4;
    for (uint32_t i = 0; i < count; i++) {
        if (end - p < 4 || cm_be32(p) > (size_t)(end - p - 4))
            goto out;
        l = cm_be32(p);
        char line[512];
        if (l >= sizeof line)
            goto out;
        memcpy(line, p + 4, l);
        line[l] = 0;
        p += 4 + l;
        char name[256];
        int r, w, perm;
        if (sscanf(line, "%255s %d %d %d", name, &r, &w, &perm) != 4)
            goto out;
        if (body_topic(rb, name, strlen(name), r, w, perm, 0))
            goto out;
    }
    rc = 0;
out:
    cm_buf_free(&b);
    return rc;
}

int ns_reg_body_decode(const uint8_t *body, size_t len, int compressed, int version, ns_reg_body_t *rb)
{
    return compressed ? parse_compressed_body(body, len, rb) : parse_json_body(body, len, version, rb);
}
