/* consumer.js: #/consumer, the consumer groups paged and filtered by the server
 * (consumer/groupList.query with pageNum, pageSize, filter, types), their client count,
 * version, type, mode, TPS and Delay (lag), and the per-group actions: CLIENT (connections and
 * subscriptions), CONSUME DETAIL (per-queue progress, client running info), CONFIG (update per
 * broker), DELETE (on chosen brokers), plus the Add/Update dialog and auto refresh. */
'use strict';

(() => {
  const { h, btn } = LL;
  const PAGE_SIZE = 20;

  function flag(id, label, on) {
    const c = h('input', { type: 'checkbox', id, checked: on });
    return { c, el: h('label', { class: 'check' }, c, ' ' + label) };
  }
  function num(id, v) { return h('input', { type: 'number', id, value: String(v) }); }

  /* The subscription group form: fields of SubscriptionGroupConfig the original dialog edits. */
  function groupForm(prefix, cfg, locked) {
    const f = {
      groupName: h('input', { type: 'text', id: prefix + '-name', value: cfg.groupName || '', disabled: locked }),
      consumeEnable: flag(prefix + '-consumeEnable', 'consumeEnable', cfg.consumeEnable !== false),
      consumeOrderly: flag(prefix + '-orderly', 'consumeOrderlyEnable', !!cfg.consumeMessageOrderly),
      broadcast: flag(prefix + '-broadcast', 'consumeBroadcastEnable', cfg.consumeBroadcastEnable !== false),
      retryQueueNums: num(prefix + '-retryQueueNums', cfg.retryQueueNums ?? 1),
      brokerId: num(prefix + '-brokerId', cfg.brokerId ?? 0),
      retryMaxTimes: num(prefix + '-retryMaxTimes', cfg.retryMaxTimes ?? 16),
      slowly: num(prefix + '-whichBrokerWhenConsumeSlowly', cfg.whichBrokerWhenConsumeSlowly ?? 1),
    };
    f.fields = [
      LL.field('groupName', f.groupName),
      LL.field('', h('div', { class: 'checks' }, f.consumeEnable.el, f.consumeOrderly.el, f.broadcast.el)),
      LL.field('retryQueueNums', f.retryQueueNums), LL.field('brokerId', f.brokerId),
      LL.field('retryMaxTimes', f.retryMaxTimes), LL.field('whichBrokerWhenConsumeSlowly', f.slowly),
    ];
    f.value = () => Object.assign({}, cfg, {
      groupName: f.groupName.value.trim(),
      consumeEnable: f.consumeEnable.c.checked,
      consumeMessageOrderly: f.consumeOrderly.c.checked,
      consumeBroadcastEnable: f.broadcast.c.checked,
      consumeFromMinEnable: cfg.consumeFromMinEnable !== undefined ? cfg.consumeFromMinEnable : true,
      retryQueueNums: Number(f.retryQueueNums.value),
      brokerId: Number(f.brokerId.value),
      retryMaxTimes: Number(f.retryMaxTimes.value),
      whichBrokerWhenConsumeSlowly: Number(f.slowly.value),
    });
    return f;
  }

  async function createDialog(onDone) {
    const d = await LL.get('cluster/list.query');
    const clusters = Object.keys((d.clusterInfo && d.clusterInfo.clusterAddrTable) || {}).sort();
    const brokers = Object.keys((d.clusterInfo && d.clusterInfo.brokerAddrTable) || {}).sort();
    const cl = LL.checks('group-cluster', clusters, clusters.length === 1 ? clusters : []);
    const br = LL.checks('group-broker', brokers);
    const f = groupForm('group-form', {}, false);
    const m = LL.modal('Add/Update Consumer Group', [LL.field('clusterName', cl.el), LL.field('brokerName', br.el), f.fields], {
      test: 'group-dialog',
      footer: [btn('Commit', async () => {
        const cfg = f.value();
        if (!cfg.groupName) return LL.toast('groupName is required', 'error');
        if (!cl.values().length && !br.values().length) return LL.toast('clusterName or brokerName can not be all blank', 'error');
        await LL.post('consumer/createOrUpdate.do', null, { clusterNameList: cl.values(), brokerNameList: br.values(), subscriptionGroupConfig: cfg });
        LL.toast('Group ' + cfg.groupName + ' committed', 'ok');
        m.close();
        onDone();
      }, 'btn-primary', { id: 'group-form-commit' }), btn('Close', () => m.close(), 'btn-default')],
    });
  }

  async function configDialog(group, onDone) {
    const list = await LL.get('consumer/examineSubscriptionGroupConfig.query', { consumerGroup: group });
    const admin = LL.isAdmin();
    const forms = (list || []).map((c, i) => {
      const bn = (c.brokerNameList || [])[0] || '';
      const f = groupForm('group-config-' + i, c.subscriptionGroupConfig || {}, true);
      return h('div', { class: 'form-box', 'data-broker': bn }, h('h4', {}, 'Broker ' + bn), f.fields,
        LL.adminOnly(h('div', { class: 'form-actions' }, btn('Commit', async () => {
          await LL.post('consumer/createOrUpdate.do', null, { clusterNameList: [], brokerNameList: [bn], subscriptionGroupConfig: f.value() });
          LL.toast(`Group ${group} updated on ${bn}`, 'ok');
          onDone();
        }, 'btn-primary btn-sm'))));
    });
    if (!admin) forms.forEach(el => el.querySelectorAll('input').forEach(i => { i.disabled = true; }));
    LL.modal('[' + group + '] Config', forms.length ? forms : h('p', { class: 'empty' }, 'No config'), { test: 'group-config' });
  }

  async function deleteDialog(group, onDone) {
    const brokers = await LL.get('consumer/fetchBrokerNameList.query', { consumerGroup: group });
    const pick = LL.checks('delete-broker', (brokers || []).slice().sort(), brokers || []);
    const m = LL.modal('Delete [' + group + ']', LL.field('brokerName', pick.el), {
      test: 'group-delete',
      footer: [btn('Delete', async () => {
        const brokerNameList = pick.values();
        if (!brokerNameList.length) return LL.toast('Choose a broker', 'error');
        await LL.post('consumer/deleteSubGroup.do', null, { groupName: group, brokerNameList });
        LL.toast('Group ' + group + ' deleted', 'ok');
        m.close();
        onDone();
      }, 'btn-danger', { id: 'group-delete-commit' }), btn('Close', () => m.close(), 'btn-default')],
    });
  }

  async function clientDialog(g) {
    const d = await LL.get('consumer/consumerConnection.query', { consumerGroup: g.group, address: g.address });
    const subs = d.subscriptionTable || {};
    LL.modal('[' + g.group + '] Client', [
      LL.table([
        { title: 'ClientId', key: 'clientId' }, { title: 'ClientAddr', key: 'clientAddr' },
        { title: 'Language', key: 'language' }, { title: 'Version', render: c => c.versionDesc || c.version },
      ], d.connectionSet || [], { pageSize: 0, test: 'client-table', empty: 'No client online' }),
      h('h4', {}, 'Below is subscription:'),
      LL.table([
        { title: 'Topic', key: 'topic' }, { title: 'SubExpression', key: 'subString' },
      ], Object.keys(subs).sort().map(t => Object.assign({ topic: t }, subs[t])), { pageSize: 0, test: 'subscription-table' }),
      h('p', {}, `ConsumeType: ${d.consumeType || ''}  MessageModel: ${d.messageModel || ''}  ConsumeFromWhere: ${d.consumeFromWhere || ''}`),
    ], { wide: true, test: 'group-client' });
  }

  async function runningInfo(group, clientId) {
    const d = await LL.get('consumer/consumerRunningInfo.query', { consumerGroup: group, clientId, jstack: false });
    const status = d.statusTable || {};
    LL.modal('Client ' + clientId, [
      h('h4', {}, 'properties'), LL.kvTable(d.properties || {}),
      h('h4', {}, 'statusTable'),
      LL.table([
        { title: 'topic', key: 'topic' }, { title: 'pullRT', key: 'pullRT', cls: 'num' }, { title: 'pullTPS', key: 'pullTPS', cls: 'num' },
        { title: 'consumeRT', key: 'consumeRT', cls: 'num' }, { title: 'consumeOKTPS', key: 'consumeOKTPS', cls: 'num' },
        { title: 'consumeFailedTPS', key: 'consumeFailedTPS', cls: 'num' }, { title: 'consumeFailedMsgs', key: 'consumeFailedMsgs', cls: 'num' },
      ], Object.keys(status).sort().map(t => Object.assign({ topic: t }, status[t])), { pageSize: 0 }),
    ], { wide: true, test: 'running-info' });
  }

  async function detailDialog(g) {
    const list = await LL.get('consumer/queryTopicByConsumer.query', { consumerGroup: g.group, address: g.address });
    LL.modal('[' + g.group + '] Consume Detail',
      (list || []).length ? list.map(t => LL.consumeProgress(t, id => LL.act(runningInfo)(g.group, id)))
        : h('p', { class: 'empty' }, "Don't have consume info"), { wide: true, test: 'consume-detail' });
  }

  /* The list's columns; sortKey: the server's sort parameter (it sorts before paging). */
  const COLS = [
    { title: 'SubscriptionGroup', sort: true, sortKey: 'group', render: r => h('span', {
      class: r.subGroupType === 'SYSTEM' || r.group.startsWith('%SYS%') ? 'sys' : null, 'data-test': 'group-name' }, r.group.replace(/^%SYS%/, '')) },
    { title: 'Quantity', key: 'count', cls: 'num', sort: true, sortKey: 'count', firstDir: -1, col: 'count' },
    { title: 'Version', key: 'version' },
    { title: 'Type', key: 'consumeType' },
    { title: 'Mode', key: 'messageModel' },
    { title: 'TPS', key: 'consumeTps', cls: 'num', sort: true, sortKey: 'consumeTps', firstDir: -1, col: 'tps' },
    { title: 'Delay', cls: 'num', sort: true, sortKey: 'diffTotal', firstDir: -1, col: 'delay',
      render: r => h('span', { 'data-test': 'delay' }, String(r.diffTotal)) },
  ];

  LL.page('consumer', {
    title: 'Consumer',
    async render(root) {
      const filter = h('input', { type: 'text', id: 'group-filter', 'data-test': 'group-filter', placeholder: 'SubscriptionGroup' });
      const types = ['NORMAL', 'FIFO', 'SYSTEM'].map(t => h('input', { type: 'checkbox', value: t, id: 'group-type-' + t, checked: t === 'NORMAL' }));
      const auto = h('input', { type: 'checkbox', id: 'group-auto-refresh' });
      const spin = h('span', { class: 'spinner', hidden: true });
      const body = h('div', { id: 'group-body' });
      let pageNum = 1, seq = 0, timer = null;
      let sort = null;   /* {col, dir}: a header clicked; the server sorts the whole list */
      root.append(h('div', { class: 'toolbar' },
        h('label', { for: 'group-filter' }, 'SubscriptionGroup:'), filter,
        types.map(c => h('label', { class: 'check' }, c, ' ', c.value)),
        h('span', { class: 'spacer' }),
        LL.adminOnly(btn('Add/Update', () => createDialog(load), 'btn-primary', { id: 'group-add' })),
        btn('Refresh', () => load(), 'btn-primary', { id: 'group-refresh', 'data-test': 'group-refresh' }),
        h('label', { class: 'check' }, auto, ' AUTO_REFRESH'), spin), body);

      function actions(g) {
        const sys = g.subGroupType === 'SYSTEM' || g.group.startsWith('%SYS%');
        const name = g.group.replace(/^%SYS%/, '');
        const row = Object.assign({}, g, { group: name });
        const b = (label, fn, cls = 'btn-primary btn-sm') => btn(label, fn, cls, { 'data-test': 'group-' + label.toLowerCase().replace(/\W+/g, '-') });
        return h('div', { class: 'ops' },
          b('Client', () => clientDialog(row)),
          b('Consume Detail', () => detailDialog(row)),
          b('Config', () => configDialog(name, load)),
          sys ? null : LL.adminOnly(b('Delete', () => deleteDialog(name, load), 'btn-danger btn-sm')));
      }

      async function load(quiet) {
        const mine = ++seq;
        spin.hidden = false;
        let d;
        try {
          d = await LL.get('consumer/groupList.query', {
            pageNum, pageSize: PAGE_SIZE, filter: filter.value.trim(),
            types: types.filter(c => c.checked).map(c => c.value).join(','),
            sort: sort ? COLS[sort.col].sortKey : null, desc: sort ? sort.dir < 0 : null,
          }, { quiet });
        } finally {
          if (mine === seq) spin.hidden = true;
        }
        if (mine !== seq) return;
        const list = Array.isArray(d) ? d : (d.list || []);
        const total = Array.isArray(d) ? list.length : (d.total ?? list.length);
        LL.fill(body,
          LL.table(COLS.concat({ title: 'Operation', render: actions }), list, {
            pageSize: 0, test: 'group-table', empty: 'No consumer group', sort: sort || undefined,
            onSort: (col, dir) => { sort = { col, dir }; pageNum = 1; LL.act(load)(); },
            rowAttrs: r => ({ 'data-group': r.group.replace(/^%SYS%/, '') }) }),
          LL.pager(total, d.pageNum || pageNum, d.pageSize || PAGE_SIZE, n => { pageNum = n; LL.act(load)(); }));
      }

      const search = () => { pageNum = 1; clearTimeout(timer); timer = setTimeout(LL.act(load), 250); };
      filter.addEventListener('input', search);
      filter.addEventListener('keydown', e => { if (e.key === 'Enter') { clearTimeout(timer); pageNum = 1; LL.act(load)(); } });
      types.forEach(c => c.addEventListener('change', search));
      LL.every(10000, () => { if (auto.checked) load(true).catch(() => {}); });
      LL.onLeave(() => clearTimeout(timer));
      await load();
    },
  });
})();
