"""The IPC wire format (SPEC §4) as the kernel implements it in ``src/protocol/frame.h``.

One JSON object per line (JSONL, UTF-8). Every frame carries ``id`` (unique per sender), ``type``
and ``timestamp`` (ms since epoch). This module has no I/O: it builds, parses and splits frames so
the client and the tests share one definition.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from typing import Any, List, Optional

PROTOCOL_VERSION = "1.0"
DEFAULT_MAX_FRAME_BYTES = 1 << 20  # ipc.maxFrameBytes default


class ErrorCode:
    """The protocol's error codes, exactly as on the wire."""

    UNKNOWN_ERROR = "UNKNOWN_ERROR"
    INVALID_REQUEST = "INVALID_REQUEST"
    METHOD_NOT_FOUND = "METHOD_NOT_FOUND"
    INVALID_PARAMS = "INVALID_PARAMS"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    TIMEOUT = "TIMEOUT"
    APP_NOT_REGISTERED = "APP_NOT_REGISTERED"
    CAPABILITY_DENIED = "CAPABILITY_DENIED"
    HOOK_NOT_SUBSCRIBED = "HOOK_NOT_SUBSCRIBED"
    CONNECTION_CLOSED = "CONNECTION_CLOSED"


ERROR_CODES = frozenset(v for k, v in vars(ErrorCode).items() if k.isupper())


class KernelError(Exception):
    """An error with a protocol code: raised for ``success:false`` responses and local failures.

    Raise it from a request handler to answer the kernel with that code instead of INTERNAL_ERROR.
    """

    def __init__(self, code: str, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code if code in ERROR_CODES else ErrorCode.UNKNOWN_ERROR
        self.message = message
        self.data = data

    def to_json(self) -> dict:
        """``{code, message, data?}`` as in a response frame."""
        out: dict = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out

    @classmethod
    def from_json(cls, value: Any) -> "KernelError":
        """Reads an ``error`` object; anything malformed becomes UNKNOWN_ERROR."""
        if not isinstance(value, dict):
            return cls(ErrorCode.UNKNOWN_ERROR, str(value))
        code = value.get("code")
        message = value.get("message")
        return cls(code if isinstance(code, str) else ErrorCode.UNKNOWN_ERROR,
                   message if isinstance(message, str) else "", value.get("data"))


# --- hooks (SPEC §6; mirrors src/protocol/hooks.cpp) -------------------------------------------

INTERCEPT_HOOKS = frozenset({"before_agent_start", "message_sending", "before_tool_call",
                             "tool_result_persist"})
SUBSCRIBE_HOOKS = frozenset({"llm_input", "llm_output", "agent_end", "before_compaction",
                             "after_compaction", "before_reset", "message_received", "message_sent",
                             "after_tool_call", "session_start", "session_end", "gateway_start",
                             "gateway_stop"})
HOOK_ALIASES = {"agent_starting": "before_agent_start", "agent_completed": "agent_end",
                "tool_executing": "before_tool_call", "tool_completed": "after_tool_call"}
HOOK_EVENT_PREFIX = "hook:"
EVENT_APP_SHUTDOWN = "app:shutdown"
EVENT_CONFIG_CHANGED = "config:changed"


def canonical_hook(name: str) -> str:
    """``hook:agent_completed`` / ``agent_completed`` → ``agent_end``; unknown names unchanged."""
    if name.startswith(HOOK_EVENT_PREFIX):
        name = name[len(HOOK_EVENT_PREFIX):]
    return HOOK_ALIASES.get(name, name)


# --- frames -------------------------------------------------------------------------------------

class FrameError(Exception):
    """A line that is not a valid frame. ``frame_type`` is the type it claimed, if readable."""

    def __init__(self, message: str, frame_type: Optional[str] = None) -> None:
        super().__init__(message)
        self.frame_type = frame_type


_ids = itertools.count(1)


def next_frame_id() -> str:
    """A process-wide counter id: unique per sender, also across reconnects."""
    return str(next(_ids))


def now_ms() -> int:
    return int(time.time() * 1000)


def make_request(method: str, params: Any, frame_id: Optional[str] = None) -> dict:
    return {"id": frame_id or next_frame_id(), "type": "request", "timestamp": now_ms(),
            "method": method, "params": {} if params is None else params}


def make_ok_response(request_id: Optional[str], result: Any) -> dict:
    return {"id": next_frame_id(), "type": "response", "timestamp": now_ms(),
            "requestId": request_id, "success": True, "result": result}


def make_error_response(request_id: Optional[str], error: KernelError) -> dict:
    return {"id": next_frame_id(), "type": "response", "timestamp": now_ms(),
            "requestId": request_id, "success": False, "error": error.to_json()}


def make_event(event: str, payload: Any) -> dict:
    return {"id": next_frame_id(), "type": "event", "timestamp": now_ms(), "event": event,
            "payload": payload}


def make_stream(request_id: str, chunk: Any, done: bool) -> dict:
    return {"id": next_frame_id(), "type": "stream", "timestamp": now_ms(),
            "requestId": request_id, "chunk": chunk, "done": done}


def serialize_frame(frame: dict) -> bytes:
    """One line terminated by ``\\n``. Raises TypeError/ValueError for non-JSON values."""
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8") + b"\n"


def _required_str(obj: dict, key: str, frame_type: Optional[str]) -> str:
    if key not in obj:
        raise FrameError(f"missing field: {key}", frame_type)
    if not isinstance(obj[key], str):
        raise FrameError(f"field {key} must be a string", frame_type)
    return obj[key]


def _request_id(obj: dict, frame_type: str) -> Optional[str]:
    if "requestId" not in obj:
        raise FrameError("missing field: requestId", frame_type)
    rid = obj["requestId"]
    if rid is not None and not isinstance(rid, str):
        raise FrameError("field requestId must be a string or null", frame_type)
    return rid


def parse_frame(line: bytes) -> dict:
    """Parses and checks one line with the same rules as the kernel's ``ParseFrame``.

    Returns the frame as a dict with ``id`` normalised to a string and defaults filled in
    (``params`` → ``{}``). Raises FrameError naming the problem.
    """
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError) as e:
        raise FrameError(f"not JSON: {e}") from None
    if not isinstance(obj, dict):
        raise FrameError("frame must be a JSON object")
    claimed = obj.get("type") if isinstance(obj.get("type"), str) else None
    if "id" not in obj:
        raise FrameError("missing field: id", claimed)
    fid = obj["id"]
    if isinstance(fid, int) and not isinstance(fid, bool):
        obj["id"] = str(fid)
    elif not isinstance(fid, str):
        raise FrameError("field id must be a string", claimed)
    ftype = _required_str(obj, "type", claimed)
    ts = obj.get("timestamp")
    if ts is None:
        raise FrameError("missing field: timestamp", ftype)
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        raise FrameError("field timestamp must be a number", ftype)

    if ftype == "request":
        _required_str(obj, "method", ftype)
        if obj.get("params") is None:
            obj["params"] = {}
    elif ftype == "response":
        _request_id(obj, ftype)
        if not isinstance(obj.get("success"), bool):
            raise FrameError("missing field: success", ftype)
        if not obj["success"] and obj.get("error") is None:
            raise FrameError("failed response without error", ftype)
    elif ftype == "event":
        _required_str(obj, "event", ftype)
        obj.setdefault("payload", None)
    elif ftype == "stream":
        _request_id(obj, ftype)
        if not isinstance(obj.get("done"), bool):
            raise FrameError("missing field: done", ftype)
        obj.setdefault("chunk", None)
    else:
        raise FrameError(f"unknown frame type: {ftype}", ftype)
    return obj


