/* dledger.c: the Raft group of a DLedger-mode broker (dledger.h says what goes where).
 * Loop thread throughout: canonical raft's libuv backend runs on the broker's loop. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/dledger/dl_int.h"

#define ROLE_TICK_MS 20         /* how soon a won or lost election changes the broker's role */
#define TABLES_EVERY_MS 200     /* the leader replicates changed tables at most this often */
#define PREFERRED_EVERY_MS 1000 /* DLedger checks preferredLeaderId every second */
#define ENTRY_MAX (256u << 10)  /* bytes of commit log in one Raft entry: with dLegerSnapshotEntries, bounds the memory Raft holds */

/* ---- applying committed entries (every node) ---- */

static void wake_one(void *arg, const char *topic, int qid) { br_message_arrived(arg, topic, qid); }

/* 1 if the store holds exactly these bytes at off. */
static int store_has(st_store_t *st, int64_t off, const uint8_t *data, size_t len)
{
    while (len) {
        const uint8_t *p;
        size_t n;
        if (st_ha_read(st, off, len, &p, &n) != ST_OK || n == 0 || memcmp(p, data, n) != 0)
            return 0;
        off += (int64_t)n;
        data += n;
        len -= n;
    }
    return 1;
}

/* Committed commit-log bytes at off. The leader wrote them itself; a node that wrote other
 * bytes there as a leader that was then deposed takes those back first; a follower appends. */
static int apply_records(br_dledger_t *d, int64_t off, const uint8_t *data, size_t len)
{
    br_broker_t *b = d->b;
    int64_t w = st_max_phy_offset(b->store);
    if (off != d->applied) {
        LOG_E("dledger", "committed entry at commit-log offset %" PRId64 " but %" PRId64 " applied: logs diverged",
              off, d->applied);
        return -1;
    }
    int mine = d->leading && off + (int64_t)len <= d->proposed;
    if (!mine && w > off && !(w >= off + (int64_t)len && store_has(b->store, off, data, len))) {
        st_truncate(b->store, off); /* our own uncommitted records: the group decided otherwise */
        d->proposed = off;
        w = off;
    }
    if (w == off) {
        int rc = st_ha_append(b->store, off, data, len);
        if (rc != ST_OK) {
            LOG_E("dledger", "cannot store committed bytes at %" PRId64 ": %s", off, st_strerror(rc));
            return -1;
        }
    }
    d->applied = off + (int64_t)len;
    st_set_visible(b->store, d->applied);
    br_dl_records_each(data, len, wake_one, b);
    br_flushwait_kick(b);
    return 0;
}

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    br_dledger_t *d = fsm->data;
    br_dl_entry_t e;
    *result = NULL;
    if (br_dl_entry_decode(buf->base, buf->len, &e) != 0) {
        LOG_W("dledger", "a Raft entry of %zu bytes that is not Loulan's was ignored", buf->len);
        return 0;
    }
    if (d->fetch_to) /* a snapshot's records are still on their way: keep the order */
        return br_dl_pend(d, &e) == 0 ? 0 : RAFT_NOMEM;
    if (br_dl_apply_entry(d, &e) == 0)
        return 0;
    d->broken = 1; /* this node cannot follow the group: say so and stop serving */
    return RAFT_IOERR;
}

int br_dl_apply_entry(br_dledger_t *d, const br_dl_entry_t *e)
{
    if (e->kind == BR_DL_RECORDS)
        return apply_records(d, e->offset, e->payload, e->len);
    if (!d->leading) /* tables: the leader's are where the entry came from */
        br_dl_tables_apply(d, (const char *)e->payload, e->len);
    return 0;
}

/* ---- proposing what the leader wrote ---- */

static void propose_written(br_dledger_t *d);

typedef struct dl_apply {
    struct raft_apply req;      /* first: the callback gets its address */
    int kind;
} dl_apply_t;

static void on_applied(struct raft_apply *req, int status, void *result)
{
    (void)result;
    br_dledger_t *d = req->data;
    int records = ((dl_apply_t *)req)->kind == BR_DL_RECORDS;
    free(req);
    if (records && d->inflight > 0)
        d->inflight--;
    if (status != 0 && d->leading)
        LOG_W("dledger", "an entry was not committed: %s", raft_strerror(status));
    if (status == 0 && d->leading)
        propose_written(d); /* what piled up while this one was on its way */
}

