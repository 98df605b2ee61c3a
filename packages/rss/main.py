#!/usr/bin/env python3
"""@openclawos/rss: watches RSS/Atom feeds and posts new items to conversations.

Config ``apps.@openclawos/rss``: ``{enabled, feeds: [{url, sessionKey, intervalSec?, name?}],
maxItemsPerPoll, announceExisting, timeoutSec}`` (the manifest's configSchema). Each feed is polled
on its own interval with a conditional GET; items not seen before are posted oldest first through
``message.dispatch {sessionKey, content: "<name>: <title>\\n<link>"}``. What was seen is kept per
feed in the app's data directory, so a restart never posts an item twice. Feed list changes arrive
through ``config.watch`` and apply at once. Method ``rss.status`` reports every feed's last poll.
See docs/APP-RSS.md.
"""

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.realpath(__file__))
# The build vendors the SDK beside this file; ../../sdk/python serves runs from the source tree.
for _candidate in (os.path.join(HERE, "vendor"), os.path.join(HERE, "..", "..", "sdk", "python")):
    if os.path.isdir(os.path.join(_candidate, "openclawos_sdk")):
        sys.path.insert(0, os.path.normpath(_candidate))
        break

from openclawos_sdk import App, KernelError, write_file_atomically  # noqa: E402
from rssfeed import (FeedError, FeedState, display_name, fetch, message_for,  # noqa: E402
                     new_items, parse_feed, read_state, state_file_name)

DEFAULT_INTERVAL = 900
DEFAULT_MAX_ITEMS = 5
DEFAULT_TIMEOUT = 20.0


@dataclass(frozen=True)
class FeedConfig:
    url: str
    session_key: str
    interval: int
    name: Optional[str]

    @property
    def key(self) -> str:
        return state_file_name(self.url, self.session_key)


@dataclass(frozen=True)
class Settings:
    feeds: Dict[str, FeedConfig]
    max_items: int
    announce_existing: bool
    timeout: float


def read_settings(value: Any, log) -> Settings:
    """The app's config section → Settings, with the schema's defaults. The kernel validates the
    section before starting the app; a live change is checked here too: a bad feed entry is
    logged and skipped, the others still apply."""
    value = value if isinstance(value, dict) else {}
    feeds: Dict[str, FeedConfig] = {}
    entries = value.get("feeds") if isinstance(value.get("feeds"), list) else []
    for index, entry in enumerate(entries):
        url = entry.get("url") if isinstance(entry, dict) else None
        session_key = entry.get("sessionKey") if isinstance(entry, dict) else None
        interval = entry.get("intervalSec", DEFAULT_INTERVAL) if isinstance(entry, dict) else None
        if (not isinstance(url, str) or not url.startswith(("http://", "https://"))
                or not isinstance(session_key, str) or ":" not in session_key.strip(":")
                or not isinstance(interval, int) or isinstance(interval, bool) or interval < 1):
            log.warning("feeds[%d] ignored: needs url (http/https), sessionKey "
                        "(<channel>:<conversation>) and intervalSec >= 1", index)
            continue
        name = entry.get("name") if isinstance(entry.get("name"), str) and entry.get("name") else None
        fc = FeedConfig(url, session_key, interval, name)
        feeds[fc.key] = fc
    max_items = value.get("maxItemsPerPoll", DEFAULT_MAX_ITEMS)
    timeout = value.get("timeoutSec", DEFAULT_TIMEOUT)
    return Settings(feeds,
                    max_items if isinstance(max_items, int) and max_items >= 1 else DEFAULT_MAX_ITEMS,
                    value.get("announceExisting") is True,
                    float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else DEFAULT_TIMEOUT)


class FeedStatus:
    """What rss.status reports for one feed (this process only)."""

    def __init__(self) -> None:
        self.polls = 0
        self.posted = 0
        self.last_poll_at: Optional[int] = None
        self.last_result: Optional[str] = None   # new-items | no-new-items | not-modified | first-poll | error
        self.last_error: Optional[str] = None

    def to_json(self) -> dict:
        return {"polls": self.polls, "posted": self.posted, "lastPollAt": self.last_poll_at,
                "lastResult": self.last_result, "lastError": self.last_error}


class FeedRunner:
    """Polls one feed every ``interval`` seconds until stopped. Stopping never interrupts a poll
    in progress (a poll half done could lose items), it only ends the wait between polls."""

    def __init__(self, app: "RssApp", config: FeedConfig) -> None:
        self.app = app
        self.config = config
        self.stopping = asyncio.Event()
        self.task = asyncio.create_task(self.run())

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> None:
        while not self.stopping.is_set():
            try:
                await self.app.poll(self.config)
            except Exception:
                self.app.log.exception("feed %s: poll failed", self.config.url)
            try:
                await asyncio.wait_for(self.stopping.wait(), self.config.interval)
            except asyncio.TimeoutError:
                pass


