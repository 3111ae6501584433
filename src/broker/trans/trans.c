/* trans.c: transactional messages (store spec §7.4, remoting spec END_TRANSACTION /
 * CHECK_TRANSACTION_STATE).
 * A half message is stored in RMQ_SYS_TRANS_HALF_TOPIC queue 0 with REAL_TOPIC/REAL_QID, so no
 * consumer sees it. END_TRANSACTION commits (a copy goes to the real topic and queue) or rolls
 * back; either way an op record (RMQ_SYS_TRANS_OP_HALF_TOPIC, tag "d", body = the half's queue
 * offset, KEYS = its UNIQ_KEY) marks it done. A loop timer walks the half queue from its
 * progress offset: a message still undecided after transactionTimeOut is re-appended with
 * TRANSACTION_CHECK_TIMES+1 and its producer group is asked (CHECK_TRANSACTION_STATE, oneway,
 * to a live producer connection); after transactionCheckMax checks it is moved to
 * TRANS_CHECK_MAX_TIME_TOPIC. Progress is kept as consumer offsets of CID_RMQ_SYS_TRANS, like
 * RocketMQ's, so a restart neither loses nor publishes a half message by itself.
 * Decisions are remembered per transaction (UNIQ_KEY), not per copy, so a late or repeated
 * END_TRANSACTION never commits twice. Loop thread. */
#include <inttypes.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/trans/trans.h"

#define HALF_TOPIC "RMQ_SYS_TRANS_HALF_TOPIC"
#define OP_TOPIC "RMQ_SYS_TRANS_OP_HALF_TOPIC"
#define MAX_TIME_TOPIC "TRANS_CHECK_MAX_TIME_TOPIC"
#define SYS_GROUP "CID_RMQ_SYS_TRANS"
#define PRUNE_NEVER INT64_MAX
#define ROUND_LIMIT 20000       /* half messages looked at per check round */
#define CHECK_SLICE 64          /* ... per loop turn (about 10 ms of puts on a busy VM) */

#define PRUNE_LIMIT 20000       /* decided transactions forgotten / op records passed per round */

typedef struct tx_entry {
    int resolved;               /* committed, rolled back or discarded */
    int committedCopy;          /* this run stored its commit (perhaps not yet its op record) */
    int onPruneList;
    int64_t pruneAt;            /* forget it once the check progress passes this half offset */
    struct tx_entry *nextPrune; /* the prune list: decided ones in the order they were decided,
                                 * so pruneAt grows along it and a round stops at the first one
                                 * the progress has not passed (no walk over every transaction) */
    char key[];                 /* its key in b->trans->keys */
} tx_entry_t;

/* ---- small helpers ---------------------------------------------------------------------- */

static void ensure_topic(br_broker_t *b, const char *name)
{
    if (!br_topics_get(&b->topics, name)) {
        br_topics_put(&b->topics, name, 1, 1, PERM_READ | PERM_WRITE, 0);
        br_register_soon(b);
    }
}

/* The half message at queue offset q (a slice of the store), decoded. */
static int half_at(br_broker_t *b, int64_t q, st_record_t *r)
{
    static st_get_result_t g;
    static int ready;
    if (!ready) {
        st_get_result_init(&g);
        ready = 1;
    }
    if (st_get(b->store, HALF_TOPIC, 0, q, 1, 0, NULL, &g) != ST_OK || g.status != ST_GET_FOUND || g.n == 0)
        return -1;
    return st_record_decode(g.msgs[0].iov_base, g.msgs[0].iov_len, 0, r) == ST_OK ? 0 : -1;
}

static tx_entry_t *entry(br_broker_t *b, const char *key, int create)
{
    tx_entry_t *e = cm_map_get(&b->trans->keys, key);
    if (!e && create && (e = calloc(1, sizeof *e + strlen(key) + 1)) != NULL) {
        e->pruneAt = PRUNE_NEVER;
        strcpy(e->key, key);
        if (cm_map_put(&b->trans->keys, key, e) != 0) {
            free(e);
            e = NULL;
        }
    }
    return e;
}

