/* cluster.js: #/cluster, one row per broker instance of the chosen cluster with its runtime
 * figures (all from one cluster/list.query, re-fetched every 5 s for live TPS), and the Status
 * (runtime info) and Config (cluster/brokerConfig.query) modals. */
'use strict';

/* The instances of cluster/list.query's answer: [{cluster, brokerName, id, addr, rt}]. Shared
 * with the Dashboard page (Broker TOP 10). */
LL.brokerInstances = function (data, onlyCluster) {
  const info = (data && data.clusterInfo) || {};
  const servers = (data && data.brokerServer) || {};
  const byCluster = info.clusterAddrTable || {};
  const brokers = info.brokerAddrTable || {};
  const out = [];
  for (const cluster of Object.keys(byCluster).sort()) {
    if (onlyCluster && cluster !== onlyCluster) continue;
    for (const bn of (byCluster[cluster] || []).slice().sort()) {
      const addrs = (brokers[bn] && brokers[bn].brokerAddrs) || {};
      for (const id of Object.keys(addrs).sort((a, b) => a - b)) {
        out.push({ cluster, brokerName: bn, id: Number(id), addr: addrs[id], rt: (servers[bn] || {})[id] || {} });
      }
    }
  }
  return out;
};

LL.page('cluster', {
  title: 'Cluster',
  async render(root) {
    const { h, btn } = LL;
    const sel = h('select', { id: 'cluster-select', 'data-test': 'cluster-select' });
    const body = h('div', { id: 'cluster-body' });
    root.append(h('div', { class: 'toolbar' }, h('label', { for: 'cluster-select' }, 'Cluster:'), sel,
      h('span', { class: 'spacer' }), h('span', { class: 'hint', id: 'cluster-updated' })), body);
    let data = null;
    sel.addEventListener('change', draw);

    const n = v => Number(v) || 0;
    const cols = [
      { title: 'Broker', key: 'brokerName' },
      { title: 'NO.', render: r => `${r.id}(${r.id === 0 ? 'master' : 'slave'})` },
      { title: 'Address', key: 'addr', col: 'address' },
      { title: 'Version', render: r => r.rt.brokerVersionDesc || '', col: 'version' },
      { title: 'Produce Message TPS', cls: 'num', render: r => LL.firstNum(r.rt.putTps).toFixed(2), col: 'putTps' },
      { title: 'Consumer Message TPS', cls: 'num', col: 'getTps',
        render: r => LL.firstNum(r.rt.getTransferedTps !== undefined ? r.rt.getTransferedTps : r.rt.getTransferredTps).toFixed(2) },
      { title: 'Yesterday Produce Count', cls: 'num', render: r => n(r.rt.msgPutTotalTodayMorning) - n(r.rt.msgPutTotalYesterdayMorning) },
      { title: 'Yesterday Consume Count', cls: 'num', render: r => n(r.rt.msgGetTotalTodayMorning) - n(r.rt.msgGetTotalYesterdayMorning) },
      { title: 'Today Produce Count', cls: 'num', render: r => n(r.rt.msgPutTotalTodayNow) - n(r.rt.msgPutTotalTodayMorning), col: 'todayPut' },
      { title: 'Today Consume Count', cls: 'num', render: r => n(r.rt.msgGetTotalTodayNow) - n(r.rt.msgGetTotalTodayMorning), col: 'todayGet' },
      { title: 'Operation', render: r => h('div', { class: 'ops' },
        btn('Status', () => LL.kvModal(`Broker [${r.brokerName}][${r.id}] status`, r.rt, 'broker-status'), 'btn-primary btn-sm', { 'data-test': 'broker-status' }),
        btn('Config', () => showConfig(r), 'btn-primary btn-sm', { 'data-test': 'broker-config' })) },
    ];

    async function showConfig(r) {
      const cfg = await LL.get('cluster/brokerConfig.query', { brokerAddr: r.addr }).catch(() => null);
      if (cfg) LL.kvModal(`Broker [${r.brokerName}][${r.id}] config`, cfg, 'broker-config');
    }

    function draw() {
      const rows = LL.brokerInstances(data, sel.value);
      body.replaceChildren(LL.table(cols, rows, { pageSize: 0, test: 'cluster-table', empty: 'No broker',
        rowAttrs: r => ({ 'data-broker': r.brokerName, 'data-addr': r.addr }) }));
    }

    async function load(quiet) {
      data = await LL.get('cluster/list.query', null, { quiet });
      const clusters = Object.keys((data.clusterInfo && data.clusterInfo.clusterAddrTable) || {}).sort();
      const keep = sel.value;
      if ([...sel.options].map(o => o.value).join() !== clusters.join()) {
        sel.replaceChildren(...clusters.map(c => h('option', { value: c }, c)));
        sel.value = clusters.includes(keep) ? keep : (clusters[0] || '');
      }
      draw();
      document.getElementById('cluster-updated') &&
        (document.getElementById('cluster-updated').textContent = 'updated ' + LL.fmtTime(Date.now()).slice(11));
    }

    await load(false);
    LL.every(5000, () => load(true).catch(() => {}));
  },
});
