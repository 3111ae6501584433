'use strict';
// What the gRPC interop scripts (grpc_*.js) share: a watchdog that bounds the whole run, a quiet
// logger for both clients, the ali-ons options they need, and small helpers.
const WATCHDOG_MS = Number(process.env.GRPC_WATCHDOG_MS || 0);

// Exit 1 if the script is not done within GRPC_WATCHDOG_MS (or defaultMs).
function watchdog(defaultMs) {
  const ms = WATCHDOG_MS || defaultMs;
  setTimeout(() => { console.error(`watchdog: not done within ${ms} ms`); process.exit(1); }, ms).unref();
}

// Both clients log to this; errors only with GRPC_DEBUG set.
const quiet = { info() {}, warn() {}, debug() {}, error(...a) { if (process.env.GRPC_DEBUG) console.error(...a); } };
// ali-ons asks an HTTP endpoint for the name server only without nameSrv: never here.
const httpclient = { async request() { throw new Error('no HTTP in these tests'); } };
// The options every ali-ons producer or consumer of these scripts starts from.
const alionsBase = ns => ({ nameSrv: ns, accessKeyId: 'loulan', accessKeySecret: 'loulan', logger: quiet, httpclient });
const uniq = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const sleep = ms => new Promise(r => setTimeout(r, ms));

// Poll cond every 50 ms; throws naming `what` after ms.
async function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(50);
  }
}

module.exports = { watchdog, quiet, httpclient, alionsBase, uniq, sleep, waitFor };
