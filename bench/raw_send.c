/* raw_send: the broker's own send capacity, without a client library in the way.
 * One connection, SEND_MESSAGE_V2 frames prepared once and pipelined with a fixed window of
 * unacknowledged sends; prints sends/s and the latency of a single outstanding send (p50),
 * next to the loopback round trip of a minimal request (GET_MAX_OFFSET) measured the same way,
 * so the figures are ratios against a baseline taken in the same run.
 * usage: raw_send host:port [topics=1] [seconds=5] [size=1024] [window=1024] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/common.h"
#include "remoting/remoting.h"

static int dial(const char *addr)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon - addr >= (long)sizeof host)
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    inet_pton(AF_INET, host, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        return -1;
    return fd;
}

/* Read whole frames; returns how many responses arrived, -1 on error. rbuf persists. */
static uint8_t rbuf[1 << 22];
static size_t rlen;
static int read_responses(int fd, int *codes_bad)
{
    ssize_t n = read(fd, rbuf + rlen, sizeof rbuf - rlen);
    if (n <= 0)
        return -1;
    rlen += (size_t)n;
    int got = 0;
    size_t off = 0;
    while (rlen - off >= 4) {
        uint32_t len = cm_be32(rbuf + off);
        if (rlen - off < 4 + (size_t)len)
            break;
        uint32_t hl = cm_be32(rbuf + off + 4) & 0xFFFFFF;
        if (hl > 9 && !memmem(rbuf + off + 8, hl < 12 ? hl : 12, "\"code\":0", 8))
            (*codes_bad)++;
        off += 4 + len;
        got++;
    }
    memmove(rbuf, rbuf + off, rlen - off);
    rlen -= off;
    return got;
}

static void build_send(cm_buf_t *out, const char *topic, int qid, const uint8_t *body, size_t size)
{
    rm_cmd_t c;
    rm_cmd_init(&c, 310);
    rm_ext_set(&c, "a", "raw_send");
    rm_ext_set(&c, "b", topic);
    rm_ext_set(&c, "c", "TBW102");
    rm_ext_set(&c, "d", "8");
    rm_ext_set_i64(&c, "e", qid);
    rm_ext_set(&c, "f", "0");
    rm_ext_set_i64(&c, "g", cm_now_ms());
    rm_ext_set(&c, "h", "0");
    rm_ext_set(&c, "i", "TAGS\001TagA\002WAIT\001true\002");
    rm_ext_set(&c, "j", "0");
    rm_ext_set(&c, "k", "false");
    rm_ext_set(&c, "m", "false");
    c.body = body;
    c.body_len = size;
    rm_frame_encode(&c, out);
    rm_cmd_free(&c);
}

/* Drain what was sent with pipelined PULL_MESSAGE requests (32 records each, 8 in flight per
 * queue round), counting records in the answers: the broker's backlog-consume capacity. */
