/* Writes the broker's config tables (topics.json, subscriptionGroup.json, consumerOffset.json,
 * delayOffset.json) off the event loop, coalesced.
 *
 * The loop only marks a table's slot as due (br_persist_request, O(1)). One loop timer takes
 * a flat copy of each due table (a memcpy-sized snapshot, at most one per slot per interval and
 * never while the previous copy is still waiting or being written) and hands it to one writer
 * thread, which builds the JSON and writes tmp + fdatasync + rename (cm_write_file_safe). Many
 * changes during a write give one more write after it. br_persist_stop joins the writer and
 * writes what is left on the caller's thread, so a clean stop loses nothing; after kill -9 the
 * loss is what changed in the last BR_PERSIST_SOON_MS (5 s for consumer offsets, as RocketMQ's
 * flushConsumerOffsetInterval) plus the write in progress. */
#include <pthread.h>
#include <stdlib.h>

#include "broker/core/core.h"

typedef struct br_pslot {
    struct br_persist *p;
    const br_ptype_t *pt;
    void *table;                /* what pt->snap copies; loop-owned */
    const char *path;           /* set before the slot is used (under mu), read-only afterwards */
    struct br_pslot **owner;    /* cleared when the persister stops: saves write at once then */
    uint64_t due;               /* loop: uv_now time of the next snapshot, 0 = nothing to do */
    uint64_t snapAt;            /* loop: uv_now time of the last snapshot */
    void *pending;              /* mu: a snapshot waiting for the writer */
    int busy;                   /* mu: the writer is writing this slot */
} br_pslot_t;

/* The core's tables, then BR_PERSIST_EXTRA slots subsystems take at start (br_persist_slot). */
#define BR_PERSIST_EXTRA 4
enum { SLOT_TOPICS, SLOT_GROUPS, SLOT_OFFSETS, SLOT_EXTRA, SLOT_COUNT = SLOT_EXTRA + BR_PERSIST_EXTRA };

struct br_persist {
    br_broker_t *b;
    uv_timer_t *timer;          /* b->persist_timer: broker.c inits and closes it */
    uint64_t timerDue;          /* when the timer fires, 0 when stopped */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int quit;                   /* mu */
    int nslots;                 /* loop: slots in use */
    br_pslot_t slots[SLOT_COUNT];
};

/* Render a snapshot and write it atomically; takes ownership of snap. Any thread. */
static int write_snap(const br_ptype_t *pt, void *snap, const char *path)
{
    cm_buf_t out;
    cm_buf_init(&out);
    int rc = pt->render(snap, &out);
    pt->free(snap);
    if (rc == 0)
        rc = cm_write_file_safe(path, out.data, out.len);
    cm_buf_free(&out);
    if (rc)
        LOG_E("broker", "cannot persist %s (error %d): the previous version stays", path, rc);
    return rc;
}

int br_persist_write(const br_ptype_t *pt, const void *table, const char *path)
{
    void *snap = pt->snap(table);
    if (!snap) {
        LOG_E("broker", "cannot persist %s: out of memory", path);
        return CM_ENOMEM;
    }
    return write_snap(pt, snap, path);
}

static br_pslot_t *next_pending(struct br_persist *p)
{
    for (int i = 0; i < SLOT_COUNT; i++)
        if (p->slots[i].pending)
            return &p->slots[i];
    return NULL;
}

static void *writer_main(void *arg)
{
    struct br_persist *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        br_pslot_t *s = NULL;
        while (!p->quit && !(s = next_pending(p)))
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->quit)
            break; /* br_persist_stop writes what is still pending */
        void *snap = s->pending;
        s->pending = NULL;
        s->busy = 1;
        pthread_mutex_unlock(&p->mu);
        write_snap(s->pt, snap, s->path);
        pthread_mutex_lock(&p->mu);
        s->busy = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void on_persist_timer(uv_timer_t *t);

