/* mqadmin's name server commands, sent to every name server of -n as RocketMQ does: write
 * permission wipe/add, config read/update, KV config update/delete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqadmin.h"

static int write_perm(int argc, char **argv, int add)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:b:", v) || !v['b']) {
        fprintf(stderr, "mqadmin: %s needs -b brokerName\n", add ? "addWritePerm" : "wipeWritePerm");
        return 2;
    }
    char nss[8][128];
    int n = ma_ns_all(v['n'], nss, 8), bad = !n;
    for (int i = 0; i < n; i++) {
        rm_cmd_t resp;
        if (ma_call_raw(nss[i], &resp, NULL, 0, add ? 327 : 205, "brokerName", v['b'], NULL) == 0) {
            const char *cnt = rm_ext_get(&resp, add ? "addTopicCount" : "wipeTopicCount");
            printf("%s write perm of broker[%s] in name server[%s] OK, %s\n", add ? "add" : "wipe", v['b'], nss[i],
                   cnt ? cnt : "0");
            rm_cmd_free(&resp);
        } else {
            printf("%s write perm of broker[%s] in name server[%s] Failed\n", add ? "add" : "wipe", v['b'], nss[i]);
            bad = 1;
        }
    }
    return bad;
}

int cmd_wipe_write_perm(int argc, char **argv) { return write_perm(argc, argv, 0); }
int cmd_add_write_perm(int argc, char **argv) { return write_perm(argc, argv, 1); }

int cmd_get_namesrv_config(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:", v))
        return 2;
    char nss[8][128];
    int n = ma_ns_all(v['n'], nss, 8), bad = !n;
    for (int i = 0; i < n; i++) {
        rm_cmd_t resp;
        cm_props_t props = {0};
        if (ma_call_raw(nss[i], &resp, NULL, 0, 319, NULL) != 0) {
            bad = 1;
            continue;
        }
        cm_props_parse(&props, (const char *)resp.body, resp.body_len);
        printf("============%s============\n", nss[i]);
        for (size_t k = 0; k < props.n; k++)
            printf("%-50s=  %s\n", props.items[k].key, props.items[k].val);
        cm_props_free(&props);
        rm_cmd_free(&resp);
    }
    return bad;
}

int cmd_update_namesrv_config(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:k:v:", v) || !v['k'] || !v['v']) {
        fprintf(stderr, "mqadmin: updateNamesrvConfig needs -k key -v value\n");
        return 2;
    }
    char nss[8][128], body[1200];
    int n = ma_ns_all(v['n'], nss, 8), bad = !n;
    int len = snprintf(body, sizeof body, "%s=%s\n", v['k'], v['v']);
    for (int i = 0; i < n; i++)
        if (ma_call_raw(nss[i], NULL, body, (size_t)len, 318, NULL) != 0)
            bad = 1;
    if (!bad) { /* RocketMQ prints the -n list as a Java List, or nothing without -n */
        printf("update name server config success!");
        for (int i = 0; v['n'] && i < n; i++)
            printf("%s%s%s", i ? ", " : "[", nss[i], i + 1 == n ? "]" : "");
        printf("\n%s : %s\n", v['k'], v['v']);
    }
    return bad;
}

static int kv_config(int argc, char **argv, int del)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, del ? "n:s:k:" : "n:s:k:v:", v) || !v['s'] || !v['k'] || (!del && !v['v'])) {
        fprintf(stderr, "mqadmin: %s needs -s namespace -k key%s\n", del ? "deleteKvConfig" : "updateKvConfig",
                del ? "" : " -v value");
        return 2;
    }
    char nss[8][128];
    int n = ma_ns_all(v['n'], nss, 8), bad = !n;
    for (int i = 0; i < n && !bad; i++)
        bad = ma_call_fields(nss[i], NULL, del ? 102 : 100, "namespace", v['s'], "key", v['k'], "value", v['v'], NULL) != 0;
    if (!bad)
        printf("%s\n", del ? "delete kv config from namespace success." : "create or update kv config to namespace success.");
    return bad;
}

int cmd_update_kv_config(int argc, char **argv) { return kv_config(argc, argv, 0); }
int cmd_delete_kv_config(int argc, char **argv) { return kv_config(argc, argv, 1); }
