"""The scripted test LLM server (`oc-test-llm`): its four wire formats (OpenAI chat completions,
Anthropic Messages, Gemini, Ollama native), scripting, recording, failure injection. Driven over
real HTTP with the standard library only."""
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


def parse_named_sse(raw: bytes):
    """[(event name or None, data)] of an event stream with LF or CRLF line ends."""
    events = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                data.append(line[len("data: "):])
        events.append((name, "\n".join(data)))
    return events


class ServerTestBase(unittest.TestCase):
    """One server for the class; each test starts from an empty script and log."""

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

    def post_raw(self, path, body, headers=None):
        """POST over a raw socket: (status line, headers, [HTTP chunk bytes]) of a chunked answer."""
        s = socket.create_connection(("127.0.0.1", self.llm.port), timeout=10)
        self.addCleanup(s.close)
        data = json.dumps(body).encode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}"
                  f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        return read_chunked(s)


class LlmServerTest(ServerTestBase):

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
        self.assertEqual(reqs[0]["format"], "openai")
        self.assertEqual(reqs[0]["apiKey"], "sk-test")
        self.assertEqual((reqs[0]["model"], reqs[0]["stream"]), ("test-model", False))
        self.assertEqual(reqs[0]["messages"], [{"role": "user", "content": "record me"}])
        self.assertEqual(reqs[0]["tools"], [{"name": "f", "parameters": {"type": "object"}}])
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

    def test_normalised_messages_and_mid_stream_error(self):
        tool_turn = [{"role": "developer", "content": "rules"}, {"role": "user", "content": "q"},
                     {"role": "assistant", "content": None,
                      "tool_calls": [{"id": "call_9", "type": "function",
                                      "function": {"name": "f", "arguments": "{\"a\": 1}"}}]},
                     {"role": "tool", "tool_call_id": "call_9", "content": "42"}]
        self.completion(messages=tool_turn)
        self.assertEqual(self.llm.requests()[-1]["messages"],
                         [{"role": "system", "content": "rules"}, {"role": "user", "content": "q"},
                          {"role": "assistant", "content": "",
                           "toolCalls": [{"id": "call_9", "name": "f", "arguments": {"a": 1}}]},
                          {"role": "tool", "content": "42", "toolCallId": "call_9"}])
        self.llm.script({"content": "abcdefgh", "chunkChars": 4, "errorAfterChunks": 2,
                         "error": {"message": "upstream broke"}})
        status, headers, raw = self.post(chat_body(stream=True))
        self.assertEqual(status, 200)
        events = parse_sse(raw)
        self.assertEqual(len(events), 3)
        self.assertEqual(json.loads(events[1])["choices"][0]["delta"]["content"], "abcd")
        self.assertEqual(json.loads(events[2])["error"]["message"], "upstream broke")
        self.assertNotIn("[DONE]", events)


ANTHROPIC = "/v1/messages"
ANTHROPIC_HEADERS = {"x-api-key": "sk-ant", "anthropic-version": "2023-06-01"}


