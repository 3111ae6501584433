/* gsvc.h: what the files of the broker's gRPC service share (private to src/broker/grpc/).
 * service.c: the method table, routes, settings, sends, consumers; members.c: gRPC clients in
 * the broker's client registry and the producers-by-topic index; transaction.c: half messages'
 * offsets, EndTransaction and the orphaned-transaction check over Telemetry. Loop thread only. */
#ifndef LOULAN_BR_GRPC_GSVC_H
#define LOULAN_BR_GRPC_GSVC_H

#include "broker/core/core.h"
#include "grpc/grpc.h"
#include "rocketmq_v2.pb-c.h"

#define V2(x) Apache__Rocketmq__V2__##x
#define CODE(x) APACHE__ROCKETMQ__V2__CODE__##x

struct gpub;

/* One client (x-mq-client-id) while its Telemetry stream is open. */
typedef struct gclient {
    char id[256];
    int type;                   /* ClientType */
    gp_call_t *telemetry;       /* its most recent stream (referenced) */
    uint8_t *reply;             /* the last settings answer sent on it */
    size_t reply_len;
    int resent_on_heartbeat;
    /* members.c: its HeartbeatData for the broker's client registry (NULL: not registered) */
    char *beat;
    size_t beat_len;
    char addr[64], lang[16];
    int version;
    struct gpub *pubs;          /* its entries in the producers-by-topic index */
} gclient_t;

/* Node 1.0.8's startup() waits for a settings answer that arrives *after* it fetched every
 * topic's route; an answer that came earlier (ours comes within a millisecond) is missed and
 * startup never returns. So the answer is sent again RESEND_MS after the client's latest
 * QueryRoute, and once more at its first Heartbeat; clients take a repeated answer as an update
 * of the same settings. */
#define RESEND_MS 250
#define RESEND_MAX 256

struct gtx;

typedef struct br_grpcsvc {
    br_broker_t *b;
    gp_server_t *srv;
    rm_conn_t *self;            /* loopback remoting connection to this broker */
    rm_endpoint_t self_ep;
    cm_map_t clients;           /* client id -> gclient_t */
    uv_timer_t done;            /* closed when the server has closed (stop's handle) */
    uv_close_cb stop_cb;
    unsigned rr;                /* round-robin queue choice */
    uv_timer_t resend_timer;
    gclient_t *resend[RESEND_MAX]; /* clients whose settings answer goes again at the timer */
    size_t nresend;

    char endpoint_host[64];
    int port;

    cm_map_t pubs;              /* members.c: topic -> first struct gpub publishing to it */
    cm_map_t txs;               /* transaction.c: "topic\1transaction id" -> struct gtx */
    struct gtx *tx_head, *tx_tail; /* oldest first */
    size_t ntx;
} br_grpcsvc_t;

/* service.c */
void gs_send_msg(gp_call_t *call, const ProtobufCMessage *m);
void gs_answer_status(gp_call_t *call, int code, const char *msg);   /* a unary Status answer */
int gs_acl_refused(gp_call_t *call, br_grpcsvc_t *g);                /* 1: answered UNAUTHORIZED */
const char *gs_client_id(gp_call_t *call);                           /* NULL if absent or empty */
rm_conn_t *gs_self_conn(br_grpcsvc_t *g);                            /* NULL if it cannot connect */

/* A message as delivered to a client (spec 5.1) and the memory its protobuf points at. */
typedef struct gs_out_msg {
    V2(Message) m;
    V2(SystemProperties) sp;
    V2(Resource) topic;
    V2(Digest) digest;
    Google__Protobuf__Timestamp born, store, deliver;
    Google__Protobuf__Duration invisible;
    V2(Message__UserPropertiesEntry) *ue;
    V2(Message__UserPropertiesEntry) **up;
    char *tag, *keys, **keyv, *uniq, *group, *trace, *bornhost, *timer, *handle;
    char msgid[ST_MSG_ID_LEN + 1], storehost[64], bornaddr[64], md5[33];
    uint8_t *inflated;
} gs_out_msg_t;
/* 0, or -1 when the record does not decode; free with gs_out_msg_free in both cases. `topic`
 * must outlive o. */
int gs_out_msg_build(gs_out_msg_t *o, const br_pop_msg_t *pm, const char *topic, int64_t invisibleMs);
void gs_out_msg_free(gs_out_msg_t *o);

/* members.c */
/* The client's Settings (Telemetry): registers it with the broker's client registry (consumers
 * in their group, producers under each topic of publishing.topics) and indexes its topics. */
void gs_client_settings(br_grpcsvc_t *g, gclient_t *c, const V2(Settings) *s, const char *peer);
void gs_client_beat(br_grpcsvc_t *g, gclient_t *c);     /* a Heartbeat: refresh the registration */
void gs_client_gone(br_grpcsvc_t *g, gclient_t *c);     /* unregister, leave the index */
gclient_t *gs_publisher(br_grpcsvc_t *g, const char *topic); /* a live producer of topic, or NULL */
void gs_client_release(gclient_t *c);   /* at broker stop: frees its index nodes and registration */

/* transaction.c */
/* Remember a half message (SendMessage, or a check copy) for EndTransaction. Bounded table. */
void gs_tx_remember(br_grpcsvc_t *g, const char *topic, const char *txid, int64_t phy, int64_t tso,
                    int64_t immunityMs);
void gs_handle_end_transaction(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx);
int gs_trans_check_remote(br_broker_t *b, const char *group, const uint8_t *rec, size_t len, int64_t phy,
                          int64_t queueOffset, const char *key);
void gs_tx_free(br_grpcsvc_t *g);
#endif
