"""App: the base class of an OpenClawOS app process written in Python.

Subclass it, override ``setup`` (register tools, methods, hook handlers) and optionally
``teardown``, then call ``run()`` from ``main``. ``run()`` connects to the kernel, registers with
the spawn token, runs ``setup``, sends ``app.ready`` and serves until the kernel sends
``app:shutdown`` or the process gets SIGTERM/SIGINT; then it runs ``teardown`` and exits 0. If the
connection is lost for good (no resume possible) it exits 1 so the supervisor restarts it.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import logging
import os
import signal
import sys
from typing import Any, Callable, Dict, Iterable, List, NoReturn, Optional

from .client import KernelClient, maybe_await
from .protocol import (EVENT_APP_SHUTDOWN, HOOK_EVENT_PREFIX, INTERCEPT_HOOKS, ErrorCode,
                       KernelError, canonical_hook)

MANIFEST_FILE = "openclawos.manifest.json"
DEFAULT_SHUTDOWN_TIMEOUT = 5.0  # seconds for teardown when app:shutdown names no timeout

Handler = Callable[..., Any]


def load_manifest(path: Optional[str] = None) -> dict:
    """Reads the manifest (default: ``openclawos.manifest.json`` in the cwd, which the kernel sets
    to the package directory). Raises OSError / ValueError when missing or not a JSON object."""
    path = path or os.path.join(os.getcwd(), MANIFEST_FILE)
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: manifest must be a JSON object")
    return manifest


def write_file_atomically(path: str, data: bytes, mode: int = 0o600) -> None:
    """Replaces ``path`` with ``data`` so that a crash leaves either the old or the new content,
    never a torn file: writes a temporary file in the same directory, fsyncs it, renames it over
    ``path`` and fsyncs the directory. Raises OSError (the temporary file is removed)."""
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _accepts_two_args(fn: Callable[..., Any]) -> bool:
    """True if ``fn`` can take a second positional argument (context / client)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2


def _intercept_result(value: Any) -> Optional[dict]:
    """Maps a handler's return value to a hook.result: None → continue, a dict with ``action`` as
    is, any other dict → modify with that data. Anything else is not a valid answer (None)."""
    if value is None:
        return {"action": "continue"}
    if isinstance(value, dict):
        return value if "action" in value else {"action": "modify", "data": value}
    return None