class AnthropicWireTest(ServerTestBase):
    def body(self, text="hi", stream=False, messages=None, **extra):
        b = {"model": "claude-test", "max_tokens": 256, "messages": messages or [{"role": "user", "content": text}]}
        if stream:
            b["stream"] = True
        b.update(extra)
        return b

    def message(self, body, headers=ANTHROPIC_HEADERS):
        status, h, raw = self.post(body, ANTHROPIC, headers)
        self.assertEqual(status, 200, raw)
        self.assertEqual(h["content-type"], "application/json")
        return json.loads(raw)

    def events(self, body):
        """The streamed answer from a raw socket, checking one SSE event per HTTP chunk."""
        status, headers, chunks = self.post_raw(ANTHROPIC, body, ANTHROPIC_HEADERS)
        self.assertIn(" 200 ", status)
        self.assertEqual(headers["content-type"], "text/event-stream; charset=utf-8")
        out = []
        for chunk in chunks:
            (name, data), = parse_named_sse(chunk)
            self.assertTrue(chunk.startswith(f"event: {name}\ndata: ".encode()) and chunk.endswith(b"\n\n"), chunk)
            obj = json.loads(data)
            self.assertEqual(obj["type"], name)
            out.append(obj)
        return out

    def test_message_shape_and_recording(self):
        m = self.message(self.body("hello there", system="Be brief."))
        self.assertTrue(m["id"].startswith("msg_"))
        self.assertEqual((m["type"], m["role"], m["model"]), ("message", "assistant", "claude-test"))
        self.assertEqual(m["content"], [{"type": "text", "text": "echo: hello there"}])
        self.assertEqual((m["stop_reason"], m["stop_sequence"]), ("end_turn", None))
        # 20 prompt characters (system + user) and 17 answer characters, 4 per token, rounded up
        self.assertEqual(m["usage"], {"input_tokens": 5, "cache_creation_input_tokens": 0,
                                      "cache_read_input_tokens": 0, "output_tokens": 5})
        req = self.llm.requests()[-1]
        self.assertEqual((req["format"], req["path"], req["apiKey"]), ("anthropic", ANTHROPIC, "sk-ant"))
        self.assertEqual(req["headers"]["anthropic-version"], "2023-06-01")
        self.assertEqual((req["model"], req["stream"]), ("claude-test", False))
        self.assertEqual(req["messages"], [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "hello there"}])

    def test_stream_event_sequence(self):
        self.llm.script({"content": "abcdefghij", "chunkChars": 4, "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
        events = self.events(self.body(stream=True))
        self.assertEqual([e["type"] for e in events],
                         ["message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
                          "content_block_delta", "content_block_stop", "message_delta", "message_stop"])
        start = events[0]["message"]
        self.assertEqual((start["content"], start["stop_reason"], start["model"]), ([], None, "claude-test"))
        self.assertEqual((start["usage"]["input_tokens"], start["usage"]["output_tokens"]), (7, 1))
        self.assertEqual(events[1], {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}})
        self.assertEqual([e["delta"] for e in events[3:6]],
                         [{"type": "text_delta", "text": t} for t in ("abcd", "efgh", "ij")])
        self.assertEqual(events[6], {"type": "content_block_stop", "index": 0})
        self.assertEqual(events[7], {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                     "usage": {"output_tokens": 3}})
        self.assertEqual(self.llm.requests()[-1]["stream"], True)

    def test_tool_use_whole_and_streamed(self):
        calls = [{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"id": "toolu_mine", "name": "noop"}]
        self.llm.script({"toolCalls": calls}, {"content": "Checking.", "chunkChars": 5, "toolCalls": calls})
        m = self.message(self.body("weather?"))
        self.assertEqual(m["stop_reason"], "tool_use")
        self.assertEqual(len(m["content"]), 2)  # no empty text block
        first, second = m["content"]
        self.assertRegex(first["id"], r"^toolu_")
        self.assertEqual((first["type"], first["name"], first["input"]), ("tool_use", "get_weather", {"city": "Oslo"}))
        self.assertEqual(second, {"type": "tool_use", "id": "toolu_mine", "name": "noop", "input": {}})
        events = self.events(self.body("weather?", stream=True))
        starts = [e for e in events if e["type"] == "content_block_start"]
        self.assertEqual([s["content_block"]["type"] for s in starts], ["text", "tool_use", "tool_use"])
        self.assertEqual(starts[1]["content_block"]["input"], {})
        self.assertEqual(starts[2]["content_block"]["id"], "toolu_mine")
        pieces = [e["delta"]["partial_json"] for e in events
                  if e["type"] == "content_block_delta" and e["index"] == 1]
        self.assertEqual(pieces[0], "")
        self.assertEqual(json.loads("".join(pieces)), {"city": "Oslo"})
        self.assertTrue(all(e["delta"]["type"] == "input_json_delta" for e in events
                            if e["type"] == "content_block_delta" and e["index"] > 0))
        self.assertEqual(events[-2]["delta"]["stop_reason"], "tool_use")

    def test_tool_result_goes_back(self):
        messages = [{"role": "user", "content": "q"},
                    {"role": "assistant", "content": [{"type": "text", "text": "Let me look."},
                                                      {"type": "tool_use", "id": "toolu_1", "name": "f",
                                                       "input": {"a": 1}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}]}]
        m = self.message(self.body(messages=messages))
        self.assertEqual(m["content"][0]["text"], "tool result: 42")
        self.assertEqual(self.llm.requests()[-1]["messages"][1:],
                         [{"role": "assistant", "content": "Let me look.",
                           "toolCalls": [{"id": "toolu_1", "name": "f", "arguments": {"a": 1}}]},
                          {"role": "tool", "content": "42", "toolCallId": "toolu_1"}])

    def test_http_errors(self):
        cases = [({"status": 429, "retryAfter": "3"}, 429, "rate_limit_error", "scripted error (HTTP 429)"),
                 ({"status": 529, "error": {"message": "Overloaded"}}, 529, "overloaded_error", "Overloaded"),
                 ({"status": 401, "error": {"message": "invalid x-api-key"}}, 401, "authentication_error",
                  "invalid x-api-key"),
                 ({"status": 400, "error": {"message": "prompt is too long", "type": "invalid_request_error"}}, 400,
                  "invalid_request_error", "prompt is too long"),
                 ({"status": 500}, 500, "api_error", "scripted error (HTTP 500)")]
        for step, status, type_, message in cases:
            for stream in (False, True):  # a failed streaming request gets a JSON error, not a stream
                with self.subTest(status=status, stream=stream):
                    self.llm.script(step)
                    got, headers, raw = self.post(self.body(stream=stream), ANTHROPIC, ANTHROPIC_HEADERS)
                    self.assertEqual(got, status)
                    self.assertEqual(headers["content-type"], "application/json")
                    self.assertEqual(json.loads(raw), {"type": "error", "error": {"type": type_, "message": message}})
                    self.assertEqual(headers.get("retry-after"), "3" if status == 429 else None)

    def test_error_event_mid_stream(self):
        self.llm.script({"content": "abcdefgh", "chunkChars": 4, "errorAfterChunks": 4,
                         "error": {"type": "overloaded_error", "message": "Overloaded"}})
        events = self.events(self.body(stream=True))
        self.assertEqual([e["type"] for e in events],
                         ["message_start", "content_block_start", "ping", "content_block_delta", "error"])
        self.assertEqual(events[-1], {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        # asked for no stream: the error object is the 200 answer's body
        self.llm.script({"errorAfterChunks": 0, "status": 529})
        status, _, raw = self.post(self.body(), ANTHROPIC, ANTHROPIC_HEADERS)
        self.assertEqual((status, json.loads(raw)["error"]["type"]), (200, "overloaded_error"))

    def test_stop_reasons(self):
        for scripted, expected in (("length", "max_tokens"), ("stop", "end_turn"), ("pause_turn", "pause_turn")):
            self.llm.script({"content": "x", "finishReason": scripted})
            self.assertEqual(self.message(self.body())["stop_reason"], expected)

    def test_refusals(self):
        self.llm.script({"content": "kept"})
        cases = [(self.body(), {"x-api-key": "k"}, "anthropic-version: header is required"),
                 ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, ANTHROPIC_HEADERS,
                  "max_tokens: Field required"),
                 (self.body(messages=[{"role": "system", "content": "x"}]), ANTHROPIC_HEADERS,
                  "messages.0.role: Input should be 'user' or 'assistant'")]
        for body, headers, message in cases:
            status, _, raw = self.post(body, ANTHROPIC, headers)
            self.assertEqual(status, 400)
            self.assertEqual(json.loads(raw), {"type": "error", "error": {"type": "invalid_request_error",
                                                                         "message": message}})
        self.assertEqual(self.llm.stats()["pending"], 1)
        self.assertNotIn("messages", self.llm.requests()[0])  # refused: recorded raw only


GEMINI = "/v1beta/models/gemini-test:generateContent"
GEMINI_STREAM = "/v1beta/models/gemini-test:streamGenerateContent"


def gemini_body(text="hi", contents=None, **extra):
    b = {"contents": contents or [{"role": "user", "parts": [{"text": text}]}]}
    b.update(extra)
    return b


class GeminiWireTest(ServerTestBase):
    def generate(self, body, path=GEMINI):
        status, headers, raw = self.post(body, path)
        self.assertEqual(status, 200, raw)
        self.assertEqual(headers["content-type"], "application/json")
        return json.loads(raw)

    def stream(self, body, headers=None):
        status, h, chunks = self.post_raw(GEMINI_STREAM + "?alt=sse", body, headers)
        self.assertIn(" 200 ", status)
        self.assertEqual(h["content-type"], "text/event-stream")
        for chunk in chunks:  # one event per chunk, CRLF line ends as Google sends them
            self.assertTrue(chunk.startswith(b"data: ") and chunk.endswith(b"\r\n\r\n"), chunk)
        return [json.loads(c[len(b"data: "):]) for c in chunks]

    def test_response_shape_and_recording(self):
        r = self.generate(gemini_body("hello there", systemInstruction={"parts": [{"text": "Be brief."}]}),
                          GEMINI + "?key=gk-query")
        candidate, = r["candidates"]
        self.assertEqual(candidate, {"content": {"parts": [{"text": "echo: hello there"}], "role": "model"},
                                     "finishReason": "STOP", "index": 0})
        self.assertEqual(r["usageMetadata"], {"promptTokenCount": 5, "candidatesTokenCount": 5, "totalTokenCount": 10})
        self.assertEqual(r["modelVersion"], "gemini-test")
        self.assertIsInstance(r["responseId"], str)
        req = self.llm.requests()[-1]
        self.assertEqual((req["format"], req["model"], req["stream"], req["apiKey"]),
                         ("gemini", "gemini-test", False, "gk-query"))
        self.assertEqual(req["messages"], [{"role": "system", "content": "Be brief."},
                                           {"role": "user", "content": "hello there"}])

    def test_stream_sse(self):
        self.llm.script({"content": "abcdefghij", "chunkChars": 4, "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
        chunks = self.stream(gemini_body(), {"x-goog-api-key": "gk-header"})
        self.assertEqual(["".join(p["text"] for p in c["candidates"][0]["content"]["parts"]) for c in chunks],
                         ["abcd", "efgh", "ij"])
        for c in chunks[:-1]:
            self.assertNotIn("finishReason", c["candidates"][0])
            self.assertEqual(c["usageMetadata"], {"promptTokenCount": 7, "totalTokenCount": 7})
        self.assertEqual(chunks[-1]["candidates"][0]["finishReason"], "STOP")
        self.assertEqual(chunks[-1]["usageMetadata"], {"promptTokenCount": 7, "candidatesTokenCount": 3,
                                                       "totalTokenCount": 10})
        req = self.llm.requests()[-1]
        self.assertEqual((req["stream"], req["query"], req["apiKey"]), (True, "alt=sse", "gk-header"))

    def test_stream_without_alt_sse_is_a_json_array(self):
        self.llm.script({"content": "abcdef", "chunkChars": 3})
        status, headers, raw = self.post(gemini_body(), GEMINI_STREAM)
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("application/json"))
        chunks = json.loads(raw)
        self.assertEqual([c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks], ["abc", "def"])

    def test_function_calls(self):
        calls = [{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"id": "fc-1", "name": "noop"}]
        self.llm.script({"toolCalls": calls}, {"content": "Checking.", "toolCalls": calls})
        r = self.generate(gemini_body("weather?"))
        self.assertEqual(r["candidates"][0]["content"]["parts"],
                         [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                          {"functionCall": {"name": "noop", "args": {}, "id": "fc-1"}}])
        self.assertEqual(r["candidates"][0]["finishReason"], "STOP")
        chunks = self.stream(gemini_body("weather?"))
        last = chunks[-1]["candidates"][0]
        self.assertEqual([p["functionCall"]["name"] for p in last["content"]["parts"]], ["get_weather", "noop"])
        self.assertEqual(last["finishReason"], "STOP")
        self.assertEqual("".join(c["candidates"][0]["content"]["parts"][0].get("text", "") for c in chunks[:-1]),
                         "Checking.")

    def test_function_response_goes_back(self):
        contents = [{"role": "user", "parts": [{"text": "q"}]},
                    {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}]},
                    {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"content": "42"}}}]}]
        r = self.generate(gemini_body(contents=contents))
        self.assertEqual(r["candidates"][0]["content"]["parts"][0]["text"], "tool result: 42")
        self.assertEqual(self.llm.requests()[-1]["messages"][1:],
                         [{"role": "assistant", "content": "", "toolCalls": [{"name": "f", "arguments": {"a": 1}}]},
                          {"role": "tool", "content": "42", "name": "f"}])

    def test_http_errors(self):
        self.llm.script({"status": 429, "retryAfter": "2", "error": {"message": "Resource has been exhausted"}})
        status, headers, raw = self.post(gemini_body(), GEMINI)
        self.assertEqual((status, headers["retry-after"]), (429, "2"))
        self.assertEqual(json.loads(raw), {"error": {
            "code": 429, "message": "Resource has been exhausted", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]}})
        for step_status, name in ((400, "INVALID_ARGUMENT"), (403, "PERMISSION_DENIED"), (503, "UNAVAILABLE")):
            self.llm.script({"status": step_status, "error": {"message": "no"}})
            status, _, raw = self.post(gemini_body(), GEMINI_STREAM + "?alt=sse")
            self.assertEqual(status, step_status)
            self.assertEqual(json.loads(raw), {"error": {"code": step_status, "message": "no", "status": name}})

    def test_error_mid_stream(self):
        self.llm.script({"content": "abcdefgh", "chunkChars": 4, "errorAfterChunks": 1, "status": 503,
                         "error": {"message": "The model is overloaded."}})
        chunks = self.stream(gemini_body())
        self.assertEqual(len(chunks), 2)
        self.assertEqual(chunks[0]["candidates"][0]["content"]["parts"][0]["text"], "abcd")
        self.assertEqual(chunks[1], {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}})

    def test_finish_reasons_and_refusals(self):
        self.llm.script({"content": "x", "finishReason": "length"}, {"content": "y", "finishReason": "content_filter"})
        self.assertEqual(self.generate(gemini_body())["candidates"][0]["finishReason"], "MAX_TOKENS")
        self.assertEqual(self.generate(gemini_body())["candidates"][0]["finishReason"], "SAFETY")
        status, _, raw = self.post(gemini_body(), "/v1beta/models/gemini-test:countTokens")
        self.assertEqual((status, json.loads(raw)["error"]["status"]), (404, "NOT_FOUND"))
        status, _, raw = self.post({"contents": []}, GEMINI)
        self.assertEqual((status, json.loads(raw)["error"]["status"]), (400, "INVALID_ARGUMENT"))
        # the v1 API path and an escaped model name reach the same endpoint
        self.generate(gemini_body(), "/v1/models/models%2Fgemini-x:generateContent")
        self.assertEqual(self.llm.requests()[-1]["model"], "models/gemini-x")


