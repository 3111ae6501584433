/* Unit tests for common: .properties parsing, strict numbers, CRC, Java string hash, hash map,
 * buffers and the safe file write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"

static void test_properties_parse_comments_separators_and_overrides(void **s)
{
    const char *text = "# comment\n! other\nbrokerName = broker-a\nlistenPort:10911\n\n  deleteWhen=04  \nbrokerName=broker-b\nempty=\n";
    cm_props_t p = {0};
    assert_int_equal(cm_props_parse(&p, text, strlen(text)), 0);
    assert_string_equal(cm_props_get(&p, "brokerName"), "broker-b");
    assert_string_equal(cm_props_get(&p, "listenPort"), "10911");
    assert_string_equal(cm_props_get(&p, "deleteWhen"), "04");
    assert_string_equal(cm_props_get(&p, "empty"), "");
    assert_null(cm_props_get(&p, "comment"));
    cm_props_free(&p);
}

static void test_strict_numbers_reject_garbage(void **s)
{
    int64_t v;
    int32_t i;
    int b;
    assert_int_equal(cm_parse_i64("-42", &v), 0);
    assert_int_equal(v, -42);
    assert_int_not_equal(cm_parse_i64("42x", &v), 0);
    assert_int_not_equal(cm_parse_i64("", &v), 0);
    assert_int_not_equal(cm_parse_i64(" 1", &v), 0);
    assert_int_not_equal(cm_parse_i32("4294967296", &i), 0);
    assert_int_equal(cm_parse_bool("TRUE", &b), 0);
    assert_true(b);
    assert_int_not_equal(cm_parse_bool("yes", &b), 0);
}

static void test_java_hash_matches_java_string_hashcode(void **s)
{
    /* Values from Java: "TagA".hashCode() == 2598919 (the spec's codeSet example). */
    assert_int_equal(cm_java_hash("TagA", 4), 2598919);
    assert_int_equal(cm_java_hash("", 0), 0);
    /* "é" is one UTF-16 unit 0xE9; "😀" is the surrogate pair D83D DE00. */
    assert_int_equal(cm_java_hash("\xc3\xa9", 2), 0xE9);
    assert_int_equal(cm_java_hash("\xf0\x9f\x98\x80", 4), 31 * 0xD83D + 0xDE00);
}

static void test_crc_is_zlib_crc32_with_top_bit_cleared(void **s)
{
    /* zlib crc32("123456789") = 0xCBF43926; RocketMQ clears the top bit. */
    assert_int_equal(cm_crc32("123456789", 9), 0xCBF43926 & 0x7FFFFFFF);
}

static void test_map_put_get_remove_and_grow(void **s)
{
    cm_map_t m = {0};
    char key[32];
    for (long i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "topic-%ld", i);
        assert_int_equal(cm_map_put(&m, key, (void *)(i + 1)), 0);
    }
    assert_int_equal(m.n, 1000);
    assert_ptr_equal(cm_map_get(&m, "topic-777"), (void *)778);
    assert_ptr_equal(cm_map_remove(&m, "topic-777"), (void *)778);
    assert_null(cm_map_get(&m, "topic-777"));
    assert_null(cm_map_remove(&m, "nope"));
    cm_map_free(&m, NULL);
}

static void test_buffer_big_endian_and_printf(void **s)
{
    cm_buf_t b;
    cm_buf_init(&b);
    cm_buf_put_be32(&b, 0x01020304);
    cm_buf_put_be16(&b, 0x0506);
    cm_buf_printf(&b, "%d-%s", 7, "x");
    assert_int_equal(b.len, 9);
    assert_int_equal(cm_be32(b.data), 0x01020304);
    assert_int_equal(cm_be16(b.data + 4), 0x0506);
    assert_memory_equal(b.data + 6, "7-x", 3);
    cm_buf_free(&b);
}

