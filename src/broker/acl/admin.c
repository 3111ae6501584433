/* admin.c: the ACL admin requests (acl spec §3) — 50 UPDATE_AND_CREATE_ACL_CONFIG, 51
 * DELETE_ACL_CONFIG, 52 GET_BROKER_CLUSTER_ACL_INFO and 53 UPDATE_GLOBAL_WHITE_ADDRS_CONFIG,
 * with RocketMQ 4.9.5's fields, answers and failure codes.
 *
 * 54 GET_BROKER_CLUSTER_ACL_CONFIG is deliberately not served: it answers every account's
 * secretKey in clear to anyone allowed to ask (CVE-2023-37582's neighbour, #5970), and 4.9.8
 * removed it from client and server (#7653). Left out of the table, it gets
 * REQUEST_CODE_NOT_SUPPORTED like any unknown code.
 *
 * The files are read and written on libuv's thread pool, never on the loop. Requests run one at
 * a time in arrival order (each reads the files its predecessor wrote), at most QUEUE_MAX wait;
 * more are refused with SYSTEM_BUSY. After a write the subsystem reloads at once and the
 * answer goes out when the new table is in use (br_acl_sys_reload), as RocketMQ changes its
 * memory before answering. Fields are checked
 * on the loop first, and the edited file must load before it replaces the old one, so a request
 * can never leave a file the broker would refuse at its next start. Secrets are never logged. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "broker/acl/acl.h"

#define QUEUE_MAX 16            /* requests waiting behind the one running */
#define RC_UPDATE_ACL_FAILED 209
#define RC_DELETE_ACL_FAILED 210
#define RC_UPDATE_WHITE_FAILED 211
#define MASK "******"           /* a secret's place in a message */

enum { F_AK, F_SK, F_WHITE, F_DTP, F_DGP, F_TOPICS, F_GROUPS, F_LIST, F_PATH, NF };

typedef struct job {
    uv_work_t work;
    br_broker_t *b;             /* NULL once the broker is released: nobody to answer */
    uv_loop_t *loop;
    rm_conn_t *conn;
    rm_cmd_t req;               /* the request's header, for the answer */
    char *home;
    char *f[NF];                /* the request's fields (NULL: absent) */
    int admin;
    /* results, filled on the thread pool */
    int code;
    char remark[1024];
    int written;                /* a file was replaced: the subsystem reloads before the answer */
    char *version, *all;        /* 52: DataVersion JSON of the default file, of every file */
    char log[512];              /* what was done, for the loop's log line */
    struct job *next;
} job_t;

/* Loop thread only. One queue for the process: a process runs one broker. */
static job_t *g_head, *g_tail;
static int g_waiting;

static void respond(rm_conn_t *c, const rm_cmd_t *req, int code, const char *remark)
{
    rm_cmd_t resp;
    rm_cmd_init(&resp, code);
    if (remark)
        rm_cmd_set_remark(&resp, "%s", remark);
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
}

/* ---- checks on the loop (pure) ---- */

/* String.length() of UTF-8 text: UTF-16 units, as RocketMQ counts a key. */
static size_t java_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xC0) != 0x80 ? (*p >= 0xF0 ? 2 : 1) : 0;
    return n;
}

static int is_trim(char c) { return (unsigned char)c <= ' '; }

/* One "res=PERM" entry as RocketMQ's Permission.checkResourcePerms: split on '=' with empty
 * pieces dropped, two pieces, and a perm of the five spellings. NULL, or the message in msg. */
static const char *check_entry(const char *e, size_t n, char *msg, size_t msglen)
{
    const char *pieces[3];
    size_t lens[3], k = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && e[j] != '=')
            j++;
        if (j > i && k < 3) {
            pieces[k] = e + i;
            lens[k++] = j - i;
        } else if (j > i) {
            k++;
        }
        i = j + 1;
    }
    if (k != 2) {
        snprintf(msg, msglen,
                 "Parse Resource format error for %.*s.\nThe expected resource format is 'Res=Perm'. For example: "
                 "topicA=SUB",
                 (int)n, e);
        return msg;
    }
    const char *p = pieces[1];
    size_t pl = lens[1];
    while (pl && is_trim(*p))
        p++, pl--;
    while (pl && is_trim(p[pl - 1]))
        pl--;
    char perm[16];
    int ok = pl < sizeof perm;
    if (ok) {
        memcpy(perm, p, pl);
        perm[pl] = 0;
        ok = !strcmp(perm, "DENY") || acl_perm_parse(perm) != ACL_DENY;
    }
    if (ok)
        return NULL;
    snprintf(msg, msglen,
             "Parse resource permission error for %.*s.\nThe expected permissions are 'SUB' or 'PUB' or 'SUB|PUB' or "
             "'PUB|SUB'.",
             (int)n, e);
    return msg;
}

