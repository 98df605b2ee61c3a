"""Supervisor behaviour with the real kernel and real app processes (SPEC §5)."""
import json
import os
import signal
import time
import unittest

from harness import KernelTest, TEST_APPS, fast_supervisor, pid_alive, wait_for

BEHAVE = os.path.join(TEST_APPS, "behave")


def config_for(apps, **supervisor):
    return {"apps": {"supervisor": fast_supervisor(**supervisor),
                     **{app_id: {"env": {"TEST_BEHAVIOR": behavior}} for app_id, behavior in apps.items()}}}


class SupervisorTest(KernelTest):
    def start_with(self, apps, **supervisor):
        return self.kernel(config_for(apps, **supervisor), apps=[(BEHAVE, app_id) for app_id in apps])

    def test_register_ready_heartbeat(self):
        k = self.start_with({"good": "normal"})
        st = k.wait_state("good", "ready")
        self.assertTrue(pid_alive(st["pid"]))
        first = wait_for(lambda: k.status_of("good").get("lastHeartbeat"), 5, what="a heartbeat")
        wait_for(lambda: k.status_of("good").get("lastHeartbeat", 0) > first, 5, what="a second heartbeat")
        self.assertEqual(k.status_of("good")["restartCount"], 0)
        self.assertIn("memoryRss", k.status_of("good")["resourceUsage"])

    def restarts_observed(self, k, app_id, count, timeout=20):
        """Distinct startedAt values, in order, until `count` restarts were seen."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(seen) < count + 1:
            st = k.status_of(app_id)
            if st.get("startedAt") and (not seen or st["startedAt"] != seen[-1]):
                seen.append(st["startedAt"])
            time.sleep(0.01)
        return seen

    def check_restarted_with_backoff(self, behavior):
        k = self.start_with({"crashy": behavior}, restartDelay=400, maxRestarts=10)
        starts = self.restarts_observed(k, "crashy", 3)
        self.assertGreaterEqual(len(starts), 4, f"restarts seen: {starts}")
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        # Each gap = app lifetime (~start + 0.1 s) + restartDelay × 2^(n-1): 400, 800, 1600 ms. The
        # lifetime varies with load, so the growth is checked with a wide margin (800 expected).
        for n, gap in enumerate(gaps):
            self.assertGreaterEqual(gap, 400 * 2 ** n, f"gaps {gaps}")
        self.assertGreater(gaps[2] - gaps[1], 500, f"backoff not exponential: {gaps}")
        self.assertGreaterEqual(k.status_of("crashy")["restartCount"], 3)

    def test_crash_exit_1_restarts_with_backoff(self):
        self.check_restarted_with_backoff("crash")

    def test_crash_sigsegv_restarts_with_backoff(self):
        self.check_restarted_with_backoff("segv")

    def test_sigkill_from_outside_restarts(self):
        k = self.start_with({"victim": "normal"})
        pid = k.wait_state("victim", "ready")["pid"]
        os.kill(pid, signal.SIGKILL)
        st = wait_for(lambda: (s := k.status_of("victim")).get("state") == "ready" and s.get("pid") != pid and s,
                      10, what="restart after SIGKILL")
        self.assertEqual(st["restartCount"], 1)
        self.assertFalse(pid_alive(pid))

    def test_crash_loop_ends_in_error(self):
        k = self.start_with({"loop": "crash"}, restartDelay=20, backoffMultiplier=1, maxRestarts=3)
        st = wait_for(lambda: (s := k.status_of("loop")).get("state") == "error"
                      and "restart limit" in (s.get("lastError") or "") and s, 20, what="restarts exhausted")
        self.assertEqual(st["restartCount"], 3)
        time.sleep(0.5)  # stays in error: no further restarts
        self.assertEqual(k.status_of("loop")["state"], "error")
        self.assertNotIn("pid", {x: y for x, y in k.status_of("loop").items() if y is not None})
        # an explicit start leaves the error state
        k.control().call("apps.start", {"id": "loop"})
        wait_for(lambda: k.status_of("loop")["state"] in ("starting", "ready"), 5, what="start after error")

    def test_hung_app_is_restarted(self):
        k = self.start_with({"hung": "hang"}, heartbeatTimeout=800, heartbeatInterval=100)
        first = k.wait_state("hung", "ready")["pid"]
        st = wait_for(lambda: (s := k.status_of("hung")).get("restartCount", 0) >= 1 and s, 10,
                      what="restart of the hung app")
        self.assertIn("heartbeat", st.get("lastError") or "")
        self.assertFalse(pid_alive(first))

    def test_start_timeout_kills_and_counts(self):
        k = self.start_with({"slow": "never-ready"}, startTimeout=600, maxRestarts=10)
        first = wait_for(lambda: k.status_of("slow").get("pid"), 5, what="spawn")
        st = wait_for(lambda: (s := k.status_of("slow")).get("restartCount", 0) >= 1 and s, 10, what="start timeout")
        self.assertIn("start", st.get("lastError") or "")
        wait_for(lambda: not pid_alive(first), 3, what="old process gone")

    def test_graceful_stop_sends_app_shutdown(self):
        k = self.start_with({"polite": "normal"})
        pid = k.wait_state("polite", "ready")["pid"]
        t0 = time.monotonic()
        k.control().call("apps.stop", {"id": "polite"})
        self.assertLess(time.monotonic() - t0, 1.0, "a polite app exits on app:shutdown, no escalation")
        self.assertEqual(k.status_of("polite")["state"], "stopped")
        self.assertFalse(pid_alive(pid))
        log = "\n".join(k.app_log("polite"))
        self.assertIn('"event": "app:shutdown"', log)
        self.assertIn("SHUTDOWN", log)
        time.sleep(0.4)
        self.assertEqual(k.status_of("polite")["state"], "stopped", "a requested stop is not restarted")

    def test_app_asking_to_stop_is_not_restarted(self):
        k = self.start_with({"quitter": "self-stop"})
        st = wait_for(lambda: (s := k.status_of("quitter")).get("state") == "stopped" and s.get("startedAt") and s,
                      10, what="the app to stop itself")
        time.sleep(0.5)
        self.assertEqual(k.status_of("quitter")["state"], "stopped")
        self.assertEqual(k.status_of("quitter")["restartCount"], 0)
        self.assertTrue(any('"success": true' in l for l in k.app_log("quitter") if l.startswith("ACTION app.shutdown")))

    def test_stop_escalates_to_sigkill(self):
        k = self.start_with({"stubborn": "ignore-shutdown"}, shutdownTimeout=400, killGrace=300)
        pid = k.wait_state("stubborn", "ready")["pid"]
        t0 = time.monotonic()
        k.control().call("apps.stop", {"id": "stubborn"})
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.65, "waited shutdownTimeout, then SIGTERM grace, then SIGKILL")
        self.assertFalse(pid_alive(pid))
        self.assertEqual(k.status_of("stubborn")["state"], "stopped")

    def test_kernel_sigterm_stops_every_app_and_exits_0(self):
        k = self.start_with({"a1": "normal", "a2": "normal", "a3": "normal"})
        pids = [k.wait_state(a, "ready")["pid"] for a in ("a1", "a2", "a3")]
        self.assertEqual(k.stop(signal.SIGTERM), 0)
        for pid in pids:
            self.assertFalse(pid_alive(pid))
        self.assertFalse(os.path.exists(k.sock_path), "socket removed on clean exit")

    def test_kernel_kill_9_takes_its_apps_and_restarts_clean(self):
        k = self.start_with({"orphan1": "normal", "orphan2": "normal"})
        pids = [k.wait_state(a, "ready")["pid"] for a in ("orphan1", "orphan2")]
        k.ws.close()
        k.ws = None
        k.proc.kill()
        k.proc.wait()
        for pid in pids:
            wait_for(lambda: not pid_alive(pid), 5, what=f"app {pid} to die with the kernel")
        self.assertTrue(os.path.exists(k.sock_path), "kill -9 leaves the socket file behind")
        k.start()  # replaces the stale socket
        for a in ("orphan1", "orphan2"):
            self.assertNotIn(k.wait_state(a, "ready")["pid"], pids)

    def test_one_app_killed_while_others_keep_serving(self):
        k = self.start_with({"left": "normal", "right": "normal"})
        left = k.wait_state("left", "ready")["pid"]
        right = k.wait_state("right", "ready")["pid"]
        os.kill(left, signal.SIGKILL)
        wait_for(lambda: k.status_of("left").get("pid") not in (None, left), 10, what="left restarted")
        self.assertEqual(k.status_of("right")["pid"], right)
        self.assertEqual(k.status_of("right")["state"], "ready")
        self.assertEqual(k.status_of("right")["restartCount"], 0)
        self.assertTrue(k.control().call("health")["ok"])

    def test_environment_is_built_not_inherited(self):
        cfg = config_for({"envy": "normal"})
        k = self.kernel(cfg, apps=[(BEHAVE, "envy")], env={"KERNEL_ONLY_SECRET": "s3cr3t", "TEST_OTHER_ID": "from-kernel"})
        k.wait_state("envy", "ready")
        env_line = next(l for l in k.app_log("envy") if l.startswith("ENV "))
        env = json.loads(env_line[4:])
        self.assertNotIn("KERNEL_ONLY_SECRET", env)
        self.assertEqual(env["TEST_BEHAVIOR"], "normal")  # declared, from apps.<id>.env
        self.assertEqual(env["TEST_OTHER_ID"], "from-kernel")  # declared, from the kernel's env
        self.assertEqual(env["OPENCLAWOS_APP_ID"], "envy")
        self.assertEqual(env["OPENCLAWOS_SOCKET"], k.sock_path)
        self.assertIn("OPENCLAWOS_APP_TOKEN", env)
        self.assertEqual(env["OPENCLAWOS_APP_DATA"], os.path.join(k.home, "apps", "envy"))  # its own directory
        allowed = {"PATH", "HOME", "LANG", "TZ", "OPENCLAWOS_SOCKET", "OPENCLAWOS_APP_ID", "OPENCLAWOS_APP_TOKEN",
                   "OPENCLAWOS_APP_DATA",
                   "TMPDIR", "TMP", "TEMP",  # the sandbox's private temp dir (docs/SANDBOX.md)
                   "ASAN_OPTIONS",  # sandboxed apps of a sanitizer-built kernel only
                   "TEST_BEHAVIOR", "TEST_ACTIONS", "TEST_INTERCEPT", "TEST_OTHER_ID", "PWD", "SHLVL", "_", "LC_CTYPE"}
        self.assertEqual(set(env) - allowed, set(), "only declared variables reach the app")

    def test_dependency_order_and_missing_dependency(self):
        def needs(*ids):
            return lambda m: m.update(dependencies={"apps": list(ids)})
        k = self.kernel(config_for({"base": "normal", "top": "normal", "orphan": "normal"}), start=False)
        k.install(BEHAVE, "top", needs("base"))
        k.install(BEHAVE, "base")
        k.install(BEHAVE, "orphan", needs("ghost"))
        k.start()
        top = k.wait_state("top", "ready")
        base = k.wait_state("base", "ready")
        self.assertLessEqual(base["startedAt"], top["startedAt"])
        self.assertEqual(k.status_of("orphan")["state"], "stopped")
        self.assertIn("missing dependency: orphan requires ghost", k.output())

    def test_app_events_on_state_changes(self):
        k = self.start_with({"evt": "normal"})
        ws = k.client()
        k.wait_state("evt", "ready")
        k.control().call("apps.restart", {"id": "evt"})
        states = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "ready" not in states[1:]:
            e = ws.next_event(5)
            if e["event"] == "app" and e["payload"]["packageId"] == "evt":
                states.append(e["payload"]["state"])
        self.assertIn("stopping", states)
        self.assertEqual(states[-1], "ready")
        ws.close()


if __name__ == "__main__":
    unittest.main()
