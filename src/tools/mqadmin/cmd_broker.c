/* mqadmin's broker commands: status, config read/update, maintenance actions (cleanExpiredCQ,
 * cleanUnusedTopic, deleteExpiredCommitLog), brokerConsumeStats and queryCq. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mqadmin.h"

static int cmp_member(const void *a, const void *b)
{
    return strcmp(lj_str(((const lj_member_t *)a)->key, ""), lj_str(((const lj_member_t *)b)->key, ""));
}

int cmd_broker_status(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:b:c:", v) || (!v['b'] && !v['c'])) {
        fprintf(stderr, "mqadmin: brokerStatus needs -b brokerAddr or -c clusterName\n");
        return 2;
    }
    char addrs[16][128];
    int n = ma_broker_addrs(v, addrs, 16);
    for (int i = 0; i < n; i++) {
        lj_val_t *kv = NULL;
        int rc = ma_call_fields(addrs[i], &kv, 28, NULL);
        if (rc)
            return 1;
        lj_val_t *tab = (lj_val_t *)lj_get(kv, "table");
        if (tab && tab->type == LJ_OBJ) /* Java prints them through a TreeMap */
            qsort(tab->members, tab->n, sizeof *tab->members, cmp_member);
        for (size_t j = 0; tab && j < tab->n; j++) {
            if (v['c'])
                printf("%-24s %-32s: %s\n", addrs[i], lj_str(tab->members[j].key, ""), lj_str(tab->members[j].val, ""));
            else
                printf("%-32s: %s\n", lj_str(tab->members[j].key, ""), lj_str(tab->members[j].val, ""));
        }
        lj_free(kv);
    }
    return n > 0 ? 0 : 1;
}

int cmd_get_broker_config(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:b:c:", v) || (!v['b'] && !v['c'])) {
        fprintf(stderr, "mqadmin: getBrokerConfig needs -b brokerAddr or -c clusterName\n");
        return 2;
    }
    char addrs[16][128];
    int n = ma_broker_addrs(v, addrs, 16);
    for (int i = 0; i < n; i++) {
        rm_cmd_t req, resp;
        rm_cmd_init(&req, 26);
        int rc = ma_rpc(addrs[i], &req, &resp);
        rm_cmd_free(&req);
        if (rc)
            return 1;
        if (v['b'])
            printf("============%s============\n", addrs[i]);
        else
            printf("============Master: %s============\n", addrs[i]);
        cm_props_t props = {0};
        if (resp.code != 0 || cm_props_parse(&props, (const char *)resp.body, resp.body_len) != 0 || props.n == 0)
            printf("Broker[%s] has no config property!\n", addrs[i]);
        for (size_t j = 0; j < props.n; j++)
            printf("%-50s=  %s\n", props.items[j].key, props.items[j].val);
        printf("\n");
        cm_props_free(&props);
        rm_cmd_free(&resp);
    }
    return n > 0 ? 0 : 1;
}

int cmd_update_broker_config(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:b:c:k:v:", v) || !v['k'] || !v['v'] || (!v['b'] && !v['c'])) {
        fprintf(stderr, "mqadmin: updateBrokerConfig needs -k key -v value and -b brokerAddr or -c clusterName\n");
        return 2;
    }
    char addrs[16][128], body[1200];
    int n = ma_broker_addrs(v, addrs, 16), rc = n > 0 ? 0 : 1;
    snprintf(body, sizeof body, "%s=%s\n", v['k'], v['v']);
    for (int i = 0; i < n && rc == 0; i++) {
        rc = ma_call_raw(addrs[i], NULL, body, strlen(body), 25, NULL);
        if (rc == 0)
            printf("update broker config success, %s\n", addrs[i]);
    }
    return rc ? 1 : 0;
}

/* One request with no header to each broker of -b or -c (no -c: every cluster); RocketMQ
 * prints "success" or "false" with no newline. */
static int broker_action(int argc, char **argv, int code)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:b:c:", v))
        return 2;
    char addrs[64][128];
    int n = ma_broker_addrs(v, addrs, 64), ok = n > 0;
    for (int i = 0; i < n; i++)
        ok &= ma_call_fields(addrs[i], NULL, code, NULL) == 0;
    printf("%s", ok ? "success" : "false");
    return ok ? 0 : 1;
}

int cmd_clean_expired_cq(int argc, char **argv) { return broker_action(argc, argv, 306); }
int cmd_clean_unused_topic(int argc, char **argv) { return broker_action(argc, argv, 316); }
int cmd_delete_expired_commitlog(int argc, char **argv) { return broker_action(argc, argv, 329); }

