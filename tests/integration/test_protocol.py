"""IPC protocol conformance with a raw socket client, not the SDK (SPEC §4)."""
import json
import os
import socket
import subprocess
import time
import unittest

from harness import KernelTest, RawIpc, TEST_APPS, fast_supervisor, wait_for

BEHAVE = os.path.join(TEST_APPS, "behave")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return {int(x) for x in out.split()}


class ProtocolTest(KernelTest):
    def setUp(self):
        self.k = self.kernel({"ipc": {"maxFrameBytes": 4096}})
        self.c = self.k.ipc()
        self.addCleanup(self.c.close)

    def assert_error(self, frame, code, request_id=None):
        self.assertEqual(frame["type"], "response")
        self.assertFalse(frame["success"])
        self.assertEqual(frame["error"]["code"], code, frame)
        self.assertEqual(frame["requestId"], request_id)
        self.assertIn("message", frame["error"])

    def assert_still_usable(self):
        r = self.c.request("app.heartbeat")
        self.assert_error(r, "APP_NOT_REGISTERED", r["requestId"])

    def test_not_json(self):
        self.c.send_raw(b"this is not json\n")
        self.assert_error(self.c.recv(), "INVALID_REQUEST")
        self.assert_still_usable()

    def test_missing_fields(self):
        for frame in ({"type": "request", "timestamp": 1, "method": "app.heartbeat"},
                      {"id": "1", "timestamp": 1, "method": "app.heartbeat"},
                      {"id": "1", "type": "request", "method": "app.heartbeat"},
                      {"id": "1", "type": "request", "timestamp": 1},
                      {"id": "1", "type": "nonsense", "timestamp": 1},
                      [1, 2, 3]):
            self.c.send(frame)
            self.assert_error(self.c.recv(), "INVALID_REQUEST")
        self.assert_still_usable()

    def test_oversize_frame_is_discarded_and_connection_survives(self):
        big = json.dumps({"id": "big", "type": "request", "timestamp": 1, "method": "app.heartbeat",
                          "params": {"pad": "x" * 10000}})
        # Sent in pieces: the limit applies to the line, not to one read.
        self.c.send_raw(big[:3000].encode())
        self.c.send_raw(big[3000:].encode() + b"\n")
        f = self.c.recv()
        self.assert_error(f, "INVALID_REQUEST")
        self.assertIn("too large", f["error"]["message"])
        self.assert_still_usable()

    def test_unknown_method(self):
        r = self.c.request("no.such.method")
        self.assert_error(r, "METHOD_NOT_FOUND", r["requestId"])
        # kernel→app methods are not callable by apps
        r = self.c.request("tool.invoke", {"tool": "x", "input": {}, "context": {}})
        self.assert_error(r, "METHOD_NOT_FOUND", r["requestId"])

    def test_calls_before_register(self):
        for method in ("app.heartbeat", "app.ready", "hook.subscribe", "config.get", "capability.register"):
            r = self.c.request(method, {})
            self.assertFalse(r["success"])
            self.assertIn(r["error"]["code"], ("APP_NOT_REGISTERED",), method)

    def test_bad_params_carry_the_path(self):
        r = self.c.request("app.register", {"manifest": "not an object"})
        self.assert_error(r, "INVALID_PARAMS", r["requestId"])
        self.assertEqual(r["error"]["data"]["path"], "params.manifest")
        r = self.c.request("app.register", {})
        self.assertEqual(r["error"]["data"]["path"], "params.manifest")

    def test_external_app_refused_by_default(self):
        r = self.c.request("app.register", {"manifest": {"id": "outsider", "name": "x", "version": "1.0.0"}})
        self.assert_error(r, "FORBIDDEN", r["requestId"])
        self.assertIn("allowExternalApps", r["error"]["message"])

    def test_forged_spawn_token_refused(self):
        r = self.c.request("app.register", {"manifest": {"id": "behave"}, "spawnToken": "0" * 32})
        self.assertFalse(r["success"])
        self.assertIn(r["error"]["code"], ("UNAUTHORIZED", "FORBIDDEN"))

    def test_responses_interleave_with_many_requests(self):
        for i in range(200):
            self.c.send({"id": f"p{i}", "type": "request", "timestamp": 1, "method": "app.ready", "params": {}})
        got = {self.c.recv()["requestId"] for _ in range(200)}
        self.assertEqual(got, {f"p{i}" for i in range(200)})

    def test_thousand_rapid_connects_leak_nothing(self):
        pid = self.k.proc.pid
        self.c.request("app.heartbeat")
        before_fds = open_fds(pid)
        before_children = children(pid)
        for i in range(1000):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.k.sock_path)
            if i % 3 == 0:
                s.sendall(b'{"id":"x","type":"request","timestamp":1,"method":"app.ready","params":{}}\n')
            if i % 5 == 0:
                s.sendall(b"garbage")
            s.close()
        wait_for(lambda: open_fds(pid) <= before_fds, 5, what=f"fds back to {before_fds} (now {open_fds(pid)})")
        self.assertEqual(children(pid), before_children)
        wait_for(lambda: self.k.control().call("status")["connections"] <= 1, 5, what="connections closed")
        self.assert_still_usable()


