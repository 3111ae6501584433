/* dlq.js: #/dlqMessage, the dead-letter messages of a consumer group (topic %DLQ%<group>) by
 * time range, server-paged (dlqMessage/queryDlqMessageByConsumerGroup.query); per row Message
 * Detail, Resend Message and Export, and for ticked rows batchReSend / batchExport
 * (dlqMessage/batchResendDlqMessage.do, dlqMessage/*ExportDlqMessage.do: .xlsx downloads).
 * Resending needs an online consumer of the group, as in RocketMQ. */
'use strict';

(() => {
  const { h, btn } = LL;

  /* What batchResendDlqMessage.do gets for one DLQ message: the 2.0 UI's key "topic" and
   * the server's "topicName" both, the original message when the broker recorded it. */
  function resendItem(view, group) {
    const p = view.properties || {};
    const topic = p.RETRY_TOPIC || view.topic;
    return { topicName: topic, topic, consumerGroup: group, msgId: p.ORIGIN_MESSAGE_ID || view.msgId };
  }

  async function resend(items) {
    const res = await LL.post('dlqMessage/batchResendDlqMessage.do', null, items);
    const rows = Array.isArray(res) ? res : [res];
    LL.modal('Resend Result', LL.table([
      { title: 'msgId', render: r => h('span', { class: 'mono' }, r.msgId || '') },
      { title: 'consumeResult', render: r => h('span', { 'data-test': 'resend-consume-result' }, r.consumeResult || '') },
      { title: 'remark', key: 'remark' },
    ], rows, { pageSize: 0, test: 'dlq-resend-table' }), { wide: true, test: 'dlq-resend-result' });
    const ok = rows.filter(r => r && r.consumeResult === 'CR_SUCCESS').length;
    LL.toast(`Resent ${ok} of ${rows.length}`, ok === rows.length ? 'ok' : 'error');
  }

  LL.page('dlqMessage', {
    title: 'DLQMessage',
    render(root) {
      root.append(LL.tabs([
        { id: 'consumer', title: 'Consumer', render(p) {
          const group = h('input', { type: 'text', id: 'dlq-group', placeholder: 'Consumer group' });
          const tr = LL.timeRange('dlq');
          const picked = new Map();       /* msgId -> message view, the ticked rows */
          let current = '';               /* the group of the rows shown */
          const batchResend = btn('batchReSend', () => resend([...picked.values()].map(v => resendItem(v, current))),
            'btn-primary', { id: 'dlq-batch-resend', disabled: true });
          const batchExport = btn('batchExport', () => LL.download('POST', 'dlqMessage/batchExportDlqMessage.do', null,
            [...picked.keys()].map(msgId => ({ consumerGroup: current, msgId })), 'dlqs.xlsx'),
          'btn-primary', { id: 'dlq-batch-export', disabled: true });
          const sync = () => { batchResend.disabled = batchExport.disabled = picked.size === 0; };
          const tick = m => {
            const c = h('input', { type: 'checkbox', 'data-test': 'dlq-pick', checked: picked.has(m.msgId) });
            c.addEventListener('change', () => { if (c.checked) picked.set(m.msgId, m); else picked.delete(m.msgId); sync(); });
            return c;
          };
          const cols = [{ title: '', render: tick }].concat(LL.messageColumns(m => LL.showMessageView(m, 'DLQ Message Detail'), m => [
            btn('Resend Message', () => resend([resendItem(m, current)]), 'btn-primary btn-sm', { 'data-test': 'dlq-resend' }),
            btn('Export', () => LL.download('GET', 'dlqMessage/exportDlqMessage.do', { consumerGroup: current, msgId: m.msgId }, null, 'dlq.xlsx'),
              'btn-default btn-sm', { 'data-test': 'dlq-export' }),
          ]));
          const list = LL.pagedMessages(q => LL.post('dlqMessage/queryDlqMessageByConsumerGroup.query', null, q), cols, 'dlq-result');
          const search = async () => {
            const g = group.value.trim();
            if (!g) return LL.toast('Consumer group is required', 'error');
            const r = tr.range();
            if (!r) return;
            picked.clear();
            sync();
            current = g;
            await list.search({ topic: '%DLQ%' + g, consumerGroup: g, begin: r.begin, end: r.end });
          };
          p.append(h('div', { class: 'toolbar' },
            h('label', {}, 'Consumer:'), LL.suggest(group, f => LL.groupNames(f)),
            h('label', {}, 'Begin:'), tr.begin, h('label', {}, 'End:'), tr.end,
            btn('Search', search, 'btn-primary', { id: 'dlq-search' }), batchResend, batchExport), list.el);
          LL.onEnter([group, tr.begin, tr.end], search);
        } },
        { id: 'id', title: 'Message ID', render(p) {
          const group = h('input', { type: 'text', id: 'dlq-id-group', placeholder: 'Consumer group' });
          const id = h('input', { type: 'text', id: 'dlq-id', placeholder: 'Message ID', size: 40 });
          const out = h('div');
          const search = async () => {
            const g = group.value.trim();
            if (!g || !id.value.trim()) return LL.toast('Consumer group and Message ID are required', 'error');
            const d = await LL.get('message/viewMessage.query', { topic: '%DLQ%' + g, msgId: id.value.trim() });
            const m = d.messageView || {};
            out.replaceChildren(LL.table(LL.messageColumns(v => LL.showMessageView(v, 'DLQ Message Detail'), v => [
              btn('Resend Message', () => resend([resendItem(v, g)]), 'btn-primary btn-sm', { 'data-test': 'dlq-resend' }),
              btn('Export', () => LL.download('GET', 'dlqMessage/exportDlqMessage.do', { consumerGroup: g, msgId: v.msgId }, null, 'dlq.xlsx'),
                'btn-default btn-sm', { 'data-test': 'dlq-export' }),
            ]), [m], { pageSize: 0, test: 'dlq-id-table' }));
          };
          p.append(h('div', { class: 'toolbar' },
            h('label', {}, 'Consumer:'), LL.suggest(group, f => LL.groupNames(f)),
            h('label', {}, 'MessageId:'), id, btn('Search', search, 'btn-primary', { id: 'dlq-id-search' })), out);
          LL.onEnter([group, id], search);
        } },
      ], 'dlq-tab'));
    },
  });
})();
