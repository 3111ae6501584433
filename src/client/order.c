/* order.c: what orderly and broadcasting consumers need besides pulling.
 *  - Queue locks at the brokers (LOCK_BATCH_MQ 41 / UNLOCK_BATCH_MQ 42): an orderly consumer
 *    consumes a queue only while it holds the broker's lock on it, so one consumer of the group
 *    at a time processes each queue, in order.
 *  - The local offset store of broadcasting consumers (each client keeps its own progress), in
 *    $HOME/.rocketmq_offsets/<clientId>/<group>/offsets.json as RocketMQ's LocalFileOffsetStore,
 *    {"offsetTable":{"topic@brokerName@queueId":offset,...}}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/lc.h"

#define LOCK_TIMEOUT_MS 3000

static lj_val_t *mq_json(const lc_mq_t *mq)
{
    lj_val_t *o = lj_new_obj();
    if (o && (lj_set_str(o, "brokerName", mq->broker_name) || lj_set_int(o, "queueId", mq->queue_id) ||
              lj_set_str(o, "topic", mq->topic))) {
        lj_free(o);
        return NULL;
    }
    return o;
}

/* One request to one broker with the queues of `mqs` that live there. */
static int lock_call(lc_inst_t *in, int code, const char *group, const lc_mq_t *mqs, size_t n, const char *broker,
                     int *locked)
{
    char addr[64];
    if (lc_broker_addr(in, broker, addr, sizeof addr) != 0)
        return LC_ENOROUTE;
    lj_val_t *body = lj_new_obj(), *set = lj_new_arr();
    int err = !body || !set;
    for (size_t i = 0; i < n && !err; i++)
        if (strcmp(mqs[i].broker_name, broker) == 0) {
            lj_val_t *m = mq_json(&mqs[i]);
            err = !m || lj_push(set, m) != 0;
        }
    if (!err && lj_set(body, "mqSet", set) == 0)
        set = NULL; /* the body owns it now */
    else
        err = 1;
    err = err || lj_set_str(body, "clientId", lc_inst_client_id(in)) || lj_set_str(body, "consumerGroup", group);
    if (err) {
        lj_free(body);
        lj_free(set);
        return LC_ENOMEM;
    }
    cm_buf_t out;
    cm_buf_init(&out);
    lj_write(body, 0, &out);
    lj_free(body);
    rm_cmd_t req, resp;
    lc_req_init(&req, code);
    req.body = (const uint8_t *)out.data;
    req.body_len = out.len;
    rm_cmd_own_body(&req);
    cm_buf_free(&out);
    int rc = lc_rpc_sync(in, addr, &req, LOCK_TIMEOUT_MS, &resp);
    if (rc)
        return rc;
    if (resp.code != 0) {
        rm_cmd_free(&resp);
        return LC_EBROKER;
    }
    lj_val_t *root = NULL;
    if (locked && resp.body_len && lj_parse((const char *)resp.body, resp.body_len, &root) == 0) {
        const lj_val_t *ok = lj_get(root, "lockOKMQSet");
        for (size_t k = 0; ok && ok->type == LJ_ARR && k < ok->n; k++) {
            const lj_val_t *m = ok->items[k];
            for (size_t i = 0; i < n; i++)
                if (strcmp(mqs[i].broker_name, lj_get_str(m, "brokerName", "")) == 0 &&
                    strcmp(mqs[i].topic, lj_get_str(m, "topic", "")) == 0 &&
                    mqs[i].queue_id == (int32_t)lj_get_int(m, "queueId", -1))
                    locked[i] = 1;
        }
    }
    lj_free(root);
    rm_cmd_free(&resp);
    return 0;
}

/* Apply code (41 or 42) to every broker that holds one of the queues. */
static void each_broker(lc_inst_t *in, int code, const char *group, const lc_mq_t *mqs, size_t n, int *locked)
{
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(mqs[j].broker_name, mqs[i].broker_name) == 0;
        if (!seen)
            lock_call(in, code, group, mqs, n, mqs[i].broker_name, locked);
    }
}

void lc_lock_mqs(lc_inst_t *in, const char *group, const lc_mq_t *mqs, size_t n, int *locked)
{
    memset(locked, 0, n * sizeof *locked);
    each_broker(in, 41, group, mqs, n, locked);
}

void lc_unlock_mqs(lc_inst_t *in, const char *group, const lc_mq_t *mqs, size_t n)
{
    each_broker(in, 42, group, mqs, n, NULL);
}

/* ---- local offsets (broadcasting) ------------------------------------------------------------ */

static void offsets_path(char *out, size_t n, const char *client_id, const char *group)
{
    const char *home = getenv("HOME");
    snprintf(out, n, "%s/.rocketmq_offsets/%s/%s/offsets.json", home ? home : ".", client_id, group);
}

static void mq_key(char *out, size_t n, const lc_mq_t *mq)
{
    snprintf(out, n, "%s@%s@%d", mq->topic, mq->broker_name, mq->queue_id);
}

int lc_local_offset_load(const char *client_id, const char *group, const lc_mq_t *mq, int64_t *off)
{
    char path[1024], key[400];
    offsets_path(path, sizeof path, client_id, group);
    mq_key(key, sizeof key, mq);
    FILE *f = fopen(path, "rb");
    if (!f)
        return LC_ENOTFOUND;
    cm_buf_t b;
    cm_buf_init(&b);
    char chunk[4096];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
        cm_buf_append(&b, chunk, r);
    fclose(f);
    lj_val_t *root = NULL;
    int rc = LC_ENOTFOUND;
    if (b.len && lj_parse(b.data, b.len, &root) == 0) {
        const lj_val_t *v = lj_get(lj_get(root, "offsetTable"), key);
        if (v) {
            *off = lj_int(v, -1);
            rc = *off >= 0 ? 0 : LC_ENOTFOUND;
        }
    }
    lj_free(root);
    cm_buf_free(&b);
    return rc;
}

int lc_local_offset_save(const char *client_id, const char *group, const lc_mq_t *mqs, const int64_t *offs, size_t n)
{
    char path[1024], dir[1024], key[400];
    offsets_path(path, sizeof path, client_id, group);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    if (cm_mkdirs(dir) != 0)
        return LC_ENOMEM;
    lj_val_t *root = lj_new_obj(), *tab = lj_new_obj();
    for (size_t i = 0; root && tab && i < n; i++) {
        mq_key(key, sizeof key, &mqs[i]);
        lj_set(tab, key, lj_new_int(offs[i]));
    }
    lj_set(root, "offsetTable", tab);
    cm_buf_t out;
    cm_buf_init(&out);
    int rc = lj_write(root, 0, &out);
    lj_free(root);
    if (rc == 0)
        rc = cm_write_file_safe(path, out.data, out.len);
    cm_buf_free(&out);
    return rc ? LC_ENOMEM : 0;
}
