/* ha: master/slave replication (spec §5). A subsystem: depends on the core only; answers the
 * master_known, ha_acked and ha_slaves hooks and asks delay_json/delay_adopt for the delay
 * progress a slave takes from its master. */
#ifndef LOULAN_BR_HA_H
#define LOULAN_BR_HA_H

#include "broker/core/core.h"

/* ha.c: master/slave replication (spec §5) */
typedef struct br_ha br_ha_t;
int br_ha_start(br_broker_t *b);
void br_ha_stop(br_broker_t *b, uv_close_cb cb); /* cb once, with a handle whose data is b */
/* A slave learns its master from the name server's answer to its registration. */
void br_ha_master_known(br_broker_t *b, const char *masterAddr, const char *haAddr);

extern const br_subsys_t br_ha_subsys;

/* auth.c: the preface a slave opens with when the master has innerClientAuthenticationCredentials
 * (the format is in auth.c). Pure; any thread. */
#define BR_HA_AUTH_MAX (4 + 1 + 255 + 8 + 16 + 20)
#define BR_HA_NONCES 256 /* recent prefaces remembered against replays (2 minutes' worth) */
typedef struct br_ha_nonces { uint8_t v[BR_HA_NONCES][16]; size_t next; } br_ha_nonces_t;
/* The preface for ak/sk at now_ms into out; its length, or 0 (too long a key, no randomness). */
size_t br_ha_auth_build(uint8_t *out, size_t cap, const char *ak, const char *sk, int64_t now_ms);
/* Check the first avail bytes a peer sent: 0 needs more, 1 valid (*used bytes were the
 * preface; it is remembered in seen), -1 invalid with the reason in *why. */
int br_ha_auth_check(const uint8_t *p, size_t avail, size_t *used, const char *ak, const char *sk, int64_t now_ms,
                     br_ha_nonces_t *seen, const char **why);

#endif
