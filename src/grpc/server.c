/* The gRPC server: connections (TLS or h2c by the first byte), nghttp2 server sessions, calls.
 *
 * Bytes in: libuv read -> (TLS engine) -> nghttp2_session_mem_recv, whose callbacks build calls
 * (one per stream): request headers kept per call, DATA appended to the call's input and cut
 * into gRPC messages. Bytes out: gp_call_send appends prefix + message to the call's output,
 * which nghttp2's data provider reads within the peer's flow-control windows; conn_flush takes
 * what nghttp2 has to send (mem_send), seals it when TLS, and writes it. Handlers run inside
 * the receive callbacks; nothing is flushed or closed from there (in_recv): after
 * mem_recv returns. Loop thread only. */
#include <arpa/inet.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "grpc/grpc.h"
#include "remoting/remoting.h"

#define READ_CHUNK 65536

typedef struct gp_conn gp_conn_t;

typedef struct gp_hdr { char *name, *value; } gp_hdr_t;

struct gp_call {
    gp_conn_t *conn;            /* NULL once the stream is gone */
    int32_t sid;
    const gp_method_t *m;
    gp_hdr_t *h;
    size_t nh, hbytes;
    uint8_t *in;                /* request bytes not yet cut into messages */
    size_t in_len, in_cap;
    uint8_t *msg1;              /* the request message of a unary / server-streaming call */
    size_t msg1_len;
    int nmsg;
    uint8_t *out;               /* response DATA bytes nghttp2 has not taken yet */
    size_t out_len, out_off, out_cap;
    int headers_sent, finished, cancelled, dispatched, deferred, discard;
    int status;
    char *status_msg;
    int refs;
    uint64_t deadline;
    void *data;
    gp_call_t *next, *prev;
};

struct gp_conn {
    gp_server_t *srv;
    uv_tcp_t tcp;
    nghttp2_session *ng;
    rm_tls_t *tls;
    int sniffed, closing, reading, in_recv, want_close, fake;
    uint64_t id;
    char peer[64], local[64];
    size_t out_pending;         /* handed to uv_write, not written */
    size_t queued;              /* in calls' output buffers */
    size_t inbuf;               /* request bytes buffered in calls */
    size_t fake_out;
    gp_call_t *calls;
    gp_conn_t *next, *prev;
};

struct gp_server {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    gp_config_t cfg;
    gp_conn_t *conns;
    int nconns, port, stopping, open_handles;
    void (*close_cb)(void *arg);
    void *close_arg;
};

static uint64_t g_conn_ids;

/* ---- pure helpers ---- */

int gp_timeout_parse(const char *v, size_t len, uint64_t *ms)
{
    if (!v || len < 2 || len > 9)
        return GP_EINVAL;
    uint64_t n = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (v[i] < '0' || v[i] > '9')
            return GP_EINVAL;
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    switch (v[len - 1]) {
    case 'H': *ms = n * 3600000; break;
    case 'M': *ms = n * 60000; break;
    case 'S': *ms = n * 1000; break;
    case 'm': *ms = n; break;
    case 'u': *ms = (n + 999) / 1000; break;
    case 'n': *ms = (n + 999999) / 1000000; break;
    default: return GP_EINVAL;
    }
    return 0;
}

int gp_frame_next(const uint8_t *p, size_t n, size_t max, const uint8_t **msg, size_t *msglen, size_t *used)
{
    if (n < 5)
        return 0;
    if (p[0] != 0)
        return GP_ECOMPRESSED;
    size_t len = ((size_t)p[1] << 24) | ((size_t)p[2] << 16) | ((size_t)p[3] << 8) | p[4];
    if (len > max)
        return GP_ETOOBIG;
    if (n - 5 < len)
        return 0;
    *msg = p + 5;
    *msglen = len;
    *used = 5 + len;
    return 1;
}

