/* store.c: the store's life cycle and its two paths.
 * open -> lock, load commit log and consume queues, recover (validate records, zero a torn
 * tail, truncate consume queues, rebuild damaged ones (cqrepair.c), re-dispatch), create
 * `abort`, start the flush thread.
 * put  -> reserve room in the last commit-log file (blank + roll when it does not fit), encode
 *         the record straight into the mapping, write its consume-queue unit.
 * get  -> walk consume-queue units, filter by tag code, hand back slices of the mapping.
 * Loop thread for everything; the flush thread only msyncs (commit log and dirty CQ files). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"

static const int64_t default_delay_ms[] = {
    1000, 5000, 10000, 30000, 60000, 120000, 180000, 240000, 300000,
    360000, 420000, 480000, 540000, 600000, 1200000, 1800000, 3600000, 7200000,
};
#define SCHEDULE_TOPIC "SCHEDULE_TOPIC_XXXX"

void st_config_default(st_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->mappedFileSizeCommitLog = 1024ull * 1024 * 1024;
    c->mappedFileSizeConsumeQueue = 300000ull * ST_CQ_UNIT_SIZE;
    c->maxMessageSize = 4 * 1024 * 1024;
    c->flushDiskType = ST_ASYNC_FLUSH;
    c->flushIntervalCommitLog = 500;
    c->flushIntervalConsumeQueue = 1000;
    c->flushConsumeQueueLeastPages = 2;
    c->flushConsumeQueueThoroughInterval = 60000;
    c->checkCRCOnRecover = 1;
    c->flushCommitLogLeastPages = 4;
    c->flushCommitLogThoroughInterval = 10000;
    c->fileReservedTime = 72;
    c->deleteWhen = "04";
    c->diskMaxUsedSpaceRatio = 75;
    c->cleanFileForciblyEnable = 1;
    c->diskSpaceCleanForciblyRatio = 85;
    c->diskSpaceWarningLevelRatio = 90;
    c->messageIndexEnable = 1;
    c->maxHashSlotNum = 5000000;
    c->maxIndexNum = 20000000;
    c->storeHostIp = 0x7F000001;
    c->storeHostPort = 10911;
    c->maxTransferBytesOnMessageInMemory = 256 * 1024;
    c->maxTransferCountOnMessageInMemory = 32;
    c->maxTransferBytesOnMessageInDisk = 64 * 1024;
    c->maxTransferCountOnMessageInDisk = 8;
    c->accessMessageInMemoryMaxRatio = 40;
}

const char *st_get_status_name(st_get_status_t s)
{
    static const char *names[] = {
        "FOUND", "NO_MATCHED_MESSAGE", "MESSAGE_WAS_REMOVING", "OFFSET_FOUND_NULL",
        "OFFSET_OVERFLOW_BADLY", "OFFSET_OVERFLOW_ONE", "OFFSET_TOO_SMALL",
        "NO_MATCHED_LOGIC_QUEUE", "NO_MESSAGE_IN_QUEUE",
    };
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "UNKNOWN";
}

/* ---- helpers ----------------------------------------------------------------------------- */

static char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (p) {
        memcpy(p, a, la);
        p[la] = '/';
        memcpy(p + la + 1, b, lb + 1);
    }
    return p;
}

int64_t st_max_phy_offset(st_store_t *st) { return atomic_load(&st->wrote); }

int64_t st_min_phy_offset(st_store_t *st)
{
    return st->cl.n ? st->cl.v[0]->start : atomic_load(&st->wrote);
}

/* tagsCode for a record: TAGS hash, or for a delayed message in the schedule topic its
 * delivery time (RocketMQ's checkMessageAndReturnSize does the same). */
static int64_t tags_code_of(const st_store_t *st, const char *topic, size_t tlen,
                            const char *props, size_t plen, int64_t storeTs)
{
    const char *v;
    size_t vl;
    if (tlen == sizeof(SCHEDULE_TOPIC) - 1 && memcmp(topic, SCHEDULE_TOPIC, tlen) == 0 &&
        st_props_get(props, plen, "DELAY", &v, &vl) == ST_OK) {
        char num[16];
        if (vl < sizeof(num)) {
            memcpy(num, v, vl);
            num[vl] = '\0';
            long lvl = strtol(num, NULL, 10);
            if (lvl > st->cfg.delayLevelCount)
                lvl = st->cfg.delayLevelCount;
            if (lvl > 0)
                return storeTs + st->cfg.delayLevelMs[lvl - 1];
        }
    }
    if (st_props_get(props, plen, "TAGS", &v, &vl) == ST_OK)
        return st_tags_code(v, vl);
    return 0;
}

static int is_dispatched_type(int32_t sysFlag)
{
    int32_t t = sysFlag & ST_SYSFLAG_TX_MASK;
    return t == ST_SYSFLAG_TX_NOT || t == ST_SYSFLAG_TX_COMMIT;
}

int64_t st_rec_tags_code(const st_store_t *st, const st_record_t *r)
{
    return tags_code_of(st, r->topic, r->topicLen, r->properties, r->propertiesLen,
                        r->storeTimestamp);
}

int st_rec_dispatched(const st_record_t *r) { return is_dispatched_type(r->sysFlag); }

/* ---- commit-log files -------------------------------------------------------------------- */

int st_cl_new_file(st_store_t *st, int64_t start, st_mfile_t **out)
{
    st_mfile_t *f;
    int rc = st_mfile_open(st->clDir, start, st_cl_fsize(st), 1, &f);
    if (rc != ST_OK)
        return rc;
    pthread_mutex_lock(&st->mu);
    rc = st_mfiles_set(&st->cl, start / (int64_t)st_cl_fsize(st), f);
    pthread_mutex_unlock(&st->mu);
    if (rc != ST_OK) {
        unlink(f->path);
        st_mfile_close(f);
        return rc;
    }
    if (st->cfg.flushDiskType == ST_SYNC_FLUSH) {
        st_mfile_advise_writing(f, 1);
        if (start >= (int64_t)st_cl_fsize(st))
            st_mfile_advise_writing(st_cl_file_at(st, start - 1), 0);
    }
    *out = f;
    return ST_OK;
}

/* Find room for `need` contiguous bytes. Writes the end-of-file blank and rolls when the last
 * file cannot hold need + 8 (a blank header must always fit after a record). */
static int cl_reserve(st_store_t *st, size_t need, st_mfile_t **fo, uint64_t *posOut)
{
    uint64_t fsz = st_cl_fsize(st);
    int64_t w = atomic_load(&st->wrote);
    st_mfile_t *f;
    int rc;

    if (need + 8 > fsz)
        return ST_EMSG_ILLEGAL;
    f = st_cl_file_at(st, w);
    if (!f && (rc = st_cl_new_file(st, w - w % (int64_t)fsz, &f)) != ST_OK)
        return rc;
    uint64_t pos = (uint64_t)(w - f->start);
    if (need + 8 > fsz - pos) {
        uint8_t *b = f->base + pos;
        cm_wbe32(b, (uint32_t)(fsz - pos));
        cm_wbe32(b + 4, ST_BLANK_MAGIC);
        w = f->start + (int64_t)fsz;
        atomic_store(&st->wrote, w);
        if ((rc = st_cl_new_file(st, w, &f)) != ST_OK)
            return rc;
        pos = 0;
    }
    *fo = f;
    *posOut = pos;
    return ST_OK;
}

