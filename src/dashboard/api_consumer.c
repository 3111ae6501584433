/* api_consumer.c: the consumer requests of rocketmq-dashboard's API (spec dashboard.md §3.4),
 * plus the two topic requests about a topic's consumers (§3.3) and 2.1's group.refresh[.all].
 *
 * The group list is gathered by consumer_stats.c with a fixed number of requests per broker.
 * Beyond the original: queryTopicByConsumer and consumerConnection ask every master (or the
 * `address` list, checked against the cluster) instead of the first address only (issue #297);
 * lag comes from whatever brokers answered (-1 only when none could, issue #381); the list
 * filters, sorts and pages server-side (filter, types, sort, desc, pageNum, pageSize). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "consumer_stats.h"

#define MAX_RESET_GROUPS 1000  /* groups of one reset request */
#define MAX_OWNER_CLIENTS 16   /* running-info requests spent to show who owns each queue */
#define MAX_TOPIC_GROUPS 256   /* groups detailed by topic/queryConsumerByTopic.query */

/* ---- parameters ---- */

/* RocketMQ's rule for topic and group names: 1..max of [%|a-zA-Z0-9_-]. */
static int valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    return strspn(s, "%|abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static int name_check(dh_req_t *r, const char *what, const char *s, size_t max)
{
    if (!valid_name(s, max))
        return dh_fail(r, "bad %s: 1 to %zu characters of %%|a-zA-Z0-9_-", what, max);
    return 0;
}

/* A group parameter; the "%SYS%" groupList puts before a system group's name is taken off. */
static int group_param(dh_req_t *r, const char *name, const char **out)
{
    if (dh_param_req(r, name, out))
        return -1;
    if (strncmp(*out, "%SYS%", 5) == 0 && (*out)[5])
        *out += 5;
    return name_check(r, name, *out, 255);
}

static int topic_param(dh_req_t *r, const char **out)
{
    return dh_param_req(r, "topic", out) || name_check(r, "topic", *out, 127);
}

/* The masters to ask: all, or those of the optional `address` list (commas; the UI sends the
 * group's broker addresses). An address outside the cluster is refused rather than dialled. */
static int targets(dh_req_t *r, const cs_master_t *m, int nm, uint64_t *mask)
{
    const char *a = dh_param(r, "address");
    *mask = 0;
    if (!a || !*a) {
        *mask = nm >= 64 ? ~0ull : (1ull << nm) - 1;
        return 0;
    }
    char *list = cm_strdup(a), *save = NULL;
    if (!list)
        return dh_fail(r, "out of memory");
    for (char *t = strtok_r(list, ",; ", &save); t; t = strtok_r(NULL, ",; ", &save)) {
        int i = cs_master_index(m, nm, t);
        if (i < 0) {
            dh_fail(r, "bad address: %.200s is not a master broker of the cluster", t);
            free(list);
            return -1;
        }
        *mask |= 1ull << i;
    }
    free(list);
    return *mask ? 0 : dh_fail(r, "bad address: no broker address");
}

/* ---- the group list ---- */

enum { SORT_DEFAULT, SORT_GROUP, SORT_COUNT, SORT_TPS, SORT_DIFF };

typedef struct list_opts {
    int skip_sys, sort, desc;
    const char *filter;
    int types;  /* bit per CS_* type; 0 = all */
} list_opts_t;

static int parse_types(dh_req_t *r, const char *s, int *out)
{
    static const char *const k_names[] = {"NORMAL", "FIFO", "SYSTEM"};
    *out = 0;
    while (s && *s) {
        size_t n = strcspn(s, ",");
        int found = 0;
        for (int i = 0; i < 3; i++)
            if (n == strlen(k_names[i]) && strncasecmp(s, k_names[i], n) == 0)
                *out |= 1 << i, found = 1;
        if (!found && n)
            return dh_fail(r, "bad types: a comma list of NORMAL, FIFO, SYSTEM");
        s += n + (s[n] == ',');
    }
    return 0;
}

static int parse_list_opts(dh_req_t *r, list_opts_t *o)
{
    static const char *const k_sorts[] = {"", "group", "count", "consumeTps", "diffTotal"};
    memset(o, 0, sizeof *o);
    const char *sort = dh_param(r, "sort");
    if (dh_param_bool(r, "skipSysGroup", 0, &o->skip_sys) || parse_types(r, dh_param(r, "types"), &o->types))
        return -1;
    if (sort && *sort) {
        for (o->sort = SORT_GROUP; o->sort <= SORT_DIFF && strcmp(sort, k_sorts[o->sort]) != 0; o->sort++)
            ;
        if (o->sort > SORT_DIFF)
            return dh_fail(r, "bad sort: group, count, consumeTps or diffTotal");
    }
    o->filter = dh_param(r, "filter");
    return dh_param_bool(r, "desc", o->sort != SORT_GROUP, &o->desc);
}

static int cmp_i64(int64_t a, int64_t b) { return (a > b) - (a < b); }

static int cmp_rows(const void *a, const void *b, void *arg)
{
    const void *const *ctx = arg;
    const cs_row_t *rows = ctx[0];
    const list_opts_t *o = ctx[1];
    const cs_row_t *x = &rows[*(const size_t *)a], *y = &rows[*(const size_t *)b];
    int c = 0;
    switch (o->sort) {
    case SORT_DEFAULT: /* the original's order: most clients, then largest lag */
        c = cmp_i64(y->count, x->count);
        if (!c)
            c = cmp_i64(y->diff_known ? y->diff : -1, x->diff_known ? x->diff : -1);
        return c ? c : strcmp(x->group, y->group);
    case SORT_COUNT: c = cmp_i64(x->count, y->count); break;
    case SORT_TPS: c = cmp_i64((int64_t)x->tps, (int64_t)y->tps); break;
    case SORT_DIFF: c = cmp_i64(x->diff_known ? x->diff : -1, y->diff_known ? y->diff : -1); break;
    default: break;
    }
    if (o->desc)
        c = -c;
    return c ? c : (o->desc && o->sort == SORT_GROUP ? -1 : 1) * strcmp(x->group, y->group);
}

static int row_selected(const cs_row_t *row, const list_opts_t *o)
{
    if (o->types && !(o->types >> row->type & 1))
        return 0;
    return dh_contains_ci(row->group, o->filter);
}

/* groupList and group.refresh.all: the list, filtered, sorted and maybe paged. */
static int group_list(dh_req_t *r, lj_val_t **data, int force)
{
    list_opts_t o;
    cs_list_t l;
    if (parse_list_opts(r, &o))
        return -1;
    if (cs_list_load(r, &l, NULL)) {
        cs_list_free(&l);
        return -1;
    }
    size_t *idx = calloc(l.n + 1, sizeof *idx), k = 0, from, to;
    if (!idx) {
        cs_list_free(&l);
        return dh_fail(r, "out of memory");
    }
    for (size_t i = 0; i < l.n; i++)
        if (row_selected(&l.rows[i], &o))
            idx[k++] = i;
    const void *ctx[2] = {l.rows, &o};
    int paged = dh_page_range(r, k, &from, &to);
    if (paged < 0)
        goto fail;
    if (paged && o.sort != SORT_DEFAULT && o.sort != SORT_COUNT) {
        /* the order does not need the client counts: ask connections only for the page */
        qsort_r(idx, k, sizeof *idx, cmp_rows, ctx);
        cs_refresh(&l, idx + from, to - from, force);
    } else {
        cs_refresh(&l, idx, k, force);
        qsort_r(idx, k, sizeof *idx, cmp_rows, ctx);
    }
    lj_val_t *arr = lj_new_arr();
    for (size_t i = from; i < to; i++)
        lj_push(arr, cs_row_json(&l, &l.rows[idx[i]], o.skip_sys));
    if (paged) {
        lj_val_t *page = lj_new_obj();
        lj_set(page, "list", arr);
        dh_page_info(r, page, k);
        arr = page;
    }
    *data = arr;
    free(idx);
    cs_list_free(&l);
    return 0;
fail:
    free(idx);
    cs_list_free(&l);
    return -1;
}

static int h_group_list(dh_req_t *r, lj_val_t **data) { return group_list(r, data, 0); }

static int h_group_refresh_all(dh_req_t *r, lj_val_t **data)
{
    cs_cache_drop(NULL);
    return group_list(r, data, 1);
}

/* group.query / group.refresh: one group, its connections asked now. */
static int one_group(dh_req_t *r, lj_val_t **data)
{
    const char *g;
    cs_list_t l;
    if (group_param(r, "consumerGroup", &g))
        return -1;
    cs_cache_drop(g);
    if (cs_list_load(r, &l, g)) {
        cs_list_free(&l);
        return -1;
    }
    if (l.n == 0) {
        cs_list_free(&l);
        return dh_fail(r, "the consumer group %s does not exist on any broker", g);
    }
    size_t i = 0;
    cs_refresh(&l, &i, 1, 1);
    *data = cs_row_json(&l, &l.rows[0], 1);
    cs_list_free(&l);
    return 0;
}

/* ---- subscription group config ---- */

/* Each master's subscription group table (201), NULL where it failed; *answered how many did.
 * Caller frees each and the array. */
static lj_val_t **group_tables(const cs_master_t *m, int nm, int *answered, ad_err_t *e)
{
    lj_val_t **t = calloc((size_t)nm + 1, sizeof *t);
    *answered = 0;
    for (int i = 0; t && i < nm; i++)
        if (ad_call_fields(m[i].call, &t[i], e, 201, NULL) == 0)
            (*answered)++;
    return t;
}

static void free_tables(lj_val_t **t, int nm)
{
    for (int i = 0; t && i < nm; i++)
        lj_free(t[i]);
    free(t);
}

static lj_val_t *group_in(const lj_val_t *table, const char *g)
{
    return lj_get(lj_get(table, "subscriptionGroupTable"), g);
}

/* The fields RocketMQ's SubscriptionGroupConfig has that a broker may not send back. */
static void config_defaults(lj_val_t *c)
{
    static const struct { const char *key; int is_bool; int64_t v; } k_defaults[] = {
        {"consumeEnable", 1, 1}, {"consumeFromMinEnable", 1, 1}, {"consumeBroadcastEnable", 1, 1},
        {"consumeMessageOrderly", 1, 0}, {"retryQueueNums", 0, 1}, {"retryMaxTimes", 0, 16},
        {"brokerId", 0, 0}, {"whichBrokerWhenConsumeSlowly", 0, 1}, {"notifyConsumerIdsChangedEnable", 1, 1},
        {"groupSysFlag", 0, 0}, {"consumeTimeoutMinute", 0, 15},
    };
    for (size_t i = 0; i < sizeof k_defaults / sizeof *k_defaults; i++)
        if (!lj_get(c, k_defaults[i].key))
            lj_set(c, k_defaults[i].key, k_defaults[i].is_bool ? lj_new_bool((int)k_defaults[i].v)
                                                               : lj_new_int(k_defaults[i].v));
}

/* Take the group's config out of a parsed table (the table keeps a null in its place). */
static lj_val_t *take_config(lj_val_t *table, const char *g)
{
    lj_val_t *tab = lj_get(table, "subscriptionGroupTable");
    for (size_t i = 0; tab && tab->type == LJ_OBJ && i < tab->n; i++)
        if (strcmp(lj_str(tab->members[i].key, ""), g) == 0 && tab->members[i].val->type == LJ_OBJ) {
            lj_val_t *v = tab->members[i].val, *null = lj_new_null();
            if (!null)
                return NULL;
            tab->members[i].val = null;
            return v;
        }
    return NULL;
}

static int h_examine_config(dh_req_t *r, lj_val_t **data)
{
    const char *g;
    cs_master_t *m;
    int nm, answered;
    ad_err_t e = {""};
    if (group_param(r, "consumerGroup", &g) || cs_masters(r, &m, &nm))
        return -1;
    lj_val_t **t = group_tables(m, nm, &answered, &e), *arr = lj_new_arr();
    for (int i = 0; t && i < nm; i++) {
        lj_val_t *c = take_config(t[i], g);
        if (!c)
            continue;
        config_defaults(c);
        lj_val_t *o = lj_new_obj(), *names = lj_new_arr();
        lj_push(names, lj_new_str(m[i].name));
        lj_set(o, "clusterNameList", lj_new_null());
        lj_set(o, "brokerNameList", names);
        lj_set(o, "subscriptionGroupConfig", c);
        lj_push(arr, o);
    }
    int rc = 0;
    if (!t || (nm && !answered)) {
        lj_free(arr);
        rc = t ? dh_fail_ad(r, &e) : dh_fail(r, "out of memory");
    } else {
        *data = arr;
    }
    free_tables(t, nm);
    free(m);
    return rc;
}

static int h_fetch_broker_names(dh_req_t *r, lj_val_t **data)
{
    const char *g;
    cs_master_t *m;
    int nm, answered;
    ad_err_t e = {""};
    if (group_param(r, "consumerGroup", &g) || cs_masters(r, &m, &nm))
        return -1;
    lj_val_t **t = group_tables(m, nm, &answered, &e), *arr = lj_new_arr();
    for (int i = 0; t && i < nm; i++)
        if (group_in(t[i], g))
            lj_push(arr, lj_new_str(m[i].name));
    int rc = 0;
    if (!t || (nm && !answered)) {
        lj_free(arr);
        rc = t ? dh_fail_ad(r, &e) : dh_fail(r, "out of memory");
    } else {
        *data = arr;
    }
    free_tables(t, nm);
    free(m);
    return rc;
}

/* Masters named by clusterNameList (unless brokers_only) and brokerNameList of a JSON body, as
 * a mask; an unknown name or a list that is not an array of strings is an error. */
static int chosen_masters(dh_req_t *r, const lj_val_t *body, int brokers_only, const cs_master_t *m, int nm,
                          uint64_t *mask)
{
    static const char *const k_lists[2] = {"clusterNameList", "brokerNameList"};
    *mask = 0;
    int any = 0;
    for (int w = brokers_only; w < 2; w++) {
        const lj_val_t *list = lj_get(body, k_lists[w]);
        if (!list || list->type == LJ_NULL)
            continue;
        if (list->type != LJ_ARR)
            return dh_fail(r, "bad %s: an array of names", k_lists[w]);
        for (size_t j = 0; j < list->n; j++) {
            const char *name = lj_str(list->items[j], NULL);
            if (!name)
                return dh_fail(r, "bad %s: an array of names", k_lists[w]);
            if (!*name)
                continue;
            any = 1;
            uint64_t found = 0;
            for (int i = 0; i < nm; i++)
                if (strcmp(w == 0 ? m[i].cluster : m[i].name, name) == 0)
                    found |= 1ull << i;
            if (!found)
                return dh_fail(r, "%s %.200s not found", w == 0 ? "cluster" : "broker", name);
            *mask |= found;
        }
    }
    return any ? 0 : dh_fail(r, "clusterName or brokerName can not be all blank");
}

/* A SubscriptionGroupConfig from the request's, field by field with types and ranges checked
 * (what reaches the brokers is what we understood, not whatever was posted). */
static lj_val_t *config_from(dh_req_t *r, const lj_val_t *in)
{
    static const char *const k_bools[] = {"consumeEnable", "consumeFromMinEnable", "consumeBroadcastEnable",
                                          "consumeMessageOrderly", "notifyConsumerIdsChangedEnable"};
    static const struct { const char *key; int64_t lo, hi; } k_ints[] = {
        {"retryQueueNums", 0, 1024}, {"retryMaxTimes", -1, 10000}, {"brokerId", 0, 1 << 20},
        {"whichBrokerWhenConsumeSlowly", 0, 1 << 20}, {"groupSysFlag", 0, 1 << 20}, {"consumeTimeoutMinute", 0, 1 << 20},
    };
    const char *name = lj_get_str(in, "groupName", NULL);
    if (!name) {
        dh_fail(r, "subscriptionGroupConfig.groupName is required");
        return NULL;
    }
    if (name_check(r, "groupName", name, 255))
        return NULL;
    lj_val_t *c = lj_new_obj();
    lj_set_str(c, "groupName", name);
    for (size_t i = 0; i < sizeof k_bools / sizeof *k_bools; i++) {
        const lj_val_t *v = lj_get(in, k_bools[i]);
        int b = lj_bool(v, -1);
        if (v && v->type != LJ_NULL && b < 0) {
            dh_fail(r, "bad %s: true or false", k_bools[i]);
            goto bad;
        }
        if (b >= 0)
            lj_set_bool(c, k_bools[i], b);
    }
    for (size_t i = 0; i < sizeof k_ints / sizeof *k_ints; i++) {
        const lj_val_t *v = lj_get(in, k_ints[i].key);
        if (!v || v->type == LJ_NULL)
            continue;
        int64_t x = lj_int(v, INT64_MIN);
        if (x < k_ints[i].lo || x > k_ints[i].hi) {
            dh_fail(r, "bad %s: a number from %lld to %lld", k_ints[i].key, (long long)k_ints[i].lo,
                    (long long)k_ints[i].hi);
            goto bad;
        }
        lj_set_int(c, k_ints[i].key, x);
    }
    config_defaults(c);
    return c;
bad:
    lj_free(c);
    return NULL;
}

static int h_create_or_update(dh_req_t *r, lj_val_t **data)
{
    const lj_val_t *body = dh_body_obj(r), *in;
    cs_master_t *m = NULL;
    int nm;
    uint64_t mask;
    if (!body)
        return -1;
    if (!(in = lj_get(body, "subscriptionGroupConfig")) || in->type != LJ_OBJ)
        return dh_fail(r, "subscriptionGroupConfig is required (an object)");
    lj_val_t *c = config_from(r, in);
    if (!c)
        return -1;
    int rc = cs_masters(r, &m, &nm) || chosen_masters(r, body, 0, m, nm, &mask) ? -1 : 0;
    cm_buf_t out;
    cm_buf_init(&out);
    lj_write(c, LJ_W_SORT, &out);
    for (int i = 0; rc == 0 && i < nm; i++) {
        ad_err_t e;
        if ((mask >> i & 1) && ad_call_body(m[i].call, NULL, &e, out.data, out.len, 200, NULL) != 0)
            rc = dh_fail(r, "broker %s: %s", m[i].name, e.msg);
    }
    cm_buf_free(&out);
    lj_free(c);
    free(m);
    if (rc == 0)
        *data = lj_new_bool(1);
    return rc;
}

/* Every name server of the current entry ("a;b"): deletions go to each, as the original. */
static void delete_in_namesrvs(const char *topic)
{
    char all[256];
    dh_namesrv(all);
    for (char *save = NULL, *t = strtok_r(all, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
        ad_err_t e;
        ad_call_fields(t, NULL, &e, 216, "topic", topic, NULL); /* a topic it never had: nothing to do */
    }
}

static int h_delete_sub_group(dh_req_t *r, lj_val_t **data)
{
    const lj_val_t *body = dh_body_obj(r), *names;
    const char *g;
    cs_master_t *m = NULL;
    int nm, answered, rc = 0;
    uint64_t mask = 0, held = 0;
    ad_err_t e = {""};
    if (!body)
        return -1;
    if (!(g = lj_get_str(body, "groupName", NULL)))
        return dh_fail(r, "groupName is required");
    if (name_check(r, "groupName", g, 255))
        return -1;
    names = lj_get(body, "brokerNameList");
    if (!names || names->type != LJ_ARR || names->n == 0)
        return dh_fail(r, "brokerNameList is required (the brokers to delete the group from)");
    if (cs_masters(r, &m, &nm))
        return -1;
    if (chosen_masters(r, body, 1, m, nm, &mask)) {
        free(m);
        return -1;
    }
    lj_val_t **t = group_tables(m, nm, &answered, &e);
    for (int i = 0; t && i < nm; i++)
        if (group_in(t[i], g))
            held |= 1ull << i;
    free_tables(t, nm);
    char retry[300], dlq[300];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", g);
    snprintf(dlq, sizeof dlq, "%%DLQ%%%s", g);
    for (int i = 0; rc == 0 && i < nm; i++) {
        if (!(mask >> i & 1))
            continue;
        if (ad_call_fields(m[i].call, NULL, &e, 207, "groupName", g, "removeOffset", "true", NULL) != 0) {
            rc = dh_fail(r, "broker %s: %s", m[i].name, e.msg);
            break;
        }
        ad_call_fields(m[i].call, NULL, &e, 215, "topic", retry, NULL); /* may not exist: fine */
        ad_call_fields(m[i].call, NULL, &e, 215, "topic", dlq, NULL);
    }
    /* the name servers forget the group's topics only when no broker keeps the group (and
     * every broker could say so) */
    if (rc == 0 && answered == nm && (held & ~mask) == 0) {
        delete_in_namesrvs(retry);
        delete_in_namesrvs(dlq);
    }
    cs_cache_drop(g);
    free(m);
    if (rc == 0)
        *data = lj_new_bool(1);
    return rc;
}

/* ---- per-queue progress ---- */

typedef struct qrow {
    char topic[128], broker[128];
    int qid;
    int64_t bo, co, ts;
    const char *client; /* points into the owner map */
} qrow_t;

typedef struct qrows { qrow_t *v; size_t n, cap; } qrows_t;

static int add_stats_rows(qrows_t *q, const lj_val_t *st)
{
    const lj_val_t *tab = lj_get(st, "offsetTable");
    for (size_t i = 0; tab && tab->type == LJ_OBJ && i < tab->n; i++) {
        if (q->n == q->cap) {
            size_t cap = q->cap ? q->cap * 2 : 32;
            qrow_t *g = realloc(q->v, cap * sizeof *g);
            if (!g)
                return -1;
            q->v = g;
            q->cap = cap;
        }
        const lj_val_t *mq = tab->members[i].key, *w = tab->members[i].val;
        qrow_t *x = &q->v[q->n++];
        memset(x, 0, sizeof *x);
        snprintf(x->topic, sizeof x->topic, "%s", lj_get_str(mq, "topic", ""));
        snprintf(x->broker, sizeof x->broker, "%s", lj_get_str(mq, "brokerName", ""));
        x->qid = (int)lj_get_int(mq, "queueId", 0);
        x->bo = lj_get_int(w, "brokerOffset", 0);
        x->co = lj_get_int(w, "consumerOffset", 0);
        x->ts = lj_get_int(w, "lastTimestamp", 0);
    }
    return 0;
}

static int cmp_qrow(const void *a, const void *b)
{
    const qrow_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (!c)
        c = strcmp(x->broker, y->broker);
    return c ? c : (x->qid > y->qid) - (x->qid < y->qid);
}

/* The group's consume stats (208, optionally for one topic) from the masters in mask. -1 with
 * r failed only when every one of them failed. */
static int group_queue_rows(dh_req_t *r, const cs_master_t *m, int nm, uint64_t mask, const char *g,
                            const char *topic, qrows_t *q)
{
    ad_err_t e = {""};
    int asked = 0, ok = 0;
    for (int i = 0; i < nm; i++) {
        lj_val_t *st = NULL;
        if (!(mask >> i & 1))
            continue;
        asked++;
        if (ad_call_fields(m[i].call, &st, &e, 208, "consumerGroup", g, "topic", topic, NULL) != 0)
            continue; /* the others still count (issue #381: one failure must not hide the lag) */
        ok++;
        int rc = add_stats_rows(q, st);
        lj_free(st);
        if (rc)
            return dh_fail(r, "out of memory");
    }
    if (asked && !ok)
        return dh_fail_ad(r, &e);
    if (q->n)
        qsort(q->v, q->n, sizeof *q->v, cmp_qrow);
    return 0;
}

/* Who owns which queue: each online client's running info (307, at most MAX_OWNER_CLIENTS),
 * its mqTable's queues mapped to its client id. Best effort: nothing is an error here. */
typedef struct owners { lj_val_t *conn; lj_val_t *infos[MAX_OWNER_CLIENTS]; int n; } owners_t;

static void owners_load(owners_t *o, const cs_master_t *m, int nm, uint64_t mask, const char *g)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < nm && !o->conn; i++) {
        ad_err_t e;
        if ((mask >> i & 1) && ad_call_fields(m[i].call, &o->conn, &e, 203, "consumerGroup", g, NULL) != 0)
            o->conn = NULL;
        if (!o->conn)
            continue;
        const lj_val_t *set = lj_get(o->conn, "connectionSet");
        for (size_t j = 0; set && set->type == LJ_ARR && j < set->n && o->n < MAX_OWNER_CLIENTS; j++) {
            const char *id = lj_get_str(set->items[j], "clientId", NULL);
            lj_val_t *info = NULL;
            if (id && ad_call_fields(m[i].call, &info, &e, 307, "consumerGroup", g, "clientId", id, "jstackEnable",
                                     "false", NULL) == 0) {
                lj_set_str(info, "clientId", id);
                o->infos[o->n++] = info;
            }
        }
    }
}

