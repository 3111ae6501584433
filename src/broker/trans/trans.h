/* trans: transactional messages (half messages, END_TRANSACTION, check-back). A subsystem:
 * depends on the core only; answers the trans_half hook. */
#ifndef LOULAN_BR_TRANS_H
#define LOULAN_BR_TRANS_H

#include "broker/core/core.h"

/* ---- transactions (trans.c) ---- */
typedef struct br_trans {
    cm_map_t keys;              /* UNIQ_KEY -> decision state, while the check may meet it */
    int64_t halfOffset;         /* check progress in the half queue */
    int64_t opOffset;           /* op records before this are no longer needed */
    struct tx_entry *pruneHead, *pruneTail; /* decided ones, in the order they were decided */
    int roundLeft;              /* half messages the check round under way may still look at */
    int indexBehind;            /* became master; the index has not applied indexMark yet */
    uint64_t indexMark;
    uv_timer_t timer;
} br_trans_t;

/* trans.c */
/* A send with TRAN_MSG=true: adds REAL_TOPIC/REAL_QID to props and redirects the store
 * target to the half topic. RC_SUCCESS, or an error code with *remark. */
int br_trans_half(br_broker_t *b, cm_buf_t *props, const char *topic, int qid, const char **st_topic,
                  int *st_qid, int64_t *sysFlag, const char **remark);
void br_handle_end_transaction(rm_conn_t *c, rm_cmd_t *req, void *ctx);
void br_trans_start(br_broker_t *b);
void br_trans_stop(br_broker_t *b, uv_close_cb cb);

extern const br_subsys_t br_trans_subsys;

#endif
