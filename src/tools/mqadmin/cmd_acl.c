/* cmd_acl.c: the ACL admin commands (acl spec §3.3), RocketMQ 4.9.5's flags and output lines:
 * updateAclConfig (50), deleteAclConfig (51), clusterAclConfigVersion (52) and
 * updateGlobalWhiteAddr (53). -b asks one broker; -c asks every master and slave of the cluster
 * (clusterAclConfigVersion: the masters), found through the name server (-n / NAMESRV_ADDR).
 * getAclConfig (54) is not offered: it reads every secret back, and Loulan's broker does not
 * answer it. Requests are signed with tools.yml's keys (sign.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mqadmin.h"

#define MAX_BROKERS 128

/* Java's String.trim() of an option value, in place (the values are argv's own strings). */
static const char *trimmed(const char *s)
{
    if (!s)
        return NULL;
    while (*s && (unsigned char)*s <= ' ')
        s++;
    char *c = (char *)s;
    size_t n = strlen(c);
    while (n && (unsigned char)c[n - 1] <= ' ')
        c[--n] = 0;
    return c;
}

/* A comma list as the Java tool sends it: split(",") then joined, so trailing commas go. */
static const char *list_arg(const char *s)
{
    if (!s)
        return NULL;
    char *c = (char *)trimmed(s);
    size_t n = strlen(c);
    while (n && c[n - 1] == ',')
        c[--n] = 0;
    return c;
}

/* Every master and slave address of the brokers of `cluster` (RocketMQ's
 * fetchMasterAndSlaveAddrByClusterName), from GET_BROKER_CLUSTER_INFO; how many. */
static int cluster_all(const char *ns, const char *cluster, char addrs[][128], int max)
{
    lj_val_t *info = NULL;
    int n = 0;
    if (ma_call_fields(ns, &info, 106, NULL) != 0)
        return 0;
    const lj_val_t *names = lj_get(lj_get(info, "clusterAddrTable"), cluster);
    for (size_t i = 0; names && names->type == LJ_ARR && i < names->n; i++) {
        const lj_val_t *bd = lj_get(lj_get(info, "brokerAddrTable"), lj_str(names->items[i], ""));
        const lj_val_t *ba = lj_get(bd, "brokerAddrs");
        for (size_t k = 0; ba && ba->type == LJ_OBJ && k < ba->n && n < max; k++)
            if (ba->members[k].val->type == LJ_STR)
                snprintf(addrs[n++], 128, "%s", ba->members[k].val->s);
    }
    lj_free(info);
    if (!n)
        fprintf(stderr, "mqadmin: cluster %s has no brokers\n", cluster);
    return n;
}

/* The brokers to ask: -b, else every master and slave of -c (masters only when asked). */
static int targets(const char *const *v, int masters_only, char addrs[][128])
{
    if (v['b']) {
        snprintf(addrs[0], 128, "%s", trimmed(v['b']));
        return 1;
    }
    const char *ns = ma_namesrv(v['n']);
    if (!ns)
        return 0;
    const char *cluster = trimmed(v['c']);
    return masters_only ? ma_cluster_masters(ns, cluster, addrs, MAX_BROKERS)
                        : cluster_all(ns, cluster, addrs, MAX_BROKERS);
}

/* -b or -c, exactly one (RocketMQ's required option group). */
static int one_target(const char *const *v) { return !v['b'] != !v['c']; }

int cmd_update_acl_config(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:b:c:a:s:w:i:u:t:g:m:", v) || !one_target(v) || !v['a'] || !v['s']) {
        fprintf(stderr, "mqadmin: updateAclConfig needs -a accessKey, -s secretKey and -b brokerAddr or -c clusterName\n");
        return 2;
    }
    char addrs[MAX_BROKERS][128];
    int n = targets(v, 0, addrs);
    if (n == 0)
        return 1;
    /* Boolean.parseBoolean: "true" in any case, else false; always sent */
    const char *admin = v['m'] && !strcasecmp(trimmed(v['m']), "true") ? "true" : "false";
    for (int i = 0; i < n; i++) {
        if (ma_call_fields(addrs[i], NULL, 50, "accessKey", trimmed(v['a']), "secretKey", trimmed(v['s']), "admin",
                           admin, "defaultGroupPerm", trimmed(v['u']), "defaultTopicPerm", trimmed(v['i']),
                           "whiteRemoteAddress", trimmed(v['w']), "topicPerms", list_arg(v['t']), "groupPerms",
                           list_arg(v['g']), NULL))
            return 1;
        printf("create or update plain access config to %s success.\n", addrs[i]);
    }
    return 0;
}

