/* mqadmin's topic commands: topicList, topicRoute, updateTopic, updateTopicPerm, deleteTopic,
 * topicStatus, topicClusterList, and statsAll (per topic and its consumer groups). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqadmin.h"

int cmd_topic_list(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:c", v))
        return 2;
    const char *ns = ma_namesrv(v['n']);
    lj_val_t *body = NULL;
    int rc = ns ? ma_call_fields(ns, &body, 206, NULL) : -1;
    const lj_val_t *list = lj_get(body, "topicList");
    for (size_t i = 0; rc == 0 && list && i < list->n; i++)
        printf("%s\n", lj_str(list->items[i], ""));
    lj_free(body);
    return rc ? 1 : 0;
}

int cmd_topic_route(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:t:", v) || !v['t']) {
        fprintf(stderr, "mqadmin: topicRoute needs -t topic\n");
        return 2;
    }
    lj_val_t *body = NULL;
    int rc = ma_fetch_route(ma_namesrv(v['n']), v['t'], &body);
    if (rc == 0) {
        cm_buf_t b;
        cm_buf_init(&b);
        lj_write(body, LJ_W_STRICT, &b);
        printf("%s\n", b.data);
        cm_buf_free(&b);
    }
    lj_free(body);
    return rc ? 1 : 0;
}

static const char *perm_string(int perm)
{
    static char s[4];
    s[0] = perm & 4 ? 'R' : '-';
    s[1] = perm & 2 ? 'W' : '-';
    s[2] = perm & 1 ? 'X' : '-';
    s[3] = 0;
    return s;
}

/* UPDATE_AND_CREATE_TOPIC (17) to one broker. */
/* attrs: RocketMQ 5's topic attributes change ("+message.type=FIFO,-k"), or NULL for none */
static int put_topic(const char *addr, const char *topic, int r, int w, int perm, int sysFlag, int order, const char *attrs)
{
    char rs[16], ws[16], ps[16], fs[16];
    snprintf(rs, sizeof rs, "%d", r);
    snprintf(ws, sizeof ws, "%d", w);
    snprintf(ps, sizeof ps, "%d", perm);
    snprintf(fs, sizeof fs, "%d", sysFlag);
    return ma_call_fields(addr, NULL, 17, "topic", topic, "defaultTopic", "TBW102", "readQueueNums", rs, "writeQueueNums",
                       ws, "perm", ps, "topicFilterType", "SINGLE_TAG", "topicSysFlag", fs, "order",
                       order ? "true" : "false", attrs ? "attributes" : NULL, attrs, NULL);
}

/* Java's TopicConfig.toString(), then `end`. */
static void print_topic_config(const char *topic, int r, int w, int perm, int sysFlag, int order, const char *end)
{
    printf("TopicConfig [topicName=%s, readQueueNums=%d, writeQueueNums=%d, perm=%s, topicFilterType=SINGLE_TAG, "
           "topicSysFlag=%d, order=%s]%s", topic, r, w, perm_string(perm), sysFlag, order ? "true" : "false", end);
}

int cmd_update_topic(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:t:b:c:r:w:p:o:u:s:a:", v) || !v['t'] || (!v['b'] && !v['c'])) {
        fprintf(stderr, "mqadmin: updateTopic needs -t topic and -b brokerAddr or -c clusterName\n");
        return 2;
    }
    int32_t r = 8, w = 8, perm = 6;
    if ((v['r'] && cm_parse_i32(v['r'], &r)) || (v['w'] && cm_parse_i32(v['w'], &w)) || (v['p'] && cm_parse_i32(v['p'], &perm))) {
        fprintf(stderr, "mqadmin: -r, -w and -p take numbers\n");
        return 2;
    }
    char addrs[64][128];
    int n = ma_broker_addrs(v, addrs, 64);
    if (n == 0)
        return 1;
    int order = v['o'] && strcmp(v['o'], "true") == 0;
    for (int i = 0; i < n; i++) {
        if (put_topic(addrs[i], v['t'], r, w, perm, 0, order, v['a']))
            return 1;
        printf("create topic to %s success.\n", addrs[i]);
    }
    print_topic_config(v['t'], r, w, perm, 0, order, "\n");
    return 0;
}

