/* api_topic.c: the Topic page's requests (spec dashboard.md §3.3), all but the two consumer views
 * (api_consumer.c).
 *
 * The lists are built from one request per server, never one per topic (the original's
 * list.queryTopicType asks route + cluster + every broker's whole table per topic, issue #281):
 * the name server's topic list (206) and system names (304, then 305 to the broker it names),
 * and, only when message types are wanted, one GET_ALL_TOPIC_CONFIG (21) per master, in
 * parallel, read into a map of the topics that carry a message.type attribute. Filtering by
 * name and type and paging (Loulan's optional parameters) happen here, so the browser gets one
 * page of a sorted list.
 *
 * Test messages go through the C client library: one long-lived producer of group
 * SELF_TEST_P_GROUP per kind (with or without trace), created on first use and again when the
 * name server or TLS setting changed. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dashboard.h"
#include "loulan/client.h"
#include "loulan/tls.h"

#define FANOUT 16
#define MAX_BROKERS 256


/* ---- topic kinds ---- */

enum { K_NORMAL, K_FIFO, K_DELAY, K_TRANSACTION, K_MIXED, K_UNSPECIFIED, K_RETRY, K_DLQ, K_SYSTEM, K_COUNT };
static const char *const k_kind[K_COUNT] = {"NORMAL", "FIFO", "DELAY", "TRANSACTION", "MIXED",
                                            "UNSPECIFIED", "RETRY", "DLQ", "SYSTEM"};
#define MESSAGE_KINDS ((1u << K_NORMAL) | (1u << K_FIFO) | (1u << K_DELAY) | (1u << K_TRANSACTION) | \
                       (1u << K_MIXED) | (1u << K_UNSPECIFIED))

static int kind_of_name(const char *s, size_t n)
{
    for (int k = 0; k < K_COUNT; k++)
        if (strlen(k_kind[k]) == n && strncasecmp(k_kind[k], s, n) == 0)
            return k;
    return -1;
}

/* A message.type attribute value as a kind; what RocketMQ does not define counts as UNSPECIFIED. */
static int message_kind(const char *v)
{
    int k = v ? kind_of_name(v, strlen(v)) : -1;
    return k >= 0 && ((1u << k) & MESSAGE_KINDS) ? k : K_UNSPECIFIED;
}

/* ---- small helpers ---- */

/* RocketMQ's topic name rule (TopicValidator): 1-127 of [%|a-zA-Z0-9_-]. */
static int topic_name_ok(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 127)
        return 0;
    return strspn(t, "%|_-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == n;
}

static int topic_param(dh_req_t *r, const char **topic)
{
    if (dh_param_req(r, "topic", topic))
        return -1;
    if (!topic_name_ok(*topic))
        return dh_fail(r, "bad topic: 1 to 127 characters of %%|a-zA-Z0-9_-");
    return 0;
}

/* A broker: its name and the master's address (as the name server lists it). */
typedef struct master { char name[128], addr[128], cluster[128]; } master_t;

/* The masters of a route (105 answer) into ms; how many. */
static int route_masters(const lj_val_t *route, master_t *ms, int max)
{
    const lj_val_t *bds = lj_get(route, "brokerDatas");
    int n = 0;
    for (size_t i = 0; bds && bds->type == LJ_ARR && i < bds->n && n < max; i++) {
        const char *a = lj_get_str(lj_get(bds->items[i], "brokerAddrs"), "0", NULL);
        if (!a)
            continue;
        snprintf(ms[n].name, sizeof ms[n].name, "%s", lj_get_str(bds->items[i], "brokerName", ""));
        snprintf(ms[n].addr, sizeof ms[n].addr, "%s", a);
        n++;
    }
    return n;
}

/* The masters of a cluster info (106 answer) into ms, all clusters or only `cluster`; how many. */
static int cluster_masters(const lj_val_t *info, const char *cluster, master_t *ms, int max)
{
    ad_broker_t *bs = NULL;
    int nb = ad_brokers_of_info(info, &bs), n = 0;
    for (int i = 0; i < nb && n < max; i++) {
        if (bs[i].id != 0 || (cluster && strcmp(bs[i].cluster, cluster) != 0))
            continue;
        snprintf(ms[n].name, sizeof ms[n].name, "%s", bs[i].name);
        snprintf(ms[n].addr, sizeof ms[n].addr, "%s", bs[i].addr);
        snprintf(ms[n].cluster, sizeof ms[n].cluster, "%s", bs[i].cluster);
        n++;
    }
    free(bs);
    return n;
}

static int fetch_route(dh_req_t *r, const char *topic, lj_val_t **route)
{
    char ns[128];
    dh_namesrv_first(ns);
    ad_err_t e;
    return ad_route(ns, topic, route, &e) ? dh_fail_ad(r, &e) : 0;
}

static int fetch_cluster(dh_req_t *r, lj_val_t **info)
{
    ad_err_t e;
    return dh_cluster_info(info, &e) ? dh_fail_ad(r, &e) : 0;
}

/* ---- every master's topic table (21), in parallel ---- */

typedef struct tables_job {
    const master_t *ms;
    lj_val_t **tables; /* per master: its whole answer, NULL when it failed */
    ad_err_t *errs;
} tables_job_t;

