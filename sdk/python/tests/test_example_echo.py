"""Runs examples/python-echo/main.py as the kernel would (exec via shebang, cwd = package dir, a
built environment with no PYTHONPATH) against the in-test peer, in two layouts: the source tree
(SDK found at ../../sdk/python) and an installed copy with the SDK in vendor/."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import unittest

from fake_kernel import SDK_DIR, FakeKernel

REPO = os.path.dirname(os.path.dirname(SDK_DIR))
EXAMPLE = os.path.join(REPO, "examples", "python-echo")


class PythonEchoExampleTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="ocsdk-echo-")
        self.kernel = FakeKernel(os.path.join(self.tmp, "k.sock"))
        await self.kernel.start()
        self.proc = None

    async def asyncTearDown(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        await self.kernel.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    async def spawn(self, package_dir: str) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.tmp,
               "LANG": "C.UTF-8", "OPENCLAWOS_SOCKET": self.kernel.path,
               "OPENCLAWOS_APP_ID": "python-echo", "OPENCLAWOS_APP_TOKEN": "spawn-secret",
               "ECHO_PREFIX": ">> "}
        self.proc = await asyncio.create_subprocess_exec(
            os.path.join(package_dir, "main.py"), cwd=package_dir, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)

    async def drive(self) -> str:
        """Plays the kernel's part; returns the app's stderr."""
        conn = await self.kernel.accept(timeout=10)
        reg = await self.kernel.register(conn, app_id="python-echo")
        self.assertEqual(reg["params"]["spawnToken"], "spawn-secret")
        self.assertEqual(reg["params"]["manifest"]["id"], "python-echo")
        tool = await FakeKernel.grant(conn, "capability.register")
        self.assertEqual(tool["params"]["type"], "tool")
        self.assertEqual(tool["params"]["config"]["name"], "py_echo")
        self.assertEqual(tool["params"]["config"]["inputSchema"]["required"], ["text"])
        hooks = await FakeKernel.grant(conn, "hook.subscribe")
        self.assertEqual(hooks["params"], {"events": ["agent_end"]})
        method = await FakeKernel.grant(conn, "capability.register")
        self.assertEqual(method["params"], {"type": "gateway_method",
                                            "config": {"method": "python-echo.ping"}})
        await FakeKernel.grant(conn, "app.ready")

        resp = await conn.call("tool.invoke", {"tool": "py_echo", "input": {"text": "hi"},
                                              "context": {"sessionKey": "s", "runId": "r",
                                                          "agentId": "main"}})
        self.assertEqual(resp["result"], {"output": ">> hi"})
        for i in range(2):
            await conn.event("hook:agent_end", {"eventId": f"e{i}", "hookName": "agent_end",
                                                "data": {"runId": f"r{i}", "success": True},
                                                "context": {}})
        resp = await conn.call("gateway.invoke", {"method": "python-echo.ping", "params": {},
                                                 "client": {}})
        self.assertEqual(resp["result"], {"result": {"pong": True, "events": 2}})

        await conn.event("app:shutdown", {"reason": "test", "timeout": 3000})
        _, stderr = await asyncio.wait_for(self.proc.communicate(), 10)
        self.assertEqual(self.proc.returncode, 0, stderr.decode())
        return stderr.decode()

    async def test_runs_from_source_tree(self) -> None:
        await self.spawn(EXAMPLE)
        stderr = await self.drive()
        self.assertIn("python-echo ready", stderr)
        self.assertIn("stopping after 2 agent runs", stderr)

    async def test_runs_from_installed_copy_with_vendored_sdk(self) -> None:
        package = os.path.join(self.tmp, "packages", "python-echo")
        shutil.copytree(EXAMPLE, package, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(os.path.join(SDK_DIR, "openclawos_sdk"),
                        os.path.join(package, "vendor", "openclawos_sdk"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        await self.spawn(package)
        stderr = await self.drive()
        self.assertIn("python-echo ready", stderr)

    async def test_missing_sdk_exits_with_a_clear_message(self) -> None:
        package = os.path.join(self.tmp, "packages", "python-echo")
        shutil.copytree(EXAMPLE, package, ignore=shutil.ignore_patterns("__pycache__"))
        await self.spawn(package)
        _, stderr = await asyncio.wait_for(self.proc.communicate(), 10)
        self.assertNotEqual(self.proc.returncode, 0)
        self.assertIn("cannot find the openclawos_sdk package", stderr.decode())


if __name__ == "__main__":
    unittest.main()
