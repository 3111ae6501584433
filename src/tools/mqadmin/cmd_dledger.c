/* cmd_dledger.c: leadershipTransfer, DLedger's hand-over of a group's leadership (spec §6.6,
 * LEADERSHIP_TRANSFER 51005) asked of the group's current master through the broker port. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tools/mqadmin/mqadmin.h"

/* The address the name server lists as brokerId 0 of brokerName, into out; 0 if there is one. */
static int master_of(const char *ns, const char *brokerName, char out[128])
{
    lj_val_t *info = NULL;
    int rc = -1;
    if (ma_call_fields(ns, &info, 106, NULL) == 0) {
        const lj_val_t *bd = lj_get(lj_get(info, "brokerAddrTable"), brokerName);
        const char *a = lj_get_str(lj_get(bd, "brokerAddrs"), "0", NULL);
        if (a) {
            snprintf(out, 128, "%s", a);
            rc = 0;
        }
    }
    lj_free(info);
    return rc;
}

int cmd_leadership_transfer(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "b:t:n:", v) || !v['b'] || !v['t'])
        return 2;
    const char *ns = ma_namesrv(v['n']);
    char before[128], now[128];
    if (!ns)
        return 1;
    if (master_of(ns, v['b'], before) != 0) {
        fprintf(stderr, "mqadmin: %s has no master in the name server now (an election may be under way)\n", v['b']);
        return 1;
    }
    if (ma_call_fields(before, NULL, 51005, "group", v['b'], "transfereeId", v['t'], NULL) != 0)
        return 1;
    /* the hand-over is done when the name server lists another master (at most ~10 s) */
    for (int i = 0; i < 200; i++) {
        if (master_of(ns, v['b'], now) == 0 && strcmp(now, before) != 0) {
            printf("leadership of %s transferred to %s: master %s -> %s\n", v['b'], v['t'], before, now);
            return 0;
        }
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    fprintf(stderr, "mqadmin: %s is still the master of %s after 10 s: %s did not take over (is it caught up?)\n",
            before, v['b'], v['t']);
    return 1;
}
