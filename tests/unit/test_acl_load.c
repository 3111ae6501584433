/* The plain ACL loader (src/acl/load.c) and its remote-address patterns (pattern.c),
 * against the ACL spec §1.2-§1.5: every pattern form with RocketMQ 4.9.5's quirks, the stock
 * 4.9.5 plain_acl.yml (written here from the spec's description), the load errors with
 * RocketMQ's message texts, first-file-wins, perm strings, and the directory scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "acl/acl.h"

/* ---- patterns ---- */

static int m(const char *pat, const char *ip)
{
    char err[256];
    acl_pattern_t *p = acl_pattern_parse(pat, err, sizeof err);
    if (!p)
        fail_msg("pattern '%s' refused: %s", pat, err);
    int r = acl_pattern_match(p, ip);
    acl_pattern_free(p);
    return r;
}

static void bad(const char *pat)
{
    char err[256] = "";
    acl_pattern_t *p = acl_pattern_parse(pat, err, sizeof err);
    if (p) {
        acl_pattern_free(p);
        fail_msg("bad pattern '%s' was accepted", pat);
    }
    assert_true(err[0] != 0);
}

static void test_pattern_blank_and_all(void **state)
{
    (void)state;
    assert_false(m("", "127.0.0.1"));
    assert_false(m("   ", "127.0.0.1"));
    assert_false(m("", ""));
    for (int i = 0; i < 3; i++) {
        const char *all = (const char *[]){"*", "*.*.*.*", "*:*:*:*:*:*:*:*"}[i];
        assert_true(m(all, "10.1.2.3"));
        assert_true(m(all, "::1"));
        assert_true(m(all, "2001:db8::7"));
    }
}

static void test_pattern_literal(void **state)
{
    (void)state;
    assert_true(m("192.168.0.1", "192.168.0.1"));
    assert_false(m("192.168.0.1", "192.168.0.10"));
    assert_false(m("192.168.0.1", "192.168.0.2"));
    /* IPv6 compared expanded, whatever the spelling on either side */
    assert_true(m("2001:db8::1", "2001:0DB8:0:0:0:0:0:1"));
    assert_true(m("2001:DB8:0000::0001", "2001:db8::1"));
    assert_false(m("2001:db8::1", "2001:db8::2"));
    /* an IPv4-mapped client address is its IPv4 form */
    assert_true(m("10.0.0.5", "::ffff:10.0.0.5"));
    assert_true(m("10.0.0.5", "::FFFF:a00:5"));
    assert_false(m("10.0.0.5", "::ffff:10.0.0.6"));
    /* not an address on the client side: no match */
    assert_false(m("10.0.0.5", "10.0.0.5:1234"));
    assert_false(m("10.0.0.5", ""));
    assert_false(m("10.0.0.5", NULL));
}

static void test_pattern_lists(void **state)
{
    (void)state;
    assert_true(m("10.0.0.1,10.0.0.2", "10.0.0.1"));
    assert_true(m("10.0.0.1,10.0.0.2", "10.0.0.2"));
    assert_false(m("10.0.0.1,10.0.0.2", "10.0.0.3"));
    assert_true(m("10.0.0.1,,2001:db8::5", "2001:DB8:0:0::5")); /* empty items dropped, mixed families */
    /* set form, IPv4 */
    assert_true(m("192.168.1.{1,2,3}", "192.168.1.3"));
    assert_false(m("192.168.1.{1,2,3}", "192.168.1.4"));
    assert_false(m("192.168.1.{1,2,3}", "192.168.2.1"));
    assert_true(m("192.168.1.{1,,2}", "192.168.1.2"));
    /* set form, IPv6 */
    assert_true(m("2001:db8::{1,2}", "2001:db8::2"));
    assert_true(m("2001:db8::{a,B}", "2001:DB8::b"));
    assert_false(m("2001:db8::{1,2}", "2001:db8::3"));
}

