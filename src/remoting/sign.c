/* sign.c: RocketMQ 4.x ACL request signatures (acl spec §2). A signature is
 * Base64(HMAC-SHA1(secretKey, the values of the request's ext fields in key order ‖ body)),
 * without the `Signature` field itself. Clients of different generations disagree on one field,
 * `_UNIQUE_KEY_QUERY` (QUERY_MESSAGE): Java ≥ 4.9.4 signs it, older clients and 4.9.x brokers do
 * not; a verifier accepts either form. HMAC and Base64 are OpenSSL's (libcrypto). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "remoting/remoting.h"

/* OpenSSL 3's one-shot HMAC() looks the algorithm up on every call, which cost more than the
 * hashing of a 1 KiB send: fetch it once, then stream the values and the body into it (no
 * copy of the body). EVP_MAC objects may be shared between threads once fetched. */
static EVP_MAC *g_hmac;
static pthread_once_t g_hmac_once = PTHREAD_ONCE_INIT;
static void fetch_hmac(void) { g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL); }

/* A context keyed with secret, ready for data; NULL on failure. */
static EVP_MAC_CTX *keyed(const char *secret)
{
    pthread_once(&g_hmac_once, fetch_hmac);
    EVP_MAC_CTX *ctx = g_hmac ? EVP_MAC_CTX_new(g_hmac) : NULL;
    char digest[] = "SHA1";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    if (ctx && !EVP_MAC_init(ctx, (const unsigned char *)secret, strlen(secret), params)) {
        EVP_MAC_CTX_free(ctx);
        ctx = NULL;
    }
    return ctx;
}

/* A secret kept as a keyed context: a copy of it skips the key's setup, which in OpenSSL 3
 * looks the digest up by name (a global lock: client threads signing at once queued on it).
 * The copy is taken under a mutex so that any thread may use the key. */
struct rm_sign_key { EVP_MAC_CTX *ctx; pthread_mutex_t mu; };

rm_sign_key_t *rm_sign_key_new(const char *secret)
{
    rm_sign_key_t *k = calloc(1, sizeof *k);
    if (k && !(k->ctx = keyed(secret))) {
        free(k);
        return NULL;
    }
    if (k)
        pthread_mutex_init(&k->mu, NULL);
    return k;
}

void rm_sign_key_free(rm_sign_key_t *k)
{
    if (!k)
        return;
    EVP_MAC_CTX_free(k->ctx);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

static EVP_MAC_CTX *key_copy(const rm_sign_key_t *k)
{
    pthread_mutex_lock((pthread_mutex_t *)&k->mu);
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(k->ctx);
    pthread_mutex_unlock((pthread_mutex_t *)&k->mu);
    return ctx;
}

/* HMAC-SHA1 of the parts, in order, with a prepared key or else the secret. 0, or -1. */
static int hmac_sha1(const rm_sign_key_t *k, const char *key, const uint8_t *const *part, const size_t *len,
                     size_t nparts, uint8_t mac[20])
{
    EVP_MAC_CTX *ctx = k ? key_copy(k) : keyed(key);
    if (!ctx)
        return -1;
    int ok = 1;
    for (size_t i = 0; ok && i < nparts; i++)
        ok = len[i] == 0 || EVP_MAC_update(ctx, part[i], len[i]);
    size_t out = 0;
    ok = ok && EVP_MAC_final(ctx, mac, &out, 20) && out == 20;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : -1;
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(const rm_kv_t *const *)a)->key, (*(const rm_kv_t *const *)b)->key);
}

static int sign_with(const rm_cmd_t *c, const rm_sign_key_t *k, const char *secret, int skip_unique_key_query,
                     char out[RM_SIGN_LEN + 1])
{
    /* the values by key order, then the body: one part each */
    size_t cap = c->next + 1;
    const rm_kv_t *stack_kv[32], **kv = cap <= 32 ? stack_kv : malloc(cap * sizeof *kv);
    const uint8_t *stack_part[33], **part = cap <= 32 ? stack_part : malloc(cap * sizeof *part);
    size_t stack_len[33], *len = cap <= 32 ? stack_len : malloc(cap * sizeof *len);
    int rc = -1;
    if (kv && part && len) {
        size_t n = 0;
        for (size_t i = 0; i < c->next; i++) {
            const char *k = c->ext[i].key;
            if (strcmp(k, "Signature") == 0 || (skip_unique_key_query && strcmp(k, "_UNIQUE_KEY_QUERY") == 0))
                continue;
            kv[n++] = &c->ext[i];
        }
        qsort(kv, n, sizeof *kv, by_key);
        for (size_t i = 0; i < n; i++) {
            part[i] = (const uint8_t *)(kv[i]->val ? kv[i]->val : "");
            len[i] = strlen((const char *)part[i]);
        }
        part[n] = c->body;
        len[n] = c->body_len;
        uint8_t mac[20];
        if (hmac_sha1(k, secret, part, len, n + 1, mac) == 0) {
            EVP_EncodeBlock((unsigned char *)out, mac, 20); /* 28 characters and a NUL */
            rc = 0;
        }
    }
    if (kv != stack_kv)
        free(kv);
    if (part != stack_part)
        free(part);
    if (len != stack_len)
        free(len);
    return rc;
}

int rm_sign(const rm_cmd_t *c, const char *secret, int skip_unique_key_query, char out[RM_SIGN_LEN + 1])
{
    return sign_with(c, NULL, secret, skip_unique_key_query, out);
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

static int verify_with(const rm_cmd_t *c, const rm_sign_key_t *k, const char *secret)
{
    const char *sig = rm_ext_get(c, "Signature");
    char want[RM_SIGN_LEN + 1];
    if (!sig)
        return 0;
    if (sign_with(c, k, secret, 0, want) == 0 && same(sig, want))
        return 1;
    return rm_ext_get(c, "_UNIQUE_KEY_QUERY") && sign_with(c, k, secret, 1, want) == 0 && same(sig, want);
}

int rm_sign_verify(const rm_cmd_t *c, const char *secret) { return verify_with(c, NULL, secret); }

int rm_sign_verify_key(const rm_cmd_t *c, const rm_sign_key_t *k) { return verify_with(c, k, NULL); }

int rm_sign_request(rm_cmd_t *c, const char *access_key, const char *secret)
{
    char sig[RM_SIGN_LEN + 1];
    if (rm_ext_set(c, "AccessKey", access_key) != 0 || rm_sign(c, secret, 0, sig) != 0)
        return -1;
    return rm_ext_set(c, "Signature", sig);
}

int rm_sign_request_key(rm_cmd_t *c, const char *access_key, const rm_sign_key_t *k)
{
    char sig[RM_SIGN_LEN + 1];
    if (rm_ext_set(c, "AccessKey", access_key) != 0 || sign_with(c, k, NULL, 0, sig) != 0)
        return -1;
    return rm_ext_set(c, "Signature", sig);
}
