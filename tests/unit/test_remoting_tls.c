/* TLS on the remoting protocol (tls spec §4), server and clients on one loop over 127.0.0.1:
 * the first-byte decision per tls.server.mode; the tls.* settings (RocketMQ's names, JAVA_OPT
 * words, tls.config.file overriding all but mode and enable; errors name the key); a TLS pair
 * exchanging frames both ways through rm_conn, a frame over 1 MiB each way and a zero-copy raw
 * answer; enforcing refuses plain, disabled refuses TLS; a garbage ClientHello closes only its
 * own connection; a rotated certificate and key are picked up by new connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "remoting/remoting.h"

#define BIG (1536 * 1024)   /* over 1 MiB: many TLS records, many reads */
#define RAW_PART (200 * 1024)

typedef struct {
    int done, status, code;
    uint8_t *body;
    size_t body_len;
} result_t;

static uv_loop_t g_loop;
static uv_timer_t g_tick;
static rm_server_t *g_srv;
static rm_conn_t *g_accepted;   /* the server side of the last connection that sent code 10 */
static int g_raw_done;          /* zero-copy bodies released by the connection */
static uint8_t g_raw[2][RAW_PART];

/* ---- server and client handlers ---- */

static void h_echo(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    (void)ctx;
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    resp.body = req->body;
    resp.body_len = req->body_len;
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
}

static void h_remember(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    (void)ctx;
    if (g_accepted)
        rm_conn_unref(g_accepted);
    g_accepted = c;
    rm_conn_ref(c);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static void raw_done(void *arg)
{
    (void)arg;
    g_raw_done++;
}

/* The pull path's way: header now, body from memory the handler keeps until done(). */
static void h_raw(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    (void)ctx;
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    uv_buf_t bufs[2] = {uv_buf_init((char *)g_raw[0], RAW_PART), uv_buf_init((char *)g_raw[1], RAW_PART)};
    rm_conn_respond_raw(c, req->opaque, req->serialize, &resp, bufs, 2, raw_done, NULL);
    rm_cmd_free(&resp);
}

static const rm_handler_t k_srv_handlers[] = {{1, h_echo}, {3, h_raw}, {10, h_remember}};
static const rm_endpoint_t k_srv_ep = {.name = "tls-test-server", .handlers = k_srv_handlers, .nhandlers = 3};
static const rm_handler_t k_cli_handlers[] = {{1, h_echo}};
static const rm_endpoint_t k_cli_ep = {.name = "tls-test-client", .handlers = k_cli_handlers, .nhandlers = 1};

/* ---- plumbing: a loop that the test steps through, each wait bounded ---- */

static void on_tick(uv_timer_t *t) { (void)t; }

static int run_until(const int *flag, int ms)
{
    uv_update_time(&g_loop);
    uint64_t end = uv_now(&g_loop) + (uint64_t)ms;
    while (!*flag && uv_now(&g_loop) < end) {
        uv_run(&g_loop, UV_RUN_ONCE);
        uv_update_time(&g_loop);
    }
    return *flag;
}

/* A loop and a server on the server settings tc. */
static void start_with(const rm_tls_conf_t *tc)
{
    assert_int_equal(uv_loop_init(&g_loop), 0);
    uv_timer_init(&g_loop, &g_tick);
    uv_timer_start(&g_tick, on_tick, 10, 10);
    char err[256] = "";
    assert_int_equal(rm_tls_server_setup(tc, err, sizeof err), 0);
    assert_int_equal(rm_server_start(&g_loop, "127.0.0.1", 0, &k_srv_ep, &g_srv), 0);
    g_accepted = NULL;
    g_raw_done = 0;
}

static void start(int mode)
{
    rm_tls_conf_t tc;
    rm_tls_conf_init(&tc);
    tc.server_mode = mode;
    start_with(&tc);
    rm_tls_conf_free(&tc);
}

static void stop(void)
{
    rm_tls_watch_stop();
    if (g_accepted)
        rm_conn_unref(g_accepted);
    g_accepted = NULL;
    rm_server_stop(g_srv);
    uv_close((uv_handle_t *)&g_tick, NULL);
    uv_run(&g_loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&g_loop), 0);
    rm_tls_cleanup();
}

static rm_conn_t *dial(int tls)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", rm_server_port(g_srv));
    rm_tls_client_enable(tls);
    rm_conn_t *c = NULL;
    assert_int_equal(rm_conn_connect(&g_loop, addr, &k_cli_ep, &c), 0);
    rm_conn_ref(c);
    return c;
}

