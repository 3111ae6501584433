/* The DLQ export's .xlsx writer (src/dashboard/xlsx.c): the zip is read back by hand here, from
 * the end record through the central directory to each local header, so that offsets, sizes
 * and CRCs are proved and not only "some bytes came out"; then the sheet's XML: escaped markup,
 * invalid UTF-8 and forbidden control characters replaced, long cells cut at 32767 characters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "dashboard/dashboard.h"

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }

/* The data of entry `name` in the zip z (n bytes), checked against its CRC and both headers;
 * NULL when the entry is absent. *len gets its size. */
static const unsigned char *zip_entry(const unsigned char *z, size_t n, const char *name, size_t *len)
{
    assert_true(n >= 22);
    const unsigned char *end = z + n - 22;
    assert_int_equal(rd32(end), 0x06054b50);
    uint16_t entries = rd16(end + 10);
    uint32_t cd_size = rd32(end + 12), cd_off = rd32(end + 16);
    assert_int_equal((size_t)cd_off + cd_size, n - 22);
    const unsigned char *cd = z + cd_off;
    for (uint16_t i = 0; i < entries; i++) {
        assert_true(cd + 46 <= end);
        assert_int_equal(rd32(cd), 0x02014b50);
        assert_int_equal(rd16(cd + 10), 0); /* STORED */
        uint32_t crc = rd32(cd + 16), csize = rd32(cd + 20), usize = rd32(cd + 24), loc = rd32(cd + 42);
        uint16_t nlen = rd16(cd + 28), xlen = rd16(cd + 30), clen = rd16(cd + 32);
        assert_int_equal(csize, usize);
        const unsigned char *lh = z + loc;
        assert_int_equal(rd32(lh), 0x04034b50);
        assert_int_equal(rd32(lh + 14), crc);
        assert_int_equal(rd16(lh + 26), nlen);
        assert_memory_equal(lh + 30, cd + 46, nlen);
        const unsigned char *data = lh + 30 + nlen + rd16(lh + 28);
        assert_true(data + usize <= z + cd_off);
        assert_int_equal((uint32_t)crc32(0L, data, usize), crc);
        if (nlen == strlen(name) && memcmp(cd + 46, name, nlen) == 0) {
            *len = usize;
            return data;
        }
        cd += 46 + nlen + xlen + clen;
    }
    return NULL;
}

/* The entry as a NUL-terminated string (caller frees). */
static char *entry_text(const cm_buf_t *b, const char *name)
{
    size_t len = 0;
    const unsigned char *d = zip_entry((const unsigned char *)b->data, b->len, name, &len);
    assert_non_null(d);
    char *s = malloc(len + 1);
    memcpy(s, d, len);
    s[len] = 0;
    return s;
}

static void test_workbook_parts_and_rows(void **state)
{
    const char *header[] = {"topic", "msgId", "messageBody"};
    const char *cells[] = {"%DLQ%g1", "7F0000010001", "a<b & c>d", "%DLQ%g1", "7F0000010002", NULL};
    cm_buf_t b;
    cm_buf_init(&b);
    assert_int_equal(dh_xlsx_write(&b, "dlqs", header, 3, cells, 2), 0);
    const char *parts[] = {"[Content_Types].xml", "_rels/.rels", "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
                           "xl/styles.xml", "xl/worksheets/sheet1.xml"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        free(entry_text(&b, parts[i]));
    char *wb = entry_text(&b, "xl/workbook.xml");
    assert_non_null(strstr(wb, "<sheet name=\"dlqs\""));
    free(wb);
    char *ws = entry_text(&b, "xl/worksheets/sheet1.xml");
    assert_non_null(strstr(ws, "<c r=\"A1\" t=\"inlineStr\" s=\"1\"><is><t xml:space=\"preserve\">topic</t>"));
    assert_non_null(strstr(ws, "<c r=\"B2\" t=\"inlineStr\"><is><t xml:space=\"preserve\">7F0000010001</t>"));
    assert_non_null(strstr(ws, ">a&lt;b &amp; c&gt;d<"));
    assert_non_null(strstr(ws, "<c r=\"C3\" t=\"inlineStr\"><is><t xml:space=\"preserve\"></t>"));
    assert_null(strstr(ws, "r=\"A4\""));
    free(ws);
    cm_buf_free(&b);
}

static void test_bad_text_is_replaced(void **state)
{
    /* a control character, a lone continuation byte, an overlong '/', a surrogate, a cut sequence */
    const char *header[] = {"x"};
    const char *cells[] = {"ok\x01\x80 \xC0\xAF \xED\xA0\x80 \xE2\x82", "tab\tnl\n\xC3\xA9\xF0\x9F\x98\x80"};
    cm_buf_t b;
    cm_buf_init(&b);
    assert_int_equal(dh_xlsx_write(&b, "a[b]:c*?/\\", header, 1, cells, 2), 0);
    char *ws = entry_text(&b, "xl/worksheets/sheet1.xml");
    const char *fffd = "\xEF\xBF\xBD";
    char want[64];
    snprintf(want, sizeof want, "ok%s%s %s%s %s%s%s %s%s<", fffd, fffd, fffd, fffd, fffd, fffd, fffd, fffd, fffd);
    assert_non_null(strstr(ws, want));
    assert_non_null(strstr(ws, "tab\tnl\n\xC3\xA9\xF0\x9F\x98\x80<")); /* good UTF-8 and whitespace kept */
    free(ws);
    char *wb = entry_text(&b, "xl/workbook.xml");
    assert_non_null(strstr(wb, "<sheet name=\"abc\""));
    free(wb);
    cm_buf_free(&b);
}

static void test_long_cell_is_cut(void **state)
{
    size_t n = 40000;
    char *big = malloc(n + 1);
    memset(big, 'x', n);
    big[n] = 0;
    const char *header[] = {"body"};
    const char *cells[] = {big};
    cm_buf_t b;
    cm_buf_init(&b);
    assert_int_equal(dh_xlsx_write(&b, "dlq", header, 1, cells, 1), 0);
    char *ws = entry_text(&b, "xl/worksheets/sheet1.xml");
    char *t = strstr(ws, "<c r=\"A2\"");
    assert_non_null(t);
    t = strstr(t, "preserve\">") + 10;
    assert_int_equal(strcspn(t, "<"), 32767);
    free(ws);
    free(big);
    cm_buf_free(&b);
}

static void test_many_columns_are_named(void **state)
{
    const char *header[28];
    for (int i = 0; i < 28; i++)
        header[i] = "h";
    cm_buf_t b;
    cm_buf_init(&b);
    assert_int_equal(dh_xlsx_write(&b, NULL, header, 28, NULL, 0), 0);
    char *ws = entry_text(&b, "xl/worksheets/sheet1.xml");
    assert_non_null(strstr(ws, "r=\"Z1\""));
    assert_non_null(strstr(ws, "r=\"AA1\""));
    assert_non_null(strstr(ws, "r=\"AB1\""));
    free(ws);
    char *wb = entry_text(&b, "xl/workbook.xml");
    assert_non_null(strstr(wb, "<sheet name=\"Sheet1\""));
    free(wb);
    cm_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workbook_parts_and_rows),
        cmocka_unit_test(test_bad_text_is_replaced),
        cmocka_unit_test(test_long_cell_is_cut),
        cmocka_unit_test(test_many_columns_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
