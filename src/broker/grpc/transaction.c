/* transaction.c: 5.x transactions over gRPC (spec grpc-5x.md 3.4 step 7, 3.10, 3.2).
 *
 * A TRANSACTION SendMessage stores a half message through the broker's own send path (service.c);
 * its transaction id is its message id (UNIQ_KEY), and where it lies (commit-log offset, half
 * queue offset) is remembered here under (topic, transaction id), the topic being a gRPC
 * producer's group. EndTransaction looks it up and sends END_TRANSACTION to the broker itself
 * over the loopback remoting connection, so trans/ decides exactly as for a 4.x producer (one
 * implementation, decisions per transaction, never twice).
 *
 * Orphaned transactions: when trans/'s checker finds no remoting producer of the half message's
 * group it calls the trans_check_remote hook; a live gRPC producer publishing to the topic gets
 * RecoverOrphanedTransactionCommand{message, transaction_id} on its most recent Telemetry stream,
 * and the check copy's offsets replace the remembered ones, so the client's
 * EndTransaction(SOURCE_SERVER_CHECK) ends it.
 *
 * The table is bounded: at most TX_MAX entries, the oldest evicted first; an entry lives for the
 * transaction timeout (or its recovery duration) plus two check intervals and a minute, and the
 * check refreshes it. Expired entries are dropped a few at a time at each insertion and when
 * looked up: no walk of the table. A forgotten transaction is still ended by its check-back.
 * Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/grpc/gsvc.h"

#define TX_MAX 65536
#define TX_SWEEP 16             /* expired entries dropped per insertion */
#define END_TIMEOUT_MS 3000

typedef struct gtx {
    struct gtx *prev, *next;    /* insertion order, oldest first */
    int64_t phy, tso;
    int64_t expires;            /* ms, cm_now_ms */
    char key[];                 /* topic \1 transaction id */
} gtx_t;

/* ---- the table ---- */

static int tx_key(char *out, size_t n, const char *topic, const char *txid)
{
    return snprintf(out, n, "%s\001%s", topic, txid) >= (int)n ? -1 : 0;
}

static void tx_unlink(br_grpcsvc_t *g, gtx_t *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        g->tx_head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        g->tx_tail = t->prev;
    t->prev = t->next = NULL;
}

static void tx_append(br_grpcsvc_t *g, gtx_t *t)
{
    t->prev = g->tx_tail;
    t->next = NULL;
    if (g->tx_tail)
        g->tx_tail->next = t;
    else
        g->tx_head = t;
    g->tx_tail = t;
}

static void tx_drop(br_grpcsvc_t *g, gtx_t *t)
{
    tx_unlink(g, t);
    cm_map_remove(&g->txs, t->key);
    g->ntx--;
    free(t);
}

static gtx_t *tx_find(br_grpcsvc_t *g, const char *topic, const char *txid)
{
    char key[512];
    if (tx_key(key, sizeof key, topic, txid) != 0)
        return NULL;
    gtx_t *t = cm_map_get(&g->txs, key);
    if (t && t->expires <= cm_now_ms()) {
        tx_drop(g, t);
        t = NULL;
    }
    return t;
}

void gs_tx_remember(br_grpcsvc_t *g, const char *topic, const char *txid, int64_t phy, int64_t tso,
                    int64_t immunityMs)
{
    const br_config_t *cfg = &g->b->cfg;
    int64_t now = cm_now_ms();
    int64_t wait = immunityMs > cfg->transactionTimeOut ? immunityMs : cfg->transactionTimeOut;
    char key[512];
    if (tx_key(key, sizeof key, topic, txid) != 0)
        return;
    for (int i = 0; i < TX_SWEEP && g->tx_head && g->tx_head->expires <= now; i++)
        tx_drop(g, g->tx_head);
    gtx_t *t = cm_map_get(&g->txs, key);
    if (!t) {
        if (g->ntx >= TX_MAX)
            tx_drop(g, g->tx_head);
        size_t kl = strlen(key);
        if (!(t = calloc(1, sizeof *t + kl + 1)))
            return;
        memcpy(t->key, key, kl + 1);
        if (cm_map_put(&g->txs, key, t) != 0) {
            free(t);
            return;
        }
        g->ntx++;
    } else {
        tx_unlink(g, t);
    }
    t->phy = phy;
    t->tso = tso;
    t->expires = now + wait + 2 * (int64_t)cfg->transactionCheckInterval + 60000;
    tx_append(g, t);
}

