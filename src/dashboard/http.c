/* http.c: libmicrohttpd glue and the request pipeline (contracts in dashboard.h).
 *
 * Why libmicrohttpd: a small, long-lived GNU library in Debian (libmicrohttpd-dev) whose C API
 * is one callback per request, with its own worker-thread pool. Handlers here block on admin
 * calls to brokers (up to the admin timeout), which a thread pool absorbs without any async
 * machinery; h2o's strength, HTTP/2 and an event loop shared with the handlers, buys nothing
 * for a console that makes a few requests a second.
 *
 * The pipeline (dh_dispatch) knows nothing of MHD, so tests and the fuzz target drive it with
 * a dh_req_t: static file, else route lookup, method check, login and role check, handler, and
 * rocketmq-dashboard's envelope around what the handler returned. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "dashboard.h"

#define MAX_BODY (4u << 20)  /* the largest body accepted: a batch resend of thousands of ids */
#define MAX_PARAMS 256

static const dh_route_t *const k_tables[] = {
    dh_routes_cluster, dh_routes_topic, dh_routes_consumer, dh_routes_producer, dh_routes_message,
    dh_routes_dlq,     dh_routes_ops,   dh_routes_dashboard, dh_routes_login,
};

static const dh_route_t *find_route(const char *path)
{
    for (size_t t = 0; t < sizeof k_tables / sizeof *k_tables; t++)
        for (const dh_route_t *rt = k_tables[t]; rt->path; rt++)
            if (strcmp(rt->path, path) == 0)
                return rt;
    return NULL;
}

/* Whether method is in the comma list (NULL list: any). */
static int method_ok(const char *methods, const char *method)
{
    if (!methods)
        return 1;
    size_t n = strlen(method);
    for (const char *p = methods; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, method, n) == 0)
            return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

static void envelope(cm_buf_t *out, const lj_val_t *data, const char *err)
{
    cm_buf_puts(out, err ? "{\"status\":-1,\"data\":" : "{\"status\":0,\"data\":");
    if (data && !err)
        lj_write(data, LJ_W_STRICT, out);
    else
        cm_buf_puts(out, "null");
    cm_buf_puts(out, ",\"errMsg\":");
    if (err) {
        lj_val_t *s = lj_new_str(err);
        if (s)
            lj_write(s, LJ_W_STRICT, out);
        else
            cm_buf_puts(out, "\"out of memory\"");
        lj_free(s);
    } else {
        cm_buf_puts(out, "null");
    }
    cm_buf_putc(out, '}');
}

static const char k_json[] = "application/json;charset=utf-8";

/* A failure answered before any handler ran. */
static int refuse(dh_req_t *r, int status, const char *msg, cm_buf_t *out, const char **ctype)
{
    snprintf(r->err, sizeof r->err, "%s", msg);
    envelope(out, NULL, r->err);
    *ctype = k_json;
    return status;
}

static int serve_asset(const dh_asset_t *a, cm_buf_t *out, const char **ctype)
{
    cm_buf_append(out, a->data, a->len);
    *ctype = a->type;
    return 200;
}

int dh_dispatch(dh_req_t *r, cm_buf_t *out, const char **ctype)
{
    const dh_asset_t *a = dh_asset_find(r->path);
    if (a && (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0))
        return serve_asset(a, out, ctype);
    if (r->bad_params)
        return refuse(r, 400, "bad parameters: a NUL byte, or more than 256 of them", out, ctype);
    int redirect = 0; /* login first: without a session nothing tells which paths exist */
    if (dh_auth_check(r, &redirect) != 0) {
        envelope(out, NULL, r->err);
        *ctype = k_json;
        return 200;
    }
    const dh_route_t *rt = find_route(r->path);
    if (!rt)
        return refuse(r, 404, "no such page or request", out, ctype);
    if (!method_ok(rt->methods, r->method))
        return refuse(r, 405, "method not allowed", out, ctype);
    lj_val_t *data = NULL;
    int rc = rt->fn(r, &data);
    if (rc == 0 && r->raw) {
        lj_free(data);
        cm_buf_append(out, r->raw, r->raw_len);
        *ctype = r->raw_type ? r->raw_type : "text/plain;charset=utf-8";
        return r->http_status ? r->http_status : 200;
    }
    if (rc != 0 && !r->err[0])
        snprintf(r->err, sizeof r->err, "failed");
    envelope(out, data, rc ? r->err : NULL);
    lj_free(data);
    *ctype = k_json;
    return r->http_status ? r->http_status : 200;
}