static void resolve(br_broker_t *b, const char *key)
{
    tx_entry_t *e = entry(b, key, 1);
    if (e) {
        e->resolved = 1;
        e->pruneAt = st_max_offset(b->store, HALF_TOPIC, 0);
        if (!e->onPruneList) { /* (decided again: it keeps its place, and the later pruneAt holds
                                * back the ones behind it a little; never wrongly forgotten) */
            e->onPruneList = 1;
            if (b->trans->pruneTail)
                b->trans->pruneTail->nextPrune = e;
            else
                b->trans->pruneHead = e;
            b->trans->pruneTail = e;
        }
    }
}

/* The op record marking half offset q (transaction `key`) as decided. */
static int write_op(br_broker_t *b, const st_record_t *half, const char *key)
{
    static cm_buf_t props;
    char body[32];
    static st_put_result_t res;
    static int ready;
    if (!ready) {
        st_put_result_init(&res);
        ready = 1;
    }
    ensure_topic(b, OP_TOPIC);
    cm_buf_reset(&props);
    if (cm_buf_puts(&props, "TAGS\001d\002KEYS\001") || cm_buf_puts(&props, key) || cm_buf_putc(&props, ST_PROP_SEP))
        return ST_ENOMEM;
    int n = snprintf(body, sizeof body, "%" PRId64, half->queueOffset);
    st_msg_t m = {.topic = OP_TOPIC, .queueId = 0, .body = (const uint8_t *)body, .bodyLen = (uint32_t)n,
                  .properties = props.data, .propertiesLen = (uint32_t)props.len, .bornTimestamp = cm_now_ms()};
    return st_put(b->store, &m, &res);
}

/* ---- half messages (send path) ---------------------------------------------------------- */

int br_trans_half(br_broker_t *b, cm_buf_t *props, const char *topic, int qid, const char **st_topic, int *st_qid,
                  int64_t *sysFlag, const char **remark)
{
    static cm_buf_t tmp;
    char q[16];
    if (b->cfg.rejectTransactionMessage) {
        *remark = "the broker is configured to reject transactional messages (rejectTransactionMessage=true)";
        return RC_NO_PERMISSION;
    }
    snprintf(q, sizeof q, "%d", qid);
    static const char *const none[] = {NULL};
    if (br_props_edit(&tmp, props->data, props->len, none, "REAL_TOPIC", topic, "REAL_QID", q, (char *)NULL)) {
        *remark = "out of memory";
        return RC_SYSTEM_ERROR;
    }
    cm_buf_reset(props);
    if (cm_buf_append(props, tmp.data, tmp.len)) {
        *remark = "out of memory";
        return RC_SYSTEM_ERROR;
    }
    ensure_topic(b, HALF_TOPIC);
    *st_topic = HALF_TOPIC;
    *st_qid = 0;
    *sysFlag &= ~(int64_t)ST_SYSFLAG_TX_MASK; /* stored as a normal message of the half topic */
    return RC_SUCCESS;
}

/* ---- END_TRANSACTION (37) ----------------------------------------------------------------- */

/* Can already_committed trust the index? Not on a broker that became master while its index
 * writer had not applied every record replicated before: a commit the old master made just
 * before it went is in the commit log but not yet in the index. */
static int index_settled(br_broker_t *b)
{
    br_trans_t *t = b->trans;
    if (t->indexBehind && st_index_reached(b->store, t->indexMark)) {
        t->indexBehind = 0;
        LOG_I("broker", "transactions: the index holds every record replicated before this broker became master");
    }
    return !t->indexBehind;
}

/* Was this transaction committed already (the real message is stored) although its op record
 * is missing? That happens when the broker died between the two writes, or when the commit
 * was made by the master this broker replaced; the index (UNIQ_KEY in the real topic) tells, so
 * a later decision or check never stores the message twice. -1: cannot tell yet (!index_settled). */
