/* mqadmin's consumer and producer group commands: progress, connections, running status,
 * subscription group create/delete/show, and consumer offsets (reset, skip, clone). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mqadmin.h"

static lj_val_t *running_info(const char *addr, const char *group, const char *clientId, int jstack)
{
    lj_val_t *info = NULL;
    int rc = ma_call_fields(addr, &info, 307, "consumerGroup", group, "clientId", clientId, "jstackEnable", jstack ? "true" : "false", NULL);
    return rc ? NULL : info;
}

/* consumerProgress -s true: the running info of every client of the group (NULL-terminated). */
static lj_val_t **group_infos(const char *addr, const char *group, lj_val_t **cc)
{
    if (ma_call_fields(addr, cc, 203, "consumerGroup", group, NULL))
        return NULL;
    const lj_val_t *set = lj_get(*cc, "connectionSet");
    lj_val_t **infos = calloc(set ? set->n + 1 : 1, sizeof *infos);
    size_t k = 0;
    for (size_t i = 0; infos && set && i < set->n; i++)
        if ((infos[k] = running_info(addr, group, lj_get_str(set->items[i], "clientId", ""), 0)) != NULL)
            lj_set_str(infos[k++], "clientId", lj_get_str(set->items[i], "clientId", ""));
    return infos;
}

/* The IP part of the client id that holds this queue, or NULL (RocketMQ prints N/A). */
static const char *queue_owner(lj_val_t *const *infos, const ma_mqrow_t *r, char *out, size_t n)
{
    for (size_t i = 0; infos && infos[i]; i++) {
        const lj_val_t *mqs = lj_get(infos[i], "mqTable");
        for (size_t j = 0; mqs && mqs->type == LJ_OBJ && j < mqs->n; j++) {
            const lj_val_t *k = mqs->members[j].key;
            if (!strcmp(lj_get_str(k, "topic", ""), r->topic) && !strcmp(lj_get_str(k, "brokerName", ""), r->broker) &&
                lj_get_int(k, "queueId", -1) == r->qid) {
                const char *id = lj_get_str(infos[i], "clientId", "");
                snprintf(out, n, "%.*s", (int)strcspn(id, "@"), id);
                return out;
            }
        }
    }
    return NULL;
}

/* A row of GET_CONSUME_STATS; pop: the broker gave a pullOffset (it serves the group by POP). */
typedef struct prow { ma_mqrow_t r; int64_t pull; int pop; } prow_t;

static void collect_prows(const lj_val_t *tab, prow_t **rows, size_t *n)
{
    for (size_t j = 0; tab && j < tab->n; j++) {
        prow_t *r = realloc(*rows, (*n + 1) * sizeof *r);
        if (!r)
            return;
        *rows = r;
        r += *n;
        const lj_val_t *mq = tab->members[j].key, *val = tab->members[j].val, *pull = lj_get(val, "pullOffset");
        snprintf(r->r.topic, sizeof r->r.topic, "%s", lj_get_str(mq, "topic", ""));
        snprintf(r->r.broker, sizeof r->r.broker, "%s", lj_get_str(mq, "brokerName", ""));
        r->r.qid = (int)lj_get_int(mq, "queueId", 0);
        r->r.v[0] = lj_get_int(val, "brokerOffset", 0);
        r->r.v[1] = lj_get_int(val, "consumerOffset", 0);
        r->r.v[2] = lj_get_int(val, "lastTimestamp", 0);
        r->pop = pull != NULL;
        r->pull = pull ? lj_get_int(val, "pullOffset", 0) : r->r.v[1];
        (*n)++;
    }
}

/* consumerProgress without -g: every group that has a retry topic (RocketMQ lists groups so),
 * with its clients, TPS and total lag. */
