/* timer.c: timer messages at any time (RocketMQ 5.x semantics for 4.x remoting clients,
 * store spec §7.2). A send with TIMER_DELAY_SEC, TIMER_DELAY_MS or TIMER_DELIVER_MS (checked in
 * that order) for a future time is stored in rmq_sys_wheel_timer queue 0 with TIMER_OUT_MS,
 * REAL_TOPIC and REAL_QID. This service then, on a 10 ms loop timer:
 *  1. enqueues: reads that queue from where it left off and appends a 32-byte entry per message
 *     (deliverMs, commit-log offset, timer-queue offset, previous entry of the same second) to
 *     the timer log, and links it into the wheel slot of its second (timerwheel: one slot per
 *     second of timerMaxDelaySec, a ring);
 *  2. delivers: the entries of the current second are loaded (sorted by time) and each is put to
 *     its real topic and queue when due, so delivery is within a tick of the requested time.
 * Everything pending lives in the two memory-mapped files, not in the heap: a million pending
 * timers cost 32 MB of timer log on disk and nothing per timer in memory beyond the current
 * second. Both files are fully allocated when created. The log is cut in 1 Mi-entry segments;
 * a segment whose entries are all delivered is deleted. The current second is kept in
 * timer/timercheck; the enqueue progress is the last entry's queue offset, so a restart
 * neither loses a timer nor enqueues one twice (delivery is at least once: the second that was
 * being delivered at a crash is delivered again). A timer that can never be delivered
 * (br_put_due) is moved aside with a log line, so it never holds up the wheel. Loop thread. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/timer/timer.h"

#define TIMER_TOPIC "rmq_sys_wheel_timer"
#define ENTRY 32
#define SLOT 24
#define SEG_ENTRIES (1 << 20)
#define TICK_MS 10
#define ENQUEUE_BUDGET 50000
#define DELIVER_BUDGET 50000

typedef struct due { int64_t ms, phy, idx; } due_t;

/* ---- files -------------------------------------------------------------------------------- */

static uint8_t *map_file(const char *path, size_t size, int *fdOut)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0)
        goto err;
    if ((size_t)sb.st_size != size) {
        if (sb.st_size != 0 || ftruncate(fd, (off_t)size) != 0)
            goto err;
        if (fallocate(fd, 0, 0, (off_t)size) != 0 && errno != EOPNOTSUPP && errno != ENOSYS) {
            unlink(path);
            goto err;
        }
    }
    uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        goto err;
    *fdOut = fd;
    return p;
err:
    LOG_E("broker", "timer: cannot map %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return NULL;
}

static br_tseg_t *seg_of(br_timer_t *t, int64_t idx)
{
    int64_t s = idx / SEG_ENTRIES - t->firstSeg;
    return s >= 0 && s < (int64_t)t->nseg ? &t->segs[s] : NULL;
}

/* Make sure the segment for entry idx exists (creating segments in order). */
static br_tseg_t *seg_for_write(br_timer_t *t, int64_t idx)
{
    br_tseg_t *s = seg_of(t, idx);
    if (s && s->base)
        return s;
    int64_t no = idx / SEG_ENTRIES;
    if (t->nseg == 0)
        t->firstSeg = no;
    if (no != t->firstSeg + (int64_t)t->nseg)
        return NULL;
    br_tseg_t *nv = realloc(t->segs, (t->nseg + 1) * sizeof *nv);
    if (!nv)
        return NULL;
    t->segs = nv;
    s = &t->segs[t->nseg];
    memset(s, 0, sizeof *s);
    char path[1300];
    snprintf(path, sizeof path, "%s/%020" PRId64, t->dir, no * SEG_ENTRIES);
    if (!(s->base = map_file(path, (size_t)SEG_ENTRIES * ENTRY, &s->fd)))
        return NULL;
    t->nseg++;
    return s;
}