/* ---- parameters ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode (and '+' to space) n bytes of s into a new string. */
static char *url_decode(const char *s, size_t n)
{
    char *o = malloc(n + 1), *w = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (s[i] == '+')
            *w++ = ' ';
        else if (s[i] == '%' && i + 2 < n && (h = hexval((unsigned char)s[i + 1])) >= 0 &&
                 (l = hexval((unsigned char)s[i + 2])) >= 0) {
            if (!(h | l)) { /* %00 would cut the value short unseen: refuse the request */
                free(o);
                return NULL;
            }
            *w++ = (char)(h << 4 | l);
            i += 2;
        } else
            *w++ = s[i];
    }
    *w = 0;
    return o;
}

/* Add key=val; a repeated key gets the new value appended after a comma (Spring's binding). */
static int add_param(dh_req_t *r, char *key, char *val)
{
    for (size_t i = 0; i < r->nparams; i++) {
        if (strcmp(r->params[i].key, key) != 0)
            continue;
        size_t a = strlen(r->params[i].val), b = strlen(val);
        char *j = realloc(r->params[i].val, a + b + 2);
        if (!j)
            goto oom;
        j[a] = ',';
        memcpy(j + a + 1, val, b + 1);
        r->params[i].val = j;
        free(key);
        free(val);
        return 0;
    }
    if (r->nparams >= MAX_PARAMS)
        goto oom; /* more than 256 distinct keys is not a console request: refused (400) */
    dh_kv_t *p = realloc(r->params, (r->nparams + 1) * sizeof *p);
    if (!p)
        goto oom;
    r->params = p;
    r->params[r->nparams++] = (dh_kv_t){key, val};
    return 0;
oom:
    free(key);
    free(val);
    return -1;
}

int dh_parse_query(dh_req_t *r, const char *qs, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && qs[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && qs[eq] != '=')
            eq++;
        if (end > i) {
            char *k = url_decode(qs + i, eq - i);
            char *v = eq < end ? url_decode(qs + eq + 1, end - eq - 1) : cm_strdup("");
            if (!k || !v || add_param(r, k, v)) {
                if (!k || !v) {
                    free(k);
                    free(v);
                }
                r->bad_params = 1;
                return -1;
            }
        }
        i = end + 1;
    }
    return 0;
}

void dh_req_free(dh_req_t *r)
{
    for (size_t i = 0; i < r->nparams; i++) {
        free(r->params[i].key);
        free(r->params[i].val);
    }
    free(r->params);
    lj_free(r->json);
    free(r->raw);
    r->params = NULL;
    r->nparams = 0;
    r->json = NULL;
    r->raw = NULL;
}

/* ---- libmicrohttpd ---- */

typedef struct conn_ctx {
    cm_buf_t body;
    int too_big;
} conn_ctx_t;

static struct MHD_Daemon *g_daemon;

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                              const char *value, size_t value_size)
{
    dh_req_t *r = cls;
    if (strlen(key) != key_size || (value && strlen(value) != value_size)) {
        r->bad_params = 1; /* a decoded NUL byte would cut the value short unseen */
        return MHD_YES;
    }
    char *k = cm_strdup(key), *v = cm_strdup(value ? value : "");
    if (!k || !v) {
        free(k);
        free(v);
        return MHD_NO;
    }
    if (add_param(r, k, v))
        r->bad_params = 1;
    return MHD_YES;
}

