/* Unit tests of what the client puts on the wire for ACL and trace, against a fake name server
 * and broker (one rm_server on 127.0.0.1 answering both roles on its own loop thread) that
 * keeps every request it receives:
 *  - with access/secret keys, every request (route lookups to the name server, heartbeats and
 *    sends with their bodies to the broker) carries AccessKey and a Signature that
 *    rm_sign_verify accepts with the secret and refuses with another one;
 *  - without keys nothing is signed;
 *  - a traced producer's Pub record reaches RMQ_SYS_TRACE_TOPIC in a signed send of the internal
 *    producer, with KEYS = msgId and business keys and no tags, and no record is written for a
 *    send whose answer says TRACE_ON=false, nor for the trace sends themselves;
 *  - a transaction's END_TRANSACTION is signed and traced as an EndTransaction record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/lc.h"

#define AK "demoAK0001"
#define SK "demoSK0001xyz"
#define MAX_CAPS 512

typedef struct cap {
    int code;
    int has_sig, verifies, verifies_wrong;
    char ak[64], topic[LC_MAX_TOPIC], group[LC_MAX_NAME];
    char *props, *body;
    size_t body_len;
} cap_t;

static struct {
    uv_loop_t loop;
    uv_async_t stop;
    uv_thread_t th;
    uv_sem_t ready;
    rm_server_t *srv;
    int port;
    uv_mutex_t mu;
    cap_t caps[MAX_CAPS];
    int n;
} S;

static const char *ext_or_empty(const rm_cmd_t *c, const char *k)
{
    const char *v = rm_ext_get(c, k);
    return v ? v : "";
}

static void capture(const rm_cmd_t *req)
{
    uv_mutex_lock(&S.mu);
    if (S.n < MAX_CAPS) {
        cap_t *c = &S.caps[S.n++];
        memset(c, 0, sizeof *c);
        c->code = req->code;
        c->has_sig = rm_ext_get(req, "Signature") != NULL;
        c->verifies = rm_sign_verify(req, SK);
        c->verifies_wrong = rm_sign_verify(req, "not-the-secret");
        snprintf(c->ak, sizeof c->ak, "%s", ext_or_empty(req, "AccessKey"));
        snprintf(c->topic, sizeof c->topic, "%s", req->code == 310 ? ext_or_empty(req, "b") : ext_or_empty(req, "topic"));
        snprintf(c->group, sizeof c->group, "%s", ext_or_empty(req, "a"));
        c->props = cm_strdup(ext_or_empty(req, "i"));
        if (req->body_len && (c->body = malloc(req->body_len + 1)) != NULL) {
            memcpy(c->body, req->body, req->body_len);
            c->body[req->body_len] = 0;
            c->body_len = req->body_len;
        }
    }
    uv_mutex_unlock(&S.mu);
}

static void on_route(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    capture(req);
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"brokerDatas\":[{\"brokerAddrs\":{\"0\":\"127.0.0.1:%d\"},\"brokerName\":\"fake-b\","
                     "\"cluster\":\"c\"}],\"queueDatas\":[{\"brokerName\":\"fake-b\",\"perm\":6,"
                     "\"readQueueNums\":1,\"writeQueueNums\":1}]}",
                     S.port);
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    resp.body = (const uint8_t *)body;
    resp.body_len = (size_t)n;
    rm_conn_respond(c, req, &resp);
    resp.body = NULL;
    rm_cmd_free(&resp);
}

/* SEND_MESSAGE_V2: stored at offset 0 of queue 0; topic NoTrace gets TRACE_ON=false back. */
static void on_send(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    capture(req);
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_ext_set(&resp, "msgId", "7F00000100002A9F0000000000000000");
    rm_ext_set(&resp, "queueId", "0");
    rm_ext_set(&resp, "queueOffset", "0");
    rm_ext_set(&resp, "MSG_REGION", "DefaultRegion");
    rm_ext_set(&resp, "TRACE_ON", strcmp(ext_or_empty(req, "b"), "NoTrace") == 0 ? "false" : "true");
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
}

