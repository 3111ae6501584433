#!/usr/bin/env bash
# TLS on the remoting protocol (tls spec §4), with RocketMQ's settings as its users give them:
#  1. PERMISSIVE (the default) with the test-mode certificate: plain and TLS clients side by
#     side (producer, consumer, mqadmin), and the port really speaks TLS (openssl s_client,
#     and the JDK's own TLS 1.3 and 1.2 client when a JDK is installed);
#  2. ENFORCING (name server by JAVA_OPT -Dtls.server.mode, broker by broker.conf): the broker
#     registers over TLS, producer, consumer and mqadmin (clusterList, topicRoute, sendMessage)
#     work over TLS, a plain client is refused (connection closed), the servers log the refusal;
#     a permissive broker with useTLS=true registers over TLS too;
#  3. file-based certificates made with the openssl CLI (a CA and a server certificate whose key
#     is encrypted PKCS#8): tls.client.authServer=true verifies the chain, a wrong CA is refused;
#     need.client.auth=require with authClient=true refuses a client without a certificate and
#     takes one signed by the CA; a bad setting refuses to start, naming the key; the RC4
#     PKCS#8 key of RocketMQ's TLS guide loads.
set -u
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
lt_setup "$1"
command -v openssl >/dev/null || lt_fail "the openssl command is needed"
A="$LT_BIN/mqadmin"
pass=0
ok() { pass=$((pass + 1)); }
TLS="-Dtls.enable=true"

# A plain request (GET_BROKER_CLUSTER_INFO) to port $1: prints "answered" or "closed".
plain_probe() {
    timeout 20 python3 - "$1" <<'PY'
import json, socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
hdr = json.dumps({"code": 106, "language": "JAVA", "version": 409, "opaque": 1, "flag": 0, "extFields": {}}).encode()
s.sendall(struct.pack(">II", 4 + len(hdr), len(hdr)) + hdr)
data = b""
try:
    while len(data) < 4:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except (ConnectionResetError, socket.timeout):
    pass
print("answered" if len(data) >= 4 else "closed")
PY
}

# The TLS handshake on port $1 with the openssl CLI, any certificate accepted: its protocol line.
tls_probe() {
    timeout 20 openssl s_client -connect "127.0.0.1:$1" -brief </dev/null 2>&1 | grep -m1 "Protocol version"
}

sends_ok() { grep -c "sendStatus=SEND_OK" <<<"$1"; }

# ---- 1. permissive, test mode: plain and TLS side by side ----
lt_start_namesrv || lt_fail "name server did not start"
lt_start_broker || lt_fail "broker did not start"
N="$LT_NS_ADDR"
[ "$(plain_probe "$LT_NS_PORT")" = answered ] || lt_fail "permissive: a plain request is not answered"; ok
tls_probe "$LT_NS_PORT" | grep -q "TLSv1\.[23]" || lt_fail "permissive: no TLS handshake on the name server port"; ok
tls_probe "$LT_BROKER_PORT" | grep -q "TLSv1\.[23]" || lt_fail "permissive: no TLS handshake on the broker port"; ok
out=$(JAVA_OPT="$TLS" timeout 60 "$LT_BIN/producer" -n "$N" -c 10 -t TlsTopic 2>&1)
[ "$(sends_ok "$out")" -eq 10 ] || lt_fail "permissive: TLS producer: $out"; ok
out=$(timeout 60 "$LT_BIN/producer" -n "$N" -c 10 -t TlsTopic 2>&1)
[ "$(sends_ok "$out")" -eq 10 ] || lt_fail "permissive: plain producer: $out"; ok
JAVA_OPT="$TLS" timeout 90 "$LT_BIN/consumer" -n "$N" -t TlsTopic -g tls_group_1 -c 20 -T 80 >"$LT_DIR/c1.out" 2>&1 \
    || lt_fail "permissive: TLS consumer did not get the 20 messages: $(tail -3 "$LT_DIR/c1.out")"; ok
JAVA_OPT="$TLS" "$A" topicRoute -n "$N" -t TlsTopic | grep -q '"brokerName":"broker-a"' || lt_fail "permissive: TLS topicRoute"; ok
"$A" topicRoute -n "$N" -t TlsTopic | grep -q '"brokerName":"broker-a"' || lt_fail "permissive: plain topicRoute"; ok
# The JDK's own TLS (what RocketMQ's Netty uses without netty-tcnative) against the test-mode
# certificate, TLS 1.3 and 1.2, a RocketMQ request inside; only where a JDK is installed.
if command -v java >/dev/null 2>&1; then
    cat >"$LT_DIR/JdkTlsProbe.java" <<'JAVA'
