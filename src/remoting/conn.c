/* Connections on libuv: framing of the byte stream, dispatch of requests to a handler table,
 * matching of responses to outstanding requests by opaque (with timeouts), and buffered writes.
 *
 * Writes made while a read callback runs are gathered into one buffer and written once at the
 * end of that callback, so a burst of pipelined requests costs one writev, not one per answer.
 * A connection is freed when it is closed and nobody holds a reference (rm_conn_ref).
 *
 * Hardening of accepted connections (the peers are clients we do not trust):
 *  - backpressure: a connection whose unwritten answers pass WQ_HIGH stops being read (and its
 *    already-read requests wait) until they drain below WQ_LOW; past the process-wide write
 *    budget, every connection that still has unwritten answers pauses too;
 *  - memory: reads land in one per-thread scratch buffer, a connection keeps its own buffer only
 *    for a partial frame, so an idle connection holds no read buffer; after many closes the
 *    heap is trimmed from a timer;
 *  - a process-wide connection limit, and "out of file descriptors" said as such;
 *  - fairness: one connection's frames are handled at most TURN_FRAMES / TURN_NS per loop turn;
 *    the rest wait, in order, for a later turn (an idle handle), and the connection is not read
 *    meanwhile, so its buffered input stays one read chunk and a FIN sent after requests is seen
 *    only once they were all handled (RocketMQ's Netty server also handles what it read first);
 *  - a closing connection (EOF, read or write error, rm_conn_close, idle) drops its buffered
 *    input at once: a client that pipelined and left costs nothing more.
 *
 * TLS (tls.c): an accepted connection's first byte chooses TLS or plain framing under the
 * process-wide mode; outgoing connections use TLS when the process's client switch is on. A TLS
 * connection reads ciphertext into the scratch buffer, hands it to its engine and runs the
 * frame decoder on the plaintext; every write (zero-copy bodies too) goes through the engine. */
#include "remoting.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define NBUCKETS 64
#define READ_CHUNK 65536
#define MAX_WRITE_QUEUE (256u * 1024 * 1024) /* a peer that stops reading is cut off */
#define SWEEP_MS 100
#define WQ_HIGH (1u * 1024 * 1024)  /* per connection: stop reading above this much unwritten */
#define WQ_LOW (256u * 1024)        /* ... and resume below this */
#define WQ_BUDGET_DEFAULT (64u * 1024 * 1024) /* all connections of the process together */
#define TRIM_EVERY_MS 1000
#define TRIM_AFTER_CLOSES 256       /* malloc_trim once this many connections were freed */
#define LOG_EVERY_MS 10000          /* rate limit for per-event warnings (refusals, EMFILE) */
#define TURN_FRAMES 64              /* frames of one connection handled per loop turn ... */
#define TURN_NS 1000000ull          /* ... or this much handler time, whichever comes first */

typedef struct pending {
    int32_t opaque;
    uint64_t deadline;
    rm_response_fn cb;
    void *arg;
    struct pending *next;
} pending_t;

struct rm_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_prepare_t flush_prep;    /* writes queued outside a read go out once per loop turn */
    uv_idle_t turn;             /* runs while whole frames wait for their turn (fairness) */
    uv_connect_t connect_req;
    uv_loop_t *loop;
    const rm_endpoint_t *ep;
    rm_server_t *server;
    rm_conn_t *next, *prev; /* in server's list */
    int refs;
    int closing;
    int handles_open;
    int connected;
    int in_read;
    int accepted;       /* by one of our servers: counted in the limit, subject to backpressure */
    int paused;         /* reading stopped by backpressure */
    int resume_pending; /* the prepare handle resumes reading on its next run */
    int reading;        /* uv_read_start in force */
    int waiting;        /* whole frames left for a later turn: the idle handle runs */
    uint64_t turn_no;   /* the loop turn its idle handle last ran in (on_turn) */
    rm_conn_t *rq_prev, *rq_next; /* in the thread's run queue while waiting */
    size_t queued;      /* bytes handed to uv_write and not yet written */
    uint64_t last_sweep;
    uint8_t *rbuf;      /* only a partial frame, or frames left for a later turn or while paused */
    size_t rpos, rlen, rcap; /* the unhandled bytes are rbuf[rpos, rpos + rlen) */
    cm_buf_t out;
    pending_t *pending[NBUCKETS];
    size_t npending;
    int32_t next_opaque;
    uint64_t last_active;
    uint64_t id;
    void *data;
    rm_tls_t *tls;      /* TLS engine, NULL for plain framing */
    int sniffed;        /* plain or TLS is decided (accepted: by the first byte read) */
    char peer[64];
    char local_ip[64];
};

struct rm_server {
    uv_tcp_t tcp;
    uv_loop_t *loop;
    const rm_endpoint_t *ep;
    uv_timer_t trim;     /* gives freed connection memory back, watches the fd limit */
    int handles_open;
    int reserve_fd;      /* closed when accept fails for lack of fds, so the next accept works */
    int shedding;        /* that next connection is closed at once and the reserve reopened */
    rm_conn_t *conns;
    int port;
    int stopping;
};

typedef struct write_req {
    uv_write_t req;
    rm_conn_t *conn;
    char *owned;          /* header or gathered bytes, freed after the write */
    size_t len;           /* all bytes of this write, for the queue accounting */
    rm_done_fn done;
    void *arg;
} write_req_t;

static uint64_t g_next_id = 1;

/* Process-wide state. Atomic because client-library processes may run several loops. */
static atomic_size_t g_queued;        /* bytes queued for writing over all connections */
static atomic_int g_nconns;           /* accepted connections open */
static atomic_int g_freed_since_trim;
static atomic_int g_max_conns;        /* 0 = no limit */
static atomic_size_t g_budget = WQ_BUDGET_DEFAULT;
static _Thread_local uint8_t *t_scratch; /* the loop thread's read buffer, READ_CHUNK bytes */
static pthread_key_t g_scratch_key;      /* frees it when a (client library) loop thread ends */
static pthread_once_t g_scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local uint64_t t_turn = 1;   /* the loop turn, as on_turn counts them */
static _Thread_local uint64_t t_turn_ns;    /* handler time spent in this turn */
static _Thread_local unsigned t_nwaiting;   /* connections of this thread with frames waiting */
static _Thread_local rm_conn_t *t_rq_head, *t_rq_tail; /* ... in the order they are served */

static void conn_flush(rm_conn_t *c);
static void conn_resume(rm_conn_t *c);
static void maybe_resume(rm_conn_t *c);
static void on_flush_prep(uv_prepare_t *h);
static void update_reading(rm_conn_t *c);
static void runq_remove(rm_conn_t *c);
static void consume(rm_conn_t *c, const uint8_t *p, size_t n);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static int write_bufs(rm_conn_t *c, char *owned, size_t owned_len, const uv_buf_t *extra,
                      unsigned nextra, rm_done_fn done, void *arg);
static int write_wire(rm_conn_t *c, char *owned, size_t owned_len, const uv_buf_t *extra,
                      unsigned nextra, rm_done_fn done, void *arg);

void rm_set_max_connections(int n) { atomic_store(&g_max_conns, n > 0 ? n : 0); }
int rm_max_connections(void) { return atomic_load(&g_max_conns); }
void rm_set_write_budget(size_t bytes) { atomic_store(&g_budget, bytes ? bytes : WQ_BUDGET_DEFAULT); }
int rm_open_connections(void) { return atomic_load(&g_nconns); }
size_t rm_queued_bytes(void) { return atomic_load(&g_queued); }

