// Memory: the agents' long-term memory (SPEC §9). A search box over `memory.search` (hybrid:
// vector + BM25) with an agent picker when there are several agents; each result shows
// path:lines, its score as a bar and the snippet, and opens to the whole chunk. A status panel
// (`memory.status`: model, counts per workspace, pending embeddings, last index, last error) with
// a "Re-index" button that calls `memory.index` and shows its `memory.progress` events live.

import {h, clear, badge, notice, Poller} from '../lib/dom.js';
import {Page} from '../lib/page.js';

const INDEX_TIMEOUT_MS = 0;  // memory.index waits for the whole pass: no client-side limit
const STATUS_POLL_MS = 5000;  // the watcher changes the counts without an event

function lines(hit) {
  return hit.startLine === hit.endLine ? `${hit.startLine}` : `${hit.startLine}-${hit.endLine}`;
}

function num(n) { return typeof n === 'number' ? n.toLocaleString() : '—'; }
function count(n, what) { return `${num(n)} ${what}${n === 1 ? '' : 's'}`; }

// "3 files scanned, 1 changed, 0 removed · 12 chunks added, 0 removed · 12 embeddings computed, 0 cached · 0.4 s"
export function reportText(r = {}) {
  const parts = [
    `${count(r.filesScanned, 'file')} scanned, ${num(r.filesChanged)} changed, ${num(r.filesRemoved)} removed`,
    `${count(r.chunksAdded, 'chunk')} added, ${num(r.chunksRemoved)} removed`,
    `${count(r.embeddingsComputed, 'embedding')} computed, ${num(r.embeddingsCached)} from the cache`,
  ];
  if (typeof r.elapsedMs === 'number') parts.push(r.elapsedMs < 1000 ? `${r.elapsedMs} ms` : `${(r.elapsedMs / 1000).toFixed(2)} s`);
  return parts.join(' · ');
}

// "all agents: scanning 3/10 files" / "agent helper: embedding 40/120 chunks"; [done, total] for the
// bar. memory.progress names the pass by agentId ("all" for every workspace); memory.status's
// `indexing` by nothing (then "memory").
function progressText(p = {}) {
  const where = p.agentId ? (p.agentId === 'all' ? 'all agents' : `agent ${p.agentId}`)
    : ((p.workspace || '').split('/').filter(Boolean).pop() || 'memory');
  if (p.phase === 'scanning') return [`${where}: scanning ${p.filesDone ?? 0}/${p.filesTotal ?? 0} files`, p.filesDone, p.filesTotal];
  if (p.phase === 'embedding') return [`${where}: embedding ${p.chunksEmbedded ?? 0}/${p.chunksPending ?? 0} chunks`, p.chunksEmbedded, p.chunksPending];
  if (p.phase === 'idle') return [`${where}: done`, 1, 1];
  return [`${where}: ${p.phase || 'working'}…`, 0, 0];  // indeterminate
}

export class MemoryPage extends Page {
  constructor(ctx) {
    super(ctx, 'Memory');
    this.query = h('input', {type: 'search', placeholder: 'Search memory…', id: 'memory-query', autocomplete: 'off'});
    this.agent = h('select', {id: 'memory-agent', title: 'agent', onchange: () => { if (this.query.value.trim()) this.search(); }});
    this.agentField = h('label', {hidden: true}, 'Agent ', this.agent);
    this.searchButton = h('button', {class: 'primary', type: 'submit', id: 'memory-search', text: 'Search'});
    this.results = h('div', {class: 'memory-results', id: 'memory-results'});
    this.statusBody = h('div', {id: 'memory-status-body'}, h('div', {class: 'muted', text: 'Loading…'}));
    this.force = h('input', {type: 'checkbox', id: 'memory-force'});
    this.reindexButton = h('button', {id: 'memory-reindex', text: 'Re-index', onclick: () => this.reindex()});
    this.progressBar = h('progress', {id: 'memory-progress-bar', max: 1, value: 0});
    this.progressText = h('span', {class: 'muted'});
    this.progress = h('div', {class: 'memory-progress', id: 'memory-progress', hidden: true}, this.progressBar, this.progressText);
    this.report = h('div', {id: 'memory-report'});
    this.indexing = false;
    this.searches = 0;  // answers of an older search (another agent, another query) are dropped
    this.poller = new Poller(() => this.loadStatus(), STATUS_POLL_MS);
    this.el.append(
      this.header('Facts and notes the agents stored, and their workspaces\' MEMORY.md and memory/**/*.md, found by hybrid (vector + text) search.',
        h('button', {class: 'ghost', text: 'Refresh', onclick: () => this.refresh()})),
      h('form', {class: 'inline search', id: 'memory-form', onsubmit: (e) => { e.preventDefault(); this.search(); }},
        this.query, this.agentField, this.searchButton),
      this.results,
      h('div', {class: 'panel', id: 'memory-status'},
        h('div', {class: 'panel-head'}, h('h2', {text: 'Index'}), h('div', {class: 'spacer'}),
          h('label', {title: 'Re-chunk files even when unchanged'}, this.force, 'force'), this.reindexButton),
        this.progress, this.report, this.statusBody));
    this.client.on('memory.progress', (p) => this.onProgress(p));
  }

