/* trace.c: message trace on the client side (acl spec §5.1, §5.2). The encoders write records in
 * RocketMQ's TraceDataEncoder format, which mqadmin queryMsgTraceById and the dashboard read:
 * fields split by 0x01, each record ended by 0x02, a missing string written as "null".
 * A tracer is one per traced client: records are appended under a mutex (from any thread, the
 * loop included: appending never blocks on the network) and a dedicated thread sends them in
 * batches through an internal producer, like Java's AsyncTraceDispatcher: one message per
 * batch, flushed at ~118000 characters or when the oldest record is 500 ms old. The internal
 * producer is not traced itself and signs with the host client's keys. */
#include "lc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define C1 '\001' /* CONTENT_SPLITOR */
#define F2 '\002' /* FIELD_SPLITOR */
#define FLUSH_CHARS 118000
#define FLUSH_KEYS 16000       /* KEYS is a property: stay well below its 32767-byte bound */
#define FLUSH_MS 500
#define MAX_PENDING (4 * 1024 * 1024) /* beyond this the broker cannot keep up: drop, as Java does */
#define TRACE_SEND_TIMEOUT_MS 5000

/* ---- encoders ---- */

static int put_s(cm_buf_t *b, const char *s, char end)
{
    return cm_buf_puts(b, s ? s : "null") || cm_buf_putc(b, end);
}

static int put_i(cm_buf_t *b, int64_t v, char end)
{
    return cm_buf_printf(b, "%lld%c", (long long)v, end) != 0;
}

static int put_b(cm_buf_t *b, int v, char end) { return put_s(b, v ? "true" : "false", end); }

int lc_trace_encode_pub(cm_buf_t *b, const lc_trace_rec_t *r)
{
    int e = put_s(b, "Pub", C1) || put_i(b, r->ts, C1) || put_s(b, r->region, C1) || put_s(b, r->group, C1) ||
            put_s(b, r->topic, C1) || put_s(b, r->msg_id, C1) || put_s(b, r->tags, C1) || put_s(b, r->keys, C1) ||
            put_s(b, r->store_host, C1) || put_i(b, r->body_len, C1) || put_i(b, r->cost_ms, C1) ||
            put_i(b, r->msg_type, C1) || put_s(b, r->offset_msg_id, C1) || put_b(b, r->success, F2);
    return e ? LC_ENOMEM : 0;
}

int lc_trace_encode_sub_before(cm_buf_t *b, const lc_trace_rec_t *r)
{
    int e = put_s(b, "SubBefore", C1) || put_i(b, r->ts, C1) || put_s(b, r->region, C1) || put_s(b, r->group, C1) ||
            put_s(b, r->request_id, C1) || put_s(b, r->msg_id, C1) || put_i(b, r->reconsume_times, C1) ||
            put_s(b, r->keys, F2);
    return e ? LC_ENOMEM : 0;
}

int lc_trace_encode_sub_after(cm_buf_t *b, const lc_trace_rec_t *r)
{
    int e = put_s(b, "SubAfter", C1) || put_s(b, r->request_id, C1) || put_s(b, r->msg_id, C1) ||
            put_i(b, r->cost_ms, C1) || put_b(b, r->success, C1) || put_s(b, r->keys, C1) ||
            put_i(b, r->context_code, C1) || put_i(b, r->ts, C1) || put_s(b, r->group, F2);
    return e ? LC_ENOMEM : 0;
}

int lc_trace_encode_end_tx(cm_buf_t *b, const lc_trace_rec_t *r)
{
    int e = put_s(b, "EndTransaction", C1) || put_i(b, r->ts, C1) || put_s(b, r->region, C1) ||
            put_s(b, r->group, C1) || put_s(b, r->topic, C1) || put_s(b, r->msg_id, C1) || put_s(b, r->tags, C1) ||
            put_s(b, r->keys, C1) || put_s(b, r->store_host, C1) || put_i(b, r->msg_type, C1) ||
            put_s(b, r->transaction_id, C1) || put_s(b, r->tx_state, C1) || put_b(b, r->from_check, F2);
    return e ? LC_ENOMEM : 0;
}