static void fetch_table(size_t i, void *arg)
{
    tables_job_t *j = arg;
    char addr[128];
    dh_broker_addr(j->ms[i].addr, addr);
    if (ad_call_fields(addr, &j->tables[i], &j->errs[i], 21, NULL) != 0)
        j->tables[i] = NULL;
}

/* ---- the topic list (list.query, list.queryTopicType) ---- */

typedef struct trow {
    char *name;         /* as answered: "%SYS%" + topic for system topics unless skipSysProcess */
    const char *topic;  /* the topic itself (in the name server's answer) */
    int kind;
} trow_t;

typedef struct tlist {
    lj_val_t *all;      /* 206 answer: rows point into it */
    cm_map_t sys;       /* system topic names */
    struct types_snap **snaps; /* per master: its message types */
    size_t nsnaps;
    trow_t *rows;
    size_t n;
} tlist_t;

static void snap_release(struct types_snap *s);

static void tlist_free(tlist_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->rows[i].name != l->rows[i].topic)
            free(l->rows[i].name);
    free(l->rows);
    cm_map_free(&l->sys, NULL);
    for (size_t i = 0; i < l->nsnaps; i++)
        snap_release(l->snaps[i]);
    free(l->snaps);
    lj_free(l->all);
    memset(l, 0, sizeof *l);
}

static void add_names(cm_map_t *m, const lj_val_t *answer)
{
    const lj_val_t *a = lj_get(answer, "topicList");
    for (size_t i = 0; a && a->type == LJ_ARR && i < a->n; i++)
        if (a->items[i]->type == LJ_STR)
            cm_map_put(m, a->items[i]->s, (void *)1);
}

/* The system topics: the name server's (cluster and broker names, 304) and those of the broker
 * it names (305). Not fatal when missing: the list is still right but for the SYSTEM marks. */
static void system_topics(const char *ns, cm_map_t *sys)
{
    lj_val_t *a = NULL, *b = NULL;
    ad_err_t e;
    if (ad_call_fields(ns, &a, &e, 304, NULL) != 0)
        return;
    add_names(sys, a);
    const char *baddr = lj_get_str(a, "brokerAddr", NULL);
    char addr[128];
    if (baddr) {
        dh_broker_addr(baddr, addr);
        if (ad_call_fields(addr, &b, &e, 305, NULL) == 0)
            add_names(sys, b);
    }
    lj_free(a);
    lj_free(b);
}

/* ---- message types per master, cached by the broker's topic-config data version ----
 * A master's whole table (21) costs the broker ~0.1-0.2 s to write for 10,000 topics, on every
 * page of the list. Its data version, which the name server has from the broker's last
 * registration (QUERY_DATA_VERSION, 322), costs a millisecond: the types read from a table stay
 * valid while that version is unchanged. Snapshots are reference-counted, so a request keeps
 * using the one it took while another replaces it. */

typedef struct types_snap {
    int refs;
    cm_map_t map;       /* topic -> kind + 1, topics with a message.type attribute only */
} types_snap_t;

typedef struct types_entry {
    char addr[128];
    int64_t counter, ts; /* the table's data version */
    types_snap_t *snap;
    uint64_t used;
} types_entry_t;

#define TYPES_CACHE 64
static pthread_mutex_t g_types_mu = PTHREAD_MUTEX_INITIALIZER;
static types_entry_t g_types[TYPES_CACHE];
static uint64_t g_types_clock;

static void snap_release(types_snap_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&g_types_mu);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&g_types_mu);
    if (last) {
        cm_map_free(&s->map, NULL);
        free(s);
    }
}

/* The cached snapshot of addr at exactly this version (a reference), or NULL. */
static types_snap_t *cache_get(const char *addr, int64_t counter, int64_t ts)
{
    types_snap_t *s = NULL;
    pthread_mutex_lock(&g_types_mu);
    for (int i = 0; i < TYPES_CACHE && !s; i++)
        if (g_types[i].snap && strcmp(g_types[i].addr, addr) == 0 && g_types[i].counter == counter &&
            g_types[i].ts == ts) {
            s = g_types[i].snap;
            s->refs++;
            g_types[i].used = ++g_types_clock;
        }
    pthread_mutex_unlock(&g_types_mu);
    return s;
}

/* Keep s (the caller keeps its own reference) as addr's snapshot at this version. */
static void cache_put(const char *addr, int64_t counter, int64_t ts, types_snap_t *s)
{
    types_snap_t *old = NULL;
    pthread_mutex_lock(&g_types_mu);
    int at = 0;
    for (int i = 0; i < TYPES_CACHE; i++) { /* this broker's entry, else the least recently used */
        if (g_types[i].snap && strcmp(g_types[i].addr, addr) == 0) {
            at = i;
            break;
        }
        if (g_types[i].used < g_types[at].used)
            at = i;
    }
    old = g_types[at].snap;
    snprintf(g_types[at].addr, sizeof g_types[at].addr, "%s", addr);
    g_types[at].counter = counter;
    g_types[at].ts = ts;
    g_types[at].snap = s;
    g_types[at].used = ++g_types_clock;
    s->refs++;
    pthread_mutex_unlock(&g_types_mu);
    snap_release(old);
}

/* The name server's data version of a master's topic table; -1 when it has none. A version
 * that cannot match is sent on purpose: a matching one would count as the broker's heartbeat. */
