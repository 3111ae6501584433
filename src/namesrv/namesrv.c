/* mqnamesrv request handlers (RequestCode table below), the broker-expiry timer and config.
 * Answers follow the real 4.9.x name server: codes, remarks, and which JSON dialect each
 * requester gets (quoted map keys only for clients >= V4_9_4). Big broker registrations are
 * decoded on libuv's pool and applied in slices, in arrival order (see REGISTER_BROKER below). */
#include "namesrv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include "acl/acl.h"
#include "remoting/remoting.h"
#include "route.h"

#define V4_9_4 401

typedef struct ns_job ns_job_t;

struct ns_server {
    uv_loop_t *loop;
    ns_config_t cfg;
    ns_routes_t routes;
    rm_endpoint_t ep;
    rm_server_t *srv;
    uv_timer_t scan;
    uv_idle_t apply;            /* runs while a big registration's topics are applied in slices */
    int closing;                /* handles still closing after ns_stop */
    ns_job_t *jobs, *jobs_tail; /* registrations and unregistrations in arrival order */
    int njobs, nbig;
    acl_watch_t *acl;           /* aclEnable: the accounts of namesrvAclFile */
    uint64_t acl_refused, acl_last_log;
    /* a large registration's signature is checked on the pool with its body: ns_admit leaves
     * the secret here for the handler that runs right after it, which moves it to the job */
    char verify_secret[256];
};

/* ---- config ---- */

void ns_config_defaults(ns_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->listenAddr, sizeof cfg->listenAddr, "0.0.0.0");
    cfg->listenPort = 9876;
    cfg->maxConnections = 10000;
    const char *home = getenv("HOME");
    snprintf(cfg->kvConfigPath, sizeof cfg->kvConfigPath, "%s/namesrv/kvConfig.json", home ? home : ".");
    cfg->brokerExpireMs = 120000;
    cfg->scanIntervalMs = 10000;
    const char *rmq = getenv("ROCKETMQ_HOME");
    if (rmq && strlen(rmq) < sizeof cfg->rocketmqHome)
        snprintf(cfg->rocketmqHome, sizeof cfg->rocketmqHome, "%s", rmq);
}

int ns_config_finish(ns_config_t *cfg, char *err, size_t errlen)
{
    if (!cfg->aclEnable || cfg->namesrvAclFile[0])
        return 0;
    if (!cfg->rocketmqHome[0]) {
        snprintf(err, errlen, "aclEnable=true needs namesrvAclFile or rocketmqHome (or the ROCKETMQ_HOME environment "
                              "variable): the accounts are read from <rocketmqHome>/conf/namesrv_acl.yml");
        return -1;
    }
    if (strlen(cfg->rocketmqHome) + 24 >= sizeof cfg->namesrvAclFile) {
        snprintf(err, errlen, "rocketmqHome is too long");
        return -1;
    }
    snprintf(cfg->namesrvAclFile, sizeof cfg->namesrvAclFile, "%s/conf/namesrv_acl.yml", cfg->rocketmqHome);
    return 0;
}

/* With access control on, a missing account file is a mistake, not an empty table: without it
 * no broker could ever register. */
static int acl_file_present(const ns_config_t *cfg, char *err, size_t errlen)
{
    if (!cfg->aclEnable || access(cfg->namesrvAclFile, R_OK) == 0)
        return 0;
    snprintf(err, errlen, "aclEnable=true but namesrvAclFile %s cannot be read: %s", cfg->namesrvAclFile,
             strerror(errno));
    return -1;
}

int ns_config_set(ns_config_t *cfg, const char *key, const char *val)
{
    int64_t v;
    int b;
    if (strcmp(key, "listenPort") == 0) {
        if (cm_parse_i64(val, &v) || v < 0 || v > 65535)
            return -2;
        cfg->listenPort = (int)v;
    } else if (strcmp(key, "maxConnections") == 0) {
        if (cm_parse_i64(val, &v) || v < 1 || v > (1 << 24))
            return -2;
        cfg->maxConnections = (int)v;
    } else if (strcmp(key, "listenAddr") == 0 || strcmp(key, "bindAddress") == 0) {
        snprintf(cfg->listenAddr, sizeof cfg->listenAddr, "%s", val);
    } else if (strcmp(key, "kvConfigPath") == 0) {
        snprintf(cfg->kvConfigPath, sizeof cfg->kvConfigPath, "%s", val);
    } else if (strcmp(key, "orderMessageEnable") == 0) {
        if (cm_parse_bool(val, &b))
            return -2;
        cfg->orderMessageEnable = b;
    } else if (strcmp(key, "brokerExpireMillis") == 0) {
        if (cm_parse_i64(val, &v) || v < 100)
            return -2;
        cfg->brokerExpireMs = (uint64_t)v;
    } else if (strcmp(key, "scanNotActiveBrokerInterval") == 0) {
        if (cm_parse_i64(val, &v) || v < 100)
            return -2;
        cfg->scanIntervalMs = (uint64_t)v;
    } else if (strcmp(key, "aclEnable") == 0) {
        if (cm_parse_bool(val, &b))
            return -2;
        cfg->aclEnable = b;
    } else if (strcmp(key, "rocketmqHome") == 0 || strcmp(key, "namesrvAclFile") == 0) {
        char *dst = key[0] == 'r' ? cfg->rocketmqHome : cfg->namesrvAclFile;
        if (strlen(val) >= sizeof cfg->rocketmqHome)
            return -2;
        snprintf(dst, sizeof cfg->rocketmqHome, "%s", val);
    } else {
        return -1;
    }
    return 0;
}

