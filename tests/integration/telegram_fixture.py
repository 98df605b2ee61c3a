"""A local Telegram Bot API server for black-box tests (Python standard library only).

It implements the methods the Telegram app uses — getMe, getUpdates, sendMessage, sendChatAction,
deleteWebhook — with the Bot API's documented shapes: every answer is {"ok": true, "result": ...} or
{"ok": false, "error_code": N, "description": "...", "parameters"?: {"retry_after": S}}, with the HTTP
status equal to error_code. Like Telegram it:
  - checks the token in the path (/bot<token>/<method>): 401 "Unauthorized" otherwise, 404 "Not Found"
    for an unknown method;
  - keeps updates until confirmed: getUpdates(offset) forgets every update with update_id < offset;
    timeout > 0 long-polls until an update arrives; a newer getUpdates ends a waiting one with 409
    "Conflict: terminated by other getUpdates request; ...";
  - parses MarkdownV2 strictly: a reserved character outside an entity → 400 "Bad Request: can't parse
    entities: Character 'X' is reserved and must be escaped with the preceding '\\'", an unclosed
    entity → 400 "Bad Request: can't parse entities: Can't find end of <Type> entity at byte offset N";
  - refuses a text longer than 4096 UTF-16 units after entity parsing (400 "Bad Request: message is
    too long") and an empty one (400 "Bad Request: message text is empty").

    api = FakeBotApi().start()                  # api.base_url → channels.telegram.apiBaseUrl
    api.private_message(42, "hello")            # an update from user 42 in their private chat
    api.group_message(-100, 43, "@PiBot hi", mention=True)
    api.fail_next("sendMessage", 429, retry_after=2)
    api.wait_sent(1)[0]["text"]                 # what the bot sent (the parsed plain text)
    api.stop()
"""
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESERVED = "_*[]()~`>#+-=|{}.!"
MESSAGE_LIMIT = 4096


class MarkdownError(Exception):
    pass


def utf16_len(text):
    return len(text.encode("utf-16-le")) // 2


ENTITY_NAMES = {"bold": "Bold", "italic": "Italic", "underline": "Underline", "strikethrough": "Strikethrough",
                "spoiler": "Spoiler", "text_link": "TextUrl"}
MARKERS = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}


