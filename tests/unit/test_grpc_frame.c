/* src/grpc without sockets: grpc-timeout parsing, the 5-byte message framing, and a server-side
 * connection (gp_fake) fed the recorded h2c stream of the Node 5.x client: every call is
 * dispatched to its method with its whole request message, which decodes with
 * proto/rocketmq_v2.proto; garbage instead of the preface, and unknown methods, are answered or
 * closed without a dispatch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/grpc.h"
#include "rocketmq_v2.pb-c.h"

static void test_timeout_units_parse_to_milliseconds(void **state)
{
    uint64_t ms = 0;
    assert_int_equal(gp_timeout_parse("2976m", 5, &ms), 0);
    assert_int_equal(ms, 2976);
    assert_int_equal(gp_timeout_parse("3S", 2, &ms), 0);
    assert_int_equal(ms, 3000);
    assert_int_equal(gp_timeout_parse("2M", 2, &ms), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(gp_timeout_parse("1H", 2, &ms), 0);
    assert_int_equal(ms, 3600000);
    assert_int_equal(gp_timeout_parse("1500u", 5, &ms), 0);
    assert_int_equal(ms, 2);                    /* rounded up */
    assert_int_equal(gp_timeout_parse("1n", 2, &ms), 0);
    assert_int_equal(ms, 1);
    assert_int_equal(gp_timeout_parse("99999999S", 9, &ms), 0); /* 8 digits: the most allowed */
    assert_int_equal(ms, 99999999000ULL);
}

