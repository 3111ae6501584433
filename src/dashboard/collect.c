/* collect.c: the Dashboard page's own sampling (spec §4) on one thread, today's series in
 * memory, the day files in dataPath, and the reads behind the dashboard/ requests (api_dashboard.c).
 *
 * Every round (a minute; loulan.dashboard.collectIntervalSeconds) the thread samples:
 *  - brokers, as the original: cluster info (106), then runtime info (28) of every instance,
 *    value = mean of getTotalTps's windows, series "<brokerName>:<brokerId>". An unreachable
 *    instance is skipped (the original abandons the rest of its minute).
 *  - topics. The original asks, per topic, its route (105) and groups (300), then per master 315
 *    for the topic and for each topic@group: topics x (2 + masters x (1 + groups)) requests a
 *    minute. Here traffic is derived from offset deltas between rounds, per master:
 *      GET_BROKER_CONSUME_STATS (317), one request, holds every group's consumer offsets and the
 *      max offsets of every topic that has a group; topics without a group get their max offsets
 *      from GET_TOPIC_STATS_INFO (202), at most PROBES_PER_ROUND of them per round, in turn; the
 *      topic list is GET_ALL_TOPIC_CONFIG (21), every round (every TOPICS_EVERY rounds once a
 *      master has TOPICS_MANY topics).
 *    A round costs 1 + instances + masters x (<= 2 + PROBES_PER_ROUND) requests whatever the
 *    number of groups, and at most MAX_KEYS topics are kept (the original's cache). The first
 *    measure of a topic or topic@group is its baseline: what moved before it is not counted.
 *    inTps/outTps: messages stored/consumed per second since the previous measure; inCount/
 *    outCount: messages stored/consumed today (local day, as far as the dashboard saw; it goes
 *    on from today's file after a restart), where the original shows the broker's 24-hour sum.
 *
 * Memory holds today's series (loaded from today's files at start) and only this thread changes
 * them (under C.mu, which the HTTP threads take to read). After a round that added samples the
 * day files are rewritten whole and atomically (cm_write_file_safe) from this thread, and day
 * files older than keepDays are deleted. A run of equal values keeps only its first and last
 * samples (plus one every RUN_POINT_MS), so idle series cost a few samples a day and the
 * charts draw the same lines. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dashboard.h"

#define MAX_KEYS 1000               /* series per store, as the original's caches */
#define MAX_SAMPLES 1500            /* per series: a day of minutes and some */
#define PROBES_PER_ROUND 100        /* GET_TOPIC_STATS_INFO requests per master per round */
#define TOPICS_EVERY 5              /* rounds between two GET_ALL_TOPIC_CONFIG of a master with */
#define TOPICS_MANY 1000            /* ... this many topics or more (else every round) */
#define RUN_POINT_MS (10 * 60000)   /* a run of equal samples still gets a point this often */
#define MAX_FILE (128u << 20)       /* a day file larger than this is not read (a full one is ~75 MB) */

enum { SRC_CONSUME_STATS = 1, SRC_TOPIC_STATS = 2 };

/* ---- series -------------------------------------------------------------------------------- */

typedef struct sample { int64_t ms; double v[4]; } sample_t; /* broker: v[0]; topic: all four */
typedef struct series { sample_t *s; size_t n, cap; } series_t;
typedef struct store {
    cm_map_t map;   /* key -> series_t */
    int nv;         /* values per sample: 1 (brokers) or 4 (topics) */
    int dirty;      /* samples added since the file was written (collector only) */
} store_t;

static void series_free(void *p)
{
    series_t *s = p;
    if (s)
        free(s->s);
    free(s);
}

static void store_clear(store_t *st)
{
    cm_map_free(&st->map, series_free);
    memset(&st->map, 0, sizeof st->map);
    st->dirty = 0;
}

static int same_values(const sample_t *a, const sample_t *b, int nv)
{
    for (int i = 0; i < nv; i++)
        if (a->v[i] != b->v[i])
            return 0;
    return 1;
}

/* Add x to the key's series (created when the store has room). A sample equal to the last two
 * moves the last one's time instead (the run keeps its ends), which is not a change worth a
 * file write. 1 when the series got a new sample, 0 when not, -1 when out of memory. */
static int store_add(store_t *st, const char *key, const sample_t *x)
{
    series_t *s = cm_map_get(&st->map, key);
    if (!s) {
        if (st->map.n >= MAX_KEYS || !(s = calloc(1, sizeof *s)))
            return s ? 0 : -1;
        if (cm_map_put(&st->map, key, s) != 0) {
            free(s);
            return -1;
        }
    }
    if (s->n >= 2 && same_values(&s->s[s->n - 1], x, st->nv) && same_values(&s->s[s->n - 2], x, st->nv) &&
        x->ms - s->s[s->n - 2].ms < RUN_POINT_MS && x->ms >= s->s[s->n - 1].ms) {
        s->s[s->n - 1].ms = x->ms;
        return 0;
    }
    if (s->n == MAX_SAMPLES) { /* short intervals only: the oldest goes */
        memmove(s->s, s->s + 1, (s->n - 1) * sizeof *s->s);
        s->n--;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        sample_t *g = realloc(s->s, (cap > MAX_SAMPLES ? MAX_SAMPLES : cap) * sizeof *g);
        if (!g)
            return -1;
        s->s = g;
        s->cap = cap > MAX_SAMPLES ? MAX_SAMPLES : cap;
    }
    s->s[s->n++] = *x;
    st->dirty = 1;
    return 1;
}

