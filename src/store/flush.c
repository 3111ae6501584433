/* flush.c: getting the store onto disk, and the checkpoint that says how far it got.
 * The flush thread msyncs the commit log; a second thread the dirty consume-queue files and the
 * index every flushIntervalConsumeQueue ms (their msyncs take seconds with thousands of queues
 * and must not delay a group commit), and then the checkpoint. In SYNC_FLUSH the first is
 * a group commit: every put only wakes it; it flushes everything written so far in one go and
 * then calls cfg.onFlushed so the broker can answer all the sends that are now durable (many
 * sends share one msync). In ASYNC_FLUSH it flushes every flushIntervalCommitLog ms when at
 * least flushCommitLogLeastPages pages are waiting, and everything every
 * flushCommitLogThoroughInterval ms (RocketMQ's FlushRealTimeService).
 * The checkpoint file (spec §1.11) holds the store time of the newest message known to be on
 * disk in the commit log and in the consume queues; it is written after the data it names, at
 * most flushIntervalConsumeQueue ms late (late is safe: recovery starts earlier). Recovery after a
 * crash starts from the commit-log file that precedes those times, not from the first file.
 * A warm thread pre-faults commit-log pages ahead of the writer. */
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"

#define CKPT_SIZE 4096
#define TICK_MS 10

/* msync the commit log from `flushed` up to the current write position. Flush thread, or the
 * loop thread at close. */
static int cl_flush(st_store_t *st)
{
    int64_t target = atomic_load(&st->wrote);
    int64_t from = atomic_load(&st->flushed);
    uint64_t fsz = st_cl_fsize(st);
    int rc = ST_OK;

    while (from < target) {
        pthread_mutex_lock(&st->mu);
        st_mfile_t *f = st_cl_file_at(st, from);
        pthread_mutex_unlock(&st->mu);
        int64_t fileEnd = from - from % (int64_t)fsz + (int64_t)fsz;
        int64_t to = target < fileEnd ? target : fileEnd;
        if (st->testFailFlushPath && access(st->testFailFlushPath, F_OK) == 0) {
            rc = ST_EIO; /* tests only: an injected I/O error while that file exists */
            break;
        }
        if (f && st_mfile_sync(f, (uint64_t)(from - f->start), (uint64_t)(to - f->start)) != ST_OK) {
            rc = ST_EIO;
            break;
        }
        from = to;
    }
    if (rc == ST_OK) {
        int64_t cur = atomic_load(&st->flushed);
        while (cur < from && !atomic_compare_exchange_weak(&st->flushed, &cur, from))
            ;
    }
    return rc;
}

/* ---- checkpoint -------------------------------------------------------------------------- */

int st_ckpt_open(st_store_t *st)
{
    char path[4200];
    uint8_t b[24] = {0};
    snprintf(path, sizeof(path), "%s/checkpoint", st->root);
    st->ckptFd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (st->ckptFd < 0) {
        LOG_E(ST_MOD, "open %s: %s", path, strerror(errno));
        return ST_EIO;
    }
    ssize_t n = pread(st->ckptFd, b, sizeof(b), 0);
    if (n == (ssize_t)sizeof(b)) {
        st->ckptPhysic = (int64_t)cm_be64(b);
        st->ckptLogics = (int64_t)cm_be64(b + 8);
        st->ckptIndex = (int64_t)cm_be64(b + 16);
    }
    return ST_OK;
}

/* Every record stored before this time is on disk, in the commit log and its consume queue.
 * RocketMQ subtracts a 3 s margin because its timestamps can be out of step; ours never
 * decrease in log order (next_store_ts), so a record strictly older than the checkpoint's
 * time precedes one that is known durable, and no margin is needed. */
int64_t st_ckpt_min_timestamp(const st_store_t *st)
{
    int64_t m = st->ckptPhysic < st->ckptLogics ? st->ckptPhysic : st->ckptLogics;
    if (st->cfg.messageIndexEnable && st->cfg.messageIndexSafe && st->ckptIndex < m)
        m = st->ckptIndex; /* recovery then re-indexes what the index had not on disk */
    return m > 0 ? m : 0;
}

/* Written after the data it describes is durable, so it never claims more than is on disk. */
static void ckpt_write(st_store_t *st)
{
    uint8_t b[CKPT_SIZE] = {0};
    if (st->ckptFd < 0)
        return;
    pthread_mutex_lock(&st->ckptMu);
    cm_wbe64(b, (uint64_t)st->ckptPhysic);
    cm_wbe64(b + 8, (uint64_t)st->ckptLogics);
    cm_wbe64(b + 16, (uint64_t)st->ckptIndex);
    if (pwrite(st->ckptFd, b, sizeof(b), 0) != (ssize_t)sizeof(b) || fdatasync(st->ckptFd) != 0)
        LOG_W(ST_MOD, "checkpoint write failed: %s", strerror(errno));
    pthread_mutex_unlock(&st->ckptMu);
}

void st_ckpt_close(st_store_t *st)
{
    if (st->ckptFd >= 0)
        close(st->ckptFd);
    st->ckptFd = -1;
}

