"""The kernel's side of the vault (SPEC §12, §5.2): {"$secret": NAME} in config, secrets handed to
apps only through the variables their manifest lists, and redaction of secret values from every
log, answer and error. Secrets are put in the vault with the real CLI (`openclaw vault set`)."""
import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from harness import BIN, SOURCE, TEST_APPS, KernelTest, fast_supervisor, wait_for

KEY = "5e" * 32
WRONG_KEY = "a7" * 32
BASE_ENV = {"OPENCLAWOS_VAULT_KEY": KEY, "DBUS_SESSION_BUS_ADDRESS": "", "XDG_RUNTIME_DIR": ""}


def staged_secret_echo():
    """tests/apps/secret-echo with the Python SDK vendored beside it (as oc_stage_python_app does)."""
    dest = tempfile.mkdtemp(prefix="secret-echo-")
    shutil.rmtree(dest)
    shutil.copytree(os.path.join(TEST_APPS, "secret-echo"), dest)
    shutil.copytree(os.path.join(SOURCE, "sdk", "python", "openclawos_sdk"),
                    os.path.join(dest, "vendor", "openclawos_sdk"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    return dest


class SecretsTest(KernelTest):
    def setUp(self):
        self.app_src = staged_secret_echo()
        self.addCleanup(shutil.rmtree, self.app_src, True)

    def make(self, config, env=None):
        e = dict(BASE_ENV)
        e.update(env or {})
        return self.kernel(config, start=False, env=e)

    def run_cli(self, k, *args, stdin="", env=None):
        e = k.env()
        e.update(env or {})
        return subprocess.run([BIN, *args], env=e, input=stdin, capture_output=True, text=True, timeout=30)

    def vault_set(self, k, name, value, env=None):
        r = self.run_cli(k, "vault", "set", name, stdin=value + "\n", env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def run_gateway(self, k, env=None, timeout=20):
        """Runs `openclaw gateway` expecting it to exit by itself."""
        e = k.env()
        e.update(env or {})
        return subprocess.run([BIN, "gateway"], env=e, capture_output=True, text=True, timeout=timeout)

    def read(self, path):
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def audit_rows(self, k):
        with sqlite3.connect(os.path.join(k.home, "state.db")) as db:
            return db.execute("SELECT kind, actor, subject, outcome, coalesce(detail, '') FROM audit_log "
                              "ORDER BY id").fetchall()

    # ---------------------------------------------------------------------------------------------

    def test_gateway_token_from_the_vault(self):
        token = "gw-" + secrets.token_hex(16)
        k = self.make({"gateway": {"auth": {"token": {"$secret": "gateway-token"}}}})
        self.vault_set(k, "gateway-token", token)
        k.start()

        ws = k.client(token=token)
        self.addCleanup(ws.close)
        self.assertTrue(ws.call("health")["ok"])
        # config.get shows the reference redacted, never the value.
        shown = ws.call("config.get", {"path": "gateway.auth"})
        self.assertEqual(shown["value"]["token"], "[redacted]")

        def http(path, bearer=None):
            req = urllib.request.Request(f"http://127.0.0.1:{k.port}{path}")
            if bearer:
                req.add_header("Authorization", f"Bearer {bearer}")
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    return r.status, r.read().decode()
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode()

        self.assertEqual(http("/v1/models", token)[0], 200)
        self.assertEqual(http("/v1/models")[0], 401)
        self.assertEqual(http("/v1/models", "wrong-" + token)[0], 401)
        # The CLI reads the token from the vault too.
        r = self.run_cli(k, "status")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn(token, r.stdout + r.stderr)
        k.stop()
        self.assertNotIn(token, self.read(os.path.join(k.home, "logs", "kernel.log")))
        self.assertNotIn(token, k.output())

    def test_app_gets_the_secret_only_through_its_manifest_and_it_is_redacted_everywhere(self):
        value = "s3cr3t-" + secrets.token_hex(12)
        config = {
            "apps": {
                "supervisor": fast_supervisor(),
                "secret-echo": {"env": {"ECHO_VALUE": {"$secret": "echo-value"}}},
                # Its manifest does not list ECHO_VALUE: the reference alone gives it nothing.
                "secret-echo-unlisted": {"env": {"ECHO_VALUE": {"$secret": "echo-value"}}},
            },
        }
        k = self.make(config, env={"ECHO_VALUE": "from-the-kernel-env"})
        self.vault_set(k, "echo-value", value)
        k.install(self.app_src)
        k.install(self.app_src, app_id="secret-echo-unlisted",
                  manifest_patch=lambda m: m["capabilities"]["resources"].update({"env": []}))
        k.start()
        k.wait_state("secret-echo", "ready")
        k.wait_state("secret-echo-unlisted", "ready")

        ws = k.control()
        digest = ws.call("secret-echo.digest")
        self.assertEqual(digest, {"present": True, "sha256": hashlib.sha256(value.encode()).hexdigest(),
                                  "length": len(value)})
        self.assertEqual(ws.call("secret-echo-unlisted.digest"), {"present": False})
        # The app hands the value back over IPC: the control plane answers "[redacted]".
        echoed = ws.call("secret-echo.echo")
        self.assertEqual(echoed, {"value": "[redacted]", "message": "the value is [redacted]"})
        # config.get from the app (IPC) and from the control plane.
        app_config = ws.call("secret-echo.config")["config"]
        self.assertEqual(app_config["env"]["ECHO_VALUE"], "[redacted]")
        self.assertEqual(ws.call("config.get", {"path": "apps.secret-echo.env"})["value"],
                         {"ECHO_VALUE": "[redacted]"})

        # What the app printed: redacted in apps.logs, the app's log file, the CLI.
        wait_for(lambda: any("ECHO_VALUE=" in line for line in k.app_log("secret-echo")), 5, what="app output")
        lines = k.app_log("secret-echo")
        self.assertIn("ECHO_VALUE=[redacted]", "\n".join(lines))
        self.assertIn("stderr ECHO_VALUE=[redacted]", "\n".join(lines))
        outputs = {
            "apps.logs": "\n".join(lines),
            "logs.tail": "\n".join(ws.call("logs.tail", {"lines": 1000})["lines"]),
            "openclaw logs": self.run_cli(k, "logs").stdout,
            "openclaw apps logs": self.run_cli(k, "apps", "logs", "secret-echo").stdout,
            "openclaw config get": self.run_cli(k, "config", "get", "apps").stdout,
        }
        self.assertIn("[redacted]", outputs["openclaw apps logs"])
        k.stop()
        outputs["kernel.log"] = self.read(os.path.join(k.home, "logs", "kernel.log"))
        outputs["apps/secret-echo.log"] = self.read(os.path.join(k.home, "logs", "apps", "secret-echo.log"))
        outputs["stderr"] = k.output()
        self.assertIn("ECHO_VALUE=[redacted]", outputs["apps/secret-echo.log"])
        for where, text in outputs.items():
            self.assertNotIn(value, text, f"the secret leaked into {where}")

        # Each resolution for an app is audited, by name only.
        rows = self.audit_rows(k)
        gets = [r for r in rows if r[0] == "vault.get" and r[1] == "kernel"]
        self.assertTrue(gets, rows)
        self.assertEqual(gets[0][2], "echo-value")
        self.assertEqual(json.loads(gets[0][4])["app"], "secret-echo")
        self.assertFalse(any(value in str(r) for r in rows))

    def test_missing_secret_puts_the_app_in_error_until_it_is_set(self):
        config = {"apps": {"supervisor": fast_supervisor(),
                           "secret-echo": {"env": {"ECHO_VALUE": {"$secret": "not-yet"}}}}}
        k = self.make(config)
        k.install(self.app_src)
        k.start()
        st = k.wait_state("secret-echo", "error")
        self.assertIn('vault: no secret "not-yet" (apps.secret-echo.env.ECHO_VALUE)', st.get("lastError", ""))
        self.assertIn("openclaw vault set not-yet", st["lastError"])
        # Setting it tells the running kernel (vault.reload): the app starts with the value.
        value = "later-" + secrets.token_hex(8)
        self.vault_set(k, "not-yet", value)
        k.wait_state("secret-echo", "ready")
        self.assertEqual(k.control().call("secret-echo.digest")["sha256"], hashlib.sha256(value.encode()).hexdigest())
        answer = k.control().call("vault.reload")
        self.assertTrue(answer["open"])

    def test_missing_kernel_secret_refuses_to_start(self):
        k = self.make({"gateway": {"auth": {"token": {"$secret": "absent"}}}})
        self.vault_set(k, "something-else", "x" * 20)
        r = self.run_gateway(k)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn('gateway.auth.token: no secret "absent" in the vault; add it with `openclaw vault set absent`',
                      r.stderr)
        self.assertIn("no secret \"absent\"", self.read(os.path.join(k.home, "logs", "kernel.log")))

    def test_wrong_master_key_refuses_to_start_and_destroys_nothing(self):
        value = "keep-" + secrets.token_hex(8)
        k = self.make({"models": {"providers": {"openai": {"api": "openai-completions",
                                                           "apiKey": {"$secret": "openai-key"}}}}})
        self.vault_set(k, "openai-key", value)
        r = self.run_gateway(k, env={"OPENCLAWOS_VAULT_KEY": WRONG_KEY})
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("the config references vault secrets but the vault cannot be opened", r.stderr)
        self.assertIn("does not open this vault", r.stderr)
        got = self.run_cli(k, "vault", "get", "openai-key")
        self.assertEqual((got.returncode, got.stdout), (0, value + "\n"), got.stderr)

    def test_without_references_a_vault_that_does_not_open_is_a_warning(self):
        k = self.make({})
        self.vault_set(k, "unused", "y" * 16)
        k.extra_env["OPENCLAWOS_VAULT_KEY"] = WRONG_KEY
        k.start()
        self.assertTrue(k.control().call("health")["ok"])
        self.assertFalse(k.control().call("vault.reload")["open"])
        k.stop()
        self.assertIn("no config value needs it", self.read(os.path.join(k.home, "logs", "kernel.log")))


if __name__ == "__main__":
    import unittest
    unittest.main()
