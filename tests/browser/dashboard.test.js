#!/usr/bin/env node
/* dashboard.test.js: loulan-dashboard in a real headless browser (playwright-core driving
 * Debian's chromium), against the servers and data that tests/integration/
 * test_dashboard_browser.sh starts and sends. Each step asserts what the page shows against
 * what was sent, waits only for conditions (bounded), and saves a screenshot of the page.
 * Exit status 0 when every step passed, 1 otherwise (the failing page is saved as FAIL-*.png).
 *
 * Environment (set by the shell test): DASH_URL (login off), DASH_LOGIN_URL (login on, users
 * admin/admin role 1 and user1/user1), MSG_ID (the last of 5 messages with key UiKey on
 * UiMsgTopic), DLQ_MSG_ID, DLQ_CONSUMER_OUT, LOULAN_BIN, NAMESRV_ADDR, BROKER_ADDR,
 * LOULAN_ARTIFACTS, LOULAN_CHROMIUM. UI_WAIT_MS bounds one wait (default 30 s, 90 s with
 * LOULAN_SLOW set, as the sanitizer run does), UI_WATCHDOG_MS the whole run (230 s). */
'use strict';

const { chromium } = require('playwright-core');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const E = process.env;
for (const k of ['DASH_URL', 'DASH_LOGIN_URL', 'MSG_ID', 'LOULAN_BIN', 'NAMESRV_ADDR', 'BROKER_ADDR']) {
  if (!E[k]) { console.error(`FAIL: ${k} is not set (run tests/integration/test_dashboard_browser.sh)`); process.exit(1); }
}
/* one wait's bound; the sanitizer build (LOULAN_SLOW=1) serves 3-5x slower */
const SLOW = E.LOULAN_SLOW ? 3 : 1;
const WAIT = Number(E.UI_WAIT_MS || 30000 * SLOW);
const SHOTS = path.join(E.LOULAN_ARTIFACTS || path.join(E.LOULAN_BIN, '..', 'artifacts'), 'dashboard');
const watchdog = setTimeout(() => {
  console.error('FAIL: watchdog: the browser test did not finish in time');
  process.exit(1);
}, Number(E.UI_WATCHDOG_MS || 230000));
watchdog.unref();

function check(cond, msg) { if (!cond) throw new Error(msg); }
const pause = ms => new Promise(r => setTimeout(r, ms));

/* Poll fn until it returns a truthy value, at most ms of wall clock; every ms between tries. */
async function until(what, fn, ms = WAIT, every = 250) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e.message.split('\n')[0];
    }
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what} (last: ${JSON.stringify(last)})`);
    await pause(every);
  }
}

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

/* Go to a route and wait until its page has rendered (data-ready is set after render). */
async function open(page, base, route) {
  await page.goto(base + '#/' + route);
  await page.locator(`#view .page[data-page="${route || 'dashboard'}"][data-ready]`).waitFor({ timeout: WAIT });
}

/* The error toasts shown since index `from` of the page's toast log. */
async function errorsSince(page, from) {
  return page.evaluate(n => LL.toastLog.slice(n).filter(t => t.kind === 'error').map(t => t.msg), from);
}
const toastCount = page => page.evaluate(() => LL.toastLog.length);

/* A row's cell text by data-col. */
const cell = (row, col) => row.locator(`td[data-col="${col}"]`).textContent({ timeout: WAIT });

/* The value of an <input type=datetime-local step=1> for epoch ms, in the page's time zone. */
const dtValue = (page, ms) => page.evaluate(t => LL.dtValue(t), ms);

function run(bin, args, out) {
  const child = spawn(path.join(E.LOULAN_BIN, bin), args, { stdio: ['ignore', fs.openSync(out, 'w'), 'inherit'] });
  const done = new Promise(resolve => child.on('exit', code => resolve(code)));
  return { child, done };
}

/* ---- the steps ---- */

async function dashboardPage(page) {
  await open(page, E.DASH_URL, '');
  const ids = ['chart-broker-top', 'chart-broker-trend', 'chart-topic-top', 'chart-topic-trend'];
  await until('the four Chart.js charts exist', () => page.evaluate(list =>
    list.every(id => Chart.getChart(document.getElementById(id))), ids));
  await until('Broker TOP 10 has a bar for broker-a:0', () => page.evaluate(() =>
    Chart.getChart(document.getElementById('chart-broker-top')).data.labels.includes('broker-a:0')));
  /* live: the trend grows while the page stays (re-fetched every 5 s, no reload) */
  await page.evaluate(() => { window.__noReload = 1; });
  const points = () => page.evaluate(() => {
    const d = Chart.getChart(document.getElementById('chart-broker-trend')).data.datasets.find(s => s.label === 'broker-a:0');
    return d ? d.data.length : 0;
  });
  const first = await until('the broker trend has a sample of broker-a:0', points, Math.max(60000, WAIT), 500);
  await until(`the broker trend grows past ${first} samples without a reload`, async () => (await points()) > first, Math.max(60000, WAIT), 500);
  check(await page.evaluate(() => window.__noReload === 1), 'the page was reloaded');
  await shot(page, 'dashboard');
}