void gs_tx_free(br_grpcsvc_t *g)
{
    while (g->tx_head)
        tx_drop(g, g->tx_head);
    cm_map_free(&g->txs, NULL);
}

/* ---- EndTransaction (3.10) ---- */

typedef struct end_job {
    br_grpcsvc_t *g;
    gp_call_t *call;
    char topic[256], txid[256];
} end_job_t;

static int blank(const char *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t')
            return 0;
    return 1;
}

static void on_ended(int status, rm_cmd_t *resp, void *arg)
{
    end_job_t *e = arg;
    if (status == RM_OK && resp && resp->code == RC_SUCCESS) {
        gtx_t *t = tx_find(e->g, e->topic, e->txid);
        if (t)
            tx_drop(e->g, t);   /* decided: a repeat finds nothing, as with Apache */
        if (!gp_call_finished(e->call))
            gs_answer_status(e->call, CODE(OK), "OK");
    } else if (!gp_call_finished(e->call)) {
        gs_answer_status(e->call, status == RM_ETIMEOUT ? CODE(PROXY_TIMEOUT) : CODE(INTERNAL_SERVER_ERROR),
                         resp && resp->remark ? resp->remark : "the broker did not end the transaction");
    }
    gp_call_unref(e->call);
    free(e);
}

void gs_handle_end_transaction(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    br_grpcsvc_t *g = ctx;
    V2(EndTransactionRequest) *req = apache__rocketmq__v2__end_transaction_request__unpack(NULL, len, msg);
    if (!req) {
        gp_call_finish(call, GP_STATUS_INVALID_ARGUMENT, "EndTransactionRequest does not decode");
        return;
    }
    const char *topic = req->topic && req->topic->name ? req->topic->name : "";
    const char *txid = req->transaction_id ? req->transaction_id : "";
    char why[640];
    gtx_t *t = NULL;
    if (!gs_client_id(call)) {
        gs_answer_status(call, CODE(CLIENT_ID_REQUIRED), "x-mq-client-id is required");
    } else if (gs_acl_refused(call, g)) {
        /* answered */
    } else if (br_topic_name_error(topic) || br_topic_is_system_forbidden(topic)) {
        snprintf(why, sizeof why, "topic name '%.150s' is not valid", topic);
        gs_answer_status(call, CODE(ILLEGAL_TOPIC), why);
    } else if (blank(txid)) {
        gs_answer_status(call, CODE(INVALID_TRANSACTION_ID), "transaction id is blank");
    } else if (!g) {
        gs_answer_status(call, CODE(INTERNAL_SERVER_ERROR), "no broker");
    } else if (!(t = tx_find(g, topic, txid))) {
        /* Apache's answer: the proxy forgot it, or it was ended already */
        snprintf(why, sizeof why, "cannot find transaction data of transaction %.200s on topic %.150s", txid, topic);
        gs_answer_status(call, CODE(INTERNAL_SERVER_ERROR), why);
    } else if (req->resolution != APACHE__ROCKETMQ__V2__TRANSACTION_RESOLUTION__COMMIT &&
               req->resolution != APACHE__ROCKETMQ__V2__TRANSACTION_RESOLUTION__ROLLBACK) {
        /* UNSPECIFIED: still unknown; the broker's check asks again */
        gs_answer_status(call, CODE(OK), "OK");
    } else {
        rm_conn_t *self = gs_self_conn(g);
        end_job_t *e = self ? calloc(1, sizeof *e) : NULL;
        if (!e) {
            gs_answer_status(call, CODE(INTERNAL_SERVER_ERROR), "the broker's transaction path is not reachable");
            goto out;
        }
        e->g = g;
        e->call = call;
        snprintf(e->topic, sizeof e->topic, "%s", topic);
        snprintf(e->txid, sizeof e->txid, "%s", txid);
        gp_call_ref(call);
        rm_cmd_t r;
        rm_cmd_init(&r, 37); /* END_TRANSACTION */
        rm_ext_set(&r, "producerGroup", topic);
        rm_ext_set_i64(&r, "tranStateTableOffset", t->tso);
        rm_ext_set_i64(&r, "commitLogOffset", t->phy);
        rm_ext_set_i64(&r, "commitOrRollback", req->resolution == APACHE__ROCKETMQ__V2__TRANSACTION_RESOLUTION__COMMIT
                                                   ? ST_SYSFLAG_TX_COMMIT : ST_SYSFLAG_TX_ROLLBACK);
        rm_ext_set(&r, "fromTransactionCheck",
                   req->source == APACHE__ROCKETMQ__V2__TRANSACTION_SOURCE__SOURCE_SERVER_CHECK ? "true" : "false");
        rm_ext_set(&r, "msgId", req->message_id && req->message_id[0] ? req->message_id : txid);
        rm_ext_set(&r, "transactionId", txid);
        br_sign_out(g->b, &r);
        if (rm_conn_invoke(self, &r, END_TIMEOUT_MS, on_ended, e) != 0) {
            gp_call_unref(call);
            free(e);
            gs_answer_status(call, CODE(INTERNAL_SERVER_ERROR), "the broker's transaction path is not reachable");
        }
        rm_cmd_free(&r);
    }
out:
    apache__rocketmq__v2__end_transaction_request__free_unpacked(req, NULL);
}

