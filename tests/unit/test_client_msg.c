/* Unit tests of the client's codecs (no server needed): UNIQ_KEY format, property strings,
 * averaging allocation, tag subscriptions, batch bodies, offsetMsgId, and decoding of the
 * PULL_MESSAGE answers a real Apache RocketMQ 4.9.5 broker sent (recorded in LOULAN_VECTORS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/lc.h"

static int cmp_id(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

static void test_uniq_key_is_32_upper_hex_and_unique(void **state)
{
    enum { N = 2000 };
    static char ids[N][33];
    for (int i = 0; i < N; i++) {
        lc_uniq_id(ids[i]);
        assert_int_equal(strlen(ids[i]), 32);
        for (int k = 0; k < 32; k++)
            assert_non_null(strchr("0123456789ABCDEF", ids[i][k]));
        /* ip + pid + per-process part are the same for every id of this process */
        assert_memory_equal(ids[i], ids[0], 20);
    }
    qsort(ids, N, sizeof ids[0], cmp_id);
    for (int i = 1; i < N; i++)
        assert_true(strcmp(ids[i - 1], ids[i]) != 0);
}

static void test_offset_msg_id_matches_spec_example(void **state)
{
    uint8_t ip[4] = {192, 168, 1, 10};
    char id[64];
    lc_offset_msg_id(ip, 4, 10911, 1234, id);
    assert_string_equal(id, "C0A8010A00002A9F00000000000004D2");
}

typedef struct seen { char names[8][32]; char vals[8][32]; int n; } seen_t;

static void collect(const char *name, size_t nlen, const char *val, size_t vlen, void *arg)
{
    seen_t *s = arg;
    snprintf(s->names[s->n], 32, "%.*s", (int)nlen, name);
    snprintf(s->vals[s->n], 32, "%.*s", (int)vlen, val);
    s->n++;
}

static void test_property_string_round_trip(void **state)
{
    cm_buf_t b;
    cm_buf_init(&b);
    assert_int_equal(lc_props_append(&b, "TAGS", "TagA"), 0);
    assert_int_equal(lc_props_append(&b, "KEYS", "k1 k2"), 0);
    assert_int_equal(lc_props_append(&b, "EMPTY", ""), 0);   /* skipped */
    assert_int_equal(lc_props_append(&b, "UNIQ_KEY", "ABC"), 0);
    assert_int_equal(b.len, strlen("TAGS\001TagA\002KEYS\001k1 k2\002UNIQ_KEY\001ABC"));
    assert_memory_equal(b.data, "TAGS\001TagA\002KEYS\001k1 k2\002UNIQ_KEY\001ABC", b.len);
    lc_property_t *props;
    size_t n;
    assert_int_equal(lc_props_decode(b.data, b.len, &props, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(props[0].name, "TAGS");
    assert_string_equal(props[0].value, "TagA");
    assert_string_equal(props[1].value, "k1 k2");
    assert_string_equal(props[2].name, "UNIQ_KEY");
    free(props);
    cm_buf_free(&b);
}

static void test_property_parser_follows_java_quirks(void **state)
{
    /* trailing \2 (ali-ons), empty name, empty value, short piece, value containing \1 */
    const char s[] = "A\001x\002\001nv\002nv\001\002ab\002K\001v\001w\002TAGS\001TagB\002";
    seen_t seen = {0};
    lc_props_walk(s, sizeof s - 1, collect, &seen);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.names[0], "A");
    assert_string_equal(seen.vals[0], "x");
    assert_string_equal(seen.names[1], "K");
    assert_string_equal(seen.vals[1], "v\001w");
    assert_string_equal(seen.names[2], "TAGS");
    assert_string_equal(seen.vals[2], "TagB");
}

static void test_send_properties_carry_tags_keys_wait_and_uniq_key(void **state)
{
    lc_property_t user[] = {{"color", "red"}};
    lc_message_t m = {.topic = "T", .tags = "TagA", .keys = "order-1", .body = "x", .body_len = 1,
                      .props = user, .nprops = 1, .delay_level = 3};
    cm_buf_t b;
    cm_buf_init(&b);
    assert_int_equal(lc_message_props(&m, "0123456789ABCDEF0123456789ABCDEF", 1, &b), 0);
    lc_property_t *props;
    size_t n;
    assert_int_equal(lc_props_decode(b.data, b.len, &props, &n), 0);
    assert_int_equal(n, 6);
    const char *want[][2] = {{"color", "red"}, {"KEYS", "order-1"}, {"TAGS", "TagA"}, {"DELAY", "3"},
                             {"WAIT", "true"}, {"UNIQ_KEY", "0123456789ABCDEF0123456789ABCDEF"}};
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(props[i].name, want[i][0]);
        assert_string_equal(props[i].value, want[i][1]);
    }
    free(props);
    cm_buf_free(&b);
}

