/* libFuzzer target: the remoting frame decoder (length prefix, JSON and binary headers).
 * The input is used as is, and again with a consistent length prefix so that the header
 * decoders are reached; a decoded frame must re-encode and decode again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remoting/remoting.h"

static void one(const uint8_t *p, size_t n)
{
    rm_cmd_t c;
    rm_frame_size(p, n);
    if (rm_frame_decode(p, n, &c) != 0)
        return;
    cm_buf_t b;
    cm_buf_init(&b);
    if (rm_frame_encode(&c, &b) == 0) {
        rm_cmd_t d;
        if (rm_frame_decode((const uint8_t *)b.data, b.len, &d) != 0)
            abort();
        rm_cmd_free(&d);
    }
    cm_buf_free(&b);
    rm_cmd_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size);
    if (size >= 5 && size < RM_MAX_FRAME) {
        uint8_t *f = malloc(size + 4);
        cm_wbe32(f, (uint32_t)size);
        memcpy(f + 4, data, size);
        one(f, size + 4);
        free(f);
    }
    return 0;
}
