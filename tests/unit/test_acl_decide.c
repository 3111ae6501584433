/* The plain ACL decision (src/acl/decide.c) in RocketMQ 4.9.5's order and words (acl
 * spec §1.6-§1.8), on a table loaded from YAML text: global and account white addresses,
 * unknown and missing keys, bad signatures, admin-only codes, the trace exemption, explicit and
 * default topic and group permissions, and what each request code needs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "acl/acl.h"

static const char k_yaml[] =
    "globalWhiteRemoteAddresses:\n"
    "  - 10.10.103.*\n"
    "accounts:\n"
    "  - accessKey: RocketMQ\n"
    "    secretKey: '12345678'\n"
    "    admin: false\n"
    "    defaultTopicPerm: DENY\n"
    "    defaultGroupPerm: SUB\n"
    "    topicPerms:\n"
    "      - topicA=DENY\n"
    "      - topicB=PUB|SUB\n"
    "      - topicC=SUB\n"
    "    groupPerms:\n"
    "      - groupA=DENY\n"
    "      - groupB=PUB|SUB\n"
    "      - groupC=SUB\n"
    "  - accessKey: rocketmq2\n"
    "    secretKey: '12345678'\n"
    "    whiteRemoteAddress: 192.168.1.*\n"
    "    admin: true\n";

static acl_table_t *table(void)
{
    static acl_table_t acl;
    static int loaded;
    char err[256] = "";
    if (!loaded) {
        memset(&acl, 0, sizeof acl);
        assert_int_equal(acl_load_text(&acl, "plain_acl.yml", k_yaml, strlen(k_yaml), err, sizeof err), 0);
        loaded = 1;
    }
    return &acl;
}

/* The decision on a request of `code` with the given ext pairs (NULL-terminated), signed with
 * ak/sk when ak is not NULL, from ip. */
static const char *decide(int code, const char *ak, const char *sk, const char *ip, ...)
{
    static rm_cmd_t c;
    static char msg[256];
    rm_cmd_free(&c);
    rm_cmd_init(&c, code);
    va_list ap;
    va_start(ap, ip);
    for (const char *k; (k = va_arg(ap, const char *));)
        rm_ext_add(&c, k, va_arg(ap, const char *));
    va_end(ap);
    if (ak)
        rm_sign_request(&c, ak, sk);
    acl_need_t needs[ACL_MAX_NEEDS];
    int admin_only, n = acl_needs(&c, needs, &admin_only);
    return acl_decide(table(), &c, ip, needs, n, admin_only, msg, sizeof msg);
}

static void test_order(void **state)
{
    (void)state;
    /* global white list: nothing else checked */
    assert_null(decide(17, NULL, NULL, "10.10.103.7", "topic", "T", NULL));
    assert_string_equal(decide(17, NULL, NULL, "10.10.104.7", "topic", "T", NULL), "No accessKey is configured");
    assert_string_equal(decide(310, "Nobody000", "12345678", "1.2.3.4", "b", "topicB", NULL), "No acl config for Nobody000");
    assert_string_equal(decide(310, "RocketMQ", "wrong-secret", "1.2.3.4", "b", "topicB", NULL),
                        "Check signature failed for accessKey=RocketMQ");
    /* the account's white address skips the signature and every permission */
    assert_null(decide(17, "rocketmq2", "wrong-secret", "192.168.1.9", "topic", "T", NULL));
    assert_string_equal(decide(17, "RocketMQ", "12345678", "1.2.3.4", "topic", "T", NULL),
                        "Need admin permission for request code=17, but accessKey=RocketMQ is not");
    /* an admin without explicit perms may do anything once signed */
    assert_null(decide(17, "rocketmq2", "12345678", "1.2.3.4", "topic", "T", NULL));
    assert_null(decide(310, "rocketmq2", "12345678", "1.2.3.4", "b", "anything", NULL));
}

