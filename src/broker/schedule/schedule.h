/* schedule: delay levels (SCHEDULE_TOPIC_XXXX, delayOffset.json) and CONSUMER_SEND_MSG_BACK
 * (retry.c: a consumer gives a message back; it comes again after a delay level, or goes to the
 * DLQ). A subsystem: depends on the core only; answers the delay_divert, delay_json and
 * delay_adopt hooks and keeps its file through its own persister slot. */
#ifndef LOULAN_BR_SCHEDULE_H
#define LOULAN_BR_SCHEDULE_H

#include "broker/core/core.h"

/* ---- delay levels (schedule.c) ---- */
typedef struct br_sched {
    int64_t offset[64];         /* delivery progress per level (queue level-1) */
    int dirty;
    uint64_t savedAt;
    char path[1200];
    uv_timer_t timer;
    struct br_pslot *ps;
} br_sched_t;

/* schedule.c */
/* Redirect a send with delay `level` (clamped to the levels there are) to the schedule topic:
 * props get DELAY/REAL_TOPIC/REAL_QID. 0, or -1 out of memory. */
int br_schedule_divert(br_broker_t *b, cm_buf_t *props, const char *topic, int qid, int level,
                       const char **st_topic, int *st_qid);
void br_schedule_start(br_broker_t *b);
void br_schedule_stop(br_broker_t *b, uv_close_cb cb);
int br_schedule_save(br_broker_t *b);
lj_val_t *br_schedule_json(const br_broker_t *b); /* delayOffset.json's content */
void br_schedule_adopt(br_broker_t *b, const lj_val_t *root); /* progress from such JSON */

/* retry.c */
void br_handle_consumer_send_msg_back(rm_conn_t *c, rm_cmd_t *req, void *ctx);

extern const br_subsys_t br_schedule_subsys;

#endif
