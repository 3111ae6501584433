/* api_ops.c: the OPS page's requests, rocketmq/nsaddr and the Proxy page's (spec dashboard.md
 * §2.1, §2.2, §3.10). Everything here is run-time state: the name server entries, VIP channel
 * and TLS live in g_dh under g_dh.mu (state.c reads them for every admin call); the proxy
 * addresses only in this file. As in the original nothing is written to disk. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard.h"
#include "loulan/tls.h"

#define MAX_PROXY 16

/* The proxy list (Proxy page, RocketMQ 5 mode); the original's default is one local proxy. */
static pthread_mutex_t g_proxy_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_proxy[MAX_PROXY][256] = {"127.0.0.1:8080"};
static int g_nproxy = 1, g_proxy_current;

/* Whether s is "host:port" or several joined with ';' (a name server entry, a proxy address):
 * refuse what no RocketMQ client could connect to, so a typo shows at once, not as a timeout
 * on every later page. */
static int address_list_ok(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len >= 256)
        return 0;
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, ";");
        const char *colon = NULL;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c == ':')
                colon = p + i;
            else if (!isalnum(c) && c != '.' && c != '-' && c != '_' && c != '[' && c != ']')
                return 0;
        }
        if (!colon || colon == p || colon + 1 == p + n || n - (size_t)(colon + 1 - p) > 5)
            return 0;
        int port = 0;
        for (const char *d = colon + 1; d < p + n; d++) {
            if (!isdigit((unsigned char)*d))
                return 0;
            port = port * 10 + (*d - '0');
        }
        if (port < 1 || port > 65535)
            return 0;
        p += n + (p[n] == ';');
        if (p[-1] == ';' && !*p)
            return 0; /* a trailing ';' */
    }
    return 1;
}

/* The address parameter `name`, trimmed into out (256). 0, or -1 with r failed. */
static int address_param(dh_req_t *r, const char *name, char out[256])
{
    const char *v;
    if (dh_param_req(r, name, &v))
        return -1;
    while (*v == ' ')
        v++;
    size_t n = strlen(v);
    while (n && v[n - 1] == ' ')
        n--;
    if (n == 0 || n >= 256)
        return dh_fail(r, "%s is required (host:port, several joined with ';')", name);
    snprintf(out, 256, "%.*s", (int)n, v);
    if (!address_list_ok(out))
        return dh_fail(r, "bad %s: expected host:port, several joined with ';'", name);
    return 0;
}

/* Index of s in list, or -1. */
static int find(char list[][256], int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return i;
    return -1;
}

static lj_val_t *str_list(char list[][256], int n)
{
    lj_val_t *a = lj_new_arr();
    for (int i = 0; a && i < n; i++)
        lj_push(a, lj_new_str(list[i]));
    return a;
}

/* ---- ops/ ---- */

static int h_home(dh_req_t *r, lj_val_t **data)
{
    lj_val_t *o = lj_new_obj();
    pthread_mutex_lock(&g_dh.mu);
    lj_set_str(o, "currentNamesrv", g_dh.ns_count ? g_dh.ns_list[g_dh.ns_current] : "");
    lj_set(o, "namesvrAddrList", str_list(g_dh.ns_list, g_dh.ns_count));
    lj_set_bool(o, "useVIPChannel", g_dh.vip_channel);
    lj_set_bool(o, "useTLS", g_dh.use_tls);
    pthread_mutex_unlock(&g_dh.mu);
    *data = o;
    return 0;
}

/* Add addr to the name server entries (if new); make it current when `current`. */
static int add_namesrv(dh_req_t *r, const char *addr, int current)
{
    pthread_mutex_lock(&g_dh.mu);
    int i = find(g_dh.ns_list, g_dh.ns_count, addr);
    if (i < 0 && g_dh.ns_count < DH_MAX_NS) {
        i = g_dh.ns_count++;
        snprintf(g_dh.ns_list[i], sizeof g_dh.ns_list[i], "%s", addr);
    }
    if (i >= 0 && current)
        g_dh.ns_current = i;
    pthread_mutex_unlock(&g_dh.mu);
    if (i < 0)
        return dh_fail(r, "too many name server entries (at most %d)", DH_MAX_NS);
    LOG_I("dashboard", "name server entry %s %s", addr, current ? "is now current" : "added");
    return 0;
}

static int h_update_namesrv(dh_req_t *r, lj_val_t **data)
{
    char addr[256];
    if (address_param(r, "nameSvrAddrList", addr) || add_namesrv(r, addr, 1))
        return -1;
    *data = lj_new_bool(1);
    return 0;
}

static int h_add_namesrv(dh_req_t *r, lj_val_t **data)
{
    char addr[256];
    if (address_param(r, "newNamesrvAddr", addr) || add_namesrv(r, addr, 0))
        return -1;
    *data = lj_new_bool(1);
    return 0;
}

