/* store: RocketMQ 4.x compatible message storage.
 * A commit log of memory-mapped files (20-digit names = start offset) holding v1 records
 * (magic 0xDAA320A7), one consume queue per (topic, queueId) of 20-byte units under
 * <root>/consumequeue/<TOPIC>/<QID>/, an `abort` marker and a flock'ed `lock` file.
 * The store knows nothing of the network.
 *
 * Threads: every st_* function taking an st_store_t is called from ONE thread (the broker's
 * loop thread), st_query_index, st_index_settle and the stats readers excepted (see there).
 * The store owns its background threads: the commit-log flush (the group commit in
 * SYNC_FLUSH, every flushIntervalCommitLog ms in ASYNC_FLUSH), the page warmer ahead of the
 * commit-log writer, and, at nice 10, the consume-queue flush (with the checkpoint and the
 * index msync), the index writer (flush.c, index.c) and the consume-queue file allocator
 * (cqalloc.c). None of them holds anything the loop waits for, except where a function's
 * comment says it waits (bounded). The pure codec
 * functions (st_record_*, st_props_get, st_batch_*, st_msg_id_*) are thread-safe.
 * Dispatch to consume queues happens synchronously inside st_put: when st_put returns the
 * message is visible to st_get. */
#ifndef LOULAN_STORE_H
#define LOULAN_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/common.h"

/* ---- errors ------------------------------------------------------------------------------ */
enum {
    ST_OK = 0,
    ST_ENOMEM = -1,
    ST_EIO = -2,            /* file create/map/sync failed (RocketMQ CREATE_MAPEDFILE_FAILED) */
    ST_EINVAL = -3,         /* bad argument or config value */
    ST_EMSG_ILLEGAL = -4,   /* body > maxMessageSize, topic empty or > 127 bytes, bad batch */
    ST_EPROPS_TOO_LONG = -5,/* properties > 32767 bytes (PROPERTIES_SIZE_EXCEEDED) */
    ST_ELOCKED = -6,        /* another process holds <root>/lock */
    ST_ECORRUPT = -7,       /* decode: bad magic, impossible length, size mismatch */
    ST_ECRC = -8,           /* decode: body CRC mismatch */
    ST_ETRUNC = -9,         /* decode: buffer shorter than the record claims */
    ST_ENOENT = -10,        /* no such record / queue / property */
    ST_EBLANK = -11,        /* decode: end-of-file blank record (magic 0xCBD43194) */
    ST_ENOTWRITABLE = -12,  /* store closed or in error state (SERVICE_NOT_AVAILABLE) */
    ST_EDISKFULL = -13,     /* disk usage over diskSpaceWarningLevelRatio, or no space for a
                             * new file: nothing written; clears by itself when space returns */
    ST_ENOFILES = -16,      /* a file could not be opened: the process is out of file descriptors */
    ST_ESLAVE = -15,        /* a slave's store: only replication (st_ha_append) writes */
    ST_EFLUSH = -14,        /* the last commit-log flush (msync) failed: nothing written; clears
                             * by itself once a flush succeeds again */
};
const char *st_strerror(int err);

/* ---- constants --------------------------------------------------------------------------- */
#define ST_MSG_MAGIC 0xDAA320A7u
#define ST_BLANK_MAGIC 0xCBD43194u
#define ST_CQ_UNIT_SIZE 20
#define ST_MAX_TOPIC_LEN 127
#define ST_MAX_PROPS_LEN 32767
#define ST_MSG_ID_LEN 32            /* IPv4 offsetMsgId, upper-case hex */

/* sysFlag bits (remoting spec §4.3) */
#define ST_SYSFLAG_COMPRESSED 0x1
#define ST_SYSFLAG_MULTI_TAGS 0x2
#define ST_SYSFLAG_TX_MASK 0xC
#define ST_SYSFLAG_TX_NOT 0x0
#define ST_SYSFLAG_TX_PREPARED 0x4
#define ST_SYSFLAG_TX_COMMIT 0x8
#define ST_SYSFLAG_TX_ROLLBACK 0xC
#define ST_SYSFLAG_BORNHOST_V6 0x10
#define ST_SYSFLAG_STOREHOST_V6 0x20

#define ST_PROP_NAME_SEP '\x01'
#define ST_PROP_SEP '\x02'

