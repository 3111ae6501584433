/* mqadmin: RocketMQ's admin command line, the subcommands Loulan has so far, with RocketMQ's
 * flags and output lines. `mqadmin` alone lists them; `mqadmin help CMD` explains one.
 * Name server from -n or NAMESRV_ADDR. Every error is one line on stderr and exit status 1. */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/common.h"
#include "loulan/client.h"
#include "remoting/remoting.h"

#define TIMEOUT_MS 5000

typedef struct cmd {
    const char *name, *help, *usage;
    int (*run)(int argc, char **argv);
} cmd_t;

/* ---- one blocking call over a private loop ---- */

typedef struct call { int done, status; rm_cmd_t resp; } call_t;

static void on_resp(int status, rm_cmd_t *resp, void *arg)
{
    call_t *c = arg;
    c->done = 1;
    c->status = status;
    if (resp) {
        c->resp = *resp;
        memset(resp, 0, sizeof *resp); /* take ownership of its strings */
        rm_cmd_own_body(&c->resp);
    }
}

static const rm_endpoint_t k_ep = {.name = "mqadmin"};

/* Send req to addr and wait; 0 with *resp filled (caller frees), or an error after a message. */
static int rpc(const char *addr, rm_cmd_t *req, rm_cmd_t *resp)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rm_conn_t *conn = NULL;
    call_t c = {0};
    int rc = rm_conn_connect(&loop, addr, &k_ep, &conn);
    if (rc == 0) {
        rm_conn_ref(conn); /* ours: a failed connect closes and releases the library's own */
        rc = rm_conn_invoke(conn, req, TIMEOUT_MS, on_resp, &c);
    }
    uint64_t end = cm_mono_ms() + TIMEOUT_MS + 1000;
    while (rc == 0 && !c.done && cm_mono_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
    if (conn)
        rm_conn_close(conn);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (conn)
        rm_conn_unref(conn);
    uv_loop_close(&loop);
    if (rc || !c.done || c.status) {
        fprintf(stderr, "mqadmin: no answer from %s (%s)\n", addr,
                c.status == RM_ETIMEOUT ? "timeout" : "connection failed");
        rm_cmd_free(&c.resp);
        return -1;
    }
    *resp = c.resp;
    return 0;
}

static const char *namesrv(const char *opt)
{
    const char *ns = opt ? opt : getenv("NAMESRV_ADDR");
    if (!ns || !*ns) {
        fprintf(stderr, "mqadmin: no name server address: use -n host:port or NAMESRV_ADDR\n");
        return NULL;
    }
    static char first[256]; /* "a;b": ask the first one */
    snprintf(first, sizeof first, "%s", ns);
    first[strcspn(first, ";")] = 0;
    return first;
}

/* Send req to addr and require SUCCESS: 0 with *resp (caller frees), else -1 after one line
 * on stderr (RocketMQ's remarks may carry a second "See http://...faq" line: not printed). */
static int rpc_ok(const char *addr, rm_cmd_t *req, rm_cmd_t *resp)
{
    if (rpc(addr, req, resp))
        return -1;
    if (resp->code == RC_SUCCESS)
        return 0;
    const char *r = resp->remark ? resp->remark : "";
    fprintf(stderr, "mqadmin: CODE: %d DESC: %.*s\n", resp->code, (int)strcspn(r, "\n"), r);
    rm_cmd_free(resp);
    return -1;
}

/* Call and require SUCCESS; the body is parsed as JSON into *json when asked. */
static int call_ok(const char *addr, rm_cmd_t *req, lj_val_t **json)
{
    rm_cmd_t resp;
    if (rpc_ok(addr, req, &resp))
        return -1;
    int rc = 0;
    if (json && lj_parse((const char *)resp.body, resp.body_len, json) != 0) {
        fprintf(stderr, "mqadmin: unreadable answer from %s\n", addr);
        rc = -1;
    }
    rm_cmd_free(&resp);
    return rc;
}

/* One request: the code, then header fields as key, value pairs (a NULL value is left out)
 * ending with NULL; as call_ok. */
static void add_fields(rm_cmd_t *req, va_list ap)
{
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        if (v)
            rm_ext_set(req, k, v);
    }
}

static int call_fields(const char *addr, lj_val_t **json, int code, ...)
{
    rm_cmd_t req;
    rm_cmd_init(&req, code);
    va_list ap;
    va_start(ap, code);
    add_fields(&req, ap);
    va_end(ap);
    int rc = call_ok(addr, &req, json);
    rm_cmd_free(&req);
    return rc;
}

/* ---- subcommands ---- */

static int parse(int argc, char **argv, const char *spec, const char **vals /* indexed by char */)
{
    int o;
    optind = 1;
    while ((o = getopt(argc, argv, spec)) != -1) {
        if (o == '?' || o == ':')
            return -1;
        vals[o] = optarg ? optarg : "true";
    }
    return 0;
}

static int topic_list(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:c", v))
        return 2;
    const char *ns = namesrv(v['n']);
    lj_val_t *body = NULL;
    int rc = ns ? call_fields(ns, &body, 206, NULL) : -1;
    const lj_val_t *list = lj_get(body, "topicList");
    for (size_t i = 0; rc == 0 && list && i < list->n; i++)
        printf("%s\n", lj_str(list->items[i], ""));
    lj_free(body);
    return rc ? 1 : 0;
}

/* GET_ROUTEINFO_BY_TOPIC from the name server into *route (caller frees). */
static int fetch_route(const char *ns, const char *topic, lj_val_t **route)
{
    int rc = ns ? call_fields(ns, route, 105, "topic", topic, NULL) : -1;
    return rc;
}

static int topic_route(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:t:", v) || !v['t']) {
        fprintf(stderr, "mqadmin: topicRoute needs -t topic\n");
        return 2;
    }
    lj_val_t *body = NULL;
    int rc = fetch_route(namesrv(v['n']), v['t'], &body);
    if (rc == 0) {
        cm_buf_t b;
        cm_buf_init(&b);
        lj_write(body, LJ_W_STRICT, &b);
        printf("%s\n", b.data);
        cm_buf_free(&b);
    }
    lj_free(body);
    return rc ? 1 : 0;
}

/* Master (id 0) addresses of a cluster's brokers, from GET_BROKER_CLUSTER_INFO. */
/* Master addresses of the brokers of `cluster` (NULL: of every cluster). */
static int cluster_masters(const char *ns, const char *cluster, char addrs[][128], int max)
{
    rm_cmd_t req;
    rm_cmd_init(&req, 106);
    lj_val_t *info = NULL;
    int n = 0;
    if (call_ok(ns, &req, &info) == 0) {
        const lj_val_t *clusters = lj_get(info, "clusterAddrTable");
        for (size_t c = 0; clusters && clusters->type == LJ_OBJ && c < clusters->n; c++) {
            if (cluster && strcmp(clusters->members[c].key->s, cluster) != 0)
                continue;
            const lj_val_t *names = clusters->members[c].val;
            for (size_t i = 0; names && i < names->n && n < max; i++) {
                const lj_val_t *bd = lj_get(lj_get(info, "brokerAddrTable"), lj_str(names->items[i], ""));
                const char *a = lj_get_str(lj_get(bd, "brokerAddrs"), "0", NULL);
                if (a)
                    snprintf(addrs[n++], 128, "%s", a);
            }
        }
        if (!n)
            fprintf(stderr, "mqadmin: cluster %s has no brokers\n", cluster ? cluster : "(any)");
    }
    rm_cmd_free(&req);
    lj_free(info);
    return n;
}

static const char *perm_string(int perm)
{
    static char s[4];
    s[0] = perm & 4 ? 'R' : '-';
    s[1] = perm & 2 ? 'W' : '-';
    s[2] = perm & 1 ? 'X' : '-';
    s[3] = 0;
    return s;
}

/* UPDATE_AND_CREATE_TOPIC (17) to one broker. */
static int put_topic(const char *addr, const char *topic, int r, int w, int perm, int sysFlag, int order)
{
    char rs[16], ws[16], ps[16], fs[16];
    snprintf(rs, sizeof rs, "%d", r);
    snprintf(ws, sizeof ws, "%d", w);
    snprintf(ps, sizeof ps, "%d", perm);
    snprintf(fs, sizeof fs, "%d", sysFlag);
    return call_fields(addr, NULL, 17, "topic", topic, "defaultTopic", "TBW102", "readQueueNums", rs, "writeQueueNums",
                       ws, "perm", ps, "topicFilterType", "SINGLE_TAG", "topicSysFlag", fs, "order",
                       order ? "true" : "false", NULL);
}

/* Java's TopicConfig.toString(), then `end`. */
static void print_topic_config(const char *topic, int r, int w, int perm, int sysFlag, int order, const char *end)
{
    printf("TopicConfig [topicName=%s, readQueueNums=%d, writeQueueNums=%d, perm=%s, topicFilterType=SINGLE_TAG, "
           "topicSysFlag=%d, order=%s]%s", topic, r, w, perm_string(perm), sysFlag, order ? "true" : "false", end);
}

static int update_topic(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:t:b:c:r:w:p:o:u:s:", v) || !v['t'] || (!v['b'] && !v['c'])) {
        fprintf(stderr, "mqadmin: updateTopic needs -t topic and -b brokerAddr or -c clusterName\n");
        return 2;
    }
    int32_t r = 8, w = 8, perm = 6;
    if ((v['r'] && cm_parse_i32(v['r'], &r)) || (v['w'] && cm_parse_i32(v['w'], &w)) || (v['p'] && cm_parse_i32(v['p'], &perm))) {
        fprintf(stderr, "mqadmin: -r, -w and -p take numbers\n");
        return 2;
    }
    char addrs[64][128];
    int n = 0;
    if (v['b'])
        snprintf(addrs[n++], 128, "%s", v['b']);
    else {
        const char *ns = namesrv(v['n']);
        if (!ns || (n = cluster_masters(ns, v['c'], addrs, 64)) == 0)
            return 1;
    }
    int order = v['o'] && strcmp(v['o'], "true") == 0;
    for (int i = 0; i < n; i++) {
        if (put_topic(addrs[i], v['t'], r, w, perm, 0, order))
            return 1;
        printf("create topic to %s success.\n", addrs[i]);
    }
    print_topic_config(v['t'], r, w, perm, 0, order, "\n");
    return 0;
}

/* updateTopicPerm: the topic's queue counts from its route, the new permission to its masters. */
static int update_topic_perm(int argc, char **argv)
{
    const char *v[128] = {0};
    int32_t perm;
    if (parse(argc, argv, "n:t:b:c:p:", v) || !v['t'] || !v['p'] || (!v['b'] && !v['c']) || cm_parse_i32(v['p'], &perm)) {
        fprintf(stderr, "mqadmin: updateTopicPerm needs -t topic -p perm (2|4|6) and -b brokerAddr or -c clusterName\n");
        return 2;
    }
    const char *ns = namesrv(v['n']);
    lj_val_t *route = NULL;
    if (!ns || fetch_route(ns, v['t'], &route) != 0)
        return 1;
    const lj_val_t *qd = lj_get(route, "queueDatas"), *bds = lj_get(route, "brokerDatas");
    const lj_val_t *q0 = qd && qd->n ? qd->items[0] : NULL;
    int r = (int)lj_get_int(q0, "readQueueNums", 0), w = (int)lj_get_int(q0, "writeQueueNums", 0);
    int sysFlag = (int)lj_get_int(q0, "topicSysFlag", 0), oldPerm = (int)lj_get_int(q0, "perm", 0), rc = 0;
    char addrs[64][128];
    int n = 0;
    if (v['b']) { /* as RocketMQ: -b must be the master of a broker that serves the topic */
        const char *name = NULL;
        for (size_t i = 0; !name && bds && i < bds->n; i++)
            if (!strcmp(lj_get_str(lj_get(bds->items[i], "brokerAddrs"), "0", ""), v['b']))
                name = lj_get_str(bds->items[i], "brokerName", NULL);
        for (size_t i = 0; name && qd && i < qd->n; i++)
            if (!strcmp(lj_get_str(qd->items[i], "brokerName", ""), name))
                oldPerm = (int)lj_get_int(qd->items[i], "perm", 0);
        if (!name)
            printf("updateTopicPerm error broker not exit or broker is not master!.\n");
        else if (perm == oldPerm)
            printf("new perm equals to the old one!\n");
        else if ((rc = put_topic(v['b'], v['t'], r, w, perm, sysFlag, 0)) == 0) {
            printf("update topic perm from %d to %d in %s success.\n", oldPerm, perm, v['b']);
            print_topic_config(v['t'], r, w, perm, sysFlag, 0, ".\n");
        }
    } else if ((n = cluster_masters(ns, v['c'], addrs, 64)) > 0) {
        for (int i = 0; i < n && !rc; i++)
            if ((rc = put_topic(addrs[i], v['t'], r, w, perm, sysFlag, 0)) == 0)
                printf("update topic perm from %d to %d in %s success.\n", oldPerm, perm, addrs[i]);
    }
    lj_free(route);
    return rc || (v['c'] && n == 0) ? 1 : 0;
}

static int delete_topic(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:t:c:", v) || !v['t'] || !v['c']) {
        fprintf(stderr, "mqadmin: deleteTopic needs -t topic and -c clusterName\n");
        return 2;
    }
    const char *ns = namesrv(v['n']);
    char addrs[64][128];
    int n = ns ? cluster_masters(ns, v['c'], addrs, 64) : 0;
    if (n == 0)
        return 1;
    for (int i = 0; i < n; i++) {
        int rc = call_fields(addrs[i], NULL, 215, "topic", v['t'], NULL);
        if (rc)
            return 1;
    }
    int rc = call_fields(ns, NULL, 216, "topic", v['t'], NULL);
    if (rc)
        return 1;
    printf("delete topic [%s] from cluster [%s] success.\n", v['t'], v['c']);
    printf("delete topic [%s] from NameServer success.\n", v['t']);
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static double first_number(const char *s) { return s ? atof(s) : 0; }

