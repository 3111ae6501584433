/* Broker start-up and life cycle: store and config tables, the main and VIP listeners, the
 * handler registry (the core's table plus each subsystem's), the register timer (every 30 s;
 * registration itself is register.c), the core's periodic jobs (stats, disk
 * clean-up, config persistence) and starting and stopping the subsystems wire.c names. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/core/core.h"

/* ---- handler registry ---- */

/* The core's own requests; each subsystem brings its table (br_subsys_t.handlers) and
 * assemble_handlers joins them at start. */
static const rm_handler_t k_handlers[] = {
    {10, br_handle_send_message},
    {12, br_handle_query_message},
    {14, br_handle_query_consumer_offset},
    {15, br_handle_update_consumer_offset},
    {17, br_handle_update_and_create_topic},
    {21, br_handle_get_all_topic_config},
    {25, br_handle_update_broker_config},
    {26, br_handle_get_broker_config},
    {28, br_handle_get_broker_runtime_info},
    {29, br_handle_search_offset_by_timestamp},
    {30, br_handle_get_max_offset},
    {31, br_handle_get_min_offset},
    {32, br_handle_get_earliest_msg_storetime},
    {33, br_handle_view_message_by_id},
    {43, br_handle_get_all_consumer_offset},
    {45, br_handle_get_all_delay_offset},
    {200, br_handle_update_and_create_subscriptiongroup},
    {201, br_handle_get_all_subscriptiongroup_config},
    {202, br_handle_get_topic_stats_info},
    {207, br_handle_delete_subscriptiongroup},
    {208, br_handle_get_consume_stats},
    {215, br_handle_delete_topic_in_broker},
    {222, br_handle_invoke_broker_to_reset_offset},
    {300, br_handle_query_topic_consume_by_who},
    {303, br_handle_query_consume_time_span},
    {305, br_handle_get_system_topic_list},
    {306, br_handle_clean_expired_consumequeue},
    {314, br_handle_clone_group_offset},
    {310, br_handle_send_message},
    {315, br_handle_view_broker_stats_data},
    {316, br_handle_clean_unused_topic},
    {317, br_handle_get_broker_consume_stats},
    {320, br_handle_send_message},
    {321, br_handle_query_consume_queue},
    {329, br_handle_delete_expired_commitlog},
};
#define NCORE (sizeof k_handlers / sizeof k_handlers[0])

/* One table from code to handler (the core's, then each subsystem's), and the VIP port's: the
 * same but PULL_MESSAGE, as RocketMQ's fast channel. */
static int assemble_handlers(br_broker_t *b)
{
    size_t n = NCORE;
    for (size_t i = 0; i < b->nsubsys; i++)
        n += b->subsys[i]->nhandlers;
    b->handlers = malloc(n * sizeof *b->handlers);
    b->vip_handlers = malloc(n * sizeof *b->vip_handlers);
    if (!b->handlers || !b->vip_handlers)
        return CM_ENOMEM;
    memcpy(b->handlers, k_handlers, sizeof k_handlers);
    size_t at = NCORE;
    for (size_t i = 0; i < b->nsubsys; i++) {
        if (b->subsys[i]->nhandlers) /* timer and ha answer no request */
            memcpy(b->handlers + at, b->subsys[i]->handlers, b->subsys[i]->nhandlers * sizeof *b->handlers);
        at += b->subsys[i]->nhandlers;
    }
    size_t nvip = 0;
    for (size_t i = 0; i < n; i++)
        if (b->handlers[i].code != 11)
            b->vip_handlers[nvip++] = b->handlers[i];
    b->ep.handlers = b->handlers;
    b->ep.nhandlers = n;
    b->ep_vip = b->ep;
    b->ep_vip.handlers = b->vip_handlers;
    b->ep_vip.nhandlers = nvip;
    return 0;
}

static void on_client_closed(rm_conn_t *c, void *ctx)
{
    br_broker_t *b = ctx;
    if (b->hooks.conn_closed)
        b->hooks.conn_closed(b, c);
}

/* ---- loop timing (core.h, br_looptime_t) ---- */

/* What the loop does from now on (NULL: nothing we can name); the activity it ends is charged
 * its time, and the longest of the iteration is kept for the slow-iteration line. */
