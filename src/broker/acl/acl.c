/* acl.c: the acl subsystem — RocketMQ's plain ACL on every request the broker receives.
 *
 * The table (load.c) is immutable: a reload builds a new one on libuv's thread pool and the
 * loop swaps the pointer, so a decision never sees half a table (RocketMQ 4.9.5 mutated its
 * white list in place while requests read it, #7579). Every 5 s, as RocketMQ's watcher, a job
 * stats the file set off the loop and reloads when any path, size or modification time
 * changed; a file that fails to load keeps the old table and is logged once per change.
 * Loop thread, but the *_work functions. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/acl/acl.h"

#define RELOAD_MS 5000

typedef struct reload reload_t;
typedef struct br_aclsys {
    br_broker_t *b;
    acl_table_t *table;
    uv_timer_t timer;
    reload_t *job;          /* the reload in flight, NULL if none */
    uint64_t failed_stamp;  /* files that failed to load: not reported again until they change */
    uint64_t refused, last_log_ms; /* refusals, logged at most once a second */
} br_aclsys_t;

struct reload {
    uv_work_t work;
    br_aclsys_t *s;         /* NULL once the subsystem is gone: the job frees itself */
    char home[1024];
    uint64_t have;          /* the stamp of the table in use */
    uint64_t stamp;
    acl_table_t *next;         /* the new table, when the files changed and loaded */
    int failed;
    char err[512];
};

static br_aclsys_t *sys_of(const br_broker_t *b) { return b->acl; }

/* ---- requests ---- */

/* The client's address without the port, as RocketMQ gives it to the patterns. */
static void peer_ip(const rm_conn_t *c, char *ip, size_t n)
{
    snprintf(ip, n, "%s", rm_conn_peer(c));
    char *colon = strrchr(ip, ':');
    if (colon)
        *colon = 0;
    if (ip[0] == '[') { /* [v6]:port */
        memmove(ip, ip + 1, strlen(ip));
        char *e = strchr(ip, ']');
        if (e)
            *e = 0;
    }
}

static void refused(br_aclsys_t *s, rm_conn_t *c, const rm_cmd_t *req, const char *ip, const char *why)
{
    s->refused++;
    uint64_t now = uv_now(s->b->loop);
    if (now - s->last_log_ms >= 1000) { /* a client retrying in a loop must not flood the log */
        s->last_log_ms = now;
        LOG_W("acl", "refused request code=%d from %s: %s (%llu refused so far)", (int)req->code, ip, why,
              (unsigned long long)s->refused);
    }
    rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, BR_ACL_REMARK_PREFIX "%s", why);
}

static int sys_admit(br_broker_t *b, rm_conn_t *c, rm_cmd_t *req)
{
    br_aclsys_t *s = sys_of(b);
    acl_need_t needs[ACL_MAX_NEEDS];
    int admin_only;
    int n = acl_needs(req, needs, &admin_only);
    if (req->code >= 50 && req->code <= 54 && b->cfg.aclAdminRequired)
        admin_only = 1; /* RocketMQ let any signed account create an admin account (spec §7) */
    char ip[96], msg[512];
    peer_ip(c, ip, sizeof ip);
    const char *why = acl_decide(s->table, req, ip, needs, n, admin_only, msg, sizeof msg);
    if (!why)
        return 0;
    refused(s, c, req, ip, why);
    return 1;
}

static const char *sys_subscribe(br_broker_t *b, rm_conn_t *c, const char *ak, const char *const *groups,
                                 size_t ngroups, const char *const *topics, size_t ntopics, char *msg, size_t msglen)
{
    char ip[96];
    peer_ip(c, ip, sizeof ip);
    const char *why = acl_decide_subscribe(sys_of(b)->table, ak, ip, groups, ngroups, topics, ntopics, msg, msglen);
    if (why) {
        br_aclsys_t *s = sys_of(b);
        s->refused++;
        LOG_W("acl", "refused a heartbeat from %s: %s", ip, why);
    }
    return why;
}

/* ---- reload ---- */

