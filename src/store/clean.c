/* clean.c: retention and disk space (spec §4). The broker calls st_clean every 10 s on the
 * loop thread. It measures the commit-log partition, refuses puts while usage is over
 * diskSpaceWarningLevelRatio (a clear ST_EDISKFULL instead of RocketMQ's generic "service not
 * available"), and deletes whole commit-log files from the oldest: expired ones (older than
 * fileReservedTime hours) in the deleteWhen hours or when the disk is over
 * diskMaxUsedSpaceRatio, and unexpired ones too when it is over diskSpaceCleanForciblyRatio.
 * The current file and anything not yet flushed are never deleted. Consume-queue files whose
 * units all point below the new minimum go with them. Deleted files are unlinked at once but
 * stay mapped for 30 s, because pull answers in flight may still point into them. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "store/store_int.h"

#define GRAVE_GRACE_MS 30000
#define MAX_DELETES_PER_RUN 10

/* RocketMQ's UtilAll.getDiskPartitionSpaceUsedPercent, in whole percent rounded up. */
static int used_pct(const char *dir)
{
    struct statvfs v;
    if (statvfs(dir, &v) != 0 || v.f_blocks == 0)
        return -1;
    uint64_t used = (uint64_t)(v.f_blocks - v.f_bfree), usable = v.f_bavail;
    if (used + usable == 0)
        return -1;
    return (int)((used * 100 + used + usable - 1) / (used + usable));
}

/* deleteWhen lists hours separated by ';' ("04", "04;16"); the whole hour qualifies. */
static int hour_matches(const char *deleteWhen, int64_t nowMs)
{
    time_t t = (time_t)(nowMs / 1000);
    struct tm tm;
    if (!deleteWhen || !localtime_r(&t, &tm))
        return 0;
    for (const char *p = deleteWhen; *p;) {
        char *end;
        long h = strtol(p, &end, 10);
        if (end != p && h == tm.tm_hour)
            return 1;
        p = *end ? end + 1 : end;
    }
    return 0;
}

static void update_disk_full(st_store_t *st, int pct)
{
    int full = pct > st->cfg.diskSpaceWarningLevelRatio;
    if (atomic_exchange(&st->diskFull, full) != full) {
        if (full)
            LOG_E(ST_MOD, "disk %d%% full (over %d%%): sends are refused until space returns",
                  pct, st->cfg.diskSpaceWarningLevelRatio);
        else
            LOG_I(ST_MOD, "disk %d%% full: sends accepted again", pct);
    }
}

static int file_expired(const st_mfile_t *f, int64_t nowMs, int reservedHours)
{
    struct stat sb;
    if (fstat(f->fd, &sb) != 0)
        return 0;
    int64_t mtimeMs = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
    return nowMs >= mtimeMs + (int64_t)reservedHours * 3600 * 1000;
}

static int delete_commitlog_files(st_store_t *st, int64_t nowMs, int forced)
{
    int n = 0;
    int64_t flushed = atomic_load(&st->flushed);
    while (n < MAX_DELETES_PER_RUN && st->cl.n > 1) {
        st_mfile_t *f = st->cl.v[0];
        if (f->start + (int64_t)f->size > flushed)
            break; /* never lose what is not on disk yet */
        if (!forced && !file_expired(f, nowMs, st->cfg.fileReservedTime))
            break; /* oldest first: never a hole in the middle */
        pthread_mutex_lock(&st->mu);
        st_mfiles_drop_first(&st->cl);
        pthread_mutex_unlock(&st->mu);
        LOG_I(ST_MOD, "retention: deleted commit-log file %s%s", f->path, forced ? " (disk space)" : "");
        st_grave_add(st, f);
        n++;
    }
    return n;
}

int st_cq_delete_below(st_store_t *st, st_cq_t *cq, int64_t minPhy)
{
    uint64_t fsz = st->cfg.mappedFileSizeConsumeQueue;
    int n = 0;
    while (cq->files.n > 1) {
        st_mfile_t *f = cq->files.v[0];
        if (f) {
            const uint8_t *last = f->base + fsz - ST_CQ_UNIT_SIZE;
            int64_t phy = (int64_t)cm_be64(last);
            int32_t size = (int32_t)cm_be32(last + 8);
            if (size != ST_CQ_FILLER_SIZE && phy >= minPhy)
                break;
        }
        st_mfiles_drop_first(&cq->files);
        if (f) {
            st_cq_alloc_release_file(st, cq, f);
            st_grave_add(st, f);
        }
        n++;
    }
    if (n) {
        int64_t firstUnit = cq->files.firstNo * (int64_t)fsz / ST_CQ_UNIT_SIZE;
        if (cq->minUnits < firstUnit)
            cq->minUnits = firstUnit;
    }
    st_cq_correct_min(st, cq, minPhy);
    return n;
}

static void delete_cq_files(st_store_t *st, int64_t minPhy)
{
    for (size_t b = 0; b < st->nbuckets; b++)
        for (st_cq_t *c = st->buckets[b]; c; c = c->hnext)
            st_cq_delete_below(st, c, minPhy);
}

void st_clean_request(st_store_t *st) { st->manualCleanRuns = 20; }

int st_clean(st_store_t *st, int64_t nowMs, st_clean_report_t *rep)
{
    st_clean_report_t r = {0};
    st_grave_reap(st, GRAVE_GRACE_MS);
    r.usedPct = used_pct(st->clDir);
    if (r.usedPct >= 0)
        update_disk_full(st, r.usedPct);
    int trigger = hour_matches(st->cfg.deleteWhen, nowMs) || r.usedPct < 0 ||
                  r.usedPct > st->cfg.diskMaxUsedSpaceRatio || st->manualCleanRuns > 0;
    if (st->manualCleanRuns > 0)
        st->manualCleanRuns--;
    int forced = st->cfg.cleanFileForciblyEnable && r.usedPct > st->cfg.diskSpaceCleanForciblyRatio;
    if (trigger || forced) {
        int64_t before = st_min_phy_offset(st);
        r.filesDeleted = delete_commitlog_files(st, nowMs, forced);
        int64_t after = st_min_phy_offset(st);
        if (after > before) {
            delete_cq_files(st, after);
            st_index_delete_below(st, after);
        }
        if (r.filesDeleted) {
            int pct = used_pct(st->clDir); /* space comes back once unmapped; may lag 30 s */
            if (pct >= 0)
                update_disk_full(st, pct);
        }
    }
    r.diskFull = atomic_load(&st->diskFull);
    r.minPhyOffset = st_min_phy_offset(st);
    if (rep)
        *rep = r;
    return ST_OK;
}