static int64_t next_store_ts(st_store_t *st)
{
    int64_t now = cm_now_ms();
    if (now < st->lastStoreTs)
        now = st->lastStoreTs; /* keep store times monotonic in file order */
    st->lastStoreTs = now;
    return now;
}

static void fill_hosts(const st_store_t *st, const st_msg_t *m, st_record_t *r)
{
    cm_wbe32(r->bornHost, m->bornHostIp);
    r->bornPort = m->bornHostPort;
    cm_wbe32(r->storeHost, st->cfg.storeHostIp);
    r->storePort = st->cfg.storeHostPort;
}

static int check_msg(const st_store_t *st, const st_msg_t *m, size_t *tlen)
{
    if (!st->writable)
        return ST_ENOTWRITABLE;
    if (st->cfg.slave)
        return ST_ESLAVE;
    if (atomic_load(&st->diskFull))
        return ST_EDISKFULL;
    if (atomic_load(&st->flushFailing))
        return ST_EFLUSH; /* after a failed msync the page cache may hold lost writes: stop */
    if (!m->topic)
        return ST_EMSG_ILLEGAL;
    *tlen = strlen(m->topic);
    if (*tlen == 0 || *tlen > ST_MAX_TOPIC_LEN)
        return ST_EMSG_ILLEGAL;
    if (m->bodyLen > st->cfg.maxMessageSize || (m->bodyLen && !m->body))
        return ST_EMSG_ILLEGAL;
    if (m->propertiesLen > ST_MAX_PROPS_LEN)
        return ST_EPROPS_TOO_LONG;
    if (m->propertiesLen && !m->properties)
        return ST_EMSG_ILLEGAL;
    if (m->queueId < 0)
        return ST_EMSG_ILLEGAL;
    return ST_OK;
}

/* The message (and its consume-queue units) is complete: publish its store time for the
 * checkpoint, and in SYNC_FLUSH wake the group commit (the caller waits for
 * st_flushed_offset() to pass phyOffset + size). */
static int after_put(st_store_t *st, int64_t storeTs)
{
    atomic_store(&st->lastPutTs, storeTs);
    if (st->cfg.flushDiskType == ST_SYNC_FLUSH)
        st_flush_kick(st);
    return ST_OK;
}

void st_put_result_init(st_put_result_t *r)
{
    memset(r, 0, sizeof(*r));
    cm_buf_init(&r->msgIds);
}

void st_put_result_free(st_put_result_t *r)
{
    cm_buf_free(&r->msgIds);
}

int st_put(st_store_t *st, const st_msg_t *m, st_put_result_t *res)
{
    size_t tlen;
    st_cq_t *cq = NULL;
    st_mfile_t *f;
    uint64_t pos;
    int rc;

    if ((rc = check_msg(st, m, &tlen)) != ST_OK)
        return rc;
    uint64_t t0 = st_now_ns();
    int32_t sysFlag = m->sysFlag & ~(ST_SYSFLAG_BORNHOST_V6 | ST_SYSFLAG_STOREHOST_V6);
    int dispatch = is_dispatched_type(sysFlag);
    if (dispatch && (rc = st_cq_get_or_create(st, m->topic, tlen, m->queueId, &cq)) != ST_OK)
        return rc;
    /* everything that can fail for lack of disk happens before the record is written */
    if (cq && (rc = st_cq_prepare(st, cq, cq->maxUnits)) != ST_OK)
        return rc;
    uint64_t t1 = st_now_ns();
    size_t need = st_record_size(sysFlag, m->bodyLen, tlen, m->propertiesLen);
    if ((rc = cl_reserve(st, need, &f, &pos)) != ST_OK)
        return rc;

    st_record_t r;
    memset(&r, 0, sizeof(r));
    r.bodyCRC = m->bodyLen ? cm_crc32(m->body, m->bodyLen) : 0;
    r.queueId = m->queueId;
    r.flag = m->flag;
    r.queueOffset = cq ? cq->maxUnits : 0;
    r.physicOffset = f->start + (int64_t)pos;
    r.sysFlag = sysFlag;
    r.bornTimestamp = m->bornTimestamp;
    r.storeTimestamp = next_store_ts(st);
    fill_hosts(st, m, &r);
    r.reconsumeTimes = m->reconsumeTimes;
    r.preparedTransactionOffset = m->preparedTransactionOffset;
    r.body = m->body;
    r.bodyLen = m->bodyLen;
    r.topic = m->topic;
    r.topicLen = (uint32_t)tlen;
    st_rec_encode_parts(f->base + pos, &r, m->properties, m->propertiesLen, 0, NULL, 0);
    atomic_store(&st->wrote, r.physicOffset + (int64_t)need);
    uint64_t t2 = st_now_ns();

    if (cq) {
        int64_t tags = tags_code_of(st, m->topic, tlen, m->properties, m->propertiesLen,
                                    r.storeTimestamp);
        rc = st_cq_put(st, cq, r.queueOffset, r.physicOffset, (int32_t)need, tags);
        if (rc != ST_OK) {
            LOG_E(ST_MOD, "consume queue write failed for %s/%d: %s; store not writable",
                  m->topic, m->queueId, st_strerror(rc));
            st->writable = 0;
            return rc;
        }
    }
    r.properties = m->properties;
    r.propertiesLen = m->propertiesLen;
    uint64_t t3 = st_now_ns();
    st_index_record(st, &r, r.physicOffset);
    uint64_t t4 = st_now_ns();
    st_hist_add(&st->phases.append, t2 - t1);
    st_hist_add(&st->phases.cq, (t1 - t0) + (t3 - t2));
    if (st->cfg.messageIndexEnable)
        st_hist_add(&st->phases.index, t4 - t3);
    rc = after_put(st, r.storeTimestamp);

    res->phyOffset = r.physicOffset;
    res->size = (int32_t)need;
    res->queueOffset = r.queueOffset;
    res->count = 1;
    res->storeTimestamp = r.storeTimestamp;
    st_msg_id_encode(st->cfg.storeHostIp, st->cfg.storeHostPort, r.physicOffset, res->msgId);
    cm_buf_reset(&res->msgIds);
    if (cm_buf_append(&res->msgIds, res->msgId, ST_MSG_ID_LEN) != 0 && rc == ST_OK)
        rc = ST_ENOMEM;
    return rc;
}

static int batch_needs_sep(const st_batch_entry_t *e, size_t hl)
{
    return e->propertiesLen > 0 && hl > 0 && e->properties[e->propertiesLen - 1] != ST_PROP_SEP;
}

