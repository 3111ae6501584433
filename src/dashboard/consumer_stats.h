/* consumer_stats.h: private to api_consumer.c and consumer_stats.c. The consumer group list
 * (GroupConsumeInfo rows) gathered with a fixed number of requests per broker, the cache of
 * each group's client connections, and the cluster's masters as the consumer pages use them. */
#ifndef LOULAN_DASHBOARD_CONSUMER_STATS_H
#define LOULAN_DASHBOARD_CONSUMER_STATS_H

#include "dashboard.h"

#define CS_MAX_MASTERS 64 /* a row keeps which masters hold its group in a 64-bit mask */

enum { CS_NORMAL, CS_FIFO, CS_SYSTEM };

/* One master broker: its name, its address as the name server gives it (what the API shows)
 * and the address requests go to (its VIP port when isVIPChannel). */
typedef struct cs_master {
    char cluster[128], name[128], addr[128], call[128];
} cs_master_t;

/* One consumer group of the list. */
typedef struct cs_row {
    char *group;
    int type;               /* CS_NORMAL / CS_FIFO / CS_SYSTEM */
    uint64_t held;          /* bit i: master i has the group's subscription config */
    uint64_t orderly;       /* bit i: ... with consumeMessageOrderly */
    uint64_t stats_todo;    /* bit i: master i's consume stats are still to be asked (its 317 failed) */
    int diff_known;         /* some master answered consume stats for it */
    int64_t diff;           /* Σ brokerOffset - consumerOffset over what answered */
    double tps;
    int candidate;          /* may have clients: worth a connection request */
    int conn_known;         /* count..messageModel below are filled */
    uint64_t conn_at;       /* when they were asked (monotonic ms), 0 = never */
    int count;
    int64_t version;        /* lowest client version, -1 when none */
    char consumeType[24], messageModel[24];
} cs_row_t;

typedef struct cs_list {
    cs_master_t *masters;
    int nm;
    cs_row_t *rows;
    size_t n, cap;
    cm_map_t index;         /* group -> row index + 1 */
} cs_list_t;

/* The masters of the current name server's cluster (id 0 of each broker name; a broker name
 * without a master is left out). 0, or -1 with r failed. Caller frees *out. */
int cs_masters(dh_req_t *r, cs_master_t **out, int *n);

/* The master of `addr` (a name-server address or, as the UI may send, its VIP form), -1 if the
 * address is not one of the cluster's masters. */
int cs_master_index(const cs_master_t *m, int n, const char *addr);

/* Fill l with every group of the cluster: per master one GET_ALL_SUBSCRIPTIONGROUP_CONFIG and
 * one GET_BROKER_CONSUME_STATS, plus one topic list from the name server (which groups ever had
 * a client: their %RETRY% topic). With only != NULL, just that group (per master 201 and 208).
 * Connection fields come from the cache. 0, or -1 with r failed. */
int cs_list_load(dh_req_t *r, cs_list_t *l, const char *only);
void cs_list_free(cs_list_t *l);

/* Bring the connection fields of rows idx[0..k) up to date (only candidates whose cached entry
 * is older than the cache's TTL, or all of them when force), and ask the consume stats a failed
 * bulk request left open; parallel, stopped at the time budget (the rest keep cached values). */
void cs_refresh(cs_list_t *l, const size_t *idx, size_t k, int force);

/* Forget cached connections: one group, or all (NULL). */
void cs_cache_drop(const char *group);

/* Whether the name is one of RocketMQ's system consumer groups. */
int cs_system_group(const char *group);

/* GroupConsumeInfo of a row (spec §3.13); system groups get "%SYS%" unless skip_sys. */
lj_val_t *cs_row_json(const cs_list_t *l, const cs_row_t *row, int skip_sys);

/* RocketMQ's version name of a client version code ("V4_9_4"). */
void cs_version_name(int64_t v, char out[32]);

#endif
