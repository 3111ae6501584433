/* cq.c: consume queues. One per (topic, queueId), a sequence of 20-byte units
 * (phyOffset i64, size i32, tagsCode i64) in mapped files under consumequeue/<TOPIC>/<QID>/,
 * file name = byte offset of its first unit. Found through a chained hash table keyed by
 * (topic, queueId). Loop thread only, except the dirty list which the flush thread drains.
 * Files are created by the allocator thread (cqalloc.c) ahead of need: a put takes a ready one. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>

#include "store/store_int.h"

static uint32_t cq_hash(const char *t, size_t n, int32_t qid)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)t[i]) * 16777619u;
    h = (h ^ (uint32_t)qid) * 16777619u;
    return h ^ (h >> 15);
}

st_cq_t *st_cq_find(st_store_t *st, const char *topic, size_t tlen, int32_t qid)
{
    if (!st->nbuckets)
        return NULL;
    uint32_t h = cq_hash(topic, tlen, qid);
    for (st_cq_t *c = st->buckets[h & (st->nbuckets - 1)]; c; c = c->hnext)
        if (c->hash == h && c->queueId == qid && strlen(c->topic) == tlen &&
            memcmp(c->topic, topic, tlen) == 0)
            return c;
    return NULL;
}

static int cq_rehash(st_store_t *st)
{
    size_t nb = st->nbuckets ? st->nbuckets * 2 : 64;
    st_cq_t **b = calloc(nb, sizeof(*b));
    if (!b)
        return ST_ENOMEM;
    for (size_t i = 0; i < st->nbuckets; i++) {
        st_cq_t *c = st->buckets[i];
        while (c) {
            st_cq_t *next = c->hnext;
            c->hnext = b[c->hash & (nb - 1)];
            b[c->hash & (nb - 1)] = c;
            c = next;
        }
    }
    free(st->buckets);
    st->buckets = b;
    st->nbuckets = nb;
    return ST_OK;
}

static int cq_new(st_store_t *st, const char *topic, size_t tlen, int32_t qid, int mkdir_now,
                  st_cq_t **out)
{
    st_cq_t *c;
    char buf[4096];

    if (st->ncq + 1 > st->nbuckets * 3 / 4 && cq_rehash(st) != ST_OK)
        return ST_ENOMEM;
    c = calloc(1, sizeof(*c));
    if (!c)
        return ST_ENOMEM;
    c->topic = malloc(tlen + 1);
    snprintf(buf, sizeof(buf), "%s/%.*s/%d", st->cqDir, (int)tlen, topic, (int)qid);
    c->dir = strdup(buf);
    if (!c->topic || !c->dir) {
        free(c->topic);
        free(c->dir);
        free(c);
        return ST_ENOMEM;
    }
    memcpy(c->topic, topic, tlen);
    c->topic[tlen] = '\0';
    c->queueId = qid;
    c->hash = cq_hash(topic, tlen, qid);
    if (mkdir_now && cm_mkdirs(c->dir) != 0) {
        LOG_E(ST_MOD, "mkdir %s: %s", c->dir, strerror(errno));
        free(c->topic);
        free(c->dir);
        free(c);
        return ST_EIO;
    }
    c->hnext = st->buckets[c->hash & (st->nbuckets - 1)];
    st->buckets[c->hash & (st->nbuckets - 1)] = c;
    st->ncq++;
    *out = c;
    return ST_OK;
}

int st_cq_get_or_create(st_store_t *st, const char *topic, size_t tlen, int32_t qid,
                        st_cq_t **out)
{
    st_cq_t *c = st_cq_find(st, topic, tlen, qid);
    if (c) {
        *out = c;
        return ST_OK;
    }
    /* a topic name becomes a directory name: refuse path tricks */
    if (tlen == 0 || memchr(topic, '/', tlen) || (tlen == 1 && topic[0] == '.') ||
        (tlen == 2 && topic[0] == '.' && topic[1] == '.') || memchr(topic, '\0', tlen))
        return ST_EMSG_ILLEGAL;
    /* the directory is made with the queue's first file, off the loop (cqalloc.c) */
    return cq_new(st, topic, tlen, qid, 0, out);
}

static void mark_dirty(st_store_t *st, st_mfile_t *f)
{
    if (!atomic_exchange(&f->dirty, 1)) {
        pthread_mutex_lock(&st->mu);
        f->next_dirty = st->dirtyHead;
        st->dirtyHead = f;
        pthread_mutex_unlock(&st->mu);
    }
}

