/* The message index: query by KEYS token and by UNIQ_KEY, hash collisions (64 slots for
 * hundreds of keys), rolling to a new index file when one is full (400 entries), time windows,
 * queries after a clean restart and after a crash that cut the commit log, and a cut of the
 * commit log at run time (DLedger) that does not wait for the index writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "store_fixture.h"

static int put_keys(fx_t *f, const char *topic, const char *keys, const char *uniq, const char *body)
{
    char props[256];
    st_msg_t m;
    memset(&m, 0, sizeof(m));
    m.topic = topic;
    m.body = (const uint8_t *)body;
    m.bodyLen = (uint32_t)strlen(body);
    int pl = snprintf(props, sizeof(props), "KEYS\001%s\002UNIQ_KEY\001%s\002", keys, uniq);
    m.properties = props;
    m.propertiesLen = (uint32_t)pl;
    m.bornTimestamp = 1700000000000;
    return st_put(f->st, &m, &f->pr);
}

static int query(fx_t *f, const char *topic, const char *key, int uniq, st_query_result_t *r)
{
    return st_query_by_key(f->st, topic, key, 64, 0, INT64_MAX, uniq, r);
}

static int count_index_files(fx_t *f)
{
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/index", f->dir);
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void test_query_by_key_token_and_by_uniq_key(void **state)
{
    fx_t *f = *state;
    st_query_result_t r;
    assert_int_equal(put_keys(f, "T", "order-1 user-7", "U0001", "a"), ST_OK);
    int64_t phyA = f->pr.phyOffset;
    assert_int_equal(put_keys(f, "T", "order-2 user-7", "U0002", "b"), ST_OK);
    int64_t phyB = f->pr.phyOffset;
    assert_int_equal(put_keys(f, "Other", "order-1", "U0003", "c"), ST_OK);

    assert_int_equal(query(f, "T", "order-1", 0, &r), ST_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.phy[0], phyA);
    assert_int_equal(query(f, "T", "user-7", 0, &r), ST_OK);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.phy[0], phyB); /* newest first */
    assert_int_equal(r.phy[1], phyA);
    assert_int_equal(query(f, "T", "U0002", 1, &r), ST_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.phy[0], phyB);
    assert_int_equal(query(f, "T", "U0003", 1, &r), ST_ENOENT); /* other topic */
    assert_int_equal(query(f, "T", "order", 0, &r), ST_ENOENT);  /* tokens, not prefixes */
    assert_int_equal(query(f, "T", "order-1", 1, &r), ST_ENOENT); /* not a unique key */
    assert_true(r.lastUpdatePhyOffset >= phyB);
    assert_true(r.lastUpdateTimestamp > 0);
}

static void test_collisions_and_file_rolls_keep_every_hit(void **state)
{
    fx_t *f = *state;
    char key[32], uniq[32];
    /* 300 messages x 2 entries = 600 entries > 400 a file; 64 slots: long chains */
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), "k%d", i % 50);
        snprintf(uniq, sizeof(uniq), "u%d", i);
        assert_int_equal(put_keys(f, "C", key, uniq, "x"), ST_OK);
    }
    assert_int_equal(st_index_settle(f->st, 10000), 0); /* the writer thread made the files */
    assert_true(count_index_files(f) >= 2);
    st_query_result_t r;
    for (int k = 0; k < 50; k++) {
        snprintf(key, sizeof(key), "k%d", k);
        assert_int_equal(query(f, "C", key, 0, &r), ST_OK);
        assert_int_equal(r.n, 6);
    }
    assert_int_equal(query(f, "C", "u0", 1, &r), ST_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(query(f, "C", "u299", 1, &r), ST_OK);
    assert_int_equal(r.n, 1);
    /* maxNum caps the answer */
    assert_int_equal(st_query_by_key(f->st, "C", "k3", 2, 0, INT64_MAX, 0, &r), ST_OK);
    assert_int_equal(r.n, 2);
}

static void test_time_window_filters(void **state)
{
    fx_t *f = *state;
    st_query_result_t r;
    assert_int_equal(put_keys(f, "W", "w", "uw", "x"), ST_OK);
    int64_t ts = f->pr.storeTimestamp;
    assert_int_equal(st_query_by_key(f->st, "W", "w", 32, ts, ts, 0, &r), ST_OK);
    assert_int_equal(st_query_by_key(f->st, "W", "w", 32, ts + 1, ts + 100000, 0, &r), ST_ENOENT);
    assert_int_equal(st_query_by_key(f->st, "W", "w", 32, 0, ts - 1, 0, &r), ST_ENOENT);
}