static int ns_data_version(const char *ns, const master_t *m, int64_t *counter, int64_t *ts)
{
    static const char k_never[] = "{\"counter\":-7,\"timestamp\":-7}";
    rm_cmd_t resp;
    ad_err_t e;
    if (ad_call_raw(ns, &resp, &e, k_never, sizeof k_never - 1, 322, "brokerAddr", m->addr, "brokerName", m->name,
                    "clusterName", m->cluster, "brokerId", "0", NULL) != 0)
        return -1;
    lj_val_t *dv = NULL;
    int rc = resp.body_len && lj_parse((const char *)resp.body, resp.body_len, &dv) == 0 ? 0 : -1;
    *counter = lj_get_int(dv, "counter", -1);
    *ts = lj_get_int(dv, "timestamp", -1);
    lj_free(dv);
    rm_cmd_free(&resp);
    return rc == 0 && *counter >= 0 ? 0 : -1;
}

/* ---- a master's table (21): its topics' message types and its data version ----
 * Parsed with the common JSON reader (fuzzed with everything else that reads JSON); the
 * result is cached per master by data version, so a table is read once per change. */

/* The message types of one master's table (21 answer body) and its data version (-1 when it
 * has none). NULL when the text is not a topic table or out of memory. */
static types_snap_t *snap_of_table(const char *text, size_t len, int64_t *counter, int64_t *ts)
{
    lj_val_t *root = NULL;
    if (lj_parse(text, len, &root) != 0 || root->type != LJ_OBJ) {
        lj_free(root);
        return NULL;
    }
    types_snap_t *snap = calloc(1, sizeof *snap);
    if (!snap) {
        lj_free(root);
        return NULL;
    }
    snap->refs = 1;
    const lj_val_t *dv = lj_get(root, "dataVersion"), *tab = lj_get(root, "topicConfigTable");
    *counter = lj_get_int(dv, "counter", -1);
    *ts = lj_get_int(dv, "timestamp", -1);
    for (size_t i = 0; tab && tab->type == LJ_OBJ && i < tab->n; i++) {
        const char *topic = lj_str(tab->members[i].key, NULL);
        const char *type = lj_get_str(lj_get(tab->members[i].val, "attributes"), "message.type", NULL);
        if (topic && type && cm_map_put(&snap->map, topic, (void *)(intptr_t)(message_kind(type) + 1)) != 0)
            break; /* out of memory: the rest show as UNSPECIFIED */
    }
    lj_free(root);
    return snap;
}

typedef struct types_job {
    const master_t *ms;
    const char *ns;
    types_snap_t **snaps; /* per master, NULL when it did not answer */
} types_job_t;

static void master_types(size_t i, void *arg)
{
    types_job_t *j = arg;
    const master_t *m = &j->ms[i];
    int64_t counter = -1, ts = -1;
    int versioned = ns_data_version(j->ns, m, &counter, &ts) == 0;
    if (versioned && (j->snaps[i] = cache_get(m->addr, counter, ts)) != NULL)
        return;
    char addr[128];
    dh_broker_addr(m->addr, addr);
    rm_cmd_t resp;
    ad_err_t e;
    if (ad_call_raw(addr, &resp, &e, NULL, 0, 21, NULL) != 0) {
        /* its topics show as UNSPECIFIED; the page still loads */
        LOG_W("dashboard", "topic types: %s: %s", m->addr, e.msg);
        return;
    }
    j->snaps[i] = snap_of_table((const char *)resp.body, resp.body_len, &counter, &ts);
    rm_cmd_free(&resp);
    if (!j->snaps[i])
        LOG_W("dashboard", "topic types: %s: its topic table does not read", m->addr);
    else if (counter >= 0)
        cache_put(m->addr, counter, ts, j->snaps[i]);
}

/* The message types of every master into l->snaps. */
static int message_types(dh_req_t *r, tlist_t *l)
{
    lj_val_t *info = NULL;
    if (fetch_cluster(r, &info))
        return -1;
    master_t *ms = calloc(MAX_BROKERS, sizeof *ms);
    l->snaps = calloc(MAX_BROKERS, sizeof *l->snaps);
    int n = ms && l->snaps ? cluster_masters(info, NULL, ms, MAX_BROKERS) : -1;
    lj_free(info);
    if (n < 0) {
        free(ms);
        return dh_fail(r, "out of memory");
    }
    char ns[128];
    dh_namesrv_first(ns);
    types_job_t job = {ms, ns, l->snaps};
    dh_each_parallel((size_t)n, FANOUT, master_types, &job);
    l->nsnaps = (size_t)n;
    free(ms);
    return 0;
}

static int kind_of_topic(const tlist_t *l, const char *t)
{
    if (strncmp(t, "%RETRY%", 7) == 0)
        return K_RETRY;
    if (strncmp(t, "%DLQ%", 5) == 0)
        return K_DLQ;
    /* TopicValidator.isSystemTopic: the listed names and the rmq_sys_ prefix */
    if (cm_map_get(&l->sys, t) || strncmp(t, "rmq_sys_", 8) == 0)
        return K_SYSTEM;
    for (size_t i = 0; i < l->nsnaps; i++) { /* the first master that has a type for it */
        intptr_t k = l->snaps[i] ? (intptr_t)cm_map_get(&l->snaps[i]->map, t) : 0;
        if (k)
            return (int)k - 1;
    }
    return K_UNSPECIFIED;
}