/* The original's text of one sample: "<epochMs>,<tps>" or "<epochMs>,<inTps>,<inCount>,<outTps>,<outCount>",
 * TPS with 5 decimals. */
static void sample_text(const sample_t *x, int nv, char *out, size_t n)
{
    if (nv == 1)
        snprintf(out, n, "%lld,%.5f", (long long)x->ms, x->v[0]);
    else
        snprintf(out, n, "%lld,%.5f,%lld,%.5f,%lld", (long long)x->ms, x->v[0], (long long)x->v[1], x->v[2],
                 (long long)x->v[3]);
}

/* Parse one sample of a day file; 0, or -1 when it is not nv numbers after a time. */
static int sample_parse(const char *s, int nv, sample_t *x)
{
    char *end;
    errno = 0;
    x->ms = strtoll(s, &end, 10);
    if (end == s || errno)
        return -1;
    for (int i = 0; i < nv; i++) {
        if (*end != ',')
            return -1;
        s = end + 1;
        x->v[i] = strtod(s, &end);
        if (end == s || x->v[i] != x->v[i] || x->v[i] > 9e15 || x->v[i] < -9e15)
            return -1;
    }
    for (int i = nv; i < 4; i++)
        x->v[i] = 0;
    return *end ? -1 : 0;
}

/* 5 decimals, as shown, so that equal-looking values make runs. */
static double round5(double v)
{
    char t[64];
    snprintf(t, sizeof t, "%.5f", v);
    return strtod(t, NULL);
}

typedef struct keys { const char **k; size_t n; } keys_t;
static void collect_key(const char *key, void *val, void *arg)
{
    keys_t *ks = arg;
    ks->k[ks->n++] = key;
}
static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* The store's keys, sorted (pointers into the map: valid until it changes). Caller frees *out. */
static int sorted_keys(const store_t *st, keys_t *out)
{
    out->n = 0;
    out->k = malloc((st->map.n ? st->map.n : 1) * sizeof *out->k);
    if (!out->k)
        return -1;
    cm_map_each(&st->map, collect_key, out);
    qsort(out->k, out->n, sizeof *out->k, cmp_str);
    return 0;
}

static void json_string(cm_buf_t *b, const char *s)
{
    cm_buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            cm_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            cm_buf_printf(b, "\\u%04x", c);
        else
            cm_buf_putc(b, (char)c);
    }
    cm_buf_putc(b, '"');
}

/* The day file's text, {key: ["sample", ...], ...}, written without building a JSON tree (a
 * full topic store is a million samples). */
static int store_text(const store_t *st, cm_buf_t *b)
{
    keys_t ks;
    if (sorted_keys(st, &ks) != 0)
        return -1;
    char t[160];
    cm_buf_putc(b, '{');
    for (size_t i = 0; i < ks.n; i++) {
        const series_t *s = cm_map_get(&st->map, ks.k[i]);
        if (i)
            cm_buf_putc(b, ',');
        json_string(b, ks.k[i]);
        cm_buf_puts(b, ":[");
        for (size_t j = 0; j < s->n; j++) {
            sample_text(&s->s[j], st->nv, t, sizeof t);
            cm_buf_printf(b, "%s\"%s\"", j ? "," : "", t);
        }
        cm_buf_putc(b, ']');
    }
    int rc = cm_buf_putc(b, '}');
    free(ks.k);
    return rc;
}

static lj_val_t *series_json(const series_t *s, int nv)
{
    lj_val_t *a = lj_new_arr();
    char t[160];
    for (size_t j = 0; a && j < s->n; j++) {
        sample_text(&s->s[j], nv, t, sizeof t);
        lj_push(a, lj_new_str(t));
    }
    return a;
}

/* key NULL: every series as an object; else that series as an array, or JSON null. */
static lj_val_t *store_json(const store_t *st, const char *key)
{
    if (key) {
        const series_t *s = cm_map_get(&st->map, key);
        return s ? series_json(s, st->nv) : lj_new_null();
    }
    keys_t ks;
    lj_val_t *o = lj_new_obj();
    if (!o || sorted_keys(st, &ks) != 0)
        return o;
    for (size_t i = 0; i < ks.n; i++)
        lj_put(o, lj_new_str(ks.k[i]), series_json(cm_map_get(&st->map, ks.k[i]), st->nv)); /* keys unique */
    free(ks.k);
    return o;
}

/* Fill st (empty) from a day file, or its .bak when the file is damaged. The caps apply; samples
 * that do not parse are left out. 0, 1 when there is no file, -1 when it is unreadable. */