static void owners_free(owners_t *o)
{
    for (int i = 0; i < o->n; i++)
        lj_free(o->infos[i]);
    lj_free(o->conn);
}

static void owners_apply(const owners_t *o, qrows_t *q)
{
    for (int c = 0; c < o->n; c++) {
        const lj_val_t *mqs = lj_get(o->infos[c], "mqTable");
        const char *id = lj_get_str(o->infos[c], "clientId", NULL);
        for (size_t j = 0; mqs && mqs->type == LJ_OBJ && j < mqs->n; j++) {
            const lj_val_t *k = mqs->members[j].key;
            for (size_t i = 0; i < q->n; i++)
                if (!q->v[i].client && q->v[i].qid == lj_get_int(k, "queueId", -1) &&
                    !strcmp(q->v[i].topic, lj_get_str(k, "topic", "")) &&
                    !strcmp(q->v[i].broker, lj_get_str(k, "brokerName", "")))
                    q->v[i].client = id;
        }
    }
}

/* TopicConsumerInfo of rows [from, to) (one topic). */
static lj_val_t *topic_info(const qrows_t *q, size_t from, size_t to)
{
    lj_val_t *o = lj_new_obj(), *list = lj_new_arr();
    int64_t diff = 0, last = 0;
    for (size_t i = from; i < to; i++) {
        const qrow_t *x = &q->v[i];
        lj_val_t *s = lj_new_obj();
        lj_set_str(s, "brokerName", x->broker);
        lj_set_int(s, "queueId", x->qid);
        lj_set_int(s, "brokerOffset", x->bo);
        lj_set_int(s, "consumerOffset", x->co);
        lj_set(s, "clientInfo", x->client ? lj_new_str(x->client) : lj_new_null());
        lj_set_int(s, "lastTimestamp", x->ts);
        lj_push(list, s);
        diff += x->bo - x->co;
        if (x->ts > last)
            last = x->ts;
    }
    lj_set_str(o, "topic", from < to ? q->v[from].topic : "");
    lj_set_int(o, "diffTotal", diff);
    lj_set_int(o, "lastTimestamp", last);
    lj_set(o, "queueStatInfoList", list);
    return o;
}

