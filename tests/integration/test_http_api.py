"""The gateway's HTTP API end to end (SPEC §11, docs/HTTP-API.md): the OpenAI-compatible
/v1/chat/completions and /v1/models driven by the official `openai` npm client and by raw HTTP, and
the /hooks/agent and /hooks/wake webhooks. A real kernel backed by the test LLM server; the
test-channel app receives webhook replies that are delivered to a channel."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import time
import unittest

from harness import SOURCE, wait_for
from test_pipeline import PipelineTest

TOKEN = "gw-secret-token"
HOOK_TOKEN = "hook-secret-token"
JS = os.path.join(SOURCE, "tests", "js")
NODE = shutil.which("node")


def request(port, method, path, body=None, headers=None, raw=None, timeout=30):
    """One HTTP request on its own connection → (status, headers with lower-case names, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"Content-Type": "application/json"} if data is not None else {}
    h.update(headers or {})
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    payload = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, payload


def sse_events(body):
    """Splits an SSE body that must consist of `data: ...\\n\\n` events only; returns the payloads."""
    text = body.decode()
    assert text.endswith("\n\n"), repr(text[-40:])
    events = text[:-2].split("\n\n")
    for e in events:
        assert e.startswith("data: ") and "\n" not in e, repr(e)
    return [e[len("data: "):] for e in events]


class HttpApiTest(PipelineTest):
    def api_config(self, webhooks=True, **extra):
        gateway = {"auth": {"token": TOKEN}, "rateLimit": {"enabled": False}}
        if webhooks:
            gateway["webhooks"] = {"token": HOOK_TOKEN}
        return self.config(gateway=gateway, **extra)

    def chat(self, k, body, headers=None, token=TOKEN, raw=None):
        h = {"Authorization": f"Bearer {token}"} if token else {}
        h.update(headers or {})
        status, hdrs, payload = request(k.port, "POST", "/v1/chat/completions", body, h, raw)
        return status, hdrs, payload

    def chat_ok(self, k, body, headers=None):
        status, _, payload = self.chat(k, body, headers)
        self.assertEqual(status, 200, payload)
        return json.loads(payload)

    def hook(self, k, path, body, token=HOOK_TOKEN, header="bearer"):
        h = {}
        if token is not None:
            h = {"Authorization": f"Bearer {token}"} if header == "bearer" else {"X-OpenClaw-Token": token}
        status, hdrs, payload = request(k.port, "POST", path, body, h)
        return status, json.loads(payload) if payload else None

    def assistant_replies(self, k, key):
        try:
            msgs = self.history(k, key)
        except RuntimeError:
            return []
        return [m["content"] for m in msgs if m["role"] == "assistant"]


class OpenAiClientTest(HttpApiTest):
    # scripts/test.sh installs the client and sets OPENCLAW_REQUIRE_JS_CLIENTS: there a missing
    # client fails instead of skipping.
    @unittest.skipUnless(os.environ.get("OPENCLAW_REQUIRE_JS_CLIENTS") or
                         (NODE and os.path.isdir(os.path.join(JS, "node_modules", "openai"))),
                         "node or tests/js/node_modules/openai missing (scripts/install-deps.sh)")
    def test_official_openai_client_completes_and_streams(self):
        k = self.start(self.api_config(), apps=())
        self.llm.script({"match": "stream this", "content": "Streaming works fine, one piece at a time.", "chunkChars": 4,
                         "usage": {"prompt_tokens": 21, "completion_tokens": 9}})
        run = subprocess.run([NODE, os.path.join(JS, "openai_client.mjs"), f"http://127.0.0.1:{k.port}/v1", TOKEN,
                              "openclaw", "say hi", "stream this please"], capture_output=True, text=True, timeout=60)
        out = json.loads(run.stdout.strip().splitlines()[-1])
        self.assertNotIn("error", out, run.stderr)
        self.assertIn("openclaw", out["models"])
        self.assertIn("openclaw:default", out["models"])
        self.assertEqual(out["complete"]["text"], "echo: say hi")
        self.assertEqual(out["complete"]["role"], "assistant")
        self.assertEqual(out["complete"]["finishReason"], "stop")
        self.assertTrue(out["complete"]["id"].startswith("chatcmpl-"))
        self.assertEqual(out["stream"]["text"], "Streaming works fine, one piece at a time.")
        self.assertGreater(out["stream"]["deltas"], 1)
        self.assertEqual(out["stream"]["finishReason"], "stop")
        self.assertEqual(out["stream"]["usage"], {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30})
        self.assertEqual(len(out["stream"]["ids"]), 1)
        # a wrong key is an AuthenticationError in the client
        run = subprocess.run([NODE, os.path.join(JS, "openai_client.mjs"), f"http://127.0.0.1:{k.port}/v1", "wrong",
                              "openclaw", "a", "b"], capture_output=True, text=True, timeout=60)
        err = json.loads(run.stdout.strip().splitlines()[-1])["error"]
        self.assertEqual(err["status"], 401)
        self.assertEqual(err["code"], "invalid_api_key")


