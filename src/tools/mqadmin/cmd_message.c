/* mqadmin's message commands, through Loulan's own client library: sendMessage, the
 * queryMsgBy* lookups with each consumer group's track, printMsg and consumeMessage (pull
 * consumer, nothing committed), and decodeMessageId. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqadmin.h"

/* A started producer on the name server of -n (nsopt) or NAMESRV_ADDR, put in *ns; NULL when
 * there is none or it cannot start. */
static lc_producer_t *admin_producer(const char *nsopt, const char **ns)
{
    lc_producer_t *p;
    char group[64];
    if ((*ns = ma_namesrv(nsopt)) == NULL)
        return NULL;
    snprintf(group, sizeof group, "TOOLS_CONSUMER_%lld", (long long)cm_now_ms()); /* like Java's admin group names */
    if (lc_producer_create(group, *ns, &p) != LC_OK)
        return NULL;
    lc_producer_set_retry_times(p, 0);
    if (lc_producer_start(p) != LC_OK) {
        lc_producer_destroy(p);
        return NULL;
    }
    return p;
}

int cmd_send_message(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:t:p:k:c:b:i:m:", v) || !v['t'] || !v['p']) {
        fprintf(stderr, "mqadmin: sendMessage needs -t topic -p body\n");
        return 2;
    }
    const char *ns;
    lc_producer_t *p = admin_producer(v['n'], &ns);
    if (!p)
        return 1;
    lc_message_t m = {.topic = v['t'], .tags = v['c'], .keys = v['k'], .body = v['p'], .body_len = strlen(v['p'])};
    lc_send_result_t r;
    lc_mq_t mq = {.queue_id = v['i'] ? atoi(v['i']) : 0};
    snprintf(mq.broker_name, sizeof mq.broker_name, "%s", v['b'] ? v['b'] : "");
    /* as RocketMQ: a chosen queue only when both -b and -i are given */
    int rc = v['b'] && v['i'] ? lc_producer_send_to_queue(p, &m, &mq, &r) : lc_producer_send_sync(p, &m, &r);
    printf("%-32s  %-4s  %-20s    %s\n", "#Broker Name", "#QID", "#Send Result", "#MsgId");
    if (rc == LC_OK) {
        char q[16];
        snprintf(q, sizeof q, "%d", r.mq.queue_id);
        printf("%-32s  %-4s  %-20s    %s\n", r.mq.broker_name, q, lc_send_status_name(r.status), r.msg_id);
    } else {
        printf("%-32s  %-4s  %-20s    %s\n", "Unknown", "Unknown", "Failed", "None");
        fprintf(stderr, "mqadmin: %s\n", r.error[0] ? r.error : lc_strerror(rc));
    }
    lc_send_result_clear(&r);
    lc_producer_destroy(p);
    return rc == LC_OK ? 0 : 1;
}

int cmd_query_msg_by_key(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:t:k:f:", v) || !v['t'] || !v['k']) {
        fprintf(stderr, "mqadmin: queryMsgByKey needs -t topic -k msgKey\n");
        return 2;
    }
    const char *ns;
    lc_producer_t *p = admin_producer(v['n'], &ns);
    if (!p)
        return 1;
    lc_message_ext_t **msgs = NULL;
    size_t n = 0;
    int rc = lc_producer_query_message(p, v['t'], v['k'], 64, 0, INT64_MAX, &msgs, &n);
    printf("%-50s %4s %40s\n", "#Message ID", "#QID", "#Offset");
    for (size_t i = 0; rc == LC_OK && i < n; i++)
        printf("%-50s %4d %40lld\n", msgs[i]->msg_id, msgs[i]->queue_id, (long long)msgs[i]->queue_offset);
    if (rc != LC_OK && rc != LC_ENOTFOUND)
        fprintf(stderr, "mqadmin: query failed: %s\n", lc_strerror(rc));
    lc_query_result_free(msgs, n);
    lc_producer_destroy(p);
    return rc == LC_OK || rc == LC_ENOTFOUND ? 0 : 1;
}

/* Java's Map.toString: {k=v, k=v} */
static void print_props(const lc_message_ext_t *m)
{
    printf("%-20s {", "Properties:");
    for (size_t i = 0; i < m->nprops; i++)
        printf("%s%s=%s", i ? ", " : "", m->props[i].name, m->props[i].value);
    printf("}\n");
}

