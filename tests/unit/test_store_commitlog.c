/* The store end to end on a temporary directory with tiny files (64 KiB commit-log files,
 * 100-unit consume-queue files): put/get, rolling with blank records, tag filtering, pull
 * status codes, batches, clean restart, and recovery from a torn or corrupted tail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/store.h"

#include "store_fixture.h"

static void reopen(fx_t *f)
{
    st_store_close(f->st);
    f->st = NULL;
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
}

static int put(fx_t *f, const char *topic, int qid, const char *tag, const char *body)
{
    char props[128];
    st_msg_t m;
    memset(&m, 0, sizeof(m));
    m.topic = topic;
    m.queueId = qid;
    m.body = (const uint8_t *)body;
    m.bodyLen = (uint32_t)strlen(body);
    int pl = tag ? snprintf(props, sizeof(props), "TAGS\001%s\002UNIQ_KEY\001X", tag) : 0;
    m.properties = props;
    m.propertiesLen = (uint32_t)pl;
    m.bornTimestamp = 1700000000000;
    m.bornHostIp = 0x7F000001;
    m.bornHostPort = 5555;
    return st_put(f->st, &m, &f->pr);
}

static void decode_slice(const struct iovec *v, st_record_t *r)
{
    assert_int_equal(st_record_decode(v->iov_base, v->iov_len, 1, r), ST_OK);
}

static void test_put_then_get_round_trip(void **state)
{
    fx_t *f = *state;
    char body[32];
    for (int i = 0; i < 10; i++) {
        snprintf(body, sizeof(body), "msg-%d", i);
        assert_int_equal(put(f, "TopicA", i % 2, "TagA", body), ST_OK);
        assert_int_equal(f->pr.queueOffset, i / 2);
        assert_int_equal(f->pr.count, 1);
        uint32_t ip;
        int32_t port;
        int64_t off;
        assert_int_equal(st_msg_id_decode(f->pr.msgId, 32, &ip, &port, &off), ST_OK);
        assert_int_equal(ip, 0x0A000001);
        assert_int_equal(port, 10911);
        assert_int_equal(off, f->pr.phyOffset);
        assert_int_equal(f->pr.msgIds.len, 32);
    }
    assert_int_equal(st_max_offset(f->st, "TopicA", 0), 5);
    assert_int_equal(st_max_offset(f->st, "TopicA", 1), 5);
    assert_int_equal(st_min_offset(f->st, "TopicA", 1), 0);
    assert_int_equal(st_topic_msg_count(f->st, "TopicA"), 10);

    assert_int_equal(st_get(f->st, "TopicA", 1, 0, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.status, ST_GET_FOUND);
    assert_int_equal(f->gr.n, 5);
    assert_int_equal(f->gr.nextBeginOffset, 5);
    assert_int_equal(f->gr.maxOffset, 5);
    uint64_t total = 0;
    int64_t lastTs = 0;
    for (uint32_t i = 0; i < f->gr.n; i++) {
        st_record_t r;
        decode_slice(&f->gr.msgs[i], &r);
        snprintf(body, sizeof(body), "msg-%u", 2 * i + 1);
        assert_int_equal(r.bodyLen, strlen(body));
        assert_memory_equal(r.body, body, r.bodyLen);
        assert_int_equal(r.queueOffset, i);
        assert_int_equal(r.queueId, 1);
        assert_true(r.storeTimestamp >= lastTs);
        lastTs = r.storeTimestamp;
        assert_int_equal(r.bornPort, 5555);
        assert_int_equal(r.storePort, 10911);
        total += f->gr.msgs[i].iov_len;
    }
    assert_int_equal(total, f->gr.totalBytes);

    /* maxMsgNums and maxBytes cap the batch; the first record always goes */
    assert_int_equal(st_get(f->st, "TopicA", 0, 1, 2, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.n, 2);
    assert_int_equal(f->gr.nextBeginOffset, 3);
    assert_int_equal(st_get(f->st, "TopicA", 0, 0, 32, 1, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.n, 1);
    assert_int_equal(f->gr.nextBeginOffset, 1);

    const uint8_t *p;
    uint32_t len;
    assert_int_equal(st_read_record_at(f->st, f->pr.phyOffset, &p, &len), ST_OK);
    assert_int_equal(len, f->pr.size);
    assert_int_equal(st_read_record_at(f->st, f->pr.phyOffset + 1, &p, &len), ST_ENOENT);
    assert_int_equal(st_read_record_at(f->st, st_max_phy_offset(f->st), &p, &len), ST_ENOENT);
}

static void test_roll_over_writes_blank_and_keeps_offsets_dense(void **state)
{
    fx_t *f = *state;
    char body[1001];
    memset(body, 'x', 1000);
    body[1000] = 0;
    int64_t phys[300];
    for (int i = 0; i < 300; i++) {
        assert_int_equal(put(f, "Big", 0, i % 2 ? "odd" : "even", body), ST_OK);
        assert_int_equal(f->pr.queueOffset, i);
        phys[i] = f->pr.phyOffset;
        /* never straddles a file */
        assert_int_equal(phys[i] / CL_SIZE, (phys[i] + f->pr.size - 1) / CL_SIZE);
    }
    assert_true(st_max_phy_offset(f->st) > 4 * CL_SIZE);
    /* the first file ends with a blank record right after its last message */
    int i = 0;
    while (phys[i + 1] < CL_SIZE)
        i++;
    assert_int_equal(phys[i + 1], CL_SIZE);
    char path[128];
    snprintf(path, sizeof(path), "%s/commitlog/%020d", f->dir, 0);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    uint8_t hdr[8];
    int64_t blankAt = phys[i] + (int64_t)f->pr.size;
    assert_int_equal(pread(fd, hdr, 8, blankAt), 8);
    close(fd);
    assert_int_equal(cm_be32(hdr + 4), ST_BLANK_MAGIC);
    assert_int_equal(cm_be32(hdr), CL_SIZE - blankAt);
    snprintf(path, sizeof(path), "%s/commitlog/%020d", f->dir, CL_SIZE);
    assert_int_equal(access(path, F_OK), 0);
    /* consume queue rolled too (100 units per file) */
    snprintf(path, sizeof(path), "%s/consumequeue/Big/0/%020d", f->dir, 2 * CQ_UNITS * ST_CQ_UNIT_SIZE);
    assert_int_equal(access(path, F_OK), 0);

    /* read everything back following nextBeginOffset (a pull stays within one CQ file) */
    int64_t off = 0;
    int seen = 0;
    while (off < 300) {
        assert_int_equal(st_get(f->st, "Big", 0, off, 32, 0, NULL, &f->gr), ST_OK);
        assert_int_equal(f->gr.status, ST_GET_FOUND);
        for (uint32_t k = 0; k < f->gr.n; k++) {
            st_record_t r;
            decode_slice(&f->gr.msgs[k], &r);
            assert_int_equal(r.queueOffset, seen);
            assert_int_equal(r.physicOffset, phys[seen]);
            seen++;
        }
        assert_true(f->gr.n <= 32);
        off = f->gr.nextBeginOffset;
    }
    assert_int_equal(seen, 300);

    /* a record that can never fit a file is refused */
    static char huge[CL_SIZE];
    memset(huge, 'y', sizeof(huge) - 1);
    assert_int_equal(put(f, "Big", 0, NULL, huge), ST_EMSG_ILLEGAL);
    assert_int_equal(st_max_offset(f->st, "Big", 0), 300);
}

static void test_tag_filter_skips_other_tags(void **state)
{
    fx_t *f = *state;
    for (int i = 0; i < 20; i++)
        assert_int_equal(put(f, "T", 0, i % 4 == 0 ? "TagA" : "TagB", "b"), ST_OK);
    int64_t codes[1] = {st_tags_code("TagA", 4)};
    st_filter_t flt = {codes, 1, NULL, NULL};
    assert_int_equal(st_get(f->st, "T", 0, 0, 32, 0, &flt, &f->gr), ST_OK);
    assert_int_equal(f->gr.status, ST_GET_FOUND);
    assert_int_equal(f->gr.n, 5);
    assert_int_equal(f->gr.nextBeginOffset, 20);
    for (uint32_t k = 0; k < f->gr.n; k++) {
        st_record_t r;
        decode_slice(&f->gr.msgs[k], &r);
        assert_int_equal(r.queueOffset % 4, 0);
    }
    /* batch full is checked before the filter (as RocketMQ does): stops right after the
     * second match */
    assert_int_equal(st_get(f->st, "T", 0, 0, 2, 0, &flt, &f->gr), ST_OK);
    assert_int_equal(f->gr.n, 2);
    assert_int_equal(f->gr.nextBeginOffset, 5);
    int64_t none[1] = {st_tags_code("TagZ", 4)};
    st_filter_t nf = {none, 1, NULL, NULL};
    assert_int_equal(st_get(f->st, "T", 0, 3, 32, 0, &nf, &f->gr), ST_OK);
    assert_int_equal(f->gr.status, ST_GET_NO_MATCHED_MESSAGE);
    assert_int_equal(f->gr.n, 0);
    assert_int_equal(f->gr.nextBeginOffset, 20);
}

static int only_even_bodies(void *arg, int64_t tags, const uint8_t *rec, uint32_t len)
{
    st_record_t r;
    (void)arg;
    (void)tags;
    return st_record_decode(rec, len, 0, &r) == ST_OK && r.queueOffset % 2 == 0;
}

static void test_filter_callback_sees_records(void **state)
{
    fx_t *f = *state;
    for (int i = 0; i < 6; i++)
        assert_int_equal(put(f, "T", 0, "x", "b"), ST_OK);
    st_filter_t flt = {NULL, 0, only_even_bodies, NULL};
    assert_int_equal(st_get(f->st, "T", 0, 0, 32, 0, &flt, &f->gr), ST_OK);
    assert_int_equal(f->gr.n, 3);
}

static void test_pull_status_codes_and_next_offsets(void **state)
{
    fx_t *f = *state;
    assert_int_equal(st_get(f->st, "Nope", 0, 5, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.status, ST_GET_NO_MATCHED_LOGIC_QUEUE);
    assert_int_equal(f->gr.nextBeginOffset, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(put(f, "S", 0, NULL, "b"), ST_OK);
    assert_int_equal(st_get(f->st, "S", 0, 3, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.status, ST_GET_OFFSET_OVERFLOW_ONE);
    assert_int_equal(f->gr.nextBeginOffset, 3);
    assert_int_equal(st_get(f->st, "S", 0, 10, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.status, ST_GET_OFFSET_OVERFLOW_BADLY);
    assert_int_equal(f->gr.nextBeginOffset, 3);
    assert_int_equal(st_get(f->st, "S", 0, -1, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.status, ST_GET_OFFSET_TOO_SMALL);
    assert_int_equal(f->gr.nextBeginOffset, 0);
    assert_int_equal(f->gr.minOffset, 0);
    assert_int_equal(f->gr.maxOffset, 3);
    assert_string_equal(st_get_status_name(ST_GET_OFFSET_TOO_SMALL), "OFFSET_TOO_SMALL");
}

static void test_put_limits_are_enforced(void **state)
{
    fx_t *f = *state;
    char topic[200];
    memset(topic, 'a', 128);
    topic[128] = 0;
    assert_int_equal(put(f, topic, 0, NULL, "b"), ST_EMSG_ILLEGAL);
    topic[127] = 0;
    assert_int_equal(put(f, topic, 0, NULL, "b"), ST_OK);
    assert_int_equal(put(f, "", 0, NULL, "b"), ST_EMSG_ILLEGAL);
    assert_int_equal(put(f, "a/b", 0, NULL, "b"), ST_EMSG_ILLEGAL);

    st_msg_t m;
    memset(&m, 0, sizeof(m));
    m.topic = "L";
    static char big[40000];
    memset(big, 'p', sizeof(big));
    m.properties = big;
    m.propertiesLen = 32768;
    assert_int_equal(st_put(f->st, &m, &f->pr), ST_EPROPS_TOO_LONG);
    m.propertiesLen = 0;
    m.body = (const uint8_t *)big;
    m.bodyLen = f->cfg.maxMessageSize + 1;
    assert_int_equal(st_put(f->st, &m, &f->pr), ST_EMSG_ILLEGAL);
}

static void test_prepared_and_rollback_are_not_dispatched(void **state)
{
    fx_t *f = *state;
    st_msg_t m;
    memset(&m, 0, sizeof(m));
    m.topic = "Tx";
    m.body = (const uint8_t *)"half";
    m.bodyLen = 4;
    assert_int_equal(put(f, "Tx", 0, NULL, "plain"), ST_OK);
    m.sysFlag = ST_SYSFLAG_TX_PREPARED;
    assert_int_equal(st_put(f->st, &m, &f->pr), ST_OK);
    assert_int_equal(f->pr.queueOffset, 0);
    int64_t half = f->pr.phyOffset;
    m.sysFlag = ST_SYSFLAG_TX_ROLLBACK;
    assert_int_equal(st_put(f->st, &m, &f->pr), ST_OK);
    m.sysFlag = ST_SYSFLAG_TX_COMMIT;
    m.preparedTransactionOffset = half;
    assert_int_equal(st_put(f->st, &m, &f->pr), ST_OK);
    assert_int_equal(f->pr.queueOffset, 1);
    assert_int_equal(st_max_offset(f->st, "Tx", 0), 2);
    const uint8_t *p;
    uint32_t len;
    st_record_t r;
    assert_int_equal(st_read_record_at(f->st, half, &p, &len), ST_OK);
    assert_int_equal(st_record_decode(p, len, 1, &r), ST_OK);
    assert_int_equal(r.sysFlag & ST_SYSFLAG_TX_MASK, ST_SYSFLAG_TX_PREPARED);
    /* survives a re-dispatch after an abnormal exit */
    st_store_close(f->st);
    char path[128];
    snprintf(path, sizeof(path), "%s/abort", f->dir);
    close(open(path, O_CREAT | O_WRONLY, 0644));
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    assert_int_equal(st_max_offset(f->st, "Tx", 0), 2);
}

static void test_batch_put_stores_consecutive_records(void **state)
{
    fx_t *f = *state;
    uint8_t body[512];
    size_t n = 0;
    const char *bodies[3] = {"first", "second", "third"};
    const char *props[3] = {"TAGS\001A", "TAGS\001B\002", ""};
    for (int i = 0; i < 3; i++) {
        size_t bl = strlen(bodies[i]), pl = strlen(props[i]);
        cm_wbe32(body + n, (uint32_t)(22 + bl + pl));
        cm_wbe32(body + n + 4, 0);
        cm_wbe32(body + n + 8, 0);
        cm_wbe32(body + n + 12, (uint32_t)i);
        cm_wbe32(body + n + 16, (uint32_t)bl);
        memcpy(body + n + 20, bodies[i], bl);
        cm_wbe16(body + n + 20 + bl, (uint16_t)pl);
        memcpy(body + n + 22 + bl, props[i], pl);
        n += 22 + bl + pl;
    }
    assert_int_equal(put(f, "B", 2, NULL, "before"), ST_OK);
    st_msg_t m;
    memset(&m, 0, sizeof(m));
    m.topic = "B";
    m.queueId = 2;
    m.properties = "CLUSTER\001c1";
    m.propertiesLen = 10;
    assert_int_equal(st_put_batch(f->st, &m, body, n, &f->pr), ST_OK);
    assert_int_equal(f->pr.count, 3);
    assert_int_equal(f->pr.queueOffset, 1);
    assert_int_equal(f->pr.msgIds.len, 3 * 32 + 2);
    assert_int_equal(f->pr.msgIds.data[32], ',');
    assert_memory_equal(f->pr.msgIds.data, f->pr.msgId, 32);
    assert_int_equal(st_max_offset(f->st, "B", 2), 4);

    assert_int_equal(st_get(f->st, "B", 2, 1, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.n, 3);
    const char *want[3] = {"TAGS\001A\002CLUSTER\001c1", "TAGS\001B\002CLUSTER\001c1", "CLUSTER\001c1"};
    int64_t phy = f->pr.phyOffset;
    for (int i = 0; i < 3; i++) {
        st_record_t r;
        decode_slice(&f->gr.msgs[i], &r);
        assert_int_equal(r.queueOffset, 1 + i);
        assert_int_equal(r.physicOffset, phy);
        assert_int_equal(r.flag, i);
        assert_int_equal(r.bodyLen, strlen(bodies[i]));
        assert_memory_equal(r.body, bodies[i], r.bodyLen);
        assert_int_equal(r.propertiesLen, strlen(want[i]));
        assert_memory_equal(r.properties, want[i], r.propertiesLen);
        phy += r.totalSize;
    }
    int64_t codes[1] = {st_tags_code("B", 1)};
    st_filter_t flt = {codes, 1, NULL, NULL};
    assert_int_equal(st_get(f->st, "B", 2, 0, 32, 0, &flt, &f->gr), ST_OK);
    assert_int_equal(f->gr.n, 1);

    /* malformed batch and transactional batch refused, nothing written */
    int64_t before = st_max_phy_offset(f->st);
    assert_int_equal(st_put_batch(f->st, &m, body, n - 1, &f->pr), ST_EMSG_ILLEGAL);
    m.sysFlag = ST_SYSFLAG_TX_PREPARED;
    assert_int_equal(st_put_batch(f->st, &m, body, n, &f->pr), ST_EMSG_ILLEGAL);
    assert_int_equal(st_max_phy_offset(f->st), before);
}

/* 1 if this process maps `path` with MADV_RANDOM ("rr" in smaps' VmFlags), 0 if it maps it
 * without, -1 if it does not map it. */
static int mapped_random(const char *path)
{
    FILE *fp = fopen("/proc/self/smaps", "r");
    char line[4600];
    int in = 0, res = -1;
    assert_non_null(fp);
    while (fgets(line, sizeof(line), fp)) {
        size_t n = strlen(line), pl = strlen(path);
        if (strchr(line, '-') == line + strspn(line, "0123456789abcdef") && line[0] != 'V')
            in = n > pl && strncmp(line + n - pl - 1, path, pl) == 0 && line[n - 1] == '\n';
        else if (in && strncmp(line, "VmFlags:", 8) == 0) {
            res = strstr(line, " rr") != NULL;
            in = 0;
        }
    }
    fclose(fp);
    return res;
}

static void assert_random_files(fx_t *f, int64_t randomStart)
{
    char path[4200];
    int64_t last = st_max_phy_offset(f->st) - st_max_phy_offset(f->st) % CL_SIZE;
    for (int64_t s = 0; s <= last; s += CL_SIZE) {
        snprintf(path, sizeof(path), "%s/commitlog/%020lld", f->dir, (long long)s);
        assert_int_equal(mapped_random(path), s == randomStart);
    }
}

static void put_many(fx_t *f, int n)
{
    char body[1001];
    memset(body, 'x', 1000);
    body[1000] = 0;
    for (int i = 0; i < n; i++)
        assert_int_equal(put(f, "Adv", 0, NULL, body), ST_OK);
}

/* With SYNC_FLUSH only the file being written is advised random (so that a group-commit msync
 * writes pages, not large folios); the files behind it read ahead again, and a restart advises
 * the last one. With ASYNC_FLUSH none is. */
static void test_only_the_written_file_is_advised_random(void **state)
{
    fx_t *f = *state;
    put_many(f, 200);
    assert_true(st_max_phy_offset(f->st) >= 2 * CL_SIZE);
    assert_random_files(f, -1); /* ASYNC_FLUSH: none */
    f->cfg.flushDiskType = ST_SYNC_FLUSH;
    reopen(f);
    int64_t last = st_max_phy_offset(f->st) - st_max_phy_offset(f->st) % CL_SIZE;
    assert_random_files(f, last);
    put_many(f, 200);
    assert_true(st_max_phy_offset(f->st) >= last + 2 * CL_SIZE);
    assert_random_files(f, st_max_phy_offset(f->st) - st_max_phy_offset(f->st) % CL_SIZE);
}

static void test_reopen_after_clean_close_keeps_everything(void **state)
{
    fx_t *f = *state;
    char path[128], body[600];
    memset(body, 'z', sizeof(body) - 1);
    body[sizeof(body) - 1] = 0;
    for (int i = 0; i < 250; i++)
        assert_int_equal(put(f, "R", i % 3, "t", body), ST_OK);
    int64_t maxPhy = st_max_phy_offset(f->st);
    snprintf(path, sizeof(path), "%s/abort", f->dir);
    assert_int_equal(access(path, F_OK), 0);

    /* a second store on the same root is refused */
    st_store_t *other = NULL;
    assert_int_equal(st_store_open(&f->cfg, &other), ST_ELOCKED);

    st_store_close(f->st);
    f->st = NULL;
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    assert_int_equal(st_max_phy_offset(f->st), maxPhy);
    assert_int_equal(st_max_offset(f->st, "R", 0), 84);
    assert_int_equal(st_max_offset(f->st, "R", 1), 83);
    assert_int_equal(st_max_offset(f->st, "R", 2), 83);
    assert_int_equal(st_get(f->st, "R", 1, 80, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.n, 3);
    assert_int_equal(put(f, "R", 1, "t", "after"), ST_OK);
    assert_int_equal(f->pr.queueOffset, 83);
    assert_int_equal(f->pr.phyOffset, maxPhy);

    int64_t ts0, ts1;
    assert_int_equal(st_earliest_msg_time(f->st, "R", 0, &ts0), ST_OK);
    assert_int_equal(st_msg_store_time(f->st, "R", 1, 83, &ts1), ST_OK);
    assert_true(ts1 >= ts0);
    assert_int_equal(st_offset_by_time(f->st, "R", 0, 0), 0);
    assert_int_equal(st_offset_by_time(f->st, "R", 0, ts1 + 100000), 83);
    int64_t o = st_offset_by_time(f->st, "R", 1, ts1);
    assert_int_equal(st_msg_store_time(f->st, "R", 1, o, &ts0), ST_OK);
    assert_int_equal(ts0, ts1);
}

static void corrupt_byte(fx_t *f, int64_t phy)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/commitlog/%020lld", f->dir, (long long)(phy - phy % CL_SIZE));
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, phy % CL_SIZE), 1);
    b ^= 0x5A;
    assert_int_equal(pwrite(fd, &b, 1, phy % CL_SIZE), 1);
    close(fd);
}

static void mark_crashed(fx_t *f)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/abort", f->dir);
    close(open(path, O_CREAT | O_WRONLY, 0644));
}

static void test_recovery_drops_torn_tail_and_truncates_consume_queue(void **state)
{
    fx_t *f = *state;
    int64_t phys[6];
    int32_t sizes[6];
    for (int i = 0; i < 6; i++) {
        assert_int_equal(put(f, "C", 0, "t", "payload-payload"), ST_OK);
        phys[i] = f->pr.phyOffset;
        sizes[i] = f->pr.size;
    }
    assert_int_equal(put(f, "Other", 0, "t", "x"), ST_OK);
    int64_t otherPhy = f->pr.phyOffset;
    st_store_close(f->st);
    f->st = NULL;
    /* tear message 4 (CRC) => 4, 5 and the Other message are lost */
    corrupt_byte(f, phys[4] + 90);
    mark_crashed(f);
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    assert_int_equal(st_max_phy_offset(f->st), phys[4]);
    assert_int_equal(st_max_offset(f->st, "C", 0), 4);
    assert_int_equal(st_max_offset(f->st, "Other", 0), 0);
    assert_int_equal(st_get(f->st, "Other", 0, 0, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.status, ST_GET_NO_MESSAGE_IN_QUEUE);
    assert_int_equal(st_get(f->st, "C", 0, 0, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.n, 4);
    for (int i = 0; i < 4; i++) {
        st_record_t r;
        decode_slice(&f->gr.msgs[i], &r);
        assert_int_equal(r.physicOffset, phys[i]);
        assert_int_equal(r.totalSize, sizes[i]);
    }
    const uint8_t *p;
    uint32_t len;
    assert_int_equal(st_read_record_at(f->st, otherPhy, &p, &len), ST_ENOENT);
    /* new writes continue where the valid data ended */
    assert_int_equal(put(f, "C", 0, "t", "new"), ST_OK);
    assert_int_equal(f->pr.queueOffset, 4);
    assert_int_equal(f->pr.phyOffset, phys[4]);
    reopen(f);
    assert_int_equal(st_max_offset(f->st, "C", 0), 5);
}

static void test_recovery_zeroes_garbage_after_last_record(void **state)
{
    fx_t *f = *state;
    for (int i = 0; i < 3; i++)
        assert_int_equal(put(f, "G", 1, NULL, "abc"), ST_OK);
    int64_t end = st_max_phy_offset(f->st);
    st_store_close(f->st);
    f->st = NULL;
    /* half-written record header after the end: plausible size, message magic */
    char path[128];
    snprintf(path, sizeof(path), "%s/commitlog/%020d", f->dir, 0);
    int fd = open(path, O_RDWR);
    uint8_t junk[64];
    memset(junk, 0xAB, sizeof(junk));
    cm_wbe32(junk, 200);
    cm_wbe32(junk + 4, ST_MSG_MAGIC);
    assert_int_equal(pwrite(fd, junk, sizeof(junk), end), (ssize_t)sizeof(junk));
    close(fd);
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK); /* clean exit flag, dirty tail */
    assert_int_equal(st_max_phy_offset(f->st), end);
    assert_int_equal(st_max_offset(f->st, "G", 1), 3);
    st_store_close(f->st);
    f->st = NULL;
    fd = open(path, O_RDONLY);
    uint8_t back[64];
    assert_int_equal(pread(fd, back, sizeof(back), end), (ssize_t)sizeof(back));
    close(fd);
    static const uint8_t zero[64];
    assert_memory_equal(back, zero, sizeof(back));
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
}

static void test_recovery_rebuilds_lost_consume_queue(void **state)
{
    fx_t *f = *state;
    for (int i = 0; i < 150; i++)
        assert_int_equal(put(f, "Q", 3, i % 2 ? "a" : "b", "data"), ST_OK);
    st_store_close(f->st);
    f->st = NULL;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s/consumequeue/Q", f->dir);
    assert_int_equal(system(cmd), 0);
    mark_crashed(f);
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    assert_int_equal(st_max_offset(f->st, "Q", 3), 150);
    int64_t codes[1] = {st_tags_code("a", 1)};
    st_filter_t flt = {codes, 1, NULL, NULL};
    assert_int_equal(st_get(f->st, "Q", 3, 100, 32, 0, &flt, &f->gr), ST_OK);
    assert_int_equal(f->gr.n, 25);
}

static void test_delete_topic_removes_consume_queues(void **state)
{
    fx_t *f = *state;
    assert_int_equal(put(f, "D", 0, NULL, "x"), ST_OK);
    assert_int_equal(put(f, "D", 1, NULL, "x"), ST_OK);
    assert_int_equal(put(f, "Keep", 0, NULL, "x"), ST_OK);
    assert_int_equal(st_get(f->st, "D", 0, 0, 32, 0, NULL, &f->gr), ST_OK);
    const void *slice = f->gr.msgs[0].iov_base;
    assert_int_equal(st_delete_topic(f->st, "D"), ST_OK);
    assert_int_equal(st_get(f->st, "D", 1, 0, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.status, ST_GET_NO_MATCHED_LOGIC_QUEUE);
    char path[128];
    snprintf(path, sizeof(path), "%s/consumequeue/D", f->dir);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(((const uint8_t *)slice)[7], 0xA7); /* slices stay valid */
    assert_int_equal(st_max_offset(f->st, "Keep", 0), 1);
    reopen(f);
    assert_int_equal(st_max_offset(f->st, "D", 0), 0);
    assert_int_equal(st_max_offset(f->st, "Keep", 0), 1);
    assert_int_equal(st_delete_topic(f->st, "D"), ST_ENOENT);
}

static void test_sync_flush_mode_puts(void **state)
{
    fx_t *f = *state;
    st_store_close(f->st);
    f->cfg.flushDiskType = ST_SYNC_FLUSH;
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    for (int i = 0; i < 20; i++)
        assert_int_equal(put(f, "S", 0, NULL, "durable"), ST_OK);
    assert_int_equal(st_max_offset(f->st, "S", 0), 20);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_put_then_get_round_trip),
        T(test_roll_over_writes_blank_and_keeps_offsets_dense),
        T(test_only_the_written_file_is_advised_random),
        T(test_tag_filter_skips_other_tags),
        T(test_filter_callback_sees_records),
        T(test_pull_status_codes_and_next_offsets),
        T(test_put_limits_are_enforced),
        T(test_prepared_and_rollback_are_not_dispatched),
        T(test_batch_put_stores_consecutive_records),
        T(test_reopen_after_clean_close_keeps_everything),
        T(test_recovery_drops_torn_tail_and_truncates_consume_queue),
        T(test_recovery_zeroes_garbage_after_last_record),
        T(test_recovery_rebuilds_lost_consume_queue),
        T(test_delete_topic_removes_consume_queues),
        T(test_sync_flush_mode_puts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
