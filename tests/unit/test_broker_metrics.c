/* Unit tests for the /metrics label escaping (broker/metrics.c): whatever a client names its
 * group or topic, the value stays inside one label of one line of the Prometheus text format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "broker/core/core.h"

static char *escaped(cm_buf_t *o, const char *v)
{
    cm_buf_reset(o);
    br_metrics_escape(o, v);
    cm_buf_putc(o, 0);
    return o->data;
}

static void test_metrics_escape_keeps_plain_names(void **state)
{
    cm_buf_t o;
    cm_buf_init(&o);
    assert_string_equal(escaped(&o, "%RETRY%Group_1-a|b"), "%RETRY%Group_1-a|b");
    assert_string_equal(escaped(&o, ""), "");
    cm_buf_free(&o);
}

static void test_metrics_escape_quotes_backslashes_and_newlines(void **state)
{
    cm_buf_t o;
    cm_buf_init(&o);
    assert_string_equal(escaped(&o, "a\\b"), "a\\\\b");
    assert_string_equal(escaped(&o, "say \"hi\""), "say \\\"hi\\\"");
    assert_string_equal(escaped(&o, "one\ntwo"), "one\\ntwo");
    /* a tab or a carriage return needs no escape in the text format: kept as it is */
    assert_string_equal(escaped(&o, "a\tb\rc"), "a\tb\rc");
    cm_buf_free(&o);
}

/* The hostile value: it tries to close the label set, end the line and add a series. */
static void test_metrics_escape_hostile_value_stays_one_label(void **state)
{
    const char *evil = "G\"} 1\nrocketmq_injected_total{x=\"y\"} 42\n# \\";
    cm_buf_t o;
    cm_buf_init(&o);
    const char *e = escaped(&o, evil);
    assert_string_equal(e, "G\\\"} 1\\nrocketmq_injected_total{x=\\\"y\\\"} 42\\n# \\\\");
    assert_null(strchr(e, '\n'));
    /* every quote in the output is escaped: a parser never sees the label end early */
    for (const char *p = strchr(e, '"'); p; p = strchr(p + 1, '"')) {
        size_t bs = 0;
        for (const char *q = p; q > e && q[-1] == '\\'; q--)
            bs++;
        assert_int_equal(bs % 2, 1);
    }
    cm_buf_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_escape_keeps_plain_names),
        cmocka_unit_test(test_metrics_escape_quotes_backslashes_and_newlines),
        cmocka_unit_test(test_metrics_escape_hostile_value_stays_one_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