  get agentId() { return this.agent.value || 'default'; }

  onShow() { this.poller.start(false); }  // show() just refreshed
  onHide() { this.poller.stop(); }

  async refresh() {
    if (!this.client.has('memory.search')) {
      clear(this.results, notice('This gateway does not offer memory.search.', 'info'));
      this.searchButton.disabled = this.reindexButton.disabled = true;
      clear(this.statusBody);
      return;
    }
    await Promise.all([this.loadAgents(), this.loadStatus()]);
  }

  async loadAgents() {
    try {
      const r = await this.client.call('config.get', {path: 'agents'});
      const ids = Object.entries(r?.value || {}).filter(([, v]) => v && typeof v === 'object' && !Array.isArray(v)).map(([k]) => k);
      if (!ids.includes('default')) ids.unshift('default');
      const current = this.agent.value;
      clear(this.agent, ids.map((id) => h('option', {value: id, text: id, selected: id === current})));
      this.agentField.hidden = ids.length < 2;
    } catch {
      if (!this.agent.options.length) this.agent.append(h('option', {value: 'default', text: 'default'}));
    }
  }

  async loadStatus() {
    if (!this.client.has('memory.status')) return;
    try {
      this.renderStatus(await this.client.call('memory.status'));
    } catch (e) {
      clear(this.statusBody, notice(`Could not read the memory status: ${e.message}`, 'error'));
    }
  }

  renderStatus(s) {
    const enabled = s?.enabled !== false;
    this.searchButton.disabled = !enabled;
    this.reindexButton.disabled = !enabled || this.indexing;
    if (!enabled) {
      clear(this.statusBody, notice('Memory is disabled (memory.enabled is false in the config).', 'info'));
      return;
    }
    const kv = (label, ...value) => [h('div', {class: 'kv-label', text: label}), h('div', {}, value)];
    const last = s.lastIndex;
    const pending = s.pending ?? Math.max(0, (s.chunks ?? 0) - (s.embedded ?? 0));
    clear(this.statusBody,
      h('div', {class: 'kv'},
        kv('Embedder', `${s.provider || '—'} · ${s.model || '—'}${s.dims ? ` · ${s.dims} dimensions` : ''}`),
        kv('Index', h('span', {id: 'memory-counts', text: `${count(s.files, 'file')} · ${count(s.chunks, 'chunk')} · ${num(s.embedded)} embedded`}),
          ' ', pending ? badge(`${num(pending)} pending`, 'warn') : badge('all embedded', 'ok')),
        kv('Embeddings', `${num(s.embeddingsComputed)} computed, ${num(s.embeddingsCached)} from the cache (since the gateway started)`),
        kv('Watching', s.watching ? badge('watching', 'ok') : badge('not watching', 'muted')),
        kv('Indexing', s.indexing ? progressText(s.indexing)[0] : 'no'),
        kv('Last index', last ? [reportText(last), last.error ? h('div', {class: 'error-text', text: last.error}) : null] : 'none since the gateway started'),
        kv('Last error', s.lastError ? h('span', {class: 'error-text', text: s.lastError}) : '—')),
      h('table', {class: 'table', id: 'memory-workspaces'},
        h('thead', {}, h('tr', {}, ['Workspace', 'Files', 'Chunks', 'Embedded', 'Pending'].map((t) => h('th', {text: t})))),
        h('tbody', {}, (s.workspaces || []).map((w) => h('tr', {},
          h('td', {class: 'mono', text: w.workspace}), h('td', {text: num(w.files)}), h('td', {text: num(w.chunks)}),
          h('td', {text: num(w.embedded)}), h('td', {text: num(Math.max(0, (w.chunks ?? 0) - (w.embedded ?? 0)))}))))));
  }