static int progress_all(const char *ns)
{
    lj_val_t *body = NULL;
    if (ma_call_fields(ns, &body, 206, NULL))
        return 1;
    printf("%-64s  %-6s  %-24s %-5s  %-14s  %-7s  %s\n", "#Group", "#Count", "#Version", "#Type", "#Model", "#TPS",
           "#Diff Total");
    const lj_val_t *list = lj_get(body, "topicList");
    for (size_t i = 0; list && i < list->n; i++) {
        const char *topic = lj_str(list->items[i], "");
        if (strncmp(topic, "%RETRY%", 7) != 0 || !topic[7])
            continue;
        const char *group = topic + 7;
        char addrs[16][128];
        int nb = ma_topic_masters(ns, topic, addrs, NULL, 16);
        double tps = 0;
        long long diff = 0;
        for (int k = 0; k < nb; k++) { /* a broker that cannot answer is left out, as RocketMQ */
            lj_val_t *st = NULL;
            ad_err_t e;
            if (ad_call_fields(addrs[k], &st, &e, 208, "consumerGroup", group, NULL) == 0) {
                tps += lj_double(lj_get(st, "consumeTps"), 0);
                const lj_val_t *tab = lj_get(st, "offsetTable");
                for (size_t j = 0; tab && j < tab->n; j++)
                    diff += lj_get_int(tab->members[j].val, "brokerOffset", 0) -
                            lj_get_int(tab->members[j].val, "consumerOffset", 0);
            }
            lj_free(st);
        }
        lj_val_t *cc = NULL;
        ad_err_t e;
        const lj_val_t *set = NULL;
        int64_t version = 0;
        if (nb > 0 && ad_call_fields(addrs[0], &cc, &e, 203, "consumerGroup", group, NULL) == 0)
            set = lj_get(cc, "connectionSet");
        int count = set ? (int)set->n : 0;
        for (int k = 0; k < count; k++) { /* the oldest client's version */
            int64_t v = lj_get_int(set->items[k], "version", 0);
            if (k == 0 || v < version)
                version = v;
        }
        const char *type = lj_get_str(cc, "consumeType", "");
        int push = !strcmp(type, "CONSUME_PASSIVELY");
        printf("%-64s  %-6d  %-24s %-5s  %-14s  %-7d  %lld\n", ma_front(group, 64), count,
               count ? ma_version_desc(version) : "OFFLINE", count ? (push ? "PUSH" : "PULL") : "",
               count && push ? lj_get_str(cc, "messageModel", "") : "", (int)tps, diff);
        lj_free(cc);
    }
    lj_free(body);
    return 0;
}

int cmd_consumer_progress(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:g:s:", v))
        return 2;
    const char *ns = ma_namesrv(v['n']);
    if (!v['g'])
        return ns ? progress_all(ns) : 1;
    char retry[300], addrs[16][128];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", v['g']);
    int nb = ns ? ma_topic_masters(ns, retry, addrs, NULL, 16) : -1;
    if (nb == 0)
        fprintf(stderr, "mqadmin: no broker knows the consumer group %s\n", v['g']);
    if (nb <= 0)
        return 1; /* the route lookup said why */
    prow_t *rows = NULL;
    size_t n = 0;
    double tps = 0;
    for (int i = 0; i < nb; i++) {
        lj_val_t *st = NULL;
        int rc = ma_call_fields(addrs[i], &st, 208, "consumerGroup", v['g'], NULL);
        if (rc) {
            free(rows);
            return 1;
        }
        tps += lj_double(lj_get(st, "consumeTps"), 0);
        collect_prows(lj_get(st, "offsetTable"), &rows, &n);
        lj_free(st);
    }
    qsort(rows, n, sizeof *rows, ma_cmp_mqrow);
    /* a POP group: RocketMQ 5's layout, with what is in flight (popped, not acked) */
    int pop = 0;
    for (size_t i = 0; i < n; i++)
        pop |= rows[i].pop;
    int show_ip = v['s'] && !strcasecmp(v['s'], "true");
    lj_val_t *cc = NULL, **infos = show_ip ? group_infos(addrs[0], v['g'], &cc) : NULL;
    printf("%-64s  %-32s  %-4s  %-20s  %-20s  ", "#Topic", "#Broker Name", "#QID", "#Broker Offset", "#Consumer Offset");
    if (show_ip)
        printf("%-20s ", "#Client IP");
    if (pop)
        printf("%-20s %-20s%s\n", "#Diff", "#Inflight", "#LastTime");
    else
        printf("%-20s  %s\n", "#Diff", "#LastTime");
    long long total = 0, inflight = 0;
    for (size_t i = 0; i < n; i++) {
        const ma_mqrow_t *r = &rows[i].r;
        char last[40] = "N/A", ip[128];
        if (r->v[2])
            ma_date_time(r->v[2], last, sizeof last);
        long long diff = (long long)(r->v[0] - r->v[1]), fly = (long long)(rows[i].pull - r->v[1]);
        total += diff;
        inflight += fly;
        printf("%-64s  %-32s  %-4d  %-20lld  %-20lld  ", ma_front(r->topic, 64), ma_front(r->broker, 32), r->qid,
               (long long)r->v[0], (long long)r->v[1]);
        if (show_ip) {
            const char *who = queue_owner(infos, r, ip, sizeof ip);
            printf("%-20s ", who ? who : "N/A");
        }
        if (pop)
            printf("%-20lld %-20lld %s\n", diff, fly, last);
        else
            printf("%-20lld  %s\n", diff, last);
    }
    if (pop)
        printf("\nConsume TPS: %.2f\nConsume Diff Total: %lld\nConsume Inflight Total: %lld\n", tps, total, inflight);
    else
        printf("\nConsume TPS: %.2f\nDiff Total: %lld\n", tps, total);
    for (size_t i = 0; infos && infos[i]; i++)
        lj_free(infos[i]);
    free(infos);
    lj_free(cc);
    free(rows);
    return 0;
}

