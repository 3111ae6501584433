/* Broker statistics behind GET_BROKER_RUNTIME_INFO (mqadmin clusterList, brokerStatus, the
 * console's cluster page): cumulative put, transferred-message and found/missed read counters,
 * sampled every second into a ring of 601 snapshots, from which the 10 s / 60 s / 600 s TPS
 * are computed as RocketMQ does; the totals at the last two local midnights ("morning"); and
 * the keyed counters behind VIEW_BROKER_STATS_DATA (statsAll, the console's dashboard). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "broker/core/core.h"

/* Keyed counters: messages per consumer group (consumeTps), per topic stored (TOPIC_PUT_NUMS)
 * and per "topic@group" handed out (GROUP_GET_NUMS). Each keeps its total and the totals at
 * the start of the current minute, hour and day window, so VIEW_BROKER_STATS_DATA can give a
 * sum and a rate per window without a sample ring per key. */
enum { W_MIN, W_HOUR, W_DAY, W_N };
static const uint64_t k_window_ms[W_N] = {60000, 3600000, 86400000};
typedef struct counter {
    int64_t total, times;       /* messages, and the events (sends, pulls) that carried them */
    int64_t at[W_N], atTimes[W_N]; /* total and times when the window began */
    uint64_t since[W_N];        /* uv_now when it began */
    int64_t lastSum[W_N], lastTimes[W_N]; /* the last complete window's counts */
} counter_t;

static void count(br_broker_t *b, cm_map_t *m, const char *key, int64_t n)
{
    counter_t *c = cm_map_get(m, key);
    if (!c && (c = calloc(1, sizeof *c)) != NULL) {
        for (int w = 0; w < W_N; w++)
            c->since[w] = uv_now(b->loop); /* its first windows start now */
        if (cm_map_put(m, key, c) != 0) {
            free(c);
            c = NULL;
        }
    }
    if (c) {
        c->total += n;
        c->times++;
    }
}

void br_stats_group_add(br_broker_t *b, const char *group, int64_t n) { count(b, &b->stats.groups, group, n); }

void br_stats_count(br_broker_t *b, int which, const char *key, int64_t n)
{
    count(b, which == BR_STAT_TOPIC_PUT ? &b->stats.topicPut : &b->stats.groupGet, key, n);
}

static void roll(const char *key, void *val, void *arg)
{
    counter_t *c = val;
    uint64_t now = *(const uint64_t *)arg;
    for (int w = 0; w < W_N; w++)
        if (now - c->since[w] >= k_window_ms[w]) {
            c->lastSum[w] = c->total - c->at[w];
            c->lastTimes[w] = c->times - c->atTimes[w];
            c->at[w] = c->total;
            c->atTimes[w] = c->times;
            c->since[w] = now;
        }
}

/* The last complete window's sum, rate and messages per event (RocketMQ's avgpt), or the
 * current window's while there is none. */
static void window(const br_broker_t *b, const counter_t *c, int w, int64_t *sum, double *tps, double *avgpt)
{
    uint64_t now = uv_now(b->loop);
    double secs = (double)(now - c->since[w]) / 1000.0;
    int64_t times;
    if (c->lastSum[w] > 0 || secs >= (double)k_window_ms[w] / 1000.0) {
        *sum = c->lastSum[w];
        times = c->lastTimes[w];
        *tps = (double)c->lastSum[w] * 1000.0 / (double)k_window_ms[w];
    } else {
        *sum = c->total - c->at[w];
        times = c->times - c->atTimes[w];
        *tps = (double)*sum / (secs < 1 ? 1 : secs);
    }
    if (avgpt)
        *avgpt = times > 0 ? (double)*sum / (double)times : 0;
}

double br_stats_group_tps(br_broker_t *b, const char *group)
{
    counter_t *c = cm_map_get(&b->stats.groups, group);
    int64_t sum;
    double tps = 0;
    if (c)
        window(b, c, W_MIN, &sum, &tps, NULL);
    return tps;
}

int br_stats_window(br_broker_t *b, int which, const char *key, int w, int64_t *sum, double *tps, double *avgpt)
{
    counter_t *c = cm_map_get(which == BR_STAT_TOPIC_PUT ? &b->stats.topicPut : &b->stats.groupGet, key);
    if (!c || w < 0 || w >= W_N)
        return -1;
    window(b, c, w, sum, tps, avgpt);
    return 0;
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

typedef struct kctx { br_broker_t *b; int which; void (*fn)(void *, const char *, double); void *arg; } kctx_t;

static void each_key(const char *key, void *val, void *arg)
{
    kctx_t *x = arg;
    int64_t sum;
    double tps = 0;
    br_stats_window(x->b, x->which, key, 0, &sum, &tps, NULL);
    x->fn(x->arg, key, tps);
}

void br_stats_each(br_broker_t *b, int which, void (*fn)(void *arg, const char *key, double tps), void *arg)
{
    kctx_t x = {b, which, fn, arg};
    cm_map_each(which == BR_STAT_TOPIC_PUT ? &b->stats.topicPut : &b->stats.groupGet, each_key, &x);
}

void br_stats_free(br_broker_t *b)
{
    cm_map_free(&b->stats.groups, free);
    cm_map_free(&b->stats.topicPut, free);
    cm_map_free(&b->stats.groupGet, free);
}

/* RocketMQ's "morning" figures: the totals when the local day began (0 before the broker
 * started, so "today" on the first day counts since the start). */
static void roll_day(br_stats_t *s)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    int day = tm.tm_year * 1000 + tm.tm_yday;
    if (s->day && day != s->day) {
        s->putMorning[1] = s->putMorning[0];
        s->getMorning[1] = s->getMorning[0];
        s->putMorning[0] = s->putTotal;
        s->getMorning[0] = s->getTotal;
    }
    s->day = day;
}

