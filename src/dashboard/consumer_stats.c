/* consumer_stats.c: the consumer group list behind consumer/groupList.query (contracts in
 * consumer_stats.h).
 *
 * Why this shape: rocketmq-dashboard asks, for every group on every page load, its consume
 * stats, its subscription config on every broker and its connections: 4+ requests per group,
 * so 800 groups took seconds and 2300 timed out (spec §5.1). Here a page load costs a fixed
 * number of requests per broker whatever the number of groups:
 *   - one GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201) per master: the groups, where they live, FIFO;
 *   - one GET_BROKER_CONSUME_STATS (317) per master: every group's lag and TPS at once;
 *   - one topic list (206) from the name server: a group that ever had a client has a
 *     %RETRY% topic (the broker makes it on the first heartbeat), so the groups without one
 *     are known offline without asking.
 * Only the client connections (count, version, type, model) need one request per group, and
 * only for groups that may have clients. Those answers are cached for a few seconds; a page
 * load refreshes the stale ones it needs, a few in parallel, within a time budget; what the
 * budget leaves is shown from the cache and refreshed first on the next load. So a small
 * cluster is always exact and a huge one stays fast, with counts at most a few loads old. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer_stats.h"

#define CONN_TTL_MS 3000     /* a cached connection answer is reused this long */
#define REFRESH_BUDGET_MS 1500
#define REFRESH_THREADS 4

/* ---- system groups ---- */

/* RocketMQ's built-in consumer groups (MixAll's system group set). */
static const char *const k_sys_groups[] = {
    "TOOLS_CONSUMER", "FILTERSRV_CONSUMER", "__MONITOR_CONSUMER", "CLIENT_INNER_PRODUCER", "SELF_TEST_P_GROUP",
    "SELF_TEST_C_GROUP", "CID_ONS-HTTP-PROXY", "CID_ONSAPI_PERMISSION", "CID_ONSAPI_OWNER", "CID_ONSAPI_PULL",
    "CID_RMQ_SYS_TRANS", NULL,
};

int cs_system_group(const char *group)
{
    if (strncmp(group, "CID_RMQ_SYS_", 12) == 0)
        return 1;
    for (int i = 0; k_sys_groups[i]; i++)
        if (strcmp(group, k_sys_groups[i]) == 0)
            return 1;
    return 0;
}

void cs_version_name(int64_t v, char out[32])
{
    /* MQVersion.Version ordinals: 3.x below 212, then two per release (SNAPSHOT, release) from
     * V4_0_0_SNAPSHOT (212) to V4_9_9, then the same for 5.x from 412 */
    if (v < 212) {
        snprintf(out, 32, "V3_x");
        return;
    }
    int major = v >= 412 ? 5 : 4;
    int64_t k = (v - (major == 5 ? 412 : 212)) / 2;
    if (k > 99) {
        snprintf(out, 32, "HIGHER_VERSION");
        return;
    }
    snprintf(out, 32, "V%d_%d_%d%s", major, (int)(k / 10), (int)(k % 10), (v % 2 == 0) ? "_SNAPSHOT" : "");
}

/* ---- masters ---- */

int cs_masters(dh_req_t *r, cs_master_t **out, int *n)
{
    char ns[128];
    lj_val_t *info = NULL;
    ad_broker_t *bs = NULL;
    ad_err_t e;
    *out = NULL;
    *n = 0;
    dh_namesrv_first(ns);
    if (!ns[0])
        return dh_fail(r, "no name server address is configured");
    if (ad_cluster_info(ns, &info, &e))
        return dh_fail_ad(r, &e);
    int nb = ad_brokers_of_info(info, &bs);
    lj_free(info);
    if (nb < 0)
        return dh_fail(r, "out of memory");
    cs_master_t *m = calloc((size_t)nb + 1, sizeof *m);
    if (!m) {
        free(bs);
        return dh_fail(r, "out of memory");
    }
    for (int i = 0; i < nb && *n < CS_MAX_MASTERS; i++) {
        if (bs[i].id != 0)
            continue;
        cs_master_t *x = &m[(*n)++];
        snprintf(x->cluster, sizeof x->cluster, "%s", bs[i].cluster);
        snprintf(x->name, sizeof x->name, "%s", bs[i].name);
        snprintf(x->addr, sizeof x->addr, "%s", bs[i].addr);
        dh_broker_addr(x->addr, x->call);
    }
    free(bs);
    *out = m;
    return 0;
}

