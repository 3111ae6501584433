/* libFuzzer target: the fastjson-dialect JSON reader. Whatever parses must write in both
 * dialects and parse again. */
#include <stdint.h>
#include <stdlib.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lj_val_t *v = NULL;
    if (lj_parse((const char *)data, size, &v) != 0)
        return 0;
    int flags[] = {LJ_W_FASTJSON, LJ_W_STRICT, LJ_W_SORT};
    for (int i = 0; i < 3; i++) {
        cm_buf_t b;
        cm_buf_init(&b);
        if (lj_write(v, flags[i], &b) != 0)
            abort();
        lj_val_t *w = NULL;
        if (lj_parse(b.data, b.len, &w) != 0)
            abort(); /* we must read what we write */
        lj_free(w);
        cm_buf_free(&b);
    }
    lj_free(v);
    return 0;
}