void ns_config_print(const ns_config_t *cfg)
{
    printf("listenAddr=%s\nlistenPort=%d\nkvConfigPath=%s\norderMessageEnable=%s\n"
           "brokerExpireMillis=%llu\nscanNotActiveBrokerInterval=%llu\nmaxConnections=%d\naclEnable=%s\n"
           "rocketmqHome=%s\nnamesrvAclFile=%s\n",
           cfg->listenAddr, cfg->listenPort, cfg->kvConfigPath, cfg->orderMessageEnable ? "true" : "false",
           (unsigned long long)cfg->brokerExpireMs, (unsigned long long)cfg->scanIntervalMs, cfg->maxConnections,
           cfg->aclEnable ? "true" : "false", cfg->rocketmqHome, cfg->namesrvAclFile);
}

/* ---- handlers ---- */

/* ---- REGISTER_BROKER / UNREGISTER_BROKER ----
 * A broker of 40k topics sends 6 MB of JSON: parsing it is ~700k allocations, 0.3-0.8 s that
 * would hold every other client's request (2-7 s under the sanitizers). So bodies over
 * NS_ASYNC_BYTES, and compressed ones (their inflated size is unknown until inflated), are
 * checked and decoded on libuv's thread pool, which ns_reg_body_decode allows; back on the
 * loop the broker's entry is updated at once and its topics applied NS_APPLY_SLICE per loop
 * turn (uv_idle), then the broker is answered. Jobs run one at a time in arrival order, and
 * while any is queued every registration and unregistration queues behind it, so a broker's
 * requests take effect in the order it sent them. At most NS_ASYNC_MAX big ones wait (each
 * holds its body); more get SYSTEM_BUSY and the broker tries again at its next registration.
 * Brokers of a few hundred topics send a few KiB and are handled at once, as before. */
#define NS_ASYNC_BYTES (64 * 1024)
#define NS_ASYNC_MAX 8
#define NS_QUEUE_MAX 1024
#define NS_APPLY_SLICE 2000
#define NS_ECRC 1 /* not a CM_ error: the body's crc32 does not match bodyCrc32 */
#define NS_ESIG 2 /* not a CM_ error: the signature does not match (access control) */

enum { JOB_WAITING, JOB_DECODING, JOB_APPLYING };

struct ns_job {
    uv_work_t work;
    ns_server_t *ns;            /* NULL once the server stopped while the job was on the pool */
    rm_conn_t *conn;            /* referenced until the job is freed */
    rm_cmd_t req;               /* the request's header fields, for the answer */
    int unreg;                  /* an UNREGISTER_BROKER waiting behind registrations */
    char *cluster, *addr, *name, *ha;
    int64_t id, crc;
    int compressed, big, state, rc, due;
    int whole, pruning;         /* topicTableComplete: after the apply, a prune walk (route.h) */
    uint32_t gen;
    size_t dropped;
    uint8_t *body;              /* freed on the pool once decoded */
    size_t len;
    ns_reg_body_t rb;
    size_t done;                /* topics applied (and their decoded names freed) so far */
    rm_cmd_t signed_req;        /* access control: the fields to verify with the body ... */
    char secret[256];           /* ... against this secret, on the pool ("" = nothing to verify) */
    struct ns_job *next;
};

/* Check and decode a REGISTER_BROKER body: 0, NS_ECRC or the decoder's error. Any thread. */
static int reg_decode(const uint8_t *body, size_t len, int64_t crc, int compressed, int version, ns_reg_body_t *rb)
{
    if (crc != 0 && crc != cm_crc32(body, len))
        return NS_ECRC;
    return ns_reg_body_decode(body, len, compressed, version, rb);
}