import javax.net.ssl.*;
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;

public class JdkTlsProbe { // <port>/<protocol> ...: prints "<port>/<protocol> answered" for each
    public static void main(String[] args) throws Exception {
        for (String arg : args) {
            String[] a = arg.split("/");
            try {
                System.out.println(arg + " " + probe(Integer.parseInt(a[0]), a[1]));
            } catch (Exception e) {
                System.out.println(arg + " " + e);
            }
        }
    }

    static String probe(int port, String proto) throws Exception {
        TrustManager[] any = {new X509TrustManager() { // RocketMQ's test mode trusts any server
            public void checkClientTrusted(X509Certificate[] c, String t) {}
            public void checkServerTrusted(X509Certificate[] c, String t) {}
            public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
        }};
        SSLContext ctx = SSLContext.getInstance(proto);
        ctx.init(null, any, null);
        try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1", port)) {
            s.setSoTimeout(20000);
            s.setEnabledProtocols(new String[] {proto});
            byte[] h = "{\"code\":106,\"language\":\"JAVA\",\"version\":409,\"opaque\":1,\"flag\":0,\"extFields\":{}}"
                .getBytes(StandardCharsets.UTF_8);
            DataOutputStream out = new DataOutputStream(s.getOutputStream());
            out.writeInt(4 + h.length);
            out.writeInt(h.length);
            out.write(h);
            out.flush();
            DataInputStream in = new DataInputStream(s.getInputStream());
            in.readFully(new byte[in.readInt()]);
            return s.getSession().getProtocol().equals(proto) ? "answered" : "used " + s.getSession().getProtocol();
        }
    }
}
JAVA
    want=("$LT_NS_PORT/TLSv1.3" "$LT_BROKER_PORT/TLSv1.3" "$LT_NS_PORT/TLSv1.2" "$LT_BROKER_PORT/TLSv1.2")
    out=$(cd "$LT_DIR" && timeout 120 java JdkTlsProbe.java "${want[@]}" 2>&1)
    for w in "${want[@]}"; do
        grep -qx "$w answered" <<<"$out" || lt_fail "JDK TLS client, $w: $out"; ok
    done
else
    echo "note: no JDK here; the JDK TLS client check is skipped"
fi
kill -TERM "$LT_BROKER_PID" "$LT_NS_PID"

# ---- 2. enforcing, test mode ----
JAVA_OPT="-Xmx1g -Dtls.server.mode=enforcing" lt_start_namesrv || lt_fail "enforcing name server did not start"
N="$LT_NS_ADDR"
LT_BROKER_PORT=$(lt_free_broker_port)
lt_broker_proc broker2 "$LT_BROKER_PORT" "brokerId=0" "storePathRootDir=$LT_DIR/store2" "autoCreateTopicEnable=true" \
    "tls.server.mode=enforcing" || lt_fail "enforcing broker did not start"
LT_BROKER_ADDR="127.0.0.1:$LT_BROKER_PORT"
registered() { JAVA_OPT="$TLS" "$A" clusterList -n "$N" | grep -q "$LT_BROKER_ADDR"; }
lt_wait_for 60 "the broker registers over TLS (clusterList over TLS lists it)" registered || lt_fail "no registration over TLS"; ok
[ "$(plain_probe "$LT_NS_PORT")" = closed ] || lt_fail "enforcing: the name server answered a plain request"; ok
[ "$(plain_probe "$LT_BROKER_PORT")" = closed ] || lt_fail "enforcing: the broker answered a plain request"; ok
"$A" clusterList -n "$N" >/dev/null 2>&1 && lt_fail "enforcing: plain mqadmin succeeded"; ok
grep -q "plain connection refused (tls.server.mode=enforcing)" "$LT_DIR/namesrv.out" \
    || lt_fail "enforcing: the name server does not log the refusal"; ok
out=$(JAVA_OPT="$TLS" timeout 60 "$LT_BIN/producer" -n "$N" -c 20 -t TlsTopic 2>&1)
[ "$(sends_ok "$out")" -eq 20 ] || lt_fail "enforcing: TLS producer: $out"; ok
out=$(timeout 30 "$LT_BIN/producer" -n "$N" -c 1 -t TlsTopic 2>&1)
[ "$(sends_ok "$out")" -eq 0 ] || lt_fail "enforcing: a plain producer sent: $out"; ok
JAVA_OPT="$TLS" timeout 90 "$LT_BIN/consumer" -n "$N" -t TlsTopic -g tls_group_2 -c 20 -T 80 >"$LT_DIR/c2.out" 2>&1 \
    || lt_fail "enforcing: TLS consumer did not get the 20 messages: $(tail -3 "$LT_DIR/c2.out")"; ok
