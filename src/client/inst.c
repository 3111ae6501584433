/* The client instance: one background thread runs a libuv loop that owns every connection
 * (one per remote address, reused, dropped when it closes). Application threads hand work to
 * the loop through a locked task queue and a uv_async_t; sync calls then wait on a condition
 * variable with a deadline. The instance also keeps the route cache (shared, under a mutex),
 * sends heartbeats every 30 s, and answers the requests brokers send to clients
 * (NOTIFY_CONSUMER_IDS_CHANGED). */
#include "lc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEARTBEAT_MS 30000
#define ROUTE_TTL_MS 30000
#define NS_TIMEOUT_MS 3000

enum { T_RPC, T_LATER };
enum { M_SYNC, M_ASYNC, M_ONEWAY };

typedef struct task {
    struct task *next;
    int kind;
} task_t;

typedef struct rpc {
    task_t hdr;
    lc_inst_t *in;
    rm_cmd_t req;
    char addr[128];             /* "" = a name server */
    uint64_t timeout_ms;
    int mode;
    lc_rpc_cb cb;
    void *arg;
    /* sync only */
    uv_mutex_t mu;
    uv_cond_t cv;
    int done;
    int refs;
    int status;
    rm_cmd_t resp;
} rpc_t;

typedef struct later {
    task_t hdr;
    uv_timer_t timer;
    lc_inst_t *in;
    uint64_t delay_ms;
    lc_task_fn fn;
    void *arg;
    struct later *prev, *next;  /* armed timers, loop only */
} later_t;

struct lc_inst {
    uv_loop_t loop;
    uv_thread_t thread;
    pthread_t loop_tid;
    uv_sem_t ready;
    uv_async_t async;
    uv_timer_t hb_timer;
    uv_mutex_t qmu;
    task_t *head, *tail;
    int stopping;               /* under qmu */
    int closed;                 /* loop only: shutdown done */
    later_t *armed;
    cm_map_t conns;             /* loop only: addr -> rm_conn_t* (one reference held) */
    rm_endpoint_t ep;
    rm_handler_t handlers[5];
    lc_inst_cfg_t cfg;
    char client_id[256];
    char **ns;
    size_t nns;
    unsigned ns_next;
    uv_mutex_t rmu;             /* routes, brokers */
    cm_map_t routes;            /* topic -> lc_route_t* */
    cm_map_t brokers;           /* master addr -> (void *)1 */
    char *ak, *sk;              /* ACL keys, both or neither; read-only after start */
    rm_sign_key_t *key;         /* sk prepared once (signing from any thread) */
};

/* ---- requests ---- */

void lc_req_init(rm_cmd_t *c, int32_t code)
{
    rm_cmd_init(c, code);
    c->language = RM_LANG_JAVA;  /* brokers treat us like the Java client they know best */
    c->version = RM_SERVER_VERSION;
}

const char *lc_resp_remark(const rm_cmd_t *c) { return c->remark ? c->remark : ""; }

int lc_keys_set(char **ak, char **sk, const char *access_key, const char *secret_key)
{
    char *a = access_key ? cm_strdup(access_key) : NULL, *k = secret_key ? cm_strdup(secret_key) : NULL;
    if ((access_key && !a) || (secret_key && !k)) {
        free(a);
        free(k);
        return LC_ENOMEM;
    }
    free(*ak);
    free(*sk);
    *ak = a;
    *sk = k;
    return 0;
}

int lc_inst_sign(const lc_inst_t *in, rm_cmd_t *req)
{
    if (!in->ak || !in->sk)
        return 0;
    int rc = in->key ? rm_sign_request_key(req, in->ak, in->key) : rm_sign_request(req, in->ak, in->sk);
    return rc == 0 ? 0 : LC_ENOMEM;
}

static int cmd_copy(rm_cmd_t *dst, const rm_cmd_t *src)
{
    rm_cmd_init(dst, src->code);
    dst->flag = src->flag;
    dst->opaque = src->opaque;
    dst->version = src->version;
    dst->language = src->language;
    dst->serialize = src->serialize;
    if (src->remark && !(dst->remark = cm_strdup(src->remark)))
        goto err;
    for (size_t i = 0; i < src->next; i++)
        if (rm_ext_set(dst, src->ext[i].key, src->ext[i].val))
            goto err;
    if (src->body_len) {
        dst->body_owned = malloc(src->body_len);
        if (!dst->body_owned)
            goto err;
        memcpy(dst->body_owned, src->body, src->body_len);
        dst->body = dst->body_owned;
        dst->body_len = src->body_len;
    }
    return 0;
err:
    rm_cmd_free(dst);
    return LC_ENOMEM;
}

/* ---- connections (loop thread) ---- */

static void on_conn_close(rm_conn_t *c, void *ctx)
{
    lc_inst_t *in = ctx;
    char *key = rm_conn_data(c);
    if (!key)
        return;
    rm_conn_set_data(c, NULL);
    if (cm_map_get(&in->conns, key) == c) {
        cm_map_remove(&in->conns, key);
        rm_conn_unref(c);
    }
    free(key);
}

static void on_notify_ids_changed(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    lc_inst_t *in = ctx;
    const char *group = rm_ext_get(req, "consumerGroup");
    LOG_I("client", "%s: consumer ids of group %s changed (from %s)", in->client_id, group ? group : "?",
          rm_conn_peer(c));
    if (in->cfg.on_ids_changed && group)
        in->cfg.on_ids_changed(in->cfg.owner, group);
}

