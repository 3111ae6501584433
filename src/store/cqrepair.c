/* cqrepair.c: damaged consume queues, found and rebuilt at open. A consume queue is only an
 * index of the commit log (every record carries its topic, queueId and queueOffset), so a queue
 * whose files are short, missing or hold units that do not point at their own records is built
 * again from the commit log instead of hiding stored messages or stopping the broker (RocketMQ
 * does neither). The checks read the queue files' tails and two records per file, so they cost
 * little at every start; a rebuild reads the commit log once for all damaged queues, only when
 * one is found. Loop thread, during st_store_open. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_int.h"

/* fillers looked past at either end of a file before giving up on finding a unit to check */
#define CHECK_SPAN 64

static const uint8_t *unit_at(const st_store_t *st, const st_cq_t *cq, int64_t q)
{
    int64_t pos = q * ST_CQ_UNIT_SIZE;
    st_mfile_t *f = st_mfiles_get(&cq->files, pos / (int64_t)st->cfg.mappedFileSizeConsumeQueue);
    return f ? f->base + (pos - f->start) : NULL;
}

/* Is unit q the record it claims (when that record is still in [minPhy, end))? */
static int check_record(st_store_t *st, st_cq_t *cq, int64_t q, int64_t minPhy)
{
    const uint8_t *u = unit_at(st, cq, q), *p;
    uint32_t len;
    if (!u)
        return 0;
    int64_t phy = (int64_t)cm_be64(u);
    int32_t size = (int32_t)cm_be32(u + 8);
    if (size == ST_CQ_FILLER_SIZE)
        return 0;
    if (phy >= 0 && phy < minPhy)
        return 1; /* retention took it: nothing to compare */
    const char *why = st_cl_unit_record(st, cq, q, phy, size, &p, &len);
    if (why) {
        int64_t pos = q * ST_CQ_UNIT_SIZE;
        st_mfile_t *f = st_mfiles_get(&cq->files, pos / (int64_t)st->cfg.mappedFileSizeConsumeQueue);
        st_cq_mark_damaged(cq, "%s byte %" PRId64 ": unit %" PRId64 " (commit-log offset %"
                           PRId64 ", size %d) points at %s", f->path, pos - f->start, q, phy,
                           (int)size, why);
    }
    return 1;
}

/* The first and the last unit of each file that is not a filler must be its own record. */
static void check_file_ends(st_store_t *st, st_cq_t *cq, int64_t minPhy)
{
    int64_t upf = (int64_t)(st->cfg.mappedFileSizeConsumeQueue / ST_CQ_UNIT_SIZE);
    for (size_t i = 0; i < cq->files.n && !cq->damaged; i++) {
        int64_t lo = (cq->files.firstNo + (int64_t)i) * upf, hi = lo + upf;
        if (lo < cq->minUnits)
            lo = cq->minUnits;
        if (hi > cq->maxUnits)
            hi = cq->maxUnits;
        for (int64_t q = lo; q < hi && q < lo + CHECK_SPAN && !check_record(st, cq, q, minPhy);)
            q++;
        for (int64_t q = hi - 1; q >= lo && q >= hi - CHECK_SPAN && !cq->damaged &&
                                 !check_record(st, cq, q, minPhy);)
            q--;
    }
}

/* In the files recovery scanned (the last three), units must point forward, one record after
 * the other, and inside the commit log. */
static void check_tail_order(st_store_t *st, st_cq_t *cq, int64_t end)
{
    int64_t upf = (int64_t)(st->cfg.mappedFileSizeConsumeQueue / ST_CQ_UNIT_SIZE);
    size_t from = cq->files.n > 3 ? cq->files.n - 3 : 0;
    int64_t q = (cq->files.firstNo + (int64_t)from) * upf, prevEnd = 0;
    if (q < cq->minUnits)
        q = cq->minUnits;
    for (; q < cq->maxUnits && !cq->damaged; q++) {
        const uint8_t *u = unit_at(st, cq, q);
        if (!u)
            continue;
        int64_t phy = (int64_t)cm_be64(u);
        int32_t size = (int32_t)cm_be32(u + 8);
        if (size == ST_CQ_FILLER_SIZE)
            continue;
        const char *why = phy < prevEnd ? "before the end of the unit ahead of it"
                          : phy + size > end ? "past the end of the commit log" : NULL;
        if (why)
            st_cq_mark_damaged(cq, "%s/%020" PRId64 " byte %" PRId64 ": unit %" PRId64
                               " (commit-log offset %" PRId64 ", size %d) points %s",
                               cq->dir, q / upf * upf * ST_CQ_UNIT_SIZE,
                               q % upf * ST_CQ_UNIT_SIZE, q, phy, (int)size, why);
        prevEnd = phy + size;
    }
}

/* A new slave's log begins wherever its master was, mid-file: zeros before that, and its
 * queues may start at any offset. */
static int log_starts_with_a_record(st_store_t *st)
{
    st_record_t r;
    st_mfile_t *f = st->cl.n ? st->cl.v[0] : NULL;
    return f && st_record_decode(f->base, f->size, 0, &r) == ST_OK && r.physicOffset == f->start;
}

void st_cq_check(st_store_t *st, st_cq_t *cq, int64_t minPhy, int64_t end)
{
    if (cq->damaged || cq->files.n == 0)
        return;
    int64_t fsz = (int64_t)st->cfg.mappedFileSizeConsumeQueue;
    /* retention is the only thing that deletes the first files of a queue, and it needs a
     * commit log that no longer starts at 0 */
    if (minPhy == 0 && cq->files.firstNo > 0 && log_starts_with_a_record(st))
        st_cq_mark_damaged(cq, "files %s/%020d to %020" PRId64 " are missing (queue offsets 0 "
                           "to %" PRId64 ") while the commit log still starts at 0", cq->dir, 0,
                           (cq->files.firstNo - 1) * fsz,
                           cq->files.firstNo * fsz / ST_CQ_UNIT_SIZE - 1);
    check_tail_order(st, cq, end);
    check_file_ends(st, cq, minPhy);
}