static void test_average_allocation_matches_java(void **state)
{
    size_t s, c;
    lc_allocate_average(8, 3, 0, &s, &c);
    assert_true(s == 0 && c == 3);
    lc_allocate_average(8, 3, 1, &s, &c);
    assert_true(s == 3 && c == 3);
    lc_allocate_average(8, 3, 2, &s, &c);
    assert_true(s == 6 && c == 2);
    lc_allocate_average(3, 5, 2, &s, &c);
    assert_true(s == 2 && c == 1);
    lc_allocate_average(3, 5, 4, &s, &c);
    assert_int_equal(c, 0);
    lc_allocate_average(4, 2, 1, &s, &c);
    assert_true(s == 2 && c == 2);
    /* every queue goes to exactly one consumer, blocks are contiguous and in order */
    for (size_t nmq = 0; nmq <= 40; nmq++) {
        for (size_t ncid = 1; ncid <= 12; ncid++) {
            size_t next = 0;
            for (size_t i = 0; i < ncid; i++) {
                lc_allocate_average(nmq, ncid, i, &s, &c);
                if (c == 0)
                    continue;
                assert_int_equal(s, next);
                next = s + c;
            }
            assert_int_equal(next, nmq);
        }
    }
}

static void test_tag_subscription_parses_and_hashes(void **state)
{
    lc_sub_t s;
    assert_int_equal(lc_sub_parse(&s, "TopicTest", "TagA || TagB ||  "), 0);
    assert_false(s.all);
    assert_int_equal(s.ntags, 2);
    assert_string_equal(s.tags[0], "TagA");
    assert_string_equal(s.tags[1], "TagB");
    assert_int_equal(s.codes[0], 2598919);
    assert_int_equal(s.codes[1], 2598920);
    assert_true(lc_sub_match(&s, "TagB"));
    assert_false(lc_sub_match(&s, "TagC"));
    assert_false(lc_sub_match(&s, NULL));
    lc_sub_free(&s);
    assert_int_equal(lc_sub_parse(&s, "TopicTest", "*"), 0);
    assert_true(s.all);
    assert_true(lc_sub_match(&s, NULL));
    lc_sub_free(&s);
    assert_int_equal(lc_sub_parse(&s, "TopicTest", NULL), 0);
    assert_true(s.all);
    lc_sub_free(&s);
}

static void test_batch_body_layout(void **state)
{
    lc_message_t m[2] = {{.topic = "T", .tags = "A", .body = "hello", .body_len = 5, .flag = 7},
                         {.topic = "T", .body = "xy", .body_len = 2}};
    char uniq[2][33] = {"00000000000000000000000000000001", "00000000000000000000000000000002"};
    cm_buf_t b;
    cm_buf_init(&b);
    assert_int_equal(lc_batch_encode(m, 2, uniq, &b), 0);
    const uint8_t *p = (const uint8_t *)b.data;
    uint32_t t0 = cm_be32(p);
    const char props0[] = "TAGS\001A\002UNIQ_KEY\00100000000000000000000000000000001";
    assert_int_equal(t0, 20 + 5 + 2 + sizeof props0 - 1);
    assert_int_equal(cm_be32(p + 4), 0);
    assert_int_equal(cm_be32(p + 12), 7);
    assert_int_equal(cm_be32(p + 16), 5);
    assert_memory_equal(p + 20, "hello", 5);
    assert_int_equal(cm_be16(p + 25), sizeof props0 - 1);
    assert_memory_equal(p + 27, props0, sizeof props0 - 1);
    const uint8_t *q = p + t0;
    assert_int_equal(cm_be32(q), 20 + 2 + 2 + strlen("UNIQ_KEY\00100000000000000000000000000000002"));
    assert_int_equal(t0 + cm_be32(q), b.len);
    cm_buf_free(&b);
}