int cs_master_index(const cs_master_t *m, int n, const char *addr)
{
    for (int i = 0; i < n; i++)
        if (strcmp(m[i].addr, addr) == 0 || strcmp(m[i].call, addr) == 0)
            return i;
    char vip[128];
    for (int i = 0; i < n; i++) { /* the VIP form of a master's address names that master too */
        ad_vip_addr(m[i].addr, vip);
        if (strcmp(vip, addr) == 0)
            return i;
    }
    return -1;
}

/* ---- the connection cache ---- */

typedef struct conn_entry {
    int count;
    int64_t version;
    char consumeType[24], messageModel[24];
    uint64_t at;
} conn_entry_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static cm_map_t g_conns; /* group -> conn_entry_t */

static void cache_get(cs_row_t *row)
{
    pthread_mutex_lock(&g_mu);
    const conn_entry_t *c = cm_map_get(&g_conns, row->group);
    if (c) {
        row->conn_known = 1;
        row->conn_at = c->at;
        row->count = c->count;
        row->version = c->version;
        memcpy(row->consumeType, c->consumeType, sizeof row->consumeType);
        memcpy(row->messageModel, c->messageModel, sizeof row->messageModel);
    }
    pthread_mutex_unlock(&g_mu);
}

static void cache_put(const cs_row_t *row)
{
    conn_entry_t *c = malloc(sizeof *c);
    if (!c)
        return;
    *c = (conn_entry_t){row->count, row->version, "", "", row->conn_at};
    memcpy(c->consumeType, row->consumeType, sizeof c->consumeType);
    memcpy(c->messageModel, row->messageModel, sizeof c->messageModel);
    pthread_mutex_lock(&g_mu);
    free(cm_map_remove(&g_conns, row->group)); /* cm_map_put would drop the old value */
    if (cm_map_put(&g_conns, row->group, c) != 0)
        free(c);
    pthread_mutex_unlock(&g_mu);
}

void cs_cache_drop(const char *group)
{
    pthread_mutex_lock(&g_mu);
    if (group)
        free(cm_map_remove(&g_conns, group));
    else
        cm_map_free(&g_conns, free);
    pthread_mutex_unlock(&g_mu);
}

typedef struct prune { const cm_map_t *keep; char **gone; size_t n, cap; } prune_t;

static void note_gone(const char *key, void *val, void *arg)
{
    prune_t *p = arg;
    (void)val;
    if (cm_map_get(p->keep, key) || p->n == p->cap)
        return;
    p->gone[p->n++] = cm_strdup(key);
}

/* Entries of groups no longer in the cluster go, so the cache stays the size of the list. */
static void cache_prune(const cm_map_t *keep)
{
    pthread_mutex_lock(&g_mu);
    prune_t p = {keep, NULL, 0, g_conns.n};
    if (g_conns.n > keep->n && (p.gone = calloc(p.cap, sizeof *p.gone)) != NULL) {
        cm_map_each(&g_conns, note_gone, &p);
        for (size_t i = 0; i < p.n; i++) {
            if (p.gone[i])
                free(cm_map_remove(&g_conns, p.gone[i]));
            free(p.gone[i]);
        }
        free(p.gone);
    }
    pthread_mutex_unlock(&g_mu);
}

/* ---- building the list ---- */

static cs_row_t *find_row(cs_list_t *l, const char *group)
{
    uintptr_t i = (uintptr_t)cm_map_get(&l->index, group);
    return i ? &l->rows[i - 1] : NULL;
}

static cs_row_t *add_row(cs_list_t *l, const char *group)
{
    cs_row_t *row = find_row(l, group);
    if (row)
        return row;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        cs_row_t *g = realloc(l->rows, cap * sizeof *g);
        if (!g)
            return NULL;
        l->rows = g;
        l->cap = cap;
    }
    row = &l->rows[l->n];
    memset(row, 0, sizeof *row);
    row->version = -1;
    if (!(row->group = cm_strdup(group)) || cm_map_put(&l->index, group, (void *)(uintptr_t)(l->n + 1)) != 0) {
        free(row->group);
        return NULL;
    }
    l->n++;
    return row;
}

/* The groups of one master's 201 answer (or just `only`). */
static int add_groups(cs_list_t *l, int mi, const lj_val_t *tab, const char *only)
{
    for (size_t i = 0; tab && tab->type == LJ_OBJ && i < tab->n; i++) {
        const char *name = lj_str(tab->members[i].key, NULL);
        if (!name || !*name || (only && strcmp(name, only) != 0))
            continue;
        cs_row_t *row = add_row(l, name);
        if (!row)
            return -1;
        row->held |= 1ull << mi;
        if (lj_get_bool(tab->members[i].val, "consumeMessageOrderly", 0))
            row->orderly |= 1ull << mi;
    }
    return 0;
}

