/* index.c: the message index, RocketMQ's IndexFile layout (spec §1.10), for QUERY_MESSAGE.
 * Files under <root>/index named by creation time (yyyyMMddHHmmssSSS): a 40-byte header, a
 * table of hash slots (each the number of the newest entry for that slot) and 20-byte entries
 * chained newest to oldest through prevIndex. Keys are "TOPIC#key" for the UNIQ_KEY and each
 * space-separated token of KEYS. Only hashes are stored, so a query decodes each candidate
 * record and keeps those whose topic and key really match.
 * Written by the index writer thread: st_put (loop thread) only queues each key's hash with the
 * record's offset and time in a ring, because writing the files faults their pages in (and
 * again after every msync), which took the loop 150-200 ms every second at 10k msg/s (issue
 * 17). The writer applies the ring in batches under idxMu; queries take idxMu and first wait
 * (bounded) until what was queued before them is applied, so a key is found right after its
 * send. That wait and the walk (st_query_index) may run on any thread, so the broker does them
 * on libuv's pool; the candidates' records are verified on the loop (st_query_verify).
 * Msynced by the flush thread. Files are fully allocated when created (a write through the
 * mapping never faults on a full disk); when a new file cannot be created, indexing pauses
 * with a log line and the send still succeeds. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <inttypes.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"

#define IDX_HEADER 40
#define IDX_ENTRY 20
#define QUERY_ROUNDS 3
#define RING_SIZE (1u << 16)        /* queued ops: 1.5 MiB; ~0.6 s of 100k keys/s */
#define BATCH 256                   /* ops applied per hold of idxMu */

/* One queued index operation: a key's hash for the record at phy (OP_KEY), the end of a
 * record's keys (OP_END: the last file's endPhy / endTs move to it), or the commit log cut at
 * phy (OP_CUT: no file's endPhy stays beyond it). */
enum { OP_KEY, OP_END, OP_CUT };
typedef struct st_idx_op {
    int64_t phy, ts;
    uint32_t hash, kind;
} st_idx_op_t;

static void queue_op(st_store_t *st, int kind, uint32_t hash, int64_t phy, int64_t ts);

struct st_ifile {
    char *path;
    int fd;
    uint8_t *base;
    size_t size;
    int64_t beginTs, endTs, beginPhy, endPhy;
    int32_t slotCount, indexCount;
    atomic_int dirty;
};

static size_t ifile_size(const st_store_t *st)
{
    return IDX_HEADER + 4 * (size_t)st->cfg.maxHashSlotNum + IDX_ENTRY * (size_t)st->cfg.maxIndexNum;
}

static void hdr_load(st_ifile_t *f)
{
    const uint8_t *h = f->base;
    f->beginTs = (int64_t)cm_be64(h);
    f->endTs = (int64_t)cm_be64(h + 8);
    f->beginPhy = (int64_t)cm_be64(h + 16);
    f->endPhy = (int64_t)cm_be64(h + 24);
    f->slotCount = (int32_t)cm_be32(h + 32);
    f->indexCount = (int32_t)cm_be32(h + 36);
}

static void hdr_store(st_ifile_t *f)
{
    uint8_t *h = f->base;
    cm_wbe64(h, (uint64_t)f->beginTs);
    cm_wbe64(h + 8, (uint64_t)f->endTs);
    cm_wbe64(h + 16, (uint64_t)f->beginPhy);
    cm_wbe64(h + 24, (uint64_t)f->endPhy);
    cm_wbe32(h + 32, (uint32_t)f->slotCount);
    cm_wbe32(h + 36, (uint32_t)f->indexCount);
}

static void ifile_close(st_ifile_t *f, int unlinkIt)
{
    if (!f)
        return;
    if (f->base)
        munmap(f->base, f->size);
    if (f->fd >= 0)
        close(f->fd);
    if (unlinkIt)
        unlink(f->path);
    free(f->path);
    free(f);
}