void gp_frame_prefix(uint8_t out[5], size_t len)
{
    out[0] = 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

void gp_limits_default(gp_limits_t *l)
{
    l->max_message = 130u << 20;    /* Apache's grpcMaxInboundMessageSize */
    l->max_streams = 1000;
    l->max_output = 8u << 20;
    l->max_header_list = 16384;
    l->max_connections = 10000;
}

/* ---- calls ---- */

static void call_free(gp_call_t *c)
{
    for (size_t i = 0; i < c->nh; i++) {
        free(c->h[i].name);
        free(c->h[i].value);
    }
    free(c->h);
    free(c->in);
    free(c->msg1);
    free(c->out);
    free(c->status_msg);
    free(c);
}

void gp_call_ref(gp_call_t *c) { c->refs++; }
void gp_call_unref(gp_call_t *c)
{
    if (--c->refs == 0)
        call_free(c);
}
void gp_call_set_data(gp_call_t *c, void *d) { c->data = d; }
void *gp_call_data(const gp_call_t *c) { return c->data; }
uint64_t gp_call_deadline(const gp_call_t *c) { return c->deadline; }
int gp_call_finished(const gp_call_t *c) { return c->finished || c->cancelled || !c->conn; }
const char *gp_call_peer(const gp_call_t *c) { return c->conn ? c->conn->peer : ""; }
const char *gp_call_local(const gp_call_t *c) { return c->conn ? c->conn->local : ""; }
uint64_t gp_call_conn_id(const gp_call_t *c) { return c->conn ? c->conn->id : 0; }
int gp_call_is_tls(const gp_call_t *c) { return c->conn && c->conn->tls; }

const char *gp_call_header(const gp_call_t *c, const char *name)
{
    for (size_t i = 0; i < c->nh; i++)
        if (strcmp(c->h[i].name, name) == 0)
            return c->h[i].value;
    return NULL;
}
const char *gp_call_path(const gp_call_t *c)
{
    const char *p = gp_call_header(c, ":path");
    return p ? p : "";
}

static void conn_flush(gp_conn_t *cn);

static int buf_grow(uint8_t **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 256;
    while (nc < need)
        nc *= 2;
    uint8_t *q = realloc(*p, nc);
    if (!q)
        return GP_ENOMEM;
    *p = q;
    *cap = nc;
    return 0;
}

static ssize_t data_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *src, void *ud);

static void nv_set(nghttp2_nv *nv, const char *n, const char *v)
{
    nv->name = (uint8_t *)n;
    nv->namelen = strlen(n);
    nv->value = (uint8_t *)v;
    nv->valuelen = strlen(v);
    nv->flags = NGHTTP2_NV_FLAG_NONE;
}

/* grpc-message is percent-encoded (the gRPC HTTP/2 spec): printable ASCII but '%' as is. */
static char *pct_encode(const char *m)
{
    size_t n = strlen(m);
    if (n > 1024)
        n = 1024;
    char *o = malloc(n * 3 + 1), *q = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)m[i];
        if (ch >= 0x20 && ch <= 0x7e && ch != '%') {
            *q++ = (char)ch;
        } else {
            sprintf(q, "%%%02X", ch);
            q += 3;
        }
    }
    *q = 0;
    return o;
}

static int send_headers(gp_call_t *c)
{
    nghttp2_nv nv[2];
    nv_set(&nv[0], ":status", "200");
    nv_set(&nv[1], "content-type", "application/grpc");
    nghttp2_data_provider dp = {.source.ptr = c, .read_callback = data_read};
    c->headers_sent = 1;
    return nghttp2_submit_response(c->conn->ng, c->sid, nv, 2, &dp);
}

int gp_call_send(gp_call_t *c, const uint8_t *msg, size_t len)
{
    if (gp_call_finished(c) || len > UINT32_MAX)
        return GP_EINVAL;
    if (buf_grow(&c->out, &c->out_cap, c->out_len + 5 + len))
        return GP_ENOMEM;
    gp_frame_prefix(c->out + c->out_len, len);
    if (len)
        memcpy(c->out + c->out_len + 5, msg, len);
    c->out_len += 5 + len;
    c->conn->queued += 5 + len;
    if (!c->headers_sent) {
        if (send_headers(c) != 0)
            return GP_ENOMEM;
    } else if (c->deferred) {
        c->deferred = 0;
        nghttp2_session_resume_data(c->conn->ng, c->sid);
    }
    conn_flush(c->conn);
    return 0;
}