static int h_query_topic_by_consumer(dh_req_t *r, lj_val_t **data)
{
    const char *g;
    cs_master_t *m;
    int nm;
    uint64_t mask;
    qrows_t q = {0};
    owners_t o;
    if (group_param(r, "consumerGroup", &g) || cs_masters(r, &m, &nm))
        return -1;
    if (targets(r, m, nm, &mask) || group_queue_rows(r, m, nm, mask, g, NULL, &q)) {
        free(q.v);
        free(m);
        return -1;
    }
    owners_load(&o, m, nm, mask, g);
    owners_apply(&o, &q);
    lj_val_t *arr = lj_new_arr();
    for (size_t i = 0, j; i < q.n; i = j) {
        for (j = i + 1; j < q.n && strcmp(q.v[j].topic, q.v[i].topic) == 0; j++)
            ;
        lj_push(arr, topic_info(&q, i, j));
    }
    owners_free(&o);
    free(q.v);
    free(m);
    *data = arr;
    return 0;
}

/* ---- connections and running info ---- */

/* Fold one broker's ConsumerConnection into the merged one (clients by id, topics by name). */
static void merge_connection(lj_val_t *into, lj_val_t *cc, cm_map_t *seen)
{
    lj_val_t *set = lj_get(into, "connectionSet"), *subs = lj_get(into, "subscriptionTable");
    lj_val_t *cset = lj_get(cc, "connectionSet"), *csubs = lj_get(cc, "subscriptionTable");
    for (size_t i = 0; cset && cset->type == LJ_ARR && i < cset->n; i++) {
        const char *id = lj_get_str(cset->items[i], "clientId", "");
        if (cm_map_get(seen, id) || cm_map_put(seen, id, (void *)1) != 0)
            continue;
        char ver[32];
        cs_version_name(lj_get_int(cset->items[i], "version", 0), ver);
        lj_val_t *c = cset->items[i];
        cset->items[i] = lj_new_null();
        if (!lj_get(c, "versionDesc"))
            lj_set_str(c, "versionDesc", ver);
        lj_push(set, c);
    }
    for (size_t i = 0; csubs && csubs->type == LJ_OBJ && i < csubs->n; i++) {
        const char *topic = lj_str(csubs->members[i].key, NULL);
        if (!topic || lj_get(subs, topic))
            continue;
        lj_val_t *v = csubs->members[i].val;
        csubs->members[i].val = lj_new_null();
        lj_set(subs, topic, v);
    }
    static const char *const k_fields[] = {"consumeType", "messageModel", "consumeFromWhere"};
    for (int f = 0; f < 3; f++)
        if (lj_get(into, k_fields[f])->type == LJ_NULL && lj_get_str(cc, k_fields[f], NULL))
            lj_set_str(into, k_fields[f], lj_get_str(cc, k_fields[f], ""));
}

