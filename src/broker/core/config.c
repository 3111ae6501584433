/* Broker configuration: RocketMQ's broker.conf keys and defaults (BrokerConfig,
 * MessageStoreConfig, NettyServerConfig). A bad value is a start-up error naming the key. */
#include "broker/broker.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/common.h"

void br_config_defaults(br_config_t *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->brokerClusterName, sizeof c->brokerClusterName, "DefaultCluster");
    char host[128] = "broker-a";
    gethostname(host, sizeof host - 1);
    snprintf(c->brokerName, sizeof c->brokerName, "%s", host);
    const char *ns = getenv("NAMESRV_ADDR");
    if (ns)
        snprintf(c->namesrvAddr, sizeof c->namesrvAddr, "%s", ns);
    c->listenPort = 10911;
    c->maxConnections = 10000;
    c->enableGrpcServer = 1;
    c->grpcServerPort = 8081;
    c->autoCreateTopicEnable = 1;
    c->autoCreateSubscriptionGroup = 1;
    c->defaultTopicQueueNums = 8;
    const char *home = getenv("HOME");
    snprintf(c->storePathRootDir, sizeof c->storePathRootDir, "%s/store", home ? home : ".");
    c->mappedFileSizeCommitLog = 1024LL * 1024 * 1024;
    c->mappedFileSizeConsumeQueue = 300000LL * 20;
    c->maxMessageSize = 4 * 1024 * 1024;
    c->flushIntervalCommitLog = 500;
    c->syncFlushTimeout = 5000;
    snprintf(c->brokerRole, sizeof c->brokerRole, "ASYNC_MASTER");
    c->haSendHeartbeatInterval = 5000;
    c->haHousekeepingInterval = 20000;
    c->haTransferBatchSize = 32 * 1024;
    c->haSlaveFallbehindMax = 256LL * 1024 * 1024;
    c->slaveTimeout = 3000;
    c->brokerPermission = 6;
    snprintf(c->deleteWhen, sizeof c->deleteWhen, "04");
    c->fileReservedTime = 72;
    c->diskMaxUsedSpaceRatio = 75;
    c->diskSpaceCleanForciblyRatio = 85;
    c->diskSpaceWarningLevelRatio = 90;
    c->cleanFileForciblyEnable = 1;
    c->cleanResourceInterval = 10000;
    c->flushCommitLogLeastPages = 4;
    c->flushCommitLogThoroughInterval = 10000;
    c->flushIntervalConsumeQueue = 1000;
    c->flushConsumeQueueLeastPages = 2;
    c->flushConsumeQueueThoroughInterval = 60000;
    c->messageIndexEnable = 1;
    c->transactionTimeOut = 6000;
    c->rebalanceLockMaxLiveTime = 60000;
    c->timerWheelEnable = 1;
    snprintf(c->metricsExporterType, sizeof c->metricsExporterType, "DISABLE");
    c->metricsPromExporterPort = 5557;
    c->timerMaxDelaySec = 259200;
    c->popPollingSize = 1024;
    c->maxPopPollingSize = 100000;
    c->reviveInterval = 1000;
    c->popJournalSnapshotMessages = 10000;
    snprintf(c->messageDelayLevel, sizeof c->messageDelayLevel, "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h");
    c->transactionCheckMax = 15;
    c->transactionCheckInterval = 60000;
    c->maxHashSlotNum = 5000000;
    c->maxIndexNum = 20000000;
    c->slowLoopThresholdMs = 100;
    c->longPollingEnable = 1;
    c->shortPollingTimeMills = 1000;
    c->notifyConsumerIdsChangedEnable = 1;
    c->registerNameServerPeriod = 30000;
    snprintf(c->regionId, sizeof c->regionId, "DefaultRegion");
    c->clusterTopicEnable = c->brokerTopicEnable = 1;
    snprintf(c->msgTraceTopicName, sizeof c->msgTraceTopicName, "RMQ_SYS_TRACE_TOPIC");
    const char *rmq_home = getenv("ROCKETMQ_HOME");
    if (rmq_home && strlen(rmq_home) < sizeof c->rocketmqHome)
        snprintf(c->rocketmqHome, sizeof c->rocketmqHome, "%s", rmq_home);
    c->aclAdminRequired = 1;
    c->dLegerElectionTimeoutMs = 800;
    c->dLegerSnapshotEntries = 1024;
}