/* ---- warm-up ----------------------------------------------------------------------------- */

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define WARM_AHEAD (128LL * 1024 * 1024)

/* Fault in the commit-log pages ahead of the write position on this thread, so that the
 * writer (the broker's loop) never pays for zeroing fresh pages; RocketMQ's warm-up idea,
 * done continuously. Pages are only populated, never written, so racing the writer is safe. */
static void cl_warm(st_store_t *st, int64_t *warmed)
{
    int64_t w = atomic_load(&st->wrote), target = w + WARM_AHEAD;
    uint64_t fsz = st_cl_fsize(st);
    if (*warmed < w)
        *warmed = w - w % 4096;
    while (*warmed < target) {
        pthread_mutex_lock(&st->mu);
        st_mfile_t *f = st_cl_file_at(st, *warmed);
        pthread_mutex_unlock(&st->mu);
        if (!f)
            return; /* the next file does not exist yet */
        int64_t fileEnd = f->start + (int64_t)fsz, to = target < fileEnd ? target : fileEnd;
        if (madvise(f->base + (*warmed - f->start), (size_t)(to - *warmed), MADV_POPULATE_WRITE) != 0)
            return; /* old kernel or no memory: the writer faults the pages in itself */
        *warmed = to;
    }
}

/* Its own thread: a flush (msync) can block for hundreds of milliseconds, and the writer
 * must not overtake the warmed area meanwhile. */
