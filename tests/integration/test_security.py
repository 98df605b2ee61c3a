"""The audit log, `openclaw logs --audit`, `openclaw security audit` and `openclaw doctor` (issue 8),
black box: the real binary in a temporary home."""
import json
import os
import shutil
import sqlite3
import socket
import stat
import subprocess
import tempfile
import urllib.error
import urllib.request
import unittest

from harness import BIN, Kernel, KernelTest, TEST_APPS, fast_supervisor, wait_for

BEHAVE = os.path.join(TEST_APPS, "behave")
TOKEN = "audit-test-token-0123456789abcdef"


def audit_rows(kernel, *args):
    r = kernel.cli("logs", "--audit", "--json", "-n", "500", *args)
    if r.returncode != 0:
        raise AssertionError(f"logs --audit failed: {r.stdout}{r.stderr}")
    return json.loads(r.stdout)["entries"]


def kinds(rows):
    return [r["kind"] for r in rows]


class AuditLogTest(KernelTest):
    def test_a_session_of_activity_is_in_the_audit_log(self):
        actions = [["capability.register", {"type": "channel", "config": {"id": "undeclared"}}],
                   ["config.get", {"path": "gateway"}]]
        k = self.kernel({"gateway": {"auth": {"token": TOKEN}},
                         "apps": {"supervisor": fast_supervisor(),
                                  "capy": {"env": {"TEST_ACTIONS": json.dumps(actions)}}}},
                        apps=[(BEHAVE, "capy")])
        k.wait_state("capy", "ready")
        # auth failures: a wrong bearer on the HTTP API, a wrong token on the WebSocket
        req = urllib.request.Request(f"http://127.0.0.1:{k.port}/v1/models",
                                     headers={"Authorization": "Bearer wrong-token"})
        with self.assertRaises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=5)
        self.assertEqual(refused.exception.code, 401)
        with self.assertRaises((RuntimeError, ConnectionError)):
            k.client(token="also-wrong")
        # a config change, picked up by the file watcher
        k.config["tools"] = {"exec": {"security": "deny"}}
        k.write_config()

        def has_all():
            rows = audit_rows(k)
            want = {"app.register", "capability.granted", "capability.denied", "auth.failed", "config.changed"}
            return rows if want <= set(kinds(rows)) else None
        rows = wait_for(has_all, 15, 0.3, "the audit rows")

        register = next(r for r in rows if r["kind"] == "app.register")
        self.assertEqual(register["subject"], "capy")
        self.assertEqual(register["detail"]["mode"], "spawned")
        self.assertEqual(register["detail"]["trustLevel"], "community")
        granted = next(r for r in rows if r["kind"] == "capability.granted" and r["subject"] == "capy")
        self.assertIn("channels:testchan", granted["detail"]["granted"])
        denied = [r for r in rows if r["kind"] == "capability.denied" and r["actor"] == "capy"]
        self.assertTrue(any(r["subject"] == "capability.register" and "undeclared" in json.dumps(r["detail"])
                            for r in denied), denied)
        self.assertTrue(any(r["subject"] == "config.get" and r["detail"]["code"] == "FORBIDDEN" for r in denied),
                        denied)
        auth = [r for r in rows if r["kind"] == "auth.failed"]
        self.assertTrue(any(r["actor"] == "http" and r["subject"] == "/v1/models" for r in auth), auth)
        self.assertTrue(any(r["actor"] == "ws" for r in auth), auth)
        changed = next(r for r in rows if r["kind"] == "config.changed")
        self.assertEqual(changed["detail"]["paths"], ["tools.exec"])
        # no credential ever reaches a row
        self.assertNotIn("wrong-token", json.dumps(rows))
        self.assertNotIn("also-wrong", json.dumps(rows))
        self.assertNotIn(TOKEN, json.dumps(rows))

        # --kind selects a group; the text form prints one line per row
        self.assertEqual(set(kinds(audit_rows(k, "--kind", "auth"))), {"auth.failed"})
        text = k.cli("logs", "--audit", "--kind", "config")
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("config.changed", text.stdout)
        self.assertNotIn("auth.failed", text.stdout)

        # an invalid config is rejected and audited with the offending path only
        with open(os.path.join(k.home, "config.json"), "w") as f:
            json.dump({"gateway": {"auth": {"token": TOKEN}}, "tools": {"exec": {"security": "yolo"}}}, f)
        rejected = wait_for(lambda: [r for r in audit_rows(k) if r["kind"] == "config.rejected"], 10, 0.3,
                            "config.rejected")
        self.assertIn("tools.exec.security", rejected[0]["detail"]["paths"])
        self.assertNotIn("yolo", json.dumps(rejected))

        # without a running kernel the CLI reads state.db itself: the same rows
        online = audit_rows(k)
        k.stop()
        offline = audit_rows(k)
        self.assertEqual([r["id"] for r in online], [r["id"] for r in offline[:len(online)]])

    def test_control_method_audit_list_follows_with_after(self):
        k = self.kernel({})
        first = k.control().call("audit.list", {"limit": 10})
        self.assertIn("entries", first)
        k.config["tools"] = {"exec": {"security": "deny"}}
        k.write_config()
        rows = wait_for(lambda: k.control().call("audit.list", {"after": first["next"], "kind": "config"})["entries"],
                        10, 0.2, "config.changed after `next`")
        self.assertEqual(rows[0]["kind"], "config.changed")
        self.assertGreater(rows[0]["id"], first["next"])

    def test_vault_access_is_audited(self):
        k = self.kernel({}, start=False)
        if k.cli("vault", "--help").returncode != 0:
            self.skipTest("`openclaw vault` is not in this build yet")
        env = k.env()
        env["OPENCLAWOS_VAULT_KEY"] = "ab" * 32
        r = subprocess.run([BIN, "vault", "set", "AUDITED_NAME"], input="s3cret-value\n", env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rows = audit_rows(k)
        self.assertIn("vault.set", kinds(rows))
        self.assertIn("AUDITED_NAME", json.dumps(rows))
        self.assertNotIn("s3cret-value", json.dumps(rows))


class SecurityAuditTest(unittest.TestCase):
    def setUp(self):
        self.k = Kernel({"gateway": {"host": "0.0.0.0"}})
        self.addCleanup(self.k.cleanup)
        self.config_path = os.path.join(self.k.home, "config.json")

    def audit(self):
        r = self.k.cli("security", "audit", "--json")
        self.assertIn(r.returncode, (0, 1), r.stderr)
        return r.returncode, {f["id"]: f for f in json.loads(r.stdout)["findings"]}

    def test_open_config_and_unauthenticated_network_bind_are_found_then_fixed(self):
        os.chmod(self.config_path, 0o644)
        rc, findings = self.audit()
        self.assertEqual(rc, 1)
        self.assertEqual(findings["gateway.bind"]["severity"], "critical")
        self.assertEqual(findings["perm.config"]["severity"], "high")
        self.assertIn("chmod 600", findings["perm.config"]["fix"])
        for f in findings.values():
            self.assertTrue(set(f) >= {"id", "severity", "title", "detail", "fix"})
        text = self.k.cli("security", "audit")
        self.assertEqual(text.returncode, 1)
        self.assertIn("CRITICAL", text.stdout)

        os.chmod(self.config_path, 0o600)
        self.k.config = {"gateway": {"host": "127.0.0.1"}}
        self.k.write_config()
        os.chmod(self.config_path, 0o600)
        rc, findings = self.audit()
        self.assertEqual(rc, 0, findings)
        self.assertNotIn("perm.config", findings)
        self.assertEqual(findings["gateway.auth"]["severity"], "low")

    def test_exec_full_external_apps_and_short_token(self):
        self.k.config = {"gateway": {"host": "0.0.0.0", "auth": {"token": "tiny1"}},
                         "tools": {"exec": {"security": "full"}}, "ipc": {"allowExternalApps": True}}
        self.k.write_config()
        os.chmod(self.config_path, 0o600)
        rc, findings = self.audit()
        self.assertEqual(rc, 1)
        self.assertEqual(findings["exec.tools.exec.security"]["severity"], "high")
        self.assertEqual(findings["gateway.bind"]["severity"], "medium")
        self.assertEqual(findings["gateway.auth.token"]["severity"], "medium")
        self.assertEqual(findings["ipc.allowExternalApps"]["severity"], "medium")
        self.assertNotIn("tiny1", json.dumps(findings))  # never the value

    def test_apps_with_intercept_grants_and_unsandboxed_community_apps(self):
        self.k.config = {"apps": {"guard": {"grants": ["hooks.intercepts:*"], "sandboxed": False}}}
        self.k.write_config()
        os.chmod(self.config_path, 0o600)

        def patch(m):
            m["capabilities"]["hooks"] = {"intercepts": ["message_sending"]}
        self.k.install(BEHAVE, "guard", manifest_patch=patch)
        _, findings = self.audit()
        self.assertEqual(findings["apps.intercept.guard"]["severity"], "medium")
        self.assertIn("hooks.intercepts:message_sending", findings["apps.intercept.guard"]["detail"])
        self.assertEqual(findings["apps.unsandboxed.guard"]["severity"], "medium")


class DoctorTest(unittest.TestCase):
    def setUp(self):
        self.k = Kernel({})
        self.addCleanup(self.k.cleanup)

    def doctor(self, *args):
        r = self.k.cli("doctor", "--json", *args)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        return r.returncode, {c["id"]: c for c in json.loads(r.stdout)["checks"]}

    def test_stale_socket_is_found_and_removed_with_fix(self):
        os.makedirs(os.path.dirname(self.k.sock_path), mode=0o700)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.k.sock_path)
        s.close()  # the file stays, nobody accepts: what a killed kernel leaves behind
        _, checks = self.doctor()
        self.assertEqual(checks["socket"]["status"], "warn")
        self.assertIn("stale", checks["socket"]["detail"])
        self.assertTrue(os.path.exists(self.k.sock_path))
        _, checks = self.doctor("--fix")
        self.assertEqual(checks["socket"]["status"], "ok")
        self.assertIn("removed", checks["socket"]["fixed"])
        self.assertFalse(os.path.exists(self.k.sock_path))

    def test_corrupted_database_is_an_error(self):
        self.k.start()
        self.k.stop()
        rc, checks = self.doctor()
        self.assertEqual(checks["database"]["status"], "ok", checks["database"])
        other = Kernel({})
        self.addCleanup(other.cleanup)
        db = os.path.join(other.home, "state.db")
        original = sqlite3.connect(os.path.join(self.k.home, "state.db"))
        original.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
        original.close()
        shutil.copy(os.path.join(self.k.home, "state.db"), db)
        size = os.path.getsize(db)
        self.assertGreater(size, 4096)
        with open(db, "r+b") as f:  # keep the header, garble every page after the first
            f.seek(4096)
            f.write(bytes((i * 37 + 11) % 256 for i in range(max(0, size - 4096))))
        r = other.cli("doctor", "--json")
        self.assertEqual(r.returncode, 1, r.stdout)
        checks = {c["id"]: c for c in json.loads(r.stdout)["checks"]}
        self.assertEqual(checks["database"]["status"], "error")
        self.assertIn("restore a backup", checks["database"]["fix"])

    def test_fix_makes_an_open_home_private(self):
        os.chmod(self.k.home, 0o755)
        os.chmod(os.path.join(self.k.home, "config.json"), 0o644)
        _, checks = self.doctor()
        self.assertEqual(checks["perm.home"]["status"], "warn")
        self.assertEqual(checks["perm.config"]["status"], "warn")
        _, checks = self.doctor("--fix")
        self.assertEqual(checks["perm.home"]["status"], "ok")
        self.assertIn("chmod 700", checks["perm.home"]["fixed"])
        self.assertEqual(stat.S_IMODE(os.stat(self.k.home).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(self.k.home, "config.json")).st_mode), 0o600)

    def test_config_errors_and_a_foreign_port_are_reported(self):
        with open(os.path.join(self.k.home, "config.json"), "w") as f:
            f.write('{"tools": {"exec": {"security": "yolo"}}}')
        rc, checks = self.doctor()
        self.assertEqual(rc, 1)
        self.assertEqual(checks["config"]["status"], "error")
        self.assertIn("tools.exec.security", checks["config"]["detail"])
        self.k.write_config()
        squatter = socket.socket()
        squatter.bind(("127.0.0.1", self.k.port))
        squatter.listen(1)
        self.addCleanup(squatter.close)
        rc, checks = self.doctor()
        self.assertEqual(checks["port"]["status"], "error", checks["port"])
        self.assertEqual(rc, 1)

    def test_a_running_kernel_is_fine(self):
        self.k.start()
        rc, checks = self.doctor()
        self.assertEqual(checks["socket"]["status"], "ok")
        self.assertEqual(checks["port"]["status"], "ok", checks["port"])
        self.assertEqual(checks["vec0"]["status"], "ok", checks["vec0"])
        self.assertEqual(rc, 0, checks)


if __name__ == "__main__":
    unittest.main()
