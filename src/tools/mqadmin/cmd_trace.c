/* cmd_trace.c: queryMsgTraceById (acl spec §5.4). Trace records are ordinary messages of the
 * trace topic whose KEYS hold the traced msgIds, so the command is a key query: QUERY_MESSAGE
 * to every broker of the trace topic, keep the messages whose KEYS hold the id, split their
 * bodies into TraceDataEncoder records (0x02 between records, 0x01 between fields), keep the
 * records about that id, and print them as RocketMQ 4.9.5's QueryMsgTraceByIdSubCommand: one
 * block per Pub, then one block per consumer group of its SubAfter records. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/lc.h"   /* lc_decode_records: the stored-record decoder the client uses */
#include "mqadmin.h"

#define MAX_BROKERS 64
#define MAX_FIELDS 16

/* One record worth printing: Pub or SubAfter. */
typedef struct view {
    int pub;
    char group[LC_MAX_NAME];
    char client_host[64];
    int64_t ts;
    long cost;
    int success;
} view_t;

typedef struct views { view_t *v; size_t n, cap; } views_t;

/* Split s (len bytes) on sep into at most max pieces; Java's String.split drops trailing empty
 * pieces, and so does this. Pieces are NUL-terminated in place. */
static int split(char *s, char sep, char **out, int max)
{
    int n = 0;
    for (char *p = s; n < max;) {
        out[n++] = p;
        char *e = strchr(p, sep);
        if (!e)
            break;
        *e = 0;
        p = e + 1;
    }
    while (n > 0 && !*out[n - 1])
        n--;
    return n;
}

static int parse_i64(const char *s, int64_t *v)
{
    char *end;
    if (!*s)
        return -1;
    long long x = strtoll(s, &end, 10);
    if (*end)
        return -1;
    *v = x;
    return 0;
}

static int add_view(views_t *vs, const view_t *v)
{
    if (vs->n == vs->cap) {
        size_t cap = vs->cap ? vs->cap * 2 : 16;
        view_t *nv = realloc(vs->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        vs->v = nv;
        vs->cap = cap;
    }
    vs->v[vs->n++] = *v;
    return 0;
}

/* The Pub and SubAfter records about msg_id in one record (TraceDataEncoder's field counts:
 * a Pub has success at 12 with 13 fields, else at 13; a SubAfter has its time and group from 9
 * fields on). A record that does not parse is skipped. */
static void decode_record(char *rec, const char *msg_id, const char *born_ip, views_t *vs)
{
    char *f[MAX_FIELDS];
    int n = split(rec, '\001', f, MAX_FIELDS);
    view_t v = {0};
    int64_t cost;
    snprintf(v.client_host, sizeof v.client_host, "%s", born_ip);
    if (n >= 13 && strcmp(f[0], "Pub") == 0) {
        if (strcmp(f[5], msg_id) != 0 || parse_i64(f[1], &v.ts) || parse_i64(f[10], &cost))
            return;
        v.pub = 1;
        snprintf(v.group, sizeof v.group, "%s", f[3]);
        v.success = strcmp(n == 13 ? f[12] : f[13], "true") == 0;
    } else if (n >= 5 && strcmp(f[0], "SubAfter") == 0) {
        if (strcmp(f[2], msg_id) != 0 || parse_i64(f[3], &cost))
            return;
        v.success = strcmp(f[4], "true") == 0;
        if (n >= 9) {
            if (parse_i64(f[7], &v.ts))
                return;
            snprintf(v.group, sizeof v.group, "%s", f[8]);
        } else {  /* older writers: Java shows the time of reading and a null group */
            v.ts = cm_now_ms();
            snprintf(v.group, sizeof v.group, "null");
        }
    } else {
        return;
    }
    v.cost = (long)cost;
    add_view(vs, &v);
}

/* getBornHostString: the address without the port ("ip:port", "[v6]:port" or "v6:port"). */
static void host_only(const char *hostport, char *out, size_t n)
{
    snprintf(out, n, "%s", hostport + (hostport[0] == '['));
    char *colon = strrchr(out, ':');
    if (colon)
        *colon = 0;
    size_t len = strlen(out);
    if (len && out[len - 1] == ']')
        out[len - 1] = 0;
}

/* Java's MQAdminImpl key query keeps a message only if one of its space-separated KEYS is key. */
static int has_key(const char *keys, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = keys; p && *p;) {
        size_t n = strcspn(p, " ");
        if (n == kl && memcmp(p, key, n) == 0)
            return 1;
        p += n;
        p += *p == ' ';
    }
    return 0;
}

