"""The `openclaw` command line against a real kernel (SPEC §14, §15)."""
import json
import os
import shutil
import signal
import tempfile
import time
import unittest

from harness import BIN, Kernel, KernelTest, TEST_APPS, fast_supervisor, wait_for

BEHAVE = os.path.join(TEST_APPS, "behave")


class OfflineCliTest(KernelTest):
    def setUp(self):
        self.k = self.kernel(start=False)
        # no OPENCLAW_PORT override here: these tests read what the file says
        self.k.extra_env["OPENCLAW_PORT"] = ""

    def write_manifest(self, m):
        d = tempfile.mkdtemp(dir=self.k.home)
        with open(os.path.join(d, "openclawos.manifest.json"), "w") as f:
            json.dump(m, f)
        return d

    def test_manifest_validate(self):
        ok = self.k.cli("manifest", "validate", BEHAVE)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        with open(os.path.join(BEHAVE, "openclawos.manifest.json")) as f:
            m = json.load(f)
        m["capabilities"]["hooks"]["intercepts"] = ["message_received"]
        m["capabilities"]["gateway"]["methods"] = ["other.ping"]
        m["surprise"] = True
        bad = self.k.cli("manifest", "validate", self.write_manifest(m))
        self.assertEqual(bad.returncode, 1)
        out = bad.stdout + bad.stderr
        self.assertIn('capabilities.hooks.intercepts[0]: "message_received" cannot be intercepted', out)
        self.assertIn("capabilities.gateway.methods[0]", out)
        self.assertIn("surprise", out)  # a warning

    def test_config_validate_lists_every_error_and_kernel_refuses(self):
        with open(os.path.join(self.k.home, "config.json"), "w") as f:
            f.write('{ // comments are fine\n "gateway": {"port": "high", }, "ipc": {"maxFrameBytes": -1}, "nonsense": {} }')
        r = self.k.cli("config", "validate")
        self.assertEqual(r.returncode, 2)
        for path in ("gateway.port", "ipc.maxFrameBytes", "nonsense"):
            self.assertIn(path, r.stderr)
        self.k.start(wait=False)
        self.assertEqual(self.k.proc.wait(10), 2)
        self.assertIn("gateway.port", self.k.output())

    def test_config_get_set_path(self):
        self.assertEqual(self.k.cli("config", "path").stdout.strip(), os.path.join(self.k.home, "config.json"))
        self.assertEqual(self.k.cli("config", "set", "gateway.auth.token", "tok-123").returncode, 0)
        self.assertEqual(json.loads(self.k.cli("config", "get", "gateway.port").stdout), 18789)
        got = self.k.cli("config", "get", "gateway")
        self.assertNotIn("tok-123", got.stdout)
        bad = self.k.cli("config", "set", "gateway.port", "70000")
        self.assertEqual(bad.returncode, 2)
        self.assertEqual(json.loads(self.k.cli("config", "get", "gateway.port").stdout), 18789)

    def identities(self):
        r = self.k.cli("identities", "list", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_identities_link_list_unlink(self):
        path = os.path.join(self.k.home, "config.json")
        with open(path, "w") as f:  # comments and trailing commas are tolerated
            f.write('{ // people\n "identities": {"bob": ["telegram:123", "irc:bob"], "carol": ["irc:carol"]},\n}\n')
        r = self.k.cli("identities", "link", "alice", "telegram:123", "irc:alice", "irc:carol")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("moved telegram:123 from bob to alice", r.stdout)
        self.assertIn("moved irc:carol from carol to alice", r.stdout)
        self.assertIn("removed identity carol", r.stdout)
        linked = {"bob": ["irc:bob"], "alice": ["telegram:123", "irc:alice", "irc:carol"]}
        self.assertEqual(self.identities(), linked)
        with open(path) as f:
            self.assertEqual(json.load(f)["identities"], linked)
        self.assertEqual(self.k.cli("identities", "list").stdout,
                         "bob: irc:bob\nalice: telegram:123, irc:alice, irc:carol\n")
        self.assertEqual(self.k.cli("config", "validate").returncode, 0)

        again = self.k.cli("identities", "link", "alice", "irc:alice", "--json")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(json.loads(again.stdout)["changed"], False)
        moved = json.loads(self.k.cli("identities", "link", "bob", "irc:alice", "--json").stdout)
        self.assertEqual(moved["moved"], [{"address": "irc:alice", "from": "alice"}])
        self.assertEqual(self.identities(), {"bob": ["irc:bob", "irc:alice"], "alice": ["telegram:123", "irc:carol"]})

        not_linked = self.k.cli("identities", "unlink", "alice", "irc:nope")
        self.assertEqual(not_linked.returncode, 1)
        self.assertIn("irc:nope is not linked to alice", not_linked.stderr)
        self.assertEqual(self.k.cli("identities", "unlink", "alice", "irc:carol").returncode, 0)
        self.assertEqual(self.k.cli("identities", "unlink", "bob").returncode, 0)
        self.assertEqual(self.identities(), {"alice": ["telegram:123"]})
        self.assertEqual(self.k.cli("identities", "unlink", "alice", "telegram:123").returncode, 0)
        self.assertEqual(self.identities(), {})
        self.assertEqual(self.k.cli("identities", "unlink", "ghost").returncode, 1)
        self.assertEqual(self.k.cli("config", "validate").returncode, 0)

    def test_identities_link_refuses_bad_input_and_leaves_file_alone(self):
        path = os.path.join(self.k.home, "config.json")
        with open(path, "w") as f:
            f.write('{"identities": {"bob": ["irc:bob"]}}')
        for address in ("telegram", "telegram:", ":123"):
            r = self.k.cli("identities", "link", "alice", "irc:alice", address)
            self.assertEqual(r.returncode, 2, address)
            self.assertIn("is not a conversation address", r.stderr)
        self.assertEqual(self.k.cli("identities", "link", "alice").returncode, 2)  # no address: usage
        with open(path) as f:
            self.assertEqual(f.read(), '{"identities": {"bob": ["irc:bob"]}}')
        # the whole result is validated before writing: an error elsewhere in the file blocks the edit
        broken = '{"gateway": {"port": "high"}, "identities": {"bob": ["irc:bob"]}}'
        with open(path, "w") as f:
            f.write(broken)
        r = self.k.cli("identities", "link", "alice", "irc:alice")
        self.assertEqual(r.returncode, 2)
        self.assertIn("gateway.port", r.stderr)
        with open(path) as f:
            self.assertEqual(f.read(), broken)
        self.assertEqual(self.k.cli("identities", "list").returncode, 2)

    def test_clients_fail_cleanly_without_kernel(self):
        r = self.k.cli("status")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not reachable", r.stderr)

    def test_usage_error_exits_2(self):
        self.assertEqual(self.k.cli("apps", "frobnicate").returncode, 2)


class OnlineCliTest(KernelTest):
    def test_apps_lifecycle_through_cli(self):
        k = self.kernel({"gateway": {"auth": {"token": "cli-token"}},
                         "apps": {"supervisor": fast_supervisor()}})
        self.assertEqual(k.cli("health").returncode, 0)
        status = json.loads(k.cli("status", "--json").stdout)
        self.assertEqual(status["gateway"]["port"], k.port)
        pkg = tempfile.mkdtemp(dir=k.home)
        shutil.rmtree(pkg)
        shutil.copytree(BEHAVE, pkg)
        r = k.cli("apps", "install", pkg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("started", r.stdout)
        k.wait_state("behave", "ready")
        listing = json.loads(k.cli("apps", "list", "--json").stdout)
        self.assertEqual([a["id"] for a in listing["apps"]], ["behave"])
        table = k.cli("apps", "list").stdout
        self.assertIn("behave", table)
        self.assertIn("ready", table)
        info = json.loads(k.cli("apps", "info", "behave", "--json").stdout)
        self.assertEqual(info["trustLevel"], "community")
        logs = k.cli("apps", "logs", "behave", "-n", "5")
        self.assertIn("READY", logs.stdout)
        self.assertEqual(k.cli("apps", "stop", "behave").returncode, 0)
        self.assertEqual(k.status_of("behave")["state"], "stopped")
        self.assertEqual(k.cli("apps", "start", "behave").returncode, 0)
        k.wait_state("behave", "ready")
        self.assertEqual(k.cli("apps", "restart", "behave").returncode, 0)
        k.wait_state("behave", "ready")
        self.assertEqual(k.cli("apps", "uninstall", "behave").returncode, 0)
        self.assertEqual(json.loads(k.cli("apps", "list", "--json").stdout)["apps"], [])
        self.assertFalse(any(os.scandir(os.path.join(k.home, "packages"))))
        tail = k.cli("logs", "-n", "20").stdout
        self.assertIn("uninstalled behave", tail)
        self.assertNotIn("\n\n", tail)
        self.assertEqual(k.cli("apps", "info", "ghost").returncode, 1)

    def test_wrong_token_is_refused(self):
        k = self.kernel({"gateway": {"auth": {"token": "right"}}})
        with self.assertRaises(Exception):
            k.client(token="wrong").call("health")
        self.assertTrue(k.client(token="right").call("health")["ok"])

    def test_browser_origins_are_checked(self):
        k = self.kernel({"gateway": {"cors": {"origins": ["http://dashboard.example"]}}})
        with self.assertRaises(ConnectionError) as refused:
            k.client(origin="http://evil.example")
        self.assertIn("403", str(refused.exception))
        self.assertTrue(k.client(origin=f"http://127.0.0.1:{k.port}").call("health")["ok"])
        self.assertTrue(k.client(origin="http://dashboard.example").call("health")["ok"])
        self.assertTrue(k.client().call("health")["ok"])  # no Origin: not a browser

    def test_sighup_reloads_config(self):
        k = self.kernel({"apps": {"supervisor": fast_supervisor(), "behave": {"enabled": False}}}, apps=[BEHAVE])
        self.assertEqual(k.status_of("behave")["state"], "stopped")
        k.config["apps"]["behave"]["enabled"] = True
        k.write_config()
        k.proc.send_signal(signal.SIGHUP)
        k.wait_state("behave", "ready")
        # an invalid config is refused and the running one stays
        with open(os.path.join(k.home, "config.json"), "w") as f:
            f.write('{"ipc": {"maxFrameBytes": "nope"}}')
        k.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        self.assertTrue(k.control().call("health")["ok"])
        self.assertIn("config reload refused", k.output())

    def test_config_file_is_watched(self):
        k = self.kernel({"apps": {"supervisor": fast_supervisor(), "behave": {"enabled": False}}}, apps=[BEHAVE])
        self.assertEqual(k.status_of("behave")["state"], "stopped")
        r = k.cli("config", "set", "apps.behave.enabled", "true")  # rename over config.json
        self.assertEqual(r.returncode, 0, r.stderr)
        k.wait_state("behave", "ready")
        k.config["apps"]["behave"]["enabled"] = False
        k.write_config()  # an editor writing in place
        k.wait_state("behave", "stopped")

    def test_second_kernel_refuses_same_socket(self):
        k = self.kernel()
        twin = Kernel(home=k.home)
        twin.sock_path = k.sock_path
        twin.start(wait=False)
        self.assertEqual(twin.proc.wait(10), 1)
        self.assertTrue(k.control().call("health")["ok"])


if __name__ == "__main__":
    unittest.main()
