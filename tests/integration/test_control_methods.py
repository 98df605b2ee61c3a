"""Control-plane methods and events end to end (SPEC §11, docs/CONTROL-PLANE.md): the two-step
`agent` answer, idempotent `agent` and `chat.send`, `chat.history`, `presence`, the `presence`,
`tick` and `health` events, and the CLI's followers (`openclaw logs -f`, `apps logs -f`). A real
kernel, the test LLM server, and raw WebSocket frames where the order of frames matters."""
import json
import os
import subprocess
import threading
import time

from harness import BIN, TEST_APPS, wait_for
from test_pipeline import PipelineTest

BEHAVE = os.path.join(TEST_APPS, "behave")


def agent_events(frames, run_id, stream=None):
    return [f for f in frames if f.get("type") == "event" and f["event"] == "agent"
            and f["payload"]["runId"] == run_id and (stream is None or f["payload"]["stream"] == stream)]


def read_until(ws, predicate, timeout=20):
    """Every frame (responses and events) until one satisfies predicate, that one included."""
    frames, deadline = [], time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching frame within {timeout}s; got {frames[-5:]}")
        f = ws.recv_frame(timeout=left)
        frames.append(f)
        if predicate(f):
            return frames


def lifecycle_over(run_id):
    return lambda f: (f.get("type") == "event" and f["event"] == "agent" and f["payload"]["runId"] == run_id
                      and f["payload"]["stream"] == "lifecycle" and f["payload"]["data"]["phase"] in ("end", "error"))


def events_named_any(ws, names, seconds):
    """(arrival time, event) for the events whose name is in `names` that arrive within `seconds`
    (others are dropped)."""
    out, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            e = ws.next_event(timeout=max(0.01, deadline - time.monotonic()))
        except (TimeoutError, OSError):
            break
        if e["event"] in names:
            out.append((time.monotonic(), e))
    return out


def events_named(ws, name, seconds):
    return events_named_any(ws, (name,), seconds)


class LineCollector:
    """Reads a process's stdout lines on a thread."""

    def __init__(self, proc):
        self.proc, self.lines = proc, []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.thread.join(5)
        self.proc.stdout.close()
        return self.lines


def assert_contiguous(test, printed, full):
    """`printed` is a run of consecutive entries of `full`: nothing printed twice, nothing skipped."""
    test.assertTrue(printed, "nothing printed")
    start = full.index(printed[0])
    test.assertEqual(full[start:start + len(printed)], printed)


