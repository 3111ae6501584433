/* members.c: 5.x gRPC clients in the broker's client registry, and the producers-by-topic index.
 *
 * Apache's proxy registers a gRPC client with the broker as a 4.x heartbeat would (spec grpc-5x.md
 * 3.3): a consumer in its group, a producer under each topic of its Settings.publishing.topics
 * (the topic is a gRPC producer's group, PGROUP). Here the client's Settings become a HeartbeatData
 * JSON handed to the registry through the core's vclient_beat hook, again at each Heartbeat
 * (registrations expire 120 s after the last one) and with a NULL body when the client leaves
 * (NotifyClientTermination, its Telemetry stream ends). So mqadmin consumerConnection and
 * producerConnection list 5.x clients (spec 8, pitfall 12).
 *
 * The index (topic -> its live producers) lets the transaction check-back find a producer whose
 * Telemetry stream can carry a RecoverOrphanedTransactionCommand without a walk of all clients.
 * Loop thread only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/grpc/gsvc.h"

#define MAX_TOPICS 1024         /* topics or subscriptions looked at per client */

typedef struct gpub {
    struct gpub *cnext;         /* the client's other nodes */
    struct gpub *prev, *next;   /* the topic's other producers */
    gclient_t *c;
    char topic[];
} gpub_t;

/* ---- the index ---- */

static void pub_unlink(br_grpcsvc_t *g, gpub_t *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else if (n->next)
        cm_map_put(&g->pubs, n->topic, n->next);
    else
        cm_map_remove(&g->pubs, n->topic);
    if (n->next)
        n->next->prev = n->prev;
}

static void pubs_clear(br_grpcsvc_t *g, gclient_t *c)
{
    while (c->pubs) {
        gpub_t *n = c->pubs;
        c->pubs = n->cnext;
        if (g)
            pub_unlink(g, n);
        free(n);
    }
}

static void pub_add(br_grpcsvc_t *g, gclient_t *c, const char *topic)
{
    size_t l = strlen(topic);
    gpub_t *n = calloc(1, sizeof *n + l + 1);
    if (!n)
        return;
    memcpy(n->topic, topic, l + 1);
    n->c = c;
    gpub_t *head = cm_map_get(&g->pubs, topic);
    if (cm_map_put(&g->pubs, topic, n) != 0) {
        free(n);
        return;
    }
    n->next = head;
    if (head)
        head->prev = n;
    n->cnext = c->pubs;
    c->pubs = n;
}

gclient_t *gs_publisher(br_grpcsvc_t *g, const char *topic)
{
    int tries = 0;
    /* a client leaves the index when its stream ends, so the first is nearly always live */
    for (gpub_t *n = cm_map_get(&g->pubs, topic); n && tries < 16; n = n->next, tries++)
        if (n->c->telemetry && !gp_call_finished(n->c->telemetry))
            return n->c;
    return NULL;
}

void gs_client_release(gclient_t *c)
{
    pubs_clear(NULL, c);
    free(c->beat);
    c->beat = NULL;
}

/* ---- the registry ---- */

/* RocketMQ's LanguageCode names for the UA languages (Node's x-mq-language header says HTTP). */
static const char *lang_name(int l)
{
    static const char *const k[] = {"OTHER", "JAVA", "CPP", "DOTNET", "GO", "RUST", "PYTHON", "PHP", "NODE_JS",
                                    "RUBY"};
    return l >= 0 && l < (int)(sizeof k / sizeof k[0]) ? k[l] : "OTHER";
}

/* MQVersion's ordinal of a "4.y.z" or "5.y.z" release, as admin tools print it; other version
 * strings (the Node client says "1.0.8") show as the broker's own version. */
static int version_of(const char *v)
{
    int a, y, z;
    if (v && sscanf(v, "%d.%d.%d", &a, &y, &z) == 3 && (a == 4 || a == 5) && y >= 0 && y < 10 && z >= 0 && z < 10)
        return (a == 4 ? 212 : 412) + 2 * (y * 10 + z) + 1;
    return RM_SERVER_VERSION;
}

static void register_now(br_grpcsvc_t *g, gclient_t *c)
{
    br_broker_t *b = g->b;
    if (c->beat && b->hooks.vclient_beat && !b->stopping)
        b->hooks.vclient_beat(b, c->id, c->addr, c->lang, c->version, c->beat, c->beat_len);
}

