/* collect.c: the Dashboard page's per-minute sampling (spec §4). */
#include "dashboard.h"

int dh_collect_start(void) { return 0; }
void dh_collect_stop(void) {}