static int already_committed(br_broker_t *b, const st_record_t *half, const char *key)
{
    static st_query_result_t qr;
    char topic[128];
    tx_entry_t *e = entry(b, key, 0);
    if (e && e->committedCopy)
        return 1;
    if (!index_settled(b))
        return -1;
    /* Commits of earlier runs are all in the index (recovery writes it before its thread
     * starts), a former master's once index_settled, and this run's are remembered above, so the
     * query need not wait for the index writer: waiting, a check round over many transactions
     * held the loop for one writer round trip per message. */
    if (br_prop(half, "REAL_TOPIC", topic, sizeof topic) ||
        st_query_by_key_nowait(b->store, topic, key, ST_QUERY_MAX, 0, INT64_MAX, 1, &qr) != ST_OK)
        return 0;
    for (int i = 0; i < qr.n; i++) {
        const uint8_t *p;
        uint32_t len;
        st_record_t r;
        if (st_read_record_at(b->store, qr.phy[i], &p, &len) == ST_OK && st_record_decode(p, len, 0, &r) == ST_OK &&
            (r.sysFlag & ST_SYSFLAG_TX_MASK) == ST_SYSFLAG_TX_COMMIT)
            return 1;
    }
    return 0;
}

static int commit(br_broker_t *b, const st_record_t *r, int64_t halfPhy)
{
    static cm_buf_t props;
    static st_put_result_t res;
    static int ready;
    char topic[128], qid[16];
    if (!ready) {
        st_put_result_init(&res);
        ready = 1;
    }
    if (br_prop(r, "REAL_TOPIC", topic, sizeof topic) || br_prop(r, "REAL_QID", qid, sizeof qid))
        return ST_EMSG_ILLEGAL;
    static const char *const drop[] = {"REAL_TOPIC", "REAL_QID", "TRAN_MSG", "TRANSACTION_CHECK_TIMES", NULL};
    if (br_props_edit(&props, r->properties, r->propertiesLen, drop, (char *)NULL))
        return ST_ENOMEM;
    int32_t sys = (r->sysFlag & ~ST_SYSFLAG_TX_MASK) | ST_SYSFLAG_TX_COMMIT;
    int rc = br_put_copy(b, r, topic, atoi(qid), &props, sys, halfPhy, &res);
    if (rc == ST_OK)
        br_message_arrived(b, topic, atoi(qid));
    return rc;
}

static const char *end_check(br_broker_t *b, const rm_cmd_t *req, int64_t phy, int64_t tso, st_record_t *r)
{
    const uint8_t *p;
    uint32_t len;
    char pg[256];
    const char *group = rm_ext_get(req, "producerGroup");
    if (st_read_record_at(b->store, phy, &p, &len) != ST_OK || st_record_decode(p, len, 0, r) != ST_OK ||
        r->topicLen != strlen(HALF_TOPIC) || memcmp(r->topic, HALF_TOPIC, r->topicLen) != 0)
        return "Find prepared transaction message failed";
    if (group && br_prop(r, "PGROUP", pg, sizeof pg) == 0 && strcmp(pg, group) != 0)
        return "The producer group wrong";
    if (r->queueOffset != tso)
        return "The transaction state table offset wrong";
    if (r->physicOffset != phy)
        return "The commit log offset wrong";
    return NULL;
}