static void hang_up(rm_conn_t *c)
{
    rm_conn_close(c);
    rm_conn_unref(c);
}

static void on_result(int status, rm_cmd_t *resp, void *arg)
{
    result_t *r = arg;
    r->status = status;
    if (resp) {
        r->code = resp->code;
        r->body_len = resp->body_len;
        r->body = malloc(resp->body_len + 1);
        if (resp->body_len)
            memcpy(r->body, resp->body, resp->body_len);
    }
    r->done = 1;
}

/* One request and its answer (or failure), waited for with a bound. */
static result_t call(rm_conn_t *c, int code, const uint8_t *body, size_t len)
{
    result_t r = {0};
    rm_cmd_t req;
    rm_cmd_init(&req, code);
    req.body = body;
    req.body_len = len;
    int rc = rm_conn_invoke(c, &req, 20000, on_result, &r);
    rm_cmd_free(&req);
    if (rc != 0) {
        r.status = rc;
        return r;
    }
    assert_true(run_until(&r.done, 30000));
    return r;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 131 + seed) ^ (i >> 9));
    return p;
}

/* ---- tests ---- */

static void test_first_byte_decides_per_mode(void **state)
{
    (void)state;
    assert_int_equal(rm_tls_sniff(RM_TLS_PERMISSIVE, 0x16), RM_SNIFF_TLS);
    assert_int_equal(rm_tls_sniff(RM_TLS_PERMISSIVE, 0x00), RM_SNIFF_PLAIN);
    assert_int_equal(rm_tls_sniff(RM_TLS_ENFORCING, 0x16), RM_SNIFF_TLS);
    assert_int_equal(rm_tls_sniff(RM_TLS_ENFORCING, 0x00), RM_SNIFF_REFUSE);
    assert_int_equal(rm_tls_sniff(RM_TLS_ENFORCING, 0x15), RM_SNIFF_REFUSE);
    assert_int_equal(rm_tls_sniff(RM_TLS_DISABLED, 0x16), RM_SNIFF_REFUSE);
    assert_int_equal(rm_tls_sniff(RM_TLS_DISABLED, 0x00), RM_SNIFF_PLAIN);
    assert_int_equal(rm_tls_sniff(RM_TLS_DISABLED, 0x80), RM_SNIFF_PLAIN); /* no SSLv2 hellos */
}

static void test_settings_use_rocketmq_names_and_defaults(void **state)
{
    (void)state;
    rm_tls_conf_t tc;
    rm_tls_conf_init(&tc);
    assert_int_equal(tc.server_mode, RM_TLS_PERMISSIVE);
    assert_int_equal(tc.test_mode, 1);
    assert_int_equal(tc.enable, 0);
    assert_int_equal(tc.need_client_auth, RM_TLS_AUTH_NONE);
    assert_int_equal(rm_tls_conf_set(&tc, "tls.server.mode", "ENFORCING"), 0);
    assert_int_equal(tc.server_mode, RM_TLS_ENFORCING);
    assert_int_equal(rm_tls_conf_set(&tc, "tls.server.mode", "whatever"), 0); /* as RocketMQ: permissive */
    assert_int_equal(tc.server_mode, RM_TLS_PERMISSIVE);
    assert_int_equal(rm_tls_conf_set(&tc, "tls.server.need.client.auth", "Require"), 0);
    assert_int_equal(tc.need_client_auth, RM_TLS_AUTH_REQUIRE);
    assert_int_equal(rm_tls_conf_set(&tc, "tls.test.mode.enable", "false"), 0);
    assert_int_equal(tc.test_mode, 0);
    assert_int_equal(rm_tls_conf_set(&tc, "tls.test.mode.enable", "maybe"), -2);
    assert_int_equal(rm_tls_conf_set(&tc, "tls.client.trustCertPath", "/x/ca.pem"), 0);
    assert_string_equal(tc.client_trust_cert_path, "/x/ca.pem");
    assert_int_equal(rm_tls_conf_set(&tc, "listenPort", "9876"), -1);
    assert_int_equal(rm_tls_conf_set(&tc, "tls.no.such.key", "1"), -1);

    char err[256] = "";
    assert_int_equal(rm_tls_conf_java_opt(&tc, " -server -Xms1g -Dtls.enable=true  -Dtls.server.certPath=/c.pem "
                                               "-Drocketmq.x=1", err, sizeof err), 0);
    assert_int_equal(tc.enable, 1);
    assert_string_equal(tc.server_cert_path, "/c.pem");
    assert_int_equal(rm_tls_conf_java_opt(&tc, "-Dtls.client.authServer=yes", err, sizeof err), -1);
    assert_non_null(strstr(err, "tls.client.authServer"));

    /* tls.config.file overrides all but tls.server.mode and tls.enable */
    char path[] = "/tmp/loulan-tls-conf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "tls.server.mode=disabled\ntls.enable=false\ntls.server.certPath=/file.pem\n"
                       "tls.test.mode.enable=true\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    tc.server_mode = RM_TLS_ENFORCING;
    assert_int_equal(rm_tls_conf_set(&tc, "tls.config.file", path), 0);
    assert_int_equal(rm_tls_conf_load_file(&tc, err, sizeof err), 0);
    assert_int_equal(tc.server_mode, RM_TLS_ENFORCING);
    assert_int_equal(tc.enable, 1);
    assert_string_equal(tc.server_cert_path, "/file.pem");
    assert_int_equal(tc.test_mode, 1);
    unlink(path);
    assert_int_equal(rm_tls_conf_load_file(&tc, err, sizeof err), -1); /* named, now gone */
    assert_non_null(strstr(err, "tls.config.file"));
    rm_tls_conf_free(&tc);
}