/* updateTopicPerm: the topic's queue counts from its route, the new permission to its masters. */
int cmd_update_topic_perm(int argc, char **argv)
{
    const char *v[128] = {0};
    int32_t perm;
    if (ma_parse(argc, argv, "n:t:b:c:p:", v) || !v['t'] || !v['p'] || (!v['b'] && !v['c']) || cm_parse_i32(v['p'], &perm)) {
        fprintf(stderr, "mqadmin: updateTopicPerm needs -t topic -p perm (2|4|6) and -b brokerAddr or -c clusterName\n");
        return 2;
    }
    const char *ns = ma_namesrv(v['n']);
    lj_val_t *route = NULL;
    if (!ns || ma_fetch_route(ns, v['t'], &route) != 0)
        return 1;
    const lj_val_t *qd = lj_get(route, "queueDatas"), *bds = lj_get(route, "brokerDatas");
    const lj_val_t *q0 = qd && qd->n ? qd->items[0] : NULL;
    int r = (int)lj_get_int(q0, "readQueueNums", 0), w = (int)lj_get_int(q0, "writeQueueNums", 0);
    int sysFlag = (int)lj_get_int(q0, "topicSysFlag", 0), oldPerm = (int)lj_get_int(q0, "perm", 0), rc = 0;
    char addrs[64][128];
    int n = 0;
    if (v['b']) { /* as RocketMQ: -b must be the master of a broker that serves the topic */
        const char *name = NULL;
        for (size_t i = 0; !name && bds && i < bds->n; i++)
            if (!strcmp(lj_get_str(lj_get(bds->items[i], "brokerAddrs"), "0", ""), v['b']))
                name = lj_get_str(bds->items[i], "brokerName", NULL);
        for (size_t i = 0; name && qd && i < qd->n; i++)
            if (!strcmp(lj_get_str(qd->items[i], "brokerName", ""), name))
                oldPerm = (int)lj_get_int(qd->items[i], "perm", 0);
        if (!name)
            printf("updateTopicPerm error broker not exit or broker is not master!.\n");
        else if (perm == oldPerm)
            printf("new perm equals to the old one!\n");
        else if ((rc = put_topic(v['b'], v['t'], r, w, perm, sysFlag, 0, NULL)) == 0) {
            printf("update topic perm from %d to %d in %s success.\n", oldPerm, perm, v['b']);
            print_topic_config(v['t'], r, w, perm, sysFlag, 0, ".\n");
        }
    } else if ((n = ma_cluster_masters(ns, v['c'], addrs, 64)) > 0) {
        for (int i = 0; i < n && !rc; i++)
            if ((rc = put_topic(addrs[i], v['t'], r, w, perm, sysFlag, 0, NULL)) == 0)
                printf("update topic perm from %d to %d in %s success.\n", oldPerm, perm, addrs[i]);
    }
    lj_free(route);
    return rc || (v['c'] && n == 0) ? 1 : 0;
}

int cmd_delete_topic(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:t:c:", v) || !v['t'] || !v['c']) {
        fprintf(stderr, "mqadmin: deleteTopic needs -t topic and -c clusterName\n");
        return 2;
    }
    const char *ns = ma_namesrv(v['n']);
    char addrs[64][128];
    int n = ns ? ma_cluster_masters(ns, v['c'], addrs, 64) : 0;
    if (n == 0)
        return 1;
    for (int i = 0; i < n; i++) {
        int rc = ma_call_fields(addrs[i], NULL, 215, "topic", v['t'], NULL);
        if (rc)
            return 1;
    }
    int rc = ma_call_fields(ns, NULL, 216, "topic", v['t'], NULL);
    if (rc)
        return 1;
    printf("delete topic [%s] from cluster [%s] success.\n", v['t'], v['c']);
    printf("delete topic [%s] from NameServer success.\n", v['t']);
    return 0;
}

int cmd_topic_status(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:t:c:", v) || !v['t']) {
        fprintf(stderr, "mqadmin: topicStatus needs -t topic\n");
        return 2;
    }
    char addrs[16][128];
    const char *ns = ma_namesrv(v['n']);
    int nb = ns ? ma_topic_masters(ns, v['t'], addrs, NULL, 16) : -1, rc = nb < 0 ? -1 : 0;
    if (rc)
        return 1;
    ma_mqrow_t *rows = NULL;
    size_t n = 0;
    for (int i = 0; i < nb && rc == 0; i++) {
        lj_val_t *stats = NULL;
        rc = ma_call_fields(addrs[i], &stats, 202, "topic", v['t'], NULL);
        static const char *const f[3] = {"minOffset", "maxOffset", "lastUpdateTimestamp"};
        ma_collect_rows(lj_get(stats, "offsetTable"), f, &rows, &n);
        lj_free(stats);
    }
    if (rc == 0) {
        qsort(rows, n, sizeof *rows, ma_cmp_mqrow);
        printf("%-32s  %-4s  %-20s  %-20s    %s\n", "#Broker Name", "#QID", "#Min Offset", "#Max Offset", "#Last Updated");
        for (size_t i = 0; i < n; i++) {
            char when[40] = "";
            if (rows[i].v[2] > 0)
                ma_human_time(rows[i].v[2], when, sizeof when);
            printf("%-32s  %-4d  %-20lld  %-20lld    %s\n", rows[i].broker, rows[i].qid, (long long)rows[i].v[0],
                   (long long)rows[i].v[1], when);
        }
    }
    free(rows);
    return rc ? 1 : 0;
}