/* One row per broker address: RocketMQ 4.9's column layout and value formats. */
static void cluster_row(const char *cluster, const char *broker, const char *id, const char *addr)
{
    rm_cmd_t req;
    rm_cmd_init(&req, 28);
    lj_val_t *info = NULL;
    int ok = call_ok(addr, &req, &info) == 0;
    rm_cmd_free(&req);
    const lj_val_t *t = lj_get(info, "table");
    char in[64], out[64], hour[32], space[32];
    snprintf(in, sizeof in, "%9.2f(%s,%sms)", first_number(lj_get_str(t, "putTps", "0")),
             lj_get_str(t, "sendThreadPoolQueueSize", "0"), lj_get_str(t, "sendThreadPoolQueueHeadWaitTimeMills", "0"));
    snprintf(out, sizeof out, "%9.2f(%s,%sms)", first_number(lj_get_str(t, "getTransferedTps", "0")),
             lj_get_str(t, "pullThreadPoolQueueSize", "0"), lj_get_str(t, "pullThreadPoolQueueHeadWaitTimeMills", "0"));
    int64_t earliest = lj_get_int(t, "earliestMessageTimeStamp", -1);
    snprintf(hour, sizeof hour, "%2.2f", earliest > 0 ? (double)(cm_now_ms() - earliest) / 3600.0 / 1000.0 : 0.0);
    snprintf(space, sizeof space, "%.4f", first_number(lj_get_str(t, "commitLogDiskRatio", "0")));
    printf("%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s\n", cluster, broker, id, addr,
           ok ? lj_get_str(t, "brokerVersionDesc", "") : "", in, out, lj_get_str(t, "pageCacheLockTimeMills", "0"), hour, space);
    lj_free(info);
}

/* clusterList -m: yesterday's and today's message totals from the runtime info's "morning"
 * counters, as RocketMQ 4.9's printClusterMoreStats. */
static void cluster_more_row(const char *cluster, const char *broker, const char *addr)
{
    rm_cmd_t req;
    rm_cmd_init(&req, 28);
    lj_val_t *info = NULL;
    call_ok(addr, &req, &info);
    rm_cmd_free(&req);
    const lj_val_t *t = lj_get(info, "table");
#define RT(k) strtoll(lj_get_str(t, k, "0"), NULL, 10)
    long long inYest = RT("msgPutTotalTodayMorning") - RT("msgPutTotalYesterdayMorning");
    long long outYest = RT("msgGetTotalTodayMorning") - RT("msgGetTotalYesterdayMorning");
    long long inToday = RT("msgPutTotalTodayNow") - RT("msgPutTotalTodayMorning");
    long long outToday = RT("msgGetTotalTodayNow") - RT("msgGetTotalTodayMorning");
#undef RT
    printf("%-16s  %-32s %14lld %14lld %14lld %14lld\n", cluster, broker, inYest, outYest, inToday, outToday);
    lj_free(info);
}

static int cluster_list(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:c:mi:", v))
        return 2;
    const char *ns = namesrv(v['n']);
    lj_val_t *info = NULL;
    int rc = ns ? call_fields(ns, &info, 106, NULL) : -1;
    if (rc)
        return 1;
    int more = v['m'] != NULL;
    if (more)
        printf("%-16s  %-32s %14s %14s %14s %14s\n", "#Cluster Name", "#Broker Name", "#InTotalYest",
               "#OutTotalYest", "#InTotalToday", "#OutTotalToday");
    else
        printf("%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s\n", "#Cluster Name", "#Broker Name", "#BID",
               "#Addr", "#Version", "#InTPS(LOAD)", "#OutTPS(LOAD)", "#PCWait(ms)", "#Hour", "#SPACE");
    const lj_val_t *clusters = lj_get(info, "clusterAddrTable");
    for (size_t i = 0; clusters && i < clusters->n; i++) {
        const char *cluster = clusters->members[i].key->s;
        if (v['c'] && strcmp(v['c'], cluster) != 0)
            continue;
        const lj_val_t *names = clusters->members[i].val;
        const char **sorted = calloc(names->n + 1, sizeof *sorted);
        for (size_t j = 0; j < names->n; j++)
            sorted[j] = lj_str(names->items[j], "");
        qsort(sorted, names->n, sizeof *sorted, cmp_str);
        for (size_t j = 0; j < names->n; j++) {
            const lj_val_t *addrs = lj_get(lj_get(lj_get(info, "brokerAddrTable"), sorted[j]), "brokerAddrs");
            for (size_t k = 0; addrs && k < addrs->n; k++) {
                if (more)
                    cluster_more_row(cluster, sorted[j], lj_str(addrs->members[k].val, ""));
                else
                    cluster_row(cluster, sorted[j], addrs->members[k].key->s, lj_str(addrs->members[k].val, ""));
            }
        }
        free(sorted);
    }
    lj_free(info);
    return 0;
}

/* Masters of the brokers serving a topic (from its route); returns how many. */
static int topic_masters(const char *ns, const char *topic, char addrs[][128], char names[][128], int max)
{
    lj_val_t *route = NULL;
    int n = 0;
    if (fetch_route(ns, topic, &route) != 0)
        return -1;
    const lj_val_t *bds = lj_get(route, "brokerDatas");
    for (size_t i = 0; bds && i < bds->n && n < max; i++) {
        const char *a = lj_get_str(lj_get(bds->items[i], "brokerAddrs"), "0", NULL);
        if (!a)
            continue;
        snprintf(addrs[n], 128, "%s", a);
        if (names)
            snprintf(names[n], 128, "%s", lj_get_str(bds->items[i], "brokerName", ""));
        n++;
    }
    lj_free(route);
    return n;
}

/* One queue's figures from an answer's offsetTable ({MessageQueue: {...}} as fastjson writes). */
typedef struct mqrow { char topic[256], broker[128]; int qid; int64_t v[3]; } mqrow_t;

/* Append the rows of tab; v[i] is the member named f[i] of each value. */
static void collect_rows(const lj_val_t *tab, const char *const f[3], mqrow_t **rows, size_t *n)
{
    for (size_t j = 0; tab && j < tab->n; j++) {
        mqrow_t *r = realloc(*rows, (*n + 1) * sizeof *r);
        if (!r)
            return;
        *rows = r;
        r += *n;
        const lj_val_t *mq = tab->members[j].key, *val = tab->members[j].val;
        snprintf(r->topic, sizeof r->topic, "%s", lj_get_str(mq, "topic", ""));
        snprintf(r->broker, sizeof r->broker, "%s", lj_get_str(mq, "brokerName", ""));
        r->qid = (int)lj_get_int(mq, "queueId", 0);
        for (int k = 0; k < 3; k++)
            r->v[k] = lj_get_int(val, f[k], 0);
        (*n)++;
    }
}

static int cmp_mqrow(const void *a, const void *b)
{
    const mqrow_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (!c)
        c = strcmp(x->broker, y->broker);
    return c ? c : x->qid - y->qid;
}

/* yyyy-MM-dd HH:mm:ss,SSS in local time, RocketMQ's timeMillisToHumanString2. */
static void human_time(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    snprintf(out, n, "%04d-%02d-%02d %02d:%02d:%02d,%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static int topic_status(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:t:c:", v) || !v['t']) {
        fprintf(stderr, "mqadmin: topicStatus needs -t topic\n");
        return 2;
    }
    char addrs[16][128];
    const char *ns = namesrv(v['n']);
    int nb = ns ? topic_masters(ns, v['t'], addrs, NULL, 16) : -1, rc = nb < 0 ? -1 : 0;
    if (rc)
        return 1;
    mqrow_t *rows = NULL;
    size_t n = 0;
    for (int i = 0; i < nb && rc == 0; i++) {
        rm_cmd_t req;
        rm_cmd_init(&req, 202);
        rm_ext_set(&req, "topic", v['t']);
        lj_val_t *stats = NULL;
        rc = call_ok(addrs[i], &req, &stats);
        rm_cmd_free(&req);
        static const char *const f[3] = {"minOffset", "maxOffset", "lastUpdateTimestamp"};
        collect_rows(lj_get(stats, "offsetTable"), f, &rows, &n);
        lj_free(stats);
    }
    if (rc == 0) {
        qsort(rows, n, sizeof *rows, cmp_mqrow);
        printf("%-32s  %-4s  %-20s  %-20s    %s\n", "#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated");
        for (size_t i = 0; i < n; i++) {
            char when[40] = "";
            if (rows[i].v[2] > 0)
                human_time(rows[i].v[2], when, sizeof when);
            printf("%-32s  %-4d  %-20lld  %-20lld    %s\n", rows[i].broker, rows[i].qid, (long long)rows[i].v[0],
                   (long long)rows[i].v[1], when);
        }
    }
    free(rows);
    return rc ? 1 : 0;
}


/* ---- groups, connections, progress ---- */

/* MQVersion.getVersionDesc: the enum's name for an ordinal (4.x and 5.x releases). */
static const char *version_desc(int64_t v)
{
    static char s[32];
    int base = v >= 412 ? 412 : 212, major = v >= 412 ? 5 : 4;
    if (v < 212 || v >= 412 + 200)
        return v < 212 ? "V3_x" : "HIGHER_VERSION";
    int k = (int)(v - base) / 2, snap = (int)(v - base) % 2 == 0;
    snprintf(s, sizeof s, "V%d_%d_%d%s", major, k / 10, k % 10, snap ? "_SNAPSHOT" : "");
    return s;
}

static const char *front(const char *s, int n)
{
    static char b[2][256];
    static int i;
    i ^= 1;
    snprintf(b[i], sizeof b[i], "%.*s", n, s);
    return b[i];
}

static int connection_list(const char *addr, int code, const char *key, const char *group, const char *topic,
                           lj_val_t **out);
static lj_val_t *running_info(const char *addr, const char *group, const char *clientId, int jstack);

/* consumerProgress -s true: the running info of every client of the group (NULL-terminated). */
static lj_val_t **group_infos(const char *addr, const char *group, lj_val_t **cc)
{
    if (connection_list(addr, 203, "consumerGroup", group, NULL, cc))
        return NULL;
    const lj_val_t *set = lj_get(*cc, "connectionSet");
    lj_val_t **infos = calloc(set ? set->n + 1 : 1, sizeof *infos);
    size_t k = 0;
    for (size_t i = 0; infos && set && i < set->n; i++)
        if ((infos[k] = running_info(addr, group, lj_get_str(set->items[i], "clientId", ""), 0)) != NULL)
            lj_set_str(infos[k++], "clientId", lj_get_str(set->items[i], "clientId", ""));
    return infos;
}

/* The IP part of the client id that holds this queue, or NULL (RocketMQ prints N/A). */
static const char *queue_owner(lj_val_t *const *infos, const mqrow_t *r, char *out, size_t n)
{
    for (size_t i = 0; infos && infos[i]; i++) {
        const lj_val_t *mqs = lj_get(infos[i], "mqTable");
        for (size_t j = 0; mqs && mqs->type == LJ_OBJ && j < mqs->n; j++) {
            const lj_val_t *k = mqs->members[j].key;
            if (!strcmp(lj_get_str(k, "topic", ""), r->topic) && !strcmp(lj_get_str(k, "brokerName", ""), r->broker) &&
                lj_get_int(k, "queueId", -1) == r->qid) {
                const char *id = lj_get_str(infos[i], "clientId", "");
                snprintf(out, n, "%.*s", (int)strcspn(id, "@"), id);
                return out;
            }
        }
    }
    return NULL;
}

static int consumer_progress(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:g:s:", v) || !v['g']) {
        fprintf(stderr, "mqadmin: consumerProgress needs -g groupName\n");
        return 2;
    }
    const char *ns = namesrv(v['n']);
    char retry[300], addrs[16][128];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", v['g']);
    int nb = ns ? topic_masters(ns, retry, addrs, NULL, 16) : -1;
    if (nb == 0)
        fprintf(stderr, "mqadmin: no broker knows the consumer group %s\n", v['g']);
    if (nb <= 0)
        return 1; /* the route lookup said why */
    mqrow_t *rows = NULL;
    size_t n = 0;
    double tps = 0;
    for (int i = 0; i < nb; i++) {
        lj_val_t *st = NULL;
        int rc = call_fields(addrs[i], &st, 208, "consumerGroup", v['g'], NULL);
        if (rc) {
            free(rows);
            return 1;
        }
        tps += lj_double(lj_get(st, "consumeTps"), 0);
        static const char *const f[3] = {"brokerOffset", "consumerOffset", "lastTimestamp"};
        collect_rows(lj_get(st, "offsetTable"), f, &rows, &n);
        lj_free(st);
    }
    qsort(rows, n, sizeof *rows, cmp_mqrow);
    int show_ip = v['s'] && !strcasecmp(v['s'], "true");
    lj_val_t *cc = NULL, **infos = show_ip ? group_infos(addrs[0], v['g'], &cc) : NULL;
    if (show_ip)
        printf("%-64s  %-32s  %-4s  %-20s  %-20s  %-20s %-20s  %s\n", "#Topic", "#Broker Name", "#QID", "#Broker Offset",
               "#Consumer Offset", "#Client IP", "#Diff", "#LastTime");
    else
        printf("%-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s\n", "#Topic", "#Broker Name", "#QID", "#Broker Offset",
               "#Consumer Offset", "#Diff", "#LastTime");
    long long total = 0;
    for (size_t i = 0; i < n; i++) {
        char last[40] = "N/A", ip[128];
        if (rows[i].v[2]) {
            time_t t = (time_t)(rows[i].v[2] / 1000);
            struct tm tm;
            localtime_r(&t, &tm);
            strftime(last, sizeof last, "%Y-%m-%d %H:%M:%S", &tm);
        }
        long long diff = (long long)(rows[i].v[0] - rows[i].v[1]);
        total += diff;
        printf("%-64s  %-32s  %-4d  %-20lld  %-20lld  ", front(rows[i].topic, 64), front(rows[i].broker, 32),
               rows[i].qid, (long long)rows[i].v[0], (long long)rows[i].v[1]);
        if (show_ip) {
            const char *who = queue_owner(infos, &rows[i], ip, sizeof ip);
            printf("%-20s %-20lld  %s\n", who ? who : "N/A", diff, last);
        } else {
            printf("%-20lld  %s\n", diff, last);
        }
    }
    printf("\nConsume TPS: %.2f\nDiff Total: %lld\n", tps, total);
    for (size_t i = 0; infos && infos[i]; i++)
        lj_free(infos[i]);
    free(infos);
    lj_free(cc);
    free(rows);
    return 0;
}