static int load_frame(const char *rel, uint8_t **buf, size_t *len, rm_cmd_t *cmd)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", LOULAN_VECTORS, rel);
    char *data;
    if (cm_read_file(path, &data, len) != 0)
        return -1;
    *buf = (uint8_t *)data;
    return rm_frame_decode(*buf, *len, cmd);
}

static void test_decode_java_pull_answer(void **state)
{
    uint8_t *frame;
    size_t len;
    rm_cmd_t resp;
    if (load_frame("java-client-4.9.5/real-consumer-008-broker-resp-PULL_MESSAGE.bin", &frame, &len, &resp) != 0)
        fail_msg("recorded frame missing or undecodable (tests/vectors travels with the repository)");
    assert_int_equal(resp.code, 0);
    lc_property_t extra[] = {{"MIN_OFFSET", "0"}, {"MAX_OFFSET", "250"}};
    lc_message_ext_t **msgs;
    size_t n;
    assert_int_equal(lc_decode_records(resp.body, resp.body_len, "broker-a", extra, 2, &msgs, &n), 0);
    assert_int_equal(n, 32);   /* nextBeginOffset 32 from offset 0, nothing filtered */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        lc_message_ext_t *m = msgs[i];
        total += (size_t)m->store_size;
        assert_int_equal(m->queue_offset, (int64_t)i);
        assert_string_equal(m->topic, "TopicTest");
        assert_string_equal(m->broker_name, "broker-a");
        assert_string_equal(m->tags, "TagA");
        assert_int_equal(m->body_crc, cm_crc32(m->body, m->body_len));
        assert_true(m->body_len > 15 && memcmp(m->body, "Hello RocketMQ ", 15) == 0);
        assert_string_equal(m->store_host, "127.0.0.1:10911");
        assert_string_equal(lc_message_property(m, "MIN_OFFSET"), "0");
        assert_string_equal(lc_message_property(m, "MAX_OFFSET"), "250");
        assert_string_equal(lc_message_property(m, "CLUSTER"), "DefaultCluster");
        /* msgId is the producer's UNIQ_KEY; offsetMsgId is store host + commit-log offset */
        assert_string_equal(m->msg_id, lc_message_property(m, "UNIQ_KEY"));
        char want[64];
        uint8_t ip[4] = {127, 0, 0, 1};
        lc_offset_msg_id(ip, 4, 10911, m->commit_log_offset, want);
        assert_string_equal(m->offset_msg_id, want);
        assert_true(m->born_timestamp > 1600000000000LL && m->store_timestamp >= m->born_timestamp);
        assert_int_equal(m->reconsume_times, 0);
    }
    assert_int_equal(total, resp.body_len);
    assert_int_equal(msgs[0]->queue_id, 3);
    assert_int_equal(msgs[0]->commit_log_offset, 642);
    assert_memory_equal(msgs[0]->body, "Hello RocketMQ 3", 16);

    char *s = lc_message_ext_to_string(msgs[0]);
    assert_non_null(s);
    assert_true(strncmp(s, "MessageExt [brokerName=broker-a, queueId=3, storeSize=214, queueOffset=0, sysFlag=0, "
                           "bornTimestamp=", 93) == 0);
    assert_non_null(strstr(s, ", storeHost=/127.0.0.1:10911, msgId="));
    assert_non_null(strstr(s, "commitLogOffset=642, bodyCRC="));
    assert_non_null(strstr(s, "toString()=Message{topic='TopicTest', flag=0, properties={MIN_OFFSET=0, MAX_OFFSET=250, "));
    assert_non_null(strstr(s, "body=[72, 101, 108, 108, 111, 32, 82, 111, 99, 107, 101, 116, 77, 81, 32, 51], "
                              "transactionId='null'}]"));
    free(s);
    lc_free_msgs(msgs, n);
    rm_cmd_free(&resp);
    free(frame);
}