/* Hand Raft one entry (the layout in dledger.h). */
int br_dl_propose(br_dledger_t *d, int kind, int64_t off, const void *data, size_t len)
{
    size_t total = (BR_DL_HDR + len + 7) / 8 * 8;
    struct raft_buffer buf = {raft_malloc(total), total};
    dl_apply_t *req = malloc(sizeof *req);
    if (!buf.base || !req || len > UINT32_MAX - 64) {
        raft_free(buf.base);
        free(req);
        return -1;
    }
    uint8_t *p = buf.base;
    memset(p, 0, BR_DL_HDR);
    memset(p + total - 8, 0, 8); /* the padding (within the last 8 bytes) */
    p[0] = (uint8_t)kind;
    cm_wbe32(p + 4, (uint32_t)len);
    cm_wbe64(p + 8, (uint64_t)off);
    memcpy(p + BR_DL_HDR, data, len);
    req->req.data = d;
    req->kind = kind;
    int rc = raft_apply(&d->raft, &req->req, &buf, 1, on_applied);
    if (rc != 0) {
        raft_free(buf.base);
        free(req);
        return -1;
    }
    return 0;
}

/* Everything the leader wrote and has not handed to Raft becomes one entry per commit-log file
 * chunk. At most DL_INFLIGHT record entries wait for their commit at a time: sends arriving
 * meanwhile pile up in the store and go as one entry when one commits, so a commit round carries
 * all of them (the fsyncs of Raft, not the sends, set the pace). */
#define DL_INFLIGHT 2
static void propose_written(br_dledger_t *d)
{
    int64_t w = st_max_phy_offset(d->b->store);
    while (d->proposed < w && d->inflight < DL_INFLIGHT) {
        const uint8_t *p;
        size_t n;
        if (st_ha_read(d->b->store, d->proposed, ENTRY_MAX, &p, &n) != ST_OK || n == 0 ||
            br_dl_propose(d, BR_DL_RECORDS, d->proposed, p, n) != 0) {
            uint64_t now = uv_now(d->b->loop);
            if (now - d->warned_at >= 1000) { /* e.g. during a leadership transfer: once a second */
                d->warned_at = now;
                LOG_W("dledger", "cannot hand the records at %" PRId64 " to Raft now; trying again", d->proposed);
            }
            return; /* next turn again; the waiting sends time out, deposition takes them back */
        }
        d->proposed += (int64_t)n;
        d->inflight++;
    }
}

/* Once per loop turn, after the turn's callbacks: what they wrote goes to Raft. */
static void on_prepare(uv_prepare_t *h)
{
    br_dledger_t *d = h->data;
    if (d->leading)
        propose_written(d);
}

/* ---- roles (spec §6.8) ---- */

static void become_master(br_dledger_t *d)
{
    br_broker_t *b = d->b;
    if (st_max_phy_offset(b->store) > d->applied)
        st_truncate(b->store, d->applied);
    d->proposed = d->applied;
    d->inflight = 0;
    d->leading = 1;
    b->role = BR_SYNC_MASTER;
    b->cfg.brokerId = 0;
    st_set_slave(b->store, 0);
    br_dl_tables_mark(d);
    LOG_I("dledger", "%s leads group %s (term %llu): master of %s", d->peers[d->self].id, b->cfg.dLegerGroup,
          (unsigned long long)d->raft.current_term, b->cfg.brokerName);
    br_register_all(b, 0);
    br_role_changed(b);
}

static void become_follower(br_dledger_t *d, int announce)
{
    br_broker_t *b = d->b;
    int was = d->leading;
    d->leading = 0;
    b->role = BR_SLAVE;
    b->cfg.brokerId = d->peers[d->self].num + 1;
    st_set_slave(b->store, 1);
    if (was) {
        br_flushwait_abort(b, RC_SERVICE_NOT_AVAILABLE,
                           "[DLedger] this broker lost the leadership before a majority confirmed the message: it "
                           "may or may not be stored; send again");
        if (st_max_phy_offset(b->store) > d->applied)
            st_truncate(b->store, d->applied);
        d->proposed = d->applied;
        LOG_I("dledger", "%s no longer leads group %s", d->peers[d->self].id, b->cfg.dLegerGroup);
        br_role_changed(b);
    }
    if (was || announce)
        br_register_all(b, 0);
}

static void on_barrier(struct raft_barrier *req, int status)
{
    br_dledger_t *d = req->data;
    d->barrier_pending = 0;
    /* every entry of earlier terms is applied now: the store ends where the group's log does */
    if (status == 0 && raft_state(&d->raft) == RAFT_LEADER && !d->leading && !d->b->stopping)
        become_master(d);
}

static void on_transfer(struct raft_transfer *req)
{
    br_dledger_t *d = req->data;
    d->transferring = 0;
}

int br_dl_transfer(br_dledger_t *d, raft_id id)
{
    if (d->transferring || raft_state(&d->raft) != RAFT_LEADER)
        return RAFT_NOTLEADER;
    d->transfer.data = d;
    int rc = raft_transfer(&d->raft, &d->transfer, id, on_transfer);
    if (rc == 0)
        d->transferring = 1;
    return rc;
}

