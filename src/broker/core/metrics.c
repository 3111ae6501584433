/* metrics.c: the broker's figures in Prometheus text format, on metricsPromExporterPort (5557)
 * when metricsExporterType=PROM (RocketMQ 5's keys; off by default). Names follow
 * apache/rocketmq-exporter where it has one (rocketmq_broker_tps, rocketmq_broker_qps,
 * rocketmq_consumer_tps, rocketmq_group_diff, rocketmq_brokeruntime_*) and RocketMQ 5's built-in
 * metrics for the message counters (rocketmq_messages_in_total, rocketmq_messages_out_total).
 * Why not an HTTP library: the endpoint answers one GET with a page built from state owned by
 * the loop thread; a responder on the same loop reads it without locks or copies, where
 * libmicrohttpd would bring its own threads. Because it shares the broker's loop and fd budget
 * with the remoting ports, it defends itself: at most MAX_CONNS connections (more are closed at
 * once, with a rate-limited log line), a request head of at most MAX_REQUEST bytes (431), a
 * DEADLINE_MS deadline per connection to send the request and take the answer, and a 4xx for
 * anything that is not a well-formed GET (NUL bytes included). The page is built at most once
 * per PAGE_TTL_MS and shared by every scrape in that time, so clients cannot make the loop
 * build it more often. Label values are escaped as the text format requires, since clients'
 * strings reach them (topics of offset commits, and group names before they were checked).
 * Every connection is closed after one answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/core.h"

#define MAX_REQUEST 8192        /* request line and headers; Prometheus sends ~300 bytes */
#define MAX_CONNS 64            /* scrapers are few; the rest of the fds belong to remoting */
#define DEADLINE_MS 10000       /* to send a whole request head, and again to take the answer */
#define LINGER_MS 2000          /* reading leftovers after the answer, so close sends no RST */
#define SWEEP_MS 1000
#define REFUSAL_LOG_MS 10000    /* at most one "refused" line per this period */
#define PAGE_TTL_MS 1000        /* a page is served to every scrape within this of its making */

struct mconn;

/* A built page, shared by the connections writing it. Building costs O(offset entries x
 * queues) of loop time (~31 ms for 20,000 group/topic pairs), so it is built at most once per
 * PAGE_TTL_MS however many clients scrape, and one copy serves them all. */
typedef struct mpage {
    int refs;
    uint64_t builtAt;
    cm_buf_t text;
} mpage_t;

/* The listener's state; lives until the listener, the sweep timer and every connection are
 * closed (refs), since connections may still close after the broker is gone. */
typedef struct msrv {
    br_broker_t *b;
    uv_timer_t sweep;           /* closes connections past their deadline */
    struct mconn *conns;        /* live connections, at most MAX_CONNS */
    int nconns, refs;
    uv_close_cb stop_cb;
    mpage_t *page;              /* the latest page, NULL before the first scrape */
    uint64_t lastRefusalLog;
    uint64_t refused;           /* since the last log line */
} msrv_t;

typedef struct mconn {
    uv_tcp_t tcp;
    msrv_t *srv;
    struct mconn *prev, *next;
    uint64_t deadline;          /* uv_now after which the sweep closes it */
    char buf[MAX_REQUEST];
    size_t n;
    char head[256];
    mpage_t *page;              /* what a 200 answer is writing */
    uv_write_t wr;
    uv_shutdown_t sd;
} mconn_t;

static void page_unref(mpage_t *p)
{
    if (p && --p->refs == 0) {
        cm_buf_free(&p->text);
        free(p);
    }
}

static void srv_unref(msrv_t *srv)
{
    if (--srv->refs == 0) {
        page_unref(srv->page);
        free(srv);
    }
}

/* ---- the page ---- */

void br_metrics_escape(cm_buf_t *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            cm_buf_puts(o, "\\\\");
        else if (*v == '"')
            cm_buf_puts(o, "\\\"");
        else if (*v == '\n')
            cm_buf_puts(o, "\\n");
        else
            cm_buf_putc(o, *v);
    }
}

static void label(cm_buf_t *o, const char *name, const char *value)
{
    cm_buf_printf(o, ",%s=\"", name);
    br_metrics_escape(o, value);
    cm_buf_putc(o, '"');
}

