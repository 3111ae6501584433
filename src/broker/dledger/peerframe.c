/* peerframe.c: a check of what a peer sends on canonical raft's TCP protocol, before raft reads
 * it. libraft 0.15 trusts its input: a header shorter than its type's fields is read past its
 * end, an entry of an unknown type makes it free the entries and then use them, and a claimed
 * length is allocated whatever its size. So every connection's bytes pass through this state
 * machine (guard.c): the handshake (u64 protocol 1, u64 server id, u64 address length, the
 * address, NUL-terminated and zero-padded), then messages (u64 type, u64 header length, the
 * header, the payload of AppendEntries and InstallSnapshot), all little-endian. A message is
 * handed on only once its header is known good; payload bytes flow on as they come. Anything
 * else and the connection is closed. Pure: fuzz_broker_dledger_peer drives it. */
#include <string.h>

#include "broker/dledger/dledger.h"

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void br_dl_pf_init(br_dl_pf_t *s)
{
    memset(s, 0, sizeof *s);
    s->state = BR_DL_PF_HANDSHAKE;
    s->need = 24;
}

/* The header of one message (type, bytes) is well formed: its length is what its type's fields
 * take, entry types are raft's, and the payload it announces is bounded. */
static int check_header(br_dl_pf_t *s, uint64_t type, const uint8_t *h, uint64_t len, uint64_t *payload)
{
    *payload = 0;
    switch (type) {
    case BR_DL_PF_REQUEST_VOTE: return len == 32 || len == 40 ? 0 : -1;
    case BR_DL_PF_REQUEST_VOTE_RESULT: return len == 16 || len == 24 ? 0 : -1;
    case BR_DL_PF_APPEND_ENTRIES_RESULT: return len == 24 || len == 32 ? 0 : -1;
    case BR_DL_PF_TIMEOUT_NOW: return len == 24 ? 0 : -1;
    case BR_DL_PF_APPEND_ENTRIES: {
        /* term, prev index, prev term, commit, entry count, 16 bytes an entry, and 8 bytes
         * libraft 0.15 counts (a "leader id") but never writes; accepted without them too */
        if (len < 40)
            return -1;
        uint64_t n = le64(h + 32);
        if (n > BR_DL_PF_MAX_ENTRIES || (len != 48 + 16 * n && len != 40 + 16 * n))
            return -1;
        for (uint64_t i = 0; i < n; i++) {
            const uint8_t *e = h + 40 + 16 * i;
            uint32_t elen = (uint32_t)e[12] | (uint32_t)e[13] << 8 | (uint32_t)e[14] << 16 | (uint32_t)e[15] << 24;
            if (e[8] < 1 || e[8] > 3) /* RAFT_COMMAND, RAFT_BARRIER, RAFT_CHANGE */
                return -1;
            *payload += elen;
        }
        s->term = le64(h);
        return *payload <= BR_DL_PF_MAX_PAYLOAD ? 0 : -1;
    }
    case BR_DL_PF_INSTALL_SNAPSHOT: {
        /* term, last index, last term, conf index, conf length, conf, data length, and the
         * same 8 unwritten bytes */
        if (len < 56)
            return -1;
        uint64_t conf = le64(h + 32);
        if (conf > len - 56 || len != 56 + conf)
            return -1;
        *payload = le64(h + 40 + conf);
        s->term = le64(h);
        return *payload <= BR_DL_PF_MAX_PAYLOAD ? 0 : -1;
    }
    default:
        return -1;
    }
}

/* Keep bytes of the handshake or of a message's preamble and header until `need` are there. */
static size_t gather(br_dl_pf_t *s, const uint8_t *p, size_t n)
{
    size_t take = s->need - s->have < n ? s->need - s->have : n;
    memcpy(s->buf + s->have, p, take);
    s->have += take;
    return take;
}

int br_dl_pf_feed(br_dl_pf_t *s, const uint8_t *p, size_t n, const br_dl_pf_ops_t *ops, void *arg)
{
    while (n) {
        if (s->state == BR_DL_PF_PAYLOAD) {
            size_t take = s->left < n ? (size_t)s->left : n;
            if (ops->emit(arg, p, take) != 0)
                return -1;
            s->left -= take;
            p += take;
            n -= take;
            if (!s->left)
                s->state = BR_DL_PF_PREAMBLE, s->need = 16, s->have = 0;
            continue;
        }
        size_t took = gather(s, p, n);
        p += took;
        n -= took;
        if (s->have < s->need)
            break;
        if (s->state == BR_DL_PF_HANDSHAKE) {
            uint64_t alen = le64(s->buf + 16);
            if (le64(s->buf) != 1 || alen < 8 || alen > BR_DL_PF_MAX_ADDRESS || alen % 8)
                return -1;
            s->id = le64(s->buf + 8);
            s->state = BR_DL_PF_ADDRESS;
            s->need = 24 + (size_t)alen;
        } else if (s->state == BR_DL_PF_ADDRESS) {
            const char *a = (const char *)s->buf + 24;
            size_t alen = s->need - 24;
            if (!memchr(a, 0, alen) || ops->handshake(arg, s->id, a) != 0)
                return -1;
            s->state = BR_DL_PF_PREAMBLE, s->need = 16, s->have = 0;
        } else if (s->state == BR_DL_PF_PREAMBLE) {
            uint64_t hlen = le64(s->buf + 8);
            if (hlen == 0 || hlen > sizeof s->buf - 16)
                return -1;
            s->state = BR_DL_PF_HEADER;
            s->need = 16 + (size_t)hlen;
        } else { /* BR_DL_PF_HEADER: the whole message header is here */
            uint64_t type = le64(s->buf), payload;
            s->term = 0;
            if (check_header(s, type, s->buf + 16, s->need - 16, &payload) != 0 ||
                (ops->message && ops->message(arg, (int)type, s->term) != 0) || ops->emit(arg, s->buf, s->need) != 0)
                return -1;
            s->left = payload;
            s->have = 0;
            if (payload)
                s->state = BR_DL_PF_PAYLOAD;
            else
                s->state = BR_DL_PF_PREAMBLE, s->need = 16;
        }
    }
    return 0;
}
