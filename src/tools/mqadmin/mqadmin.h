/* mqadmin's private header: what the command files share. main_mqadmin.c holds the command
 * table and dispatch; cmd_<group>.c the subcommands of one group (topic, cluster, group,
 * message, broker, name server), each `int cmd_<name>(argc, argv)` returning the exit status
 * (0 ok, 1 failed, 2 bad usage); util.c the helpers below (prefix ma_). Every error is one line
 * on stderr. Single-threaded: each call runs its own private libuv loop until answered. */
#ifndef LOULAN_TOOLS_MQADMIN_H
#define LOULAN_TOOLS_MQADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "admin/admin.h"
#include "common/common.h"
#include "loulan/client.h"
#include "remoting/remoting.h"

/* ---- requests (util.c) ---- */

/* Send req to addr and wait; 0 with *resp filled (caller frees), or an error after a message. */
int ma_rpc(const char *addr, rm_cmd_t *req, rm_cmd_t *resp);
/* As ma_rpc, and require SUCCESS: else -1 after one "CODE: n DESC: ..." line on stderr. */
int ma_rpc_ok(const char *addr, rm_cmd_t *req, rm_cmd_t *resp);
/* Call and require SUCCESS; the body is parsed as JSON into *json when asked (caller frees). */
int ma_call_ok(const char *addr, rm_cmd_t *req, lj_val_t **json);
/* One request: the code, then header fields as key, value pairs (a NULL value is left out)
 * ending with NULL; as ma_call_ok. */
int ma_call_fields(const char *addr, lj_val_t **json, int code, ...);
/* As ma_call_fields with a body (borrowed); the answer kept in *resp (caller frees) when resp
 * is not NULL. */
int ma_call_raw(const char *addr, rm_cmd_t *resp, const void *body, size_t blen, int code, ...);

/* ---- options and addresses (util.c) ---- */

/* getopt over argv with spec; vals[c] = the argument of -c ("true" for a flag). -1 on a bad option. */
int ma_parse(int argc, char **argv, const char *spec, const char **vals /* indexed by char */);
/* The first name server of -n (opt) or NAMESRV_ADDR, or NULL after a message. Static storage. */
const char *ma_namesrv(const char *opt);
/* Every name server of -n / NAMESRV_ADDR ("a;b") into out; how many (0 after a message). */
int ma_ns_all(const char *opt, char out[][128], int max);
/* GET_ROUTEINFO_BY_TOPIC from the name server into *route (caller frees); ns NULL fails. */
int ma_fetch_route(const char *ns, const char *topic, lj_val_t **route);
/* Master addresses of the brokers of `cluster` (NULL: of every cluster); how many. */
int ma_cluster_masters(const char *ns, const char *cluster, char addrs[][128], int max);
/* Masters of the brokers serving a topic (from its route), names too when asked; how many, -1
 * when the route lookup failed (it said why). */
int ma_topic_masters(const char *ns, const char *topic, char addrs[][128], char names[][128], int max);
/* The brokers of -b, else the masters of cluster -c (v as ma_parse filled it); how many. */
int ma_broker_addrs(const char *const *v, char addrs[][128], int max);

/* -b when given, else the first master serving topic, into addr; -1 after a message. */
int ma_broker_or_master(const char *b, const char *nsopt, const char *topic, char addr[128]);

/* ---- queue tables and printing (util.c) ---- */

/* One queue's figures from an answer's offsetTable ({MessageQueue: {...}} as fastjson writes). */
typedef struct ma_mqrow { char topic[256], broker[128]; int qid; int64_t v[3]; } ma_mqrow_t;