int rm_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl); /* not allowed: keep what we have */
    }
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 0x7fffffff ? 0x7fffffff : (int)rl.rlim_cur;
}

int rm_setup_limits(const char *who, int max_connections)
{
    int fds = rm_raise_fd_limit();
    int max = max_connections;
    if (fds > 0 && (max == 0 || max > fds / 4 * 3)) {
        max = fds / 4 * 3 > 1 ? fds / 4 * 3 : 1;
        LOG_W("remoting", "%s: maxConnections=%d does not fit the file descriptor limit %d: using %d",
              who, max_connections, fds, max);
    }
    rm_set_max_connections(max);
    LOG_I("remoting", "%s: file descriptor limit %d, maxConnections %d", who, fds, max);
    return max;
}

static int fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 0x7fffffff)
        return -1;
    return (int)rl.rlim_cur;
}

/* At most one line per LOG_EVERY_MS for an event that a flood of peers could repeat; *skipped
 * counts the lines held back, which the next line reports. */
static int log_allowed(uint64_t *last, uint64_t now)
{
    if (*last && now - *last < LOG_EVERY_MS)
        return 0;
    *last = now ? now : 1;
    return 1;
}

/* ---- lifetime ---- */

static void conn_free(rm_conn_t *c)
{
    rm_tls_free(c->tls);
    free(c->rbuf);
    cm_buf_free(&c->out);
    free(c);
    atomic_fetch_add(&g_freed_since_trim, 1);
}

void rm_conn_ref(rm_conn_t *c) { c->refs++; }

void rm_conn_unref(rm_conn_t *c)
{
    if (--c->refs == 0)
        conn_free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    rm_conn_t *c = h->data;
    if (--c->handles_open == 0)
        rm_conn_unref(c); /* the reference the open connection held on itself */
}

static void fail_pending(rm_conn_t *c, int status)
{
    for (int i = 0; i < NBUCKETS; i++) {
        pending_t *p = c->pending[i];
        c->pending[i] = NULL;
        while (p) {
            pending_t *n = p->next;
            p->cb(status, NULL, p->arg);
            free(p);
            p = n;
        }
    }
    c->npending = 0;
}

/* Forget what was read and not handled. Not while the frames are being handled: a handler that
 * closes its own connection may still look at its request, which points into rbuf. */
static void drop_input(rm_conn_t *c)
{
    free(c->rbuf);
    c->rbuf = NULL;
    c->rpos = c->rlen = c->rcap = 0;
}

void rm_conn_close(rm_conn_t *c)
{
    if (c->closing)
        return;
    conn_flush(c); /* what was queued this turn still goes out first */
    c->closing = 1;
    if (!c->in_read)
        drop_input(c); /* a dead peer's pipelined requests are not worth answering */
    if (c->waiting) { /* its idle handle stops with the close below */
        c->waiting = 0;
        t_nwaiting--;
        runq_remove(c);
    }
    if (c->accepted) {
        c->accepted = 0;
        atomic_fetch_sub(&g_nconns, 1);
    }
    rm_conn_ref(c); /* callbacks below may drop references */
    if (c->server) {
        if (c->prev)
            c->prev->next = c->next;
        else
            c->server->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        c->server = NULL;
    }
    fail_pending(c, c->connected ? RM_ECLOSED : RM_ECONNECT);
    if (c->ep && c->ep->on_close)
        c->ep->on_close(c, c->ep->ctx);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    uv_close((uv_handle_t *)&c->flush_prep, on_handle_closed);
    uv_close((uv_handle_t *)&c->turn, on_handle_closed);
    rm_conn_unref(c);
}

int rm_conn_is_closed(const rm_conn_t *c) { return c->closing; }
const char *rm_conn_peer(const rm_conn_t *c) { return c->peer; }
const char *rm_conn_local_ip(const rm_conn_t *c) { return c->local_ip; }
void rm_conn_set_data(rm_conn_t *c, void *data) { c->data = data; }
void *rm_conn_data(const rm_conn_t *c) { return c->data; }
uint64_t rm_conn_id(const rm_conn_t *c) { return c->id; }
int rm_conn_is_tls(const rm_conn_t *c) { return c->tls != NULL; }

/* ---- pending requests ---- */

static void on_sweep(uv_timer_t *t)
{
    rm_conn_t *c = t->data;
    uint64_t now = uv_now(c->loop);
    /* A sweep far later than planned means the loop was blocked (a long handler, a slow disk):
     * that time is not the peer's idleness. */
    if (c->last_sweep && now - c->last_sweep > 2 * SWEEP_MS) {
        c->last_active += now - c->last_sweep - SWEEP_MS;
        if (c->last_active > now)
            c->last_active = now;
    }
    c->last_sweep = now;
    maybe_resume(c); /* a pause for the global budget ends when others have drained */
    if (c->ep && c->ep->idle_timeout_ms && now - c->last_active > c->ep->idle_timeout_ms) {
        LOG_I("remoting", "closing idle connection %s", c->peer);
        rm_conn_close(c);
        return;
    }
    if (c->npending == 0)
        return;
    rm_conn_ref(c);
    for (int i = 0; i < NBUCKETS && !c->closing; i++) {
        pending_t **pp = &c->pending[i];
        while (*pp) {
            pending_t *p = *pp;
            if (p->deadline > now) {
                pp = &p->next;
                continue;
            }
            *pp = p->next;
            c->npending--;
            p->cb(RM_ETIMEOUT, NULL, p->arg);
            free(p);
        }
    }
    rm_conn_unref(c);
}

static pending_t *take_pending(rm_conn_t *c, int32_t opaque)
{
    pending_t **pp = &c->pending[(uint32_t)opaque % NBUCKETS];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->opaque == opaque) {
            pending_t *p = *pp;
            *pp = p->next;
            c->npending--;
            return p;
        }
    }
    return NULL;
}

/* ---- reading ---- */

static void scratch_key_init(void) { pthread_key_create(&g_scratch_key, free); }

static uint8_t *scratch(void)
{
    if (!t_scratch) {
        pthread_once(&g_scratch_once, scratch_key_init);
        t_scratch = malloc(READ_CHUNK);
        if (t_scratch)
            pthread_setspecific(g_scratch_key, t_scratch);
    }
    return t_scratch;
}

/* Reads go to the thread's scratch buffer unless a partial frame is waiting in the
 * connection's own buffer, so idle connections hold no read memory. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    rm_conn_t *c = h->data;
    (void)suggested;
    if (c->rlen == 0 || c->tls) { /* TLS: ciphertext, which the engine copies at once */
        buf->base = (char *)scratch();
        buf->len = buf->base ? READ_CHUNK : 0;
        return;
    }
    if (c->rpos) { /* read only with a partial frame left: move it to the front first */
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen);
        c->rpos = 0;
    }
    if (c->rcap - c->rlen < READ_CHUNK / 4) {
        size_t cap = c->rcap + READ_CHUNK;
        uint8_t *p = realloc(c->rbuf, cap);
        if (!p) {
            buf->base = NULL;
            buf->len = 0;
            return;
        }
        c->rbuf = p;
        c->rcap = cap;
    }
    buf->base = (char *)c->rbuf + c->rlen;
    buf->len = c->rcap - c->rlen;
}

