/* schedule.c: delay levels (store spec §7.1). A message with DELAY=n is stored in
 * SCHEDULE_TOPIC_XXXX queue n-1 with REAL_TOPIC/REAL_QID; the store sets its consume-queue
 * tagsCode to the delivery time. A 100 ms loop timer walks each level's queue from its progress
 * offset and re-puts every due message into its real topic and queue (DELAY removed, everything
 * else kept). Within a level, delivery times only grow, so the walk stops at the first message
 * that is not due. Progress is persisted in config/delayOffset.json ({"offsetTable":{1:0,...}},
 * RocketMQ's file) after each change and at stop: a restart delivers nothing twice beyond
 * the last persisted batch and loses nothing. CONSUMER_SEND_MSG_BACK uses the same path for the
 * retry back-off. A message that can never be delivered (br_put_due) is moved aside with a log
 * line instead of holding its level up for ever. Loop thread. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/schedule/schedule.h"

#define SCHEDULE_TOPIC "SCHEDULE_TOPIC_XXXX"
#define TICK_MS 100
#define BUDGET_PER_TICK 20000   /* messages delivered per tick, so the loop stays responsive */
#define PERSIST_EVERY_MS 1000

/* ---- diverting a send ---------------------------------------------------------------------- */

int br_schedule_divert(br_broker_t *b, cm_buf_t *props, const char *topic, int qid, int level,
                       const char **st_topic, int *st_qid)
{
    static cm_buf_t tmp;
    char q[16], lv[16];
    if (level > b->cfg.delayLevelCount)
        level = b->cfg.delayLevelCount;
    if (level <= 0)
        return 0;
    snprintf(q, sizeof q, "%d", qid);
    snprintf(lv, sizeof lv, "%d", level);
    static const char *const drop[] = {"DELAY", "REAL_TOPIC", "REAL_QID", NULL};
    if (br_props_edit(&tmp, props->data, props->len, drop, "DELAY", lv, "REAL_TOPIC", topic, "REAL_QID", q,
                      (char *)NULL))
        return -1;
    cm_buf_reset(props);
    if (cm_buf_append(props, tmp.data, tmp.len))
        return -1;
    *st_topic = SCHEDULE_TOPIC;
    *st_qid = level - 1;
    return 0;
}

/* ---- delivery ------------------------------------------------------------------------------- */

/* 0 delivered or moved aside (br_put_due), -1 try again next tick: at least once. */
static int deliver(br_broker_t *b, const st_record_t *r)
{
    static const char *const drop[] = {"DELAY", NULL};
    return br_put_due(b, r, SCHEDULE_TOPIC, drop) < 0 ? -1 : 0;
}

/* Deliver the due messages of one level; returns how many. */
static int deliver_level(br_broker_t *b, int level, int64_t now, int budget)
{
    static st_get_result_t g;
    static int ready;
    if (!ready) {
        st_get_result_init(&g);
        ready = 1;
    }
    int qid = level - 1, n = 0;
    int64_t off = b->sched->offset[qid], max = st_max_offset(b->store, SCHEDULE_TOPIC, qid);
    int64_t min = st_min_offset(b->store, SCHEDULE_TOPIC, qid);
    if (off < min)
        off = min;
    while (off < max && n < budget) {
        if (st_get(b->store, SCHEDULE_TOPIC, qid, off, 1, 0, NULL, &g) != ST_OK)
            break;
        if (g.status != ST_GET_FOUND || g.n == 0) {
            off = g.nextBeginOffset > off ? g.nextBeginOffset : off + 1;
            continue;
        }
        st_record_t r;
        if (st_record_decode(g.msgs[0].iov_base, g.msgs[0].iov_len, 0, &r) != ST_OK) {
            off++;
            continue;
        }
        if (r.storeTimestamp + b->cfg.delayLevelMs[qid] > now)
            break;
        if (deliver(b, &r) != 0)
            break;
        off++;
        n++;
    }
    if (off != b->sched->offset[qid]) {
        b->sched->offset[qid] = off;
        b->sched->dirty = 1;
    }
    return n;
}

lj_val_t *br_schedule_json(const br_broker_t *b)
{
    lj_val_t *root = lj_new_obj(), *tab = lj_new_obj();
    for (int i = 0; i < b->cfg.delayLevelCount; i++)
        lj_put(tab, lj_new_int(i + 1), lj_new_int(b->sched->offset[i]));
    lj_set(root, "offsetTable", tab);
    return root;
}

/* Off the loop through persist.c (delayOffset.json within BR_PERSIST_SOON_MS, coalesced);
 * at once when no persister runs. Errors are logged where the file is written. */
/* ---- its file (delayOffset.json), through the core's persister ---- */