static void test_pattern_range_v4(void **state)
{
    (void)state;
    assert_true(m("192.168.0.*", "192.168.0.200"));
    assert_false(m("192.168.0.*", "192.168.1.1"));
    assert_false(m("192.168.0.*", "2001:db8::1"));
    assert_true(m("192.168.1-10.*", "192.168.10.1"));
    assert_true(m("192.168.1-10.*", "192.168.1.255"));
    assert_false(m("192.168.1-10.*", "192.168.11.1"));
    assert_false(m("192.168.1-10.*", "192.168.0.1"));
    assert_true(m("10.0.0.5-9", "10.0.0.7"));
    assert_false(m("10.0.0.5-9", "10.0.0.4"));
    assert_false(m("10.0.0.5-9", "10.0.0.10"));
    assert_true(m("10.0.0.5-9", "::ffff:10.0.0.9"));
    /* the quirk: octets after the first wild position are never checked */
    assert_true(m("192.168.1-10.5", "192.168.3.77"));
    assert_true(m("10.*.1.5", "10.200.9.9"));
    assert_false(m("10.*.1.5", "11.0.1.5"));
    assert_true(m("10.*.*.*", "10.1.2.3"));
    assert_true(m("10.*.x.*x", "10.1.2.3")); /* not even parsed */
    /* the head is compared as text with a trailing dot: 1.2.* does not match 1.20.x.y */
    assert_false(m("1.2.*.*", "1.20.3.4"));
    /* 0-0 is not recognised as a range: the next wild position decides */
    bad("10.0.0.0-0");
    bad("10.0-0.*.*"); /* then "0-0" would be a leading part, which must be a number */
    assert_true(m("10.1.0-3.*", "10.1.0.1"));
}

static void test_pattern_range_v6(void **state)
{
    (void)state;
    assert_true(m("2001:db8:1:2:3:4:5:*", "2001:db8:1:2:3:4:5:ffff"));
    assert_false(m("2001:db8:1:2:3:4:5:*", "2001:db8:1:2:3:4:6:1"));
    assert_true(m("2001:db8:1:2:3:4:5:10-1f", "2001:db8:1:2:3:4:5:1A"));
    assert_false(m("2001:db8:1:2:3:4:5:10-1f", "2001:db8:1:2:3:4:5:20"));
    assert_true(m("2001:db8:1:2:3:4:a-b:*", "2001:db8:1:2:3:4:b:1234"));
    assert_false(m("2001:db8:1:2:3:4:a-b:*", "2001:db8:1:2:3:4:c:0"));
    assert_true(m("2001:db8::*", "2001:db8::42"));
    assert_false(m("2001:db8::*", "2001:db8::1:42"));
    /* fewer groups: the later ones are not checked */
    assert_true(m("2001:db8:*", "2001:db8:9:8:7:6:5:4"));
    assert_false(m("2001:db8:*", "2001:db9::1"));
    assert_false(m("2001:db8:*", "10.0.0.1"));
}

static void test_pattern_bad(void **state)
{
    (void)state;
    bad("10.0.0.256");
    bad("10.0.0");
    bad("hello");
    bad("10.0.0.1,10.0.0.x");
    bad("10.0.0.1,10.0.0.*");      /* no wildcards in a list */
    bad("192.168.{1,2}");          /* set form needs 4 parts */
    bad("192.168.1.2{1,2}");       /* the last part must start with { */
    bad("192.168.1.{1,300}");
    bad("2001:db8::{1,zz}");
    bad("*.1.2.3");                /* the first octet is never wild */
    bad("10.-1.*.*");
    bad("10.5-3.*.*");             /* a <= b */
    bad("10.1-256.*.*");
    bad("10.1-.*.*");
    bad("1a.*.*.*");
    bad("10.0.0.1-2-3");
    bad("2001:*:1");               /* '*' only last in IPv6 */
    bad("2001:db8:1-2:3");
    bad("2001:db8:0-fffff");
    bad("::g:*");
    bad("*.*");
    char err[8];
    assert_null(acl_pattern_parse("x.y", err, sizeof err)); /* a short err buffer is fine */
    assert_null(acl_pattern_parse("x.y", NULL, 0));
}

/* ---- perm strings ---- */