static double drain(int fd, int nqueues_topic0, uint64_t *total)
{
    int64_t next[64] = {0};
    int nq = nqueues_topic0 < 64 ? nqueues_topic0 : 64, done = 0, inflight = 0, k = 0;
    uint64_t t0 = cm_mono_us(), deadline = t0 + 60000000;
    *total = 0;
    static uint8_t buf[1 << 24];
    size_t len = 0;
    while (done < nq && cm_mono_us() < deadline) {
        while (inflight < 8) {
            int q = k++ % nq;
            if (next[q] < 0)
                continue;
            rm_cmd_t c;
            rm_cmd_init(&c, 11);
            rm_ext_set(&c, "consumerGroup", "raw_drain");
            rm_ext_set(&c, "topic", "RawSend_0");
            rm_ext_set_i64(&c, "queueId", q);
            rm_ext_set_i64(&c, "queueOffset", next[q]);
            rm_ext_set(&c, "maxMsgNums", "32");
            rm_ext_set(&c, "sysFlag", "4");
            rm_ext_set(&c, "commitOffset", "0");
            rm_ext_set(&c, "suspendTimeoutMillis", "0");
            rm_ext_set(&c, "subscription", "*");
            rm_ext_set(&c, "subVersion", "0");
            c.opaque = q;
            cm_buf_t f;
            cm_buf_init(&f);
            rm_frame_encode(&c, &f);
            if (write(fd, f.data, f.len) != (ssize_t)f.len)
                return 0;
            cm_buf_free(&f);
            rm_cmd_free(&c);
            next[q] = -1 - next[q]; /* in flight: remember the offset, negated */
            inflight++;
            if (k > 8 * nq)
                k = 0;
            break;
        }
        ssize_t n = read(fd, buf + len, sizeof buf - len);
        if (n <= 0)
            return 0;
        len += (size_t)n;
        size_t off = 0;
        while (len - off >= 4 && len - off >= 4 + (size_t)cm_be32(buf + off)) {
            rm_cmd_t r;
            size_t fl = 4 + cm_be32(buf + off);
            if (rm_frame_decode(buf + off, fl, &r) == 0) {
                int q = r.opaque;
                int64_t nb = 0;
                rm_ext_i64(&r, "nextBeginOffset", &nb);
                size_t records = 0;
                for (size_t p = 0; r.code == 0 && p + 4 <= r.body_len; p += cm_be32(r.body + p), records++)
                    if (cm_be32(r.body + p) == 0)
                        break;
                *total += records;
                if (q >= 0 && q < nq) {
                    if (r.code == 0)
                        next[q] = nb;
                    else { /* caught up with this queue */
                        next[q] = -1000000000;
                        done++;
                    }
                }
                inflight--;
                rm_cmd_free(&r);
            }
            off += fl;
        }
        memmove(buf, buf + off, len - off);
        len -= off;
    }
    return (double)*total / ((double)(cm_mono_us() - t0) / 1e6);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* p50 of `n` sequential round trips of `frame`. */
static double p50_us(int fd, const cm_buf_t *frame, int n)
{
    uint64_t *t = calloc((size_t)n, sizeof *t);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        uint64_t t0 = cm_mono_us();
        if (write(fd, frame->data, frame->len) != (ssize_t)frame->len)
            break;
        int got = 0;
        while (got == 0)
            got = read_responses(fd, &bad);
        t[i] = cm_mono_us() - t0;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_u64);
    double r = (double)t[n / 2];
    free(t);
    return r;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: raw_send host:port [topics=1] [seconds=5] [size=1024] [window=1024]\n");
        return 2;
    }
    int topics = argc > 2 ? atoi(argv[2]) : 1, secs = argc > 3 ? atoi(argv[3]) : 5;
    size_t size = argc > 4 ? (size_t)atoi(argv[4]) : 1024;
    int window = argc > 5 ? atoi(argv[5]) : 1024;
    int fd = dial(argv[1]);
    if (fd < 0 || topics < 1) {
        fprintf(stderr, "raw_send: cannot connect to %s\n", argv[1]);
        return 1;
    }
    uint8_t *body = malloc(size);
    memset(body, 'x', size);
    /* One prepared frame per (topic, queue) pair, cycled. */
    int nframes = topics * 4;
    cm_buf_t *frames = calloc((size_t)nframes, sizeof *frames);
    for (int i = 0; i < nframes; i++) {
        char topic[64];
        snprintf(topic, sizeof topic, "RawSend_%d", i / 4);
        build_send(&frames[i], topic, i % 4, body, size);
    }
    /* Warm up: creates the topics. */
    for (int i = 0; i < nframes; i++)
        p50_us(fd, &frames[i], 1);
    rm_cmd_t q;
    rm_cmd_init(&q, 30);
    rm_ext_set(&q, "topic", "RawSend_0");
    rm_ext_set(&q, "queueId", "0");
    cm_buf_t qf;
    cm_buf_init(&qf);
    rm_frame_encode(&q, &qf);
    uint64_t sent = 0, acked = 0, start = cm_mono_us(), end = start + (uint64_t)secs * 1000000;
    int bad = 0, k = 0;
    while (cm_mono_us() < end) {
        /* Fill the window with one writev-sized burst, then read what came back. */
        cm_buf_t burst;
        cm_buf_init(&burst);
        while (sent - acked < (uint64_t)window && burst.len < (1 << 20)) {
            cm_buf_append(&burst, frames[k].data, frames[k].len);
            k = (k + 1) % nframes;
            sent++;
        }
        for (size_t off = 0; off < burst.len;) {
            ssize_t w = write(fd, burst.data + off, burst.len - off);
            if (w <= 0)
                return 1;
            off += (size_t)w;
        }
        cm_buf_free(&burst);
        int got = read_responses(fd, &bad);
        if (got < 0)
            return 1;
        acked += (uint64_t)got;
    }
    while (acked < sent) {
        int got = read_responses(fd, &bad);
        if (got < 0)
            break;
        acked += (uint64_t)got;
    }
    double dt = (double)(cm_mono_us() - start) / 1e6;
    /* Latencies last, on a broker in steady state (start-up page warming is over by then). */
    double rtt = p50_us(fd, &qf, 2000), one = p50_us(fd, &frames[0], 2000);
    uint64_t drained = 0;
    double dps = topics == 1 ? drain(fd, 4, &drained) : 0;
    if (topics == 1)
        printf("drain: %.0f msgs/s consumed from the backlog (%llu records)\n", dps, (unsigned long long)drained);
    printf("topics=%d size=%zu window=%d: %.0f sends/s (%llu in %.1fs, %d not SEND_OK); "
           "loopback request p50 %.1f us, one-outstanding send p50 %.1f us (+%.1f us)\n",
           topics, size, window, (double)acked / dt, (unsigned long long)acked, dt, bad, rtt, one, one - rtt);
    return bad ? 1 : 0;
}