/* Lag and TPS of one ConsumeStats (208's answer, or one entry of 317's). */
static void stats_sum(const lj_val_t *cs, int64_t *diff, double *tps)
{
    const lj_val_t *tab = lj_get(cs, "offsetTable");
    for (size_t i = 0; tab && tab->type == LJ_OBJ && i < tab->n; i++)
        *diff += lj_get_int(tab->members[i].val, "brokerOffset", 0) - lj_get_int(tab->members[i].val, "consumerOffset", 0);
    double t = lj_double(lj_get(cs, "consumeTps"), 0);
    if (t > *tps)
        *tps = t;
}

/* 317's answer: {consumeStatsList:[{group:[ConsumeStats per topic]}]}. Loulan's broker puts
 * the group's whole TPS on each topic entry, so a broker's TPS is the largest entry's, not
 * their sum (which would count it once per topic). */
static void add_bulk_stats(cs_list_t *l, const lj_val_t *ans)
{
    const lj_val_t *list = lj_get(ans, "consumeStatsList");
    for (size_t i = 0; list && list->type == LJ_ARR && i < list->n; i++) {
        const lj_val_t *m = list->items[i];
        for (size_t j = 0; m && m->type == LJ_OBJ && j < m->n; j++) {
            cs_row_t *row = find_row(l, lj_str(m->members[j].key, ""));
            const lj_val_t *arr = m->members[j].val;
            if (!row)
                continue;
            double tps = 0;
            for (size_t k = 0; arr && arr->type == LJ_ARR && k < arr->n; k++)
                stats_sum(arr->items[k], &row->diff, &tps);
            row->tps += tps;
            row->diff_known = 1;
        }
    }
}

/* One group's consume stats on master mi (208): 0 when it answered. */
static int group_stats(const cs_list_t *l, int mi, cs_row_t *row)
{
    lj_val_t *st = NULL;
    ad_err_t e;
    if (ad_call_fields(l->masters[mi].call, &st, &e, 208, "consumerGroup", row->group, NULL))
        return -1;
    double tps = 0;
    stats_sum(st, &row->diff, &tps);
    row->tps += tps;
    row->diff_known = 1;
    lj_free(st);
    return 0;
}

/* The group names that have a %RETRY% topic on the name server; -1 when the list failed. */
static int retry_groups(cm_map_t *out)
{
    char ns[128];
    lj_val_t *tl = NULL;
    ad_err_t e;
    dh_namesrv_first(ns);
    if (ad_call_fields(ns, &tl, &e, 206, NULL))
        return -1;
    const lj_val_t *arr = lj_get(tl, "topicList");
    for (size_t i = 0; arr && arr->type == LJ_ARR && i < arr->n; i++) {
        const char *t = lj_str(arr->items[i], "");
        if (strncmp(t, "%RETRY%", 7) == 0 && t[7])
            cm_map_put(out, t + 7, (void *)1);
    }
    lj_free(tl);
    return 0;
}

/* Which groups may have clients: a %RETRY% topic, or consume TPS now. A name too long for
 * its retry topic to exist (the broker makes none past 127 bytes) is always asked. */
static void mark_candidates(cs_list_t *l, const char *only)
{
    cm_map_t retry;
    cm_map_init(&retry);
    int listed = only ? -1 : retry_groups(&retry);
    for (size_t i = 0; i < l->n; i++) {
        cs_row_t *row = &l->rows[i];
        row->candidate = listed != 0 || cm_map_get(&retry, row->group) || row->tps > 0 || strlen(row->group) > 119;
        if (row->candidate)
            cache_get(row);
    }
    cm_map_free(&retry, NULL);
}

static void classify(cs_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        cs_row_t *row = &l->rows[i];
        if (cs_system_group(row->group))
            row->type = CS_SYSTEM;
        else if (row->held && row->orderly == row->held)
            row->type = CS_FIFO; /* as the original: ordered on every broker that has it */
        else
            row->type = CS_NORMAL;
    }
}

/* What one master answered; fetched on a thread per master, so a cluster of many brokers
 * costs the slowest broker's time, not their sum. */
typedef struct fetch {
    const cs_master_t *m;
    const char *only;
    lj_val_t *groups, *stats;  /* 201's answer; 317's (or 208's for only) */
    int groups_rc, stats_rc;
    ad_err_t eg, es;
    pthread_t th;
    int started;
} fetch_t;