async function clusterPage(page) {
  await open(page, E.DASH_URL, 'cluster');
  const row = page.locator('[data-test=cluster-table] tr[data-broker="broker-a"]').first();
  await row.waitFor({ timeout: WAIT });
  const addr = await cell(row, 'address');
  check(addr === E.BROKER_ADDR, `Address is "${addr}", the broker listens on ${E.BROKER_ADDR}`);
  const version = await cell(row, 'version');
  check(/^V\d+_\d+_\d+/.test(version), `Version is "${version}", expected a RocketMQ version such as V4_9_4`);
  const put = Number(await cell(row, 'todayPut'));
  check(put >= 37, `Today Produce Count is ${put}, the test sent at least 37 messages`);
  await row.locator('[data-test=broker-status]').click();
  const status = page.locator('[data-test=broker-status]').locator('tr[data-key="brokerVersionDesc"] td');
  check((await status.textContent({ timeout: WAIT })) === version, 'the Status modal disagrees with the Version column');
  await page.keyboard.press('Escape');
  await row.locator('[data-test=broker-config]').click();
  const bn = page.locator('[data-test=broker-config] tr[data-key="brokerName"] td');
  check((await bn.textContent({ timeout: WAIT })) === 'broker-a', 'the Config modal does not show brokerName=broker-a');
  await page.keyboard.press('Escape');
  await shot(page, 'cluster');
}

async function topicPage(page) {
  await open(page, E.DASH_URL, 'topic');
  const rowOf = name => page.locator(`[data-test=topic-table] tr[data-topic="${name}"]`);
  await rowOf('TopicTest').waitFor({ timeout: WAIT });
  const name = 'UiCreated' + (Date.now() % 1000000);
  await page.click('#topic-add');
  const dialog = page.locator('[data-test=topic-dialog]');
  await dialog.waitFor({ timeout: WAIT });
  await dialog.locator('[data-test=topic-cluster-choice][value="DefaultCluster"]').check();
  await page.fill('#topic-form-name', name);
  await page.fill('#topic-form-write', '3');
  await page.fill('#topic-form-read', '3');
  await page.click('#topic-form-commit');
  await dialog.waitFor({ state: 'detached', timeout: WAIT });
  /* the filter is a substring match done by the server */
  await page.fill('#topic-filter', name.slice(2));
  await rowOf(name).waitFor({ timeout: WAIT });
  await until('the filter leaves only the new topic', async () =>
    (await page.locator('[data-test=topic-table] tr[data-topic]').count()) === 1);
  check((await page.locator('[data-test=pager] [data-test=total]').textContent()) === 'Total 1', 'the pager does not say Total 1');
  /* the route has the queue numbers of the dialog */
  await rowOf(name).locator('[data-test=topic-router]').click();
  const q = page.locator('[data-test=route-queues] tbody tr').first();
  const queues = [await cell(q, 'brokerName'), await cell(q, 'readQueueNums'), await cell(q, 'writeQueueNums')].join(' ');
  check(queues === 'broker-a 3 3', `the new topic's route says "${queues}", expected broker-a with 3 read and 3 write queues`);
  await page.keyboard.press('Escape');
  await shot(page, 'topic-created');
  await page.fill('#topic-filter', 'TopicTe');
  await rowOf('TopicTest').waitFor({ timeout: WAIT });
  check(await rowOf(name).count() === 0, 'the filter TopicTe still shows the new topic');
  await shot(page, 'topic');
}

