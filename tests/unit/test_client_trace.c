/* Unit tests of the trace record encoders (RocketMQ's TraceDataEncoder, acl spec §5.2): the
 * example records of the spec, byte for byte (they are copied here from
 * /work/shared/spec/acl-tls-trace.md §5.2, "Example records", with their stated lengths), a
 * null field, and an EndTransaction record built from the spec's field table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "client/lc.h"

#define MSG_ID "7F000001762D18B4AAC27A3F4C8D0000"
#define REQ_ID "0A0000010F2C18B4AAC27A3F4E100000"

static void expect_record(int (*enc)(cm_buf_t *, const lc_trace_rec_t *), const lc_trace_rec_t *r,
                          const char *want, size_t want_len)
{
    cm_buf_t b;
    cm_buf_init(&b);
    assert_int_equal(enc(&b, r), 0);
    assert_int_equal(strlen(want), want_len);
    assert_int_equal(b.len, want_len);
    assert_memory_equal(b.data, want, want_len);
    cm_buf_free(&b);
}

static void test_pub_record_matches_spec_example(void **state)
{
    lc_trace_rec_t r = {.ts = 1700000000123LL, .region = "DefaultRegion", .group = "ProducerGroupName",
                        .topic = "TopicTest", .msg_id = MSG_ID, .tags = "TagA", .keys = "OrderID188",
                        .store_host = "192.168.0.10:10911", .body_len = 11, .cost_ms = 5, .msg_type = 0,
                        .offset_msg_id = "C0A8000A00002A9F0000000000000B4C", .success = 1};
    expect_record(lc_trace_encode_pub, &r,
                  "Pub\x01" "1700000000123\x01" "DefaultRegion\x01" "ProducerGroupName\x01" "TopicTest\x01"
                  MSG_ID "\x01" "TagA\x01" "OrderID188\x01" "192.168.0.10:10911\x01"
                  "11\x01" "5\x01" "0\x01" "C0A8000A00002A9F0000000000000B4C\x01" "true\x02",
                  173);
}

static void test_sub_before_record_matches_spec_example(void **state)
{
    /* no MSG_REGION on the message: Java writes its null */
    lc_trace_rec_t r = {.ts = 1700000000456LL, .region = NULL, .group = "CID_JODIE_1", .request_id = REQ_ID,
                        .msg_id = MSG_ID, .reconsume_times = 0, .keys = "OrderID188"};
    expect_record(lc_trace_encode_sub_before, &r,
                  "SubBefore\x01" "1700000000456\x01" "null\x01" "CID_JODIE_1\x01" REQ_ID "\x01"
                  MSG_ID "\x01" "0\x01" "OrderID188\x02",
                  120);
}

static void test_sub_after_record_matches_spec_example(void **state)
{
    lc_trace_rec_t r = {.ts = 1700000000468LL, .group = "CID_JODIE_1", .request_id = REQ_ID, .msg_id = MSG_ID,
                        .cost_ms = 12, .success = 1, .keys = "OrderID188", .context_code = 0};
    expect_record(lc_trace_encode_sub_after, &r,
                  "SubAfter\x01" REQ_ID "\x01" MSG_ID "\x01"
                  "12\x01" "true\x01" "OrderID188\x01" "0\x01" "1700000000468\x01" "CID_JODIE_1\x02",
                  122);
}

static void test_missing_tags_and_keys_are_written_null(void **state)
{
    lc_trace_rec_t r = {.ts = 1, .region = "DefaultRegion", .group = "g", .topic = "t", .msg_id = "M",
                        .store_host = "127.0.0.1:10911", .body_len = 3, .cost_ms = 0, .msg_type = 3,
                        .offset_msg_id = "O", .success = 0};
    const char *want = "Pub\x01" "1\x01" "DefaultRegion\x01" "g\x01" "t\x01" "M\x01" "null\x01" "null\x01"
                       "127.0.0.1:10911\x01" "3\x01" "0\x01" "3\x01" "O\x01" "false\x02";
    expect_record(lc_trace_encode_pub, &r, want, strlen(want));
    /* a failed consume: FAILED's ordinal 4 as contextCode */
    lc_trace_rec_t a = {.ts = 7, .group = "cg", .request_id = "R", .msg_id = "M", .cost_ms = 0, .success = 0,
                        .keys = NULL, .context_code = 4};
    const char *want_a = "SubAfter\x01" "R\x01" "M\x01" "0\x01" "false\x01" "null\x01" "4\x01" "7\x01" "cg\x02";
    expect_record(lc_trace_encode_sub_after, &a, want_a, strlen(want_a));
}

static void test_end_transaction_record_has_the_thirteen_fields(void **state)
{
    lc_trace_rec_t r = {.ts = 1700000000999LL, .region = "DefaultRegion", .group = "tx_group", .topic = "TopicTx",
                        .msg_id = MSG_ID, .tags = "TagT", .keys = "K1 K2", .store_host = "10.0.0.1:10911",
                        .msg_type = 2, .transaction_id = MSG_ID, .tx_state = "ROLLBACK_MESSAGE", .from_check = 1};
    const char *want = "EndTransaction\x01" "1700000000999\x01" "DefaultRegion\x01" "tx_group\x01" "TopicTx\x01"
                       MSG_ID "\x01" "TagT\x01" "K1 K2\x01" "10.0.0.1:10911\x01" "2\x01" MSG_ID "\x01"
                       "ROLLBACK_MESSAGE\x01" "true\x02";
    expect_record(lc_trace_encode_end_tx, &r, want, strlen(want));
}

static void test_records_concatenate_into_one_body(void **state)
{
    lc_trace_rec_t b4 = {.ts = 1, .group = "g", .request_id = "R", .msg_id = "M1", .keys = "k"};
    cm_buf_t b;
    cm_buf_init(&b);
    assert_int_equal(lc_trace_encode_sub_before(&b, &b4), 0);
    b4.msg_id = "M2";
    assert_int_equal(lc_trace_encode_sub_before(&b, &b4), 0);
    const char *want = "SubBefore\x01" "1\x01" "null\x01" "g\x01" "R\x01" "M1\x01" "0\x01" "k\x02"
                       "SubBefore\x01" "1\x01" "null\x01" "g\x01" "R\x01" "M2\x01" "0\x01" "k\x02";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    cm_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pub_record_matches_spec_example),
        cmocka_unit_test(test_sub_before_record_matches_spec_example),
        cmocka_unit_test(test_sub_after_record_matches_spec_example),
        cmocka_unit_test(test_missing_tags_and_keys_are_written_null),
        cmocka_unit_test(test_end_transaction_record_has_the_thirteen_fields),
        cmocka_unit_test(test_records_concatenate_into_one_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
