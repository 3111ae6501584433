/* wire.c: the one file that knows every subsystem. It lists them for the core, as a program
 * plugs its raft_io into canonical raft: the core defines the seam (br_subsys_t, br_hooks_t in
 * core/core.h), each subsystem fills its hooks when it starts, and only this list says which
 * run. Order matters: start runs in this order (`late` ones first, see br_subsys_t); a
 * subsystem must not rely on another's being present, only on the core. */
#include "broker/broker.h"
#include "broker/core/core.h"
#include "broker/acl/acl.h"
#include "broker/clients/clients.h"
#include "broker/dledger/dledger.h"
#include "broker/grpc/grpc.h"
#include "broker/ha/ha.h"
#include "broker/pop/pop.h"
#include "broker/pull/pull.h"
#include "broker/schedule/schedule.h"
#include "broker/timer/timer.h"
#include "broker/trans/trans.h"

static const br_subsys_t *const k_subsys[] = {
    &br_acl_subsys,      /* access control: every request, before its handler (aclEnable) */
    &br_ha_subsys,       /* replication (late: starts first, stops after the listeners) */
    &br_dledger_subsys,  /* DLedger mode: a Raft group elects the master */
    &br_clients_subsys,  /* producers, consumers, queue locks, relays to clients */
    &br_pull_subsys,     /* PULL_MESSAGE and long polling */
    &br_trans_subsys,    /* transactions */
    &br_schedule_subsys, /* delay levels and CONSUMER_SEND_MSG_BACK */
    &br_timer_subsys,    /* timer messages */
    &br_grpc_subsys,     /* the RocketMQ 5.x gRPC endpoint (enableGrpcServer) */
    &br_pop_subsys,      /* POP consumption (POP_MESSAGE, ACK, CHANGE_INVISIBLETIME) */
};

int br_start(uv_loop_t *loop, const br_config_t *cfg, br_broker_t **out)
{
    return br_core_start(loop, cfg, k_subsys, sizeof k_subsys / sizeof k_subsys[0], out);
}