/* ---- the dispatcher ---- */

struct lc_tracer {
    char topic[LC_MAX_TOPIC];
    lc_producer_t *producer;
    uv_thread_t th;
    uv_mutex_t mu;
    uv_cond_t cv;
    int stopping;             /* under mu */
    cm_buf_t body;            /* under mu: records waiting */
    cm_buf_t keys;            /* under mu: their msgIds and business keys, space-joined */
    cm_map_t seen;            /* under mu: the keys already in `keys` */
    uint64_t first_ms;        /* under mu: when the oldest waiting record came */
    uint64_t dropped;         /* under mu */
};

static int due(const lc_tracer_t *t, uint64_t now)
{
    return t->body.len && (t->stopping || t->body.len >= FLUSH_CHARS || t->keys.len >= FLUSH_KEYS ||
                           now - t->first_ms >= FLUSH_MS);
}

static void send_batch(lc_tracer_t *t, cm_buf_t *body, cm_buf_t *keys)
{
    lc_message_t m = {.topic = t->topic, .keys = keys->len ? keys->data : NULL, .body = body->data,
                      .body_len = body->len};
    lc_send_result_t res;
    int rc = lc_producer_send_sync(t->producer, &m, &res);
    if (rc)
        LOG_W("client", "trace: sending %zu bytes of trace records to %s failed: %s", body->len, t->topic,
              res.error[0] ? res.error : lc_strerror(rc));
    lc_send_result_clear(&res);
}

static void tracer_main(void *arg)
{
    lc_tracer_t *t = arg;
    cm_buf_t body, keys;
    cm_buf_init(&body);
    cm_buf_init(&keys);
    uv_mutex_lock(&t->mu);
    for (;;) {
        uint64_t now = cm_mono_ms();
        if (!due(t, now)) {
            if (t->stopping)
                break;
            uint64_t wait_ms = t->body.len ? FLUSH_MS - (now - t->first_ms) : 60000;
            uv_cond_timedwait(&t->cv, &t->mu, wait_ms * 1000000ull);
            continue;
        }
        /* take the batch and send it unlocked: appending goes on meanwhile */
        cm_buf_t tb = t->body, tk = t->keys;
        t->body = body;
        t->keys = keys;
        cm_buf_reset(&t->body);
        cm_buf_reset(&t->keys);
        cm_map_free(&t->seen, NULL);
        cm_map_init(&t->seen);
        if (t->dropped) {
            LOG_W("client", "trace: %llu record(s) dropped (trace sends cannot keep up)", (unsigned long long)t->dropped);
            t->dropped = 0;
        }
        uv_mutex_unlock(&t->mu);
        send_batch(t, &tb, &tk);
        body = tb;
        keys = tk;
        uv_mutex_lock(&t->mu);
    }
    uv_mutex_unlock(&t->mu);
    cm_buf_free(&body);
    cm_buf_free(&keys);
}

static int add_key(lc_tracer_t *t, const char *k, size_t len)
{
    char tmp[512];
    if (len == 0 || len >= sizeof tmp)
        return 0;  /* a key that long is not worth indexing */
    memcpy(tmp, k, len);
    tmp[len] = 0;
    if (cm_map_get(&t->seen, tmp))
        return 0;
    if (cm_map_put(&t->seen, tmp, (void *)1))
        return LC_ENOMEM;
    return (t->keys.len && cm_buf_putc(&t->keys, ' ')) || cm_buf_append(&t->keys, k, len) ? LC_ENOMEM : 0;
}

/* Keys the trace message is found by: the msgId, and each space-separated business key. */
static int add_keys(lc_tracer_t *t, const char *msg_id, const char *keys)
{
    int rc = msg_id ? add_key(t, msg_id, strlen(msg_id)) : 0;
    for (const char *p = keys; rc == 0 && p && *p;) {
        size_t n = strcspn(p, " ");
        rc = add_key(t, p, n);
        p += n;
        p += *p == ' ';
    }
    return rc;
}

