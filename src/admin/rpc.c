/* rpc.c: one blocking admin request over a private libuv loop, and the checks of its answer
 * (contracts in admin.h). A private loop per call costs a connect per request; on loopback and
 * LAN that is well under a millisecond, and it keeps every call independent of every other
 * thread, which is what a multi-threaded HTTP server needs. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"

typedef struct call { int done, status; rm_cmd_t resp; } call_t;

static ad_sign_fn g_sign;
static int g_timeout_ms = 5000;
static const rm_endpoint_t k_ep = {.name = "admin"};

void ad_set_signer(ad_sign_fn fn) { g_sign = fn; }
void ad_set_timeout_ms(int ms) { g_timeout_ms = ms > 0 ? ms : 5000; }

int ad_fail(ad_err_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static void on_resp(int status, rm_cmd_t *resp, void *arg)
{
    call_t *c = arg;
    c->done = 1;
    c->status = status;
    if (resp) {
        c->resp = *resp;
        memset(resp, 0, sizeof *resp); /* take ownership of its strings */
        rm_cmd_own_body(&c->resp);
    }
}

int ad_rpc(const char *addr, rm_cmd_t *req, rm_cmd_t *resp, ad_err_t *e)
{
    if (!addr || !*addr)
        return ad_fail(e, "no address to send to");
    if (g_sign && g_sign(req, e))
        return -1;
    uv_loop_t loop;
    uv_loop_init(&loop);
    rm_conn_t *conn = NULL;
    call_t c = {0};
    int rc = rm_conn_connect(&loop, addr, &k_ep, &conn);
    if (rc == 0) {
        rm_conn_ref(conn); /* ours: a failed connect closes and releases the library's own */
        rc = rm_conn_invoke(conn, req, g_timeout_ms, on_resp, &c);
    }
    uint64_t end = cm_mono_ms() + (uint64_t)g_timeout_ms + 1000;
    while (rc == 0 && !c.done && cm_mono_ms() < end)
        uv_run(&loop, UV_RUN_ONCE);
    if (conn)
        rm_conn_close(conn);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (conn)
        rm_conn_unref(conn);
    uv_loop_close(&loop);
    if (rc || !c.done || c.status) {
        rm_cmd_free(&c.resp);
        return ad_fail(e, "no answer from %s (%s)", addr, c.status == RM_ETIMEOUT ? "timeout" : "connection failed");
    }
    *resp = c.resp;
    return 0;
}

/* RocketMQ's remarks may carry a second "See http://...faq" line: only the first is kept. */
int ad_rpc_ok(const char *addr, rm_cmd_t *req, rm_cmd_t *resp, ad_err_t *e)
{
    if (ad_rpc(addr, req, resp, e))
        return -1;
    if (resp->code == RC_SUCCESS)
        return 0;
    const char *r = resp->remark ? resp->remark : "";
    ad_fail(e, "CODE: %d DESC: %.*s", resp->code, (int)strcspn(r, "\n"), r);
    rm_cmd_free(resp);
    return -1;
}

int ad_call(const char *addr, rm_cmd_t *req, lj_val_t **json, ad_err_t *e)
{
    rm_cmd_t resp;
    if (ad_rpc_ok(addr, req, &resp, e))
        return -1;
    int rc = 0;
    if (json && lj_parse((const char *)resp.body, resp.body_len, json) != 0)
        rc = ad_fail(e, "unreadable answer from %s", addr);
    rm_cmd_free(&resp);
    return rc;
}

int ad_call_v(const char *addr, rm_cmd_t *resp, lj_val_t **json, ad_err_t *e, const void *body, size_t blen,
                  int code, va_list ap)
{
    rm_cmd_t req;
    rm_cmd_init(&req, code);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        if (v)
            rm_ext_set(&req, k, v);
    }
    req.body = body;
    req.body_len = blen;
    int rc = resp ? ad_rpc_ok(addr, &req, resp, e) : ad_call(addr, &req, json, e);
    req.body = NULL;
    rm_cmd_free(&req);
    return rc;
}

int ad_call_fields(const char *addr, lj_val_t **json, ad_err_t *e, int code, ...)
{
    va_list ap;
    va_start(ap, code);
    int rc = ad_call_v(addr, NULL, json, e, NULL, 0, code, ap);
    va_end(ap);
    return rc;
}

int ad_call_body(const char *addr, lj_val_t **json, ad_err_t *e, const void *body, size_t blen, int code, ...)
{
    va_list ap;
    va_start(ap, code);
    int rc = ad_call_v(addr, NULL, json, e, body, blen, code, ap);
    va_end(ap);
    return rc;
}

int ad_call_raw(const char *addr, rm_cmd_t *resp, ad_err_t *e, const void *body, size_t blen, int code, ...)
{
    rm_cmd_t ignored;
    va_list ap;
    va_start(ap, code);
    int rc = ad_call_v(addr, resp ? resp : &ignored, NULL, e, body, blen, code, ap);
    va_end(ap);
    if (rc == 0 && !resp)
        rm_cmd_free(&ignored);
    return rc;
}
