"""The process sandbox (SPEC §5.5, docs/SANDBOX.md) from the outside: the sandbox-probe test app
tries things a sandboxed app must not do, in a throw-away HOME holding ~/.ssh-like files, and
answers each attempt over its IPC connection (so every answer also proves the IPC still works)."""
import errno
import json
import os
import shutil
import socket
import tempfile
import threading
import unittest

from harness import Kernel, KernelTest, fast_supervisor, wait_for

PROBES = os.environ.get("OPENCLAW_TEST_PACKAGES", "")
PROBE = os.path.join(PROBES, "sandbox-probe")
APP = "sandbox-probe"
DENIED = (errno.EACCES, errno.EPERM)


class TcpListener:
    """A loopback TCP port that accepts and closes connections, counting them."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self):
        self.sock.close()


class SandboxTest(KernelTest):
    def setUp(self):
        self.fake_home = tempfile.mkdtemp(prefix="oc-fakehome-")
        self.addCleanup(shutil.rmtree, self.fake_home, True)
        os.makedirs(os.path.join(self.fake_home, ".ssh"), mode=0o700)
        self.ssh_key = os.path.join(self.fake_home, ".ssh", "id_rsa")
        with open(self.ssh_key, "w") as f:
            f.write("-----BEGIN FAKE PRIVATE KEY-----\n")
        # Another app's (or user's) file in /tmp.
        self.other_tmp = tempfile.mkdtemp(prefix="oc-other-")
        self.addCleanup(shutil.rmtree, self.other_tmp, True)
        self.other_file = os.path.join(self.other_tmp, "note.txt")
        with open(self.other_file, "w") as f:
            f.write("someone else's temp file")
        self.listener = TcpListener()
        self.addCleanup(self.listener.close)

    def try_(self, k, what, **params):
        return k.control().call(f"{APP}.try", {"what": what, **params})

    def assert_denied(self, outcome, what):
        self.assertFalse(outcome["ok"], f"{what} should have been refused: {outcome}")
        self.assertIn(outcome["errno"], DENIED, f"{what}: {outcome}")

    def community_kernel(self, apps_cfg=None, manifest_patch=None):
        cfg = {"apps": {"supervisor": fast_supervisor(), **(apps_cfg or {})}}
        k = Kernel(cfg, env={"HOME": self.fake_home})
        self.addCleanup(k.cleanup)
        k.install(PROBE, manifest_patch=manifest_patch)
        k.start()
        k.wait_state(APP, "ready")
        return k

    def shipped_kernel(self, manifest_patch, apps_cfg=None):
        """The probe shipped with the build: trust core."""
        cfg = {"apps": {"supervisor": fast_supervisor(), APP: {"enabled": True, **(apps_cfg or {})}}}
        k = Kernel(cfg, env={"HOME": self.fake_home})
        self.addCleanup(k.cleanup)
        dest = os.path.join(k.home, "shipped", APP)
        shutil.copytree(PROBE, dest)
        mpath = os.path.join(dest, "openclawos.manifest.json")
        with open(mpath) as f:
            m = json.load(f)
        manifest_patch(m)
        with open(mpath, "w") as f:
            json.dump(m, f)
        k.start()
        k.wait_state(APP, "ready")
        return k

    def test_community_app_is_confined_and_its_ipc_keeps_working(self):
        k = self.community_kernel()
        info = k.control().call("apps.info", {"id": APP})
        self.assertEqual(info["trustLevel"], "community")

        self.assert_denied(self.try_(k, "read", path=self.ssh_key), "reading ~/.ssh/id_rsa")
        self.assert_denied(self.try_(k, "read", path=self.other_file), "reading another /tmp file")
        self.assert_denied(self.try_(k, "write", path=os.path.join(self.fake_home, "planted")), "writing HOME")
        self.assert_denied(self.try_(k, "connect", port=self.listener.port), "connecting to loopback TCP")
        self.assertEqual(self.listener.accepted, 0)
        self.assert_denied(self.try_(k, "ptrace"), "ptrace of the kernel")

        env = self.try_(k, "env")  # the IPC still works after every refusal
        data_dir = env["dataDir"]
        self.assertTrue(data_dir.startswith(k.home), env)
        self.assertEqual(env["tmpdir"], os.path.join(data_dir, "tmp"))
        self.assertEqual(env["coreLimit"], 0)
        self.assertTrue(self.try_(k, "write", path=os.path.join(data_dir, "state.txt"))["ok"])
        self.assertTrue(self.try_(k, "write", path=os.path.join(env["tmpdir"], "scratch"))["ok"])
        self.assertTrue(os.path.exists(os.path.join(data_dir, "state.txt")))
        self.assertEqual(self.try_(k, "read", path=os.path.join(data_dir, "state.txt"))["text"],
                         "written by sandbox-probe\n")
        self.assertEqual(os.stat(env["tmpdir"]).st_mode & 0o777, 0o700)
        self.assertEqual(k.status_of(APP)["state"], "ready")

        e = k.status_of(APP)["enforcement"]
        self.assertEqual(e["sandbox"], "on")
        self.assertEqual(e["noNewPrivs"], "on")
        self.assertEqual(e["seccomp"], "filter")
        self.assertRegex(e["landlock"], r"^abi[1-9][0-9]*$")
        self.assertEqual(e["network"], "netns")
        self.assertEqual(e["tmp"], "private")
        self.assertNotEqual(env["netns"], os.readlink("/proc/self/ns/net"))
        self.assertEqual(info["status"]["enforcement"]["sandbox"], "on")

        # The CLI shows it too.
        r = k.cli("apps", "info", APP)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"sandbox":"on"', r.stdout.replace(" ", ""))

    def test_private_tmp_is_emptied_at_each_start(self):
        k = self.community_kernel()
        tmpdir = self.try_(k, "env")["tmpdir"]
        self.assertTrue(self.try_(k, "write", path=os.path.join(tmpdir, "leftover"))["ok"])
        k.control().call("apps.restart", {"id": APP})
        k.wait_state(APP, "ready")
        self.assertFalse(os.path.exists(os.path.join(tmpdir, "leftover")))

    def test_declared_hosts_and_paths_open_only_those(self):
        shared = tempfile.mkdtemp(prefix="oc-shared-")
        self.addCleanup(shutil.rmtree, shared, True)
        with open(os.path.join(shared, "in.txt"), "w") as f:
            f.write("declared")

        def patch(m):
            m["capabilities"]["resources"] = {"fs": {"read": [shared]},
                                              "network": {"hosts": ["127.0.0.1"]}}
        k = self.community_kernel(manifest_patch=patch)
        self.assertEqual(self.try_(k, "read", path=os.path.join(shared, "in.txt"))["text"], "declared")
        self.assert_denied(self.try_(k, "write", path=os.path.join(shared, "x")), "writing a read-only path")
        self.assertTrue(self.try_(k, "connect", port=self.listener.port)["ok"])
        self.assert_denied(self.try_(k, "read", path=self.ssh_key), "reading ~/.ssh/id_rsa")
        self.assert_denied(self.try_(k, "ptrace"), "ptrace of the kernel")
        e = k.status_of(APP)["enforcement"]
        self.assertEqual(e["sandbox"], "on")
        self.assertEqual(e["network"], "host")

    def test_user_can_turn_the_sandbox_off_for_a_community_app(self):
        k = self.community_kernel({APP: {"sandboxed": False}})
        self.assertTrue(self.try_(k, "read", path=self.ssh_key)["ok"])
        e = k.status_of(APP)["enforcement"]
        for key in ("sandbox", "noNewPrivs", "seccomp", "landlock", "network", "tmp"):
            self.assertEqual(e[key], "none", key)

    def test_core_app_without_sandboxed_does_what_it_declared(self):
        def patch(m):
            m["capabilities"]["resources"] = {"fs": {"read": ["~/.ssh/id_rsa"]},
                                              "network": {"hosts": ["127.0.0.1"]}}
        k = self.shipped_kernel(patch)
        info = k.control().call("apps.info", {"id": APP})
        self.assertEqual(info["trustLevel"], "core")
        self.assertTrue(self.try_(k, "read", path=self.ssh_key)["ok"])
        self.assertTrue(self.try_(k, "connect", port=self.listener.port)["ok"])
        # connect() returns once the connection is in the backlog; the accept thread counts it later.
        wait_for(lambda: self.listener.accepted >= 1 or None, 5, what="the listener to accept")
        e = k.status_of(APP)["enforcement"]
        self.assertEqual(e["sandbox"], "none")
        self.assertEqual(e["seccomp"], "none")
        self.assertEqual(e["network"], "none")

    def test_core_app_that_asks_for_the_sandbox_gets_it(self):
        def patch(m):
            m["capabilities"]["security"] = {"sandboxed": True}
        k = self.shipped_kernel(patch)
        self.assert_denied(self.try_(k, "read", path=self.ssh_key), "reading ~/.ssh/id_rsa")
        self.assert_denied(self.try_(k, "connect", port=self.listener.port), "connecting to loopback TCP")
        e = k.status_of(APP)["enforcement"]
        self.assertEqual(e["sandbox"], "on")
        self.assertEqual(e["network"], "netns")


if __name__ == "__main__":
    unittest.main()