static int ifile_map(const st_store_t *st, const char *path, int create, st_ifile_t **out)
{
    size_t size = ifile_size(st);
    st_ifile_t *f = calloc(1, sizeof *f);
    int rc = ST_EIO;
    struct stat sb;
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return ST_ENOMEM;
    }
    f->size = size;
    f->fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0644);
    if (f->fd < 0 || fstat(f->fd, &sb) != 0)
        goto err;
    if (create) {
        if (ftruncate(f->fd, (off_t)size) != 0 ||
            (fallocate(f->fd, 0, 0, (off_t)size) != 0 && errno != EOPNOTSUPP && errno != ENOSYS)) {
            rc = errno == ENOSPC || errno == EDQUOT ? ST_EDISKFULL : ST_EIO;
            unlink(path);
            goto err;
        }
    } else if ((size_t)sb.st_size != size) {
        LOG_W(ST_MOD, "index file %s has size %lld, expected %zu (maxHashSlotNum/maxIndexNum "
              "changed?); ignoring it", path, (long long)sb.st_size, size);
        rc = ST_ECORRUPT;
        goto err;
    }
    f->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
    if (f->base == MAP_FAILED) {
        f->base = NULL;
        goto err;
    }
    madvise(f->base, size, MADV_RANDOM);
    hdr_load(f);
    if (create || f->indexCount < 1)
        f->indexCount = 1; /* entry 0 is never used: 0 means "end of chain" */
    *out = f;
    return ST_OK;
err:
    ifile_close(f, 0);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load every index file, oldest first (the names sort by time). */
int st_index_load(st_store_t *st)
{
    if (!st->cfg.messageIndexEnable)
        return ST_OK;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/index", st->root);
    if (cm_mkdirs(dir) != 0)
        return ST_EIO;
    DIR *d = opendir(dir);
    if (!d)
        return ST_EIO;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l != 17 || strspn(e->d_name, "0123456789") != l)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        char path[4300];
        st_ifile_t *f;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (names[i] && ifile_map(st, path, 0, &f) == ST_OK) {
            st_ifile_t **nv = realloc(st->idx, (st->nidx + 1) * sizeof *nv);
            if (nv) {
                st->idx = nv;
                st->idx[st->nidx++] = f;
            } else {
                ifile_close(f, 0);
            }
        }
        free(names[i]);
    }
    free(names);
    st->idxLastPhy = st->nidx ? st->idx[st->nidx - 1]->endPhy : 0;
    return ST_OK;
}

/* The commit log was cut at `end` (records no majority holds): entries beyond it point at
 * records that are gone (queries verify every record, so they are harmless), but the files'
 * ends must not stay beyond it. Queued behind the keys already queued and before those of the
 * records written from `end` on, so the loop never waits for the writer here. */
static void cut_files(st_store_t *st, int64_t end)
{
    for (size_t i = 0; i < st->nidx; i++) {
        st_ifile_t *f = st->idx[i];
        if (f->endPhy > end) {
            f->endPhy = end;
            hdr_store(f);
        }
    }
}

void st_index_truncate(st_store_t *st, int64_t end)
{
    queue_op(st, OP_CUT, 0, end, 0);
    if (st->idxLastPhy > end)
        st->idxLastPhy = end;
}

