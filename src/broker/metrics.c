/* metrics.c: the broker's figures in Prometheus text format, on metricsPromExporterPort (5557)
 * when metricsExporterType=PROM (RocketMQ 5's keys; off by default). Names follow
 * apache/rocketmq-exporter where it has one (rocketmq_broker_tps, rocketmq_broker_qps,
 * rocketmq_consumer_tps, rocketmq_group_diff, rocketmq_brokeruntime_*) and RocketMQ 5's built-in
 * metrics for the message counters (rocketmq_messages_in_total, rocketmq_messages_out_total).
 * Why not an HTTP library: the endpoint answers one GET with a page built from state owned by
 * the loop thread; a responder on the same loop reads it without locks or copies, in ~100
 * lines, where libmicrohttpd would bring its own threads. Requests are read up to 8 KiB and
 * only the request line is looked at; every connection is closed after one answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/br.h"

#define MAX_REQUEST 8192

typedef struct mconn {
    uv_tcp_t tcp;
    br_broker_t *b;
    char buf[MAX_REQUEST];
    size_t n;
    cm_buf_t out;
    uv_write_t wr;
} mconn_t;

static void on_closed(uv_handle_t *h)
{
    mconn_t *m = h->data;
    cm_buf_free(&m->out);
    free(m);
}

static void labels(cm_buf_t *o, const br_broker_t *b)
{
    char l[400];
    snprintf(l, sizeof l, "cluster=\"%s\",broker=\"%s\"", b->cfg.brokerClusterName, b->cfg.brokerName);
    cm_buf_puts(o, l);
}

static void metric(cm_buf_t *o, const br_broker_t *b, const char *name, const char *type, const char *help,
                   const char *extra, double v)
{
    char line[600];
    snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s %s\n%s{", name, help, name, type, name);
    cm_buf_puts(o, line);
    labels(o, b);
    snprintf(line, sizeof line, "%s} %.17g\n", extra ? extra : "", v);
    cm_buf_puts(o, line);
}

typedef struct gctx { cm_buf_t *o; br_broker_t *b; } gctx_t;

static void group_tps(void *arg, const char *group, double tps)
{
    gctx_t *x = arg;
    char line[600];
    snprintf(line, sizeof line, "rocketmq_consumer_tps{");
    cm_buf_puts(x->o, line);
    labels(x->o, x->b);
    snprintf(line, sizeof line, ",group=\"%s\"} %.17g\n", group, tps);
    cm_buf_puts(x->o, line);
}

typedef struct lag_ctx { cm_buf_t *o; br_broker_t *b; const char *group; } lag_ctx_t;

static void topic_lag(void *arg, const char *topic)
{
    lag_ctx_t *x = arg;
    br_topic_t *tc = br_topics_get(&x->b->topics, topic);
    int64_t diff = 0;
    for (int q = 0; tc && q < tc->readQueueNums; q++) {
        int64_t c = br_offsets_get(&x->b->offsets, x->group, topic, q);
        diff += st_max_offset(x->b->store, topic, q) - (c > 0 ? c : 0);
    }
    char line[800];
    cm_buf_puts(x->o, "rocketmq_group_diff{");
    labels(x->o, x->b);
    snprintf(line, sizeof line, ",group=\"%s\",topic=\"%s\"} %lld\n", x->group, topic, (long long)diff);
    cm_buf_puts(x->o, line);
}

static void group_lag(void *arg, const char *group, double tps)
{
    gctx_t *x = arg;
    lag_ctx_t l = {x->o, x->b, group};
    br_offsets_topics(&x->b->offsets, group, topic_lag, &l);
}

static void topic_tps(void *arg, const char *topic, double tps)
{
    gctx_t *x = arg;
    char line[600];
    cm_buf_puts(x->o, "rocketmq_producer_tps{");
    labels(x->o, x->b);
    snprintf(line, sizeof line, ",topic=\"%s\"} %.17g\n", topic, tps);
    cm_buf_puts(x->o, line);
}

static void page(br_broker_t *b, cm_buf_t *o)
{
    const br_stats_t *s = &b->stats;
    double put = br_stats_tps(s, 10, 0), get = br_stats_tps(s, 10, 1);
    metric(o, b, "rocketmq_messages_in_total", "counter", "Messages stored since the broker started.", NULL,
           (double)s->putTotal);
    metric(o, b, "rocketmq_messages_out_total", "counter", "Messages handed to consumers since the broker started.",
           NULL, (double)s->getTotal);
    metric(o, b, "rocketmq_broker_tps", "gauge", "Messages stored per second (10 s).", NULL, put > 0 ? put : 0);
    metric(o, b, "rocketmq_broker_qps", "gauge", "Messages handed to consumers per second (10 s).", NULL, get > 0 ? get : 0);
    metric(o, b, "rocketmq_brokeruntime_msg_put_total_today_now", "gauge", "Messages stored (runtime info).", NULL,
           (double)s->putTotal);
    metric(o, b, "rocketmq_brokeruntime_msg_gettotal_today_now", "gauge", "Messages handed out (runtime info).", NULL,
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
    br_stats_groups_each(b, group_lag, &x);
}

static void on_written(uv_write_t *w, int status)
{
    mconn_t *m = w->data;
    uv_close((uv_handle_t *)&m->tcp, on_closed);
}

static void answer(mconn_t *m)
{
    uv_read_stop((uv_stream_t *)&m->tcp);
    cm_buf_t body;
    cm_buf_init(&body);
    int ok = strncmp(m->buf, "GET /metrics ", 13) == 0 || strncmp(m->buf, "GET / ", 6) == 0;
    if (ok)
        page(m->b, &body);
    else
        cm_buf_puts(&body, "not found: try GET /metrics\n");
    char head[256];
    snprintf(head, sizeof head, "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n", ok ? "200 OK" : "404 Not Found", body.len);
    cm_buf_puts(&m->out, head);
    cm_buf_append(&m->out, body.data, body.len);
    cm_buf_free(&body);
    uv_buf_t b = uv_buf_init(m->out.data, (unsigned)m->out.len);
    m->wr.data = m;
    if (uv_write(&m->wr, (uv_stream_t *)&m->tcp, &b, 1, on_written) != 0)
        uv_close((uv_handle_t *)&m->tcp, on_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    mconn_t *m = h->data;
    *buf = uv_buf_init(m->buf + m->n, (unsigned)(sizeof m->buf - 1 - m->n));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    mconn_t *m = s->data;
    if (nread < 0) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    m->n += (size_t)nread;
    m->buf[m->n] = 0;
    if (strstr(m->buf, "\r\n\r\n") || strstr(m->buf, "\n\n") || m->n >= sizeof m->buf - 1)
        answer(m);
}

static void on_connection(uv_stream_t *srv, int status)
{
    br_broker_t *b = srv->data;
    mconn_t *m = calloc(1, sizeof *m);
    if (status != 0 || !m) {
        free(m);
        return;
    }
    cm_buf_init(&m->out);
    m->b = b;
    uv_tcp_init(b->loop, &m->tcp);
    m->tcp.data = m;
    if (uv_accept(srv, (uv_stream_t *)&m->tcp) != 0 || uv_read_start((uv_stream_t *)&m->tcp, on_alloc, on_read) != 0)
        uv_close((uv_handle_t *)&m->tcp, on_closed);
}

int br_metrics_start(br_broker_t *b)
{
    if (strcmp(b->cfg.metricsExporterType, "PROM") != 0)
        return 0;
    struct sockaddr_in a;
    uv_ip4_addr("0.0.0.0", (int)b->cfg.metricsPromExporterPort, &a);
    uv_tcp_init(b->loop, &b->metrics);
    b->metrics.data = b;
    if (uv_tcp_bind(&b->metrics, (const struct sockaddr *)&a, 0) != 0 ||
        uv_listen((uv_stream_t *)&b->metrics, 64, on_connection) != 0) {
        LOG_E("broker", "metrics: cannot listen on port %lld", (long long)b->cfg.metricsPromExporterPort);
        uv_close((uv_handle_t *)&b->metrics, NULL);
        return -1;
    }
    b->metricsOn = 1;
    LOG_I("broker", "Prometheus metrics on port %lld (GET /metrics)", (long long)b->cfg.metricsPromExporterPort);
    return 0;
}

void br_metrics_stop(br_broker_t *b, uv_close_cb cb)
{
    if (b->metricsOn) {
        b->metricsOn = 0;
        b->metrics.data = b;
        uv_close((uv_handle_t *)&b->metrics, cb);
    }
}
