/* dledger: DLedger mode (spec §6). The brokers of one dLegerGroup form a Raft group on canonical
 * raft (libraft, its libuv I/O on the broker's own loop); the leader is the master (brokerId 0),
 * the others are slaves (brokerId = the number of their dLegerSelfId + 1).
 *
 * The leader writes a record into its store at once (st_put, so queue offsets and msgIds are
 * assigned as always), hands the bytes it wrote to Raft once per loop turn, and answers the send
 * when Raft has committed them (flushwait.c with b->quorum). Every node applies committed entries
 * to its store: a follower appends the bytes at the same offset, so every commit log is the same
 * byte for byte; the leader finds them already there. Readers see only what was applied
 * (st_set_visible). A deposed leader takes back what it wrote and nobody committed
 * (st_truncate). Topics, groups, consumer offsets and delay progress go through Raft too.
 * A subsystem: depends on the core only. */
#ifndef LOULAN_BR_DLEDGER_H
#define LOULAN_BR_DLEDGER_H

#include "broker/core/core.h"

extern const br_subsys_t br_dledger_subsys;

/* Raft entry kinds: the first byte of every command entry. */
enum { BR_DL_RECORDS = 'R', BR_DL_TABLES = 'T' };

#endif
