/* Internal header of the client module (prefix lc_). Not installed.
 *
 * msg.c    pure codecs: property strings, UNIQ_KEY, stored records, batch bodies, allocation,
 *          tag subscriptions. Any thread.
 * inst.c   the client instance: one loop thread that owns the connections, a locked task queue
 *          woken by uv_async, sync/async RPC, route cache, heartbeats, server requests.
 * producer.c, pull.c, push.c: the three public client kinds on top of an instance.
 * Functions named lc_loop_* run on the loop thread only; the rest may be called anywhere. */
#ifndef LOULAN_CLIENT_LC_H
#define LOULAN_CLIENT_LC_H

#include <uv.h>

#include "common/common.h"
#include "loulan/client.h"
#include "remoting/remoting.h"

/* Request codes the client sends or handles. */
enum {
    RQ_SEND_MESSAGE = 10, RQ_PULL_MESSAGE = 11, RQ_QUERY_CONSUMER_OFFSET = 14,
    RQ_UPDATE_CONSUMER_OFFSET = 15, RQ_GET_MAX_OFFSET = 30, RQ_GET_MIN_OFFSET = 31,
    RQ_HEART_BEAT = 34, RQ_UNREGISTER_CLIENT = 35, RQ_CONSUMER_SEND_MSG_BACK = 36,
    RQ_GET_CONSUMER_LIST_BY_GROUP = 38, RQ_NOTIFY_CONSUMER_IDS_CHANGED = 40,
    RQ_GET_ROUTEINFO_BY_TOPIC = 105, RQ_SEND_MESSAGE_V2 = 310, RQ_SEND_BATCH_MESSAGE = 320,
};

#define LC_MAGIC_V1 0xDAA320A7u
#define LC_SYSFLAG_COMPRESSED 0x1
#define LC_SYSFLAG_BORNHOST_V6 0x10
#define LC_SYSFLAG_STOREHOST_V6 0x20
#define LC_PULL_COMMIT 0x1
#define LC_PULL_SUSPEND 0x2
#define LC_PULL_SUBSCRIPTION 0x4
#define LC_MAX_BODY (4 * 1024 * 1024)

/* ---- msg.c ------------------------------------------------------------------------------ */
/* Append "name\1value\2..." (no trailing \2). Pairs with an empty name or value are skipped. */
int lc_props_append(cm_buf_t *out, const char *name, const char *value);
/* Walk a property string as Java does (split on \2, first \1 splits, empty parts dropped). */
typedef void (*lc_prop_fn)(const char *name, size_t nlen, const char *val, size_t vlen, void *arg);
void lc_props_walk(const char *s, size_t len, lc_prop_fn fn, void *arg);
/* Decode into a malloc'ed array whose strings live in the same block (free(*out)). */
int lc_props_decode(const char *s, size_t len, lc_property_t **out, size_t *n);

/* UNIQ_KEY like Java's MessageClientIDSetter: 32 upper-case hex chars + NUL. */
void lc_uniq_id(char out[33]);
/* offsetMsgId of a stored record: hex(addr ‖ port ‖ offset); addr is 4 or 16 bytes. */
void lc_offset_msg_id(const uint8_t *addr, size_t alen, int32_t port, int64_t offset, char *out);

/* Decode the stored records of a pull body. Truncated trailing data ends the list. Each message
 * is one malloc'ed block (free() it); *out is a malloc'ed array. broker_name may be NULL;
 * `extra` properties (MIN_OFFSET, ...) are put in front of each message's own. */
int lc_decode_records(const uint8_t *p, size_t len, const char *broker_name, const lc_property_t *extra,
                      size_t nextra, lc_message_ext_t ***out, size_t *n);
void lc_free_msgs(lc_message_ext_t **msgs, size_t n);

/* Properties string of a message to send (user props, KEYS, TAGS, DELAY, WAIT, UNIQ_KEY). */
int lc_message_props(const lc_message_t *m, const char *uniq, int with_wait, cm_buf_t *out);
/* Batch body (spec §4.5); uniq[i] is message i's UNIQ_KEY. */
int lc_batch_encode(const lc_message_t *msgs, size_t n, char (*uniq)[33], cm_buf_t *out);