/* ---- configuration ----------------------------------------------------------------------- */
typedef enum { ST_ASYNC_FLUSH = 0, ST_SYNC_FLUSH = 1 } st_flush_type_t;

typedef struct st_config {
    const char *storePathRootDir;       /* required */
    const char *storePathCommitLog;     /* NULL -> <root>/commitlog (one directory only) */
    uint64_t mappedFileSizeCommitLog;   /* default 1 GiB */
    uint64_t mappedFileSizeConsumeQueue;/* default 300000*20; rounded up to a multiple of 20 */
    uint32_t maxMessageSize;            /* default 4 MiB: body limit; whole batch body limit */
    st_flush_type_t flushDiskType;      /* default ASYNC */
    int flushIntervalCommitLog;         /* ms, default 500 */
    int flushIntervalConsumeQueue;      /* ms, default 1000 */
    /* A consume-queue file is msynced when at least this many 4 KiB pages were written since
     * its last msync (2), and every file every flushConsumeQueueThoroughInterval ms (60000),
     * which is also when the checkpoint's consume-queue time moves: RocketMQ's rule. A queue
     * written 10 times a second fills a page in 20 s; msynced every second, each of its pages
     * faulted again on the loop's next write. */
    int flushConsumeQueueLeastPages;
    int flushConsumeQueueThoroughInterval;
    int checkCRCOnRecover;              /* default 1 */
    int flushCommitLogLeastPages;       /* ASYNC: flush when >= this many 4 KiB pages (4) */
    int flushCommitLogThoroughInterval; /* ASYNC: flush everything at least this often (10000 ms) */
    /* SYNC_FLUSH: called on the flush thread each time st_flushed_offset() advances (the
     * broker turns it into a uv_async_send). NULL = none. */
    void (*onFlushed)(void *arg);
    void *onFlushedArg;
    /* Retention (spec §4). Not copied: deleteWhen must outlive the store. */
    int fileReservedTime;               /* hours a commit-log file is kept (72) */
    const char *deleteWhen;             /* hours of the day that may delete, "04" or "04;16" */
    int diskMaxUsedSpaceRatio;          /* % disk use that deletes expired files any hour (75) */
    int cleanFileForciblyEnable;        /* over diskSpaceCleanForciblyRatio delete unexpired (1) */
    int diskSpaceCleanForciblyRatio;    /* 85 */
    int diskSpaceWarningLevelRatio;     /* over this, puts fail with ST_EDISKFULL (90) */
    /* Index (spec §1.10): KEYS tokens and UNIQ_KEY, for st_query_by_key. */
    int messageIndexEnable;             /* 1 */
    /* 0 (RocketMQ's default): the index is msynced every 10 s and a power loss may lose its
     * newest keys (a kill -9 loses nothing: the page cache keeps them). 1: msynced with the
     * consume queues, and the checkpoint counts it, so recovery re-indexes what was not on
     * disk. Rewriting its random slot pages after each msync faulted them again: once a second
     * that was a quarter of the broker's CPU at 10k msg/s (issue 17). */
    int messageIndexSafe;
    int32_t maxHashSlotNum;             /* 5000000 */
    int32_t maxIndexNum;                /* 20000000 entries a file */
    int slave;                          /* brokerRole=SLAVE: st_put refuses (ST_ESLAVE) */
    /* Broker address written as STOREHOSTADDRESS and used in offsetMsgId. IPv4 as a host-order
     * integer: 192.168.1.10 == 0xC0A8010A. */
    uint32_t storeHostIp;
    int32_t storeHostPort;              /* listenPort, default 10911 */
    /* Pull transfer caps (spec §2.5). */
    uint32_t maxTransferBytesOnMessageInMemory; /* 256 KiB */
    uint32_t maxTransferCountOnMessageInMemory; /* 32 */
    uint32_t maxTransferBytesOnMessageInDisk;   /* 64 KiB */
    uint32_t maxTransferCountOnMessageInDisk;   /* 8 */
    int accessMessageInMemoryMaxRatio;          /* 40 (% of physical RAM) */
    /* Delay levels in ms (level 1 = [0]); used for SCHEDULE_TOPIC_XXXX tagsCode = store time +
     * delay. NULL -> RocketMQ's default "1s 5s 10s 30s 1m 2m ... 2h". Not copied: must outlive
     * the store. */
    const int64_t *delayLevelMs;
    int delayLevelCount;
} st_config_t;