static void reg_refuse(rm_conn_t *c, const rm_cmd_t *req, const char *addr, int rc)
{
    if (rc == NS_ECRC) {
        LOG_W("namesrv", "register from %s: body crc32 does not match", addr);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "crc32 not match");
    } else if (rc == NS_ESIG) {
        LOG_W("namesrv", "register from %s refused: its signature does not match", addr);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "org.apache.rocketmq.acl.common.AclException: Check signature failed");
    } else if (rc == CM_ENOMEM) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "out of memory");
    } else {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "register body of broker %s cannot be decoded", addr);
    }
}

/* The answer to a registration once applied: a slave learns its master's addresses, and every
 * broker gets the ORDER_TOPIC_CONFIG table. */
static void reg_answer(ns_server_t *ns, rm_conn_t *c, const rm_cmd_t *req, const ns_reg_t *g)
{
    const char *master, *masterHa;
    ns_routes_master(&ns->routes, g, &master, &masterHa);
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    if (master) {
        rm_ext_set(&resp, "masterAddr", master);
        rm_ext_set(&resp, "haServerAddr", masterHa);
    }
    lj_val_t *kv = ns_kv_table_json(&ns->routes, "ORDER_TOPIC_CONFIG");
    cm_buf_t b;
    cm_buf_init(&b);
    if (kv && lj_write(kv, LJ_W_FASTJSON, &b) == 0) {
        resp.body = (const uint8_t *)b.data;
        resp.body_len = b.len;
    }
    lj_free(kv);
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
    cm_buf_free(&b);
}

static void log_if_new(ns_server_t *ns, const ns_reg_t *g)
{
    if (!ns_routes_live(&ns->routes, g->addr))
        LOG_I("namesrv", "new broker registered, %s (%s, %s, id %lld)", g->addr, g->name, g->cluster, (long long)g->id);
}

static void job_free(ns_job_t *j)
{
    free(j->cluster);
    free(j->addr);
    free(j->name);
    free(j->ha);
    free(j->body);
    ns_reg_body_free(&j->rb);
    rm_cmd_free(&j->req);
    rm_cmd_free(&j->signed_req);
    explicit_bzero(j->secret, sizeof j->secret);
    rm_conn_unref(j->conn);
    free(j);
}

static void job_pop(ns_server_t *ns)
{
    ns_job_t *j = ns->jobs;
    ns->jobs = j->next;
    if (!ns->jobs)
        ns->jobs_tail = NULL;
    ns->njobs--;
    ns->nbig -= j->big;
    job_free(j);
}

static void jobs_run(ns_server_t *ns);

/* The head job is finished: drop it and start the next. */
static void job_done(ns_server_t *ns)
{
    job_pop(ns);
    jobs_run(ns);
}

static ns_reg_t job_reg(ns_server_t *ns, const ns_job_t *j)
{
    return (ns_reg_t){.cluster = j->cluster, .addr = j->addr, .name = j->name, .ha = j->ha, .id = j->id,
                      .dvCounter = j->rb.dvCounter, .dvTimestamp = j->rb.dvTimestamp, .topics = j->rb.topics,
                      .ntopics = j->rb.n, .connId = rm_conn_id(j->conn), .now = uv_now(ns->loop), .gen = j->gen};
}

static void job_work(uv_work_t *w)
{
    ns_job_t *j = w->data;
    if (j->secret[0]) {
        j->signed_req.body = j->body;
        j->signed_req.body_len = j->len;
        if (!rm_sign_verify(&j->signed_req, j->secret)) {
            j->rc = NS_ESIG;
            return; /* the body is freed with the job */
        }
    }
    j->rc = reg_decode(j->body, j->len, j->crc, j->compressed, j->req.version, &j->rb);
    free(j->body); /* 6 MB freed here, not on the loop */
    j->body = NULL;
}

/* One slice of the head job's topics per loop turn; answers after the last. The decoded names
 * are freed as they go, so no step is larger than a slice. */
