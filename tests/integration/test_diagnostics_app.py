"""The shipped diagnostics app (@openclawos/diagnostics, docs/APP-DIAGNOSTICS.md) in a real
gateway: agent runs against the test LLM server (one failing), /apps/diagnostics/metrics read with
a Prometheus text-format parser written here, an app SIGKILLed to see its restarts counted, the
diagnostics_health tool called by a scripted model, and diagnostics.status over the WebSocket."""
import os
import re
import signal

from harness import Kernel, KernelTest, fast_supervisor, wait_for
from llm_server import LlmServer
from test_app_routes import http_call, run_agent

PACKAGES = os.environ.get("OPENCLAW_PACKAGES", "")
TEST_PACKAGES = os.environ.get("OPENCLAW_TEST_PACKAGES", "")
ALPHA = os.path.join(TEST_PACKAGES, "test-channel-alpha")
DIAG = "@openclawos/diagnostics"
TOKEN = "diag-test-token"

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:{LABEL})(?:,{LABEL})*)?\}})? (\S+)$")
VALUE = re.compile(r"^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$")


def unescape(value):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def parse_exposition(text, test):
    """Parses text format 0.0.4 strictly → {family: {"type", "help", "samples": [(name, labels, value)]}}.
    Every line must be a HELP, a TYPE or a sample of the family whose TYPE came last."""
    families, current = {}, None
    test.assertTrue(text.endswith("\n"), "the exposition ends with a newline")
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            _, kind, name, rest = (line.split(" ", 3) + [""])[:4]
            test.assertRegex(name, rf"^{NAME}$")
            fam = families.setdefault(name, {"samples": []})
            if kind == "TYPE":
                test.assertIn(rest, ("counter", "gauge", "histogram", "summary", "untyped"), line)
                test.assertNotIn("type", fam, f"second TYPE line for {name}")
                fam["type"] = rest
                current = name
            else:
                test.assertTrue(rest, f"empty HELP for {name}")
                fam["help"] = rest
            continue
        m = SAMPLE.match(line)
        test.assertIsNotNone(m, f"not a valid sample line: {line!r}")
        name, labels_text, value = m.group(1), m.group(2) or "", m.group(m.lastindex)
        test.assertRegex(value, VALUE, line)
        labels = {k: unescape(v) for k, v in re.findall(LABEL, labels_text)}
        base = re.sub(r"_(bucket|sum|count)$", "", name) if families.get(current, {}).get("type") == "histogram" else name
        test.assertEqual(base, current, f"sample {name} outside its family's block")
        families[current]["samples"].append((name, labels, float(value)))
    return families


def check_histograms(families, test):
    """Every histogram series: buckets ascending by le, cumulative, +Inf == _count, a _sum."""
    for fam_name, fam in families.items():
        if fam.get("type") != "histogram":
            continue
        series = {}
        for name, labels, value in fam["samples"]:
            key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            s = series.setdefault(key, {"buckets": []})
            if name.endswith("_bucket"):
                s["buckets"].append((float(labels["le"]), value))
            else:
                s[name.rsplit("_", 1)[1]] = value
        for key, s in series.items():
            bounds = [b for b, _ in s["buckets"]]
            counts = [c for _, c in s["buckets"]]
            test.assertEqual(bounds, sorted(bounds), f"{fam_name}{key}: le ascending")
            test.assertEqual(bounds[-1], float("inf"), f"{fam_name}{key}: ends with +Inf")
            test.assertEqual(counts, sorted(counts), f"{fam_name}{key}: cumulative")
            test.assertEqual(counts[-1], s["count"], f"{fam_name}{key}: +Inf bucket == _count")
            test.assertIn("sum", s)


def value_of(families, family, sample=None, **labels):
    for name, l, v in families.get(family, {}).get("samples", []):
        if name == (sample or family) and all(l.get(k) == val for k, val in labels.items()):
            return v
    return None


