'use strict';
// Interop: the unchanged npm client ali-ons, which signs every request with its
// accessKeyId/accessKeySecret (acl spec §2.2), against a Loulan broker with aclEnable=true.
// Driven by tests/integration/test_interop_alions_acl.sh, which writes plain_acl.yml:
//   admin1Key/admin1Secret  admin, no explicit perms      (creates the topics)
//   userAKey1/userASecret1  TopicAcl=PUB|SUB, GID_acl=SUB, defaults DENY
// ACL_PHASE selects what runs:
//   main       - a permitted producer and consumer work while refused clients (wrong secret,
//                unknown key, denied topic, denied group, non-admin topic creation) get
//                RocketMQ's AclException messages, and the permitted producer never fails
//   revoked    - after the script took TopicAcl away from userAKey1 in the file: its send is
//                refused (the reload happened without a restart)
const { test, after } = require('node:test');
const assert = require('node:assert');
const { Producer, Consumer, Message } = require('ali-ons');

const NS = process.env.NAMESRV_ADDR;
const PHASE = process.env.ACL_PHASE || 'main';
assert.ok(NS, 'NAMESRV_ADDR must be set');
const WATCHDOG_MS = Number(process.env.ALIONS_WATCHDOG_MS || 100000);
setTimeout(() => { console.error(`watchdog: ${PHASE} did not finish within ${WATCHDOG_MS} ms`); process.exit(1); },
  WATCHDOG_MS).unref();

const quiet = { info() {}, warn() {}, debug() {}, error(...a) { if (process.env.ALIONS_DEBUG) console.error(...a); } };
const httpclient = { async request() { throw new Error('no HTTP in these tests'); } };
const uniq = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const sleep = ms => new Promise(r => setTimeout(r, ms));
const closers = [];
const errors = []; // every 'error' event: who, message

after(async () => {
  for (const c of closers.reverse()) {
    let timer;
    await Promise.race([c().catch(() => {}), new Promise(r => { timer = setTimeout(r, 5000); })]);
    clearTimeout(timer);
  }
  setTimeout(() => process.exit(), 300);
});

function opts(ak, sk) {
  return { nameSrv: NS, accessKeyId: ak, accessKeySecret: sk, logger: quiet, httpclient };
}

async function producer(ak, sk) {
  const p = new Producer({ ...opts(ak, sk), producerGroup: `PID_acl_${uniq()}`, instanceName: `p-${uniq()}`,
    retryTimesWhenSendFailed: 0 });
  p.on('error', err => errors.push({ who: ak, msg: String(err.message) }));
  await p.ready();
  closers.push(() => p.close());
  return p;
}

