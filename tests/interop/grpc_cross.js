'use strict';
// Cross-protocol interop: what one protocol's client writes, the other protocol's client reads,
// field for field, each message exactly once. Both clients unchanged from npm:
//   A. ali-ons 3.12 (4.x remoting) Producer  ->  rocketmq-client-nodejs 1.0.8 (5.x gRPC)
//      SimpleConsumer: body (binary, and one over ali-ons's 4 KiB compression threshold), tag,
//      keys, user properties and the message id the send reported; every ack answered OK, and
//      nothing comes back after the invisible duration (so each was acked exactly once).
//   B. rocketmq-client-nodejs Producer  ->  ali-ons push Consumer: body, tags, keys, user
//      properties, the 5.x message id as UNIQ_KEY; no message twice.
// Driven by tests/integration/test_grpc_cross.sh, which starts the servers, creates the topics
// and passes NAMESRV_ADDR (ali-ons), GRPC_ADDR (the broker's gRPC endpoint, h2c) and
// GRPC_TOPICS (two fresh topics "A,B"). Exits 0 when every check passed; bounded by a watchdog.
const assert = require('node:assert');
const { Producer: GrpcProducer, SimpleConsumer } = require('rocketmq-client-nodejs');
const { Producer, Consumer, Message } = require('ali-ons');
const { watchdog, quiet, alionsBase, uniq, sleep, waitFor } = require('./grpc_common');

const NS = process.env.NAMESRV_ADDR;
const GRPC = process.env.GRPC_ADDR;
assert.ok(NS && GRPC, 'NAMESRV_ADDR and GRPC_ADDR must be set');
const [TOPIC_A, TOPIC_B] = (process.env.GRPC_TOPICS || 'CrossA,CrossB').split(',');
const SLOW = Number(process.env.LOULAN_SLOW || 1);
watchdog(55000);

const base = alionsBase(NS);
const N = 20;
const INVISIBLE_MS = 10000;     // the smallest the spec allows


// Message i's body: binary (every byte value, NUL and 0xff included), and message 7's is 6 KiB,
// over ali-ons's compressMsgBodyOverHowmuch (4 KiB): it travels zlib-compressed in 4.x.
function body(prefix, i) {
  const head = Buffer.from(`${prefix}-${i}|`);
  const n = i === 7 ? 6144 : 64 + i;
  const b = Buffer.alloc(n);
  for (let k = 0; k < n; k++) b[k] = (k * 31 + i) & 0xff;
  return Buffer.concat([head, b]);
}
const nameOf = buf => buf.subarray(0, buf.indexOf(0x7c)).toString();   // "<prefix>-<i>"
// User properties of message i: plain, numeric, non-ASCII, and a value with spaces and '='.
const props = i => ({ color: i % 2 ? 'red' : 'blue', idx: String(i), city: 'Zürich 北京', expr: 'a = b && c' });

// ---- A. ali-ons (remoting) produces, the 5.x SimpleConsumer (gRPC) consumes ----
async function remotingToGrpc() {
  const p = new Producer({ ...base, producerGroup: `PG_cross_${uniq()}`, instanceName: `p-${uniq()}` });
  p.on('error', err => quiet.error(err));
  await p.ready();
  const c = new SimpleConsumer({ endpoints: GRPC, consumerGroup: `GID_cross_${uniq()}`, logger: quiet,
    subscriptions: new Map([[TOPIC_A, '*']]), awaitDuration: 6000 });
  await c.startup();

  // A new 5.x group starts at the queues' end when it first receives (POP's initMode MAX, as
  // Apache), so probes are sent until one reaches a receive: only then are the real messages sent.
  let started = false, lastDelivery = 0;
  const probes = (async () => {
    for (let i = 0; !started; i++) {
      await p.send(new Message(TOPIC_A, 'Probe', `probe-${i}`));
      await sleep(200);
    }
  })();
  const got = new Map();         // name -> MessageView
  const sent = new Map();        // name -> ali-ons send result
  let acks = 0;
  const take = async views => {
    for (const v of views) {
      lastDelivery = Date.now();
      if (v.tag === 'Probe') { started = true; await c.ack(v); continue; }
      const name = nameOf(v.body);
      assert.ok(sent.has(name), `an unknown message ${name}`);
      assert.ok(!got.has(name), `${name} delivered twice`);
      got.set(name, v);
      const i = Number(name.split('-')[1]);
      assert.ok(v.body.equals(body('a', i)), `the body of ${name} arrives byte for byte (${v.body.length} bytes)`);
      assert.strictEqual(v.tag, i % 2 ? 'TagB' : 'TagA', `the tag of ${name}`);
      assert.deepStrictEqual(v.keys, [`ka${i}`, `kb${i}`], `the keys of ${name}`);
      assert.deepStrictEqual(Object.fromEntries(v.properties), props(i), `the user properties of ${name}, and only they`);
      assert.strictEqual(v.messageId, sent.get(name).msgId, `the message id of ${name} is the one its send reported`);
      assert.strictEqual(v.deliveryAttempt, 1, `${name}: first delivery`);
      await c.ack(v);             // throws unless the broker answers OK
      acks++;
    }
  };
  const t0 = Date.now();
  while (!started) {
    if (Date.now() - t0 > 20000 * SLOW) throw new Error('no probe reached the 5.x consumer');
    await take(await c.receive(32, INVISIBLE_MS));
  }
  await probes;
  for (let i = 0; i < N; i++) {
    const m = new Message(TOPIC_A, i % 2 ? 'TagB' : 'TagA', body('a', i));
    m.keys = [`ka${i}`, `kb${i}`];
    Object.assign(m.properties, props(i));
    const r = await p.send(m);
    assert.strictEqual(r.sendStatus, 'SEND_OK');
    sent.set(`a-${i}`, r);
  }
  const t1 = Date.now();
  while (got.size < N) {
    if (Date.now() - t1 > 20000 * SLOW) throw new Error(`A: only ${got.size} of ${N} received over gRPC`);
    await take(await c.receive(32, INVISIBLE_MS));
  }
  console.log(`A: ali-ons sent ${N}, the 5.x SimpleConsumer received and acked each once in ${Date.now() - t1} ms`);
  return { p, c, take, lastDelivery: () => lastDelivery, acks: () => acks };
}

