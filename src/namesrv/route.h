/* Private to namesrv: the route table (topics -> queue data, brokers -> addresses, clusters,
 * broker liveness) and the KV config: loop thread only. The body decoder (ns_reg_body_*) touches
 * no shared state and may run on any thread (namesrv.c runs big bodies on libuv's pool). */
#ifndef LOULAN_NS_ROUTE_H
#define LOULAN_NS_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

/* gen: the whole-table registration that last carried it (see ns_routes_prune_step) */
typedef struct ns_qdata { char *brokerName; int r, w, perm, sysFlag; uint32_t gen; } ns_qdata_t;
/* A topic's queue data has one entry per broker name carrying it (tens at most), so it stays
 * a small array; the topics themselves are hashed by name. */
typedef struct ns_topic {
    char *name;
    ns_qdata_t *q; size_t nq, capq;
    struct ns_topic *prev, *next;   /* creation order, for topic lists */
} ns_topic_t;
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

/* A topic as a broker registers it. */
typedef struct ns_topic_conf { char *name; int r, w, perm, sysFlag; } ns_topic_conf_t;

/* Every table a request looks up by name is a hash map, so no handler does work that grows
 * with the square of the number of topics (a 40k-topic registration once froze the loop 12 s).
 * A zeroed struct is an empty table. */
typedef struct ns_routes {
    cm_map_t topics;                    /* topic name -> ns_topic_t* */
    ns_topic_t *first, *last;           /* the same topics in creation order */
    cm_map_t brokers;                   /* brokerName -> ns_broker_t* */
    cm_map_t clusters;                  /* clusterName -> ns_cluster_t* */
    cm_map_t live;                      /* brokerAddr -> ns_live_t* */
    cm_map_t kv;                        /* namespace -> cm_map_t* of key -> value (char*) */
    uint32_t gen;                       /* the last whole-table registration's generation */
    ns_topic_t *prune_at;               /* the prune walk's next topic (kept valid by removals) */
} ns_routes_t;

typedef struct ns_reg {
    const char *cluster, *addr, *name, *ha;
    int64_t id;
    int64_t dvCounter, dvTimestamp;
    const ns_topic_conf_t *topics;
    size_t ntopics;
    uint64_t connId, now;
    uint32_t gen;                       /* stamped on the queue data it applies (0: not whole) */
} ns_reg_t;

/* A decoded REGISTER_BROKER body. */
typedef struct ns_reg_body {
    int64_t dvCounter, dvTimestamp;
    ns_topic_conf_t *topics;
    size_t n, cap;
} ns_reg_body_t;

/* Decode a REGISTER_BROKER body: JSON (wrapped in topicConfigSerializeWrapper when the
 * requester's version >= V3_0_11) or the zlib-compressed binary form. Fills *rb (zeroed by the
 * caller; free it with ns_reg_body_free even on error). 0, CM_EPARSE or CM_ENOMEM. Work and
 * memory are linear in len; inflated bodies are capped at 64 MiB. Any thread. */
int ns_reg_body_decode(const uint8_t *body, size_t len, int compressed, int version, ns_reg_body_t *rb);
void ns_reg_body_free(ns_reg_body_t *rb);

void ns_routes_free(ns_routes_t *r);
/* Register a broker; master and masterHa get the live master's addresses for a slave (or NULL).
 * Cost: linear in g->ntopics (hashed topic lookups). The same as ns_routes_register_broker,
 * then ns_routes_put_topics of all topics if due, then ns_routes_master. */
int ns_routes_register(ns_routes_t *r, const ns_reg_t *reg, const char **master, const char **masterHa);
/* The constant part of a registration: cluster, broker address and liveness (data version).
 * *topics_due says whether the topics must then be applied (a master with a new data version);
 * until they are, the table holds the new version with the old topics. */
int ns_routes_register_broker(ns_routes_t *r, const ns_reg_t *reg, int *topics_due);
/* Apply reg->topics[from, to) as reg->name's queue data: linear in to - from, so a big
 * registration can be applied in slices. On CM_ENOMEM the broker's data version is forgotten,
 * so that its next registration applies everything again. */
int ns_routes_put_topics(ns_routes_t *r, const ns_reg_t *reg, size_t from, size_t to);
/* A whole-table registration (Loulan brokers say so with topicTableComplete=true; RocketMQ's
 * also send increments, so theirs are never taken as whole) replaces its broker's topics: a
 * topic it no longer carries loses that broker's queue data. Without this a registration built
 * before a topic's deletion and applied after DELETE_TOPIC_IN_NAMESRV brought the route back for
 * good. The topics are stamped with ns_routes_next_gen's value as they are applied; then
 * ns_routes_prune_start and ns_routes_prune_step walk all topics in slices (the walk is linear
 * in every broker's topics, so it is sliced like the apply) and drop the unstamped ones. */
uint32_t ns_routes_next_gen(ns_routes_t *r);
void ns_routes_prune_start(ns_routes_t *r);
/* Up to max topics of the walk; returns 1 once it is done. *dropped counts queue data removed. */
int ns_routes_prune_step(ns_routes_t *r, const char *brokerName, uint32_t gen, size_t max, size_t *dropped);
/* For a slave's registration, the live master's addresses (NULL, NULL if none or a master). */
void ns_routes_master(const ns_routes_t *r, const ns_reg_t *reg, const char **master, const char **masterHa);
/* Cost: linear in the number of topics when the broker name goes away. */
void ns_routes_unregister(ns_routes_t *r, const char *cluster, const char *addr, const char *name, int64_t id);
/* Drop brokers registered over connection connId (0 = none) or silent since before `deadline`. */
size_t ns_routes_expire(ns_routes_t *r, uint64_t connId, uint64_t deadline);

/* The live broker registered from addr, or NULL. */
ns_live_t *ns_routes_live(const ns_routes_t *r, const char *addr);

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