static int h_consumer_connection(dh_req_t *r, lj_val_t **data)
{
    const char *g;
    cs_master_t *m;
    int nm, ok = 0;
    uint64_t mask;
    ad_err_t e = {""};
    if (group_param(r, "consumerGroup", &g) || cs_masters(r, &m, &nm))
        return -1;
    if (targets(r, m, nm, &mask)) {
        free(m);
        return -1;
    }
    lj_val_t *out = lj_new_obj();
    lj_set(out, "connectionSet", lj_new_arr());
    lj_set(out, "subscriptionTable", lj_new_obj());
    lj_set(out, "consumeType", lj_new_null());
    lj_set(out, "messageModel", lj_new_null());
    lj_set(out, "consumeFromWhere", lj_new_null());
    cm_map_t seen;
    cm_map_init(&seen);
    for (int i = 0; i < nm; i++) {
        lj_val_t *cc = NULL;
        if (!(mask >> i & 1) || ad_call_fields(m[i].call, &cc, &e, 203, "consumerGroup", g, NULL) != 0)
            continue; /* not online on this broker: the others may know its clients */
        ok++;
        merge_connection(out, cc, &seen);
        lj_free(cc);
    }
    cm_map_free(&seen, NULL);
    free(m);
    if (!ok) {
        lj_free(out);
        return e.msg[0] ? dh_fail_ad(r, &e) : dh_fail(r, "the consumer group[%s] not online", g);
    }
    *data = out;
    return 0;
}