int br_dledger_peers(const char *peers, br_peer_t *p, char *err, size_t errlen)
{
    int n = 0;
    const char *s = peers;
    while (*s) {
        const char *e = strchr(s, ';');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char item[160];
        if (len == 0 || len >= sizeof item || n == BR_DLEDGER_MAX_PEERS) {
            snprintf(err, errlen, "dLegerPeers: %s", n == BR_DLEDGER_MAX_PEERS ? "more than 9 peers" : "an empty or too long entry");
            return -1;
        }
        memcpy(item, s, len);
        item[len] = 0;
        char *dash = strchr(item, '-'), *colon = strrchr(item, ':'), *end;
        br_peer_t *q = &p[n];
        long port = colon ? strtol(colon + 1, &end, 10) : 0;
        if (!dash || !colon || colon < dash || (size_t)(dash - item) >= sizeof q->id ||
            (size_t)(colon - dash - 1) >= sizeof q->host || colon == dash + 1 || *end || port < 1 || port > 65535 ||
            !((item[0] >= 'a' && item[0] <= 'z') || (item[0] >= 'A' && item[0] <= 'Z'))) {
            snprintf(err, errlen, "dLegerPeers: '%s' is not <letter><number>-<host>:<port>", item);
            return -1;
        }
        *dash = 0;
        *colon = 0;
        long num = strtol(item + 1, &end, 10);
        if (item[1] == 0 || *end || num < 0 || num > 1000000) {
            snprintf(err, errlen, "dLegerPeers: the id '%s' is not a letter followed by a number", item);
            return -1;
        }
        snprintf(q->id, sizeof q->id, "%s", item);
        snprintf(q->host, sizeof q->host, "%s", dash + 1);
        q->num = (int)num;
        q->port = (int)port;
        for (int i = 0; i < n; i++)
            if (p[i].num == q->num || (p[i].port == q->port && strcmp(p[i].host, q->host) == 0)) {
                snprintf(err, errlen, "dLegerPeers: %s and %s have the same %s", p[i].id, q->id,
                         p[i].num == q->num ? "number" : "address");
                return -1;
            }
        n++;
        s += len + (e ? 1 : 0);
    }
    if (n == 0)
        snprintf(err, errlen, "dLegerPeers must list the group's members, like n0-host:port;n1-host:port;n2-host:port");
    return n ? n : -1;
}