/* Every entry of a comma list (split as Java's String.split: trailing empty pieces dropped). */
static const char *check_perms(const char *list, char *msg, size_t msglen)
{
    if (!list)
        return NULL;
    size_t keep = strlen(list);
    while (keep > 0 && list[keep - 1] == ',')
        keep--;
    if (keep == 0 && list[0])
        return NULL;
    for (size_t i = 0; i <= keep;) {
        size_t n = strcspn(list + i, ",");
        if (i + n > keep)
            n = keep - i;
        if (check_entry(list + i, n, msg, msglen))
            return msg;
        i += n + 1;
    }
    return NULL;
}

/* Every pattern of a comma list parses (a bad one would make the file fail to load). */
static const char *check_patterns(const char *list, char *msg, size_t msglen)
{
    char *copy = strdup(list);
    const char *why = copy ? NULL : "out of memory";
    for (char *save = NULL, *t = copy ? strtok_r(copy, ",", &save) : NULL; t && !why; t = strtok_r(NULL, ",", &save)) {
        acl_pattern_t *p = acl_pattern_parse(t, msg, msglen);
        if (!p)
            why = msg;
        acl_pattern_free(p);
    }
    free(copy);
    return why;
}

/* 50's fields (acl spec §3.2). NULL, or the message for a 209 answer. */
static const char *check_update(const rm_cmd_t *req, char *msg, size_t msglen)
{
    const char *ak = rm_ext_get(req, "accessKey"), *sk = rm_ext_get(req, "secretKey");
    if (!ak || !sk || java_len(ak) <= 6 || java_len(sk) <= 6) {
        /* RocketMQ's text, but the secret is never repeated back or logged */
        snprintf(msg, msglen, "The accessKey=%.200s and secretKey=%s cannot be null and length should longer than 6",
                 ak ? ak : "null", sk ? MASK : "null");
        return msg;
    }
    if (check_perms(rm_ext_get(req, "topicPerms"), msg, msglen) || check_perms(rm_ext_get(req, "groupPerms"), msg, msglen))
        return msg;
    const char *white = rm_ext_get(req, "whiteRemoteAddress");
    if (white) {
        acl_pattern_t *p = acl_pattern_parse(white, msg, msglen);
        if (!p)
            return msg;
        acl_pattern_free(p);
    }
    return NULL;
}

/* ---- the work, on the thread pool ---- */

static int jfail(job_t *j, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int jfail(job_t *j, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->remark, sizeof j->remark, fmt, ap);
    va_end(ap);
    j->code = code;
    return -1;
}

/* The path to write: the file itself when it is a symbolic link (the link stays). */
static char *real_or_same(const char *path)
{
    char *r = realpath(path, NULL);
    return r ? r : strdup(path);
}

/* Read path, apply edit, bump dataVersion, check that the result loads, write it, and re-read
 * every ACL file for the subsystem. 0, or -1 with the answer set (code `fcode`). */