/* QueryMsgByIdSubCommand.printMsg's layout; the body goes to /tmp/rocketmq/msgbodys/<id>. */
static void print_msg(const lc_message_ext_t *m, int offset_id)
{
    char born[40], stored[40], path[256];
    ma_human_time(m->born_timestamp, born, sizeof born);
    ma_human_time(m->store_timestamp, stored, sizeof stored);
    snprintf(path, sizeof path, "/tmp/rocketmq/msgbodys/%s", m->msg_id);
    if (cm_mkdirs("/tmp/rocketmq/msgbodys") == 0) {
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(m->body, 1, m->body_len, f);
            fclose(f);
        }
    }
    if (offset_id)
        printf("%-20s %s\n", "OffsetID:", m->offset_msg_id);
    printf("%-20s %s\n", "Topic:", m->topic);
    printf("%-20s [%s]\n", "Tags:", m->tags ? m->tags : "null");
    printf("%-20s [%s]\n", "Keys:", m->keys ? m->keys : "null");
    printf("%-20s %d\n", "Queue ID:", m->queue_id);
    printf("%-20s %lld\n", "Queue Offset:", (long long)m->queue_offset);
    printf("%-20s %lld\n", "CommitLog Offset:", (long long)m->commit_log_offset);
    printf("%-20s %d\n", "Reconsume Times:", m->reconsume_times);
    printf("%-20s %s\n", "Born Timestamp:", born);
    printf("%-20s %s\n", "Store Timestamp:", stored);
    printf("%-20s %s\n", "Born Host:", m->born_host);
    printf("%-20s %s\n", "Store Host:", m->store_host);
    printf("%-20s %d\n", "System Flag:", m->sys_flag);
    print_props(m);
    printf("%-20s %s\n", "Message Body Path:", path);
}

/* One group's track for a message, as RocketMQ's messageTrackDetail: NOT_ONLINE, PULL,
 * CONSUMED, CONSUMED_BUT_FILTERED, NOT_CONSUME_YET or UNKNOWN with the error. */
static void print_track(const char *ns, const lc_message_ext_t *m, const char *group)
{
    char retry[300], addr[1][128], desc[600] = "null";
    const char *type = "UNKNOWN";
    snprintf(retry, sizeof retry, "%%RETRY%%%s", group);
    rm_cmd_t resp;
    lj_val_t *cc = NULL, *st = NULL;
    if (ma_topic_masters(ns, retry, addr, NULL, 1) <= 0) {
        snprintf(desc, sizeof desc, "No topic route info in name server for the topic: %s", retry);
    } else {
        rm_cmd_t req;
        rm_cmd_init(&req, 203);
        rm_ext_set(&req, "consumerGroup", group);
        int rc = ma_rpc(addr[0], &req, &resp);
        rm_cmd_free(&req);
        if (rc) {
            snprintf(desc, sizeof desc, "connect to %s failed", addr[0]);
        } else if (resp.code != RC_SUCCESS) {
            if (resp.code == RC_CONSUMER_NOT_ONLINE)
                type = "NOT_ONLINE";
            snprintf(desc, sizeof desc, "CODE:%d DESC:%s", resp.code, resp.remark ? resp.remark : "");
        } else if (lj_parse((const char *)resp.body, resp.body_len, &cc) == 0 &&
                   !strcmp(lj_get_str(cc, "consumeType", ""), "CONSUME_ACTIVELY")) {
            type = "PULL";
        } else if (cc && ma_call_fields(addr[0], &st, 208, "consumerGroup", group, NULL) == 0) {
            type = "NOT_CONSUME_YET";
            const lj_val_t *tab = lj_get(st, "offsetTable");
            for (size_t i = 0; tab && i < tab->n; i++) {
                const lj_val_t *mq = tab->members[i].key;
                if (!strcmp(lj_get_str(mq, "topic", ""), m->topic) && lj_get_int(mq, "queueId", -1) == m->queue_id &&
                    lj_get_int(tab->members[i].val, "consumerOffset", 0) > m->queue_offset)
                    type = "CONSUMED";
            }
            /* consumed, but its subscription's tags leave this message out */
            const lj_val_t *sub = lj_get(lj_get(cc, "subscriptionTable"), m->topic);
            const lj_val_t *tags = lj_get(sub, "tagsSet");
            int match = !tags || tags->n == 0;
            for (size_t i = 0; tags && i < tags->n; i++)
                match |= !strcmp(lj_str(tags->items[i], ""), "*") || (m->tags && !strcmp(lj_str(tags->items[i], ""), m->tags));
            if (!strcmp(type, "CONSUMED") && sub && !match)
                type = "CONSUMED_BUT_FILTERED";
        }
        if (!rc)
            rm_cmd_free(&resp);
    }
    printf("MessageTrack [consumerGroup=%s, trackType=%s, exceptionDesc=%s]", group, type, desc);
    lj_free(cc);
    lj_free(st);
}

