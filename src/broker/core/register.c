/* Registration with every name server: REGISTER_BROKER (103) at start, every
 * registerNameServerPeriod and soon after a topic change; UNREGISTER_BROKER (104) at stop.
 *
 * The body lists every topic (TopicConfigSerializeWrapper), so it is not built on the loop
 * (issue 12: at 10k topics each build stalled every client for tens of ms). The loop takes a
 * flat copy of the topic table (memcpy-sized, as persist.c does for topics.json); libuv's
 * thread pool renders the JSON and its CRC; the after-work callback sends that one body to
 * every name server (a small table is built on the loop at once: REGISTER_INLINE_MAX). One
 * build at a time: requests meanwhile ask for one more build after it.
 * A build still running when the broker stops is orphaned: it frees itself and sends nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/core.h"

#define REGISTER_TIMEOUT_MS 6000
#define REGISTER_SOON_MS 50
/* Up to this many topics the body is built on the loop at once (~0.5 ms measured), so
 * that it leaves before the answer to the send or admin request that made the topic: a client
 * that asks the name server right after its first send finds the route, as with RocketMQ,
 * which registers before it answers. Beyond, the pool builds it and the route follows within
 * the build's time. */
#define REGISTER_INLINE_MAX 256

/* One registration: the snapshot it was built from and, once built, its body. */
typedef struct br_reg_job {
    uv_work_t work;
    br_broker_t *b;             /* loop: NULL once the broker stopped */
    int oneway;
    int rc;                     /* pool: 0 when body is ready */
    br_topics_snap_t *snap;     /* with its data version; perm already capped by the broker's */
    cm_buf_t body;
    rm_cmd_t req;               /* the request, header fields taken with the snapshot; signed
                                 * with the body by the pool when the broker has credentials */
    char ak[128], sk[256];
} br_reg_job_t;

static void on_registered(int status, rm_cmd_t *resp, void *arg)
{
    const struct br_ns_ctx *x = arg;
    const char *addr = x->b->ns_addrs[x->i];
    if (status)
        LOG_W("broker", "register to name server %s failed (%d)", addr, status);
    else if (resp->code != RC_SUCCESS)
        LOG_W("broker", "name server %s refused registration: %d %s", addr, resp->code, resp->remark ? resp->remark : "");
    else /* a slave learns its master here */
    if (x->b->hooks.master_known)
        x->b->hooks.master_known(x->b, rm_ext_get(resp, "masterAddr"), rm_ext_get(resp, "haServerAddr"));
}

static rm_conn_t *ns_conn(br_broker_t *b, int i)
{
    if (b->ns_conns[i] && rm_conn_is_closed(b->ns_conns[i])) {
        rm_conn_unref(b->ns_conns[i]);
        b->ns_conns[i] = NULL;
    }
    if (!b->ns_conns[i] && rm_conn_connect(b->loop, b->ns_addrs[i], &b->ep_ns, &b->ns_conns[i]) == 0)
        rm_conn_ref(b->ns_conns[i]);
    return b->ns_conns[i];
}

static void fill_register_header(br_broker_t *b, rm_cmd_t *req)
{
    rm_ext_set(req, "brokerName", b->cfg.brokerName);
    rm_ext_set(req, "brokerAddr", b->addr);
    rm_ext_set(req, "clusterName", b->cfg.brokerClusterName);
    char ha[96];
    snprintf(ha, sizeof ha, "%s:%d", b->cfg.brokerIP2, b->cfg.haListenPort);
    rm_ext_set(req, "haServerAddr", ha);
    rm_ext_set_i64(req, "brokerId", b->cfg.brokerId);
}

static void job_free(br_reg_job_t *j)
{
    free(j->snap);
    cm_buf_free(&j->body);
    rm_cmd_free(&j->req);
    explicit_bzero(j->sk, sizeof j->sk);
    free(j);
}

/* Loop thread: the flat copy (no JSON, no per-topic allocation). NULL when out of memory. */
static br_reg_job_t *job_new(br_broker_t *b, int oneway)
{
    br_reg_job_t *j = calloc(1, sizeof *j);
    if (!j || !(j->snap = br_topics_snapshot(&b->topics))) {
        free(j);
        return NULL;
    }
    j->b = b;
    j->oneway = oneway;
    rm_cmd_init(&j->req, 103);
    fill_register_header(b, &j->req);
    /* Loulan's name server then drops topics this broker no longer has (route.h); others ignore it */
    rm_ext_set(&j->req, "topicTableComplete", "true");
    snprintf(j->ak, sizeof j->ak, "%s", b->cfg.innerAccessKey);
    snprintf(j->sk, sizeof j->sk, "%s", b->cfg.innerSecretKey);
    /* The broker's permission caps every topic's, as RocketMQ does. */
    if ((b->cfg.brokerPermission & PERM_WRITE) == 0)
        for (size_t i = 0; i < j->snap->n; i++)
            j->snap->v[i].perm &= ~PERM_WRITE;
    cm_buf_init(&j->body);
    return j;
}

