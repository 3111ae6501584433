/* api_cluster.c: the Cluster page's requests (spec dashboard.md §3.2).
 *
 * cluster/list.query asks the name server once (106) and then every broker instance, masters
 * and slaves, for its runtime info (28) on up to DH_FANOUT threads at once: one slow broker
 * costs its own timeout, not everyone's in turn, and one that does not answer shows as an
 * empty map rather than failing the page (the original aborts on it). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard.h"

#define DH_FANOUT 16

/* ---- cluster/list.query ---- */

typedef struct runtime_job {
    const ad_broker_t *brokers;
    lj_val_t **tables; /* per broker: its runtime "table", NULL when it did not answer */
} runtime_job_t;

/* The member `key` of obj taken out of it (a null left in its place), or NULL. */
static lj_val_t *take_member(lj_val_t *obj, const char *key)
{
    for (size_t i = 0; obj && obj->type == LJ_OBJ && i < obj->n; i++) {
        lj_val_t *k = obj->members[i].key;
        if (k->type == LJ_STR && strcmp(k->s, key) == 0) {
            lj_val_t *v = obj->members[i].val, *null = lj_new_null();
            if (!null)
                return NULL;
            obj->members[i].val = null;
            return v;
        }
    }
    return NULL;
}

static void fetch_runtime(size_t i, void *arg)
{
    runtime_job_t *job = arg;
    char addr[128];
    dh_broker_addr(job->brokers[i].addr, addr);
    lj_val_t *info = NULL;
    ad_err_t e;
    if (ad_call_fields(addr, &info, &e, 28, NULL) == 0) {
        lj_val_t *t = take_member(info, "table");
        job->tables[i] = t && t->type == LJ_OBJ ? t : (lj_free(t), NULL);
    }
    lj_free(info);
}

/* {brokerName: {"<id>": {runtime key: value}}}; a broker that did not answer gets {}. */
static lj_val_t *broker_server(const ad_broker_t *bs, lj_val_t **tables, int n)
{
    lj_val_t *out = lj_new_obj();
    for (int i = 0; out && i < n; i++) {
        lj_val_t *per = lj_get(out, bs[i].name);
        if (!per) {
            per = lj_new_obj();
            lj_set(out, bs[i].name, per);
        }
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)bs[i].id);
        lj_set(per, id, tables[i] ? tables[i] : lj_new_obj());
        tables[i] = NULL;
    }
    return out;
}

/* RocketMQ 5.1's TopicMessageType values, as the 2.0 console lists them for its dialogs. */
static lj_val_t *message_types(void)
{
    static const char *const k_types[] = {"UNSPECIFIED", "NORMAL", "FIFO", "DELAY", "TRANSACTION"};
    lj_val_t *o = lj_new_obj();
    for (size_t i = 0; i < sizeof k_types / sizeof *k_types; i++) {
        char v[64];
        snprintf(v, sizeof v, "MESSAGE_TYPE_%s", k_types[i]);
        lj_set_str(o, k_types[i], v);
    }
    return o;
}

static int h_list(dh_req_t *r, lj_val_t **data)
{
    lj_val_t *info = NULL;
    ad_err_t e;
    if (dh_cluster_info(&info, &e) != 0)
        return dh_fail_ad(r, &e);
    ad_broker_t *bs = NULL;
    int n = ad_brokers_of_info(info, &bs);
    lj_val_t **tables = n > 0 ? calloc((size_t)n, sizeof *tables) : NULL;
    if (n < 0 || (n > 0 && !tables)) {
        free(bs);
        lj_free(info);
        return dh_fail(r, "out of memory");
    }
    runtime_job_t job = {bs, tables};
    dh_each_parallel((size_t)(n > 0 ? n : 0), DH_FANOUT, fetch_runtime, &job);
    lj_val_t *out = lj_new_obj();
    lj_set(out, "clusterInfo", info);
    lj_set(out, "brokerServer", broker_server(bs, tables, n));
    lj_set(out, "messageTypes", message_types());
    free(tables);
    free(bs);
    *data = out;
    return 0;
}

/* ---- cluster/brokerConfig.query ---- */

static int h_broker_config(dh_req_t *r, lj_val_t **data)
{
    const char *want;
    if (dh_param_req(r, "brokerAddr", &want))
        return -1;
    ad_err_t e;
    int known = dh_known_broker(want, &e);
    if (known < 0)
        return dh_fail_ad(r, &e);
    if (!known)
        return dh_fail(r, "brokerAddr %.200s is not a broker of the cluster", want);
    char addr[128];
    dh_broker_addr(want, addr);
    rm_cmd_t resp;
    if (ad_call_raw(addr, &resp, &e, NULL, 0, 26, NULL) != 0)
        return dh_fail_ad(r, &e);
    cm_props_t props = {0};
    int rc = cm_props_parse(&props, (const char *)resp.body, resp.body_len);
    rm_cmd_free(&resp);
    if (rc != 0) {
        cm_props_free(&props);
        return dh_fail(r, "unreadable broker config from %.200s", want);
    }
    lj_val_t *out = lj_new_obj();
    for (size_t i = 0; out && i < props.n; i++)
        lj_set_str(out, props.items[i].key, props.items[i].val);
    cm_props_free(&props);
    *data = out;
    return 0;
}

const dh_route_t dh_routes_cluster[] = {
    {"cluster/list.query", h_list, "GET"},
    {"cluster/brokerConfig.query", h_broker_config, "GET"},
    {NULL},
};
