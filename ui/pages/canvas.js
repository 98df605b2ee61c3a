// Canvas: what the agent presents with the `canvas` tool, served by the gateway under /canvas/.
// A frame shows it, starting from what `canvas.get` reports; every `canvas` event ({agentId,
// version, action, url, title?}) points the frame at the event's url and reloads it (at once when
// this page is open, else on the next visit).
// While the gateway answers 404 (nothing presented, or no canvas endpoint) a notice says so.

import {h, clear, notice} from '../lib/dom.js';
import {Page} from '../lib/page.js';

const CANVAS_ROOT = '/canvas/';

export class CanvasPage extends Page {
  constructor(ctx) {
    super(ctx, 'Canvas');
    this.url = CANVAS_ROOT;
    this.frame = h('iframe', {class: 'canvas-frame', title: 'Canvas', id: 'canvas-frame', hidden: true});
    this.message = h('div');
    this.updated = h('span', {class: 'muted', id: 'canvas-updated'});
    this.openLink = h('a', {href: CANVAS_ROOT, target: '_blank', rel: 'noopener', class: 'button ghost', text: 'Open in new tab'});
    this.el.classList.add('page-fill');
    this.el.append(
      this.header('Content the agent presents with the canvas tool.', this.updated, this.openLink,
        h('button', {class: 'ghost', text: 'Reload', onclick: () => this.refresh()})),
      this.message, this.frame);
    this.client.on('canvas', (p) => {
      if (typeof p?.url === 'string' && p.url.startsWith(CANVAS_ROOT)) this.url = p.url;
      const parts = [p?.title, p?.agentId && `agent ${p.agentId}`, p?.version && `version ${p.version}`,
        `updated ${new Date().toLocaleTimeString()}`];
      this.updated.textContent = parts.filter(Boolean).join(' · ');
      if (this.visible) this.refresh();
      else this.stale = true;
    });
  }

  async refresh() {
    if (!this.asked && this.client.has('canvas.get')) {
      // What the default agent presented before this page was opened.
      this.asked = true;
      try {
        const last = await this.client.call('canvas.get', {});
        if (typeof last?.url === 'string' && last.url.startsWith(CANVAS_ROOT) && this.url === CANVAS_ROOT) this.url = last.url;
      } catch { /* older gateway: the root then */ }
    }
    const url = this.url;
    this.openLink.href = url;
    let status = 0;
    try {
      // Same origin: the auth cookie goes along.
      status = (await fetch(url, {credentials: 'same-origin', cache: 'no-store'})).status;
    } catch { /* network error: status 0 */ }
    if (url !== this.url) return;  // a newer event came meanwhile
    if (status >= 200 && status < 400) {
      clear(this.message);
      this.frame.hidden = false;
      // Setting src navigates even when unchanged: a reload. (The canvas is served sandboxed, an
      // opaque origin, so contentWindow.location.reload() would be refused.)
      this.frame.src = url;
    } else {
      this.frame.hidden = true;
      clear(this.message, notice(status === 404 ? 'Nothing on the canvas yet.'
        : status === 401 ? 'Not authorised to read the canvas.' : `The canvas is not available (${status || 'network error'}).`, 'info'));
    }
  }
}
