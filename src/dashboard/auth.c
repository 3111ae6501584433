/* auth.c: login when loginRequired=true (spec §1.2-1.4), safer than the original:
 *  - users come from a users.properties file (`name=password[,1]`, 1 = admin), reloaded when it
 *    changes; with login on and no file the dashboard refuses to start (the original falls back
 *    to a built-in admin/admin);
 *  - passwords are compared in constant time (SHA-256 of both, CRYPTO_memcmp);
 *  - the session is a random 128-bit id in an HttpOnly, SameSite=Strict cookie; sessions expire
 *    after 30 minutes idle; at most MAX_SESSIONS live at once (the oldest goes);
 *  - every state-changing request (any method but GET/HEAD) must carry the session's CSRF token
 *    in the X-XSRF-TOKEN header (the token is also in the readable XSRF-TOKEN cookie);
 *  - a normal user may call what the original's 2.0 whitelist allows (the *.query reads, sending
 *    a test message, DLQ export and batch resend) and gets "no permission" for the rest;
 *  - no 302 to the login page for API calls (issue #203's loops): {"status":-1,"errMsg":"user
 *    not login"}, the answer the original gives on the paths it forgot to redirect. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "dashboard.h"

#define MAX_SESSIONS 1024
#define MAX_USERS 1024
#define IDLE_MS (30 * 60 * 1000)

typedef struct session {
    char id[33], csrf[33];
    dh_user_t user;
    uint64_t last_ms;
} session_t;

typedef struct user { char name[128]; unsigned char pw_hash[32]; int admin; } user_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static session_t g_sessions[MAX_SESSIONS];
static user_t *g_users;
static size_t g_nusers;
static struct timespec g_users_mtime;
static char g_users_path[600];

static void sha256(const char *s, unsigned char out[32]) { SHA256((const unsigned char *)s, strlen(s), out); }

/* Parse users.properties into a new table; -1 when unreadable. */
static int load_users(user_t **out, size_t *n)
{
    cm_props_t p = {0};
    if (cm_props_load(&p, g_users_path))
        return -1;
    user_t *u = calloc(p.n ? p.n : 1, sizeof *u);
    size_t k = 0;
    for (size_t i = 0; u && i < p.n && k < MAX_USERS; i++) {
        char pw[512];
        snprintf(pw, sizeof pw, "%s", p.items[i].val);
        char *comma = strrchr(pw, ',');
        int admin = 0;
        if (comma && (!strcmp(comma + 1, "1") || !strcmp(comma + 1, "0"))) {
            admin = comma[1] == '1';
            *comma = 0;
        }
        if (!p.items[i].key[0] || strlen(p.items[i].key) >= sizeof u[k].name)
            continue;
        snprintf(u[k].name, sizeof u[k].name, "%s", p.items[i].key);
        sha256(pw, u[k].pw_hash);
        u[k++].admin = admin;
    }
    cm_props_free(&p);
    if (!u)
        return -1;
    *out = u;
    *n = k;
    return 0;
}

/* Reload the users file when its modification time changed (called under g_mu). */
static void refresh_users(void)
{
    struct stat st;
    if (stat(g_users_path, &st) != 0)
        return;
    if (st.st_mtim.tv_sec == g_users_mtime.tv_sec && st.st_mtim.tv_nsec == g_users_mtime.tv_nsec)
        return;
    user_t *u;
    size_t n;
    if (load_users(&u, &n) == 0) {
        free(g_users);
        g_users = u;
        g_nusers = n;
        g_users_mtime = st.st_mtim;
    }
}

int dh_auth_init(void)
{
    if (!g_dh.cfg.login_required)
        return 0;
    if (g_dh.cfg.users_file[0])
        snprintf(g_users_path, sizeof g_users_path, "%s", g_dh.cfg.users_file);
    else
        snprintf(g_users_path, sizeof g_users_path, "%s/users.properties", g_dh.cfg.data_path);
    pthread_mutex_lock(&g_mu);
    refresh_users();
    size_t n = g_nusers;
    pthread_mutex_unlock(&g_mu);
    if (!g_users || !n) {
        fprintf(stderr, "loulan-dashboard: loginRequired=true but %s has no users (name=password[,1] lines); "
                        "there is no built-in admin/admin\n", g_users_path);
        return -1;
    }
    return 0;
}

static void random_hex(char out[33])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        abort(); /* no randomness: a guessable session id would be worse than stopping */
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The live session with this id (called under g_mu), NULL if none or expired. */
static session_t *find_session(const char *id)
{
    if (!id || strlen(id) != 32)
        return NULL;
    uint64_t now = cm_mono_ms();
    for (int i = 0; i < MAX_SESSIONS; i++) {
        session_t *s = &g_sessions[i];
        if (s->id[0] && CRYPTO_memcmp(s->id, id, 32) == 0) {
            if (now - s->last_ms > IDLE_MS) {
                memset(s, 0, sizeof *s);
                return NULL;
            }
            s->last_ms = now;
            return s;
        }
    }
    return NULL;
}

/* A free slot, else the least recently used one (called under g_mu). */
static session_t *new_session(void)
{
    session_t *old = &g_sessions[0];
    for (int i = 0; i < MAX_SESSIONS; i++) {
        if (!g_sessions[i].id[0])
            return &g_sessions[i];
        if (g_sessions[i].last_ms < old->last_ms)
            old = &g_sessions[i];
    }
    return old;
}