static void *warm_main(void *arg)
{
    st_store_t *st = arg;
    int64_t warmed = 0;
    pthread_mutex_lock(&st->mu);
    while (!st->stop) {
        pthread_mutex_unlock(&st->mu);
        cl_warm(st, &warmed);
        usleep(10000);
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* ---- the flush thread -------------------------------------------------------------------- */

typedef struct flush_clock {
    uint64_t lastCl, lastClThorough;
    int clInterval;
} flush_clock_t;

/* One commit-log flush as the mode asks; returns 1 if something was flushed. */
static int flush_commitlog(st_store_t *st, flush_clock_t *k, uint64_t now, int kicked)
{
    int64_t pending = atomic_load(&st->wrote) - atomic_load(&st->flushed);
    if (pending <= 0)
        return 0;
    if (st->cfg.flushDiskType == ST_SYNC_FLUSH) {
        if (!kicked && now - k->lastCl < (uint64_t)TICK_MS)
            return 0;
    } else {
        int thorough = now - k->lastClThorough >= (uint64_t)st->cfg.flushCommitLogThoroughInterval;
        if (now - k->lastCl < (uint64_t)k->clInterval)
            return 0;
        k->lastCl = now;
        if (!thorough && pending < (int64_t)st->cfg.flushCommitLogLeastPages * 4096)
            return 0;
        k->lastClThorough = now;
    }
    k->lastCl = now;
    int64_t ts = atomic_load(&st->lastPutTs); /* read before `wrote`: that message is included */
    if (st->testFlushDelayMs > 0)
        usleep((useconds_t)st->testFlushDelayMs * 1000);
    uint64_t t0 = st_now_ns();
    int frc = cl_flush(st);
    st_hist_add(&st->phases.flushCl, st_now_ns() - t0);
    if (frc != ST_OK) {
        if (!atomic_exchange(&st->flushFailing, 1))
            LOG_E(ST_MOD, "commit log flush failed (I/O error): sends are refused until a flush succeeds");
        return 0;
    }
    if (atomic_exchange(&st->flushFailing, 0))
        LOG_I(ST_MOD, "commit log flush works again");
    st->ckptPhysic = ts;
    return 1;
}

static void *flush_main(void *arg)
{
    st_store_t *st = arg;
    flush_clock_t k = {0};
    k.lastCl = k.lastClThorough = cm_mono_ms();
    k.clInterval = st->cfg.flushIntervalCommitLog > 0 ? st->cfg.flushIntervalCommitLog : 500;
    pthread_mutex_lock(&st->mu);
    while (!st->stop) {
        if (!st->flushWanted) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += (long)TICK_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&st->cv, &st->mu, &ts);
        }
        if (st->stop)
            break;
        int kicked = st->flushWanted;
        st->flushWanted = 0;
        pthread_mutex_unlock(&st->mu);
        uint64_t now = cm_mono_ms();
        int flushed = flush_commitlog(st, &k, now, kicked);
        /* no checkpoint write here (cq_flush_main does it): not an fdatasync per group commit */
        if (flushed && st->cfg.onFlushed)
            st->cfg.onFlushed(st->cfg.onFlushedArg);
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

#define INDEX_FLUSH_MS 10000 /* messageIndexSafe=false: the index's msync period */

/* msync the index; the keys of every put up to ts are queued (st_put queues them before it
 * records its time), so once the writer has applied them the checkpoint may say so */
static void index_flush_upto(st_store_t *st, int64_t ts)
{
    int applied = st_index_settle(st, 1000) == 0;
    st_index_flush(st);
    if (applied)
        st->ckptIndex = ts;
}

void st_thread_background(void)
{
    /* Nice 10 gives the thread about a tenth of the loop's CPU share when both want a core, so
     * on a small machine index writing and consume-queue msyncs wait for the loop, not the
     * other way round (the loop is what every client waits for). Failing is harmless. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) != 0)
        LOG_D(ST_MOD, "setpriority: %s", strerror(errno));
}

/* Consume queues and index every flushIntervalConsumeQueue ms, on their own thread: msyncing
 * thousands of dirty queue files takes seconds, and on the commit log's thread it held up the
 * SYNC_FLUSH group commit (and every waiting send) that long (issue 17). */
static void *cq_flush_main(void *arg)
{
    st_store_t *st = arg;
    st_thread_background();
    int interval = st->cfg.flushIntervalConsumeQueue > 0 ? st->cfg.flushIntervalConsumeQueue : 1000;
    uint64_t last = cm_mono_ms(), lastIndex = last, lastThorough = last;
    pthread_mutex_lock(&st->mu);
    while (!st->stop) {
        struct timespec ts;
        cm_deadline_ts(&ts, CLOCK_REALTIME, 100);
        pthread_cond_timedwait(&st->cqCv, &st->mu, &ts); /* woken at stop */
        if (st->stop)
            break;
        uint64_t now = cm_mono_ms();
        if (now - last < (uint64_t)interval)
            continue;
        pthread_mutex_unlock(&st->mu);
        int64_t putTs = atomic_load(&st->lastPutTs); /* units up to here are written */
        uint64_t t0 = st_now_ns();
        /* RocketMQ's rule: files with flushConsumeQueueLeastPages new pages each pass, all of
         * them every flushConsumeQueueThoroughInterval, and only then may the checkpoint say
         * every unit up to putTs is on disk */
        int thorough = st->cfg.flushConsumeQueueLeastPages <= 0 ||
                       now - lastThorough >= (uint64_t)st->cfg.flushConsumeQueueThoroughInterval;
        if (st_cq_flush_dirty(st, thorough) == ST_OK && thorough)
            st->ckptLogics = putTs;
        if (thorough)
            lastThorough = now;
        uint64_t t1 = st_now_ns();
        st_hist_add(&st->phases.flushCq, t1 - t0);
        if (st->cfg.messageIndexEnable &&
            (st->cfg.messageIndexSafe || cm_mono_ms() - lastIndex >= INDEX_FLUSH_MS)) {
            index_flush_upto(st, putTs);
            lastIndex = cm_mono_ms();
            st_hist_add(&st->phases.flushIndex, st_now_ns() - t1);
        }
        ckpt_write(st);
        last = cm_mono_ms();
        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

void st_flush_kick(st_store_t *st)
{
    pthread_mutex_lock(&st->mu);
    if (!st->flushWanted) {
        st->flushWanted = 1;
        pthread_cond_signal(&st->cv);
    }
    pthread_mutex_unlock(&st->mu);
}

int64_t st_flushed_offset(st_store_t *st) { return atomic_load(&st->flushed); }
int st_flush_failing(st_store_t *st) { return atomic_load(&st->flushFailing); }

int st_flush_threads_start(st_store_t *st)
{
    const char *d = getenv("LOULAN_TEST_FLUSH_DELAY_MS");
    st->testFlushDelayMs = d ? atoi(d) : 0;
    st->testFailFlushPath = getenv("LOULAN_TEST_FAIL_FLUSH_FILE");
    if (pthread_create(&st->thr, NULL, flush_main, st) != 0)
        return ST_EIO;
    int warm = pthread_create(&st->warmThr, NULL, warm_main, st) == 0;
    if (!warm || pthread_create(&st->cqThr, NULL, cq_flush_main, st) != 0) {
        pthread_mutex_lock(&st->mu);
        st->stop = 1;
        pthread_cond_broadcast(&st->cv);
        pthread_cond_broadcast(&st->cqCv);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->thr, NULL);
        if (warm)
            pthread_join(st->warmThr, NULL);
        return ST_EIO;
    }
    st->thrStarted = 1;
    return ST_OK;
}

void st_flush_threads_stop(st_store_t *st)
{
    if (!st->thrStarted)
        return;
    pthread_mutex_lock(&st->mu);
    st->stop = 1;
    pthread_cond_broadcast(&st->cv);
    pthread_cond_broadcast(&st->cqCv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thr, NULL);
    pthread_join(st->warmThr, NULL);
    pthread_join(st->cqThr, NULL);
    st->thrStarted = 0;
}

/* Everything, now (close, tests). The checkpoint then names the newest message. */
int st_store_flush(st_store_t *st)
{
    int64_t ts = atomic_load(&st->lastPutTs);
    int rc = cl_flush(st);
    int rc2 = st_cq_flush_all(st);
    index_flush_upto(st, ts);
    if (rc == ST_OK && rc2 == ST_OK) {
        st->ckptPhysic = st->ckptLogics = ts;
        ckpt_write(st);
    }
    return rc != ST_OK ? rc : rc2;
}
