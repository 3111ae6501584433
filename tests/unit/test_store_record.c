/* Record codec against the real thing: every PULL_MESSAGE response body recorded from Apache
 * RocketMQ 4.9.5 (a sequence of stored records) must decode, pass the CRC check and re-encode
 * to identical bytes. Plus property strings, batch bodies and offsetMsgIds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glob.h>
#include <cmocka.h>

#include "store/store.h"

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void test_pull_vectors_decode_and_reencode_identically(void **state)
{
    glob_t g;
    (void)state;
    assert_int_equal(glob(LOULAN_VECTORS "/*/*resp-PULL_MESSAGE*.bin", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 1);
    int total = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        size_t len;
        uint8_t *frame = read_all(g.gl_pathv[i], &len);
        assert_true(len >= 8);
        uint32_t flen = (uint32_t)frame[0] << 24 | frame[1] << 16 | frame[2] << 8 | frame[3];
        assert_int_equal(flen, len - 4);
        uint32_t hlen = ((uint32_t)frame[5] << 16 | frame[6] << 8 | frame[7]);
        assert_true(8 + hlen <= len);
        const uint8_t *body = frame + 8 + hlen;
        size_t blen = len - 8 - hlen;
        size_t pos = 0;
        int n = 0;
        int64_t lastQ = -1;
        while (pos < blen) {
            st_record_t r;
            int rc = st_record_decode(body + pos, blen - pos, 1, &r);
            if (rc != ST_OK)
                fail_msg("%s: record %d at %zu: %s", g.gl_pathv[i], n, pos, st_strerror(rc));
            assert_int_equal(r.magic, ST_MSG_MAGIC);
            assert_int_equal((size_t)r.totalSize,
                             st_record_size(r.sysFlag, r.bodyLen, r.topicLen, r.propertiesLen));
            assert_true(r.topicLen > 0);
            if (lastQ >= 0)
                assert_int_equal(r.queueOffset, lastQ + 1); /* one queue, dense offsets */
            lastQ = r.queueOffset;
            /* re-encode byte for byte */
            uint8_t *out = malloc((size_t)r.totalSize);
            size_t w = 0;
            assert_int_equal(st_record_encode(&r, out, (size_t)r.totalSize, &w), ST_OK);
            assert_int_equal(w, (size_t)r.totalSize);
            assert_memory_equal(out, body + pos, w);
            /* the tag code a consume queue would hold */
            const char *tv;
            size_t tl;
            if (st_props_get(r.properties, r.propertiesLen, "TAGS", &tv, &tl) == ST_OK)
                assert_int_not_equal(st_tags_code(tv, tl), 0);
            /* truncated input never decodes */
            assert_int_equal(st_record_decode(body + pos, (size_t)r.totalSize - 1, 1, &r), ST_ETRUNC);
            free(out);
            pos += (size_t)r.totalSize;
            n++;
        }
        assert_int_equal(pos, blen);
        assert_true(n > 0);
        total += n;
        free(frame);
    }
    globfree(&g);
    assert_true(total >= 6);
}

static void test_decode_rejects_bad_crc_magic_and_sizes(void **state)
{
    (void)state;
    uint8_t buf[512];
    st_record_t r, d;
    memset(&r, 0, sizeof(r));
    r.body = (const uint8_t *)"Hello RocketMQ";
    r.bodyLen = 14;
    r.bodyCRC = cm_crc32(r.body, r.bodyLen);
    assert_int_equal(r.bodyCRC, 1774740973);
    r.topic = "TopicTest";
    r.topicLen = 9;
    r.properties = "TAGS\001TagA\002KEYS\001k1";
    r.propertiesLen = (uint32_t)strlen(r.properties);
    r.queueOffset = 7;
    r.physicOffset = 1234;
    size_t w;
    assert_int_equal(st_record_encode(&r, buf, sizeof(buf), &w), ST_OK);
    assert_int_equal(w, 91 + 14 + 9 + r.propertiesLen);
    assert_int_equal(st_record_decode(buf, w, 1, &d), ST_OK);
    assert_int_equal(d.queueOffset, 7);
    assert_int_equal(d.physicOffset, 1234);
    assert_memory_equal(d.topic, "TopicTest", 9);
    assert_int_equal(st_record_encode(&r, buf, w - 1, &w), ST_EINVAL);

    buf[90] ^= 1; /* body byte */
    assert_int_equal(st_record_decode(buf, w, 1, &d), ST_ECRC);
    assert_int_equal(st_record_decode(buf, w, 0, &d), ST_OK);
    buf[90] ^= 1;
    buf[5] ^= 1; /* magic */
    assert_int_equal(st_record_decode(buf, w, 1, &d), ST_ECORRUPT);
    buf[5] ^= 1;
    buf[87] = 0xFF; /* body length high byte -> huge */
    buf[84] = 0x7F;
    assert_int_equal(st_record_decode(buf, w, 1, &d), ST_ECORRUPT);
    /* blank */
    memset(buf, 0, 16);
    buf[3] = 16;
    buf[4] = 0xCB; buf[5] = 0xD4; buf[6] = 0x31; buf[7] = 0x94;
    assert_int_equal(st_record_decode(buf, 16, 1, &d), ST_EBLANK);
    assert_int_equal(d.totalSize, 16);
    assert_int_equal(st_record_decode(buf, 4, 1, &d), ST_ETRUNC);
}

