/* ACL request signatures (src/remoting/sign.c) against the worked examples of the ACL spec
 * (§2.4 A, B: computed independently with Python's hmac and openssl) and against requests
 * recorded from real clients (tests/vectors): mqadmin 4.9.5 signing with the stock tools.yml
 * secret, including the _UNIQUE_KEY_QUERY case a 4.9.5 broker wrongly refuses, and the C++
 * client 2.2 with its own secrets (numeric JSON values, properties with \x01 \x02). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "remoting/remoting.h"

static void test_spec_example_a(void **state)
{
    (void)state;
    rm_cmd_t c;
    rm_cmd_init(&c, 310);
    const char *kv[][2] = {{"AccessKey", "demoAK0001"}, {"a", "please_rename_unique_group_name"}, {"b", "TopicTest"},
                           {"c", "TBW102"}, {"d", "4"}, {"e", "0"}, {"f", "0"}, {"g", "1700000000000"}, {"h", "0"},
                           {"i", "UNIQ_KEY\x01" "7F00000100002A9F0000000000000000\x02WAIT\x01true\x02TAGS\x01TagA"},
                           {"j", "0"}, {"k", "false"}, {"m", "false"}, {"n", "broker-a"}};
    /* added out of order: the signature sorts them */
    for (int i = (int)(sizeof kv / sizeof kv[0]) - 1; i >= 0; i--)
        rm_ext_add(&c, kv[i][0], kv[i][1]);
    c.body = (const uint8_t *)"Hello RocketMQ";
    c.body_len = 14;
    char sig[RM_SIGN_LEN + 1];
    assert_int_equal(rm_sign(&c, "demoSK0001xyz", 0, sig), 0);
    assert_string_equal(sig, "+uK8G18C3fDjh4OIn/ctJ01KWe0=");
    rm_ext_set(&c, "Signature", sig);
    assert_true(rm_sign_verify(&c, "demoSK0001xyz"));
    assert_false(rm_sign_verify(&c, "demoSK0001xyZ"));
    rm_sign_key_t *good = rm_sign_key_new("demoSK0001xyz"), *bad = rm_sign_key_new("demoSK0001xyZ");
    assert_true(rm_sign_verify_key(&c, good));
    assert_true(rm_sign_verify_key(&c, good)); /* the key is not used up */
    assert_false(rm_sign_verify_key(&c, bad));
    c.body_len = 13; /* the body is covered */
    assert_false(rm_sign_verify(&c, "demoSK0001xyz"));
    assert_false(rm_sign_verify_key(&c, good));
    rm_sign_key_free(good);
    rm_sign_key_free(bad);
    rm_cmd_free(&c);
}

static void test_spec_example_b(void **state)
{
    (void)state;
    rm_cmd_t c;
    rm_cmd_init(&c, 11);
    rm_ext_add(&c, "consumerGroup", "GID_demo");
    rm_ext_add(&c, "AccessKey", "demoAK0001");
    rm_ext_add(&c, "OnsChannel", "ALIYUN");
    rm_ext_add(&c, "SecurityToken", "tok-42");
    char sig[RM_SIGN_LEN + 1];
    assert_int_equal(rm_sign(&c, "demoSK0001xyz", 0, sig), 0);
    assert_string_equal(sig, "EwUxaP4lZIXrWcwdcI3uP4EdTRI=");
    rm_cmd_free(&c);
}

static void test_client_signs(void **state)
{
    (void)state;
    rm_cmd_t c;
    rm_cmd_init(&c, 11);
    rm_ext_add(&c, "consumerGroup", "GID_demo");
    assert_int_equal(rm_sign_request(&c, "demoAK0001", "demoSK0001xyz"), 0);
    assert_string_equal(rm_ext_get(&c, "AccessKey"), "demoAK0001");
    assert_true(rm_sign_verify(&c, "demoSK0001xyz"));
    /* a prepared key signs the same request identically */
    char want[RM_SIGN_LEN + 1];
    snprintf(want, sizeof want, "%s", rm_ext_get(&c, "Signature"));
    rm_sign_key_t *k = rm_sign_key_new("demoSK0001xyz");
    assert_int_equal(rm_sign_request_key(&c, "demoAK0001", k), 0);
    assert_string_equal(rm_ext_get(&c, "Signature"), want);
    rm_sign_key_free(k);
    rm_cmd_free(&c);
}