void lc_tracer_add(lc_tracer_t *t, const char *rec, size_t len, const char *msg_id, const char *keys)
{
    if (!t || !len)
        return;
    uv_mutex_lock(&t->mu);
    if (t->stopping || t->body.len + len > MAX_PENDING) {
        t->dropped++;
    } else {
        size_t blen = t->body.len, klen = t->keys.len;
        if (cm_buf_append(&t->body, rec, len) || add_keys(t, msg_id, keys)) {
            t->body.len = blen;  /* all or nothing; a key left in `seen` only costs its index */
            t->keys.len = klen;
            t->dropped++;
        } else if (blen == 0) {
            t->first_ms = cm_mono_ms();
            uv_cond_signal(&t->cv);
        } else if (t->body.len >= FLUSH_CHARS || t->keys.len >= FLUSH_KEYS) {
            uv_cond_signal(&t->cv);
        }
    }
    uv_mutex_unlock(&t->mu);
}

static int tracer_producer(lc_tracer_t *t, const lc_tracer_cfg_t *cfg)
{
    static unsigned counter;
    char group[LC_MAX_NAME];
    int n = snprintf(group, sizeof group, "_INNER_TRACE_PRODUCER-%s-%s-%u", cfg->group, cfg->type,
                     __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    if (n < 0 || (size_t)n >= sizeof group)
        return LC_EINVAL;
    int rc = lc_producer_create(group, cfg->namesrv, &t->producer);
    if (rc)
        return rc;
    lc_producer_set_send_timeout(t->producer, TRACE_SEND_TIMEOUT_MS);
    lc_producer_set_compress_threshold(t->producer, 0);
    if ((rc = lc_producer_set_credentials(t->producer, cfg->access_key, cfg->secret_key)) != 0)
        return rc;
    return lc_producer_start(t->producer);
}

int lc_tracer_start(const lc_tracer_cfg_t *cfg, lc_tracer_t **out)
{
    const char *topic = cfg->topic && *cfg->topic ? cfg->topic : LC_TRACE_TOPIC_DEFAULT;
    if (strlen(topic) >= LC_MAX_TOPIC)
        return LC_EINVAL;
    lc_tracer_t *t = calloc(1, sizeof *t);
    if (!t)
        return LC_ENOMEM;
    snprintf(t->topic, sizeof t->topic, "%s", topic);
    cm_buf_init(&t->body);
    cm_buf_init(&t->keys);
    cm_map_init(&t->seen);
    uv_mutex_init(&t->mu);
    uv_cond_init(&t->cv);
    int rc = tracer_producer(t, cfg);
    if (rc == 0 && uv_thread_create(&t->th, tracer_main, t) != 0)
        rc = LC_ENOMEM;
    if (rc) {
        LOG_E("client", "trace: cannot start the trace producer of %s: %s", cfg->group, lc_strerror(rc));
        lc_producer_destroy(t->producer);
        t->producer = NULL;
        lc_tracer_stop(t);
        return rc;
    }
    *out = t;
    return 0;
}

void lc_tracer_stop(lc_tracer_t *t)
{
    if (!t)
        return;
    if (t->producer) {  /* the thread runs: it sends what is left, then ends */
        uv_mutex_lock(&t->mu);
        t->stopping = 1;
        uv_cond_signal(&t->cv);
        uv_mutex_unlock(&t->mu);
        uv_thread_join(&t->th);
        lc_producer_destroy(t->producer);
    }
    cm_buf_free(&t->body);
    cm_buf_free(&t->keys);
    cm_map_free(&t->seen, NULL);
    uv_mutex_destroy(&t->mu);
    uv_cond_destroy(&t->cv);
    free(t);
}

/* ---- hooks ---- */

void lc_trace_record(lc_tracer_t *t, int (*enc)(cm_buf_t *, const lc_trace_rec_t *), const lc_trace_rec_t *r)
{
    cm_buf_t b;
    cm_buf_init(&b);
    if (t && enc(&b, r) == 0)
        lc_tracer_add(t, b.data, b.len, r->msg_id, r->keys);
    cm_buf_free(&b);
}
