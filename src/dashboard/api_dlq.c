/* api_dlq.c: the DLQ Message page's requests (spec dashboard.md §2.9, §3.8): a consumer
 * group's dead letters (%DLQ%<group>) by time, their export as .xlsx files, and a batch
 * resend to the group's clients.
 *
 * Each is the Message page's request on the group's DLQ topic: the handlers of api_message.c
 * are called through its route table with a request built here (so both pages read, page and
 * resend messages in one way), and this file adds what is the DLQ page's own: the topic
 * naming, the spreadsheet rows, the per-message results of a batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dashboard.h"

#define BATCH_MAX 500 /* messages in one batch export or resend: each is a few admin requests */
#define XLSX_TYPE "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

/* ---- calling the Message page's handlers ---- */

static int sub_param(dh_req_t *s, const char *key, const char *val)
{
    if (!val)
        return 0;
    dh_kv_t *p = realloc(s->params, (s->nparams + 1) * sizeof *p);
    if (!p)
        return -1;
    s->params = p;
    p[s->nparams].key = cm_strdup(key);
    p[s->nparams].val = cm_strdup(val);
    if (!p[s->nparams].key || !p[s->nparams].val) {
        free(p[s->nparams].key);
        free(p[s->nparams].val);
        return -1;
    }
    s->nparams++;
    return 0;
}

/* Run the Message page's handler of path on s (freed here; its json taken too). 0 with *data,
 * or -1 with its errMsg in err. */
static int run_message(dh_req_t *parent, const char *path, dh_req_t *s, lj_val_t **data, char err[512])
{
    const dh_route_t *rt = dh_routes_message;
    while (rt->path && strcmp(rt->path, path) != 0)
        rt++;
    s->method = rt->methods ? rt->methods : "GET";
    s->path = path;
    s->body = "";
    s->user = parent->user;
    snprintf(s->client_ip, sizeof s->client_ip, "%s", parent->client_ip);
    *data = NULL;
    int rc = rt->fn ? rt->fn(s, data) : -1;
    if (rc) {
        snprintf(err, 512, "%s", s->err[0] ? s->err : "failed");
        lj_free(*data);
        *data = NULL;
    }
    dh_req_free(s);
    return rc;
}

static int group_ok(const char *g)
{
    size_t n = g ? strlen(g) : 0;
    return n > 0 && n <= 120; /* "%DLQ%" + group must stay a topic name (127) */
}

/* ---- query ---- */

/* POST dlqMessage/queryDlqMessageByConsumerGroup.query, JSON MessageQuery: the page of
 * %DLQ%<group> (the UI sends that topic; consumerGroup alone is taken too). An empty page,
 * not an error, when the group has no DLQ topic yet. */
static int h_query(dh_req_t *r, lj_val_t **data)
{
    const lj_val_t *body = dh_body_obj(r);
    if (!body)
        return -1;
    const char *topic = lj_get_str(body, "topic", NULL), *group = lj_get_str(body, "consumerGroup", NULL);
    char dlq[160];
    if ((!topic || !*topic) && group_ok(group))
        snprintf(dlq, sizeof dlq, "%%DLQ%%%s", group);
    else if (topic && strncmp(topic, "%DLQ%", 5) == 0 && strlen(topic) < sizeof dlq)
        snprintf(dlq, sizeof dlq, "%s", topic);
    else
        return dh_fail(r, "a %%DLQ%% topic or a consumerGroup is required");
    dh_req_t s = {0};
    if (lj_parse(r->body, r->blen, &s.json) != 0 || lj_set_str(s.json, "topic", dlq)) { /* a copy to rewrite */
        dh_req_free(&s);
        return dh_fail(r, "out of memory");
    }
    char err[512];
    if (run_message(r, "message/queryMessagePageByTopic.query", &s, data, err))
        return dh_fail(r, "%s", err);
    return 0;
}

/* ---- export ---- */

static const char *const k_columns[] = {"topic",          "msgId",          "bornHost",   "bornTimestamp",
                                        "storeTimestamp", "reconsumeTimes", "properties", "messageBody",
                                        "bodyCRC",        "exception"};
#define NCOLS (sizeof k_columns / sizeof *k_columns)

static char *fmt_time(int64_t ms)
{
    char out[32];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, sizeof out, "%Y-%m-%d %H:%M:%S", &tm);
    return cm_strdup(out);
}