void br_handle_end_transaction(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    int64_t phy, tso;
    int32_t type;
    st_record_t r;
    char key[128];
    if (!rm_req_str(c, req, "producerGroup") || rm_req_i64(c, req, "commitLogOffset", &phy) ||
        rm_req_i64(c, req, "tranStateTableOffset", &tso) || rm_req_i32(c, req, "commitOrRollback", &type))
        return;
    if (br_is_slave(b)) { /* as RocketMQ: only the master decides */
        rm_conn_respond_code(c, req, RC_SLAVE_NOT_AVAILABLE, "this broker is a slave: end the transaction on its master");
        return;
    }
    if (type != ST_SYSFLAG_TX_COMMIT && type != ST_SYSFLAG_TX_ROLLBACK) {
        rm_conn_respond_code(c, req, RC_SUCCESS, NULL); /* unknown: wait for the check */
        return;
    }
    const char *why = end_check(b, req, phy, tso, &r);
    if (why) {
        LOG_W("broker", "END_TRANSACTION from %s refused: %s", rm_conn_peer(c), why);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "%s", why);
        return;
    }
    if (br_prop(&r, "UNIQ_KEY", key, sizeof key))
        snprintf(key, sizeof key, "phy:%" PRId64, phy);
    tx_entry_t *e = entry(b, key, 0);
    if (e && e->resolved) {
        rm_conn_respond_code(c, req, RC_SUCCESS, NULL); /* decided already: never twice */
        return;
    }
    if (!e && r.queueOffset < b->trans->halfOffset) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "the transaction was already decided or expired");
        return;
    }
    int committed = type == ST_SYSFLAG_TX_COMMIT ? already_committed(b, &r, key) : 0;
    if (committed < 0) { /* END_TRANSACTION is oneway: the check-back asks again once it can tell */
        LOG_W("broker", "transaction %s: commit from %s left to the check-back: the index does not yet hold every "
              "record replicated before this broker became master", key, rm_conn_peer(c));
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "this broker just became master: the transaction is checked back later");
        return;
    }
    int rc = type == ST_SYSFLAG_TX_COMMIT && !committed ? commit(b, &r, phy) : ST_OK;
    if (rc == ST_OK && type == ST_SYSFLAG_TX_COMMIT) {
        tx_entry_t *e = entry(b, key, 1);
        if (e)
            e->committedCopy = 1; /* found by already_committed even if the op record fails */
    }
    if (rc == ST_OK && getenv("LOULAN_TEST_CRASH_AFTER_COMMIT"))
        _exit(9); /* tests only: die between the commit and its op record */
    if (rc == ST_OK)
        rc = write_op(b, &r, key);
    if (rc != ST_OK) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "the transaction could not be recorded: %s", st_strerror(rc));
        return;
    }
    resolve(b, key);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

/* ---- check-back --------------------------------------------------------------------------- */

static rm_conn_t *producer_conn(br_broker_t *b, const char *group)
{
    return b->hooks.producer_conn ? b->hooks.producer_conn(b, group) : NULL; /* clients */
}

/* CHECK_TRANSACTION_STATE for the copy `r` (just appended at res) to a producer of its group;
 * without a remoting one, through the trans_check_remote hook (a 5.x gRPC producer's Telemetry
 * stream: RecoverOrphanedTransactionCommand). */
static void send_check(br_broker_t *b, const st_record_t *r, const st_put_result_t *res, const char *key)
{
    char pg[256], topic[128], qid[16];
    if (br_prop(r, "PGROUP", pg, sizeof pg) || br_prop(r, "REAL_TOPIC", topic, sizeof topic) ||
        br_prop(r, "REAL_QID", qid, sizeof qid))
        return;
    rm_conn_t *pc = producer_conn(b, pg);
    if (!pc && !b->hooks.trans_check_remote) {
        LOG_W("broker", "transaction %s: no live producer of group %s to check with", key, pg);
        return;
    }
    /* the body is the message as its producer sent it: real topic and queue */
    const uint8_t *p;
    uint32_t len;
    st_record_t copy;
    if (st_read_record_at(b->store, res->phyOffset, &p, &len) != ST_OK || st_record_decode(p, len, 0, &copy) != ST_OK)
        return;
    copy.topic = topic;
    copy.topicLen = (uint32_t)strlen(topic);
    copy.queueId = atoi(qid);
    size_t cap = len + 128;
    uint8_t *body = malloc(cap);
    size_t blen;
    if (!body || st_record_encode(&copy, body, cap, &blen) != ST_OK) {
        free(body);
        return;
    }
    if (!pc) {
        if (!b->hooks.trans_check_remote(b, pg, body, blen, res->phyOffset, res->queueOffset, key))
            LOG_W("broker", "transaction %s: no live producer of group %s to check with", key, pg);
        free(body);
        return;
    }
    rm_cmd_t cmd;
    rm_cmd_init(&cmd, 39);
    rm_ext_set_i64(&cmd, "tranStateTableOffset", res->queueOffset);
    rm_ext_set_i64(&cmd, "commitLogOffset", res->phyOffset);
    rm_ext_set(&cmd, "msgId", key);
    rm_ext_set(&cmd, "transactionId", key);
    rm_ext_set(&cmd, "offsetMsgId", res->msgId);
    cmd.body = body;
    cmd.body_len = blen;
    if (rm_conn_oneway(pc, &cmd) != 0)
        LOG_W("broker", "transaction %s: check to %s failed", key, rm_conn_peer(pc));
    cmd.body = NULL;
    rm_cmd_free(&cmd);
    free(body);
}

