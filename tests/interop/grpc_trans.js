'use strict';
// Transactions of the unchanged RocketMQ 5.x Node client (npm rocketmq-client-nodejs 1.0.8) over
// gRPC against Loulan's broker, and 5.x clients in mqadmin's views.
// Driven by tests/integration/test_grpc_trans.sh, which starts the servers (short
// transactionTimeOut / transactionCheckInterval) and passes:
//   GRPC_ADDR  the broker's gRPC endpoint (h2c), GRPC_TOPIC  a fresh topic,
//   MQADMIN    the repo's mqadmin, NAMESRV_ADDR  the name server.
// Checks: a committed transaction's message is received once; a rolled-back one never; one left
// undecided is asked about by the broker (RecoverOrphanedTransactionCommand on Telemetry), the
// producer's checker commits it (EndTransaction SOURCE_SERVER_CHECK) and it is received once;
// EndTransaction with a blank transaction id answers INVALID_TRANSACTION_ID (40008), with an
// unknown or already ended one INTERNAL_SERVER_ERROR (50001); mqadmin consumerConnection lists the
// SimpleConsumer (client id, NODE_JS) and producerConnection the producer under its topic, and
// the consumer is gone from the list after its shutdown. Exits 0 when every check passed.
const assert = require('node:assert');
const { execFileSync } = require('node:child_process');
const { Producer, SimpleConsumer } = require('rocketmq-client-nodejs');
const { TransactionResolution } = require('rocketmq-client-nodejs/proto/apache/rocketmq/v2/definition_pb');
const { watchdog, quiet, uniq, sleep } = require('./grpc_common');

const GRPC = process.env.GRPC_ADDR;
const TOPIC = process.env.GRPC_TOPIC || 'GrpcTrans';
const MQADMIN = process.env.MQADMIN;
const NS = process.env.NAMESRV_ADDR;
assert.ok(GRPC && MQADMIN && NS, 'GRPC_ADDR, MQADMIN and NAMESRV_ADDR must be set');
const SLOW = Number(process.env.LOULAN_SLOW || 1);
watchdog(50000);

const INVISIBLE_MS = 10000;

function mqadmin(...args) {
  try {
    return { ok: true, out: execFileSync(MQADMIN, [...args, '-n', NS], { encoding: 'utf8', timeout: 10000 }) };
  } catch (e) {
    return { ok: false, out: `${e.stdout || ''}${e.stderr || ''}` };
  }
}

// mqadmin until its output satisfies cond (registrations and routes settle asynchronously)
async function adminUntil(cond, what, ...args) {
  const end = Date.now() + 20000 * SLOW;
  let r;
  while (!cond(r = mqadmin(...args))) {
    if (Date.now() > end) throw new Error(`${what}; mqadmin ${args.join(' ')} said:\n${r.out}`);
    await sleep(200);
  }
  return r.out;
}

