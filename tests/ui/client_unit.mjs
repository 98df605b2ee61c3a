// Unit tests of the Control UI's control-plane client (ui/lib/client.js) against a scripted fake
// WebSocket: the connect handshake, the two-step `agent` answer (and a final answer alone), error
// responses, refused credentials (no reconnect), reconnect with backoff, and seq gaps.
// `node client_unit.mjs` — needs no browser; exit status 1 on the first failure.
import assert from 'node:assert/strict';
import fs from 'node:fs';

// ui/ has no package.json (nothing but served files), so load the module from its source.
const source = fs.readFileSync(new URL('../../ui/lib/client.js', import.meta.url), 'utf8');
const {GatewayClient, RequestError} = await import(`data:text/javascript,${encodeURIComponent(source)}`);

class FakeSocket {
  static OPEN = 1;
  static instances = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeSocket.instances.push(this);
    setTimeout(() => { this.readyState = 1; this.onopen?.(); }, 0);
  }
  send(text) { this.sent.push(JSON.parse(text)); }
  close(code = 1000, reason = '') { this.serverClose(code, reason); }
  // test side
  deliver(frame) { this.onmessage?.({data: JSON.stringify(frame)}); }
  serverClose(code, reason = '') {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({code, reason});
  }
  lastRequest() { return this.sent.at(-1); }
}
globalThis.WebSocket = FakeSocket;

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
const latest = () => FakeSocket.instances.at(-1);

async function connectedClient(credentials = () => ({token: 't0k'})) {
  const client = new GatewayClient({url: 'ws://gateway/ws', credentials});
  client.start();
  await tick();
  const ws = latest();
  const hello = ws.sent[0];
  assert.equal(hello.method, 'connect');
  assert.deepEqual(hello.params.auth, {token: 't0k'});
  ws.deliver({type: 'res', id: hello.id, ok: true, payload: {protocol: 1, methods: ['agent', 'health']}});
  assert.equal(client.state, 'connected');
  return {client, ws};
}

const tests = {
  async 'two-step answer: accepted is interim, the final resolves'() {
    const {client, ws} = await connectedClient();
    const accepted = [];
    const p = client.call('agent', {message: 'hi'}, {timeoutMs: 0, onAccepted: (a) => accepted.push(a)});
    const req = ws.lastRequest();
    ws.deliver({type: 'res', id: req.id, ok: true, payload: {runId: '7', status: 'accepted'}});
    await tick();
    assert.deepEqual(accepted, [{runId: '7', status: 'accepted'}]);
    ws.deliver({type: 'res', id: req.id, ok: true, payload: {runId: '7', status: 'ok', text: 'hello'}});
    assert.deepEqual(await p, {runId: '7', status: 'ok', text: 'hello'});
    client.stop();
  },

  async 'a final answer alone also resolves'() {
    const {client, ws} = await connectedClient();
    let acceptedCalls = 0;
    const p = client.call('agent', {message: 'hi'}, {onAccepted: () => acceptedCalls++});
    ws.deliver({type: 'res', id: ws.lastRequest().id, ok: true, payload: {runId: '8', status: 'ok', text: 'x'}});
    assert.equal((await p).text, 'x');
    assert.equal(acceptedCalls, 0);
    client.stop();
  },

  async 'without onAccepted an accepted payload is the answer'() {
    const {client, ws} = await connectedClient();
    const p = client.call('other.method');
    ws.deliver({type: 'res', id: ws.lastRequest().id, ok: true, payload: {status: 'accepted'}});
    assert.deepEqual(await p, {status: 'accepted'});
    client.stop();
  },

  async 'an error response rejects with its code and data'() {
    const {client, ws} = await connectedClient();
    const p = client.call('cron.add', {});
    ws.deliver({type: 'res', id: ws.lastRequest().id, ok: false,
                error: {code: 'INVALID_PARAMS', message: 'bad', data: {path: 'schedule.cron'}}});
    await assert.rejects(p, (e) => e instanceof RequestError && e.code === 'INVALID_PARAMS' && e.data.path === 'schedule.cron');
    client.stop();
  },

  async 'calls fail fast while not connected, and time out'() {
    const client = new GatewayClient({url: 'ws://gateway/ws', credentials: () => ({})});
    await assert.rejects(client.call('health'), /not connected/);
    const {client: c2} = await connectedClient();
    await assert.rejects(c2.call('health', {}, {timeoutMs: 20}), /no answer/);
    c2.stop();
  },

  async 'refused credentials: state unauthorized and no reconnect'() {
    const states = [];
    const client = new GatewayClient({url: 'ws://gateway/ws', credentials: () => ({token: 'wrong'})});
    client.addEventListener('state', (e) => states.push(e.detail.state));
    client.start();
    await tick();
    const ws = latest();
    const count = FakeSocket.instances.length;
    ws.deliver({type: 'res', id: ws.sent[0].id, ok: false, error: {code: 'UNAUTHORIZED', message: 'invalid credentials'}});
    ws.serverClose(1008, 'unauthorized');
    await tick(700);
    assert.equal(client.state, 'unauthorized');
    assert.equal(client.detail, 'invalid credentials');
    assert.equal(FakeSocket.instances.length, count, 'no reconnect attempt');
    assert.ok(states.includes('connecting'));
  },

  async 'a dropped connection fails pending calls and reconnects with backoff'() {
    const {client, ws} = await connectedClient();
    const p = client.call('health');
    const count = FakeSocket.instances.length;
    ws.serverClose(1006);
    await assert.rejects(p, /connection to the gateway lost/);
    assert.equal(client.state, 'reconnecting');
    assert.ok(client.retryAt > Date.now(), 'a retry is scheduled');
    await tick(800);  // first delay: 0.5 s ± 20 %
    assert.equal(FakeSocket.instances.length, count + 1, 'reconnected once');
    const again = latest();
    again.deliver({type: 'res', id: again.sent[0].id, ok: true, payload: {methods: []}});
    assert.equal(client.state, 'connected');
    client.stop();
  },

  async 'events are dispatched by name and seq gaps are reported'() {
    const {client, ws} = await connectedClient();
    const apps = [];
    const gaps = [];
    client.on('app', (payload, frame) => apps.push([payload.packageId, frame.seq]));
    client.addEventListener('gap', (e) => gaps.push(e.detail));
    ws.deliver({type: 'event', event: 'app', payload: {packageId: 'a'}, seq: 1});
    ws.deliver({type: 'event', event: 'tick', payload: {}, seq: 2});
    ws.deliver({type: 'event', event: 'app', payload: {packageId: 'b'}, seq: 5});
    assert.deepEqual(apps, [['a', 1], ['b', 5]]);
    assert.deepEqual(gaps, [{expected: 3, got: 5}]);
    client.stop();
  },
};

let failed = 0;
for (const [name, fn] of Object.entries(tests)) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n${e.stack}`);
  }
}
process.exit(failed ? 1 : 0);
