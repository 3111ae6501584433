/* Topic configuration table, persisted as RocketMQ's config/topics.json (off the loop, through
 * persist.c). Every change bumps the data version, which is how name servers notice a new
 * topic table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/core.h"

static const char *const k_forbidden[] = {"SCHEDULE_TOPIC_XXXX", "RMQ_SYS_TRANS_HALF_TOPIC",
                                          "RMQ_SYS_TRANS_OP_HALF_TOPIC", "TRANS_CHECK_MAX_TIME_TOPIC",
                                          "SELF_TEST_TOPIC", "OFFSET_MOVED_EVENT"};

/* Internal topics: clients may not send to them (RocketMQ's NOT_ALLOWED_SEND_TOPIC_SET), and
 * every rmq_sys_ topic is the broker's own (the timer wheel's queue, the undeliverable log). */
int br_topic_is_system_forbidden(const char *name)
{
    if (strncmp(name, "rmq_sys_", 8) == 0)
        return 1;
    for (size_t i = 0; i < sizeof k_forbidden / sizeof k_forbidden[0]; i++)
        if (strcmp(name, k_forbidden[i]) == 0)
            return 1;
    return 0;
}

int br_topic_is_system(const char *name, const char *cluster, const char *brokerName)
{
    return br_topic_is_system_forbidden(name) || strcmp(name, "TBW102") == 0 ||
           strcmp(name, "RMQ_SYS_TRACE_TOPIC") == 0 || strcmp(name, cluster) == 0 || strcmp(name, brokerName) == 0;
}

int br_name_chars_legal(const char *name)
{
    for (const char *p = name; *p; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '%' || ch == '|' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

const char *br_topic_name_error(const char *name)
{
    if (!name || !*name)
        return "The specified topic is blank.";
    if (strlen(name) > 127)
        return "The specified topic is longer than topic max length.";
    if (!br_name_chars_legal(name))
        return "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$";
    return NULL;
}

br_topic_t *br_topics_get(const br_topics_t *t, const char *name) { return cm_map_get(&t->map, name); }

static br_topic_t *put_nosave(br_topics_t *t, const char *name, int r, int w, int perm, int sysFlag)
{
    br_topic_t *tc = cm_map_get(&t->map, name);
    if (!tc) {
        tc = calloc(1, sizeof *tc);
        if (!tc || strlen(name) >= sizeof tc->name || cm_map_put(&t->map, name, tc)) {
            free(tc);
            return NULL;
        }
        snprintf(tc->name, sizeof tc->name, "%s", name);
    }
    tc->readQueueNums = r;
    tc->writeQueueNums = w;
    tc->perm = perm;
    tc->topicSysFlag = sysFlag;
    return tc;
}

static void bump(br_topics_t *t)
{
    t->dvCounter++;
    t->dvTimestamp = cm_now_ms();
}

br_topic_t *br_topics_put(br_topics_t *t, const char *name, int r, int w, int perm, int sysFlag)
{
    br_topic_t *tc = put_nosave(t, name, r, w, perm, sysFlag);
    if (tc) {
        bump(t);
        br_topics_save(t); /* errors are logged where the file is written */
    }
    return tc;
}

int br_topics_delete(br_topics_t *t, const char *name)
{
    br_topic_t *tc = cm_map_remove(&t->map, name);
    if (!tc)
        return CM_ENOENT;
    free(tc);
    bump(t);
    return br_topics_save(t);
}

/* ---- attributes: "k=v,k=v" in br_topic_t, {"k":"v"} on the wire and in topics.json ---- */

static int attr_chars_ok(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

/* RocketMQ 5.1's TopicMessageType values (MIXED came later; accepted, a newer console sends it). */
static int message_type_ok(const char *v, size_t n)
{
    static const char *const k_types[] = {"UNSPECIFIED", "NORMAL", "FIFO", "DELAY", "TRANSACTION", "MIXED"};
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (strlen(k_types[i]) == n && memcmp(k_types[i], v, n) == 0)
            return 1;
    return 0;
}

/* Remove key (klen bytes) from the "k=v,k=v" list in place. */
static void attr_remove(char *list, const char *key, size_t klen)
{
    char *p = list;
    while (*p) {
        char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > klen && p[klen] == '=' && memcmp(p, key, klen) == 0) {
            char *rest = end ? end + 1 : p + len;
            memmove(p, rest, strlen(rest) + 1);
            if (!*p && p > list)
                p[-1] = 0; /* it was the last one: drop the comma before it */
            continue;
        }
        p += len + (end ? 1 : 0);
    }
}

int br_topic_attributes_alter(const char *cur, const char *change, int create, char *out, size_t outlen, char *err,
                              size_t errlen)
{
    char next[512];
    snprintf(next, sizeof next, "%s", cur ? cur : "");
    for (const char *p = change ? change : ""; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p - 1) : len - 1;
        if (len == 0 || (*p != '+' && *p != '-') || !attr_chars_ok(p + 1, klen) ||
            (*p == '+' && (!eq || !attr_chars_ok(eq + 1, len - klen - 2))) || (*p == '-' && eq)) {
            snprintf(err, errlen, "bad topic attributes '%s': expected +key=value or -key, comma-separated", change);
            return -1;
        }
        if (*p == '-' && create) {
            snprintf(err, errlen, "only add attribute is supported while creating topic. key: %.*s", (int)klen, p + 1);
            return -1;
        }
        if (*p == '+' && klen == 12 && memcmp(p + 1, "message.type", 12) == 0 &&
            !message_type_ok(eq + 1, len - klen - 2)) {
            snprintf(err, errlen, "value is not in set: message.type=%.*s (UNSPECIFIED, NORMAL, FIFO, DELAY, TRANSACTION, MIXED)",
                     (int)(len - klen - 2), eq + 1);
            return -1;
        }
        attr_remove(next, p + 1, klen);
        if (*p == '+') {
            size_t have = strlen(next);
            if (have + len + 1 >= sizeof next)
                break; /* caught by the size check below */
            snprintf(next + have, sizeof next - have, "%s%.*s", have ? "," : "", (int)(len - 1), p + 1);
        }
        p += len + (end ? 1 : 0);
    }
    if (strlen(next) >= outlen) {
        snprintf(err, errlen, "topic attributes too long (at most %zu characters as k=v,k=v)", outlen - 1);
        return -1;
    }
    snprintf(out, outlen, "%s", next);
    return 0;
}

static lj_val_t *attributes_json(const char *list)
{
    lj_val_t *o = lj_new_obj();
    char buf[sizeof ((br_topic_t *)0)->attributes];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq) {
            *eq = 0;
            lj_set_str(o, kv, eq + 1);
        }
    }
    return o;
}

