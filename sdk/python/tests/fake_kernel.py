"""A tiny asyncio Unix-socket peer speaking the SPEC §4 frame format, standing in for the kernel in
the SDK's own tests (correlation, streams, resume, bad frames). It is not a kernel: it only sends
what each test tells it to and checks the frames the SDK sends."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import sys
import time
from typing import Any, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
SDK_DIR = os.path.dirname(HERE)
if SDK_DIR not in sys.path:
    sys.path.insert(0, SDK_DIR)

_peer_ids = itertools.count(1)

# The SDK logs handler failures on purpose; keep test output readable unless asked for logs.
if os.environ.get("OCSDK_TEST_LOG"):
    logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
else:
    logging.getLogger().addHandler(logging.NullHandler())


class FrameCheckError(AssertionError):
    pass


def check_frame_shape(frame: dict) -> None:
    """Every frame the SDK sends must carry id (string), type and a ms timestamp near now."""
    if not isinstance(frame.get("id"), str) or not frame["id"]:
        raise FrameCheckError(f"bad id: {frame}")
    if frame.get("type") not in ("request", "response", "event", "stream"):
        raise FrameCheckError(f"bad type: {frame}")
    ts = frame.get("timestamp")
    if not isinstance(ts, int) or abs(ts - time.time() * 1000) > 60_000:
        raise FrameCheckError(f"bad timestamp: {frame}")
    if frame["type"] == "request" and not isinstance(frame.get("params"), dict):
        raise FrameCheckError(f"request without params object: {frame}")
    if frame["type"] == "response" and "requestId" not in frame:
        raise FrameCheckError(f"response without requestId: {frame}")


class PeerConn:
    """One accepted connection, seen from the kernel side."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 seen_ids: set) -> None:
        self.reader = reader
        self.writer = writer
        self.seen_ids = seen_ids
        self.auto_heartbeat = True

    async def recv(self, timeout: float = 5.0) -> dict:
        """Next frame from the SDK (heartbeats are answered and skipped when auto_heartbeat)."""
        while True:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
            if not line:
                raise EOFError("SDK closed the connection")
            frame = json.loads(line)
            check_frame_shape(frame)
            if frame["id"] in self.seen_ids:
                raise FrameCheckError(f"duplicate frame id {frame['id']}")
            self.seen_ids.add(frame["id"])
            if (self.auto_heartbeat and frame["type"] == "request"
                    and frame["method"] == "app.heartbeat"):
                await self.reply(frame, {"ok": True, "serverTime": int(time.time() * 1000)})
                continue
            return frame

    async def expect_request(self, method: str, timeout: float = 5.0) -> dict:
        frame = await self.recv(timeout)
        if frame["type"] != "request" or frame["method"] != method:
            raise FrameCheckError(f"expected request {method}, got {frame}")
        return frame

    async def expect_response(self, request_id: Optional[str], timeout: float = 5.0) -> dict:
        frame = await self.recv(timeout)
        if frame["type"] != "response" or frame["requestId"] != request_id:
            raise FrameCheckError(f"expected response to {request_id}, got {frame}")
        return frame

    async def send(self, frame: dict) -> None:
        await self.send_raw(json.dumps(frame).encode() + b"\n")

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    @staticmethod
    def frame(ftype: str, **fields: Any) -> dict:
        return {"id": f"k{next(_peer_ids)}", "type": ftype,
                "timestamp": int(time.time() * 1000), **fields}

    async def reply(self, request: dict, result: Any) -> None:
        await self.send(self.frame("response", requestId=request["id"], success=True,
                                   result=result))

    async def reply_error(self, request: dict, code: str, message: str,
                          data: Any = None) -> None:
        error = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        await self.send(self.frame("response", requestId=request["id"], success=False,
                                   error=error))

    async def send_request(self, method: str, params: Any) -> str:
        frame = self.frame("request", method=method, params=params)
        await self.send(frame)
        return frame["id"]

    async def call(self, method: str, params: Any, timeout: float = 5.0) -> dict:
        """Kernel→app request; returns the SDK's response frame."""
        rid = await self.send_request(method, params)
        return await self.expect_response(rid, timeout)

    async def event(self, name: str, payload: Any) -> None:
        await self.send(self.frame("event", event=name, payload=payload))

    async def stream(self, request_id: str, chunk: Any, done: bool) -> None:
        await self.send(self.frame("stream", requestId=request_id, chunk=chunk, done=done))

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    async def expect_eof(self, timeout: float = 5.0) -> None:
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if line:
            raise FrameCheckError(f"expected EOF, got {line!r}")


class FakeKernel:
    """Listens on ``path``; accepted connections queue up for ``accept()``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.server: Optional[asyncio.AbstractServer] = None
        self.conns: asyncio.Queue = asyncio.Queue()
        self.seen_ids: set = set()  # across connections: ids are unique per sender
        self.all_conns: list = []

    async def start(self) -> None:
        self.server = await asyncio.start_unix_server(self._on_conn, self.path, limit=8 << 20)

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = PeerConn(reader, writer, self.seen_ids)
        self.all_conns.append(conn)
        await self.conns.put(conn)

    async def accept(self, timeout: float = 5.0) -> PeerConn:
        return await asyncio.wait_for(self.conns.get(), timeout)

    async def stop_listening(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        if os.path.exists(self.path):
            os.unlink(self.path)

    async def stop(self) -> None:
        for conn in self.all_conns:
            conn.writer.close()
        await self.stop_listening()

    async def register(self, conn: PeerConn, token: str = "tok-1", interval_ms: int = 60_000,
                       app_id: str = "test-app") -> dict:
        """Answers the next app.register; returns its request frame."""
        frame = await conn.expect_request("app.register")
        await conn.reply(frame, {"appId": app_id, "token": token, "protocolVersion": "1.0",
                                 "kernelVersion": "2025.1.0", "heartbeatIntervalMs": interval_ms,
                                 "grants": {"tools": {"provides": ["echo"]}}})
        return frame

    @staticmethod
    async def grant(conn: PeerConn, method: str = "capability.register") -> dict:
        """Answers the next request ``method`` granting it; returns the request frame."""
        frame = await conn.expect_request(method)
        if method == "capability.register":
            await conn.reply(frame, {"capabilityId": f"cap-{frame['id']}", "granted": True})
        elif method == "hook.subscribe":
            await conn.reply(frame, {"subscribed": frame["params"]["events"], "denied": []})
        else:
            await conn.reply(frame, {"ok": True})
        return frame