class TwoStepAgentTest(PipelineTest):
    def test_agent_is_acknowledged_at_once_then_answered_on_the_same_id(self):
        k = self.start(apps=())
        self.llm.script({"content": "worth the wait", "delayMs": 1500})
        ws = k.client()
        self.addCleanup(ws.close)
        t0 = time.monotonic()
        ws.send_frame({"type": "req", "id": "a1", "method": "agent", "params": {"message": "take your time"}})
        before_ack = read_until(ws, lambda f: f.get("id") == "a1")
        acked_after = time.monotonic() - t0
        ack = before_ack[-1]
        self.assertTrue(ack["ok"], ack)
        self.assertEqual(ack["payload"]["status"], "accepted")
        self.assertEqual(ack["payload"]["sessionKey"], "agent:default:main")
        run_id = ack["payload"]["runId"]
        self.assertIsInstance(run_id, str)
        self.assertLess(acked_after, 1.0, "the acknowledgement must not wait for the model")
        self.assertEqual(agent_events(before_ack, run_id), [])  # acknowledged before the run starts
        rest = read_until(ws, lambda f: f.get("id") == "a1")
        final = rest[-1]
        self.assertGreaterEqual(time.monotonic() - t0, 1.4)
        self.assertTrue(final["ok"], final)
        self.assertEqual(final["payload"]["status"], "ok")
        self.assertEqual(final["payload"]["runId"], run_id)
        self.assertEqual(final["payload"]["text"], "worth the wait")
        phases = [f["payload"]["data"]["phase"] for f in agent_events(rest, run_id, "lifecycle")]
        self.assertEqual(phases[0], "start")
        self.assertEqual(phases[-1], "end")

    def test_errors_before_the_turn_is_queued_come_alone(self):
        k = self.start(apps=())
        ws = k.client()
        self.addCleanup(ws.close)
        r = ws.call_raw("agent", {"message": "hi", "agentId": "nobody"})
        self.assertFalse(r["ok"])
        self.assertEqual(r["error"]["code"], "NOT_FOUND")
        r = ws.call_raw("agent", {"message": ""})
        self.assertEqual(r["error"]["code"], "INVALID_PARAMS")
        self.assertEqual(ws.acks, [])

    def test_a_run_outliving_its_timeout_is_acknowledged_then_times_out(self):
        k = self.start(apps=())
        self.llm.script({"content": "late", "delayMs": 2500})
        ws = k.client()
        self.addCleanup(ws.close)
        r = ws.call_raw("agent", {"message": "hurry", "timeoutMs": 300})
        self.assertEqual(len(ws.acks), 1)
        self.assertFalse(r["ok"])
        self.assertEqual(r["error"]["code"], "TIMEOUT")
        self.assertEqual(r["error"]["data"]["runId"], ws.acks[0]["payload"]["runId"])
        self.assertEqual(ws.acks[0]["id"], r["id"])

    def test_repeated_idempotency_key_acknowledges_the_same_run_and_runs_once(self):
        k = self.start(apps=())
        self.llm.script({"content": "said once", "delayMs": 1000})
        ws = k.client()
        self.addCleanup(ws.close)
        params = {"message": "exactly once", "idempotencyKey": "idem-1"}
        # two calls in flight at once, then a third after the run is over
        ws.send_frame({"type": "req", "id": "x1", "method": "agent", "params": params})
        ws.send_frame({"type": "req", "id": "x2", "method": "agent", "params": params})
        responses = {}
        while sum(len(v) for v in responses.values()) < 4:
            f = ws.recv_frame(timeout=20)
            if f.get("type") == "res":
                responses.setdefault(f["id"], []).append(f)
        self.assertEqual(sorted(responses), ["x1", "x2"])
        for rid in ("x1", "x2"):
            ack, final = responses[rid]
            self.assertEqual(ack["payload"]["status"], "accepted")
            self.assertEqual(final["payload"]["status"], "ok")
            self.assertEqual(final["payload"]["text"], "said once")
        run_ids = {r["payload"]["runId"] for pair in responses.values() for r in pair}
        self.assertEqual(len(run_ids), 1)
        again = ws.call("agent", params)
        self.assertEqual(again["runId"], run_ids.pop())
        self.assertEqual(again["text"], "said once")
        self.assertEqual(ws.acks[-1]["payload"]["runId"], again["runId"])
        sent = [q for q in self.llm.requests() if q["body"]["messages"][-1]["content"] == "exactly once"]
        self.assertEqual(len(sent), 1)

    def test_cli_agent_prints_the_final_answer(self):
        k = self.start(apps=())
        self.llm.script({"content": "from the model", "delayMs": 300})
        r = k.cli("agent", "-m", "cli two-step")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "from the model\n")
        j = json.loads(k.cli("agent", "-m", "json please", "--json").stdout)
        self.assertEqual(j["status"], "ok")
        self.assertEqual(j["text"], "echo: json please")
        r = k.cli("agent", "-m", "nobody home", "--agent", "ghost")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no agent ghost", r.stderr)