static int store_load_one(store_t *st, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return errno == ENOENT ? 1 : -1;
    if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > MAX_FILE)
        return -1;
    char *text;
    size_t len;
    lj_val_t *root = NULL;
    if (cm_read_file(path, &text, &len) != 0)
        return -1;
    int rc = lj_parse(text, len, &root);
    free(text);
    if (rc != 0 || root->type != LJ_OBJ) {
        lj_free(root);
        return -1;
    }
    for (size_t i = 0; i < root->n; i++) {
        const lj_val_t *k = root->members[i].key, *arr = root->members[i].val;
        if (k->type != LJ_STR || arr->type != LJ_ARR)
            continue;
        /* only the newest MAX_SAMPLES can stay: skip the rest rather than shift them out */
        for (size_t j = arr->n > MAX_SAMPLES ? arr->n - MAX_SAMPLES : 0; j < arr->n; j++) {
            sample_t x;
            const char *s = lj_str(arr->items[j], NULL);
            if (s && sample_parse(s, st->nv, &x) == 0)
                store_add(st, k->s, &x);
        }
    }
    lj_free(root);
    return 0;
}

static int store_load(store_t *st, const char *path)
{
    int rc = store_load_one(st, path);
    if (rc < 0) {
        char bak[600];
        store_clear(st);
        snprintf(bak, sizeof bak, "%s.bak", path);
        if (store_load_one(st, bak) == 0) {
            LOG_W("dashboard", "%s is damaged: its previous version %s was read", path, bak);
            rc = 0;
        }
    }
    st->dirty = 0;
    return rc;
}

/* ---- day files ------------------------------------------------------------------------------- */

/* <dataPath>/dashboard<yyyy-MM-dd>.json or ..._topic.json, as the original names them. */
static void day_path(const char *date, int topics, char *out, size_t n)
{
    char dir[512];
    pthread_mutex_lock(&g_dh.mu);
    snprintf(dir, sizeof dir, "%s", g_dh.cfg.data_path);
    pthread_mutex_unlock(&g_dh.mu);
    snprintf(out, n, "%s/dashboard%s%s.json", dir, date, topics ? "_topic" : "");
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t days_of(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int dh_collect_date_ok(const char *s, int64_t *days)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap))
        return -1;
    if (days)
        *days = days_of(y, m, d);
    return 0;
}

/* Whether name is one of our day files (also their .bak/.tmp); its date's day number then. */
static int day_file(const char *name, int64_t *days)
{
    char date[11];
    if (strncmp(name, "dashboard", 9) != 0 || strlen(name) < 19)
        return 0;
    memcpy(date, name + 9, 10);
    date[10] = 0;
    const char *rest = name + 19;
    if (dh_collect_date_ok(date, days) != 0)
        return 0;
    if (!strncmp(rest, "_topic", 6))
        rest += 6;
    return !strcmp(rest, ".json") || !strcmp(rest, ".json.bak") || !strcmp(rest, ".json.tmp");
}

int dh_collect_prune(const char *dir, const char *today, int keep_days)
{
    int64_t now_day, d;
    int removed = 0;
    if (dh_collect_date_ok(today, &now_day) != 0)
        return -1;
    DIR *dp = opendir(dir);
    if (!dp)
        return -1;
    for (struct dirent *e; (e = readdir(dp)) != NULL;) {
        if (!day_file(e->d_name, &d) || now_day - d < keep_days)
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0) {
            removed++;
            LOG_I("dashboard", "deleted %s: older than keepDays=%d", path, keep_days);
        }
    }
    closedir(dp);
    return removed;
}

/* ---- the collector's state ----------------------------------------------------------------- */

/* The last measure of one offset sum (a topic's max offsets on one master, or a topic@group's
 * consumer offsets): the next measure's delta and rate come from it. */
typedef struct base { int64_t sum, ms; double rate; uint64_t seen; int src; } base_t;

typedef struct master {
    char addr[128];
    char **topics;          /* the user topics it hosts, sorted (GET_ALL_TOPIC_CONFIG) */
    size_t ntopics, cursor; /* cursor: the next topic to probe with GET_TOPIC_STATS_INFO */
    uint64_t topics_round, seen;
    int has_topics;
    cm_map_t in;            /* topic -> base_t (max offsets) */
    cm_map_t out;           /* "topic@group" -> base_t (consumer offsets) */
} master_t;

typedef struct acc { double in_tps, out_tps; int64_t in_d, out_d; } acc_t;

static struct {
    pthread_mutex_t mu;     /* the stores and day (HTTP threads read them), stop */
    pthread_cond_t cond;
    pthread_t th;
    int running, stop;
    char day[16];           /* the stores' date */
    store_t brokers, topics;
    /* the thread's own */
    cm_map_t masters;       /* brokerName -> master_t */
    uint64_t round;
    char last_err[512];
} C = {.mu = PTHREAD_MUTEX_INITIALIZER, .brokers = {.nv = 1}, .topics = {.nv = 4}};

static int stopping(void) { return __atomic_load_n(&C.stop, __ATOMIC_RELAXED); }

/* A failure is logged when it differs from the previous one: a broker down for an hour is
 * one line, not sixty. */