/* The consumer connections of group -g, from broker -b or the first master of its retry
 * topic (as RocketMQ's examineConsumerConnectionInfo); addr gets the broker asked. */
static int group_connections(const char *const *v, char addr[128], lj_val_t **cc)
{
    char retry[300];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", v['g']);
    if (ma_broker_or_master(v['b'], v['n'], retry, addr))
        return 1;
    return ma_call_fields(addr, cc, 203, "consumerGroup", v['g'], NULL) ? 1 : 0;
}

int cmd_consumer_connection(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:g:b:", v) || !v['g']) {
        fprintf(stderr, "mqadmin: consumerConnection needs -g consumerGroup\n");
        return 2;
    }
    char addrs[1][128];
    lj_val_t *cc = NULL;
    if (group_connections(v, addrs[0], &cc))
        return 1;
    printf("%-36s %-22s %-10s %s\n", "#ClientId", "#ClientAddr", "#Language", "#Version");
    const lj_val_t *set = lj_get(cc, "connectionSet");
    for (size_t i = 0; set && i < set->n; i++) {
        const lj_val_t *x = set->items[i];
        printf("%-36s %-22s %-10s %s\n", lj_get_str(x, "clientId", ""), lj_get_str(x, "clientAddr", ""),
               lj_get_str(x, "language", ""), ma_version_desc(lj_get_int(x, "version", 0)));
    }
    printf("\nBelow is subscription:\n");
    printf("%-20s %s\n", "#Topic", "#SubExpression");
    const lj_val_t *subs = lj_get(cc, "subscriptionTable");
    for (size_t i = 0; subs && i < subs->n; i++)
        printf("%-20s %s\n", lj_get_str(subs->members[i].val, "topic", ""), lj_get_str(subs->members[i].val, "subString", ""));
    printf("\n");
    printf("ConsumeType: %s\n", lj_get_str(cc, "consumeType", ""));
    printf("MessageModel: %s\n", lj_get_str(cc, "messageModel", ""));
    printf("ConsumeFromWhere: %s\n", lj_get_str(cc, "consumeFromWhere", ""));
    lj_free(cc);
    return 0;
}