typedef struct list_opts {
    int sys_prefix;      /* name system topics "%SYS%<topic>" */
    int skip_retry_dlq;
    const char *filter;  /* case-insensitive substring of the topic, NULL = all */
    unsigned kinds;      /* bit per kind, 0 = all */
} list_opts_t;

/* `types`: a comma list of kind names; NORMAL takes in UNSPECIFIED, as the 4.x mode shows them. */
static int parse_kinds(dh_req_t *r, unsigned *out)
{
    const char *v = dh_param(r, "types");
    *out = 0;
    if (!v)
        return 0;
    for (const char *p = v; *p;) {
        size_t n = strcspn(p, ",");
        while (n && *p == ' ')
            p++, n--;
        size_t m = n;
        while (m && p[m - 1] == ' ')
            m--;
        if (m) {
            int k = kind_of_name(p, m);
            if (k < 0)
                return dh_fail(r, "bad types: %.*s is none of NORMAL, RETRY, DLQ, SYSTEM, DELAY, FIFO, TRANSACTION, "
                                  "UNSPECIFIED, MIXED", (int)(m > 40 ? 40 : m), p);
            *out |= 1u << k;
            if (k == K_NORMAL)
                *out |= 1u << K_UNSPECIFIED;
        }
        p += n + (p[n] == ',');
    }
    /* present but empty (every box unticked): nothing matches */
    if (!*out)
        *out = 1u << K_COUNT;
    return 0;
}

static int cmp_row(const void *a, const void *b) { return strcmp(((const trow_t *)a)->name, ((const trow_t *)b)->name); }

/* The topic list, classified, filtered and sorted into l; types read from the brokers when
 * need_types. 0, or -1 with r failed. */
static int build_list(dh_req_t *r, const list_opts_t *o, int need_types, tlist_t *l)
{
    char ns[128];
    dh_namesrv_first(ns);
    ad_err_t e;
    if (ad_call_fields(ns, &l->all, &e, 206, NULL) != 0)
        return dh_fail_ad(r, &e);
    system_topics(ns, &l->sys);
    if (need_types && message_types(r, l))
        return -1;
    const lj_val_t *a = lj_get(l->all, "topicList");
    size_t cap = a && a->type == LJ_ARR ? a->n : 0;
    l->rows = calloc(cap ? cap : 1, sizeof *l->rows);
    if (!l->rows)
        return dh_fail(r, "out of memory");
    for (size_t i = 0; i < cap; i++) {
        const char *t = lj_str(a->items[i], NULL);
        if (!t)
            continue;
        int k = kind_of_topic(l, t);
        if ((o->skip_retry_dlq && (k == K_RETRY || k == K_DLQ)) || (o->kinds && !(o->kinds & (1u << k))) ||
            (o->filter && !dh_contains_ci(t, o->filter)))
            continue;
        trow_t *row = &l->rows[l->n];
        row->topic = t;
        row->kind = k;
        row->name = (char *)t;
        if (o->sys_prefix && k == K_SYSTEM) {
            size_t len = strlen(t) + 6;
            if (!(row->name = malloc(len)))
                return dh_fail(r, "out of memory");
            snprintf(row->name, len, "%%SYS%%%s", t);
        }
        l->n++;
    }
    qsort(l->rows, l->n, sizeof *l->rows, cmp_row);
    return 0;
}

/* The request's filter, types and paging; 0 or -1 with r failed. */
static int list_params(dh_req_t *r, list_opts_t *o)
{
    const char *f = dh_param(r, "filter");
    o->filter = f && *f ? f : NULL;
    return parse_kinds(r, &o->kinds);
}

static int h_list(dh_req_t *r, lj_val_t **data)
{
    int skip_sys, skip_rd;
    list_opts_t o = {0};
    if (dh_param_bool(r, "skipSysProcess", 0, &skip_sys) || dh_param_bool(r, "skipRetryAndDlq", 0, &skip_rd) ||
        list_params(r, &o))
        return -1;
    o.sys_prefix = !skip_sys;
    o.skip_retry_dlq = skip_rd;
    tlist_t l = {0};
    size_t from, to;
    int paged;
    if (build_list(r, &o, (o.kinds & MESSAGE_KINDS) != 0, &l) || (paged = dh_page_range(r, l.n, &from, &to)) < 0) {
        tlist_free(&l);
        return -1;
    }
    lj_val_t *out = lj_new_obj(), *names = lj_new_arr();
    for (size_t i = from; i < to; i++)
        lj_push(names, lj_new_str(l.rows[i].name));
    lj_set(out, "topicList", names);
    lj_set(out, "brokerAddr", lj_new_null());
    if (paged)
        dh_page_info(r, out, l.n);
    tlist_free(&l);
    *data = out;
    return 0;
}

static int h_list_type(dh_req_t *r, lj_val_t **data)
{
    list_opts_t o = {.sys_prefix = 1};
    if (list_params(r, &o))
        return -1;
    tlist_t l = {0};
    size_t from, to;
    int paged;
    /* without a type filter the types are still answered: always read them */
    if (build_list(r, &o, 1, &l) || (paged = dh_page_range(r, l.n, &from, &to)) < 0) {
        tlist_free(&l);
        return -1;
    }
    lj_val_t *out = lj_new_obj(), *names = lj_new_arr(), *kinds = lj_new_arr();
    for (size_t i = from; i < to; i++) {
        lj_push(names, lj_new_str(l.rows[i].name));
        lj_push(kinds, lj_new_str(k_kind[l.rows[i].kind]));
    }
    lj_set(out, "topicNameList", names);
    lj_set(out, "messageTypeList", kinds);
    if (paged)
        dh_page_info(r, out, l.n);
    tlist_free(&l);
    *data = out;
    return 0;
}

