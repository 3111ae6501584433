'use strict';
// The unchanged RocketMQ 5.x Node client (npm rocketmq-client-nodejs 1.0.8) consumes over gRPC
// from Loulan's broker with a SimpleConsumer (ReceiveMessage, AckMessage, ChangeInvisibleDuration
// on the broker's POP); the 5.x Producer of the same package sends what it consumes.
// Driven by tests/integration/test_grpc_consumer.sh, which starts the servers and passes:
//   GRPC_ADDR  the broker's gRPC endpoint (h2c), GRPC_TOPIC  a fresh topic.
// Checks: every message received once with its tag, keys, user property, message id and
// delivery attempt 1, and each ack answered OK once (a second ack of it fails); one message not
// acked comes back after its invisible duration with delivery attempt 2; one whose invisible
// duration was changed does not come back before the new duration, and its old receipt handle
// no longer acks. With GRPC_MODE=push, a PushConsumer instead (QueryAssignment, ReceiveMessage with
// auto_renew, AckMessage, ChangeInvisibleDuration as nack): every message consumed once, one
// failed message redelivered as attempt 2. Exits 0 when every check passed. Bounded by a watchdog.
const assert = require('node:assert');
const { Producer, SimpleConsumer, PushConsumer, ConsumeResult } = require('rocketmq-client-nodejs');
const { watchdog, quiet, uniq, sleep } = require('./grpc_common');

const GRPC = process.env.GRPC_ADDR;
const TOPIC = process.env.GRPC_TOPIC || 'GrpcConsume';
assert.ok(GRPC, 'GRPC_ADDR must be set');
const SLOW = Number(process.env.LOULAN_SLOW || 1);
watchdog(50000);

const N = 20;
const INVISIBLE_MS = 10000;   // the smallest the spec allows
const CHANGED_MS = 14000;

async function main() {
  const c = new SimpleConsumer({ endpoints: GRPC, consumerGroup: `GID_simple_${uniq()}`, logger: quiet,
    subscriptions: new Map([[TOPIC, '*']]), awaitDuration: 6000 });
  await c.startup();
  // A new group starts at the queues' end (initMode MAX, as Apache): the first receive, parked
  // before anything is sent, fixes where the group starts; what is sent next wakes it.
  const first = c.receive(16, INVISIBLE_MS);

  const p = new Producer({ endpoints: GRPC, topics: [TOPIC], logger: quiet });
  await p.startup();
  const ids = new Map();
  for (let i = 0; i < N; i++) {
    const r = await p.send({ topic: TOPIC, tag: 'TagC', keys: [`kc${i}`, `kx${i}`], body: Buffer.from(`m-${i}`),
      properties: new Map([['color', 'blue']]) });
    ids.set(`m-${i}`, r.messageId);
  }
  await p.shutdown().catch(() => {});
  console.log(`grpc consumer: ${N} messages sent`);

  const got = new Map();        // body -> first MessageView
  let keep, changed, changedAt, oldHandle, acks = 0;
  const take = async views => {
    for (const v of views) {
      const body = v.body.toString();
      assert.ok(ids.has(body), `an unknown message ${body}`);
      assert.ok(!got.has(body), `${body} received twice before its invisible duration`);
      got.set(body, v);
      assert.strictEqual(v.messageId, ids.get(body), 'the message id is the producer\'s');
      assert.strictEqual(v.tag, 'TagC');
      assert.deepStrictEqual(v.keys, [`kc${body.slice(2)}`, `kx${body.slice(2)}`]);
      assert.strictEqual(v.properties.get('color'), 'blue', 'a user property arrives');
      assert.strictEqual(v.deliveryAttempt, 1, 'first delivery');
      assert.ok(v.receiptHandle, 'a receipt handle');
      if (body === 'm-0') { keep = v; continue; }
      if (body === 'm-1') {
        oldHandle = v.receiptHandle;
        await c.changeInvisibleDuration(v, CHANGED_MS);
        changedAt = Date.now();
        changed = v;
        assert.notStrictEqual(v.receiptHandle, oldHandle, 'a new receipt handle');
        continue;
      }
      await c.ack(v);
      acks++;
    }
  };
  const t0 = Date.now();
  await take(await first);
  while (got.size < N) {
    if (Date.now() - t0 > 15000 * SLOW) throw new Error(`only ${got.size} of ${N} received`);
    await take(await c.receive(16, INVISIBLE_MS));
  }
  const receivedAt = Date.now();
  console.log(`grpc consumer: ${N} received in ${receivedAt - t0} ms, ${acks} acked`);

  // acking twice: the second is refused (the message is no longer in flight)
  const acked = got.get('m-2');
  await assert.rejects(c.ack(acked), 'a second ack of one message fails');
  // the handle replaced by changeInvisibleDuration no longer acks
  await assert.rejects(c.ack({ ...changed, receiptHandle: oldHandle, topic: changed.topic, endpoints: changed.endpoints }),
    'an outdated handle does not ack');

  // m-0 (not acked) comes back after its invisible duration, delivery attempt 2; m-1 comes
  // back not before its changed duration
  let back0, back1;
  const end = Date.now() + 30000 * SLOW;
  while (!(back0 && back1)) {
    if (Date.now() > end) throw new Error(`redeliveries missing: m-0 ${!!back0}, m-1 ${!!back1}`);
    for (const v of await c.receive(16, INVISIBLE_MS)) {
      const body = v.body.toString();
      if (body === 'm-0' && !back0) {
        back0 = v;
        assert.strictEqual(v.deliveryAttempt, 2, 'the redelivery is attempt 2');
        assert.ok(Date.now() - t0 >= INVISIBLE_MS - 500, 'not before its invisible duration');
        await c.ack(v);
      } else if (body === 'm-1' && !back1) {
        back1 = v;
        const after = Date.now() - changedAt;
        assert.ok(after >= CHANGED_MS - 500, `m-1 came back ${after} ms after its change to ${CHANGED_MS} ms`);
        assert.ok(v.deliveryAttempt >= 2, 'a changed message comes back as a new attempt');
        await c.ack(v);
      } else {
        throw new Error(`${body} (attempt ${v.deliveryAttempt}) delivered again though acked`);
      }
    }
  }
  console.log(`grpc consumer: m-0 back as attempt 2 after ${back0 ? 'its' : ''} invisible duration; m-1 after ` +
    `its changed duration; all ${N} acked once`);
  // nothing is left: one more receive finds nothing
  const rest = await c.receive(16, INVISIBLE_MS);
  assert.strictEqual(rest.length, 0, `nothing left, got ${rest.map(v => v.body.toString())}`);
  await c.shutdown().catch(() => {});
}


