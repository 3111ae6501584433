/* grpc/: the broker's RocketMQ 5.x gRPC endpoint (apache.rocketmq.v2.MessagingService) on the
 * broker's loop, served by the generic gRPC server of src/grpc on grpcServerPort when
 * enableGrpcServer is true (docs/grpc.md). Producers (SendMessage, EndTransaction, orphaned
 * transactions checked over Telemetry), consumers (on POP) and the clients' registration with
 * the broker's client registry are served; RecallMessage is answered with a Status that says it
 * is not served, the PULL-consumer RPCs with gRPC UNIMPLEMENTED, as the spec says.
 *
 * Sends go through the broker's own SEND_MESSAGE_V2 handler over a loopback remoting connection,
 * so retry, delay levels, timers, SYNC_FLUSH and slaves behave for gRPC producers exactly as for
 * 4.x ones. Loop thread only. */
#ifndef LOULAN_BR_GRPC_H
#define LOULAN_BR_GRPC_H
#include "broker/core/core.h"

extern const br_subsys_t br_grpc_subsys;

/* For the fuzz target and unit tests: the service's method table (decoding and validation
 * run without a broker when ctx is NULL: every call is answered with an error status). */
struct gp_method;
const struct gp_method *br_grpc_methods(size_t *n);
#endif
