"""Every provider wire format end to end (SPEC §8.2): a real gateway whose only model provider is
the test LLM server speaking that format (`models.providers.<name> = {api, baseUrl, apiKey}`), so
the kernel's production client for each of anthropic-messages, openai-completions, gemini and
ollama is exercised over real HTTP: a plain answer, a streamed answer (agent events), a tool round
trip through an app's tool, a provider error surfaced in the run, a 429 with Retry-After retried,
and the token counts the server reported, visible in the run and the session."""
import os
import time
import unittest

from harness import Kernel, KernelTest, fast_supervisor
from llm_server import FORMAT_OF_API, LlmServer

PACKAGES = os.environ.get("OPENCLAW_TEST_PACKAGES", "")
ALPHA = os.path.join(PACKAGES, "test-channel-alpha")


class ProviderCases:
    """The cases every API runs; subclasses set API."""

    API = None
    PROVIDER = "prov"
    MODEL = "test-model"
    # A 429 that asks for a one-second wait, the way the platform says it.
    RATE_LIMITED = {"status": 429, "retryAfter": "1", "error": {"message": "slow down"}}

    def setUp(self):
        self.llm = LlmServer.start()
        self.addCleanup(self.llm.stop)

    @property
    def format(self):
        return FORMAT_OF_API[self.API]

    def start(self, apps=()):
        config = {
            "models": {"providers": {self.PROVIDER: {"api": self.API, "baseUrl": self.llm.url_for(self.API),
                                                     "apiKey": "k"}},
                       "requestTimeoutMs": 5000, "retryBaseDelayMs": 20, "maxRetries": 2},
            "agents": {"default": {"model": f"{self.PROVIDER}/{self.MODEL}", "systemPrompt": "You are the test agent."}},
            "apps": {"supervisor": fast_supervisor()},
        }
        k = Kernel(config)
        self.addCleanup(k.cleanup)
        for app in apps:
            k.install(app)
        k.start()
        for app in apps:
            k.wait_state(os.path.basename(app), "ready")
        return k

    def turn(self, k, text, **params):
        return k.control().call("agent", {"message": text, **params}, timeout=60)

    def chat_requests(self):
        reqs = self.llm.requests()
        for r in reqs:
            self.assertEqual(r["format"], self.format, r["path"])
        return reqs

    # ---- cases ------------------------------------------------------------------------------------

    def test_plain_answer(self):
        k = self.start()
        r = self.turn(k, "hello there")
        self.assertEqual(r["status"], "ok", r)
        self.assertEqual(r["text"], "echo: hello there")
        self.assertEqual(r["model"], f"{self.PROVIDER}/{self.MODEL}")
        req, = self.chat_requests()
        self.assertEqual(req["apiKey"], "k")
        self.assertEqual(req["model"], self.MODEL)
        self.assertEqual(req["messages"][0]["role"], "system")
        self.assertIn("You are the test agent.", req["messages"][0]["content"])
        self.assertEqual(req["messages"][-1], {"role": "user", "content": "hello there"})
        history = k.control().call("sessions.history", {"key": r["sessionKey"]})["messages"]
        self.assertEqual([(m["role"], m["content"]) for m in history],
                         [("user", "hello there"), ("assistant", "echo: hello there")])

    def test_streamed_answer_arrives_as_agent_events(self):
        k = self.start()
        ws = k.control()
        self.llm.script({"content": "streamed words arrive in pieces", "chunkChars": 4, "chunkDelayMs": 10})
        r = ws.call("agent", {"message": "stream please", "idempotencyKey": f"s-{self.API}"}, timeout=60)
        self.assertEqual(r["text"], "streamed words arrive in pieces")
        deltas = []
        while True:
            try:
                e = ws.next_event(timeout=2)
            except (TimeoutError, OSError):
                break
            p = e["payload"]
            if e["event"] == "agent" and p["runId"] == r["runId"] and p["stream"] == "assistant":
                deltas.append(p["data"]["delta"])
        self.assertEqual("".join(deltas), "streamed words arrive in pieces")
        self.assertGreater(len(deltas), 1)
        self.assertTrue(self.chat_requests()[-1]["stream"])

    def test_tool_round_trip(self):
        k = self.start(apps=(ALPHA,))
        self.llm.script({"match": "weather", "toolCalls": [{"name": "lookup_weather", "arguments": {"city": "Oslo"}}]})
        r = self.turn(k, "what is the weather in Oslo?")
        self.assertEqual(r["status"], "ok", r)
        self.assertEqual(r["text"], "tool result: Sunny in Oslo, 21 C")
        first, second = self.chat_requests()
        tool = next(t for t in first["tools"] if t["name"] == "lookup_weather")
        self.assertEqual(tool["parameters"]["required"], ["city"])
        call_msg, result_msg = second["messages"][-2:]
        self.assertEqual(call_msg["role"], "assistant")
        call, = call_msg["toolCalls"]
        self.assertEqual((call["name"], call["arguments"]), ("lookup_weather", {"city": "Oslo"}))
        self.assertEqual((result_msg["role"], result_msg["content"]), ("tool", "Sunny in Oslo, 21 C"))
        self.assert_tool_result_wire(second["body"])
        roles = [m["role"] for m in k.control().call("sessions.history", {"key": r["sessionKey"]})["messages"]]
        self.assertEqual(roles, ["user", "assistant", "tool", "assistant"])

    def test_provider_error_fails_the_run_with_its_message(self):
        k = self.start()
        self.llm.script({"status": 400, "error": {"message": "the prompt is unacceptable"}})
        r = self.turn(k, "bad request")
        self.assertEqual(r["status"], "error", r)
        self.assertIn("the prompt is unacceptable", r["error"])
        self.assertIn("400", r["error"])
        self.assertEqual(len(self.chat_requests()), 1)  # a 400 is not retried

    def test_error_inside_the_stream_fails_the_attempt(self):
        k = self.start()
        broken = {"content": "partial answer", "chunkChars": 4, "errorAfterChunks": 3,
                  "error": {"message": "the stream broke"}}
        self.llm.script(*[broken] * 3)  # the first try and both retries (the error is a server error)
        r = self.turn(k, "break please")
        self.assertEqual(r["status"], "error", r)
        self.assertIn("the stream broke", r["error"])
        self.assertEqual([a["status"] for a in r["attempts"]], ["error"] * 3)

    def test_rate_limit_with_retry_after_is_retried(self):
        k = self.start()
        self.llm.script(self.RATE_LIMITED, {"content": "after the wait"})
        t0 = time.monotonic()
        r = self.turn(k, "busy?")
        self.assertEqual(r["status"], "ok", r)
        self.assertEqual(r["text"], "after the wait")
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)  # Retry-After: 1 was honoured
        self.assertEqual([a["status"] for a in r["attempts"]], ["error", "ok"])
        self.assertEqual(r["attempts"][0]["httpStatus"], 429)
        self.assertEqual(len(self.chat_requests()), 2)

    def test_token_usage_is_recorded(self):
        k = self.start()
        self.llm.script({"content": "counted", "usage": {"prompt_tokens": 123, "completion_tokens": 45}})
        r = self.turn(k, "count me")
        self.assertEqual(r["usage"], {"input": 123, "output": 45})
        session = k.control().call("sessions.get", {"key": r["sessionKey"]})
        self.assertEqual(session["runs"][0]["tokens"], {"input": 123, "output": 45})
        history = k.control().call("sessions.history", {"key": r["sessionKey"]})["messages"]
        self.assertEqual(history[-1]["tokens"], {"input": 123, "output": 45})