static void on_other(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    capture(req);
    rm_conn_respond_code(c, req, req->code == 34 || req->code == 35 ? RC_SUCCESS : RC_SYSTEM_ERROR,
                         req->code == 34 || req->code == 35 ? NULL : "not in this fake");
}

static const rm_handler_t k_handlers[] = {{105, on_route}, {310, on_send}};
static const rm_endpoint_t k_ep = {.name = "fake", .handlers = k_handlers, .nhandlers = 2, .fallback = on_other};

static void on_stop(uv_async_t *a)
{
    rm_server_stop(S.srv);
    uv_close((uv_handle_t *)a, NULL);
}

static void server_main(void *arg)
{
    uv_loop_init(&S.loop);
    uv_async_init(&S.loop, &S.stop, on_stop);
    if (rm_server_start(&S.loop, "127.0.0.1", 0, &k_ep, &S.srv) == 0)
        S.port = rm_server_port(S.srv);
    uv_sem_post(&S.ready);
    uv_run(&S.loop, UV_RUN_DEFAULT);
    uv_loop_close(&S.loop);
}

static void clear_caps(void)
{
    uv_mutex_lock(&S.mu);
    for (int i = 0; i < S.n; i++) {
        free(S.caps[i].props);
        free(S.caps[i].body);
    }
    S.n = 0;
    uv_mutex_unlock(&S.mu);
}

static int setup(void **state)
{
    memset(&S, 0, sizeof S);
    uv_mutex_init(&S.mu);
    uv_sem_init(&S.ready, 0);
    if (uv_thread_create(&S.th, server_main, NULL) != 0)
        return -1;
    uv_sem_wait(&S.ready);
    return S.port > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    uv_async_send(&S.stop);
    uv_thread_join(&S.th);
    clear_caps();
    return 0;
}

static int before_each(void **state)
{
    clear_caps();
    return 0;
}

/* Index of the first request with this code (and topic, unless NULL) from `from` on, else -1. */
static int find_cap(int from, int code, const char *topic)
{
    int found = -1;
    uv_mutex_lock(&S.mu);
    for (int i = from; i < S.n && found < 0; i++)
        if (S.caps[i].code == code && (!topic || strcmp(S.caps[i].topic, topic) == 0))
            found = i;
    uv_mutex_unlock(&S.mu);
    return found;
}

/* Bounded wait for such a request (the heartbeat is sent asynchronously). */
static int wait_cap(int code, const char *topic)
{
    for (int i = 0; i < 1000; i++) {
        int k = find_cap(0, code, topic);
        if (k >= 0)
            return k;
        uv_sleep(10);
    }
    return -1;
}

static void nsaddr(char *out, size_t n) { snprintf(out, n, "127.0.0.1:%d", S.port); }

static lc_producer_t *start_producer(const char *group, const char *ak, const char *sk, int trace)
{
    char ns[64];
    nsaddr(ns, sizeof ns);
    lc_producer_t *p;
    assert_int_equal(lc_producer_create(group, ns, &p), 0);
    lc_producer_set_retry_times(p, 0);
    assert_int_equal(lc_producer_set_credentials(p, ak, sk), 0);
    assert_int_equal(lc_producer_set_trace(p, trace, NULL), 0);
    assert_int_equal(lc_producer_start(p), 0);
    return p;
}

static void send_one(lc_producer_t *p, const char *topic, const char *keys, lc_send_result_t *res)
{
    lc_message_t m = {.topic = topic, .tags = "TagA", .keys = keys, .body = "Hello RocketMQ", .body_len = 14};
    assert_int_equal(lc_producer_send_sync(p, &m, res), 0);
}

static void assert_signed(int k)
{
    assert_true(k >= 0);
    uv_mutex_lock(&S.mu);
    cap_t c = S.caps[k];
    uv_mutex_unlock(&S.mu);
    assert_true(c.has_sig);
    assert_string_equal(c.ak, AK);
    assert_true(c.verifies);
    assert_false(c.verifies_wrong);
}

