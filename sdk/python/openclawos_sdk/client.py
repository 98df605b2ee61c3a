"""KernelClient: the app side of the IPC connection (SPEC §4), on asyncio streams.

One client owns one Unix-socket connection to the kernel at a time. It correlates responses with
requests by ``requestId``, feeds stream frames to Stream iterators, runs event handlers and serves
the kernel's requests (``tool.invoke``, ``gateway.invoke``, ``http.request``) with the handlers
registered through ``on_request``. After ``register`` it sends ``app.heartbeat`` every
``heartbeatIntervalMs`` and, when the connection drops, reconnects with backoff and re-registers
with ``resumeToken`` while the kernel's resume window lasts.

Threading: everything runs on one event loop; no method is thread-safe. Handlers run as tasks, so
a handler may itself call ``request`` without blocking the reader.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from typing import Any, Awaitable, Callable, Dict, List, Optional, Set

from .protocol import (DEFAULT_MAX_FRAME_BYTES, OVERSIZE, PROTOCOL_VERSION, ErrorCode, FrameError,
                       KernelError, LineSplitter, default_socket_path, make_error_response,
                       make_ok_response, make_request, next_frame_id, parse_frame, serialize_frame)

log = logging.getLogger("openclawos_sdk.client")

EventHandler = Callable[[Any], Any]  # handler(payload); may be a coroutine function
RequestHandler = Callable[[Any], Any]  # handler(params) -> result; may be a coroutine function

_READ_CHUNK = 64 * 1024


async def maybe_await(value: Any) -> Any:
    """Awaits ``value`` if it is awaitable, so handlers may be plain or ``async`` functions."""
    if inspect.isawaitable(value):
        return await value
    return value


class Stream:
    """An async iterator over the chunks of one streamed request (e.g. ``config.watch``).

    The request is sent on the first iteration (or by ``start()``). Iteration ends after the frame
    with ``done:true`` (its chunk is yielded first unless it is null), or after ``cancel()``. A
    ``success:false`` response raises KernelError; a dropped connection raises CONNECTION_CLOSED.
    Usable as ``async with client.stream(...) as s:`` which cancels it on exit if still open.
    """

    _END = object()

    def __init__(self, client: "KernelClient", method: str, params: Any) -> None:
        self._client = client
        self.method = method
        self.params = params
        self.request_id = next_frame_id()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._started = False
        self._finished = False

    @property
    def finished(self) -> bool:
        return self._finished

    async def start(self, timeout: Optional[float] = None) -> None:
        """Sends the request. Raises KernelError (CONNECTION_CLOSED, TIMEOUT) if it cannot."""
        if self._started:
            return
        self._started = True
        self._client._streams[self.request_id] = self
        try:
            await self._client._wait_connected(timeout)
            await self._client._send(make_request(self.method, self.params, self.request_id))
        except BaseException:
            self._finish()
            raise

    async def cancel(self) -> None:
        """Ends the stream locally and asks the kernel to stop it (``stream.cancel``)."""
        if self._finished:
            return
        self._finish()
        self._queue.put_nowait(self._END)
        if self._started and self._client.connected:
            try:
                await self._client.request("stream.cancel", {"requestId": self.request_id},
                                           timeout=5.0)
            except KernelError as e:
                log.debug("stream.cancel %s: %s", self.request_id, e)

    def __aiter__(self) -> "Stream":
        return self

    async def __anext__(self) -> Any:
        if not self._started:
            await self.start()
        if self._finished and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is self._END:
            raise StopAsyncIteration
        if isinstance(item, KernelError):
            raise item
        return item

    async def __aenter__(self) -> "Stream":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.cancel()

    # Called by the client's reader, in frame order.
    def _on_chunk(self, chunk: Any, done: bool) -> None:
        if self._finished:
            return
        if not done or chunk is not None:
            self._queue.put_nowait(chunk)
        if done:
            self._finish()
            self._queue.put_nowait(self._END)

    def _on_error(self, error: KernelError) -> None:
        if self._finished:
            return
        self._finish()
        self._queue.put_nowait(error)

    def _finish(self) -> None:
        self._finished = True
        self._client._streams.pop(self.request_id, None)


class KernelClient:
    """Connection to the kernel. See the module docstring for the overall contract.

    Args:
        socket_path: Unix socket; default ``$OPENCLAWOS_SOCKET`` then the SPEC §2 fallbacks.
        max_frame_bytes: longest line sent or accepted (``ipc.maxFrameBytes``).
        request_timeout: default seconds to wait for a response.
        resume_window: seconds after a drop during which reconnecting with ``resumeToken`` is
            attempted (``ipc.resumeWindowMs``, 10 s by default).
        reconnect: False disables resuming; a drop then closes the client.
    """

    def __init__(self, socket_path: Optional[str] = None, *,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, request_timeout: float = 30.0,
                 resume_window: float = 10.0, reconnect: bool = True,
                 reconnect_initial_delay: float = 0.1, reconnect_max_delay: float = 2.0) -> None:
        self.socket_path = socket_path or default_socket_path()
        self.max_frame_bytes = max_frame_bytes
        self.request_timeout = request_timeout
        self.resume_window = resume_window
        self.reconnect = reconnect
        self._reconnect_initial = reconnect_initial_delay
        self._reconnect_max = reconnect_max_delay

        self._writer: Optional[asyncio.StreamWriter] = None
        self._reader_task: Optional[asyncio.Task] = None
        self._generation = 0  # bumps per connection, so a stale reader cannot act on a new one
        self._write_lock = asyncio.Lock()
        self._connected = asyncio.Event()
        self._closed = asyncio.Event()
        self._close_error: Optional[KernelError] = None
        self._closing = False

        self._pending: Dict[str, asyncio.Future] = {}
        self._streams: Dict[str, Stream] = {}
        self._event_handlers: Dict[str, List[EventHandler]] = {}
        self._request_handlers: Dict[str, RequestHandler] = {}
        self._tasks: Set[asyncio.Task] = set()
        self._reconnect_callbacks: List[Callable[[], Any]] = []

        self._manifest: Optional[dict] = None
        self._token: Optional[str] = None
        self.registration: dict = {}
        self._heartbeat_task: Optional[asyncio.Task] = None
        self._reconnect_task: Optional[asyncio.Task] = None

    # --- state --------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while a registered (or not yet registering) connection is usable."""
        return self._connected.is_set()

    @property
    def closed(self) -> bool:
        """True once the client gave up (close(), or a drop that could not be resumed)."""
        return self._closed.is_set()

    @property
    def close_error(self) -> Optional[KernelError]:
        """Why the client closed: None after close(), else the error that ended it."""
        return self._close_error

    async def wait_closed(self) -> Optional[KernelError]:
        """Waits until the client is closed; returns ``close_error``."""
        await self._closed.wait()
        return self._close_error

    # --- handlers -----------------------------------------------------------------------------

    def on_event(self, name: str, handler: EventHandler) -> None:
        """Calls ``handler(payload)`` for every event frame named ``name`` (e.g. ``app:shutdown``,
        ``hook:agent_end``). Several handlers per name run in registration order, each in its own
        task; an exception is logged and does not affect the connection."""
        self._event_handlers.setdefault(name, []).append(handler)

    def off_event(self, name: str, handler: EventHandler) -> None:
        """Removes a handler added by on_event; unknown handlers are ignored."""
        handlers = self._event_handlers.get(name, [])
        if handler in handlers:
            handlers.remove(handler)

    def on_request(self, method: str, handler: Optional[RequestHandler]) -> None:
        """Serves kernel→app requests for ``method`` with ``handler(params) -> result``.

        The result (JSON-serialisable) goes back in a ``success:true`` response. Raising
        KernelError answers with its code; any other exception answers INTERNAL_ERROR. A method
        without handler answers METHOD_NOT_FOUND. ``None`` removes the handler.
        """
        if handler is None:
            self._request_handlers.pop(method, None)
        else:
            self._request_handlers[method] = handler

    def on_reconnect(self, callback: Callable[[], Any]) -> None:
        """Calls ``callback()`` (plain or async) after each successful resume."""
        self._reconnect_callbacks.append(callback)

    # --- connection and registration ----------------------------------------------------------

    async def connect(self) -> None:
        """Opens the socket. Raises KernelError(CONNECTION_CLOSED) when it cannot be reached."""
        if self._closed.is_set():
            raise KernelError(ErrorCode.CONNECTION_CLOSED, "client is closed")
        try:
            await self._open()
        except OSError as e:
            raise KernelError(ErrorCode.CONNECTION_CLOSED,
                              f"cannot connect to {self.socket_path}: {e}") from None
        self._connected.set()

    async def register(self, manifest: dict, spawn_token: Optional[str] = None, *,
                       timeout: Optional[float] = None) -> dict:
        """Sends ``app.register {manifest, spawnToken}`` and starts heartbeats.

        ``spawn_token`` defaults to ``$OPENCLAWOS_APP_TOKEN`` (omitted when unset: an external
        app). Returns the result ``{appId, token, protocolVersion, kernelVersion,
        heartbeatIntervalMs, grants}``. Raises KernelError when the kernel refuses.
        """
        if spawn_token is None:
            spawn_token = os.environ.get("OPENCLAWOS_APP_TOKEN")
        params: dict = {"manifest": manifest}
        if spawn_token:
            params["spawnToken"] = spawn_token
        result = await self.request("app.register", params, timeout=timeout)
        if not isinstance(result, dict):
            raise KernelError(ErrorCode.INTERNAL_ERROR, "app.register returned no object")
        self._manifest = manifest
        self._token = result.get("token") if isinstance(result.get("token"), str) else None
        self.registration = result
        kernel_protocol = str(result.get("protocolVersion", PROTOCOL_VERSION))
        if kernel_protocol.split(".")[0] != PROTOCOL_VERSION.split(".")[0]:
            log.warning("kernel speaks protocol %s, this SDK %s", kernel_protocol,
                        PROTOCOL_VERSION)
        interval_ms = result.get("heartbeatIntervalMs")
        if isinstance(interval_ms, (int, float)) and interval_ms > 0:
            self._start_heartbeat(interval_ms / 1000.0)
        return result

    async def close(self) -> None:
        """Closes the connection for good: no resume, pending requests fail CONNECTION_CLOSED,
        handler tasks are cancelled. Idempotent."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        current = asyncio.current_task()
        for task in (self._heartbeat_task, self._reconnect_task, self._reader_task):
            if task is not None and task is not current:
                task.cancel()
        self._connected.clear()
        await self._close_writer()
        self._fail_all(KernelError(ErrorCode.CONNECTION_CLOSED, "client closed"))
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        self._closed.set()

    # --- requests -----------------------------------------------------------------------------

    async def request(self, method: str, params: Any = None,
                      timeout: Optional[float] = None) -> Any:
        """Sends a request and returns its ``result``.

        Waits (within ``timeout``) for a connection being resumed. Raises KernelError: the
        kernel's error for ``success:false``, TIMEOUT when no response comes in time,
        CONNECTION_CLOSED when the connection drops first, INVALID_REQUEST if the frame would
        exceed ``max_frame_bytes``.
        """
        timeout = self.request_timeout if timeout is None else timeout
        deadline = asyncio.get_running_loop().time() + timeout
        await self._wait_connected(timeout)
        return await self._request_now(method, params, deadline)

    def stream(self, method: str, params: Any = None) -> Stream:
        """Returns a Stream for ``method``; the request is sent when iteration starts."""
        return Stream(self, method, params)

    async def _request_now(self, method: str, params: Any, deadline: float) -> Any:
        loop = asyncio.get_running_loop()
        frame = make_request(method, params)
        future: asyncio.Future = loop.create_future()
        self._pending[frame["id"]] = future
        try:
            await self._send(frame)
            remaining = max(deadline - loop.time(), 0.0)
            return await asyncio.wait_for(future, remaining)
        except asyncio.TimeoutError:
            raise KernelError(ErrorCode.TIMEOUT, f"no response to {method}") from None
        finally:
            self._pending.pop(frame["id"], None)
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()  # failed while we were being cancelled: mark it seen

    def drop_connection_for_testing(self) -> None:
        """Test hook: breaks the socket as if the connection failed, so reconnect + resume run."""
        if self._writer is not None:
            self._writer.transport.abort()

    async def _wait_connected(self, timeout: Optional[float]) -> None:
        if self._closed.is_set():
            raise self._close_error or KernelError(ErrorCode.CONNECTION_CLOSED, "client is closed")
        if self._connected.is_set():
            return
        if self._writer is None and self._reconnect_task is None:
            raise KernelError(ErrorCode.CONNECTION_CLOSED, "not connected")
        waiters = [asyncio.ensure_future(self._connected.wait()),
                   asyncio.ensure_future(self._closed.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
        if self._connected.is_set():
            return
        if self._closed.is_set():
            raise self._close_error or KernelError(ErrorCode.CONNECTION_CLOSED, "client is closed")
        raise KernelError(ErrorCode.TIMEOUT, "connection not resumed in time")

    async def _send(self, frame: dict) -> None:
        """Writes one frame. Raises KernelError (INVALID_REQUEST if too large, CONNECTION_CLOSED)."""
        line = serialize_frame(frame)
        if len(line) - 1 > self.max_frame_bytes:
            raise KernelError(ErrorCode.INVALID_REQUEST,
                              f"frame too large ({len(line) - 1} > {self.max_frame_bytes} bytes)")
        async with self._write_lock:
            writer = self._writer
            if writer is None or writer.is_closing():
                raise KernelError(ErrorCode.CONNECTION_CLOSED, "not connected")
            try:
                writer.write(line)
                await writer.drain()
            except (ConnectionError, OSError) as e:
                raise KernelError(ErrorCode.CONNECTION_CLOSED, f"write failed: {e}") from None

    # --- reading and dispatch -----------------------------------------------------------------

    async def _open(self) -> None:
        reader, writer = await asyncio.open_unix_connection(self.socket_path)
        await self._close_writer()
        self._generation += 1
        self._writer = writer
        self._reader_task = asyncio.create_task(self._read_loop(reader, self._generation))

    async def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    async def _read_loop(self, reader: asyncio.StreamReader, generation: int) -> None:
        splitter = LineSplitter(self.max_frame_bytes)
        try:
            while True:
                data = await reader.read(_READ_CHUNK)
                if not data:
                    break
                for line in splitter.feed(data):
                    if line is OVERSIZE:
                        log.warning("kernel sent a frame over %d bytes; discarded",
                                    self.max_frame_bytes)
                        self._reply_bad_frame("frame too large")
                    else:
                        self._handle_line(line)
        except (ConnectionError, OSError) as e:
            log.warning("connection error: %s", e)
        self._connection_lost(generation)

    def _handle_line(self, line: bytes) -> None:
        try:
            frame = parse_frame(line)
        except FrameError as e:
            log.warning("bad frame from kernel: %s", e)
            # Never answer an answer: that could ping-pong between two confused peers.
            if e.frame_type not in ("response", "stream"):
                self._reply_bad_frame(str(e))
            return
        ftype = frame["type"]
        if ftype == "response":
            self._on_response(frame)
        elif ftype == "stream":
            stream = self._streams.get(frame["requestId"] or "")
            if stream is None:
                log.debug("stream frame for unknown request %s", frame["requestId"])
            else:
                stream._on_chunk(frame["chunk"], frame["done"])
        elif ftype == "event":
            self._on_event(frame["event"], frame["payload"])
        else:
            self._spawn(self._serve_request(frame))

    def _on_response(self, frame: dict) -> None:
        rid = frame["requestId"]
        error = None if frame["success"] else KernelError.from_json(frame.get("error"))
        if rid is None:
            log.warning("kernel rejected a frame: %s", error)
            return
        future = self._pending.get(rid)
        if future is not None:
            if not future.done():
                if error is None:
                    future.set_result(frame.get("result"))
                else:
                    future.set_exception(error)
            return
        stream = self._streams.get(rid)
        if stream is not None:
            if error is not None:
                stream._on_error(error)
            return  # a success response only acknowledges a stream
        log.debug("response for unknown request %s", rid)

    def _on_event(self, name: str, payload: Any) -> None:
        handlers = self._event_handlers.get(name)
        if not handlers:
            log.debug("event %s without handler", name)
            return
        for handler in list(handlers):
            self._spawn(self._run_event_handler(handler, name, payload))

    async def _run_event_handler(self, handler: EventHandler, name: str, payload: Any) -> None:
        try:
            await maybe_await(handler(payload))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handler for event %s failed", name)

    async def _serve_request(self, frame: dict) -> None:
        rid, method = frame["id"], frame["method"]
        handler = self._request_handlers.get(method)
        try:
            if handler is None:
                raise KernelError(ErrorCode.METHOD_NOT_FOUND, f"no handler for {method}")
            result = await maybe_await(handler(frame["params"]))
            response = make_ok_response(rid, result)
            serialize_frame(response)  # fail here, as INTERNAL_ERROR, if it is not JSON
        except asyncio.CancelledError:
            raise
        except KernelError as e:
            response = make_error_response(rid, e)
        except Exception as e:
            log.exception("handler for %s failed", method)
            response = make_error_response(
                rid, KernelError(ErrorCode.INTERNAL_ERROR, f"{type(e).__name__}: {e}"))
        try:
            await self._send(response)
        except KernelError as e:
            if e.code != ErrorCode.INVALID_REQUEST:
                log.warning("could not answer %s: %s", method, e)
                return
            log.warning("result of %s too large: %s", method, e.message)
            try:
                await self._send(make_error_response(
                    rid, KernelError(ErrorCode.INTERNAL_ERROR, "result too large")))
            except KernelError:
                pass

    def _reply_bad_frame(self, message: str) -> None:
        error = KernelError(ErrorCode.INVALID_REQUEST, message)
        self._spawn(self._send_quietly(make_error_response(None, error)))

    async def _send_quietly(self, frame: dict) -> None:
        try:
            await self._send(frame)
        except KernelError as e:
            log.debug("could not send: %s", e)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- heartbeat, loss and resume -----------------------------------------------------------

    def _start_heartbeat(self, interval: float) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        self._heartbeat_task = asyncio.create_task(self._heartbeat_loop(interval))

    async def _heartbeat_loop(self, interval: float) -> None:
        while not self._closed.is_set():
            await asyncio.sleep(interval)
            try:
                await self.request("app.heartbeat", {}, timeout=max(interval, 5.0))
            except KernelError as e:
                if self._closed.is_set():
                    return
                log.warning("heartbeat failed: %s", e)

    def _fail_all(self, error: KernelError) -> None:
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
        for stream in list(self._streams.values()):
            stream._on_error(error)

    def _connection_lost(self, generation: int) -> None:
        if generation != self._generation or self._closing:
            return
        self._connected.clear()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        self._fail_all(KernelError(ErrorCode.CONNECTION_CLOSED, "connection to kernel lost"))
        if self._reconnect_task is not None:
            return  # the resume loop notices by itself
        if self.reconnect and self._token and self._manifest is not None:
            log.warning("connection to kernel lost; resuming")
            self._reconnect_task = asyncio.create_task(self._resume_loop())
        else:
            log.error("connection to kernel lost")
            self._finish_closed(KernelError(ErrorCode.CONNECTION_CLOSED,
                                            "connection to kernel lost"))

    async def _resume_loop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.resume_window
        delay = self._reconnect_initial
        try:
            while loop.time() < deadline:
                await asyncio.sleep(min(delay, max(deadline - loop.time(), 0.0)))
                delay = min(delay * 2, self._reconnect_max)
                error = await self._try_resume(deadline)
                if error is None:
                    return
                if error.code not in (ErrorCode.CONNECTION_CLOSED, ErrorCode.TIMEOUT):
                    log.error("kernel refused resume: %s", error)
                    self._finish_closed(error)
                    return
            self._finish_closed(KernelError(ErrorCode.CONNECTION_CLOSED,
                                            "could not resume within the resume window"))
        finally:
            self._reconnect_task = None

    async def _try_resume(self, deadline: float) -> Optional[KernelError]:
        """One attempt: connect and ``app.register {manifest, resumeToken}``. None on success."""
        loop = asyncio.get_running_loop()
        try:
            await self._open()
        except OSError as e:
            log.debug("resume: connect failed: %s", e)
            return KernelError(ErrorCode.CONNECTION_CLOSED, str(e))
        params = {"manifest": self._manifest, "resumeToken": self._token}
        try:
            budget = min(self.request_timeout, max(deadline - loop.time(), 1.0))
            result = await self._request_now("app.register", params, loop.time() + budget)
        except KernelError as e:
            await self._close_writer()
            return e
        if isinstance(result, dict):
            self.registration = {**self.registration, **result}
            if isinstance(result.get("token"), str):
                self._token = result["token"]
        self._connected.set()
        log.info("resumed connection to kernel")
        for callback in list(self._reconnect_callbacks):
            self._spawn(self._run_event_handler(lambda _p, cb=callback: cb(), "reconnect", None))
        return None

    def _finish_closed(self, error: KernelError) -> None:
        self._close_error = error
        self._closing = True
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
        self._fail_all(error)
        self._closed.set()
