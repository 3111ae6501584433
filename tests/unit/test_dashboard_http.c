/* The dashboard's request pipeline without a socket (src/dashboard/http.c, auth.c, util.c):
 * query-string decoding, the envelope, unknown paths and methods, static files, and login:
 * wrong passwords, session cookies with HttpOnly/SameSite, CSRF on writes, the normal user's
 * "no permission", the users file reloaded on change, paging bounds. */
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

static char g_dir[] = "/tmp/loulan-dh-unit.XXXXXX";
static char g_users[600];

/* One request through dh_dispatch; the answer's body in *out (caller frees), status returned. */
static int run(dh_req_t *r, const char *method, const char *path, const char *qs, char **out)
{
    cm_buf_t b;
    const char *ctype = NULL;
    cm_buf_init(&b);
    r->method = method;
    r->path = path;
    if (!r->body)
        r->body = "";
    if (qs)
        assert_int_equal(dh_parse_query(r, qs, strlen(qs)), 0);
    int status = dh_dispatch(r, &b, &ctype);
    assert_non_null(ctype);
    cm_buf_putc(&b, 0);
    *out = cm_buf_steal(&b);
    return status;
}

static void test_query_decoding(void **state)
{
    dh_req_t r = {0};
    const char *qs = "a=1&b=%20x+y&a=2&c&%zz=1&&d=%4";
    assert_int_equal(dh_parse_query(&r, qs, strlen(qs)), 0);
    assert_string_equal(dh_param(&r, "a"), "1,2");
    assert_string_equal(dh_param(&r, "b"), " x y");
    assert_string_equal(dh_param(&r, "c"), "");
    assert_string_equal(dh_param(&r, "%zz"), "1");
    assert_string_equal(dh_param(&r, "d"), "%4");
    assert_null(dh_param(&r, "e"));
    dh_req_free(&r);
}

/* %00 would silently cut a value (a date, a topic) short: the request is refused instead */
static void test_nul_refused(void **state)
{
    dh_req_t r = {0};
    char *out;
    assert_int_equal(dh_parse_query(&r, "date=2024-01-01%00junk", 22), -1);
    assert_int_equal(run(&r, "GET", "dashboard/broker.query", NULL, &out), 400);
    assert_non_null(strstr(out, "NUL"));
    free(out);
    dh_req_free(&r);
}

static void test_unknown_and_method(void **state)
{
    dh_req_t r = {0};
    char *out;
    assert_int_equal(run(&r, "GET", "no/such.query", NULL, &out), 404);
    assert_string_equal(out, "{\"status\":-1,\"data\":null,\"errMsg\":\"no such page or request\"}");
    free(out);
    dh_req_free(&r);
    dh_req_t r2 = {0};
    assert_int_equal(run(&r2, "GET", "login/login.do", NULL, &out), 405);
    assert_non_null(strstr(out, "\"status\":-1"));
    free(out);
    dh_req_free(&r2);
}

static void test_static_chartjs(void **state)
{
    dh_req_t r = {0};
    char *out;
    assert_int_equal(run(&r, "GET", "vendor/chart.min.js", NULL, &out), 200);
    assert_non_null(strstr(out, "Chart.js"));
    free(out);
    dh_req_free(&r);
}

static void test_paging(void **state)
{
    dh_req_t r = {0};
    size_t from, to;
    assert_int_equal(dh_page_range(&r, 50, &from, &to), 0);
    assert_true(from == 0 && to == 50);
    assert_int_equal(dh_parse_query(&r, "pageNum=3&pageSize=20", 21), 0);
    assert_int_equal(dh_page_range(&r, 50, &from, &to), 1);
    assert_true(from == 40 && to == 50);
    dh_req_free(&r);
    dh_req_t big = {0};
    assert_int_equal(dh_parse_query(&big, "pageNum=9223372036854775807&pageSize=1000", 41), 0);
    assert_int_equal(dh_page_range(&big, 50, &from, &to), 1);
    assert_true(from == 50 && to == 50);
    dh_req_free(&big);
    dh_req_t bad = {0};
    assert_int_equal(dh_parse_query(&bad, "pageNum=0", 9), 0);
    assert_int_equal(dh_page_range(&bad, 50, &from, &to), -1);
    assert_non_null(strstr(bad.err, "pageNum"));
    dh_req_free(&bad);
}

static void write_users(const char *text)
{
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", g_users);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, g_users), 0);
}