static void test_perm_parse(void **state)
{
    (void)state;
    assert_int_equal(acl_perm_parse("PUB"), ACL_PUB);
    assert_int_equal(acl_perm_parse("SUB"), ACL_SUB);
    assert_int_equal(acl_perm_parse("PUB|SUB"), ACL_PUB | ACL_SUB);
    assert_int_equal(acl_perm_parse("SUB|PUB"), 12);
    assert_int_equal(acl_perm_parse(" \tSUB|PUB "), 12);
    assert_int_equal(acl_perm_parse("DENY"), ACL_DENY);
    assert_int_equal(acl_perm_parse("ANY"), ACL_DENY);
    assert_int_equal(acl_perm_parse("PUB | SUB"), ACL_DENY);
    assert_int_equal(acl_perm_parse("pub"), ACL_DENY);
    assert_int_equal(acl_perm_parse(""), ACL_DENY);
    assert_int_equal(acl_perm_parse(NULL), ACL_DENY);
}

/* ---- loading ---- */

static const char STOCK[] =
    "globalWhiteRemoteAddresses:\n"
    "  - 10.10.103.*\n"
    "  - 192.168.0.*\n"
    "\n"
    "accounts:\n"
    "  - accessKey: RocketMQ\n"
    "    secretKey: 12345678\n"
    "    whiteRemoteAddress:\n"
    "    admin: false\n"
    "    defaultTopicPerm: DENY\n"
    "    defaultGroupPerm: SUB\n"
    "    topicPerms:\n"
    "      - topicA=DENY\n"
    "      - topicB=PUB|SUB\n"
    "      - topicC=SUB\n"
    "    groupPerms:\n"
    "      # the group should convert to retry topic\n"
    "      - groupA=DENY\n"
    "      - groupB=PUB|SUB\n"
    "      - groupC=SUB\n"
    "\n"
    "  - accessKey: rocketmq2\n"
    "    secretKey: 12345678\n"
    "    whiteRemoteAddress: 192.168.1.*\n"
    "    # if it is admin, it could access all resources\n"
    "    admin: true\n";

static acl_table_t *load1(const char *text, char *err, size_t errlen)
{
    acl_table_t *acl = calloc(1, sizeof *acl);
    assert_non_null(acl);
    if (acl_load_text(acl, "t.yml", text, strlen(text), err, errlen)) {
        acl_free(acl);
        return NULL;
    }
    return acl;
}

static void test_stock_file(void **state)
{
    (void)state;
    char err[512];
    acl_table_t *acl = load1(STOCK, err, sizeof err);
    if (!acl)
        fail_msg("%s", err);
    assert_int_equal(acl->nglobal, 2);
    assert_true(acl_pattern_match(acl->global[0], "10.10.103.7"));
    assert_false(acl_pattern_match(acl->global[0], "10.10.104.7"));
    assert_true(acl_pattern_match(acl->global[1], "192.168.0.9"));
    assert_int_equal(acl->naccounts, 2);
    assert_int_equal(acl->nfiles, 1);
    assert_string_equal(acl->files[0], "t.yml");

    const acl_account_t *a = acl_account(acl, "RocketMQ");
    assert_non_null(a);
    assert_string_equal(a->secretKey, "12345678");
    assert_false(a->admin);
    assert_null(a->white); /* empty: none */
    assert_int_equal(a->defaultTopicPerm, ACL_DENY);
    assert_int_equal(a->defaultGroupPerm, ACL_SUB);
    assert_int_equal(a->nperms, 6);
    assert_true(a->hasExplicit);
    /* sorted by resource for a binary search; each resource keeps its perm */
    const char *res[] = {"topicA", "topicB", "topicC", "%RETRY%groupA", "%RETRY%groupB", "%RETRY%groupC"};
    int perm[] = {1, 12, 8, 1, 12, 8};
    for (int i = 0; i < 6; i++)
        assert_int_equal(acl_perm_of(a, res[i]), perm[i]);
    for (size_t i = 1; i < a->nperms; i++)
        assert_true(strcmp(a->perms[i - 1].resource, a->perms[i].resource) < 0);
    /* what the account does not list falls to its defaults: topics DENY, groups SUB */
    assert_int_equal(acl_perm_of(a, "topicZ"), ACL_DENY);
    assert_int_equal(acl_perm_of(a, "%RETRY%groupZ"), ACL_SUB);
    assert_string_equal(a->file, "t.yml");

    const acl_account_t *b = acl_account(acl, "rocketmq2");
    assert_non_null(b);
    assert_true(b->admin);
    assert_int_equal(b->nperms, 0);
    assert_false(b->hasExplicit);
    assert_int_equal(b->defaultTopicPerm, ACL_DENY);
    assert_int_equal(b->defaultGroupPerm, ACL_DENY);
    assert_non_null(b->white);
    assert_true(acl_pattern_match(b->white, "192.168.1.20"));
    assert_false(acl_pattern_match(b->white, "192.168.2.20"));

    assert_null(acl_account(acl, "rocketmq"));
    assert_null(acl_account(acl, "nobody00"));
    assert_null(acl_account(acl, NULL));
    acl_free(acl);
}

