/* libFuzzer target for what a peer sends on a DLedger node's Raft port: arbitrary bytes go
 * through peerframe.c's check in random-sized pieces (the input's first byte seeds the split).
 * What it passes on must be whole, well-formed messages in order: re-parsed here by a second,
 * simpler walk, every passed header must have its type's length and every entry type 1..3. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/dledger/dledger.h"

static uint8_t out[1 << 22];
static size_t nout;

static int hs(void *arg, uint64_t id, const char *address)
{
    (void)arg;
    if (strlen(address) >= BR_DL_PF_MAX_ADDRESS)
        abort();
    return id == 1000 ? -1 : 0; /* one id refused, as a non-member */
}
static int emit(void *arg, const uint8_t *p, size_t n)
{
    (void)arg;
    if (nout + n > sizeof out)
        return -1;
    memcpy(out + nout, p, n);
    nout += n;
    return 0;
}
static const br_dl_pf_ops_t k_ops = {hs, NULL, emit};

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Walk what was passed on: complete messages, each header as its type requires. */
static void check_passed(int whole)
{
    size_t pos = 0;
    while (pos + 16 <= nout) {
        uint64_t type = le64(out + pos), hlen = le64(out + pos + 8), payload = 0;
        if (hlen == 0 || pos + 16 + hlen > nout)
            abort(); /* a header is passed on only whole */
        const uint8_t *h = out + pos + 16;
        if (type == BR_DL_PF_APPEND_ENTRIES) {
            uint64_t n = le64(h + 32);
            if (hlen != 48 + 16 * n && hlen != 40 + 16 * n)
                abort();
            for (uint64_t i = 0; i < n; i++) {
                const uint8_t *e = h + 40 + 16 * i;
                if (e[8] < 1 || e[8] > 3)
                    abort();
                payload += (uint64_t)e[12] | (uint64_t)e[13] << 8 | (uint64_t)e[14] << 16 | (uint64_t)e[15] << 24;
            }
        } else if (type == BR_DL_PF_INSTALL_SNAPSHOT) {
            payload = le64(h + 40 + le64(h + 32));
        } else if (type < 1 || type > 6) {
            abort();
        }
        pos += 16 + hlen;
        if (pos + payload > nout) {
            if (whole)
                abort(); /* only the last message's payload may still be under way */
            return;
        }
        pos += payload;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static br_dl_pf_t s;
    br_dl_pf_init(&s);
    nout = 0;
    unsigned seed = size ? data[0] : 0;
    size_t pos = 0;
    int rc = 0;
    while (pos < size && rc == 0) {
        size_t piece = 1 + (seed = seed * 1103515245u + 12345u) % 97;
        if (piece > size - pos)
            piece = size - pos;
        rc = br_dl_pf_feed(&s, data + pos, piece, &k_ops, NULL);
        pos += piece;
    }
    check_passed(rc == 0 && s.state != BR_DL_PF_PAYLOAD);
    return 0;
}
