/* message.js: #/message with its three tabs: by topic and time range (server-side pages of
 * message/queryMessagePageByTopic.query, the taskId keeping the per-queue window between
 * pages), by key (message/queryMessageByTopicAndKey.query, at most 64) and by id; and the
 * Message Detail modal (properties, body, track list with Resend Message / View Exception),
 * which the DLQ and trace pages reuse. */
'use strict';

(() => {
  const { h, btn } = LL;
  const PAGE_SIZE = 20;
  const props = m => (m && m.properties) || {};

  /* Columns of a message list: Message ID, Tag, Key, StoreTime, Operation. extra: more
   * operation buttons per row. */
  LL.messageColumns = function (onDetail, extra) {
    return [
      { title: 'Message ID', render: m => h('span', { class: 'mono', 'data-test': 'msg-id' }, m.msgId) },
      { title: 'Tag', render: m => props(m).TAGS || '' },
      { title: 'Key', render: m => props(m).KEYS || '' },
      { title: 'StoreTime', render: m => LL.fmtTime(m.storeTimestamp) },
      { title: 'Operation', render: m => h('div', { class: 'ops' },
        btn('Message Detail', () => onDetail(m), 'btn-primary btn-sm', { 'data-test': 'msg-detail' }), extra ? extra(m) : null) },
    ];
  };

  /* Ask an online client of group to consume one message now (consumeMessageDirectly). For a
   * DLQ message the original message on the retry topic is meant, as the original UI does. */
  async function resend(view, group) {
    const p = props(view);
    const dlq = String(view.topic || '').startsWith('%DLQ%');
    const topic = dlq && p.RETRY_TOPIC ? p.RETRY_TOPIC : view.topic;
    const msgId = dlq && p.ORIGIN_MESSAGE_ID ? p.ORIGIN_MESSAGE_ID : view.msgId;
    const res = await LL.post('message/consumeMessageDirectly.do', { topic, consumerGroup: group, msgId });
    LL.kvModal('Result', res, 'resend-result');
  }

  function detailBody(view, tracks) {
    const p = props(view);
    const kv = [['Message ID', view.msgId], ['Topic', view.topic], ['Tag', p.TAGS], ['Key', p.KEYS],
      ['Storetime', LL.fmtTime(view.storeTimestamp)], ['StoreHost', view.storeHost], ['BornHost', view.bornHost],
      ['BornTimestamp', LL.fmtTime(view.bornTimestamp)], ['QueueId', view.queueId], ['QueueOffset', view.queueOffset],
      ['ReconsumeTimes', view.reconsumeTimes], ['BodyCRC', view.bodyCRC]];
    const out = [
      h('table', { class: 'table kv', 'data-test': 'msg-fields' }, h('tbody', {},
        kv.map(([k, v]) => h('tr', { 'data-key': k }, h('th', {}, k), h('td', {}, LL.show(v)))))),
      h('h4', {}, 'Properties'), LL.kvTable(p, 'msg-properties'),
      h('h4', {}, 'Message body'),
      h('pre', { class: 'body', id: 'msg-body', 'data-test': 'msg-body' }, view.messageBody == null ? '' : String(view.messageBody)),
    ];
    if (tracks) {
      const filter = h('input', { type: 'text', id: 'track-filter', placeholder: 'consumerGroup' });
      const box = h('div');
      const draw = () => box.replaceChildren(LL.table([
        { title: 'consumerGroup', key: 'consumerGroup' },
        { title: 'trackType', render: t => h('span', { class: 'badge ' + (t.trackType === 'CONSUMED' ? 'badge-ok' : t.trackType === 'UNKNOWN' ? 'badge-bad' : 'badge-warn'),
          'data-test': 'track-type' }, t.trackType) },
        { title: 'Operation', render: t => h('div', { class: 'ops' },
          LL.adminOnly(btn('Resend Message', () => resend(view, t.consumerGroup), 'btn-primary btn-sm', { 'data-test': 'track-resend' })),
          btn('View Exception', () => LL.modal('Exception', h('pre', { class: 'body' }, t.exceptionDesc || 'no exception')), 'btn-default btn-sm')) },
      ], tracks.filter(t => String(t.consumerGroup || '').toLowerCase().includes(filter.value.trim().toLowerCase())),
      { pageSize: 0, test: 'track-table', empty: 'No consumer group subscribes to this topic', rowAttrs: t => ({ 'data-group': t.consumerGroup }) }));
      filter.addEventListener('input', draw);
      draw();
      out.push(h('h4', {}, 'messageTrackList'), h('div', { class: 'toolbar' }, filter), box);
    }
    return out;
  }

  /* The Message Detail modal for msgId (topic optional, as the API). */
  LL.showMessage = async function (topic, msgId) {
    const d = await LL.get('message/viewMessage.query', { topic, msgId });
    LL.modal('Message Detail', detailBody(d.messageView || {}, d.messageTrackList || []), { wide: true, test: 'message-detail' });
  };
  LL.showMessageView = function (view, title) {
    LL.modal(title || 'Message Detail', detailBody(view, null), { wide: true, test: 'message-detail' });
  };

  function timeRange(prefix) {
    const now = Date.now();
    const begin = h('input', { type: 'datetime-local', step: 1, id: prefix + '-begin', value: LL.dtValue(now - 3 * 3600 * 1000) });
    const end = h('input', { type: 'datetime-local', step: 1, id: prefix + '-end', value: LL.dtValue(now + 60 * 1000) });
    return { begin, end, range() {
      const b = LL.dtParse(begin.value), e = LL.dtParse(end.value);
      if (!Number.isFinite(b) || !Number.isFinite(e)) { LL.toast('Begin and End are required', 'error'); return null; }
      if (e < b) { LL.toast('End time must not be earlier than Begin', 'error'); return null; }
      /* the inputs hold seconds: the end second is included whole */
      return { begin: b, end: e + 999 };
    } };
  }
  LL.timeRange = timeRange;

  /* A server-paged message list (topic + time range) with its taskId. fetchPage(query) returns
   * {page, taskId}. Returns {el, search(query)}. */
  LL.pagedMessages = function (fetchPage, columns, testId) {
    const el = h('div', { 'data-test': testId });
    let query = null, taskId = null;
    async function show(pageNum) {
      const d = await fetchPage(Object.assign({}, query, { pageNum, pageSize: PAGE_SIZE, taskId }));
      const page = (d && d.page) || {};
      taskId = (d && d.taskId) || taskId;
      const rows = page.content || [];
      const total = page.totalElements ?? rows.length;
      LL.fill(el,
        h('p', {}, h('b', { 'data-test': 'msg-total' }, `Total ${total} Messages`)),
        LL.table(columns, rows, { pageSize: 0, test: testId + '-table', empty: 'no match result',
          rowAttrs: m => ({ 'data-msgid': m.msgId }) }),
        total > PAGE_SIZE ? LL.pager(total, (page.number ?? pageNum - 1) + 1, PAGE_SIZE, n => LL.act(show)(n)) : null);
    }
    return { el, search(q) { query = q; taskId = null; return show(1); } };
  };

  LL.page('message', {
    title: 'Message',
    render(root) {
      root.append(LL.tabs([
        { id: 'topic', title: 'Topic', render(p) {
          const topic = h('input', { type: 'text', id: 'msg-topic', placeholder: 'Topic' });
          const tr = timeRange('msg');
          const list = LL.pagedMessages(q => LL.post('message/queryMessagePageByTopic.query', null, q),
            LL.messageColumns(m => LL.showMessage(m.topic, m.msgId)), 'msg-topic-result');
          const search = async () => {
            if (!topic.value.trim()) return LL.toast('Topic is required', 'error');
            const r = tr.range();
            if (r) await list.search({ topic: topic.value.trim(), begin: r.begin, end: r.end });
          };
          p.append(h('div', { class: 'toolbar' },
            h('label', {}, 'Topic:'), LL.suggest(topic, f => LL.topicNames(f)),
            h('label', {}, 'Begin:'), tr.begin, h('label', {}, 'End:'), tr.end,
            btn('Search', search, 'btn-primary', { id: 'msg-topic-search' })), list.el);
          LL.onEnter([topic, tr.begin, tr.end], search);
        } },
        { id: 'key', title: 'Message Key', render(p) {
          const topic = h('input', { type: 'text', id: 'msg-key-topic', placeholder: 'Topic' });
          const key = h('input', { type: 'text', id: 'msg-key', placeholder: 'Key' });
          const out = h('div', { 'data-test': 'msg-key-result' });
          const search = async () => {
            if (!topic.value.trim() || !key.value.trim()) return LL.toast('Topic and Key are required', 'error');
            const list = await LL.get('message/queryMessageByTopicAndKey.query', { topic: topic.value.trim(), key: key.value.trim() });
            out.replaceChildren(LL.table(LL.messageColumns(m => LL.showMessage(m.topic, m.msgId)), list || [],
              { test: 'msg-key-table', empty: 'no match result', rowAttrs: m => ({ 'data-msgid': m.msgId }) }));
          };
          p.append(h('div', { class: 'toolbar' },
            h('label', {}, 'Topic:'), LL.suggest(topic, f => LL.topicNames(f)),
            h('label', {}, 'Key:'), key, btn('Search', search, 'btn-primary', { id: 'msg-key-search' }),
            h('span', { class: 'hint' }, 'Only Return 64 Messages')), out);
          LL.onEnter([topic, key], search);
        } },
        { id: 'id', title: 'Message ID', render(p) {
          const topic = h('input', { type: 'text', id: 'msg-id-topic', placeholder: 'Topic' });
          const id = h('input', { type: 'text', id: 'msg-id', placeholder: 'Message ID', size: 40 });
          const search = async () => {
            if (!id.value.trim()) return LL.toast('Message ID is required', 'error');
            await LL.showMessage(topic.value.trim(), id.value.trim());
          };
          p.append(h('div', { class: 'toolbar' },
            h('label', {}, 'Topic:'), LL.suggest(topic, f => LL.topicNames(f)),
            h('label', {}, 'MessageId:'), id, btn('Search', search, 'btn-primary', { id: 'msg-id-search' })),
          h('p', { class: 'hint' }, 'The topic is needed for message ids of clients newer than 3.5.8 (unique keys).'));
          LL.onEnter([topic, id], search);
        } },
      ], 'msg-tab'));
    },
  });
})();