/* DLedger keys: a consistent group, and nothing that would decide the role outside Raft. */
static int dledger_finish(br_config_t *c, char *err, size_t errlen)
{
    if (!c->enableDLegerCommitLog) {
        if (c->dLegerPeers[0] || c->dLegerSelfId[0] || c->dLegerGroup[0]) {
            snprintf(err, errlen, "%s is set but enableDLegerCommitLog is not true: set it, or remove the DLedger keys",
                     c->dLegerPeers[0] ? "dLegerPeers" : c->dLegerSelfId[0] ? "dLegerSelfId" : "dLegerGroup");
            return -1;
        }
        return 0;
    }
    br_peer_t p[BR_DLEDGER_MAX_PEERS];
    int n = br_dledger_peers(c->dLegerPeers, p, err, errlen);
    if (n < 0)
        return -1;
    if (!c->dLegerGroup[0]) {
        snprintf(err, errlen, "dLegerGroup must name the group (conventionally the brokerName)");
        return -1;
    }
    int self = -1;
    for (int i = 0; i < n; i++)
        if (strcmp(p[i].id, c->dLegerSelfId) == 0)
            self = i;
    if (self < 0) {
        snprintf(err, errlen, "dLegerSelfId '%s' is not one of the ids in dLegerPeers", c->dLegerSelfId);
        return -1;
    }
    char pref[256];
    snprintf(pref, sizeof pref, "%s", c->preferredLeaderId);
    for (char *sv, *t = strtok_r(pref, ";", &sv); t; t = strtok_r(NULL, ";", &sv)) {
        int found = 0;
        for (int i = 0; i < n; i++)
            found |= strcmp(p[i].id, t) == 0;
        if (!found) {
            snprintf(err, errlen, "preferredLeaderId '%s' is not one of the ids in dLegerPeers", t);
            return -1;
        }
    }
    if (strcmp(c->brokerRole, "SLAVE") == 0 || c->haMasterAddress[0]) {
        snprintf(err, errlen, "%s cannot be used with enableDLegerCommitLog=true: the group elects its master",
                 c->haMasterAddress[0] ? "haMasterAddress" : "brokerRole=SLAVE");
        return -1;
    }
    if (!c->storePathDLedgerCommitLog[0])
        snprintf(c->storePathDLedgerCommitLog, sizeof c->storePathDLedgerCommitLog, "%s/dledger-%s/raft",
                 c->storePathRootDir, c->dLegerSelfId);
    c->brokerId = p[self].num + 1; /* a follower's id until it leads (spec §6.8) */
    return 0;
}

typedef enum { T_STR, T_INT, T_BOOL } kind_t;
typedef struct {
    const char *key;
    kind_t kind;
    size_t off;
    size_t size;
    int64_t min, max;
} key_t_;

#define S(k) {#k, T_STR, offsetof(br_config_t, k), sizeof(((br_config_t *)0)->k), 0, 0}
#define I(k, lo, hi) {#k, T_INT, offsetof(br_config_t, k), sizeof(((br_config_t *)0)->k), lo, hi}
#define B(k) {#k, T_BOOL, offsetof(br_config_t, k), sizeof(int), 0, 1}
static const key_t_ k_keys[] = {
    B(enableGrpcServer), I(grpcServerPort, 0, 65535),
    S(brokerClusterName), S(brokerName), I(brokerId, 0, 1 << 20), S(namesrvAddr), S(brokerIP1),
    S(brokerIP2), I(listenPort, 3, 65535), I(maxConnections, 1, 1 << 24), I(haListenPort, 0, 65535), B(autoCreateTopicEnable),
    B(autoCreateSubscriptionGroup), I(defaultTopicQueueNums, 1, 1024), S(storePathRootDir),
    S(storePathCommitLog), I(mappedFileSizeCommitLog, 4096, 1LL << 40),
    I(mappedFileSizeConsumeQueue, 20, 1LL << 32), I(maxMessageSize, 1, 1LL << 30),
    I(flushIntervalCommitLog, 1, 1 << 30), I(syncFlushTimeout, 1, 1 << 30), S(brokerRole),
    I(brokerPermission, 0, 15), S(deleteWhen), I(fileReservedTime, 0, 1 << 20),
    I(diskMaxUsedSpaceRatio, 10, 95), I(diskSpaceCleanForciblyRatio, 10, 99),
    I(diskSpaceWarningLevelRatio, 10, 99), B(cleanFileForciblyEnable),
    I(cleanResourceInterval, 100, 1 << 30), I(flushCommitLogLeastPages, 0, 1 << 20),
    I(flushCommitLogThoroughInterval, 1, 1 << 30), I(flushIntervalConsumeQueue, 1, 1 << 30),
    I(flushConsumeQueueLeastPages, 0, 1 << 20), I(flushConsumeQueueThoroughInterval, 0, 1 << 30),
    B(messageIndexEnable), B(messageIndexSafe), I(transactionTimeOut, 0, 1LL << 40), I(transactionCheckMax, 1, 1 << 20),
    I(transactionCheckInterval, 10, 1LL << 40), S(messageDelayLevel),
    I(rebalanceLockMaxLiveTime, 100, 1LL << 40), B(timerWheelEnable), S(metricsExporterType),
    I(metricsPromExporterPort, 1, 65535), I(timerMaxDelaySec, 1, 31536000), I(popPollingSize, 1, 1 << 20), I(maxPopPollingSize, 1, 1 << 24), I(reviveInterval, 10, 3600000), I(popJournalSnapshotMessages, 1, 1LL << 40), I(maxHashSlotNum, 1, 100000000), I(maxIndexNum, 1, 100000000), I(slowLoopThresholdMs, 0, 3600000),
    B(longPollingEnable), I(shortPollingTimeMills, 1, 1 << 30), B(notifyConsumerIdsChangedEnable),
    I(registerNameServerPeriod, 10000, 60000), S(regionId), B(clusterTopicEnable),
    B(brokerTopicEnable), B(traceTopicEnable), S(msgTraceTopicName), B(aclEnable), S(rocketmqHome), B(aclAdminRequired), B(enablePropertyFilter), B(rejectTransactionMessage),
    S(haMasterAddress), I(haSendHeartbeatInterval, 100, 1 << 30), I(haHousekeepingInterval, 1000, 1 << 30),
    I(haTransferBatchSize, 1024, 1 << 26), I(haSlaveFallbehindMax, 0, 1LL << 40), I(slaveTimeout, 1, 1 << 30),
    B(slaveReadEnable), B(enableDLegerCommitLog), S(dLegerGroup), S(dLegerPeers), S(dLegerSelfId),
    S(preferredLeaderId), S(storePathDLedgerCommitLog), B(enableBatchPush), S(dLegerBindAddress),
    I(dLegerElectionTimeoutMs, 100, 60000), I(dLegerSnapshotEntries, 16, 1 << 24),
};