/* (Re)start the one-shot timer for the earliest due slot. */
static void arm(struct br_persist *p)
{
    uint64_t due = 0;
    for (int i = 0; i < SLOT_COUNT; i++)
        if (p->slots[i].due && (!due || p->slots[i].due < due))
            due = p->slots[i].due;
    if (due == p->timerDue)
        return;
    p->timerDue = due;
    if (!due) {
        uv_timer_stop(p->timer);
        return;
    }
    uint64_t now = uv_now(p->b->loop);
    uv_timer_start(p->timer, on_persist_timer, due > now ? due - now : 0, 0);
}

static void on_persist_timer(uv_timer_t *t)
{
    struct br_persist *p = ((br_broker_t *)t->data)->persist;
    uint64_t now = uv_now(p->b->loop);
    p->timerDue = 0;
    for (int i = 0; i < SLOT_COUNT; i++) {
        br_pslot_t *s = &p->slots[i];
        if (!s->due || s->due > now)
            continue;
        pthread_mutex_lock(&p->mu);
        int busy = s->pending || s->busy;
        pthread_mutex_unlock(&p->mu);
        void *snap = busy ? NULL : s->pt->snap(s->table);
        if (!snap) { /* the last copy is still being written (or no memory): look again soon */
            s->due = now + BR_PERSIST_SOON_MS;
            continue;
        }
        s->due = 0;
        s->snapAt = now;
        pthread_mutex_lock(&p->mu);
        s->pending = snap;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    arm(p);
}

int br_persist_request(struct br_pslot *s, int within_ms)
{
    /* at once after a quiet spell (the ack and the file are then a write apart), else at
     * most one snapshot per within_ms: a burst of changes costs one write */
    uint64_t now = uv_now(s->p->b->loop), due = s->snapAt + (uint64_t)within_ms;
    if (due < now || !s->snapAt)
        due = now;
    if (s->due && s->due <= due)
        return 0; /* already coming as soon as that */
    s->due = due;
    arm(s->p);
    return 0;
}

static void slot_init(struct br_persist *p, int i, const br_ptype_t *pt, void *table, const char *path,
                      struct br_pslot **owner)
{
    p->slots[i] = (br_pslot_t){.p = p, .pt = pt, .table = table, .path = path, .owner = owner};
    *owner = &p->slots[i];
    p->nslots = i + 1;
}

struct br_pslot *br_persist_slot(br_broker_t *b, const br_ptype_t *pt, void *table, const char *path,
                                 struct br_pslot **owner)
{
    struct br_persist *p = b->persist;
    *owner = NULL;
    if (!p || p->nslots >= SLOT_COUNT)
        return NULL;
    pthread_mutex_lock(&p->mu); /* the writer scans every slot for pending work */
    slot_init(p, p->nslots, pt, table, path, owner);
    pthread_mutex_unlock(&p->mu);
    return *owner;
}

int br_persist_start(br_broker_t *b)
{
    struct br_persist *p = calloc(1, sizeof *p);
    if (!p)
        return CM_ENOMEM;
    p->b = b;
    p->timer = &b->persist_timer;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->th, NULL, writer_main, p) != 0) {
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return CM_EIO;
    }
    slot_init(p, SLOT_TOPICS, &br_topics_ptype, &b->topics, b->topics.path, &b->topics.ps);
    slot_init(p, SLOT_GROUPS, &br_groups_ptype, &b->groups, b->groups.path, &b->groups.ps);
    slot_init(p, SLOT_OFFSETS, &br_offsets_ptype, &b->offsets, b->offsets.path, &b->offsets.ps);
    b->persist = p;
    return 0;
}

void br_persist_stop(br_broker_t *b)
{
    struct br_persist *p = b->persist;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL); /* at most the write in progress */
    uv_timer_stop(p->timer);
    for (int i = 0; i < p->nslots; i++)
        *p->slots[i].owner = NULL; /* saves write at once now */
    for (int i = 0; i < p->nslots; i++) {
        br_pslot_t *s = &p->slots[i];
        if (s->pending) { /* superseded by the table as it is now */
            s->pt->free(s->pending);
            s->due = 1;
        }
        if (s->due)
            br_persist_write(s->pt, s->table, s->path);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
    b->persist = NULL;
}
