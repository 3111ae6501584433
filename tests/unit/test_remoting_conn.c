/* Connections on one loop, server and client in the same process: a request whose handler
 * blocks the loop longer than the idle timeout does not get its connection closed as idle
 * (issue 12 item 8); the connection limit and fd-limit helpers behave as documented; one
 * connection's pipelined frames do not all run before another's (in order, though), and the
 * frames a reset connection left buffered are not handled (issue 12, stalls); an answer sent by
 * sendfile arrives whole and in order whatever part of it the socket refuses (issue 17). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

/* ---- fairness and dead connections: raw client sockets, the server on this thread's loop ---- */

#define NPIPE 1000 /* frames pipelined on one connection (78 KB), written before the loop reads them */

typedef struct {
    uv_loop_t loop;
    rm_server_t *srv;
    uv_timer_t guard;
    int a, b;            /* raw client sockets */
    int log[NPIPE + 8];  /* opaques in the order the handler saw them (B's is 100000) */
    int nlog;
    int slow_us;         /* handler time per frame */
    int reset_a;         /* on A's first frame: reset A (a client that pipelined and left) */
    int done;
} pipe_fx_t;

static pipe_fx_t *g_px;

/* rcvbuf > 0: that receive buffer, set before connecting so the window starts small */
static int raw_connect(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Oneway frames of code 3, opaques first..first+n-1, written in one go. */
static void raw_pipeline(int fd, int first, int n)
{
    cm_buf_t b;
    cm_buf_init(&b);
    for (int i = 0; i < n; i++) {
        rm_cmd_t cmd;
        rm_cmd_init(&cmd, 3);
        cmd.opaque = first + i;
        cmd.flag = RM_FLAG_ONEWAY;
        assert_int_equal(rm_frame_encode(&cmd, &b), 0);
        rm_cmd_free(&cmd);
    }
    assert_int_equal(write(fd, b.data, b.len), (ssize_t)b.len);
    cm_buf_free(&b);
}

static void px_finish(pipe_fx_t *f)
{
    if (f->done)
        return;
    f->done = 1;
    uv_timer_stop(&f->guard);
    uv_close((uv_handle_t *)&f->guard, NULL);
    rm_server_stop(f->srv);
}

static void h_record(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    (void)c;
    (void)ctx;
    pipe_fx_t *f = g_px;
    if (f->nlog < (int)(sizeof f->log / sizeof f->log[0]))
        f->log[f->nlog++] = req->opaque;
    if (f->slow_us)
        usleep((useconds_t)f->slow_us);
    if (f->nlog == 1 && f->reset_a) {
        struct linger lg = {1, 0}; /* close with RST, as a client with unread answers does */
        setsockopt(f->a, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(f->a);
        f->a = -1;
    } else if (f->nlog == 1) {
        raw_pipeline(f->b, 100000, 1); /* B asks while A's batch is being handled */
    }
    if (f->nlog == NPIPE + 1 && !f->reset_a)
        px_finish(f);
}

static void px_closed(rm_conn_t *c, void *ctx)
{
    (void)c;
    if (g_px->reset_a)
        px_finish(ctx); /* A's reset was noticed */
}

static void px_guard(uv_timer_t *t) { px_finish(t->data); }

static const rm_handler_t k_px_handlers[] = {{3, h_record}};

static void px_run(pipe_fx_t *f)
{
    static rm_endpoint_t ep = {.name = "test-pipe", .handlers = k_px_handlers, .nhandlers = 1,
                               .on_close = px_closed};
    ep.ctx = f;
    g_px = f;
    f->a = f->b = -1;
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(rm_server_start(&f->loop, "127.0.0.1", 0, &ep, &f->srv), 0);
    f->a = raw_connect(rm_server_port(f->srv), 0);
    if (!f->reset_a)
        f->b = raw_connect(rm_server_port(f->srv), 0);
    raw_pipeline(f->a, 1, NPIPE);
    uv_timer_init(&f->loop, &f->guard);
    f->guard.data = f;
    uv_timer_start(&f->guard, px_guard, 20000, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    if (f->a >= 0)
        close(f->a);
    if (f->b >= 0)
        close(f->b);
}

static void test_pipelined_frames_do_not_all_run_before_another_connection(void **state)
{
    (void)state;
    pipe_fx_t f = {0};
    px_run(&f);
    assert_int_equal(f.nlog, NPIPE + 1);
    int pos_b = -1, next_a = 1;
    for (int i = 0; i < f.nlog; i++) {
        if (f.log[i] == 100000)
            pos_b = i;
        else
            assert_int_equal(f.log[i], next_a++); /* one connection's frames stay in order */
    }
    assert_int_equal(next_a, NPIPE + 1);
    /* Before: A's whole first read (64 KiB, ~820 frames) ran before B's frame. */
    assert_true(pos_b >= 1 && pos_b < NPIPE / 4);
}

static void test_reset_connection_drops_its_buffered_frames(void **state)
{
    (void)state;
    pipe_fx_t f = {.slow_us = 2000, .reset_a = 1};
    px_run(&f);
    assert_true(f.done);
    /* Before: all 1000 buffered frames ran (2 s of handler time) after the peer was gone. */
    assert_true(f.nlog >= 1 && f.nlog < NPIPE / 4);
}

/* ---- answers by spans (sendfile): what the socket does not take goes by the ordinary write ---- */

#define SP_FILE (400 * 1024) /* the "commit log": byte i is pattern(i) */
#define SP_SOCKBUF 4096      /* both ends' socket buffers, so the answer cannot fit at once */

typedef struct {
    uv_loop_t loop;
    rm_server_t *srv;
    int cli;             /* raw client socket */
    int fill;            /* fill the server's socket before answering */
    size_t filled;       /* bytes written to fill it, read back first by the client */
    int fd;              /* the file the spans come from */
    uint8_t *mem;        /* the same bytes in memory */
    int answered;
} span_fx_t;

static span_fx_t *g_sp;

static uint8_t pattern(size_t i) { return (uint8_t)(i * 7 % 251); }

/* The server's end of the raw client socket: the descriptor whose peer is the client's address. */
static int server_end(int cli)
{
    struct sockaddr_in me, peer;
    socklen_t l = sizeof me;
    assert_int_equal(getsockname(cli, (struct sockaddr *)&me, &l), 0);
    for (int fd = 3; fd < 4096; fd++) {
        l = sizeof peer;
        if (fd != cli && getpeername(fd, (struct sockaddr *)&peer, &l) == 0 && l == sizeof peer &&
            peer.sin_port == me.sin_port && peer.sin_family == AF_INET)
            return fd;
    }
    fail_msg("no server end for the client socket");
    return -1;
}

/* Three spans: two that touch in the file and in memory (one sendfile run), then one apart. */
static void h_spans(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    (void)ctx;
    span_fx_t *f = g_sp;
    int sock = server_end(f->cli);
    int small = SP_SOCKBUF;
    setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    static const uint8_t junk[1024];
    while (f->fill) { /* a full socket with nothing queued: the answer's header is not taken at all */
        ssize_t w = send(sock, junk, sizeof junk, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w <= 0)
            break;
        f->filled += (size_t)w;
    }
    const size_t at[3][2] = {{0, 100000}, {100000, 120000}, {300000, 90000}};
    rm_span_t spans[3];
    for (int i = 0; i < 3; i++)
        spans[i] = (rm_span_t){uv_buf_init((char *)f->mem + at[i][0], (unsigned)at[i][1]), f->fd, (int64_t)at[i][0]};
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_conn_respond_spans(c, req->opaque, req->serialize, &resp, spans, 3);
    rm_cmd_free(&resp);
    f->answered = 1;
}

static const rm_handler_t k_sp_handlers[] = {{5, h_spans}};

/* Read n bytes from the client while the server's loop runs (bounded: 30 s). */
static void pump_read(span_fx_t *f, uint8_t *out, size_t n)
{
    size_t got = 0;
    uint64_t deadline = uv_hrtime() + 30ull * 1000000000ull;
    while (got < n && uv_hrtime() < deadline) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        ssize_t r = recv(f->cli, out + got, n - got, MSG_DONTWAIT);
        if (r > 0)
            got += (size_t)r;
        else if (r == 0)
            break;
        else
            usleep(200);
    }
    assert_int_equal(got, n);
}

static void spans_answer(int fill)
{
    static const rm_endpoint_t ep = {.name = "test-spans", .handlers = k_sp_handlers, .nhandlers = 1};
    span_fx_t f = {.fill = fill};
    g_sp = &f;
    char path[] = "/tmp/loulan-spans-XXXXXX";
    f.fd = mkstemp(path);
    assert_true(f.fd >= 0);
    unlink(path);
    f.mem = malloc(SP_FILE);
    for (size_t i = 0; i < SP_FILE; i++)
        f.mem[i] = pattern(i);
    assert_int_equal(write(f.fd, f.mem, SP_FILE), SP_FILE);

    assert_int_equal(uv_loop_init(&f.loop), 0);
    assert_int_equal(rm_server_start(&f.loop, "127.0.0.1", 0, &ep, &f.srv), 0);
    f.cli = raw_connect(rm_server_port(f.srv), SP_SOCKBUF);
    rm_cmd_t req;
    rm_cmd_init(&req, 5);
    req.opaque = 77;
    cm_buf_t b;
    cm_buf_init(&b);
    assert_int_equal(rm_frame_encode(&req, &b), 0);
    assert_int_equal(write(f.cli, b.data, b.len), (ssize_t)b.len);
    cm_buf_free(&b);
    rm_cmd_free(&req);

    uint64_t deadline = uv_hrtime() + 30ull * 1000000000ull;
    while (!f.answered && uv_hrtime() < deadline)
        uv_run(&f.loop, UV_RUN_ONCE);
    assert_true(f.answered);
    assert_true(fill == 0 || f.filled > 0);
    uint8_t *junk = malloc(f.filled + 1);
    pump_read(&f, junk, f.filled);
    free(junk);

    uint8_t prefix[4];
    pump_read(&f, prefix, 4);
    int64_t size = rm_frame_size(prefix, 4);
    size_t body = 100000 + 120000 + 90000;
    assert_true(size > (int64_t)(4 + body) && size < (int64_t)(4 + body + 4096));
    uint8_t *frame = malloc((size_t)size);
    memcpy(frame, prefix, 4);
    pump_read(&f, frame + 4, (size_t)size - 4);
    rm_cmd_t resp;
    assert_int_equal(rm_frame_decode(frame, (size_t)size, &resp), 0);
    assert_int_equal(resp.opaque, 77);
    assert_true(resp.flag & RM_FLAG_RESPONSE);
    assert_int_equal(resp.body_len, body);
    /* Every byte in its place: the file's [0, 220000) then [300000, 390000). */
    for (size_t i = 0; i < body; i++) {
        size_t off = i < 220000 ? i : 300000 + (i - 220000);
        if (resp.body[i] != pattern(off))
            fail_msg("body byte %zu is %u, not %u (file offset %zu)", i, resp.body[i], pattern(off), off);
    }
    rm_cmd_free(&resp);
    free(frame);

    close(f.cli);
    rm_server_stop(f.srv);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    close(f.fd);
    free(f.mem);
}

/* The socket takes the header and part of the first run, then is full: the rest, from the middle
 * of a span, goes by the ordinary write. */
static void test_spans_answer_continues_where_sendfile_stopped(void **state)
{
    (void)state;
    spans_answer(0);
}

/* The socket is full before the answer (a full socket with an empty write queue): not even the
 * header is taken, and the whole answer goes by the ordinary write, after the bytes before it. */
static void test_spans_answer_to_a_full_socket_keeps_its_header(void **state)
{
    (void)state;
    spans_answer(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_handler_does_not_make_its_connection_idle),
        cmocka_unit_test(test_limits_are_kept_and_fd_limit_is_readable),
        cmocka_unit_test(test_pipelined_frames_do_not_all_run_before_another_connection),
        cmocka_unit_test(test_reset_connection_drops_its_buffered_frames),
        cmocka_unit_test(test_spans_answer_continues_where_sendfile_stopped),
        cmocka_unit_test(test_spans_answer_to_a_full_socket_keeps_its_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