static void expect_error(const char *text, const char *want)
{
    char err[512] = "";
    acl_table_t *acl = calloc(1, sizeof *acl);
    assert_non_null(acl);
    /* the table already holds a file: a failed load must leave it as it was */
    char e0[256];
    assert_int_equal(acl_load_text(acl, "a.yml", STOCK, strlen(STOCK), e0, sizeof e0), 0);
    int rc = acl_load_text(acl, "b.yml", text, strlen(text), err, sizeof err);
    if (rc == 0)
        fail_msg("loaded, but '%s' was expected", want);
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
    assert_int_equal(acl->nfiles, 1);
    assert_int_equal(acl->naccounts, 2);
    assert_int_equal(acl->nglobal, 2);
    acl_free(acl);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("accounts:\n  - accessKey: short\n    secretKey: 12345678\n",
                 "The accessKey=short and secretKey=****** cannot be null and length should longer than 6");
    expect_error("accounts:\n  - accessKey: longenough\n    secretKey: 123456\n",
                 "The accessKey=longenough and secretKey=****** cannot be null and length should longer than 6");
    expect_error("accounts:\n  - accessKey: longenough\n",
                 "The accessKey=longenough and secretKey=null cannot be null and length should longer than 6");
    /* six characters of two bytes each are still six characters */
    expect_error("accounts:\n  - accessKey: \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\n    secretKey: 12345678\n",
                 "cannot be null and length should longer than 6");
    expect_error("accounts:\n  - accessKey: longenough\n    secretKey: 12345678\n    topicPerms:\n      - topicA\n",
                 "Parse resource permission failed for topic:topicA");
    expect_error("accounts:\n  - accessKey: longenough\n    secretKey: 12345678\n    groupPerms: ['g=SUB=PUB']\n",
                 "Parse resource permission failed for group:g=SUB=PUB");
    expect_error("accounts:\n  - accessKey: longenough\n    secretKey: 12345678\n    topicPerms: ['=PUB']\n",
                 "Parse resource permission failed for topic:=PUB");
    expect_error("accounts:\n  - accessKey: longenough\n    secretKey: 12345678\n    whiteRemoteAddress: 10.0.0.300\n",
                 "10.0.0.300");
    expect_error("globalWhiteRemoteAddresses:\n  - 10.0.0.1\n  - 10.x.*.*\n", "10.x.*.*");
    expect_error("accounts:\n  - accessKey: 'unclosed\n", "YAML syntax error at line");
    expect_error("a: b\n c: d\n", "YAML syntax error at line 2");
    expect_error("accounts: {a: b}\n", "accounts: a list was expected");
    expect_error("accounts:\n  - just-a-string\n", "each account must be a map");
    expect_error("accounts:\n  - accessKey: longenough\n    secretKey: 12345678\n    admin: maybe\n", "admin");
    expect_error("- a\n- b\n", "not a map");
    expect_error("a: &x 1\nb: *x\n", "aliases");
    expect_error("a: 1\n---\nb: 2\n", "more than one YAML document");
    expect_error("accounts:\n  - accessKey: \"longe\\0nough\"\n    secretKey: 12345678\n", "NUL");
    /* a bad account after good ones fails the whole file */
    expect_error("accounts:\n  - accessKey: goodgood\n    secretKey: 12345678\n  - accessKey: bad\n    secretKey: 12345678\n",
                 "accessKey=bad");
    /* deep nesting in an ignored key */
    char deep[400];
    strcpy(deep, "dataVersion: ");
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    expect_error(deep, "deeper");
    /* more than 4 MiB: refused before parsing */
    size_t bl = (4u << 20) + 1;
    char *big = malloc(bl);
    assert_non_null(big);
    memset(big, '#', bl);
    char err[64];
    acl_table_t *acl = calloc(1, sizeof *acl);
    assert_non_null(acl);
    assert_int_equal(acl_load_text(acl, "big.yml", big, bl, err, sizeof err), -1);
    assert_int_equal(acl->nfiles, 0);
    acl_free(acl);
    free(big);
}

