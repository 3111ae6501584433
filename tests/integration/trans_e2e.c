/* Transactional producer driver for test_trans.sh (C client against a real broker).
 * Usage: trans_e2e <namesrv> <mode> <topic> <n>
 *   commit / rollback    n transactions whose local transaction commits / rolls back
 *   unknown-then-commit  n transactions answered "unknown"; the check listener commits; stays
 *                        until n checks were answered (at most 20 s)
 *   unknown              n transactions answered "unknown", no listener; exits at once
 *   die                  one transaction: the process exits inside the local transaction
 *   checker              no sends: answers checks with commit for n seconds (or until one
 *                        check per expected message arrived: n is then the count, see -c)
 *   mixed                n rounds of: a normal send, a committed and a rolled-back transaction
 * Bodies are "<mode>-<i>" ("normal-<i>", "commit-<i>", "rollback-<i>" in mixed).
 * Prints the number of checks answered. Exit 1 on any failed send. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loulan/client.h"

static atomic_int g_checks;

static lc_tx_state_t local_commit(const lc_message_t *m, const char *id, void *a) { return LC_TX_COMMIT; }
static lc_tx_state_t local_rollback(const lc_message_t *m, const char *id, void *a) { return LC_TX_ROLLBACK; }
static lc_tx_state_t local_unknown(const lc_message_t *m, const char *id, void *a) { return LC_TX_UNKNOWN; }
static lc_tx_state_t local_die(const lc_message_t *m, const char *id, void *a)
{
    fflush(stdout);
    _exit(0); /* the producer is gone before it decided */
}
static lc_tx_state_t check_commit(const lc_message_ext_t *m, void *a)
{
    atomic_fetch_add(&g_checks, 1);
    return LC_TX_COMMIT;
}

static int tx(lc_producer_t *p, const char *topic, const char *prefix, int i, lc_local_tx_fn fn)
{
    char body[64];
    snprintf(body, sizeof body, "%s-%d", prefix, i);
    lc_message_t m = {.topic = topic, .body = body, .body_len = strlen(body)};
    lc_send_result_t r;
    lc_tx_state_t st;
    int rc = lc_producer_send_in_transaction(p, &m, fn, NULL, &r, &st);
    if (rc != LC_OK)
        fprintf(stderr, "transaction %s: %s %s\n", body, lc_strerror(rc), r.error);
    lc_send_result_clear(&r);
    return rc;
}

static int normal(lc_producer_t *p, const char *topic, int i)
{
    char body[64];
    snprintf(body, sizeof body, "normal-%d", i);
    lc_message_t m = {.topic = topic, .body = body, .body_len = strlen(body)};
    lc_send_result_t r;
    int rc = lc_producer_send_sync(p, &m, &r);
    lc_send_result_clear(&r);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6)
        return 2;
    /* checker: how long to stay for checks (a window for a check that must not come), 60 s by default */
    int tenths = argc == 6 ? atoi(argv[5]) * 10 : 600;
    const char *mode = argv[2], *topic = argv[3];
    int n = atoi(argv[4]), rc = 0;
    lc_producer_t *p;
    if (lc_producer_create("TxPG", argv[1], &p) != LC_OK)
        return 1;
    int listens = !strcmp(mode, "unknown-then-commit") || !strcmp(mode, "checker");
    if (listens)
        lc_producer_set_transaction_check(p, check_commit, NULL);
    if (lc_producer_start(p) != LC_OK)
        return 1;
    if (!strcmp(mode, "checker")) {
        /* be a live producer of the group: the broker learns us from the heartbeat */
        lc_message_t m = {.topic = topic, .body = "hb", .body_len = 2};
        lc_send_result_t r;
        lc_producer_send_sync(p, &m, &r); /* a normal send registers the group at the broker */
        lc_send_result_clear(&r);
        for (int t = 0; t < tenths && atomic_load(&g_checks) < n; t++) /* 60 s: a busy machine */
            usleep(100000);
    }
    for (int i = 0; i < n && strcmp(mode, "checker"); i++) {
        if (!strcmp(mode, "commit"))
            rc |= tx(p, topic, "commit", i, local_commit);
        else if (!strcmp(mode, "rollback"))
            rc |= tx(p, topic, "rollback", i, local_rollback);
        else if (!strcmp(mode, "unknown-then-commit") || !strcmp(mode, "unknown"))
            rc |= tx(p, topic, mode, i, local_unknown);
        else if (!strcmp(mode, "die"))
            rc |= tx(p, topic, "die", i, local_die);
        else if (!strcmp(mode, "mixed"))
            rc |= normal(p, topic, i) | tx(p, topic, "commit", i, local_commit) |
                  tx(p, topic, "rollback", i, local_rollback);
    }
    if (!strcmp(mode, "unknown-then-commit"))
        for (int t = 0; t < 600 && atomic_load(&g_checks) < n; t++)
            usleep(100000);
    printf("checks answered: %d\n", atomic_load(&g_checks));
    lc_producer_destroy(p);
    return rc ? 1 : 0;
}
