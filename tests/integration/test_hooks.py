"""Intercept chains and subscriptions across real app processes (SPEC §6)."""
import json
import os
import time
import unittest

from harness import KernelTest, TEST_APPS, fast_supervisor, wait_for

BEHAVE = os.path.join(TEST_APPS, "behave")
SUBSCRIBE = json.dumps([["hook.subscribe", {"events": ["message_sending", "agent_end"]}]])


def events_seen(kernel, app_id, hook):
    out = []
    for line in kernel.app_log(app_id):
        if line.startswith("EVENT "):
            f = json.loads(line[6:])
            if f["event"] == "hook:" + hook:
                out.append(f["payload"])
    return out


class HookChainTest(KernelTest):
    def chain(self, answers, trust=None, hooks=None, order=None):
        """Starts one behave app per entry of `answers` (app id → message_sending answer)."""
        apps = {"supervisor": fast_supervisor()}
        for app_id, answer in answers.items():
            apps[app_id] = {"grants": ["hooks.intercepts:message_sending"],
                            "env": {"TEST_ACTIONS": SUBSCRIBE, "TEST_INTERCEPT": json.dumps({"message_sending": answer})}}
            if trust and app_id in trust:
                apps[app_id]["trustLevel"] = trust[app_id]
        cfg = {"apps": apps, "hooks": hooks or {}}
        if order:
            cfg["hooks"]["order"] = order
        k = self.kernel(cfg, apps=[(BEHAVE, a) for a in answers])
        for a in answers:
            k.wait_state(a, "ready")
        return k

    def run_hook(self, k, data=None, hook="message_sending"):
        data = data or {"channelId": "testchan", "target": "alice", "content": "hello", "metadata": {}}
        return k.control().call("hooks.run", {"hook": hook, "data": data})

    def test_order_trust_then_config_order_then_registration(self):
        answers = {name: {"action": "modify", "data": {"content": name}} for name in ("zeta", "alpha", "mid")}
        k = self.chain(answers, trust={"mid": "verified"}, order=["zeta", "alpha"])
        out = self.run_hook(k)
        self.assertFalse(out["blocked"])
        # verified "mid" first; then community ones in hooks.order: zeta, alpha.
        self.assertEqual(out["data"]["content"], "alpha")
        self.assertEqual(events_seen(k, "mid", "message_sending")[0]["data"]["content"], "hello")
        self.assertEqual(events_seen(k, "zeta", "message_sending")[0]["data"]["content"], "mid")
        self.assertEqual(events_seen(k, "alpha", "message_sending")[0]["data"]["content"], "zeta")
        self.assertTrue(events_seen(k, "alpha", "message_sending")[0]["intercept"])

    def test_block_stops_the_chain(self):
        k = self.chain({"blocker": {"action": "block", "reason": "spam"}, "after": {"action": "continue"}},
                       order=["blocker", "after"])
        out = self.run_hook(k)
        self.assertTrue(out["blocked"])
        self.assertEqual(out["reason"], "spam")
        self.assertEqual(out["blockedBy"], "blocker")
        time.sleep(0.3)
        self.assertEqual(events_seen(k, "after", "message_sending"), [])

    def test_shorthands(self):
        k = self.chain({"short": {"channelId": "testchan", "target": "bob", "content": "rewritten", "metadata": {}}})
        out = self.run_hook(k)
        self.assertEqual(out["data"]["content"], "rewritten")
        self.assertEqual(out["data"]["target"], "bob")
        k2 = self.chain({"nuller": None})
        out = self.run_hook(k2)
        self.assertTrue(out["blocked"])
        self.assertEqual(out["blockedBy"], "nuller")

    def test_invalid_modification_is_ignored(self):
        k = self.chain({"bad": {"action": "modify", "data": {"content": 42}}})
        out = self.run_hook(k)
        self.assertFalse(out["blocked"])
        self.assertEqual(out["data"]["content"], "hello")

    def test_timeout_fails_open(self):
        k = self.chain({"sleepy": "__timeout__", "next": {"action": "modify", "data": {"content": "after"}}},
                       hooks={"interceptTimeoutMs": 300}, order=["sleepy", "next"])
        t0 = time.monotonic()
        out = self.run_hook(k)
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)
        self.assertFalse(out["blocked"])
        self.assertEqual(out["data"]["content"], "after")

    def test_timeout_fails_closed_when_listed(self):
        k = self.chain({"sleepy": "__timeout__"}, hooks={"interceptTimeoutMs": 300, "failClosed": ["message_sending"]})
        out = self.run_hook(k)
        self.assertTrue(out["blocked"])
        self.assertEqual(out["reason"], "timeout")

    def test_subscribers_get_events(self):
        k = self.chain({"watcher": {"action": "continue"}})
        self.run_hook(k, {"sessionKey": "s", "agentId": "pi", "runId": "r1", "success": True, "duration": 5},
                      hook="agent_completed")  # an alias of agent_end
        seen = wait_for(lambda: events_seen(k, "watcher", "agent_end"), 5, what="agent_end delivered")
        self.assertEqual(seen[0]["hookName"], "agent_end")
        self.assertEqual(seen[0]["data"]["runId"], "r1")
        self.assertNotIn("intercept", seen[0])
        for key in ("eventId", "hookName", "data", "context"):
            self.assertIn(key, seen[0])

    def test_grants_withdrawn_by_config_reload(self):
        k = self.chain({"revoked": {"action": "modify", "data": {"content": "intercepted"}}})
        self.assertEqual(self.run_hook(k)["data"]["content"], "intercepted")
        k.config["apps"]["revoked"]["grants"] = []
        k.write_config()  # the kernel watches its config file
        wait_for(lambda: self.run_hook(k)["data"]["content"] == "hello", 5, what="the intercept grant withdrawn")
        info = k.control().call("apps.info", {"id": "revoked"})
        self.assertNotIn("message_sending", info.get("hooks", []))

    def test_gateway_start_reaches_apps_started_at_boot(self):
        sub = json.dumps([["hook.subscribe", {"events": ["gateway_start"]}]])
        k = self.kernel({"apps": {"supervisor": fast_supervisor(), "boot": {"env": {"TEST_ACTIONS": sub}}}},
                        apps=[(BEHAVE, "boot")])
        seen = wait_for(lambda: events_seen(k, "boot", "gateway_start"), 10, what="gateway_start")
        self.assertEqual(seen[0]["data"]["port"], k.port)


if __name__ == "__main__":
    unittest.main()
