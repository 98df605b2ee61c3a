"""The message pipeline end to end (SPEC §4.4, §7, §8.2, §8.3): real kernel, real channel apps on
the C++ SDK (tests/apps/test-channel), the test LLM server speaking OpenAI's wire format, and the
kernel's production HTTP client pointed at it. Crash safety with kill -9."""
import json
import os
import pty
import select
import signal
import sqlite3
import subprocess
import time
import unittest

from harness import Kernel, KernelTest, fast_supervisor, wait_for
from llm_server import LlmServer

PACKAGES = os.environ.get("OPENCLAW_TEST_PACKAGES", "")
ALPHA = os.path.join(PACKAGES, "test-channel-alpha")
BETA = os.path.join(PACKAGES, "test-channel-beta")
BEHAVE = os.path.join(os.path.dirname(__file__), "..", "apps", "behave")


def read_log(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


class PipelineTest(KernelTest):
    def setUp(self):
        self.llm = LlmServer.start()
        self.addCleanup(self.llm.stop)

    def config(self, **extra):
        cfg = {
            "models": {"providers": {"test": {"api": "openai-completions", "baseUrl": self.llm.base_url,
                                              "apiKey": "sk-test"}},
                       "requestTimeoutMs": 3000, "retryBaseDelayMs": 20, "maxRetries": 2},
            "agents": {"default": {"model": "test/gpt-test", "systemPrompt": "You are the test agent."}},
            "apps": {"supervisor": fast_supervisor()},
        }
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(cfg.get(key), dict):
                for k2, v2 in value.items():
                    if isinstance(v2, dict) and isinstance(cfg[key].get(k2), dict):
                        cfg[key][k2] = {**cfg[key][k2], **v2}
                    else:
                        cfg[key][k2] = v2
            else:
                cfg[key] = value
        return cfg

    def start(self, cfg=None, apps=(ALPHA,), env=None):
        k = Kernel(cfg or self.config(), env)
        self.addCleanup(k.cleanup)
        self.logs = {}
        apps_cfg = k.config.setdefault("apps", {})
        for app in apps:
            app_id = os.path.basename(app)
            # Its data directory: a sandboxed (community) app may write nowhere else.
            path = os.path.join(k.home, "apps", app_id, "deliveries.jsonl")
            self.logs[app_id] = path
            entry = apps_cfg.setdefault(app_id, {})
            entry.setdefault("env", {})["TEST_CHANNEL_LOG"] = path
        k.write_config()
        for app in apps:
            k.install(app)
        k.start()
        for app in apps:
            k.wait_state(os.path.basename(app), "ready")
        return k

    def inject(self, k, conversation, text, app="test-channel-alpha", **metadata):
        metadata.setdefault("chatType", "direct")
        r = k.control().call(f"{app}.inject", {"conversation": conversation, "text": text, "metadata": metadata})
        self.assertTrue(r["queued"], r)
        return r

    def deliveries(self, app="test-channel-alpha"):
        return [e for e in read_log(self.logs[app]) if e.get("delivered")]

    def wait_delivery(self, content, app="test-channel-alpha", timeout=15):
        return wait_for(lambda: [d for d in self.deliveries(app) if d["content"] == content], timeout,
                        what=f"delivery of {content!r} to {app} (got {self.deliveries(app)})")

    def history(self, k, key):
        return k.control().call("sessions.history", {"key": key})["messages"]


class EndToEndTest(PipelineTest):
    def test_reply_comes_back_to_the_channel_app(self):
        k = self.start()
        r = self.inject(k, "dm-1", "hello there", **{"from": "u1", "messageId": "p-1"})
        self.assertTrue(r["sessionKey"].startswith("agent:default:identity:"))
        d = self.wait_delivery("echo: hello there")[0]
        self.assertEqual(d["target"], "dm-1")
        self.assertEqual(d["metadata"]["sessionKey"], r["sessionKey"])
        self.assertIn("deliveryId", d["metadata"])
        # stored: the user message and the reply, in order, with the run recorded
        msgs = self.history(k, r["sessionKey"])
        self.assertEqual([(m["role"], m["content"]) for m in msgs],
                         [("user", "hello there"), ("assistant", "echo: hello there")])
        self.assertEqual(msgs[0]["address"], "alpha:dm-1")
        runs = k.control().call("sessions.get", {"key": r["sessionKey"]})["runs"]
        self.assertEqual(runs[0]["status"], "done")
        self.assertEqual(runs[0]["model"], "test/gpt-test")
        self.assertEqual(runs[0]["attempts"][0]["status"], "ok")
        # the production client spoke the wire format: system prompt, auth, the user's text
        req = self.llm.requests()[-1]
        self.assertEqual(req["authorization"], "Bearer sk-test")
        self.assertEqual(req["body"]["model"], "gpt-test")
        self.assertEqual(req["body"]["messages"][0]["role"], "system")
        self.assertIn("You are the test agent.", req["body"]["messages"][0]["content"])
        self.assertEqual(req["body"]["messages"][-1], {"role": "user", "content": "hello there"})
        self.assertTrue(req["body"]["stream"])
        # the outbox entry is acknowledged with the platform's id
        entries = wait_for(lambda: [e for e in k.control().call("outbox.list")["entries"] if e["status"] == "delivered"],
                           10, what="the delivery to be acknowledged")
        self.assertTrue(entries[0]["platformMessageId"].startswith("m"))
        # a repeated agent.queue with the same platform message id does not run twice
        again = self.inject(k, "dm-1", "hello there", **{"from": "u1", "messageId": "p-1"})
        self.assertTrue(again.get("duplicate"))
        self.assertEqual(again["runId"], r["runId"])

    def test_message_sending_interceptor_modifies_and_blocks(self):
        for answer, expect in (({"action": "modify", "data": {"content": "MODIFIED"}}, "MODIFIED"),
                               ({"action": "block", "reason": "policy"}, None)):
            with self.subTest(answer=answer["action"]):
                cfg = self.config(apps={"behave": {"trustLevel": "verified", "env": {
                    "TEST_INTERCEPT": json.dumps({"message_sending": answer}),
                    "TEST_ACTIONS": json.dumps([["hook.subscribe", {"events": ["message_sending"]}]])}}})
                k = self.start(cfg, apps=(ALPHA,))
                k.install(BEHAVE)
                k.wait_state("behave", "ready")
                self.inject(k, "dm-2", "ping")
                if expect:
                    self.wait_delivery(expect)
                    self.assertEqual([d["content"] for d in self.deliveries()], ["MODIFIED"])
                else:
                    wait_for(lambda: k.control().call("outbox.list")["entries"][0]["status"] == "blocked", 10,
                             what="outbox entry blocked")
                    entry = k.control().call("outbox.list")["entries"][0]
                    self.assertIn("policy", entry["lastError"])
                    time.sleep(0.3)
                    self.assertEqual(self.deliveries(), [])
                k.cleanup()


class IdentityTest(PipelineTest):
    def test_linked_identities_share_a_session_and_groups_stay_apart(self):
        cfg = self.config(identities={"alice": ["alpha:alice-dm", "beta:alice"]})
        k = self.start(cfg, apps=(ALPHA, BETA))
        a = self.inject(k, "alice-dm", "from alpha", **{"from": "alice"})
        self.wait_delivery("echo: from alpha", "test-channel-alpha")
        b = self.inject(k, "alice", "from beta", app="test-channel-beta", **{"from": "alice"})
        self.wait_delivery("echo: from beta", "test-channel-beta")
        self.assertEqual(a["sessionKey"], "agent:default:identity:alice")
        self.assertEqual(b["sessionKey"], a["sessionKey"])
        msgs = self.history(k, a["sessionKey"])
        self.assertEqual([m["content"] for m in msgs], ["from alpha", "echo: from alpha", "from beta", "echo: from beta"])
        # the reply went to the channel of the latest message only
        self.assertEqual([d["content"] for d in self.deliveries("test-channel-alpha")], ["echo: from alpha"])
        self.assertEqual([d["content"] for d in self.deliveries("test-channel-beta")], ["echo: from beta"])
        # the model saw the whole shared history
        self.assertEqual([m["content"] for m in self.llm.requests()[-1]["body"]["messages"][1:]],
                         ["from alpha", "echo: from alpha", "from beta"])
        # a group the same person writes in is its own session
        g = self.inject(k, "team-room", "in the group", chatType="group", groupId="team-room", **{"from": "alice"})
        self.assertEqual(g["sessionKey"], "agent:default:group:alpha:team-room")
        self.wait_delivery("echo: in the group", "test-channel-alpha")
        self.assertEqual(len(self.history(k, g["sessionKey"])), 2)
        # an unlinked sender is an identity of its own
        other = self.inject(k, "bob-dm", "hi", **{"from": "bob"})
        self.assertEqual(other["sessionKey"], "agent:default:identity:alpha:bob")
        sessions = k.control().call("sessions.list")
        self.assertEqual(sessions["total"], 3)


class ToolLoopTest(PipelineTest):
    def test_app_tool_runs_in_the_app_and_its_result_reaches_the_model(self):
        k = self.start()
        self.llm.script({"match": "weather", "toolCalls": [{"id": "call_w", "name": "lookup_weather",
                                                            "arguments": {"city": "Oslo"}}]})
        self.inject(k, "dm-4", "what is the weather in Oslo?")
        self.wait_delivery("tool result: Sunny in Oslo, 21 C")
        tool_runs = [e for e in read_log(self.logs["test-channel-alpha"]) if e.get("tool")]
        self.assertEqual(tool_runs[0]["input"], {"city": "Oslo"})
        first, second = self.llm.requests()[-2:]
        weather = [t["function"] for t in first["body"]["tools"] if t["function"]["name"] == "lookup_weather"]
        self.assertEqual(weather[0]["parameters"]["required"], ["city"])
        call_msg, result_msg = second["body"]["messages"][-2:]
        self.assertEqual(call_msg["tool_calls"][0]["id"], "call_w")
        self.assertEqual(result_msg, {"role": "tool", "tool_call_id": "call_w", "content": "Sunny in Oslo, 21 C"})
        roles = [m["role"] for m in self.history(k, "alpha:dm-4")]
        self.assertEqual(roles, ["user", "assistant", "tool", "assistant"])

    def test_blocking_before_tool_call_stops_the_tool(self):
        cfg = self.config(apps={"behave": {"trustLevel": "verified", "env": {
            "TEST_INTERCEPT": json.dumps({"before_tool_call": {"action": "block", "reason": "no tools today"}}),
            "TEST_ACTIONS": json.dumps([["hook.subscribe", {"events": ["before_tool_call"]}]])}}})
        k = self.start(cfg)
        k.install(BEHAVE)
        k.wait_state("behave", "ready")
        self.llm.script({"match": "weather", "toolCalls": [{"name": "lookup_weather", "arguments": {"city": "Rome"}}]})
        self.inject(k, "dm-5", "weather in Rome?")
        d = wait_for(lambda: self.deliveries(), 15, what="a reply")
        self.assertIn("blocked", d[0]["content"])
        self.assertIn("no tools today", d[0]["content"])
        self.assertEqual([e for e in read_log(self.logs["test-channel-alpha"]) if e.get("tool")], [])


class FailoverTest(PipelineTest):
    def run_turn(self, k, text):
        r = k.control().call("agent", {"message": text}, timeout=60)
        return r

    def test_retries_honour_retry_after_then_fall_back(self):
        cfg = self.config(agents={"default": {"model": "test/primary", "fallbackModels": ["test/backup"]}},
                          models={"requestTimeoutMs": 1000})
        k = self.start(cfg, apps=())
        err = {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}
        # 429 with Retry-After, then success on the same model
        self.llm.script({"status": 429, "error": err, "retryAfter": "1"}, {"content": "after the wait"})
        t0 = time.monotonic()
        r = self.run_turn(k, "one")
        self.assertEqual(r["status"], "ok", r)
        self.assertEqual(r["text"], "after the wait")
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)  # Retry-After: 1 was honoured
        self.assertEqual([a["status"] for a in r["attempts"]], ["error", "ok"])
        self.assertEqual(r["attempts"][0]["httpStatus"], 429)
        # 500 three times (first try + 2 retries) → the fallback model answers
        self.llm.reset()
        boom = {"message": "boom", "type": "server_error", "code": None}
        self.llm.script(*[{"status": 500, "error": boom}] * 3, {"content": "from backup"})
        r = self.run_turn(k, "two")
        self.assertEqual(r["text"], "from backup")
        self.assertEqual(r["model"], "test/backup")
        self.assertEqual([req["body"]["model"] for req in self.llm.requests()],
                         ["primary", "primary", "primary", "backup"])
        # a hung server times out, is retried, and then answers
        self.llm.reset()
        self.llm.script({"hang": True}, {"content": "after a timeout"})
        r = self.run_turn(k, "three")
        self.assertEqual(r["text"], "after a timeout")
        self.assertEqual(r["attempts"][0]["kind"], "timeout")
        # every model failing → the run fails with the reason, nothing is delivered
        self.llm.reset()
        self.llm.script(*[{"status": 400, "error": {"message": "bad model", "type": "invalid_request_error",
                                                    "code": "model_not_found"}}] * 2)
        r = self.run_turn(k, "four")
        self.assertEqual(r["status"], "error")
        self.assertIn("bad model", r["error"])


