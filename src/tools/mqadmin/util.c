/* mqadmin's shared helpers: one blocking request over a private loop (and the checks of its
 * answer), option parsing, name-server and broker address lookups, the queue-row table and the
 * Java-style formats several commands print. Contracts in mqadmin.h. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqadmin.h"

#define TIMEOUT_MS 5000

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
int ma_rpc(const char *addr, rm_cmd_t *req, rm_cmd_t *resp)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    rm_conn_t *conn = NULL;
    call_t c = {0};
    if (ma_sign(req)) {
        uv_loop_close(&loop);
        return -1;
    }
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

/* Send req to addr and require SUCCESS: 0 with *resp (caller frees), else -1 after one line
 * on stderr (RocketMQ's remarks may carry a second "See http://...faq" line: not printed). */
int ma_rpc_ok(const char *addr, rm_cmd_t *req, rm_cmd_t *resp)
{
    if (ma_rpc(addr, req, resp))
        return -1;
    if (resp->code == RC_SUCCESS)
        return 0;
    const char *r = resp->remark ? resp->remark : "";
    fprintf(stderr, "mqadmin: CODE: %d DESC: %.*s\n", resp->code, (int)strcspn(r, "\n"), r);
    rm_cmd_free(resp);
    return -1;
}

/* Call and require SUCCESS; the body is parsed as JSON into *json when asked. */
int ma_call_ok(const char *addr, rm_cmd_t *req, lj_val_t **json)
{
    rm_cmd_t resp;
    if (ma_rpc_ok(addr, req, &resp))
        return -1;
    int rc = 0;
    if (json && lj_parse((const char *)resp.body, resp.body_len, json) != 0) {
        fprintf(stderr, "mqadmin: unreadable answer from %s\n", addr);
        rc = -1;
    }
    rm_cmd_free(&resp);
    return rc;
}

/* One request: the code, the body (borrowed), then header fields as key, value pairs (a NULL
 * value is left out) ending with NULL. The answer goes to *resp when asked, else it is checked
 * as ma_call_ok (JSON into *json when asked). */
static int call_v(const char *addr, rm_cmd_t *resp, lj_val_t **json, const void *body, size_t blen, int code,
                  va_list ap)
{
    rm_cmd_t req;
    rm_cmd_init(&req, code);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        if (v)
            rm_ext_set(&req, k, v);
    }
    req.body = body;
    req.body_len = blen;
    int rc = resp ? ma_rpc_ok(addr, &req, resp) : ma_call_ok(addr, &req, json);
    req.body = NULL;
    rm_cmd_free(&req);
    return rc;
}

int ma_call_fields(const char *addr, lj_val_t **json, int code, ...)
{
    va_list ap;
    va_start(ap, code);
    int rc = call_v(addr, NULL, json, NULL, 0, code, ap);
    va_end(ap);
    return rc;
}

/* A request whose answer's fields or body the caller reads: as ma_rpc_ok, fields as ma_call_fields. */
int ma_call_raw(const char *addr, rm_cmd_t *resp, const void *body, size_t blen, int code, ...)
{
    rm_cmd_t ignored;
    va_list ap;
    va_start(ap, code);
    int rc = call_v(addr, resp ? resp : &ignored, NULL, body, blen, code, ap);
    va_end(ap);
    if (rc == 0 && !resp)
        rm_cmd_free(&ignored);
    return rc;
}

int ma_parse(int argc, char **argv, const char *spec, const char **vals /* indexed by char */)
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

/* -n, else NAMESRV_ADDR; NULL after a message when neither is set. */
static const char *ns_list(const char *opt)
{
    const char *ns = opt ? opt : getenv("NAMESRV_ADDR");
    if (!ns || !*ns) {
        fprintf(stderr, "mqadmin: no name server address: use -n host:port or NAMESRV_ADDR\n");
        return NULL;
    }
    return ns;
}

const char *ma_namesrv(const char *opt)
{
    const char *ns = ns_list(opt);
    if (!ns)
        return NULL;
    static char first[256]; /* "a;b": ask the first one */
    snprintf(first, sizeof first, "%s", ns);
    first[strcspn(first, ";")] = 0;
    return first;
}