/* RocketMQ's timeMillisToHumanString: yyyyMMddHHmmssSSS, local time. */
static const char *java_millis(int64_t ms)
{
    static char b[40];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    snprintf(b, sizeof b, "%04d%02d%02d%02d%02d%02d%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    return b;
}

static const lj_val_t *g_sort_tab; /* qsort has no context argument */

static int cmp_mq_member(const void *a, const void *b)
{
    const lj_val_t *x = g_sort_tab->members[*(const size_t *)a].key, *y = g_sort_tab->members[*(const size_t *)b].key;
    int c = strcmp(lj_get_str(x, "topic", ""), lj_get_str(y, "topic", ""));
    if (!c)
        c = strcmp(lj_get_str(x, "brokerName", ""), lj_get_str(y, "brokerName", ""));
    return c ? c : (int)(lj_get_int(x, "queueId", 0) - lj_get_int(y, "queueId", 0));
}

/* The members of an mqTable in MessageQueue order (topic, broker, queue), as Java's TreeMap. */
static size_t *sorted_mqs(const lj_val_t *tab)
{
    size_t n = tab ? tab->n : 0, *ix = calloc(n + 1, sizeof *ix);
    for (size_t i = 0; ix && i < n; i++)
        ix[i] = i;
    if (ix && n) {
        g_sort_tab = tab;
        qsort(ix, n, sizeof *ix, cmp_mq_member);
    }
    return ix;
}

static void pq_string(const lj_val_t *p, cm_buf_t *o)
{
#define PI(k) (long long)lj_get_int(p, k, 0)
#define PB(k) (lj_get_bool(p, k, 0) ? "true" : "false")
    cm_buf_printf(o, "ProcessQueueInfo [commitOffset=%lld, cachedMsgMinOffset=%lld, cachedMsgMaxOffset=%lld, "
                  "cachedMsgCount=%lld, cachedMsgSizeInMiB=%lld, transactionMsgMinOffset=%lld, "
                  "transactionMsgMaxOffset=%lld, transactionMsgCount=%lld, locked=%s, tryUnlockTimes=%lld, ",
                  PI("commitOffset"), PI("cachedMsgMinOffset"), PI("cachedMsgMaxOffset"), PI("cachedMsgCount"),
                  PI("cachedMsgSizeInMiB"), PI("transactionMsgMinOffset"), PI("transactionMsgMaxOffset"),
                  PI("transactionMsgCount"), PB("locked"), PI("tryUnlockTimes"));
    cm_buf_printf(o, "lastLockTimestamp=%s, droped=%s, ", java_millis(PI("lastLockTimestamp")), PB("droped"));
    cm_buf_printf(o, "lastPullTimestamp=%s, ", java_millis(PI("lastPullTimestamp")));
    cm_buf_printf(o, "lastConsumeTimestamp=%s]", java_millis(PI("lastConsumeTimestamp")));
#undef PI
#undef PB
}

/* Java's ConsumerRunningInfo.formatString(). */
static void running_info_text(const lj_val_t *info, cm_buf_t *o)
{
    const lj_val_t *props = lj_get(info, "properties"), *subs = lj_get(info, "subscriptionSet");
    const lj_val_t *mqs = lj_get(info, "mqTable"), *st = lj_get(info, "statusTable");
    cm_buf_printf(o, "#Consumer Properties#\n");
    for (size_t i = 0; props && props->type == LJ_OBJ && i < props->n; i++)
        cm_buf_printf(o, "%-40s: %s\n", props->members[i].key->s, lj_str(props->members[i].val, ""));
    cm_buf_printf(o, "\n\n#Consumer Subscription#\n");
    for (size_t i = 0; subs && subs->type == LJ_ARR && i < subs->n; i++)
        cm_buf_printf(o, "%03zu Topic: %-40s ClassFilter: %-8s SubExpression: %s\n", i + 1,
                      lj_get_str(subs->items[i], "topic", ""),
                      lj_get_bool(subs->items[i], "classFilterMode", 0) ? "true" : "false",
                      lj_get_str(subs->items[i], "subString", ""));
    size_t *ix = sorted_mqs(mqs), n = mqs && ix ? mqs->n : 0;
    cm_buf_printf(o, "\n\n#Consumer Offset#\n%-64s  %-32s  %-4s  %-20s\n", "#Topic", "#Broker Name", "#QID",
                  "#Consumer Offset");
    for (size_t i = 0; i < n; i++) {
        const lj_val_t *k = mqs->members[ix[i]].key;
        cm_buf_printf(o, "%-32s  %-32s  %-4lld  %-20lld\n", lj_get_str(k, "topic", ""), lj_get_str(k, "brokerName", ""),
                      (long long)lj_get_int(k, "queueId", 0), (long long)lj_get_int(mqs->members[ix[i]].val, "commitOffset", 0));
    }
    cm_buf_printf(o, "\n\n#Consumer MQ Detail#\n%-64s  %-32s  %-4s  %-20s\n", "#Topic", "#Broker Name", "#QID",
                  "#ProcessQueueInfo");
    for (size_t i = 0; i < n; i++) {
        const lj_val_t *k = mqs->members[ix[i]].key;
        cm_buf_printf(o, "%-64s  %-32s  %-4lld  ", lj_get_str(k, "topic", ""), lj_get_str(k, "brokerName", ""),
                      (long long)lj_get_int(k, "queueId", 0));
        pq_string(mqs->members[ix[i]].val, o);
        cm_buf_printf(o, "\n");
    }
    free(ix);
    cm_buf_printf(o, "\n\n#Consumer RT&TPS#\n%-64s  %14s %14s %14s %14s %18s %25s\n", "#Topic", "#Pull RT", "#Pull TPS",
                  "#Consume RT", "#ConsumeOK TPS", "#ConsumeFailed TPS", "#ConsumeFailedMsgsInHour");
    for (size_t i = 0; st && st->type == LJ_OBJ && i < st->n; i++) {
        const lj_val_t *x = st->members[i].val;
        cm_buf_printf(o, "%-32s  %14.2f %14.2f %14.2f %14.2f %18.2f %25lld\n", st->members[i].key->s,
                      lj_double(lj_get(x, "pullRT"), 0), lj_double(lj_get(x, "pullTPS"), 0),
                      lj_double(lj_get(x, "consumeRT"), 0), lj_double(lj_get(x, "consumeOKTPS"), 0),
                      lj_double(lj_get(x, "consumeFailedTPS"), 0), (long long)lj_get_int(x, "consumeFailedMsgs", 0));
    }
    const char *js = lj_get_str(info, "jstack", NULL);
    if (js)
        cm_buf_printf(o, "\n\n#Consumer jstack#\n%s", js);
}

/* The consumer's subscriptions as one comparable string (Java compares the TreeSets). */
static void subs_key(const lj_val_t *info, char *out, size_t n)
{
    const lj_val_t *subs = lj_get(info, "subscriptionSet");
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; subs && subs->type == LJ_ARR && i < subs->n && len < n; i++)
        len += (size_t)snprintf(out + len, n - len, "%s@%s;", lj_get_str(subs->items[i], "topic", ""),
                                lj_get_str(subs->items[i], "subString", ""));
}