static int h_consumer_running_info(dh_req_t *r, lj_val_t **data)
{
    const char *g, *id;
    int jstack, nm;
    cs_master_t *m;
    ad_err_t e = {""};
    if (group_param(r, "consumerGroup", &g) || dh_param_req(r, "clientId", &id) ||
        dh_param_bool(r, "jstack", 0, &jstack))
        return -1;
    if (strlen(id) > 512)
        return dh_fail(r, "bad clientId: too long");
    if (cs_masters(r, &m, &nm))
        return -1;
    /* the client is connected to the brokers of its topics: the first that relays wins */
    lj_val_t *info = NULL;
    for (int i = 0; i < nm && !info; i++)
        if (ad_call_fields(m[i].call, &info, &e, 307, "consumerGroup", g, "clientId", id, "jstackEnable",
                           jstack ? "true" : "false", NULL) != 0)
            info = NULL;
    free(m);
    if (!info)
        return e.msg[0] ? dh_fail_ad(r, &e) : dh_fail(r, "The Consumer %s %s not online", g, id);
    *data = info;
    return 0;
}

/* ---- offsets ---- */

/* The masters of a topic's route, as {name, call address}. */
static int topic_masters(dh_req_t *r, const char *topic, cs_master_t **out, int *n)
{
    char ns[128];
    lj_val_t *route = NULL;
    ad_err_t e;
    *out = NULL;
    *n = 0;
    dh_namesrv_first(ns);
    if (!ns[0])
        return dh_fail(r, "no name server address is configured");
    if (ad_route(ns, topic, &route, &e))
        return dh_fail_ad(r, &e);
    const lj_val_t *bds = lj_get(route, "brokerDatas");
    size_t nb = bds && bds->type == LJ_ARR ? bds->n : 0;
    cs_master_t *m = calloc(nb + 1, sizeof *m);
    for (size_t i = 0; m && i < nb && *n < CS_MAX_MASTERS; i++) {
        const char *a = lj_get_str(lj_get(bds->items[i], "brokerAddrs"), "0", NULL);
        if (!a)
            continue;
        cs_master_t *x = &m[(*n)++];
        snprintf(x->name, sizeof x->name, "%s", lj_get_str(bds->items[i], "brokerName", ""));
        snprintf(x->addr, sizeof x->addr, "%s", a);
        dh_broker_addr(a, x->call);
    }
    lj_free(route);
    if (!m)
        return dh_fail(r, "out of memory");
    *out = m;
    return 0;
}