static int cq_file_for(st_store_t *st, st_cq_t *cq, int64_t pos, st_mfile_t **out)
{
    uint64_t fsz = st->cfg.mappedFileSizeConsumeQueue;
    int64_t no = pos / (int64_t)fsz;
    st_mfile_t *f = st_mfiles_get(&cq->files, no);
    if (!f) {
        int rc = st_cq_alloc_take(st, cq, no, &f); /* ready, or a bounded wait, or made here */
        if (rc == ST_OK && (rc = st_mfiles_set(&cq->files, no, f)) != ST_OK) {
            unlink(f->path);
            st_mfile_close(f);
        }
        if (rc != ST_OK)
            return rc;
    }
    /* the unit's blocks must exist before it is written: a fault on a full disk is a SIGBUS */
    int rc = st_cq_reserve(st, cq, f, pos - f->start + ST_CQ_UNIT_SIZE);
    if (rc != ST_OK)
        return rc;
    *out = f;
    return ST_OK;
}

int st_cq_prepare(st_store_t *st, st_cq_t *cq, int64_t q)
{
    st_mfile_t *f;
    return cq_file_for(st, cq, q * ST_CQ_UNIT_SIZE, &f);
}

static int cq_write_unit(st_store_t *st, st_cq_t *cq, int64_t q, int64_t phy, int32_t size,
                         int64_t tags)
{
    st_mfile_t *f;
    int64_t pos = q * ST_CQ_UNIT_SIZE;
    int rc = cq_file_for(st, cq, pos, &f);
    if (rc != ST_OK)
        return rc;
    uint8_t *u = f->base + (pos - f->start);
    cm_wbe64(u, (uint64_t)phy);
    cm_wbe32(u + 8, (uint32_t)size);
    cm_wbe64(u + 12, (uint64_t)tags);
    int64_t end = pos - f->start + ST_CQ_UNIT_SIZE;
    if (end > atomic_load_explicit(&f->wroteEnd, memory_order_relaxed))
        atomic_store_explicit(&f->wroteEnd, end, memory_order_release); /* the loop only */
    mark_dirty(st, f);
    return ST_OK;
}

int st_cq_start_at(st_store_t *st, st_cq_t *cq, int64_t q)
{
    uint64_t fsz = st->cfg.mappedFileSizeConsumeQueue;
    int rc = ST_OK;
    if (cq->files.n || cq->maxUnits || q <= 0 || q > INT64_MAX / ST_CQ_UNIT_SIZE / 2)
        return ST_EINVAL;
    /* fillers, not zeros: recovery ends a queue at its first zero unit */
    for (int64_t i = (q * ST_CQ_UNIT_SIZE) / (int64_t)fsz * (int64_t)fsz / ST_CQ_UNIT_SIZE;
         i < q && rc == ST_OK; i++)
        rc = cq_write_unit(st, cq, i, 0, ST_CQ_FILLER_SIZE, 0);
    if (rc == ST_OK && (rc = st_cq_prepare(st, cq, q)) == ST_OK)
        cq->minUnits = cq->maxUnits = q;
    return rc;
}

int st_cq_put(st_store_t *st, st_cq_t *cq, int64_t q, int64_t phy, int32_t size, int64_t tags)
{
    int rc;
    if (q < 0 || q > INT64_MAX / ST_CQ_UNIT_SIZE / 2 || size <= 0)
        return ST_EINVAL; /* a record whose queue offset cannot be a position in a file */
    if (q < cq->maxUnits || phy + size <= cq->maxPhysicOffset)
        return ST_OK; /* built already (re-dispatch after recovery) */
    if (q > cq->maxUnits) {
        int64_t from = cq->maxUnits;
        if (cq->maxUnits == 0 && cq->files.n == 0) {
            /* queue starts mid-stream: fill its first file up to q with filler units */
            uint64_t fsz = st->cfg.mappedFileSizeConsumeQueue;
            from = (q * ST_CQ_UNIT_SIZE) / (int64_t)fsz * (int64_t)fsz / ST_CQ_UNIT_SIZE;
            cq->minUnits = q;
        } else {
            LOG_W(ST_MOD, "consume queue %s/%d: gap, expected offset %" PRId64 " got %" PRId64,
                  cq->topic, cq->queueId, cq->maxUnits, q);
            /* a corrupt record must not make us write millions of filler units */
            if (q - from > (int64_t)(st->cfg.mappedFileSizeConsumeQueue / ST_CQ_UNIT_SIZE))
                return ST_OK;
        }
        for (int64_t i = from; i < q; i++)
            if ((rc = cq_write_unit(st, cq, i, 0, ST_CQ_FILLER_SIZE, 0)) != ST_OK)
                return rc;
    }
    if ((rc = cq_write_unit(st, cq, q, phy, size, tags)) != ST_OK)
        return rc;
    cq->maxUnits = q + 1;
    cq->maxPhysicOffset = phy + size;
    /* half way through its file: have the next one made ahead of need (O(1), no syscall) */
    int64_t fsz = (int64_t)st->cfg.mappedFileSizeConsumeQueue, pos = q * ST_CQ_UNIT_SIZE;
    if (atomic_load(&cq->allocState) == ST_ALLOC_NONE && pos % fsz >= fsz / 2 &&
        !st_mfiles_get(&cq->files, pos / fsz + 1))
        st_cq_alloc_request(st, cq, pos / fsz + 1);
    return ST_OK;
}