static void client_ip(struct MHD_Connection *c, char out[64])
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = 0;
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ci->client_addr;
        inet_ntop(AF_INET, &in->sin_addr, out, 64);
    } else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ci->client_addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, out, 64);
    }
}

/* The body as form fields or JSON, by its content type (or its first byte when untyped). */
static void take_body(dh_req_t *r, struct MHD_Connection *c)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!r->blen)
        return;
    if (ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
        dh_parse_query(r, r->body, r->blen);
        return;
    }
    size_t i = 0;
    while (i < r->blen && (r->body[i] == ' ' || r->body[i] == '\n' || r->body[i] == '\r' || r->body[i] == '\t'))
        i++;
    if (i < r->blen && (r->body[i] == '{' || r->body[i] == '['))
        lj_parse(r->body, r->blen, &r->json); /* unparsable: json stays NULL, handlers say so */
}

static void add_headers(struct MHD_Response *resp, const dh_req_t *r, const char *ctype)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
    if (strncmp(ctype, "application/json", 16) == 0)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    char line[1024];
    for (const char *p = r->extra_headers; *p;) {
        size_t n = strcspn(p, "\r");
        snprintf(line, sizeof line, "%.*s", (int)n, p);
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = 0;
            MHD_add_response_header(resp, line, colon + 1 + (colon[1] == ' '));
        }
        p += n;
        while (*p == '\r' || *p == '\n')
            p++;
    }
}

static enum MHD_Result answer(struct MHD_Connection *c, const char *url, const char *method, conn_ctx_t *ctx)
{
    dh_req_t r = {0};
    r.method = method;
    r.path = url[0] == '/' ? url + 1 : url;
    r.body = ctx->body.data ? ctx->body.data : "";
    r.blen = ctx->body.len;
    client_ip(c, r.client_ip);
    MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, on_arg, &r);
    take_body(&r, c);
    r.cookie_session = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "LOULAN_SESSION");
    r.cookie_csrf = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "XSRF-TOKEN");
    r.header_csrf = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-XSRF-TOKEN");
    cm_buf_t out;
    cm_buf_init(&out);
    const char *ctype = k_json;
    int status = ctx->too_big ? refuse(&r, 413, "request body too large", &out, &ctype) : dh_dispatch(&r, &out, &ctype);
    size_t len = out.len;
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, cm_buf_steal(&out), MHD_RESPMEM_MUST_FREE);
    enum MHD_Result rc = MHD_NO;
    if (resp) {
        add_headers(resp, &r, ctype);
        rc = MHD_queue_response(c, (unsigned)status, resp);
        MHD_destroy_response(resp);
    }
    dh_req_free(&r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    conn_ctx_t *ctx = *con_cls;
    if (!ctx) {
        ctx = calloc(1, sizeof *ctx);
        if (!ctx)
            return MHD_NO;
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_size) {
        if (ctx->body.len + *upload_size > MAX_BODY)
            ctx->too_big = 1;
        else
            cm_buf_append(&ctx->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    return answer(c, url, method, ctx);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    conn_ctx_t *ctx = *con_cls;
    if (ctx) {
        cm_buf_free(&ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

int dh_http_start(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_dh.cfg.port)};
    if (inet_pton(AF_INET, g_dh.cfg.address, &sa.sin_addr) != 1) {
        fprintf(stderr, "loulan-dashboard: bad server.address %s (an IPv4 address)\n", g_dh.cfg.address);
        return -1;
    }
    g_daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
                                (uint16_t)g_dh.cfg.port, NULL, NULL, on_request, NULL,
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                MHD_OPTION_THREAD_POOL_SIZE, (unsigned)g_dh.cfg.threads,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
                                MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)128,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                                MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (!g_daemon) {
        fprintf(stderr, "loulan-dashboard: cannot listen on %s:%d\n", g_dh.cfg.address, g_dh.cfg.port);
        return -1;
    }
    return 0;
}

void dh_http_stop(void)
{
    if (g_daemon)
        MHD_stop_daemon(g_daemon);
    g_daemon = NULL;
}
