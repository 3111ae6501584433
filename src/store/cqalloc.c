/* cqalloc.c: the consume-queue file allocator, in the spirit of RocketMQ's
 * AllocateMappedFileService. Creating a consume-queue file (mkdir, open, fallocate, mmap) took
 * up to ~100 ms on the loop with thousands of queues; here a thread creates files ahead of
 * need and hands each to its queue (cq->allocReady), and the loop only swaps in the mapping.
 * Requests come from the loop: when a queue's current file is half full (the next file), when a
 * topic is created (st_cq_preallocate: the first file of each queue). A put that finds its file
 * not ready does not wait behind the files queued before it: it takes its request back and
 * makes the file itself, as every put did before (so never slower than before; counted in
 * st_cq_alloc_stats); it waits only when its own file is being made at that moment (one
 * creation, which cannot be done twice). The loop touches only the one queue it writes:
 * nothing here is proportional to the number of queues.
 * Threads: st_cq_alloc_request/take/forget on the loop, alloc_main on its own thread; the
 * queue of requests and each cq's alloc fields are guarded by st->allocMu. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store/store_int.h"

#define ALLOC_ANNOUNCE_MAX 64   /* st_cq_preallocate: a topic's first queues only (1024-queue
                                 * topics would reserve gigabytes for queues never written) */

static void stat_add(uint64_t *c, uint64_t v) { __atomic_fetch_add(c, v, __ATOMIC_RELAXED); }

static void stat_max(uint64_t *c, uint64_t v)
{
    uint64_t old = __atomic_load_n(c, __ATOMIC_RELAXED);
    while (v > old && !__atomic_compare_exchange_n(c, &old, v, 1, __ATOMIC_RELAXED,
                                                   __ATOMIC_RELAXED))
        ;
}

/* fallocate [from, to) of f (whole pages) and raise f->reserved to `to`. A file system that
 * cannot reserve counts as reserved: it stays sparse, as it would have before. */
static int reserve_range(st_mfile_t *f, int64_t from, int64_t to)
{
    from &= ~(int64_t)4095;
    if (to > (int64_t)f->size)
        to = (int64_t)f->size;
    if (from < to && fallocate(f->fd, 0, from, to - from) != 0) {
        if (errno != EOPNOTSUPP && errno != ENOSYS) {
            LOG_E(ST_MOD, "fallocate %s: %s", f->path, strerror(errno));
            return errno == ENOSPC || errno == EDQUOT ? ST_EDISKFULL : ST_EIO;
        }
        to = (int64_t)f->size;
    }
    int64_t old = atomic_load(&f->reserved);
    while (to > old && !atomic_compare_exchange_weak(&f->reserved, &old, to))
        ;
    return ST_OK;
}

int st_cq_file_create(st_store_t *st, st_cq_t *cq, int64_t no, st_mfile_t **out)
{
    uint64_t fsz = st->cfg.mappedFileSizeConsumeQueue;
    if (cm_mkdirs(cq->dir) != 0) {
        LOG_E(ST_MOD, "mkdir %s: %s", cq->dir, strerror(errno));
        return errno == ENOSPC || errno == EDQUOT ? ST_EDISKFULL : ST_EIO;
    }
    int rc = st_mfile_open(cq->dir, no * (int64_t)fsz, fsz, ST_MFILE_SPARSE, out);
    /* sparse: only the first page is reserved now, the rest a step at a time as the queue is
     * written (st_cq_reserve) */
    if (rc == ST_OK && (rc = reserve_range(*out, 0, 4096)) != ST_OK) {
        unlink((*out)->path);
        st_mfile_close(*out);
        *out = NULL;
    }
    /* Units are appended 20 bytes at a time: without this, each first touch of a page makes
     * the kernel read ahead (zero-fill) a large folio, and with thousands of queues that
     * zeroing dominated the send path. */
    if (rc == ST_OK)
        madvise((*out)->base, fsz, MADV_RANDOM);
    /* the first unit's page: its write fault (page-cache page, the filesystem's page_mkwrite)
     * happens here rather than in the first put; the file is all zeros, so is the write */
    if (rc == ST_OK && (*out)->base[0] == 0)
        ((volatile uint8_t *)(*out)->base)[0] = 0;
    if (rc == ST_OK)
        stat_add(st->allocThrOn && pthread_equal(pthread_self(), st->allocThr)
                     ? &st->allocStats.createdByAllocator : &st->allocStats.createdOnCaller, 1);
    return rc;
}