/* Undecided after transactionTimeOut: re-append with one more check, and ask. */
static void check_one(br_broker_t *b, const st_record_t *r, const char *key)
{
    static cm_buf_t props;
    static st_put_result_t res;
    static int ready;
    char times[16] = "0", next[16];
    if (!ready) {
        st_put_result_init(&res);
        ready = 1;
    }
    if (already_committed(b, r, key) > 0) { /* decided before a crash lost its op record */
        if (write_op(b, r, key) == ST_OK)
            resolve(b, key);
        return;
    }
    br_prop(r, "TRANSACTION_CHECK_TIMES", times, sizeof times);
    int n = atoi(times);
    if (n >= b->cfg.transactionCheckMax) {
        static const char *const none[] = {NULL};
        ensure_topic(b, MAX_TIME_TOPIC);
        if (br_props_edit(&props, r->properties, r->propertiesLen, none, (char *)NULL) == 0 &&
            br_put_copy(b, r, MAX_TIME_TOPIC, 0, &props, r->sysFlag, 0, &res) == ST_OK) {
            LOG_W("broker", "transaction %s: no decision after %d checks; moved to %s", key, n, MAX_TIME_TOPIC);
            resolve(b, key);
        }
        return;
    }
    snprintf(next, sizeof next, "%d", n + 1);
    static const char *const drop[] = {"TRANSACTION_CHECK_TIMES", NULL};
    if (br_props_edit(&props, r->properties, r->propertiesLen, drop, "TRANSACTION_CHECK_TIMES", next, (char *)NULL) ||
        br_put_copy(b, r, HALF_TOPIC, 0, &props, r->sysFlag, 0, &res) != ST_OK)
        return;
    entry(b, key, 1); /* copies exist now: remember the transaction until it is decided */
    send_check(b, r, &res, key);
}

/* A producer's own first-check delay (CHECK_IMMUNITY_TIME_IN_SECONDS; the 5.x clients'
 * orphaned_transaction_recovery_duration), in ms, when it is longer than transactionTimeOut:
 * RocketMQ caps nothing here, we cap it at an hour as its proxy does. 0: none. */
static int64_t immunity_ms(const br_broker_t *b, const st_record_t *r)
{
    char v[24];
    if (br_prop(r, "CHECK_IMMUNITY_TIME_IN_SECONDS", v, sizeof v))
        return 0;
    char *end;
    long long s = strtoll(v, &end, 10);
    if (end == v || *end || s <= 0)
        return 0;
    int64_t ms = (s > 3600 ? 3600 : s) * 1000;
    return ms > b->cfg.transactionTimeOut ? ms : 0;
}

/* Still inside its producer's immunity: not asked yet. The walk cannot wait on it (what follows
 * may be due), so it goes again to the end of the half queue, checks unchanged, and is met again
 * a round later: at most one copy a round while the immunity lasts. */
static void defer_one(br_broker_t *b, const st_record_t *r, const char *key)
{
    static cm_buf_t props;
    static st_put_result_t res;
    static int ready;
    static const char *const none[] = {NULL};
    if (!ready) {
        st_put_result_init(&res);
        ready = 1;
    }
    if (br_props_edit(&props, r->properties, r->propertiesLen, none, (char *)NULL) == 0 &&
        br_put_copy(b, r, HALF_TOPIC, 0, &props, r->sysFlag, 0, &res) == ST_OK)
        entry(b, key, 1); /* copies exist now: remember the transaction until it is decided */
}