int st_cq_unit(const st_store_t *st, const st_cq_t *cq, int64_t q, int64_t *phy, int32_t *size,
               int64_t *tags)
{
    if (q < 0 || q >= cq->maxUnits)
        return ST_ENOENT;
    int64_t pos = q * ST_CQ_UNIT_SIZE;
    st_mfile_t *f = st_mfiles_get(&cq->files, pos / (int64_t)st->cfg.mappedFileSizeConsumeQueue);
    if (!f)
        return ST_ENOENT;
    const uint8_t *u = f->base + (pos - f->start);
    *phy = (int64_t)cm_be64(u);
    *size = (int32_t)cm_be32(u + 8);
    if (tags)
        *tags = (int64_t)cm_be64(u + 12);
    return ST_OK;
}

void st_cq_mark_damaged(st_cq_t *cq, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (!cq->damaged)
        LOG_W(ST_MOD, "consume queue %s/%d: %s; rebuilding this queue from the commit log",
              cq->topic, cq->queueId, what);
    cq->damaged = 1;
}

static int unit_is_zero(const uint8_t *u)
{
    for (int k = 0; k < ST_CQ_UNIT_SIZE; k++)
        if (u[k])
            return 0;
    return 1;
}

/* Where the units end (at file index i, byte p): a real end is an all-zero unit with nothing
 * after it; anything else is a unit that damage overwrote. */
static void cq_check_end(st_store_t *st, st_cq_t *cq, size_t i, uint64_t p)
{
    uint64_t fsz = st->cfg.mappedFileSizeConsumeQueue;
    st_mfile_t *f = cq->files.v[i];
    const uint8_t *u = f->base + p;
    const uint8_t *next = p + 2 * ST_CQ_UNIT_SIZE <= fsz ? u + ST_CQ_UNIT_SIZE
                          : i + 1 < cq->files.n && cq->files.v[i + 1] ? cq->files.v[i + 1]->base
                          : NULL;
    int64_t q = (f->start + (int64_t)p) / ST_CQ_UNIT_SIZE;
    if (!unit_is_zero(u))
        st_cq_mark_damaged(cq, "%s byte %" PRIu64 ": unit %" PRId64 " is not a unit "
                           "(commit-log offset %" PRId64 ", size %d)", f->path, p, q,
                           (int64_t)cm_be64(u), (int)(int32_t)cm_be32(u + 8));
    else if (next && !unit_is_zero(next))
        st_cq_mark_damaged(cq, "%s byte %" PRIu64 ": unit %" PRId64 " is zeroed but units "
                           "follow it", f->path, p, q);
}

/* Find the end of the valid units (phy >= 0 && size > 0), scanning from the third-to-last
 * file; files after the end are deleted. */