class DiagnosticsAppTest(KernelTest):
    def setUp(self):
        self.llm = LlmServer.start()
        self.addCleanup(self.llm.stop)

    def start(self):
        cfg = {
            "gateway": {"auth": {"token": TOKEN}},
            "models": {"providers": {"test": {"api": "openai-completions", "baseUrl": self.llm.base_url,
                                              "apiKey": "sk-test"}},
                       "requestTimeoutMs": 5000, "retryBaseDelayMs": 20, "maxRetries": 0},
            "agents": {"default": {"model": "test/gpt-test"}},
            "apps": {"supervisor": fast_supervisor(), DIAG: {"enabled": True}},
        }
        k = Kernel(cfg, env={"OPENCLAWOS_SHIPPED_PACKAGES": PACKAGES})
        self.addCleanup(k.cleanup)
        k.install(ALPHA)
        k.start()
        k.wait_state(DIAG, "ready", timeout=15)
        k.wait_state("test-channel-alpha", "ready")
        return k

    def metrics(self, k):
        status, headers, body = http_call(k.port, "GET", "/apps/diagnostics/metrics", token=TOKEN)
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        families = parse_exposition(body.decode(), self)
        check_histograms(families, self)
        return families

    def test_metrics_health_and_status(self):
        k = self.start()
        ws = k.control()
        # Before any run: valid, with the app series and the start time.
        fams = self.metrics(k)
        self.assertEqual(value_of(fams, "openclaw_app_up", app=DIAG), 1)
        self.assertEqual(fams["openclaw_agent_runs_total"]["type"], "counter")
        self.assertEqual(fams["openclaw_agent_run_duration_seconds"]["type"], "histogram")
        self.assertGreater(value_of(fams, "openclaw_diagnostics_start_time_seconds"), 1.6e9)
        self.assertEqual(value_of(fams, "openclaw_app_state", app="test-channel-alpha", state="ready"), 1)
        self.assertEqual(value_of(fams, "openclaw_app_state", app="test-channel-alpha", state="error"), 0)
        # the route needs the gateway's credentials like every app route
        self.assertEqual(http_call(k.port, "GET", "/apps/diagnostics/metrics", token=None)[0], 401)
        self.assertEqual(http_call(k.port, "POST", "/apps/diagnostics/metrics", body=b"x", token=TOKEN)[0], 405)

        # Two good runs with token usage, one that fails at the provider.
        self.llm.script({"match": "first", "content": "one", "usage": {"prompt_tokens": 11, "completion_tokens": 3}},
                        {"match": "second", "content": "two", "usage": {"prompt_tokens": 13, "completion_tokens": 5}},
                        {"match": "explode", "status": 500, "error": {"message": "upstream exploded"}})
        for text, session, expect in (("first", "agent:default:s1", "ok"), ("second", "agent:default:s2", "ok"),
                                      ("explode", "agent:default:s3", "error")):
            r = run_agent(ws, {"message": text, "sessionKey": session})
            self.assertTrue(r["ok"], r)
            self.assertEqual(r["payload"]["status"], expect, r)

        def counted():
            f = self.metrics(k)
            return f if value_of(f, "openclaw_agent_runs_total", agent="default", result="error") == 1 else None
        fams = wait_for(counted, 10, 0.2, "the failed run to be counted")
        self.assertEqual(value_of(fams, "openclaw_agent_runs_total", agent="default", result="success"), 2)
        self.assertEqual(value_of(fams, "openclaw_agent_tokens_total", agent="default", direction="input"), 24)
        self.assertEqual(value_of(fams, "openclaw_agent_tokens_total", agent="default", direction="output"), 8)
        hist = "openclaw_agent_run_duration_seconds"
        self.assertEqual(value_of(fams, hist, hist + "_count", agent="default"), 3)
        self.assertGreater(value_of(fams, hist, hist + "_sum", agent="default"), 0)
        self.assertEqual(value_of(fams, hist, hist + "_bucket", agent="default", le="+Inf"), 3)

        # An app killed with SIGKILL is restarted by the supervisor: its restarts are counted.
        alpha = k.status_of("test-channel-alpha")
        self.assertEqual(value_of(fams, "openclaw_app_restarts_total", app="test-channel-alpha"), alpha["restartCount"])
        os.kill(alpha["pid"], signal.SIGKILL)
        wait_for(lambda: k.status_of("test-channel-alpha").get("restartCount", 0) > alpha["restartCount"]
                 and k.status_of("test-channel-alpha").get("state") == "ready", 15, 0.1, "alpha to come back")
        fams = wait_for(lambda: (lambda f: f if value_of(f, "openclaw_app_restarts_total", app="test-channel-alpha")
                                 == alpha["restartCount"] + 1 else None)(self.metrics(k)), 10, 0.3,
                        "the restart in the metrics")
        self.assertEqual(value_of(fams, "openclaw_app_up", app="test-channel-alpha"), 1)

        # The agent reads the health summary through the tool.
        self.llm.script({"match": "health", "toolCalls": [{"id": "call_h", "name": "diagnostics_health", "arguments": {}}],
                         "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
                        {"match": "health", "content": "all fine", "usage": {"prompt_tokens": 2, "completion_tokens": 2}})
        r = run_agent(ws, {"message": "how is the system health?", "sessionKey": "agent:default:s4"})
        self.assertEqual(r["payload"]["status"], "ok", r)
        tool_msgs = [m for m in self.llm.requests()[-1]["messages"] if m["role"] == "tool"]
        summary = tool_msgs[-1]["content"]
        self.assertIn("OpenClawOS health:", summary)
        self.assertIn(f"Restarts: test-channel-alpha {alpha['restartCount'] + 1}", summary)
        self.assertIn("errors 1", summary)
        self.assertIn("Agent runs since", summary)
        self.assertRegex(summary, r"p50 \d+\.\d{3} s, p95 \d+\.\d{3} s")
        self.assertIn("upstream exploded", summary)
        self.assertEqual(r["payload"]["text"], "all fine")

        # diagnostics.status: the same as JSON, over the control plane.
        st = wait_for(lambda: (lambda s: s if s["runs"]["total"] == 4 else None)(ws.call("diagnostics.status")),
                      10, 0.2, "the fourth run in diagnostics.status")
        self.assertEqual(st["runs"]["error"], 1)
        self.assertEqual(st["runs"]["byAgent"]["default"]["tokensIn"], 24 + 3)  # the tool run made two calls
        self.assertEqual(st["runs"]["tokens"], {"input": 27, "output": 11})
        self.assertGreater(st["latency"]["p95Ms"], 0)
        self.assertEqual(st["lastError"]["agentId"], "default")
        apps = {a["id"]: a for a in st["apps"]}
        self.assertEqual(apps["test-channel-alpha"]["restartCount"], alpha["restartCount"] + 1)
        self.assertEqual(apps[DIAG]["state"], "ready")
        self.assertEqual(st["appsNotReady"], [])
        self.assertGreaterEqual(st["restartsTotal"], 1)


if __name__ == "__main__":
    import unittest
    unittest.main()
