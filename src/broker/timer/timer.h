/* timer: 5.x timer messages (a timing wheel over a timer log under store/timer). A subsystem:
 * depends on the core only; answers the timer_divert hook. */
#ifndef LOULAN_BR_TIMER_H
#define LOULAN_BR_TIMER_H

#include "broker/core/core.h"

/* ---- timer messages (timer.c) ---- */
typedef struct br_tseg { int fd; uint8_t *base; int64_t pending; } br_tseg_t;
typedef struct br_timer {
    int started;
    char dir[1200];
    int wheelFd, checkFd;
    uint8_t *wheel;             /* nslots one-second slots: sec, last entry, count */
    size_t nslots;
    br_tseg_t *segs;            /* timer-log segments, oldest first */
    size_t nseg;
    int64_t firstSeg;
    int64_t logEnd;             /* next entry number */
    int64_t enqOffset;          /* next rmq_sys_wheel_timer queue offset to enqueue */
    int64_t curSec;             /* the second being delivered */
    void *due;                  /* that second's entries, sorted by time */
    size_t ndue, capdue, dueAt;
    int loaded;
    uv_timer_t tick;
} br_timer_t;

/* timer.c */
/* A send with TIMER_DELAY_SEC / TIMER_DELAY_MS / TIMER_DELIVER_MS for a future time: props get
 * TIMER_OUT_MS/REAL_TOPIC/REAL_QID and the store target becomes rmq_sys_wheel_timer queue 0.
 * 0 (diverted, or not a timer, or due already), or an error code with *remark. */
int br_timer_divert(br_broker_t *b, cm_buf_t *props, const char *topic, int qid, const char **st_topic,
                    int *st_qid, const char **remark);
int br_timer_start(br_broker_t *b);
int br_timer_stop(br_broker_t *b, uv_close_cb cb); /* 1 if cb will be called */

extern const br_subsys_t br_timer_subsys;

#endif