static void cq_recover(st_store_t *st, st_cq_t *cq)
{
    uint64_t fsz = st->cfg.mappedFileSizeConsumeQueue;
    /* like RocketMQ, trust all but the last three files: start-up time must not grow with
     * the number of messages ever stored */
    size_t from = cq->files.n > 3 ? cq->files.n - 3 : 0;
    while (from > 0 && !cq->files.v[from])
        from--;
    int64_t endPos = cq->files.n ? (cq->files.firstNo + (int64_t)from) * (int64_t)fsz : 0;
    int64_t lastPhyEnd = 0;
    size_t i;

    for (i = from; i < cq->files.n; i++) {
        st_mfile_t *f = cq->files.v[i];
        if (!f)
            break;
        uint64_t p;
        for (p = 0; p + ST_CQ_UNIT_SIZE <= fsz; p += ST_CQ_UNIT_SIZE) {
            int64_t phy = (int64_t)cm_be64(f->base + p);
            int32_t size = (int32_t)cm_be32(f->base + p + 8);
            if (phy < 0 || size <= 0)
                break;
            if (size != ST_CQ_FILLER_SIZE)
                lastPhyEnd = phy + size;
        }
        endPos = f->start + (int64_t)p;
        if (p + ST_CQ_UNIT_SIZE <= fsz) {
            cq_check_end(st, cq, i, p);
            break;
        }
    }
    if (cq->damaged) {
        cq->offsetHint = endPos / ST_CQ_UNIT_SIZE;
        return; /* the rebuild replaces every file */
    }
    /* drop files beyond the one holding the end (keep an empty file that starts at the end) */
    for (size_t j = 0; j < cq->files.n; j++) {
        st_mfile_t *f = cq->files.v[j];
        if (f && f->start > endPos) {
            st_cq_alloc_release_file(st, cq, f);
            if (unit_is_zero(f->base)) /* made ahead of need by the allocator, never written */
                LOG_I(ST_MOD, "consume queue %s/%d: removing unused file %s", cq->topic,
                      cq->queueId, f->path);
            else
                LOG_W(ST_MOD, "consume queue %s/%d: dropping file %s beyond the valid end",
                      cq->topic, cq->queueId, f->path);
            st_grave_add(st, f);
            cq->files.v[j] = NULL;
        }
    }
    while (cq->files.n && !cq->files.v[cq->files.n - 1])
        cq->files.n--;
    cq->maxUnits = endPos / ST_CQ_UNIT_SIZE;
    cq->minUnits = cq->files.n ? cq->files.firstNo * (int64_t)fsz / ST_CQ_UNIT_SIZE : 0;
    cq->maxPhysicOffset = lastPhyEnd;
}

/* The file names of one queue must be aligned and consecutive, and every file exactly
 * mappedFileSizeConsumeQueue bytes (files are created at full size: a shorter one lost units).
 * A short last file is only noted in *shortLast: its units tell how far the queue had got. */
static void cq_check_names(st_store_t *st, st_cq_t *cq, const int64_t *starts, size_t n,
                           int *shortLast)
{
    int64_t fsz = (int64_t)st->cfg.mappedFileSizeConsumeQueue;
    char path[4096];
    struct stat sb;

    if (n == 0)
        st_cq_mark_damaged(cq, "%s holds no consume-queue file", cq->dir);
    for (size_t i = 0; i < n && !cq->damaged; i++) {
        snprintf(path, sizeof(path), "%s/%020" PRId64, cq->dir, starts[i]);
        if (starts[i] % fsz != 0)
            st_cq_mark_damaged(cq, "%s: name not a multiple of the file size %" PRId64,
                               path, fsz);
        else if (i > 0 && starts[i] != starts[i - 1] + fsz)
            st_cq_mark_damaged(cq, "files %s/%020" PRId64 " to %020" PRId64 " are missing "
                               "(queue offsets %" PRId64 " to %" PRId64 ")", cq->dir,
                               starts[i - 1] + fsz, starts[i] - fsz,
                               (starts[i - 1] + fsz) / ST_CQ_UNIT_SIZE,
                               starts[i] / ST_CQ_UNIT_SIZE - 1);
        else if (i + 1 == n && stat(path, &sb) == 0 && sb.st_size < (off_t)fsz)
            *shortLast = 1;
        else if (stat(path, &sb) == 0 && sb.st_size != (off_t)fsz)
            st_cq_mark_damaged(cq, "%s is %lld bytes, expected %" PRId64 " (units from queue "
                               "offset %" PRId64 " on are lost)", path, (long long)sb.st_size,
                               fsz, (starts[i] + (int64_t)sb.st_size) / ST_CQ_UNIT_SIZE);
    }
}

/* The file starting at `start` in dir begins with a zero unit (never written: perhaps made
 * ahead of need by the allocator). */