static void note_err(const char *what, const char *addr, const char *msg)
{
    char line[512];
    snprintf(line, sizeof line, "%s %s: %s", what, addr, msg);
    if (strcmp(line, C.last_err) != 0)
        LOG_W("dashboard", "collect: %s", line);
    snprintf(C.last_err, sizeof C.last_err, "%s", line);
}

static void free_topics(master_t *m)
{
    for (size_t i = 0; i < m->ntopics; i++)
        free(m->topics[i]);
    free(m->topics);
    m->topics = NULL;
    m->ntopics = m->cursor = 0;
}

static void master_free(void *p)
{
    master_t *m = p;
    free_topics(m);
    cm_map_free(&m->in, free);
    cm_map_free(&m->out, free);
    free(m);
}

/* Names that are not users' topics: as the original, retry/DLQ topics, the built-in system
 * topics, and each cluster's and broker's own topic. */
static int user_topic(const char *t, const cm_map_t *own)
{
    static const char *const builtin[] = {"TBW102", "SELF_TEST_TOPIC", "OFFSET_MOVED_EVENT", "SCHEDULE_TOPIC_XXXX",
                                          "BenchmarkTest", "TRANS_CHECK_MAX_TIME_TOPIC", NULL};
    if (!*t || !strncmp(t, "%RETRY%", 7) || !strncmp(t, "%DLQ%", 5) || !strncmp(t, "%SYS%", 5) ||
        !strncasecmp(t, "rmq_sys_", 8) || cm_map_get(own, t))
        return 0;
    for (int i = 0; builtin[i]; i++)
        if (!strcmp(t, builtin[i]))
            return 0;
    return 1;
}

/* The delta and rate of a new measure of key's offset sum; a first measure, one from another
 * source, or offsets that went back (topic recreated) start over with a zero delta. */
static void measure(cm_map_t *m, const char *key, int64_t sum, int64_t now, int src, int64_t *delta, double *rate)
{
    base_t *b = cm_map_get(m, key);
    *delta = 0;
    *rate = 0;
    if (!b) {
        if (!(b = calloc(1, sizeof *b)) || cm_map_put(m, key, b) != 0) {
            free(b);
            return;
        }
    } else if (b->src == src && sum >= b->sum && now > b->ms) {
        *delta = sum - b->sum;
        *rate = (double)*delta * 1000.0 / (double)(now - b->ms);
    }
    b->sum = sum;
    b->ms = now;
    b->rate = *rate;
    b->seen = C.round;
    b->src = src;
}

static acc_t *acc_of(cm_map_t *acc, const char *topic)
{
    acc_t *a = cm_map_get(acc, topic);
    if (!a && (a = calloc(1, sizeof *a)) != NULL && cm_map_put(acc, topic, a) != 0) {
        free(a);
        a = NULL;
    }
    return a;
}

/* Whether a topic has, or may get, a series: probes are not spent on topics beyond the cap. */
static int can_keep(const char *topic) { return C.topics.map.n < MAX_KEYS || cm_map_get(&C.topics.map, topic); }

/* Remove the entries of a base map that `keep` refuses. */
static void sweep(cm_map_t *m, int (*keep)(const char *key, const base_t *b, void *arg), void *arg)
{
    keys_t ks = {malloc((m->n ? m->n : 1) * sizeof *ks.k), 0};
    if (!ks.k)
        return;
    cm_map_each(m, collect_key, &ks);
    for (size_t i = 0; i < ks.n; i++) {
        char *k = cm_strdup(ks.k[i]);
        if (k && !keep(k, cm_map_get(m, k), arg))
            free(cm_map_remove(m, k));
        free(k);
    }
    free(ks.k);
}

static int hosted(const master_t *m, const char *t)
{
    return m->ntopics && bsearch(&t, m->topics, m->ntopics, sizeof *m->topics, cmp_str) != NULL;
}

static int keep_hosted(const char *key, const base_t *b, void *arg) { return hosted(arg, key); }

/* GET_ALL_TOPIC_CONFIG: the master's user topics, sorted (for bsearch and a stable turn). */
static void refresh_topics(master_t *m, const cm_map_t *own)
{
    lj_val_t *root = NULL;
    ad_err_t e;
    if (ad_call_fields(m->addr, &root, &e, 21, NULL) != 0) {
        note_err("GET_ALL_TOPIC_CONFIG", m->addr, e.msg);
        return;
    }
    const lj_val_t *tab = lj_get(root, "topicConfigTable");
    char **v = calloc(tab && tab->type == LJ_OBJ && tab->n ? tab->n : 1, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; v && tab && tab->type == LJ_OBJ && i < tab->n; i++) {
        const char *t = lj_str(tab->members[i].key, NULL);
        if (t && user_topic(t, own) && (v[n] = cm_strdup(t)) != NULL)
            n++;
    }
    lj_free(root);
    if (!v)
        return;
    qsort(v, n, sizeof *v, cmp_str);
    size_t cursor = m->cursor;
    free_topics(m);
    m->topics = v;
    m->ntopics = n;
    m->cursor = n ? cursor % n : 0;
    m->has_topics = 1;
    m->topics_round = C.round;
    sweep(&m->in, keep_hosted, m); /* topics deleted since */
}