/* Java's AllocateMessageQueueAveragely: the block [*start, *start + *count) of n_mq queues
 * that consumer number `index` of n_cid gets. */
void lc_allocate_average(size_t n_mq, size_t n_cid, size_t index, size_t *start, size_t *count);

/* A TAG subscription: "*" (all) or tags split on "||", trimmed. */
typedef struct lc_sub {
    char topic[LC_MAX_TOPIC];
    char *expr;
    char **tags;
    int32_t *codes;
    size_t ntags;
    int all;
    int sql;             /* expressionType SQL92: the broker filters, expr is the SQL */
    int64_t version;
} lc_sub_t;
int lc_sub_parse(lc_sub_t *s, const char *topic, const char *expr);
int lc_sub_parse_sql(lc_sub_t *s, const char *topic, const char *sql);
void lc_sub_free(lc_sub_t *s);
int lc_sub_match(const lc_sub_t *s, const char *tags);

int lc_mq_cmp(const void *a, const void *b); /* topic, broker name, queue id */
int lc_err_from_rm(int rm_status);

/* producer.c: the instance behind a started producer (NULL before start) */
struct lc_producer;
struct lc_inst *lc_producer_inst(struct lc_producer *p);
const char *lc_producer_group(const struct lc_producer *p);
/* producer.c: a send with extra properties and sysFlag bits (the transactional half send) */
int lc_producer_send_flagged(struct lc_producer *p, const lc_message_t *m, const lc_property_t *extra,
                             size_t nextra, int sys_flag, lc_send_result_t *res);
lc_tx_state_t lc_producer_call_check(struct lc_producer *p, const lc_message_ext_t *m);
/* order.c: broker queue locks (orderly consumers) and the local offset store (broadcasting) */
struct lc_inst;
void lc_lock_mqs(struct lc_inst *in, const char *group, const lc_mq_t *mqs, size_t n, int *locked);
void lc_unlock_mqs(struct lc_inst *in, const char *group, const lc_mq_t *mqs, size_t n);
int lc_local_offset_load(const char *client_id, const char *group, const lc_mq_t *mq, int64_t *off);
int lc_local_offset_save(const char *client_id, const char *group, const lc_mq_t *mqs, const int64_t *offs, size_t n);
/* trans.c: the producer's CHECK_TRANSACTION_STATE handler */
void lc_trans_on_check(void *owner, rm_conn_t *c, rm_cmd_t *req);

/* ---- trace.c: message trace (acl spec §5) ------------------------------------------------ */
#define LC_TRACE_TOPIC_DEFAULT "RMQ_SYS_TRACE_TOPIC"
/* One trace record's fields; an encoder uses those of its type. A NULL string is written
 * "null", as Java writes a null. */
typedef struct lc_trace_rec {
    int64_t ts;                  /* Pub, EndTransaction: start; SubBefore: before; SubAfter: after */
    const char *region, *group, *topic, *msg_id, *tags, *keys, *store_host, *offset_msg_id;
    const char *request_id;      /* SubBefore, SubAfter: one per consume call */
    const char *transaction_id, *tx_state;
    int64_t body_len, cost_ms;
    int msg_type;                /* 0 normal, 1 half, 2 commit, 3 delay */
    int success, reconsume_times, context_code, from_check;
} lc_trace_rec_t;
/* Append one record to b (RocketMQ's TraceDataEncoder). 0 or LC_ENOMEM. Any thread. */
int lc_trace_encode_pub(cm_buf_t *b, const lc_trace_rec_t *r);
int lc_trace_encode_sub_before(cm_buf_t *b, const lc_trace_rec_t *r);
int lc_trace_encode_sub_after(cm_buf_t *b, const lc_trace_rec_t *r);
int lc_trace_encode_end_tx(cm_buf_t *b, const lc_trace_rec_t *r);