static void test_literal_scalars_and_details(void **state)
{
    (void)state;
    char err[512];
    const char *text = "dataVersion:\n- counter: 3\n  timestamp: 1700000000000\n"
                       "unknownKey: {x: [1, 2, {y: z}]}\n"
                       "accounts:\n"
                       "- accessKey: '0123456'\n"   /* quoted */
                       "  secretKey: 0123456789\n"   /* plain: taken literally, not as octal */
                       "  admin: TRUE\n"
                       "  defaultTopicPerm: ' PUB '\n"
                       "  defaultGroupPerm: ANY\n"
                       "  whiteRemoteAddress: 127.0.0.1\n"
                       "  groupPerms: [ ' g1 = SUB ', g2=PUB ]\n"
                       "  topicPerms: [ '%RETRY%g1=DENY', t1 =  PUB|SUB, t1=SUB ]\n"
                       "  extra: ignored\n"
                       "- accessKey: '0123456'\n"   /* the same key later in the file: ignored */
                       "  secretKey: other-secret\n"
                       "- {accessKey: flowstyle, secretKey: flowsecret, admin: no}\n";
    acl_table_t *acl = load1(text, err, sizeof err);
    if (!acl)
        fail_msg("%s", err);
    assert_int_equal(acl->nglobal, 0);
    assert_int_equal(acl->naccounts, 2);
    const acl_account_t *a = acl_account(acl, "0123456");
    assert_non_null(a);
    assert_string_equal(a->secretKey, "0123456789");
    assert_true(a->admin);
    assert_int_equal(a->defaultTopicPerm, ACL_PUB);
    assert_int_equal(a->defaultGroupPerm, ACL_DENY);
    assert_true(acl_pattern_match(a->white, "127.0.0.1"));
    /* topicPerms first even though groupPerms came first in the file; a later entry for the
     * same resource replaces the perm (groupPerms g1 overrides topicPerms %RETRY%g1) */
    assert_int_equal(a->nperms, 3);
    assert_int_equal(acl_perm_of(a, "%RETRY%g1"), ACL_SUB);
    assert_int_equal(acl_perm_of(a, "t1"), ACL_SUB);
    assert_int_equal(acl_perm_of(a, "%RETRY%g2"), ACL_PUB);
    const acl_account_t *b = acl_account(acl, "flowstyle");
    assert_non_null(b);
    assert_false(b->admin);
    assert_null(b->white);
    acl_free(acl);

    /* empty and null documents are empty tables */
    const char *empties[] = {"", "\n# only a comment\n", "---\n", "~\n", "accounts:\nglobalWhiteRemoteAddresses: ~\n"};
    for (size_t i = 0; i < sizeof empties / sizeof *empties; i++) {
        acl = load1(empties[i], err, sizeof err);
        if (!acl)
            fail_msg("'%s': %s", empties[i], err);
        assert_int_equal(acl->naccounts, 0);
        assert_int_equal(acl->nglobal, 0);
        assert_int_equal(acl->nfiles, 1);
        acl_free(acl);
    }
}