int st_put_batch(st_store_t *st, const st_msg_t *m, const uint8_t *batch, size_t batchLen,
                 st_put_result_t *res)
{
    size_t tlen, total = 0;
    st_cq_t *cq = NULL;
    st_batch_iter_t it;
    st_batch_entry_t e;
    st_mfile_t *f;
    uint64_t pos;
    int rc, count = 0;

    st_msg_t hdr = *m;
    hdr.body = NULL;
    hdr.bodyLen = 0;
    if ((rc = check_msg(st, &hdr, &tlen)) != ST_OK)
        return rc;
    if (!batch || batchLen == 0 || batchLen > st->cfg.maxMessageSize)
        return ST_EMSG_ILLEGAL;
    int32_t sysFlag = m->sysFlag & ~(ST_SYSFLAG_BORNHOST_V6 | ST_SYSFLAG_STOREHOST_V6);
    if ((sysFlag & ST_SYSFLAG_TX_MASK) != ST_SYSFLAG_TX_NOT)
        return ST_EMSG_ILLEGAL;
    size_t hl = m->propertiesLen;

    /* pass 1: validate and size every entry */
    st_batch_iter_init(&it, batch, batchLen);
    while ((rc = st_batch_next(&it, &e)) == 1) {
        size_t pl = e.propertiesLen + hl + (batch_needs_sep(&e, hl) ? 1 : 0);
        if (pl > ST_MAX_PROPS_LEN)
            return ST_EPROPS_TOO_LONG;
        total += st_record_size(sysFlag, e.bodyLen, tlen, pl);
        count++;
    }
    if (rc < 0 || count == 0)
        return ST_EMSG_ILLEGAL;
    uint64_t t0 = st_now_ns();
    if ((rc = st_cq_get_or_create(st, m->topic, tlen, m->queueId, &cq)) != ST_OK)
        return rc;
    if ((rc = st_cq_prepare(st, cq, cq->maxUnits)) != ST_OK ||
        (rc = st_cq_prepare(st, cq, cq->maxUnits + count - 1)) != ST_OK)
        return rc;
    uint64_t t1 = st_now_ns();
    if ((rc = cl_reserve(st, total, &f, &pos)) != ST_OK)
        return rc;

    /* pass 2: encode straight into the mapping */
    st_record_t r;
    memset(&r, 0, sizeof(r));
    r.queueId = m->queueId;
    r.sysFlag = sysFlag;
    r.bornTimestamp = m->bornTimestamp;
    r.storeTimestamp = next_store_ts(st);
    fill_hosts(st, m, &r);
    r.reconsumeTimes = m->reconsumeTimes;
    r.preparedTransactionOffset = m->preparedTransactionOffset;
    r.topic = m->topic;
    r.topicLen = (uint32_t)tlen;
    int64_t firstPhy = f->start + (int64_t)pos, firstQ = cq->maxUnits;
    int64_t phy = firstPhy, q = firstQ;
    cm_buf_reset(&res->msgIds);
    st_batch_iter_init(&it, batch, batchLen);
    while (st_batch_next(&it, &e) == 1) {
        int sep = batch_needs_sep(&e, hl);
        r.flag = e.flag;
        r.body = e.body;
        r.bodyLen = e.bodyLen;
        r.bodyCRC = e.bodyLen ? cm_crc32(e.body, e.bodyLen) : 0;
        r.queueOffset = q;
        r.physicOffset = phy;
        size_t sz = st_rec_encode_parts(f->base + (phy - f->start), &r, e.properties,
                                        e.propertiesLen, sep, m->properties, hl);
        char id[ST_MSG_ID_LEN + 1];
        st_msg_id_encode(st->cfg.storeHostIp, st->cfg.storeHostPort, phy, id);
        if (q != firstQ)
            cm_buf_putc(&res->msgIds, ',');
        cm_buf_append(&res->msgIds, id, ST_MSG_ID_LEN);
        phy += (int64_t)sz;
        q++;
    }
    atomic_store(&st->wrote, phy);
    uint64_t t2 = st_now_ns(), tIndex = 0;

    /* dispatch: re-read each record's properties from the mapping for the tag code */
    phy = firstPhy;
    for (q = firstQ; q < firstQ + count; q++) {
        st_record_t d;
        const uint8_t *p = f->base + (phy - f->start);
        if (st_record_decode(p, (size_t)(f->start + (int64_t)f->size - phy), 0, &d) != ST_OK) {
            st->writable = 0;
            return ST_EIO; /* cannot happen: we just encoded it */
        }
        int64_t tags = tags_code_of(st, d.topic, d.topicLen, d.properties, d.propertiesLen,
                                    d.storeTimestamp);
        uint64_t ti = st_now_ns();
        st_index_record(st, &d, phy);
        tIndex += st_now_ns() - ti;
        if ((rc = st_cq_put(st, cq, q, phy, d.totalSize, tags)) != ST_OK) {
            LOG_E(ST_MOD, "consume queue write failed for %s/%d: %s; store not writable",
                  m->topic, m->queueId, st_strerror(rc));
            st->writable = 0;
            return rc;
        }
        phy += d.totalSize;
    }
    uint64_t t3 = st_now_ns();
    st_hist_add(&st->phases.append, t2 - t1);
    st_hist_add(&st->phases.cq, (t1 - t0) + (t3 - t2 - tIndex));
    if (st->cfg.messageIndexEnable)
        st_hist_add(&st->phases.index, tIndex);
    rc = after_put(st, r.storeTimestamp);
    res->phyOffset = firstPhy;
    res->size = (int32_t)total;
    res->queueOffset = firstQ;
    res->count = count;
    res->storeTimestamp = r.storeTimestamp;
    memcpy(res->msgId, res->msgIds.data, ST_MSG_ID_LEN);
    res->msgId[ST_MSG_ID_LEN] = '\0';
    return rc;
}

/* ---- reading ----------------------------------------------------------------------------- */

/* How many bytes from phy a reader may see in its commit-log file (*f): written, and with
 * DLedger held by a majority; 0 when none. */
static int64_t cl_avail(st_store_t *st, int64_t phy, st_mfile_t **f)
{
    int64_t w = atomic_load(&st->wrote), vis = atomic_load(&st->visible);
    if (vis < w)
        w = vis; /* a record a majority does not hold yet is not there for readers */
    *f = st_cl_file_at(st, phy);
    if (!*f || phy + 8 > w)
        return 0;
    int64_t avail = w - phy, inFile = (*f)->start + (int64_t)(*f)->size - phy;
    return avail < inFile ? avail : inFile;
}

static int head_ok(const uint8_t *p, int64_t avail, int32_t sizeHint)
{
    int32_t size = (int32_t)cm_be32(p);
    return cm_be32(p + 4) == ST_MSG_MAGIC && size >= 91 && size <= avail && (sizeHint <= 0 || size == sizeHint);
}

/* Locate a record in the written part of the commit log: checks size and magic only. */
static int cl_locate(st_store_t *st, int64_t phy, int32_t sizeHint, const uint8_t **ptr,
                     uint32_t *len)
{
    st_mfile_t *f;
    int64_t avail = cl_avail(st, phy, &f);
    if (avail <= 0)
        return ST_ENOENT;
    const uint8_t *p = f->base + (phy - f->start);
    if (!head_ok(p, avail, sizeHint))
        return ST_ENOENT;
    *ptr = p;
    *len = (uint32_t)cm_be32(p);
    return ST_OK;
}

int st_record_file(st_store_t *st, int64_t phy, const void *rec, int *fd, int64_t *fileOffset)
{
    st_mfile_t *f = st_cl_file_at(st, phy);
    if (!f || phy < f->start || f->base + (phy - f->start) != (const uint8_t *)rec)
        return ST_ENOENT;
    *fd = f->fd;
    *fileOffset = phy - f->start;
    return ST_OK;
}

int st_read_record_at(st_store_t *st, int64_t phyOffset, const uint8_t **ptr, uint32_t *len)
{
    return cl_locate(st, phyOffset, 0, ptr, len);
}

/* Is record p (len bytes, its size and magic checked) unit q of cq at phy? NULL or why not.
 * The few fields needed, read in place (a full st_record_decode per pulled message cost a
 * measurable share of st_get); len >= 91, the fixed part. */
