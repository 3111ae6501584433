/* dashboard: loulan-dashboard, a web console with rocketmq-dashboard's pages and JSON API
 * (spec dashboard.md), on libmicrohttpd. Prefix dh_.
 *
 * Shape: http.c turns each HTTP request into a dh_req_t (MHD-free, so unit tests and the fuzz
 * target call dh_dispatch directly), checks login and role (auth.c), finds the route and
 * wraps what the handler returns in rocketmq-dashboard's envelope
 * {"status":0,"data":...,"errMsg":null} / {"status":-1,"data":null,"errMsg":"..."}.
 * Handlers live in api_<page>.c, one route table each; they run on libmicrohttpd's worker
 * threads and may block on admin calls (src/admin), never holding a lock across one.
 * collect.c samples TPS once a minute on its own thread for the Dashboard page.
 *
 * Loulan's additions to the API are all optional parameters, so scripts written against the
 * original keep working (docs/dashboard.md lists them): server-side paging (pageNum, pageSize)
 * and filtering on every list, and a CSRF token on state-changing requests when login is on. */
#ifndef LOULAN_DASHBOARD_H
#define LOULAN_DASHBOARD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/admin.h"
#include "common/common.h"

/* ---- configuration and shared state (state.c) ---- */

#define DH_MAX_NS 16

typedef struct dh_config {
    int port;                   /* server.port, 8080 */
    char address[64];           /* server.address: 0.0.0.0 with login on, else 127.0.0.1 */
    char data_path[512];        /* rocketmq.config.dataPath */
    int login_required;         /* rocketmq.config.loginRequired */
    char users_file[512];       /* rocketmq.config.usersFile (default <dataPath>/users.properties) */
    int collect;                /* rocketmq.config.enableDashBoardCollect */
    int timeout_ms;             /* rocketmq.config.timeoutMillis */
    char access_key[256];       /* rocketmq.config.accessKey / secretKey: sign admin requests */
    char secret_key[256];
    int threads;                /* loulan.dashboard.threads: HTTP worker threads */
    int data_days;              /* loulan.dashboard.keepDays: day files kept (bounded dataPath) */
    int collect_interval_s;     /* loulan.dashboard.collectIntervalSeconds (hidden, for tests): 0 = 60 */
} dh_config_t;

/* What the OPS page changes at run time (not persisted, as the original); under g_dh.mu. */
typedef struct dh_state {
    pthread_mutex_t mu;
    dh_config_t cfg;
    char ns_list[DH_MAX_NS][256]; /* rocketmq.config.namesrvAddrs entries, each maybe "a;b" */
    int ns_count, ns_current;
    int vip_channel;              /* isVIPChannel, default false (spec §6: friendlier) */
    int use_tls;                  /* useTLS */
} dh_state_t;

extern dh_state_t g_dh;

/* Read the config file (properties: rocketmq-dashboard's keys, see state.c) over the defaults;
 * NULL path: defaults and NAMESRV_ADDR. 0, or -1 after one line on stderr naming the key. */
int dh_config_load(const char *path, dh_config_t *cfg, char ns[DH_MAX_NS][256], int *ns_count);

/* One "--key=value" argument (Spring Boot style) over the file's values. 0 or -1 after a message. */
int dh_config_arg(const char *arg, dh_config_t *cfg, char ns[DH_MAX_NS][256], int *ns_count);

/* Defaults that depend on other keys (the listening address); after every key is read. */
void dh_config_finish(dh_config_t *c);

/* The current name server entry ("a:9876" or "a:9876;b:9876") copied into out. */
void dh_namesrv(char out[256]);
/* The first address of the current entry, for one request. */
void dh_namesrv_first(char out[128]);
/* The address to send a broker request to: addr itself, or its VIP port when isVIPChannel. */
void dh_broker_addr(const char *addr, char out[128]);

/* ---- requests and answers (http.c) ---- */

typedef struct dh_kv { char *key, *val; } dh_kv_t;

typedef struct dh_user { char name[128]; int admin; } dh_user_t;

