/* store_int.h: private to src/store. The structures shared by the store's .c files:
 * mapped files, the commit log, consume queues and the store itself. */
#ifndef LOULAN_STORE_INT_H
#define LOULAN_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "store/store.h"

#define ST_MOD "store"

/* One memory-mapped file of fixed size, named by its 20-digit start offset. */
typedef struct st_mfile {
    int64_t start;
    uint64_t size;
    uint8_t *base;
    int fd;
    char *path;
    atomic_int dirty;               /* consume-queue files: on the store's dirty list */
    _Atomic int64_t wroteEnd;       /* consume queues: end of what the loop wrote (file offset) */
    int64_t syncedEnd;              /* ... of what the flush thread msynced (its own) */
    _Atomic int64_t reserved;       /* bytes from 0 known to have their blocks allocated (a
                                     * write below it cannot fault on a full disk); consume
                                     * queues raise it, loop or allocator thread */
    struct st_mfile *next_dirty;
} st_mfile_t;

/* A growable array of files indexed by file number - firstNo (NULL slot = missing file). */
typedef struct st_mfiles {
    st_mfile_t **v;
    size_t n, cap;
    int64_t firstNo;
} st_mfiles_t;

typedef struct st_cq {
    struct st_cq *hnext;
    uint32_t hash;
    char *topic;
    int32_t queueId;
    char *dir;
    st_mfiles_t files;
    int64_t minUnits;               /* min queue offset */
    int64_t maxUnits;               /* next queue offset to write */
    int64_t maxPhysicOffset;        /* phy + size of the last unit */
    int damaged;                    /* open found it damaged: rebuilt from the commit log */
    int64_t offsetHint;             /* damaged: offsets it had reached (if retention took all
                                     * its records, the rebuilt queue stays empty there) */
    int damageLogged;               /* a pull met a bad unit (logged once) */
    int64_t checkedQ, checkedEnd;   /* the last unit a pull checked, and where its record ends
                                     * (0: none); loop thread, see run_t in store.c */
    /* cqalloc.c: at most one file request in flight per queue. allocState moves NONE ->
     * QUEUED (loop) -> BUSY (allocator) -> READY (allocator) -> NONE (loop takes the file);
     * the loop may also take a QUEUED request back (QUEUED -> NONE). The other fields are
     * guarded by st->allocMu. */
    atomic_int allocState;
    int allocKind;                  /* ST_ALLOC_FILE: make file allocNo; ST_ALLOC_RESERVE:
                                     * fallocate [allocFrom, allocTo) of allocFile */
    st_mfile_t *allocFile;
    int64_t allocFrom, allocTo;
    int64_t allocNo;                /* file number requested / ready */
    st_mfile_t *allocReady;         /* READY: the created and mapped file */
    struct st_cq *allocNext, *allocPrev; /* QUEUED: on st->allocHead's list */
} st_cq_t;

enum { ST_ALLOC_NONE, ST_ALLOC_QUEUED, ST_ALLOC_BUSY, ST_ALLOC_READY };
enum { ST_ALLOC_FILE, ST_ALLOC_RESERVE };

struct st_store {
    st_config_t cfg;
    char *root, *clDir, *cqDir, *abortPath;
    int lockFd;

    st_mfiles_t cl;                 /* commit-log files (contiguous, no NULL slots) */
    _Atomic int64_t wrote;          /* commit-log max offset (next write position) */
    _Atomic int64_t flushed;        /* commit log durable up to here */
    int64_t lastStoreTs;
    int writable;

    st_cq_t **buckets;
    size_t nbuckets, ncq;
    st_mfile_t **grave;             /* unlinked, unmapped a grace period later (st_grave_reap) */
    uint64_t *graveAt;              /* cm_mono_ms() when each went to the grave */
    size_t ngrave, gravecap;

    pthread_mutex_t mu;             /* guards cl.v array, dirty list, stop */
    pthread_cond_t cv;
    st_mfile_t *dirtyHead;
    int stop, thrStarted;
    pthread_t thr;
    pthread_t warmThr;              /* pre-faults commit-log pages ahead of the writer */
    uint64_t physRam;

