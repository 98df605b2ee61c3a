"""Long-term memory end to end (SPEC §9, docs/CONTROL-PLANE.md, docs/CLI.md): a real gateway with
sqlite-vec loaded from the build's vec0.so and the default offline `local` embedder, the test LLM
server scripting the agent's memory tool calls, and the `openclaw memory` CLI.

- a fact stored with memory_store in one session is found by memory_search from another session on
  another channel, and by memory.search on the control plane;
- the workspace's MEMORY.md and memory/**/*.md are indexed; an edit and a deletion reach the index
  through the watcher; memory.status counts follow;
- embeddings are counted: a forced re-index of unchanged files computes none, identical text in a
  new file comes from the cache;
- memory_get reads a line range and refuses paths outside the memory files;
- a missing or corrupt vec0.so stops the gateway with a message naming the file and the fix, unless
  memory.enabled is false (then memory is off and its tools are not offered);
- the CLI: status, index (report, progress on a pipe and as a bar on a terminal), search;
- the Control UI's memory page in Chromium (tests/ui/memory_ui.mjs): search, expand, agent picker,
  Re-index with live progress."""
import json
import os
import pty
import re
import select
import subprocess
import tempfile
import time
import unittest

from harness import BIN, Kernel, wait_for
from llm_server import LlmServer
from test_control_ui import ARTIFACTS, CHROMIUM, TOKEN, UI_TESTS, browser_missing, http_request
from test_pipeline import ALPHA, PipelineTest

MEMORY_TOOLS = {"memory_search", "memory_get", "memory_store"}
FACT = "I prefer Postgres over MySQL"


def workspace_of(k, agent="default"):
    return os.path.join(k.home, "workspace" if agent == "default" else f"workspace-{agent}")


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def tool_results(ws, name):
    """The `agent` tool-result events of tool `name` the control client kept, as {output, isError}."""
    out = []
    for e in ws.events:
        p = e.get("payload") or {}
        data = p.get("data") or {}
        if e.get("event") == "agent" and p.get("stream") == "tool" and data.get("phase") == "result" \
                and data.get("name") == name:
            out.append(data)
    return out


class MemoryTest(PipelineTest):
    def config(self, **extra):
        cfg = super().config(**extra)
        cfg["agents"]["default"].setdefault("memoryEnabled", True)
        return cfg

    def search(self, k, query, **params):
        return k.control().call("memory.search", {"query": query, **params})["results"]

    def hits(self, k, query, path, word=None, **params):
        """The results of `query` from `path` (whose snippet holds `word`, when given)."""
        return [r for r in self.search(k, query, **params)
                if r["path"] == path and (word is None or word in r["snippet"])]

    def status(self, k):
        return k.control().call("memory.status")

    def idle(self, k, timeout=20):
        """Waits for the background passes (the one at start, the watcher's) to be over."""
        return wait_for(lambda: (lambda s: s if s.get("indexing") is None and s.get("lastIndex") else None)(self.status(k)),
                        timeout, 0.1, "memory indexing to be idle")

    def turn(self, k, message, session="agent:default:main"):
        r = k.control().call("agent", {"message": message, "sessionKey": session}, timeout=60)
        self.assertEqual(r["status"], "ok", r)
        return r

    def offered_tools(self):
        return {t["name"] for t in self.llm.requests()[-1].get("tools") or []}