typedef struct dh_req {
    const char *method;     /* "GET", "POST", "DELETE", ... */
    const char *path;       /* without the leading '/' nor the query: "topic/list.query" */
    dh_kv_t *params;        /* query string, then form fields; a repeated key's values joined with ',' */
    size_t nparams;
    const char *body;       /* raw body (NUL-terminated), "" when none */
    size_t blen;
    lj_val_t *json;         /* the body parsed when it is JSON, else NULL (owned by the request) */
    const dh_user_t *user;  /* the logged-in user when login is on, else NULL */
    char client_ip[64];
    /* for auth.c: the request's cookies and headers it needs */
    const char *cookie_session, *cookie_csrf, *header_csrf;
    int bad_params;         /* a parameter could not be taken (NUL byte, too many): answered 400 */

    /* the answer: set by dh_fail / dh_raw, else the handler's data in the envelope */
    char err[512];
    int http_status;        /* 200 unless set */
    char *raw;              /* a non-JSON answer (dh_raw), owned */
    size_t raw_len;
    const char *raw_type;
    char extra_headers[1024]; /* "Name: value\r\n" lines added to the answer */
} dh_req_t;

/* A parameter, NULL if absent (query string or form field). */
const char *dh_param(const dh_req_t *r, const char *name);
/* Parameter parsers: 0 with *out, or -1 with r's error set ("<name> is required" / "bad ..."). */
int dh_param_req(dh_req_t *r, const char *name, const char **out);
int dh_param_i64(dh_req_t *r, const char *name, int64_t dflt, int64_t *out);
int dh_param_bool(dh_req_t *r, const char *name, int dflt, int *out);
/* A JSON body that must be an object (or array when want_array): the value, or NULL with the error set. */
const lj_val_t *dh_body_obj(dh_req_t *r);
const lj_val_t *dh_body_arr(dh_req_t *r);