static void dispatch_request(rm_conn_t *c, rm_cmd_t *req)
{
    const rm_endpoint_t *ep = c->ep;
    if (ep->admit && ep->admit(c, req, ep->ctx) != 0)
        return;
    for (size_t i = 0; i < ep->nhandlers; i++) {
        if (ep->handlers[i].code == req->code) {
            ep->handlers[i].fn(c, req, ep->ctx);
            return;
        }
    }
    if (ep->fallback) {
        ep->fallback(c, req, ep->ctx);
        return;
    }
    static uint64_t last_log; /* a client may send any number of them */
    if (log_allowed(&last_log, uv_now(c->loop)))
        LOG_W("remoting", "%s: request code %d from %s not supported", ep->name, req->code, c->peer);
    rm_conn_respond_code(c, req, RC_REQUEST_CODE_NOT_SUPPORTED, " request type %d not supported", req->code);
}

/* Handle one complete frame. Returns 0, or an error that closes the connection. */
static int handle_frame(rm_conn_t *c, const uint8_t *p, size_t n)
{
    rm_cmd_t cmd;
    int rc = rm_frame_decode(p, n, &cmd);
    if (rc) {
        LOG_W("remoting", "%s: undecodable frame (%zu bytes, error %d) from %s, closing", c->ep->name, n, rc, c->peer);
        return rc;
    }
    if (rm_cmd_is_response(&cmd)) {
        pending_t *pend = take_pending(c, cmd.opaque);
        if (pend) {
            pend->cb(RM_OK, &cmd, pend->arg);
            free(pend);
        } else {
            LOG_D("remoting", "response for unknown opaque %d from %s", cmd.opaque, c->peer);
        }
    } else {
        dispatch_request(c, &cmd);
    }
    rm_cmd_free(&cmd);
    return 0;
}

/* Bytes this connection owes its peer: gathered this turn plus handed to uv_write. */
static size_t backlog(const rm_conn_t *c) { return c->out.len + c->queued; }

/* Stop reading an accepted connection whose peer does not take its answers fast enough, or
 * that still has answers pending while the whole process is over its write budget. Outgoing
 * connections never pause: their peers are our servers, and pausing both ends could deadlock. */
static int must_pause(const rm_conn_t *c)
{
    size_t b = backlog(c);
    return c->accepted && (b > WQ_HIGH || (b > 0 && atomic_load(&g_queued) + c->out.len > atomic_load(&g_budget)));
}

static int may_resume(const rm_conn_t *c)
{
    size_t b = backlog(c);
    return b < WQ_LOW && (b == 0 || atomic_load(&g_queued) <= atomic_load(&g_budget));
}

static void conn_pause(rm_conn_t *c)
{
    static uint64_t last_log;
    c->paused = 1; /* consume stops reading when the batch ends */
    if (log_allowed(&last_log, uv_now(c->loop)))
        LOG_I("remoting", "%s: %s does not take its answers (%zu bytes unwritten, %zu in the process): "
              "reading paused until they drain", c->ep->name, c->peer, backlog(c), atomic_load(&g_queued));
}

/* Called when writes complete and from the sweep: resumes on the next prepare run, not from
 * inside a write callback, so handlers never run nested in libuv's write completion. */
static void maybe_resume(rm_conn_t *c)
{
    if (!c->paused || c->closing || c->resume_pending || !may_resume(c))
        return;
    c->resume_pending = 1;
    if (!uv_is_active((uv_handle_t *)&c->flush_prep))
        uv_prepare_start(&c->flush_prep, on_flush_prep);
}

/* Handle the complete frames in p[0..n) until the data ends, the connection closes or must
 * pause, or this turn's budget is spent. Returns the bytes consumed. */
static size_t process_input(rm_conn_t *c, const uint8_t *p, size_t n)
{
    size_t off = 0;
    unsigned handled = 0;
    uint64_t start = uv_hrtime();
    while (!c->closing) {
        if (must_pause(c)) {
            conn_pause(c);
            break;
        }
        if (handled && (handled >= TURN_FRAMES || uv_hrtime() - start >= TURN_NS))
            break; /* the rest on a later turn: others are served in between */
        int64_t size = rm_frame_size(p + off, n - off);
        if (size < 0) {
            LOG_W("remoting", "%s: bad frame length %u from %s (limit %d), closing", c->ep->name,
                  cm_be32(p + off), c->peer, RM_MAX_FRAME);
            rm_conn_close(c);
            break;
        }
        if (size == 0 || (size_t)size > n - off)
            break;
        if (handle_frame(c, p + off, (size_t)size) != 0) {
            rm_conn_close(c);
            break;
        }
        off += (size_t)size;
        handled++;
    }
    return off;
}

/* Keep the n unhandled bytes at p (a partial frame, or frames left while paused) at the start
 * of the connection's own buffer, with room for the whole next frame; none: free the buffer.
 * p may point into that buffer or into the scratch buffer. */
static int keep_rest(rm_conn_t *c, const uint8_t *p, size_t n)
{
    if (n == 0) {
        drop_input(c);
        return 0;
    }
    int64_t fsz = rm_frame_size(p, n);
    int inside = c->rbuf && p >= c->rbuf && p < c->rbuf + c->rcap;
    if (inside && fsz != 0 && (fsz < 0 || (size_t)fsz <= n)) {
        c->rpos = (size_t)(p - c->rbuf); /* a whole frame waits for its turn: leave it there */
        c->rlen = n;
        return 0;
    }
    size_t want = n > READ_CHUNK ? n : READ_CHUNK;
    if (fsz > 0 && (size_t)fsz > want)
        want = (size_t)fsz;
    c->rpos = 0;
    if (inside && p != c->rbuf)
        memmove(c->rbuf, p, n);
    if (c->rcap < want || c->rcap > 2 * want) { /* grow for a big frame, shrink after one */
        uint8_t *q = realloc(c->rbuf, want);
        if (!q)
            return RM_ENOMEM;
        c->rbuf = q;
        c->rcap = want;
    }
    if (!inside)
        memcpy(c->rbuf, p, n);
    c->rlen = n;
    return 0;
}

/* A whole frame (or a bad length, which closes) is waiting in the connection's buffer. */
static int frame_waiting(const rm_conn_t *c)
{
    if (c->rlen == 0)
        return 0;
    int64_t size = rm_frame_size(c->rbuf + c->rpos, c->rlen);
    return size < 0 || (size > 0 && (size_t)size <= c->rlen);
}

/* Has the peer reset the connection? A connection whose frames wait is not read, so it would
 * not see the reset as a read error (nor as a write error if it owes no answers, oneway
 * requests): ask the socket, one poll per turn, not per frame. A FIN alone is not a reset: the
 * frames sent before it are handled first, as Netty does. */
static int peer_reset(rm_conn_t *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
        return 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL));
}

/* The run queue: this thread's connections with frames waiting, in the order they get their
 * next batch. One that starts waiting goes first (it was not served last, e.g. a client
 * with one request among pipeliners); one that was just served goes last. */
