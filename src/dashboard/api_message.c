/* api_message.c: the message requests of rocketmq-dashboard's API (spec dashboard.md §3). */
#include "dashboard.h"

const dh_route_t dh_routes_message[] = {
    {NULL},
};
