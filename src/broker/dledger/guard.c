/* guard.c: the peers' door. canonical raft's TCP transport does the work; this wrapper, put
 * between it and Raft (the raft_uv_transport seam), closes any connection whose handshake
 * names a server that is not in dLegerPeers, or a member at another address, before Raft reads
 * a byte from it. Garbled frames after that are raft's to refuse: it closes that connection. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
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

static void on_refused_closed(uv_handle_t *h) { raft_free(h); }

static void on_accept(struct raft_uv_transport *t, raft_id id, const char *address, struct uv_stream_s *stream)
{
    br_dledger_t *d = TCP_OF(t);
    if (!member(d, id, address)) {
        LOG_W("dledger", "refused a peer connection claiming server %llu at %s: not a member of group %s",
              (unsigned long long)id, address, d->b->cfg.dLegerGroup);
        uv_close((uv_handle_t *)stream, on_refused_closed);
        return;
    }
    d->accept_cb(&d->guard, id, address, stream);
}

static int g_init(struct raft_uv_transport *t, raft_id id, const char *address)
{
    br_dledger_t *d = GUARD_OF(t);
    int rc = d->tcp.init(&d->tcp, id, address);
    if (rc != 0)
        snprintf(t->errmsg, sizeof t->errmsg, "%s", d->tcp.errmsg);
    return rc;
}

static int g_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
    br_dledger_t *d = GUARD_OF(t);
    d->accept_cb = cb;
    int rc = d->tcp.listen(&d->tcp, on_accept);
    if (rc != 0) {
        snprintf(t->errmsg, sizeof t->errmsg, "%s", d->tcp.errmsg);
        LOG_E("dledger", "cannot listen for peers: %s", d->tcp.errmsg);
    }
    return rc;
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

static void g_close(struct raft_uv_transport *t, raft_uv_transport_close_cb cb)
{
    br_dledger_t *d = GUARD_OF(t);
    t->impl = (void *)cb; /* the guard keeps no state of its own: impl holds the callback */
    d->tcp.close(&d->tcp, on_tcp_closed);
}

int br_dl_guard_init(br_dledger_t *d)
{
    if (raft_uv_tcp_init(&d->tcp, d->b->loop) != 0) {
        LOG_E("dledger", "cannot set up the peer transport");
        return -1;
    }
    d->tcp_on = 1;
    if (d->b->cfg.dLegerBindAddress[0] && raft_uv_tcp_set_bind_address(&d->tcp, d->b->cfg.dLegerBindAddress) != 0) {
        LOG_E("dledger", "dLegerBindAddress '%s' must be an IPv4 address and port", d->b->cfg.dLegerBindAddress);
        return -1;
    }
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
