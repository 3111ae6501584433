/* write.c: editing plain_acl.yml files for the ACL admin requests (acl spec §3.2).
 *
 * RocketMQ reads the file into maps and lists, changes them and dumps them back as block-style
 * YAML, so comments are lost but every key survives. This does the same on a small tree of
 * scalars, sequences and mappings built from libyaml's events, written back with libyaml's
 * emitter. Scalars keep the style they were read with; strings written new are quoted when YAML
 * 1.1 would type them (a secret "12345678" must stay a string for RocketMQ's SnakeYAML too).
 * Files are replaced whole (temporary file, fsync, rename, mode 0600): a reader sees the old
 * file or the new one, never half of one. Pure but the file functions, which block: off the loop. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "broker/acl/acl.h"

#define MAX_DEPTH 64            /* nesting, as the loader's bound */
#define MAX_FILE (4u << 20)     /* bytes, as the loader's bound */

enum { YN_SCALAR, YN_SEQ, YN_MAP };

typedef struct yn {
    int kind;
    char *text;                 /* scalar: its text (NUL-terminated; len bytes) */
    size_t len;
    yaml_scalar_style_t style;  /* as read; YAML_ANY_SCALAR_STYLE: written new, style chosen */
    char *tag;                  /* an explicit tag as read, else NULL */
    struct yn **kids;           /* seq: items; map: key, value, key, value ... */
    size_t n, cap;
} yn_t;

struct br_acl_doc {
    yn_t *root;                 /* always a mapping */
};

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- the tree ---- */

static void yn_free(yn_t *y)
{
    if (!y)
        return;
    for (size_t i = 0; i < y->n; i++)
        yn_free(y->kids[i]);
    free(y->kids);
    free(y->text);
    free(y->tag);
    free(y);
}

static yn_t *yn_new(int kind)
{
    yn_t *y = calloc(1, sizeof *y);
    if (y)
        y->kind = kind;
    return y;
}

static yn_t *yn_scalar(const char *s, size_t n, yaml_scalar_style_t style)
{
    yn_t *y = yn_new(YN_SCALAR);
    if (!y || !(y->text = malloc(n + 1))) {
        free(y);
        return NULL;
    }
    memcpy(y->text, s, n);
    y->text[n] = 0;
    y->len = n;
    y->style = style;
    return y;
}

static yn_t *yn_str(const char *s) { return yn_scalar(s, strlen(s), YAML_ANY_SCALAR_STYLE); }

/* A number or a boolean: written plain, so that every YAML reader types it. */
static yn_t *yn_plain(const char *s) { return yn_scalar(s, strlen(s), YAML_PLAIN_SCALAR_STYLE); }

/* Append kid (taken; freed on failure). */
static int yn_add(yn_t *y, yn_t *kid)
{
    if (!kid)
        return -1;
    if (y->n == y->cap) {
        size_t cap = y->cap ? y->cap * 2 : 8;
        yn_t **k = realloc(y->kids, cap * sizeof *k);
        if (!k) {
            yn_free(kid);
            return -1;
        }
        y->kids = k;
        y->cap = cap;
    }
    y->kids[y->n++] = kid;
    return 0;
}

static int yn_is(const yn_t *y, const char *text) { return y && y->kind == YN_SCALAR && !strcmp(y->text, text); }

/* The value of key in mapping m (the first one), or NULL; *at = its index when found. */
static yn_t *map_get(const yn_t *m, const char *key, size_t *at)
{
    for (size_t i = 0; m && m->kind == YN_MAP && i + 1 < m->n; i += 2)
        if (yn_is(m->kids[i], key)) {
            if (at)
                *at = i + 1;
            return m->kids[i + 1];
        }
    return NULL;
}

/* Set key to v (taken) in mapping m: replaced in place, else appended. */
static int map_set(yn_t *m, const char *key, yn_t *v)
{
    size_t at;
    if (!v)
        return -1;
    if (map_get(m, key, &at)) {
        yn_free(m->kids[at]);
        m->kids[at] = v;
        return 0;
    }
    if (yn_add(m, yn_str(key))) {
        yn_free(v);
        return -1;
    }
    if (yn_add(m, v)) {
        yn_free(m->kids[--m->n]);
        return -1;
    }
    return 0;
}