static void write_pem(const char *path, EVP_PKEY *key, X509 *x)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (key)
        assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
    if (x)
        assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
}

static X509 *self_signed(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    X509_sign(x, key, EVP_sha256());
    return x;
}

static void test_bad_certificate_settings_name_the_key(void **state)
{
    (void)state;
    char dir[] = "/tmp/loulan-tls-XXXXXX", cert[128], key[128], other[128];
    assert_non_null(mkdtemp(dir));
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(other, sizeof other, "%s/other.pem", dir);
    EVP_PKEY *k1 = EVP_EC_gen("P-256"), *k2 = EVP_EC_gen("P-256");
    X509 *x = self_signed(k1);
    write_pem(cert, NULL, x);
    write_pem(key, k1, NULL);
    write_pem(other, k2, NULL);

    rm_tls_conf_t tc;
    rm_tls_conf_init(&tc);
    char err[512] = "";
    rm_tls_conf_set(&tc, "tls.test.mode.enable", "false");
    rm_tls_conf_set(&tc, "tls.server.certPath", "/nonexistent/cert.pem");
    rm_tls_conf_set(&tc, "tls.server.keyPath", key);
    assert_int_equal(rm_tls_server_setup(&tc, err, sizeof err), -1);
    assert_non_null(strstr(err, "tls.server.certPath"));
    rm_tls_conf_set(&tc, "tls.server.certPath", cert);
    rm_tls_conf_set(&tc, "tls.server.keyPath", other);
    assert_int_equal(rm_tls_server_setup(&tc, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not match"));
    assert_non_null(strstr(err, "tls.server.keyPath"));
    rm_tls_conf_set(&tc, "tls.server.keyPath", key);
    assert_int_equal(rm_tls_server_setup(&tc, err, sizeof err), 0);
    rm_tls_conf_set(&tc, "tls.client.authServer", "true");
    rm_tls_conf_set(&tc, "tls.client.trustCertPath", "/nonexistent/ca.pem");
    assert_int_equal(rm_tls_client_setup(&tc, err, sizeof err), -1);
    assert_non_null(strstr(err, "tls.client.trustCertPath"));
    rm_tls_conf_free(&tc);
    rm_tls_cleanup();

    X509_free(x);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    unlink(cert);
    unlink(key);
    unlink(other);
    rmdir(dir);
}

static void test_tls_pair_exchanges_frames_both_ways(void **state)
{
    (void)state;
    start(RM_TLS_PERMISSIVE);
    rm_conn_t *c = dial(1);
    assert_true(rm_conn_is_tls(c));

    result_t r = call(c, 10, NULL, 0); /* the server remembers its side */
    assert_int_equal(r.status, RM_OK);
    assert_int_equal(r.code, RC_SUCCESS);
    free(r.body);
    assert_non_null(g_accepted);
    assert_true(rm_conn_is_tls(g_accepted));

    const uint8_t small[] = "hello over TLS";
    r = call(c, 1, small, sizeof small);
    assert_int_equal(r.status, RM_OK);
    assert_int_equal(r.body_len, sizeof small);
    assert_memory_equal(r.body, small, sizeof small);
    free(r.body);

    uint8_t *big = pattern(BIG, 3);
    r = call(c, 1, big, BIG); /* client -> server -> client, > 1 MiB each way */
    assert_int_equal(r.status, RM_OK);
    assert_int_equal(r.body_len, BIG);
    assert_memory_equal(r.body, big, BIG);
    free(r.body);

    r = call(g_accepted, 1, big, BIG); /* the server asks the client */
    assert_int_equal(r.status, RM_OK);
    assert_int_equal(r.body_len, BIG);
    assert_memory_equal(r.body, big, BIG);
    free(r.body);
    free(big);

    memset(g_raw[0], 'a', RAW_PART);
    memset(g_raw[1], 'b', RAW_PART);
    r = call(c, 3, NULL, 0); /* zero-copy body, copied through the TLS write */
    assert_int_equal(r.status, RM_OK);
    assert_int_equal(r.body_len, 2 * RAW_PART);
    assert_memory_equal(r.body, g_raw[0], RAW_PART);
    assert_memory_equal(r.body + RAW_PART, g_raw[1], RAW_PART);
    assert_int_equal(g_raw_done, 1);
    free(r.body);

    rm_conn_t *plain = dial(0); /* permissive: plain beside TLS */
    r = call(plain, 1, small, sizeof small);
    assert_int_equal(r.status, RM_OK);
    assert_false(rm_conn_is_tls(plain));
    free(r.body);
    hang_up(plain);
    hang_up(c);
    stop();
}

static void test_enforcing_refuses_plain(void **state)
{
    (void)state;
    start(RM_TLS_ENFORCING);
    const uint8_t body[] = "x";
    rm_conn_t *plain = dial(0);
    result_t r = call(plain, 1, body, 1);
    assert_int_equal(r.status, RM_ECLOSED);
    hang_up(plain);
    rm_conn_t *c = dial(1);
    r = call(c, 1, body, 1);
    assert_int_equal(r.status, RM_OK);
    free(r.body);
    hang_up(c);
    stop();
}

static void test_disabled_refuses_tls(void **state)
{
    (void)state;
    start(RM_TLS_DISABLED);
    const uint8_t body[] = "x";
    rm_conn_t *c = dial(1);
    result_t r = call(c, 1, body, 1);
    assert_int_equal(r.status, RM_ECLOSED);
    hang_up(c);
    rm_conn_t *plain = dial(0);
    r = call(plain, 1, body, 1);
    assert_int_equal(r.status, RM_OK);
    free(r.body);
    hang_up(plain);
    stop();
}

/* ---- a raw socket that sends a broken ClientHello ---- */

typedef struct {
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t w;
    int closed;     /* the server hung up */
    int got;        /* bytes the server sent before */
    char buf[4096];
} raw_t;

static void raw_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    (void)s;
    raw_t *r = h->data;
    *b = uv_buf_init(r->buf, sizeof r->buf);
}

static void raw_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    raw_t *r = s->data;
    if (n > 0)
        r->got += (int)n;
    if (n < 0) {
        uv_read_stop(s);
        r->closed = 1;
    }
}