/* preferredLeaderId: hand over to the first preferred peer that is in contact and caught up
 * (within 1000 entries, as DLedger's maxLeadershipTransferWaitIndex). */
static void check_preferred(br_dledger_t *d)
{
    if (!d->npreferred || d->transferring)
        return;
    for (int i = 0; i < d->npreferred; i++)
        if (d->preferred[i] == d->raft.id)
            return;
    struct raft_configuration *c = &d->raft.configuration;
    for (int k = 0; k < d->npreferred; k++)
        for (unsigned i = 0; i < c->n; i++) {
            struct raft_progress *pr = &d->raft.leader_state.progress[i];
            if (c->servers[i].id == d->preferred[k] && pr->match_index + 1000 >= raft_last_index(&d->raft) &&
                pr->recent_recv) {
                LOG_I("dledger", "handing the leadership to preferred leader %llu",
                      (unsigned long long)d->preferred[k]);
                br_dl_transfer(d, d->preferred[k]);
                return;
            }
        }
}

static void on_tick(uv_timer_t *t)
{
    br_dledger_t *d = t->data;
    if (d->b->stopping)
        return;
    if (d->broken) {
        LOG_E("dledger", "this node's store cannot follow the group (see above): stopping");
        br_stop(d->b);
        return;
    }
    int state = raft_state(&d->raft);
    if (state == RAFT_LEADER && !d->leading && !d->barrier_pending) {
        d->barrier.data = d;
        if (raft_barrier(&d->raft, &d->barrier, on_barrier) == 0)
            d->barrier_pending = 1;
    } else if (state != RAFT_LEADER && d->leading) {
        become_follower(d, 0);
    }
    uint64_t now = uv_now(d->b->loop);
    /* tables only after every record written before them: progress that says a delayed
     * message was delivered must never commit ahead of the delivered message */
    if (d->leading && now - d->tables_at >= TABLES_EVERY_MS && d->proposed == st_max_phy_offset(d->b->store)) {
        d->tables_at = now;
        br_dl_tables_tick(d);
    }
    if (d->fetch_to)
        br_dl_fetch_tick(d);
    if (d->leading && now - d->preferred_at >= PREFERRED_EVERY_MS) {
        d->preferred_at = now;
        check_preferred(d);
    }
}

/* ---- start and stop ---- */

static int64_t dl_acked(const br_broker_t *b) { return b->dledger ? b->dledger->applied : 0; }
static int dl_slaves(const br_broker_t *b) { return b->dledger ? b->dledger->npeers - 1 : 0; }

static raft_id peer_raft_id(const br_peer_t *p) { return (raft_id)p->num + 1; }

static int raft_setup(br_dledger_t *d)
{
    br_broker_t *b = d->b;
    char err[256], addr[128];
    if (cm_mkdirs(b->cfg.storePathDLedgerCommitLog) != 0) {
        LOG_E("dledger", "cannot create %s (storePathDLedgerCommitLog)", b->cfg.storePathDLedgerCommitLog);
        return -1;
    }
    d->npeers = br_dledger_peers(b->cfg.dLegerPeers, d->peers, err, sizeof err);
    for (int i = 0; i < d->npeers; i++)
        if (strcmp(d->peers[i].id, b->cfg.dLegerSelfId) == 0)
            d->self = i;
    const br_peer_t *me = &d->peers[d->self];
    snprintf(addr, sizeof addr, "%s:%d", me->host, me->port);
    if (br_dl_guard_init(d) != 0)
        return -1;
    int rc = raft_uv_init(&d->io, b->loop, b->cfg.storePathDLedgerCommitLog, &d->guard);
    if (rc != 0) {
        LOG_E("dledger", "Raft storage in %s: %s", b->cfg.storePathDLedgerCommitLog, d->io.errmsg);
        return -1;
    }
    d->io_on = 1;
    d->fsm = (struct raft_fsm){.version = 1, .data = d, .apply = fsm_apply, .snapshot = br_dl_snapshot,
                               .restore = br_dl_restore};
    if ((rc = raft_init(&d->raft, &d->io, &d->fsm, peer_raft_id(me), addr)) != 0) {
        LOG_E("dledger", "raft_init: %s", raft_errmsg(&d->raft));
        return -1;
    }
    d->raft_on = 1;
    d->raft.data = d;
    struct raft_configuration conf;
    raft_configuration_init(&conf);
    for (int i = 0; i < d->npeers; i++) {
        snprintf(addr, sizeof addr, "%s:%d", d->peers[i].host, d->peers[i].port);
        raft_configuration_add(&conf, peer_raft_id(&d->peers[i]), addr, RAFT_VOTER);
    }
    rc = raft_bootstrap(&d->raft, &conf); /* the first start of this node: same list everywhere */
    raft_configuration_close(&conf);
    if (rc != 0 && rc != RAFT_CANTBOOTSTRAP) {
        LOG_E("dledger", "raft_bootstrap: %s", raft_errmsg(&d->raft));
        return -1;
    }
    unsigned et = (unsigned)b->cfg.dLegerElectionTimeoutMs;
    raft_set_election_timeout(&d->raft, et);
    raft_set_heartbeat_timeout(&d->raft, et / 8 ? et / 8 : 1);
    raft_set_pre_vote(&d->raft, true); /* a node back from a partition does not depose a good leader */
    raft_set_snapshot_threshold(&d->raft, (unsigned)b->cfg.dLegerSnapshotEntries);
    raft_set_snapshot_trailing(&d->raft, (unsigned)b->cfg.dLegerSnapshotEntries);
    if ((rc = raft_start(&d->raft)) != 0) {
        LOG_E("dledger", "raft_start: %s", raft_errmsg(&d->raft));
        return -1;
    }
    return br_dl_check_members(d);
}