/* The consumer groups of the message's topic (QUERY_TOPIC_CONSUME_BY_WHO) and where each is. */
static void print_tracks(const char *ns, const lc_message_ext_t *m)
{
    char addr[1][128];
    lj_val_t *gl = NULL;
    if (ma_topic_masters(ns, m->topic, addr, NULL, 1) <= 0 || ma_call_fields(addr[0], &gl, 300, "topic", m->topic, NULL))
        return;
    const lj_val_t *groups = lj_get(gl, "groupList");
    if (!groups || groups->n == 0)
        printf("\n\nWARN: No Consumer");
    else
        printf("\n\n");
    for (size_t i = 0; groups && i < groups->n; i++)
        print_track(ns, m, lj_str(groups->items[i], ""));
    lj_free(gl);
}

int cmd_query_msg_by_id(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:i:t:g:d:", v) || !v['i']) {
        fprintf(stderr, "mqadmin: queryMsgById needs -i msgId (offsetMsgId; a UNIQ_KEY msgId also needs -t topic)\n");
        return 2;
    }
    const char *ns;
    lc_producer_t *p = admin_producer(v['n'], &ns);
    if (!p)
        return 1;
    int rc = 0;
    char ids[2048];
    snprintf(ids, sizeof ids, "%s", v['i']);
    for (char *save = NULL, *id = strtok_r(ids, ",", &save); id; id = strtok_r(NULL, ",", &save)) {
        lc_message_ext_t *m = NULL;
        int r = lc_producer_view_message(p, v['t'] ? v['t'] : "TBW102", id, &m);
        if (r == LC_OK) {
            print_msg(m, 1);
            print_tracks(ns, m);
            lc_message_ext_free(m);
        } else {
            printf("\nMessage not found!");
            rc = 1;
        }
    }
    lc_producer_destroy(p);
    return rc;
}

/* queryMsgByUniqueKey: the message whose UNIQ_KEY is -i in topic -t, printed as RocketMQ's
 * showMessage (no OffsetID line), with its consumer groups' tracks. */
int cmd_query_msg_by_unique_key(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:i:t:ag:d:", v) || !v['i'] || !v['t']) {
        fprintf(stderr, "mqadmin: queryMsgByUniqueKey needs -i msgId -t topic\n");
        return 2;
    }
    const char *ns;
    lc_producer_t *p = admin_producer(v['n'], &ns);
    if (!p)
        return 1;
    lc_message_ext_t *m = NULL;
    int r = lc_producer_view_message(p, v['t'], v['i'], &m);
    if (r == LC_OK) {
        print_msg(m, 0);
        print_tracks(ns, m);
        lc_message_ext_free(m);
    } /* RocketMQ prints nothing when there is no such message */
    lc_producer_destroy(p);
    return r == LC_OK || r == LC_ENOTFOUND ? 0 : 1;
}

/* A started pull consumer on the name server of -n (nsopt) or NAMESRV_ADDR (put in *ns) and
 * the queues of topic (caller frees both); NULL when any of it fails. */
static lc_pull_consumer_t *admin_puller(const char *nsopt, const char *topic, const char **ns, lc_mq_t **mqs,
                                        size_t *n)
{
    lc_pull_consumer_t *c;
    char group[64];
    if ((*ns = ma_namesrv(nsopt)) == NULL)
        return NULL;
    snprintf(group, sizeof group, "TOOLS_CONSUMER_%lld", (long long)cm_now_ms());
    if (lc_pull_consumer_create(group, *ns, &c) != LC_OK)
        return NULL;
    if (lc_pull_consumer_start(c) != LC_OK || lc_pull_consumer_fetch_queues(c, topic, mqs, n) != LC_OK) {
        lc_pull_consumer_destroy(c);
        return NULL;
    }
    return c;
}