static void test_decode_every_recorded_pull_answer(void **state)
{
    const char *files[] = {
        "ali-ons-3.12.0/real-consumer-006-broker-resp-PULL_MESSAGE.bin",
        "ali-ons-3.12.0/real-consumer-008-broker-resp-PULL_MESSAGE.bin",
        "cpp-client-2.2.x-master/real-consumer-007-broker-resp-PULL_MESSAGE.bin",
        "cpp-client-2.2.x-master/real-consumer-008-broker-resp-PULL_MESSAGE.bin",
        "java-client-4.9.5/real-consumer-008-broker-resp-PULL_MESSAGE.bin",
        "java-client-4.9.5/real-consumer-009-broker-resp-PULL_MESSAGE.bin",
    };
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        uint8_t *frame;
        size_t len;
        rm_cmd_t resp;
        if (load_frame(files[f], &frame, &len, &resp) != 0)
            fail_msg("%s: missing or undecodable", files[f]);
        int64_t next;
        assert_int_equal(rm_ext_i64(&resp, "nextBeginOffset", &next), 0);
        lc_message_ext_t **msgs;
        size_t n;
        assert_int_equal(lc_decode_records(resp.body, resp.body_len, NULL, NULL, 0, &msgs, &n), 0);
        assert_int_equal(n, 32);
        assert_int_equal(msgs[n - 1]->queue_offset + 1, next);
        for (size_t i = 1; i < n; i++)
            assert_int_equal(msgs[i]->queue_offset, msgs[i - 1]->queue_offset + 1);
        lc_free_msgs(msgs, n);

        /* A cut body yields the whole records before the cut, and never reads past it. */
        for (size_t cut = 0; cut < resp.body_len; cut += 97) {
            uint8_t *part = malloc(cut ? cut : 1);
            memcpy(part, resp.body, cut);
            assert_int_equal(lc_decode_records(part, cut, NULL, NULL, 0, &msgs, &n), 0);
            assert_true(n <= 32);
            lc_free_msgs(msgs, n);
            free(part);
        }
        /* Lying inner lengths are refused, not followed. */
        uint8_t *bad = malloc(resp.body_len);
        memcpy(bad, resp.body, resp.body_len);
        cm_wbe32(bad + 84, 0x7fffffff);   /* body length of the first record */
        assert_int_not_equal(lc_decode_records(bad, resp.body_len, NULL, NULL, 0, &msgs, &n), 0);
        free(bad);
        rm_cmd_free(&resp);
        free(frame);
    }
}

static void test_pull_decode_rechecks_tags_and_adds_queue_bounds(void **state)
{
    uint8_t *frame;
    size_t len;
    rm_cmd_t resp;
    if (load_frame("java-client-4.9.5/real-consumer-008-broker-resp-PULL_MESSAGE.bin", &frame, &len, &resp) != 0)
        fail_msg("recorded frame missing or undecodable (tests/vectors travels with the repository)");
    lc_mq_t mq = {.topic = "TopicTest", .broker_name = "broker-a", .queue_id = 3};
    lc_sub_t sub;
    lc_pull_result_t res;
    assert_int_equal(lc_sub_parse(&sub, "TopicTest", "TagA || TagX"), 0);
    assert_int_equal(lc_pull_decode(&resp, &mq, &sub, &res), 0);
    assert_int_equal(res.status, LC_PULL_FOUND);
    assert_int_equal(res.nmsgs, 32);
    assert_int_equal(res.next_begin_offset, 32);
    assert_int_equal(res.max_offset, 250);
    assert_string_equal(lc_message_property(res.msgs[5], "MAX_OFFSET"), "250");
    lc_pull_result_free(&res);
    lc_sub_free(&sub);
    /* the broker filters by hash only: a colliding tag must still be dropped by the client */
    assert_int_equal(lc_sub_parse(&sub, "TopicTest", "TagB"), 0);
    assert_int_equal(lc_pull_decode(&resp, &mq, &sub, &res), 0);
    assert_int_equal(res.status, LC_PULL_NO_MATCHED_MSG);
    assert_int_equal(res.nmsgs, 0);
    assert_int_equal(res.next_begin_offset, 32);
    lc_pull_result_free(&res);
    lc_sub_free(&sub);
    /* other codes */
    resp.code = RC_PULL_NOT_FOUND;
    assert_int_equal(lc_pull_decode(&resp, &mq, NULL, &res), 0);
    assert_int_equal(res.status, LC_PULL_NO_NEW_MSG);
    resp.code = RC_PULL_OFFSET_MOVED;
    assert_int_equal(lc_pull_decode(&resp, &mq, NULL, &res), 0);
    assert_int_equal(res.status, LC_PULL_OFFSET_ILLEGAL);
    resp.code = RC_SYSTEM_ERROR;
    assert_int_equal(lc_pull_decode(&resp, &mq, NULL, &res), LC_EBROKER);
    rm_cmd_free(&resp);
    free(frame);
}