/* ConsumerRunningInfo.analyzeProcessQueue: queues that look stuck. */
static void analyze_queues(const char *clientId, const lj_val_t *info)
{
    const lj_val_t *props = lj_get(info, "properties"), *mqs = lj_get(info, "mqTable");
    if (strcmp(lj_get_str(props, "PROP_CONSUME_TYPE", ""), "CONSUME_PASSIVELY") != 0)
        return;
    int orderly = strcmp(lj_get_str(props, "PROP_CONSUMEORDERLY", "false"), "true") == 0;
    int64_t now = cm_now_ms();
    for (size_t i = 0; mqs && mqs->type == LJ_OBJ && i < mqs->n; i++) {
        const lj_val_t *k = mqs->members[i].key, *p = mqs->members[i].val;
        char mq[512];
        snprintf(mq, sizeof mq, "MessageQueue [topic=%s, brokerName=%s, queueId=%lld]", lj_get_str(k, "topic", ""),
                 lj_get_str(k, "brokerName", ""), (long long)lj_get_int(k, "queueId", 0));
        if (orderly && !lj_get_bool(p, "locked", 0))
            printf("%s %s can't lock for a while, %lldms\n", clientId, mq,
                   (long long)(now - lj_get_int(p, "lastLockTimestamp", 0)));
        else if (orderly && lj_get_bool(p, "droped", 0) && lj_get_int(p, "tryUnlockTimes", 0) > 0)
            printf("%s %s unlock %lld times, still failed\n", clientId, mq, (long long)lj_get_int(p, "tryUnlockTimes", 0));
        else if (!orderly && now - lj_get_int(p, "lastConsumeTimestamp", 0) > 60000 && lj_get_int(p, "cachedMsgCount", 0) > 0)
            printf("%s %s can't consume for a while, maybe blocked, %lldms\n", clientId, mq,
                   (long long)(now - lj_get_int(p, "lastConsumeTimestamp", 0)));
    }
}

/* Each client's running info into the file <now>/<clientId> (as RocketMQ), then the analysis. */
static int status_all(const char *addr, const char *group, const lj_val_t *set, int jstack)
{
    int64_t now = cm_now_ms();
    char dir[32], first[4096] = "", cur[4096];
    snprintf(dir, sizeof dir, "%lld", (long long)now);
    int same = 1, n = 0, push = 0, old = 0;
    printf("%-10s %-40s %-20s %s\n", "#Index", "#ClientId", "#Version", "#ConsumerRunningInfoFile");
    lj_val_t **infos = calloc(set ? set->n + 1 : 1, sizeof *infos);
    for (size_t i = 0; infos && set && i < set->n; i++) {
        const char *id = lj_get_str(set->items[i], "clientId", "");
        if (!(infos[i] = running_info(addr, group, id, jstack)))
            continue;
        cm_buf_t text;
        cm_buf_init(&text);
        running_info_text(infos[i], &text);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, id);
        cm_mkdirs(dir);
        if (cm_write_file_safe(path, text.data, text.len) != 0)
            fprintf(stderr, "mqadmin: cannot write %s\n", path);
        cm_buf_free(&text);
        printf("%-10d %-40s %-20s %s\n", ++n, id, ma_version_desc(lj_get_int(set->items[i], "version", 0)), path);
        const lj_val_t *props = lj_get(infos[i], "properties");
        push = strcmp(lj_get_str(props, "PROP_CONSUME_TYPE", ""), "CONSUME_PASSIVELY") == 0;
        old = now - strtoll(lj_get_str(props, "PROP_CONSUMER_START_TIMESTAMP", "0"), NULL, 10) > 120000;
        subs_key(infos[i], cur, sizeof cur);
        if (!first[0])
            snprintf(first, sizeof first, "%s", cur);
        else if (strcmp(first, cur) != 0)
            same = 0;
    }
    /* as RocketMQ: the comparison only counts for push consumers started over two minutes ago */
    if (n && (!push || !old))
        same = 1;
    if (n && same) {
        printf("\n\nSame subscription in the same group of consumer");
        printf("\n\nRebalance OK\n");
        for (size_t i = 0; set && i < set->n; i++)
            if (infos[i])
                analyze_queues(lj_get_str(set->items[i], "clientId", ""), infos[i]);
    } else if (n) {
        printf("\n\nWARN: Different subscription in the same group of consumer!!!");
    }
    for (size_t i = 0; infos && set && i < set->n; i++)
        lj_free(infos[i]);
    free(infos);
    return 0;
}

