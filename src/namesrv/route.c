/* The name server's route table. Sizes are small (brokers, clusters: tens; topics: thousands),
 * so plain arrays with linear search keep this obvious; registration rebuilds a broker's queue
 * data only when its data version changes, as RocketMQ does. */
#include "route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SYS_TOPIC_UNIT 1
#define SYS_TOPIC_UNIT_SUB 2
#define PERM_READ 4
#define PERM_WRITE 2

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

static ns_topic_t *find_topic(const ns_routes_t *r, const char *name)
{
    for (size_t i = 0; i < r->ntopics; i++)
        if (strcmp(r->topics[i].name, name) == 0)
            return &r->topics[i];
    return NULL;
}

static ns_broker_t *find_broker(const ns_routes_t *r, const char *name)
{
    for (size_t i = 0; i < r->nbrokers; i++)
        if (strcmp(r->brokers[i].name, name) == 0)
            return &r->brokers[i];
    return NULL;
}

static ns_cluster_t *find_cluster(const ns_routes_t *r, const char *name)
{
    for (size_t i = 0; i < r->nclusters; i++)
        if (strcmp(r->clusters[i].name, name) == 0)
            return &r->clusters[i];
    return NULL;
}

static ns_live_t *find_live(const ns_routes_t *r, const char *addr)
{
    for (size_t i = 0; i < r->nlive; i++)
        if (strcmp(r->live[i].addr, addr) == 0)
            return &r->live[i];
    return NULL;
}

static void free_topic(ns_topic_t *t)
{
    for (size_t i = 0; i < t->nq; i++)
        free(t->q[i].brokerName);
    free(t->q);
    free(t->name);
}

static void free_broker(ns_broker_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->addrs[i].addr);
    free(b->addrs);
    free(b->name);
    free(b->cluster);
}

static void free_live(ns_live_t *l)
{
    free(l->addr);
    free(l->ha);
    free(l->cluster);
    free(l->brokerName);
}

void ns_routes_free(ns_routes_t *r)
{
    for (size_t i = 0; i < r->ntopics; i++)
        free_topic(&r->topics[i]);
    for (size_t i = 0; i < r->nbrokers; i++)
        free_broker(&r->brokers[i]);
    for (size_t i = 0; i < r->nclusters; i++) {
        for (size_t j = 0; j < r->clusters[i].n; j++)
            free(r->clusters[i].brokers[j]);
        free(r->clusters[i].brokers);
        free(r->clusters[i].name);
    }
    for (size_t i = 0; i < r->nlive; i++)
        free_live(&r->live[i]);
    for (size_t i = 0; i < r->nkv; i++) {
        free(r->kv[i].ns);
        free(r->kv[i].key);
        free(r->kv[i].val);
    }
    free(r->topics);
    free(r->brokers);
    free(r->clusters);
    free(r->live);
    free(r->kv);
    memset(r, 0, sizeof *r);
}

/* Set the queue data of (topic, brokerName). */
static int put_queue_data(ns_routes_t *r, const ns_topic_conf_t *tc, const char *brokerName)
{
    ns_topic_t *t = find_topic(r, tc->name);
    if (!t) {
        t = GROW(r->topics, r->ntopics, r->captopics);
        if (!t || !(t->name = cm_strdup(tc->name)))
            return CM_ENOMEM;
    }
    ns_qdata_t *q = NULL;
    for (size_t i = 0; i < t->nq; i++)
        if (strcmp(t->q[i].brokerName, brokerName) == 0)
            q = &t->q[i];
    if (!q) {
        q = GROW(t->q, t->nq, t->capq);
        if (!q || !(q->brokerName = cm_strdup(brokerName)))
            return CM_ENOMEM;
    }
    q->r = tc->r;
    q->w = tc->w;
    q->perm = tc->perm;
    q->sysFlag = tc->sysFlag;
    return 0;
}

