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

/* ma_sign prints its own message: an empty e.msg tells ma_rpc not to print a second one. */
static int sign_hook(rm_cmd_t *req, ad_err_t *e)
{
    e->msg[0] = 0;
    return ma_sign(req);
}

static int said(ad_err_t *e)
{
    if (e->msg[0])
        fprintf(stderr, "mqadmin: %s\n", e->msg);
    return -1;
}

static void use_admin(void)
{
    static int done;
    if (!done) {
        ad_set_signer(sign_hook);
        done = 1;
    }
}

int ma_rpc(const char *addr, rm_cmd_t *req, rm_cmd_t *resp)
{
    ad_err_t e;
    use_admin();
    return ad_rpc(addr, req, resp, &e) ? said(&e) : 0;
}

int ma_rpc_ok(const char *addr, rm_cmd_t *req, rm_cmd_t *resp)
{
    ad_err_t e;
    use_admin();
    return ad_rpc_ok(addr, req, resp, &e) ? said(&e) : 0;
}

int ma_call_ok(const char *addr, rm_cmd_t *req, lj_val_t **json)
{
    ad_err_t e;
    use_admin();
    return ad_call(addr, req, json, &e) ? said(&e) : 0;
}

int ma_call_fields(const char *addr, lj_val_t **json, int code, ...)
{
    ad_err_t e;
    va_list ap;
    use_admin();
    va_start(ap, code);
    int rc = ad_call_v(addr, NULL, json, &e, NULL, 0, code, ap);
    va_end(ap);
    return rc ? said(&e) : 0;
}

int ma_call_raw(const char *addr, rm_cmd_t *resp, const void *body, size_t blen, int code, ...)
{
    rm_cmd_t ignored;
    ad_err_t e;
    va_list ap;
    use_admin();
    va_start(ap, code);
    int rc = ad_call_v(addr, resp ? resp : &ignored, NULL, &e, body, blen, code, ap);
    va_end(ap);
    if (rc)
        return said(&e);
    if (!resp)
        rm_cmd_free(&ignored);
    return 0;
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