/* topics.json / a master's table back into "k=v,k=v"; entries that do not fit are dropped. */
static void attributes_from_json(br_topic_t *tc, const lj_val_t *attrs)
{
    size_t len = 0;
    tc->attributes[0] = 0;
    for (size_t i = 0; attrs && attrs->type == LJ_OBJ && i < attrs->n; i++) {
        const lj_val_t *k = attrs->members[i].key, *v = attrs->members[i].val;
        if (k->type != LJ_STR || v->type != LJ_STR || !attr_chars_ok(k->s, strlen(k->s)) ||
            !attr_chars_ok(v->s, strlen(v->s)))
            continue;
        size_t add = strlen(k->s) + strlen(v->s) + 1 + (len ? 1 : 0);
        if (len + add >= sizeof tc->attributes)
            continue;
        len += (size_t)snprintf(tc->attributes + len, sizeof tc->attributes - len, "%s%s=%s", len ? "," : "", k->s, v->s);
    }
}

lj_val_t *br_topic_json(const br_topic_t *tc)
{
    lj_val_t *o = lj_new_obj();
    if (tc->attributes[0]) /* RocketMQ 4.9 has no such field: only topics that carry some */
        lj_set(o, "attributes", attributes_json(tc->attributes));
    lj_set_bool(o, "order", tc->order);
    lj_set_int(o, "perm", tc->perm);
    lj_set_int(o, "readQueueNums", tc->readQueueNums);
    lj_set_str(o, "topicFilterType", tc->multiTag ? "MULTI_TAG" : "SINGLE_TAG");
    lj_set_str(o, "topicName", tc->name);
    lj_set_int(o, "topicSysFlag", tc->topicSysFlag);
    lj_set_int(o, "writeQueueNums", tc->writeQueueNums);
    return o;
}

static void copy_topic(const char *key, void *val, void *arg)
{
    br_topics_snap_t *s = arg;
    (void)key;
    if (s->n < s->cap)
        s->v[s->n++] = *(const br_topic_t *)val;
}

br_topics_snap_t *br_topics_snapshot(const br_topics_t *t)
{
    br_topics_snap_t *s = malloc(sizeof *s + t->map.n * sizeof s->v[0]);
    if (!s)
        return NULL;
    *s = (br_topics_snap_t){t->dvCounter, t->dvTimestamp, 0, t->map.n};
    cm_map_each(&t->map, copy_topic, s);
    return s;
}

static void *topics_snap(const void *table) { return br_topics_snapshot(table); }