def parse_markdown_v2(text):
    """(plain text, entities) as Telegram reads MarkdownV2; MarkdownError with Telegram's wording."""
    plain = []
    entities = []
    stack = []  # (type, plain offset in utf-16, byte offset in the source)
    units = 0
    i = 0
    raw = text.encode("utf-8")

    def byte_offset(pos):
        return len(text[:pos].encode("utf-8"))

    def emit(s):
        nonlocal units
        plain.append(s)
        units += utf16_len(s)

    def until(pos, end):
        """Text up to the unescaped `end` (only '\\' escapes there) and the index after it."""
        out = []
        while pos < len(text) and not text.startswith(end, pos):
            if text[pos] == "\\" and pos + 1 < len(text):
                pos += 1
            out.append(text[pos])
            pos += 1
        if pos >= len(text):
            return None, pos
        return "".join(out), pos + len(end)

    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 < len(text) and 1 <= ord(text[i + 1]) <= 126:
                emit(text[i + 1])
                i += 2
                continue
            raise MarkdownError("Character '\\' is reserved and must be escaped with the preceding '\\'")
        if text.startswith("```", i):
            start = i
            eol = text.find("\n", i + 3)
            language = text[i + 3:eol] if eol >= 0 else ""
            body_start = eol + 1 if eol >= 0 and " " not in language else i + 3
            code, i = until(body_start, "```")
            if code is None:
                raise MarkdownError(f"Can't find end of Pre entity at byte offset {byte_offset(start)}")
            if code.endswith("\n"):
                code = code[:-1]
            entities.append({"type": "pre", "offset": units, "length": utf16_len(code),
                             **({"language": language} if body_start != i + 3 and language else {})})
            emit(code)
            continue
        if c == "`":
            start = i
            code, i = until(i + 1, "`")
            if code is None:
                raise MarkdownError(f"Can't find end of Code entity at byte offset {byte_offset(start)}")
            entities.append({"type": "code", "offset": units, "length": utf16_len(code)})
            emit(code)
            continue
        marker = "__" if text.startswith("__", i) else "||" if text.startswith("||", i) else c
        if marker in MARKERS:
            kind = MARKERS[marker]
            if stack and stack[-1][0] == kind:
                _, offset, _ = stack.pop()
                if units > offset:
                    entities.append({"type": kind, "offset": offset, "length": units - offset})
            elif any(s[0] == kind for s in stack):
                raise MarkdownError(f"Can't find end of {ENTITY_NAMES[stack[-1][0]]} entity at byte offset {stack[-1][2]}")
            else:
                stack.append((kind, units, byte_offset(i)))
            i += len(marker)
            continue
        if c == "[":
            stack.append(("text_link", units, byte_offset(i)))
            i += 1
            continue
        if c == "]" and stack and stack[-1][0] == "text_link":
            _, offset, at = stack.pop()
            if not text.startswith("(", i + 1):
                raise MarkdownError(f"Can't find end of TextUrl entity at byte offset {at}")
            url, i = until(i + 2, ")")
            if url is None:
                raise MarkdownError(f"Can't find end of a URL at byte offset {byte_offset(i)}")
            entities.append({"type": "text_link", "offset": offset, "length": units - offset, "url": url})
            continue
        if c == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1  # a blockquote line
            continue
        if c in RESERVED:
            raise MarkdownError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        emit(c)
        i += 1
    if stack:
        kind, _, at = stack[-1]
        raise MarkdownError(f"Can't find end of {ENTITY_NAMES[kind]} entity at byte offset {at}")
    del raw
    entities.sort(key=lambda e: e["offset"])
    return "".join(plain), entities


class ApiError(Exception):
    def __init__(self, code, description, retry_after=None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self):
        b = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            b["parameters"] = {"retry_after": self.retry_after}
        return b


