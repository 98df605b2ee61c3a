// Base class of the pages. A page is built once, on first visit, and kept (hidden) when the user
// navigates away, so a chat that is streaming keeps streaming. refresh() loads its data: on every
// visit (unless refreshOnShow is false), and after a reconnect while visible (else on next visit).

import {h} from './dom.js';

export class Page {
  constructor(ctx, title) {
    this.ctx = ctx;
    this.client = ctx.client;
    this.title = title;
    this.el = h('section', {class: 'page', hidden: true});
    this.visible = false;
    this.loaded = false;
    this.stale = false;
    this.refreshOnShow = true;
    this.client.addEventListener('connected', () => {
      if (this.visible) this.refresh();
      else this.stale = true;
    });
  }

  show() {
    this.visible = true;
    this.el.hidden = false;
    if (!this.loaded || this.stale || this.refreshOnShow) {
      this.loaded = true;
      this.stale = false;
      if (this.client.connected) this.refresh();
    }
    this.onShow();
  }

  hide() {
    this.visible = false;
    this.el.hidden = true;
    this.onHide();
  }

  refresh() {}
  onShow() {}
  onHide() {}

  // Runs an action for a button: disables it meanwhile, reports failure as a toast.
  async act(button, fn, success) {
    if (button) button.disabled = true;
    try {
      const r = await fn();
      if (success) this.ctx.toast(typeof success === 'function' ? success(r) : success, 'ok');
      return r;
    } catch (e) {
      this.ctx.toast(e.message, 'error');
      return undefined;
    } finally {
      if (button) button.disabled = false;
    }
  }

  // A page header: title line with optional tools on the right.
  header(description, ...tools) {
    return h('div', {class: 'page-head'},
      h('p', {class: 'page-desc', text: description}),
      h('div', {class: 'page-tools'}, tools));
  }
}