class BindingsTest(PipelineTest):
    def test_bindings_select_the_agent(self):
        cfg = self.config(
            agents={"coder": {"model": "test/coder-model", "systemPrompt": "You write code."}},
            bindings=[{"agentId": "coder", "match": {"channel": "alpha", "bodyRegex": "^/code\\b"}},
                      {"agentId": "coder", "match": {"channel": "beta"}}])
        k = self.start(cfg, apps=(ALPHA, BETA))
        c = self.inject(k, "dm-6", "/code fix the bug")
        self.assertEqual(c["sessionKey"], "agent:coder:identity:alpha:dm-6")
        self.wait_delivery("echo: /code fix the bug")
        req = self.llm.requests()[-1]["body"]
        self.assertEqual(req["model"], "coder-model")
        self.assertIn("You write code.", req["messages"][0]["content"])
        d = self.inject(k, "dm-6", "hello")
        self.assertEqual(d["sessionKey"], "agent:default:identity:alpha:dm-6")
        self.wait_delivery("echo: hello")
        self.assertEqual(self.llm.requests()[-1]["body"]["model"], "gpt-test")
        b = self.inject(k, "x", "anything", app="test-channel-beta")
        self.assertTrue(b["sessionKey"].startswith("agent:coder:"))


class CrashSafetyTest(PipelineTest):
    def restart(self, k):
        k.ws = None  # the old connection died with the old kernel
        k.start()
        k.wait_state("test-channel-alpha", "ready", timeout=15)

    def assert_once(self, k, key, text, reply):
        msgs = self.history(k, key)
        self.assertEqual([m["content"] for m in msgs if m["role"] == "user"].count(text), 1, msgs)
        self.assertEqual([m["content"] for m in msgs if m["role"] == "assistant"].count(reply), 1, msgs)
        time.sleep(0.5)  # nothing further arrives
        self.assertEqual([d["content"] for d in self.deliveries()].count(reply), 1, self.deliveries())

    def test_kill_right_after_queued(self):
        k = self.start()
        self.llm.script({"match": "survive", "delayMs": 2000, "content": "survived"},
                        {"match": "survive", "content": "survived"})
        r = self.inject(k, "dm-7", "survive this")
        k.proc.send_signal(signal.SIGKILL)
        k.proc.wait()
        self.restart(k)
        self.wait_delivery("survived")
        self.assert_once(k, r["sessionKey"], "survive this", "survived")

    def test_kill_during_a_run(self):
        k = self.start()
        self.llm.script({"match": "slow", "delayMs": 3000, "content": "finally"},
                        {"match": "slow", "content": "finally"})
        r = self.inject(k, "dm-8", "slow question")
        wait_for(lambda: any(req["body"]["messages"][-1]["content"] == "slow question" for req in self.llm.requests()),
                 10, what="the run to call the model")
        k.proc.send_signal(signal.SIGKILL)
        k.proc.wait()
        self.restart(k)
        self.wait_delivery("finally")
        self.assert_once(k, r["sessionKey"], "slow question", "finally")
        runs = k.control().call("sessions.get", {"key": r["sessionKey"]})["runs"]
        self.assertEqual(runs[0]["resumed"], 1)

    def test_reply_waits_for_the_channel_app_to_come_back(self):
        cfg = self.config(apps={"supervisor": fast_supervisor(restartDelay=2500)})
        k = self.start(cfg)
        self.llm.script({"match": "pending", "delayMs": 800, "content": "worth the wait"})
        r = self.inject(k, "dm-9", "pending reply")
        pid = k.status_of("test-channel-alpha")["pid"]
        os.kill(pid, signal.SIGKILL)
        # the reply is produced while the app is down: it waits in the outbox
        wait_for(lambda: any(e["status"] == "pending" and "no connected app" in (e.get("lastError") or "")
                             for e in k.control().call("outbox.list")["entries"]), 10,
                 what="the reply to wait in the outbox")
        self.assertEqual(self.deliveries(), [])
        k.wait_state("test-channel-alpha", "ready", timeout=15)
        self.wait_delivery("worth the wait")
        self.assert_once(k, r["sessionKey"], "pending reply", "worth the wait")

    def test_failed_delivery_is_retried(self):
        cfg = self.config(apps={"test-channel-alpha": {"env": {"TEST_CHANNEL_FAIL": "1"}}})
        k = self.start(cfg)
        self.inject(k, "dm-10", "retry me")
        self.wait_delivery("echo: retry me")
        failed = [e for e in read_log(self.logs["test-channel-alpha"]) if e.get("failed")]
        self.assertEqual(len(failed), 1)
        entry = wait_for(lambda: [e for e in k.control().call("outbox.list")["entries"] if e["status"] == "delivered"],
                         10, what="the delivery to be acknowledged")[0]
        self.assertEqual(entry["attempts"], 1)