class ChatMethodsTest(PipelineTest):
    def test_chat_send_answers_at_once_and_the_reply_streams(self):
        k = self.start(apps=())
        self.llm.script({"content": "a streamed chat reply", "chunkChars": 3, "delayMs": 800})
        ws = k.client()
        self.addCleanup(ws.close)
        t0 = time.monotonic()
        r = ws.call("chat.send", {"message": "hello chat", "idempotencyKey": "chat-1"})
        self.assertLess(time.monotonic() - t0, 0.7, "chat.send must not wait for the run")
        self.assertEqual(r["status"], "started")
        self.assertEqual(r["sessionKey"], "agent:default:main")
        frames = list(ws.events) + read_until(ws, lifecycle_over(r["runId"]))
        ws.events.clear()
        deltas = [f["payload"]["data"]["delta"] for f in agent_events(frames, r["runId"], "assistant")]
        self.assertEqual("".join(deltas), "a streamed chat reply")
        self.assertGreater(len(deltas), 3)
        end = agent_events(frames, r["runId"], "lifecycle")[-1]
        self.assertEqual(end["payload"]["data"]["phase"], "end")
        self.assertEqual(end["payload"]["idempotencyKey"], "chat-1")
        # the same key again: the same run, nothing new runs
        again = ws.call("chat.send", {"message": "hello chat", "idempotencyKey": "chat-1"})
        self.assertEqual(again, r)
        time.sleep(0.5)
        self.assertEqual(len([q for q in self.llm.requests() if q["body"]["messages"][-1]["content"] == "hello chat"]), 1)
        history = ws.call("chat.history")
        self.assertEqual(history["sessionKey"], "agent:default:main")
        self.assertEqual([(m["role"], m["content"]) for m in history["messages"]],
                         [("user", "hello chat"), ("assistant", "a streamed chat reply")])
        self.assertEqual(str(history["messages"][1]["runId"]), r["runId"])  # stored as a number

    def test_chat_send_to_a_named_session_and_bad_input(self):
        k = self.start(apps=())
        ws = k.client()
        self.addCleanup(ws.close)
        r = ws.call("chat.send", {"message": "in a side room", "sessionKey": "agent:default:side"})
        self.assertEqual(r["sessionKey"], "agent:default:side")
        read_until(ws, lifecycle_over(r["runId"]))
        msgs = ws.call("chat.history", {"sessionKey": "agent:default:side"})["messages"]
        self.assertEqual([m["content"] for m in msgs], ["in a side room", "echo: in a side room"])
        self.assertEqual(ws.call("chat.history")["messages"], [])  # the main session is untouched
        self.assertEqual(ws.call_raw("chat.send", {})["error"]["code"], "INVALID_PARAMS")
        self.assertEqual(ws.call_raw("chat.send", {"message": 5})["error"]["code"], "INVALID_PARAMS")
        self.assertEqual(ws.call_raw("chat.send", {"message": "x", "agentId": "ghost"})["error"]["code"], "NOT_FOUND")

    def test_chat_history_defaults_limits_and_unknown_sessions(self):
        k = self.start(apps=())
        ws = k.client()
        self.addCleanup(ws.close)
        self.assertEqual(ws.call("chat.history"), {"sessionKey": "agent:default:main", "messages": []})
        self.assertEqual(ws.call("chat.history", {"sessionKey": "agent:default:nope"}),
                         {"sessionKey": "agent:default:nope", "messages": []})
        self.assertEqual(ws.call("chat.history", {"agentId": "other"}),
                         {"sessionKey": "agent:other:main", "messages": []})
        for text in ("first", "second"):
            self.assertEqual(ws.call("agent", {"message": text})["status"], "ok")
        full = ws.call("chat.history", {"agentId": "default"})["messages"]
        self.assertEqual([m["content"] for m in full], ["first", "echo: first", "second", "echo: second"])
        self.assertEqual([m["seq"] for m in full], sorted(m["seq"] for m in full))
        # the same shape as sessions.history
        self.assertEqual(full, ws.call("sessions.history", {"key": "agent:default:main"})["messages"])
        last = ws.call("chat.history", {"limit": 1})["messages"]
        self.assertEqual([m["content"] for m in last], ["echo: second"])
        self.assertEqual(ws.call_raw("chat.history", {"limit": -1})["error"]["code"], "INVALID_PARAMS")