static void test_query_after_clean_restart_and_crash(void **state)
{
    fx_t *f = *state;
    st_query_result_t r;
    assert_int_equal(put_keys(f, "R", "before", "ub", "x"), ST_OK);
    int64_t phyBefore = f->pr.phyOffset;
    st_store_close(f->st);
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    assert_int_equal(query(f, "R", "before", 0, &r), ST_OK);
    assert_int_equal(r.phy[0], phyBefore);
    assert_int_equal(put_keys(f, "R", "after", "ua", "y"), ST_OK);
    int64_t phyAfter = f->pr.phyOffset;
    assert_int_equal(put_keys(f, "R", "torn", "ut", "z"), ST_OK);
    int64_t phyTorn = f->pr.phyOffset;
    st_store_close(f->st);
    /* crash that tore the last record: it is cut, its index entry must not resurface */
    char path[128];
    snprintf(path, sizeof(path), "%s/commitlog/%020d", f->dir, 0);
    int fd = open(path, O_RDWR);
    uint8_t b = 0x55;
    assert_int_equal(pwrite(fd, &b, 1, phyTorn + 88), 1); /* the body: CRC fails */
    close(fd);
    snprintf(path, sizeof(path), "%s/abort", f->dir);
    close(open(path, O_CREAT | O_WRONLY, 0644));
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    assert_int_equal(query(f, "R", "after", 0, &r), ST_OK);
    assert_int_equal(r.phy[0], phyAfter);
    assert_int_equal(query(f, "R", "torn", 0, &r), ST_ENOENT);
    /* a new record at the torn one's offset is indexed again */
    assert_int_equal(put_keys(f, "R", "again", "ug", "w"), ST_OK);
    assert_int_equal(f->pr.phyOffset, phyTorn);
    assert_int_equal(query(f, "R", "again", 0, &r), ST_OK);
    assert_int_equal(r.phy[0], phyTorn);
}

static void test_index_disabled_finds_nothing(void **state)
{
    fx_t *f = *state;
    st_query_result_t r;
    st_store_close(f->st);
    f->cfg.messageIndexEnable = 0;
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    assert_int_equal(put_keys(f, "N", "k", "u", "x"), ST_OK);
    assert_int_equal(query(f, "N", "k", 0, &r), ST_ENOENT);
    assert_int_equal(count_index_files(f), 0);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A cut of the commit log at run time (a deposed DLedger master's uncommitted records) is
 * queued to the index writer, behind the keys before it and ahead of those written after it:
 * with the writer held (the store's test hook, as a stuck disk would hold it) st_truncate
 * returns at once, where it waited 10 s for the writer on the loop before. */
static void test_cut_does_not_wait_for_the_index_writer(void **state)
{
    fx_t *f = *state;
    st_query_result_t r;
    char pause[128];
    snprintf(pause, sizeof(pause), "%s/index.pause", f->dir);
    st_store_close(f->st);
    setenv("LOULAN_TEST_INDEX_PAUSE_FILE", pause, 1);
    assert_int_equal(st_store_open(&f->cfg, &f->st), ST_OK);
    assert_int_equal(put_keys(f, "K", "kept", "uk", "x"), ST_OK);
    int64_t phyKept = f->pr.phyOffset;
    assert_int_equal(st_index_settle(f->st, 10000), 0);
    close(open(pause, O_CREAT | O_WRONLY, 0644));
    assert_int_equal(put_keys(f, "K", "cut", "uc", "y"), ST_OK);
    int64_t phyCut = f->pr.phyOffset;
    assert_int_equal(st_index_settle(f->st, 50), -1); /* the writer is held */
    int64_t t0 = mono_ms();
    assert_int_equal(st_truncate(f->st, phyCut), ST_OK);
    assert_true(mono_ms() - t0 < 5000);
    assert_int_equal(put_keys(f, "K", "again", "ua", "z"), ST_OK);
    assert_int_equal(f->pr.phyOffset, phyCut);
    unlink(pause);
    assert_int_equal(st_index_settle(f->st, 10000), 0);
    unsetenv("LOULAN_TEST_INDEX_PAUSE_FILE");
    assert_int_equal(query(f, "K", "kept", 0, &r), ST_OK);
    assert_int_equal(r.phy[0], phyKept);
    assert_int_equal(query(f, "K", "cut", 0, &r), ST_ENOENT);
    assert_int_equal(query(f, "K", "again", 0, &r), ST_OK);
    assert_int_equal(r.phy[0], phyCut);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_query_by_key_token_and_by_uniq_key),
        T(test_collisions_and_file_rolls_keep_every_hit),
        T(test_time_window_filters),
        T(test_query_after_clean_restart_and_crash),
        T(test_index_disabled_finds_nothing),
        T(test_cut_does_not_wait_for_the_index_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
