// Apps: every installed package (apps.list) with its process state, kept current by `app` events;
// start/stop/restart; an app's output (apps.logs), re-read every 2 s while the log panel is open.

import {h, clear, fmtBytes, fmtAgo, fmtTime, badge, stateKind, emptyRow, isAtBottom, Poller} from '../lib/dom.js';
import {Page} from '../lib/page.js';

const LOG_LINES = 500;
const LOG_POLL_MS = 2000;
const USAGE_POLL_MS = 5000;  // memory/CPU change without an `app` event

export class AppsPage extends Page {
  constructor(ctx) {
    super(ctx, 'Apps');
    this.apps = new Map();  // id → apps.list entry
    this.rows = h('tbody');
    this.logApp = null;
    this.logTitle = h('h2');
    this.logPre = h('pre', {class: 'log', id: 'app-log'});
    this.liveDot = h('span', {class: 'live', text: 'live'});
    this.logPanel = h('div', {class: 'panel', hidden: true, id: 'app-log-panel'},
      h('div', {class: 'panel-head'}, this.logTitle, this.liveDot, h('div', {class: 'spacer'}),
        h('button', {class: 'ghost', text: 'Close', onclick: () => this.closeLogs()})),
      this.logPre);
    this.el.append(
      this.header('Installed packages. Apps run as supervised processes; skills and extensions load into the kernel.',
        h('button', {class: 'ghost', text: 'Refresh', onclick: () => this.refresh()})),
      h('table', {class: 'table', id: 'apps-table'},
        h('thead', {}, h('tr', {}, ['App', 'Type', 'State', 'PID', 'Restarts', 'Memory', 'CPU', 'Trust', ''].map((t) => h('th', {text: t})))),
        this.rows),
      this.logPanel);
    this.logPoller = new Poller(() => this.loadLogs(), LOG_POLL_MS);
    this.usagePoller = new Poller(() => this.refresh(), USAGE_POLL_MS);
    this.client.on('app', (status) => this.onAppEvent(status));
  }

  onShow() {
    this.usagePoller.start(false);  // show() just refreshed
    if (this.logApp) this.logPoller.start();
  }

  onHide() {
    this.usagePoller.stop();
    this.logPoller.stop();
  }

  async refresh() {
    try {
      const r = await this.client.call('apps.list');
      this.apps = new Map((r.apps || []).map((a) => [a.id, a]));
      this.render();
    } catch (e) {
      clear(this.rows, emptyRow(9, `Could not list apps: ${e.message}`));
    }
  }

  render() {
    const apps = [...this.apps.values()].sort((a, b) => (a.type === 'app' ? 0 : 1) - (b.type === 'app' ? 0 : 1) || a.id.localeCompare(b.id));
    clear(this.rows, apps.length ? apps.map((a) => this.row(a)) : emptyRow(9, 'No packages installed.'));
  }

  onAppEvent(status) {
    const app = status && this.apps.get(status.packageId);
    if (!app) {
      if (this.visible && status?.packageId) this.refresh();  // a newly installed app
      return;
    }
    app.status = status;
    const old = this.rows.querySelector(`tr[data-id="${CSS.escape(app.id)}"]`);
    if (old) old.replaceWith(this.row(app));
  }

  row(a) {
    const st = a.status || {};
    const usage = st.resourceUsage || {};
    const isApp = a.type === 'app';
    let state = st.state || (isApp ? (a.enabled ? 'not started' : 'disabled') : '');
    if (!isApp && a.inProcess) state = a.inProcess.loaded ? 'loaded' : 'not loaded';
    const stateCell = h('td', {class: 'state'}, badge(state || '—', stateKind(state === 'loaded' ? 'ok' : state)));
    if (st.lastError || a.inProcess?.error) stateCell.title = st.lastError || a.inProcess.error;
    const actions = h('td', {class: 'actions'});
    if (isApp) {
      const button = (label, method, cls = '') => {
        const b = h('button', {class: ['small', cls], text: label, dataset: {action: method}});
        b.onclick = () => this.act(b, () => this.client.call(`apps.${method}`, {id: a.id}), `${a.id}: ${method} done`);
        return b;
      };
      actions.append(button('Start', 'start'), button('Stop', 'stop'), button('Restart', 'restart'),
        h('button', {class: 'small ghost', text: 'Logs', dataset: {action: 'logs'}, onclick: () => this.openLogs(a.id)}));
    }
    return h('tr', {dataset: {id: a.id, state: st.state || ''}, class: this.logApp === a.id ? 'selected' : null},
      h('td', {}, h('div', {text: a.name || a.id}), h('div', {class: 'mono muted', text: `${a.id} ${a.version || ''}`})),
      h('td', {text: a.type}),
      stateCell,
      h('td', {class: 'mono pid', text: st.pid ?? '—'}),
      h('td', {class: 'restarts', text: isApp ? st.restartCount ?? 0 : '—'}),
      h('td', {text: fmtBytes(usage.memoryRss)}),
      h('td', {text: typeof usage.cpuPercent === 'number' ? `${usage.cpuPercent.toFixed(1)}%` : '—'}),
      h('td', {text: a.trustLevel || '—', title: st.startedAt ? `started ${fmtAgo(st.startedAt)} (${fmtTime(st.startedAt)})` : ''}),
      actions);
  }

  openLogs(id) {
    this.logApp = id;
    this.logTitle.textContent = `Logs: ${id}`;
    this.logPre.textContent = '';
    this.logPanel.hidden = false;
    this.render();
    this.logPoller.stop();
    this.logPoller.start();
    this.logPanel.scrollIntoView({block: 'nearest'});
  }

  closeLogs() {
    this.logApp = null;
    this.logPoller.stop();
    this.logPanel.hidden = true;
    this.render();
  }

  async loadLogs() {
    const id = this.logApp;
    if (!id || !this.client.connected) return;
    try {
      const r = await this.client.call('apps.logs', {id, lines: LOG_LINES});
      if (id !== this.logApp) return;
      const text = (r.lines || []).join('\n');
      if (text !== this.logPre.textContent) {
        const pinned = isAtBottom(this.logPre);
        this.logPre.textContent = text || '(no output yet)';
        if (pinned) this.logPre.scrollTop = this.logPre.scrollHeight;
      }
      this.liveDot.classList.remove('stale');
    } catch (e) {
      this.liveDot.classList.add('stale');
      this.logPre.textContent = `Could not read the logs: ${e.message}`;
    }
  }
}