static const char *record_is_unit(const st_cq_t *cq, int64_t q, int64_t phy, const uint8_t *p, uint32_t len)
{
    int32_t sysFlag = (int32_t)cm_be32(p + 36);
    size_t pos = 48 + ((sysFlag & ST_SYSFLAG_BORNHOST_V6) ? 16 : 4) + 4 + 8 +
                 ((sysFlag & ST_SYSFLAG_STOREHOST_V6) ? 16 : 4) + 4 + 4 + 8;
    if ((int64_t)cm_be64(p + 28) != phy || pos + 4 > len)
        return "not the start of a record of that size";
    uint32_t bodyLen = cm_be32(p + pos);
    pos += 4;
    if (bodyLen >= len - pos)
        return "not the start of a record of that size";
    pos += bodyLen;
    size_t tlen = p[pos++];
    /* a unit copied or shifted by damage can point at a whole, valid record of another
     * queue or offset: handing that out would deliver a wrong message */
    if ((int32_t)cm_be32(p + 12) != cq->queueId || tlen > len - pos ||
        tlen != strlen(cq->topic) || memcmp(p + pos, cq->topic, tlen) != 0)
        return "a record of another queue";
    if ((int64_t)cm_be64(p + 20) != q)
        return "a record of another queue offset";
    return NULL;
}

const char *st_cl_unit_record(st_store_t *st, const st_cq_t *cq, int64_t q, int64_t phy,
                              int32_t size, const uint8_t **ptr, uint32_t *len)
{
    if (phy < st_min_phy_offset(st) || phy >= atomic_load(&st->wrote))
        return "outside the commit log";
    if (cl_locate(st, phy, size, ptr, len) != ST_OK)
        return "not the start of a record of that size";
    return record_is_unit(cq, q, phy, *ptr, *len);
}

/* st_cl_unit_record, reading a record of up to 4 KiB by pread: on a virtual machine the first
 * touch of a mapped page since its writeback stalls for microseconds (one such read per pull
 * was 14 % of the broker's time draining a backlog), a pread of it costs a system call. */
static const char *unit_record_read(st_store_t *st, const st_cq_t *cq, int64_t q, int64_t phy, int32_t size)
{
    uint8_t buf[4096];
    const uint8_t *p;
    uint32_t len;
    st_mfile_t *f;
    int64_t avail;
    if (size < 91 || size > (int32_t)sizeof buf || phy < st_min_phy_offset(st) || (avail = cl_avail(st, phy, &f)) <= 0 ||
        f->fd < 0 || pread(f->fd, buf, (size_t)size, (off_t)(phy - f->start)) != size)
        return st_cl_unit_record(st, cq, q, phy, size, &p, &len);
    if (!head_ok(buf, avail, size))
        return "not the start of a record of that size";
    return record_is_unit(cq, q, phy, buf, (uint32_t)size);
}

static int record_store_ts(st_store_t *st, int64_t phy, int32_t size, int64_t *ts)
{
    const uint8_t *p;
    uint32_t len;
    if (cl_locate(st, phy, size, &p, &len) != ST_OK)
        return ST_ENOENT;
    int32_t sysFlag = (int32_t)cm_be32(p + 36);
    size_t off = 48 + ((sysFlag & ST_SYSFLAG_BORNHOST_V6) ? 20 : 8);
    *ts = (int64_t)cm_be64(p + off);
    return ST_OK;
}

void st_get_result_init(st_get_result_t *r)
{
    memset(r, 0, sizeof(*r));
}

void st_get_result_free(st_get_result_t *r)
{
    free(r->msgs);
    free(r->phys);
    memset(r, 0, sizeof(*r));
}

/* A unit that does not point at its own record: skipped by the pull. Logged once per queue
 * and open (no log line per message on the hot path); the next open's checks or an operator
 * deleting the queue's files rebuild it from the commit log. */
static void unit_damaged(st_cq_t *cq, int64_t q, int64_t phy, int32_t size, const char *why)
{
    if (cq->damageLogged)
        return;
    cq->damageLogged = 1;
    LOG_W(ST_MOD, "consume queue %s/%d: unit %" PRId64 " (commit-log offset %" PRId64
          ", size %d) points %s; skipping it (further bad units of this queue are skipped "
          "silently)", cq->topic, cq->queueId, q, phy, (int)size, why);
}

/* Records that follow each other in the commit log and in the queue: res->msgs[first, n), at
 * queue offsets firstQ.. and commit-log offsets from the first record's up to `end`, all in
 * `file`. Only the first and the last record of a run are read to check them: a pull of a
 * backlog otherwise touched every page it sent (by sendfile, which does not need them mapped),
 * and on a virtual machine the first touch of a page since its writeback is dear (~1 us; that
 * read was 26 % of the broker's time while draining a backlog with pulls of 32). Unit q at the
 * start of its own record and unit q+k at the start of its own, with the units between chaining
 * record after record, leave no room for a record of another queue or offset: the damage the
 * full checks catch (a unit beyond the log, inside a record, at another queue's or offset's
 * record, zeroed) breaks the chain or fails the check of the last record, and then every record
 * of the run is checked. A run that chains on from the last record the previous pull of the
 * queue checked (cq->checkedQ, ending at cq->checkedEnd) needs no check of its first. */
typedef struct run {
    uint32_t first;
    int firstChecked;
    int64_t firstQ, lastQ, end;
    st_mfile_t *file;
} run_t;

static int result_grow(st_get_result_t *res, uint32_t cap)
{
    struct iovec *nv = realloc(res->msgs, cap * sizeof(*nv));
    if (!nv)
        return ST_ENOMEM;
    res->msgs = nv;
    int64_t *np = realloc(res->phys, cap * sizeof(*np));
    if (!np)
        return ST_ENOMEM;
    res->phys = np;
    res->cap = cap;
    return ST_OK;
}

static int fits(const st_mfile_t *f, int64_t phy, int32_t size)
{
    return f && phy >= f->start && phy + size <= f->start + (int64_t)f->size;
}

static int run_extends(const run_t *run, const st_get_result_t *res, int64_t q, int64_t phy, int32_t size)
{
    return run->file && res->n > run->first && q == run->lastQ + 1 && phy == run->end && fits(run->file, phy, size);
}

static void run_start(st_store_t *st, run_t *run, const st_get_result_t *res, int64_t q, int64_t phy, int checked)
{
    run->first = res->n;
    run->firstChecked = checked;
    run->firstQ = q;
    run->file = st_cl_file_at(st, phy);
}

/* A run that chains on from the record the queue's previous pull checked last. */
static int run_continues(st_store_t *st, const st_cq_t *cq, run_t *run, const st_get_result_t *res, int64_t q,
                         int64_t phy, int32_t size)
{
    if (cq->checkedEnd <= 0 || q != cq->checkedQ + 1 || phy != cq->checkedEnd || !fits(st_cl_file_at(st, phy), phy, size))
        return 0;
    run_start(st, run, res, q, phy, 0);
    return 1;
}

/* Check the last record of a run; when it is not its own, check each record and drop those
 * that are not. A run that ends checked is where the queue's next pull may chain on from. */
static void run_close(st_store_t *st, st_cq_t *cq, run_t *run, st_get_result_t *res)
{
    const uint8_t *p;
    uint32_t len, n = res->n, kept;
    if (!run->file || n == run->first)
        goto done;
    if ((run->firstChecked && n == run->first + 1) ||
        !unit_record_read(st, cq, run->lastQ, res->phys[n - 1], (int32_t)res->msgs[n - 1].iov_len)) {
        cq->checkedQ = run->lastQ;
        cq->checkedEnd = run->end;
        goto done;
    }
    cq->checkedEnd = 0;
    kept = run->first + (run->firstChecked ? 1 : 0);
    for (uint32_t k = kept; k < n; k++) {
        int64_t q = run->firstQ + (k - run->first);
        const char *why = st_cl_unit_record(st, cq, q, res->phys[k], (int32_t)res->msgs[k].iov_len, &p, &len);
        if (why) {
            unit_damaged(cq, q, res->phys[k], (int32_t)res->msgs[k].iov_len, why);
            res->totalBytes -= res->msgs[k].iov_len;
            continue;
        }
        res->msgs[kept] = res->msgs[k];
        res->phys[kept++] = res->phys[k];
    }
    res->n = kept;
done:
    run->file = NULL;
}

