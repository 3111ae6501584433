/* libFuzzer target for the name server's REGISTER_BROKER body: the input's first byte picks the
 * form and the broker, the rest is the body. It goes through the real decoder
 * (ns_reg_body_decode: JSON with or without topicConfigSerializeWrapper, or the compressed
 * binary form, which this target deflates itself so that the fuzzer explores the format behind
 * zlib, or hands over raw to fuzz the inflate path) and then the real route-table update
 * (ns_routes_register) into one table kept across inputs, followed by the handlers that read it
 * (route, topic lists, cluster info, write perm, delete, unregister). The table's invariants
 * (every listed topic hashed, none empty, one queue data per broker) are checked each time.
 *
 * First byte: bit0 compressed, bit1 old client (no wrapper), bit2 compressed body passed raw,
 * bit3 slave (brokerId 1), bits4-5 which of 4 brokers, bit6 unregister afterwards. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/common.h"
#include "namesrv/route.h"

static ns_routes_t g_routes;
static unsigned g_runs;

static void check_table(const ns_routes_t *r)
{
    size_t n = 0;
    for (const ns_topic_t *t = r->first; t; t = t->next, n++) {
        if (cm_map_get(&r->topics, t->name) != t || t->nq == 0 || (t->next && t->next->prev != t))
            abort();
        for (size_t i = 0; i < t->nq; i++)
            for (size_t j = i + 1; j < t->nq; j++)
                if (strcmp(t->q[i].brokerName, t->q[j].brokerName) == 0)
                    abort();
    }
    if (n != r->topics.n)
        abort();
}

/* Write a JSON answer both ways and read it back: what we send must be JSON we can read. */
static void round_trip(lj_val_t *v)
{
    for (int flags = LJ_W_FASTJSON; v && flags <= LJ_W_STRICT; flags++) {
        cm_buf_t b;
        cm_buf_init(&b);
        lj_val_t *back = NULL;
        if (lj_write(v, flags, &b) || lj_parse(b.data, b.len, &back))
            abort();
        lj_free(back);
        cm_buf_free(&b);
    }
    lj_free(v);
}

static int deflate_all(const uint8_t *in, size_t n, cm_buf_t *out)
{
    uLongf cap = compressBound((uLong)n);
    if (cm_buf_reserve(out, cap))
        return -1;
    if (compress((Bytef *)out->data, &cap, in, (uLong)n) != Z_OK)
        return -1;
    out->len = cap;
    return 0;
}

static void exercise(const ns_reg_body_t *rb, uint8_t mode)
{
    char name[16], addr[32];
    int which = (mode >> 4) & 3, slave = (mode >> 3) & 1;
    snprintf(name, sizeof name, "broker-%d", which);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", 10911 + which * 10 + slave);
    ns_reg_t g = {.cluster = which & 1 ? "ClusterB" : "DefaultCluster", .addr = addr, .name = name, .ha = addr,
                  .id = slave, .dvCounter = (int64_t)g_runs, .dvTimestamp = 1, .topics = rb->topics,
                  .ntopics = rb->n, .connId = 1, .now = g_runs};
    const char *master, *masterHa;
    if (ns_routes_register(&g_routes, &g, &master, &masterHa))
        return;
    for (size_t i = 0; i < rb->n && i < 4; i++)
        round_trip(ns_routes_route_json(&g_routes, rb->topics[i].name, i == 0 ? "broker-0:4" : NULL));
    round_trip(ns_routes_cluster_json(&g_routes));
    round_trip(ns_routes_topic_list_json(&g_routes, g_runs % 6, g.cluster));
    ns_routes_write_perm(&g_routes, name, g_runs & 1);
    if (rb->n > 0 && (mode & 0x80))
        ns_routes_delete_topic(&g_routes, rb->topics[0].name, g_runs & 2 ? g.cluster : NULL);
    if (mode & 0x40)
        ns_routes_unregister(&g_routes, g.cluster, addr, name, g.id);
    check_table(&g_routes);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    cm_log_set_level(CM_LOG_ERROR); /* expiry warns per broker: no flood */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    int compressed = mode & 1, version = mode & 2 ? 36 : 403;
    cm_buf_t z;
    cm_buf_init(&z);
    const uint8_t *body = data + 1;
    size_t len = size - 1;
    if (compressed && !(mode & 4)) {
        if (deflate_all(body, len, &z))
            abort();
        body = (const uint8_t *)z.data;
        len = z.len;
    }
    ns_reg_body_t rb = {0};
    if (ns_reg_body_decode(body, len, compressed, version, &rb) == 0)
        exercise(&rb, mode);
    ns_reg_body_free(&rb);
    cm_buf_free(&z);
    /* Keep the table small and exercise expiry and the full teardown now and then. */
    if (++g_runs % 64 == 0 || g_routes.topics.n > 20000) {
        ns_routes_expire(&g_routes, 0, UINT64_MAX);
        if (g_routes.topics.n != 0 || g_routes.first || g_routes.live.n != 0)
            abort();
        ns_routes_free(&g_routes);
    }
    return 0;
}