int cmd_consumer_status(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:g:i:b:s", v) || !v['g']) {
        fprintf(stderr, "mqadmin: consumerStatus needs -g consumerGroup\n");
        return 2;
    }
    char addrs[1][128];
    lj_val_t *cc = NULL;
    if (group_connections(v, addrs[0], &cc))
        return 1;
    int rc = 0;
    if (!v['i']) {
        rc = status_all(addrs[0], v['g'], lj_get(cc, "connectionSet"), v['s'] != NULL);
    } else {
        lj_val_t *info = running_info(addrs[0], v['g'], v['i'], v['s'] != NULL);
        cm_buf_t text;
        cm_buf_init(&text);
        if (info) {
            running_info_text(info, &text);
            fwrite(text.data, 1, text.len, stdout);
        }
        cm_buf_free(&text);
        rc = info ? 0 : 1;
        lj_free(info);
    }
    lj_free(cc);
    return rc;
}

int cmd_producer_connection(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:g:t:", v) || !v['g'] || !v['t']) {
        fprintf(stderr, "mqadmin: producerConnection needs -g producerGroup -t topic\n");
        return 2;
    }
    char addrs[16][128];
    const char *ns = ma_namesrv(v['n']);
    int nb = ns ? ma_topic_masters(ns, v['t'], addrs, NULL, 16) : -1;
    if (nb <= 0)
        return 1;
    int k = 1;
    for (int i = 0; i < nb; i++) {
        lj_val_t *pc = NULL;
        if (ma_call_fields(addrs[i], &pc, 204, "producerGroup", v['g'], NULL))
            return 1;
        const lj_val_t *set = lj_get(pc, "connectionSet");
        for (size_t j = 0; set && j < set->n; j++) {
            const lj_val_t *x = set->items[j];
            printf("%04d  %-32s %-22s %-8s %s\n", k++, lj_get_str(x, "clientId", ""), lj_get_str(x, "clientAddr", ""),
                   lj_get_str(x, "language", ""), ma_version_desc(lj_get_int(x, "version", 0)));
        }
        lj_free(pc);
    }
    return 0;
}

int cmd_update_sub_group(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:b:c:g:s:m:d:o:q:r:i:w:a:", v) || !v['g'] || (!v['b'] && !v['c'])) {
        fprintf(stderr, "mqadmin: updateSubGroup needs -g groupName and -b brokerAddr or -c clusterName\n");
        return 2;
    }
    lj_val_t *g = lj_new_obj();
    lj_set_int(g, "brokerId", v['i'] ? atoll(v['i']) : 0);
    lj_set_bool(g, "consumeBroadcastEnable", v['d'] ? strcmp(v['d'], "true") == 0 : 1);
    lj_set_bool(g, "consumeEnable", v['s'] ? strcmp(v['s'], "true") == 0 : 1);
    lj_set_bool(g, "consumeFromMinEnable", v['m'] ? strcmp(v['m'], "true") == 0 : 1);
    if (v['o']) /* RocketMQ 5's -o: a FIFO group for 5.x clients; 4.9's body has no such field */
        lj_set_bool(g, "consumeMessageOrderly", strcmp(v['o'], "true") == 0);
    lj_set_str(g, "groupName", v['g']);
    lj_set_bool(g, "notifyConsumerIdsChangedEnable", v['a'] ? strcmp(v['a'], "true") == 0 : 1);
    lj_set_int(g, "retryMaxTimes", v['r'] ? atoll(v['r']) : 16);
    lj_set_int(g, "retryQueueNums", v['q'] ? atoll(v['q']) : 1);
    lj_set_int(g, "whichBrokerWhenConsumeSlowly", v['w'] ? atoll(v['w']) : 1);
    cm_buf_t body;
    cm_buf_init(&body);
    lj_write(g, LJ_W_SORT, &body);
    char addrs[16][128];
    int n = ma_broker_addrs(v, addrs, 16), rc = n > 0 ? 0 : 1;
    for (int i = 0; i < n && rc == 0; i++) {
        rc = ma_call_raw(addrs[i], NULL, body.data, body.len, 200, NULL);
        if (rc == 0)
            printf("create subscription group to %s success.\n", addrs[i]);
    }
    if (rc == 0) /* Java prints SubscriptionGroupConfig.toString() */
        printf("SubscriptionGroupConfig [groupName=%s, consumeEnable=%s, consumeFromMinEnable=%s, "
               "consumeBroadcastEnable=%s, retryQueueNums=%lld, retryMaxTimes=%lld, brokerId=%lld, "
               "whichBrokerWhenConsumeSlowly=%lld, notifyConsumerIdsChangedEnable=%s]",
               v['g'], lj_get_bool(g, "consumeEnable", 1) ? "true" : "false",
               lj_get_bool(g, "consumeFromMinEnable", 1) ? "true" : "false",
               lj_get_bool(g, "consumeBroadcastEnable", 1) ? "true" : "false", (long long)lj_get_int(g, "retryQueueNums", 1),
               (long long)lj_get_int(g, "retryMaxTimes", 16), (long long)lj_get_int(g, "brokerId", 0),
               (long long)lj_get_int(g, "whichBrokerWhenConsumeSlowly", 1),
               lj_get_bool(g, "notifyConsumerIdsChangedEnable", 1) ? "true" : "false");
    lj_free(g);
    cm_buf_free(&body);
    return rc ? 1 : 0;
}

