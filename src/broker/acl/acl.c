/* acl.c: the acl subsystem — RocketMQ's plain ACL on every request the broker receives, with
 * the accounts of <rocketmqHome>/conf/plain_acl.yml and conf/acl/, watched and reloaded by
 * the acl module (acl_watch_*: an immutable table swapped on the loop). Loop thread. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/acl/acl.h"

typedef struct br_aclsys {
    br_broker_t *b;
    acl_watch_t *watch;     /* the table in use, reloaded when the files change */
    uint64_t refused, last_log_ms; /* refusals, logged at most once a second */
} br_aclsys_t;

static br_aclsys_t *sys_of(const br_broker_t *b) { return b->acl; }
static const acl_table_t *table_of(const br_broker_t *b) { return acl_watch_table(sys_of(b)->watch); }

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
    const char *why = acl_decide(table_of(b), req, ip, needs, n, admin_only, msg, sizeof msg);
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
    const char *why = acl_decide_subscribe(table_of(b), ak, ip, groups, ngroups, topics, ntopics, msg, msglen);
    if (why) {
        br_aclsys_t *s = sys_of(b);
        s->refused++;
        LOG_W("acl", "refused a heartbeat from %s: %s", ip, why);
    }
    return why;
}

void br_acl_sys_reload(br_broker_t *b, void (*done)(void *arg, int ok), void *arg)
{
    acl_watch_reload(sys_of(b)->watch, done, arg);
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
    if (acl_watch_start(b->loop, b->cfg.rocketmqHome, 0, "acl", &s->watch, err, sizeof err)) {
        LOG_E("acl", "aclEnable=true and the ACL files do not load: %s", err);
        free(s);
        return -1;
    }
    const acl_table_t *t = acl_watch_table(s->watch);
    LOG_I("acl", "on: %zu accounts, %zu global white addresses from %zu files under %s/conf", t->naccounts,
          t->nglobal, t->nfiles, b->cfg.rocketmqHome);
    b->acl = s;
    b->hooks.acl_admit = sys_admit;
    b->hooks.acl_subscribe = sys_subscribe;
    return 0;
}

static void sys_release(br_broker_t *b)
{
    br_aclsys_t *s = sys_of(b);
    if (!s)
        return;
    acl_watch_stop(s->watch); /* it frees itself once its timer closed */
    br_acl_admin_release(b);
    free(s);
    b->acl = NULL;
    b->hooks.acl_admit = NULL;
    b->hooks.acl_subscribe = NULL;
}

const br_subsys_t br_acl_subsys = {"acl", sys_start, NULL, sys_release, br_acl_admin_handlers, BR_ACL_NADMIN, 0};
