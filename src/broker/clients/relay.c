/* relay.c: admin requests the broker passes on to one consumer client, passing its answer
 * back: GET_CONSUMER_RUNNING_INFO (307; mqadmin consumerStatus, consumerProgress -s, the
 * console's client running info) and CONSUME_MESSAGE_DIRECTLY (309; the console's "resend
 * message"). As RocketMQ's callConsumer: the client must be online in the group; the request
 * goes out with the asker's header fields and body, and the client's answer (code, remark,
 * fields, body) comes back under the asker's opaque. For 309 the body is the stored record the
 * header's msgId (an offsetMsgId) points at, and brokerName is this broker's, as RocketMQ's
 * consumeMessageDirectly. A client that does not answer within RELAY_TIMEOUT_MS gives
 * CONSUME_MSG_TIMEOUT (207). Loop thread. */
#include <stdlib.h>
#include <string.h>

#include "broker/clients/clients.h"

#define RELAY_TIMEOUT_MS 10000
#define RC_CONSUME_MSG_TIMEOUT 207

typedef struct relay {
    rm_conn_t *asker;
    int32_t opaque;
    int serialize;
    char group[256], clientId[256];
} relay_t;

static void answer(relay_t *r, rm_cmd_t *out, const uint8_t *body, size_t len)
{
    if (rm_conn_is_closed(r->asker))
        return;
    uint8_t *copy = len ? malloc(len) : NULL;
    if (len && !copy) {
        rm_cmd_free(out);
        rm_cmd_init(out, RC_SYSTEM_ERROR);
        rm_cmd_set_remark(out, "out of memory relaying the consumer's answer");
        len = 0;
    }
    if (copy)
        memcpy(copy, body, len);
    uv_buf_t buf = uv_buf_init((char *)copy, (unsigned)len);
    rm_conn_respond_raw(r->asker, r->opaque, r->serialize, out, copy ? &buf : NULL, copy ? 1 : 0, free, copy);
}

static void on_client_answer(int status, rm_cmd_t *resp, void *arg)
{
    relay_t *r = arg;
    rm_cmd_t out;
    if (status == RM_OK && resp) {
        rm_cmd_init(&out, resp->code);
        if (resp->remark)
            rm_cmd_set_remark(&out, "%s", resp->remark);
        for (size_t i = 0; i < resp->next; i++)
            rm_ext_set(&out, resp->ext[i].key, resp->ext[i].val);
        answer(r, &out, resp->body, resp->body_len);
    } else if (status == RM_ETIMEOUT) {
        rm_cmd_init(&out, RC_CONSUME_MSG_TIMEOUT);
        rm_cmd_set_remark(&out, "consumer <%s> <%s> Timeout: no answer within %d ms", r->group, r->clientId,
                          RELAY_TIMEOUT_MS);
        answer(r, &out, NULL, 0);
    } else {
        rm_cmd_init(&out, RC_SYSTEM_ERROR);
        rm_cmd_set_remark(&out, "invoke consumer <%s> <%s> Exception: the connection closed", r->group, r->clientId);
        answer(r, &out, NULL, 0);
    }
    rm_cmd_free(&out);
    rm_conn_unref(r->asker);
    free(r);
}

/* 309: the record the offsetMsgId names, checked to start a record at that very offset (an id
 * of another broker, or a client's unique key, decodes to some offset too). */
static int message_of(br_broker_t *b, const char *msgId, const uint8_t **p, uint32_t *len)
{
    uint32_t ip;
    int32_t port;
    int64_t off;
    if (!msgId || st_msg_id_decode(msgId, strlen(msgId), &ip, &port, &off) != ST_OK || off < 0 ||
        st_read_record_at(b->store, off, p, len) != ST_OK || *len < 36 || (int64_t)cm_be64(*p + 28) != off)
        return -1;
    return 0;
}

static br_client_t *find_client(br_broker_t *b, const char *group, const char *clientId)
{
    br_cgroup_t *cg = br_cgroup_get(b, group);
    for (br_client_t *cl = cg ? cg->clients : NULL; cl; cl = cl->next)
        if (cl->conn && !strcmp(cl->clientId, clientId) && !rm_conn_is_closed(cl->conn)) /* not 5.x gRPC ones */
            return cl;
    return NULL;
}

void br_handle_relay_to_consumer(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group = rm_req_str(c, req, "consumerGroup");
    const char *clientId = group ? rm_req_str(c, req, "clientId") : NULL;
    if (!clientId)
        return;
    br_client_t *cl = find_client(b, group, clientId);
    if (!cl) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "The Consumer <%s> <%s> not online", group, clientId);
        return;
    }
    const uint8_t *body = req->body;
    uint32_t body_len = (uint32_t)req->body_len;
    if (req->code == 309) {
        const char *msgId = rm_ext_get(req, "msgId");
        const uint8_t *rec;
        uint32_t rec_len;
        if (message_of(b, msgId, &rec, &rec_len) == 0) {
            body = rec;
            body_len = rec_len;
        } else if (!req->body_len) { /* nor did the asker send the message itself */
            rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "can not find message by the msgId %s on broker %s",
                                 msgId ? msgId : "(none)", b->cfg.brokerName);
            return;
        }
    }
    relay_t *r = calloc(1, sizeof *r);
    rm_cmd_t out;
    rm_cmd_init(&out, req->code);
    for (size_t i = 0; i < req->next; i++)
        rm_ext_set(&out, req->ext[i].key, req->ext[i].val);
    if (req->code == 309)
        rm_ext_set(&out, "brokerName", b->cfg.brokerName);
    out.body = body;
    out.body_len = body_len;
    if (!r) {
        rm_cmd_free(&out);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "out of memory");
        return;
    }
    snprintf(r->group, sizeof r->group, "%s", group);
    snprintf(r->clientId, sizeof r->clientId, "%s", clientId);
    r->asker = c;
    r->opaque = req->opaque;
    r->serialize = req->serialize;
    rm_conn_ref(c);
    if (rm_conn_invoke(cl->conn, &out, RELAY_TIMEOUT_MS, on_client_answer, r) != RM_OK) {
        rm_conn_unref(c);
        free(r);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "invoke consumer <%s> <%s> Exception: cannot send", group,
                             clientId);
    }
    out.body = NULL; /* borrowed from the request or the store; invoke copied it */
    rm_cmd_free(&out);
}
