/* snapshot.c: compaction of the Raft log. canonical raft keeps every entry since its last
 * snapshot in memory, so a group that never compacted would hold all its messages twice, once
 * in RAM. Every dLegerSnapshotEntries entries it asks for a snapshot and drops the entries before
 * the last dLegerSnapshotEntries. The records themselves are already in every node's commit log,
 * so a snapshot is small: "LDL1", 4 zero bytes, the applied commit-log end (8, big-endian), then
 * the tables as JSON (tables.c's entry with every part).
 *
 * Restoring one (a restart, or a follower too far behind for the kept entries): the commit log
 * is cut back to the snapshot's end if it is longer (what follows is applied again from the log);
 * if it is shorter, the missing bytes come from the master (BR_DL_FETCH on its broker port,
 * committed bytes only, 1 MiB at a time) while the entries Raft commits meanwhile wait here in
 * order. A wiped follower rebuilds this way. Loop thread. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "broker/dledger/dl_int.h"

#define SNAP_HDR 16
#define FETCH_MAX (1u << 20)
#define FETCH_TIMEOUT_MS 10000

typedef struct dl_pend {
    struct dl_pend *next;
    br_dl_entry_t e;            /* payload points into data */
    uint8_t data[];
} dl_pend_t;

int br_dl_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n)
{
    br_dledger_t *d = fsm->data;
    cm_buf_t tables;
    cm_buf_init(&tables);
    if (br_dl_tables_all(d, &tables) != 0) {
        cm_buf_free(&tables);
        return RAFT_NOMEM;
    }
    struct raft_buffer *b = raft_malloc(sizeof *b);
    uint8_t *p = raft_malloc(SNAP_HDR + tables.len);
    if (!b || !p) {
        raft_free(b);
        raft_free(p);
        cm_buf_free(&tables);
        return RAFT_NOMEM;
    }
    memcpy(p, "LDL1\0\0\0\0", 8);
    cm_wbe64(p + 8, (uint64_t)d->applied);
    memcpy(p + SNAP_HDR, tables.data, tables.len);
    b->base = p;
    b->len = SNAP_HDR + tables.len;
    *bufs = b;
    *n = 1;
    cm_buf_free(&tables);
    return 0;
}

int br_dl_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    br_dledger_t *d = fsm->data;
    const uint8_t *p = buf->base;
    if (buf->len < SNAP_HDR || memcmp(p, "LDL1", 4) != 0) {
        LOG_E("dledger", "a Raft snapshot that is not Loulan's (%zu bytes)", buf->len);
        return RAFT_MALFORMED;
    }
    int64_t end = (int64_t)cm_be64(p + 8), w = st_max_phy_offset(d->b->store);
    br_dl_tables_apply(d, (const char *)p + SNAP_HDR, buf->len - SNAP_HDR);
    raft_free(buf->base); /* the FSM owns a restored snapshot's buffer */
    if (w >= end) {
        if (w > end)
            st_truncate(d->b->store, end); /* the entries after the snapshot come again */
        d->applied = d->proposed = end;
        st_set_visible(d->b->store, end);
        return 0;
    }
    /* behind the snapshot: what we have is committed (we applied it), the rest is fetched */
    LOG_I("dledger", "snapshot at commit-log offset %" PRId64 ", this node has %" PRId64 ": fetching the rest from the master",
          end, w);
    d->applied = d->proposed = w;
    st_set_visible(d->b->store, w);
    d->fetch_to = end;
    return 0;
}

int br_dl_pend(br_dledger_t *d, const br_dl_entry_t *e)
{
    dl_pend_t *x = malloc(sizeof *x + e->len);
    if (!x)
        return -1;
    x->next = NULL;
    x->e = *e;
    memcpy(x->data, e->payload, e->len);
    x->e.payload = x->data;
    if (d->pend_tail)
        d->pend_tail->next = x;
    else
        d->pend_head = x;
    d->pend_tail = x;
    d->pend_bytes += e->len;
    return 0;
}

/* The snapshot's end is reached: apply what waited, in order. */
static void caught_up(br_dledger_t *d)
{
    LOG_I("dledger", "fetched the commit log up to the snapshot (%" PRId64 "); applying %zu waiting byte(s)",
          d->fetch_to, d->pend_bytes);
    d->applied = d->proposed = d->fetch_to;
    st_set_visible(d->b->store, d->applied);
    d->fetch_to = 0;
    while (d->pend_head) {
        dl_pend_t *x = d->pend_head;
        d->pend_head = x->next;
        if (br_dl_apply_entry(d, &x->e) != 0)
            d->broken = 1;
        free(x);
    }
    d->pend_tail = NULL;
    d->pend_bytes = 0;
}

