"""`openclaw vault` against a real home directory (SPEC §12, §15): values from stdin only, a wrong
master key destroys nothing, rotation keeps every secret, the key file is private, audit rows exist."""
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import unittest

from harness import BIN, KernelTest, wait_for

KEY_A = "a" * 64
KEY_B = "0123456789abcdef" * 4


class VaultCliTest(KernelTest):
    def setUp(self):
        # No kernel: the vault commands work on <home>/state.db directly. No keyring either, so the
        # key goes to <home>/vault.key whatever machine runs this.
        self.k = self.kernel(start=False, env={"DBUS_SESSION_BUS_ADDRESS": "", "XDG_RUNTIME_DIR": "",
                                              "OPENCLAWOS_VAULT_KEY": "", "OPENCLAWOS_VAULT_NEW_KEY": ""})
        self.key_file = os.path.join(self.k.home, "vault.key")
        self.db_file = os.path.join(self.k.home, "state.db")

    def run_cli(self, *args, stdin="", env=None):
        e = self.k.env()
        e.update(env or {})
        return subprocess.run([BIN, *args], env=e, input=stdin, capture_output=True, text=True, timeout=30)

    def set(self, name, value, env=None):
        r = self.run_cli("vault", "set", name, stdin=value, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def get(self, name, env=None):
        return self.run_cli("vault", "get", name, env=env)

    def vault_rows(self):
        with sqlite3.connect(self.db_file) as db:
            secrets = db.execute("SELECT name, nonce, ciphertext, created_at, updated_at FROM vault_secrets "
                                 "ORDER BY name").fetchall()
            meta = db.execute("SELECT key, value FROM vault_meta ORDER BY key").fetchall()
        return secrets, meta

    def audit_rows(self):
        with sqlite3.connect(self.db_file) as db:
            return db.execute("SELECT kind, actor, subject, outcome, coalesce(detail, '') FROM audit_log "
                              "ORDER BY id").fetchall()

    def test_set_get_list_rm(self):
        first = self.set("telegram.botToken", "123456:AAE-secret-token\n")
        self.assertIn(f"vault key stored in {self.key_file} (no keyring reachable)", first.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(self.key_file).st_mode), 0o600)
        again = self.set("irc/password", "hunter2-pw\r\n")
        self.assertEqual(again.stderr, "")  # no second warning, no kernel to notify: silent
        self.set("multi", "line one\nline two\n")

        r = self.get("telegram.botToken")
        self.assertEqual((r.returncode, r.stdout), (0, "123456:AAE-secret-token\n"), r.stderr)
        self.assertEqual(self.get("irc/password").stdout, "hunter2-pw\n")  # only the final newline goes
        self.assertEqual(self.get("multi").stdout, "line one\nline two\n")

        listing = self.run_cli("vault", "list")
        self.assertEqual(listing.returncode, 0, listing.stderr)
        for name in ("telegram.botToken", "irc/password", "multi"):
            self.assertIn(name, listing.stdout)
        as_json = self.run_cli("vault", "list", "--json")
        self.assertEqual(as_json.returncode, 0, as_json.stderr)
        secrets = json.loads(as_json.stdout)["secrets"]
        self.assertEqual([s["name"] for s in secrets], ["irc/password", "multi", "telegram.botToken"])
        self.assertTrue(all(s["createdAt"] > 0 and s["updatedAt"] >= s["createdAt"] for s in secrets))
        for out in (listing.stdout, as_json.stdout):
            self.assertNotIn("hunter2", out)
            self.assertNotIn("AAE-secret", out)

        # At rest nothing is in plain text.
        with open(self.db_file, "rb") as f:
            raw = f.read()
        wal = self.db_file + "-wal"
        if os.path.exists(wal):
            with open(wal, "rb") as f:
                raw += f.read()
        self.assertNotIn(b"hunter2", raw)
        self.assertNotIn(b"AAE-secret", raw)

        rm = self.run_cli("vault", "rm", "multi")
        self.assertEqual(rm.returncode, 0, rm.stderr)
        gone = self.get("multi")
        self.assertEqual(gone.returncode, 1)
        self.assertIn('no secret "multi" in the vault', gone.stderr)
        self.assertEqual(self.run_cli("vault", "rm", "multi").returncode, 1)
        self.assertEqual(self.get("never-set").returncode, 1)

    def test_values_never_come_from_argv(self):
        for extra in (["hunter2-argv-value"], ["--value=hunter2-argv-value"], ["x", "hunter2-argv-value"]):
            r = self.run_cli("vault", "set", "name", *extra, stdin="from-stdin")
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertNotIn("hunter2-argv-value", r.stdout + r.stderr)
            self.assertIn("no value on the command line", r.stderr)
        self.assertEqual(self.get("name").returncode, 1)  # nothing was stored
        self.assertFalse(os.path.exists(self.key_file))
        missing = self.run_cli("vault", "set", stdin="v")
        self.assertEqual(missing.returncode, 2)
        bad_name = self.run_cli("vault", "set", "has space", stdin="v")
        self.assertEqual(bad_name.returncode, 2)
        self.assertIn('invalid secret name "has space"', bad_name.stderr)
        empty = self.run_cli("vault", "set", "empty", stdin="\n")
        self.assertEqual(empty.returncode, 2)
        self.assertIn("the value is empty", empty.stderr)
        big = self.run_cli("vault", "set", "big", stdin="x" * (64 * 1024 + 1))
        self.assertEqual(big.returncode, 2)
        self.assertIn("at most 65536", big.stderr)
        self.assertFalse(os.path.exists(self.key_file))  # refused before any key was made
        self.set("big", "x" * (64 * 1024))
        self.assertEqual(len(self.get("big").stdout), 64 * 1024 + 1)

    def test_wrong_key_is_refused_and_destroys_nothing(self):
        self.set("a", "value-a")
        self.set("b", "value-b")
        before = self.vault_rows()
        wrong = {"OPENCLAWOS_VAULT_KEY": KEY_B}
        for args, stdin in ((["vault", "get", "a"], ""), (["vault", "set", "a", ], "overwrite"),
                            (["vault", "set", "c"], "new"), (["vault", "rm", "b"], ""), (["vault", "list"], ""),
                            (["vault", "rotate"], "")):
            r = self.run_cli(*args, stdin=stdin, env=wrong)
            self.assertEqual(r.returncode, 1, f"{args}: {r.stdout}{r.stderr}")
            self.assertIn("the master key from OPENCLAWOS_VAULT_KEY does not open this vault "
                          f"({self.db_file}); set OPENCLAWOS_VAULT_KEY or restore {self.key_file}", r.stderr)
            self.assertNotIn("value-", r.stdout + r.stderr)
        self.assertEqual(self.vault_rows(), before)
        malformed = self.get("a", env={"OPENCLAWOS_VAULT_KEY": "not-hex"})
        self.assertEqual(malformed.returncode, 2)
        self.assertIn("OPENCLAWOS_VAULT_KEY must be 64 hex digits", malformed.stderr)
        self.assertEqual(self.get("a").stdout, "value-a\n")
        self.assertEqual(self.get("b").stdout, "value-b\n")
        # The right key given through the environment opens it too.
        with open(self.key_file) as f:
            right = f.read().strip()
        self.assertEqual(self.get("a", env={"OPENCLAWOS_VAULT_KEY": right}).stdout, "value-a\n")

    def test_key_file_must_be_private(self):
        self.set("a", "value-a")
        os.chmod(self.key_file, 0o644)
        r = self.get("a")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"chmod 600 {self.key_file}", r.stderr)
        self.assertNotIn("value-a", r.stdout)
        os.chmod(self.key_file, 0o600)
        self.assertEqual(self.get("a").stdout, "value-a\n")

    def test_rotate_keeps_every_secret(self):
        values = {f"s{i}": f"value-{i}-{'z' * i}" for i in range(6)}
        for name, value in values.items():
            self.set(name, value)
        with open(self.key_file) as f:
            old_key = f.read().strip()
        r = self.run_cli("vault", "rotate")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"re-sealed 6 secret(s) under a new key, stored in {self.key_file}", r.stdout)
        with open(self.key_file) as f:
            new_key = f.read().strip()
        self.assertNotEqual(new_key, old_key)
        self.assertEqual(stat.S_IMODE(os.stat(self.key_file).st_mode), 0o600)
        self.assertFalse(os.path.exists(self.key_file + ".new"))
        for name, value in values.items():
            self.assertEqual(self.get(name).stdout, value + "\n")
        stale = self.get("s1", env={"OPENCLAWOS_VAULT_KEY": old_key})
        self.assertEqual(stale.returncode, 1)
        self.assertIn("does not open this vault", stale.stderr)

    def test_rotate_with_an_environment_key(self):
        env = {"OPENCLAWOS_VAULT_KEY": KEY_A}
        self.set("tok", "env-secret", env=env)
        self.assertFalse(os.path.exists(self.key_file))  # the variable's key is never written down
        before = self.vault_rows()
        refused = self.run_cli("vault", "rotate", env=env)
        self.assertEqual(refused.returncode, 2)
        self.assertIn("OPENCLAWOS_VAULT_NEW_KEY", refused.stderr)
        self.assertEqual(self.vault_rows(), before)
        done = self.run_cli("vault", "rotate", env={**env, "OPENCLAWOS_VAULT_NEW_KEY": KEY_B})
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("set OPENCLAWOS_VAULT_KEY to that value", done.stdout)
        self.assertEqual(self.get("tok", env=env).returncode, 1)
        self.assertEqual(self.get("tok", env={"OPENCLAWOS_VAULT_KEY": KEY_B}).stdout, "env-secret\n")

    def test_audit_rows_name_secrets_but_never_values(self):
        self.set("audited", "audit-secret-value")
        self.get("audited")
        self.run_cli("vault", "list")
        self.get("missing")
        self.run_cli("vault", "rm", "audited")
        self.get("audited", env={"OPENCLAWOS_VAULT_KEY": KEY_B})
        rows = self.audit_rows()
        kinds = [(kind, actor, subject, outcome) for kind, actor, subject, outcome, _ in rows]
        self.assertEqual(kinds, [
            ("vault.set", "cli", "audited", "ok"),
            ("vault.get", "cli", "audited", "ok"),
            ("vault.list", "cli", "", "ok"),
            ("vault.get", "cli", "missing", "failed"),
            ("vault.rm", "cli", "audited", "ok"),
            ("vault.open_failed", "cli", "audited", "failed"),
        ])
        self.assertEqual(json.loads(rows[-1][4])["source"], "env")
        self.assertNotIn("audit-secret-value", json.dumps(rows))

    def test_a_running_kernel_is_told_without_noise_when_absent(self):
        # No kernel listens on the configured port: set/rm print nothing but their own line.
        r = self.run_cli("vault", "set", "quiet", stdin="v")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, "stored quiet\n")
        r = self.run_cli("vault", "rm", "quiet")
        self.assertEqual((r.returncode, r.stdout), (0, "removed quiet\n"))

    def test_an_unreachable_keyring_is_skipped_with_a_warning(self):
        no_bus = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=" + os.path.join(self.k.home, "no-bus")}
        r = self.run_cli("vault", "set", "a", stdin="value-a", env=no_bus)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("openclaw: warning: vault: keyring lookup failed", r.stderr)
        self.assertIn(f"vault key stored in {self.key_file}", r.stderr)
        self.assertEqual(self.get("a", env=no_bus).stdout, "value-a\n")


