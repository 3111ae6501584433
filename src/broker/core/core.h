/* The broker's core: its state (br_broker_t), the tables (topics, groups, offsets), config,
 * store access (br_put_copy, br_put_due), stats, persistence, admission, the handler registry
 * and the seam to the subsystems (br_hooks_t, br_subsys_t). Private to the broker; loop thread.
 *
 * Subsystems (clients/, pull/, schedule/, timer/, trans/, ha/) include this header and their
 * own, never a sibling's; the core includes no subsystem header. Where the core needs a
 * subsystem it calls a hook, which the subsystem fills in when it starts (NULL: absent).
 * wire.c is the one file that knows every subsystem (docs/broker-structure.md). */
#ifndef LOULAN_BR_CORE_H
#define LOULAN_BR_CORE_H

#include "broker/broker.h"
#include "common/common.h"
#include "remoting/remoting.h"
#include "store/store.h"
#include "filter/filter.h"

#define PERM_INHERIT 1
#define PERM_WRITE 2
#define PERM_READ 4

/* ---- config files written off the loop, coalesced (persist.c) ---- */
/* How a table becomes its file: snap copies it on the loop thread (cheap: flat copies),
 * render makes the file's bytes from the copy on any thread, free drops the copy. */
typedef struct br_ptype {
    void *(*snap)(const void *table);
    int (*render)(const void *snap, cm_buf_t *out);
    void (*free)(void *snap);
} br_ptype_t;
extern const br_ptype_t br_topics_ptype, br_groups_ptype, br_offsets_ptype;
extern const br_ptype_t br_topics_answer_ptype; /* GET_ALL_TOPIC_CONFIG's body (fastjson order) */
struct br_pslot;                /* a table's place in the persister; NULL: none running */
#define BR_PERSIST_SOON_MS 100  /* topics, groups, delay progress: written within this */
#define BR_PERSIST_OFFSETS_MS 5000 /* consumer offsets, as RocketMQ's flushConsumerOffsetInterval */
/* Loop thread: the table changed; its file is written within within_ms (coalesced). Returns 0. */
int br_persist_request(struct br_pslot *s, int within_ms);
/* Any thread that owns the table: write its file now (atomic); logs and returns the error. */
int br_persist_write(const br_ptype_t *pt, const void *table, const char *path);

/* ---- topic configs (config/topics.json) ---- */
typedef struct br_topic {
    char name[128];
    int readQueueNums, writeQueueNums, perm, topicSysFlag;
    int order;
    int multiTag;               /* topicFilterType MULTI_TAG */
    /* RocketMQ 5's TopicConfig.attributes (e.g. message.type=NORMAL), "k=v,k=v", "" for none:
     * a 2.x console creates topics with them and reads them back to sort topics by type */
    char attributes[96];
} br_topic_t;

typedef struct br_topics {
    cm_map_t map;               /* name -> br_topic_t* */
    int64_t dvCounter, dvTimestamp;
    char path[1100];
    struct br_pslot *ps;
} br_topics_t;

/* A master's table (JSON with `table` and dataVersion) that a slave should take: present, and
 * of another data version than the one it has (spec §5.6). */
static inline int br_dv_changed(const lj_val_t *root, const char *table, int64_t counter, int64_t timestamp)
{
    const lj_val_t *dv = lj_get(root, "dataVersion");
    return lj_get(root, table) &&
           (lj_get_int(dv, "counter", -1) != counter || lj_get_int(dv, "timestamp", -1) != timestamp);
}

int br_topics_load(br_topics_t *t, const char *path);
void br_topics_free(br_topics_t *t);
br_topic_t *br_topics_get(const br_topics_t *t, const char *name);
/* Create or replace a topic; bumps the data version and persists. */
br_topic_t *br_topics_put(br_topics_t *t, const char *name, int r, int w, int perm, int sysFlag);
int br_topics_delete(br_topics_t *t, const char *name);
/* The *_save functions persist a table: within BR_PERSIST_SOON_MS, off the loop, coalesced
 * (persist.c); at once when no persister runs. */
int br_topics_save(br_topics_t *t);
/* A slave takes its master's table (GET_ALL_TOPIC_CONFIG JSON) when the data version differs;
 * 1 if it changed (and was persisted). */
int br_topics_adopt(br_topics_t *t, const lj_val_t *root);
/* {"dataVersion":...,"topicConfigTable":{...}} */
lj_val_t *br_topics_json(const br_topics_t *t);
/* A flat copy of the table, cheap enough for the loop (no JSON, one allocation; 10k topics
 * ~1.5 MB, 0.2 ms), for work on another thread: topics.json (persist.c) and the registration
 * body (register.c). Free with free(); NULL when out of memory. */