static int connection_list(const char *addr, int code, const char *key, const char *group, const char *topic,
                           lj_val_t **out)
{
    rm_cmd_t req;
    rm_cmd_init(&req, code);
    rm_ext_set(&req, key, group);
    if (topic)
        rm_ext_set(&req, "topic", topic);
    int rc = call_ok(addr, &req, out);
    rm_cmd_free(&req);
    return rc;
}

/* The consumer connections of group -g, from broker -b or the first master of its retry
 * topic (as RocketMQ's examineConsumerConnectionInfo); addr gets the broker asked. */
static int group_connections(const char *const *v, char addr[128], lj_val_t **cc)
{
    char retry[300], addrs[1][128];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", v['g']);
    const char *ns = v['b'] ? NULL : namesrv(v['n']);
    if (v['b'])
        snprintf(addrs[0], 128, "%s", v['b']);
    else if (!ns || topic_masters(ns, retry, addrs, NULL, 1) <= 0)
        return 1; /* the route lookup said why */
    snprintf(addr, 128, "%s", addrs[0]);
    return connection_list(addr, 203, "consumerGroup", v['g'], NULL, cc) ? 1 : 0;
}

static int consumer_connection(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:g:b:", v) || !v['g']) {
        fprintf(stderr, "mqadmin: consumerConnection needs -g consumerGroup\n");
        return 2;
    }
    char addrs[1][128];
    lj_val_t *cc = NULL;
    if (group_connections(v, addrs[0], &cc))
        return 1;
    printf("%-36s %-22s %-10s %s\n", "#ClientId", "#ClientAddr", "#Language", "#Version");
    const lj_val_t *set = lj_get(cc, "connectionSet");
    for (size_t i = 0; set && i < set->n; i++) {
        const lj_val_t *x = set->items[i];
        printf("%-36s %-22s %-10s %s\n", lj_get_str(x, "clientId", ""), lj_get_str(x, "clientAddr", ""),
               lj_get_str(x, "language", ""), version_desc(lj_get_int(x, "version", 0)));
    }
    printf("\nBelow is subscription:\n");
    printf("%-20s %s\n", "#Topic", "#SubExpression");
    const lj_val_t *subs = lj_get(cc, "subscriptionTable");
    for (size_t i = 0; subs && i < subs->n; i++)
        printf("%-20s %s\n", lj_get_str(subs->members[i].val, "topic", ""), lj_get_str(subs->members[i].val, "subString", ""));
    printf("\n");
    printf("ConsumeType: %s\n", lj_get_str(cc, "consumeType", ""));
    printf("MessageModel: %s\n", lj_get_str(cc, "messageModel", ""));
    printf("ConsumeFromWhere: %s\n", lj_get_str(cc, "consumeFromWhere", ""));
    lj_free(cc);
    return 0;
}

/* ---- consumerStatus: GET_CONSUMER_RUNNING_INFO (307), relayed by a broker to each client ---- */

static lj_val_t *running_info(const char *addr, const char *group, const char *clientId, int jstack)
{
    lj_val_t *info = NULL;
    int rc = call_fields(addr, &info, 307, "consumerGroup", group, "clientId", clientId, "jstackEnable", jstack ? "true" : "false", NULL);
    return rc ? NULL : info;
}

/* RocketMQ's timeMillisToHumanString: yyyyMMddHHmmssSSS, local time. */
static const char *java_millis(int64_t ms)
{
    static char b[40];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    snprintf(b, sizeof b, "%04d%02d%02d%02d%02d%02d%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return b;
}

static const lj_val_t *g_sort_tab; /* qsort has no context argument */
static int cmp_mq_member(const void *a, const void *b)
{
    const lj_val_t *x = g_sort_tab->members[*(const size_t *)a].key, *y = g_sort_tab->members[*(const size_t *)b].key;
    int c = strcmp(lj_get_str(x, "topic", ""), lj_get_str(y, "topic", ""));
    if (!c)
        c = strcmp(lj_get_str(x, "brokerName", ""), lj_get_str(y, "brokerName", ""));
    return c ? c : (int)(lj_get_int(x, "queueId", 0) - lj_get_int(y, "queueId", 0));
}

/* The members of an mqTable in MessageQueue order (topic, broker, queue), as Java's TreeMap. */
static size_t *sorted_mqs(const lj_val_t *tab)
{
    size_t n = tab ? tab->n : 0, *ix = calloc(n + 1, sizeof *ix);
    for (size_t i = 0; ix && i < n; i++)
        ix[i] = i;
    if (ix && n) {
        g_sort_tab = tab;
        qsort(ix, n, sizeof *ix, cmp_mq_member);
    }
    return ix;
}

static void pq_string(const lj_val_t *p, cm_buf_t *o)
{
#define PI(k) (long long)lj_get_int(p, k, 0)
#define PB(k) (lj_get_bool(p, k, 0) ? "true" : "false")
    cm_buf_printf(o, "ProcessQueueInfo [commitOffset=%lld, cachedMsgMinOffset=%lld, cachedMsgMaxOffset=%lld, "
                  "cachedMsgCount=%lld, cachedMsgSizeInMiB=%lld, transactionMsgMinOffset=%lld, "
                  "transactionMsgMaxOffset=%lld, transactionMsgCount=%lld, locked=%s, tryUnlockTimes=%lld, ",
                  PI("commitOffset"), PI("cachedMsgMinOffset"), PI("cachedMsgMaxOffset"), PI("cachedMsgCount"),
                  PI("cachedMsgSizeInMiB"), PI("transactionMsgMinOffset"), PI("transactionMsgMaxOffset"),
                  PI("transactionMsgCount"), PB("locked"), PI("tryUnlockTimes"));
    cm_buf_printf(o, "lastLockTimestamp=%s, droped=%s, ", java_millis(PI("lastLockTimestamp")), PB("droped"));
    cm_buf_printf(o, "lastPullTimestamp=%s, ", java_millis(PI("lastPullTimestamp")));
    cm_buf_printf(o, "lastConsumeTimestamp=%s]", java_millis(PI("lastConsumeTimestamp")));
#undef PI
#undef PB
}

/* Java's ConsumerRunningInfo.formatString(). */
static void running_info_text(const lj_val_t *info, cm_buf_t *o)
{
    const lj_val_t *props = lj_get(info, "properties"), *subs = lj_get(info, "subscriptionSet");
    const lj_val_t *mqs = lj_get(info, "mqTable"), *st = lj_get(info, "statusTable");
    cm_buf_printf(o, "#Consumer Properties#\n");
    for (size_t i = 0; props && props->type == LJ_OBJ && i < props->n; i++)
        cm_buf_printf(o, "%-40s: %s\n", props->members[i].key->s, lj_str(props->members[i].val, ""));
    cm_buf_printf(o, "\n\n#Consumer Subscription#\n");
    for (size_t i = 0; subs && subs->type == LJ_ARR && i < subs->n; i++)
        cm_buf_printf(o, "%03zu Topic: %-40s ClassFilter: %-8s SubExpression: %s\n", i + 1,
                      lj_get_str(subs->items[i], "topic", ""),
                      lj_get_bool(subs->items[i], "classFilterMode", 0) ? "true" : "false",
                      lj_get_str(subs->items[i], "subString", ""));
    size_t *ix = sorted_mqs(mqs), n = mqs && ix ? mqs->n : 0;
    cm_buf_printf(o, "\n\n#Consumer Offset#\n%-64s  %-32s  %-4s  %-20s\n", "#Topic", "#Broker Name", "#QID",
                  "#Consumer Offset");
    for (size_t i = 0; i < n; i++) {
        const lj_val_t *k = mqs->members[ix[i]].key;
        cm_buf_printf(o, "%-32s  %-32s  %-4lld  %-20lld\n", lj_get_str(k, "topic", ""), lj_get_str(k, "brokerName", ""),
                      (long long)lj_get_int(k, "queueId", 0), (long long)lj_get_int(mqs->members[ix[i]].val, "commitOffset", 0));
    }
    cm_buf_printf(o, "\n\n#Consumer MQ Detail#\n%-64s  %-32s  %-4s  %-20s\n", "#Topic", "#Broker Name", "#QID",
                  "#ProcessQueueInfo");
    for (size_t i = 0; i < n; i++) {
        const lj_val_t *k = mqs->members[ix[i]].key;
        cm_buf_printf(o, "%-64s  %-32s  %-4lld  ", lj_get_str(k, "topic", ""), lj_get_str(k, "brokerName", ""),
                      (long long)lj_get_int(k, "queueId", 0));
        pq_string(mqs->members[ix[i]].val, o);
        cm_buf_printf(o, "\n");
    }
    free(ix);
    cm_buf_printf(o, "\n\n#Consumer RT&TPS#\n%-64s  %14s %14s %14s %14s %18s %25s\n", "#Topic", "#Pull RT", "#Pull TPS",
                  "#Consume RT", "#ConsumeOK TPS", "#ConsumeFailed TPS", "#ConsumeFailedMsgsInHour");
    for (size_t i = 0; st && st->type == LJ_OBJ && i < st->n; i++) {
        const lj_val_t *x = st->members[i].val;
        cm_buf_printf(o, "%-32s  %14.2f %14.2f %14.2f %14.2f %18.2f %25lld\n", st->members[i].key->s,
                      lj_double(lj_get(x, "pullRT"), 0), lj_double(lj_get(x, "pullTPS"), 0),
                      lj_double(lj_get(x, "consumeRT"), 0), lj_double(lj_get(x, "consumeOKTPS"), 0),
                      lj_double(lj_get(x, "consumeFailedTPS"), 0), (long long)lj_get_int(x, "consumeFailedMsgs", 0));
    }
    const char *js = lj_get_str(info, "jstack", NULL);
    if (js)
        cm_buf_printf(o, "\n\n#Consumer jstack#\n%s", js);
}

/* The consumer's subscriptions as one comparable string (Java compares the TreeSets). */
static void subs_key(const lj_val_t *info, char *out, size_t n)
{
    const lj_val_t *subs = lj_get(info, "subscriptionSet");
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; subs && subs->type == LJ_ARR && i < subs->n && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s@%s;", lj_get_str(subs->items[i], "topic", ""),
                                lj_get_str(subs->items[i], "subString", ""));
}

/* ConsumerRunningInfo.analyzeProcessQueue: queues that look stuck. */
static void analyze_queues(const char *clientId, const lj_val_t *info)
{
    const lj_val_t *props = lj_get(info, "properties"), *mqs = lj_get(info, "mqTable");
    if (strcmp(lj_get_str(props, "PROP_CONSUME_TYPE", ""), "CONSUME_PASSIVELY") != 0)
        return;
    int orderly = strcmp(lj_get_str(props, "PROP_CONSUMEORDERLY", "false"), "true") == 0;
    int64_t now = cm_now_ms();
    for (size_t i = 0; mqs && mqs->type == LJ_OBJ && i < mqs->n; i++) {
        const lj_val_t *k = mqs->members[i].key, *p = mqs->members[i].val;
        char mq[512];
        snprintf(mq, sizeof mq, "MessageQueue [topic=%s, brokerName=%s, queueId=%lld]", lj_get_str(k, "topic", ""),
                 lj_get_str(k, "brokerName", ""), (long long)lj_get_int(k, "queueId", 0));
        if (orderly && !lj_get_bool(p, "locked", 0))
            printf("%s %s can't lock for a while, %lldms\n", clientId, mq,
                   (long long)(now - lj_get_int(p, "lastLockTimestamp", 0)));
        else if (orderly && lj_get_bool(p, "droped", 0) && lj_get_int(p, "tryUnlockTimes", 0) > 0)
            printf("%s %s unlock %lld times, still failed\n", clientId, mq, (long long)lj_get_int(p, "tryUnlockTimes", 0));
        else if (!orderly && now - lj_get_int(p, "lastConsumeTimestamp", 0) > 60000 && lj_get_int(p, "cachedMsgCount", 0) > 0)
            printf("%s %s can't consume for a while, maybe blocked, %lldms\n", clientId, mq,
                   (long long)(now - lj_get_int(p, "lastConsumeTimestamp", 0)));
    }
}

