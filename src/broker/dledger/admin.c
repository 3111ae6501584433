/* admin.c: LEADERSHIP_TRANSFER (DLedger's code 51005, spec §6.10) on the broker's port: the
 * leader hands the leadership to `transfereeId` (a dLegerPeers id) once that peer has caught up.
 * Answered when the hand-over has started; mqadmin then watches the name server's routes. */
#include <stdio.h>
#include <string.h>

#include "broker/dledger/dl_int.h"

static void respond(rm_conn_t *c, rm_cmd_t *req, int code, const char *remark)
{
    rm_cmd_t resp;
    rm_cmd_init(&resp, code);
    if (remark)
        rm_cmd_set_remark(&resp, "%s", remark);
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
}

static void handle_transfer(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    br_dledger_t *d = b->dledger;
    char remark[256];
    if (!d) {
        respond(c, req, RC_REQUEST_CODE_NOT_SUPPORTED, "this broker is not in DLedger mode (enableDLegerCommitLog)");
        return;
    }
    const char *to = rm_ext_get(req, "transfereeId");
    int target = -1;
    for (int i = 0; to && i < d->npeers; i++)
        if (strcmp(d->peers[i].id, to) == 0)
            target = i;
    if (target < 0) {
        snprintf(remark, sizeof remark, "transfereeId '%s' is not a member of group %s", to ? to : "",
                 b->cfg.dLegerGroup);
        respond(c, req, RC_SYSTEM_ERROR, remark);
        return;
    }
    if (target == d->self && d->leading) {
        respond(c, req, RC_SUCCESS, "already the leader");
        return;
    }
    int rc = br_dl_transfer(d, (raft_id)d->peers[target].num + 1);
    if (rc != 0) {
        snprintf(remark, sizeof remark, "%s cannot hand over the leadership: %s",
                 d->peers[d->self].id, rc == RAFT_NOTLEADER ? "it is not the leader (or a hand-over is under way)"
                                                            : raft_strerror(rc));
        respond(c, req, RC_SYSTEM_ERROR, remark);
        return;
    }
    respond(c, req, RC_SUCCESS, NULL);
}

const rm_handler_t br_dl_handlers[BR_DL_NHANDLERS] = {{BR_DL_LEADERSHIP_TRANSFER, handle_transfer},
                                                     {BR_DL_FETCH, br_dl_handle_fetch}};
