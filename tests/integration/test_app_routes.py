"""App HTTP routes and the canvas through the real gateway (SPEC §3, §4.3, §8.3, §11;
docs/CONTROL-PLANE.md "App routes" and "Canvas"): /apps/<short>/... proxied to apps as
http.request (the C++ example notes-example, and a raw-protocol external app the test scripts
frame by frame), app methods over the WebSocket, and the `canvas` tool scripted through the test
LLM server, its files served at /canvas/ and its live `canvas` event."""
import base64
import concurrent.futures
import http.client
import json
import os
import signal
import time

from harness import KernelTest, fast_supervisor, wait_for
from llm_server import LlmServer

EXAMPLES = os.environ.get("OPENCLAW_EXAMPLES", "")
NOTES = os.path.join(EXAMPLES, "notes-example")
TOKEN = "route-test-token"
RAW_ID = "rawroutes"
RAW_MANIFEST = {"id": RAW_ID, "name": "Raw routes", "version": "1.0.0", "type": "app", "main": "none",
                "protocol": {"version": "1.0"},
                "capabilities": {"gateway": {"methods": ["rawroutes.ping"], "httpRoutes": ["/raw/", "/late"]}}}


def http_call(port, method, path, body=None, headers=None, token=TOKEN, timeout=30):
    """One HTTP request → (status, {lower-case header: value}, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    try:
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def error_of(body):
    return json.loads(body)["error"]


def run_agent(ws, params, timeout=60):
    """`agent` answers twice (an `accepted` acknowledgement, then the run's result): the final one."""
    ws.n += 1
    rid = f"c{ws.n}"
    ws.send_frame({"type": "req", "id": rid, "method": "agent", "params": params})
    deadline = time.monotonic() + timeout
    while True:
        f = ws.recv_frame(max(0.01, deadline - time.monotonic()))
        if f.get("type") == "event":
            ws.events.append(f)
        elif f.get("id") == rid and not (f["ok"] and f["payload"].get("status") == "accepted"):
            return f


class RouteTestBase(KernelTest):
    def start(self, apps=(), **extra):
        cfg = {"gateway": {"auth": {"token": TOKEN}},
               "ipc": {"allowExternalApps": True, "requestTimeoutMs": 1500},
               "apps": {"supervisor": fast_supervisor(), RAW_ID: {"trustLevel": "community"}}}
        cfg.update(extra)
        k = self.kernel(cfg, apps=apps)
        for a in apps:
            k.wait_state(os.path.basename(a), "ready")
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=4)
        self.addCleanup(self.pool.shutdown, wait=False)
        return k

    def http(self, k, method, path, **kw):
        return http_call(k.port, method, path, **kw)

    def raw_app(self, k, routes=("/raw/",), methods=()):
        """An external app on a raw IPC connection, registered with the given capabilities."""
        ipc = self.ipc(k)
        r = ipc.request("app.register", {"manifest": RAW_MANIFEST})
        self.assertTrue(r["success"], r)
        for route in routes:
            r = ipc.request("capability.register", {"type": "http_route", "config": {"path": route}})
            self.assertTrue(r["result"]["granted"], r)
        for m in methods:
            r = ipc.request("capability.register", {"type": "gateway_method", "config": {"method": m}})
            self.assertTrue(r["result"]["granted"], r)
        return ipc

    def next_request(self, ipc, method="http.request", timeout=10):
        while True:
            f = ipc.recv(timeout)
            if f["type"] == "request" and f["method"] == method:
                return f

    def answer(self, ipc, request, result=None, error=None):
        frame = {"id": "a-" + request["id"], "type": "response", "timestamp": int(time.time() * 1000),
                 "requestId": request["id"], "success": error is None}
        if error is None:
            frame["result"] = result
        else:
            frame["error"] = error
        ipc.send(frame)

    def proxied(self, k, ipc, result=None, error=None, method="GET", path="/apps/rawroutes/raw/x", **kw):
        """Sends one HTTP request, answers its http.request with `result`/`error`, returns both sides."""
        pending = self.pool.submit(http_call, k.port, method, path, **kw)
        req = self.next_request(ipc)
        self.answer(ipc, req, result, error)
        return req, pending.result(timeout=15)


