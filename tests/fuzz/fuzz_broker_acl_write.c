/* libFuzzer target: the plain_acl.yml writer of the ACL admin requests (src/broker/acl/write.c).
 * Arbitrary bytes are parsed; whatever parses must be written back as YAML that parses again to
 * the same text (the writer is stable), that the broker's loader reads exactly as it read the
 * original (same accounts, secrets and white list: a rewrite never changes what is enforced),
 * and that still parses and loads after each admin edit (create, update, delete, white list,
 * dataVersion bump). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/acl/acl.h"

static char *emit(const br_acl_doc_t *d)
{
    cm_buf_t b;
    char err[256];
    cm_buf_init(&b);
    if (br_acl_doc_emit(d, &b, err, sizeof err))
        abort();
    char *s = cm_buf_steal(&b);
    cm_buf_free(&b);
    if (!s)
        abort();
    return s;
}

static acl_table_t *load(const char *text, size_t len)
{
    char err[256];
    acl_table_t *t = calloc(1, sizeof *t);
    if (t && acl_load_text(t, "fuzz.yml", text, len, err, sizeof err) == 0)
        return t;
    acl_free(t);
    return NULL;
}

/* The two tables enforce the same: accounts, their secrets and admin flags, the white list. */
static void same(const acl_table_t *a, const acl_table_t *b)
{
    if (a->naccounts != b->naccounts || a->nglobal != b->nglobal)
        abort();
    for (size_t i = 0; i < a->naccounts; i++) {
        const acl_account_t *x = &a->accounts[i], *y = acl_account(b, x->accessKey);
        if (!y || strcmp(x->secretKey, y->secretKey) || x->admin != y->admin || x->nperms != y->nperms ||
            x->defaultTopicPerm != y->defaultTopicPerm || x->defaultGroupPerm != y->defaultGroupPerm)
            abort();
    }
}

/* An edit must leave a document that writes, parses and loads when the original loaded. */
static void after_edit(const br_acl_doc_t *d, int loaded)
{
    char err[256];
    char *y = emit(d);
    br_acl_doc_t *again = br_acl_doc_parse(y, strlen(y), err, sizeof err);
    if (!again)
        abort();
    acl_table_t *t = load(y, strlen(y));
    if (loaded && !t)
        abort();
    acl_free(t);
    br_acl_doc_free(again);
    free(y);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    br_acl_doc_t *d = br_acl_doc_parse((const char *)data, size, err, sizeof err);
    if (!d)
        return 0;
    char *y1 = emit(d);
    br_acl_doc_t *d2 = br_acl_doc_parse(y1, strlen(y1), err, sizeof err);
    if (!d2)
        abort();
    char *y2 = emit(d2);
    if (strcmp(y1, y2))
        abort();
    acl_table_t *orig = load((const char *)data, size), *rewritten = load(y1, strlen(y1));
    if (orig && !rewritten)
        abort();
    if (orig)
        same(orig, rewritten);
    int loaded = orig != NULL;

    br_acl_update_t u = {.accessKey = "fuzzUser01", .secretKey = "12345678", .whiteRemoteAddress = "10.0.0.*",
                         .defaultTopicPerm = "PUB", .topicPerms = "a=PUB,b=SUB|PUB", .groupPerms = "g=SUB", .admin = 1};
    if (br_acl_doc_put_account(d, &u) || !br_acl_doc_has_account(d, "fuzzUser01"))
        abort();
    after_edit(d, loaded);
    u.secretKey = "";
    u.topicPerms = NULL;
    if (br_acl_doc_put_account(d, &u))
        abort();
    after_edit(d, loaded);
    if (br_acl_doc_delete_account(d, "fuzzUser01") < 1 || br_acl_doc_has_account(d, "fuzzUser01"))
        abort();
    if (br_acl_doc_set_global(d, "127.0.0.1,,10.*.*.*") || br_acl_doc_bump(d, 1700000000000, NULL))
        abort();
    after_edit(d, loaded);

    acl_free(orig);
    acl_free(rewritten);
    br_acl_doc_free(d2);
    br_acl_doc_free(d);
    free(y1);
    free(y2);
    return 0;
}
