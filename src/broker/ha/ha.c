/* ha.c: master/slave replication, RocketMQ 4.x's HAService (spec §5).
 *
 * Master (ASYNC_MASTER, SYNC_MASTER): listens on haListenPort (listenPort + 1). A slave reports
 * its commit-log end as 8 bytes; the master answers with frames of 12 bytes (offset, size) and
 * that many raw commit-log bytes, from the slave's end (or, for an empty slave, from the start
 * of the master's last file), never across a file, at most haTransferBatchSize each; a
 * header-only frame is a heartbeat when idle for haSendHeartbeatInterval. Each report is an
 * acknowledgement: the furthest one is what SYNC_MASTER sends wait for (flushwait.c).
 *
 * Slave (SLAVE): learns the master's HA address from the name server's answer to its
 * registration (or haMasterAddress), connects, appends every frame's bytes at the same offset
 * (st_ha_append: the two logs stay identical byte for byte; a frame for another offset closes
 * the link), reports its new end, and retries every 5 s while disconnected. Every 10 s it
 * copies the master's topics, consumer offsets, delay progress and subscription groups.
 * Everything runs on the broker's loop thread. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "broker/ha/ha.h"

#define TICK_MS 1000
#define RECONNECT_MS 5000
#define SYNC_FIRST_MS 3000
#define SYNC_EVERY_MS 10000
#define MAX_FRAME (64u << 20)
#define RPC_TIMEOUT_MS 5000
#define ASK_MASTER_MS 2000      /* a slave without a master re-registers this often, not every 30 s */

typedef struct peer {           /* master: one connected slave */
    uv_tcp_t tcp;
    struct br_ha *ha;
    struct peer *nextPeer;
    uint8_t part[8];
    size_t npart;
    int64_t request;            /* the slave's first report, -1 before */
    int64_t pos;                /* next byte to send, -1 before it is known */
    size_t sending;             /* data bytes of the frame in flight */
    int writing, closing;
    uint64_t lastRead, lastWrite;
    uint8_t hdr[12];
    uv_write_t wr;
    int authed;                 /* proved the credentials (auth.c), or none are required */
    uint8_t pre[BR_HA_AUTH_MAX];/* the preface as it arrives */
    size_t npre;
    uint64_t since;             /* connected at (an unproven connection gets 10 s) */
} peer_t;

typedef struct link {           /* slave: the connection to the master */
    uv_tcp_t tcp;
    uv_connect_t conn;
    struct br_ha *ha;
    uint8_t *buf;
    size_t len, cap;
    int connected, closing;
    uint64_t lastRead, lastReport;
} link_t;

struct br_ha {
    br_broker_t *b;
    uv_tcp_t server;
    int serverOn;
    peer_t *peers;              /* slaves (proven ones, when credentials are required) */
    int npeers;
    peer_t *pending;            /* connections that have not sent their preface yet */
    br_ha_nonces_t nonces;      /* prefaces seen lately */
    int64_t acked;              /* furthest commit-log offset a slave confirmed */
    uv_check_t pump;            /* after each loop turn: send what was written */
    uv_timer_t timer;
    int handles;                /* open handles; the stop callback runs when none is left */
    int stopping;
    uv_close_cb stopped;
    /* slave */
    link_t *link;
    char masterAddr[128], haAddr[128];
    uint64_t lastAttempt, nextSync, lastAsk;
    rm_conn_t *admin;           /* to the master's main port, for the table copies */
};

static uint64_t now_ms(const br_ha_t *ha) { return uv_now(ha->b->loop); }

/* Every handle of the module closes through here; the last one ends the stop. */
static void handle_gone(br_ha_t *ha)
{
    if (--ha->handles > 0 || !ha->stopping)
        return;
    uv_handle_t *h = (uv_handle_t *)&ha->timer; /* the broker's callback reads h->data only */
    h->data = ha->b;
    ha->b->ha = NULL;
    uv_close_cb cb = ha->stopped;
    cb(h);
    free(ha);
}

static void on_ha_handle_closed(uv_handle_t *h) { handle_gone(h->data); }

/* ---- master --------------------------------------------------------------------------------- */

static void on_peer_closed(uv_handle_t *h)
{
    peer_t *p = h->data;
    br_ha_t *ha = p->ha;
    free(p);
    handle_gone(ha);
}

