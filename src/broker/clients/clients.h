/* clients: the broker's registry of connected producers and consumers (HEART_BEAT,
 * UNREGISTER_CLIENT, consumer and producer lists, expiry), the queue locks of orderly consumers
 * (lock.c) and requests relayed to a consumer client (relay.c). A subsystem: it depends on the
 * core (core.h) only, and answers the core's find_sub, group_subscribes, conn_closed,
 * each_consumer and each_group_of_topic hooks. */
#ifndef LOULAN_BR_CLIENTS_H
#define LOULAN_BR_CLIENTS_H

#include "broker/core/core.h"

/* One connection's membership of one group. Every lookup is hashed or O(1) (clients.c): by
 * connection in the group, by connection over all groups, and oldest heartbeat first for expiry.
 * A 5.x gRPC client has no remoting connection (conn NULL): it is keyed by its client id and
 * brings its address and language name (vclient_beat hook). */
typedef struct br_client {
    rm_conn_t *conn;            /* NULL for a gRPC client */
    char key[272];              /* the connection's key, or "grpc:" + client id */
    char clientId[256];
    int language, version;
    char addr[64], langName[16]; /* gRPC clients: shown by admin views */
    uint64_t lastSeen;
    struct br_client *next;     /* the group's members; other files only walk this list */
    struct br_client **pprev;
    struct br_client *lru_prev, *lru_next;   /* all memberships, oldest lastSeen first */
    struct br_client *conn_next, **conn_pprev; /* the same connection's memberships */
    void *group;                /* br_cgroup_t (consumer set) or br_pgroup_t */
    int consumer;
} br_client_t;

typedef struct br_cgroup {             /* a live consumer group */
    char name[256];
    br_client_t *clients;
    br_sub_t *subs;             /* one per topic */
    size_t nsubs;
    cm_map_t subIndex;          /* topic -> index + 1 into subs */
    cm_map_t members;           /* connection key -> br_client_t* */
    struct br_cgroup *settle_next; /* clients.c: groups to notify or free after a removal pass */
    int settle;
    char consumeType[32], messageModel[32], consumeFromWhere[64];
} br_cgroup_t;

typedef struct br_pgroup {
    char name[256];
    br_client_t *clients;
    cm_map_t members;
    size_t nconn;               /* members with a remoting connection (the others are gRPC clients) */
} br_pgroup_t;

typedef struct br_clients {
    cm_map_t consumers;         /* group -> br_cgroup_t* */
    cm_map_t producers;         /* group -> br_pgroup_t* */
    cm_map_t conns;             /* connection key -> br_cconn_t* (its memberships) */
    br_client_t *lru_head, *lru_tail;
    struct br_hb_job *hb_head, *hb_tail; /* heartbeats decoding off the loop, in arrival order */
    size_t hb_big;              /* how many of them are large */
    cm_map_t locks;             /* "group\1topic\1broker\1qid" -> queue lock (lock.c) */
    uv_timer_t scan;            /* expires clients whose heartbeats stopped */
} br_clients_t;

/* A HEART_BEAT body, decoded and checked without a broker (br_heartbeat_decode). */
#define BR_HB_MAX_GROUPS 1024   /* consumer or producer groups in one heartbeat */
#define BR_HB_MAX_SUBS 65536    /* subscriptions in one heartbeat, all groups together */
typedef struct br_hb_consumer {
    char groupName[256];
    char consumeType[32], messageModel[32], consumeFromWhere[64];
    br_sub_t *subs;             /* deduplicated by topic (the last one wins) */
    size_t nsubs;
    cm_map_t subIndex;          /* topic -> index + 1 */
} br_hb_consumer_t;

typedef struct br_heartbeat {
    char clientID[256];
    br_hb_consumer_t *consumers;
    size_t nconsumers;
    char (*producers)[256];
    size_t nproducers;
    size_t badSubs;             /* subscriptions kept but not usable (bad SQL92, unknown type) */
    char firstBad[640];         /* the reason for the first of them */
} br_heartbeat_t;

void br_clients_free(br_clients_t *c);
br_cgroup_t *br_cgroup_get(br_broker_t *b, const char *group);
void br_clients_conn_closed(br_broker_t *b, rm_conn_t *conn);
/* The vclient_beat hook: a 5.x gRPC client (key = its client id) joins or refreshes the groups of
 * a HeartbeatData JSON body, or leaves every group (body NULL). Loop thread. */
void br_clients_vclient_beat(br_broker_t *b, const char *key, const char *addr, const char *language, int version,
                             const char *body, size_t len);
void br_clients_scan(br_broker_t *b, uint64_t now); /* expire memberships silent since now - 120 s */
/* Decode a HEART_BEAT body (HeartbeatData JSON) into hb; no broker needed, any bytes accepted.
 * 0, or -1 with a one-line reason in err (not JSON, over BR_HB_MAX_GROUPS / BR_HB_MAX_SUBS).
 * Call br_heartbeat_free(hb) in both cases. */
int br_heartbeat_decode(const void *body, size_t len, br_heartbeat_t *hb, char *err, size_t errlen);
void br_heartbeat_free(br_heartbeat_t *hb);
/* The group's subscription to topic, or NULL (hashed). */
const br_sub_t *br_cgroup_sub(const br_cgroup_t *g, const char *topic);
void br_handle_heart_beat(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_unregister_client(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_get_consumer_list_by_group(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_check_client_config(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_get_consumer_connection_list(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_get_producer_connection_list(rm_conn_t *c, rm_cmd_t *req, void *ctx);

/* lock.c */
void br_handle_lock_batch_mq(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_unlock_batch_mq(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_locks_free(br_clients_t *c);

/* relay.c: GET_CONSUMER_RUNNING_INFO (307) and CONSUME_MESSAGE_DIRECTLY (309), passed to the
 * consumer client named in the header and its answer passed back */
void br_handle_relay_to_consumer(rm_conn_t *c, rm_cmd_t *req, void *ctx);

extern const br_subsys_t br_clients_subsys;

#endif