static void loop_mark(br_broker_t *b, const char *what, int32_t code)
{
    br_looptime_t *lt = &b->looptime;
    if (!lt->on)
        return;
    uint64_t now = st_now_ns();
    if (lt->what && now - lt->whatAt > lt->worstNs) {
        lt->worstNs = now - lt->whatAt;
        lt->worstWhat = lt->what;
        lt->worstCode = lt->code;
    }
    lt->what = what;
    lt->code = code;
    lt->whatAt = now;
}

static const char *code_name(int32_t code)
{
    switch (code) {
    case 10: return " SEND_MESSAGE";
    case 310: return " SEND_MESSAGE_V2";
    case 320: return " SEND_BATCH_MESSAGE";
    case 11: return " PULL_MESSAGE";
    case 34: return " HEART_BEAT";
    case 17: return " UPDATE_AND_CREATE_TOPIC";
    case 12: return " QUERY_MESSAGE";
    case 15: return " UPDATE_CONSUMER_OFFSET";
    default: return "";
    }
}

static void store_phase_sums(br_broker_t *b, uint64_t out[3])
{
    const st_phase_stats_t *ps = b->store ? st_phase_stats(b->store) : NULL;
    for (int i = 0; i < 3; i++)
        out[i] = ps ? __atomic_load_n(&st_phase_hist(ps, i)->sumNs, __ATOMIC_RELAXED) : 0;
}

static void slow_iteration(br_broker_t *b, uint64_t busy, uint64_t now)
{
    br_looptime_t *lt = &b->looptime;
    uint64_t sums[3];
    lt->slow++;
    if (lt->lastLogNs && now - lt->lastLogNs < 1000000000ull) { /* at most one line a second */
        lt->unlogged++;
        return;
    }
    store_phase_sums(b, sums);
    char worst[96] = "nothing named (I/O callbacks or a subsystem's timer)";
    if (lt->worstWhat && lt->worstCode >= 0)
        snprintf(worst, sizeof worst, "%s code %d%s, %.1f ms", lt->worstWhat, lt->worstCode, code_name(lt->worstCode),
                 (double)lt->worstNs / 1e6);
    else if (lt->worstWhat)
        snprintf(worst, sizeof worst, "%s, %.1f ms", lt->worstWhat, (double)lt->worstNs / 1e6);
    LOG_W("broker", "slow loop iteration: %.1f ms busy (slowLoopThresholdMs=%lld); longest: %s; %u request(s); "
          "store puts in it: append %.1f ms, consume queue %.1f ms, index %.1f ms%s",
          (double)busy / 1e6, (long long)b->cfg.slowLoopThresholdMs, worst, lt->requests,
          (double)(sums[0] - lt->phaseAt[0]) / 1e6, (double)(sums[1] - lt->phaseAt[1]) / 1e6,
          (double)(sums[2] - lt->phaseAt[2]) / 1e6, lt->unlogged ? " (and earlier slow iterations not logged)" : "");
    lt->unlogged = 0;
    lt->lastLogNs = now;
}

/* The loop is about to poll: the iteration that began when the last poll returned is over. */
static void on_loop_prepare(uv_prepare_t *h)
{
    br_broker_t *b = h->data;
    br_looptime_t *lt = &b->looptime;
    uint64_t now = st_now_ns(), idle = uv_metrics_idle_time(b->loop);
    if (lt->pollAt) {
        uint64_t total = now - lt->pollAt, slept = idle - lt->idleAt;
        uint64_t busy = total > slept ? total - slept : 0;
        loop_mark(b, NULL, 0);
        st_hist_add(&lt->iter, busy);
        if (b->cfg.slowLoopThresholdMs > 0 && busy >= (uint64_t)b->cfg.slowLoopThresholdMs * 1000000ull)
            slow_iteration(b, busy, now);
    }
    lt->what = lt->worstWhat = NULL;
    lt->worstNs = 0;
    lt->requests = 0;
    store_phase_sums(b, lt->phaseAt);
    lt->pollAt = st_now_ns();
    lt->idleAt = uv_metrics_idle_time(b->loop);
}

static void loop_time_start(br_broker_t *b)
{
    br_looptime_t *lt = &b->looptime;
    if (uv_loop_configure(b->loop, UV_METRICS_IDLE_TIME) != 0 || uv_prepare_init(b->loop, &lt->prepare) != 0) {
        LOG_W("broker", "no loop iteration timing (libuv without idle-time metrics)");
        return;
    }
    lt->prepare.data = b;
    uv_prepare_start(&lt->prepare, on_loop_prepare);
    uv_unref((uv_handle_t *)&lt->prepare);
    lt->on = 1;
}

