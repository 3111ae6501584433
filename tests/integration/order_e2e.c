/* Ordered, poison and broadcast consumption through the C client (test_order.sh).
 * Usage: order_e2e <namesrv> ordered | poison | broadcast
 * ordered:   10 keys x 20 messages sent with lc_producer_send_orderly; two orderly consumers
 *            of one group share the queues; after the first 10 per key, consumer A leaves and B
 *            must take over its queues. Every message arrives exactly once and, per key, in
 *            send order across both consumers.
 * poison:    an orderly consumer (max 2 reconsumes) fails one message forever; the messages
 *            behind it in the same queue still arrive (the poison goes to the DLQ).
 * broadcast: two broadcasting consumers of one group each get all 50 messages. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loulan/client.h"

#define KEYS 10
#define PER_KEY 20
#define MAXLOG 4096

typedef struct rec { int key, seq, who; } rec_t;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static rec_t g_log[MAXLOG];
static int g_n;
static int g_bcast[2][64];

static lc_consume_status_t on_ordered(const lc_consume_ctx_t *ctx, lc_message_ext_t *const *msgs, size_t n, void *arg)
{
    int who = (int)(intptr_t)arg;
    for (size_t i = 0; i < n; i++) {
        int key, seq;
        if (sscanf((const char *)msgs[i]->body, "k%d-%d", &key, &seq) != 2)
            continue;
        pthread_mutex_lock(&g_mu);
        if (g_n < MAXLOG)
            g_log[g_n++] = (rec_t){key, seq, who};
        pthread_mutex_unlock(&g_mu);
        usleep(2000); /* slow enough that the two consumers really interleave */
    }
    return LC_CONSUME_SUCCESS;
}

static lc_consume_status_t on_poison(const lc_consume_ctx_t *ctx, lc_message_ext_t *const *msgs, size_t n, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        if (msgs[i]->body_len == 6 && memcmp(msgs[i]->body, "poison", 6) == 0)
            return LC_CONSUME_LATER;
        int key, seq;
        if (sscanf((const char *)msgs[i]->body, "k%d-%d", &key, &seq) == 2) {
            pthread_mutex_lock(&g_mu);
            g_log[g_n++] = (rec_t){key, seq, 0};
            pthread_mutex_unlock(&g_mu);
        }
    }
    return LC_CONSUME_SUCCESS;
}

static lc_consume_status_t on_bcast(const lc_consume_ctx_t *ctx, lc_message_ext_t *const *msgs, size_t n, void *arg)
{
    int who = (int)(intptr_t)arg, seq;
    for (size_t i = 0; i < n; i++)
        if (sscanf((const char *)msgs[i]->body, "b-%d", &seq) == 1 && seq >= 0 && seq < 64) {
            pthread_mutex_lock(&g_mu);
            g_bcast[who][seq]++;
            pthread_mutex_unlock(&g_mu);
        }
    return LC_CONSUME_SUCCESS;
}

static int bcast_seen(int who, int seq)
{
    pthread_mutex_lock(&g_mu);
    int n = g_bcast[who][seq];
    pthread_mutex_unlock(&g_mu);
    return n > 0;
}

static lc_push_consumer_t *consumer(const char *ns, const char *group, const char *inst, const char *topic,
                                    lc_consume_fn fn, int who, int mode)
{
    lc_push_consumer_t *c;
    if (lc_push_consumer_create(group, ns, &c))
        exit(1);
    lc_push_consumer_set_instance_name(c, inst);
    lc_push_consumer_set_consume_from(c, LC_FROM_FIRST_OFFSET);
    lc_push_consumer_set_listener(c, fn, (void *)(intptr_t)who);
    lc_push_consumer_set_max_reconsume_times(c, 2);
    if (mode == 1)
        lc_push_consumer_set_orderly(c, 1);
    else
        lc_push_consumer_set_broadcast(c, 1);
    if (lc_push_consumer_subscribe(c, topic, "*") || lc_push_consumer_start(c))
        exit(1);
    return c;
}

static void send_keyed(lc_producer_t *p, const char *topic, int from, int to)
{
    for (int s = from; s < to; s++)
        for (int k = 0; k < KEYS; k++) {
            char body[32], key[16];
            snprintf(body, sizeof body, "k%d-%d", k, s);
            snprintf(key, sizeof key, "key-%d", k);
            lc_message_t m = {.topic = topic, .body = body, .body_len = strlen(body)};
            lc_send_result_t r;
            if (lc_producer_send_orderly(p, &m, key, &r) != LC_OK) {
                fprintf(stderr, "send failed: %s\n", r.error);
                exit(1);
            }
        }
}

static int wait_count(int want, int secs)
{
    for (int t = 0; t < secs * 10; t++) {
        pthread_mutex_lock(&g_mu);
        int n = g_n;
        pthread_mutex_unlock(&g_mu);
        if (n >= want)
            return n;
        usleep(100000);
    }
    return g_n;
}