/* "name{cluster=..,broker=.." — the caller adds its own labels, then the value. */
static void series(cm_buf_t *o, const br_broker_t *b, const char *name)
{
    cm_buf_printf(o, "%s{cluster=\"", name);
    br_metrics_escape(o, b->cfg.brokerClusterName);
    cm_buf_puts(o, "\"");
    label(o, "broker", b->cfg.brokerName);
}

static void metric(cm_buf_t *o, const br_broker_t *b, const char *name, const char *type, const char *help, double v)
{
    cm_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    series(o, b, name);
    cm_buf_printf(o, "} %.17g\n", v);
}

typedef struct gctx { cm_buf_t *o; br_broker_t *b; } gctx_t;

static void group_tps(void *arg, const char *group, double tps)
{
    gctx_t *x = arg;
    series(x->o, x->b, "rocketmq_consumer_tps");
    label(x->o, "group", group);
    cm_buf_printf(x->o, "} %.17g\n", tps);
}

static void topic_tps(void *arg, const char *topic, double tps)
{
    gctx_t *x = arg;
    series(x->o, x->b, "rocketmq_producer_tps");
    label(x->o, "topic", topic);
    cm_buf_printf(x->o, "} %.17g\n", tps);
}

/* One group_diff line per "topic@group" offset entry whose group has consumed since the start.
 * One pass over the offset table (rather than one per group), so a scrape costs
 * O(offset entries x queues): the size of the page itself. A group name may hold '@' (group
 * names are not checked), so every split whose group part is known is tried, as before. */
static void offset_lag(const char *key, void *val, void *arg)
{
    gctx_t *x = arg;
    for (const char *at = strchr(key, '@'); at; at = strchr(at + 1, '@')) {
        const char *group = at + 1;
        char topic[300];
        size_t tl = (size_t)(at - key);
        if (tl >= sizeof topic || !cm_map_get(&x->b->stats.groups, group))
            continue;
        memcpy(topic, key, tl);
        topic[tl] = 0;
        br_topic_t *tc = br_topics_get(&x->b->topics, topic);
        int64_t diff = 0;
        for (int q = 0; tc && q < tc->readQueueNums; q++) {
            int64_t c = br_offsets_get(&x->b->offsets, group, topic, q);
            diff += st_max_offset(x->b->store, topic, q) - (c > 0 ? c : 0);
        }
        series(x->o, x->b, "rocketmq_group_diff");
        label(x->o, "group", group);
        label(x->o, "topic", topic);
        cm_buf_printf(x->o, "} %lld\n", (long long)diff);
    }
}

/* One Prometheus summary (seconds) from a histogram: quantiles 0.5/0.99/0.999 and 1 (the
 * maximum), _sum and _count; `lname`/`lvalue` an extra label or NULL. */
static void summary(cm_buf_t *o, const br_broker_t *b, const char *name, const char *lname, const char *lvalue,
                    const st_hist_t *h)
{
    static const double qs[] = {0.5, 0.99, 0.999, 1};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        series(o, b, name);
        if (lname)
            label(o, lname, lvalue);
        cm_buf_printf(o, ",quantile=\"%g\"} %.9f\n", qs[i], (double)st_hist_quantile(h, qs[i]) / 1e9);
    }
    cm_buf_printf(o, "%s_sum{cluster=\"", name);
    br_metrics_escape(o, b->cfg.brokerClusterName);
    cm_buf_puts(o, "\"");
    label(o, "broker", b->cfg.brokerName);
    if (lname)
        label(o, lname, lvalue);
    cm_buf_printf(o, "} %.9f\n%s_count{cluster=\"", (double)__atomic_load_n(&h->sumNs, __ATOMIC_RELAXED) / 1e9, name);
    br_metrics_escape(o, b->cfg.brokerClusterName);
    cm_buf_puts(o, "\"");
    label(o, "broker", b->cfg.brokerName);
    if (lname)
        label(o, lname, lvalue);
    cm_buf_printf(o, "} %llu\n", (unsigned long long)st_hist_count(h));
}