/* A recorded request frame; 1 if its signature verifies with secret. */
static int recorded(const char *file, const char *secret, rm_cmd_t *c, uint8_t **buf)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", LOULAN_VECTORS, file);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static uint8_t data[1 << 20];
    size_t n = fread(data, 1, sizeof data, f);
    fclose(f);
    *buf = data;
    assert_int_equal(rm_frame_decode(data, n, c), 0);
    /* a prepared key (what the ACL table keeps per account) must answer the same */
    int by_secret = rm_sign_verify(c, secret);
    rm_sign_key_t *k = rm_sign_key_new(secret);
    assert_non_null(k);
    assert_int_equal(rm_sign_verify_key(c, k), by_secret);
    rm_sign_key_free(k);
    return by_secret;
}

static void test_recorded_mqadmin(void **state)
{
    (void)state;
    static const char *const ok[] = {"java-mqadmin-4.9.5/real-003-broker-req-GET_BROKER_RUNTIME_INFO.bin",
                                     "java-mqadmin-4.9.5/real-007-broker-req-UPDATE_AND_CREATE_TOPIC.bin"};
    rm_cmd_t c;
    uint8_t *buf;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        assert_true(recorded(ok[i], "12345678", &c, &buf));
        assert_false(rm_sign_verify(&c, "12345679"));
        rm_cmd_free(&c);
    }
}

/* mqadmin 4.9.5 signed QUERY_MESSAGE with _UNIQUE_KEY_QUERY; a 4.9.5 broker signs without it
 * (and refuses): both forms are accepted here, and the one without is the broker's value. */
static void test_recorded_unique_key_query(void **state)
{
    (void)state;
    rm_cmd_t c;
    uint8_t *buf;
    assert_true(recorded("java-mqadmin-4.9.5/real-015-broker-req-QUERY_MESSAGE.bin", "12345678", &c, &buf));
    char sig[RM_SIGN_LEN + 1];
    assert_int_equal(rm_sign(&c, "12345678", 0, sig), 0);
    assert_string_equal(sig, "u3qJn6ABzoPEmmeo741yHAN2gOc=");
    assert_int_equal(rm_sign(&c, "12345678", 1, sig), 0);
    assert_string_equal(sig, "wOrnRadKq2lh0WXfxIrfGmaBtT0=");
    rm_cmd_free(&c);
}

/* The C++ client 2.2 (numeric JSON values, \x01 \x02 in properties) with its recorded secrets. */
static void test_recorded_cpp(void **state)
{
    (void)state;
    static const char *const prod[] = {"real-producer-001-ns-req-GET_ROUTEINFO_BY_TOPIC.bin",
                                       "real-producer-002-broker-req-HEART_BEAT.bin",
                                       "real-producer-003-broker-req-SEND_MESSAGE_V2.bin",
                                       "real-producer-004-broker-req-UNREGISTER_CLIENT.bin"};
    static const char *const cons[] = {"real-consumer-003-broker-req-HEART_BEAT.bin",
                                       "real-consumer-007-broker-req-PULL_MESSAGE.bin",
                                       "real-consumer-009-broker-req-SEND_MESSAGE_V2.bin",
                                       "real-consumer-011-broker-req-UPDATE_CONSUMER_OFFSET.bin"};
    char file[256];
    rm_cmd_t c;
    uint8_t *buf;
    for (size_t i = 0; i < 4; i++) {
        snprintf(file, sizeof file, "cpp-client-2.2.x-master/%s", prod[i]);
        assert_true(recorded(file, "mq secretkey", &c, &buf));
        rm_cmd_free(&c);
        snprintf(file, sizeof file, "cpp-client-2.2.x-master/%s", cons[i]);
        assert_true(recorded(file, "SecretKey", &c, &buf));
        rm_cmd_free(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example_a),
        cmocka_unit_test(test_spec_example_b),
        cmocka_unit_test(test_client_signs),
        cmocka_unit_test(test_recorded_mqadmin),
        cmocka_unit_test(test_recorded_unique_key_query),
        cmocka_unit_test(test_recorded_cpp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
