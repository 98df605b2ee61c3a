"""Feed parsing, fetching and the per-feed state of the RSS app (standard library only).

- ``parse_feed(body)`` reads RSS 2.0, RSS 1.0 (RDF) and Atom 1.0 into a ``Feed`` with its items
  in document order; ``FeedError`` says why a document is not a feed.
- ``fetch(url, ...)`` is one conditional GET (ETag / Last-Modified) with a timeout and a body cap.
  It blocks: the app runs it in a worker thread.
- ``FeedState`` is what the app remembers per feed (hashed item keys, validators), stored as JSON
  and replaced atomically.
- ``new_items(feed, state, ...)`` decides what to post: items not seen yet, oldest first.

See docs/APP-RSS.md.
"""

from __future__ import annotations

import email.utils
import hashlib
import html
import json
import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Tuple

MAX_BODY_BYTES = 5 * 1024 * 1024
USER_AGENT = "OpenClawOS-RSS/1.0"
# How many keys of items no longer in the feed are remembered besides the current items.
MAX_OLD_KEYS = 1000

ATOM = "http://www.w3.org/2005/Atom"
RSS1 = "http://purl.org/rss/1.0/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"


class FeedError(Exception):
    """A feed that could not be fetched or read; the message is the reason (for the log)."""


@dataclass
class Item:
    key: str                     # sha256 of the item's identity (guid / id / link / title+date)
    title: str
    link: str
    published: Optional[float]   # Unix time, None when absent or unreadable
    position: int                # index in the document


@dataclass
class Feed:
    kind: str                    # "rss2", "rss1", "atom"
    title: str
    items: List[Item]


# --- parsing ------------------------------------------------------------------------------------

def _local(tag: str) -> Tuple[str, str]:
    """'{ns}name' → (ns, name); 'name' → ('', name)."""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


def _text(element: Optional[ET.Element]) -> str:
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


def _plain(text: str, markup: bool) -> str:
    """A one-line title: markup (Atom type="html"/"xhtml") stripped and entities decoded."""
    if markup:
        text = html.unescape(re.sub(r"<[^>]*>", "", text))
    return " ".join(text.split())


def _parse_date(text: str) -> Optional[float]:
    text = text.strip()
    if not text:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(text)       # RFC 822 (RSS 2.0)
    except (TypeError, ValueError, IndexError):
        try:
            moment = datetime.fromisoformat(text)             # RFC 3339 / ISO 8601 (Atom, dc:date)
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def item_key(identity: str) -> str:
    return hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()[:32]


def _make_item(identity: str, title: str, link: str, date: str, position: int) -> Item:
    published = _parse_date(date)
    if not identity:
        identity = "title:" + title + "|" + date
    return Item(item_key(identity), title or "(untitled)", link, published, position)


def _parse_rss2(root: ET.Element) -> Feed:
    channel = root.find("channel")
    if channel is None:
        raise FeedError("RSS document without <channel>")
    items = []
    for i, it in enumerate(channel.findall("item")):
        title = _plain(_text(it.find("title")), False)
        link = _text(it.find("link"))
        guid = _text(it.find("guid"))
        date = _text(it.find("pubDate")) or _text(it.find(f"{{{DC}}}date"))
        items.append(_make_item(guid or link, title, link, date, i))
    return Feed("rss2", _plain(_text(channel.find("title")), False), items)


def _parse_rss1(root: ET.Element) -> Feed:
    channel = root.find(f"{{{RSS1}}}channel")
    items = []
    for i, it in enumerate(root.findall(f"{{{RSS1}}}item")):
        title = _plain(_text(it.find(f"{{{RSS1}}}title")), False)
        link = _text(it.find(f"{{{RSS1}}}link"))
        about = it.get(f"{{{RDF}}}about", "").strip()
        items.append(_make_item(about or link, title, link, _text(it.find(f"{{{DC}}}date")), i))
    return Feed("rss1", _plain(_text(channel.find(f"{{{RSS1}}}title")) if channel is not None else "", False), items)


