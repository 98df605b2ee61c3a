// Small DOM helpers: the whole UI is built from these, no framework. Text always goes in through
// textContent, never innerHTML, so nothing the gateway sends can inject markup. No inline styles
// either: the page's Content-Security-Policy forbids them; everything is a class in style.css.

// h('button', {class: 'primary', onclick: fn, disabled: true}, 'Save') → <button>.
// props: class, text, dataset {..}, on<event> functions, properties (value, checked, disabled,
// hidden, selected, open, title, type...) and any other attribute (set with setAttribute).
const PROPERTIES = new Set(['value', 'checked', 'disabled', 'hidden', 'selected', 'open', 'title', 'type',
  'placeholder', 'href', 'src', 'name', 'rows', 'readOnly', 'autocomplete', 'id', 'htmlFor', 'tabIndex']);

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false && key !== 'value') continue;
    if (key === 'class') el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (PROPERTIES.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// ---- formatting ----------------------------------------------------------------------------

export function fmtTime(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

export function fmtDuration(ms) {
  if (ms === undefined || ms === null) return '—';
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export function fmtAgo(ms) {
  if (!ms) return '—';
  const diff = Date.now() - ms;
  return diff >= 0 ? `${fmtDuration(diff)} ago` : `in ${fmtDuration(diff)}`;
}

export function fmtBytes(n) {
  if (typeof n !== 'number') return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function pretty(value) {
  if (typeof value === 'string') {
    try { return JSON.stringify(JSON.parse(value), null, 2); } catch { return value; }
  }
  return JSON.stringify(value, null, 2);
}

// A random id for idempotency keys: crypto.randomUUID needs a secure context (not plain http on a LAN).
export function randomId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  return Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
}

// ---- widgets -------------------------------------------------------------------------------

// A collapsible, read-only JSON tree. Objects and arrays are <details> open down to `openDepth`.
export function jsonTree(value, openDepth = 1, key = null, depth = 0) {
  const label = key === null ? [] : [h('span', {class: 'json-key', text: key}), ': '];
  if (value !== null && typeof value === 'object') {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v]) : Object.entries(value);
    const summary = Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`;
    if (entries.length === 0) return h('div', {class: 'json-leaf'}, label, h('span', {class: 'json-punct', text: Array.isArray(value) ? '[]' : '{}'}));
    return h('details', {class: 'json-node', open: depth < openDepth},
      h('summary', {}, label, h('span', {class: 'json-punct', text: summary})),
      h('div', {class: 'json-children'}, entries.map(([k, v]) => jsonTree(v, openDepth, k, depth + 1))));
  }
  const kind = value === null ? 'null' : typeof value;
  const text = kind === 'string' ? JSON.stringify(value) : String(value);
  return h('div', {class: 'json-leaf'}, label, h('span', {class: `json-${kind}`, text}));
}

export function setAllDetails(root, open) {
  for (const d of root.querySelectorAll('details')) d.open = open;
}

export function badge(text, kind = '') {
  return h('span', {class: ['badge', kind && `badge-${kind}`], text});
}

// Colour class for an app / run / job state.
export function stateKind(state) {
  if (['ready', 'ok', 'done', 'approved', 'active', 'connected', 'yes'].includes(state)) return 'ok';
  if (['error', 'failed', 'crashed', 'denied', 'unhealthy'].includes(state)) return 'error';
  if (['starting', 'stopping', 'restarting', 'running', 'queued', 'pending', 'backoff'].includes(state)) return 'warn';
  return 'muted';
}

export function emptyRow(columns, text) {
  return h('tr', {class: 'empty'}, h('td', {colspan: columns, text}));
}

export function notice(text, kind = 'info') {
  return h('div', {class: ['notice', `notice-${kind}`], text});
}

// Runs `fn` every `ms` while started (and at once unless `immediate` is false); a slow call
// never overlaps the next one.
export class Poller {
  constructor(fn, ms) { this.fn = fn; this.ms = ms; this.timer = null; this.running = false; }
  start(immediate = true) {
    if (this.running) return;
    this.running = true;
    const tick = async () => {
      if (!this.running) return;
      try { await this.fn(); } catch { /* the page shows its own errors */ }
      if (this.running) this.timer = setTimeout(tick, this.ms);
    };
    if (immediate) tick();
    else this.timer = setTimeout(tick, this.ms);
  }
  stop() { this.running = false; clearTimeout(this.timer); this.timer = null; }
}

// Keeps a scrollable element pinned to the bottom unless the user scrolled up.
export function isAtBottom(el) {
  return el.scrollHeight - el.scrollTop - el.clientHeight < 24;
}
