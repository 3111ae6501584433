/* auth.c: Loulan's proof that an HA slave holds the cluster's credentials.
 *
 * RocketMQ's HA port takes any connection as a slave, and every 8-byte report it sends is an
 * acknowledgement SYNC_MASTER answers producers with: anyone who reaches the port could make
 * the master acknowledge sends no slave has. When a master has innerClientAuthenticationCredentials,
 * a slave must open with a preface before its first report:
 *     "LHA1" | u8 n | accessKey (n bytes) | u64 time ms (big endian) | 16 random bytes |
 *     HMAC-SHA1(secretKey, everything before it) (20 bytes)
 * The master accepts it when the key is its own, the time is within 2 minutes of its clock,
 * the random bytes were not seen lately (a recorded preface cannot be replayed) and the MAC
 * matches. A RocketMQ (Java) slave cannot send it: such masters are for Loulan slaves. Pure
 * functions: no broker state, any thread. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "broker/ha/ha.h"

#define MAGIC "LHA1"
#define SKEW_MS (120 * 1000)

static size_t mac_at(size_t n) { return 4 + 1 + n + 8 + 16; }

size_t br_ha_auth_build(uint8_t *out, size_t cap, const char *ak, const char *sk, int64_t now_ms)
{
    size_t n = strlen(ak);
    if (n < 1 || n > 255 || cap < mac_at(n) + 20)
        return 0;
    memcpy(out, MAGIC, 4);
    out[4] = (uint8_t)n;
    memcpy(out + 5, ak, n);
    cm_wbe64(out + 5 + n, (uint64_t)now_ms);
    if (RAND_bytes(out + 13 + n, 16) != 1)
        return 0;
    unsigned len = 20;
    if (!HMAC(EVP_sha1(), sk, (int)strlen(sk), out, mac_at(n), out + mac_at(n), &len))
        return 0;
    return mac_at(n) + 20;
}

int br_ha_auth_check(const uint8_t *p, size_t avail, size_t *used, const char *ak, const char *sk, int64_t now_ms,
                     br_ha_nonces_t *seen, const char **why)
{
    *why = NULL;
    if (avail < 5)
        return memcmp(p, MAGIC, avail) == 0 ? 0 : (*why = "no Loulan HA preface (is it a RocketMQ slave?)", -1);
    if (memcmp(p, MAGIC, 4) != 0) {
        *why = "no Loulan HA preface (is it a RocketMQ slave?)";
        return -1;
    }
    size_t n = p[4];
    if (avail < mac_at(n) + 20)
        return 0;
    *used = mac_at(n) + 20;
    if (n != strlen(ak) || memcmp(p + 5, ak, n) != 0) {
        *why = "a preface for another accessKey";
        return -1;
    }
    int64_t ts = (int64_t)cm_be64(p + 5 + n);
    if (ts < now_ms - SKEW_MS || ts > now_ms + SKEW_MS) {
        *why = "a preface too old or from the future (clocks more than 2 minutes apart?)";
        return -1;
    }
    uint8_t mac[20];
    unsigned len = sizeof mac;
    if (!HMAC(EVP_sha1(), sk, (int)strlen(sk), p, mac_at(n), mac, &len) ||
        CRYPTO_memcmp(mac, p + mac_at(n), sizeof mac) != 0) {
        *why = "a preface whose signature does not match";
        return -1;
    }
    const uint8_t *nonce = p + 13 + n;
    for (size_t i = 0; i < BR_HA_NONCES; i++)
        if (memcmp(seen->v[i], nonce, 16) == 0) {
            *why = "a preface seen before (a replay)";
            return -1;
        }
    memcpy(seen->v[seen->next], nonce, 16);
    seen->next = (seen->next + 1) % BR_HA_NONCES;
    return 1;
}
