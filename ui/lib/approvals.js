// Pending exec approvals, shared by the nav badge, the Approvals page and the chat (which shows a
// run's approval inline). Filled by approvals.list on every (re)connect and kept current by
// `approval` events. Dispatches 'change'.

const RECENT_KEPT = 20;

export class ApprovalStore extends EventTarget {
  constructor(client) {
    super();
    this.client = client;
    this.pending = new Map();  // id → request {id, kind, command, cwd, agentId, sessionKey, runId, createdAt, expiresAt}
    this.recent = [];          // [{id, decision, by?, reason?, request?, at}] newest first
    this.error = null;
    client.addEventListener('connected', () => this.refresh());
    client.on('approval', (payload) => this.onEvent(payload));
  }

  async refresh() {
    if (!this.client.has('approvals.list')) return;
    try {
      const r = await this.client.call('approvals.list');
      this.pending = new Map((r.pending || []).map((p) => [p.id, p]));
      this.error = null;
    } catch (e) {
      this.error = e.message;
    }
    this.changed();
  }

  onEvent(payload) {
    if (payload?.phase === 'requested' && payload.request) {
      this.pending.set(payload.request.id, payload.request);
    } else if (payload?.phase === 'resolved') {
      const request = this.pending.get(payload.id);
      this.pending.delete(payload.id);
      this.recent.unshift({...payload, request, at: Date.now()});
      this.recent.length = Math.min(this.recent.length, RECENT_KEPT);
    }
    this.changed();
  }

  // decision: 'approve' | 'deny'. Rejects with the server's error (e.g. NOT_FOUND: already resolved).
  async resolve(id, decision, reason) {
    const params = {id, decision};
    if (reason) params.reason = reason;
    const r = await this.client.call('approvals.resolve', params);
    // The `approval` event normally follows; drop it here too in case events are missed.
    if (this.pending.has(id)) this.onEvent({phase: 'resolved', id, decision: decision === 'approve' ? 'approved' : 'denied', by: 'you'});
    return r;
  }

  list() {
    return [...this.pending.values()].sort((a, b) => (a.createdAt || 0) - (b.createdAt || 0));
  }

  forRun(runId) {
    return this.list().filter((p) => String(p.runId) === String(runId));
  }

  changed() { this.dispatchEvent(new Event('change')); }
}