class ChatCompletionsTest(HttpApiTest):
    def test_answer_shape_usage_and_history(self):
        k = self.start(self.api_config(), apps=())
        self.llm.script({"match": "count me", "content": "Counted.", "usage": {"prompt_tokens": 11, "completion_tokens": 7}})
        before = int(time.time())
        r = self.chat_ok(k, {"model": "openclaw", "user": "ada", "messages": [{"role": "user", "content": "count me"}]})
        self.assertRegex(r["id"], r"^chatcmpl-\d+$")
        self.assertEqual(r["object"], "chat.completion")
        self.assertEqual(r["model"], "openclaw")
        self.assertGreaterEqual(r["created"], before - 1)
        self.assertEqual(r["choices"], [{"index": 0, "message": {"role": "assistant", "content": "Counted."},
                                         "finish_reason": "stop"}])
        self.assertEqual(r["usage"], {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18})
        # `user` selects the session agent:default:openai:ada: the next turn continues it, and only
        # the last user message becomes the turn (the kernel keeps the history)
        r2 = self.chat_ok(k, {"model": "openclaw", "user": "ada", "messages": [
            {"role": "user", "content": "count me"}, {"role": "assistant", "content": "Counted."},
            {"role": "user", "content": "and again"}]})
        self.assertEqual(r2["choices"][0]["message"]["content"], "echo: and again")
        msgs = self.history(k, "agent:default:openai:ada")
        self.assertEqual([(m["role"], m["content"]) for m in msgs],
                         [("user", "count me"), ("assistant", "Counted."), ("user", "and again"),
                          ("assistant", "echo: and again")])
        sent = self.llm.requests()[-1]["messages"]
        self.assertEqual([m["content"] for m in sent if m["role"] == "user"], ["count me", "and again"])

    def test_fresh_session_gets_a_transcript_and_headers_select_agent_and_session(self):
        cfg = self.api_config(agents={"default": {"model": "test/gpt-test"}, "coder": {"model": "test/gpt-coder"}})
        k = self.start(cfg, apps=())
        r = self.chat_ok(k, {"model": "openclaw:coder", "messages": [
            {"role": "system", "content": "Answer in French."}, {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "bonjour"}, {"role": "user", "content": [{"type": "text", "text": "and bye?"}]}]})
        turn = r["choices"][0]["message"]["content"]
        self.assertEqual(turn, "echo: [Conversation so far]\nSystem: Answer in French.\nUser: hello\n"
                               "Assistant: bonjour\n[End of conversation so far]\n\nand bye?")
        self.assertEqual(self.llm.requests()[-1]["model"], "gpt-coder")
        fresh = [s["key"] for s in k.control().call("sessions.list", {"agentId": "coder"})["sessions"]]
        self.assertEqual(len(fresh), 1)
        self.assertRegex(fresh[0], r"^agent:coder:openai:[0-9a-f]{32}$")
        # x-openclaw-agent-id and x-openclaw-session-key
        self.chat_ok(k, {"model": "openclaw", "messages": [{"role": "user", "content": "via header"}]},
                     {"X-OpenClaw-Agent-Id": "coder", "X-OpenClaw-Session-Key": "agent:coder:custom"})
        self.assertEqual(self.assistant_replies(k, "agent:coder:custom"), ["echo: via header"])
        self.assertEqual(self.llm.requests()[-1]["model"], "gpt-coder")
        status, _, payload = self.chat(k, {"model": "openclaw:coder", "messages": [{"role": "user", "content": "x"}]},
                                       {"X-OpenClaw-Session-Key": "agent:default:main"})
        self.assertEqual(status, 400, payload)
        self.assertEqual(json.loads(payload)["error"]["param"], "x-openclaw-session-key")

    def test_models_lists_every_agent(self):
        cfg = self.api_config(agents={"default": {"model": "test/gpt-test"}, "coder": {"model": "test/gpt-test"},
                                      "maxConcurrent": 8})
        k = self.start(cfg, apps=())
        status, _, payload = request(k.port, "GET", "/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
        self.assertEqual(status, 200, payload)
        body = json.loads(payload)
        self.assertEqual(body["object"], "list")
        self.assertEqual([m["id"] for m in body["data"]], ["openclaw", "openclaw:default", "openclaw:coder"])
        for m in body["data"]:
            self.assertEqual((m["object"], m["owned_by"]), ("model", "openclaw"))
            self.assertIsInstance(m["created"], int)
        status, hdrs, payload = request(k.port, "GET", "/v1/models")
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(payload)["error"]["code"], "invalid_api_key")
        status, hdrs, _ = request(k.port, "POST", "/v1/models", {}, {"Authorization": f"Bearer {TOKEN}"})
        self.assertEqual((status, hdrs.get("allow")), (405, "GET"))

    def test_errors_come_in_openai_shape(self):
        k = self.start(self.api_config(), apps=())
        body = {"model": "openclaw", "messages": [{"role": "user", "content": "hi"}]}

        def error_of(status, payload, expect_status):
            self.assertEqual(status, expect_status, payload)
            e = json.loads(payload)["error"]
            self.assertEqual(set(e), {"message", "type", "param", "code"})
            self.assertTrue(e["message"])
            return e

        for token in (None, "wrong-token"):
            status, hdrs, payload = self.chat(k, body, token=token)
            e = error_of(status, payload, 401)
            self.assertEqual((e["type"], e["code"]), ("invalid_request_error", "invalid_api_key"))
            self.assertEqual(hdrs.get("www-authenticate"), "Bearer")
        e = error_of(*self.chat(k, {**body, "model": "gpt-4o"})[::2], 404)
        self.assertEqual((e["type"], e["code"], e["param"]), ("invalid_request_error", "model_not_found", "model"))
        e = error_of(*self.chat(k, {**body, "model": "openclaw:nobody"})[::2], 404)
        self.assertEqual(e["code"], "model_not_found")
        e = error_of(*self.chat(k, {**body, "model": "openclaw"}, {"X-OpenClaw-Agent-Id": "nobody"})[::2], 404)
        self.assertEqual(e["code"], "model_not_found")
        for bad, param in ((b'{"model": "openclaw", "messages": [', None),
                           (json.dumps({"model": "openclaw"}).encode(), "messages"),
                           (json.dumps({"model": "openclaw", "messages": []}).encode(), "messages"),
                           (json.dumps({"messages": [{"role": "system", "content": "only system"}]}).encode(), "messages"),
                           (json.dumps({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}).encode(),
                            "messages[0].content[0]")):
            e = error_of(*self.chat(k, None, raw=bad)[::2], 400)
            self.assertEqual((e["type"], e["param"]), ("invalid_request_error", param), bad)
        status, hdrs, payload = request(k.port, "GET", "/v1/chat/completions", headers={"Authorization": f"Bearer {TOKEN}"})
        self.assertEqual((status, hdrs.get("allow")), (405, "POST"))
        # a run that fails answers 502 api_error with the run's error
        self.llm.script({"match": "please fail", "status": 400, "error": {"message": "upstream refused the request"}})
        e = error_of(*self.chat(k, {**body, "messages": [{"role": "user", "content": "please fail"}]})[::2], 502)
        self.assertEqual(e["type"], "api_error")
        self.assertIn("upstream refused the request", e["message"])
        # nothing above broke the kernel
        self.assertEqual(self.chat_ok(k, body)["choices"][0]["message"]["content"], "echo: hi")

    def test_idempotent_retry_runs_once(self):
        k = self.start(self.api_config(), apps=())
        body = {"model": "openclaw", "messages": [{"role": "user", "content": "charge my card"}]}
        headers = {"Idempotency-Key": "order-42", "X-OpenClaw-Session-Key": "agent:default:orders"}
        first = self.chat_ok(k, body, headers)
        calls = self.llm.stats()["requests"]
        again = self.chat_ok(k, body, headers)
        self.assertEqual(again["id"], first["id"])
        self.assertEqual(again["choices"], first["choices"])
        self.assertEqual(self.llm.stats()["requests"], calls)  # the model was not called again
        runs = k.control().call("sessions.get", {"key": "agent:default:orders"})["runs"]
        self.assertEqual(len(runs), 1)
        # a streamed retry of the same key replays the stored answer
        status, _, payload = self.chat(k, {**body, "stream": True}, headers)
        self.assertEqual(status, 200)
        events = [json.loads(e) for e in sse_events(payload)[:-1]]
        self.assertEqual("".join(e["choices"][0]["delta"].get("content", "") for e in events), "echo: charge my card")
        self.assertEqual({e["id"] for e in events}, {first["id"]})
        self.assertEqual(self.llm.stats()["requests"], calls)


