/* Loulan client: a C client for RocketMQ 4.x brokers (and Loulan's own).
 *
 * Three kinds of client objects: a producer (lc_producer_*), a pull consumer that the
 * application drives queue by queue (lc_pull_consumer_*), and a push consumer that rebalances
 * queues across its group and calls back with messages (lc_push_consumer_*).
 *
 * Threads: every object owns one background thread running a libuv loop that owns all sockets
 * (one connection per remote address, reused). Every function here may be called from any
 * application thread, except that a blocking call (the *_sync functions, pull, offsets,
 * create/start/destroy) must not be made from inside a callback of the same object: those
 * callbacks run on its loop thread or consumer threads. Blocking calls always return within
 * their timeout.
 *
 * Errors: functions return 0 or a negative LC_E* code. Strings passed in are copied. */
#ifndef LOULAN_CLIENT_H
#define LOULAN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    LC_OK = 0,
    LC_ENOMEM = -1,
    LC_EINVAL = -2,     /* bad argument (empty topic, body too big, call in wrong state) */
    LC_ETIMEOUT = -3,   /* no answer in time */
    LC_ENETWORK = -4,   /* cannot connect / connection lost */
    LC_ENOROUTE = -5,   /* no name server knows the topic */
    LC_EBROKER = -6,    /* the server answered an error code (see the result's response_code) */
    LC_ESTATE = -7,     /* not started, already shut down, or called from a callback */
    LC_ENOTFOUND = -8,  /* e.g. no consumer offset stored */
    LC_EDECODE = -9,    /* the server sent something that does not decode */
};
const char *lc_strerror(int err);

#define LC_MAX_TOPIC 128
#define LC_MAX_NAME 128
#define LC_MAX_ID 64     /* message ids: 32 hex chars (IPv4) or 56 (IPv6) + NUL */

/* ---- messages ------------------------------------------------------------------------ */
typedef struct lc_property {
    const char *name;
    const char *value;
} lc_property_t;

/* A message to send. Nothing is kept after the send call returns (all is copied). */
typedef struct lc_message {
    const char *topic;
    const char *tags;            /* NULL or "" = none */
    const char *keys;            /* NULL or "" = none; several separated by one space */
    const void *body;
    size_t body_len;
    int32_t flag;                /* user flag, stored verbatim */
    int delay_level;             /* 0 = none; 1..18 = RocketMQ delay levels */
    const lc_property_t *props;  /* user properties */
    size_t nprops;
} lc_message_t;

/* A received message. Everything lives in one block owned by the library; free a batch with
 * the function that documents it. `props` holds every property, tags/keys point into it. */
typedef struct lc_message_ext {
    const char *topic;
    const char *broker_name;
    const char *tags;            /* NULL if none */
    const char *keys;            /* NULL if none */
    const uint8_t *body;         /* decompressed */
    size_t body_len;
    const lc_property_t *props;
    size_t nprops;
    int32_t queue_id;
    int32_t store_size;
    int32_t flag;
    int32_t sys_flag;
    int32_t body_crc;
    int32_t reconsume_times;
    int64_t queue_offset;
    int64_t commit_log_offset;
    int64_t born_timestamp;
    int64_t store_timestamp;
    int64_t prepared_transaction_offset;
    char born_host[64];          /* "ip:port" */
    char store_host[64];
    char msg_id[LC_MAX_ID];      /* UNIQ_KEY if present, else the offsetMsgId */
    char offset_msg_id[LC_MAX_ID];
} lc_message_ext_t;

/* Value of property `name`, or NULL. */
const char *lc_message_property(const lc_message_ext_t *m, const char *name);
/* Java's MessageExt.toString() text ("MessageExt [brokerName=..., toString()=Message{...}]").
 * Returns a malloc'ed string (caller frees) or NULL. */
char *lc_message_ext_to_string(const lc_message_ext_t *m);

typedef struct lc_mq {
    char topic[LC_MAX_TOPIC];
    char broker_name[LC_MAX_NAME];
    int32_t queue_id;
} lc_mq_t;

/* ---- producer ------------------------------------------------------------------------- */
typedef enum {
    LC_SEND_OK = 0,
    LC_SEND_FLUSH_DISK_TIMEOUT,
    LC_SEND_FLUSH_SLAVE_TIMEOUT,
    LC_SEND_SLAVE_NOT_AVAILABLE,
} lc_send_status_t;