typedef int (*edit_fn)(job_t *j, br_acl_doc_t *d);
static int edit_file(job_t *j, const char *path, int fcode, const char *what, edit_fn edit)
{
    char err[512];
    char *text = NULL, *real = real_or_same(path);
    size_t len = 0;
    br_acl_doc_t *d = NULL;
    cm_buf_t out;
    cm_buf_init(&out);
    int rc = -1;
    int64_t counter = 0;
    if (!real) {
        jfail(j, fcode, "%s (out of memory)", what);
        goto out;
    }
    if (br_acl_file_read(real, &text, &len, err, sizeof err) < 0 || !(d = br_acl_doc_parse(text, len, err, sizeof err))) {
        jfail(j, fcode, "%s (%s)", what, err);
        goto out;
    }
    if (edit(j, d) || br_acl_doc_bump(d, cm_now_ms(), &counter) || br_acl_doc_emit(d, &out, err, sizeof err)) {
        if (!j->code)
            jfail(j, fcode, "%s (out of memory)", what);
        goto out;
    }
    acl_table_t *check = calloc(1, sizeof *check); /* the new file alone must load */
    int bad = !check || acl_load_text(check, path, out.data ? out.data : "", out.len, err, sizeof err);
    acl_free(check);
    if (bad) {
        jfail(j, fcode, "%s", check ? err : "out of memory");
        goto out;
    }
    if (br_acl_file_write(real, out.data ? out.data : "", out.len, err, sizeof err)) {
        jfail(j, fcode, "%s (%s)", what, err);
        goto out;
    }
    snprintf(j->log + strlen(j->log), sizeof j->log - strlen(j->log), " in %s, dataVersion counter %lld", real,
             (long long)counter);
    j->written = 1;
    rc = 0;
out:
    cm_buf_free(&out);
    br_acl_doc_free(d);
    free(text);
    free(real);
    return rc;
}

static int put_account(job_t *j, br_acl_doc_t *d)
{
    br_acl_update_t u = {.accessKey = j->f[F_AK], .secretKey = j->f[F_SK], .whiteRemoteAddress = j->f[F_WHITE],
                         .defaultTopicPerm = j->f[F_DTP], .defaultGroupPerm = j->f[F_DGP],
                         .topicPerms = j->f[F_TOPICS], .groupPerms = j->f[F_GROUPS], .admin = j->admin};
    snprintf(j->log, sizeof j->log, "account %.200s %s (admin=%s)", u.accessKey,
             br_acl_doc_has_account(d, u.accessKey) ? "updated" : "created", u.admin ? "true" : "false");
    return br_acl_doc_put_account(d, &u);
}

static int delete_account(job_t *j, br_acl_doc_t *d)
{
    snprintf(j->log, sizeof j->log, "account %.200s deleted", j->f[F_AK]);
    if (br_acl_doc_delete_account(d, j->f[F_AK]) > 0)
        return 0;
    return jfail(j, RC_DELETE_ACL_FAILED, "The accesskey[%.200s] corresponding to accessConfig has been deleted failed.",
                 j->f[F_AK]);
}

static int set_global(job_t *j, br_acl_doc_t *d)
{
    snprintf(j->log, sizeof j->log, "globalWhiteRemoteAddresses set to [%.300s]", j->f[F_LIST]);
    return br_acl_doc_set_global(d, j->f[F_LIST]);
}

static char *default_file(const char *home)
{
    char *p = NULL;
    return asprintf(&p, "%s/conf/plain_acl.yml", home) < 0 ? NULL : p;
}

/* 50: the account is updated in the file that owns its key, else added to the default file. */
static void do_update(job_t *j)
{
    char err[512];
    acl_table_t *t = acl_load(j->home, 0, err, sizeof err);
    if (!t) {
        jfail(j, RC_UPDATE_ACL_FAILED, "the ACL files do not load: %s", err);
        return;
    }
    const acl_account_t *a = acl_account(t, j->f[F_AK]);
    char *path = a ? strdup(a->file) : default_file(j->home);
    char what[300];
    snprintf(what, sizeof what, "The accesskey[%.200s] corresponding to accessConfig has been updated failed.", j->f[F_AK]);
    if (!path)
        jfail(j, RC_UPDATE_ACL_FAILED, "%s (out of memory)", what);
    else
        edit_file(j, path, RC_UPDATE_ACL_FAILED, what, put_account);
    free(path);
    acl_free(t);
}

/* 51: only a key the table knows, removed from the file that owns it. */
static void do_delete(job_t *j)
{
    char err[512];
    acl_table_t *t = acl_load(j->home, 0, err, sizeof err);
    const acl_account_t *a = t ? acl_account(t, j->f[F_AK]) : NULL;
    char what[300];
    snprintf(what, sizeof what, "The accesskey[%.200s] corresponding to accessConfig has been deleted failed.", j->f[F_AK]);
    if (!t)
        jfail(j, RC_DELETE_ACL_FAILED, "%s (the ACL files do not load: %s)", what, err);
    else if (!a)
        jfail(j, RC_DELETE_ACL_FAILED, "%s", what);
    else
        edit_file(j, a->file, RC_DELETE_ACL_FAILED, what, delete_account);
    acl_free(t);
}