lj_val_t *br_topics_snap_json(const br_topics_snap_t *s)
{
    lj_val_t *o = lj_new_obj(), *dv = lj_new_obj(), *tab = lj_new_obj();
    lj_set_int(dv, "counter", s->dvCounter);
    lj_set_int(dv, "timestamp", s->dvTimestamp);
    lj_set(o, "dataVersion", dv);
    /* names are unique: append, no duplicate search (that made 1024 topics quadratic) */
    for (size_t i = 0; i < s->n; i++)
        lj_put(tab, lj_new_str(s->v[i].name), br_topic_json(&s->v[i]));
    lj_set(o, "topicConfigTable", tab);
    return o;
}

static int topics_render(const void *snap, cm_buf_t *out)
{
    lj_val_t *o = br_topics_snap_json(snap);
    int rc = lj_write(o, LJ_W_SORT, out);
    lj_free(o);
    return rc;
}

const br_ptype_t br_topics_ptype = {topics_snap, topics_render, free};

/* GET_ALL_TOPIC_CONFIG's body: the file's JSON in fastjson's member order. */
static int topics_render_answer(const void *snap, cm_buf_t *out)
{
    lj_val_t *o = br_topics_snap_json(snap);
    int rc = lj_write(o, LJ_W_FASTJSON, out);
    lj_free(o);
    return rc;
}

const br_ptype_t br_topics_answer_ptype = {topics_snap, topics_render_answer, free};

lj_val_t *br_topics_json(const br_topics_t *t)
{
    br_topics_snap_t *s = br_topics_snapshot(t);
    lj_val_t *o = s ? br_topics_snap_json(s) : lj_new_obj();
    free(s);
    return o;
}

int br_topics_save(br_topics_t *t)
{
    return t->ps ? br_persist_request(t->ps, BR_PERSIST_SOON_MS) : br_persist_write(&br_topics_ptype, t, t->path);
}

/* Read <path>, falling back to <path>.bak when the main file is missing or damaged. */
lj_val_t *br_load_json_file(const char *path)
{
    const char *cands[2] = {path, NULL};
    char bak[1200];
    snprintf(bak, sizeof bak, "%s.bak", path);
    cands[1] = bak;
    for (int i = 0; i < 2; i++) {
        char *text;
        size_t len;
        if (cm_read_file(cands[i], &text, &len) != 0)
            continue;
        lj_val_t *root = NULL;
        int rc = len ? lj_parse(text, len, &root) : CM_EPARSE;
        free(text);
        if (rc == 0 && root->type == LJ_OBJ)
            return root;
        lj_free(root);
        LOG_W("broker", "%s is damaged%s", cands[i], i == 0 ? ", trying the .bak copy" : "");
    }
    return NULL;
}

/* Fill an empty table from topics.json's JSON (a file, or a master's GET_ALL_TOPIC_CONFIG). */
static void topics_from_json(br_topics_t *t, const lj_val_t *root)
{
    const lj_val_t *dv = lj_get(root, "dataVersion");
    t->dvCounter = lj_get_int(dv, "counter", 0);
    t->dvTimestamp = lj_get_int(dv, "timestamp", 0);
    const lj_val_t *tab = lj_get(root, "topicConfigTable");
    for (size_t i = 0; tab && tab->type == LJ_OBJ && i < tab->n; i++) {
        const lj_val_t *v = tab->members[i].val;
        if (tab->members[i].key->type != LJ_STR || v->type != LJ_OBJ)
            continue;
        br_topic_t *tc = put_nosave(t, tab->members[i].key->s, (int)lj_get_int(v, "readQueueNums", 8),
                                    (int)lj_get_int(v, "writeQueueNums", 8), (int)lj_get_int(v, "perm", 6),
                                    (int)lj_get_int(v, "topicSysFlag", 0));
        if (tc) {
            tc->order = lj_get_bool(v, "order", 0);
            tc->multiTag = strcmp(lj_get_str(v, "topicFilterType", ""), "MULTI_TAG") == 0;
            attributes_from_json(tc, lj_get(v, "attributes"));
        }
    }
}

int br_topics_load(br_topics_t *t, const char *path)
{
    snprintf(t->path, sizeof t->path, "%s", path);
    cm_map_init(&t->map);
    lj_val_t *root = br_load_json_file(path);
    if (root)
        topics_from_json(t, root);
    lj_free(root);
    return 0;
}

int br_topics_adopt(br_topics_t *t, const lj_val_t *root)
{
    if (!br_dv_changed(root, "topicConfigTable", t->dvCounter, t->dvTimestamp))
        return 0;
    cm_map_free(&t->map, free);
    cm_map_init(&t->map);
    topics_from_json(t, root);
    br_topics_save(t);
    return 1;
}

void br_topics_free(br_topics_t *t) { cm_map_free(&t->map, free); }