static void on_apply(uv_idle_t *h)
{
    ns_server_t *ns = h->data;
    ns_job_t *j = ns->jobs;
    if (rm_conn_is_closed(j->conn)) {
        /* Its close already removed the broker: applying the rest would leave orphan topics. */
        LOG_W("namesrv", "broker %s closed its connection during its registration; stopped applying it", j->addr);
        uv_idle_stop(h);
        job_done(ns);
        return;
    }
    ns_reg_t g = job_reg(ns, j);
    if (j->pruning) {
        if (!ns_routes_prune_step(&ns->routes, j->name, j->gen, NS_APPLY_SLICE, &j->dropped))
            return;
        if (j->dropped)
            LOG_I("namesrv", "broker %s (%s) no longer carries %zu topic(s): their queue data is dropped", j->addr,
                  j->name, j->dropped);
        reg_answer(ns, j->conn, &j->req, &g);
        uv_idle_stop(h);
        job_done(ns);
        return;
    }
    size_t to = j->done + NS_APPLY_SLICE < j->rb.n ? j->done + NS_APPLY_SLICE : j->rb.n;
    int rc = j->due ? ns_routes_put_topics(&ns->routes, &g, j->done, to) : 0;
    for (; j->done < to; j->done++) {
        free(j->rb.topics[j->done].name);
        j->rb.topics[j->done].name = NULL;
    }
    if (!rc && j->done == j->rb.n && j->due && j->whole) {
        j->pruning = 1; /* the next turns walk the topics */
        ns_routes_prune_start(&ns->routes);
        return;
    }
    if (rc || j->done == j->rb.n) {
        if (rc)
            reg_refuse(j->conn, &j->req, j->addr, rc);
        else
            reg_answer(ns, j->conn, &j->req, &g);
        uv_idle_stop(h);
        job_done(ns);
    }
}

static void job_decoded(uv_work_t *w, int status)
{
    ns_job_t *j = w->data;
    ns_server_t *ns = j->ns;
    if (!ns) { /* the server is gone */
        job_free(j);
        return;
    }
    if (status != 0 || j->rc != 0) {
        reg_refuse(j->conn, &j->req, j->addr, status != 0 ? CM_ENOMEM : j->rc);
        job_done(ns);
        return;
    }
    if (rm_conn_is_closed(j->conn)) { /* the broker left meanwhile; its close removed it */
        job_done(ns);
        return;
    }
    ns_reg_t g = job_reg(ns, j);
    log_if_new(ns, &g);
    int rc = ns_routes_register_broker(&ns->routes, &g, &j->due);
    if (j->due && j->whole)
        j->gen = ns_routes_next_gen(&ns->routes);
    if (rc) {
        reg_refuse(j->conn, &j->req, j->addr, rc);
        job_done(ns);
        return;
    }
    j->state = JOB_APPLYING;
    uv_idle_start(&ns->apply, on_apply);
}

/* Start the head job; unregistrations (and registrations of closed connections) finish at
 * once, so go on until one is on the pool or applying, or none is left. */
static void jobs_run(ns_server_t *ns)
{
    ns_job_t *j;
    while ((j = ns->jobs) && j->state == JOB_WAITING) {
        if (j->unreg) {
            LOG_I("namesrv", "broker %s (%s, id %lld) unregistered", j->addr, j->name, (long long)j->id);
            ns_routes_unregister(&ns->routes, j->cluster, j->addr, j->name, j->id);
            rm_conn_respond_code(j->conn, &j->req, RC_SUCCESS, NULL);
        } else if (!rm_conn_is_closed(j->conn)) { /* a broker gone meanwhile is not worth decoding */
            j->state = JOB_DECODING;
            if (uv_queue_work(ns->loop, &j->work, job_work, job_decoded) == 0)
                return;
            reg_refuse(j->conn, &j->req, j->addr, CM_ENOMEM);
        }
        job_pop(ns);
    }
}

/* Queue a (un)registration behind the others. The body is copied; the request's header
 * fields are kept for the answer. Answers the request itself if it cannot queue. */
