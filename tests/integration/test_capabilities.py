"""Capabilities and grants enforced at run time with real app processes (SPEC §3, §4.2)."""
import json
import os
import unittest

from harness import KernelTest, TEST_APPS, fast_supervisor, wait_for

BEHAVE = os.path.join(TEST_APPS, "behave")


def actions_of(kernel, app_id, count):
    """The app's logged answers to its TEST_ACTIONS, in order."""
    def collect():
        found = [json.loads(l.split(" ", 2)[2]) for l in kernel.app_log(app_id) if l.startswith("ACTION ")]
        return found if len(found) >= count else None
    return wait_for(collect, 10, what=f"{count} action answers from {app_id}")


class CapabilityTest(KernelTest):
    def test_refusals_carry_reasons(self):
        actions = [
            ["capability.register", {"type": "channel", "config": {"id": "testchan"}}],
            ["capability.register", {"type": "channel", "config": {"id": "undeclared"}}],
            ["capability.register", {"type": "gateway_method", "config": {"method": "capy.undeclared"}}],
            ["capability.register", {"type": "tool", "config": {"name": "behave_tool", "description": "t"}}],
            ["hook.subscribe", {"events": ["agent_end", "llm_input", "message_sending", "bogus_hook"]}],
            ["capability.register", {"type": "gateway_method", "config": {"method": "capy.ping"}}],
        ]
        k = self.kernel({"apps": {"supervisor": fast_supervisor(),
                                  "capy": {"env": {"TEST_ACTIONS": json.dumps(actions)}}}},
                        apps=[(BEHAVE, "capy")])
        k.wait_state("capy", "ready")
        chan, undeclared, method, tool, hooks, own_method = [a["result"] for a in actions_of(k, "capy", 6)]
        self.assertTrue(chan["granted"])
        self.assertFalse(undeclared["granted"])
        self.assertIn('channel "undeclared" is not granted', undeclared["reason"])
        self.assertFalse(method["granted"])
        self.assertIn("capy.undeclared", method["reason"])
        self.assertTrue(tool["granted"])
        self.assertEqual(hooks["subscribed"], ["agent_end"])
        self.assertEqual(sorted(hooks["denied"]), ["bogus_hook", "llm_input", "message_sending"])
        self.assertIn("not granted", hooks["reasons"]["message_sending"])  # community: intercepts need a grant
        self.assertTrue(own_method["granted"])
        info = k.control().call("apps.info", {"id": "capy"})
        self.assertEqual(info["trustLevel"], "community")
        self.assertEqual(info["granted"]["hooks"]["intercepts"], [])
        self.assertEqual(info["granted"]["hooks"]["subscribes"], ["agent_end", "gateway_start"])
        self.assertIn("message_sending", json.dumps(info["declared"]))

    def test_unsubscribe(self):
        acts = [["hook.subscribe", {"events": ["agent_end"]}],
                ["hook.unsubscribe", {"events": ["agent_end", "gateway_start"]}],
                ["hook.unsubscribe", {"events": ["agent_completed"]}],
                ["hook.unsubscribe", {"events": ["agent_end"]}]]
        k = self.kernel({"apps": {"supervisor": fast_supervisor(), "unsub": {"env": {"TEST_ACTIONS": json.dumps(acts)}}}},
                        apps=[(BEHAVE, "unsub")])
        k.wait_state("unsub", "ready")
        _, partial, alias, again = actions_of(k, "unsub", 4)
        self.assertEqual(partial["error"]["code"], "HOOK_NOT_SUBSCRIBED")
        self.assertEqual(partial["error"]["data"]["events"], ["gateway_start"])
        self.assertEqual(alias["result"]["unsubscribed"], ["agent_end"])  # nothing changed before
        self.assertEqual(again["error"]["code"], "HOOK_NOT_SUBSCRIBED")

    def test_channel_owned_by_another_app_is_refused(self):
        grab = [["capability.register", {"type": "channel", "config": {"id": "testchan"}}]]
        k = self.kernel({"apps": {"supervisor": fast_supervisor(),
                                  "first": {"env": {"TEST_ACTIONS": json.dumps(grab)}},
                                  "second": {"enabled": False, "env": {"TEST_ACTIONS": json.dumps(grab)}}}},
                        apps=[(BEHAVE, "first"), (BEHAVE, "second")])
        k.wait_state("first", "ready")
        self.assertTrue(actions_of(k, "first", 1)[0]["result"]["granted"])
        k.control().call("apps.start", {"id": "second"})
        k.wait_state("second", "ready")
        refused = actions_of(k, "second", 1)[0]["result"]
        self.assertFalse(refused["granted"])
        self.assertIn("already owned by first", refused["reason"])

    def test_grants_and_denies_from_config(self):
        sub = [["hook.subscribe", {"events": ["message_sending", "agent_end"]}]]
        k = self.kernel({"apps": {"supervisor": fast_supervisor(),
                                  "granted": {"grants": ["hooks.intercepts:message_sending"],
                                              "denies": ["hooks.subscribes:agent_end"],
                                              "env": {"TEST_ACTIONS": json.dumps(sub)}}}},
                        apps=[(BEHAVE, "granted")])
        k.wait_state("granted", "ready")
        r = actions_of(k, "granted", 1)[0]["result"]
        self.assertEqual(r["subscribed"], ["message_sending"])
        self.assertEqual(r["denied"], ["agent_end"])

    def test_untrusted_app_gets_nothing(self):
        acts = [["capability.register", {"type": "channel", "config": {"id": "testchan"}}],
                ["hook.subscribe", {"events": ["agent_end"]}]]
        k = self.kernel({"apps": {"supervisor": fast_supervisor(),
                                  "shady": {"trustLevel": "untrusted", "env": {"TEST_ACTIONS": json.dumps(acts)}}}},
                        apps=[(BEHAVE, "shady")])
        k.wait_state("shady", "ready")
        chan, hooks = [a["result"] for a in actions_of(k, "shady", 2)]
        self.assertFalse(chan["granted"])
        self.assertEqual(hooks["denied"], ["agent_end"])

    def test_config_is_confined_to_own_sections(self):
        acts = [["config.get", {}],
                ["config.get", {"path": "apps.other"}],
                ["config.get", {"path": "gateway"}],
                ["config.get", {"path": "channels.testchan"}],
                ["config.get", {"path": "channels.elsewhere"}],
                ["config.get", {"path": "greeting"}]]
        cfg = {"gateway": {"auth": {"token": "kernel-token"}},
               "channels": {"testchan": {"enabled": True, "botToken": "chan-secret", "mode": "x"},
                            "elsewhere": {"enabled": False}},
               "apps": {"supervisor": fast_supervisor(),
                        "other": {"env": {"X": "other-secret"}},
                        "conf": {"greeting": "hi", "apiKey": "app-secret",
                                 "env": {"TEST_ACTIONS": json.dumps(acts)}}}}
        k = self.kernel(cfg, apps=[(BEHAVE, "conf")])
        k.wait_state("conf", "ready")
        own, other, gw, chan, elsewhere, rel = actions_of(k, "conf", 6)
        self.assertTrue(own["success"])
        self.assertEqual(own["result"]["value"]["greeting"], "hi")
        self.assertNotIn("app-secret", json.dumps(own))
        self.assertEqual(other["error"]["code"], "FORBIDDEN")
        self.assertEqual(gw["error"]["code"], "FORBIDDEN")
        self.assertTrue(chan["success"])
        self.assertEqual(chan["result"]["value"]["mode"], "x")
        self.assertNotIn("chan-secret", json.dumps(chan))
        self.assertEqual(elsewhere["error"]["code"], "FORBIDDEN")
        self.assertEqual(rel["result"]["value"], "hi")
        self.assertNotIn("kernel-token", "\n".join(k.app_log("conf")))


if __name__ == "__main__":
    unittest.main()