class StoreAndRecallTest(MemoryTest):
    def test_a_fact_stored_in_one_session_is_recalled_from_another_channel(self):
        k = self.start(apps=(ALPHA,))
        self.llm.script({"match": "remember my database", "toolCalls": [{"name": "memory_store", "arguments": {"text": FACT}}]})
        r = self.turn(k, "remember my database preference")
        self.assertTrue(MEMORY_TOOLS <= self.offered_tools(), self.offered_tools())
        stored = tool_results(k.control(), "memory_store")
        self.assertEqual(len(stored), 1)
        self.assertFalse(stored[0]["isError"], stored[0])
        # a dated entry under memory/ in the workspace
        memdir = os.path.join(workspace_of(k), "memory")
        files = [f for f in os.listdir(memdir) if re.fullmatch(r"\d{4}-\d\d-\d\d\.md", f)]
        self.assertEqual(len(files), 1, os.listdir(memdir))
        with open(os.path.join(memdir, files[0])) as f:
            text = f.read()
        self.assertIn(f"# {files[0][:-3]}", text)
        self.assertRegex(text, r"(?m)^- \d\d:\d\d " + re.escape(FACT) + "$")
        self.assertIn("tool result:", r["text"])

        # another session, on a channel: the agent searches its memory
        self.llm.script({"match": "which database do I prefer",
                         "toolCalls": [{"name": "memory_search", "arguments": {"query": "which database do I prefer"}}]})
        injected = self.inject(k, "dm-memory", "which database do I prefer?", **{"from": "u-mem"})
        self.assertNotEqual(injected["sessionKey"], "agent:default:main")
        delivered = wait_for(lambda: [d for d in self.deliveries() if "Postgres" in d["content"]], 20,
                             what=f"the recalled fact to be delivered (got {self.deliveries()})")
        self.assertTrue(delivered[0]["content"].startswith("tool result:"))
        history = self.history(k, injected["sessionKey"])
        found = [m for m in history if m["role"] == "tool" and m.get("toolName") == "memory_search"]
        self.assertEqual(len(found), 1, history)
        self.assertIn("Postgres", found[0]["content"])
        sent = [m for m in self.llm.requests()[-1]["messages"] if m["role"] == "tool"]
        self.assertIn("Postgres", sent[-1]["content"])  # what the model was given

        # and over the control plane
        results = self.search(k, "which database do I prefer")
        self.assertTrue(results, "memory.search finds the stored fact")
        top = results[0]
        self.assertEqual(top["path"], f"memory/{files[0]}")
        self.assertIn("Postgres", top["snippet"])
        self.assertEqual(top["source"], "memory")
        for key in ("startLine", "endLine", "score", "vectorScore", "textScore"):
            self.assertIn(key, top)
        self.assertLessEqual(top["startLine"], top["endLine"])
        self.assertGreater(top["score"], 0)

    def test_memory_store_refuses_empty_text(self):
        k = self.start(apps=())
        self.llm.script({"match": "store nothing", "toolCalls": [{"name": "memory_store", "arguments": {"text": ""}}]})
        self.turn(k, "store nothing")
        result = tool_results(k.control(), "memory_store")
        self.assertTrue(result and result[0]["isError"], result)
        self.assertFalse(os.path.isdir(os.path.join(workspace_of(k), "memory")) and
                         os.listdir(os.path.join(workspace_of(k), "memory")))


class MemoryGetTest(MemoryTest):
    def test_reads_a_line_range_and_refuses_paths_outside_the_memory_files(self):
        k = self.start(apps=())
        write(os.path.join(workspace_of(k), "MEMORY.md"), "".join(f"memory line {i:02d}\n" for i in range(1, 13)))
        self.llm.script({"match": "read lines", "toolCalls": [{"name": "memory_get", "arguments": {"path": "MEMORY.md", "from": 3, "lines": 2}}]})
        self.turn(k, "read lines please")
        got = tool_results(k.control(), "memory_get")
        self.assertEqual(len(got), 1)
        self.assertFalse(got[0]["isError"], got[0])
        out = got[0]["output"]
        self.assertIn("memory line 03", out)
        self.assertIn("memory line 04", out)
        self.assertNotIn("memory line 02", out)
        self.assertNotIn("memory line 05", out)
        for escape in ("../config.json", "memory/../../config.json", os.path.join(k.home, "config.json"), "AGENTS.md"):
            with self.subTest(path=escape):
                k.control().events.clear()
                self.llm.script({"match": "escape", "toolCalls": [{"name": "memory_get", "arguments": {"path": escape}}]})
                self.turn(k, "escape attempt")
                refused = tool_results(k.control(), "memory_get")
                self.assertEqual(len(refused), 1)
                self.assertTrue(refused[0]["isError"], refused[0])
                self.assertNotIn("sk-test", refused[0]["output"])
                self.assertNotIn("openai-completions", refused[0]["output"])