static int h_update_vip(dh_req_t *r, lj_val_t **data)
{
    int on;
    if (!dh_param(r, "useVIPChannel"))
        return dh_fail(r, "useVIPChannel is required");
    if (dh_param_bool(r, "useVIPChannel", 0, &on))
        return -1;
    pthread_mutex_lock(&g_dh.mu);
    g_dh.vip_channel = on;
    pthread_mutex_unlock(&g_dh.mu);
    *data = lj_new_bool(1);
    return 0;
}

/* TLS is process-wide in the client library: connections opened from now on follow it. */
static int h_update_tls(dh_req_t *r, lj_val_t **data)
{
    int on;
    if (!dh_param(r, "useTLS"))
        return dh_fail(r, "useTLS is required");
    if (dh_param_bool(r, "useTLS", 0, &on))
        return -1;
    pthread_mutex_lock(&g_dh.mu); /* also keeps lc_tls_error's text to this request */
    int rc = on ? lc_tls_enable(NULL) : (lc_tls_disable(), 0);
    if (rc == 0)
        g_dh.use_tls = on;
    char why[256];
    snprintf(why, sizeof why, "%s", rc ? lc_tls_error() : "");
    pthread_mutex_unlock(&g_dh.mu);
    if (rc != 0)
        return dh_fail(r, "cannot switch TLS on: %s", why);
    *data = lj_new_bool(1);
    return 0;
}

/* The original's health checkers are unimplemented stubs that answer null; so are these. */
static int h_status(dh_req_t *r, lj_val_t **data)
{
    lj_val_t *o = lj_new_obj();
    lj_set(o, "CLUSTER_HEALTH_CHECK", lj_new_null());
    lj_set(o, "TOPIC_ONLY_ONE_BROKER_CHECK", lj_new_null());
    *data = o;
    return 0;
}

/* ---- rocketmq/nsaddr: the current entry as plain text, not in the envelope ---- */

static int h_nsaddr(dh_req_t *r, lj_val_t **data)
{
    char ns[256];
    dh_namesrv(ns);
    return dh_raw(r, "text/plain;charset=utf-8", ns, strlen(ns), NULL);
}

/* ---- proxy/ ---- */

static int h_proxy_home(dh_req_t *r, lj_val_t **data)
{
    lj_val_t *o = lj_new_obj();
    pthread_mutex_lock(&g_proxy_mu);
    lj_set_str(o, "currentProxyAddr", g_nproxy ? g_proxy[g_proxy_current] : "");
    lj_set(o, "proxyAddrList", str_list(g_proxy, g_nproxy));
    pthread_mutex_unlock(&g_proxy_mu);
    *data = o;
    return 0;
}

static int add_proxy(dh_req_t *r, const char *name, int current)
{
    char addr[256];
    if (address_param(r, name, addr))
        return -1;
    pthread_mutex_lock(&g_proxy_mu);
    int i = find(g_proxy, g_nproxy, addr);
    if (i < 0 && g_nproxy < MAX_PROXY) {
        i = g_nproxy++;
        snprintf(g_proxy[i], sizeof g_proxy[i], "%s", addr);
    }
    if (i >= 0 && current)
        g_proxy_current = i;
    pthread_mutex_unlock(&g_proxy_mu);
    return i < 0 ? dh_fail(r, "too many proxy addresses (at most %d)", MAX_PROXY) : 0;
}

static int h_add_proxy(dh_req_t *r, lj_val_t **data)
{
    if (add_proxy(r, "newProxyAddr", 0))
        return -1;
    *data = lj_new_bool(1);
    return 0;
}

static int h_update_proxy(dh_req_t *r, lj_val_t **data)
{
    if (add_proxy(r, "proxyAddr", 1))
        return -1;
    *data = lj_new_bool(1);
    return 0;
}

const dh_route_t dh_routes_ops[] = {
    {"ops/homePage.query", h_home, "GET"},
    {"ops/updateNameSvrAddr.do", h_update_namesrv, "POST"},
    {"ops/addNameSvrAddr.do", h_add_namesrv, "POST"},
    {"ops/updateIsVIPChannel.do", h_update_vip, "POST"},
    {"ops/updateUseTLS.do", h_update_tls, "POST"},
    {"ops/rocketMqStatus.query", h_status, "GET"},
    {"rocketmq/nsaddr.query", h_nsaddr, "GET"},
    {"rocketmq/nsaddr", h_nsaddr, "GET"}, /* 1.0.0's path */
    {"proxy/homePage.query", h_proxy_home, "GET"},
    {"proxy/addProxyAddr.do", h_add_proxy, "POST"},
    {"proxy/updateProxyAddr.do", h_update_proxy, "POST"},
    {NULL},
};