/* Sums of one topic@group of a consume stats answer. */
typedef struct gsum { int64_t broker, consumer; } gsum_t;

static int keep_seen(const char *key, const base_t *b, void *arg) { return b->seen == C.round; }

/* GET_BROKER_CONSUME_STATS: every group's consumer offsets and, for topics that have a group,
 * their max offsets (the largest sum any group reports). */
static void consume_stats(master_t *m, int64_t now, cm_map_t *acc, const cm_map_t *own)
{
    lj_val_t *root = NULL;
    ad_err_t e;
    if (ad_call_fields(m->addr, &root, &e, 317, "isOrder", "false", NULL) != 0) {
        note_err("GET_BROKER_CONSUME_STATS", m->addr, e.msg);
        return;
    }
    cm_map_t sums = {0}, tmax = {0};
    const lj_val_t *list = lj_get(root, "consumeStatsList");
    for (size_t i = 0; list && list->type == LJ_ARR && i < list->n; i++) {
        const lj_val_t *byg = list->items[i];
        for (size_t g = 0; byg->type == LJ_OBJ && g < byg->n; g++) {
            const char *group = lj_str(byg->members[g].key, NULL);
            const lj_val_t *stats = byg->members[g].val;
            for (size_t s = 0; group && stats->type == LJ_ARR && s < stats->n; s++) {
                const lj_val_t *tab = lj_get(stats->items[s], "offsetTable");
                for (size_t q = 0; tab && tab->type == LJ_OBJ && q < tab->n; q++) {
                    const char *topic = lj_get_str(tab->members[q].key, "topic", NULL);
                    char key[600];
                    if (!topic || !user_topic(topic, own) ||
                        snprintf(key, sizeof key, "%s@%s", topic, group) >= (int)sizeof key)
                        continue;
                    gsum_t *gs = cm_map_get(&sums, key);
                    if (!gs && ((gs = calloc(1, sizeof *gs)) == NULL || cm_map_put(&sums, key, gs) != 0)) {
                        free(gs);
                        continue;
                    }
                    gs->broker += lj_get_int(tab->members[q].val, "brokerOffset", 0);
                    gs->consumer += lj_get_int(tab->members[q].val, "consumerOffset", 0);
                }
            }
        }
    }
    lj_free(root);
    keys_t ks = {malloc((sums.n ? sums.n : 1) * sizeof *ks.k), 0};
    if (ks.k)
        cm_map_each(&sums, collect_key, &ks);
    for (size_t i = 0; i < ks.n; i++) {
        const gsum_t *gs = cm_map_get(&sums, ks.k[i]);
        char topic[600];
        snprintf(topic, sizeof topic, "%.*s", (int)strcspn(ks.k[i], "@"), ks.k[i]);
        int64_t d;
        double rate;
        acc_t *a = can_keep(topic) ? acc_of(acc, topic) : NULL;
        if (!a)
            continue;
        measure(&m->out, ks.k[i], gs->consumer, now, SRC_CONSUME_STATS, &d, &rate);
        a->out_d += d;
        a->out_tps += rate;
        int64_t *mx = cm_map_get(&tmax, topic);
        if (!mx && (mx = calloc(1, sizeof *mx)) != NULL && cm_map_put(&tmax, topic, mx) != 0) {
            free(mx);
            mx = NULL;
        }
        if (mx && gs->broker > *mx)
            *mx = gs->broker;
    }
    free(ks.k);
    ks.n = 0;
    ks.k = malloc((tmax.n ? tmax.n : 1) * sizeof *ks.k);
    if (ks.k)
        cm_map_each(&tmax, collect_key, &ks);
    for (size_t i = 0; i < ks.n; i++) {
        int64_t d;
        double rate;
        acc_t *a = acc_of(acc, ks.k[i]);
        measure(&m->in, ks.k[i], *(int64_t *)cm_map_get(&tmax, ks.k[i]), now, SRC_CONSUME_STATS, &d, &rate);
        if (a) {
            a->in_d += d;
            a->in_tps += rate;
        }
    }
    free(ks.k);
    cm_map_free(&sums, free);
    cm_map_free(&tmax, free);
    sweep(&m->out, keep_seen, NULL); /* groups gone or no longer on this topic */
}

/* GET_TOPIC_STATS_INFO for topics no group told about this round, PROBES_PER_ROUND at most, in
 * turn: a topic nobody consumes is measured at least every ntopics / PROBES_PER_ROUND rounds. */
static void probe_topics(master_t *m, int64_t now, cm_map_t *acc)
{
    int budget = PROBES_PER_ROUND;
    for (size_t scanned = 0; budget > 0 && scanned < m->ntopics && !stopping(); scanned++) {
        const char *t = m->topics[m->cursor];
        m->cursor = (m->cursor + 1) % m->ntopics;
        const base_t *b = cm_map_get(&m->in, t);
        if ((b && b->seen == C.round) || !can_keep(t))
            continue;
        budget--;
        lj_val_t *root = NULL;
        ad_err_t e;
        if (ad_call_fields(m->addr, &root, &e, 202, "topic", t, NULL) != 0) {
            note_err("GET_TOPIC_STATS_INFO", m->addr, e.msg);
            continue;
        }
        int64_t sum = 0, d;
        double rate;
        const lj_val_t *tab = lj_get(root, "offsetTable");
        for (size_t q = 0; tab && tab->type == LJ_OBJ && q < tab->n; q++)
            sum += lj_get_int(tab->members[q].val, "maxOffset", 0);
        lj_free(root);
        measure(&m->in, t, sum, now, SRC_TOPIC_STATS, &d, &rate);
        acc_t *a = acc_of(acc, t);
        if (a) {
            a->in_d += d;
            a->in_tps += rate;
        }
    }
}

