/* The plain_acl.yml writer of the ACL admin requests (src/broker/acl/write.c, acl spec §3.2):
 * every edit is written as block-style YAML and read back through the broker's own loader
 * (acl_load_text), so what an admin request writes is what the broker then enforces. Also: keys
 * the edits do not know survive, secrets that YAML 1.1 would type stay strings, Java's split of
 * the comma lists, dataVersion, malformed input, and the file replacement (mode 0600, no
 * temporary file left behind). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/acl/acl.h"

static const char k_stock[] = "# the 4.9.5 distribution's file, paraphrased (acl spec §1.3)\n"
                              "globalWhiteRemoteAddresses:\n"
                              "  - 10.10.103.*\n"
                              "  - 192.168.0.*\n"
                              "\n"
                              "accounts:\n"
                              "  - accessKey: RocketMQ\n"
                              "    secretKey: 12345678   # a number to YAML 1.1\n"
                              "    whiteRemoteAddress:\n"
                              "    admin: false\n"
                              "    defaultTopicPerm: DENY\n"
                              "    defaultGroupPerm: SUB\n"
                              "    topicPerms:\n"
                              "      - topicA=DENY\n"
                              "      - topicB=PUB|SUB\n"
                              "      - topicC=SUB\n"
                              "    groupPerms:\n"
                              "      - groupA=DENY\n"
                              "      - groupB=PUB|SUB\n"
                              "      - groupC=SUB\n"
                              "    note: kept by the writer\n"
                              "  - accessKey: rocketmq2\n"
                              "    secretKey: \"12345678\"\n"
                              "    whiteRemoteAddress: 192.168.1.*\n"
                              "    admin: true\n"
                              "owner: {team: mq, since: 2019}\n";

static br_acl_doc_t *parse(const char *text)
{
    char err[256] = "";
    br_acl_doc_t *d = br_acl_doc_parse(text, strlen(text), err, sizeof err);
    if (!d)
        fail_msg("parse failed: %s", err);
    return d;
}

/* The document as YAML (caller frees). */
static char *emit(const br_acl_doc_t *d)
{
    cm_buf_t b;
    char err[256] = "";
    cm_buf_init(&b);
    if (br_acl_doc_emit(d, &b, err, sizeof err))
        fail_msg("emit failed: %s", err);
    char *s = cm_buf_steal(&b);
    cm_buf_free(&b);
    assert_non_null(s);
    return s;
}

/* The YAML through the broker's loader. */
static acl_table_t *load(const char *yaml)
{
    char err[256] = "";
    acl_table_t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    if (acl_load_text(t, "/home/rmq/conf/plain_acl.yml", yaml, strlen(yaml), err, sizeof err))
        fail_msg("the written file does not load: %s\n---\n%s", err, yaml);
    return t;
}

static const acl_account_t *account(const acl_table_t *t, const char *ak)
{
    const acl_account_t *a = acl_account(t, ak);
    if (!a)
        fail_msg("account %s missing", ak);
    return a;
}

static void test_round_trip_keeps_everything(void **state)
{
    (void)state;
    br_acl_doc_t *d = parse(k_stock);
    char *y = emit(d);
    acl_table_t *t = load(y);
    assert_int_equal(t->naccounts, 2);
    assert_int_equal(t->nglobal, 2);
    assert_true(acl_pattern_match(t->global[0], "10.10.103.7"));
    const acl_account_t *a = account(t, "RocketMQ");
    assert_string_equal(a->secretKey, "12345678");
    assert_false(a->admin);
    assert_int_equal(acl_perm_of(a, "topicB"), ACL_PUB | ACL_SUB);
    assert_int_equal(acl_perm_of(a, "topicA"), ACL_DENY);
    assert_int_equal(acl_perm_of(a, "%RETRY%groupC"), ACL_SUB);
    assert_int_equal(acl_perm_of(a, "%RETRY%other"), ACL_SUB); /* defaultGroupPerm */
    const acl_account_t *r = account(t, "rocketmq2");
    assert_true(r->admin);
    assert_true(acl_pattern_match(r->white, "192.168.1.9"));
    /* unknown keys survive, comments do not (as RocketMQ's rewrite) */
    assert_non_null(strstr(y, "note: kept by the writer"));
    assert_non_null(strstr(y, "team: mq"));
    assert_null(strstr(y, "#"));
    /* block style only: no flow collections */
    assert_null(strchr(y, '{'));
    assert_null(strchr(y, '['));
    /* the plain 12345678 kept its style; a second round trip is stable */
    br_acl_doc_t *d2 = parse(y);
    char *y2 = emit(d2);
    assert_string_equal(y, y2);
    free(y2);
    br_acl_doc_free(d2);
    acl_free(t);
    free(y);
    br_acl_doc_free(d);
}

