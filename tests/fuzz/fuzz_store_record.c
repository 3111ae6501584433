/* libFuzzer target for the store's disk/wire decoders: st_record_decode walked over the
 * input as a sequence of records (like recovery and pull bodies), st_batch_next over the input
 * as a batch body, and st_props_get on every decoded properties area. A decoded record is
 * re-encoded and must reproduce its bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    while (pos < size) {
        st_record_t r;
        int rc = st_record_decode(data + pos, size - pos, 1, &r);
        if (rc == ST_OK || rc == ST_ECRC) {
            const char *v;
            size_t vl;
            if (st_props_get(r.properties, r.propertiesLen, "TAGS", &v, &vl) == ST_OK)
                (void)st_tags_code(v, vl);
            if (rc == ST_OK) {
                uint8_t *out = malloc((size_t)r.totalSize);
                size_t w = 0;
                if (out && st_record_encode(&r, out, (size_t)r.totalSize, &w) == ST_OK &&
                    (w != (size_t)r.totalSize || memcmp(out, data + pos, w) != 0))
                    abort();
                free(out);
            }
            pos += (size_t)r.totalSize;
        } else if (rc == ST_EBLANK && r.totalSize > 0 && (size_t)r.totalSize <= size - pos) {
            pos += (size_t)r.totalSize;
        } else {
            break;
        }
    }

    st_batch_iter_t it;
    st_batch_entry_t e;
    st_batch_iter_init(&it, data, size);
    while (st_batch_next(&it, &e) == 1) {
        const char *v;
        size_t vl;
        if (e.bodyLen > size || e.propertiesLen > size)
            abort();
        (void)st_props_get(e.properties, e.propertiesLen, "UNIQ_KEY", &v, &vl);
    }

    uint32_t ip;
    int32_t port;
    int64_t off;
    if (size >= ST_MSG_ID_LEN &&
        st_msg_id_decode((const char *)data, ST_MSG_ID_LEN, &ip, &port, &off) == ST_OK) {
        char id[ST_MSG_ID_LEN + 1];
        st_msg_id_encode(ip, port, off, id);
        if (strncasecmp(id, (const char *)data, ST_MSG_ID_LEN) != 0)
            abort();
    }
    return 0;
}