typedef struct br_topics_snap {
    int64_t dvCounter, dvTimestamp;
    size_t n, cap;
    br_topic_t v[];
} br_topics_snap_t;
br_topics_snap_t *br_topics_snapshot(const br_topics_t *t);
/* {"dataVersion":...,"topicConfigTable":{...}} of a snapshot; any thread. */
lj_val_t *br_topics_snap_json(const br_topics_snap_t *s);
lj_val_t *br_topic_json(const br_topic_t *tc);
/* Apply UPDATE_AND_CREATE_TOPIC's `attributes` ("+k=v,-k", RocketMQ 5's AttributeParser form) to
 * a copy of cur ("k=v,k=v"): + sets, - removes (not when creating). Keys and values are of
 * [a-zA-Z0-9._-]; message.type must be one of RocketMQ's TopicMessageType values. 0 and the
 * result in out, or -1 with the reason in err. */
int br_topic_attributes_alter(const char *cur, const char *change, int create, char *out, size_t outlen, char *err,
                              size_t errlen);
/* Topic names clients may use: 1..127 of [%|a-zA-Z0-9_-]. NULL if valid, else the remark. */
const char *br_topic_name_error(const char *name);
/* 1 if name has only RocketMQ's name characters [%|a-zA-Z0-9_-] (topics and groups alike). */
int br_name_chars_legal(const char *name);
int br_topic_is_system_forbidden(const char *name);
/* Topics the broker owns and nobody may delete (RocketMQ 5's system topics): the internal ones
 * above, TBW102, the trace topic, the cluster's and the broker's own topic. */
int br_topic_is_system(const char *name, const char *cluster, const char *brokerName);
/* Group names, as RocketMQ's clients check them: 1..255 of [%|a-zA-Z0-9_-]. NULL if valid,
 * else the remark. */
const char *br_group_name_error(const char *name);
/* admit.c: every request's check before its handler (rm_endpoint_t.admit). */
int br_admit(rm_conn_t *c, rm_cmd_t *req, void *ctx);

/* ---- consumer offsets (config/consumerOffset.json) and groups (subscriptionGroup.json) ---- */
typedef struct br_offsets {
    cm_map_t map;               /* "topic@group" -> br_qoffsets_t* */
    char path[1100];
    int dirty;
    uint64_t changes;           /* bumped by every change: a DLedger leader replicates on it */
    struct br_pslot *ps;
} br_offsets_t;

int br_offsets_load(br_offsets_t *o, const char *path);
void br_offsets_free(br_offsets_t *o);
int64_t br_offsets_get(const br_offsets_t *o, const char *group, const char *topic, int queueId); /* -1 none */
void br_offsets_set(br_offsets_t *o, const char *group, const char *topic, int queueId, int64_t off);
void br_offsets_delete_topic(br_offsets_t *o, const char *topic);
int br_offsets_save(br_offsets_t *o);
lj_val_t *br_offsets_json(const br_offsets_t *o); /* consumerOffset.json's content */
void br_offsets_merge(br_offsets_t *o, const lj_val_t *root); /* put every offset of such JSON */
/* Call fn for every topic the group has offsets for. */
void br_offsets_topics(const br_offsets_t *o, const char *group, void (*fn)(void *arg, const char *topic), void *arg);
/* Every (topic, group) that has offsets, in one pass over the table. */
void br_offsets_pairs(const br_offsets_t *o, void (*fn)(void *arg, const char *topic, const char *group), void *arg);
void br_offsets_delete_group(br_offsets_t *o, const char *group);

typedef struct br_group {
    char name[256];
    int consumeEnable, consumeBroadcastEnable, retryQueueNums, retryMaxTimes;
    int64_t brokerId, whichBrokerWhenConsumeSlowly; /* pull suggestions with slaveReadEnable */
    /* kept and answered as given (the console's FIFO groups are consumeMessageOrderly ones) */
    int consumeMessageOrderly, consumeFromMinEnable, groupSysFlag, consumeTimeoutMinute;
} br_group_t;
typedef struct br_groups {
    cm_map_t map;
    int64_t dvCounter, dvTimestamp;
    char path[1100];
    struct br_pslot *ps;
} br_groups_t;
int br_groups_load(br_groups_t *g, const char *path);
void br_groups_free(br_groups_t *g);
br_group_t *br_groups_get(br_groups_t *g, const char *name);
br_group_t *br_groups_put(br_groups_t *g, const char *name);
/* consumeMessageOrderly, consumeFromMinEnable, groupSysFlag, consumeTimeoutMinute of a
 * SubscriptionGroupConfig JSON (file or request), RocketMQ's defaults where absent. */