static void test_new_account(void **state)
{
    (void)state;
    br_acl_doc_t *d = parse(k_stock);
    br_acl_update_t u = {.accessKey = "newUser01", .secretKey = "0123456789", .whiteRemoteAddress = "127.0.0.1",
                         .defaultTopicPerm = "DENY", .defaultGroupPerm = "SUB",
                         .topicPerms = "TopicX=PUB,TopicY=PUB|SUB", .groupPerms = "GID_x=SUB", .admin = 0};
    assert_false(br_acl_doc_has_account(d, "newUser01"));
    assert_int_equal(br_acl_doc_put_account(d, &u), 0);
    assert_true(br_acl_doc_has_account(d, "newUser01"));
    char *y = emit(d);
    /* a secret YAML 1.1 reads as a number (octal here) is quoted, so Java reads it back as written */
    assert_non_null(strstr(y, "secretKey: '0123456789'"));
    acl_table_t *t = load(y);
    assert_int_equal(t->naccounts, 3);
    const acl_account_t *a = account(t, "newUser01");
    assert_string_equal(a->secretKey, "0123456789");
    assert_true(acl_pattern_match(a->white, "127.0.0.1"));
    assert_int_equal(acl_perm_of(a, "TopicX"), ACL_PUB);
    assert_int_equal(acl_perm_of(a, "TopicY"), ACL_PUB | ACL_SUB);
    assert_int_equal(acl_perm_of(a, "TopicZ"), ACL_DENY);
    assert_int_equal(acl_perm_of(a, "%RETRY%GID_x"), ACL_SUB);
    assert_int_equal(t->nglobal, 2);
    acl_free(t);
    free(y);
    br_acl_doc_free(d);
}

static void test_update_in_place(void **state)
{
    (void)state;
    br_acl_doc_t *d = parse(k_stock);
    /* RocketMQ's rules: an empty secret and empty default perms keep the old ones, absent lists
     * stay, admin is always set, a given whiteRemoteAddress replaces */
    br_acl_update_t u = {.accessKey = "RocketMQ", .secretKey = "", .whiteRemoteAddress = "10.0.0.*",
                         .defaultTopicPerm = "", .topicPerms = "topicA=SUB", .admin = 1};
    assert_int_equal(br_acl_doc_put_account(d, &u), 0);
    char *y = emit(d);
    acl_table_t *t = load(y);
    assert_int_equal(t->naccounts, 2);
    const acl_account_t *a = account(t, "RocketMQ");
    assert_string_equal(a->secretKey, "12345678");
    assert_true(a->admin);
    assert_true(acl_pattern_match(a->white, "10.0.0.3"));
    assert_int_equal(acl_perm_of(a, "topicA"), ACL_SUB);
    assert_int_equal(acl_perm_of(a, "topicB"), ACL_DENY); /* the list was replaced whole */
    assert_int_equal(acl_perm_of(a, "%RETRY%groupB"), ACL_PUB | ACL_SUB); /* groupPerms untouched */
    assert_non_null(strstr(y, "note: kept by the writer"));
    /* its place in the list stays: RocketMQ first, rocketmq2 second */
    assert_true(strstr(y, "accessKey: RocketMQ") < strstr(y, "accessKey: rocketmq2"));
    acl_free(t);
    free(y);
    br_acl_doc_free(d);
}

