'use strict';
// Throughput of one Node.js runtime against one Loulan broker, over the 5.x gRPC endpoint
// (npm rocketmq-client-nodejs 1.0.8) and over 4.x remoting (npm ali-ons 3.12), same machine,
// same message size, same number of sends in flight. Not a test: it reports, it does not judge.
// Driven by bench/grpc_bench.sh, which starts the servers, creates the topics and runs one
// phase per process (so each phase's CPU is its own):
//   node grpc_bench.js grpc-send      Producer, INFLIGHT sends in flight, SECONDS seconds (after WARMUP)
//   node grpc_bench.js grpc-prime     SimpleConsumer group's first receive on the still empty
//                                     topic (a new 5.x group starts at the queues' end, POP's
//                                     initMode MAX; on an empty topic that is offset 0)
//   node grpc_bench.js grpc-recv      that group drains the backlog grpc-send left: RECEIVERS
//                                     receive(BATCH) calls in flight, every message acked
//                                     (the acks of one batch in parallel), until drained or SECONDS
//   node grpc_bench.js remoting-send  ali-ons Producer, INFLIGHT sends in flight, SECONDS seconds
//   node grpc_bench.js remoting-recv  ali-ons push Consumer (a new group, CONSUME_FROM_FIRST_OFFSET,
//                                     its defaults: pull batch 32) drains that backlog
// Environment: NAMESRV_ADDR, GRPC_ADDR, TOPIC, GROUP (the receive phases), SECONDS (10), SIZE (1024),
// INFLIGHT (64), BATCH (32), RECEIVERS (4), EXPECT (messages in the backlog, for the receive phases),
// WARMUP (2: seconds of uncounted sending first).
// Prints one line "RESULT {json}": msgs, seconds, msgsPerSec, failures, client CPU seconds.
const { Producer: GrpcProducer, SimpleConsumer } = require('rocketmq-client-nodejs');
const { Producer, Consumer, Message } = require('ali-ons');

const env = (k, d) => process.env[k] || d;
const NS = env('NAMESRV_ADDR'), GRPC = env('GRPC_ADDR'), TOPIC = env('TOPIC', 'BenchTopic');
const GROUP = env('GROUP', 'GID_bench');
const SECONDS = Number(env('SECONDS', 10)), SIZE = Number(env('SIZE', 1024)), INFLIGHT = Number(env('INFLIGHT', 64));
const BATCH = Number(env('BATCH', 32)), RECEIVERS = Number(env('RECEIVERS', 4)), EXPECT = Number(env('EXPECT', 0));
const WARMUP = Number(env('WARMUP', 2));
const phase = process.argv[2];
setTimeout(() => { console.error(`grpc_bench ${phase}: watchdog`); process.exit(1); }, (SECONDS + WARMUP + 60) * 1000).unref();

const quiet = { info() {}, warn() {}, debug() {}, error() {} };
const httpclient = { async request() { throw new Error('no HTTP'); } };
const base = { nameSrv: NS, accessKeyId: 'loulan', accessKeySecret: 'loulan', logger: quiet, httpclient };
const sleep = ms => new Promise(r => setTimeout(r, ms));
const body = Buffer.alloc(SIZE, 0x61);

function report(o) {
  const cpu = process.cpuUsage();
  o.clientCpuSeconds = +((cpu.user + cpu.system) / 1e6).toFixed(2);
  o.msgsPerSec = Math.round(o.msgs / o.seconds);
  o.seconds = +o.seconds.toFixed(2);
  console.log(`RESULT ${JSON.stringify({ phase, ...o })}`);
}

