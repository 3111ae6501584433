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

/* A Raft command entry of Loulan's: kind (1 byte), 3 zero bytes, payload length (4), commit-log
 * offset (8; records only), the payload, zeros to a multiple of 8 bytes (canonical raft 0.15
 * reloads payloads of other lengths misplaced). Big-endian. */
#define BR_DL_HDR 16
typedef struct br_dl_entry {
    int kind;
    int64_t offset;
    const uint8_t *payload;
    size_t len;
} br_dl_entry_t;
/* Decode an entry as it arrives from Raft (any bytes: a peer's). 0, or -1 if it is not one. */
int br_dl_entry_decode(const uint8_t *p, size_t n, br_dl_entry_t *e);
/* Call fn for each whole record of a commit-log chunk (its topic NUL-terminated, its queue);
 * stops at a blank (end of file) or at anything that is not a record. How many records. */
int br_dl_records_each(const uint8_t *p, size_t len, void (*fn)(void *arg, const char *topic, int qid), void *arg);

#endif
