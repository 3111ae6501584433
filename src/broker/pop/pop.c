/* pop.c: POP consumption (spec grpc-5x.md section 4, design of 4.5). A receive hands out first the
 * messages of the (group, topic) whose invisible time ran out (redelivery, reconsumeTimes + 1),
 * then new ones from the group's pop cursor; each becomes an entry in flight, hashed by
 * "group@topic@queueId@offset" and on a heap by next-visible time. Ack removes the entry;
 * change-invisible-time moves it on the heap with a new popTime (the handle's generation).
 * Every reviveInterval the heap's due entries become ready again (parked receives of their
 * topic wake), or go to %DLQ%<group> once their reconsumeTimes reached the group's
 * retryMaxTimes. Receives without a message park on their topic and a deadline heap; a put to
 * the topic wakes them (the core's pop_arrived hook). Work on the loop follows what is due,
 * never the number of messages in flight or of groups.
 *
 * Persistence: each receive, ack, change and DLQ move appends text lines to the store topic
 * rmq_sys_pop_state (pop.h); start replays it (last line per entry wins). The store's retention
 * bounds it: an entry in flight is rewritten at least every invisible time (at most 12 h).
 * Only a master serves POP. A DLedger node elected master replays the replicated journal a slice
 * per loop turn before it serves (the pop_role_changed hook); a deposed one drops its state.
 * GET_CONSUME_STATS asks pop_progress for a POP group's offsets: the lowest message not acked
 * (a heap per queue by offset) and the pop cursor. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/pop/pop.h"

#define MAX_POP_MSGS 32
#define MAX_POP_BYTES (1024 * 1024)
#define RC_INVALID_PARAMETER 215
#define TICK_MS 50
#define REVIVE_SLICE 4096       /* entries made visible per loop turn */
#define NOT_IN_HEAP SIZE_MAX
#define MAX_QUEUES 65536
#define MAX_INVISIBLE_MS (12 * 3600 * 1000) /* as the gRPC proxy: a line in flight stays within retention */
#define SNAPSHOT_EVERY_MS (3600 * 1000) /* the state is rewritten at least this often */
#define REBUILD_SLICE_BYTES (256 * 1024) /* journal replayed per loop turn after becoming master */
/* The consumer offset of this group on the journal topic is where the last complete snapshot
 * begins (as Apache keeps its revive progress as CID_RMQ_SYS_REVIVE_GROUP's offset): the offset
 * table travels to slaves and DLedger followers, so whichever node becomes master knows it. */
#define CKPT_GROUP "CID_RMQ_SYS_POP_STATE"

typedef struct pop_entry pop_entry_t;
typedef struct pop_gt pop_gt_t;

typedef struct pop_batch {     /* an orderly batch taken with an attemptId (spec 4.4) */
    char attempt[64];
    int64_t popTime;
    int n;
    int64_t off[32];
} pop_batch_t;

typedef struct pop_queue {
    int64_t cursor;             /* next offset never handed out (-1: not known yet) */
    int loaded;                 /* cursor merged with the consumer offset table */
    int inflight;               /* entries invisible now (on the heap): an orderly POP skips the queue */
    uint64_t blocked;           /* = the pop's sequence number: blocked when that orderly pop began */
    pop_batch_t *batch;         /* the orderly batch in flight, for a receive with its attemptId */
    pop_entry_t *rhead, *rtail; /* visible again, waiting for the next receive */
    cm_heap_t oheap;            /* every entry of the queue by offset: the lowest not acked */
} pop_queue_t;

struct pop_gt {                 /* one (group, topic) */
    char group[256], topic[128];
    pop_queue_t *q;
    int nq;
    unsigned rot;               /* where a receive of every queue starts */
    uint64_t seq;               /* pops so far (pop_queue_t.blocked) */
    pop_gt_t *gnext;            /* every (group, topic), in creation order (snapshots walk it) */
    size_t nwaits;              /* parked receives (popPollingSize) */
};

struct pop_entry {
    pop_gt_t *gt;
    int32_t qid, reconsume;     /* reconsumeTimes of its latest delivery */
    int64_t offset, cloff;
    int64_t popTime, invisibleTime;
    size_t heap_at;             /* NOT_IN_HEAP: in its queue's ready list */
    size_t oheap_at;            /* in its queue's oheap */
    pop_entry_t *rprev, *rnext;
    pop_entry_t *aprev, *anext; /* every entry, in creation order (snapshots walk it) */
};

typedef struct pop_req {
    pop_gt_t *gt;
    int32_t qid, maxNums;
    int64_t invisibleTime;
    int initMode;
    int order;                  /* orderly: a queue with messages in flight is skipped */
    int notify;                 /* NOTIFICATION: only whether something could be popped */
    char attempt[64];           /* attemptId: an orderly receive repeated gets the same batch */
    br_sub_t sub;
    br_pop_cb cb;
    void *arg;
    int64_t deadline;           /* wall ms; 0: no long polling */
    /* parked */
    struct pop_req *prev, *next;
    struct pop_waitq *wq;
    size_t heap_at;
} pop_req_t;

typedef struct pop_waitq {
    pop_req_t *head, *tail;
    char topic[128];
} pop_waitq_t;

typedef struct br_pops br_pops_t;
struct br_pops {
    cm_map_t gts;               /* "group@topic" -> pop_gt_t */
    cm_map_t entries;           /* "group@topic@qid@offset" -> pop_entry_t */
    cm_map_t waitqs;            /* topic -> pop_waitq_t */
    cm_heap_t eheap, wheap;
    size_t nwaits;
    uv_timer_t timer;
    int64_t lastRevive;
    int reviveMore;             /* the last revive stopped at REVIVE_SLICE: go on next tick */
    cm_buf_t body, journal;
    st_get_result_t g;
    int journalWarned;
    pop_entry_t *ahead, *atail; /* every entry */
    pop_gt_t *ghead, *gtail;    /* every (group, topic) */
    /* journal snapshots: every line needed to rebuild the state, written again (sliced), so
     * that a replay may start where the last complete one began (popCheckpoint.json) */
    int64_t sinceSnap, lastSnapMsgs; /* journal messages since the last snapshot began; its size */
    int64_t lastSnapAt;         /* wall ms the last snapshot began (or the start) */
    int snapping, snapFailed;
    int64_t snapFrom, ckpt;     /* where the snapshot being written / the last complete one begins */
    pop_entry_t *snapE;         /* next entry to write */
    pop_gt_t *snapG;            /* next cursor to write */
    char ckptPath[1100];
    struct br_pslot *ps;
    /* serving: master with its state built; a slave, or a new master replaying the journal
     * (sliced, one slice per loop turn from the idle handle), refuses every POP request */
    int serving, rebuilding;
    uv_idle_t rebuild;
    int64_t rbOff, rbMax, rbFrom, rbStarted, rbMsgs, rbEnd; /* rbEnd: the snapshot start whose 'E' line must be seen */
    int rbFound, rbBad;
    int64_t journalEnd;         /* commit-log end of the last journal message stored */
    struct held *hhead, *htail; /* DLedger: POP answers waiting for the group to commit their lines */
};

/* A remoting POP answer held until a majority holds the journal lines of its messages (DLedger):
 * the next master must know them as in flight, not hand them out again at once. */
typedef struct held {
    rm_conn_t *conn;
    int32_t opaque;
    int serialize;
    rm_cmd_t resp;
    uint8_t *body;
    size_t blen;
    int64_t need;               /* commit-log offset the group must have committed */
    uint64_t deadline;          /* uv_now: answered anyway after BR_QUORUM_WAIT_MS */
    struct held *next;
} held_t;

/* ---- the heaps' keys and index setters (cm_heap_t) ---- */

static int64_t ekey(const void *p) { const pop_entry_t *e = p; return e->popTime + e->invisibleTime; }
static void epos(void *p, size_t i) { ((pop_entry_t *)p)->heap_at = i; }
static int64_t wkey(const void *p) { return ((const pop_req_t *)p)->deadline; }
static void wpos(void *p, size_t i) { ((pop_req_t *)p)->heap_at = i; }
static int64_t okey(const void *p) { return ((const pop_entry_t *)p)->offset; }
static void opos(void *p, size_t i) { ((pop_entry_t *)p)->oheap_at = i; }

/* ---- (group, topic) and entries ---- */

static pop_gt_t *gt_get(br_broker_t *b, const char *group, const char *topic, int create)
{
    char key[400];
    snprintf(key, sizeof key, "%s@%s", group, topic);
    pop_gt_t *gt = cm_map_get(&b->pops->gts, key);
    if (gt || !create || strlen(group) >= sizeof gt->group || strlen(topic) >= sizeof gt->topic)
        return gt;
    if (!(gt = calloc(1, sizeof *gt)))
        return NULL;
    snprintf(gt->group, sizeof gt->group, "%s", group);
    snprintf(gt->topic, sizeof gt->topic, "%s", topic);
    if (cm_map_put(&b->pops->gts, key, gt) != 0) {
        free(gt);
        return NULL;
    }
    if (b->pops->gtail)
        b->pops->gtail->gnext = gt;
    else
        b->pops->ghead = gt;
    b->pops->gtail = gt;
    return gt;
}

static void gt_free(void *p)
{
    pop_gt_t *gt = p;
    for (int i = 0; i < gt->nq; i++) {
        free(gt->q[i].batch);
        cm_heap_free(&gt->q[i].oheap);
    }
    free(gt->q);
    free(gt);
}

/* The queue's state, the array grown to hold it; NULL when out of memory. */
static pop_queue_t *gt_queue(pop_gt_t *gt, int qid)
{
    if (qid < 0 || qid >= MAX_QUEUES)
        return NULL;
    if (qid >= gt->nq) {
        int nq = qid + 1 > gt->nq * 2 ? qid + 1 : gt->nq * 2;
        pop_queue_t *q = realloc(gt->q, (size_t)nq * sizeof *q);
        if (!q)
            return NULL;
        for (int i = gt->nq; i < nq; i++)
            q[i] = (pop_queue_t){.cursor = -1, .oheap = {.key = okey, .pos = opos}};
        gt->q = q;
        gt->nq = nq;
    }
    return &gt->q[qid];
}

static void entry_key(char *key, size_t n, const char *group, const char *topic, int qid, int64_t offset)
{
    snprintf(key, n, "%s@%s@%d@%" PRId64, group, topic, qid, offset);
}