class KeyringVaultTest(KernelTest):
    """The key in a real Secret Service: a private session bus with gnome-keyring-daemon on it (from
    `scripts/install-deps.sh --test`); skipped when those are missing or the daemon does not start."""

    def setUp(self):
        for tool in ("dbus-daemon", "gnome-keyring-daemon", "secret-tool"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} is not installed (scripts/install-deps.sh --test installs it)")
        self.k = self.kernel(start=False, env={"OPENCLAWOS_VAULT_KEY": "", "OPENCLAWOS_VAULT_NEW_KEY": ""})
        self.home = os.path.realpath(self.k.home)
        xdg = tempfile.mkdtemp(prefix="oc-keyring-")
        self.addCleanup(shutil.rmtree, xdg, True)
        run = os.path.join(xdg, "run")
        os.mkdir(run, 0o700)
        # A private HOME: the test keyring's files never touch the user's own keyrings.
        self.k.extra_env.update({"HOME": xdg, "XDG_DATA_HOME": os.path.join(xdg, "data"),
                                 "XDG_CONFIG_HOME": os.path.join(xdg, "config"), "XDG_RUNTIME_DIR": run})
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"], env=self.k.env(),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(self.stop_process, bus)
        address = bus.stdout.readline().strip()
        if not address:
            self.skipTest("dbus-daemon did not start")
        self.k.extra_env["DBUS_SESSION_BUS_ADDRESS"] = address
        keyring = subprocess.Popen(["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                                   env=self.k.env(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        self.addCleanup(self.stop_process, keyring)
        keyring.stdin.write(b"test-keyring-password")
        keyring.stdin.close()
        try:
            wait_for(self.keyring_answers, 15, 0.2, "gnome-keyring-daemon to answer")
        except AssertionError:
            self.skipTest("gnome-keyring-daemon did not start a Secret Service")
        self.key_file = os.path.join(self.home, "vault.key")

    @staticmethod
    def stop_process(proc):
        proc.kill()
        proc.wait()
        if proc.stdout:
            proc.stdout.close()

    def keyring_answers(self):
        r = subprocess.run(["secret-tool", "store", "--label=probe", "openclawos-test", "probe"], input="x",
                           env=self.k.env(), capture_output=True, text=True, timeout=15)
        return r.returncode == 0

    def keyring_item(self, slot="current"):
        r = subprocess.run(["secret-tool", "lookup", "home", self.home, "slot", slot], env=self.k.env(),
                           capture_output=True, text=True, timeout=15)
        return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None

    def run_cli(self, *args, stdin="", env=None):
        e = self.k.env()
        e.update(env or {})
        return subprocess.run([BIN, *args], env=e, input=stdin, capture_output=True, text=True, timeout=60)

    def test_key_lives_in_the_keyring_and_rotates_there(self):
        r = self.run_cli("vault", "set", "tok", stdin="keyring-secret")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("vault key stored", r.stderr)  # no fallback warning: the keyring took it
        self.assertFalse(os.path.exists(self.key_file))
        old = self.keyring_item()
        self.assertIsNotNone(old)
        self.assertEqual(len(old), 64)
        self.assertEqual(self.run_cli("vault", "get", "tok").stdout, "keyring-secret\n")

        rotated = self.run_cli("vault", "rotate")
        self.assertEqual(rotated.returncode, 0, rotated.stderr)
        self.assertIn("stored in the Secret Service keyring", rotated.stdout)
        new = self.keyring_item()
        self.assertNotEqual(new, old)
        self.assertIsNone(self.keyring_item("pending"))
        self.assertEqual(self.run_cli("vault", "get", "tok").stdout, "keyring-secret\n")
        self.assertEqual(self.run_cli("vault", "get", "tok", env={"OPENCLAWOS_VAULT_KEY": new}).returncode, 0)
        stale = self.run_cli("vault", "get", "tok", env={"OPENCLAWOS_VAULT_KEY": old})
        self.assertEqual(stale.returncode, 1)


if __name__ == "__main__":
    unittest.main()