static void test_producer_signs_name_server_and_broker_requests(void **state)
{
    lc_producer_t *p = start_producer("sign_group", AK, SK, 0);
    lc_send_result_t res;
    send_one(p, "TopicTest", "k1", &res);
    lc_send_result_clear(&res);
    assert_signed(find_cap(0, 105, "TopicTest"));     /* the name server's route lookup */
    int send = find_cap(0, 310, "TopicTest");
    assert_signed(send);                              /* header fields and body */
    assert_true(S.caps[send].body_len == 14);
    assert_signed(wait_cap(34, NULL));                /* the heartbeat: a JSON body */
    lc_producer_destroy(p);
    assert_signed(find_cap(0, 35, NULL));             /* and the unregister on the way out */
}

static void test_pull_consumer_signs_its_requests(void **state)
{
    char ns[64];
    nsaddr(ns, sizeof ns);
    lc_pull_consumer_t *pc;
    assert_int_equal(lc_pull_consumer_create("sign_pull_group", ns, &pc), 0);
    assert_int_equal(lc_pull_consumer_set_credentials(pc, AK, SK), 0);
    assert_int_equal(lc_pull_consumer_start(pc), 0);
    lc_mq_t *mqs = NULL;
    size_t n = 0;
    assert_int_equal(lc_pull_consumer_fetch_queues(pc, "PullTopic", &mqs, &n), 0);
    assert_int_equal(n, 1);
    free(mqs);
    assert_signed(find_cap(0, 105, "PullTopic"));
    lc_pull_consumer_destroy(pc);
}

static lc_consume_status_t ignore(const lc_consume_ctx_t *ctx, lc_message_ext_t *const *msgs, size_t n, void *arg)
{
    return LC_CONSUME_SUCCESS;
}

static void test_push_consumer_heartbeat_is_signed(void **state)
{
    char ns[64];
    nsaddr(ns, sizeof ns);
    lc_push_consumer_t *c;
    assert_int_equal(lc_push_consumer_create("sign_push_group", ns, &c), 0);
    assert_int_equal(lc_push_consumer_set_credentials(c, AK, SK), 0);
    lc_push_consumer_set_threads(c, 1);
    lc_push_consumer_set_listener(c, ignore, NULL);
    assert_int_equal(lc_push_consumer_subscribe(c, "PushTopic", "*"), 0);
    assert_int_equal(lc_push_consumer_start(c), 0);
    assert_signed(find_cap(0, 105, "PushTopic"));
    int hb = find_cap(0, 34, NULL);  /* start sends it synchronously */
    assert_signed(hb);
    assert_non_null(strstr(S.caps[hb].body, "sign_push_group"));
    lc_push_consumer_destroy(c);
}

static void test_nothing_is_signed_without_keys(void **state)
{
    lc_producer_t *p = start_producer("plain_group", NULL, NULL, 0);
    lc_send_result_t res;
    send_one(p, "TopicTest", NULL, &res);
    lc_send_result_clear(&res);
    lc_producer_destroy(p);
    uv_mutex_lock(&S.mu);
    assert_true(S.n >= 2);
    for (int i = 0; i < S.n; i++) {
        assert_false(S.caps[i].has_sig);
        assert_string_equal(S.caps[i].ak, "");
    }
    uv_mutex_unlock(&S.mu);
}

/* How many records of a type in s, and the fields of the first one about msg_id. */
static int count_records(const char *s, const char *type, const char *msg_id, char fields[16][128], int *nf)
{
    int count = 0;
    size_t tl = strlen(type);
    for (const char *p = s; p && *p;) {
        const char *e = strchr(p, '\002');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > tl && memcmp(p, type, tl) == 0 && p[tl] == '\001') {
            count++;
            char rec[2048];
            snprintf(rec, sizeof rec, "%.*s", (int)len, p);
            if (msg_id && strstr(rec, msg_id) && fields) {
                *nf = 0;
                for (char *save = NULL, *f = strtok_r(rec, "\001", &save); f && *nf < 16; f = strtok_r(NULL, "\001", &save))
                    snprintf(fields[(*nf)++], 128, "%s", f);
            }
        }
        p = e ? e + 1 : NULL;
    }
    return count;
}