static int batch_full(const st_store_t *st, uint32_t size, int32_t maxMsgNums, uint64_t maxBytes,
                      const st_get_result_t *r, int inDisk)
{
    if (r->n == 0)
        return 0;
    if ((uint32_t)maxMsgNums <= r->n)
        return 1;
    if (maxBytes && r->totalBytes + size > maxBytes)
        return 1;
    if (inDisk)
        return r->totalBytes + size > st->cfg.maxTransferBytesOnMessageInDisk ||
               r->n > st->cfg.maxTransferCountOnMessageInDisk - 1;
    return r->totalBytes + size > st->cfg.maxTransferBytesOnMessageInMemory ||
           r->n > st->cfg.maxTransferCountOnMessageInMemory - 1;
}

static int code_match(const st_filter_t *flt, int64_t tags)
{
    if (!flt || flt->ncodes == 0)
        return 1;
    for (size_t i = 0; i < flt->ncodes; i++)
        if (flt->codes[i] == tags)
            return 1;
    return 0;
}

int st_get(st_store_t *st, const char *topic, int32_t queueId, int64_t offset,
           int32_t maxMsgNums, uint64_t maxBytes, const st_filter_t *filter,
           st_get_result_t *res)
{
    res->n = 0;
    res->totalBytes = 0;
    res->suggestPullingFromSlave = 0;
    res->minOffset = res->maxOffset = 0;
    if (!topic)
        return ST_EINVAL;
    if (maxMsgNums <= 0)
        maxMsgNums = 1;
    st_cq_t *cq = st_cq_find(st, topic, strlen(topic), queueId);
    if (!cq) {
        res->status = ST_GET_NO_MATCHED_LOGIC_QUEUE;
        res->nextBeginOffset = 0;
        return ST_OK;
    }
    int64_t min = cq->minUnits, max = st_cq_visible_max(st, cq);
    res->minOffset = min;
    res->maxOffset = max;
    if (max == 0) {
        res->status = ST_GET_NO_MESSAGE_IN_QUEUE;
        res->nextBeginOffset = 0;
        return ST_OK;
    }
    if (offset < min) {
        res->status = ST_GET_OFFSET_TOO_SMALL;
        res->nextBeginOffset = min;
        return ST_OK;
    }
    if (offset == max) {
        res->status = ST_GET_OFFSET_OVERFLOW_ONE;
        res->nextBeginOffset = offset;
        return ST_OK;
    }
    if (offset > max) {
        res->status = ST_GET_OFFSET_OVERFLOW_BADLY;
        res->nextBeginOffset = max;
        return ST_OK;
    }

    uint64_t cqfsz = st->cfg.mappedFileSizeConsumeQueue;
    int64_t unitsPerFile = (int64_t)(cqfsz / ST_CQ_UNIT_SIZE);
    int64_t fileNo = offset / unitsPerFile;
    if (!st_mfiles_get(&cq->files, fileNo)) {
        res->status = ST_GET_OFFSET_FOUND_NULL;
        res->nextBeginOffset = (fileNo + 1) * unitsPerFile;
        return ST_OK;
    }
    /* one CQ file per pull, like RocketMQ's getIndexBuffer */
    int64_t limit = (fileNo + 1) * unitsPerFile;
    if (limit > max)
        limit = max;
    int64_t scanBytes = (int64_t)maxMsgNums * ST_CQ_UNIT_SIZE;
    int64_t maxScan = (scanBytes > 16000 ? scanBytes : 16000) / ST_CQ_UNIT_SIZE;
    if (res->cap < 32 && result_grow(res, 32) != ST_OK)
        return ST_ENOMEM;

    int64_t clMax = atomic_load(&st->wrote), clMin = st_min_phy_offset(st);
    uint64_t memLimit = st->physRam / 100 * (uint64_t)st->cfg.accessMessageInMemoryMaxRatio;
    int64_t nextPhyFileStart = INT64_MIN, maxPhyPulled = 0;
    uint64_t clfsz = st_cl_fsize(st);
    st_get_status_t status = ST_GET_NO_MATCHED_MESSAGE;
    int64_t i;

    run_t run = {.first = 0};
    for (i = 0; offset + i < limit && i < maxScan; i++) {
        int64_t phy, tags;
        int32_t size;
        if (st_cq_unit(st, cq, offset + i, &phy, &size, &tags) != ST_OK)
            break;
        if (size == ST_CQ_FILLER_SIZE || size <= 0 || phy < 0 || phy >= clMax) {
            if (size != ST_CQ_FILLER_SIZE)
                unit_damaged(cq, offset + i, phy, size, "outside the commit log");
            continue; /* a damaged unit costs itself only, never the units after it */
        }
        maxPhyPulled = phy;
        if (nextPhyFileStart != INT64_MIN && phy < nextPhyFileStart)
            continue;
        int inDisk = (uint64_t)(clMax - phy) > memLimit;
        if (batch_full(st, (uint32_t)size, maxMsgNums, maxBytes, res, inDisk))
            break;
        if (!code_match(filter, tags)) {
            if (res->n == 0)
                status = ST_GET_NO_MATCHED_MESSAGE;
            continue;
        }
        const uint8_t *p;
        uint32_t len = (uint32_t)size;
        if (phy < clMin) {
            /* retention deleted its file: skip the units that point into the same file */
            if (res->n == 0)
                status = ST_GET_MESSAGE_WAS_REMOVING;
            nextPhyFileStart = phy - phy % (int64_t)clfsz + (int64_t)clfsz;
            continue;
        }
        int needRecord = filter && filter->match;
        if (!needRecord && run_extends(&run, res, offset + i, phy, size)) {
            p = run.file->base + (phy - run.file->start);
        } else {
            run_close(st, cq, &run, res);
            if (!needRecord && run_continues(st, cq, &run, res, offset + i, phy, size)) {
                p = run.file->base + (phy - run.file->start);
            } else {
                const char *why = st_cl_unit_record(st, cq, offset + i, phy, size, &p, &len);
                if (why) {
                    unit_damaged(cq, offset + i, phy, size, why);
                    continue;
                }
                run_start(st, &run, res, offset + i, phy, 1);
            }
        }
        if (needRecord && !filter->match(filter->arg, tags, p, len)) {
            if (res->n == 0)
                status = ST_GET_NO_MATCHED_MESSAGE;
            continue;
        }
        if (res->n == res->cap && result_grow(res, res->cap * 2) != ST_OK)
            return ST_ENOMEM;
        res->msgs[res->n].iov_base = (void *)p;
        res->msgs[res->n].iov_len = len;
        res->phys[res->n] = phy;
        res->n++;
        run.end = phy + (int64_t)len;
        run.lastQ = offset + i;
        res->totalBytes += len;
        status = ST_GET_FOUND;
        nextPhyFileStart = INT64_MIN;
    }
    run_close(st, cq, &run, res);
    if (res->n == 0 && status == ST_GET_FOUND)
        status = ST_GET_NO_MATCHED_MESSAGE; /* the run's checks dropped every record */
    res->status = status;
    res->nextBeginOffset = offset + i;
    res->suggestPullingFromSlave = (uint64_t)(clMax - maxPhyPulled) > memLimit;
    return ST_OK;
}