class EventsTest(PipelineTest):
    def test_presence_method_and_events_on_connect_and_disconnect(self):
        k = self.start(apps=())
        watcher = k.client()
        self.addCleanup(watcher.close)
        clients = watcher.call("presence")["clients"]
        self.assertEqual(len(clients), 1)
        me = clients[0]
        self.assertEqual(me["name"], "integration-test")
        self.assertTrue(me["remote"].startswith("127.0.0.1:"), me)
        self.assertIsInstance(me["connectedAt"], int)
        watcher.events.clear()
        other = k.client()
        joined = wait_for(lambda: [e for _, e in events_named(watcher, "presence", 0.2)], 5, what="presence on connect")
        ids = {c["id"] for c in joined[-1]["payload"]["clients"]}
        self.assertEqual(len(ids), 2)
        self.assertIn(me["id"], ids)
        new_id = (ids - {me["id"]}).pop()
        self.assertEqual({c["id"] for c in watcher.call("presence")["clients"]}, ids)
        other.close()
        left = wait_for(lambda: [e for _, e in events_named(watcher, "presence", 0.2)], 5, what="presence on disconnect")
        self.assertEqual([c["id"] for c in left[-1]["payload"]["clients"]], [me["id"]])
        self.assertNotIn(new_id, [c["id"] for c in watcher.call("presence")["clients"]])

    def test_tick_event(self):
        cfg = self.config()
        cfg.setdefault("gateway", {})["tickIntervalMs"] = 200
        k = self.start(cfg, apps=())
        ws = k.client()
        self.addCleanup(ws.close)
        ticks = []
        deadline = time.monotonic() + 5
        while len(ticks) < 2 and time.monotonic() < deadline:
            ticks += [e for _, e in events_named(ws, "tick", 1)]
        self.assertGreaterEqual(len(ticks), 2, "two ticks within 5 s at gateway.tickIntervalMs 200")
        self.assertGreater(ticks[1]["seq"], ticks[0]["seq"])
        ts = ticks[0]["payload"]["ts"]
        self.assertLess(abs(ts - time.time() * 1000), 5000)
        self.assertIsInstance(ticks[0]["seq"], int)

    def test_health_event_on_app_restart_is_coalesced(self):
        k = self.start(self.config(apps={"behave": {}}), apps=(BEHAVE,))
        watcher = k.client()
        self.addCleanup(watcher.close)
        # Drain the boot-time events: the apps' start may leave a coalesced health event due up to a
        # second after it; the restart below must come more than a second after the last one.
        events_named_any(watcher, {"health", "app", "presence"}, 2.2)
        watcher.events.clear()
        self.assertEqual(k.control().call("apps.restart", {"id": "behave"}), {"ok": True})
        k.wait_state("behave", "ready")
        seen = events_named_any(watcher, {"health", "app"}, 3.0)
        health = [(t, e["payload"]) for t, e in seen if e["event"] == "health"]
        app_changes = [e for _, e in seen if e["event"] == "app"]
        self.assertGreaterEqual(len(app_changes), 3)  # stopping, stopped, starting, ready ...
        self.assertTrue(health, "no health event after the restart")
        self.assertLess(len(health), len(app_changes), "health events are coalesced")
        self.assertEqual(health[0][1]["apps"], {"ready": 0, "total": 1})  # sent at once: the app is down
        self.assertEqual(health[-1][1]["apps"], {"ready": 1, "total": 1})  # the state after the burst
        self.assertTrue(health[-1][1]["ok"])
        for (_, a), (_, b) in zip(health, health[1:]):
            self.assertGreaterEqual(b["uptimeMs"] - a["uptimeMs"], 990)  # at most one per second
        self.assertEqual(set(health[-1][1]), set(k.control().call("health")))


