/* broker: the message broker (`mqbroker`). Request handlers for producers, consumers and
 * admin tools on top of the store; registration with the name servers; topic, group and offset
 * tables persisted as RocketMQ's config/<name>.json files.
 * Everything runs on the loop thread given to br_start (the store's flush thread is its own). */
#ifndef LOULAN_BROKER_H
#define LOULAN_BROKER_H

#include <stdint.h>
#include <uv.h>

#include "common/common.h"

typedef struct br_config {
    char brokerClusterName[128];
    char brokerName[128];
    int64_t brokerId;
    char namesrvAddr[1024];     /* "host:port;host:port" */
    char brokerIP1[64];
    char brokerIP2[64];
    int listenPort;             /* 10911; VIP port = listenPort - 2, HA port = listenPort + 1 */
    int maxConnections;         /* Loulan's own key: accepted connections open at once (10000) */
    int enableGrpcServer;       /* the RocketMQ 5.x gRPC endpoint (grpc/, docs/grpc.md): true */
    int grpcServerPort;         /* its port, 8081 as Apache's proxy; 0 = any free port */
    int haListenPort;
    int autoCreateTopicEnable;
    int autoCreateSubscriptionGroup;
    int defaultTopicQueueNums;
    char storePathRootDir[1024];
    char storePathCommitLog[1024];
    int64_t mappedFileSizeCommitLog;
    int64_t mappedFileSizeConsumeQueue;
    int64_t maxMessageSize;
    int flushDiskSync;          /* flushDiskType=SYNC_FLUSH */
    int64_t flushIntervalCommitLog;
    int64_t syncFlushTimeout;
    char brokerRole[32];        /* ASYNC_MASTER, SYNC_MASTER, SLAVE */
    char haMasterAddress[128];  /* a slave's master HA address, else the name server's answer */
    int64_t haSendHeartbeatInterval, haHousekeepingInterval, haTransferBatchSize;
    int64_t haSlaveFallbehindMax, slaveTimeout; /* SYNC_MASTER: how far a slave may lag; wait */
    int slaveReadEnable;        /* pulls that lag behind the page cache are sent to a slave */
    int brokerPermission;
    char deleteWhen[64];        /* hours that may delete expired files: "04" or "04;16" */
    int64_t fileReservedTime;   /* hours */
    int64_t diskMaxUsedSpaceRatio, diskSpaceCleanForciblyRatio, diskSpaceWarningLevelRatio;
    int cleanFileForciblyEnable;
    int64_t cleanResourceInterval;
    int64_t flushCommitLogLeastPages, flushCommitLogThoroughInterval, flushIntervalConsumeQueue;
    int64_t flushConsumeQueueLeastPages, flushConsumeQueueThoroughInterval;
    int messageIndexEnable;
    int messageIndexSafe;         /* 0 = RocketMQ's default: see st_config_t */
    int64_t maxHashSlotNum, maxIndexNum;
    int64_t slowLoopThresholdMs;    /* Loulan's own key: log a loop iteration busy this long (100; 0 = off) */
    int longPollingEnable;
    int64_t shortPollingTimeMills;
    int notifyConsumerIdsChangedEnable;
    int64_t registerNameServerPeriod;
    char regionId[64];
    int clusterTopicEnable, brokerTopicEnable, traceTopicEnable;
    char msgTraceTopicName[128];
    /* plain ACL (acl spec §1): accounts in <rocketmqHome>/conf/plain_acl.yml and conf/acl/ */
    int aclEnable;
    char rocketmqHome[1024];        /* default: the ROCKETMQ_HOME environment variable */
    int aclAdminRequired;           /* Loulan's own key: the ACL admin requests 50-53 need an
                                     * admin account (true); RocketMQ let any signed user in */
    /* innerClientAuthenticationCredentials (RocketMQ 5's key, JSON {"accessKey","secretKey"};
     * Loulan also takes "secretKeyEnv" or "secretKeyFile" instead of the secret itself): the
     * broker signs what it sends to name servers and its master with them, and its HA link
     * proves it has them. Never printed (br_config_format leaves it out). */
    char innerAccessKey[128];
    char innerSecretKey[256];    /* the trace topic traceTopicEnable creates (RMQ_SYS_TRACE_TOPIC) */
    char configFile[1024];      /* the -c file (not a key): UPDATE_BROKER_CONFIG writes there */
    int enablePropertyFilter;
    int rejectTransactionMessage;
    int64_t transactionTimeOut, transactionCheckMax, transactionCheckInterval;
    char messageDelayLevel[512];    /* "1s 5s 10s 30s 1m ... 2h" */
    int64_t delayLevelMs[64];       /* parsed from messageDelayLevel by br_config_finish */
    int delayLevelCount;
    int64_t rebalanceLockMaxLiveTime;
    int timerWheelEnable;           /* 5.x timer messages (true) */
    char metricsExporterType[16];   /* DISABLE (default) or PROM */
    int64_t metricsPromExporterPort;/* 5557 */
    int64_t timerMaxDelaySec;       /* 259200 (3 days) */
    /* POP (pop/): parked receives per (topic, group) and in all (1024, 100000), how often
     * invisible times are checked for redelivery (reviveInterval, 1000 ms) */
    int64_t popPollingSize, maxPopPollingSize, reviveInterval;
    int64_t popJournalSnapshotMessages; /* Loulan's own key: the POP journal is written again in
                                     * full (and replays start there) after this many messages */
    /* DLedger mode (spec §6.1): a Raft group of brokers elects its master */
    int enableDLegerCommitLog;
    char dLegerGroup[128];
    char dLegerPeers[1024];         /* "n0-host:port;n1-host:port;..." */
    char dLegerSelfId[32];
    char preferredLeaderId[256];    /* ";"-separated peer ids */
    char storePathDLedgerCommitLog[1024]; /* the Raft log's directory (<root>/dledger-<selfId>) */
    int enableBatchPush;            /* accepted: Raft batches appends by itself */
    char dLegerBindAddress[128];    /* Loulan's own key: listen here when peers dial another
                                     * address for this node (a proxy, NAT); default: own peer */
    int64_t dLegerSnapshotEntries;  /* Loulan's own key: the Raft log is compacted every this many
                                     * entries, keeping as many (1024); bounds its memory */
    int64_t dLegerElectionTimeoutMs;/* Loulan's own key: a follower without a leader for this
                                     * (randomised up to twice) stands for election (800) */   /* queue locks of orderly consumers expire (60000 ms) */
} br_config_t;