/* Fail the request: errMsg (printf style); returns -1 for `return dh_fail(...)`. */
int dh_fail(dh_req_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fail with an admin call's error text. */
int dh_fail_ad(dh_req_t *r, const ad_err_t *e);
/* Answer with raw bytes instead of the envelope (copied); disposition NULL or a file name for
 * Content-Disposition: attachment. Returns 0. */
int dh_raw(dh_req_t *r, const char *content_type, const void *data, size_t len, const char *attachment);
/* Add "Name: value" to the answer's headers. */
void dh_header(dh_req_t *r, const char *name, const char *value);

/* A handler: 0 with *data set (owned by the caller; NULL = JSON null), or -1 after dh_fail. */
typedef int (*dh_handler_fn)(dh_req_t *r, lj_val_t **data);

typedef struct dh_route {
    const char *path;        /* "topic/list.query" */
    dh_handler_fn fn;
    const char *methods;     /* "GET", "POST", "GET,POST", ... ; NULL = any */
} dh_route_t;

/* The route tables, one per api_<page>.c, each ending with {NULL}. */
extern const dh_route_t dh_routes_cluster[];   /* api_cluster.c: cluster/ */
extern const dh_route_t dh_routes_topic[];     /* api_topic.c: topic/ */
extern const dh_route_t dh_routes_consumer[];  /* api_consumer.c: consumer/ */
extern const dh_route_t dh_routes_producer[];  /* api_producer.c: producer/ */
extern const dh_route_t dh_routes_message[];   /* api_message.c: message/, messageTrace/ */
extern const dh_route_t dh_routes_dlq[];       /* api_dlq.c: dlqMessage/ */
extern const dh_route_t dh_routes_ops[];       /* api_ops.c: ops/, rocketmq/, proxy/ */
extern const dh_route_t dh_routes_dashboard[]; /* api_dashboard.c: dashboard/, monitor/ */
extern const dh_route_t dh_routes_login[];     /* auth.c: login/ */

/* Handle one request completely (routing, login, roles, CSRF, envelope). The answer's body
 * goes to out, its content type to *ctype (static), the HTTP status is returned. */
int dh_dispatch(dh_req_t *r, cm_buf_t *out, const char **ctype);
/* Free what the request owns (params, json, raw). */
void dh_req_free(dh_req_t *r);
/* Parse "a=1&b=%20x" into r->params (appending; repeated keys joined with ','). 0 or -1 on out of memory. */
int dh_parse_query(dh_req_t *r, const char *qs, size_t len);

/* Start / stop the HTTP server (libmicrohttpd, g_dh.cfg.threads workers). */
int dh_http_start(void);
void dh_http_stop(void);

/* ---- embedded files (assets.c, generated at build time from src/dashboard/assets/) ---- */
typedef struct dh_asset { const char *path; const unsigned char *data; size_t len; const char *type; } dh_asset_t;
/* The asset served at path ("" = index.html), NULL if none. */
const dh_asset_t *dh_asset_find(const char *path);

/* ---- login (auth.c) ---- */
/* Load users and start the session table (only when loginRequired). 0 or -1 after a message. */
int dh_auth_init(void);
/* Whether r may go on: fills r->user, or fails r (login redirect/"user not login"/"no
 * permission"/CSRF). 0 = go on. */
int dh_auth_check(dh_req_t *r, int *redirect);

/* ---- helpers for handlers (util.c) ---- */
/* Server-side paging (Loulan extension, docs/dashboard.md): when r has pageNum (1-based; pageSize
 * default 20, 1..1000), [*from, *to) is that page of a list of n and 1 is returned; without
 * pageNum the whole list ([0, n)) and 0; a bad value: -1 with r failed. */
int dh_page_range(dh_req_t *r, size_t n, size_t *from, size_t *to);
/* Add "total", "pageNum", "pageSize" to obj (a paged answer). */
void dh_page_info(dh_req_t *r, lj_val_t *obj, size_t total);
/* GET_BROKER_CLUSTER_INFO (106) from the current name server into *info (caller frees). */
int dh_cluster_info(lj_val_t **info, ad_err_t *e);
/* 1 when addr is one of the broker instances the current name server lists, 0 when not, -1
 * (e set) when it did not answer. The console dials only such brokers, never an address taken
 * from a request or decoded from a message id (it would probe any host:port). */
int dh_known_broker(const char *addr, ad_err_t *e);
/* Run fn(i, arg) for every i in [0, n) on up to max threads (at most 16, the caller's
 * included) and return when all are done: per-broker requests in parallel, so that one slow
 * broker costs its own timeout, not everyone's in turn. */
void dh_each_parallel(size_t n, int max, void (*fn)(size_t i, void *arg), void *arg);
/* Case-insensitive substring test used by the list filters. */
int dh_contains_ci(const char *hay, const char *needle);
/* yyyy-MM-dd in local time of epoch ms. */
void dh_date(int64_t ms, char out[16]);

/* ---- collection (collect.c) ---- */
int dh_collect_start(void);
void dh_collect_stop(void);
/* 0 when date is a real yyyy-MM-dd (it becomes part of a file name), with its day number in
 * *days when asked; -1 otherwise. */
int dh_collect_date_ok(const char *date, int64_t *days);
/* The samples of one day (today from memory, other days from their file): brokers (topics 0)
 * or topics (1; key = one topic or NULL for all) into *out; -1 with err on failure. */
int dh_collect_query(int topics, const char *date, const char *key, lj_val_t **out, char *err, size_t errlen);
/* ["<topic>,<outCount of its last sample today>", ...], largest first. */
int dh_collect_current(lj_val_t **out, char *err, size_t errlen);
/* Delete dir's day files older than keep_days before today (yyyy-MM-dd); how many went. */
int dh_collect_prune(const char *dir, const char *today, int keep_days);

/* ---- xlsx.c ---- */
/* A one-sheet .xlsx workbook appended to out (a STORED zip of the Office Open XML parts): a bold
 * header row of ncols names, then nrows rows of ncols text cells taken row by row from cells
 * (NULL = empty). Text is UTF-8: bytes that are not, and characters XML 1.0 forbids, become
 * U+FFFD; a cell keeps at most Excel's 32767 characters. 0, or -1 when out of memory. Any thread. */
int dh_xlsx_write(cm_buf_t *out, const char *sheet, const char *const *header, size_t ncols,
                  const char *const *cells, size_t nrows);

#endif
