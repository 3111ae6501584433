/* grpc: a small gRPC-over-HTTP/2 server on a libuv loop (nghttp2 for HTTP/2, the remoting
 * module's OpenSSL engine for TLS). It knows nothing of RocketMQ: it listens on a port, tells TLS
 * from h2c by each connection's first byte (0x16 = TLS, as tls.server.mode permits), frames
 * messages (1 flag byte, 4-byte big-endian length, bytes), routes calls by :path through a table
 * of methods and answers with HEADERS, DATA and trailers (or trailers alone for errors).
 * Unknown paths get grpc-status 12 UNIMPLEMENTED; RST_STREAM cancels a call.
 *
 * Bounds: gp_limits_t (message size, concurrent streams per connection, unwritten output per
 * connection). Input that breaks HTTP/2 closes that connection only.
 *
 * Threads: every gp_* function runs on the loop thread, except the pure helpers marked "any
 * thread" (gp_timeout_parse, gp_frame_*), which the unit tests and the fuzz target call. */
#ifndef LOULAN_GRPC_H
#define LOULAN_GRPC_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

enum {
    GP_OK = 0,
    GP_ENOMEM = -1,
    GP_EINVAL = -2,
    GP_ETOOBIG = -3,        /* a message over gp_limits_t.max_message */
    GP_ECOMPRESSED = -4,    /* compressed flag set: no grpc-encoding is accepted */
    GP_ELISTEN = -5,
};

/* grpc-status codes this server answers with */
enum {
    GP_STATUS_OK = 0, GP_STATUS_CANCELLED = 1, GP_STATUS_UNKNOWN = 2, GP_STATUS_INVALID_ARGUMENT = 3,
    GP_STATUS_DEADLINE_EXCEEDED = 4, GP_STATUS_RESOURCE_EXHAUSTED = 8, GP_STATUS_UNIMPLEMENTED = 12,
    GP_STATUS_INTERNAL = 13, GP_STATUS_UNAVAILABLE = 14,
};

/* ---- pure helpers (any thread) ---- */
/* The grpc-timeout header ("1-8 digits" + unit H M S m u n) in milliseconds, rounded up;
 * 0 and *ms set, or GP_EINVAL for anything else. */
int gp_timeout_parse(const char *v, size_t len, uint64_t *ms);
/* Length-prefixed message framing. gp_frame_next looks at p[0..n): 1 and msg, msglen, used set
 * when a whole message is there, 0 when more bytes are needed, GP_ETOOBIG when its length
 * exceeds max, GP_ECOMPRESSED when its flag byte is not 0. */
int gp_frame_next(const uint8_t *p, size_t n, size_t max, const uint8_t **msg, size_t *msglen, size_t *used);
/* Write the 5-byte prefix of a len-byte uncompressed message into out. */
void gp_frame_prefix(uint8_t out[5], size_t len);

/* ---- the server ---- */
typedef struct gp_server gp_server_t;
typedef struct gp_call gp_call_t;

/* A method. Unary and server-streaming methods (streaming_request 0) get on_message once, when
 * the client has half-closed with exactly one message (none or several: INTERNAL). Bidi methods
 * (streaming_request 1) get on_message for each message as it arrives and on_half_close when
 * the client ends its side. on_cancel (optional) runs once if the call ends before the handler
 * finished it (RST_STREAM, connection closed, server stop); the call is then unusable after the
 * callback except for gp_call_unref. `msg` is valid during the callback only. */
typedef struct gp_method {
    const char *path;   /* "/package.Service/Method" */
    int streaming_request;
    void (*on_message)(gp_call_t *call, const uint8_t *msg, size_t len, void *ctx);
    void (*on_half_close)(gp_call_t *call, void *ctx);
    void (*on_cancel)(gp_call_t *call, void *ctx);
} gp_method_t;

typedef struct gp_limits {
    size_t max_message;         /* one request message, bytes (RocketMQ: 130 MiB) */
    uint32_t max_streams;       /* SETTINGS_MAX_CONCURRENT_STREAMS per connection */
    size_t max_output;          /* unwritten bytes per connection before reading pauses */
    size_t max_header_list;     /* SETTINGS_MAX_HEADER_LIST_SIZE */
    int max_connections;        /* 0 = no limit */
} gp_limits_t;
void gp_limits_default(gp_limits_t *l);

typedef struct gp_config {
    const char *name;           /* for logs */
    const gp_method_t *methods;
    size_t nmethods;
    void *ctx;                  /* handed to every callback */
    gp_limits_t limits;
    int tls_mode;               /* RM_TLS_DISABLED / PERMISSIVE / ENFORCING (remoting.h) */
} gp_config_t;

/* Listen on host:port (port 0 picks one; gp_server_port tells). cfg->methods must outlive the
 * server. 0, or GP_ELISTEN / GP_ENOMEM (logged). */
int gp_server_start(uv_loop_t *loop, const char *host, int port, const gp_config_t *cfg, gp_server_t **out);
int gp_server_port(const gp_server_t *s);
/* Stop listening, cancel every call, close every connection; close_cb(arg) once all handles
 * are closed, then the server is freed. */
void gp_server_stop(gp_server_t *s, void (*close_cb)(void *arg), void *arg);

/* ---- a call (loop thread) ---- */
/* Request metadata by lower-case name, NULL if absent. Valid while the call lives. */
const char *gp_call_header(const gp_call_t *call, const char *name);
const char *gp_call_path(const gp_call_t *call);
const char *gp_call_peer(const gp_call_t *call);      /* "ip:port" of the client */
const char *gp_call_local(const gp_call_t *call);     /* "ip:port" the client connected to */
uint64_t gp_call_conn_id(const gp_call_t *call);      /* unique per connection, never reused */
int gp_call_is_tls(const gp_call_t *call);
/* Absolute deadline in loop milliseconds (uv_now) from grpc-timeout, 0 if none. */
uint64_t gp_call_deadline(const gp_call_t *call);
/* Send one response message (the response HEADERS go first, once). Copies msg. 0, or
 * GP_EINVAL when the call is finished or cancelled, GP_ENOMEM. */
int gp_call_send(gp_call_t *call, const uint8_t *msg, size_t len);
/* End the call with grpc-status (and grpc-message when message is not NULL): trailers after the
 * messages sent, or a trailers-only answer when none was. The call may not be used afterwards
 * except for gp_call_unref. */
void gp_call_finish(gp_call_t *call, int status, const char *message);
int gp_call_finished(const gp_call_t *call);          /* finished or cancelled */
/* A handler that answers after its callback returns keeps the call alive with a reference. */
void gp_call_ref(gp_call_t *call);
void gp_call_unref(gp_call_t *call);
void gp_call_set_data(gp_call_t *call, void *data);
void *gp_call_data(const gp_call_t *call);

/* ---- for tests and the fuzz target: a connection without a socket ---- */
/* Feed bytes as if read from a plaintext connection; output is discarded. Returns 0, or -1 when
 * the connection would have been closed (the fake is then reset for the next input). */
typedef struct gp_fake gp_fake_t;
gp_fake_t *gp_fake_new(const gp_config_t *cfg);
int gp_fake_feed(gp_fake_t *f, const uint8_t *p, size_t n);
size_t gp_fake_output(const gp_fake_t *f);            /* bytes the server would have written */
void gp_fake_free(gp_fake_t *f);
#endif
