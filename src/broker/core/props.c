/* props.c: editing RocketMQ property strings ("name\x01value\x02...") when the broker
 * re-puts a stored message somewhere else (transactions, delay levels, retries). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "broker/core/core.h"

/* Copy a property string without the `drop` names, then append name=value pairs (NULL ends). */
int br_props_edit(cm_buf_t *out, const char *p, size_t n, const char *const *drop, ...)
{
    cm_buf_reset(out);
    size_t i = 0;
    while (i < n) {
        const char *pair = p + i;
        const char *end = memchr(pair, ST_PROP_SEP, n - i);
        size_t len = end ? (size_t)(end - pair) : n - i;
        const char *sep = memchr(pair, ST_PROP_NAME_SEP, len);
        int keep = sep != NULL;
        for (const char *const *d = drop; keep && *d; d++)
            if ((size_t)(sep - pair) == strlen(*d) && !memcmp(pair, *d, strlen(*d)))
                keep = 0;
        if (keep && (cm_buf_append(out, pair, len) || cm_buf_putc(out, ST_PROP_SEP)))
            return -1;
        i += len + 1;
    }
    va_list ap;
    va_start(ap, drop);
    for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
        const char *v = va_arg(ap, const char *);
        if (cm_buf_puts(out, k) || cm_buf_putc(out, ST_PROP_NAME_SEP) || cm_buf_puts(out, v) ||
            cm_buf_putc(out, ST_PROP_SEP)) {
            va_end(ap);
            return -1;
        }
    }
    va_end(ap);
    return 0;
}

/* Property value into buf (NUL-terminated); 0 if found. */
int br_prop(const st_record_t *r, const char *name, char *buf, size_t n)
{
    const char *v;
    size_t vl;
    if (st_props_get(r->properties, r->propertiesLen, name, &v, &vl) != ST_OK || vl >= n)
        return -1;
    memcpy(buf, v, vl);
    buf[vl] = 0;
    return 0;
}


/* Put a copy of a stored record with a new topic/queue/props/sysFlag (counted as a put). */
int br_put_copy(br_broker_t *b, const st_record_t *r, const char *topic, int qid, const cm_buf_t *props,
                    int32_t sysFlag, int64_t preparedOffset, st_put_result_t *res)
{
    st_msg_t m = {0};
    m.topic = topic;
    m.queueId = qid;
    m.flag = r->flag;
    m.body = r->body;
    m.bodyLen = r->bodyLen;
    m.properties = props->data;
    m.propertiesLen = (uint32_t)props->len;
    m.sysFlag = sysFlag;
    m.bornTimestamp = r->bornTimestamp;
    m.bornHostIp = cm_be32(r->bornHost);
    m.bornHostPort = r->bornPort;
    m.reconsumeTimes = r->reconsumeTimes;
    m.preparedTransactionOffset = preparedOffset;
    int rc = st_put(b->store, &m, res);
    if (rc == ST_OK)
        b->stats.putTotal++;
    return rc;
}


/* ---- delivering a due message (delay levels, timers) ------------------------------------- */

/* Store errors that no retry can cure: the message itself is unacceptable. Everything else (a
 * full disk, a failed flush, a store shut down) passes, so the schedule waits for it. */
static int permanent(int rc) { return rc == ST_EMSG_ILLEGAL || rc == ST_EPROPS_TOO_LONG || rc == ST_EINVAL; }

/* Why a stored destination cannot be delivered to at all, or NULL. Records written before
 * sends were checked, or whose topic went away since, must not hold up the schedule. */
static const char *bad_destination(br_broker_t *b, const char *topic, const char *qid, int *q)
{
    char *end;
    long v = strtol(qid, &end, 10);
    if (br_topic_name_error(topic))
        return "the real topic is not a valid topic name";
    if (end == qid || *end || v < 0)
        return "the real queue id is not a queue id";
    br_topic_t *tc = br_topics_get(&b->topics, topic);
    if (!tc)
        return "the real topic does not exist (any more)";
    int qmax = tc->writeQueueNums > tc->readQueueNums ? tc->writeQueueNums : tc->readQueueNums;
    if (v >= qmax)
        return "the real queue id is beyond the topic's queues";
    *q = (int)v;
    return NULL;
}

/* Put a copy into BR_UNDELIVERABLE_TOPIC with the reason; 0 when done (or hopeless), -1 to
 * try again later. */
static int bury(br_broker_t *b, const st_record_t *r, const cm_buf_t *props, const char *from, const char *why,
                st_put_result_t *res)
{
    static cm_buf_t tmp;
    static const char *const drop[] = {"UNDELIVERABLE_REASON", "UNDELIVERABLE_FROM", NULL};
    if (br_props_edit(&tmp, props->data, props->len, drop, "UNDELIVERABLE_REASON", why, "UNDELIVERABLE_FROM", from,
                      (char *)NULL))
        return -1;
    int rc = br_put_copy(b, r, BR_UNDELIVERABLE_TOPIC, 0, &tmp, r->sysFlag & ~0xC, 0, res);
    if (rc != ST_OK && !permanent(rc))
        return -1;
    if (rc != ST_OK)
        LOG_E("broker", "%s: message at %" PRId64 " dropped: %s, and it cannot be kept in %s either (%s)", from,
              r->physicOffset, why, BR_UNDELIVERABLE_TOPIC, st_strerror(rc));
    else
        LOG_W("broker", "%s: message at %" PRId64 " moved to %s: %s", from, r->physicOffset, BR_UNDELIVERABLE_TOPIC,
              why);
    return 0;
}

int br_put_due(br_broker_t *b, const st_record_t *r, const char *from, const char *const *drop)
{
    static cm_buf_t scratch; /* loop thread only: reused by every delivery */
    static st_put_result_t result;
    static int ready;
    if (!ready) {
        st_put_result_init(&result);
        ready = 1;
    }
    if (br_props_edit(&scratch, r->properties, r->propertiesLen, drop, (char *)NULL))
        return -1;
    const cm_buf_t *props = &scratch;
    st_put_result_t *res = &result;
    char topic[300], qid[16];
    int q = -1;
    const char *why = NULL;
    if (br_prop(r, "REAL_TOPIC", topic, sizeof topic) || br_prop(r, "REAL_QID", qid, sizeof qid))
        why = "no REAL_TOPIC / REAL_QID property";
    else
        why = bad_destination(b, topic, qid, &q);
    if (why)
        return bury(b, r, props, from, why, res) == 0 ? 1 : -1;
    int rc = br_put_copy(b, r, topic, q, props, r->sysFlag, r->preparedTransactionOffset, res);
    if (rc == ST_OK) {
        br_message_arrived(b, topic, q);
        return 0;
    }
    if (!permanent(rc)) {
        LOG_W("broker", "%s: message to %s not delivered yet: %s", from, topic, st_strerror(rc));
        return -1;
    }
    return bury(b, r, props, from, st_strerror(rc), res) == 0 ? 1 : -1;
}
