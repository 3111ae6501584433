/* trace.js: #/messageTrace, finding a message by key or id and its trace detail
 * (messageTrace/viewMessageTraceGraph.query): a Gantt-like Chart.js chart (floating horizontal
 * bars, one row per consumer group and a last row for the producer group, x = ms after the
 * first event, green success, red failed, yellow unknown), then the send and consume tables. */
'use strict';

(() => {
  const { h, btn } = LL;
  const COLOR = { success: '#3c9a52', failed: '#d9534f', unknown: '#e8a33d' };
  const colorOf = n => COLOR[String(n.status || '').toLowerCase()] || (n.transactionState === 'UNKNOW' ? '#9aa5b1' : '#e8a33d');
  const cost = n => (Number(n.costTime) === 0 ? '<1ms' : Number(n.costTime) < 0 ? '' : n.costTime + 'ms');

  function ganttRows(graph) {
    const rows = [];
    for (const s of graph.subscriptionNodeList || []) {
      for (const n of s.consumeNodeList || []) rows.push({ row: s.subscriptionGroup, kind: 'consume', n });
    }
    const p = graph.producerNode;
    if (p && p.traceNode) rows.push({ row: p.groupName || 'producer', kind: 'send', n: p.traceNode });
    for (const t of (p && p.transactionNodeList) || []) rows.push({ row: (p.groupName || 'producer') + ' (transaction)', kind: 'check', n: t });
    return rows.filter(r => Number(r.n.beginTimestamp) > 0);
  }

  function gantt(graph) {
    const rows = ganttRows(graph);
    if (!rows.length || typeof Chart === 'undefined') return h('p', { class: 'empty' }, 'No trace event to draw');
    const t0 = Math.min(...rows.map(r => Number(r.n.beginTimestamp)));
    const labels = [...new Set(rows.map(r => r.row))];
    const canvas = h('canvas', { id: 'trace-gantt', 'data-test': 'trace-gantt' });
    const box = h('div', { class: 'gantt', style: `height:${Math.max(140, 60 + labels.length * 44)}px` }, canvas);
    const data = rows.map(r => {
      const b = Number(r.n.beginTimestamp) - t0;
      const e = Math.max(Number(r.n.endTimestamp) - t0, b) || b;
      return { x: [b, Math.max(e, b + 1)], y: r.row, r };
    });
    /* drawn once the modal is in the page (Chart.js measures its parent) */
    requestAnimationFrame(() => {
      const chart = new Chart(canvas, {
        type: 'bar',
        data: { labels, datasets: [{ label: 'trace', data, backgroundColor: data.map(d => colorOf(d.r.n)), borderSkipped: false, barPercentage: 0.6 }] },
        options: {
          indexAxis: 'y', responsive: true, maintainAspectRatio: false, animation: false,
          scales: { x: { min: 0, title: { display: true, text: 'ms after the first event' } } },
          plugins: {
            legend: { display: false },
            tooltip: { callbacks: {
              title: items => items.length ? items[0].raw.r.row + ' (' + items[0].raw.r.kind + ')' : '',
              label: item => {
                const n = item.raw.r.n;
                return [`costTime: ${cost(n)}`, `status: ${n.status || ''}`, `begin: ${LL.fmtTime(n.beginTimestamp)}`,
                  `end: ${LL.fmtTime(n.endTimestamp)}`, `clientHost: ${n.clientHost || ''}`, `storeHost: ${n.storeHost || ''}`,
                  `retryTimes: ${n.retryTimes ?? ''}`, `msgType: ${n.msgType || ''}`,
                  n.transactionId ? `transactionId: ${n.transactionId}` : null,
                  n.transactionState ? `transactionState: ${n.transactionState}` : null,
                  n.fromTransactionCheck !== undefined ? `fromTransactionCheck: ${n.fromTransactionCheck}` : null].filter(Boolean);
              },
            } },
          },
        },
      });
      canvas.closest('.modal-back') && new MutationObserver((_, o) => {
        if (!canvas.isConnected) { chart.destroy(); o.disconnect(); }
      }).observe(document.getElementById('modals'), { childList: true });
    });
    return box;
  }

  const nodeCols = [
    { title: 'BeginTimestamp', render: n => LL.fmtTime(n.beginTimestamp) },
    { title: 'EndTimestamp', render: n => LL.fmtTime(n.endTimestamp) },
    { title: 'CostTime', render: cost },
    { title: 'Status', render: n => h('span', { class: 'badge ' + (n.status === 'success' ? 'badge-ok' : n.status === 'failed' ? 'badge-bad' : 'badge-warn') }, n.status || '') },
    { title: 'RetryTimes', key: 'retryTimes', cls: 'num' },
    { title: 'ClientHost', key: 'clientHost' },
    { title: 'StoreHost', key: 'storeHost' },
  ];

  function sendPart(p) {
    if (!p || !p.traceNode) return h('p', { class: 'empty', 'data-test': 'no-producer-trace' }, 'No Producer Trace Data');
    const n = p.traceNode;
    const kv = { Topic: p.topic, ProducerGroup: p.groupName, 'Message Key': p.keys, Tag: p.tags,
      BeginTimestamp: LL.fmtTime(n.beginTimestamp), EndTimestamp: LL.fmtTime(n.endTimestamp), CostTime: cost(n),
      MsgType: n.msgType, ClientHost: n.clientHost, StoreHost: n.storeHost, RetryTimes: n.retryTimes, OffSetMsgId: p.offSetMsgId };
    const tx = p.transactionNodeList || [];
    return h('div', { 'data-test': 'producer-trace' }, h('table', { class: 'table kv' }, h('tbody', {},
      Object.entries(kv).map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, LL.show(v)))))),
    tx.length ? [h('h4', {}, 'Check Transaction Info'), LL.table([
      { title: 'Timestamp', render: t => LL.fmtTime(t.beginTimestamp) }, { title: 'TransactionState', key: 'transactionState' },
      { title: 'FromTransactionCheck', key: 'fromTransactionCheck' }, { title: 'ClientHost', key: 'clientHost' },
      { title: 'StoreHost', key: 'storeHost' }], tx, { pageSize: 0 })] : null);
  }

  function consumePart(subs) {
    if (!subs || !subs.length) return h('p', { class: 'empty', 'data-test': 'no-consumer-trace' }, 'No Consumer Trace Data');
    return subs.map(s => h('div', { class: 'form-box', 'data-group': s.subscriptionGroup },
      h('b', {}, s.subscriptionGroup), LL.table(nodeCols, s.consumeNodeList || [], { pageSize: 0, test: 'consume-trace' })));
  }

  async function detail(msgId, traceTopic) {
    const g = await LL.get('messageTrace/viewMessageTraceGraph.query', { msgId, traceTopic }) || {};
    LL.modal('Message Trace Detail: ' + msgId, [
      h('h4', {}, 'Message Trace Graph'), gantt(g),
      h('h4', {}, 'Send Message Trace'), sendPart(g.producerNode),
      h('h4', {}, 'Consume Message Trace'), consumePart(g.subscriptionNodeList),
    ], { wide: true, test: 'trace-detail' });
  }

  LL.page('messageTrace', {
    title: 'MessageTrace',
    render(root) {
      const traceTopic = h('input', { type: 'text', id: 'trace-topic', placeholder: 'RMQ_SYS_TRACE_TOPIC' });
      const tt = () => traceTopic.value.trim() || undefined;
      const cols = () => LL.messageColumns(m => LL.showMessage(m.topic, m.msgId), m =>
        btn('Message Trace Detail', () => detail(m.msgId, tt()), 'btn-primary btn-sm', { 'data-test': 'trace-detail-btn' }));
      root.append(h('div', { class: 'toolbar' }, h('label', {}, 'TraceTopic:'),
        LL.suggest(traceTopic, f => LL.topicNames(f, 'NORMAL,SYSTEM'))), LL.tabs([
        { id: 'key', title: 'Message Key', render(p) {
          const topic = h('input', { type: 'text', id: 'trace-key-topic', placeholder: 'Topic' });
          const key = h('input', { type: 'text', id: 'trace-key', placeholder: 'Key' });
          const out = h('div');
          const search = async () => {
            if (!topic.value.trim() || !key.value.trim()) return LL.toast('Topic and Key are required', 'error');
            const list = await LL.get('message/queryMessageByTopicAndKey.query', { topic: topic.value.trim(), key: key.value.trim() });
            out.replaceChildren(LL.table(cols(), list || [], { test: 'trace-key-table', empty: 'no match result', rowAttrs: m => ({ 'data-msgid': m.msgId }) }));
          };
          p.append(h('div', { class: 'toolbar' }, h('label', {}, 'Topic:'), LL.suggest(topic, f => LL.topicNames(f, 'NORMAL')),
            h('label', {}, 'Key:'), key, btn('Search', search, 'btn-primary', { id: 'trace-key-search' }),
            h('span', { class: 'hint' }, 'Only Return 64 Messages')), out);
          LL.onEnter([topic, key], search);
        } },
        { id: 'id', title: 'Message ID', render(p) {
          const topic = h('input', { type: 'text', id: 'trace-id-topic', placeholder: 'Topic' });
          const id = h('input', { type: 'text', id: 'trace-id', placeholder: 'Message ID', size: 40 });
          const out = h('div');
          const search = async () => {
            if (!id.value.trim()) return LL.toast('Message ID is required', 'error');
            const d = await LL.get('messageTrace/viewMessage.query', { topic: topic.value.trim(), msgId: id.value.trim() });
            const m = (d && d.messageView) || d;
            out.replaceChildren(LL.table(cols(), m ? [m] : [], { pageSize: 0, test: 'trace-id-table', empty: 'no match result' }));
          };
          p.append(h('div', { class: 'toolbar' }, h('label', {}, 'Topic:'), LL.suggest(topic, f => LL.topicNames(f, 'NORMAL')),
            h('label', {}, 'MessageId:'), id, btn('Search', search, 'btn-primary', { id: 'trace-id-search' })), out);
          LL.onEnter([topic, id], search);
        } },
      ], 'trace-tab'));
    },
  });
})();