async function main() {
  const group = `GID_tx_${uniq()}`;
  const c = new SimpleConsumer({ endpoints: GRPC, consumerGroup: group, logger: quiet,
    subscriptions: new Map([[TOPIC, '*']]), awaitDuration: 5000 });
  await c.startup();

  // 5.x clients in the broker's client registry: mqadmin consumerConnection shows the consumer
  const cc = await adminUntil(r => r.ok && r.out.includes(c.clientId), 'the Node consumer is not listed',
    'consumerConnection', '-g', group);
  const line = cc.split('\n').find(l => l.includes(c.clientId));
  assert.match(line, /NODE_JS/, `the language comes from the user agent: ${line}`);
  assert.match(line, /127\.0\.0\.1:\d+/, `the client's address: ${line}`);
  assert.match(cc, new RegExp(`${TOPIC}\\s+\\*`), 'its subscription is listed');
  console.log(`grpc trans: consumerConnection lists ${c.clientId}: ${line.trim()}`);

  const checked = [];   // [body, messageId, transactionId]
  const p = new Producer({ endpoints: GRPC, topics: [TOPIC], logger: quiet,
    checker: { async check(v) {
      const body = v.body.toString();
      checked.push([body, v.messageId]);
      return body.startsWith('tx-rollback') ? TransactionResolution.ROLLBACK : TransactionResolution.COMMIT;
    } } });
  await p.startup();
  const pc = await adminUntil(r => r.ok && r.out.includes(p.clientId), 'the Node producer is not listed',
    'producerConnection', '-g', TOPIC, '-t', TOPIC);
  console.log(`grpc trans: producerConnection -g ${TOPIC} lists ${p.clientId}`);
  assert.match(pc, /NODE_JS/);

  // A new group starts at the queues' end: probe until the consumer's position is set
  const got = [];
  const take = async views => {
    for (const v of views) {
      got.push([v.body.toString(), v.messageId, v.tag]);
      await c.ack(v);
    }
  };
  const t0 = Date.now();
  for (let i = 0; !got.some(x => x[0].startsWith('probe')); i++) {
    if (Date.now() - t0 > 20000 * SLOW) throw new Error('no probe received: the consumer receives nothing');
    const pending = c.receive(16, INVISIBLE_MS);
    await p.send({ topic: TOPIC, tag: 'Probe', body: Buffer.from(`probe-${i}`) });
    await take(await pending);
  }

  // commit, rollback, and one left undecided (its check-back commits it)
  const send = async (body, end) => {
    const tx = p.beginTransaction();
    const r = await p.send({ topic: TOPIC, tag: 'TagT', keys: [body], body: Buffer.from(body) }, tx);
    assert.ok(r.transactionId, `${body}: a transaction id`);
    assert.strictEqual(r.transactionId, r.messageId, 'the transaction id is the message id, as Apache\'s');
    if (end) await tx[end]();
    return r;
  };
  const rc = await send('tx-commit', 'commit');
  await send('tx-rollback', 'rollback');
  const ru = await send('tx-unknown');
  console.log('grpc trans: committed, rolled back, left one undecided');

  // bad input: blank transaction id, unknown id, an id ended already
  const endTx = (id, msgId = rc.messageId) => p.endTransaction(rc.endpoints, { topic: TOPIC }, msgId, id,
    TransactionResolution.COMMIT);
  await assert.rejects(endTx(''), e => e.code === 40008, 'blank transaction id: INVALID_TRANSACTION_ID');
  await assert.rejects(endTx('0102ABCDEF0000000000000000DEADBEEF'), e => e.code === 50001,
    'unknown transaction id: INTERNAL_SERVER_ERROR');
  await assert.rejects(endTx(rc.transactionId), e => e.code === 50001, 'a transaction ended already is unknown');
  console.log('grpc trans: EndTransaction with a blank id gives 40008, unknown or ended 50001');

  const want = () => got.some(x => x[0] === 'tx-commit') && got.some(x => x[0] === 'tx-unknown');
  const end = Date.now() + 25000 * SLOW;
  while (!want()) {
    if (Date.now() > end) throw new Error(`not received: ${JSON.stringify(got)}; checked ${JSON.stringify(checked)}`);
    await take(await c.receive(16, INVISIBLE_MS));
  }
  // a window for what must not come: the rolled-back message, a second copy of either
  const quiet2 = Date.now() + 3000;
  while (Date.now() < quiet2) await take(await c.receive(16, INVISIBLE_MS).catch(() => []));
  const tx = got.filter(x => !x[0].startsWith('probe'));
  assert.deepStrictEqual(tx.map(x => x[0]).sort(), ['tx-commit', 'tx-unknown'], `received ${JSON.stringify(tx)}`);
  assert.strictEqual(tx.find(x => x[0] === 'tx-commit')[1], rc.messageId);
  assert.strictEqual(tx.find(x => x[0] === 'tx-unknown')[1], ru.messageId);
  assert.ok(tx.every(x => x[2] === 'TagT'), 'the tag survives');
  const asked = checked.find(x => x[0] === 'tx-unknown');
  assert.ok(asked, 'the undecided transaction was checked through Telemetry');
  assert.strictEqual(asked[1], ru.messageId, 'the check names the message id');
  console.log(`grpc trans: tx-commit and tx-unknown (committed by the checker, asked ${checked.length} time(s)) ` +
    'received once, tx-rollback never');

  await p.shutdown().catch(() => {});
  await Promise.race([c.shutdown().catch(() => {}), sleep(3000)]);
  // NotifyClientTermination: gone from the registry
  await adminUntil(r => !r.out.includes(c.clientId), 'the consumer is still listed after its shutdown',
    'consumerConnection', '-g', group);
  console.log('grpc trans: the consumer is gone from consumerConnection after its shutdown');
}

main().then(() => { console.log('grpc trans interop: passed'); process.exit(0); },
  err => { console.error('FAIL:', err && err.stack || err); process.exit(1); });
