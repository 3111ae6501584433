/* Frame codec against the recorded vectors: every recorded frame decodes; frames written by
 * Java (JSON, fastjson member order) and every ROCKETMQ-binary frame re-encode byte for byte;
 * the others re-decode to the same fields. Plus the malformed-input cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remoting/remoting.h"

static int same_cmd(const rm_cmd_t *a, const rm_cmd_t *b)
{
    if (a->code != b->code || a->opaque != b->opaque || a->flag != b->flag || a->body_len != b->body_len ||
        a->next != b->next || memcmp(a->body, b->body, a->body_len) != 0)
        return 0;
    for (size_t i = 0; i < a->next; i++) {
        const char *v = rm_ext_get(b, a->ext[i].key);
        if (!v || strcmp(v, a->ext[i].val) != 0)
            return 0;
    }
    return 1;
}

static void test_every_recorded_frame_decodes_and_reencodes(void **s)
{
    glob_t g;
    assert_int_equal(glob(LOULAN_VECTORS "/*/*.bin", 0, NULL, &g), 0);
    int decoded = 0, identical = 0, java_identical_needed = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        if (strstr(path, "nodejs-5x"))
            continue; /* HTTP/2, not remoting */
        char *data;
        size_t len;
        assert_int_equal(cm_read_file(path, &data, &len), 0);
        rm_cmd_t c;
        int rc = rm_frame_decode((const uint8_t *)data, len, &c);
        if (rc != 0)
            fail_msg("%s does not decode: %d", path, rc);
        decoded++;
        cm_buf_t b;
        cm_buf_init(&b);
        assert_int_equal(rm_frame_encode(&c, &b), 0);
        int same = b.len == len && memcmp(b.data, data, len) == 0;
        identical += same;
        /* Java clients, mqadmin and the broker write what we write: demand identical bytes. */
        int java = (strstr(path, "/java-") || strstr(path, "/apache-broker")) && strstr(path, "-req-");
        if (java || c.serialize == RM_SER_ROCKETMQ) {
            java_identical_needed++;
            if (!same)
                fail_msg("%s does not re-encode byte for byte", path);
        }
        rm_cmd_t d;
        assert_int_equal(rm_frame_decode((const uint8_t *)b.data, b.len, &d), 0);
        assert_true(same_cmd(&c, &d));
        rm_cmd_free(&d);
        rm_cmd_free(&c);
        cm_buf_free(&b);
        free(data);
    }
    globfree(&g);
    assert_true(decoded > 100);
    assert_true(java_identical_needed > 30);
    print_message("decoded %d frames, %d byte-identical (%d required)\n", decoded, identical, java_identical_needed);
}

static int decode_text(const char *hdr, const char *body, rm_cmd_t *c)
{
    size_t hl = strlen(hdr), bl = strlen(body);
    uint8_t *f = malloc(8 + hl + bl);
    cm_wbe32(f, (uint32_t)(4 + hl + bl));
    cm_wbe32(f + 4, (uint32_t)hl);
    memcpy(f + 8, hdr, hl);
    memcpy(f + 8 + hl, body, bl);
    int rc = rm_frame_decode(f, 8 + hl + bl, c);
    if (rc == 0)
        rm_cmd_own_body(c);
    free(f);
    return rc;
}

static void test_ext_values_of_any_json_type_become_strings(void **s)
{
    rm_cmd_t c;
    assert_int_equal(decode_text("{\"code\":14,\"language\":\"JAVA\",\"opaque\":4,\"flag\":0,\"version\":121,"
                                 "\"extFields\":{\"queueId\":0,\"unitMode\":false,\"t\":\"A\\u00e9\\n\",\"gone\":null}}", "", &c), 0);
    assert_string_equal(rm_ext_get(&c, "queueId"), "0");
    assert_string_equal(rm_ext_get(&c, "unitMode"), "false");
    assert_string_equal(rm_ext_get(&c, "t"), "A\xc3\xa9\n");
    assert_null(rm_ext_get(&c, "gone"));
    int32_t q;
    assert_int_equal(rm_ext_i32(&c, "queueId", &q), 0);
    assert_int_equal(rm_ext_i32(&c, "t", &q), RM_EBADVAL);
    assert_int_equal(rm_ext_i32(&c, "missing", &q), RM_EMISSING);
    /* replacing a value decoded into the arena keeps every other member intact */
    assert_int_equal(rm_ext_set(&c, "queueId", "7"), 0);
    assert_string_equal(rm_ext_get(&c, "queueId"), "7");
    assert_string_equal(rm_ext_get(&c, "unitMode"), "false");
    rm_cmd_free(&c);
}

