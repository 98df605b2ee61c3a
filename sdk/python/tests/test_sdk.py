"""Tests of the Python SDK against an in-test peer (fake_kernel.py) speaking the frame format.

Run: python3 -m unittest discover -s sdk/python/tests -v
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import tempfile
import unittest
from unittest import mock

from fake_kernel import FakeKernel, PeerConn  # also puts the SDK on sys.path

from openclawos_sdk import (App, ChannelApp, ErrorCode, KernelClient, KernelError,
                            write_file_atomically)
from openclawos_sdk.protocol import OVERSIZE, FrameError, LineSplitter, canonical_hook, parse_frame

MANIFEST = {"id": "test-app", "name": "Test", "version": "1.0.0", "type": "app",
            "main": "main.py", "protocol": {"version": "1.0"}, "capabilities": {}}


class ProtocolTest(unittest.TestCase):
    def test_line_splitter_joins_partial_lines_and_strips_cr(self) -> None:
        s = LineSplitter(16)
        self.assertEqual(s.feed(b'{"a"'), [])
        self.assertEqual(s.feed(b':1}\r\n\n{"b":2}\n{"c"'), [b'{"a":1}', b'{"b":2}'])
        self.assertEqual(s.buffered, 4)

    def test_line_splitter_discards_oversize_line_once_and_recovers(self) -> None:
        s = LineSplitter(8)
        self.assertEqual(s.feed(b"0123456789"), [OVERSIZE])
        self.assertEqual(s.feed(b"more of the same line"), [])
        self.assertEqual(s.feed(b"end\nok\n"), [b"ok"])
        self.assertEqual(s.feed(b"123456789\nfine\n"), [OVERSIZE, b"fine"])
        self.assertEqual(s.feed(b"12345678\n"), [b"12345678"])  # exactly the limit is fine

    def test_parse_frame_rules_match_kernel(self) -> None:
        f = parse_frame(b'{"id":7,"type":"request","timestamp":1,"method":"m"}')
        self.assertEqual((f["id"], f["params"]), ("7", {}))
        cases = {
            b"nope": "not JSON",
            b"[1]": "must be a JSON object",
            b'{"type":"event","timestamp":1,"event":"e"}': "missing field: id",
            b'{"id":"1","type":"request","method":"m"}': "missing field: timestamp",
            b'{"id":"1","type":"request","timestamp":1}': "missing field: method",
            b'{"id":"1","type":"response","timestamp":1,"success":true}': "missing field: requestId",
            b'{"id":"1","type":"response","timestamp":1,"requestId":"2","success":false}':
                "without error",
            b'{"id":"1","type":"stream","timestamp":1,"requestId":"2"}': "missing field: done",
            b'{"id":"1","type":"bogus","timestamp":1}': "unknown frame type",
            b'{"id":true,"type":"event","timestamp":1,"event":"e"}': "field id must be a string",
        }
        for line, message in cases.items():
            with self.subTest(line=line):
                with self.assertRaises(FrameError) as ctx:
                    parse_frame(line)
                self.assertIn(message, str(ctx.exception))

    def test_canonical_hook_resolves_aliases_and_prefix(self) -> None:
        self.assertEqual(canonical_hook("hook:agent_completed"), "agent_end")
        self.assertEqual(canonical_hook("tool_executing"), "before_tool_call")
        self.assertEqual(canonical_hook("message_sent"), "message_sent")

    def test_kernel_error_from_malformed_json_is_unknown_error(self) -> None:
        self.assertEqual(KernelError.from_json("x").code, ErrorCode.UNKNOWN_ERROR)
        self.assertEqual(KernelError.from_json({"code": "WHAT", "message": "m"}).code,
                         ErrorCode.UNKNOWN_ERROR)
        e = KernelError.from_json({"code": "NOT_FOUND", "message": "m", "data": {"k": 1}})
        self.assertEqual((e.code, e.message, e.data), ("NOT_FOUND", "m", {"k": 1}))


class PeerTestCase(unittest.IsolatedAsyncioTestCase):
    """Starts a FakeKernel on a fresh socket path; ``client`` points at it."""

    max_frame_bytes = 1 << 20

    async def asyncSetUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="ocsdk-")
        self.kernel = FakeKernel(os.path.join(self.tmp, "k.sock"))
        await self.kernel.start()
        self.client = self.make_client()

    def make_client(self, **kwargs) -> KernelClient:
        options = dict(request_timeout=2.0, resume_window=2.0, reconnect_initial_delay=0.02,
                       reconnect_max_delay=0.1, max_frame_bytes=self.max_frame_bytes)
        options.update(kwargs)
        return KernelClient(self.kernel.path, **options)

    async def asyncTearDown(self) -> None:
        await self.client.close()
        await self.kernel.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    async def connect_registered(self, token: str = "tok-1",
                                 interval_ms: int = 60_000) -> PeerConn:
        await self.client.connect()
        conn = await self.kernel.accept()
        task = asyncio.create_task(self.client.register(MANIFEST, spawn_token="spawn-1"))
        await self.kernel.register(conn, token=token, interval_ms=interval_ms)
        await task
        return conn


class RegisterTest(PeerTestCase):
    async def test_register_sends_manifest_and_spawn_token_from_env(self) -> None:
        await self.client.connect()
        conn = await self.kernel.accept()
        with mock.patch.dict(os.environ, {"OPENCLAWOS_APP_TOKEN": "from-env"}):
            task = asyncio.create_task(self.client.register(MANIFEST))
            frame = await self.kernel.register(conn, token="tok-9")
        result = await task
        self.assertEqual(frame["params"], {"manifest": MANIFEST, "spawnToken": "from-env"})
        self.assertEqual(result["token"], "tok-9")
        self.assertEqual(result["appId"], "test-app")
        self.assertEqual(self.client.registration, result)

    async def test_register_refused_raises_the_kernel_error(self) -> None:
        await self.client.connect()
        conn = await self.kernel.accept()
        task = asyncio.create_task(self.client.register(MANIFEST, spawn_token="bad"))
        frame = await conn.expect_request("app.register")
        await conn.reply_error(frame, "FORBIDDEN", "manifest id differs")
        with self.assertRaises(KernelError) as ctx:
            await task
        self.assertEqual(ctx.exception.code, ErrorCode.FORBIDDEN)
        self.assertEqual(ctx.exception.message, "manifest id differs")

    async def test_connect_to_missing_socket_is_connection_closed(self) -> None:
        client = KernelClient(os.path.join(self.tmp, "missing.sock"))
        with self.assertRaises(KernelError) as ctx:
            await client.connect()
        self.assertEqual(ctx.exception.code, ErrorCode.CONNECTION_CLOSED)
        await client.close()

    async def test_request_before_connect_fails_fast(self) -> None:
        with self.assertRaises(KernelError) as ctx:
            await self.client.request("app.ready", {}, timeout=1)
        self.assertEqual(ctx.exception.code, ErrorCode.CONNECTION_CLOSED)


class CorrelationTest(PeerTestCase):
    max_frame_bytes = 1024

    async def test_responses_are_matched_by_request_id_out_of_order(self) -> None:
        conn = await self.connect_registered()
        tasks = [asyncio.create_task(self.client.request("session.get", {"key": f"k{i}"}))
                 for i in range(3)]
        frames = [await conn.expect_request("session.get") for _ in range(3)]
        self.assertEqual(len({f["id"] for f in frames}), 3)
        for frame in reversed(frames):
            await conn.reply(frame, {"echo": frame["params"]["key"]})
        results = await asyncio.gather(*tasks)
        self.assertEqual(results, [{"echo": "k0"}, {"echo": "k1"}, {"echo": "k2"}])

    async def test_error_response_raises_with_code_message_data(self) -> None:
        conn = await self.connect_registered()
        task = asyncio.create_task(self.client.request("hook.subscribe", {"events": [1]}))
        frame = await conn.expect_request("hook.subscribe")
        await conn.reply_error(frame, "INVALID_PARAMS", "must be a string",
                               {"path": "params.events[0]"})
        with self.assertRaises(KernelError) as ctx:
            await task
        self.assertEqual(ctx.exception.code, ErrorCode.INVALID_PARAMS)
        self.assertEqual(ctx.exception.data, {"path": "params.events[0]"})

    async def test_timeout_then_late_response_is_ignored(self) -> None:
        conn = await self.connect_registered()
        with self.assertRaises(KernelError) as ctx:
            await self.client.request("session.list", {}, timeout=0.1)
        self.assertEqual(ctx.exception.code, ErrorCode.TIMEOUT)
        late = await conn.expect_request("session.list")
        await conn.reply(late, {"late": True})
        task = asyncio.create_task(self.client.request("session.list", {}))
        frame = await conn.expect_request("session.list")
        await conn.reply(frame, {"sessions": [], "total": 0})
        self.assertEqual(await task, {"sessions": [], "total": 0})

    async def test_outgoing_frame_over_limit_is_refused_locally(self) -> None:
        conn = await self.connect_registered()
        with self.assertRaises(KernelError) as ctx:
            await self.client.request("agent.queue", {"text": "x" * 2000})
        self.assertEqual(ctx.exception.code, ErrorCode.INVALID_REQUEST)
        self.assertIn("too large", ctx.exception.message)
        task = asyncio.create_task(self.client.request("app.ready", {}))
        await FakeKernel.grant(conn, "app.ready")
        self.assertEqual(await task, {"ok": True})

    async def test_close_fails_pending_requests(self) -> None:
        conn = await self.connect_registered()
        task = asyncio.create_task(self.client.request("session.list", {}))
        await conn.expect_request("session.list")
        await self.client.close()
        with self.assertRaises(KernelError) as ctx:
            await task
        self.assertEqual(ctx.exception.code, ErrorCode.CONNECTION_CLOSED)
        await conn.expect_eof()


class StreamTest(PeerTestCase):
    async def test_stream_yields_chunks_until_done(self) -> None:
        conn = await self.connect_registered()
        received = []

        async def consume() -> None:
            async for chunk in self.client.stream("config.watch", {"paths": ["a"]}):
                received.append(chunk)

        task = asyncio.create_task(consume())
        req = await conn.expect_request("config.watch")
        self.assertEqual(req["params"], {"paths": ["a"]})
        await conn.reply(req, {"ok": True})  # an acknowledgement does not end the stream
        await conn.stream(req["id"], {"path": "a", "oldValue": 1, "newValue": 2}, False)
        await conn.stream(req["id"], {"path": "a", "oldValue": 2, "newValue": 3}, False)
        await conn.stream(req["id"], {"final": True}, True)
        await asyncio.wait_for(task, 2)
        self.assertEqual([c.get("newValue", "final") for c in received], [2, 3, "final"])

    async def test_done_with_null_chunk_yields_nothing_more(self) -> None:
        conn = await self.connect_registered()
        stream = self.client.stream("config.watch", {})
        await stream.start()
        req = await conn.expect_request("config.watch")
        await conn.stream(req["id"], 1, False)
        await conn.stream(req["id"], None, True)
        self.assertEqual([c async for c in stream], [1])
        self.assertTrue(stream.finished)

    async def test_stream_error_response_raises(self) -> None:
        conn = await self.connect_registered()
        stream = self.client.stream("config.watch", {"paths": [1]})
        await stream.start()
        req = await conn.expect_request("config.watch")
        await conn.reply_error(req, "INVALID_PARAMS", "bad paths", {"path": "params.paths[0]"})
        with self.assertRaises(KernelError) as ctx:
            await stream.__anext__()
        self.assertEqual(ctx.exception.code, ErrorCode.INVALID_PARAMS)

    async def test_cancel_sends_stream_cancel_and_ends_iteration(self) -> None:
        conn = await self.connect_registered()
        stream = self.client.stream("config.watch", {})
        await stream.start()
        req = await conn.expect_request("config.watch")
        await conn.stream(req["id"], "first", False)
        self.assertEqual(await stream.__anext__(), "first")
        cancel = asyncio.create_task(stream.cancel())
        frame = await conn.expect_request("stream.cancel")
        self.assertEqual(frame["params"], {"requestId": req["id"]})
        await conn.reply(frame, {"ok": True})
        await cancel
        await conn.stream(req["id"], "late", False)  # ignored after cancel
        with self.assertRaises(StopAsyncIteration):
            await stream.__anext__()

    async def test_async_with_cancels_on_exit(self) -> None:
        conn = await self.connect_registered()

        async def use() -> None:
            async with self.client.stream("config.watch", {}) as stream:
                self.assertEqual(await stream.__anext__(), "x")

        task = asyncio.create_task(use())
        req = await conn.expect_request("config.watch")
        await conn.stream(req["id"], "x", False)
        frame = await conn.expect_request("stream.cancel")
        await conn.reply(frame, {"ok": True})
        await asyncio.wait_for(task, 2)

    async def test_connection_drop_ends_stream_with_connection_closed(self) -> None:
        conn = await self.connect_registered()
        stream = self.client.stream("config.watch", {})
        await stream.start()
        await conn.expect_request("config.watch")
        await conn.close()
        with self.assertRaises(KernelError) as ctx:
            await asyncio.wait_for(stream.__anext__(), 2)
        self.assertEqual(ctx.exception.code, ErrorCode.CONNECTION_CLOSED)


class KernelRequestTest(PeerTestCase):
    max_frame_bytes = 4096

    async def test_handler_result_is_sent_as_response(self) -> None:
        conn = await self.connect_registered()

        async def invoke(params):
            return {"output": params["input"]["text"].upper()}

        self.client.on_request("tool.invoke", invoke)
        resp = await conn.call("tool.invoke", {"tool": "echo", "input": {"text": "hi"},
                                              "context": {}})
        self.assertTrue(resp["success"])
        self.assertEqual(resp["result"], {"output": "HI"})

    async def test_no_handler_is_method_not_found(self) -> None:
        conn = await self.connect_registered()
        resp = await conn.call("http.request", {"method": "GET", "path": "/"})
        self.assertFalse(resp["success"])
        self.assertEqual(resp["error"]["code"], "METHOD_NOT_FOUND")

    async def test_handler_errors_become_error_responses(self) -> None:
        conn = await self.connect_registered()

        def raise_kernel_error(params):
            raise KernelError(ErrorCode.NOT_FOUND, "no such thing", {"id": params.get("id")})

        def raise_value_error(params):
            raise ValueError("boom")

        self.client.on_request("gateway.invoke", raise_kernel_error)
        self.client.on_request("tool.invoke", raise_value_error)
        self.client.on_request("http.request", lambda params: {"not json": object()})
        resp = await conn.call("gateway.invoke", {"id": 4})
        self.assertEqual(resp["error"], {"code": "NOT_FOUND", "message": "no such thing",
                                         "data": {"id": 4}})
        resp = await conn.call("tool.invoke", {})
        self.assertEqual(resp["error"]["code"], "INTERNAL_ERROR")
        self.assertIn("ValueError: boom", resp["error"]["message"])
        resp = await conn.call("http.request", {})
        self.assertEqual(resp["error"]["code"], "INTERNAL_ERROR")
        # The connection is still usable after all that.
        self.client.on_request("tool.invoke", lambda params: {"output": "ok"})
        resp = await conn.call("tool.invoke", {})
        self.assertEqual(resp["result"], {"output": "ok"})

    async def test_result_over_frame_limit_is_internal_error(self) -> None:
        conn = await self.connect_registered()
        self.client.on_request("tool.invoke", lambda params: {"output": "x" * 10_000})
        resp = await conn.call("tool.invoke", {})
        self.assertEqual(resp["error"], {"code": "INTERNAL_ERROR", "message": "result too large"})

    async def test_slow_handler_does_not_block_other_frames(self) -> None:
        conn = await self.connect_registered()
        release = asyncio.Event()

        async def slow(params):
            await release.wait()
            return {"slow": True}

        self.client.on_request("tool.invoke", slow)
        slow_id = await conn.send_request("tool.invoke", {})
        task = asyncio.create_task(self.client.request("session.list", {}))
        frame = await conn.expect_request("session.list")
        await conn.reply(frame, {"total": 0})
        self.assertEqual(await task, {"total": 0})
        release.set()
        resp = await conn.expect_response(slow_id)
        self.assertEqual(resp["result"], {"slow": True})

    async def test_malformed_frames_get_invalid_request_and_connection_survives(self) -> None:
        conn = await self.connect_registered()
        await conn.send_raw(b"this is not json\n")
        resp = await conn.expect_response(None)
        self.assertEqual(resp["error"]["code"], "INVALID_REQUEST")
        self.assertIn("not JSON", resp["error"]["message"])
        await conn.send_raw(b'{"id":"x1","type":"request","timestamp":1}\n')
        resp = await conn.expect_response(None)
        self.assertEqual(resp["error"]["message"], "missing field: method")
        await conn.send_raw(b"{" + b'"a":"' + b"y" * 5000 + b'"}\n')
        resp = await conn.expect_response(None)
        self.assertEqual(resp["error"], {"code": "INVALID_REQUEST", "message": "frame too large"})
        # A broken *response* is logged, never answered (no ping-pong between peers).
        await conn.send_raw(b'{"id":"x2","type":"response","timestamp":1,"success":true}\n')
        # An error about one of our frames (requestId null) is only logged.
        await conn.send(PeerConn.frame("response", requestId=None, success=False,
                                       error={"code": "INVALID_REQUEST", "message": "?"}))
        self.client.on_request("tool.invoke", lambda params: {"output": "still here"})
        rid = await conn.send_request("tool.invoke", {})
        resp = await conn.recv()
        self.assertEqual((resp["requestId"], resp["result"]), (rid, {"output": "still here"}))

    async def test_event_handlers_get_payload_and_failures_are_isolated(self) -> None:
        conn = await self.connect_registered()
        got = asyncio.Queue()

        def broken(payload):
            raise RuntimeError("handler bug")

        self.client.on_event("hook:agent_end", broken)
        self.client.on_event("hook:agent_end", lambda payload: got.put_nowait(payload))
        await conn.event("unknown:event", {})
        await conn.event("hook:agent_end", {"eventId": "e1", "data": {"runId": "r"}})
        payload = await asyncio.wait_for(got.get(), 2)
        self.assertEqual(payload["eventId"], "e1")


class HeartbeatAndResumeTest(PeerTestCase):
    async def test_heartbeat_sent_every_interval(self) -> None:
        conn = await self.connect_registered(interval_ms=50)
        conn.auto_heartbeat = False
        start = asyncio.get_running_loop().time()
        for _ in range(3):
            frame = await conn.expect_request("app.heartbeat", timeout=2)
            await conn.reply(frame, {"ok": True, "serverTime": 0})
        elapsed = asyncio.get_running_loop().time() - start
        self.assertGreaterEqual(elapsed, 0.1)

    async def test_drop_resumes_with_token_and_fails_in_flight_requests(self) -> None:
        conn = await self.connect_registered(token="resume-me")
        resumed = asyncio.Event()
        self.client.on_reconnect(resumed.set)
        in_flight = asyncio.create_task(self.client.request("session.list", {}))
        await conn.expect_request("session.list")
        await conn.close()
        with self.assertRaises(KernelError) as ctx:
            await in_flight
        self.assertEqual(ctx.exception.code, ErrorCode.CONNECTION_CLOSED)
        # A request made during the outage waits for the resumed connection.
        waiting = asyncio.create_task(self.client.request("session.get", {"key": "a"}))
        conn2 = await self.kernel.accept()
        frame = await conn2.expect_request("app.register")
        self.assertEqual(frame["params"], {"manifest": MANIFEST, "resumeToken": "resume-me"})
        await conn2.reply(frame, {"appId": "test-app", "token": "tok-2"})
        req = await conn2.expect_request("session.get")
        await conn2.reply(req, {"session": None})
        self.assertEqual(await waiting, {"session": None})
        await asyncio.wait_for(resumed.wait(), 2)
        self.assertTrue(self.client.connected)
        self.assertEqual(self.client.registration["token"], "tok-2")
        # The next drop resumes with the new token.
        await conn2.close()
        conn3 = await self.kernel.accept()
        frame = await conn3.expect_request("app.register")
        self.assertEqual(frame["params"]["resumeToken"], "tok-2")

    async def test_resume_retries_with_backoff_while_kernel_is_away(self) -> None:
        conn = await self.connect_registered()
        await self.kernel.stop_listening()
        await conn.close()
        await asyncio.sleep(0.3)  # several refused attempts
        self.assertFalse(self.client.closed)
        await self.kernel.start()
        conn2 = await self.kernel.accept(timeout=3)
        frame = await conn2.expect_request("app.register")
        await conn2.reply(frame, {"appId": "test-app", "token": "tok-2"})
        task = asyncio.create_task(self.client.request("session.list", {}))
        await FakeKernel.grant(conn2, "session.list")
        await task
        self.assertTrue(self.client.connected)

    async def test_resume_refused_closes_client(self) -> None:
        conn = await self.connect_registered()
        await conn.close()
        conn2 = await self.kernel.accept()
        frame = await conn2.expect_request("app.register")
        await conn2.reply_error(frame, "UNAUTHORIZED", "resume window expired")
        error = await asyncio.wait_for(self.client.wait_closed(), 2)
        self.assertEqual(error.code, ErrorCode.UNAUTHORIZED)
        with self.assertRaises(KernelError):
            await self.client.request("app.heartbeat", {})

    async def test_resume_window_expiry_closes_client(self) -> None:
        self.client = self.make_client(resume_window=0.3)
        conn = await self.connect_registered()
        await self.kernel.stop_listening()
        await conn.close()
        error = await asyncio.wait_for(self.client.wait_closed(), 3)
        self.assertEqual(error.code, ErrorCode.CONNECTION_CLOSED)
        self.assertIn("resume window", error.message)

    async def test_drop_before_registration_closes_without_resume(self) -> None:
        await self.client.connect()
        conn = await self.kernel.accept()
        await conn.close()
        error = await asyncio.wait_for(self.client.wait_closed(), 2)
        self.assertEqual(error.code, ErrorCode.CONNECTION_CLOSED)
        self.assertTrue(self.kernel.conns.empty())


class EchoTestApp(App):
    """App used by the App tests: one tool, one method, one subscribe hook."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.events = []
        self.torn_down = False

    async def setup(self) -> None:
        await self.register_tool("echo", "Echo", {"type": "object"}, self.echo)
        await self.subscribe(["agent_completed"], self.events.append)
        await self.register_method("test-app.ping", lambda params: {"pong": params.get("n")})

    def echo(self, tool_input, context):
        if tool_input.get("fail"):
            raise RuntimeError("asked to fail")
        return f"{context.get('sessionKey')}:{tool_input['text']}"

    async def teardown(self) -> None:
        self.torn_down = True


