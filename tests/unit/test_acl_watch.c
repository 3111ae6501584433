/* The table in use and its reloads (src/acl/watch.c): a forced reload swaps in the edited
 * file's accounts and tells the caller; a file that no longer loads keeps the accounts in use;
 * the periodic check finds an edit by itself; stopping frees everything (ASan checks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "acl/acl.h"

static void write_file(const char *path, const char *text)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0);
}

static const char k_one[] = "accounts:\n  - accessKey: firstKey1\n    secretKey: firstSecret1\n";
static const char k_two[] = "accounts:\n  - accessKey: firstKey1\n    secretKey: firstSecret1\n"
                            "  - accessKey: secondKey2\n    secretKey: secondSecret2\n    admin: true\n";
static const char k_bad[] = "accounts:\n  - accessKey: short\n    secretKey: x\n";

typedef struct { int calls, ok; } done_t;
static void on_done(void *arg, int ok)
{
    done_t *d = arg;
    d->calls++;
    d->ok = ok;
}

/* Run the loop until d has been called (bounded: 30 s of turns). */
static void run_until(uv_loop_t *loop, done_t *d, int calls)
{
    for (int i = 0; i < 30000 && d->calls < calls; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    assert_int_equal(d->calls, calls);
}

static void test_reload_and_keep(void **state)
{
    (void)state;
    char dir[] = "/tmp/acl-watch-XXXXXX", path[600];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/namesrv_acl.yml", dir);
    write_file(path, k_one);
    uv_loop_t loop;
    uv_loop_init(&loop);
    acl_watch_t *w;
    char err[256];
    assert_int_equal(acl_watch_start(&loop, path, 1, "test", &w, err, sizeof err), 0);
    assert_int_equal(acl_watch_table(w)->naccounts, 1);

    write_file(path, k_two);
    done_t d = {0};
    acl_watch_reload(w, on_done, &d);
    acl_watch_reload(w, on_done, &d); /* asked while the first runs: both are told */
    run_until(&loop, &d, 2);
    assert_int_equal(d.ok, 1);
    assert_int_equal(acl_watch_table(w)->naccounts, 2);
    assert_non_null(acl_account(acl_watch_table(w), "secondKey2"));

    write_file(path, k_bad); /* keys shorter than 7 characters: the load fails */
    done_t bad = {0};
    acl_watch_reload(w, on_done, &bad);
    run_until(&loop, &bad, 1);
    assert_int_equal(bad.ok, 0);
    assert_int_equal(acl_watch_table(w)->naccounts, 2); /* the accounts in use stay */

    /* the 5 s check notices an edit without being asked */
    write_file(path, k_one);
    for (int i = 0; i < 30000 && acl_watch_table(w)->naccounts != 1; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    assert_int_equal(acl_watch_table(w)->naccounts, 1);

    acl_watch_stop(w);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(path);
    rmdir(dir);
}

static void test_start_fails_on_a_bad_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/acl-watch-XXXXXX", path[600];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/namesrv_acl.yml", dir);
    write_file(path, k_bad);
    uv_loop_t loop;
    uv_loop_init(&loop);
    acl_watch_t *w = NULL;
    char err[256] = "";
    assert_int_equal(acl_watch_start(&loop, path, 1, "test", &w, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than 6"));
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload_and_keep),
        cmocka_unit_test(test_start_fails_on_a_bad_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