async function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(100);
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}`);
}

// The broker address the name server publishes (TBW102's route; the broker auto-creates topics).
async function brokerAddr(p) {
  const route = await p._mqClient.getDefaultTopicRouteInfoFromNameServer('TBW102', 3000);
  return route.brokerDatas[0].brokerAddrs['0'];
}

async function createTopic(p, topic) {
  await p._mqClient.createTopic(await brokerAddr(p), 'TBW102',
    { topicName: topic, readQueueNums: 2, writeQueueNums: 2, perm: 6, topicFilterType: 'SINGLE_TAG' }, 3000);
  await waitFor(async () => {
    const r = await p._mqClient.getDefaultTopicRouteInfoFromNameServer(topic, 3000).catch(() => null);
    return r && r.queueDatas && r.queueDatas.length > 0;
  }, 30000, `a route for ${topic}`);
}

// A send that must be refused with RocketMQ's answer: code 1, AclException text. ali-ons's
// send() retries code 1 and then reports only "Send [n] times, still failed" (as the Java
// producer does), so the answer itself is read through the step below it, sendKernelImpl,
// which throws the broker's code and remark.
async function refusedSend(p, topic, re) {
  const info = await p.tryToFindTopicPublishInfo(topic);
  const mq = info.selectOneMessageQueue(null, null);
  const err = await p.sendKernelImpl(new Message(topic, 'TagA', 'nope'), mq).then(() => null, e => e);
  assert.ok(err, `the send to ${topic} was accepted`);
  assert.strictEqual(err.code, 1, `code of ${err.message}`);
  assert.match(String(err.message), re);
  return err;
}

const ACL_EX = 'org.apache.rocketmq.acl.common.AclException: ';

if (PHASE === 'main') {
  test('ACL with ali-ons: permitted account works, every refusal is RocketMQ\'s', { timeout: 90000 }, async () => {
    const admin = await producer('admin1Key', 'admin1Secret');
    await createTopic(admin, 'TopicAcl');
    await createTopic(admin, 'TopicDenied');

    // the permitted producer keeps sending in the background while the others are refused
    const good = await producer('userAKey1', 'userASecret1');
    const sent = [];
    const failures = [];
    let stop = false;
    const loop = (async () => {
      for (let i = 0; !stop && i < 100000; i++) {
        try {
          const r = await good.send(new Message('TopicAcl', 'TagA', `ok-${i}`));
          if (r.sendStatus === 'SEND_OK') sent.push(`ok-${i}`); else failures.push(r.sendStatus);
        } catch (e) { failures.push(String(e.message)); }
        await sleep(20);
      }
    })();

    // the permitted consumer receives them
    const got = new Set();
    const c = new Consumer({ ...opts('userAKey1', 'userASecret1'), consumerGroup: 'GID_acl', instanceName: `c-${uniq()}`,
      consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', rebalanceInterval: 2000 });
    c.on('error', err => errors.push({ who: 'GID_acl', msg: String(err.message) }));
    c.subscribe('TopicAcl', '*', async msg => { got.add(msg.body.toString()); });
    await c.ready();
    closers.push(() => c.close());

    // refusals, each with RocketMQ 4.9's message
    const wrong = await producer('userAKey1', 'notTheSecret');
    await refusedSend(wrong, 'TopicAcl', new RegExp(`${ACL_EX}Check signature failed for accessKey=userAKey1`));
    const unknown = await producer('nobodyKey1', 'nobodySecret1');
    await refusedSend(unknown, 'TopicAcl', new RegExp(`${ACL_EX}No acl config for nobodyKey1`));
    await refusedSend(good, 'TopicDenied', new RegExp(`${ACL_EX}No default permission for topic:TopicDenied`));
    const notAdmin = await createTopic(good, 'TopicByUser').then(() => null, e => e);
    assert.ok(notAdmin, 'a non-admin account created a topic');
    assert.match(String(notAdmin.message), new RegExp(`${ACL_EX}Need admin permission for request code=17, but accessKey=userAKey1 is not`));

    // a consumer group the account may not use: its heartbeat and pulls are refused
    const denied = new Consumer({ ...opts('userAKey1', 'userASecret1'), consumerGroup: 'GID_denied',
      instanceName: `d-${uniq()}`, rebalanceInterval: 2000 });
    denied.on('error', err => errors.push({ who: 'GID_denied', msg: String(err.message) }));
    denied.subscribe('TopicAcl', '*', async () => {});
    await denied.ready().catch(e => errors.push({ who: 'GID_denied', msg: String(e.message) }));
    closers.push(() => denied.close());
    await waitFor(() => errors.some(e => e.who === 'GID_denied' && e.msg.includes('No default permission for group:GID_denied')),
      30000, 'the refusal of group GID_denied');

    // meanwhile the permitted client was served throughout
    await waitFor(() => sent.length >= 20, 30000, 'twenty permitted sends');
    stop = true;
    await loop;
    assert.deepStrictEqual(failures, [], 'the permitted producer failed while others were refused');
    await waitFor(() => sent.every(b => got.has(b)), 40000, () => `all ${sent.length} permitted messages consumed`);
    assert.ok(!errors.some(e => e.who === 'GID_acl' && /AclException/.test(e.msg)),
      `the permitted consumer was refused: ${JSON.stringify(errors.filter(e => e.who === 'GID_acl'))}`);
    console.log(`permitted: ${sent.length} sent and consumed; refusals checked: 6`);
  });
}

if (PHASE === 'revoked') {
  test('an edit of plain_acl.yml takes effect without a restart', { timeout: 60000 }, async () => {
    const p = await producer('userAKey1', 'userASecret1');
    // the script edited the file before this phase; the broker reloads within 5 s (bounded wait)
    let last;
    const info = await p.tryToFindTopicPublishInfo('TopicAcl');
    const mq = info.selectOneMessageQueue(null, null);
    await waitFor(async () => {
      last = await p.sendKernelImpl(new Message('TopicAcl', 'TagA', 'after-edit'), mq).then(() => null, e => String(e.message));
      return last && last.includes('No default permission for topic:TopicAcl');
    }, 40000, () => `the revoked topic to be refused (last: ${last})`);
  });
}
