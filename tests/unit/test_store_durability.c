/* Durability of the store: SYNC_FLUSH group commit, recovery after a crash that starts at the
 * checkpoint instead of the first file, recovery from a truncated or zeroed commit-log tail,
 * and retention (expired files deleted oldest first, consume queues follow, readers behind the
 * new minimum are told to move on). Tiny files: 64 KiB commit log, 100-unit consume queues. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/store.h"

#include "store_fixture.h"
#include "store/store_int.h"

static atomic_int g_flushed_calls;
static void on_flushed(void *arg) { (void)arg; atomic_fetch_add(&g_flushed_calls, 1); }

static int put(fx_t *f, const char *topic, const char *body)
{
    st_msg_t m;
    memset(&m, 0, sizeof(m));
    m.topic = topic;
    m.body = (const uint8_t *)body;
    m.bodyLen = (uint32_t)strlen(body);
    m.bornTimestamp = 1700000000000;
    return st_put(f->st, &m, &f->pr);
}

/* n records of ~1 KiB: 64 KiB files hold about 60 of them */
static void put_many(fx_t *f, const char *topic, int n)
{
    char body[1000];
    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = 0;
    for (int i = 0; i < n; i++)
        assert_int_equal(put(f, topic, body), ST_OK);
}

static void cl_path(fx_t *f, int64_t phy, char *out, size_t n)
{
    snprintf(out, n, "%s/commitlog/%020lld", f->dir, (long long)(phy - phy % CL_SIZE));
}

static void test_sync_flush_is_a_group_commit(void **state)
{
    fx_t *f = *state;
    st_store_close(f->st);
    f->cfg.flushDiskType = ST_SYNC_FLUSH;
    f->cfg.onFlushed = on_flushed;
    atomic_store(&g_flushed_calls, 0);
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    put_many(f, "S", 200); /* no wait between puts: they pile up behind each msync */
    int64_t need = f->pr.phyOffset + f->pr.size;
    for (int i = 0; i < 500 && st_flushed_offset(f->st) < need; i++)
        usleep(10000);
    assert_true(st_flushed_offset(f->st) >= need);
    int calls = atomic_load(&g_flushed_calls);
    assert_true(calls >= 1);
    assert_true(calls < 200); /* shared: fewer flushes than sends */
}

static void test_crash_recovery_starts_at_the_checkpoint(void **state)
{
    fx_t *f = *state;
    put_many(f, "A", 200); /* ~4 files */
    int64_t firstPhy = 0;
    assert_int_equal(st_store_flush(f->st), ST_OK);
    usleep(1100 * 1000); /* later records get later store times than the checkpoint's */
    put_many(f, "A", 70);
    int64_t end = st_max_phy_offset(f->st);
    assert_true(end > 4 * CL_SIZE);
    st_store_close(f->st);
    f->st = NULL;
    /* damage a record in the first file: a scan from the first file would cut the log there */
    char path[128];
    cl_path(f, firstPhy, path, sizeof(path));
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b = 0x77;
    assert_int_equal(pwrite(fd, &b, 1, 200), 1);
    close(fd);
    char abortp[128];
    snprintf(abortp, sizeof(abortp), "%s/abort", f->dir);
    close(open(abortp, O_CREAT | O_WRONLY, 0644));
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    assert_int_equal(st_max_phy_offset(f->st), end);
    assert_int_equal(st_max_offset(f->st, "A", 0), 270);
}