class WorkspaceIndexTest(MemoryTest):
    MEMORY = "# Household\n\nThe garage door code is flamberge seven.\n"
    NOTE = "# Family\n\nGrandma Wilhelmina celebrates her birthday on the ninth of March.\n"
    EDITED = "# Boats\n\nThe sailboat is moored at pier xylocarp seventeen.\n"

    def start_with_files(self, cfg=None):
        k = Kernel(cfg or self.config(), None)
        self.addCleanup(k.cleanup)
        ws = workspace_of(k)
        write(os.path.join(ws, "MEMORY.md"), self.MEMORY)
        write(os.path.join(ws, "memory", "notes", "x.md"), self.NOTE)
        write(os.path.join(ws, "notes.md"), "Not a memory file: quokkadrome.\n")  # outside MEMORY.md/memory/
        k.start()
        return k, ws

    def test_files_are_indexed_and_edits_and_deletions_follow_through_the_watcher(self):
        k, ws = self.start_with_files()
        report = k.control().call("memory.index", {}, timeout=60)
        self.assertGreaterEqual(report["filesScanned"], 2, report)
        self.assertFalse(report.get("error"), report)
        self.assertTrue(self.hits(k, "garage door code flamberge", "MEMORY.md", "flamberge"))
        self.assertTrue(self.hits(k, "Wilhelmina birthday", "memory/notes/x.md", "Wilhelmina"))
        self.assertFalse([r for r in self.search(k, "quokkadrome") if "quokkadrome" in r["snippet"]],
                         "only MEMORY.md and memory/**/*.md are indexed")
        hit = self.hits(k, "Wilhelmina birthday", "memory/notes/x.md")[0]
        self.assertEqual((hit["startLine"], hit["source"]), (1, "memory"))
        self.assertGreaterEqual(hit["endLine"], 3)
        before = self.idle(k)
        self.assertTrue(before["watching"])
        self.assertGreaterEqual(before["files"], 2)
        self.assertEqual(before["pending"], 0)
        self.assertEqual(before["embedded"], before["chunks"])
        self.assertEqual(sum(w["files"] for w in before["workspaces"]), before["files"])

        write(os.path.join(ws, "memory", "notes", "x.md"), self.EDITED)  # no memory.index: the watcher
        wait_for(lambda: self.hits(k, "sailboat pier xylocarp", "memory/notes/x.md", "xylocarp"), 15, 0.2,
                 "the edited file to be re-indexed")
        self.assertFalse([r for r in self.search(k, "Wilhelmina birthday") if "Wilhelmina" in r["snippet"]])
        self.assertTrue(self.hits(k, "garage door code flamberge", "MEMORY.md", "flamberge"), "other files stay")
        self.assertEqual(self.idle(k)["files"], before["files"])

        os.remove(os.path.join(ws, "memory", "notes", "x.md"))
        wait_for(lambda: not [r for r in self.search(k, "sailboat pier xylocarp") if r["path"] == "memory/notes/x.md"],
                 15, 0.2, "the deleted file to leave the index")
        after = wait_for(lambda: (lambda s: s if s["files"] == before["files"] - 1 else None)(self.status(k)), 15, 0.2,
                         "memory.status to count one file less")
        self.assertLess(after["chunks"], before["chunks"])
        self.assertEqual(after["embedded"], after["chunks"])

        # a new subdirectory is watched as it appears
        write(os.path.join(ws, "memory", "deep", "er", "y.md"), "The lighthouse keeper is named Ottoline.\n")
        wait_for(lambda: self.hits(k, "lighthouse keeper Ottoline", "memory/deep/er/y.md", "Ottoline"), 15, 0.2,
                 "a file in a new subdirectory to be indexed")

    def test_embeddings_of_unchanged_text_are_never_recomputed(self):
        k, ws = self.start_with_files()
        first = k.control().call("memory.index", {}, timeout=60)
        self.assertFalse(first.get("error"), first)
        s1 = self.idle(k)
        computed = s1["embeddingsComputed"]
        self.assertGreaterEqual(computed, 2, s1)  # the two files' chunks were embedded once

        again = k.control().call("memory.index", {"force": True}, timeout=60)
        self.assertEqual(again["embeddingsComputed"], 0, again)
        self.assertGreaterEqual(again["filesScanned"], 2, again)
        s2 = self.idle(k)
        self.assertEqual(s2["embeddingsComputed"], computed)
        self.assertEqual((s2["chunks"], s2["embedded"]), (s1["chunks"], s1["embedded"]))

        # the same text in a new file: a new chunk, its vector from the cache
        write(os.path.join(ws, "memory", "copy.md"), self.NOTE)
        report = k.control().call("memory.index", {}, timeout=60)
        s3 = self.idle(k)
        self.assertEqual(s3["embeddingsComputed"], computed, (report, s3))
        self.assertGreater(s3["embeddingsCached"], s2["embeddingsCached"], (report, s3))
        self.assertGreater(s3["chunks"], s2["chunks"])
        self.assertEqual(s3["pending"], 0)
        # identical chunks are merged in results (de-duplication); the copy is found within its path
        self.assertTrue(self.hits(k, "Wilhelmina birthday", "memory/copy.md", "Wilhelmina", pathPrefix="memory/copy"))

    def test_unknown_agent_and_bad_params(self):
        k, _ = self.start_with_files()
        for params, code in (({"query": "x", "agentId": "nobody"}, "NOT_FOUND"), ({"query": ""}, "INVALID_PARAMS"),
                             ({}, "INVALID_PARAMS")):
            with self.subTest(params=params):
                r = k.control().call_raw("memory.search", params)
                self.assertFalse(r["ok"], r)
                self.assertEqual(r["error"]["code"], code, r)
        r = k.control().call_raw("memory.index", {"agentId": "nobody"})
        self.assertEqual(r["error"]["code"], "NOT_FOUND", r)

    def test_index_broadcasts_progress_events(self):
        k, ws = self.start_with_files()
        self.idle(k)
        for i in range(5):
            write(os.path.join(ws, "memory", f"batch-{i}.md"), f"Batch note {i} about the harbour crane.\n")
        ws_client = k.client()
        self.addCleanup(ws_client.close)
        report = ws_client.call("memory.index", {"force": True}, timeout=60)
        progress = [e["payload"] for e in ws_client.events if e["event"] == "memory.progress"]
        self.assertTrue(progress, "memory.progress events while indexing")
        for p in progress:
            self.assertLessEqual({"agentId", "phase", "filesTotal", "filesDone", "chunksPending", "chunksEmbedded"}, set(p))
            self.assertIn(p["phase"], ("scanning", "embedding", "idle"))
            self.assertLessEqual(p["filesDone"], p["filesTotal"])
        self.assertEqual({p["agentId"] for p in progress}, {"all"})  # no agentId: every workspace
        self.assertEqual(progress[-1]["phase"], "idle")
        self.assertIn("scanning", [p["phase"] for p in progress])
        self.assertGreaterEqual(max(p["filesTotal"] for p in progress), 7)
        self.assertGreaterEqual(report["filesScanned"], 7)

        ws_client.events.clear()
        ws_client.call("memory.index", {"agentId": "default", "force": True}, timeout=60)
        progress = [e["payload"] for e in ws_client.events if e["event"] == "memory.progress"]
        self.assertTrue(progress)
        self.assertEqual({p["agentId"] for p in progress}, {"default"})