void gs_client_settings(br_grpcsvc_t *g, gclient_t *c, const V2(Settings) *s, const char *peer)
{
    br_broker_t *b = g->b;
    pubs_clear(g, c);
    free(c->beat);
    c->beat = NULL;
    /* with access control on, gRPC calls are refused (service.c): nor may its clients create
     * subscription groups or retry topics by registering */
    if (b->cfg.aclEnable)
        return;
    snprintf(c->addr, sizeof c->addr, "%s", peer ? peer : "");
    snprintf(c->lang, sizeof c->lang, "%s", lang_name(s->user_agent ? (int)s->user_agent->language : 0));
    c->version = version_of(s->user_agent ? s->user_agent->version : NULL);

    lj_val_t *o = lj_new_obj(), *cs = lj_new_arr(), *ps = lj_new_arr();
    lj_set_str(o, "clientID", c->id);
    if (s->pub_sub_case == APACHE__ROCKETMQ__V2__SETTINGS__PUB_SUB_PUBLISHING) {
        const V2(Publishing) *p = s->publishing;
        for (size_t i = 0; i < p->n_topics && i < MAX_TOPICS; i++) {
            const char *t = p->topics[i] && p->topics[i]->name ? p->topics[i]->name : "";
            /* only topics this broker has (gRPC creates none): a client cannot make the
             * registry hold more producer memberships than there are topics */
            if (!t[0] || !br_topics_get(&b->topics, t))
                continue;
            lj_val_t *pd = lj_new_obj();
            lj_set_str(pd, "groupName", t);
            lj_push(ps, pd);
            pub_add(g, c, t);
        }
    } else if (s->pub_sub_case == APACHE__ROCKETMQ__V2__SETTINGS__PUB_SUB_SUBSCRIPTION) {
        const V2(Subscription) *sub = s->subscription;
        const char *group = sub->_group_case && sub->group && sub->group->name ? sub->group->name : "";
        if (group[0]) {
            lj_val_t *cd = lj_new_obj(), *set = lj_new_arr();
            int64_t now = cm_now_ms();
            lj_set_str(cd, "groupName", group);
            /* spec 3.3: push consumers are passive, simple ones active; clustering, last offset */
            lj_set_str(cd, "consumeType", s->_client_type_case && s->client_type == APACHE__ROCKETMQ__V2__CLIENT_TYPE__SIMPLE_CONSUMER
                                              ? "CONSUME_ACTIVELY" : "CONSUME_PASSIVELY");
            lj_set_str(cd, "messageModel", "CLUSTERING");
            lj_set_str(cd, "consumeFromWhere", "CONSUME_FROM_LAST_OFFSET");
            for (size_t i = 0; i < sub->n_subscriptions && i < MAX_TOPICS; i++) {
                const V2(SubscriptionEntry) *e = sub->subscriptions[i];
                const char *t = e && e->topic && e->topic->name ? e->topic->name : "";
                if (!t[0])
                    continue;
                int sql = e->expression && e->expression->type == APACHE__ROCKETMQ__V2__FILTER_TYPE__SQL;
                const char *x = e->expression && e->expression->expression && e->expression->expression[0]
                                    ? e->expression->expression : "*";
                lj_val_t *sd = lj_new_obj();
                lj_set_str(sd, "topic", t);
                lj_set_str(sd, "subString", x);
                lj_set_str(sd, "expressionType", sql ? "SQL92" : "TAG");
                lj_set_int(sd, "subVersion", now);
                lj_push(set, sd);
            }
            lj_set(cd, "subscriptionDataSet", set);
            lj_push(cs, cd);
        }
    }
    lj_set(o, "consumerDataSet", cs);
    lj_set(o, "producerDataSet", ps);
    cm_buf_t out;
    cm_buf_init(&out);
    if (lj_write(o, LJ_W_STRICT, &out) == 0 && out.len) {
        c->beat = out.data;     /* taken over */
        c->beat_len = out.len;
    } else {
        cm_buf_free(&out);
    }
    lj_free(o);
    register_now(g, c);
}

void gs_client_beat(br_grpcsvc_t *g, gclient_t *c) { register_now(g, c); }

void gs_client_gone(br_grpcsvc_t *g, gclient_t *c)
{
    br_broker_t *b = g->b;
    pubs_clear(g, c);
    if (c->beat && b->hooks.vclient_beat && !b->stopping)
        b->hooks.vclient_beat(b, c->id, NULL, NULL, 0, NULL, 0);
    free(c->beat);
    c->beat = NULL;
}
