/* watch.c: the table in use and its reloads, shared by the broker and the name server.
 *
 * A table is immutable: a reload builds a new one on libuv's thread pool and the loop swaps
 * the pointer, so a decision never sees half a table (RocketMQ 4.9.5 changed its white list in
 * place while requests read it, #7579). One reload runs at a time; a forced reload asked while
 * one runs follows it, and everyone who asked is told once the table they wait for is in use.
 * Loop thread, but the *_work function. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"

#define CHECK_MS 5000

typedef struct waiter { void (*done)(void *arg, int ok); void *arg; struct waiter *next; } waiter_t;
typedef struct job job_t;

struct acl_watch {
    uv_loop_t *loop;
    uv_timer_t timer;
    char where[1024], who[32];
    int one_file;
    acl_table_t *table;
    job_t *job;             /* the reload in flight, NULL if none */
    int again;              /* a forced reload was asked while one ran */
    waiter_t *waiting;      /* told when the next forced reload ends */
    uint64_t failed_stamp;  /* files that failed to load: reported once per change */
    int stopped, closed;    /* acl_watch_stop was called; its timer has closed */
};

struct job {
    uv_work_t work;
    acl_watch_t *w;         /* NULL once the watch stopped: the job frees itself */
    char where[1024];
    int one_file, forced, failed;
    uint64_t have, stamp;
    acl_table_t *next;
    waiter_t *waiters;      /* whom this reload answers */
    char err[512];
};

static void job_work(uv_work_t *uw)
{
    job_t *j = uw->data;
    if (acl_stamp(j->where, j->one_file, &j->stamp, j->err, sizeof j->err) != 0) {
        j->failed = 1;
        return;
    }
    if (j->stamp == j->have && !j->forced)
        return;
    if (!(j->next = acl_load(j->where, j->one_file, j->err, sizeof j->err)))
        j->failed = 1;
}

static void start_job(acl_watch_t *w, int forced);
static void watch_free(acl_watch_t *w);

static void tell(waiter_t *list, int ok)
{
    while (list) {
        waiter_t *n = list->next;
        list->done(list->arg, ok);
        free(list);
        list = n;
    }
}

static void job_after(uv_work_t *uw, int status)
{
    job_t *j = uw->data;
    acl_watch_t *w = j->w;
    int ok = status == 0 && !j->failed;
    if (w)
        w->job = NULL;
    if (w && !w->stopped) {
        if (j->next) {
            acl_free(w->table);
            w->table = j->next;
            j->next = NULL;
            LOG_I(w->who, "ACL reloaded: %zu accounts, %zu global white addresses from %zu files",
                  w->table->naccounts, w->table->nglobal, w->table->nfiles);
        } else if (j->failed && j->stamp != w->failed_stamp) {
            w->failed_stamp = j->stamp;
            LOG_E(w->who, "ACL not reloaded, the accounts in use stay: %s", j->err);
        }
    }
    tell(j->waiters, ok);
    acl_free(j->next);
    free(j);
    if (w && w->stopped && w->closed)
        watch_free(w);
    else if (w && w->again && !w->stopped) {
        w->again = 0;
        start_job(w, 1);
    }
}

static void start_job(acl_watch_t *w, int forced)
{
    job_t *j = calloc(1, sizeof *j);
    if (!j) {
        tell(forced ? w->waiting : NULL, 0);
        if (forced)
            w->waiting = NULL;
        return;
    }
    j->work.data = j;
    j->w = w;
    j->forced = forced;
    j->one_file = w->one_file;
    j->have = w->table->stamp;
    memcpy(j->where, w->where, sizeof j->where);
    if (forced) { /* this reload answers everyone who asked so far */
        j->waiters = w->waiting;
        w->waiting = NULL;
    }
    if (uv_queue_work(w->loop, &j->work, job_work, job_after) != 0) {
        tell(j->waiters, 0);
        free(j);
        return;
    }
    w->job = j;
}

static void on_timer(uv_timer_t *t)
{
    acl_watch_t *w = t->data;
    if (!w->job)
        start_job(w, 0);
}

int acl_watch_start(uv_loop_t *loop, const char *where, int one_file, const char *who, acl_watch_t **out, char *err,
                    size_t errlen)
{
    acl_watch_t *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (strlen(where) >= sizeof w->where) {
        snprintf(err, errlen, "the path is too long");
        free(w);
        return -1;
    }
    snprintf(w->where, sizeof w->where, "%s", where);
    snprintf(w->who, sizeof w->who, "%s", who);
    w->one_file = one_file;
    w->loop = loop;
    if (!(w->table = acl_load(where, one_file, err, errlen))) {
        free(w);
        return -1;
    }
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_timer, CHECK_MS, CHECK_MS);
    *out = w;
    return 0;
}

const acl_table_t *acl_watch_table(const acl_watch_t *w) { return w->table; }

void acl_watch_reload(acl_watch_t *w, void (*done)(void *arg, int ok), void *arg)
{
    waiter_t *x = done ? calloc(1, sizeof *x) : NULL;
    if (done && !x) {
        done(arg, 0);
        return;
    }
    if (x) {
        *x = (waiter_t){done, arg, w->waiting};
        w->waiting = x;
    }
    if (w->job)
        w->again = 1; /* the one running may have read the files before the edit */
    else
        start_job(w, 1);
}

static void watch_free(acl_watch_t *w)
{
    acl_free(w->table);
    tell(w->waiting, 0);
    free(w);
}

static void on_timer_closed(uv_handle_t *h)
{
    acl_watch_t *w = h->data;
    w->closed = 1;
    if (!w->job) /* else the reload's completion frees w */
        watch_free(w);
}

void acl_watch_stop(acl_watch_t *w)
{
    if (!w)
        return;
    w->stopped = 1;
    uv_close((uv_handle_t *)&w->timer, on_timer_closed);
}
