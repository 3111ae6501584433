/* bin/benchmark: load generator in the spirit of RocketMQ's benchmark Producer/Consumer.
 *
 *   benchmark producer [-n namesrv] [-t topic] [-T topics] [-s size] [-w threads] [-W window] [-d secs]
 *                      [-r msgs/s]
 *   benchmark consumer [-n namesrv] [-t topic] [-T topics] [-w threads] [-d secs] [-g group]
 *   benchmark disk [-f dir] [-s size] [-r msgs/s] [-d secs]   (the SYNC_FLUSH floor of a disk)
 *
 * Producer: `threads` sender threads keep up to `window` async sends outstanding in total,
 * spread round robin over `topics` topics (<topic> when 1, else <topic>_0..N-1). Before the
 * timed run one synchronous send goes to each topic: a missing topic is auto-created by the
 * broker (autoCreateTopicEnable) and every route is known, so neither is in the figures.
 * With -r the sends are paced: message i of the run is due at start + i/rate, and its latency
 * is measured from that intended time, not from when a window slot freed up, so a stalled
 * broker shows in the tail instead of silently slowing the sender (no coordinated omission).
 * Each second it prints "Send TPS: N Max RT(ms): N Average RT(ms): X Send Failed: N Response
 * Failed: N", and at the end a summary line and one parseable latency line:
 *   "Send latency(us): count=N p50=N p99=N p999=N max=N"
 * from a log-bucketed histogram (HdrHistogram's layout: exact below 64 us, then 32 buckets per
 * power of two, i.e. within 3 %, up to 60 s). Consumer: prints consume TPS and born-to-consume
 * latency each second. Message buffers and in-flight slots are allocated once up front; the
 * per-send work in this file allocates nothing.
 * TLS as RocketMQ's tools: JAVA_OPT="-Dtls.enable=true" (and other -Dtls.* settings); ACL:
 * -a accessKey -k secretKey sign every request. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "loulan/client.h"
#include "loulan/tls.h"

/* Log-bucketed latency histogram (µs): values below 2^SUB_BITS+1 exactly, then 2^SUB_BITS
 * buckets per power of two; values over HIST_MAX_US count in the last bucket. */
#define SUB_BITS 5
#define SUB (1 << SUB_BITS)
#define HIST_MAX_US 60000000L     /* 60 s */
#define HIST_BUCKETS (2 * SUB + 22 * SUB)

typedef struct stats {
    long ok, send_failed, resp_failed;
    long rt_sum_us, rt_count, rt_max_us;   /* since the last report */
    long all_max_us;                        /* the whole run */
    long hist[HIST_BUCKETS];
} stats_t;