static void test_first_file_wins(void **state)
{
    (void)state;
    char err[256];
    acl_table_t *acl = calloc(1, sizeof *acl);
    assert_non_null(acl);
    const char *f1 = "globalWhiteRemoteAddresses: [10.0.0.1]\n"
                     "accounts:\n- {accessKey: shared-key, secretKey: secret-one}\n- {accessKey: only-in-one, secretKey: secret-xx}\n";
    const char *f2 = "globalWhiteRemoteAddresses: [10.0.0.2]\n"
                     "accounts:\n- {accessKey: shared-key, secretKey: secret-two, admin: true}\n- {accessKey: aaa-only-in-two, secretKey: secret-yy}\n";
    assert_int_equal(acl_load_text(acl, "one.yml", f1, strlen(f1), err, sizeof err), 0);
    assert_int_equal(acl_load_text(acl, "two.yml", f2, strlen(f2), err, sizeof err), 0);
    assert_int_equal(acl->nfiles, 2);
    assert_int_equal(acl->naccounts, 3);
    assert_int_equal(acl->nglobal, 2); /* the union */
    const acl_account_t *s = acl_account(acl, "shared-key");
    assert_non_null(s);
    assert_string_equal(s->secretKey, "secret-one");
    assert_false(s->admin);
    assert_string_equal(s->file, "one.yml");
    assert_string_equal(acl_account(acl, "aaa-only-in-two")->file, "two.yml");
    assert_string_equal(acl_account(acl, "only-in-one")->file, "one.yml");
    acl_free(acl);
}

static char *many_accounts(int from, int n, size_t *len)
{
    size_t cap = (size_t)n * 48 + 16;
    char *t = malloc(cap);
    assert_non_null(t);
    size_t l = (size_t)snprintf(t, cap, "accounts:\n");
    for (int i = from; i < from + n; i++)
        l += (size_t)snprintf(t + l, cap - l, "- {accessKey: k%07d, secretKey: s%07d}\n", i, i);
    *len = l;
    return t;
}

static void test_account_limit(void **state)
{
    (void)state;
    char err[256];
    acl_table_t *acl = calloc(1, sizeof *acl);
    assert_non_null(acl);
    size_t len;
    char *t = many_accounts(0, 60000, &len);
    assert_int_equal(acl_load_text(acl, "one.yml", t, len, err, sizeof err), 0);
    free(t);
    assert_int_equal(acl->naccounts, 60000);
    assert_string_equal(acl_account(acl, "k0031337")->secretKey, "s0031337");
    /* 40000 more fit exactly; one more does not */
    t = many_accounts(60000, 40001, &len);
    assert_int_equal(acl_load_text(acl, "two.yml", t, len, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than 100000 accounts"));
    free(t);
    assert_int_equal(acl->naccounts, 60000);
    t = many_accounts(60000, 40000, &len);
    assert_int_equal(acl_load_text(acl, "two.yml", t, len, err, sizeof err), 0);
    free(t);
    assert_int_equal(acl->naccounts, 100000);
    assert_string_equal(acl_account(acl, "k0099999")->file, "two.yml");
    assert_string_equal(acl_account(acl, "k0000000")->file, "one.yml");
    acl_free(acl);
}

/* ---- the directory ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_load_dir(void **state)
{
    (void)state;
    char home[] = "/tmp/lt-aclload-XXXXXX";
    assert_non_null(mkdtemp(home));
    char p[512], err[512];

    /* nothing at all: an empty table */
    acl_table_t *acl = acl_load(home, 0, err, sizeof err);
    if (!acl)
        fail_msg("%s", err);
    assert_int_equal(acl->naccounts, 0);
    assert_int_equal(acl->nfiles, 0);
    acl_free(acl);

    snprintf(p, sizeof p, "%s/conf", home);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/conf/acl", home);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/conf/acl/sub", home);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/conf/plain_acl.yml", home);
    write_file(p, "accounts:\n- {accessKey: key-default, secretKey: secret-d}\n- {accessKey: key-b-yml, secretKey: from-default}\n");
    snprintf(p, sizeof p, "%s/conf/acl/b.yml", home);
    write_file(p, "accounts:\n- {accessKey: key-b-yml, secretKey: from-b-yml}\n");
    snprintf(p, sizeof p, "%s/conf/acl/sub/a.yaml", home);
    write_file(p, "globalWhiteRemoteAddresses: ['10.9.*.*']\n");
    snprintf(p, sizeof p, "%s/conf/acl/tools.yml", home); /* skipped: not a valid ACL file anyway */
    write_file(p, "accessKey: rocketmq2\nsecretKey: 12345678\n[[[\n");
    snprintf(p, sizeof p, "%s/conf/acl/notes.txt", home); /* not .yml */
    write_file(p, "{{{{");

    acl = acl_load(home, 0, err, sizeof err);
    if (!acl)
        fail_msg("%s", err);
    assert_int_equal(acl->nfiles, 3);
    /* sorted scan of conf/acl, then the default file */
    assert_non_null(strstr(acl->files[0], "/conf/acl/b.yml"));
    assert_non_null(strstr(acl->files[1], "/conf/acl/sub/a.yaml"));
    assert_non_null(strstr(acl->files[2], "/conf/plain_acl.yml"));
    assert_int_equal(acl->naccounts, 2);
    assert_string_equal(acl_account(acl, "key-b-yml")->secretKey, "from-b-yml");
    assert_non_null(acl_account(acl, "key-default"));
    assert_int_equal(acl->nglobal, 1);
    assert_true(acl_pattern_match(acl->global[0], "10.9.1.1"));
    acl_free(acl);

    /* a bad file fails the whole load, naming the file */
    snprintf(p, sizeof p, "%s/conf/acl/sub/bad.yml", home);
    write_file(p, "accounts:\n- {accessKey: x, secretKey: y}\n");
    err[0] = 0;
    assert_null(acl_load(home, 0, err, sizeof err));
    assert_non_null(strstr(err, "bad.yml"));
    assert_non_null(strstr(err, "cannot be null and length should longer than 6"));

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", home);
    assert_int_equal(system(cmd), 0);
}