async function consumerPage(page) {
  await open(page, E.DASH_URL, 'consumer');
  await page.fill('#group-filter', 'UiLagGroup');
  const delay = page.locator('[data-test=group-table] tr[data-group="UiLagGroup"] [data-test=delay]');
  const before = Number(await delay.textContent({ timeout: WAIT }));
  check(before === 10, `Delay of UiLagGroup is ${before} before it consumes, expected 10 (10 sent after it consumed)`);
  await shot(page, 'consumer-lag');
  const c = run('consumer', ['-n', E.NAMESRV_ADDR, '-t', 'UiLagTopic', '-g', 'UiLagGroup', '-c', '10', '-T', '60'],
    path.join(E.LOULAN_TMP || '/tmp', 'c-lag2.out'));
  try {
    await until('the Delay of UiLagGroup shows 0', async () => {
      const t = await delay.textContent({ timeout: WAIT });
      if (t === '0') return true;
      await page.click('#group-refresh');
      return false;
    }, Math.max(90000, WAIT), 1000);
    const code = await Promise.race([c.done, pause(WAIT).then(() => 'still running')]);
    check(code === 0, `the consumer did not get its 10 messages (exit ${code})`);
  } finally {
    if (c.child.exitCode === null) c.child.kill('SIGTERM');
  }
  const row = page.locator('[data-test=group-table] tr[data-group="UiLagGroup"]');
  check((await cell(row, 'delay')) === '0', 'Delay is not 0');
  await row.locator('[data-test=group-consume-detail]').click();
  const detail = page.locator('[data-test=consume-detail] [data-topic="UiLagTopic"] [data-test=progress-delay]');
  check((await detail.textContent({ timeout: WAIT })) === '0', 'CONSUME DETAIL of UiLagTopic does not show Delay 0');
  await page.keyboard.press('Escape');
  await shot(page, 'consumer');
}

async function messagePage(page) {
  await open(page, E.DASH_URL, 'message');
  const total = page.locator('[data-test=msg-topic-result] [data-test=msg-total]');
  await page.fill('#msg-topic', 'UiMsgTopic');
  await page.click('#msg-topic-search');
  await until('Total 5 Messages for UiMsgTopic in the last 3 hours', async () =>
    (await total.textContent({ timeout: 1000 })) === 'Total 5 Messages');
  const row = page.locator(`[data-test=msg-topic-result-table] tr[data-msgid="${E.MSG_ID}"]`);
  await row.waitFor({ timeout: WAIT });
  await shot(page, 'message-topic');
  await row.locator('[data-test=msg-detail]').click();
  const body = page.locator('[data-test=message-detail] [data-test=msg-body]');
  check((await body.textContent({ timeout: WAIT })) === 'Hello RocketMQ 4', 'the detail of the last message does not show its body');
  await shot(page, 'message-detail');
  await page.keyboard.press('Escape');
  /* a range that ends before the messages were sent finds none */
  const now = Date.now();
  await page.fill('#msg-begin', await dtValue(page, now - 2 * 86400000));
  await page.fill('#msg-end', await dtValue(page, now - 86400000));
  await page.click('#msg-topic-search');
  await until('Total 0 Messages for yesterday', async () => (await total.textContent({ timeout: 1000 })) === 'Total 0 Messages');
  check(await page.locator('[data-test=msg-topic-result-table] [data-test=empty]').count() === 1, 'no "no match result" row');

  await page.click('#msg-tab-key');
  await page.fill('#msg-key-topic', 'UiMsgTopic');
  await page.fill('#msg-key', 'UiKey');
  await page.click('#msg-key-search');
  const keyRows = page.locator('[data-test=msg-key-table] tr[data-msgid]');
  await until('5 messages with key UiKey', async () => (await keyRows.count()) === 5);
  check(await page.locator(`[data-test=msg-key-table] tr[data-msgid="${E.MSG_ID}"]`).count() === 1, 'the key search misses MSG_ID');
  await shot(page, 'message-key');

  await page.click('#msg-tab-id');
  await page.fill('#msg-id-topic', 'UiMsgTopic');
  await page.fill('#msg-id', E.MSG_ID);
  await page.click('#msg-id-search');
  check((await body.textContent({ timeout: WAIT })) === 'Hello RocketMQ 4', 'the id search does not show the body');
  const idCell = page.locator('[data-test=message-detail] [data-test=msg-fields] tr[data-key="Message ID"] td');
  check((await idCell.textContent()) === E.MSG_ID, 'the detail shows another Message ID');
  await shot(page, 'message-id');
  await page.keyboard.press('Escape');
}