static int submit_trailers(gp_call_t *c, int trailers_only)
{
    char st[16];
    snprintf(st, sizeof st, "%d", c->status);
    nghttp2_nv nv[4];
    size_t n = 0;
    if (trailers_only) {
        nv_set(&nv[n++], ":status", "200");
        nv_set(&nv[n++], "content-type", "application/grpc");
    }
    nv_set(&nv[n++], "grpc-status", st);
    if (c->status_msg)
        nv_set(&nv[n++], "grpc-message", c->status_msg);
    if (trailers_only)
        return nghttp2_submit_headers(c->conn->ng, NGHTTP2_FLAG_END_STREAM, c->sid, NULL, nv, n, NULL);
    return nghttp2_submit_trailer(c->conn->ng, c->sid, nv, n);
}

void gp_call_finish(gp_call_t *c, int status, const char *message)
{
    if (gp_call_finished(c))
        return;
    c->finished = 1;
    c->status = status;
    c->status_msg = message && message[0] ? pct_encode(message) : NULL;
    if (!c->headers_sent) {
        c->headers_sent = 1;
        submit_trailers(c, 1);
    } else if (c->deferred) {
        c->deferred = 0;
        nghttp2_session_resume_data(c->conn->ng, c->sid);
    }
    conn_flush(c->conn);
}

static ssize_t data_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *src, void *ud)
{
    gp_call_t *c = src->ptr;
    size_t avail = c->out_len - c->out_off, n = avail < length ? avail : length;
    if (n) {
        memcpy(buf, c->out + c->out_off, n);
        c->out_off += n;
        if (c->conn)
            c->conn->queued -= n;
        if (c->out_off == c->out_len)
            c->out_off = c->out_len = 0;
    }
    if (c->out_len == c->out_off && c->finished) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        submit_trailers(c, 0);
        return (ssize_t)n;
    }
    if (n == 0) {
        c->deferred = 1;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* The call is over for the handler: its stream closed, or its connection. */
static void call_detach(gp_call_t *c)
{
    gp_conn_t *cn = c->conn;
    if (!cn)
        return;
    cn->queued -= c->out_len - c->out_off;
    cn->inbuf -= c->in_len;
    c->in_len = 0;
    if (c->prev)
        c->prev->next = c->next;
    else
        cn->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    int was_open = !c->finished;
    if (was_open)
        c->cancelled = 1;
    if (was_open && c->dispatched && c->m && c->m->on_cancel)
        c->m->on_cancel(c, cn->srv->cfg.ctx);
    c->conn = NULL;
    gp_call_unref(c);   /* the stream's reference */
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    gp_conn_t *cn = ud;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    gp_call_t *c = calloc(1, sizeof *c);
    if (!c)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    c->conn = cn;
    c->sid = f->hd.stream_id;
    c->refs = 1;
    c->next = cn->calls;
    if (cn->calls)
        cn->calls->prev = c;
    cn->calls = c;
    nghttp2_session_set_stream_user_data(s, c->sid, c);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    gp_conn_t *cn = ud;
    gp_call_t *c = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!c || f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;   /* trailers of a request: nothing in them matters */
    c->hbytes += namelen + valuelen + 32;
    if (c->hbytes > cn->srv->cfg.limits.max_header_list)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* RST_STREAM this one */
    gp_hdr_t *h = realloc(c->h, (c->nh + 1) * sizeof *h);
    if (!h)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    c->h = h;
    h[c->nh].name = cm_strndup((const char *)name, namelen);
    h[c->nh].value = cm_strndup((const char *)value, valuelen);
    if (!h[c->nh].name || !h[c->nh].value) {
        free(h[c->nh].name);
        free(h[c->nh].value);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    c->nh++;
    return 0;
}

static void request_headers_done(gp_conn_t *cn, gp_call_t *c)
{
    const char *path = gp_call_header(c, ":path"), *ct = gp_call_header(c, "content-type");
    const char *method = gp_call_header(c, ":method");
    if (!method || strcmp(method, "POST") != 0 || !ct || strncmp(ct, "application/grpc", 16) != 0) {
        gp_call_finish(c, GP_STATUS_INTERNAL, "not a gRPC request (POST with content-type application/grpc)");
        return;
    }
    for (size_t i = 0; path && i < cn->srv->cfg.nmethods; i++)
        if (strcmp(cn->srv->cfg.methods[i].path, path) == 0)
            c->m = &cn->srv->cfg.methods[i];
    if (!c->m) {
        char msg[300];
        snprintf(msg, sizeof msg, "unknown method %.200s", path ? path : "(none)");
        gp_call_finish(c, GP_STATUS_UNIMPLEMENTED, msg);
        return;
    }
    const char *to = gp_call_header(c, "grpc-timeout");
    uint64_t ms;
    if (to && gp_timeout_parse(to, strlen(to), &ms) == 0)
        c->deadline = (cn->srv->loop ? uv_now(cn->srv->loop) : 0) + ms;
}

static void half_closed(gp_conn_t *cn, gp_call_t *c)
{
    if (gp_call_finished(c) || !c->m)
        return;
    if (c->in_len) {
        gp_call_finish(c, GP_STATUS_INTERNAL, "the request ended inside a message");
        return;
    }
    if (c->m->streaming_request) {
        if (c->m->on_half_close)
            c->m->on_half_close(c, cn->srv->cfg.ctx);
        return;
    }
    if (c->nmsg != 1) {
        gp_call_finish(c, GP_STATUS_INTERNAL, c->nmsg ? "more than one request message" : "no request message");
        return;
    }
    c->dispatched = 1;
    gp_call_ref(c);
    c->m->on_message(c, c->msg1 ? c->msg1 : (const uint8_t *)"", c->msg1_len, cn->srv->cfg.ctx);
    free(c->msg1);
    c->msg1 = NULL;
    gp_call_unref(c);
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    gp_conn_t *cn = ud;
    gp_call_t *c = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!c)
        return 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
        request_headers_done(cn, c);
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        c->conn)
        half_closed(cn, c);
    return 0;
}

