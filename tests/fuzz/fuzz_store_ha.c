/* libFuzzer target for a slave's replication input: whatever bytes arrive from the network
 * are appended with st_ha_append at the end of a real store (tiny files, so file ends are
 * crossed), which must either take them as records or refuse them and end the log at the last
 * good record, never crash, and keep reading back what it took (st_ha_read, st_get). The store
 * is recreated when it grows past a few MiB. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "store/store.h"

static char g_dir[64];
static st_store_t *g_st;
static st_get_result_t g_gr;

static void drop_store(void)
{
    char cmd[128];
    if (g_st)
        st_store_close(g_st);
    g_st = NULL;
    if (g_dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
        if (system(cmd) != 0)
            abort();
        g_dir[0] = 0;
    }
}

static void open_store(void)
{
    strcpy(g_dir, "/tmp/loulan-fuzz-ha-XXXXXX");
    if (!mkdtemp(g_dir))
        abort();
    st_config_t c;
    st_config_default(&c);
    c.storePathRootDir = g_dir;
    c.mappedFileSizeCommitLog = 64 * 1024;
    c.mappedFileSizeConsumeQueue = 100 * ST_CQ_UNIT_SIZE;
    c.maxHashSlotNum = 64;
    c.maxIndexNum = 400;
    c.diskSpaceWarningLevelRatio = 100;
    c.diskSpaceCleanForciblyRatio = 100;
    c.slave = 1;
    if (st_store_open(&c, &g_st) != ST_OK)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_st) {
        cm_log_open(NULL, "fuzz", 0); /* every refused input logs an error: keep them out of the run's log */
        open_store();
        st_get_result_init(&g_gr);
        atexit(drop_store);
    }
    int64_t before = st_max_phy_offset(g_st);
    int rc = st_ha_append(g_st, before, data, size);
    int64_t after = st_max_phy_offset(g_st);
    if (rc == ST_ECORRUPT && after > before + (int64_t)size)
        abort(); /* a refused append must not leave more than it was given */
    if (rc != ST_OK && rc != ST_ECORRUPT)
        abort();
    /* what the log holds reads back, as a master would send it on */
    const uint8_t *p;
    size_t len;
    for (int64_t at = before; at < after && st_ha_read(g_st, at, 1 << 20, &p, &len) == ST_OK && len; at += (int64_t)len)
        if (at == before && len <= size && rc == ST_OK && memcmp(p, data, len) != 0)
            abort();
    /* queues built from accepted records can be read */
    (void)st_get(g_st, "TopicTest", 0, 0, 32, 1 << 20, NULL, &g_gr);
    if (after > 4 * 1024 * 1024) {
        drop_store();
        open_store();
    }
    return 0;
}