/* Log in; on success the session and CSRF cookies' values are copied out. */
static int login(const char *user, const char *pw, char sess[64], char csrf[64])
{
    dh_req_t r = {0};
    char *out, qs[256];
    snprintf(qs, sizeof qs, "username=%s&password=%s", user, pw);
    run(&r, "POST", "login/login.do", qs, &out);
    int ok = strstr(out, "\"status\":0") != NULL;
    if (ok) {
        const char *s = strstr(r.extra_headers, "LOULAN_SESSION="), *c = strstr(r.extra_headers, "XSRF-TOKEN=");
        assert_non_null(s);
        assert_non_null(c);
        assert_non_null(strstr(r.extra_headers, "HttpOnly; SameSite=Strict"));
        snprintf(sess, 64, "%.32s", s + 15);
        snprintf(csrf, 64, "%.32s", c + 11);
    } else {
        assert_non_null(strstr(out, "Bad username or password!"));
    }
    free(out);
    dh_req_free(&r);
    return ok;
}

/* errMsg-bearing body of a request made with these cookies / header. */
static char *as(const char *method, const char *path, const char *sess, const char *hdr_csrf)
{
    dh_req_t r = {0};
    char *out;
    r.cookie_session = sess;
    r.header_csrf = hdr_csrf;
    run(&r, method, path, NULL, &out);
    dh_req_free(&r);
    return out;
}

static void test_login(void **state)
{
    char sess[64], csrf[64], usess[64], ucsrf[64];
    assert_false(login("admin", "wrong", sess, csrf));
    assert_false(login("nobody", "admin", sess, csrf));
    assert_true(login("admin", "s3cret", sess, csrf));
    assert_true(login("user1", "pw1", usess, ucsrf));

    char *o = as("GET", "login/check.query", sess, NULL);
    assert_non_null(strstr(o, "\"logined\":true"));
    free(o);
    o = as("GET", "ops/homePage.query", NULL, NULL);
    assert_non_null(strstr(o, "user not login"));
    free(o);
    o = as("GET", "ops/homePage.query", "0123456789abcdef0123456789abcdef", NULL);
    assert_non_null(strstr(o, "user not login"));
    free(o);
    /* a write without the CSRF header, or with another session's token */
    o = as("POST", "topic/deleteTopic.do", sess, NULL);
    assert_non_null(strstr(o, "CSRF"));
    free(o);
    o = as("POST", "topic/deleteTopic.do", sess, ucsrf);
    assert_non_null(strstr(o, "CSRF"));
    free(o);
    /* the normal user: reads yes, changes no */
    o = as("POST", "topic/deleteTopic.do", usess, ucsrf);
    assert_non_null(strstr(o, "no permission"));
    free(o);
    o = as("POST", "consumer/resetOffset.do", usess, ucsrf);
    assert_non_null(strstr(o, "no permission"));
    free(o);
    o = as("GET", "login/check.query", usess, NULL);
    assert_non_null(strstr(o, "\"logined\":true"));
    free(o);
    /* the admin passes the checks: whatever the handler says, it is not a refusal */
    o = as("POST", "topic/deleteTopic.do", sess, csrf);
    assert_null(strstr(o, "no permission"));
    assert_null(strstr(o, "CSRF"));
    assert_null(strstr(o, "not login"));
    free(o);
    /* logout ends the session */
    o = as("POST", "login/logout.do", usess, NULL);
    free(o);
    o = as("GET", "ops/homePage.query", usess, NULL);
    assert_non_null(strstr(o, "user not login"));
    free(o);
}

static void test_users_reload(void **state)
{
    char sess[64], csrf[64];
    write_users("admin=changed,1\n");
    struct timespec ts[2] = {{0, UTIME_NOW}, {time(NULL) + 5, 0}}; /* a visibly new mtime */
    assert_int_equal(utimensat(AT_FDCWD, g_users, ts, 0), 0);
    assert_false(login("admin", "s3cret", sess, csrf));
    assert_true(login("admin", "changed", sess, csrf));
    assert_false(login("user1", "pw1", sess, csrf));
}

static int setup(void **state)
{
    assert_non_null(mkdtemp(g_dir));
    snprintf(g_users, sizeof g_users, "%s/users.properties", g_dir);
    write_users("# the original's format\nadmin=s3cret,1\nuser1=pw1\nuser2=pw2,0\n");
    snprintf(g_dh.cfg.data_path, sizeof g_dh.cfg.data_path, "%s", g_dir);
    snprintf(g_dh.ns_list[0], sizeof g_dh.ns_list[0], "127.0.0.1:1");
    g_dh.ns_count = 1;
    return 0;
}

static int login_on(void **state)
{
    g_dh.cfg.login_required = 1;
    snprintf(g_dh.cfg.users_file, sizeof g_dh.cfg.users_file, "%.*s", (int)sizeof g_dh.cfg.users_file - 1, g_users);
    return dh_auth_init();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_decoding),
        cmocka_unit_test(test_nul_refused),
        cmocka_unit_test(test_unknown_and_method),
        cmocka_unit_test(test_static_chartjs),
        cmocka_unit_test(test_paging),
        cmocka_unit_test_setup(test_login, login_on),
        cmocka_unit_test(test_users_reload),
    };
    int rc = cmocka_run_group_tests(tests, setup, NULL);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
