/* dl_int.h: what the files of dledger/ share. Not for other modules (dledger.h is). */
#ifndef LOULAN_BR_DL_INT_H
#define LOULAN_BR_DL_INT_H

#include <raft.h>
#include <raft/uv.h>

#include "broker/dledger/dledger.h"

typedef struct br_dledger {
    br_broker_t *b;
    struct raft raft;
    struct raft_io io;
    struct raft_fsm fsm;
    struct raft_uv_transport tcp;   /* canonical raft's TCP transport ... */
    struct raft_uv_transport guard; /* ... behind the member check (guard.c) */
    raft_uv_accept_cb accept_cb;
    uv_tcp_t peer_srv;          /* guard.c: incoming peer connections */
    int srv_on;
    struct dl_in *ins;          /* guard.c: open incoming connections */
    int raft_on, io_on, tcp_on, handles_on;
    br_peer_t peers[BR_DLEDGER_MAX_PEERS];
    int npeers, self;
    raft_id preferred[BR_DLEDGER_MAX_PEERS];
    int npreferred;
    int64_t applied;            /* commit-log end of the committed entries applied here */
    int64_t proposed;           /* leader: commit-log end handed to Raft */
    int inflight;               /* leader: record entries handed to Raft, not yet applied */
    int leading;                /* the broker acts as master (Raft leader, barrier passed) */
    int barrier_pending, transferring, broken;
    struct raft_barrier barrier;
    struct raft_transfer transfer;
    uv_prepare_t prepare;       /* proposes what the loop turn wrote */
    uv_timer_t tick;            /* roles, tables, preferred leader */
    uint64_t tables_at, preferred_at, warned_at;
    uv_close_cb stopped;
    struct dl_tables *tables;   /* tables.c: what was last replicated */
    /* snapshot.c: a follower given a snapshot beyond its commit log fetches the missing bytes
     * from the master; entries committed meanwhile wait in order */
    char master[128];           /* the group's master broker, from the name server's answers */
    int64_t fetch_to;           /* commit-log end the snapshot promised; 0: not fetching */
    int fetch_busy;
    rm_conn_t *fetch_conn;
    struct dl_pend *pend_head, *pend_tail;
    size_t pend_bytes;
} br_dledger_t;

/* dledger.c */
int br_dl_apply_entry(br_dledger_t *d, const br_dl_entry_t *e); /* 0, or -1: cannot follow */
int br_dl_propose(br_dledger_t *d, int kind, int64_t off, const void *data, size_t len);
int br_dl_transfer(br_dledger_t *d, raft_id id); /* 0 or a RAFT_* error */

/* guard.c: canonical raft's TCP transport, refusing connections from anyone but the peers */
int br_dl_guard_init(br_dledger_t *d);
void br_dl_guard_close(br_dledger_t *d);
/* After raft_start: the configuration in the Raft log is the one dLegerPeers gives. */
int br_dl_check_members(br_dledger_t *d);
/* 1 if dir holds a Raft log (metadata files). */
int br_dl_has_raft_data(const char *dir);

/* tables.c: topics, groups, consumer offsets and delay progress through Raft */
void br_dl_tables_tick(br_dledger_t *d);    /* leader: propose what changed */
void br_dl_tables_mark(br_dledger_t *d);    /* a new leader: note what it has as replicated */
void br_dl_tables_apply(br_dledger_t *d, const char *json, size_t len); /* follower */
void br_dl_tables_free(br_dledger_t *d);
int br_dl_tables_all(br_dledger_t *d, cm_buf_t *out); /* every table, as one tables entry */

/* snapshot.c: canonical raft compacts its log every dLegerSnapshotEntries entries (keeping as
 * many); a snapshot is the applied commit-log end and the tables, not the records themselves */
int br_dl_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n);
int br_dl_restore(struct raft_fsm *fsm, struct raft_buffer *buf);
int br_dl_pend(br_dledger_t *d, const br_dl_entry_t *e); /* while fetching: keep for later */
void br_dl_fetch_tick(br_dledger_t *d);
void br_dl_fetch_stop(br_dledger_t *d);
void br_dl_master_known(br_broker_t *b, const char *masterAddr, const char *haAddr);
void br_dl_handle_fetch(rm_conn_t *c, rm_cmd_t *req, void *ctx);

/* admin.c: LEADERSHIP_TRANSFER on the broker port, and the peers' commit-log fetch */
extern const rm_handler_t br_dl_handlers[];
#define BR_DL_NHANDLERS 2
#define BR_DL_LEADERSHIP_TRANSFER 51005
#define BR_DL_FETCH 51010       /* Loulan's own: committed commit-log bytes from an offset */

#endif