def _atom_title(element: ET.Element) -> str:
    title = element.find(f"{{{ATOM}}}title")
    if title is None:
        return ""
    kind = title.get("type", "text")
    return _plain(_text(title), kind in ("html", "xhtml"))


def _atom_link(entry: ET.Element) -> str:
    fallback = ""
    for link in entry.findall(f"{{{ATOM}}}link"):
        href = link.get("href", "").strip()
        rel = link.get("rel", "alternate")
        if rel == "alternate" and href:
            return href
        fallback = fallback or href
    return fallback


def _parse_atom(root: ET.Element) -> Feed:
    items = []
    for i, entry in enumerate(root.findall(f"{{{ATOM}}}entry")):
        link = _atom_link(entry)
        date = _text(entry.find(f"{{{ATOM}}}published")) or _text(entry.find(f"{{{ATOM}}}updated"))
        identity = _text(entry.find(f"{{{ATOM}}}id"))
        items.append(_make_item(identity or link, _atom_title(entry), link, date, i))
    return Feed("atom", _atom_title(root), items)


def parse_feed(body: bytes) -> Feed:
    """Parses an RSS 2.0 / RSS 1.0 / Atom 1.0 document. Raises FeedError for anything else:
    malformed XML, an unknown root element, or entity declarations (refused outright, so no
    entity-expansion tricks reach the parser)."""
    if len(body) > MAX_BODY_BYTES:
        raise FeedError(f"feed larger than {MAX_BODY_BYTES} bytes")
    if b"<!ENTITY" in body:
        raise FeedError("entity declarations are not accepted")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise FeedError(f"malformed XML: {e}") from None
    ns, name = _local(root.tag)
    if name == "rss" and ns == "":
        return _parse_rss2(root)
    if name == "RDF" and ns == RDF:
        return _parse_rss1(root)
    if name == "feed" and ns == ATOM:
        return _parse_atom(root)
    raise FeedError(f"not an RSS or Atom feed (root element {root.tag})")


# --- fetching -----------------------------------------------------------------------------------

@dataclass
class FetchResult:
    status: int                  # 200, or 304 (not modified: body empty)
    body: bytes = b""
    etag: Optional[str] = None
    last_modified: Optional[str] = None