void br_group_extras_from_json(br_group_t *gr, const lj_val_t *v);
int br_groups_save(br_groups_t *g);
lj_val_t *br_groups_json(const br_groups_t *g); /* subscriptionGroup.json's content */
int br_groups_adopt(br_groups_t *g, const lj_val_t *root); /* as br_topics_adopt */
struct br_broker;
/* The group's config, created (and persisted) when autoCreateSubscriptionGroup allows; else
 * answers SUBSCRIPTION_GROUP_NOT_EXIST and returns NULL. */
br_group_t *br_group_for_request(struct br_broker *b, rm_conn_t *c, const rm_cmd_t *req, const char *group);

/* ---- subscriptions (sub.c): a consumer's filter, parsed ---- */
typedef struct br_sub {
    char topic[128];
    char expr[512];
    int64_t subVersion;
    int64_t *codes;             /* tag hash set; n == 0 means all */
    size_t ncodes;
    int all;
    int isSql;                  /* expressionType SQL92 */
    struct fl_expr *sql;        /* compiled when isSql */
} br_sub_t;

int br_sub_parse(br_sub_t *s, const char *topic, const char *expr);
/* type "TAG" (or NULL) or "SQL92"; -1 with the reason in err for a bad SQL92 expression or an
 * unknown type. */
int br_sub_parse_typed(br_sub_t *s, const char *topic, const char *expr, const char *type, char *err, size_t errlen);
void br_sub_free(br_sub_t *s);
int br_sub_match(const br_sub_t *s, int64_t tagsCode);

/* ---- statistics (stats.c) ---- */
#define BR_STATS_SAMPLES 601
typedef struct br_sample { uint64_t ms; int64_t put, get, found, miss; } br_sample_t;
typedef struct br_stats {
    int64_t putTotal, getTotal;     /* messages stored / handed to consumers */
    int64_t getFound, getMiss;      /* store reads for pulls that found messages / found none */
    int64_t putFailed, putBytes;    /* sends the store refused; bytes stored by sends */
    br_sample_t ring[BR_STATS_SAMPLES];
    size_t head, n;
    int64_t bootMs;
    uint64_t bootLoopMs;
    cm_map_t groups;            /* consumer group -> messages handed out (stats.c) */
    cm_map_t topicPut;          /* topic -> messages stored by sends */
    cm_map_t groupGet;          /* "topic@group" -> messages handed out */
    int day;                    /* local calendar day of the last sample (year * 1000 + yday) */
    int64_t putMorning[2], getMorning[2]; /* totals at the start of today [0] and yesterday [1] */
} br_stats_t;

/* ---- loop timing (broker.c): how long each loop iteration ran, and what ran longest in it ----
 * A uv_prepare handle ends each iteration: its busy time is the wall time since the previous
 * prepare minus the time the loop slept in poll (uv_metrics_idle_time). Requests (marked in the
 * admit hook) and the core's timers mark what the loop is doing; the longest such activity of
 * an iteration over slowLoopThresholdMs is named in a log line. O(1) per request, no allocation. */
typedef struct br_looptime {
    uv_prepare_t prepare;
    int on;
    uint64_t pollAt, idleAt;    /* st_now_ns() and uv_metrics_idle_time() at the last prepare */
    st_hist_t iter;             /* busy time of each iteration, ns */
    uint64_t slow, unlogged, lastLogNs;
    const char *what;           /* the running activity ("request", "timer ...") or NULL */
    int32_t code;               /* its request code */
    uint64_t whatAt;
    const char *worstWhat;      /* the longest activity of this iteration so far */
    int32_t worstCode;
    uint64_t worstNs;
    uint32_t requests;          /* requests admitted in this iteration */
    uint64_t phaseAt[3];        /* the store's append / cq / index sums at the iteration's start */
} br_looptime_t;

/* ---- POP consumption (pop/): the state machine behind POP_MESSAGE (remoting) and, through the
 * hooks below, gRPC ReceiveMessage / AckMessage / ChangeInvisibleDuration. Loop thread. ---- */
#define BR_RC_NO_MESSAGE 208        /* ResponseCode.NO_MESSAGE */
#define BR_RC_POLLING_FULL 209
#define BR_RC_POLLING_TIMEOUT 210
/* One popped message: the stored record (reconsumeTimes already that of this delivery), where
 * it is, and its receipt handle (extraInfo, spec grpc-5x.md section 4.2). Valid during the callback. */