static void peer_close(peer_t *p, const char *why)
{
    if (p->closing)
        return;
    p->closing = 1;
    br_ha_t *ha = p->ha;
    for (peer_t **pp = p->authed ? &ha->peers : &ha->pending; *pp; pp = &(*pp)->nextPeer)
        if (*pp == p) {
            *pp = p->nextPeer;
            ha->npeers -= p->authed;
            break;
        }
    LOG_W("broker", "HA: slave link closed (%s); %d slave(s) left", why, ha->npeers);
    uv_close((uv_handle_t *)&p->tcp, on_peer_closed);
    if (!ha->peers && uv_is_active((uv_handle_t *)&ha->pump))
        uv_check_stop(&ha->pump);
    if (!ha->stopping)
        br_flushwait_kick(ha->b); /* SYNC_MASTER waiters may have no slave now */
}

static void pump_peer(peer_t *p);

static void on_peer_write(uv_write_t *w, int status)
{
    peer_t *p = w->data;
    p->writing = 0;
    if (p->closing)
        return;
    if (status < 0) {
        peer_close(p, uv_strerror(status));
        return;
    }
    p->pos += (int64_t)p->sending;
    p->lastWrite = now_ms(p->ha);
    pump_peer(p);
}

/* Send the next batch, or a heartbeat when idle long enough. */
static void pump_peer(peer_t *p)
{
    br_ha_t *ha = p->ha;
    br_broker_t *b = ha->b;
    if (p->writing || p->closing || p->request < 0 || !b->store)
        return;
    if (p->pos < 0) {
        int64_t max = st_max_phy_offset(b->store), fsz = b->cfg.mappedFileSizeCommitLog;
        p->pos = p->request ? p->request : max - max % fsz; /* an empty slave copies no history */
        LOG_I("broker", "HA: transfer to the slave starts at %" PRId64, p->pos);
    }
    const uint8_t *data = NULL;
    size_t len = 0;
    if (st_ha_read(b->store, p->pos, (size_t)b->cfg.haTransferBatchSize, &data, &len) != ST_OK) {
        peer_close(p, "the slave's offset is no longer in the commit log");
        return;
    }
    if (!len && now_ms(ha) - p->lastWrite < (uint64_t)b->cfg.haSendHeartbeatInterval)
        return;
    cm_wbe64(p->hdr, (uint64_t)p->pos);
    cm_wbe32(p->hdr + 8, (uint32_t)len);
    uv_buf_t bufs[2] = {uv_buf_init((char *)p->hdr, 12), uv_buf_init((char *)data, (unsigned)len)};
    p->sending = len;
    p->writing = 1;
    p->wr.data = p;
    if (uv_write(&p->wr, (uv_stream_t *)&p->tcp, bufs, len ? 2 : 1, on_peer_write) != 0) {
        p->writing = 0;
        peer_close(p, "write failed");
    }
}

static void on_pump(uv_check_t *h)
{
    br_ha_t *ha = h->data;
    for (peer_t *p = ha->peers, *nx; p; p = nx) {
        nx = p->nextPeer;
        pump_peer(p);
    }
}

static void on_peer_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)h, (void)hint;
    static char slab[4096]; /* reports are 8 bytes each; one loop thread */
    *buf = uv_buf_init(slab, sizeof slab);
}

static void peer_link(br_ha_t *ha, peer_t *p)
{
    p->nextPeer = ha->peers;
    ha->peers = p;
    ha->npeers++;
    LOG_I("broker", "HA: a slave connected%s; %d slave(s)", ha->b->cfg.innerAccessKey[0] ? " and proved the credentials" : "",
          ha->npeers);
}

/* The preface of a connection that must prove the credentials (auth.c): how many of the n
 * bytes it took (the rest are reports), or -1 when the connection was closed. */
static ssize_t peer_auth(peer_t *p, const uint8_t *data, size_t n)
{
    br_ha_t *ha = p->ha;
    size_t take = n < sizeof p->pre - p->npre ? n : sizeof p->pre - p->npre;
    memcpy(p->pre + p->npre, data, take);
    size_t had = p->npre, used = 0;
    p->npre += take;
    const char *why;
    int rc = br_ha_auth_check(p->pre, p->npre, &used, ha->b->cfg.innerAccessKey, ha->b->cfg.innerSecretKey,
                              cm_now_ms(), &ha->nonces, &why);
    if (rc < 0) {
        LOG_W("broker", "HA: refused a slave connection: %s", why);
        peer_close(p, "no valid credentials");
        return -1;
    }
    if (rc == 0)
        return (ssize_t)n; /* all taken, more to come */
    for (peer_t **pp = &ha->pending; *pp; pp = &(*pp)->nextPeer)
        if (*pp == p) {
            *pp = p->nextPeer;
            break;
        }
    p->authed = 1;
    peer_link(ha, p);
    return (ssize_t)(used - had);
}