static void runq_remove(rm_conn_t *c)
{
    if (c->rq_prev)
        c->rq_prev->rq_next = c->rq_next;
    else
        t_rq_head = c->rq_next;
    if (c->rq_next)
        c->rq_next->rq_prev = c->rq_prev;
    else
        t_rq_tail = c->rq_prev;
    c->rq_prev = c->rq_next = NULL;
}

static void runq_push(rm_conn_t *c, int first)
{
    if (first) {
        c->rq_next = t_rq_head;
        if (t_rq_head)
            t_rq_head->rq_prev = c;
        else
            t_rq_tail = c;
        t_rq_head = c;
    } else {
        c->rq_prev = t_rq_tail;
        if (t_rq_tail)
            t_rq_tail->rq_next = c;
        else
            t_rq_head = c;
        t_rq_tail = c;
    }
}

/* The connections with waiting frames share TURN_NS of handler time per loop turn (at least
 * one batch), so a turn ends and the loop polls again soon even when many connections queue
 * expensive requests. Every waiting connection has an active idle handle, and each idle
 * callback serves the head of the run queue, not necessarily its own connection. A turn starts
 * again when an idle callback runs a second time under the same turn number: every active idle
 * handle runs once per loop iteration, so this never waits more than one iteration. */
static void on_turn(uv_idle_t *h)
{
    rm_conn_t *me = h->data;
    if (me->turn_no == t_turn) {
        t_turn++;
        t_turn_ns = 0;
    }
    me->turn_no = t_turn;
    if (t_turn_ns >= TURN_NS)
        return;
    rm_conn_t *c = t_rq_head;
    while (c && c->loop != me->loop) /* another loop on this thread: rare, and short */
        c = c->rq_next;
    if (!c)
        return;
    runq_remove(c);
    runq_push(c, 0);
    if (peer_reset(c)) {
        LOG_I("remoting", "%s: connection %s reset by the peer: %zu bytes of its requests dropped",
              c->ep->name, c->peer, c->rlen);
        rm_conn_close(c);
        return;
    }
    uint64_t t0 = uv_hrtime();
    if (c->rlen)
        consume(c, c->rbuf + c->rpos, c->rlen);
    else
        update_reading(c);
    t_turn_ns += uv_hrtime() - t0;
}

/* Read only when nothing waits: not paused by backpressure and no whole frame left for a later
 * turn, which the idle handle then handles. Keeps buffered input to one read chunk (or one
 * partial frame) per connection, and lets the peer's EOF in only after its earlier frames. */
static void update_reading(rm_conn_t *c)
{
    if (c->closing || !c->connected)
        return;
    int waiting = !c->paused && frame_waiting(c);
    if (waiting != c->waiting) {
        c->waiting = waiting;
        if (waiting) {
            t_nwaiting++;
            runq_push(c, 1);
            c->turn_no = t_turn; /* the next turn starts when its idle callback runs */
            uv_idle_start(&c->turn, on_turn);
        } else {
            t_nwaiting--;
            runq_remove(c);
            uv_idle_stop(&c->turn);
        }
    }
    int want = !c->paused && !waiting;
    if (want != c->reading) {
        c->reading = want;
        if (want)
            uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        else
            uv_read_stop((uv_stream_t *)&c->tcp);
    }
}

/* Handle what was read (at p, n bytes: the scratch buffer or the connection's own), keep the
 * rest, send the answers in one write, then decide whether to read on. */
static void consume(rm_conn_t *c, const uint8_t *p, size_t n)
{
    rm_conn_ref(c);
    c->in_read = 1;
    size_t off = process_input(c, p, n);
    if (!c->closing && keep_rest(c, p + off, n - off) != 0)
        rm_conn_close(c);
    c->in_read = 0;
    if (c->closing)
        drop_input(c); /* closed by a handler or a bad frame: the rest is never handled */
    /* The handlers may have run long: count from now, so the idle sweep never blames the
     * peer for time the loop spent on its requests. */
    uv_update_time(c->loop);
    c->last_active = uv_now(c->loop);
    conn_flush(c);
    update_reading(c);
    rm_conn_unref(c);
}

/* n bytes read: at p if fresh (a buffer free again once consume returns), else appended to
 * rbuf after the rlen bytes already there. */
static void input(rm_conn_t *c, const uint8_t *p, size_t n, int fresh)
{
    if (t_nwaiting == 0)
        t_turn_ns = 0; /* nobody waits: the turn is this connection's */
    if (t_turn_ns >= TURN_NS) {
        /* Others wait and this turn's share is spent (several connections became readable
         * at once): these frames queue behind theirs instead of running now. */
        if (fresh ? keep_rest(c, p, n) != 0 : (c->rlen += n, 0))
            rm_conn_close(c);
        else
            update_reading(c);
        return;
    }
    uint64_t t0 = uv_hrtime();
    if (fresh) {
        consume(c, p, n);
    } else {
        c->rlen += n;
        consume(c, c->rbuf + c->rpos, c->rlen);
    }
    t_turn_ns += uv_hrtime() - t0;
}

/* A refusal or a failed handshake: one line per LOG_EVERY_MS whatever a flood of peers does. */
static void tls_log(rm_conn_t *c, const char *fmt, const char *a, const char *b)
{
    static uint64_t last_log;
    static unsigned skipped;
    char msg[256];
    if (!log_allowed(&last_log, uv_now(c->loop))) {
        skipped++;
        return;
    }
    snprintf(msg, sizeof msg, fmt, a, b);
    LOG_W("remoting", "%s: %s: %s, closing (%u more since the last report)", c->ep->name, c->peer, msg, skipped);
    skipped = 0;
}

/* The first byte of an accepted connection decides plain or TLS (spec §4.1). 0, or -1: close. */
static int sniff(rm_conn_t *c, uint8_t first)
{
    int mode = rm_tls_server_mode();
    c->sniffed = 1;
    switch (rm_tls_sniff(mode, first)) {
    case RM_SNIFF_PLAIN:
        return 0;
    case RM_SNIFF_TLS:
        if ((c->tls = rm_tls_new(1)) != NULL)
            return 0;
        tls_log(c, "TLS requested but %s%s", "there is no usable server TLS context", "");
        return -1;
    default:
        tls_log(c, first == 0x16 ? "TLS refused (tls.server.mode=%s)%s" : "plain connection refused "
                "(tls.server.mode=%s)%s", rm_tls_mode_name(mode), "");
        return -1;
    }
}

/* Send what the engine has produced (handshake messages, alerts) now, in order. */
static void tls_send_output(rm_conn_t *c)
{
    size_t len;
    char *p = rm_tls_take_output(c->tls, &len);
    if (p)
        write_wire(c, p, len, NULL, 0, NULL, NULL);
}

/* Room for n more bytes after rbuf's rlen, the unhandled bytes moved to the front. */
static int rbuf_room(rm_conn_t *c, size_t n)
{
    if (c->rpos) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen);
        c->rpos = 0;
    }
    if (c->rcap - c->rlen >= n)
        return 0;
    size_t cap = c->rlen + n > c->rcap + READ_CHUNK ? c->rlen + n : c->rcap + READ_CHUNK;
    uint8_t *q = realloc(c->rbuf, cap);
    if (!q)
        return RM_ENOMEM;
    c->rbuf = q;
    c->rcap = cap;
    return 0;
}

/* Ciphertext at p (the scratch buffer): into the engine, then the plaintext, a scratch buffer
 * at a time, through the frame decoder. All of it leaves the engine now: a connection that
 * stops reading would not come back for plaintext left inside. */
