/* login.js: #/login (shown when login/check.query says loginRequired and nobody is logged in)
 * and the 404 page. login/login.do takes username and password as query parameters, as
 * rocketmq-dashboard 2.0's UI sends them; the answer's role decides which buttons are shown. */
'use strict';

LL.page('login', {
  title: 'Login',
  render(root, params) {
    const { h } = LL;
    const user = h('input', { type: 'text', id: 'login-username', name: 'username', autocomplete: 'username', required: true });
    const pass = h('input', { type: 'password', id: 'login-password', name: 'password', autocomplete: 'current-password' });
    const error = h('div', { class: 'error', id: 'login-error', 'data-test': 'login-error', role: 'alert' });
    const submit = h('button', { type: 'submit', class: 'btn', id: 'login-submit' }, 'Login');
    const form = h('form', { class: 'login', id: 'login-form' },
      h('h2', {}, 'Hi, welcome using RocketMQ Dashboard'),
      LL.field('Username', user), LL.field('Password', pass), error,
      h('div', { class: 'form-actions' }, submit));
    form.addEventListener('submit', async e => {
      e.preventDefault();
      error.textContent = '';
      submit.disabled = true;
      try {
        const d = await LL.post('login/login.do', { username: user.value, password: pass.value }, undefined, { quiet: true });
        LL.session.loginRequired = true;
        LL.setUser(d.loginUserName || user.value, d.loginUserRole);
        const back = params.get('redirect');
        location.hash = back && back.startsWith('#/') && !back.startsWith('#/login') ? back : '#/';
      } catch (err) {
        error.textContent = err.message;
        LL.toast(err.message, 'error');
      } finally {
        submit.disabled = false;
      }
    });
    root.append(form);
    if (!LL.session.loginRequired) {
      error.textContent = 'Login is not required on this dashboard.';
    }
    user.focus();
  },
});

LL.page('404', {
  title: 'Not found',
  render(root) {
    root.append(LL.h('h2', {}, '404: no such page'), LL.h('p', {}, LL.h('a', { href: '#/' }, 'Back to the dashboard')));
  },
});