/* Loulan's secretKeyEnv / secretKeyFile keep the secret out of the YAML. */
static void test_secret_elsewhere(void **state)
{
    (void)state;
    char err[512];
    setenv("LOULAN_TEST_SECRET", "fromTheEnvironment", 1);
    char path[] = "/tmp/acl-secret-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "fromTheFile1\nsecond line\n", 25), 25);
    close(fd);
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "accounts:\n  - accessKey: envKey001\n    secretKeyEnv: LOULAN_TEST_SECRET\n"
             "  - accessKey: fileKey01\n    secretKeyFile: %s\n"
             "  - accessKey: bothKey01\n    secretKey: inlineWins\n    secretKeyEnv: LOULAN_TEST_SECRET\n",
             path);
    acl_table_t *acl = load1(yaml, err, sizeof err);
    if (!acl)
        fail_msg("%s", err);
    assert_string_equal(acl_account(acl, "envKey001")->secretKey, "fromTheEnvironment");
    assert_string_equal(acl_account(acl, "fileKey01")->secretKey, "fromTheFile1");
    assert_string_equal(acl_account(acl, "bothKey01")->secretKey, "inlineWins");
    acl_free(acl);

    assert_null(load1("accounts:\n  - accessKey: envKey001\n    secretKeyEnv: LOULAN_TEST_NO_SUCH_VAR\n", err, sizeof err));
    assert_non_null(strstr(err, "LOULAN_TEST_NO_SUCH_VAR is not set"));
    assert_null(load1("accounts:\n  - accessKey: fileKey01\n    secretKeyFile: /nonexistent/secret\n", err, sizeof err));
    assert_non_null(strstr(err, "cannot be read"));
    /* a device or a pipe is refused rather than read (it could block the load) */
    assert_null(load1("accounts:\n  - accessKey: fileKey01\n    secretKeyFile: /dev/zero\n", err, sizeof err));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_blank_and_all),
        cmocka_unit_test(test_pattern_literal),
        cmocka_unit_test(test_pattern_lists),
        cmocka_unit_test(test_pattern_range_v4),
        cmocka_unit_test(test_pattern_range_v6),
        cmocka_unit_test(test_pattern_bad),
        cmocka_unit_test(test_perm_parse),
        cmocka_unit_test(test_stock_file),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_literal_scalars_and_details),
        cmocka_unit_test(test_first_file_wins),
        cmocka_unit_test(test_account_limit),
        cmocka_unit_test(test_load_dir),
        cmocka_unit_test(test_secret_elsewhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
