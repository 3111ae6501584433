/* Committed consumer offsets (config/consumerOffset.json, {"offsetTable":{"topic@group":{0:12}}}
 * with fastjson's bare integer keys) and subscription-group configs
 * (config/subscriptionGroup.json). Both are written off the loop by persist.c from flat
 * snapshots: offsets within 5 s of a commit, groups within BR_PERSIST_SOON_MS, all at shutdown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/core.h"

lj_val_t *br_load_json_file(const char *path);

typedef struct br_qoffsets { int64_t *v; int n; } br_qoffsets_t;

/* An offset changed: written within 5 s, as RocketMQ's flushConsumerOffsetInterval. */
static void mark(br_offsets_t *o)
{
    o->dirty = 1;
    o->changes++;
    if (o->ps)
        br_persist_request(o->ps, BR_PERSIST_OFFSETS_MS);
}

static void free_qo(void *p)
{
    br_qoffsets_t *q = p;
    free(q->v);
    free(q);
}

static br_qoffsets_t *qo_get(br_offsets_t *o, const char *key, int create)
{
    br_qoffsets_t *q = cm_map_get(&o->map, key);
    if (!q && create) {
        q = calloc(1, sizeof *q);
        if (q && cm_map_put(&o->map, key, q)) {
            free(q);
            q = NULL;
        }
    }
    return q;
}

static void qo_set(br_qoffsets_t *q, int queueId, int64_t off)
{
    if (queueId >= q->n) {
        int n = queueId + 1;
        int64_t *v = realloc(q->v, (size_t)n * sizeof *v);
        if (!v)
            return;
        for (int i = q->n; i < n; i++)
            v[i] = -1;
        q->v = v;
        q->n = n;
    }
    q->v[queueId] = off;
}

int64_t br_offsets_get(const br_offsets_t *o, const char *group, const char *topic, int queueId)
{
    char key[512];
    snprintf(key, sizeof key, "%s@%s", topic, group);
    const br_qoffsets_t *q = cm_map_get(&o->map, key);
    return q && queueId >= 0 && queueId < q->n ? q->v[queueId] : -1;
}

void br_offsets_set(br_offsets_t *o, const char *group, const char *topic, int queueId, int64_t off)
{
    char key[512];
    if (queueId < 0 || queueId > 65535)
        return;
    snprintf(key, sizeof key, "%s@%s", topic, group);
    br_qoffsets_t *q = qo_get(o, key, 1);
    if (q) {
        qo_set(q, queueId, off);
        mark(o);
    }
}

typedef struct { const char *topic; char **keys; size_t n; } del_ctx_t;

static void collect_topic(const char *key, void *val, void *arg)
{
    del_ctx_t *d = arg;
    size_t tl = strlen(d->topic);
    if (strncmp(key, d->topic, tl) == 0 && key[tl] == '@') {
        char **k = realloc(d->keys, (d->n + 1) * sizeof *k);
        if (k) {
            d->keys = k;
            d->keys[d->n++] = strdup(key);
        }
    }
}

void br_offsets_delete_topic(br_offsets_t *o, const char *topic)
{
    del_ctx_t d = {topic, NULL, 0};
    cm_map_each(&o->map, collect_topic, &d);
    for (size_t i = 0; i < d.n; i++) {
        br_qoffsets_t *q = cm_map_remove(&o->map, d.keys[i]);
        if (q)
            free_qo(q);
        free(d.keys[i]);
    }
    free(d.keys);
    mark(o);
}

/* The snapshot persist.c takes on the loop thread: one flat buffer of records
 * [u32 key length][key][i32 n][n x i64], no JSON. */
typedef struct { cm_buf_t *b; int failed; } snap_ctx_t;

static void copy_offsets(const char *key, void *val, void *arg)
{
    const br_qoffsets_t *q = val;
    uint32_t kl = (uint32_t)strlen(key);
    int32_t n = q->n;
    snap_ctx_t *x = arg;
    x->failed |= cm_buf_append(x->b, &kl, sizeof kl) | cm_buf_append(x->b, key, kl) |
                 cm_buf_append(x->b, &n, sizeof n) | cm_buf_append(x->b, q->v, (size_t)n * sizeof q->v[0]);
}

static void offsets_snap_free(void *snap)
{
    cm_buf_free(snap);
    free(snap);
}

