/* query.c: QUERY_MESSAGE (12), the broker side of query by key and by unique key
 * (remoting spec "QUERY_MESSAGE"). The store's index finds the records; they go back to
 * back in the body, with the index's last-update time and offset in the header. With
 * _UNIQUE_KEY_QUERY=true the key is a UNIQ_KEY and maxNum is the broker's defaultQueryMaxNum
 * (32), as RocketMQ.
 * The index lookup waits (up to 1 s) for the index writer thread and walks the index files
 * under its lock, so it runs on libuv's thread pool (st_query_index, issue 17: on the loop it
 * stalled every client); the after-work callback verifies the candidates and copies the
 * records on the loop, which alone may read the commit log (retention unmaps its files there).
 * At most QUERY_INFLIGHT_MAX lookups are in the pool; more are refused with SYSTEM_BUSY. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/core/core.h"

#define DEFAULT_QUERY_MAX_NUM 32
/* libuv's pool has 4 threads by default: a stuck index writer (1 s per lookup) may hold them
 * all for that second, which delays other pool work but never the loop */
#define QUERY_INFLIGHT_MAX 4

typedef struct br_query_job {
    uv_work_t work;
    br_broker_t *b;             /* NULL once the broker stopped: the job only frees itself */
    st_store_t *st;             /* what the pool reads (never b) */
    rm_conn_t *conn;            /* referenced while the job lives */
    rm_cmd_t req;               /* the request's header, for the answer */
    char *topic, *key;
    int32_t maxNum;
    int uniq;
    int64_t begin, end;
    int rc;                     /* pool: st_query_index's result */
    atomic_int done;            /* pool: the lookup is over (br_query_drain waits for it) */
    st_query_cand_t cand;       /* pool: the candidates (2 KiB: per job, not on a stack) */
    st_query_result_t qr;       /* loop: the verified ones */
    struct br_query_job *prev, *next; /* b->query_jobs, while b is set */
} br_query_job_t;

/* Loop thread: the answer as RocketMQ gives it, from the verified offsets (rc: ST_OK or why
 * none). The records are read here, on the loop. */
static void answer(br_broker_t *b, rm_conn_t *c, const rm_cmd_t *req, int rc, const st_query_result_t *qr)
{
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_ext_set_i64(&resp, "indexLastUpdateTimestamp", qr->lastUpdateTimestamp);
    rm_ext_set_i64(&resp, "indexLastUpdatePhyoffset", qr->lastUpdatePhyOffset);
    cm_buf_t body;
    cm_buf_init(&body);
    for (int i = 0; rc == ST_OK && i < qr->n; i++) {
        const uint8_t *p;
        uint32_t len;
        if (st_read_record_at(b->store, qr->phy[i], &p, &len) == ST_OK && cm_buf_append(&body, p, len) != 0) {
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

/* Pool thread: only the index (st_query_index is safe off the loop while the store is open;
 * br_query_drain keeps it open until every lookup is over). */
static void lookup(uv_work_t *w)
{
    br_query_job_t *j = w->data;
    j->rc = st_query_index(j->st, j->topic, j->key, j->begin, j->end, &j->cand);
    atomic_store(&j->done, 1);
}

static void unlink_job(br_broker_t *b, br_query_job_t *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        b->query_jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    b->query_inflight--;
}

static void job_free(br_query_job_t *j)
{
    rm_conn_unref(j->conn);
    rm_cmd_free(&j->req);
    free(j->topic);
    free(j->key);
    free(j);
}

/* Loop thread: verify and answer, unless the client left (its answer is dropped) or the broker
 * stopped (the store is closed). */
static void lookup_done(uv_work_t *w, int status)
{
    br_query_job_t *j = w->data;
    br_broker_t *b = j->b;
    if (b) {
        unlink_job(b, j);
        if (rm_conn_is_closed(j->conn)) {
            /* nobody to answer */
        } else if (status != 0) {
            rm_conn_respond_code(j->conn, &j->req, RC_SYSTEM_ERROR, "the query was not run");
        } else {
            int rc = j->rc;
            if (rc == ST_OK || rc == ST_ENOENT) /* ENOENT: no candidate; lastUpdate* still told */
                rc = st_query_verify(b->store, &j->cand, j->topic, j->key, j->maxNum, j->begin, j->end,
                                     j->uniq, &j->qr);
            else
                memset(&j->qr, 0, sizeof j->qr);
            answer(b, j->conn, &j->req, rc, &j->qr);
        }
    }
    job_free(j);
}

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
    if (!*key || maxNum <= 0) { /* nothing to look up: not found, as the store says at once */
        st_query_result_t none = {.n = 0};
        answer(b, c, req, ST_EINVAL, &none);
        return;
    }
    if (b->stopping || !b->store) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "the broker is stopping");
        return;
    }
    if (b->query_inflight >= QUERY_INFLIGHT_MAX) {
        rm_conn_respond_code(c, req, RC_SYSTEM_BUSY,
                             "[QUERY_MESSAGE] too many queries by key in progress (%d), try again later",
                             QUERY_INFLIGHT_MAX);
        return;
    }
    br_query_job_t *j = calloc(1, sizeof *j);
    if (!j || !(j->topic = strdup(topic)) || !(j->key = strdup(key))) {
        if (j)
            free(j->topic);
        free(j);
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "out of memory");
        return;
    }
    j->work.data = j;
    j->b = b;
    j->st = b->store;
    j->conn = c;
    rm_conn_ref(c);
    rm_cmd_init_header_of(&j->req, req);
    j->maxNum = maxNum;
    j->uniq = uniq;
    j->begin = begin;
    j->end = end;
    if (uv_queue_work(b->loop, &j->work, lookup, lookup_done) != 0) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "the query could not be queued");
        job_free(j);
        return;
    }
    j->next = b->query_jobs;
    if (j->next)
        j->next->prev = j;
    b->query_jobs = j;
    b->query_inflight++;
}

void br_query_drain(br_broker_t *b)
{
    while (b->query_jobs) {
        br_query_job_t *j = b->query_jobs;
        /* not started yet: cancelled (its callback runs with UV_ECANCELED and frees it);
         * started: it ends within the index writer wait (1 s) and one walk */
        if (uv_cancel((uv_req_t *)&j->work) != 0)
            while (!atomic_load(&j->done))
                usleep(1000);
        unlink_job(b, j);
        j->b = NULL;
    }
}