static int cq_file_unwritten(const char *dir, int64_t start)
{
    char path[4096];
    uint8_t u[ST_CQ_UNIT_SIZE];
    snprintf(path, sizeof(path), "%s/%020" PRId64, dir, start);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = pread(fd, u, sizeof(u), 0);
    close(fd);
    return n == (ssize_t)sizeof(u) && unit_is_zero(u);
}

/* Map the files of one queue and find where its units end. Damage marks the queue for a
 * rebuild (nothing of it stays mapped); only system errors fail. */
static int cq_load(st_store_t *st, st_cq_t *cq)
{
    uint64_t fsz = st->cfg.mappedFileSizeConsumeQueue;
    int64_t *starts;
    size_t n;
    int rc = st_list_numbered(cq->dir, &starts, &n);
    if (rc != ST_OK)
        return rc;
    int shortLast = 0;
    cq_check_names(st, cq, starts, n, &shortLast);
    if (n && starts[n - 1] % (int64_t)fsz == 0)
        cq->offsetHint = starts[n - 1] / ST_CQ_UNIT_SIZE; /* made when that offset was reached */
    if (n > 1 && starts[n - 2] % (int64_t)fsz == 0 && cq_file_unwritten(cq->dir, starts[n - 1]))
        cq->offsetHint = starts[n - 2] / ST_CQ_UNIT_SIZE; /* ... or ahead of need (cqalloc.c) */
    for (size_t i = 0; i < n && rc == ST_OK && !cq->damaged; i++) {
        st_mfile_t *f;
        rc = st_mfile_open(cq->dir, starts[i], fsz, i + 1 == n ? ST_MFILE_GROW : 0, &f);
        if (rc == ST_OK)
            madvise(f->base, fsz, MADV_RANDOM);
        if (rc == ST_OK && (rc = st_mfiles_set(&cq->files, starts[i] / (int64_t)fsz, f)))
            st_mfile_close(f);
    }
    if (rc == ST_OK && !cq->damaged)
        cq_recover(st, cq);
    if (rc == ST_OK && shortLast && !cq->damaged) {
        cq->offsetHint = cq->maxUnits;
        st_cq_mark_damaged(cq, "%s/%020" PRId64 " was short (extended with zeros): units from "
                           "queue offset %" PRId64 " on may be lost", cq->dir, starts[n - 1],
                           cq->maxUnits);
    }
    free(starts);
    if (cq->damaged)
        st_mfiles_free(&cq->files); /* nothing written through them yet: no one else holds them */
    return rc;
}

int st_cq_load_all(st_store_t *st)
{
    DIR *td = opendir(st->cqDir), *qd;
    struct dirent *te, *qe;
    char buf[4096];
    int rc = ST_OK;

    if (!td)
        return errno == ENOENT ? ST_OK : ST_EIO;
    while (rc == ST_OK && (te = readdir(td)) != NULL) {
        if (te->d_name[0] == '.')
            continue;
        snprintf(buf, sizeof(buf), "%s/%s", st->cqDir, te->d_name);
        if (!(qd = opendir(buf)))
            continue;
        while (rc == ST_OK && (qe = readdir(qd)) != NULL) {
            char *endp;
            long qid = strtol(qe->d_name, &endp, 10);
            if (qe->d_name[0] == '\0' || *endp != '\0' || qid < 0 || qid > INT32_MAX)
                continue; /* non-numeric queue dirs are skipped, like RocketMQ */
            st_cq_t *cq;
            rc = cq_new(st, te->d_name, strlen(te->d_name), (int32_t)qid, 0, &cq);
            if (rc == ST_OK)
                rc = cq_load(st, cq);
        }
        closedir(qd);
    }
    closedir(td);
    return rc;
}

void st_cq_truncate(st_store_t *st, st_cq_t *cq, int64_t phyEnd)
{
    cq->checkedEnd = 0; /* that record may be gone, and the next written where it stood */
    int64_t q = cq->maxUnits;
    int64_t phy = 0, lastEnd = 0;
    int32_t size = 0;

    while (q > cq->minUnits) {
        if (st_cq_unit(st, cq, q - 1, &phy, &size, NULL) != ST_OK)
            break;
        if (size != ST_CQ_FILLER_SIZE && phy + size > phyEnd) {
            /* zero it so a later recovery does not see it */
            int64_t pos = (q - 1) * ST_CQ_UNIT_SIZE;
            st_mfile_t *f = st_mfiles_get(&cq->files, pos / (int64_t)st->cfg.mappedFileSizeConsumeQueue);
            memset(f->base + (pos - f->start), 0, ST_CQ_UNIT_SIZE);
            mark_dirty(st, f);
            q--;
            continue;
        }
        if (size != ST_CQ_FILLER_SIZE)
            lastEnd = phy + size;
        break;
    }
    if (q != cq->maxUnits)
        LOG_I(ST_MOD, "consume queue %s/%d truncated from %" PRId64 " to %" PRId64,
              cq->topic, cq->queueId, cq->maxUnits, q);
    cq->maxUnits = q;
    cq->maxPhysicOffset = lastEnd;
    if (cq->minUnits > q)
        cq->minUnits = q;
}