OLLAMA = "/api/chat"


def ollama_body(text="hi", messages=None, **extra):
    b = {"model": "llama-test", "messages": messages or [{"role": "user", "content": text}]}
    b.update(extra)
    return b


class OllamaWireTest(ServerTestBase):
    def chat(self, body):
        status, headers, raw = self.post(body, OLLAMA)
        self.assertEqual(status, 200, raw)
        self.assertEqual(headers["content-type"], "application/json; charset=utf-8")
        return json.loads(raw)

    def lines(self, body):
        status, headers, chunks = self.post_raw(OLLAMA, body)
        self.assertIn(" 200 ", status)
        self.assertEqual(headers["content-type"], "application/x-ndjson")
        for chunk in chunks:  # one line per chunk
            self.assertTrue(chunk.endswith(b"\n") and chunk.count(b"\n") == 1, chunk)
        return [json.loads(c) for c in chunks]

    def test_whole_answer_shape(self):
        r = self.chat(ollama_body("hello there", stream=False))
        self.assertEqual(list(r)[:5], ["model", "created_at", "message", "done_reason", "done"])
        self.assertEqual(r["model"], "llama-test")
        self.assertRegex(r["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
        self.assertEqual(r["message"], {"role": "assistant", "content": "echo: hello there"})
        self.assertEqual((r["done"], r["done_reason"]), (True, "stop"))
        self.assertEqual((r["prompt_eval_count"], r["eval_count"]), (3, 5))
        for key in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
            self.assertIsInstance(r[key], int)
        req = self.llm.requests()[-1]
        self.assertEqual((req["format"], req["model"], req["stream"]), ("ollama", "llama-test", False))

    def test_ndjson_stream_is_the_default(self):
        self.llm.script({"content": "abcdefghij", "chunkChars": 4, "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
        lines = self.lines(ollama_body())
        self.assertEqual([line["message"]["content"] for line in lines], ["abcd", "efgh", "ij", ""])
        self.assertTrue(all(line["done"] is False and "done_reason" not in line for line in lines[:-1]))
        last = lines[-1]
        self.assertEqual((last["done"], last["done_reason"], last["prompt_eval_count"], last["eval_count"]),
                         (True, "stop", 7, 3))
        self.assertEqual(self.llm.requests()[-1]["stream"], True)

    def test_tool_calls(self):
        calls = [{"name": "get_weather", "arguments": {"city": "Oslo"}}]
        self.llm.script({"toolCalls": calls}, {"content": "Checking.", "toolCalls": calls})
        r = self.chat(ollama_body("weather?", stream=False))
        self.assertEqual(r["message"], {"role": "assistant", "content": "",
                                        "tool_calls": [{"function": {"name": "get_weather",
                                                                     "arguments": {"city": "Oslo"}}}]})
        self.assertEqual(r["done_reason"], "stop")
        lines = self.lines(ollama_body("weather?"))
        with_calls = [line for line in lines if line["message"].get("tool_calls")]
        self.assertEqual(len(with_calls), 1)
        self.assertEqual(with_calls[0]["message"]["tool_calls"][0]["function"]["arguments"], {"city": "Oslo"})
        self.assertEqual(lines[-1]["done_reason"], "stop")

    def test_tool_result_goes_back(self):
        messages = [{"role": "user", "content": "q"},
                    {"role": "assistant", "content": "",
                     "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
                    {"role": "tool", "content": "42", "tool_name": "f"}]
        self.assertEqual(self.chat(ollama_body(messages=messages, stream=False))["message"]["content"], "tool result: 42")
        self.assertEqual(self.llm.requests()[-1]["messages"][1:],
                         [{"role": "assistant", "content": "", "toolCalls": [{"name": "f", "arguments": {"a": 1}}]},
                          {"role": "tool", "content": "42", "name": "f"}])

    def test_errors(self):
        self.llm.script({"status": 404, "error": {"message": "model \"nope\" not found, try pulling it first"}},
                        {"status": 429, "retryAfter": "1"},
                        {"content": "abcdefgh", "chunkChars": 4, "errorAfterChunks": 1, "error": {"message": "boom"}})
        status, _, raw = self.post(ollama_body(), OLLAMA)
        self.assertEqual((status, json.loads(raw)), (404, {"error": "model \"nope\" not found, try pulling it first"}))
        status, headers, raw = self.post(ollama_body(), OLLAMA)
        self.assertEqual((status, headers["retry-after"], json.loads(raw)), (429, "1", {"error": "scripted error (HTTP 429)"}))
        lines = self.lines(ollama_body())
        self.assertEqual(lines[0]["message"]["content"], "abcd")
        self.assertEqual(lines[1], {"error": "boom"})
        self.assertEqual(len(lines), 2)

    def test_refusals_and_load(self):
        status, _, raw = self.post({"messages": []}, OLLAMA)
        self.assertEqual((status, json.loads(raw)), (400, {"error": "model is required"}))
        r = self.chat({"model": "llama-test", "stream": False})
        self.assertEqual((r["done"], r["done_reason"], r["message"]["content"]), (True, "load", ""))


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

    def test_fixed_reply_replaces_the_echo_but_not_script_steps(self):
        with LlmServer(reply="Fixed answer.") as llm:
            def answer(text, stream=False):
                c = http.client.HTTPConnection("127.0.0.1", llm.port, timeout=10)
                c.request("POST", CHAT, body=json.dumps(chat_body(text, stream=stream)))
                r = c.getresponse()
                self.assertEqual(r.status, 200)
                raw = r.read()
                c.close()
                if not stream:
                    return json.loads(raw)["choices"][0]["message"]["content"]
                events = [json.loads(e) for e in parse_sse(raw)[:-1]]
                return "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
            self.assertEqual(answer("anything"), "Fixed answer.")
            self.assertEqual(answer("streamed", stream=True), "Fixed answer.")
            llm.script({"content": "scripted"})
            self.assertEqual(answer("x"), "scripted")
            self.assertEqual(answer("y"), "Fixed answer.")

    def test_bad_arguments(self):
        r = subprocess.run([binary_path(), "--port", "99999"], capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, b"")
        self.assertIn(b"usage", r.stderr)


if __name__ == "__main__":
    unittest.main()
