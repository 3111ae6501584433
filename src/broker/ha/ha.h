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

#endif