/* Each client's running info into the file <now>/<clientId> (as RocketMQ), then the analysis. */
static int status_all(const char *addr, const char *group, const lj_val_t *set, int jstack)
{
    int64_t now = cm_now_ms();
    char dir[32], first[4096] = "", cur[4096];
    snprintf(dir, sizeof dir, "%lld", (long long)now);
    int same = 1, n = 0, push = 0, old = 0;
    printf("%-10s %-40s %-20s %s\n", "#Index", "#ClientId", "#Version", "#ConsumerRunningInfoFile");
    lj_val_t **infos = calloc(set ? set->n + 1 : 1, sizeof *infos);
    for (size_t i = 0; infos && set && i < set->n; i++) {
        const char *id = lj_get_str(set->items[i], "clientId", "");
        if (!(infos[i] = running_info(addr, group, id, jstack)))
            continue;
        cm_buf_t text;
        cm_buf_init(&text);
        running_info_text(infos[i], &text);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, id);
        cm_mkdirs(dir);
        if (cm_write_file_safe(path, text.data, text.len) != 0)
            fprintf(stderr, "mqadmin: cannot write %s\n", path);
        cm_buf_free(&text);
        printf("%-10d %-40s %-20s %s\n", ++n, id, version_desc(lj_get_int(set->items[i], "version", 0)), path);
        const lj_val_t *props = lj_get(infos[i], "properties");
        push = strcmp(lj_get_str(props, "PROP_CONSUME_TYPE", ""), "CONSUME_PASSIVELY") == 0;
        old = now - strtoll(lj_get_str(props, "PROP_CONSUMER_START_TIMESTAMP", "0"), NULL, 10) > 120000;
        subs_key(infos[i], cur, sizeof cur);
        if (!first[0])
            snprintf(first, sizeof first, "%s", cur);
        else if (strcmp(first, cur) != 0)
            same = 0;
    }
    /* as RocketMQ: the comparison only counts for push consumers started over two minutes ago */
    if (n && (!push || !old))
        same = 1;
    if (n && same) {
        printf("\n\nSame subscription in the same group of consumer");
        printf("\n\nRebalance OK\n");
        for (size_t i = 0; set && i < set->n; i++)
            if (infos[i])
                analyze_queues(lj_get_str(set->items[i], "clientId", ""), infos[i]);
    } else if (n) {
        printf("\n\nWARN: Different subscription in the same group of consumer!!!");
    }
    for (size_t i = 0; infos && set && i < set->n; i++)
        lj_free(infos[i]);
    free(infos);
    return 0;
}

static int consumer_status(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:g:i:b:s", v) || !v['g']) {
        fprintf(stderr, "mqadmin: consumerStatus needs -g consumerGroup\n");
        return 2;
    }
    char addrs[1][128];
    lj_val_t *cc = NULL;
    if (group_connections(v, addrs[0], &cc))
        return 1;
    int rc = 0;
    if (!v['i']) {
        rc = status_all(addrs[0], v['g'], lj_get(cc, "connectionSet"), v['s'] != NULL);
    } else {
        lj_val_t *info = running_info(addrs[0], v['g'], v['i'], v['s'] != NULL);
        cm_buf_t text;
        cm_buf_init(&text);
        if (info) {
            running_info_text(info, &text);
            fwrite(text.data, 1, text.len, stdout);
        }
        cm_buf_free(&text);
        rc = info ? 0 : 1;
        lj_free(info);
    }
    lj_free(cc);
    return rc;
}

static int producer_connection(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:g:t:", v) || !v['g'] || !v['t']) {
        fprintf(stderr, "mqadmin: producerConnection needs -g producerGroup -t topic\n");
        return 2;
    }
    char addrs[16][128];
    const char *ns = namesrv(v['n']);
    int nb = ns ? topic_masters(ns, v['t'], addrs, NULL, 16) : -1;
    if (nb <= 0)
        return 1;
    int k = 1;
    for (int i = 0; i < nb; i++) {
        lj_val_t *pc = NULL;
        if (connection_list(addrs[i], 204, "producerGroup", v['g'], NULL, &pc))
            return 1;
        const lj_val_t *set = lj_get(pc, "connectionSet");
        for (size_t j = 0; set && j < set->n; j++) {
            const lj_val_t *x = set->items[j];
            printf("%04d  %-32s %-22s %-8s %s\n", k++, lj_get_str(x, "clientId", ""), lj_get_str(x, "clientAddr", ""),
                   lj_get_str(x, "language", ""), version_desc(lj_get_int(x, "version", 0)));
        }
        lj_free(pc);
    }
    return 0;
}

static int update_sub_group(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:b:c:g:s:m:d:q:r:i:w:a:", v) || !v['g'] || (!v['b'] && !v['c'])) {
        fprintf(stderr, "mqadmin: updateSubGroup needs -g groupName and -b brokerAddr or -c clusterName\n");
        return 2;
    }
    lj_val_t *g = lj_new_obj();
    lj_set_int(g, "brokerId", v['i'] ? atoll(v['i']) : 0);
    lj_set_bool(g, "consumeBroadcastEnable", v['d'] ? strcmp(v['d'], "true") == 0 : 1);
    lj_set_bool(g, "consumeEnable", v['s'] ? strcmp(v['s'], "true") == 0 : 1);
    lj_set_bool(g, "consumeFromMinEnable", v['m'] ? strcmp(v['m'], "true") == 0 : 1);
    lj_set_str(g, "groupName", v['g']);
    lj_set_bool(g, "notifyConsumerIdsChangedEnable", v['a'] ? strcmp(v['a'], "true") == 0 : 1);
    lj_set_int(g, "retryMaxTimes", v['r'] ? atoll(v['r']) : 16);
    lj_set_int(g, "retryQueueNums", v['q'] ? atoll(v['q']) : 1);
    lj_set_int(g, "whichBrokerWhenConsumeSlowly", v['w'] ? atoll(v['w']) : 1);
    cm_buf_t body;
    cm_buf_init(&body);
    lj_write(g, LJ_W_SORT, &body);
    char addrs[16][128];
    int n = 1;
    if (v['b'])
        snprintf(addrs[0], 128, "%s", v['b']);
    else
        n = cluster_masters(namesrv(v['n']), v['c'], addrs, 16);
    int rc = n > 0 ? 0 : 1;
    for (int i = 0; i < n && rc == 0; i++) {
        rm_cmd_t req;
        rm_cmd_init(&req, 200);
        req.body = (const uint8_t *)body.data;
        req.body_len = body.len;
        rc = call_ok(addrs[i], &req, NULL);
        req.body = NULL;
        rm_cmd_free(&req);
        if (rc == 0)
            printf("create subscription group to %s success.\n", addrs[i]);
    }
    if (rc == 0) /* Java prints SubscriptionGroupConfig.toString() */
        printf("SubscriptionGroupConfig [groupName=%s, consumeEnable=%s, consumeFromMinEnable=%s, "
               "consumeBroadcastEnable=%s, retryQueueNums=%lld, retryMaxTimes=%lld, brokerId=%lld, "
               "whichBrokerWhenConsumeSlowly=%lld, notifyConsumerIdsChangedEnable=%s]",
               v['g'], lj_get_bool(g, "consumeEnable", 1) ? "true" : "false",
               lj_get_bool(g, "consumeFromMinEnable", 1) ? "true" : "false",
               lj_get_bool(g, "consumeBroadcastEnable", 1) ? "true" : "false", (long long)lj_get_int(g, "retryQueueNums", 1),
               (long long)lj_get_int(g, "retryMaxTimes", 16), (long long)lj_get_int(g, "brokerId", 0),
               (long long)lj_get_int(g, "whichBrokerWhenConsumeSlowly", 1),
               lj_get_bool(g, "notifyConsumerIdsChangedEnable", 1) ? "true" : "false");
    lj_free(g);
    cm_buf_free(&body);
    return rc ? 1 : 0;
}

static int delete_sub_group(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:b:c:g:r:", v) || !v['g'] || (!v['b'] && !v['c'])) {
        fprintf(stderr, "mqadmin: deleteSubGroup needs -g groupName and -b brokerAddr or -c clusterName\n");
        return 2;
    }
    char addrs[16][128];
    int n = 1;
    if (v['b'])
        snprintf(addrs[0], 128, "%s", v['b']);
    else
        n = cluster_masters(namesrv(v['n']), v['c'], addrs, 16);
    int rc = n > 0 ? 0 : 1;
    for (int i = 0; i < n && rc == 0; i++) {
        rm_cmd_t req;
        rm_cmd_init(&req, 207);
        rm_ext_set(&req, "groupName", v['g']);
        rm_ext_set(&req, "removeOffset", v['r'] ? v['r'] : "false");
        rc = call_ok(addrs[i], &req, NULL);
        rm_cmd_free(&req);
        if (rc == 0 && v['c'])
            printf("delete subscription group [%s] from broker [%s] in cluster [%s] success.\n", v['g'], addrs[i], v['c']);
        else if (rc == 0)
            printf("delete subscription group [%s] from broker [%s] success.\n", v['g'], addrs[i]);
    }
    return rc ? 1 : 0;
}

/* ---- broker status and config ---- */

static int broker_addrs(const char *const *v, char addrs[][128], int max)
{
    if (v['b']) {
        snprintf(addrs[0], 128, "%s", v['b']);
        return 1;
    }
    const char *ns = namesrv(v['n']);
    return ns ? cluster_masters(ns, v['c'], addrs, max) : 0;
}

static int cmp_member(const void *a, const void *b)
{
    return strcmp(lj_str(((const lj_member_t *)a)->key, ""), lj_str(((const lj_member_t *)b)->key, ""));
}

static int broker_status(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:b:c:", v) || (!v['b'] && !v['c'])) {
        fprintf(stderr, "mqadmin: brokerStatus needs -b brokerAddr or -c clusterName\n");
        return 2;
    }
    char addrs[16][128];
    int n = broker_addrs(v, addrs, 16);
    for (int i = 0; i < n; i++) {
        lj_val_t *kv = NULL;
        int rc = call_fields(addrs[i], &kv, 28, NULL);
        if (rc)
            return 1;
        lj_val_t *tab = (lj_val_t *)lj_get(kv, "table");
        if (tab && tab->type == LJ_OBJ) /* Java prints them through a TreeMap */
            qsort(tab->members, tab->n, sizeof *tab->members, cmp_member);
        for (size_t j = 0; tab && j < tab->n; j++) {
            if (v['c'])
                printf("%-24s %-32s: %s\n", addrs[i], lj_str(tab->members[j].key, ""), lj_str(tab->members[j].val, ""));
            else
                printf("%-32s: %s\n", lj_str(tab->members[j].key, ""), lj_str(tab->members[j].val, ""));
        }
        lj_free(kv);
    }
    return n > 0 ? 0 : 1;
}

static int get_broker_config(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:b:c:", v) || (!v['b'] && !v['c'])) {
        fprintf(stderr, "mqadmin: getBrokerConfig needs -b brokerAddr or -c clusterName\n");
        return 2;
    }
    char addrs[16][128];
    int n = broker_addrs(v, addrs, 16);
    for (int i = 0; i < n; i++) {
        rm_cmd_t req, resp;
        rm_cmd_init(&req, 26);
        int rc = rpc(addrs[i], &req, &resp);
        rm_cmd_free(&req);
        if (rc)
            return 1;
        if (v['b'])
            printf("============%s============\n", addrs[i]);
        else
            printf("============Master: %s============\n", addrs[i]);
        cm_props_t props = {0};
        if (resp.code != 0 || cm_props_parse(&props, (const char *)resp.body, resp.body_len) != 0 || props.n == 0)
            printf("Broker[%s] has no config property!\n", addrs[i]);
        for (size_t j = 0; j < props.n; j++)
            printf("%-50s=  %s\n", props.items[j].key, props.items[j].val);
        printf("\n");
        cm_props_free(&props);
        rm_cmd_free(&resp);
    }
    return n > 0 ? 0 : 1;
}

static int update_broker_config(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:b:c:k:v:", v) || !v['k'] || !v['v'] || (!v['b'] && !v['c'])) {
        fprintf(stderr, "mqadmin: updateBrokerConfig needs -k key -v value and -b brokerAddr or -c clusterName\n");
        return 2;
    }
    char addrs[16][128], body[1200];
    int n = broker_addrs(v, addrs, 16), rc = n > 0 ? 0 : 1;
    snprintf(body, sizeof body, "%s=%s\n", v['k'], v['v']);
    for (int i = 0; i < n && rc == 0; i++) {
        rm_cmd_t req;
        rm_cmd_init(&req, 25);
        req.body = (const uint8_t *)body;
        req.body_len = strlen(body);
        rc = call_ok(addrs[i], &req, NULL);
        req.body = NULL;
        rm_cmd_free(&req);
        if (rc == 0)
            printf("update broker config success, %s\n", addrs[i]);
    }
    return rc ? 1 : 0;
}

/* ---- offsets ---- */

/* INVOKE_BROKER_TO_RESET_OFFSET on every master of the topic (timestamp -1: the max offset),
 * printing RocketMQ's table of the new offsets. */
static int reset_offsets(const char *nsopt, const char *group, const char *topic, int64_t ts, const char *force)
{
    char addrs[16][128], names[16][128], tsText[24];
    const char *ns = namesrv(nsopt);
    int nb = ns ? topic_masters(ns, topic, addrs, names, 16) : -1;
    if (nb <= 0) {
        fprintf(stderr, "mqadmin: topic %s has no route\n", topic);
        return 1;
    }
    snprintf(tsText, sizeof tsText, "%lld", (long long)ts);
    printf("%-40s  %-40s  %-40s\n", "#brokerName", "#queueId", "#offset");
    for (int i = 0; i < nb; i++) {
        lj_val_t *body = NULL;
        if (call_fields(addrs[i], &body, 222, "topic", topic, "group", group, "timestamp", tsText, "isForce", force,
                        NULL))
            return 1;
        const lj_val_t *tab = lj_get(body, "offsetTable");
        for (size_t j = 0; tab && j < tab->n; j++)
            printf("%-40s  %-40lld  %-40lld\n", lj_get_str(tab->members[j].key, "brokerName", names[i]),
                   (long long)lj_get_int(tab->members[j].key, "queueId", 0), (long long)lj_int(tab->members[j].val, 0));
        lj_free(body);
    }
    return 0;
}