/* The ACL file of the set that `want` names (resolved, under home), or NULL with the reason. */
static char *pick_file(const acl_table_t *t, const char *home, const char *want, char *why, size_t whylen)
{
    char *rhome = realpath(home, NULL), *rwant = realpath(want, NULL), *found = NULL;
    struct stat sb;
    size_t hl = rhome ? strlen(rhome) : 0;
    if (!rhome)
        snprintf(why, whylen, "rocketmqHome %s: %s", home, strerror(errno));
    else if (!rwant || stat(rwant, &sb) != 0)
        snprintf(why, whylen, "%s does not exist", want);
    else if (!S_ISREG(sb.st_mode))
        snprintf(why, whylen, "%s is not a regular file", want);
    else if (strncmp(rwant, rhome, hl) != 0 || (rwant[hl] != '/' && !(hl == 1 && rhome[0] == '/')))
        snprintf(why, whylen, "%s is not under rocketmqHome %s", want, home);
    for (size_t i = 0; rwant && rhome && !why[0] && i < t->nfiles && !found; i++) {
        char *r = realpath(t->files[i], NULL);
        if (r && !strcmp(r, rwant))
            found = strdup(t->files[i]);
        free(r);
    }
    if (!found && !why[0]) /* e.g. conf/broker.conf or tools.yml: never rewritten as an ACL file */
        snprintf(why, whylen, "%s is not one of the ACL files (conf/plain_acl.yml, conf/acl/*.yml)", want);
    free(rhome);
    free(rwant);
    return found;
}

/* 53: globalWhiteRemoteAddresses of one ACL file under rocketmqHome (default: plain_acl.yml). */
static void do_global(job_t *j)
{
    char err[512], why[600] = "";
    char what[600];
    snprintf(what, sizeof what, "The globalWhiteAddresses[%.300s] has been updated failed.", j->f[F_LIST]);
    acl_table_t *t = acl_load(j->home, 0, err, sizeof err);
    char *want = j->f[F_PATH] && *j->f[F_PATH] ? strdup(j->f[F_PATH]) : default_file(j->home);
    char *path = t && want ? pick_file(t, j->home, want, why, sizeof why) : NULL;
    if (!t)
        jfail(j, RC_UPDATE_WHITE_FAILED, "%s (the ACL files do not load: %s)", what, err);
    else if (!path)
        jfail(j, RC_UPDATE_WHITE_FAILED, "%s (%s)", what, want ? why : "out of memory");
    else
        edit_file(j, path, RC_UPDATE_WHITE_FAILED, what, set_global);
    free(path);
    free(want);
    acl_free(t);
}

/* 52: the data version of every ACL file, read from the files (acl spec §3.2). A file without
 * one counts 0, stamped with its modification time. */
static void do_versions(job_t *j)
{
    char err[512];
    acl_table_t *t = acl_load(j->home, 0, err, sizeof err);
    char *def = default_file(j->home);
    lj_val_t *all = lj_new_obj();
    if (!t || !def || !all) {
        jfail(j, RC_SYSTEM_ERROR, "%s", t ? "out of memory" : err);
        goto out;
    }
    for (size_t i = 0; i < t->nfiles; i++) {
        char *text = NULL, *real = real_or_same(t->files[i]);
        size_t len = 0;
        int64_t counter = 0, stamp = 0;
        struct stat sb;
        br_acl_doc_t *d = NULL;
        if (br_acl_file_read(t->files[i], &text, &len, err, sizeof err) == 0 && (d = br_acl_doc_parse(text, len, err, sizeof err)))
            br_acl_doc_version(d, &counter, &stamp);
        if (!stamp && stat(t->files[i], &sb) == 0)
            stamp = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
        lj_val_t *dv = lj_new_obj();
        if (dv) {
            lj_set_int(dv, "counter", counter);
            lj_set_int(dv, "timestamp", stamp);
            if (!strcmp(t->files[i], def)) {
                cm_buf_t b;
                cm_buf_init(&b);
                lj_write(dv, 0, &b);
                free(j->version);
                j->version = cm_buf_steal(&b);
                cm_buf_free(&b);
            }
            lj_set(all, real ? real : t->files[i], dv);
        }
        br_acl_doc_free(d);
        free(text);
        free(real);
    }
    cm_buf_t b;
    cm_buf_init(&b);
    lj_write(all, 0, &b);
    j->all = cm_buf_steal(&b);
    cm_buf_free(&b);
    if (!j->version)
        j->version = strdup("{\"counter\":0,\"timestamp\":0}");
    if (!j->all || !j->version)
        jfail(j, RC_SYSTEM_ERROR, "out of memory");
out:
    lj_free(all);
    free(def);
    acl_free(t);
}