class AppTest(PeerTestCase):
    async def start_app(self, app: App, capabilities=("capability.register", "hook.subscribe",
                                                      "capability.register")) -> PeerConn:
        self.serve = asyncio.create_task(app.serve())
        conn = await self.kernel.accept()
        await self.kernel.register(conn)
        self.frames = [await FakeKernel.grant(conn, m) for m in capabilities]
        await FakeKernel.grant(conn, "app.ready")
        return conn

    async def test_lifecycle_tools_methods_hooks_and_shutdown(self) -> None:
        app = EchoTestApp(dict(MANIFEST), client=self.client)
        conn = await self.start_app(app)
        tool, hooks, method = self.frames
        self.assertEqual(tool["params"], {"type": "tool", "config": {
            "name": "echo", "description": "Echo", "inputSchema": {"type": "object"}}})
        self.assertEqual(hooks["params"], {"events": ["agent_end"]})
        self.assertEqual(method["params"], {"type": "gateway_method",
                                            "config": {"method": "test-app.ping"}})

        resp = await conn.call("tool.invoke", {"tool": "echo", "input": {"text": "hi"},
                                              "context": {"sessionKey": "s1"}})
        self.assertEqual(resp["result"], {"output": "s1:hi"})
        resp = await conn.call("tool.invoke", {"tool": "echo", "input": {"fail": True},
                                              "context": {}})
        self.assertEqual(resp["result"], {"output": "RuntimeError: asked to fail",
                                          "isError": True})
        resp = await conn.call("tool.invoke", {"tool": "nope", "input": {}, "context": {}})
        self.assertEqual(resp["error"]["code"], "METHOD_NOT_FOUND")
        resp = await conn.call("gateway.invoke", {"method": "test-app.ping", "params": {"n": 3},
                                                 "client": {}})
        self.assertEqual(resp["result"], {"result": {"pong": 3}})
        resp = await conn.call("gateway.invoke", {"method": "test-app.other", "params": {}})
        self.assertEqual(resp["error"]["code"], "METHOD_NOT_FOUND")

        await conn.event("hook:agent_end", {"eventId": "e1", "hookName": "agent_end",
                                            "data": {"runId": "r1"}, "context": {}})
        await conn.event("app:shutdown", {"reason": "test over", "timeout": 2000})
        self.assertEqual(await asyncio.wait_for(self.serve, 3), 0)
        self.assertTrue(app.torn_down)
        self.assertEqual(app.shutdown_reason, "test over")
        self.assertEqual([e["eventId"] for e in app.events], ["e1"])
        await conn.expect_eof()  # subscribe-only hook: no hook.result was sent

    async def test_intercept_results(self) -> None:
        manifest = dict(MANIFEST, capabilities={"hooks": {"intercepts": ["tool_executing"]}})
        answers = {"e1": None, "e2": {"toolInput": {"x": 2}}, "e3": {"action": "block",
                                                                    "reason": "no"}}

        class Interceptor(App):
            async def setup(self) -> None:
                await self.subscribe(["before_tool_call"], self.check)

            async def check(self, payload):
                if payload["eventId"] == "e4":
                    raise RuntimeError("bug")
                return answers[payload["eventId"]]

        conn = await self.start_app(Interceptor(manifest, client=self.client),
                                    ("hook.subscribe",))
        for event_id in ("e1", "e4", "e2", "e3"):
            await conn.event("hook:before_tool_call", {"eventId": event_id,
                                                       "hookName": "before_tool_call",
                                                       "data": {"toolName": "t"}})
        results = {}
        for _ in range(3):  # e4 raised: no answer, the kernel's timeout policy decides
            frame = await conn.expect_request("hook.result")
            results[frame["params"]["eventId"]] = frame["params"]["result"]
            await conn.reply(frame, {"ok": True})
        self.assertEqual(results, {
            "e1": {"action": "continue"},
            "e2": {"action": "modify", "data": {"toolInput": {"x": 2}}},
            "e3": {"action": "block", "reason": "no"}})

    async def test_denied_capability_fails_startup(self) -> None:
        app = EchoTestApp(dict(MANIFEST), client=self.client)
        serve = asyncio.create_task(app.serve())
        conn = await self.kernel.accept()
        await self.kernel.register(conn)
        frame = await conn.expect_request("capability.register")
        await conn.reply(frame, {"granted": False, "reason": "tool echo owned by other-app"})
        self.assertEqual(await asyncio.wait_for(serve, 3), 1)
        self.assertNotIn("echo", app._tools)

    async def test_sigterm_tears_down_and_returns_0(self) -> None:
        app = EchoTestApp(dict(MANIFEST), client=self.client)
        await self.start_app(app)
        os.kill(os.getpid(), signal.SIGTERM)
        self.assertEqual(await asyncio.wait_for(self.serve, 3), 0)
        self.assertTrue(app.torn_down)
        self.assertEqual(app.shutdown_reason, "signal SIGTERM")

    async def test_connection_lost_for_good_returns_1(self) -> None:
        self.client = self.make_client(reconnect=False)
        app = EchoTestApp(dict(MANIFEST), client=self.client)
        conn = await self.start_app(app)
        await conn.close()
        self.assertEqual(await asyncio.wait_for(self.serve, 3), 1)
        self.assertTrue(app.torn_down)

    async def test_http_config_and_dispatch_helpers(self) -> None:
        class Web(App):
            async def setup(self) -> None:
                self.set_http_handler(self.http)

            def http(self, request):
                return {"status": 201, "headers": {"x": "1"},
                        "body": request["path"] + ":" + request["bodyBytes"].decode()}

        app = Web(dict(MANIFEST), client=self.client)
        conn = await self.start_app(app, ())
        resp = await conn.call("http.request", {"method": "POST", "path": "/apps/test/x",
                                               "query": "", "headers": {},
                                               "body": base64.b64encode(b"data").decode()})
        self.assertEqual(resp["result"], {"status": 201, "headers": {"x": "1"},
                                          "body": base64.b64encode(b"/apps/test/x:data").decode()})
        resp = await conn.call("http.request", {"method": "GET", "path": "/", "body": "%%"})
        self.assertEqual(resp["error"]["code"], "INVALID_PARAMS")

        task = asyncio.create_task(app.config_get("greeting"))
        frame = await conn.expect_request("config.get")
        self.assertEqual(frame["params"], {"path": "greeting"})
        await conn.reply(frame, {"value": "hello"})
        self.assertEqual(await task, "hello")

        task = asyncio.create_task(app.dispatch("irc:#x", "hi"))
        frame = await conn.expect_request("message.dispatch")
        self.assertEqual(frame["params"], {"sessionKey": "irc:#x", "content": "hi"})
        await conn.reply(frame, {"dispatchId": "d1", "queued": True})
        self.assertEqual((await task)["dispatchId"], "d1")