static void tls_input(rm_conn_t *c, const uint8_t *p, size_t n)
{
    int rc = rm_tls_feed(c->tls, p, n);
    if (!c->closing)
        tls_send_output(c);
    rm_conn_ref(c);
    uint8_t *buf = scratch(); /* free again: the engine copied the ciphertext */
    while (rc == 0 && !c->closing) {
        rc = rm_tls_read(c->tls, buf, READ_CHUNK);
        if (rc <= 0)
            break;
        size_t got = (size_t)rc;
        rc = 0;
        if (c->rlen == 0) {
            input(c, buf, got, 1);
        } else if (rbuf_room(c, got) == 0) {
            memcpy(c->rbuf + c->rpos + c->rlen, buf, got);
            input(c, NULL, got, 0);
        } else {
            rc = RM_ENOMEM;
        }
    }
    if (rc == RM_ETLS && !c->closing)
        tls_log(c, "%s%s", rm_tls_last_error(c->tls), rm_tls_handshake_done(c->tls) ? "" : " (handshake)");
    if (!c->closing && c->tls)
        tls_send_output(c); /* a TLS 1.3 key update or an alert */
    if (rc < 0)
        rm_conn_close(c);
    rm_conn_unref(c);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    rm_conn_t *c = s->data;
    if (nread < 0) {
        if (nread != UV_EOF)
            LOG_I("remoting", "%s: connection %s: %s", c->ep->name, c->peer, uv_strerror((int)nread));
        rm_conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    c->last_active = uv_now(c->loop);
    if (!c->sniffed && sniff(c, (uint8_t)buf->base[0]) != 0) {
        rm_conn_close(c);
        return;
    }
    if (c->tls) {
        tls_input(c, (const uint8_t *)buf->base, (size_t)nread);
        return;
    }
    int fresh = (uint8_t *)buf->base == t_scratch && c->rlen == 0;
    input(c, (const uint8_t *)buf->base, (size_t)nread, fresh);
}

/* Backpressure lifted: handle the requests read before the pause, then read again. */
static void conn_resume(rm_conn_t *c)
{
    c->resume_pending = 0;
    if (!c->paused || c->closing)
        return;
    c->paused = 0;
    if (c->rlen)
        consume(c, c->rbuf + c->rpos, c->rlen);
    else
        update_reading(c);
}

/* ---- writing ---- */

static void on_written(uv_write_t *w, int status)
{
    write_req_t *r = (write_req_t *)w;
    rm_conn_t *c = r->conn; /* alive: libuv completes writes before the close callback */
    c->queued -= r->len;
    atomic_fetch_sub(&g_queued, r->len);
    if (status == 0)
        c->last_active = uv_now(c->loop); /* the peer takes its answers: not idle */
    if (r->done)
        r->done(r->arg);
    free(r->owned);
    free(r);
    /* The peer is gone (EPIPE, ECONNRESET). A connection that is not being read - paused, or
     * with frames waiting - would not see it as a read error, and would go on answering what
     * it had buffered: close now. ECANCELED: closing already. */
    if (status < 0 && status != UV_ECANCELED && !c->closing) {
        LOG_I("remoting", "%s: connection %s: write failed: %s", c->ep->name, c->peer, uv_strerror(status));
        rm_conn_close(c);
        return;
    }
    maybe_resume(c);
}

/* TLS: encrypt the bytes (a copy, so the caller's buffers are done with at once) and leave
 * only the ciphertext the engine has ready, which may be none while the handshake runs. */
static int tls_seal(rm_conn_t *c, char **owned, size_t *owned_len, const uv_buf_t *extra,
                    unsigned nextra, rm_done_fn done, void *arg)
{
    int rc = rm_tls_write(c->tls, *owned, *owned_len);
    for (unsigned i = 0; i < nextra && rc == 0; i++)
        rc = rm_tls_write(c->tls, extra[i].base, extra[i].len);
    free(*owned);
    if (done)
        done(arg);
    *owned = rc == 0 ? rm_tls_take_output(c->tls, owned_len) : NULL;
    if (rc) {
        LOG_W("remoting", "%s: connection %s: %s, closing", c->ep->name, c->peer, rm_tls_last_error(c->tls));
        rm_conn_close(c);
        return RM_ECLOSED;
    }
    return 0;
}

/* Hand bytes to the socket as they are: owned (freed after the write) then extra (done(arg)
 * once written or dropped). */
static int write_wire(rm_conn_t *c, char *owned, size_t owned_len, const uv_buf_t *extra,
                      unsigned nextra, rm_done_fn done, void *arg)
{
    uv_buf_t bufs[1 + 64];
    write_req_t *r = malloc(sizeof *r);
    if (!r || nextra > 64) {
        free(r);
        free(owned);
        if (done)
            done(arg);
        return RM_ENOMEM;
    }
    r->conn = c;
    r->owned = owned;
    r->done = done;
    r->arg = arg;
    unsigned n = 0;
    r->len = owned_len;
    if (owned_len)
        bufs[n++] = uv_buf_init(owned, (unsigned)owned_len);
    for (unsigned i = 0; i < nextra; i++) {
        bufs[n++] = extra[i];
        r->len += extra[i].len;
    }
    int rc = uv_write(&r->req, (uv_stream_t *)&c->tcp, bufs, n, on_written);
    if (rc) {
        LOG_W("remoting", "write to %s failed: %s", c->peer, uv_strerror(rc));
        free(r->owned);
        free(r);
        if (done)
            done(arg);
        rm_conn_close(c);
        return RM_ECLOSED;
    }
    c->queued += r->len;
    atomic_fetch_add(&g_queued, r->len);
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > MAX_WRITE_QUEUE) {
        LOG_W("remoting", "%s does not read its answers (%zu bytes queued), closing", c->peer,
              uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp));
        rm_conn_close(c);
    }
    return 0;
}

/* Write frames: as they are, or through the TLS engine. */
static int write_bufs(rm_conn_t *c, char *owned, size_t owned_len, const uv_buf_t *extra,
                      unsigned nextra, rm_done_fn done, void *arg)
{
    if (!c->tls)
        return write_wire(c, owned, owned_len, extra, nextra, done, arg);
    if (tls_seal(c, &owned, &owned_len, extra, nextra, done, arg) != 0)
        return RM_ECLOSED;
    if (!owned)
        return 0; /* waits in the engine for the handshake */
    return write_wire(c, owned, owned_len, NULL, 0, NULL, NULL);
}

static void conn_flush(rm_conn_t *c)
{
    if (c->closing || !c->connected || c->in_read || c->out.len == 0)
        return;
    size_t len = c->out.len;
    char *p = cm_buf_steal(&c->out);
    write_bufs(c, p, len, NULL, 0, NULL, NULL);
}

static void on_flush_prep(uv_prepare_t *h)
{
    rm_conn_t *c = h->data;
    uv_prepare_stop(h);
    conn_flush(c);
    if (c->resume_pending)
        conn_resume(c);
}

/* Frames queued while reading go out when the read batch ends; others just before the loop
 * next polls (a prepare handle, which also covers frames queued before the loop runs), so that
 * many requests or answers produced in one turn - a client draining its send queue, a broker
 * waking parked pulls - share one write. */
