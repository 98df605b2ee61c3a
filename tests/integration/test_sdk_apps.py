"""Apps built on the C++ SDK and on the Python SDK, supervised by the real kernel."""
import os
import signal
import time
import unittest

from harness import KernelTest, fast_supervisor, pid_alive, wait_for

EXAMPLES = os.environ.get("OPENCLAW_EXAMPLES", "")
NOTES = os.path.join(EXAMPLES, "notes-example")
ECHO = os.path.join(EXAMPLES, "python-echo")
PROBES = os.environ.get("OPENCLAW_TEST_PACKAGES", "")


class SdkAppsTest(KernelTest):
    def start(self, **apps_cfg):
        k = self.kernel({"apps": {"supervisor": fast_supervisor(), **apps_cfg}}, apps=[NOTES, ECHO])
        k.wait_state("notes-example", "ready")
        k.wait_state("python-echo", "ready")
        return k

    def test_cpp_app_serves_method_and_counts_hooks(self):
        k = self.start()
        ws = k.control()
        before = ws.call("notes-example.count")
        self.assertEqual(before["count"], 0)
        ws.call("hooks.run", {"hook": "agent_end", "data": {"sessionKey": "s", "agentId": "pi", "runId": "r",
                                                            "success": True, "duration": 1}})
        wait_for(lambda: ws.call("notes-example.count")["agentEnds"] == before["agentEnds"] + 1, 5,
                 what="agent_end counted by the C++ app")
        caps = ws.call("apps.info", {"id": "notes-example"})["capabilities"]
        self.assertIn("notes_add", str(caps))
        self.assertTrue(any("notes-example ready" in l for l in k.app_log("notes-example")))

    def test_python_app_serves_method_and_counts_hooks(self):
        k = self.start()
        ws = k.control()
        self.assertTrue(ws.call("python-echo.ping")["pong"])
        ws.call("hooks.run", {"hook": "agent_end", "data": {"sessionKey": "s", "agentId": "pi", "runId": "r",
                                                            "success": True, "duration": 1}})
        wait_for(lambda: ws.call("python-echo.ping")["events"] >= 1, 5, what="agent_end counted by the Python app")
        self.assertIn("py_echo", str(ws.call("apps.info", {"id": "python-echo"})["capabilities"]))

    def test_sdk_apps_stop_cleanly_on_app_shutdown(self):
        k = self.start()
        for app in ("notes-example", "python-echo"):
            pid = k.status_of(app)["pid"]
            t0 = time.monotonic()
            k.control().call("apps.stop", {"id": app})
            self.assertLess(time.monotonic() - t0, 0.9, f"{app} exits on app:shutdown without escalation")
            self.assertFalse(pid_alive(pid))
            self.assertEqual(k.status_of(app)["state"], "stopped")

    def test_sdk_apps_restart_after_crash_and_reregister(self):
        k = self.start()
        for app in ("notes-example", "python-echo"):
            pid = k.status_of(app)["pid"]
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: (s := k.status_of(app)).get("state") == "ready" and s.get("pid") != pid, 10,
                     what=f"{app} back after SIGKILL")
        self.assertTrue(k.control().call("python-echo.ping")["pong"])
        self.assertEqual(k.control().call("notes-example.count")["count"], 0)


class SdkResumeTest(KernelTest):
    """Both SDKs reconnect and resume against the real kernel after their connection breaks."""

    def test_resume_keeps_registrations_and_process(self):
        k = self.kernel({"apps": {"supervisor": fast_supervisor()}, "ipc": {"resumeWindowMs": 5000}},
                        apps=[os.path.join(PROBES, "sdk-probe-cpp"), os.path.join(PROBES, "sdk-probe-py")])
        ws = k.control()
        agent_end = {"hook": "agent_end", "data": {"sessionKey": "s", "agentId": "pi", "runId": "r",
                                                   "success": True, "duration": 1}}
        for app in ("sdk-probe-cpp", "sdk-probe-py"):
            pid = k.wait_state(app, "ready")["pid"]
            self.assertEqual(ws.call(f"{app}.count")["calls"], 1)
            self.assertTrue(ws.call(f"{app}.drop")["dropping"])
            wait_for(lambda: f"app {app} registered (resumed" in k.output(), 10, what=f"{app} to resume")
            # Registrations were kept for it: its method answers again, from the same process.
            resumed = wait_for(lambda: self._try(ws, f"{app}.count"), 10, what=f"{app} method back")
            self.assertEqual(resumed["calls"], 2, "same process, state kept")
            ws.call("hooks.run", agent_end)
            wait_for(lambda: ws.call(f"{app}.count")["agentEnds"] >= 1, 5, what=f"{app} hooks kept")
            st = k.status_of(app)
            self.assertEqual((st["pid"], st["state"], st["restartCount"]), (pid, "ready", 0))

    @staticmethod
    def _try(ws, method):
        f = ws.call_raw(method, {})
        return f["payload"] if f["ok"] else None


if __name__ == "__main__":
    unittest.main()
