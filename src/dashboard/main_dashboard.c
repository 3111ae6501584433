/* loulan-dashboard: the web console (docs/dashboard.md).
 * Usage: loulan-dashboard [-c application.properties] [-n namesrv] [--key=value ...] [-p] */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dashboard.h"
#include "loulan/tls.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = 1; }

/* Sign every admin request when accessKey and secretKey are configured (the broker's ACL). */
static rm_sign_key_t *g_key;
static int sign_hook(rm_cmd_t *req, ad_err_t *e)
{
    if (rm_sign_request_key(req, g_dh.cfg.access_key, g_key) != 0)
        return ad_fail(e, "cannot sign the request");
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: loulan-dashboard [-c application.properties] [-n namesrv] [--key=value ...] [-p]\n");
    return 2;
}

static void print_config(void)
{
    const dh_config_t *c = &g_dh.cfg;
    printf("server.port=%d\nserver.address=%s\n", c->port, c->address);
    for (int i = 0; i < g_dh.ns_count; i++)
        printf("rocketmq.config.namesrvAddrs[%d]=%s\n", i, g_dh.ns_list[i]);
    printf("rocketmq.config.isVIPChannel=%s\nrocketmq.config.useTLS=%s\n", g_dh.vip_channel ? "true" : "false",
           g_dh.use_tls ? "true" : "false");
    printf("rocketmq.config.dataPath=%s\nrocketmq.config.loginRequired=%s\n", c->data_path,
           c->login_required ? "true" : "false");
    printf("rocketmq.config.usersFile=%s\nrocketmq.config.enableDashBoardCollect=%s\n", c->users_file,
           c->collect ? "true" : "false");
    printf("rocketmq.config.timeoutMillis=%d\nrocketmq.config.accessKey=%s\n", c->timeout_ms, c->access_key);
    printf("loulan.dashboard.threads=%d\nloulan.dashboard.keepDays=%d\n", c->threads, c->data_days);
}

/* Settings that need more than a value: keys, TLS, the name server fallbacks. */
static int finish_config(void)
{
    const char *env = getenv("NAMESRV_ADDR");
    if (!g_dh.ns_count)
        snprintf(g_dh.ns_list[g_dh.ns_count++], 256, "%s", env && *env ? env : "127.0.0.1:9876");
    if (!!g_dh.cfg.access_key[0] != !!g_dh.cfg.secret_key[0]) {
        fprintf(stderr, "loulan-dashboard: accessKey and secretKey go together (one is missing)\n");
        return -1;
    }
    if (g_dh.cfg.access_key[0]) {
        g_key = rm_sign_key_new(g_dh.cfg.secret_key);
        if (!g_key)
            return -1;
        ad_set_signer(sign_hook);
    }
    ad_set_timeout_ms(g_dh.cfg.timeout_ms);
    if (g_dh.use_tls && lc_tls_enable(NULL) != 0) {
        fprintf(stderr, "loulan-dashboard: useTLS: %s\n", lc_tls_error());
        return -1;
    }
    if (cm_mkdirs(g_dh.cfg.data_path) != 0) {
        fprintf(stderr, "loulan-dashboard: cannot create dataPath %s\n", g_dh.cfg.data_path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *conf = NULL, *ns = NULL;
    int print = 0, i = 1;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc)
            conf = argv[++i];
        else if (!strcmp(argv[i], "-n") && i + 1 < argc)
            ns = argv[++i];
        else if (!strcmp(argv[i], "-p"))
            print = 1;
        else if (strncmp(argv[i], "--", 2) != 0)
            return usage();
    }
    if (dh_config_load(conf, &g_dh.cfg, g_dh.ns_list, &g_dh.ns_count) != 0)
        return 1;
    for (i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--", 2) && dh_config_arg(argv[i], &g_dh.cfg, g_dh.ns_list, &g_dh.ns_count) != 0)
            return 1;
    if (ns) {
        g_dh.ns_count = 0;
        snprintf(g_dh.ns_list[g_dh.ns_count++], 256, "%s", ns);
    }
    dh_config_finish(&g_dh.cfg);
    if (finish_config() != 0)
        return 1;
    if (print) {
        print_config();
        return 0;
    }
    /* Worker threads each parse megabytes of JSON on a large cluster; glibc would give each its
     * own arena and keep the freed memory per arena (measured with 10,000 groups under load:
     * peak 212 MB with the default, 129 MB with two arenas). */
    mallopt(M_ARENA_MAX, 2);
    const char *logdir = getenv("LOULAN_LOG_DIR");
    cm_log_open(logdir, "dashboard", 1);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (dh_auth_init() != 0 || dh_http_start() != 0)
        return 1;
    if (g_dh.cfg.collect && dh_collect_start() != 0)
        LOG_W("dashboard", "the Dashboard page's collection did not start");
    LOG_I("dashboard", "loulan-dashboard %s listening on %s:%d, name server %s", LOULAN_VERSION, g_dh.cfg.address,
          g_dh.cfg.port, g_dh.ns_list[0]);
    while (!g_stop)
        pause();
    dh_collect_stop();
    dh_http_stop();
    rm_sign_key_free(g_key);
    cm_log_close();
    return 0;
}