/* NULL when out of memory: a partial table must never replace the file. */
static void *offsets_snap(const void *table)
{
    const br_offsets_t *o = table;
    snap_ctx_t x = {calloc(1, sizeof(cm_buf_t)), 0};
    if (!x.b)
        return NULL;
    /* one reservation up front: the records need about this much, so few reallocations */
    x.failed = cm_buf_reserve(x.b, o->map.n * 80);
    cm_map_each(&o->map, copy_offsets, &x);
    if (x.failed) {
        offsets_snap_free(x.b);
        return NULL;
    }
    return x.b;
}

static lj_val_t *snap_json(const cm_buf_t *b)
{
    lj_val_t *root = lj_new_obj(), *tab = lj_new_obj();
    size_t at = 0;
    while (at + 4 <= b->len) {
        uint32_t kl;
        int32_t n;
        memcpy(&kl, b->data + at, 4);
        if (at + 4 + kl + 4 > b->len)
            break; /* a short record: the snapshot ran out of memory there */
        memcpy(&n, b->data + at + 4 + kl, 4);
        const char *v = b->data + at + 8 + kl;
        if (n < 0 || (size_t)n * 8 > b->len - (at + 8 + kl))
            break;
        lj_val_t *m = lj_new_obj();
        for (int32_t i = 0; i < n; i++) {
            int64_t off;
            memcpy(&off, v + (size_t)i * 8, 8);
            if (off >= 0)
                lj_put(m, lj_new_int(i), lj_new_int(off));
        }
        /* keys are unique in the map: append, no duplicate search */
        lj_put(tab, lj_new_strn(b->data + at + 4, kl), m);
        at += 8 + kl + (size_t)n * 8;
    }
    lj_set(root, "offsetTable", tab);
    return root;
}

static int offsets_render(const void *snap, cm_buf_t *out)
{
    lj_val_t *root = snap_json(snap);
    int rc = lj_write(root, LJ_W_FASTJSON, out);
    lj_free(root);
    return rc;
}

const br_ptype_t br_offsets_ptype = {offsets_snap, offsets_render, offsets_snap_free};

lj_val_t *br_offsets_json(const br_offsets_t *o)
{
    cm_buf_t *b = offsets_snap(o);
    lj_val_t *root = b ? snap_json(b) : lj_new_obj();
    if (b)
        offsets_snap_free(b);
    return root;
}

int br_offsets_save(br_offsets_t *o)
{
    o->dirty = 0;
    if (o->ps)
        return br_persist_request(o->ps, BR_PERSIST_SOON_MS);
    int rc = br_persist_write(&br_offsets_ptype, o, o->path);
    if (rc)
        o->dirty = 1;
    return rc;
}

/* Put every offset of consumerOffset.json's JSON into the table (a file, or a master's). */
void br_offsets_merge(br_offsets_t *o, const lj_val_t *root)
{
    const lj_val_t *tab = lj_get(root, "offsetTable");
    for (size_t i = 0; tab && tab->type == LJ_OBJ && i < tab->n; i++) {
        const lj_val_t *m = tab->members[i].val;
        if (tab->members[i].key->type != LJ_STR || m->type != LJ_OBJ)
            continue;
        br_qoffsets_t *q = qo_get(o, tab->members[i].key->s, 1);
        for (size_t j = 0; q && j < m->n; j++) {
            int64_t qid = lj_int(m->members[j].key, -1);
            if (qid >= 0 && qid <= 65535)
                qo_set(q, (int)qid, lj_int(m->members[j].val, 0));
        }
    }
}

int br_offsets_load(br_offsets_t *o, const char *path)
{
    snprintf(o->path, sizeof o->path, "%s", path);
    cm_map_init(&o->map);
    lj_val_t *root = br_load_json_file(path);
    br_offsets_merge(o, root);
    lj_free(root);
    return 0;
}

void br_offsets_free(br_offsets_t *o) { cm_map_free(&o->map, free_qo); }

/* ---- subscription groups ---- */

br_group_t *br_groups_get(br_groups_t *g, const char *name) { return cm_map_get(&g->map, name); }

void br_group_extras_from_json(br_group_t *gr, const lj_val_t *v)
{
    gr->consumeMessageOrderly = lj_get_bool(v, "consumeMessageOrderly", 0);
    gr->consumeFromMinEnable = lj_get_bool(v, "consumeFromMinEnable", 1);
    gr->groupSysFlag = (int)lj_get_int(v, "groupSysFlag", 0);
    gr->consumeTimeoutMinute = (int)lj_get_int(v, "consumeTimeoutMinute", 15);
}