// INFLIGHT loops, each sending one message after the other, for ms milliseconds.
async function load(sendOne, ms) {
  let msgs = 0, failures = 0, lastErr;
  const t0 = process.hrtime.bigint();
  const end = Date.now() + ms;
  await Promise.all(Array.from({ length: INFLIGHT }, async () => {
    while (Date.now() < end) {
      try {
        await sendOne();
        msgs++;
      } catch (err) {
        failures++;
        lastErr = err;
      }
    }
  }));
  if (lastErr) console.error(`last send error: ${lastErr.message}`);
  return { msgs, failures, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

// WARMUP seconds of the same load first (routes, connections, and V8's JIT: a fresh Node
// process spends several times more CPU per send in its first seconds), not counted: the
// receive phases expect WARMED + msgs messages.
async function sendLoad(sendOne) {
  const w = await load(sendOne, WARMUP * 1000);
  const r = await load(sendOne, SECONDS * 1000);
  return { ...r, warmed: w.msgs, inflight: INFLIGHT, size: SIZE };
}

const phases = {
  async 'grpc-send'() {
    const p = new GrpcProducer({ endpoints: GRPC, topics: [TOPIC], logger: quiet });
    await p.startup();
    report(await sendLoad(() => p.send({ topic: TOPIC, tag: 'Bench', body })));
  },
  async 'grpc-prime'() {
    const c = new SimpleConsumer({ endpoints: GRPC, consumerGroup: GROUP, logger: quiet,
      subscriptions: new Map([[TOPIC, '*']]), awaitDuration: 5000 });
    await c.startup();
    const got = await c.receive(1, 30000);
    if (got.length) throw new Error('the topic is not empty');
  },
  async 'grpc-recv'() {
    const c = new SimpleConsumer({ endpoints: GRPC, consumerGroup: GROUP, logger: quiet,
      subscriptions: new Map([[TOPIC, '*']]), awaitDuration: 5000 });
    await c.startup();
    let msgs = 0, failures = 0, empty = false;
    const t0 = process.hrtime.bigint();
    const end = Date.now() + SECONDS * 1000;
    await Promise.all(Array.from({ length: RECEIVERS }, async () => {
      while (Date.now() < end && !empty && (!EXPECT || msgs < EXPECT)) {
        const views = await c.receive(BATCH, 60000);
        if (!views.length) { empty = true; break; }    // drained (or the long poll ran out)
        const acks = await Promise.allSettled(views.map(v => c.ack(v)));
        for (const a of acks) a.status === 'fulfilled' ? msgs++ : failures++;
      }
    }));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    // a receive that came back empty waited out its long poll: not part of the consuming time
    report({ msgs, failures, seconds: empty ? Math.max(0.001, seconds - 5) : seconds, batch: BATCH, receivers: RECEIVERS,
      drained: empty || msgs >= EXPECT });
    await Promise.race([c.shutdown().catch(() => {}), sleep(3000)]);
  },
  async 'remoting-send'() {
    const p = new Producer({ ...base, producerGroup: `PG_bench_${process.pid}` });
    p.on('error', () => {});
    await p.ready();
    report(await sendLoad(async () => {
      const r = await p.send(new Message(TOPIC, 'Bench', body));
      if (r.sendStatus !== 'SEND_OK') throw new Error(r.sendStatus);
    }));
    await Promise.race([p.close().catch(() => {}), sleep(3000)]);
  },
  async 'remoting-recv'() {
    const c = new Consumer({ ...base, consumerGroup: GROUP, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' });
    c.on('error', () => {});
    let msgs = 0, first, last;
    c.subscribe(TOPIC, '*', async () => {
      last = process.hrtime.bigint();
      if (!first) first = last;
      msgs++;
    });
    await c.ready();
    const end = Date.now() + (SECONDS + 20) * 1000;   // its rebalance takes a while to start pulling
    while (Date.now() < end && msgs < EXPECT && (!first || Number(process.hrtime.bigint() - first) / 1e9 < SECONDS)) await sleep(20);
    const seconds = first ? Number(last - first) / 1e9 : SECONDS;
    report({ msgs, failures: 0, seconds: Math.max(seconds, 0.001), batch: 32, drained: msgs >= EXPECT });
    await Promise.race([c.close().catch(() => {}), sleep(3000)]);
  },
};

if (!phases[phase]) {
  console.error(`usage: node grpc_bench.js ${Object.keys(phases).join('|')}`);
  process.exit(2);
}
phases[phase]().then(() => process.exit(0), err => { console.error(`grpc_bench ${phase}: ${err && err.stack || err}`); process.exit(1); });