/* ---- queries ----------------------------------------------------------------------------- */

int64_t st_max_offset(st_store_t *st, const char *topic, int32_t queueId)
{
    st_cq_t *cq = st_cq_find(st, topic, strlen(topic), queueId);
    return cq ? st_cq_visible_max(st, cq) : 0;
}

int st_cq_entry(st_store_t *st, const char *topic, int32_t queueId, int64_t offset, int64_t *phy, int32_t *size,
                int64_t *tagsCode)
{
    st_cq_t *cq = st_cq_find(st, topic, strlen(topic), queueId);
    if (!cq || offset < cq->minUnits)
        return ST_ENOENT;
    return st_cq_unit(st, cq, offset, phy, size, tagsCode);
}

int st_queue_exists(st_store_t *st, const char *topic, int32_t queueId)
{
    return st_cq_find(st, topic, strlen(topic), queueId) != NULL;
}

int64_t st_min_offset(st_store_t *st, const char *topic, int32_t queueId)
{
    st_cq_t *cq = st_cq_find(st, topic, strlen(topic), queueId);
    return cq ? cq->minUnits : 0;
}

static int unit_ts(st_store_t *st, st_cq_t *cq, int64_t q, int64_t *ts)
{
    int64_t phy;
    int32_t size;
    const uint8_t *p;
    uint32_t len;
    if (st_cq_unit(st, cq, q, &phy, &size, NULL) != ST_OK || size == ST_CQ_FILLER_SIZE ||
        st_cl_unit_record(st, cq, q, phy, size, &p, &len) != NULL)
        return ST_ENOENT;
    return record_store_ts(st, phy, size, ts);
}

int st_msg_store_time(st_store_t *st, const char *topic, int32_t queueId, int64_t offset,
                      int64_t *ts)
{
    st_cq_t *cq = st_cq_find(st, topic, strlen(topic), queueId);
    if (!cq || offset < cq->minUnits)
        return ST_ENOENT;
    return unit_ts(st, cq, offset, ts);
}

int st_earliest_msg_time(st_store_t *st, const char *topic, int32_t queueId, int64_t *ts)
{
    st_cq_t *cq = st_cq_find(st, topic, strlen(topic), queueId);
    if (!cq)
        return ST_ENOENT;
    for (int64_t q = cq->minUnits; q < cq->maxUnits; q++)
        if (unit_ts(st, cq, q, ts) == ST_OK)
            return ST_OK;
    return ST_ENOENT;
}

int64_t st_offset_by_time(st_store_t *st, const char *topic, int32_t queueId, int64_t timestampMs)
{
    st_cq_t *cq = st_cq_find(st, topic, strlen(topic), queueId);
    if (!cq || cq->maxUnits <= cq->minUnits)
        return cq ? cq->minUnits : 0;
    int64_t lo = cq->minUnits, hi = cq->maxUnits; /* first unit with ts >= target in [lo,hi) */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2, ts;
        if (unit_ts(st, cq, mid, &ts) != ST_OK || ts < timestampMs)
            lo = mid + 1; /* unreadable units count as "left", like RocketMQ */
        else
            hi = mid;
    }
    if (lo >= cq->maxUnits)
        return cq->maxUnits - 1;
    if (lo == cq->minUnits)
        return lo;
    int64_t right, left;
    if (unit_ts(st, cq, lo, &right) != ST_OK)
        return lo;
    if (right == timestampMs)
        return lo;
    if (unit_ts(st, cq, lo - 1, &left) != ST_OK)
        return lo;
    return timestampMs - left > right - timestampMs ? lo : lo - 1;
}

int st_delete_topic(st_store_t *st, const char *topic)
{
    size_t tlen = strlen(topic);
    int found = 0;
    for (size_t b = 0; b < st->nbuckets; b++) {
        st_cq_t *c = st->buckets[b];
        while (c) {
            st_cq_t *next = c->hnext;
            if (strlen(c->topic) == tlen && memcmp(c->topic, topic, tlen) == 0) {
                st_cq_remove(st, c);
                found = 1;
            }
            c = next;
        }
    }
    if (tlen && !memchr(topic, '/', tlen) && strcmp(topic, ".") && strcmp(topic, "..")) {
        char *dir = path_join(st->cqDir, topic);
        if (dir) {
            st_rm_rf(dir);
            free(dir);
        }
    }
    return found ? ST_OK : ST_ENOENT;
}

int64_t st_topic_msg_count(st_store_t *st, const char *topic)
{
    int64_t n = 0;
    for (size_t b = 0; b < st->nbuckets; b++)
        for (st_cq_t *c = st->buckets[b]; c; c = c->hnext)
            if (strcmp(c->topic, topic) == 0)
                n += c->maxUnits - c->minUnits;
    return n;
}

void st_queue_each(st_store_t *st,
                   void (*fn)(void *arg, const char *topic, int32_t queueId, int64_t minOffset,
                              int64_t maxOffset),
                   void *arg)
{
    for (size_t b = 0; b < st->nbuckets; b++)
        for (st_cq_t *c = st->buckets[b]; c; c = c->hnext)
            fn(arg, c->topic, c->queueId, c->minUnits, c->maxUnits);
}

/* ---- open / recovery / close ------------------------------------------------------------- */

static int load_commitlog(st_store_t *st)
{
    int64_t *starts;
    size_t n;
    uint64_t fsz = st_cl_fsize(st);
    int rc = st_list_numbered(st->clDir, &starts, &n);
    if (rc != ST_OK)
        return rc;
    for (size_t i = 0; i < n && rc == ST_OK; i++) {
        st_mfile_t *f;
        if (starts[i] % (int64_t)fsz != 0 || (i > 0 && starts[i] != starts[i - 1] + (int64_t)fsz)) {
            LOG_E(ST_MOD, "commit log file %020" PRId64 " misaligned or not contiguous", starts[i]);
            rc = ST_ECORRUPT;
            break;
        }
        rc = st_mfile_open(st->clDir, starts[i], fsz, i + 1 == n ? ST_MFILE_GROW : 0, &f);
        if (rc == ST_OK && (rc = st_mfiles_set(&st->cl, starts[i] / (int64_t)fsz, f)) != ST_OK)
            st_mfile_close(f);
        else if (rc == ST_OK && i + 1 == n && st->cfg.flushDiskType == ST_SYNC_FLUSH)
            st_mfile_advise_writing(f, 1); /* the writer goes on in the last file */
    }
    free(starts);
    return rc;
}