static void on_check_transaction(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    lc_inst_t *in = ctx;
    if (in->cfg.on_check_transaction)
        in->cfg.on_check_transaction(in->cfg.owner, c, req);
    else
        LOG_W("client", "%s: CHECK_TRANSACTION_STATE from %s but no transaction listener", in->client_id,
              rm_conn_peer(c));
}

static void on_reset_offset(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    lc_inst_t *in = ctx;
    const char *group = rm_ext_get(req, "group"), *topic = rm_ext_get(req, "topic");
    LOG_I("client", "%s: broker %s reset the offsets of %s on %s", in->client_id, rm_conn_peer(c),
          group ? group : "?", topic ? topic : "?");
    if (in->cfg.on_reset_offset && group && topic)
        in->cfg.on_reset_offset(in->cfg.owner, group, topic);
    rm_conn_respond_code(c, req, 0, NULL); /* nothing is sent back for a oneway request */
}

/* What Java's jstack text stands for here: the process's threads with their state (Linux's
 * /proc/self/task), one line each; a C process has no Java stacks to show. */
static lj_val_t *thread_dump(void)
{
    cm_buf_t out;
    cm_buf_init(&out);
    cm_buf_printf(&out, "Loulan C client, process %d: threads (no JVM, no Java stacks)\n", (int)getpid());
    uv_fs_t req;
    uv_dirent_t ent;
    int n = 0;
    if (uv_fs_scandir(NULL, &req, "/proc/self/task", 0, NULL) >= 0) {
        while (n < 512 && uv_fs_scandir_next(&req, &ent) != UV_EOF) {
            char path[96], stat[512] = "";
            snprintf(path, sizeof path, "/proc/self/task/%s/stat", ent.name);
            FILE *f = fopen(path, "r");
            if (f) {
                size_t len = fread(stat, 1, sizeof stat - 1, f);
                stat[len] = 0;
                fclose(f);
            }
            /* "tid (comm) S ...": the name between the parentheses, the state after them */
            char *open = strchr(stat, '('), *close = strrchr(stat, ')');
            if (open && close && close > open && close[1] == ' ')
                cm_buf_printf(&out, "\"%.*s\" tid=%s state=%c\n", (int)(close - open - 1), open + 1, ent.name,
                              close[2]);
            n++;
        }
    }
    uv_fs_req_cleanup(&req);
    lj_val_t *v = lj_new_str(out.data ? out.data : "");
    cm_buf_free(&out);
    return v;
}

/* GET_CONSUMER_RUNNING_INFO (307), relayed by a broker for mqadmin consumerStatus: the
 * owner's view of its queues, subscriptions and settings, as Java's ConsumerRunningInfo. */
static void on_running_info(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    lc_inst_t *in = ctx;
    const char *group = rm_ext_get(req, "consumerGroup");
    lj_val_t *info = group && in->cfg.running_info ? in->cfg.running_info(in->cfg.owner, group) : NULL;
    if (!info) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "The Consumer Group <%s> not exist in this consumer",
                             group ? group : "");
        return;
    }
    const char *js = rm_ext_get(req, "jstackEnable");
    if (js && strcmp(js, "true") == 0)
        lj_set(info, "jstack", thread_dump());
    rm_conn_respond_json(c, req, info, LJ_W_FASTJSON); /* MessageQueue objects as map keys */
}

/* CONSUME_MESSAGE_DIRECTLY (309), relayed by a broker: the owner's listener consumes the one
 * message in the body on libuv's thread pool (it may block, and may call the client, whose
 * requests this loop serves meanwhile); the answer goes back from the loop. As Java's
 * ClientRemotingProcessor: SYSTEM_ERROR "The Message <id> not exist in this consumer" when no
 * consumer of the group is here. */
typedef struct direct {
    uv_work_t work;
    lc_inst_t *in;
    rm_conn_t *conn;
    rm_cmd_t hdr;               /* the request's header: what answering needs */
    char group[LC_MAX_NAME + 16], msg_id[LC_MAX_ID + 64];
    lc_message_ext_t **msgs;
    size_t n;
    lj_val_t *result;
} direct_t;

static void direct_work(uv_work_t *w)
{
    direct_t *d = w->data;
    d->result = d->in->cfg.consume_directly(d->in->cfg.owner, d->group, d->msgs[0]);
}

static void direct_done(uv_work_t *w, int status)
{
    direct_t *d = w->data;
    (void)status;
    if (!rm_conn_is_closed(d->conn)) {
        if (d->result) {
            rm_conn_respond_json(d->conn, &d->hdr, d->result, LJ_W_FASTJSON);
            d->result = NULL;
        } else {
            rm_conn_respond_code(d->conn, &d->hdr, RC_SYSTEM_ERROR, "The Message %s not exist in this consumer",
                                 d->msg_id);
        }
    }
    lj_free(d->result);
    lc_free_msgs(d->msgs, d->n);
    rm_cmd_free(&d->hdr);
    rm_conn_unref(d->conn);
    free(d);
}

