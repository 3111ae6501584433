'use strict';
// The unchanged RocketMQ 5.x Node client (npm rocketmq-client-nodejs 1.0.8) produces over gRPC
// to Loulan's broker; the unchanged 4.x client ali-ons consumes what it sent over remoting.
// Driven by tests/integration/test_grpc_producer.sh, which starts the servers and passes:
//   NAMESRV_ADDR  the name server (ali-ons), GRPC_ADDR  the broker's gRPC endpoint (h2c),
//   GRPC_TLS=1    also send one message over TLS (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH trusts the cert).
// Exits 0 when every check passed; prints what failed otherwise. Bounded by a watchdog.
const assert = require('node:assert');
const { Producer: GrpcProducer } = require('rocketmq-client-nodejs');
const { Consumer } = require('ali-ons');
const { watchdog, quiet, alionsBase, uniq, sleep, waitFor } = require('./grpc_common');

const NS = process.env.NAMESRV_ADDR;
const GRPC = process.env.GRPC_ADDR;
assert.ok(NS && GRPC, 'NAMESRV_ADDR and GRPC_ADDR must be set');
watchdog(50000);

const base = alionsBase(NS);


async function consumer(topic) {
  const c = new Consumer({ ...base, consumerGroup: `GID_grpc_${uniq()}`, instanceName: `c-${uniq()}`,
    rebalanceInterval: 2000, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' });
  c.on('error', err => quiet.error(err));
  const got = [];
  c.subscribe(topic, '*', async msg => {
    got.push({ body: msg.body.toString(), tags: msg.tags, keys: msg.keys, msgId: msg.msgId, queueId: msg.queueId,
      properties: msg.properties, at: Date.now() });
  });
  await c.ready();
  return { c, got };
}

async function main() {
  const [TN, TF, TD] = (process.env.GRPC_TOPICS || 'GrpcNormal,GrpcFifo,GrpcDelay').split(',');
  const normal = await consumer(TN), fifo = await consumer(TF), delayed = await consumer(TD);

  const p = new GrpcProducer({ endpoints: GRPC, topics: [TN, TF, TD] });
  await p.startup();
  const ids = new Map();
  for (let i = 0; i < 10; i++) {
    const r = await p.send({ topic: TN, tag: 'TagN', keys: [`kn${i}`], body: Buffer.from(`normal-${i}`),
      properties: new Map([['color', 'red']]) });
    assert.ok(r.messageId, 'a send receipt has the message id');
    ids.set(`normal-${i}`, r.messageId);
  }
  // two message groups interleaved: each must arrive in its own order
  for (let i = 0; i < 10; i++) {
    for (const g of ['g1', 'g2']) await p.send({ topic: TF, tag: 'TagF', messageGroup: g, body: Buffer.from(`${g}-${i}`) });
  }
  const delayMs = 3000;
  const due = Date.now() + delayMs;
  await p.send({ topic: TD, tag: 'TagD', deliveryTimestamp: new Date(due), body: Buffer.from('delayed-0') });
  console.log('grpc: 10 normal, 20 FIFO (2 groups) and 1 delay message sent over h2c');

  let tlsBody;
  if (process.env.GRPC_TLS === '1') {
    const t = new GrpcProducer({ endpoints: GRPC, topics: [TN], sslEnabled: true });
    await t.startup();
    tlsBody = 'normal-tls';
    await t.send({ topic: TN, tag: 'TagN', keys: ['ktls'], body: Buffer.from(tlsBody) });
    await t.shutdown().catch(() => {});
    console.log('grpc: 1 message sent over TLS');
  }
  await p.shutdown().catch(() => {});

  const wantNormal = 10 + (tlsBody ? 1 : 0);
  await waitFor(() => normal.got.length >= wantNormal, 20000, `${wantNormal} normal messages consumed`);
  for (let i = 0; i < 10; i++) {
    const m = normal.got.find(x => x.body === `normal-${i}`);
    assert.ok(m, `normal-${i} consumed`);
    assert.strictEqual(m.tags, 'TagN');
    assert.strictEqual(m.keys, `kn${i}`);
    assert.strictEqual(m.properties.color, 'red', 'a user property arrives');
    assert.strictEqual(m.properties.UNIQ_KEY, ids.get(`normal-${i}`), 'the 5.x message id is the UNIQ_KEY');
  }
  if (tlsBody) assert.ok(normal.got.find(x => x.body === tlsBody), 'the TLS message is consumed');

  await waitFor(() => fifo.got.length >= 20, 20000, '20 FIFO messages consumed');
  for (const g of ['g1', 'g2']) {
    const seq = fifo.got.filter(x => x.body.startsWith(`${g}-`));
    assert.deepStrictEqual(seq.map(x => x.body), [...Array(10).keys()].map(i => `${g}-${i}`), `group ${g} in order`);
    assert.strictEqual(new Set(seq.map(x => x.queueId)).size, 1, `group ${g} in one queue`);
    assert.strictEqual(seq[0].properties.__SHARDINGKEY, g, 'the message group is the 4.x sharding key');
  }

  await waitFor(() => delayed.got.length >= 1, 20000, 'the delay message consumed');
  const d = delayed.got[0];
  assert.strictEqual(d.body, 'delayed-0');
  assert.ok(d.at >= due, `the delay message arrived ${due - d.at} ms before its time`);
  console.log(`grpc: all consumed by ali-ons; FIFO groups in order; delay message ${d.at - due} ms after its time`);

  await sleep(300);   // a duplicate would show up here
  assert.strictEqual(normal.got.length, wantNormal, 'no normal message twice');
  assert.strictEqual(fifo.got.length, 20, 'no FIFO message twice');
  for (const c of [normal.c, fifo.c, delayed.c]) await Promise.race([c.close().catch(() => {}), sleep(3000)]);
}

main().then(() => { console.log('grpc producer interop: passed'); process.exit(0); },
  err => { console.error('FAIL:', err && err.stack || err); process.exit(1); });