typedef struct lc_send_result {
    lc_send_status_t status;
    char msg_id[LC_MAX_ID];        /* UNIQ_KEY (for a batch: the first message's) */
    char offset_msg_id[LC_MAX_ID]; /* broker's id (for a batch: the first record's) */
    char *batch_msg_ids;           /* batch only: all UNIQ_KEYs joined with ','; else NULL */
    lc_mq_t mq;
    int64_t queue_offset;
    int response_code;             /* on LC_EBROKER: the server's code */
    char error[256];               /* on failure: what went wrong */
} lc_send_result_t;

/* Free batch_msg_ids (safe on any result, also a zeroed one). */
void lc_send_result_clear(lc_send_result_t *r);
const char *lc_send_status_name(lc_send_status_t s); /* "SEND_OK", ... */
/* Java's SendResult.toString() into buf; returns the length it needed (snprintf-like). */
int lc_send_result_format(const lc_send_result_t *r, char *buf, size_t n);

typedef struct lc_producer lc_producer_t;

/* namesrv: "host:port;host:port"; NULL = environment NAMESRV_ADDR. */
int lc_producer_create(const char *group, const char *namesrv, lc_producer_t **out);
/* Options, before start. */
void lc_producer_set_instance_name(lc_producer_t *p, const char *name);
void lc_producer_set_send_timeout(lc_producer_t *p, uint32_t ms);         /* default 3000 */
void lc_producer_set_retry_times(lc_producer_t *p, int n);                /* default 2 */
void lc_producer_set_compress_threshold(lc_producer_t *p, size_t bytes);  /* default 4096, 0 = never */
/* ACL (RocketMQ's plain ACL): when both keys are set, every request the client sends, to
 * brokers and name servers alike, carries AccessKey and its HMAC-SHA1 Signature, as Java's
 * AclClientRPCHook. NULL clears. LC_ENOMEM or 0. The same call exists for each client kind. */
int lc_producer_set_credentials(lc_producer_t *p, const char *access_key, const char *secret_key);
/* Message trace: after each send the broker answered, a Pub record goes to trace_topic (NULL:
 * RMQ_SYS_TRACE_TOPIC), batched and sent by an internal producer signed with the same keys;
 * for transactions also an EndTransaction record. Read them with mqadmin queryMsgTraceById. */
int lc_producer_set_trace(lc_producer_t *p, int on, const char *trace_topic);
int lc_producer_start(lc_producer_t *p);
const char *lc_producer_client_id(const lc_producer_t *p);

/* Send and wait. On failure res->error says why (and response_code for LC_EBROKER). Retries on
 * another broker (if any) on network errors and the retriable codes 17,14,1,16,204,205. */
int lc_producer_send_sync(lc_producer_t *p, const lc_message_t *m, lc_send_result_t *res);
/* Callback from the producer's loop thread: status 0 with res, or an error with res filled as
 * far as known. It must not block; res is valid during the call only. */
typedef void (*lc_send_cb)(int status, const lc_send_result_t *res, void *arg);
/* Returns 0 once the message is handed over (then cb is called exactly once) or an error
 * (then cb is never called). The first send to a topic may block for the route lookup. */
int lc_producer_send_async(lc_producer_t *p, const lc_message_t *m, lc_send_cb cb, void *arg);
/* Ordered send: the queue is chosen from shard_key (abs(javaHash(key)) % writable queues, as
 * Java's SelectMessageQueueByHash), so messages with one key keep their order; no retry on
 * another queue. */
int lc_producer_send_orderly(lc_producer_t *p, const lc_message_t *m, const char *shard_key, lc_send_result_t *res);
/* Send to exactly this queue (broker name and queue id; mq->topic is ignored), no retry
 * elsewhere; LC_ENOROUTE if the topic has no such writable queue. */
int lc_producer_send_to_queue(lc_producer_t *p, const lc_message_t *m, const lc_mq_t *mq, lc_send_result_t *res);
/* Fire and forget. */
int lc_producer_send_oneway(lc_producer_t *p, const lc_message_t *m);
/* All messages must have the same topic and no delay level; one queue receives them all. */
int lc_producer_send_batch(lc_producer_t *p, const lc_message_t *msgs, size_t n, lc_send_result_t *res);
/* Unregister from the brokers, stop the thread, free everything. NULL is fine. */
void lc_producer_destroy(lc_producer_t *p);

/* ---- pull consumer ---------------------------------------------------------------------- */
typedef enum {
    LC_PULL_FOUND = 0,
    LC_PULL_NO_NEW_MSG,
    LC_PULL_NO_MATCHED_MSG,
    LC_PULL_OFFSET_ILLEGAL,
} lc_pull_status_t;

