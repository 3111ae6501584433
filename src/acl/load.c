/* acl: the table of plain_acl.yml files (acl spec §1.2, §1.3), read with libyaml's event API.
 * The events are interpreted as they come, so nothing but what the table keeps is held in
 * memory, and nesting is bounded without recursion. Scalars are taken literally (YAML 1.1 typing
 * is not applied: `secretKey: 0123` is the string "0123"); a plain `~`, `null` or empty scalar is
 * null. A file is added whole or not at all. Accounts are kept sorted by accessKey so that
 * acl_account is a binary search; the first file (and the first entry) naming a key owns it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "acl/acl.h"

#define ACL_MAX_FILE (4u << 20)  /* bytes of one file */
#define ACL_MAX_ACCOUNTS 100000  /* accounts of the whole table */
#define ACL_MAX_DEPTH 64         /* nesting of a skipped value */
#define ACL_MAX_FILES 10000      /* files under conf/acl */
#define ACL_MAX_DIR_DEPTH 16     /* subdirectory levels under conf/acl */

/* ---- perm strings ---- */

static int is_trim(char c) { return (unsigned char)c <= ' '; } /* Java's String.trim() */

int acl_perm_parse(const char *s)
{
    if (!s)
        return ACL_DENY;
    while (*s && is_trim(*s))
        s++;
    size_t n = strlen(s);
    while (n && is_trim(s[n - 1]))
        n--;
#define IS(lit) (n == sizeof(lit) - 1 && !memcmp(s, lit, n))
    if (IS("PUB"))
        return ACL_PUB;
    if (IS("SUB"))
        return ACL_SUB;
    if (IS("PUB|SUB") || IS("SUB|PUB"))
        return ACL_PUB | ACL_SUB;
#undef IS
    return ACL_DENY;
}

/* ---- the event reader ---- */

typedef struct ys {
    yaml_parser_t p;
    yaml_event_t ev;
    int have;
    char *err;
    size_t errlen;
} ys_t;

