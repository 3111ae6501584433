"""canonical raft's TCP peer protocol (libraft 0.15 libuv transport), for tests that speak it
from Python: bad input on a DLedger node's peer port, and a stand-in for one member of a group.

Everything is little-endian. A connection starts with a handshake:
  u64 protocol version (1), u64 server id of the connecting server, u64 length of the address
  buffer, then the address (NUL-terminated, zero-padded to a multiple of 8).
Then messages, each: u64 type, u64 header length, the header, and for AppendEntries the entries'
data (the sum of their lengths) after it. Headers:
  RequestVote (3):        term, candidate id, last log index, last log term, flags
                          (bit 0 disrupt leader, bit 1 pre-vote)
  RequestVoteResult (4):  term, vote granted, flags (bit 0 pre-vote)
  AppendEntries (1):      term, prev log index, prev log term, leader commit, entry count,
                          then per entry: u64 term, u8 type, 3 unused bytes, u32 data length
  AppendEntriesResult (2): term, rejected (0 = accepted, else an index), last log index, features
A node sends its answers on a connection it opens itself to the address the asking server
claimed in its handshake, not on the connection the request came on."""
import queue
import socket
import struct
import threading
import time

PROTOCOL = 1
APPEND_ENTRIES, APPEND_ENTRIES_RESULT, REQUEST_VOTE, REQUEST_VOTE_RESULT, INSTALL_SNAPSHOT, TIMEOUT_NOW = 1, 2, 3, 4, 5, 6
COMMAND, BARRIER, CHANGE = 1, 2, 3


def pad8(b):
    return b + b"\0" * (-len(b) % 8)


def handshake(server_id, address, version=PROTOCOL):
    a = pad8(address.encode() + b"\0")
    return struct.pack("<QQQ", version, server_id, len(a)) + a


def message(mtype, header, payload=b""):
    return struct.pack("<QQ", mtype, len(header)) + header + payload


def request_vote(term, candidate_id, last_index, last_term, disrupt_leader=False, pre_vote=False):
    flags = (1 if disrupt_leader else 0) | (2 if pre_vote else 0)
    return message(REQUEST_VOTE, struct.pack("<QQQQQ", term, candidate_id, last_index, last_term, flags))


def append_entries(term, prev_index, prev_term, commit, entries=()):
    """entries: (term, type, data) tuples; data is sent as given (libraft pads to 8 itself)."""
    h = struct.pack("<QQQQQ", term, prev_index, prev_term, commit, len(entries))
    for t, typ, data in entries:
        h += struct.pack("<QB3xI", t, typ, len(data))
    return message(APPEND_ENTRIES, h, b"".join(data for _, _, data in entries))


def _read(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_handshake(sock):
    pre = _read(sock, 24)
    if pre is None:
        return None
    version, sid, alen = struct.unpack("<QQQ", pre)
    addr = _read(sock, alen)
    if addr is None:
        return None
    return version, sid, addr.split(b"\0", 1)[0].decode(errors="replace")


def read_message(sock):
    """One message as a dict (type, and the decoded header fields), or None at end of stream."""
    pre = _read(sock, 16)
    if pre is None:
        return None
    mtype, hlen = struct.unpack("<QQ", pre)
    h = _read(sock, hlen) if hlen else b""
    if h is None:
        return None
    m = {"type": mtype, "len": hlen}
    if mtype == APPEND_ENTRIES:
        m["term"], m["prev_index"], m["prev_term"], m["commit"], n = struct.unpack_from("<QQQQQ", h)
        lens = [struct.unpack_from("<QB3xI", h, 40 + 16 * i) for i in range(n)]
        m["entries"] = [(t, typ, ln) for t, typ, ln in lens]
        plen = sum(ln for _, _, ln in lens)
        if plen and _read(sock, plen) is None:
            return None
    elif mtype == APPEND_ENTRIES_RESULT:
        m["term"], m["rejected"], m["last_index"] = struct.unpack_from("<QQQ", h)
    elif mtype == REQUEST_VOTE:
        m["term"], m["candidate"], m["last_index"], m["last_term"] = struct.unpack_from("<QQQQ", h)
    elif mtype == REQUEST_VOTE_RESULT:
        m["term"], m["granted"] = struct.unpack_from("<QQ", h)
        m["pre_vote"] = bool(struct.unpack_from("<Q", h, 16)[0] & 1) if hlen >= 24 else False
    elif mtype == TIMEOUT_NOW:
        m["term"], m["last_index"], m["last_term"] = struct.unpack_from("<QQQ", h)
    return m


def closed_within(sock, seconds):
    """True if the peer closes the connection (EOF or reset) within the given time; data it
    sends meanwhile is read and dropped."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        sock.settimeout(max(0.05, deadline - time.time()))
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


def connect(port, server_id, address, timeout=10):
    """A connection to a node's peer port that has sent the handshake."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(handshake(server_id, address))
    return s


class StandIn:
    """Listens at a member's peer address in its place and records every message the real
    nodes send it: (sender id from the handshake, message dict), in arrival order."""

    def __init__(self, port):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.time() + 30
        while True:   # the killed member's port may linger briefly
            try:
                self.ls.bind(("127.0.0.1", port))
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        self.ls.listen(16)
        self.ls.settimeout(0.2)
        self.q = queue.Queue()
        self.peers = []   # (id, address) of each accepted connection
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop:
            try:
                s, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        s.settimeout(None)
        try:
            hs = read_handshake(s)
            if hs is None:
                return
            self.peers.append((hs[1], hs[2]))
            while not self.stop:
                m = read_message(s)
                if m is None:
                    return
                self.q.put((hs[1], m))
        except OSError:
            return
        finally:
            s.close()

    def wait_for(self, pred, seconds):
        """The first recorded (sender, message) that pred accepts within the time, else None;
        messages that do not match are dropped."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                sender, m = self.q.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                return None
            if pred(sender, m):
                return sender, m
        return None

    def drain(self):
        out = []
        while True:
            try:
                out.append(self.q.get_nowait())
            except queue.Empty:
                return out

    def close(self):
        self.stop = True
        self.ls.close()
