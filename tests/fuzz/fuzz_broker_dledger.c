/* libFuzzer target for the entries a DLedger node takes from Raft (what a peer's bytes become):
 * br_dl_entry_decode, then the record walk that wakes pulls for a records entry. A decoded
 * entry must lie inside the input; the walk must stay inside the payload and never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/dledger/dledger.h"

static void count(void *arg, const char *topic, int qid)
{
    (void)qid;
    if (strlen(topic) > ST_MAX_TOPIC_LEN)
        abort();
    ++*(int *)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    br_dl_entry_t e;
    if (br_dl_entry_decode(data, size, &e) != 0)
        return 0;
    if (e.payload < data || e.payload + e.len > data + size || (e.kind != BR_DL_RECORDS && e.kind != BR_DL_TABLES))
        abort();
    if (e.kind == BR_DL_RECORDS) {
        int n = 0;
        if (br_dl_records_each(e.payload, e.len, count, &n) != n)
            abort();
    }
    return 0;
}
