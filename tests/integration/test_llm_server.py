"""The scripted test LLM server (`oc-test-llm`): OpenAI chat-completions wire format, scripting,
recording, failure injection. Driven over real HTTP with the standard library only."""
import http.client
import json
import signal
import socket
import subprocess
import threading
import time
import unittest

from llm_server import LlmServer, binary_path

CHAT = "/v1/chat/completions"


def chat_body(text="hi", stream=False, include_usage=None, messages=None, model="test-model"):
    body = {"model": model, "messages": messages or [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    if include_usage is not None:
        body["stream_options"] = {"include_usage": include_usage}
    return body


def parse_sse(raw: bytes):
    """Splits an event stream into the data of each event (strings)."""
    text = raw.decode()
    events = []
    for block in text.split("\n\n"):
        if not block:
            continue
        lines = [line[len("data: "):] for line in block.split("\n") if line.startswith("data: ")]
        events.append("\n".join(lines))
    return events


def read_chunked(sock):
    """Reads one chunked HTTP response from a raw socket: (status line, headers, [chunk bytes])."""
    f = sock.makefile("rb")
    status = f.readline().decode().strip()
    headers = {}
    while True:
        line = f.readline().decode().strip()
        if not line:
            break
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    chunks = []
    while True:
        size = int(f.readline().strip(), 16)
        if size == 0:
            f.readline()
            break
        chunks.append(f.read(size))
        f.readline()
    return status, headers, chunks


class LlmServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.llm = LlmServer.start()

    @classmethod
    def tearDownClass(cls):
        cls.llm.stop()

    def setUp(self):
        self.llm.reset()

    def conn(self, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.llm.port, timeout=timeout)
        self.addCleanup(c.close)
        return c

    def post(self, body, path=CHAT, headers=None, conn=None, raw=None):
        c = conn or self.conn()
        data = raw if raw is not None else json.dumps(body).encode()
        c.request("POST", path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()

    def stream(self, body, conn=None):
        status, headers, raw = self.post(body, conn=conn)
        self.assertEqual(status, 200, raw)
        self.assertEqual(headers["content-type"], "text/event-stream")
        events = parse_sse(raw)
        self.assertEqual(events[-1], "[DONE]")
        return [json.loads(e) for e in events[:-1]]

    def completion(self, text="hi", **kw):
        status, _, raw = self.post(chat_body(text, **kw))
        self.assertEqual(status, 200, raw)
        return json.loads(raw)

    # ---- answer shapes --------------------------------------------------------------------------

    def test_non_stream_answer_shape(self):
        status, headers, raw = self.post(chat_body("hello there"))
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/json")
        c = json.loads(raw)
        self.assertEqual(c["object"], "chat.completion")
        self.assertTrue(c["id"].startswith("chatcmpl-"))
        self.assertIsInstance(c["created"], int)
        self.assertEqual(c["model"], "test-model")
        self.assertIn("system_fingerprint", c)
        self.assertEqual(len(c["choices"]), 1)
        choice = c["choices"][0]
        self.assertEqual(choice["index"], 0)
        self.assertIsNone(choice["logprobs"])
        self.assertEqual(choice["finish_reason"], "stop")
        self.assertEqual(choice["message"]["role"], "assistant")
        self.assertEqual(choice["message"]["content"], "echo: hello there")
        self.assertNotIn("tool_calls", choice["message"])
        u = c["usage"]
        self.assertEqual(u["prompt_tokens"], 3)  # ceil(11 chars / 4)
        self.assertEqual(u["completion_tokens"], 5)  # ceil(17 / 4)
        self.assertEqual(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"])

    def test_default_answer_echoes_last_message(self):
        tool_turn = [{"role": "user", "content": "q"},
                     {"role": "assistant", "content": None,
                      "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                     {"role": "tool", "tool_call_id": "call_9", "content": "42"}]
        c = self.completion(messages=tool_turn)
        self.assertEqual(c["choices"][0]["message"]["content"], "tool result: 42")
        parts = [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]
        self.assertEqual(self.completion(messages=parts)["choices"][0]["message"]["content"], "echo: ab")

    def test_stream_framing(self):
        self.llm.script({"content": "abcdefghijklmnopqrst", "chunkChars": 8})
        s = socket.create_connection(("127.0.0.1", self.llm.port), timeout=10)
        self.addCleanup(s.close)
        body = json.dumps(chat_body("x", stream=True)).encode()
        s.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status, headers, chunks = read_chunked(s)
        self.assertIn(" 200 ", status)
        self.assertEqual(headers["transfer-encoding"], "chunked")
        self.assertEqual(headers["content-type"], "text/event-stream")
        # one SSE event per HTTP chunk
        for chunk in chunks:
            self.assertTrue(chunk.startswith(b"data: ") and chunk.endswith(b"\n\n"), chunk)
            self.assertEqual(chunk.count(b"\n\n"), 1)
        events = [c[len(b"data: "):-2].decode() for c in chunks]
        self.assertEqual(events[-1], "[DONE]")
        objs = [json.loads(e) for e in events[:-1]]
        self.assertEqual(len({o["id"] for o in objs}), 1)
        for o in objs:
            self.assertEqual(o["object"], "chat.completion.chunk")
            self.assertEqual(o["model"], "test-model")
            self.assertNotIn("usage", o)  # not requested
            self.assertEqual(len(o["choices"]), 1)
            self.assertIsNone(o["choices"][0]["logprobs"])
        self.assertEqual(objs[0]["choices"][0]["delta"], {"role": "assistant", "content": ""})
        pieces = [o["choices"][0]["delta"]["content"] for o in objs[1:-1]]
        self.assertEqual(pieces, ["abcdefgh", "ijklmnop", "qrst"])
        self.assertTrue(all(o["choices"][0]["finish_reason"] is None for o in objs[:-1]))
        self.assertEqual(objs[-1]["choices"][0], {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"})
        # keep-alive: the same socket serves the next request
        s.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        status, _, chunks = read_chunked(s)
        self.assertIn(" 200 ", status)
        self.assertEqual(chunks[-1], b"data: [DONE]\n\n")

    def test_stream_usage_chunk_only_when_requested(self):
        objs = self.stream(chat_body("count me", stream=True, include_usage=True))
        usage_chunk = objs[-1]
        self.assertEqual(usage_chunk["choices"], [])
        self.assertEqual(usage_chunk["usage"], {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6})
        for o in objs[:-1]:
            self.assertIn("usage", o)
            self.assertIsNone(o["usage"])
        self.assertEqual(objs[-2]["choices"][0]["finish_reason"], "stop")
        for flag in (False, None):
            objs = self.stream(chat_body("count me", stream=True, include_usage=flag))
            self.assertTrue(all(o["choices"] for o in objs))
            self.assertTrue(all("usage" not in o for o in objs))

    def test_stream_splits_utf8_by_character(self):
        self.llm.script({"content": "héllo→wörld", "chunkChars": 3})
        objs = self.stream(chat_body(stream=True))
        pieces = [o["choices"][0]["delta"]["content"] for o in objs[1:-1]]
        self.assertEqual(pieces, ["hél", "lo→", "wör", "ld"])

    # ---- tool calls -----------------------------------------------------------------------------

    def test_tool_calls_not_streamed(self):
        self.llm.script({"toolCalls": [{"name": "get_weather", "arguments": {"city": "Oslo"}},
                                       {"id": "call_mine", "name": "noop", "arguments": "{}"}]})
        c = self.completion("weather?")
        choice = c["choices"][0]
        self.assertEqual(choice["finish_reason"], "tool_calls")
        msg = choice["message"]
        self.assertIsNone(msg["content"])
        calls = msg["tool_calls"]
        self.assertEqual(len(calls), 2)
        self.assertRegex(calls[0]["id"], r"^call_\d+$")
        self.assertEqual(calls[0]["type"], "function")
        self.assertEqual(calls[0]["function"]["name"], "get_weather")
        self.assertEqual(json.loads(calls[0]["function"]["arguments"]), {"city": "Oslo"})
        self.assertEqual(calls[1]["id"], "call_mine")
        self.assertEqual(calls[1]["function"], {"name": "noop", "arguments": "{}"})

    def test_tool_calls_streamed(self):
        args = json.dumps({"query": "a fairly long argument string", "n": 3})
        self.llm.script({"content": "Let me check.", "chunkChars": 5,
                         "toolCalls": [{"id": "call_a", "name": "search", "arguments": args},
                                       {"id": "call_b", "name": "clock"}]})
        objs = self.stream(chat_body(stream=True, include_usage=True))
        self.assertEqual(objs[0]["choices"][0]["delta"]["role"], "assistant")
        text = "".join(o["choices"][0]["delta"].get("content", "") for o in objs if o["choices"])
        self.assertEqual(text, "Let me check.")
        calls = {}
        for o in objs:
            if not o["choices"]:
                continue
            for d in o["choices"][0]["delta"].get("tool_calls", []):
                if d["index"] not in calls:
                    # id, type and name come in the first piece of each call
                    self.assertEqual(d["type"], "function")
                    calls[d["index"]] = {"id": d["id"], "name": d["function"]["name"],
                                         "arguments": d["function"]["arguments"], "pieces": 0}
                else:
                    self.assertNotIn("id", d)
                    self.assertNotIn("name", d["function"])
                    calls[d["index"]]["arguments"] += d["function"]["arguments"]
                    calls[d["index"]]["pieces"] += 1
        self.assertEqual(calls[0]["id"], "call_a")
        self.assertEqual(calls[0]["name"], "search")
        self.assertEqual(calls[0]["arguments"], args)
        self.assertEqual(calls[0]["pieces"], -(-len(args) // 5))
        self.assertEqual((calls[1]["name"], calls[1]["arguments"]), ("clock", "{}"))
        self.assertEqual(objs[-2]["choices"][0]["finish_reason"], "tool_calls")
        self.assertEqual(objs[-1]["choices"], [])

    # ---- scripting --------------------------------------------------------------------------------

    def test_match_selection_and_fifo(self):
        queued = self.llm.script({"match": "weather", "content": "W"}, {"content": "first"}, {"content": "second"})
        self.assertEqual(queued, 3)
        answer = lambda text: self.completion(text)["choices"][0]["message"]["content"]
        self.assertEqual(answer("hello"), "first")  # the matching step is skipped, the next fits
        self.assertEqual(answer("what's the weather like"), "W")
        self.assertEqual(answer("hello"), "second")
        self.assertEqual(answer("hello"), "echo: hello")  # queue empty: default
        self.assertEqual(self.llm.stats()["pending"], 0)

    def test_match_uses_last_user_message(self):
        self.llm.script({"match": "alpha", "content": "matched"})
        messages = [{"role": "system", "content": "alpha in the system prompt"},
                    {"role": "user", "content": "beta"}]
        self.assertEqual(self.completion(messages=messages)["choices"][0]["message"]["content"], "echo: beta")
        messages = [{"role": "user", "content": "alpha"}, {"role": "assistant", "content": "ok"},
                    {"role": "tool", "tool_call_id": "c", "content": "x"}]
        self.assertEqual(self.completion(messages=messages)["choices"][0]["message"]["content"], "matched")

    def test_overrides(self):
        self.llm.script({"content": "x", "model": "other-model", "finishReason": "length",
                         "usage": {"prompt_tokens": 100, "completion_tokens": 7},
                         "headers": {"X-Request-Id": "req-1", "Content-Type": "application/json; charset=utf-8"}})
        status, headers, raw = self.post(chat_body())
        c = json.loads(raw)
        self.assertEqual(c["model"], "other-model")
        self.assertEqual(c["choices"][0]["finish_reason"], "length")
        self.assertEqual(c["usage"], {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107})
        self.assertEqual(headers["x-request-id"], "req-1")
        self.assertEqual(headers["content-type"], "application/json; charset=utf-8")

    def test_error_429_with_retry_after(self):
        rate_limited = {"status": 429, "retryAfter": "2", "error": {"message": "Rate limit reached"}}
        expected = {"error": {"message": "Rate limit reached", "type": "rate_limit_error", "param": None,
                              "code": "rate_limit_exceeded"}}
        for stream in (False, True):  # a streaming request gets the same JSON error, not an event stream
            self.llm.script(rate_limited)
            status, headers, raw = self.post(chat_body(stream=stream))
            self.assertEqual(status, 429)
            self.assertEqual(headers["retry-after"], "2")
            self.assertEqual(headers["content-type"], "application/json")
            self.assertEqual(json.loads(raw), expected)
        self.llm.script({"status": 503},
                        {"status": 401, "error": {"message": "bad key", "type": "invalid_request_error",
                                                  "code": "invalid_api_key"}})
        status, headers, raw = self.post(chat_body())
        self.assertEqual(status, 503)
        self.assertNotIn("retry-after", headers)
        self.assertEqual(json.loads(raw)["error"]["type"], "server_error")
        status, _, raw = self.post(chat_body())
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(raw)["error"], {"message": "bad key", "type": "invalid_request_error",
                                                    "param": None, "code": "invalid_api_key"})

    def test_raw_body(self):
        self.llm.script({"rawBody": '{"choices": [ broken'}, {"status": 502, "rawBody": "<html>bad gateway</html>"})
        status, headers, raw = self.post(chat_body(stream=True))
        self.assertEqual((status, raw), (200, b'{"choices": [ broken'))
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(self.post(chat_body())[::2], (502, b"<html>bad gateway</html>"))

    def test_raw_chunks(self):
        self.llm.script({"rawChunks": [": comment\n\n", 'data: {"x"', ":1}\n\n", "data: [DONE]\n\n"]})
        status, headers, raw = self.post(chat_body())
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "text/event-stream")
        self.assertEqual(raw, b': comment\n\ndata: {"x":1}\n\ndata: [DONE]\n\n')

    def test_delay_does_not_block_other_connections(self):
        self.llm.script({"match": "slow", "delayMs": 400, "content": "late"})
        result = {}

        def slow():
            t0 = time.monotonic()
            result["content"] = self.completion("slow")["choices"][0]["message"]["content"]
            result["elapsed"] = time.monotonic() - t0

        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.05)
        t0 = time.monotonic()
        self.assertEqual(self.completion("fast")["choices"][0]["message"]["content"], "echo: fast")
        self.assertLess(time.monotonic() - t0, 0.3)
        t.join(5)
        self.assertEqual(result["content"], "late")
        self.assertGreaterEqual(result["elapsed"], 0.38)

    def test_chunk_delay(self):
        self.llm.script({"content": "abcd", "chunkChars": 1, "chunkDelayMs": 50})
        t0 = time.monotonic()
        objs = self.stream(chat_body(stream=True))
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)  # 7 gaps between 8 events
        self.assertEqual(len(objs), 6)

    # ---- recording, control ---------------------------------------------------------------------

    def test_request_recording(self):
        body = chat_body("record me")
        body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
        self.post(body, headers={"Authorization": "Bearer sk-test", "X-Title": "oc"})
        self.post(chat_body("second"), path="/chat/completions")
        reqs = self.llm.requests()
        self.assertEqual(len(reqs), 2)
        self.assertEqual(reqs[0]["path"], CHAT)
        self.assertEqual(reqs[0]["authorization"], "Bearer sk-test")
        self.assertEqual(reqs[0]["headers"]["x-title"], "oc")
        self.assertEqual(reqs[0]["body"], body)
        self.assertEqual(reqs[1]["path"], "/chat/completions")
        self.assertEqual(reqs[1]["authorization"], "")
        self.assertEqual(self.llm.stats()["requests"], 2)

    def test_reset(self):
        self.llm.script({"content": "a"}, {"content": "b"})
        self.completion()
        self.assertEqual((self.llm.stats()["requests"], self.llm.stats()["pending"]), (1, 1))
        self.llm.reset()
        stats = self.llm.stats()
        self.assertEqual((stats["requests"], stats["pending"], stats["recorded"]), (0, 0, 0))
        self.assertEqual(self.llm.requests(), [])
        self.assertEqual(self.completion("z")["choices"][0]["message"]["content"], "echo: z")

    def test_bad_script_is_rejected_whole(self):
        for bad in ({"conten": "typo"}, {"status": 9000}, {"toolCalls": [{"arguments": "{}"}]}, {"hang": "yes"}):
            with self.assertRaisesRegex(RuntimeError, "HTTP 400"):
                self.llm.script({"content": "fine"}, bad)
        self.assertEqual(self.llm.stats()["pending"], 0)

    def test_models_and_unknown_paths(self):
        c = self.conn()
        c.request("GET", "/v1/models")
        r = c.getresponse()
        models = json.loads(r.read())
        self.assertEqual(r.status, 200)
        self.assertEqual(models["object"], "list")
        self.assertIn("test-model", [m["id"] for m in models["data"]])
        for m in models["data"]:
            self.assertEqual(set(m), {"id", "object", "created", "owned_by"})
            self.assertEqual(m["object"], "model")
        status, _, raw = self.post({}, path="/v1/embeddings")
        self.assertEqual(status, 404)
        self.assertEqual(set(json.loads(raw)["error"]), {"message", "type", "param", "code"})
        c.request("GET", CHAT)
        r = c.getresponse()
        self.assertEqual(r.status, 405)
        r.read()

    # ---- failures -------------------------------------------------------------------------------

    def test_invalid_json_is_400(self):
        self.llm.script({"content": "kept"})
        status, _, raw = self.post(None, raw=b"{not json")
        self.assertEqual(status, 400)
        err = json.loads(raw)["error"]
        self.assertEqual(err["type"], "invalid_request_error")
        self.assertEqual(set(err), {"message", "type", "param", "code"})
        status, _, raw = self.post({"model": "m"})
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(raw)["error"]["param"], "messages")
        status, _, raw = self.post({"messages": [{"role": "user", "content": "x"}]})
        self.assertEqual((status, json.loads(raw)["error"]["param"]), (400, "model"))
        self.assertEqual(self.llm.stats()["pending"], 1)  # a rejected request consumes no step
        self.assertEqual(self.completion()["choices"][0]["message"]["content"], "kept")

    def test_drop_after_chunks(self):
        self.llm.script({"content": "abcdefghijklmnop", "chunkChars": 4, "dropAfterChunks": 2})
        c = self.conn()
        c.request("POST", CHAT, body=json.dumps(chat_body(stream=True)))
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        with self.assertRaises(http.client.IncompleteRead) as cm:
            r.read()
        events = parse_sse(cm.exception.partial)
        self.assertEqual(len(events), 2)
        self.assertNotIn("[DONE]", events)
        self.assertEqual(json.loads(events[1])["choices"][0]["delta"]["content"], "abcd")
        # non-streamed: the connection closes unanswered
        self.llm.script({"dropAfterChunks": 0})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionError)):
            self.post(chat_body())
        self.assertEqual(self.completion("after")["choices"][0]["message"]["content"], "echo: after")

    def test_hang_until_client_leaves(self):
        self.llm.script({"hang": True})
        before = self.llm.stats()["connections"]
        c = http.client.HTTPConnection("127.0.0.1", self.llm.port, timeout=0.3)
        c.request("POST", CHAT, body=json.dumps(chat_body()))
        with self.assertRaises(socket.timeout):
            c.getresponse()
        self.assertEqual(self.llm.stats()["connections"], before + 1)
        c.close()
        deadline = time.monotonic() + 5
        while self.llm.stats()["connections"] > before and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(self.llm.stats()["connections"], before)

    # ---- transport ------------------------------------------------------------------------------

    def test_keep_alive_reuses_one_connection(self):
        before = self.llm.stats()["connectionsTotal"]
        c = self.conn()
        for i in range(50):
            status, _, raw = self.post(chat_body(f"n{i}", stream=bool(i % 2)), conn=c)
            self.assertEqual(status, 200)
        c.close()
        self.assertEqual(self.llm.stats()["connectionsTotal"], before + 2)  # ours + the stats call

    def test_many_concurrent_connections(self):
        n, per = 40, 5
        self.llm.script(*[{"delayMs": 100, "content": f"d{i}"} for i in range(n)])
        barrier = threading.Barrier(n)
        answers, errors = [], []

        def client(k):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.llm.port, timeout=10)
                barrier.wait()
                for j in range(per):
                    status, _, raw = self.post(chat_body(f"c{k}-{j}", stream=(j % 2 == 0)), conn=c)
                    answers.append(status)
                c.close()
            except Exception as e:  # reported below
                errors.append(repr(e))

        t0 = time.monotonic()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])
        self.assertEqual(answers, [200] * (n * per))
        self.assertLess(time.monotonic() - t0, 5)  # the 40 delayed answers overlapped
        self.assertEqual(self.llm.stats()["requests"], n * per)