class App:
    """Base class of an app. See the module docstring for the lifecycle.

    Attributes:
        manifest: the parsed manifest (sent on ``app.register``).
        client: the KernelClient; use ``client.request`` for methods without a helper.
        registration: the ``app.register`` result (appId, token, grants, ...).
        log: a logger named after the app id; logs go to stderr, which the kernel captures.
    """

    def __init__(self, manifest: Optional[dict] = None, *, manifest_path: Optional[str] = None,
                 client: Optional[KernelClient] = None) -> None:
        self.manifest: dict = manifest if manifest is not None else load_manifest(manifest_path)
        self.client: KernelClient = client or KernelClient()
        self.registration: dict = {}
        self.log = logging.getLogger(str(self.manifest.get("id", "app")))
        self.shutdown_reason: Optional[str] = None
        self._tools: Dict[str, Handler] = {}
        self._methods: Dict[str, Handler] = {}
        self._hook_handlers: Dict[str, List[Handler]] = {}
        self._http_handler: Optional[Handler] = None
        self._stop: Optional[asyncio.Event] = None
        self._shutdown_timeout = DEFAULT_SHUTDOWN_TIMEOUT
        self._intercepts = {canonical_hook(h) for h in
                            self.manifest.get("capabilities", {}).get("hooks", {})
                            .get("intercepts", []) if isinstance(h, str)}

    # --- lifecycle (override) -----------------------------------------------------------------

    async def setup(self) -> None:
        """Runs after registration, before ``app.ready``: register tools, methods, hooks here.
        Raising aborts startup (exit 1)."""

    async def teardown(self) -> None:
        """Runs on shutdown, bounded by the shutdown timeout the kernel gave."""

    @property
    def app_id(self) -> str:
        return str(self.registration.get("appId") or self.manifest.get("id", ""))

    @property
    def data_dir(self) -> Optional[str]:
        """``$OPENCLAWOS_APP_DATA``: a directory the kernel made for this app alone
        (``<home>/apps/<id>``, mode 0700, kept across restarts) for state such as what was already
        processed. None when unset (the app was not started by the kernel). Write files there
        atomically: see ``write_file_atomically``."""
        value = os.environ.get("OPENCLAWOS_APP_DATA")
        return value or None

    @property
    def grants(self) -> Any:
        """The capabilities the kernel granted (from the registration result)."""
        return self.registration.get("grants")

    # --- running ------------------------------------------------------------------------------

    def run(self) -> NoReturn:
        """Configures stderr logging, serves, and exits the process with serve()'s status."""
        if not logging.getLogger().handlers:
            level = logging.getLevelName(os.environ.get("OPENCLAWOS_LOG_LEVEL", "INFO").upper())
            logging.basicConfig(stream=sys.stderr,
                                level=level if isinstance(level, int) else logging.INFO,
                                format="%(levelname)s %(name)s: %(message)s")
        sys.exit(asyncio.run(self.serve()))

    async def serve(self) -> int:
        """Connect, register, setup, ``app.ready``, serve until stopped, teardown.

        Returns 0 after ``app:shutdown`` / SIGTERM / SIGINT / stop(), 1 when startup failed or the
        connection was lost for good.
        """
        self._stop = asyncio.Event()
        self._install_handlers()
        signals = self._install_signal_handlers()
        try:
            try:
                await self.client.connect()
                self.registration = await self.client.register(self.manifest)
                await self.setup()
                await self._before_ready()
                await self.client.request("app.ready", {})
            except Exception:
                self.log.exception("startup failed")
                return 1
            self.log.info("%s ready", self.app_id)
            return await self._serve_until_stopped()
        finally:
            self._remove_signal_handlers(signals)
            await self.client.close()

    def stop(self, reason: str = "stopped") -> None:
        """Asks serve() to tear down and return 0 (what app:shutdown and SIGTERM do)."""
        if self.shutdown_reason is None:
            self.shutdown_reason = reason
        if self._stop is not None:
            self._stop.set()

    async def _serve_until_stopped(self) -> int:
        stop_wait = asyncio.ensure_future(self._stop.wait())
        closed_wait = asyncio.ensure_future(self.client.wait_closed())
        await asyncio.wait({stop_wait, closed_wait}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        closed_wait.cancel()
        status = 0 if self._stop.is_set() else 1
        if status:
            self.log.error("connection to kernel lost: %s", self.client.close_error)
        else:
            self.log.info("shutting down (%s)", self.shutdown_reason)
        try:
            await asyncio.wait_for(self.teardown(), self._shutdown_timeout)
        except asyncio.TimeoutError:
            self.log.warning("teardown exceeded %.1f s", self._shutdown_timeout)
        except Exception:
            self.log.exception("teardown failed")
        return status

    async def _before_ready(self) -> None:
        """Subclass step between setup() and app.ready (ChannelApp registers its channel)."""

    def _install_handlers(self) -> None:
        self.client.on_event(EVENT_APP_SHUTDOWN, self._on_shutdown_event)
        self.client.on_request("tool.invoke", self._on_tool_invoke)
        self.client.on_request("gateway.invoke", self._on_gateway_invoke)
        self.client.on_request("http.request", self._on_http_request)

    def _install_signal_handlers(self) -> List[int]:
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.stop, f"signal {sig.name}")
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass  # not the main thread: the embedding program handles signals
        return installed

    def _remove_signal_handlers(self, signals: Iterable[int]) -> None:
        loop = asyncio.get_running_loop()
        for sig in signals:
            loop.remove_signal_handler(sig)

    def _on_shutdown_event(self, payload: Any) -> None:
        payload = payload if isinstance(payload, dict) else {}
        timeout_ms = payload.get("timeout")
        if isinstance(timeout_ms, (int, float)) and timeout_ms > 0:
            # Leave a little of the kernel's budget for closing the connection and exiting.
            self._shutdown_timeout = max(timeout_ms / 1000.0 * 0.8, 0.1)
        self.stop(str(payload.get("reason") or "app:shutdown"))

    # --- tools --------------------------------------------------------------------------------

    async def register_tool(self, name: str, description: str, input_schema: dict,
                            handler: Handler) -> dict:
        """Registers an agent tool and serves its ``tool.invoke`` with
        ``handler(input)`` or ``handler(input, context)`` (plain or async).

        The handler returns the output (wrapped as ``{output}``) or a dict that already has
        ``output`` (and maybe ``isError``). KernelError → an error response; any other exception →
        ``{output: "<Type>: message", isError: true}`` so the agent sees what went wrong.
        Returns ``{capabilityId, granted}``; raises KernelError(CAPABILITY_DENIED) if not granted.
        """
        self._tools[name] = handler
        config = {"name": name, "description": description, "inputSchema": input_schema}
        return await self._register_capability("tool", name, config,
                                               lambda: self._tools.pop(name, None))

    async def _on_tool_invoke(self, params: dict) -> dict:
        name = params.get("tool")
        handler = self._tools.get(name) if isinstance(name, str) else None
        if handler is None:
            raise KernelError(ErrorCode.METHOD_NOT_FOUND, f"no tool {name!r} in {self.app_id}")
        tool_input = params.get("input")
        context = params.get("context") or {}
        try:
            if _accepts_two_args(handler):
                output = await maybe_await(handler(tool_input, context))
            else:
                output = await maybe_await(handler(tool_input))
        except KernelError:
            raise
        except Exception as e:
            self.log.exception("tool %s failed", name)
            return {"output": f"{type(e).__name__}: {e}", "isError": True}
        if isinstance(output, dict) and "output" in output:
            return output
        return {"output": output}

    # --- gateway methods ----------------------------------------------------------------------

    async def register_method(self, name: str, handler: Handler) -> dict:
        """Registers a control-plane method (must start with the package's short name) served by
        ``handler(params)`` or ``handler(params, client)``; its return value is sent as
        ``{result: value}``. Raises KernelError(CAPABILITY_DENIED) if not granted."""
        self._methods[name] = handler
        return await self._register_capability("gateway_method", name, {"method": name},
                                               lambda: self._methods.pop(name, None))

    async def _on_gateway_invoke(self, params: dict) -> dict:
        name = params.get("method")
        handler = self._methods.get(name) if isinstance(name, str) else None
        if handler is None:
            raise KernelError(ErrorCode.METHOD_NOT_FOUND, f"no method {name!r} in {self.app_id}")
        method_params = params.get("params")
        if method_params is None:
            method_params = {}
        if _accepts_two_args(handler):
            result = await maybe_await(handler(method_params, params.get("client")))
        else:
            result = await maybe_await(handler(method_params))
        return {"result": result}

    # --- HTTP routes --------------------------------------------------------------------------

    def set_http_handler(self, handler: Optional[Handler]) -> None:
        """Serves ``http.request`` for the routes declared in ``capabilities.gateway.httpRoutes``
        (mounted under ``/apps/<short>/``) with ``handler(request)``.

        ``request`` is the kernel's ``{method, path, query, headers, body}`` plus ``bodyBytes``
        (the base64 body decoded). The handler returns ``{status, headers?, body?}`` where body may
        be bytes or str (the SDK base64-encodes it). ``None`` removes the handler.
        """
        self._http_handler = handler

    async def _on_http_request(self, params: dict) -> dict:
        if self._http_handler is None:
            raise KernelError(ErrorCode.METHOD_NOT_FOUND, "this app serves no HTTP routes")
        request = dict(params)
        try:
            request["bodyBytes"] = base64.b64decode(params.get("body") or "", validate=True)
        except (ValueError, TypeError):
            raise KernelError(ErrorCode.INVALID_PARAMS, "body is not base64",
                              {"path": "params.body"}) from None
        response = await maybe_await(self._http_handler(request))
        if not isinstance(response, dict):
            raise KernelError(ErrorCode.INTERNAL_ERROR, "HTTP handler returned no object")
        body = response.get("body", b"")
        if isinstance(body, str):
            body = body.encode("utf-8")
        return {"status": int(response.get("status", 200)),
                "headers": dict(response.get("headers") or {}),
                "body": base64.b64encode(body or b"").decode("ascii")}

    # --- hooks --------------------------------------------------------------------------------

    async def subscribe(self, events: Iterable[str], handler: Handler) -> dict:
        """Subscribes to hook events (``hook.subscribe``) and calls ``handler(payload)`` for each,
        where payload is ``{eventId, hookName, data, context}``.

        For a hook the manifest lists under ``capabilities.hooks.intercepts`` the return value is
        sent back as ``hook.result``: None → ``{action:"continue"}``, a dict with ``action`` as is
        (``modify`` + data, ``block`` + reason), any other dict → modify with that data. Several
        handlers of one intercept hook run in order: a block stops the chain, a modify passes the
        new data on. If an intercept handler raises, no result is sent and the kernel applies its
        timeout policy (continue, or block for ``hooks.failClosed``). Aliases are accepted.
        Returns ``{subscribed[], denied[]}``; denied hooks get no handler.
        """
        names = [canonical_hook(e) for e in events]
        for name in names:
            self._add_hook_handler(name, handler)
        try:
            result = await self.client.request("hook.subscribe", {"events": names})
        except KernelError:
            for name in names:
                self._remove_hook_handler(name, handler)
            raise
        denied = result.get("denied", []) if isinstance(result, dict) else []
        for name in denied:
            if isinstance(name, str):
                self._remove_hook_handler(canonical_hook(name), handler)
        if denied:
            self.log.warning("hook subscription denied: %s", ", ".join(map(str, denied)))
        return result

    def _ensure_hook_listener(self, name: str) -> None:
        """Routes ``hook:<name>`` events to _dispatch_hook (once per hook)."""
        if name not in self._hook_handlers:
            self._hook_handlers[name] = []
            self.client.on_event(HOOK_EVENT_PREFIX + name, self._dispatch_hook)

    def _add_hook_handler(self, name: str, handler: Handler) -> None:
        self._ensure_hook_listener(name)
        self._hook_handlers[name].append(handler)

    def _remove_hook_handler(self, name: str, handler: Handler) -> None:
        handlers = self._hook_handlers.get(name, [])
        if handler in handlers:
            handlers.remove(handler)

    def _is_intercept(self, hook: str) -> bool:
        return hook in INTERCEPT_HOOKS and hook in self._intercepts

    async def _dispatch_hook(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            self.log.warning("hook event without payload object")
            return
        hook = canonical_hook(str(payload.get("hookName", "")))
        if await self._handle_special_hook(hook, payload):
            return
        handlers = list(self._hook_handlers.get(hook, []))
        if not self._is_intercept(hook):
            for handler in handlers:
                try:
                    await maybe_await(handler(payload))
                except Exception:
                    self.log.exception("handler for hook %s failed", hook)
            return
        result = await self._run_interceptors(hook, payload, handlers)
        if result is not None:
            await self.hook_result(payload.get("eventId"), result)

    async def _run_interceptors(self, hook: str, payload: dict,
                                handlers: List[Handler]) -> Optional[dict]:
        modified = False
        current = dict(payload)
        for handler in handlers:
            try:
                answer = _intercept_result(await maybe_await(handler(current)))
            except Exception:
                self.log.exception("interceptor for %s failed; leaving the decision to the "
                                   "kernel's timeout policy", hook)
                return None
            if answer is None:
                self.log.warning("interceptor for %s returned neither None nor a dict; "
                                 "treated as continue", hook)
                continue
            if answer.get("action") == "modify":
                current = {**current, "data": answer.get("data")}
                modified = True
            elif answer.get("action") != "continue":
                return answer
        return {"action": "modify", "data": current["data"]} if modified else {"action": "continue"}

    async def _handle_special_hook(self, hook: str, payload: dict) -> bool:
        """Subclass step: True if the event was consumed (ChannelApp deliveries)."""
        return False

    async def hook_result(self, event_id: Any, result: Any) -> None:
        """Sends ``hook.result {eventId, result}``; failures are logged, not raised."""
        try:
            await self.client.request("hook.result", {"eventId": event_id, "result": result})
        except KernelError as e:
            self.log.warning("hook.result for %s failed: %s", event_id, e)

    # --- other kernel methods -----------------------------------------------------------------

    async def config_get(self, path: Optional[str] = None) -> Any:
        """Returns the app's config (``apps.<id>``, plus ``channels.<channel>`` for a channel app)
        or the value at ``path`` inside what it may read; secrets are never included."""
        result = await self.client.request("config.get", {"path": path} if path else {})
        return result.get("value") if isinstance(result, dict) else None

    async def dispatch(self, session_key: str, content: Any,
                       metadata: Optional[dict] = None) -> dict:
        """Proactive outbound message (``message.dispatch``) → ``{dispatchId, queued}``."""
        params: dict = {"sessionKey": session_key, "content": content}
        if metadata is not None:
            params["metadata"] = metadata
        return await self.client.request("message.dispatch", params)

    async def request_shutdown(self, reason: str = "") -> None:
        """Asks the kernel to stop this app (``app.shutdown``); the kernel then sends
        app:shutdown as usual."""
        await self.client.request("app.shutdown", {"reason": reason} if reason else {})

    async def _register_capability(self, cap_type: str, name: str, config: dict,
                                   undo: Callable[[], Any]) -> dict:
        """capability.register; on refusal runs ``undo`` (drops the local handler) and raises."""
        try:
            result = await self.client.request("capability.register",
                                               {"type": cap_type, "config": config})
        except KernelError:
            undo()
            raise
        if not isinstance(result, dict) or result.get("granted") is False:
            undo()
            reason = result.get("reason") if isinstance(result, dict) else None
            raise KernelError(ErrorCode.CAPABILITY_DENIED,
                              f"{cap_type} {name} not granted: {reason or 'no reason given'}",
                              result)
        return result
