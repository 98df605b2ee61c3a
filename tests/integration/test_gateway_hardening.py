"""The gateway under hostile or careless clients (SPEC §11 Security, docs/CONTROL-PLANE.md): wrong and
missing credentials, oversize bodies and frames, rate limiting, clients that stop reading (WebSocket
and SSE), CORS preflights, and a non-loopback bind without auth. Black box: a real kernel, raw
sockets, and the kernel's memory read from /proc."""
import base64
import http.client
import json
import os
import socket
import struct
import time

from harness import Kernel, KernelTest, wait_for
from test_pipeline import PipelineTest

TOKEN = "s3cret-token"


class RawWebSocket:
    """A WebSocket client that exposes what the high-level one hides: close codes, oversize frames,
    a socket that stops reading."""

    def __init__(self, port, rcvbuf=None, headers=""):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # before connect, so the TCP window stays small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           f"{headers}\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("closed during the upgrade")
            head += chunk
        self.status_line = head.split(b"\r\n")[0].decode()
        if " 101 " not in self.status_line:
            raise ConnectionError(self.status_line)
        self.buf = b""

    def send_bytes(self, data, opcode=0x1):
        header = bytearray([0x80 | opcode])
        n = len(data)
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        header += b"\x00\x00\x00\x00"  # a zero mask key: the payload goes as it is
        self.sock.sendall(bytes(header) + data)

    def send(self, obj):
        self.send_bytes(json.dumps(obj).encode())

    def connect(self, token=None, name="hardening"):
        auth = {"token": token} if token is not None else {}
        self.send({"type": "req", "id": "hello", "method": "connect",
                   "params": {"client": {"name": name}, "auth": auth}})
        return self.recv()

    def _exact(self, n, timeout):
        self.sock.settimeout(timeout)
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("EOF")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self, timeout=5):
        """The next text message as JSON, or ("close", code) for a close frame."""
        while True:
            b0, b1 = self._exact(2, timeout)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._exact(2, timeout))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._exact(8, timeout))[0]
            payload = self._exact(n, timeout)
            opcode = b0 & 0x0F
            if opcode == 0x8:
                return ("close", struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None)
            if opcode == 0x1:
                return json.loads(payload)

    def call(self, rid, method, params=None, timeout=10):
        self.send({"type": "req", "id": rid, "method": method, "params": params or {}})
        while True:
            f = self.recv(timeout)
            if isinstance(f, tuple) or (f.get("type") == "res" and f.get("id") == rid):
                return f

    def close(self):
        self.sock.close()