/* RocketMQ keys Loulan does not implement and whose silent omission would change what a
 * send's acknowledgement means, who may be master, or who may do what: refused at start, by
 * name, unless set to the value that changes nothing (RocketMQ's default). */
static const struct { const char *key, *harmless; } k_unsafe_keys[] = {
    {"enableControllerMode", "false"}, {"controllerAddr", ""}, {"allAckInSyncStateSet", "false"},
    {"inSyncReplicas", "1"}, {"minInSyncReplicas", "1"}, {"enableSlaveActingMaster", "false"},
    {"enableAutoInSyncReplicas", "false"}, {"totalReplicas", "1"}, {"transientStorePoolEnable", "false"},
    {"duplicationEnable", "false"}, {"enableDLegerCommitLogFastAck", "false"},
    /* RocketMQ 5's ACL 2.0 (users and policies): Loulan has 4.9's plain ACL (aclEnable) */
    {"authenticationEnabled", "false"}, {"authorizationEnabled", "false"},
};

/* innerClientAuthenticationCredentials: {"accessKey": ak, one of "secretKey": sk,
 * "secretKeyEnv": VAR, "secretKeyFile": path}. The file is read once, at start. */
static int inner_credentials(br_config_t *c, const char *json)
{
    lj_val_t *v = NULL;
    if (lj_parse(json, strlen(json), &v) != 0)
        v = NULL;
    const char *ak = lj_get_str(v, "accessKey", NULL);
    const char *sk = lj_get_str(v, "secretKey", NULL);
    const char *env = lj_get_str(v, "secretKeyEnv", NULL);
    const char *file = lj_get_str(v, "secretKeyFile", NULL);
    char buf[256] = "";
    if (!sk && env)
        sk = getenv(env);
    if (!sk && file) {
        FILE *f = fopen(file, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            buf[strcspn(buf, "\r\n")] = 0; /* one line; a trailing newline is not part of it */
            sk = buf;
        }
    }
    int rc = ak && sk && strlen(ak) > 6 && strlen(sk) > 6 && strlen(ak) < sizeof c->innerAccessKey &&
                     strlen(sk) < sizeof c->innerSecretKey ? 0 : -2;
    if (rc == 0) {
        snprintf(c->innerAccessKey, sizeof c->innerAccessKey, "%s", ak);
        snprintf(c->innerSecretKey, sizeof c->innerSecretKey, "%s", sk);
    }
    explicit_bzero(buf, sizeof buf);
    lj_free(v);
    return rc;
}

