#!/usr/bin/env python3
"""A test app that speaks the IPC protocol directly (no SDK) and misbehaves on request.

TEST_BEHAVIOR (from apps.<id>.env in the kernel config) selects what it does:
  normal            register, ready, heartbeat, exit 0 on app:shutdown
  crash             exit 1 shortly after ready
  segv              die by SIGSEGV shortly after ready
  hang              ready, then stop answering and stop heartbeating (the process stays alive)
  never-ready       register but never call app.ready
  ignore-shutdown   ignore app:shutdown and SIGTERM (needs SIGKILL)
  wrong-id          register with another app's id
  self-stop         ready, then app.shutdown and exit 0 (a clean stop the app asked for)
TEST_ACTIONS: JSON list of [method, params] requests sent after ready; results are printed to
stderr as "ACTION <method> <json>" so tests can read them from the app log.
TEST_INTERCEPT: JSON {hook: answer} — the hook.result this app gives for intercepted events
(answer "__timeout__" means never answer). Seen events are printed as "EVENT <json>".
"""
import json
import os
import signal
import socket
import sys
import time

counter = 0


def frame(ftype, **fields):
    global counter
    counter += 1
    return dict(id=f"b{counter}", type=ftype, timestamp=int(time.time() * 1000), **fields)


class Conn:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""

    def send(self, f):
        self.sock.sendall((json.dumps(f) + "\n").encode())

    def recv(self, timeout=None):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not chunk:
                sys.exit(0)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, method, params, handle_event):
        req = frame("request", method=method, params=params)
        self.send(req)
        while True:
            f = self.recv(10)
            if f is None:
                raise SystemExit(f"no answer to {method}")
            if f["type"] == "response" and f.get("requestId") == req["id"]:
                return f
            handle_event(self, f)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def main():
    behavior = os.environ.get("TEST_BEHAVIOR", "normal")
    intercept = json.loads(os.environ.get("TEST_INTERCEPT", "{}"))
    actions = json.loads(os.environ.get("TEST_ACTIONS", "[]"))
    log("ENV " + json.dumps(dict(os.environ)))
    with open("openclawos.manifest.json") as f:
        manifest = json.load(f)
    if behavior == "wrong-id":
        manifest["id"] = os.environ.get("TEST_OTHER_ID", "someone-else")
    if behavior == "ignore-shutdown":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    state = {"shutdown": False}

    def handle_event(conn, f):
        if f["type"] == "event":
            log("EVENT " + json.dumps(f))
            if f["event"] == "app:shutdown" and behavior != "ignore-shutdown":
                state["shutdown"] = True
            elif f["event"].startswith("hook:") and f["payload"].get("intercept"):
                answer = intercept.get(f["payload"]["hookName"], {"action": "continue"})
                if answer != "__timeout__":
                    conn.send(frame("request", method="hook.result",
                                    params={"eventId": f["payload"]["eventId"], "result": answer}))
        elif f["type"] == "request":
            conn.send(frame("response", requestId=f["id"], success=False,
                            error={"code": "METHOD_NOT_FOUND", "message": f["method"]}))

    conn = Conn(os.environ["OPENCLAWOS_SOCKET"])
    reg = conn.request("app.register", {"manifest": manifest,
                                        "spawnToken": os.environ.get("OPENCLAWOS_APP_TOKEN", "")}, handle_event)
    log("REGISTER " + json.dumps(reg))
    if not reg["success"]:
        sys.exit(3)
    interval = reg["result"]["heartbeatIntervalMs"] / 1000.0
    if behavior == "never-ready":
        time.sleep(3600)
    for method, params in actions:
        r = conn.request(method, params, handle_event)
        log(f"ACTION {method} " + json.dumps(r))
    conn.request("app.ready", {}, handle_event)
    log("READY")
    if behavior == "crash":
        time.sleep(0.1)
        sys.exit(1)
    if behavior == "segv":
        time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGSEGV)
    if behavior == "hang":
        time.sleep(3600)
    if behavior == "self-stop":
        r = conn.request("app.shutdown", {"reason": "done for today"}, handle_event)
        log("ACTION app.shutdown " + json.dumps(r))
        sys.exit(0)
    next_beat = time.monotonic() + interval
    while not state["shutdown"]:
        f = conn.recv(max(0.0, next_beat - time.monotonic()))
        if f is not None:
            handle_event(conn, f)
        if time.monotonic() >= next_beat:
            conn.send(frame("request", method="app.heartbeat", params={}))
            next_beat = time.monotonic() + interval
    log("SHUTDOWN")
    sys.exit(0)


if __name__ == "__main__":
    main()