static int reset_offset_by_time(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:g:t:s:f:c", v) || !v['g'] || !v['t'] || !v['s']) {
        fprintf(stderr, "mqadmin: resetOffsetByTime needs -g group -t topic -s timestamp (ms, yyyy-MM-dd#HH:mm:ss:SSS or now)\n");
        return 2;
    }
    int64_t ts;
    if (strcmp(v['s'], "now") == 0) {
        ts = cm_now_ms();
    } else if (strchr(v['s'], '#')) {
        struct tm tm = {0};
        int ms = 0;
        if (sscanf(v['s'], "%d-%d-%d#%d:%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                   &tm.tm_sec, &ms) < 6) {
            fprintf(stderr, "mqadmin: bad timestamp %s\n", v['s']);
            return 2;
        }
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        tm.tm_isdst = -1;
        ts = (int64_t)mktime(&tm) * 1000 + ms;
    } else if (cm_parse_i64(v['s'], &ts) != 0) {
        fprintf(stderr, "mqadmin: bad timestamp %s\n", v['s']);
        return 2;
    }
    printf("rollback consumer offset by specified group[%s], topic[%s], force[%s], timestamp(string)[%s], "
           "timestamp(long)[%lld]\n", v['g'], v['t'], v['f'] ? v['f'] : "true", v['s'], (long long)ts);
    return reset_offsets(v['n'], v['g'], v['t'], ts, v['f'] ? v['f'] : "true");
}

/* As RocketMQ's skipAccumulatedMessage: every queue of the group moves to its max offset. */
static int skip_accumulated(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:g:t:f:", v) || !v['g'] || !v['t']) {
        fprintf(stderr, "mqadmin: skipAccumulatedMessage needs -g group -t topic\n");
        return 2;
    }
    return reset_offsets(v['n'], v['g'], v['t'], -1, v['f'] ? v['f'] : "true");
}

/* ---- messages (through Loulan's own client library) ---- */

static lc_producer_t *admin_producer(const char *ns)
{
    lc_producer_t *p;
    char group[64];
    snprintf(group, sizeof group, "TOOLS_CONSUMER_%lld", (long long)cm_now_ms()); /* like Java's admin group names */
    if (lc_producer_create(group, ns, &p) != LC_OK)
        return NULL;
    lc_producer_set_retry_times(p, 0);
    if (lc_producer_start(p) != LC_OK) {
        lc_producer_destroy(p);
        return NULL;
    }
    return p;
}

static int send_message(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:t:p:k:c:b:i:m:", v) || !v['t'] || !v['p']) {
        fprintf(stderr, "mqadmin: sendMessage needs -t topic -p body\n");
        return 2;
    }
    const char *ns = namesrv(v['n']);
    lc_producer_t *p = ns ? admin_producer(ns) : NULL;
    if (!p)
        return 1;
    lc_message_t m = {.topic = v['t'], .tags = v['c'], .keys = v['k'], .body = v['p'], .body_len = strlen(v['p'])};
    lc_send_result_t r;
    lc_mq_t mq = {.queue_id = v['i'] ? atoi(v['i']) : 0};
    snprintf(mq.broker_name, sizeof mq.broker_name, "%s", v['b'] ? v['b'] : "");
    /* as RocketMQ: a chosen queue only when both -b and -i are given */
    int rc = v['b'] && v['i'] ? lc_producer_send_to_queue(p, &m, &mq, &r) : lc_producer_send_sync(p, &m, &r);
    printf("%-32s  %-4s  %-20s    %s\n", "#Broker Name", "#QID", "#Send Result", "#MsgId");
    if (rc == LC_OK) {
        char q[16];
        snprintf(q, sizeof q, "%d", r.mq.queue_id);
        printf("%-32s  %-4s  %-20s    %s\n", r.mq.broker_name, q, lc_send_status_name(r.status), r.msg_id);
    } else {
        printf("%-32s  %-4s  %-20s    %s\n", "Unknown", "Unknown", "Failed", "None");
        fprintf(stderr, "mqadmin: %s\n", r.error[0] ? r.error : lc_strerror(rc));
    }
    lc_send_result_clear(&r);
    lc_producer_destroy(p);
    return rc == LC_OK ? 0 : 1;
}

static int query_msg_by_key(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:t:k:f:", v) || !v['t'] || !v['k']) {
        fprintf(stderr, "mqadmin: queryMsgByKey needs -t topic -k msgKey\n");
        return 2;
    }
    const char *ns = namesrv(v['n']);
    lc_producer_t *p = ns ? admin_producer(ns) : NULL;
    if (!p)
        return 1;
    lc_message_ext_t **msgs = NULL;
    size_t n = 0;
    int rc = lc_producer_query_message(p, v['t'], v['k'], 64, 0, INT64_MAX, &msgs, &n);
    printf("%-50s %4s %40s\n", "#Message ID", "#QID", "#Offset");
    for (size_t i = 0; rc == LC_OK && i < n; i++)
        printf("%-50s %4d %40lld\n", msgs[i]->msg_id, msgs[i]->queue_id, (long long)msgs[i]->queue_offset);
    if (rc != LC_OK && rc != LC_ENOTFOUND)
        fprintf(stderr, "mqadmin: query failed: %s\n", lc_strerror(rc));
    lc_query_result_free(msgs, n);
    lc_producer_destroy(p);
    return rc == LC_OK || rc == LC_ENOTFOUND ? 0 : 1;
}

/* Java's Map.toString: {k=v, k=v} */
static void print_props(const lc_message_ext_t *m)
{
    printf("%-20s {", "Properties:");
    for (size_t i = 0; i < m->nprops; i++)
        printf("%s%s=%s", i ? ", " : "", m->props[i].name, m->props[i].value);
    printf("}\n");
}

/* QueryMsgByIdSubCommand.printMsg's layout; the body goes to /tmp/rocketmq/msgbodys/<id>. */
static void print_msg(const lc_message_ext_t *m, int offset_id)
{
    char born[40], stored[40], path[256];
    human_time(m->born_timestamp, born, sizeof born);
    human_time(m->store_timestamp, stored, sizeof stored);
    snprintf(path, sizeof path, "/tmp/rocketmq/msgbodys/%s", m->msg_id);
    if (cm_mkdirs("/tmp/rocketmq/msgbodys") == 0) {
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(m->body, 1, m->body_len, f);
            fclose(f);
        }
    }
    if (offset_id)
        printf("%-20s %s\n", "OffsetID:", m->offset_msg_id);
    printf("%-20s %s\n", "Topic:", m->topic);
    printf("%-20s [%s]\n", "Tags:", m->tags ? m->tags : "null");
    printf("%-20s [%s]\n", "Keys:", m->keys ? m->keys : "null");
    printf("%-20s %d\n", "Queue ID:", m->queue_id);
    printf("%-20s %lld\n", "Queue Offset:", (long long)m->queue_offset);
    printf("%-20s %lld\n", "CommitLog Offset:", (long long)m->commit_log_offset);
    printf("%-20s %d\n", "Reconsume Times:", m->reconsume_times);
    printf("%-20s %s\n", "Born Timestamp:", born);
    printf("%-20s %s\n", "Store Timestamp:", stored);
    printf("%-20s %s\n", "Born Host:", m->born_host);
    printf("%-20s %s\n", "Store Host:", m->store_host);
    printf("%-20s %d\n", "System Flag:", m->sys_flag);
    print_props(m);
    printf("%-20s %s\n", "Message Body Path:", path);
}

/* One group's track for a message, as RocketMQ's messageTrackDetail: NOT_ONLINE, PULL,
 * CONSUMED, CONSUMED_BUT_FILTERED, NOT_CONSUME_YET or UNKNOWN with the error. */
static void print_track(const char *ns, const lc_message_ext_t *m, const char *group)
{
    char retry[300], addr[1][128], desc[600] = "null";
    const char *type = "UNKNOWN";
    snprintf(retry, sizeof retry, "%%RETRY%%%s", group);
    rm_cmd_t resp;
    lj_val_t *cc = NULL, *st = NULL;
    if (topic_masters(ns, retry, addr, NULL, 1) <= 0) {
        snprintf(desc, sizeof desc, "No topic route info in name server for the topic: %s", retry);
    } else {
        rm_cmd_t req;
        rm_cmd_init(&req, 203);
        rm_ext_set(&req, "consumerGroup", group);
        int rc = rpc(addr[0], &req, &resp);
        rm_cmd_free(&req);
        if (rc) {
            snprintf(desc, sizeof desc, "connect to %s failed", addr[0]);
        } else if (resp.code != RC_SUCCESS) {
            if (resp.code == RC_CONSUMER_NOT_ONLINE)
                type = "NOT_ONLINE";
            snprintf(desc, sizeof desc, "CODE:%d DESC:%s", resp.code, resp.remark ? resp.remark : "");
        } else if (lj_parse((const char *)resp.body, resp.body_len, &cc) == 0 &&
                   !strcmp(lj_get_str(cc, "consumeType", ""), "CONSUME_ACTIVELY")) {
            type = "PULL";
        } else if (cc && call_fields(addr[0], &st, 208, "consumerGroup", group, NULL) == 0) {
            type = "NOT_CONSUME_YET";
            const lj_val_t *tab = lj_get(st, "offsetTable");
            for (size_t i = 0; tab && i < tab->n; i++) {
                const lj_val_t *mq = tab->members[i].key;
                if (!strcmp(lj_get_str(mq, "topic", ""), m->topic) && lj_get_int(mq, "queueId", -1) == m->queue_id &&
                    lj_get_int(tab->members[i].val, "consumerOffset", 0) > m->queue_offset)
                    type = "CONSUMED";
            }
            /* consumed, but its subscription's tags leave this message out */
            const lj_val_t *sub = lj_get(lj_get(cc, "subscriptionTable"), m->topic);
            const lj_val_t *tags = lj_get(sub, "tagsSet");
            int match = !tags || tags->n == 0;
            for (size_t i = 0; tags && i < tags->n; i++)
                match |= !strcmp(lj_str(tags->items[i], ""), "*") || (m->tags && !strcmp(lj_str(tags->items[i], ""), m->tags));
            if (!strcmp(type, "CONSUMED") && sub && !match)
                type = "CONSUMED_BUT_FILTERED";
        }
        if (!rc)
            rm_cmd_free(&resp);
    }
    printf("MessageTrack [consumerGroup=%s, trackType=%s, exceptionDesc=%s]", group, type, desc);
    lj_free(cc);
    lj_free(st);
}

/* The consumer groups of the message's topic (QUERY_TOPIC_CONSUME_BY_WHO) and where each is. */
static void print_tracks(const char *ns, const lc_message_ext_t *m)
{
    char addr[1][128];
    lj_val_t *gl = NULL;
    if (topic_masters(ns, m->topic, addr, NULL, 1) <= 0 || call_fields(addr[0], &gl, 300, "topic", m->topic, NULL))
        return;
    const lj_val_t *groups = lj_get(gl, "groupList");
    if (!groups || groups->n == 0)
        printf("\n\nWARN: No Consumer");
    else
        printf("\n\n");
    for (size_t i = 0; groups && i < groups->n; i++)
        print_track(ns, m, lj_str(groups->items[i], ""));
    lj_free(gl);
}

static int query_msg_by_id(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:i:t:g:d:", v) || !v['i']) {
        fprintf(stderr, "mqadmin: queryMsgById needs -i msgId (offsetMsgId; a UNIQ_KEY msgId also needs -t topic)\n");
        return 2;
    }
    const char *ns = namesrv(v['n']);
    lc_producer_t *p = ns ? admin_producer(ns) : NULL;
    if (!p)
        return 1;
    int rc = 0;
    char ids[2048];
    snprintf(ids, sizeof ids, "%s", v['i']);
    for (char *save = NULL, *id = strtok_r(ids, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
        lc_message_ext_t *m = NULL;
        int r = lc_producer_view_message(p, v['t'] ? v['t'] : "TBW102", id, &m);
        if (r == LC_OK) {
            print_msg(m, 1);
            print_tracks(ns, m);
            lc_message_ext_free(m);
        } else {
            printf("\nMessage not found!");
            rc = 1;
        }
    }
    lc_producer_destroy(p);
    return rc;
}

/* ---- reading messages back (pull consumer) ---- */

static lc_pull_consumer_t *admin_puller(const char *ns)
{
    lc_pull_consumer_t *c;
    char group[64];
    snprintf(group, sizeof group, "TOOLS_CONSUMER_%lld", (long long)cm_now_ms());
    if (lc_pull_consumer_create(group, ns, &c) != LC_OK)
        return NULL;
    if (lc_pull_consumer_start(c) != LC_OK) {
        lc_pull_consumer_destroy(c);
        return NULL;
    }
    return c;
}

static const char *pull_status_name(lc_pull_status_t s)
{
    static const char *n[] = {"FOUND", "NO_NEW_MSG", "NO_MATCHED_MSG", "OFFSET_ILLEGAL"};
    return (unsigned)s < 4 ? n[s] : "?";
}

