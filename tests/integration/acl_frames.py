"""Signed RocketMQ requests for the access-control tests: the signature as RocketMQ 4.9 clients
compute it (acl spec §2: HMAC-SHA1 over the ext values sorted by key, then the body; Base64),
and the Loulan HA preface (src/broker/ha/auth.c)."""
import base64
import hashlib
import hmac
import json
import os
import struct
import time

from rmq_frames import frame


def sign(ext, body, secret):
    data = "".join(str(ext[k]) for k in sorted(ext) if k != "Signature").encode() + (body or b"")
    return base64.b64encode(hmac.new(secret.encode(), data, hashlib.sha1).digest()).decode()


def signed(ext, body, ak, sk):
    """ext with AccessKey and its Signature added (nothing added when ak is None)."""
    ext = {k: str(v) for k, v in (ext or {}).items()}
    if ak is None:
        return ext
    ext["AccessKey"] = ak
    ext["Signature"] = sign(ext, body, sk)
    return ext


def call(conn, code, ext=None, body=b"", ak=None, sk=None):
    """(code, remark, body) of the answer to a request signed with ak/sk (None: unsigned)."""
    r = conn.call(code, signed(ext, body, ak, sk), body)
    if r is None:
        return None, "connection closed", b""
    return r[0].get("code"), r[0].get("remark", ""), r[1]


def register_body(topics):
    table = {t: {"topicName": t, "readQueueNums": 4, "writeQueueNums": 4, "perm": 6,
                 "topicFilterType": "SINGLE_TAG", "topicSysFlag": 0, "order": False} for t in topics}
    return json.dumps({"filterServerList": [], "topicConfigSerializeWrapper": {
        "dataVersion": {"counter": 1, "timestamp": int(time.time() * 1000)}, "topicConfigTable": table}}).encode()


def register_ext(name, addr, broker_id=0, cluster="DefaultCluster"):
    return {"brokerName": name, "brokerAddr": addr, "clusterName": cluster,
            "haServerAddr": "127.0.0.1:1", "brokerId": broker_id, "compressed": "false", "bodyCrc32": 0}


def ha_preface(ak, sk, ts_ms=None, nonce=None):
    head = b"LHA1" + bytes([len(ak)]) + ak.encode() + struct.pack(">Q", ts_ms or int(time.time() * 1000)) + \
        (nonce or os.urandom(16))
    return head + hmac.new(sk.encode(), head, hashlib.sha1).digest()