static void raw_written(uv_write_t *w, int status) { (void)w; (void)status; }

static void raw_connected(uv_connect_t *c, int status)
{
    raw_t *r = c->data;
    /* a handshake record header with a body that is no ClientHello */
    static char garbage[] = "\x16\x03\x01\x00\x30" "0123456789abcdef0123456789abcdef0123456789abcdef";
    if (status < 0) {
        r->closed = -1;
        return;
    }
    uv_buf_t b = uv_buf_init(garbage, sizeof garbage - 1);
    uv_write(&r->w, (uv_stream_t *)&r->tcp, &b, 1, raw_written);
    uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
}

static void test_garbage_client_hello_closes_only_its_connection(void **state)
{
    (void)state;
    start(RM_TLS_PERMISSIVE);
    const uint8_t body[] = "still here";
    rm_conn_t *c = dial(1);
    result_t r = call(c, 1, body, sizeof body);
    assert_int_equal(r.status, RM_OK);
    free(r.body);

    raw_t raw = {0};
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", rm_server_port(g_srv), &sa);
    uv_tcp_init(&g_loop, &raw.tcp);
    raw.tcp.data = raw.conn.data = &raw;
    assert_int_equal(uv_tcp_connect(&raw.conn, &raw.tcp, (struct sockaddr *)&sa, raw_connected), 0);
    assert_true(run_until(&raw.closed, 20000));
    assert_int_equal(raw.closed, 1);
    uv_close((uv_handle_t *)&raw.tcp, NULL);

    r = call(c, 1, body, sizeof body); /* the other connection goes on */
    assert_int_equal(r.status, RM_OK);
    assert_memory_equal(r.body, body, sizeof body);
    free(r.body);
    rm_conn_t *c2 = dial(1); /* and new ones are served */
    r = call(c2, 1, body, sizeof body);
    assert_int_equal(r.status, RM_OK);
    free(r.body);
    hang_up(c2);
    hang_up(c);
    stop();
}