static int send_cmd(rm_conn_t *c, const rm_cmd_t *cmd)
{
    if (c->closing)
        return RM_ECLOSED;
    int rc = rm_frame_encode(cmd, &c->out);
    if (rc)
        return rc;
    if (!c->in_read && !uv_is_active((uv_handle_t *)&c->flush_prep))
        uv_prepare_start(&c->flush_prep, on_flush_prep);
    return 0;
}

void rm_conn_respond(rm_conn_t *c, const rm_cmd_t *req, rm_cmd_t *resp)
{
    if (rm_cmd_is_oneway(req))
        return;
    resp->opaque = req->opaque;
    resp->serialize = req->serialize;
    resp->flag = RM_FLAG_RESPONSE;
    resp->language = RM_LANG_JAVA;
    resp->version = RM_SERVER_VERSION;
    if (send_cmd(c, resp) == RM_EFRAME) {
        LOG_E("remoting", "answer to code %d does not fit in a frame", req->code);
        rm_cmd_t err;
        rm_cmd_init(&err, RC_SYSTEM_ERROR);
        rm_cmd_set_remark(&err, "answer too large for one frame");
        err.opaque = req->opaque;
        err.serialize = req->serialize;
        err.flag = RM_FLAG_RESPONSE;
        send_cmd(c, &err);
        rm_cmd_free(&err);
    }
}

void rm_conn_respond_code(rm_conn_t *c, const rm_cmd_t *req, int code, const char *fmt, ...)
{
    rm_cmd_t resp;
    rm_cmd_init(&resp, code);
    if (fmt) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        resp.remark = cm_strdup(msg);
    }
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
}

void rm_conn_respond_json(rm_conn_t *c, const rm_cmd_t *req, lj_val_t *body, int flags)
{
    rm_cmd_t resp;
    rm_cmd_init(&resp, RC_SUCCESS);
    cm_buf_t b;
    cm_buf_init(&b);
    if (body && lj_write(body, flags, &b) == 0) {
        resp.body = (const uint8_t *)b.data;
        resp.body_len = b.len;
    }
    rm_conn_respond(c, req, &resp);
    rm_cmd_free(&resp);
    cm_buf_free(&b);
    lj_free(body);
}

/* rm_conn_respond_render_async: a large answer (a broker's whole topic or group table:
 * megabytes with 10,000 entries) is made from a flat copy on libuv's thread pool, not on the
 * loop; only the copy is taken on the loop. */
/* At most this many answers are rendered on the pool at once (each holds its copy and its text
 * until sent, and bytes not yet queued escape the write budget); past it, a client that keeps
 * asking gets its answers made on the loop, queued at once and so held to the budget. */
#define RENDERS_MAX 4
static atomic_int g_renders;

typedef struct render_job {
    uv_work_t work;
    rm_conn_t *c;
    rm_cmd_t req;          /* what rm_conn_respond reads of the request: opaque, serialize, flag */
    void *snap;
    int (*render)(const void *snap, cm_buf_t *out);
    void (*free_snap)(void *snap);
    int rc;
    cm_buf_t out;
} render_job_t;

static void render_work(uv_work_t *w)
{
    render_job_t *j = w->data;
    j->rc = j->render(j->snap, &j->out);
}

static void render_done(uv_work_t *w, int status)
{
    render_job_t *j = w->data;
    int ok = status == 0 && j->rc == 0;
    if (!rm_conn_is_closed(j->c)) {
        rm_cmd_t resp;
        rm_cmd_init(&resp, ok ? RC_SUCCESS : RC_SYSTEM_ERROR);
        if (ok) {
            resp.body = (const uint8_t *)j->out.data;
            resp.body_len = j->out.len;
        } else {
            rm_cmd_set_remark(&resp, "the answer could not be made");
        }
        rm_conn_respond(j->c, &j->req, &resp);
        resp.body = NULL;
        rm_cmd_free(&resp);
    }
    rm_conn_unref(j->c);
    j->free_snap(j->snap);
    cm_buf_free(&j->out);
    free(j);
    atomic_fetch_sub(&g_renders, 1);
}

void rm_conn_respond_render_async(rm_conn_t *c, const rm_cmd_t *req, void *snap,
                                  int (*render)(const void *snap, cm_buf_t *out), void (*free_snap)(void *snap))
{
    if (!snap) {
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "out of memory");
        return;
    }
    render_job_t *j = NULL;
    if (!rm_cmd_is_oneway(req)) {
        if (atomic_fetch_add(&g_renders, 1) < RENDERS_MAX)
            j = calloc(1, sizeof *j);
        if (!j)
            atomic_fetch_sub(&g_renders, 1); /* over the limit, or no memory: made here */
    }
    if (j) {
        *j = (render_job_t){.c = c, .snap = snap, .render = render, .free_snap = free_snap};
        j->req.opaque = req->opaque;
        j->req.serialize = req->serialize;
        j->req.flag = req->flag;
        j->req.code = req->code;
        j->work.data = j;
        cm_buf_init(&j->out);
        rm_conn_ref(c);
        if (uv_queue_work(c->loop, &j->work, render_work, render_done) == 0)
            return;
        rm_conn_unref(c);
        free(j);
        atomic_fetch_sub(&g_renders, 1);
    }
    /* a oneway request, or no job: made here (oneway: nothing is sent) */
    cm_buf_t out;
    cm_buf_init(&out);
    if (!rm_cmd_is_oneway(req) && render(snap, &out) == 0) {
        rm_cmd_t resp;
        rm_cmd_init(&resp, RC_SUCCESS);
        resp.body = (const uint8_t *)out.data;
        resp.body_len = out.len;
        rm_conn_respond(c, req, &resp);
        resp.body = NULL;
        rm_cmd_free(&resp);
    }
    cm_buf_free(&out);
    free_snap(snap);
}

const char *rm_req_str(rm_conn_t *c, const rm_cmd_t *req, const char *key)
{
    const char *v = rm_ext_get(req, key);
    if (!v)
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "the custom field <%s> is null", key);
    return v;
}

static int req_number(rm_conn_t *c, const rm_cmd_t *req, const char *key, int rc)
{
    if (rc)
        rm_conn_respond_code(c, req, RC_SYSTEM_ERROR, "the custom field <%s> is %s", key,
                             rc == RM_EMISSING ? "null" : "not a valid number");
    return rc;
}

int rm_req_i64(rm_conn_t *c, const rm_cmd_t *req, const char *key, int64_t *out)
{
    return req_number(c, req, key, rm_ext_i64(req, key, out));
}

int rm_req_i32(rm_conn_t *c, const rm_cmd_t *req, const char *key, int32_t *out)
{
    return req_number(c, req, key, rm_ext_i32(req, key, out));
}

/* Make resp an answer and encode its header after whatever is already buffered, so answers
 * keep their order; nonzero when the connection is closing or the header cannot be made. */
static int answer_header(rm_conn_t *c, int32_t opaque, int serialize, rm_cmd_t *resp, size_t body)
{
    resp->opaque = opaque;
    resp->serialize = serialize;
    resp->flag = RM_FLAG_RESPONSE;
    resp->language = RM_LANG_JAVA;
    resp->version = RM_SERVER_VERSION;
    return c->closing || rm_frame_encode_header(resp, body, &c->out) != 0;
}

