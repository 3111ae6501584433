'use strict';
// Interop: the unchanged npm client ali-ons (a real third-party RocketMQ 4.x client) against
// Loulan. NAMESRV_ADDR names the name server. ALIONS_PHASE selects the scenarios:
//   main           - produce/consume, tag filter, split between two consumers, two groups
//   before-restart - produce and consume a batch, close cleanly (offsets are committed)
//   after-restart  - the same group sees only new messages; old ones are still stored
// Every wait is bounded; each test has a timeout.
const { test, after } = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const { Producer, Consumer, Message } = require('ali-ons');

const NS = process.env.NAMESRV_ADDR;
const BROKER = process.env.BROKER_ADDR;
const PHASE = process.env.ALIONS_PHASE || 'main';
const STATE = process.env.ALIONS_STATE || '/tmp/alions-state.json';
assert.ok(NS && BROKER, 'NAMESRV_ADDR and BROKER_ADDR must be set');

const quiet = { info() {}, warn() {}, debug() {}, error(...a) { if (process.env.ALIONS_DEBUG) console.error(...a); } };
// ali-ons insists on an HTTP client even when the name server address is given; it is never used.
const httpclient = { async request() { throw new Error('no HTTP in these tests'); } };
const base = { nameSrv: NS, accessKeyId: 'loulan', accessKeySecret: 'loulan', logger: quiet, httpclient };
const uniq = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const sleep = ms => new Promise(r => setTimeout(r, ms));
const closers = [];
// Close every client, each bounded. ali-ons keeps timers alive after close (a consumer's
// client also holds an inner producer), so the process is ended once everything is closed.
after(async () => {
  for (const c of closers.reverse()) {
    let timer;
    const limit = new Promise(r => { timer = setTimeout(() => { console.error('# a client close took over 5 s'); r(); }, 5000); });
    await Promise.race([c().catch(() => {}), limit]);
    clearTimeout(timer);
  }
  setTimeout(() => process.exit(), 500);
});

async function producer(group) {
  const p = new Producer({ ...base, producerGroup: group, instanceName: `p-${uniq()}` });
  p.on('error', () => {});
  await p.ready();
  closers.push(() => p.close());
  return p;
}

// ali-ons does not fall back to TBW102 for unknown topics, so topics are created first with
// its own UPDATE_AND_CREATE_TOPIC call (what its createTopic API sends), as its users do.
async function createTopic(p, topic) {
  await p._mqClient.createTopic(BROKER, 'TBW102',
    { topicName: topic, readQueueNums: 4, writeQueueNums: 4, perm: 6, topicFilterType: 'SINGLE_TAG' }, 3000);
  await sleep(300); // the broker re-registers with the name server at once
}

// A consumer that records every message body (duplicates included).
async function consumer(group, topic, expr, extra = {}) {
  const c = new Consumer({ ...base, consumerGroup: group, instanceName: `c-${uniq()}`, rebalanceInterval: 2000, ...extra });
  c.on('error', () => {});
  const got = [];
  c.subscribe(topic, expr, async msg => { got.push({ body: msg.body.toString(), tags: msg.tags, queueId: msg.queueId }); });
  await c.ready();
  closers.push(() => c.close());
  return { c, got };
}