  async search() {
    const query = this.query.value.trim();
    if (!query) return;
    const serial = ++this.searches;
    clear(this.results, h('div', {class: 'muted', text: 'Searching…'}));
    this.searchButton.disabled = true;
    try {
      const r = await this.client.call('memory.search', {query, agentId: this.agentId});
      if (serial !== this.searches) return;
      const hits = r?.results || [];
      clear(this.results,
        h('div', {class: 'muted memory-summary', text: `${hits.length} result${hits.length === 1 ? '' : 's'} for “${query}”${r?.model ? ` · ${r.model}` : ''}`}),
        hits.map((hit) => this.hitView(hit)));
    } catch (e) {
      if (serial === this.searches) clear(this.results, notice(e.message, 'error'));
    } finally {
      if (serial === this.searches) this.searchButton.disabled = false;
    }
  }

  // One result: a <details> whose summary is path:lines, the score bar and the snippet; opening it
  // shows the whole chunk (`text`, when the gateway sends it).
  hitView(hit) {
    const score = typeof hit.score === 'number' ? hit.score : 0;
    const parts = [typeof hit.vectorScore === 'number' && `vector ${hit.vectorScore.toFixed(3)}`,
      typeof hit.textScore === 'number' && `text ${hit.textScore.toFixed(3)}`].filter(Boolean).join(' · ');
    return h('details', {class: 'panel memory-hit', dataset: {path: hit.path || ''}},
      h('summary', {},
        h('div', {class: 'memory-meta'},
          h('span', {class: 'mono memory-loc', text: `${hit.path}:${lines(hit)}`}),
          hit.source ? badge(hit.source) : null,
          h('span', {class: 'spacer'}),
          h('meter', {class: 'memory-score-bar', min: 0, max: 1, value: score, title: parts}),
          h('span', {class: 'mono memory-score', text: score.toFixed(3), title: parts})),
        h('div', {class: 'memory-snippet', text: hit.snippet || ''})),
      h('pre', {class: 'memory-text', text: hit.text ?? hit.snippet ?? ''}));
  }

  async reindex() {
    if (this.indexing) return;
    this.indexing = true;
    this.reindexButton.disabled = true;
    clear(this.report);
    this.showProgress({phase: 'starting'});
    const params = {agentId: this.agentField.hidden ? undefined : this.agentId, force: this.force.checked || undefined};
    try {
      const r = await this.client.call('memory.index', JSON.parse(JSON.stringify(params)), {timeoutMs: INDEX_TIMEOUT_MS});
      clear(this.report, notice(`Indexed: ${reportText(r)}${r?.error ? ` — stopped: ${r.error}` : ''}`, r?.error ? 'error' : 'info'));
      this.ctx.toast('Memory re-indexed', 'ok');
    } catch (e) {
      clear(this.report, notice(`Re-index failed: ${e.message}`, 'error'));
    } finally {
      this.indexing = false;
      this.progress.hidden = true;
      this.reindexButton.disabled = false;
      this.loadStatus();
    }
  }

  onProgress(p) {
    if (!this.visible && !this.indexing) return;
    this.showProgress(p);
    if (p.phase === 'idle' && !this.indexing) {
      this.progress.hidden = true;
      this.loadStatus();
    }
  }

  showProgress(p) {
    const [text, done, total] = progressText(p);
    this.progress.hidden = false;
    this.progressText.textContent = text;
    if (total > 0) {
      this.progressBar.max = total;
      this.progressBar.value = Math.min(done ?? 0, total);
    } else {
      this.progressBar.removeAttribute('value');  // indeterminate
    }
    this.progress.dataset.phase = p.phase || '';
  }
}
