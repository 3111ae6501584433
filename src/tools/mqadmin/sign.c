/* sign.c: mqadmin signs its requests as RocketMQ's tools do (acl spec §2.5): with accessKey and
 * secretKey from ${ROCKETMQ_HOME}/conf/tools.yml, when both are there. Without ROCKETMQ_HOME,
 * without the file or with either key blank, requests go unsigned, as RocketMQ's.
 *
 * Loulan extras, so that the secret need not sit in the file in clear: `secretKeyEnv: NAME`
 * takes it from the environment variable NAME, `secretKeyFile: path` from that file's first
 * line (a relative path is relative to tools.yml's folder). At most one of the three secret
 * keys may be given. Where RocketMQ would silently go unsigned on a file it cannot read, this
 * stops: a malformed tools.yml, a secretKeyEnv that is not set or a secretKeyFile that cannot
 * be read is one error line and exit status 1. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "mqadmin.h"

#define MAX_SECRET 4096

typedef struct keys {
    int loaded, sign;
    char *ak, *sk;
} keys_t;

static keys_t g_keys;

static void die(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mqadmin: %s: ", path);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static int blank(const char *s)
{
    while (*s && (unsigned char)*s <= ' ')
        s++;
    return !*s;
}

/* Java's String.trim(), in place. */
static char *trim(char *s)
{
    while (*s && (unsigned char)*s <= ' ')
        s++;
    size_t n = strlen(s);
    while (n && (unsigned char)s[n - 1] <= ' ')
        s[--n] = 0;
    return s;
}

/* The value of a top-level key (a scalar), copied; NULL when absent or null. */
static char *scalar_of(yaml_document_t *doc, yaml_node_t *root, const char *key, const char *path)
{
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        if (!k || k->type != YAML_SCALAR_NODE || strcmp((const char *)k->data.scalar.value, key) != 0)
            continue;
        if (!v || v->type != YAML_SCALAR_NODE)
            die(path, "%s must be a string", key);
        const char *s = (const char *)v->data.scalar.value;
        size_t n = v->data.scalar.length;
        if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
            (n == 0 || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL")))
            return NULL;
        if (memchr(s, 0, n))
            die(path, "%s holds a NUL character", key);
        char *out = strdup(s);
        if (!out)
            die(path, "out of memory");
        return out;
    }
    return NULL;
}

/* The first line of a secretKeyFile (relative: to tools.yml's folder). */
static char *secret_from_file(const char *tools, const char *name)
{
    char full[4096];
    const char *slash = strrchr(tools, '/');
    if (name[0] == '/' || !slash)
        snprintf(full, sizeof full, "%s", name);
    else
        snprintf(full, sizeof full, "%.*s/%s", (int)(slash - tools), tools, name);
    FILE *f = fopen(full, "r");
    if (!f)
        die(tools, "secretKeyFile %s: %s", full, strerror(errno));
    char *buf = calloc(1, MAX_SECRET + 2);
    if (!buf)
        die(tools, "out of memory");
    size_t n = fread(buf, 1, MAX_SECRET + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > MAX_SECRET)
        die(tools, "secretKeyFile %s: %s", full, bad ? "cannot be read" : "longer than 4096 bytes");
    buf[strcspn(buf, "\r\n")] = 0;
    return buf;
}

/* accessKey and the secret from the parsed tools.yml; both NULL when it does not sign. */
static void read_keys(yaml_document_t *doc, const char *path)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root)
        return; /* an empty file: nothing configured */
    if (root->type != YAML_MAPPING_NODE)
        die(path, "malformed: the top level is not a mapping of keys");
    char *ak = scalar_of(doc, root, "accessKey", path), *sk = scalar_of(doc, root, "secretKey", path);
    char *env = scalar_of(doc, root, "secretKeyEnv", path), *file = scalar_of(doc, root, "secretKeyFile", path);
    if (!!sk + !!env + !!file > 1)
        die(path, "give only one of secretKey, secretKeyEnv and secretKeyFile");
    if (env) {
        const char *v = getenv(trim(env));
        if (!v)
            die(path, "secretKeyEnv names %s, which is not set", env);
        sk = strdup(v);
    } else if (file) {
        sk = secret_from_file(path, trim(file));
    }
    free(env);
    free(file);
    /* RocketMQ signs only when both are non-blank, and with them as written */
    if (ak && sk && !blank(ak) && !blank(sk)) {
        g_keys.ak = ak;
        g_keys.sk = sk;
        g_keys.sign = 1;
        return;
    }
    free(ak);
    free(sk);
}

static void load_keys(void)
{
    g_keys.loaded = 1;
    const char *home = getenv("ROCKETMQ_HOME");
    if (!home || !*home)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/conf/tools.yml", home);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno != ENOENT)
            die(path, "%s", strerror(errno));
        return;
    }
    yaml_parser_t p;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&p))
        die(path, "out of memory");
    yaml_parser_set_input_file(&p, f);
    if (!yaml_parser_load(&p, &doc))
        die(path, "malformed YAML at line %lu: %s", (unsigned long)p.problem_mark.line + 1,
            p.problem ? p.problem : "cannot be parsed");
    read_keys(&doc, path);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    fclose(f);
}

int ma_sign(rm_cmd_t *req)
{
    if (!g_keys.loaded)
        load_keys();
    if (!g_keys.sign)
        return 0;
    if (rm_sign_request(req, g_keys.ak, g_keys.sk) != 0) {
        fprintf(stderr, "mqadmin: cannot sign the request (out of memory)\n");
        return -1;
    }
    return 0;
}