/* printMsg: every message of a topic (or of a time range) as MSGID: <id> <MessageExt> BODY: <body> */
static int print_messages(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:t:c:s:b:e:d:", v) || !v['t']) {
        fprintf(stderr, "mqadmin: printMsg needs -t topic\n");
        return 2;
    }
    const char *ns = namesrv(v['n']);
    lc_pull_consumer_t *c = ns ? admin_puller(ns) : NULL;
    lc_mq_t *mqs = NULL;
    size_t n = 0;
    if (!c || lc_pull_consumer_fetch_queues(c, v['t'], &mqs, &n) != LC_OK) {
        fprintf(stderr, "mqadmin: topic %s has no route\n", v['t']);
        lc_pull_consumer_destroy(c);
        return 1;
    }
    int printBody = !v['d'] || strcmp(v['d'], "false") != 0;
    for (size_t i = 0; i < n; i++) {
        int64_t min = 0, max = 0;
        lc_pull_consumer_min_offset(c, &mqs[i], &min);
        lc_pull_consumer_max_offset(c, &mqs[i], &max);
        printf("minOffset=%lld, maxOffset=%lld, MessageQueue [topic=%s, brokerName=%s, queueId=%d]\n", (long long)min,
               (long long)max, mqs[i].topic, mqs[i].broker_name, mqs[i].queue_id);
        for (int64_t off = min; off < max;) {
            lc_pull_result_t r;
            if (lc_pull_consumer_pull(c, &mqs[i], v['s'] ? v['s'] : "*", off, 32, 0, &r) != LC_OK)
                break;
            for (size_t k = 0; r.status == LC_PULL_FOUND && k < r.nmsgs; k++) {
                char *txt = lc_message_ext_to_string(r.msgs[k]);
                if (printBody)
                    printf("MSGID: %s %s BODY: %.*s\n", r.msgs[k]->msg_id, txt ? txt : "", (int)r.msgs[k]->body_len,
                           (const char *)r.msgs[k]->body);
                else
                    printf("MSGID: %s %s BODY: NOT PRINT BODY\n", r.msgs[k]->msg_id, txt ? txt : "");
                free(txt);
            }
            /* PrintMessageSubCommand: a line for "no match" and one when the queue ends early */
            int done = r.status == LC_PULL_NO_NEW_MSG || r.status == LC_PULL_OFFSET_ILLEGAL;
            if (r.status == LC_PULL_NO_MATCHED_MSG || done)
                printf("MessageQueue [topic=%s, brokerName=%s, queueId=%d] %s. status=%s, offset=%lld\n", mqs[i].topic,
                       mqs[i].broker_name, mqs[i].queue_id, done ? "print msg finished" : "no matched msg",
                       pull_status_name(r.status), (long long)r.next_begin_offset);
            off = r.next_begin_offset > off ? r.next_begin_offset : max;
            lc_pull_result_free(&r);
            if (done)
                break;
        }
        printf("--------------------------------------------------------\n");
    }
    free(mqs);
    lc_pull_consumer_destroy(c);
    return 0;
}

static int query_msg_by_offset(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:t:b:i:o:", v) || !v['t'] || !v['b'] || !v['i'] || !v['o']) {
        fprintf(stderr, "mqadmin: queryMsgByOffset needs -t topic -b brokerName -i queueId -o offset\n");
        return 2;
    }
    const char *ns = namesrv(v['n']);
    lc_pull_consumer_t *c = ns ? admin_puller(ns) : NULL;
    lc_mq_t *mqs = NULL;
    size_t n = 0;
    if (!c || lc_pull_consumer_fetch_queues(c, v['t'], &mqs, &n) != LC_OK) {
        lc_pull_consumer_destroy(c);
        return 1;
    }
    lc_mq_t mq = {0};
    snprintf(mq.topic, sizeof mq.topic, "%s", v['t']);
    snprintf(mq.broker_name, sizeof mq.broker_name, "%s", v['b']);
    mq.queue_id = atoi(v['i']);
    lc_pull_result_t r;
    int rc = lc_pull_consumer_pull(c, &mq, "*", atoll(v['o']), 1, 0, &r);
    if (rc == LC_OK && r.nmsgs > 0) {
        print_msg(r.msgs[0], 1);
        print_tracks(ns, r.msgs[0]);
    } else
        printf("\nMessage not found!");
    if (rc == LC_OK)
        lc_pull_result_free(&r);
    free(mqs);
    lc_pull_consumer_destroy(c);
    return rc == LC_OK ? 0 : 1;
}


/* consumeMessage: the oldest messages of a topic (or of one queue), "Consume ok" and each as
 * printMsg prints it, without committing anything (ConsumeMessageCommand). */
static int consume_messages(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:t:b:i:o:g:s:e:c:", v) || !v['t'] || (!v['b'] != !v['i'])) {
        fprintf(stderr, "mqadmin: consumeMessage needs -t topic [-b brokerName -i queueId [-o offset]] [-c count]\n");
        return 2;
    }
    const char *ns = namesrv(v['n']);
    lc_pull_consumer_t *c = ns ? admin_puller(ns) : NULL;
    lc_mq_t *mqs = NULL;
    size_t n = 0;
    if (!c || lc_pull_consumer_fetch_queues(c, v['t'], &mqs, &n) != LC_OK) {
        fprintf(stderr, "mqadmin: topic %s has no route\n", v['t']);
        lc_pull_consumer_destroy(c);
        return 1;
    }
    int64_t left = v['c'] ? atoll(v['c']) : 128;
    for (size_t i = 0; i < n && left > 0; i++) {
        if (v['b'] && (strcmp(mqs[i].broker_name, v['b']) != 0 || mqs[i].queue_id != atoi(v['i'])))
            continue;
        int64_t min = 0, max = 0;
        lc_pull_consumer_min_offset(c, &mqs[i], &min);
        lc_pull_consumer_max_offset(c, &mqs[i], &max);
        if (v['o'])
            min = atoll(v['o']);
        if (max - min > left) {
            printf("The older %lld message of the %d queue will be provided\n", (long long)left, mqs[i].queue_id);
            max = min + left;
        }
        left -= max - min;
        for (int64_t off = min; off < max;) {
            lc_pull_result_t r;
            if (lc_pull_consumer_pull(c, &mqs[i], "*", off, (int)(max - off < 32 ? max - off : 32), 0, &r) != LC_OK)
                break;
            if (r.status == LC_PULL_FOUND) {
                printf("Consume ok\n");
                for (size_t k = 0; k < r.nmsgs; k++) {
                    char *txt = lc_message_ext_to_string(r.msgs[k]);
                    printf("MSGID: %s %s BODY: %.*s\n", r.msgs[k]->msg_id, txt ? txt : "", (int)r.msgs[k]->body_len,
                           (const char *)r.msgs[k]->body);
                    free(txt);
                }
            }
            int done = r.status == LC_PULL_NO_NEW_MSG || r.status == LC_PULL_OFFSET_ILLEGAL;
            if (done)
                printf("MessageQueue [topic=%s, brokerName=%s, queueId=%d] print msg finished. status=%s, offset=%lld\n",
                       mqs[i].topic, mqs[i].broker_name, mqs[i].queue_id, pull_status_name(r.status),
                       (long long)r.next_begin_offset);
            off = r.next_begin_offset > off ? r.next_begin_offset : max;
            lc_pull_result_free(&r);
            if (done)
                break;
        }
    }
    free(mqs);
    lc_pull_consumer_destroy(c);
    return 0;
}

/* ---- statsAll ---- */

static int stats_data(const char *addr, const char *name, const char *key, double *tps, int64_t *sum24)
{
    rm_cmd_t req, resp;
    rm_cmd_init(&req, 315);
    rm_ext_set(&req, "statsName", name);
    rm_ext_set(&req, "statsKey", key);
    int rc = rpc(addr, &req, &resp);
    rm_cmd_free(&req);
    lj_val_t *d = NULL;
    if (rc == 0 && resp.code == 0 && lj_parse((const char *)resp.body, resp.body_len, &d) == 0) {
        *tps += lj_double(lj_get(lj_get(d, "statsMinute"), "tps"), 0);
        /* StatsAllSubCommand.compute24HourSum: the day's sum, else the hour's, else the minute's */
        int64_t day = lj_get_int(lj_get(d, "statsDay"), "sum", 0), hour = lj_get_int(lj_get(d, "statsHour"), "sum", 0);
        *sum24 += day ? day : hour ? hour : lj_get_int(lj_get(d, "statsMinute"), "sum", 0);
    }
    lj_free(d);
    if (rc == 0)
        rm_cmd_free(&resp);
    return rc;
}

static void stats_topic(const char *ns, const char *topic, int active)
{
    char addrs[16][128];
    int nb = topic_masters(ns, topic, addrs, NULL, 16);
    double inTps = 0;
    int64_t in24 = 0;
    for (int i = 0; i < nb; i++)
        stats_data(addrs[i], "TOPIC_PUT_NUMS", topic, &inTps, &in24);
    lj_val_t *groups = NULL;
    if (nb > 0) {
        rm_cmd_t req;
        rm_cmd_init(&req, 300);
        rm_ext_set(&req, "topic", topic);
        call_ok(addrs[0], &req, &groups);
        rm_cmd_free(&req);
    }
    const lj_val_t *list = lj_get(groups, "groupList");
    for (size_t g = 0; list && g < list->n; g++) {
        const char *group = lj_str(list->items[g], "");
        char key[600];
        snprintf(key, sizeof key, "%s@%s", topic, group);
        double outTps = 0;
        int64_t out24 = 0, acc = 0;
        for (int i = 0; i < nb; i++) {
            stats_data(addrs[i], "GROUP_GET_NUMS", key, &outTps, &out24);
            rm_cmd_t req;
            rm_cmd_init(&req, 208);
            rm_ext_set(&req, "consumerGroup", group);
            rm_ext_set(&req, "topic", topic);
            lj_val_t *st = NULL;
            if (call_ok(addrs[i], &req, &st) == 0) {
                const lj_val_t *tab = lj_get(st, "offsetTable");
                for (size_t j = 0; tab && j < tab->n; j++)
                    acc += lj_get_int(tab->members[j].val, "brokerOffset", 0) - lj_get_int(tab->members[j].val, "consumerOffset", 0);
            }
            rm_cmd_free(&req);
            lj_free(st);
        }
        if (!active || in24 > 0 || out24 > 0)
            printf("%-64s  %-64s %12lld %11.2f %11.2f %14lld %14lld\n", front(topic, 64), front(group, 64),
                   (long long)(acc < 0 ? 0 : acc), inTps, outTps, (long long)in24, (long long)out24);
    }
    if ((!list || list->n == 0) && (!active || in24 > 0))
        printf("%-64s  %-64s %12d %11.2f %11s %14lld %14s\n", front(topic, 64), "", 0, inTps, "", (long long)in24,
               "NO_CONSUMER");
    lj_free(groups);
}

static int stats_all(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:at:", v))
        return 2;
    const char *ns = namesrv(v['n']);
    lj_val_t *body = NULL;
    int rc = ns ? call_fields(ns, &body, 206, NULL) : -1;
    if (rc)
        return 1;
    printf("%-64s  %-64s %12s %11s %11s %14s %14s\n", "#Topic", "#Consumer Group", "#Accumulation", "#InTPS", "#OutTPS",
           "#InMsg24Hour", "#OutMsg24Hour");
    const lj_val_t *list = lj_get(body, "topicList");
    for (size_t i = 0; list && i < list->n; i++) {
        const char *t = lj_str(list->items[i], "");
        if (!strncmp(t, "%RETRY%", 7) || !strncmp(t, "%DLQ%", 5) || (v['t'] && strcmp(t, v['t']) != 0))
            continue;
        stats_topic(ns, t, v['a'] != NULL);
    }
    lj_free(body);
    return 0;
}

/* ---- broker maintenance and inspection ------------------------------------------------------- */

/* One request with no header to each broker of -b or -c (no -c: every cluster); RocketMQ
 * prints "success" or "false" with no newline. */
static int broker_action(int argc, char **argv, int code)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:b:c:", v))
        return 2;
    char addrs[64][128];
    int n = broker_addrs(v, addrs, 64), ok = n > 0;
    for (int i = 0; i < n; i++) {
        rm_cmd_t req;
        rm_cmd_init(&req, code);
        ok &= call_ok(addrs[i], &req, NULL) == 0;
        rm_cmd_free(&req);
    }
    printf("%s", ok ? "success" : "false");
    return ok ? 0 : 1;
}

static int clean_expired_cq(int argc, char **argv) { return broker_action(argc, argv, 306); }
static int clean_unused_topic(int argc, char **argv) { return broker_action(argc, argv, 316); }
static int delete_expired_commitlog(int argc, char **argv) { return broker_action(argc, argv, 329); }