br_group_t *br_groups_put(br_groups_t *g, const char *name)
{
    br_group_t *gr = cm_map_get(&g->map, name);
    if (gr)
        return gr;
    gr = calloc(1, sizeof *gr);
    if (!gr || strlen(name) >= sizeof gr->name || cm_map_put(&g->map, name, gr)) {
        free(gr);
        return NULL;
    }
    snprintf(gr->name, sizeof gr->name, "%s", name);
    gr->consumeEnable = gr->consumeBroadcastEnable = 1;
    gr->retryQueueNums = 1;
    gr->retryMaxTimes = 16;
    gr->whichBrokerWhenConsumeSlowly = 1;
    gr->consumeFromMinEnable = 1;
    gr->consumeTimeoutMinute = 15;
    g->dvCounter++;
    g->dvTimestamp = cm_now_ms();
    return gr;
}

/* The snapshot persist.c takes on the loop thread: flat copies, no JSON. */
typedef struct groups_snap {
    int64_t dvCounter, dvTimestamp;
    size_t n, cap;
    br_group_t v[];
} groups_snap_t;

static void copy_group(const char *key, void *val, void *arg)
{
    groups_snap_t *s = arg;
    (void)key;
    if (s->n < s->cap)
        s->v[s->n++] = *(const br_group_t *)val;
}

static void *groups_snap(const void *table)
{
    const br_groups_t *g = table;
    groups_snap_t *s = malloc(sizeof *s + g->map.n * sizeof s->v[0]);
    if (!s)
        return NULL;
    *s = (groups_snap_t){g->dvCounter, g->dvTimestamp, 0, g->map.n};
    cm_map_each(&g->map, copy_group, s);
    return s;
}

static lj_val_t *group_json(const br_group_t *gr)
{
    lj_val_t *o = lj_new_obj();
    lj_set_int(o, "brokerId", gr->brokerId);
    lj_set_bool(o, "consumeBroadcastEnable", gr->consumeBroadcastEnable);
    lj_set_bool(o, "consumeEnable", gr->consumeEnable);
    lj_set_bool(o, "consumeFromMinEnable", gr->consumeFromMinEnable);
    lj_set_bool(o, "consumeMessageOrderly", gr->consumeMessageOrderly);
    lj_set_int(o, "consumeTimeoutMinute", gr->consumeTimeoutMinute);
    lj_set_int(o, "groupSysFlag", gr->groupSysFlag);
    lj_set_str(o, "groupName", gr->name);
    lj_set_bool(o, "notifyConsumerIdsChangedEnable", 1);
    lj_set_int(o, "retryMaxTimes", gr->retryMaxTimes);
    lj_set_int(o, "retryQueueNums", gr->retryQueueNums);
    lj_set_int(o, "whichBrokerWhenConsumeSlowly", gr->whichBrokerWhenConsumeSlowly);
    return o;
}

static lj_val_t *groups_snap_json(const groups_snap_t *s)
{
    lj_val_t *root = lj_new_obj(), *dv = lj_new_obj(), *tab = lj_new_obj();
    lj_set_int(dv, "counter", s->dvCounter);
    lj_set_int(dv, "timestamp", s->dvTimestamp);
    lj_set(root, "dataVersion", dv);
    for (size_t i = 0; i < s->n; i++) /* names are unique: append, no duplicate search */
        lj_put(tab, lj_new_str(s->v[i].name), group_json(&s->v[i]));
    lj_set(root, "subscriptionGroupTable", tab);
    return root;
}

lj_val_t *br_groups_json(const br_groups_t *g)
{
    groups_snap_t *s = groups_snap(g);
    lj_val_t *root = s ? groups_snap_json(s) : lj_new_obj();
    free(s);
    return root;
}

static int groups_render(const void *snap, cm_buf_t *out)
{
    lj_val_t *root = groups_snap_json(snap);
    int rc = lj_write(root, LJ_W_SORT, out);
    lj_free(root);
    return rc;
}

const br_ptype_t br_groups_ptype = {groups_snap, groups_render, free};

int br_groups_save(br_groups_t *g)
{
    return g->ps ? br_persist_request(g->ps, BR_PERSIST_SOON_MS) : br_persist_write(&br_groups_ptype, g, g->path);
}

