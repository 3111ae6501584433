'use strict';
// One role of tests/interop/test_interop_alions_dledger.sh: the unchanged npm client ali-ons as a
// long-running producer or consumer against a DLedger group, while the shell script kills and
// restarts the leader. Only ali-ons options are set (a shorter name-server poll), no client code.
//   node alions_dledger.js produce   sends `dl-<i>` (i = 0, 1, ...) one after the other, one every
//                                    DL_INTERVAL_MS, until $DL_DIR/stop-producer exists; each send
//                                    is a line of $DL_DIR/produced.log:
//                                    <i> <SEND_OK|other status|FAIL> <start ms> <duration ms> <detail>
//   node alions_dledger.js consume   one consumer of group DL_GROUP (from the first offset) until
//                                    $DL_DIR/stop-consumer exists; each delivery (duplicates too)
//                                    is a line of $DL_DIR/consumed.log:
//                                    <i> <queueId> <queueOffset> <msgId> <receive ms>
// Environment: NAMESRV_ADDR, DL_DIR, DL_TOPIC, DL_GROUP, DL_INTERVAL_MS (20), DL_POLL_NS_MS (the
// ali-ons option pollNameServerInteval; its default is 30000), DL_WATCHDOG_MS (the process ends
// within it whatever happens). ali-ons's 'error' events go to $DL_DIR/<role>-errors.log.
const fs = require('node:fs');
const path = require('node:path');
const { Producer, Consumer, Message } = require('ali-ons');

const role = process.argv[2];
const env = name => {
  const v = process.env[name];
  if (!v) { console.error(`${name} must be set`); process.exit(2); }
  return v;
};
const NS = env('NAMESRV_ADDR');
const DIR = env('DL_DIR');
const TOPIC = env('DL_TOPIC');
const INTERVAL = Number(process.env.DL_INTERVAL_MS || 20);
const POLL_NS = Number(process.env.DL_POLL_NS_MS || 3000);
const WATCHDOG = Number(process.env.DL_WATCHDOG_MS || 140000);
if (role !== 'produce' && role !== 'consume') { console.error('usage: alions_dledger.js produce|consume'); process.exit(2); }

setTimeout(() => { console.error(`watchdog: ${role} still running after ${WATCHDOG} ms`); process.exit(3); }, WATCHDOG).unref();

const sleep = ms => new Promise(r => setTimeout(r, ms));
const uniq = `${Date.now().toString(36)}${process.pid}`;
const errLog = path.join(DIR, `${role}-errors.log`);
const onError = err => fs.appendFileSync(errLog,
  `${Date.now()} ${err.name}${err.code !== undefined ? ` code=${err.code}` : ''}: ${String(err.message).replace(/\s+/g, ' ').slice(0, 300)}\n`);
// ali-ons insists on an HTTP client and credentials even with nameSrv given; neither is used here.
const httpclient = { async request() { throw new Error('no HTTP in these tests'); } };
const quiet = { info() {}, warn() {}, debug() {}, error(...a) { if (process.env.ALIONS_DEBUG) console.error(...a); } };
const base = {
  nameSrv: NS, accessKeyId: 'loulan', accessKeySecret: 'loulan', logger: quiet, httpclient,
  pollNameServerInteval: POLL_NS,   // (sic) ali-ons's option: how often routes are refreshed
};

// Close a client, bounded (ali-ons may wait on a dead broker), then end the process: its clients
// keep timers alive after close.
async function finish(client, code) {
  await Promise.race([client.close().catch(onError), sleep(5000)]);
  process.exit(code);
}

async function produce() {
  const out = path.join(DIR, 'produced.log');
  const stop = path.join(DIR, 'stop-producer');
  const p = new Producer({ ...base, producerGroup: `PG_dl_${uniq}`, instanceName: `p-${uniq}` });
  p.on('error', onError);
  await p.ready();
  for (let i = 0; !fs.existsSync(stop); i++) {
    const t0 = Date.now();
    let status, detail = '-';
    try {
      const msg = new Message(TOPIC, 'TagA', `dl-${i}`);
      msg.keys = [`dl-key-${i}`];
      const r = await p.send(msg);
      status = r.sendStatus;
      detail = `q=${r.messageQueue.queueId},off=${r.queueOffset}`;
    } catch (err) {
      status = 'FAIL';
      detail = `${err.name}${err.code !== undefined ? `(${err.code})` : ''}:${String(err.message).replace(/\s+/g, '_').slice(0, 160)}`;
    }
    const dt = Date.now() - t0;
    fs.appendFileSync(out, `${i} ${status} ${t0} ${dt} ${detail}\n`);
    if (dt < INTERVAL) await sleep(INTERVAL - dt);
  }
  await finish(p, 0);
}

async function consume() {
  const out = path.join(DIR, 'consumed.log');
  const stop = path.join(DIR, 'stop-consumer');
  const c = new Consumer({
    ...base, consumerGroup: env('DL_GROUP'), instanceName: `c-${uniq}`,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
  });
  c.on('error', onError);
  c.subscribe(TOPIC, '*', async msg => {
    const body = msg.body.toString();
    const i = body.startsWith('dl-') ? body.slice(3) : `?${body.replace(/\s+/g, '_').slice(0, 40)}`;
    fs.appendFileSync(out, `${i} ${msg.queueId} ${msg.queueOffset} ${msg.msgId} ${Date.now()}\n`);
  });
  await c.ready();
  fs.writeFileSync(path.join(DIR, 'consumer-ready'), '');
  while (!fs.existsSync(stop)) await sleep(100);
  await finish(c, 0);
}

(role === 'produce' ? produce() : consume()).catch(err => {
  console.error(`${role} failed:`, err);
  process.exit(1);
});
