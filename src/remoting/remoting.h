/* remoting: RocketMQ's TCP "remoting" protocol (spec: shared/spec/remoting-protocol.md §1).
 *
 * Two layers:
 *  - the frame codec (rm_frame_*): pure functions, any thread;
 *  - connections (rm_conn_*, rm_server_*): libuv, symmetric for both sides. A connection
 *    dispatches incoming requests to a handler table and matches incoming responses to the
 *    requests it sent by opaque, with timeouts. The broker uses the same connection both to
 *    answer a client and to send it requests (NOTIFY_CONSUMER_IDS_CHANGED, check-back).
 * Every rm_conn_* / rm_server_* function must be called on the thread that runs the loop.
 * Knows nothing of messages or routes. */
#ifndef LOULAN_REMOTING_H
#define LOULAN_REMOTING_H

#include <uv.h>

#include "common/common.h"

enum {
    RM_OK = 0,
    RM_ENOMEM = -1,
    RM_EFRAME = -10,    /* length fields inconsistent or over the limit */
    RM_EHEADER = -11,   /* header does not decode (bad JSON, bad binary layout) */
    RM_ETIMEOUT = -12,
    RM_ECLOSED = -13,
    RM_EMISSING = -14,  /* mandatory extFields member absent */
    RM_EBADVAL = -15,   /* extFields member not a valid number/bool */
    RM_ECONNECT = -16,
};

enum { RM_SER_JSON = 0, RM_SER_ROCKETMQ = 1 };
enum { RM_FLAG_RESPONSE = 1, RM_FLAG_ONEWAY = 2 };

#define RM_MAX_FRAME (16 * 1024 * 1024) /* value of the length prefix, as Java's default */
#define RM_SERVER_VERSION 409           /* V4_9_8: what Loulan says it is */
#define RM_LANG_JAVA 0
#define RM_LANG_CPP 1

/* Response codes (ResponseCode.java), the ones Loulan uses. */
enum {
    RC_SUCCESS = 0, RC_SYSTEM_ERROR = 1, RC_SYSTEM_BUSY = 2, RC_REQUEST_CODE_NOT_SUPPORTED = 3,
    RC_FLUSH_DISK_TIMEOUT = 10, RC_SLAVE_NOT_AVAILABLE = 11, RC_FLUSH_SLAVE_TIMEOUT = 12,
    RC_MESSAGE_ILLEGAL = 13, RC_SERVICE_NOT_AVAILABLE = 14, RC_VERSION_NOT_SUPPORTED = 15,
    RC_NO_PERMISSION = 16, RC_TOPIC_NOT_EXIST = 17, RC_TOPIC_EXIST_ALREADY = 18,
    RC_PULL_NOT_FOUND = 19, RC_PULL_RETRY_IMMEDIATELY = 20, RC_PULL_OFFSET_MOVED = 21,
    RC_QUERY_NOT_FOUND = 22, RC_SUBSCRIPTION_PARSE_FAILED = 23, RC_SUBSCRIPTION_NOT_EXIST = 24,
    RC_SUBSCRIPTION_NOT_LATEST = 25, RC_SUBSCRIPTION_GROUP_NOT_EXIST = 26,
    RC_CONSUMER_NOT_ONLINE = 206,
};

typedef struct rm_kv { char *key; char *val; } rm_kv_t;

/* One command (request or response). Strings are owned by the command; the body is borrowed
 * (it points into the received frame, or at caller memory when sending) unless body_owned. */
typedef struct rm_cmd {
    int32_t code;
    int32_t language;   /* LanguageCode byte */
    int32_t version;
    int32_t opaque;
    int32_t flag;
    int serialize;      /* RM_SER_JSON or RM_SER_ROCKETMQ */
    char *remark;       /* NULL = none */
    rm_kv_t *ext;
    size_t next, ext_cap;
    const uint8_t *body;
    size_t body_len;
    uint8_t *body_owned; /* freed by rm_cmd_free */
    char *arena;         /* decoded JSON header strings live here: one allocation per frame */
    size_t arena_n;      /* ext[0..arena_n) point into the arena */
} rm_cmd_t;

void rm_cmd_init(rm_cmd_t *c, int32_t code);
/* dst = the header of req (code, language, version, opaque, flag, serialize) without fields,
 * remark or body: what answering it later needs (work handed to the thread pool). */