/* delayOffset.json has one entry per delay level (<= 64): its bytes are the snapshot. */
static void *sched_snap(const void *table)
{
    lj_val_t *root = br_schedule_json(table);
    cm_buf_t *out = calloc(1, sizeof *out);
    if (out && lj_write(root, LJ_W_FASTJSON, out) != 0) {
        cm_buf_free(out);
        free(out);
        out = NULL;
    }
    lj_free(root);
    return out;
}

static int sched_render(const void *snap, cm_buf_t *out)
{
    const cm_buf_t *in = snap;
    return cm_buf_append(out, in->data, in->len);
}

static void sched_free(void *snap)
{
    cm_buf_free(snap);
    free(snap);
}

static const br_ptype_t sched_ptype = {sched_snap, sched_render, sched_free};

int br_schedule_save(br_broker_t *b)
{
    int rc = b->sched->ps ? br_persist_request(b->sched->ps, BR_PERSIST_SOON_MS)
                         : br_persist_write(&sched_ptype, b, b->sched->path);
    if (rc == 0)
        b->sched->dirty = 0;
    return rc;
}

static void on_tick(uv_timer_t *t)
{
    br_broker_t *b = t->data;
    if (br_is_slave(b))
        return; /* a slave's copies arrive by replication; delivering here would duplicate them */
    int64_t now = cm_now_ms();
    int budget = BUDGET_PER_TICK;
    for (int l = 1; l <= b->cfg.delayLevelCount && budget > 0; l++)
        budget -= deliver_level(b, l, now, budget);
    uint64_t mono = uv_now(b->loop);
    if (b->sched->dirty && mono - b->sched->savedAt >= PERSIST_EVERY_MS) {
        br_schedule_save(b);
        b->sched->savedAt = mono;
    }
}

/* Progress per level from delayOffset.json's JSON (the file, or a master's GET_ALL_DELAY_OFFSET). */
void br_schedule_adopt(br_broker_t *b, const lj_val_t *root)
{
    const lj_val_t *tab = lj_get(root, "offsetTable");
    for (size_t i = 0; tab && tab->type == LJ_OBJ && i < tab->n; i++) {
        int64_t level = lj_int(tab->members[i].key, -1);
        if (level >= 1 && level <= b->cfg.delayLevelCount)
            b->sched->offset[level - 1] = lj_int(tab->members[i].val, 0);
    }
}

void br_schedule_start(br_broker_t *b)
{
    snprintf(b->sched->path, sizeof b->sched->path, "%s/config/delayOffset.json", b->cfg.storePathRootDir);
    lj_val_t *root = br_load_json_file(b->sched->path);
    br_schedule_adopt(b, root);
    lj_free(root);
    /* RocketMQ clamps saved progress into each queue's range */
    for (int i = 0; i < b->cfg.delayLevelCount; i++) {
        int64_t min = st_min_offset(b->store, SCHEDULE_TOPIC, i), max = st_max_offset(b->store, SCHEDULE_TOPIC, i);
        if (b->sched->offset[i] < min)
            b->sched->offset[i] = min;
        if (b->sched->offset[i] > max)
            b->sched->offset[i] = max;
    }
    uv_timer_init(b->loop, &b->sched->timer);
    b->sched->timer.data = b;
    uv_timer_start(&b->sched->timer, on_tick, TICK_MS, TICK_MS);
}

void br_schedule_stop(br_broker_t *b, uv_close_cb cb)
{
    br_schedule_save(b);
    uv_close((uv_handle_t *)&b->sched->timer, cb);
}

/* ---- the subsystem ---- */

static void delay_adopt(br_broker_t *b, const lj_val_t *root)
{
    br_schedule_adopt(b, root);
    br_schedule_save(b);
}

static int sched_start(br_broker_t *b)
{
    if (!(b->sched = calloc(1, sizeof *b->sched)))
        return -1;
    b->hooks.delay_divert = br_schedule_divert;
    b->hooks.delay_json = br_schedule_json;
    b->hooks.delay_adopt = delay_adopt;
    br_schedule_start(b);
    br_persist_slot(b, &sched_ptype, b, b->sched->path, &b->sched->ps);
    return 0;
}

static int sched_stop(br_broker_t *b, uv_close_cb cb)
{
    br_schedule_stop(b, cb);
    return 1;
}

static void sched_release(br_broker_t *b)
{
    free(b->sched);
    b->sched = NULL;
}

static const rm_handler_t k_handlers[] = {
    {36, br_handle_consumer_send_msg_back},
};

const br_subsys_t br_schedule_subsys = {"schedule", sched_start, sched_stop, sched_release, k_handlers,
                                        sizeof k_handlers / sizeof k_handlers[0], 0};
