/* core.js: what every page of the console shares. The JSON API client (rocketmq-dashboard's
 * envelope {status, data, errMsg}, the login redirect, the X-XSRF-TOKEN header on every
 * state-changing request), a small DOM builder (text only: message bodies and topic names are
 * never parsed as HTML), toasts, modals, tables with client-side paging, a pager for the lists
 * the server pages, and the hash router with the login state. Pages register with LL.page(). */
'use strict';

const LL = (() => {
  const pages = {};
  let cleanups = [];            /* timers and charts of the page on screen, undone on leave */
  const session = {
    loginRequired: false,
    logined: true,
    user: sessionStorage.getItem('username') || '',
    role: Number(sessionStorage.getItem('userrole') || 0),
  };

  /* ---- DOM ---- */

  /* h('button', {class: 'btn', onclick: f}, 'text', child, [more]): an element. Attributes
   * set to null/false are left out; "value" is set after the children (select needs its options). */
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    let value;
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'value') value = v;
      else if (k === 'checked' || k === 'disabled' || k === 'multiple' || k === 'selected') el[k] = true;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    add(el, kids);
    if (value !== undefined) el.value = value;
    return el;
  }

  function add(el, kids) {
    for (const k of [kids].flat(Infinity)) {
      if (k == null || k === false) continue;
      el.append(k instanceof Node ? k : String(k));
    }
    return el;
  }

  /* An event handler that may be async and may throw: API errors were toasted already, others
   * are toasted here, so no handler needs its own try/catch. */
  function act(fn) {
    return (...args) => Promise.resolve().then(() => fn(...args)).catch(e => {
      if (!(e instanceof ApiError)) { console.error(e); toast(String(e.message || e), 'error'); }
    });
  }

  /* Replace el's children (null/false children are skipped, arrays flattened). */
  function fill(el, ...kids) {
    el.replaceChildren();
    return add(el, kids);
  }

  function btn(label, onclick, cls = 'btn-primary', attrs = {}) {
    return h('button', Object.assign({ type: 'button', class: 'btn ' + cls, onclick: act(onclick) }, attrs), label);
  }

  /* ---- toasts and modals ---- */

  /* A transient notice (errors stay 10 s, others 4 s; a click closes it). The same text shown
   * again restarts its timer instead of stacking a copy (a failing 5 s refresh). */
  const toastLog = [];   /* every notice shown, newest last (the browser test reads it) */
  function toast(msg, kind = 'error') {
    toastLog.push({ kind, msg, at: Date.now() });
    if (toastLog.length > 200) toastLog.shift();
    const box = document.getElementById('toasts');
    let t = [...box.children].find(x => x.textContent === msg && x.classList.contains('toast-' + kind));
    if (!t) {
      t = h('div', { class: 'toast toast-' + kind, 'data-test': 'toast', role: 'alert' }, msg);
      t.addEventListener('click', () => t.remove());
      box.append(t);
      while (box.children.length > 5) box.firstChild.remove();
    }
    clearTimeout(t.timer);
    t.timer = setTimeout(() => t.remove(), kind === 'error' ? 10000 : 4000);
    return t;
  }

  /* A modal dialog over the page: returns {el, body, close}. opts: wide, footer (nodes),
   * test (data-test of the dialog), onclose. Esc and a click beside it close it. */
  function modal(title, body, opts = {}) {
    const foot = opts.footer ? h('div', { class: 'modal-foot' }, opts.footer) : null;
    const bodyEl = h('div', { class: 'modal-body' }, body);
    const box = h('div', { class: 'modal' + (opts.wide ? ' modal-wide' : ''), role: 'dialog',
      'data-test': opts.test || 'modal' },
      h('div', { class: 'modal-head' }, h('h3', {}, title),
        h('button', { type: 'button', class: 'close', 'data-test': 'modal-close', title: 'Close',
          onclick: () => close() }, '\u00d7')),
      bodyEl, foot);
    const back = h('div', { class: 'modal-back' }, box);
    back.addEventListener('mousedown', e => { if (e.target === back) close(); });
    const onkey = e => { if (e.key === 'Escape' && back.parentNode && back === back.parentNode.lastChild) close(); };
    document.addEventListener('keydown', onkey);
    document.getElementById('modals').append(back);
    let closed = false;
    function close() {
      if (closed) return;
      closed = true;
      document.removeEventListener('keydown', onkey);
      back.remove();
      if (opts.onclose) opts.onclose();
    }
    return { el: box, body: bodyEl, close };
  }

  function closeModals() { document.getElementById('modals').replaceChildren(); }

  /* A modal showing an object as a key/value table (status, config, results). */
  function kvModal(title, obj, test) {
    return modal(title, kvTable(obj, test), { wide: true, test });
  }

  function kvTable(obj, test) {
    const keys = Object.keys(obj || {}).sort();
    if (!keys.length) return h('p', { class: 'empty' }, 'No data');
    return h('table', { class: 'table kv', 'data-test': test ? test + '-table' : null },
      h('tbody', {}, keys.map(k => h('tr', { 'data-key': k }, h('th', {}, k), h('td', {}, show(obj[k]))))));
  }

  /* Any JSON value as text for a cell. */
  function show(v) {
    if (v == null) return '';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  }

  /* ---- the API ---- */

  class ApiError extends Error {}

  function query(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v == null || v === '') continue;
      if (Array.isArray(v)) v.forEach(x => u.append(k, x));
      else u.append(k, v);
    }
    const s = u.toString();
    return s ? '?' + s : '';
  }

  function cookie(name) {
    for (const part of document.cookie.split(';')) {
      const i = part.indexOf('=');
      if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
    }
    return null;
  }

  function fail(msg, opts) {
    if (!opts.quiet) toast(msg, 'error');
    return new ApiError(msg);
  }

  /* One API call. path is relative ("topic/list.query": works behind a context path). body,
   * unless null/undefined, is sent as JSON. Resolves to the envelope's data; on status -1 the errMsg is
   * toasted (unless opts.quiet) and the promise rejects with an ApiError. opts.raw: a non-JSON
   * answer (a download) resolves to the Response itself. */
  async function call(method, path, params, body, opts = {}) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET' && method !== 'HEAD') {
      const t = cookie('XSRF-TOKEN');
      if (t) headers['X-XSRF-TOKEN'] = t;
    }
    let payload;
    if (body != null) {
      headers['Content-Type'] = 'application/json;charset=UTF-8';
      payload = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path + query(params), { method, headers, body: payload, credentials: 'same-origin' });
    } catch (e) {
      throw fail('Network error: ' + e.message, opts);
    }
    const type = res.headers.get('Content-Type') || '';
    if (opts.raw && res.ok && !type.includes('json')) return res;
    if (!type.includes('json')) {
      /* the 302 to #/login was followed to the index page: the session is gone */
      if (res.redirected || type.includes('html')) {
        needLogin();
        throw fail('Please log in', opts);
      }
      throw fail(`HTTP ${res.status} on ${path}`, opts);
    }
    let env;
    try {
      env = await res.json();
    } catch (e) {
      throw fail(`Bad answer from ${path}: ${e.message}`, opts);
    }
    if (!env || env.status !== 0) {
      const msg = (env && env.errMsg) || `HTTP ${res.status} on ${path}`;
      if (msg === 'user not login') needLogin();
      throw fail(msg, opts);
    }
    return env.data;
  }

  const get = (path, params, opts) => call('GET', path, params, undefined, opts);
  const post = (path, params, body, opts) => call('POST', path, params, body, opts);

  /* Fetch a file answer (xlsx export) and hand it to the browser as a download. */
  async function download(method, path, params, body, fallbackName) {
    const res = await call(method, path, params, body, { raw: true });
    const blob = await res.blob();
    const cd = res.headers.get('Content-Disposition') || '';
    const m = cd.match(/filename\*?=(?:UTF-8'')?"?([^";]+)"?/i);
    const name = m ? decodeURIComponent(m[1]) : fallbackName;
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: name, style: 'display:none' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    return name;
  }

  /* ---- login state ---- */

  function isAdmin() { return !session.loginRequired || session.role === 1; }
  /* A write control: shown to admins only (the server refuses normal users anyway). */
  function adminOnly(el) { return isAdmin() ? el : null; }

  function needLogin() {
    session.logined = false;
    if (!location.hash.startsWith('#/login')) {
      const here = location.hash || '#/';
      location.hash = '#/login?redirect=' + encodeURIComponent(here);
    }
  }

  function setUser(name, role) {
    session.user = name || '';
    session.role = Number(role || 0);
    session.logined = true;
    sessionStorage.setItem('username', session.user);
    sessionStorage.setItem('userrole', String(session.role));
    drawUser();
  }

  function clearUser() {
    session.user = '';
    session.role = 0;
    session.logined = false;
    sessionStorage.removeItem('username');
    sessionStorage.removeItem('userrole');
    drawUser();
  }

  function drawUser() {
    const box = document.getElementById('userbox');
    if (!box) return;
    box.replaceChildren();
    if (!session.loginRequired || !session.logined) return;
    add(box, [
      h('span', { class: 'user', id: 'current-user', 'data-test': 'current-user' },
        (session.user || 'user') + (session.role === 1 ? ' (admin)' : '')),
      btn('Logout', logout, 'btn-link', { id: 'logout' }),
    ]);
  }

  async function logout() {
    try { await post('login/logout.do'); } catch (e) { /* toasted; the local state goes anyway */ }
    clearUser();
    location.hash = '#/login';
  }

  /* ---- router ---- */

  /* Register a page: def = {render(root, params), title}. The route is '#/' + name. */
  function page(name, def) { pages[name] = def; }

  /* Undo fn when the page is left (clearInterval, chart.destroy). */
  function onLeave(fn) { cleanups.push(fn); }
  /* Run fn every ms while the page is on screen (live TPS). */
  function every(ms, fn) {
    const id = setInterval(fn, ms);
    onLeave(() => clearInterval(id));
  }

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const i = raw.indexOf('?');
    return { name: i < 0 ? raw : raw.slice(0, i), params: new URLSearchParams(i < 0 ? '' : raw.slice(i + 1)) };
  }

  async function route() {
    const { name, params } = parseHash();
    for (const f of cleanups) { try { f(); } catch (e) { console.error(e); } }
    cleanups = [];
    closeModals();
    if (session.loginRequired && !session.logined && name !== 'login') {
      needLogin();
      return;
    }
    const key = pages[name] ? name : '404';
    for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.route === key);
    const root = h('div', { id: 'page-' + (key || 'dashboard'), class: 'page', 'data-page': key || 'dashboard' });
    document.getElementById('view').replaceChildren(root);
    document.title = (pages[key].title || 'Dashboard') + ' - RocketMQ Dashboard';
    try {
      await pages[key].render(root, params);
    } catch (e) {
      if (!(e instanceof ApiError)) { console.error(e); toast(String(e.message || e), 'error'); }
    }
    root.setAttribute('data-ready', '1');
  }

  async function boot() {
    try {
      const c = await get('login/check.query', null, { quiet: true });
      session.loginRequired = !!(c && c.loginRequired);
      session.logined = !session.loginRequired || !!(c && c.logined);
      if (c && c.loginUserName) setUser(c.loginUserName, c.loginUserRole);
      if (!session.logined) clearUser();
    } catch (e) {
      /* an old server without login/check: no login */
    }
    drawUser();
    window.addEventListener('hashchange', route);
    await route();
    document.body.setAttribute('data-booted', '1');
  }

  /* ---- tables and paging ---- */

  /* A pager for a list of total rows: « 1 2 … n » and "Total N". onPage(n) gets the 1-based page. */
  function pager(total, pageNum, pageSize, onPage) {
    const pages = Math.max(1, Math.ceil(total / pageSize));
    const box = h('div', { class: 'pager', 'data-test': 'pager' },
      h('span', { class: 'total', 'data-test': 'total' }, `Total ${total}`));
    const go = n => () => { if (n >= 1 && n <= pages && n !== pageNum) onPage(n); };
    const item = (label, n, cls) => h('button', { type: 'button', class: 'page-btn ' + (cls || ''),
      disabled: n < 1 || n > pages || n === pageNum, 'data-page': n, onclick: go(n) }, label);
    box.append(item('\u00ab', pageNum - 1, 'prev'));
    const shown = new Set([1, pages]);
    for (let i = pageNum - 2; i <= pageNum + 2; i++) if (i >= 1 && i <= pages) shown.add(i);
    let last = 0;
    for (const n of [...shown].sort((a, b) => a - b)) {
      if (n - last > 1) box.append(h('span', { class: 'gap' }, '\u2026'));
      box.append(item(String(n), n, n === pageNum ? 'current' : ''));
      last = n;
    }
    box.append(item('\u00bb', pageNum + 1, 'next'));
    return box;
  }

  /* A table. cols: [{title, key | render(row) -> node/string, sort: true | fn(row) -> value,
   * firstDir, cls}]. opts: pageSize (client-side paging, 0 = none; default 10 as the original),
   * empty (text of the single row when there is nothing), test (data-test of the table),
   * rowAttrs(row), sort: {col, dir} the order shown, onSort(col, dir): the server sorts (a paged
   * list): a header click calls it instead of reordering the rows here. */
  function table(cols, rows, opts = {}) {
    const size = opts.pageSize === undefined ? 10 : opts.pageSize;
    const wrap = h('div', { class: 'table-wrap' });
    let pageNum = 1;
    let sortCol = opts.sort ? opts.sort.col : -1;
    let sortDir = opts.sort ? opts.sort.dir : 1;
    const cellOf = (c, r) => (c.render ? c.render(r) : show(r[c.key]));
    const sortVal = (c, r) => (typeof c.sort === 'function' ? c.sort(r) : r[c.key]);
    function ordered() {
      if (sortCol < 0 || opts.onSort) return rows;
      const c = cols[sortCol];
      return rows.slice().sort((a, b) => {
        const x = sortVal(c, a), y = sortVal(c, b);
        return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
      });
    }
    function draw() {
      const all = ordered();
      const pages = size ? Math.max(1, Math.ceil(all.length / size)) : 1;
      if (pageNum > pages) pageNum = pages;
      const shown = size ? all.slice((pageNum - 1) * size, pageNum * size) : all;
      const head = h('tr', {}, cols.map((c, i) => {
        const th = h('th', { class: (c.cls || '') + (c.sort ? ' sortable' : '') }, c.title);
        if (c.sort) {
          if (i === sortCol) th.append(sortDir > 0 ? ' \u25b2' : ' \u25bc');
          th.addEventListener('click', () => {
            sortDir = i === sortCol ? -sortDir : (c.firstDir || 1);
            sortCol = i;
            if (opts.onSort) opts.onSort(i, sortDir);
            else draw();
          });
        }
        return th;
      }));
      const body = shown.length
        ? shown.map(r => h('tr', Object.assign({ 'data-test': 'row' }, opts.rowAttrs ? opts.rowAttrs(r) : {}),
          cols.map(c => h('td', { class: c.cls || null, 'data-col': c.col || c.key || null }, cellOf(c, r)))))
        : [h('tr', { class: 'empty-row', 'data-test': 'empty' }, h('td', { colspan: cols.length }, opts.empty || 'No data'))];
      fill(wrap,
        h('table', { class: 'table', 'data-test': opts.test || null }, h('thead', {}, head), h('tbody', {}, body)),
        size && all.length > size ? pager(all.length, pageNum, size, n => { pageNum = n; draw(); }) : null);
    }
    draw();
    return wrap;
  }

  /* ---- forms and formats ---- */

  const pad = n => String(n).padStart(2, '0');
  /* epoch ms -> "yyyy-MM-dd HH:mm:ss" (local), "N/A" for 0/none. */
  function fmtTime(ms) {
    ms = Number(ms);
    if (!ms || ms <= 0) return 'N/A';
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  /* epoch ms -> the value of an <input type=datetime-local step=1>. */
  function dtValue(ms) { return fmtTime(ms).replace(' ', 'T'); }
  function dtParse(s) { const t = new Date(s).getTime(); return Number.isFinite(t) ? t : NaN; }
  function today() { const d = new Date(); return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`; }
  /* The first number of a runtime-info value such as "12.5 10.1 3.0", with 2 decimals. */
  function firstNum(s) { const n = parseFloat(String(s || '').trim().split(/\s+/)[0]); return Number.isFinite(n) ? n : 0; }

  /* Run fn (through act) when Enter is pressed in any of the inputs: the search boxes. */
  function onEnter(inputs, fn) {
    const run = act(fn);
    for (const i of [inputs].flat()) i.addEventListener('keydown', e => { if (e.key === 'Enter') run(); });
  }

  /* A labelled form row. */
  function field(label, input, hint) {
    return h('div', { class: 'field' }, h('label', {}, label), input, hint ? h('span', { class: 'hint' }, hint) : null);
  }

  /* A group of checkboxes (clusters, brokers, groups): {el, values()}. */
  function checks(name, values, checked = []) {
    const boxes = values.map(v => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name, value: v, checked: checked.includes(v), 'data-test': name + '-choice' }), ' ', v));
    const el = h('div', { class: 'checks', 'data-test': name }, boxes.length ? boxes : h('span', { class: 'empty' }, 'none'));
    return { el, values: () => boxes.map(b => b.firstChild).filter(i => i.checked).map(i => i.value) };
  }

  /* Tabs: [{id, title, render(panel)}] -> element; the first is shown. */
  function tabs(list, testPrefix) {
    const bar = h('div', { class: 'tabs' });
    const panels = h('div', { class: 'tab-panels' });
    const items = list.map(t => {
      const panel = h('div', { class: 'tab-panel', id: 'tab-' + t.id, hidden: true });
      t.render(panel);
      panels.append(panel);
      const b = h('button', { type: 'button', class: 'tab', id: (testPrefix || 'tab') + '-' + t.id,
        'data-test': 'tab-' + t.id, onclick: () => pick(t.id) }, t.title);
      bar.append(b);
      return { t, b, panel };
    });
    function pick(id) {
      for (const it of items) {
        it.b.classList.toggle('active', it.t.id === id);
        it.panel.hidden = it.t.id !== id;
      }
    }
    if (items.length) pick(items[0].t.id);
    return h('div', {}, bar, panels);
  }

  /* An input that suggests values while typing (a datalist refreshed from fetcher(text), which
   * returns names): lists of 10,000 topics are never loaded whole. */
  function suggest(input, fetcher) {
    const id = 'dl-' + Math.random().toString(36).slice(2);
    const list = h('datalist', { id });
    input.setAttribute('list', id);
    input.setAttribute('autocomplete', 'off');
    let timer = null, seq = 0;
    const refresh = () => {
      const mine = ++seq;
      fetcher(input.value.trim()).then(names => {
        if (mine !== seq) return;
        list.replaceChildren(...names.slice(0, 50).map(n => h('option', { value: n })));
      }).catch(() => {});
    };
    input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(refresh, 250); });
    input.addEventListener('focus', refresh, { once: true });
    return h('span', { class: 'suggest' }, input, list);
  }

  /* Topic names for a suggest box (server-side filtered, one page). */
  async function topicNames(filter, types = 'NORMAL,RETRY,DLQ,SYSTEM') {
    const d = await get('topic/list.queryTopicType', { pageNum: 1, pageSize: 50, filter, types }, { quiet: true });
    return (d.topicNameList || []).map(t => t.replace(/^%SYS%/, ''));
  }
  async function groupNames(filter, types = 'NORMAL,FIFO') {
    const d = await get('consumer/groupList.query', { pageNum: 1, pageSize: 50, filter, types }, { quiet: true });
    return (d.list || []).map(g => g.group.replace(/^%SYS%/, ''));
  }

  return {
    h, add, fill, act, btn, toast, toastLog, modal, kvModal, kvTable, closeModals, show, ApiError,
    call, get, post, download, cookie, session, isAdmin, adminOnly, setUser, clearUser, drawUser, logout,
    page, onLeave, every, route, boot, pager, table, fmtTime, dtValue, dtParse, today, firstNum,
    field, onEnter, checks, tabs, suggest, topicNames, groupNames,
  };
})();