class ControlPlaneTest(PipelineTest):
    def test_cli_agent_and_sessions(self):
        k = self.start(apps=())
        r = k.cli("agent", "-m", "hi from the cli")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "echo: hi from the cli")
        j = json.loads(k.cli("agent", "-m", "again", "--json").stdout)
        self.assertEqual(j["status"], "ok")
        self.assertEqual(j["sessionKey"], "agent:default:main")
        listed = json.loads(k.cli("sessions", "list", "--json").stdout)
        self.assertEqual(listed["sessions"][0]["key"], "agent:default:main")
        self.assertEqual(listed["sessions"][0]["messageCount"], 4)
        shown = k.cli("sessions", "show", "agent:default:main")
        self.assertIn("hi from the cli", shown.stdout)
        branch = json.loads(k.cli("sessions", "branch", "agent:default:main", "--at", "2", "--json").stdout)
        bkey = branch["session"]["key"]
        self.assertEqual(branch["session"]["parentKey"], "agent:default:main")
        self.assertEqual(branch["session"]["messageCount"], 2)
        r = k.cli("agent", "-m", "in the branch", "--session", bkey)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.history(k, bkey)), 4)
        self.assertEqual(len(self.history(k, "agent:default:main")), 4)  # the parent is untouched
        self.assertEqual(k.cli("sessions", "reset", "agent:default:main").returncode, 0)
        self.assertEqual(k.cli("sessions", "show", "agent:default:main").returncode, 1)
        self.assertEqual(k.cli("sessions", "delete", bkey).returncode, 0)
        self.assertEqual(k.cli("sessions", "show", bkey).returncode, 1)

    def test_cli_streams_the_reply_on_a_terminal(self):
        k = self.start(apps=())
        self.llm.script({"content": "one two three four five six", "chunkChars": 4, "chunkDelayMs": 150})
        master, slave = pty.openpty()
        proc = subprocess.Popen([os.environ["OPENCLAW_BIN"], "agent", "-m", "stream to me"], env=k.env(),
                                stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE)
        os.close(slave)
        self.addCleanup(os.close, master)
        seen, first_text_while_running = b"", None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
                if first_text_while_running is None and b"one" in seen:
                    first_text_while_running = proc.poll() is None
            elif proc.poll() is not None:
                break
        err = proc.stderr.read()
        proc.stderr.close()
        self.assertEqual(proc.wait(10), 0, err)
        self.assertTrue(first_text_while_running, "text should appear while the run is still streaming")
        self.assertIn(b"one two three four five six", seen)
        self.assertEqual(seen.count(b"one two"), 1)  # streamed once, not printed again at the end

    def test_idempotent_agent_call_runs_once(self):
        k = self.start(apps=())
        ws = k.control()
        a = ws.call("agent", {"message": "only once", "idempotencyKey": "k-1"}, timeout=30)
        b = ws.call("agent", {"message": "only once", "idempotencyKey": "k-1"}, timeout=30)
        self.assertEqual(a["runId"], b["runId"])
        self.assertEqual(sum(1 for r in self.llm.requests() if r["body"]["messages"][-1]["content"] == "only once"), 1)

    def test_agent_events_stream_the_reply(self):
        k = self.start(apps=())
        ws = k.control()
        self.llm.script({"content": "streamed words arrive", "chunkChars": 4})
        r = ws.call("agent", {"message": "stream please", "idempotencyKey": "s-1"}, timeout=30)
        deltas = []
        while True:
            try:
                e = ws.next_event(timeout=2)
            except (TimeoutError, OSError):
                break
            if e["event"] == "agent" and e["payload"]["runId"] == r["runId"] and e["payload"]["stream"] == "assistant":
                deltas.append(e["payload"]["data"]["delta"])
        self.assertEqual("".join(deltas), "streamed words arrive")
        self.assertGreater(len(deltas), 1)


