// Sessions: every conversation the kernel keeps (sessions.list), a session's history
// (sessions.history), branching a copy (sessions.branch) and resetting (sessions.reset).

import {h, clear, fmtAgo, fmtTime, badge, emptyRow, notice} from '../lib/dom.js';
import {Page} from '../lib/page.js';

const PAGE_SIZE = 100;

export class SessionsPage extends Page {
  constructor(ctx) {
    super(ctx, 'Sessions');
    this.selected = null;
    this.agentFilter = h('input', {placeholder: 'agent id', class: 'small', onchange: () => this.refresh()});
    this.showEnded = h('input', {type: 'checkbox', onchange: () => this.refresh()});
    this.summary = h('span', {class: 'muted'});
    this.rows = h('tbody');
    this.detail = h('div', {class: 'panel', hidden: true, id: 'session-detail'});
    this.el.append(
      this.header('Conversations stored by the kernel, most recently active first.',
        h('label', {}, 'Agent ', this.agentFilter), h('label', {}, this.showEnded, ' include ended'),
        h('button', {class: 'ghost', text: 'Refresh', onclick: () => this.refresh()})),
      h('table', {class: 'table', id: 'sessions-table'},
        h('thead', {}, h('tr', {}, ['Key', 'Agent', 'Channel', 'Messages', 'Last active', 'State', ''].map((t) => h('th', {text: t})))),
        this.rows),
      this.summary, this.detail);
  }

  async refresh() {
    const params = {limit: PAGE_SIZE};
    if (this.agentFilter.value.trim()) params.agentId = this.agentFilter.value.trim();
    if (!this.showEnded.checked) params.active = true;
    try {
      const r = await this.client.call('sessions.list', params);
      const sessions = r.sessions || [];
      clear(this.rows, sessions.length ? sessions.map((s) => this.row(s)) : emptyRow(7, 'No sessions.'));
      this.summary.textContent = `${sessions.length} of ${r.total ?? sessions.length} shown`;
    } catch (e) {
      clear(this.rows, emptyRow(7, `Could not list sessions: ${e.message}`));
    }
    if (this.selected) this.showSession(this.selected);
  }

  row(s) {
    return h('tr', {class: ['clickable', s.key === this.selected && 'selected'], dataset: {key: s.key}, onclick: () => this.showSession(s.key)},
      h('td', {class: 'mono', text: s.key}),
      h('td', {text: s.agentId}),
      h('td', {text: [s.channelId, s.lastAddress].filter(Boolean).join(' · ') || '—'}),
      h('td', {text: s.messageCount ?? 0}),
      h('td', {text: fmtAgo(s.lastActiveAt), title: fmtTime(s.lastActiveAt)}),
      h('td', {}, s.active ? badge('active', 'ok') : badge(s.endReason ? `ended (${s.endReason})` : 'ended', 'muted')),
      h('td', {}, h('button', {class: 'ghost small', text: 'Open in chat', onclick: (e) => { e.stopPropagation(); this.openInChat(s.key); }})));
  }

  openInChat(key) {
    this.ctx.page('chat').openSession(key);
    this.ctx.navigate('chat');
  }

  async showSession(key) {
    this.selected = key;
    for (const tr of this.rows.querySelectorAll('tr')) tr.classList.toggle('selected', tr.dataset.key === key);
    this.detail.hidden = false;
    let r;
    try {
      r = await this.client.call('sessions.history', {key, limit: 500});
    } catch (e) {
      clear(this.detail, h('h2', {text: key}), notice(e.code === 'NOT_FOUND' ? 'No messages yet.' : e.message, 'error'));
      return;
    }
    const s = r.session || {key};
    const branchButton = h('button', {text: 'Branch', title: 'Copy the whole history into a new session'});
    branchButton.onclick = () => this.branch(branchButton, key);
    const resetButton = h('button', {class: 'danger', text: 'Reset', title: 'End this session; the next message starts a new one'});
    resetButton.onclick = () => this.reset(resetButton, key);
    clear(this.detail,
      h('div', {class: 'panel-head'},
        h('h2', {class: 'mono', text: key}), h('div', {class: 'spacer'}),
        h('button', {class: 'primary', text: 'Open in chat', onclick: () => this.openInChat(key)}), branchButton, resetButton,
        h('button', {class: 'ghost', text: 'Close', onclick: () => { this.selected = null; this.detail.hidden = true; }})),
      h('div', {class: 'kv'},
        kv('Agent', s.agentId), kv('Kind', s.kind), kv('Created', fmtTime(s.createdAt)), kv('Last active', fmtTime(s.lastActiveAt)),
        s.parentKey ? kv('Branched from', `${s.parentKey} at message ${s.branchedAt ?? '—'}`) : null,
        s.endedAt ? kv('Ended', `${fmtTime(s.endedAt)} (${s.endReason || ''})`) : null),
      h('div', {class: 'history'}, (r.messages || []).map((m) => this.message(key, m))));
  }

  message(key, m) {
    const args = (a) => (typeof a === 'string' ? a : JSON.stringify(a ?? {}));
    const text = m.content || (m.toolCalls || []).map((c) => `→ ${c.name}(${args(c.arguments)})`).join('\n');
    const branch = h('button', {class: 'ghost small', text: 'Branch here', title: `New session with messages up to #${m.seq}`});
    branch.onclick = () => this.branch(branch, key, m.seq);
    return h('div', {class: ['history-msg', `role-${m.role}`]},
      h('div', {class: 'history-meta'}, h('span', {class: 'mono', text: `#${m.seq}`}), badge(m.role),
        m.toolName ? h('span', {class: 'mono', text: m.toolName}) : null,
        h('span', {class: 'muted', text: fmtTime(m.createdAt)}), h('div', {class: 'spacer'}), branch),
      h('div', {class: 'history-text', text}));
  }

  async branch(button, key, atMessage) {
    const params = {key};
    if (atMessage !== undefined) params.atMessage = atMessage;
    const r = await this.act(button, () => this.client.call('sessions.branch', params), (r) => `Branched into ${r.session.key}`);
    if (r) {
      this.selected = r.session.key;
      this.refresh();
    }
  }

  async reset(button, key) {
    if (!confirm(`Reset ${key}? The history is kept but the next message starts a new session.`)) return;
    const r = await this.act(button, () => this.client.call('sessions.reset', {key, reason: 'control-ui'}), 'Session reset');
    if (r) this.refresh();
  }
}

function kv(label, value) {
  return [h('div', {class: 'kv-label', text: label}), h('div', {class: 'kv-value', text: value ?? '—'})];
}