static void test_malformed_frames_are_errors(void **s)
{
    rm_cmd_t c;
    uint8_t big[8] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    assert_int_equal(rm_frame_size(big, 8), RM_EFRAME);
    uint8_t tiny[4] = {0, 0, 0, 2};
    assert_int_equal(rm_frame_size(tiny, 4), RM_EFRAME);
    assert_int_equal(rm_frame_size(tiny, 3), 0);
    uint8_t hl[12] = {0, 0, 0, 8, 0, 0, 0, 50, '{', '}', ' ', ' '}; /* header longer than frame */
    assert_int_equal(rm_frame_decode(hl, 12, &c), RM_EFRAME);
    uint8_t ser[12] = {0, 0, 0, 8, 7, 0, 0, 4, '{', '}', ' ', ' '}; /* unknown serialize type */
    assert_int_equal(rm_frame_decode(ser, 12, &c), RM_EFRAME);
    assert_int_equal(decode_text("{\"code\":1", "", &c), RM_EHEADER);
    assert_int_equal(decode_text("{\"flag\":0}", "", &c), RM_EHEADER); /* no code */
    assert_int_equal(decode_text("{\"code\":\"x\"}", "", &c), RM_EHEADER);
    assert_int_equal(decode_text("{\"code\":1,\"remark\":\"\\q\"}", "", &c), RM_EHEADER);
    assert_int_equal(decode_text("{\"code\":1} trailing", "", &c), RM_EHEADER);
    /* binary header whose remark length runs past the header */
    uint8_t b[8 + 21] = {0};
    cm_wbe32(b, 4 + 21);
    cm_wbe32(b + 4, 1u << 24 | 21);
    cm_wbe32(b + 8 + 13, 1000);
    assert_int_equal(rm_frame_decode(b, sizeof b, &c), RM_EHEADER);
    cm_wbe32(b + 8 + 13, 0);
    cm_wbe32(b + 8 + 17, 1000); /* ext length past the header */
    assert_int_equal(rm_frame_decode(b, sizeof b, &c), RM_EHEADER);
}

static void test_binary_header_matches_the_spec_example(void **s)
{
    /* spec §1.5: code 0, JAVA, version 409, opaque 7, flag 1, extFields {"offset":"42"} */
    static const uint8_t want[] = {0x00, 0x00, 0x00, 0x27, 0x01, 0x00, 0x00, 0x23, 0x00, 0x00, 0x00, 0x01, 0x99,
                                   0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0x00, 0x0e, 0x00, 0x06, 'o', 'f', 'f', 's', 'e', 't',
                                   0x00, 0x00, 0x00, 0x02, '4', '2'};
    rm_cmd_t c;
    rm_cmd_init(&c, 0);
    c.serialize = RM_SER_ROCKETMQ;
    c.opaque = 7;
    c.flag = 1;
    rm_ext_set(&c, "offset", "42");
    cm_buf_t b;
    cm_buf_init(&b);
    assert_int_equal(rm_frame_encode(&c, &b), 0);
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.data, want, sizeof want);
    cm_buf_free(&b);
    rm_cmd_free(&c);
}

static void test_ext_fields_set_replace_and_numbers(void **s)
{
    (void)s;
    rm_cmd_t c;
    rm_cmd_init(&c, 10);
    assert_int_equal(rm_ext_set_i64(&c, "min", INT64_MIN), 0);
    assert_int_equal(rm_ext_set_i64(&c, "max", INT64_MAX), 0);
    assert_int_equal(rm_ext_set_i64(&c, "neg", -42), 0);
    assert_int_equal(rm_ext_set_i64(&c, "zero", 0), 0);
    assert_int_equal(rm_ext_add(&c, "tag", "\001a\"b"), 0);
    assert_string_equal(rm_ext_get(&c, "min"), "-9223372036854775808");
    assert_string_equal(rm_ext_get(&c, "max"), "9223372036854775807");
    assert_string_equal(rm_ext_get(&c, "neg"), "-42");
    assert_string_equal(rm_ext_get(&c, "zero"), "0");
    assert_int_equal(rm_ext_set(&c, "neg", "7"), 0); /* replaced, not added */
    assert_string_equal(rm_ext_get(&c, "neg"), "7");
    assert_int_equal(c.next, 5);
    /* a JSON header round trip keeps the escaped characters */
    cm_buf_t out;
    cm_buf_init(&out);
    assert_int_equal(rm_frame_encode(&c, &out), 0);
    rm_cmd_t d;
    assert_int_equal(rm_frame_decode((const uint8_t *)out.data, out.len, &d), 0);
    assert_string_equal(rm_ext_get(&d, "tag"), "\001a\"b");
    assert_int_equal(rm_ext_set(&d, "tag", "x"), 0); /* replacing a field that lives in the arena */
    assert_string_equal(rm_ext_get(&d, "tag"), "x");
    assert_string_equal(rm_ext_get(&d, "min"), "-9223372036854775808");
    rm_cmd_free(&d);
    cm_buf_free(&out);
    rm_cmd_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_recorded_frame_decodes_and_reencodes),
        cmocka_unit_test(test_ext_values_of_any_json_type_become_strings),
        cmocka_unit_test(test_malformed_frames_are_errors),
        cmocka_unit_test(test_binary_header_matches_the_spec_example),
        cmocka_unit_test(test_ext_fields_set_replace_and_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