class StateDatabaseTest(PipelineTest):
    def test_a_database_from_a_newer_build_is_refused_and_left_alone(self):
        k = self.start(apps=())
        k.stop()
        db = os.path.join(k.home, "state.db")
        with sqlite3.connect(db) as c:
            self.assertEqual(c.execute("PRAGMA journal_mode").fetchone()[0], "wal")
            self.assertEqual(oct(os.stat(db).st_mode & 0o777), "0o600")
            c.execute("PRAGMA user_version = 99")
        r = subprocess.run([os.environ["OPENCLAW_BIN"], "gateway"], env=k.env(), capture_output=True, text=True,
                           timeout=20)
        self.assertEqual(r.returncode, 1)
        log = k.output() + r.stdout + r.stderr
        self.assertIn("newer than this build", log)
        with sqlite3.connect(db) as c:
            self.assertEqual(c.execute("PRAGMA user_version").fetchone()[0], 99)

    def test_messages_survive_a_clean_restart(self):
        k = self.start()
        r = self.inject(k, "dm-20", "remember me")
        self.wait_delivery("echo: remember me")
        k.stop()
        k.ws = None
        k.start()
        k.wait_state("test-channel-alpha", "ready")
        self.assertEqual([m["content"] for m in self.history(k, r["sessionKey"])], ["remember me", "echo: remember me"])