/* ---- orphaned transactions: the check-back over Telemetry (3.2, 3.10) ---- */

int gs_trans_check_remote(br_broker_t *b, const char *group, const uint8_t *rec, size_t len, int64_t phy,
                          int64_t queueOffset, const char *key)
{
    br_grpcsvc_t *g = b->grpc;
    gclient_t *c = g ? gs_publisher(g, group) : NULL;
    st_record_t r;
    char topic[256];
    if (!c || st_record_decode(rec, (uint32_t)len, 0, &r) != ST_OK || r.topicLen >= sizeof topic)
        return 0;
    memcpy(topic, r.topic, r.topicLen);
    topic[r.topicLen] = 0;
    br_pop_msg_t pm = {.rec = rec, .len = (uint32_t)len, .queueId = r.queueId, .queueOffset = r.queueOffset,
                       .reconsumeTimes = 0, .handle = NULL};
    gs_out_msg_t o;
    int ok = 0;
    if (gs_out_msg_build(&o, &pm, topic, 0) == 0) {
        /* not a delivery: no receipt handle, invisible time or attempt */
        o.sp._receipt_handle_case = APACHE__ROCKETMQ__V2__SYSTEM_PROPERTIES___RECEIPT_HANDLE__NOT_SET;
        o.sp._invisible_duration_case = APACHE__ROCKETMQ__V2__SYSTEM_PROPERTIES___INVISIBLE_DURATION__NOT_SET;
        o.sp._delivery_attempt_case = APACHE__ROCKETMQ__V2__SYSTEM_PROPERTIES___DELIVERY_ATTEMPT__NOT_SET;
        V2(RecoverOrphanedTransactionCommand) rc = APACHE__ROCKETMQ__V2__RECOVER_ORPHANED_TRANSACTION_COMMAND__INIT;
        rc.message = &o.m;
        rc.transaction_id = (char *)key;
        V2(TelemetryCommand) cmd = APACHE__ROCKETMQ__V2__TELEMETRY_COMMAND__INIT;
        cmd.command_case = APACHE__ROCKETMQ__V2__TELEMETRY_COMMAND__COMMAND_RECOVER_ORPHANED_TRANSACTION_COMMAND;
        cmd.recover_orphaned_transaction_command = &rc;
        size_t n = protobuf_c_message_get_packed_size(&cmd.base);
        uint8_t *p = malloc(n ? n : 1);
        if (p) {
            protobuf_c_message_pack(&cmd.base, p);
            ok = gp_call_send(c->telemetry, p, n) == 0;
            free(p);
        }
    }
    gs_out_msg_free(&o);
    if (ok) {
        gs_tx_remember(g, topic, key, phy, queueOffset, 0);
        LOG_I("grpc", "transaction %s: checking with gRPC producer %s", key, c->id);
    }
    return ok;
}