/* Where time goes (issue 17): loop iterations and the store's phases. */
static void latency(br_broker_t *b, cm_buf_t *o)
{
    cm_buf_puts(o, "# HELP loulan_loop_iteration_seconds Busy time of one event-loop iteration (quantile 1 = max).\n"
                   "# TYPE loulan_loop_iteration_seconds summary\n");
    summary(o, b, "loulan_loop_iteration_seconds", NULL, NULL, &b->looptime.iter);
    metric(o, b, "loulan_loop_slow_iterations_total", "counter", "Loop iterations busy over slowLoopThresholdMs.",
           (double)b->looptime.slow);
    if (!b->store)
        return;
    cm_buf_puts(o, "# HELP loulan_store_phase_seconds Time of one store phase: append, cq, index (per put, loop "
                   "thread), flush_* (per msync pass, flush thread).\n"
                   "# TYPE loulan_store_phase_seconds summary\n");
    const st_phase_stats_t *ps = st_phase_stats(b->store);
    for (int i = 0; i < ST_PHASE_N; i++)
        summary(o, b, "loulan_store_phase_seconds", "phase", st_phase_name(i), st_phase_hist(ps, i));
}

static void page(br_broker_t *b, cm_buf_t *o)
{
    const br_stats_t *s = &b->stats;
    double put = br_stats_tps(s, 10, BR_TPS_PUT), get = br_stats_tps(s, 10, BR_TPS_GET);
    metric(o, b, "rocketmq_messages_in_total", "counter", "Messages stored since the broker started.",
           (double)s->putTotal);
    metric(o, b, "rocketmq_messages_out_total", "counter", "Messages handed to consumers since the broker started.",
           (double)s->getTotal);
    metric(o, b, "rocketmq_broker_tps", "gauge", "Messages stored per second (10 s).", put > 0 ? put : 0);
    metric(o, b, "rocketmq_broker_qps", "gauge", "Messages handed to consumers per second (10 s).", get > 0 ? get : 0);
    metric(o, b, "rocketmq_brokeruntime_msg_put_total_today_now", "gauge", "Messages stored (runtime info).",
           (double)s->putTotal);
    metric(o, b, "rocketmq_brokeruntime_msg_gettotal_today_now", "gauge", "Messages handed out (runtime info).",
           (double)s->getTotal);
    gctx_t x = {o, b};
    cm_buf_puts(o, "# HELP rocketmq_producer_tps Messages sent to a topic per second (last minute).\n"
                   "# TYPE rocketmq_producer_tps gauge\n");
    br_stats_each(b, BR_STAT_TOPIC_PUT, topic_tps, &x);
    cm_buf_puts(o, "# HELP rocketmq_consumer_tps Messages a consumer group took per second (last minute).\n"
                   "# TYPE rocketmq_consumer_tps gauge\n");
    br_stats_groups_each(b, group_tps, &x);
    cm_buf_puts(o, "# HELP rocketmq_group_diff Messages a consumer group has not consumed yet, per topic.\n"
                   "# TYPE rocketmq_group_diff gauge\n");
    cm_map_each(&b->offsets.map, offset_lag, &x);
    latency(b, o);
}

/* The page for a scrape now, with a reference for the caller; NULL when out of memory. */
static mpage_t *page_get(msrv_t *srv)
{
    uint64_t now = uv_now(srv->b->loop);
    if (!srv->page || now - srv->page->builtAt >= PAGE_TTL_MS) {
        mpage_t *p = calloc(1, sizeof *p);
        if (!p)
            return NULL;
        p->refs = 1; /* the server's */
        p->builtAt = now;
        cm_buf_init(&p->text);
        page(srv->b, &p->text);
        page_unref(srv->page);
        srv->page = p;
    }
    srv->page->refs++;
    return srv->page;
}

/* ---- connections ---- */

static void on_closed(uv_handle_t *h)
{
    mconn_t *m = h->data;
    msrv_t *srv = m->srv;
    if (m->prev)
        m->prev->next = m->next;
    else
        srv->conns = m->next;
    if (m->next)
        m->next->prev = m->prev;
    srv->nconns--;
    page_unref(m->page);
    free(m);
    srv_unref(srv);
}

static void conn_close(mconn_t *m)
{
    if (!uv_is_closing((uv_handle_t *)&m->tcp))
        uv_close((uv_handle_t *)&m->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    mconn_t *m = h->data;
    *buf = uv_buf_init(m->buf + m->n, (unsigned)(sizeof m->buf - m->n));
}

/* Leftovers after the answer are read and dropped until the client closes (or LINGER_MS):
 * closing with unread bytes would send an RST that can destroy the answer in flight. */
static void on_linger_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    mconn_t *m = s->data;
    m->n = 0;
    if (nread < 0)
        conn_close(m);
}