static void groups_from_json(br_groups_t *g, const lj_val_t *root)
{
    const lj_val_t *dv = lj_get(root, "dataVersion");
    g->dvCounter = lj_get_int(dv, "counter", 0);
    g->dvTimestamp = lj_get_int(dv, "timestamp", 0);
    const lj_val_t *tab = lj_get(root, "subscriptionGroupTable");
    for (size_t i = 0; tab && tab->type == LJ_OBJ && i < tab->n; i++) {
        const lj_val_t *v = tab->members[i].val;
        if (tab->members[i].key->type != LJ_STR || v->type != LJ_OBJ)
            continue;
        br_group_t *gr = br_groups_put(g, tab->members[i].key->s);
        if (!gr)
            continue;
        gr->consumeEnable = lj_get_bool(v, "consumeEnable", 1);
        gr->consumeBroadcastEnable = lj_get_bool(v, "consumeBroadcastEnable", 1);
        gr->retryQueueNums = (int)lj_get_int(v, "retryQueueNums", 1);
        gr->retryMaxTimes = (int)lj_get_int(v, "retryMaxTimes", 16);
        gr->brokerId = lj_get_int(v, "brokerId", 0);
        gr->whichBrokerWhenConsumeSlowly = lj_get_int(v, "whichBrokerWhenConsumeSlowly", 1);
        br_group_extras_from_json(gr, v);
    }
}

int br_groups_load(br_groups_t *g, const char *path)
{
    snprintf(g->path, sizeof g->path, "%s", path);
    cm_map_init(&g->map);
    lj_val_t *root = br_load_json_file(path);
    groups_from_json(g, root);
    lj_free(root);
    return 0;
}

int br_groups_adopt(br_groups_t *g, const lj_val_t *root)
{
    if (!br_dv_changed(root, "subscriptionGroupTable", g->dvCounter, g->dvTimestamp))
        return 0;
    cm_map_free(&g->map, free);
    cm_map_init(&g->map);
    groups_from_json(g, root);
    br_groups_save(g);
    return 1;
}

void br_groups_free(br_groups_t *g) { cm_map_free(&g->map, free); }

br_group_t *br_group_for_request(br_broker_t *b, rm_conn_t *c, const rm_cmd_t *req, const char *group)
{
    br_group_t *g = br_groups_get(&b->groups, group);
    if (!g && b->cfg.autoCreateSubscriptionGroup && (g = br_groups_put(&b->groups, group)))
        br_groups_save(&b->groups);
    if (!g)
        rm_conn_respond_code(c, req, RC_SUBSCRIPTION_GROUP_NOT_EXIST, "subscription group [%s] does not exist", group);
    return g;
}

typedef struct topics_ctx { const char *group; size_t glen; void (*fn)(void *, const char *); void *arg; } topics_ctx_t;

static void topic_of_group(const char *key, void *val, void *arg)
{
    topics_ctx_t *t = arg;
    size_t kl = strlen(key);
    char topic[300];
    if (kl > t->glen + 1 && key[kl - t->glen - 1] == '@' && strcmp(key + kl - t->glen, t->group) == 0 &&
        kl - t->glen - 1 < sizeof topic) {
        memcpy(topic, key, kl - t->glen - 1);
        topic[kl - t->glen - 1] = 0;
        t->fn(t->arg, topic);
    }
}

void br_offsets_topics(const br_offsets_t *o, const char *group, void (*fn)(void *arg, const char *topic), void *arg)
{
    topics_ctx_t t = {group, strlen(group), fn, arg};
    cm_map_each(&o->map, topic_of_group, &t);
}

typedef struct pairs_ctx { void (*fn)(void *, const char *, const char *); void *arg; } pairs_ctx_t;

static void pair_of_key(const char *key, void *val, void *arg)
{
    pairs_ctx_t *p = arg;
    const char *at = strchr(key, '@'); /* names cannot hold '@': the key is "topic@group" */
    char topic[300];
    if (at && (size_t)(at - key) < sizeof topic) {
        memcpy(topic, key, (size_t)(at - key));
        topic[at - key] = 0;
        p->fn(p->arg, topic, at + 1);
    }
}

void br_offsets_pairs(const br_offsets_t *o, void (*fn)(void *arg, const char *topic, const char *group), void *arg)
{
    pairs_ctx_t p = {fn, arg};
    cm_map_each(&o->map, pair_of_key, &p);
}

void br_offsets_delete_group(br_offsets_t *o, const char *group)
{
    char **keys = NULL;
    size_t n = 0;
    for (size_t b = 0; b < o->map.nbuckets; b++)
        for (cm_map_entry_t *e = o->map.buckets[b]; e; e = e->next) {
            size_t kl = strlen(e->key), gl = strlen(group);
            if (kl > gl && e->key[kl - gl - 1] == '@' && strcmp(e->key + kl - gl, group) == 0) {
                char **nk = realloc(keys, (n + 1) * sizeof *nk);
                if (!nk)
                    break;
                keys = nk;
                keys[n++] = strdup(e->key);
            }
        }
    for (size_t i = 0; i < n; i++) {
        free_qo(cm_map_remove(&o->map, keys[i]));
        free(keys[i]);
    }
    free(keys);
    mark(o);
}