/* ---- topic/stats.query: every master's queue offsets (202) ---- */

/* Java's MessageQueue.toString(), the key the original's JSON uses. */
static void mq_key(const lj_val_t *key, char *out, size_t n)
{
    if (key->type == LJ_OBJ)
        snprintf(out, n, "MessageQueue [topic=%s, brokerName=%s, queueId=%lld]", lj_get_str(key, "topic", ""),
                 lj_get_str(key, "brokerName", ""), (long long)lj_get_int(key, "queueId", 0));
    else
        snprintf(out, n, "%s", key->s ? key->s : "");
}

static int h_stats(dh_req_t *r, lj_val_t **data)
{
    const char *topic;
    lj_val_t *route = NULL;
    if (topic_param(r, &topic) || fetch_route(r, topic, &route))
        return -1;
    master_t ms[64];
    int n = route_masters(route, ms, 64);
    lj_free(route);
    lj_val_t *tab = lj_new_obj();
    for (int i = 0; i < n; i++) {
        char addr[128];
        dh_broker_addr(ms[i].addr, addr);
        lj_val_t *st = NULL;
        ad_err_t e;
        if (ad_call_fields(addr, &st, &e, 202, "topic", topic, NULL) != 0) {
            lj_free(tab);
            return dh_fail(r, "%s (broker %s)", e.msg, ms[i].name);
        }
        const lj_val_t *ot = lj_get(st, "offsetTable");
        for (size_t k = 0; ot && ot->type == LJ_OBJ && k < ot->n; k++) {
            const lj_val_t *v = ot->members[k].val;
            char key[512];
            mq_key(ot->members[k].key, key, sizeof key);
            lj_val_t *q = lj_new_obj();
            lj_set_int(q, "minOffset", lj_get_int(v, "minOffset", 0));
            lj_set_int(q, "maxOffset", lj_get_int(v, "maxOffset", 0));
            lj_set_int(q, "lastUpdateTimestamp", lj_get_int(v, "lastUpdateTimestamp", 0));
            lj_put(tab, lj_new_str(key), q); /* keys are unique per broker and queue */
        }
        lj_free(st);
    }
    lj_val_t *out = lj_new_obj();
    lj_set(out, "offsetTable", tab);
    *data = out;
    return 0;
}

/* ---- topic/route.query ---- */

static int h_route(dh_req_t *r, lj_val_t **data)
{
    const char *topic;
    lj_val_t *route = NULL;
    if (topic_param(r, &topic) || fetch_route(r, topic, &route))
        return -1;
    /* TopicRouteData's fields are always there in the original's JSON */
    if (!lj_get(route, "orderTopicConf"))
        lj_set(route, "orderTopicConf", lj_new_null());
    if (!lj_get(route, "filterServerTable"))
        lj_set(route, "filterServerTable", lj_new_obj());
    if (!lj_get(route, "queueDatas"))
        lj_set(route, "queueDatas", lj_new_arr());
    if (!lj_get(route, "brokerDatas"))
        lj_set(route, "brokerDatas", lj_new_arr());
    *data = route;
    return 0;
}

/* ---- topic/examineTopicConfig.query: the topic's config on each broker of its route ---- */

/* TopicConfigInfo as the 2.x console answers it, from one broker's topic config. */
static lj_val_t *config_info(const char *broker, const char *topic, const lj_val_t *tc)
{
    lj_val_t *o = lj_new_obj(), *bn = lj_new_arr();
    lj_push(bn, lj_new_str(broker));
    lj_set(o, "clusterNameList", lj_new_null());
    lj_set(o, "brokerNameList", bn);
    lj_set_str(o, "topicName", topic);
    lj_set_int(o, "writeQueueNums", lj_get_int(tc, "writeQueueNums", 0));
    lj_set_int(o, "readQueueNums", lj_get_int(tc, "readQueueNums", 0));
    lj_set_int(o, "perm", lj_get_int(tc, "perm", 0));
    lj_set_bool(o, "order", lj_get_bool(tc, "order", 0));
    const char *mt = lj_get_str(lj_get(tc, "attributes"), "message.type", NULL);
    lj_set_str(o, "messageType", k_kind[message_kind(mt)]);
    return o;
}

/* [TopicConfigInfo] of `topic` on every master of its route (one 21 each, in parallel). */
static int topic_configs(dh_req_t *r, const char *topic, lj_val_t **out)
{
    lj_val_t *route = NULL;
    if (fetch_route(r, topic, &route))
        return -1;
    master_t ms[64];
    int n = route_masters(route, ms, 64);
    lj_free(route);
    lj_val_t *tables[64] = {0};
    ad_err_t errs[64];
    tables_job_t job = {ms, tables, errs};
    dh_each_parallel((size_t)n, FANOUT, fetch_table, &job);
    lj_val_t *list = lj_new_arr();
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (!tables[i] && rc == 0)
            rc = dh_fail(r, "%s (broker %s)", errs[i].msg, ms[i].name);
        const lj_val_t *tc = lj_get(lj_get(tables[i], "topicConfigTable"), topic);
        if (tc)
            lj_push(list, config_info(ms[i].name, topic, tc));
        lj_free(tables[i]);
    }
    if (rc)
        lj_free(list);
    else
        *out = list;
    return rc;
}

