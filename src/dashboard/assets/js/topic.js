/* topic.js: #/topic, the topic list paged and filtered by the server
 * (topic/list.queryTopicType with pageNum, pageSize, filter, types) and every per-topic action
 * of rocketmq-dashboard 2.0: Status, Router, Consumer manage, Topic config, Send message,
 * Reset consumer offset, Skip message accumulate, Delete, and the Add/Update dialog. */
'use strict';

(() => {
  const { h, btn } = LL;
  const PAGE_SIZE = 20;
  const PERMS = [['6', '6 (read + write)'], ['4', '4 (read)'], ['2', '2 (write)']];
  const MESSAGE_TYPES = ['NORMAL', 'FIFO', 'DELAY', 'TRANSACTION'];

  /* cluster/list.query -> {clusters: {name: [brokerNames]}, brokers: [names]} for the dialogs */
  async function clusterChoices() {
    const d = await LL.get('cluster/list.query');
    const clusters = (d.clusterInfo && d.clusterInfo.clusterAddrTable) || {};
    const brokers = Object.keys((d.clusterInfo && d.clusterInfo.brokerAddrTable) || {}).sort();
    return { clusters, brokers };
  }

  function numInput(id, value) {
    return h('input', { type: 'number', min: 1, max: 1024, id, value: String(value) });
  }
  function permSelect(id, value, disabled) {
    return h('select', { id, value: String(value || 6), disabled }, PERMS.map(([v, t]) => h('option', { value: v }, t)));
  }

  /* The Add/Update dialog in create mode: clusters or brokers, name, type, queues, perm. */
  async function createDialog(onDone) {
    const { clusters, brokers } = await clusterChoices();
    const names = Object.keys(clusters).sort();
    const cl = LL.checks('topic-cluster', names, names.length === 1 ? names : []);
    const br = LL.checks('topic-broker', brokers);
    const name = h('input', { type: 'text', id: 'topic-form-name', 'data-test': 'topic-form-name' });
    const type = h('select', { id: 'topic-form-type', value: 'NORMAL' }, MESSAGE_TYPES.map(t => h('option', { value: t }, t)));
    const w = numInput('topic-form-write', 8), r = numInput('topic-form-read', 8);
    const perm = permSelect('topic-form-perm', 6);
    const m = LL.modal('Add/Update Topic', [
      LL.field('clusterName', cl.el), LL.field('brokerName', br.el), LL.field('topicName', name),
      LL.field('messageType', type), LL.field('writeQueueNums', w), LL.field('readQueueNums', r), LL.field('perm', perm),
    ], {
      test: 'topic-dialog',
      footer: [btn('Commit', async () => {
        const topicName = name.value.trim();
        if (!topicName) return LL.toast('topicName is required', 'error');
        if (!cl.values().length && !br.values().length) return LL.toast('clusterName or brokerName can not be all blank', 'error');
        await LL.post('topic/createOrUpdate.do', null, {
          clusterNameList: cl.values(), brokerNameList: br.values(), topicName,
          writeQueueNums: Number(w.value), readQueueNums: Number(r.value), perm: Number(perm.value),
          order: false, messageType: type.value,
        });
        LL.toast('Topic ' + topicName + ' committed', 'ok');
        m.close();
        onDone();
      }, 'btn-primary', { id: 'topic-form-commit', 'data-test': 'topic-form-commit' }),
      btn('Close', () => m.close(), 'btn-default')],
    });
    name.focus();
  }

  /* Topic config: one form per broker hosting the topic (name, broker and type locked). */
  async function configDialog(topic, onDone) {
    const list = await LL.get('topic/examineTopicConfig.query', { topic });
    const admin = LL.isAdmin();
    const forms = (list || []).map((c, i) => {
      const bn = (c.brokerNameList || [])[0] || '';
      const w = numInput('topic-config-write-' + i, c.writeQueueNums), r = numInput('topic-config-read-' + i, c.readQueueNums);
      const perm = permSelect('topic-config-perm-' + i, c.perm, !admin);
      if (!admin) { w.disabled = true; r.disabled = true; }
      return h('div', { class: 'form-box', 'data-broker': bn },
        h('h4', {}, 'Broker ' + bn),
        LL.field('topicName', h('input', { type: 'text', value: c.topicName, disabled: true })),
        LL.field('messageType', h('input', { type: 'text', value: c.messageType || 'UNSPECIFIED', disabled: true })),
        LL.field('writeQueueNums', w), LL.field('readQueueNums', r), LL.field('perm', perm),
        LL.adminOnly(h('div', { class: 'form-actions' }, btn('Commit', async () => {
          await LL.post('topic/createOrUpdate.do', null, {
            clusterNameList: [], brokerNameList: [bn], topicName: c.topicName,
            writeQueueNums: Number(w.value), readQueueNums: Number(r.value), perm: Number(perm.value),
            order: !!c.order, messageType: c.messageType || 'NORMAL',
          });
          LL.toast(`Topic ${c.topicName} updated on ${bn}`, 'ok');
          onDone();
        }, 'btn-primary btn-sm'))));
    });
    LL.modal('Topic config: ' + topic, forms.length ? forms : h('p', { class: 'empty' }, 'No config'), { test: 'topic-config' });
  }

  async function statusDialog(topic) {
    const d = await LL.get('topic/stats.query', { topic });
    const table = d.offsetTable || {};
    const rows = Object.keys(table).map(q => Object.assign({ queue: q }, table[q]));
    const qid = q => Number((/queueId=(\d+)/.exec(q) || [0, 0])[1]);
    rows.sort((a, b) => (a.queue.replace(/queueId=\d+/, '') < b.queue.replace(/queueId=\d+/, '') ? -1 : 1) || qid(a.queue) - qid(b.queue));
    LL.modal('[' + topic + '] Status', LL.table([
      { title: 'Queue', key: 'queue' },
      { title: 'minOffset', key: 'minOffset', cls: 'num' },
      { title: 'maxOffset', key: 'maxOffset', cls: 'num' },
      { title: 'lastUpdateTimeStamp', render: r => LL.fmtTime(r.lastUpdateTimestamp) },
    ], rows, { pageSize: 0, test: 'topic-stats' }), { wide: true, test: 'topic-status' });
  }

  async function routeDialog(topic) {
    const d = await LL.get('topic/route.query', { topic });
    LL.modal('[' + topic + '] Router', [
      h('h4', {}, 'brokerDatas'),
      LL.table([
        { title: 'broker', key: 'brokerName' },
        { title: 'cluster', key: 'cluster' },
        { title: 'brokerAddrs', render: b => Object.entries(b.brokerAddrs || {}).map(([id, a]) => `${id}: ${a}`).join(', ') },
      ], d.brokerDatas || [], { pageSize: 0, test: 'route-brokers' }),
      h('h4', {}, 'queueDatas'),
      LL.table([
        { title: 'brokerName', key: 'brokerName' },
        { title: 'readQueueNums', key: 'readQueueNums', cls: 'num' },
        { title: 'writeQueueNums', key: 'writeQueueNums', cls: 'num' },
        { title: 'perm', key: 'perm', cls: 'num' },
      ], d.queueDatas || [], { pageSize: 0, test: 'route-queues' }),
    ], { wide: true, test: 'topic-route' });
  }

  /* Per-queue progress of one group on one topic (TopicConsumerInfo), used here and by the
   * Consumer page's CONSUME DETAIL. onClient(clientId) opens the client's running info. */
  LL.consumeProgress = function (info, onClient) {
    return h('div', { class: 'form-box', 'data-topic': info.topic },
      h('div', { class: 'toolbar' },
        h('b', {}, info.group ? 'group: ' + info.group : 'topic: ' + info.topic),
        h('span', {}, 'Delay: ', h('b', { 'data-test': 'progress-delay' }, String(info.diffTotal))),
        h('span', {}, 'LastConsumeTime: ' + LL.fmtTime(info.lastTimestamp))),
      LL.table([
        { title: 'broker', key: 'brokerName' },
        { title: 'queue', key: 'queueId', cls: 'num' },
        { title: 'consumerClient', render: q => q.clientInfo && onClient
          ? h('a', { href: 'javascript:void 0', onclick: () => onClient(q.clientInfo) }, q.clientInfo) : (q.clientInfo || '') },
        { title: 'brokerOffset', key: 'brokerOffset', cls: 'num' },
        { title: 'consumerOffset', key: 'consumerOffset', cls: 'num' },
        { title: 'diffTotal', cls: 'num', render: q => (Number(q.brokerOffset) || 0) - (Number(q.consumerOffset) || 0) },
        { title: 'lastTimeStamp', render: q => LL.fmtTime(q.lastTimestamp) },
      ], info.queueStatInfoList || [], { pageSize: 0 }));
  };

  async function consumerDialog(topic) {
    const d = await LL.get('topic/queryConsumerByTopic.query', { topic }) || {};
    const groups = Object.keys(d).sort();
    LL.modal('[' + topic + '] Consumer manage',
      groups.length ? groups.map(g => LL.consumeProgress(Object.assign({ group: g }, d[g])))
        : h('p', { class: 'empty' }, "Don't have SubscriptionGroup"), { wide: true, test: 'topic-consumers' });
  }

  async function sendDialog(topic) {
    const tag = h('input', { type: 'text', id: 'send-tag', value: 'tag' });
    const key = h('input', { type: 'text', id: 'send-key', value: 'key' });
    const body = h('textarea', { id: 'send-body' }, 'messageBody');
    const trace = h('input', { type: 'checkbox', id: 'send-trace' });
    const m = LL.modal('Send Message', [
      LL.field('Topic', h('input', { type: 'text', value: topic, disabled: true })),
      LL.field('Tag', tag), LL.field('Key', key), LL.field('Message Body', body),
      LL.field('Enable Message Trace', trace),
    ], {
      test: 'send-dialog',
      footer: [btn('Commit', async () => {
        const res = await LL.post('topic/sendTopicMessage.do', null,
          { topic, key: key.value, tag: tag.value, messageBody: body.value, traceEnabled: trace.checked });
        m.close();
        LL.kvModal('Send Result', res, 'send-result');
      }, 'btn-primary', { id: 'send-commit' }), btn('Close', () => m.close(), 'btn-default')],
    });
  }

  /* Reset consumer offset (to a time) or skip accumulation (resetTime -1) for chosen groups. */
  async function resetDialog(topic, skip) {
    const d = await LL.get('topic/queryTopicConsumerInfo.query', { topic });
    const groups = (d && d.groupList) || [];
    if (!groups.length) return LL.toast("don't have consume group!", 'error');
    const pick = LL.checks('reset-group', groups.slice().sort());
    const time = h('input', { type: 'datetime-local', step: 1, id: 'reset-time', value: LL.dtValue(Date.now()) });
    const path = skip ? 'consumer/skipAccumulate.do' : 'consumer/resetOffset.do';
    const m = LL.modal(skip ? 'Skip Message Accumulate' : 'Reset Consumer Offset', [
      LL.field('subscriptionGroup', pick.el),
      skip ? null : LL.field('time', time),
    ], {
      test: 'reset-dialog',
      footer: [btn(skip ? 'Commit' : 'Reset', async () => {
        const list = pick.values();
        if (!list.length) return LL.toast('Choose a consumer group', 'error');
        const resetTime = skip ? -1 : LL.dtParse(time.value);
        if (!Number.isFinite(resetTime)) return LL.toast('Bad time', 'error');
        const res = await LL.post(path, null, { consumerGroupList: list, topic, resetTime, force: true });
        m.close();
        showResetResult(res);
      }, 'btn-primary', { id: 'reset-commit' }), btn('Close', () => m.close(), 'btn-default')],
    });
  }

  function showResetResult(res) {
    const parts = Object.keys(res || {}).sort().map(g => {
      const r = res[g] || {};
      return h('div', { class: 'form-box' },
        h('div', { class: 'toolbar' }, h('b', {}, g), h('span', { class: 'badge ' + (r.status ? 'badge-ok' : 'badge-bad') },
          r.status ? 'OK' : 'FAILED'), r.errMsg ? h('span', {}, r.errMsg) : null),
        LL.table([
          { title: 'brokerName', key: 'brokerName' }, { title: 'queueId', key: 'queueId', cls: 'num' },
          { title: 'brokerOffset', key: 'brokerOffset', cls: 'num' }, { title: 'consumerOffset', key: 'consumerOffset', cls: 'num' },
          { title: 'timestampOffset', key: 'timestampOffset', cls: 'num' }, { title: 'rollbackOffset', key: 'rollbackOffset', cls: 'num' },
        ], r.rollbackStatsList || [], { pageSize: 0 }));
    });
    LL.modal('Result', parts.length ? parts : h('p', { class: 'empty' }, 'No result'), { wide: true, test: 'reset-result' });
  }

  LL.showResetResult = showResetResult;

  LL.page('topic', {
    title: 'Topic',
    async render(root) {
      const filter = h('input', { type: 'text', id: 'topic-filter', 'data-test': 'topic-filter', placeholder: 'Topic name' });
      const types = ['NORMAL', 'RETRY', 'DLQ', 'SYSTEM'].map(t => h('input', { type: 'checkbox', value: t, id: 'topic-type-' + t, checked: t === 'NORMAL' }));
      const body = h('div', { id: 'topic-body' });
      let pageNum = 1, seq = 0, timer = null;
      root.append(h('div', { class: 'toolbar' },
        h('label', { for: 'topic-filter' }, 'Topic:'), filter,
        types.map(c => h('label', { class: 'check' }, c, ' ', c.value)),
        h('span', { class: 'spacer' }),
        LL.adminOnly(btn('Add/Update', () => createDialog(load), 'btn-primary', { id: 'topic-add', 'data-test': 'topic-add' })),
        btn('Refresh', () => load(), 'btn-primary', { id: 'topic-refresh' })), body);

      function actions(name, sys) {
        const b = (label, fn, cls = 'btn-primary btn-sm') => btn(label, fn, cls, { 'data-test': 'topic-' + label.toLowerCase().replace(/\W+/g, '-') });
        return h('div', { class: 'ops' },
          b('Status', () => statusDialog(name)),
          b('Router', () => routeDialog(name)),
          b('Consumer Manage', () => consumerDialog(name)),
          b('Topic Config', () => configDialog(name, load)),
          sys ? null : b('Send Message', () => sendDialog(name)),
          sys ? null : LL.adminOnly(b('Reset Consumer Offset', () => resetDialog(name, false))),
          sys ? null : LL.adminOnly(b('Skip Message Accumulate', () => resetDialog(name, true))),
          sys ? null : LL.adminOnly(b('Delete', async () => {
            if (!confirm('Are you sure to delete?')) return;
            await LL.post('topic/deleteTopic.do', { topic: name });
            LL.toast('Topic ' + name + ' deleted', 'ok');
            await load();
          }, 'btn-danger btn-sm')));
      }

      async function load() {
        const mine = ++seq;
        const d = await LL.get('topic/list.queryTopicType', {
          pageNum, pageSize: PAGE_SIZE, filter: filter.value.trim(),
          types: types.filter(c => c.checked).map(c => c.value).join(','),
        });
        if (mine !== seq) return;   /* a newer search answered first */
        const names = d.topicNameList || [], kinds = d.messageTypeList || [];
        const rows = names.map((n, i) => {
          const sys = n.startsWith('%SYS%') || kinds[i] === 'SYSTEM';
          return { name: n.replace(/^%SYS%/, ''), type: kinds[i] || '', sys };
        });
        const total = d.total !== undefined ? d.total : rows.length;
        LL.fill(body,
          LL.table([
            { title: 'Topic', render: r => h('span', { class: r.sys ? 'sys' : null, 'data-test': 'topic-name' }, r.name) },
            { title: 'Type', key: 'type' },
            { title: 'Operation', render: r => actions(r.name, r.sys) },
          ], rows, { pageSize: 0, test: 'topic-table', empty: 'No topic', rowAttrs: r => ({ 'data-topic': r.name }) }),
          LL.pager(total, d.pageNum || pageNum, d.pageSize || PAGE_SIZE, n => { pageNum = n; LL.act(load)(); }));
      }

      const search = () => { pageNum = 1; clearTimeout(timer); timer = setTimeout(LL.act(load), 250); };
      filter.addEventListener('input', search);
      filter.addEventListener('keydown', e => { if (e.key === 'Enter') { clearTimeout(timer); pageNum = 1; LL.act(load)(); } });
      types.forEach(c => c.addEventListener('change', search));
      LL.onLeave(() => clearTimeout(timer));
      await load();
    },
  });
})();
