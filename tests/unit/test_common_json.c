/* The fastjson-dialect JSON module: every recorded JSON body (and header) round-trips as data;
 * bare integer keys and object keys are read and written as fastjson does; strict mode quotes
 * and sorts; malformed input is an error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

/* Deep equality as data: object members matched by key text, in any order. */
static int equal(const lj_val_t *a, const lj_val_t *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case LJ_NULL: return 1;
    case LJ_BOOL: return a->b == b->b;
    case LJ_NUM:
    case LJ_STR: return a->slen == b->slen && memcmp(a->s, b->s, a->slen) == 0;
    case LJ_ARR:
        if (a->n != b->n)
            return 0;
        for (size_t i = 0; i < a->n; i++)
            if (!equal(a->items[i], b->items[i]))
                return 0;
        return 1;
    case LJ_OBJ:
        if (a->n != b->n)
            return 0;
        for (size_t i = 0; i < a->n; i++) {
            int found = 0;
            for (size_t j = 0; j < b->n && !found; j++)
                found = equal(a->members[i].key, b->members[j].key) && equal(a->members[i].val, b->members[j].val);
            if (!found)
                return 0;
        }
        return 1;
    }
    return 0;
}

static void roundtrip(const char *text, size_t len, int flags)
{
    lj_val_t *v = NULL, *w = NULL;
    assert_int_equal(lj_parse(text, len, &v), 0);
    cm_buf_t b;
    cm_buf_init(&b);
    assert_int_equal(lj_write(v, flags, &b), 0);
    assert_int_equal(lj_parse(b.data, b.len, &w), 0);
    if (flags == LJ_W_FASTJSON)
        assert_true(equal(v, w));
    lj_free(v);
    lj_free(w);
    cm_buf_free(&b);
}

static void test_every_recorded_json_body_round_trips(void **s)
{
    glob_t g;
    assert_int_equal(glob(LOULAN_VECTORS "/*/*.bin", 0, NULL, &g), 0);
    int bodies = 0, headers = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        if (strstr(g.gl_pathv[i], "nodejs-5x"))
            continue;
        char *d;
        size_t n;
        assert_int_equal(cm_read_file(g.gl_pathv[i], &d, &n), 0);
        uint32_t word = cm_be32(d + 4), hl = word & 0xFFFFFF;
        if ((word >> 24) == 0) {
            roundtrip(d + 8, hl, LJ_W_FASTJSON);
            headers++;
        }
        const char *body = d + 8 + hl;
        size_t bl = n - 8 - hl;
        if (bl && (body[0] == '{' || body[0] == '[')) {
            roundtrip(body, bl, LJ_W_FASTJSON);
            roundtrip(body, bl, LJ_W_STRICT);
            bodies++;
        }
        free(d);
    }
    globfree(&g);
    assert_true(bodies > 20);
    assert_true(headers > 100);
}

static void test_reads_and_writes_unquoted_integer_keys(void **s)
{
    const char *t = "{\"brokerAddrs\":{0:\"127.0.0.1:10911\",-1:\"x\"}}";
    lj_val_t *v = NULL;
    assert_int_equal(lj_parse(t, strlen(t), &v), 0);
    const lj_val_t *a = lj_get(v, "brokerAddrs");
    assert_string_equal(lj_get_str(a, "0", NULL), "127.0.0.1:10911");
    assert_int_equal(a->members[0].key->type, LJ_NUM);
    cm_buf_t b;
    cm_buf_init(&b);
    lj_write(v, LJ_W_FASTJSON, &b);
    assert_string_equal(b.data, t);
    cm_buf_reset(&b);
    lj_write(v, LJ_W_STRICT, &b);
    assert_string_equal(b.data, "{\"brokerAddrs\":{\"-1\":\"x\",\"0\":\"127.0.0.1:10911\"}}");
    cm_buf_free(&b);
    lj_free(v);
}

static void test_reads_and_writes_object_keys(void **s)
{
    const char *t = "{\"offsetTable\":{{\"brokerName\":\"b\",\"queueId\":0,\"topic\":\"T\"}:{\"maxOffset\":5}}}";
    lj_val_t *v = NULL;
    assert_int_equal(lj_parse(t, strlen(t), &v), 0);
    const lj_val_t *tab = lj_get(v, "offsetTable");
    assert_int_equal(tab->n, 1);
    assert_int_equal(tab->members[0].key->type, LJ_OBJ);
    assert_int_equal(lj_get_int(tab->members[0].val, "maxOffset", -1), 5);
    cm_buf_t b;
    cm_buf_init(&b);
    lj_write(v, LJ_W_FASTJSON, &b);
    assert_string_equal(b.data, t);
    cm_buf_free(&b);
    lj_free(v);
}

static void test_numbers_strings_and_escapes(void **s)
{
    const char *t = "[9223372036854775807,\"1690000000000\",\"\\u00e9\\ud83d\\ude00\",\"\x01\x02\",1.5,true]";
    lj_val_t *v = NULL;
    assert_int_equal(lj_parse(t, strlen(t), &v), 0);
    assert_int_equal(lj_int(v->items[0], 0), INT64_MAX);
    assert_int_equal(lj_int(v->items[1], 0), 1690000000000LL); /* C++ sends numbers as strings */
    assert_string_equal(lj_str(v->items[2], NULL), "\xc3\xa9\xf0\x9f\x98\x80");
    assert_memory_equal(lj_str(v->items[3], NULL), "\x01\x02", 2);
    cm_buf_t b;
    cm_buf_init(&b);
    lj_write(v->items[2], LJ_W_STRICT, &b);
    assert_string_equal(b.data, "\"\\u00E9\\uD83D\\uDE00\"");
    cm_buf_reset(&b);
    lj_write(v->items[3], LJ_W_FASTJSON, &b);
    assert_string_equal(b.data, "\"\\u0001\\u0002\"");
    cm_buf_free(&b);
    lj_val_t *d = lj_new_double(0);
    assert_string_equal(d->s, "0.0");
    lj_free(d);
    lj_free(v);
}

static void test_malformed_json_is_an_error(void **s)
{
    const char *bad[] = {"", "{", "{\"a\":}", "[1,]", "{\"a\" 1}", "\"\\x\"", "tru", "{a:1}", "[1] 2", "\"abc"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lj_val_t *v = NULL;
        assert_int_equal(lj_parse(bad[i], strlen(bad[i]), &v), CM_EPARSE);
        assert_null(v);
    }
    char deep[300];
    memset(deep, '[', sizeof deep);
    lj_val_t *v = NULL;
    assert_int_equal(lj_parse(deep, sizeof deep, &v), CM_EPARSE); /* depth bomb */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_recorded_json_body_round_trips),
        cmocka_unit_test(test_reads_and_writes_unquoted_integer_keys),
        cmocka_unit_test(test_reads_and_writes_object_keys),
        cmocka_unit_test(test_numbers_strings_and_escapes),
        cmocka_unit_test(test_malformed_json_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
