/* admit.c: the check every request passes before its handler (rm_endpoint_t.admit). Today it
 * validates the group and topic names a request header carries, once for every handler: a
 * group name becomes a topic name (%RETRY%group, %DLQ%group), both become map keys, file
 * entries and metric labels, so one with a '/' or a control character must never get in.
 * Access control (the acl subsystem's hook) runs before those checks. Bodies that carry group names (heartbeat,
 * queue locks, subscription group configs) are checked where they are decoded. Loop thread. */
#include <string.h>

#include "broker/core/core.h"

const char *br_group_name_error(const char *name)
{
    if (!name || !*name)
        return "the specified group is blank";
    if (strlen(name) > 255)
        return "the specified group is longer than group max length 255";
    if (!br_name_chars_legal(name))
        return "the specified group contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$";
    return NULL;
}

/* Header fields that name a group, across all request codes. */
static const char *const k_group_fields[] = {"consumerGroup", "producerGroup", "group",
                                             "groupName",     "srcGroup",      "destGroup"};

/* Header fields that name a topic (a send's own check answers the same remark). */
static const char *const k_topic_fields[] = {"topic", "originTopic"};

int br_admit(rm_conn_t *c, rm_cmd_t *req, void *ctx)
{
    br_broker_t *b = ctx;
    /* access control first, as RocketMQ's hook runs before anything looks at the request; with
     * aclEnable on and no acl subsystem running, nothing gets in (never silently open) */
    if (b->cfg.aclEnable && !b->hooks.acl_admit) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, BR_ACL_REMARK_PREFIX "access control is not running");
        return 1;
    }
    if (b->hooks.acl_admit && b->hooks.acl_admit(b, c, req))
        return 1;
    for (size_t i = 0; i < sizeof k_topic_fields / sizeof k_topic_fields[0]; i++) {
        const char *v = rm_ext_get(req, k_topic_fields[i]);
        const char *err = v && *v ? br_topic_name_error(v) : NULL;
        if (err) {
            rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "%s: %s[%.64s]", err, k_topic_fields[i], v);
            return 1;
        }
    }
    for (size_t i = 0; i < sizeof k_group_fields / sizeof k_group_fields[0]; i++) {
        const char *v = rm_ext_get(req, k_group_fields[i]);
        /* empty means "none" (the C++ client's UNREGISTER_CLIENT sends producerGroup="");
         * handlers that need the group refuse that themselves */
        const char *err = v && *v ? br_group_name_error(v) : NULL;
        if (err) {
            rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "%s: %s[%.64s]", err, k_group_fields[i], v);
            return 1;
        }
    }
    return 0;
}