/* Walk records from file index `from`, validating them; returns the end of valid data. */
static int64_t recover_scan(st_store_t *st, size_t from)
{
    uint64_t fsz = st_cl_fsize(st);
    int64_t end = st->cl.v[from]->start;
    for (size_t i = from; i < st->cl.n; i++) {
        st_mfile_t *f = st->cl.v[i];
        uint64_t pos = 0;
        int nextFile = 0;
        while (pos < fsz) {
            st_record_t r;
            int rc = st_record_decode(f->base + pos, fsz - pos, st->cfg.checkCRCOnRecover, &r);
            if (rc == ST_OK) {
                if (r.physicOffset != f->start + (int64_t)pos) {
                    LOG_W(ST_MOD, "record at %" PRId64 " claims offset %" PRId64 "; stopping",
                          f->start + (int64_t)pos, r.physicOffset);
                    break;
                }
                if (r.storeTimestamp > st->lastStoreTs)
                    st->lastStoreTs = r.storeTimestamp;
                pos += (uint64_t)r.totalSize;
                continue;
            }
            if (rc == ST_EBLANK && pos + (uint64_t)r.totalSize == fsz) {
                pos = fsz;
                nextFile = 1;
                break;
            }
            if (r.totalSize != 0 || r.magic != 0)
                LOG_W(ST_MOD, "commit log: invalid record at %" PRId64 " (%s); truncating",
                      f->start + (int64_t)pos, st_strerror(rc));
            break;
        }
        end = f->start + (int64_t)pos;
        if (!nextFile)
            break;
    }
    return end;
}

/* Dispatch the records in [from, to) to the consume queues and the index (idempotent for
 * units already there). *end gets where it stopped: `to`, or the start of a record that is
 * cut short (a slave's batch ends inside it) or not a record (*bad set). Records of
 * half transactions and rollbacks go to the index only, as in st_put. */
int st_dispatch(st_store_t *st, int64_t from, int64_t to, int64_t *end, int *bad, int *count)
{
    uint64_t fsz = st_cl_fsize(st);
    int64_t phy = from;
    int n = 0, rc = ST_OK;
    *bad = 0;
    while (phy < to) {
        st_mfile_t *f = st_cl_file_at(st, phy);
        if (!f)
            break;
        int64_t fileEnd = f->start + (int64_t)fsz;
        int64_t lim = to < fileEnd ? to : fileEnd;
        st_record_t r;
        rc = st_record_decode(f->base + (phy - f->start), (size_t)(lim - phy), 0, &r);
        if (rc == ST_EBLANK) {
            phy = fileEnd;
            rc = ST_OK;
            continue;
        }
        if (rc != ST_OK) {
            *bad = rc != ST_ETRUNC || lim == fileEnd; /* cut short is fine only before `to` */
            rc = ST_OK;
            break;
        }
        st_index_record(st, &r, phy);
        if (is_dispatched_type(r.sysFlag)) {
            st_cq_t *cq;
            rc = st_cq_get_or_create(st, r.topic, r.topicLen, r.queueId, &cq);
            if (rc == ST_OK) {
                int64_t tags = tags_code_of(st, r.topic, r.topicLen, r.properties,
                                            r.propertiesLen, r.storeTimestamp);
                size_t before = (size_t)cq->maxUnits;
                rc = st_cq_put(st, cq, r.queueOffset, phy, r.totalSize, tags);
                if ((size_t)cq->maxUnits != before)
                    n++;
            }
            if (rc == ST_EINVAL || rc == ST_EMSG_ILLEGAL) { /* its topic or queue fields are nonsense */
                *bad = 1;
                rc = ST_OK;
                break;
            }
            if (rc != ST_OK) {
                LOG_E(ST_MOD, "dispatch of %" PRId64 " failed: %s", phy, st_strerror(rc));
                break;
            }
        }
        if (r.storeTimestamp > st->lastStoreTs)
            st->lastStoreTs = r.storeTimestamp;
        phy += r.totalSize;
    }
    *end = phy;
    if (count)
        *count = n;
    return rc;
}

/* Re-dispatch records in [from, to) to the consume queues (recovery). */
static int redispatch(st_store_t *st, int64_t from, int64_t to)
{
    int64_t end;
    int bad, n;
    int rc = st_dispatch(st, from, to, &end, &bad, &n);
    if (end < to && rc == ST_OK)
        LOG_W(ST_MOD, "re-dispatch stopped at %" PRId64 " (not a record)", end);
    if (n)
        LOG_I(ST_MOD, "re-dispatched %d record(s) to consume queues", n);
    return rc;
}

/* The newest file whose first record is older than what the checkpoint says is on disk
 * (spec §3.2 for the abnormal case), so the work grows with what changed since the last
 * flush, not with the store. */
static size_t checkpoint_start_file(st_store_t *st, int lastExitOK)
{
    int64_t minTs = st_ckpt_min_timestamp(st);
    for (size_t i = st->cl.n; i-- > 0;) {
        st_record_t r;
        st_mfile_t *f = st->cl.v[i];
        if (st_record_decode(f->base, f->size, 0, &r) == ST_OK && r.storeTimestamp > 0 &&
            r.storeTimestamp < minTs && r.physicOffset == f->start) {
            LOG_I(ST_MOD, "%s exit: recovering from commit-log file %zu of %zu (checkpoint)",
                  lastExitOK ? "clean" : "abnormal", i + 1, st->cl.n);
            return i;
        }
    }
    return 0;
}

static int recover(st_store_t *st, int lastExitOK)
{
    int64_t processOffset = 0, scanFrom = 0;
    int rc;

    if (st->cl.n) {
        /* clean exit or not, the checkpoint says where the unflushed part can begin */
        size_t from = checkpoint_start_file(st, lastExitOK);
        scanFrom = st->cl.v[from]->start;
        processOffset = recover_scan(st, from);
        /* drop whole files beyond the valid end, zero the torn tail of the last one */
        while (st->cl.n && st->cl.v[st->cl.n - 1]->start > processOffset) {
            st_mfile_t *f = st->cl.v[--st->cl.n];
            LOG_W(ST_MOD, "commit log: deleting %s beyond the valid end", f->path);
            unlink(f->path);
            st_mfile_close(f);
        }
        st_mfile_t *last = st_cl_file_at(st, processOffset);
        if (last) {
            uint64_t pos = (uint64_t)(processOffset - last->start);
            const uint8_t *p = last->base + pos;
            int dirty = pos + 8 <= last->size && (cm_be32(p) != 0 || cm_be32(p + 4) != 0);
            if (dirty || !lastExitOK)
                st_mfile_zero_tail(last, pos);
        }
    }
    atomic_store(&st->wrote, processOffset);
    atomic_store(&st->flushed, processOffset);
    st->haDispatched = processOffset;
    st_index_truncate(st, processOffset);
    int64_t minPhy = st_min_phy_offset(st);

    int64_t maxCqPhy = 0;
    for (size_t b = 0; b < st->nbuckets; b++)
        for (st_cq_t *c = st->buckets[b]; c; c = c->hnext) {
            if (c->maxPhysicOffset > processOffset)
                st_cq_truncate(st, c, processOffset);
            st_cq_check(st, c, minPhy, processOffset);
        }
    /* damaged consume queues come back from the commit log, which is the truth */
    if ((rc = st_cq_rebuild(st, minPhy, processOffset)) != ST_OK)
        return rc;
    for (size_t b = 0; b < st->nbuckets; b++)
        for (st_cq_t *c = st->buckets[b]; c; c = c->hnext)
            if (c->maxPhysicOffset > maxCqPhy)
                maxCqPhy = c->maxPhysicOffset;
    /* after a crash, re-dispatch everything the scan covered (idempotent for units present) */
    int64_t from = lastExitOK ? maxCqPhy : (scanFrom < maxCqPhy ? scanFrom : maxCqPhy);
    if (from < minPhy)
        from = minPhy;
    if ((rc = redispatch(st, from, processOffset)) != ST_OK)
        return rc;
    for (size_t b = 0; b < st->nbuckets; b++)
        for (st_cq_t *c = st->buckets[b]; c; c = c->hnext)
            st_cq_correct_min(st, c, minPhy);
    LOG_I(ST_MOD, "recovered: commit log [%" PRId64 ", %" PRId64 "), %zu consume queue(s), %s exit",
          minPhy, processOffset, st->ncq, lastExitOK ? "clean" : "abnormal");
    return ST_OK;
}