/* Every hosted topic gets a sample (idle ones too); a topic not measured this round shows the
 * rate of its last measure. */
static void carry_rate(const char *topic, void *val, void *arg)
{
    const base_t *b = val;
    if (b->seen != C.round && can_keep(topic)) {
        acc_t *a = acc_of(arg, topic);
        if (a)
            a->in_tps += b->rate;
    }
}

static void sample_master(master_t *m, int64_t now, cm_map_t *acc, const cm_map_t *own)
{
    /* a topic's first measure is its baseline: traffic before it is not counted, so a new topic
     * should be seen soon; a big list (megabytes) is fetched less often */
    if (!m->has_topics || m->ntopics < TOPICS_MANY || C.round - m->topics_round >= TOPICS_EVERY)
        refresh_topics(m, own);
    if (stopping())
        return;
    consume_stats(m, now, acc, own);
    probe_topics(m, now, acc);
    cm_map_each(&m->in, carry_rate, acc);
    for (size_t i = 0; i < m->ntopics; i++)
        if (can_keep(m->topics[i]))
            acc_of(acc, m->topics[i]);
}

typedef struct apply_ctx { int64_t now; } apply_ctx_t;
static void apply_topic(const char *topic, void *val, void *arg)
{
    const acc_t *a = val;
    const series_t *s = cm_map_get(&C.topics.map, topic);
    const sample_t *last = s && s->n ? &s->s[s->n - 1] : NULL;
    sample_t x = {((apply_ctx_t *)arg)->now, {0}};
    x.v[0] = round5(a->in_tps);
    x.v[1] = (last ? last->v[1] : 0) + (double)a->in_d;
    x.v[2] = round5(a->out_tps);
    x.v[3] = (last ? last->v[3] : 0) + (double)a->out_d;
    store_add(&C.topics, topic, &x);
}

static void sample_topics(const lj_val_t *info, const ad_broker_t *bs, int n, int64_t now, int record)
{
    cm_map_t own = {0}, acc = {0};
    const lj_val_t *clusters = lj_get(info, "clusterAddrTable");
    for (size_t i = 0; clusters && clusters->type == LJ_OBJ && i < clusters->n; i++) {
        const char *c = lj_str(clusters->members[i].key, "");
        char reply[300];
        snprintf(reply, sizeof reply, "%s_REPLY_TOPIC", c);
        cm_map_put(&own, c, (void *)1);
        cm_map_put(&own, reply, (void *)1);
    }
    for (int i = 0; i < n; i++)
        cm_map_put(&own, bs[i].name, (void *)1);
    for (int i = 0; i < n && !stopping(); i++) {
        if (bs[i].id != 0)
            continue;
        master_t *m = cm_map_get(&C.masters, bs[i].name);
        if (!m) {
            if (!(m = calloc(1, sizeof *m)) || cm_map_put(&C.masters, bs[i].name, m) != 0) {
                free(m);
                continue;
            }
        }
        m->seen = C.round;
        dh_broker_addr(bs[i].addr, m->addr);
        sample_master(m, now, &acc, &own);
    }
    /* masters gone from the cluster */
    keys_t ks = {malloc((C.masters.n ? C.masters.n : 1) * sizeof *ks.k), 0};
    if (ks.k)
        cm_map_each(&C.masters, collect_key, &ks);
    for (size_t i = 0; i < ks.n; i++) {
        char *k = cm_strdup(ks.k[i]);
        master_t *m = k ? cm_map_get(&C.masters, k) : NULL;
        if (m && m->seen != C.round)
            master_free(cm_map_remove(&C.masters, k));
        free(k);
    }
    free(ks.k);
    if (record && !stopping()) {
        apply_ctx_t x = {now};
        pthread_mutex_lock(&C.mu);
        cm_map_each(&acc, apply_topic, &x);
        pthread_mutex_unlock(&C.mu);
    }
    cm_map_free(&acc, free);
    cm_map_free(&own, NULL);
}

/* The mean of the numbers of a runtime-info TPS value ("12.50 10.00 9.83"); -1 if none. */
static double mean_of(const char *s)
{
    double sum = 0;
    int n = 0;
    for (char *end; s && *s; s = end) {
        double v = strtod(s, &end);
        if (end == s)
            break;
        sum += v;
        n++;
    }
    return n ? sum / n : -1;
}

