/* tables.c: the tables a new leader must have, replicated through Raft. RocketMQ copies them to
 * its slaves every 10 s, so a consumer re-reads up to 10 s of messages after a failover; here the
 * leader proposes each changed table at most every 200 ms (TABLES_EVERY_MS), as one entry:
 * {"topics":..., "groups":..., "offsets":..., "delay":...}, only the parts that changed.
 * Followers take them as a slave takes its master's (the *_adopt and merge functions).
 * Cost: a changed table is written whole (fine for thousands of groups and queues; a table of
 * a million offsets would want deltas). Loop thread. */
#include <stdlib.h>
#include <string.h>

#include "broker/dledger/dl_int.h"

typedef struct dl_tables {
    int64_t topicsCounter, topicsTs, groupsCounter, groupsTs;
    uint64_t offsetChanges;
    char *delay;                /* the delay progress JSON last proposed */
} dl_tables_t;

static dl_tables_t *tables(br_dledger_t *d)
{
    if (!d->tables)
        d->tables = calloc(1, sizeof *d->tables);
    return d->tables;
}

static char *delay_text(br_broker_t *b)
{
    lj_val_t *v = b->hooks.delay_json ? b->hooks.delay_json(b) : NULL;
    if (!v)
        return NULL;
    cm_buf_t o;
    cm_buf_init(&o);
    lj_write(v, LJ_W_STRICT, &o);
    lj_free(v);
    cm_buf_put_u8(&o, 0);
    return cm_buf_steal(&o);
}

void br_dl_tables_mark(br_dledger_t *d)
{
    dl_tables_t *t = tables(d);
    br_broker_t *b = d->b;
    if (!t)
        return;
    t->topicsCounter = b->topics.dvCounter, t->topicsTs = b->topics.dvTimestamp;
    t->groupsCounter = b->groups.dvCounter, t->groupsTs = b->groups.dvTimestamp;
    t->offsetChanges = b->offsets.changes;
    free(t->delay);
    t->delay = delay_text(b);
}

void br_dl_tables_tick(br_dledger_t *d)
{
    dl_tables_t *t = tables(d);
    br_broker_t *b = d->b;
    if (!t)
        return;
    lj_val_t *root = lj_new_obj();
    int n = 0;
    if (t->topicsCounter != b->topics.dvCounter || t->topicsTs != b->topics.dvTimestamp) {
        n += lj_set(root, "topics", br_topics_json(&b->topics)) == 0;
        t->topicsCounter = b->topics.dvCounter, t->topicsTs = b->topics.dvTimestamp;
    }
    if (t->groupsCounter != b->groups.dvCounter || t->groupsTs != b->groups.dvTimestamp) {
        n += lj_set(root, "groups", br_groups_json(&b->groups)) == 0;
        t->groupsCounter = b->groups.dvCounter, t->groupsTs = b->groups.dvTimestamp;
    }
    if (t->offsetChanges != b->offsets.changes) {
        n += lj_set(root, "offsets", br_offsets_json(&b->offsets)) == 0;
        t->offsetChanges = b->offsets.changes;
    }
    char *delay = delay_text(b);
    if (delay && (!t->delay || strcmp(delay, t->delay) != 0)) {
        lj_val_t *v = NULL;
        if (lj_parse(delay, strlen(delay), &v) == 0)
            n += lj_set(root, "delay", v) == 0;
        free(t->delay);
        t->delay = delay;
    } else {
        free(delay);
    }
    if (n) {
        cm_buf_t o;
        cm_buf_init(&o);
        if (lj_write(root, LJ_W_FASTJSON, &o) == 0 && br_dl_propose(d, BR_DL_TABLES, 0, o.data, o.len) != 0)
            LOG_W("dledger", "cannot replicate the tables now; they go with the next change");
        cm_buf_free(&o);
    }
    lj_free(root);
}

int br_dl_tables_all(br_dledger_t *d, cm_buf_t *out)
{
    br_broker_t *b = d->b;
    lj_val_t *root = lj_new_obj();
    lj_set(root, "topics", br_topics_json(&b->topics));
    lj_set(root, "groups", br_groups_json(&b->groups));
    lj_set(root, "offsets", br_offsets_json(&b->offsets));
    lj_val_t *delay = b->hooks.delay_json ? b->hooks.delay_json(b) : NULL;
    if (delay)
        lj_set(root, "delay", delay);
    int rc = root ? lj_write(root, LJ_W_FASTJSON, out) : -1;
    lj_free(root);
    return rc;
}

void br_dl_tables_apply(br_dledger_t *d, const char *json, size_t len)
{
    br_broker_t *b = d->b;
    lj_val_t *root = NULL;
    if (lj_parse(json, len, &root) != 0) {
        LOG_W("dledger", "a tables entry that is not JSON was ignored");
        return;
    }
    const lj_val_t *v;
    if ((v = lj_get(root, "topics")) && br_topics_adopt(&b->topics, v))
        br_register_soon(b);
    if ((v = lj_get(root, "groups")))
        br_groups_adopt(&b->groups, v);
    if ((v = lj_get(root, "offsets"))) {
        br_offsets_merge(&b->offsets, v);
        br_offsets_save(&b->offsets);
    }
    if ((v = lj_get(root, "delay")) && b->hooks.delay_adopt)
        b->hooks.delay_adopt(b, v);
    lj_free(root);
}

void br_dl_tables_free(br_dledger_t *d)
{
    if (d->tables)
        free(d->tables->delay);
    free(d->tables);
    d->tables = NULL;
}