static void test_timeout_rejects_malformed_values(void **state)
{
    uint64_t ms = 7;
    const char *bad[] = {"", "m", "10", "10x", "-1S", "1 S", "123456789S", "1.5S", "S1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(gp_timeout_parse(bad[i], strlen(bad[i]), &ms), GP_EINVAL);
    assert_int_equal(gp_timeout_parse(NULL, 0, &ms), GP_EINVAL);
    assert_int_equal(ms, 7);
}

static void test_frame_next_needs_whole_messages(void **state)
{
    uint8_t buf[16] = {0, 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0, 0};
    const uint8_t *msg;
    size_t len, used;
    for (size_t n = 0; n < 8; n++)
        assert_int_equal(gp_frame_next(buf, n, 100, &msg, &len, &used), 0);
    assert_int_equal(gp_frame_next(buf, 13, 100, &msg, &len, &used), 1);
    assert_int_equal(len, 3);
    assert_int_equal(used, 8);
    assert_memory_equal(msg, "abc", 3);
    /* an empty message (NotifyClientTermination of the Node producer) */
    assert_int_equal(gp_frame_next(buf + 8, 5, 100, &msg, &len, &used), 1);
    assert_int_equal(len, 0);
    assert_int_equal(used, 5);
}

static void test_frame_next_refuses_oversized_and_compressed(void **state)
{
    uint8_t big[5] = {0, 0x7f, 0xff, 0xff, 0xff}, comp[6] = {1, 0, 0, 0, 1, 'x'};
    const uint8_t *msg;
    size_t len, used;
    assert_int_equal(gp_frame_next(big, 5, 1 << 20, &msg, &len, &used), GP_ETOOBIG);
    assert_int_equal(gp_frame_next(comp, 6, 100, &msg, &len, &used), GP_ECOMPRESSED);
    uint8_t p[5];
    gp_frame_prefix(p, 0x01020304);
    assert_int_equal(p[0], 0);
    assert_int_equal(p[1], 1);
    assert_int_equal(p[4], 4);
}

/* ---- a fake connection fed the recorded stream ---- */

typedef struct seen {
    char path[128];
    size_t len;
    int decoded;
} seen_t;
static seen_t g_seen[16];
static int g_nseen;

static void on_msg(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx)
{
    seen_t *s = &g_seen[g_nseen < 16 ? g_nseen++ : 15];
    snprintf(s->path, sizeof s->path, "%s", gp_call_path(call));
    s->len = len;
    assert_non_null(gp_call_header(call, "x-mq-client-id"));
    assert_string_equal(gp_call_header(call, "x-mq-client-id"), "vm@23615@0@mwvc9lio");
    ProtobufCMessage *m = NULL;
    if (strstr(s->path, "/QueryRoute"))
        m = (ProtobufCMessage *)apache__rocketmq__v2__query_route_request__unpack(NULL, len, msg);
    else if (strstr(s->path, "/Telemetry"))
        m = (ProtobufCMessage *)apache__rocketmq__v2__telemetry_command__unpack(NULL, len, msg);
    else if (strstr(s->path, "/SendMessage"))
        m = (ProtobufCMessage *)apache__rocketmq__v2__send_message_request__unpack(NULL, len, msg);
    else if (strstr(s->path, "/NotifyClientTermination"))
        m = (ProtobufCMessage *)apache__rocketmq__v2__notify_client_termination_request__unpack(NULL, len, msg);
    s->decoded = m != NULL;
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    if (!strstr(s->path, "/Telemetry")) {
        gp_call_send(call, (const uint8_t *)"\x0a\x00", 2);
        gp_call_finish(call, GP_STATUS_OK, NULL);
    }
}

#define P "/apache.rocketmq.v2.MessagingService/"
static const gp_method_t k_methods[] = {
    {P "QueryRoute", 0, on_msg, NULL, NULL},
    {P "Telemetry", 1, on_msg, NULL, NULL},
    {P "SendMessage", 0, on_msg, NULL, NULL},
    {P "NotifyClientTermination", 0, on_msg, NULL, NULL},
};

static uint8_t *read_vector(const char *name, size_t *n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/nodejs-5x-client-1.0.8/%s", LOULAN_VECTORS, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t buf[65536];
    *n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return buf;
}

static gp_config_t cfg_of(const gp_method_t *m, size_t n)
{
    gp_config_t cfg = {0};
    cfg.name = "test";
    cfg.methods = m;
    cfg.nmethods = n;
    gp_limits_default(&cfg.limits);
    cfg.tls_mode = 1;   /* permissive */
    return cfg;
}

static void test_recorded_node_stream_dispatches_every_call(void **state)
{
    size_t n;
    const uint8_t *s = read_vector("stream-client-to-server.bin", &n);
    gp_config_t cfg = cfg_of(k_methods, 4);
    /* whole, and cut into small pieces: the same six calls either way */
    for (size_t step = n; step >= 7; step = step == n ? 7 : 0) {
        g_nseen = 0;
        gp_fake_t *f = gp_fake_new(&cfg);
        assert_non_null(f);
        for (size_t off = 0; off < n; off += step)
            assert_int_equal(gp_fake_feed(f, s + off, n - off < step ? n - off : step), 0);
        assert_int_equal(g_nseen, 6);
        const char *want[] = {"QueryRoute", "Telemetry", "SendMessage", "SendMessage", "SendMessage",
                              "NotifyClientTermination"};
        const size_t lens[] = {33, 67, 124, 124, 124, 0};
        for (int i = 0; i < 6; i++) {
            assert_non_null(strstr(g_seen[i].path, want[i]));
            assert_int_equal(g_seen[i].len, lens[i]);
            assert_true(g_seen[i].decoded);
        }
        assert_true(gp_fake_output(f) > 0);
        gp_fake_free(f);
    }
}

static void test_garbage_preface_closes_the_connection(void **state)
{
    gp_config_t cfg = cfg_of(k_methods, 4);
    gp_fake_t *f = gp_fake_new(&cfg);
    g_nseen = 0;
    const char *junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(gp_fake_feed(f, (const uint8_t *)junk, strlen(junk)), -1);
    assert_int_equal(g_nseen, 0);
    /* the next input is a fresh connection: the recording works on it */
    size_t n;
    const uint8_t *s = read_vector("stream-client-to-server.bin", &n);
    assert_int_equal(gp_fake_feed(f, s, n), 0);
    assert_int_equal(g_nseen, 6);
    gp_fake_free(f);
}

static void test_unknown_method_is_not_dispatched(void **state)
{
    /* only QueryRoute known: the other five calls get UNIMPLEMENTED, the connection lives on */
    gp_config_t cfg = cfg_of(k_methods, 1);
    gp_fake_t *f = gp_fake_new(&cfg);
    g_nseen = 0;
    size_t n;
    const uint8_t *s = read_vector("stream-client-to-server.bin", &n);
    assert_int_equal(gp_fake_feed(f, s, n), 0);
    assert_int_equal(g_nseen, 1);
    assert_true(gp_fake_output(f) > 0);
    gp_fake_free(f);
}

static void test_recorded_messages_decode(void **state)
{
    size_t n;
    const uint8_t *m = read_vector("msg-003-SendMessage.bin", &n);
    Apache__Rocketmq__V2__SendMessageRequest *r = apache__rocketmq__v2__send_message_request__unpack(NULL, n, m);
    assert_non_null(r);
    assert_int_equal(r->n_messages, 1);
    assert_string_equal(r->messages[0]->topic->name, "TopicTest");
    assert_string_equal(r->messages[0]->system_properties->tag, "TagA");
    assert_string_equal(r->messages[0]->system_properties->message_id, "0102FC000000015C3F0B17BAB300000000");
    assert_int_equal(r->messages[0]->system_properties->n_keys, 1);
    assert_int_equal(r->messages[0]->system_properties->born_timestamp->seconds, 1795563699);
    apache__rocketmq__v2__send_message_request__free_unpacked(r, NULL);
    m = read_vector("msg-002-Telemetry.bin", &n);
    Apache__Rocketmq__V2__TelemetryCommand *t = apache__rocketmq__v2__telemetry_command__unpack(NULL, n, m);
    assert_non_null(t);
    assert_int_equal(t->command_case, APACHE__ROCKETMQ__V2__TELEMETRY_COMMAND__COMMAND_SETTINGS);
    assert_int_equal(t->settings->client_type, APACHE__ROCKETMQ__V2__CLIENT_TYPE__PRODUCER);
    assert_int_equal(t->settings->pub_sub_case, APACHE__ROCKETMQ__V2__SETTINGS__PUB_SUB_PUBLISHING);
    assert_string_equal(t->settings->publishing->topics[0]->name, "TopicTest");
    apache__rocketmq__v2__telemetry_command__free_unpacked(t, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeout_units_parse_to_milliseconds),
        cmocka_unit_test(test_timeout_rejects_malformed_values),
        cmocka_unit_test(test_frame_next_needs_whole_messages),
        cmocka_unit_test(test_frame_next_refuses_oversized_and_compressed),
        cmocka_unit_test(test_recorded_node_stream_dispatches_every_call),
        cmocka_unit_test(test_garbage_preface_closes_the_connection),
        cmocka_unit_test(test_unknown_method_is_not_dispatched),
        cmocka_unit_test(test_recorded_messages_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