static int ifile_new(st_store_t *st, const st_ifile_t *prev, st_ifile_t **out)
{
    char path[4300];
    int64_t now = cm_now_ms();
    time_t t = (time_t)(now / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    int rc = ST_EIO;
    for (int tries = 0; tries < 1000 && rc != ST_OK && rc != ST_EDISKFULL; tries++) {
        int64_t ms = now % 1000 + tries; /* two files in one millisecond: take the next name */
        snprintf(path, sizeof path, "%s/index/%04d%02d%02d%02d%02d%02d%03d", st->root,
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (int)(ms % 1000));
        rc = ifile_map(st, path, 1, out);
        if (rc != ST_OK && errno != EEXIST && rc != ST_EDISKFULL)
            break;
    }
    if (rc != ST_OK)
        return rc;
    if (prev) { /* a new file continues where the previous one ended */
        (*out)->beginTs = (*out)->endTs = prev->endTs;
        (*out)->beginPhy = (*out)->endPhy = prev->endPhy;
    }
    hdr_store(*out);
    st_ifile_t **nv = realloc(st->idx, (st->nidx + 1) * sizeof *nv); /* under idxMu (apply_ops) */
    if (nv) {
        st->idx = nv;
        st->idx[st->nidx++] = *out;
    }
    if (!nv) {
        ifile_close(*out, 1);
        return ST_ENOMEM;
    }
    return ST_OK;
}

static uint32_t key_hash(const char *topic, size_t tlen, const char *key, size_t klen)
{
    char buf[512];
    if (tlen + 1 + klen > sizeof buf)
        klen = sizeof buf - 1 - tlen; /* keys that long are cut: still a stable hash */
    memcpy(buf, topic, tlen);
    buf[tlen] = '#';
    memcpy(buf + tlen + 1, key, klen);
    int32_t h = cm_java_hash(buf, tlen + 1 + klen);
    return h == INT32_MIN ? 0 : (uint32_t)(h < 0 ? -h : h);
}

static void ifile_put(st_store_t *st, st_ifile_t *f, uint32_t hash, int64_t phy, int64_t storeTs)
{
    uint32_t slots = (uint32_t)st->cfg.maxHashSlotNum;
    uint8_t *slot = f->base + IDX_HEADER + 4 * (size_t)(hash % slots);
    int32_t prev = (int32_t)cm_be32(slot);
    if (prev <= 0 || prev > f->indexCount)
        prev = 0;
    if (f->beginTs <= 0) {
        f->beginTs = storeTs;
        f->beginPhy = phy;
    }
    /* seconds since the file's first entry; a store time before it (or nonsense from a
     * replicated record) counts as 0, computed without signed overflow */
    int64_t diff = f->beginTs > 0 && storeTs > f->beginTs ? (storeTs - f->beginTs) / 1000 : 0;
    if (diff > INT32_MAX)
        diff = INT32_MAX;
    uint8_t *e = f->base + IDX_HEADER + 4 * (size_t)slots + IDX_ENTRY * (size_t)f->indexCount;
    cm_wbe32(e, hash);
    cm_wbe64(e + 4, (uint64_t)phy);
    cm_wbe32(e + 12, (uint32_t)diff);
    cm_wbe32(e + 16, (uint32_t)prev);
    cm_wbe32(slot, (uint32_t)f->indexCount);
    if (prev == 0)
        f->slotCount++;
    f->indexCount++;
}

/* The file to write into: the last one, or a new one when it is full. NULL: indexing off. */
static st_ifile_t *writable_file(st_store_t *st, int64_t phy)
{
    st_ifile_t *f = st->nidx ? st->idx[st->nidx - 1] : NULL;
    if (f && f->indexCount < st->cfg.maxIndexNum)
        return f;
    if (st->idxFailedAt && cm_mono_ms() - st->idxFailedAt < 10000)
        return NULL; /* do not retry a failing create on every message */
    st_ifile_t *nf;
    int rc = ifile_new(st, f, &nf);
    if (rc != ST_OK) {
        LOG_E(ST_MOD, "cannot create an index file (%s): messages from offset %" PRId64
              " are not indexed until it works", st_strerror(rc), phy);
        st->idxFailedAt = cm_mono_ms();
        return NULL;
    }
    st->idxFailedAt = 0;
    if (f)
        atomic_store(&f->dirty, 1);
    return nf;
}

/* Writer thread (or the caller's thread without one), under idxMu. */
static void apply_op(st_store_t *st, const st_idx_op_t *op)
{
    if (op->kind == OP_KEY) {
        st_ifile_t *f = writable_file(st, op->phy);
        if (f)
            ifile_put(st, f, op->hash, op->phy, op->ts);
        return;
    }
    if (op->kind == OP_CUT) {
        cut_files(st, op->phy);
        return;
    }
    st_ifile_t *last = st->nidx ? st->idx[st->nidx - 1] : NULL;
    if (last) {
        last->endPhy = op->phy;
        last->endTs = op->ts;
        hdr_store(last);
        atomic_store(&last->dirty, 1);
    }
}

/* Apply queued ops up to `head`, BATCH at a time so that a query waits for one batch at most. */
static void apply_queued(st_store_t *st, uint64_t head)
{
    uint64_t tail = atomic_load(&st->idxTail);
    while (tail < head) {
        uint64_t end = head - tail > BATCH ? tail + BATCH : head;
        pthread_mutex_lock(&st->idxMu);
        for (; tail < end; tail++)
            apply_op(st, &st->idxRing[tail & st->idxRingMask]);
        pthread_mutex_unlock(&st->idxMu);
        atomic_store(&st->idxTail, tail);
    }
}

#define IDX_POLL_MS 10 /* the writer's own look at the ring when nobody wakes it */

static void *index_main(void *arg)
{
    st_store_t *st = arg;
    st_thread_background();
    /* tests only: while this file exists nothing is applied, as with a stuck disk (a query
     * then waits its full second for the writer); stopping applies everything all the same */
    const char *pause = getenv("LOULAN_TEST_INDEX_PAUSE_FILE");
    for (;;) {
        uint64_t head = atomic_load(&st->idxHead);
        if (head != atomic_load(&st->idxTail)) {
            if (pause && !atomic_load(&st->idxStop) && access(pause, F_OK) == 0) {
                usleep(5000);
                continue;
            }
            apply_queued(st, head);
            continue;
        }
        if (atomic_load(&st->idxStop))
            break;
        /* nothing queued: sleep until IDX_POLL_MS pass or the loop wakes us (it does so only
         * when we say we sleep: seq_cst on both sides, so one of us sees the other) */
        pthread_mutex_lock(&st->idxWakeMu);
        atomic_store(&st->idxSleeping, 1);
        if (atomic_load(&st->idxHead) == atomic_load(&st->idxTail) && !atomic_load(&st->idxStop)) {
            struct timespec ts;
            cm_deadline_ts(&ts, CLOCK_REALTIME, IDX_POLL_MS);
            pthread_cond_timedwait(&st->idxWakeCv, &st->idxWakeMu, &ts);
        }
        atomic_store(&st->idxSleeping, 0);
        pthread_mutex_unlock(&st->idxWakeMu);
    }
    return NULL;
}

static void wake_writer(st_store_t *st)
{
    pthread_mutex_lock(&st->idxWakeMu);
    pthread_cond_signal(&st->idxWakeCv);
    pthread_mutex_unlock(&st->idxWakeMu);
}

/* Loop thread: queue one op; with no writer thread, apply it here. */
static void queue_op(st_store_t *st, int kind, uint32_t hash, int64_t phy, int64_t ts)
{
    st_idx_op_t op = {phy, ts, hash, (uint32_t)kind};
    if (!st->idxThrOn) {
        pthread_mutex_lock(&st->idxMu);
        apply_op(st, &op);
        pthread_mutex_unlock(&st->idxMu);
        return;
    }
    uint64_t head = atomic_load_explicit(&st->idxHead, memory_order_relaxed);
    if (head - atomic_load(&st->idxTail) > st->idxRingMask) {
        /* full: the writer is far behind (a disk that stalls for long). Waiting here is a
         * stall, but dropping keys would make messages unfindable; count it for the stats */
        st->idxFullWaits++;
        if (atomic_load(&st->idxSleeping))
            wake_writer(st);
        while (head - atomic_load(&st->idxTail) > st->idxRingMask)
            sched_yield();
    }
    st->idxRing[head & st->idxRingMask] = op;
    atomic_store(&st->idxHead, head + 1);
    /* The writer is not woken for each key (a futex wake per put, and a context switch per
     * message on the writer's side, cost more CPU than the index itself): it looks every
     * IDX_POLL_MS by itself, and is woken when the ring is a quarter full or when a query
     * waits for it (wait_applied). */
    if (head - atomic_load(&st->idxTail) >= (st->idxRingMask + 1) / 4 && atomic_load(&st->idxSleeping))
        wake_writer(st);
}

/* Wait until everything queued so far is applied (at most maxMs); 0 if it is. Any thread
 * while the store is open (st_query_index runs it on libuv's pool): idxHead and idxTail are
 * atomics, wake_writer takes only idxWakeMu, and idxThrOn changes only in st_index_start and
 * st_index_stop, i.e. when the store opens and closes, when no query may run. */
static int wait_applied(st_store_t *st, int maxMs)
{
    uint64_t head = atomic_load(&st->idxHead);
    if (!st->idxThrOn || atomic_load(&st->idxTail) >= head)
        return 0;
    wake_writer(st);
    uint64_t until = cm_mono_ms() + (uint64_t)maxMs;
    while (atomic_load(&st->idxTail) < head) {
        if (cm_mono_ms() >= until)
            return -1;
        usleep(200);
    }
    return 0;
}

int st_index_settle(st_store_t *st, int maxMs) { return wait_applied(st, maxMs); }

uint64_t st_index_mark(st_store_t *st) { return atomic_load(&st->idxHead); }

int st_index_reached(st_store_t *st, uint64_t mark) { return !st->idxThrOn || atomic_load(&st->idxTail) >= mark; }

int st_index_start(st_store_t *st)
{
    if (!st->cfg.messageIndexEnable || st->idxThrOn)
        return ST_OK;
    st->idxRing = calloc(RING_SIZE, sizeof *st->idxRing);
    if (!st->idxRing)
        return ST_ENOMEM;
    st->idxRingMask = RING_SIZE - 1;
    atomic_store(&st->idxHead, 0);
    atomic_store(&st->idxTail, 0);
    atomic_store(&st->idxStop, 0);
    if (pthread_create(&st->idxThr, NULL, index_main, st) != 0) {
        free(st->idxRing);
        st->idxRing = NULL;
        return ST_EIO;
    }
    st->idxThrOn = 1;
    return ST_OK;
}

void st_index_stop(st_store_t *st)
{
    if (!st->idxThrOn)
        return;
    atomic_store(&st->idxStop, 1);
    wake_writer(st);
    pthread_join(st->idxThr, NULL); /* it applies everything queued before it exits */
    st->idxThrOn = 0;
    free(st->idxRing);
    st->idxRing = NULL;
}

/* Index one record (st_put, st_put_batch and recovery's re-dispatch). Loop thread: queues. */
void st_index_record(st_store_t *st, const st_record_t *r, int64_t phy)
{
    const char *v;
    size_t vl;
    if (!st->cfg.messageIndexEnable || (r->sysFlag & ST_SYSFLAG_TX_MASK) == ST_SYSFLAG_TX_ROLLBACK)
        return;
    if (phy < st->idxLastPhy)
        return; /* indexed already (re-dispatch after a restart) */
    st->idxLastPhy = phy;
    if (st_props_get(r->properties, r->propertiesLen, "UNIQ_KEY", &v, &vl) == ST_OK)
        queue_op(st, OP_KEY, key_hash(r->topic, r->topicLen, v, vl), phy, r->storeTimestamp);
    if (st_props_get(r->properties, r->propertiesLen, "KEYS", &v, &vl) == ST_OK) {
        const char *p = v, *end = v + vl;
        while (p < end) {
            const char *sp = memchr(p, ' ', (size_t)(end - p));
            size_t l = (size_t)((sp ? sp : end) - p);
            if (l)
                queue_op(st, OP_KEY, key_hash(r->topic, r->topicLen, p, l), phy, r->storeTimestamp);
            p += l + 1;
        }
    }
    queue_op(st, OP_END, 0, phy, r->storeTimestamp);
}

/* ---- query ------------------------------------------------------------------------------- */

/* Does the record at phy really carry key (as UNIQ_KEY, or as a KEYS token) in topic? */
static int record_has_key(st_store_t *st, int64_t phy, const char *topic, const char *key,
                          int uniq, int64_t *storeTs)
{
    const uint8_t *p;
    uint32_t len;
    st_record_t r;
    const char *v;
    size_t vl, kl = strlen(key), tl = strlen(topic);
    if (st_read_record_at(st, phy, &p, &len) != ST_OK || st_record_decode(p, len, 0, &r) != ST_OK)
        return 0;
    if (r.topicLen != tl || memcmp(r.topic, topic, tl) != 0)
        return 0;
    *storeTs = r.storeTimestamp;
    if (st_props_get(r.properties, r.propertiesLen, "UNIQ_KEY", &v, &vl) == ST_OK && vl == kl &&
        !memcmp(v, key, kl))
        return 1;
    if (uniq || st_props_get(r.properties, r.propertiesLen, "KEYS", &v, &vl) != ST_OK)
        return 0;
    for (const char *q = v, *end = v + vl; q < end;) {
        const char *sp = memchr(q, ' ', (size_t)(end - q));
        size_t l = (size_t)((sp ? sp : end) - q);
        if (l == kl && !memcmp(q, key, kl))
            return 1;
        q += l + 1;
    }
    return 0;
}

static int have(const st_query_cand_t *cand, int64_t phy)
{
    for (int i = 0; i < cand->n; i++)
        if (cand->phy[i] == phy)
            return 1;
    return 0;
}

/* Walk one file's chain for hash; add the offsets of entries with that hash and a time in
 * [begin, end] to cand (not verified: only the hash is stored). Under idxMu. */
static void ifile_query(st_store_t *st, const st_ifile_t *f, uint32_t hash, int64_t begin, int64_t end,
                        st_query_cand_t *cand)
{
    uint32_t slots = (uint32_t)st->cfg.maxHashSlotNum;
    int32_t cur = (int32_t)cm_be32(f->base + IDX_HEADER + 4 * (size_t)(hash % slots));
    int steps = 0;
    while (cur > 0 && cur < f->indexCount && cand->n < ST_QUERY_CANDIDATES && steps++ < f->indexCount) {
        const uint8_t *e = f->base + IDX_HEADER + 4 * (size_t)slots + IDX_ENTRY * (size_t)cur;
        uint32_t h = cm_be32(e);
        int64_t phy = (int64_t)cm_be64(e + 4);
        int64_t ts = f->beginTs + (int64_t)(int32_t)cm_be32(e + 12) * 1000;
        int32_t prev = (int32_t)cm_be32(e + 16);
        /* entry times are cut to seconds: widen by one second on each side (the verification
         * checks the record's own store time) */
        if (ts + 1000 < begin)
            break;
        if (h == hash && ts - 1000 <= end && !have(cand, phy))
            cand->phy[cand->n++] = phy;
        if (prev <= 0 || prev >= cur)
            break;
        cur = prev;
    }
}

/* Any thread (the broker runs it on libuv's pool, issue 17: the wait below would stall every
 * client). Safe off the loop because it reads only what idxMu guards, and holds idxMu while it
 * does: the index files are created (ifile_new, from apply_op), cut (st_index_truncate) and
 * deleted (st_index_delete_below, retention) under idxMu, entries are written under it, and
 * no pointer into a file is kept after the unlock. st_index_load and st_index_close, which
 * change the list without it, run when the store opens and closes, and the caller must not
 * let a query run across those. It never reads the commit log (the loop unmaps its files). */
static int query_index(st_store_t *st, const char *topic, const char *key, int64_t begin,
                       int64_t end, int waitMs, st_query_cand_t *cand)
{
    memset(cand, 0, sizeof *cand);
    if (!topic || !key || !*key)
        return ST_EINVAL;
    /* a key sent just before the query is found: what was queued is applied first (normally
     * microseconds; bounded, so a stuck disk makes the answer incomplete, not the caller hang) */
    if (waitMs && wait_applied(st, waitMs) != 0)
        LOG_W(ST_MOD, "index writer behind: a query may miss the newest messages");
    pthread_mutex_lock(&st->idxMu);
    if (st->nidx) {
        cand->lastUpdateTimestamp = st->idx[st->nidx - 1]->endTs;
        cand->lastUpdatePhyOffset = st->idx[st->nidx - 1]->endPhy;
    }
    uint32_t hash = key_hash(topic, strlen(topic), key, strlen(key));
    for (size_t i = st->nidx; i-- > 0 && cand->n < ST_QUERY_CANDIDATES;) {
        const st_ifile_t *f = st->idx[i];
        if (f->endTs > 0 && f->endTs + 1000 < begin)
            break; /* older files end before the window */
        if (f->beginTs - 1000 > end)
            continue;
        ifile_query(st, f, hash, begin, end, cand);
    }
    pthread_mutex_unlock(&st->idxMu);
    return cand->n ? ST_OK : ST_ENOENT;
}

/* Loop thread: record_has_key reads the commit log. */
int st_query_verify(st_store_t *st, const st_query_cand_t *cand, const char *topic, const char *key,
                    int maxNum, int64_t begin, int64_t end, int uniq, st_query_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (maxNum > ST_QUERY_MAX)
        maxNum = ST_QUERY_MAX;
    if (!topic || !key || !*key || maxNum <= 0)
        return ST_EINVAL;
    res->lastUpdateTimestamp = cand->lastUpdateTimestamp;
    res->lastUpdatePhyOffset = cand->lastUpdatePhyOffset;
    for (int i = 0; i < cand->n && i < ST_QUERY_CANDIDATES && res->n < maxNum; i++) {
        int64_t sts;
        if (record_has_key(st, cand->phy[i], topic, key, uniq, &sts) && sts >= begin && sts <= end)
            res->phy[res->n++] = cand->phy[i];
    }
    return res->n ? ST_OK : ST_ENOENT;
}

int st_query_index(st_store_t *st, const char *topic, const char *key, int64_t begin, int64_t end,
                   st_query_cand_t *cand)
{
    return query_index(st, topic, key, begin, end, 1000, cand);
}

static int query_by_key(st_store_t *st, const char *topic, const char *key, int maxNum, int64_t begin,
                        int64_t end, int uniq, int waitMs, st_query_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (!topic || !key || !*key || maxNum <= 0)
        return ST_EINVAL;
    st_query_cand_t *cand = malloc(sizeof *cand); /* 2 KiB: not on the stack */
    if (!cand)
        return ST_ENOMEM;
    int rc = query_index(st, topic, key, begin, end, waitMs, cand);
    if (rc == ST_OK || rc == ST_ENOENT) /* ENOENT: no candidate, but lastUpdate* is filled */
        rc = st_query_verify(st, cand, topic, key, maxNum, begin, end, uniq, res);
    free(cand);
    return rc;
}

int st_query_by_key(st_store_t *st, const char *topic, const char *key, int maxNum, int64_t begin,
                    int64_t end, int uniq, st_query_result_t *res)
{
    return query_by_key(st, topic, key, maxNum, begin, end, uniq, 1000, res);
}

int st_query_by_key_nowait(st_store_t *st, const char *topic, const char *key, int maxNum,
                           int64_t begin, int64_t end, int uniq, st_query_result_t *res)
{
    return query_by_key(st, topic, key, maxNum, begin, end, uniq, 0, res);
}

/* ---- flush, retention, close ---------------------------------------------------------------- */

/* Flush thread: msync the files written since the last call. The list changes only on the
 * loop thread under idxMu; the mappings are copied out under it and synced outside, so a put
 * never waits for an msync. (A file deleted meanwhile makes msync fail harmlessly.) */
void st_index_flush(st_store_t *st)
{
    struct { uint8_t *base; size_t size; } todo[8];
    size_t n = 0;
    pthread_mutex_lock(&st->idxMu);
    for (size_t i = st->nidx; i-- > 0 && n < 8;) {
        st_ifile_t *f = st->idx[i];
        if (atomic_exchange(&f->dirty, 0)) {
            todo[n].base = f->base;
            todo[n++].size = f->size;
        }
    }
    pthread_mutex_unlock(&st->idxMu);
    for (size_t i = 0; i < n; i++)
        msync(todo[i].base, todo[i].size, MS_SYNC);
}

int st_index_delete_below(st_store_t *st, int64_t minPhy)
{
    int n = 0;
    pthread_mutex_lock(&st->idxMu);
    while (st->nidx > 1 && st->idx[0]->endPhy < minPhy) {
        st_ifile_t *f = st->idx[0];
        memmove(st->idx, st->idx + 1, (st->nidx - 1) * sizeof *st->idx);
        st->nidx--;
        LOG_I(ST_MOD, "retention: deleted index file %s", f->path);
        ifile_close(f, 1); /* a query (any thread) holds idxMu while it reads: nothing else points in */
        n++;
    }
    pthread_mutex_unlock(&st->idxMu);
    return n;
}

void st_index_close(st_store_t *st)
{
    st_index_stop(st);
    for (size_t i = 0; i < st->nidx; i++)
        ifile_close(st->idx[i], 0);
    free(st->idx);
    st->idx = NULL;
    st->nidx = 0;
}