static void reload_work(uv_work_t *w)
{
    reload_t *j = w->data;
    if (acl_stamp_dir(j->home, &j->stamp, j->err, sizeof j->err) != 0) {
        j->failed = 1;
        return;
    }
    if (j->stamp == j->have)
        return;
    if (!(j->next = acl_load_dir(j->home, j->err, sizeof j->err)))
        j->failed = 1;
}

static void reload_after(uv_work_t *w, int status)
{
    reload_t *j = w->data;
    br_aclsys_t *s = j->s;
    if (s) {
        s->job = NULL;
        if (j->next) {
            acl_free(s->table);
            s->table = j->next;
            j->next = NULL;
            LOG_I("acl", "reloaded: %zu accounts, %zu global white addresses from %zu files", s->table->naccounts,
                  s->table->nglobal, s->table->nfiles);
        } else if (j->failed && status == 0 && j->stamp != s->failed_stamp) {
            s->failed_stamp = j->stamp;
            LOG_E("acl", "not reloaded, the accounts in use stay: %s", j->err);
        }
    }
    acl_free(j->next);
    free(j);
}

static void on_timer(uv_timer_t *t)
{
    br_aclsys_t *s = sys_of(t->data);
    if (s->job || s->b->stopping)
        return;
    reload_t *j = calloc(1, sizeof *j);
    if (!j)
        return;
    j->work.data = j;
    j->s = s;
    j->have = s->table->stamp;
    snprintf(j->home, sizeof j->home, "%s", s->b->cfg.rocketmqHome);
    if (uv_queue_work(s->b->loop, &j->work, reload_work, reload_after) != 0) {
        free(j);
        return;
    }
    s->job = j;
}

/* ---- start and stop ---- */

/* RocketMQ creates the default file empty when it is missing; so do we, readable by the owner
 * only, since it will hold secrets. */
static void ensure_default_file(const char *home)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/conf", home);
    if (cm_mkdirs(path))
        return;
    snprintf(path, sizeof path, "%s/conf/plain_acl.yml", home);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        LOG_I("acl", "created an empty %s: no account yet, every request is refused", path);
        close(fd);
    }
}

static int sys_start(br_broker_t *b)
{
    if (!b->cfg.aclEnable)
        return 0;
    br_aclsys_t *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->b = b;
    ensure_default_file(b->cfg.rocketmqHome);
    char err[512];
    /* at start the loop serves nobody yet: reading here blocks no client */
    if (!(s->table = acl_load_dir(b->cfg.rocketmqHome, err, sizeof err))) {
        LOG_E("acl", "aclEnable=true and the ACL files do not load: %s", err);
        free(s);
        return -1;
    }
    LOG_I("acl", "on: %zu accounts, %zu global white addresses from %zu files under %s/conf", s->table->naccounts,
          s->table->nglobal, s->table->nfiles, b->cfg.rocketmqHome);
    uv_timer_init(b->loop, &s->timer);
    s->timer.data = b; /* the core's close callback (stop) reads the broker from it */
    uv_timer_start(&s->timer, on_timer, RELOAD_MS, RELOAD_MS);
    b->acl = s;
    b->hooks.acl_admit = sys_admit;
    b->hooks.acl_subscribe = sys_subscribe;
    return 0;
}

static int sys_stop(br_broker_t *b, uv_close_cb cb)
{
    br_aclsys_t *s = sys_of(b);
    if (!s)
        return 0;
    uv_close((uv_handle_t *)&s->timer, cb);
    return 1;
}

static void sys_release(br_broker_t *b)
{
    br_aclsys_t *s = sys_of(b);
    if (!s)
        return;
    if (s->job)
        s->job->s = NULL; /* on the thread pool: it frees itself when it ends */
    acl_free(s->table);
    free(s);
    b->acl = NULL;
    b->hooks.acl_admit = NULL;
    b->hooks.acl_subscribe = NULL;
}

const br_subsys_t br_acl_subsys = {"acl", sys_start, sys_stop, sys_release, NULL, 0, 0};