void st_cq_correct_min(st_store_t *st, st_cq_t *cq, int64_t minPhy)
{
    int64_t q, phy;
    int32_t size;
    for (q = cq->minUnits; q < cq->maxUnits; q++) {
        if (st_cq_unit(st, cq, q, &phy, &size, NULL) != ST_OK)
            continue;
        if (size != ST_CQ_FILLER_SIZE && phy >= minPhy)
            break;
    }
    cq->minUnits = q;
}

static void cq_free(st_store_t *st, st_cq_t *cq)
{
    st_cq_alloc_forget(st, cq); /* a file made ahead of need and never used is deleted */
    st_mfiles_free(&cq->files);
    free(cq->topic);
    free(cq->dir);
    free(cq);
}

void st_cq_remove(st_store_t *st, st_cq_t *cq)
{
    st_cq_t **pp = &st->buckets[cq->hash & (st->nbuckets - 1)];
    while (*pp && *pp != cq)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = cq->hnext;
    st->ncq--;
    /* first: the allocator may be making a file in its directory, or reserving in one */
    st_cq_alloc_forget(st, cq);
    /* the flush thread may hold these files on its dirty list: keep them mapped until close */
    for (size_t i = 0; i < cq->files.n; i++)
        if (cq->files.v[i])
            st_grave_add(st, cq->files.v[i]);
    cq->files.n = 0;
    rmdir(cq->dir);
    cq_free(st, cq);
}

void st_cq_free_all(st_store_t *st)
{
    for (size_t i = 0; i < st->nbuckets; i++) {
        st_cq_t *c = st->buckets[i];
        while (c) {
            st_cq_t *next = c->hnext;
            cq_free(st, c);
            c = next;
        }
    }
    free(st->buckets);
    st->buckets = NULL;
    st->nbuckets = st->ncq = 0;
}

int st_cq_flush_dirty(st_store_t *st, int thorough)
{
    int rc = ST_OK;
    int64_t least = thorough ? 0 : (int64_t)st->cfg.flushConsumeQueueLeastPages * 4096;
    st_mfile_t *keep = NULL, *keepTail = NULL;
    pthread_mutex_lock(&st->mu);
    st_mfile_t *f = st->dirtyHead;
    st->dirtyHead = NULL;
    pthread_mutex_unlock(&st->mu);
    while (f) {
        st_mfile_t *next = f->next_dirty;
        int64_t end = atomic_load_explicit(&f->wroteEnd, memory_order_acquire);
        if (end - f->syncedEnd < least && end < (int64_t)f->size) { /* (a full file: now) */
            /* too little new: it stays dirty, on the list, for a later pass */
            f->next_dirty = NULL;
            if (keepTail)
                keepTail->next_dirty = f;
            else
                keep = f;
            keepTail = f;
        } else {
            atomic_store(&f->dirty, 0); /* before the msync: a write meanwhile lists it again */
            /* a thorough pass takes the whole file (units rewritten below syncedEnd: a
             * truncation's zeros); otherwise the pages written since the last msync */
            uint64_t from = thorough ? 0 : (uint64_t)f->syncedEnd & ~(uint64_t)4095;
            if (st_mfile_sync(f, from, thorough ? f->size : (uint64_t)end) != ST_OK)
                rc = ST_EIO;
            else
                f->syncedEnd = end;
        }
        f = next;
    }
    if (keep) {
        pthread_mutex_lock(&st->mu);
        keepTail->next_dirty = st->dirtyHead;
        st->dirtyHead = keep;
        pthread_mutex_unlock(&st->mu);
    }
    return rc;
}

int st_cq_flush_all(st_store_t *st)
{
    return st_cq_flush_dirty(st, 1);
}
