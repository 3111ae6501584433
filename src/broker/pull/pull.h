/* pull: PULL_MESSAGE and long polling (pulls parked until a message arrives or they time out).
 * A subsystem: depends on the core only; answers the core's message_arrived hook and asks the
 * core's find_sub hook for a group's subscription. */
#ifndef LOULAN_BR_PULL_H
#define LOULAN_BR_PULL_H

#include "broker/core/core.h"

/* ---- long polling (pull.c) ---- */
typedef struct br_pull_wait br_pull_wait_t;
typedef struct br_pulls {
    cm_map_t queues;            /* "topic@queueId" -> that queue's parked pulls */
    cm_heap_t heap;             /* every parked pull, earliest deadline on top */
    uv_timer_t timer;           /* expires parked pulls (and short polling) */
} br_pulls_t;

/* pull.c */
void br_handle_pull_message(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_pull_notify(br_broker_t *b, const char *topic, int queueId);
void br_pull_check(br_broker_t *b, int expire_all);

extern const br_subsys_t br_pull_subsys;

#endif