class NotesRoutesTest(RouteTestBase):
    def test_example_app_serves_its_page_and_api_through_the_gateway(self):
        k = self.start(apps=[NOTES])
        status, headers, body = self.http(k, "GET", "/apps/notes-example/")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["content-type"].startswith("text/html"), headers)
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertIn(b"0 note(s)", body)

        # POST with a body, a status code of the app's choosing, then GET with a query string
        status, _, body = self.http(k, "POST", "/apps/notes-example/api/notes", body=json.dumps({"text": "buy <milk>"}),
                                    headers={"Content-Type": "application/json"})
        self.assertEqual(status, 201, body)
        self.assertEqual(json.loads(body), {"id": 1, "count": 1})
        self.http(k, "POST", "/apps/notes-example/api/notes", body=b'{"text":"call mum"}',
                  headers={"Content-Type": "application/json"})
        status, headers, body = self.http(k, "GET", "/apps/notes-example/api/notes?limit=1")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"notes": ["buy <milk>"], "count": 2})
        self.assertEqual(headers["x-notes-count"], "2")  # a header set by the app
        self.assertEqual(headers["content-type"], "application/json")
        # request headers reach the app: it insists on a JSON content type
        status, _, body = self.http(k, "POST", "/apps/notes-example/api/notes", body=b"text=x",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(status, 415, body)
        status, _, _ = self.http(k, "POST", "/apps/notes-example/api/notes", body=b"{not json",
                                 headers={"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        status, _, body = self.http(k, "GET", "/apps/notes-example/")
        self.assertIn(b"<li>buy &lt;milk&gt;</li>", body)  # the page escapes what the API stored
        # the app's own 404 for a path under its "/" route
        status, _, body = self.http(k, "GET", "/apps/notes-example/missing")
        self.assertEqual((status, body), (404, b"no such page\n"))
        # the mount without its slash redirects, so relative links work
        status, headers, _ = self.http(k, "GET", "/apps/notes-example?x=1")
        self.assertEqual((status, headers["location"]), (308, "/apps/notes-example/?x=1"))
        # the same state through the app's control-plane method
        self.assertEqual(k.control().call("notes-example.count")["count"], 2)

    def test_routes_require_the_gateway_credentials(self):
        k = self.start(apps=[NOTES])
        status, headers, body = self.http(k, "GET", "/apps/notes-example/", token=None)
        self.assertEqual(status, 401)
        self.assertEqual(error_of(body)["code"], "UNAUTHORIZED")
        status, _, _ = self.http(k, "GET", "/apps/notes-example/", token="wrong")
        self.assertEqual(status, 401)
        # the Control UI's cookie is accepted too (iframes carry it)
        status, _, _ = self.http(k, "GET", "/apps/notes-example/", token=None,
                                 headers={"Cookie": f"openclaw_auth={TOKEN}"})
        self.assertEqual(status, 200)

    def test_a_killed_app_answers_502_at_once_and_comes_back(self):
        k = self.start(apps=[NOTES])
        self.assertEqual(self.http(k, "GET", "/apps/notes-example/")[0], 200)
        pid = k.status_of("notes-example")["pid"]
        os.kill(pid, signal.SIGKILL)
        t0 = time.monotonic()
        status, _, body = self.http(k, "GET", "/apps/notes-example/api/notes", timeout=10)
        self.assertLess(time.monotonic() - t0, 1.0, "a dead app must not make the gateway wait")
        self.assertEqual(status, 502, body)
        self.assertEqual(error_of(body)["code"], "CONNECTION_CLOSED")
        f = k.control().call_raw("notes-example.count")
        self.assertFalse(f["ok"])
        # CONNECTION_CLOSED while the kernel holds the app's session, and also after the session is
        # released: an installed app's declared methods answer that until it registers them again.
        self.assertEqual(f["error"]["code"], "CONNECTION_CLOSED", f)
        time.sleep(0.5)  # past the supervisor reaping the process (the restart delay is longer)
        f = k.control().call_raw("notes-example.count")
        if not f["ok"]:  # unless the app already came back
            self.assertEqual(f["error"]["code"], "CONNECTION_CLOSED", f)
        # the supervisor restarts it; the route works again once it registered
        wait_for(lambda: (s := k.status_of("notes-example")).get("state") == "ready" and s.get("pid") != pid, 10,
                 what="notes-example restarted")
        wait_for(lambda: self.http(k, "GET", "/apps/notes-example/api/notes")[0] == 200, 5, what="route back")

    def test_a_stopped_app_answers_502(self):
        k = self.start(apps=[NOTES])
        k.control().call("apps.stop", {"id": "notes-example"})
        status, _, body = self.http(k, "GET", "/apps/notes-example/")
        self.assertEqual(status, 502)
        self.assertEqual(error_of(body)["code"], "CONNECTION_CLOSED")
        self.assertIn("notes-example", error_of(body)["message"])


class RawRoutesTest(RouteTestBase):
    def test_the_app_sees_the_wire_shape_and_its_answer_is_relayed(self):
        k = self.start()
        ipc = self.raw_app(k)
        payload = bytes(range(256))
        req, (status, headers, body) = self.proxied(
            k, ipc, method="POST", path="/apps/rawroutes/raw/a%20b?q=1&r=%2F", body=payload,
            headers={"Content-Type": "application/octet-stream", "X-Trace": "t-1", "Cookie": "openclaw_auth=x"},
            result={"status": 418, "headers": {"Content-Type": "text/plain", "X-Custom": "v", "Link": ["<a>", "<b>"],
                                               "Set-Cookie": "openclaw_auth=stolen", "Connection": "close",
                                               "Access-Control-Allow-Origin": "*"},
                    "body": base64.b64encode(b"short and stout").decode()})
        p = req["params"]
        self.assertEqual(p["method"], "POST")
        self.assertEqual(p["path"], "/raw/a%20b")
        self.assertEqual(p["query"], "q=1&r=%2F")
        self.assertEqual(base64.b64decode(p["body"]), payload)
        self.assertEqual(p["headers"]["content-type"], "application/octet-stream")
        self.assertEqual(p["headers"]["x-trace"], "t-1")
        self.assertEqual(p["headers"]["x-forwarded-prefix"], "/apps/rawroutes")
        self.assertNotIn("authorization", p["headers"])  # the gateway's credentials stay with it
        self.assertNotIn("cookie", p["headers"])
        self.assertEqual(status, 418)
        self.assertEqual(body, b"short and stout")
        self.assertEqual(headers["content-type"], "text/plain")
        self.assertEqual(headers["x-custom"], "v")
        self.assertEqual(headers["link"], "<a>, <b>")  # a repeated header, as one line
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertNotIn("set-cookie", headers)  # no cookies on the gateway's origin
        self.assertNotIn("access-control-allow-origin", headers)

    def test_malformed_answers_become_502(self):
        k = self.start(gateway={"auth": {"token": TOKEN}, "maxBodyBytes": 4096})
        ipc = self.raw_app(k)
        cases = [("not an object", "the answer is not an object"),
                 ({"status": 42}, "status 42 is not in 200..599"),
                 ({"status": "200"}, "status must be an integer"),
                 ({"status": 200, "headers": {"X-Bad": 5}}, "value must be a string"),
                 ({"status": 200, "headers": {"X-Bad": "a\r\nSet-Cookie: y=1"}}, "CR, LF or NUL"),
                 ({"status": 200, "body": "%%% not base64"}, "body is not base64"),
                 ({"status": 200, "body": base64.b64encode(b"x" * 5000).decode()}, "body exceeds 4096 bytes")]
        for result, why in cases:
            _, (status, _, body) = self.proxied(k, ipc, result=result)
            self.assertEqual(status, 502, (result, body))
            err = error_of(body)
            self.assertIn(why, err["message"], result)
            self.assertIn("rawroutes", err["message"])
        # an error response from the app is a 502 carrying its code
        _, (status, _, body) = self.proxied(k, ipc, error={"code": "NOT_FOUND", "message": "nothing here"})
        self.assertEqual(status, 502)
        self.assertEqual(error_of(body)["code"], "NOT_FOUND")
        self.assertIn("nothing here", error_of(body)["message"])

    def test_a_slow_app_gets_504_after_the_request_timeout(self):
        k = self.start()
        ipc = self.raw_app(k)
        t0 = time.monotonic()
        pending = self.pool.submit(http_call, k.port, "GET", "/apps/rawroutes/raw/slow")
        self.next_request(ipc)  # never answered
        status, _, body = pending.result(timeout=15)
        took = time.monotonic() - t0
        self.assertEqual(status, 504, body)
        self.assertEqual(error_of(body)["code"], "TIMEOUT")
        self.assertGreater(took, 1.2)  # ipc.requestTimeoutMs = 1500
        self.assertLess(took, 8)
        # the connection is still good for the next request
        _, (status, _, _) = self.proxied(k, ipc, result={"status": 204})
        self.assertEqual(status, 204)

    def test_undeclared_unknown_unsafe_and_unregistered_paths(self):
        k = self.start()
        ipc = self.raw_app(k, routes=("/raw/",))
        for path in ("/apps/rawroutes/other", "/apps/rawroutes/raw", "/apps/nosuchapp/x", "/apps/", "/apps"):
            status, _, body = self.http(k, "GET", path)
            self.assertEqual(status, 404, (path, body))
            self.assertEqual(error_of(body)["code"], "NOT_FOUND")
        for path in ("/apps/rawroutes/raw/../late", "/apps/rawroutes/raw/%2e%2e/late", "/apps/rawroutes/raw/..%2Flate"):
            status, _, body = self.http(k, "GET", path)
            self.assertEqual(status, 400, (path, body))
        # /late is declared but this app never registered it: 502, not a hang and not 404
        status, _, body = self.http(k, "GET", "/apps/rawroutes/late")
        self.assertEqual(status, 502, body)
        self.assertIn("has not registered route /late", error_of(body)["message"])
        # registering it later makes it live
        r = ipc.request("capability.register", {"type": "http_route", "config": {"path": "/late"}})
        self.assertTrue(r["result"]["granted"])
        _, (status, _, body) = self.proxied(k, ipc, result={"status": 200, "body": base64.b64encode(b"ok").decode()},
                                            path="/apps/rawroutes/late")
        self.assertEqual((status, body), (200, b"ok"))
        # unregistering takes it away again
        r = ipc.request("capability.unregister", {"capabilityId": r["result"]["capabilityId"]})
        self.assertTrue(r["success"], r)
        self.assertEqual(self.http(k, "GET", "/apps/rawroutes/late")[0], 502)

    def test_method_and_route_of_a_disconnected_app(self):
        k = self.start()
        ipc = self.raw_app(k, methods=("rawroutes.ping",))
        ws = k.control()
        pending = self.pool.submit(ws.call, "rawroutes.ping", {"n": 1})
        inv = self.next_request(ipc, "gateway.invoke")
        self.assertEqual(inv["params"]["method"], "rawroutes.ping")
        self.assertEqual(inv["params"]["params"], {"n": 1})
        self.answer(ipc, inv, {"result": {"pong": 1}})
        self.assertEqual(pending.result(timeout=10), {"pong": 1})
        # a request in flight when the app goes away fails at that moment, not at the timeout
        pending = self.pool.submit(http_call, k.port, "GET", "/apps/rawroutes/raw/x")
        self.next_request(ipc)
        t0 = time.monotonic()
        ipc.close()  # the app is gone; its registrations wait for a resume
        status, _, body = pending.result(timeout=10)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual(status, 502, body)
        self.assertEqual(error_of(body)["code"], "CONNECTION_CLOSED")
        status, _, body = self.http(k, "GET", "/apps/rawroutes/raw/x")
        self.assertEqual(status, 502, body)
        self.assertIn("not connected", error_of(body)["message"])
        f = ws.call_raw("rawroutes.ping")
        self.assertFalse(f["ok"])
        self.assertEqual(f["error"]["code"], "CONNECTION_CLOSED")


class CanvasTest(RouteTestBase):
    def setUp(self):
        self.llm = LlmServer.start()
        self.addCleanup(self.llm.stop)

    def start_agent(self, **extra):
        models = {"providers": {"test": {"api": "openai-completions", "baseUrl": self.llm.base_url, "apiKey": "sk-test"}},
                  "requestTimeoutMs": 5000, "retryBaseDelayMs": 20, "maxRetries": 1}
        agents = {"default": {"model": "test/gpt-test"}, "coder": {"model": "test/gpt-test"}}
        return self.start(models=models, agents=agents, **extra)

    def canvas_call(self, k, message, agent="default", **args):
        self.llm.script({"match": message, "toolCalls": [{"name": "canvas", "arguments": args}]})
        ws = k.control()
        ws.events = []
        final = run_agent(ws, {"message": message, "agentId": agent})
        self.assertTrue(final["ok"], final)
        self.assertEqual(final["payload"]["status"], "ok", final)
        tool_out = [m["content"] for m in self.llm.requests()[-1]["messages"] if m["role"] == "tool"][-1]
        events = [e["payload"] for e in ws.events if e.get("event") == "canvas"]
        return tool_out, events

    def test_present_is_served_sandboxed_and_announced(self):
        k = self.start_agent()
        page = "<!doctype html><h1>Hello canvas</h1><script>document.title='x'</script>"
        out, events = self.canvas_call(k, "draw a page", action="present", html=page, title="Greeting")
        self.assertIn('"ok":true', out)
        self.assertEqual(len(events), 1, events)
        self.assertEqual(events[0]["agentId"], "default")
        self.assertEqual(events[0]["version"], 1)
        self.assertEqual(events[0]["url"], "/canvas/")
        self.assertEqual(events[0]["title"], "Greeting")
        with open(os.path.join(k.home, "workspace", "canvas", "index.html")) as f:
            self.assertEqual(f.read(), page)
        status, headers, body = self.http(k, "GET", "/canvas/")
        self.assertEqual(status, 200)
        self.assertEqual(body.decode(), page)
        self.assertEqual(headers["content-security-policy"], "sandbox allow-scripts")
        self.assertTrue(headers["content-type"].startswith("text/html"))
        self.assertEqual(headers["x-content-type-options"], "nosniff")
        self.assertEqual(self.http(k, "GET", "/canvas/", token=None)[0], 401)
        self.assertEqual(self.http(k, "GET", "/canvas")[0], 308)
        self.assertEqual(self.http(k, "POST", "/canvas/", body=b"x")[0], 405)
        # a UI that opens later asks what is showing
        state = k.control().call("canvas.get")
        self.assertEqual((state["version"], state["url"], state["title"]), (1, "/canvas/", "Greeting"))
        # a second present bumps the version
        _, events = self.canvas_call(k, "draw again", action="present", html="<p>two</p>")
        self.assertEqual(events[0]["version"], 2)
        self.assertNotIn("title", events[0])
        self.assertEqual(self.http(k, "GET", "/canvas/")[2], b"<p>two</p>")

    def test_show_and_clear(self):
        k = self.start_agent()
        canvas = os.path.join(k.home, "workspace", "canvas", "charts")
        os.makedirs(canvas)
        with open(os.path.join(canvas, "q1.html"), "w") as f:
            f.write("<p>Q1</p>")
        with open(os.path.join(canvas, "style.css"), "w") as f:
            f.write("p{color:red}")
        _, events = self.canvas_call(k, "show the chart", action="show", path="charts/q1.html", title="Q1")
        self.assertEqual(events[0]["url"], "/canvas/charts/q1.html")
        self.assertEqual(self.http(k, "GET", "/canvas/charts/q1.html")[2], b"<p>Q1</p>")
        status, headers, _ = self.http(k, "GET", "/canvas/charts/style.css")
        self.assertEqual((status, headers["content-type"]), (200, "text/css; charset=utf-8"))
        self.assertEqual(self.http(k, "GET", "/canvas/charts/none.html")[0], 404)
        # a file outside canvas/ cannot be shown
        out, events = self.canvas_call(k, "show agents", action="show", path="../AGENTS.md")
        self.assertIn("error", out)
        self.assertEqual(events, [])
        _, events = self.canvas_call(k, "draw it", action="present", html="<p>page</p>")
        _, events = self.canvas_call(k, "clear it", action="clear")
        self.assertEqual((events[0]["action"], events[0]["url"]), ("clear", "/canvas/"))
        self.assertFalse(os.path.exists(os.path.join(k.home, "workspace", "canvas", "index.html")))
        status, _, body = self.http(k, "GET", "/canvas/")
        self.assertEqual(status, 200)
        self.assertIn(b"Nothing on the canvas yet", body)

    def test_each_agent_has_its_own_canvas(self):
        k = self.start_agent()
        _, events = self.canvas_call(k, "code page", agent="coder", action="present", html="<p>coder</p>")
        self.assertEqual((events[0]["agentId"], events[0]["url"]), ("coder", "/canvas/coder/"))
        self.assertEqual(self.http(k, "GET", "/canvas/coder/")[2], b"<p>coder</p>")
        self.assertEqual(self.http(k, "GET", "/canvas/coder")[0], 308)
        self.assertIn(b"Nothing on the canvas yet", self.http(k, "GET", "/canvas/")[2])
        self.assertEqual(k.control().call("canvas.get", {"agentId": "coder"})["version"], 1)
        self.assertEqual(k.control().call_raw("canvas.get", {"agentId": "nobody"})["error"]["code"], "NOT_FOUND")

    def test_traversal_and_symlinks_are_refused(self):
        k = self.start_agent()
        self.canvas_call(k, "draw", action="present", html="<p>x</p>")
        canvas = os.path.join(k.home, "workspace", "canvas")
        for path in ("/canvas/..%2Fconfig.json", "/canvas/%2e%2e/config.json", "/canvas/../config.json",
                     "/canvas/..%2F..%2Fconfig.json", "/canvas/a/..%5C..%5Cconfig.json"):
            status, _, body = self.http(k, "GET", path)
            self.assertIn(status, (400, 403, 404), path)
            self.assertNotIn(b"gateway", body, path)  # nothing of config.json
        os.symlink(os.path.join(k.home, "config.json"), os.path.join(canvas, "leak.json"))
        os.symlink(os.path.join(k.home, "workspace", "AGENTS.md"), os.path.join(canvas, "agents.md"))
        for path in ("/canvas/leak.json", "/canvas/agents.md"):
            status, _, body = self.http(k, "GET", path)
            self.assertEqual(status, 403, (path, body))
        # a canvas directory that is itself a symlink out of the workspace is refused as a whole
        os.rename(canvas, canvas + ".old")
        os.symlink(k.home, canvas)
        status, _, body = self.http(k, "GET", "/canvas/config.json")
        self.assertEqual(status, 403, body)
        out, events = self.canvas_call(k, "draw outside", action="present", html="<p>y</p>")
        self.assertIn("error", out)
        self.assertEqual(events, [])
        self.assertFalse(os.path.exists(os.path.join(k.home, "index.html")))


if __name__ == "__main__":
    import unittest
    unittest.main()