class RssApp(App):
    def __init__(self) -> None:
        super().__init__()
        self.settings = Settings({}, DEFAULT_MAX_ITEMS, False, DEFAULT_TIMEOUT)
        self.runners: Dict[str, FeedRunner] = {}
        self.status: Dict[str, FeedStatus] = {}
        self.locks: Dict[str, asyncio.Lock] = {}      # one poll at a time per feed, across runners
        self.memory_state: Dict[str, FeedState] = {}  # used only without a data directory
        self.watch_task: Optional[asyncio.Task] = None

    async def setup(self) -> None:
        if self.data_dir is None:
            self.log.warning("OPENCLAWOS_APP_DATA is not set: what was seen is kept in memory only "
                             "and feeds start over after a restart")
        await self.register_method("rss.status", self.rss_status)
        self.apply(await self.config_get())
        self.watch_task = asyncio.create_task(self.watch_config())

    async def teardown(self) -> None:
        if self.watch_task:
            self.watch_task.cancel()
        for runner in self.runners.values():
            runner.stop()
        # Polls in progress finish (bounded by the SDK's teardown timeout).
        await asyncio.gather(*(r.task for r in self.runners.values()), return_exceptions=True)

    # --- configuration --------------------------------------------------------------------------

    def apply(self, config: Any) -> None:
        """Starts runners for new or changed feeds and stops the ones no longer configured."""
        self.settings = read_settings(config, self.log)
        for key, runner in list(self.runners.items()):
            if self.settings.feeds.get(key) != runner.config:
                runner.stop()
                del self.runners[key]
        for key, fc in self.settings.feeds.items():
            if key not in self.runners:
                self.runners[key] = FeedRunner(self, fc)
                self.status.setdefault(key, FeedStatus())
        self.log.info("watching %d feed(s)", len(self.runners))

    async def watch_config(self) -> None:
        """config.watch on the app's section; reopened (and the config re-read) after a resume."""
        while not self.client.closed:
            try:
                async with self.client.stream("config.watch", {}) as changes:
                    async for change in changes:
                        if isinstance(change, dict) and "newValue" in change:
                            self.log.info("config changed")
                            self.apply(change["newValue"])
            except KernelError as e:
                self.log.debug("config.watch ended: %s", e)
            await asyncio.sleep(1.0)
            try:
                self.apply(await self.config_get())
            except KernelError as e:
                self.log.debug("config.get failed: %s", e)

    # --- polling --------------------------------------------------------------------------------

    def state_path(self, fc: FeedConfig) -> Optional[str]:
        return os.path.join(self.data_dir, fc.key) if self.data_dir else None

    def load_state(self, fc: FeedConfig) -> FeedState:
        path = self.state_path(fc)
        if path is None:
            return self.memory_state.get(fc.key) or FeedState()
        try:
            return read_state(path)
        except (OSError, ValueError) as e:
            self.log.warning("feed %s: state file %s unreadable (%s); starting over", fc.url, path, e)
            return FeedState()

    def save_state(self, fc: FeedConfig, state: FeedState) -> None:
        path = self.state_path(fc)
        if path is None:
            self.memory_state[fc.key] = state
            return
        write_file_atomically(path, state.to_json())

    async def poll(self, fc: FeedConfig) -> None:
        lock = self.locks.setdefault(fc.key, asyncio.Lock())
        async with lock:
            status = self.status.setdefault(fc.key, FeedStatus())
            status.polls += 1
            status.last_poll_at = int(time.time() * 1000)
            try:
                status.last_result = await self.poll_once(fc, status)
                status.last_error = None
            except FeedError as e:
                if status.last_error != str(e):
                    self.log.warning("feed %s failed: %s (retrying every %d s)", fc.url, e, fc.interval)
                status.last_result, status.last_error = "error", str(e)

    async def poll_once(self, fc: FeedConfig, status: FeedStatus) -> str:
        state = self.load_state(fc)
        settings = self.settings
        result = await asyncio.to_thread(fetch, fc.url, state.etag, state.last_modified, settings.timeout)
        if result.status == 304:
            return "not-modified"
        feed = parse_feed(result.body)
        first = not state.initialized
        to_post, skipped = new_items(feed, state, settings.max_items)
        if first and not settings.announce_existing:
            to_post, skipped = [], skipped + to_post
        if skipped and not first:
            self.log.info("feed %s: %d older new item(s) skipped (maxItemsPerPoll %d)",
                          fc.url, len(skipped), settings.max_items)
        # At least once: an item is marked seen (and saved) only after message.dispatch accepted
        # it, and the validators only after every item was posted, so a crash between the two
        # posts that one item again rather than losing it.
        current = [i.key for i in feed.items]
        state.initialized = True
        state.mark_seen([i.key for i in skipped], current)
        self.save_state(fc, state)
        name = display_name(fc.name, feed, fc.url)
        for n, item in enumerate(to_post):
            try:
                await self.dispatch(fc.session_key, message_for(name, item))
            except KernelError as e:
                raise FeedError(f"message.dispatch to {fc.session_key} failed: {e}; "
                                f"{len(to_post) - n} item(s) will be posted at the next poll") from None
            status.posted += 1
            state.mark_seen([item.key], current)
            self.save_state(fc, state)
        state.etag, state.last_modified = result.etag, result.last_modified
        self.save_state(fc, state)
        if first:
            self.log.info("feed %s: first poll, %d item(s) %s", fc.url, len(feed.items),
                          "announced" if to_post else "marked as seen")
            return "first-poll"
        return "new-items" if to_post else "no-new-items"

    # --- control plane --------------------------------------------------------------------------

    async def rss_status(self, params: Any) -> dict:
        feeds: List[dict] = []
        for key, fc in self.settings.feeds.items():
            entry = {"url": fc.url, "sessionKey": fc.session_key, "intervalSec": fc.interval,
                     "name": fc.name}
            entry.update(self.status.get(key, FeedStatus()).to_json())
            feeds.append(entry)
        return {"feeds": feeds, "maxItemsPerPoll": self.settings.max_items,
                "announceExisting": self.settings.announce_existing,
                "persistent": self.data_dir is not None}


if __name__ == "__main__":
    RssApp().run()
