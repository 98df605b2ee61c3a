"""The scripted test LLM server (`oc-test-llm`) from Python. It speaks four wire formats, each at
its platform's own endpoint: OpenAI chat completions (`/v1/chat/completions`), Anthropic Messages
(`/v1/messages`), Gemini (`/v1beta/models/<model>:generateContent` / `:streamGenerateContent`) and
Ollama's native `/api/chat`.

    with LlmServer.start() as llm:                       # or: llm = LlmServer.start(); ...; llm.stop()
        llm.script({"match": "weather", "toolCalls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
                   {"content": "It is sunny."})
        config = {"models": {"providers": {"local": {"api": "gemini", "baseUrl": llm.url_for("gemini"), ...}}}}
        ...
        req = llm.requests()[-1]                          # what the kernel sent
        req["format"], req["body"], req["messages"]       # "gemini", the raw body, normalised messages

Each chat request (any format) takes the first queued step whose `match` is a substring of the
last user message (steps without `match` fit any request); with no fitting step the answer is
"echo: <last message content>" ("tool result: <content>" after a tool result).
Step fields (all optional): match, delayMs, chunkDelayMs, status, error {message,type,param,code,
status,details}, retryAfter, headers, content, chunkChars, toolCalls [{id?, name, arguments}],
finishReason (OpenAI words: stop, length, tool_calls, content_filter; mapped to each format's own),
usage {prompt_tokens, completion_tokens}, model, dropAfterChunks, errorAfterChunks (a 200 stream
that carries that many pieces, then the format's in-stream error), hang, rawBody, rawChunks.
See tests/llm_server/llm_script.h for the exact behaviour.
"""
import json
import os
import select
import subprocess
import time
import urllib.error
import urllib.request


def binary_path():
    explicit = os.environ.get("OPENCLAW_TEST_LLM")
    if explicit:
        return explicit
    bin_ = os.environ.get("OPENCLAW_BIN")
    if not bin_:
        raise RuntimeError("set OPENCLAW_TEST_LLM (path of oc-test-llm) or OPENCLAW_BIN")
    return os.path.join(os.path.dirname(bin_), "oc-test-llm")


class _ClassOrInstanceMethod:
    """`LlmServer.start()` builds and starts a server; `server.start()` starts that one."""

    def __init__(self, func):
        self.func = func

    def __get__(self, obj, cls):
        if obj is None:
            return lambda *a, **kw: self.func(cls(), *a, **kw)
        return lambda *a, **kw: self.func(obj, *a, **kw)


# The `api` of a models.providers entry → the wire format the server records for it.
FORMAT_OF_API = {"openai-completions": "openai", "anthropic-messages": "anthropic", "gemini": "gemini",
                 "ollama": "ollama"}


class LlmServer:
    def __init__(self, host="127.0.0.1", port=0, verbose=False, max_recorded=None, reply=None):
        """max_recorded: how many chat requests /_requests keeps (server default 10000; 0 for
        benchmarks with long conversations). reply: the answer when no script step fits (default:
        an echo of the last message)."""
        self.host = host
        self.max_recorded = max_recorded
        self.reply = reply
        self.requested_port = port
        self.verbose = verbose
        self.proc = None
        self.port = None
        self.base_url = None
        self.root_url = None

    @_ClassOrInstanceMethod
    def start(self, timeout=10.0):
        args = [binary_path(), "--host", self.host, "--port", str(self.requested_port)]
        if self.verbose:
            args.append("--verbose")
        if self.max_recorded is not None:
            args += ["--max-recorded", str(self.max_recorded)]
        if self.reply is not None:
            args += ["--reply", self.reply]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = self._read_port_line(timeout)
        if not line.startswith(b"PORT "):
            self.stop()
            raise RuntimeError(f"oc-test-llm printed {line!r} instead of PORT <n>")
        self.port = int(line.split()[1])
        self.root_url = f"http://{self.host}:{self.port}"
        self.base_url = f"{self.root_url}/v1"
        return self

    def url_for(self, api):
        """The provider baseUrl for a models.providers `api`: OpenAI-style clients append
        /chat/completions to .../v1; the others are given the server's root."""
        if api not in FORMAT_OF_API:
            raise ValueError(f"unknown api {api!r}")
        return self.base_url if api == "openai-completions" else self.root_url

    def _read_port_line(self, timeout):
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, left))
            if not ready:
                self.stop()
                raise RuntimeError(f"oc-test-llm did not print its port within {timeout}s")
            chunk = os.read(fd, 1)
            if not chunk:
                code = self.proc.wait()
                raise RuntimeError(f"oc-test-llm exited with {code} before listening")
            line += chunk
        return line

    # ---- control endpoints --------------------------------------------------------------------

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://{self.host}:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"oc-test-llm {path}: HTTP {e.code}: {e.read().decode(errors='replace')}") from None

    def script(self, *steps):
        """Appends steps to the queue (all or nothing: a malformed step raises). Returns the count queued."""
        return self._call("POST", "/_script", {"steps": list(steps)})["queued"]

    def requests(self):
        """The recorded chat requests, oldest first (last 10000): [{format (openai|anthropic|gemini|ollama),
        path, query, authorization, apiKey (as the format carries it), headers, body (raw), model, stream,
        messages, tools}]. messages/tools are normalised the same for every format (absent when the
        request was refused): messages [{role: system|user|assistant|tool, content, toolCalls?
        [{id?, name, arguments}], toolCallId?, name?}], tools [{name, description?, parameters?}]."""
        return self._call("GET", "/_requests")["requests"]

    def reset(self):
        """Forgets queued steps and recorded requests."""
        self._call("POST", "/_reset", {})

    def stats(self):
        """{requests (chat requests since start/reset), pending (steps left), recorded, connections, connectionsTotal}."""
        return self._call("GET", "/_stats")

    def wait_for_requests(self, n, timeout=10.0):
        """Waits until at least n chat requests arrived; returns the recorded list."""
        deadline = time.monotonic() + timeout
        while self.stats()["requests"] < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"oc-test-llm: fewer than {n} requests after {timeout}s")
            time.sleep(0.02)
        return self.requests()

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL if it lingers. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
