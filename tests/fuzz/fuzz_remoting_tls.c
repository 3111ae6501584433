/* libFuzzer target: the server side of TLS on the remoting protocol, from memory (no sockets).
 *  1. The input is what a peer sends on a fresh connection: the first byte is sniffed under all
 *     three modes; when it chooses TLS, the bytes go through a server engine (test-mode
 *     context) in reads of varying size, its plaintext through the frame decoder, the way
 *     conn.c runs them. A garbage ClientHello must end in RM_ETLS, never a crash.
 *  2. The input is the plaintext a TLS client sends once a real handshake (client and server
 *     engines talking through memory) is done: it reaches the frame decoder decrypted, and
 *     must arrive byte for byte.
 * Corpus: tests/fuzz/corpus/tls (a ClientHello of `openssl s_client`, a plain frame, garbage). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remoting/remoting.h"

static void contexts(void)
{
    static int ready;
    if (ready)
        return;
    ready = 1;
    rm_tls_conf_t tc;
    char err[256];
    rm_tls_conf_init(&tc);
    if (rm_tls_server_setup(&tc, err, sizeof err) != 0 || rm_tls_client_setup(&tc, err, sizeof err) != 0)
        abort();
    rm_tls_conf_free(&tc);
}

/* The frame decoder over a plaintext stream, as conn.c's process_input. */
static void frames(cm_buf_t *plain)
{
    size_t off = 0;
    if (!plain->data) /* nothing decrypted yet: no buffer (NULL + 0 is undefined) */
        return;
    for (;;) {
        int64_t size = rm_frame_size((const uint8_t *)plain->data + off, plain->len - off);
        if (size <= 0 || (size_t)size > plain->len - off)
            break;
        rm_cmd_t c;
        if (rm_frame_decode((const uint8_t *)plain->data + off, (size_t)size, &c) == 0)
            rm_cmd_free(&c);
        off += (size_t)size;
    }
}

static void drop_output(rm_tls_t *t)
{
    size_t len;
    free(rm_tls_take_output(t, &len));
}

/* Everything the engine has decrypted, appended to plain. 0, or the error that closes. */
static int drain(rm_tls_t *t, cm_buf_t *plain)
{
    uint8_t buf[16384];
    int r;
    while ((r = rm_tls_read(t, buf, sizeof buf)) > 0)
        cm_buf_append(plain, buf, (size_t)r);
    return r;
}

static void as_first_bytes(const uint8_t *data, size_t size)
{
    int modes[] = {RM_TLS_DISABLED, RM_TLS_PERMISSIVE, RM_TLS_ENFORCING};
    int tls = 0;
    for (int i = 0; i < 3; i++) {
        int d = rm_tls_sniff(modes[i], data[0]);
        if ((data[0] == 0x16) != (d == RM_SNIFF_TLS) && d != RM_SNIFF_REFUSE)
            abort(); /* a plain frame never starts TLS, a handshake byte never plain framing */
        tls |= d == RM_SNIFF_TLS;
    }
    if (!tls)
        return;
    rm_tls_t *t = rm_tls_new(1);
    if (!t)
        abort();
    cm_buf_t plain;
    cm_buf_init(&plain);
    size_t step = 1 + (size > 1 ? data[1] % 97 : 0), off = 0;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        if (rm_tls_feed(t, data + off, n) != 0 || drain(t, &plain) < 0)
            break;
        drop_output(t);
        off += n;
        step = step * 3 % 1500 + 1; /* reads of many sizes: records split anywhere */
    }
    drop_output(t);
    frames(&plain);
    cm_buf_free(&plain);
    rm_tls_free(t);
}

/* Move each engine's output into the other until neither has anything to say. */
static void pump(rm_tls_t *a, rm_tls_t *b, cm_buf_t *b_plain)
{
    for (int round = 0; round < 16; round++) {
        size_t la, lb;
        char *oa = rm_tls_take_output(a, &la), *ob = rm_tls_take_output(b, &lb);
        if (!oa && !ob)
            return;
        if (oa && rm_tls_feed(b, (const uint8_t *)oa, la) != 0)
            abort();
        if (ob && rm_tls_feed(a, (const uint8_t *)ob, lb) != 0)
            abort();
        free(oa);
        free(ob);
        if (drain(b, b_plain) < 0)
            abort();
    }
}

static void as_plaintext(const uint8_t *data, size_t size)
{
    rm_tls_t *cli = rm_tls_new(0), *srv = rm_tls_new(1);
    if (!cli || !srv)
        abort();
    cm_buf_t plain;
    cm_buf_init(&plain);
    if (rm_tls_write(cli, data, size) != 0) /* waits in the engine for the handshake */
        abort();
    pump(cli, srv, &plain);
    if (!rm_tls_handshake_done(cli) || !rm_tls_handshake_done(srv))
        abort();
    pump(cli, srv, &plain);
    if (plain.len != size || (size && memcmp(plain.data, data, size) != 0))
        abort();
    frames(&plain);
    cm_buf_free(&plain);
    rm_tls_free(cli);
    rm_tls_free(srv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    contexts();
    as_first_bytes(data, size);
    if (size <= 65536)
        as_plaintext(data, size);
    return 0;
}