static void test_permissions(void **state)
{
    (void)state;
    assert_null(decide(310, "RocketMQ", "12345678", "1.2.3.4", "a", "groupB", "b", "topicB", NULL));
    assert_string_equal(decide(310, "RocketMQ", "12345678", "1.2.3.4", "b", "topicA", NULL),
                        "No default permission for topic:topicA");
    assert_string_equal(decide(310, "RocketMQ", "12345678", "1.2.3.4", "b", "topicC", NULL),
                        "No default permission for topic:topicC"); /* SUB only: no PUB */
    assert_string_equal(decide(310, "RocketMQ", "12345678", "1.2.3.4", "b", "other", NULL),
                        "No default permission for topic:other"); /* defaultTopicPerm DENY */
    /* pull: the topic and the group, SUB */
    assert_null(decide(11, "RocketMQ", "12345678", "1.2.3.4", "topic", "topicC", "consumerGroup", "groupC", NULL));
    assert_null(decide(11, "RocketMQ", "12345678", "1.2.3.4", "topic", "topicB", "consumerGroup", "other", NULL));
    assert_string_equal(decide(11, "RocketMQ", "12345678", "1.2.3.4", "topic", "topicB", "consumerGroup", "groupA", NULL),
                        "No default permission for group:groupA");
    /* POP and its acks: the topic and the group, SUB, as a pull; BATCH_ACK (groups in its body) an admin's */
    for (int code = 200050; code <= 200055; code++) {
        assert_null(decide(code, "RocketMQ", "12345678", "1.2.3.4", "topic", "topicC", "consumerGroup", "groupC", NULL));
        assert_string_equal(decide(code, "RocketMQ", "12345678", "1.2.3.4", "topic", "topicA", "consumerGroup",
                                   "groupC", NULL), "No default permission for topic:topicA");
        assert_string_equal(decide(code, "RocketMQ", "12345678", "1.2.3.4", "topic", "topicB", "consumerGroup",
                                   "groupA", NULL), "No default permission for group:groupA");
    }
    assert_non_null(decide(200151, "RocketMQ", "12345678", "1.2.3.4", NULL));
    assert_null(decide(200151, "rocketmq2", "12345678", "192.168.1.9", NULL));
    /* a V2 send to a retry topic needs the producer group's SUB instead of the topic */
    assert_null(decide(310, "RocketMQ", "12345678", "1.2.3.4", "a", "groupC", "b", "%RETRY%groupC", NULL));
    assert_string_equal(decide(310, "RocketMQ", "12345678", "1.2.3.4", "a", "groupA", "b", "%RETRY%groupA", NULL),
                        "No default permission for group:groupA");
    /* the trace topic may always be written by a signed account */
    assert_null(decide(310, "RocketMQ", "12345678", "1.2.3.4", "b", "RMQ_SYS_TRACE_TOPIC", NULL));
    /* codes without resources: a valid signature is enough */
    assert_null(decide(14, "RocketMQ", "12345678", "1.2.3.4", "topic", "topicA", NULL));
}

static void test_needs(void **state)
{
    (void)state;
    rm_cmd_t c;
    acl_need_t needs[ACL_MAX_NEEDS];
    int admin_only;
    rm_cmd_init(&c, 15);
    rm_ext_add(&c, "consumerGroup", "G");
    rm_ext_add(&c, "topic", "T");
    assert_int_equal(acl_needs(&c, needs, &admin_only), 2);
    assert_string_equal(needs[0].resource, "%RETRY%G");
    assert_int_equal(needs[0].perm, ACL_SUB);
    assert_string_equal(needs[1].resource, "T");
    assert_false(admin_only);
    rm_cmd_free(&c);
    rm_cmd_init(&c, 10); /* V1 send to a retry topic: nothing (RocketMQ reads a field that does not exist) */
    rm_ext_add(&c, "topic", "%RETRY%G");
    assert_int_equal(acl_needs(&c, needs, &admin_only), 0);
    rm_cmd_free(&c);
    rm_cmd_init(&c, 215);
    assert_int_equal(acl_needs(&c, needs, &admin_only), 0);
    assert_true(admin_only);
    rm_cmd_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_permissions),
        cmocka_unit_test(test_needs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
