/* pop: POP consumption (RocketMQ 5's POP_MESSAGE, ACK_MESSAGE, BATCH_ACK_MESSAGE,
 * CHANGE_MESSAGE_INVISIBLETIME over remoting; the same state machine behind gRPC through the
 * core's pop_* hooks). A subsystem: depends on the core only.
 *
 * State (spec grpc-5x.md section 4.5): per (group, topic, queue) a pop cursor (kept as the
 * group's consumer offset, as Apache advances it on pop) and the messages in flight, hashed by
 * (group, topic, queue, offset), each with its next-visible time on a heap. Every change is
 * journalled to the store topic rmq_sys_pop_state (text lines, below) and replayed at start, or
 * when a DLedger node becomes master (sliced); a slave refuses POP (14) and keeps no state.
 * Everything runs on the loop thread. */
#ifndef LOULAN_BR_POP_H
#define LOULAN_BR_POP_H

#include "broker/core/core.h"

#define BR_POP_STATE_TOPIC "rmq_sys_pop_state"

/* A receipt handle (extraInfo): "ckStartOffset popTime invisibleTime reviveQid retryFlag
 * brokerName queueId queueOffset [commitLogOffset]". */
typedef struct br_pop_handle {
    int64_t ckStartOffset, popTime, invisibleTime;
    int32_t reviveQid, retryFlag, queueId;
    int64_t queueOffset, commitLogOffset; /* -1 when absent */
    char brokerName[128];
} br_pop_handle_t;
/* Parse s[len]: 0, or -1 when it is not a handle (any thread). */
int br_pop_handle_parse(const char *s, size_t len, br_pop_handle_t *h);

/* One journal line: "P group topic queueId offset commitLogOffset reconsumeTimes popTime
 * invisibleTime" (in flight until popTime + invisibleTime), "A group topic queueId offset"
 * (done: acked, or moved to the DLQ) or "C group topic queueId offset" (the group's cursor on
 * the queue starts there: set by initMode, so that a restart does not set it again). A snapshot
 * is framed by "S CID_RMQ_SYS_POP_STATE rmq_sys_pop_state 0 offset" and "E ..." with the journal
 * offset it begins at: a replay may begin there once the E line is in the store. */
typedef struct br_pop_jrec {
    char kind;                  /* 'P', 'A', 'C', 'S' or 'E' */
    char group[256], topic[128];
    int32_t queueId, reconsumeTimes;
    int64_t offset, commitLogOffset, popTime, invisibleTime;
} br_pop_jrec_t;
/* Decode the lines of a journal body, calling fn for each valid one; malformed lines are
 * skipped. Returns the number of lines skipped (any thread). */
int br_pop_journal_each(const char *s, size_t len, void (*fn)(void *arg, const br_pop_jrec_t *r), void *arg);

/* BATCH_ACK_MESSAGE's body: calls fn(group, topic, queueId, offset, popTime) for every bit set
 * in each ack's bitmap ("b", base64 of a little-endian BitSet; bit i = offset so + i), at most
 * 65536 per ack. Returns the number of acks visited, or -1 for a body that is not such JSON. */
int br_pop_batch_ack_each(const char *body, size_t len,
                          void (*fn)(void *arg, const char *group, const char *topic, int32_t queueId, int64_t offset,
                                     int64_t popTime),
                          void *arg);

extern const br_subsys_t br_pop_subsys;

#endif