static void *fetch_master(void *arg)
{
    fetch_t *f = arg;
    f->groups_rc = ad_call_fields(f->m->call, &f->groups, &f->eg, 201, NULL);
    if (f->groups_rc == 0 && f->only)
        f->stats_rc = ad_call_fields(f->m->call, &f->stats, &f->es, 208, "consumerGroup", f->only, NULL);
    else if (f->groups_rc == 0)
        f->stats_rc = ad_call_fields(f->m->call, &f->stats, &f->es, 317, "isOrder", "false", NULL);
    else
        f->stats_rc = -1, f->es = f->eg;
    return NULL;
}

static fetch_t *fetch_all(const cs_list_t *l, const char *only)
{
    fetch_t *f = calloc((size_t)l->nm + 1, sizeof *f);
    for (int i = 0; f && i < l->nm; i++) {
        f[i].m = &l->masters[i];
        f[i].only = only;
        f[i].started = l->nm > 1 && pthread_create(&f[i].th, NULL, fetch_master, &f[i]) == 0;
        if (!f[i].started)
            fetch_master(&f[i]);
    }
    for (int i = 0; f && i < l->nm; i++)
        if (f[i].started)
            pthread_join(f[i].th, NULL);
    return f;
}

/* Merge the masters' answers: groups first (rows), then their stats. 0 or -1 (out of memory). */
static int merge_fetched(cs_list_t *l, fetch_t *f, const char *only)
{
    uint64_t failed = 0;
    for (int i = 0; i < l->nm; i++)
        if (f[i].groups_rc == 0 && add_groups(l, i, lj_get(f[i].groups, "subscriptionGroupTable"), only) != 0)
            return -1;
    for (int i = 0; i < l->nm; i++) {
        cs_row_t *row = only ? find_row(l, only) : NULL;
        if (f[i].stats_rc == 0 && only && row) {
            double tps = 0;
            stats_sum(f[i].stats, &row->diff, &tps);
            row->tps += tps;
            row->diff_known = 1;
        } else if (f[i].stats_rc == 0 && !only) {
            add_bulk_stats(l, f[i].stats);
        } else if (f[i].groups_rc == 0 && strncmp(f[i].es.msg, "CODE:", 5) == 0) {
            failed |= 1ull << i; /* it answered, without 317: per group 208 for the rows shown */
        } /* no answer at all: asking it once per group would only multiply the wait */
    }
    for (size_t i = 0; i < l->n; i++)
        l->rows[i].stats_todo = only ? 0 : failed & l->rows[i].held;
    return 0;
}

int cs_list_load(dh_req_t *r, cs_list_t *l, const char *only)
{
    memset(l, 0, sizeof *l);
    cm_map_init(&l->index);
    if (cs_masters(r, &l->masters, &l->nm))
        return -1;
    fetch_t *f = fetch_all(l, only);
    if (!f)
        return dh_fail(r, "out of memory");
    int answered = 0, rc = merge_fetched(l, f, only) ? dh_fail(r, "out of memory") : 0;
    for (int i = 0; i < l->nm; i++) {
        answered += f[i].groups_rc == 0; /* a broker down: the groups of the others still show */
        lj_free(f[i].groups);
        lj_free(f[i].stats);
    }
    if (rc == 0 && l->nm && !answered)
        rc = dh_fail_ad(r, &f[0].eg);
    free(f);
    if (rc)
        return -1;
    classify(l);
    mark_candidates(l, only);
    if (!only)
        cache_prune(&l->index);
    return 0;
}

void cs_list_free(cs_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->rows[i].group);
    free(l->rows);
    free(l->masters);
    cm_map_free(&l->index, NULL);
    memset(l, 0, sizeof *l);
}

/* ---- refreshing rows ---- */

/* The lowest version among the connections, -1 when none. */
static int64_t lowest_version(const lj_val_t *set)
{
    int64_t v = -1;
    for (size_t i = 0; set && set->type == LJ_ARR && i < set->n; i++) {
        int64_t x = lj_get_int(set->items[i], "version", -1);
        if (x >= 0 && (v < 0 || x < v))
            v = x;
    }
    return v;
}

/* The group's connections from the first master holding it where it is online; none online:
 * count 0 and no type, as the original shows an offline group. */
static void refresh_conn(const cs_list_t *l, cs_row_t *row)
{
    row->count = 0;
    row->version = -1;
    row->consumeType[0] = row->messageModel[0] = 0;
    for (int i = 0; i < l->nm; i++) {
        lj_val_t *cc = NULL;
        ad_err_t e;
        if (!(row->held >> i & 1) ||
            ad_call_fields(l->masters[i].call, &cc, &e, 203, "consumerGroup", row->group, NULL) != 0)
            continue;
        const lj_val_t *set = lj_get(cc, "connectionSet");
        row->count = set && set->type == LJ_ARR ? (int)set->n : 0;
        row->version = lowest_version(set);
        snprintf(row->consumeType, sizeof row->consumeType, "%s", lj_get_str(cc, "consumeType", ""));
        snprintf(row->messageModel, sizeof row->messageModel, "%s", lj_get_str(cc, "messageModel", ""));
        lj_free(cc);
        if (row->count > 0)
            break;
    }
    row->conn_known = 1;
    row->conn_at = cm_mono_ms();
    cache_put(row);
}