/* Fill every field with RocketMQ's defaults (storePathRootDir = NULL). */
void st_config_default(st_config_t *cfg);

typedef struct st_store st_store_t;

/* Open (creating if missing) the store under cfg->storePathRootDir. Takes the `lock` file
 * (ST_ELOCKED if another process has it), loads commit-log and consume-queue files (a
 * commit-log file whose size differs from the configured one -> ST_ECORRUPT), recovers:
 * validates records (magic/size/CRC) from the checkpoint's file, zeroes the torn tail, drops
 * consume-queue units beyond the valid end and re-dispatches missing ones. A damaged consume
 * queue (a file of the wrong size, missing or misnamed; units out of order, past the log, or
 * not pointing at their own records, checked in the last three files and at both ends of
 * every file) is logged with file and offset and rebuilt from the commit log in one pass;
 * if retention took all its records it stays empty at the offset it had reached. Then creates
 * `abort` and starts the flush thread. cfg is copied (strings too) except delayLevelMs. */
int st_store_open(const st_config_t *cfg, st_store_t **out);

/* Stop the flush thread, flush commit log and consume queues, unmap everything, remove `abort`,
 * release the lock. NULL is a no-op. All slices handed out become invalid. */
void st_store_close(st_store_t *st);

/* Flush commit log and consume queues to disk now (msync). */
int st_store_flush(st_store_t *st);
/* SYNC_FLUSH group commit: st_put only wakes the flush thread; a send is durable once
 * st_flushed_offset() >= res.phyOffset + res.size. Any thread. */
void st_flush_kick(st_store_t *st);
int64_t st_flushed_offset(st_store_t *st);
/* 1 while commit-log flushes fail (I/O error): puts are refused with ST_EFLUSH. Any thread. */
int st_flush_failing(st_store_t *st);

/* ---- latency histograms (hist.c) ---------------------------------------------------------- */
/* A log-bucketed histogram of durations in nanoseconds (HdrHistogram's layout: exact below 64,
 * then 32 buckets per power of two, i.e. within 3 %, up to ~68 s; longer counts as the last).
 * Adding is O(1), allocates nothing and is safe from any thread (relaxed atomics); readers on
 * another thread see each counter whole, the set of counters only roughly at one instant. */
#define ST_HIST_BUCKETS (64 + 32 * 31)
typedef struct st_hist {
    uint64_t count, sumNs, maxNs;
    uint64_t b[ST_HIST_BUCKETS];
} st_hist_t;
void st_hist_add(st_hist_t *h, uint64_t ns);
/* The smallest bucket bound at or below which a fraction q (0..1) of the values lie (ns; the
 * maximum for q >= 1; 0 when empty). */
uint64_t st_hist_quantile(const st_hist_t *h, double q);
/* Upper bound (ns) of bucket i and the bucket of a value, for exporters that print buckets. */
uint64_t st_hist_bucket_upper(int i);
int st_hist_bucket_of(uint64_t ns);
static inline uint64_t st_hist_count(const st_hist_t *h) { return __atomic_load_n(&h->count, __ATOMIC_RELAXED); }
/* CLOCK_MONOTONIC in ns (vDSO: tens of ns). */
uint64_t st_now_ns(void);

/* Where the store spends its time, for the broker's runtime stats and /metrics. The loop
 * thread's phases of each put: append (reserve + encode into the commit log), cq (consume-queue
 * unit, with a file created or first touched) and index (message index entries); the flush
 * thread's msyncs: commit log, consume queues, index. */
typedef struct st_phase_stats {
    st_hist_t append, cq, index, flushCl, flushCq, flushIndex;
} st_phase_stats_t;
enum { ST_PHASE_APPEND, ST_PHASE_CQ, ST_PHASE_INDEX, ST_PHASE_FLUSH_CL, ST_PHASE_FLUSH_CQ, ST_PHASE_FLUSH_INDEX,
       ST_PHASE_N };