static int fail(ys_t *y, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ys_t *y, const char *fmt, ...)
{
    if (y->err && y->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(y->err, y->errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int next(ys_t *y)
{
    if (y->have) {
        yaml_event_delete(&y->ev);
        y->have = 0;
    }
    if (!yaml_parser_parse(&y->p, &y->ev)) {
        const char *prob = y->p.problem ? y->p.problem : "malformed YAML";
        return fail(y, "YAML syntax error at line %lu column %lu: %s", (unsigned long)y->p.problem_mark.line + 1,
                    (unsigned long)y->p.problem_mark.column + 1, prob);
    }
    y->have = 1;
    if (y->ev.type == YAML_ALIAS_EVENT)
        return fail(y, "YAML aliases are not supported (line %lu)", (unsigned long)y->ev.start_mark.line + 1);
    return 0;
}

static int ev_is(ys_t *y, yaml_event_type_t t) { return y->ev.type == t; }

/* A scalar event is null: plain ~, null, Null, NULL or empty, untagged (or tagged !!null). */
static int scalar_null(ys_t *y)
{
    const char *v = (const char *)y->ev.data.scalar.value;
    size_t n = y->ev.data.scalar.length;
    if (y->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    if (!y->ev.data.scalar.plain_implicit) /* tagged: "! ~" or "!" alone is a string */
        return y->ev.data.scalar.tag && !strcmp((const char *)y->ev.data.scalar.tag, "tag:yaml.org,2002:null");
    return n == 0 || (n == 1 && v[0] == '~') || (n == 4 && (!memcmp(v, "null", 4) || !memcmp(v, "Null", 4) ||
                                                              !memcmp(v, "NULL", 4)));
}

/* The current scalar as a new C string (NULL for a null one, *out untouched on error). */
static int scalar_dup(ys_t *y, const char *what, char **out)
{
    if (!ev_is(y, YAML_SCALAR_EVENT))
        return fail(y, "%s: a string was expected (line %lu)", what, (unsigned long)y->ev.start_mark.line + 1);
    if (scalar_null(y)) {
        *out = NULL;
        return 0;
    }
    size_t n = y->ev.data.scalar.length;
    const char *v = (const char *)y->ev.data.scalar.value;
    if (memchr(v, 0, n))
        return fail(y, "%s: a NUL character in a string (line %lu)", what, (unsigned long)y->ev.start_mark.line + 1);
    char *s = malloc(n + 1);
    if (!s)
        return fail(y, "out of memory");
    memcpy(s, v, n);
    s[n] = 0;
    *out = s;
    return 0;
}

/* Skip the value whose first event is current (a scalar or a whole collection). */
static int skip_value(ys_t *y)
{
    if (ev_is(y, YAML_SCALAR_EVENT))
        return 0;
    if (!ev_is(y, YAML_SEQUENCE_START_EVENT) && !ev_is(y, YAML_MAPPING_START_EVENT))
        return fail(y, "unexpected YAML event");
    int depth = 1;
    while (depth > 0) {
        if (next(y))
            return -1;
        switch (y->ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > ACL_MAX_DEPTH)
                return fail(y, "YAML nested deeper than %d levels", ACL_MAX_DEPTH);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_SCALAR_EVENT:
            break;
        default:
            return fail(y, "unexpected YAML event");
        }
    }
    return 0;
}

/* ---- a string list ---- */

typedef struct strv {
    char **v;
    size_t n, cap;
} strv_t;

static void strv_free(strv_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int strv_push(strv_t *s, char *str)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        char **nv = realloc(s->v, nc * sizeof *nv);
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = str;
    return 0;
}

/* The current value: null, or a sequence of scalars (null items kept as NULL). */
static int read_strings(ys_t *y, const char *what, strv_t *out, int *present)
{
    *present = 0;
    if (ev_is(y, YAML_SCALAR_EVENT) && scalar_null(y))
        return 0;
    if (!ev_is(y, YAML_SEQUENCE_START_EVENT))
        return fail(y, "%s: a list was expected (line %lu)", what, (unsigned long)y->ev.start_mark.line + 1);
    *present = 1;
    for (;;) {
        if (next(y))
            return -1;
        if (ev_is(y, YAML_SEQUENCE_END_EVENT))
            return 0;
        char *s = NULL;
        if (scalar_dup(y, what, &s))
            return -1;
        if (strv_push(out, s)) {
            free(s);
            return fail(y, "out of memory");
        }
    }
}

/* ---- the staged content of one file ---- */

typedef struct stage {
    acl_pattern_t **global;
    size_t nglobal;
    acl_account_t *acc;
    size_t nacc, capacc;
} stage_t;

static void perms_free(acl_perm_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(p[i].resource);
    free(p);
}

static void account_clear(acl_account_t *a)
{
    free(a->accessKey);
    free(a->secretKey);
    rm_sign_key_free(a->key);
    acl_pattern_free(a->white);
    perms_free(a->perms, a->nperms);
    memset(a, 0, sizeof *a);
}

static void stage_clear_global(stage_t *st)
{
    for (size_t i = 0; i < st->nglobal; i++)
        acl_pattern_free(st->global[i]);
    free(st->global);
    st->global = NULL;
    st->nglobal = 0;
}

static void stage_clear_accounts(stage_t *st)
{
    for (size_t i = 0; i < st->nacc; i++)
        account_clear(&st->acc[i]);
    free(st->acc);
    st->acc = NULL;
    st->nacc = st->capacc = 0;
}

/* Java's String.length() of UTF-8 text: UTF-16 code units. */
static size_t java_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) != 0x80)
            n++;
        if (*p >= 0xF0)
            n++; /* a surrogate pair */
    }
    return n;
}