# No proxy from the environment: the kernel builds the app's environment, so what a proxy would
# be is not defined here.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str, etag: Optional[str], last_modified: Optional[str], timeout: float,
          max_bytes: int = MAX_BODY_BYTES,
          opener: Callable[..., object] = _OPENER.open) -> FetchResult:
    """One GET of ``url`` with If-None-Match / If-Modified-Since when known. Returns the 200 body
    (at most ``max_bytes``) or a 304. Raises FeedError for HTTP errors, network errors, timeouts and
    oversized bodies. Blocks for up to about ``timeout`` seconds per network operation."""
    if not url.startswith(("http://", "https://")):
        raise FeedError("only http and https URLs are fetched")
    headers = {"User-Agent": USER_AGENT,
               "Accept": "application/rss+xml, application/atom+xml, application/xml, text/xml;q=0.9, */*;q=0.1"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    request = urllib.request.Request(url, headers=headers)
    try:
        with opener(request, timeout=timeout) as response:
            body = response.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise FeedError(f"feed larger than {max_bytes} bytes")
            return FetchResult(response.status, body, response.headers.get("ETag"),
                               response.headers.get("Last-Modified"))
    except urllib.error.HTTPError as e:
        if e.code == 304:
            return FetchResult(304, b"", e.headers.get("ETag") if e.headers else None,
                               e.headers.get("Last-Modified") if e.headers else None)
        raise FeedError(f"HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise FeedError(f"cannot fetch: {e.reason}") from None
    except (TimeoutError, OSError) as e:
        raise FeedError(f"cannot fetch: {type(e).__name__}: {e}") from None


# --- state --------------------------------------------------------------------------------------

@dataclass
class FeedState:
    initialized: bool = False    # the first poll has happened (items then present were marked seen)
    seen: List[str] = field(default_factory=list)  # item keys, oldest first
    etag: Optional[str] = None
    last_modified: Optional[str] = None

    def to_json(self) -> bytes:
        return json.dumps({"version": 1, "initialized": self.initialized, "seen": self.seen,
                           "etag": self.etag, "lastModified": self.last_modified}).encode("utf-8")

    @staticmethod
    def from_json(data: bytes) -> "FeedState":
        """Raises ValueError for a file that is not a state document."""
        doc = json.loads(data.decode("utf-8"))
        if not isinstance(doc, dict) or not isinstance(doc.get("seen", []), list):
            raise ValueError("not a feed state document")
        return FeedState(bool(doc.get("initialized")), [k for k in doc.get("seen", []) if isinstance(k, str)],
                         doc.get("etag") if isinstance(doc.get("etag"), str) else None,
                         doc.get("lastModified") if isinstance(doc.get("lastModified"), str) else None)

    def mark_seen(self, keys: List[str], current: List[str]) -> None:
        """Adds ``keys``; keeps every key of the ``current`` feed and the last MAX_OLD_KEYS others,
        so an item that is still in the feed is never forgotten (and never posted again)."""
        known = set(self.seen)
        for k in keys:
            if k not in known:
                known.add(k)
                self.seen.append(k)
        in_feed = set(current)
        old = [k for k in self.seen if k not in in_feed]
        drop = set(old[:max(0, len(old) - MAX_OLD_KEYS)])
        if drop:
            self.seen = [k for k in self.seen if k not in drop]

    def forget(self, keys: List[str]) -> None:
        gone = set(keys)
        self.seen = [k for k in self.seen if k not in gone]


def state_file_name(url: str, session_key: str) -> str:
    """One state file per (url, sessionKey): the same feed posted to two conversations is
    tracked twice."""
    return "feed-" + hashlib.sha256(f"{url}\n{session_key}".encode()).hexdigest()[:24] + ".json"


def new_items(feed: Feed, state: FeedState, max_items: int) -> Tuple[List[Item], List[Item]]:
    """(to post, skipped): the items whose key is not in ``state.seen``, oldest first. When every one
    of them has a date they are ordered by date; otherwise by reverse document order (feeds list
    the newest first). Only the newest ``max_items`` are posted; older surplus items are skipped
    (marked seen without posting)."""
    seen = set(state.seen)
    fresh: Dict[str, Item] = {}
    for item in feed.items:
        if item.key not in seen and item.key not in fresh:
            fresh[item.key] = item
    items = list(fresh.values())
    if items and all(i.published is not None for i in items):
        items.sort(key=lambda i: (i.published, -i.position))
    else:
        items.sort(key=lambda i: -i.position)
    cut = max(0, len(items) - max_items)
    return items[cut:], items[:cut]


def message_for(name: str, item: Item) -> str:
    """"<feed name>: <title>\\n<link>" (no second line without a link)."""
    text = f"{name}: {item.title}"
    return f"{text}\n{item.link}" if item.link else text


def read_state(path: str) -> FeedState:
    """The stored state; a fresh one when the file does not exist. Raises ValueError for a file
    that is not a state document and OSError when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return FeedState.from_json(f.read())
    except FileNotFoundError:
        return FeedState()


def display_name(configured: Optional[str], feed: Optional[Feed], url: str) -> str:
    if configured:
        return configured
    if feed is not None and feed.title:
        return feed.title
    host = re.sub(r"^https?://", "", url).split("/", 1)[0]
    return host or url


__all__ = ["FeedError", "Item", "Feed", "parse_feed", "fetch", "FetchResult", "FeedState",
           "state_file_name", "new_items", "message_for", "read_state", "display_name", "item_key",
           "MAX_BODY_BYTES"]