static int dl_start(br_broker_t *b)
{
    if (!b->cfg.enableDLegerCommitLog)
        return 0;
    br_dledger_t *d = calloc(1, sizeof *d);
    if (!d)
        return -1;
    d->b = b;
    b->dledger = d;
    /* a classic commit log cannot become a Raft log after the fact: it has no Raft history */
    if (st_max_phy_offset(b->store) > 0 && !br_dl_has_raft_data(b->cfg.storePathDLedgerCommitLog)) {
        LOG_E("dledger", "%s holds a commit log written outside DLedger mode and %s has no Raft log: start the group "
                         "on an empty storePathRootDir (upgrading a classic store is not supported)",
              b->cfg.storePathRootDir, b->cfg.storePathDLedgerCommitLog);
        return -1;
    }
    st_set_visible(b->store, 0); /* nothing is known committed until Raft replays its log */
    d->preferred_at = d->tables_at = uv_now(b->loop);
    char pref[256];
    snprintf(pref, sizeof pref, "%s", b->cfg.preferredLeaderId);
    br_peer_t tmp[BR_DLEDGER_MAX_PEERS];
    char err[128];
    int n = br_dledger_peers(b->cfg.dLegerPeers, tmp, err, sizeof err);
    for (char *sv, *t = strtok_r(pref, ";", &sv); t && d->npreferred < BR_DLEDGER_MAX_PEERS; t = strtok_r(NULL, ";", &sv))
        for (int i = 0; i < n; i++)
            if (strcmp(tmp[i].id, t) == 0)
                d->preferred[d->npreferred++] = peer_raft_id(&tmp[i]);
    if (raft_setup(d) != 0)
        return -1;
    b->hooks.ha_acked = dl_acked;
    b->hooks.master_known = br_dl_master_known;
    b->hooks.ha_slaves = dl_slaves;
    uv_prepare_init(b->loop, &d->prepare);
    d->prepare.data = d;
    uv_prepare_start(&d->prepare, on_prepare);
    uv_timer_init(b->loop, &d->tick);
    d->tick.data = d;
    uv_timer_start(&d->tick, on_tick, ROLE_TICK_MS, ROLE_TICK_MS);
    d->handles_on = 1;
    become_follower(d, 0);
    LOG_I("dledger", "%s of group %s: %d peer(s), Raft log in %s", b->cfg.dLegerSelfId, b->cfg.dLegerGroup,
          d->npeers, b->cfg.storePathDLedgerCommitLog);
    return 0;
}

static void on_raft_closed(struct raft *r)
{
    br_dledger_t *d = r->data;
    d->raft_on = 0;
    raft_uv_close(&d->io);
    br_dl_guard_close(d);
    if (d->handles_on) {
        d->prepare.data = d->tick.data = d->b; /* the core's close callback counts on the broker */
        uv_close((uv_handle_t *)&d->prepare, d->stopped);
        uv_close((uv_handle_t *)&d->tick, d->stopped);
    }
}

static int dl_stop(br_broker_t *b, uv_close_cb cb)
{
    br_dledger_t *d = b->dledger;
    if (!d || !d->handles_on)
        return 0;
    d->leading = 0;
    d->stopped = cb;
    br_dl_fetch_stop(d);
    uv_prepare_stop(&d->prepare);
    uv_timer_stop(&d->tick);
    raft_close(&d->raft, on_raft_closed);
    return 2; /* prepare and tick, closed once Raft has closed */
}

static void dl_release(br_broker_t *b)
{
    if (b->dledger)
        br_dl_tables_free(b->dledger);
    free(b->dledger);
    b->dledger = NULL;
}

const br_subsys_t br_dledger_subsys = {"dledger", dl_start, dl_stop, dl_release, br_dl_handlers, BR_DL_NHANDLERS, 0};