JAVA_OPT="$TLS" "$A" topicRoute -n "$N" -t TlsTopic | grep -q "\"brokerAddrs\":{\"0\":\"$LT_BROKER_ADDR\"}" \
    || lt_fail "enforcing: TLS topicRoute"; ok
out=$(JAVA_OPT="$TLS" "$A" sendMessage -n "$N" -t TlsTopic -p "over tls" 2>&1) || lt_fail "enforcing: TLS sendMessage: $out"
grep -q SEND_OK <<<"$out" || lt_fail "enforcing: TLS sendMessage output: $out"; ok
B2_PID=$LT_LAST_PID
# a permissive broker with broker.conf's useTLS=true registers with the enforcing name server
B3_PORT=$(lt_free_broker_port)
lt_broker_proc broker3 "$B3_PORT" "brokerId=0" "brokerName=broker-b" "storePathRootDir=$LT_DIR/store3" "useTLS=true" \
    || lt_fail "useTLS broker did not start"
B3_PID=$LT_LAST_PID
registered_b() { JAVA_OPT="$TLS" "$A" clusterList -n "$N" | grep -q "127.0.0.1:$B3_PORT"; }
lt_wait_for 60 "the useTLS=true broker registers over TLS" registered_b || lt_fail "useTLS=true: no registration"; ok
kill -TERM "$B2_PID" "$B3_PID" "$LT_NS_PID"

