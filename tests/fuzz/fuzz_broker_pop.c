/* libFuzzer target: what the POP subsystem decodes (src/broker/pop/decode.c). The first byte
 * picks the decoder, the rest is its input: 0 a receipt handle (extraInfo, from clients), 1 the
 * journal lines of rmq_sys_pop_state (from the store, written by an earlier run), 2 a
 * BATCH_ACK_MESSAGE body (JSON with base64 bitmaps). Whatever decodes must encode back to text
 * that decodes to the same values. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/pop/pop.h"

static void copy(void *a, const br_pop_jrec_t *x) { *(br_pop_jrec_t *)a = *x; }

static void check_jrec(void *arg, const br_pop_jrec_t *r)
{
    char line[1024];
    int n;
    (void)arg;
    if (r->kind == 'P')
        n = snprintf(line, sizeof line, "P %s %s %d %" PRId64 " %" PRId64 " %d %" PRId64 " %" PRId64, r->group,
                     r->topic, r->queueId, r->offset, r->commitLogOffset, r->reconsumeTimes, r->popTime,
                     r->invisibleTime);
    else if (r->kind == 'A' || r->kind == 'C' || r->kind == 'S' || r->kind == 'E')
        n = snprintf(line, sizeof line, "%c %s %s %d %" PRId64, r->kind, r->group, r->topic, r->queueId, r->offset);
    else
        abort();
    if (r->queueId < 0 || r->offset < 0 || n <= 0 || (size_t)n >= sizeof line)
        abort();
    br_pop_jrec_t again = {0};
    if (br_pop_journal_each(line, (size_t)n, copy, &again) != 0)
        abort();
    if (again.kind != r->kind || strcmp(again.group, r->group) || strcmp(again.topic, r->topic) ||
        again.queueId != r->queueId || again.offset != r->offset || again.commitLogOffset != r->commitLogOffset ||
        again.reconsumeTimes != r->reconsumeTimes || again.popTime != r->popTime ||
        again.invisibleTime != r->invisibleTime)
        abort();
}

static void on_ack(void *arg, const char *group, const char *topic, int32_t queueId, int64_t offset, int64_t popTime)
{
    size_t *n = arg;
    if (!group || !topic || queueId < 0 || queueId > 65535 || offset < 0 || popTime < 0)
        abort();
    (*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 0: {
        br_pop_handle_t h, h2;
        if (br_pop_handle_parse(s, len, &h) != 0)
            return 0;
        char out[512];
        int n = snprintf(out, sizeof out, "%" PRId64 " %" PRId64 " %" PRId64 " %d %d %s %d %" PRId64, h.ckStartOffset,
                         h.popTime, h.invisibleTime, h.reviveQid, h.retryFlag, h.brokerName, h.queueId, h.queueOffset);
        if (h.commitLogOffset != -1)
            n += snprintf(out + n, sizeof out - (size_t)n, " %" PRId64, h.commitLogOffset);
        if (br_pop_handle_parse(out, strlen(out), &h2) != 0 || memcmp(&h, &h2, sizeof h) != 0)
            abort();
        break;
    }
    case 1:
        br_pop_journal_each(s, len, check_jrec, NULL);
        break;
    default: {
        size_t acks = 0;
        br_pop_batch_ack_each(s, len, on_ack, &acks);
        break;
    }
    }
    return 0;
}