async function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return;
    await sleep(100);
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}`);
}

// Send n messages with bodies `${prefix}-${i}`, tags alternating TagA/TagB; returns the results.
async function sendAll(p, topic, prefix, n) {
  const results = [];
  for (let i = 0; i < n; i++) {
    const msg = new Message(topic, i % 2 === 0 ? 'TagA' : 'TagB', `${prefix}-${i}`);
    msg.keys = [`${prefix}-key-${i}`];
    results.push(await p.send(msg));
  }
  return results;
}

function assertExactlyOnce(bodies, prefix, n, filter = () => true) {
  const want = [];
  for (let i = 0; i < n; i++) if (filter(i)) want.push(`${prefix}-${i}`);
  const counts = new Map();
  for (const b of bodies) counts.set(b, (counts.get(b) || 0) + 1);
  const dup = [...counts].filter(([, c]) => c > 1).map(([b]) => b);
  const missing = want.filter(b => !counts.has(b));
  const extra = [...counts.keys()].filter(b => !want.includes(b));
  assert.deepStrictEqual({ dup: dup.slice(0, 5), missing: missing.slice(0, 5), extra: extra.slice(0, 5) },
    { dup: [], missing: [], extra: [] });
}

if (PHASE === 'main') {
  const topic = `AliOns_${uniq()}`;
  const N = 1000;
  let sent;

  test('a producer sends 1000 messages with tags and every send is SEND_OK', { timeout: 120000 }, async () => {
    const p = await producer(`PG_${uniq()}`);
    await createTopic(p, topic);
    sent = await sendAll(p, topic, 'm', N);
    assert.strictEqual(sent.filter(r => r.sendStatus === 'SEND_OK').length, N);
    const offsets = new Set(sent.map(r => `${r.messageQueue.queueId}:${r.queueOffset}`));
    assert.strictEqual(offsets.size, N, 'every message has its own queue offset');
    assert.ok(sent.every(r => /^[0-9A-F]{32}$/.test(r.msgId)), 'message ids are offsetMsgIds');
  });

  test('a consumer group receives every message exactly once', { timeout: 90000 }, async () => {
    const { got } = await consumer(`CG_all_${uniq()}`, topic, '*');
    await waitFor(() => got.length >= N, 60000, `${N} messages`);
    await sleep(1500); // a late duplicate would show up here
    assertExactlyOnce(got.map(m => m.body), 'm', N);
  });

  test('a subscription to TagA gets only the TagA messages, all of them', { timeout: 90000 }, async () => {
    const { got } = await consumer(`CG_tag_${uniq()}`, topic, 'TagA');
    await waitFor(() => got.length >= N / 2, 60000, `${N / 2} TagA messages`);
    await sleep(1500);
    assert.ok(got.every(m => m.tags === 'TagA'), 'only TagA');
    assertExactlyOnce(got.map(m => m.body), 'm', N, i => i % 2 === 0);
  });

  test('two consumers in one group split the queues and together get everything once', { timeout: 120000 }, async () => {
    const group = `CG_split_${uniq()}`;
    const splitTopic = `AliOnsSplit_${uniq()}`;
    const p = await producer(`PG_${uniq()}`);
    await createTopic(p, splitTopic);
    await sendAll(p, splitTopic, 's', 1);
    const a = await consumer(group, splitTopic, '*');
    const b = await consumer(group, splitTopic, '*');
    await sleep(5000); // both rebalance (notify + 2 s timer) before the load
    await sendAll(p, splitTopic, 's2', 400);
    const total = () => a.got.length + b.got.length;
    await waitFor(() => total() >= 401, 60000, '401 messages across both consumers');
    await sleep(1500);
    assertExactlyOnce([...a.got, ...b.got].map(m => m.body).filter(x => x.startsWith('s2-')), 's2', 400);
    assert.ok(a.got.length > 0 && b.got.length > 0, `both consumers got messages (${a.got.length}/${b.got.length})`);
    const qa = new Set(a.got.filter(m => m.body.startsWith('s2-')).map(m => m.queueId));
    const qb = new Set(b.got.filter(m => m.body.startsWith('s2-')).map(m => m.queueId));
    assert.ok([...qa].every(q => !qb.has(q)), `queues are disjoint (${[...qa]} / ${[...qb]})`);
  });

  test('two groups each get every message', { timeout: 120000 }, async () => {
    const g1 = await consumer(`CG_g1_${uniq()}`, topic, '*');
    const g2 = await consumer(`CG_g2_${uniq()}`, topic, '*');
    await waitFor(() => g1.got.length >= N && g2.got.length >= N, 60000, 'both groups');
    await sleep(1000);
    assertExactlyOnce(g1.got.map(m => m.body), 'm', N);
    assertExactlyOnce(g2.got.map(m => m.body), 'm', N);
  });
}

if (PHASE === 'before-restart') {
  test('produce and consume, then close cleanly so the offsets are committed', { timeout: 90000 }, async () => {
    const state = { topic: `AliOnsRestart_${uniq()}`, group: `CG_restart_${uniq()}` };
    const p = await producer(`PG_${uniq()}`);
    await createTopic(p, state.topic);
    await sendAll(p, state.topic, 'old', 50);
    const { c, got } = await consumer(state.group, state.topic, '*');
    await waitFor(() => got.length >= 50, 60000, '50 messages');
    assertExactlyOnce(got.map(m => m.body), 'old', 50);
    await c.close();
    fs.writeFileSync(STATE, JSON.stringify(state));
  });
}

if (PHASE === 'after-restart') {
  const state = JSON.parse(fs.readFileSync(STATE, 'utf8'));

  test('after a broker restart the group sees only new messages', { timeout: 90000 }, async () => {
    const { got } = await consumer(state.group, state.topic, '*');
    await sleep(3000);
    const p = await producer(`PG_${uniq()}`);
    await sendAll(p, state.topic, 'new', 10);
    await waitFor(() => got.filter(m => m.body.startsWith('new-')).length >= 10, 60000, '10 new messages');
    await sleep(1500);
    assertExactlyOnce(got.map(m => m.body), 'new', 10);
  });

  test('the old messages are still stored after the restart', { timeout: 90000 }, async () => {
    const { got } = await consumer(`CG_fresh_${uniq()}`, state.topic, '*');
    await waitFor(() => got.length >= 60, 60000, '60 messages for a new group');
    await sleep(1000);
    assertExactlyOnce(got.map(m => m.body).filter(b => b.startsWith('old-')), 'old', 50);
  });
}