typedef struct br_pop_msg {
    const uint8_t *rec;
    uint32_t len;
    int32_t queueId;
    int64_t queueOffset;
    int32_t reconsumeTimes;
    const char *handle;
} br_pop_msg_t;
/* What a receive asks: queueId -1 = every read queue; maxNums 1..32; invisibleTime ms;
 * pollTime ms (0: answer at once); expType "TAG" (NULL) or "SQL92", exp NULL = "*";
 * initMode 0 (MIN) or 1 (MAX) for a group that never consumed the queue; order: FIFO (a queue
 * with messages of the group in flight is skipped; handles carry reviveQid 999); attemptId (NULL:
 * none): an orderly receive repeated with the attemptId of a batch in flight gets it again. */
typedef struct br_pop_ask {
    const char *group, *topic;
    int32_t queueId, maxNums;
    int64_t invisibleTime, pollTime;
    const char *expType, *exp;
    int initMode;
    int order;
    const char *attemptId;
} br_pop_ask_t;
/* Called exactly once per receive (at once, when a message arrives, at the poll deadline or at
 * broker stop): code RC_SUCCESS with n >= 1 messages, RC_PULL_NOT_FOUND (nothing, no polling),
 * BR_RC_POLLING_TIMEOUT, BR_RC_POLLING_FULL, or an error code with its remark. */
typedef void (*br_pop_cb)(void *arg, int code, const char *remark, int64_t popTime, int64_t invisibleTime,
                          const br_pop_msg_t *msgs, size_t n);
/* pop_ack / pop_change results */
enum { BR_POP_OK = 0, BR_POP_GONE = 1 /* not in flight: acked already, or never popped */,
       BR_POP_ESTALE = 2 /* redelivered or changed since: the handle is outdated */,
       BR_POP_EBADHANDLE = 3,
       BR_POP_EUNAVAILABLE = 4 /* not the master, or its POP state is being rebuilt: try again later */ };

/* ---- SYNC_FLUSH waiters (flushwait.c) ---- */
typedef struct br_fwait br_fwait_t;

/* ---- the seam between core and subsystems ---- */
struct br_broker;
/* What the core asks of the subsystems. Each subsystem's start fills its own slots; a slot left
 * NULL means "absent" and the core does without (br_hook_* below say what that means). */