static uint8_t *entry_at(br_timer_t *t, int64_t idx)
{
    br_tseg_t *s = seg_of(t, idx);
    return s && s->base ? s->base + (size_t)(idx % SEG_ENTRIES) * ENTRY : NULL;
}

static uint8_t *slot_of(br_timer_t *t, int64_t sec) { return t->wheel + (size_t)(sec % (int64_t)t->nslots) * SLOT; }

static void save_check(br_timer_t *t)
{
    uint8_t b[8];
    cm_wbe64(b, (uint64_t)t->curSec);
    if (t->checkFd >= 0 && pwrite(t->checkFd, b, 8, 0) != 8)
        LOG_W("broker", "timer: cannot write timercheck");
}

/* ---- enqueue -------------------------------------------------------------------------------- */

static void due_push(br_timer_t *t, int64_t ms, int64_t phy, int64_t idx)
{
    if (t->ndue == t->capdue) {
        size_t nc = t->capdue ? t->capdue * 2 : 1024;
        due_t *nv = realloc(t->due, nc * sizeof *nv);
        if (!nv)
            return; /* delivered after a restart instead */
        t->due = nv;
        t->capdue = nc;
    }
    /* keep [dueAt, ndue) sorted by time: new ones are usually the latest */
    size_t i = t->ndue++;
    while (i > t->dueAt && ((due_t *)t->due)[i - 1].ms > ms) {
        ((due_t *)t->due)[i] = ((due_t *)t->due)[i - 1];
        i--;
    }
    ((due_t *)t->due)[i] = (due_t){ms, phy, idx};
}

/* Append one timer to the log and the wheel. */
static int append_entry(br_broker_t *b, int64_t deliverMs, int64_t phy, int64_t qoff)
{
    br_timer_t *t = b->timer;
    int64_t sec = deliverMs / 1000, idx = t->logEnd;
    if (sec < t->curSec)
        sec = t->curSec; /* late (a backlog after a restart): deliver in the current second */
    if (!seg_for_write(t, idx))
        return -1;
    uint8_t *e = entry_at(t, idx), *s = slot_of(t, sec);
    int64_t prev = -1;
    if ((int64_t)cm_be64(s) == sec)
        prev = (int64_t)cm_be64(s + 8);
    else
        cm_wbe64(s + 16, 0); /* the slot was last used a wheel turn ago */
    cm_wbe64(e, (uint64_t)deliverMs);
    cm_wbe64(e + 8, (uint64_t)phy);
    cm_wbe64(e + 16, (uint64_t)qoff);
    cm_wbe64(e + 24, (uint64_t)prev);
    cm_wbe64(s, (uint64_t)sec);
    cm_wbe64(s + 8, (uint64_t)idx);
    cm_wbe64(s + 16, cm_be64(s + 16) + 1);
    seg_of(t, idx)->pending++;
    t->logEnd++;
    t->enqOffset = qoff + 1;
    if (sec == t->curSec && t->loaded)
        due_push(t, deliverMs, phy, idx);
    return 0;
}

static void enqueue(br_broker_t *b)
{
    static st_get_result_t g;
    static int ready;
    if (!ready) {
        st_get_result_init(&g);
        ready = 1;
    }
    br_timer_t *t = b->timer;
    int64_t max = st_max_offset(b->store, TIMER_TOPIC, 0);
    for (int n = 0; t->enqOffset < max && n < ENQUEUE_BUDGET; n++) {
        if (st_get(b->store, TIMER_TOPIC, 0, t->enqOffset, 1, 0, NULL, &g) != ST_OK)
            return;
        if (g.status != ST_GET_FOUND || g.n == 0) {
            t->enqOffset = g.nextBeginOffset > t->enqOffset ? g.nextBeginOffset : t->enqOffset + 1;
            continue;
        }
        st_record_t r;
        char out[32];
        if (st_record_decode(g.msgs[0].iov_base, g.msgs[0].iov_len, 0, &r) != ST_OK ||
            br_prop(&r, "TIMER_OUT_MS", out, sizeof out)) {
            t->enqOffset++;
            continue;
        }
        if (append_entry(b, atoll(out), r.physicOffset, r.queueOffset) != 0) {
            LOG_E("broker", "timer: cannot extend the timer log; timers wait");
            return;
        }
    }
}

