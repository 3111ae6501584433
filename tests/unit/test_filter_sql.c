/* SQL92 filter: each operator of RocketMQ's subset on numbers and strings, three-valued logic
 * with missing properties, and clear errors for bad expressions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "filter/filter.h"

/* properties of the test message: a=5, b=abc, price=12.5, TAGS=TagA, flag=true, neg=-3 */
static const char *props[][2] = {{"a", "5"}, {"b", "abc"}, {"price", "12.5"}, {"TAGS", "TagA"},
                                 {"flag", "true"}, {"neg", "-3"}, {"q", "it's"}};

static const char *lookup(void *arg, const char *name, size_t *len)
{
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (strcmp(props[i][0], name) == 0) {
            *len = strlen(props[i][1]);
            return props[i][1];
        }
    return NULL;
}

static int match(const char *sql)
{
    fl_expr_t *e;
    char err[256];
    if (fl_compile(sql, &e, err, sizeof err) != 0) {
        fprintf(stderr, "compile failed: %s: %s\n", sql, err);
        return -1;
    }
    int m = fl_eval(e, lookup, NULL);
    fl_free(e);
    return m;
}

static void test_comparisons_on_numbers_and_strings(void **state)
{
    assert_int_equal(match("a = 5"), 1);
    assert_int_equal(match("a > 4 AND a < 6"), 1);
    assert_int_equal(match("a >= 5 AND a <= 5"), 1);
    assert_int_equal(match("a <> 5"), 0);
    assert_int_equal(match("a != 4"), 1);
    assert_int_equal(match("price > 12.4"), 1);
    assert_int_equal(match("neg < -2"), 1);
    assert_int_equal(match("b = 'abc'"), 1);
    assert_int_equal(match("b <> 'abd'"), 1);
    assert_int_equal(match("b > 'abb'"), 1);
    assert_int_equal(match("TAGS = 'TagA'"), 1);
    assert_int_equal(match("q = 'it''s'"), 1);
    assert_int_equal(match("b > 3"), 0); /* a string that is not a number never compares */
}

static void test_between_in_and_null(void **state)
{
    assert_int_equal(match("a BETWEEN 1 AND 5"), 1);
    assert_int_equal(match("a BETWEEN 6 AND 9"), 0);
    assert_int_equal(match("a NOT BETWEEN 6 AND 9"), 1);
    assert_int_equal(match("b IN ('x', 'abc')"), 1);
    assert_int_equal(match("b NOT IN ('x', 'abc')"), 0);
    assert_int_equal(match("TAGS in ('TagB','TagC')"), 0);
    assert_int_equal(match("missing IS NULL"), 1);
    assert_int_equal(match("a IS NOT NULL"), 1);
    assert_int_equal(match("a is null"), 0);
}

static void test_logic_is_three_valued(void **state)
{
    assert_int_equal(match("missing = 1"), 0);
    assert_int_equal(match("NOT (missing = 1)"), 0);   /* unknown stays unknown */
    assert_int_equal(match("missing = 1 OR a = 5"), 1);
    assert_int_equal(match("missing = 1 AND a = 5"), 0);
    assert_int_equal(match("NOT (a = 4)"), 1);
    assert_int_equal(match("TRUE"), 1);
    assert_int_equal(match("FALSE OR (a = 5 AND (b = 'abc' OR price < 0))"), 1);
    assert_int_equal(match("missing NOT IN ('x')"), 0);
    assert_int_equal(match("flag = TRUE"), 1);
    assert_int_equal(match("a = 5 AND flag"), 1);
}

static void test_bad_expressions_are_rejected_with_a_reason(void **state)
{
    static const char *bad[] = {"", "a =", "a = 'x", "(a = 1", "a = 1)", "a BETWEEN 1", "a IN 1",
                                "a IN ()", "a IS 5", "a", "'x'", "a = 1 b = 2", "a ! 1", "a NOT 5",
                                "a = 1 AND", "# = 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fl_expr_t *e = NULL;
        char err[256] = "";
        assert_int_equal(fl_compile(bad[i], &e, err, sizeof err), -1);
        assert_null(e);
        assert_true(strlen(err) > 0);
    }
    char deep[400];
    memset(deep, '(', 100);
    snprintf(deep + 100, sizeof deep - 100, "a = 1");
    fl_expr_t *e;
    char err[256];
    assert_int_equal(fl_compile(deep, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "nested"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comparisons_on_numbers_and_strings),
        cmocka_unit_test(test_between_in_and_null),
        cmocka_unit_test(test_logic_is_three_valued),
        cmocka_unit_test(test_bad_expressions_are_rejected_with_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