/* Every address of -n / NAMESRV_ADDR ("a;b"), as RocketMQ's name-server commands ask each one. */
int ma_ns_all(const char *opt, char out[][128], int max)
{
    const char *ns = ns_list(opt);
    char list[1024];
    int n = 0;
    if (!ns)
        return 0;
    snprintf(list, sizeof list, "%s", ns);
    for (char *save = NULL, *t = strtok_r(list, ";", &save); t && n < max; t = strtok_r(NULL, ";", &save))
        if (*t)
            snprintf(out[n++], 128, "%s", t);
    return n;
}

/* GET_ROUTEINFO_BY_TOPIC from the name server into *route (caller frees). */
int ma_fetch_route(const char *ns, const char *topic, lj_val_t **route)
{
    int rc = ns ? ma_call_fields(ns, route, 105, "topic", topic, NULL) : -1;
    return rc;
}

/* Master (id 0) addresses of the brokers of `cluster` (NULL: of every cluster), from
 * GET_BROKER_CLUSTER_INFO. */
int ma_cluster_masters(const char *ns, const char *cluster, char addrs[][128], int max)
{
    lj_val_t *info = NULL;
    int n = 0;
    if (ma_call_fields(ns, &info, 106, NULL) == 0) {
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
    lj_free(info);
    return n;
}

/* Masters of the brokers serving a topic (from its route); returns how many. */
int ma_topic_masters(const char *ns, const char *topic, char addrs[][128], char names[][128], int max)
{
    lj_val_t *route = NULL;
    int n = 0;
    if (ma_fetch_route(ns, topic, &route) != 0)
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

int ma_broker_addrs(const char *const *v, char addrs[][128], int max)
{
    if (v['b']) {
        snprintf(addrs[0], 128, "%s", v['b']);
        return 1;
    }
    const char *ns = ma_namesrv(v['n']);
    return ns ? ma_cluster_masters(ns, v['c'], addrs, max) : 0;
}

int ma_broker_or_master(const char *b, const char *nsopt, const char *topic, char addr[128])
{
    char addrs[1][128];
    const char *ns = b ? NULL : ma_namesrv(nsopt);
    if (b)
        snprintf(addrs[0], 128, "%s", b);
    else if (!ns || ma_topic_masters(ns, topic, addrs, NULL, 1) <= 0)
        return -1; /* the route lookup said why */
    snprintf(addr, 128, "%s", addrs[0]);
    return 0;
}

/* Append the rows of tab; v[i] is the member named f[i] of each value. */
void ma_collect_rows(const lj_val_t *tab, const char *const f[3], ma_mqrow_t **rows, size_t *n)
{
    for (size_t j = 0; tab && j < tab->n; j++) {
        ma_mqrow_t *r = realloc(*rows, (*n + 1) * sizeof *r);
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

int ma_cmp_mqrow(const void *a, const void *b)
{
    const ma_mqrow_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (!c)
        c = strcmp(x->broker, y->broker);
    return c ? c : x->qid - y->qid;
}

/* yyyy-MM-dd HH:mm:ss,SSS in local time, RocketMQ's timeMillisToHumanString2. */
void ma_human_time(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    snprintf(out, n, "%04d-%02d-%02d %02d:%02d:%02d,%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

void ma_date_time(int64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

/* MQVersion.getVersionDesc: the enum's name for an ordinal (4.x and 5.x releases). */
const char *ma_version_desc(int64_t v)
{
    static char s[32];
    int base = v >= 412 ? 412 : 212, major = v >= 412 ? 5 : 4;
    if (v < 212 || v >= 412 + 200)
        return v < 212 ? "V3_x" : "HIGHER_VERSION";
    int k = (int)(v - base) / 2, snap = (int)(v - base) % 2 == 0;
    snprintf(s, sizeof s, "V%d_%d_%d%s", major, k / 10, k % 10, snap ? "_SNAPSHOT" : "");
    return s;
}

const char *ma_front(const char *s, int n)
{
    static char b[2][256];
    static int i;
    i ^= 1;
    snprintf(b[i], sizeof b[i], "%.*s", n, s);
    return b[i];
}
