// Chat: talk to an agent in one of its sessions. Sends with the `agent` method (acknowledged with
// {runId, status: "accepted"}, answered finally when the run ends), streams the reply from `agent`
// events, shows tool calls as expandable items and pending exec approvals inline.

import {h, clear, pretty, randomId, fmtTime, isAtBottom, notice} from '../lib/dom.js';
import {Page} from '../lib/page.js';

const mainKey = (agentId) => `agent:${agentId}:main`;
const HISTORY_LIMIT = 200;

// One tool call: name, arguments, then its result (or error). A <details> so it folds away.
function toolItem({id, name, arguments: args}) {
  const state = h('span', {class: 'tool-state', text: 'running…'});
  const result = h('pre', {class: 'tool-output', text: '…'});
  const el = h('details', {class: 'tool tool-pending', dataset: {toolId: id || '', tool: name || ''}},
    h('summary', {}, h('span', {class: 'tool-name', text: name || 'tool'}), state),
    h('div', {class: 'tool-body'},
      h('div', {class: 'tool-label', text: 'Arguments'}), h('pre', {class: 'tool-args', text: pretty(args ?? {})}),
      h('div', {class: 'tool-label', text: 'Result'}), result));
  return {
    el,
    setResult(output, isError) {
      result.textContent = output ?? '';
      state.textContent = isError ? 'error' : 'done';
      el.classList.remove('tool-pending');
      el.classList.add(isError ? 'tool-error' : 'tool-ok');
    },
  };
}

function bubble(role, ...children) {
  return h('div', {class: ['msg', `msg-${role}`]}, children);
}

// A run shown live: the user's message (when sent from here), then the assistant's text segments
// and tool items in the order they happen, and a status line.
class RunView {
  constructor(page, {sessionKey, userText = null, idempotencyKey = null}) {
    this.page = page;
    this.sessionKey = sessionKey;
    this.idempotencyKey = idempotencyKey;
    this.runId = null;
    this.status = 'queued';
    this.textEl = null;
    this.tools = new Map();
    this.approvalCards = new Map();
    this.body = h('div', {class: 'msg-body'});
    this.statusEl = h('div', {class: 'run-status', text: 'queued…'});
    this.el = h('div', {class: 'run', dataset: {status: 'queued'}},
      userText !== null ? bubble('user', h('div', {class: 'msg-text', text: userText})) : null,
      bubble('assistant', this.body, this.statusEl));
  }

  setStatus(status, text) {
    this.status = status;
    this.el.dataset.status = status;
    this.statusEl.textContent = text;
    this.statusEl.className = `run-status run-${status}`;
  }

  get done() { return ['ok', 'error', 'lost'].includes(this.status); }

  handle(p) {
    const data = p.data || {};
    if (p.stream === 'assistant' && typeof data.delta === 'string') {
      if (!this.textEl) this.body.append(this.textEl = h('div', {class: 'msg-text'}));
      this.textEl.textContent += data.delta;
      if (!this.done) this.setStatus('running', 'streaming…');
    } else if (p.stream === 'lifecycle') {
      if (data.phase === 'attempt' && this.textEl) this.textEl.textContent = '';  // a new model call voids it
      if (data.phase === 'start' || data.phase === 'attempt') this.setStatus('running', data.model ? `thinking (${data.model})…` : 'thinking…');
      if (data.phase === 'error' && !this.done) this.setStatus('running', 'failed; waiting for the result…');
    } else if (p.stream === 'tool') {
      this.onTool(data);
    }
  }

  onTool(data) {
    let item = this.tools.get(data.id);
    if (!item) {
      this.textEl = null;  // text after the tool call goes below it
      item = toolItem(data);
      this.tools.set(data.id, item);
      this.body.append(item.el);
    }
    if (data.phase === 'result') item.setResult(data.output, data.isError);
    else this.setStatus('running', `running ${data.name}…`);
  }