/* Every request passes here before its handler: it starts the activity "request <code>". */
static int timed_admit(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    loop_mark(b, "request", req->code);
    b->looptime.requests++;
    return br_admit(c, req, ctx);
}

/* ---- timers ---- */

static void on_register_timer(uv_timer_t *t)
{
    loop_mark(t->data, "timer register (name-server registration)", -1);
    br_register_all(t->data, 0);
    loop_mark(t->data, NULL, 0);
}

static void on_stats_timer(uv_timer_t *t)
{
    loop_mark(t->data, "timer stats", -1);
    br_stats_sample(t->data);
    loop_mark(t->data, NULL, 0);
}

static void on_clean_timer(uv_timer_t *t)
{
    br_broker_t *b = t->data;
    st_clean_report_t r;
    loop_mark(b, "timer clean (retention)", -1);
    if (b->store)
        st_clean(b->store, cm_now_ms(), &r);
    loop_mark(b, NULL, 0);
}

static void system_topics(br_broker_t *b)
{
    const br_config_t *c = &b->cfg;
    int rw = PERM_READ | PERM_WRITE;
    if (c->autoCreateTopicEnable && !br_topics_get(&b->topics, "TBW102"))
        br_topics_put(&b->topics, "TBW102", c->defaultTopicQueueNums, c->defaultTopicQueueNums, rw | PERM_INHERIT, 0);
    else if (!c->autoCreateTopicEnable && br_topics_get(&b->topics, "TBW102"))
        br_topics_get(&b->topics, "TBW102")->perm = rw; /* no inheritance without auto-create */
    struct { const char *name; int q, perm; } sys[] = {
        {"SELF_TEST_TOPIC", 1, rw}, {"OFFSET_MOVED_EVENT", 1, rw}, {"SCHEDULE_TOPIC_XXXX", c->delayLevelCount, rw},
        /* RocketMQ's benchmark tools send here by default; 4.9.5 makes it with 1024 queues at
         * every start whatever autoCreateTopicEnable says (spec store-and-cluster §7.11, remoting-protocol §8.2), so they
         * measure 1024 queues on both brokers. A topics.json entry (an operator's change) wins. */
        {"BenchmarkTest", 1024, rw},
        {BR_UNDELIVERABLE_TOPIC, 1, PERM_READ},
        {c->brokerClusterName, 16, c->clusterTopicEnable ? rw | PERM_INHERIT : PERM_INHERIT},
        {c->brokerName, 1, c->brokerTopicEnable ? rw | PERM_INHERIT : PERM_INHERIT},
    };
    for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
        if (!br_topics_get(&b->topics, sys[i].name))
            br_topics_put(&b->topics, sys[i].name, sys[i].q, sys[i].q, sys[i].perm, 0);
    /* message trace (acl spec §5.3): 1 queue, read-write, registered like any topic */
    if (c->traceTopicEnable && !br_topics_get(&b->topics, c->msgTraceTopicName) && !br_topic_name_error(c->msgTraceTopicName))
        br_topics_put(&b->topics, c->msgTraceTopicName, 1, 1, rw, 0);
    char reply[200];
    snprintf(reply, sizeof reply, "%s_REPLY_TOPIC", c->brokerClusterName);
    if (!br_topics_get(&b->topics, reply) && strlen(reply) < 128)
        br_topics_put(&b->topics, reply, 1, 1, rw, 0);
}

static int open_tables(br_broker_t *b)
{
    char dir[1100], path[1200];
    snprintf(dir, sizeof dir, "%s/config", b->cfg.storePathRootDir);
    if (cm_mkdirs(dir)) {
        LOG_E("broker", "cannot create %s", dir);
        return -1;
    }
    snprintf(path, sizeof path, "%s/topics.json", dir);
    br_topics_load(&b->topics, path);
    snprintf(path, sizeof path, "%s/consumerOffset.json", dir);
    br_offsets_load(&b->offsets, path);
    snprintf(path, sizeof path, "%s/subscriptionGroup.json", dir);
    br_groups_load(&b->groups, path);
    system_topics(b);
    return 0;
}

