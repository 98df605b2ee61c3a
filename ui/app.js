// The Control UI shell: login screen, left navigation, header with the connection status, and the
// pages below. Routes are URL hashes (#/chat, #/apps, #/tab/<app>/<tab>) so a reload stays put.

import {h, clear, fmtDuration} from './lib/dom.js';
import {GatewayClient} from './lib/client.js';
import {ApprovalStore} from './lib/approvals.js';
import * as auth from './lib/auth.js';
import {ChatPage} from './pages/chat.js';
import {SessionsPage} from './pages/sessions.js';
import {AppsPage} from './pages/apps.js';
import {ChannelsPage} from './pages/channels.js';
import {CronPage} from './pages/cron.js';
import {ApprovalsPage} from './pages/approvals.js';
import {MemoryPage} from './pages/memory.js';
import {ConfigPage} from './pages/config.js';
import {LogsPage} from './pages/logs.js';
import {CanvasPage} from './pages/canvas.js';
import {AppTabPage, loadAppTabs} from './pages/apptab.js';

const PAGES = [
  {id: 'chat', title: 'Chat', make: (ctx) => new ChatPage(ctx)},
  {id: 'sessions', title: 'Sessions', make: (ctx) => new SessionsPage(ctx)},
  {id: 'apps', title: 'Apps', make: (ctx) => new AppsPage(ctx)},
  {id: 'channels', title: 'Channels', make: (ctx) => new ChannelsPage(ctx)},
  {id: 'cron', title: 'Cron', make: (ctx) => new CronPage(ctx)},
  {id: 'approvals', title: 'Approvals', make: (ctx) => new ApprovalsPage(ctx)},
  {id: 'memory', title: 'Memory', make: (ctx) => new MemoryPage(ctx)},
  {id: 'config', title: 'Config', make: (ctx) => new ConfigPage(ctx)},
  {id: 'logs', title: 'Logs', make: (ctx) => new LogsPage(ctx)},
  {id: 'canvas', title: 'Canvas', make: (ctx) => new CanvasPage(ctx)},
];

class ControlUi {
  constructor(root) {
    this.root = root;
    this.creds = auth.loadCredentials();
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    this.client = new GatewayClient({
      url: `${scheme}://${location.host}/ws`,
      credentials: () => auth.connectAuth(this.creds),
      clientName: 'control-ui',
    });
    this.approvals = new ApprovalStore(this.client);
    this.pages = new Map();   // route id → Page (built on first visit)
    this.appTabs = [];        // [{key, appId, appName, tab}]
    this.current = null;
    this.ctx = {
      client: this.client,
      approvals: this.approvals,
      toast: (text, kind) => this.toast(text, kind),
      navigate: (route) => { location.hash = `#/${route}`; },
      page: (id) => this.pageFor(id),
    };
    this.buildShell();
    this.client.addEventListener('state', () => this.onState());
    this.client.addEventListener('connected', () => this.onConnected());
    this.approvals.addEventListener('change', () => this.updateBadges());
    window.addEventListener('hashchange', () => this.route());
    setInterval(() => this.renderStatus(), 1000);
    this.showView('splash');
    auth.refreshCookie(this.creds);
    this.client.start();
  }

  // ---- layout ------------------------------------------------------------------------------

  buildShell() {
    this.navList = h('nav', {class: 'nav-list'},
      PAGES.map((p) => h('a', {href: `#/${p.id}`, class: 'nav-item', dataset: {route: p.id}},
        h('span', {class: 'nav-label', text: p.title}),
        p.id === 'approvals' ? h('span', {class: 'nav-badge', id: 'approvals-badge', hidden: true}) : null)));
    this.tabList = h('nav', {class: 'nav-list'});
    this.tabSection = h('div', {class: 'nav-section', hidden: true}, h('div', {class: 'nav-heading', text: 'App tabs'}), this.tabList);
    this.statusDot = h('span', {class: 'status-dot'});
    this.statusText = h('span', {class: 'status-text'});
    this.versionText = h('span', {class: 'version'});
    this.logoutButton = h('button', {class: 'ghost', id: 'logout', text: 'Log out', onclick: () => this.logout()});
    this.pageTitle = h('h1', {class: 'page-title'});
    this.content = h('main', {class: 'content'});
    this.toasts = h('div', {class: 'toasts'});
    this.shell = h('div', {class: 'shell'},
      h('aside', {class: 'sidebar'},
        h('div', {class: 'brand'}, h('img', {src: '/ui/icon.svg', alt: '', class: 'brand-icon'}), h('span', {text: 'OpenClawOS'})),
        this.navList, this.tabSection),
      h('div', {class: 'main'},
        h('header', {class: 'topbar'}, this.pageTitle, h('div', {class: 'spacer'}),
          h('div', {class: 'status', id: 'connection-status'}, this.statusDot, this.statusText), this.versionText,
          this.logoutButton),
        this.content));
    this.loginError = h('p', {class: 'login-error', id: 'login-error', hidden: true});
    this.loginSecret = h('input', {type: 'password', id: 'login-secret', autocomplete: 'current-password',
      placeholder: 'Gateway token'});
    this.loginKind = h('select', {id: 'login-kind', onchange: () => {
      this.loginSecret.placeholder = this.loginKind.value === 'password' ? 'Gateway password' : 'Gateway token';
    }}, h('option', {value: 'token', text: 'Token'}), h('option', {value: 'password', text: 'Password'}));
    this.loginButton = h('button', {class: 'primary', id: 'login-submit', type: 'submit', text: 'Connect'});
    this.login = h('div', {class: 'login'},
      h('form', {class: 'login-card', onsubmit: (e) => { e.preventDefault(); this.submitLogin(); }},
        h('div', {class: 'brand'}, h('img', {src: '/ui/icon.svg', alt: '', class: 'brand-icon'}), h('span', {text: 'OpenClawOS'})),
        h('p', {class: 'muted', text: 'This gateway requires authentication. Enter the value of gateway.auth.token (or gateway.auth.password).'}),
        h('div', {class: 'login-row'}, this.loginKind, this.loginSecret),
        this.loginButton, this.loginError));
    this.splash = h('div', {class: 'splash', text: 'Connecting to the gateway…'});
    clear(this.root, this.shell, this.login, this.splash, this.toasts);
  }

