/* decide.c: what a request needs (spec §1.6) and RocketMQ 4.9.5's decision on it (§1.7), in its
 * order and with its messages, so that clients and operators see what they saw before. */
#include <stdio.h>
#include <string.h>

#include "acl/acl.h"

#define RETRY "%RETRY%"

static int need(acl_need_t *needs, int n, const char *prefix, const char *name, int perm)
{
    if (!name || n >= ACL_MAX_NEEDS)
        return n; /* a null name adds nothing */
    snprintf(needs[n].resource, sizeof needs[n].resource, "%s%s", prefix, name);
    needs[n].perm = perm;
    return n + 1;
}

int acl_needs(const rm_cmd_t *req, acl_need_t *needs, int *admin_only)
{
    int n = 0;
    const char *topic;
    *admin_only = 0;
    switch (req->code) {
    case 10: /* SEND_MESSAGE: a retry topic names no group field, so it needs nothing */
        topic = rm_ext_get(req, "topic");
        if (!topic || strncmp(topic, RETRY, 7) != 0)
            n = need(needs, n, "", topic, ACL_PUB);
        break;
    case 320: /* SEND_BATCH_MESSAGE: unchecked in 4.9 (any signed user could batch-send to any
               * topic, spec §7); checked as the V2 send it is, as 5.x does */
    case 310: /* SEND_MESSAGE_V2: b topic, a producerGroup */
        topic = rm_ext_get(req, "b");
        if (topic && strncmp(topic, RETRY, 7) == 0)
            n = need(needs, n, RETRY, rm_ext_get(req, "a"), ACL_SUB);
        else
            n = need(needs, n, "", topic, ACL_PUB);
        break;
    case 36: /* CONSUMER_SEND_MSG_BACK */
        n = need(needs, n, RETRY, rm_ext_get(req, "group"), ACL_SUB);
        break;
    case 11: /* PULL_MESSAGE */
        n = need(needs, n, "", rm_ext_get(req, "topic"), ACL_SUB);
        n = need(needs, n, RETRY, rm_ext_get(req, "consumerGroup"), ACL_SUB);
        break;
    case 200050: /* POP_MESSAGE */
    case 200051: /* ACK_MESSAGE */
    case 200052: /* PEEK_MESSAGE */
    case 200053: /* CHANGE_MESSAGE_INVISIBLETIME */
    case 200054: /* NOTIFICATION */
    case 200055: /* POLLING_INFO: all name consumerGroup and topic, as PULL_MESSAGE does */
        n = need(needs, n, "", rm_ext_get(req, "topic"), ACL_SUB);
        n = need(needs, n, RETRY, rm_ext_get(req, "consumerGroup"), ACL_SUB);
        break;
    case 200151: /* BATCH_ACK: its groups and topics are in its body, not checked entry by entry
                  * yet: an admin's only, so no account acks what it may not consume */
        *admin_only = 1;
        break;
    case 12: /* QUERY_MESSAGE */
        n = need(needs, n, "", rm_ext_get(req, "topic"), ACL_SUB);
        break;
    case 35: /* UNREGISTER_CLIENT */
    case 38: /* GET_CONSUMER_LIST_BY_GROUP */
        n = need(needs, n, RETRY, rm_ext_get(req, "consumerGroup"), ACL_SUB);
        break;
    case 15: /* UPDATE_CONSUMER_OFFSET */
        n = need(needs, n, RETRY, rm_ext_get(req, "consumerGroup"), ACL_SUB);
        n = need(needs, n, "", rm_ext_get(req, "topic"), ACL_SUB);
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
    if (owned & ACL_DENY)
        return 0;
    if (needed & ACL_ANY)
        return (owned & (ACL_PUB | ACL_SUB)) != 0;
    return (needed & owned) != 0;
}

/* Steps 9-10: the permissions of an account whose request is authentic. */
static const char *check_perms(const acl_account_t *a, const acl_need_t *needs, int nneeds, char *msg,
                               size_t msglen)
{
    if (nneeds == 0 || (a->admin && !a->hasExplicit))
        return NULL;
    for (int i = 0; i < nneeds; i++) {
        if (allowed(needs[i].perm, acl_perm_of(a, needs[i].resource)))
            continue;
        int group = strncmp(needs[i].resource, RETRY, 7) == 0;
        snprintf(msg, msglen, "No default permission for %s:%s", group ? "group" : "topic",
                 needs[i].resource + (group ? 7 : 0));
        return msg;
    }
    return NULL;
}

/* Steps 1-5: NULL with *acc = NULL when a white list lets the request in, else the account
 * (NULL return) or the refusal. */
static const char *find_account(const acl_table_t *acl, const char *ak, const char *ip, const acl_account_t **acc,
                                char *msg, size_t msglen)
{
    *acc = NULL;
    for (size_t i = 0; i < acl->nglobal; i++)
        if (acl_pattern_match(acl->global[i], ip))
            return NULL;
    if (!ak)
        return "No accessKey is configured";
    const acl_account_t *a = acl_account(acl, ak);
    if (!a) {
        snprintf(msg, msglen, "No acl config for %s", ak);
        return msg;
    }
    if (a->white && acl_pattern_match(a->white, ip))
        return NULL; /* RocketMQ: the account's white address skips everything below */
    *acc = a;
    return NULL;
}

const char *acl_decide(const acl_table_t *acl, const rm_cmd_t *req, const char *ip, const acl_need_t *needs,
                          int nneeds, int admin_only, char *msg, size_t msglen)
{
    return acl_decide_later(acl, req, ip, needs, nneeds, admin_only, NULL, msg, msglen);
}

const char *acl_decide_later(const acl_table_t *acl, const rm_cmd_t *req, const char *ip, const acl_need_t *needs,
                             int nneeds, int admin_only, const acl_account_t **verify, char *msg, size_t msglen)
{
    const char *ak = rm_ext_get(req, "AccessKey");
    const acl_account_t *a;
    if (verify)
        *verify = NULL;
    const char *why = find_account(acl, ak, ip, &a, msg, msglen);
    if (why || !a)
        return why;
    if (verify)
        *verify = a; /* the caller checks the signature itself, off the loop */
    else if (!(a->key ? rm_sign_verify_key(req, a->key) : rm_sign_verify(req, a->secretKey))) {
        snprintf(msg, msglen, "Check signature failed for accessKey=%s", ak);
        return msg;
    }
    if (nneeds == 1 && needs[0].perm == ACL_PUB && strcmp(needs[0].resource, "RMQ_SYS_TRACE_TOPIC") == 0)
        return NULL; /* the trace exemption, for that literal name only */
    if (admin_only && !a->admin) {
        snprintf(msg, msglen, "Need admin permission for request code=%d, but accessKey=%s is not", (int)req->code, ak);
        return msg;
    }
    return check_perms(a, needs, nneeds, msg, msglen);
}

const char *acl_decide_subscribe(const acl_table_t *acl, const char *ak, const char *ip, const char *const *groups,
                                    size_t ngroups, const char *const *topics, size_t ntopics, char *msg,
                                    size_t msglen)
{
    const acl_account_t *a;
    const char *why = find_account(acl, ak, ip, &a, msg, msglen);
    if (why || !a || (a->admin && !a->hasExplicit))
        return why;
    acl_need_t need;
    need.perm = ACL_SUB;
    for (size_t i = 0; i < ngroups + ntopics; i++) {
        snprintf(need.resource, sizeof need.resource, "%s%s", i < ngroups ? RETRY : "",
                 i < ngroups ? groups[i] : topics[i - ngroups]);
        if ((why = check_perms(a, &need, 1, msg, msglen)))
            return why;
    }
    return NULL;
}