class Oversize:
    """Marker yielded by LineSplitter for a line longer than the limit (its bytes are dropped)."""

    def __repr__(self) -> str:
        return "OVERSIZE"


OVERSIZE = Oversize()


class LineSplitter:
    """Splits a byte stream into lines of at most ``max_line`` bytes (newline excluded).

    Same rules as the kernel's LineSplitter: a longer line is reported once as OVERSIZE and the rest
    of it is discarded up to its newline; empty lines and a trailing ``\\r`` are dropped. Memory is
    bounded by ``max_line`` whatever the peer sends.
    """

    def __init__(self, max_line: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._max = max_line
        self._buf = bytearray()
        self._discarding = False

    def feed(self, data: bytes) -> List["bytes | Oversize"]:
        """Returns the complete lines (bytes) and OVERSIZE markers found so far, in order."""
        out: List["bytes | Oversize"] = []
        pos, end = 0, len(data)
        while pos < end:
            nl = data.find(b"\n", pos)
            if nl < 0:
                if not self._discarding:
                    if len(self._buf) + (end - pos) > self._max:
                        self._buf.clear()
                        self._discarding = True
                        out.append(OVERSIZE)
                    else:
                        self._buf += data[pos:]
                break
            start, pos = pos, nl + 1
            if self._discarding:
                self._discarding = False
                continue
            if len(self._buf) + (nl - start) > self._max:
                self._buf.clear()
                out.append(OVERSIZE)
                continue
            if self._buf:
                self._buf += data[start:nl]
                line = bytes(self._buf)
                self._buf.clear()
            else:
                line = data[start:nl]
            if line.endswith(b"\r"):
                line = line[:-1]
            if line:
                out.append(line)
        return out

    @property
    def buffered(self) -> int:
        return len(self._buf)


def default_socket_path() -> str:
    """SPEC §2: $OPENCLAWOS_SOCKET, else $XDG_RUNTIME_DIR/openclawos/kernel.sock, else /tmp."""
    explicit = os.environ.get("OPENCLAWOS_SOCKET")
    if explicit:
        return explicit
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "openclawos", "kernel.sock")
    return f"/tmp/openclawos-{os.getuid()}/kernel.sock"