int ns_routes_register(ns_routes_t *r, const ns_reg_t *g, const char **master, const char **masterHa)
{
    *master = *masterHa = NULL;
    ns_cluster_t *c = find_cluster(r, g->cluster);
    if (!c) {
        c = GROW(r->clusters, r->nclusters, r->capclusters);
        if (!c || !(c->name = cm_strdup(g->cluster)))
            return CM_ENOMEM;
    }
    int known = 0;
    for (size_t i = 0; i < c->n; i++)
        known |= strcmp(c->brokers[i], g->name) == 0;
    if (!known) {
        char **slot = GROW(c->brokers, c->n, c->cap);
        if (!slot || !(*slot = cm_strdup(g->name)))
            return CM_ENOMEM;
    }
    ns_broker_t *b = find_broker(r, g->name);
    if (!b) {
        b = GROW(r->brokers, r->nbrokers, r->capbrokers);
        if (!b || !(b->name = cm_strdup(g->name)) || !(b->cluster = cm_strdup(g->cluster)))
            return CM_ENOMEM;
    }
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
        free(slot->addr);
        if (!(slot->addr = cm_strdup(g->addr)))
            return CM_ENOMEM;
    }
    ns_live_t *l = find_live(r, g->addr);
    int changed = !l || l->dvCounter != g->dvCounter || l->dvTimestamp != g->dvTimestamp;
    if (!l) {
        l = GROW(r->live, r->nlive, r->caplive);
        if (!l || !(l->addr = cm_strdup(g->addr)))
            return CM_ENOMEM;
    }
    free(l->ha);
    free(l->cluster);
    free(l->brokerName);
    l->ha = cm_strdup(g->ha ? g->ha : "");
    l->cluster = cm_strdup(g->cluster);
    l->brokerName = cm_strdup(g->name);
    l->brokerId = g->id;
    l->last = g->now;
    l->dvCounter = g->dvCounter;
    l->dvTimestamp = g->dvTimestamp;
    l->connId = g->connId;
    if (g->id == 0 && changed)
        for (size_t i = 0; i < g->ntopics; i++)
            if (put_queue_data(r, &g->topics[i], g->name))
                return CM_ENOMEM;
    if (g->id != 0) {
        for (size_t i = 0; i < b->n; i++) {
            if (b->addrs[i].id == 0) {
                ns_live_t *m = find_live(r, b->addrs[i].addr);
                if (m) {
                    *master = m->addr;
                    *masterHa = m->ha;
                }
            }
        }
    }
    return 0;
}

/* Remove the queue data of brokerName from every topic; topics left empty go away. */
static void drop_broker_queues(ns_routes_t *r, const char *brokerName)
{
    for (size_t i = 0; i < r->ntopics;) {
        ns_topic_t *t = &r->topics[i];
        for (size_t j = 0; j < t->nq;) {
            if (strcmp(t->q[j].brokerName, brokerName) == 0) {
                free(t->q[j].brokerName);
                remove_at(t->q, &t->nq, j, sizeof *t->q);
            } else {
                j++;
            }
        }
        if (t->nq == 0) {
            free_topic(t);
            remove_at(r->topics, &r->ntopics, i, sizeof *r->topics);
        } else {
            i++;
        }
    }
}

void ns_routes_unregister(ns_routes_t *r, const char *cluster, const char *addr, const char *name, int64_t id)
{
    ns_live_t *l = find_live(r, addr);
    if (l) {
        free_live(l);
        remove_at(r->live, &r->nlive, (size_t)(l - r->live), sizeof *r->live);
    }
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
    free_broker(b);
    remove_at(r->brokers, &r->nbrokers, (size_t)(b - r->brokers), sizeof *r->brokers);
    ns_cluster_t *c = find_cluster(r, cluster);
    if (c) {
        for (size_t i = 0; i < c->n; i++) {
            if (strcmp(c->brokers[i], name) == 0) {
                free(c->brokers[i]);
                remove_at(c->brokers, &c->n, i, sizeof *c->brokers);
                break;
            }
        }
        if (c->n == 0) {
            free(c->brokers);
            free(c->name);
            remove_at(r->clusters, &r->nclusters, (size_t)(c - r->clusters), sizeof *r->clusters);
        }
    }
    drop_broker_queues(r, name);
}