int st_store_open(const st_config_t *cfg, st_store_t **out)
{
    st_store_t *st;
    int rc = ST_EINVAL;

    *out = NULL;
    if (!cfg || !cfg->storePathRootDir || !cfg->storePathRootDir[0] ||
        cfg->mappedFileSizeCommitLog < 4096 || cfg->mappedFileSizeConsumeQueue < ST_CQ_UNIT_SIZE ||
        cfg->maxMessageSize == 0)
        return ST_EINVAL;
    if (!(st = calloc(1, sizeof(*st))))
        return ST_ENOMEM;
    st->lockFd = -1;
    st->ckptFd = -1;
    atomic_store(&st->visible, INT64_MAX);
    st->cfg = *cfg;
    st->cfg.mappedFileSizeConsumeQueue =
        (cfg->mappedFileSizeConsumeQueue + ST_CQ_UNIT_SIZE - 1) / ST_CQ_UNIT_SIZE * ST_CQ_UNIT_SIZE;
    if (!st->cfg.delayLevelMs || st->cfg.delayLevelCount <= 0) {
        st->cfg.delayLevelMs = default_delay_ms;
        st->cfg.delayLevelCount = (int)(sizeof(default_delay_ms) / sizeof(default_delay_ms[0]));
    }
    if (!st->cfg.maxTransferCountOnMessageInMemory)
        st->cfg.maxTransferCountOnMessageInMemory = 32;
    if (!st->cfg.maxTransferCountOnMessageInDisk)
        st->cfg.maxTransferCountOnMessageInDisk = 8;
    pthread_mutex_init(&st->mu, NULL);
    pthread_mutex_init(&st->idxMu, NULL);
    pthread_mutex_init(&st->idxWakeMu, NULL);
    pthread_mutex_init(&st->ckptMu, NULL);
    pthread_mutex_init(&st->allocMu, NULL);
    pthread_cond_init(&st->allocCv, NULL);
    pthread_cond_init(&st->cqCv, NULL);
    pthread_cond_init(&st->idxWakeCv, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->root = strdup(cfg->storePathRootDir);
    st->clDir = cfg->storePathCommitLog && cfg->storePathCommitLog[0]
                    ? strdup(cfg->storePathCommitLog)
                    : path_join(cfg->storePathRootDir, "commitlog");
    st->cqDir = path_join(cfg->storePathRootDir, "consumequeue");
    st->abortPath = path_join(cfg->storePathRootDir, "abort");
    st->cfg.storePathRootDir = st->root;
    st->cfg.storePathCommitLog = st->clDir;
    if (!st->root || !st->clDir || !st->cqDir || !st->abortPath) {
        rc = ST_ENOMEM;
        goto err;
    }
    rc = ST_EIO;
    if (cm_mkdirs(st->root) != 0 || cm_mkdirs(st->clDir) != 0 || cm_mkdirs(st->cqDir) != 0) {
        LOG_E(ST_MOD, "cannot create store directories under %s: %s", st->root, strerror(errno));
        goto err;
    }

    char *lockPath = path_join(st->root, "lock");
    if (!lockPath) {
        rc = ST_ENOMEM;
        goto err;
    }
    st->lockFd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    free(lockPath);
    if (st->lockFd < 0)
        goto err;
    if (flock(st->lockFd, LOCK_EX | LOCK_NB) != 0) {
        LOG_E(ST_MOD, "store %s is locked by another process", st->root);
        rc = ST_ELOCKED;
        goto err;
    }
    if (pwrite(st->lockFd, "lock", 4, 0) != 4)
        LOG_W(ST_MOD, "cannot write lock file: %s", strerror(errno));

    int lastExitOK = access(st->abortPath, F_OK) != 0;
    if ((rc = st_ckpt_open(st)) != ST_OK)
        goto err;
    if ((rc = load_commitlog(st)) != ST_OK)
        goto err;
    if ((rc = st_cq_load_all(st)) != ST_OK)
        goto err;
    if ((rc = st_index_load(st)) != ST_OK)
        goto err;
    if ((rc = recover(st, lastExitOK)) != ST_OK)
        goto err;
    atomic_store(&st->lastPutTs, st->lastStoreTs);

    int afd = open(st->abortPath, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (afd < 0) {
        rc = ST_EIO;
        goto err;
    }
    close(afd);
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    st->physRam = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 8ull << 30;
    st->writable = 1;
    if (st_index_start(st) != ST_OK)
        LOG_W(ST_MOD, "no index writer thread: message keys are indexed on the caller's thread");
    if (st_cq_alloc_start(st) != ST_OK)
        LOG_W(ST_MOD, "no consume-queue allocator thread: files are created on the caller's thread");
    if ((rc = st_flush_threads_start(st)) != ST_OK)
        goto err;
    *out = st;
    return ST_OK;
err:
    st->writable = 0;
    st_cq_alloc_stop(st);
    st_ckpt_close(st);
    st_index_close(st);
    st_cq_free_all(st);
    st_mfiles_free(&st->cl);
    for (size_t i = 0; i < st->ngrave; i++)
        st_mfile_close(st->grave[i]);
    free(st->grave);
    free(st->graveAt);
    if (st->lockFd >= 0)
        close(st->lockFd);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->idxMu);
    pthread_mutex_destroy(&st->idxWakeMu);
    pthread_mutex_destroy(&st->ckptMu);
    pthread_mutex_destroy(&st->allocMu);
    pthread_cond_destroy(&st->allocCv);
    pthread_cond_destroy(&st->cqCv);
    pthread_cond_destroy(&st->idxWakeCv);
    pthread_cond_destroy(&st->cv);
    free(st->root);
    free(st->clDir);
    free(st->cqDir);
    free(st->abortPath);
    free(st);
    return rc;
}

void st_store_close(st_store_t *st)
{
    if (!st)
        return;
    st_flush_threads_stop(st);
    st_index_stop(st); /* what is queued lands in the files before the final flush */
    st_cq_alloc_stop(st); /* files it made and nobody took are deleted with their queues */
    int ok = st->writable;
    if (st_store_flush(st) != ST_OK)
        ok = 0;
    st_index_close(st);
    st_cq_free_all(st);
    st_mfiles_free(&st->cl);
    for (size_t i = 0; i < st->ngrave; i++)
        st_mfile_close(st->grave[i]);
    free(st->grave);
    free(st->graveAt);
    st_ckpt_close(st);
    if (ok)
        unlink(st->abortPath);
    else
        LOG_W(ST_MOD, "store closed in error state; keeping abort marker");
    if (st->lockFd >= 0)
        close(st->lockFd);
    pthread_mutex_destroy(&st->mu);
    pthread_mutex_destroy(&st->idxMu);
    pthread_mutex_destroy(&st->idxWakeMu);
    pthread_mutex_destroy(&st->ckptMu);
    pthread_mutex_destroy(&st->allocMu);
    pthread_cond_destroy(&st->allocCv);
    pthread_cond_destroy(&st->cqCv);
    pthread_cond_destroy(&st->idxWakeCv);
    pthread_cond_destroy(&st->cv);
    free(st->root);
    free(st->clDir);
    free(st->cqDir);
    free(st->abortPath);
    free(st);
}