async function dlqPage(page) {
  await open(page, E.DASH_URL, 'dlqMessage');
  await page.fill('#dlq-group', 'UiDlqGroup');
  await page.click('#dlq-search');
  const rows = page.locator('[data-test=dlq-result-table] tr[data-msgid]');
  await until('one dead-letter message of UiDlqGroup', async () => (await rows.count()) === 1);
  const msgId = await rows.first().getAttribute('data-msgid');
  if (E.DLQ_MSG_ID) check(msgId === E.DLQ_MSG_ID, `the DLQ row is ${msgId}, the producer sent ${E.DLQ_MSG_ID}`);
  await shot(page, 'dlq');
  /* resend: the broker asks the online consumer of UiDlqGroup to consume it now */
  await rows.first().locator('[data-test=dlq-resend]').click();
  const result = page.locator('[data-test=dlq-resend-result] [data-test=resend-consume-result]').first();
  const cr = await result.textContent({ timeout: WAIT });
  check(cr === 'CR_SUCCESS', `the resend answered "${cr}", expected CR_SUCCESS`);
  if (E.DLQ_CONSUMER_OUT) {
    await until('the online consumer printed the resent message', () =>
      fs.readFileSync(E.DLQ_CONSUMER_OUT, 'utf8').includes(msgId), WAIT, 500);
  }
  await shot(page, 'dlq-resent');
  await page.keyboard.press('Escape');
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: WAIT }),
    rows.first().locator('[data-test=dlq-export]').click(),
  ]);
  const file = await download.path();
  const head = fs.readFileSync(file).subarray(0, 2).toString('latin1');
  check(head === 'PK' && download.suggestedFilename().endsWith('.xlsx'),
    `the export is "${download.suggestedFilename()}" starting with "${head}", expected an .xlsx (zip) file`);
}

async function tracePage(page) {
  await open(page, E.DASH_URL, 'messageTrace');
  await page.fill('#trace-key-topic', 'UiTraceTopic');
  await page.fill('#trace-key', 'UiTraceKey');
  const producerTrace = page.locator('[data-test=trace-detail] [data-test=producer-trace]');
  /* the producer writes its trace record after the send: look until it is there */
  await until('the producer trace of the UiTraceKey message', async () => {
    await page.keyboard.press('Escape');
    await page.click('#trace-key-search');
    const btn = page.locator('[data-test=trace-key-table] [data-test=trace-detail-btn]').first();
    await btn.click({ timeout: 2000 });
    await page.locator('[data-test=trace-detail]').waitFor({ timeout: WAIT });
    return (await producerTrace.count()) === 1;
  }, WAIT, 1000);
  const text = await producerTrace.textContent();
  check(text.includes('UiTraceTopic') && text.includes('please_rename_unique_group_name'),
    `the send trace does not name the topic and the producer group: ${text.slice(0, 200)}`);
  await shot(page, 'message-trace');
  await page.keyboard.press('Escape');
}

async function otherPages(page) {
  await open(page, E.DASH_URL, 'ops');
  const current = await page.locator('#ops-current').textContent({ timeout: WAIT });
  check(current === E.NAMESRV_ADDR, `OPS shows name server "${current}", expected ${E.NAMESRV_ADDR}`);
  await shot(page, 'ops');
  await open(page, E.DASH_URL, 'producer');
  await shot(page, 'producer');
}