class LifecycleTest(unittest.TestCase):
    def test_context_manager_and_sigterm(self):
        with LlmServer() as llm:
            self.assertTrue(llm.base_url.startswith("http://127.0.0.1:") and llm.base_url.endswith("/v1"))
            self.assertEqual(llm.stats()["requests"], 0)
            proc = llm.proc
        self.assertEqual(proc.returncode, 0)

    def test_sigint_with_open_connections(self):
        llm = LlmServer.start()
        llm.script({"hang": True})
        s = socket.create_connection(("127.0.0.1", llm.port))
        body = json.dumps(chat_body()).encode()
        s.sendall(f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        llm.wait_for_requests(1)
        llm.proc.send_signal(signal.SIGINT)
        self.assertEqual(llm.proc.wait(5), 0)
        s.close()
        llm.stop()

    def test_max_recorded(self):
        with LlmServer(max_recorded=2) as llm:
            for text in ("a", "b", "c"):
                c = http.client.HTTPConnection("127.0.0.1", llm.port, timeout=10)
                c.request("POST", CHAT, body=json.dumps(chat_body(text)))
                self.assertEqual(c.getresponse().status, 200)
                c.close()
            self.assertEqual([r["body"]["messages"][0]["content"] for r in llm.requests()], ["b", "c"])
            self.assertEqual(llm.stats()["requests"], 3)

    def test_bad_arguments(self):
        r = subprocess.run([binary_path(), "--port", "99999"], capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, b"")
        self.assertIn(b"usage", r.stderr)


if __name__ == "__main__":
    unittest.main()
