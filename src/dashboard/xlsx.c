/* xlsx.c: the .xlsx files of the DLQ export (spec dashboard.md §2.9), without a spreadsheet
 * library. An .xlsx is a zip of a few XML parts (ECMA-376 / Office Open XML): the content
 * types, the package's and the workbook's relations, the workbook, a style sheet and one
 * worksheet. Cells are inline strings, so no shared-strings part is needed. The zip entries are
 * STORED (method 0, no compression): zlib's crc32 is all it takes, and an export is a few rows.
 * Any thread; nothing here is shared. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "dashboard.h"

#define XLSX_MAX_CELL 32767 /* Excel's limit on the characters of one cell */

/* ---- XML text ---- */

/* The code point of the UTF-8 sequence at p (at most n bytes) and its length in *len; -1 when
 * the bytes are not well-formed UTF-8 (overlong, surrogate, beyond U+10FFFF, cut short). */
static long utf8_next(const unsigned char *p, size_t n, size_t *len)
{
    unsigned c = p[0];
    int more = c < 0x80 ? 0 : c >= 0xC2 && c < 0xE0 ? 1 : c >= 0xE0 && c < 0xF0 ? 2 : c >= 0xF0 && c < 0xF5 ? 3 : -1;
    *len = 1;
    if (more < 0 || (size_t)more >= n) /* not a lead byte, or cut short (n counts p[0] too) */
        return -1;
    long cp = more == 0 ? (long)c : (long)(c & (0x3F >> more));
    for (int i = 1; i <= more; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return -1;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    static const long k_min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < k_min[more] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *len = (size_t)more + 1;
    return cp;
}

/* Whether XML 1.0 allows the character at all (tab, line ends, and the rest but controls,
 * surrogates and U+FFFE/U+FFFF). */
static int xml_char_ok(long cp)
{
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) ||
           (cp >= 0x10000 && cp <= 0x10FFFF);
}

/* s as XML character data: markup characters escaped, anything XML or UTF-8 would refuse as
 * U+FFFD, cut after max characters. */
static int put_text(cm_buf_t *b, const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), chars = 0;
    int rc = 0;
    while (n > 0 && chars < max && rc == 0) {
        size_t len;
        long cp = utf8_next(p, n, &len);
        if (cp == '&')
            rc = cm_buf_puts(b, "&amp;");
        else if (cp == '<')
            rc = cm_buf_puts(b, "&lt;");
        else if (cp == '>')
            rc = cm_buf_puts(b, "&gt;");
        else if (cp < 0 || !xml_char_ok(cp))
            rc = cm_buf_puts(b, "\xEF\xBF\xBD");
        else
            rc = cm_buf_append(b, p, len);
        p += len;
        n -= len;
        chars++;
    }
    return rc;
}

/* "A", "B", ... "Z", "AA", ... for column index col (0-based). */
static void col_name(size_t col, char out[8])
{
    char tmp[8];
    int n = 0;
    for (size_t c = col + 1; c > 0 && n < 7; c = (c - 1) / 26)
        tmp[n++] = (char)('A' + (c - 1) % 26);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = 0;
}

static int put_row(cm_buf_t *b, size_t row, const char *const *cells, size_t ncols, int style)
{
    int rc = cm_buf_printf(b, "<row r=\"%zu\">", row);
    for (size_t c = 0; c < ncols && rc == 0; c++) {
        char ref[8];
        col_name(c, ref);
        rc |= cm_buf_printf(b, "<c r=\"%s%zu\" t=\"inlineStr\"%s><is><t xml:space=\"preserve\">", ref, row,
                            style ? " s=\"1\"" : "");
        rc |= put_text(b, cells[c] ? cells[c] : "", XLSX_MAX_CELL);
        rc |= cm_buf_puts(b, "</t></is></c>");
    }
    return rc | cm_buf_puts(b, "</row>");
}