size_t ns_routes_expire(ns_routes_t *r, uint64_t connId, uint64_t deadline)
{
    size_t dropped = 0;
    for (size_t i = 0; i < r->nlive;) {
        ns_live_t *l = &r->live[i];
        if ((connId && l->connId == connId) || (!connId && l->last < deadline)) {
            char *cluster = cm_strdup(l->cluster), *addr = cm_strdup(l->addr), *name = cm_strdup(l->brokerName);
            int64_t id = l->brokerId;
            LOG_W("namesrv", "broker %s (%s, id %lld) removed: %s", addr, name, (long long)id,
                  connId ? "its connection closed" : "no registration for 120 s");
            ns_routes_unregister(r, cluster, addr, name, id);
            free(cluster);
            free(addr);
            free(name);
            dropped++;
            continue; /* the entry at i was removed */
        }
        i++;
    }
    return dropped;
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

lj_val_t *ns_routes_cluster_json(const ns_routes_t *r)
{
    lj_val_t *o = lj_new_obj(), *bt = lj_new_obj(), *ct = lj_new_obj();
    for (size_t i = 0; i < r->nbrokers; i++)
        lj_set(bt, r->brokers[i].name, broker_json(&r->brokers[i]));
    for (size_t i = 0; i < r->nclusters; i++) {
        lj_val_t *a = lj_new_arr();
        for (size_t j = 0; j < r->clusters[i].n; j++)
            lj_push(a, lj_new_str(r->clusters[i].brokers[j]));
        lj_set(ct, r->clusters[i].name, a);
    }
    lj_set(o, "brokerAddrTable", bt);
    lj_set(o, "clusterAddrTable", ct);
    return o;
}

static int topic_in_cluster(const ns_routes_t *r, const ns_topic_t *t, const char *cluster)
{
    const ns_cluster_t *c = find_cluster(r, cluster);
    if (!c)
        return 0;
    for (size_t i = 0; i < t->nq; i++)
        for (size_t j = 0; j < c->n; j++)
            if (strcmp(t->q[i].brokerName, c->brokers[j]) == 0)
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

lj_val_t *ns_routes_topic_list_json(const ns_routes_t *r, int filter, const char *cluster)
{
    lj_val_t *o = lj_new_obj(), *a = lj_new_arr();
    if (filter == 5) { /* system topics: cluster and broker names */
        for (size_t i = 0; i < r->nclusters; i++) {
            lj_push(a, lj_new_str(r->clusters[i].name));
            for (size_t j = 0; j < r->clusters[i].n; j++)
                lj_push(a, lj_new_str(r->clusters[i].brokers[j]));
        }
        for (size_t i = 0; i < r->nbrokers; i++)
            if (r->brokers[i].n > 0) {
                lj_set_str(o, "brokerAddr", r->brokers[i].addrs[0].addr);
                break;
            }
    }
    for (size_t i = 0; filter != 5 && i < r->ntopics; i++) {
        const ns_topic_t *t = &r->topics[i];
        int f = topic_flags(t), keep;
        switch (filter) {
        case 1: keep = topic_in_cluster(r, t, cluster); break;
        case 2: keep = f & SYS_TOPIC_UNIT; break;
        case 3: keep = f & SYS_TOPIC_UNIT_SUB; break;
        case 4: keep = (f & SYS_TOPIC_UNIT_SUB) && !(f & SYS_TOPIC_UNIT); break;
        default: keep = 1;
        }
        if (keep)
            lj_push(a, lj_new_str(t->name));
    }
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
        for (size_t j = 0; j < t->nq;) {
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
    free_topic(t);
    remove_at(r->topics, &r->ntopics, (size_t)(t - r->topics), sizeof *r->topics);
    return 0;
}

int ns_routes_write_perm(ns_routes_t *r, const char *brokerName, int wipe)
{
    int n = 0;
    for (size_t i = 0; i < r->ntopics; i++)
        for (size_t j = 0; j < r->topics[i].nq; j++) {
            ns_qdata_t *q = &r->topics[i].q[j];
            if (strcmp(q->brokerName, brokerName) != 0)
                continue;
            q->perm = wipe ? q->perm & ~PERM_WRITE : PERM_READ | PERM_WRITE;
            n++;
        }
    return n;
}

/* ---- KV config ---- */

static ns_kv_t *find_kv(const ns_routes_t *r, const char *ns, const char *key)
{
    for (size_t i = 0; i < r->nkv; i++)
        if (strcmp(r->kv[i].ns, ns) == 0 && strcmp(r->kv[i].key, key) == 0)
            return &r->kv[i];
    return NULL;
}

const char *ns_kv_get(const ns_routes_t *r, const char *ns, const char *key)
{
    const ns_kv_t *kv = find_kv(r, ns, key);
    return kv ? kv->val : NULL;
}

int ns_kv_put(ns_routes_t *r, const char *ns, const char *key, const char *val)
{
    ns_kv_t *kv = find_kv(r, ns, key);
    char *v = cm_strdup(val);
    if (!v)
        return CM_ENOMEM;
    if (kv) {
        free(kv->val);
        kv->val = v;
        return 0;
    }
    kv = GROW(r->kv, r->nkv, r->capkv);
    if (!kv) {
        free(v);
        return CM_ENOMEM;
    }
    kv->ns = cm_strdup(ns);
    kv->key = cm_strdup(key);
    kv->val = v;
    return 0;
}

int ns_kv_delete(ns_routes_t *r, const char *ns, const char *key)
{
    ns_kv_t *kv = find_kv(r, ns, key);
    if (!kv)
        return CM_ENOENT;
    free(kv->ns);
    free(kv->key);
    free(kv->val);
    remove_at(r->kv, &r->nkv, (size_t)(kv - r->kv), sizeof *r->kv);
    return 0;
}

lj_val_t *ns_kv_table_json(const ns_routes_t *r, const char *ns)
{
    lj_val_t *t = NULL;
    for (size_t i = 0; i < r->nkv; i++) {
        if (strcmp(r->kv[i].ns, ns) != 0)
            continue;
        if (!t)
            t = lj_new_obj();
        lj_set_str(t, r->kv[i].key, r->kv[i].val);
    }
    if (!t)
        return NULL;
    lj_val_t *o = lj_new_obj();
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
        const lj_val_t *tab = t->members[i].val;
        for (size_t j = 0; tab->type == LJ_OBJ && j < tab->n; j++)
            if (tab->members[j].val->type == LJ_STR)
                ns_kv_put(r, t->members[i].key->s, tab->members[j].key->s, tab->members[j].val->s);
    }
    lj_free(root);
    return 0;
}

int ns_kv_save(const ns_routes_t *r, const char *path)
{
    lj_val_t *root = lj_new_obj(), *ct = lj_new_obj();
    for (size_t i = 0; i < r->nkv; i++) {
        lj_val_t *tab = lj_get(ct, r->kv[i].ns);
        if (!tab) {
            tab = lj_new_obj();
            lj_set(ct, r->kv[i].ns, tab);
        }
        lj_set_str(tab, r->kv[i].key, r->kv[i].val);
    }
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
