/* state.c: the dashboard's configuration (rocketmq-dashboard's keys) and the settings the OPS
 * page changes at run time (contracts in dashboard.h).
 *
 * The file is a .properties file (application.properties of rocketmq-dashboard 1.0/2.0: the
 * same keys, with or without the `rocketmq.config.` prefix); `--key=value` arguments override
 * it, as Spring Boot's do. A key the original honours and Loulan does not is refused when
 * ignoring it would weaken safety (server.ssl.*: the user expects HTTPS), warned about when
 * not (proxyAddr, msgTrackTopicName), and an unknown key is an error naming it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard.h"
#include "loulan/tls.h"

dh_state_t g_dh = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Keys accepted for compatibility that change nothing here (say so, once, at start). */
static const char *const k_inert[] = {
    "msgTrackTopicName", "ticketKey", "proxyAddr", "proxyAddrs", "authMode", "clientCallbackExecutorThreads",
    "threadpool.config.coreSize", "threadpool.config.maxSize", "threadpool.config.keepAliveTime",
    "threadpool.config.queueSize", "spring.application.name", "logging.config", "server.servlet.encoding.charset",
    "server.servlet.encoding.enabled", "server.servlet.encoding.force", "spring.main.allow-bean-definition-overriding",
    NULL,
};

static void defaults(dh_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->port = 8080;
    c->address[0] = 0; /* decided once the file is read: see dh_config_finish */
    snprintf(c->data_path, sizeof c->data_path, "/tmp/rocketmq-console/data");
    c->collect = 1;
    c->timeout_ms = 5000;
    c->threads = 8;
    c->data_days = 7;
}

/* "rocketmq.config.x" and "x" are the same key; "namesrvAddrs[0]" is an element of namesrvAddrs. */
static const char *bare(const char *key)
{
    return strncmp(key, "rocketmq.config.", 16) == 0 ? key + 16 : key;
}

static int bad(const char *key, const char *val, const char *why)
{
    fprintf(stderr, "loulan-dashboard: %s=%s: %s\n", key, val, why);
    return -1;
}

static int set_int(const char *key, const char *val, int lo, int hi, int *out)
{
    int32_t v;
    if (cm_parse_i32(val, &v) || v < lo || v > hi)
        return bad(key, val, "not a number in range");
    *out = v;
    return 0;
}

static int set_bool(const char *key, const char *val, int *out)
{
    return cm_parse_bool(val, out) ? bad(key, val, "true or false") : 0;
}

static int set_str(const char *key, const char *val, char *out, size_t n)
{
    if (strlen(val) >= n)
        return bad(key, val, "too long");
    snprintf(out, n, "%s", val);
    return 0;
}

/* namesrvAddrs "a:9876,b:9876" (a list: each element one cluster entry) or namesrvAddrs[i]. */
static int add_ns(const char *key, const char *val, char ns[DH_MAX_NS][256], int *count, int list)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", val);
    for (char *save = NULL, *t = strtok_r(tmp, list ? "," : "", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        if (!*t)
            continue;
        if (*count >= DH_MAX_NS || strlen(t) >= 256)
            return bad(key, val, "too many or too long name server entries");
        snprintf(ns[(*count)++], 256, "%s", t);
    }
    return 0;
}