static pop_entry_t *entry_get(br_broker_t *b, const char *group, const char *topic, int qid, int64_t offset)
{
    char key[420];
    entry_key(key, sizeof key, group, topic, qid, offset);
    return cm_map_get(&b->pops->entries, key);
}

static void ready_unlink(pop_entry_t *e)
{
    pop_queue_t *q = &e->gt->q[e->qid];
    if (e->rprev)
        e->rprev->rnext = e->rnext;
    else
        q->rhead = e->rnext;
    if (e->rnext)
        e->rnext->rprev = e->rprev;
    else
        q->rtail = e->rprev;
    e->rprev = e->rnext = NULL;
}

static void ready_append(pop_entry_t *e)
{
    pop_queue_t *q = &e->gt->q[e->qid];
    e->rprev = q->rtail;
    e->rnext = NULL;
    if (q->rtail)
        q->rtail->rnext = e;
    else
        q->rhead = e;
    q->rtail = e;
}

/* Out of the heap or the ready list. */
static void entry_detach(br_broker_t *b, pop_entry_t *e)
{
    if (e->heap_at != NOT_IN_HEAP) {
        cm_heap_remove(&b->pops->eheap, e->heap_at);
        e->gt->q[e->qid].inflight--;
    } else
        ready_unlink(e);
    e->heap_at = NOT_IN_HEAP;
}

/* In flight until popTime + invisibleTime (heap), or ready when that passed at replay. */
static int entry_schedule(br_broker_t *b, pop_entry_t *e)
{
    if (cm_heap_push(&b->pops->eheap, e) != 0) { /* keep it deliverable rather than lose it */
        e->heap_at = NOT_IN_HEAP;
        ready_append(e);
        return CM_ENOMEM;
    }
    e->gt->q[e->qid].inflight++;
    return 0;
}

static void entry_drop(br_broker_t *b, pop_entry_t *e)
{
    char key[420];
    br_pops_t *p = b->pops;
    entry_detach(b, e);
    cm_heap_remove(&e->gt->q[e->qid].oheap, e->oheap_at);
    if (p->snapE == e)
        p->snapE = e->anext;
    if (e->aprev)
        e->aprev->anext = e->anext;
    else
        p->ahead = e->anext;
    if (e->anext)
        e->anext->aprev = e->aprev;
    else
        p->atail = e->aprev;
    entry_key(key, sizeof key, e->gt->group, e->gt->topic, e->qid, e->offset);
    cm_map_remove(&b->pops->entries, key);
    free(e);
}

static pop_entry_t *entry_new(br_broker_t *b, pop_gt_t *gt, int qid, int64_t offset)
{
    char key[420];
    pop_entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->gt = gt;
    e->qid = qid;
    e->offset = offset;
    e->heap_at = NOT_IN_HEAP;
    entry_key(key, sizeof key, gt->group, gt->topic, qid, offset);
    if (cm_heap_push(&gt->q[qid].oheap, e) != 0) {
        free(e);
        return NULL;
    }
    if (cm_map_put(&b->pops->entries, key, e) != 0) {
        cm_heap_remove(&gt->q[qid].oheap, e->oheap_at);
        free(e);
        return NULL;
    }
    br_pops_t *p = b->pops;
    e->aprev = p->atail;
    if (p->atail)
        p->atail->anext = e;
    else
        p->ahead = e;
    p->atail = e;
    return e;
}

/* ---- the journal (rmq_sys_pop_state) ---- */

static void journal_p(br_broker_t *b, const pop_entry_t *e)
{
    cm_buf_printf(&b->pops->journal, "P %s %s %d %" PRId64 " %" PRId64 " %d %" PRId64 " %" PRId64 "\n", e->gt->group,
                  e->gt->topic, e->qid, e->offset, e->cloff, e->reconsume, e->popTime, e->invisibleTime);
}

static void journal_a(br_broker_t *b, const pop_entry_t *e)
{
    cm_buf_printf(&b->pops->journal, "A %s %s %d %" PRId64 "\n", e->gt->group, e->gt->topic, e->qid, e->offset);
}

/* Store what was journalled since the last flush as one message (before the answer goes out,
 * so that an answered ack survives a kill -9: the commit log is a shared mapping). */
static void journal_flush(br_broker_t *b)
{
    br_pops_t *p = b->pops;
    static st_put_result_t res;
    static int ready;
    if (p->journal.len == 0)
        return;
    if (!ready) {
        st_put_result_init(&res);
        ready = 1;
    }
    size_t off = 0;
    while (off < p->journal.len) { /* within maxMessageSize, cut at line ends */
        size_t n = p->journal.len - off, cap = (size_t)b->cfg.maxMessageSize;
        if (n > cap) {
            n = cap;
            while (n > 0 && p->journal.data[off + n - 1] != '\n')
                n--;
            if (n == 0)
                break;
        }
        st_msg_t m = {.topic = BR_POP_STATE_TOPIC, .queueId = 0, .body = (const uint8_t *)p->journal.data + off,
                      .bodyLen = (uint32_t)n, .bornTimestamp = cm_now_ms(), .bornHostIp = b->store_ip};
        int rc = st_put(b->store, &m, &res);
        if (rc == ST_OK) {
            p->sinceSnap++;
            p->journalEnd = res.phyOffset + res.size;
        }
        else if (p->snapping)
            p->snapFailed = 1;
        if (rc != ST_OK && !p->journalWarned) {
            p->journalWarned = 1;
            LOG_W("pop", "POP state not journalled (%s): a restart may redeliver or lose in-flight messages",
                  st_strerror(rc));
        } else if (rc == ST_OK) {
            p->journalWarned = 0;
        }
        off += n;
    }
    cm_buf_reset(&p->journal);
}

typedef struct { br_broker_t *b; int64_t n; } replay_t;

static void replay_line(void *arg, const br_pop_jrec_t *r)
{
    replay_t *rp = arg;
    br_broker_t *b = rp->b;
    if (r->kind == 'S' || r->kind == 'E') { /* a snapshot's bounds: 'E' says it was completed */
        if (r->kind == 'E' && r->offset == b->pops->rbEnd)
            b->pops->rbFound = 1;
        return;
    }
    pop_gt_t *gt = gt_get(b, r->group, r->topic, 1);
    pop_queue_t *q = gt ? gt_queue(gt, r->queueId) : NULL;
    if (!q)
        return;
    int64_t floor = r->kind == 'C' ? r->offset : r->offset + 1;
    if (floor > q->cursor)
        q->cursor = floor;
    if (r->kind == 'C')
        return;
    pop_entry_t *e = entry_get(b, r->group, r->topic, r->queueId, r->offset);
    if (r->kind == 'A') {
        if (e)
            entry_drop(b, e);
        return;
    }
    if (e)
        entry_detach(b, e);
    else if (!(e = entry_new(b, gt, r->queueId, r->offset)))
        return;
    e->cloff = r->commitLogOffset;
    e->reconsume = r->reconsumeTimes;
    e->popTime = r->popTime;
    e->invisibleTime = r->invisibleTime;
    entry_schedule(b, e);
    rp->n++;
}

/* Forget every entry and cursor (parked receives are answered code/remark first). */
static void unpark(br_broker_t *b, struct pop_req *r);
static void req_free(struct pop_req *r);
static void state_clear(br_broker_t *b, int code, const char *remark)
{
    br_pops_t *p = b->pops;
    while (p->wheap.n > 0) {
        pop_req_t *r = p->wheap.v[0];
        unpark(b, r);
        r->cb(r->arg, code, remark, 0, 0, NULL, 0);
        req_free(r);
    }
    cm_heap_free(&p->eheap);
    cm_map_free(&p->entries, free);
    cm_map_free(&p->gts, gt_free);
    p->ahead = p->atail = NULL;
    p->ghead = p->gtail = NULL;
    p->snapping = 0;
    p->snapE = NULL;
    p->snapG = NULL;
    p->reviveMore = 0;
    cm_buf_reset(&p->journal);
}

/* Start rebuilding the state from the journal: from the last complete snapshot (the later of
 * popCheckpoint.json and the checkpoint group's offset, if the journal still holds it), else
 * from the journal's start. */
static void rebuild_begin(br_broker_t *b)
{
    br_pops_t *p = b->pops;
    int64_t min = st_min_offset(b->store, BR_POP_STATE_TOPIC, 0);
    lj_val_t *ck = br_load_json_file(p->ckptPath);
    int64_t from = lj_get_int(ck, "journalOffset", 0), t = br_offsets_get(&b->offsets, CKPT_GROUP, BR_POP_STATE_TOPIC, 0);
    lj_free(ck);
    if (t > from)
        from = t;
    p->rbMax = st_max_offset(b->store, BR_POP_STATE_TOPIC, 0);
    p->rbFrom = p->rbOff = from > min && from <= p->rbMax ? from : min;
    p->rbEnd = p->rbFrom > min ? p->rbFrom : -1;
    p->rbFound = 0;
    p->rbBad = 0;
    p->rbMsgs = 0;
    p->rbStarted = cm_now_ms();
    p->rebuilding = 1;
}

/* Replay the next journal messages, about budget bytes of them (0: all). 1 when the state is
 * rebuilt. A snapshot start whose 'E' line is not in the store (written by a master deposed
 * before the group had it) is not trusted: the replay begins again at the journal's start. */