static void test_props_get_accepts_both_trailing_styles(void **state)
{
    (void)state;
    const char *v;
    size_t vl;
    const char *a = "UNIQ_KEY\001ABC\002TAGS\001TagA";
    const char *b = "TAGS\001TagB\002WAIT\001true\002";
    const char *c = "TAGS\001\002XTAGS\001no\002";
    assert_int_equal(st_props_get(a, strlen(a), "TAGS", &v, &vl), ST_OK);
    assert_int_equal(vl, 4);
    assert_memory_equal(v, "TagA", 4);
    assert_int_equal(st_props_get(b, strlen(b), "WAIT", &v, &vl), ST_OK);
    assert_memory_equal(v, "true", 4);
    assert_int_equal(st_props_get(b, strlen(b), "TAG", &v, &vl), ST_ENOENT);
    assert_int_equal(st_props_get(c, strlen(c), "TAGS", &v, &vl), ST_ENOENT); /* empty value */
    assert_int_equal(st_tags_code("TagA", 4), 2598919);
    assert_int_equal(st_tags_code("TagB", 4), 2598920);
    assert_int_equal(st_tags_code("", 0), 0);
}

static size_t put_entry(uint8_t *p, int32_t flag, const char *body, const char *props)
{
    size_t bl = strlen(body), pl = strlen(props), total = 22 + bl + pl;
    cm_wbe32(p, (uint32_t)total);
    cm_wbe32(p + 4, 0);
    cm_wbe32(p + 8, 0);
    cm_wbe32(p + 12, (uint32_t)flag);
    cm_wbe32(p + 16, (uint32_t)bl);
    memcpy(p + 20, body, bl);
    cm_wbe16(p + 20 + bl, (uint16_t)pl);
    memcpy(p + 22 + bl, props, pl);
    return total;
}

static void test_batch_iterator_walks_entries_and_rejects_garbage(void **state)
{
    (void)state;
    uint8_t buf[256];
    size_t n = put_entry(buf, 1, "one", "TAGS\001a");
    n += put_entry(buf + n, 2, "two!", "");
    st_batch_iter_t it;
    st_batch_entry_t e;
    st_batch_iter_init(&it, buf, n);
    assert_int_equal(st_batch_next(&it, &e), 1);
    assert_int_equal(e.flag, 1);
    assert_int_equal(e.bodyLen, 3);
    assert_int_equal(e.propertiesLen, 6);
    assert_int_equal(st_batch_next(&it, &e), 1);
    assert_int_equal(e.flag, 2);
    assert_memory_equal(e.body, "two!", 4);
    assert_int_equal(st_batch_next(&it, &e), 0);
    st_batch_iter_init(&it, buf, n - 1);
    assert_int_equal(st_batch_next(&it, &e), 1);
    assert_true(st_batch_next(&it, &e) < 0);
    buf[16] = 0x7F; /* first body length huge */
    st_batch_iter_init(&it, buf, n);
    assert_int_equal(st_batch_next(&it, &e), ST_ECORRUPT);
    assert_int_equal(st_batch_next(&it, &e), 0);
}

static void test_offset_msg_id_matches_spec_example(void **state)
{
    (void)state;
    char id[ST_MSG_ID_LEN + 1];
    st_msg_id_encode(0xC0A8010A, 10911, 1234, id);
    assert_string_equal(id, "C0A8010A00002A9F00000000000004D2");
    uint32_t ip;
    int32_t port;
    int64_t off;
    assert_int_equal(st_msg_id_decode("c0a8010a00002a9f00000000000004d2", 32, &ip, &port, &off), ST_OK);
    assert_int_equal(ip, 0xC0A8010A);
    assert_int_equal(port, 10911);
    assert_int_equal(off, 1234);
    assert_int_equal(st_msg_id_decode(id, 31, &ip, &port, &off), ST_EINVAL);
    id[3] = 'G';
    assert_int_equal(st_msg_id_decode(id, 32, &ip, &port, &off), ST_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pull_vectors_decode_and_reencode_identically),
        cmocka_unit_test(test_decode_rejects_bad_crc_magic_and_sizes),
        cmocka_unit_test(test_props_get_accepts_both_trailing_styles),
        cmocka_unit_test(test_batch_iterator_walks_entries_and_rejects_garbage),
        cmocka_unit_test(test_offset_msg_id_matches_spec_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