/* ---- delivery ------------------------------------------------------------------------------- */

/* 0 delivered, moved aside (br_put_due) or gone; -1 try again next tick. */
static int deliver(br_broker_t *b, const due_t *d)
{
    const uint8_t *p;
    uint32_t len;
    st_record_t r;
    if (st_read_record_at(b->store, d->phy, &p, &len) != ST_OK || st_record_decode(p, len, 0, &r) != ST_OK) {
        LOG_W("broker", "timer message at %" PRId64 " is gone or malformed; skipped", d->phy);
        return 0;
    }
    static const char *const drop[] = {"TIMER_DELAY_SEC", "TIMER_DELAY_MS", "TIMER_DELIVER_MS", NULL};
    return br_put_due(b, &r, TIMER_TOPIC, drop) < 0 ? -1 : 0;
}

/* Load the current second's entries (its slot chain) into the sorted due list. */
static void load_second(br_timer_t *t)
{
    t->ndue = t->dueAt = 0;
    uint8_t *s = slot_of(t, t->curSec);
    int64_t idx = (int64_t)cm_be64(s) == t->curSec ? (int64_t)cm_be64(s + 8) : -1;
    for (int64_t guard = 0; idx >= 0 && idx < t->logEnd && guard < t->logEnd; guard++) {
        uint8_t *e = entry_at(t, idx);
        if (!e)
            break;
        due_push(t, (int64_t)cm_be64(e), (int64_t)cm_be64(e + 8), idx);
        idx = (int64_t)cm_be64(e + 24);
    }
    t->loaded = 1;
}

static void delivered(br_timer_t *t, int64_t idx)
{
    br_tseg_t *s = seg_of(t, idx);
    if (s && s->pending > 0)
        s->pending--;
    /* an old segment with nothing pending is only history now */
    while (t->nseg > 1 && t->segs[0].pending == 0) {
        char path[1300];
        snprintf(path, sizeof path, "%s/%020" PRId64, t->dir, t->firstSeg * SEG_ENTRIES);
        munmap(t->segs[0].base, (size_t)SEG_ENTRIES * ENTRY);
        close(t->segs[0].fd);
        unlink(path);
        memmove(t->segs, t->segs + 1, (t->nseg - 1) * sizeof *t->segs);
        t->nseg--;
        t->firstSeg++;
    }
}

static void deliver_due(br_broker_t *b, int64_t now)
{
    br_timer_t *t = b->timer;
    int budget = DELIVER_BUDGET;
    while (budget > 0) {
        if (!t->loaded)
            load_second(t);
        due_t *d = t->due;
        while (t->dueAt < t->ndue && d[t->dueAt].ms <= now && budget-- > 0) {
            if (deliver(b, &d[t->dueAt]) != 0)
                return;
            delivered(t, d[t->dueAt].idx);
            t->dueAt++;
        }
        if (t->dueAt < t->ndue || now / 1000 <= t->curSec)
            return; /* more in this second, later */
        t->curSec++; /* this second is done */
        t->loaded = 0;
        save_check(t);
    }
}

static void on_tick(uv_timer_t *h)
{
    br_broker_t *b = h->data;
    if (br_is_slave(b))
        return; /* the master delivers; its copies reach this slave by replication */
    enqueue(b);
    deliver_due(b, cm_now_ms());
}

/* ---- send path --------------------------------------------------------------------------------- */