/* An account whose secret lives in the environment (Loulan's secretKeyEnv) gets the secret the
 * request gives, in the file, and no stale pointer to the old one. */
static void test_new_secret_replaces_env(void **state)
{
    (void)state;
    br_acl_doc_t *d = parse("accounts:\n- accessKey: envUser01\n  secretKeyEnv: NO_SUCH_VARIABLE_HERE\n  admin: false\n");
    br_acl_update_t u = {.accessKey = "envUser01", .secretKey = "newSecret9"};
    assert_int_equal(br_acl_doc_put_account(d, &u), 0);
    char *y = emit(d);
    assert_null(strstr(y, "secretKeyEnv"));
    acl_table_t *t = load(y);
    assert_string_equal(account(t, "envUser01")->secretKey, "newSecret9");
    acl_free(t);
    free(y);
    br_acl_doc_free(d);
}

static void test_delete(void **state)
{
    (void)state;
    br_acl_doc_t *d = parse("accounts:\n"
                            "- accessKey: twiceKey\n  secretKey: secret01\n"
                            "- accessKey: otherKey\n  secretKey: secret02\n"
                            "- accessKey: twiceKey\n  secretKey: secret03\n");
    assert_int_equal(br_acl_doc_delete_account(d, "nobodyKey"), 0);
    assert_int_equal(br_acl_doc_delete_account(d, "twiceKey"), 2); /* a duplicate must not take over */
    char *y = emit(d);
    acl_table_t *t = load(y);
    assert_int_equal(t->naccounts, 1);
    assert_null(acl_account(t, "twiceKey"));
    account(t, "otherKey");
    acl_free(t);
    free(y);
    br_acl_doc_free(d);
}

static void test_global_list_split(void **state)
{
    (void)state;
    br_acl_doc_t *d = parse("accounts: []\n");
    /* Java's String.split(","): trailing empty pieces dropped, inner ones kept (a blank pattern
     * never matches) */
    assert_int_equal(br_acl_doc_set_global(d, "127.0.0.1,,10.1.*.*,,"), 0);
    char *y = emit(d);
    assert_non_null(strstr(y, "globalWhiteRemoteAddresses:\n- 127.0.0.1\n- ''\n- 10.1.*.*\n"));
    acl_table_t *t = load(y);
    assert_int_equal(t->nglobal, 3);
    assert_true(acl_pattern_match(t->global[0], "127.0.0.1"));
    assert_false(acl_pattern_match(t->global[1], "127.0.0.1"));
    assert_true(acl_pattern_match(t->global[2], "10.1.2.3"));
    acl_free(t);
    free(y);
    /* replaced whole the next time */
    assert_int_equal(br_acl_doc_set_global(d, "192.168.0.*"), 0);
    y = emit(d);
    assert_null(strstr(y, "127.0.0.1"));
    free(y);
    br_acl_doc_free(d);
}

static void test_data_version(void **state)
{
    (void)state;
    br_acl_doc_t *d = parse(k_stock);
    int64_t c = -1, ts = -1;
    assert_int_equal(br_acl_doc_version(d, &c, &ts), 0);
    assert_int_equal(br_acl_doc_bump(d, 1700000000123, &c), 0);
    assert_int_equal(c, 1);
    assert_int_equal(br_acl_doc_bump(d, 1700000000456, &c), 0);
    assert_int_equal(c, 2);
    char *y = emit(d);
    assert_non_null(strstr(y, "dataVersion:\n- counter: 2\n  timestamp: 1700000000456\n"));
    acl_free(load(y));
    br_acl_doc_t *d2 = parse(y);
    assert_int_equal(br_acl_doc_version(d2, &c, &ts), 1);
    assert_int_equal(c, 2);
    assert_int_equal(ts, 1700000000456);
    br_acl_doc_free(d2);
    free(y);
    br_acl_doc_free(d);
    /* RocketMQ's own form of the field */
    d = parse("dataVersion:\n- counter: 41\n  timestamp: 1600000000000\n");
    assert_int_equal(br_acl_doc_bump(d, 1700000000000, &c), 0);
    assert_int_equal(c, 42);
    br_acl_doc_free(d);
}

