/* api_dashboard.c: dashboard/ (the Dashboard page's trend data, spec §3.9) and monitor/ (the
 * consumer monitor settings, §3.11) of rocketmq-dashboard's API.
 *
 * The dashboard/ requests make no remoting call: they read what collect.c sampled (today's series
 * from memory, other days from their day files). monitor/ keeps {group: {minCount,
 * maxDiffTotal}} in <dataPath>/monitor/consumerMonitorConfig.json, written atomically with the
 * previous version kept as .bak (read when the file is damaged), as the original; like the
 * original, nothing compares groups against these limits (its scanner is never scheduled). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard.h"

/* ---- dashboard/ ------------------------------------------------------------------------------ */

/* date=yyyy-MM-dd, strictly: it becomes part of a file name. */
static int date_param(dh_req_t *r, const char **out)
{
    if (dh_param_req(r, "date", out) != 0)
        return -1;
    if (dh_collect_date_ok(*out, NULL) != 0)
        return dh_fail(r, "bad date: %.40s (expected yyyy-MM-dd)", *out);
    return 0;
}

/* {"<brokerName>:<brokerId>": ["<epochMs>,<avgTps>", ...]} or {} */
static int h_broker(dh_req_t *r, lj_val_t **data)
{
    const char *date;
    char err[200];
    if (date_param(r, &date) != 0)
        return -1;
    if (dh_collect_query(0, date, NULL, data, err, sizeof err) != 0)
        return dh_fail(r, "%s", err);
    return 0;
}

/* with topicName: ["<epochMs>,<inTps>,<inCount>,<outTps>,<outCount>", ...] or null; without:
 * {topic: such a list} */
static int h_topic(dh_req_t *r, lj_val_t **data)
{
    const char *date, *topic = dh_param(r, "topicName");
    char err[200];
    if (date_param(r, &date) != 0)
        return -1;
    if (topic && strlen(topic) > 255)
        return dh_fail(r, "bad topicName: longer than 255 characters");
    if (dh_collect_query(1, date, topic && *topic ? topic : NULL, data, err, sizeof err) != 0)
        return dh_fail(r, "%s", err);
    return 0;
}

/* ["<topic>,<outCount of its last sample today>", ...], the largest first */
static int h_topic_current(dh_req_t *r, lj_val_t **data)
{
    char err[200];
    if (dh_collect_current(data, err, sizeof err) != 0)
        return dh_fail(r, "%s", err);
    return 0;
}

/* ---- monitor/ -------------------------------------------------------------------------------- */

#define MON_MAX 10000 /* groups: the file stays bounded */

static struct {
    pthread_mutex_t mu;
    lj_val_t *cfg; /* {group: {minCount, maxDiffTotal}}, loaded on first use */
} g_mon = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void mon_path(char *out, size_t n, int dir_only)
{
    pthread_mutex_lock(&g_dh.mu);
    snprintf(out, n, "%s/monitor%s", g_dh.cfg.data_path, dir_only ? "" : "/consumerMonitorConfig.json");
    pthread_mutex_unlock(&g_dh.mu);
}

/* One entry as stored: both limits as numbers. */
static lj_val_t *mon_entry(int64_t min_count, int64_t max_diff)
{
    lj_val_t *o = lj_new_obj();
    lj_set_int(o, "minCount", min_count);
    lj_set_int(o, "maxDiffTotal", max_diff);
    return o;
}

/* The file's settings, keeping only well-formed entries; NULL when it is absent or not JSON. */
static lj_val_t *mon_read(const char *path)
{
    char *text;
    size_t len;
    lj_val_t *root = NULL, *cfg;
    if (cm_read_file(path, &text, &len) != 0)
        return NULL;
    int rc = len > (64u << 20) ? -1 : lj_parse(text, len, &root);
    free(text);
    if (rc != 0 || root->type != LJ_OBJ) {
        lj_free(root);
        return NULL;
    }
    cfg = lj_new_obj();
    for (size_t i = 0; cfg && i < root->n && cfg->n < MON_MAX; i++) {
        const lj_val_t *k = root->members[i].key, *v = root->members[i].val;
        if (k->type == LJ_STR && v->type == LJ_OBJ)
            lj_put(cfg, lj_new_str(k->s),
                   mon_entry(lj_get_int(v, "minCount", 0), lj_get_int(v, "maxDiffTotal", 0)));
    }
    lj_free(root);
    return cfg;
}

/* Under g_mon.mu: the settings, read once (the file, else its .bak, else none). */
static lj_val_t *mon_cfg(void)
{
    if (!g_mon.cfg) {
        char path[700], bak[720];
        mon_path(path, sizeof path, 0);
        snprintf(bak, sizeof bak, "%s.bak", path);
        if (!(g_mon.cfg = mon_read(path)) && (g_mon.cfg = mon_read(bak)) != NULL)
            LOG_W("dashboard", "%s is missing or damaged: its previous version %s was read", path, bak);
        if (!g_mon.cfg)
            g_mon.cfg = lj_new_obj();
    }
    return g_mon.cfg;
}