int br_timer_divert(br_broker_t *b, cm_buf_t *props, const char *topic, int qid, const char **st_topic,
                    int *st_qid, const char **remark)
{
    static cm_buf_t tmp;
    const char *v;
    size_t vl;
    int64_t now = cm_now_ms(), at = -1, x;
    char num[32];
    static const char *const keys[] = {"TIMER_DELAY_SEC", "TIMER_DELAY_MS", "TIMER_DELIVER_MS"};
    int k;
    for (k = 0; k < 3; k++)
        if (st_props_get(props->data, props->len, keys[k], &v, &vl) == ST_OK)
            break;
    if (k == 3)
        return 0; /* not a timer message */
    if (!b->cfg.timerWheelEnable) {
        *remark = "accurate timer message is not enabled, timerWheelEnable is false";
        return RC_MESSAGE_ILLEGAL;
    }
    if (vl >= sizeof num || (memcpy(num, v, vl), num[vl] = 0, cm_parse_i64(num, &x)) != 0 || x < 0) {
        *remark = "the timer property (TIMER_DELAY_SEC / TIMER_DELAY_MS / TIMER_DELIVER_MS) is not a number";
        return RC_MESSAGE_ILLEGAL;
    }
    /* Compare the delay with the limit before turning it into a time: x near INT64_MAX would
     * overflow now + x * 1000. */
    int64_t maxMs = b->cfg.timerMaxDelaySec * 1000;
    if ((k == 0 && x > maxMs / 1000) || (k == 1 && x > maxMs) || (k == 2 && x - now > maxMs)) {
        *remark = "timer message illegal: the delay time is bigger than timerMaxDelaySec";
        return RC_MESSAGE_ILLEGAL;
    }
    at = k == 0 ? now + x * 1000 : k == 1 ? now + x : x;
    if (at <= now)
        return 0; /* due already: an ordinary message */
    char q[16], out[32];
    snprintf(q, sizeof q, "%d", qid);
    snprintf(out, sizeof out, "%" PRId64, at);
    static const char *const drop[] = {"TIMER_OUT_MS", "REAL_TOPIC", "REAL_QID", NULL};
    if (br_props_edit(&tmp, props->data, props->len, drop, "TIMER_OUT_MS", out, "REAL_TOPIC", topic, "REAL_QID", q,
                      (char *)NULL) ||
        (cm_buf_reset(props), cm_buf_append(props, tmp.data, tmp.len))) {
        *remark = "out of memory";
        return RC_SYSTEM_ERROR;
    }
    *st_topic = TIMER_TOPIC;
    *st_qid = 0;
    return 0;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

/* Rebuild what memory needs: the log's end (the last entry written), the enqueue progress and
 * the pending count of every segment (the chains of the seconds still ahead). */
static void recover(br_timer_t *t)
{
    if (t->nseg) {
        br_tseg_t *last = &t->segs[t->nseg - 1];
        int64_t n = 0;
        while (n < SEG_ENTRIES && cm_be64(last->base + (size_t)n * ENTRY) != 0)
            n++;
        t->logEnd = (t->firstSeg + (int64_t)t->nseg - 1) * SEG_ENTRIES + n;
        uint8_t *e = t->logEnd > 0 ? entry_at(t, t->logEnd - 1) : NULL;
        if (e)
            t->enqOffset = (int64_t)cm_be64(e + 16) + 1;
    }
    for (int64_t sec = t->curSec; sec < t->curSec + (int64_t)t->nslots; sec++) {
        uint8_t *s = slot_of(t, sec);
        if ((int64_t)cm_be64(s) != sec)
            continue;
        int64_t idx = (int64_t)cm_be64(s + 8);
        for (int64_t guard = 0; idx >= 0 && idx < t->logEnd && guard < t->logEnd; guard++) {
            uint8_t *e = entry_at(t, idx);
            br_tseg_t *sg = seg_of(t, idx);
            if (!e || !sg)
                break;
            sg->pending++;
            idx = (int64_t)cm_be64(e + 24);
        }
    }
}

static int load_segments(br_timer_t *t)
{
    int64_t *starts = NULL;
    size_t n = 0;
    DIR *d = opendir(t->dir);
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strlen(de->d_name) != 20 || strspn(de->d_name, "0123456789") != 20)
            continue;
        int64_t *nv = realloc(starts, (n + 1) * sizeof *nv);
        if (!nv)
            break;
        starts = nv;
        starts[n++] = atoll(de->d_name);
    }
    closedir(d);
    for (size_t i = 0; i < n; i++) /* few files: insertion sort */
        for (size_t j = i; j > 0 && starts[j - 1] > starts[j]; j--) {
            int64_t x = starts[j];
            starts[j] = starts[j - 1];
            starts[j - 1] = x;
        }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = seg_for_write(t, starts[i]) ? 0 : -1;
    free(starts);
    return rc;
}