static char *fmt_int(int64_t v)
{
    char out[32];
    snprintf(out, sizeof out, "%lld", (long long)v);
    return cm_strdup(out);
}

/* Java's Map.toString of the properties: {k=v, k=v} */
static char *fmt_props(const lj_val_t *props)
{
    cm_buf_t b;
    cm_buf_init(&b);
    cm_buf_putc(&b, '{');
    for (size_t i = 0; props && props->type == LJ_OBJ && i < props->n; i++)
        cm_buf_printf(&b, "%s%s=%s", i ? ", " : "", lj_str(props->members[i].key, ""),
                      lj_str(props->members[i].val, ""));
    cm_buf_putc(&b, '}');
    return cm_buf_steal(&b);
}

/* One row (NCOLS cells, each allocated) from a MessageView, or for a lookup that failed. */
static void row_of(char **row, const lj_val_t *v, const char *msg_id, const char *topic, const char *err)
{
    if (!v) {
        row[0] = cm_strdup(topic);
        row[1] = cm_strdup(msg_id);
        row[9] = cm_strdup(err);
        return;
    }
    row[0] = cm_strdup(lj_get_str(v, "topic", ""));
    row[1] = cm_strdup(lj_get_str(v, "msgId", ""));
    row[2] = cm_strdup(lj_get_str(v, "bornHost", ""));
    row[3] = fmt_time(lj_get_int(v, "bornTimestamp", 0));
    row[4] = fmt_time(lj_get_int(v, "storeTimestamp", 0));
    row[5] = fmt_int(lj_get_int(v, "reconsumeTimes", 0));
    row[6] = fmt_props(lj_get(v, "properties"));
    const lj_val_t *body = lj_get(v, "messageBody");
    row[7] = body && body->type == LJ_STR ? cm_strdup(body->s) : NULL;
    row[8] = fmt_int(lj_get_int(v, "bodyCRC", 0));
}

/* Look one message of the group's DLQ up and fill its row; -1 (row still filled, with the
 * exception) when it cannot be found. err gets the reason. */
static int export_row(dh_req_t *r, const char *group, const char *msg_id, char **row, char err[512])
{
    char topic[160];
    snprintf(topic, sizeof topic, "%%DLQ%%%s", group);
    dh_req_t s = {0};
    lj_val_t *data = NULL;
    int rc = sub_param(&s, "topic", topic) || sub_param(&s, "msgId", msg_id) ? -1 : 0;
    if (rc) {
        dh_req_free(&s);
        snprintf(err, 512, "out of memory");
    } else {
        rc = run_message(r, "messageTrace/viewMessage.query", &s, &data, err);
    }
    row_of(row, rc ? NULL : lj_get(data, "messageView"), msg_id, topic, err);
    lj_free(data);
    return rc;
}

/* Answer rows (nrows x NCOLS, freed here) as an .xlsx attachment. */
static int send_xlsx(dh_req_t *r, const char *sheet, const char *file, char **rows, size_t nrows)
{
    cm_buf_t b;
    cm_buf_init(&b);
    int rc = dh_xlsx_write(&b, sheet, k_columns, NCOLS, (const char *const *)rows, nrows);
    for (size_t i = 0; i < nrows * NCOLS; i++)
        free(rows[i]);
    free(rows);
    if (rc == 0)
        rc = dh_raw(r, XLSX_TYPE, b.data, b.len, file);
    else
        rc = dh_fail(r, "export dlq message failed!");
    cm_buf_free(&b);
    return rc;
}

/* GET dlqMessage/exportDlqMessage.do?consumerGroup=&msgId= : dlq.xlsx with that message */
static int h_export(dh_req_t *r, lj_val_t **data)
{
    const char *group, *id;
    char err[512];
    if (dh_param_req(r, "consumerGroup", &group) || dh_param_req(r, "msgId", &id))
        return -1;
    if (!group_ok(group))
        return dh_fail(r, "bad consumerGroup: 1 to 120 characters");
    char **row = calloc(NCOLS, sizeof *row);
    if (!row)
        return dh_fail(r, "out of memory");
    if (export_row(r, group, id, row, err)) {
        for (size_t i = 0; i < NCOLS; i++)
            free(row[i]);
        free(row);
        return dh_fail(r, "%s", err); /* "Failed to query message by Id: <id>" */
    }
    return send_xlsx(r, "dlq", "dlq.xlsx", row, 1);
}

/* POST dlqMessage/batchExportDlqMessage.do, JSON [{consumerGroup, msgId}]: dlqs.xlsx, one row
 * per message; a message not found still has its row, with the reason under "exception". */
