/* libFuzzer target: a server-side gRPC connection from memory (gp_fake, no sockets) with the
 * broker's MessagingService method table (no broker behind it: every call is decoded and
 * validated, then answered with an error status). The input is what a client sends on a fresh
 * h2c connection: HTTP/2 (preface, frames, HPACK) through nghttp2, the 5-byte gRPC framing,
 * then protobuf decoding of the RocketMQ requests. It is fed whole, then again in two pieces
 * split where its first byte says, so partial frames and messages are exercised too.
 * Corpus: tests/fuzz/corpus/grpc_frame (the Node 5.x client's recorded session, a prefix, garbage). */
#include <stdint.h>
#include <stdlib.h>

#include "broker/grpc/grpc.h"
#include "grpc/grpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n;
    const gp_method_t *m = br_grpc_methods(&n);
    gp_config_t cfg = {0};
    cfg.name = "fuzz";
    cfg.methods = m;
    cfg.nmethods = n;
    gp_limits_default(&cfg.limits);
    cfg.limits.max_message = 1 << 20;
    cfg.tls_mode = 0;   /* plaintext only: TLS has its own target (fuzz_remoting_tls) */
    gp_fake_t *f = gp_fake_new(&cfg);
    if (!f)
        abort();
    gp_fake_feed(f, data, size);
    gp_fake_free(f);
    if (size > 1) {
        size_t cut = 1 + (size_t)data[0] * 7 % (size - 1);
        f = gp_fake_new(&cfg);
        if (!f)
            abort();
        if (gp_fake_feed(f, data, cut) == 0)
            gp_fake_feed(f, data + cut, size - cut);
        gp_fake_free(f);
    }
    return 0;
}