static void job_queue(ns_server_t *ns, rm_conn_t *c, const rm_cmd_t *req, int unreg, const char *cluster,
                      const char *addr, const char *name, const char *ha, int64_t id, int compressed, int64_t crc,
                      int whole)
{
    int big = !unreg && (compressed || req->body_len > NS_ASYNC_BYTES);
    if ((big && ns->nbig >= NS_ASYNC_MAX) || ns->njobs >= NS_QUEUE_MAX) {
        rm_conn_respond_code(c, req, RC_SYSTEM_BUSY, "too many broker registrations in progress (%d), try again later",
                             ns->njobs);
        return;
    }
    ns_job_t *j = calloc(1, sizeof *j);
    if (!j || !(j->cluster = cm_strdup(cluster)) || !(j->addr = cm_strdup(addr)) || !(j->name = cm_strdup(name)) ||
        (ha && !(j->ha = cm_strdup(ha))) || (req->body_len && !(j->body = malloc(req->body_len)))) {
        if (j) {
            free(j->cluster);
            free(j->addr);
            free(j->name);
            free(j->ha);
        }
        free(j);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "out of memory");
        return;
    }
    if (req->body_len)
        memcpy(j->body, req->body, req->body_len);
    j->len = req->body_len;
    j->work.data = j;
    j->ns = ns;
    j->conn = c;
    rm_conn_ref(c);
    rm_cmd_init_header_of(&j->req, req);
    if (ns->verify_secret[0] && !unreg) { /* ns_admit left the signature to check with the body */
        rm_cmd_init(&j->signed_req, req->code);
        for (size_t i = 0; i < req->next; i++)
            rm_ext_add(&j->signed_req, req->ext[i].key, req->ext[i].val);
        memcpy(j->secret, ns->verify_secret, sizeof j->secret);
    }
    explicit_bzero(ns->verify_secret, sizeof ns->verify_secret);
    j->unreg = unreg;
    j->id = id;
    j->crc = crc;
    j->compressed = compressed;
    j->whole = whole;
    j->big = big;
    ns->nbig += big;
    ns->njobs++;
    if (ns->jobs_tail)
        ns->jobs_tail->next = j;
    else
        ns->jobs = j;
    ns->jobs_tail = j;
    if (ns->jobs == j)
        jobs_run(ns);
}

static void h_register_broker(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *name, *addr, *cluster, *ha;
    int64_t id;
    if (!(name = rm_req_str(c, req, "brokerName")) || !(addr = rm_req_str(c, req, "brokerAddr")) ||
        !(cluster = rm_req_str(c, req, "clusterName")) || rm_req_i64(c, req, "brokerId", &id))
        return;
    ha = rm_ext_get(req, "haServerAddr");
    int64_t crc = 0;
    rm_ext_i64(req, "bodyCrc32", &crc);
    int compressed = 0;
    rm_ext_bool(req, "compressed", &compressed);
    int whole = 0; /* its prune walk is linear in all topics: it always goes the sliced way */
    rm_ext_bool(req, "topicTableComplete", &whole);
    if (compressed || whole || req->body_len > NS_ASYNC_BYTES || ns->jobs) {
        job_queue(ns, c, req, 0, cluster, addr, name, ha, id, compressed, crc, whole);
        return;
    }
    ns_reg_body_t rb = {0};
    int rc = reg_decode(req->body, req->body_len, crc, compressed, req->version, &rb);
    ns_reg_t g = {.cluster = cluster, .addr = addr, .name = name, .ha = ha, .id = id,
                  .dvCounter = rb.dvCounter, .dvTimestamp = rb.dvTimestamp, .topics = rb.topics,
                  .ntopics = rb.n, .connId = rm_conn_id(c), .now = uv_now(ns->loop)};
    const char *master, *masterHa;
    if (rc == 0) {
        log_if_new(ns, &g);
        rc = ns_routes_register(&ns->routes, &g, &master, &masterHa);
    }
    ns_reg_body_free(&rb);
    if (rc)
        reg_refuse(c, req, addr, rc);
    else
        reg_answer(ns, c, req, &g);
}