/* The consume-queue file allocator (cqalloc.c): files are created on its thread ahead of need
 * (when a queue's current file is half full, or for a new queue announced by
 * st_cq_preallocate), so a put only swaps in a ready mapping. A put whose file is not ready makes
 * it itself (as before; no waiting behind other queues' files), unless the allocator is making
 * that very file, which it then waits for (one creation). */
typedef struct st_cq_alloc_stats {
    uint64_t createdByAllocator;    /* files created on the allocator thread */
    uint64_t createdOnCaller;       /* files created on the putting (loop) thread */
    uint64_t readyTaken;            /* a put found its file ready */
    uint64_t waits;                 /* a put waited for its file being made by the allocator */
    uint64_t waitMaxNs;             /* longest such wait */
    uint64_t discarded;             /* ready files nobody used (deleted) */
    uint64_t reservedByAllocator;   /* reserve steps (fallocate) done ahead on its thread */
    uint64_t reservedOnCaller;      /* ... done by a put that found its step not reserved */
} st_cq_alloc_stats_t;
/* Consume-queue files are reserved (fallocate) in steps of this many bytes, the next step
 * requested from the allocator when the writer is half way through the current one, so that a
 * queue written little costs little disk (a whole 6 MB file each did: 24 GB for 1,024 topics of
 * 4 queues) and no write through the mapping can fault on a full disk. */
#define ST_CQ_RESERVE_STEP (64 * 1024)
/* A snapshot of the counters. Any thread. */
void st_cq_alloc_stats(st_store_t *st, st_cq_alloc_stats_t *out);
/* Have the allocator create the first file of queues 0 .. nQueues-1 of topic (at most 64) that
 * have none yet, in the background. Call it when a topic is created; loop thread, no system
 * call. Returns ST_EMSG_ILLEGAL for a topic that cannot be a directory name. */
int st_cq_preallocate(st_store_t *st, const char *topic, int nQueues);
/* Tests: hold the allocator (paused = 1) before its next file, or let it go on. */
void st_cq_alloc_test_pause(st_store_t *st, int paused);

/* The store's histograms (live: read them, do not write). Any thread. */
const st_phase_stats_t *st_phase_stats(const st_store_t *st);
/* "append", "cq", "index", "flush_commitlog", "flush_consumequeue", "flush_index" and the
 * histogram of phase i of s. */
const char *st_phase_name(int i);
const st_hist_t *st_phase_hist(const st_phase_stats_t *s, int i);

/* ---- retention and disk space (clean.c) --------------------------------------------------- */
typedef struct st_clean_report {
    int usedPct;                /* commit-log partition use, %, -1 if unknown */
    int diskFull;               /* puts are refused (usage over diskSpaceWarningLevelRatio) */
    int filesDeleted;           /* commit-log files deleted by this run */
    int64_t minPhyOffset;       /* commit-log min offset after the run */
} st_clean_report_t;

/* One retention pass (RocketMQ runs it every 10 s): measure the disk, set or clear the
 * disk-full state, and when the hour is in deleteWhen, the disk is over diskMaxUsedSpaceRatio,
 * or a manual clean is pending, delete expired commit-log files oldest first (at most 10, never
 * the current one; over diskSpaceCleanForciblyRatio also unexpired ones), then the consume-queue
 * files that point only below the new minimum. Unmaps files deleted over 30 s ago.
 * nowMs: wall clock (cm_now_ms(), or a test's). Loop thread. */
int st_clean(st_store_t *st, int64_t nowMs, st_clean_report_t *rep);
/* Make the next 20 st_clean runs delete regardless of the hour (admin command). */
void st_clean_request(st_store_t *st);

/* ---- put --------------------------------------------------------------------------------- */
typedef struct st_msg {
    const char *topic;          /* NUL-terminated UTF-8, 1..127 bytes */
    int32_t queueId;
    int32_t flag;
    const uint8_t *body;        /* may be NULL when bodyLen == 0 */
    uint32_t bodyLen;
    const char *properties;     /* "name\x01value\x02..." (may be NULL when propertiesLen == 0) */
    uint32_t propertiesLen;
    int32_t sysFlag;            /* host-v6 bits are cleared: the store writes IPv4 hosts */
    int64_t bornTimestamp;
    uint32_t bornHostIp;        /* host order, like storeHostIp */
    int32_t bornHostPort;
    int32_t reconsumeTimes;
    int64_t preparedTransactionOffset;
} st_msg_t;