/* Thread pool (the loop for a small table): {"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":...,
 * "topicConfigTable":{...}}} in the map's order, uncompressed, and its CRC. */
static void build_body(uv_work_t *w)
{
    br_reg_job_t *j = w->data;
    lj_val_t *body = lj_new_obj();
    lj_set(body, "filterServerList", lj_new_arr());
    lj_set(body, "topicConfigSerializeWrapper", br_topics_snap_json(j->snap));
    j->rc = lj_write(body, LJ_W_FASTJSON, &j->body);
    lj_free(body);
    if (j->rc != 0)
        return;
    rm_ext_set(&j->req, "compressed", "false");
    rm_ext_set_i64(&j->req, "bodyCrc32", cm_crc32(j->body.data, j->body.len));
    j->req.body = (const uint8_t *)j->body.data; /* copied by each connection it goes to */
    j->req.body_len = j->body.len;
    /* the signature covers the body, like its CRC: computed here, not on the loop */
    if (j->ak[0] && rm_sign_request(&j->req, j->ak, j->sk) != 0)
        j->rc = CM_ENOMEM;
}

static void send_body(br_broker_t *b, br_reg_job_t *j)
{
    for (int i = 0; i < b->nns; i++) {
        rm_conn_t *c = ns_conn(b, i);
        if (!c)
            continue;
        rm_cmd_t *req = &j->req; /* sending sets only its opaque and flag */
        if (j->oneway)
            rm_conn_oneway(c, req);
        else
            rm_conn_invoke(c, req, REGISTER_TIMEOUT_MS, on_registered, &b->ns_ctx[i]);
    }
}

static void start_build(br_broker_t *b, int oneway);

/* Loop thread: send what the pool built (unless the broker stopped meanwhile), then the build
 * that requests during this one asked for. */
static void on_body_built(uv_work_t *w, int status)
{
    br_reg_job_t *j = w->data;
    br_broker_t *b = j->b;
    if (!b) {
        job_free(j);
        return;
    }
    b->reg_job = NULL;
    if (status == 0 && j->rc == 0)
        send_body(b, j);
    else
        LOG_E("broker", "cannot build the registration body (error %d/%d): the next one retries", status, j->rc);
    job_free(j);
    if (b->reg_again && !b->stopping) {
        int oneway = b->reg_again_oneway;
        b->reg_again = 0;
        start_build(b, oneway);
    }
}

static void start_build(br_broker_t *b, int oneway)
{
    br_reg_job_t *j = job_new(b, oneway);
    if (!j) {
        LOG_E("broker", "cannot register with the name servers: out of memory");
        return;
    }
    j->work.data = j;
    if (j->snap->n <= REGISTER_INLINE_MAX) {
        b->reg_job = j;
        build_body(&j->work);
        on_body_built(&j->work, 0);
        return;
    }
    if (uv_queue_work(b->loop, &j->work, build_body, on_body_built) != 0) {
        LOG_E("broker", "cannot queue the registration body's build");
        job_free(j);
        return;
    }
    b->reg_job = j;
}

void br_register_all(br_broker_t *b, int oneway)
{
    if (b->stopping || b->nns == 0)
        return;
    if (b->reg_job) {
        /* one more build follows this one; it waits for answers if any request wanted them */
        b->reg_again_oneway = b->reg_again ? (b->reg_again_oneway && oneway) : oneway;
        b->reg_again = 1;
        return;
    }
    start_build(b, oneway);
}

void br_unregister_all(br_broker_t *b)
{
    if (b->reg_job) { /* its after-work callback frees it and sends nothing */
        LOG_I("broker", "stopping during a registration build: it is dropped");
        b->reg_job->b = NULL;
        b->reg_job = NULL;
    }
    b->reg_again = 0;
    for (int i = 0; i < b->nns; i++) {
        rm_conn_t *c = b->ns_conns[i];
        if (!c || rm_conn_is_closed(c))
            continue;
        rm_cmd_t req;
        rm_cmd_init(&req, 104);
        fill_register_header(b, &req);
        br_sign_out(b, &req);
        rm_conn_oneway(c, &req);
        rm_cmd_free(&req);
    }
}

/* Leading and trailing edge: the first change registers at once (clients look the new topic
 * up right after their send), later changes within 50 ms share one registration. */
static void on_register_soon(uv_timer_t *t)
{
    br_broker_t *b = t->data;
    if (b->reg_pending) {
        b->reg_pending = 0;
        br_register_all(b, 1);
        uv_timer_start(&b->reg_soon_timer, on_register_soon, REGISTER_SOON_MS, 0);
    }
}

void br_register_soon(br_broker_t *b)
{
    if (b->stopping)
        return;
    if (uv_is_active((uv_handle_t *)&b->reg_soon_timer)) {
        b->reg_pending = 1;
        return;
    }
    br_register_all(b, 1);
    uv_timer_start(&b->reg_soon_timer, on_register_soon, REGISTER_SOON_MS, 0);
}