/* Remove key (every occurrence) from mapping m. */
static void map_del(yn_t *m, const char *key)
{
    for (size_t i = 0; m->kind == YN_MAP && i + 1 < m->n;) {
        if (yn_is(m->kids[i], key)) {
            yn_free(m->kids[i]);
            yn_free(m->kids[i + 1]);
            memmove(m->kids + i, m->kids + i + 2, (m->n - i - 2) * sizeof *m->kids);
            m->n -= 2;
        } else {
            i += 2;
        }
    }
}

/* ---- reading ---- */

typedef struct rd {
    yaml_parser_t p;
    char *err;
    size_t errlen;
} rd_t;

static int rd_next(rd_t *r, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&r->p, ev))
        return fail(r->err, r->errlen, "YAML syntax error at line %lu column %lu: %s",
                    (unsigned long)r->p.problem_mark.line + 1, (unsigned long)r->p.problem_mark.column + 1,
                    r->p.problem ? r->p.problem : "malformed YAML");
    if (ev->type == YAML_ALIAS_EVENT) {
        unsigned long line = (unsigned long)ev->start_mark.line + 1;
        yaml_event_delete(ev);
        return fail(r->err, r->errlen, "YAML aliases are not supported (line %lu)", line);
    }
    return 0;
}

/* An explicit tag, kept so a rewrite does not change a value's type. The non-specific tag "!"
 * only says "not typed by its look" (a string, a plain sequence or mapping): it is not kept,
 * as libyaml would write it back verbatim (!<%21>) and then read that as another tag. */
static char *dup_tag(const yaml_char_t *tag, int implicit)
{
    return tag && !implicit && strcmp((const char *)tag, "!") ? strdup((const char *)tag) : NULL;
}