static int rebuild_some(br_broker_t *b, size_t budget)
{
    br_pops_t *p = b->pops;
    replay_t rp = {.b = b};
    size_t done = 0;
    while (p->rbOff < p->rbMax && (budget == 0 || done < budget)) {
        if (st_get(b->store, BR_POP_STATE_TOPIC, 0, p->rbOff, 32, 0, NULL, &p->g) != ST_OK ||
            p->g.nextBeginOffset <= p->rbOff) {
            p->rbOff = p->rbMax; /* cannot read on: what was read is the state */
            break;
        }
        for (uint32_t i = 0; i < p->g.n; i++) {
            st_record_t r;
            if (st_record_decode(p->g.msgs[i].iov_base, p->g.msgs[i].iov_len, 0, &r) == ST_OK) {
                p->rbBad += br_pop_journal_each((const char *)r.body, r.bodyLen, replay_line, &rp);
                done += r.bodyLen;
                p->rbMsgs++;
            }
        }
        p->rbOff = p->g.nextBeginOffset;
    }
    if (p->rbOff < p->rbMax)
        return 0;
    if (p->rbEnd >= 0 && !p->rbFound) {
        LOG_W("pop", "the POP snapshot at journal offset %" PRId64 " was not completed in this store: replaying "
                     "the journal from its start", p->rbEnd);
        state_clear(b, RC_SERVICE_NOT_AVAILABLE, "POP state is being rebuilt");
        p->rbFrom = p->rbOff = st_min_offset(b->store, BR_POP_STATE_TOPIC, 0);
        p->rbEnd = -1;
        return 0;
    }
    p->rebuilding = 0;
    p->ckpt = p->rbFrom;
    p->sinceSnap = p->rbMsgs; /* a long replay makes the next snapshot come soon */
    p->lastSnapMsgs = 0;
    p->lastSnapAt = cm_now_ms();
    p->lastRevive = 0;        /* what ran out meanwhile becomes visible at the next tick */
    if (p->rbMax > 0)
        LOG_I("pop", "POP state replayed from journal offset %" PRId64 " of %" PRId64 ": %zu messages in flight, %d bad "
                     "lines (%" PRId64 " ms)", p->rbFrom, p->rbMax, p->entries.n, p->rbBad, cm_now_ms() - p->rbStarted);
    return 1;
}

/* ---- receiving ---- */

