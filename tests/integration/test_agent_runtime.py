"""The agent runtime end to end (SPEC §7.1, §8, §10, §13): chat commands, compaction, the workspace
prompt and SKILL.md skills, built-in tools with exec approvals, kernel tools, cron with catch-up,
heartbeats, and skill/extension packages loaded in-process. A real kernel, the real test-channel app,
and the test LLM server speaking OpenAI's wire format."""
import datetime
import json
import os
import signal
import time

from harness import Kernel, wait_for
from test_pipeline import PipelineTest, read_log

EXAMPLES = os.environ.get("OPENCLAW_EXAMPLES", "")


def texts(request):
    """Every message text the model was sent in one request (system prompt included)."""
    return [m.get("content") or "" for m in request["body"]["messages"]]


class ChatCommandTest(PipelineTest):
    def test_commands_are_answered_by_the_kernel_and_never_reach_the_model(self):
        k = self.start()
        self.inject(k, "dm-c", "hello")
        self.wait_delivery("echo: hello")
        calls = len(self.llm.requests())
        self.inject(k, "dm-c", "/help")
        help_text = wait_for(lambda: [d for d in self.deliveries() if "/compact" in d["content"]], 15, what="/help")
        self.assertIn("/model", help_text[0]["content"])
        self.inject(k, "dm-c", "/status")
        status = wait_for(lambda: [d for d in self.deliveries() if d["content"].startswith("Session:")], 15,
                          what="/status")[0]["content"]
        self.assertIn("Model: test/gpt-test", status)
        self.assertIn("Tokens used:", status)
        self.assertEqual(len(self.llm.requests()), calls)  # no model call for either
        # /model switches this session's model; the model never sees the commands
        self.inject(k, "dm-c", "/model test/gpt-other")
        self.wait_delivery("Model for this session: test/gpt-other.")
        self.inject(k, "dm-c", "and now?")
        self.wait_delivery("echo: and now?")
        req = self.llm.requests()[-1]
        self.assertEqual(req["body"]["model"], "gpt-other")
        self.assertFalse([t for t in texts(req) if t.startswith("/")], texts(req))
        self.inject(k, "dm-c", "/model nope")
        wait_for(lambda: [d for d in self.deliveries() if "is not a model ref" in d["content"]], 15, what="refusal")

    def test_new_starts_a_fresh_session_and_keeps_the_old_one(self):
        k = self.start()
        r = self.inject(k, "dm-n", "remember me")
        self.wait_delivery("echo: remember me")
        self.inject(k, "dm-n", "/new")
        wait_for(lambda: [d for d in self.deliveries() if d["content"].startswith("Started a new session")], 15,
                 what="/new")
        self.inject(k, "dm-n", "who am I?")
        self.wait_delivery("echo: who am I?")
        req = self.llm.requests()[-1]
        self.assertFalse([t for t in texts(req) if "remember me" in t])  # the old history is not sent
        listed = k.control().call("sessions.list", {"all": True})["sessions"]
        ended = [s for s in listed if s["key"] == r["sessionKey"] and not s["active"]]
        self.assertEqual(len(ended), 1)
        self.assertEqual(ended[0]["endReason"], "new")