static void sample_brokers(const ad_broker_t *bs, int n, int64_t now)
{
    for (int i = 0; i < n && !stopping(); i++) {
        char addr[128], key[300];
        lj_val_t *rt = NULL;
        ad_err_t e;
        dh_broker_addr(bs[i].addr, addr);
        if (ad_call_fields(addr, &rt, &e, 28, NULL) != 0) {
            note_err("GET_BROKER_RUNTIME_INFO", addr, e.msg);
            continue;
        }
        double v = mean_of(lj_get_str(lj_get(rt, "table"), "getTotalTps", NULL));
        lj_free(rt);
        if (v < 0)
            continue;
        snprintf(key, sizeof key, "%s:%lld", bs[i].name, (long long)bs[i].id);
        sample_t x = {now, {round5(v)}};
        pthread_mutex_lock(&C.mu);
        store_add(&C.brokers, key, &x);
        pthread_mutex_unlock(&C.mu);
    }
}

static void data_dir(char out[512])
{
    pthread_mutex_lock(&g_dh.mu);
    snprintf(out, 512, "%s", g_dh.cfg.data_path);
    pthread_mutex_unlock(&g_dh.mu);
}

/* Rewrite the day files that got samples (from this thread: the stores do not change meanwhile). */
static void save(void)
{
    store_t *st[2] = {&C.brokers, &C.topics};
    for (int i = 0; i < 2; i++) {
        if (!st[i]->dirty)
            continue;
        char path[700];
        cm_buf_t b;
        cm_buf_init(&b);
        day_path(C.day, i, path, sizeof path);
        if (store_text(st[i], &b) != 0 || cm_write_file_safe(path, b.data, b.len) != 0)
            note_err("write", path, strerror(errno));
        else
            st[i]->dirty = 0;
        cm_buf_free(&b);
    }
}

/* A new local day: yesterday's files are complete (saved after each round), today starts empty
 * (or from today's files after a restart). */
static void start_day(const char *today)
{
    char path[700];
    store_t b = {.nv = 1}, t = {.nv = 4};
    day_path(today, 0, path, sizeof path);
    if (store_load(&b, path) < 0)
        LOG_W("dashboard", "%s cannot be read: today's broker samples start over", path);
    day_path(today, 1, path, sizeof path);
    if (store_load(&t, path) < 0)
        LOG_W("dashboard", "%s cannot be read: today's topic samples start over", path);
    pthread_mutex_lock(&C.mu);
    store_clear(&C.brokers);
    store_clear(&C.topics);
    C.brokers = b;
    C.topics = t;
    snprintf(C.day, sizeof C.day, "%s", today);
    pthread_mutex_unlock(&C.mu);
}

static void run_round(int record_topics)
{
    int64_t now = cm_now_ms();
    char today[16], dir[512], ns[128];
    dh_date(now, today);
    if (strcmp(today, C.day) != 0)
        start_day(today);
    data_dir(dir);
    pthread_mutex_lock(&g_dh.mu);
    int keep = g_dh.cfg.data_days > 0 ? g_dh.cfg.data_days : 7;
    pthread_mutex_unlock(&g_dh.mu);
    dh_collect_prune(dir, today, keep);
    C.round++;
    dh_namesrv_first(ns);
    lj_val_t *info = NULL;
    ad_err_t e;
    if (ad_cluster_info(ns, &info, &e) != 0) {
        note_err("GET_BROKER_CLUSTER_INFO", ns, e.msg);
        return;
    }
    ad_broker_t *bs = NULL;
    int n = ad_brokers_of_info(info, &bs);
    if (n > 0) {
        sample_brokers(bs, n, now);
        sample_topics(info, bs, n, now, record_topics);
    }
    free(bs);
    lj_free(info);
    save();
}

static int interval_ms(void)
{
    pthread_mutex_lock(&g_dh.mu);
    int s = g_dh.cfg.collect_interval_s;
    pthread_mutex_unlock(&g_dh.mu);
    return (s > 0 ? s : 60) * 1000;
}

/* Wait until the next multiple of the interval on the wall clock (the original samples at
 * second 0 of each minute), or a stop; the wait itself is on the monotonic clock. */
static int wait_next(void)
{
    int64_t iv = interval_ms(), now = cm_now_ms();
    int64_t wait = (now / iv + 1) * iv - now;
    struct timespec ts;
    cm_deadline_ts(&ts, CLOCK_MONOTONIC, wait);
    pthread_mutex_lock(&C.mu);
    while (!C.stop && pthread_cond_timedwait(&C.cond, &C.mu, &ts) != ETIMEDOUT)
        ;
    int stop = C.stop;
    pthread_mutex_unlock(&C.mu);
    return stop;
}

static void *collect_main(void *arg)
{
    /* a first round at once: broker samples, and the offsets later rounds measure from */
    run_round(0);
    while (!wait_next())
        run_round(1);
    return NULL;
}

int dh_collect_start(void)
{
    pthread_condattr_t ca;
    char today[16];
    if (C.running)
        return 0;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&C.cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        return -1;
    dh_date(cm_now_ms(), today);
    start_day(today);
    C.stop = 0;
    if (pthread_create(&C.th, NULL, collect_main, NULL) != 0) {
        pthread_cond_destroy(&C.cond);
        return -1;
    }
    pthread_mutex_lock(&C.mu);
    C.running = 1;
    pthread_mutex_unlock(&C.mu);
    return 0;
}