    /* flush.c: group commit and checkpoint */
    _Atomic int64_t lastPutTs;      /* store time of the newest message fully written (CQ too) */
    int flushWanted;                /* a SYNC_FLUSH put is waiting (guarded by mu) */
    atomic_int flushFailing;        /* the last commit-log msync failed */
    int testFlushDelayMs;           /* LOULAN_TEST_FLUSH_DELAY_MS: slow disk, for tests only */
    const char *testFailFlushPath;  /* LOULAN_TEST_FAIL_FLUSH_FILE: msync "fails" while it exists */
    int ckptFd;
    _Atomic int64_t ckptPhysic, ckptLogics, ckptIndex;
    pthread_mutex_t ckptMu;         /* one checkpoint write at a time (cq flush thread, close) */
    pthread_cond_t cqCv;            /* the cq flush thread sleeps on it (under mu) */
    pthread_t cqThr;                /* msyncs consume queues and the index, apart from the group
                                     * commit: their msyncs take seconds with thousands of queues */

    /* index.c */
    struct st_ifile **idx;          /* index files, oldest first */
    size_t nidx;
    uint64_t idxFailedAt;           /* cm_mono_ms() of the last failed file creation */
    pthread_mutex_t idxMu;          /* guards the index files: the writer thread holds it while
                                     * it applies a batch, queries and the flush thread take it */
    /* the index writer thread: the loop only queues (hash, phy, time) ops in a ring; the thread
     * writes them into the mapped files, so no index page is touched on the loop */
    struct st_idx_op *idxRing;
    uint32_t idxRingMask;
    _Atomic uint64_t idxHead;       /* ops queued (loop thread) */
    _Atomic uint64_t idxTail;       /* ops applied (writer thread) */
    atomic_int idxSleeping, idxStop;
    int idxThrOn;
    pthread_t idxThr;
    pthread_mutex_t idxWakeMu;
    pthread_cond_t idxWakeCv;
    int64_t idxLastPhy;             /* loop: the newest record handed to the index */
    uint64_t idxFullWaits;          /* times the loop found the ring full and waited */

    /* cqalloc.c: the consume-queue file allocator thread (open + fallocate + mmap off the loop) */
    pthread_mutex_t allocMu;
    pthread_cond_t allocCv;         /* the allocator sleeps on it */
    pthread_cond_t allocDoneCv;     /* a loop waiting for its file being made sleeps on it */
    st_cq_t *allocHead, *allocTail; /* queued requests, served from the head */
    int allocStop, allocThrOn, allocPaused;
    pthread_t allocThr;
    st_cq_alloc_stats_t allocStats; /* relaxed atomics: read from any thread */

    /* clean.c: retention and disk space */
    atomic_int diskFull;            /* usage over diskSpaceWarningLevelRatio: puts refused */
    int manualCleanRuns;            /* runs left that delete regardless of the hour */

    /* ha.c: a slave's commit log is dispatched up to here (the rest is a record cut short) */
    int64_t haDispatched;

    /* hist.c: where puts and flushes spend their time */
    st_phase_stats_t phases;

    /* quorum.c: readers see the commit log up to here (INT64_MAX: all of it). A DLedger group
     * sets it to the end of what a majority holds, so nobody reads an uncommitted record. */
    _Atomic int64_t visible;
};

/* quorum.c: the first queue offset whose record is not visible (cq->maxUnits when all are). */
int64_t st_cq_visible_max(const st_store_t *st, const st_cq_t *cq);


/* record.c: encode with the properties given as p1 [+ '\x02'] + p2; dst must hold
 * st_record_size(...) bytes; the other r fields (totalSize, magic, properties) are ignored. */
size_t st_rec_encode_parts(uint8_t *dst, const st_record_t *r, const char *p1, size_t l1,
                           int sep, const char *p2, size_t l2);

/* mfile.c */
/* create: 1 = create (fully allocated) if missing; 0 = must exist with exactly `size` bytes;
 * ST_MFILE_GROW = must exist, a shorter file is extended with zeros (the last file of a log). */
#define ST_MFILE_GROW 2
/* ST_MFILE_SPARSE = create if missing without allocating blocks (consume queues: the caller
 * reserves ranges with fallocate before it writes them) */