typedef struct lc_pull_result {
    lc_pull_status_t status;
    int64_t next_begin_offset;
    int64_t min_offset;
    int64_t max_offset;
    lc_message_ext_t **msgs; /* after the client-side tag check */
    size_t nmsgs;
} lc_pull_result_t;

void lc_pull_result_free(lc_pull_result_t *r);

typedef struct lc_pull_consumer lc_pull_consumer_t;

int lc_pull_consumer_create(const char *group, const char *namesrv, lc_pull_consumer_t **out);
void lc_pull_consumer_set_instance_name(lc_pull_consumer_t *c, const char *name);
int lc_pull_consumer_set_credentials(lc_pull_consumer_t *c, const char *access_key, const char *secret_key);
int lc_pull_consumer_start(lc_pull_consumer_t *c);
/* Readable queues of a topic; *mqs is malloc'ed (caller frees), sorted by broker then id. */
int lc_pull_consumer_fetch_queues(lc_pull_consumer_t *c, const char *topic, lc_mq_t **mqs, size_t *n);
/* Pull up to max_nums messages from `offset`. sub_expr: "*" / NULL, or "TagA || TagB".
 * long_poll_ms > 0 lets the broker hold the request that long when nothing is there. */
int lc_pull_consumer_pull(lc_pull_consumer_t *c, const lc_mq_t *mq, const char *sub_expr,
                          int64_t offset, int max_nums, uint32_t long_poll_ms, lc_pull_result_t *res);
/* The group's stored offset; LC_ENOTFOUND when none. */
int lc_pull_consumer_query_offset(lc_pull_consumer_t *c, const lc_mq_t *mq, int64_t *offset);
int lc_pull_consumer_update_offset(lc_pull_consumer_t *c, const lc_mq_t *mq, int64_t offset);
int lc_pull_consumer_max_offset(lc_pull_consumer_t *c, const lc_mq_t *mq, int64_t *offset);
int lc_pull_consumer_min_offset(lc_pull_consumer_t *c, const lc_mq_t *mq, int64_t *offset);
void lc_pull_consumer_destroy(lc_pull_consumer_t *c);

/* ---- push consumer ---------------------------------------------------------------------- */
typedef enum { LC_CONSUME_SUCCESS = 0, LC_CONSUME_LATER = 1 } lc_consume_status_t;
typedef enum { LC_FROM_LAST_OFFSET = 0, LC_FROM_FIRST_OFFSET = 4 } lc_consume_from_t;

typedef struct lc_consume_ctx {
    const char *thread_name;   /* "ConsumeMessageThread_1", ... */
    const lc_mq_t *mq;
} lc_consume_ctx_t;

/* Called on a consumer thread with messages of one queue, in queue order. The messages are
 * valid during the call only. LC_CONSUME_LATER: the broker redelivers them later through the
 * group's retry topic (or, if the broker refuses, the client retries them after 1 s).
 * Also called, with one message and thread_name "ConsumeMessageDirectly", on another thread
 * when an admin tool (a console's "resend message") asks this consumer to consume a stored
 * message now (CONSUME_MESSAGE_DIRECTLY): the answer goes back to the tool only, no offset
 * moves and nothing is retried. */
typedef lc_consume_status_t (*lc_consume_fn)(const lc_consume_ctx_t *ctx,
                                             lc_message_ext_t *const *msgs, size_t n, void *arg);

typedef struct lc_push_consumer lc_push_consumer_t;

int lc_push_consumer_create(const char *group, const char *namesrv, lc_push_consumer_t **out);
/* Options, before start. */
void lc_push_consumer_set_instance_name(lc_push_consumer_t *c, const char *name);
void lc_push_consumer_set_consume_from(lc_push_consumer_t *c, lc_consume_from_t from);
void lc_push_consumer_set_threads(lc_push_consumer_t *c, int n);          /* default 4 */
void lc_push_consumer_set_batch_max(lc_push_consumer_t *c, int n);        /* default 1 */
/* A message that failed this many times goes to %DLQ%<group> (default 16). Retries wait the
 * broker's delay level 3 + attempt (10 s, 30 s, 1 min... with RocketMQ's default levels). */
void lc_push_consumer_set_max_reconsume_times(lc_push_consumer_t *c, int n);
/* Orderly consumption (before start): a queue is consumed only while this client holds the
 * broker's lock on it (LOCK_BATCH_MQ, renewed every 20 s), one callback at a time, in queue
 * order. A failing message is retried here after 1 s, up to max reconsume times, then sent to
 * %DLQ%<group> so the queue goes on. */