/* Where reconsumeTimes sits in a stored record (after the v4 or v6 hosts). */
static size_t reconsume_at(const uint8_t *rec)
{
    uint32_t sysFlag = cm_be32(rec + 36);
    return 48 + ((sysFlag & 0x10) ? 20 : 8) + 8 + ((sysFlag & 0x20) ? 20 : 8);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

typedef struct pick {
    size_t at;                  /* record's place in p->body */
    uint32_t len;
    int32_t qid, reconsume;
    int64_t offset;
} pick_t;

/* Append a record to the answer body with reconsumeTimes set. */
static int add_record(br_pops_t *p, const uint8_t *rec, uint32_t len, pick_t *pk, int32_t reconsume)
{
    if (len < 100 || reconsume_at(rec) + 4 > len)
        return -1;
    pk->at = p->body.len;
    pk->len = len;
    pk->reconsume = reconsume;
    if (cm_buf_append(&p->body, rec, len))
        return -1;
    put_be32((uint8_t *)p->body.data + pk->at + reconsume_at(rec), (uint32_t)reconsume);
    return 0;
}

#define ORDER_REVIVE_QID 999 /* marks an orderly pop's handle, as Apache */

static void make_handle(char *out, size_t n, const char *brokerName, int64_t popTime, int64_t invisibleTime, int qid,
                        int64_t offset, int64_t cloff, int order)
{
    snprintf(out, n, "%" PRId64 " %" PRId64 " %" PRId64 " %d 0 %s %d %" PRId64 " %" PRId64, offset, popTime,
             invisibleTime, order ? ORDER_REVIVE_QID : 0, brokerName, qid, offset, cloff);
}

/* The queue's cursor, from the consumer offset table (or initMode) the first time. */
static int64_t cursor_of(br_broker_t *b, pop_gt_t *gt, pop_queue_t *q, int qid, int initMode)
{
    if (!q->loaded) {
        int64_t o = br_offsets_get(&b->offsets, gt->group, gt->topic, qid);
        if (o < 0 && q->cursor < 0) { /* a new group: where initMode says, for good */
            o = initMode == 1 ? st_max_offset(b->store, gt->topic, qid) : st_min_offset(b->store, gt->topic, qid);
            cm_buf_printf(&b->pops->journal, "C %s %s %d %" PRId64 "\n", gt->group, gt->topic, qid, o);
            br_offsets_set(&b->offsets, gt->group, gt->topic, qid, o);
        }
        if (o > q->cursor)
            q->cursor = o;
        q->loaded = 1;
    }
    return q->cursor;
}

static const char *prop_lookup(void *arg, const char *name, size_t *len)
{
    const st_record_t *r = arg;
    const char *v;
    return st_props_get(r->properties, r->propertiesLen, name, &v, len) == ST_OK ? v : NULL;
}

static int sql_match(void *arg, int64_t tagsCode, const uint8_t *record, uint32_t len)
{
    st_record_t r;
    (void)tagsCode;
    if (st_record_decode(record, len, 0, &r) != ST_OK)
        return 0;
    return fl_eval(arg, prop_lookup, &r);
}

static int deliver(br_broker_t *b, pop_req_t *r, const pick_t *picks, pop_entry_t *const *ents, int n,
                   int64_t popTime, int64_t invisibleTime);

/* After an orderly pop: each queue it took from remembers the batch under the attemptId (none:
 * forgets it). */
static void remember_batch(pop_gt_t *gt, const char *attempt, const pick_t *picks, int n, int64_t popTime)
{
    for (int i = 0; i < n; i++) {
        pop_queue_t *q = &gt->q[picks[i].qid];
        if (!attempt[0]) {
            free(q->batch);
            q->batch = NULL;
            continue;
        }
        if (!q->batch && !(q->batch = calloc(1, sizeof *q->batch)))
            continue;
        if (q->batch->popTime != popTime || strcmp(q->batch->attempt, attempt) != 0) {
            snprintf(q->batch->attempt, sizeof q->batch->attempt, "%s", attempt);
            q->batch->popTime = popTime;
            q->batch->n = 0;
        }
        if (q->batch->n < MAX_POP_MSGS)
            q->batch->off[q->batch->n++] = picks[i].offset;
    }
}

/* An orderly receive repeated with the attemptId of a batch still in flight gets that batch
 * again, same handles (a lost answer is served again). 1 if answered. */
static int reenter(br_broker_t *b, pop_req_t *r, int q0, int span, int nq)
{
    br_pops_t *p = b->pops;
    pop_gt_t *gt = r->gt;
    pick_t picks[MAX_POP_MSGS];
    pop_entry_t *ents[MAX_POP_MSGS];
    for (int i = 0; i < span; i++) {
        int qid = (q0 + i) % nq;
        pop_queue_t *q = &gt->q[qid];
        if (!q->batch || q->inflight == 0 || strcmp(q->batch->attempt, r->attempt) != 0)
            continue;
        int n = 0;
        cm_buf_reset(&p->body);
        for (int j = 0; j < q->batch->n; j++) {
            pop_entry_t *e = entry_get(b, gt->group, gt->topic, qid, q->batch->off[j]);
            const uint8_t *rec;
            uint32_t len;
            if (!e || e->heap_at == NOT_IN_HEAP || e->popTime != q->batch->popTime ||
                st_read_record_at(b->store, e->cloff, &rec, &len) != ST_OK ||
                add_record(p, rec, len, &picks[n], e->reconsume))
                continue;
            picks[n].qid = qid;
            picks[n].offset = e->offset;
            ents[n++] = e;
        }
        if (n)
            return deliver(b, r, picks, ents, n, q->batch->popTime, ents[0]->invisibleTime);
    }
    return 0;
}

/* Hand out what is there: the ready entries, then new messages. Calls r->cb and returns 1 when
 * it found any, else 0 (cb not called). */
static int pop_try(br_broker_t *b, pop_req_t *r)
{
    br_pops_t *p = b->pops;
    pop_gt_t *gt = r->gt;
    br_topic_t *tc = br_topics_get(&b->topics, gt->topic);
    int nq = tc ? tc->readQueueNums : 0;
    if (nq <= 0 || (r->qid >= 0 && r->qid >= nq) || !gt_queue(gt, nq - 1))
        return 0;
    if (r->notify) /* NOTIFICATION: a message visible to the group (tags not looked at) */
        for (int i = 0; i < (r->qid >= 0 ? 1 : nq); i++) {
            int qid = r->qid >= 0 ? r->qid : i;
            pop_queue_t *q = &gt->q[qid];
            if (r->order && q->inflight > 0)
                continue;
            if (q->rhead || cursor_of(b, gt, q, qid, r->initMode) < st_max_offset(b->store, gt->topic, qid)) {
                journal_flush(b);
                r->cb(r->arg, RC_SUCCESS, NULL, 0, 0, NULL, 0);
                return 1;
            }
        }
    if (r->notify) {
        journal_flush(b);
        return 0;
    }
    int want = r->maxNums > 0 && r->maxNums < MAX_POP_MSGS ? r->maxNums : MAX_POP_MSGS;
    int q0 = r->qid >= 0 ? r->qid : (int)(gt->rot++ % (unsigned)nq), span = r->qid >= 0 ? 1 : nq;
    pop_entry_t *again[MAX_POP_MSGS];
    int nagain = 0;
    int64_t now = cm_now_ms(), popTime = now;
    uint64_t seq = ++gt->seq;
    if (r->order && r->attempt[0] && reenter(b, r, q0, span, nq))
        return 1;
    for (int i = 0; i < span && nagain < want; i++) {
        pop_queue_t *q = &gt->q[(q0 + i) % nq];
        if (r->order && q->inflight > 0) { /* spec 4.4: one batch of a queue in flight at a time */
            q->blocked = seq;
            continue;
        }
        int first = nagain;
        for (pop_entry_t *e = q->rhead; e; e = e->rnext) {
            if (nagain < want) {
                again[nagain++] = e;
            } else if (!r->order || first == nagain) {
                break;
            } else { /* orderly: the lowest offsets first, whatever order they became visible in */
                int hi = first;
                for (int k = first + 1; k < nagain; k++)
                    if (again[k]->offset > again[hi]->offset)
                        hi = k;
                if (e->offset < again[hi]->offset)
                    again[hi] = e;
            }
        }
        for (int k = first + 1; k < nagain; k++) /* by offset (a batch is at most 32) */
            for (int j = k; j > first && again[j - 1]->offset > again[j]->offset; j--) {
                pop_entry_t *t = again[j];
                again[j] = again[j - 1];
                again[j - 1] = t;
            }
    }
    for (int i = 0; i < nagain; i++)
        if (again[i]->popTime >= popTime) /* a new popTime is the handle's new generation */
            popTime = again[i]->popTime + 1;
    pick_t picks[MAX_POP_MSGS];
    pop_entry_t *ents[MAX_POP_MSGS];
    int n = 0;
    cm_buf_reset(&p->body);
    for (int i = 0; i < nagain; i++) {
        pop_entry_t *e = again[i];
        const uint8_t *rec;
        uint32_t len;
        st_record_t sr;
        if (st_read_record_at(b->store, e->cloff, &rec, &len) != ST_OK || st_record_decode(rec, len, 0, &sr) != ST_OK ||
            sr.queueOffset != e->offset || sr.queueId != e->qid || add_record(p, rec, len, &picks[n], e->reconsume + 1)) {
            LOG_W("pop", "message %s@%d:%" PRId64 " of group %s cannot be read any more: dropped", gt->topic, e->qid,
                  e->offset, gt->group);
            journal_a(b, e);
            entry_drop(b, e);
            continue;
        }
        ready_unlink(e);
        e->reconsume++;
        e->popTime = popTime;
        e->invisibleTime = r->invisibleTime;
        entry_schedule(b, e);
        journal_p(b, e);
        picks[n].qid = e->qid;
        picks[n].offset = e->offset;
        ents[n++] = e;
    }
    st_filter_t filter = {.codes = r->sub.codes, .ncodes = r->sub.ncodes};
    if (r->sub.sql) {
        filter.ncodes = 0;
        filter.match = sql_match;
        filter.arg = r->sub.sql;
    }
    for (int i = 0; i < span && n < want; i++) {
        int qid = (q0 + i) % nq;
        pop_queue_t *q = &gt->q[qid];
        if (r->order && (q->blocked == seq || q->rhead)) /* blocked, or older ones still to go */
            continue;
        int64_t cur = cursor_of(b, gt, q, qid, r->initMode);
        if (cur >= st_max_offset(b->store, gt->topic, qid))
            continue;
        size_t budget = p->body.len < MAX_POP_BYTES ? MAX_POP_BYTES - p->body.len : 1;
        if (st_get(b->store, gt->topic, qid, cur, want - n, budget, r->sub.all ? NULL : &filter, &p->g) != ST_OK)
            continue;
        int64_t next = p->g.nextBeginOffset;
        for (uint32_t k = 0; p->g.status == ST_GET_FOUND && k < p->g.n && n < want; k++) {
            st_record_t sr;
            const uint8_t *rec = p->g.msgs[k].iov_base;
            uint32_t len = (uint32_t)p->g.msgs[k].iov_len;
            pop_entry_t *e;
            if (st_record_decode(rec, len, 0, &sr) != ST_OK)
                continue;
            if (entry_get(b, gt->group, gt->topic, qid, sr.queueOffset)) /* already in flight */
                continue;
            if (!(e = entry_new(b, gt, qid, sr.queueOffset))) {
                next = sr.queueOffset; /* out of memory: stop before it */
                break;
            }
            if (add_record(p, rec, len, &picks[n], sr.reconsumeTimes)) {
                entry_drop(b, e);
                continue;
            }
            e->cloff = sr.physicOffset;
            e->reconsume = sr.reconsumeTimes;
            e->popTime = popTime;
            e->invisibleTime = r->invisibleTime;
            entry_schedule(b, e);
            journal_p(b, e);
            picks[n].qid = qid;
            picks[n].offset = sr.queueOffset;
            ents[n++] = e;
        }
        if (next > cur || (p->g.status != ST_GET_FOUND && next >= 0)) {
            q->cursor = next;
            br_offsets_set(&b->offsets, gt->group, gt->topic, qid, next);
        }
    }
    if (n == 0) {
        journal_flush(b); /* drops of unreadable entries */
        return 0;
    }
    journal_flush(b);
    if (r->order)
        remember_batch(gt, r->attempt, picks, n, popTime);
    return deliver(b, r, picks, ents, n, popTime, r->invisibleTime);
}

/* Answer r with the picked records (in p->body) and their entries; returns 1. */
static int deliver(br_broker_t *b, pop_req_t *r, const pick_t *picks, pop_entry_t *const *ents, int n,
                   int64_t popTime, int64_t invisibleTime)
{
    br_pops_t *p = b->pops;
    pop_gt_t *gt = r->gt;
    br_pop_msg_t msgs[MAX_POP_MSGS];
    char handles[MAX_POP_MSGS][300];
    for (int i = 0; i < n; i++) {
        make_handle(handles[i], sizeof handles[i], b->cfg.brokerName, popTime, invisibleTime, picks[i].qid,
                    picks[i].offset, ents[i]->cloff, r->order);
        msgs[i] = (br_pop_msg_t){.rec = (const uint8_t *)p->body.data + picks[i].at, .len = picks[i].len,
                                 .queueId = picks[i].qid, .queueOffset = picks[i].offset,
                                 .reconsumeTimes = picks[i].reconsume, .handle = handles[i]};
    }
    b->stats.getTotal += n;
    br_stats_group_add(b, gt->group, n);
    char key[400];
    snprintf(key, sizeof key, "%s@%s", gt->topic, gt->group);
    br_stats_count(b, BR_STAT_GROUP_GET, key, n);
    /* the callback may ack or receive again (gRPC acks what its tags filter out): that must
     * not reuse the body the messages point into */
    cm_buf_t body = p->body;
    cm_buf_init(&p->body);
    r->cb(r->arg, RC_SUCCESS, NULL, popTime, invisibleTime, msgs, (size_t)n);
    if (p->body.data == NULL)
        p->body = body; /* keep the grown buffer for the next receive */
    else
        cm_buf_free(&body);
    return 1;
}

static void req_free(pop_req_t *r)
{
    br_sub_free(&r->sub);
    free(r);
}

static void unpark(br_broker_t *b, pop_req_t *r)
{
    pop_waitq_t *wq = r->wq;
    if (r->prev)
        r->prev->next = r->next;
    else
        wq->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        wq->tail = r->prev;
    r->prev = r->next = NULL;
    r->wq = NULL;
    if (!wq->head) {
        cm_map_remove(&b->pops->waitqs, wq->topic);
        free(wq);
    }
    cm_heap_remove(&b->pops->wheap, r->heap_at);
    b->pops->nwaits--;
    r->gt->nwaits--;
}

/* Park r on its topic until a message arrives or its deadline; answers POLLING_FULL itself. */
static void park(br_broker_t *b, pop_req_t *r)
{
    br_pops_t *p = b->pops;
    pop_waitq_t *wq = cm_map_get(&p->waitqs, r->gt->topic);
    int new_wq = wq == NULL;
    if ((int64_t)r->gt->nwaits >= b->cfg.popPollingSize || (int64_t)p->nwaits >= b->cfg.maxPopPollingSize) {
        r->cb(r->arg, BR_RC_POLLING_FULL, "polling full", 0, 0, NULL, 0);
        req_free(r);
        return;
    }
    if (new_wq && (wq = calloc(1, sizeof *wq)) != NULL) {
        snprintf(wq->topic, sizeof wq->topic, "%s", r->gt->topic);
        if (cm_map_put(&p->waitqs, wq->topic, wq) != 0) {
            free(wq);
            wq = NULL;
        }
    }
    if (!wq || cm_heap_push(&p->wheap, r) != 0) {
        if (new_wq && wq)
            free(cm_map_remove(&p->waitqs, r->gt->topic));
        r->cb(r->arg, BR_RC_POLLING_FULL, "out of memory", 0, 0, NULL, 0);
        req_free(r);
        return;
    }
    r->wq = wq;
    r->prev = wq->tail;
    r->next = NULL;
    if (wq->tail)
        wq->tail->next = r;
    else
        wq->head = r;
    wq->tail = r;
    p->nwaits++;
    r->gt->nwaits++;
}

/* Run a receive (owned r): answered, or parked until its deadline. */
static void pop_run(br_broker_t *b, pop_req_t *r, int first)
{
    if (pop_try(b, r)) {
        req_free(r);
        return;
    }
    if (r->deadline > cm_now_ms() && !b->stopping) {
        park(b, r);
        return;
    }
    if (r->notify)
        r->cb(r->arg, BR_RC_POLLING_TIMEOUT, NULL, 0, 0, NULL, 0);
    else if (first && r->deadline == 0)
        r->cb(r->arg, RC_PULL_NOT_FOUND, "no new message", 0, 0, NULL, 0);
    else
        r->cb(r->arg, BR_RC_POLLING_TIMEOUT, "no new message", 0, 0, NULL, 0);
    req_free(r);
}

/* A message was stored to topic (or became visible again): the receives parked on it run. */
static void pop_wake(br_broker_t *b, const char *topic)
{
    br_pops_t *p = b->pops;
    if (!p || p->nwaits == 0)
        return;
    pop_waitq_t *wq = cm_map_get(&p->waitqs, topic);
    if (!wq)
        return;
    /* detach the whole list first: a receive that finds nothing parks again on a new list */
    pop_req_t *list = wq->head;
    cm_map_remove(&p->waitqs, topic);
    free(wq);
    for (pop_req_t *r = list; r; r = r->next) {
        cm_heap_remove(&p->wheap, r->heap_at);
        p->nwaits--;
        r->gt->nwaits--;
        r->wq = NULL;
    }
    while (list) {
        pop_req_t *n = list->next;
        list->prev = list->next = NULL;
        pop_run(b, list, 0);
        list = n;
    }
}

/* Send a held answer (code 0: as it is; else that code and remark instead of the messages). */
static void held_answer(held_t *h, int code, const char *remark)
{
    if (code) {
        rm_cmd_free(&h->resp);
        rm_cmd_init(&h->resp, code);
        h->resp.remark = cm_strdup(remark);
        free(h->body);
        h->body = NULL;
    }
    uv_buf_t buf = uv_buf_init((char *)h->body, (unsigned)h->blen);
    if (h->body && !rm_conn_is_closed(h->conn))
        rm_conn_respond_raw(h->conn, h->opaque, h->serialize, &h->resp, &buf, 1, free, h->body);
    else {
        free(h->body);
        if (!rm_conn_is_closed(h->conn))
            rm_conn_respond_raw(h->conn, h->opaque, h->serialize, &h->resp, NULL, 0, NULL, NULL);
    }
    rm_cmd_free(&h->resp);
    rm_conn_unref(h->conn);
    free(h);
}

/* Answer the held POPs the group has committed (or waited for long enough); all: every one,
 * with code (0: as they are). */
static void held_drain(br_broker_t *b, int all, int code, const char *remark)
{
    br_pops_t *p = b->pops;
    uint64_t now = uv_now(b->loop);
    while (p->hhead && (all || p->hhead->need <= br_slave_acked(b) || now >= p->hhead->deadline)) {
        held_t *h = p->hhead;
        if (!(p->hhead = h->next))
            p->htail = NULL;
        held_answer(h, all ? code : 0, remark);
    }
}

static void hook_arrived(br_broker_t *b, const char *topic, int qid)
{
    (void)qid;
    if (b->pops && b->pops->hhead) /* on a DLedger master, committed records arrive here */
        held_drain(b, 0, 0, NULL);
    pop_wake(b, topic);
}

/* ---- redelivery and dead letters ---- */

static int group_max_times(br_broker_t *b, const char *group)
{
    br_group_t *g = br_groups_get(&b->groups, group);
    return g ? g->retryMaxTimes : 16;
}

/* Move e's message to %DLQ%<group>; 0 done (or hopeless), -1 try again later. */
static int to_dlq(br_broker_t *b, pop_entry_t *e)
{
    static cm_buf_t props;
    static st_put_result_t res;
    static int ready;
    if (!ready) {
        st_put_result_init(&res);
        ready = 1;
    }
    const uint8_t *rec;
    uint32_t len;
    st_record_t r;
    if (st_read_record_at(b->store, e->cloff, &rec, &len) != ST_OK || st_record_decode(rec, len, 0, &r) != ST_OK)
        return 0;
    char dlq[300], uniq[128] = "", retry[300];
    snprintf(dlq, sizeof dlq, "%%DLQ%%%s", e->gt->group);
    int code = 0;
    if (!br_topic_for_send(b, dlq, NULL, 1, &code))
        return -1;
    br_prop(&r, "UNIQ_KEY", uniq, sizeof uniq);
    if (br_prop(&r, "RETRY_TOPIC", retry, sizeof retry) != 0)
        snprintf(retry, sizeof retry, "%s", e->gt->topic);
    static const char *const drop[] = {"DLQ_ORIGIN_TOPIC", "DLQ_ORIGIN_MESSAGE_ID", "POP_CK", "RETRY_TOPIC", NULL};
    if (br_props_edit(&props, r.properties, r.propertiesLen, drop, "RETRY_TOPIC", retry,
                      "DLQ_ORIGIN_TOPIC", e->gt->topic, uniq[0] ? "DLQ_ORIGIN_MESSAGE_ID" : (char *)NULL, uniq,
                      (char *)NULL))
        return -1;
    r.reconsumeTimes = e->reconsume + 1;
    int rc = br_put_copy(b, &r, dlq, 0, &props, r.sysFlag & ~0xC, 0, &res);
    if (rc != ST_OK) {
        LOG_W("pop", "message %s@%d:%" PRId64 " of group %s not moved to %s yet: %s", e->gt->topic, e->qid, e->offset,
              e->gt->group, dlq, st_strerror(rc));
        return rc == ST_EMSG_ILLEGAL || rc == ST_EPROPS_TOO_LONG ? 0 : -1;
    }
    LOG_I("pop", "message %s@%d:%" PRId64 " moved to %s after %d attempts", e->gt->topic, e->qid, e->offset, dlq,
          e->reconsume + 1);
    br_message_arrived(b, dlq, 0);
    return 0;
}

/* The invisible time of the heap's due entries ran out: ready for the next receive, or dead.
 * At most REVIVE_SLICE per call (a loop turn); 1 when more are due. */
static int revive(br_broker_t *b, int64_t now)
{
    br_pops_t *p = b->pops;
    int done = 0;
    while (p->eheap.n > 0 && ekey(p->eheap.v[0]) <= now) {
        if (done++ == REVIVE_SLICE) {
            journal_flush(b);
            return 1;
        }
        pop_entry_t *e = p->eheap.v[0];
        cm_heap_remove(&p->eheap, 0);
        e->heap_at = NOT_IN_HEAP;
        e->gt->q[e->qid].inflight--;
        if (e->reconsume >= group_max_times(b, e->gt->group)) {
            if (to_dlq(b, e) != 0) { /* the store cannot take it now: again in a second */
                e->popTime = now + 1000 - e->invisibleTime;
                entry_schedule(b, e);
                continue;
            }
            journal_a(b, e);
            entry_drop(b, e);
            continue;
        }
        ready_append(e);
        pop_wake(b, e->gt->topic);
    }
    journal_flush(b);
    return 0;
}

/* ---- snapshots (popCheckpoint.json: {"journalOffset":N}) ---- */

static void *ck_snap(const void *table)
{
    const br_pops_t *p = table;
    cm_buf_t *out = calloc(1, sizeof *out);
    if (out && cm_buf_printf(out, "{\"journalOffset\":%" PRId64 "}\n", p->ckpt)) {
        cm_buf_free(out);
        free(out);
        out = NULL;
    }
    return out;
}

static int ck_render(const void *snap, cm_buf_t *out)
{
    const cm_buf_t *in = snap;
    return cm_buf_append(out, in->data, in->len);
}

static void ck_free(void *snap)
{
    cm_buf_free(snap);
    free(snap);
}

static const br_ptype_t ck_ptype = {ck_snap, ck_render, ck_free};

/* Write the next slice of a snapshot, starting one when the journal grew enough since the last
 * (popJournalSnapshotMessages, and at least twice the last snapshot's size). */
static void snapshot_step(br_broker_t *b)
{
    br_pops_t *p = b->pops;
    if (!p->snapping) {
        int64_t now = cm_now_ms();
        int grown = p->sinceSnap >= b->cfg.popJournalSnapshotMessages && p->sinceSnap >= 2 * p->lastSnapMsgs;
        /* hourly too: a line of an entry nobody pops again must not age out of the store */
        int old = now - p->lastSnapAt >= SNAPSHOT_EVERY_MS && (p->entries.n > 0 || p->sinceSnap > 0);
        if (br_is_slave(b) || !(grown || old))
            return;
        p->lastSnapAt = now;
        p->snapping = 1;
        p->snapFailed = 0;
        p->snapFrom = st_max_offset(b->store, BR_POP_STATE_TOPIC, 0);
        p->snapE = p->ahead;
        p->snapG = p->ghead;
        p->sinceSnap = 0;
        cm_buf_printf(&p->journal, "S %s %s 0 %" PRId64 "\n", CKPT_GROUP, BR_POP_STATE_TOPIC, p->snapFrom);
    }
    int budget = REVIVE_SLICE;
    for (; p->snapE && budget > 0; budget--, p->snapE = p->snapE->anext)
        journal_p(b, p->snapE);
    for (; !p->snapE && p->snapG && budget > 0; p->snapG = p->snapG->gnext) {
        pop_gt_t *gt = p->snapG;
        for (int q = 0; q < gt->nq; q++, budget--)
            if (gt->q[q].cursor >= 0)
                cm_buf_printf(&p->journal, "C %s %s %d %" PRId64 "\n", gt->group, gt->topic, q, gt->q[q].cursor);
    }
    if (!p->snapE && !p->snapG) /* complete: a replay may begin at its start */
        cm_buf_printf(&p->journal, "E %s %s 0 %" PRId64 "\n", CKPT_GROUP, BR_POP_STATE_TOPIC, p->snapFrom);
    journal_flush(b);
    if (p->snapE || p->snapG)
        return;
    p->snapping = 0;
    p->lastSnapMsgs = p->sinceSnap;
    if (p->snapFailed)
        return;
    p->ckpt = p->snapFrom;
    br_offsets_set(&b->offsets, CKPT_GROUP, BR_POP_STATE_TOPIC, 0, p->snapFrom);
    if (p->ps)
        br_persist_request(p->ps, BR_PERSIST_SOON_MS);
    else
        br_persist_write(&ck_ptype, p, p->ckptPath);
}

static void on_tick(uv_timer_t *t)
{
    br_broker_t *b = t->data;
    br_pops_t *p = b->pops;
    int64_t now = cm_now_ms();
    if (p->hhead)
        held_drain(b, 0, 0, NULL);
    if (!p->serving || br_is_slave(b)) /* nothing in flight here: a slave's journal is its master's */
        return;
    while (p->wheap.n > 0 && wkey(p->wheap.v[0]) <= now) { /* hold over: one more look, as Apache */
        pop_req_t *r = p->wheap.v[0];
        unpark(b, r);
        r->deadline = 0;
        pop_run(b, r, 0);
    }
    if (now - p->lastRevive >= b->cfg.reviveInterval || now < p->lastRevive || p->reviveMore)
        if (!(p->reviveMore = revive(b, now)))
            p->lastRevive = now;
    snapshot_step(b);
}

/* ---- the API behind the hooks ---- */

/* NULL when POP may be served now, else why not: a slave's journal is its master's; a broker
 * that just became master replays it first. */
static const char *not_serving(br_broker_t *b)
{
    if (br_is_slave(b))
        return "POP is served by the master only";
    if (!b->pops || b->stopping)
        return "the broker is stopping";
    if (!b->pops->serving)
        return "this broker just became master and is rebuilding its POP state from the journal: try again shortly";
    return NULL;
}

static void hook_receive(br_broker_t *b, const br_pop_ask_t *a, br_pop_cb cb, void *arg)
{
    char err[256];
    const char *why = not_serving(b);
    if (why) {
        cb(arg, RC_SERVICE_NOT_AVAILABLE, why, 0, 0, NULL, 0);
        return;
    }
    pop_req_t *r = calloc(1, sizeof *r);
    if (!r) {
        cb(arg, RC_SYSTEM_ERROR, "out of memory", 0, 0, NULL, 0);
        return;
    }
    r->cb = cb;
    r->arg = arg;
    r->qid = a->queueId;
    r->maxNums = a->maxNums;
    r->invisibleTime = a->invisibleTime < 0 ? 0 : a->invisibleTime > MAX_INVISIBLE_MS ? MAX_INVISIBLE_MS : a->invisibleTime;
    r->initMode = a->initMode;
    r->order = a->order;
    if (a->attemptId)
        snprintf(r->attempt, sizeof r->attempt, "%s", a->attemptId);
    r->heap_at = NOT_IN_HEAP;
    if (!(r->gt = gt_get(b, a->group, a->topic, 1))) {
        free(r);
        cb(arg, RC_SYSTEM_ERROR, "out of memory", 0, 0, NULL, 0);
        return;
    }
    /* the group's retry topic, as a 5.x consumer's heartbeat makes it: admin tools find a group's
     * brokers through its route (consumerProgress), and list groups by these topics */
    char retry[300];
    int code;
    snprintf(retry, sizeof retry, "%%RETRY%%%s", a->group);
    if (!br_topics_get(&b->topics, retry))
        br_topic_for_send(b, retry, NULL, 1, &code);
    const char *type = a->expType && a->expType[0] ? a->expType : "TAG";
    if (strcmp(type, "TAG") != 0 && !b->cfg.enablePropertyFilter) {
        free(r);
        cb(arg, RC_SYSTEM_ERROR, "The broker does not support consumer to filter message by SQL92", 0, 0, NULL, 0);
        return;
    }
    if (br_sub_parse_typed(&r->sub, a->topic, a->exp && a->exp[0] ? a->exp : "*", type, err, sizeof err) != 0) {
        req_free(r);
        char msg[300];
        snprintf(msg, sizeof msg, "parse the consumer's subscription failed: %s", err);
        cb(arg, RC_SUBSCRIPTION_PARSE_FAILED, msg, 0, 0, NULL, 0);
        return;
    }
    if (a->pollTime > 0)
        r->deadline = cm_now_ms() + a->pollTime;
    pop_run(b, r, 1);
}

/* The entry a handle names, or NULL with *why set (BR_POP_*). */
static pop_entry_t *by_handle(br_broker_t *b, const char *group, const char *topic, const char *handle, int *why,
                              br_pop_handle_t *h)
{
    if (!handle || br_pop_handle_parse(handle, strlen(handle), h) != 0) {
        *why = BR_POP_EBADHANDLE;
        return NULL;
    }
    pop_entry_t *e = entry_get(b, group, topic, h->queueId, h->queueOffset);
    if (!e) {
        *why = BR_POP_GONE;
        return NULL;
    }
    if (e->popTime != h->popTime) {
        *why = BR_POP_ESTALE;
        return NULL;
    }
    return e;
}

static int ack_one(br_broker_t *b, const char *group, const char *topic, int qid, int64_t offset, int64_t popTime)
{
    if (!b->pops)
        return BR_POP_GONE;
    pop_entry_t *e = entry_get(b, group, topic, qid, offset);
    if (!e)
        return BR_POP_GONE;
    if (e->popTime != popTime)
        return BR_POP_ESTALE;
    pop_gt_t *gt = e->gt;
    pop_queue_t *q = &gt->q[qid];
    journal_a(b, e);
    entry_drop(b, e);
    if (q->inflight == 0) /* an orderly queue opens: its parked receives look again */
        pop_wake(b, gt->topic);
    return BR_POP_OK;
}

static int hook_ack(br_broker_t *b, const char *group, const char *topic, const char *handle)
{
    br_pop_handle_t h;
    if (not_serving(b))
        return BR_POP_EUNAVAILABLE;
    if (!handle || br_pop_handle_parse(handle, strlen(handle), &h) != 0)
        return BR_POP_EBADHANDLE;
    int rc = ack_one(b, group, topic, h.queueId, h.queueOffset, h.popTime);
    journal_flush(b);
    return rc;
}

static int hook_change(br_broker_t *b, const char *group, const char *topic, const char *handle, int64_t invisibleTime,
                       char *newHandle, size_t n)
{
    br_pop_handle_t h;
    int why = 0;
    if (not_serving(b))
        return BR_POP_EUNAVAILABLE;
    pop_entry_t *e = by_handle(b, group, topic, handle, &why, &h);
    if (!e)
        return why;
    int64_t now = cm_now_ms();
    entry_detach(b, e);
    e->popTime = now > e->popTime ? now : e->popTime + 1;
    e->invisibleTime = invisibleTime < 0 ? 0 : invisibleTime > MAX_INVISIBLE_MS ? MAX_INVISIBLE_MS : invisibleTime;
    entry_schedule(b, e);
    journal_p(b, e);
    journal_flush(b);
    if (newHandle)
        make_handle(newHandle, n, b->cfg.brokerName, e->popTime, e->invisibleTime, e->qid, e->offset, e->cloff,
                    h.reviveQid == ORDER_REVIVE_QID);
    return BR_POP_OK;
}

/* ---- remoting handlers ---- */

typedef struct remote_ans {
    br_broker_t *b;
    rm_conn_t *conn;
    int32_t opaque;
    int serialize;
    int order;
} remote_ans_t;

/* "0 qid off;..." and "0 qid o1,o2;..." per queue, in the order of the body. */
static void offset_infos(const br_pop_msg_t *m, size_t n, cm_buf_t *start, cm_buf_t *offs)
{
    int done[MAX_POP_MSGS] = {0};
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        if (start->len) {
            cm_buf_putc(start, ';');
            cm_buf_putc(offs, ';');
        }
        int64_t first = m[i].queueOffset;
        cm_buf_printf(offs, "0 %d ", m[i].queueId);
        for (size_t j = i, k = 0; j < n; j++) {
            if (done[j] || m[j].queueId != m[i].queueId)
                continue;
            done[j] = 1;
            cm_buf_printf(offs, "%s%" PRId64, k++ ? "," : "", m[j].queueOffset);
            if (m[j].queueOffset < first)
                first = m[j].queueOffset;
        }
        cm_buf_printf(start, "0 %d %" PRId64, m[i].queueId, first);
    }
}

