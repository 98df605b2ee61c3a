// Logs: the kernel log (logs.tail), re-read every 2 s while this page is open. Follows the end
// unless the user scrolled up or unticked "follow"; a filter keeps matching lines only.

import {h, clear, isAtBottom, Poller} from '../lib/dom.js';
import {Page} from '../lib/page.js';

const LINES = 1000;
const POLL_MS = 2000;

function levelOf(line) {
  const m = / (trace|debug|info|warning|warn|error|critical)\b/.exec(line);
  return m ? m[1].replace('warning', 'warn') : 'info';
}

export class LogsPage extends Page {
  constructor(ctx) {
    super(ctx, 'Logs');
    this.lines = [];
    this.follow = h('input', {type: 'checkbox', checked: true});
    this.filter = h('input', {type: 'search', placeholder: 'filter', onchange: () => this.render(), oninput: () => this.render()});
    this.liveDot = h('span', {class: 'live', text: 'live'});
    this.pre = h('div', {class: 'log log-lines', id: 'kernel-log'});
    this.el.classList.add('page-fill');
    this.el.append(
      this.header('The kernel log (<home>/logs/kernel.log), last 1000 lines.',
        this.liveDot, h('label', {}, this.follow, ' follow'), this.filter),
      this.pre);
    this.poller = new Poller(() => this.load(), POLL_MS);
  }

  refresh() { this.load(); }
  onShow() { this.poller.start(false); }  // show() just refreshed
  onHide() { this.poller.stop(); }

  async load() {
    if (!this.client.connected) return;
    try {
      const r = await this.client.call('logs.tail', {lines: LINES});
      const lines = r.lines || [];
      this.liveDot.classList.remove('stale');
      if (lines.length === this.lines.length && lines.at(-1) === this.lines.at(-1)) return;
      this.lines = lines;
      this.render();
    } catch (e) {
      this.liveDot.classList.add('stale');
    }
  }

  render() {
    const pinned = isAtBottom(this.pre);
    const needle = this.filter.value.trim().toLowerCase();
    const shown = needle ? this.lines.filter((l) => l.toLowerCase().includes(needle)) : this.lines;
    clear(this.pre, shown.length ? shown.map((l) => h('div', {class: `log-line log-${levelOf(l)}`, text: l}))
      : h('div', {class: 'muted', text: needle ? 'No matching lines.' : 'The log is empty.'}));
    if (this.follow.checked && (pinned || !this.rendered)) this.pre.scrollTop = this.pre.scrollHeight;
    this.rendered = true;
  }
}