# ---- 3. certificates from files ----
P="$LT_DIR/pki"
mkdir -p "$P"
gen() { # gen <name> <CN> [CA]: an EC key and a certificate, self-signed or signed by <CA>
    if [ $# -eq 2 ]; then
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/$1.key" -out "$P/$1.pem" \
            -days 2 -subj "/CN=$2" >/dev/null 2>&1
    else
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/$1.key" -out "$P/$1.csr" \
            -subj "/CN=$2" >/dev/null 2>&1 &&
        openssl x509 -req -in "$P/$1.csr" -CA "$P/$3.pem" -CAkey "$P/$3.key" -CAcreateserial -out "$P/$1.pem" \
            -days 2 >/dev/null 2>&1
    fi
}
gen ca LoulanTestCA && gen other OtherCA && gen server some-host ca && gen client a-client ca \
    || lt_fail "openssl could not make the test certificates"
openssl pkcs8 -topk8 -in "$P/server.key" -out "$P/server-enc.key" -passout pass:s3cret >/dev/null 2>&1 \
    || lt_fail "openssl could not encrypt the key"
grep -q "BEGIN ENCRYPTED PRIVATE KEY" "$P/server-enc.key" || lt_fail "the key is not encrypted PKCS#8"

ns_conf() { # ns_conf <file> <extra lines...>: a name server config with the file certificate
    { echo "tls.server.mode=enforcing"; echo "tls.test.mode.enable=false"
      echo "tls.server.certPath=$P/server.pem"; echo "tls.server.keyPath=$P/server-enc.key"
      echo "tls.server.keyPassword=s3cret"; shift; for kv in "$@"; do echo "$kv"; done; } >"$LT_DIR/$1"
}
# A bad setting refuses to start and names the key.
ns_conf bad.conf "tls.server.keyPassword=wrong"
err=$(timeout 30 "$LT_BIN/mqnamesrv" -c "$LT_DIR/bad.conf" -l "$(lt_free_port)" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "tls.server.keyPath" <<<"$err" || lt_fail "wrong key password: rc $rc, $err"; ok
ns_conf bad2.conf "tls.server.certPath=$P/missing.pem"
err=$(timeout 30 "$LT_BIN/mqnamesrv" -c "$LT_DIR/bad2.conf" -l "$(lt_free_port)" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "tls.server.certPath" <<<"$err" || lt_fail "missing certificate: rc $rc, $err"; ok
ns_conf bad3.conf "tls.server.keyPath=$P/other.key" "tls.server.keyPassword="
err=$(timeout 30 "$LT_BIN/mqnamesrv" -c "$LT_DIR/bad3.conf" -l "$(lt_free_port)" 2>&1); rc=$?
[ $rc -ne 0 ] && grep -q "does not match" <<<"$err" || lt_fail "key of another certificate: rc $rc, $err"; ok

start_ns() { # start_ns <conf>: a name server on a fresh port; sets N
    local port
    port=$(lt_free_port)
    "$LT_BIN/mqnamesrv" -c "$LT_DIR/$1" -l "$port" >>"$LT_DIR/namesrv-files.out" 2>&1 &
    LT_NS_PID=$!
    LT_PIDS+=("$LT_NS_PID")
    lt_wait_port "$port" 60 || lt_fail "name server with $1 did not start: $(tail -3 "$LT_DIR/namesrv-files.out")"
    N="127.0.0.1:$port"
}
ns_conf files.conf
start_ns files.conf
# the client's settings in a tls.config.file, as RocketMQ users keep them
{ echo "tls.test.mode.enable=false"; echo "tls.client.authServer=true"; echo "tls.client.trustCertPath=$P/ca.pem"; } \
    >"$LT_DIR/client-tls.properties"
JAVA_OPT="$TLS -Dtls.config.file=$LT_DIR/client-tls.properties" "$A" topicList -n "$N" >"$LT_DIR/t1.out" 2>&1 \
    || lt_fail "authServer with the right CA: $(cat "$LT_DIR/t1.out")"; ok
JAVA_OPT="$TLS -Dtls.test.mode.enable=false -Dtls.client.authServer=true -Dtls.client.trustCertPath=$P/other.pem" \
    "$A" topicList -n "$N" >/dev/null 2>&1 && lt_fail "authServer with a wrong CA was not refused"; ok
JAVA_OPT="$TLS -Dtls.test.mode.enable=false -Dtls.client.authServer=false" "$A" topicList -n "$N" >/dev/null 2>&1 \
    || lt_fail "authServer=false trusts any server"; ok
JAVA_OPT="$TLS -Dtls.client.trustCertPath=$P/nothing.pem -Dtls.client.authServer=true -Dtls.test.mode.enable=false" \
    "$A" topicList -n "$N" 2>"$LT_DIR/t2.err" && lt_fail "an unreadable trust file was accepted"
grep -q "tls.client.trustCertPath" "$LT_DIR/t2.err" || lt_fail "unreadable trust file: $(cat "$LT_DIR/t2.err")"; ok
kill -TERM "$LT_NS_PID"

# mutual TLS: the server requires a client certificate signed by the CA
ns_conf mutual.conf "tls.server.need.client.auth=require" "tls.server.authClient=true" "tls.server.trustCertPath=$P/ca.pem"
start_ns mutual.conf
JAVA_OPT="$TLS -Dtls.test.mode.enable=false" "$A" topicList -n "$N" >/dev/null 2>&1 \
    && lt_fail "require: a client without a certificate was served"; ok
JAVA_OPT="$TLS -Dtls.test.mode.enable=false -Dtls.client.certPath=$P/other.pem -Dtls.client.keyPath=$P/other.key" \
    "$A" topicList -n "$N" >/dev/null 2>&1 && lt_fail "require: a certificate of another CA was served"; ok
JAVA_OPT="$TLS -Dtls.test.mode.enable=false -Dtls.client.certPath=$P/client.pem -Dtls.client.keyPath=$P/client.key" \
    "$A" topicList -n "$N" >"$LT_DIR/t3.out" 2>&1 || lt_fail "require: the CA's client was refused: $(cat "$LT_DIR/t3.out")"; ok
kill -TERM "$LT_NS_PID"

# the key form RocketMQ's TLS guide makes (PKCS#8 with PBE-SHA1-RC4-128, OpenSSL 3's legacy
# provider), when this openssl can still write it
if openssl pkcs8 -topk8 -in "$P/server.key" -out "$P/server-rc4.key" -v1 PBE-SHA1-RC4-128 -passout pass:rc4pw \
        -provider legacy -provider default >/dev/null 2>&1; then
    ns_conf rc4.conf "tls.server.keyPath=$P/server-rc4.key" "tls.server.keyPassword=rc4pw"
    start_ns rc4.conf
    JAVA_OPT="$TLS -Dtls.config.file=$LT_DIR/client-tls.properties" "$A" topicList -n "$N" >/dev/null 2>&1 \
        || lt_fail "a name server with an RC4-encrypted PKCS#8 key does not serve TLS"; ok
else
    echo "note: this openssl cannot write a PBE-SHA1-RC4-128 key; that check is skipped"
fi
echo "PASS test_tls ($pass checks)"