static int open_store(br_broker_t *b)
{
    st_config_t sc;
    st_config_default(&sc);
    sc.storePathRootDir = b->cfg.storePathRootDir;
    sc.storePathCommitLog = b->cfg.storePathCommitLog;
    sc.mappedFileSizeCommitLog = (uint64_t)b->cfg.mappedFileSizeCommitLog;
    sc.mappedFileSizeConsumeQueue = (uint64_t)b->cfg.mappedFileSizeConsumeQueue;
    sc.maxMessageSize = (uint32_t)b->cfg.maxMessageSize;
    sc.flushDiskType = b->cfg.flushDiskSync ? ST_SYNC_FLUSH : ST_ASYNC_FLUSH;
    sc.flushIntervalCommitLog = (int)b->cfg.flushIntervalCommitLog;
    sc.flushCommitLogLeastPages = (int)b->cfg.flushCommitLogLeastPages;
    sc.flushCommitLogThoroughInterval = (int)b->cfg.flushCommitLogThoroughInterval;
    sc.flushIntervalConsumeQueue = (int)b->cfg.flushIntervalConsumeQueue;
    sc.flushConsumeQueueLeastPages = (int)b->cfg.flushConsumeQueueLeastPages;
    sc.flushConsumeQueueThoroughInterval = (int)b->cfg.flushConsumeQueueThoroughInterval;
    sc.fileReservedTime = (int)b->cfg.fileReservedTime;
    sc.deleteWhen = b->cfg.deleteWhen;
    sc.diskMaxUsedSpaceRatio = (int)b->cfg.diskMaxUsedSpaceRatio;
    sc.cleanFileForciblyEnable = b->cfg.cleanFileForciblyEnable;
    sc.diskSpaceCleanForciblyRatio = (int)b->cfg.diskSpaceCleanForciblyRatio;
    sc.diskSpaceWarningLevelRatio = (int)b->cfg.diskSpaceWarningLevelRatio;
    sc.messageIndexEnable = b->cfg.messageIndexEnable;
    sc.messageIndexSafe = b->cfg.messageIndexSafe;
    sc.delayLevelMs = b->cfg.delayLevelMs; /* lives in b: outlives the store */
    sc.delayLevelCount = b->cfg.delayLevelCount;
    sc.maxHashSlotNum = (int32_t)b->cfg.maxHashSlotNum;
    sc.maxIndexNum = (int32_t)b->cfg.maxIndexNum;
    sc.slave = br_is_slave(b);
    br_flushwait_init(b, &sc);
    sc.storeHostIp = b->store_ip;
    sc.storeHostPort = b->cfg.listenPort;
    int rc = st_store_open(&sc, &b->store);
    if (rc)
        LOG_E("broker", "cannot open the store under %s (error %d)", b->cfg.storePathRootDir, rc);
    return rc;
}

/* After a crash, a topic whose consume queues hold messages but which the topic table lacks:
 * its config was to be written after the messages (config files are coalesced off the loop)
 * and the broker was killed in between. (After a clean stop every config is on disk, so such
 * queues are what an operator left behind on purpose, for cleanUnusedTopic.) The store is the truth: the topic comes back with as many queues as it
 * used, so its messages stay visible and due delayed ones still have a destination. */
typedef struct lost { br_broker_t *b; char (*name)[128]; int *queues; size_t n, cap; } lost_t;

static void find_lost(void *arg, const char *topic, int32_t qid, int64_t mn, int64_t mx)
{
    lost_t *l = arg;
    (void)mn;
    if (mx <= 0 || br_topics_get(&l->b->topics, topic) || br_topic_name_error(topic) ||
        br_topic_is_system_forbidden(topic) || qid < 0 || qid >= 1024)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->name[i], topic) == 0) {
            if (qid >= l->queues[i])
                l->queues[i] = qid + 1;
            return;
        }
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        void *nn = realloc(l->name, nc * sizeof *l->name), *nq = nn ? realloc(l->queues, nc * sizeof *l->queues) : NULL;
        if (nn)
            l->name = nn;
        if (!nq)
            return;
        l->queues = nq;
        l->cap = nc;
    }
    snprintf(l->name[l->n], sizeof l->name[0], "%s", topic);
    l->queues[l->n++] = qid + 1;
}

