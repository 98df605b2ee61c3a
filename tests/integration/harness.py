"""Black-box test harness: runs the real `openclaw` binary in a temporary home and talks to it
through its real IPC socket and its real WebSocket control plane."""
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

BIN = os.environ.get("OPENCLAW_BIN", "")
SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_APPS = os.path.join(SOURCE, "tests", "apps")
BUILD = os.path.dirname(os.path.dirname(BIN)) if BIN else ""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class RawIpc:
    """A raw Unix-socket client: sends bytes/lines, reads frames. Not the SDK."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self.n = 0
        self.events = []  # event frames that arrived while a request waited for its response

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def send(self, frame: dict):
        self.send_raw((json.dumps(frame) + "\n").encode())

    def request(self, method, params=None):
        self.n += 1
        rid = f"t{self.n}"
        self.send({"id": rid, "type": "request", "timestamp": int(time.time() * 1000), "method": method,
                   "params": params if params is not None else {}})
        return self.wait_response(rid)

    def wait_response(self, rid, timeout=5):
        while True:
            f = self.recv(timeout)
            if f["type"] == "response" and f["requestId"] == rid:
                return f
            if f["type"] == "event":
                self.events.append(f)

    def next_event(self, timeout=5):
        """The next event frame: one kept while a request waited, else the next to arrive."""
        if self.events:
            return self.events.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            f = self.recv(max(0.01, deadline - time.monotonic()))
            if f["type"] == "event":
                return f

    def recv(self, timeout=5):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by kernel")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def close(self):
        self.sock.close()


def is_interim(frame):
    """The first answer of a two-step method: {ok: true, payload: {status: "accepted", runId}}."""
    payload = frame.get("payload")
    return (frame.get("type") == "res" and frame.get("ok") is True and isinstance(payload, dict)
            and payload.get("status") == "accepted" and "runId" in payload)


class WsClient:
    """A minimal RFC 6455 client for the control plane (text frames, client masking)."""

    def __init__(self, port, token=None, password=None, origin=None, path="/ws", bearer=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        extra = f"Origin: {origin}\r\n" if origin else ""
        if bearer:
            extra += f"Authorization: Bearer {bearer}\r\n"
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           f"{extra}\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError(head.decode(errors="replace"))
        self.n = 0
        self.events = []
        self.acks = []
        if path != "/ws":
            return  # /ipc speaks IPC frames: see send_frame / recv_frame
        auth = {}
        if token:
            auth["token"] = token
        if password:
            auth["password"] = password
        self.hello = self.call("connect", {"client": {"name": "integration-test"}, "auth": auth})

    def _send(self, obj):
        data = json.dumps(obj).encode()
        header = bytearray([0x81])
        if len(data) < 126:
            header.append(0x80 | len(data))
        elif len(data) < 65536:
            header.append(0x80 | 126)
            header += struct.pack(">H", len(data))
        else:
            header.append(0x80 | 127)
            header += struct.pack(">Q", len(data))
        mask = os.urandom(4)
        header += mask
        self.sock.sendall(bytes(header) + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("websocket closed")
            out += chunk
        return out

    def _recv(self, timeout):
        self.sock.settimeout(timeout)
        message = None  # a text message in fragments: the first frame, then continuations until FIN
        while True:
            b0, b1 = self._read_exact(2)
            length = b1 & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read_exact(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read_exact(8))[0]
            payload = self._read_exact(length)
            opcode, fin = b0 & 0x0F, bool(b0 & 0x80)
            if opcode == 8:
                raise ConnectionError("websocket closed")
            if opcode == 1:
                message = payload
            elif opcode == 0 and message is not None:
                message += payload
            else:
                continue  # ping/pong, or a stray continuation
            if fin:
                return json.loads(message)

    def send_frame(self, frame):
        self._send(frame)

    def send_text(self, text):
        """A raw text message, for malformed input."""
        data = text.encode()
        mask = os.urandom(4)
        header = bytearray([0x81, 0x80 | len(data)]) + mask
        self.sock.sendall(bytes(header) + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def recv_frame(self, timeout=5):
        return self._recv(timeout)

    def recv_response(self, timeout=5):
        """The next frame that is not an event (events are kept for next_event)."""
        while True:
            f = self._recv(timeout)
            if f.get("type") != "event":
                return f
            self.events.append(f)

    def call_raw(self, method, params=None, timeout=30):
        """The final response; the interim `accepted` one of a two-step method (`agent`) is kept
        in self.acks."""
        self.n += 1
        rid = f"c{self.n}"
        self._send({"type": "req", "id": rid, "method": method, "params": params or {}})
        while True:
            f = self._recv(timeout)
            if f.get("type") == "event":
                self.events.append(f)
                continue
            if f.get("id") == rid:
                if is_interim(f):
                    self.acks.append(f)
                    continue
                return f

    def call(self, method, params=None, timeout=30):
        f = self.call_raw(method, params, timeout)
        if not f["ok"]:
            raise RuntimeError(f"{method}: {f['error']}")
        return f["payload"]

    def next_event(self, timeout=10):
        if self.events:
            return self.events.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            f = self._recv(max(0.01, deadline - time.monotonic()))
            if f.get("type") == "event":
                return f

    def close(self):
        self.sock.close()


class Kernel:
    """One `openclaw gateway` process in a private home."""

    def __init__(self, config=None, env=None, home=None):
        self.home = home or tempfile.mkdtemp(prefix="oc-home-")
        self.sock_path = os.path.join(self.home, "run", "kernel.sock")
        self.port = free_port()
        self.config = config or {}
        self.extra_env = env or {}
        self.proc = None
        self.ws = None
        self.write_config()

    def write_config(self):
        with open(os.path.join(self.home, "config.json"), "w") as f:
            json.dump(self.config, f, indent=2)

    def env(self):
        e = dict(os.environ)
        e.update({"OPENCLAWOS_HOME": self.home, "OPENCLAWOS_SOCKET": self.sock_path,
                  "OPENCLAW_PORT": str(self.port), "OPENCLAWOS_SHIPPED_PACKAGES": os.path.join(self.home, "shipped")})
        e.update(self.extra_env)
        return e

    def install(self, src, app_id=None, manifest_patch=None):
        """Copies a package into <home>/packages (as `openclaw apps install` does, offline)."""
        dest = tempfile.mkdtemp(prefix="pkg-", dir=self.home)
        shutil.rmtree(dest)
        shutil.copytree(src, dest, symlinks=True)
        mpath = os.path.join(dest, "openclawos.manifest.json")
        with open(mpath) as f:
            m = json.load(f)
        if app_id:
            m["id"] = app_id
            if "gateway" in m["capabilities"]:
                m["capabilities"]["gateway"]["methods"] = [
                    app_id.split("/")[-1] + "." + x.split(".", 1)[1] for x in m["capabilities"]["gateway"].get("methods", [])]
        if manifest_patch:
            manifest_patch(m)
        with open(mpath, "w") as f:
            json.dump(m, f)
        r = self.cli("apps", "install", dest)
        if r.returncode != 0:
            raise AssertionError(f"install failed: {r.stdout}{r.stderr}")
        return m["id"]

    def start(self, wait=True):
        if getattr(self, "log", None):
            self.log.close()
        self.log = open(os.path.join(self.home, "stderr.log"), "ab")
        self.proc = subprocess.Popen([BIN, "gateway"], env=self.env(), stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            wait_for(self.accepting, 10, what="kernel to accept connections")
        return self

    def accepting(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"kernel exited with {self.proc.returncode}:\n{self.output()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return os.path.exists(self.sock_path)
        except OSError:
            return False

    def output(self):
        try:
            with open(os.path.join(self.home, "stderr.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def client(self, **kw):
        return WsClient(self.port, **kw)

    def control(self):
        if self.ws is None:
            self.ws = self.client(token=self.config.get("gateway", {}).get("auth", {}).get("token"))
        return self.ws

    def ipc(self):
        return RawIpc(self.sock_path)

    def cli(self, *args, timeout=30):
        return subprocess.run([BIN, *args], env=self.env(), capture_output=True, text=True, timeout=timeout)

    def app(self, app_id):
        for a in self.control().call("apps.list")["apps"]:
            if a["id"] == app_id:
                return a
        raise KeyError(app_id)

    def status_of(self, app_id):
        return self.app(app_id).get("status", {})

    def wait_state(self, app_id, state, timeout=10):
        return wait_for(lambda: self.status_of(app_id).get("state") == state and self.status_of(app_id),
                        timeout, 0.05, f"{app_id} to be {state} (now {self.status_of(app_id)})")

    def app_log(self, app_id, lines=500):
        return self.control().call("apps.logs", {"id": app_id, "lines": lines})["lines"]

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.ws:
            try:
                self.ws.close()
            except OSError:
                pass
            self.ws = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("kernel did not exit after signal")
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        self.stop(signal.SIGKILL)
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.home, ignore_errors=True)


def fast_supervisor(**overrides):
    s = {"startTimeout": 3000, "heartbeatInterval": 200, "heartbeatTimeout": 1000, "restartDelay": 100,
         "backoffMultiplier": 2, "maxRestarts": 5, "restartWindow": 60000, "shutdownTimeout": 1000, "killGrace": 500}
    s.update(overrides)
    return s


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class KernelTest(unittest.TestCase):
    """Base class: self.kernel(config) gives a started kernel cleaned up after the test."""

    def ipc(self, kernel):
        c = kernel.ipc()
        self.addCleanup(c.close)
        return c

    def kernel(self, config=None, apps=(), start=True, env=None):
        k = Kernel(config, env)
        self.addCleanup(k.cleanup)
        for a in apps:
            k.install(*a) if isinstance(a, tuple) else k.install(a)
        if start:
            k.start()
        return k