int br_config_set(br_config_t *c, const char *key, const char *val)
{
    if (strcmp(key, "innerClientAuthenticationCredentials") == 0)
        return inner_credentials(c, val);
    for (size_t i = 0; i < sizeof k_unsafe_keys / sizeof k_unsafe_keys[0]; i++)
        if (strcmp(key, k_unsafe_keys[i].key) == 0)
            return strcasecmp(val, k_unsafe_keys[i].harmless) == 0 ? 0 : -3;
    /* RocketMQ spelled it "maped" before 4.5.1; accept both. */
    if (strcmp(key, "mapedFileSizeCommitLog") == 0)
        key = "mappedFileSizeCommitLog";
    if (strcmp(key, "mapedFileSizeConsumeQueue") == 0)
        key = "mappedFileSizeConsumeQueue";
    if (strcmp(key, "flushDiskType") == 0) {
        if (strcmp(val, "SYNC_FLUSH") == 0)
            c->flushDiskSync = 1;
        else if (strcmp(val, "ASYNC_FLUSH") == 0)
            c->flushDiskSync = 0;
        else
            return -2;
        return 0;
    }
    for (size_t i = 0; i < sizeof k_keys / sizeof k_keys[0]; i++) {
        const key_t_ *k = &k_keys[i];
        if (strcmp(k->key, key) != 0)
            continue;
        char *p = (char *)c + k->off;
        int64_t v;
        int b;
        switch (k->kind) {
        case T_STR:
            if (strlen(val) >= k->size)
                return -2;
            snprintf(p, k->size, "%s", val);
            return 0;
        case T_INT:
            if (cm_parse_i64(val, &v) || v < k->min || v > k->max)
                return -2;
            if (k->size == sizeof(int))
                *(int *)p = (int)v;
            else
                *(int64_t *)p = v;
            return 0;
        case T_BOOL:
            if (cm_parse_bool(val, &b))
                return -2;
            *(int *)p = b;
            return 0;
        }
    }
    return -1;
}

/* RocketMQ's default brokerIP1 is the first non-loopback IPv4 address. */
static void first_ipv4(char *out, size_t n)
{
    struct ifaddrs *ifs, *i;
    snprintf(out, n, "127.0.0.1");
    if (getifaddrs(&ifs) != 0)
        return;
    for (i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        struct in_addr a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
        if ((ntohl(a.s_addr) >> 24) == 127)
            continue;
        inet_ntop(AF_INET, &a, out, (socklen_t)n);
        break;
    }
    freeifaddrs(ifs);
}

