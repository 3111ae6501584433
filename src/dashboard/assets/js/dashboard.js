/* dashboard.js: #/ (home), the four Chart.js charts of spec §4: Broker TOP 10 (bar, today's
 * consumed count per instance from cluster/list.query), broker TPS trend (line,
 * dashboard/broker.query), Topic TOP 10 (bar, dashboard/topicCurrent.query) and one topic's
 * trend (line, dashboard/topic.query). The line charts re-fetch every 5 s: live TPS without a
 * reload. Chart.js 3.9 has no date adapter, so time axes are linear axes over epoch ms. */
'use strict';

(() => {
  const COLORS = ['#1e78d0', '#e8a33d', '#3c9a52', '#d9534f', '#7b5cc4', '#17a2b8', '#c26a2e', '#5a6b7d', '#e0569b', '#8cb43c'];
  const pad = n => String(n).padStart(2, '0');
  const hms = ms => { const d = new Date(ms); return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`; };

  /* "ms,v1,v2,..." samples -> [{x: ms, y: field i}] */
  function points(samples, i) {
    return (samples || []).map(s => String(s).split(',')).filter(p => p.length > i)
      .map(p => ({ x: Number(p[0]), y: Number(p[i]) })).filter(p => Number.isFinite(p.x) && Number.isFinite(p.y));
  }

  function barChart(canvas, label) {
    return new Chart(canvas, {
      type: 'bar',
      data: { labels: [], datasets: [{ label, data: [], backgroundColor: '#1e78d0' }] },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: { ticks: { autoSkip: false, maxRotation: 45, minRotation: 0 } }, y: { beginAtZero: true } },
        plugins: { legend: { display: true } },
      },
    });
  }

  function lineChart(canvas, yTitle) {
    return new Chart(canvas, {
      type: 'line',
      data: { datasets: [] },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, parsing: false, normalized: true,
        interaction: { mode: 'nearest', intersect: false },
        scales: {
          x: { type: 'linear', ticks: { callback: v => hms(v), maxTicksLimit: 10 } },
          y: { beginAtZero: true, title: { display: true, text: yTitle } },
        },
        plugins: { tooltip: { callbacks: { title: items => items.length ? hms(items[0].parsed.x) : '' } } },
        elements: { point: { radius: 2 }, line: { tension: 0.2, borderWidth: 2 } },
      },
    });
  }

  /* Replace a chart's series, keeping the legend's hidden state of series that stay. */
  function setSeries(chart, series) {
    const hidden = new Map(chart.data.datasets.map((d, i) => [d.label, !chart.isDatasetVisible(i)]));
    chart.data.datasets = series.map((s, i) => ({
      label: s.label, data: s.data, borderColor: COLORS[i % COLORS.length],
      backgroundColor: COLORS[i % COLORS.length], hidden: hidden.has(s.label) ? hidden.get(s.label) : !!s.hidden,
    }));
    chart.update('none');
  }

  function box(title, id, ...extra) {
    const canvas = LL.h('canvas', { id, 'data-test': id });
    return { canvas, el: LL.h('div', { class: 'chart-box' },
      LL.h('h4', {}, title, LL.h('span', { class: 'spacer' }), extra), LL.h('div', { class: 'chart-canvas' }, canvas)) };
  }

  LL.page('', {
    title: 'Dashboard',
    async render(root) {
      const { h } = LL;
      if (typeof Chart === 'undefined') {
        root.append(h('p', { class: 'empty' }, 'Chart.js (vendor/chart.min.js) did not load.'));
        return;
      }
      const date = h('input', { type: 'date', id: 'dashboard-date', value: LL.today() });
      const topicSel = h('select', { id: 'dashboard-topic' });
      const b1 = box('Broker TOP 10', 'chart-broker-top');
      const b2 = box('Broker 5min trend (TPS)', 'chart-broker-trend');
      const b3 = box('Topic TOP 10', 'chart-topic-top');
      const b4 = box('Topic 5min trend', 'chart-topic-trend', topicSel);
      root.append(h('div', { class: 'toolbar' }, h('label', { for: 'dashboard-date' }, 'Date:'), date,
        h('span', { class: 'hint' }, 'trend charts refresh every 5 s')),
        h('div', { class: 'charts' }, b1.el, b2.el, b3.el, b4.el));

      const brokerTop = barChart(b1.canvas, 'TotalMsg');
      const topicTop = barChart(b3.canvas, 'TotalMsg');
      const brokerTrend = lineChart(b2.canvas, 'TPS');
      const topicTrend = lineChart(b4.canvas, 'messages');
      LL.onLeave(() => [brokerTop, topicTop, brokerTrend, topicTrend].forEach(c => c.destroy()));

      async function loadBrokerTop() {
        const data = await LL.get('cluster/list.query');
        const rows = LL.brokerInstances(data).map(r => ({ label: `${r.brokerName}:${r.id}`, v: Number(r.rt.msgGetTotalTodayNow) || 0 }))
          .sort((a, b) => b.v - a.v).slice(0, 10);
        brokerTop.data.labels = rows.map(r => r.label);
        brokerTop.data.datasets[0].data = rows.map(r => r.v);
        brokerTop.update('none');
      }

      async function loadTopicTop() {
        const list = await LL.get('dashboard/topicCurrent.query');
        const rows = (list || []).map(s => { const i = String(s).lastIndexOf(','); return { t: s.slice(0, i), v: Number(s.slice(i + 1)) || 0 }; })
          .sort((a, b) => b.v - a.v);
        const top = rows.slice(0, 10);
        topicTop.data.labels = top.map(r => r.t);
        topicTop.data.datasets[0].data = top.map(r => r.v);
        topicTop.update('none');
        const keep = topicSel.value;
        topicSel.replaceChildren(...rows.map(r => h('option', { value: r.t }, r.t)));
        if (rows.some(r => r.t === keep)) topicSel.value = keep;
      }

      async function loadBrokerTrend(quiet) {
        const d = await LL.get('dashboard/broker.query', { date: date.value }, { quiet }) || {};
        setSeries(brokerTrend, Object.keys(d).sort().map(k => ({ label: k, data: points(d[k], 1) })));
      }

      async function loadTopicTrend(quiet) {
        if (!topicSel.value) return setSeries(topicTrend, []);
        const d = await LL.get('dashboard/topic.query', { date: date.value, topicName: topicSel.value }, { quiet });
        /* as the original, the main line is field 2 (messages in the last 24 h); TPS on demand */
        setSeries(topicTrend, [
          { label: 'InCount', data: points(d, 2) },
          { label: 'OutCount', data: points(d, 4) },
          { label: 'InTPS', data: points(d, 1), hidden: true },
          { label: 'OutTPS', data: points(d, 3), hidden: true },
        ]);
      }

      date.addEventListener('change', LL.act(() => Promise.all([loadBrokerTrend(false), loadTopicTrend(false)])));
      topicSel.addEventListener('change', LL.act(() => loadTopicTrend(false)));
      const results = await Promise.allSettled([loadBrokerTop(), loadTopicTop().then(() => loadTopicTrend(false)), loadBrokerTrend(false)]);
      for (const r of results) if (r.status === 'rejected' && !(r.reason instanceof LL.ApiError)) console.error(r.reason);
      root.setAttribute('data-charts', '1');
      LL.every(5000, () => { loadBrokerTrend(true).catch(() => {}); loadTopicTrend(true).catch(() => {}); });
    },
  });
})();
