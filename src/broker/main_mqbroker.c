/* mqbroker: the Loulan broker. `mqbroker -c broker.conf [-n namesrv]`, `-p` prints the
 * effective config, `-m` too (RocketMQ prints "important" keys; we print all). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker.h"
#include "common/common.h"
#include "remoting/remoting.h"

static br_broker_t *g_broker;
static uv_signal_t g_sigint, g_sigterm;
static rm_tls_conf_t g_tls; /* tls.* keys: broker.conf, then JAVA_OPT's -D words (spec §4.2) */
static int g_use_tls;       /* broker.conf useTLS=true: calls to name servers and master use TLS */

/* A TLS key of broker.conf (or useTLS). 0 taken, -1 not TLS, -2 bad value. */
static int tls_key(const char *k, const char *v)
{
    if (strcmp(k, "useTLS") == 0)
        return cm_parse_bool(v, &g_use_tls) == 0 ? 0 : -2;
    return rm_tls_conf_set(&g_tls, k, v);
}

/* Server context before listening; outgoing TLS when tls.enable, useTLS or enforcing, as
 * RocketMQ's broker decides. 0, or -1 after a message naming the key. */
static int tls_setup(int print)
{
    char err[512];
    if (rm_tls_conf_java_opt(&g_tls, getenv("JAVA_OPT"), err, sizeof err) != 0 ||
        rm_tls_conf_load_file(&g_tls, err, sizeof err) != 0)
        goto bad;
    if (g_use_tls || g_tls.server_mode == RM_TLS_ENFORCING)
        g_tls.enable = 1;
    if (print) {
        printf("tls.server.mode=%s\ntls.test.mode.enable=%s\ntls.enable=%s\n", rm_tls_mode_name(g_tls.server_mode),
               g_tls.test_mode ? "true" : "false", g_tls.enable ? "true" : "false");
        return 0;
    }
    if (rm_tls_server_setup(&g_tls, err, sizeof err) != 0 || rm_tls_client_setup(&g_tls, err, sizeof err) != 0)
        goto bad;
    LOG_I("broker", "TLS: tls.server.mode=%s%s, outgoing connections %s", rm_tls_mode_name(g_tls.server_mode),
          g_tls.server_mode == RM_TLS_DISABLED ? "" : g_tls.test_mode ? ", test mode (self-signed certificate)"
                                                                      : ", certificate from tls.server.certPath",
          g_tls.enable ? "TLS" : "plain");
    return 0;
bad:
    fprintf(stderr, "mqbroker: TLS: %s\n", err);
    return -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: mqbroker [-c configFile] [-n namesrvAddr] [-p] [-h]\n"
                    "  -c  broker.conf (RocketMQ keys: brokerClusterName, brokerName, brokerId, namesrvAddr,\n"
                    "      brokerIP1, listenPort, storePathRootDir, flushDiskType, ...)\n"
                    "  -n  name server address list, host:port;host:port (else namesrvAddr or NAMESRV_ADDR)\n"
                    "  -p  print the effective configuration and exit\n");
}

static void on_signal(uv_signal_t *s, int sig)
{
    LOG_I("broker", "signal %d: shutting down", sig);
    br_stop(g_broker);
    rm_tls_watch_stop();
    uv_close((uv_handle_t *)&g_sigint, NULL);
    uv_close((uv_handle_t *)&g_sigterm, NULL);
}

int main(int argc, char **argv)
{
    br_config_t cfg;
    br_config_defaults(&cfg);
    rm_tls_conf_init(&g_tls);
    const char *conf = NULL, *ns = NULL;
    int print = 0, opt;
    while ((opt = getopt(argc, argv, "c:n:pmh")) != -1) {
        switch (opt) {
        case 'c': conf = optarg; break;
        case 'n': ns = optarg; break;
        case 'p': case 'm': print = 1; break;
        default: usage(); return opt == 'h' ? 0 : 2;
        }
    }
    const char *home = getenv("HOME");
    char logdir[1024];
    snprintf(logdir, sizeof logdir, "%s/logs/rocketmqlogs", home ? home : ".");
    const char *ld = getenv("LOULAN_LOG_DIR");
    cm_log_open(print ? NULL : ld ? ld : logdir, "broker", !print);
    if (conf) {
        cm_props_t p = {0};
        if (cm_props_load(&p, conf) != 0) {
            fprintf(stderr, "mqbroker: cannot read config file %s\n", conf);
            return 1;
        }
        for (size_t i = 0; i < p.n; i++) {
            int rc = tls_key(p.items[i].key, p.items[i].val);
            if (rc == 0)
                continue;
            if (rc == -1)
                rc = br_config_set(&cfg, p.items[i].key, p.items[i].val);
            if (rc == -2) {
                fprintf(stderr, "mqbroker: bad value for %s in %s: '%s'\n", p.items[i].key, conf, p.items[i].val);
                cm_props_free(&p);
                return 1;
            }
            if (rc == -3) {
                fprintf(stderr, "mqbroker: %s=%s in %s is not supported by Loulan, and ignoring it would make the "
                                "broker less safe than the file asks (acknowledgements, roles or access): remove "
                                "it or set it to RocketMQ's default\n", p.items[i].key, p.items[i].val, conf);
                cm_props_free(&p);
                return 1;
            }
            if (rc == -1)
                LOG_W("broker", "unknown config key %s ignored", p.items[i].key);
        }
        cm_props_free(&p);
        snprintf(cfg.configFile, sizeof cfg.configFile, "%s", conf);
    }
    if (ns && br_config_set(&cfg, "namesrvAddr", ns)) {
        fprintf(stderr, "mqbroker: bad name server address '%s'\n", ns);
        return 1;
    }
    char err[256];
    if (br_config_finish(&cfg, err, sizeof err)) {
        fprintf(stderr, "mqbroker: %s\n", err);
        return 1;
    }
    if (tls_setup(print) != 0)
        return 1;
    if (print) {
        br_config_print(&cfg);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    rm_setup_limits("broker", cfg.maxConnections);
    uv_loop_t *loop = uv_default_loop();
    if (br_start(loop, &cfg, &g_broker) != 0) {
        fprintf(stderr, "mqbroker: start failed, see the log above\n");
        return 1;
    }
    rm_tls_watch_start(loop, &g_tls); /* certificate hot reload, as RocketMQ's */
    uv_signal_init(loop, &g_sigint);
    uv_signal_init(loop, &g_sigterm);
    uv_signal_start(&g_sigint, on_signal, SIGINT);
    uv_signal_start(&g_sigterm, on_signal, SIGTERM);
    LOG_I("broker", "The broker[%s, %s:%d] boot success. serializeType=JSON and name server is %s",
          cfg.brokerName, cfg.brokerIP1, cfg.listenPort, cfg.namesrvAddr[0] ? cfg.namesrvAddr : "(none)");
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    rm_tls_cleanup();
    rm_tls_conf_free(&g_tls);
    cm_log_close();
    return 0;
}