static int broker_consume_stats(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:b:t:l:o:", v) || !v['b']) {
        fprintf(stderr, "mqadmin: brokerConsumeStats needs -b brokerAddr\n");
        return 2;
    }
    long long level = v['l'] ? atoll(v['l']) : 0;
    lj_val_t *all = NULL;
    int rc = call_fields(v['b'], &all, 317, "isOrder", v['o'] && !strcasecmp(v['o'], "true") ? "true" : "false", "timeoutMillis", v['t'] ? v['t'] : "50000", NULL);
    if (rc)
        return 1;
    printf("%-64s  %-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s\n", "#Topic", "#Group", "#Broker Name", "#QID",
           "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime");
    const lj_val_t *list = lj_get(all, "consumeStatsList");
    for (size_t i = 0; list && i < list->n; i++) {
        const lj_val_t *m = list->items[i];
        for (size_t g = 0; m && m->type == LJ_OBJ && g < m->n; g++) {
            const lj_val_t *arr = m->members[g].val;
            for (size_t k = 0; arr && k < arr->n; k++) {
                mqrow_t *rows = NULL;
                size_t nr = 0;
                static const char *const f[3] = {"brokerOffset", "consumerOffset", "lastTimestamp"};
                collect_rows(lj_get(arr->items[k], "offsetTable"), f, &rows, &nr);
                qsort(rows, nr, sizeof *rows, cmp_mqrow);
                for (size_t r = 0; r < nr; r++) {
                    long long diff = (long long)(rows[r].v[0] - rows[r].v[1]);
                    if (diff < level || rows[r].v[2] <= 0) /* as RocketMQ: queues never consumed are not shown */
                        continue;
                    char last[40];
                    time_t t = (time_t)(rows[r].v[2] / 1000);
                    struct tm tm;
                    localtime_r(&t, &tm);
                    strftime(last, sizeof last, "%Y-%m-%d %H:%M:%S", &tm);
                    printf("%-64s  %-64s  %-32s  %-4d  %-20lld  %-20lld  %-20lld  %s\n", front(rows[r].topic, 64),
                           m->members[g].key->s, front(rows[r].broker, 32), rows[r].qid, (long long)rows[r].v[0],
                           (long long)rows[r].v[1], diff, last);
                }
                free(rows);
            }
        }
    }
    printf("\nDiff Total: %lld\n", (long long)lj_get_int(all, "totalDiff", 0));
    lj_free(all);
    return 0;
}

/* RocketMQ prints the subscription with fastjson's pretty printer (tab indents). */
static void print_pretty(const lj_val_t *o)
{
    printf("{\n");
    for (size_t i = 0; o && o->type == LJ_OBJ && i < o->n; i++) {
        cm_buf_t b;
        cm_buf_init(&b);
        lj_write(o->members[i].val, LJ_W_FASTJSON, &b);
        printf("\t\"%s\":%.*s%s\n", o->members[i].key->s, (int)b.len, b.data, i + 1 < o->n ? "," : "");
        cm_buf_free(&b);
    }
    printf("}");
}

static int query_cq(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:t:q:i:c:b:g:", v) || !v['t'] || !v['q'] || !v['i']) {
        fprintf(stderr, "mqadmin: queryCq needs -t topic -q queueId -i index\n");
        return 2;
    }
    char addrs[1][128];
    const char *ns = v['b'] ? NULL : namesrv(v['n']);
    if (v['b'])
        snprintf(addrs[0], 128, "%s", v['b']);
    else if (!ns || topic_masters(ns, v['t'], addrs, NULL, 1) <= 0)
        return 1; /* the route lookup said why */
    long long index = atoll(v['i']);
    rm_cmd_t req, resp;
    rm_cmd_init(&req, 321);
    rm_ext_set(&req, "topic", v['t']);
    rm_ext_set(&req, "queueId", v['q']);
    rm_ext_set_i64(&req, "index", index);
    rm_ext_set(&req, "count", v['c'] ? v['c'] : "10");
    if (v['g'])
        rm_ext_set(&req, "consumerGroup", v['g']);
    int rc = rpc_ok(addrs[0], &req, &resp);
    rm_cmd_free(&req);
    if (rc)
        return 1;
    lj_val_t *body = NULL;
    if (resp.body_len && lj_parse((const char *)resp.body, resp.body_len, &body) != 0)
        body = NULL;
    const lj_val_t *sub = lj_get(body, "subscriptionData");
    if (sub) {
        printf("Subscription data: \n");
        print_pretty(sub);
        printf("\n======================================\n");
    }
    if (lj_get_str(body, "filterData", NULL))
        printf("Filter data: \n%s\n======================================\n", lj_get_str(body, "filterData", ""));
    printf("Queue data: \nmax: %lld, min: %lld\n", (long long)lj_get_int(body, "maxQueueIndex", 0),
           (long long)lj_get_int(body, "minQueueIndex", 0));
    printf("======================================\n");
    const lj_val_t *units = lj_get(body, "queueData");
    for (size_t i = 0; units && i < units->n; i++) {
        const lj_val_t *u = units->items[i];
        printf("idx: %lld\nConsumeQueueData{physicOffset=%lld, physicSize=%lld, tagsCode=%lld, extendDataJson='null', "
               "bitMap='null', eval=%s, msg='null'}\n======================================\n",
               index + (long long)i, (long long)lj_get_int(u, "physicOffset", 0), (long long)lj_get_int(u, "physicSize", 0),
               (long long)lj_get_int(u, "tagsCode", 0), lj_get_bool(u, "eval", 0) ? "true" : "false");
    }
    lj_free(body);
    rm_cmd_free(&resp);
    return 0;
}

/* As RocketMQ's cloneGroupOffset: the source group's consumer offsets (GET_CONSUME_STATS) are
 * written for the destination group queue by queue (UPDATE_CONSUMER_OFFSET). */
static int clone_group_offset(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:s:d:t:o:", v) || !v['s'] || !v['d'] || !v['t']) {
        fprintf(stderr, "mqadmin: cloneGroupOffset needs -s srcGroup -d destGroup -t topic\n");
        return 2;
    }
    const char *ns = namesrv(v['n']);
    char retry[300], addrs[16][128], names[16][128];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", v['s']);
    int nb = ns ? topic_masters(ns, retry, addrs, names, 16) : -1;
    if (nb <= 0)
        return 1;
    int ok = 1;
    for (int i = 0; i < nb && ok; i++) {
        rm_cmd_t req;
        rm_cmd_init(&req, 208);
        rm_ext_set(&req, "consumerGroup", v['s']);
        lj_val_t *st = NULL;
        ok = call_ok(addrs[i], &req, &st) == 0;
        rm_cmd_free(&req);
        const lj_val_t *tab = lj_get(st, "offsetTable");
        for (size_t j = 0; ok && tab && j < tab->n; j++) {
            const lj_val_t *mq = tab->members[j].key;
            int64_t off = lj_get_int(tab->members[j].val, "consumerOffset", -1);
            if (off < 0)
                continue;
            rm_cmd_t up;
            rm_cmd_init(&up, 15);
            rm_ext_set(&up, "consumerGroup", v['d']);
            rm_ext_set(&up, "topic", lj_get_str(mq, "topic", ""));
            rm_ext_set_i64(&up, "queueId", lj_get_int(mq, "queueId", 0));
            rm_ext_set_i64(&up, "commitOffset", off);
            ok = call_ok(addrs[i], &up, NULL) == 0;
            rm_cmd_free(&up);
        }
        lj_free(st);
    }
    if (!ok)
        return 1;
    printf("clone group offset success. srcGroup[%s], destGroup=[%s], topic[%s]", v['s'], v['d'], v['t']);
    return 0;
}

/* ---- name server commands --------------------------------------------------------------------- */

/* Every address of -n / NAMESRV_ADDR ("a;b"), as RocketMQ's name-server commands ask each one. */
static int ns_all(const char *opt, char out[][128], int max)
{
    const char *ns = opt ? opt : getenv("NAMESRV_ADDR");
    char list[1024];
    int n = 0;
    if (!ns || !*ns) {
        fprintf(stderr, "mqadmin: no name server address: use -n host:port or NAMESRV_ADDR\n");
        return 0;
    }
    snprintf(list, sizeof list, "%s", ns);
    for (char *save = NULL, *t = strtok_r(list, ";", &save); t && n < max; t = strtok_r(NULL, ";", &save))
        if (*t)
            snprintf(out[n++], 128, "%s", t);
    return n;
}

/* A request whose answer's fields or body the caller reads: as rpc_ok, fields as call_fields. */
static int call_raw(const char *addr, rm_cmd_t *resp, const void *body, size_t blen, int code, ...)
{
    rm_cmd_t req;
    rm_cmd_init(&req, code);
    va_list ap;
    va_start(ap, code);
    add_fields(&req, ap);
    va_end(ap);
    req.body = body;
    req.body_len = blen;
    int rc = rpc_ok(addr, &req, resp);
    req.body = NULL;
    rm_cmd_free(&req);
    return rc;
}

static int write_perm(int argc, char **argv, int add)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:b:", v) || !v['b']) {
        fprintf(stderr, "mqadmin: %s needs -b brokerName\n", add ? "addWritePerm" : "wipeWritePerm");
        return 2;
    }
    char nss[8][128];
    int n = ns_all(v['n'], nss, 8), bad = !n;
    for (int i = 0; i < n; i++) {
        rm_cmd_t resp;
        if (call_raw(nss[i], &resp, NULL, 0, add ? 327 : 205, "brokerName", v['b'], NULL) == 0) {
            const char *cnt = rm_ext_get(&resp, add ? "addTopicCount" : "wipeTopicCount");
            printf("%s write perm of broker[%s] in name server[%s] OK, %s\n", add ? "add" : "wipe", v['b'], nss[i],
                   cnt ? cnt : "0");
            rm_cmd_free(&resp);
        } else {
            printf("%s write perm of broker[%s] in name server[%s] Failed\n", add ? "add" : "wipe", v['b'], nss[i]);
            bad = 1;
        }
    }
    return bad;
}

static int wipe_write_perm(int argc, char **argv) { return write_perm(argc, argv, 0); }
static int add_write_perm(int argc, char **argv) { return write_perm(argc, argv, 1); }

static int get_namesrv_config(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:", v))
        return 2;
    char nss[8][128];
    int n = ns_all(v['n'], nss, 8), bad = !n;
    for (int i = 0; i < n; i++) {
        rm_cmd_t resp;
        cm_props_t props = {0};
        if (call_raw(nss[i], &resp, NULL, 0, 319, NULL) != 0) {
            bad = 1;
            continue;
        }
        cm_props_parse(&props, (const char *)resp.body, resp.body_len);
        printf("============%s============\n", nss[i]);
        for (size_t k = 0; k < props.n; k++)
            printf("%-50s=  %s\n", props.items[k].key, props.items[k].val);
        cm_props_free(&props);
        rm_cmd_free(&resp);
    }
    return bad;
}

static int update_namesrv_config(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:k:v:", v) || !v['k'] || !v['v']) {
        fprintf(stderr, "mqadmin: updateNamesrvConfig needs -k key -v value\n");
        return 2;
    }
    char nss[8][128], body[1200];
    int n = ns_all(v['n'], nss, 8), bad = !n;
    int len = snprintf(body, sizeof body, "%s=%s\n", v['k'], v['v']);
    for (int i = 0; i < n; i++) {
        rm_cmd_t resp;
        if (call_raw(nss[i], &resp, body, (size_t)len, 318, NULL) != 0) {
            bad = 1;
            continue;
        }
        rm_cmd_free(&resp);
    }
    if (!bad) { /* RocketMQ prints the -n list as a Java List, or nothing without -n */
        printf("update name server config success!");
        for (int i = 0; v['n'] && i < n; i++)
            printf("%s%s%s", i ? ", " : "[", nss[i], i + 1 == n ? "]" : "");
        printf("\n%s : %s\n", v['k'], v['v']);
    }
    return bad;
}

static int kv_config(int argc, char **argv, int del)
{
    const char *v[128] = {0};
    if (parse(argc, argv, del ? "n:s:k:" : "n:s:k:v:", v) || !v['s'] || !v['k'] || (!del && !v['v'])) {
        fprintf(stderr, "mqadmin: %s needs -s namespace -k key%s\n", del ? "deleteKvConfig" : "updateKvConfig",
                del ? "" : " -v value");
        return 2;
    }
    char nss[8][128];
    int n = ns_all(v['n'], nss, 8), bad = !n;
    for (int i = 0; i < n && !bad; i++)
        bad = call_fields(nss[i], NULL, del ? 102 : 100, "namespace", v['s'], "key", v['k'], "value", v['v'], NULL) != 0;
    if (!bad)
        printf("%s\n", del ? "delete kv config from namespace success." : "create or update kv config to namespace success.");
    return bad;
}

static int update_kv_config(int argc, char **argv) { return kv_config(argc, argv, 0); }
static int delete_kv_config(int argc, char **argv) { return kv_config(argc, argv, 1); }

/* The clusters whose brokers serve the topic. */
static int topic_cluster_list(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:t:", v) || !v['t']) {
        fprintf(stderr, "mqadmin: topicClusterList needs -t topic\n");
        return 2;
    }
    const char *ns = namesrv(v['n']);
    lj_val_t *route = NULL, *info = NULL;
    if (!ns || fetch_route(ns, v['t'], &route) != 0 || call_fields(ns, &info, 106, NULL) != 0) {
        lj_free(route);
        return 1;
    }
    const lj_val_t *bds = lj_get(route, "brokerDatas"), *clusters = lj_get(info, "clusterAddrTable");
    for (size_t c = 0; clusters && clusters->type == LJ_OBJ && c < clusters->n; c++) {
        const lj_val_t *names = clusters->members[c].val;
        int hit = 0;
        for (size_t i = 0; !hit && bds && i < bds->n; i++)
            for (size_t j = 0; !hit && names && j < names->n; j++)
                hit = !strcmp(lj_get_str(bds->items[i], "brokerName", ""), lj_str(names->items[j], ""));
        if (hit)
            printf("%s\n", clusters->members[c].key->s);
    }
    lj_free(route);
    lj_free(info);
    return 0;
}

/* decodeMessageId: the client IP and the (nearly) send time in a UNIQ_KEY message id, as
 * RocketMQ's MessageClientIDSetter reads them: ip(4) pid(2) random(4) ms-since-month-start(4)
 * counter(2); a time past now belongs to the previous month. Printed as RocketMQ does, on one
 * line with no separator. */
