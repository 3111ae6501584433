/* lock.c: LOCK_BATCH_MQ (41) / UNLOCK_BATCH_MQ (42), the queue locks orderly consumers take
 * (store spec §7.5). Per group and queue: the client that holds it and when it last renewed.
 * A lock is granted when free, expired (not renewed for rebalanceLockMaxLiveTime, 60 s as
 * RocketMQ), or already the caller's; the answer lists the queues the caller now holds.
 * Unlock releases the caller's own locks only. Loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/clients/clients.h"

typedef struct mq_lock {
    char clientId[256];
    uint64_t lastUpdate;        /* uv_now */
} mq_lock_t;

static void lock_key(char *out, size_t n, const char *group, const lj_val_t *mq)
{
    snprintf(out, n, "%s\001%s\001%s\001%lld", group, lj_get_str(mq, "topic", ""), lj_get_str(mq, "brokerName", ""),
             (long long)lj_get_int(mq, "queueId", -1));
}

/* A fresh copy of a request's MessageQueue, for the answer's set. */
static lj_val_t *mq_copy(const lj_val_t *mq)
{
    return br_mq_json(lj_get_str(mq, "brokerName", ""), lj_get_str(mq, "topic", ""), (int)lj_get_int(mq, "queueId", -1));
}

static int parse_body(rm_conn_t *c, rm_cmd_t *req, lj_val_t **body, const char **group, const char **client,
                      const lj_val_t **set)
{
    if (lj_parse((const char *)req->body, req->body_len, body) != 0 || (*body)->type != LJ_OBJ ||
        !(*group = lj_get_str(*body, "consumerGroup", NULL)) || br_group_name_error(*group) || !(*client = lj_get_str(*body, "clientId", NULL)) ||
        !(*set = lj_get(*body, "mqSet")) || (*set)->type != LJ_ARR) {
        lj_free(*body);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "the body is not a LockBatchRequestBody "
                                                     "{consumerGroup, clientId, mqSet}");
        return -1;
    }
    return 0;
}

void br_handle_lock_batch_mq(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    lj_val_t *body;
    const char *group, *client;
    const lj_val_t *set;
    if (parse_body(c, req, &body, &group, &client, &set))
        return;
    uint64_t now = uv_now(b->loop);
    lj_val_t *resp = lj_new_obj(), *ok = lj_new_arr();
    for (size_t i = 0; i < set->n; i++) {
        char key[700];
        lock_key(key, sizeof key, group, set->items[i]);
        mq_lock_t *l = cm_map_get(&b->clients->locks, key);
        if (!l && (l = calloc(1, sizeof *l)) != NULL && cm_map_put(&b->clients->locks, key, l) != 0) {
            free(l);
            l = NULL;
        }
        if (!l)
            continue;
        int expired = now - l->lastUpdate > (uint64_t)b->cfg.rebalanceLockMaxLiveTime;
        if (!l->clientId[0] || expired || strcmp(l->clientId, client) == 0) {
            if (l->clientId[0] && strcmp(l->clientId, client) != 0)
                LOG_I("broker", "queue lock of %s expired; now held by %s", l->clientId, client);
            snprintf(l->clientId, sizeof l->clientId, "%s", client);
            l->lastUpdate = now;
            lj_push(ok, mq_copy(set->items[i]));
        }
    }
    lj_set(resp, "lockOKMQSet", ok);
    rm_conn_respond_json(c, req, resp, LJ_W_FASTJSON);
    lj_free(body);
}

void br_handle_unlock_batch_mq(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    lj_val_t *body;
    const char *group, *client;
    const lj_val_t *set;
    if (parse_body(c, req, &body, &group, &client, &set))
        return;
    for (size_t i = 0; i < set->n; i++) {
        char key[700];
        lock_key(key, sizeof key, group, set->items[i]);
        mq_lock_t *l = cm_map_get(&b->clients->locks, key);
        if (l && strcmp(l->clientId, client) == 0)
            free(cm_map_remove(&b->clients->locks, key));
    }
    lj_free(body);
    rm_conn_respond_code(c, req, RC_SUCCESS, NULL);
}

static void free_lock(void *v) { free(v); }
void br_locks_free(br_clients_t *c) { cm_map_free(&c->locks, free_lock); }
