/* decide.c: what a request needs (spec §1.6) and RocketMQ 4.9.5's decision on it (§1.7), in its
 * order and with its messages, so that clients and operators see what they saw before. */
#include <stdio.h>
#include <string.h>

#include "broker/acl/acl.h"

#define RETRY "%RETRY%"

static int need(br_acl_need_t *needs, int n, const char *prefix, const char *name, int perm)
{
    if (!name || n >= BR_ACL_MAX_NEEDS)
        return n; /* a null name adds nothing */
    snprintf(needs[n].resource, sizeof needs[n].resource, "%s%s", prefix, name);
    needs[n].perm = perm;
    return n + 1;
}

int br_acl_needs(const rm_cmd_t *req, br_acl_need_t *needs, int *admin_only)
{
    int n = 0;
    const char *topic;
    *admin_only = 0;
    switch (req->code) {
    case 10: /* SEND_MESSAGE: a retry topic names no group field, so it needs nothing */
        topic = rm_ext_get(req, "topic");
        if (!topic || strncmp(topic, RETRY, 7) != 0)
            n = need(needs, n, "", topic, BR_ACL_PUB);
        break;
    case 310: /* SEND_MESSAGE_V2: b topic, a producerGroup */
        topic = rm_ext_get(req, "b");
        if (topic && strncmp(topic, RETRY, 7) == 0)
            n = need(needs, n, RETRY, rm_ext_get(req, "a"), BR_ACL_SUB);
        else
            n = need(needs, n, "", topic, BR_ACL_PUB);
        break;
    case 36: /* CONSUMER_SEND_MSG_BACK */
        n = need(needs, n, RETRY, rm_ext_get(req, "group"), BR_ACL_SUB);
        break;
    case 11: /* PULL_MESSAGE */
        n = need(needs, n, "", rm_ext_get(req, "topic"), BR_ACL_SUB);
        n = need(needs, n, RETRY, rm_ext_get(req, "consumerGroup"), BR_ACL_SUB);
        break;
    case 12: /* QUERY_MESSAGE */
        n = need(needs, n, "", rm_ext_get(req, "topic"), BR_ACL_SUB);
        break;
    case 35: /* UNREGISTER_CLIENT */
    case 38: /* GET_CONSUMER_LIST_BY_GROUP */
        n = need(needs, n, RETRY, rm_ext_get(req, "consumerGroup"), BR_ACL_SUB);
        break;
    case 15: /* UPDATE_CONSUMER_OFFSET */
        n = need(needs, n, RETRY, rm_ext_get(req, "consumerGroup"), BR_ACL_SUB);
        n = need(needs, n, "", rm_ext_get(req, "topic"), BR_ACL_SUB);
        break;
    case 17:  /* UPDATE_AND_CREATE_TOPIC */
    case 25:  /* UPDATE_BROKER_CONFIG */
    case 215: /* DELETE_TOPIC_IN_BROKER */
    case 200: /* UPDATE_AND_CREATE_SUBSCRIPTIONGROUP */
    case 207: /* DELETE_SUBSCRIPTIONGROUP */
        *admin_only = 1;
        break;
    default: /* a valid signature (or a white-list hit) only; HEART_BEAT's needs are in its body */
        break;
    }
    return n;
}

static int allowed(int needed, int owned)
{
    if (owned & BR_ACL_DENY)
        return 0;
    if (needed & BR_ACL_ANY)
        return (owned & (BR_ACL_PUB | BR_ACL_SUB)) != 0;
    return (needed & owned) != 0;
}

static int owned_perm(const br_acl_account_t *a, const char *resource)
{
    for (size_t i = 0; i < a->nperms; i++)
        if (strcmp(a->perms[i].resource, resource) == 0)
            return a->perms[i].perm;
    return strncmp(resource, RETRY, 7) == 0 ? a->defaultGroupPerm : a->defaultTopicPerm;
}

const char *br_acl_decide(const br_acl_t *acl, const rm_cmd_t *req, const char *ip, const br_acl_need_t *needs,
                          int nneeds, int admin_only, char *msg, size_t msglen)
{
    for (size_t i = 0; i < acl->nglobal; i++)
        if (br_acl_pattern_match(acl->global[i], ip))
            return NULL;
    const char *ak = rm_ext_get(req, "AccessKey");
    if (!ak)
        return "No accessKey is configured";
    const br_acl_account_t *a = br_acl_account(acl, ak);
    if (!a) {
        snprintf(msg, msglen, "No acl config for %s", ak);
        return msg;
    }
    if (a->white && br_acl_pattern_match(a->white, ip))
        return NULL; /* RocketMQ: the account's white address skips everything below */
    if (!rm_sign_verify(req, a->secretKey)) {
        snprintf(msg, msglen, "Check signature failed for accessKey=%s", ak);
        return msg;
    }
    if (nneeds == 1 && needs[0].perm == BR_ACL_PUB && strcmp(needs[0].resource, "RMQ_SYS_TRACE_TOPIC") == 0)
        return NULL; /* the trace exemption, for that literal name only */
    if (admin_only && !a->admin) {
        snprintf(msg, msglen, "Need admin permission for request code=%d, but accessKey=%s is not", (int)req->code, ak);
        return msg;
    }
    if (nneeds == 0 || (a->admin && !a->hasExplicit))
        return NULL;
    for (int i = 0; i < nneeds; i++) {
        if (allowed(needs[i].perm, owned_perm(a, needs[i].resource)))
            continue;
        int group = strncmp(needs[i].resource, RETRY, 7) == 0;
        snprintf(msg, msglen, "No default permission for %s:%s", group ? "group" : "topic",
                 needs[i].resource + (group ? 7 : 0));
        return msg;
    }
    return NULL;
}