static int h_examine_config(dh_req_t *r, lj_val_t **data)
{
    const char *topic;
    return topic_param(r, &topic) || topic_configs(r, topic, data) ? -1 : 0;
}

/* ---- topic/createOrUpdate.do ---- */

/* An integer member of the body in [lo, hi] (dflt when absent or null). 0, or -1 with r failed. */
static int body_int(dh_req_t *r, const lj_val_t *b, const char *key, int64_t dflt, int64_t lo, int64_t hi, int *out)
{
    const lj_val_t *v = lj_get(b, key);
    int64_t x = dflt;
    if (v && v->type != LJ_NULL && ((x = lj_int(v, INT64_MIN)) == INT64_MIN || x < lo || x > hi))
        return dh_fail(r, "bad %s: a number from %lld to %lld", key, (long long)lo, (long long)hi);
    *out = (int)x;
    return 0;
}

/* A string member of the body ("" when absent or null); -1 with r failed when not a string. */
static int body_str(dh_req_t *r, const lj_val_t *b, const char *key, const char **out)
{
    const lj_val_t *v = lj_get(b, key);
    *out = "";
    if (!v || v->type == LJ_NULL)
        return 0;
    if (v->type != LJ_STR)
        return dh_fail(r, "bad %s: a string", key);
    *out = v->s;
    return 0;
}

/* Add name to the list of brokers (no duplicates). */
static int add_broker(master_t *ms, int *n, int max, const char *name, const char *addr)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(ms[i].name, name) == 0)
            return 0;
    if (*n >= max)
        return -1;
    snprintf(ms[*n].name, sizeof ms[*n].name, "%s", name);
    snprintf(ms[*n].addr, sizeof ms[*n].addr, "%s", addr ? addr : "");
    (*n)++;
    return 0;
}

/* The masters named by clusterNameList (every broker of each) and brokerNameList. */
static int target_brokers(dh_req_t *r, const lj_val_t *body, master_t *ms, int max, int *n)
{
    const lj_val_t *cl = lj_get(body, "clusterNameList"), *bl = lj_get(body, "brokerNameList");
    if ((cl && cl->type != LJ_ARR && cl->type != LJ_NULL) || (bl && bl->type != LJ_ARR && bl->type != LJ_NULL))
        return dh_fail(r, "bad clusterNameList or brokerNameList: arrays of names");
    if ((!cl || cl->type != LJ_ARR || !cl->n) && (!bl || bl->type != LJ_ARR || !bl->n))
        return dh_fail(r, "clusterName or brokerName can not be all blank");
    lj_val_t *info = NULL;
    if (fetch_cluster(r, &info))
        return -1;
    const lj_val_t *ct = lj_get(info, "clusterAddrTable"), *bt = lj_get(info, "brokerAddrTable");
    int rc = 0;
    *n = 0;
    for (size_t i = 0; rc == 0 && cl && cl->type == LJ_ARR && i < cl->n; i++) {
        const char *c = lj_str(cl->items[i], NULL);
        const lj_val_t *names = c ? lj_get(ct, c) : NULL;
        if (!names || names->type != LJ_ARR)
            rc = dh_fail(r, "cluster %.200s not found", c ? c : "(not a string)");
        for (size_t k = 0; rc == 0 && k < names->n; k++) {
            const char *b = lj_str(names->items[k], "");
            rc = add_broker(ms, n, max, b, ad_master_addr(info, b)) ? dh_fail(r, "too many brokers") : 0;
        }
    }
    for (size_t i = 0; rc == 0 && bl && bl->type == LJ_ARR && i < bl->n; i++) {
        const char *b = lj_str(bl->items[i], NULL);
        if (!b || !lj_get(bt, b))
            rc = dh_fail(r, "broker %.200s not found", b ? b : "(not a string)");
        else if (add_broker(ms, n, max, b, ad_master_addr(info, b)))
            rc = dh_fail(r, "too many brokers");
    }
    for (int i = 0; rc == 0 && i < *n; i++)
        if (!ms[i].addr[0])
            rc = dh_fail(r, "broker %s has no master online", ms[i].name);
    lj_free(info);
    return rc;
}