/* One message as printMsg and consumeMessage print it: MSGID: <id> <MessageExt> BODY: <body> */
static void print_msg_line(const lc_message_ext_t *m, int body)
{
    char *txt = lc_message_ext_to_string(m);
    if (body)
        printf("MSGID: %s %s BODY: %.*s\n", m->msg_id, txt ? txt : "", (int)m->body_len, (const char *)m->body);
    else
        printf("MSGID: %s %s BODY: NOT PRINT BODY\n", m->msg_id, txt ? txt : "");
    free(txt);
}

static const char *pull_status_name(lc_pull_status_t s)
{
    static const char *n[] = {"FOUND", "NO_NEW_MSG", "NO_MATCHED_MSG", "OFFSET_ILLEGAL"};
    return (unsigned)s < 4 ? n[s] : "?";
}

/* printMsg: every message of a topic (or of a time range) as MSGID: <id> <MessageExt> BODY: <body> */
int cmd_print_messages(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:t:c:s:b:e:d:", v) || !v['t']) {
        fprintf(stderr, "mqadmin: printMsg needs -t topic\n");
        return 2;
    }
    const char *ns;
    lc_mq_t *mqs = NULL;
    size_t n = 0;
    lc_pull_consumer_t *c = admin_puller(v['n'], v['t'], &ns, &mqs, &n);
    if (!c) {
        fprintf(stderr, "mqadmin: topic %s has no route\n", v['t']);
        return 1;
    }
    int printBody = !v['d'] || strcmp(v['d'], "false") != 0;
    for (size_t i = 0; i < n; i++) {
        int64_t min = 0, max = 0;
        lc_pull_consumer_min_offset(c, &mqs[i], &min);
        lc_pull_consumer_max_offset(c, &mqs[i], &max);
        printf("minOffset=%lld, maxOffset=%lld, MessageQueue [topic=%s, brokerName=%s, queueId=%d]\n", (long long)min,
               (long long)max, mqs[i].topic, mqs[i].broker_name, mqs[i].queue_id);
        for (int64_t off = min; off < max;) {
            lc_pull_result_t r;
            if (lc_pull_consumer_pull(c, &mqs[i], v['s'] ? v['s'] : "*", off, 32, 0, &r) != LC_OK)
                break;
            for (size_t k = 0; r.status == LC_PULL_FOUND && k < r.nmsgs; k++)
                print_msg_line(r.msgs[k], printBody);
            /* PrintMessageSubCommand: a line for "no match" and one when the queue ends early */
            int done = r.status == LC_PULL_NO_NEW_MSG || r.status == LC_PULL_OFFSET_ILLEGAL;
            if (r.status == LC_PULL_NO_MATCHED_MSG || done)
                printf("MessageQueue [topic=%s, brokerName=%s, queueId=%d] %s. status=%s, offset=%lld\n", mqs[i].topic,
                       mqs[i].broker_name, mqs[i].queue_id, done ? "print msg finished" : "no matched msg",
                       pull_status_name(r.status), (long long)r.next_begin_offset);
            off = r.next_begin_offset > off ? r.next_begin_offset : max;
            lc_pull_result_free(&r);
            if (done)
                break;
        }
        printf("--------------------------------------------------------\n");
    }
    free(mqs);
    lc_pull_consumer_destroy(c);
    return 0;
}

int cmd_query_msg_by_offset(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:t:b:i:o:", v) || !v['t'] || !v['b'] || !v['i'] || !v['o']) {
        fprintf(stderr, "mqadmin: queryMsgByOffset needs -t topic -b brokerName -i queueId -o offset\n");
        return 2;
    }
    const char *ns;
    lc_mq_t *mqs = NULL;
    size_t n = 0;
    lc_pull_consumer_t *c = admin_puller(v['n'], v['t'], &ns, &mqs, &n);
    if (!c)
        return 1;
    lc_mq_t mq = {0};
    snprintf(mq.topic, sizeof mq.topic, "%s", v['t']);
    snprintf(mq.broker_name, sizeof mq.broker_name, "%s", v['b']);
    mq.queue_id = atoi(v['i']);
    lc_pull_result_t r;
    int rc = lc_pull_consumer_pull(c, &mq, "*", atoll(v['o']), 1, 0, &r);
    if (rc == LC_OK && r.nmsgs > 0) {
        print_msg(r.msgs[0], 1);
        print_tracks(ns, r.msgs[0]);
    } else
        printf("\nMessage not found!");
    if (rc == LC_OK)
        lc_pull_result_free(&r);
    free(mqs);
    lc_pull_consumer_destroy(c);
    return rc == LC_OK ? 0 : 1;
}