typedef struct br_broker br_broker_t;

void br_config_defaults(br_config_t *cfg);
/* "1s 5s 1m 2h" -> ms[]; the count, or -1 if malformed (units s, m, h, d). */
int br_parse_delay_levels(const char *s, int64_t *ms, int max);
/* Apply one key=value with RocketMQ's key names. 0, -1 unknown key (caller logs), -2 bad value. */
int br_config_set(br_config_t *cfg, const char *key, const char *val);
/* Checks relations between values after loading; fills derived ones (paths, IP, ports).
 * Writes a message for the first problem into err and returns -1. */
int br_config_finish(br_config_t *cfg, char *err, size_t errlen);
void br_config_print(const br_config_t *cfg);
/* Every key as "key=value\n" lines, RocketMQ's Properties text (GET_BROKER_CONFIG). */
int br_config_format(const br_config_t *cfg, cm_buf_t *out);

/* One member of dLegerPeers: "n0-127.0.0.1:40911" is id "n0", number 0, host, port. */
#define BR_DLEDGER_MAX_PEERS 9
typedef struct br_peer {
    char id[32];
    int num;                    /* the integer after the id's letter: broker id num + 1 */
    char host[64];
    int port;
} br_peer_t;
/* Parse dLegerPeers into p[BR_DLEDGER_MAX_PEERS]; the count, or -1 with the problem in err. */
int br_dledger_peers(const char *peers, br_peer_t *p, char *err, size_t errlen);

int br_start(uv_loop_t *loop, const br_config_t *cfg, br_broker_t **out);
/* Clean shutdown: unregister from name servers, persist tables, close the store; the loop
 * then ends when every handle is closed. */
void br_stop(br_broker_t *b);

#endif