/* Reports: 8-byte offsets, possibly split across reads; each one acknowledges. */
static void on_peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    peer_t *p = s->data;
    br_ha_t *ha = p->ha;
    if (n < 0) {
        peer_close(p, n == UV_EOF ? "closed by the slave" : uv_strerror((int)n));
        return;
    }
    p->lastRead = now_ms(ha);
    ssize_t i0 = 0;
    if (!p->authed && (i0 = peer_auth(p, (const uint8_t *)buf->base, (size_t)n)) < 0)
        return; /* closed */
    int64_t latest = -1;
    for (ssize_t i = i0; i < n; i++) {
        p->part[p->npart++] = (uint8_t)buf->base[i];
        if (p->npart == 8) {
            latest = (int64_t)cm_be64(p->part);
            p->npart = 0;
        }
    }
    if (latest < 0)
        return;
    if (latest > st_max_phy_offset(ha->b->store)) {
        peer_close(p, "the slave reports more data than the master has");
        return;
    }
    if (p->request < 0) {
        p->request = latest;
        LOG_I("broker", "HA: the slave's commit log ends at %" PRId64, latest);
        if (!uv_is_active((uv_handle_t *)&ha->pump))
            uv_check_start(&ha->pump, on_pump);
    }
    if (latest > ha->acked) {
        ha->acked = latest;
        br_flushwait_kick(ha->b);
    }
    pump_peer(p);
}

static void on_slave_connection(uv_stream_t *server, int status)
{
    br_ha_t *ha = server->data;
    if (status < 0 || ha->stopping)
        return;
    peer_t *p = calloc(1, sizeof *p);
    if (!p)
        return;
    p->ha = ha;
    p->request = p->pos = -1;
    uv_tcp_init(ha->b->loop, &p->tcp);
    p->tcp.data = p;
    ha->handles++;
    if (uv_accept(server, (uv_stream_t *)&p->tcp) != 0) {
        p->closing = 1;
        uv_close((uv_handle_t *)&p->tcp, on_peer_closed);
        return;
    }
    uv_tcp_nodelay(&p->tcp, 1);
    p->lastRead = p->lastWrite = p->since = now_ms(ha);
    if (ha->b->cfg.innerAccessKey[0]) { /* it counts as a slave once it proved the credentials */
        p->nextPeer = ha->pending;
        ha->pending = p;
    } else {
        p->authed = 1;
        peer_link(ha, p);
    }
    uv_read_start((uv_stream_t *)&p->tcp, on_peer_alloc, on_peer_read);
}

static void master_tick(br_ha_t *ha)
{
    uint64_t now = now_ms(ha);
    for (peer_t *p = ha->pending, *nx; p; p = nx) {
        nx = p->nextPeer;
        if (now - p->since > 10000)
            peer_close(p, "no preface within 10 s");
    }
    for (peer_t *p = ha->peers, *nx; p; p = nx) {
        nx = p->nextPeer;
        if (now - p->lastRead > (uint64_t)ha->b->cfg.haHousekeepingInterval)
            peer_close(p, "no report within haHousekeepingInterval");
        else
            pump_peer(p); /* heartbeats */
    }
}

/* ---- slave: replication link ------------------------------------------------------------------ */

static void on_link_closed(uv_handle_t *h)
{
    link_t *l = h->data;
    br_ha_t *ha = l->ha;
    free(l->buf);
    free(l);
    handle_gone(ha);
}

static void link_close(link_t *l, const char *why)
{
    if (l->closing)
        return;
    l->closing = 1;
    if (l->ha->link == l)
        l->ha->link = NULL;
    LOG_W("broker", "HA: link to the master %s closed (%s)", l->ha->haAddr, why);
    uv_close((uv_handle_t *)&l->tcp, on_link_closed);
}

static void on_report_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

/* Tell the master where this commit log ends (request position and acknowledgement). */
static void link_report(link_t *l)
{
    uv_write_t *w = malloc(sizeof *w + 8);
    if (!w)
        return;
    uint8_t *v = (uint8_t *)(w + 1);
    cm_wbe64(v, (uint64_t)st_max_phy_offset(l->ha->b->store));
    uv_buf_t buf = uv_buf_init((char *)v, 8);
    if (uv_write(w, (uv_stream_t *)&l->tcp, &buf, 1, on_report_written) != 0) {
        free(w);
        link_close(l, "report failed");
        return;
    }
    l->lastReport = now_ms(l->ha);
}

