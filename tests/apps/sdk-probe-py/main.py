#!/usr/bin/env python3
"""A test app on the Python SDK: counts calls and agent_end events, and can drop its own
connection (a test hook) so the black-box tests see the SDK reconnect and resume for real."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "vendor"))
from openclawos_sdk import App  # noqa: E402


class Probe(App):
    async def setup(self):
        self.calls = 0
        self.agent_ends = 0
        await self.register_method("sdk-probe-py.count", self.count)
        await self.register_method("sdk-probe-py.drop", self.drop)
        await self.subscribe(["agent_end"], self.on_agent_end)

    async def count(self, params):
        self.calls += 1
        return {"calls": self.calls, "agentEnds": self.agent_ends}

    async def drop(self, params):
        # Drop after the answer has gone out.
        import asyncio
        asyncio.get_running_loop().call_later(0.05, self.client.drop_connection_for_testing)
        return {"dropping": True}

    async def on_agent_end(self, payload):
        self.agent_ends += 1


if __name__ == "__main__":
    Probe().run()
