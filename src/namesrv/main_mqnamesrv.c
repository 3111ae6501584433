/* mqnamesrv: the Loulan name server. Flags as RocketMQ's: -c <file> (properties),
 * -p (print the effective config and exit), plus -n/--listenPort style overrides. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "namesrv/namesrv.h"
#include "remoting/remoting.h"

static uv_loop_t *g_loop;
static ns_server_t *g_ns;
static uv_signal_t g_sigint, g_sigterm;
static rm_tls_conf_t g_tls; /* tls.* keys: from the -c file, then JAVA_OPT's -D words (spec §4.2) */

static void usage(void)
{
    fprintf(stderr, "usage: mqnamesrv [-c configFile] [-p] [-l listenPort] [-h]\n"
                    "  -c  properties file with RocketMQ name server keys (listenPort, kvConfigPath, ...)\n"
                    "  -p  print the effective configuration and exit\n"
                    "  -l  listen port (default 9876)\n");
}

static void on_signal(uv_signal_t *s, int sig)
{
    LOG_I("namesrv", "signal %d: shutting down", sig);
    ns_stop(g_ns);
    rm_tls_watch_stop();
    uv_close((uv_handle_t *)&g_sigint, NULL);
    uv_close((uv_handle_t *)&g_sigterm, NULL);
}

static int apply(ns_config_t *cfg, const char *k, const char *v, int strict)
{
    int rc = rm_tls_conf_set(&g_tls, k, v);
    if (rc == 0)
        return 0;
    if (rc == -1)
        rc = ns_config_set(cfg, k, v);
    if (rc == -2 || (rc == -1 && strict)) {
        fprintf(stderr, "mqnamesrv: bad value for %s: '%s'\n", k, v);
        return -1;
    }
    if (rc == -1)
        LOG_W("namesrv", "unknown config key %s ignored", k);
    return 0;
}

int main(int argc, char **argv)
{
    ns_config_t cfg;
    ns_config_defaults(&cfg);
    rm_tls_conf_init(&g_tls);
    const char *conf = NULL, *port = NULL;
    int print = 0, opt;
    while ((opt = getopt(argc, argv, "c:pl:h")) != -1) {
        switch (opt) {
        case 'c': conf = optarg; break;
        case 'p': print = 1; break;
        case 'l': port = optarg; break;
        default: usage(); return opt == 'h' ? 0 : 2;
        }
    }
    const char *home = getenv("HOME");
    char logdir[1024];
    snprintf(logdir, sizeof logdir, "%s/logs/rocketmqlogs", home ? home : ".");
    const char *ld = getenv("LOULAN_LOG_DIR");
    cm_log_open(ld ? ld : logdir, "namesrv", !print);
    if (conf) {
        cm_props_t p = {0};
        if (cm_props_load(&p, conf) != 0) {
            fprintf(stderr, "mqnamesrv: cannot read config file %s\n", conf);
            return 1;
        }
        for (size_t i = 0; i < p.n; i++)
            if (apply(&cfg, p.items[i].key, p.items[i].val, 0))
                return 1;
        cm_props_free(&p);
    }
    if (port && apply(&cfg, "listenPort", port, 1))
        return 1;
    /* TLS as RocketMQ's runserver.sh gives it (-Dtls.server.mode=... in JAVA_OPT), over the file;
     * a bad setting refuses to start, naming the key. */
    char err[512];
    if (rm_tls_conf_java_opt(&g_tls, getenv("JAVA_OPT"), err, sizeof err) != 0 ||
        rm_tls_conf_load_file(&g_tls, err, sizeof err) != 0 ||
        (!print && rm_tls_server_setup(&g_tls, err, sizeof err) != 0)) {
        fprintf(stderr, "mqnamesrv: TLS: %s\n", err);
        return 1;
    }
    if (print) {
        ns_config_print(&cfg);
        printf("tls.server.mode=%s\ntls.test.mode.enable=%s\n", rm_tls_mode_name(g_tls.server_mode),
               g_tls.test_mode ? "true" : "false");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    rm_setup_limits("namesrv", cfg.maxConnections);
    g_loop = uv_default_loop();
    if (ns_start(g_loop, &cfg, &g_ns) != 0) {
        fprintf(stderr, "mqnamesrv: cannot listen on port %d\n", cfg.listenPort);
        return 1;
    }
    rm_tls_watch_start(g_loop, &g_tls); /* certificate hot reload, as RocketMQ's */
    uv_signal_init(g_loop, &g_sigint);
    uv_signal_init(g_loop, &g_sigterm);
    uv_signal_start(&g_sigint, on_signal, SIGINT);
    uv_signal_start(&g_sigterm, on_signal, SIGTERM);
    LOG_I("namesrv", "The Name Server boot success. serializeType=JSON, port %d", ns_port(g_ns));
    LOG_I("namesrv", "TLS: tls.server.mode=%s%s", rm_tls_mode_name(g_tls.server_mode),
          g_tls.server_mode == RM_TLS_DISABLED ? "" : g_tls.test_mode ? ", test mode (self-signed certificate)"
                                                                      : ", certificate from tls.server.certPath");
    uv_run(g_loop, UV_RUN_DEFAULT);
    uv_loop_close(g_loop);
    rm_tls_cleanup();
    rm_tls_conf_free(&g_tls);
    cm_log_close();
    return 0;
}