/* One group's reset on every master of the topic: ConsumerGroupRollBackStat. */
static lj_val_t *reset_group(const cs_master_t *m, int nm, const char *g, const char *topic, int64_t ts, int force)
{
    lj_val_t *res = lj_new_obj(), *list = lj_new_arr();
    char tss[24], err[600] = "";
    snprintf(tss, sizeof tss, "%lld", (long long)ts);
    for (int i = 0; i < nm; i++) {
        lj_val_t *ans = NULL;
        ad_err_t e;
        if (ad_call_fields(m[i].call, &ans, &e, 222, "topic", topic, "group", g, "timestamp", tss, "isForce",
                           force ? "true" : "false", NULL) != 0) {
            snprintf(err, sizeof err, "broker %s: %s", m[i].name, e.msg);
            continue;
        }
        const lj_val_t *tab = lj_get(ans, "offsetTable");
        for (size_t j = 0; tab && tab->type == LJ_OBJ && j < tab->n; j++) {
            lj_val_t *s = lj_new_obj(); /* the broker-side reset tells only the new offset, as the original's */
            lj_set_str(s, "brokerName", lj_get_str(tab->members[j].key, "brokerName", m[i].name));
            lj_set_int(s, "queueId", lj_get_int(tab->members[j].key, "queueId", 0));
            lj_set_int(s, "brokerOffset", 0);
            lj_set_int(s, "consumerOffset", 0);
            lj_set_int(s, "timestampOffset", 0);
            lj_set_int(s, "rollbackOffset", lj_int(tab->members[j].val, 0));
            lj_push(list, s);
        }
        lj_free(ans);
    }
    lj_set_bool(res, "status", !err[0] && nm > 0);
    lj_set(res, "errMsg", err[0] ? lj_new_str(err) : nm ? lj_new_null() : lj_new_str("the topic has no master broker"));
    lj_set(res, "rollbackStatsList", list);
    return res;
}

