/* recovery: how long the store takes to open after a crash, for a large store.
 * A child process fills a store with N MiB of 1 KiB messages over 16 queues, flushes (which
 * writes the checkpoint), writes a little more, and dies with _exit (the `abort` marker stays:
 * a crash). The parent then times three opens of copies of that state:
 *   clean      - after a clean close (baseline: last three files scanned);
 *   crash      - after the crash, with the checkpoint (what Loulan does);
 *   full scan  - after the crash with the checkpoint removed (every file scanned, as a store
 *                without a checkpoint must).
 * Usage: recovery [dir] [MiB]   (default: a temp dir, 2048 MiB) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"

static st_config_t g_cfg;

static void fill(const char *dir, int mib)
{
    st_store_t *st;
    st_config_default(&g_cfg);
    g_cfg.storePathRootDir = dir;
    g_cfg.mappedFileSizeCommitLog = 256u << 20;
    if (st_store_open(&g_cfg, &st) != ST_OK)
        _exit(2);
    static uint8_t body[1024];
    memset(body, 'r', sizeof body);
    st_msg_t m = {.topic = "RecoveryTopic", .body = body, .bodyLen = sizeof body,
                  .properties = "TAGS\001t\002", .propertiesLen = 7, .bornTimestamp = 1};
    st_put_result_t r;
    st_put_result_init(&r);
    long n = (long)mib * 1024 * 1024 / 1150;
    for (long i = 0; i < n; i++) {
        m.queueId = (int32_t)(i % 16);
        if (st_put(st, &m, &r) != ST_OK)
            _exit(3);
    }
    st_store_flush(st);
    usleep(100 * 1000); /* later records: later store times than the checkpoint's */
    for (long i = 0; i < 20000; i++) {
        m.queueId = (int32_t)(i % 16);
        st_put(st, &m, &r);
    }
    _exit(0); /* crash: no close, `abort` stays */
}

static double time_open(const char *dir, int64_t *end)
{
    st_store_t *st;
    st_config_t c = g_cfg;
    c.storePathRootDir = dir;
    uint64_t t0 = cm_mono_ms();
    if (st_store_open(&c, &st) != ST_OK) {
        fprintf(stderr, "open %s failed\n", dir);
        exit(1);
    }
    double ms = (double)(cm_mono_ms() - t0);
    *end = st_max_phy_offset(st);
    /* leave it as a crash again for the next copy */
    st_store_close(st);
    return ms;
}

static void copy(const char *from, const char *to)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
    if (system(cmd) != 0)
        exit(1);
}

int main(int argc, char **argv)
{
    char tmpl[] = "/tmp/loulan-recovery-XXXXXX";
    const char *root = argc > 1 ? argv[1] : mkdtemp(tmpl);
    int mib = argc > 2 ? atoi(argv[2]) : 2048;
    char base[4096], work[4200], path[4300];
    snprintf(base, sizeof base, "%s/base", root);
    snprintf(work, sizeof work, "%s/work", root);
    cm_log_set_level(CM_LOG_WARN);
    pid_t p = fork();
    if (p == 0)
        fill(base, mib);
    int status;
    waitpid(p, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "fill failed\n");
        return 1;
    }
    st_config_default(&g_cfg);
    g_cfg.mappedFileSizeCommitLog = 256u << 20;
    int64_t e1, e2, e3;

    copy(base, work);
    double crash = time_open(work, &e1);
    double clean = time_open(work, &e2); /* the crash open closed cleanly */
    copy(base, work);
    snprintf(path, sizeof path, "%s/checkpoint", work);
    unlink(path);
    double full = time_open(work, &e3);
    printf("store: %d MiB of 1 KiB messages in 256 MiB files, 16 queues\n", mib);
    printf("open after clean close:        %8.0f ms\n", clean);
    printf("open after crash (checkpoint): %8.0f ms  (%.2fx the clean open)\n", crash, crash / (clean > 0 ? clean : 1));
    printf("open after crash (full scan):  %8.0f ms  (%.1fx the checkpoint recovery)\n", full, full / (crash > 0 ? crash : 1));
    printf("recovered ends equal: %s\n", e1 == e2 && e2 == e3 ? "yes" : "NO");
    snprintf(path, sizeof path, "rm -rf '%s'", root);
    if (argc <= 1 && system(path) != 0)
        return 1;
    return e1 == e2 && e2 == e3 ? 0 : 1;
}