typedef struct br_hooks {
    /* send path (send.c), tried in this order */
    int (*trans_half)(struct br_broker *b, cm_buf_t *props, const char *topic, int qid, const char **st_topic,
                      int *st_qid, int64_t *sysFlag, const char **remark);                  /* trans */
    int (*timer_divert)(struct br_broker *b, cm_buf_t *props, const char *topic, int qid, const char **st_topic,
                        int *st_qid, const char **remark);                                  /* timer */
    int (*delay_divert)(struct br_broker *b, cm_buf_t *props, const char *topic, int qid, int level,
                        const char **st_topic, int *st_qid);                                /* schedule */
    /* a message was stored to topic/qid: wake the pulls parked on it (pull) */
    void (*message_arrived)(struct br_broker *b, const char *topic, int qid);
    /* clients */
    void (*conn_closed)(struct br_broker *b, rm_conn_t *conn);
    /* the online group's subscription to topic, or NULL (hashed) */
    const br_sub_t *(*find_sub)(struct br_broker *b, const char *group, const char *topic);
    /* RocketMQ's findSubscriptionData test for admin views: 1 unless the group is online with
     * subscriptions and none is for `topic` */
    int (*group_subscribes)(struct br_broker *b, const char *group, const char *topic);
    /* every live connection of the online consumer group (reset offsets tells them) */
    void (*each_consumer)(struct br_broker *b, const char *group, void (*fn)(void *arg, rm_conn_t *conn), void *arg);
    /* a live connection of the producer group (transaction check-back), or NULL */
    rm_conn_t *(*producer_conn)(struct br_broker *b, const char *group);
    /* a 5.x gRPC client (no remoting connection) joins or refreshes the groups of a HeartbeatData
     * JSON body; `key` names it (its client id), addr/language/version are shown by admin views;
     * body NULL: it left (clients; called by grpc) */
    void (*vclient_beat)(struct br_broker *b, const char *key, const char *addr, const char *language, int version,
                         const char *body, size_t len);
    /* check-back through a 5.x gRPC producer of the half message's group (its topic) when no
     * remoting producer of it is connected: rec/len the message as sent (real topic and queue),
     * phy/queueOffset the check copy's place, key its transaction id; 1 if a client was asked
     * (grpc; called by trans) */
    int (*trans_check_remote)(struct br_broker *b, const char *group, const uint8_t *rec, size_t len, int64_t phy,
                              int64_t queueOffset, const char *key);
    /* every online consumer group with a subscription to topic */
    void (*each_group_of_topic)(struct br_broker *b, const char *topic, void (*fn)(void *arg, const char *group),
                                void *arg);
    /* replication (ha) */
    void (*master_known)(struct br_broker *b, const char *masterAddr, const char *haAddr);
    int64_t (*ha_acked)(const struct br_broker *b);  /* furthest offset a slave confirmed */
    int (*ha_slaves)(const struct br_broker *b);     /* connected slaves */
    /* delay levels (schedule): delayOffset.json's content; take a master's (and persist it) */
    lj_val_t *(*delay_json)(const struct br_broker *b);
    void (*delay_adopt)(struct br_broker *b, const lj_val_t *root);
    /* access control (acl): checks a request before its handler; 0 to go on, 1 when it has
     * answered (refused) it. HEART_BEAT's body is checked once decoded, by acl_subscribe: may
     * the client of this AccessKey (signature already verified) subscribe as these groups to
     * these topics? NULL, or the refusal's message (in msg or static). */
    int (*acl_admit)(struct br_broker *b, rm_conn_t *c, rm_cmd_t *req);
    const char *(*acl_subscribe)(struct br_broker *b, rm_conn_t *c, const char *accessKey, const char *const *groups,
                                 size_t ngroups, const char *const *topics, size_t ntopics, char *msg, size_t msglen);
    /* POP (pop): a message was stored to topic/qid (parked receives wake); receive (cb called
     * once, see br_pop_cb); ack and change-invisible-time by receipt handle (BR_POP_*), change
     * writing the new handle into newHandle[n] */
    void (*pop_arrived)(struct br_broker *b, const char *topic, int qid);
    void (*pop_receive)(struct br_broker *b, const br_pop_ask_t *ask, br_pop_cb cb, void *arg);
    int (*pop_ack)(struct br_broker *b, const char *group, const char *topic, const char *handle);
    int (*pop_change)(struct br_broker *b, const char *group, const char *topic, const char *handle,
                      int64_t invisibleTime, char *newHandle, size_t n);
    /* the group's POP progress on a queue for admin views (GET_CONSUME_STATS): 1 with the lowest
     * offset not acked (the pop cursor when nothing is in flight) and the pop cursor, 0 when POP
     * does not serve the group there */
    int (*pop_progress)(struct br_broker *b, const char *group, const char *topic, int qid, int64_t *consumerOffset,
                        int64_t *pullOffset);
    /* the broker became master or slave while running (DLedger): b->role says which */
    void (*pop_role_changed)(struct br_broker *b);
    void (*trans_role_changed)(struct br_broker *b);
} br_hooks_t;

/* A subsystem as the core sees it. start runs once the store, tables and listeners exist (in
 * the order wire.c lists them); stop closes the subsystem's handles with cb and returns how many
 * it closed (each calls cb once). `late` subsystems stop after the listeners close and before the
 * store does (replication: slaves read the store); the others first, before the tables are
 * saved (their progress goes into them). release frees what is left once every handle closed. */
typedef struct br_subsys {
    const char *name;
    int (*start)(struct br_broker *b);          /* 0, or -1: the broker does not start */
    int (*stop)(struct br_broker *b, uv_close_cb cb);
    void (*release)(struct br_broker *b);
    const rm_handler_t *handlers;               /* request codes this subsystem answers */
    size_t nhandlers;
    int late;
} br_subsys_t;