static void on_consume_directly(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    lc_inst_t *in = ctx;
    const char *group = rm_ext_get(req, "consumerGroup"), *msg_id = rm_ext_get(req, "msgId");
    const char *broker = rm_ext_get(req, "brokerName");
    if (!group || !*group || strlen(group) >= sizeof ((direct_t *)0)->group) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "CONSUME_MESSAGE_DIRECTLY needs the consumerGroup header");
        return;
    }
    direct_t *d = calloc(1, sizeof *d);
    if (!d) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "out of memory");
        return;
    }
    snprintf(d->group, sizeof d->group, "%s", group);
    snprintf(d->msg_id, sizeof d->msg_id, "%s", msg_id ? msg_id : "");
    /* exactly one whole record: anything else is not a message this consumer can take */
    if (!in->cfg.consume_directly || req->body_len < 4 || cm_be32(req->body) != req->body_len ||
        lc_decode_records(req->body, req->body_len, broker, NULL, 0, &d->msgs, &d->n) != 0 || d->n != 1) {
        if (in->cfg.consume_directly)
            rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "the body of CONSUME_MESSAGE_DIRECTLY is not one stored message");
        else
            rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "The Message %s not exist in this consumer", d->msg_id);
        lc_free_msgs(d->msgs, d->n);
        free(d);
        return;
    }
    d->in = in;
    d->conn = c;
    d->work.data = d;
    rm_cmd_init_header_of(&d->hdr, req);
    rm_conn_ref(c);
    if (uv_queue_work(&in->loop, &d->work, direct_work, direct_done) != 0) {
        d->result = NULL;
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "cannot run the consumer now");
        lc_free_msgs(d->msgs, d->n);
        rm_cmd_free(&d->hdr);
        rm_conn_unref(c);
        free(d);
    }
}

static rm_conn_t *get_conn(lc_inst_t *in, const char *addr)
{
    rm_conn_t *c = cm_map_get(&in->conns, addr);
    if (c && !rm_conn_is_closed(c))
        return c;
    if (in->closed)
        return NULL;
    char *key = cm_strdup(addr);
    if (!key || rm_conn_connect(&in->loop, addr, &in->ep, &c) != 0) {
        free(key);
        return NULL;
    }
    if (cm_map_put(&in->conns, addr, c) != 0) {
        free(key);
        rm_conn_close(c);
        return NULL;
    }
    rm_conn_ref(c);
    rm_conn_set_data(c, key);
    return c;
}

/* ---- RPC completion ---- */

static void rpc_unref(rpc_t *r)
{
    if (__atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    rm_cmd_free(&r->req);
    if (r->mode == M_SYNC) {
        rm_cmd_free(&r->resp);
        uv_mutex_destroy(&r->mu);
        uv_cond_destroy(&r->cv);
    }
    free(r);
}

static void rpc_complete(rpc_t *r, int status, rm_cmd_t *resp)
{
    if (r->mode == M_ASYNC) {
        r->cb(status, resp, r->arg);
    } else if (r->mode == M_SYNC) {
        uv_mutex_lock(&r->mu);
        if (status == RM_OK && resp && cmd_copy(&r->resp, resp) != 0)
            status = RM_ENOMEM;
        r->status = status;
        r->done = 1;
        uv_cond_signal(&r->cv);
        uv_mutex_unlock(&r->mu);
    }
    rpc_unref(r);
}

static void on_rpc_response(int status, rm_cmd_t *resp, void *arg)
{
    rpc_complete(arg, status, resp);
}

static void rpc_run(lc_inst_t *in, rpc_t *r)
{
    const char *addr = r->addr;
    if (!addr[0]) {
        if (in->nns == 0) {
            rpc_complete(r, RM_ECONNECT, NULL);
            return;
        }
        addr = in->ns[__atomic_load_n(&in->ns_next, __ATOMIC_RELAXED) % in->nns];
    }
    rm_conn_t *c = get_conn(in, addr);
    if (!c) {
        if (!r->addr[0])
            __atomic_add_fetch(&in->ns_next, 1, __ATOMIC_RELAXED);
        rpc_complete(r, RM_ECONNECT, NULL);
        return;
    }
    if (r->mode == M_ONEWAY) {
        rm_conn_oneway(c, &r->req);
        rpc_unref(r);
        return;
    }
    int rc = rm_conn_invoke(c, &r->req, r->timeout_ms, on_rpc_response, r);
    if (rc) {
        if (!r->addr[0])
            __atomic_add_fetch(&in->ns_next, 1, __ATOMIC_RELAXED);
        rpc_complete(r, rc, NULL);
    }
}

/* ---- delayed work (loop thread) ---- */

static void later_closed(uv_handle_t *h) { free(h->data); }

static void on_later(uv_timer_t *t)
{
    later_t *l = t->data;
    lc_inst_t *in = l->in;
    if (l->prev)
        l->prev->next = l->next;
    else
        in->armed = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->fn(in, l->arg, 0);
    uv_close((uv_handle_t *)&l->timer, later_closed);
}

static void later_arm(lc_inst_t *in, later_t *l)
{
    if (in->closed) {
        l->fn(in, l->arg, 1);
        free(l);
        return;
    }
    uv_timer_init(&in->loop, &l->timer);
    l->timer.data = l;
    l->prev = NULL;
    l->next = in->armed;
    if (in->armed)
        in->armed->prev = l;
    in->armed = l;
    uv_timer_start(&l->timer, on_later, l->delay_ms, 0);
}

/* ---- task queue ---- */

static void task_fail(lc_inst_t *in, task_t *t)
{
    if (t->kind == T_RPC) {
        rpc_complete((rpc_t *)t, RM_ECLOSED, NULL);
    } else {
        later_t *l = (later_t *)t;
        l->fn(in, l->arg, 1);
        free(l);
    }
}

static void task_run(lc_inst_t *in, task_t *t)
{
    if (in->closed) {
        task_fail(in, t);
        return;
    }
    if (t->kind == T_RPC)
        rpc_run(in, (rpc_t *)t);
    else
        later_arm(in, (later_t *)t);
}

/* Queue a task for the loop; fails once the instance is stopping. */
static int task_push(lc_inst_t *in, task_t *t)
{
    uv_mutex_lock(&in->qmu);
    if (in->stopping) {
        uv_mutex_unlock(&in->qmu);
        return LC_ESTATE;
    }
    t->next = NULL;
    if (in->tail)
        in->tail->next = t;
    else
        in->head = t;
    in->tail = t;
    uv_mutex_unlock(&in->qmu);
    uv_async_send(&in->async);
    return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void conn_close_each(const char *key, void *val, void *arg)
{
    rm_conn_t **list = arg;
    for (size_t i = 0;; i++) {
        if (!list[i]) {
            list[i] = val;
            return;
        }
    }
}

static void shutdown_loop(lc_inst_t *in)
{
    in->closed = 1;
    /* Fail whatever is in flight: closing a connection calls its pending callbacks. */
    size_t n = in->conns.n;
    rm_conn_t **list = calloc(n + 1, sizeof *list);
    if (list) {
        cm_map_each(&in->conns, conn_close_each, list);
        for (size_t i = 0; i < n; i++)
            rm_conn_close(list[i]);
        free(list);
    }
    while (in->armed) {
        later_t *l = in->armed;
        in->armed = l->next;
        uv_timer_stop(&l->timer);
        l->fn(in, l->arg, 1);
        uv_close((uv_handle_t *)&l->timer, later_closed);
    }
    uv_close((uv_handle_t *)&in->async, NULL);
    uv_close((uv_handle_t *)&in->hb_timer, NULL);
}

static void on_async(uv_async_t *a)
{
    lc_inst_t *in = a->data;
    for (;;) {
        uv_mutex_lock(&in->qmu);
        task_t *t = in->head;
        in->head = in->tail = NULL;
        int stopping = in->stopping;
        uv_mutex_unlock(&in->qmu);
        if (!t) {
            if (stopping && !in->closed)
                shutdown_loop(in);
            return;
        }
        while (t) {
            task_t *next = t->next;
            task_run(in, t);
            t = next;
        }
    }
}

static void on_heartbeat_timer(uv_timer_t *t)
{
    lc_heartbeat(t->data, 0);
}

static void loop_main(void *arg)
{
    lc_inst_t *in = arg;
    in->loop_tid = pthread_self();
    uv_sem_post(&in->ready);
    uv_run(&in->loop, UV_RUN_DEFAULT);
    uv_walk(&in->loop, close_walk, NULL);
    uv_run(&in->loop, UV_RUN_DEFAULT);
}

/* ---- lifecycle ---- */

static void local_ip(char *out, size_t n)
{
    uv_interface_address_t *ifs = NULL;
    int nifs = 0;
    snprintf(out, n, "127.0.0.1");
    if (uv_interface_addresses(&ifs, &nifs) != 0)
        return;
    for (int i = 0; i < nifs; i++) {
        if (!ifs[i].is_internal && ifs[i].address.address4.sin_family == AF_INET) {
            uv_ip4_name(&ifs[i].address.address4, out, n);
            break;
        }
    }
    uv_free_interface_addresses(ifs, nifs);
}

static int parse_namesrv(lc_inst_t *in, const char *list)
{
    if (!list || !*list)
        list = getenv("NAMESRV_ADDR");
    if (!list || !*list)
        return LC_EINVAL;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ';');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' '))
            p++, len--;
        while (len && p[len - 1] == ' ')
            len--;
        if (len) {
            char **ns = realloc(in->ns, (in->nns + 1) * sizeof *ns);
            if (!ns)
                return LC_ENOMEM;
            in->ns = ns;
            if (!(in->ns[in->nns] = cm_strndup(p, len)))
                return LC_ENOMEM;
            in->nns++;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return in->nns ? 0 : LC_EINVAL;
}

