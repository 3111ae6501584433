/* SQL92 subscriptions through the C client (test_sql92.sh).
 * Usage: sql_e2e <namesrv> match | bad
 * match: 60 messages with properties a=<i> and region=eu|us|asia (and tags); a push consumer
 *        subscribed with "a >= 10 AND a < 40 AND region IN ('eu', 'us') OR TAGS = 'vip'" must get
 *        exactly the matching ones (computed here), each once.
 * bad:   a consumer with a malformed expression must fail to start. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loulan/client.h"

#define N 60
#define TOPIC "SqlTopic"
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_seen[N], g_extra;

static const char *region(int i) { return i % 3 == 0 ? "eu" : i % 3 == 1 ? "us" : "asia"; }
static int vip(int i) { return i % 11 == 0; }
static int expected(int i) { return (i >= 10 && i < 40 && i % 3 != 2) || vip(i); }

static lc_consume_status_t on_msg(const lc_consume_ctx_t *ctx, lc_message_ext_t *const *msgs, size_t n, void *arg)
{
    pthread_mutex_lock(&g_mu);
    for (size_t k = 0; k < n; k++) {
        const char *a = lc_message_property(msgs[k], "a");
        int i = a ? atoi(a) : -1;
        if (i >= 0 && i < N)
            g_seen[i]++;
        else
            g_extra++;
    }
    pthread_mutex_unlock(&g_mu);
    return LC_CONSUME_SUCCESS;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *ns = argv[1];
    lc_producer_t *p;
    if (lc_producer_create("SqlPG", ns, &p) || lc_producer_start(p))
        return 1;
    lc_message_t warm = {.topic = TOPIC, .body = "w", .body_len = 1};
    lc_send_result_t r;
    if (lc_producer_send_sync(p, &warm, &r) != LC_OK) /* creates the topic; matches nothing */
        return 1;
    lc_push_consumer_t *c;
    lc_push_consumer_create(strcmp(argv[2], "bad") ? "SqlGroup" : "SqlBadGroup", ns, &c);
    lc_push_consumer_set_consume_from(c, LC_FROM_FIRST_OFFSET);
    lc_push_consumer_set_listener(c, on_msg, NULL);
    const char *sql = strcmp(argv[2], "bad") ? "a >= 10 AND a < 40 AND region IN ('eu', 'us') OR TAGS = 'vip'"
                                             : "a >= AND (region";
    if (lc_push_consumer_subscribe_sql(c, TOPIC, sql) != LC_OK)
        return 1;
    int rc = lc_push_consumer_start(c);
    if (strcmp(argv[2], "bad") == 0) {
        printf("start with a bad expression: %s\n", rc ? lc_strerror(rc) : "started (wrong)");
        lc_push_consumer_destroy(c);
        lc_producer_destroy(p);
        return rc != 0 ? 0 : 1;
    }
    if (rc != LC_OK) {
        printf("start failed: %s\n", lc_strerror(rc));
        return 1;
    }
    for (int i = 0; i < N; i++) {
        char a[16], body[32];
        snprintf(a, sizeof a, "%d", i);
        snprintf(body, sizeof body, "m-%d", i);
        lc_property_t props[] = {{"a", a}, {"region", region(i)}};
        lc_message_t m = {.topic = TOPIC, .tags = vip(i) ? "vip" : "std", .body = body, .body_len = strlen(body),
                          .props = props, .nprops = 2};
        if (lc_producer_send_sync(p, &m, &r) != LC_OK)
            return 1;
    }
    int want = 0;
    for (int i = 0; i < N; i++)
        want += expected(i);
    for (int t = 0; t < 600; t++) { /* up to 60 s: a busy machine */
        int got = 0;
        pthread_mutex_lock(&g_mu);
        for (int i = 0; i < N; i++)
            got += g_seen[i] > 0;
        pthread_mutex_unlock(&g_mu);
        if (got >= want)
            break;
        usleep(100000);
    }
    sleep(1); /* a window for anything wrongly extra to arrive (absence can only be waited for) */
    int wrong = g_extra;
    for (int i = 0; i < N; i++)
        if (g_seen[i] != expected(i)) {
            printf("message a=%d seen %d times, expected %d\n", i, g_seen[i], expected(i));
            wrong++;
        }
    printf("sql92: %d expected, %d wrong\n", want, wrong);
    lc_push_consumer_destroy(c);
    lc_producer_destroy(p);
    return wrong ? 1 : 0;
}
