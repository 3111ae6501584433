"""A fault-injecting TCP proxy for the peer links of a DLedger group (canonical raft's TCP
transport), for partition tests.

    python3 dledger_proxy.py CONTROL_PORT LISTEN:TARGET:ID [LISTEN:TARGET:ID ...]

Each route listens on 127.0.0.1:LISTEN (the address dLegerPeers gives for the server whose raft
id is ID) and forwards to 127.0.0.1:TARGET (that server's dLegerBindAddress). Every connection a
raft server opens starts with its handshake, little-endian: uint64 protocol version (1), uint64
the connecting server's id, uint64 the length of the address that follows (NUL-padded to a
multiple of 8). The proxy reads it to learn who is talking to whom, then forwards it unchanged.
canonical raft sends in one direction per connection (the dialler sends, the acceptor only
reads), so a connection is the link SOURCE -> ID.

Control: one text line per request on 127.0.0.1:CONTROL_PORT, one line answered:
    isolate ID   cut every live link from or to server ID and refuse new ones  -> "ok"
    freeze ID    links from or to server ID stop forwarding: what they read is held, they stop
                 reading (TCP back-pressure), new ones wait after their handshake; nothing is
                 closed or lost: a partition shorter than TCP's timeouts        -> "ok"
    heal         allow every link again; frozen ones deliver what they held     -> "ok"
    stats        JSON: {"isolated": [...], "frozen": [...], "links": {"S->D": {accepted,
                 refused, cut, bytes, live}}, "bad": n} (bytes forwarded on S->D links)
    ping         -> "ok"
Refusing means: the connection is accepted, then closed with a reset (SO_LINGER 0) before a byte
is forwarded, as soon as either end is known to be isolated. All sockets are on 127.0.0.1.
"""
import asyncio
import json
import socket
import struct
import sys

HANDSHAKE_PROTOCOL = 1
MAX_ADDRESS = 4096
HANDSHAKE_TIMEOUT = 30

isolated = set()
frozen = set()
live = set()      # Link objects forwarding now
stats = {}        # "S->D" -> counters
bad = 0


def counters(src, dst):
    return stats.setdefault("%s->%s" % (src, dst), {"accepted": 0, "refused": 0, "cut": 0, "bytes": 0, "live": 0})


def reset(writer):
    """Close with RST, as a broken network path would surface, rather than an orderly FIN."""
    try:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


class Link:
    def __init__(self, src, dst, a, b):
        self.src, self.dst, self.ends = src, dst, (a, b)
        self.closed = False

    def cut(self):
        if not self.closed:
            self.closed = True
            for w in self.ends:
                reset(w)


async def thawed(src, dst):
    """Return once neither end of src -> dst is frozen."""
    while src in frozen or dst in frozen:
        await asyncio.sleep(0.02)


async def pump(link, reader, writer, c):
    try:
        while not link.closed:
            await thawed(link.src, link.dst)
            data = await reader.read(65536)
            if data:
                await thawed(link.src, link.dst)   # frozen meanwhile: hold it
            if not data or link.closed:
                break
            writer.write(data)
            c["bytes"] += len(data)
            await writer.drain()
    except (ConnectionError, OSError, asyncio.CancelledError):
        pass
    finally:
        link.cut()


async def serve(reader, writer, dst, target):
    global bad
    if dst in isolated:
        counters("?", dst)["refused"] += 1
        reset(writer)
        return
    try:
        head = await asyncio.wait_for(reader.readexactly(24), HANDSHAKE_TIMEOUT)
        proto, src, alen = struct.unpack("<QQQ", head)
        if proto != HANDSHAKE_PROTOCOL or alen == 0 or alen > MAX_ADDRESS or alen % 8:
            raise ValueError("not a raft handshake: %r" % head)
        addr = await asyncio.wait_for(reader.readexactly(alen), HANDSHAKE_TIMEOUT)
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError, OSError, ValueError) as e:
        bad += 1
        print("proxy: dropped a connection to %s before its handshake: %s" % (dst, e), flush=True)
        reset(writer)
        return
    c = counters(src, dst)
    await thawed(src, dst)
    if src in isolated or dst in isolated:
        c["refused"] += 1
        reset(writer)
        return
    try:
        treader, twriter = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        c["refused"] += 1   # the server behind is down: the dialler sees the same as without a proxy
        reset(writer)
        return
    if src in isolated or dst in isolated:   # isolated while connecting
        c["refused"] += 1
        reset(writer)
        reset(twriter)
        return
    c["accepted"] += 1
    link = Link(src, dst, writer, twriter)
    live.add(link)
    c["live"] += 1
    twriter.write(head + addr)
    c["bytes"] += len(head) + len(addr)
    try:
        # the acceptor never writes on a raft connection, but whatever it sends goes back too
        await asyncio.gather(pump(link, reader, twriter, c), pump(link, treader, writer, c))
    finally:
        live.discard(link)
        c["live"] -= 1


def isolate(server):
    isolated.add(server)
    n = 0
    for link in list(live):
        if link.src == server or link.dst == server:
            if not link.closed:
                counters(link.src, link.dst)["cut"] += 1
                n += 1
            link.cut()
    return n


async def control(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            words = line.decode(errors="replace").split()
            if words[:1] == ["isolate"] and len(words) == 2 and words[1].isdigit():
                n = isolate(int(words[1]))
                print("proxy: isolated %s (%d live links cut)" % (words[1], n), flush=True)
                answer = "ok"
            elif words[:1] == ["freeze"] and len(words) == 2 and words[1].isdigit():
                frozen.add(int(words[1]))
                print("proxy: froze %s" % words[1], flush=True)
                answer = "ok"
            elif words == ["heal"]:
                isolated.clear()
                frozen.clear()
                print("proxy: healed", flush=True)
                answer = "ok"
            elif words == ["stats"]:
                answer = json.dumps({"isolated": sorted(isolated), "frozen": sorted(frozen), "links": stats, "bad": bad})
            elif words == ["ping"]:
                answer = "ok"
            else:
                answer = "error: isolate ID | freeze ID | heal | stats | ping"
            writer.write(answer.encode() + b"\n")
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    servers = []
    for route in argv[1:]:
        listen, target, server = (int(x) for x in route.split(":"))
        servers.append(await asyncio.start_server(
            lambda r, w, d=server, t=target: serve(r, w, d, t), "127.0.0.1", listen, reuse_address=True))
    # the control port opens last: once it accepts, every route listens
    servers.append(await asyncio.start_server(control, "127.0.0.1", int(argv[0]), reuse_address=True))
    print("proxy: %d route(s), control on %s" % (len(argv) - 1, argv[0]), flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


class Client:
    """The test's side of the control port."""

    def __init__(self, port, timeout=20):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.f = self.s.makefile("rb")

    def ask(self, line):
        self.s.sendall(line.encode() + b"\n")
        answer = self.f.readline().decode().strip()
        if not answer:
            raise ConnectionError("the proxy closed its control connection")
        return answer

    def isolate(self, server):
        assert self.ask("isolate %d" % server) == "ok"

    def freeze(self, server):
        assert self.ask("freeze %d" % server) == "ok"

    def heal(self):
        assert self.ask("heal") == "ok"

    def stats(self):
        return json.loads(self.ask("stats"))


if __name__ == "__main__":
    try:
        asyncio.run(main(sys.argv[1:]))
    except KeyboardInterrupt:
        pass