  showView(which) {
    this.shell.hidden = which !== 'shell';
    this.login.hidden = which !== 'login';
    this.splash.hidden = which !== 'splash';
    if (which === 'login') setTimeout(() => this.loginSecret.focus(), 0);
  }

  // ---- connection and auth -----------------------------------------------------------------

  onState() {
    const {state, detail} = this.client;
    if (state === 'unauthorized') {
      const tried = this.creds !== null;
      auth.clearCredentials();  // wrong credentials must not be retried on the next reload
      this.creds = null;
      this.showLoginError(tried ? `The gateway refused the credentials: ${detail}` : '');
      this.showView('login');
    } else if (state === 'reconnecting' && this.splash.hidden === false) {
      this.showView('shell');  // gateway unreachable: show the shell with its status
      this.route();
    }
    this.logoutButton.hidden = this.creds === null;
    this.loginButton.disabled = state === 'connecting' && !this.login.hidden;
    this.renderStatus();
  }

  onConnected() {
    this.showView('shell');
    this.logoutButton.hidden = this.creds === null;
    this.versionText.textContent = this.client.hello?.server?.version ? `v${this.client.hello.server.version}` : '';
    this.refreshAppTabs();
    this.route();
  }

  submitLogin() {
    const secret = this.loginSecret.value.trim();
    if (!secret) {
      this.showLoginError('Enter the token or password.');
      return;
    }
    this.showLoginError('');
    this.creds = auth.saveCredentials(this.loginKind.value, secret);
    this.loginSecret.value = '';
    this.client.start();
  }

  logout() {
    auth.clearCredentials();
    this.creds = null;
    this.client.stop();
    this.showLoginError('');
    this.showView('login');
  }

  showLoginError(text) {
    this.loginError.textContent = text;
    this.loginError.hidden = !text;
  }

  renderStatus() {
    const {state, detail} = this.client;
    let text = {connected: 'Connected', connecting: 'Connecting…', idle: 'Disconnected', unauthorized: 'Not authorised'}[state];
    if (state === 'reconnecting') {
      const left = (this.client.retryAt || 0) - Date.now();
      text = left > 500 ? `Reconnecting in ${fmtDuration(left)}` : 'Reconnecting…';
    }
    this.statusDot.className = `status-dot status-${state}`;
    this.statusText.textContent = text || state;
    this.statusText.parentElement.title = detail || '';
    this.statusText.parentElement.dataset.state = state;
  }

  // ---- navigation --------------------------------------------------------------------------

  pageFor(id) {
    if (this.pages.has(id)) return this.pages.get(id);
    let page = null;
    const spec = PAGES.find((p) => p.id === id);
    if (spec) page = spec.make(this.ctx);
    const tab = this.appTabs.find((t) => `tab/${t.key}` === id);
    if (!page && tab) page = new AppTabPage(this.ctx, tab);
    if (!page) return null;
    page.el.dataset.page = id;
    this.content.append(page.el);
    this.pages.set(id, page);
    return page;
  }

  route() {
    if (this.shell.hidden) return;
    let id = location.hash.replace(/^#\/?/, '') || 'chat';
    let page = this.pageFor(id);
    if (!page) {
      id = 'chat';
      page = this.pageFor(id);
    }
    if (this.current === page) return;  // a reconnect: the page refreshes itself
    if (this.current) this.current.hide();
    this.current = page;
    this.pageTitle.textContent = page.title;
    document.title = `${page.title} · OpenClawOS`;
    for (const a of this.root.querySelectorAll('.nav-item')) a.classList.toggle('active', a.dataset.route === id);
    page.show();
  }

  async refreshAppTabs() {
    this.appTabs = await loadAppTabs(this.client);
    clear(this.tabList, this.appTabs.map((t) =>
      h('a', {href: `#/tab/${t.key}`, class: 'nav-item', dataset: {route: `tab/${t.key}`}, title: `${t.appName} (${t.appId})`},
        h('span', {class: 'nav-label', text: t.tab.title}))));
    this.tabSection.hidden = this.appTabs.length === 0;
    const id = location.hash.replace(/^#\/?/, '');
    if (id.startsWith('tab/')) this.route();  // a reload on an app tab: it exists now
    else for (const a of this.tabList.querySelectorAll('.nav-item')) a.classList.toggle('active', a.dataset.route === id);
  }

  updateBadges() {
    const badge = this.root.querySelector('#approvals-badge');
    const n = this.approvals.pending.size;
    badge.textContent = String(n);
    badge.hidden = n === 0;
  }

  toast(text, kind = 'info') {
    const el = h('div', {class: ['toast', `toast-${kind}`], text, onclick: () => el.remove()});
    this.toasts.append(el);
    setTimeout(() => el.remove(), kind === 'error' ? 8000 : 4000);
  }
}

new ControlUi(document.getElementById('root'));