class CompactionTest(PipelineTest):
    def test_a_session_past_its_window_is_summarised_and_the_facts_survive(self):
        cfg = self.config(models={"catalog": {"test/gpt-test": {"contextWindow": 6000}}},
                          agents={"default": {"model": "test/gpt-test", "systemPrompt": "You are the test agent.",
                                              "compaction": {"threshold": 0.5, "keepRecentTokens": 300}}})
        k = self.start(cfg)
        # the summary request carries the old transcript; the model answers with a summary
        self.llm.script({"match": "Transcript to summarise", "content": "SUMMARY: the user's favourite colour is teal."})
        pad = " ".join(["lorem"] * 250)  # ~1500 characters per message, echoed back by the model
        self.inject(k, "dm-k", "My favourite colour is teal. " + pad)
        self.wait_delivery("echo: My favourite colour is teal. " + pad)
        summarised = lambda: "summary" in [m["role"] for m in self.history(k, "alpha:dm-k")]
        for i in range(8):
            if summarised():
                break
            self.inject(k, "dm-k", f"filler {i} " + pad)
            self.wait_delivery(f"echo: filler {i} " + pad, timeout=20)
        self.assertTrue(summarised(), "the session never passed its compaction threshold")
        summary_req = [q for q in self.llm.requests() if any("Transcript to summarise" in t for t in texts(q))]
        self.assertEqual(len(summary_req), 1)
        self.assertTrue(any("favourite colour is teal" in t for t in texts(summary_req[0])))
        # the originals stay in the database; the summary is stored as its own entry
        roles = [m["role"] for m in self.history(k, "alpha:dm-k")]
        self.assertEqual(roles.count("summary"), 1)
        self.assertEqual(roles[0], "user")
        # the next turn still has the fact, from the summary, and no longer the original message
        self.inject(k, "dm-k", "what is my favourite colour?")
        self.wait_delivery("echo: what is my favourite colour?", timeout=20)
        turn = texts(self.llm.requests()[-1])
        self.assertTrue(any("SUMMARY: the user's favourite colour is teal." in t for t in turn), turn)
        self.assertFalse(any(t.startswith("My favourite colour is teal.") for t in turn))

    def test_compact_command_forces_a_summary(self):
        k = self.start()
        for i in range(3):
            self.inject(k, "dm-f", f"fact number {i} is {i * 7}")
            self.wait_delivery(f"echo: fact number {i} is {i * 7}")
        self.llm.script({"match": "Transcript to summarise", "content": "SUMMARY: facts 0, 7 and 14."})
        self.inject(k, "dm-f", "/compact")
        d = wait_for(lambda: [d for d in self.deliveries() if d["content"].startswith("Compacted")], 20, what="/compact")
        self.assertIn("messages into a summary", d[0]["content"])
        self.inject(k, "dm-f", "next")
        self.wait_delivery("echo: next")
        turn = texts(self.llm.requests()[-1])
        self.assertTrue(any("SUMMARY: facts 0, 7 and 14." in t for t in turn), turn)


class WorkspaceTest(PipelineTest):
    def test_bootstrap_files_and_skills_reach_the_system_prompt(self):
        cfg = self.config()
        k = Kernel(cfg)
        self.addCleanup(k.cleanup)
        skills = os.path.join(k.home, "workspace", "skills")
        for name, requires in (("weather", "sh"), ("broken-tool", "no-such-binary-xyz")):
            os.makedirs(os.path.join(skills, name))
            with open(os.path.join(skills, name, "SKILL.md"), "w") as f:
                f.write(f"---\nname: {name}\ndescription: Use for {name} questions.\n"
                        f"metadata: {{\"openclaw\": {{\"requires\": {{\"bins\": [\"{requires}\"]}}}}}}\n---\n# {name}\n")
        k.start()
        for name in ("AGENTS.md", "SOUL.md", "USER.md", "IDENTITY.md", "TOOLS.md"):
            self.assertTrue(os.path.exists(os.path.join(k.home, "workspace", name)), name)
        with open(os.path.join(k.home, "workspace", "USER.md"), "w") as f:
            f.write("# User\nThe user is called Ada and lives in Turin.\n")
        time.sleep(5.5)  # the prompt parts are re-read at most every 5 s
        r = k.control().call("agent", {"message": "hi"}, timeout=30)
        self.assertEqual(r["status"], "ok", r)
        system = texts(self.llm.requests()[-1])[0]
        self.assertIn("You are the test agent.", system)
        self.assertIn("Ada and lives in Turin", system)
        self.assertIn("weather", system)
        self.assertIn(os.path.join(skills, "weather", "SKILL.md"), system)
        self.assertNotIn("broken-tool", system)  # its binary is missing: not eligible