/* Cut the whole messages out of c->in. */
static void take_messages(gp_conn_t *cn, gp_call_t *c)
{
    size_t off = 0;
    while (!gp_call_finished(c)) {
        const uint8_t *msg;
        size_t len, used;
        int rc = gp_frame_next(c->in + off, c->in_len - off, cn->srv->cfg.limits.max_message, &msg, &len, &used);
        if (rc == 0)
            break;
        if (rc < 0) {
            gp_call_finish(c, rc == GP_ETOOBIG ? GP_STATUS_RESOURCE_EXHAUSTED : GP_STATUS_UNIMPLEMENTED,
                           rc == GP_ETOOBIG ? "request message larger than the server's limit"
                                            : "compressed messages are not accepted (grpc-encoding identity)");
            break;
        }
        off += used;
        if (c->m->streaming_request) {
            c->dispatched = 1;
            gp_call_ref(c);
            c->m->on_message(c, msg, len, cn->srv->cfg.ctx);
            int gone = c->conn == NULL;
            gp_call_unref(c);
            if (gone)
                return;
        } else if (c->nmsg++ == 0) {
            c->msg1 = malloc(len ? len : 1);
            if (!c->msg1) {
                gp_call_finish(c, GP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
                break;
            }
            memcpy(c->msg1, msg, len);
            c->msg1_len = len;
        }
    }
    if (gp_call_finished(c)) {
        c->discard = 1;
        off = c->in_len;
    }
    if (off) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
        cn->inbuf -= off;
    }
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len, void *ud)
{
    gp_conn_t *cn = ud;
    gp_call_t *c = nghttp2_session_get_stream_user_data(s, sid);
    if (!c || c->discard || gp_call_finished(c) || !c->m)
        return 0;
    /* one message may be max_message; all calls of a connection together hold at most twice that */
    if (cn->inbuf + len > 2 * cn->srv->cfg.limits.max_message + 10) {
        gp_call_finish(c, GP_STATUS_RESOURCE_EXHAUSTED, "too much request data buffered on this connection");
        c->discard = 1;
        return 0;
    }
    if (buf_grow(&c->in, &c->in_cap, c->in_len + len)) {
        gp_call_finish(c, GP_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        c->discard = 1;
        return 0;
    }
    memcpy(c->in + c->in_len, data, len);
    c->in_len += len;
    cn->inbuf += len;
    take_messages(cn, c);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t sid, uint32_t err, void *ud)
{
    gp_call_t *c = nghttp2_session_get_stream_user_data(s, sid);
    if (c) {
        nghttp2_session_set_stream_user_data(s, sid, NULL);
        call_detach(c);
    }
    return 0;
}

/* ---- connections ---- */

static void conn_closed_cb(uv_handle_t *h)
{
    gp_conn_t *cn = h->data;
    gp_server_t *srv = cn->srv;
    free(cn);
    if (--srv->open_handles == 0 && srv->stopping) {
        void (*cb)(void *) = srv->close_cb;
        void *arg = srv->close_arg;
        free(srv);
        if (cb)
            cb(arg);
    }
}

static void conn_teardown(gp_conn_t *cn)
{
    while (cn->calls)
        call_detach(cn->calls);
    if (cn->ng)
        nghttp2_session_del(cn->ng);
    cn->ng = NULL;
    rm_tls_free(cn->tls);
    cn->tls = NULL;
}

static void conn_close(gp_conn_t *cn)
{
    if (cn->closing)
        return;
    if (cn->in_recv) {
        cn->want_close = 1;
        return;
    }
    cn->closing = 1;
    conn_teardown(cn);
    if (cn->fake)
        return;
    gp_server_t *srv = cn->srv;
    if (cn->prev)
        cn->prev->next = cn->next;
    else
        srv->conns = cn->next;
    if (cn->next)
        cn->next->prev = cn->prev;
    srv->nconns--;
    uv_close((uv_handle_t *)&cn->tcp, conn_closed_cb);
}

typedef struct wreq { uv_write_t w; gp_conn_t *cn; char *buf; size_t len; } wreq_t;

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b);
static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b);