/* With credentials, the link opens by proving them (auth.c); 0, or -1 when it closed. */
static int link_preface(link_t *l)
{
    const br_config_t *c = &l->ha->b->cfg;
    uv_write_t *w = malloc(sizeof *w + BR_HA_AUTH_MAX);
    if (!w) {
        link_close(l, "out of memory");
        return -1;
    }
    uint8_t *v = (uint8_t *)(w + 1);
    size_t n = br_ha_auth_build(v, BR_HA_AUTH_MAX, c->innerAccessKey, c->innerSecretKey, cm_now_ms());
    uv_buf_t buf = uv_buf_init((char *)v, (unsigned)n);
    if (n == 0 || uv_write(w, (uv_stream_t *)&l->tcp, &buf, 1, on_report_written) != 0) {
        free(w);
        link_close(l, "cannot send the credentials' preface");
        return -1;
    }
    return 0;
}

static void on_link_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    link_t *l = h->data;
    if (l->cap - l->len < 65536) {
        size_t cap = l->cap ? l->cap * 2 : 256 * 1024;
        uint8_t *nb = cap <= MAX_FRAME * 2u ? realloc(l->buf, cap) : NULL;
        if (nb) {
            l->buf = nb;
            l->cap = cap;
        }
    }
    (void)hint;
    *buf = uv_buf_init((char *)l->buf + l->len, (unsigned)(l->cap - l->len));
}

/* Whole frames in the buffer: check the offset, append, report. 1 if the link must close. */
static int link_frames(link_t *l)
{
    br_broker_t *b = l->ha->b;
    size_t at = 0;
    int appended = 0;
    while (l->len - at >= 12) {
        int64_t phy = (int64_t)cm_be64(l->buf + at);
        uint32_t size = cm_be32(l->buf + at + 8);
        if (size > MAX_FRAME) {
            link_close(l, "frame too large");
            return 1;
        }
        if (l->len - at < 12 + (size_t)size)
            break;
        int64_t mine = st_max_phy_offset(b->store);
        if (mine != 0 && mine != phy) {
            LOG_E("broker", "HA: the master sends offset %" PRId64 " but this commit log ends at %" PRId64, phy, mine);
            link_close(l, "offset mismatch");
            return 1;
        }
        if (size) {
            int rc = st_ha_append(b->store, phy, l->buf + at + 12, size);
            if (rc != ST_OK) {
                LOG_E("broker", "HA: cannot append replicated data at %" PRId64 ": %s", phy, st_strerror(rc));
                link_close(l, "append failed");
                return 1;
            }
            appended = 1;
        }
        at += 12 + (size_t)size;
    }
    memmove(l->buf, l->buf + at, l->len - at);
    l->len -= at;
    if (appended)
        link_report(l);
    return 0;
}

static void on_link_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    link_t *l = s->data;
    if (n < 0) {
        link_close(l, n == UV_EOF ? "closed by the master" : uv_strerror((int)n));
        return;
    }
    l->lastRead = now_ms(l->ha);
    l->len += (size_t)n;
    link_frames(l);
}

static void on_link_connected(uv_connect_t *c, int status)
{
    link_t *l = c->data;
    if (l->closing)
        return;
    if (status < 0) {
        link_close(l, uv_strerror(status));
        return;
    }
    l->connected = 1;
    l->lastRead = now_ms(l->ha);
    uv_tcp_nodelay(&l->tcp, 1);
    LOG_I("broker", "HA: connected to the master %s; this commit log ends at %" PRId64, l->ha->haAddr,
          st_max_phy_offset(l->ha->b->store));
    if (l->ha->b->cfg.innerAccessKey[0] && link_preface(l) != 0)
        return;
    link_report(l);
    uv_read_start((uv_stream_t *)&l->tcp, on_link_alloc, on_link_read);
}

static void link_open(br_ha_t *ha)
{
    char host[128];
    snprintf(host, sizeof host, "%s", ha->haAddr);
    char *colon = strrchr(host, ':');
    struct sockaddr_in sa;
    if (!colon || (*colon = 0, uv_ip4_addr(host, atoi(colon + 1), &sa)) != 0) {
        LOG_W("broker", "HA: bad master HA address %s", ha->haAddr);
        return;
    }
    link_t *l = calloc(1, sizeof *l);
    if (!l)
        return;
    l->ha = ha;
    uv_tcp_init(ha->b->loop, &l->tcp);
    l->tcp.data = l;
    l->conn.data = l;
    ha->handles++;
    ha->link = l;
    if (uv_tcp_connect(&l->conn, &l->tcp, (const struct sockaddr *)&sa, on_link_connected) != 0)
        link_close(l, "connect failed");
}