typedef struct st_put_result {
    int64_t phyOffset;          /* first record's commit-log offset */
    int32_t size;               /* bytes written (batch: all records, excluding a blank) */
    int64_t queueOffset;        /* first record's queue offset (0 for PREPARED/ROLLBACK) */
    int32_t count;              /* records written (1 for st_put) */
    int64_t storeTimestamp;     /* of the first record */
    char msgId[ST_MSG_ID_LEN + 1]; /* offsetMsgId of the first record */
    cm_buf_t msgIds;            /* all offsetMsgIds comma-joined (what the send response needs);
                                 * reused between calls, freed by st_put_result_free */
} st_put_result_t;

void st_put_result_init(st_put_result_t *r);
void st_put_result_free(st_put_result_t *r);

/* Append one message. Checks: topic 1..127 bytes and body <= maxMessageSize -> ST_EMSG_ILLEGAL;
 * properties > 32767 -> ST_EPROPS_TOO_LONG. Assigns the queue offset (per topic/queue counter,
 * not advanced for PREPARED/ROLLBACK which get 0 and no consume-queue unit), the physical
 * offset and a store timestamp (never smaller than the previous one), computes the body CRC,
 * encodes directly into the mapped file (rolling to a new file with a blank record when it does
 * not fit) and writes the consume-queue unit. SYNC_FLUSH: wakes the group commit and returns;
 * the caller waits for st_flushed_offset() (st_flush_kick). Every step that can fail for lack
 * of space (commit-log and consume-queue file creation) happens before the record is written.
 * Errors (nothing written): ST_EIO (file creation failed), ST_EDISKFULL (no space, or usage
 * over diskSpaceWarningLevelRatio), ST_ENOTWRITABLE (closed, or a consume-queue write failed
 * earlier). */
int st_put(st_store_t *st, const st_msg_t *m, st_put_result_t *res);

/* Append a batch: `batch` is a batch body (remoting spec §4.5). m gives the common fields
 * (topic, queueId, sysFlag, bornTimestamp, bornHost, reconsumeTimes); m->body is ignored and
 * m->properties are the header properties appended to every entry's own properties
 * (entry props, then '\x02' if both non-empty and the entry's does not end with one, then
 * header props). All records go into one file with consecutive queue offsets.
 * Errors as st_put, plus ST_EMSG_ILLEGAL for a malformed/empty batch, a batch body >
 * maxMessageSize or a transactional sysFlag. */
int st_put_batch(st_store_t *st, const st_msg_t *m, const uint8_t *batch, size_t batchLen,
                 st_put_result_t *res);

/* ---- get (pull) -------------------------------------------------------------------------- */
typedef enum {
    ST_GET_FOUND = 0,
    ST_GET_NO_MATCHED_MESSAGE,
    ST_GET_MESSAGE_WAS_REMOVING,
    ST_GET_OFFSET_FOUND_NULL,
    ST_GET_OFFSET_OVERFLOW_BADLY,
    ST_GET_OFFSET_OVERFLOW_ONE,
    ST_GET_OFFSET_TOO_SMALL,
    ST_GET_NO_MATCHED_LOGIC_QUEUE,
    ST_GET_NO_MESSAGE_IN_QUEUE,
} st_get_status_t;
const char *st_get_status_name(st_get_status_t s); /* "FOUND", "NO_MATCHED_MESSAGE", ... */

/* Message filter. A unit passes when (ncodes == 0 or its tagsCode is in codes[]) and
 * (match == NULL or match(arg, tagsCode, record, len) != 0). `record` points at the stored
 * record in the commit log (for SQL92/property filters). */
typedef struct st_filter {
    const int64_t *codes;
    size_t ncodes;
    int (*match)(void *arg, int64_t tagsCode, const uint8_t *record, uint32_t len);
    void *arg;
} st_filter_t;

typedef struct st_get_result {
    st_get_status_t status;
    int64_t nextBeginOffset;
    int64_t minOffset;
    int64_t maxOffset;
    int suggestPullingFromSlave;
    /* Records found, each a slice straight into the mapped commit log (writev-able).
     * Valid until st_store_close (files are never unmapped while the store is open; when
     * retention arrives this contract will change to "until the next st_* call"). */
    struct iovec *msgs;
    int64_t *phys;              /* each record's commit-log offset */
    uint32_t n;
    uint32_t cap;               /* grown on demand, reused between calls */
    uint64_t totalBytes;
} st_get_result_t;

