'use strict';
// TLS and plaintext gRPC clients on one broker port at the same time (the spec's permissive
// mode: the server tells them apart by each connection's first byte). Two unchanged npm
// rocketmq-client-nodejs 1.0.8 client pairs run concurrently against GRPC_ADDR:
//   tls    Producer + SimpleConsumer with sslEnabled: true (grpc-js createSsl(): the chain and
//          the address are verified; the test's CA comes in GRPC_DEFAULT_SSL_ROOTS_FILE_PATH)
//   plain  Producer + SimpleConsumer over h2c
// Both producers send N messages to one topic; each consumer (its own group) must receive all
// 2N exactly once, acking each. So TLS-sent messages are read over h2c and the other way round,
// and neither kind of connection can be refused or starved by the other.
// Driven by tests/integration/test_grpc_tls.sh. Exits 0 when every check passed.
const assert = require('node:assert');
const { Producer, SimpleConsumer } = require('rocketmq-client-nodejs');
const { watchdog, quiet, uniq, sleep } = require('./grpc_common');

const GRPC = process.env.GRPC_ADDR;
const TOPIC = process.env.GRPC_TOPIC || 'GrpcTls';
assert.ok(GRPC, 'GRPC_ADDR must be set');
assert.ok(process.env.GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, 'GRPC_DEFAULT_SSL_ROOTS_FILE_PATH must name the test CA');
const SLOW = Number(process.env.LOULAN_SLOW || 1);
watchdog(50000);

const N = 15;

// Start (with a bound: a refused TLS handshake makes the client retry rather than fail) or throw
// naming which side could not.
async function start(client, who) {
  let timer;
  const limit = new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`${who}: startup not within 15 s`)), 15000 * SLOW); });
  try {
    await Promise.race([client.startup(), limit]);
  } catch (err) {
    throw new Error(`${who} could not start: ${err && err.message}`);
  } finally {
    clearTimeout(timer);
  }
}

async function side(ssl) {
  const who = ssl ? 'tls' : 'plain';
  const c = new SimpleConsumer({ endpoints: GRPC, consumerGroup: `GID_${who}_${uniq()}`, logger: quiet, sslEnabled: ssl,
    subscriptions: new Map([[TOPIC, '*']]), awaitDuration: 6000 });
  await start(c, `${who} consumer`);
  const p = new Producer({ endpoints: GRPC, topics: [TOPIC], logger: quiet, sslEnabled: ssl });
  await start(p, `${who} producer`);
  return { who, c, p, got: new Map(), started: false };
}

// Receive and ack everything for s until cond() holds or the time runs out. Probes (tag Probe)
// are acked and marked; a real message seen twice fails.
async function drain(s, cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${s.who} consumer: not within ${ms} ms: ${what()}`);
    for (const v of await s.c.receive(32, 10000)) {
      await s.c.ack(v);
      if (v.tag === 'Probe') { s.started = true; continue; }
      const body = v.body.toString();
      assert.ok(!s.got.has(body), `${s.who} consumer: ${body} delivered twice`);
      assert.strictEqual(v.tag, body.split('-')[0], `${s.who} consumer: the tag of ${body}`);
      assert.strictEqual(v.properties.get('via'), body.split('-')[0], `${s.who} consumer: the property of ${body}`);
      s.got.set(body, v);
    }
  }
}

async function main() {
  const [tls, plain] = await Promise.all([side(true), side(false)]);
  console.log('tls: a TLS and a plaintext producer and consumer started on one port');
  // New groups start at the queues' end at their first receive: probes (from both producers)
  // until each consumer has received one, then the real messages.
  let probing = true;
  const probes = (async () => {
    for (let i = 0; probing; i++) {
      for (const s of [tls, plain]) await s.p.send({ topic: TOPIC, tag: 'Probe', body: Buffer.from(`probe-${s.who}-${i}`) });
      await sleep(200);
    }
  })();
  await Promise.all([tls, plain].map(s => drain(s, () => s.started, 20000 * SLOW, () => 'no probe received')));
  probing = false;
  await probes;
  // both producers at once, each with several sends in flight
  const t0 = Date.now();
  const ids = new Map();
  await Promise.all([tls, plain].map(async s => {
    for (let i = 0; i < N; i += 5) {
      const batch = [];
      for (let k = i; k < i + 5; k++) {
        const b = `${s.who}-${k}`;
        batch.push(s.p.send({ topic: TOPIC, tag: s.who, keys: [b], body: Buffer.from(b), properties: new Map([['via', s.who]]) })
          .then(r => ids.set(b, r.messageId)));
      }
      await Promise.all(batch);
    }
  }));
  const want = [...ids.keys()].sort();
  assert.strictEqual(want.length, 2 * N);
  await Promise.all([tls, plain].map(s => drain(s, () => s.got.size >= 2 * N, 20000 * SLOW,
    () => `${s.got.size} of ${2 * N} received`)));
  for (const s of [tls, plain]) {
    assert.deepStrictEqual([...s.got.keys()].sort(), want, `${s.who} consumer: every message`);
    for (const [b, v] of s.got) assert.strictEqual(v.messageId, ids.get(b), `${s.who} consumer: the message id of ${b}`);
  }
  console.log(`tls: ${N} sent over TLS and ${N} over h2c, concurrently; each consumer (TLS, h2c) received and ` +
    `acked all ${2 * N} once in ${Date.now() - t0} ms`);
  for (const s of [tls, plain]) {
    await Promise.race([s.p.shutdown().catch(() => {}), sleep(3000)]);
    await Promise.race([s.c.shutdown().catch(() => {}), sleep(3000)]);
  }
}

main().then(() => { console.log('grpc tls interop: passed'); process.exit(0); },
  err => { console.error('FAIL:', err && err.stack || err); process.exit(1); });
