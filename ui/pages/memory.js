// Memory: searches the agent's long-term memory with `memory.search` when the gateway offers it.
// The result shape is read loosely ({results|hits|items: [{text|content, score?, path?|source?}]})
// so the page keeps working as the memory subsystem grows.

import {h, clear, notice, pretty} from '../lib/dom.js';
import {Page} from '../lib/page.js';

export class MemoryPage extends Page {
  constructor(ctx) {
    super(ctx, 'Memory');
    this.query = h('input', {type: 'search', placeholder: 'Search memory…', id: 'memory-query'});
    this.agent = h('input', {value: 'default', class: 'small', title: 'agent id'});
    this.results = h('div', {class: 'memory-results'});
    this.el.append(
      this.header('Facts and notes the agents stored, found by hybrid (vector + text) search.'),
      h('form', {class: 'inline search', onsubmit: (e) => { e.preventDefault(); this.search(); }},
        this.query, h('label', {}, 'Agent ', this.agent), h('button', {class: 'primary', type: 'submit', text: 'Search'})),
      this.results);
  }

  refresh() {
    if (!this.client.has('memory.search'))
      clear(this.results, notice('This gateway does not offer memory.search yet.', 'info'));
  }

  async search() {
    const query = this.query.value.trim();
    if (!query) return;
    clear(this.results, h('div', {class: 'muted', text: 'Searching…'}));
    try {
      const r = await this.client.call('memory.search', {query, agentId: this.agent.value.trim() || 'default'});
      const items = r?.results || r?.hits || r?.items || (Array.isArray(r) ? r : []);
      clear(this.results, items.length ? items.map((m) => h('div', {class: 'panel memory-hit'},
        h('div', {class: 'memory-meta muted', text: [typeof m.score === 'number' && `score ${m.score.toFixed(3)}`, m.path || m.source || m.id]
          .filter(Boolean).join(' · ')}),
        h('div', {class: 'history-text', text: m.text ?? m.content ?? pretty(m)})))
        : h('div', {class: 'muted', text: 'No matches.'}));
    } catch (e) {
      clear(this.results, notice(e.message, 'error'));
    }
  }
}
