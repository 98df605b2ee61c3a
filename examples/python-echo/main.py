#!/usr/bin/env python3
"""python-echo: an OpenClawOS app written with the Python SDK.

- tool ``py_echo``: returns ``$ECHO_PREFIX`` + ``input.text``
- hook ``agent_end``: counts finished agent runs
- method ``python-echo.ping``: ``{pong: true, events: <agent_end count>}``

The kernel starts it with cwd = the package directory and only the declared environment
(``ECHO_PREFIX``), so the SDK is looked up next to this file: see find_sdk().
"""

import os
import sys


def find_sdk() -> None:
    """Makes ``openclawos_sdk`` importable.

    Order: ``$OPENCLAWOS_PYTHON_SDK`` (when running by hand; the kernel only passes it if the
    manifest declares it in resources.env), an already importable SDK, ``vendor/`` beside this file
    (the build copies the SDK there), then ``../../sdk/python`` (running from the source tree).
    """
    explicit = os.environ.get("OPENCLAWOS_PYTHON_SDK")
    if explicit:
        sys.path.insert(0, explicit)
    try:
        import openclawos_sdk  # noqa: F401
        return
    except ImportError:
        pass
    here = os.path.dirname(os.path.realpath(__file__))
    for candidate in (os.path.join(here, "vendor"),
                      os.path.join(here, "..", "..", "sdk", "python")):
        if os.path.isdir(os.path.join(candidate, "openclawos_sdk")):
            sys.path.insert(0, os.path.normpath(candidate))
            return
    sys.exit("python-echo: cannot find the openclawos_sdk package (vendor/ or ../../sdk/python)")


find_sdk()

from openclawos_sdk import App  # noqa: E402

INPUT_SCHEMA = {
    "type": "object",
    "properties": {"text": {"type": "string", "description": "Text to echo back"}},
    "required": ["text"],
}


class EchoApp(App):
    """The example app: see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.prefix = os.environ.get("ECHO_PREFIX", "")
        self.agent_runs = 0

    async def setup(self) -> None:
        await self.register_tool("py_echo", "Echoes the given text back, with a prefix.",
                                 INPUT_SCHEMA, self.echo)
        await self.subscribe(["agent_end"], self.on_agent_end)
        await self.register_method("python-echo.ping", self.ping)

    async def echo(self, tool_input: dict) -> dict:
        text = tool_input.get("text", "") if isinstance(tool_input, dict) else ""
        return {"output": self.prefix + str(text)}

    async def on_agent_end(self, payload: dict) -> None:
        self.agent_runs += 1
        self.log.debug("agent_end #%d: %s", self.agent_runs, payload.get("data"))

    async def ping(self, params: dict) -> dict:
        return {"pong": True, "events": self.agent_runs}

    async def teardown(self) -> None:
        self.log.info("python-echo stopping after %d agent runs", self.agent_runs)


if __name__ == "__main__":
    EchoApp().run()
