/* quorum.c: what a DLedger group's store needs beyond a master's (spec §6.4). The leader writes
 * a record at once (st_put, so queue offsets and msgIds are assigned as always) and hands its
 * bytes to Raft; readers must not see it until a majority holds it, and a leader deposed before
 * that must be able to take it back. Loop thread. */
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "store/store_int.h"

void st_set_visible(st_store_t *st, int64_t end) { atomic_store(&st->visible, end); }
int64_t st_visible(const st_store_t *st) { return atomic_load(&((st_store_t *)st)->visible); }
void st_set_slave(st_store_t *st, int slave) { st->cfg.slave = slave; }

/* Units of a queue point at increasing commit-log offsets, so the first invisible one is found
 * by bisection: O(log n) file reads, and only while some records are not yet committed. */
int64_t st_cq_visible_max(const st_store_t *st, const st_cq_t *cq)
{
    int64_t vis = atomic_load(&((st_store_t *)st)->visible);
    if (cq->maxPhysicOffset <= vis)
        return cq->maxUnits;
    int64_t lo = cq->minUnits, hi = cq->maxUnits; /* answer in [lo, hi] */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2, phy, tags;
        int32_t size;
        if (st_cq_unit(st, cq, mid, &phy, &size, &tags) != ST_OK || phy + size > vis)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

int st_truncate(st_store_t *st, int64_t end)
{
    int64_t w = atomic_load(&st->wrote);
    if (end > w || end < 0)
        return ST_EINVAL;
    if (end == w)
        return ST_OK;
    uint64_t fsz = st_cl_fsize(st);
    for (int64_t p = end; p < w;) {
        st_mfile_t *f = st_cl_file_at(st, p);
        int64_t fileEnd = p - p % (int64_t)fsz + (int64_t)fsz, to = w < fileEnd ? w : fileEnd;
        if (f)
            memset(f->base + (p - f->start), 0, (size_t)(to - p));
        p = to;
    }
    atomic_store(&st->wrote, end);
    if (atomic_load(&st->flushed) > end)
        atomic_store(&st->flushed, end);
    if (st->haDispatched > end)
        st->haDispatched = end;
    st_index_truncate(st, end);
    for (size_t b = 0; b < st->nbuckets; b++)
        for (st_cq_t *c = st->buckets[b]; c; c = c->hnext)
            if (c->maxPhysicOffset > end)
                st_cq_truncate(st, c, end);
    LOG_W(ST_MOD, "commit log truncated from %" PRId64 " to %" PRId64 " (records no majority holds)", w, end);
    return ST_OK;
}