class FollowLogsTest(PipelineTest):
    def test_logs_tail_numbers_lines(self):
        k = self.start(apps=())
        ws = k.control()
        # Startup work (the memory index choosing its vectors) may still be logging: wait for quiet.
        def quiet():
            before = ws.call("logs.tail", {"lines": 1})["next"]
            time.sleep(0.5)
            return ws.call("logs.tail", {"lines": 1})["next"] == before or None
        wait_for(quiet, 10, what="a quiet log")
        tail = ws.call("logs.tail", {"lines": 2})
        self.assertEqual(len(tail["lines"]), 2)
        self.assertGreaterEqual(tail["next"], 2)
        self.assertEqual(ws.call("logs.tail", {"after": tail["next"]})["lines"], [])
        self.assertEqual(k.cli("apps", "install", BEHAVE).returncode, 0)  # logged by the kernel

        def since():
            n = ws.call("logs.tail", {"after": tail["next"]})
            return n if any("installed" in line for line in n["lines"]) else None
        newer = wait_for(since, 10, what="the install in the log")
        self.assertEqual(newer["next"], tail["next"] + len(newer["lines"]))
        self.assertNotIn("skipped", newer)
        one = ws.call("logs.tail", {"after": tail["next"], "lines": 1})
        self.assertEqual(one["lines"], newer["lines"][:1])  # the oldest first
        self.assertEqual(one["next"], tail["next"] + 1)
        self.assertTrue(ws.call("logs.tail", {"after": 10 ** 12})["lines"])  # a counter from another kernel
        self.assertEqual(ws.call_raw("logs.tail", {"after": -1})["error"]["code"], "INVALID_PARAMS")
        self.assertEqual(ws.call_raw("logs.tail", {"after": "x"})["error"]["code"], "INVALID_PARAMS")

    def test_openclaw_logs_follow_prints_each_line_once(self):
        k = self.start(self.config(apps={"behave": {}}), apps=(BEHAVE,))
        follower = LineCollector(subprocess.Popen([BIN, "logs", "-f", "-n", "3"], env=k.env(), stdout=subprocess.PIPE,
                                                  stderr=subprocess.DEVNULL, text=True))
        wait_for(lambda: len(follower.lines) >= 3, 10, what="the first lines")
        for _ in range(3):
            k.control().call("apps.restart", {"id": "behave"})
            time.sleep(0.4)  # restarts spread over several polls
        k.wait_state("behave", "ready")
        wait_for(lambda: sum("app behave is ready" in line for line in follower.lines) >= 3, 10,
                 what="every restart in the follower's output")
        time.sleep(1.5)
        printed = follower.stop()
        full = k.control().call("logs.tail", {"lines": 1000})["lines"]
        assert_contiguous(self, printed, full)
        self.assertEqual(sum("app behave is ready" in line for line in printed),
                         sum("app behave is ready" in line for line in full[full.index(printed[0]):]))

    def test_openclaw_apps_logs_follow(self):
        k = self.start(self.config(apps={"behave": {}}), apps=(BEHAVE,))
        follower = LineCollector(subprocess.Popen([BIN, "apps", "logs", "behave", "-f", "-n", "1"], env=k.env(),
                                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
        wait_for(lambda: follower.lines, 10, what="the last line")
        self.assertEqual(follower.lines, ["READY"])
        for _ in range(2):
            k.control().call("apps.restart", {"id": "behave"})
            k.wait_state("behave", "ready")
        wait_for(lambda: follower.lines.count("READY") >= 3, 10, what="READY after each restart")
        time.sleep(1.5)
        printed = follower.stop()
        self.assertEqual(printed.count("READY"), 3)
        full = k.app_log("behave", 1000)
        self.assertEqual(printed, full[len(full) - len(printed):])
        # the JSON API behind it
        logs = k.control().call("apps.logs", {"id": "behave", "lines": 1})
        self.assertEqual(logs["lines"], ["READY"])
        self.assertEqual(k.control().call("apps.logs", {"id": "behave", "after": logs["next"]})["lines"], [])
        gone = k.control().call_raw("apps.logs", {"id": "ghost", "after": 0})
        self.assertEqual(gone["error"]["code"], "NOT_FOUND")
