/* entry.c: Loulan's Raft entries, decoded (dledger.h gives the layout). Pure functions: the
 * fuzz target fuzz_broker_dledger drives them with arbitrary bytes. */
#include <string.h>

#include "broker/dledger/dledger.h"

int br_dl_entry_decode(const uint8_t *p, size_t n, br_dl_entry_t *e)
{
    if (n < BR_DL_HDR)
        return -1;
    uint32_t len = cm_be32(p + 4);
    if (len > n - BR_DL_HDR || (p[0] != BR_DL_RECORDS && p[0] != BR_DL_TABLES))
        return -1;
    int64_t off = (int64_t)cm_be64(p + 8);
    if (p[0] == BR_DL_RECORDS && (off < 0 || off > INT64_MAX - (int64_t)len))
        return -1;
    e->kind = p[0];
    e->offset = off;
    e->payload = p + BR_DL_HDR;
    e->len = len;
    return 0;
}

int br_dl_records_each(const uint8_t *p, size_t len, void (*fn)(void *arg, const char *topic, int qid), void *arg)
{
    size_t pos = 0;
    int n = 0;
    while (pos + 8 <= len) {
        st_record_t r;
        if (st_record_decode(p + pos, len - pos, 0, &r) != ST_OK || r.totalSize <= 0)
            break; /* a blank ends its file, so it ends the chunk too */
        char topic[ST_MAX_TOPIC_LEN + 1];
        size_t tl = r.topicLen < sizeof topic - 1 ? r.topicLen : sizeof topic - 1;
        memcpy(topic, r.topic, tl);
        topic[tl] = 0;
        fn(arg, topic, r.queueId);
        pos += (size_t)r.totalSize;
        n++;
    }
    return n;
}