/* A client that verifies the server against trust file `ca` only (chain, no host name). */
static void client_trusting(const char *ca)
{
    rm_tls_conf_t tc;
    rm_tls_conf_init(&tc);
    char err[256] = "";
    rm_tls_conf_set(&tc, "tls.test.mode.enable", "false");
    rm_tls_conf_set(&tc, "tls.client.authServer", "true");
    rm_tls_conf_set(&tc, "tls.client.trustCertPath", ca);
    assert_int_equal(rm_tls_client_setup(&tc, err, sizeof err), 0);
    rm_tls_conf_free(&tc);
}

/* A fresh TLS connection trusting `ca` gets an answer. */
static int served_trusting(const char *ca)
{
    static const uint8_t body[] = "which certificate?";
    client_trusting(ca);
    rm_conn_t *c = dial(1);
    result_t r = call(c, 1, body, sizeof body);
    free(r.body);
    hang_up(c);
    return r.status == RM_OK;
}

static void on_pause(uv_timer_t *t) { *(int *)t->data = 1; }

static void test_server_certificate_reloads_when_cert_and_key_change(void **state)
{
    (void)state;
    char dir[] = "/tmp/loulan-tls-XXXXXX", cert[128], key[128], a[128], b[128];
    assert_non_null(mkdtemp(dir));
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(a, sizeof a, "%s/a.pem", dir);
    snprintf(b, sizeof b, "%s/b.pem", dir);
    EVP_PKEY *ka = EVP_EC_gen("P-256"), *kb = EVP_EC_gen("P-256");
    X509 *xa = self_signed(ka), *xb = self_signed(kb);
    write_pem(cert, NULL, xa);
    write_pem(key, ka, NULL);
    write_pem(a, NULL, xa);
    write_pem(b, NULL, xb);

    rm_tls_conf_t tc;
    rm_tls_conf_init(&tc);
    rm_tls_conf_set(&tc, "tls.test.mode.enable", "false");
    rm_tls_conf_set(&tc, "tls.server.certPath", cert);
    rm_tls_conf_set(&tc, "tls.server.keyPath", key);
    start_with(&tc);
    assert_int_equal(rm_tls_watch_start(&g_loop, &tc), 0);
    rm_tls_conf_free(&tc);
    assert_true(served_trusting(a));
    assert_false(served_trusting(b)); /* the client really checks the chain */

    write_pem(cert, NULL, xb); /* a rotation: both files */
    write_pem(key, kb, NULL);
    /* each try is a new connection; bounded by the loop's clock */
    uv_update_time(&g_loop);
    uint64_t end = uv_now(&g_loop) + 20000;
    /* one pause timer for every wait, closed once: a handle must outlive its close, which
     * finishes on a later loop turn (a timer on the stack of each turn did not) */
    int tick = 0;
    uv_timer_t pause;
    uv_timer_init(&g_loop, &pause);
    pause.data = &tick;
    while (!served_trusting(b) && uv_now(&g_loop) < end) {
        tick = 0;
        uv_timer_start(&pause, on_pause, 100, 0); /* the watch looks every 500 ms */
        run_until(&tick, 1000);
    }
    uv_close((uv_handle_t *)&pause, NULL);
    uv_run(&g_loop, UV_RUN_NOWAIT); /* finishes the close while `pause` still exists */
    assert_true(served_trusting(b));
    assert_false(served_trusting(a));
    stop();

    X509_free(xa);
    X509_free(xb);
    EVP_PKEY_free(ka);
    EVP_PKEY_free(kb);
    unlink(cert);
    unlink(key);
    unlink(a);
    unlink(b);
    rmdir(dir);
}

int main(void)
{
    cm_log_open(NULL, "test", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_byte_decides_per_mode),
        cmocka_unit_test(test_settings_use_rocketmq_names_and_defaults),
        cmocka_unit_test(test_bad_certificate_settings_name_the_key),
        cmocka_unit_test(test_tls_pair_exchanges_frames_both_ways),
        cmocka_unit_test(test_enforcing_refuses_plain),
        cmocka_unit_test(test_disabled_refuses_tls),
        cmocka_unit_test(test_garbage_client_hello_closes_only_its_connection),
        cmocka_unit_test(test_server_certificate_reloads_when_cert_and_key_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