static int check_order(int want)
{
    int last[KEYS], seen[KEYS][PER_KEY], bad = 0;
    memset(seen, 0, sizeof seen);
    for (int k = 0; k < KEYS; k++)
        last[k] = -1;
    for (int i = 0; i < g_n; i++) {
        rec_t r = g_log[i];
        if (r.key < 0 || r.key >= KEYS || r.seq < 0 || r.seq >= PER_KEY)
            continue;
        if (r.seq <= last[r.key]) {
            printf("key %d: %d after %d (consumer %c)\n", r.key, r.seq, last[r.key], 'A' + r.who);
            bad++;
        }
        last[r.key] = r.seq;
        seen[r.key][r.seq]++;
    }
    int missing = 0;
    for (int k = 0; k < KEYS; k++)
        for (int s = 0; s < want; s++)
            missing += seen[k][s] != 1;
    int byA = 0;
    for (int i = 0; i < g_n; i++)
        byA += g_log[i].who == 0;
    printf("ordered: %d deliveries (%d by A), %d out of order, %d missing or repeated\n", g_n, byA, bad, missing);
    return bad || missing;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *ns = argv[1], *mode = argv[2];
    lc_producer_t *p;
    if (lc_producer_create("OrderPG", ns, &p) || lc_producer_start(p))
        return 1;
    int rc = 0;
    if (!strcmp(mode, "ordered")) {
        send_keyed(p, "OrderTopic", 0, 1); /* creates the topic */
        lc_push_consumer_t *a = consumer(ns, "OrderGroup", "A", "OrderTopic", on_ordered, 0, 1);
        lc_push_consumer_t *b = consumer(ns, "OrderGroup", "B", "OrderTopic", on_ordered, 1, 1);
        send_keyed(p, "OrderTopic", 1, PER_KEY / 2);
        wait_count(KEYS * PER_KEY / 2, 50);
        lc_push_consumer_destroy(a); /* A leaves midway */
        send_keyed(p, "OrderTopic", PER_KEY / 2, PER_KEY);
        wait_count(KEYS * PER_KEY, 60);
        sleep(1); /* a window for a wrong repeat to arrive */
        lc_push_consumer_destroy(b);
        rc = check_order(PER_KEY);
    } else if (!strcmp(mode, "poison")) {
        lc_message_t m0 = {.topic = "PoisonTopic", .body = "x", .body_len = 1};
        lc_send_result_t r;
        lc_producer_send_orderly(p, &m0, "one-key", &r);
        lc_push_consumer_t *c = consumer(ns, "PoisonGroup", "P", "PoisonTopic", on_poison, 0, 1);
        lc_message_t pm = {.topic = "PoisonTopic", .body = "poison", .body_len = 6};
        lc_producer_send_orderly(p, &pm, "one-key", &r);
        for (int s = 0; s < 5; s++) {
            char body[16];
            snprintf(body, sizeof body, "k0-%d", s);
            lc_message_t m = {.topic = "PoisonTopic", .body = body, .body_len = strlen(body)};
            lc_producer_send_orderly(p, &m, "one-key", &r);
        }
        int got = wait_count(5, 60);
        lc_push_consumer_destroy(c);
        printf("poison: %d of 5 messages behind the poison arrived\n", got);
        rc = got != 5;
    } else {
        lc_message_t m0 = {.topic = "BcastTopic", .body = "b-63", .body_len = 4};
        lc_send_result_t r;
        lc_producer_send_sync(p, &m0, &r);
        lc_push_consumer_t *a = consumer(ns, "BcastGroup", "BA", "BcastTopic", on_bcast, 0, 2);
        lc_push_consumer_t *b = consumer(ns, "BcastGroup", "BB", "BcastTopic", on_bcast, 1, 2);
        /* both consume (each has the first message) before the 50 go out; bounded: 60 s */
        for (int t = 0; t < 600 && !(bcast_seen(0, 63) && bcast_seen(1, 63)); t++)
            usleep(100000);
        for (int s = 0; s < 50; s++) {
            char body[16];
            snprintf(body, sizeof body, "b-%d", s);
            lc_message_t m = {.topic = "BcastTopic", .body = body, .body_len = strlen(body)};
            lc_producer_send_sync(p, &m, &r);
        }
        int ok = 0;
        for (int t = 0; t < 600 && !ok; t++) {
            usleep(100000);
            pthread_mutex_lock(&g_mu);
            ok = 1;
            for (int w = 0; w < 2; w++)
                for (int s = 0; s < 50; s++)
                    ok &= g_bcast[w][s] >= 1;
            pthread_mutex_unlock(&g_mu);
        }
        sleep(1); /* a window for a wrong repeat to arrive */
        int dup = 0;
        for (int w = 0; w < 2; w++)
            for (int s = 0; s < 50; s++)
                dup += g_bcast[w][s] > 1;
        printf("broadcast: both consumers got all 50: %s, repeats %d\n", ok ? "yes" : "no", dup);
        lc_push_consumer_destroy(a);
        lc_push_consumer_destroy(b);
        rc = !ok || dup;
    }
    lc_producer_destroy(p);
    return rc;
}
