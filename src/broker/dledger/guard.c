/* guard.c: the peers' door. Outgoing connections are canonical raft's own TCP transport.
 * Incoming ones are Loulan's: it listens, reads the handshake, closes any connection naming a
 * server that is not in dLegerPeers (or a member at another address), and then passes raft only
 * bytes that peerframe.c found well formed, through a socket pair whose other end raft reads as
 * if it were the peer. libraft 0.15 crashes on some malformed or forged messages; here such a
 * connection is closed and nothing else happens. The guard is a raft_uv_transport, the seam
 * canonical raft offers for exactly this. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/dledger/dl_int.h"

#define GUARD_OF(t) ((br_dledger_t *)((char *)(t) - offsetof(br_dledger_t, guard)))
#define TCP_OF(t) ((br_dledger_t *)((char *)(t) - offsetof(br_dledger_t, tcp)))

static const br_peer_t *member(const br_dledger_t *d, raft_id id, const char *address)
{
    char addr[128];
    for (int i = 0; i < d->npeers; i++) {
        snprintf(addr, sizeof addr, "%s:%d", d->peers[i].host, d->peers[i].port);
        if ((raft_id)d->peers[i].num + 1 == id && strcmp(addr, address) == 0)
            return &d->peers[i];
    }
    return NULL;
}

static int g_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    br_dledger_t *d = GUARD_OF(t);
    int rc = d->tcp.init(&d->tcp, id, address);
    if (rc != 0)
        snprintf(t->errmsg, sizeof t->errmsg, "%s", d->tcp.errmsg);
    return rc;
}

/* ---- incoming connections ---- */

#define IN_PAUSE (16u << 20)    /* bytes queued toward raft that stop reading the peer */
#define IN_RESUME (4u << 20)

typedef struct dl_in {
    br_dledger_t *d;            /* NULL once the guard has closed */
    uv_tcp_t tcp;               /* the peer */
    uv_pipe_t ours;             /* our end of the pair; raft reads the other */
    int pipe_on, closing, open_handles, paused;
    struct dl_in *next, **prev;
    br_dl_pf_t pf;
} dl_in_t;

static void in_closed(uv_handle_t *h)
{
    dl_in_t *in = h->data;
    if (--in->open_handles == 0)
        free(in);
}

static void in_close(dl_in_t *in)
{
    if (in->closing)
        return;
    in->closing = 1;
    if (in->prev) { /* out of the guard's list */
        *in->prev = in->next;
        if (in->next)
            in->next->prev = in->prev;
        in->prev = NULL;
    }
    in->open_handles = 1 + in->pipe_on;
    uv_close((uv_handle_t *)&in->tcp, in_closed);
    if (in->pipe_on)
        uv_close((uv_handle_t *)&in->ours, in_closed);
}

static int in_handshake(void *arg, uint64_t id, const char *address)
{
    dl_in_t *in = arg;
    br_dledger_t *d = in->d;
    if (!member(d, id, address)) {
        LOG_W("dledger", "refused a peer connection claiming server %llu at %.64s: not a member of group %s",
              (unsigned long long)id, address, d->b->cfg.dLegerGroup);
        return -1;
    }
    int fds[2];
    uv_pipe_t *theirs = raft_malloc(sizeof *theirs); /* raft closes it and frees it with raft_free */
    if (!theirs || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        raft_free(theirs);
        return -1;
    }
    uv_pipe_init(d->b->loop, &in->ours, 0);
    in->ours.data = in;
    in->pipe_on = 1;
    uv_pipe_init(d->b->loop, theirs, 0);
    if (uv_pipe_open(&in->ours, fds[1]) != 0 || uv_pipe_open(theirs, fds[0]) != 0) {
        close(fds[1]);
        uv_close((uv_handle_t *)theirs, (uv_close_cb)raft_free);
        close(fds[0]);
        return -1;
    }
    d->accept_cb(&d->guard, id, address, (uv_stream_t *)theirs);
    return 0;
}

