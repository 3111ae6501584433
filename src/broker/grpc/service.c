/* apache.rocketmq.v2.MessagingService on the broker (spec grpc-5x.md §3, §5): the handlers
 * behind src/grpc's method table. Requests are decoded with protobuf-c (proto/rocketmq_v2.proto);
 * every answer carries its outcome in a Status with gRPC status 0, as Apache's proxy does.
 *
 * Per-client state (settings from Telemetry) is keyed by x-mq-client-id and lives while the
 * client's Telemetry stream is open (so it is bounded by open streams), or until
 * NotifyClientTermination. SendMessage turns each message into a SEND_MESSAGE_V2 request to the
 * broker itself over one loopback remoting connection (see grpc.h why) and answers when the
 * broker has. Consumers (QueryAssignment, ReceiveMessage, AckMessage, ChangeInvisibleDuration)
 * use the core's POP hooks only (pop_receive / pop_ack / pop_change, core.h). Transactions are
 * in transaction.c, the clients' registration with the broker's registry in members.c (gsvc.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/core.h"
#include "broker/grpc/grpc.h"
#include "broker/grpc/gsvc.h"

#include <openssl/evp.h>
#include <zlib.h>

#define SVC "/apache.rocketmq.v2.MessagingService/"
#define MAX_CLIENTS 10000
#define MAX_DELAY_MS (24LL * 3600 * 1000)   /* Apache's maxDelayTimeMills */
#define SEND_TIMEOUT_MS 3000

static void resend_soon(br_grpcsvc_t *g, const char *id);
static void free_client(void *p);

/* ---- answers ---- */