/* the request list (under allocMu) */
static void list_unlink(st_store_t *st, st_cq_t *cq)
{
    if (cq->allocPrev)
        cq->allocPrev->allocNext = cq->allocNext;
    else
        st->allocHead = cq->allocNext;
    if (cq->allocNext)
        cq->allocNext->allocPrev = cq->allocPrev;
    else
        st->allocTail = cq->allocPrev;
    cq->allocNext = cq->allocPrev = NULL;
}

/* cq's request (fields set by the caller) goes to the end of the allocator's list. Under
 * allocMu, state NONE. */
static void enqueue(st_store_t *st, st_cq_t *cq)
{
    cq->allocNext = NULL;
    cq->allocPrev = st->allocTail;
    if (st->allocTail)
        st->allocTail->allocNext = cq;
    else
        st->allocHead = cq;
    st->allocTail = cq;
    atomic_store(&cq->allocState, ST_ALLOC_QUEUED);
    pthread_cond_signal(&st->allocCv);
}

static void *alloc_main(void *arg)
{
    st_store_t *st = arg;
    st_thread_background();
    pthread_mutex_lock(&st->allocMu);
    for (;;) {
        while (!st->allocStop && (!st->allocHead || st->allocPaused))
            pthread_cond_wait(&st->allocCv, &st->allocMu);
        if (st->allocStop)
            break;
        st_cq_t *cq = st->allocHead;
        list_unlink(st, cq);
        int64_t no = cq->allocNo;
        atomic_store(&cq->allocState, ST_ALLOC_BUSY);
        pthread_mutex_unlock(&st->allocMu);
        if (cq->allocKind == ST_ALLOC_RESERVE) {
            /* allocFile stays open while BUSY: st_cq_alloc_release_file waits for this */
            int rrc = reserve_range(cq->allocFile, cq->allocFrom, cq->allocTo);
            if (rrc == ST_OK)
                stat_add(&st->allocStats.reservedByAllocator, 1);
            pthread_mutex_lock(&st->allocMu);
            atomic_store(&cq->allocState, ST_ALLOC_NONE); /* a failure: the put retries, reports */
            pthread_cond_broadcast(&st->allocDoneCv);
            continue;
        }
        /* cq stays allocated while BUSY: st_cq_alloc_forget waits for this to end */
        st_mfile_t *f = NULL;
        int rc = st_cq_file_create(st, cq, no, &f);
        pthread_mutex_lock(&st->allocMu);
        if (rc == ST_OK) {
            cq->allocReady = f;
            atomic_store(&cq->allocState, ST_ALLOC_READY);
        } else {
            /* the put that needs it will try on its own thread and report the error */
            atomic_store(&cq->allocState, ST_ALLOC_NONE);
        }
        pthread_cond_broadcast(&st->allocDoneCv);
    }
    pthread_mutex_unlock(&st->allocMu);
    return NULL;
}

int st_cq_alloc_start(st_store_t *st)
{
    if (st->allocThrOn)
        return ST_OK;
    pthread_cond_init(&st->allocDoneCv, NULL);
    st->allocStop = 0;
    if (pthread_create(&st->allocThr, NULL, alloc_main, st) != 0) {
        pthread_cond_destroy(&st->allocDoneCv);
        return ST_EIO;
    }
    st->allocThrOn = 1;
    return ST_OK;
}