typedef struct lc_tracer lc_tracer_t;
typedef struct lc_tracer_cfg {
    const char *group;           /* the host client's group */
    const char *type;            /* "PRODUCE" or "CONSUME" (names the internal producer group) */
    const char *namesrv, *topic; /* topic NULL: RMQ_SYS_TRACE_TOPIC */
    const char *access_key, *secret_key;
} lc_tracer_cfg_t;
/* Start the internal trace producer and its sending thread. */
int lc_tracer_start(const lc_tracer_cfg_t *cfg, lc_tracer_t **out);
/* Queue an encoded record with the keys its trace message gets (msgId and business keys).
 * Never waits for the network; any thread, the loop thread included. NULL t: nothing. */
void lc_tracer_add(lc_tracer_t *t, const char *rec, size_t len, const char *msg_id, const char *keys);
/* Encode r with enc and queue it. */
void lc_trace_record(lc_tracer_t *t, int (*enc)(cm_buf_t *, const lc_trace_rec_t *), const lc_trace_rec_t *r);
/* Send what is queued (bounded by the send timeout), stop the thread and the producer, free. */
void lc_tracer_stop(lc_tracer_t *t);
/* producer.c: the tracer of a traced producer (NULL otherwise) */
lc_tracer_t *lc_producer_tracer(struct lc_producer *p);

/* ---- inst.c ----------------------------------------------------------------------------- */
typedef struct lc_route {
    int refs;
    int64_t fetched_ms;
    size_t nbrokers;
    /* addr: the master ("" when it is gone); any: the master, else the slave with the lowest id */
    struct lc_broker { char name[LC_MAX_NAME]; char addr[64]; char any[64]; } *brokers;
    size_t nwq, nrq;
    lc_mq_t *wq;   /* writable queues (send) */
    lc_mq_t *rq;   /* readable queues (pull), sorted */
} lc_route_t;

typedef struct lc_inst lc_inst_t;
typedef void (*lc_rpc_cb)(int status, rm_cmd_t *resp, void *arg);
typedef void (*lc_task_fn)(lc_inst_t *in, void *arg, int cancelled);

typedef struct lc_inst_cfg {
    const char *namesrv;        /* NULL: NAMESRV_ADDR */
    const char *instance_name;  /* NULL: pid#nanotime */
    void *owner;
    /* HEART_BEAT body: fill the consumerDataSet/producerDataSet members of `hb`. Any thread. */
    int (*hb_fill)(void *owner, lj_val_t *hb);
    /* NOTIFY_CONSUMER_IDS_CHANGED for `group`; loop thread; must not block. */
    void (*on_ids_changed)(void *owner, const char *group);
    /* CHECK_TRANSACTION_STATE from a broker on connection c; loop thread; must not block. */
    void (*on_check_transaction)(void *owner, rm_conn_t *c, rm_cmd_t *req);
    /* RESET_CONSUMER_CLIENT_OFFSET: the broker moved `group`'s offsets of `topic`; loop thread. */
    void (*on_reset_offset)(void *owner, const char *group, const char *topic);
    /* GET_CONSUMER_RUNNING_INFO: a ConsumerRunningInfo object for `group`, or NULL when the
     * owner is not that group; loop thread; must not block. */
    lj_val_t *(*running_info)(void *owner, const char *group);
    /* CONSUME_MESSAGE_DIRECTLY (309, a console's "resend message"): hand `msg` (decoded from
     * the broker's record, the brokerName header in msg->broker_name) to `group`'s listener
     * now and return a ConsumeMessageDirectlyResult object, or NULL when the owner is not that
     * group. Runs on a thread of libuv's pool, never the loop: the listener may block. */
    lj_val_t *(*consume_directly)(void *owner, const char *group, lc_message_ext_t *msg);
    /* ACL keys (copied): when both are set, every request sent is signed (acl spec §2) */
    const char *access_key, *secret_key;
} lc_inst_cfg_t;

int lc_inst_start(const lc_inst_cfg_t *cfg, lc_inst_t **out);
/* Stop the loop (failing requests in flight), join the thread, free. */
void lc_inst_stop(lc_inst_t *in);
const char *lc_inst_client_id(const lc_inst_t *in);
int lc_inst_on_loop(const lc_inst_t *in);
/* Sign req with the instance's keys (AccessKey, then Signature over the final ext fields and
 * body); nothing without keys. Call last, just before sending. 0 or LC_ENOMEM. Any thread. */