/* consumeMessage: the oldest messages of a topic (or of one queue), "Consume ok" and each as
 * printMsg prints it, without committing anything (ConsumeMessageCommand). */
int cmd_consume_messages(int argc, char **argv)
{
    const char *v[128] = {0};
    if (ma_parse(argc, argv, "n:t:b:i:o:g:s:e:c:", v) || !v['t'] || (!v['b'] != !v['i'])) {
        fprintf(stderr, "mqadmin: consumeMessage needs -t topic [-b brokerName -i queueId [-o offset]] [-c count]\n");
        return 2;
    }
    const char *ns;
    lc_mq_t *mqs = NULL;
    size_t n = 0;
    lc_pull_consumer_t *c = admin_puller(v['n'], v['t'], &ns, &mqs, &n);
    if (!c) {
        fprintf(stderr, "mqadmin: topic %s has no route\n", v['t']);
        return 1;
    }
    int64_t left = v['c'] ? atoll(v['c']) : 128;
    for (size_t i = 0; i < n && left > 0; i++) {
        if (v['b'] && (strcmp(mqs[i].broker_name, v['b']) != 0 || mqs[i].queue_id != atoi(v['i'])))
            continue;
        int64_t min = 0, max = 0;
        lc_pull_consumer_min_offset(c, &mqs[i], &min);
        lc_pull_consumer_max_offset(c, &mqs[i], &max);
        if (v['o'])
            min = atoll(v['o']);
        if (max - min > left) {
            printf("The older %lld message of the %d queue will be provided\n", (long long)left, mqs[i].queue_id);
            max = min + left;
        }
        left -= max - min;
        for (int64_t off = min; off < max;) {
            lc_pull_result_t r;
            if (lc_pull_consumer_pull(c, &mqs[i], "*", off, (int)(max - off < 32 ? max - off : 32), 0, &r) != LC_OK)
                break;
            if (r.status == LC_PULL_FOUND) {
                printf("Consume ok\n");
                for (size_t k = 0; k < r.nmsgs; k++)
                    print_msg_line(r.msgs[k], 1);
            }
            int done = r.status == LC_PULL_NO_NEW_MSG || r.status == LC_PULL_OFFSET_ILLEGAL;
            if (done)
                printf("MessageQueue [topic=%s, brokerName=%s, queueId=%d] print msg finished. status=%s, offset=%lld\n",
                       mqs[i].topic, mqs[i].broker_name, mqs[i].queue_id, pull_status_name(r.status),
                       (long long)r.next_begin_offset);
            off = r.next_begin_offset > off ? r.next_begin_offset : max;
            lc_pull_result_free(&r);
            if (done)
                break;
        }
    }
    free(mqs);
    lc_pull_consumer_destroy(c);
    return 0;
}

/* decodeMessageId: the client IP and the (nearly) send time in a UNIQ_KEY message id, as
 * RocketMQ's MessageClientIDSetter reads them: ip(4) pid(2) random(4) ms-since-month-start(4)
 * counter(2); a time past now belongs to the previous month. Printed as RocketMQ does, on one
 * line with no separator. */
int cmd_decode_message_id(int argc, char **argv)
{
    const char *v[128] = {0};
    uint8_t b[16];
    if (ma_parse(argc, argv, "n:i:", v) || !v['i']) {
        fprintf(stderr, "mqadmin: decodeMessageId needs -i messageId\n");
        return 2;
    }
    for (int i = 0; i < 16; i++) {
        unsigned x;
        if (strlen(v['i']) != 32 || sscanf(v['i'] + 2 * i, "%2x", &x) != 1) {
            fprintf(stderr, "mqadmin: %s is not a 32-hex-digit message id\n", v['i']);
            return 1;
        }
        b[i] = (uint8_t)x;
    }
    printf("ip=%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    int64_t span = (int64_t)cm_be32(b + 10), start = (int64_t)mktime(&tm) * 1000;
    if (start + span >= cm_now_ms()) {
        tm.tm_mon -= 1;
        tm.tm_isdst = -1;
        start = (int64_t)mktime(&tm) * 1000;
    }
    int64_t ms = start + span;
    time_t t = (time_t)(ms / 1000);
    localtime_r(&t, &tm);
    printf("date=%04d-%02d-%02d#%02d:%02d:%02d:%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, (int)(ms % 1000));
    return 0;
}
