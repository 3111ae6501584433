/* trans.c: the transactional producer. A half message is an ordinary send with TRAN_MSG=true,
 * PGROUP=<group> and sysFlag PREPARED; the application's local transaction runs once the broker
 * has stored it, and its answer goes back in a oneway END_TRANSACTION. The broker's
 * CHECK_TRANSACTION_STATE (for transactions left undecided) is answered the same way from the
 * check listener, on the connection the check came from, with fromTransactionCheck=true. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/lc.h"

#define SYSFLAG_PREPARED 0x4

/* The commit-log offset is the last 16 hex digits of an IPv4 offsetMsgId. */
static int offset_of(const char *offset_msg_id, int64_t *off)
{
    if (strlen(offset_msg_id) != 32)
        return -1;
    char *end;
    unsigned long long v = strtoull(offset_msg_id + 16, &end, 16);
    if (*end)
        return -1;
    *off = (int64_t)v;
    return 0;
}

static const char *state_name(lc_tx_state_t st)
{
    return st == LC_TX_COMMIT ? "COMMIT_MESSAGE" : st == LC_TX_ROLLBACK ? "ROLLBACK_MESSAGE" : "UNKNOW";
}

/* Java's EndTransactionTraceHookImpl: one EndTransaction record per answer sent, msgType
 * always Trans_msg_Commit (2), the region from the message's MSG_REGION. */
static void trace_end(lc_producer_t *p, const char *topic, const char *tags, const char *keys, const char *region,
                      const char *msg_id, const char *tx_id, const char *broker, lc_tx_state_t st, int from_check)
{
    lc_trace_rec_t r = {.ts = cm_now_ms(), .region = region && *region ? region : "DefaultRegion",
                        .group = lc_producer_group(p), .topic = topic, .msg_id = msg_id, .tags = tags,
                        .keys = keys, .store_host = broker, .msg_type = 2, .transaction_id = tx_id,
                        .tx_state = state_name(st), .from_check = from_check};
    lc_trace_record(lc_producer_tracer(p), lc_trace_encode_end_tx, &r);
}

static const char *user_prop(const lc_message_t *m, const char *name)
{
    for (size_t i = 0; m->props && i < m->nprops; i++)
        if (m->props[i].name && strcmp(m->props[i].name, name) == 0)
            return m->props[i].value;
    return NULL;
}

static int end_request(rm_cmd_t *req, const char *group, int64_t tso, int64_t phy, lc_tx_state_t st,
                       const char *msg_id, int from_check)
{
    lc_req_init(req, 37);
    if (rm_ext_set(req, "producerGroup", group) || rm_ext_set_i64(req, "tranStateTableOffset", tso) ||
        rm_ext_set_i64(req, "commitLogOffset", phy) || rm_ext_set_i64(req, "commitOrRollback", st) ||
        rm_ext_set(req, "fromTransactionCheck", from_check ? "true" : "false") ||
        rm_ext_set(req, "msgId", msg_id) || rm_ext_set(req, "transactionId", msg_id)) {
        rm_cmd_free(req);
        return LC_ENOMEM;
    }
    return LC_OK;
}

int lc_producer_send_in_transaction(lc_producer_t *p, const lc_message_t *m, lc_local_tx_fn fn, void *arg,
                                    lc_send_result_t *res, lc_tx_state_t *state)
{
    static const lc_property_t tx = {"TRAN_MSG", "true"};
    lc_property_t extra[2] = {tx, {"PGROUP", lc_producer_group(p)}};
    *state = LC_TX_UNKNOWN;
    if (!fn || (m && m->delay_level))
        return LC_EINVAL; /* as Java: a transactional message cannot be delayed */
    int rc = lc_producer_send_flagged(p, m, extra, 2, SYSFLAG_PREPARED, res);
    if (rc != LC_OK)
        return rc;
    if (res->status != LC_SEND_OK) {
        *state = LC_TX_ROLLBACK; /* not known durable: Java rolls back too */
    } else {
        *state = fn(m, res->msg_id, arg);
    }
    int64_t phy;
    char addr[64];
    rm_cmd_t req;
    if (offset_of(res->offset_msg_id, &phy) != 0 ||
        lc_broker_addr(lc_producer_inst(p), res->mq.broker_name, addr, sizeof addr) != 0)
        return LC_EDECODE;
    if ((rc = end_request(&req, lc_producer_group(p), res->queue_offset, phy, *state, res->msg_id, 0)) != LC_OK)
        return rc;
    if ((rc = lc_rpc_oneway(lc_producer_inst(p), addr, &req)) == LC_OK && lc_producer_tracer(p))
        trace_end(p, m->topic, m->tags && *m->tags ? m->tags : NULL, m->keys && *m->keys ? m->keys : NULL,
                  user_prop(m, "MSG_REGION"), res->msg_id, res->msg_id, addr, *state, 0);
    return rc;
}

void lc_trans_on_check(void *owner, rm_conn_t *c, rm_cmd_t *req)
{
    lc_producer_t *p = owner;
    int64_t tso, phy;
    const char *msg_id = rm_ext_get(req, "msgId");
    lc_message_ext_t **msgs = NULL;
    size_t n = 0;
    if (!msg_id || rm_ext_i64(req, "tranStateTableOffset", &tso) || rm_ext_i64(req, "commitLogOffset", &phy) ||
        lc_decode_records(req->body, req->body_len, NULL, NULL, 0, &msgs, &n) != LC_OK || n == 0) {
        LOG_W("client", "CHECK_TRANSACTION_STATE from %s does not decode", rm_conn_peer(c));
        lc_free_msgs(msgs, n);
        return;
    }
    lc_tx_state_t st = lc_producer_call_check(p, msgs[0]);
    rm_cmd_t end;
    /* answered on the broker's own connection, not through the RPC queue: signed here */
    if (end_request(&end, lc_producer_group(p), tso, phy, st, msg_id, 1) == LC_OK) {
        if (lc_inst_sign(lc_producer_inst(p), &end) == LC_OK && rm_conn_oneway(c, &end) == 0 && lc_producer_tracer(p)) {
            const char *tx_id = rm_ext_get(req, "transactionId");
            const char *topic = lc_message_property(msgs[0], "REAL_TOPIC"); /* in case it is still the half topic */
            trace_end(p, topic ? topic : msgs[0]->topic, msgs[0]->tags, msgs[0]->keys, lc_message_property(msgs[0], "MSG_REGION"),
                      msgs[0]->msg_id, tx_id ? tx_id : msg_id, rm_conn_peer(c), st, 1);
        }
        rm_cmd_free(&end);
    }
    lc_free_msgs(msgs, n);
}
