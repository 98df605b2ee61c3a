// The control-plane client (docs/CONTROL-PLANE.md): one WebSocket to /ws, a `connect` frame first,
// requests matched to responses by id, events with a server-wide `seq`. Reconnects with backoff
// unless the server refused the credentials (close 1008), which stops it until start() again.
//
// Events dispatched (EventTarget): 'state' {state, detail}, 'connected' {hello}, 'event' {frame}
// for every server event, 'gap' {expected, got} when seq jumps (events were missed).

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
const HANDSHAKE_TIMEOUT_MS = 10000;
const TICK_SILENCE_MS = 75000;  // the server ticks every 30 s; this long without any frame = dead

export class RequestError extends Error {
  constructor(error) {
    super(error?.message || 'request failed');
    this.code = error?.code || 'INTERNAL_ERROR';
    this.data = error?.data;
  }
}

export class GatewayClient extends EventTarget {
  // credentials(): {token} | {password} | {} — read at every (re)connect.
  constructor({url, credentials, clientName = 'control-ui', version = ''}) {
    super();
    this.url = url;
    this.credentials = credentials;
    this.clientName = clientName;
    this.version = version;
    this.state = 'idle';
    this.detail = '';
    this.hello = null;
    this.methods = new Set();
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();  // id → {resolve, reject, onAccepted, timer}
    this.attempt = 0;
    this.retryTimer = null;
    this.lastSeq = 0;
    this.lastFrameAt = 0;
    this.sawTick = false;
    this.watchdog = null;
  }

  start() {
    this.stop();
    this.stopped = false;
    this.attempt = 0;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.watchdog);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try { ws.close(1000); } catch { /* already closed */ }
    }
    this.failPending('disconnected');
    this.setState('idle');
  }

  get connected() { return this.state === 'connected'; }
  has(method) { return this.methods.has(method); }

  // Resolves with the payload of the final response; rejects with RequestError (server error) or
  // Error (not connected, timeout, connection lost). `onAccepted(payload)` receives an interim
  // {status: "accepted"} response of two-step methods (`agent`); the promise waits for the final
  // one. timeoutMs 0 = no client-side timeout.
  call(method, params = {}, {timeoutMs = 30000, onAccepted = null} = {}) {
    if (!this.connected) return Promise.reject(new Error('not connected to the gateway'));
    const id = `ui-${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const entry = {resolve, reject, onAccepted, timer: null};
      if (timeoutMs > 0)
        entry.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new Error(`${method}: no answer within ${Math.round(timeoutMs / 1000)}s`));
        }, timeoutMs);
      this.pending.set(id, entry);
      this.send({type: 'req', id, method, params});
    });
  }

  // Subscribes to one server event name ('*' = all); returns the unsubscribe function.
  on(eventName, fn) {
    const listener = (e) => {
      if (eventName === '*' || e.detail.event === eventName) fn(e.detail.payload, e.detail);
    };
    this.addEventListener('event', listener);
    return () => this.removeEventListener('event', listener);
  }

  // ---- internals ---------------------------------------------------------------------------

  open() {
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.scheduleReconnect(String(e));
      return;
    }
    this.ws = ws;
    this.handshakeDone = false;
    this.authError = null;
    const connectId = `connect-${this.nextId++}`;
    const handshakeTimer = setTimeout(() => { if (!this.handshakeDone) ws.close(); }, HANDSHAKE_TIMEOUT_MS);
    ws.onopen = () => {
      const auth = this.credentials() || {};
      this.send({type: 'req', id: connectId, method: 'connect',
                 params: {client: {name: this.clientName, version: this.version, mode: 'ui'}, auth}});
    };
    ws.onmessage = (msg) => {
      this.lastFrameAt = Date.now();
      let frame;
      try { frame = JSON.parse(msg.data); } catch { return; }
      if (frame.type === 'res' && frame.id === connectId) {
        clearTimeout(handshakeTimer);
        this.onHandshake(frame);
      } else if (frame.type === 'res') {
        this.onResponse(frame);
      } else if (frame.type === 'event') {
        this.onEvent(frame);
      }
    };
    ws.onclose = (e) => {
      clearTimeout(handshakeTimer);
      if (this.ws !== ws) return;
      this.ws = null;
      clearInterval(this.watchdog);
      this.failPending('connection to the gateway lost');
      if (this.authError || e.code === 1008) {
        this.stopped = true;
        this.setState('unauthorized', this.authError?.message || e.reason || 'authentication failed');
        return;
      }
      this.scheduleReconnect(e.reason || `closed (${e.code})`);
    };
  }

  onHandshake(frame) {
    if (!frame.ok) {
      this.authError = frame.error || {message: 'authentication failed'};
      return;  // the server closes with 1008 next
    }
    this.handshakeDone = true;
    this.hello = frame.payload || {};
    this.methods = new Set(this.hello.methods || []);
    this.attempt = 0;
    this.lastFrameAt = Date.now();
    this.sawTick = false;
    clearInterval(this.watchdog);
    this.watchdog = setInterval(() => {
      // Only once ticks were seen: a gateway with ticks off would otherwise look dead when idle.
      if (this.sawTick && Date.now() - this.lastFrameAt > TICK_SILENCE_MS && this.ws) this.ws.close();
    }, 5000);
    this.setState('connected');
    this.dispatchEvent(new CustomEvent('connected', {detail: {hello: this.hello}}));
  }

  onResponse(frame) {
    const entry = this.pending.get(frame.id);
    if (!entry) return;
    if (frame.ok && frame.payload?.status === 'accepted' && entry.onAccepted) {
      entry.onAccepted(frame.payload);  // interim: keep waiting for the final answer
      return;
    }
    this.pending.delete(frame.id);
    clearTimeout(entry.timer);
    if (frame.ok) entry.resolve(frame.payload);
    else entry.reject(new RequestError(frame.error));
  }

  onEvent(frame) {
    if (frame.event === 'tick') this.sawTick = true;
    if (typeof frame.seq === 'number') {
      if (this.lastSeq && frame.seq > this.lastSeq + 1)
        this.dispatchEvent(new CustomEvent('gap', {detail: {expected: this.lastSeq + 1, got: frame.seq}}));
      this.lastSeq = frame.seq;
    }
    this.dispatchEvent(new CustomEvent('event', {detail: frame}));
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  failPending(reason) {
    for (const [, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(new Error(reason));
    }
    this.pending.clear();
  }

  scheduleReconnect(reason) {
    if (this.stopped) return;
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt++;
    this.retryAt = Date.now() + delay;
    this.setState('reconnecting', reason);
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  setState(state, detail = '') {
    this.state = state;
    this.detail = detail;
    this.dispatchEvent(new CustomEvent('state', {detail: {state, detail}}));
  }
}