/* resetOffset.do / skipAccumulate.do: {consumerGroupList, topic, resetTime, force}. */
static int reset(dh_req_t *r, lj_val_t **data, int skip)
{
    const lj_val_t *body = dh_body_obj(r), *groups, *tv;
    if (!body)
        return -1;
    const char *topic = lj_get_str(body, "topic", NULL);
    if (!topic)
        return dh_fail(r, "topic is required");
    if (name_check(r, "topic", topic, 127))
        return -1;
    groups = lj_get(body, "consumerGroupList");
    if (!groups || groups->type != LJ_ARR || groups->n == 0)
        return dh_fail(r, "consumerGroupList is required (an array of group names)");
    if (groups->n > MAX_RESET_GROUPS)
        return dh_fail(r, "bad consumerGroupList: at most %d groups", MAX_RESET_GROUPS);
    for (size_t i = 0; i < groups->n; i++) {
        const char *g = lj_str(groups->items[i], NULL);
        if (!g || name_check(r, "consumerGroupList entry", g, 255))
            return g ? -1 : dh_fail(r, "bad consumerGroupList: an array of group names");
    }
    int64_t ts = -1;
    tv = lj_get(body, "resetTime");
    if (tv && tv->type != LJ_NULL) {
        ts = lj_int(tv, INT64_MIN);
        if (ts < -1)
            return dh_fail(r, "bad resetTime: epoch milliseconds, or -1 for the newest offset");
    } else if (!skip) {
        return dh_fail(r, "resetTime is required (epoch milliseconds)");
    }
    /* the UI always sends force:true; a script that leaves it out means the same */
    int force = lj_bool(lj_get(body, "force"), 1);
    cs_master_t *m;
    int nm;
    if (topic_masters(r, topic, &m, &nm))
        return -1;
    lj_val_t *out = lj_new_obj();
    for (size_t i = 0; i < groups->n; i++) {
        const char *g = lj_str(groups->items[i], "");
        if (!lj_get(out, g))
            lj_set(out, g, reset_group(m, nm, g, topic, ts, force));
    }
    free(m);
    *data = out;
    return 0;
}

