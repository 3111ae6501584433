/* Connections on one loop, server and client in the same process: a request whose handler
 * blocks the loop longer than the idle timeout does not get its connection closed as idle
 * (issue 12 item 8); the connection limit and fd-limit helpers behave as documented. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remoting/remoting.h"

#define IDLE_MS 400
#define SLOW_MS 1200 /* three idle timeouts: the old code closed the connection after this */

typedef struct {
    uv_loop_t loop;
    rm_server_t *srv;
    rm_conn_t *cli;
    int answers;     /* answers received, in order */
    int last_status;
    uv_timer_t guard;
} fixture_t;

static void h_slow(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    (void)ctx;
    usleep(SLOW_MS * 1000); /* a handler that blocks the loop (a slow disk, a big scan) */
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static void h_fast(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    (void)ctx;
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static const rm_handler_t k_handlers[] = {{1, h_slow}, {2, h_fast}};
static const rm_endpoint_t k_server_ep = {.name = "test-server", .handlers = k_handlers, .nhandlers = 2,
                                          .idle_timeout_ms = IDLE_MS};
static const rm_endpoint_t k_client_ep = {.name = "test-client"};

static void finish(fixture_t *f)
{
    uv_timer_stop(&f->guard);
    uv_close((uv_handle_t *)&f->guard, NULL);
    rm_conn_close(f->cli);
    rm_server_stop(f->srv);
}

static void on_second(int status, rm_cmd_t *resp, void *arg)
{
    fixture_t *f = arg;
    f->last_status = status;
    if (status == RM_OK && resp->code == RC_SUCCESS)
        f->answers++;
    finish(f);
}

/* Right after the slow answer the connection must still be usable: ask again at once. */
static void on_first(int status, rm_cmd_t *resp, void *arg)
{
    fixture_t *f = arg;
    f->last_status = status;
    if (status != RM_OK || resp->code != RC_SUCCESS) {
        finish(f);
        return;
    }
    f->answers++;
    rm_cmd_t req;
    rm_cmd_init(&req, 2);
    if (rm_conn_invoke(f->cli, &req, 5000, on_second, f) != 0)
        finish(f);
    rm_cmd_free(&req);
}

static void on_guard(uv_timer_t *t)
{
    finish(t->data); /* bounded: the test never hangs */
}

static void test_slow_handler_does_not_make_its_connection_idle(void **state)
{
    (void)state;
    fixture_t f = {0};
    assert_int_equal(uv_loop_init(&f.loop), 0);
    assert_int_equal(rm_server_start(&f.loop, "127.0.0.1", 0, &k_server_ep, &f.srv), 0);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", rm_server_port(f.srv));
    assert_int_equal(rm_conn_connect(&f.loop, addr, &k_client_ep, &f.cli), 0);
    rm_conn_ref(f.cli);
    uv_timer_init(&f.loop, &f.guard);
    f.guard.data = &f;
    uv_timer_start(&f.guard, on_guard, 30000, 0);
    rm_cmd_t req;
    rm_cmd_init(&req, 1);
    assert_int_equal(rm_conn_invoke(f.cli, &req, 20000, on_first, &f), 0);
    rm_cmd_free(&req);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    rm_conn_unref(f.cli);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    assert_int_equal(f.last_status, RM_OK);
    assert_int_equal(f.answers, 2);
}

static void test_limits_are_kept_and_fd_limit_is_readable(void **state)
{
    (void)state;
    rm_set_max_connections(50);
    assert_int_equal(rm_max_connections(), 50);
    rm_set_max_connections(-3); /* nonsense means no limit, not a negative count */
    assert_int_equal(rm_max_connections(), 0);
    int fds = rm_raise_fd_limit();
    assert_true(fds > 0);
    assert_int_equal(rm_raise_fd_limit(), fds); /* already raised: stays */
    int max = rm_setup_limits("test", 1 << 24);
    assert_true(max >= 1 && max <= fds); /* never more connections than descriptors */
    assert_int_equal(rm_max_connections(), max);
    rm_set_max_connections(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_handler_does_not_make_its_connection_idle),
        cmocka_unit_test(test_limits_are_kept_and_fd_limit_is_readable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