static void route_free_val(void *v) { lc_route_put(v); }

static void inst_free(lc_inst_t *in)
{
    for (size_t i = 0; i < in->nns; i++)
        free(in->ns[i]);
    free(in->ns);
    cm_map_free(&in->routes, route_free_val);
    cm_map_free(&in->brokers, NULL);
    cm_map_free(&in->conns, NULL);
    free(in->ak);
    free(in->sk);
    rm_sign_key_free(in->key);
    uv_mutex_destroy(&in->qmu);
    uv_mutex_destroy(&in->rmu);
    free(in);
}

int lc_inst_start(const lc_inst_cfg_t *cfg, lc_inst_t **out)
{
    lc_inst_t *in = calloc(1, sizeof *in);
    if (!in)
        return LC_ENOMEM;
    in->cfg = *cfg;
    uv_mutex_init(&in->qmu);
    uv_mutex_init(&in->rmu);
    cm_map_init(&in->conns);
    cm_map_init(&in->routes);
    cm_map_init(&in->brokers);
    in->cfg.access_key = in->cfg.secret_key = NULL; /* the copies below are kept instead */
    int rc = parse_namesrv(in, cfg->namesrv);
    if (rc == 0 && cfg->access_key && *cfg->access_key && cfg->secret_key && *cfg->secret_key)
        rc = lc_keys_set(&in->ak, &in->sk, cfg->access_key, cfg->secret_key);
    if (rc == 0 && in->sk)
        in->key = rm_sign_key_new(in->sk); /* NULL (no memory): signed from the secret */
    if (rc == LC_ENOMEM) {
        inst_free(in);
        return rc;
    }
    if (rc) {
        LOG_E("client", "no name server address (give one or set NAMESRV_ADDR)");
        inst_free(in);
        return rc;
    }
    char ip[64];
    local_ip(ip, sizeof ip);
    if (cfg->instance_name && *cfg->instance_name && strcmp(cfg->instance_name, "DEFAULT") != 0)
        snprintf(in->client_id, sizeof in->client_id, "%s@%s", ip, cfg->instance_name);
    else
        snprintf(in->client_id, sizeof in->client_id, "%s@%d#%llu", ip, (int)getpid(),
                 (unsigned long long)cm_mono_us() * 1000ull);
    in->handlers[0] = (rm_handler_t){RQ_NOTIFY_CONSUMER_IDS_CHANGED, on_notify_ids_changed};
    in->handlers[1] = (rm_handler_t){39 /* CHECK_TRANSACTION_STATE */, on_check_transaction};
    in->handlers[2] = (rm_handler_t){220 /* RESET_CONSUMER_CLIENT_OFFSET */, on_reset_offset};
    in->handlers[3] = (rm_handler_t){307 /* GET_CONSUMER_RUNNING_INFO */, on_running_info};
    in->handlers[4] = (rm_handler_t){309 /* CONSUME_MESSAGE_DIRECTLY */, on_consume_directly};
    in->ep = (rm_endpoint_t){.name = "client", .handlers = in->handlers, .nhandlers = 5,
                             .on_close = on_conn_close, .ctx = in};
    if (uv_loop_init(&in->loop) != 0) {
        inst_free(in);
        return LC_ENOMEM;
    }
    uv_async_init(&in->loop, &in->async, on_async);
    in->async.data = in;
    uv_timer_init(&in->loop, &in->hb_timer);
    in->hb_timer.data = in;
    uv_timer_start(&in->hb_timer, on_heartbeat_timer, HEARTBEAT_MS, HEARTBEAT_MS);
    uv_sem_init(&in->ready, 0);
    if (uv_thread_create(&in->thread, loop_main, in) != 0) {
        uv_close((uv_handle_t *)&in->async, NULL);
        uv_close((uv_handle_t *)&in->hb_timer, NULL);
        uv_run(&in->loop, UV_RUN_DEFAULT);
        uv_loop_close(&in->loop);
        uv_sem_destroy(&in->ready);
        inst_free(in);
        return LC_ENOMEM;
    }
    uv_sem_wait(&in->ready);
    uv_sem_destroy(&in->ready);
    *out = in;
    return 0;
}