static void decode_message(const lc_message_ext_t *m, const char *msg_id, views_t *vs)
{
    if (!has_key(m->keys, msg_id) || !m->body_len)
        return;
    char *body = malloc(m->body_len + 1), ip[64];
    if (!body)
        return;
    memcpy(body, m->body, m->body_len);
    body[m->body_len] = 0;
    host_only(m->born_host, ip, sizeof ip);
    for (char *p = body; *p;) {
        char *e = strchr(p, '\002');
        if (e)
            *e = 0;
        decode_record(p, msg_id, ip, vs);
        if (!e)
            break;
        p = e + 1;
    }
    free(body);
}

/* QUERY_MESSAGE for key on one broker; its matching records go to vs. */
static int query_broker(const char *addr, const char *topic, const char *msg_id, views_t *vs)
{
    rm_cmd_t req, resp;
    char end[32];
    snprintf(end, sizeof end, "%lld", (long long)cm_now_ms());
    rm_cmd_init(&req, 12);
    if (rm_ext_set(&req, "topic", topic) || rm_ext_set(&req, "key", msg_id) || rm_ext_set(&req, "maxNum", "64") ||
        rm_ext_set(&req, "beginTimestamp", "0") || rm_ext_set(&req, "endTimestamp", end) ||
        rm_ext_set(&req, "_UNIQUE_KEY_QUERY", "false")) {
        rm_cmd_free(&req);
        return -1;
    }
    int rc = ma_rpc(addr, &req, &resp);
    rm_cmd_free(&req);
    if (rc)
        return -1;
    if (resp.code != RC_SUCCESS) {
        int none = resp.code == 22; /* QUERY_NOT_FOUND: this broker has none */
        if (!none)
            fprintf(stderr, "mqadmin: %s: CODE: %d DESC: %s\n", addr, resp.code, lc_resp_remark(&resp));
        rm_cmd_free(&resp);
        return none ? 0 : -1;
    }
    lc_message_ext_t **msgs = NULL;
    size_t n = 0;
    if (lc_decode_records(resp.body, resp.body_len, NULL, NULL, 0, &msgs, &n) == LC_OK)
        for (size_t i = 0; i < n; i++)
            decode_message(msgs[i], msg_id, vs);
    lc_free_msgs(msgs, n);
    rm_cmd_free(&resp);
    return 0;
}

static void print_row(const char *type, const view_t *v)
{
    char when[32], cost[32];
    ma_date_time(v->ts, when, sizeof when);
    snprintf(cost, sizeof cost, "%ldms", v->cost);
    printf("%-10s %-20s %-20s %-20s %-10s %-10s\n", type, v->group, v->client_host, when, cost,
           v->success ? "success" : "failed");
}

static void print_views(const views_t *vs)
{
    for (size_t i = 0; i < vs->n; i++) {
        if (!vs->v[i].pub)
            continue;
        printf("%-10s %-20s %-20s %-20s %-10s %-10s\n", "#Type", "#ProducerGroup", "#ClientHost", "#SendTime",
               "#CostTimes", "#Status");
        print_row("Pub", &vs->v[i]);
        printf("\n");
    }
    /* consumer groups in the order first seen, each with all its SubAfter rows */
    for (size_t i = 0; i < vs->n; i++) {
        const view_t *g = &vs->v[i];
        int first = !g->pub;
        for (size_t j = 0; first && j < i; j++)
            first = vs->v[j].pub || strcmp(vs->v[j].group, g->group) != 0;
        if (!first)
            continue;
        printf("%-10s %-20s %-20s %-20s %-10s %-10s\n", "#Type", "#ConsumerGroup", "#ClientHost", "#ConsumerTime",
               "#CostTimes", "#Status");
        for (size_t j = i; j < vs->n; j++)
            if (!vs->v[j].pub && strcmp(vs->v[j].group, g->group) == 0)
                print_row("Sub", &vs->v[j]);
        printf("\n");
    }
}

int cmd_query_msg_trace_by_id(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:t:i:h", v) || !v['i'] || v['h']) {
        fprintf(stderr, "usage: mqadmin queryMsgTraceById -i msgId [-t traceTopic] [-n namesrvAddr]\n");
        return 2;
    }
    char id[LC_MAX_ID * 2];
    snprintf(id, sizeof id, "%s", v['i']);
    for (size_t n = strlen(id); n && (id[n - 1] == ' ' || id[n - 1] == '\t'); n--) /* Java trims */
        id[n - 1] = 0;
    const char *msg_id = id + strspn(id, " \t");
    const char *topic = v['t'] ? v['t'] : LC_TRACE_TOPIC_DEFAULT;
    const char *ns = ma_namesrv(v['n']);
    char addrs[MAX_BROKERS][128];
    int nb = ns ? ma_topic_masters(ns, topic, addrs, NULL, MAX_BROKERS) : -1;
    if (nb < 0)
        return 1;
    views_t vs = {0};
    int failed = 0;
    for (int i = 0; i < nb; i++)
        failed += query_broker(addrs[i], topic, msg_id, &vs) != 0;
    print_views(&vs);
    free(vs.v);
    return failed && failed == nb ? 1 : 0;
}
