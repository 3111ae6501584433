/* api_producer.c: the Producer page's request (spec dashboard.md §3.5).
 *
 * producer/producerConnection.query: the original asks one broker of the topic; a producer
 * connects only to the brokers it sent to, so here every master of the topic's route is asked
 * (in parallel) and the connections are merged by client id. Only when no broker knows the
 * group is it an error (the broker's "the producer group[...] not exist"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard.h"


/* RocketMQ's MQVersion.getVersionDesc: the Version enum lists, per release x.y.z, a SNAPSHOT and
 * a release entry; 4.0.0's SNAPSHOT is ordinal 212 and 5.0.0's 412 (ten minors of ten patches). */
static void version_desc(int64_t v, char out[32])
{
    if (v < 212) {
        snprintf(out, 32, "V3_x");
        return;
    }
    if (v >= 612) {
        snprintf(out, 32, "HIGHER_VERSION");
        return;
    }
    int major = v >= 412 ? 5 : 4;
    int64_t step = v - (major == 5 ? 412 : 212);
    int64_t release = step / 2;
    snprintf(out, 32, "V%d_%d_%d%s", major, (int)(release / 10), (int)(release % 10), step % 2 ? "" : "_SNAPSHOT");
}

typedef struct pc_job {
    char (*addrs)[128];
    const char *group;
    lj_val_t **answers; /* per broker: its connectionSet answer, or NULL */
    ad_err_t *errs;
} pc_job_t;

static void ask_broker(size_t i, void *arg)
{
    pc_job_t *j = arg;
    char addr[128];
    dh_broker_addr(j->addrs[i], addr);
    if (ad_call_fields(addr, &j->answers[i], &j->errs[i], 204, "producerGroup", j->group, NULL) != 0)
        j->answers[i] = NULL;
}

/* Whether set already holds a connection with this client id. */
static int has_client(const lj_val_t *set, const char *id)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(lj_get_str(set->items[i], "clientId", ""), id) == 0)
            return 1;
    return 0;
}

/* The connection in the console's shape (the broker's fields plus versionDesc). */
static lj_val_t *connection(const lj_val_t *c)
{
    lj_val_t *o = lj_new_obj();
    char desc[32];
    int64_t v = lj_get_int(c, "version", 0);
    version_desc(v, desc);
    lj_set_str(o, "clientId", lj_get_str(c, "clientId", ""));
    lj_set_str(o, "clientAddr", lj_get_str(c, "clientAddr", ""));
    lj_set_str(o, "language", lj_get_str(c, "language", ""));
    lj_set_int(o, "version", v);
    lj_set_str(o, "versionDesc", desc);
    return o;
}

/* The masters (id 0) of every broker of a route into addrs; how many. */
static int route_masters(const lj_val_t *route, char addrs[][128], int max)
{
    const lj_val_t *bds = lj_get(route, "brokerDatas");
    int n = 0;
    for (size_t i = 0; bds && bds->type == LJ_ARR && i < bds->n && n < max; i++) {
        const char *a = lj_get_str(lj_get(bds->items[i], "brokerAddrs"), "0", NULL);
        if (a)
            snprintf(addrs[n++], 128, "%s", a);
    }
    return n;
}

static int h_connection(dh_req_t *r, lj_val_t **data)
{
    const char *group, *topic;
    if (dh_param_req(r, "producerGroup", &group) || dh_param_req(r, "topic", &topic))
        return -1;
    char ns[128];
    dh_namesrv_first(ns);
    lj_val_t *route = NULL;
    ad_err_t e;
    if (ad_route(ns, topic, &route, &e) != 0)
        return dh_fail_ad(r, &e);
    char addrs[64][128];
    int n = route_masters(route, addrs, 64);
    lj_free(route);
    if (n == 0)
        return dh_fail(r, "topic %s has no master broker", topic);
    lj_val_t *answers[64] = {0};
    ad_err_t errs[64];
    pc_job_t job = {addrs, group, answers, errs};
    dh_each_parallel((size_t)n, 16, ask_broker, &job);
    lj_val_t *set = lj_new_arr();
    int answered = 0;
    for (int i = 0; i < n; i++) {
        const lj_val_t *cs = lj_get(answers[i], "connectionSet");
        answered += answers[i] != NULL;
        for (size_t k = 0; cs && cs->type == LJ_ARR && k < cs->n; k++)
            if (!has_client(set, lj_get_str(cs->items[k], "clientId", "")))
                lj_push(set, connection(cs->items[k]));
        lj_free(answers[i]);
    }
    if (!answered) {
        lj_free(set);
        return dh_fail_ad(r, &errs[0]);
    }
    lj_val_t *o = lj_new_obj();
    lj_set(o, "connectionSet", set);
    *data = o;
    return 0;
}

const dh_route_t dh_routes_producer[] = {
    {"producer/producerConnection.query", h_connection, "GET"},
    {NULL},
};