static void on_fetched(int status, rm_cmd_t *resp, void *arg)
{
    br_dledger_t *d = arg;
    d->fetch_busy = 0;
    if (!d->fetch_to || d->b->stopping)
        return;
    if (status != RM_OK || resp->code != RC_SUCCESS) {
        LOG_W("dledger", "fetching the commit log from %s: %s", d->master,
              status != RM_OK ? "no answer" : resp->remark ? resp->remark : "refused");
        return; /* the next tick asks again */
    }
    int64_t at = st_max_phy_offset(d->b->store);
    const char *from = rm_ext_get(resp, "offset");
    int64_t off;
    if (!from || cm_parse_i64(from, &off) || off != at || resp->body_len == 0 ||
        (int64_t)resp->body_len > d->fetch_to - at) {
        LOG_W("dledger", "an answer to a commit-log fetch that does not fit at %" PRId64 " was dropped", at);
        return;
    }
    int rc = st_ha_append(d->b->store, at, resp->body, resp->body_len);
    if (rc != ST_OK) {
        LOG_E("dledger", "cannot store fetched commit-log bytes at %" PRId64 ": %s", at, st_strerror(rc));
        return;
    }
    d->applied = d->proposed = st_max_phy_offset(d->b->store);
    st_set_visible(d->b->store, d->applied);
    if (d->applied >= d->fetch_to)
        caught_up(d);
    else
        br_dl_fetch_tick(d); /* the next chunk at once */
}

void br_dl_fetch_tick(br_dledger_t *d)
{
    br_broker_t *b = d->b;
    if (d->fetch_busy || !d->fetch_to)
        return;
    if (!d->master[0]) { /* the name server's answer to a registration names the master */
        br_register_all(b, 0);
        return;
    }
    if (d->fetch_conn && rm_conn_is_closed(d->fetch_conn)) {
        rm_conn_unref(d->fetch_conn);
        d->fetch_conn = NULL;
    }
    if (!d->fetch_conn) {
        if (rm_conn_connect(b->loop, d->master, &b->ep_ns, &d->fetch_conn) != 0)
            return;
        rm_conn_ref(d->fetch_conn);
    }
    rm_cmd_t req;
    rm_cmd_init(&req, BR_DL_FETCH);
    int64_t at = st_max_phy_offset(b->store);
    rm_ext_set(&req, "group", b->cfg.dLegerGroup);
    rm_ext_set_i64(&req, "offset", at);
    rm_ext_set_i64(&req, "limit", d->fetch_to);
    br_sign_out(b, &req);
    if (rm_conn_invoke(d->fetch_conn, &req, FETCH_TIMEOUT_MS, on_fetched, d) == 0)
        d->fetch_busy = 1;
    rm_cmd_free(&req);
}

void br_dl_fetch_stop(br_dledger_t *d)
{
    if (d->fetch_conn) {
        rm_conn_close(d->fetch_conn);
        rm_conn_unref(d->fetch_conn);
        d->fetch_conn = NULL;
    }
    d->fetch_to = 0;
    while (d->pend_head) {
        dl_pend_t *x = d->pend_head;
        d->pend_head = x->next;
        free(x);
    }
    d->pend_tail = NULL;
}

void br_dl_master_known(br_broker_t *b, const char *masterAddr, const char *haAddr)
{
    (void)haAddr;
    br_dledger_t *d = b->dledger;
    if (d && masterAddr && *masterAddr && strcmp(masterAddr, b->addr) != 0)
        snprintf(d->master, sizeof d->master, "%s", masterAddr);
}

/* BR_DL_FETCH: committed commit-log bytes from `offset`, at most 1 MiB and never past `limit`
 * or a file's end; for a member of the same group only. */
void br_dl_handle_fetch(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group = rm_ext_get(req, "group");
    int64_t off, limit;
    if (!b->dledger || !group || strcmp(group, b->cfg.dLegerGroup) != 0) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "not a member of this DLedger group");
        return;
    }
    if (rm_req_i64(c, req, "offset", &off) || rm_req_i64(c, req, "limit", &limit))
        return;
    int64_t vis = b->dledger->applied;
    if (limit > vis)
        limit = vis;
    const uint8_t *p = NULL;
    size_t n = 0;
    if (off < 0 || off >= limit ||
        st_ha_read(b->store, off, (size_t)(limit - off < FETCH_MAX ? limit - off : FETCH_MAX), &p, &n) != ST_OK ||
        n == 0) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "no committed commit-log bytes at %" PRId64 " here", off);
        return;
    }
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_ext_set_i64(&resp, "offset", off);
    resp.body = p; /* the mapped commit log: written out before anything can unmap it */
    resp.body_len = n;
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
}