void st_get_result_init(st_get_result_t *r);
void st_get_result_free(st_get_result_t *r);

/* Read up to maxMsgNums records of (topic, queueId) starting at queue offset `offset`.
 * A unit that does not point at its own record (checked: topic, queueId, queueOffset, offset,
 * size) is skipped alone and logged once per queue; of units that chain record after record in
 * the commit log only the first and the last record are read for that check (see run_t). Status and nextBeginOffset follow store
 * spec §2.5 (master rules); at most
 * max(16000, maxMsgNums*20) bytes of consume queue are scanned; a batch also stops at the
 * in-memory (256 KiB / 32) or in-disk (64 KiB / 8) transfer caps, and at maxBytes when > 0
 * (the first record is always taken). filter may be NULL (match all).
 * Returns ST_OK (look at res->status) or ST_ENOMEM / ST_EINVAL. */
int st_get(st_store_t *st, const char *topic, int32_t queueId, int64_t offset,
           int32_t maxMsgNums, uint64_t maxBytes, const st_filter_t *filter,
           st_get_result_t *res);

/* ---- queries ----------------------------------------------------------------------------- */
/* Queue offsets: max = next offset to be written, min = first available; 0/0 for no queue. */
int64_t st_max_offset(st_store_t *st, const char *topic, int32_t queueId);
int64_t st_min_offset(st_store_t *st, const char *topic, int32_t queueId);
/* Queue offset of the message stored at `timestampMs` (binary search on store timestamps):
 * the exact (first) match, else the closer neighbour (ties: the earlier); before the first
 * message -> min offset; after the last -> last message's offset; empty queue -> 0. */
int64_t st_offset_by_time(st_store_t *st, const char *topic, int32_t queueId, int64_t timestampMs);
/* Store timestamp of the first available message; ST_ENOENT if the queue is empty/absent. */
int st_earliest_msg_time(st_store_t *st, const char *topic, int32_t queueId, int64_t *ts);
/* Store timestamp of the message at queue offset `offset`; ST_ENOENT if none. */
int st_msg_store_time(st_store_t *st, const char *topic, int32_t queueId, int64_t offset,
                      int64_t *ts);
/* The record stored at commit-log offset phyOffset (VIEW_MESSAGE_BY_ID, END_TRANSACTION).
 * Validates magic and size against the written area; ST_ENOENT otherwise.
 * *ptr points into the mapping (valid until close). */
int st_read_record_at(st_store_t *st, int64_t phyOffset, const uint8_t **ptr, uint32_t *len);
/* The commit-log file (descriptor and offset in it) of a record st_get handed out (rec, at
 * commit-log offset phy), for sending it from the file without reading it; ST_ENOENT if rec is
 * not where phy is mapped. */
int st_record_file(st_store_t *st, int64_t phy, const void *rec, int *fd, int64_t *fileOffset);
int64_t st_max_phy_offset(st_store_t *st);   /* next write position */
int64_t st_min_phy_offset(st_store_t *st);
/* Remove every consume queue of `topic` (files deleted; commit-log records stay). */
int st_delete_topic(st_store_t *st, const char *topic);
/* One consume-queue unit (QUERY_CONSUME_QUEUE): ST_ENOENT outside [min, max) or no queue. */
int st_cq_entry(st_store_t *st, const char *topic, int32_t queueId, int64_t offset, int64_t *phy, int32_t *size,
                int64_t *tagsCode);
int st_queue_exists(st_store_t *st, const char *topic, int32_t queueId);
/* Sum over the topic's queues of (max - min). */
int64_t st_topic_msg_count(st_store_t *st, const char *topic);
/* Visit every consume queue (order unspecified). fn must not call st_put/st_delete_topic. */
void st_queue_each(st_store_t *st,
                   void (*fn)(void *arg, const char *topic, int32_t queueId, int64_t minOffset,
                              int64_t maxOffset),
                   void *arg);