void st_cq_alloc_stop(st_store_t *st)
{
    if (!st->allocThrOn)
        return;
    pthread_mutex_lock(&st->allocMu);
    st->allocStop = 1;
    pthread_cond_broadcast(&st->allocCv);
    pthread_mutex_unlock(&st->allocMu);
    pthread_join(st->allocThr, NULL);
    st->allocThrOn = 0;
    while (st->allocHead) { /* not started: nobody will serve them now */
        st_cq_t *cq = st->allocHead;
        list_unlink(st, cq);
        atomic_store(&cq->allocState, ST_ALLOC_NONE);
    }
    pthread_cond_destroy(&st->allocDoneCv);
}

void st_cq_alloc_request(st_store_t *st, st_cq_t *cq, int64_t no)
{
    if (!st->allocThrOn || atomic_load(&cq->allocState) != ST_ALLOC_NONE)
        return;
    pthread_mutex_lock(&st->allocMu);
    cq->allocKind = ST_ALLOC_FILE;
    cq->allocNo = no;
    enqueue(st, cq);
    pthread_mutex_unlock(&st->allocMu);
}

/* A ready file nobody will use (under allocMu, state READY): delete it. Its name is not one of
 * cq's files: those are created only when no request for them is in flight. */
static void discard_ready(st_store_t *st, st_cq_t *cq)
{
    st_mfile_t *f = cq->allocReady;
    cq->allocReady = NULL;
    atomic_store(&cq->allocState, ST_ALLOC_NONE);
    if (f && !st_mfiles_get(&cq->files, cq->allocNo)) {
        unlink(f->path);
        if (cq->files.n == 0)
            rmdir(cq->dir); /* an empty queue directory would read as a damaged queue at open */
    }
    st_mfile_close(f);
    stat_add(&st->allocStats.discarded, 1);
}

int st_cq_alloc_take(st_store_t *st, st_cq_t *cq, int64_t no, st_mfile_t **out)
{
    uint64_t t0 = 0;

    pthread_mutex_lock(&st->allocMu);
    for (;;) {
        int s = atomic_load(&cq->allocState);
        if (s == ST_ALLOC_READY && cq->allocNo == no) {
            *out = cq->allocReady;
            cq->allocReady = NULL;
            atomic_store(&cq->allocState, ST_ALLOC_NONE);
            pthread_mutex_unlock(&st->allocMu);
            if (t0)
                stat_max(&st->allocStats.waitMaxNs, st_now_ns() - t0);
            else
                stat_add(&st->allocStats.readyTaken, 1);
            return ST_OK;
        }
        if (s == ST_ALLOC_READY) {
            discard_ready(st, cq); /* made for an offset the queue no longer heads for */
            continue;
        }
        if (s != ST_ALLOC_BUSY || cq->allocKind != ST_ALLOC_FILE)
            break; /* (a step being reserved in the old file does not concern the new one) */
        /* being made right now (the same name: it cannot be made here too); that ends
         * without us, after one file's creation */
        if (!t0) {
            t0 = st_now_ns();
            stat_add(&st->allocStats.waits, 1);
        }
        pthread_cond_wait(&st->allocDoneCv, &st->allocMu);
    }
    /* Not ready and not started (or no request): waiting would cost this put the files queued
     * before it, so take the request back and make the file here, as before the allocator (one
     * file's creation on the loop; counted). A failure is reported by this put. */
    if (atomic_load(&cq->allocState) == ST_ALLOC_QUEUED) { /* a file, or a step of the old one */
        list_unlink(st, cq);
        atomic_store(&cq->allocState, ST_ALLOC_NONE);
    }
    pthread_mutex_unlock(&st->allocMu);
    if (t0)
        stat_max(&st->allocStats.waitMaxNs, st_now_ns() - t0);
    return st_cq_file_create(st, cq, no, out);
}

void st_cq_alloc_forget(st_store_t *st, st_cq_t *cq)
{
    if (atomic_load(&cq->allocState) == ST_ALLOC_NONE)
        return;
    pthread_mutex_lock(&st->allocMu);
    while (atomic_load(&cq->allocState) == ST_ALLOC_BUSY)
        pthread_cond_wait(&st->allocDoneCv, &st->allocMu);
    int s = atomic_load(&cq->allocState);
    if (s == ST_ALLOC_QUEUED) {
        list_unlink(st, cq);
        atomic_store(&cq->allocState, ST_ALLOC_NONE);
    } else if (s == ST_ALLOC_READY) {
        discard_ready(st, cq);
    }
    pthread_mutex_unlock(&st->allocMu);
}