/* Append the rows of tab; v[i] is the member named f[i] of each value. */
void ma_collect_rows(const lj_val_t *tab, const char *const f[3], ma_mqrow_t **rows, size_t *n);
/* qsort order of rows: topic, broker, queue id (Java's MessageQueue.compareTo). */
int ma_cmp_mqrow(const void *a, const void *b);
/* yyyy-MM-dd HH:mm:ss,SSS in local time, RocketMQ's timeMillisToHumanString2. */
void ma_human_time(int64_t ms, char *out, size_t n);
/* yyyy-MM-dd HH:mm:ss in local time, the "#LastTime" column of the consume stats. */
void ma_date_time(int64_t ms, char *out, size_t n);
/* MQVersion.getVersionDesc: the enum's name for an ordinal. Static storage. */
const char *ma_version_desc(int64_t v);
/* The first n characters of s (two static buffers in turn: two may be used in one printf). */
const char *ma_front(const char *s, int n);

/* ---- the subcommands, one per row of the table in main_mqadmin.c ---- */

/* cmd_topic.c */
int cmd_topic_list(int argc, char **argv);
int cmd_topic_route(int argc, char **argv);
int cmd_update_topic(int argc, char **argv);
int cmd_update_topic_perm(int argc, char **argv);
int cmd_delete_topic(int argc, char **argv);
int cmd_topic_status(int argc, char **argv);
int cmd_topic_cluster_list(int argc, char **argv);
int cmd_stats_all(int argc, char **argv);
/* cmd_cluster.c */
int cmd_cluster_list(int argc, char **argv);
/* cmd_group.c */
int cmd_consumer_progress(int argc, char **argv);
int cmd_consumer_connection(int argc, char **argv);
int cmd_consumer_status(int argc, char **argv);
int cmd_producer_connection(int argc, char **argv);
int cmd_update_sub_group(int argc, char **argv);
int cmd_delete_sub_group(int argc, char **argv);
int cmd_get_consumer_config(int argc, char **argv);
int cmd_reset_offset_by_time(int argc, char **argv);
int cmd_skip_accumulated(int argc, char **argv);
int cmd_clone_group_offset(int argc, char **argv);
/* cmd_message.c */
int cmd_send_message(int argc, char **argv);
int cmd_query_msg_by_key(int argc, char **argv);
int cmd_query_msg_by_id(int argc, char **argv);
int cmd_query_msg_by_unique_key(int argc, char **argv);
int cmd_query_msg_by_offset(int argc, char **argv);
int cmd_print_messages(int argc, char **argv);
int cmd_consume_messages(int argc, char **argv);
int cmd_decode_message_id(int argc, char **argv);
/* cmd_broker.c */
int cmd_broker_status(int argc, char **argv);
int cmd_get_broker_config(int argc, char **argv);
int cmd_update_broker_config(int argc, char **argv);
int cmd_clean_expired_cq(int argc, char **argv);
int cmd_clean_unused_topic(int argc, char **argv);
int cmd_delete_expired_commitlog(int argc, char **argv);
int cmd_broker_consume_stats(int argc, char **argv);
int cmd_query_cq(int argc, char **argv);
/* cmd_namesrv.c */
int cmd_wipe_write_perm(int argc, char **argv);
int cmd_add_write_perm(int argc, char **argv);
int cmd_get_namesrv_config(int argc, char **argv);
int cmd_update_namesrv_config(int argc, char **argv);
int cmd_update_kv_config(int argc, char **argv);
int cmd_delete_kv_config(int argc, char **argv);

/* cmd_dledger.c */
int cmd_leadership_transfer(int argc, char **argv);
/* cmd_acl.c: the ACL admin requests 50-53 (acl spec §3) */
int cmd_update_acl_config(int argc, char **argv);
int cmd_delete_acl_config(int argc, char **argv);
int cmd_cluster_acl_config_version(int argc, char **argv);
int cmd_update_global_white_addr(int argc, char **argv);
/* cmd_trace.c: message trace (acl spec §5.4) */
int cmd_query_msg_trace_by_id(int argc, char **argv);

/* ---- security ---- */
/* sign.c: sign req with the keys of tools.yml (acl spec §2.5), when both are configured. 0, or
 * -1 after a message. Called by ma_rpc for every request. */
int ma_sign(rm_cmd_t *req);
/* tls.c: read the TLS client settings (tls spec §4.2) once at start; 0, or -1 after a message. */
int ma_tls_init(void);

#endif