class DataDirTest(unittest.TestCase):
    def test_data_dir_comes_from_the_environment(self) -> None:
        app = App(dict(MANIFEST), client=KernelClient("/nonexistent"))
        with mock.patch.dict(os.environ, {"OPENCLAWOS_APP_DATA": "/home/x/apps/test-app"}):
            self.assertEqual(app.data_dir, "/home/x/apps/test-app")
        with mock.patch.dict(os.environ, {"OPENCLAWOS_APP_DATA": ""}):
            self.assertIsNone(app.data_dir)
        with mock.patch.dict(os.environ, {}, clear=True):
            self.assertIsNone(app.data_dir)

    def test_write_file_atomically_replaces_and_cleans_up(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "state.json")
            write_file_atomically(path, b"one")
            write_file_atomically(path, b"two" * 10000)
            with open(path, "rb") as f:
                self.assertEqual(f.read(), b"two" * 10000)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
            self.assertEqual(os.listdir(d), ["state.json"])  # no temporary file left
            # a failed write leaves the old content and no temporary file
            with mock.patch("os.replace", side_effect=OSError("disk full")):
                with self.assertRaises(OSError):
                    write_file_atomically(path, b"three")
            with open(path, "rb") as f:
                self.assertEqual(f.read(), b"two" * 10000)
            self.assertEqual(os.listdir(d), ["state.json"])
            with self.assertRaises(OSError):
                write_file_atomically(os.path.join(d, "missing", "x"), b"x")