int br_timer_start(br_broker_t *b)
{
    br_timer_t *t = b->timer;
    char path[1300];
    t->checkFd = -1;
    if (!b->cfg.timerWheelEnable)
        return 0;
    snprintf(t->dir, sizeof t->dir, "%s/timer", b->cfg.storePathRootDir);
    if (cm_mkdirs(t->dir) != 0)
        return -1;
    t->nslots = (size_t)b->cfg.timerMaxDelaySec + 2;
    snprintf(path, sizeof path, "%s/timerwheel", t->dir);
    struct stat sb;
    if (stat(path, &sb) == 0 && (size_t)sb.st_size != t->nslots * SLOT) {
        LOG_W("broker", "timer: timerMaxDelaySec changed; rebuilding the wheel is not supported, "
                        "keeping the old size");
        t->nslots = (size_t)sb.st_size / SLOT;
    }
    if (!(t->wheel = map_file(path, t->nslots * SLOT, &t->wheelFd)))
        return -1;
    snprintf(path, sizeof path, "%s/timercheck", t->dir);
    t->checkFd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    uint8_t cb[8];
    t->curSec = t->checkFd >= 0 && pread(t->checkFd, cb, 8, 0) == 8 ? (int64_t)cm_be64(cb) : 0;
    if (t->curSec <= 0)
        t->curSec = cm_now_ms() / 1000;
    if (load_segments(t) != 0)
        return -1;
    recover(t);
    LOG_I("broker", "timer wheel: %zu one-second slots, %" PRId64 " timer(s) logged, resuming at second %" PRId64,
          t->nslots, t->logEnd, t->curSec);
    uv_timer_init(b->loop, &t->tick);
    t->tick.data = b;
    uv_timer_start(&t->tick, on_tick, TICK_MS, TICK_MS);
    t->started = 1;
    return 0;
}

int br_timer_stop(br_broker_t *b, uv_close_cb cb)
{
    br_timer_t *t = b->timer;
    if (!t->started)
        return 0;
    save_check(t);
    for (size_t i = 0; i < t->nseg; i++) {
        msync(t->segs[i].base, (size_t)SEG_ENTRIES * ENTRY, MS_SYNC);
        munmap(t->segs[i].base, (size_t)SEG_ENTRIES * ENTRY);
        close(t->segs[i].fd);
    }
    free(t->segs);
    msync(t->wheel, t->nslots * SLOT, MS_SYNC);
    munmap(t->wheel, t->nslots * SLOT);
    close(t->wheelFd);
    if (t->checkFd >= 0)
        close(t->checkFd);
    free(t->due);
    uv_close((uv_handle_t *)&t->tick, cb);
    return 1;
}

/* ---- the subsystem ---- */

static int timer_start(br_broker_t *b)
{
    if (!(b->timer = calloc(1, sizeof *b->timer)))
        return -1;
    b->hooks.timer_divert = br_timer_divert;
    if (br_timer_start(b) != 0) /* the broker runs on without them, as before the split */
        LOG_E("broker", "timer messages unavailable: the timer files could not be opened");
    return 0;
}

static int timer_stop(br_broker_t *b, uv_close_cb cb) { return br_timer_stop(b, cb); }

static void timer_release(br_broker_t *b)
{
    free(b->timer);
    b->timer = NULL;
}

const br_subsys_t br_timer_subsys = {"timer", timer_start, timer_stop, timer_release, NULL, 0, 0};
