/* namesrv: the route registry (`mqnamesrv`). Brokers register their topic tables every 30 s;
 * clients ask for routes. State is in memory, except the KV config (kvConfig.json).
 * Everything runs on the loop thread given to ns_start, except that big REGISTER_BROKER bodies
 * are decoded on libuv's thread pool (ns_stop may return while one is; the loop then finishes it). */
#ifndef LOULAN_NAMESRV_H
#define LOULAN_NAMESRV_H

#include <uv.h>

typedef struct ns_config {
    char listenAddr[64];      /* bind address, default 0.0.0.0 */
    int listenPort;           /* 9876 */
    int maxConnections;       /* Loulan's own key: accepted connections open at once (10000) */
    char kvConfigPath[1024];  /* default $HOME/namesrv/kvConfig.json */
    int orderMessageEnable;   /* return ORDER_TOPIC_CONFIG with routes */
    uint64_t brokerExpireMs;  /* 120000; a test may shorten it */
    uint64_t scanIntervalMs;  /* 10000 */
    /* Loulan's access control (RocketMQ's name server has none): with aclEnable, the requests
     * that change state (register/unregister a broker, delete a topic, KV config, config,
     * write permissions) must be signed by an admin account of namesrvAclFile */
    int aclEnable;
    char rocketmqHome[1024];  /* default: the ROCKETMQ_HOME environment variable */
    char namesrvAclFile[1024];/* default: <rocketmqHome>/conf/namesrv_acl.yml */
} ns_config_t;

typedef struct ns_server ns_server_t;

/* Fill defaults (HOME-relative paths). */
void ns_config_defaults(ns_config_t *cfg);
/* Apply one key=value (RocketMQ names). Returns 0, or -1 for an unknown key, -2 for a bad value. */
int ns_config_set(ns_config_t *cfg, const char *key, const char *val);
/* Print the effective configuration as key=value lines (like `mqnamesrv -p`). */
void ns_config_print(const ns_config_t *cfg);

/* Relations between values once all are set (derived paths); -1 with the reason in err. */
int ns_config_finish(ns_config_t *cfg, char *err, size_t errlen);
/* Start serving on cfg->listenPort. 0 or a negative error (port busy, bad KV file, an ACL
 * file that does not load). */
int ns_start(uv_loop_t *loop, const ns_config_t *cfg, ns_server_t **out);
int ns_port(const ns_server_t *ns);
/* Stop listening, close connections, free everything (after the loop drains). */
void ns_stop(ns_server_t *ns);

#endif