static void prop_value(const char *props, const char *name, char *out, size_t n)
{
    out[0] = 0;
    char key[64];
    snprintf(key, sizeof key, "%s\001", name);
    for (const char *p = props; p && *p;) {
        if (strncmp(p, key, strlen(key)) == 0) {
            const char *v = p + strlen(key);
            snprintf(out, n, "%.*s", (int)strcspn(v, "\002"), v);
            return;
        }
        p = strchr(p, '\002');
        p = p ? p + 1 : NULL;
    }
}

static void test_traced_send_writes_one_signed_pub_record(void **state)
{
    lc_producer_t *p = start_producer("trace_group", AK, SK, 1);
    lc_send_result_t off, on;
    send_one(p, "NoTrace", "skipme", &off);     /* the broker says TRACE_ON=false */
    send_one(p, "TopicTest", "OrderID188", &on);
    /* the trace thread sends in order: once the second send's record is there, the first's
     * would be too */
    int k = -1;
    for (int i = 0; i < 1000 && k < 0; i++) {
        for (int from = 0; (from = find_cap(from, 310, LC_TRACE_TOPIC_DEFAULT)) >= 0; from++) {
            uv_mutex_lock(&S.mu);
            int hit = S.caps[from].body && strstr(S.caps[from].body, on.msg_id) != NULL;
            uv_mutex_unlock(&S.mu);
            if (hit) {
                k = from;
                break;
            }
        }
        if (k < 0)
            uv_sleep(10);
    }
    assert_true(k >= 0);
    lc_producer_destroy(p); /* flushes whatever is left; the trace sends are over after this */

    uv_mutex_lock(&S.mu);
    cap_t c = S.caps[k];
    cm_buf_t all;
    cm_buf_init(&all);
    for (int i = 0; i < S.n; i++)
        if (S.caps[i].code == 310 && !strcmp(S.caps[i].topic, LC_TRACE_TOPIC_DEFAULT) && S.caps[i].body)
            cm_buf_puts(&all, S.caps[i].body);
    uv_mutex_unlock(&S.mu);
    assert_signed(k);
    assert_true(strncmp(c.group, "_INNER_TRACE_PRODUCER-trace_group-PRODUCE-", 42) == 0);
    char keys[512], tags[64];
    prop_value(c.props, "KEYS", keys, sizeof keys);
    prop_value(c.props, "TAGS", tags, sizeof tags);
    assert_non_null(strstr(keys, on.msg_id));
    assert_non_null(strstr(keys, "OrderID188"));
    assert_string_equal(tags, "");

    char f[16][128];
    int nf = 0;
    assert_int_equal(count_records(all.data, "Pub", on.msg_id, f, &nf), 1); /* not NoTrace, not itself */
    assert_null(strstr(all.data, off.msg_id));
    assert_int_equal(nf, 14);
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", S.port);
    assert_string_equal(f[2], "DefaultRegion");
    assert_string_equal(f[3], "trace_group");
    assert_string_equal(f[4], "TopicTest");
    assert_string_equal(f[5], on.msg_id);
    assert_string_equal(f[6], "TagA");
    assert_string_equal(f[7], "OrderID188");
    assert_string_equal(f[8], host);
    assert_string_equal(f[9], "14");
    assert_string_equal(f[11], "0");
    assert_string_equal(f[12], "7F00000100002A9F0000000000000000");
    assert_string_equal(f[13], "true");
    cm_buf_free(&all);
    lc_send_result_clear(&off);
    lc_send_result_clear(&on);
}

static lc_tx_state_t commit_it(const lc_message_t *m, const char *msg_id, void *arg) { return LC_TX_COMMIT; }
static lc_tx_state_t never_asked(const lc_message_ext_t *m, void *arg) { return LC_TX_UNKNOWN; }

