/* sign.c: RocketMQ 4.x ACL request signatures (acl spec §2). A signature is
 * Base64(HMAC-SHA1(secretKey, the values of the request's ext fields in key order ‖ body)),
 * without the `Signature` field itself. Clients of different generations disagree on one field,
 * `_UNIQUE_KEY_QUERY` (QUERY_MESSAGE): Java ≥ 4.9.4 signs it, older clients and 4.9.x brokers do
 * not; a verifier accepts either form. HMAC and Base64 are OpenSSL's (libcrypto). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "remoting/remoting.h"

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const rm_kv_t *const *)a)->key, (*(const rm_kv_t *const *)b)->key);
}

int rm_sign(const rm_cmd_t *c, const char *secret, int skip_unique_key_query, char out[RM_SIGN_LEN + 1])
{
    const rm_kv_t **kv = malloc((c->next ? c->next : 1) * sizeof *kv);
    cm_buf_t data;
    size_t n = 0;
    int rc = -1;
    if (!kv)
        return -1;
    for (size_t i = 0; i < c->next; i++) {
        const char *k = c->ext[i].key;
        if (strcmp(k, "Signature") == 0 || (skip_unique_key_query && strcmp(k, "_UNIQUE_KEY_QUERY") == 0))
            continue;
        kv[n++] = &c->ext[i];
    }
    qsort(kv, n, sizeof *kv, by_key);
    cm_buf_init(&data);
    int err = 0;
    for (size_t i = 0; i < n; i++)
        err |= cm_buf_puts(&data, kv[i]->val ? kv[i]->val : "");
    if (c->body_len)
        err |= cm_buf_append(&data, c->body, c->body_len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    if (!err && HMAC(EVP_sha1(), secret, (int)strlen(secret), data.len ? (const unsigned char *)data.data : (const unsigned char *)"",
                     data.len, mac, &maclen) && maclen == 20) {
        EVP_EncodeBlock((unsigned char *)out, mac, (int)maclen); /* 28 characters and a NUL */
        rc = 0;
    }
    cm_buf_free(&data);
    free(kv);
    return rc;
}

/* Constant time: how long a comparison takes says nothing of how much matched. */
static int same(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int rm_sign_verify(const rm_cmd_t *c, const char *secret)
{
    const char *sig = rm_ext_get(c, "Signature");
    char want[RM_SIGN_LEN + 1];
    if (!sig)
        return 0;
    if (rm_sign(c, secret, 0, want) == 0 && same(sig, want))
        return 1;
    return rm_ext_get(c, "_UNIQUE_KEY_QUERY") && rm_sign(c, secret, 1, want) == 0 && same(sig, want);
}

int rm_sign_request(rm_cmd_t *c, const char *access_key, const char *secret)
{
    char sig[RM_SIGN_LEN + 1];
    if (rm_ext_set(c, "AccessKey", access_key) != 0 || rm_sign(c, secret, 0, sig) != 0)
        return -1;
    return rm_ext_set(c, "Signature", sig);
}