/* rocketmq-dashboard 2.0's whitelist for normal users (spec §1.4), plus 2.1's topic types. */
static int normal_may(const char *path)
{
    static const char *const extra[] = {"topic/sendTopicMessage.do", "dlqMessage/exportDlqMessage.do",
                                        "dlqMessage/batchResendDlqMessage.do", "topic/list.queryTopicType",
                                        "login/logout.do", "dashboard/topicCurrent", "rocketmq/nsaddr",
                                        "consumer/group.refresh", "consumer/group.refresh.all", NULL};
    for (int i = 0; extra[i]; i++)
        if (!strcmp(path, extra[i]))
            return 1;
    size_t n = strlen(path);
    return n > 6 && !strcmp(path + n - 6, ".query");
}

static int is_write(const char *method) { return strcmp(method, "GET") && strcmp(method, "HEAD"); }

int dh_auth_check(dh_req_t *r, int *redirect)
{
    *redirect = 0;
    if (!g_dh.cfg.login_required || !strncmp(r->path, "login/", 6))
        return 0;
    pthread_mutex_lock(&g_mu);
    session_t *s = find_session(r->cookie_session);
    static __thread dh_user_t user; /* the request is answered on this thread */
    char csrf[33] = "";
    if (s) {
        user = s->user;
        snprintf(csrf, sizeof csrf, "%s", s->csrf);
    }
    pthread_mutex_unlock(&g_mu);
    if (!s)
        return dh_fail(r, "user not login");
    r->user = &user;
    if (is_write(r->method) && (!r->header_csrf || strlen(r->header_csrf) != 32 ||
                                CRYPTO_memcmp(r->header_csrf, csrf, 32) != 0))
        return dh_fail(r, "CSRF token missing or wrong: send the XSRF-TOKEN cookie's value as X-XSRF-TOKEN");
    if (!user.admin && !normal_may(r->path))
        return dh_fail(r, "no permission");
    return 0;
}

/* ---- login/ routes ---- */

static int h_check(dh_req_t *r, lj_val_t **data)
{
    lj_val_t *o = lj_new_obj();
    dh_user_t u = {0};
    int logined = 0;
    if (g_dh.cfg.login_required) {
        pthread_mutex_lock(&g_mu);
        session_t *s = find_session(r->cookie_session);
        if (s) {
            logined = 1;
            u = s->user;
        }
        pthread_mutex_unlock(&g_mu);
    }
    lj_set_bool(o, "loginRequired", g_dh.cfg.login_required);
    lj_set_bool(o, "logined", logined);
    if (logined) { /* a new tab of a live session learns who it is (Loulan addition) */
        lj_set_str(o, "loginUserName", u.name);
        lj_set_int(o, "loginUserRole", u.admin);
    }
    *data = o;
    return 0;
}

/* The user whose password matches, or NULL; every user's hash is compared (no early exit). */
static const user_t *match_user(const char *name, const char *pw)
{
    unsigned char h[32];
    sha256(pw, h);
    const user_t *found = NULL;
    for (size_t i = 0; i < g_nusers; i++) {
        int same = !strcmp(g_users[i].name, name) & !CRYPTO_memcmp(g_users[i].pw_hash, h, 32);
        if (same)
            found = &g_users[i];
    }
    return found;
}

static int h_login(dh_req_t *r, lj_val_t **data)
{
    const char *name = dh_param(r, "username"), *pw = dh_param(r, "password");
    if (!g_dh.cfg.login_required)
        return dh_fail(r, "login is not required (loginRequired=false)");
    if (r->json && r->json->type == LJ_OBJ) { /* 2.1's JSON body */
        name = lj_get_str(r->json, "username", name);
        pw = lj_get_str(r->json, "password", pw);
    }
    if (!name || !pw)
        return dh_fail(r, "Bad username or password!");
    pthread_mutex_lock(&g_mu);
    refresh_users();
    const user_t *u = match_user(name, pw);
    session_t *s = NULL;
    if (u) {
        s = new_session();
        random_hex(s->id);
        random_hex(s->csrf);
        snprintf(s->user.name, sizeof s->user.name, "%s", u->name);
        s->user.admin = u->admin;
        s->last_ms = cm_mono_ms();
    }
    session_t copy = s ? *s : (session_t){0};
    pthread_mutex_unlock(&g_mu);
    if (!s) {
        LOG_W("dashboard", "login refused for user %.64s from %s", name, r->client_ip);
        return dh_fail(r, "Bad username or password!");
    }
    char cookie[200];
    snprintf(cookie, sizeof cookie, "LOULAN_SESSION=%s; Path=/; HttpOnly; SameSite=Strict", copy.id);
    dh_header(r, "Set-Cookie", cookie);
    snprintf(cookie, sizeof cookie, "XSRF-TOKEN=%s; Path=/; SameSite=Strict", copy.csrf);
    dh_header(r, "Set-Cookie", cookie);
    lj_val_t *o = lj_new_obj();
    lj_set_str(o, "loginUserName", copy.user.name);
    lj_set_int(o, "loginUserRole", copy.user.admin);
    lj_set_str(o, "contextPath", "/");
    *data = o;
    return 0;
}

static int h_logout(dh_req_t *r, lj_val_t **data)
{
    pthread_mutex_lock(&g_mu);
    session_t *s = find_session(r->cookie_session);
    if (s)
        memset(s, 0, sizeof *s);
    pthread_mutex_unlock(&g_mu);
    dh_header(r, "Set-Cookie", "LOULAN_SESSION=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    *data = lj_new_str("/");
    return 0;
}

const dh_route_t dh_routes_login[] = {
    {"login/check.query", h_check, "GET"},
    {"login/login.do", h_login, "POST"},
    {"login/logout.do", h_logout, "POST"},
    {NULL},
};