static void job_work(uv_work_t *w)
{
    job_t *j = w->data;
    switch (j->req.code) {
    case 50: do_update(j); break;
    case 51: do_delete(j); break;
    case 52: do_versions(j); break;
    case 53: do_global(j); break;
    default: break;
    }
}

/* ---- the queue, on the loop ---- */

static void job_free(job_t *j)
{
    for (int i = 0; i < NF; i++) {
        if (j->f[i]) /* wiped: a secret must not linger in freed memory */
            memset(j->f[i], 0, strlen(j->f[i]));
        free(j->f[i]);
    }
    free(j->home);
    free(j->version);
    free(j->all);
    rm_cmd_free(&j->req);
    rm_conn_unref(j->conn);
    free(j);
}

static void answer(job_t *j)
{
    br_broker_t *b = j->b;
    if (j->code != RC_SUCCESS) {
        LOG_W("acl", "request code=%d from %s refused: %.*s", j->req.code, rm_conn_peer(j->conn),
              (int)strcspn(j->remark, "\n"), j->remark);
        respond(j->conn, &j->req, j->code, j->remark);
        return;
    }
    if (j->req.code != 52) {
        LOG_I("acl", "%s, asked by %s", j->log, rm_conn_peer(j->conn));
        respond(j->conn, &j->req, RC_SUCCESS, NULL);
        return;
    }
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    rm_ext_set(&resp, "version", j->version);
    rm_ext_set(&resp, "allAclFileVersion", j->all);
    rm_ext_set(&resp, "brokerName", b->cfg.brokerName);
    rm_ext_set(&resp, "brokerAddr", b->addr);
    rm_ext_set(&resp, "clusterName", b->cfg.brokerClusterName);
    rm_conn_respond(j->conn, &j->req, &resp);
    rm_cmd_free(&resp);
}

static void start_next(void);

/* The request is done: off the queue, and the next one starts. */
static void job_done(job_t *j)
{
    g_head = j->next;
    if (!g_head)
        g_tail = NULL;
    job_free(j);
    start_next();
}

/* The subsystem's table now has the write in it (or the reload failed: the 5 s watcher tries
 * again, the file on disk is right). */
static void on_reloaded(void *arg, int ok)
{
    job_t *j = arg;
    if (j->b) {
        if (!ok)
            LOG_W("acl", "%s, but the ACL files did not reload at once: the next check (5 s) reloads them", j->log);
        answer(j);
    }
    job_done(j);
}

static void job_after(uv_work_t *w, int status)
{
    job_t *j = w->data;
    if (j->b && j->written) {
        br_acl_sys_reload(j->b, on_reloaded, j); /* answered once the change is in use */
        return;
    }
    if (j->b) {
        if (status != 0)
            jfail(j, RC_SYSTEM_ERROR, "the ACL request was not processed");
        answer(j);
    }
    job_done(j);
}

static void start_next(void)
{
    while (g_head) {
        job_t *j = g_head;
        g_waiting--;
        if (uv_queue_work(j->loop, &j->work, job_work, job_after) == 0)
            return;
        if (j->b)
            respond(j->conn, &j->req, RC_SYSTEM_ERROR, "the ACL request was not processed");
        g_head = j->next;
        if (!g_head)
            g_tail = NULL;
        job_free(j);
    }
}