int cmd_delete_sub_group(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:b:c:g:r:", v) || !v['g'] || (!v['b'] && !v['c'])) {
        fprintf(stderr, "mqadmin: deleteSubGroup needs -g groupName and -b brokerAddr or -c clusterName\n");
        return 2;
    }
    char addrs[16][128];
    int n = ma_broker_addrs(v, addrs, 16), rc = n > 0 ? 0 : 1;
    for (int i = 0; i < n && rc == 0; i++) {
        rc = ma_call_fields(addrs[i], NULL, 207, "groupName", v['g'], "removeOffset", v['r'] ? v['r'] : "false", NULL);
        if (rc == 0 && v['c'])
            printf("delete subscription group [%s] from broker [%s] in cluster [%s] success.\n", v['g'], addrs[i], v['c']);
        else if (rc == 0)
            printf("delete subscription group [%s] from broker [%s] success.\n", v['g'], addrs[i]);
    }
    return rc ? 1 : 0;
}

/* getConsumerConfig: the group's SubscriptionGroupConfig on every broker that has it, fields
 * in Java's declaration order as RocketMQ prints them by reflection. */
int cmd_get_consumer_config(int argc, char **argv)
{
    static const char *const fields[] = {"groupName", "consumeEnable", "consumeFromMinEnable", "consumeBroadcastEnable",
                                         "retryQueueNums", "retryMaxTimes", "brokerId", "whichBrokerWhenConsumeSlowly",
                                         "notifyConsumerIdsChangedEnable"};
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:g:", v) || !v['g']) {
        fprintf(stderr, "mqadmin: getConsumerConfig needs -g groupName\n");
        return 2;
    }
    const char *ns = ma_namesrv(v['n']);
    lj_val_t *info = NULL;
    if (!ns || ma_call_fields(ns, &info, 106, NULL))
        return 1;
    const lj_val_t *brokers = lj_get(info, "brokerAddrTable"), *clusters = lj_get(info, "clusterAddrTable");
    for (size_t i = 0; brokers && brokers->type == LJ_OBJ && i < brokers->n; i++) {
        const char *name = brokers->members[i].key->s, *cluster = "";
        const lj_val_t *addrs = lj_get(brokers->members[i].val, "brokerAddrs");
        const char *addr = lj_get_str(addrs, "0", addrs && addrs->n ? lj_str(addrs->members[0].val, NULL) : NULL);
        for (size_t c = 0; clusters && clusters->type == LJ_OBJ && c < clusters->n; c++)
            for (size_t j = 0; clusters->members[c].val && j < clusters->members[c].val->n; j++)
                if (!strcmp(lj_str(clusters->members[c].val->items[j], ""), name))
                    cluster = clusters->members[c].key->s;
        lj_val_t *all = NULL;
        if (!addr || ma_call_fields(addr, &all, 201, NULL))
            continue;
        const lj_val_t *g = lj_get(lj_get(all, "subscriptionGroupTable"), v['g']);
        if (g) {
            printf("=============================%s:%s=============================\n", cluster, name);
            for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
                const lj_val_t *x = lj_get(g, fields[f]);
                cm_buf_t b;
                cm_buf_init(&b);
                if (x && x->type == LJ_STR)
                    cm_buf_puts(&b, x->s);
                else if (x)
                    lj_write(x, LJ_W_FASTJSON, &b);
                printf("%-40s=  %.*s\n", fields[f], (int)b.len, b.data ? b.data : "");
                cm_buf_free(&b);
            }
        }
        lj_free(all);
    }
    lj_free(info);
    return 0;
}

/* INVOKE_BROKER_TO_RESET_OFFSET on every master of the topic (timestamp -1: the max offset),
 * printing RocketMQ's table of the new offsets. */