static void remote_done(void *arg, int code, const char *remark, int64_t popTime, int64_t invisibleTime,
                        const br_pop_msg_t *msgs, size_t n)
{
    remote_ans_t *a = arg;
    if (!rm_conn_is_closed(a->conn)) {
        rm_cmd_t resp;
        rm_cmd_init(&resp, code);
        if (remark)
            resp.remark = cm_strdup(remark);
        uint8_t *body = NULL;
        size_t blen = 0;
        if (code == RC_SUCCESS) {
            cm_buf_t s, o;
            cm_buf_init(&s);
            cm_buf_init(&o);
            offset_infos(msgs, n, &s, &o);
            rm_ext_set_i64(&resp, "popTime", popTime);
            rm_ext_set_i64(&resp, "invisibleTime", invisibleTime);
            rm_ext_set(&resp, "reviveQid", a->order ? "999" : "0");
            rm_ext_set(&resp, "restNum", "0");
            if (a->order) { /* per message: its delivery count, the client's reconsumeTimes */
                cm_buf_t oc;
                cm_buf_init(&oc);
                for (size_t i = 0; i < n; i++)
                    cm_buf_printf(&oc, "%s0 qo%d%%%" PRId64 " %d", i ? ";" : "", msgs[i].queueId, msgs[i].queueOffset,
                                  msgs[i].reconsumeTimes);
                rm_ext_set(&resp, "orderCountInfo", oc.data ? oc.data : "");
                cm_buf_free(&oc);
            }
            rm_ext_set(&resp, "startOffsetInfo", s.data ? s.data : "");
            rm_ext_set(&resp, "msgOffsetInfo", o.data ? o.data : "");
            cm_buf_free(&s);
            cm_buf_free(&o);
            for (size_t i = 0; i < n; i++)
                blen += msgs[i].len;
            if ((body = malloc(blen ? blen : 1)) != NULL) {
                size_t at = 0;
                for (size_t i = 0; i < n; i++) {
                    memcpy(body + at, msgs[i].rec, msgs[i].len);
                    at += msgs[i].len;
                }
            } else {
                blen = 0;
            }
        }
        br_broker_t *b = a->b;
        held_t *h;
        if (code == RC_SUCCESS && body && b->quorum && b->pops->journalEnd > br_slave_acked(b) &&
            (h = calloc(1, sizeof *h)) != NULL) {
            *h = (held_t){.conn = a->conn, .opaque = a->opaque, .serialize = a->serialize, .resp = resp, .body = body,
                          .blen = blen, .need = b->pops->journalEnd,
                          .deadline = uv_now(b->loop) + BR_QUORUM_WAIT_MS};
            rm_conn_ref(a->conn);
            if (b->pops->htail)
                b->pops->htail->next = h;
            else
                b->pops->hhead = h;
            b->pops->htail = h;
        } else {
            uv_buf_t buf = uv_buf_init((char *)body, (unsigned)blen);
            if (body)
                rm_conn_respond_raw(a->conn, a->opaque, a->serialize, &resp, &buf, 1, free, body);
            else
                rm_conn_respond_raw(a->conn, a->opaque, a->serialize, &resp, NULL, 0, NULL, NULL);
            rm_cmd_free(&resp);
        }
    }
    rm_conn_unref(a->conn);
    free(a);
}