/* Under g_mon.mu: write the settings; on failure they are read again from the file next time. */
static int mon_save(dh_req_t *r)
{
    char dir[700], path[700];
    cm_buf_t b;
    cm_buf_init(&b);
    mon_path(dir, sizeof dir, 1);
    mon_path(path, sizeof path, 0);
    int rc = cm_mkdirs(dir) != 0 || lj_write(g_mon.cfg, LJ_W_STRICT, &b) != 0 ||
             cm_write_file_safe(path, b.data, b.len) != 0;
    cm_buf_free(&b);
    if (rc) {
        lj_free(g_mon.cfg);
        g_mon.cfg = NULL;
        return dh_fail(r, "cannot write %s", path);
    }
    return 0;
}

/* A copy the caller owns (the envelope frees it after the answer). */
static lj_val_t *copy_json(const lj_val_t *v)
{
    cm_buf_t b;
    lj_val_t *out = NULL;
    cm_buf_init(&b);
    if (lj_write(v, LJ_W_STRICT, &b) == 0 && lj_parse(b.data, b.len, &out) != 0)
        out = NULL;
    cm_buf_free(&b);
    return out;
}

/* consumeGroupName: RocketMQ's group name characters, 1 to 255 of them. */
static int group_param(dh_req_t *r, const char **out)
{
    if (dh_param_req(r, "consumeGroupName", out) != 0)
        return -1;
    size_t n = strlen(*out);
    if (n > 255 || strspn(*out, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-%|") != n)
        return dh_fail(r, "bad consumeGroupName: 1 to 255 of the characters a-z A-Z 0-9 _ - %% |");
    return 0;
}

static int limit_param(dh_req_t *r, const char *name, int64_t max, int64_t *out)
{
    const char *v;
    if (dh_param_req(r, name, &v) != 0 || dh_param_i64(r, name, 0, out) != 0)
        return -1;
    if (*out < 0 || *out > max)
        return dh_fail(r, "bad %s: 0 to %lld", name, (long long)max);
    return 0;
}

static int h_mon_update(dh_req_t *r, lj_val_t **data)
{
    const char *group;
    int64_t min_count, max_diff;
    if (group_param(r, &group) || limit_param(r, "minCount", INT32_MAX, &min_count) ||
        limit_param(r, "maxDiffTotal", INT64_MAX, &max_diff))
        return -1;
    pthread_mutex_lock(&g_mon.mu);
    lj_val_t *cfg = mon_cfg();
    int rc;
    if (!lj_get(cfg, group) && cfg->n >= MON_MAX)
        rc = dh_fail(r, "too many monitored groups (%d): delete some first", MON_MAX);
    else if (lj_set(cfg, group, mon_entry(min_count, max_diff)) != 0)
        rc = dh_fail(r, "out of memory");
    else
        rc = mon_save(r);
    pthread_mutex_unlock(&g_mon.mu);
    if (rc)
        return -1;
    *data = lj_new_bool(1);
    return 0;
}

static int h_mon_all(dh_req_t *r, lj_val_t **data)
{
    pthread_mutex_lock(&g_mon.mu);
    *data = copy_json(mon_cfg());
    pthread_mutex_unlock(&g_mon.mu);
    return *data ? 0 : dh_fail(r, "out of memory");
}

static int h_mon_by_group(dh_req_t *r, lj_val_t **data)
{
    const char *group;
    if (group_param(r, &group) != 0)
        return -1;
    pthread_mutex_lock(&g_mon.mu);
    const lj_val_t *e = lj_get(mon_cfg(), group);
    *data = e ? copy_json(e) : lj_new_null();
    pthread_mutex_unlock(&g_mon.mu);
    return *data ? 0 : dh_fail(r, "out of memory");
}

/* Deleting a group that has no settings is not an error (the original answers true too). */
static int h_mon_delete(dh_req_t *r, lj_val_t **data)
{
    const char *group;
    int rc = 0;
    if (group_param(r, &group) != 0)
        return -1;
    pthread_mutex_lock(&g_mon.mu);
    lj_val_t *cfg = mon_cfg();
    for (size_t i = 0; i < cfg->n; i++) {
        const lj_val_t *k = cfg->members[i].key;
        if (k->type == LJ_STR && strcmp(k->s, group) == 0) {
            lj_free(cfg->members[i].key);
            lj_free(cfg->members[i].val);
            memmove(&cfg->members[i], &cfg->members[i + 1], (cfg->n - i - 1) * sizeof *cfg->members);
            cfg->n--;
            rc = mon_save(r);
            break;
        }
    }
    pthread_mutex_unlock(&g_mon.mu);
    if (rc)
        return -1;
    *data = lj_new_bool(1);
    return 0;
}

const dh_route_t dh_routes_dashboard[] = {
    {"dashboard/broker.query", h_broker, "GET"},
    {"dashboard/topic.query", h_topic, "GET"},
    {"dashboard/topicCurrent.query", h_topic_current, "GET"},
    {"dashboard/topicCurrent", h_topic_current, "GET"}, /* 1.0.0's path */
    {"monitor/createOrUpdateConsumerMonitor.do", h_mon_update, "POST"},
    {"monitor/consumerMonitorConfig.query", h_mon_all, "GET"},
    {"monitor/consumerMonitorConfigByGroupName.query", h_mon_by_group, "GET"},
    {"monitor/deleteConsumerMonitor.do", h_mon_delete, "POST"},
    {NULL},
};
