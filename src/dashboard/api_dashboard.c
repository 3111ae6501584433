/* api_dashboard.c: the dashboard requests of rocketmq-dashboard's API (spec dashboard.md §3). */
#include "dashboard.h"

const dh_route_t dh_routes_dashboard[] = {
    {NULL},
};
