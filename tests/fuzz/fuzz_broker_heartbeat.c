/* libFuzzer target for HEART_BEAT bodies: arbitrary bytes go through br_heartbeat_decode, the
 * broker's own decode path (fastjson-dialect JSON, enum names or ordinals, tag and SQL92
 * subscription expressions, the group and subscription limits), with no broker running. What
 * decodes must keep the decoder's promises: limits respected, one subscription per topic,
 * each found through the topic index; nothing may crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/clients/clients.h"

static void check_consumer(const br_hb_consumer_t *c)
{
    br_cgroup_t g = {.subs = c->subs, .nsubs = c->nsubs, .subIndex = c->subIndex};
    if (!c->groupName[0] || c->nsubs > BR_HB_MAX_SUBS)
        abort();
    for (size_t i = 0; i < c->nsubs; i++) {
        const br_sub_t *s = &c->subs[i];
        if (br_cgroup_sub(&g, s->topic) != s) /* the index must find exactly this entry */
            abort();
        if (!s->isSql)
            (void)br_sub_match(s, 12345);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    br_heartbeat_t hb;
    char err[256];
    if (br_heartbeat_decode(data, size, &hb, err, sizeof err) == 0) {
        if (hb.nconsumers > BR_HB_MAX_GROUPS || hb.nproducers > BR_HB_MAX_GROUPS)
            abort();
        for (size_t i = 0; i < hb.nconsumers; i++)
            check_consumer(&hb.consumers[i]);
        for (size_t i = 0; i < hb.nproducers; i++)
            if (!hb.producers[i][0])
                abort();
    } else if (!err[0]) {
        abort(); /* a refusal always says why */
    }
    br_heartbeat_free(&hb);
    return 0;
}
