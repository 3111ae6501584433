'use strict';
// FIFO for the unchanged 5.x Node client (rocketmq-client-nodejs 1.0.8): its Producer sends two
// message groups interleaved to one queue, and its SimpleConsumer in a consumeMessageOrderly group
// receives them one at a time: while the message it holds is not acked, a receive gets nothing
// (the queue is held for the group, spec 4.4); after the ack the next one comes, in send order for
// each message group. A message not acked comes back first, as delivery attempt 2, before anything
// after it. Driven by tests/integration/test_grpc_fifo.sh, which passes GRPC_ADDR, GRPC_TOPIC and
// GRPC_GROUP (a FIFO group made with mqadmin updateSubGroup -o true). Exits 0 when every check passed.
const assert = require('node:assert');
const { Producer, SimpleConsumer } = require('rocketmq-client-nodejs');
const { watchdog, quiet } = require('./grpc_common');

const GRPC = process.env.GRPC_ADDR;
const TOPIC = process.env.GRPC_TOPIC;
const GROUP = process.env.GRPC_GROUP;
assert.ok(GRPC && TOPIC && GROUP, 'GRPC_ADDR, GRPC_TOPIC and GRPC_GROUP must be set');
watchdog(55000);

const PER_GROUP = 4;
const INVISIBLE_MS = 10000;   // the smallest the spec allows

async function receiveSome(c, awaitMs) {
  const t0 = Date.now();
  while (Date.now() - t0 < awaitMs) {   // a receive may come back empty before its await time
    const views = await c.receive(1, INVISIBLE_MS);
    if (views.length) return views;
  }
  return [];
}

async function main() {
  const c = new SimpleConsumer({ endpoints: GRPC, consumerGroup: GROUP, logger: quiet,
    subscriptions: new Map([[TOPIC, '*']]), awaitDuration: 5000 });   // the shortest long poll the broker takes
  await c.startup();
  // a new group starts at the queue's end: park a receive before sending, so it starts here
  const first = c.receive(1, INVISIBLE_MS);
  const p = new Producer({ endpoints: GRPC, topics: [TOPIC], logger: quiet });
  await p.startup();
  const sent = [];
  for (let i = 0; i < PER_GROUP; i++) {
    for (const g of ['ga', 'gb']) {
      await p.send({ topic: TOPIC, tag: 'TagF', messageGroup: g, body: Buffer.from(`${g}-${i}`) });
      sent.push(`${g}-${i}`);
    }
  }
  await p.shutdown().catch(() => {});

  let held = await first;
  if (!held.length) held = await receiveSome(c, 15000);
  const got = [];
  let redelivered = null;
  while (got.length < sent.length) {
    assert.strictEqual(held.length, 1, `message ${got.length + 1} received (got ${held.length})`);
    const v = held[0];
    const body = v.body.toString();
    if (got.length === 0 && v.deliveryAttempt === 1) {   // one at a time: nothing more while it is held
      const more = await c.receive(1, INVISIBLE_MS);       // (a whole long poll: checked once)
      assert.strictEqual(more.length, 0, `${more.map(m => m.body.toString())} received while ${body} was not acked`);
    }
    if (body === 'ga-1' && v.deliveryAttempt === 1 && !redelivered) {
      redelivered = Date.now();   // not acked: must come back first, as attempt 2, after its invisible time
      held = await receiveSome(c, INVISIBLE_MS + 15000);
      assert.strictEqual(held.length, 1, 'ga-1 redelivered');
      assert.strictEqual(held[0].body.toString(), 'ga-1', 'the unacked message comes back before the next');
      assert.strictEqual(held[0].deliveryAttempt, 2, 'redelivered as attempt 2');
      assert.ok(Date.now() - redelivered >= INVISIBLE_MS - 1000, 'not before its invisible time');
      continue;
    }
    assert.strictEqual(v.messageGroup, body.slice(0, 2), 'the message group arrives');
    got.push(body);
    await c.ack(v);
    if (got.length < sent.length) held = await receiveSome(c, 15000);
  }
  for (const g of ['ga', 'gb']) {
    const seq = got.filter(b => b.startsWith(`${g}-`));
    assert.deepStrictEqual(seq, [...Array(PER_GROUP).keys()].map(i => `${g}-${i}`), `group ${g} in send order`);
  }
  assert.deepStrictEqual(got, sent, 'one queue: the whole send order');
  assert.ok(redelivered, 'the unacked message was seen');
  await Promise.race([c.shutdown().catch(() => {}), new Promise(r => setTimeout(r, 3000))]);
  console.log(`grpc fifo: ${got.length} messages one at a time in order; ga-1 redelivered as attempt 2`);
  process.exit(0);
}

main().catch(e => { console.error(e); process.exit(1); });
