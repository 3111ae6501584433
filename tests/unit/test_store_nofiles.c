/* A store whose process has run out of file descriptors says so (ST_ENOFILES), rather than a
 * generic i/o error that sends an operator to look at the disks, and works again once
 * descriptors are free. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_fixture.h"

static int put_new_topic(fx_t *f, const char *topic)
{
    st_msg_t m;
    memset(&m, 0, sizeof(m));
    m.topic = topic;
    m.body = (const uint8_t *)"x";
    m.bodyLen = 1;
    m.bornTimestamp = 1700000000000;
    return st_put(f->st, &m, &f->pr);
}

static void test_out_of_fds_is_reported_as_such(void **state)
{
    fx_t *f = *state;
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fds[256], n = 0;
    while (n < 256 && (fds[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        n++;
    assert_int_equal(errno, EMFILE);
    int rc = put_new_topic(f, "FreshTopic"); /* needs a new consume-queue file */
    while (n > 0)
        close(fds[--n]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(rc, ST_ENOFILES);
    assert_string_equal(st_strerror(rc), "out of file descriptors");
    assert_int_equal(put_new_topic(f, "FreshTopic"), ST_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_out_of_fds_is_reported_as_such, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