static int apply(dh_config_t *c, const char *key, const char *val, char ns[DH_MAX_NS][256], int *ns_count)
{
    const char *k = bare(key);
    if (!strcmp(k, "server.port"))
        return set_int(key, val, 1, 65535, &c->port);
    if (!strcmp(k, "server.address"))
        return set_str(key, val, c->address, sizeof c->address);
    if (!strcmp(k, "namesrvAddr") || !strcmp(k, "namesrvAddrs"))
        return add_ns(key, val, ns, ns_count, 1);
    if (!strncmp(k, "namesrvAddrs[", 13))
        return add_ns(key, val, ns, ns_count, 0);
    if (!strcmp(k, "isVIPChannel"))
        return set_bool(key, val, &g_dh.vip_channel);
    if (!strcmp(k, "useTLS"))
        return set_bool(key, val, &g_dh.use_tls);
    if (!strcmp(k, "dataPath"))
        return set_str(key, val, c->data_path, sizeof c->data_path);
    if (!strcmp(k, "loginRequired"))
        return set_bool(key, val, &c->login_required);
    if (!strcmp(k, "usersFile"))
        return set_str(key, val, c->users_file, sizeof c->users_file);
    if (!strcmp(k, "enableDashBoardCollect"))
        return set_bool(key, val, &c->collect);
    if (!strcmp(k, "timeoutMillis"))
        return *val ? set_int(key, val, 100, 600000, &c->timeout_ms) : 0;
    if (!strcmp(k, "accessKey"))
        return set_str(key, val, c->access_key, sizeof c->access_key);
    if (!strcmp(k, "secretKey"))
        return set_str(key, val, c->secret_key, sizeof c->secret_key);
    if (!strcmp(k, "loulan.dashboard.threads"))
        return set_int(key, val, 1, 64, &c->threads);
    if (!strcmp(k, "loulan.dashboard.keepDays"))
        return set_int(key, val, 1, 3650, &c->data_days);
    if (!strcmp(k, "loulan.dashboard.collectIntervalSeconds"))
        return set_int(key, val, 1, 3600, &c->collect_interval_s);
    if (!strncmp(k, "server.ssl.", 11))
        return bad(key, val, "HTTPS is not served by loulan-dashboard: put a TLS proxy in front (docs/dashboard.md)");
    if (!strcmp(k, "server.servlet.context-path"))
        return *val && strcmp(val, "/") ? bad(key, val, "context paths are served by a proxy in front; every URL "
                                                       "the console uses is relative") : 0;
    for (int i = 0; k_inert[i]; i++)
        if (!strcmp(k, k_inert[i]) || !strcmp(key, k_inert[i])) {
            fprintf(stderr, "loulan-dashboard: %s is accepted and has no effect here\n", key);
            return 0;
        }
    return bad(key, val, "unknown key");
}

int dh_config_load(const char *path, dh_config_t *cfg, char ns[DH_MAX_NS][256], int *ns_count)
{
    defaults(cfg);
    *ns_count = 0;
    if (path) {
        cm_props_t p = {0};
        int rc = cm_props_load(&p, path);
        if (rc) {
            fprintf(stderr, "loulan-dashboard: cannot read %s\n", path);
            return -1;
        }
        for (size_t i = 0; i < p.n && rc == 0; i++)
            rc = apply(cfg, p.items[i].key, p.items[i].val, ns, ns_count);
        cm_props_free(&p);
        if (rc)
            return -1;
    }
    return 0;
}

/* One --key=value argument, over the file's values. */
int dh_config_arg(const char *arg, dh_config_t *cfg, char ns[DH_MAX_NS][256], int *ns_count)
{
    const char *eq = strchr(arg, '=');
    if (strncmp(arg, "--", 2) || !eq)
        return bad(arg, "", "expected --key=value");
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - arg - 2), arg + 2);
    if (!strcmp(bare(key), "namesrvAddrs") || !strcmp(bare(key), "namesrvAddr"))
        *ns_count = 0; /* an argument replaces the file's list */
    return apply(cfg, key, eq + 1, ns, ns_count);
}

/* Without login every visitor may change the cluster (create and delete topics, reset offsets),
 * so the default listening address is then loopback only; with login on it is every address,
 * as the original. An explicit server.address wins, with a warning when it opens an unguarded
 * console to the network. */
void dh_config_finish(dh_config_t *c)
{
    if (!c->address[0]) {
        snprintf(c->address, sizeof c->address, "%s", c->login_required ? "0.0.0.0" : "127.0.0.1");
        if (!c->login_required)
            fprintf(stderr, "loulan-dashboard: loginRequired=false: listening on 127.0.0.1 only (set "
                            "server.address to open it, or turn login on)\n");
    } else if (!c->login_required && strcmp(c->address, "127.0.0.1") != 0) {
        fprintf(stderr, "loulan-dashboard: warning: server.address=%s with loginRequired=false: anyone who "
                        "reaches it can change the cluster\n", c->address);
    }
}

void dh_namesrv(char out[256])
{
    pthread_mutex_lock(&g_dh.mu);
    snprintf(out, 256, "%s", g_dh.ns_count ? g_dh.ns_list[g_dh.ns_current] : "");
    pthread_mutex_unlock(&g_dh.mu);
}

void dh_namesrv_first(char out[128])
{
    char all[256];
    dh_namesrv(all);
    all[strcspn(all, ";")] = 0;
    snprintf(out, 128, "%.127s", all);
}

void dh_broker_addr(const char *addr, char out[128])
{
    pthread_mutex_lock(&g_dh.mu);
    int vip = g_dh.vip_channel;
    pthread_mutex_unlock(&g_dh.mu);
    if (vip)
        ad_vip_addr(addr, out);
    else
        snprintf(out, 128, "%s", addr);
}