static void test_subscription_json_has_tags_and_java_hash_codes(void **state)
{
    lc_sub_t sub;
    assert_int_equal(lc_sub_parse(&sub, "TopicTest", "TagA || TagB"), 0);
    sub.version = 1690000000000LL;
    lj_val_t *o;
    assert_int_equal(lc_subscription_json(&sub, &o), 0);
    cm_buf_t b;
    cm_buf_init(&b);
    assert_int_equal(lj_write(o, LJ_W_SORT, &b), 0);
    assert_string_equal(b.data, "{\"classFilterMode\":false,\"codeSet\":[2598919,2598920],\"expressionType\":\"TAG\","
                                "\"subString\":\"TagA || TagB\",\"subVersion\":1690000000000,"
                                "\"tagsSet\":[\"TagA\",\"TagB\"],\"topic\":\"TopicTest\"}");
    cm_buf_free(&b);
    lj_free(o);
    lc_sub_free(&sub);
}

static void test_calls_to_a_dead_name_server_fail_fast(void **state)
{
    lc_producer_t *p;
    assert_int_equal(lc_producer_create("g", "127.0.0.1:1;127.0.0.1:2", &p), 0);
    assert_int_equal(lc_producer_start(p), 0);
    lc_message_t m = {.topic = "T", .body = "x", .body_len = 1};
    lc_send_result_t r;
    uint64_t t0 = cm_mono_ms();
    assert_int_equal(lc_producer_send_sync(p, &m, &r), LC_ENETWORK);
    assert_true(cm_mono_ms() - t0 < 2000);
    assert_int_equal(lc_producer_send_async(p, &m, NULL, NULL), LC_EINVAL);
    m.topic = "";
    assert_int_equal(lc_producer_send_sync(p, &m, &r), LC_EINVAL);
    lc_producer_destroy(p);
    unsetenv("NAMESRV_ADDR");
    assert_int_equal(lc_producer_create("g", NULL, &p), 0);
    assert_int_equal(lc_producer_start(p), LC_EINVAL);   /* no name server anywhere */
    lc_producer_destroy(p);
}

static void test_send_result_prints_like_java(void **state)
{
    lc_send_result_t r = {.status = LC_SEND_OK, .queue_offset = 253};
    strcpy(r.msg_id, "7F0000010BB218B4AAC2720B0D860000");
    strcpy(r.offset_msg_id, "7F00000100002A9F0000000000000000");
    strcpy(r.mq.topic, "TopicTest");
    strcpy(r.mq.broker_name, "broker-a");
    r.mq.queue_id = 2;
    char buf[512];
    lc_send_result_format(&r, buf, sizeof buf);
    assert_string_equal(buf, "SendResult [sendStatus=SEND_OK, msgId=7F0000010BB218B4AAC2720B0D860000, "
                             "offsetMsgId=7F00000100002A9F0000000000000000, messageQueue=MessageQueue "
                             "[topic=TopicTest, brokerName=broker-a, queueId=2], queueOffset=253]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniq_key_is_32_upper_hex_and_unique),
        cmocka_unit_test(test_offset_msg_id_matches_spec_example),
        cmocka_unit_test(test_property_string_round_trip),
        cmocka_unit_test(test_property_parser_follows_java_quirks),
        cmocka_unit_test(test_send_properties_carry_tags_keys_wait_and_uniq_key),
        cmocka_unit_test(test_average_allocation_matches_java),
        cmocka_unit_test(test_tag_subscription_parses_and_hashes),
        cmocka_unit_test(test_batch_body_layout),
        cmocka_unit_test(test_decode_java_pull_answer),
        cmocka_unit_test(test_decode_every_recorded_pull_answer),
        cmocka_unit_test(test_pull_decode_rechecks_tags_and_adds_queue_bounds),
        cmocka_unit_test(test_subscription_json_has_tags_and_java_hash_codes),
        cmocka_unit_test(test_calls_to_a_dead_name_server_fail_fast),
        cmocka_unit_test(test_send_result_prints_like_java),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