void lc_push_consumer_set_orderly(lc_push_consumer_t *c, int on);
/* Broadcasting (before start): every client of the group gets every message; offsets are kept
 * by the client in $HOME/.rocketmq_offsets/<clientId>/<group>/offsets.json. Failed messages
 * are not retried (as RocketMQ). */
void lc_push_consumer_set_broadcast(lc_push_consumer_t *c, int on);
void lc_push_consumer_set_listener(lc_push_consumer_t *c, lc_consume_fn fn, void *arg);
int lc_push_consumer_set_credentials(lc_push_consumer_t *c, const char *access_key, const char *secret_key);
/* Message trace (before start): SubBefore and SubAfter records around each listener call
 * (one requestId per call; messages with property TRACE_ON=false are left out), sent as the
 * producer's are. */
int lc_push_consumer_set_trace(lc_push_consumer_t *c, int on, const char *trace_topic);
/* expr: "*" or "TagA || TagB". */
int lc_push_consumer_subscribe(lc_push_consumer_t *c, const char *topic, const char *expr);
/* SQL92 property filter (the broker needs enablePropertyFilter=true), e.g.
 * "a > 5 AND region IN ('eu', 'us')". Start fails (LC_EBROKER, reason in the log) if a broker
 * of the topic rejects the expression. */
int lc_push_consumer_subscribe_sql(lc_push_consumer_t *c, const char *topic, const char *sql);
int lc_push_consumer_start(lc_push_consumer_t *c);
const char *lc_push_consumer_client_id(const lc_push_consumer_t *c);
/* Queues currently assigned to this consumer (caller frees *mqs). */
int lc_push_consumer_assigned(lc_push_consumer_t *c, lc_mq_t **mqs, size_t *n);
/* Stop pulling, wait for callbacks in progress, commit offsets, unregister, free. */
void lc_push_consumer_destroy(lc_push_consumer_t *c);

/* ---- transactions ------------------------------------------------------------------------ */
typedef enum { LC_TX_UNKNOWN = 0, LC_TX_COMMIT = 8, LC_TX_ROLLBACK = 12 } lc_tx_state_t;
/* The local transaction, run after the half message is stored; msg_id is its UNIQ_KEY. */
typedef lc_tx_state_t (*lc_local_tx_fn)(const lc_message_t *m, const char *msg_id, void *arg);
/* The broker asks about a transaction left undecided (or unknown) for transactionTimeOut.
 * Called on the producer's loop thread: must not block or call the producer. */
typedef lc_tx_state_t (*lc_tx_check_fn)(const lc_message_ext_t *m, void *arg);
/* Before start: makes the producer transactional (it answers CHECK_TRANSACTION_STATE). */
void lc_producer_set_transaction_check(lc_producer_t *p, lc_tx_check_fn fn, void *arg);
/* Send m as a half message (invisible to consumers), run fn, then tell the broker its answer
 * (END_TRANSACTION): commit makes the message visible once, rollback drops it, unknown leaves
 * it to the check-back. fn is not called if the half send fails. *state gets fn's answer. */
int lc_producer_send_in_transaction(lc_producer_t *p, const lc_message_t *m, lc_local_tx_fn fn, void *arg,
                                    lc_send_result_t *res, lc_tx_state_t *state);

/* ---- query (through a started producer, like Java's MQAdmin methods) ------------------- */
/* Messages of `topic` stored within [begin_ms, end_ms] whose KEYS contain `key`, from every
 * broker of the topic (QUERY_MESSAGE); at most max_num (<= 64) per broker. *msgs is a
 * malloc'ed array freed with lc_query_result_free. LC_ENOTFOUND if none. */
int lc_producer_query_message(lc_producer_t *p, const char *topic, const char *key, int max_num,
                              int64_t begin_ms, int64_t end_ms, lc_message_ext_t ***msgs, size_t *n);
/* One message by id: an offsetMsgId (the broker's address and commit-log offset:
 * VIEW_MESSAGE_BY_ID to that broker) or a UNIQ_KEY msgId (QUERY_MESSAGE with
 * _UNIQUE_KEY_QUERY to every broker of `topic`, the oldest match wins). Free *msg with
 * lc_message_ext_free. LC_ENOTFOUND if none. */
int lc_producer_view_message(lc_producer_t *p, const char *topic, const char *msg_id,
                             lc_message_ext_t **msg);
void lc_query_result_free(lc_message_ext_t **msgs, size_t n);
void lc_message_ext_free(lc_message_ext_t *m);

#ifdef __cplusplus
}
#endif
#endif