typedef struct br_broker {
    uv_loop_t *loop;
    br_config_t cfg;
    st_store_t *store;
    br_topics_t topics;
    br_offsets_t offsets;
    br_groups_t groups;
    struct br_clients *clients; /* clients/: connected producers and consumers, queue locks */
    rm_endpoint_t ep, ep_vip;
    rm_server_t *srv, *srv_vip;
    rm_endpoint_t ep_ns;        /* outgoing connections to name servers */
    rm_conn_t *ns_conns[8];
    char ns_addrs[8][128];
    int nns;
    uv_timer_t reg_timer, persist_timer, reg_soon_timer;
    struct br_pulls *pulls;     /* pull/: parked pulls (long polling) */
    br_stats_t stats;
    uv_timer_t stats_timer;
    br_looptime_t looptime;     /* broker.c: loop iteration timing, slow-iteration log */
    char addr[96];              /* brokerIP1:listenPort, as registered */
    uint32_t store_ip;
    int stopping;
    int timers_open;
    int reg_pending;            /* a topic changed while a registration was throttled */
    struct br_reg_job *reg_job; /* register.c: the registration body being built, NULL if none */
    int reg_again, reg_again_oneway; /* requested during that build: one more follows it */
    struct br_query_job *query_jobs; /* query.c: QUERY_MESSAGE index lookups on the pool */
    int query_inflight;
    uv_async_t flush_async;     /* the store's flush thread: flushed offset advanced */
    uv_timer_t fw_timer;        /* FLUSH_DISK_TIMEOUT deadlines */
    int fw_timer_on;
    br_fwait_t *fw_head, *fw_tail;
    uv_timer_t clean_timer;     /* retention and disk check every cleanResourceInterval */
    struct br_trans *trans;     /* trans/: transactions */
    struct br_sched *sched;     /* schedule/: delay levels */
    struct br_timer *timer;     /* timer/: timer messages */
    int64_t configVersion;      /* bumped by UPDATE_BROKER_CONFIG */
    uv_tcp_t metrics;           /* Prometheus endpoint (metrics.c), when enabled */
    int metricsOn;
    int role;                   /* BR_ASYNC_MASTER, BR_SYNC_MASTER, BR_SLAVE (brokerRole) */
    struct br_ha *ha;           /* ha/: replication */
    struct br_dledger *dledger; /* dledger/: a Raft group elects the master (enableDLegerCommitLog) */
    struct br_aclsys *acl;      /* acl/: access control (aclEnable) */
    struct br_grpcsvc *grpc;    /* grpc/: the RocketMQ 5.x gRPC endpoint (enableGrpcServer) */
    struct br_pops *pops;       /* pop/: POP consumption state */
    int quorum;                 /* sends wait for a Raft majority (flushwait.c: ha_acked = committed) */
    struct br_persist *persist; /* config-file writer (persist.c) */
    struct br_ns_ctx { struct br_broker *b; int i; } ns_ctx[8]; /* registration answers */
    br_hooks_t hooks;           /* filled by the subsystems' start */
    const br_subsys_t *const *subsys; /* wire.c's list */
    size_t nsubsys;
    rm_handler_t *handlers, *vip_handlers; /* the core's and every subsystem's, assembled at start */
} br_broker_t;

/* broker.c: start with these subsystems (wire.c's br_start passes every one). */
int br_core_start(uv_loop_t *loop, const br_config_t *cfg, const br_subsys_t *const *subsys, size_t nsubsys,
                  br_broker_t **out);

/* The hooks as the core calls them: what each means when its subsystem is absent. */
/* Sign a request the broker sends (to a name server, its master, a Raft peer) with its
 * innerClientAuthenticationCredentials, when it has them. Small requests only: the cost is the
 * body's HMAC (register.c signs its large body on the thread pool). */
static inline void br_sign_out(const struct br_broker *b, rm_cmd_t *req)
{
    if (b->cfg.innerAccessKey[0])
        rm_sign_request(req, b->cfg.innerAccessKey, b->cfg.innerSecretKey);
}

/* The check of a decoded HEART_BEAT body (acl_subscribe): NULL without access control. */
static inline const char *br_acl_subscribe(struct br_broker *b, rm_conn_t *c, const char *accessKey,
                                           const char *const *groups, size_t ngroups, const char *const *topics,
                                           size_t ntopics, char *msg, size_t msglen)
{
    return b->hooks.acl_subscribe ? b->hooks.acl_subscribe(b, c, accessKey, groups, ngroups, topics, ntopics, msg, msglen)
                                  : NULL;
}
/* The answer to a request access control refused: RocketMQ's, code 1 and the exception's text,
 * so that clients log what they logged before (acl spec §1.8). A oneway request gets none. */
#define BR_ACL_REMARK_PREFIX "org.apache.rocketmq.acl.common.AclException: "

static inline void br_message_arrived(br_broker_t *b, const char *topic, int qid)
{
    if (b->hooks.message_arrived)
        b->hooks.message_arrived(b, topic, qid);
    if (b->hooks.pop_arrived)
        b->hooks.pop_arrived(b, topic, qid);
}
/* Called after b->role changed at run time (a DLedger election): POP rebuilds or drops its
 * state; transactions wait for the index to hold what was replicated before. */