class CliTest(MemoryTest):
    def test_status_index_and_search(self):
        cfg = self.config(memory={"watch": False})
        k = Kernel(cfg, None)
        self.addCleanup(k.cleanup)
        write(os.path.join(workspace_of(k), "MEMORY.md"), "The spare key hides under the terracotta heron.\n")
        k.start()
        self.idle(k)

        r = k.cli("memory", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"provider:\s+local")
        self.assertRegex(r.stdout, r"dimensions")
        self.assertRegex(r.stdout, r"watching:\s+no")
        self.assertTrue(workspace_of(k) in r.stdout or os.path.realpath(workspace_of(k)) in r.stdout, r.stdout)
        status = json.loads(k.cli("memory", "status", "--json").stdout)
        self.assertTrue(status["enabled"])
        self.assertEqual(status["provider"], "local")

        write(os.path.join(workspace_of(k), "memory", "cli.md"), "Parcel lockers open with the word marzipan.\n")
        r = k.cli("memory", "index", timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"files: \d+ scanned, 1 changed, 0 removed")
        self.assertRegex(r.stdout, r"embeddings: [1-9]\d* computed")
        self.assertIn("elapsed:", r.stdout)
        self.assertIn("memory index: all agents: scanning", r.stderr)  # a pipe: one line per phase
        self.assertNotIn("\r", r.stderr)

        r = k.cli("memory", "search", "parcel", "lockers", "marzipan")
        self.assertEqual(r.returncode, 0, r.stderr)
        first = r.stdout.splitlines()[0]
        self.assertRegex(first, r"^memory/cli\.md:1-1  \d\.\d{3}  .*marzipan")
        r = k.cli("memory", "search", "terracotta heron", "--json", "--top-k", "1")
        answer = json.loads(r.stdout)
        self.assertEqual(len(answer["results"]), 1)
        self.assertEqual(answer["results"][0]["path"], "MEMORY.md")
        r = k.cli("memory", "search", "zzzqqq nothing like it", "--min-score", "0.99")
        self.assertEqual((r.returncode, r.stdout), (0, "no matches\n"))

        r = k.cli("memory", "index", "--force", "--json", timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["embeddingsComputed"], 0)

    def test_index_draws_a_progress_bar_on_a_terminal(self):
        k = self.start(self.config(memory={"watch": False}), apps=())
        self.idle(k)
        for i in range(4):
            write(os.path.join(workspace_of(k), "memory", f"t{i}.md"), f"Terminal note {i}: the ferry leaves at dawn.\n")
        master, slave = pty.openpty()
        proc = subprocess.Popen([BIN, "memory", "index"], env=k.env(), stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        err = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                err += chunk
            elif proc.poll() is not None:
                break
        out = proc.communicate(timeout=30)[0].decode()
        os.close(master)
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn(b"\r\x1b[K[", err)  # redrawn in place
        self.assertRegex(err.decode(errors="replace"), r"\[#*-*\] all agents: (scanning|embedding) \d+/\d+")
        self.assertIn("4 changed", out)

    def test_usage_errors_and_a_gateway_that_is_not_running(self):
        k = self.kernel(self.config(), start=False)
        r = k.cli("memory", "status")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not reachable", r.stderr)
        for args in (("memory",), ("memory", "search"), ("memory", "search", "x", "--min-score", "2"),
                     ("memory", "search", "x", "--top-k", "0"), ("memory", "index", "--bogus")):
            with self.subTest(args=args):
                self.assertEqual(k.cli(*args).returncode, 2)


class Vec0Test(MemoryTest):
    def refused(self, vec_path):
        k = self.kernel(self.config(memory={"vecExtension": vec_path}), start=False)
        k.start(wait=False)
        try:
            k.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.fail(f"the gateway kept running with vecExtension {vec_path}:\n{k.output()}")
        self.assertNotEqual(k.proc.returncode, 0)
        out = k.output()
        self.assertIn(vec_path, out)
        self.assertTrue("memory.vecExtension" in out and "memory.enabled" in out, out)
        return out

    def test_a_missing_extension_stops_the_gateway_naming_the_file_and_the_fix(self):
        self.refused(os.path.join(tempfile.gettempdir(), f"oc-missing-{os.getpid()}", "no-such-dir", "vec0.so"))

    def test_a_corrupt_extension_stops_the_gateway(self):
        with tempfile.NamedTemporaryFile(prefix="corrupt-vec0-", suffix=".so", delete=False) as f:
            f.write(os.urandom(8192))
        self.addCleanup(os.remove, f.name)
        self.refused(f.name)

    def test_disabled_memory_ignores_the_extension_and_offers_no_tools(self):
        cfg = self.config(memory={"enabled": False, "vecExtension": "/nonexistent/vec0.so"})
        k = self.start(cfg, apps=())
        self.assertEqual(self.status(k), {"enabled": False})
        self.turn(k, "hello without memory")
        self.assertFalse(MEMORY_TOOLS & self.offered_tools(), self.offered_tools())
        r = k.cli("memory", "status")
        self.assertEqual((r.returncode, r.stdout), (0, "memory is disabled (memory.enabled is false in the config)\n"))


class MemoryPageBrowserTest(unittest.TestCase):
    """The memory page in headless Chromium (tests/ui/memory_ui.mjs) against a gateway with two
    agents, each with a MEMORY.md of its own."""

    @classmethod
    def setUpClass(cls):
        reason = browser_missing()
        if reason and os.environ.get("OPENCLAW_REQUIRE_JS_CLIENTS"):
            raise AssertionError(reason)
        if reason:
            raise unittest.SkipTest(reason)
        cls.llm = LlmServer.start()
        config = {
            "gateway": {"auth": {"token": TOKEN}},
            "models": {"providers": {"test": {"api": "openai-completions", "baseUrl": cls.llm.base_url, "apiKey": "sk-test"}}},
            "agents": {"default": {"model": "test/gpt-test", "memoryEnabled": True},
                       "helper": {"model": "test/gpt-test", "memoryEnabled": True}},
        }
        cls.k = Kernel(config)
        try:
            write(os.path.join(workspace_of(cls.k), "MEMORY.md"),
                  "# Garden\n\nThe tomato seedlings go into the greenhouse in April.\n\n"
                  "Water them every morning, but never on cold days.\n")
            write(os.path.join(workspace_of(cls.k, "helper"), "MEMORY.md"), "The helper keeps the invoices in the blue folder.\n")
            cls.k.start()
            if http_request(cls.k.port, "/")[0] != 200:
                raise AssertionError("GET / failed: build the control-ui target")
            cls.k.control().call("memory.index", {}, timeout=60)
        except BaseException:
            cls.k.cleanup()
            cls.llm.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.k.cleanup()
        cls.llm.stop()

    def test_search_expand_pick_an_agent_and_reindex(self):
        e = dict(os.environ)
        e.update({"OC_UI_URL": f"http://127.0.0.1:{self.k.port}", "OC_UI_TOKEN": TOKEN, "OC_UI_ARTIFACTS": ARTIFACTS,
                  "OC_CHROMIUM": CHROMIUM})
        r = subprocess.run(["node", os.path.join(UI_TESTS, "memory_ui.mjs"), "memory"], cwd=UI_TESTS, env=e,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            self.fail(f"browser scenario failed:\n{r.stdout}\n{r.stderr}\n--- kernel output (tail) ---\n{self.k.output()[-4000:]}")
        self.assertIn("scenario memory: ok", r.stdout)
        self.assertTrue(os.path.getsize(os.path.join(ARTIFACTS, "memory-results.png")) > 1000)


if __name__ == "__main__":
    unittest.main()
