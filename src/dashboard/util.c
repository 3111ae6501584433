/* util.c: what every handler uses: parameters, failing a request, raw answers, paging
 * (contracts in dashboard.h). */
#include <ctype.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dashboard.h"

const char *dh_param(const dh_req_t *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].key, name) == 0)
            return r->params[i].val;
    return NULL;
}

int dh_fail(dh_req_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    if (!r->err[0])
        snprintf(r->err, sizeof r->err, "failed");
    return -1;
}

int dh_fail_ad(dh_req_t *r, const ad_err_t *e) { return dh_fail(r, "%s", e->msg); }

int dh_param_req(dh_req_t *r, const char *name, const char **out)
{
    const char *v = dh_param(r, name);
    if (!v || !*v)
        return dh_fail(r, "%s is required", name);
    *out = v;
    return 0;
}

int dh_param_i64(dh_req_t *r, const char *name, int64_t dflt, int64_t *out)
{
    const char *v = dh_param(r, name);
    if (!v || !*v) {
        *out = dflt;
        return 0;
    }
    if (cm_parse_i64(v, out) != 0)
        return dh_fail(r, "bad %s: not a number", name);
    return 0;
}

int dh_param_bool(dh_req_t *r, const char *name, int dflt, int *out)
{
    const char *v = dh_param(r, name);
    if (!v || !*v) {
        *out = dflt;
        return 0;
    }
    if (cm_parse_bool(v, out) != 0)
        return dh_fail(r, "bad %s: true or false", name);
    return 0;
}

const lj_val_t *dh_body_obj(dh_req_t *r)
{
    if (!r->json || r->json->type != LJ_OBJ) {
        dh_fail(r, "a JSON object body is required");
        return NULL;
    }
    return r->json;
}

const lj_val_t *dh_body_arr(dh_req_t *r)
{
    if (!r->json || r->json->type != LJ_ARR) {
        dh_fail(r, "a JSON array body is required");
        return NULL;
    }
    return r->json;
}

int dh_raw(dh_req_t *r, const char *content_type, const void *data, size_t len, const char *attachment)
{
    free(r->raw);
    r->raw = malloc(len + 1);
    if (!r->raw)
        return dh_fail(r, "out of memory");
    memcpy(r->raw, data, len);
    r->raw[len] = 0;
    r->raw_len = len;
    r->raw_type = content_type;
    if (attachment) {
        char v[300];
        snprintf(v, sizeof v, "attachment; filename=\"%s\"", attachment);
        dh_header(r, "Content-Disposition", v);
    }
    return 0;
}

void dh_header(dh_req_t *r, const char *name, const char *value)
{
    size_t used = strlen(r->extra_headers);
    snprintf(r->extra_headers + used, sizeof r->extra_headers - used, "%s: %s\r\n", name, value);
}

int dh_page_range(dh_req_t *r, size_t n, size_t *from, size_t *to)
{
    int64_t page, size;
    *from = 0;
    *to = n;
    if (!dh_param(r, "pageNum"))
        return 0;
    if (dh_param_i64(r, "pageNum", 1, &page) || dh_param_i64(r, "pageSize", 20, &size))
        return -1;
    if (page < 1)
        return dh_fail(r, "bad pageNum: it counts from 1");
    if (size < 1 || size > 1000)
        return dh_fail(r, "bad pageSize: 1 to 1000");
    uint64_t start = (uint64_t)(page - 1) * (uint64_t)size;
    *from = start < n ? (size_t)start : n;
    *to = n - *from < (uint64_t)size ? n : *from + (size_t)size;
    return 1;
}

void dh_page_info(dh_req_t *r, lj_val_t *obj, size_t total)
{
    int64_t page = 1, size = 20;
    cm_parse_i64(dh_param(r, "pageNum") ? dh_param(r, "pageNum") : "1", &page);
    if (dh_param(r, "pageSize"))
        cm_parse_i64(dh_param(r, "pageSize"), &size);
    lj_set_int(obj, "total", (int64_t)total);
    lj_set_int(obj, "pageNum", page);
    lj_set_int(obj, "pageSize", size);
}

int dh_contains_ci(const char *hay, const char *needle)
{
    if (!needle || !*needle)
        return 1;
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    return 0;
}

void dh_date(int64_t ms, char out[16])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, 16, "%Y-%m-%d", &tm);
}

/* ---- the cluster as the current name server sees it ---- */

int dh_cluster_info(lj_val_t **info, ad_err_t *e)
{
    char ns[128];
    dh_namesrv_first(ns);
    return ad_cluster_info(ns, info, e);
}

int dh_known_broker(const char *addr, ad_err_t *e)
{
    lj_val_t *info = NULL;
    if (dh_cluster_info(&info, e) != 0)
        return -1;
    ad_broker_t *bs = NULL;
    int n = ad_brokers_of_info(info, &bs), found = 0;
    for (int i = 0; i < n && !found; i++)
        found = strcmp(bs[i].addr, addr) == 0;
    free(bs);
    lj_free(info);
    return found;
}

/* ---- fan-out ---- */

#define FANOUT_MAX 16

typedef struct fanout {
    atomic_size_t next;
    size_t n;
    void (*fn)(size_t, void *);
    void *arg;
} fanout_t;

static void *fanout_worker(void *p)
{
    fanout_t *f = p;
    for (size_t i; (i = atomic_fetch_add(&f->next, 1)) < f->n;)
        f->fn(i, f->arg);
    return NULL;
}

void dh_each_parallel(size_t n, int max, void (*fn)(size_t i, void *arg), void *arg)
{
    fanout_t f = {.n = n, .fn = fn, .arg = arg};
    atomic_init(&f.next, 0);
    pthread_t th[FANOUT_MAX];
    size_t want = n < (size_t)max ? n : (size_t)max, started = 0;
    if (want > FANOUT_MAX)
        want = FANOUT_MAX;
    /* the caller is one of the workers; a thread that cannot start only slows the fan-out */
    while (started + 1 < want && pthread_create(&th[started], NULL, fanout_worker, &f) == 0)
        started++;
    fanout_worker(&f);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}