void rm_conn_respond_raw(rm_conn_t *c, int32_t opaque, int serialize, rm_cmd_t *resp,
                         const uv_buf_t *bufs, unsigned nbufs, rm_done_fn done, void *arg)
{
    size_t body = 0;
    for (unsigned i = 0; i < nbufs; i++)
        body += bufs[i].len;
    if (answer_header(c, opaque, serialize, resp, body) != 0) {
        if (done)
            done(arg);
        return;
    }
    if (nbufs == 0) {
        if (done)
            done(arg);
        conn_flush(c);
        return;
    }
    size_t len = c->out.len;
    char *p = cm_buf_steal(&c->out);
    write_bufs(c, p, len, bufs, nbufs, done, arg);
}

/* The spans from index i on, the first `skip` bytes of span i already sent, as buffers for the
 * ordinary write. */
static unsigned spans_rest(const rm_span_t *spans, unsigned n, unsigned i, size_t skip, uv_buf_t *out)
{
    unsigned k = 0;
    for (; i < n; i++, skip = 0)
        out[k++] = uv_buf_init(spans[i].mem.base + skip, (unsigned)(spans[i].mem.len - skip));
    return k;
}

/* sendfile one run of spans [i, j) that are contiguous both in the file and in memory; returns
 * the bytes sent (less than the run when the socket is full or on an error). */
static size_t send_run(int sock, const rm_span_t *spans, unsigned i, unsigned j)
{
    size_t run = 0, sent = 0;
    for (unsigned k = i; k < j; k++)
        run += spans[k].mem.len;
    off_t o = (off_t)spans[i].off;
    while (sent < run) {
        ssize_t w = sendfile(sock, spans[i].fd, &o, run - sent);
        if (w <= 0)
            break; /* EAGAIN, EINTR or an error: the ordinary write takes over and reports it */
        sent += (size_t)w;
    }
    return sent;
}

/* sendfile needs a plain socket with nothing queued before the answer, and every span in a file. */
static int direct_ok(rm_conn_t *c, const rm_span_t *spans, unsigned n)
{
    if (c->closing || c->tls || n == 0 || n > RM_MAX_SPANS ||
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) != 0)
        return 0;
    for (unsigned i = 0; i < n; i++)
        if (spans[i].fd < 0)
            return 0;
    return 1;
}

/* Header (and whatever frames were buffered before it) by send, then the spans by sendfile;
 * from the first byte the socket does not take, the rest goes by the ordinary write. */
static void send_direct(rm_conn_t *c, int sock, char *head, size_t hlen, const rm_span_t *spans, unsigned n)
{
    uv_buf_t rest[RM_MAX_SPANS];
    ssize_t w = send(sock, head, hlen, MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0)
        w = 0;
    if ((size_t)w < hlen) {
        memmove(head, head + w, hlen - (size_t)w);
        write_wire(c, head, hlen - (size_t)w, rest, spans_rest(spans, n, 0, 0, rest), NULL, NULL);
        return;
    }
    free(head);
    for (unsigned i = 0; i < n;) {
        unsigned j = i + 1;
        while (j < n && spans[j].fd == spans[i].fd && spans[j].mem.base == spans[j - 1].mem.base + spans[j - 1].mem.len &&
               spans[j].off == spans[j - 1].off + (int64_t)spans[j - 1].mem.len)
            j++;
        size_t sent = send_run(sock, spans, i, j);
        for (; i < j && sent >= spans[i].mem.len; i++)
            sent -= spans[i].mem.len;
        if (i < j) {
            write_wire(c, NULL, 0, rest, spans_rest(spans, n, i, sent, rest), NULL, NULL);
            return;
        }
    }
}

void rm_conn_respond_spans(rm_conn_t *c, int32_t opaque, int serialize, rm_cmd_t *resp,
                           const rm_span_t *spans, unsigned n)
{
    int sock;
    if (!direct_ok(c, spans, n) || uv_fileno((uv_handle_t *)&c->tcp, &sock) != 0) {
        uv_buf_t bufs[RM_MAX_SPANS + 1];
        unsigned nb = n <= RM_MAX_SPANS ? n : RM_MAX_SPANS + 1; /* over: write_wire refuses it */
        for (unsigned i = 0; i < nb; i++)
            bufs[i] = spans[i].mem;
        rm_conn_respond_raw(c, opaque, serialize, resp, bufs, nb, NULL, NULL);
        return;
    }
    size_t body = 0;
    for (unsigned i = 0; i < n; i++)
        body += spans[i].mem.len;
    if (answer_header(c, opaque, serialize, resp, body) != 0)
        return;
    size_t len = c->out.len;
    send_direct(c, sock, cm_buf_steal(&c->out), len, spans, n);
}

int rm_conn_invoke(rm_conn_t *c, rm_cmd_t *req, uint64_t timeout_ms, rm_response_fn cb, void *arg)
{
    if (c->closing)
        return RM_ECLOSED;
    pending_t *p = malloc(sizeof *p);
    if (!p)
        return RM_ENOMEM;
    req->opaque = c->next_opaque++;
    req->flag &= ~(RM_FLAG_RESPONSE | RM_FLAG_ONEWAY);
    int rc = send_cmd(c, req);
    if (rc) {
        free(p);
        return rc;
    }
    p->opaque = req->opaque;
    p->deadline = uv_now(c->loop) + timeout_ms;
    p->cb = cb;
    p->arg = arg;
    pending_t **b = &c->pending[(uint32_t)p->opaque % NBUCKETS];
    p->next = *b;
    *b = p;
    c->npending++;
    return 0;
}

int rm_conn_oneway(rm_conn_t *c, rm_cmd_t *req)
{
    req->opaque = c->next_opaque++;
    req->flag = (req->flag & ~RM_FLAG_RESPONSE) | RM_FLAG_ONEWAY;
    return send_cmd(c, req);
}

/* ---- setup ---- */

static void fill_names(rm_conn_t *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        int port = 0;
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
        snprintf(c->peer, sizeof c->peer, "%s:%d", ip, port);
    }
    len = sizeof ss;
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, c->local_ip, sizeof c->local_ip);
}

