/* libFuzzer target: the plain_acl.yml loader (src/acl/load.c) and, through it, the
 * remote-address patterns. Arbitrary bytes are loaded into a table that already holds one
 * account; a failed load must leave the table as it was, and whatever loads must respect the
 * table's invariants (keys of at least 7 characters, unique and sorted accessKeys, every
 * account findable and owned by a file, perms in range). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acl/acl.h"

static const char SEED[] = "accounts:\n- {accessKey: fuzz-base, secretKey: base-secret}\n";

static void check(const acl_table_t *acl)
{
    for (size_t i = 0; i < acl->naccounts; i++) {
        const acl_account_t *a = &acl->accounts[i];
        if (!a->accessKey || !a->secretKey || strlen(a->accessKey) < 7 || strlen(a->secretKey) < 7)
            abort();
        if (i && strcmp(acl->accounts[i - 1].accessKey, a->accessKey) >= 0)
            abort(); /* sorted, no duplicates */
        if (acl_account(acl, a->accessKey) != a)
            abort();
        if (!a->file)
            abort();
        int owned = 0;
        for (size_t f = 0; f < acl->nfiles; f++)
            owned |= acl->files[f] == a->file;
        if (!owned)
            abort();
        if (a->hasExplicit != (a->nperms > 0))
            abort();
        int ok[] = {ACL_DENY, ACL_PUB, ACL_SUB, ACL_PUB | ACL_SUB};
        int perms[] = {a->defaultTopicPerm, a->defaultGroupPerm};
        for (size_t j = 0; j < 2 + a->nperms; j++) {
            int p = j < 2 ? perms[j] : a->perms[j - 2].perm;
            if (p != ok[0] && p != ok[1] && p != ok[2] && p != ok[3])
                abort();
            if (j >= 2 && !a->perms[j - 2].resource)
                abort();
        }
        /* matching must not crash on any address form */
        acl_pattern_match(a->white, "10.1.2.3");
        acl_pattern_match(a->white, "2001:db8::1");
        acl_pattern_match(a->white, "::ffff:10.1.2.3");
    }
    for (size_t i = 0; i < acl->nglobal; i++) {
        if (!acl->global[i])
            abort();
        acl_pattern_match(acl->global[i], "192.168.0.1");
        acl_pattern_match(acl->global[i], "fe80::1");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    acl_table_t *acl = calloc(1, sizeof *acl);
    if (!acl)
        return 0;
    char err[256];
    if (acl_load_text(acl, "seed.yml", SEED, strlen(SEED), err, sizeof err) != 0)
        abort();
    int rc = acl_load_text(acl, "fuzz.yml", (const char *)data, size, err, sizeof err);
    if (rc != 0) {
        if (acl->nfiles != 1 || acl->naccounts != 1 || acl->nglobal != 0 || !err[0])
            abort(); /* a failed load changes nothing and says why */
    } else if (acl->nfiles != 2) {
        abort();
    }
    check(acl);
    acl_free(acl);

    /* the bytes as one pattern too */
    char pat[128];
    size_t n = size < sizeof pat - 1 ? size : sizeof pat - 1;
    memcpy(pat, data, n);
    pat[n] = 0;
    acl_pattern_t *p = acl_pattern_parse(pat, err, sizeof err);
    if (p) {
        acl_pattern_match(p, "10.0.0.1");
        acl_pattern_match(p, "2001:DB8::1");
        acl_pattern_match(p, pat);
        acl_pattern_free(p);
    }
    return 0;
}
