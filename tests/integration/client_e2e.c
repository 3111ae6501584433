/* End-to-end driver of the C client against a real mqnamesrv + mqbroker (started by
 * test_client_e2e.sh). Usage: client_e2e <namesrv> main|after-restart
 *
 * main:          producer -> one group gets every message exactly once; a TagA subscription gets
 *                only TagA; two consumers of one group split the queues and together get
 *                everything once; two groups each get everything; a group consumes a topic and
 *                commits its offsets on shutdown (checked by after-restart).
 * after-restart: (the broker was stopped cleanly and started again) the committed group sees
 *                no old message but gets new ones; everything sent before is still there (pull
 *                from offset 0).
 * Every wait is bounded. Prints "N passed, N failed" last; exit status 1 on any failure. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loulan/client.h"

#define N_MSGS 1000
#define TOPIC_ALL "E2E_All"
#define TOPIC_SPLIT "E2E_Split"
#define TOPIC_COMMIT "E2E_Commit"
#define TOPIC_MODES "E2E_Modes"

static const char *g_ns;
static int g_passed, g_failed;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "  check failed (%s:%d): ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
            ok = 0;                                                         \
        }                                                                   \
    } while (0)

static void report(const char *name, int ok)
{
    printf("%s %s\n", ok ? "PASS" : "FAIL", name);
    fflush(stdout);
    if (ok)
        g_passed++;
    else
        g_failed++;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap_ms(int ms) { usleep((useconds_t)ms * 1000); }

/* ---- a counting consumer ---- */

typedef struct counter {
    lc_push_consumer_t *c;
    const char *only_tag;   /* messages with another tag are counted as wrong */
    int counts[N_MSGS + 16];
    long total, unique, dups, wrong_tag, foreign;
    pthread_mutex_t mu;
} counter_t;

static int msg_index(const lc_message_ext_t *m)
{
    const char *dash = memchr(m->body, '-', m->body_len);
    if (!dash || m->body_len > 64)
        return -1;
    char num[64];
    size_t n = m->body_len - (size_t)(dash + 1 - (const char *)m->body);
    memcpy(num, dash + 1, n);
    num[n] = 0;
    int i = atoi(num);
    return i >= 0 && i < N_MSGS ? i : -1;
}

static lc_consume_status_t count_cb(const lc_consume_ctx_t *ctx, lc_message_ext_t *const *msgs, size_t n, void *arg)
{
    counter_t *c = arg;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++) {
        const lc_message_ext_t *m = msgs[i];
        if (m->tags && strcmp(m->tags, "Warm") == 0)
            continue;
        int idx = msg_index(m);
        c->total++;
        if (idx < 0) {
            c->foreign++;
            continue;
        }
        if (c->only_tag && (!m->tags || strcmp(m->tags, c->only_tag) != 0))
            c->wrong_tag++;
        if (c->counts[idx]++ == 0)
            c->unique++;
        else
            c->dups++;
    }
    pthread_mutex_unlock(&c->mu);
    return LC_CONSUME_SUCCESS;
}

static counter_t *counter_start(const char *group, const char *topic, const char *expr, lc_consume_from_t from,
                                const char *instance)
{
    counter_t *c = calloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    if (expr && strcmp(expr, "*") != 0)
        c->only_tag = expr;
    int rc = lc_push_consumer_create(group, g_ns, &c->c);
    if (rc == 0) {
        lc_push_consumer_set_consume_from(c->c, from);
        lc_push_consumer_set_listener(c->c, count_cb, c);
        if (instance)
            lc_push_consumer_set_instance_name(c->c, instance);
        rc = lc_push_consumer_subscribe(c->c, topic, expr);
    }
    if (rc == 0)
        rc = lc_push_consumer_start(c->c);
    if (rc) {
        fprintf(stderr, "  consumer %s failed to start: %s\n", group, lc_strerror(rc));
        lc_push_consumer_destroy(c->c);
        c->c = NULL;
    }
    return c;
}

