/* Query by key and by id through the C client against a real broker (test_query.sh).
 * Usage: query_e2e <namesrv> send <idfile> | check <idfile>
 * send:  20 messages with KEYS "order-<i> common", then a batch of 5 with "batch-<i> common";
 *        writes "<i> <uniq msgId> <offsetMsgId>" lines to idfile.
 * check: every order-<i>/batch-<i> key finds exactly its message; "common" finds all 25; every
 *        message is found by its offsetMsgId and by its UNIQ_KEY msgId; an unknown key is
 *        LC_ENOTFOUND. Run after a clean restart and after kill -9 too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loulan/client.h"

#define TOPIC "QueryTopic"
#define N_SINGLE 20
#define N_BATCH 5

static int g_failed;
#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "  check failed (%s:%d): ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
            g_failed++;                                                     \
        }                                                                   \
    } while (0)

static int do_send(lc_producer_t *p, FILE *out)
{
    char keys[64], body[64];
    lc_send_result_t r;
    for (int i = 0; i < N_SINGLE; i++) {
        snprintf(keys, sizeof keys, "order-%d common", i);
        snprintf(body, sizeof body, "body-%d", i);
        lc_message_t m = {.topic = TOPIC, .keys = keys, .body = body, .body_len = strlen(body)};
        memset(&r, 0, sizeof r);
        if (lc_producer_send_sync(p, &m, &r) != LC_OK || r.status != LC_SEND_OK)
            return 1;
        fprintf(out, "%d %s %s\n", i, r.msg_id, r.offset_msg_id);
    }
    static char bkeys[N_BATCH][32], bbody[N_BATCH][32];
    lc_message_t bm[N_BATCH];
    for (int i = 0; i < N_BATCH; i++) {
        snprintf(bkeys[i], sizeof bkeys[i], "batch-%d common", i);
        snprintf(bbody[i], sizeof bbody[i], "body-b%d", i);
        bm[i] = (lc_message_t){.topic = TOPIC, .keys = bkeys[i], .body = bbody[i], .body_len = strlen(bbody[i])};
    }
    memset(&r, 0, sizeof r);
    if (lc_producer_send_batch(p, bm, N_BATCH, &r) != LC_OK)
        return 1;
    lc_send_result_clear(&r);
    return 0;
}

static int body_is(const lc_message_ext_t *m, const char *want)
{
    return m->body_len == strlen(want) && memcmp(m->body, want, m->body_len) == 0;
}

static void do_check(lc_producer_t *p, FILE *in)
{
    char key[64], body[64], uniq[80], offid[80];
    lc_message_ext_t **msgs;
    size_t n;
    int i;
    for (int k = 0; k < N_SINGLE; k++) {
        snprintf(key, sizeof key, "order-%d", k);
        snprintf(body, sizeof body, "body-%d", k);
        int rc = lc_producer_query_message(p, TOPIC, key, 32, 0, INT64_MAX, &msgs, &n);
        CHECK(rc == LC_OK && n == 1 && body_is(msgs[0], body), "query %s: rc %d n %zu", key, rc, n);
        if (rc == LC_OK)
            lc_query_result_free(msgs, n);
    }
    for (int k = 0; k < N_BATCH; k++) {
        snprintf(key, sizeof key, "batch-%d", k);
        snprintf(body, sizeof body, "body-b%d", k);
        int rc = lc_producer_query_message(p, TOPIC, key, 32, 0, INT64_MAX, &msgs, &n);
        CHECK(rc == LC_OK && n == 1 && body_is(msgs[0], body), "query %s: rc %d n %zu", key, rc, n);
        if (rc == LC_OK)
            lc_query_result_free(msgs, n);
    }
    int rc = lc_producer_query_message(p, TOPIC, "common", 64, 0, INT64_MAX, &msgs, &n);
    CHECK(rc == LC_OK && n == N_SINGLE + N_BATCH, "query common: rc %d n %zu", rc, n);
    if (rc == LC_OK)
        lc_query_result_free(msgs, n);
    rc = lc_producer_query_message(p, TOPIC, "no-such-key", 32, 0, INT64_MAX, &msgs, &n);
    CHECK(rc == LC_ENOTFOUND, "unknown key: rc %d", rc);
    int lines = 0;
    while (fscanf(in, "%d %79s %79s", &i, uniq, offid) == 3) {
        lines++;
        snprintf(body, sizeof body, "body-%d", i);
        lc_message_ext_t *m;
        rc = lc_producer_view_message(p, TOPIC, offid, &m);
        CHECK(rc == LC_OK && body_is(m, body) && strcmp(m->offset_msg_id, offid) == 0,
              "view by offsetMsgId %s: rc %d", offid, rc);
        if (rc == LC_OK)
            lc_message_ext_free(m);
        rc = lc_producer_view_message(p, TOPIC, uniq, &m);
        CHECK(rc == LC_OK && body_is(m, body) && strcmp(m->msg_id, uniq) == 0,
              "view by msgId %s: rc %d", uniq, rc);
        if (rc == LC_OK)
            lc_message_ext_free(m);
    }
    CHECK(lines == N_SINGLE, "id file has %d lines", lines);
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    lc_producer_t *p;
    if (lc_producer_create("QueryPG", argv[1], &p) != LC_OK || lc_producer_start(p) != LC_OK)
        return 1;
    int rc = 0;
    if (strcmp(argv[2], "send") == 0) {
        FILE *out = fopen(argv[3], "w");
        rc = !out || do_send(p, out);
        if (out)
            fclose(out);
    } else {
        FILE *in = fopen(argv[3], "r");
        if (!in)
            return 1;
        do_check(p, in);
        fclose(in);
        rc = g_failed != 0;
        printf("query check: %s\n", rc ? "FAIL" : "ok");
    }
    lc_producer_destroy(p);
    return rc;
}