static stats_t g_st;
static volatile int g_stop;
static const char *g_ak, *g_sk; /* -a / -k: sign every request (a broker with aclEnable=true) */

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int hist_bucket(long v)
{
    if (v < 0)
        v = 0;
    if (v > HIST_MAX_US)
        v = HIST_MAX_US;
    if (v < 2 * SUB)
        return (int)v;
    int msb = 63 - __builtin_clzl((unsigned long)v);   /* >= SUB_BITS + 1 */
    int shift = msb - SUB_BITS;
    int b = SUB * (shift + 1) + (int)((v >> shift) - SUB);
    return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

/* The highest value bucket b holds (what a percentile reports: never optimistic). */
static long hist_upper(int b)
{
    if (b < 2 * SUB)
        return b;
    int shift = b / SUB - 1;
    return ((long)(SUB + b % SUB + 1) << shift) - 1;
}

static void atomic_max(long *m, long v)
{
    long cur = __atomic_load_n(m, __ATOMIC_RELAXED);
    while (v > cur && !__atomic_compare_exchange_n(m, &cur, v, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

static void record_rt(long us)
{
    __atomic_add_fetch(&g_st.rt_sum_us, us, __ATOMIC_RELAXED);
    __atomic_add_fetch(&g_st.rt_count, 1, __ATOMIC_RELAXED);
    atomic_max(&g_st.rt_max_us, us);
    atomic_max(&g_st.all_max_us, us);
    __atomic_add_fetch(&g_st.hist[hist_bucket(us)], 1, __ATOMIC_RELAXED);
}

static long hist_total(void)
{
    long total = 0;
    for (int i = 0; i < HIST_BUCKETS; i++)
        total += g_st.hist[i];
    return total;
}

/* The value at or below which a fraction p of the recorded latencies lie (µs). */
static long percentile_us(double p)
{
    long total = hist_total();
    if (total == 0)
        return 0;
    long want = (long)(p * (double)total), seen = 0;
    if (want >= total)
        want = total - 1;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        seen += g_st.hist[i];
        if (seen > want) {
            long u = hist_upper(i);
            return u < g_st.all_max_us ? u : g_st.all_max_us;
        }
    }
    return g_st.all_max_us;
}

static double percentile_ms(double p) { return (double)percentile_us(p) / 1000.0; }

/* ---- producer ---- */

typedef struct sender sender_t;
typedef struct slot {
    sender_t *s;
    int64_t start_us;
    int next_free;
} slot_t;

struct sender {
    lc_producer_t *p;
    pthread_t th;
    sem_t room;
    pthread_mutex_t mu;
    slot_t *slots;
    int free_head;
    int nslots;
    char *body;
    size_t size;
    char **topics;
    int ntopics;
    int64_t end_us;
    /* paced (-r): message i of this thread is due at start_us + (i * nthreads + idx) * 1e6 / rate */
    double rate;
    int idx, nthreads;
    int64_t start_us;
};

static void slot_put(sender_t *s, slot_t *sl)
{
    pthread_mutex_lock(&s->mu);
    sl->next_free = s->free_head;
    s->free_head = (int)(sl - s->slots);
    pthread_mutex_unlock(&s->mu);
    sem_post(&s->room);
}

static slot_t *slot_get(sender_t *s)
{
    pthread_mutex_lock(&s->mu);
    slot_t *sl = &s->slots[s->free_head];
    s->free_head = sl->next_free;
    pthread_mutex_unlock(&s->mu);
    return sl;
}

static void on_sent(int status, const lc_send_result_t *res, void *arg)
{
    slot_t *sl = arg;
    if (status == 0) {
        __atomic_add_fetch(&g_st.ok, 1, __ATOMIC_RELAXED);
        record_rt((long)(now_us() - sl->start_us));
    } else {
        __atomic_add_fetch(&g_st.resp_failed, 1, __ATOMIC_RELAXED);
    }
    slot_put(sl->s, sl);
}

/* Sleep until the monotonic time t (µs); returns at once when it has passed. */
static void sleep_until(int64_t t)
{
    struct timespec ts = {(time_t)(t / 1000000), (long)(t % 1000000) * 1000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void *sender_main(void *arg)
{
    sender_t *s = arg;
    lc_message_t m = {.tags = "TagA", .body = s->body, .body_len = s->size};
    unsigned long i = 0;
    while (!g_stop && now_us() < s->end_us) {
        int64_t due = 0;
        if (s->rate > 0) {
            due = s->start_us + (int64_t)((double)(i * (unsigned long)s->nthreads + (unsigned long)s->idx) *
                                          1e6 / s->rate);
            if (due >= s->end_us)
                break;
            sleep_until(due); /* behind schedule: send at once, the latency still counts from due */
        }
        struct timespec ts;
        cm_deadline_ts(&ts, CLOCK_REALTIME, 100);
        if (sem_timedwait(&s->room, &ts) != 0)
            continue; /* paced: still message i, still due at `due` */
        slot_t *sl = slot_get(s);
        m.topic = s->topics[i++ % (unsigned long)s->ntopics];
        sl->start_us = due ? due : now_us();
        int rc = lc_producer_send_async(s->p, &m, on_sent, sl);
        if (rc) {
            __atomic_add_fetch(&g_st.send_failed, 1, __ATOMIC_RELAXED);
            slot_put(s, sl);
            if (rc == LC_ENOROUTE || rc == LC_ENETWORK || rc == LC_ETIMEOUT)
                usleep(100 * 1000);
        }
    }
    return NULL;
}

static void report_loop(int seconds, int producer)
{
    long last_ok = 0;
    int64_t start = now_us();
    for (int sec = 1; !g_stop && (seconds <= 0 || sec <= seconds); sec++) {
        int64_t wake = start + (int64_t)sec * 1000000;
        int64_t d = wake - now_us();
        if (d > 0)
            usleep((useconds_t)d);
        long ok = __atomic_load_n(&g_st.ok, __ATOMIC_RELAXED);
        long sum = __atomic_exchange_n(&g_st.rt_sum_us, 0, __ATOMIC_RELAXED);
        long cnt = __atomic_exchange_n(&g_st.rt_count, 0, __ATOMIC_RELAXED);
        long max = __atomic_exchange_n(&g_st.rt_max_us, 0, __ATOMIC_RELAXED);
        if (producer)
            printf("Send TPS: %ld Max RT(ms): %ld Average RT(ms): %.3f Send Failed: %ld Response Failed: %ld\n",
                   ok - last_ok, (max + 999) / 1000, cnt ? (double)sum / cnt / 1000.0 : 0.0,
                   __atomic_load_n(&g_st.send_failed, __ATOMIC_RELAXED),
                   __atomic_load_n(&g_st.resp_failed, __ATOMIC_RELAXED));
        else
            printf("Consume TPS: %ld Average(B2C) RT(ms): %.3f Max(B2C) RT(ms): %ld\n", ok - last_ok,
                   cnt ? (double)sum / cnt / 1000.0 : 0.0, (max + 999) / 1000);
        fflush(stdout);
        last_ok = ok;
    }
}

static void summary(const char *what, double secs)
{
    long ok = g_st.ok;
    printf("%s summary: total=%ld failed=%ld tps=%.1f p50(ms)=%.1f p99(ms)=%.1f p999(ms)=%.1f\n", what, ok,
           g_st.send_failed + g_st.resp_failed, secs > 0 ? ok / secs : 0.0, percentile_ms(0.50),
           percentile_ms(0.99), percentile_ms(0.999));
    printf("%s latency(us): count=%ld p50=%ld p99=%ld p999=%ld max=%ld\n", what, hist_total(), percentile_us(0.50),
           percentile_us(0.99), percentile_us(0.999), g_st.all_max_us);
}

static char **make_topics(const char *base, int n)
{
    char **t = calloc((size_t)n, sizeof *t);
    for (int i = 0; t && i < n; i++) {
        t[i] = malloc(strlen(base) + 16);
        if (n == 1)
            strcpy(t[i], base);
        else
            sprintf(t[i], "%s_%d", base, i);
    }
    return t;
}

/* One synchronous send to each topic before the run: the broker auto-creates a missing topic
 * (autoCreateTopicEnable) and the producer learns every route, so neither the creation nor the
 * route lookups are in the figures. Returns how many topics could not be sent to. */
static int warm_up(lc_producer_t *p, char **topics, int ntopics, const char *body, size_t size)
{
    lc_message_t m = {.tags = "TagA", .body = body, .body_len = size};
    int failed = 0;
    for (int i = 0; i < ntopics && !g_stop; i++) {
        lc_send_result_t r;
        int rc = -1;
        m.topic = topics[i];
        for (int tries = 0; tries < 3 && rc != 0; tries++) { /* a new topic's route can lag a moment */
            rc = lc_producer_send_sync(p, &m, &r);
            if (rc == 0)
                lc_send_result_clear(&r);
            else
                usleep(200 * 1000);
        }
        if (rc != 0) {
            fprintf(stderr, "benchmark: warm-up send to %s failed: %s\n", topics[i], lc_strerror(rc));
            failed++;
        }
    }
    return failed;
}

static int run_producer(const char *ns, const char *topic, int ntopics, size_t size, int threads, int window, int secs,
                        double rate)
{
    lc_producer_t *p;
    int rc = lc_producer_create("benchmark_producer", ns, &p);
    if (rc == 0 && g_ak)
        rc = lc_producer_set_credentials(p, g_ak, g_sk);
    if (rc == 0)
        rc = lc_producer_start(p);
    if (rc) {
        fprintf(stderr, "benchmark: producer start failed: %s\n", lc_strerror(rc));
        lc_producer_destroy(p);
        return 1;
    }
    char **topics = make_topics(topic, ntopics);
    char *body = malloc(size);
    for (size_t i = 0; i < size; i++)
        body[i] = (char)('a' + i % 26);
    int64_t t0 = now_us();
    int wfail = warm_up(p, topics, ntopics, body, size);
    printf("Warm-up: %d topic(s) in %.1f s, %d failed\n", ntopics, (double)(now_us() - t0) / 1e6, wfail);
    fflush(stdout);
    int per = window / threads > 0 ? window / threads : 1;
    sender_t *s = calloc((size_t)threads, sizeof *s);
    int64_t start = now_us(), end = start + (int64_t)secs * 1000000;
    for (int i = 0; i < threads; i++) {
        s[i].p = p;
        s[i].body = body;
        s[i].size = size;
        s[i].topics = topics;
        s[i].ntopics = ntopics;
        s[i].end_us = end;
        s[i].rate = rate;
        s[i].idx = i;
        s[i].nthreads = threads;
        s[i].start_us = start;
        s[i].nslots = per;
        s[i].slots = calloc((size_t)per, sizeof *s[i].slots);
        for (int k = 0; k < per; k++) {
            s[i].slots[k].s = &s[i];
            s[i].slots[k].next_free = k + 1;
        }
        s[i].free_head = 0;
        sem_init(&s[i].room, 0, (unsigned)per);
        pthread_mutex_init(&s[i].mu, NULL);
        pthread_create(&s[i].th, NULL, sender_main, &s[i]);
    }
    report_loop(secs, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(s[i].th, NULL);
    double elapsed = (double)(now_us() - start) / 1e6;
    /* Wait (bounded) for answers still on the way: every slot comes back. */
    for (int i = 0; i < threads; i++) {
        for (int k = 0; k < per; k++) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 10;
            if (sem_timedwait(&s[i].room, &ts) != 0)
                break;
        }
    }
    summary("Send", elapsed);
    lc_producer_destroy(p);
    for (int i = 0; i < threads; i++) {
        free(s[i].slots);
        sem_destroy(&s[i].room);
        pthread_mutex_destroy(&s[i].mu);
    }
    for (int i = 0; i < ntopics; i++)
        free(topics[i]);
    free(topics);
    free(s);
    free(body);
    return 0;
}

/* ---- consumer ---- */

static lc_consume_status_t on_consume(const lc_consume_ctx_t *ctx, lc_message_ext_t *const *msgs, size_t n, void *arg)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    for (size_t i = 0; i < n; i++) {
        int64_t b2c = now_ms - msgs[i]->born_timestamp;
        record_rt((long)(b2c < 0 ? 0 : b2c * 1000));
    }
    __atomic_add_fetch(&g_st.ok, (long)n, __ATOMIC_RELAXED);
    return LC_CONSUME_SUCCESS;
}

static int run_consumer(const char *ns, const char *topic, int ntopics, int threads, int secs, const char *group)
{
    lc_push_consumer_t *c;
    char **topics = make_topics(topic, ntopics);
    int rc = lc_push_consumer_create(group, ns, &c);
    if (rc == 0) {
        lc_push_consumer_set_threads(c, threads);
        lc_push_consumer_set_listener(c, on_consume, NULL);
        if (g_ak)
            rc = lc_push_consumer_set_credentials(c, g_ak, g_sk);
        for (int i = 0; i < ntopics && rc == 0; i++)
            rc = lc_push_consumer_subscribe(c, topics[i], "*");
    }
    if (rc == 0)
        rc = lc_push_consumer_start(c);
    if (rc) {
        fprintf(stderr, "benchmark: consumer start failed: %s\n", lc_strerror(rc));
        lc_push_consumer_destroy(c);
        return 1;
    }
    int64_t start = now_us();
    report_loop(secs, 0);
    summary("Consume", (double)(now_us() - start) / 1e6);
    lc_push_consumer_destroy(c);
    for (int i = 0; i < ntopics; i++)
        free(topics[i]);
    free(topics);
    return 0;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* ---- disk: what group commit could do on this disk, with no broker ---- */

/* `benchmark disk` appends `size`-byte records at `rate` a second through a mapping of a
 * fallocated file advised random (as the broker writes its commit log) while one thread msyncs
 * whatever has been appended, back to back (the broker's SYNC_FLUSH group commit). It prints
 * the msync durations ("Sync latency") and each record's time from its intended write to the
 * end of the msync that covered it ("Send latency"): the SYNC_FLUSH floor of this disk, to
 * compare a broker's paced p99 with in the same run. */
typedef struct disk_run {
    uint8_t *base;
    size_t size;
    int64_t *due; /* intended write time of record i (µs) */
    long n, written, *sync_us, nsync;
} disk_run_t;

static void *disk_syncer(void *arg)
{
    disk_run_t *d = arg;
    long synced = 0;
    while (synced < d->n) {
        long w = __atomic_load_n(&d->written, __ATOMIC_ACQUIRE);
        if (w == synced) {
            usleep(50);
            continue;
        }
        size_t from = (size_t)synced * d->size, to = (size_t)w * d->size;
        from -= from % 4096;
        int64_t t0 = now_us();
        if (msync(d->base + from, to - from, MS_SYNC) != 0) {
            perror("benchmark: msync");
            exit(1);
        }
        int64_t t1 = now_us();
        d->sync_us[d->nsync++] = t1 - t0;
        for (long i = synced; i < w; i++)
            record_rt(t1 - d->due[i]);
        synced = w;
    }
    return NULL;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return x < y ? -1 : x > y;
}

static int run_disk(const char *dir, size_t size, double rate, int secs)
{
    char path[4096];
    disk_run_t d = {.size = size, .n = (long)(rate * secs)};
    size_t len = ((size_t)d.n * size / 4096 + 2) * 4096;
    snprintf(path, sizeof(path), "%s/benchmark-disk.tmp", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (fallocate(fd, 0, 0, (off_t)len) != 0 &&
                   (errno != EOPNOTSUPP || ftruncate(fd, (off_t)len) != 0))) {
        fprintf(stderr, "benchmark: %s: %s\n", path, strerror(errno));
        return 1;
    }
    unlink(path);
    d.base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    d.due = calloc((size_t)d.n, sizeof(*d.due));
    d.sync_us = calloc((size_t)d.n, sizeof(*d.sync_us));
    uint8_t *rec = malloc(size);
    if (d.base == MAP_FAILED || !d.due || !d.sync_us || !rec) {
        fprintf(stderr, "benchmark: out of memory\n");
        return 1;
    }
    memset(rec, 'x', size);
    madvise(d.base, len, MADV_RANDOM);
    madvise(d.base, len, MADV_POPULATE_WRITE); /* the broker's warm thread does this ahead */
    pthread_t thr;
    pthread_create(&thr, NULL, disk_syncer, &d);
    int64_t start = now_us();
    for (long i = 0; i < d.n; i++) {
        d.due[i] = start + (int64_t)((double)i * 1e6 / rate);
        int64_t wait = d.due[i] - now_us();
        if (wait > 0)
            usleep((useconds_t)wait);
        memcpy(d.base + (size_t)i * size, rec, size);
        __atomic_store_n(&d.written, i + 1, __ATOMIC_RELEASE);
    }
    pthread_join(thr, NULL);
    qsort(d.sync_us, (size_t)d.nsync, sizeof(long), cmp_long);
    long c = d.nsync;
    printf("Sync latency(us): count=%ld p50=%ld p99=%ld p999=%ld max=%ld\n", c, d.sync_us[c / 2],
           d.sync_us[c * 99 / 100], d.sync_us[c * 999 / 1000], d.sync_us[c - 1]);
    g_st.ok = d.n;
    summary("Send", (double)(now_us() - start) / 1e6);
    munmap(d.base, len);
    close(fd);
    free(d.due);
    free(d.sync_us);
    free(rec);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: benchmark producer|consumer [-n namesrv] [-t topic] [-T topics] [-s size] [-w threads]\n"
            "                 [-W window] [-d seconds] [-r msgs/s (producer: paced)] [-g group]\n"
            "                 [-a accessKey -k secretKey]\n"
            "       benchmark disk [-f dir] [-s size] [-r msgs/s] [-d seconds]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *mode = argv[1];
    const char *ns = NULL, *dir = ".", *topic = "BenchmarkTest", *group = "benchmark_consumer";
    size_t size = 1024;
    int threads = 0, window = 1024, secs = 0, ntopics = 1;
    double rate = 0;
    optind = 2;
    int opt;
    while ((opt = getopt(argc, argv, "n:t:T:s:w:W:d:g:a:k:r:f:h")) != -1) {
        switch (opt) {
        case 'n': ns = optarg; break;
        case 't': topic = optarg; break;
        case 'T': ntopics = atoi(optarg); break;
        case 's': size = (size_t)atol(optarg); break;
        case 'w': threads = atoi(optarg); break;
        case 'W': window = atoi(optarg); break;
        case 'd': secs = atoi(optarg); break;
        case 'g': group = optarg; break;
        case 'a': g_ak = optarg; break;
        case 'k': g_sk = optarg; break;
        case 'r': rate = atof(optarg); break;
        case 'f': dir = optarg; break;
        default: usage();
        }
    }
    if (lc_tls_from_env() != 0) { /* JAVA_OPT="-Dtls.enable=true ...", as RocketMQ's tools take it */
        fprintf(stderr, "benchmark: %s\n", lc_tls_error());
        return 1;
    }
    if (ntopics < 1 || size < 1 || window < 1 || rate < 0 || !g_ak != !g_sk)
        usage();
    if (strcmp(mode, "producer") == 0) {
        if (secs <= 0)
            secs = 60;
        /* paced: one sender is enough for tens of thousands a second and keeps the schedule exact */
        return run_producer(ns, topic, ntopics, size, threads > 0 ? threads : rate > 0 ? 1 : 4, window, secs, rate);
    }
    if (strcmp(mode, "disk") == 0)
        return run_disk(dir, size, rate > 0 ? rate : 10000, secs > 0 ? secs : 10);
    if (strcmp(mode, "consumer") == 0)
        return run_consumer(ns, topic, ntopics, threads > 0 ? threads : 4, secs, group);
    usage();
    return 2;
}