static void on_written(uv_write_t *w, int status)
{
    wreq_t *r = (wreq_t *)w;
    gp_conn_t *cn = r->cn;
    cn->out_pending -= r->len;
    free(r->buf);
    free(r);
    if (cn->closing)
        return;
    if (status < 0) {
        conn_close(cn);
        return;
    }
    if (!cn->reading && cn->out_pending + cn->queued < cn->srv->cfg.limits.max_output / 4) {
        cn->reading = 1;
        uv_read_start((uv_stream_t *)&cn->tcp, alloc_cb, on_read);
    }
    conn_flush(cn);
}

/* Write p[0..n) (takes p), sealed first when the connection runs TLS and seal is set. */
static int conn_write(gp_conn_t *cn, char *p, size_t n, int seal)
{
    if (cn->tls && seal) {
        int rc = rm_tls_write(cn->tls, p, n);
        free(p);
        if (rc != 0)
            return -1;
        p = rm_tls_take_output(cn->tls, &n);
        if (!p)
            return 0;
    }
    if (cn->fake) {
        cn->fake_out += n;
        free(p);
        return 0;
    }
    wreq_t *r = malloc(sizeof *r);
    if (!r) {
        free(p);
        return -1;
    }
    r->cn = cn;
    r->buf = p;
    r->len = n;
    uv_buf_t b = uv_buf_init(p, (unsigned)n);
    if (uv_write(&r->w, (uv_stream_t *)&cn->tcp, &b, 1, on_written) != 0) {
        free(p);
        free(r);
        return -1;
    }
    cn->out_pending += n;
    return 0;
}

static void conn_flush(gp_conn_t *cn)
{
    if (!cn || cn->closing || cn->in_recv || !cn->ng)
        return;
    cm_buf_t out;
    cm_buf_init(&out);
    for (;;) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(cn->ng, &data);
        if (n < 0) {
            cm_buf_free(&out);
            conn_close(cn);
            return;
        }
        if (n == 0)
            break;
        if (cm_buf_append(&out, data, (size_t)n)) {
            cm_buf_free(&out);
            conn_close(cn);
            return;
        }
        if (out.len > (1u << 20))
            break;  /* the rest when this is written */
    }
    if (out.len) {
        size_t len = out.len;
        char *p = cm_buf_steal(&out);
        if (conn_write(cn, p, len, 1) != 0) {
            conn_close(cn);
            return;
        }
    }
    cm_buf_free(&out);
    if (!nghttp2_session_want_read(cn->ng) && !nghttp2_session_want_write(cn->ng)) {
        conn_close(cn);
        return;
    }
    if (cn->reading && !cn->fake && cn->out_pending + cn->queued > cn->srv->cfg.limits.max_output) {
        cn->reading = 0;
        uv_read_stop((uv_stream_t *)&cn->tcp);
    }
}