/* Forget every unit of cq and delete its files (mapped ones go to the grave: the flush thread
 * may hold them on its dirty list). */
static int cq_reset(st_store_t *st, st_cq_t *cq)
{
    int64_t *starts;
    size_t n;
    char path[4096];
    if (cq->maxUnits > cq->offsetHint)
        cq->offsetHint = cq->maxUnits;
    for (size_t i = 0; i < cq->files.n; i++)
        if (cq->files.v[i])
            st_grave_add(st, cq->files.v[i]);
    free(cq->files.v);
    memset(&cq->files, 0, sizeof(cq->files));
    cq->minUnits = cq->maxUnits = cq->maxPhysicOffset = 0;
    int rc = st_list_numbered(cq->dir, &starts, &n);
    for (size_t i = 0; rc == ST_OK && i < n; i++) {
        snprintf(path, sizeof(path), "%s/%020" PRId64, cq->dir, starts[i]);
        unlink(path);
    }
    free(starts);
    if (rc == ST_OK && cm_mkdirs(cq->dir) != 0)
        rc = ST_EIO;
    return rc;
}

static int rebuild_put(st_store_t *st, const st_record_t *r, int64_t phy)
{
    st_cq_t *cq = st_cq_find(st, r->topic, r->topicLen, r->queueId);
    int rc;
    if (!cq || !cq->damaged)
        return ST_OK;
    /* the topic was deleted and created again: its offsets start over from here */
    if (r->queueOffset < cq->maxUnits) {
        if ((rc = cq_reset(st, cq)) != ST_OK)
            return rc;
        cq->offsetHint = 0; /* what it had reached was the old topic's */
    }
    rc = st_cq_put(st, cq, r->queueOffset, phy, r->totalSize, st_rec_tags_code(st, r));
    return rc == ST_EINVAL ? ST_OK : rc; /* an impossible queue offset: not indexable */
}

/* One pass over the commit log [minPhy, end), dispatching to damaged queues only. */
static int rebuild_scan(st_store_t *st, int64_t minPhy, int64_t end)
{
    uint64_t fsz = st_cl_fsize(st);
    int64_t phy = minPhy;
    int rc = ST_OK;
    while (phy < end && rc == ST_OK) {
        st_mfile_t *f = st_cl_file_at(st, phy);
        if (!f)
            break;
        int64_t fileEnd = f->start + (int64_t)fsz, lim = end < fileEnd ? end : fileEnd;
        st_record_t r;
        int drc = st_record_decode(f->base + (phy - f->start), (size_t)(lim - phy), 0, &r);
        if (drc == ST_EBLANK) {
            phy = fileEnd;
            continue;
        }
        if (drc != ST_OK) {
            LOG_W(ST_MOD, "consume-queue rebuild stopped at commit-log offset %" PRId64 ": %s",
                  phy, st_strerror(drc));
            break;
        }
        if (st_rec_dispatched(&r))
            rc = rebuild_put(st, &r, phy);
        phy += r.totalSize;
    }
    return rc;
}

static int rebuilt(st_store_t *st, st_cq_t *cq)
{
    int rc = ST_OK;
    cq->damaged = 0;
    if (cq->maxUnits == 0 && cq->offsetHint > 0) {
        /* retention took every record it had: keep its offsets from going back to 0, which
         * would hand consumers' committed offsets to other messages */
        LOG_W(ST_MOD, "consume queue %s/%d: none of its records is left in the commit log; "
              "it stays empty at queue offset %" PRId64, cq->topic, cq->queueId,
              cq->offsetHint);
        return st_cq_start_at(st, cq, cq->offsetHint);
    }
    LOG_I(ST_MOD, "consume queue %s/%d rebuilt: queue offsets [%" PRId64 ", %" PRId64 ")",
          cq->topic, cq->queueId, cq->minUnits, cq->maxUnits);
    return rc;
}

int st_cq_rebuild(st_store_t *st, int64_t minPhy, int64_t end)
{
    size_t n = 0;
    int rc = ST_OK;
    for (size_t b = 0; b < st->nbuckets; b++)
        for (st_cq_t *c = st->buckets[b]; c && rc == ST_OK; c = c->hnext)
            if (c->damaged) {
                rc = cq_reset(st, c);
                n++;
            }
    if (n == 0 || rc != ST_OK)
        return rc;
    uint64_t t0 = cm_mono_ms();
    LOG_I(ST_MOD, "rebuilding %zu consume queue(s) from commit log [%" PRId64 ", %" PRId64 ")",
          n, minPhy, end);
    if ((rc = rebuild_scan(st, minPhy, end)) != ST_OK) {
        LOG_E(ST_MOD, "consume-queue rebuild failed: %s", st_strerror(rc));
        return rc;
    }
    for (size_t b = 0; b < st->nbuckets; b++)
        for (st_cq_t *c = st->buckets[b]; c; c = c->hnext)
            if (c->damaged && (rc = rebuilt(st, c)) != ST_OK)
                return rc;
    rc = st_cq_flush_dirty(st, 1);
    LOG_I(ST_MOD, "consume-queue rebuild done in %" PRIu64 " ms", cm_mono_ms() - t0);
    return rc;
}