void dh_collect_stop(void)
{
    pthread_mutex_lock(&C.mu);
    int running = C.running;
    C.stop = 1;
    pthread_cond_signal(&C.cond);
    pthread_mutex_unlock(&C.mu);
    if (!running)
        return;
    pthread_join(C.th, NULL); /* at most the admin call in flight (timeoutMillis) */
    pthread_mutex_lock(&C.mu);
    C.running = 0;
    store_clear(&C.brokers);
    store_clear(&C.topics);
    C.day[0] = 0;
    pthread_mutex_unlock(&C.mu);
    cm_map_free(&C.masters, master_free);
    memset(&C.masters, 0, sizeof C.masters);
    pthread_cond_destroy(&C.cond);
}

/* ---- reads for the dashboard/ requests -------------------------------------------------------- */

/* The last past day read, per kind: the page re-reads its date every 5 s. */
typedef struct day_cache { char date[16]; struct timespec mtime; off_t size; int missing; store_t st; } day_cache_t;
static struct {
    pthread_mutex_t mu;
    day_cache_t e[2];
} g_cache = {.mu = PTHREAD_MUTEX_INITIALIZER, .e = {{.st = {.nv = 1}}, {.st = {.nv = 4}}}};

/* With the day's store (live or cached) locked, fn builds the answer. 0, or -1 with err set. */
static int with_day(int topics, const char *date, lj_val_t *(*fn)(const store_t *, const void *),
                    const void *arg, lj_val_t **out, char *err, size_t errlen)
{
    pthread_mutex_lock(&C.mu);
    if (C.running && !strcmp(date, C.day)) {
        *out = fn(topics ? &C.topics : &C.brokers, arg);
        pthread_mutex_unlock(&C.mu);
        return *out ? 0 : (snprintf(err, errlen, "out of memory"), -1);
    }
    pthread_mutex_unlock(&C.mu);

    char path[700];
    struct stat sb;
    day_path(date, topics, path, sizeof path);
    int missing = stat(path, &sb) != 0;
    pthread_mutex_lock(&g_cache.mu);
    day_cache_t *c = &g_cache.e[topics ? 1 : 0];
    if (strcmp(c->date, date) || c->missing != missing ||
        (!missing && (c->size != sb.st_size || c->mtime.tv_sec != sb.st_mtim.tv_sec ||
                      c->mtime.tv_nsec != sb.st_mtim.tv_nsec))) {
        store_clear(&c->st);
        c->date[0] = 0;
        int rc = missing ? 1 : store_load(&c->st, path);
        if (rc < 0) {
            pthread_mutex_unlock(&g_cache.mu);
            snprintf(err, errlen, "the dashboard data of %s cannot be read", date);
            return -1;
        }
        snprintf(c->date, sizeof c->date, "%s", date);
        c->missing = missing;
        if (!missing) {
            c->size = sb.st_size;
            c->mtime = sb.st_mtim;
        }
    }
    *out = fn(&c->st, arg);
    pthread_mutex_unlock(&g_cache.mu);
    return *out ? 0 : (snprintf(err, errlen, "out of memory"), -1);
}

static lj_val_t *query_fn(const store_t *st, const void *key) { return store_json(st, key); }

int dh_collect_query(int topics, const char *date, const char *key, lj_val_t **out, char *err, size_t errlen)
{
    if (dh_collect_date_ok(date, NULL) != 0) {
        snprintf(err, errlen, "bad date: yyyy-MM-dd");
        return -1;
    }
    return with_day(topics, date, query_fn, key, out, err, errlen);
}

typedef struct cur { const char *topic; int64_t count; } cur_t;
static int cmp_cur(const void *a, const void *b)
{
    const cur_t *x = a, *y = b;
    return x->count != y->count ? (x->count < y->count ? 1 : -1) : strcmp(x->topic, y->topic);
}

/* ["<topic>,<outCount of its last sample>", ...], the largest first. */
static lj_val_t *current_fn(const store_t *st, const void *unused)
{
    keys_t ks;
    lj_val_t *a = lj_new_arr();
    if (!a || sorted_keys(st, &ks) != 0)
        return a;
    cur_t *v = malloc((ks.n ? ks.n : 1) * sizeof *v);
    for (size_t i = 0; v && i < ks.n; i++) {
        const series_t *s = cm_map_get(&st->map, ks.k[i]);
        v[i].topic = ks.k[i];
        v[i].count = s->n ? (int64_t)s->s[s->n - 1].v[3] : 0;
    }
    if (v) {
        qsort(v, ks.n, sizeof *v, cmp_cur);
        char t[400];
        for (size_t i = 0; i < ks.n; i++) {
            snprintf(t, sizeof t, "%s,%lld", v[i].topic, (long long)v[i].count);
            lj_push(a, lj_new_str(t));
        }
    }
    free(v);
    free(ks.k);
    return a;
}

int dh_collect_current(lj_val_t **out, char *err, size_t errlen)
{
    char today[16];
    dh_date(cm_now_ms(), today);
    return with_day(1, today, current_fn, NULL, out, err, errlen);
}