void lc_inst_stop(lc_inst_t *in)
{
    if (!in)
        return;
    uv_mutex_lock(&in->qmu);
    in->stopping = 1;
    uv_mutex_unlock(&in->qmu);
    uv_async_send(&in->async);
    uv_thread_join(&in->thread);
    uv_loop_close(&in->loop);
    inst_free(in);
}

const char *lc_inst_client_id(const lc_inst_t *in) { return in->client_id; }

int lc_inst_on_loop(const lc_inst_t *in) { return pthread_equal(pthread_self(), in->loop_tid); }

/* ---- RPC API ---- */

static rpc_t *rpc_new(lc_inst_t *in, const char *addr, rm_cmd_t *req, uint64_t timeout_ms, int mode)
{
    rpc_t *r = calloc(1, sizeof *r);
    if (!r) {
        rm_cmd_free(req);
        return NULL;
    }
    r->hdr.kind = T_RPC;
    r->in = in;
    r->req = *req;
    memset(req, 0, sizeof *req);
    /* The body must outlive the caller's buffer: the loop sends it later. The request is final
     * here, so this is where it is signed. */
    if ((r->req.body_len && !r->req.body_owned && rm_cmd_own_body(&r->req) != 0) || lc_inst_sign(in, &r->req) != 0) {
        rm_cmd_free(&r->req);
        free(r);
        return NULL;
    }
    snprintf(r->addr, sizeof r->addr, "%s", addr ? addr : "");
    r->timeout_ms = timeout_ms;
    r->mode = mode;
    r->refs = 1;
    return r;
}

int lc_rpc_sync(lc_inst_t *in, const char *addr, rm_cmd_t *req, uint64_t timeout_ms, rm_cmd_t *resp)
{
    if (lc_inst_on_loop(in)) {
        rm_cmd_free(req);
        return LC_ESTATE;
    }
    rpc_t *r = rpc_new(in, addr, req, timeout_ms, M_SYNC);
    if (!r)
        return LC_ENOMEM;
    uv_mutex_init(&r->mu);
    uv_cond_init(&r->cv);
    r->refs = 2;
    if (task_push(in, &r->hdr) != 0) {
        r->refs = 1;
        rpc_unref(r);
        return LC_ESTATE;
    }
    /* The loop always completes the call within timeout_ms; the margin covers a busy loop. */
    uint64_t deadline = uv_hrtime() + (timeout_ms + 2000) * 1000000ull;
    int rc;
    uv_mutex_lock(&r->mu);
    while (!r->done) {
        uint64_t now = uv_hrtime();
        if (now >= deadline || uv_cond_timedwait(&r->cv, &r->mu, deadline - now) == UV_ETIMEDOUT) {
            if (!r->done)
                break;
        }
    }
    if (!r->done) {
        rc = LC_ETIMEOUT;
    } else {
        rc = lc_err_from_rm(r->status);
        if (rc == 0) {
            *resp = r->resp;
            memset(&r->resp, 0, sizeof r->resp);
        }
    }
    uv_mutex_unlock(&r->mu);
    rpc_unref(r);
    return rc;
}