static void h_unregister_broker(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *name, *addr, *cluster;
    int64_t id;
    if (!(name = rm_req_str(c, req, "brokerName")) || !(addr = rm_req_str(c, req, "brokerAddr")) ||
        !(cluster = rm_req_str(c, req, "clusterName")) || rm_req_i64(c, req, "brokerId", &id))
        return;
    if (ns->jobs) { /* after the registrations that came before it */
        job_queue(ns, c, req, 1, cluster, addr, name, NULL, id, 0, 0, 0);
        return;
    }
    LOG_I("namesrv", "broker %s (%s, id %lld) unregistered", addr, name, (long long)id);
    ns_routes_unregister(&ns->routes, cluster, addr, name, id);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static void h_get_route(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *topic = rm_req_str(c, req, "topic");
    if (!topic)
        return;
    const char *order = ns->cfg.orderMessageEnable ? ns_kv_get(&ns->routes, "ORDER_TOPIC_CONFIG", topic) : NULL;
    lj_val_t *route = ns_routes_route_json(&ns->routes, topic, order);
    if (!route) {
        rm_conn_respond_code(c, req, RC_TOPIC_NOT_EXIST,
                             "No topic route info in name server for the topic: %s\n"
                             "See http://rocketmq.apache.org/docs/faq/ for further details.", topic);
        return;
    }
    int standard = 0;
    rm_ext_bool(req, "acceptStandardJsonOnly", &standard);
    /* Clients older than 4.9.4 get fastjson's bare integer keys, as the real server sends. */
    rm_conn_respond_json(c, req, route, standard || req->version >= V4_9_4 ? LJ_W_STRICT : LJ_W_FASTJSON);
}

static void h_cluster_info(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    rm_conn_respond_json(c, req, ns_routes_cluster_json(&ns->routes), LJ_W_FASTJSON);
}

static void topic_list(rm_conn_t *c, rm_cmd_t *req, ns_server_t *ns, int filter)
{
    const char *cluster = NULL;
    if (filter == 1 && !(cluster = rm_req_str(c, req, "cluster")))
        return;
    rm_conn_respond_json(c, req, ns_routes_topic_list_json(&ns->routes, filter, cluster), LJ_W_FASTJSON);
}

static void h_all_topics(rm_conn_t *c, rm_cmd_t *req, void *ctx) { topic_list(c, req, ctx, 0); }
static void h_topics_by_cluster(rm_conn_t *c, rm_cmd_t *req, void *ctx) { topic_list(c, req, ctx, 1); }
static void h_unit_topics(rm_conn_t *c, rm_cmd_t *req, void *ctx) { topic_list(c, req, ctx, 2); }
static void h_unit_sub_topics(rm_conn_t *c, rm_cmd_t *req, void *ctx) { topic_list(c, req, ctx, 3); }
static void h_unit_sub_ununit_topics(rm_conn_t *c, rm_cmd_t *req, void *ctx) { topic_list(c, req, ctx, 4); }
static void h_system_topics(rm_conn_t *c, rm_cmd_t *req, void *ctx) { topic_list(c, req, ctx, 5); }

static void h_delete_topic(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *topic = rm_req_str(c, req, "topic");
    if (!topic)
        return;
    ns_routes_delete_topic(&ns->routes, topic, rm_ext_get(req, "clusterName"));
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static void write_perm(rm_conn_t *c, rm_cmd_t *req, ns_server_t *ns, int wipe)
{
    const char *name = rm_req_str(c, req, "brokerName");
    if (!name)
        return;
    int n = ns_routes_write_perm(&ns->routes, name, wipe);
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_ext_set_i64(&resp, wipe ? "wipeTopicCount" : "addTopicCount", n);
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
}

static void h_wipe_write_perm(rm_conn_t *c, rm_cmd_t *req, void *ctx) { write_perm(c, req, ctx, 1); }
static void h_add_write_perm(rm_conn_t *c, rm_cmd_t *req, void *ctx) { write_perm(c, req, ctx, 0); }

static void h_put_kv(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *n, *k, *v;
    if (!(n = rm_req_str(c, req, "namespace")) || !(k = rm_req_str(c, req, "key")) || !(v = rm_req_str(c, req, "value")))
        return;
    if (ns_kv_put(&ns->routes, n, k, v) || ns_kv_save(&ns->routes, ns->cfg.kvConfigPath)) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "cannot persist KV config to %s", ns->cfg.kvConfigPath);
        return;
    }
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static void h_get_kv(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *n, *k;
    if (!(n = rm_req_str(c, req, "namespace")) || !(k = rm_req_str(c, req, "key")))
        return;
    const char *v = ns_kv_get(&ns->routes, n, k);
    if (!v) {
        rm_conn_respond_code(c, req, RC_QUERY_NOT_FOUND, "No config item, Namespace: %s Key: %s", n, k);
        return;
    }
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_ext_set(&resp, "value", v);
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
}

static void h_delete_kv(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *n, *k;
    if (!(n = rm_req_str(c, req, "namespace")) || !(k = rm_req_str(c, req, "key")))
        return;
    if (ns_kv_delete(&ns->routes, n, k) == 0)
        ns_kv_save(&ns->routes, ns->cfg.kvConfigPath);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static void h_kv_list(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *n = rm_req_str(c, req, "namespace");
    if (!n)
        return;
    lj_val_t *t = ns_kv_table_json(&ns->routes, n);
    if (!t) {
        rm_conn_respond_code(c, req, RC_QUERY_NOT_FOUND, "No config item, Namespace: %s", n);
        return;
    }
    rm_conn_respond_json(c, req, t, LJ_W_FASTJSON);
}

static void h_query_data_version(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    const char *addr = rm_req_str(c, req, "brokerAddr");
    if (!addr)
        return;
    lj_val_t *dv = NULL;
    lj_parse((const char *)req->body, req->body_len, &dv);
    int64_t counter = lj_get_int(dv, "counter", -1), ts = lj_get_int(dv, "timestamp", -1);
    lj_free(dv);
    ns_live_t *l = ns_routes_live(&ns->routes, addr);
    int changed = !l || l->dvCounter != counter || l->dvTimestamp != ts;
    if (l && !changed)
        l->last = uv_now(ns->loop);
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_ext_set(&resp, "changed", changed ? "true" : "false");
    cm_buf_t b;
    cm_buf_init(&b);
    if (l) {
        cm_buf_printf(&b, "{\"counter\":%lld,\"timestamp\":%lld}", (long long)l->dvCounter, (long long)l->dvTimestamp);
        resp.body = (const uint8_t *)b.data;
        resp.body_len = b.len;
    }
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
    cm_buf_free(&b);
}

static void h_get_config(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    cm_buf_t b;
    cm_buf_init(&b);
    cm_buf_printf(&b, "listenPort=%d\nkvConfigPath=%s\norderMessageEnable=%s\n", ns->cfg.listenPort,
                  ns->cfg.kvConfigPath, ns->cfg.orderMessageEnable ? "true" : "false");
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    resp.body = (const uint8_t *)b.data;
    resp.body_len = b.len;
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
    cm_buf_free(&b);
}

/* Runtime config changes are limited to harmless switches: never paths (RocketMQ's
 * remote-config-injection hole came from exactly that). */
static void h_update_config(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    cm_props_t p = {0};
    cm_props_parse(&p, (const char *)req->body, req->body_len);
    for (size_t i = 0; i < p.n; i++) {
        if (strcmp(p.items[i].key, "orderMessageEnable") != 0) {
            rm_conn_respond_code(c, req, RC_NO_PERMISSION, "Can not update config in black list: %s", p.items[i].key);
            cm_props_free(&p);
            return;
        }
    }
    for (size_t i = 0; i < p.n; i++)
        ns_config_set(&ns->cfg, p.items[i].key, p.items[i].val);
    cm_props_free(&p);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static const rm_handler_t k_handlers[] = {
    {100, h_put_kv},
    {101, h_get_kv},
    {102, h_delete_kv},
    {103, h_register_broker},
    {104, h_unregister_broker},
    {105, h_get_route},
    {106, h_cluster_info},
    {205, h_wipe_write_perm},
    {206, h_all_topics},
    {216, h_delete_topic},
    {219, h_kv_list},
    {224, h_topics_by_cluster},
    {304, h_system_topics},
    {311, h_unit_topics},
    {312, h_unit_sub_topics},
    {313, h_unit_sub_ununit_topics},
    {318, h_update_config},
    {319, h_get_config},
    {322, h_query_data_version},
    {327, h_add_write_perm},
};

/* ---- access control (Loulan's; RocketMQ's name server has none, spec §1.1) ----
 * Reads stay open (every client asks routes, and most clients do not sign); what changes the
 * name server's state needs a valid signature of an admin account, or a white-listed address:
 * so a process without the key cannot register a broker, steal a topic's route, or rewrite the
 * KV config. Refusals answer as the broker's ACL does (code 1, AclException). */
static int is_write(int code)
{
    switch (code) {
    case 100: /* PUT_KV_CONFIG */
    case 102: /* DELETE_KV_CONFIG */
    case 103: /* REGISTER_BROKER */
    case 104: /* UNREGISTER_BROKER */
    case 205: /* WIPE_WRITE_PERM_OF_BROKER */
    case 216: /* DELETE_TOPIC_IN_NAMESRV */
    case 318: /* UPDATE_NAMESRV_CONFIG */
    case 327: /* ADD_WRITE_PERM_OF_BROKER */
        return 1;
    default:
        return 0;
    }
}

static int ns_admit(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    ns_server_t *ns = ctx;
    ns->verify_secret[0] = 0; /* left by the request before, if its handler did not take it */
    if (!ns->acl || !is_write(req->code))
        return 0;
    char ip[96], msg[512];
    snprintf(ip, sizeof ip, "%s", rm_conn_peer(c));
    char *colon = strrchr(ip, ':');
    if (colon)
        *colon = 0;
    /* a large registration's body is not hashed on the loop: its signature is checked on the
     * pool with the CRC (job_work); here only what needs no hashing */
    int compressed = 0;
    rm_ext_bool(req, "compressed", &compressed);
    int later = req->code == 103 && (compressed || req->body_len > NS_ASYNC_BYTES);
    const acl_account_t *verify = NULL;
    const char *why = acl_decide_later(acl_watch_table(ns->acl), req, ip, NULL, 0, 1, later ? &verify : NULL, msg,
                                       sizeof msg);
    if (!why) {
        if (verify)
            snprintf(ns->verify_secret, sizeof ns->verify_secret, "%s", verify->secretKey);
        return 0;
    }
    ns->acl_refused++;
    uint64_t now = uv_now(ns->loop);
    if (now - ns->acl_last_log >= 1000) { /* at most one line a second */
        ns->acl_last_log = now;
        LOG_W("namesrv", "refused request code=%d from %s: %s (%llu refused so far)", (int)req->code, ip, why,
              (unsigned long long)ns->acl_refused);
    }
    rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "org.apache.rocketmq.acl.common.AclException: %s", why);
    return 1;
}

static void on_conn_close(rm_conn_t *c, void *ctx)
{
    ns_server_t *ns = ctx;
    ns_routes_expire(&ns->routes, rm_conn_id(c), 0);
}

static void on_scan(uv_timer_t *t)
{
    ns_server_t *ns = t->data;
    uint64_t now = uv_now(ns->loop);
    if (now > ns->cfg.brokerExpireMs)
        ns_routes_expire(&ns->routes, 0, now - ns->cfg.brokerExpireMs);
}

int ns_start(uv_loop_t *loop, const ns_config_t *cfg, ns_server_t **out)
{
    ns_server_t *ns = calloc(1, sizeof *ns);
    if (!ns)
        return CM_ENOMEM;
    ns->loop = loop;
    ns->cfg = *cfg;
    if (ns_kv_load(&ns->routes, cfg->kvConfigPath) != 0)
        LOG_W("namesrv", "KV config %s is unreadable; starting with an empty one", cfg->kvConfigPath);
    char err[512];
    if (ns_config_finish(&ns->cfg, err, sizeof err) || acl_file_present(&ns->cfg, err, sizeof err) ||
        (cfg->aclEnable && acl_watch_start(loop, ns->cfg.namesrvAclFile, 1, "namesrv", &ns->acl, err, sizeof err))) {
        LOG_E("namesrv", "%s%s", cfg->aclEnable && ns->cfg.namesrvAclFile[0] ? "aclEnable=true and the ACL file does not load: " : "", err);
        fprintf(stderr, "mqnamesrv: %s\n", err);
        ns_routes_free(&ns->routes);
        free(ns);
        return CM_EPARSE;
    }
    if (ns->acl)
        LOG_I("namesrv", "ACL on: changes need an admin account's signature; %zu accounts, %zu global white addresses "
              "in %s", acl_watch_table(ns->acl)->naccounts, acl_watch_table(ns->acl)->nglobal, ns->cfg.namesrvAclFile);
    ns->ep = (rm_endpoint_t){.name = "namesrv", .handlers = k_handlers,
                             .nhandlers = sizeof k_handlers / sizeof k_handlers[0], .admit = ns_admit,
                             .on_close = on_conn_close, .ctx = ns, .idle_timeout_ms = 120000};
    int rc = rm_server_start(loop, cfg->listenAddr, cfg->listenPort, &ns->ep, &ns->srv);
    if (rc) {
        acl_watch_stop(ns->acl);
        ns_routes_free(&ns->routes);
        free(ns);
        return rc;
    }
    uv_timer_init(loop, &ns->scan);
    ns->scan.data = ns;
    uv_idle_init(loop, &ns->apply);
    ns->apply.data = ns;
    uv_timer_start(&ns->scan, on_scan, cfg->scanIntervalMs < 5000 ? cfg->scanIntervalMs : 5000, cfg->scanIntervalMs);
    *out = ns;
    return 0;
}

int ns_port(const ns_server_t *ns) { return rm_server_port(ns->srv); }

static void on_handle_closed(uv_handle_t *h)
{
    ns_server_t *ns = h->data;
    if (--ns->closing > 0)
        return;
    ns_routes_free(&ns->routes);
    free(ns);
}

void ns_stop(ns_server_t *ns)
{
    rm_server_stop(ns->srv);
    acl_watch_stop(ns->acl); /* it frees itself once its timer closed */
    ns->acl = NULL;
    ns_job_t *j = ns->jobs;
    if (j && j->state == JOB_DECODING) {
        j->ns = NULL; /* on the thread pool: it frees itself when it ends */
        j = j->next;
    }
    while (j) {
        ns_job_t *n = j->next;
        job_free(j);
        j = n;
    }
    ns->jobs = ns->jobs_tail = NULL;
    ns->closing = 2;
    uv_idle_stop(&ns->apply);
    uv_close((uv_handle_t *)&ns->apply, on_handle_closed);
    uv_close((uv_handle_t *)&ns->scan, on_handle_closed);
}