static int h_reset_offset(dh_req_t *r, lj_val_t **data) { return reset(r, data, 0); }
static int h_skip_accumulate(dh_req_t *r, lj_val_t **data) { return reset(r, data, 1); }

/* ---- a topic's consumers (topic/ requests) ---- */

/* Groups consuming the topic (300 on each master of its route), deduplicated, as an array. */
static int topic_groups(dh_req_t *r, const cs_master_t *m, int nm, lj_val_t **out)
{
    const char *topic = dh_param(r, "topic");
    lj_val_t *arr = lj_new_arr();
    cm_map_t seen;
    ad_err_t e = {""};
    int ok = 0;
    cm_map_init(&seen);
    for (int i = 0; i < nm; i++) {
        lj_val_t *gl = NULL;
        if (ad_call_fields(m[i].call, &gl, &e, 300, "topic", topic, NULL) != 0)
            continue;
        ok++;
        const lj_val_t *list = lj_get(gl, "groupList");
        for (size_t j = 0; list && list->type == LJ_ARR && j < list->n; j++) {
            const char *g = lj_str(list->items[j], NULL);
            if (g && !cm_map_get(&seen, g) && cm_map_put(&seen, g, (void *)1) == 0)
                lj_push(arr, lj_new_str(g));
        }
        lj_free(gl);
    }
    cm_map_free(&seen, NULL);
    if (nm && !ok) {
        lj_free(arr);
        return dh_fail_ad(r, &e);
    }
    *out = arr;
    return 0;
}

static int h_topic_consumer_info(dh_req_t *r, lj_val_t **data)
{
    const char *topic;
    cs_master_t *m;
    int nm;
    lj_val_t *groups;
    if (topic_param(r, &topic) || topic_masters(r, topic, &m, &nm))
        return -1;
    int rc = topic_groups(r, m, nm, &groups);
    free(m);
    if (rc)
        return -1;
    *data = lj_new_obj();
    lj_set(*data, "groupList", groups);
    return 0;
}

static int h_consumer_by_topic(dh_req_t *r, lj_val_t **data)
{
    const char *topic;
    cs_master_t *m;
    int nm;
    lj_val_t *groups;
    if (topic_param(r, &topic) || topic_masters(r, topic, &m, &nm))
        return -1;
    if (topic_groups(r, m, nm, &groups)) {
        free(m);
        return -1;
    }
    uint64_t all = nm >= 64 ? ~0ull : (1ull << nm) - 1;
    lj_val_t *out = lj_new_obj();
    for (size_t i = 0; i < groups->n && i < MAX_TOPIC_GROUPS; i++) {
        const char *g = lj_str(groups->items[i], "");
        qrows_t q = {0};
        owners_t o;
        if (group_queue_rows(r, m, nm, all, g, topic, &q) != 0) {
            r->err[0] = 0; /* one group's failure leaves it out, as the original's */
            free(q.v);
            continue;
        }
        owners_load(&o, m, nm, all, g);
        owners_apply(&o, &q);
        lj_val_t *info = topic_info(&q, 0, q.n);
        lj_set_str(info, "topic", topic);
        lj_put(out, lj_new_str(g), info);
        owners_free(&o);
        free(q.v);
    }
    lj_free(groups);
    free(m);
    *data = out;
    return 0;
}

const dh_route_t dh_routes_consumer[] = {
    {"consumer/groupList.query", h_group_list, "GET,POST"},
    {"consumer/group.query", one_group, "GET,POST"},
    {"consumer/group.refresh", one_group, "GET,POST"},
    {"consumer/group.refresh.all", h_group_refresh_all, "GET,POST"},
    {"consumer/resetOffset.do", h_reset_offset, "POST"},
    {"consumer/skipAccumulate.do", h_skip_accumulate, "POST"},
    {"consumer/examineSubscriptionGroupConfig.query", h_examine_config, "GET,POST"},
    {"consumer/createOrUpdate.do", h_create_or_update, "POST"},
    {"consumer/deleteSubGroup.do", h_delete_sub_group, "POST"},
    {"consumer/fetchBrokerNameList.query", h_fetch_broker_names, "GET,POST"},
    {"consumer/queryTopicByConsumer.query", h_query_topic_by_consumer, "GET,POST"},
    {"consumer/consumerConnection.query", h_consumer_connection, "GET,POST"},
    {"consumer/consumerRunningInfo.query", h_consumer_running_info, "GET,POST"},
    {"topic/queryConsumerByTopic.query", h_consumer_by_topic, "GET,POST"},
    {"topic/queryTopicConsumerInfo.query", h_topic_consumer_info, "GET,POST"},
    {NULL},
};