/* Checks of every POP request: the broker, group and topic (and queue, unless -1) may be read. */
static br_topic_t *check_common(br_broker_t *b, rm_conn_t *c, rm_cmd_t *req, const char *group, const char *topic,
                                int32_t qid)
{
    const char *why = not_serving(b);
    if (why) {
        rm_conn_respond_code(c, req, RC_SERVICE_NOT_AVAILABLE, "%s", why);
        return NULL;
    }
    if (!(b->cfg.brokerPermission & PERM_READ)) {
        rm_conn_respond_code(c, req, RC_NO_PERMISSION, "the broker[%s] peeking message is forbidden", b->cfg.brokerName);
        return NULL;
    }
    br_group_t *g = br_group_for_request(b, c, req, group);
    if (!g)
        return NULL;
    if (!g->consumeEnable) {
        rm_conn_respond_code(c, req, RC_NO_PERMISSION, "subscription group no permission, %s", group);
        return NULL;
    }
    br_topic_t *tc = br_topics_get(&b->topics, topic);
    if (!tc) {
        rm_conn_respond_code(c, req, RC_TOPIC_NOT_EXIST, "topic[%s] not exist, apply first please!", topic);
        return NULL;
    }
    if (!(tc->perm & PERM_READ)) {
        rm_conn_respond_code(c, req, RC_NO_PERMISSION, "the topic[%s] peeking message is forbidden", topic);
        return NULL;
    }
    if (qid < -1 || qid >= tc->readQueueNums) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "queueId[%d] is illegal, topic:[%s] topicConfig.readQueueNums:[%d] consumer:[%s]",
                             qid, topic, tc->readQueueNums, rm_conn_peer(c));
        return NULL;
    }
    return tc;
}