  // The final response of `agent`.
  finish(r) {
    const streamed = [...this.body.querySelectorAll('.msg-text')].at(-1);
    if (r.text && (!streamed || streamed.textContent !== r.text)) {
      if (streamed && this.textEl) streamed.textContent = r.text;
      else this.body.append(this.textEl = h('div', {class: 'msg-text', text: r.text}));
    }
    const parts = [];
    if (r.model) parts.push(r.model);
    if (r.usage) parts.push(`${r.usage.input ?? 0} in / ${r.usage.output ?? 0} out tokens`);
    if (typeof r.durationMs === 'number') parts.push(`${(r.durationMs / 1000).toFixed(1)}s`);
    if (r.status === 'error') this.setStatus('error', `error: ${r.error || 'the run failed'}`);
    else this.setStatus('ok', parts.join(' · ') || 'done');
  }

  fail(message) {
    this.setStatus('lost', `${message} — the run may still finish; its result will show in the history`);
  }

  showApproval(request, store) {
    if (this.approvalCards.has(request.id)) return;
    const actions = h('div', {class: 'approval-actions'});
    const card = h('div', {class: 'approval-card', dataset: {approvalId: request.id}},
      h('div', {class: 'approval-title', text: `Approval needed: ${request.kind || 'exec'}`}),
      h('pre', {class: 'approval-command', text: request.command || ''}),
      request.cwd ? h('div', {class: 'muted', text: `in ${request.cwd}`}) : null,
      actions);
    const decide = (decision) => async (e) => {
      for (const b of actions.querySelectorAll('button')) b.disabled = true;
      try {
        await store.resolve(request.id, decision);
      } catch (err) {
        this.page.ctx.toast(err.message, 'error');
        for (const b of actions.querySelectorAll('button')) b.disabled = false;
      }
      e.preventDefault();
    };
    actions.append(h('button', {class: 'primary', text: 'Approve', onclick: decide('approve')}),
      h('button', {class: 'danger', text: 'Deny', onclick: decide('deny')}));
    this.approvalCards.set(request.id, {card, actions});
    this.body.append(card);
  }

  resolveApproval(id, decision) {
    const entry = this.approvalCards.get(id);
    if (!entry || entry.card.dataset.decision) return;
    entry.card.dataset.decision = decision;
    clear(entry.actions, h('span', {class: `badge badge-${decision === 'approved' ? 'ok' : 'error'}`, text: decision}));
  }
}

