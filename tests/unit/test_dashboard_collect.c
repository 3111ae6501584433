/* The Dashboard page's day files (src/dashboard/collect.c) without a cluster: strict dates, the
 * keepDays retention (only our own day files go), reading an earlier day (bad samples left out,
 * runs of equal samples kept by their ends, the newest samples kept when a series is too long,
 * the .bak of a damaged file, a changed file read again), and today's files loaded into memory
 * at start, with topicCurrent's order and a prompt stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dashboard/dashboard.h"

static char g_dir[] = "/tmp/loulan-dh-collect.XXXXXX";

static void put(const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int exists(const char *name)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    return access(path, F_OK) == 0;
}

/* The answer as compact JSON text (caller frees). */
static char *query(int topics, const char *date, const char *key)
{
    lj_val_t *v = NULL;
    char err[200];
    cm_buf_t b;
    assert_int_equal(dh_collect_query(topics, date, key, &v, err, sizeof err), 0);
    cm_buf_init(&b);
    lj_write(v, LJ_W_STRICT, &b);
    lj_free(v);
    cm_buf_putc(&b, 0);
    return cm_buf_steal(&b);
}

static void test_dates_are_strict(void **state)
{
    int64_t days;
    assert_int_equal(dh_collect_date_ok("1970-01-01", &days), 0);
    assert_int_equal(days, 0);
    assert_int_equal(dh_collect_date_ok("2000-03-01", &days), 0);
    assert_int_equal(days, 11017);
    assert_int_equal(dh_collect_date_ok("2024-02-29", NULL), 0);
    const char *bad[] = {"", "2023-02-29", "1900-02-29", "2024-04-31", "2024-13-01", "2024-00-01", "2024-01-00",
                         "1969-12-31", "2024-1-01", "2024-01-1x", "2024-01-01 ", "../../etc/x", "2024/01/01",
                         "+024-01-01", "2024-01-01/..", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_not_equal(dh_collect_date_ok(bad[i], NULL), 0);
    assert_int_not_equal(dh_collect_date_ok(NULL, NULL), 0);
}

static void test_prune_keeps_days_and_strangers(void **state)
{
    const char *gone[] = {"dashboard2024-03-01.json", "dashboard2024-03-01_topic.json", "dashboard2024-03-07.json",
                          "dashboard2024-03-07.json.bak", "dashboard2024-03-07_topic.json.tmp", NULL};
    const char *kept[] = {"dashboard2024-03-08.json", "dashboard2024-03-10_topic.json", "dashboard2024-03-11.json",
                          "dashboard2024-13-01.json", "dashboard2024-03-01.json.old", "dashboard2024-03-01x.json",
                          "dashboard-notes.json", "other2024-03-01.json", NULL};
    for (int i = 0; gone[i]; i++)
        put(gone[i], "{}");
    for (int i = 0; kept[i]; i++)
        put(kept[i], "{}");
    assert_int_equal(dh_collect_prune(g_dir, "2024-03-10", 3), 5);
    for (int i = 0; gone[i]; i++)
        assert_false(exists(gone[i]));
    for (int i = 0; kept[i]; i++) {
        assert_true(exists(kept[i]));
        char path[700];
        snprintf(path, sizeof path, "%s/%s", g_dir, kept[i]);
        unlink(path);
    }
    assert_int_equal(dh_collect_prune(g_dir, "bad", 3), -1);
    assert_int_equal(dh_collect_prune("/nonexistent/dir", "2024-03-10", 3), -1);
}

static void test_earlier_day_file(void **state)
{
    put("dashboard2024-05-01.json",
        "{\"b:0\":[\"1,1.5\",\"x\",\"2,NaN\",\"3,1.5,7\",7,\"4,2.25\",\"5,2.25\",\"6,2.25\",\"7,2.25\",\"8,3\"],"
        "\"b:1\":\"not a list\",\"b:2\":[]}");
    char *s = query(0, "2024-05-01", NULL);
    /* the run 4..7 of 2.25 keeps its ends; what does not parse is left out, and so are series
     * left without a sample */
    assert_string_equal(s, "{\"b:0\":[\"1,1.50000\",\"4,2.25000\",\"7,2.25000\",\"8,3.00000\"]}");
    free(s);
    s = query(0, "2024-05-01", "b:0");
    assert_string_equal(s, "[\"1,1.50000\",\"4,2.25000\",\"7,2.25000\",\"8,3.00000\"]");
    free(s);
    s = query(0, "2024-05-01", "nope");
    assert_string_equal(s, "null");
    free(s);
    /* no file: {} and null */
    s = query(1, "2024-05-02", NULL);
    assert_string_equal(s, "{}");
    free(s);
    s = query(1, "2024-05-02", "T");
    assert_string_equal(s, "null");
    free(s);

    /* a changed file is read again (the cache knows its size and time) */
    put("dashboard2024-05-01.json", "{\"b:0\":[\"10,4\"]}");
    s = query(0, "2024-05-01", NULL);
    assert_string_equal(s, "{\"b:0\":[\"10,4.00000\"]}");
    free(s);

    /* damaged: its .bak; both damaged: an error */
    put("dashboard2024-05-03_topic.json", "{\"T\":[\"1,2,3");
    put("dashboard2024-05-03_topic.json.bak", "{\"T\":[\"1,2.5,3,4.5,6\"]}");
    s = query(1, "2024-05-03", "T");
    assert_string_equal(s, "[\"1,2.50000,3,4.50000,6\"]");
    free(s);
    put("dashboard2024-05-04_topic.json", "[1,2]");
    lj_val_t *v = NULL;
    char err[200] = "";
    assert_int_equal(dh_collect_query(1, "2024-05-04", NULL, &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "2024-05-04"));
    assert_int_equal(dh_collect_query(1, "../x", NULL, &v, err, sizeof err), -1);
}

static void test_long_series_keeps_newest(void **state)
{
    cm_buf_t b;
    cm_buf_init(&b);
    cm_buf_puts(&b, "{\"k\":[");
    for (int i = 0; i < 4000; i++)
        cm_buf_printf(&b, "%s\"%d,%d\"", i ? "," : "", 1000 + i, i);
    cm_buf_puts(&b, "]}");
    put("dashboard2024-06-01.json", b.data);
    cm_buf_free(&b);
    lj_val_t *v = NULL;
    char err[200];
    assert_int_equal(dh_collect_query(0, "2024-06-01", "k", &v, err, sizeof err), 0);
    assert_int_equal(v->type, LJ_ARR);
    assert_true(v->n >= 1000 && v->n <= 2000);
    assert_string_equal(lj_str(v->items[v->n - 1], ""), "4999,3999.00000");
    lj_free(v);
}

/* Today's files are loaded at start and served from memory; topicCurrent: largest first. The
 * name server is a closed local port: every round fails at once, and the stop is prompt. */
static void test_today_from_memory(void **state)
{
    char today[16], name[64];
    dh_date(cm_now_ms(), today);
    snprintf(name, sizeof name, "dashboard%s_topic.json", today);
    put(name, "{\"A\":[\"1,0,5,0,7\"],\"B\":[\"1,0,5,0,2\",\"2,1,9,1,40\"],\"C\":[\"1,0,1,0,7\"]}");
    snprintf(name, sizeof name, "dashboard%s.json", today);
    put(name, "{\"broker-x:0\":[\"5,1.25\"]}");
    pthread_mutex_lock(&g_dh.mu);
    snprintf(g_dh.ns_list[0], sizeof g_dh.ns_list[0], "127.0.0.1:1");
    g_dh.ns_count = 1;
    g_dh.cfg.collect_interval_s = 3600;
    pthread_mutex_unlock(&g_dh.mu);
    assert_int_equal(dh_collect_start(), 0);
    put(name, "{\"other\":[]}"); /* memory, not the file, answers for today */
    char *s = query(0, today, NULL);
    assert_string_equal(s, "{\"broker-x:0\":[\"5,1.25000\"]}");
    free(s);
    lj_val_t *v = NULL;
    char err[200];
    assert_int_equal(dh_collect_current(&v, err, sizeof err), 0);
    cm_buf_t b;
    cm_buf_init(&b);
    lj_write(v, LJ_W_STRICT, &b);
    assert_string_equal(b.data, "[\"B,40\",\"A,7\",\"C,7\"]");
    cm_buf_free(&b);
    lj_free(v);
    uint64_t t0 = cm_mono_ms();
    dh_collect_stop();
    assert_true(cm_mono_ms() - t0 < 5000);
}

int main(void)
{
    assert_non_null(mkdtemp(g_dir));
    snprintf(g_dh.cfg.data_path, sizeof g_dh.cfg.data_path, "%s", g_dir);
    g_dh.cfg.data_days = 7;
    cm_log_open(NULL, "test", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dates_are_strict),
        cmocka_unit_test(test_prune_keeps_days_and_strangers),
        cmocka_unit_test(test_earlier_day_file),
        cmocka_unit_test(test_long_series_keeps_newest),
        cmocka_unit_test(test_today_from_memory),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