/* Queue the request with the fields named (NULL-terminated, in enum order from `first`). */
static void enqueue(br_broker_t *b, rm_conn_t *c, const rm_cmd_t *req, const char *const *names, int first)
{
    if (g_waiting >= QUEUE_MAX) {
        respond(c, req, RC_SYSTEM_BUSY, "too many ACL admin requests in progress, try again later");
        return;
    }
    job_t *j = calloc(1, sizeof *j);
    int oom = !j || !(j->home = strdup(b->cfg.rocketmqHome));
    for (int i = 0; !oom && names[i]; i++) {
        const char *v = rm_ext_get(req, names[i]);
        oom = v && !(j->f[first + i] = strdup(v));
    }
    if (oom) {
        if (j) {
            for (int i = 0; i < NF; i++)
                free(j->f[i]);
            free(j->home);
            free(j);
        }
        respond(c, req, RC_SYSTEM_ERROR, "out of memory");
        return;
    }
    rm_ext_bool(req, "admin", &j->admin);
    j->work.data = j;
    j->b = b;
    j->loop = b->loop;
    j->conn = c;
    rm_conn_ref(c);
    rm_cmd_init_header_of(&j->req, req);
    int idle = !g_head;
    if (g_tail)
        g_tail->next = j;
    else
        g_head = j;
    g_tail = j;
    g_waiting++;
    if (idle)
        start_next();
}

void br_acl_admin_release(br_broker_t *b)
{
    job_t **pp = &g_head, *prev = NULL;
    if (g_head && g_head->b == b) { /* running on the thread pool: it frees itself */
        g_head->b = NULL;
        prev = g_head;
        pp = &g_head->next;
    }
    while (*pp) {
        job_t *j = *pp;
        if (j->b == b) { /* never started */
            *pp = j->next;
            g_waiting--;
            job_free(j);
        } else {
            prev = j;
            pp = &j->next;
        }
    }
    g_tail = prev;
}

/* ---- handlers ---- */

static int acl_on(br_broker_t *b, rm_conn_t *c, const rm_cmd_t *req)
{
    if (b->acl)
        return 1;
    respond(c, req, RC_SYSTEM_ERROR, "acl is not enabled");
    return 0;
}

static void handle_update(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    char msg[600];
    if (!acl_on(b, c, req) || !rm_req_str(c, req, "accessKey"))
        return;
    if (check_update(req, msg, sizeof msg)) {
        LOG_W("acl", "request code=50 from %s refused: %.*s", rm_conn_peer(c), (int)strcspn(msg, "\n"), msg);
        respond(c, req, RC_UPDATE_ACL_FAILED, msg);
        return;
    }
    static const char *const names[] = {"accessKey", "secretKey", "whiteRemoteAddress", "defaultTopicPerm",
                                        "defaultGroupPerm", "topicPerms", "groupPerms", NULL};
    enqueue(b, c, req, names, F_AK);
}

static void handle_delete(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    static const char *const names[] = {"accessKey", NULL};
    if (acl_on(b, c, req) && rm_req_str(c, req, "accessKey"))
        enqueue(b, c, req, names, F_AK);
}

static void handle_versions(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    static const char *const names[] = {NULL};
    if (acl_on(b, c, req))
        enqueue(b, c, req, names, 0);
}

/* aclFileFullPath may be left out: the default file (RocketMQ 4.9.5 refuses that, spec §3.2). */
static void handle_global(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    char msg[600];
    const char *list;
    if (!acl_on(b, c, req) || !(list = rm_req_str(c, req, "globalWhiteAddrs")))
        return;
    if (check_patterns(list, msg, sizeof msg)) {
        char remark[1100];
        snprintf(remark, sizeof remark, "The globalWhiteAddresses[%.300s] has been updated failed. (%s)", list, msg);
        LOG_W("acl", "request code=53 from %s refused: %s", rm_conn_peer(c), remark);
        respond(c, req, RC_UPDATE_WHITE_FAILED, remark);
        return;
    }
    static const char *const names[] = {"globalWhiteAddrs", "aclFileFullPath", NULL};
    enqueue(b, c, req, names, F_LIST);
}

const rm_handler_t br_acl_admin_handlers[BR_ACL_NADMIN] = {
    {50, handle_update}, {51, handle_delete}, {52, handle_versions}, {53, handle_global}};