/* ---- slave: table copies (spec §5.6) ------------------------------------------------------------ */

typedef void (*adopt_fn)(br_broker_t *b, const lj_val_t *root);
typedef struct table_call { adopt_fn fn; br_ha_t *ha; } table_call_t;

static void adopt_topics(br_broker_t *b, const lj_val_t *root)
{
    if (br_topics_adopt(&b->topics, root)) {
        LOG_I("broker", "HA: topic table copied from the master");
        br_register_soon(b);
    }
}

static void adopt_offsets(br_broker_t *b, const lj_val_t *root)
{
    br_offsets_merge(&b->offsets, root);
    br_offsets_save(&b->offsets);
}

static void adopt_delay(br_broker_t *b, const lj_val_t *root)
{
    if (b->hooks.delay_adopt) /* the schedule subsystem takes it and persists it */
        b->hooks.delay_adopt(b, root);
}

static void adopt_groups(br_broker_t *b, const lj_val_t *root)
{
    if (br_groups_adopt(&b->groups, root))
        LOG_I("broker", "HA: subscription groups copied from the master");
}

static void on_table(int status, rm_cmd_t *resp, void *arg)
{
    table_call_t call = *(table_call_t *)arg;
    br_ha_t *ha = call.ha;
    free(arg);
    lj_val_t *root = NULL;
    if (status != RM_OK || resp->code != RC_SUCCESS || !ha->b->store ||
        lj_parse((const char *)resp->body, resp->body_len, &root) != 0) {
        lj_free(root);
        return;
    }
    call.fn(ha->b, root);
    lj_free(root);
}

static void sync_tables(br_ha_t *ha)
{
    static const struct { int code; adopt_fn fn; } k[] = {
        {21, adopt_topics}, {43, adopt_offsets}, {45, adopt_delay}, {201, adopt_groups}};
    br_broker_t *b = ha->b;
    if (!ha->masterAddr[0] || !strcmp(ha->masterAddr, b->addr))
        return;
    if (ha->admin && rm_conn_is_closed(ha->admin)) {
        rm_conn_unref(ha->admin);
        ha->admin = NULL;
    }
    if (!ha->admin && rm_conn_connect(b->loop, ha->masterAddr, &b->ep_ns, &ha->admin) == 0)
        rm_conn_ref(ha->admin);
    for (size_t i = 0; ha->admin && i < sizeof k / sizeof k[0]; i++) {
        table_call_t *arg = malloc(sizeof *arg);
        if (!arg)
            return;
        arg->fn = k[i].fn;
        arg->ha = ha;
        rm_cmd_t req;
        rm_cmd_init(&req, k[i].code);
        br_sign_out(b, &req); /* a master with ACL on lets its slave copy the tables */
        if (rm_conn_invoke(ha->admin, &req, RPC_TIMEOUT_MS, on_table, arg) != 0)
            free(arg);
        rm_cmd_free(&req);
    }
}

static void slave_tick(br_ha_t *ha)
{
    uint64_t now = now_ms(ha);
    link_t *l = ha->link;
    if (!ha->haAddr[0] && now - ha->lastAsk >= ASK_MASTER_MS) {
        ha->lastAsk = now; /* the name server names the master in its answer to a registration */
        br_register_all(ha->b, 0);
    }
    if (l && l->connected && now - l->lastRead > (uint64_t)ha->b->cfg.haHousekeepingInterval)
        link_close(l, "nothing from the master within haHousekeepingInterval");
    else if (l && l->connected && now - l->lastReport >= (uint64_t)ha->b->cfg.haSendHeartbeatInterval)
        link_report(l);
    if (!ha->link && ha->haAddr[0] && (!ha->lastAttempt || now - ha->lastAttempt >= RECONNECT_MS)) {
        ha->lastAttempt = now;
        link_open(ha);
    }
    if (now >= ha->nextSync) {
        ha->nextSync = now + SYNC_EVERY_MS;
        sync_tables(ha);
    }
}

