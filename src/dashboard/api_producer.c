/* api_producer.c: the producer requests of rocketmq-dashboard's API (spec dashboard.md §3). */
#include "dashboard.h"

const dh_route_t dh_routes_producer[] = {
    {NULL},
};
