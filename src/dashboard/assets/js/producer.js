/* producer.js: #/producer, the connections of a producer group on a topic
 * (producer/producerConnection.query; the group name must be typed exactly). */
'use strict';

LL.page('producer', {
  title: 'Producer',
  async render(root) {
    const { h, btn } = LL;
    const topic = h('input', { type: 'text', id: 'producer-topic', placeholder: 'Topic' });
    const group = h('input', { type: 'text', id: 'producer-group', placeholder: 'ProducerGroup' });
    const body = h('div', { id: 'producer-body' });
    const search = async () => {
      if (!topic.value.trim() || !group.value.trim()) return LL.toast('Topic and ProducerGroup are required', 'error');
      const d = await LL.get('producer/producerConnection.query', { topic: topic.value.trim(), producerGroup: group.value.trim() });
      body.replaceChildren(LL.table([
        { title: 'clientId', key: 'clientId' }, { title: 'clientAddr', key: 'clientAddr' },
        { title: 'language', key: 'language' }, { title: 'version', render: c => c.versionDesc || c.version },
      ], (d && d.connectionSet) || [], { test: 'producer-table', empty: 'No connection' }));
    };
    root.append(h('div', { class: 'toolbar' },
      h('label', {}, 'TOPIC:'), LL.suggest(topic, f => LL.topicNames(f, 'NORMAL')),
      h('label', {}, 'PRODUCER_GROUP:'), group,
      btn('Search', search, 'btn-primary', { id: 'producer-search' })), body);
    LL.onEnter([topic, group], search);
  },
});