typedef struct work {
    cs_list_t *l;
    size_t *todo, n;
    atomic_size_t next;
    uint64_t deadline;
    int force;
} work_t;

static int needs_conn(const cs_row_t *row, uint64_t now, int force)
{
    return row->candidate && (force || !row->conn_known || now - row->conn_at > CONN_TTL_MS);
}

static void *worker(void *arg)
{
    work_t *w = arg;
    for (;;) {
        size_t i = atomic_fetch_add(&w->next, 1);
        if (i >= w->n || cm_mono_ms() > w->deadline)
            break;
        cs_row_t *row = &w->l->rows[w->todo[i]];
        for (int m = 0; m < w->l->nm; m++)
            if ((row->stats_todo >> m & 1) && group_stats(w->l, m, row) == 0)
                row->stats_todo &= ~(1ull << m);
        if (needs_conn(row, cm_mono_ms(), w->force))
            refresh_conn(w->l, row);
    }
    return NULL;
}

/* Never asked first, then the stalest: what the budget leaves is the freshest already. */
static int by_age(const void *a, const void *b, void *arg)
{
    const cs_row_t *rows = arg, *x = &rows[*(const size_t *)a], *y = &rows[*(const size_t *)b];
    uint64_t ax = x->conn_known ? x->conn_at : 0, ay = y->conn_known ? y->conn_at : 0;
    return (ax > ay) - (ax < ay);
}

void cs_refresh(cs_list_t *l, const size_t *idx, size_t k, int force)
{
    uint64_t now = cm_mono_ms();
    work_t w = {l, calloc(k + 1, sizeof(size_t)), 0, 0, now + REFRESH_BUDGET_MS, force};
    if (!w.todo)
        return;
    for (size_t i = 0; i < k; i++) {
        const cs_row_t *row = &l->rows[idx[i]];
        if (row->stats_todo || needs_conn(row, now, force))
            w.todo[w.n++] = idx[i];
    }
    qsort_r(w.todo, w.n, sizeof *w.todo, by_age, l->rows);
    pthread_t th[REFRESH_THREADS];
    int nt = 0;
    for (; nt < REFRESH_THREADS && (size_t)nt * 4 < w.n; nt++) /* a thread per 4 rows at most */
        if (pthread_create(&th[nt], NULL, worker, &w) != 0)
            break;
    if (nt == 0)
        worker(&w);
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    free(w.todo);
}

/* ---- rendering ---- */

static lj_val_t *str_or_null(const char *s) { return s && *s ? lj_new_str(s) : lj_new_null(); }

lj_val_t *cs_row_json(const cs_list_t *l, const cs_row_t *row, int skip_sys)
{
    static const char *const k_types[] = {"NORMAL", "FIFO", "SYSTEM"};
    lj_val_t *o = lj_new_obj(), *addrs = lj_new_arr();
    char name[300], ver[32];
    snprintf(name, sizeof name, "%s%s", row->type == CS_SYSTEM && !skip_sys ? "%SYS%" : "", row->group);
    lj_put(o, lj_new_str("group"), lj_new_str(name)); /* a new object: append, no key search */
    if (row->version >= 0)
        cs_version_name(row->version, ver);
    lj_put(o, lj_new_str("version"), str_or_null(row->version >= 0 ? ver : NULL));
    lj_put(o, lj_new_str("count"), lj_new_int(row->count));
    lj_put(o, lj_new_str("consumeType"), str_or_null(row->consumeType));
    lj_put(o, lj_new_str("messageModel"), str_or_null(row->messageModel));
    for (int i = 0; i < l->nm; i++)
        if (row->held >> i & 1)
            lj_push(addrs, lj_new_str(l->masters[i].addr));
    lj_put(o, lj_new_str("address"), addrs);
    lj_put(o, lj_new_str("consumeTps"), lj_new_int((int64_t)row->tps));
    /* -1 only when no broker could say; a broker that failed does not hide the others' lag */
    lj_put(o, lj_new_str("diffTotal"), lj_new_int(row->diff_known ? row->diff : -1));
    lj_put(o, lj_new_str("subGroupType"), lj_new_str(k_types[row->type]));
    return o;
}