/* A forged leader: only this node sends AppendEntries or InstallSnapshot in a term it leads
 * (libraft 0.15 assumes so and crashes otherwise). */
static int in_message(void *arg, int type, uint64_t term)
{
    dl_in_t *in = arg;
    br_dledger_t *d = in->d;
    if ((type == BR_DL_PF_APPEND_ENTRIES || type == BR_DL_PF_INSTALL_SNAPSHOT) && raft_state(&d->raft) == RAFT_LEADER &&
        term == d->raft.current_term) {
        LOG_W("dledger", "server %llu sent a leader's message in term %llu, which this node leads: connection closed",
              (unsigned long long)in->pf.id, (unsigned long long)term);
        return -1;
    }
    return 0;
}

static void in_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void in_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void in_written(uv_write_t *w, int status)
{
    dl_in_t *in = w->data;
    free(w);
    if (status != 0) {
        in_close(in);
        return;
    }
    if (in->paused && !in->closing && uv_stream_get_write_queue_size((uv_stream_t *)&in->ours) < IN_RESUME) {
        in->paused = 0;
        uv_read_start((uv_stream_t *)&in->tcp, in_alloc, in_read);
    }
}

static int in_emit(void *arg, const uint8_t *p, size_t n)
{
    dl_in_t *in = arg;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&in->ours) == 0) {
        int done = uv_try_write((uv_stream_t *)&in->ours, &(uv_buf_t){.base = (char *)p, .len = n}, 1);
        if (done > 0) { /* usually all of it: no copy */
            p += done;
            n -= (size_t)done;
        }
        if (n == 0)
            return 0;
    }
    uv_write_t *w = malloc(sizeof *w + n);
    if (!w)
        return -1;
    memcpy(w + 1, p, n);
    uv_buf_t b = uv_buf_init((char *)(w + 1), (unsigned)n);
    w->data = in;
    if (uv_write(w, (uv_stream_t *)&in->ours, &b, 1, in_written) != 0) {
        free(w);
        return -1;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&in->ours) > IN_PAUSE && !in->paused) {
        in->paused = 1; /* raft reads slower than the peer sends: let TCP push back */
        uv_read_stop((uv_stream_t *)&in->tcp);
    }
    return 0;
}

static const br_dl_pf_ops_t k_in_ops = {in_handshake, in_message, in_emit};

static void in_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h;
    (void)hint;
    static char slab[64 * 1024]; /* loop thread; consumed before the next read */
    *buf = uv_buf_init(slab, sizeof slab);
}

static void in_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    dl_in_t *in = s->data;
    if (n == 0)
        return;
    if (n < 0 || !in->d) {
        in_close(in);
        return;
    }
    if (br_dl_pf_feed(&in->pf, (const uint8_t *)buf->base, (size_t)n, &k_in_ops, in) != 0) {
        if (in->pf.state > BR_DL_PF_ADDRESS) /* a refused handshake was logged already */
            LOG_W("dledger", "a malformed message from peer server %llu: connection closed",
                  (unsigned long long)in->pf.id);
        in_close(in);
    }
}

static void on_peer_connection(uv_stream_t *srv, int status)
{
    br_dledger_t *d = srv->data;
    if (status != 0)
        return;
    dl_in_t *in = calloc(1, sizeof *in);
    if (!in)
        return;
    in->d = d;
    uv_tcp_init(d->b->loop, &in->tcp);
    in->tcp.data = in;
    br_dl_pf_init(&in->pf);
    if (uv_accept(srv, (uv_stream_t *)&in->tcp) != 0 || uv_read_start((uv_stream_t *)&in->tcp, in_alloc, in_read) != 0) {
        in->open_handles = 1;
        in->closing = 1;
        uv_close((uv_handle_t *)&in->tcp, in_closed);
        return;
    }
    in->next = d->ins;
    if (d->ins)
        d->ins->prev = &in->next;
    in->prev = &d->ins;
    d->ins = in;
}