export class ChatPage extends Page {
  constructor(ctx) {
    super(ctx, 'Chat');
    this.refreshOnShow = false;  // keep live runs; history reloads on session change and reconnect
    this.agentId = 'default';
    this.sessionKey = mainKey(this.agentId);
    this.runs = new Map();   // runId → RunView
    this.sends = new Map();  // idempotencyKey → RunView, until its runId is known
    this.agentSelect = h('select', {id: 'chat-agent', onchange: () => this.selectAgent(this.agentSelect.value)});
    this.sessionSelect = h('select', {id: 'chat-session', onchange: () => this.openSession(this.sessionSelect.value)});
    this.history = h('div', {class: 'chat-history'});
    this.live = h('div', {class: 'chat-live'});
    this.log = h('div', {class: 'chat-log', id: 'chat-log'}, this.history, this.live);
    this.input = h('textarea', {id: 'chat-input', rows: 2, placeholder: 'Message the agent (Enter to send, Shift+Enter for a new line)',
      onkeydown: (e) => { if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); } }});
    this.sendButton = h('button', {class: 'primary', id: 'chat-send', type: 'submit', text: 'Send'});
    this.el.classList.add('page-chat');
    this.el.append(
      h('div', {class: 'chat-toolbar'},
        h('label', {}, 'Agent ', this.agentSelect), h('label', {}, 'Session ', this.sessionSelect),
        h('button', {class: 'ghost', text: 'Reload', onclick: () => this.refresh()})),
      this.log,
      h('form', {class: 'composer', onsubmit: (e) => { e.preventDefault(); this.send(); }}, this.input, this.sendButton));
    this.client.on('agent', (p) => this.onAgentEvent(p));
    ctx.approvals.addEventListener('change', () => this.syncApprovals());
  }

  refresh() {
    this.loadAgents();
    this.loadSessions();
    this.loadHistory();
  }

  onShow() { setTimeout(() => this.input.focus(), 0); }

  // Opens a session (from the Sessions page, or the session picker).
  openSession(key) {
    if (!key) return;
    this.sessionKey = key;
    const agent = /^agent:([^:]+):/.exec(key);
    if (agent) this.agentId = agent[1];
    for (const run of this.runs.values()) if (run.sessionKey !== key) run.el.remove();
    if (this.client.connected) this.refresh();
    else this.stale = true;
  }

  selectAgent(agentId) {
    this.openSession(mainKey(agentId));
  }

  async loadAgents() {
    const ids = new Set(['default', this.agentId]);
    try {
      const r = await this.client.call('config.get', {path: 'agents'});
      if (r.value && typeof r.value === 'object') for (const id of Object.keys(r.value)) ids.add(id);
    } catch { /* only the default agent then */ }
    clear(this.agentSelect, [...ids].sort().map((id) => h('option', {value: id, text: id, selected: id === this.agentId})));
  }

  async loadSessions() {
    const keys = new Map([[mainKey(this.agentId), 'main session']]);
    try {
      const r = await this.client.call('sessions.list', {agentId: this.agentId, limit: 50});
      for (const s of r.sessions || []) if (!keys.has(s.key)) keys.set(s.key, s.lastAddress || s.channelId || '');
    } catch { /* just the main session */ }
    if (!keys.has(this.sessionKey)) keys.set(this.sessionKey, '');
    clear(this.sessionSelect, [...keys].map(([key, note]) =>
      h('option', {value: key, text: note ? `${key} (${note})` : key, selected: key === this.sessionKey})));
  }

  async loadHistory() {
    const key = this.sessionKey;
    let messages = [];
    let error = null;
    try {
      messages = (await this.client.call('sessions.history', {key, limit: HISTORY_LIMIT})).messages || [];
    } catch (e) {
      if (e.code === 'METHOD_NOT_FOUND' && this.client.has('chat.history')) {
        try { messages = (await this.client.call('chat.history', {sessionKey: key, limit: HISTORY_LIMIT})).messages || []; }
        catch (e2) { error = e2; }
      } else if (e.code !== 'NOT_FOUND') {
        error = e;  // NOT_FOUND: the session has no messages yet
      }
    }
    if (key !== this.sessionKey) return;  // switched meanwhile
    const pinned = isAtBottom(this.log);
    clear(this.history, error ? notice(`Could not load the history: ${error.message}`, 'error') : this.renderHistory(messages));
    // Finished runs are in the history now; running ones stay live.
    for (const run of this.runs.values()) {
      if (run.done || run.sessionKey !== key) run.el.remove();
      else if (!run.el.isConnected) this.live.append(run.el);
    }
    for (const [id, run] of this.runs) if (run.done) this.runs.delete(id);
    if (pinned || !this.loadedOnce) this.log.scrollTop = this.log.scrollHeight;
    this.loadedOnce = true;
  }

  renderHistory(messages) {
    if (messages.length === 0) return h('div', {class: 'chat-empty muted', text: `No messages in ${this.sessionKey} yet.`});
    const results = new Map(messages.filter((m) => m.role === 'tool' && m.toolCallId).map((m) => [m.toolCallId, m]));
    const shown = new Set();
    const out = [];
    const stamp = (m) => h('div', {class: 'msg-meta', text: [m.sender?.name || m.address, fmtTime(m.createdAt)].filter(Boolean).join(' · ')});
    for (const m of messages) {
      if (m.role === 'user') {
        out.push(bubble('user', h('div', {class: 'msg-text', text: m.content}), stamp(m)));
      } else if (m.role === 'assistant') {
        const items = (m.toolCalls || []).map((call) => {
          const item = toolItem(call);
          const res = results.get(call.id);
          if (res) { shown.add(res); item.setResult(res.content, res.metadata?.isError); }
          return item.el;
        });
        out.push(bubble('assistant', m.content ? h('div', {class: 'msg-text', text: m.content}) : null, items, stamp(m)));
      } else if (m.role === 'tool' && !shown.has(m)) {
        const item = toolItem({id: m.toolCallId, name: m.toolName});
        item.setResult(m.content, m.metadata?.isError);
        out.push(bubble('assistant', item.el));
      } else if (m.role === 'summary' || m.role === 'system') {
        out.push(h('details', {class: 'msg-summary'}, h('summary', {text: m.role === 'summary' ? 'Summary of earlier messages' : 'System'}),
          h('div', {class: 'msg-text', text: m.content})));
      }
    }
    return out;
  }

  async send() {
    const text = this.input.value.trim();
    if (!text) return;
    if (!this.client.connected) {
      this.ctx.toast('Not connected to the gateway', 'error');
      return;
    }
    this.input.value = '';
    const idempotencyKey = randomId();
    const run = new RunView(this, {sessionKey: this.sessionKey, userText: text, idempotencyKey});
    this.sends.set(idempotencyKey, run);
    this.live.append(run.el);
    this.log.scrollTop = this.log.scrollHeight;
    const params = {message: text, agentId: this.agentId, sessionKey: this.sessionKey, idempotencyKey};
    try {
      const final = await this.client.call('agent', params, {timeoutMs: 0, onAccepted: (p) => this.attach(run, p.runId)});
      if (final.runId) this.attach(run, final.runId);
      run.finish(final);
    } catch (e) {
      if (e.code) run.setStatus('error', `error: ${e.message}`);
      else run.fail(e.message);
    } finally {
      this.sends.delete(idempotencyKey);
      this.scrollIfPinned(true);
    }
  }

  attach(run, runId) {
    if (runId === undefined || runId === null) return;
    run.runId = String(runId);
    run.el.dataset.runId = run.runId;
    this.runs.set(run.runId, run);
    if (run.status === 'queued') run.setStatus('queued', 'accepted, waiting for its turn…');
    this.syncApprovals();
  }

  onAgentEvent(p) {
    if (!p) return;
    let run = this.runs.get(String(p.runId));
    if (!run && p.idempotencyKey && this.sends.has(p.idempotencyKey)) {
      run = this.sends.get(p.idempotencyKey);
      this.attach(run, p.runId);
    }
    if (!run) {
      if (p.sessionKey !== this.sessionKey) return;
      run = new RunView(this, {sessionKey: p.sessionKey});  // a run started elsewhere (a channel, the CLI)
      this.attach(run, p.runId);
      this.live.append(run.el);
    }
    const pinned = isAtBottom(this.log);
    run.handle(p);
    if (p.stream === 'lifecycle' && ['end', 'error'].includes(p.data?.phase) && !this.sends.has(run.idempotencyKey)) {
      // Not ours: no final response will come. Show the stored result.
      run.setStatus(p.data.phase === 'end' ? 'ok' : 'error', p.data.phase === 'end' ? 'done' : 'the run failed');
      if (this.visible) this.loadHistory();
    }
    this.scrollIfPinned(pinned);
  }

  syncApprovals() {
    const store = this.ctx.approvals;
    for (const run of this.runs.values()) {
      for (const request of store.forRun(run.runId)) run.showApproval(request, store);
      for (const r of store.recent) run.resolveApproval(r.id, r.decision);
    }
  }

  scrollIfPinned(pinned) {
    if (pinned) this.log.scrollTop = this.log.scrollHeight;
  }
}
