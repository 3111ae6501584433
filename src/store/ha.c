/* ha.c: the store's side of master/slave replication (spec §5.2). A master hands out raw
 * commit-log bytes; a slave appends the same bytes at the same offsets, so both logs are
 * identical byte for byte, and dispatches each complete record to its consume queues and index
 * exactly as recovery does. Loop thread (the broker's), like st_put. */
#include <inttypes.h>
#include <string.h>

#include "store/store_int.h"

int st_ha_read(st_store_t *st, int64_t from, size_t maxLen, const uint8_t **ptr, size_t *len)
{
    *len = 0;
    int64_t w = atomic_load(&st->wrote);
    if (from >= w)
        return ST_OK;
    st_mfile_t *f = st_cl_file_at(st, from);
    if (!f)
        return ST_ENOENT; /* deleted by retention: the slave is too far behind */
    int64_t fileEnd = f->start + (int64_t)st_cl_fsize(st);
    int64_t to = w < fileEnd ? w : fileEnd;
    if ((uint64_t)(to - from) > maxLen)
        to = from + (int64_t)maxLen;
    *ptr = f->base + (from - f->start);
    *len = (size_t)(to - from);
    return ST_OK;
}

/* Copy bytes at the end of the log, creating files as the master did. */
static int append_bytes(st_store_t *st, int64_t phy, const uint8_t *data, size_t len)
{
    uint64_t fsz = st_cl_fsize(st);
    while (len) {
        st_mfile_t *f = st_cl_file_at(st, phy);
        int rc;
        if (!f && (rc = st_cl_new_file(st, phy - phy % (int64_t)fsz, &f)) != ST_OK)
            return rc;
        size_t room = (size_t)(f->start + (int64_t)fsz - phy), n = len < room ? len : room;
        memcpy(f->base + (phy - f->start), data, n);
        phy += (int64_t)n;
        data += n;
        len -= n;
        atomic_store(&st->wrote, phy);
    }
    return ST_OK;
}

/* Zero what was appended past `end` and end the log there again. */
static void unappend(st_store_t *st, int64_t end)
{
    uint64_t fsz = st_cl_fsize(st);
    for (int64_t p = end, w = atomic_load(&st->wrote); p < w;) {
        st_mfile_t *f = st_cl_file_at(st, p);
        int64_t fileEnd = p - p % (int64_t)fsz + (int64_t)fsz, to = w < fileEnd ? w : fileEnd;
        if (f)
            memset(f->base + (p - f->start), 0, (size_t)(to - p));
        p = to;
    }
    atomic_store(&st->wrote, end);
}

int st_ha_append(st_store_t *st, int64_t phyOffset, const uint8_t *data, size_t len)
{
    int64_t w = atomic_load(&st->wrote);
    if (st->cl.n == 0 && w == 0 && phyOffset > 0) { /* a new slave starts where the master is */
        atomic_store(&st->wrote, phyOffset);
        atomic_store(&st->flushed, phyOffset);
        st->haDispatched = w = phyOffset;
    }
    if (phyOffset != w)
        return ST_EINVAL;
    if (atomic_load(&st->diskFull))
        return ST_EDISKFULL;
    int rc = append_bytes(st, phyOffset, data, len);
    if (rc != ST_OK)
        return rc;
    int64_t end;
    int bad;
    rc = st_dispatch(st, st->haDispatched, atomic_load(&st->wrote), &end, &bad, NULL);
    st->haDispatched = end;
    if (rc != ST_OK || bad) {
        /* not a record, or one that cannot be dispatched (a bad topic or queue in it, or no disk
         * for its queue): take the bytes back from there, so the log ends at the last good record
         * and the next report asks the master for exactly what follows it */
        LOG_E(ST_MOD, "replicated bytes at %" PRId64 " dropped: %s", end, bad ? "not a record" : st_strerror(rc));
        unappend(st, end);
        if (rc == ST_OK) /* st_dispatch already counts nonsense fields as bad */
            rc = ST_ECORRUPT;
    }
    atomic_store(&st->lastPutTs, st->lastStoreTs);
    if (st->cfg.flushDiskType == ST_SYNC_FLUSH)
        st_flush_kick(st);
    return rc;
}