static int h_create(dh_req_t *r, lj_val_t **data)
{
    const lj_val_t *b = dh_body_obj(r);
    const char *topic, *type;
    int w, rq, perm, nb;
    if (!b || body_str(r, b, "topicName", &topic) || body_str(r, b, "messageType", &type) ||
        body_int(r, b, "writeQueueNums", 8, 1, 1024, &w) || body_int(r, b, "readQueueNums", 8, 1, 1024, &rq) ||
        body_int(r, b, "perm", 6, 0, 7, &perm))
        return -1;
    if (!*topic)
        return dh_fail(r, "topicName is required");
    if (!topic_name_ok(topic))
        return dh_fail(r, "bad topicName: 1 to 127 characters of %%|a-zA-Z0-9_-");
    int kind = *type ? kind_of_name(type, strlen(type)) : K_NORMAL;
    if (kind < 0 || !((1u << kind) & MESSAGE_KINDS))
        return dh_fail(r, "bad messageType: NORMAL, FIFO, DELAY, TRANSACTION or UNSPECIFIED");
    master_t ms[64];
    if (target_brokers(r, b, ms, 64, &nb))
        return -1;
    char ws[16], rs[16], ps[16], attrs[64];
    snprintf(ws, sizeof ws, "%d", w);
    snprintf(rs, sizeof rs, "%d", rq);
    snprintf(ps, sizeof ps, "%d", perm);
    /* RocketMQ 5's attribute (Loulan's broker keeps it; a 4.x broker ignores the field);
     * UNSPECIFIED adds none, so updating a 4.x-style topic leaves it as it was */
    snprintf(attrs, sizeof attrs, "+message.type=%s", k_kind[kind]);
    const char *order = lj_get_bool(b, "order", 0) ? "true" : "false";
    for (int i = 0; i < nb; i++) {
        char addr[128];
        dh_broker_addr(ms[i].addr, addr);
        ad_err_t e;
        if (ad_call_fields(addr, NULL, &e, 17, "topic", topic, "defaultTopic", "TBW102", "readQueueNums", rs,
                           "writeQueueNums", ws, "perm", ps, "topicFilterType", "SINGLE_TAG", "topicSysFlag", "0",
                           "order", order, "attributes", kind == K_UNSPECIFIED ? NULL : attrs, NULL) != 0)
            return dh_fail(r, "%s (broker %s)", e.msg, ms[i].name);
    }
    LOG_I("dashboard", "topic %s created/updated on %d broker(s) by %s", topic, nb, r->user ? r->user->name : r->client_ip);
    *data = lj_new_bool(1);
    return 0;
}

/* ---- topic/deleteTopic.do, topic/deleteTopicByBroker.do ---- */

/* DELETE_TOPIC_IN_BROKER (215) to each master; all are tried, the first failure is answered. */
static int delete_on(dh_req_t *r, const char *topic, const master_t *ms, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char addr[128];
        dh_broker_addr(ms[i].addr, addr);
        ad_err_t e;
        if (ad_call_fields(addr, NULL, &e, 215, "topic", topic, NULL) != 0 && rc == 0)
            rc = dh_fail(r, "%s (broker %s)", e.msg, ms[i].name);
    }
    return rc;
}

static int h_delete(dh_req_t *r, lj_val_t **data)
{
    const char *topic, *cluster = dh_param(r, "clusterName");
    lj_val_t *info = NULL;
    if (topic_param(r, &topic) || fetch_cluster(r, &info))
        return -1;
    if (cluster && !*cluster)
        cluster = NULL;
    if (cluster && !lj_get(lj_get(info, "clusterAddrTable"), cluster)) {
        lj_free(info);
        return dh_fail(r, "cluster %.200s not found", cluster);
    }
    master_t *ms = calloc(MAX_BROKERS, sizeof *ms);
    int n = ms ? cluster_masters(info, cluster, ms, MAX_BROKERS) : 0;
    lj_free(info);
    if (!ms)
        return dh_fail(r, "out of memory");
    int rc = delete_on(r, topic, ms, n);
    free(ms);
    if (rc)
        return -1;
    /* then every name server of the current entry, so the route goes at once */
    char all[256];
    dh_namesrv(all);
    for (char *save = NULL, *ns = strtok_r(all, ";", &save); ns; ns = strtok_r(NULL, ";", &save)) {
        ad_err_t e;
        if (ad_call_fields(ns, NULL, &e, 216, "topic", topic, "clusterName", cluster, NULL) != 0)
            return dh_fail(r, "%s (name server %s)", e.msg, ns);
    }
    LOG_I("dashboard", "topic %s deleted from %d broker(s) by %s", topic, n, r->user ? r->user->name : r->client_ip);
    *data = lj_new_bool(1);
    return 0;
}

static int h_delete_by_broker(dh_req_t *r, lj_val_t **data)
{
    const char *topic, *broker;
    lj_val_t *info = NULL;
    if (topic_param(r, &topic) || dh_param_req(r, "brokerName", &broker) || fetch_cluster(r, &info))
        return -1;
    master_t m;
    const char *addr = ad_master_addr(info, broker);
    snprintf(m.name, sizeof m.name, "%.127s", broker);
    snprintf(m.addr, sizeof m.addr, "%s", addr ? addr : "");
    int known = lj_get(lj_get(info, "brokerAddrTable"), broker) != NULL;
    lj_free(info);
    if (!known)
        return dh_fail(r, "broker %.200s not found", broker);
    if (!m.addr[0])
        return dh_fail(r, "broker %.200s has no master online", broker);
    if (delete_on(r, topic, &m, 1))
        return -1;
    *data = lj_new_bool(1);
    return 0;
}

/* ---- topic/sendTopicMessage.do ---- */

typedef struct self_producer {
    lc_producer_t *p;
    char ns[256];
    int tls;
} self_producer_t;

static pthread_mutex_t g_send_mu = PTHREAD_MUTEX_INITIALIZER;
static self_producer_t g_self[2]; /* [trace] */

/* The test send of a TRANSACTION topic is committed at once, as the original's. */
static lc_tx_state_t commit_now(const lc_message_t *m, const char *msg_id, void *arg) { return LC_TX_COMMIT; }
static lc_tx_state_t commit_check(const lc_message_ext_t *m, void *arg) { return LC_TX_COMMIT; }

