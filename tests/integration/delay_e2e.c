/* Delay levels and retry back-off through the C client (test_delay.sh).
 * Usage: delay_e2e <namesrv> delay | retry
 * delay: a push consumer on DelayTopic, then one message with delay level 1 and one with
 *        level 2; prints each arrival's delay after its send in ms ("level 1 arrived after N ms").
 * retry: a push consumer (max 3 reconsumes) that always fails; one message; prints the
 *        reconsumeTimes of every delivery and the gaps between them, until it stopped coming
 *        (4 deliveries expected: 0, 1, 2, 3; then the broker puts it in %DLQ%RetryGroup).
 * Exit 1 if the expected deliveries do not happen within the time limit. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loulan/client.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static double g_t0[3], g_arrived[3];
static int g_times[16], g_ntimes;
static double g_at[16];
static int g_warm; /* the warm-up message arrived: the consumer owns the topic's queues */

static int is_warm_up(const lc_message_ext_t *m)
{
    return m->body_len == 7 && memcmp(m->body, "warm-up", 7) == 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static lc_consume_status_t on_delay(const lc_consume_ctx_t *ctx, lc_message_ext_t *const *msgs, size_t n, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        int level = msgs[i]->body_len ? msgs[i]->body[0] - '0' : 0;
        pthread_mutex_lock(&g_mu);
        g_warm |= is_warm_up(msgs[i]);
        if (level >= 1 && level <= 2 && !g_arrived[level])
            g_arrived[level] = now_ms();
        pthread_mutex_unlock(&g_mu);
    }
    return LC_CONSUME_SUCCESS;
}

static lc_consume_status_t on_retry(const lc_consume_ctx_t *ctx, lc_message_ext_t *const *msgs, size_t n, void *arg)
{
    int fail = 0;
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < n && g_ntimes < 16; i++) {
        g_warm |= is_warm_up(msgs[i]);
        if (msgs[i]->body_len != 12 || memcmp(msgs[i]->body, "always-fails", 12) != 0)
            continue; /* the warm-up message */
        fail = 1;
        g_at[g_ntimes] = now_ms();
        g_times[g_ntimes++] = msgs[i]->reconsume_times;
    }
    pthread_mutex_unlock(&g_mu);
    return fail ? LC_CONSUME_LATER : LC_CONSUME_SUCCESS;
}

static int warm(void)
{
    pthread_mutex_lock(&g_mu);
    int w = g_warm;
    pthread_mutex_unlock(&g_mu);
    return w;
}

static int arrived(int level)
{
    pthread_mutex_lock(&g_mu);
    int a = g_arrived[level] != 0;
    pthread_mutex_unlock(&g_mu);
    return a;
}

static lc_push_consumer_t *consumer(const char *ns, const char *group, const char *topic, lc_consume_fn fn)
{
    lc_push_consumer_t *c;
    if (lc_push_consumer_create(group, ns, &c) != LC_OK)
        exit(1);
    lc_push_consumer_set_consume_from(c, LC_FROM_FIRST_OFFSET);
    lc_push_consumer_set_max_reconsume_times(c, 3);
    lc_push_consumer_set_listener(c, fn, NULL);
    if (lc_push_consumer_subscribe(c, topic, "*") != LC_OK || lc_push_consumer_start(c) != LC_OK)
        exit(1);
    return c;
}

static void send(lc_producer_t *p, const char *topic, const char *body, int level)
{
    lc_message_t m = {.topic = topic, .body = body, .body_len = strlen(body), .delay_level = level};
    lc_send_result_t r;
    if (lc_producer_send_sync(p, &m, &r) != LC_OK) {
        fprintf(stderr, "send failed: %s\n", r.error);
        exit(1);
    }
    lc_send_result_clear(&r);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *ns = argv[1];
    int delay = strcmp(argv[2], "delay") == 0, rc = 0;
    lc_producer_t *p;
    if (lc_producer_create("DelayPG", ns, &p) != LC_OK || lc_producer_start(p) != LC_OK)
        return 1;
    const char *topic = delay ? "DelayTopic" : "RetryTopic";
    send(p, topic, "warm-up", 0); /* creates the topic so the consumer finds its queues */
    lc_push_consumer_t *c = consumer(ns, delay ? "DelayGroup" : "RetryGroup", topic, delay ? on_delay : on_retry);
    /* Timing starts only once the consumer owns the queues (it has the warm-up message), so
     * a slow rebalance on a busy machine does not count as delay. Bounded: 60 s. */
    double give_up = now_ms() + 60000;
    while (!warm() && now_ms() < give_up)
        usleep(50000);
    if (!warm()) {
        fprintf(stderr, "the consumer never got the warm-up message\n");
        return 1;
    }
    if (delay) {
        g_t0[1] = now_ms();
        send(p, topic, "1-level", 1);
        g_t0[2] = now_ms();
        send(p, topic, "2-level", 2);
        give_up = now_ms() + 60000; /* level 2 is 5 s: generous for a busy machine */
        while (!(arrived(1) && arrived(2)) && now_ms() < give_up)
            usleep(50000);
        for (int l = 1; l <= 2; l++) {
            if (g_arrived[l])
                printf("level %d arrived after %.0f ms\n", l, g_arrived[l] - g_t0[l]);
            else
                printf("level %d never arrived\n", l), rc = 1;
        }
    } else {
        send(p, topic, "always-fails", 0);
        for (int i = 0; i < 250 && g_ntimes < 5; i++) /* 4 deliveries, then silence */
            usleep(100000);
        pthread_mutex_lock(&g_mu);
        for (int i = 0; i < g_ntimes; i++) {
            printf("delivery reconsumeTimes=%d after %.0f ms\n", g_times[i], i ? g_at[i] - g_at[0] : 0.0);
        }
        pthread_mutex_unlock(&g_mu);
    }
    lc_push_consumer_destroy(c);
    lc_producer_destroy(p);
    return rc;
}