class StreamingTest(HttpApiTest):
    def test_sse_framing_deltas_usage_and_done(self):
        k = self.start(self.api_config(), apps=())
        self.llm.script({"match": "tell me", "content": "One two three four five six.", "chunkChars": 5,
                         "usage": {"prompt_tokens": 30, "completion_tokens": 6}})
        status, hdrs, payload = self.chat(k, {"model": "openclaw", "stream": True,
                                              "stream_options": {"include_usage": True},
                                              "messages": [{"role": "user", "content": "tell me"}]})
        self.assertEqual(status, 200, payload)
        self.assertTrue(hdrs["content-type"].startswith("text/event-stream"), hdrs)
        self.assertEqual(hdrs.get("transfer-encoding"), "chunked")
        events = sse_events(payload)
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual({c["object"] for c in chunks}, {"chat.completion.chunk"})
        self.assertEqual(len({c["id"] for c in chunks}), 1)
        self.assertRegex(chunks[0]["id"], r"^chatcmpl-\d+$")
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        content = [c["choices"][0]["delta"]["content"] for c in chunks[1:] if c["choices"]
                   and c["choices"][0]["delta"].get("content")]
        self.assertEqual("".join(content), "One two three four five six.")
        self.assertGreater(len(content), 1)
        finish, usage = chunks[-2], chunks[-1]
        self.assertEqual(finish["choices"], [{"index": 0, "delta": {}, "finish_reason": "stop"}])
        self.assertEqual(usage["choices"], [])
        self.assertEqual(usage["usage"], {"prompt_tokens": 30, "completion_tokens": 6, "total_tokens": 36})
        for c in chunks[:-2]:
            self.assertIsNone(c["choices"][0]["finish_reason"])
        # without include_usage: no usage chunk
        status, _, payload = self.chat(k, {"model": "openclaw", "stream": True,
                                           "messages": [{"role": "user", "content": "short"}]})
        chunks = [json.loads(e) for e in sse_events(payload)[:-1]]
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "stop")
        self.assertFalse([c for c in chunks if "usage" in c])

    def test_a_failed_run_ends_the_stream_with_an_error_event(self):
        k = self.start(self.api_config(), apps=())
        self.llm.script({"match": "stream fail", "status": 400, "error": {"message": "no such thing"}})
        status, _, payload = self.chat(k, {"model": "openclaw", "stream": True,
                                           "messages": [{"role": "user", "content": "stream fail"}]})
        self.assertEqual(status, 200)
        events = sse_events(payload)
        self.assertEqual(events[-1], "[DONE]")
        err = json.loads(events[-2])["error"]
        self.assertEqual(err["type"], "api_error")
        self.assertIn("no such thing", err["message"])

    def test_client_leaving_mid_stream_does_not_break_the_kernel(self):
        k = self.start(self.api_config(), apps=())
        story = "".join(f"part{i:02d} " for i in range(40))
        self.llm.script({"match": "long story", "content": story, "chunkChars": 7, "chunkDelayMs": 40})
        body = json.dumps({"model": "openclaw", "stream": True,
                           "messages": [{"role": "user", "content": "long story"}]}).encode()
        s = socket.create_connection(("127.0.0.1", k.port), timeout=10)
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + TOKEN.encode() + b"\r\nX-OpenClaw-Session-Key: agent:default:leaver\r\n"
                  b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        got = b""
        while b"part00" not in got:
            chunk = s.recv(4096)
            self.assertTrue(chunk, got)
            got += chunk
        s.close()  # mid-stream: the rest of the story is still being generated
        self.assertIn(b"200 OK", got.split(b"\r\n")[0])
        # the kernel keeps serving, and the run finished into the history
        self.assertEqual(self.chat_ok(k, {"messages": [{"role": "user", "content": "still there?"}]})
                         ["choices"][0]["message"]["content"], "echo: still there?")
        replies = wait_for(lambda: self.assistant_replies(k, "agent:default:leaver"), 20, what="the story in history")
        self.assertEqual(replies, [story])
        self.assertEqual(k.control().call("sessions.get", {"key": "agent:default:leaver"})["runs"][0]["status"], "done")
        self.assertIsNone(k.proc.poll())