/* Query by key (QUERY_MESSAGE): commit-log offsets of the records of `topic` stored within
 * [begin, end] (ms) whose UNIQ_KEY is `key`, or (uniq == 0) one of whose KEYS tokens is `key`;
 * newest first, at most min(maxNum, ST_QUERY_MAX). Candidates come from the index by hash and
 * are verified against the stored record. lastUpdate*: the newest indexed message.
 * ST_ENOENT when nothing matches. Loop thread; may wait up to 1 s for the index writer.
 * It is the two steps below, which let the wait and the index walk leave the loop:
 * st_query_index (ANY thread, e.g. libuv's pool, while the store is open: it touches only the
 * index files, under idxMu) fills `cand` with the offsets whose index entry has the key's hash
 * and a time near [begin, end], newest first, at most ST_QUERY_CANDIDATES (ST_EINVAL for an
 * empty key, ST_ENOENT for none); st_query_verify (loop thread: it reads the commit log, whose
 * files retention unmaps on the loop) keeps at most maxNum of those whose record really
 * matches, with the same results and errors as st_query_by_key. */
#define ST_QUERY_MAX 64
#define ST_QUERY_CANDIDATES (4 * ST_QUERY_MAX)
typedef struct st_query_result {
    int64_t phy[ST_QUERY_MAX];
    int n;
    int64_t lastUpdateTimestamp, lastUpdatePhyOffset;
} st_query_result_t;
typedef struct st_query_cand {
    int64_t phy[ST_QUERY_CANDIDATES];
    int n;
    int64_t lastUpdateTimestamp, lastUpdatePhyOffset;
} st_query_cand_t;
int st_query_by_key(st_store_t *st, const char *topic, const char *key, int maxNum, int64_t begin,
                    int64_t end, int uniq, st_query_result_t *res);
int st_query_index(st_store_t *st, const char *topic, const char *key, int64_t begin, int64_t end,
                   st_query_cand_t *cand);
/* st_query_by_key over what the index writer has applied so far, without waiting for it: for
 * loop callers that know of their own recent keys another way (the index covers everything
 * stored before the store was opened: recovery writes it before the writer starts). */
int st_query_by_key_nowait(st_store_t *st, const char *topic, const char *key, int maxNum,
                           int64_t begin, int64_t end, int uniq, st_query_result_t *res);
int st_query_verify(st_store_t *st, const st_query_cand_t *cand, const char *topic, const char *key,
                    int maxNum, int64_t begin, int64_t end, int uniq, st_query_result_t *res);
/* The index is written by its own thread: wait until every key of a put made before this call
 * is in the index files (st_query_by_key does so itself). 0, or -1 after maxMs. Any thread. */
int st_index_settle(st_store_t *st, int maxMs);
/* A mark of what the index writer has been handed so far, and whether it has applied all of it
 * (1 too when there is no writer): tells the loop, without waiting, whether a nowait query
 * covers every put made before the mark. Loop thread. */
uint64_t st_index_mark(st_store_t *st);
int st_index_reached(st_store_t *st, uint64_t mark);

/* ---- replication (ha.c, spec §5.2) -------------------------------------------------------- */
/* Master: raw commit-log bytes from `from` for a slave, at most maxLen, never across a file
 * end or past the written end; *len is 0 when there is nothing new. ST_ENOENT when `from` was
 * deleted by retention. The bytes stay valid while the file lives. Loop thread. */
int st_ha_read(st_store_t *st, int64_t from, size_t maxLen, const uint8_t **ptr, size_t *len);
/* Slave: bytes the master stored at phyOffset, which must be this log's end (an empty store
 * starts wherever the master begins). Complete records are dispatched to the consume queues and
 * the index as on the master; a record cut by the batch end waits for the next batch.
 * ST_EINVAL for another offset, ST_ECORRUPT for bytes that are not records. Loop thread. */
int st_ha_append(st_store_t *st, int64_t phyOffset, const uint8_t *data, size_t len);

/* ---- quorum commit (quorum.c, spec §6.4): a DLedger group's store ------------------------ */
/* Readers (st_get, st_max_offset, st_read_record_at, queries) see records that end at or
 * before `end` only; INT64_MAX (the default) shows everything. A Raft leader writes records at
 * once and raises this as a majority confirms them. Loop thread. */