static void trim_span(const char **s, size_t *n)
{
    while (*n && is_trim(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_trim((*s)[*n - 1]))
        (*n)--;
}

/* Add "name=PERM" entries to a (a later entry for the same resource replaces the earlier perm,
 * as RocketMQ's map does). */
static int add_perms(ys_t *y, acl_account_t *a, const strv_t *list, int group, cm_map_t *seen)
{
    for (size_t i = 0; i < list->n; i++) {
        const char *e = list->v[i];
        if (!e)
            return fail(y, "Parse resource permission failed for %s:null", group ? "group" : "topic");
        /* split on '=', empty pieces dropped: exactly two pieces */
        const char *pc[2];
        size_t pl[2];
        int np = 0;
        for (const char *s = e; *s;) {
            const char *q = strchr(s, '=');
            size_t l = q ? (size_t)(q - s) : strlen(s);
            if (l) {
                if (np == 2) {
                    np = 3;
                    break;
                }
                pc[np] = s;
                pl[np++] = l;
            }
            s += l;
            if (*s == '=')
                s++;
        }
        if (np != 2)
            return fail(y, "Parse resource permission failed for %s:%s", group ? "group" : "topic", e);
        const char *name = pc[0];
        size_t nl = pl[0];
        trim_span(&name, &nl);
        char perm[16];
        const char *ps = pc[1];
        size_t psl = pl[1];
        trim_span(&ps, &psl);
        int pv = ACL_DENY;
        if (psl < sizeof perm) {
            memcpy(perm, ps, psl);
            perm[psl] = 0;
            pv = acl_perm_parse(perm);
        }
        size_t rl = nl + (group ? 7 : 0);
        char *res = malloc(rl + 1);
        if (!res)
            return fail(y, "out of memory");
        if (group)
            memcpy(res, "%RETRY%", 7);
        memcpy(res + (group ? 7 : 0), name, nl);
        res[rl] = 0;
        uintptr_t j = (uintptr_t)cm_map_get(seen, res); /* index + 1 */
        if (j) {
            free(res);
            a->perms[j - 1].perm = pv;
            continue;
        }
        acl_perm_t *np2 = realloc(a->perms, (a->nperms + 1) * sizeof *np2);
        if (!np2) {
            free(res);
            return fail(y, "out of memory");
        }
        a->perms = np2;
        a->perms[a->nperms].resource = res;
        a->perms[a->nperms].perm = pv;
        a->nperms++;
        if (cm_map_put(seen, res, (void *)(uintptr_t)a->nperms))
            return fail(y, "out of memory");
    }
    return 0;
}

static int parse_bool(ys_t *y, int *out)
{
    if (!ev_is(y, YAML_SCALAR_EVENT))
        return fail(y, "admin: true or false was expected (line %lu)", (unsigned long)y->ev.start_mark.line + 1);
    if (scalar_null(y)) {
        *out = 0;
        return 0;
    }
    const char *v = (const char *)y->ev.data.scalar.value;
    size_t n = y->ev.data.scalar.length;
    static const char *const t[] = {"true", "yes", "on", "y"}, *const f[] = {"false", "no", "off", "n"};
    for (int i = 0; i < 4; i++) {
        if (n == strlen(t[i]) && !strncasecmp(v, t[i], n)) {
            *out = 1;
            return 0;
        }
        if (n == strlen(f[i]) && !strncasecmp(v, f[i], n)) {
            *out = 0;
            return 0;
        }
    }
    return fail(y, "admin: true or false was expected (line %lu)", (unsigned long)y->ev.start_mark.line + 1);
}

/* Loulan's secretKeyEnv / secretKeyFile: the secret kept out of the YAML. A file's first line,
 * at most 1 KiB, of a regular file only (never a pipe or a device that would block the load). */
static int secret_elsewhere(ys_t *y, acl_account_t *a, const char *env, const char *file)
{
    if (a->secretKey || (!env && !file))
        return 0;
    if (env) {
        const char *v = getenv(env);
        if (!v)
            return fail(y, "secretKeyEnv of accessKey=%s: the environment variable %s is not set",
                        a->accessKey ? a->accessKey : "null", env);
        a->secretKey = strdup(v);
    } else {
        int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        struct stat sb;
        char buf[1025];
        ssize_t n = -1;
        if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
            n = read(fd, buf, sizeof buf - 1);
        if (fd >= 0)
            close(fd);
        if (n < 0)
            return fail(y, "secretKeyFile of accessKey=%s: %s cannot be read", a->accessKey ? a->accessKey : "null",
                        file);
        buf[n] = 0;
        buf[strcspn(buf, "\r\n")] = 0;
        a->secretKey = strdup(buf);
        explicit_bzero(buf, sizeof buf);
    }
    return a->secretKey ? 0 : fail(y, "out of memory");
}

/* One account map; the current event is its MAPPING_START. */
static int read_account(ys_t *y, acl_account_t *a)
{
    char *tmp = NULL, *white = NULL;
    char *dtp = NULL, *dgp = NULL, *senv = NULL, *sfile = NULL;
    strv_t topics = {0}, groups = {0};
    int rc = -1, present;
    int have_white = 0;
    for (;;) {
        if (next(y))
            goto out;
        if (ev_is(y, YAML_MAPPING_END_EVENT))
            break;
        if (!ev_is(y, YAML_SCALAR_EVENT)) {
            fail(y, "accounts: a key was expected (line %lu)", (unsigned long)y->ev.start_mark.line + 1);
            goto out;
        }
        char key[32];
        size_t kl = y->ev.data.scalar.length;
        if (kl >= sizeof key)
            kl = sizeof key - 1; /* long keys are unknown anyway; the NUL makes them differ */
        memcpy(key, y->ev.data.scalar.value, kl);
        key[kl] = 0;
        if (y->ev.data.scalar.length >= sizeof key)
            key[0] = 0;
        if (next(y))
            goto out;
        char **dst = NULL;
        if (!strcmp(key, "accessKey"))
            dst = &a->accessKey;
        else if (!strcmp(key, "secretKey"))
            dst = &a->secretKey;
        else if (!strcmp(key, "whiteRemoteAddress"))
            dst = &white;
        else if (!strcmp(key, "defaultTopicPerm"))
            dst = &dtp;
        else if (!strcmp(key, "defaultGroupPerm"))
            dst = &dgp;
        else if (!strcmp(key, "secretKeyEnv"))
            dst = &senv;
        else if (!strcmp(key, "secretKeyFile"))
            dst = &sfile;
        if (dst) {
            if (scalar_dup(y, key, &tmp))
                goto out;
            free(*dst); /* a repeated key: the last one wins */
            *dst = tmp;
            tmp = NULL;
            if (dst == &white)
                have_white = 1;
        } else if (!strcmp(key, "admin")) {
            if (parse_bool(y, &a->admin))
                goto out;
        } else if (!strcmp(key, "topicPerms")) {
            strv_free(&topics);
            if (read_strings(y, "topicPerms", &topics, &present))
                goto out;
        } else if (!strcmp(key, "groupPerms")) {
            strv_free(&groups);
            if (read_strings(y, "groupPerms", &groups, &present))
                goto out;
        } else if (skip_value(y)) {
            goto out;
        }
    }
    if (secret_elsewhere(y, a, senv, sfile))
        goto out;
    if (!a->accessKey || !a->secretKey || java_len(a->accessKey) <= 6 || java_len(a->secretKey) <= 6) {
        /* RocketMQ's text, but a secret is never written to a log: only whether there is one */
        fail(y, "The accessKey=%s and secretKey=%s cannot be null and length should longer than 6",
             a->accessKey ? a->accessKey : "null", a->secretKey ? "******" : "null");
        goto out;
    }
    a->defaultTopicPerm = acl_perm_parse(dtp);
    a->defaultGroupPerm = acl_perm_parse(dgp);
    if (have_white && white) {
        char perr[256];
        a->white = acl_pattern_parse(white, perr, sizeof perr);
        if (!a->white) {
            fail(y, "%s", perr);
            goto out;
        }
    }
    cm_map_t seen = {0};
    int prc = add_perms(y, a, &topics, 0, &seen) || add_perms(y, a, &groups, 1, &seen);
    cm_map_free(&seen, NULL);
    if (prc)
        goto out;
    a->hasExplicit = a->nperms > 0;
    rc = 0;
out:
    free(tmp);
    free(white);
    free(dtp);
    free(dgp);
    free(senv);
    free(sfile);
    strv_free(&topics);
    strv_free(&groups);
    return rc;
}

static int read_accounts(ys_t *y, stage_t *st, size_t already)
{
    if (ev_is(y, YAML_SCALAR_EVENT) && scalar_null(y))
        return 0;
    if (!ev_is(y, YAML_SEQUENCE_START_EVENT))
        return fail(y, "accounts: a list was expected (line %lu)", (unsigned long)y->ev.start_mark.line + 1);
    for (;;) {
        if (next(y))
            return -1;
        if (ev_is(y, YAML_SEQUENCE_END_EVENT))
            return 0;
        if (!ev_is(y, YAML_MAPPING_START_EVENT))
            return fail(y, "accounts: each account must be a map (line %lu)", (unsigned long)y->ev.start_mark.line + 1);
        if (already + st->nacc >= ACL_MAX_ACCOUNTS)
            return fail(y, "more than %d accounts", ACL_MAX_ACCOUNTS);
        if (st->nacc == st->capacc) {
            size_t nc = st->capacc ? st->capacc * 2 : 8;
            acl_account_t *na = realloc(st->acc, nc * sizeof *na);
            if (!na)
                return fail(y, "out of memory");
            st->acc = na;
            st->capacc = nc;
        }
        acl_account_t *a = &st->acc[st->nacc];
        memset(a, 0, sizeof *a);
        if (read_account(y, a)) {
            account_clear(a);
            return -1;
        }
        st->nacc++;
    }
}

static int read_global(ys_t *y, stage_t *st)
{
    strv_t list = {0};
    int present, rc = -1;
    if (read_strings(y, "globalWhiteRemoteAddresses", &list, &present))
        goto out;
    if (list.n) {
        st->global = calloc(list.n, sizeof *st->global);
        if (!st->global) {
            fail(y, "out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < list.n; i++) {
        char perr[256];
        acl_pattern_t *p = acl_pattern_parse(list.v[i] ? list.v[i] : "", perr, sizeof perr);
        if (!p) {
            fail(y, "%s", perr);
            goto out;
        }
        st->global[st->nglobal++] = p;
    }
    rc = 0;
out:
    strv_free(&list);
    return rc;
}

/* The whole stream into st. */
static int read_file(ys_t *y, stage_t *st, size_t already)
{
    if (next(y) || !ev_is(y, YAML_STREAM_START_EVENT))
        return -1;
    int docs = 0;
    for (;;) {
        if (next(y))
            return -1;
        if (ev_is(y, YAML_STREAM_END_EVENT))
            return 0;
        if (!ev_is(y, YAML_DOCUMENT_START_EVENT))
            return fail(y, "unexpected YAML event");
        if (++docs > 1)
            return fail(y, "more than one YAML document");
        if (next(y))
            return -1;
        if (ev_is(y, YAML_SCALAR_EVENT)) {
            if (!scalar_null(y))
                return fail(y, "the file is not a map");
        } else if (!ev_is(y, YAML_MAPPING_START_EVENT)) {
            return fail(y, "the file is not a map");
        } else {
            for (;;) {
                if (next(y))
                    return -1;
                if (ev_is(y, YAML_MAPPING_END_EVENT))
                    break;
                if (!ev_is(y, YAML_SCALAR_EVENT)) {
                    /* a complex key: skip it and its value */
                    if (skip_value(y) || next(y) || skip_value(y))
                        return -1;
                    continue;
                }
                const char *k = (const char *)y->ev.data.scalar.value;
                size_t kl = y->ev.data.scalar.length;
                int which = 0;
                if (kl == 26 && !memcmp(k, "globalWhiteRemoteAddresses", 26))
                    which = 1;
                else if (kl == 8 && !memcmp(k, "accounts", 8))
                    which = 2;
                if (next(y))
                    return -1;
                if (which == 1) {
                    stage_clear_global(st); /* a repeated key: the last one wins */
                    if (read_global(y, st))
                        return -1;
                } else if (which == 2) {
                    stage_clear_accounts(st);
                    if (read_accounts(y, st, already))
                        return -1;
                } else if (skip_value(y)) { /* dataVersion and anything unknown */
                    return -1;
                }
            }
        }
        if (next(y) || !ev_is(y, YAML_DOCUMENT_END_EVENT))
            return y->have && !ev_is(y, YAML_DOCUMENT_END_EVENT) ? fail(y, "unexpected YAML event") : -1;
    }
}

static int cmp_account(const void *a, const void *b)
{
    return strcmp(((const acl_account_t *)a)->accessKey, ((const acl_account_t *)b)->accessKey);
}

static int cmp_key_account(const void *k, const void *b)
{
    return strcmp((const char *)k, ((const acl_account_t *)b)->accessKey);
}

const acl_account_t *acl_account(const acl_table_t *acl, const char *accessKey)
{
    if (!acl || !accessKey || !acl->naccounts)
        return NULL;
    return bsearch(accessKey, acl->accounts, acl->naccounts, sizeof *acl->accounts, cmp_key_account);
}

/* Sort an account's perms by resource so a request's check is a binary search, not a walk of a
 * list that may hold thousands of topics. Of two entries for one resource the later one counts,
 * as in RocketMQ's map. Cannot fail: it compacts in place. */
typedef struct { acl_perm_t p; size_t at; } perm_at_t;
static int cmp_perm_at(const void *x, const void *y)
{
    const perm_at_t *a = x, *b = y;
    int c = strcmp(a->p.resource, b->p.resource);
    return c ? c : (a->at > b->at) - (a->at < b->at);
}
static void perms_index(acl_account_t *a)
{
    if (a->nperms < 2)
        return;
    perm_at_t *t = malloc(a->nperms * sizeof *t);
    if (!t) { /* keep file order; lookups stay correct by the linear fallback flag */
        a->unsorted = 1;
        return;
    }
    for (size_t i = 0; i < a->nperms; i++)
        t[i] = (perm_at_t){a->perms[i], i};
    qsort(t, a->nperms, sizeof *t, cmp_perm_at);
    size_t n = 0;
    for (size_t i = 0; i < a->nperms; i++) {
        if (i + 1 < a->nperms && strcmp(t[i].p.resource, t[i + 1].p.resource) == 0) {
            free(t[i].p.resource); /* a later entry for the same resource replaces it */
            continue;
        }
        a->perms[n++] = t[i].p;
    }
    a->nperms = n;
    free(t);
}

static int cmp_key_perm(const void *k, const void *p) { return strcmp(k, ((const acl_perm_t *)p)->resource); }

int acl_perm_of(const acl_account_t *a, const char *resource)
{
    const acl_perm_t *p = NULL;
    if (a->unsorted) {
        for (size_t i = 0; i < a->nperms; i++)
            if (strcmp(a->perms[i].resource, resource) == 0)
                p = &a->perms[i];
    } else if (a->nperms) {
        p = bsearch(resource, a->perms, a->nperms, sizeof *a->perms, cmp_key_perm);
    }
    if (p)
        return p->perm;
    return strncmp(resource, "%RETRY%", 7) == 0 ? a->defaultGroupPerm : a->defaultTopicPerm;
}

int acl_load_text(acl_table_t *acl, const char *file, const char *text, size_t len, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = 0;
    if (!acl || (!text && len)) {
        if (err && errlen)
            snprintf(err, errlen, "no table or no text");
        return -1;
    }
    if (len > ACL_MAX_FILE) {
        if (err && errlen)
            snprintf(err, errlen, "the file is larger than %u bytes", ACL_MAX_FILE);
        return -1;
    }
    ys_t y = {.err = err, .errlen = errlen};
    stage_t st = {0};
    if (!yaml_parser_initialize(&y.p)) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&y.p, (const unsigned char *)(text ? text : ""), len);
    int rc = read_file(&y, &st, acl->naccounts);
    if (y.have)
        yaml_event_delete(&y.ev);
    yaml_parser_delete(&y.p);
    if (rc) {
        if (err && errlen && !err[0])
            snprintf(err, errlen, "malformed YAML");
        goto fail;
    }

    /* a key already in the table, or earlier in this file, is ignored (first file wins) */
    cm_map_t mine = {0};
    for (size_t i = 0; i < st.nacc; i++) {
        acl_account_t *a = &st.acc[i];
        if (acl_account(acl, a->accessKey) || cm_map_get(&mine, a->accessKey)) {
            account_clear(a);
            continue;
        }
        if (cm_map_put(&mine, a->accessKey, a)) {
            cm_map_free(&mine, NULL);
            if (err && errlen)
                snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    cm_map_free(&mine, NULL);

    /* commit: room first, so nothing below can fail half-way */
    char *fname = strdup(file ? file : "");
    char **nf = fname ? realloc(acl->files, (acl->nfiles + 1) * sizeof *nf) : NULL;
    if (nf)
        acl->files = nf;
    acl_pattern_t **ng = nf && st.nglobal ? realloc(acl->global, (acl->nglobal + st.nglobal) * sizeof *ng) : NULL;
    if (ng)
        acl->global = ng;
    acl_account_t *na =
        nf && st.nacc ? realloc(acl->accounts, (acl->naccounts + st.nacc) * sizeof *na) : NULL;
    if (na)
        acl->accounts = na;
    if (!nf || (st.nglobal && !ng) || (st.nacc && !na)) {
        free(fname);
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        goto fail;
    }
    acl->files[acl->nfiles++] = fname;
    if (st.nglobal)
        memcpy(acl->global + acl->nglobal, st.global, st.nglobal * sizeof *st.global);
    acl->nglobal += st.nglobal;
    free(st.global);
    st.global = NULL;
    st.nglobal = 0;

    /* accounts (duplicates were dropped above) */
    size_t before = acl->naccounts;
    for (size_t i = 0; i < st.nacc; i++) {
        acl_account_t *a = &st.acc[i];
        if (!a->accessKey)
            continue;
        a->file = fname;
        perms_index(a);
        a->key = rm_sign_key_new(a->secretKey); /* NULL (no memory): verified from the secret */
        acl->accounts[acl->naccounts++] = *a;
        memset(a, 0, sizeof *a);
    }
    free(st.acc);
    if (acl->naccounts > before)
        qsort(acl->accounts, acl->naccounts, sizeof *acl->accounts, cmp_account);
    return 0;
fail:
    stage_clear_global(&st);
    stage_clear_accounts(&st);
    return -1;
}

void acl_free(acl_table_t *acl)
{
    if (!acl)
        return;
    for (size_t i = 0; i < acl->nglobal; i++)
        acl_pattern_free(acl->global[i]);
    free(acl->global);
    for (size_t i = 0; i < acl->naccounts; i++)
        account_clear(&acl->accounts[i]);
    free(acl->accounts);
    for (size_t i = 0; i < acl->nfiles; i++)
        free(acl->files[i]);
    free(acl->files);
    free(acl);
}

/* ---- files ---- */

/* Read at most ACL_MAX_FILE bytes of path. 0, 1 when it does not exist, -1 with err. */
static int read_bounded(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *buf = malloc(ACL_MAX_FILE + 1);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, ACL_MAX_FILE + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > ACL_MAX_FILE) {
            snprintf(err, errlen, "%s: larger than %u bytes", path, ACL_MAX_FILE);
            free(buf);
            close(fd);
            return -1;
        }
    }
    close(fd);
    *out = buf;
    *len = n;
    return 0;
}

static int has_yaml_ext(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && !strcmp(name + n - 4, ".yml")) || (n > 5 && !strcmp(name + n - 5, ".yaml"));
}

static int scan(const char *dir, const char *skip, int depth, strv_t *out, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR ? 0 : (snprintf(err, errlen, "%s: %s", dir, strerror(errno)), -1);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *path = NULL;
        if (asprintf(&path, "%s/%s", dir, e->d_name) < 0) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        struct stat sb;
        if (stat(path, &sb) != 0) {
            free(path); /* a dangling link or a file gone meanwhile */
            continue;
        }
        if (S_ISDIR(sb.st_mode)) {
            if (depth < ACL_MAX_DIR_DEPTH)
                rc = scan(path, skip, depth + 1, out, err, errlen);
            free(path);
        } else if (S_ISREG(sb.st_mode) && has_yaml_ext(e->d_name) && strcmp(path, skip) != 0) {
            if (out->n >= ACL_MAX_FILES) {
                snprintf(err, errlen, "more than %d files under %s", ACL_MAX_FILES, dir);
                free(path);
                rc = -1;
            } else if (strv_push(out, path)) {
                free(path);
                snprintf(err, errlen, "out of memory");
                rc = -1;
            }
        } else {
            free(path);
        }
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The files to read, in order: conf/acl's (sorted), then the default file unless found there. */
static int collect(const char *home, strv_t *files, char *err, size_t errlen)
{
    char *acldir = NULL, *tools = NULL, *deffile = NULL;
    int rc = -1;
    if (asprintf(&acldir, "%s/conf/acl", home) < 0 || asprintf(&tools, "%s/conf/acl/tools.yml", home) < 0 ||
        asprintf(&deffile, "%s/conf/plain_acl.yml", home) < 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (scan(acldir, tools, 0, files, err, errlen))
        goto out;
    if (files->n)
        qsort(files->v, files->n, sizeof *files->v, cmp_str);
    int found = 0;
    for (size_t i = 0; i < files->n; i++)
        found |= !strcmp(files->v[i], deffile);
    if (!found) {
        if (strv_push(files, deffile)) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        deffile = NULL;
    }
    rc = 0;
out:
    free(acldir);
    free(tools);
    free(deffile);
    return rc;
}

/* FNV-1a over each file's path, size and modification time: a change of any, or of the set. */
static uint64_t stamp_files(const strv_t *files)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < files->n; i++) {
        struct stat sb;
        int64_t v[3] = {-1, -1, -1};
        if (stat(files->v[i], &sb) == 0)
            v[0] = sb.st_size, v[1] = sb.st_mtim.tv_sec, v[2] = sb.st_mtim.tv_nsec;
        const unsigned char *p = (const unsigned char *)files->v[i];
        for (size_t k = 0, n = strlen(files->v[i]) + 1; k < n; k++)
            h = (h ^ p[k]) * 1099511628211ULL;
        p = (const unsigned char *)v;
        for (size_t k = 0; k < sizeof v; k++)
            h = (h ^ p[k]) * 1099511628211ULL;
    }
    return h;
}

/* The files of a source: the broker's layout under a home folder, or one file. */
static int collect_src(const char *where, int one_file, strv_t *files, char *err, size_t errlen)
{
    if (!one_file)
        return collect(where, files, err, errlen);
    char *path = strdup(where);
    if (!path || strv_push(files, path)) {
        free(path);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int acl_stamp(const char *where, int one_file, uint64_t *out, char *err, size_t errlen)
{
    strv_t files = {0};
    int rc = collect_src(where, one_file, &files, err, errlen);
    if (rc == 0)
        *out = stamp_files(&files);
    strv_free(&files);
    return rc;
}

acl_table_t *acl_load(const char *where, int one_file, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = 0;
    acl_table_t *acl = calloc(1, sizeof *acl);
    if (!acl) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (!where || !*where)
        return acl; /* no ROCKETMQ_HOME: nothing loaded, every request refused */
    strv_t files = {0};
    if (collect_src(where, one_file, &files, err, errlen))
        goto fail;
    acl->stamp = stamp_files(&files); /* before reading: a change meanwhile shows next time */
    for (size_t i = 0; i < files.n; i++) {
        char *text = NULL;
        size_t len = 0;
        int r = read_bounded(files.v[i], &text, &len, err, errlen);
        if (r < 0)
            goto fail;
        if (r > 0)
            continue; /* missing (the default file): an empty table */
        char msg[512];
        r = acl_load_text(acl, files.v[i], text, len, msg, sizeof msg);
        free(text);
        if (r) {
            snprintf(err, errlen, "%s: %s", files.v[i], msg);
            goto fail;
        }
    }
    strv_free(&files);
    return acl;
fail:
    strv_free(&files);
    acl_free(acl);
    return NULL;
}