int cmd_delete_acl_config(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:b:c:a:", v) || !one_target(v) || !v['a']) {
        fprintf(stderr, "mqadmin: deleteAclConfig needs -a accessKey and -b brokerAddr or -c clusterName\n");
        return 2;
    }
    char addrs[MAX_BROKERS][128];
    int n = targets(v, 0, addrs);
    if (n == 0)
        return 1;
    const char *ak = trimmed(v['a']);
    for (int i = 0; i < n; i++) {
        if (ma_call_fields(addrs[i], NULL, 51, "accessKey", ak, NULL))
            return 1;
        printf("delete plain access config account from %s success.\n", addrs[i]);
    }
    printf("account's accesskey is:%s\n", ak);
    return 0;
}

int cmd_update_global_white_addr(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:b:c:g:p:", v) || !one_target(v) || !v['g']) {
        fprintf(stderr, "mqadmin: updateGlobalWhiteAddr needs -g globalWhiteRemoteAddresses and -b brokerAddr or -c "
                        "clusterName\n");
        return 2;
    }
    char addrs[MAX_BROKERS][128];
    int n = targets(v, 0, addrs);
    if (n == 0)
        return 1;
    for (int i = 0; i < n; i++) {
        if (ma_call_fields(addrs[i], NULL, 53, "globalWhiteAddrs", trimmed(v['g']), "aclFileFullPath",
                           trimmed(v['p']), NULL))
            return 1;
        printf("update global white remote addresses to %s success.\n", addrs[i]);
    }
    return 0;
}

#define ROW_FMT "%-16s  %-22s  %-22s  %-20s  %-22s  %-22s\n"

/* One broker's rows: every ACL file with its data version (RocketMQ's printClusterBaseInfo). */
static int print_versions(const char *addr)
{
    rm_cmd_t resp;
    if (ma_call_raw(addr, &resp, NULL, 0, 52, NULL))
        return -1;
    const char *all = rm_ext_get(&resp, "allAclFileVersion");
    lj_val_t *files = NULL;
    int rc = -1;
    if (!rm_ext_get(&resp, "version") || !all || lj_parse(all, strlen(all), &files) || files->type != LJ_OBJ) {
        fprintf(stderr, "mqadmin: unreadable ACL version answer from %s\n", addr);
        goto out;
    }
    for (size_t i = 0; i < files->n; i++) {
        const lj_val_t *dv = files->members[i].val;
        char when[64], counter[32];
        ma_date_time(lj_get_int(dv, "timestamp", 0), when, sizeof when);
        snprintf(counter, sizeof counter, "%lld", (long long)lj_get_int(dv, "counter", 0));
        printf(ROW_FMT, rm_ext_get(&resp, "clusterName") ? rm_ext_get(&resp, "clusterName") : "",
               rm_ext_get(&resp, "brokerName") ? rm_ext_get(&resp, "brokerName") : "",
               rm_ext_get(&resp, "brokerAddr") ? rm_ext_get(&resp, "brokerAddr") : "", lj_str(files->members[i].key, ""),
               counter, when);
    }
    rc = 0;
out:
    lj_free(files);
    rm_cmd_free(&resp);
    return rc;
}

int cmd_cluster_acl_config_version(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:b:c:", v) || !one_target(v)) {
        fprintf(stderr, "mqadmin: clusterAclConfigVersion needs -b brokerAddr or -c clusterName\n");
        return 2;
    }
    char addrs[MAX_BROKERS][128];
    int n = targets(v, 1, addrs);
    if (n == 0)
        return 1;
    if (v['b']) {
        if (print_versions(addrs[0]))
            return 1;
        printf("get broker's plain access config version success.\n");
        return 0;
    }
    printf(ROW_FMT, "#Cluster Name", "#Broker Name", "#Broker Addr", "#AclFilePath", "#AclConfigVersionNum",
           "#AclLastUpdateTime");
    for (int i = 0; i < n; i++)
        if (print_versions(addrs[i]))
            return 1;
    printf("get cluster's plain access config version success.\n");
    return 0;
}
