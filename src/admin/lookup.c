/* lookup.c: the name server's views of the cluster (routes, cluster info) and the broker lists
 * admin clients derive from them (contracts in admin.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

int ad_route(const char *ns, const char *topic, lj_val_t **route, ad_err_t *e)
{
    return ad_call_fields(ns, route, e, 105, "topic", topic, NULL);
}

int ad_cluster_info(const char *ns, lj_val_t **info, ad_err_t *e)
{
    return ad_call_fields(ns, info, e, 106, NULL);
}

static int cmp_broker(const void *a, const void *b)
{
    const ad_broker_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* The cluster of a broker name, from clusterAddrTable ({cluster: [names]}). */
static const char *cluster_of(const lj_val_t *info, const char *name)
{
    const lj_val_t *ct = lj_get(info, "clusterAddrTable");
    for (size_t i = 0; ct && ct->type == LJ_OBJ && i < ct->n; i++) {
        const lj_val_t *names = ct->members[i].val;
        for (size_t j = 0; names && names->type == LJ_ARR && j < names->n; j++)
            if (strcmp(lj_str(names->items[j], ""), name) == 0)
                return lj_str(ct->members[i].key, "");
    }
    return "";
}

int ad_brokers_of_info(const lj_val_t *info, ad_broker_t **out)
{
    const lj_val_t *bt = lj_get(info, "brokerAddrTable");
    size_t n = 0, cap = 0;
    ad_broker_t *v = NULL;
    for (size_t i = 0; bt && bt->type == LJ_OBJ && i < bt->n; i++) {
        const lj_val_t *bd = bt->members[i].val, *addrs = lj_get(bd, "brokerAddrs");
        const char *name = lj_get_str(bd, "brokerName", lj_str(bt->members[i].key, ""));
        for (size_t j = 0; addrs && addrs->type == LJ_OBJ && j < addrs->n; j++) {
            if (n == cap) {
                ad_broker_t *g = realloc(v, (cap = cap ? cap * 2 : 8) * sizeof *v);
                if (!g) {
                    free(v);
                    return -1;
                }
                v = g;
            }
            ad_broker_t *b = &v[n++];
            snprintf(b->name, sizeof b->name, "%s", name);
            snprintf(b->cluster, sizeof b->cluster, "%s", lj_get_str(bd, "cluster", cluster_of(info, name)));
            snprintf(b->addr, sizeof b->addr, "%s", lj_str(addrs->members[j].val, ""));
            b->id = lj_int(addrs->members[j].key, -1);
        }
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_broker);
    *out = v;
    return (int)n;
}

const char *ad_master_addr(const lj_val_t *info_or_route, const char *name)
{
    const lj_val_t *bt = lj_get(info_or_route, "brokerAddrTable");
    if (bt)
        return lj_get_str(lj_get(lj_get(bt, name), "brokerAddrs"), "0", NULL);
    const lj_val_t *bds = lj_get(info_or_route, "brokerDatas");
    for (size_t i = 0; bds && bds->type == LJ_ARR && i < bds->n; i++)
        if (strcmp(lj_get_str(bds->items[i], "brokerName", ""), name) == 0)
            return lj_get_str(lj_get(bds->items[i], "brokerAddrs"), "0", NULL);
    return NULL;
}

void ad_vip_addr(const char *addr, char out[128])
{
    const char *colon = strrchr(addr, ':');
    int port = colon ? atoi(colon + 1) : 0;
    if (!colon || port <= 2) {
        snprintf(out, 128, "%s", addr);
        return;
    }
    snprintf(out, 128, "%.*s:%d", (int)(colon - addr), addr, port - 2);
}