void br_stats_sample(br_broker_t *b)
{
    br_stats_t *s = &b->stats;
    roll_day(s);
    uint64_t nowLoop = uv_now(b->loop);
    cm_map_each(&s->groups, roll, &nowLoop);
    cm_map_each(&s->topicPut, roll, &nowLoop);
    cm_map_each(&s->groupGet, roll, &nowLoop);
    br_sample_t *x = &s->ring[s->head];
    x->ms = uv_now(b->loop);
    x->put = s->putTotal;
    x->get = s->getTotal;
    x->found = s->getFound;
    x->miss = s->getMiss;
    s->head = (s->head + 1) % BR_STATS_SAMPLES;
    if (s->n < BR_STATS_SAMPLES)
        s->n++;
}

static int64_t sample_value(const br_sample_t *x, int which)
{
    switch (which) {
    case BR_TPS_PUT: return x->put;
    case BR_TPS_GET: return x->get;
    case BR_TPS_FOUND: return x->found;
    case BR_TPS_MISS: return x->miss;
    default: return x->found + x->miss;
    }
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
    int64_t dv = sample_value(last, which) - sample_value(first, which);
    return dt ? (double)dv * 1000.0 / (double)dt : 0;
}

/* Java writes these doubles with Double.toString (shortest round trip, "16.654176034640685");
 * we do the same without its exponent form and with two decimals at least, so that "%.2f"
 * readers and Java's parseDouble read the same number. */
void br_stats_fmt_double(double v, char *out, size_t n)
{
    if (!(v == v) || v > 1e15 || v < -1e15) /* NaN or absurd: not a rate */
        v = 0;
    int prec = 17;
    char tmp[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v) {
            prec = p;
            break;
        }
    }
    int exp10 = 0;
    if (v != 0) { /* the exponent as %e printed it, after its rounding */
        const char *e = strchr(tmp, 'e');
        exp10 = e ? atoi(e + 1) : 0;
    }
    int decimals = prec - 1 - exp10;
    if (decimals < 2)
        decimals = 2;
    if (decimals > 20)
        decimals = 20;
    snprintf(out, n, "%.*f", decimals, v);
}

/* "a b c": the three windows, as RocketMQ writes them. With too little history a window uses
 * what there is, and 0 before two samples, so that readers can always parse three numbers. */
static void tps_string(const br_stats_t *s, int which, char *out, size_t n)
{
    static const int windows[3] = {10, 60, 600};
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < 3 && len < n; i++) {
        char num[64];
        double v = br_stats_tps(s, windows[i], which);
        br_stats_fmt_double(v < 0 ? 0 : v, num, sizeof num);
        len += (size_t)snprintf(out + len, n - len, "%s%s", i ? " " : "", num);
    }
}

/* UtilAll.humanReadableByteCount(bytes, false): "252.0 GiB", "512 B". */
static void human_bytes(uint64_t v, char *out, size_t n)
{
    if (v < 1024) {
        snprintf(out, n, "%llu B", (unsigned long long)v);
        return;
    }
    static const char units[] = "KMGTPE";
    double d = (double)v;
    int e = 0;
    while (d >= 1024 && e < 6) {
        d /= 1024;
        e++;
    }
    snprintf(out, n, "%.1f %ciB", d, units[e - 1]);
}

/* "count=N p50=X p99=X p999=X max=X" in µs: one histogram in one runtime-info value. */
static void hist_string(const st_hist_t *h, char *out, size_t n)
{
    snprintf(out, n, "count=%llu p50=%llu p99=%llu p999=%llu max=%llu", (unsigned long long)st_hist_count(h),
             (unsigned long long)(st_hist_quantile(h, 0.5) / 1000), (unsigned long long)(st_hist_quantile(h, 0.99) / 1000),
             (unsigned long long)(st_hist_quantile(h, 0.999) / 1000), (unsigned long long)(st_hist_quantile(h, 1) / 1000));
}

/* Loulan's latency breakdown (issue 17): loop iterations and the store's phases, each a
 * histogram since the start; loopIterationMaxMs alone for scripts. */
