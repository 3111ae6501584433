/* ops.js: #/ops, the name server list (switch, add), VIP channel and TLS switches
 * (ops/homePage.query and the ops/*.do calls). Normal users see the values, disabled. */
'use strict';

LL.page('ops', {
  title: 'OPS',
  async render(root) {
    const { h, btn } = LL;
    const admin = LL.isAdmin();
    root.append(h('h2', {}, 'OPS'));
    const box = h('div', { id: 'ops-body' });
    root.append(box);

    async function load() {
      const d = await LL.get('ops/homePage.query');
      const list = d.namesvrAddrList || [];
      const sel = h('select', { id: 'ops-namesrv', disabled: !admin, value: d.currentNamesrv },
        list.map(a => h('option', { value: a }, a)));
      const change = async () => {
        await LL.post('ops/updateNameSvrAddr.do', { nameSvrAddrList: sel.value });
        LL.toast('Name server switched to ' + sel.value, 'ok');
        await load();
      };
      sel.addEventListener('change', LL.act(change));
      const addr = h('input', { type: 'text', id: 'ops-new-namesrv', placeholder: '127.0.0.1:9876' });
      const vip = h('input', { type: 'checkbox', id: 'ops-vip', checked: !!d.useVIPChannel, disabled: !admin });
      const tls = h('input', { type: 'checkbox', id: 'ops-tls', checked: !!d.useTLS, disabled: !admin });
      LL.fill(box,
        h('h4', {}, 'NameServerAddressList'),
        h('div', { class: 'toolbar' }, sel, LL.adminOnly(btn('Update', change, 'btn-primary', { id: 'ops-update-namesrv' })),
          h('span', { class: 'hint' }, 'current: ', h('b', { id: 'ops-current' }, d.currentNamesrv || ''))),
        LL.adminOnly(h('div', { class: 'toolbar' }, h('label', {}, 'NamesrvAddr'), addr,
          btn('Add', async () => {
            if (!addr.value.trim()) return LL.toast('NamesrvAddr is empty', 'error');
            await LL.post('ops/addNameSvrAddr.do', { newNamesrvAddr: addr.value.trim() });
            LL.toast('Added', 'ok');
            await load();
          }, 'btn-primary', { id: 'ops-add-namesrv' }))),
        h('h4', {}, 'IsUseVIPChannel'),
        h('div', { class: 'toolbar' }, h('label', { class: 'check' }, vip, ' useVIPChannel'),
          LL.adminOnly(btn('Update', async () => {
            await LL.post('ops/updateIsVIPChannel.do', { useVIPChannel: vip.checked });
            LL.toast('Updated', 'ok');
          }, 'btn-primary', { id: 'ops-update-vip' }))),
        h('h4', {}, 'useTLS'),
        h('div', { class: 'toolbar' }, h('label', { class: 'check' }, tls, ' useTLS'),
          LL.adminOnly(btn('Update', async () => {
            await LL.post('ops/updateUseTLS.do', { useTLS: tls.checked });
            LL.toast('Updated', 'ok');
          }, 'btn-primary', { id: 'ops-update-tls' }))));
    }
    await load();
  },
});