/* The node whose first event is ev (taken), and everything inside it. */
static int rd_node(rd_t *r, yaml_event_t *ev, int depth, yn_t **out)
{
    yn_t *y = NULL;
    int rc = -1;
    if (depth > MAX_DEPTH) {
        fail(r->err, r->errlen, "YAML nested deeper than %d levels", MAX_DEPTH);
        goto out;
    }
    if (ev->type == YAML_SCALAR_EVENT) {
        if (memchr(ev->data.scalar.value, 0, ev->data.scalar.length)) {
            fail(r->err, r->errlen, "a NUL character in a string (line %lu)", (unsigned long)ev->start_mark.line + 1);
            goto out;
        }
        y = yn_scalar((const char *)ev->data.scalar.value, ev->data.scalar.length, ev->data.scalar.style);
        const yaml_char_t *tag = ev->data.scalar.tag;
        int explicit = tag && !ev->data.scalar.plain_implicit && !ev->data.scalar.quoted_implicit;
        if (y && explicit) {
            y->tag = dup_tag(tag, 0);
            if (!y->tag) /* "! true" is the string "true": written quoted when its look would type it */
                y->style = YAML_ANY_SCALAR_STYLE;
        }
        rc = y ? 0 : fail(r->err, r->errlen, "out of memory");
        goto out;
    }
    int seq = ev->type == YAML_SEQUENCE_START_EVENT;
    if (!seq && ev->type != YAML_MAPPING_START_EVENT) {
        fail(r->err, r->errlen, "unexpected YAML event (line %lu)", (unsigned long)ev->start_mark.line + 1);
        goto out;
    }
    if (!(y = yn_new(seq ? YN_SEQ : YN_MAP))) {
        fail(r->err, r->errlen, "out of memory");
        goto out;
    }
    y->tag = seq ? dup_tag(ev->data.sequence_start.tag, ev->data.sequence_start.implicit)
                 : dup_tag(ev->data.mapping_start.tag, ev->data.mapping_start.implicit);
    yaml_event_type_t end = seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
    for (;;) {
        yaml_event_t kid;
        if (rd_next(r, &kid))
            goto out;
        if (kid.type == end) {
            yaml_event_delete(&kid);
            break;
        }
        yn_t *k = NULL;
        if (rd_node(r, &kid, depth + 1, &k))
            goto out;
        if (yn_add(y, k)) {
            fail(r->err, r->errlen, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    yaml_event_delete(ev);
    if (rc) {
        yn_free(y);
        y = NULL;
    }
    *out = y;
    return rc;
}

/* The first document's root (NULL: an empty stream). */
static int rd_stream(rd_t *r, yn_t **root)
{
    yaml_event_t ev;
    *root = NULL;
    if (rd_next(r, &ev))
        return -1;
    yaml_event_delete(&ev); /* STREAM-START */
    if (rd_next(r, &ev))
        return -1;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return 0;
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    if (rd_next(r, &ev) || rd_node(r, &ev, 0, root))
        return -1;
    if (rd_next(r, &ev))
        return -1;
    yaml_event_delete(&ev); /* DOCUMENT-END */
    if (rd_next(r, &ev))
        return -1;
    int more = ev.type != YAML_STREAM_END_EVENT;
    yaml_event_delete(&ev);
    return more ? fail(r->err, r->errlen, "more than one YAML document") : 0;
}

br_acl_doc_t *br_acl_doc_parse(const char *text, size_t len, char *err, size_t errlen)
{
    if (len > MAX_FILE) {
        fail(err, errlen, "larger than %u bytes", MAX_FILE);
        return NULL;
    }
    br_acl_doc_t *d = calloc(1, sizeof *d);
    rd_t r = {.err = err, .errlen = errlen};
    if (!d || !yaml_parser_initialize(&r.p)) {
        free(d);
        fail(err, errlen, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&r.p, (const unsigned char *)(text ? text : ""), text ? len : 0);
    yn_t *root = NULL;
    int rc = rd_stream(&r, &root);
    yaml_parser_delete(&r.p);
    if (rc == 0 && root && root->kind == YN_SCALAR && root->style == YAML_PLAIN_SCALAR_STYLE && root->len == 0) {
        yn_free(root); /* a file of comments only */
        root = NULL;
    }
    if (rc == 0 && root && root->kind != YN_MAP)
        rc = fail(err, errlen, "the top level is not a mapping");
    if (rc == 0 && !root && !(root = yn_new(YN_MAP)))
        rc = fail(err, errlen, "out of memory");
    if (rc) {
        yn_free(root);
        free(d);
        return NULL;
    }
    d->root = root;
    return d;
}

void br_acl_doc_free(br_acl_doc_t *d)
{
    if (!d)
        return;
    yn_free(d->root);
    free(d);
}

/* ---- writing ---- */

/* Would a YAML 1.1 reader (SnakeYAML) type this plain scalar as something else than a string:
 * null, a boolean, a number, a timestamp? Then it is quoted. Errs on the side of quoting. */
static int typed_in_yaml11(const char *s)
{
    static const char *const words[] = {"", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N",
                                        "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on",
                                        "On", "ON", "off", "Off", "OFF", ".inf", ".Inf", ".INF", ".nan", ".NaN",
                                        ".NAN", "-.inf", "+.inf", "-.Inf", "+.Inf", "-.INF", "+.INF", "<<", "="};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcmp(s, words[i]))
            return 1;
    if (!strchr("+-.0123456789", s[0]))
        return 0;
    const char *dot = strchr(s, '.');
    if (dot && strchr(dot + 1, '.'))
        return 0; /* no number or date has two dots: 127.0.0.1 stays plain */
    return s[strspn(s, "0123456789abcdefABCDEFxXoO_.:+- TtZz")] == 0; /* numbers, dates, 1:20 */
}

static int em_write(void *data, unsigned char *buf, size_t n) { return cm_buf_append(data, buf, n) == 0; }

static int em_emit(yaml_emitter_t *e, yaml_event_t *ev, int ok)
{
    return ok && yaml_emitter_emit(e, ev) ? 0 : -1;
}

static int em_node(yaml_emitter_t *e, const yn_t *y)
{
    yaml_event_t ev;
    const yaml_char_t *tag = (const yaml_char_t *)y->tag;
    if (y->kind == YN_SCALAR) {
        yaml_scalar_style_t style = y->style;
        if (style == YAML_ANY_SCALAR_STYLE)
            style = typed_in_yaml11(y->text) ? YAML_SINGLE_QUOTED_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE;
        return em_emit(e, &ev, yaml_scalar_event_initialize(&ev, NULL, tag, (yaml_char_t *)y->text, (int)y->len,
                                                            !tag, !tag, style));
    }
    int seq = y->kind == YN_SEQ;
    int ok = seq ? yaml_sequence_start_event_initialize(&ev, NULL, tag, !tag, YAML_BLOCK_SEQUENCE_STYLE)
                 : yaml_mapping_start_event_initialize(&ev, NULL, tag, !tag, YAML_BLOCK_MAPPING_STYLE);
    if (em_emit(e, &ev, ok))
        return -1;
    for (size_t i = 0; i < y->n; i++)
        if (em_node(e, y->kids[i]))
            return -1;
    return em_emit(e, &ev, seq ? yaml_sequence_end_event_initialize(&ev) : yaml_mapping_end_event_initialize(&ev));
}

int br_acl_doc_emit(const br_acl_doc_t *d, cm_buf_t *out, char *err, size_t errlen)
{
    yaml_emitter_t e;
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&e))
        return fail(err, errlen, "out of memory");
    yaml_emitter_set_output(&e, em_write, out);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1); /* never fold a long pattern list or secret */
    int rc = em_emit(&e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    if (!rc)
        rc = em_emit(&e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    if (!rc)
        rc = em_node(&e, d->root);
    if (!rc)
        rc = em_emit(&e, &ev, yaml_document_end_event_initialize(&ev, 1));
    if (!rc)
        rc = em_emit(&e, &ev, yaml_stream_end_event_initialize(&ev));
    if (rc)
        fail(err, errlen, "cannot write YAML: %s", e.problem ? e.problem : "out of memory");
    yaml_emitter_delete(&e);
    return rc;
}

/* ---- edits ---- */

/* Java's String.split(","): trailing empty pieces dropped, but "" is one empty piece. */
static yn_t *seq_of_list(const char *list)
{
    yn_t *s = yn_new(YN_SEQ);
    if (!s)
        return NULL;
    size_t keep = strlen(list);
    while (keep > 0 && list[keep - 1] == ',')
        keep--;
    if (keep == 0 && list[0])
        return s; /* only commas: no piece at all */
    for (const char *p = list; p <= list + keep;) {
        size_t n = strcspn(p, ",");
        if (p + n > list + keep)
            n = (size_t)(list + keep - p);
        if (yn_add(s, yn_scalar(p, n, YAML_ANY_SCALAR_STYLE))) {
            yn_free(s);
            return NULL;
        }
        p += n + 1;
    }
    return s;
}

static yn_t *accounts_of(yn_t *root, int create)
{
    yn_t *a = map_get(root, "accounts", NULL);
    if (a && a->kind == YN_SEQ)
        return a;
    if (!create)
        return NULL;
    /* absent or null (`accounts:`): a new list, as RocketMQ makes one */
    return map_set(root, "accounts", yn_new(YN_SEQ)) ? NULL : map_get(root, "accounts", NULL);
}

static int is_account(const yn_t *item, const char *ak)
{
    return item->kind == YN_MAP && yn_is(map_get(item, "accessKey", NULL), ak);
}

int br_acl_doc_has_account(const br_acl_doc_t *d, const char *ak)
{
    const yn_t *acc = accounts_of(d->root, 0);
    for (size_t i = 0; acc && i < acc->n; i++)
        if (is_account(acc->kids[i], ak))
            return 1;
    return 0;
}

/* RocketMQ's createAclAccessConfigMap: which fields a request sets, in this order. */
static int fill_account(yn_t *m, const br_acl_update_t *u)
{
    int rc = map_set(m, "accessKey", yn_str(u->accessKey));
    if (!rc && u->secretKey && *u->secretKey) {
        rc = map_set(m, "secretKey", yn_str(u->secretKey));
        map_del(m, "secretKeyEnv"); /* Loulan's other places for it: the new secret replaces them */
        map_del(m, "secretKeyFile");
    }
    if (!rc && u->whiteRemoteAddress)
        rc = map_set(m, "whiteRemoteAddress", yn_str(u->whiteRemoteAddress));
    if (!rc)
        rc = map_set(m, "admin", yn_plain(u->admin ? "true" : "false"));
    if (!rc && u->defaultTopicPerm && *u->defaultTopicPerm)
        rc = map_set(m, "defaultTopicPerm", yn_str(u->defaultTopicPerm));
    if (!rc && u->defaultGroupPerm && *u->defaultGroupPerm)
        rc = map_set(m, "defaultGroupPerm", yn_str(u->defaultGroupPerm));
    if (!rc && u->topicPerms)
        rc = map_set(m, "topicPerms", seq_of_list(u->topicPerms));
    if (!rc && u->groupPerms)
        rc = map_set(m, "groupPerms", seq_of_list(u->groupPerms));
    return rc;
}

int br_acl_doc_put_account(br_acl_doc_t *d, const br_acl_update_t *u)
{
    yn_t *acc = accounts_of(d->root, 1);
    if (!acc)
        return -1;
    for (size_t i = 0; i < acc->n; i++)
        if (is_account(acc->kids[i], u->accessKey))
            return fill_account(acc->kids[i], u); /* in place: its other keys and its position stay */
    yn_t *m = yn_new(YN_MAP);
    if (!m || fill_account(m, u)) {
        yn_free(m);
        return -1;
    }
    return yn_add(acc, m);
}

int br_acl_doc_delete_account(br_acl_doc_t *d, const char *ak)
{
    yn_t *acc = accounts_of(d->root, 0);
    int removed = 0;
    for (size_t i = 0; acc && i < acc->n;) {
        if (is_account(acc->kids[i], ak)) { /* every entry: a duplicate must not take over */
            yn_free(acc->kids[i]);
            memmove(acc->kids + i, acc->kids + i + 1, (acc->n - i - 1) * sizeof *acc->kids);
            acc->n--;
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

int br_acl_doc_set_global(br_acl_doc_t *d, const char *list)
{
    return map_set(d->root, "globalWhiteRemoteAddresses", seq_of_list(list));
}

static int scalar_i64(const yn_t *y, int64_t *out)
{
    if (!y || y->kind != YN_SCALAR || !y->len)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(y->text, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int br_acl_doc_version(const br_acl_doc_t *d, int64_t *counter, int64_t *timestamp)
{
    const yn_t *dv = map_get(d->root, "dataVersion", NULL);
    if (!dv || dv->kind != YN_SEQ || dv->n == 0 || dv->kids[0]->kind != YN_MAP)
        return 0;
    int64_t c = 0, t = 0;
    if (scalar_i64(map_get(dv->kids[0], "counter", NULL), &c) || scalar_i64(map_get(dv->kids[0], "timestamp", NULL), &t))
        return 0;
    *counter = c;
    *timestamp = t;
    return 1;
}

int br_acl_doc_bump(br_acl_doc_t *d, int64_t now_ms, int64_t *counter)
{
    int64_t c = 0, t = 0;
    if (!br_acl_doc_version(d, &c, &t))
        c = 0;
    c++;
    char cs[32], ts[32];
    snprintf(cs, sizeof cs, "%" PRId64, c);
    snprintf(ts, sizeof ts, "%" PRId64, now_ms);
    yn_t *dv = yn_new(YN_SEQ), *m = yn_new(YN_MAP);
    if (!dv || !m || map_set(m, "counter", yn_plain(cs)) || map_set(m, "timestamp", yn_plain(ts))) {
        yn_free(dv);
        yn_free(m);
        return -1;
    }
    if (yn_add(dv, m) || map_set(d->root, "dataVersion", dv))
        return -1;
    if (counter)
        *counter = c;
    return 0;
}

/* ---- files ---- */

int br_acl_file_read(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    *text = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 1 : fail(err, errlen, "%s: %s", path, strerror(errno));
    cm_buf_t b;
    cm_buf_init(&b);
    char chunk[16384];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (r > 0 && b.len + (size_t)r > MAX_FILE) || (r > 0 && cm_buf_append(&b, chunk, (size_t)r))) {
            fail(err, errlen, "%s: %s", path, r < 0 ? strerror(errno) : "larger than the 4 MiB an ACL file may have");
            close(fd);
            cm_buf_free(&b);
            return -1;
        }
        if (r == 0)
            break;
    }
    close(fd);
    *len = b.len;
    *text = b.len ? cm_buf_steal(&b) : strdup("");
    cm_buf_free(&b);
    return *text ? 0 : fail(err, errlen, "out of memory");
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int br_acl_file_write(const char *path, const char *text, size_t len, char *err, size_t errlen)
{
    char tmp[1200], dir[1200];
    /* the name does not end in .yml: a reload scanning conf/acl/ meanwhile never reads it */
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= sizeof tmp)
        return fail(err, errlen, "%s: path too long", path);
    int fd = mkstemp(tmp); /* mode 0600: the file holds secrets */
    if (fd < 0)
        return fail(err, errlen, "%s: cannot create a temporary file: %s", path, strerror(errno));
    if (fchmod(fd, 0600) || write_all(fd, text, len) || fsync(fd)) {
        fail(err, errlen, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) || rename(tmp, path)) {
        fail(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    /* the rename itself survives a crash once the directory is synced */
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *(slash == dir ? slash + 1 : slash) = 0;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}