async function loginPages(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  watch(page);
  try {
    await page.goto(E.DASH_LOGIN_URL + '#/topic');
    await page.locator('#login-form').waitFor({ timeout: WAIT });
    check(page.url().includes('#/login'), `not sent to #/login: ${page.url()}`);
    const login = async (user, pass) => {
      await page.fill('#login-username', user);
      await page.fill('#login-password', pass);
      await page.click('#login-submit');
    };
    await login('admin', 'not-the-password');
    const err = await until('the wrong password is refused', async () => page.locator('#login-error').textContent());
    check(err === 'Bad username or password!', `login error is "${err}"`);
    check(page.url().includes('#/login'), 'a wrong password left the login page');
    await shot(page, 'login-refused');

    /* the admin comes back to the page asked for and may change things (CSRF header sent) */
    await login('admin', 'admin');
    await page.locator('#page-topic[data-ready] [data-test=topic-table] tr[data-topic="TopicTest"]').waitFor({ timeout: WAIT });
    check((await page.locator('#current-user').textContent()) === 'admin (admin)', 'the admin is not shown as logged in');
    const name = 'UiByAdmin' + (Date.now() % 1000000);
    await page.click('#topic-add');
    await page.locator('[data-test=topic-dialog] [data-test=topic-cluster-choice][value="DefaultCluster"]').check();
    await page.fill('#topic-form-name', name);
    await page.click('#topic-form-commit');
    await page.locator('[data-test=topic-dialog]').waitFor({ state: 'detached', timeout: WAIT });
    await page.fill('#topic-filter', name);
    await page.locator(`[data-test=topic-table] tr[data-topic="${name}"]`).waitFor({ timeout: WAIT });
    /* a state-changing request without the X-XSRF-TOKEN header is refused */
    const noCsrf = await page.evaluate(async t => (await fetch('topic/deleteTopic.do?topic=' + t, { method: 'POST' })).json(), name);
    check(noCsrf.status === -1 && /CSRF/i.test(noCsrf.errMsg || ''), `a POST without X-XSRF-TOKEN answered ${JSON.stringify(noCsrf)}`);
    await page.click('#logout');
    await page.locator('#login-form').waitFor({ timeout: WAIT });

    /* a normal user sees no write buttons, and the server refuses a change */
    await login('user1', 'user1');
    await page.locator('#page-dashboard[data-ready]').waitFor({ timeout: WAIT });
    await open(page, E.DASH_LOGIN_URL, 'topic');
    await page.locator('[data-test=topic-table] tr[data-topic="TopicTest"]').waitFor({ timeout: WAIT });
    check(await page.locator('#topic-add').count() === 0, 'a normal user sees Add/Update');
    check(await page.locator('[data-test=topic-delete]').count() === 0, 'a normal user sees Delete');
    check(await page.locator('[data-test=topic-send-message]').count() > 0, 'a normal user cannot send a test message');
    const from = await toastCount(page);
    const refused = await page.evaluate(() => LL.post('topic/createOrUpdate.do', null, {
      clusterNameList: ['DefaultCluster'], brokerNameList: [], topicName: 'UiByUser1', writeQueueNums: 4, readQueueNums: 4,
      perm: 6, order: false, messageType: 'NORMAL' }).then(() => 'accepted', e => e.message));
    check(refused === 'no permission', `a normal user's topic creation answered "${refused}"`);
    check((await errorsSince(page, from)).includes('no permission'), 'no "no permission" toast');
    await page.locator('.toast-error', { hasText: 'no permission' }).waitFor({ timeout: WAIT });
    await shot(page, 'login-user1-refused');
    await page.fill('#topic-filter', 'UiByUser1');
    await page.locator('[data-test=topic-table] [data-test=empty]').waitFor({ timeout: WAIT });
  } finally {
    await ctx.close();
  }
}

/* ---- running them ---- */

const pageErrors = [];
function watch(page) {
  page.on('pageerror', e => pageErrors.push(e.message));
  page.on('console', m => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) pageErrors.push(m.text()); });
}

async function main() {
  const browser = await chromium.launch({
    executablePath: E.LOULAN_CHROMIUM || '/usr/bin/chromium', headless: true, args: ['--no-sandbox'],
  });
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  watch(page);
  const steps = [
    ['the cluster page lists the broker with its address and version', () => clusterPage(page)],
    ['the topic page lists TopicTest, creates a topic through the dialog and finds it', () => topicPage(page)],
    ['the consumer page shows the Delay of a group going to 0 once it consumes', () => consumerPage(page)],
    ['the message page finds a message by topic and time, by key and by id, with its body', () => messagePage(page)],
    ['the DLQ page resends a dead-letter message to the online consumer and exports it', () => dlqPage(page)],
    ['the trace page shows the send trace of a traced message', () => tracePage(page)],
    ['the OPS and producer pages', () => otherPages(page)],
    ['the dashboard page draws four charts and the broker trend grows live', () => dashboardPage(page)],
    ['login refuses a wrong password and a normal user\'s change', () => loginPages(browser)],
  ];
  let failed = 0;
  for (const [i, [name, fn]] of steps.entries()) {
    const t0 = Date.now();
    const from = await toastCount(page).catch(() => 0);
    try {
      await fn();
      const errs = await errorsSince(page, from).catch(() => []);
      check(errs.length === 0, `error toasts: ${JSON.stringify(errs)}`);
      console.log(`ok ${i + 1} - ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      console.log(`not ok ${i + 1} - ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n  ${e.message.split('\n').join('\n  ')}`);
      const errs = await errorsSince(page, from).catch(() => []);
      if (errs.length) console.log('  error toasts: ' + JSON.stringify(errs));
      await page.keyboard.press('Escape').catch(() => {});
      await shot(page, `FAIL-${i + 1}`).catch(() => {});
    }
  }
  if (pageErrors.length) {
    failed++;
    console.log('not ok - JavaScript errors in the page:\n  ' + pageErrors.join('\n  '));
  }
  await browser.close();
  console.log(failed ? `FAIL: ${failed} step(s) failed` : `all ${steps.length} steps passed; screenshots in ${SHOTS}`);
  return failed ? 1 : 0;
}

main().then(code => process.exit(code), e => { console.error('FAIL:', e); process.exit(1); });
