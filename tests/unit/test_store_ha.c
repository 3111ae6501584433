/* Replication at the store level: a slave store fed with a master's raw bytes (st_ha_read ->
 * st_ha_append) in odd-sized batches, cutting records and crossing file ends, ends up with the
 * same commit log byte for byte and the same consume queues; a wrong offset and garbage are
 * refused; a fresh slave can start at the master's last file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store_fixture.h"

static void put_n(st_store_t *st, st_put_result_t *pr, const char *topic, int q, int n)
{
    char body[300];
    static const char props[] = "TAGS\001TagA\002KEYS\001k1\002";
    for (int i = 0; i < n; i++) {
        int len = snprintf(body, sizeof body, "%s-%d-%0*d", topic, q, 50 + i % 200, i);
        st_msg_t m = {.topic = topic, .queueId = q, .body = (const uint8_t *)body, .bodyLen = (uint32_t)len,
                      .properties = props, .propertiesLen = sizeof props - 1, .bornTimestamp = 1};
        assert_int_equal(st_put(st, &m, pr), ST_OK);
    }
}

/* Copy master[from, end) to the slave in batches of `batch` bytes. */
static int64_t replicate(st_store_t *master, st_store_t *slave, int64_t from, size_t batch)
{
    for (int guard = 0; guard < 100000; guard++) {
        const uint8_t *p;
        size_t len;
        assert_int_equal(st_ha_read(master, from, batch, &p, &len), ST_OK);
        if (!len)
            return from;
        assert_int_equal(st_ha_append(slave, from, p, len), ST_OK);
        from += (int64_t)len;
    }
    fail_msg("replication did not finish");
    return from;
}

static void assert_same_queue(fx_t *m, fx_t *s, const char *topic, int q)
{
    assert_int_equal(st_max_offset(m->st, topic, q), st_max_offset(s->st, topic, q));
    for (int64_t off = 0; off < st_max_offset(m->st, topic, q); off += 16) {
        assert_int_equal(st_get(m->st, topic, q, off, 16, 1 << 20, NULL, &m->gr), ST_OK);
        assert_int_equal(st_get(s->st, topic, q, off, 16, 1 << 20, NULL, &s->gr), ST_OK);
        assert_int_equal(m->gr.n, s->gr.n);
        for (uint32_t i = 0; i < m->gr.n; i++) {
            assert_int_equal(m->gr.msgs[i].iov_len, s->gr.msgs[i].iov_len);
            assert_memory_equal(m->gr.msgs[i].iov_base, s->gr.msgs[i].iov_base, m->gr.msgs[i].iov_len);
        }
    }
}

static void test_slave_gets_the_same_log_and_queues(void **state)
{
    void **pair = *state;
    fx_t *m = pair[0], *s = pair[1];
    put_n(m->st, &m->pr, "HaTopic", 0, 300); /* ~100 KiB: crosses a 64 KiB file end */
    put_n(m->st, &m->pr, "HaTopic", 1, 120);
    int64_t end = replicate(m->st, s->st, 0, 1000); /* 1000-byte batches cut records */
    assert_int_equal(end, st_max_phy_offset(m->st));
    assert_int_equal(st_max_phy_offset(s->st), end);
    assert_same_queue(m, s, "HaTopic", 0);
    assert_same_queue(m, s, "HaTopic", 1);
    /* the index was built too: the key finds all messages on the slave */
    st_query_result_t qr;
    assert_int_equal(st_query_by_key(s->st, "HaTopic", "k1", ST_QUERY_MAX, 0, INT64_MAX, 0, &qr), ST_OK);
    assert_true(qr.n > 0);
    /* more later, in one big batch */
    put_n(m->st, &m->pr, "HaTopic", 0, 50);
    end = replicate(m->st, s->st, end, 1 << 20);
    assert_same_queue(m, s, "HaTopic", 0);
    /* bytes for another offset are refused: slave and master must match byte for byte */
    const uint8_t junk[16] = {0};
    assert_int_equal(st_ha_append(s->st, end + 100, junk, sizeof junk), ST_EINVAL);
}

static void test_garbage_is_refused_and_taken_back(void **state)
{
    void **pair = *state;
    fx_t *m = pair[0], *s = pair[1];
    uint8_t junk[256];
    memset(junk, 0x5A, sizeof junk);
    assert_int_equal(st_ha_append(s->st, 0, junk, sizeof junk), ST_ECORRUPT);
    assert_int_equal(st_max_phy_offset(s->st), 0);
    /* good data, then garbage after it: the log ends at the good data again */
    put_n(m->st, &m->pr, "HaTopic", 0, 10);
    int64_t end = replicate(m->st, s->st, 0, 1 << 20);
    assert_int_equal(st_ha_append(s->st, end, junk, sizeof junk), ST_ECORRUPT);
    assert_int_equal(st_max_phy_offset(s->st), end);
    /* and replication goes on from there */
    put_n(m->st, &m->pr, "HaTopic", 0, 5);
    assert_int_equal(replicate(m->st, s->st, end, 700), st_max_phy_offset(m->st));
    assert_same_queue(m, s, "HaTopic", 0);
}

static void test_fresh_slave_starts_at_the_masters_last_file(void **state)
{
    void **pair = *state;
    fx_t *m = pair[0], *s = pair[1];
    put_n(m->st, &m->pr, "HaTopic", 0, 400); /* into the third file */
    int64_t w = st_max_phy_offset(m->st), start = w - w % CL_SIZE;
    assert_true(start > 0);
    assert_int_equal(replicate(m->st, s->st, start, 4096), w);
    assert_int_equal(st_min_phy_offset(s->st), start);
    /* the slave has the queue's tail; older entries are simply not there */
    assert_int_equal(st_max_offset(s->st, "HaTopic", 0), st_max_offset(m->st, "HaTopic", 0));
    int64_t last = st_max_offset(m->st, "HaTopic", 0) - 1;
    assert_int_equal(st_get(m->st, "HaTopic", 0, last, 1, 1 << 20, NULL, &m->gr), ST_OK);
    assert_int_equal(st_get(s->st, "HaTopic", 0, last, 1, 1 << 20, NULL, &s->gr), ST_OK);
    assert_int_equal(s->gr.n, 1);
    assert_memory_equal(m->gr.msgs[0].iov_base, s->gr.msgs[0].iov_base, m->gr.msgs[0].iov_len);
}

static int setup2(void **state)
{
    static void *pair[2];
    if (setup(&pair[0]) || setup(&pair[1]))
        return -1;
    *state = pair;
    return 0;
}

static int teardown2(void **state)
{
    void **pair = *state;
    return teardown(&pair[0]) | teardown(&pair[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slave_gets_the_same_log_and_queues, setup2, teardown2),
        cmocka_unit_test_setup_teardown(test_garbage_is_refused_and_taken_back, setup2, teardown2),
        cmocka_unit_test_setup_teardown(test_fresh_slave_starts_at_the_masters_last_file, setup2, teardown2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