/* Forget decided transactions the progress has passed, and move the op progress along the op
 * records that only name forgotten ones (those are not needed to rebuild the state). */
static void prune(br_broker_t *b)
{
    br_trans_t *t = b->trans;
    for (int n = 0; n < PRUNE_LIMIT && t->pruneHead && t->pruneHead->pruneAt <= t->halfOffset; n++) {
        tx_entry_t *e = t->pruneHead;
        if (!(t->pruneHead = e->nextPrune))
            t->pruneTail = NULL;
        cm_map_remove(&t->keys, e->key);
        free(e);
    }
    int64_t max = st_max_offset(b->store, OP_TOPIC, 0), o = b->trans->opOffset;
    static st_get_result_t g;
    static int ready;
    if (!ready) {
        st_get_result_init(&g);
        ready = 1;
    }
    for (int n = 0; n < PRUNE_LIMIT && o < max && st_get(b->store, OP_TOPIC, 0, o, 1, 0, NULL, &g) == ST_OK &&
                    g.status == ST_GET_FOUND; n++) {
        st_record_t r;
        char key[128];
        if (st_record_decode(g.msgs[0].iov_base, g.msgs[0].iov_len, 0, &r) != ST_OK || br_prop(&r, "KEYS", key, sizeof key) ||
            cm_map_get(&b->trans->keys, key))
            break;
        o++;
    }
    b->trans->opOffset = o;
}

/* One slice of a check round: at most CHECK_SLICE half messages, so one loop turn never does
 * work proportional to the number of transactions. 1 if the round goes on (call again). */
static int check_slice(br_broker_t *b)
{
    br_trans_t *t = b->trans;
    int64_t now = cm_now_ms(), max = st_max_offset(b->store, HALF_TOPIC, 0);
    int64_t o = t->halfOffset, min = st_min_offset(b->store, HALF_TOPIC, 0);
    int young = 0;
    if (o < min)
        o = min;
    for (int n = 0; o < max && n < CHECK_SLICE && t->roundLeft > 0; n++, o++, t->roundLeft--) {
        st_record_t r;
        char key[128];
        if (half_at(b, o, &r) != 0)
            continue;
        if (br_prop(&r, "UNIQ_KEY", key, sizeof key))
            snprintf(key, sizeof key, "phy:%" PRId64, r.physicOffset);
        tx_entry_t *e = entry(b, key, 0);
        if (e && e->resolved)
            continue;
        if (r.storeTimestamp > now - b->cfg.transactionTimeOut) {
            young = 1;
            break; /* too young to ask about; so is everything after it */
        }
        int64_t immune = immunity_ms(b, &r);
        if (immune && now - r.bornTimestamp < immune && already_committed(b, &r, key) == 0) {
            defer_one(b, &r, key);
            continue;
        }
        check_one(b, &r, key);
    }
    t->halfOffset = o;
    if (!young && o < max && t->roundLeft > 0)
        return 1;
    prune(b);
    br_offsets_set(&b->offsets, SYS_GROUP, HALF_TOPIC, 0, t->halfOffset);
    br_offsets_set(&b->offsets, SYS_GROUP, OP_TOPIC, 0, t->opOffset);
    return 0;
}

/* A round starts every transactionCheckInterval and goes on in slices, one per loop turn (the
 * timer fires again a millisecond later while a round is under way). */
static void on_check_timer(uv_timer_t *t)
{
    br_broker_t *b = t->data;
    uint64_t every = (uint64_t)b->cfg.transactionCheckInterval;
    if (br_is_slave(b) || !index_settled(b)) { /* only a master checks back, once it can tell commits */
        b->trans->roundLeft = 0;
        return;
    }
    if (b->trans->roundLeft <= 0)
        b->trans->roundLeft = ROUND_LIMIT;
    if (check_slice(b)) /* 1 ms, not 0: libuv would run a 0 ms timer again in this same turn */
        uv_timer_start(t, on_check_timer, 1, every);
    else
        b->trans->roundLeft = 0;
}