static int sheet_xml(cm_buf_t *b, const char *const *header, size_t ncols, const char *const *cells, size_t nrows)
{
    int rc = cm_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
                            "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
                            "<sheetData>");
    rc |= put_row(b, 1, header, ncols, 1);
    for (size_t r = 0; r < nrows && rc == 0; r++)
        rc |= put_row(b, r + 2, cells + r * ncols, ncols, 0);
    return rc | cm_buf_puts(b, "</sheetData></worksheet>");
}

/* A sheet name Excel accepts: at most 31 characters, none of []:*?/\ (ASCII kept simple). */
static void sheet_name(const char *in, char out[32])
{
    size_t n = 0;
    for (const char *p = in ? in : ""; *p && n < 31; p++)
        if ((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7F && !strchr("[]:*?/\\'", *p))
            out[n++] = *p;
    if (n == 0)
        memcpy(out, "Sheet1", n = 6);
    out[n] = 0;
}

static const char k_content_types[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
    "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
    "<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>"
    "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
    "<Override PartName=\"/xl/workbook.xml\" "
    "ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>"
    "<Override PartName=\"/xl/worksheets/sheet1.xml\" "
    "ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"
    "<Override PartName=\"/xl/styles.xml\" "
    "ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml\"/>"
    "</Types>";

static const char k_root_rels[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Id=\"rId1\" "
    "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" "
    "Target=\"xl/workbook.xml\"/></Relationships>";

static const char k_workbook_rels[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Id=\"rId1\" "
    "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" "
    "Target=\"worksheets/sheet1.xml\"/>"
    "<Relationship Id=\"rId2\" "
    "Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles\" "
    "Target=\"styles.xml\"/></Relationships>";

/* Two cell formats: 0 plain, 1 bold (the header row). */
static const char k_styles[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
    "<styleSheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
    "<fonts count=\"2\"><font><sz val=\"11\"/><name val=\"Calibri\"/></font>"
    "<font><b/><sz val=\"11\"/><name val=\"Calibri\"/></font></fonts>"
    "<fills count=\"2\"><fill><patternFill patternType=\"none\"/></fill>"
    "<fill><patternFill patternType=\"gray125\"/></fill></fills>"
    "<borders count=\"1\"><border><left/><right/><top/><bottom/><diagonal/></border></borders>"
    "<cellStyleXfs count=\"1\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\"/></cellStyleXfs>"
    "<cellXfs count=\"2\"><xf numFmtId=\"0\" fontId=\"0\" fillId=\"0\" borderId=\"0\" xfId=\"0\"/>"
    "<xf numFmtId=\"0\" fontId=\"1\" fillId=\"0\" borderId=\"0\" xfId=\"0\" applyFont=\"1\"/></cellXfs>"
    "<cellStyles count=\"1\"><cellStyle name=\"Normal\" xfId=\"0\" builtinId=\"0\"/></cellStyles>"
    "</styleSheet>";

/* ---- zip (APPNOTE.TXT: local headers, then the central directory, then its end record) ---- */

#define ZIP_MAX_ENTRIES 8

typedef struct zip {
    cm_buf_t *out;
    size_t base;              /* where the archive starts in out */
    struct { char name[64]; uint32_t crc, size, offset; } e[ZIP_MAX_ENTRIES];
    int n;
    uint16_t dos_time, dos_date;
} zip_t;

static int le16(cm_buf_t *b, uint16_t v)
{
    unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    return cm_buf_append(b, x, 2);
}

static int le32(cm_buf_t *b, uint32_t v)
{
    return le16(b, (uint16_t)v) | le16(b, (uint16_t)(v >> 16));
}

static void zip_init(zip_t *z, cm_buf_t *out)
{
    memset(z, 0, sizeof *z);
    z->out = out;
    z->base = out->len;
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    if (tm.tm_year < 80) /* DOS dates start in 1980 */
        tm = (struct tm){.tm_year = 80, .tm_mday = 1};
    z->dos_time = (uint16_t)(tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec / 2);
    z->dos_date = (uint16_t)((tm.tm_year - 80) << 9 | (tm.tm_mon + 1) << 5 | tm.tm_mday);
}

/* One STORED entry. Sizes stay far below 4 GiB (no ZIP64): the caller bounds what it exports. */
static int zip_add(zip_t *z, const char *name, const void *data, size_t len)
{
    if (z->n >= ZIP_MAX_ENTRIES || len > UINT32_MAX / 2 || z->out->len - z->base > UINT32_MAX / 2)
        return -1;
    size_t nlen = strlen(name);
    uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)data, (uInt)len);
    snprintf(z->e[z->n].name, sizeof z->e[z->n].name, "%s", name);
    z->e[z->n].crc = crc;
    z->e[z->n].size = (uint32_t)len;
    z->e[z->n].offset = (uint32_t)(z->out->len - z->base);
    z->n++;
    cm_buf_t *b = z->out;
    int rc = le32(b, 0x04034b50) | le16(b, 20) | le16(b, 0) | le16(b, 0) | le16(b, z->dos_time) |
             le16(b, z->dos_date) | le32(b, crc) | le32(b, (uint32_t)len) | le32(b, (uint32_t)len) |
             le16(b, (uint16_t)nlen) | le16(b, 0);
    return rc | cm_buf_append(b, name, nlen) | cm_buf_append(b, data, len);
}

static int zip_finish(zip_t *z)
{
    cm_buf_t *b = z->out;
    uint32_t cd_start = (uint32_t)(b->len - z->base);
    int rc = 0;
    for (int i = 0; i < z->n; i++) {
        size_t nlen = strlen(z->e[i].name);
        rc |= le32(b, 0x02014b50) | le16(b, 20) | le16(b, 20) | le16(b, 0) | le16(b, 0) | le16(b, z->dos_time) |
              le16(b, z->dos_date) | le32(b, z->e[i].crc) | le32(b, z->e[i].size) | le32(b, z->e[i].size) |
              le16(b, (uint16_t)nlen) | le16(b, 0) | le16(b, 0) | le16(b, 0) | le16(b, 0) | le32(b, 0) |
              le32(b, z->e[i].offset) | cm_buf_append(b, z->e[i].name, nlen);
    }
    uint32_t cd_size = (uint32_t)(b->len - z->base) - cd_start;
    rc |= le32(b, 0x06054b50) | le16(b, 0) | le16(b, 0) | le16(b, (uint16_t)z->n) | le16(b, (uint16_t)z->n) |
          le32(b, cd_size) | le32(b, cd_start) | le16(b, 0);
    return rc;
}

int dh_xlsx_write(cm_buf_t *out, const char *sheet, const char *const *header, size_t ncols,
                  const char *const *cells, size_t nrows)
{
    char name[32];
    cm_buf_t wb, ws;
    zip_t z;
    cm_buf_init(&wb);
    cm_buf_init(&ws);
    sheet_name(sheet, name);
    int rc = cm_buf_puts(&wb, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
                              "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
                              "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
                              "<sheets><sheet name=\"");
    rc |= put_text(&wb, name, 31);
    rc |= cm_buf_puts(&wb, "\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>");
    rc |= sheet_xml(&ws, header, ncols, cells, nrows);
    if (rc == 0) {
        zip_init(&z, out);
        rc = zip_add(&z, "[Content_Types].xml", k_content_types, sizeof k_content_types - 1) |
             zip_add(&z, "_rels/.rels", k_root_rels, sizeof k_root_rels - 1) |
             zip_add(&z, "xl/workbook.xml", wb.data, wb.len) |
             zip_add(&z, "xl/_rels/workbook.xml.rels", k_workbook_rels, sizeof k_workbook_rels - 1) |
             zip_add(&z, "xl/styles.xml", k_styles, sizeof k_styles - 1) |
             zip_add(&z, "xl/worksheets/sheet1.xml", ws.data, ws.len);
        rc |= zip_finish(&z);
    }
    cm_buf_free(&wb);
    cm_buf_free(&ws);
    return rc ? -1 : 0;
}