static void test_safe_write_keeps_previous_version_as_bak(void **s)
{
    char dir[] = "/tmp/loulan-ut-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], bak[300];
    snprintf(path, sizeof path, "%s/sub/topics.json", dir);
    snprintf(bak, sizeof bak, "%s.bak", path);
    char sub[256];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    assert_int_equal(cm_mkdirs(sub), 0);
    assert_int_equal(cm_write_file_safe(path, "one", 3), 0);
    assert_int_equal(cm_write_file_safe(path, "two", 3), 0);
    char *text;
    size_t len;
    assert_int_equal(cm_read_file(path, &text, &len), 0);
    assert_memory_equal(text, "two", 3);
    free(text);
    assert_int_equal(cm_read_file(bak, &text, &len), 0);
    assert_memory_equal(text, "one", 3);
    free(text);
    assert_int_equal(cm_read_file("/nonexistent/x", &text, &len), CM_ENOENT);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_properties_file_update_keeps_comments_and_order(void **s)
{
    char dir[] = "/tmp/loulan-ut-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/broker.conf", dir);
    const char *before = "# cluster\nbrokerName = broker-a\nautoCreateTopicEnable=true\n!x\nlistenPort:10911";
    assert_int_equal(cm_write_file_safe(path, before, strlen(before)), 0);
    cm_props_t ch = {0};
    assert_int_equal(cm_props_set(&ch, "autoCreateTopicEnable", "false"), 0);
    assert_int_equal(cm_props_set(&ch, "transactionCheckMax", "7"), 0);
    assert_int_equal(cm_props_update_file(path, &ch), 0);
    char *text;
    size_t len;
    assert_int_equal(cm_read_file(path, &text, &len), 0);
    const char *want = "# cluster\nbrokerName = broker-a\nautoCreateTopicEnable=false\n!x\nlistenPort:10911\n"
                       "transactionCheckMax=7\n";
    assert_int_equal(len, strlen(want));
    assert_memory_equal(text, want, len);
    free(text);
    cm_props_free(&ch);
    assert_int_not_equal(cm_props_update_file("/nonexistent/broker.conf", &ch), 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

typedef struct item { int64_t k; size_t at; } item_t;
static int64_t item_key(const void *p) { return ((const item_t *)p)->k; }
static void item_pos(void *p, size_t i) { ((item_t *)p)->at = i; }

/* Items leave from anywhere through their index; the rest still come out smallest first. */
static void test_heap_removes_anywhere_and_pops_in_order(void **state)
{
    (void)state;
    enum { N = 1000 };
    static item_t it[N];
    cm_heap_t h = {.key = item_key, .pos = item_pos};
    srand(7);
    for (int i = 0; i < N; i++) {
        it[i].k = rand() % 500; /* duplicates too */
        assert_int_equal(cm_heap_push(&h, &it[i]), 0);
    }
    for (int i = 0; i < N; i += 3) /* a third leave by index */
        cm_heap_remove(&h, it[i].at);
    assert_int_equal(h.n, N - (N + 2) / 3);
    for (size_t i = 0; i < h.n; i++)
        assert_ptr_equal(h.v[((item_t *)h.v[i])->at], h.v[i]);
    int64_t last = -1;
    size_t popped = 0;
    while (h.n > 0) {
        item_t *top = h.v[0];
        assert_true(top->k >= last);
        last = top->k;
        cm_heap_remove(&h, 0);
        popped++;
    }
    assert_int_equal(popped, N - (N + 2) / 3);
    cm_heap_free(&h);
    assert_null(h.v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_properties_parse_comments_separators_and_overrides),
        cmocka_unit_test(test_strict_numbers_reject_garbage),
        cmocka_unit_test(test_java_hash_matches_java_string_hashcode),
        cmocka_unit_test(test_crc_is_zlib_crc32_with_top_bit_cleared),
        cmocka_unit_test(test_map_put_get_remove_and_grow),
        cmocka_unit_test(test_heap_removes_anywhere_and_pops_in_order),
        cmocka_unit_test(test_buffer_big_endian_and_printf),
        cmocka_unit_test(test_safe_write_keeps_previous_version_as_bak),
        cmocka_unit_test(test_properties_file_update_keeps_comments_and_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