void rm_cmd_init_header_of(rm_cmd_t *dst, const rm_cmd_t *req);
void rm_cmd_free(rm_cmd_t *c);
int rm_cmd_set_remark(rm_cmd_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copy the body into memory the command owns (for keeping a request beyond its handler). */
int rm_cmd_own_body(rm_cmd_t *c);
int rm_cmd_is_response(const rm_cmd_t *c);
int rm_cmd_is_oneway(const rm_cmd_t *c);

/* extFields. Values are canonical strings whatever JSON type the peer sent. */
const char *rm_ext_get(const rm_cmd_t *c, const char *key);
int rm_ext_set(rm_cmd_t *c, const char *key, const char *val);
/* Append a field the command does not have yet (no duplicate check: for building requests). */
int rm_ext_add(rm_cmd_t *c, const char *key, const char *val);
int rm_ext_set_i64(rm_cmd_t *c, const char *key, int64_t v);
/* Typed getters: RM_EMISSING if absent, RM_EBADVAL if unparsable; *out untouched then. */
int rm_ext_i64(const rm_cmd_t *c, const char *key, int64_t *out);
int rm_ext_i32(const rm_cmd_t *c, const char *key, int32_t *out);
int rm_ext_bool(const rm_cmd_t *c, const char *key, int *out); /* Java parseBoolean: non-"true" is false */

const char *rm_language_name(int lang);
int rm_language_parse(const char *name); /* -1 if unknown */

/* ---- frame codec ---- */
/* Given the first bytes of a stream, the full frame size (prefix included), or 0 if fewer than
 * 4 bytes are available; RM_EFRAME if the length prefix is out of range. */
int64_t rm_frame_size(const uint8_t *p, size_t avail);
/* Decode one whole frame (including its 4-byte length prefix). The body of *out points into
 * `frame`. On error *out holds nothing that needs freeing. */
int rm_frame_decode(const uint8_t *frame, size_t len, rm_cmd_t *out);
/* Append length prefix + header word + header for a frame whose body is body_len bytes. */
int rm_frame_encode_header(const rm_cmd_t *c, size_t body_len, cm_buf_t *out);
/* Append the whole frame (header and c->body). */
int rm_frame_encode(const rm_cmd_t *c, cm_buf_t *out);

/* ---- connections ---- */
typedef struct rm_conn rm_conn_t;
typedef struct rm_server rm_server_t;

/* A request handler owns nothing of req beyond the call; to answer later (long polling) it
 * keeps the opaque/serialize it needs and a reference on the connection (rm_conn_ref). */
typedef void (*rm_handler_fn)(rm_conn_t *c, rm_cmd_t *req, void *ctx);
typedef struct rm_handler { int32_t code; rm_handler_fn fn; } rm_handler_t;
/* Called once when a connection closes (peer gone, error, idle, or rm_conn_close). */
typedef void (*rm_close_fn)(rm_conn_t *c, void *ctx);

typedef struct rm_endpoint {
    const char *name;              /* for logs: "namesrv", "broker", "client" */
    const rm_handler_t *handlers;  /* table; codes not in it get REQUEST_CODE_NOT_SUPPORTED */
    size_t nhandlers;
    rm_handler_fn fallback;        /* optional: called for codes not in the table */
    /* optional: a check every request passes before its handler (field validation, later access
     * control); returns 0 to go on, or non-zero when it has answered the request itself. */
    int (*admit)(rm_conn_t *c, rm_cmd_t *req, void *ctx);
    rm_close_fn on_close;          /* optional */
    void *ctx;
    uint64_t idle_timeout_ms;      /* 0 = never; RocketMQ closes idle server channels at 120 s */
} rm_endpoint_t;

/* Listen on host:port (port 0 picks one; rm_server_port tells). `ep` must outlive the server. */
int rm_server_start(uv_loop_t *loop, const char *host, int port, const rm_endpoint_t *ep,
                    rm_server_t **out);
int rm_server_port(const rm_server_t *s);
/* Stop listening and close every accepted connection. */
void rm_server_stop(rm_server_t *s);

/* Process-wide limits of accepted connections (any thread; set them before the servers start).
 * Over max_connections (0 = no limit) a new connection is accepted and closed at once, with a
 * rate-limited log line. Reading pauses on a connection with more than 1 MiB of unwritten
 * answers (until below 256 KiB), and on every connection with unwritten answers while the
 * process has more than `bytes` queued (0 = the default, 64 MiB).
 * Fairness (every connection): at most 64 frames or 1 ms of handler time of one connection run
 * at once; the rest run on later loop turns, in order, while the connection is not read, and
 * all waiting connections share 1 ms per turn. A connection that closes (EOF, read or write
 * error, reset seen while its frames wait, rm_conn_close, idle) drops what it had read and not
 * handled; frames sent before a FIN are handled first, since the FIN is read only after them. */
void rm_set_max_connections(int n);
int rm_max_connections(void);
void rm_set_write_budget(size_t bytes);
int rm_open_connections(void);   /* accepted connections open now */
size_t rm_queued_bytes(void);    /* bytes handed to the kernel writer, not yet written */
/* Raise the soft RLIMIT_NOFILE to the hard limit where allowed; returns the soft limit now
 * in force (INT_MAX if unlimited), or -1 if it cannot be read. Call once at start. */
int rm_raise_fd_limit(void);
/* At a server's start: raise the fd limit, then set max_connections, lowered to 3/4 of the fd
 * limit so that sockets can never starve the store of descriptors; logs both. Returns the
 * limit in force. */
int rm_setup_limits(const char *who, int max_connections);

/* Open an outgoing connection to "host:port". Returns at once; requests sent before the
 * connection is up are queued; a failed connect fails them with RM_ECONNECT. */
int rm_conn_connect(uv_loop_t *loop, const char *addr, const rm_endpoint_t *ep, rm_conn_t **out);

/* Response callback: status RM_OK with resp, or an error with resp == NULL. resp is freed
 * after the callback returns. */
typedef void (*rm_response_fn)(int status, rm_cmd_t *resp, void *arg);

/* Send a request; sets opaque (and clears the response/oneway bits). The body is copied. */
int rm_conn_invoke(rm_conn_t *c, rm_cmd_t *req, uint64_t timeout_ms, rm_response_fn cb, void *arg);
int rm_conn_oneway(rm_conn_t *c, rm_cmd_t *req);

/* Answer `req` with `resp`: copies opaque and serialization from req, sets the response flag,
 * language JAVA and version RM_SERVER_VERSION. Does nothing for a oneway req. */
void rm_conn_respond(rm_conn_t *c, const rm_cmd_t *req, rm_cmd_t *resp);
/* Same by parts, for answers given after the request is gone (long polling). The body is
 * `bufs` (not copied): done(arg) is called once the bytes are written or dropped. */
typedef void (*rm_done_fn)(void *arg);
void rm_conn_respond_raw(rm_conn_t *c, int32_t opaque, int serialize, rm_cmd_t *resp,
                         const uv_buf_t *bufs, unsigned nbufs, rm_done_fn done, void *arg);
/* A piece of an answer's body that is also a range of a file (fd < 0: memory only). An answer
 * has at most RM_MAX_SPANS pieces. */
#define RM_MAX_SPANS 64
typedef struct rm_span {
    uv_buf_t mem;
    int fd;
    int64_t off;
} rm_span_t;
/* Answer with a body of spans, written now (not copied) and done with when this returns. On a
 * plain connection with nothing queued the spans go out by sendfile from their files, as
 * RocketMQ's pull answers go by transferTo: no copy into the socket. What the socket does not
 * take at once, and everything on TLS or behind queued bytes, is written from `mem` as
 * rm_conn_respond_raw writes, so the memory must stay mapped as it must there. */
void rm_conn_respond_spans(rm_conn_t *c, int32_t opaque, int serialize, rm_cmd_t *resp,
                           const rm_span_t *spans, unsigned n);
/* Answer code + remark in one call (errors). */
void rm_conn_respond_code(rm_conn_t *c, const rm_cmd_t *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Answer SUCCESS with `body` written as JSON (flags as lj_write; NULL body = none). Takes
 * ownership of body. */
void rm_conn_respond_json(rm_conn_t *c, const rm_cmd_t *req, lj_val_t *body, int flags);
/* Answer SUCCESS with the body render(snap) makes on libuv's thread pool (answers of megabytes:
 * the loop only takes snap, a flat copy); free_snap(snap) afterwards. NULL snap: SYSTEM_ERROR. */
void rm_conn_respond_render_async(rm_conn_t *c, const rm_cmd_t *req, void *snap,
                                  int (*render)(const void *snap, cm_buf_t *out), void (*free_snap)(void *snap));

/* Mandatory request-header members, as RocketMQ's @CFNotNull fields: when one is missing or
 * not a number, answer SYSTEM_ERROR naming it and return NULL / nonzero. */
const char *rm_req_str(rm_conn_t *c, const rm_cmd_t *req, const char *key);
int rm_req_i64(rm_conn_t *c, const rm_cmd_t *req, const char *key, int64_t *out);
int rm_req_i32(rm_conn_t *c, const rm_cmd_t *req, const char *key, int32_t *out);

void rm_conn_ref(rm_conn_t *c);
void rm_conn_unref(rm_conn_t *c);
void rm_conn_close(rm_conn_t *c);
int rm_conn_is_closed(const rm_conn_t *c);
const char *rm_conn_peer(const rm_conn_t *c);  /* "ip:port" of the remote side */
const char *rm_conn_local_ip(const rm_conn_t *c);
void rm_conn_set_data(rm_conn_t *c, void *data);
void *rm_conn_data(const rm_conn_t *c);
uint64_t rm_conn_id(const rm_conn_t *c);       /* unique per process, never reused */

/* ---- ACL request signatures (sign.c; acl spec §2) ---- */
#define RM_SIGN_LEN 28          /* Base64 of an HMAC-SHA1 */
/* The signature of request c with secretKey: every ext field but Signature (and, when asked,
 * _UNIQUE_KEY_QUERY) by key order, values concatenated, then the body. 0, or -1 (memory). */
int rm_sign(const rm_cmd_t *c, const char *secret, int skip_unique_key_query, char out[RM_SIGN_LEN + 1]);
/* 1 if c's Signature field is its signature with secret, in either _UNIQUE_KEY_QUERY form. */
int rm_sign_verify(const rm_cmd_t *c, const char *secret);
/* A secret prepared once (an account's at load, a client's at start) for faster signing and
 * verification: the *_key functions give the same answers as the others. Any thread. */
typedef struct rm_sign_key rm_sign_key_t;
rm_sign_key_t *rm_sign_key_new(const char *secret); /* NULL on failure */
void rm_sign_key_free(rm_sign_key_t *k);
int rm_sign_verify_key(const rm_cmd_t *c, const rm_sign_key_t *k);
int rm_sign_request_key(rm_cmd_t *c, const char *access_key, const rm_sign_key_t *k);
/* A client signs: sets AccessKey, then Signature. 0, or -1. */
int rm_sign_request(rm_cmd_t *c, const char *access_key, const char *secret);

/* ---- TLS (tls.c; tls spec §4) ----
 * RocketMQ's TLS on the remoting protocol, on OpenSSL over memory BIOs: the engine runs on the
 * connection's loop thread, never blocks and has no thread of its own. The settings are
 * process-wide, as RocketMQ's JVM properties are: one server mode and context for every
 * listener (rm_server_start), one client switch and context for every rm_conn_connect.
 * Set them up before the loops run (any thread, once); the engine belongs to one loop thread.
 * An accepted connection's first byte chooses: 0x16 starts TLS, anything else plain framing,
 * each refused by the mode as the spec's table says (the connection is closed). */
#define RM_ETLS (-17)           /* TLS handshake or record failed (the engine tells the reason) */
enum { RM_TLS_DISABLED = 0, RM_TLS_PERMISSIVE = 1, RM_TLS_ENFORCING = 2 }; /* tls.server.mode */
enum { RM_TLS_AUTH_NONE = 0, RM_TLS_AUTH_OPTIONAL = 1, RM_TLS_AUTH_REQUIRE = 2 };
#define RM_TLS_CONFIG_FILE_DEFAULT "/etc/rocketmq/tls.properties"

/* The tls.* settings, RocketMQ's names and defaults (spec §4.2). Strings owned, NULL = unset. */
typedef struct rm_tls_conf {
    int server_mode;            /* tls.server.mode: permissive */
    int test_mode;              /* tls.test.mode.enable: 1 (self-signed server cert, trust all) */
    int need_client_auth;       /* tls.server.need.client.auth: none */
    int server_auth_client;     /* tls.server.authClient: 0 */
    int client_auth_server;     /* tls.client.authServer: 0 */
    int enable;                 /* tls.enable: 0 (client side) */
    char *server_cert_path, *server_key_path, *server_key_password, *server_trust_cert_path;
    char *client_cert_path, *client_key_path, *client_key_password, *client_trust_cert_path;
    char *config_file;          /* tls.config.file: NULL = RM_TLS_CONFIG_FILE_DEFAULT if it exists */
} rm_tls_conf_t;

void rm_tls_conf_init(rm_tls_conf_t *tc);
void rm_tls_conf_free(rm_tls_conf_t *tc);
/* One setting: 0 when key is a tls.* key and taken, -1 when it is not a TLS key, -2 bad value
 * (tls.server.mode and need.client.auth read anything unknown as RocketMQ does, not as errors). */
int rm_tls_conf_set(rm_tls_conf_t *tc, const char *key, const char *val);
/* The -Dtls.*=value words of a JAVA_OPT-style string (how RocketMQ users give them); other
 * words are ignored. 0, or -1 with err naming the key. NULL java_opt: nothing. */
int rm_tls_conf_java_opt(rm_tls_conf_t *tc, const char *java_opt, char *err, size_t errlen);
/* Apply tls.config.file: its values override every key except tls.server.mode and tls.enable.
 * The default file may be absent; a file named by tls.config.file must be readable.
 * 0, or -1 with err naming the key. */
int rm_tls_conf_load_file(rm_tls_conf_t *tc, char *err, size_t errlen);

/* Build the process-wide server context from tc and set the server mode (disabled builds
 * none). Test mode makes a self-signed EC P-256 certificate in memory. 0, or -1 with err
 * naming the key at fault (unreadable tls.server.certPath, key does not match, ...).
 * Connections accepted later use the new context. */
int rm_tls_server_setup(const rm_tls_conf_t *tc, char *err, size_t errlen);
/* Build the process-wide client context from tc and switch client TLS to tc->enable. 0, or -1
 * with err naming the key. */
int rm_tls_client_setup(const rm_tls_conf_t *tc, char *err, size_t errlen);
void rm_tls_set_server_mode(int mode);
int rm_tls_server_mode(void);
const char *rm_tls_mode_name(int mode);
/* Outgoing connections opened from now on use TLS (on = 1) or not. Without a client context
 * (no rm_tls_client_setup) switching on builds a test-mode one: trust any server. */
void rm_tls_client_enable(int on);
int rm_tls_client_enabled(void);
/* Free both contexts and reset the settings (tests, exit); connections keep what they hold. */
void rm_tls_cleanup(void);
/* Certificate hot reload, as RocketMQ's servers do: every 500 ms the server's certPath, keyPath
 * and trustCertPath are hashed; a changed trust file rebuilds the server context at once, cert
 * and key once both have changed. Connections accepted afterwards use the new context; a
 * rebuild that fails keeps the old one (logged). Nothing to watch in test mode or disabled.
 * Loop thread; rm_tls_watch_stop closes the timer (before the loop ends). 0 or RM_ENOMEM. */
int rm_tls_watch_start(uv_loop_t *loop, const rm_tls_conf_t *tc);
void rm_tls_watch_stop(void);

/* The first byte of an accepted connection under `mode`: RM_SNIFF_TLS (0x16), RM_SNIFF_PLAIN,
 * or RM_SNIFF_REFUSE (close it). */
enum { RM_SNIFF_REFUSE = -1, RM_SNIFF_PLAIN = 0, RM_SNIFF_TLS = 1 };
int rm_tls_sniff(int mode, uint8_t first);

/* One connection's TLS engine (memory only; conn.c moves the bytes). */
typedef struct rm_tls rm_tls_t;
/* A server (server = 1) or client engine on the process-wide context; NULL when that side has
 * no context (or no memory). A client engine starts its handshake: take its output. */
rm_tls_t *rm_tls_new(int server);
void rm_tls_free(rm_tls_t *t);
/* Ciphertext from the peer, copied in; advances the handshake. 0, or RM_ETLS. */
int rm_tls_feed(rm_tls_t *t, const uint8_t *in, size_t n);
/* Decrypted bytes into buf: > 0 bytes, 0 none now, RM_ECLOSED (peer's close_notify), RM_ETLS. */
int rm_tls_read(rm_tls_t *t, uint8_t *buf, size_t cap);
/* Encrypt p[0..n) (copied); before the handshake ends it waits inside the engine. 0 or error. */
int rm_tls_write(rm_tls_t *t, const void *p, size_t n);
/* The ciphertext waiting to be sent, malloc'd (caller frees), NULL when none. */
char *rm_tls_take_output(rm_tls_t *t, size_t *len);
int rm_tls_handshake_done(const rm_tls_t *t);
const char *rm_tls_last_error(const rm_tls_t *t); /* why the last call failed, for the log */
/* Does this connection run TLS (accepted: once its first byte chose it)? */
int rm_conn_is_tls(const rm_conn_t *c);

#endif