/* ---- life cycle --------------------------------------------------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    br_ha_t *ha = t->data;
    if (br_is_slave(ha->b))
        slave_tick(ha);
    else
        master_tick(ha);
}

int br_ha_start(br_broker_t *b)
{
    br_ha_t *ha = calloc(1, sizeof *ha);
    if (!ha)
        return -1;
    ha->b = b;
    b->ha = ha;
    uv_timer_init(b->loop, &ha->timer);
    uv_check_init(b->loop, &ha->pump);
    ha->timer.data = ha->pump.data = ha;
    ha->handles = 2;
    ha->nextSync = uv_now(b->loop) + SYNC_FIRST_MS;
    uv_timer_start(&ha->timer, on_tick, TICK_MS, TICK_MS);
    if (br_is_slave(b)) {
        if (b->cfg.haMasterAddress[0])
            snprintf(ha->haAddr, sizeof ha->haAddr, "%s", b->cfg.haMasterAddress);
        return 0;
    }
    struct sockaddr_in sa;
    uv_ip4_addr("0.0.0.0", b->cfg.haListenPort, &sa);
    uv_tcp_init(b->loop, &ha->server);
    ha->server.data = ha;
    ha->handles++;
    ha->serverOn = 1;
    if (uv_tcp_bind(&ha->server, (const struct sockaddr *)&sa, 0) != 0 ||
        uv_listen((uv_stream_t *)&ha->server, 16, on_slave_connection) != 0) {
        LOG_E("broker", "HA: cannot listen on port %d; no slave can replicate", b->cfg.haListenPort);
        return 0;
    }
    LOG_I("broker", "HA: listening for slaves on port %d (%s)", b->cfg.haListenPort, b->cfg.brokerRole);
    return 0;
}

void br_ha_master_known(br_broker_t *b, const char *masterAddr, const char *haAddr)
{
    br_ha_t *ha = b->ha;
    if (!ha || !br_is_slave(b))
        return;
    if (masterAddr && *masterAddr)
        snprintf(ha->masterAddr, sizeof ha->masterAddr, "%s", masterAddr);
    if (b->cfg.haMasterAddress[0] || !haAddr || !*haAddr || !strcmp(ha->haAddr, haAddr))
        return;
    LOG_I("broker", "HA: master is %s (HA %s)", masterAddr ? masterAddr : "?", haAddr);
    snprintf(ha->haAddr, sizeof ha->haAddr, "%s", haAddr);
    if (ha->link)
        link_close(ha->link, "the master changed");
    ha->lastAttempt = 0;
    slave_tick(ha);
}

static int64_t ha_acked(const br_broker_t *b) { return b->ha ? b->ha->acked : 0; }
static int ha_slaves(const br_broker_t *b) { return b->ha ? b->ha->npeers : 0; }

void br_ha_stop(br_broker_t *b, uv_close_cb cb)
{
    br_ha_t *ha = b->ha;
    ha->stopping = 1;
    ha->stopped = cb;
    ha->handles++; /* held until everything below is on its way */
    while (ha->peers)
        peer_close(ha->peers, "broker stopping");
    while (ha->pending)
        peer_close(ha->pending, "broker stopping");
    if (ha->link)
        link_close(ha->link, "broker stopping");
    if (ha->admin) {
        rm_conn_close(ha->admin);
        rm_conn_unref(ha->admin);
        ha->admin = NULL;
    }
    if (ha->serverOn)
        uv_close((uv_handle_t *)&ha->server, on_ha_handle_closed);
    uv_close((uv_handle_t *)&ha->pump, on_ha_handle_closed);
    uv_close((uv_handle_t *)&ha->timer, on_ha_handle_closed);
    handle_gone(ha);
}

/* ---- the subsystem ---- */

static int ha_start(br_broker_t *b)
{
    if (b->cfg.enableDLegerCommitLog)
        return 0; /* a DLedger group replicates by Raft (dledger/), as RocketMQ disables HAService */
    b->hooks.master_known = br_ha_master_known;
    b->hooks.ha_acked = ha_acked;
    b->hooks.ha_slaves = ha_slaves;
    return br_ha_start(b);
}

static int ha_stop(br_broker_t *b, uv_close_cb cb)
{
    if (!b->ha)
        return 0;
    br_ha_stop(b, cb);
    return 1;
}

/* Started first (a slave learns its master from the first registration's answer) and stopped
 * late: after the listeners, before the store closes, as slaves read from it. */
const br_subsys_t br_ha_subsys = {"ha", ha_start, ha_stop, NULL, NULL, 0, 1};
