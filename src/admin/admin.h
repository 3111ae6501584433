/* admin: blocking admin requests to name servers and brokers, for programs that are admin
 * clients (mqadmin, loulan-dashboard). Each call opens its own connection on a private libuv
 * loop and waits for the answer (bounded by the timeout), so calls may run on any number of
 * threads at once; nothing here touches a server's event loop.
 *
 * Errors are returned as text in an ad_err_t, in the words RocketMQ's admin client uses
 * ("CODE: 17 DESC: No topic route info ..."), so that each program decides where it goes
 * (mqadmin prints it, the dashboard returns it as errMsg). */
#ifndef LOULAN_ADMIN_H
#define LOULAN_ADMIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "remoting/remoting.h"

typedef struct ad_err { char msg[512]; } ad_err_t;

/* Called before every request goes out (signing); non-zero stops the request, with e set. */
typedef int (*ad_sign_fn)(rm_cmd_t *req, ad_err_t *e);
/* Process-wide settings: set at start, before calls are made from several threads. */
void ad_set_signer(ad_sign_fn fn);
void ad_set_timeout_ms(int ms); /* default 5000 */

/* Fill e (printf style); returns -1 so that callers can `return ad_fail(e, ...)`. */
int ad_fail(ad_err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Send req to addr and wait: 0 with *resp filled (caller frees), or -1 with e = "no answer
 * from <addr> (timeout|connection failed)". Any answer code counts as an answer. */
int ad_rpc(const char *addr, rm_cmd_t *req, rm_cmd_t *resp, ad_err_t *e);
/* As ad_rpc, and require SUCCESS: else -1 with e = "CODE: n DESC: <remark's first line>". */
int ad_rpc_ok(const char *addr, rm_cmd_t *req, rm_cmd_t *resp, ad_err_t *e);
/* As ad_rpc_ok; the body parsed as JSON into *json when json is not NULL (caller frees). */
int ad_call(const char *addr, rm_cmd_t *req, lj_val_t **json, ad_err_t *e);
/* One request built from the code, an optional body (borrowed) and header fields given as
 * key, value pairs ending with NULL (a NULL value is left out); as ad_call. */
int ad_call_fields(const char *addr, lj_val_t **json, ad_err_t *e, int code, ...);
int ad_call_body(const char *addr, lj_val_t **json, ad_err_t *e, const void *body, size_t blen, int code, ...);
/* As ad_call_body, the whole answer kept in *resp (caller frees) instead of parsed. */
int ad_call_raw(const char *addr, rm_cmd_t *resp, ad_err_t *e, const void *body, size_t blen, int code, ...);

/* The va_list form of the three above: resp given = as ad_call_raw, else as ad_call_body. */
int ad_call_v(const char *addr, rm_cmd_t *resp, lj_val_t **json, ad_err_t *e, const void *body, size_t blen,
              int code, va_list ap);

/* ---- cluster lookups (name server) ---- */

/* GET_ROUTEINFO_BY_TOPIC (105) into *route (caller frees). */
int ad_route(const char *ns, const char *topic, lj_val_t **route, ad_err_t *e);
/* GET_BROKER_CLUSTER_INFO (106) into *info (caller frees). */
int ad_cluster_info(const char *ns, lj_val_t **info, ad_err_t *e);

/* One broker instance of a cluster-info or route answer. */
typedef struct ad_broker {
    char cluster[128], name[128], addr[128];
    int64_t id; /* 0 = master */
} ad_broker_t;

/* Every broker instance of a GET_BROKER_CLUSTER_INFO answer (masters and slaves), sorted by
 * name then id; *out allocated (caller frees), how many, or -1 when out of memory. */
int ad_brokers_of_info(const lj_val_t *info, ad_broker_t **out);
/* The master address (id 0) of broker `name` in a cluster-info or route answer, NULL if none. */
const char *ad_master_addr(const lj_val_t *info_or_route, const char *name);
/* The VIP-channel address of a broker address (port - 2), as RocketMQ's admin client uses it. */
void ad_vip_addr(const char *addr, char out[128]);

#endif