static int session_new(gp_conn_t *cn)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs))
        return -1;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_max_send_header_block_length(opt, 65536);
    int rc = nghttp2_session_server_new2(&cn->ng, cbs, cn, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rc)
        return -1;
    const gp_limits_t *l = &cn->srv->cfg.limits;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, l->max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)l->max_header_list},
    };
    if (nghttp2_submit_settings(cn->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) ||
        nghttp2_session_set_local_window_size(cn->ng, NGHTTP2_FLAG_NONE, 0, 16u << 20))
        return -1;
    return 0;
}

/* Plain HTTP/2 bytes from the peer. 0, or -1: close. */
static int conn_h2_input(gp_conn_t *cn, const uint8_t *p, size_t n)
{
    cn->in_recv = 1;
    ssize_t r = nghttp2_session_mem_recv(cn->ng, p, n);
    cn->in_recv = 0;
    if (r < 0) {    /* not HTTP/2 (a bad preface too): this connection only is closed */
        if (!cn->fake)
            LOG_I("grpc", "%s: connection %s: %s, closing", cn->srv->cfg.name, cn->peer, nghttp2_strerror((int)r));
        cn->want_close = 0;
        return -1;
    }
    if (cn->want_close) {
        cn->want_close = 0;
        return -1;
    }
    conn_flush(cn);
    return cn->closing ? -1 : 0;
}

static int conn_input(gp_conn_t *cn, const uint8_t *p, size_t n)
{
    if (!cn->sniffed && n > 0) {
        cn->sniffed = 1;
        int mode = cn->srv->cfg.tls_mode;
        switch (rm_tls_sniff(mode, p[0])) {
        case RM_SNIFF_TLS:
            if (!(cn->tls = rm_tls_new(1))) {
                LOG_W("grpc", "%s: TLS from %s but no server certificate is set up, closing", cn->srv->cfg.name, cn->peer);
                return -1;
            }
            break;
        case RM_SNIFF_PLAIN:
            break;
        default:
            LOG_I("grpc", "%s: connection %s refused by tls.server.mode=%s", cn->srv->cfg.name, cn->peer,
                  rm_tls_mode_name(mode));
            return -1;
        }
    }
    if (!cn->tls)
        return conn_h2_input(cn, p, n);
    if (rm_tls_feed(cn->tls, p, n) != 0)
        return -1;
    size_t olen;
    char *o = rm_tls_take_output(cn->tls, &olen);   /* handshake records */
    if (o && conn_write(cn, o, olen, 0))
        return -1;
    uint8_t buf[16384];
    for (;;) {
        int r = rm_tls_read(cn->tls, buf, sizeof buf);
        if (r == 0)
            break;
        if (r < 0)
            return -1;
        if (conn_h2_input(cn, buf, (size_t)r))
            return -1;
    }
    return 0;
}

static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    b->base = malloc(READ_CHUNK);
    b->len = b->base ? READ_CHUNK : 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    gp_conn_t *cn = st->data;
    if (nread > 0 && !cn->closing) {
        if (conn_input(cn, (const uint8_t *)b->base, (size_t)nread) != 0)
            conn_close(cn);
    } else if (nread < 0) {
        conn_close(cn);
    }
    free(b->base);
}

static void addr_str(const struct sockaddr_storage *ss, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
    }
    snprintf(out, n, "%s:%d", ip, port);
}

static void on_connection(uv_stream_t *ls, int status)
{
    gp_server_t *srv = ls->data;
    if (status < 0 || srv->stopping)
        return;
    gp_conn_t *cn = calloc(1, sizeof *cn);
    if (!cn)
        return;
    cn->srv = srv;
    cn->id = ++g_conn_ids;
    uv_tcp_init(srv->loop, &cn->tcp);
    cn->tcp.data = cn;
    srv->open_handles++;
    if (uv_accept(ls, (uv_stream_t *)&cn->tcp) != 0 ||
        (srv->cfg.limits.max_connections > 0 && srv->nconns >= srv->cfg.limits.max_connections) ||
        session_new(cn) != 0) {
        if (cn->ng)
            nghttp2_session_del(cn->ng);
        cn->closing = 1;
        uv_close((uv_handle_t *)&cn->tcp, conn_closed_cb);
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&cn->tcp, (struct sockaddr *)&ss, &len) == 0)
        addr_str(&ss, cn->peer, sizeof cn->peer);
    len = sizeof ss;
    if (uv_tcp_getsockname(&cn->tcp, (struct sockaddr *)&ss, &len) == 0)
        addr_str(&ss, cn->local, sizeof cn->local);
    uv_tcp_nodelay(&cn->tcp, 1);
    uv_tcp_keepalive(&cn->tcp, 1, 60);  /* peers that vanished without a FIN go (Node sends no pings) */
    cn->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = cn;
    srv->conns = cn;
    srv->nconns++;
    cn->reading = 1;
    uv_read_start((uv_stream_t *)&cn->tcp, alloc_cb, on_read);
    /* our SETTINGS go after the client's first bytes: they tell TLS from h2c */
}