void st_set_visible(st_store_t *st, int64_t end);
int64_t st_visible(const st_store_t *st);
/* Drop everything from `end` on: the commit log is zeroed from there, consume-queue units and
 * index entries of the records dropped go too, and the next write goes to `end`. A deposed
 * leader's records that never reached a majority. Visits every consume queue: rare events only.
 * ST_EINVAL if end is beyond the log. Loop thread. */
int st_truncate(st_store_t *st, int64_t end);
/* Take writes as a master (0) or refuse st_put like a slave (1): a DLedger group's role. */
void st_set_slave(st_store_t *st, int slave);

/* ---- record codec (thread-safe, no store needed) ----------------------------------------- */
typedef struct st_record {
    int32_t totalSize;
    uint32_t magic;
    int32_t bodyCRC;
    int32_t queueId;
    int32_t flag;
    int64_t queueOffset;
    int64_t physicOffset;
    int32_t sysFlag;            /* BORNHOST_V6 / STOREHOST_V6 select 16-byte addresses */
    int64_t bornTimestamp;
    uint8_t bornHost[16];       /* 4 or 16 address bytes as stored (network order) */
    int32_t bornPort;
    int64_t storeTimestamp;
    uint8_t storeHost[16];
    int32_t storePort;
    int32_t reconsumeTimes;
    int64_t preparedTransactionOffset;
    const uint8_t *body;        /* decode: points into the input */
    uint32_t bodyLen;
    const char *topic;          /* not NUL-terminated */
    uint32_t topicLen;
    const char *properties;     /* not NUL-terminated */
    uint32_t propertiesLen;
} st_record_t;

/* Record length for the given parts (91 + n + t + p, +12 per IPv6 host). */
size_t st_record_size(int32_t sysFlag, size_t bodyLen, size_t topicLen, size_t propsLen);
/* Encode r into dst[cap]. totalSize and magic are computed (r->totalSize/magic ignored);
 * bodyCRC is written as given (use cm_crc32). ST_EINVAL if cap is too small or a length is
 * over its field's limit. *written = record size. */
int st_record_encode(const st_record_t *r, uint8_t *dst, size_t cap, size_t *written);
/* Decode one record from p[len] with full bounds checks. checkCRC: recompute body CRC.
 * Returns ST_OK; ST_EBLANK for an end-of-file blank (out->totalSize = its size);
 * ST_ETRUNC if len < the record; ST_ECORRUPT for bad magic / size mismatch / negative lengths;
 * ST_ECRC. Pointers in *out point into p. */
int st_record_decode(const uint8_t *p, size_t len, int checkCRC, st_record_t *out);

/* Find property `name` in a property string; ST_ENOENT if absent or empty (Java drops empty
 * values). *val points into props. Accepts a trailing '\x02' or not. */
int st_props_get(const char *props, size_t len, const char *name, const char **val, size_t *vlen);
/* tagsCode of a tag: (int64)(int32) Java String.hashCode; 0 for an empty tag. */
int64_t st_tags_code(const char *tag, size_t len);

/* Batch body iterator (remoting spec §4.5). */
typedef struct st_batch_entry {
    int32_t flag;
    const uint8_t *body;
    uint32_t bodyLen;
    const char *properties;
    uint32_t propertiesLen;
} st_batch_entry_t;
typedef struct st_batch_iter {
    const uint8_t *p;
    size_t len, pos;
} st_batch_iter_t;
void st_batch_iter_init(st_batch_iter_t *it, const uint8_t *body, size_t len);
/* 1 = *e filled, 0 = end, ST_ECORRUPT / ST_ETRUNC = malformed entry (iteration stops). */
int st_batch_next(st_batch_iter_t *it, st_batch_entry_t *e);

/* offsetMsgId: upper-case hex of ip(4) ‖ port(int32) ‖ offset(int64). out gets 33 bytes
 * (NUL-terminated). ip in host order. */
void st_msg_id_encode(uint32_t ip, int32_t port, int64_t phyOffset, char out[ST_MSG_ID_LEN + 1]);
/* Decode a 32-char IPv4 offsetMsgId (either hex case). ST_EINVAL if malformed. */
int st_msg_id_decode(const char *id, size_t len, uint32_t *ip, int32_t *port, int64_t *phyOffset);

#endif