class RegistrationTest(KernelTest):
    def test_external_app_allowed_gets_untrusted(self):
        k = self.kernel({"ipc": {"allowExternalApps": True}})
        c = self.ipc(k)
        manifest = {"id": "outsider", "name": "Outsider", "version": "1.0.0", "type": "app", "main": "x",
                    "protocol": {"version": "1.0"},
                    "capabilities": {"channels": {"provides": ["ext"]}, "hooks": {"subscribes": ["agent_end"]}}}
        r = c.request("app.register", {"manifest": manifest})
        self.assertTrue(r["success"], r)
        self.assertEqual(r["result"]["grants"]["trustLevel"], "untrusted")
        for key in ("appId", "token", "protocolVersion", "kernelVersion", "heartbeatIntervalMs", "grants"):
            self.assertIn(key, r["result"])
        cap = c.request("capability.register", {"type": "channel", "config": {"id": "ext"}})["result"]
        self.assertFalse(cap["granted"])
        self.assertIn("not granted", cap["reason"])
        sub = c.request("hook.subscribe", {"events": ["agent_end"]})["result"]
        self.assertEqual(sub["denied"], ["agent_end"])
        # registering twice on one connection is a conflict
        again = c.request("app.register", {"manifest": manifest})
        self.assertEqual(again["error"]["code"], "CONFLICT")

    def test_resume_after_dropped_connection(self):
        k = self.kernel({"ipc": {"allowExternalApps": True, "resumeWindowMs": 2000},
                         "apps": {"resumer": {"trustLevel": "verified"}}})
        manifest = {"id": "resumer", "name": "R", "version": "1.0.0", "type": "app", "main": "x",
                    "protocol": {"version": "1.0"},
                    "capabilities": {"channels": {"provides": ["rchan"]}, "hooks": {"subscribes": ["agent_end"]}}}
        c = self.ipc(k)
        token = c.request("app.register", {"manifest": manifest})["result"]["token"]
        cap = c.request("capability.register", {"type": "channel", "config": {"id": "rchan"}})["result"]
        self.assertTrue(cap["granted"], cap)
        c.close()
        time.sleep(0.2)
        c2 = self.ipc(k)
        bad = c2.request("app.register", {"manifest": manifest, "resumeToken": "wrong"})
        self.assertEqual(bad["error"]["code"], "UNAUTHORIZED")
        ok = c2.request("app.register", {"manifest": manifest, "resumeToken": token})
        self.assertTrue(ok["success"], ok)
        # the channel registration survived: registering it again returns the same id
        again = c2.request("capability.register", {"type": "channel", "config": {"id": "rchan"}})["result"]
        self.assertEqual(again["capabilityId"], cap["capabilityId"])
        c2.close()
        time.sleep(2.5)  # past the window: released, the token no longer works
        c3 = self.ipc(k)
        late = c3.request("app.register", {"manifest": manifest, "resumeToken": token})
        self.assertEqual(late["error"]["code"], "UNAUTHORIZED")

    def external(self, k, app_id, capabilities):
        """An app the kernel did not spawn; it claims `verified`, what it gets is the user's call."""
        capabilities = dict(capabilities, security={"trustLevel": "verified"})
        manifest = {"id": app_id, "name": app_id, "version": "1.0.0", "type": "app", "main": "x",
                    "protocol": {"version": "1.0"}, "capabilities": capabilities}
        c = self.ipc(k)
        r = c.request("app.register", {"manifest": manifest})
        self.assertTrue(r["success"], r)
        return c

    def test_config_watch_streams_changes_until_cancelled(self):
        k = self.kernel({"ipc": {"allowExternalApps": True}, "apps": {"watcher": {"greeting": "hi"}}})
        c = self.external(k, "watcher", {})
        c.send({"id": "w1", "type": "request", "timestamp": 1, "method": "config.watch",
                "params": {"paths": ["greeting"]}})
        first = c.recv()
        self.assertEqual(first["type"], "stream")
        self.assertEqual(first["requestId"], "w1")
        self.assertEqual(first["chunk"]["watching"], ["apps.watcher.greeting"])
        self.assertFalse(first["done"])
        ack = c.recv()
        self.assertTrue(ack["success"])
        self.assertEqual(k.cli("config", "set", "apps.watcher.greeting", "hello").returncode, 0)
        frames = [c.recv(5), c.recv(5)]
        change = next(f for f in frames if f["type"] == "stream")
        self.assertEqual(change["chunk"], {"path": "apps.watcher.greeting", "oldValue": "hi", "newValue": "hello"})
        event = next(f for f in frames if f["type"] == "event")
        self.assertEqual(event["event"], "config:changed")
        r = c.request("stream.cancel", {"requestId": "w1"})
        self.assertTrue(r["success"])
        forbidden = c.request("config.watch", {"paths": ["gateway.auth"]})
        self.assertEqual(forbidden["error"]["code"], "FORBIDDEN")
        unknown = c.request("stream.cancel", {"requestId": "w1"})
        self.assertEqual(unknown["error"]["code"], "NOT_FOUND")

    def test_app_method_errors_and_timeouts_reach_the_caller(self):
        k = self.kernel({"ipc": {"allowExternalApps": True, "requestTimeoutMs": 400},
                         "apps": {"silent": {"trustLevel": "verified"}}})
        c = self.external(k, "silent", {"gateway": {"methods": ["silent.echo", "silent.nothing"]}})
        for m in ("silent.echo", "silent.nothing"):
            self.assertTrue(c.request("capability.register", {"type": "gateway_method", "config": {"method": m}})
                            ["result"]["granted"])
        ws = k.control()
        ws.sock.settimeout(10)
        # answer silent.echo from a thread-free loop: send the request, then serve it here
        ws._send({"type": "req", "id": "e1", "method": "silent.echo", "params": {"x": 1}})
        invoke = c.recv()
        self.assertEqual(invoke["method"], "gateway.invoke")
        self.assertEqual(invoke["params"]["method"], "silent.echo")
        self.assertEqual(invoke["params"]["params"], {"x": 1})
        c.send({"id": "a1", "type": "response", "timestamp": 1, "requestId": invoke["id"], "success": True,
                "result": {"result": {"echo": 1}}})
        res = ws.recv_response(5)
        self.assertEqual(res, {"type": "res", "id": "e1", "ok": True, "payload": {"echo": 1}})
        ws._send({"type": "req", "id": "e2", "method": "silent.echo", "params": {}})
        invoke = c.recv()
        c.send({"id": "a2", "type": "response", "timestamp": 1, "requestId": invoke["id"], "success": False,
                "error": {"code": "INVALID_PARAMS", "message": "nope"}})
        res = ws.recv_response(5)
        self.assertEqual(res["error"]["code"], "INVALID_PARAMS")
        t0 = time.monotonic()
        res = ws.call_raw("silent.nothing", {})
        self.assertGreaterEqual(time.monotonic() - t0, 0.35)
        self.assertEqual(res["error"]["code"], "TIMEOUT")
        c.close()
        time.sleep(0.2)
        res = ws.call_raw("silent.echo", {})
        self.assertEqual(res["error"]["code"], "CONNECTION_CLOSED")

    def test_apps_cannot_take_over_kernel_methods(self):
        k = self.kernel({"ipc": {"allowExternalApps": True}, "apps": {"apps": {"trustLevel": "verified"}}})
        c = self.external(k, "apps", {"gateway": {"methods": ["apps.list", "apps.mine"]}})
        taken = c.request("capability.register", {"type": "gateway_method", "config": {"method": "apps.list"}})
        self.assertFalse(taken["result"]["granted"])
        self.assertIn("served by the kernel", taken["result"]["reason"])
        own = c.request("capability.register", {"type": "gateway_method", "config": {"method": "apps.mine"}})
        self.assertTrue(own["result"]["granted"])
        self.assertIn("apps", k.control().call("apps.list"))  # still the kernel's

    def test_replaced_connection_no_longer_speaks_for_the_app(self):
        k = self.kernel({"ipc": {"allowExternalApps": True},
                         "apps": {"supervisor": fast_supervisor(), "behave": {"enabled": False}}},
                        apps=[BEHAVE])
        impostor = self.external(k, "behave", {})
        k.control().call("apps.start", {"id": "behave"})
        k.wait_state("behave", "ready")
        with self.assertRaises((ConnectionError, OSError)):
            for _ in range(3):
                r = impostor.request("app.heartbeat")
                self.assertEqual(r["error"]["code"], "APP_NOT_REGISTERED")

    def test_remote_app_over_websocket_ipc(self):
        k = self.kernel({"ipc": {"allowExternalApps": True}, "gateway": {"auth": {"token": "gw-secret"}},
                         "apps": {"remote": {"trustLevel": "verified"}}})
        for bearer, status in ((None, "401"), ("wrong", "401")):
            with self.assertRaises(ConnectionError) as refused:
                k.client(path="/ipc", bearer=bearer)
            self.assertIn(status, str(refused.exception))
        ws = k.client(path="/ipc", bearer="gw-secret")
        self.addCleanup(ws.close)
        manifest = {"id": "remote", "name": "Remote", "version": "1.0.0", "type": "app", "main": "x",
                    "protocol": {"version": "1.0"},
                    "capabilities": {"security": {"trustLevel": "verified"},
                                     "gateway": {"methods": ["remote.hello"]}}}
        ws.send_frame({"id": "r1", "type": "request", "timestamp": 1, "method": "app.register",
                       "params": {"manifest": manifest, "spawnToken": "0" * 32}})
        self.assertEqual(ws.recv_frame()["error"]["code"], "UNAUTHORIZED")  # no spawn tokens from afar
        ws.send_frame({"id": "r2", "type": "request", "timestamp": 1, "method": "app.register",
                       "params": {"manifest": manifest}})
        reg = ws.recv_frame()
        self.assertTrue(reg["success"], reg)
        self.assertEqual(reg["result"]["grants"]["trustLevel"], "verified")
        ws.send_text("not json")
        bad = ws.recv_frame()
        self.assertEqual((bad["error"]["code"], bad["requestId"]), ("INVALID_REQUEST", None))
        ws.send_frame({"id": "h1", "type": "request", "timestamp": 1, "method": "app.heartbeat", "params": {}})
        self.assertTrue(ws.recv_frame()["result"]["ok"])
        ws.send_frame({"id": "c1", "type": "request", "timestamp": 1, "method": "capability.register",
                       "params": {"type": "gateway_method", "config": {"method": "remote.hello"}}})
        self.assertTrue(ws.recv_frame()["result"]["granted"])
        ctl = k.client(token="gw-secret")
        ctl._send({"type": "req", "id": "x1", "method": "remote.hello", "params": {"who": "me"}})
        invoke = ws.recv_frame()
        self.assertEqual(invoke["method"], "gateway.invoke")
        ws.send_frame({"id": "a1", "type": "response", "timestamp": 1, "requestId": invoke["id"], "success": True,
                       "result": {"result": {"hello": "me"}}})
        self.assertEqual(ctl.recv_response(5)["payload"], {"hello": "me"})

    def test_websocket_ipc_needs_gateway_credentials(self):
        k = self.kernel({"ipc": {"allowExternalApps": True}})
        with self.assertRaises(ConnectionError) as refused:
            k.client(path="/ipc", bearer="anything")
        self.assertIn("403", str(refused.exception))

    def test_spawned_app_claiming_another_id_is_forbidden(self):
        k = self.kernel({"apps": {"supervisor": fast_supervisor(maxRestarts=1, restartDelay=50),
                                  "liar": {"env": {"TEST_BEHAVIOR": "wrong-id", "TEST_OTHER_ID": "honest"}},
                                  "honest": {"enabled": False}}},
                        apps=[(BEHAVE, "liar"), (BEHAVE, "honest")])
        line = wait_for(lambda: next((l for l in k.app_log("liar") if l.startswith("REGISTER ")), None), 10,
                        what="the liar's register answer")
        answer = json.loads(line[len("REGISTER "):])
        self.assertFalse(answer["success"])
        self.assertEqual(answer["error"]["code"], "FORBIDDEN")
        self.assertIn("does not match", answer["error"]["message"])


if __name__ == "__main__":
    unittest.main()