static inline void br_role_changed(br_broker_t *b)
{
    if (b->hooks.pop_role_changed)
        b->hooks.pop_role_changed(b);
    if (b->hooks.trans_role_changed)
        b->hooks.trans_role_changed(b);
}
static inline const br_sub_t *br_find_sub(br_broker_t *b, const char *group, const char *topic)
{
    return b->hooks.find_sub ? b->hooks.find_sub(b, group, topic) : NULL;
}
static inline int br_group_subscribes(br_broker_t *b, const char *group, const char *topic)
{
    return b->hooks.group_subscribes ? b->hooks.group_subscribes(b, group, topic) : 1;
}
static inline int64_t br_slave_acked(const br_broker_t *b) { return b->hooks.ha_acked ? b->hooks.ha_acked(b) : 0; }
static inline int br_slaves(const br_broker_t *b) { return b->hooks.ha_slaves ? b->hooks.ha_slaves(b) : 0; }

enum { BR_ASYNC_MASTER, BR_SYNC_MASTER, BR_SLAVE };

/* persist.c: start the writer thread (b->persist_timer must be initialised); on failure the
 * tables are written synchronously as before. Stop joins it and writes every table with
 * unwritten changes before returning. Loop thread. */
int br_persist_start(br_broker_t *b);
void br_persist_stop(br_broker_t *b);
static inline int br_is_slave(const br_broker_t *b) { return b->role == BR_SLAVE; }
/* A subsystem's table gets a slot in the persister (at start, after br_persist_start): its file
 * is then written off the loop like the core's. NULL when no writer runs: write at once. The
 * slot is cleared (*owner = NULL) when the persister stops. */
struct br_pslot *br_persist_slot(br_broker_t *b, const br_ptype_t *pt, void *table, const char *path,
                                 struct br_pslot **owner);
lj_val_t *br_load_json_file(const char *path); /* offsets.c: the file, or its .bak; NULL */

/* send.c */
void br_handle_send_message(rm_conn_t *c, rm_cmd_t *req, void *ctx);
/* Find a topic or create it from the template (auto-create) / as a retry/DLQ topic. */
br_topic_t *br_topic_for_send(br_broker_t *b, const char *topic, const char *tmpl, int queues, int *code);