int lc_rpc_async(lc_inst_t *in, const char *addr, rm_cmd_t *req, uint64_t timeout_ms, lc_rpc_cb cb, void *arg)
{
    int on_loop = lc_inst_on_loop(in);
    rpc_t *r = rpc_new(in, addr, req, timeout_ms, M_ASYNC);
    if (!r)
        return LC_ENOMEM;
    r->cb = cb;
    r->arg = arg;
    if (on_loop) {
        if (in->closed) {
            rpc_unref(r);
            return LC_ESTATE;
        }
        rpc_run(in, r);
        return 0;
    }
    if (task_push(in, &r->hdr) != 0) {
        rpc_unref(r);
        return LC_ESTATE;
    }
    return 0;
}

int lc_rpc_oneway(lc_inst_t *in, const char *addr, rm_cmd_t *req)
{
    rpc_t *r = rpc_new(in, addr, req, 0, M_ONEWAY);
    if (!r)
        return LC_ENOMEM;
    if (lc_inst_on_loop(in)) {
        if (in->closed) {
            rpc_unref(r);
            return LC_ESTATE;
        }
        rpc_run(in, r);
        return 0;
    }
    if (task_push(in, &r->hdr) != 0) {
        rpc_unref(r);
        return LC_ESTATE;
    }
    return 0;
}

int lc_run_later(lc_inst_t *in, uint64_t delay_ms, lc_task_fn fn, void *arg)
{
    later_t *l = calloc(1, sizeof *l);
    if (!l)
        return LC_ENOMEM;
    l->hdr.kind = T_LATER;
    l->in = in;
    l->delay_ms = delay_ms;
    l->fn = fn;
    l->arg = arg;
    if (lc_inst_on_loop(in)) {
        if (in->closed) {
            free(l);
            return LC_ESTATE;
        }
        later_arm(in, l);
        return 0;
    }
    if (task_push(in, &l->hdr) != 0) {
        free(l);
        return LC_ESTATE;
    }
    return 0;
}

/* ---- routes ---- */

