// Channels: which messaging channels are configured (config.get channels), which app provides each
// (the manifest's channels.provides, from apps.info), whether it is granted and registered live.

import {h, clear, badge, stateKind, emptyRow, notice} from '../lib/dom.js';
import {Page} from '../lib/page.js';

export class ChannelsPage extends Page {
  constructor(ctx) {
    super(ctx, 'Channels');
    this.rows = h('tbody');
    this.message = h('div');
    this.el.append(
      this.header('Messaging channels: configured under "channels" in config.json, delivered by channel apps.',
        h('button', {class: 'ghost', text: 'Refresh', onclick: () => this.refresh()})),
      this.message,
      h('table', {class: 'table', id: 'channels-table'},
        h('thead', {}, h('tr', {}, ['Channel', 'Configured', 'Provided by', 'App state', 'Granted', 'Registered'].map((t) => h('th', {text: t})))),
        this.rows));
    let timer = null;
    this.client.on('app', () => {
      if (!this.visible) return;
      clearTimeout(timer);
      timer = setTimeout(() => this.refresh(), 500);
    });
  }

  async refresh() {
    clear(this.message);
    let configured = {};
    try {
      const r = await this.client.call('config.get', {path: 'channels'});
      if (r.value && typeof r.value === 'object') configured = r.value;
    } catch (e) {
      if (e.code !== 'NOT_FOUND') this.message.append(notice(`config.get channels: ${e.message}`, 'error'));
    }
    let infos = [];
    try {
      const apps = (await this.client.call('apps.list')).apps || [];
      infos = await Promise.all(apps.filter((a) => a.type === 'app').map((a) =>
        this.client.call('apps.info', {id: a.id}).catch(() => ({...a, declared: {}, granted: {}, capabilities: []}))));
    } catch (e) {
      this.message.append(notice(`apps.list: ${e.message}`, 'error'));
    }
    const channels = new Map();  // id → {config, providers: [{app, granted, registered}]}
    const entry = (id) => channels.get(id) || channels.set(id, {config: undefined, providers: []}).get(id);
    for (const [id, cfg] of Object.entries(configured)) entry(id).config = cfg;
    for (const info of infos) {
      const declared = info.declared?.channels || info.manifest?.capabilities?.channels?.provides || [];
      const granted = new Set(info.granted?.channels || []);
      const registered = new Set((info.capabilities || []).filter((c) => c.type === 'channel').map((c) => c.name));
      for (const id of declared) entry(id).providers.push({app: info, granted: granted.has(id), registered: registered.has(id)});
    }
    const rows = [...channels.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([id, c]) => this.row(id, c));
    clear(this.rows, rows.length ? rows : emptyRow(6, 'No channels configured and no channel apps installed.'));
  }

  row(id, c) {
    let configured = badge('not configured', 'muted');
    if (c.config !== undefined) {
      const enabled = c.config?.enabled;
      configured = enabled === false ? badge('disabled', 'muted') : badge(enabled === true ? 'enabled' : 'configured', 'ok');
    }
    const p = c.providers;
    const list = (fn) => (p.length ? p.map((x) => h('div', {}, fn(x))) : '—');
    return h('tr', {dataset: {channel: id}},
      h('td', {class: 'mono', text: id}),
      h('td', {}, configured),
      h('td', {}, list((x) => h('a', {href: '#/apps', text: x.app.id}))),
      h('td', {}, list((x) => badge(x.app.status?.state || (x.app.enabled ? 'not started' : 'disabled'), stateKind(x.app.status?.state)))),
      h('td', {}, list((x) => badge(x.granted ? 'yes' : 'no', x.granted ? 'ok' : 'error'))),
      h('td', {}, list((x) => badge(x.registered ? 'yes' : 'no', x.registered ? 'ok' : 'muted'))));
  }
}
