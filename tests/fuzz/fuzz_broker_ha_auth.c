/* libFuzzer target: the HA preface check (src/broker/ha/auth.c), the first bytes a master reads
 * from anyone who connects to its HA port when it requires the credentials. Any bytes must give
 * 0 (more), 1 or -1, never read past what was given; a valid preface is accepted once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/ha/ha.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static br_ha_nonces_t seen;
    uint8_t *copy = malloc(size ? size : 1); /* exactly size bytes: ASan sees any over-read */
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    size_t used = 0;
    const char *why;
    int rc = br_ha_auth_check(copy, size, &used, "brokerKey01", "brokerSecret01", 1700000000000LL, &seen, &why);
    if (rc == 1 && used > size)
        abort();
    if (rc == -1 && !why)
        abort();
    free(copy);
    return 0;
}