// ---- B. the 5.x Producer (gRPC) produces, an ali-ons Consumer (remoting) consumes ----
async function grpcToRemoting() {
  const c = new Consumer({ ...base, consumerGroup: `GID_cross_${uniq()}`, instanceName: `c-${uniq()}`,
    rebalanceInterval: 2000, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' });
  c.on('error', err => quiet.error(err));
  const got = [];
  c.subscribe(TOPIC_B, '*', async msg => {
    got.push({ body: msg.body, tags: msg.tags, keys: msg.keys, msgId: msg.msgId, properties: { ...msg.properties } });
  });
  await c.ready();

  const p = new GrpcProducer({ endpoints: GRPC, topics: [TOPIC_B], logger: quiet });
  await p.startup();
  const ids = new Map();
  for (let i = 0; i < N; i++) {
    const r = await p.send({ topic: TOPIC_B, tag: i % 2 ? 'TagB' : 'TagA', keys: [`kx${i}`, `ky${i}`], body: body('b', i),
      properties: new Map(Object.entries(props(i))) });
    assert.ok(r.messageId, 'a send receipt has the message id');
    ids.set(`b-${i}`, r.messageId);
  }
  await p.shutdown().catch(() => {});
  const t1 = Date.now();
  await waitFor(() => got.length >= N, 20000 * SLOW, `${N} messages consumed by ali-ons (got ${got.length})`);
  await sleep(500);              // a duplicate would show up here
  assert.strictEqual(got.length, N, `B: ${got.length} deliveries for ${N} messages`);
  const names = new Set();
  for (const m of got) {
    const name = nameOf(m.body);
    assert.ok(ids.has(name), `an unknown message ${name}`);
    assert.ok(!names.has(name), `${name} delivered twice`);
    names.add(name);
    const i = Number(name.split('-')[1]);
    assert.ok(m.body.equals(body('b', i)), `the body of ${name} arrives byte for byte (${m.body.length} bytes)`);
    assert.strictEqual(m.tags, i % 2 ? 'TagB' : 'TagA', `the tag of ${name}`);
    assert.strictEqual(m.keys, `kx${i} ky${i}`, `the keys of ${name}`);
    for (const [k, v] of Object.entries(props(i))) assert.strictEqual(m.properties[k], v, `user property ${k} of ${name}`);
    assert.strictEqual(m.properties.UNIQ_KEY, ids.get(name), `the 5.x message id of ${name} is its UNIQ_KEY`);
    // ali-ons's msgId is always the 4.x offset id (it does not read UNIQ_KEY, as Java does)
    assert.match(m.msgId, /^[0-9A-F]{32}$/, `ali-ons's msgId of ${name}`);
  }
  console.log(`B: the 5.x Producer sent ${N}, ali-ons received each once in ${Date.now() - t1} ms`);
  return c;
}

async function main() {
  const a = await remotingToGrpc();
  const b = await grpcToRemoting();
  // Acked means gone: nothing of A comes back once its invisible duration has passed.
  const until = a.lastDelivery() + INVISIBLE_MS + 3000;
  while (Date.now() < until) {
    const views = await a.c.receive(32, INVISIBLE_MS);
    const real = views.filter(v => v.tag !== 'Probe');
    assert.deepStrictEqual(real.map(v => `${nameOf(v.body)} attempt ${v.deliveryAttempt}`), [], 'acked messages come back');
    for (const v of views) await a.c.ack(v);
  }
  console.log(`A: ${a.acks()} acks, nothing redelivered ${INVISIBLE_MS} ms later`);
  await a.c.shutdown().catch(() => {});
  for (const x of [a.p, b]) await Promise.race([x.close().catch(() => {}), sleep(3000)]);
}

main().then(() => { console.log('grpc cross interop: passed'); process.exit(0); },
  err => { console.error('FAIL:', err && err.stack || err); process.exit(1); });