static void restore_lost_topics(br_broker_t *b)
{
    lost_t l = {b, NULL, NULL, 0, 0};
    st_queue_each(b->store, find_lost, &l); /* few lost topics: the inner search stays small */
    for (size_t i = 0; i < l.n; i++) {
        LOG_W("broker", "topic %s has stored messages but no config (lost in an unclean stop?): restored with %d "
                        "queue(s)", l.name[i], l.queues[i]);
        br_topics_put(&b->topics, l.name[i], l.queues[i], l.queues[i], PERM_READ | PERM_WRITE, 0);
    }
    free(l.name);
    free(l.queues);
}

static void start_timer(br_broker_t *b, uv_timer_t *t, uv_timer_cb cb, uint64_t first, uint64_t every)
{
    uv_timer_init(b->loop, t);
    t->data = b;
    uv_timer_start(t, cb, first, every);
    b->timers_open++;
}

/* Start the subsystems that start before the store-dependent jobs (all but the late ones), or
 * the late ones; wire.c's order. */
static int start_subsystems(br_broker_t *b, int late)
{
    for (size_t i = 0; i < b->nsubsys; i++) {
        const br_subsys_t *s = b->subsys[i];
        if (s->late == late && s->start && s->start(b) != 0) {
            LOG_E("broker", "subsystem %s did not start", s->name);
            return -1;
        }
    }
    return 0;
}

static void stop_subsystems(br_broker_t *b, int late, uv_close_cb cb)
{
    for (size_t i = 0; i < b->nsubsys; i++)
        if (b->subsys[i]->late == late && b->subsys[i]->stop)
            b->timers_open += b->subsys[i]->stop(b, cb);
}

int br_core_start(uv_loop_t *loop, const br_config_t *cfg, const br_subsys_t *const *subsys, size_t nsubsys,
                  br_broker_t **out)
{
    br_broker_t *b = calloc(1, sizeof *b);
    if (!b)
        return CM_ENOMEM;
    b->loop = loop;
    b->cfg = *cfg;
    b->subsys = subsys;
    b->nsubsys = nsubsys;
    b->role = !strcmp(cfg->brokerRole, "SLAVE") ? BR_SLAVE : !strcmp(cfg->brokerRole, "SYNC_MASTER") ? BR_SYNC_MASTER
                                                                                                  : BR_ASYNC_MASTER;
    if (cfg->enableDLegerCommitLog) { /* a follower until Raft says otherwise (dledger/) */
        b->role = BR_SLAVE;
        b->quorum = 1;
    }
    for (int i = 0; i < 8; i++)
        b->ns_ctx[i] = (struct br_ns_ctx){b, i};
    snprintf(b->addr, sizeof b->addr, "%s:%d", cfg->brokerIP1, cfg->listenPort);
    struct in_addr a;
    inet_pton(AF_INET, cfg->brokerIP1, &a);
    b->store_ip = ntohl(a.s_addr);
    /* the store removes its abort marker at a clean stop: present now means a crash */
    char abort_path[1200];
    snprintf(abort_path, sizeof abort_path, "%s/abort", cfg->storePathRootDir);
    int crashed = access(abort_path, F_OK) == 0;
    if (open_tables(b) || open_store(b))
        goto err;
    if (crashed)
        restore_lost_topics(b);
    b->ep = (rm_endpoint_t){.name = "broker", .on_close = on_client_closed, .admit = timed_admit, .ctx = b,
                            .idle_timeout_ms = 120000};
    if (assemble_handlers(b))
        goto err;
    b->ep_ns = (rm_endpoint_t){.name = "broker->namesrv", .ctx = b};
    if (rm_server_start(loop, "0.0.0.0", cfg->listenPort, &b->ep, &b->srv)) {
        LOG_E("broker", "cannot listen on port %d", cfg->listenPort);
        goto err;
    }
    if (cfg->listenPort > 2 && rm_server_start(loop, "0.0.0.0", cfg->listenPort - 2, &b->ep_vip, &b->srv_vip))
        LOG_W("broker", "cannot listen on VIP port %d; continuing without it", cfg->listenPort - 2);
    char list[1024];
    snprintf(list, sizeof list, "%s", cfg->namesrvAddr);
    for (char *save = NULL, *tok = strtok_r(list, ";", &save); tok && b->nns < 8; tok = strtok_r(NULL, ";", &save))
        if (*tok)
            snprintf(b->ns_addrs[b->nns++], sizeof b->ns_addrs[0], "%s", tok);
    if (b->nns == 0)
        LOG_W("broker", "no name server address (namesrvAddr, -n or NAMESRV_ADDR): clients cannot find this broker");
    if (start_subsystems(b, 1) != 0) /* replication: before the first registration's answer */
        goto err;
    br_register_all(b, 0);
    start_timer(b, &b->reg_timer, on_register_timer, 10000, (uint64_t)cfg->registerNameServerPeriod);
    /* config files from here on are written off the loop (persist.c), within
     * BR_PERSIST_SOON_MS of a change (consumer offsets: 5 s); without it, at once as before */
    uv_timer_init(loop, &b->persist_timer);
    b->persist_timer.data = b;
    b->timers_open++;
    if (br_persist_start(b))
        LOG_E("broker", "no config-file writer thread: config files are written on the loop");
    if (start_subsystems(b, 0) != 0)
        goto err;
    br_metrics_start(b);
    loop_time_start(b);
    b->stats.bootMs = cm_now_ms();
    b->stats.bootLoopMs = uv_now(loop);
    br_stats_sample(b);
    start_timer(b, &b->stats_timer, on_stats_timer, 1000, 1000);
    /* the first run early: a broker started on a full disk must say so at once */
    start_timer(b, &b->clean_timer, on_clean_timer, 0, (uint64_t)cfg->cleanResourceInterval);
    uv_timer_init(loop, &b->reg_soon_timer);
    b->reg_soon_timer.data = b;
    b->timers_open++;
    *out = b;
    return 0;
err:
    free(b->handlers);
    free(b->vip_handlers);
    if (b->store)
        st_store_close(b->store);
    br_topics_free(&b->topics);
    br_offsets_free(&b->offsets);
    br_groups_free(&b->groups);
    free(b);
    return -1;
}