int lc_inst_sign(const lc_inst_t *in, rm_cmd_t *req);
/* Replace *ak and *sk with copies of access_key/secret_key (NULL clears). 0 or LC_ENOMEM. */
int lc_keys_set(char **ak, char **sk, const char *access_key, const char *secret_key);

/* Sync RPC to addr (NULL: a name server). Takes ownership of *req (freed). On 0, *resp is an
 * independent copy the caller frees with rm_cmd_free. */
int lc_rpc_sync(lc_inst_t *in, const char *addr, rm_cmd_t *req, uint64_t timeout_ms, rm_cmd_t *resp);
/* Async RPC: cb runs on the loop thread (resp borrowed for the call). Takes ownership of *req.
 * Returns 0 (cb will be called exactly once) or an error (cb never called). Any thread. */
int lc_rpc_async(lc_inst_t *in, const char *addr, rm_cmd_t *req, uint64_t timeout_ms, lc_rpc_cb cb, void *arg);
int lc_rpc_oneway(lc_inst_t *in, const char *addr, rm_cmd_t *req);
/* Run fn(arg) on the loop after delay_ms (0 = as soon as possible). If the instance stops
 * first, fn is called with cancelled=1 (on the stopping thread) so it can free arg. */
int lc_run_later(lc_inst_t *in, uint64_t delay_ms, lc_task_fn fn, void *arg);

/* Route of a topic from the cache (refreshed when older than 30 s, or always if force).
 * Returns a reference: release with lc_route_put. LC_ENOROUTE if unknown. If the topic does
 * not exist and tbw102 is set, a route built from TBW102 (producer auto-create). */
int lc_route_get(lc_inst_t *in, const char *topic, int force, int tbw102, lc_route_t **out);
void lc_route_put(lc_route_t *r);
const char *lc_route_addr(const lc_route_t *r, const char *broker_name);     /* master, for sends */
/* For pulls, offsets and locks: the master, else a slave (reading on while the master is gone,
 * as Java's findBrokerAddressInSubscribe). */
const char *lc_route_read_addr(const lc_route_t *r, const char *broker_name);
/* Thread-safe address lookup of a broker's master by name across cached routes. */
int lc_broker_addr(lc_inst_t *in, const char *broker_name, char *addr, size_t n);
/* Fill a HEART_BEAT body for one consumer group: consumerDataSet with `subs` (an array of
 * SubscriptionData, taken over) and the CLIENT_INNER_PRODUCER producer entry Java clients send. */
int lc_consumer_hb_json(lj_val_t *hb, const char *group, const char *consumeType, const char *from, lj_val_t *subs);

/* Send a heartbeat now to every known broker; sync waits for the answers. */
int lc_heartbeat(lc_inst_t *in, int sync);
/* UNREGISTER_CLIENT to every known broker (sync, bounded). */
void lc_unregister(lc_inst_t *in, const char *producer_group, const char *consumer_group);
/* Copy of the known broker master addresses (caller frees each and the array). */
int lc_known_brokers(lc_inst_t *in, char ***addrs, size_t *n);

/* Request helpers. */
void lc_req_init(rm_cmd_t *c, int32_t code);
const char *lc_resp_remark(const rm_cmd_t *c);

/* ---- pull.c (shared by both consumers) --------------------------------------------------- */
int lc_query_offset(lc_inst_t *in, const char *group, const lc_mq_t *mq, int64_t *off);
int lc_update_offset(lc_inst_t *in, const char *group, const lc_mq_t *mq, int64_t off, int oneway);
int lc_get_queue_offset(lc_inst_t *in, int code, const lc_mq_t *mq, int64_t *off);
/* Build a PULL_MESSAGE request. */
int lc_pull_request(rm_cmd_t *req, const char *group, const lc_mq_t *mq, const lc_sub_t *sub,
                    int64_t offset, int max_nums, int sys_flag, int64_t commit_offset, uint32_t suspend_ms);
/* Turn a pull response into a result (decode, tag re-check, MIN/MAX_OFFSET properties). */
int lc_pull_decode(const rm_cmd_t *resp, const lc_mq_t *mq, const lc_sub_t *sub, lc_pull_result_t *res);
int lc_subscription_json(const lc_sub_t *s, lj_val_t **out);

#endif