static void handle_pop_message(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group, *topic;
    int32_t qid, maxNums;
    int64_t invisibleTime, pollTime = 0, bornTime = 0;
    int32_t initMode = 0;
    int order = 0;
    if (!(group = rm_req_str(c, req, "consumerGroup")) || !(topic = rm_req_str(c, req, "topic")) ||
        rm_req_i32(c, req, "queueId", &qid) || rm_req_i32(c, req, "maxMsgNums", &maxNums) ||
        rm_req_i64(c, req, "invisibleTime", &invisibleTime))
        return;
    rm_ext_i64(req, "pollTime", &pollTime);
    rm_ext_i64(req, "bornTime", &bornTime);
    rm_ext_i32(req, "initMode", &initMode);
    rm_ext_bool(req, "order", &order);
    if (maxNums <= 0 || maxNums > MAX_POP_MSGS) {
        rm_conn_respond_code(c, req, RC_INVALID_PARAMETER, "the broker msg max num should be in [1, %d], but is %d",
                             MAX_POP_MSGS, maxNums);
        return;
    }
    if (invisibleTime < 0 || invisibleTime > MAX_INVISIBLE_MS || pollTime < 0) {
        rm_conn_respond_code(c, req, RC_INVALID_PARAMETER, "invisibleTime must be in [0, %d] ms, pollTime not negative",
                             MAX_INVISIBLE_MS);
        return;
    }
    if (!check_common(b, c, req, group, topic, qid))
        return;
    if (pollTime > 0 && bornTime > 0 && cm_now_ms() - bornTime - pollTime > 500) {
        rm_conn_respond_code(c, req, BR_RC_POLLING_TIMEOUT, "the broker received the request after its poll time");
        return;
    }
    if (rm_cmd_is_oneway(req))
        return;
    remote_ans_t *a = malloc(sizeof *a);
    if (!a) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "out of memory");
        return;
    }
    a->b = b;
    a->conn = c;
    a->opaque = req->opaque;
    a->serialize = req->serialize;
    a->order = order;
    rm_conn_ref(c);
    br_pop_ask_t ask = {.group = group, .topic = topic, .queueId = qid, .maxNums = maxNums,
                        .invisibleTime = invisibleTime, .pollTime = pollTime > 20000 ? 20000 : pollTime,
                        .expType = rm_ext_get(req, "expType"), .exp = rm_ext_get(req, "exp"), .initMode = initMode,
                        .order = order, .attemptId = rm_ext_get(req, "attemptId")};
    hook_receive(b, &ask, remote_done, a);
}

/* NOTIFICATION (200054): long-polls until the group could pop something; SUCCESS with hasMsg
 * and pollingFull, as Apache. */
static void notify_done(void *arg, int code, const char *remark, int64_t popTime, int64_t invisibleTime,
                        const br_pop_msg_t *msgs, size_t n)
{
    remote_ans_t *a = arg;
    (void)popTime, (void)invisibleTime, (void)msgs, (void)n;
    if (!rm_conn_is_closed(a->conn)) {
        rm_cmd_t resp;
        int ok = code == RC_SUCCESS || code == BR_RC_POLLING_TIMEOUT || code == BR_RC_POLLING_FULL;
        rm_cmd_init(&resp, ok ? RC_SUCCESS : code);
        if (!ok && remark)
            resp.remark = cm_strdup(remark);
        rm_ext_set(&resp, "hasMsg", code == RC_SUCCESS ? "true" : "false");
        rm_ext_set(&resp, "pollingFull", code == BR_RC_POLLING_FULL ? "true" : "false");
        rm_conn_respond_raw(a->conn, a->opaque, a->serialize, &resp, NULL, 0, NULL, NULL);
        rm_cmd_free(&resp);
    }
    rm_conn_unref(a->conn);
    free(a);
}

static void handle_notification(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group, *topic;
    int32_t qid;
    int64_t pollTime = 0;
    int order = 0;
    if (!(group = rm_req_str(c, req, "consumerGroup")) || !(topic = rm_req_str(c, req, "topic")) ||
        rm_req_i32(c, req, "queueId", &qid))
        return;
    rm_ext_i64(req, "pollTime", &pollTime);
    rm_ext_bool(req, "order", &order);
    if (!check_common(b, c, req, group, topic, qid) || rm_cmd_is_oneway(req))
        return;
    pop_req_t *r = calloc(1, sizeof *r);
    remote_ans_t *a = malloc(sizeof *a);
    if (!r || !a || !(r->gt = gt_get(b, group, topic, 1))) {
        free(r);
        free(a);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "out of memory");
        return;
    }
    *a = (remote_ans_t){.b = b, .conn = c, .opaque = req->opaque, .serialize = req->serialize};
    rm_conn_ref(c);
    r->cb = notify_done;
    r->arg = a;
    r->qid = qid;
    r->order = order;
    r->notify = 1;
    r->initMode = 0;
    r->heap_at = NOT_IN_HEAP;
    if (pollTime > 0)
        r->deadline = cm_now_ms() + (pollTime > 20000 ? 20000 : pollTime);
    pop_run(b, r, 1);
}

/* POLLING_INFO (200055): how many receives of the group wait on the topic. */
static void handle_polling_info(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group, *topic;
    int32_t qid;
    if (!(group = rm_req_str(c, req, "consumerGroup")) || !(topic = rm_req_str(c, req, "topic")) ||
        rm_req_i32(c, req, "queueId", &qid) || !check_common(b, c, req, group, topic, qid))
        return;
    pop_gt_t *gt = gt_get(b, group, topic, 0);
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_ext_set_i64(&resp, "pollingNum", gt ? (int64_t)gt->nwaits : 0);
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
}

/* PEEK_MESSAGE (200052): the messages the group would get next from its cursor, not taken. */
static void handle_peek_message(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    br_pops_t *p = b->pops;
    const char *group, *topic;
    int32_t qid, maxNums;
    if (!(group = rm_req_str(c, req, "consumerGroup")) || !(topic = rm_req_str(c, req, "topic")) ||
        rm_req_i32(c, req, "queueId", &qid) || rm_req_i32(c, req, "maxMsgNums", &maxNums))
        return;
    if (maxNums <= 0 || maxNums > MAX_POP_MSGS) {
        rm_conn_respond_code(c, req, RC_INVALID_PARAMETER, "the broker msg max num should be in [1, %d], but is %d",
                             MAX_POP_MSGS, maxNums);
        return;
    }
    br_topic_t *tc = check_common(b, c, req, group, topic, qid);
    if (!tc)
        return;
    pop_gt_t *gt = gt_get(b, group, topic, 0);
    int nq = tc->readQueueNums, q0 = qid >= 0 ? qid : 0, span = qid >= 0 ? 1 : nq, n = 0;
    cm_buf_reset(&p->body);
    for (int i = 0; i < span && n < maxNums; i++) {
        int q = q0 + i;
        int64_t cur = gt && q < gt->nq && gt->q[q].loaded ? gt->q[q].cursor
                                                            : br_offsets_get(&b->offsets, group, topic, q);
        if (cur < 0)
            cur = st_min_offset(b->store, topic, q);
        if (st_get(b->store, topic, q, cur, maxNums - n, MAX_POP_BYTES, NULL, &p->g) != ST_OK ||
            p->g.status != ST_GET_FOUND)
            continue;
        for (uint32_t k = 0; k < p->g.n && n < maxNums; k++, n++)
            if (cm_buf_append(&p->body, p->g.msgs[k].iov_base, p->g.msgs[k].iov_len))
                break;
    }
    rm_cmd_t resp;
    rm_cmd_init(&resp, n ? RC_SUCCESS : RC_PULL_NOT_FOUND);
    if (!n)
        resp.remark = cm_strdup("no new message");
    uint8_t *body = n && p->body.len ? malloc(p->body.len) : NULL;
    if (body) {
        memcpy(body, p->body.data, p->body.len);
        uv_buf_t buf = uv_buf_init((char *)body, (unsigned)p->body.len);
        rm_conn_respond_raw(c, req->opaque, req->serialize, &resp, &buf, 1, free, body);
    } else {
        rm_conn_respond_raw(c, req->opaque, req->serialize, &resp, NULL, 0, NULL, NULL);
    }
    rm_cmd_free(&resp);
}

/* ACK_MESSAGE and CHANGE_MESSAGE_INVISIBLETIME share their header and checks. */
static int ack_header(br_broker_t *b, rm_conn_t *c, rm_cmd_t *req, const char **group, const char **topic,
                      br_pop_handle_t *h)
{
    int32_t qid;
    int64_t offset;
    const char *extra;
    if (!(*group = rm_req_str(c, req, "consumerGroup")) || !(*topic = rm_req_str(c, req, "topic")) ||
        rm_req_i32(c, req, "queueId", &qid) || !(extra = rm_req_str(c, req, "extraInfo")) ||
        rm_req_i64(c, req, "offset", &offset))
        return -1;
    const char *why = not_serving(b);
    if (why) { /* an ack taken here would be lost: the state is the master's */
        rm_conn_respond_code(c, req, RC_SERVICE_NOT_AVAILABLE, "%s", why);
        return -1;
    }
    br_topic_t *tc = br_topics_get(&b->topics, *topic);
    if (!tc) {
        rm_conn_respond_code(c, req, RC_TOPIC_NOT_EXIST, "topic[%s] not exist, apply first please!", *topic);
        return -1;
    }
    if (qid < 0 || qid >= tc->readQueueNums) {
        rm_conn_respond_code(c, req, RC_MESSAGE_ILLEGAL, "queueId[%d] is illegal, topic:[%s] topicConfig.readQueueNums:[%d] consumer:[%s]",
                             qid, *topic, tc->readQueueNums, rm_conn_peer(c));
        return -1;
    }
    int64_t min = st_min_offset(b->store, *topic, qid), max = st_max_offset(b->store, *topic, qid);
    if (offset < min || offset >= max) {
        rm_conn_respond_code(c, req, BR_RC_NO_MESSAGE, "offset is illegal, key:%s@%d, commit:%" PRId64 ", store:%" PRId64 ",%" PRId64,
                             *topic, qid, offset, min, max);
        return -1;
    }
    if (br_pop_handle_parse(extra, strlen(extra), h) != 0) {
        rm_conn_respond_code(c, req, RC_INVALID_PARAMETER, "extraInfo is not a receipt handle: %s", extra);
        return -1;
    }
    h->queueId = qid; /* the header names the message; the handle its generation */
    h->queueOffset = offset;
    return 0;
}