static void on_timer_closed(uv_handle_t *h)
{
    br_broker_t *b = h->data;
    if (--b->timers_open > 0)
        return;
    for (size_t i = 0; i < b->nsubsys; i++)
        if (b->subsys[i]->release)
            b->subsys[i]->release(b);
    br_stats_free(b);
    free(b->handlers);
    free(b->vip_handlers);
    br_topics_free(&b->topics);
    br_offsets_free(&b->offsets);
    br_groups_free(&b->groups);
    free(b);
}

void br_stop(br_broker_t *b)
{
    if (b->stopping)
        return;
    br_unregister_all(b); /* a registration body being built is dropped */
    b->stopping = 1;
    stop_subsystems(b, 0, on_timer_closed); /* pulls answered; delay, timer, transaction progress saved */
    if (b->metricsOn) {
        b->timers_open++;
        br_metrics_stop(b, on_timer_closed);
    } /* its progress goes into the offsets saved below */
    br_offsets_save(&b->offsets);
    br_topics_save(&b->topics);
    br_groups_save(&b->groups);
    br_persist_stop(b); /* the writes above and any still pending land before we go on */
    rm_server_stop(b->srv);
    if (b->srv_vip)
        rm_server_stop(b->srv_vip);
    for (int i = 0; i < b->nns; i++)
        if (b->ns_conns[i]) {
            rm_conn_close(b->ns_conns[i]);
            rm_conn_unref(b->ns_conns[i]);
        }
    stop_subsystems(b, 1, on_timer_closed); /* before the store closes: slaves read from it */
    b->timers_open += 2;
    st_store_flush(b->store);
    br_flushwait_stop(b, on_timer_closed); /* after the final flush: waiters are durable now */
    br_query_drain(b); /* QUERY_MESSAGE lookups on the pool read the index */
    st_store_close(b->store);
    b->store = NULL;
    uv_close((uv_handle_t *)&b->reg_timer, on_timer_closed);
    uv_close((uv_handle_t *)&b->persist_timer, on_timer_closed);
    uv_close((uv_handle_t *)&b->reg_soon_timer, on_timer_closed);
    uv_close((uv_handle_t *)&b->stats_timer, on_timer_closed);
    uv_close((uv_handle_t *)&b->clean_timer, on_timer_closed);
    if (b->looptime.on) {
        b->looptime.on = 0;
        b->timers_open++;
        uv_close((uv_handle_t *)&b->looptime.prepare, on_timer_closed);
    }
}