class FakeChannel(ChannelApp):
    """Delivers into a list; target "down" fails like a platform outage."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sent = []
        self.setup_done = False

    async def setup(self) -> None:
        self.setup_done = True

    async def deliver(self, target, content, metadata):
        if target == "down":
            raise ConnectionError("platform unreachable")
        self.sent.append((target, content, metadata))
        return len(self.sent)


class ChannelAppTest(PeerTestCase):
    manifest = dict(MANIFEST, id="test-chat",
                    capabilities={"channels": {"provides": ["testchat"]}})

    async def start_channel(self) -> tuple:
        app = FakeChannel(dict(self.manifest), client=self.client)
        self.serve = asyncio.create_task(app.serve())
        conn = await self.kernel.accept()
        await self.kernel.register(conn, app_id="test-chat")
        frame = await FakeKernel.grant(conn, "capability.register")
        self.assertTrue(app.setup_done)  # the channel is registered after setup
        self.assertEqual(frame["params"], {"type": "channel", "config": {"id": "testchat"}})
        await FakeKernel.grant(conn, "app.ready")
        return app, conn

    def sending(self, event_id: str, target: str, channel: str = "testchat",
                delivery_id: str = "") -> dict:
        metadata = {"replyTo": "m0"}
        if delivery_id:
            metadata["deliveryId"] = delivery_id
        return {"eventId": event_id, "hookName": "message_sending", "context": {},
                "delivery": True,
                "data": {"channelId": channel, "target": target, "content": "hello",
                         "metadata": metadata}}

    async def test_repeated_delivery_is_acknowledged_once_sent(self) -> None:
        app, conn = await self.start_channel()
        for event_id in ("e5", "e6"):
            await conn.event("hook:message_sending", self.sending(event_id, "#room", delivery_id="7"))
            frame = await conn.expect_request("hook.result")
            self.assertEqual(frame["params"], {"eventId": event_id,
                                               "result": {"delivered": True, "messageId": "1"}})
            await conn.reply(frame, {"ok": True})
        self.assertEqual(len(app.sent), 1)

    async def test_interceptor_event_is_not_a_delivery(self) -> None:
        app, conn = await self.start_channel()
        event = self.sending("e7", "#room")
        del event["delivery"]
        await conn.event("hook:message_sending", event)
        await conn.event("hook:message_sending", self.sending("e8", "#room"))
        frame = await conn.expect_request("hook.result")
        self.assertEqual(frame["params"]["eventId"], "e8")
        self.assertEqual(len(app.sent), 1)

    async def test_delivery_is_acknowledged_with_message_id(self) -> None:
        app, conn = await self.start_channel()
        await conn.event("hook:message_sending", self.sending("e1", "#room"))
        frame = await conn.expect_request("hook.result")
        self.assertEqual(frame["params"], {"eventId": "e1", "result": {"delivered": True,
                                                                       "messageId": "1"}})
        await conn.reply(frame, {"ok": True})
        self.assertEqual(app.sent, [("#room", "hello", {"replyTo": "m0"})])

    async def test_failed_delivery_reports_error(self) -> None:
        app, conn = await self.start_channel()
        await conn.event("hook:message_sending", self.sending("e2", "down"))
        frame = await conn.expect_request("hook.result")
        self.assertEqual(frame["params"]["result"], {
            "delivered": False, "error": "ConnectionError: platform unreachable"})

    async def test_other_channel_is_not_delivered(self) -> None:
        app, conn = await self.start_channel()
        await conn.event("hook:message_sending", self.sending("e3", "#room", channel="irc"))
        await conn.event("hook:message_sending", self.sending("e4", "#room"))
        frame = await conn.expect_request("hook.result")
        self.assertEqual(frame["params"]["eventId"], "e4")
        self.assertEqual(len(app.sent), 1)

    async def test_inbound_queues_for_the_agent(self) -> None:
        app, conn = await self.start_channel()
        task = asyncio.create_task(app.inbound("c42", "hi there", chatType="direct",
                                               **{"from": "alice"}))
        frame = await conn.expect_request("agent.queue")
        self.assertEqual(frame["params"], {"sessionKey": "testchat:c42", "text": "hi there",
                                           "metadata": {"channelId": "testchat",
                                                        "chatType": "direct", "from": "alice"}})
        await conn.reply(frame, {"runId": "r1", "queued": True})
        self.assertEqual(await task, {"runId": "r1", "queued": True})

    def test_channel_id_is_required(self) -> None:
        with self.assertRaises(ValueError):
            FakeChannel(dict(MANIFEST), client=self.client)


if __name__ == "__main__":
    unittest.main()