void lc_route_put(lc_route_t *r)
{
    if (!r || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    free(r->brokers);
    free(r->wq);
    free(r->rq);
    free(r);
}

static const struct lc_broker *route_broker(const lc_route_t *r, const char *broker_name)
{
    for (size_t i = 0; i < r->nbrokers; i++)
        if (strcmp(r->brokers[i].name, broker_name) == 0)
            return &r->brokers[i];
    return NULL;
}

const char *lc_route_addr(const lc_route_t *r, const char *broker_name)
{
    const struct lc_broker *b = route_broker(r, broker_name);
    return b && b->addr[0] ? b->addr : NULL;
}

const char *lc_route_read_addr(const lc_route_t *r, const char *broker_name)
{
    const struct lc_broker *b = route_broker(r, broker_name);
    return b ? b->any : NULL;
}

/* The address of the lowest broker id in a BrokerData's brokerAddrs (0 is the master). */
static const char *lowest_id_addr(const lj_val_t *addrs)
{
    const char *best = NULL;
    int64_t bestId = INT64_MAX;
    for (size_t i = 0; addrs && addrs->type == LJ_OBJ && i < addrs->n; i++) {
        int64_t id = lj_int(addrs->members[i].key, INT64_MAX);
        if (id >= 0 && id < bestId && addrs->members[i].val->type == LJ_STR) {
            bestId = id;
            best = addrs->members[i].val->s;
        }
    }
    return best;
}

static int add_queues(lc_mq_t **arr, size_t *n, const char *topic, const char *broker, int64_t count)
{
    if (count <= 0)
        return 0;
    if (count > 65536)
        return LC_EDECODE;
    lc_mq_t *a = realloc(*arr, (*n + (size_t)count) * sizeof *a);
    if (!a)
        return LC_ENOMEM;
    *arr = a;
    for (int64_t i = 0; i < count; i++) {
        lc_mq_t *q = &a[(*n)++];
        memset(q, 0, sizeof *q);
        snprintf(q->topic, sizeof q->topic, "%s", topic);
        snprintf(q->broker_name, sizeof q->broker_name, "%s", broker);
        q->queue_id = (int32_t)i;
    }
    return 0;
}

/* Build a route from a TopicRouteData body. As_topic renames the queues (TBW102 fallback) and
 * caps their number at 4, as Java does with defaultTopicQueueNums. */
static int route_parse(const rm_cmd_t *resp, const char *as_topic, int cap4, lc_route_t **out)
{
    lj_val_t *root = NULL;
    if (!resp->body_len || lj_parse((const char *)resp->body, resp->body_len, &root) != 0)
        return LC_EDECODE;
    int rc = LC_ENOMEM;
    lc_route_t *r = calloc(1, sizeof *r);
    if (!r)
        goto out;
    r->refs = 1;
    r->fetched_ms = (int64_t)cm_mono_ms();
    lj_val_t *bds = lj_get(root, "brokerDatas"), *qds = lj_get(root, "queueDatas");
    if (bds && bds->type == LJ_ARR) {
        r->brokers = calloc(bds->n ? bds->n : 1, sizeof *r->brokers);
        if (!r->brokers)
            goto out;
        for (size_t i = 0; i < bds->n; i++) {
            const char *name = lj_get_str(bds->items[i], "brokerName", NULL);
            lj_val_t *addrs = lj_get(bds->items[i], "brokerAddrs");
            const char *a0 = addrs ? lj_get_str(addrs, "0", NULL) : NULL, *any = lowest_id_addr(addrs);
            if (!name || !any)
                continue;
            snprintf(r->brokers[r->nbrokers].name, sizeof r->brokers[0].name, "%s", name);
            snprintf(r->brokers[r->nbrokers].addr, sizeof r->brokers[0].addr, "%s", a0 ? a0 : "");
            snprintf(r->brokers[r->nbrokers].any, sizeof r->brokers[0].any, "%s", any);
            r->nbrokers++;
        }
    }
    if (qds && qds->type == LJ_ARR) {
        for (size_t i = 0; i < qds->n; i++) {
            lj_val_t *qd = qds->items[i];
            const char *name = lj_get_str(qd, "brokerName", NULL);
            if (!name || !lc_route_read_addr(r, name))
                continue;
            int master = lc_route_addr(r, name) != NULL; /* no master: readable, not writable */
            int64_t perm = lj_get_int(qd, "perm", 6);
            int64_t rn = lj_get_int(qd, "readQueueNums", 0), wn = lj_get_int(qd, "writeQueueNums", 0);
            if (cap4) {
                rn = rn < 4 ? rn : 4;
                wn = rn;
            }
            if ((perm & 2) && master && (rc = add_queues(&r->wq, &r->nwq, as_topic, name, wn)) != 0)
                goto out;
            if ((perm & 4) && (rc = add_queues(&r->rq, &r->nrq, as_topic, name, rn)) != 0)
                goto out;
        }
    }
    if (r->nwq)
        qsort(r->wq, r->nwq, sizeof *r->wq, lc_mq_cmp);
    if (r->nrq)
        qsort(r->rq, r->nrq, sizeof *r->rq, lc_mq_cmp);
    *out = r;
    r = NULL;
    rc = 0;
out:
    lc_route_put(r);
    lj_free(root);
    return rc;
}

/* GET_ROUTEINFO_BY_TOPIC on the name servers, one after the other on network errors. */
static int fetch_route(lc_inst_t *in, const char *topic, rm_cmd_t *resp)
{
    int rc = LC_ENETWORK;
    for (size_t i = 0; i < in->nns; i++) {
        rm_cmd_t req;
        lc_req_init(&req, RQ_GET_ROUTEINFO_BY_TOPIC);
        if (rm_ext_set(&req, "topic", topic)) {
            rm_cmd_free(&req);
            return LC_ENOMEM;
        }
        rc = lc_rpc_sync(in, NULL, &req, NS_TIMEOUT_MS, resp);
        if (rc != LC_ENETWORK && rc != LC_ETIMEOUT)
            return rc;
        __atomic_add_fetch(&in->ns_next, 1, __ATOMIC_RELAXED);
    }
    return rc;
}

int lc_route_get(lc_inst_t *in, const char *topic, int force, int tbw102, lc_route_t **out)
{
    uv_mutex_lock(&in->rmu);
    lc_route_t *old = cm_map_get(&in->routes, topic);
    if (old && !force && (int64_t)cm_mono_ms() - old->fetched_ms < ROUTE_TTL_MS) {
        __atomic_add_fetch(&old->refs, 1, __ATOMIC_RELAXED);
        uv_mutex_unlock(&in->rmu);
        *out = old;
        return 0;
    }
    uv_mutex_unlock(&in->rmu);

    rm_cmd_t resp;
    lc_route_t *r = NULL;
    int rc = fetch_route(in, topic, &resp);
    if (rc == 0) {
        if (resp.code == RC_SUCCESS) {
            rc = route_parse(&resp, topic, 0, &r);
        } else if (resp.code == RC_TOPIC_NOT_EXIST && tbw102) {
            rm_cmd_t tr;
            rc = fetch_route(in, "TBW102", &tr);
            if (rc == 0) {
                rc = tr.code == RC_SUCCESS ? route_parse(&tr, topic, 1, &r) : LC_ENOROUTE;
                rm_cmd_free(&tr);
            }
            if (r)  /* look again soon: the broker creates the topic on the first send */
                r->fetched_ms -= ROUTE_TTL_MS - 3000;
        } else {
            rc = resp.code == RC_TOPIC_NOT_EXIST ? LC_ENOROUTE : LC_EBROKER;
        }
        rm_cmd_free(&resp);
    }
    uv_mutex_lock(&in->rmu);
    if (r) {
        lc_route_t *prev = cm_map_get(&in->routes, topic);
        if (cm_map_put(&in->routes, topic, r) == 0) {
            lc_route_put(prev);
            __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
            for (size_t i = 0; i < r->nbrokers; i++) /* heartbeats go where the client reads */
                cm_map_put(&in->brokers, r->brokers[i].any, (void *)1);
        }
        *out = r;
        rc = 0;
    } else if ((old = cm_map_get(&in->routes, topic)) != NULL && (rc == LC_ENETWORK || rc == LC_ETIMEOUT)) {
        __atomic_add_fetch(&old->refs, 1, __ATOMIC_RELAXED);  /* stale beats nothing */
        *out = old;
        rc = 0;
    } else if (rc == 0) {
        rc = LC_ENOROUTE;
    }
    uv_mutex_unlock(&in->rmu);
    return rc;
}

typedef struct name_find { const char *name; char *addr; size_t n; int found; } name_find_t;

static void find_broker(const char *key, void *val, void *arg)
{
    name_find_t *f = arg;
    lc_route_t *r = val;
    if (f->found)
        return;
    const char *a = lc_route_read_addr(r, f->name);
    if (a) {
        snprintf(f->addr, f->n, "%s", a);
        f->found = 1;
    }
}

int lc_broker_addr(lc_inst_t *in, const char *broker_name, char *addr, size_t n)
{
    name_find_t f = {broker_name, addr, n, 0};
    uv_mutex_lock(&in->rmu);
    cm_map_each(&in->routes, find_broker, &f);
    uv_mutex_unlock(&in->rmu);
    return f.found ? 0 : LC_ENOROUTE;
}

typedef struct addr_list { char **a; size_t n; int err; } addr_list_t;

static void collect_addr(const char *key, void *val, void *arg)
{
    addr_list_t *l = arg;
    char *s = cm_strdup(key);
    if (!s) {
        l->err = 1;
        return;
    }
    l->a[l->n++] = s;
}

int lc_known_brokers(lc_inst_t *in, char ***addrs, size_t *n)
{
    uv_mutex_lock(&in->rmu);
    addr_list_t l = {calloc(in->brokers.n + 1, sizeof(char *)), 0, 0};
    if (l.a)
        cm_map_each(&in->brokers, collect_addr, &l);
    uv_mutex_unlock(&in->rmu);
    if (!l.a || l.err) {
        for (size_t i = 0; l.a && i < l.n; i++)
            free(l.a[i]);
        free(l.a);
        return LC_ENOMEM;
    }
    *addrs = l.a;
    *n = l.n;
    return 0;
}

static void free_addrs(char **a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(a[i]);
    free(a);
}

/* ---- heartbeat, unregister ---- */

static void on_hb_answer(int status, rm_cmd_t *resp, void *arg)
{
    if (status != RM_OK)
        LOG_W("client", "heartbeat to %s failed: %d", (const char *)arg, status);
    else if (resp->code != RC_SUCCESS)
        LOG_W("client", "heartbeat to %s refused: %d %s", (const char *)arg, resp->code, lc_resp_remark(resp));
    free(arg);
}

int lc_heartbeat(lc_inst_t *in, int sync)
{
    char **addrs;
    size_t n;
    if (lc_known_brokers(in, &addrs, &n) != 0)
        return LC_ENOMEM;
    cm_buf_t body;
    cm_buf_init(&body);
    int rc = LC_ENOMEM;
    lj_val_t *hb = lj_new_obj();
    if (!hb || lj_set_str(hb, "clientID", in->client_id))
        goto out;
    if (in->cfg.hb_fill && in->cfg.hb_fill(in->cfg.owner, hb) != 0)
        goto out;
    if (lj_write(hb, LJ_W_SORT, &body) != 0)
        goto out;
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        rm_cmd_t req;
        lc_req_init(&req, RQ_HEART_BEAT);
        req.body = (const uint8_t *)body.data;
        req.body_len = body.len;
        if (sync) {
            rm_cmd_t resp;
            int r = lc_rpc_sync(in, addrs[i], &req, 3000, &resp);
            if (r == 0) {
                if (resp.code != RC_SUCCESS) { /* the broker's remark says why (an ACL refusal...) */
                    LOG_W("client", "heartbeat to %s refused: %d %s", addrs[i], resp.code, lc_resp_remark(&resp));
                    r = LC_EBROKER;
                }
                rm_cmd_free(&resp);
            } else {
                LOG_W("client", "heartbeat to %s failed: %s", addrs[i], lc_strerror(r));
            }
            if (r)
                rc = r;
        } else {
            char *tag = cm_strdup(addrs[i]);
            if (!tag || lc_rpc_async(in, addrs[i], &req, 3000, on_hb_answer, tag) != 0)
                free(tag);
        }
    }
out:
    lj_free(hb);
    cm_buf_free(&body);
    free_addrs(addrs, n);
    return rc;
}