static int h_batch_export(dh_req_t *r, lj_val_t **data)
{
    const lj_val_t *arr = dh_body_arr(r);
    if (!arr)
        return -1;
    if (arr->n == 0 || arr->n > BATCH_MAX)
        return dh_fail(r, "1 to %d messages per export", BATCH_MAX);
    for (size_t i = 0; i < arr->n; i++) {
        const char *g = lj_get_str(arr->items[i], "consumerGroup", NULL), *id = lj_get_str(arr->items[i], "msgId", NULL);
        if (!group_ok(g) || !id || !*id)
            return dh_fail(r, "item %zu: consumerGroup and msgId are required", i);
    }
    char **rows = calloc(arr->n * NCOLS, sizeof *rows);
    if (!rows)
        return dh_fail(r, "out of memory");
    for (size_t i = 0; i < arr->n; i++) {
        char err[512];
        export_row(r, lj_get_str(arr->items[i], "consumerGroup", ""), lj_get_str(arr->items[i], "msgId", ""),
                   rows + i * NCOLS, err);
    }
    return send_xlsx(r, "dlqs", "dlqs.xlsx", rows, arr->n);
}

/* ---- resend ---- */

/* POST dlqMessage/batchResendDlqMessage.do, JSON [{topicName (or topic), consumerGroup, msgId,
 * clientId}]: [{consumeResult, remark, msgId}], one per message in order; a message that could
 * not be resent has consumeResult null and the reason as remark. Without a topic the message
 * is looked up in %DLQ%<group>. */
static int h_batch_resend(dh_req_t *r, lj_val_t **data)
{
    const lj_val_t *arr = dh_body_arr(r);
    if (!arr)
        return -1;
    if (arr->n == 0 || arr->n > BATCH_MAX)
        return dh_fail(r, "1 to %d messages per resend", BATCH_MAX);
    for (size_t i = 0; i < arr->n; i++) {
        const lj_val_t *it = arr->items[i];
        if (!group_ok(lj_get_str(it, "consumerGroup", NULL)) || !*lj_get_str(it, "msgId", ""))
            return dh_fail(r, "item %zu: consumerGroup and msgId are required", i);
    }
    lj_val_t *out = lj_new_arr();
    for (size_t i = 0; out && i < arr->n; i++) {
        const lj_val_t *it = arr->items[i];
        const char *group = lj_get_str(it, "consumerGroup", ""), *id = lj_get_str(it, "msgId", "");
        const char *topic = lj_get_str(it, "topicName", NULL);
        char dlq[160], err[512] = "";
        if (!topic || !*topic)
            topic = lj_get_str(it, "topic", NULL);
        if (!topic || !*topic) {
            snprintf(dlq, sizeof dlq, "%%DLQ%%%s", group);
            topic = dlq;
        }
        dh_req_t s = {0};
        lj_val_t *res = NULL, *o = lj_new_obj();
        int rc = sub_param(&s, "topic", topic) || sub_param(&s, "consumerGroup", group) || sub_param(&s, "msgId", id) ||
                 sub_param(&s, "clientId", lj_get_str(it, "clientId", NULL));
        if (rc) {
            dh_req_free(&s);
            snprintf(err, sizeof err, "out of memory");
        } else {
            rc = run_message(r, "message/consumeMessageDirectly.do", &s, &res, err);
        }
        if (o) {
            const lj_val_t *cr = lj_get(res, "consumeResult");
            lj_set(o, "consumeResult", !rc && cr && cr->type == LJ_STR ? lj_new_str(cr->s) : lj_new_null());
            const char *remark = rc ? err : lj_get_str(res, "remark", NULL);
            lj_set(o, "remark", remark ? lj_new_str(remark) : lj_new_null());
            lj_set_str(o, "msgId", id);
            lj_push(out, o);
        }
        lj_free(res);
    }
    *data = out;
    return out ? 0 : dh_fail(r, "out of memory");
}

const dh_route_t dh_routes_dlq[] = {
    {"dlqMessage/queryDlqMessageByConsumerGroup.query", h_query, "POST"},
    {"dlqMessage/exportDlqMessage.do", h_export, "GET"},
    {"dlqMessage/batchExportDlqMessage.do", h_batch_export, "POST"},
    {"dlqMessage/batchResendDlqMessage.do", h_batch_resend, "POST"},
    {NULL},
};