/* The first trace body holding a record of this type about msg_id, copied into out. */
static int wait_trace_body(const char *type, const char *msg_id, cm_buf_t *out)
{
    for (int i = 0; i < 1000; i++) {
        uv_mutex_lock(&S.mu);
        for (int k = 0; k < S.n; k++) {
            const cap_t *c = &S.caps[k];
            if (c->code == 310 && !strcmp(c->topic, LC_TRACE_TOPIC_DEFAULT) && c->body && strstr(c->body, type) &&
                strstr(c->body, msg_id)) {
                cm_buf_puts(out, c->body);
                uv_mutex_unlock(&S.mu);
                return 0;
            }
        }
        uv_mutex_unlock(&S.mu);
        uv_sleep(10);
    }
    return -1;
}

static void test_transaction_end_is_signed_and_traced(void **state)
{
    char ns[64];
    nsaddr(ns, sizeof ns);
    lc_producer_t *p;
    assert_int_equal(lc_producer_create("tx_group", ns, &p), 0);
    assert_int_equal(lc_producer_set_credentials(p, AK, SK), 0);
    assert_int_equal(lc_producer_set_trace(p, 1, NULL), 0);
    lc_producer_set_transaction_check(p, never_asked, NULL);
    assert_int_equal(lc_producer_start(p), 0);
    lc_message_t m = {.topic = "TopicTx", .tags = "TagT", .keys = "K1 K2", .body = "tx", .body_len = 2};
    lc_send_result_t res;
    lc_tx_state_t st;
    assert_int_equal(lc_producer_send_in_transaction(p, &m, commit_it, NULL, &res, &st), 0);
    assert_int_equal(st, LC_TX_COMMIT);
    cm_buf_t body;
    cm_buf_init(&body);
    assert_int_equal(wait_trace_body("EndTransaction\001", res.msg_id, &body), 0);
    lc_producer_destroy(p);
    assert_signed(find_cap(0, 37, NULL)); /* the oneway END_TRANSACTION */

    uv_mutex_lock(&S.mu);
    cm_buf_t all;
    cm_buf_init(&all);
    for (int i = 0; i < S.n; i++)
        if (S.caps[i].code == 310 && !strcmp(S.caps[i].topic, LC_TRACE_TOPIC_DEFAULT) && S.caps[i].body)
            cm_buf_puts(&all, S.caps[i].body);
    uv_mutex_unlock(&S.mu);
    char f[16][128], host[64];
    int nf = 0;
    snprintf(host, sizeof host, "127.0.0.1:%d", S.port);
    assert_int_equal(count_records(all.data, "EndTransaction", res.msg_id, f, &nf), 1);
    assert_int_equal(nf, 13);
    assert_string_equal(f[2], "DefaultRegion");
    assert_string_equal(f[3], "tx_group");
    assert_string_equal(f[4], "TopicTx");
    assert_string_equal(f[5], res.msg_id);
    assert_string_equal(f[6], "TagT");
    assert_string_equal(f[7], "K1 K2");
    assert_string_equal(f[8], host);
    assert_string_equal(f[9], "2");
    assert_string_equal(f[10], res.msg_id);
    assert_string_equal(f[11], "COMMIT_MESSAGE");
    assert_string_equal(f[12], "false");
    /* the half send's Pub says Trans_Msg_Half (1) */
    assert_int_equal(count_records(all.data, "Pub", res.msg_id, f, &nf), 1);
    assert_string_equal(f[11], "1");
    cm_buf_free(&all);
    cm_buf_free(&body);
    lc_send_result_clear(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_producer_signs_name_server_and_broker_requests, before_each),
        cmocka_unit_test_setup(test_pull_consumer_signs_its_requests, before_each),
        cmocka_unit_test_setup(test_push_consumer_heartbeat_is_signed, before_each),
        cmocka_unit_test_setup(test_nothing_is_signed_without_keys, before_each),
        cmocka_unit_test_setup(test_traced_send_writes_one_signed_pub_record, before_each),
        cmocka_unit_test_setup(test_transaction_end_is_signed_and_traced, before_each),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