static int decode_message_id(int argc, char **argv)
{
    const char *v[128] = {0};
    uint8_t b[16];
    if (parse(argc, argv, "n:i:", v) || !v['i']) {
        fprintf(stderr, "mqadmin: decodeMessageId needs -i messageId\n");
        return 2;
    }
    for (int i = 0; i < 16; i++) {
        unsigned x;
        if (strlen(v['i']) != 32 || sscanf(v['i'] + 2 * i, "%2x", &x) != 1) {
            fprintf(stderr, "mqadmin: %s is not a 32-hex-digit message id\n", v['i']);
            return 1;
        }
        b[i] = (uint8_t)x;
    }
    printf("ip=%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    int64_t span = (int64_t)cm_be32(b + 10), start = (int64_t)mktime(&tm) * 1000;
    if (start + span >= cm_now_ms()) {
        tm.tm_mon -= 1;
        tm.tm_isdst = -1;
        start = (int64_t)mktime(&tm) * 1000;
    }
    int64_t ms = start + span;
    time_t t = (time_t)(ms / 1000);
    localtime_r(&t, &tm);
    printf("date=%04d-%02d-%02d#%02d:%02d:%02d:%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, (int)(ms % 1000));
    return 0;
}

/* getConsumerConfig: the group's SubscriptionGroupConfig on every broker that has it, fields
 * in Java's declaration order as RocketMQ prints them by reflection. */
static int get_consumer_config(int argc, char **argv)
{
    static const char *const fields[] = {"groupName", "consumeEnable", "consumeFromMinEnable", "consumeBroadcastEnable",
                                         "retryQueueNums", "retryMaxTimes", "brokerId", "whichBrokerWhenConsumeSlowly",
                                         "notifyConsumerIdsChangedEnable"};
    const char *v[128] = {0};
    if (parse(argc, argv, "n:g:", v) || !v['g']) {
        fprintf(stderr, "mqadmin: getConsumerConfig needs -g groupName\n");
        return 2;
    }
    const char *ns = namesrv(v['n']);
    lj_val_t *info = NULL;
    if (!ns || call_fields(ns, &info, 106, NULL))
        return 1;
    const lj_val_t *brokers = lj_get(info, "brokerAddrTable"), *clusters = lj_get(info, "clusterAddrTable");
    for (size_t i = 0; brokers && brokers->type == LJ_OBJ && i < brokers->n; i++) {
        const char *name = brokers->members[i].key->s, *cluster = "";
        const lj_val_t *addrs = lj_get(brokers->members[i].val, "brokerAddrs");
        const char *addr = lj_get_str(addrs, "0", addrs && addrs->n ? lj_str(addrs->members[0].val, NULL) : NULL);
        for (size_t c = 0; clusters && clusters->type == LJ_OBJ && c < clusters->n; c++)
            for (size_t j = 0; clusters->members[c].val && j < clusters->members[c].val->n; j++)
                if (!strcmp(lj_str(clusters->members[c].val->items[j], ""), name))
                    cluster = clusters->members[c].key->s;
        lj_val_t *all = NULL;
        if (!addr || call_fields(addr, &all, 201, NULL))
            continue;
        const lj_val_t *g = lj_get(lj_get(all, "subscriptionGroupTable"), v['g']);
        if (g) {
            printf("=============================%s:%s=============================\n", cluster, name);
            for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
                const lj_val_t *x = lj_get(g, fields[f]);
                cm_buf_t b;
                cm_buf_init(&b);
                if (x && x->type == LJ_STR)
                    cm_buf_puts(&b, x->s);
                else if (x)
                    lj_write(x, LJ_W_FASTJSON, &b);
                printf("%-40s=  %.*s\n", fields[f], (int)b.len, b.data ? b.data : "");
                cm_buf_free(&b);
            }
        }
        lj_free(all);
    }
    lj_free(info);
    return 0;
}

/* queryMsgByUniqueKey: the message whose UNIQ_KEY is -i in topic -t, printed as RocketMQ's
 * showMessage (no OffsetID line), with its consumer groups' tracks. */
static int query_msg_by_unique_key(int argc, char **argv)
{
    const char *v[128] = {0};
    if (parse(argc, argv, "n:i:t:ag:d:", v) || !v['i'] || !v['t']) {
        fprintf(stderr, "mqadmin: queryMsgByUniqueKey needs -i msgId -t topic\n");
        return 2;
    }
    const char *ns = namesrv(v['n']);
    lc_producer_t *p = ns ? admin_producer(ns) : NULL;
    if (!p)
        return 1;
    lc_message_ext_t *m = NULL;
    int r = lc_producer_view_message(p, v['t'], v['i'], &m);
    if (r == LC_OK) {
        print_msg(m, 0);
        print_tracks(ns, m);
        lc_message_ext_free(m);
    } /* RocketMQ prints nothing when there is no such message */
    lc_producer_destroy(p);
    return r == LC_OK || r == LC_ENOTFOUND ? 0 : 1;
}

static const cmd_t k_cmds[] = {
    {"topicStatus", "Examine topic Status info", "mqadmin topicStatus -t topic [-n namesrvAddr]", topic_status},
    {"clusterList", "List cluster infos", "mqadmin clusterList [-c clusterName] [-m (more stats)] [-n namesrvAddr]", cluster_list},
    {"topicList", "Fetch all topic list from name server", "mqadmin topicList [-n namesrvAddr]", topic_list},
    {"topicRoute", "Examine topic route info", "mqadmin topicRoute -t topic [-n namesrvAddr]", topic_route},
    {"updateTopic", "Update or create topic",
     "mqadmin updateTopic -t topic (-b brokerAddr | -c clusterName) [-r readQueueNums] [-w writeQueueNums] [-p perm] [-o order] [-n namesrvAddr]",
     update_topic},
    {"deleteTopic", "Delete topic from broker and NameServer.", "mqadmin deleteTopic -t topic -c clusterName [-n namesrvAddr]", delete_topic},
    {"updateSubGroup", "Update or create subscription group",
     "mqadmin updateSubGroup -g groupName (-b brokerAddr | -c clusterName) [-s consumeEnable] [-m consumeFromMinEnable] [-d consumeBroadcastEnable] [-q retryQueueNums] [-r retryMaxTimes] [-i brokerId] [-w whichBrokerWhenConsumeSlowly] [-a notifyConsumerIdsChanged] [-n namesrvAddr]",
     update_sub_group},
    {"deleteSubGroup", "Delete subscription group from broker.",
     "mqadmin deleteSubGroup -g groupName (-b brokerAddr | -c clusterName) [-r removeOffset] [-n namesrvAddr]", delete_sub_group},
    {"consumerProgress", "Query consumers's progress, speed", "mqadmin consumerProgress -g groupName [-s showClientIP (true|false)] [-n namesrvAddr]", consumer_progress},
    {"consumerConnection", "Query consumer's socket connection, client version and subscription",
     "mqadmin consumerConnection -g consumerGroup [-b brokerAddr] [-n namesrvAddr]", consumer_connection},
    {"consumerStatus", "Query consumer's internal data structure",
     "mqadmin consumerStatus -g consumerGroup [-i clientId] [-b brokerAddr] [-s (jstack)] [-n namesrvAddr]", consumer_status},
    {"producerConnection", "Query producer's socket connection and client version",
     "mqadmin producerConnection -g producerGroup -t topic [-n namesrvAddr]", producer_connection},
    {"brokerStatus", "Fetch broker runtime status data", "mqadmin brokerStatus (-b brokerAddr | -c clusterName) [-n namesrvAddr]", broker_status},
    {"getBrokerConfig", "Get broker config by cluster or special broker!",
     "mqadmin getBrokerConfig (-b brokerAddr | -c clusterName) [-n namesrvAddr]", get_broker_config},
    {"updateBrokerConfig", "Update broker's config",
     "mqadmin updateBrokerConfig -k key -v value (-b brokerAddr | -c clusterName) [-n namesrvAddr]", update_broker_config},
    {"sendMessage", "Send a message", "mqadmin sendMessage -t topic -p body [-k keys] [-c tags] [-b brokerName -i queueId] [-n namesrvAddr]", send_message},
    {"queryMsgByKey", "Query Message by Key", "mqadmin queryMsgByKey -t topic -k msgKey [-n namesrvAddr]", query_msg_by_key},
    {"queryMsgById", "Query Message by Id",
     "mqadmin queryMsgById -i msgId[,msgId...] [-t topic (for a UNIQ_KEY msgId)] [-n namesrvAddr]", query_msg_by_id},
    {"queryMsgByOffset", "Query Message by offset",
     "mqadmin queryMsgByOffset -t topic -b brokerName -i queueId -o offset [-n namesrvAddr]", query_msg_by_offset},
    {"printMsg", "Print Message Detail", "mqadmin printMsg -t topic [-s subExpression] [-d printBody] [-n namesrvAddr]", print_messages},
    {"consumeMessage", "Consume message",
     "mqadmin consumeMessage -t topic [-b brokerName -i queueId [-o offset]] [-c count] [-n namesrvAddr]", consume_messages},
    {"statsAll", "Topic and Consumer tps stats", "mqadmin statsAll [-a activeTopic] [-t topic] [-n namesrvAddr]", stats_all},
    {"resetOffsetByTime", "Reset consumer offset by timestamp(without client restart).",
     "mqadmin resetOffsetByTime -g group -t topic -s timestamp [-f force] [-n namesrvAddr]", reset_offset_by_time},
    {"brokerConsumeStats", "Fetch broker consume stats data",
     "mqadmin brokerConsumeStats -b brokerAddr [-t timeoutMillis] [-l diffLevel] [-o order] [-n namesrvAddr]",
     broker_consume_stats},
    {"queryCq", "Query cq command.", "mqadmin queryCq -t topic -q queueId -i index [-c count] [-b brokerAddr] [-g consumerGroup] [-n namesrvAddr]",
     query_cq},
    {"cloneGroupOffset", "clone offset from other group.",
     "mqadmin cloneGroupOffset -s srcGroup -d destGroup -t topic [-o offline] [-n namesrvAddr]", clone_group_offset},
    {"cleanExpiredCQ", "Clean expired ConsumeQueue on broker.", "mqadmin cleanExpiredCQ [-b brokerAddr | -c clusterName] [-n namesrvAddr]",
     clean_expired_cq},
    {"cleanUnusedTopic", "Clean unused topic on broker.", "mqadmin cleanUnusedTopic [-b brokerAddr | -c clusterName] [-n namesrvAddr]",
     clean_unused_topic},
    {"deleteExpiredCommitLog", "Delete expired CommitLog files",
     "mqadmin deleteExpiredCommitLog [-b brokerAddr | -c clusterName] [-n namesrvAddr]", delete_expired_commitlog},
    {"skipAccumulatedMessage", "Skip all messages that are accumulated (not consumed) currently",
     "mqadmin skipAccumulatedMessage -g group -t topic [-f force] [-n namesrvAddr]", skip_accumulated},
    {"updateTopicPerm", "Update topic perm", "mqadmin updateTopicPerm -t topic -p perm (-b brokerAddr | -c clusterName) [-n namesrvAddr]",
     update_topic_perm},
    {"decodeMessageId", "decode unique message ID", "mqadmin decodeMessageId -i messageId", decode_message_id},
    {"getConsumerConfig", "Get consumer config by subscription group name!", "mqadmin getConsumerConfig -g groupName [-n namesrvAddr]",
     get_consumer_config},
    {"queryMsgByUniqueKey", "Query Message by Unique key", "mqadmin queryMsgByUniqueKey -i msgId -t topic [-n namesrvAddr]",
     query_msg_by_unique_key},
    {"wipeWritePerm", "Wipe write perm of broker in all name server you defined in the -n param",
     "mqadmin wipeWritePerm -b brokerName [-n namesrvAddr]", wipe_write_perm},
    {"addWritePerm", "Add write perm of broker in all name server you defined in the -n param",
     "mqadmin addWritePerm -b brokerName [-n namesrvAddr]", add_write_perm},
    {"getNamesrvConfig", "Get configs of name server.", "mqadmin getNamesrvConfig [-n namesrvAddr]", get_namesrv_config},
    {"updateNamesrvConfig", "Update configs of name server.", "mqadmin updateNamesrvConfig -k key -v value [-n namesrvAddr]",
     update_namesrv_config},
    {"updateKvConfig", "Create or update KV config.", "mqadmin updateKvConfig -s namespace -k key -v value [-n namesrvAddr]",
     update_kv_config},
    {"deleteKvConfig", "Delete KV config.", "mqadmin deleteKvConfig -s namespace -k key [-n namesrvAddr]", delete_kv_config},
    {"topicClusterList", "get cluster info for topic", "mqadmin topicClusterList -t topic [-n namesrvAddr]",
     topic_cluster_list},
};
#define NCMDS (sizeof k_cmds / sizeof k_cmds[0])

static void list(void)
{
    printf("The most commonly used mqadmin commands are:\n");
    for (size_t i = 0; i < NCMDS; i++)
        printf("   %-20s %s\n", k_cmds[i].name, k_cmds[i].help);
    printf("\nSee 'mqadmin help <command>' for more information on a specific command.\n");
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    cm_log_open(NULL, "mqadmin", 0); /* errors are our own one-line messages, not library logs */
    if (argc < 2) {
        list();
        return 0;
    }
    if (strcmp(argv[1], "help") == 0) {
        for (size_t i = 0; argc > 2 && i < NCMDS; i++)
            if (strcmp(argv[2], k_cmds[i].name) == 0) {
                printf("%s\nusage: %s\n", k_cmds[i].help, k_cmds[i].usage);
                return 0;
            }
        list();
        return argc > 2 ? 1 : 0;
    }
    for (size_t i = 0; i < NCMDS; i++)
        if (strcmp(argv[1], k_cmds[i].name) == 0)
            return k_cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mqadmin: The sub command %s not exist.\n", argv[1]);
    return 1;
}