/* Answer an ack, batch ack or change (takes resp): in a DLedger group once a majority holds the
 * journal so far (an acked message must not come back from the next master), else now. */
static void respond_journalled(br_broker_t *b, rm_conn_t *c, rm_cmd_t *req, rm_cmd_t *resp)
{
    if (b->quorum && !rm_cmd_is_oneway(req) && b->pops->journalEnd > br_slave_acked(b)) {
        br_flushwait_add(b, c, req, resp, b->pops->journalEnd);
        return;
    }
    rm_conn_respond(c, req, resp);
    rm_cmd_free(resp);
}

static void handle_ack_message(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group, *topic;
    br_pop_handle_t h;
    if (ack_header(b, c, req, &group, &topic, &h))
        return;
    /* Apache's broker answers SUCCESS for any ack of an existing offset; one of an outdated
     * handle has no effect there either (the message comes back). */
    int rc = ack_one(b, group, topic, h.queueId, h.queueOffset, h.popTime);
    journal_flush(b);
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    if (rc == BR_POP_ESTALE)
        resp.remark = cm_strdup("the receipt handle is outdated: not acked");
    respond_journalled(b, c, req, &resp);
}

typedef struct { br_broker_t *b; int acked; } batch_t;

static void batch_one(void *arg, const char *group, const char *topic, int32_t qid, int64_t offset, int64_t popTime)
{
    batch_t *bt = arg;
    if (ack_one(bt->b, group, topic, qid, offset, popTime) == BR_POP_OK)
        bt->acked++;
}

static void handle_batch_ack_message(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    batch_t bt = {.b = b};
    const char *why = not_serving(b);
    if (why) {
        rm_conn_respond_code(c, req, RC_SERVICE_NOT_AVAILABLE, "%s", why);
        return;
    }
    int n = req->body_len ? br_pop_batch_ack_each((const char *)req->body, req->body_len, batch_one, &bt) : -1;
    journal_flush(b);
    if (n < 0) {
        rm_conn_respond_code(c, req, RC_INVALID_PARAMETER, "the body is not a BatchAckMessageRequestBody");
        return;
    }
    if (n == 0) {
        rm_conn_respond_code(c, req, BR_RC_NO_MESSAGE, "no ack in the request");
        return;
    }
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    respond_journalled(b, c, req, &resp);
}

static void handle_change_invisible_time(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *group, *topic;
    br_pop_handle_t h;
    int64_t invisibleTime;
    if (rm_req_i64(c, req, "invisibleTime", &invisibleTime) || ack_header(b, c, req, &group, &topic, &h))
        return;
    if (invisibleTime < 0 || invisibleTime > MAX_INVISIBLE_MS) {
        rm_conn_respond_code(c, req, RC_INVALID_PARAMETER, "invisibleTime must be in [0, %d] ms", MAX_INVISIBLE_MS);
        return;
    }
    pop_entry_t *e = entry_get(b, group, topic, h.queueId, h.queueOffset);
    if (!e || e->popTime != h.popTime) {
        rm_conn_respond_code(c, req, BR_RC_NO_MESSAGE, e ? "the receipt handle is outdated" : "the message is not in flight (acked, or never popped)");
        return;
    }
    char handle[300];
    make_handle(handle, sizeof handle, b->cfg.brokerName, e->popTime, e->invisibleTime, e->qid, e->offset, e->cloff,
                h.reviveQid == ORDER_REVIVE_QID);
    hook_change(b, group, topic, handle, invisibleTime, NULL, 0);
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_ext_set_i64(&resp, "popTime", e->popTime);
    rm_ext_set_i64(&resp, "invisibleTime", e->invisibleTime);
    rm_ext_set(&resp, "reviveQid", h.reviveQid == ORDER_REVIVE_QID ? "999" : "0");
    respond_journalled(b, c, req, &resp);
}

/* ---- admin views and role changes ---- */

static int hook_progress(br_broker_t *b, const char *group, const char *topic, int qid, int64_t *consumer,
                         int64_t *pull)
{
    br_pops_t *p = b->pops;
    pop_gt_t *gt = p && p->serving ? gt_get(b, group, topic, 0) : NULL;
    if (!gt || qid < 0 || qid >= gt->nq)
        return 0;
    pop_queue_t *q = &gt->q[qid];
    int64_t cur = q->cursor, o = br_offsets_get(&b->offsets, group, topic, qid);
    if (!q->loaded && o > cur) /* not merged with the offset table yet */
        cur = o;
    if (cur < 0 && q->oheap.n == 0)
        return 0;
    *pull = cur;
    *consumer = q->oheap.n > 0 && okey(q->oheap.v[0]) < cur ? okey(q->oheap.v[0]) : cur;
    return 1;
}

static void on_rebuild(uv_idle_t *h)
{
    br_broker_t *b = h->data;
    if (b->stopping || rebuild_some(b, REBUILD_SLICE_BYTES)) {
        uv_idle_stop(h);
        b->pops->serving = !b->stopping;
    }
}

/* DLedger: a new master rebuilds the state from the replicated journal, a slice per loop turn,
 * refusing POP meanwhile; a deposed one drops it (the journal it wrote past the group's commit
 * is gone, what the group has is the next master's to replay). */
static void hook_role_changed(br_broker_t *b)
{
    br_pops_t *p = b->pops;
    held_drain(b, 1, RC_SERVICE_NOT_AVAILABLE,
               "this broker lost the leadership before the group held the POP state of these messages: receive again");
    state_clear(b, RC_SERVICE_NOT_AVAILABLE, "this broker is no longer the master");
    p->journalEnd = 0; /* what it wrote as an earlier master may be gone: never wait for that */
    p->serving = 0;
    p->rebuilding = 0;
    uv_idle_stop(&p->rebuild);
    if (br_is_slave(b)) {
        LOG_I("pop", "slave now: POP refused, its state dropped");
        return;
    }
    if (!br_topics_get(&b->topics, BR_POP_STATE_TOPIC))
        br_topics_put(&b->topics, BR_POP_STATE_TOPIC, 1, 1, PERM_READ | PERM_WRITE, 0);
    rebuild_begin(b);
    LOG_I("pop", "master now: rebuilding the POP state from journal offset %" PRId64 " to %" PRId64, p->rbFrom,
          p->rbMax);
    uv_idle_start(&p->rebuild, on_rebuild);
}

/* ---- the subsystem ---- */

static int pop_start(br_broker_t *b)
{
    br_pops_t *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    b->pops = p;
    p->eheap = (cm_heap_t){.key = ekey, .pos = epos};
    p->wheap = (cm_heap_t){.key = wkey, .pos = wpos};
    st_get_result_init(&p->g);
    cm_buf_init(&p->body);
    cm_buf_init(&p->journal);
    snprintf(p->ckptPath, sizeof p->ckptPath, "%s/config/popCheckpoint.json", b->cfg.storePathRootDir);
    if (!br_topics_get(&b->topics, BR_POP_STATE_TOPIC) && !br_is_slave(b)) /* registered with the rest */
        br_topics_put(&b->topics, BR_POP_STATE_TOPIC, 1, 1, PERM_READ | PERM_WRITE, 0);
    if (!br_is_slave(b)) { /* before the broker serves: at once (a DLedger node starts as a follower) */
        rebuild_begin(b);
        while (!rebuild_some(b, 0))
            ;
        p->serving = 1;
    }
    br_persist_slot(b, &ck_ptype, p, p->ckptPath, &p->ps);
    p->lastSnapAt = cm_now_ms();
    p->lastRevive = cm_now_ms();
    b->hooks.pop_arrived = hook_arrived;
    b->hooks.pop_receive = hook_receive;
    b->hooks.pop_ack = hook_ack;
    b->hooks.pop_change = hook_change;
    b->hooks.pop_progress = hook_progress;
    b->hooks.pop_role_changed = hook_role_changed;
    uv_timer_init(b->loop, &p->timer);
    p->timer.data = b;
    uv_timer_start(&p->timer, on_tick, TICK_MS, TICK_MS);
    uv_idle_init(b->loop, &p->rebuild);
    p->rebuild.data = b;
    return 0;
}

static int pop_stop(br_broker_t *b, uv_close_cb cb)
{
    br_pops_t *p = b->pops;
    while (p->wheap.n > 0) { /* every parked receive is answered */
        pop_req_t *r = p->wheap.v[0];
        unpark(b, r);
        r->cb(r->arg, BR_RC_POLLING_TIMEOUT, "the broker is stopping", 0, 0, NULL, 0);
        req_free(r);
    }
    if (p->serving)
        journal_flush(b);
    held_drain(b, 1, RC_SERVICE_NOT_AVAILABLE, "the broker is stopping");
    uv_idle_stop(&p->rebuild);
    uv_close((uv_handle_t *)&p->timer, cb);
    uv_close((uv_handle_t *)&p->rebuild, cb);
    return 2;
}

static void pop_release(br_broker_t *b)
{
    br_pops_t *p = b->pops;
    b->hooks.pop_arrived = NULL;
    b->hooks.pop_receive = NULL;
    b->hooks.pop_ack = NULL;
    b->hooks.pop_change = NULL;
    b->hooks.pop_progress = NULL;
    b->hooks.pop_role_changed = NULL;
    if (!p)
        return;
    cm_map_free(&p->entries, free);
    cm_map_free(&p->gts, gt_free);
    cm_map_free(&p->waitqs, free);
    cm_heap_free(&p->eheap);
    cm_heap_free(&p->wheap);
    st_get_result_free(&p->g);
    cm_buf_free(&p->body);
    cm_buf_free(&p->journal);
    free(p);
    b->pops = NULL;
}

static const rm_handler_t k_handlers[] = {
    {200050, handle_pop_message},
    {200051, handle_ack_message},
    {200052, handle_peek_message},
    {200053, handle_change_invisible_time},
    {200054, handle_notification},
    {200055, handle_polling_info},
    {200151, handle_batch_ack_message},
};

const br_subsys_t br_pop_subsys = {"pop", pop_start, pop_stop, pop_release, k_handlers,
                                   sizeof k_handlers / sizeof k_handlers[0], 0};