static void latency_keys(br_broker_t *b, lj_val_t *t)
{
    static const char *const k_phase_keys[ST_PHASE_N] = {"storeAppendUs", "storeConsumeQueueUs", "storeIndexUs",
                                                         "storeFlushCommitLogUs", "storeFlushConsumeQueueUs",
                                                         "storeFlushIndexUs"};
    char v[160];
    hist_string(&b->looptime.iter, v, sizeof v);
    lj_set_str(t, "loopIterationUs", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)(st_hist_quantile(&b->looptime.iter, 1) / 1000000));
    lj_set_str(t, "loopIterationMaxMs", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)b->looptime.slow);
    lj_set_str(t, "loopSlowIterations", v);
    if (!b->store)
        return;
    const st_phase_stats_t *ps = st_phase_stats(b->store);
    for (int i = 0; i < ST_PHASE_N; i++) {
        hist_string(st_phase_hist(ps, i), v, sizeof v);
        lj_set_str(t, k_phase_keys[i], v);
    }
    st_cq_alloc_stats_t as;
    st_cq_alloc_stats(b->store, &as);
    snprintf(v, sizeof v,
             "byAllocator=%llu onLoop=%llu ready=%llu waits=%llu waitMaxUs=%llu discarded=%llu "
             "reservedByAllocator=%llu reservedOnLoop=%llu",
             (unsigned long long)as.createdByAllocator, (unsigned long long)as.createdOnCaller,
             (unsigned long long)as.readyTaken, (unsigned long long)as.waits,
             (unsigned long long)(as.waitMaxNs / 1000), (unsigned long long)as.discarded,
             (unsigned long long)as.reservedByAllocator, (unsigned long long)as.reservedOnCaller);
    lj_set_str(t, "storeConsumeQueueFiles", v);
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
    SET_I("msgPutTotalTodayMorning", s->putMorning[0]);
    SET_I("msgGetTotalTodayMorning", s->getMorning[0]);
    SET_I("msgPutTotalYesterdayMorning", s->putMorning[1]);
    SET_I("msgGetTotalYesterdayMorning", s->getMorning[1]);
    SET_I("putMessageTimesTotal", s->putTotal);
    SET_I("putMessageFailedTimes", s->putFailed);
    SET_I("putMessageSizeTotal", s->putBytes);
    br_stats_fmt_double(s->putTotal ? (double)s->putBytes / (double)s->putTotal : 0, v, sizeof v);
    lj_set_str(t, "putMessageAverageSize", v);
    /* one loop answers every request: there is no thread-pool queue to wait in */
    SET_I("sendThreadPoolQueueSize", 0);
    SET_I("pullThreadPoolQueueSize", 0);
    SET_I("queryThreadPoolQueueSize", 0);
    SET_I("EndTransactionQueueSize", 0);
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
    static const struct { const char *key; int which; } k_tps[] = {
        {"putTps", BR_TPS_PUT}, {"getTransferedTps", BR_TPS_GET}, {"getFoundTps", BR_TPS_FOUND},
        {"getMissTps", BR_TPS_MISS}, {"getTotalTps", BR_TPS_FOUND_MISS},
        /* not "getTransferredTps": 4.9's misspelt key is what readers (clusterList, the
         * console) look for, and replay tests hold the table to 4.9's keys */
    };
    for (size_t i = 0; i < sizeof k_tps / sizeof k_tps[0]; i++) {
        tps_string(s, k_tps[i].which, v, sizeof v);
        lj_set_str(t, k_tps[i].key, v);
    }
    struct statvfs fs;
    double ratio = 0;
    if (statvfs(b->cfg.storePathCommitLog, &fs) == 0 && fs.f_blocks) {
        ratio = 1.0 - (double)fs.f_bavail / (double)fs.f_blocks;
        char total[32], freeb[32];
        human_bytes((uint64_t)fs.f_blocks * fs.f_frsize, total, sizeof total);
        human_bytes((uint64_t)fs.f_bavail * fs.f_frsize, freeb, sizeof freeb);
        snprintf(v, sizeof v, "Total : %s, Free : %s.", total, freeb);
        lj_set_str(t, "commitLogDirCapacity", v);
    }
    snprintf(v, sizeof v, "%.2f", ratio);
    lj_set_str(t, "commitLogDiskRatio", v);
    lj_set_str(t, "consumeQueueDiskRatio", v);
    uint64_t up = (uv_now(b->loop) - s->bootLoopMs) / 1000;
    snprintf(v, sizeof v, "[ %llu days, %llu hours, %llu minutes, %llu seconds ]", (unsigned long long)(up / 86400),
             (unsigned long long)(up / 3600 % 24), (unsigned long long)(up / 60 % 60), (unsigned long long)(up % 60));
    lj_set_str(t, "runtime", v);
    latency_keys(b, t);
#undef SET_I
    lj_val_t *o = lj_new_obj();
    lj_set(o, "table", t);
    rm_conn_respond_json(c, req, o, LJ_W_FASTJSON);
}
