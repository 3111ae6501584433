/* Broker statistics behind GET_BROKER_RUNTIME_INFO (mqadmin clusterList, brokerStatus):
 * cumulative put and transferred-message counters, sampled every second into a ring of
 * 601 snapshots, from which the 10 s / 60 s / 600 s TPS are computed as RocketMQ does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "br.h"

/* Per consumer group: messages handed out, and that count a minute ago (for consumeTps). */
typedef struct group_stat { int64_t total, minuteAgo; uint64_t minuteAt; double tps; } group_stat_t;

void br_stats_group_add(br_broker_t *b, const char *group, int64_t n)
{
    group_stat_t *g = cm_map_get(&b->stats.groups, group);
    if (!g && (g = calloc(1, sizeof *g)) != NULL) {
        g->minuteAt = uv_now(b->loop); /* its first minute starts now */
        if (cm_map_put(&b->stats.groups, group, g) != 0) {
            free(g);
            g = NULL;
        }
    }
    if (g)
        g->total += n;
}

static void roll_group(const char *key, void *val, void *arg)
{
    group_stat_t *g = val;
    uint64_t now = *(const uint64_t *)arg;
    if (now - g->minuteAt >= 60000) {
        double secs = (double)(now - g->minuteAt) / 1000.0;
        g->tps = secs > 0 ? (double)(g->total - g->minuteAgo) / secs : 0;
        g->minuteAgo = g->total;
        g->minuteAt = now;
    }
}

double br_stats_group_tps(br_broker_t *b, const char *group)
{
    group_stat_t *g = cm_map_get(&b->stats.groups, group);
    if (!g)
        return 0;
    uint64_t now = uv_now(b->loop);
    double secs = (double)(now - g->minuteAt) / 1000.0;
    if (secs < 1)
        secs = 1;
    /* the last full minute, or the minute so far when it is young */
    return g->tps > 0 ? g->tps : (double)(g->total - g->minuteAgo) / secs;
}

typedef struct each_ctx { br_broker_t *b; void (*fn)(void *, const char *, double); void *arg; } each_ctx_t;

static void each_group(const char *key, void *val, void *arg)
{
    each_ctx_t *x = arg;
    x->fn(x->arg, key, br_stats_group_tps(x->b, key));
}

void br_stats_groups_each(br_broker_t *b, void (*fn)(void *arg, const char *group, double tps), void *arg)
{
    each_ctx_t x = {b, fn, arg};
    cm_map_each(&b->stats.groups, each_group, &x);
}

void br_stats_free(br_broker_t *b) { cm_map_free(&b->stats.groups, free); }

void br_stats_sample(br_broker_t *b)
{
    br_stats_t *s = &b->stats;
    uint64_t nowLoop = uv_now(b->loop);
    cm_map_each(&s->groups, roll_group, &nowLoop);
    br_sample_t *x = &s->ring[s->head];
    x->ms = uv_now(b->loop);
    x->put = s->putTotal;
    x->get = s->getTotal;
    s->head = (s->head + 1) % BR_STATS_SAMPLES;
    if (s->n < BR_STATS_SAMPLES)
        s->n++;
}

/* TPS over the last `window` samples (fewer on a young broker); -1 with under two samples. */
double br_stats_tps(const br_stats_t *s, int window, int which)
{
    if (s->n <= (size_t)window) /* a young broker: use the history there is */
        window = (int)s->n - 1;
    if (window < 1)
        return -1;
    const br_sample_t *last = &s->ring[(s->head + BR_STATS_SAMPLES - 1) % BR_STATS_SAMPLES];
    const br_sample_t *first = &s->ring[(s->head + BR_STATS_SAMPLES - 1 - window) % BR_STATS_SAMPLES];
    uint64_t dt = last->ms - first->ms;
    int64_t dv = which ? last->get - first->get : last->put - first->put;
    return dt ? (double)dv * 1000.0 / (double)dt : 0;
}