async function push() {
  const seen = [];              // [body, attempt]
  let failedOnce = false;
  const c = new PushConsumer({ endpoints: GRPC, consumerGroup: `GID_push_${uniq()}`, logger: quiet,
    subscriptions: new Map([[TOPIC, '*']]),
    messageListener: { consume(v) {
      const body = v.body.toString();
      seen.push([body, v.deliveryAttempt]);
      if (body === 'p-0' && !failedOnce) { failedOnce = true; return ConsumeResult.FAILURE; }
      return ConsumeResult.SUCCESS;
    } } });
  await c.startup();
  const p = new Producer({ endpoints: GRPC, topics: [TOPIC], logger: quiet });
  await p.startup();
  // A new group starts at the queues' end: probes until the consumer's receives are in place
  const t0 = Date.now();
  for (let i = 0; !seen.some(x => x[0].startsWith('probe')); i++) {
    if (Date.now() - t0 > 20000 * SLOW) throw new Error('no probe consumed: the push consumer receives nothing');
    await p.send({ topic: TOPIC, tag: 'TagP', body: Buffer.from(`probe-${i}`) });
    await sleep(300);
  }
  const ids = new Map();
  for (let i = 0; i < N; i++) {
    const r = await p.send({ topic: TOPIC, tag: 'TagP', body: Buffer.from(`p-${i}`) });
    ids.set(`p-${i}`, r.messageId);
  }
  await p.shutdown().catch(() => {});
  const end = Date.now() + 25000 * SLOW;
  const done = () => [...ids.keys()].every(b => seen.some(x => x[0] === b)) && seen.some(x => x[0] === 'p-0' && x[1] === 2);
  while (!done()) {
    if (Date.now() > end) throw new Error(`push consumer: not all consumed: ${JSON.stringify(seen.filter(x => !x[0].startsWith('probe')))}`);
    await sleep(100);
  }
  await sleep(1000);    // a duplicate would show up here
  const real = seen.filter(x => !x[0].startsWith('probe'));
  for (const b of ids.keys()) {
    const n = real.filter(x => x[0] === b);
    if (b === 'p-0') assert.deepStrictEqual(n.map(x => x[1]), [1, 2], 'p-0: failed once, then attempt 2');
    else assert.deepStrictEqual(n.map(x => x[1]), [1], `${b} consumed once`);
  }
  console.log(`grpc push consumer: ${N} consumed once, p-0 again as attempt 2, in ${Date.now() - t0} ms`);
  await Promise.race([c.shutdown().catch(() => {}), sleep(3000)]);
}

(process.env.GRPC_MODE === 'push' ? push : main)().then(() => { console.log('grpc consumer interop: passed'); process.exit(0); },
  err => { console.error('FAIL:', err && err.stack || err); process.exit(1); });