static rm_conn_t *conn_new(uv_loop_t *loop, const rm_endpoint_t *ep)
{
    rm_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    c->ep = ep;
    c->refs = 1;
    c->id = g_next_id++;
    c->next_opaque = 1;
    c->sniffed = 1;
    c->last_active = uv_now(loop);
    cm_buf_init(&c->out);
    uv_tcp_init(loop, &c->tcp);
    uv_timer_init(loop, &c->timer);
    uv_prepare_init(loop, &c->flush_prep);
    uv_idle_init(loop, &c->turn);
    c->tcp.data = c->timer.data = c->flush_prep.data = c->turn.data = c;
    c->handles_open = 4;
    uv_timer_start(&c->timer, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_unref((uv_handle_t *)&c->timer); /* the sweep alone must not keep a loop alive */
    return c;
}

/* accept failed: running out of descriptors is said as such, at most once per LOG_EVERY_MS. */
static void accept_failed(rm_server_t *s, int status)
{
    static uint64_t last_log;
    static unsigned skipped;
    int no_fds = status == UV_EMFILE || status == UV_ENFILE;
    /* libuv retries accept at once after this callback: without a free descriptor that would
     * spin. Our reserve gives one; the connection it lets in is closed (on_connection). */
    if (no_fds && s->reserve_fd >= 0) {
        close(s->reserve_fd);
        s->reserve_fd = -1;
        s->shedding = 1;
    }
    if (!log_allowed(&last_log, uv_now(s->loop))) {
        skipped++;
        return;
    }
    if (no_fds)
        LOG_E("remoting", "%s: out of file descriptors (limit %d%s): new connections are refused "
              "(%u more since the last report); raise ulimit -n or lower maxConnections", s->ep->name,
              fd_limit(), status == UV_ENFILE ? ", system-wide table full" : "", skipped);
    else
        LOG_W("remoting", "%s: accept failed: %s (%u more since the last report)", s->ep->name,
              uv_strerror(status), skipped);
    skipped = 0;
}

/* Over maxConnections: the connection is accepted and closed at once (left in the backlog it
 * would wake the loop again and again). */
static int over_limit(rm_server_t *s, rm_conn_t *c)
{
    static uint64_t last_log;
    static unsigned skipped;
    int max = atomic_load(&g_max_conns);
    if (max == 0 || atomic_load(&g_nconns) < max)
        return 0;
    if (log_allowed(&last_log, uv_now(s->loop))) {
        LOG_W("remoting", "%s: connection limit reached (maxConnections=%d): refusing %s "
              "(%u more refused since the last report)", s->ep->name, max, c->peer, skipped);
        skipped = 0;
    } else {
        skipped++;
    }
    return 1;
}

static void on_connection(uv_stream_t *ls, int status)
{
    rm_server_t *s = ls->data;
    if (status < 0) {
        accept_failed(s, status);
        return;
    }
    rm_conn_t *c = conn_new(s->loop, s->ep);
    if (!c)
        return;
    int rc = uv_accept(ls, (uv_stream_t *)&c->tcp);
    if (rc != 0) {
        accept_failed(s, rc);
        rm_conn_close(c);
        return;
    }
    fill_names(c);
    if (s->shedding) { /* accepted only to free the backlog: no descriptor to spare */
        rm_conn_close(c);  /* closes the socket now */
        s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        s->shedding = s->reserve_fd < 0;
        return;
    }
    if (over_limit(s, c)) {
        rm_conn_close(c);
        return;
    }
    c->accepted = 1;
    c->sniffed = 0; /* its first byte chooses plain or TLS */
    atomic_fetch_add(&g_nconns, 1);
    c->connected = 1;
    uv_tcp_nodelay(&c->tcp, 1);
    c->server = s;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    LOG_D("remoting", "%s: accepted %s", s->ep->name, c->peer);
    update_reading(c);
}

static int resolve(const char *host, int port, struct sockaddr_storage *ss)
{
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
        return 0;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return RM_ECONNECT;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

/* Freed connections leave holes in the heap that free() does not give back; trimming is
 * proportional to the heap, not to any input, and runs at most once per TRIM_EVERY_MS. */
static void on_trim(uv_timer_t *t)
{
    rm_server_t *s = t->data;
    /* libuv sheds connections silently when accept finds no descriptor (it closes a spare fd,
     * accepts and closes): probe, so that running out is logged as what it is. */
    int fd = fcntl(s->reserve_fd >= 0 ? s->reserve_fd : 0, F_DUPFD_CLOEXEC, 0);
    if (fd >= 0)
        close(fd);
    else if (errno == EMFILE || errno == ENFILE)
        accept_failed(s, errno == EMFILE ? UV_EMFILE : UV_ENFILE);
    if (atomic_load(&g_freed_since_trim) < TRIM_AFTER_CLOSES)
        return;
    atomic_store(&g_freed_since_trim, 0);
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static void on_server_handle_closed(uv_handle_t *h)
{
    rm_server_t *s = h->data;
    if (--s->handles_open > 0)
        return;
    if (s->reserve_fd >= 0)
        close(s->reserve_fd);
    free(s);
}

int rm_server_start(uv_loop_t *loop, const char *host, int port, const rm_endpoint_t *ep, rm_server_t **out)
{
    struct sockaddr_storage ss;
    if (resolve(host, port, &ss))
        return RM_ECONNECT;
    rm_server_t *s = calloc(1, sizeof *s);
    if (!s)
        return RM_ENOMEM;
    s->loop = loop;
    s->ep = ep;
    uv_tcp_init(loop, &s->tcp);
    uv_timer_init(loop, &s->trim);
    s->tcp.data = s->trim.data = s;
    s->handles_open = 2;
    s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->tcp, 1024, on_connection);
    if (rc) {
        LOG_E("remoting", "cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
        uv_close((uv_handle_t *)&s->tcp, on_server_handle_closed);
        uv_close((uv_handle_t *)&s->trim, on_server_handle_closed);
        return RM_ECONNECT;
    }
    uv_timer_start(&s->trim, on_trim, TRIM_EVERY_MS, TRIM_EVERY_MS);
    uv_unref((uv_handle_t *)&s->trim);
    int len = sizeof ss;
    uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len);
    s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *out = s;
    return 0;
}

int rm_server_port(const rm_server_t *s) { return s->port; }

void rm_server_stop(rm_server_t *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = 1;
    while (s->conns)
        rm_conn_close(s->conns);
    uv_close((uv_handle_t *)&s->tcp, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->trim, on_server_handle_closed);
}

static void on_connect(uv_connect_t *req, int status)
{
    rm_conn_t *c = req->data;
    if (c->closing) {
        rm_conn_unref(c);
        return;
    }
    if (status < 0) {
        LOG_W("remoting", "%s: connect to %s failed: %s", c->ep->name, c->peer, uv_strerror(status));
        rm_conn_close(c);
        rm_conn_unref(c);
        return;
    }
    c->connected = 1;
    uv_tcp_nodelay(&c->tcp, 1);
    char want[64];
    memcpy(want, c->peer, sizeof want);
    fill_names(c);
    if (!c->peer[0] || c->peer[0] == '?')
        memcpy(c->peer, want, sizeof want);
    update_reading(c);
    if (c->tls)
        tls_send_output(c); /* the ClientHello, before the requests it will carry */
    conn_flush(c); /* requests queued while connecting */
    rm_conn_unref(c);
}

int rm_conn_connect(uv_loop_t *loop, const char *addr, const rm_endpoint_t *ep, rm_conn_t **out)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        return RM_ECONNECT;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    int32_t port;
    if (cm_parse_i32(colon + 1, &port) || port <= 0 || port > 65535)
        return RM_ECONNECT;
    struct sockaddr_storage ss;
    if (resolve(host, port, &ss))
        return RM_ECONNECT;
    rm_conn_t *c = conn_new(loop, ep);
    if (!c)
        return RM_ENOMEM;
    snprintf(c->peer, sizeof c->peer, "%s", addr);
    if (rm_tls_client_enabled() && !(c->tls = rm_tls_new(0))) {
        LOG_W("remoting", "%s: no TLS client context for %s", ep->name, addr);
        rm_conn_close(c);
        return RM_ECONNECT;
    }
    c->connect_req.data = c;
    rm_conn_ref(c); /* held until on_connect runs */
    int rc = uv_tcp_connect(&c->connect_req, &c->tcp, (struct sockaddr *)&ss, on_connect);
    if (rc) {
        rm_conn_unref(c);
        rm_conn_close(c);
        return RM_ECONNECT;
    }
    *out = c;
    return 0;
}