#define ST_MFILE_SPARSE 3
int st_mfile_open(const char *dir, int64_t start, uint64_t size, int create, st_mfile_t **out);
void st_mfile_close(st_mfile_t *f);
int st_mfile_sync(st_mfile_t *f, uint64_t from, uint64_t to);
void st_mfile_advise_writing(st_mfile_t *f, int writing);
/* Zero [from, size) of the file (keeps the blocks allocated). */
void st_mfile_zero_tail(st_mfile_t *f, uint64_t from);
/* Sorted start offsets of the files in dir named by exactly 20 digits (*out malloc'ed). */
int st_list_numbered(const char *dir, int64_t **out, size_t *n);
st_mfile_t *st_mfiles_get(const st_mfiles_t *fs, int64_t no);
int st_mfiles_set(st_mfiles_t *fs, int64_t no, st_mfile_t *f);
void st_mfiles_free(st_mfiles_t *fs);
/* Remove the first slot (file or NULL) and return it; the caller graves it. */
st_mfile_t *st_mfiles_drop_first(st_mfiles_t *fs);
/* Unlink now; the mapping stays until st_grave_reap finds it older than the grace period
 * (slices handed to the network may still point into it) and not on the dirty list. */
void st_grave_add(st_store_t *st, st_mfile_t *f);
void st_grave_reap(st_store_t *st, uint64_t graceMs);
int st_rm_rf(const char *path);

/* cq.c */
#define ST_CQ_FILLER_SIZE 0x7FFFFFFF
st_cq_t *st_cq_find(st_store_t *st, const char *topic, size_t tlen, int32_t qid);
int st_cq_get_or_create(st_store_t *st, const char *topic, size_t tlen, int32_t qid,
                        st_cq_t **out);
/* Write the unit for queue offset q (idempotent: q below the write position is ignored). */
int st_cq_put(st_store_t *st, st_cq_t *cq, int64_t q, int64_t phy, int32_t size, int64_t tags);
/* Read unit q: ST_ENOENT if its file is missing or q is outside [min, max). */
int st_cq_unit(const st_store_t *st, const st_cq_t *cq, int64_t q, int64_t *phy, int32_t *size,
               int64_t *tags);
/* Load every queue under consumequeue/; a damaged one is logged and marked (cq->damaged,
 * no files mapped) for st_cq_rebuild. Fails only on system errors. */
