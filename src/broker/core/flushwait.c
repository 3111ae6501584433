/* flushwait.c: SYNC_FLUSH sends wait here for the group commit (spec §2.3).
 * A send is answered only once the store's flushed offset has passed the end of its record:
 * the store's flush thread signals each advance through a uv_async, and one msync covers every
 * send written meanwhile. A send still waiting after syncFlushTimeout ms is answered
 * FLUSH_DISK_TIMEOUT (10) with its msgId/queueOffset, as RocketMQ: stored, not known durable;
 * so is every waiting send as soon as a flush fails with an I/O error.
 * SYNC_MASTER sends wait here too, for a slave to acknowledge the record (spec §5.3): answered
 * when a slave's report passes the end of the record, FLUSH_SLAVE_TIMEOUT (12) after
 * slaveTimeout, SLAVE_NOT_AVAILABLE (11) at once when no slave is connected or the slaves are
 * more than haSlaveFallbehindMax behind. Both waits are for the same record, so one queue does.
 * A DLedger group's leader (b->quorum) answers a send once a majority of the group holds it:
 * ha_acked is then the committed offset; SYSTEM_ERROR after 2500 ms (DLedger's
 * WAIT_QUORUM_ACK_TIMEOUT, spec §6.5) and SERVICE_NOT_AVAILABLE at once when leadership is lost.
 * Waiters are kept in write order, so the queue's head is always the oldest. Loop thread. */
#include <stdlib.h>
#include <string.h>

#include "broker/core/core.h"

struct br_fwait {
    rm_conn_t *conn;
    int32_t opaque;
    int serialize;
    rm_cmd_t resp;
    int64_t need;               /* commit-log offset that must be flushed, -1 if not waited for */
    int64_t needSlave;          /* ... that a slave must acknowledge, -1 if not waited for */
    uint64_t deadline;          /* uv_now: disk */
    uint64_t slaveDeadline;
    int code;                   /* an outcome decided early (SLAVE_NOT_AVAILABLE), else 0 */
    struct br_fwait *next;
};

static void answer(br_broker_t *b, br_fwait_t *w, int code)
{
    if (code == RC_SUCCESS && w->code)
        code = w->code;
    w->resp.code = code;
    if (b->quorum && code == RC_FLUSH_SLAVE_TIMEOUT) {
        code = w->resp.code = RC_SYSTEM_ERROR;
        rm_cmd_set_remark(&w->resp, "[DLedger] the message was not confirmed by a majority of the group within %d ms: "
                                    "it may or may not be stored", BR_QUORUM_WAIT_MS);
    } else if (code == RC_SLAVE_NOT_AVAILABLE)
        rm_cmd_set_remark(&w->resp, "the message is stored on the master but no slave is connected (or slaves "
                                    "are too far behind) to replicate it: SYNC_MASTER could not wait");
    else if (code == RC_FLUSH_SLAVE_TIMEOUT)
        rm_cmd_set_remark(&w->resp, "the message is stored on the master but no slave confirmed it within %lld ms",
                          (long long)b->cfg.slaveTimeout);
    if (code == RC_FLUSH_DISK_TIMEOUT && b->store && st_flush_failing(b->store))
        rm_cmd_set_remark(&w->resp, "the message is stored but the disk flush failed (I/O error, see the "
                                    "broker log): it is not known to be durable");
    else if (code == RC_FLUSH_DISK_TIMEOUT)
        rm_cmd_set_remark(&w->resp, "the message is stored but the disk flush did not finish within %lld ms",
                          (long long)b->cfg.syncFlushTimeout);
    if (!rm_conn_is_closed(w->conn))
        rm_conn_respond_raw(w->conn, w->opaque, w->serialize, &w->resp, NULL, 0, NULL, NULL);
    rm_cmd_free(&w->resp);
    rm_conn_unref(w->conn);
    free(w);
}

/* The outcome of a waiter now: RC_SUCCESS when done, a timeout code, or -1 to keep waiting. */
static int outcome(br_broker_t *b, const br_fwait_t *w, int64_t flushed, uint64_t now, int all)
{
    int diskDone = w->need < 0 || w->need <= flushed;
    int slaveDone = w->needSlave < 0 || w->needSlave <= br_slave_acked(b);
    if (diskDone && slaveDone)
        return RC_SUCCESS;
    if (!diskDone && (all || now >= w->deadline))
        return RC_FLUSH_DISK_TIMEOUT;
    if (diskDone && (all || now >= w->slaveDeadline || (br_slaves(b) == 0 && !b->quorum)))
        return br_slaves(b) == 0 ? RC_SLAVE_NOT_AVAILABLE : RC_FLUSH_SLAVE_TIMEOUT;
    return -1;
}

