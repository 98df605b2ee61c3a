// Approvals: exec commands waiting under tools.exec.security "ask" (approvals.list, `approval`
// events), approved or denied here (approvals.resolve). Recent decisions are listed below.

import {h, clear, fmtAgo, fmtTime, fmtDuration, badge, notice} from '../lib/dom.js';
import {Page} from '../lib/page.js';

export class ApprovalsPage extends Page {
  constructor(ctx) {
    super(ctx, 'Approvals');
    this.store = ctx.approvals;
    this.list = h('div', {class: 'approvals', id: 'approvals-list'});
    this.recent = h('div', {class: 'approvals-recent'});
    this.el.append(
      this.header('Commands the agent wants to run and that need your decision (tools.exec.security "ask").',
        h('button', {class: 'ghost', text: 'Refresh', onclick: () => this.refresh()})),
      this.list, h('h2', {text: 'Recent decisions'}), this.recent);
    this.store.addEventListener('change', () => this.render());
    this.clock = null;
  }

  refresh() { this.store.refresh(); }

  onShow() {
    this.render();
    this.clock = setInterval(() => this.updateCountdowns(), 1000);
  }

  onHide() { clearInterval(this.clock); }

  render() {
    const pending = this.store.list();
    const cards = pending.map((p) => this.card(p));
    clear(this.list, this.store.error ? notice(this.store.error, 'error') : null,
      cards.length ? cards : h('div', {class: 'muted empty-state', text: 'Nothing is waiting for approval.'}));
    clear(this.recent, this.store.recent.length
      ? this.store.recent.map((r) => h('div', {class: 'recent-row'},
        badge(r.decision, r.decision === 'approved' ? 'ok' : 'error'),
        h('span', {class: 'mono', text: r.request?.command || r.id}),
        h('span', {class: 'muted', text: [r.by && `by ${r.by}`, r.reason, fmtTime(r.at)].filter(Boolean).join(' · ')})))
      : h('div', {class: 'muted', text: 'None since this page was opened.'}));
  }

  card(p) {
    const reason = h('input', {placeholder: 'reason (optional)', class: 'small'});
    const decide = (decision) => {
      const b = h('button', {class: decision === 'approve' ? 'primary' : 'danger', text: decision === 'approve' ? 'Approve' : 'Deny',
        dataset: {decision}});
      b.onclick = () => this.act(b, () => this.store.resolve(p.id, decision, reason.value.trim()),
        `${decision === 'approve' ? 'Approved' : 'Denied'}: ${p.command}`);
      return b;
    };
    return h('div', {class: 'panel approval', dataset: {id: p.id}},
      h('div', {class: 'approval-title'}, badge(p.kind || 'exec', 'warn'), h('span', {class: 'muted', text: `requested ${fmtAgo(p.createdAt)}`}),
        h('div', {class: 'spacer'}), h('span', {class: 'countdown muted', dataset: {expires: p.expiresAt || ''}})),
      h('pre', {class: 'approval-command', text: p.command || ''}),
      h('div', {class: 'kv'},
        h('div', {class: 'kv-label', text: 'Directory'}), h('div', {class: 'kv-value mono', text: p.cwd || '—'}),
        h('div', {class: 'kv-label', text: 'Agent'}), h('div', {class: 'kv-value', text: p.agentId || '—'}),
        h('div', {class: 'kv-label', text: 'Session'}), h('div', {class: 'kv-value mono', text: p.sessionKey || '—'}),
        h('div', {class: 'kv-label', text: 'Run'}), h('div', {class: 'kv-value mono', text: p.runId ?? '—'})),
      h('div', {class: 'approval-actions'}, decide('approve'), decide('deny'), reason));
  }

  updateCountdowns() {
    for (const el of this.list.querySelectorAll('.countdown')) {
      const expires = Number(el.dataset.expires);
      if (!expires) continue;
      const left = expires - Date.now();
      el.textContent = left > 0 ? `expires in ${fmtDuration(left)}` : 'expired';
    }
  }
}