static void on_shutdown(uv_shutdown_t *sd, int status)
{
    mconn_t *m = sd->data;
    if (status != 0 || uv_is_closing((uv_handle_t *)&m->tcp)) {
        conn_close(m);
        return;
    }
    m->n = 0;
    m->deadline = uv_now(m->tcp.loop) + LINGER_MS;
    if (uv_read_start((uv_stream_t *)&m->tcp, on_alloc, on_linger_read) != 0)
        conn_close(m);
}

static void on_written(uv_write_t *w, int status)
{
    mconn_t *m = w->data;
    if (status != 0 || uv_is_closing((uv_handle_t *)&m->tcp)) {
        conn_close(m);
        return;
    }
    m->sd.data = m;
    if (uv_shutdown(&m->sd, (uv_stream_t *)&m->tcp, on_shutdown) != 0)
        conn_close(m);
}

/* Send one answer and close; body must live until the write ends (a static string or
 * m->page). The deadline restarts for the write. */
static void respond(mconn_t *m, const char *status, const char *extra_headers, const char *body, size_t len)
{
    uv_read_stop((uv_stream_t *)&m->tcp);
    snprintf(m->head, sizeof m->head, "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
             "Content-Length: %zu\r\n%sConnection: close\r\n\r\n", status, len, extra_headers);
    uv_buf_t bufs[2] = {uv_buf_init(m->head, (unsigned)strlen(m->head)), uv_buf_init((char *)body, (unsigned)len)};
    m->deadline = uv_now(m->tcp.loop) + DEADLINE_MS;
    m->wr.data = m;
    if (uv_write(&m->wr, (uv_stream_t *)&m->tcp, bufs, len ? 2 : 1, on_written) != 0)
        conn_close(m);
}

static void refuse(mconn_t *m, const char *status, const char *why)
{
    respond(m, status, strncmp(status, "405", 3) == 0 ? "Allow: GET\r\n" : "", why, strlen(why));
}

/* The request line "GET /metrics HTTP/1.x": NULL if it is one, else the status to answer with
 * and, in *why, the body that says what was wrong. */
static const char *check_request(mconn_t *m, const char **why)
{
    char *eol = memchr(m->buf, '\n', m->n);
    size_t len = (size_t)(eol - m->buf);
    if (len > 0 && m->buf[len - 1] == '\r')
        len--;
    m->buf[len] = 0; /* the request line is all we look at */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)m->buf[i] < 0x20 || m->buf[i] == 0x7f) {
            *why = "bad request: control byte in the request line\n";
            return "400 Bad Request";
        }
    char *sp1 = strchr(m->buf, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp1 == m->buf || sp2 == sp1 + 1 || strchr(sp2 + 1, ' ') ||
        (strcmp(sp2 + 1, "HTTP/1.0") != 0 && strcmp(sp2 + 1, "HTTP/1.1") != 0)) {
        *why = "bad request: expected \"GET /metrics HTTP/1.1\"\n";
        return "400 Bad Request";
    }
    *sp1 = *sp2 = 0;
    if (strcmp(m->buf, "GET") != 0) {
        *why = "method not allowed: only GET\n";
        return "405 Method Not Allowed";
    }
    const char *path = sp1 + 1;
    size_t pl = strcspn(path, "?");
    if (!(pl == 8 && strncmp(path, "/metrics", 8) == 0) && !(pl == 1 && path[0] == '/')) {
        *why = "not found: try GET /metrics\n";
        return "404 Not Found";
    }
    return NULL;
}

static void answer(mconn_t *m)
{
    const char *why = NULL, *status = check_request(m, &why);
    if (status) {
        refuse(m, status, why);
        return;
    }
    if (!(m->page = page_get(m->srv))) {
        refuse(m, "503 Service Unavailable", "out of memory\n");
        return;
    }
    respond(m, "200 OK", "", m->page->text.data, m->page->text.len);
}

/* The end of the head ("\r\n\r\n" or "\n\n") within the bytes from `from` on. */
static int head_complete(const char *p, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++)
        if (p[i] == '\n' && ((i >= 1 && p[i - 1] == '\n') || (i >= 3 && p[i - 1] == '\r' && p[i - 2] == '\n')))
            return 1;
    return 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    mconn_t *m = s->data;
    if (nread < 0) {
        conn_close(m);
        return;
    }
    size_t from = m->n;
    m->n += (size_t)nread;
    if (memchr(m->buf + from, 0, (size_t)nread))
        refuse(m, "400 Bad Request", "bad request: NUL byte\n");
    else if (head_complete(m->buf, from, m->n))
        answer(m);
    else if (m->n == sizeof m->buf)
        refuse(m, "431 Request Header Fields Too Large", "request head longer than 8192 bytes\n");
}