/* Answer waiters from the oldest while they are done or past their deadline. */
static void drain(br_broker_t *b, int all)
{
    int64_t flushed = b->store ? st_flushed_offset(b->store) : 0;
    uint64_t now = uv_now(b->loop);
    /* a failed flush: say so now rather than after syncFlushTimeout */
    all = all || (b->store && st_flush_failing(b->store));
    while (b->fw_head) {
        br_fwait_t *w = b->fw_head;
        int code = outcome(b, w, flushed, now, all);
        if (code < 0)
            break;
        b->fw_head = w->next;
        if (!b->fw_head)
            b->fw_tail = NULL;
        answer(b, w, code);
    }
    if (!b->fw_head && b->fw_timer_on) {
        uv_timer_stop(&b->fw_timer);
        b->fw_timer_on = 0;
    }
}

void br_flushwait_kick(br_broker_t *b) { drain(b, 0); }

void br_flushwait_abort(br_broker_t *b, int code, const char *remark)
{
    while (b->fw_head) {
        br_fwait_t *w = b->fw_head;
        b->fw_head = w->next;
        rm_cmd_set_remark(&w->resp, "%s", remark);
        w->resp.code = code;
        w->code = 0;
        if (!rm_conn_is_closed(w->conn))
            rm_conn_respond_raw(w->conn, w->opaque, w->serialize, &w->resp, NULL, 0, NULL, NULL);
        rm_cmd_free(&w->resp);
        rm_conn_unref(w->conn);
        free(w);
    }
    b->fw_tail = NULL;
}

static void on_flushed_async(uv_async_t *a) { drain(a->data, 0); }
static void on_fw_timer(uv_timer_t *t) { drain(t->data, 0); }

/* Flush thread: only wakes the loop. */
static void on_store_flushed(void *arg)
{
    br_broker_t *b = arg;
    uv_async_send(&b->flush_async);
}

void br_flushwait_init(br_broker_t *b, st_config_t *sc)
{
    uv_async_init(b->loop, &b->flush_async, on_flushed_async);
    b->flush_async.data = b;
    uv_timer_init(b->loop, &b->fw_timer);
    b->fw_timer.data = b;
    sc->onFlushed = on_store_flushed;
    sc->onFlushedArg = b;
}

int br_flushwait_needed(br_broker_t *b, const rm_cmd_t *req, const char *props, size_t plen)
{
    const char *v;
    size_t vl;
    if ((!b->cfg.flushDiskSync && b->role != BR_SYNC_MASTER) || rm_cmd_is_oneway(req))
        return 0;
    if (b->quorum)
        return 1; /* a DLedger leader acknowledges committed sends only, WAIT=false or not */
    /* RocketMQ's WAIT property: "false" means the producer does not wait for the flush */
    return !(st_props_get(props, plen, "WAIT", &v, &vl) == ST_OK && vl == 5 && !memcmp(v, "false", 5));
}

void br_flushwait_add(br_broker_t *b, rm_conn_t *c, const rm_cmd_t *req, rm_cmd_t *resp, int64_t need)
{
    br_fwait_t *w = calloc(1, sizeof *w);
    if (!w) {
        rm_conn_respond(c, req, resp); /* cannot wait: answer now rather than never */
        rm_cmd_free(resp);
        return;
    }
    rm_conn_ref(c);
    w->conn = c;
    w->opaque = req->opaque;
    w->serialize = req->serialize;
    w->resp = *resp; /* takes it over */
    uint64_t now = uv_now(b->loop);
    w->need = b->cfg.flushDiskSync ? need : -1;
    w->needSlave = b->role == BR_SYNC_MASTER ? need : -1;
    w->deadline = now + (uint64_t)b->cfg.syncFlushTimeout;
    w->slaveDeadline = now + (uint64_t)(b->quorum ? BR_QUORUM_WAIT_MS : b->cfg.slaveTimeout);
    if (w->needSlave >= 0 && !b->quorum && (br_slaves(b) == 0 || need - br_slave_acked(b) > b->cfg.haSlaveFallbehindMax)) {
        w->needSlave = -1; /* no slave to wait for: answered as soon as the disk part is done */
        w->code = RC_SLAVE_NOT_AVAILABLE;
    }
    if (b->fw_tail)
        b->fw_tail->next = w;
    else
        b->fw_head = w;
    b->fw_tail = w;
    if (!b->fw_timer_on) {
        uv_timer_start(&b->fw_timer, on_fw_timer, 50, 50);
        b->fw_timer_on = 1;
    }
    drain(b, 0);
}

/* At stop, after the store's final flush: everything left is either durable or timed out. */
void br_flushwait_stop(br_broker_t *b, uv_close_cb cb)
{
    drain(b, 1);
    uv_close((uv_handle_t *)&b->flush_async, cb);
    uv_close((uv_handle_t *)&b->fw_timer, cb);
}