static int g_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    br_dledger_t *d = GUARD_OF(t);
    const br_peer_t *me = &d->peers[d->self];
    char host[64];
    int port = me->port;
    snprintf(host, sizeof host, "%s", me->host);
    if (d->b->cfg.dLegerBindAddress[0]) {
        const char *c = strrchr(d->b->cfg.dLegerBindAddress, ':');
        snprintf(host, sizeof host, "%.*s", c ? (int)(c - d->b->cfg.dLegerBindAddress) : 0, d->b->cfg.dLegerBindAddress);
        port = c ? atoi(c + 1) : 0;
    }
    struct sockaddr_in sa;
    d->accept_cb = cb;
    uv_tcp_init(d->b->loop, &d->peer_srv);
    d->peer_srv.data = d;
    d->srv_on = 1;
    if (uv_ip4_addr(host, port, &sa) != 0 || uv_tcp_bind(&d->peer_srv, (const struct sockaddr *)&sa, 0) != 0 ||
        uv_listen((uv_stream_t *)&d->peer_srv, 64, on_peer_connection) != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "cannot listen on %s:%d", host, port);
        LOG_E("dledger", "cannot listen for peers on %s:%d (an IPv4 address and a free port)", host, port);
        return RAFT_IOERR;
    }
    return 0;
}

static int g_connect(struct raft_uv_transport *t, struct raft_uv_connect *req, raft_id id, const char *address,
                     raft_uv_connect_cb cb)
{
    br_dledger_t *d = GUARD_OF(t);
    return d->tcp.connect(&d->tcp, req, id, address, cb);
}

static void on_tcp_closed(struct raft_uv_transport *t)
{
    br_dledger_t *d = TCP_OF(t);
    raft_uv_transport_close_cb cb = (raft_uv_transport_close_cb)d->guard.impl;
    if (cb)
        cb(&d->guard);
}

static void on_srv_closed(uv_handle_t *h)
{
    br_dledger_t *d = h->data;
    d->tcp.close(&d->tcp, on_tcp_closed);
}

static void g_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    br_dledger_t *d = GUARD_OF(t);
    t->impl = (void *)cb; /* the guard keeps no state of its own: impl holds the callback */
    while (d->ins) {
        dl_in_t *in = d->ins;
        in->d = NULL;
        in_close(in); /* frees itself once closed; it no longer looks at d */
    }
    if (d->srv_on) {
        d->srv_on = 0;
        uv_close((uv_handle_t *)&d->peer_srv, on_srv_closed);
    } else {
        d->tcp.close(&d->tcp, on_tcp_closed);
    }
}

int br_dl_guard_init(br_dledger_t *d)
{
    if (raft_uv_tcp_init(&d->tcp, d->b->loop) != 0) {
        LOG_E("dledger", "cannot set up the peer transport");
        return -1;
    }
    d->tcp_on = 1;
    d->tcp.data = d;
    memset(&d->guard, 0, sizeof d->guard);
    d->guard.init = g_init;
    d->guard.listen = g_listen;
    d->guard.connect = g_connect;
    d->guard.close = g_close;
    return 0;
}

void br_dl_guard_close(br_dledger_t *d)
{
    if (d->tcp_on)
        raft_uv_tcp_close(&d->tcp);
    d->tcp_on = 0;
}

int br_dl_check_members(br_dledger_t *d)
{
    const struct raft_configuration *c = &d->raft.configuration;
    int ok = c->n == (unsigned)d->npeers;
    for (unsigned i = 0; ok && i < c->n; i++)
        ok = member(d, c->servers[i].id, c->servers[i].address) != NULL;
    if (!ok)
        LOG_E("dledger", "dLegerPeers differs from the members recorded in this node's Raft log (%s, %u member(s)): "
                         "a group's members cannot be changed by editing dLegerPeers",
              d->b->cfg.storePathDLedgerCommitLog, c->n);
    return ok ? 0 : -1;
}

int br_dl_has_raft_data(const char *dir)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/metadata1", dir);
    if (access(p, F_OK) == 0)
        return 1;
    snprintf(p, sizeof p, "%s/metadata2", dir);
    return access(p, F_OK) == 0;
}