static void listener_closed(uv_handle_t *h);

int gp_server_start(uv_loop_t *loop, const char *host, int port, const gp_config_t *cfg, gp_server_t **out)
{
    gp_server_t *s = calloc(1, sizeof *s);
    if (!s)
        return GP_ENOMEM;
    s->loop = loop;
    s->cfg = *cfg;
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        LOG_E("grpc", "%s: bad listen address %s", cfg->name, host);
        free(s);
        return GP_ELISTEN;
    }
    uv_tcp_init(loop, &s->tcp);
    s->tcp.data = s;
    s->open_handles = 1;
    int rc = uv_tcp_bind(&s->tcp, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->tcp, 1024, on_connection);
    if (rc != 0) {
        LOG_E("grpc", "%s: cannot listen on %s:%d: %s", cfg->name, host, port, uv_strerror(rc));
        s->stopping = 1;
        uv_close((uv_handle_t *)&s->tcp, listener_closed);    /* frees s */
        return GP_ELISTEN;
    }
    struct sockaddr_storage got;
    int len = sizeof got;
    uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&got, &len);
    s->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
    *out = s;
    return 0;
}

int gp_server_port(const gp_server_t *s) { return s->port; }

static void listener_closed(uv_handle_t *h)
{
    gp_server_t *srv = h->data;
    if (--srv->open_handles == 0) {
        void (*cb)(void *) = srv->close_cb;
        void *arg = srv->close_arg;
        free(srv);
        if (cb)
            cb(arg);
    }
}

void gp_server_stop(gp_server_t *s, void (*close_cb)(void *arg), void *arg)
{
    s->stopping = 1;
    s->close_cb = close_cb;
    s->close_arg = arg;
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->tcp, listener_closed);
}

/* ---- a connection without a socket (unit tests, fuzzing) ---- */

struct gp_fake {
    gp_server_t srv;
    gp_conn_t *cn;
    size_t out_total;
};

static gp_conn_t *fake_conn(gp_fake_t *f)
{
    gp_conn_t *cn = calloc(1, sizeof *cn);
    if (!cn)
        return NULL;
    cn->srv = &f->srv;
    cn->fake = 1;
    cn->id = ++g_conn_ids;
    snprintf(cn->peer, sizeof cn->peer, "127.0.0.1:1");
    snprintf(cn->local, sizeof cn->local, "127.0.0.1:8081");
    if (session_new(cn) != 0) {
        free(cn);
        return NULL;
    }
    conn_flush(cn);
    return cn;
}

gp_fake_t *gp_fake_new(const gp_config_t *cfg)
{
    gp_fake_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->srv.cfg = *cfg;
    if (!(f->cn = fake_conn(f))) {
        free(f);
        return NULL;
    }
    return f;
}

int gp_fake_feed(gp_fake_t *f, const uint8_t *p, size_t n)
{
    if (!f->cn && !(f->cn = fake_conn(f)))
        return -1;
    int rc = conn_input(f->cn, p, n);
    if (rc != 0 || f->cn->closing) {
        f->cn->closing = 0;
        conn_close(f->cn);
        f->out_total += f->cn->fake_out;
        free(f->cn);
        f->cn = NULL;
        return -1;
    }
    return 0;
}

size_t gp_fake_output(const gp_fake_t *f) { return f->out_total + (f->cn ? f->cn->fake_out : 0); }

void gp_fake_free(gp_fake_t *f)
{
    if (!f)
        return;
    if (f->cn) {
        conn_close(f->cn);
        free(f->cn);
    }
    free(f);
}
