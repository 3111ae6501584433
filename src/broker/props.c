/* props.c: editing RocketMQ property strings ("name\x01value\x02...") when the broker
 * re-puts a stored message somewhere else (transactions, delay levels, retries). */
#include <stdarg.h>
#include <string.h>

#include "broker/br.h"

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

