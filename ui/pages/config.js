// Config: the running configuration (config.get), read-only, as a collapsible JSON tree. Secrets
// arrive redacted from the gateway; nothing here can change the config (edit config.json: the
// kernel reloads it on change).

import {h, clear, jsonTree, setAllDetails, notice} from '../lib/dom.js';
import {Page} from '../lib/page.js';

export class ConfigPage extends Page {
  constructor(ctx) {
    super(ctx, 'Config');
    this.path = h('input', {placeholder: 'path, e.g. gateway or agents.default', id: 'config-path'});
    this.tree = h('div', {class: 'json-tree panel', id: 'config-tree'});
    this.el.append(
      this.header('The configuration the kernel is running with (secrets redacted). Edit config.json to change it.',
        h('form', {class: 'inline', onsubmit: (e) => { e.preventDefault(); this.refresh(); }}, this.path,
          h('button', {class: 'ghost', type: 'submit', text: 'Show'})),
        h('button', {class: 'ghost', text: 'Expand all', onclick: () => setAllDetails(this.tree, true)}),
        h('button', {class: 'ghost', text: 'Collapse all', onclick: () => setAllDetails(this.tree, false)})),
      this.tree);
  }

  async refresh() {
    const path = this.path.value.trim();
    try {
      const r = await this.client.call('config.get', path ? {path} : {});
      clear(this.tree, r.value === undefined || r.value === null
        ? notice(`${path || 'config'} is not set`, 'info')
        : jsonTree(r.value, 1));
    } catch (e) {
      clear(this.tree, notice(e.message, 'error'));
    }
  }
}