def http_request(port, method, path, body=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def presence(k):
    """The connected clients, asked on a fresh connection (one left open without reading through a
    flood of events would be dropped itself)."""
    ws = k.client()
    try:
        return ws.call("presence")["clients"]
    finally:
        ws.close()


class AuthTest(KernelTest):
    def setUp(self):
        self.k = self.kernel({"gateway": {"auth": {"token": TOKEN}}})

    def ws(self):
        ws = RawWebSocket(self.k.port)
        self.addCleanup(ws.close)
        return ws

    def test_wrong_and_missing_token_get_unauthorized_then_close_1008(self):
        for token in ("wrong", None, ""):
            ws = self.ws()
            answer = ws.connect(token=token)
            self.assertEqual(answer["id"], "hello")
            self.assertFalse(answer["ok"])
            self.assertEqual(answer["error"]["code"], "UNAUTHORIZED", token)
            self.assertEqual(ws.recv(), ("close", 1008))
        ok = self.ws().connect(token=TOKEN)
        self.assertTrue(ok["ok"], ok)

    def test_a_first_frame_that_is_not_connect_is_refused(self):
        ws = self.ws()
        self.assertEqual(ws.call("h", "health")["error"]["code"], "UNAUTHORIZED")
        self.assertEqual(ws.recv(), ("close", 1008))

    def test_http_authenticated_routes_want_the_bearer(self):
        # /ipc (an upgrade) is always there and always authenticated
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            status, _, _ = http_request(self.k.port, "GET", "/ipc", headers={
                "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(), **headers})
            self.assertEqual(status, 401, headers)
        # the kernel's authenticated routes (/canvas/, /apps/), when this build serves them
        status, _, _ = http_request(self.k.port, "GET", "/canvas/", headers={"Authorization": f"Bearer {TOKEN}"})
        if status == 404 and b"no route" in http_request(self.k.port, "GET", "/canvas/")[2]:
            self.skipTest("/canvas/ is not served by this build")
        self.assertNotEqual(status, 401)
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                        {"Cookie": "openclaw_auth=wrong"}):
            status, h, body = http_request(self.k.port, "GET", "/canvas/", headers=headers)
            self.assertEqual(status, 401, headers)
            self.assertEqual(h.get("www-authenticate"), "Bearer")
            self.assertEqual(json.loads(body)["error"]["code"], "UNAUTHORIZED")
        # the cookie the Control UI sets works like the bearer
        self.assertNotEqual(http_request(self.k.port, "GET", "/canvas/", headers={"Cookie": f"openclaw_auth={TOKEN}"})[0], 401)
        # /health stays public
        self.assertEqual(http_request(self.k.port, "GET", "/health")[0], 200)

    def test_openai_api_wants_the_bearer(self):
        status, _, _ = http_request(self.k.port, "GET", "/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
        if status == 404:
            self.skipTest("GET /v1/models is not served by this build (HTTP API not registered)")
        self.assertEqual(status, 200)
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            status, h, body = http_request(self.k.port, "GET", "/v1/models", headers=headers)
            self.assertEqual(status, 401, headers)
            self.assertEqual(h.get("www-authenticate"), "Bearer")
            self.assertIn("error", json.loads(body))  # OpenAI's error shape: {error: {message, type, code}}


class LimitsTest(KernelTest):
    def test_oversize_http_body_gets_413(self):
        k = self.kernel()
        size = (1 << 20) + 1024
        sock = socket.create_connection(("127.0.0.1", k.port), timeout=10)
        self.addCleanup(sock.close)
        sock.sendall(f"POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {size}\r\n\r\n".encode())
        try:  # the gateway answers from the headers and may close before the body is through
            sock.sendall(b"x" * size)
        except OSError:
            pass
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        head, _, rest = answer.partition(b"\r\n\r\n")
        self.assertIn(b" 413 ", head.split(b"\r\n")[0])
        length = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        self.assertEqual(json.loads(rest[:length])["error"]["code"], "INVALID_REQUEST")
        self.assertEqual(http_request(k.port, "GET", "/health")[0], 200)  # the gateway is fine

    def test_oversize_ws_frame_closes_with_1009(self):
        k = self.kernel({"gateway": {"maxWsFrameBytes": 65536}})
        ws = RawWebSocket(k.port)
        self.addCleanup(ws.close)
        self.assertTrue(ws.connect()["ok"])
        self.assertEqual(ws.call("h1", "health")["payload"]["ok"], True)  # just under the limit is fine
        ws.send({"type": "req", "id": "big", "method": "health", "params": {"pad": "y" * 60000}})
        self.assertEqual(ws.recv()["id"], "big")
        try:
            ws.send_bytes(json.dumps({"type": "req", "id": "huge", "method": "health",
                                      "params": {"pad": "z" * 70000}}).encode())
        except OSError:
            pass  # the server may close while we still send; the close frame is what counts
        self.assertEqual(ws.recv(), ("close", 1009))
        other = k.client()  # only that connection was closed
        self.assertTrue(other.call("health")["ok"])
        other.close()


class RateLimitTest(KernelTest):
    WINDOW_MS = 2000
    MAX = 5

    def test_http_429_then_passes_after_the_window(self):
        k = self.kernel({"gateway": {"rateLimit": {"windowMs": self.WINDOW_MS, "maxRequests": self.MAX}}})
        statuses = [http_request(k.port, "GET", "/health") for _ in range(self.MAX + 2)]
        codes = [s for s, _, _ in statuses]
        self.assertEqual(codes[:self.MAX], [200] * self.MAX)
        self.assertEqual(codes[self.MAX:], [429, 429])
        _, headers, body = statuses[self.MAX]
        retry_after = int(headers["retry-after"])
        self.assertGreaterEqual(retry_after, 1)
        self.assertLessEqual(retry_after, self.WINDOW_MS // 1000 + 1)
        self.assertEqual(json.loads(body)["error"]["code"], "FORBIDDEN")
        time.sleep(self.WINDOW_MS / 1000 + 0.2)
        self.assertEqual(http_request(k.port, "GET", "/health")[0], 200)

    def test_websocket_requests_get_forbidden_with_retry_after(self):
        k = self.kernel({"gateway": {"rateLimit": {"windowMs": self.WINDOW_MS, "maxRequests": self.MAX}}})
        ws = RawWebSocket(k.port)
        self.addCleanup(ws.close)
        self.assertTrue(ws.connect()["ok"])
        refused = None
        for i in range(self.MAX + 2):
            r = ws.call(f"r{i}", "health")
            if not r["ok"]:
                refused = r
                break
        self.assertIsNotNone(refused, "never rate limited")
        self.assertEqual(refused["error"]["code"], "FORBIDDEN")
        wait_ms = refused["error"]["data"]["retryAfterMs"]
        self.assertGreater(wait_ms, 0)
        self.assertLessEqual(wait_ms, self.WINDOW_MS)
        self.assertTrue(ws.call("still-refused", "health")["error"]["code"] == "FORBIDDEN")
        time.sleep(wait_ms / 1000 + 0.2)
        r = ws.call("again", "health")
        self.assertTrue(r["ok"], r)  # the connection stayed open and passes again


class SlowClientTest(PipelineTest):
    def config(self, **extra):
        cfg = super().config(**extra)
        # Tens of thousands of deltas per model call: under the sanitizers a call takes longer than
        # the suite's usual 3 s model timeout, and a retried call would answer something else.
        cfg["models"]["requestTimeoutMs"] = 120000
        return cfg

    FLOOD_RUNS = 10
    REPLY_CHARS = 400_000
    CHUNK = 20  # 20 000 `agent` delta events of ~200 bytes per run: ~40 MB of frames in all

    def test_a_client_that_stops_reading_is_dropped_and_memory_stays_bounded(self):
        k = self.start(apps=())
        pid = k.proc.pid
        # Warm up with the same load and a client that reads: allocator arenas, SQLite cache, the
        # LLM connection pool reach their working size, so what follows measures the stalled client.
        self.flood(k, runs=2, tag="warm")
        time.sleep(0.5)
        baseline = vm_rss_kib(pid)
        stalled = RawWebSocket(k.port, rcvbuf=4096)
        self.addCleanup(stalled.close)
        self.assertTrue(stalled.connect(name="stalled")["ok"])
        stalled_id = [c for c in presence(k) if c["name"] == "stalled"][0]["id"]
        peak = baseline
        for i in range(self.FLOOD_RUNS):
            self.flood(k, runs=1, tag=f"flood{i}")
            peak = max(peak, vm_rss_kib(pid))
        # the stalled client was disconnected by the kernel ...
        wait_for(lambda: stalled_id not in [c["id"] for c in presence(k)], 10,
                 what="the stalled client to be dropped")
        received = 0
        with self.assertRaises((ConnectionError, OSError)):
            while True:  # drain what the socket buffers held: it ends in EOF, the queue was cut
                f = stalled.recv(timeout=5)
                if isinstance(f, tuple):
                    raise ConnectionError(f"closed {f}")
                received += 1
        total_events = self.FLOOD_RUNS * (self.REPLY_CHARS // self.CHUNK)
        self.assertLess(received, total_events // 2, "the stalled client should have been cut off early")
        # ... and the kernel's memory stayed bounded. An unbounded queue would hold every frame not
        # yet in the socket buffers: ~40 MB minus a few MB. The cap is 1024 frames (~200 KB); the
        # rest of the growth is allocator noise, so 16 MiB separates the two cases with margin.
        growth_mib = (peak - baseline) / 1024
        if os.environ.get("OC_HARDENING_VERBOSE"):
            print(f"\nstalled client: {received} events received of {total_events}; kernel RSS baseline "
                  f"{baseline / 1024:.1f} MiB, peak growth {growth_mib:.1f} MiB")
        # Under AddressSanitizer (scripts/test.sh sets ASAN_OPTIONS for that suite) freed memory sits
        # in ASan's quarantine (256 MB by default), so RSS says nothing about the queue there; the
        # default build's run of this test checks the bound.
        if not os.environ.get("ASAN_OPTIONS"):
            self.assertLess(growth_mib, 16, f"kernel RSS grew {growth_mib:.1f} MiB (baseline {baseline} KiB)")
        self.assertEqual(http_request(k.port, "GET", "/health")[0], 200)

    def flood(self, k, runs, tag):
        ws = k.client()
        try:
            for i in range(runs):
                self.llm.script({"match": f"{tag}-{i}", "content": "z" * self.REPLY_CHARS, "chunkChars": self.CHUNK})
                # each run in its own session: the history does not grow the requests
                r = ws.call("agent", {"message": f"{tag}-{i}", "sessionKey": f"agent:default:{tag}-{i}"}, timeout=120)
                self.assertEqual(r["status"], "ok", r)
                self.assertEqual(len(r["text"]), self.REPLY_CHARS)
        finally:
            ws.close()

    def test_a_slow_sse_reader_is_cut_off(self):
        k = self.start(apps=())
        probe = http_request(k.port, "POST", "/v1/chat/completions", body=b"{}",
                             headers={"Content-Type": "application/json"})
        if probe[0] == 404:
            self.skipTest("POST /v1/chat/completions is not served by this build (HTTP API not registered)")
        # ~75 000 deltas of 20 characters: ~15 MB of SSE, far more than the socket buffers hold (the
        # kernel's send buffer grows to 4 MiB at most, ours is 4 KiB), so the stream has to stall.
        self.llm.script({"content": "s" * 1_500_000, "chunkChars": 20})
        body = json.dumps({"model": "openclaw:default", "stream": True,
                           "messages": [{"role": "user", "content": "flood me"}]}).encode()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", k.port))
        self.addCleanup(sock.close)
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        sock.settimeout(10)
        first = sock.recv(4096)
        self.assertIn(b"200", first.split(b"\r\n")[0])
        # Stop reading. The server gives up after stream_write_timeout (30 s) without progress.
        started = time.monotonic()
        while time.monotonic() - started < 36:
            time.sleep(2)
            # the kernel stays responsive meanwhile (over HTTP: a WebSocket client that is not reading
            # right now would itself be dropped by the flood of `agent` events)
            self.assertEqual(http_request(k.port, "GET", "/health")[0], 200)
        data = b""
        sock.settimeout(10)
        while True:
            try:
                chunk = sock.recv(1 << 16)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        self.assertNotIn(b"[DONE]", data)  # cut off, not finished
        self.assertLess(len(data), 10_000_000)


class CorsTest(KernelTest):
    ALLOWED = "http://ui.example"

    def preflight(self, k, origin):
        return http_request(k.port, "OPTIONS", "/health", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})

    def test_preflight_from_allowed_and_other_origins(self):
        k = self.kernel({"gateway": {"cors": {"origins": [self.ALLOWED]}}})
        for origin in (self.ALLOWED, f"http://127.0.0.1:{k.port}", f"http://localhost:{k.port}"):
            status, headers, _ = self.preflight(k, origin)
            self.assertEqual(status, 204, origin)
            self.assertEqual(headers["access-control-allow-origin"], origin)
            self.assertIn("POST", headers["access-control-allow-methods"])
            self.assertIn("authorization", headers["access-control-allow-headers"].lower())
        status, headers, body = self.preflight(k, "http://evil.example")
        self.assertEqual(status, 403)
        self.assertNotIn("access-control-allow-origin", headers)
        self.assertEqual(json.loads(body)["error"]["code"], "FORBIDDEN")
        # simple requests: the allowed origin is told so, another is not
        _, headers, _ = http_request(k.port, "GET", "/health", headers={"Origin": self.ALLOWED})
        self.assertEqual(headers.get("access-control-allow-origin"), self.ALLOWED)
        status, headers, _ = http_request(k.port, "GET", "/health", headers={"Origin": "http://evil.example"})
        self.assertNotIn("access-control-allow-origin", headers)
        # a cross-site POST without a preflight is refused outright
        status, _, _ = http_request(k.port, "POST", "/health", body=b"{}", headers={"Origin": "http://evil.example"})
        self.assertEqual(status, 403)
        # and the WebSocket upgrade follows the same list
        with self.assertRaises(ConnectionError) as refused:
            RawWebSocket(k.port, headers="Origin: http://evil.example\r\n")
        self.assertIn("403", str(refused.exception))
        RawWebSocket(k.port, headers=f"Origin: {self.ALLOWED}\r\n").close()


class BindTest(KernelTest):
    def test_non_loopback_bind_without_auth_is_refused_at_start(self):
        k = Kernel({"gateway": {"host": "0.0.0.0"}})
        self.addCleanup(k.cleanup)
        k.start(wait=False)
        self.assertEqual(k.proc.wait(15), 1)
        out = k.output()
        self.assertIn("refusing to bind the gateway to non-loopback address 0.0.0.0", out)
        self.assertIn("gateway.auth.token", out)
        # with a token it starts
        k2 = self.kernel({"gateway": {"host": "0.0.0.0", "auth": {"token": TOKEN}}})
        self.assertTrue(k2.client(token=TOKEN).call("health")["ok"])
