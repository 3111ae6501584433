/* libFuzzer target: the dashboard's request pipeline (src/dashboard/http.c and every handler
 * behind it), as an HTTP request reaches it after libmicrohttpd: method, path, query string and
 * body (form fields or JSON). Input: one flag byte (bit 0: login on; bits 1-2: the method),
 * then "path\nquery\nbody". The name server is a closed port, so handlers fail fast on their
 * admin calls; what is checked is that nothing crashes or leaks and that every JSON answer is
 * the envelope, parsable, with status 0 or -1. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dashboard/dashboard.h"

static const char *const k_methods[] = {"GET", "POST", "DELETE", "PUT"};

static void init_once(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    char dir[] = "/tmp/loulan-fuzz-dh.XXXXXX";
    if (!mkdtemp(dir))
        abort();
    snprintf(g_dh.cfg.data_path, sizeof g_dh.cfg.data_path, "%s", dir);
    char users[600];
    snprintf(users, sizeof users, "%s/users.properties", dir);
    if (cm_write_file_safe(users, "admin=admin,1\nuser1=user1\n", 26) != 0)
        abort();
    snprintf(g_dh.cfg.users_file, sizeof g_dh.cfg.users_file, "%s", users);
    g_dh.cfg.login_required = 1;
    if (dh_auth_init() != 0)
        abort();
    ad_set_timeout_ms(200);
}

/* Split data at the first two newlines: path, query, body (all copied, NUL-terminated). */
static void split(const uint8_t *d, size_t n, char **path, char **query, char **body, size_t *blen)
{
    const char *s = (const char *)d, *e = s + n;
    const char *nl1 = memchr(s, '\n', n);
    const char *p_end = nl1 ? nl1 : e;
    const char *q = nl1 ? nl1 + 1 : e;
    const char *nl2 = q < e ? memchr(q, '\n', (size_t)(e - q)) : NULL;
    const char *q_end = nl2 ? nl2 : e;
    const char *b = nl2 ? nl2 + 1 : e;
    *path = cm_strndup(s, (size_t)(p_end - s));
    *query = cm_strndup(q, (size_t)(q_end - q));
    *blen = (size_t)(e - b);
    *body = malloc(*blen + 1); /* the body may hold NULs: copied whole, as http.c keeps it */
    if (!*body)
        abort();
    memcpy(*body, b, *blen);
    (*body)[*blen] = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    init_once();
    /* each input starts from the same settings, whatever the OPS handlers changed */
    g_dh.ns_count = 1;
    g_dh.ns_current = 0;
    snprintf(g_dh.ns_list[0], sizeof g_dh.ns_list[0], "127.0.0.1:1");
    g_dh.vip_channel = 0;
    g_dh.cfg.login_required = data[0] & 1;
    char *path, *query, *body;
    size_t blen;
    split(data + 1, size - 1, &path, &query, &body, &blen);
    dh_req_t r = {0};
    r.method = k_methods[(data[0] >> 1) & 3];
    r.path = path;
    r.body = body;
    r.blen = blen;
    dh_parse_query(&r, query, strlen(query));
    if (data[0] & 8)
        dh_parse_query(&r, body, blen); /* a form body */
    else if (blen && (body[0] == '{' || body[0] == '['))
        lj_parse(body, blen, &r.json);
    cm_buf_t out;
    cm_buf_init(&out);
    const char *ctype = NULL;
    int status = dh_dispatch(&r, &out, &ctype);
    if (status < 200 || status > 599 || !ctype)
        abort();
    if (!strncmp(ctype, "application/json", 16)) {
        lj_val_t *v = NULL;
        if (lj_parse(out.data, out.len, &v) != 0)
            abort();
        int64_t st = lj_get_int(v, "status", 99);
        if (st != 0 && st != -1)
            abort();
        lj_free(v);
    }
    cm_buf_free(&out);
    dh_req_free(&r);
    free(path);
    free(query);
    free(body);
    return 0;
}