void lc_unregister(lc_inst_t *in, const char *producer_group, const char *consumer_group)
{
    char **addrs;
    size_t n;
    if (lc_known_brokers(in, &addrs, &n) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        rm_cmd_t req, resp;
        lc_req_init(&req, RQ_UNREGISTER_CLIENT);
        rm_ext_set(&req, "clientID", in->client_id);
        if (producer_group)
            rm_ext_set(&req, "producerGroup", producer_group);
        if (consumer_group)
            rm_ext_set(&req, "consumerGroup", consumer_group);
        if (lc_rpc_sync(in, addrs[i], &req, 3000, &resp) == 0)
            rm_cmd_free(&resp);
    }
    free_addrs(addrs, n);
}

int lc_consumer_hb_json(lj_val_t *hb, const char *group, const char *consumeType, const char *from, lj_val_t *subs)
{
    lj_val_t *cds = lj_new_arr(), *cd = lj_new_obj(), *pds = lj_new_arr(), *pd = lj_new_obj();
    int err = !cds || !cd || !subs || !pds || !pd;
    if (!err) {
        err |= lj_set_str(cd, "consumeFromWhere", from) != 0;
        err |= lj_set_str(cd, "consumeType", consumeType) != 0;
        err |= lj_set_str(cd, "groupName", group) != 0;
        err |= lj_set_str(cd, "messageModel", "CLUSTERING") != 0;
        err |= lj_set(cd, "subscriptionDataSet", subs) != 0;
        subs = NULL;
        err |= lj_set_bool(cd, "unitMode", 0) != 0;
        err |= lj_push(cds, cd) != 0;
        cd = NULL;
        err |= lj_set(hb, "consumerDataSet", cds) != 0;
        cds = NULL;
        err |= lj_set_str(pd, "groupName", "CLIENT_INNER_PRODUCER") != 0;
        err |= lj_push(pds, pd) != 0;
        pd = NULL;
        err |= lj_set(hb, "producerDataSet", pds) != 0;
        pds = NULL;
    }
    lj_free(cds);
    lj_free(cd);
    lj_free(subs);
    lj_free(pds);
    lj_free(pd);
    return err ? LC_ENOMEM : 0;
}