static void test_empty_and_malformed(void **state)
{
    (void)state;
    char err[256];
    const char *empties[] = {"", "# only a comment\n", "---\n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        br_acl_doc_t *d = parse(empties[i]);
        br_acl_update_t u = {.accessKey = "firstKey1", .secretKey = "firstSecret", .admin = 1};
        assert_int_equal(br_acl_doc_put_account(d, &u), 0);
        char *y = emit(d);
        acl_table_t *t = load(y);
        assert_true(account(t, "firstKey1")->admin);
        acl_free(t);
        free(y);
        br_acl_doc_free(d);
    }
    /* `accounts:` with nothing under it (null) becomes a list */
    br_acl_doc_t *d = parse("accounts:\nglobalWhiteRemoteAddresses:\n");
    br_acl_update_t u = {.accessKey = "firstKey1", .secretKey = "firstSecret"};
    assert_int_equal(br_acl_doc_put_account(d, &u), 0);
    char *y = emit(d);
    acl_free(load(y));
    free(y);
    br_acl_doc_free(d);
    struct { const char *text, *want; } bad[] = {
        {"accounts:\n  - &a {accessKey: x}\n  - *a\n", "aliases"},
        {"- a\n- b\n", "not a mapping"},
        {"just a string\n", "not a mapping"},
        {"accounts: [\n", "syntax error"},
        {"a: 1\n---\nb: 2\n", "more than one"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        br_acl_doc_t *x = br_acl_doc_parse(bad[i].text, strlen(bad[i].text), err, sizeof err);
        if (x)
            fail_msg("malformed input %zu accepted", i);
        if (!strstr(err, bad[i].want))
            fail_msg("input %zu: '%s' does not say '%s'", i, err, bad[i].want);
    }
    /* nesting is bounded without blowing the stack */
    char deep[2 * 200 + 2];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    deep[400] = 0;
    char *text = malloc(strlen(deep) + 4);
    sprintf(text, "a: %s", deep);
    assert_null(br_acl_doc_parse(text, strlen(text), err, sizeof err));
    assert_non_null(strstr(err, "deeper"));
    free(text);
}

static void test_file_replace(void **state)
{
    (void)state;
    char dir[] = "/tmp/acl-write-XXXXXX", path[256], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/plain_acl.yml", dir);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(br_acl_file_read(path, &text, &len, err, sizeof err), 1); /* missing */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("old: content\n", f);
    fclose(f);
    chmod(path, 0644);
    assert_int_equal(br_acl_file_write(path, k_stock, strlen(k_stock), err, sizeof err), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(br_acl_file_read(path, &text, &len, err, sizeof err), 0);
    assert_int_equal(len, strlen(k_stock));
    assert_memory_equal(text, k_stock, len);
    free(text);
    /* nothing but the file: the temporary one was renamed */
    DIR *dd = opendir(dir);
    int n = 0;
    for (struct dirent *e; (e = readdir(dd));)
        n += e->d_name[0] != '.';
    closedir(dd);
    assert_int_equal(n, 1);
    /* a folder that does not exist fails with a reason, and creates nothing */
    char nodir[300];
    snprintf(nodir, sizeof nodir, "%s/missing/plain_acl.yml", dir);
    err[0] = 0;
    assert_int_equal(br_acl_file_write(nodir, "a: b\n", 5, err, sizeof err), -1);
    assert_true(err[0] != 0);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_keeps_everything),
        cmocka_unit_test(test_new_account),
        cmocka_unit_test(test_update_in_place),
        cmocka_unit_test(test_new_secret_replaces_env),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_global_list_split),
        cmocka_unit_test(test_data_version),
        cmocka_unit_test(test_empty_and_malformed),
        cmocka_unit_test(test_file_replace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