int br_config_finish(br_config_t *c, char *err, size_t errlen)
{
    c->delayLevelCount = br_parse_delay_levels(c->messageDelayLevel, c->delayLevelMs, 64);
    if (c->delayLevelCount <= 0) {
        snprintf(err, errlen, "messageDelayLevel must be up to 64 durations like \"1s 5s 1m 2h\", got '%s'",
                 c->messageDelayLevel);
        return -1;
    }
    if (!c->brokerIP1[0])
        first_ipv4(c->brokerIP1, sizeof c->brokerIP1);
    if (!c->brokerIP2[0])
        snprintf(c->brokerIP2, sizeof c->brokerIP2, "%s", c->brokerIP1);
    struct in_addr a;
    if (inet_pton(AF_INET, c->brokerIP1, &a) != 1) {
        snprintf(err, errlen, "brokerIP1 must be an IPv4 address, got '%s'", c->brokerIP1);
        return -1;
    }
    if (!c->haListenPort)
        c->haListenPort = c->listenPort + 1;
    if (!c->storePathCommitLog[0])
        snprintf(c->storePathCommitLog, sizeof c->storePathCommitLog, "%s/commitlog", c->storePathRootDir);
    if (strcmp(c->brokerRole, "ASYNC_MASTER") && strcmp(c->brokerRole, "SYNC_MASTER") && strcmp(c->brokerRole, "SLAVE")) {
        snprintf(err, errlen, "brokerRole must be ASYNC_MASTER, SYNC_MASTER or SLAVE, got '%s'", c->brokerRole);
        return -1;
    }
    if (dledger_finish(c, err, errlen))
        return -1;
    if (strcmp(c->brokerRole, "SLAVE") != 0 && c->brokerId != 0 && !c->enableDLegerCommitLog) {
        snprintf(err, errlen, "brokerId must be 0 for a %s", c->brokerRole);
        return -1;
    }
    if (!c->brokerName[0] || !c->brokerClusterName[0]) {
        snprintf(err, errlen, "brokerName and brokerClusterName must not be empty");
        return -1;
    }
    if (c->aclEnable && !c->rocketmqHome[0]) { /* RocketMQ would start and refuse every request */
        snprintf(err, errlen, "aclEnable=true needs rocketmqHome (or the ROCKETMQ_HOME environment variable): "
                              "the accounts are read from its conf/plain_acl.yml and conf/acl/");
        return -1;
    }
    return 0;
}

int br_config_format(const br_config_t *c, cm_buf_t *out)
{
    char line[1200];
    int err = 0;
    for (size_t i = 0; i < sizeof k_keys / sizeof k_keys[0]; i++) {
        const key_t_ *k = &k_keys[i];
        const char *p = (const char *)c + k->off;
        if (k->kind == T_STR && !*p)
            continue; /* unset, like Java's null fields, which its Properties leave out */
        if (k->kind == T_STR)
            snprintf(line, sizeof line, "%s=%s\n", k->key, p);
        else if (k->kind == T_BOOL)
            snprintf(line, sizeof line, "%s=%s\n", k->key, *(const int *)p ? "true" : "false");
        else
            snprintf(line, sizeof line, "%s=%lld\n", k->key,
                     k->size == sizeof(int) ? (long long)*(const int *)p : (long long)*(const int64_t *)p);
        err |= cm_buf_puts(out, line);
    }
    snprintf(line, sizeof line, "flushDiskType=%s\n", c->flushDiskSync ? "SYNC_FLUSH" : "ASYNC_FLUSH");
    err |= cm_buf_puts(out, line);
    return err ? -1 : 0;
}

void br_config_print(const br_config_t *c)
{
    cm_buf_t b;
    cm_buf_init(&b);
    if (br_config_format(c, &b) == 0)
        fwrite(b.data, 1, b.len, stdout);
    cm_buf_free(&b);
}

/* messageDelayLevel: "1s 5s 1m 2h" -> ms[] (br_config_finish; the schedule subsystem reads the result). */
int br_parse_delay_levels(const char *s, int64_t *ms, int max)
{
    int n = 0;
    while (*s) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        char *end;
        long long v = strtoll(s, &end, 10);
        int64_t unit;
        switch (*end) {
        case 's': unit = 1000; break;
        case 'm': unit = 60000; break;
        case 'h': unit = 3600000; break;
        case 'd': unit = 86400000; break;
        default: return -1;
        }
        if (end == s || v <= 0 || n >= max)
            return -1;
        ms[n++] = v * unit;
        s = end + 1;
        if (*s && *s != ' ')
            return -1;
    }
    return n > 0 ? n : -1;
}