static void test_truncated_last_file_recovers_to_last_whole_record(void **state)
{
    fx_t *f = *state;
    put_many(f, "T", 100);
    int64_t lastFileStart = st_max_phy_offset(f->st) - st_max_phy_offset(f->st) % CL_SIZE;
    st_store_close(f->st);
    f->st = NULL;
    char path[128];
    cl_path(f, lastFileStart, path, sizeof(path));
    /* cut the last file in the middle of a record */
    assert_int_equal(truncate(path, 10 * 1000 + 500), 0);
    char abortp[128];
    snprintf(abortp, sizeof(abortp), "%s/abort", f->dir);
    close(open(abortp, O_CREAT | O_WRONLY, 0644));
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    int64_t end = st_max_phy_offset(f->st);
    assert_true(end > lastFileStart && end <= lastFileStart + 10 * 1000 + 500);
    int64_t n = st_max_offset(f->st, "T", 0);
    assert_true(n > 60 && n < 100);
    /* the store keeps working and the file has its full size again */
    assert_int_equal(put(f, "T", "after"), ST_OK);
    assert_int_equal(f->pr.queueOffset, n);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, CL_SIZE);
}

static void test_zeroed_page_cuts_the_log_there(void **state)
{
    fx_t *f = *state;
    put_many(f, "Z", 40); /* one file, ~40 KiB */
    int64_t end = st_max_phy_offset(f->st);
    st_store_close(f->st);
    f->st = NULL;
    char path[128];
    cl_path(f, 0, path, sizeof(path));
    static uint8_t zero[4096];
    int fd = open(path, O_RDWR);
    assert_int_equal(pwrite(fd, zero, sizeof(zero), 3 * 4096), (ssize_t)sizeof(zero));
    close(fd);
    char abortp[128];
    snprintf(abortp, sizeof(abortp), "%s/abort", f->dir);
    close(open(abortp, O_CREAT | O_WRONLY, 0644));
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    int64_t got = st_max_phy_offset(f->st);
    assert_true(got <= 3 * 4096 && got > 2 * 4096);
    assert_true(got < end);
    int64_t n = st_max_offset(f->st, "Z", 0);
    assert_int_equal(st_get(f->st, "Z", 0, 0, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.n, (uint32_t)n); /* every unit left points at a whole record */
    for (uint32_t i = 0; i < f->gr.n; i++) {
        st_record_t r;
        assert_int_equal(st_record_decode(f->gr.msgs[i].iov_base, f->gr.msgs[i].iov_len, 1, &r), ST_OK);
    }
}

static void test_retention_deletes_expired_files_and_moves_readers_on(void **state)
{
    fx_t *f = *state;
    st_store_close(f->st);
    f->cfg.fileReservedTime = 1; /* hours */
    f->cfg.deleteWhen = "0;1;2;3;4;5;6;7;8;9;10;11;12;13;14;15;16;17;18;19;20;21;22;23";
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    put_many(f, "R", 300); /* ~5 files; consume queue: 3 files of 100 units */
    assert_int_equal(st_store_flush(f->st), ST_OK);
    char cldir[128], cqdir[128];
    snprintf(cldir, sizeof(cldir), "%s/commitlog", f->dir);
    snprintf(cqdir, sizeof(cqdir), "%s/consumequeue/R/0", f->dir);
    int before = fx_count_entries(cldir);
    assert_true(before >= 5);
    st_clean_report_t rep;
    /* now: nothing is an hour old yet */
    assert_int_equal(st_clean(f->st, cm_now_ms(), &rep), ST_OK);
    assert_int_equal(rep.filesDeleted, 0);
    assert_int_equal(st_min_offset(f->st, "R", 0), 0);
    /* two hours later every file but the current one has expired */
    assert_int_equal(st_clean(f->st, cm_now_ms() + 2 * 3600 * 1000, &rep), ST_OK);
    assert_int_equal(rep.filesDeleted, before - 1);
    assert_int_equal(fx_count_entries(cldir), 1);
    assert_true(rep.minPhyOffset > 0);
    int64_t min = st_min_offset(f->st, "R", 0);
    assert_true(min > 200 && min < 300);
    assert_true(fx_count_entries(cqdir) <= 2);
    /* a reader at 0 is told where to go, and finds whole records there */
    assert_int_equal(st_get(f->st, "R", 0, 0, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.status, ST_GET_OFFSET_TOO_SMALL);
    assert_int_equal(f->gr.nextBeginOffset, min);
    assert_int_equal(st_get(f->st, "R", 0, min, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.status, ST_GET_FOUND);
    /* and after a restart it is the same */
    st_store_close(f->st);
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    assert_int_equal(st_min_offset(f->st, "R", 0), min);
    assert_int_equal(st_max_offset(f->st, "R", 0), 300);
}

static void test_disk_over_warning_ratio_refuses_puts_and_recovers(void **state)
{
    fx_t *f = *state;
    st_store_close(f->st);
    f->cfg.diskSpaceWarningLevelRatio = 0; /* any usage is "full" */
    f->cfg.cleanFileForciblyEnable = 0;
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    st_clean_report_t rep;
    assert_int_equal(st_clean(f->st, cm_now_ms(), &rep), ST_OK);
    assert_true(rep.usedPct > 0);
    assert_int_equal(rep.diskFull, 1);
    assert_int_equal(put(f, "F", "refused"), ST_EDISKFULL);
    assert_int_equal(st_max_offset(f->st, "F", 0), 0);
    st_store_close(f->st);
    f->cfg.diskSpaceWarningLevelRatio = 100; /* space "returns" */
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    assert_int_equal(st_clean(f->st, cm_now_ms(), &rep), ST_OK);
    assert_int_equal(rep.diskFull, 0);
    assert_int_equal(put(f, "F", "accepted"), ST_OK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
/* RocketMQ's consume-queue flush rule: a file is msynced once flushConsumeQueueLeastPages (2)
 * pages were written since its last msync, or when full, or by a thorough pass; until then it
 * stays dirty, on the list (each msync made the next write of its pages fault again). */
static void test_consume_queue_flush_waits_for_least_pages(void **state)
{
    fx_t *f = *state;
    st_store_close(f->st);
    f->cfg.mappedFileSizeConsumeQueue = 30000 * ST_CQ_UNIT_SIZE;
    f->cfg.flushConsumeQueueThoroughInterval = 1 << 30; /* the flush thread: never thorough */
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    for (int i = 0; i < 10; i++)
        assert_int_equal(put(f, "Lazy", "x"), ST_OK);
    st_cq_t *cq = st_cq_find(f->st, "Lazy", 4, 0);
    assert_non_null(cq);
    st_mfile_t *m = cq->files.v[0];
    assert_int_equal(st_cq_flush_dirty(f->st, 0), ST_OK);
    assert_int_equal(atomic_load(&m->dirty), 1); /* 200 bytes: not yet */
    assert_int_equal(m->syncedEnd, 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(put(f, "Lazy", "x"), ST_OK);
    assert_int_equal(st_cq_flush_dirty(f->st, 0), ST_OK);
    assert_int_equal(m->syncedEnd, 510 * ST_CQ_UNIT_SIZE); /* two pages and more: msynced */
    assert_int_equal(atomic_load(&m->dirty), 0);
    assert_int_equal(put(f, "Lazy", "x"), ST_OK);
    assert_int_equal(st_cq_flush_dirty(f->st, 0), ST_OK);
    assert_int_equal(atomic_load(&m->dirty), 1);
    assert_int_equal(st_cq_flush_dirty(f->st, 1), ST_OK); /* thorough: everything */
    assert_int_equal(atomic_load(&m->dirty), 0);
    assert_int_equal(m->syncedEnd, 511 * ST_CQ_UNIT_SIZE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_sync_flush_is_a_group_commit),
        T(test_crash_recovery_starts_at_the_checkpoint),
        T(test_truncated_last_file_recovers_to_last_whole_record),
        T(test_zeroed_page_cuts_the_log_there),
        T(test_retention_deletes_expired_files_and_moves_readers_on),
        T(test_disk_over_warning_ratio_refuses_puts_and_recovers),
        T(test_consume_queue_flush_waits_for_least_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
