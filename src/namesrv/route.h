/* Private to namesrv: the route table (topics -> queue data, brokers -> addresses, clusters,
 * broker liveness) and the KV config. Loop thread only. */
#ifndef LOULAN_NS_ROUTE_H
#define LOULAN_NS_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

typedef struct ns_qdata { char *brokerName; int r, w, perm, sysFlag; } ns_qdata_t;
typedef struct ns_topic { char *name; ns_qdata_t *q; size_t nq, capq; } ns_topic_t;
typedef struct ns_baddr { int64_t id; char *addr; } ns_baddr_t;
typedef struct ns_broker { char *name; char *cluster; ns_baddr_t *addrs; size_t n, cap; } ns_broker_t;
typedef struct ns_cluster { char *name; char **brokers; size_t n, cap; } ns_cluster_t;
typedef struct ns_live {
    char *addr, *ha, *cluster, *brokerName;
    int64_t brokerId;
    uint64_t last;          /* monotonic ms of the last registration */
    int64_t dvCounter, dvTimestamp;
    uint64_t connId;
} ns_live_t;
typedef struct ns_kv { char *ns, *key, *val; } ns_kv_t;

/* A topic as a broker registers it. */
typedef struct ns_topic_conf { char *name; int r, w, perm, sysFlag; } ns_topic_conf_t;

typedef struct ns_routes {
    ns_topic_t *topics; size_t ntopics, captopics;
    ns_broker_t *brokers; size_t nbrokers, capbrokers;
    ns_cluster_t *clusters; size_t nclusters, capclusters;
    ns_live_t *live; size_t nlive, caplive;
    ns_kv_t *kv; size_t nkv, capkv;
} ns_routes_t;

typedef struct ns_reg {
    const char *cluster, *addr, *name, *ha;
    int64_t id;
    int64_t dvCounter, dvTimestamp;
    const ns_topic_conf_t *topics;
    size_t ntopics;
    uint64_t connId, now;
} ns_reg_t;

void ns_routes_free(ns_routes_t *r);
/* Register a broker; master and masterHa get the live master's addresses for a slave (or NULL). */
int ns_routes_register(ns_routes_t *r, const ns_reg_t *reg, const char **master, const char **masterHa);
void ns_routes_unregister(ns_routes_t *r, const char *cluster, const char *addr, const char *name, int64_t id);
/* Drop brokers registered over connection connId (0 = none) or silent since before `deadline`. */
size_t ns_routes_expire(ns_routes_t *r, uint64_t connId, uint64_t deadline);

/* JSON bodies; return NULL when there is nothing (unknown topic). Caller frees with lj_free. */
lj_val_t *ns_routes_route_json(const ns_routes_t *r, const char *topic, const char *orderConf);
lj_val_t *ns_routes_cluster_json(const ns_routes_t *r);
/* filter: 0 all topics, 1 topics of `cluster`, 2 unit, 3 unit-sub, 4 unit-sub-not-unit, 5 system */
lj_val_t *ns_routes_topic_list_json(const ns_routes_t *r, int filter, const char *cluster);
int ns_routes_delete_topic(ns_routes_t *r, const char *topic, const char *cluster);
/* wipe != 0: clear write perm; else set perm 6. Returns topics touched. */
int ns_routes_write_perm(ns_routes_t *r, const char *brokerName, int wipe);

const char *ns_kv_get(const ns_routes_t *r, const char *ns, const char *key);
int ns_kv_put(ns_routes_t *r, const char *ns, const char *key, const char *val);
int ns_kv_delete(ns_routes_t *r, const char *ns, const char *key);
lj_val_t *ns_kv_table_json(const ns_routes_t *r, const char *ns); /* NULL if empty */
int ns_kv_load(ns_routes_t *r, const char *path);
int ns_kv_save(const ns_routes_t *r, const char *path);

#endif
