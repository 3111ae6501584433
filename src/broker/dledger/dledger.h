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

/* The peer protocol's check (peerframe.c): canonical raft's TCP handshake and messages. */
enum { BR_DL_PF_APPEND_ENTRIES = 1, BR_DL_PF_APPEND_ENTRIES_RESULT, BR_DL_PF_REQUEST_VOTE, BR_DL_PF_REQUEST_VOTE_RESULT,
       BR_DL_PF_INSTALL_SNAPSHOT, BR_DL_PF_TIMEOUT_NOW };
enum { BR_DL_PF_HANDSHAKE, BR_DL_PF_ADDRESS, BR_DL_PF_PREAMBLE, BR_DL_PF_HEADER, BR_DL_PF_PAYLOAD };
#define BR_DL_PF_MAX_ENTRIES 65536          /* entries in one AppendEntries */
#define BR_DL_PF_MAX_PAYLOAD (256u << 20)   /* bytes after one header */
#define BR_DL_PF_MAX_ADDRESS 256
typedef struct br_dl_pf {
    int state;
    size_t need, have;          /* bytes of the handshake / preamble + header wanted, held */
    uint64_t left;              /* payload bytes still to pass */
    uint64_t id, term;          /* the connecting server; the term of the current message */
    uint8_t buf[16 + 48 + 16 * BR_DL_PF_MAX_ENTRIES];
} br_dl_pf_t;
typedef struct br_dl_pf_ops {
    int (*handshake)(void *arg, uint64_t id, const char *address); /* 0: a member, go on */
    int (*message)(void *arg, int type, uint64_t term);            /* 0: pass it (NULL: all) */
    int (*emit)(void *arg, const uint8_t *p, size_t n);           /* checked bytes for raft */
} br_dl_pf_ops_t;
void br_dl_pf_init(br_dl_pf_t *s);
/* Feed what the peer sent; checked messages go to ops->emit (the handshake is not passed on).
 * 0, or -1: close the connection. */
int br_dl_pf_feed(br_dl_pf_t *s, const uint8_t *p, size_t n, const br_dl_pf_ops_t *ops, void *arg);

#endif