class MalformedInputTest(PipelineTest):
    def test_every_pipeline_method_rejects_bad_params(self):
        cfg = self.config(ipc={"allowExternalApps": True}, apps={"outsider": {"trustLevel": "community"}})
        k = self.start(cfg, apps=())
        c = self.ipc(k)
        r = c.request("agent.queue", {"sessionKey": "ext:1", "text": "x"})
        self.assertEqual(r["error"]["code"], "APP_NOT_REGISTERED")
        manifest = {"id": "outsider", "name": "Outsider", "version": "1.0.0", "type": "app", "main": "x",
                    "protocol": {"version": "1.0"}, "capabilities": {"channels": {"provides": ["ext"]}}}
        self.assertTrue(c.request("app.register", {"manifest": manifest})["success"])
        self.assertTrue(c.request("capability.register", {"type": "channel", "config": {"id": "ext"}})["result"]["granted"])
        cases = [
            ("agent.queue", {"text": "x"}, "INVALID_PARAMS", "params.sessionKey"),
            ("agent.queue", {"sessionKey": "no-colon", "text": "x"}, "INVALID_PARAMS", "params.sessionKey"),
            ("agent.queue", {"sessionKey": "ext:1", "text": 5}, "INVALID_PARAMS", "params.text"),
            ("agent.queue", {"sessionKey": "ext:1", "text": "x", "metadata": {"chatType": "weird"}},
             "INVALID_PARAMS", "params.metadata.chatType"),
            ("agent.queue", {"sessionKey": "ext:1", "text": "x", "metadata": "nope"}, "INVALID_PARAMS", "params.metadata"),
            ("agent.queue", {"sessionKey": "ext:1", "text": "x", "metadata": {"channelId": "other"}},
             "INVALID_PARAMS", "params.metadata.channelId"),
            ("agent.queue", {"sessionKey": "alpha:1", "text": "x"}, "CAPABILITY_DENIED", None),
            ("message.dispatch", {"sessionKey": "ext:1"}, "INVALID_PARAMS", "params.content"),
            ("message.dispatch", {"sessionKey": "ext:1", "content": ""}, "INVALID_PARAMS", "params.content"),
            ("message.dispatch", {"sessionKey": "alpha:1", "content": "hi"}, "CAPABILITY_DENIED", None),
            ("message.dispatch", {"sessionKey": "agent:default:nope", "content": "hi"}, "NOT_FOUND", None),
            ("session.get", {}, "INVALID_PARAMS", "params.key"),
            ("session.get", {"key": "alpha:1"}, "CAPABILITY_DENIED", None),
            ("session.list", {"limit": 0}, "INVALID_PARAMS", "params.limit"),
            ("session.list", {"filter": {"active": "yes"}}, "INVALID_PARAMS", "params.filter.active"),
        ]
        for method, params, code, path in cases:
            with self.subTest(method=method, params=params):
                r = c.request(method, params)
                self.assertFalse(r["success"], r)
                self.assertEqual(r["error"]["code"], code, r)
                if path:
                    self.assertEqual(r["error"]["data"]["path"], path, r)
        # and the connection is still fine: a valid message is queued, the session is visible
        ok = c.request("agent.queue", {"sessionKey": "ext:1", "text": "valid"})
        self.assertTrue(ok["result"]["queued"], ok)
        got = c.request("session.get", {"key": "ext:1"})["result"]["session"]
        self.assertEqual(got["key"], "agent:default:identity:ext:1")
        listed = c.request("session.list", {})["result"]
        self.assertEqual(listed["total"], 1)
        d = c.request("message.dispatch", {"sessionKey": "ext:1", "content": "proactive"})
        self.assertTrue(d["result"]["queued"], d)
        # this raw app owns channel ext: the reply and the dispatch both come to it as deliveries,
        # and its hook.result acknowledges them
        seen = []
        deadline = time.monotonic() + 15
        while len(seen) < 2 and time.monotonic() < deadline:
            f = c.next_event(timeout=max(0.1, deadline - time.monotonic()))
            if f["event"] != "hook:message_sending":
                continue
            p = f["payload"]
            self.assertTrue(p["delivery"])
            self.assertEqual((p["data"]["channelId"], p["data"]["target"]), ("ext", "1"))
            seen.append(p["data"]["content"])
            c.send({"id": f"ack{len(seen)}", "type": "request", "timestamp": 0, "method": "hook.result",
                    "params": {"eventId": p["eventId"], "result": {"delivered": True, "messageId": f"x{len(seen)}"}}})
        self.assertEqual(sorted(seen), ["echo: valid", "proactive"])
        wait_for(lambda: all(e["status"] == "delivered" for e in k.control().call("outbox.list")["entries"]), 10,
                 what="both deliveries acknowledged")
        history = [m["content"] for m in self.history(k, got["key"])]
        self.assertIn("proactive", history)


if __name__ == "__main__":
    unittest.main()