class OpenAiCompletionsTest(ProviderCases, KernelTest):
    API = "openai-completions"

    def assert_tool_result_wire(self, body):
        call_msg, result_msg = body["messages"][-2:]
        call_id = call_msg["tool_calls"][0]["id"]
        self.assertEqual(result_msg, {"role": "tool", "tool_call_id": call_id, "content": "Sunny in Oslo, 21 C"})


class AnthropicMessagesTest(ProviderCases, KernelTest):
    API = "anthropic-messages"
    MODEL = "claude-test"

    def assert_tool_result_wire(self, body):
        assistant, user = body["messages"][-2:]
        tool_use = next(b for b in assistant["content"] if b["type"] == "tool_use")
        self.assertTrue(tool_use["id"].startswith("toolu_"))
        self.assertEqual(tool_use["input"], {"city": "Oslo"})
        self.assertEqual(user["role"], "user")
        result = user["content"][0]
        self.assertEqual((result["type"], result["tool_use_id"]), ("tool_result", tool_use["id"]))
        self.assertIn("Sunny in Oslo", str(result["content"]))
        self.assertIn("You are the test agent.", str(body["system"]))


class GeminiTest(ProviderCases, KernelTest):
    API = "gemini"
    MODEL = "gemini-test"
    # Google says when to retry in a RetryInfo detail of the error, not in a Retry-After header.
    RATE_LIMITED = {"status": 429, "error": {"message": "Resource has been exhausted", "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]}}

    def assert_tool_result_wire(self, body):
        model_turn, user_turn = body["contents"][-2:]
        self.assertEqual(model_turn["role"], "model")
        call = next(p["functionCall"] for p in model_turn["parts"] if "functionCall" in p)
        self.assertEqual((call["name"], call["args"]), ("lookup_weather", {"city": "Oslo"}))
        response = next(p["functionResponse"] for p in user_turn["parts"] if "functionResponse" in p)
        self.assertEqual(response["name"], "lookup_weather")
        self.assertIn("Sunny in Oslo, 21 C", str(response["response"]))


class OllamaTest(ProviderCases, KernelTest):
    API = "ollama"
    MODEL = "llama-test"

    def assert_tool_result_wire(self, body):
        call_msg, result_msg = body["messages"][-2:]
        self.assertEqual(call_msg["tool_calls"][0]["function"]["arguments"], {"city": "Oslo"})  # an object
        self.assertEqual((result_msg["role"], result_msg["content"]), ("tool", "Sunny in Oslo, 21 C"))
        self.assertEqual(result_msg.get("tool_name"), "lookup_weather")


if __name__ == "__main__":
    unittest.main()