int cmd_broker_consume_stats(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:b:t:l:o:", v) || !v['b']) {
        fprintf(stderr, "mqadmin: brokerConsumeStats needs -b brokerAddr\n");
        return 2;
    }
    long long level = v['l'] ? atoll(v['l']) : 0;
    lj_val_t *all = NULL;
    int rc = ma_call_fields(v['b'], &all, 317, "isOrder", v['o'] && !strcasecmp(v['o'], "true") ? "true" : "false", "timeoutMillis", v['t'] ? v['t'] : "50000", NULL);
    if (rc)
        return 1;
    printf("%-64s  %-64s  %-32s  %-4s  %-20s  %-20s  %-20s  %s\n", "#Topic", "#Group", "#Broker Name", "#QID",
           "#Broker Offset", "#Consumer Offset", "#Diff", "#LastTime");
    const lj_val_t *list = lj_get(all, "consumeStatsList");
    for (size_t i = 0; list && i < list->n; i++) {
        const lj_val_t *m = list->items[i];
        for (size_t g = 0; m && m->type == LJ_OBJ && g < m->n; g++) {
            const lj_val_t *arr = m->members[g].val;
            for (size_t k = 0; arr && k < arr->n; k++) {
                ma_mqrow_t *rows = NULL;
                size_t nr = 0;
                static const char *const f[3] = {"brokerOffset", "consumerOffset", "lastTimestamp"};
                ma_collect_rows(lj_get(arr->items[k], "offsetTable"), f, &rows, &nr);
                qsort(rows, nr, sizeof *rows, ma_cmp_mqrow);
                for (size_t r = 0; r < nr; r++) {
                    long long diff = (long long)(rows[r].v[0] - rows[r].v[1]);
                    if (diff < level || rows[r].v[2] <= 0) /* as RocketMQ: queues never consumed are not shown */
                        continue;
                    char last[40];
                    ma_date_time(rows[r].v[2], last, sizeof last);
                    printf("%-64s  %-64s  %-32s  %-4d  %-20lld  %-20lld  %-20lld  %s\n", ma_front(rows[r].topic, 64),
                           m->members[g].key->s, ma_front(rows[r].broker, 32), rows[r].qid, (long long)rows[r].v[0],
                           (long long)rows[r].v[1], diff, last);
                }
                free(rows);
            }
        }
    }
    printf("\nDiff Total: %lld\n", (long long)lj_get_int(all, "totalDiff", 0));
    lj_free(all);
    return 0;
}

/* RocketMQ prints the subscription with fastjson's pretty printer (tab indents). */
static void print_pretty(const lj_val_t *o)
{
    printf("{\n");
    for (size_t i = 0; o && o->type == LJ_OBJ && i < o->n; i++) {
        cm_buf_t b;
        cm_buf_init(&b);
        lj_write(o->members[i].val, LJ_W_FASTJSON, &b);
        printf("\t\"%s\":%.*s%s\n", o->members[i].key->s, (int)b.len, b.data, i + 1 < o->n ? "," : "");
        cm_buf_free(&b);
    }
    printf("}");
}

int cmd_query_cq(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:t:q:i:c:b:g:", v) || !v['t'] || !v['q'] || !v['i']) {
        fprintf(stderr, "mqadmin: queryCq needs -t topic -q queueId -i index\n");
        return 2;
    }
    char addr[128], idx[24];
    if (ma_broker_or_master(v['b'], v['n'], v['t'], addr))
        return 1;
    long long index = atoll(v['i']);
    snprintf(idx, sizeof idx, "%lld", index);
    rm_cmd_t resp;
    if (ma_call_raw(addr, &resp, NULL, 0, 321, "topic", v['t'], "queueId", v['q'], "index", idx, "count",
                    v['c'] ? v['c'] : "10", "consumerGroup", v['g'], NULL))
        return 1;
    lj_val_t *body = NULL;
    if (resp.body_len && lj_parse((const char *)resp.body, resp.body_len, &body) != 0)
        body = NULL;
    const lj_val_t *sub = lj_get(body, "subscriptionData");
    if (sub) {
        printf("Subscription data: \n");
        print_pretty(sub);
        printf("\n======================================\n");
    }
    if (lj_get_str(body, "filterData", NULL))
        printf("Filter data: \n%s\n======================================\n", lj_get_str(body, "filterData", ""));
    printf("Queue data: \nmax: %lld, min: %lld\n", (long long)lj_get_int(body, "maxQueueIndex", 0),
           (long long)lj_get_int(body, "minQueueIndex", 0));
    printf("======================================\n");
    const lj_val_t *units = lj_get(body, "queueData");
    for (size_t i = 0; units && i < units->n; i++) {
        const lj_val_t *u = units->items[i];
        printf("idx: %lld\nConsumeQueueData{physicOffset=%lld, physicSize=%lld, tagsCode=%lld, extendDataJson='null', "
               "bitMap='null', eval=%s, msg='null'}\n======================================\n",
               index + (long long)i, (long long)lj_get_int(u, "physicOffset", 0), (long long)lj_get_int(u, "physicSize", 0),
               (long long)lj_get_int(u, "tagsCode", 0), lj_get_bool(u, "eval", 0) ? "true" : "false");
    }
    lj_free(body);
    rm_cmd_free(&resp);
    return 0;
}
