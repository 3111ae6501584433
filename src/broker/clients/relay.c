/* relay.c: admin requests the broker passes on to one consumer client, passing its answer
 * back: GET_CONSUMER_RUNNING_INFO (307; mqadmin consumerStatus, consumerProgress -s) and
 * CONSUME_MESSAGE_DIRECTLY (309). As RocketMQ's callConsumer: the client must be online in the
 * group; the request goes out with the asker's header fields and body, and the client's answer
 * (code, remark, fields, body) comes back under the asker's opaque. A client that does not
 * answer within RELAY_TIMEOUT_MS gives CONSUME_MSG_TIMEOUT (207). Loop thread. */
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

static br_client_t *find_client(br_broker_t *b, const char *group, const char *clientId)
{
    br_cgroup_t *cg = br_cgroup_get(b, group);
    for (br_client_t *cl = cg ? cg->clients : NULL; cl; cl = cl->next)
        if (!strcmp(cl->clientId, clientId) && !rm_conn_is_closed(cl->conn))
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
    relay_t *r = calloc(1, sizeof *r);
    rm_cmd_t out;
    rm_cmd_init(&out, req->code);
    for (size_t i = 0; i < req->next; i++)
        rm_ext_set(&out, req->ext[i].key, req->ext[i].val);
    out.body = req->body;
    out.body_len = req->body_len;
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
    out.body = NULL; /* borrowed from the request; invoke copied it */
    rm_cmd_free(&out);
}