int st_cq_load_all(st_store_t *st);
/* An empty queue (no files) whose next offset is q: fillers up to q in q's file. */
int st_cq_start_at(st_store_t *st, st_cq_t *cq, int64_t q);
/* Log what is wrong (printf-style; say which file and offset) once and mark cq damaged. */
void st_cq_mark_damaged(st_cq_t *cq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void st_cq_truncate(st_store_t *st, st_cq_t *cq, int64_t phyEnd);
void st_cq_correct_min(st_store_t *st, st_cq_t *cq, int64_t minPhy);
void st_cq_remove(st_store_t *st, st_cq_t *cq);       /* unhash, delete files, free */
void st_cq_free_all(st_store_t *st);
/* msync dirty consume-queue files: those with flushConsumeQueueLeastPages written since their
 * last msync, or all of every one (thorough) */
int st_cq_flush_dirty(st_store_t *st, int thorough);
int st_cq_flush_all(st_store_t *st);

static inline uint64_t st_cl_fsize(const st_store_t *st) { return st->cfg.mappedFileSizeCommitLog; }
static inline st_mfile_t *st_cl_file_at(const st_store_t *st, int64_t phy)
{
    return phy < 0 ? NULL : st_mfiles_get(&st->cl, phy / (int64_t)st_cl_fsize(st));
}

/* store.c: NULL when unit q of cq (phy, size) points at its own record (filled in *ptr,
 * *len), else what is wrong with it ("outside the commit log", ...) for a log line. */
const char *st_cl_unit_record(st_store_t *st, const st_cq_t *cq, int64_t q, int64_t phy,
                              int32_t size, const uint8_t **ptr, uint32_t *len);

/* cqrepair.c: at open, after the commit log's end is known. st_cq_check marks a queue damaged
 * (and logs the file, offset and what is wrong) when its units are out of order, point outside
 * [minPhy, end) or at records that are not theirs (checked: the first and last unit of every
 * file). st_cq_rebuild rebuilds every damaged queue from the records in [minPhy, end) in one
 * pass over the commit log; its memory is the queues' mapped files only. */
void st_cq_check(st_store_t *st, st_cq_t *cq, int64_t minPhy, int64_t end);
int st_cq_rebuild(st_store_t *st, int64_t minPhy, int64_t end);

/* store.c: a record's tagsCode (TAGS hash, or delivery time in the schedule topic) and
 * whether it gets a consume-queue unit (not a half or rolled-back transaction). */
int64_t st_rec_tags_code(const st_store_t *st, const st_record_t *r);
int st_rec_dispatched(const st_record_t *r);

/* store.c, shared with ha.c */
int st_cl_new_file(st_store_t *st, int64_t start, st_mfile_t **out);
int st_dispatch(st_store_t *st, int64_t from, int64_t to, int64_t *end, int *bad, int *count);

/* flush.c */
int st_ckpt_open(st_store_t *st);
void st_ckpt_close(st_store_t *st);
int64_t st_ckpt_min_timestamp(const st_store_t *st);
int st_flush_threads_start(st_store_t *st);
void st_flush_threads_stop(st_store_t *st);

/* index.c */
typedef struct st_ifile st_ifile_t;
int st_index_load(st_store_t *st);
void st_index_truncate(st_store_t *st, int64_t end);
void st_index_record(st_store_t *st, const st_record_t *r, int64_t phy);
void st_index_flush(st_store_t *st);
int st_index_delete_below(st_store_t *st, int64_t minPhy);
void st_index_close(st_store_t *st);
/* Start / stop (after applying what is queued) the index writer thread. Without it (not
 * started, or it could not start) st_index_record writes on the caller's thread. */
int st_index_start(st_store_t *st);
void st_index_stop(st_store_t *st);

/* flush.c: lower the calling thread's scheduling priority (nice 10): for the store's
 * background threads (index writer, consume-queue flush, file allocator), never the loop's. */
void st_thread_background(void);

/* cqalloc.c. Start / stop the allocator thread (stop: a request not started is dropped; ready
 * files stay on their queues until st_cq_alloc_forget). Loop thread. */
int st_cq_alloc_start(st_store_t *st);
void st_cq_alloc_stop(st_store_t *st);
/* Ask for file `no` of cq ahead of need (no-op without the thread or if a request is in
 * flight). Loop thread; O(1), no system call. */
void st_cq_alloc_request(st_store_t *st, st_cq_t *cq, int64_t no);
/* File `no` of cq, which is not in cq->files: the ready one; or, when the allocator is making it
 * at this moment, that one after a wait (one creation); else made on the caller's thread
 * (counted; a request not started is taken back). Loop thread. */
int st_cq_alloc_take(st_store_t *st, st_cq_t *cq, int64_t no, st_mfile_t **out);
/* Cancel cq's request, waiting for one under way, and delete a ready file nobody used. Loop
 * thread, before cq is freed or its files are replaced. */
void st_cq_alloc_forget(st_store_t *st, st_cq_t *cq);
/* Make sure [0, end) of f, cq's file, is reserved before a unit is written below end: a step
 * is requested ahead (O(1)); if the allocator has not done it yet, it is done here (one
 * fallocate; ST_EDISKFULL when the disk is full). Loop thread. */
int st_cq_reserve(st_store_t *st, st_cq_t *cq, st_mfile_t *f, int64_t end);
/* f of cq is about to be closed or deleted: a request on it is cancelled (waiting for one under
 * way). Loop thread. */
void st_cq_alloc_release_file(st_store_t *st, st_cq_t *cq, st_mfile_t *f);
/* Create file `no` of cq (mkdir -p its directory first) on the caller's thread. */
int st_cq_file_create(st_store_t *st, st_cq_t *cq, int64_t no, st_mfile_t **out);

/* cq.c: make sure the file that unit q falls in exists (so that creating it cannot fail
 * after the commit-log record was written) */
int st_cq_prepare(st_store_t *st, st_cq_t *cq, int64_t q);
/* clean.c: delete files of cq whose last unit points below minPhy (never the last file) */
int st_cq_delete_below(st_store_t *st, st_cq_t *cq, int64_t minPhy);

#endif