/* The producer for a send (g_send_mu held): made again when the name server or TLS changed. */
static lc_producer_t *self_producer(int trace, char *err, size_t errlen)
{
    self_producer_t *s = &g_self[trace];
    char ns[256];
    dh_namesrv(ns);
    pthread_mutex_lock(&g_dh.mu);
    int tls = g_dh.use_tls;
    pthread_mutex_unlock(&g_dh.mu);
    if (s->p && (strcmp(s->ns, ns) != 0 || s->tls != tls)) {
        lc_producer_destroy(s->p);
        s->p = NULL;
    }
    if (s->p)
        return s->p;
    char inst[64];
    snprintf(inst, sizeof inst, "loulan-dashboard-%d%s", (int)getpid(), trace ? "-trace" : "");
    lc_producer_t *p = NULL;
    int rc = lc_producer_create("SELF_TEST_P_GROUP", ns, &p);
    if (rc == 0) {
        lc_producer_set_instance_name(p, inst);
        lc_producer_set_transaction_check(p, commit_check, NULL);
        if (g_dh.cfg.access_key[0])
            rc = lc_producer_set_credentials(p, g_dh.cfg.access_key, g_dh.cfg.secret_key);
        if (rc == 0 && trace)
            rc = lc_producer_set_trace(p, 1, NULL);
        if (rc == 0)
            rc = lc_producer_start(p);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the test producer: %s", lc_strerror(rc));
        lc_producer_destroy(p);
        return NULL;
    }
    s->p = p;
    snprintf(s->ns, sizeof s->ns, "%s", ns);
    s->tls = tls;
    return p;
}

static lj_val_t *send_result(const lc_send_result_t *res, int tx, int trace)
{
    lj_val_t *o = lj_new_obj(), *mq = lj_new_obj();
    lj_set_str(o, "sendStatus", lc_send_status_name(res->status));
    lj_set_str(o, "msgId", res->msg_id);
    lj_set_str(o, "offsetMsgId", res->offset_msg_id);
    lj_set_str(mq, "topic", res->mq.topic);
    lj_set_str(mq, "brokerName", res->mq.broker_name);
    lj_set_int(mq, "queueId", res->mq.queue_id);
    lj_set(o, "messageQueue", mq);
    lj_set_int(o, "queueOffset", res->queue_offset);
    if (tx)
        lj_set_str(o, "transactionId", res->msg_id);
    else
        lj_set(o, "transactionId", lj_new_null());
    lj_set_str(o, "regionId", "DefaultRegion");
    lj_set_bool(o, "traceOn", trace);
    return o;
}

static int h_send(dh_req_t *r, lj_val_t **data)
{
    const lj_val_t *b = dh_body_obj(r);
    const char *topic, *key, *tag, *body;
    if (!b || body_str(r, b, "topic", &topic) || body_str(r, b, "key", &key) || body_str(r, b, "tag", &tag) ||
        body_str(r, b, "messageBody", &body))
        return -1;
    if (!topic_name_ok(topic))
        return dh_fail(r, "bad topic: 1 to 127 characters of %%|a-zA-Z0-9_-");
    int trace = lj_get_bool(b, "traceEnabled", 0) ? 1 : 0;
    /* as the 2.x console: the topic must exist (no auto-creation through TBW102), and its
     * message type says whether the send is transactional */
    lj_val_t *configs = NULL;
    if (topic_configs(r, topic, &configs))
        return -1;
    int tx = 0;
    for (size_t i = 0; configs && i < configs->n; i++)
        tx |= strcmp(lj_get_str(configs->items[i], "messageType", ""), "TRANSACTION") == 0;
    int found = configs && configs->n > 0;
    lj_free(configs);
    if (!found)
        return dh_fail(r, "topic %s is not on any broker", topic);
    lc_message_t m = {.topic = topic, .tags = tag, .keys = key, .body = body, .body_len = strlen(body)};
    lc_send_result_t res = {0};
    char err[300] = "";
    pthread_mutex_lock(&g_send_mu);
    lc_producer_t *p = self_producer(trace, err, sizeof err);
    int rc = -1;
    if (p) {
        lc_tx_state_t st;
        rc = tx ? lc_producer_send_in_transaction(p, &m, commit_now, NULL, &res, &st) : lc_producer_send_sync(p, &m, &res);
        if (rc != 0)
            snprintf(err, sizeof err, "send failed: %s", res.error[0] ? res.error : lc_strerror(rc));
    }
    pthread_mutex_unlock(&g_send_mu);
    if (rc != 0) {
        lc_send_result_clear(&res);
        return dh_fail(r, "%s", err);
    }
    *data = send_result(&res, tx, trace);
    lc_send_result_clear(&res);
    return 0;
}

const dh_route_t dh_routes_topic[] = {
    {"topic/list.query", h_list, "GET"},
    {"topic/list.queryTopicType", h_list_type, "GET"},
    {"topic/stats.query", h_stats, "GET"},
    {"topic/route.query", h_route, "GET"},
    {"topic/createOrUpdate.do", h_create, "POST"},
    {"topic/examineTopicConfig.query", h_examine_config, "GET"},
    {"topic/sendTopicMessage.do", h_send, "POST"},
    {"topic/deleteTopic.do", h_delete, "POST"},
    {"topic/deleteTopicByBroker.do", h_delete_by_broker, "POST"},
    {NULL},
};