static void on_refused_closed(uv_handle_t *h) { free(h); }

/* Over MAX_CONNS: accept (so the backlog drains and the fd is ours to close) and close at once. */
static void refuse_conn(msrv_t *srv, uv_stream_t *listener)
{
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t || uv_tcp_init(srv->b->loop, t) != 0) {
        free(t);
        return;
    }
    uv_accept(listener, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, on_refused_closed);
    srv->refused++;
    uint64_t now = uv_now(srv->b->loop);
    if (srv->lastRefusalLog == 0 || now - srv->lastRefusalLog >= REFUSAL_LOG_MS) {
        LOG_W("broker", "metrics: refused %llu connection(s): %d already open (the limit)",
              (unsigned long long)srv->refused, MAX_CONNS);
        srv->lastRefusalLog = now;
        srv->refused = 0;
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    msrv_t *srv = listener->data;
    if (status != 0)
        return;
    if (srv->nconns >= MAX_CONNS) {
        refuse_conn(srv, listener);
        return;
    }
    mconn_t *m = calloc(1, sizeof *m);
    if (!m || uv_tcp_init(srv->b->loop, &m->tcp) != 0) {
        free(m);
        return;
    }
    m->srv = srv;
    m->tcp.data = m;
    m->deadline = uv_now(srv->b->loop) + DEADLINE_MS;
    m->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = m;
    srv->conns = m;
    srv->nconns++;
    srv->refs++;
    if (uv_accept(listener, (uv_stream_t *)&m->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&m->tcp, on_alloc, on_read) != 0)
        conn_close(m);
}

/* Bounded by MAX_CONNS, whatever the clients do. */
static void on_sweep(uv_timer_t *t)
{
    msrv_t *srv = t->data;
    uint64_t now = uv_now(t->loop);
    for (mconn_t *m = srv->conns; m; m = m->next)
        if (now >= m->deadline)
            conn_close(m);
}

static void on_sweep_closed(uv_handle_t *h) { srv_unref(h->data); }

int br_metrics_start(br_broker_t *b)
{
    if (strcmp(b->cfg.metricsExporterType, "PROM") != 0)
        return 0;
    msrv_t *srv = calloc(1, sizeof *srv);
    struct sockaddr_in a;
    uv_ip4_addr("0.0.0.0", (int)b->cfg.metricsPromExporterPort, &a);
    uv_tcp_init(b->loop, &b->metrics);
    b->metrics.data = srv;
    if (!srv || uv_tcp_bind(&b->metrics, (const struct sockaddr *)&a, 0) != 0 ||
        uv_listen((uv_stream_t *)&b->metrics, MAX_CONNS, on_connection) != 0) {
        LOG_E("broker", "metrics: cannot listen on port %lld", (long long)b->cfg.metricsPromExporterPort);
        free(srv);
        b->metrics.data = b;
        uv_close((uv_handle_t *)&b->metrics, NULL);
        return -1;
    }
    srv->b = b;
    srv->refs = 2; /* the listener and the sweep timer */
    uv_timer_init(b->loop, &srv->sweep);
    srv->sweep.data = srv;
    uv_timer_start(&srv->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    b->metricsOn = 1;
    LOG_I("broker", "Prometheus metrics on port %lld (GET /metrics)", (long long)b->cfg.metricsPromExporterPort);
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    msrv_t *srv = h->data;
    uv_close_cb cb = srv->stop_cb;
    h->data = srv->b; /* what the caller's callback expects */
    srv_unref(srv);
    if (cb)
        cb(h);
}

void br_metrics_stop(br_broker_t *b, uv_close_cb cb)
{
    if (!b->metricsOn)
        return;
    b->metricsOn = 0;
    msrv_t *srv = b->metrics.data;
    srv->stop_cb = cb;
    for (mconn_t *m = srv->conns; m; m = m->next)
        conn_close(m);
    uv_close((uv_handle_t *)&srv->sweep, on_sweep_closed);
    uv_close((uv_handle_t *)&b->metrics, on_listener_closed);
}