class FakeBotApi:
    def __init__(self, token="123456:TEST-telegram-token", bot_id=777000, username="PiBot", first_name="Pi"):
        self.token = token
        self.bot = {"id": bot_id, "is_bot": True, "first_name": first_name, "username": username,
                    "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
        self.lock = threading.Condition()
        self.updates = []          # unconfirmed updates, oldest first
        self.next_update_id = 500000
        self.next_message_id = {}  # per chat
        self.chats = {}            # chat id → Chat object
        self.requests = []         # every request: {method, params, status, time}
        self.sent = []             # accepted sendMessage calls: {chat_id, text (plain), raw, parse_mode, entities, message_id}
        self.actions = []          # accepted sendChatAction calls: {chat_id, action, time}
        self.failures = []         # [method, ApiError, remaining]
        self.poll_generation = 0
        self.hold_beyond = None    # getUpdates with an offset above this hang (hold_polls)
        self.held = []             # offsets of the getUpdates calls hanging now
        self.server = None

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                api._serve(self)

            def do_POST(self):
                api._serve(self)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that went away mid-request (a killed app) is not news

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self

    def stop(self):
        if self.server:
            with self.lock:
                self.poll_generation += 1
                self.lock.notify_all()
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ---- what the test does ----------------------------------------------------------------------

    def _message_id(self, chat_id):
        self.next_message_id[chat_id] = self.next_message_id.get(chat_id, 0) + 1
        return self.next_message_id[chat_id]

    def inject_update(self, update_fields):
        """Queues an update (fields besides update_id); returns its update_id."""
        with self.lock:
            self.next_update_id += 1
            update = {"update_id": self.next_update_id, **update_fields}
            self.updates.append(update)
            self.lock.notify_all()
            return update["update_id"]

    def user(self, user_id, username=None, first_name=None):
        u = {"id": user_id, "is_bot": False, "first_name": first_name or f"User{user_id}"}
        if username:
            u["username"] = username
        return u

    def private_message(self, user_id, text, username=None, first_name=None, entities=None):
        chat = {"id": user_id, "first_name": first_name or f"User{user_id}", "type": "private"}
        if username:
            chat["username"] = username
        return self._message(chat, self.user(user_id, username, first_name), text, entities)

    def group_message(self, chat_id, user_id, text, mention=False, command=None, reply_to_bot=False,
                      chat_type="supergroup", username=None, entities=None):
        """A group message; mention=True marks the first "@<bot username>" in `text` as a mention
        entity, command="/x" the first "/x@<bot username>" as a bot_command; reply_to_bot makes it a
        reply to an earlier message of the bot."""
        chat = {"id": chat_id, "title": f"Group {chat_id}", "type": chat_type}
        entities = list(entities or [])
        if mention:
            at = text.index("@" + self.bot["username"])
            entities.append({"offset": utf16_len(text[:at]), "length": utf16_len(self.bot["username"]) + 1,
                             "type": "mention"})
        if command:
            word = command + "@" + self.bot["username"]
            at = text.index(word)
            entities.append({"offset": utf16_len(text[:at]), "length": utf16_len(word), "type": "bot_command"})
        reply = None
        if reply_to_bot:
            reply = {"message_id": 1, "from": dict(self.bot), "chat": chat, "date": int(time.time()) - 60,
                     "text": "an earlier answer"}
        return self._message(chat, self.user(user_id, username), text, entities, reply)

    def _message(self, chat, sender, text, entities=None, reply=None):
        with self.lock:
            self.chats[chat["id"]] = chat
            message = {"message_id": self._message_id(chat["id"]), "from": sender, "chat": chat,
                       "date": int(time.time()), "text": text}
        if entities:
            message["entities"] = sorted(entities, key=lambda e: e["offset"])
        if reply:
            message["reply_to_message"] = reply
        return self.inject_update({"message": message})

    def fail_next(self, method, code, description=None, retry_after=None, count=1):
        """The next `count` calls of `method` fail with this error (429 gets parameters.retry_after)."""
        if description is None:
            description = {429: f"Too Many Requests: retry after {retry_after}", 401: "Unauthorized",
                           409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                           400: "Bad Request"}.get(code, "Internal Server Error")
        with self.lock:
            self.failures.append([method, ApiError(code, description, retry_after), count])

    def hold_polls(self, beyond):
        """getUpdates calls whose offset is above `beyond` (they would confirm update `beyond`) hang
        without confirming anything, until hold_polls(None); then they end with 409 as if another
        poller had taken over. Simulates an app that dies before it recorded its progress."""
        with self.lock:
            self.hold_beyond = beyond
            if beyond is None:
                self.poll_generation += 1
            self.lock.notify_all()

    def held_offsets(self):
        with self.lock:
            return list(self.held)

    def calls(self, method=None):
        with self.lock:
            return [r for r in self.requests if method is None or r["method"] == method]

    def sent_messages(self, chat_id=None):
        with self.lock:
            return [m for m in self.sent if chat_id is None or m["chat_id"] == chat_id]

    def chat_actions(self, chat_id=None):
        with self.lock:
            return [a for a in self.actions if chat_id is None or a["chat_id"] == chat_id]

    def pending_updates(self):
        with self.lock:
            return [u["update_id"] for u in self.updates]

    def wait_sent(self, n, chat_id=None, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            got = self.sent_messages(chat_id)
            if len(got) >= n:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"fake Bot API: {len(got)} of {n} messages sent to {chat_id} after {timeout}s: {got}")
            time.sleep(0.02)

    # ---- serving ---------------------------------------------------------------------------------

    def _serve(self, handler):
        parsed = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parts = parsed.path.split("/")
        method = parts[2] if len(parts) == 3 else ""
        record = {"method": method, "time": time.monotonic(), "params": {}, "status": 0}
        try:
            if len(parts) != 3 or parts[1] != "bot" + self.token:
                raise ApiError(401, "Unauthorized")
            params = self._params(parsed.query, body, handler.headers.get("Content-Type", ""))
            record["params"] = params
            result = self._call(method, params)
            status, answer = 200, {"ok": True, "result": result}
        except ApiError as e:
            status, answer = e.code, e.body()
        record["status"] = status
        with self.lock:
            self.requests.append(record)
        data = json.dumps(answer).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client went away (a killed app's long poll)

    @staticmethod
    def _params(query, body, content_type):
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        if body and content_type.startswith("application/json"):
            try:
                decoded = json.loads(body)
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON object") from None
            if not isinstance(decoded, dict):
                raise ApiError(400, "Bad Request: can't parse JSON object")
            params.update(decoded)
        elif body:
            params.update({k: v[-1] for k, v in urllib.parse.parse_qs(body.decode()).items()})
        return params

    def _injected_failure(self, method):
        with self.lock:
            for f in self.failures:
                if f[0] == method and f[2] > 0:
                    f[2] -= 1
                    return f[1]
        return None

    def _call(self, method, params):
        handlers = {"getMe": self._get_me, "getUpdates": self._get_updates, "sendMessage": self._send_message,
                    "sendChatAction": self._send_chat_action, "deleteWebhook": lambda p: True}
        if method not in handlers:
            raise ApiError(404, "Not Found")
        failure = self._injected_failure(method)
        if failure:
            raise failure
        return handlers[method](params)

    def _get_me(self, params):
        return dict(self.bot)

    @staticmethod
    def _int(params, key, default):
        value = params.get(key, default)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ApiError(400, f"Bad Request: invalid {key} specified") from None

    def _get_updates(self, params):
        offset = self._int(params, "offset", 0)
        limit = max(1, min(100, self._int(params, "limit", 100)))
        timeout = max(0, self._int(params, "timeout", 0))
        allowed = params.get("allowed_updates")
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        deadline = time.monotonic() + timeout
        with self.lock:
            self.poll_generation += 1
            generation = self.poll_generation
            self.lock.notify_all()  # an older long poll ends with 409, as Telegram does
            if self.hold_beyond is not None and offset > self.hold_beyond:
                self.held.append(offset)
                try:
                    while self.hold_beyond is not None and self.poll_generation == generation:
                        self.lock.wait(0.5)
                finally:
                    self.held.remove(offset)
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only "
                                    "one bot instance is running")
            while True:
                if offset:
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                ready = [u for u in self.updates if not allowed or any(k in u for k in allowed)]
                if ready or time.monotonic() >= deadline:
                    return ready[:limit]
                self.lock.wait(min(0.5, deadline - time.monotonic()))
                if self.poll_generation != generation:
                    raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only "
                                        "one bot instance is running")

    def _chat(self, params):
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat_id = int(chat_id)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        with self.lock:
            chat = self.chats.get(chat_id)
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _send_message(self, params):
        chat = self._chat(params)
        raw = params.get("text")
        if not isinstance(raw, str):
            raise ApiError(400, "Bad Request: message text is empty")
        parse_mode = params.get("parse_mode")
        entities = []
        text = raw
        if parse_mode == "MarkdownV2":
            try:
                text, entities = parse_markdown_v2(raw)
            except MarkdownError as e:
                raise ApiError(400, f"Bad Request: can't parse entities: {e}") from None
        elif parse_mode not in (None, ""):
            raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > MESSAGE_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        with self.lock:
            message = {"message_id": self._message_id(chat["id"]), "from": dict(self.bot), "chat": chat,
                       "date": int(time.time()), "text": text}
            if entities:
                message["entities"] = entities
            self.sent.append({"chat_id": chat["id"], "text": text, "raw": raw, "parse_mode": parse_mode,
                              "entities": entities, "message_id": message["message_id"], "time": time.monotonic()})
        return message

    def _send_chat_action(self, params):
        chat = self._chat(params)
        action = params.get("action")
        if action not in ("typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                          "upload_document", "choose_sticker", "find_location", "record_video_note",
                          "upload_video_note"):
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        with self.lock:
            self.actions.append({"chat_id": chat["id"], "action": action, "time": time.monotonic()})
        return True
