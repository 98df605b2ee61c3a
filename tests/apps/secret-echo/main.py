#!/usr/bin/env python3
"""A test app for secrets handed through resources.env (test_secrets.py): it prints the value of
ECHO_VALUE to stdout and stderr (the kernel must redact its captured output), proves it got the
right value by its SHA-256, and hands the value back over IPC (the control plane must redact it)."""
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "vendor"))
from openclawos_sdk import App  # noqa: E402

VALUE = os.environ.get("ECHO_VALUE")


class SecretEcho(App):
    async def setup(self):
        prefix = self.app_id
        await self.register_method(prefix + ".digest", self.digest)
        await self.register_method(prefix + ".echo", self.echo)
        await self.register_method(prefix + ".config", self.config)
        print(f"ECHO_VALUE={VALUE}", flush=True)
        print(f"stderr ECHO_VALUE={VALUE}", file=sys.stderr, flush=True)

    async def digest(self, params):
        if VALUE is None:
            return {"present": False}
        return {"present": True, "sha256": hashlib.sha256(VALUE.encode()).hexdigest(), "length": len(VALUE)}

    async def echo(self, params):
        return {"value": VALUE, "message": f"the value is {VALUE}"}

    async def config(self, params):
        return {"config": await self.config_get()}


if __name__ == "__main__":
    SecretEcho().run()