static int reset_offsets(const char *nsopt, const char *group, const char *topic, int64_t ts, const char *force)
{
    char addrs[16][128], names[16][128], tsText[24];
    const char *ns = ma_namesrv(nsopt);
    int nb = ns ? ma_topic_masters(ns, topic, addrs, names, 16) : -1;
    if (nb <= 0) {
        fprintf(stderr, "mqadmin: topic %s has no route\n", topic);
        return 1;
    }
    snprintf(tsText, sizeof tsText, "%lld", (long long)ts);
    printf("%-40s  %-40s  %-40s\n", "#brokerName", "#queueId", "#offset");
    for (int i = 0; i < nb; i++) {
        lj_val_t *body = NULL;
        if (ma_call_fields(addrs[i], &body, 222, "topic", topic, "group", group, "timestamp", tsText, "isForce", force,
                        NULL))
            return 1;
        const lj_val_t *tab = lj_get(body, "offsetTable");
        for (size_t j = 0; tab && j < tab->n; j++)
            printf("%-40s  %-40lld  %-40lld\n", lj_get_str(tab->members[j].key, "brokerName", names[i]),
                   (long long)lj_get_int(tab->members[j].key, "queueId", 0), (long long)lj_int(tab->members[j].val, 0));
        lj_free(body);
    }
    return 0;
}

int cmd_reset_offset_by_time(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:g:t:s:f:c", v) || !v['g'] || !v['t'] || !v['s']) {
        fprintf(stderr, "mqadmin: resetOffsetByTime needs -g group -t topic -s timestamp (ms, yyyy-MM-dd#HH:mm:ss:SSS or now)\n");
        return 2;
    }
    int64_t ts;
    if (strcmp(v['s'], "now") == 0) {
        ts = cm_now_ms();
    } else if (strchr(v['s'], '#')) {
        struct tm tm = {0};
        int ms = 0;
        if (sscanf(v['s'], "%d-%d-%d#%d:%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                   &tm.tm_sec, &ms) < 6) {
            fprintf(stderr, "mqadmin: bad timestamp %s\n", v['s']);
            return 2;
        }
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        tm.tm_isdst = -1;
        ts = (int64_t)mktime(&tm) * 1000 + ms;
    } else if (cm_parse_i64(v['s'], &ts) != 0) {
        fprintf(stderr, "mqadmin: bad timestamp %s\n", v['s']);
        return 2;
    }
    printf("rollback consumer offset by specified group[%s], topic[%s], force[%s], timestamp(string)[%s], "
           "timestamp(long)[%lld]\n", v['g'], v['t'], v['f'] ? v['f'] : "true", v['s'], (long long)ts);
    return reset_offsets(v['n'], v['g'], v['t'], ts, v['f'] ? v['f'] : "true");
}

/* As RocketMQ's skipAccumulatedMessage: every queue of the group moves to its max offset. */
int cmd_skip_accumulated(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:g:t:f:", v) || !v['g'] || !v['t']) {
        fprintf(stderr, "mqadmin: skipAccumulatedMessage needs -g group -t topic\n");
        return 2;
    }
    return reset_offsets(v['n'], v['g'], v['t'], -1, v['f'] ? v['f'] : "true");
}

/* As RocketMQ's cloneGroupOffset: the source group's consumer offsets (GET_CONSUME_STATS) are
 * written for the destination group queue by queue (UPDATE_CONSUMER_OFFSET). */
int cmd_clone_group_offset(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:s:d:t:o:", v) || !v['s'] || !v['d'] || !v['t']) {
        fprintf(stderr, "mqadmin: cloneGroupOffset needs -s srcGroup -d destGroup -t topic\n");
        return 2;
    }
    const char *ns = ma_namesrv(v['n']);
    char retry[300], addrs[16][128], names[16][128];
    snprintf(retry, sizeof retry, "%%RETRY%%%s", v['s']);
    int nb = ns ? ma_topic_masters(ns, retry, addrs, names, 16) : -1;
    if (nb <= 0)
        return 1;
    int ok = 1;
    for (int i = 0; i < nb && ok; i++) {
        lj_val_t *st = NULL;
        ok = ma_call_fields(addrs[i], &st, 208, "consumerGroup", v['s'], NULL) == 0;
        const lj_val_t *tab = lj_get(st, "offsetTable");
        for (size_t j = 0; ok && tab && j < tab->n; j++) {
            const lj_val_t *mq = tab->members[j].key;
            int64_t off = lj_get_int(tab->members[j].val, "consumerOffset", -1);
            if (off < 0)
                continue;
            rm_cmd_t up;
            rm_cmd_init(&up, 15);
            rm_ext_set(&up, "consumerGroup", v['d']);
            rm_ext_set(&up, "topic", lj_get_str(mq, "topic", ""));
            rm_ext_set_i64(&up, "queueId", lj_get_int(mq, "queueId", 0));
            rm_ext_set_i64(&up, "commitOffset", off);
            ok = ma_call_ok(addrs[i], &up, NULL) == 0;
            rm_cmd_free(&up);
        }
        lj_free(st);
    }
    if (!ok)
        return 1;
    printf("clone group offset success. srcGroup[%s], destGroup=[%s], topic[%s]", v['s'], v['d'], v['t']);
    return 0;
}