/* The clusters whose brokers serve the topic. */
int cmd_topic_cluster_list(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:t:", v) || !v['t']) {
        fprintf(stderr, "mqadmin: topicClusterList needs -t topic\n");
        return 2;
    }
    const char *ns = ma_namesrv(v['n']);
    lj_val_t *route = NULL, *info = NULL;
    if (!ns || ma_fetch_route(ns, v['t'], &route) != 0 || ma_call_fields(ns, &info, 106, NULL) != 0) {
        lj_free(route);
        return 1;
    }
    const lj_val_t *bds = lj_get(route, "brokerDatas"), *clusters = lj_get(info, "clusterAddrTable");
    for (size_t c = 0; clusters && clusters->type == LJ_OBJ && c < clusters->n; c++) {
        const lj_val_t *names = clusters->members[c].val;
        int hit = 0;
        for (size_t i = 0; !hit && bds && i < bds->n; i++)
            for (size_t j = 0; !hit && names && j < names->n; j++)
                hit = !strcmp(lj_get_str(bds->items[i], "brokerName", ""), lj_str(names->items[j], ""));
        if (hit)
            printf("%s\n", clusters->members[c].key->s);
    }
    lj_free(route);
    lj_free(info);
    return 0;
}

static int stats_data(const char *addr, const char *name, const char *key, double *tps, int64_t *sum24)
{
    rm_cmd_t req, resp;
    rm_cmd_init(&req, 315);
    rm_ext_set(&req, "statsName", name);
    rm_ext_set(&req, "statsKey", key);
    int rc = ma_rpc(addr, &req, &resp);
    rm_cmd_free(&req);
    lj_val_t *d = NULL;
    if (rc == 0 && resp.code == 0 && lj_parse((const char *)resp.body, resp.body_len, &d) == 0) {
        *tps += lj_double(lj_get(lj_get(d, "statsMinute"), "tps"), 0);
        /* StatsAllSubCommand.compute24HourSum: the day's sum, else the hour's, else the minute's */
        int64_t day = lj_get_int(lj_get(d, "statsDay"), "sum", 0), hour = lj_get_int(lj_get(d, "statsHour"), "sum", 0);
        *sum24 += day ? day : hour ? hour : lj_get_int(lj_get(d, "statsMinute"), "sum", 0);
    }
    lj_free(d);
    if (rc == 0)
        rm_cmd_free(&resp);
    return rc;
}

static void stats_topic(const char *ns, const char *topic, int active)
{
    char addrs[16][128];
    int nb = ma_topic_masters(ns, topic, addrs, NULL, 16);
    double inTps = 0;
    int64_t in24 = 0;
    for (int i = 0; i < nb; i++)
        stats_data(addrs[i], "TOPIC_PUT_NUMS", topic, &inTps, &in24);
    lj_val_t *groups = NULL;
    if (nb > 0)
        ma_call_fields(addrs[0], &groups, 300, "topic", topic, NULL);
    const lj_val_t *list = lj_get(groups, "groupList");
    for (size_t g = 0; list && g < list->n; g++) {
        const char *group = lj_str(list->items[g], "");
        char key[600];
        snprintf(key, sizeof key, "%s@%s", topic, group);
        double outTps = 0;
        int64_t out24 = 0, acc = 0;
        for (int i = 0; i < nb; i++) {
            stats_data(addrs[i], "GROUP_GET_NUMS", key, &outTps, &out24);
            lj_val_t *st = NULL;
            if (ma_call_fields(addrs[i], &st, 208, "consumerGroup", group, "topic", topic, NULL) == 0) {
                const lj_val_t *tab = lj_get(st, "offsetTable");
                for (size_t j = 0; tab && j < tab->n; j++)
                    acc += lj_get_int(tab->members[j].val, "brokerOffset", 0) - lj_get_int(tab->members[j].val, "consumerOffset", 0);
            }
            lj_free(st);
        }
        if (!active || in24 > 0 || out24 > 0)
            printf("%-64s  %-64s %12lld %11.2f %11.2f %14lld %14lld\n", ma_front(topic, 64), ma_front(group, 64),
                   (long long)(acc < 0 ? 0 : acc), inTps, outTps, (long long)in24, (long long)out24);
    }
    if ((!list || list->n == 0) && (!active || in24 > 0))
        printf("%-64s  %-64s %12d %11.2f %11s %14lld %14s\n", ma_front(topic, 64), "", 0, inTps, "", (long long)in24,
               "NO_CONSUMER");
    lj_free(groups);
}

int cmd_stats_all(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:at:", v))
        return 2;
    const char *ns = ma_namesrv(v['n']);
    lj_val_t *body = NULL;
    int rc = ns ? ma_call_fields(ns, &body, 206, NULL) : -1;
    if (rc)
        return 1;
    printf("%-64s  %-64s %12s %11s %11s %14s %14s\n", "#Topic", "#Consumer Group", "#Accumulation", "#InTPS", "#OutTPS",
           "#InMsg24Hour", "#OutMsg24Hour");
    const lj_val_t *list = lj_get(body, "topicList");
    for (size_t i = 0; list && i < list->n; i++) {
        const char *t = lj_str(list->items[i], "");
        if (!strncmp(t, "%RETRY%", 7) || !strncmp(t, "%DLQ%", 5) || (v['t'] && strcmp(t, v['t']) != 0))
            continue;
        stats_topic(ns, t, v['a'] != NULL);
    }
    lj_free(body);
    return 0;
}