int st_cq_reserve(st_store_t *st, st_cq_t *cq, st_mfile_t *f, int64_t end)
{
    int64_t r = atomic_load(&f->reserved);
    if (end <= r) {
        /* half way through the step: have the next one reserved ahead (O(1), no syscall) */
        if (r < (int64_t)f->size && end + ST_CQ_RESERVE_STEP / 2 > r && st->allocThrOn &&
            atomic_load(&cq->allocState) == ST_ALLOC_NONE) {
            pthread_mutex_lock(&st->allocMu);
            cq->allocKind = ST_ALLOC_RESERVE;
            cq->allocFile = f;
            cq->allocFrom = r;
            cq->allocTo = r + ST_CQ_RESERVE_STEP;
            enqueue(st, cq);
            pthread_mutex_unlock(&st->allocMu);
        }
        return ST_OK;
    }
    /* not reserved yet: a step being reserved for this file is waited for (one fallocate), a
     * queued one taken back and done here, from the page the write starts in (what lies below
     * was written before, so its blocks exist) */
    st_cq_alloc_release_file(st, cq, f);
    if (end <= atomic_load(&f->reserved))
        return ST_OK;
    int rc = reserve_range(f, end - ST_CQ_UNIT_SIZE, end - ST_CQ_UNIT_SIZE + ST_CQ_RESERVE_STEP);
    if (rc == ST_OK)
        stat_add(&st->allocStats.reservedOnCaller, 1);
    return rc;
}

void st_cq_alloc_release_file(st_store_t *st, st_cq_t *cq, st_mfile_t *f)
{
    if (atomic_load(&cq->allocState) == ST_ALLOC_NONE)
        return;
    pthread_mutex_lock(&st->allocMu);
    while (atomic_load(&cq->allocState) == ST_ALLOC_BUSY && cq->allocKind == ST_ALLOC_RESERVE &&
           cq->allocFile == f)
        pthread_cond_wait(&st->allocDoneCv, &st->allocMu);
    if (atomic_load(&cq->allocState) == ST_ALLOC_QUEUED && cq->allocKind == ST_ALLOC_RESERVE &&
        cq->allocFile == f) {
        list_unlink(st, cq);
        atomic_store(&cq->allocState, ST_ALLOC_NONE);
    }
    pthread_mutex_unlock(&st->allocMu);
}

int st_cq_preallocate(st_store_t *st, const char *topic, int nQueues)
{
    size_t tlen = strlen(topic);
    uint64_t fsz = st->cfg.mappedFileSizeConsumeQueue;
    if (!st->allocThrOn || !st->writable || st->cfg.slave)
        return ST_OK;
    if (nQueues > ALLOC_ANNOUNCE_MAX)
        nQueues = ALLOC_ANNOUNCE_MAX;
    for (int q = 0; q < nQueues; q++) {
        st_cq_t *cq;
        int rc = st_cq_get_or_create(st, topic, tlen, q, &cq);
        if (rc != ST_OK)
            return rc;
        int64_t no = cq->maxUnits * ST_CQ_UNIT_SIZE / (int64_t)fsz;
        if (!st_mfiles_get(&cq->files, no))
            st_cq_alloc_request(st, cq, no);
    }
    return ST_OK;
}

void st_cq_alloc_stats(st_store_t *st, st_cq_alloc_stats_t *out)
{
    uint64_t *src = (uint64_t *)&st->allocStats, *dst = (uint64_t *)out;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

void st_cq_alloc_test_pause(st_store_t *st, int paused)
{
    pthread_mutex_lock(&st->allocMu);
    st->allocPaused = paused;
    pthread_cond_broadcast(&st->allocCv);
    pthread_mutex_unlock(&st->allocMu);
}