class ToolsTest(PipelineTest):
    def tool_result(self, k, key, name):
        msgs = [m for m in self.history(k, key) if m["role"] == "tool" and m.get("toolName") == name]
        return msgs[-1]["content"] if msgs else None

    def test_file_tools_stay_inside_the_workspace(self):
        k = self.start()
        self.llm.script({"match": "write it", "toolCalls": [{"name": "write", "arguments": {"path": "notes/a.txt", "content": "hello file"}}]},
                        {"match": "escape", "toolCalls": [{"name": "read", "arguments": {"path": "../config.json"}}]})
        self.inject(k, "dm-t", "write it")
        wait_for(lambda: self.tool_result(k, "alpha:dm-t", "write"), 15, what="write result")
        with open(os.path.join(k.home, "workspace", "notes", "a.txt")) as f:
            self.assertEqual(f.read(), "hello file")
        self.inject(k, "dm-t", "escape")
        out = wait_for(lambda: self.tool_result(k, "alpha:dm-t", "read"), 15, what="read result")
        self.assertIn("escapes the workspace", out)
        self.assertNotIn("models", out)  # nothing of config.json leaked

    def exec_config(self, **exec_cfg):
        cfg = self.config()
        cfg["tools"] = {"exec": exec_cfg}
        return cfg

    def test_exec_asks_and_runs_once_approved(self):
        k = self.start(self.exec_config(security="ask", approvalTimeoutMs=20000))
        self.llm.script({"match": "make a file", "toolCalls": [{"name": "exec", "arguments": {"command": "echo made > made.txt && echo done"}}]})
        events = k.client()
        self.addCleanup(events.close)
        self.inject(k, "dm-e", "make a file")
        pending = wait_for(lambda: k.control().call("approvals.list")["pending"], 15, what="an approval request")
        self.assertEqual(pending[0]["command"], "echo made > made.txt && echo done")
        self.assertFalse(os.path.exists(os.path.join(k.home, "workspace", "made.txt")))  # nothing ran yet
        ev = events.next_event()
        while ev["event"] != "approval":
            ev = events.next_event()
        self.assertEqual(ev["payload"]["request"]["id"], pending[0]["id"])
        r = k.cli("approvals", "approve", pending[0]["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = wait_for(lambda: self.tool_result(k, "alpha:dm-e", "exec"), 15, what="exec result")
        self.assertIn("done", out)
        self.assertTrue(os.path.exists(os.path.join(k.home, "workspace", "made.txt")))
        self.assertEqual(k.control().call("approvals.list")["pending"], [])
        r = k.cli("approvals", "approve", pending[0]["id"])  # already resolved
        self.assertEqual(r.returncode, 1)

    def test_exec_is_denied_when_nobody_answers(self):
        k = self.start(self.exec_config(security="ask", approvalTimeoutMs=400))
        self.llm.script({"match": "delete", "toolCalls": [{"name": "exec", "arguments": {"command": "touch gone.txt"}}]})
        self.inject(k, "dm-d", "delete things")
        out = wait_for(lambda: self.tool_result(k, "alpha:dm-d", "exec"), 15, what="exec result")
        self.assertIn("not approved", out)
        self.assertFalse(os.path.exists(os.path.join(k.home, "workspace", "gone.txt")))

    def test_exec_policies_deny_and_allowlist(self):
        k = self.start(self.exec_config(security="allowlist", allowlist=["echo *"]))
        self.llm.script({"match": "allowed", "toolCalls": [{"name": "exec", "arguments": {"command": "echo fine"}}]},
                        {"match": "sneaky", "toolCalls": [{"name": "exec", "arguments": {"command": "echo x; touch bad.txt"}}]})
        self.inject(k, "dm-p", "allowed")
        self.assertIn("fine", wait_for(lambda: self.tool_result(k, "alpha:dm-p", "exec"), 15, what="exec"))
        self.inject(k, "dm-q", "sneaky")
        out = wait_for(lambda: self.tool_result(k, "alpha:dm-q", "exec"), 15, what="exec")
        self.assertNotIn("fine", out)
        self.assertFalse(os.path.exists(os.path.join(k.home, "workspace", "bad.txt")))
        k.stop()
        k.config["tools"] = {"exec": {"security": "deny"}}
        k.write_config()
        k.start()
        k.wait_state("test-channel-alpha", "ready")
        self.llm.script({"match": "try", "toolCalls": [{"name": "exec", "arguments": {"command": "echo hi"}}]})
        self.inject(k, "dm-r", "try")
        out = wait_for(lambda: self.tool_result(k, "alpha:dm-r", "exec"), 15, what="exec")
        self.assertIn("deny", out.lower())

    def test_per_agent_tool_policy_hides_tools(self):
        cfg = self.config(agents={"default": {"model": "test/gpt-test", "tools": {"deny": ["exec", "write"]}}})
        k = self.start(cfg)
        k.control().call("agent", {"message": "hi"}, timeout=30)
        names = {t["function"]["name"] for t in self.llm.requests()[-1]["body"]["tools"]}
        self.assertNotIn("exec", names)
        self.assertNotIn("write", names)
        self.assertTrue({"read", "ls", "grep", "web_fetch", "sessions_list", "message", "cron", "lookup_weather"} <= names, names)

    def test_message_and_sessions_tools(self):
        k = self.start()
        self.inject(k, "dm-a", "first conversation")
        self.wait_delivery("echo: first conversation")
        self.llm.script({"match": "tell dm-b", "toolCalls": [{"name": "message", "arguments": {"channel": "alpha", "to": "dm-b", "text": "hi from the agent"}}]},
                        {"match": "list them", "toolCalls": [{"name": "sessions_list", "arguments": {}}]})
        self.inject(k, "dm-a", "tell dm-b hello")
        d = self.wait_delivery("hi from the agent")
        self.assertEqual(d[0]["target"], "dm-b")
        self.inject(k, "dm-a", "list them")
        out = wait_for(lambda: self.tool_result(k, "alpha:dm-a", "sessions_list"), 15, what="sessions_list")
        self.assertIn("agent:default:identity:alpha:", out)


class CronTest(PipelineTest):
    def test_a_job_due_while_the_kernel_was_down_runs_once_after_restart(self):
        k = self.start()
        due = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
        at = due.strftime("%Y-%m-%dT%H:%M:%SZ")
        r = k.cli("cron", "add", "--name", "ping", "--at", at, "--message", "cron ping",
                  "--deliver-channel", "alpha", "--deliver-to", "dm-cron", "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        job = json.loads(r.stdout)
        k.stop(signal.SIGKILL)
        time.sleep(max(0.0, (due - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) + 1.5)
        k.start()
        self.wait_delivery("echo: cron ping", timeout=20)
        listed = k.cli("cron", "list", "--json")
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn(job.get("id") or job["job"]["id"], listed.stdout)
        k.stop()
        k.start()
        k.wait_state("test-channel-alpha", "ready")
        time.sleep(2)
        cron_calls = [q for q in self.llm.requests() if any(t == "cron ping" for t in texts(q))]
        self.assertEqual(len(cron_calls), 1)
        self.assertEqual(len([d for d in self.deliveries() if d["content"] == "echo: cron ping"]), 1)

    def test_every_job_runs_repeatedly_and_can_be_removed(self):
        k = self.start()
        r = k.cli("cron", "add", "--name", "tick", "--every", "1s", "--message", "tick tock", "--json")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        job = json.loads(r.stdout)
        job_id = job.get("id") or job["job"]["id"]
        wait_for(lambda: len([q for q in self.llm.requests() if "tick tock" in texts(q)]) >= 2, 15, what="two ticks")
        self.assertEqual(k.cli("cron", "rm", job_id).returncode, 0)
        time.sleep(1.5)
        n = len([q for q in self.llm.requests() if "tick tock" in texts(q)])
        time.sleep(2)
        self.assertEqual(len([q for q in self.llm.requests() if "tick tock" in texts(q)]), n)


class HeartbeatTest(PipelineTest):
    def test_heartbeat_ok_is_not_delivered_anything_else_is(self):
        cfg = self.config(agents={"default": {"model": "test/gpt-test", "heartbeat": {
            "every": "1s", "deliver": {"channel": "alpha", "to": "dm-hb"}}}})
        k = Kernel(cfg)
        self.addCleanup(k.cleanup)
        os.makedirs(os.path.join(k.home, "workspace"))
        with open(os.path.join(k.home, "workspace", "HEARTBEAT.md"), "w") as f:
            f.write("# Heartbeat\n- Remind the user to water the plants on Sundays.\n")
        self.llm.script({"content": "HEARTBEAT_OK"}, {"content": "Reminder: water the plants."})
        self.logs = {"test-channel-alpha": os.path.join(k.home, "apps", "test-channel-alpha", "deliveries.jsonl")}
        k.config.setdefault("apps", {})["test-channel-alpha"] = {"env": {"TEST_CHANNEL_LOG": self.logs["test-channel-alpha"]}}
        k.write_config()
        from test_pipeline import ALPHA
        k.install(ALPHA)
        k.start()
        k.wait_state("test-channel-alpha", "ready")
        d = self.wait_delivery("Reminder: water the plants.", timeout=20)
        self.assertEqual(d[0]["target"], "dm-hb")
        self.assertFalse([x for x in self.deliveries() if "HEARTBEAT_OK" in x["content"]])
        prompt = [q for q in self.llm.requests() if any("water the plants on Sundays" in t for t in texts(q))]
        self.assertTrue(prompt)


class ExtensionTest(PipelineTest):
    def install_examples(self, k, trust):
        for name in ("skill-wordstats", "extension-hello"):
            src = os.path.join(EXAMPLES, name)
            with open(os.path.join(src, "openclawos.manifest.json")) as f:
                app_id = json.load(f)["id"]
            if trust:
                k.config.setdefault("apps", {}).setdefault(app_id, {})["trustLevel"] = trust
            k.install(src)
        k.write_config()

    def test_verified_packages_load_and_work(self):
        k = Kernel(self.config())
        self.addCleanup(k.cleanup)
        self.logs = {"test-channel-alpha": os.path.join(k.home, "apps", "test-channel-alpha", "deliveries.jsonl")}
        k.config.setdefault("apps", {})["test-channel-alpha"] = {"env": {"TEST_CHANNEL_LOG": self.logs["test-channel-alpha"]}}
        self.install_examples(k, "verified")
        from test_pipeline import ALPHA
        k.install(ALPHA)
        k.start()
        k.wait_state("test-channel-alpha", "ready")
        hello = k.control().call("extension-hello.greet", {"name": "Ada"})
        self.assertIn("Ada", hello["greeting"])
        seen = hello["eventsSeen"]
        self.llm.script({"match": "count words", "toolCalls": [{"name": "text_stats", "arguments": {"text": "one two two"}}]})
        self.inject(k, "dm-x", "count words please")
        out = wait_for(lambda: [m for m in self.history(k, "alpha:dm-x") if m["role"] == "tool"], 15, what="tool result")
        self.assertEqual(json.loads(out[0]["content"])["words"], 3)
        wait_for(lambda: k.control().call("extension-hello.greet", {"name": "Ada"})["eventsSeen"] > seen, 10,
                 what="the hook to count the message")

    def test_community_packages_are_refused_with_the_reason(self):
        k = Kernel(self.config())
        self.addCleanup(k.cleanup)
        self.install_examples(k, None)
        k.start()
        info = k.control().call("apps.info", {"id": "extension-hello"})
        self.assertFalse(info["inProcess"]["loaded"])
        self.assertIn("trust", info["inProcess"]["error"])
        self.assertEqual(k.control().call_raw("extension-hello.greet", {})["error"]["code"], "METHOD_NOT_FOUND")

    def test_a_library_built_for_another_abi_is_refused_with_a_clear_error(self):
        from harness import BUILD
        import shutil
        import tempfile
        lib = os.path.join(BUILD, "src", "extensions", "testdata", "oc_ext_wrong_abi.so")
        pkg = tempfile.mkdtemp(prefix="wrong-abi-")
        self.addCleanup(shutil.rmtree, pkg, True)
        shutil.copy(lib, os.path.join(pkg, "libwrong.so"))
        with open(os.path.join(pkg, "openclawos.manifest.json"), "w") as f:
            json.dump({"id": "wrong-abi", "name": "Wrong ABI", "version": "1.0.0", "type": "extension",
                       "main": "libwrong.so", "protocol": {"version": "1.0"},
                       "capabilities": {"gateway": {"methods": ["wrong-abi.ping"]},
                                        "security": {"trustLevel": "verified"}}}, f)
        cfg = self.config(apps={"wrong-abi": {"trustLevel": "verified"}})
        k = Kernel(cfg)
        self.addCleanup(k.cleanup)
        k.install(pkg)
        k.start()
        info = k.control().call("apps.info", {"id": "wrong-abi"})
        self.assertFalse(info["inProcess"]["loaded"])
        self.assertIn("built for extension ABI 2, this kernel speaks 1", info["inProcess"]["error"])
        self.assertIn("wrong-abi", k.output())  # logged as well
        self.assertTrue(k.control().call("health")["ok"])  # the kernel runs on
