/* Damaged consume queues (issue 12 item 9). A bad unit in the middle of a consume-queue file
 * costs only that unit on a pull, never the rest of the file and never a wrong record; at open,
 * a consume queue with a short, missing or misaligned file, or with units that do not point at
 * their own records, is reported (file and offset in the log) and rebuilt from the commit log,
 * also when retention already deleted the head of the commit log.
 * Tiny files: 64 KiB commit log, 100-unit consume queues. */
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

/* body "m00042" for queue offset 42, padded to pad bytes */
static void put_n(fx_t *f, const char *topic, int32_t qid, int n, size_t pad)
{
    char body[1100];
    assert_true(pad < sizeof(body) && pad >= 6);
    for (int i = 0; i < n; i++) {
        st_msg_t m;
        memset(&m, 0, sizeof(m));
        memset(body, 'x', pad);
        int64_t q = st_max_offset(f->st, topic, qid);
        snprintf(body, sizeof(body), "m%05lld", (long long)q);
        body[6] = 'x';
        m.topic = topic;
        m.queueId = qid;
        m.body = (const uint8_t *)body;
        m.bodyLen = (uint32_t)pad;
        m.bornTimestamp = 1700000000000;
        assert_int_equal(st_put(f->st, &m, &f->pr), ST_OK);
        assert_int_equal(f->pr.queueOffset, q);
    }
}

/* Pull the whole queue from `from`; every record returned must be the queue's own record for
 * the offset its body names, in increasing order. Returns how many were read. */
static int read_all(fx_t *f, const char *topic, int32_t qid, int64_t from)
{
    int64_t off = from, last = -1;
    int n = 0, rounds = 0;
    while (off < st_max_offset(f->st, topic, qid)) {
        assert_true(++rounds < 10000);
        assert_int_equal(st_get(f->st, topic, qid, off, 32, 0, NULL, &f->gr), ST_OK);
        for (uint32_t i = 0; i < f->gr.n; i++) {
            st_record_t r;
            assert_int_equal(st_record_decode(f->gr.msgs[i].iov_base, f->gr.msgs[i].iov_len, 1,
                                              &r), ST_OK);
            assert_int_equal(r.topicLen, strlen(topic));
            assert_memory_equal(r.topic, topic, r.topicLen);
            assert_int_equal(r.queueId, qid);
            char want[8];
            snprintf(want, sizeof(want), "m%05lld", (long long)r.queueOffset);
            assert_memory_equal(r.body, want, 6);
            assert_true(r.queueOffset > last);
            last = r.queueOffset;
            n++;
        }
        assert_true(f->gr.nextBeginOffset > off);
        off = f->gr.nextBeginOffset;
    }
    return n;
}

static void cq_file(fx_t *f, const char *topic, int32_t qid, int64_t firstUnit, char *out,
                    size_t n)
{
    snprintf(out, n, "%s/consumequeue/%s/%d/%020lld", f->dir, topic, (int)qid,
             (long long)(firstUnit * ST_CQ_UNIT_SIZE));
}

/* overwrite unit q of (topic, qid) on disk (the store's mapping sees it at once) */
static void write_unit(fx_t *f, const char *topic, int32_t qid, int64_t q, int64_t phy,
                       int32_t size, int64_t tags)
{
    char path[256];
    uint8_t u[ST_CQ_UNIT_SIZE];
    cq_file(f, topic, qid, q - q % CQ_UNITS, path, sizeof(path));
    cm_wbe64(u, (uint64_t)phy);
    cm_wbe32(u + 8, (uint32_t)size);
    cm_wbe64(u + 12, (uint64_t)tags);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, u, sizeof(u), (off_t)(q % CQ_UNITS) * ST_CQ_UNIT_SIZE),
                     (ssize_t)sizeof(u));
    close(fd);
}

static char g_log[128];

/* An intact queue written last: the ordinary re-dispatch at open starts after the newest unit
 * of any queue, so without a real rebuild the damaged queue's records would stay invisible. */
static void put_tail_queue(fx_t *f)
{
    put_n(f, "V", 3, 5, 40);
}

/* restart the store with its log going to a fresh file, so a test can read what it said */
static void reopen_logged(fx_t *f)
{
    char cmd[256];
    st_store_close(f->st);
    f->st = NULL;
    snprintf(g_log, sizeof(g_log), "%s/logs/store.log", f->dir);
    snprintf(cmd, sizeof(cmd), "rm -f %s", g_log);
    assert_int_equal(system(cmd), 0);
    char ldir[128];
    snprintf(ldir, sizeof(ldir), "%s/logs", f->dir);
    assert_int_equal(cm_log_open(ldir, "store", 1), 0);
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    cm_log_close();
}