class WebhookTest(HttpApiTest):
    def test_routes_are_off_without_a_token(self):
        k = self.start(self.api_config(webhooks=False), apps=())
        for path in ("/hooks/agent", "/hooks/wake"):
            status, body = self.hook(k, path, {"message": "x", "text": "x"})
            self.assertEqual(status, 404, body)

    def test_token_is_required(self):
        k = self.start(self.api_config(), apps=())
        calls = self.llm.stats()["requests"]
        for token, header in ((None, "bearer"), ("wrong", "bearer"), ("wrong", "x"), (TOKEN, "bearer")):
            status, body = self.hook(k, "/hooks/agent", {"message": "hi"}, token=token, header=header)
            self.assertEqual(status, 401, (token, header))
            self.assertEqual(body["ok"], False)
            self.assertTrue(body["error"])
        status, hdrs, _ = request(k.port, "GET", "/hooks/agent", headers={"X-OpenClaw-Token": HOOK_TOKEN})
        self.assertEqual((status, hdrs.get("allow")), (405, "POST"))
        status, body = self.hook(k, "/hooks/agent", {"mesage": "typo"})
        self.assertEqual(status, 400)
        self.assertIn("mesage", body["error"])
        status, body = self.hook(k, "/hooks/agent", {"message": "x", "agentId": "nobody"})
        self.assertEqual(status, 400)
        time.sleep(0.3)
        self.assertEqual(self.llm.stats()["requests"], calls)  # nothing ran

    def test_agent_hook_runs_and_answers_at_once(self):
        k = self.start(self.api_config(), apps=())
        self.llm.script({"match": "deploy", "content": "Noted the deploy.", "delayMs": 2000})
        t0 = time.monotonic()
        status, body = self.hook(k, "/hooks/agent", {"message": "deploy 1.2 finished", "name": "ci"})
        self.assertLess(time.monotonic() - t0, 1.5)  # 202 before the model answered
        self.assertEqual(status, 202, body)
        self.assertEqual(body["ok"], True)
        self.assertEqual(body["sessionKey"], "agent:default:hook:ci")
        self.assertRegex(body["runId"], r"^\d+$")
        wait_for(lambda: self.assistant_replies(k, "agent:default:hook:ci"), 15, what="the hook run")
        msgs = self.history(k, "agent:default:hook:ci")
        self.assertEqual([(m["role"], m["content"]) for m in msgs],
                         [("user", "deploy 1.2 finished"), ("assistant", "Noted the deploy.")])
        # X-OpenClaw-Token works too; the default name is "webhook"; an idempotencyKey runs once
        for _ in range(2):
            status, body = self.hook(k, "/hooks/agent", {"message": "once", "idempotencyKey": "evt-1"}, header="x")
            self.assertEqual((status, body["sessionKey"]), (202, "agent:default:hook:webhook"))
        wait_for(lambda: self.assistant_replies(k, "agent:default:hook:webhook"), 15, what="the second hook run")
        time.sleep(0.3)
        self.assertEqual(self.assistant_replies(k, "agent:default:hook:webhook"), ["echo: once"])

    def test_wake_queues_an_external_event_in_the_main_session(self):
        k = self.start(self.api_config(), apps=())
        status, body = self.hook(k, "/hooks/wake", {"text": "new mail from Bob", "mode": "now"})
        self.assertEqual((status, body["sessionKey"]), (202, "agent:default:main"), body)
        wait_for(lambda: self.assistant_replies(k, "agent:default:main"), 15, what="the wake run")
        msgs = self.history(k, "agent:default:main")
        self.assertEqual(msgs[0]["content"], "[wake] new mail from Bob")
        self.assertEqual(msgs[1]["content"], "echo: [wake] new mail from Bob")
        status, body = self.hook(k, "/hooks/wake", {"text": "x", "mode": "next-heartbeat"})
        self.assertEqual(status, 400)

    def test_reply_is_delivered_to_a_channel(self):
        k = self.start(self.api_config())  # with the test-channel app (channel "alpha")
        status, body = self.hook(k, "/hooks/agent", {"message": "build is green", "name": "ci",
                                                     "deliver": {"channel": "alpha", "to": "dm-ops"}})
        self.assertEqual(status, 202, body)
        d = self.wait_delivery("echo: build is green")[0]
        self.assertEqual(d["target"], "dm-ops")
        self.assertEqual(d["metadata"]["sessionKey"], "agent:default:hook:ci")
        status, body = self.hook(k, "/hooks/agent", {"message": "x", "deliver": {"channel": "alpha"}})
        self.assertEqual(status, 400)


if __name__ == "__main__":
    unittest.main()