static long counter_get(counter_t *c, long *unique, long *dups)
{
    pthread_mutex_lock(&c->mu);
    long t = c->total;
    if (unique)
        *unique = c->unique;
    if (dups)
        *dups = c->dups;
    pthread_mutex_unlock(&c->mu);
    return t;
}

/* Wait until the consumers together saw `want` distinct messages, then a little longer to catch
 * duplicates. Returns the seconds it took or -1 on timeout. */
static double wait_unique(counter_t **cs, int n, long want, double limit)
{
    double start = now_s();
    for (;;) {
        long sum = 0;
        for (int i = 0; i < n; i++) {
            long u;
            counter_get(cs[i], &u, NULL);
            sum += u;
        }
        if (sum >= want)
            break;
        if (now_s() - start > limit)
            return -1;
        nap_ms(100);
    }
    double took = now_s() - start;
    nap_ms(1500);
    return took;
}

static void counter_stop(counter_t *c)
{
    if (!c)
        return;
    lc_push_consumer_destroy(c->c);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* ---- producing ---- */

static const char *tag_of(int i) { return i % 3 == 0 ? "TagA" : i % 3 == 1 ? "TagB" : "TagC"; }

/* Send one message, retrying while the broker is not yet known to the name server. */
static int send_until_routed(lc_producer_t *p, const char *topic, const char *tag, double limit)
{
    double start = now_s();
    for (;;) {
        lc_message_t m = {.topic = topic, .tags = tag, .body = "warm-up", .body_len = 7};
        lc_send_result_t r;
        int rc = lc_producer_send_sync(p, &m, &r);
        lc_send_result_clear(&r);
        if (rc == 0)
            return 0;
        if (now_s() - start > limit) {
            fprintf(stderr, "  warm-up send to %s: %s %s\n", topic, lc_strerror(rc), r.error);
            return rc;
        }
        nap_ms(500);
    }
}

static int produce(lc_producer_t *p, const char *topic, int n, long *failed)
{
    *failed = 0;
    for (int i = 0; i < n; i++) {
        char body[64], keys[32];
        int blen = snprintf(body, sizeof body, "%s-%d", topic, i);
        snprintf(keys, sizeof keys, "key%d", i);
        lc_message_t m = {.topic = topic, .tags = tag_of(i), .keys = keys, .body = body, .body_len = (size_t)blen};
        lc_send_result_t r;
        int rc = lc_producer_send_sync(p, &m, &r);
        if (rc != 0 || r.status != LC_SEND_OK || strlen(r.msg_id) != 32 || strlen(r.offset_msg_id) < 32) {
            if (*failed < 5)
                fprintf(stderr, "  send %d: %s %s\n", i, lc_strerror(rc), r.error);
            (*failed)++;
        }
        lc_send_result_clear(&r);
    }
    return 0;
}

/* ---- main phase ---- */

static void test_group_gets_every_message_once(lc_producer_t *p)
{
    int ok = 1;
    long failed;
    produce(p, TOPIC_ALL, N_MSGS, &failed);
    CHECK(failed == 0, "%ld sends failed", failed);
    counter_t *c = counter_start("e2e_all", TOPIC_ALL, "*", LC_FROM_FIRST_OFFSET, NULL);
    CHECK(c->c != NULL, "consumer did not start");
    double took = c->c ? wait_unique(&c, 1, N_MSGS, 60) : -1;
    long unique, dups, total = counter_get(c, &unique, &dups);
    CHECK(took >= 0, "got %ld distinct of %d within 60 s", unique, N_MSGS);
    CHECK(dups == 0 && total == N_MSGS, "total %ld, duplicates %ld", total, dups);
    counter_stop(c);
    report("test_group_gets_every_message_once", ok);
}

static void test_tag_subscription_gets_only_its_tag(void)
{
    int ok = 1;
    long want = (N_MSGS + 2) / 3;   /* i % 3 == 0 */
    counter_t *c = counter_start("e2e_taga", TOPIC_ALL, "TagA", LC_FROM_FIRST_OFFSET, NULL);
    CHECK(c->c != NULL, "consumer did not start");
    double took = c->c ? wait_unique(&c, 1, want, 60) : -1;
    nap_ms(1500);
    long unique, dups, total = counter_get(c, &unique, &dups);
    CHECK(took >= 0, "got %ld distinct TagA of %ld within 60 s", unique, want);
    CHECK(total == want && dups == 0, "total %ld (want %ld), duplicates %ld", total, want, dups);
    CHECK(c->wrong_tag == 0, "%ld messages with another tag", c->wrong_tag);
    counter_stop(c);
    report("test_tag_subscription_gets_only_its_tag", ok);
}

static void test_two_groups_each_get_everything(void)
{
    int ok = 1;
    counter_t *cs[2] = {counter_start("e2e_g1", TOPIC_ALL, "*", LC_FROM_FIRST_OFFSET, NULL),
                        counter_start("e2e_g2", TOPIC_ALL, "*", LC_FROM_FIRST_OFFSET, NULL)};
    for (int i = 0; i < 2; i++) {
        double took = cs[i]->c ? wait_unique(&cs[i], 1, N_MSGS, 60) : -1;
        long unique, dups, total = counter_get(cs[i], &unique, &dups);
        CHECK(took >= 0, "group %d got %ld distinct of %d", i + 1, unique, N_MSGS);
        CHECK(total == N_MSGS && dups == 0, "group %d: total %ld duplicates %ld", i + 1, total, dups);
    }
    counter_stop(cs[0]);
    counter_stop(cs[1]);
    report("test_two_groups_each_get_everything", ok);
}

static int assignment_settled(counter_t **cs, size_t nqueues)
{
    lc_mq_t *a, *b;
    size_t na, nb;
    if (lc_push_consumer_assigned(cs[0]->c, &a, &na) != 0)
        return 0;
    if (lc_push_consumer_assigned(cs[1]->c, &b, &nb) != 0) {
        free(a);
        return 0;
    }
    size_t ua = 0, ub = 0;   /* queues of the user topic only (not %RETRY%) */
    int overlap = 0;
    for (size_t i = 0; i < na; i++) {
        if (strcmp(a[i].topic, TOPIC_SPLIT) != 0)
            continue;
        ua++;
        for (size_t j = 0; j < nb; j++)
            if (strcmp(b[j].topic, TOPIC_SPLIT) == 0 && b[j].queue_id == a[i].queue_id &&
                strcmp(a[i].broker_name, b[j].broker_name) == 0)
                overlap = 1;
    }
    for (size_t j = 0; j < nb; j++)
        ub += strcmp(b[j].topic, TOPIC_SPLIT) == 0;
    free(a);
    free(b);
    return !overlap && ua > 0 && ub > 0 && ua + ub == nqueues;
}

static void test_two_consumers_split_the_queues(lc_producer_t *p)
{
    int ok = 1;
    CHECK(send_until_routed(p, TOPIC_SPLIT, "Warm", 60) == 0, "topic %s not created", TOPIC_SPLIT);
    /* queues of the topic, from a pull consumer's view: the name server has the auto-created
     * topic once the broker's registration after the send was applied (asynchronous) */
    lc_pull_consumer_t *pc;
    size_t nq = 0;
    if (lc_pull_consumer_create("e2e_probe", g_ns, &pc) == 0 && lc_pull_consumer_start(pc) == 0) {
        for (double t0 = now_s(); nq < 2 && now_s() - t0 < 30; nap_ms(200)) {
            lc_mq_t *mqs = NULL;
            nq = 0;
            lc_pull_consumer_fetch_queues(pc, TOPIC_SPLIT, &mqs, &nq);
            free(mqs);
        }
    }
    lc_pull_consumer_destroy(pc);
    CHECK(nq >= 2, "topic has %zu readable queues", nq);
    counter_t *cs[2] = {counter_start("e2e_split", TOPIC_SPLIT, "*", LC_FROM_FIRST_OFFSET, "one"),
                        counter_start("e2e_split", TOPIC_SPLIT, "*", LC_FROM_FIRST_OFFSET, "two")};
    int settled = 0;
    double start = now_s();
    while (cs[0]->c && cs[1]->c && nq >= 2 && now_s() - start < 45) {
        if (assignment_settled(cs, nq)) {
            settled = 1;
            break;
        }
        nap_ms(200);
    }
    CHECK(settled, "the two consumers did not split the %zu queues within 45 s", nq);
    nap_ms(1000);
    long failed;
    produce(p, TOPIC_SPLIT, N_MSGS, &failed);
    CHECK(failed == 0, "%ld sends failed", failed);
    double took = wait_unique(cs, 2, N_MSGS, 60);
    long u0, d0, u1, d1;
    long t0 = counter_get(cs[0], &u0, &d0), t1 = counter_get(cs[1], &u1, &d1);
    int both = 0, dup_across = 0;
    for (int i = 0; i < N_MSGS; i++) {
        if (cs[0]->counts[i] && cs[1]->counts[i])
            dup_across++;
        both += (cs[0]->counts[i] + cs[1]->counts[i]) > 0;
    }
    CHECK(took >= 0, "together %d distinct of %d within 60 s", both, N_MSGS);
    CHECK(t0 + t1 == N_MSGS && d0 == 0 && d1 == 0 && dup_across == 0,
          "consumer 1: %ld (dups %ld), consumer 2: %ld (dups %ld), seen by both %d", t0, d0, t1, d1, dup_across);
    CHECK(t0 > 0 && t1 > 0, "one consumer got nothing (%ld / %ld)", t0, t1);
    counter_stop(cs[0]);
    counter_stop(cs[1]);
    report("test_two_consumers_split_the_queues", ok);
}

static void test_offsets_committed_on_shutdown(lc_producer_t *p)
{
    int ok = 1;
    long failed;
    produce(p, TOPIC_COMMIT, 100, &failed);
    CHECK(failed == 0, "%ld sends failed", failed);
    counter_t *c = counter_start("e2e_commit", TOPIC_COMMIT, "*", LC_FROM_FIRST_OFFSET, NULL);
    double took = c->c ? wait_unique(&c, 1, 100, 60) : -1;
    long unique, dups, total = counter_get(c, &unique, &dups);
    CHECK(took >= 0 && total == 100 && dups == 0, "consumed %ld (distinct %ld, dups %ld) of 100", total, unique, dups);
    counter_stop(c);   /* commits offsets synchronously */
    report("test_offsets_committed_on_shutdown", ok);
}

static void on_async_sent(int status, const lc_send_result_t *res, void *arg)
{
    long *counts = arg;   /* [0] ok, [1] failed */
    __atomic_add_fetch(&counts[status == 0 && res->status == LC_SEND_OK ? 0 : 1], 1, __ATOMIC_RELAXED);
}

/* Count the messages stored in a topic by pulling every queue from offset 0. */
static long pull_count(const char *topic, double limit)
{
    lc_pull_consumer_t *pc;
    long got = -1;
    if (lc_pull_consumer_create("e2e_counter", g_ns, &pc) != 0)
        return -1;
    lc_mq_t *mqs = NULL;
    size_t nq = 0;
    double start = now_s();
    if (lc_pull_consumer_start(pc) == 0) {
        while (lc_pull_consumer_fetch_queues(pc, topic, &mqs, &nq) != 0 && now_s() - start < limit)
            nap_ms(300);
        got = 0;
        for (size_t q = 0; q < nq; q++) {
            int64_t off = 0;
            for (int guard = 0; guard < 1000; guard++) {
                lc_pull_result_t r;
                if (lc_pull_consumer_pull(pc, &mqs[q], "*", off, 32, 0, &r) != 0)
                    break;
                for (size_t i = 0; i < r.nmsgs; i++)
                    got += !(r.msgs[i]->tags && strcmp(r.msgs[i]->tags, "Warm") == 0);
                int64_t next = r.next_begin_offset;
                int more = r.status == LC_PULL_FOUND || r.status == LC_PULL_NO_MATCHED_MSG;
                lc_pull_result_free(&r);
                if (!more || next <= off)
                    break;
                off = next;
            }
        }
    }
    free(mqs);
    lc_pull_consumer_destroy(pc);
    return got;
}

static void test_batch_async_and_oneway_sends_arrive(lc_producer_t *p)
{
    int ok = 1;
    CHECK(send_until_routed(p, TOPIC_MODES, "Warm", 60) == 0, "topic %s not created", TOPIC_MODES);
    lc_message_t batch[10];
    char bodies[10][32];
    for (int i = 0; i < 10; i++) {
        int n = snprintf(bodies[i], sizeof bodies[i], "%s-%d", TOPIC_MODES, i);
        batch[i] = (lc_message_t){.topic = TOPIC_MODES, .tags = "TagA", .body = bodies[i], .body_len = (size_t)n};
    }
    lc_send_result_t r;
    int rc = lc_producer_send_batch(p, batch, 10, &r);
    CHECK(rc == 0 && r.status == LC_SEND_OK, "batch: %s %s", lc_strerror(rc), r.error);
    CHECK(rc != 0 || (r.batch_msg_ids && strlen(r.batch_msg_ids) == 10 * 32 + 9), "batch ids: %s",
          r.batch_msg_ids ? r.batch_msg_ids : "(none)");
    lc_send_result_clear(&r);
    static long counts[2];
    for (int i = 0; i < 100; i++) {
        char body[32];
        int n = snprintf(body, sizeof body, "%s-%d", TOPIC_MODES, 10 + i);
        lc_message_t m = {.topic = TOPIC_MODES, .tags = "TagB", .body = body, .body_len = (size_t)n};
        CHECK(lc_producer_send_async(p, &m, on_async_sent, counts) == 0, "async send %d refused", i);
    }
    for (int i = 0; i < 10; i++) {
        char body[32];
        int n = snprintf(body, sizeof body, "%s-%d", TOPIC_MODES, 110 + i);
        lc_message_t m = {.topic = TOPIC_MODES, .tags = "TagC", .body = body, .body_len = (size_t)n};
        CHECK(lc_producer_send_oneway(p, &m) == 0, "oneway send %d refused", i);
    }
    double start = now_s();
    while (__atomic_load_n(&counts[0], __ATOMIC_RELAXED) + __atomic_load_n(&counts[1], __ATOMIC_RELAXED) < 100 &&
           now_s() - start < 60) /* generous: a busy machine */
        nap_ms(50);
    CHECK(counts[0] == 100 && counts[1] == 0, "async: %ld ok, %ld failed", counts[0], counts[1]);
    long stored = -1;
    for (start = now_s(); now_s() - start < 60; nap_ms(300))   /* oneway sends have no answer to wait for */
        if ((stored = pull_count(TOPIC_MODES, 10)) >= 120)
            break;
    CHECK(stored == 120, "stored %ld messages, want 10 batch + 100 async + 10 oneway", stored);
    report("test_batch_async_and_oneway_sends_arrive", ok);
}

static int phase_main(void)
{
    lc_producer_t *p;
    if (lc_producer_create("e2e_producer", g_ns, &p) != 0 || lc_producer_start(p) != 0) {
        fprintf(stderr, "producer did not start\n");
        return 1;
    }
    int ok = send_until_routed(p, TOPIC_ALL, "Warm", 60) == 0;
    report("test_producer_reaches_broker", ok);
    if (ok) {
        test_group_gets_every_message_once(p);
        test_tag_subscription_gets_only_its_tag();
        test_two_groups_each_get_everything();
        test_two_consumers_split_the_queues(p);
        test_offsets_committed_on_shutdown(p);
        test_batch_async_and_oneway_sends_arrive(p);
    }
    lc_producer_destroy(p);
    return 0;
}

/* ---- after-restart phase ---- */

static void test_restarted_consumer_sees_no_old_messages(void)
{
    int ok = 1;
    counter_t *c = counter_start("e2e_commit", TOPIC_COMMIT, "*", LC_FROM_FIRST_OFFSET, NULL);
    CHECK(c->c != NULL, "consumer did not start");
    nap_ms(8000);   /* a window for wrong old messages: rebalance + first pulls happen within it */
    long total = counter_get(c, NULL, NULL);
    CHECK(total == 0, "restarted group got %ld old messages", total);
    lc_producer_t *p;
    if (lc_producer_create("e2e_producer2", g_ns, &p) == 0 && lc_producer_start(p) == 0) {
        CHECK(send_until_routed(p, TOPIC_COMMIT, "Warm", 60) == 0, "broker not reachable after restart");
        long failed;
        produce(p, TOPIC_COMMIT, 10, &failed);
        CHECK(failed == 0, "%ld sends failed", failed);
    }
    double took = c->c ? wait_unique(&c, 1, 10, 40) : -1;
    long unique, dups;
    total = counter_get(c, &unique, &dups);
    CHECK(took >= 0 && total == 10 && dups == 0, "new messages: got %ld (distinct %ld) of 10", total, unique);
    lc_producer_destroy(p);
    counter_stop(c);
    report("test_restarted_consumer_sees_no_old_messages", ok);
}

static void test_messages_survive_restart(void)
{
    int ok = 1;
    lc_pull_consumer_t *pc;
    int rc = lc_pull_consumer_create("e2e_puller", g_ns, &pc);
    if (rc == 0)
        rc = lc_pull_consumer_start(pc);
    CHECK(rc == 0, "pull consumer: %s", lc_strerror(rc));
    lc_mq_t *mqs = NULL;
    size_t nq = 0;
    double start = now_s();
    while (rc == 0 && (rc = lc_pull_consumer_fetch_queues(pc, TOPIC_ALL, &mqs, &nq)) != 0 && now_s() - start < 60) {
        rc = 0;
        nap_ms(500);
    }
    CHECK(rc == 0 && nq > 0, "queues of %s: %s", TOPIC_ALL, lc_strerror(rc));
    static int seen[N_MSGS];
    long got = 0, dups = 0;
    for (size_t q = 0; rc == 0 && q < nq; q++) {
        int64_t maxo = -1;
        CHECK(lc_pull_consumer_max_offset(pc, &mqs[q], &maxo) == 0, "max offset of queue %d", mqs[q].queue_id);
        int64_t off = 0;
        for (int guard = 0; guard < 10000 && off < maxo; guard++) {
            lc_pull_result_t r;
            int prc = lc_pull_consumer_pull(pc, &mqs[q], "*", off, 32, 0, &r);
            if (prc != 0) {
                CHECK(0, "pull queue %d at %lld: %s", mqs[q].queue_id, (long long)off, lc_strerror(prc));
                break;
            }
            for (size_t i = 0; i < r.nmsgs; i++) {
                int idx = msg_index(r.msgs[i]);
                if (idx >= 0 && r.msgs[i]->tags && strcmp(r.msgs[i]->tags, "Warm") != 0) {
                    got++;
                    if (seen[idx]++)
                        dups++;
                }
            }
            int64_t next = r.next_begin_offset;
            lc_pull_status_t st = r.status;
            lc_pull_result_free(&r);
            if (st == LC_PULL_NO_NEW_MSG || next <= off)
                break;
            off = next;
        }
    }
    CHECK(got == N_MSGS && dups == 0, "pulled %ld messages (dups %ld), want %d", got, dups, N_MSGS);
    free(mqs);
    lc_pull_consumer_destroy(pc);
    report("test_messages_survive_restart", ok);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: client_e2e <namesrv> main|after-restart\n");
        return 2;
    }
    g_ns = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(argv[2], "main") == 0) {
        phase_main();
    } else if (strcmp(argv[2], "after-restart") == 0) {
        test_restarted_consumer_sees_no_old_messages();
        test_messages_survive_restart();
    } else {
        fprintf(stderr, "unknown phase %s\n", argv[2]);
        return 2;
    }
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? 1 : 0;
}
