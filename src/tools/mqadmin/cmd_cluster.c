/* mqadmin's clusterList: one row per broker address with its runtime figures (or, with -m,
 * yesterday's and today's message totals), in RocketMQ 4.9's columns. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqadmin.h"

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static double first_number(const char *s) { return s ? atof(s) : 0; }

/* One row per broker address: RocketMQ 4.9's column layout and value formats. */
static void cluster_row(const char *cluster, const char *broker, const char *id, const char *addr)
{
    lj_val_t *info = NULL;
    int ok = ma_call_fields(addr, &info, 28, NULL) == 0;
    const lj_val_t *t = lj_get(info, "table");
    char in[64], out[64], hour[32], space[32];
    snprintf(in, sizeof in, "%9.2f(%s,%sms)", first_number(lj_get_str(t, "putTps", "0")),
             lj_get_str(t, "sendThreadPoolQueueSize", "0"), lj_get_str(t, "sendThreadPoolQueueHeadWaitTimeMills", "0"));
    snprintf(out, sizeof out, "%9.2f(%s,%sms)", first_number(lj_get_str(t, "getTransferedTps", "0")),
             lj_get_str(t, "pullThreadPoolQueueSize", "0"), lj_get_str(t, "pullThreadPoolQueueHeadWaitTimeMills", "0"));
    int64_t earliest = lj_get_int(t, "earliestMessageTimeStamp", -1);
    snprintf(hour, sizeof hour, "%2.2f", earliest > 0 ? (double)(cm_now_ms() - earliest) / 3600.0 / 1000.0 : 0.0);
    snprintf(space, sizeof space, "%.4f", first_number(lj_get_str(t, "commitLogDiskRatio", "0")));
    printf("%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s\n", cluster, broker, id, addr,
           ok ? lj_get_str(t, "brokerVersionDesc", "") : "", in, out, lj_get_str(t, "pageCacheLockTimeMills", "0"), hour, space);
    lj_free(info);
}

/* clusterList -m: yesterday's and today's message totals from the runtime info's "morning"
 * counters, as RocketMQ 4.9's printClusterMoreStats. */
static void cluster_more_row(const char *cluster, const char *broker, const char *addr)
{
    lj_val_t *info = NULL;
    ma_call_fields(addr, &info, 28, NULL);
    const lj_val_t *t = lj_get(info, "table");
#define RT(k) strtoll(lj_get_str(t, k, "0"), NULL, 10)
    long long inYest = RT("msgPutTotalTodayMorning") - RT("msgPutTotalYesterdayMorning");
    long long outYest = RT("msgGetTotalTodayMorning") - RT("msgGetTotalYesterdayMorning");
    long long inToday = RT("msgPutTotalTodayNow") - RT("msgPutTotalTodayMorning");
    long long outToday = RT("msgGetTotalTodayNow") - RT("msgGetTotalTodayMorning");
#undef RT
    printf("%-16s  %-32s %14lld %14lld %14lld %14lld\n", cluster, broker, inYest, outYest, inToday, outToday);
    lj_free(info);
}

int cmd_cluster_list(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:c:mi:", v))
        return 2;
    const char *ns = ma_namesrv(v['n']);
    lj_val_t *info = NULL;
    int rc = ns ? ma_call_fields(ns, &info, 106, NULL) : -1;
    if (rc)
        return 1;
    int more = v['m'] != NULL;
    if (more)
        printf("%-16s  %-32s %14s %14s %14s %14s\n", "#Cluster Name", "#Broker Name", "#InTotalYest",
               "#OutTotalYest", "#InTotalToday", "#OutTotalToday");
    else
        printf("%-16s  %-22s  %-4s  %-22s %-16s %19s %19s %10s %5s %6s\n", "#Cluster Name", "#Broker Name", "#BID",
               "#Addr", "#Version", "#InTPS(LOAD)", "#OutTPS(LOAD)", "#PCWait(ms)", "#Hour", "#SPACE");
    const lj_val_t *clusters = lj_get(info, "clusterAddrTable");
    for (size_t i = 0; clusters && i < clusters->n; i++) {
        const char *cluster = clusters->members[i].key->s;
        if (v['c'] && strcmp(v['c'], cluster) != 0)
            continue;
        const lj_val_t *names = clusters->members[i].val;
        const char **sorted = calloc(names->n + 1, sizeof *sorted);
        for (size_t j = 0; j < names->n; j++)
            sorted[j] = lj_str(names->items[j], "");
        qsort(sorted, names->n, sizeof *sorted, cmp_str);
        for (size_t j = 0; j < names->n; j++) {
            const lj_val_t *addrs = lj_get(lj_get(lj_get(info, "brokerAddrTable"), sorted[j]), "brokerAddrs");
            /* ids in increasing order, as Java's HashMap<Long, String> iterates small ids: the
             * master (0) first, then a DLedger group's followers 1, 2, 3 */
            for (int64_t done = -1, next; addrs; done = next) {
                size_t at = 0;
                next = INT64_MAX;
                for (size_t k = 0; k < addrs->n; k++) {
                    int64_t id = lj_int(addrs->members[k].key, -1);
                    if (id > done && id < next)
                        next = id, at = k;
                }
                if (next == INT64_MAX)
                    break;
                if (more)
                    cluster_more_row(cluster, sorted[j], lj_str(addrs->members[at].val, ""));
                else
                    cluster_row(cluster, sorted[j], addrs->members[at].key->s, lj_str(addrs->members[at].val, ""));
            }
        }
        free(sorted);
    }
    lj_free(info);
    return 0;
}