/* 1 when one line of the log holds every one of the (NULL-terminated) needles */
static int log_has(const char *n1, const char *n2, const char *n3)
{
    FILE *fp = fopen(g_log, "r");
    char line[2048];
    int found = 0;
    if (!fp)
        return 0;
    while (!found && fgets(line, sizeof(line), fp))
        found = strstr(line, n1) && (!n2 || strstr(line, n2)) && (!n3 || strstr(line, n3));
    fclose(fp);
    return found;
}

static void test_bad_units_cost_only_themselves_on_a_pull(void **state)
{
    fx_t *f = *state;
    put_n(f, "T", 0, 250, 40); /* all in one commit-log file, 3 consume-queue files */
    int64_t phy10, tags10;
    int32_t size10;
    assert_int_equal(st_cq_entry(f->st, "T", 0, 10, &phy10, &size10, &tags10), ST_OK);
    write_unit(f, "T", 0, 50, (int64_t)1 << 40, 130, 0);        /* beyond the commit log */
    write_unit(f, "T", 0, 60, phy10, size10, tags10);            /* another offset's record */
    write_unit(f, "T", 0, 70, phy10 + 8, size10, tags10);        /* inside a record */
    write_unit(f, "T", 0, 80, -5, 100, 0);                       /* negative */
    assert_int_equal(read_all(f, "T", 0, 0), 246);
    /* a pull that starts on a bad unit moves on past it */
    assert_int_equal(st_get(f->st, "T", 0, 50, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.status, ST_GET_FOUND);
    assert_int_equal(f->gr.n, 32);
}

static void test_truncated_middle_file_is_reported_and_rebuilt(void **state)
{
    fx_t *f = *state;
    put_n(f, "T", 0, 250, 40);
    put_n(f, "U", 1, 30, 40);
    char path[256];
    put_tail_queue(f);
    cq_file(f, "T", 0, 0, path, sizeof(path));
    assert_int_equal(truncate(path, 1000), 0); /* 50 of 100 units left */
    reopen_logged(f);
    assert_int_equal(st_min_offset(f->st, "T", 0), 0);
    assert_int_equal(st_max_offset(f->st, "T", 0), 250);
    assert_int_equal(read_all(f, "T", 0, 0), 250);
    assert_int_equal(read_all(f, "U", 1, 0), 30);
    /* the rebuilt queue keeps growing where it was */
    put_n(f, "T", 0, 5, 40);
    assert_int_equal(read_all(f, "T", 0, 0), 255);
    st_store_close(f->st);
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    assert_int_equal(read_all(f, "T", 0, 0), 255);
    assert_true(log_has(path, "1000", "rebuil"));
}

static void test_short_last_file_is_rebuilt(void **state)
{
    fx_t *f = *state;
    put_n(f, "T", 0, 250, 40);
    put_tail_queue(f);
    char path[256];
    cq_file(f, "T", 0, 200, path, sizeof(path));
    assert_int_equal(truncate(path, 400), 0); /* units 220..249 cut off */
    reopen_logged(f);
    assert_int_equal(st_max_offset(f->st, "T", 0), 250);
    assert_int_equal(read_all(f, "T", 0, 0), 250);
    assert_true(log_has(path, "short", "rebuil"));
}

static void test_deleted_middle_file_is_rebuilt(void **state)
{
    fx_t *f = *state;
    put_n(f, "T", 0, 250, 40);
    char path[256];
    put_tail_queue(f);
    cq_file(f, "T", 0, 100, path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    reopen_logged(f);
    assert_int_equal(read_all(f, "T", 0, 0), 250);
    assert_int_equal(read_all(f, "V", 3, 0), 5);
    assert_true(log_has(path, "missing", NULL));
}

static void test_deleted_first_file_is_rebuilt(void **state)
{
    fx_t *f = *state;
    put_n(f, "T", 0, 250, 40);
    put_tail_queue(f);
    char path[256];
    cq_file(f, "T", 0, 0, path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    reopen_logged(f);
    assert_int_equal(st_min_offset(f->st, "T", 0), 0);
    assert_int_equal(read_all(f, "T", 0, 0), 250);
    assert_true(log_has(path, "missing", NULL));
}

/* the topic was deleted and created again: its offsets restarted, and the rebuild must index
 * the new records, not the old ones that carry the same offsets */
static void test_rebuild_follows_a_recreated_topic(void **state)
{
    fx_t *f = *state;
    put_n(f, "T", 0, 30, 40);
    assert_int_equal(st_delete_topic(f->st, "T"), ST_OK);
    put_n(f, "T", 0, 20, 40);
    int64_t phy0, tags0;
    int32_t size0;
    assert_int_equal(st_cq_entry(f->st, "T", 0, 0, &phy0, &size0, &tags0), ST_OK);
    put_tail_queue(f);
    char path[256];
    cq_file(f, "T", 0, 0, path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    reopen_logged(f);
    assert_int_equal(st_max_offset(f->st, "T", 0), 20);
    assert_int_equal(read_all(f, "T", 0, 0), 20);
    int64_t phy, tags;
    int32_t size;
    assert_int_equal(st_cq_entry(f->st, "T", 0, 0, &phy, &size, &tags), ST_OK);
    assert_int_equal(phy, phy0);
}

static void test_queue_without_files_is_rebuilt(void **state)
{
    fx_t *f = *state;
    put_n(f, "T", 0, 250, 40);
    put_n(f, "U", 0, 40, 40);
    put_tail_queue(f);
    char path[256];
    for (int64_t q = 0; q < 250; q += CQ_UNITS) {
        cq_file(f, "T", 0, q, path, sizeof(path));
        assert_int_equal(unlink(path), 0);
    }
    cq_file(f, "U", 0, 0, path, sizeof(path));
    assert_int_equal(unlink(path), 0);
    reopen_logged(f);
    assert_int_equal(st_max_offset(f->st, "T", 0), 250);
    assert_int_equal(read_all(f, "T", 0, 0), 250);
    assert_int_equal(st_max_offset(f->st, "U", 0), 40);
    assert_int_equal(read_all(f, "U", 0, 0), 40);
    assert_true(log_has("T/0", "rebuil", NULL));
}

/* Damage one unit of a closed store (which: 0 = the last unit of the first of 5 files, older
 * than the tail recovery scans, points at another offset's record; 1 = garbage mid-file; 2 = a
 * zeroed unit with units after it), open it again and expect the damage named in the log and
 * the whole queue readable. */
static void damage_unit_and_reopen(fx_t *f, int which, const char *said)
{
    static const int64_t qs[] = {99, 120, 230};
    int64_t n = which == 0 ? 450 : 250;
    put_n(f, "T", 0, (int)n, 40);
    int64_t phy10, tags10;
    int32_t size10;
    assert_int_equal(st_cq_entry(f->st, "T", 0, 10, &phy10, &size10, &tags10), ST_OK);
    put_tail_queue(f);
    st_store_close(f->st);
    f->st = NULL;
    if (which == 0)
        write_unit(f, "T", 0, qs[which], phy10, size10, tags10);
    else if (which == 1)
        write_unit(f, "T", 0, qs[which], (int64_t)1 << 40, 130, 0);
    else
        write_unit(f, "T", 0, qs[which], 0, 0, 0);
    reopen_logged(f);
    assert_int_equal(st_max_offset(f->st, "T", 0), n);
    assert_int_equal(read_all(f, "T", 0, 0), n);
    assert_int_equal(read_all(f, "V", 3, 0), 5);
    char path[256];
    cq_file(f, "T", 0, qs[which] - qs[which] % CQ_UNITS, path, sizeof(path));
    char unit[32];
    snprintf(unit, sizeof(unit), "unit %lld ", (long long)qs[which]);
    assert_true(log_has(path, unit, said));
}

static void test_unit_pointing_at_another_offsets_record_is_rebuilt_at_open(void **state)
{
    damage_unit_and_reopen(*state, 0, "a record of another queue offset");
}

static void test_garbage_unit_mid_file_is_rebuilt_at_open(void **state)
{
    damage_unit_and_reopen(*state, 1, "past the end of the commit log");
}

static void test_zeroed_unit_before_good_ones_is_rebuilt_at_open(void **state)
{
    damage_unit_and_reopen(*state, 2, "zeroed but units follow");
}

/* retention took the head of the commit log: the rebuilt queue starts at the first record that
 * is still there, and the min offset says so */
static void test_rebuild_after_retention_moves_the_min_offset(void **state)
{
    fx_t *f = *state;
    st_store_close(f->st);
    f->cfg.fileReservedTime = 1;
    f->cfg.deleteWhen = "0;1;2;3;4;5;6;7;8;9;10;11;12;13;14;15;16;17;18;19;20;21;22;23";
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    put_n(f, "R", 0, 280, 1000); /* 60 a file: 5 commit-log files, the last not full */
    put_tail_queue(f);
    assert_int_equal(st_store_flush(f->st), ST_OK);
    st_clean_report_t rep;
    assert_int_equal(st_clean(f->st, cm_now_ms() + 2 * 3600 * 1000, &rep), ST_OK);
    assert_true(rep.filesDeleted > 0);
    int64_t min = st_min_offset(f->st, "R", 0);
    assert_true(min > 200 && min < 280);
    char path[256];
    for (int64_t q = 0; q < 280; q += CQ_UNITS) {
        cq_file(f, "R", 0, q, path, sizeof(path));
        unlink(path);
    }
    reopen_logged(f);
    assert_int_equal(st_min_offset(f->st, "R", 0), min);
    assert_int_equal(st_max_offset(f->st, "R", 0), 280);
    assert_int_equal(read_all(f, "R", 0, min), 280 - min);
    assert_int_equal(st_get(f->st, "R", 0, 0, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.status, ST_GET_OFFSET_TOO_SMALL);
    assert_int_equal(f->gr.nextBeginOffset, min);
}

/* retention took every record of a damaged queue: it must not start over at offset 0, where
 * consumers' committed offsets would point at other messages */
static void test_rebuild_without_records_keeps_the_offsets(void **state)
{
    fx_t *f = *state;
    st_store_close(f->st);
    f->cfg.fileReservedTime = 1;
    f->cfg.deleteWhen = "0;1;2;3;4;5;6;7;8;9;10;11;12;13;14;15;16;17;18;19;20;21;22;23";
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    put_n(f, "R", 0, 130, 1000);
    put_n(f, "V", 3, 70, 1000); /* R's records are all in files before the current one */
    assert_int_equal(st_store_flush(f->st), ST_OK);
    st_clean_report_t rep;
    assert_int_equal(st_clean(f->st, cm_now_ms() + 2 * 3600 * 1000, &rep), ST_OK);
    assert_int_equal(st_min_offset(f->st, "R", 0), 130);
    char path[256];
    cq_file(f, "R", 0, 100, path, sizeof(path));
    assert_int_equal(truncate(path, 1000), 0);
    reopen_logged(f);
    int64_t max = st_max_offset(f->st, "R", 0);
    assert_int_equal(max, 130);
    assert_int_equal(st_min_offset(f->st, "R", 0), max);
    put_n(f, "R", 0, 3, 40);
    assert_int_equal(read_all(f, "R", 0, max), 3);
    st_store_close(f->st);
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    assert_int_equal(st_min_offset(f->st, "R", 0), max);
    assert_int_equal(read_all(f, "R", 0, max), 3);
    assert_true(log_has("R/0", "none of its records", NULL));
}

/* A pull reads only the first and the last record of a run of units that chain in the commit
 * log. A unit copied from a neighbouring queue still chains with the unit before it: the run
 * it ends must be checked record by record, and only the copied unit left out. */
static void test_copied_unit_that_chains_is_not_delivered(void **state)
{
    fx_t *f = *state;
    for (int i = 0; i < 20; i++) { /* T0 U0 T1 U1 ...: U's record k sits right after T's */
        put_n(f, "T", 0, 1, 40);
        put_n(f, "U", 0, 1, 40);
    }
    int64_t phy, tags;
    int32_t size;
    assert_int_equal(st_get(f->st, "T", 0, 0, 10, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.n, 10); /* the next pull of T chains on from T's unit 9 */
    assert_int_equal(st_cq_entry(f->st, "U", 0, 9, &phy, &size, &tags), ST_OK);
    write_unit(f, "T", 0, 10, phy, size, tags); /* chains with T's unit 9 */
    assert_int_equal(st_get(f->st, "T", 0, 10, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.n, 9);
    assert_int_equal(f->gr.phys[0], st_cq_entry(f->st, "T", 0, 11, &phy, &size, &tags) == ST_OK ? phy : -1);
    assert_int_equal(st_cq_entry(f->st, "U", 0, 0, &phy, &size, &tags), ST_OK);
    write_unit(f, "T", 0, 1, phy, size, tags); /* a run of two: T0 and the copy */
    assert_int_equal(st_get(f->st, "T", 0, 0, 32, 0, NULL, &f->gr), ST_OK);
    assert_int_equal(f->gr.n, 18);
    assert_int_equal(read_all(f, "T", 0, 0), 18);
    assert_int_equal(read_all(f, "U", 0, 0), 20);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_bad_units_cost_only_themselves_on_a_pull),
        T(test_copied_unit_that_chains_is_not_delivered),
        T(test_truncated_middle_file_is_reported_and_rebuilt),
        T(test_short_last_file_is_rebuilt),
        T(test_deleted_middle_file_is_rebuilt),
        T(test_deleted_first_file_is_rebuilt),
        T(test_queue_without_files_is_rebuilt),
        T(test_rebuild_follows_a_recreated_topic),
        T(test_unit_pointing_at_another_offsets_record_is_rebuilt_at_open),
        T(test_garbage_unit_mid_file_is_rebuilt_at_open),
        T(test_zeroed_unit_before_good_ones_is_rebuilt_at_open),
        T(test_rebuild_after_retention_moves_the_min_offset),
        T(test_rebuild_without_records_keeps_the_offsets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