/* "a b c": the three windows, as RocketMQ writes them (an unavailable window is left out). */
static void tps_string(const br_stats_t *s, int which, char *out, size_t n)
{
    static const int windows[3] = {10, 60, 600};
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < 3; i++) {
        double v = br_stats_tps(s, windows[i], which);
        if (v < 0)
            v = 0; /* with too little history, report 0 so readers can parse the first number */
        len += (size_t)snprintf(out + len, n - len, "%s%.1f", i ? " " : "", v);
        if (len >= n)
            break;
    }
}

void br_handle_get_broker_runtime_info(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const br_stats_t *s = &b->stats;
    lj_val_t *t = lj_new_obj();
    char v[256];
    lj_set_str(t, "brokerVersionDesc", "V4_9_8");
    lj_set_str(t, "brokerVersion", "409");
#define SET_I(k, x) (snprintf(v, sizeof v, "%lld", (long long)(x)), lj_set_str(t, k, v))
    SET_I("msgPutTotalTodayNow", s->putTotal);
    SET_I("msgGetTotalTodayNow", s->getTotal);
    SET_I("msgPutTotalTodayMorning", 0);
    SET_I("msgGetTotalTodayMorning", 0);
    SET_I("msgPutTotalYesterdayMorning", 0);
    SET_I("msgGetTotalYesterdayMorning", 0);
    SET_I("putMessageTimesTotal", s->putTotal);
    SET_I("sendThreadPoolQueueSize", 0);
    SET_I("pullThreadPoolQueueSize", 0);
    SET_I("queryThreadPoolQueueSize", 0);
    SET_I("sendThreadPoolQueueHeadWaitTimeMills", 0);
    SET_I("pullThreadPoolQueueHeadWaitTimeMills", 0);
    SET_I("queryThreadPoolQueueHeadWaitTimeMills", 0);
    SET_I("pageCacheLockTimeMills", 0);
    SET_I("dispatchBehindBytes", 0);
    SET_I("bootTimestamp", s->bootMs);
    SET_I("commitLogMinOffset", st_min_phy_offset(b->store));
    SET_I("commitLogMaxOffset", st_max_phy_offset(b->store));
    /* The oldest stored message time drives clusterList's #Hour. */
    int64_t earliest = -1;
    const uint8_t *p;
    uint32_t len;
    if (st_max_phy_offset(b->store) > st_min_phy_offset(b->store) &&
        st_read_record_at(b->store, st_min_phy_offset(b->store), &p, &len) == ST_OK) {
        st_record_t r;
        if (st_record_decode(p, len, 0, &r) == ST_OK)
            earliest = r.storeTimestamp;
    }
    SET_I("earliestMessageTimeStamp", earliest);
    tps_string(s, 0, v, sizeof v);
    lj_set_str(t, "putTps", v);
    tps_string(s, 1, v, sizeof v);
    lj_set_str(t, "getTransferedTps", v);
    struct statvfs fs;
    double ratio = 0;
    if (statvfs(b->cfg.storePathCommitLog, &fs) == 0 && fs.f_blocks)
        ratio = 1.0 - (double)fs.f_bavail / (double)fs.f_blocks;
    snprintf(v, sizeof v, "%.2f", ratio);
    lj_set_str(t, "commitLogDiskRatio", v);
    lj_set_str(t, "consumeQueueDiskRatio", v);
    uint64_t up = (uv_now(b->loop) - s->bootLoopMs) / 1000;
    snprintf(v, sizeof v, "[ %llu days, %llu hours, %llu minutes, %llu seconds ]", (unsigned long long)(up / 86400),
             (unsigned long long)(up / 3600 % 24), (unsigned long long)(up / 60 % 60), (unsigned long long)(up % 60));
    lj_set_str(t, "runtime", v);
#undef SET_I
    lj_val_t *o = lj_new_obj();
    lj_set(o, "table", t);
    rm_conn_respond_json(c, req, o, LJ_W_FASTJSON);
}
