/* query.c: QUERY_MESSAGE (12), the broker side of query by key and by unique key
 * (remoting spec "QUERY_MESSAGE"). The store's index finds the records; they go back to
 * back in the body, with the index's last-update time and offset in the header. With
 * _UNIQUE_KEY_QUERY=true the key is a UNIQ_KEY and maxNum is the broker's defaultQueryMaxNum
 * (32), as RocketMQ. */
#include <stdlib.h>
#include <string.h>

#include "broker/core/core.h"

#define DEFAULT_QUERY_MAX_NUM 32

void br_handle_query_message(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    const char *topic = rm_req_str(c, req, "topic");
    const char *key = topic ? rm_req_str(c, req, "key") : NULL;
    int32_t maxNum;
    int64_t begin, end;
    if (!key || rm_req_i32(c, req, "maxNum", &maxNum) || rm_req_i64(c, req, "beginTimestamp", &begin) ||
        rm_req_i64(c, req, "endTimestamp", &end))
        return;
    const char *u = rm_ext_get(req, "_UNIQUE_KEY_QUERY");
    int uniq = u && strcmp(u, "true") == 0;
    if (uniq)
        maxNum = DEFAULT_QUERY_MAX_NUM;
    static st_query_result_t qr; /* loop thread only; 1 KiB is too much for the stack habit */
    int rc = st_query_by_key(b->store, topic, key, maxNum, begin, end, uniq, &qr);
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_ext_set_i64(&resp, "indexLastUpdateTimestamp", qr.lastUpdateTimestamp);
    rm_ext_set_i64(&resp, "indexLastUpdatePhyoffset", qr.lastUpdatePhyOffset);
    cm_buf_t body;
    cm_buf_init(&body);
    for (int i = 0; rc == ST_OK && i < qr.n; i++) {
        const uint8_t *p;
        uint32_t len;
        if (st_read_record_at(b->store, qr.phy[i], &p, &len) == ST_OK && cm_buf_append(&body, p, len) != 0) {
            rc = ST_ENOMEM;
            break;
        }
    }
    if (rc == ST_OK && body.len) {
        resp.body = (const uint8_t *)body.data;
        resp.body_len = body.len;
    } else {
        resp.code = RC_QUERY_NOT_FOUND;
        rm_cmd_set_remark(&resp, "can not find message, maybe time range not correct");
    }
    rm_conn_respond(c, req, &resp);
    resp.body = NULL;
    rm_cmd_free(&resp);
    cm_buf_free(&body);
}