void gs_send_msg(gp_call_t *call, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *p = malloc(n ? n : 1);
    if (!p) {
        gp_call_finish(call, GP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    protobuf_c_message_pack(m, p);
    gp_call_send(call, p, n);
    free(p);
}

/* A unary answer that is a Status alone (field 1 of every response). */
void gs_answer_status(gp_call_t *call, int code, const char *msg)
{
    V2(Status) st = APACHE__ROCKETMQ__V2__STATUS__INIT;
    st.code = code;
    st.message = (char *)(msg ? msg : "");
    V2(StatusOnlyResponse) r = APACHE__ROCKETMQ__V2__STATUS_ONLY_RESPONSE__INIT;
    r.status = &st;
    gs_send_msg(call, &r.base);
    gp_call_finish(call, GP_STATUS_OK, NULL);
}

/* Access control over gRPC (the MQv2-HMAC-SHA1 `authorization` header, spec §1.5) is not
 * checked yet, and the loopback send is signed with the broker's own credentials: with
 * aclEnable every call that reads or writes topics is refused rather than let through. */
int gs_acl_refused(gp_call_t *call, br_grpcsvc_t *g)
{
    if (!g || !g->b->cfg.aclEnable)
        return 0;
    gs_answer_status(call, CODE(UNAUTHORIZED), "access control (aclEnable) is not supported over gRPC yet");
    return 1;
}

const char *gs_client_id(gp_call_t *call)
{
    const char *id = gp_call_header(call, "x-mq-client-id");
    return id && id[0] ? id : NULL;
}

/* ---- QueryRoute (§3.1) ---- */

/* accept_message_types of a topic: its message.type attribute; none (topics made by 4.x tools)
 * accepts every type, so 5.x FIFO/delay producers work on them (spec §5.3 "permissive"). */
static size_t topic_types(const br_topic_t *t, V2(MessageType) out[4])
{
    const char *a = strstr(t->attributes, "message.type=");
    if (a) {
        a += 13;
        static const struct { const char *n; V2(MessageType) v; } k[] = {
            {"NORMAL", APACHE__ROCKETMQ__V2__MESSAGE_TYPE__NORMAL}, {"FIFO", APACHE__ROCKETMQ__V2__MESSAGE_TYPE__FIFO},
            {"DELAY", APACHE__ROCKETMQ__V2__MESSAGE_TYPE__DELAY},
            {"TRANSACTION", APACHE__ROCKETMQ__V2__MESSAGE_TYPE__TRANSACTION}};
        for (size_t i = 0; i < 4; i++) {
            size_t l = strlen(k[i].n);
            if (strncmp(a, k[i].n, l) == 0 && (a[l] == 0 || a[l] == ',')) {
                out[0] = k[i].v;
                return 1;
            }
        }
    }
    for (int i = 0; i < 4; i++)
        out[i] = (V2(MessageType))(i + 1);
    return 4;
}

static void handle_query_route(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    br_grpcsvc_t *g = ctx;
    V2(QueryRouteRequest) *req = apache__rocketmq__v2__query_route_request__unpack(NULL, len, msg);
    if (!req) {
        gp_call_finish(call, GP_STATUS_INVALID_ARGUMENT, "QueryRouteRequest does not decode");
        return;
    }
    const char *name = req->topic && req->topic->name ? req->topic->name : "";
    char why[256];
    br_topic_t *t = NULL;
    if (!gs_client_id(call)) {
        gs_answer_status(call, CODE(CLIENT_ID_REQUIRED), "x-mq-client-id is required");
    } else if (gs_acl_refused(call, g)) {
        /* answered */
    } else if (br_topic_name_error(name) || br_topic_is_system_forbidden(name)) {
        snprintf(why, sizeof why, "topic name '%.150s' is not valid", name);
        gs_answer_status(call, CODE(ILLEGAL_TOPIC), why);
    } else if (!g) {
        gs_answer_status(call, CODE(INTERNAL_SERVER_ERROR), "no broker");
    } else if (!(t = br_topics_get(&g->b->topics, name))) {
        snprintf(why, sizeof why, "topic '%s' does not exist (topics are not created over gRPC)", name);
        gs_answer_status(call, CODE(TOPIC_NOT_FOUND), why);
    } else {
        br_broker_t *b = g->b;
        int perm = t->perm & b->cfg.brokerPermission;
        int r = (perm & PERM_READ) ? t->readQueueNums : 0, w = (perm & PERM_WRITE) ? t->writeQueueNums : 0;
        int rw = r < w ? r : w, total;
        /* Node 1.0.8 sends only to queue id 0 of a broker: queue 0 must be writable, so
         * READ_WRITE queues come first here (Apache numbers READ-only ones first) */
        total = r + w - rw;
        if (total == 0)
            total = t->readQueueNums > t->writeQueueNums ? t->readQueueNums : t->writeQueueNums;
        if (total <= 0)
            total = 1;
        if (total > 1024)
            total = 1024;
        V2(Resource) topic = APACHE__ROCKETMQ__V2__RESOURCE__INIT;
        topic.name = (char *)name;
        topic.resource_namespace = req->topic->resource_namespace ? req->topic->resource_namespace : "";
        V2(Address) addr = APACHE__ROCKETMQ__V2__ADDRESS__INIT, *addrs[1] = {&addr};
        addr.host = g->endpoint_host;
        addr.port = g->port;
        V2(Endpoints) ep = APACHE__ROCKETMQ__V2__ENDPOINTS__INIT;
        ep.scheme = APACHE__ROCKETMQ__V2__ADDRESS_SCHEME__IPv4;
        ep.n_addresses = 1;
        ep.addresses = addrs;
        V2(Broker) br = APACHE__ROCKETMQ__V2__BROKER__INIT;
        br.name = b->cfg.brokerName;
        br.id = (int32_t)b->cfg.brokerId;
        br.endpoints = &ep;
        V2(MessageType) types[4];
        size_t ntypes = topic_types(t, types);
        V2(MessageQueue) *qs = calloc((size_t)total, sizeof *qs);
        V2(MessageQueue) **qp = calloc((size_t)total, sizeof *qp);
        if (!qs || !qp) {
            free(qs);
            free(qp);
            gs_answer_status(call, CODE(INTERNAL_SERVER_ERROR), "out of memory");
            apache__rocketmq__v2__query_route_request__free_unpacked(req, NULL);
            return;
        }
        for (int i = 0; i < total; i++) {
            V2(MessageQueue) q = APACHE__ROCKETMQ__V2__MESSAGE_QUEUE__INIT;
            q.topic = &topic;
            q.id = i;
            q.broker = &br;
            q.accept_message_types = types;
            q.n_accept_message_types = ntypes;
            if (rw + (r - rw) + (w - rw) == 0)
                q.permission = APACHE__ROCKETMQ__V2__PERMISSION__NONE;
            else if (i < rw)
                q.permission = APACHE__ROCKETMQ__V2__PERMISSION__READ_WRITE;
            else if (i < r)
                q.permission = APACHE__ROCKETMQ__V2__PERMISSION__READ;
            else
                q.permission = APACHE__ROCKETMQ__V2__PERMISSION__WRITE;
            qs[i] = q;
            qp[i] = &qs[i];
        }
        V2(Status) st = APACHE__ROCKETMQ__V2__STATUS__INIT;
        st.code = CODE(OK);
        st.message = "OK";
        V2(QueryRouteResponse) resp = APACHE__ROCKETMQ__V2__QUERY_ROUTE_RESPONSE__INIT;
        resp.status = &st;
        resp.n_message_queues = (size_t)total;
        resp.message_queues = qp;
        gs_send_msg(call, &resp.base);
        gp_call_finish(call, GP_STATUS_OK, NULL);
        free(qs);
        free(qp);
        resend_soon(g, gs_client_id(call));
    }
    apache__rocketmq__v2__query_route_request__free_unpacked(req, NULL);
}

/* ---- Telemetry (§3.2) ---- */

static void client_forget(br_grpcsvc_t *g, const char *id, gp_call_t *only_if)
{
    gclient_t *c = cm_map_get(&g->clients, id);
    if (!c || (only_if && c->telemetry != only_if))
        return;
    cm_map_remove(&g->clients, id);
    gs_client_gone(g, c);
    for (size_t i = 0; i < g->nresend; i++)
        if (g->resend[i] == c)
            g->resend[i--] = g->resend[--g->nresend];
    if (c->telemetry) {
        gp_call_set_data(c->telemetry, NULL);
        gp_call_unref(c->telemetry);
    }
    free(c->reply);
    free(c);
}

static void resend_settings(gclient_t *c)
{
    if (c->telemetry && c->reply && !gp_call_finished(c->telemetry))
        gp_call_send(c->telemetry, c->reply, c->reply_len);
}

static void on_resend_timer(uv_timer_t *t)
{
    br_grpcsvc_t *g = t->data;
    for (size_t i = 0; i < g->nresend; i++)
        resend_settings(g->resend[i]);
    g->nresend = 0;
}

/* A QueryRoute from a client with an answered Telemetry: its settings go again soon. */
static void resend_soon(br_grpcsvc_t *g, const char *id)
{
    gclient_t *c = id ? cm_map_get(&g->clients, id) : NULL;
    if (!c || !c->reply)
        return;
    size_t i = 0;
    while (i < g->nresend && g->resend[i] != c)
        i++;
    if (i == g->nresend && g->nresend < RESEND_MAX)
        g->resend[g->nresend++] = c;
    uv_timer_start(&g->resend_timer, on_resend_timer, RESEND_MS, 0);
}

static void handle_telemetry_msg(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    br_grpcsvc_t *g = ctx;
    V2(TelemetryCommand) *cmd = apache__rocketmq__v2__telemetry_command__unpack(NULL, len, msg);
    const char *id = gs_client_id(call);
    if (!cmd) {
        gp_call_finish(call, GP_STATUS_INVALID_ARGUMENT, "TelemetryCommand does not decode");
        return;
    }
    if (!id) {
        gp_call_finish(call, GP_STATUS_INVALID_ARGUMENT, "x-mq-client-id is required");
    } else if (cmd->command_case != APACHE__ROCKETMQ__V2__TELEMETRY_COMMAND__COMMAND_SETTINGS) {
        /* thread stack traces and verify results answer commands this server never sends */
    } else if (cmd->settings->pub_sub_case == APACHE__ROCKETMQ__V2__SETTINGS__PUB_SUB__NOT_SET) {
        gp_call_finish(call, GP_STATUS_INVALID_ARGUMENT, "settings name neither publishing nor subscription");
    } else if (!g) {
        gp_call_finish(call, GP_STATUS_INTERNAL, "no broker");
    } else {
        V2(Settings) *s = cmd->settings;
        gclient_t *c = cm_map_get(&g->clients, id);
        if (!c && g->clients.n >= MAX_CLIENTS) {
            gp_call_finish(call, GP_STATUS_RESOURCE_EXHAUSTED, "too many gRPC clients");
            apache__rocketmq__v2__telemetry_command__free_unpacked(cmd, NULL);
            return;
        }
        if (!c && (c = calloc(1, sizeof *c)) != NULL) {
            snprintf(c->id, sizeof c->id, "%s", id);
            if (cm_map_put(&g->clients, id, c) != 0) {
                free(c);
                c = NULL;
            }
        }
        if (c) {
            c->type = s->_client_type_case ? (int)s->client_type : 0;
            if (c->telemetry != call) {
                if (c->telemetry) {
                    gp_call_set_data(c->telemetry, NULL);
                    gp_call_unref(c->telemetry);
                }
                c->telemetry = call;
                gp_call_ref(call);
                gp_call_set_data(call, c);
            }
        }
        /* The completed copy (§3.2 "What the reply MUST contain"): the pointers set here point
         * at this frame's memory and are put back before protobuf-c frees the request. */
        V2(RetryPolicy) *old_bp = s->_backoff_policy_case ? s->backoff_policy : NULL;
        int old_bp_case = s->_backoff_policy_case;
        V2(Metric) *old_metric = s->metric;
        Google__Protobuf__Duration d_init = GOOGLE__PROTOBUF__DURATION__INIT, d_max = GOOGLE__PROTOBUF__DURATION__INIT;
        V2(ExponentialBackoff) eb = APACHE__ROCKETMQ__V2__EXPONENTIAL_BACKOFF__INIT;
        V2(RetryPolicy) rp = APACHE__ROCKETMQ__V2__RETRY_POLICY__INIT;
        V2(Metric) metric = APACHE__ROCKETMQ__V2__METRIC__INIT;
        Google__Protobuf__Duration lpt = GOOGLE__PROTOBUF__DURATION__INIT;
        int32_t old_body = 0;
        int sub_restore = 0, old_fifo_case = 0, old_fifo = 0, old_rbs_case = 0, old_rbs = 0, old_lpt_case = 0;
        Google__Protobuf__Duration *old_lpt = NULL;
        d_init.nanos = 10 * 1000 * 1000;
        d_max.seconds = 1;
        eb.initial = &d_init;
        eb.max = &d_max;
        eb.multiplier = 2.0f;
        rp.max_attempts = 3;
        rp.strategy_case = APACHE__ROCKETMQ__V2__RETRY_POLICY__STRATEGY_EXPONENTIAL_BACKOFF;
        rp.exponential_backoff = &eb;
        if (s->pub_sub_case == APACHE__ROCKETMQ__V2__SETTINGS__PUB_SUB_PUBLISHING) {
            s->_backoff_policy_case = APACHE__ROCKETMQ__V2__SETTINGS___BACKOFF_POLICY_BACKOFF_POLICY;
            s->backoff_policy = &rp;
            old_body = s->publishing->max_body_size;
            s->publishing->max_body_size = (int32_t)g->b->cfg.maxMessageSize;
            s->publishing->validate_message_type = 1;
        } else {
            /* consumers: what a push consumer must be told (§3.2); the group's orderliness */
            V2(Subscription) *sub = s->subscription;
            const char *gname = sub->_group_case && sub->group && sub->group->name ? sub->group->name : "";
            br_group_t *grp = gname[0] ? br_groups_get(&g->b->groups, gname) : NULL;
            sub_restore = 1;
            old_fifo_case = sub->_fifo_case; old_fifo = sub->fifo;
            old_rbs_case = sub->_receive_batch_size_case; old_rbs = sub->receive_batch_size;
            old_lpt_case = sub->_long_polling_timeout_case; old_lpt = old_lpt_case ? sub->long_polling_timeout : NULL;
            sub->_fifo_case = APACHE__ROCKETMQ__V2__SUBSCRIPTION___FIFO_FIFO;
            sub->fifo = grp && grp->consumeMessageOrderly;
            sub->_receive_batch_size_case = APACHE__ROCKETMQ__V2__SUBSCRIPTION___RECEIVE_BATCH_SIZE_RECEIVE_BATCH_SIZE;
            sub->receive_batch_size = 32;
            lpt.seconds = 20;
            sub->_long_polling_timeout_case = APACHE__ROCKETMQ__V2__SUBSCRIPTION___LONG_POLLING_TIMEOUT_LONG_POLLING_TIMEOUT;
            sub->long_polling_timeout = &lpt;
            rp.max_attempts = (grp ? grp->retryMaxTimes : 16) + 1;
            s->_backoff_policy_case = APACHE__ROCKETMQ__V2__SETTINGS___BACKOFF_POLICY_BACKOFF_POLICY;
            s->backoff_policy = &rp;
        }
        s->metric = &metric;
        V2(Status) st = APACHE__ROCKETMQ__V2__STATUS__INIT;
        st.code = CODE(OK);
        st.message = "OK";
        V2(TelemetryCommand) reply = APACHE__ROCKETMQ__V2__TELEMETRY_COMMAND__INIT;
        reply._status_case = APACHE__ROCKETMQ__V2__TELEMETRY_COMMAND___STATUS_STATUS;
        reply.status = &st;
        reply.command_case = APACHE__ROCKETMQ__V2__TELEMETRY_COMMAND__COMMAND_SETTINGS;
        reply.settings = s;
        size_t rlen = protobuf_c_message_get_packed_size(&reply.base);
        uint8_t *rb = malloc(rlen ? rlen : 1);
        if (rb) {
            protobuf_c_message_pack(&reply.base, rb);
            gp_call_send(call, rb, rlen);
            if (c) {
                free(c->reply);
                c->reply = rb;
                c->reply_len = rlen;
                rb = NULL;
            }
            free(rb);
        } else {
            gp_call_finish(call, GP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        }
        s->metric = old_metric;
        s->_backoff_policy_case = old_bp_case;
        s->backoff_policy = old_bp;
        if (s->pub_sub_case == APACHE__ROCKETMQ__V2__SETTINGS__PUB_SUB_PUBLISHING)
            s->publishing->max_body_size = old_body;
        if (sub_restore) {
            V2(Subscription) *sub = s->subscription;
            sub->_fifo_case = old_fifo_case; sub->fifo = old_fifo;
            sub->_receive_batch_size_case = old_rbs_case; sub->receive_batch_size = old_rbs;
            sub->_long_polling_timeout_case = old_lpt_case; sub->long_polling_timeout = old_lpt;
        }
        if (c)
            gs_client_settings(g, c, s, gp_call_peer(call));
    }
    apache__rocketmq__v2__telemetry_command__free_unpacked(cmd, NULL);
}

static void telemetry_end(gp_call_t *call, void *ctx)
{
    br_grpcsvc_t *g = ctx;
    gclient_t *c = gp_call_data(call);
    if (g && c)
        client_forget(g, c->id, call);
}

static void handle_telemetry_half_close(gp_call_t *call, void *ctx)
{
    telemetry_end(call, ctx);
    gp_call_finish(call, GP_STATUS_OK, NULL);
}

/* ---- Heartbeat (§3.3), NotifyClientTermination (§3.11) ---- */

static void handle_heartbeat(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    V2(HeartbeatRequest) *req = apache__rocketmq__v2__heartbeat_request__unpack(NULL, len, msg);
    if (!req) {
        gp_call_finish(call, GP_STATUS_INVALID_ARGUMENT, "HeartbeatRequest does not decode");
        return;
    }
    /* accepted before settings too (§3.3, recommended): clients only log a refusal */
    br_grpcsvc_t *g = ctx;
    const char *id = gs_client_id(call);
    if (!id) {
        gs_answer_status(call, CODE(CLIENT_ID_REQUIRED), "x-mq-client-id is required");
    } else {
        gs_answer_status(call, CODE(OK), "OK");
        gclient_t *c = g ? cm_map_get(&g->clients, id) : NULL;
        if (c)
            gs_client_beat(g, c);
        if (c && !c->resent_on_heartbeat) {
            c->resent_on_heartbeat = 1;
            resend_settings(c);
        }
    }
    apache__rocketmq__v2__heartbeat_request__free_unpacked(req, NULL);
}

static void handle_notify_termination(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    br_grpcsvc_t *g = ctx;
    V2(NotifyClientTerminationRequest) *req = apache__rocketmq__v2__notify_client_termination_request__unpack(NULL, len, msg);
    if (!req) {
        gp_call_finish(call, GP_STATUS_INVALID_ARGUMENT, "NotifyClientTerminationRequest does not decode");
        return;
    }
    const char *id = gs_client_id(call);
    if (!id) {
        gs_answer_status(call, CODE(CLIENT_ID_REQUIRED), "x-mq-client-id is required");
    } else {
        if (g)
            client_forget(g, id, NULL);
        gs_answer_status(call, CODE(OK), "OK");
    }
    apache__rocketmq__v2__notify_client_termination_request__free_unpacked(req, NULL);
}

/* ---- SendMessage (§3.4, §5.1) ---- */

/* RocketMQ's reserved property names: a client may not set them as user properties. */
static const char *const k_reserved[] = {
    "KEYS", "TAGS", "WAIT", "DELAY", "RETRY_TOPIC", "REAL_TOPIC", "REAL_QID", "TRAN_MSG", "PGROUP", "MIN_OFFSET",
    "MAX_OFFSET", "BUYER_ID", "ORIGIN_MESSAGE_ID", "TRANSFER_FLAG", "CORRECTION_FLAG", "MQ2_FLAG", "RECONSUME_TIME",
    "UNIQ_KEY", "MAX_RECONSUME_TIMES", "CONSUME_START_TIME", "POP_CK", "POP_CK_OFFSET", "1ST_POP_TIME",
    "TRAN_PREPARED_QUEUE_OFFSET", "DUP_INFO", "EXTEND_UNIQ_INFO", "INSTANCE_ID", "CORRELATION_ID", "REPLY_TO_CLIENT",
    "TTL", "ARRIVE_TIME", "PUSH_REPLY_TIME", "CLUSTER", "MSG_TYPE", "INNER_MULTI_QUEUE_OFFSET", "__BORNHOST",
    "BORN_TIMESTAMP", "TRACE_ON", "MSG_REGION", "__SHARDINGKEY", "TRACE_CONTEXT", "CHECK_IMMUNITY_TIME_IN_SECONDS",
    "TRANSACTION_CHECK_TIMES", "TIMER_OUT_MS"};

static int reserved_key(const char *k)
{
    if (strncmp(k, "TIMER_", 6) == 0 || strncmp(k, "DLQ_ORIGIN_", 11) == 0 || strncmp(k, "__CRC32#", 8) == 0)
        return 1;
    for (size_t i = 0; i < sizeof k_reserved / sizeof k_reserved[0]; i++)
        if (strcmp(k, k_reserved[i]) == 0)
            return 1;
    return 0;
}

/* Text that may go into a 4.x property: no control characters (0x01/0x02 separate properties). */
static int clean_text(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}
static int blank(const char *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t')
            return 0;
    return 1;
}

static int prop_add(cm_buf_t *p, const char *k, const char *v)
{
    return cm_buf_puts(p, k) || cm_buf_putc(p, 1) || cm_buf_puts(p, v) || cm_buf_putc(p, 2);
}

/* One message -> 4.x properties and send fields. 0, or a Code with the reason in why. */
typedef struct send_one {
    cm_buf_t props;
    const char *topic;
    char uniq[128];
    int64_t born;
    int32_t sysFlag;
    const char *group;          /* message group (FIFO), NULL if none */
    int tx;                     /* a TRANSACTION message: stored as a half message */
    int64_t immunityMs;         /* its orphaned_transaction_recovery_duration, 0 if none */
} send_one_t;

static int build_message(const V2(Message) *m, int64_t max_body, int64_t now, send_one_t *o, char *why, size_t wl)
{
    const V2(SystemProperties) *sp = m->system_properties;
    cm_buf_init(&o->props);
    o->topic = m->topic && m->topic->name ? m->topic->name : "";
    if (br_topic_name_error(o->topic) || br_topic_is_system_forbidden(o->topic)) {
        snprintf(why, wl, "topic name '%.150s' is not valid", o->topic);
        return CODE(ILLEGAL_TOPIC);
    }
    if (!sp) {
        snprintf(why, wl, "message without system_properties");
        return CODE(MESSAGE_CORRUPTED);
    }
    if (!sp->message_id || blank(sp->message_id) || strlen(sp->message_id) >= sizeof o->uniq ||
        !clean_text(sp->message_id)) {
        snprintf(why, wl, "message_id is required");
        return CODE(ILLEGAL_MESSAGE_ID);
    }
    snprintf(o->uniq, sizeof o->uniq, "%s", sp->message_id);
    if (m->body.len == 0) {
        snprintf(why, wl, "message body is empty");
        return CODE(MESSAGE_BODY_EMPTY);
    }
    if ((int64_t)m->body.len > max_body) {
        snprintf(why, wl, "message body of %zu bytes is over maxMessageSize %lld", m->body.len, (long long)max_body);
        return CODE(MESSAGE_BODY_TOO_LARGE);
    }
    o->tx = sp->message_type == APACHE__ROCKETMQ__V2__MESSAGE_TYPE__TRANSACTION;
    o->immunityMs = 0;
    switch (sp->message_type) {
    case APACHE__ROCKETMQ__V2__MESSAGE_TYPE__LITE:
    case APACHE__ROCKETMQ__V2__MESSAGE_TYPE__PRIORITY:
        snprintf(why, wl, "LITE and PRIORITY messages are not supported");
        return CODE(MESSAGE_PROPERTY_CONFLICT_WITH_TYPE);
    default:
        break;
    }
    size_t ulen = 0;
    if (m->n_user_properties > 128) {
        snprintf(why, wl, "more than 128 user properties");
        return CODE(MESSAGE_PROPERTIES_TOO_LARGE);
    }
    for (size_t i = 0; i < m->n_user_properties; i++) {
        const char *k = m->user_properties[i]->key ? m->user_properties[i]->key : "";
        const char *v = m->user_properties[i]->value ? m->user_properties[i]->value : "";
        if (!k[0] || reserved_key(k)) {
            snprintf(why, wl, "property key '%.100s' is reserved or empty", k);
            return CODE(ILLEGAL_MESSAGE_PROPERTY_KEY);
        }
        if (!clean_text(k) || !clean_text(v)) {
            snprintf(why, wl, "property '%.100s' has control characters", k);
            return CODE(ILLEGAL_MESSAGE_PROPERTY_KEY);
        }
        ulen += strlen(k) + strlen(v);
        if (prop_add(&o->props, k, v))
            goto oom;
    }
    if (sp->_tag_case) {
        const char *tag = sp->tag ? sp->tag : "";
        if (blank(tag) || strchr(tag, '|') || !clean_text(tag)) {
            snprintf(why, wl, "tag '%.100s' is not valid", tag);
            return CODE(ILLEGAL_MESSAGE_TAG);
        }
        ulen += strlen(tag);
        if (prop_add(&o->props, "TAGS", tag))
            goto oom;
    }
    if (sp->n_keys) {
        cm_buf_t keys;
        cm_buf_init(&keys);
        for (size_t i = 0; i < sp->n_keys; i++) {
            const char *k = sp->keys[i] ? sp->keys[i] : "";
            if (blank(k) || !clean_text(k)) {
                cm_buf_free(&keys);
                snprintf(why, wl, "key '%.100s' is not valid", k);
                return CODE(ILLEGAL_MESSAGE_KEY);
            }
            if ((i && cm_buf_putc(&keys, ' ')) || cm_buf_puts(&keys, k)) {
                cm_buf_free(&keys);
                goto oom;
            }
        }
        ulen += keys.len;
        int rc = prop_add(&o->props, "KEYS", keys.data);
        cm_buf_free(&keys);
        if (rc)
            goto oom;
    }
    if (ulen > 16384) {
        snprintf(why, wl, "properties, tag and keys are over 16 KiB");
        return CODE(MESSAGE_PROPERTIES_TOO_LARGE);
    }
    if (prop_add(&o->props, "UNIQ_KEY", o->uniq) || prop_add(&o->props, "PGROUP", o->topic))
        goto oom;
    o->group = NULL;
    if (sp->_message_group_case) {
        const char *mg = sp->message_group ? sp->message_group : "";
        if (blank(mg) || strlen(mg) >= 64 || !clean_text(mg)) {
            snprintf(why, wl, "message group '%.100s' is not valid", mg);
            return CODE(ILLEGAL_MESSAGE_GROUP);
        }
        if (sp->_delivery_timestamp_case) {
            snprintf(why, wl, "a FIFO message cannot have a delivery time");
            return CODE(MESSAGE_PROPERTY_CONFLICT_WITH_TYPE);
        }
        o->group = mg;
        if (prop_add(&o->props, "__SHARDINGKEY", mg))
            goto oom;
    }
    if (o->tx) {
        /* a half message (spec 3.4): TRAN_MSG and the prepared flag; PGROUP (the topic) above is
         * the producer group EndTransaction and the check-back use */
        if (sp->_delivery_timestamp_case) {
            snprintf(why, wl, "a transaction message cannot have a delivery time");
            return CODE(MESSAGE_PROPERTY_CONFLICT_WITH_TYPE);
        }
        if (prop_add(&o->props, "TRAN_MSG", "true"))
            goto oom;
        if (sp->_orphaned_transaction_recovery_duration_case && sp->orphaned_transaction_recovery_duration) {
            int64_t sec = sp->orphaned_transaction_recovery_duration->seconds;
            char v[32];
            sec = sec < 0 ? 0 : sec > 3600 ? 3600 : sec;  /* Apache: at most an hour */
            o->immunityMs = sec * 1000;
            snprintf(v, sizeof v, "%lld", (long long)sec);
            if (prop_add(&o->props, "CHECK_IMMUNITY_TIME_IN_SECONDS", v))
                goto oom;
        }
    }
    if (sp->_delivery_timestamp_case && sp->delivery_timestamp) {
        int64_t due = sp->delivery_timestamp->seconds * 1000 + sp->delivery_timestamp->nanos / 1000000;
        if (sp->delivery_timestamp->seconds < 0 || sp->delivery_timestamp->seconds > (1LL << 40) ||
            due - now > MAX_DELAY_MS) {
            snprintf(why, wl, "delivery time is more than a day ahead");
            return CODE(ILLEGAL_DELIVERY_TIME);
        }
        if (due > now) {
            char v[32];
            snprintf(v, sizeof v, "%lld", (long long)due);
            if (prop_add(&o->props, "TIMER_DELIVER_MS", v))
                goto oom;
        }
    }
    if (sp->_trace_context_case && sp->trace_context && sp->trace_context[0] && clean_text(sp->trace_context) &&
        prop_add(&o->props, "TRACE_CONTEXT", sp->trace_context))
        goto oom;
    if (sp->born_host && sp->born_host[0] && clean_text(sp->born_host) && strlen(sp->born_host) < 256 &&
        prop_add(&o->props, "__BORNHOST", sp->born_host))
        goto oom;
    o->born = now;
    if (sp->born_timestamp && sp->born_timestamp->seconds > 0 && sp->born_timestamp->seconds < (1LL << 40))
        o->born = sp->born_timestamp->seconds * 1000 + sp->born_timestamp->nanos / 1000000;
    char bt[32];
    snprintf(bt, sizeof bt, "%lld", (long long)o->born);
    if (prop_add(&o->props, "BORN_TIMESTAMP", bt))
        goto oom;
    o->sysFlag = sp->body_encoding == APACHE__ROCKETMQ__V2__ENCODING__GZIP ? 0x1 : 0;
    if (o->tx)
        o->sysFlag |= ST_SYSFLAG_TX_PREPARED;
    return 0;
oom:
    snprintf(why, wl, "out of memory");
    return CODE(INTERNAL_SERVER_ERROR);
}

/* The message type a message's fields make (§3.4 step 4). */
static const char *derived_type(const send_one_t *o, const V2(Message) *m)
{
    if (o->tx)
        return "TRANSACTION";
    if (o->group)
        return "FIFO";
    if (m->system_properties->_delivery_timestamp_case)
        return "DELAY";
    return "NORMAL";
}

/* Java's String.hashCode over the group's bytes (ASCII groups: the same number). */
static int32_t java_hash(const char *s)
{
    uint32_t h = 0;
    for (; *s; s++)
        h = 31 * h + (unsigned char)*s;
    return (int32_t)h;
}

typedef struct send_job {
    br_grpcsvc_t *g;
    gp_call_t *call;
    size_t n, pending;
    V2(SendResultEntry) *e;
    V2(Status) *st;             /* e[i].status = &st[i] */
    char **msgs;                /* per entry: status message (owned) */
    int64_t *txImmunity;        /* per entry: -1, or a half message's immunity (ms) */
    char *topic;                /* every message's */
} send_job_t;

typedef struct send_ctx { send_job_t *job; size_t i; } send_ctx_t;

static void send_job_answer(send_job_t *j)
{
    if (!gp_call_finished(j->call)) {
        V2(SendResultEntry) **ep = calloc(j->n, sizeof *ep);
        if (!ep) {
            gp_call_finish(j->call, GP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        } else {
            int common = 0, same = 1;
            for (size_t i = 0; i < j->n; i++) {
                ep[i] = &j->e[i];
                if (i == 0)
                    common = j->e[i].status->code;
                else if ((int)j->e[i].status->code != common)
                    same = 0;
            }
            V2(Status) st = APACHE__ROCKETMQ__V2__STATUS__INIT;
            st.code = same ? common : CODE(MULTIPLE_RESULTS);
            st.message = same && j->e[0].status->message ? j->e[0].status->message : "";
            V2(SendMessageResponse) r = APACHE__ROCKETMQ__V2__SEND_MESSAGE_RESPONSE__INIT;
            r.status = &st;
            r.n_entries = j->n;
            r.entries = ep;
            gs_send_msg(j->call, &r.base);
            gp_call_finish(j->call, GP_STATUS_OK, NULL);
        }
        free(ep);
    }
    gp_call_unref(j->call);
    for (size_t i = 0; i < j->n; i++) {
        free(j->msgs[i]);
        free(j->e[i].message_id);
    }
    free(j->st);
    free(j->msgs);
    free(j->txImmunity);
    free(j->topic);
    free(j->e);
    free(j);
}

static void entry_set(send_job_t *j, size_t i, int code, const char *msg)
{
    j->e[i].status->code = code;
    free(j->msgs[i]);
    j->msgs[i] = cm_strdup(msg ? msg : "");
    j->e[i].status->message = j->msgs[i] ? j->msgs[i] : "";
}

static int code_of_remoting(int rc)
{
    switch (rc) {
    case RC_SUCCESS: return CODE(OK);
    case RC_FLUSH_DISK_TIMEOUT: return CODE(MASTER_PERSISTENCE_TIMEOUT);
    case RC_FLUSH_SLAVE_TIMEOUT: return CODE(SLAVE_PERSISTENCE_TIMEOUT);
    case RC_SLAVE_NOT_AVAILABLE: return CODE(HA_NOT_AVAILABLE);
    case RC_SYSTEM_BUSY: return CODE(TOO_MANY_REQUESTS);
    case RC_TOPIC_NOT_EXIST: return CODE(TOPIC_NOT_FOUND);
    case RC_NO_PERMISSION: return CODE(FORBIDDEN);
    case RC_MESSAGE_ILLEGAL: return CODE(BAD_REQUEST);
    default: return CODE(INTERNAL_SERVER_ERROR);
    }
}

/* A half message stored: its transaction id is its message id (UNIQ_KEY, as Apache's), and its
 * place (the offset message id's commit-log offset, the half queue's offset) is remembered for
 * EndTransaction. */
static void tx_sent(send_job_t *j, size_t i, const rm_cmd_t *resp, int64_t tso)
{
    const char *mid = rm_ext_get(resp, "msgId");
    uint32_t ip;
    int32_t port;
    int64_t phy;
    j->e[i].transaction_id = j->e[i].message_id;
    if (!mid || st_msg_id_decode(mid, strlen(mid), &ip, &port, &phy) != ST_OK) {
        LOG_W("grpc", "transaction %s: the send answer names no commit-log offset; only its check can end it",
              j->e[i].message_id);
        return;
    }
    gs_tx_remember(j->g, j->topic, j->e[i].message_id, phy, tso, j->txImmunity[i]);
}

static void on_sent(int status, rm_cmd_t *resp, void *arg)
{
    send_ctx_t *sc = arg;
    send_job_t *j = sc->job;
    size_t i = sc->i;
    free(sc);
    if (status != RM_OK || !resp) {
        entry_set(j, i, status == RM_ETIMEOUT ? CODE(PROXY_TIMEOUT) : CODE(INTERNAL_SERVER_ERROR),
                  status == RM_ETIMEOUT ? "the broker did not answer in time" : "the broker's send path is not reachable");
    } else {
        int code = code_of_remoting(resp->code);
        entry_set(j, i, code, code == CODE(OK) ? "OK" : (resp->remark ? resp->remark : "send failed"));
        int64_t off;
        if (rm_ext_i64(resp, "queueOffset", &off) == 0)
            j->e[i].offset = off;
        if (code == CODE(OK) && j->txImmunity[i] >= 0)
            tx_sent(j, i, resp, off);
    }
    if (--j->pending == 0)
        send_job_answer(j);
}

static void self_closed(rm_conn_t *c, void *ctx)
{
    br_grpcsvc_t *g = ctx;
    if (g && g->self == c)
        g->self = NULL;
}

rm_conn_t *gs_self_conn(br_grpcsvc_t *g)
{
    if (g->self && !rm_conn_is_closed(g->self))
        return g->self;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", g->b->cfg.listenPort);
    g->self = NULL;
    if (rm_conn_connect(g->b->loop, addr, &g->self_ep, &g->self) != 0)
        g->self = NULL;
    return g->self;
}

static void handle_send(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    br_grpcsvc_t *g = ctx;
    V2(SendMessageRequest) *req = apache__rocketmq__v2__send_message_request__unpack(NULL, len, msg);
    if (!req) {
        gp_call_finish(call, GP_STATUS_INVALID_ARGUMENT, "SendMessageRequest does not decode");
        return;
    }
    if (!gs_client_id(call)) {
        gs_answer_status(call, CODE(CLIENT_ID_REQUIRED), "x-mq-client-id is required");
        goto out;
    }
    if (gs_acl_refused(call, g))
        goto out;
    if (req->n_messages == 0 || req->n_messages > 1024) {
        gs_answer_status(call, CODE(MESSAGE_CORRUPTED), req->n_messages ? "more than 1024 messages" : "no message");
        goto out;
    }
    for (size_t i = 1; i < req->n_messages; i++) {
        const char *a = req->messages[0]->topic && req->messages[0]->topic->name ? req->messages[0]->topic->name : "";
        const char *b = req->messages[i]->topic && req->messages[i]->topic->name ? req->messages[i]->topic->name : "";
        if (strcmp(a, b) != 0) {
            gs_answer_status(call, CODE(MESSAGE_CORRUPTED), "the messages of one send must share their topic");
            goto out;
        }
    }
    send_job_t *j = calloc(1, sizeof *j);
    const char *topic0 = req->messages[0]->topic && req->messages[0]->topic->name ? req->messages[0]->topic->name : "";
    if (!j || !(j->e = calloc(req->n_messages, sizeof *j->e)) || !(j->msgs = calloc(req->n_messages, sizeof *j->msgs)) ||
        !(j->st = calloc(req->n_messages, sizeof *j->st)) ||
        !(j->txImmunity = malloc(req->n_messages * sizeof *j->txImmunity)) || !(j->topic = cm_strdup(topic0))) {
        if (j) {
            free(j->e);
            free(j->msgs);
            free(j->st);
            free(j->txImmunity);
        }
        free(j);
        gp_call_finish(call, GP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    j->g = g;
    j->call = call;
    gp_call_ref(call);
    j->n = req->n_messages;
    j->pending = 1;     /* held until every send below is on its way */
    int64_t now = cm_now_ms();
    for (size_t i = 0; i < j->n; i++) {
        V2(SendResultEntry) e0 = APACHE__ROCKETMQ__V2__SEND_RESULT_ENTRY__INIT;
        V2(Status) s0 = APACHE__ROCKETMQ__V2__STATUS__INIT;
        j->e[i] = e0;
        j->st[i] = s0;
        j->e[i].status = &j->st[i];
        j->txImmunity[i] = -1;
    }
    for (size_t i = 0; i < j->n; i++) {
        const V2(Message) *m = req->messages[i];
        send_one_t o;
        char why[256] = "";
        int code = build_message(m, g ? g->b->cfg.maxMessageSize : 4 << 20, now, &o, why, sizeof why);
        j->e[i].message_id = cm_strdup(code == 0 ? o.uniq : "");
        if (code == 0 && !g) {
            code = CODE(INTERNAL_SERVER_ERROR);
            snprintf(why, sizeof why, "no broker");
        }
        br_topic_t *t = NULL;
        if (code == 0 && !(t = br_topics_get(&g->b->topics, o.topic))) {
            code = CODE(TOPIC_NOT_FOUND);
            snprintf(why, sizeof why, "topic '%s' does not exist (topics are not created over gRPC)", o.topic);
        }
        if (code == 0) {
            V2(MessageType) types[4];
            size_t nt = topic_types(t, types);
            const char *dt = derived_type(&o, m);
            int ok = nt > 1;
            for (size_t k = 0; !ok && k < nt; k++)
                ok = (types[k] == APACHE__ROCKETMQ__V2__MESSAGE_TYPE__FIFO && strcmp(dt, "FIFO") == 0) ||
                     (types[k] == APACHE__ROCKETMQ__V2__MESSAGE_TYPE__DELAY && strcmp(dt, "DELAY") == 0) ||
                     (types[k] == APACHE__ROCKETMQ__V2__MESSAGE_TYPE__NORMAL && strcmp(dt, "NORMAL") == 0) ||
                     (types[k] == APACHE__ROCKETMQ__V2__MESSAGE_TYPE__TRANSACTION && strcmp(dt, "TRANSACTION") == 0);
            if (!ok) {
                code = CODE(MESSAGE_PROPERTY_CONFLICT_WITH_TYPE);
                snprintf(why, sizeof why, "a %s message does not fit topic %s's message.type", dt, o.topic);
            }
        }
        rm_conn_t *self = code == 0 ? gs_self_conn(g) : NULL;
        if (code == 0 && !self) {
            code = CODE(INTERNAL_SERVER_ERROR);
            snprintf(why, sizeof why, "the broker's send path is not reachable");
        }
        if (code != 0) {
            entry_set(j, i, code, why);
            cm_buf_free(&o.props);
            continue;
        }
        if (o.tx)
            j->txImmunity[i] = o.immunityMs;
        /* queue: the message group's hash (one queue per group keeps FIFO order), else round
         * robin; the client's queue_id is ignored as Apache does (Node always sends 0) */
        int nq = t->writeQueueNums > 0 ? t->writeQueueNums : 1;
        int qid = o.group ? (int)(((int64_t)java_hash(o.group) % nq + nq) % nq) : (int)(g->rr++ % (unsigned)nq);
        rm_cmd_t r;
        rm_cmd_init(&r, 310);   /* SEND_MESSAGE_V2 */
        char num[32];
        rm_ext_add(&r, "a", o.topic);
        rm_ext_add(&r, "b", o.topic);
        rm_ext_add(&r, "c", "TBW102");
        rm_ext_add(&r, "d", "4");
        snprintf(num, sizeof num, "%d", qid);
        rm_ext_add(&r, "e", num);
        snprintf(num, sizeof num, "%d", o.sysFlag);
        rm_ext_add(&r, "f", num);
        snprintf(num, sizeof num, "%lld", (long long)o.born);
        rm_ext_add(&r, "g", num);
        rm_ext_add(&r, "h", "0");
        rm_ext_add(&r, "i", o.props.data ? o.props.data : "");
        rm_ext_add(&r, "j", "0");
        rm_ext_add(&r, "k", "false");
        r.body = m->body.data;
        r.body_len = m->body.len;
        br_sign_out(g->b, &r);
        send_ctx_t *sc = malloc(sizeof *sc);
        uint64_t timeout = SEND_TIMEOUT_MS;
        if (gp_call_deadline(call)) {
            uint64_t nowl = uv_now(g->b->loop), dl = gp_call_deadline(call);
            timeout = dl > nowl ? dl - nowl : 1;
            if (timeout > 60000)
                timeout = 60000;
        }
        if (sc) {
            sc->job = j;
            sc->i = i;
            j->pending++;
            if (rm_conn_invoke(self, &r, timeout, on_sent, sc) != 0) {
                /* rm_conn_invoke calls nothing on failure: count it here */
                j->pending--;
                free(sc);
                entry_set(j, i, CODE(INTERNAL_SERVER_ERROR), "the broker's send path is not reachable");
            }
        } else {
            entry_set(j, i, CODE(INTERNAL_SERVER_ERROR), "out of memory");
        }
        rm_cmd_free(&r);
        cm_buf_free(&o.props);
    }
    if (--j->pending == 0)
        send_job_answer(j);
out:
    apache__rocketmq__v2__send_message_request__free_unpacked(req, NULL);
}

/* ---- QueryAssignment (§3.5, push consumers) ----
 * No rebalancing between consumers: every consumer of a group gets the same assignments and POP
 * shares the messages. One assignment with queue id -1 (every read queue of this broker), or,
 * for a consumeMessageOrderly group, one per read queue. */
static void handle_query_assignment(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    br_grpcsvc_t *g = ctx;
    V2(QueryAssignmentRequest) *req = apache__rocketmq__v2__query_assignment_request__unpack(NULL, len, msg);
    if (!req) {
        gp_call_finish(call, GP_STATUS_INVALID_ARGUMENT, "QueryAssignmentRequest does not decode");
        return;
    }
    const char *name = req->topic && req->topic->name ? req->topic->name : "";
    const char *group = req->group && req->group->name ? req->group->name : "";
    char why[256];
    br_topic_t *t = NULL;
    if (!gs_client_id(call)) {
        gs_answer_status(call, CODE(CLIENT_ID_REQUIRED), "x-mq-client-id is required");
    } else if (gs_acl_refused(call, g)) {
        /* answered */
    } else if (br_topic_name_error(name) || br_topic_is_system_forbidden(name)) {
        snprintf(why, sizeof why, "topic name '%.150s' is not valid", name);
        gs_answer_status(call, CODE(ILLEGAL_TOPIC), why);
    } else if (!group[0] || strlen(group) > 255) {
        gs_answer_status(call, CODE(ILLEGAL_CONSUMER_GROUP), "the consumer group name is not valid");
    } else if (!g) {
        gs_answer_status(call, CODE(INTERNAL_SERVER_ERROR), "no broker");
    } else if (!(t = br_topics_get(&g->b->topics, name))) {
        snprintf(why, sizeof why, "topic '%s' does not exist", name);
        gs_answer_status(call, CODE(TOPIC_NOT_FOUND), why);
    } else {
        br_broker_t *b = g->b;
        int perm = t->perm & b->cfg.brokerPermission;
        int r = (perm & PERM_READ) ? t->readQueueNums : 0;
        if (r <= 0) {
            gs_answer_status(call, CODE(FORBIDDEN), "no readable queue");
            goto out;
        }
        if (r > 1024)
            r = 1024;
        br_group_t *grp = br_groups_get(&b->groups, group);
        int n = grp && grp->consumeMessageOrderly ? r : 1;
        V2(Resource) topic = APACHE__ROCKETMQ__V2__RESOURCE__INIT;
        topic.name = (char *)name;
        topic.resource_namespace = req->topic->resource_namespace ? req->topic->resource_namespace : "";
        V2(Address) addr = APACHE__ROCKETMQ__V2__ADDRESS__INIT, *addrs[1] = {&addr};
        addr.host = g->endpoint_host;
        addr.port = g->port;
        V2(Endpoints) ep = APACHE__ROCKETMQ__V2__ENDPOINTS__INIT;
        ep.scheme = APACHE__ROCKETMQ__V2__ADDRESS_SCHEME__IPv4;
        ep.n_addresses = 1;
        ep.addresses = addrs;
        V2(Broker) br = APACHE__ROCKETMQ__V2__BROKER__INIT;
        br.name = b->cfg.brokerName;
        br.id = (int32_t)b->cfg.brokerId;
        br.endpoints = &ep;
        V2(MessageQueue) *qs = calloc((size_t)n, sizeof *qs);
        V2(Assignment) *as = calloc((size_t)n, sizeof *as);
        V2(Assignment) **ap = calloc((size_t)n, sizeof *ap);
        if (!qs || !as || !ap) {
            free(qs);
            free(as);
            free(ap);
            gp_call_finish(call, GP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            goto out;
        }
        for (int i = 0; i < n; i++) {
            V2(MessageQueue) q = APACHE__ROCKETMQ__V2__MESSAGE_QUEUE__INIT;
            V2(Assignment) a = APACHE__ROCKETMQ__V2__ASSIGNMENT__INIT;
            q.topic = &topic;
            q.id = n == 1 && !(grp && grp->consumeMessageOrderly) ? -1 : i;
            q.broker = &br;
            q.permission = (perm & PERM_WRITE) ? APACHE__ROCKETMQ__V2__PERMISSION__READ_WRITE
                                               : APACHE__ROCKETMQ__V2__PERMISSION__READ;
            qs[i] = q;
            a.message_queue = &qs[i];
            as[i] = a;
            ap[i] = &as[i];
        }
        V2(Status) st = APACHE__ROCKETMQ__V2__STATUS__INIT;
        st.code = CODE(OK);
        st.message = "OK";
        V2(QueryAssignmentResponse) resp = APACHE__ROCKETMQ__V2__QUERY_ASSIGNMENT_RESPONSE__INIT;
        resp.status = &st;
        resp.n_assignments = (size_t)n;
        resp.assignments = ap;
        gs_send_msg(call, &resp.base);
        gp_call_finish(call, GP_STATUS_OK, NULL);
        free(qs);
        free(as);
        free(ap);
    }
out:
    apache__rocketmq__v2__query_assignment_request__free_unpacked(req, NULL);
}

/* ---- consumers: ReceiveMessage (§3.6), AckMessage (§3.7), ChangeInvisibleDuration (§3.8) ----
 * All three go through the core's POP hooks (pop_receive / pop_ack / pop_change); the receipt
 * handle a client gets is the POP handle itself (opaque to clients, §4.2). */

#define MIN_INVISIBLE_MS 10000LL            /* §3.6: invisible_duration in [10 s, 12 h] */
#define MAX_INVISIBLE_MS (12LL * 3600 * 1000)
#define AUTO_RENEW_INVISIBLE_MS 60000LL     /* Apache's defaultInvisibleTimeMills */
#define MIN_POLL_MS 5000LL                  /* grpcClientConsumerMin/MaxLongPollingTimeoutMillis */
#define MAX_POLL_MS 20000LL
#define POLL_MARGIN_MS 200LL                /* answer this long before the client's deadline */
#define MAX_INFLATED (64u << 20)

static int64_t duration_ms(const Google__Protobuf__Duration *d)
{
    if (!d)
        return 0;
    if (d->seconds > 100LL * 365 * 86400 || d->seconds < -100LL * 365 * 86400)
        return d->seconds < 0 ? INT64_MIN / 2 : INT64_MAX / 2;
    return d->seconds * 1000 + d->nanos / 1000000;
}

static void ts_set(Google__Protobuf__Timestamp *t, int64_t ms)
{
    Google__Protobuf__Timestamp z = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    *t = z;
    t->seconds = ms / 1000;
    t->nanos = (int32_t)(ms % 1000) * 1000000;
}

/* 4.x properties that are not user properties (spec §5.1's reserved set) */
static int reserved_prop(const char *k, size_t n)
{
    static const char *const r[] = {
        "KEYS", "TAGS", "WAIT", "DELAY", "RETRY_TOPIC", "REAL_TOPIC", "REAL_QID", "TRAN_MSG", "PGROUP",
        "MIN_OFFSET", "MAX_OFFSET", "BUYER_ID", "ORIGIN_MESSAGE_ID", "TRANSFER_FLAG", "CORRECTION_FLAG",
        "MQ2_FLAG", "RECONSUME_TIME", "UNIQ_KEY", "MAX_RECONSUME_TIMES", "CONSUME_START_TIME", "POP_CK",
        "POP_CK_OFFSET", "1ST_POP_TIME", "TRAN_PREPARED_QUEUE_OFFSET", "DUP_INFO", "EXTEND_UNIQ_INFO",
        "INSTANCE_ID", "CORRELATION_ID", "REPLY_TO_CLIENT", "TTL", "ARRIVE_TIME", "PUSH_REPLY_TIME", "CLUSTER",
        "MSG_TYPE", "INNER_MULTI_QUEUE_OFFSET", "__BORNHOST", "BORN_TIMESTAMP", "__CRC32#", "TRACE_ON",
        "MSG_REGION", "__SHARDINGKEY", "TRACE_CONTEXT"};
    if (n >= 6 && memcmp(k, "TIMER_", 6) == 0)
        return 1;
    if (n >= 11 && memcmp(k, "DLQ_ORIGIN_", 11) == 0)
        return 1;
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (strlen(r[i]) == n && memcmp(r[i], k, n) == 0)
            return 1;
    return 0;
}

/* A property as a NUL-terminated copy in arena (NULL if absent). */
static char *prop_dup(const st_record_t *r, const char *name)
{
    const char *v;
    size_t n;
    if (st_props_get(r->properties, r->propertiesLen, name, &v, &n) != 0)
        return NULL;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, v, n);
        s[n] = 0;
    }
    return s;
}

void gs_out_msg_free(gs_out_msg_t *o)
{
    if (o->ue)
        for (size_t i = 0; i < o->m.n_user_properties; i++) {
            free(o->ue[i].key);
            free(o->ue[i].value);
        }
    free(o->ue);
    free(o->up);
    free(o->tag);
    free(o->keys);
    free(o->keyv);
    free(o->uniq);
    free(o->group);
    free(o->trace);
    free(o->bornhost);
    free(o->timer);
    free(o->handle);
    free(o->inflated);
}

static void host_str(char *out, size_t n, const uint8_t *ip, int v6, int32_t port)
{
    if (v6)
        snprintf(out, n, "[%x:%x:%x:%x:%x:%x:%x:%x]:%d", ip[0] << 8 | ip[1], ip[2] << 8 | ip[3], ip[4] << 8 | ip[5],
                 ip[6] << 8 | ip[7], ip[8] << 8 | ip[9], ip[10] << 8 | ip[11], ip[12] << 8 | ip[13],
                 ip[14] << 8 | ip[15], (int)port);
    else
        snprintf(out, n, "%u.%u.%u.%u:%d", ip[0], ip[1], ip[2], ip[3], (int)port);
}

/* 0, or -1 when the record does not decode (the message is skipped). */
int gs_out_msg_build(gs_out_msg_t *o, const br_pop_msg_t *pm, const char *topic, int64_t invisibleMs)
{
    st_record_t r;
    memset(o, 0, sizeof *o);
    if (st_record_decode(pm->rec, pm->len, 0, &r) != ST_OK)
        return -1;
    V2(Message) m0 = APACHE__ROCKETMQ__V2__MESSAGE__INIT;
    V2(SystemProperties) sp0 = APACHE__ROCKETMQ__V2__SYSTEM_PROPERTIES__INIT;
    V2(Resource) t0 = APACHE__ROCKETMQ__V2__RESOURCE__INIT;
    V2(Digest) d0 = APACHE__ROCKETMQ__V2__DIGEST__INIT;
    Google__Protobuf__Duration du0 = GOOGLE__PROTOBUF__DURATION__INIT;
    o->m = m0;
    o->sp = sp0;
    o->topic = t0;
    o->digest = d0;
    o->invisible = du0;
    o->topic.name = (char *)topic;
    o->topic.resource_namespace = "";
    o->m.topic = &o->topic;
    o->m.system_properties = &o->sp;

    /* body: 4.x compressed bodies (zlib) are inflated (§5.1) */
    const uint8_t *body = r.body;
    size_t blen = r.bodyLen;
    if ((r.sysFlag & 1) && blen > 0) {
        uLongf cap = blen * 4 > 4096 ? blen * 4 : 4096;
        for (;;) {
            if (cap > MAX_INFLATED)
                break;
            uint8_t *p = malloc(cap);
            if (!p)
                break;
            uLongf got = cap;
            int zr = uncompress(p, &got, r.body, blen);
            if (zr == Z_OK) {
                o->inflated = p;
                body = p;
                blen = got;
                break;
            }
            free(p);
            if (zr != Z_BUF_ERROR)
                break;
            cap *= 4;
        }
    }
    o->m.body.data = (uint8_t *)body;
    o->m.body.len = blen;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_Digest(body, blen, md, &mdlen, EVP_md5(), NULL);
    for (unsigned i = 0; i < mdlen && i < 16; i++)
        snprintf(o->md5 + 2 * i, 3, "%02X", md[i]);
    o->digest.type = APACHE__ROCKETMQ__V2__DIGEST_TYPE__MD5;
    o->digest.checksum = o->md5;
    o->sp.body_digest = &o->digest;
    o->sp.body_encoding = APACHE__ROCKETMQ__V2__ENCODING__IDENTITY;

    if ((o->tag = prop_dup(&r, "TAGS"))) {
        o->sp._tag_case = APACHE__ROCKETMQ__V2__SYSTEM_PROPERTIES___TAG_TAG;
        o->sp.tag = o->tag;
    }
    if ((o->keys = prop_dup(&r, "KEYS"))) {
        size_t nk = 1;
        for (char *p = o->keys; *p; p++)
            nk += *p == ' ';
        if ((o->keyv = calloc(nk, sizeof *o->keyv))) {
            size_t k = 0;
            for (char *save = NULL, *t = strtok_r(o->keys, " ", &save); t && k < nk; t = strtok_r(NULL, " ", &save))
                o->keyv[k++] = t;
            o->sp.n_keys = k;
            o->sp.keys = o->keyv;
        }
    }
    uint32_t sip = (uint32_t)r.storeHost[0] << 24 | (uint32_t)r.storeHost[1] << 16 | (uint32_t)r.storeHost[2] << 8 |
                   r.storeHost[3];
    st_msg_id_encode(sip, r.storePort, r.physicOffset, o->msgid);
    o->uniq = prop_dup(&r, "UNIQ_KEY");
    o->sp.message_id = o->uniq ? o->uniq : o->msgid;
    /* type (§5.1 derived) */
    char *tran = prop_dup(&r, "TRAN_MSG"), *delay = prop_dup(&r, "DELAY"), *tsec = prop_dup(&r, "TIMER_DELAY_SEC");
    o->timer = prop_dup(&r, "TIMER_DELIVER_MS");
    o->group = prop_dup(&r, "__SHARDINGKEY");
    if (tran && strcmp(tran, "true") == 0)
        o->sp.message_type = APACHE__ROCKETMQ__V2__MESSAGE_TYPE__TRANSACTION;
    else if ((delay && strcmp(delay, "0") != 0) || o->timer || tsec)
        o->sp.message_type = APACHE__ROCKETMQ__V2__MESSAGE_TYPE__DELAY;
    else if (o->group)
        o->sp.message_type = APACHE__ROCKETMQ__V2__MESSAGE_TYPE__FIFO;
    else
        o->sp.message_type = APACHE__ROCKETMQ__V2__MESSAGE_TYPE__NORMAL;
    free(tran);
    free(delay);
    free(tsec);
    if (o->timer) {
        ts_set(&o->deliver, strtoll(o->timer, NULL, 10));
        o->sp._delivery_timestamp_case = APACHE__ROCKETMQ__V2__SYSTEM_PROPERTIES___DELIVERY_TIMESTAMP_DELIVERY_TIMESTAMP;
        o->sp.delivery_timestamp = &o->deliver;
    }
    if (o->group) {
        o->sp._message_group_case = APACHE__ROCKETMQ__V2__SYSTEM_PROPERTIES___MESSAGE_GROUP_MESSAGE_GROUP;
        o->sp.message_group = o->group;
    }
    if ((o->trace = prop_dup(&r, "TRACE_CONTEXT"))) {
        o->sp._trace_context_case = APACHE__ROCKETMQ__V2__SYSTEM_PROPERTIES___TRACE_CONTEXT_TRACE_CONTEXT;
        o->sp.trace_context = o->trace;
    }
    ts_set(&o->born, r.bornTimestamp);
    o->sp.born_timestamp = &o->born;
    host_str(o->bornaddr, sizeof o->bornaddr, r.bornHost, (r.sysFlag & (1 << 4)) != 0, r.bornPort);
    o->bornhost = prop_dup(&r, "__BORNHOST");
    o->sp.born_host = o->bornhost ? o->bornhost : o->bornaddr;
    ts_set(&o->store, r.storeTimestamp);
    o->sp._store_timestamp_case = APACHE__ROCKETMQ__V2__SYSTEM_PROPERTIES___STORE_TIMESTAMP_STORE_TIMESTAMP;
    o->sp.store_timestamp = &o->store;
    host_str(o->storehost, sizeof o->storehost, r.storeHost, (r.sysFlag & (1 << 5)) != 0, r.storePort);
    o->sp.store_host = o->storehost;
    o->handle = cm_strdup(pm->handle ? pm->handle : "");
    o->sp._receipt_handle_case = APACHE__ROCKETMQ__V2__SYSTEM_PROPERTIES___RECEIPT_HANDLE_RECEIPT_HANDLE;
    o->sp.receipt_handle = o->handle ? o->handle : "";
    o->sp.queue_id = pm->queueId;
    o->sp._queue_offset_case = APACHE__ROCKETMQ__V2__SYSTEM_PROPERTIES___QUEUE_OFFSET_QUEUE_OFFSET;
    o->sp.queue_offset = pm->queueOffset;
    o->invisible.seconds = invisibleMs / 1000;
    o->invisible.nanos = (int32_t)(invisibleMs % 1000) * 1000000;
    o->sp._invisible_duration_case = APACHE__ROCKETMQ__V2__SYSTEM_PROPERTIES___INVISIBLE_DURATION_INVISIBLE_DURATION;
    o->sp.invisible_duration = &o->invisible;
    o->sp._delivery_attempt_case = APACHE__ROCKETMQ__V2__SYSTEM_PROPERTIES___DELIVERY_ATTEMPT_DELIVERY_ATTEMPT;
    o->sp.delivery_attempt = pm->reconsumeTimes + 1;

    /* user properties: every property outside the reserved set */
    size_t np = 0;
    for (uint32_t i = 0; i < r.propertiesLen; i++)
        np += r.properties[i] == 1;
    if (np) {
        o->ue = calloc(np, sizeof *o->ue);
        o->up = calloc(np, sizeof *o->up);
        if (!o->ue || !o->up)
            return 0;
        const char *p = r.properties, *end = r.properties + r.propertiesLen;
        while (p < end && o->m.n_user_properties < np) {
            const char *sep = memchr(p, 1, (size_t)(end - p));
            if (!sep)
                break;
            const char *ve = memchr(sep + 1, 2, (size_t)(end - sep - 1));
            if (!ve)
                ve = end;
            size_t kl = (size_t)(sep - p), vl = (size_t)(ve - sep - 1);
            if (kl && vl && !reserved_prop(p, kl)) {
                V2(Message__UserPropertiesEntry) e0 = APACHE__ROCKETMQ__V2__MESSAGE__USER_PROPERTIES_ENTRY__INIT;
                V2(Message__UserPropertiesEntry) *e = &o->ue[o->m.n_user_properties];
                *e = e0;
                e->key = malloc(kl + 1);
                e->value = malloc(vl + 1);
                if (!e->key || !e->value) {
                    free(e->key);
                    free(e->value);
                    e->key = e->value = NULL;
                    break;
                }
                memcpy(e->key, p, kl);
                e->key[kl] = 0;
                memcpy(e->value, sep + 1, vl);
                e->value[vl] = 0;
                o->up[o->m.n_user_properties++] = e;
            }
            p = ve + 1;
        }
        o->m.user_properties = o->up;
    }
    return 0;
}

typedef struct recv_job {
    br_broker_t *b;
    gp_call_t *call;
    char *group, *topic;
    char *tags;                 /* a TAG filter other than "*", to re-check exactly; else NULL */
} recv_job_t;

/* POP compares tag hash codes only ("Aa" and "BB" collide): a record's exact TAGS must be one
 * of the filter's "a || b" tags (§3.6); records without the tag do not match. */
static int tag_matches(const char *filter, const uint8_t *rec, uint32_t len)
{
    st_record_t r;
    const char *v;
    size_t n;
    if (st_record_decode(rec, len, 0, &r) != ST_OK)
        return 1;   /* out_msg_build skips it */
    if (st_props_get(r.properties, r.propertiesLen, "TAGS", &v, &n) != 0)
        return 0;
    for (const char *p = filter; *p;) {
        const char *e = strstr(p, "||");
        const char *end = e ? e : p + strlen(p), *a = p;
        while (a < end && (*a == ' ' || *a == '\t'))
            a++;
        const char *z = end;
        while (z > a && (z[-1] == ' ' || z[-1] == '\t'))
            z--;
        if ((size_t)(z - a) == n && memcmp(a, v, n) == 0)
            return 1;
        if (!e)
            break;
        p = e + 2;
    }
    return 0;
}

static void recv_answer_status(gp_call_t *call, int code, const char *msg)
{
    V2(Status) st = APACHE__ROCKETMQ__V2__STATUS__INIT;
    st.code = code;
    st.message = (char *)(msg ? msg : "");
    V2(ReceiveMessageResponse) r = APACHE__ROCKETMQ__V2__RECEIVE_MESSAGE_RESPONSE__INIT;
    r.content_case = APACHE__ROCKETMQ__V2__RECEIVE_MESSAGE_RESPONSE__CONTENT_STATUS;
    r.status = &st;
    gs_send_msg(call, &r.base);
}

static void recv_answer_end(gp_call_t *call)
{
    Google__Protobuf__Timestamp ts;
    ts_set(&ts, cm_now_ms());
    V2(ReceiveMessageResponse) r = APACHE__ROCKETMQ__V2__RECEIVE_MESSAGE_RESPONSE__INIT;
    r.content_case = APACHE__ROCKETMQ__V2__RECEIVE_MESSAGE_RESPONSE__CONTENT_DELIVERY_TIMESTAMP;
    r.delivery_timestamp = &ts;
    gs_send_msg(call, &r.base);
    gp_call_finish(call, GP_STATUS_OK, NULL);
}

/* The popped messages of a stream that is gone become visible again soon (§3.6: "if writing a
 * message to the stream fails, its invisibility is reset to 1 s"). */
static void recv_release(recv_job_t *j, const br_pop_msg_t *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (j->b->hooks.pop_change && msgs[i].handle) {
            char nh[320];
            j->b->hooks.pop_change(j->b, j->group, j->topic, msgs[i].handle, 1000, nh, sizeof nh);
        }
}

/* Ack (silently) the messages whose exact tag is not in the filter; how many are left. */
static size_t recv_filter(recv_job_t *j, const br_pop_msg_t *msgs, size_t n)
{
    size_t left = 0;
    for (size_t i = 0; i < n; i++) {
        if (tag_matches(j->tags, msgs[i].rec, msgs[i].len))
            left++;
        else if (j->b->hooks.pop_ack && msgs[i].handle)
            j->b->hooks.pop_ack(j->b, j->group, j->topic, msgs[i].handle);
    }
    return left;
}

static void on_popped(void *arg, int code, const char *remark, int64_t popTime, int64_t invisibleTime,
                      const br_pop_msg_t *msgs, size_t n)
{
    (void)popTime;
    recv_job_t *j = arg;
    gp_call_t *call = j->call;
    if (gp_call_finished(call)) {
        if (code == RC_SUCCESS)
            recv_release(j, msgs, n);
    } else if (code == RC_SUCCESS && n > 0 && j->tags && !recv_filter(j, msgs, n)) {
        /* every message was a tag hash collision: acked, nothing to deliver */
        recv_answer_status(call, CODE(MESSAGE_NOT_FOUND), "no new message");
        recv_answer_end(call);
    } else if (code == RC_SUCCESS && n > 0) {
        recv_answer_status(call, CODE(OK), "OK");
        for (size_t i = 0; i < n; i++) {
            gs_out_msg_t o;
            if (j->tags && !tag_matches(j->tags, msgs[i].rec, msgs[i].len))
                continue;
            if (gs_out_msg_build(&o, &msgs[i], j->topic, invisibleTime) == 0) {
                V2(ReceiveMessageResponse) r = APACHE__ROCKETMQ__V2__RECEIVE_MESSAGE_RESPONSE__INIT;
                r.content_case = APACHE__ROCKETMQ__V2__RECEIVE_MESSAGE_RESPONSE__CONTENT_MESSAGE;
                r.message = &o.m;
                gs_send_msg(call, &r.base);
            }
            gs_out_msg_free(&o);
        }
        recv_answer_end(call);
    } else {
        int st;
        const char *why = remark;
        switch (code) {
        case RC_SUCCESS: case RC_PULL_NOT_FOUND: case BR_RC_NO_MESSAGE: case BR_RC_POLLING_TIMEOUT:
            st = CODE(MESSAGE_NOT_FOUND);
            why = "no new message";
            break;
        case BR_RC_POLLING_FULL: st = CODE(TOO_MANY_REQUESTS); why = "polling full"; break;
        case RC_SUBSCRIPTION_PARSE_FAILED: st = CODE(ILLEGAL_FILTER_EXPRESSION); break;
        case RC_SERVICE_NOT_AVAILABLE: st = CODE(INTERNAL_SERVER_ERROR); break;
        default: st = CODE(INTERNAL_SERVER_ERROR); break;
        }
        recv_answer_status(call, st, why ? why : "receive failed");
        recv_answer_end(call);
    }
    gp_call_unref(call);
    free(j->group);
    free(j->topic);
    free(j->tags);
    free(j);
}

static void handle_receive(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    br_grpcsvc_t *g = ctx;
    V2(ReceiveMessageRequest) *req = apache__rocketmq__v2__receive_message_request__unpack(NULL, len, msg);
    if (!req) {
        gp_call_finish(call, GP_STATUS_INVALID_ARGUMENT, "ReceiveMessageRequest does not decode");
        return;
    }
    const char *group = req->group && req->group->name ? req->group->name : "";
    const char *topic = req->message_queue && req->message_queue->topic && req->message_queue->topic->name
                            ? req->message_queue->topic->name : "";
    char why[256];
    int code = 0;
    br_group_t *grp = NULL;
    int64_t invisible = 0, poll = MAX_POLL_MS;
    if (!gs_client_id(call)) {
        code = CODE(CLIENT_ID_REQUIRED);
        snprintf(why, sizeof why, "x-mq-client-id is required");
    } else if (g && g->b->cfg.aclEnable) {
        code = CODE(UNAUTHORIZED);
        snprintf(why, sizeof why, "access control (aclEnable) is not supported over gRPC yet");
    } else if (!group[0] || strlen(group) > 255) {
        code = CODE(ILLEGAL_CONSUMER_GROUP);
        snprintf(why, sizeof why, "the consumer group name is not valid");
    } else if (br_topic_name_error(topic)) {
        code = CODE(ILLEGAL_TOPIC);
        snprintf(why, sizeof why, "topic name '%.150s' is not valid", topic);
    } else if (!g || !g->b->hooks.pop_receive) {
        code = CODE(INTERNAL_SERVER_ERROR);
        snprintf(why, sizeof why, "POP consumption is not available on this broker");
    } else if (!br_topics_get(&g->b->topics, topic)) {
        code = CODE(TOPIC_NOT_FOUND);
        snprintf(why, sizeof why, "topic '%.150s' does not exist", topic);
    } else if (req->batch_size <= 0) {
        code = CODE(BAD_REQUEST);
        snprintf(why, sizeof why, "batch_size must be positive");
    } else {
        grp = br_groups_get(&g->b->groups, group);
        if (req->auto_renew)
            invisible = AUTO_RENEW_INVISIBLE_MS;
        else if (!req->_invisible_duration_case) {
            code = CODE(ILLEGAL_INVISIBLE_TIME);
            snprintf(why, sizeof why, "invisible_duration is required");
        } else {
            invisible = duration_ms(req->invisible_duration);
            if (invisible < MIN_INVISIBLE_MS || invisible > MAX_INVISIBLE_MS) {
                code = CODE(ILLEGAL_INVISIBLE_TIME);
                snprintf(why, sizeof why, "invisible_duration must be in [10 s, 12 h]");
            }
        }
        if (!code) {
            if (req->_long_polling_timeout_case)
                poll = duration_ms(req->long_polling_timeout);
            poll = poll < MIN_POLL_MS ? MIN_POLL_MS : poll > MAX_POLL_MS ? MAX_POLL_MS : poll;
            uint64_t dl = gp_call_deadline(call), now = uv_now(g->b->loop);
            if (dl) {
                int64_t left = dl > now ? (int64_t)(dl - now) - POLL_MARGIN_MS : 0;
                if (poll > left) {
                    if (left >= MIN_POLL_MS) {
                        poll = left;
                    } else {
                        code = CODE(ILLEGAL_POLLING_TIME);
                        snprintf(why, sizeof why, "the call's deadline leaves less than 5 s of long polling");
                    }
                }
            }
        }
        if (!code && req->filter_expression && req->filter_expression->type == APACHE__ROCKETMQ__V2__FILTER_TYPE__SQL &&
            !g->b->cfg.enablePropertyFilter) {
            code = CODE(ILLEGAL_FILTER_EXPRESSION);
            snprintf(why, sizeof why, "SQL92 filtering is off on this broker (enablePropertyFilter=false)");
        }
    }
    if (code) {
        recv_answer_status(call, code, why);
        recv_answer_end(call);
        goto out;
    }
    recv_job_t *j = calloc(1, sizeof *j);
    if (!j || !(j->group = cm_strdup(group)) || !(j->topic = cm_strdup(topic))) {
        if (j) {
            free(j->group);
            free(j);
        }
        gp_call_finish(call, GP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    const V2(FilterExpression) *f = req->filter_expression;
    if (f && f->type != APACHE__ROCKETMQ__V2__FILTER_TYPE__SQL && f->expression && f->expression[0] &&
        strcmp(f->expression, "*") != 0 && !(j->tags = cm_strdup(f->expression))) {
        free(j->group);
        free(j->topic);
        free(j);
        gp_call_finish(call, GP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    j->b = g->b;
    j->call = call;
    gp_call_ref(call);
    br_pop_ask_t ask = {0};
    ask.group = j->group;
    ask.topic = j->topic;
    ask.queueId = -1;  /* §3.6: only the broker of message_queue counts; every read queue */
    ask.maxNums = req->batch_size > 32 ? 32 : req->batch_size;
    ask.invisibleTime = invisible;
    ask.pollTime = poll;
    ask.expType = f && f->type == APACHE__ROCKETMQ__V2__FILTER_TYPE__SQL ? "SQL92" : "TAG";
    ask.exp = f && f->expression && f->expression[0] ? f->expression : NULL;
    ask.initMode = 1;  /* MAX: a new group starts at the queue's end */
    ask.order = grp && grp->consumeMessageOrderly;
    ask.attemptId = req->_attempt_id_case && req->attempt_id && req->attempt_id[0] ? req->attempt_id : NULL;
    g->b->hooks.pop_receive(g->b, &ask, on_popped, j);
out:
    apache__rocketmq__v2__receive_message_request__free_unpacked(req, NULL);
}

static int code_of_pop(int rc)
{
    /* POP not available (not the master, its state being rebuilt): a retryable error, not a bad handle */
    return rc == BR_POP_OK ? CODE(OK) : rc == BR_POP_EUNAVAILABLE ? CODE(INTERNAL_SERVER_ERROR) : CODE(INVALID_RECEIPT_HANDLE);
}

static const char *why_of_pop(int rc)
{
    switch (rc) {
    case BR_POP_OK: return "OK";
    case BR_POP_GONE: return "receipt handle is expired (acked already, or never received)";
    case BR_POP_ESTALE: return "receipt handle is expired (redelivered or changed since)";
    case BR_POP_EUNAVAILABLE: return "POP is not available on this broker now (not the master, or its state is being rebuilt): try again";
    default: return "receipt handle is not valid";
    }
}

/* Checks shared by AckMessage and ChangeInvisibleDuration: 0, or the status code (why set). */
static int consumer_call_error(gp_call_t *call, br_grpcsvc_t *g, const V2(Resource) *gr, const V2(Resource) *tr,
                               char *why, size_t n)
{
    const char *group = gr && gr->name ? gr->name : "", *topic = tr && tr->name ? tr->name : "";
    if (!gs_client_id(call)) {
        snprintf(why, n, "x-mq-client-id is required");
        return CODE(CLIENT_ID_REQUIRED);
    }
    if (g && g->b->cfg.aclEnable) {
        snprintf(why, n, "access control (aclEnable) is not supported over gRPC yet");
        return CODE(UNAUTHORIZED);
    }
    if (!group[0] || strlen(group) > 255) {
        snprintf(why, n, "the consumer group name is not valid");
        return CODE(ILLEGAL_CONSUMER_GROUP);
    }
    if (br_topic_name_error(topic)) {
        snprintf(why, n, "topic name '%.150s' is not valid", topic);
        return CODE(ILLEGAL_TOPIC);
    }
    if (!g || !g->b->hooks.pop_ack || !g->b->hooks.pop_change) {
        snprintf(why, n, "POP consumption is not available on this broker");
        return CODE(INTERNAL_SERVER_ERROR);
    }
    return 0;
}

static void handle_ack(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    br_grpcsvc_t *g = ctx;
    V2(AckMessageRequest) *req = apache__rocketmq__v2__ack_message_request__unpack(NULL, len, msg);
    if (!req) {
        gp_call_finish(call, GP_STATUS_INVALID_ARGUMENT, "AckMessageRequest does not decode");
        return;
    }
    char why[256];
    int code = consumer_call_error(call, g, req->group, req->topic, why, sizeof why);
    if (!code && (req->n_entries == 0 || req->n_entries > 1024)) {
        code = CODE(BAD_REQUEST);
        snprintf(why, sizeof why, req->n_entries ? "more than 1024 entries" : "no entry");
    }
    if (code) {
        gs_answer_status(call, code, why);
        goto out;
    }
    V2(AckMessageResultEntry) *e = calloc(req->n_entries, sizeof *e);
    V2(AckMessageResultEntry) **ep = calloc(req->n_entries, sizeof *ep);
    V2(Status) *st = calloc(req->n_entries, sizeof *st);
    if (!e || !ep || !st) {
        free(e);
        free(ep);
        free(st);
        gp_call_finish(call, GP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    int common = 0, same = 1;
    for (size_t i = 0; i < req->n_entries; i++) {
        const V2(AckMessageEntry) *in = req->entries[i];
        int rc = g->b->hooks.pop_ack(g->b, req->group->name, req->topic->name, in->receipt_handle);
        V2(AckMessageResultEntry) e0 = APACHE__ROCKETMQ__V2__ACK_MESSAGE_RESULT_ENTRY__INIT;
        V2(Status) s0 = APACHE__ROCKETMQ__V2__STATUS__INIT;
        e[i] = e0;
        st[i] = s0;
        st[i].code = code_of_pop(rc);
        st[i].message = (char *)why_of_pop(rc);
        e[i].status = &st[i];
        e[i].message_id = in->message_id ? in->message_id : "";
        e[i].receipt_handle = in->receipt_handle ? in->receipt_handle : "";
        ep[i] = &e[i];
        if (i == 0)
            common = (int)st[i].code;
        else if ((int)st[i].code != common)
            same = 0;
    }
    V2(Status) top = APACHE__ROCKETMQ__V2__STATUS__INIT;
    top.code = same ? common : CODE(MULTIPLE_RESULTS);
    top.message = same ? st[0].message : "";
    V2(AckMessageResponse) r = APACHE__ROCKETMQ__V2__ACK_MESSAGE_RESPONSE__INIT;
    r.status = &top;
    r.n_entries = req->n_entries;
    r.entries = ep;
    gs_send_msg(call, &r.base);
    gp_call_finish(call, GP_STATUS_OK, NULL);
    free(e);
    free(ep);
    free(st);
out:
    apache__rocketmq__v2__ack_message_request__free_unpacked(req, NULL);
}

static void handle_change_invisible(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    br_grpcsvc_t *g = ctx;
    V2(ChangeInvisibleDurationRequest) *req =
        apache__rocketmq__v2__change_invisible_duration_request__unpack(NULL, len, msg);
    if (!req) {
        gp_call_finish(call, GP_STATUS_INVALID_ARGUMENT, "ChangeInvisibleDurationRequest does not decode");
        return;
    }
    char why[256], nh[320];
    const char *handle = req->receipt_handle ? req->receipt_handle : "";
    int code = consumer_call_error(call, g, req->group, req->topic, why, sizeof why);
    int64_t d = duration_ms(req->invisible_duration);
    if (!code && (!req->invisible_duration || d < 0 || d > MAX_INVISIBLE_MS)) {
        code = CODE(ILLEGAL_INVISIBLE_TIME);
        snprintf(why, sizeof why, "invisible_duration must be in [0, 12 h]");
    }
    if (!code) {
        int rc = g->b->hooks.pop_change(g->b, req->group->name, req->topic->name, handle, d, nh, sizeof nh);
        code = code_of_pop(rc);
        snprintf(why, sizeof why, "%s", why_of_pop(rc));
        if (rc == BR_POP_OK)
            handle = nh;
    }
    /* always a usable handle: the old one on failure (§3.8) */
    V2(Status) st = APACHE__ROCKETMQ__V2__STATUS__INIT;
    st.code = code;
    st.message = why;
    V2(ChangeInvisibleDurationResponse) r = APACHE__ROCKETMQ__V2__CHANGE_INVISIBLE_DURATION_RESPONSE__INIT;
    r.status = &st;
    r.receipt_handle = (char *)handle;
    gs_send_msg(call, &r.base);
    gp_call_finish(call, GP_STATUS_OK, NULL);
    apache__rocketmq__v2__change_invisible_duration_request__free_unpacked(req, NULL);
}

/* ---- ForwardMessageToDeadLetterQueue (§3.9): CONSUMER_SEND_MSG_BACK with delayLevel -1 to the
 * broker itself (straight to %DLQ%<group>), then the POP ack of the handle. The commit-log offset
 * is the handle's 9th field (§4.2). */
typedef struct dlq_job {
    br_grpcsvc_t *g;
    gp_call_t *call;
    char *group, *topic, *handle;
} dlq_job_t;

static void dlq_job_free(dlq_job_t *d)
{
    gp_call_unref(d->call);
    free(d->group);
    free(d->topic);
    free(d->handle);
    free(d);
}

static void on_dlq_sent(int status, rm_cmd_t *resp, void *arg)
{
    dlq_job_t *d = arg;
    if (!gp_call_finished(d->call)) {
        if (status != RM_OK || !resp || resp->code != RC_SUCCESS) {
            gs_answer_status(d->call, status == RM_ETIMEOUT ? CODE(PROXY_TIMEOUT) : CODE(INTERNAL_SERVER_ERROR),
                          resp && resp->remark ? resp->remark : "the message could not be moved to the DLQ");
        } else {
            br_broker_t *b = d->g->b;
            int rc = b->hooks.pop_ack ? b->hooks.pop_ack(b, d->group, d->topic, d->handle) : BR_POP_GONE;
            gs_answer_status(d->call, code_of_pop(rc), why_of_pop(rc));
        }
    }
    dlq_job_free(d);
}

static void handle_forward_dlq(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    br_grpcsvc_t *g = ctx;
    V2(ForwardMessageToDeadLetterQueueRequest) *req =
        apache__rocketmq__v2__forward_message_to_dead_letter_queue_request__unpack(NULL, len, msg);
    if (!req) {
        gp_call_finish(call, GP_STATUS_INVALID_ARGUMENT, "ForwardMessageToDeadLetterQueueRequest does not decode");
        return;
    }
    char why[256];
    const char *handle = req->receipt_handle ? req->receipt_handle : "";
    int code = consumer_call_error(call, g, req->group, req->topic, why, sizeof why);
    long long cloff = -1;
    if (!code) {
        const char *p = handle;
        for (int i = 0; i < 8 && p; i++) {
            p = strchr(p, ' ');
            if (p)
                p++;
        }
        char *end = NULL;
        if (p && *p >= '0' && *p <= '9')
            cloff = strtoll(p, &end, 10);
        if (cloff < 0 || !end || *end) {
            code = CODE(INVALID_RECEIPT_HANDLE);
            snprintf(why, sizeof why, "receipt handle is not valid");
        }
    }
    rm_conn_t *self = code ? NULL : gs_self_conn(g);
    if (!code && !self) {
        code = CODE(INTERNAL_SERVER_ERROR);
        snprintf(why, sizeof why, "the broker's send path is not reachable");
    }
    dlq_job_t *d = code ? NULL : calloc(1, sizeof *d);
    if (!code && (!d || !(d->group = cm_strdup(req->group->name)) || !(d->topic = cm_strdup(req->topic->name)) ||
                  !(d->handle = cm_strdup(handle)))) {
        if (d) {
            free(d->group);
            free(d->topic);
            free(d);
        }
        gp_call_finish(call, GP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        goto out;
    }
    if (code) {
        gs_answer_status(call, code, why);
        goto out;
    }
    d->g = g;
    d->call = call;
    gp_call_ref(call);
    rm_cmd_t c;
    rm_cmd_init(&c, 36);    /* CONSUMER_SEND_MSG_BACK */
    char num[32];
    snprintf(num, sizeof num, "%lld", cloff);
    rm_ext_add(&c, "offset", num);
    rm_ext_add(&c, "group", d->group);
    rm_ext_add(&c, "delayLevel", "-1");
    rm_ext_add(&c, "unitMode", "false");
    rm_ext_add(&c, "maxReconsumeTimes", "0");
    if (req->message_id && req->message_id[0])
        rm_ext_add(&c, "originMsgId", req->message_id);
    rm_ext_add(&c, "originTopic", d->topic);
    br_sign_out(g->b, &c);
    if (rm_conn_invoke(self, &c, SEND_TIMEOUT_MS, on_dlq_sent, d) != 0) {
        gs_answer_status(call, CODE(INTERNAL_SERVER_ERROR), "the broker's send path is not reachable");
        dlq_job_free(d);
    }
    rm_cmd_free(&c);
out:
    apache__rocketmq__v2__forward_message_to_dead_letter_queue_request__free_unpacked(req, NULL);
}

/* ---- RPCs not served here ---- */

static void handle_not_served(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    const char *p = gp_call_path(call);
    const char *rpc = strrchr(p, '/') ? strrchr(p, '/') + 1 : p;
    char why[160];
    snprintf(why, sizeof why, "%.60s is not served by this broker yet", rpc);
    gs_answer_status(call, strcmp(rpc, "RecallMessage") == 0 ? CODE(UNSUPPORTED) : CODE(NOT_IMPLEMENTED), why);
}

static const gp_method_t k_methods[] = {
    {SVC "QueryRoute", 0, handle_query_route, NULL, NULL},
    {SVC "Heartbeat", 0, handle_heartbeat, NULL, NULL},
    {SVC "SendMessage", 0, handle_send, NULL, NULL},
    {SVC "Telemetry", 1, handle_telemetry_msg, handle_telemetry_half_close, telemetry_end},
    {SVC "NotifyClientTermination", 0, handle_notify_termination, NULL, NULL},
    {SVC "QueryAssignment", 0, handle_query_assignment, NULL, NULL},
    {SVC "ReceiveMessage", 0, handle_receive, NULL, NULL},
    {SVC "AckMessage", 0, handle_ack, NULL, NULL},
    {SVC "ForwardMessageToDeadLetterQueue", 0, handle_forward_dlq, NULL, NULL},
    {SVC "EndTransaction", 0, gs_handle_end_transaction, NULL, NULL},
    {SVC "ChangeInvisibleDuration", 0, handle_change_invisible, NULL, NULL},
    {SVC "RecallMessage", 0, handle_not_served, NULL, NULL},
    /* PullMessage, UpdateOffset, GetOffset, QueryOffset, SyncLiteSubscription: not in the
     * table, so gRPC UNIMPLEMENTED, as Apache answers them (§3.13) */
};

const gp_method_t *br_grpc_methods(size_t *n)
{
    *n = sizeof k_methods / sizeof k_methods[0];
    return k_methods;
}

/* ---- the subsystem ---- */

static int grpc_start(br_broker_t *b)
{
    if (!b->cfg.enableGrpcServer)
        return 0;
    br_grpcsvc_t *g = calloc(1, sizeof *g);
    if (!g)
        return -1;
    g->b = b;
    cm_map_init(&g->clients);
    cm_map_init(&g->pubs);
    cm_map_init(&g->txs);
    g->self_ep.name = "grpc-self";
    g->self_ep.on_close = self_closed;
    g->self_ep.ctx = g;
    snprintf(g->endpoint_host, sizeof g->endpoint_host, "%s", b->cfg.brokerIP1);
    gp_config_t cfg = {0};
    cfg.name = "grpc";
    cfg.methods = k_methods;
    cfg.nmethods = sizeof k_methods / sizeof k_methods[0];
    cfg.ctx = g;
    gp_limits_default(&cfg.limits);
    cfg.limits.max_connections = b->cfg.maxConnections;
    cfg.tls_mode = rm_tls_server_mode();
    if (gp_server_start(b->loop, "0.0.0.0", b->cfg.grpcServerPort, &cfg, &g->srv) != 0) {
        /* the broker still serves 4.x clients: two brokers on one host with the default port
         * must not stop the second one from starting (gp_server_start logged why) */
        LOG_E("grpc", "no gRPC endpoint: grpcServerPort %d cannot be used (set another, or enableGrpcServer=false)",
              b->cfg.grpcServerPort);
        cm_map_free(&g->clients, free_client);
        cm_map_free(&g->pubs, NULL);
        cm_map_free(&g->txs, NULL);
        free(g);
        return 0;
    }
    g->port = gp_server_port(g->srv);
    uv_timer_init(b->loop, &g->done);
    g->done.data = b;  /* the core's close callback reads its broker from it */
    uv_timer_init(b->loop, &g->resend_timer);
    g->resend_timer.data = g;
    b->grpc = g;
    b->hooks.trans_check_remote = gs_trans_check_remote;
    LOG_I("grpc", "gRPC endpoint (RocketMQ 5.x clients) on port %d, endpoint %s:%d", g->port, g->endpoint_host, g->port);
    return 0;
}

static void server_closed(void *arg)
{
    br_grpcsvc_t *g = arg;
    g->srv = NULL;
    uv_close((uv_handle_t *)&g->done, g->stop_cb);
}

static void resend_closed(uv_handle_t *h)
{
    br_grpcsvc_t *g = h->data;
    h->data = g->b;     /* the core's close callback reads its broker from it */
    g->stop_cb(h);
}

static void forget_each(const char *key, void *val, void *arg)
{
    gclient_t *c = val;
    if (c->telemetry) {
        gp_call_set_data(c->telemetry, NULL);
        gp_call_unref(c->telemetry);
        c->telemetry = NULL;
    }
}

static int grpc_stop(br_broker_t *b, uv_close_cb cb)
{
    br_grpcsvc_t *g = b->grpc;
    if (!g)
        return 0;
    g->stop_cb = cb;
    b->hooks.trans_check_remote = NULL;
    if (g->self) {
        rm_conn_t *s = g->self;
        g->self = NULL;
        rm_conn_close(s);
    }
    uv_timer_stop(&g->resend_timer);
    g->nresend = 0;
    gp_server_stop(g->srv, server_closed, g);   /* cancels calls: their telemetry_end runs */
    cm_map_each(&g->clients, forget_each, NULL);
    uv_close((uv_handle_t *)&g->resend_timer, resend_closed);
    return 2;
}

static void free_client(void *p)
{
    gclient_t *c = p;
    gs_client_release(c);
    free(c->reply);
    free(c);
}

static void grpc_release(br_broker_t *b)
{
    br_grpcsvc_t *g = b->grpc;
    if (!g)
        return;
    cm_map_free(&g->clients, free_client);
    cm_map_free(&g->pubs, NULL);
    gs_tx_free(g);
    free(g);
    b->grpc = NULL;
}

const br_subsys_t br_grpc_subsys = {"grpc", grpc_start, grpc_stop, grpc_release, NULL, 0, 0};
