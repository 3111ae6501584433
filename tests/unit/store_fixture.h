/* Shared by the store's unit tests: a store on a fresh temporary directory with tiny files
 * (64 KiB commit-log files, 100-unit consume-queue files), torn down with its directory. */
#ifndef LOULAN_TEST_STORE_FIXTURE_H
#define LOULAN_TEST_STORE_FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

#define CL_SIZE (64 * 1024)
#define CQ_UNITS 100

/* Entries of a directory, dot files aside; -1 if it does not exist. */
static inline int fx_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

typedef struct fx {
    char dir[64];
    st_config_t cfg;
    st_store_t *st;
    st_put_result_t pr;
    st_get_result_t gr;
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/loulan-store-XXXXXX");
    if (!f || !mkdtemp(f->dir))
        return -1;
    st_config_default(&f->cfg);
    f->cfg.storePathRootDir = f->dir;
    f->cfg.mappedFileSizeCommitLog = CL_SIZE;
    f->cfg.mappedFileSizeConsumeQueue = CQ_UNITS * ST_CQ_UNIT_SIZE;
    f->cfg.storeHostIp = 0x0A000001;
    f->cfg.storeHostPort = 10911;
    f->cfg.maxHashSlotNum = 64;     /* tiny index files: chains and file rolls get exercised */
    f->cfg.maxIndexNum = 400;
    /* the test machine's disk may be nearly full: no refusal or forced cleaning unless a test
     * asks for it */
    f->cfg.diskSpaceWarningLevelRatio = 100;
    f->cfg.diskSpaceCleanForciblyRatio = 100;
    st_put_result_init(&f->pr);
    st_get_result_init(&f->gr);
    if (st_store_open(&f->cfg, &f->st) != ST_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    char cmd[128];
    st_store_close(f->st);
    st_put_result_free(&f->pr);
    st_get_result_free(&f->gr);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

#endif