/* Rebuild the decisions the progress has not passed yet: every op record from the op progress
 * (decided), every half message from the half progress (known). */
static void rebuild(br_broker_t *b)
{
    int64_t max = st_max_offset(b->store, OP_TOPIC, 0);
    static st_get_result_t g;
    st_get_result_init(&g);
    for (int64_t o = b->trans->opOffset; o < max; o++) {
        st_record_t r;
        char key[128];
        if (st_get(b->store, OP_TOPIC, 0, o, 1, 0, NULL, &g) == ST_OK && g.status == ST_GET_FOUND &&
            st_record_decode(g.msgs[0].iov_base, g.msgs[0].iov_len, 0, &r) == ST_OK && br_prop(&r, "KEYS", key, sizeof key) == 0)
            resolve(b, key);
    }
    st_get_result_free(&g);
    max = st_max_offset(b->store, HALF_TOPIC, 0);
    for (int64_t o = b->trans->halfOffset; o < max; o++) {
        st_record_t r;
        char key[128];
        if (half_at(b, o, &r) == 0 && br_prop(&r, "UNIQ_KEY", key, sizeof key) == 0)
            entry(b, key, 1);
    }
}

void br_trans_start(br_broker_t *b)
{
    cm_map_init(&b->trans->keys);
    b->trans->pruneHead = b->trans->pruneTail = NULL;
    int64_t h = br_offsets_get(&b->offsets, SYS_GROUP, HALF_TOPIC, 0);
    int64_t o = br_offsets_get(&b->offsets, SYS_GROUP, OP_TOPIC, 0);
    b->trans->halfOffset = h >= 0 ? h : st_min_offset(b->store, HALF_TOPIC, 0);
    b->trans->opOffset = o >= 0 ? o : st_min_offset(b->store, OP_TOPIC, 0);
    rebuild(b);
    uv_timer_init(b->loop, &b->trans->timer);
    b->trans->timer.data = b;
    uv_timer_start(&b->trans->timer, on_check_timer, (uint64_t)b->cfg.transactionCheckInterval,
                   (uint64_t)b->cfg.transactionCheckInterval);
}

static void free_entry(void *v) { free(v); }

void br_trans_stop(br_broker_t *b, uv_close_cb cb)
{
    br_offsets_set(&b->offsets, SYS_GROUP, HALF_TOPIC, 0, b->trans->halfOffset);
    br_offsets_set(&b->offsets, SYS_GROUP, OP_TOPIC, 0, b->trans->opOffset);
    cm_map_free(&b->trans->keys, free_entry);
    b->trans->pruneHead = b->trans->pruneTail = NULL;
    uv_close((uv_handle_t *)&b->trans->timer, cb);
}

/* ---- the subsystem ---- */

/* Became master: the transactions wait for the index to apply what was replicated before. */
static void hook_role_changed(br_broker_t *b)
{
    if (br_is_slave(b))
        return;
    b->trans->indexMark = st_index_mark(b->store);
    b->trans->indexBehind = !st_index_reached(b->store, b->trans->indexMark);
}

static int trans_start(br_broker_t *b)
{
    if (!(b->trans = calloc(1, sizeof *b->trans)))
        return -1;
    b->hooks.trans_half = br_trans_half;
    b->hooks.trans_role_changed = hook_role_changed;
    br_trans_start(b);
    return 0;
}

static int trans_stop(br_broker_t *b, uv_close_cb cb)
{
    b->hooks.trans_role_changed = NULL;
    br_trans_stop(b, cb);
    return 1;
}

static void trans_release(br_broker_t *b)
{
    free(b->trans);
    b->trans = NULL;
}

static const rm_handler_t k_handlers[] = {
    {37, br_handle_end_transaction},
};

const br_subsys_t br_trans_subsys = {"trans", trans_start, trans_stop, trans_release, k_handlers,
                                     sizeof k_handlers / sizeof k_handlers[0], 0};
