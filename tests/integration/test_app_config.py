"""What the kernel gives an app besides its grants: a private data directory, secrets of its config
section through the environment (configSchema "x-env"), its section checked against the manifest's
configSchema (defaults filled in for config.get), and apps.list refused below trust verified."""
import json
import os
import shutil
import signal
import stat
import tempfile
import unittest

from harness import KernelTest, wait_for

PACKAGES = os.environ.get("OPENCLAW_TEST_PACKAGES", "")
APP_ID = "config-probe"

# Writes what it was given to <data dir>/probe.json, then serves like any app.
PROBE_MAIN = r'''#!/usr/bin/env python3
import json, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "vendor"))
from openclawos_sdk import App, KernelError


class Probe(App):
    async def setup(self):
        report = {"token": os.environ.get("PROBE_TOKEN"), "dataDir": self.data_dir,
                  "config": await self.config_get()}
        try:
            report["appsList"] = await self.client.request("apps.list", {})
        except KernelError as e:
            report["appsListError"] = e.code
        with open(os.path.join(self.data_dir, "probe.json"), "w") as f:
            json.dump(report, f)


if __name__ == "__main__":
    Probe().run()
'''

SCHEMA = {"type": "object", "properties": {
    "greeting": {"type": "string", "default": "hello"},
    "limit": {"type": "integer", "minimum": 1, "maximum": 10},
    "token": {"type": "string", "x-env": "PROBE_TOKEN"}}}


def probe_package(where):
    dest = os.path.join(where, "config-probe")
    shutil.copytree(os.path.join(PACKAGES, "sdk-probe-py"), dest)
    with open(os.path.join(dest, "main.py"), "w") as f:
        f.write(PROBE_MAIN)
    os.chmod(os.path.join(dest, "main.py"), 0o755)
    manifest = {"id": APP_ID, "name": "Config probe", "version": "1.0.0", "type": "app", "main": "main.py",
                "protocol": {"version": "1.0"},
                "capabilities": {"resources": {"env": ["PROBE_TOKEN"]}},
                "configSchema": SCHEMA}
    with open(os.path.join(dest, "openclawos.manifest.json"), "w") as f:
        json.dump(manifest, f)
    return dest


class AppConfigTest(KernelTest):
    def setUp(self):
        self.scratch = tempfile.mkdtemp(prefix="oc-probe-")
        self.addCleanup(shutil.rmtree, self.scratch, True)

    def start(self, section):
        k = self.kernel({"apps": {APP_ID: section}}, apps=[probe_package(self.scratch)])
        return k

    def report(self, k):
        path = os.path.join(k.home, "apps", APP_ID, "probe.json")
        wait_for(lambda: os.path.exists(path), 15, what="the probe's report")
        with open(path) as f:
            return json.load(f)

    def test_data_dir_secret_env_defaults_and_apps_list_refusal(self):
        k = self.start({"token": "s3cret-value", "limit": 5})
        k.wait_state(APP_ID, "ready", 15)
        r = self.report(k)
        data_dir = os.path.join(k.home, "apps", APP_ID)
        self.assertEqual(os.path.realpath(r["dataDir"]), os.path.realpath(data_dir))
        self.assertEqual(stat.S_IMODE(os.stat(data_dir).st_mode), 0o700)
        self.assertEqual(r["token"], "s3cret-value")  # the secret came through the environment
        self.assertEqual(r["config"]["token"], "[redacted]")  # never through config.get
        self.assertEqual(r["config"]["greeting"], "hello")  # the manifest's default
        self.assertEqual(r["config"]["limit"], 5)
        self.assertNotIn("enabled", r["config"])
        self.assertEqual(r["appsListError"], "FORBIDDEN")  # an installed app is community
        self.assertNotIn("s3cret-value", k.output())

    def test_invalid_section_keeps_the_app_out_until_fixed(self):
        k = self.start({"limit": 50, "greeting": 7})
        k.wait_state(APP_ID, "error", 15)
        status = k.status_of(APP_ID)
        self.assertIn(f"config: apps.{APP_ID}.limit", status["lastError"])
        self.assertIn(f"apps.{APP_ID}.greeting", status["lastError"])
        self.assertFalse(os.path.exists(os.path.join(k.home, "apps", APP_ID, "probe.json")))
        k.config["apps"][APP_ID] = {"limit": 3}
        k.write_config()
        k.proc.send_signal(signal.SIGHUP)
        k.wait_state(APP_ID, "ready", 15)
        self.assertEqual(self.report(k)["config"]["limit"], 3)


if __name__ == "__main__":
    unittest.main()