/* admin.c */
void br_handle_query_consumer_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_update_consumer_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_get_max_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_get_min_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_get_earliest_msg_storetime(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_search_offset_by_timestamp(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_view_message_by_id(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_update_and_create_topic(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_delete_topic_in_broker(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_get_all_topic_config(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_get_topic_stats_info(rm_conn_t *c, rm_cmd_t *req, void *ctx);
/* A MessageQueue as fastjson writes it (brokerName, queueId, topic), e.g. as a map key. */
lj_val_t *br_mq_json(const char *brokerName, const char *topic, int queueId);

/* props.c */
/* out = p[n] without the properties named in `drop` (NULL-terminated), then the name, value
 * pairs given (NULL-terminated). 0, or -1 out of memory. */
int br_props_edit(cm_buf_t *out, const char *p, size_t n, const char *const *drop, ...);
/* Property `name` of a record into buf (NUL-terminated); 0 if present and it fits. */
int br_prop(const st_record_t *r, const char *name, char *buf, size_t n);
/* Store a copy of record r under topic/qid with props and sysFlag (transactions, delay
 * levels, timers re-put stored messages this way); counted as a put. ST_* code. */
int br_put_copy(br_broker_t *b, const st_record_t *r, const char *topic, int qid, const cm_buf_t *props,
                int32_t sysFlag, int64_t preparedOffset, st_put_result_t *res);
/* Where a delayed or timer message goes when it can never be delivered (its REAL_TOPIC or
 * REAL_QID is invalid or gone, or the store refuses it for good): kept with the properties
 * UNDELIVERABLE_REASON and UNDELIVERABLE_FROM, so the schedule moves on and an operator can
 * still read it. Clients can neither send to it nor delete it (an rmq_sys_ topic). */
#define BR_UNDELIVERABLE_TOPIC "rmq_sys_undeliverable"
/* Deliver a due message r, without the properties named in drop (NULL-terminated), to
 * REAL_TOPIC / REAL_QID and wake its pulls. 0 delivered, 1 moved to BR_UNDELIVERABLE_TOPIC with a log line, -1 not now (the store
 * cannot take it yet: try again later). `from` names the schedule for the log. */
int br_put_due(br_broker_t *b, const st_record_t *r, const char *from, const char *const *drop);

/* manage.c: admin requests of mqadmin (subscription groups, broker config, consume stats,
 * reset offsets) */
void br_handle_update_and_create_subscriptiongroup(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_get_all_subscriptiongroup_config(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_delete_subscriptiongroup(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_get_broker_config(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_update_broker_config(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_get_consume_stats(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_get_broker_consume_stats(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_invoke_broker_to_reset_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx);

/* metrics.c: Prometheus text on metricsPromExporterPort when metricsExporterType=PROM */
int br_metrics_start(br_broker_t *b);
void br_metrics_stop(br_broker_t *b, uv_close_cb cb); /* calls cb once if it was started */
/* Append v as a Prometheus label value: \\ \" and \n escaped, as the text format requires. */
void br_metrics_escape(cm_buf_t *o, const char *v);

/* query.c */
void br_handle_query_message(rm_conn_t *c, rm_cmd_t *req, void *ctx);
/* br_stop, before the store closes: waits for the index lookups running on the pool (at most
 * ~1 s) and orphans them; their answers are dropped. */
void br_query_drain(br_broker_t *b);

/* inspect.c: store inspection and maintenance requests of mqadmin */
void br_handle_get_all_consumer_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_get_all_delay_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_query_consume_time_span(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_get_system_topic_list(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_clean_expired_consumequeue(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_delete_expired_commitlog(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_clean_unused_topic(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_clone_group_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_query_consume_queue(rm_conn_t *c, rm_cmd_t *req, void *ctx);

/* stats.c */
void br_stats_sample(br_broker_t *b);
void br_stats_group_add(br_broker_t *b, const char *group, int64_t n);
enum { BR_STAT_TOPIC_PUT, BR_STAT_GROUP_GET };
void br_stats_count(br_broker_t *b, int which, const char *key, int64_t n);
/* Window 0 minute, 1 hour, 2 day: the sum, messages/s and (avgpt, may be NULL) messages per
 * send or pull; -1 if the key has no counter. */
int br_stats_window(br_broker_t *b, int which, const char *key, int w, int64_t *sum, double *tps, double *avgpt);
void br_stats_each(br_broker_t *b, int which, void (*fn)(void *arg, const char *key, double tps), void *arg);
void br_handle_view_broker_stats_data(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_handle_query_topic_consume_by_who(rm_conn_t *c, rm_cmd_t *req, void *ctx);
/* TPS over the last `window` seconds; -1 before two samples */
enum { BR_TPS_PUT, BR_TPS_GET, BR_TPS_FOUND, BR_TPS_MISS, BR_TPS_FOUND_MISS };
double br_stats_tps(const br_stats_t *s, int window, int which);
/* A TPS value as the runtime info writes it: the shortest decimal that reads back as v, with at
 * least two decimals and never an exponent ("0.00", "1.50", "16.654176034640685"). */
void br_stats_fmt_double(double v, char *out, size_t n);
/* Each group's consumeTps (last minute). */
void br_stats_groups_each(br_broker_t *b, void (*fn)(void *arg, const char *group, double tps), void *arg);
double br_stats_group_tps(br_broker_t *b, const char *group);   /* messages/s, last minute */
void br_stats_free(br_broker_t *b);
void br_handle_get_broker_runtime_info(rm_conn_t *c, rm_cmd_t *req, void *ctx);

/* flushwait.c: SYNC_FLUSH sends answered after the group commit */
void br_flushwait_init(br_broker_t *b, st_config_t *sc);
/* 1 if this send must wait for the flush (SYNC_FLUSH, not oneway, WAIT not false). */
int br_flushwait_needed(br_broker_t *b, const rm_cmd_t *req, const char *props, size_t plen);
/* Park the answer (takes resp over) until st_flushed_offset() >= need or the deadline. */
void br_flushwait_add(br_broker_t *b, rm_conn_t *c, const rm_cmd_t *req, rm_cmd_t *resp, int64_t need);
/* Answer every waiter (durable or timed out) and close the handles with cb. */
void br_flushwait_stop(br_broker_t *b, uv_close_cb cb);
/* A slave acknowledged more, or went away: answer the SYNC_MASTER sends that can be answered. */
void br_flushwait_kick(br_broker_t *b);
/* Answer every waiting send now with code and remark (a DLedger leader deposed). */
void br_flushwait_abort(br_broker_t *b, int code, const char *remark);
#define BR_QUORUM_WAIT_MS 2500  /* DLedger's maxWaitAckTimeMs */

/* register.c, loop thread. Register with every name server: the body (all topics, at the data
 * version of the moment of the call) is built on libuv's thread pool and sent when ready; a
 * call during a build makes one more build after it (oneway unless a call wanted answers). */
void br_register_all(br_broker_t *b, int oneway);
/* Register (oneway) now, or within 50 ms of the last one: a burst makes few registrations. */
void br_register_soon(br_broker_t *b);
/* br_stop: UNREGISTER_BROKER to every name server; a build in flight is dropped (it frees
 * itself when the pool is done with it and sends nothing). */
void br_unregister_all(br_broker_t *b);
#endif
