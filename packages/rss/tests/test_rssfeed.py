"""Unit tests of the RSS app's feed module (parsing, conditional fetch, state, selection) and of
its config reading. Run: python3 -m unittest discover -s packages/rss/tests -v"""

import http.server
import logging
import os
import sys
import tempfile
import threading
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))                                   # rssfeed, main
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "sdk", "python"))   # openclawos_sdk

import rssfeed  # noqa: E402
from rssfeed import FeedError, FeedState, new_items, parse_feed  # noqa: E402

RSS2 = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
 <channel>
  <title>Example  News</title>
  <link>https://example.org/</link>
  <item><title>Third &amp; newest</title><link>https://example.org/3</link>
        <guid isPermaLink="false">id-3</guid><pubDate>Wed, 03 Jan 2024 10:00:00 +0000</pubDate></item>
  <item><title>Second</title><link>https://example.org/2</link>
        <pubDate>Tue, 02 Jan 2024 10:00:00 GMT</pubDate></item>
  <item><title>First</title><link>https://example.org/1</link><dc:date>2024-01-01T10:00:00Z</dc:date></item>
 </channel>
</rss>"""

RSS1 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
         xmlns:dc="http://purl.org/dc/elements/1.1/">
 <channel rdf:about="https://rdf.example/"><title>RDF Site</title><link>https://rdf.example/</link></channel>
 <item rdf:about="https://rdf.example/b"><title>B</title><link>https://rdf.example/b</link>
       <dc:date>2024-02-02T00:00:00+01:00</dc:date></item>
 <item rdf:about="https://rdf.example/a"><title>A</title><link>https://rdf.example/a</link></item>
</rdf:RDF>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
 <title type="html">Atom &lt;b&gt;Blog&lt;/b&gt;</title>
 <entry><title>Newer</title><id>urn:uuid:2</id>
   <link rel="edit" href="https://atom.example/edit/2"/><link href="https://atom.example/2"/>
   <updated>2024-03-02T12:00:00Z</updated></entry>
 <entry><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">Older <em>one</em></div></title>
   <id>urn:uuid:1</id><link rel="alternate" href="https://atom.example/1"/>
   <published>2024-03-01T12:00:00Z</published><updated>2024-03-05T12:00:00Z</updated></entry>
</feed>"""


class ParseTest(unittest.TestCase):
    def test_rss2(self):
        feed = parse_feed(RSS2)
        self.assertEqual((feed.kind, feed.title), ("rss2", "Example News"))
        self.assertEqual([i.title for i in feed.items], ["Third & newest", "Second", "First"])
        self.assertEqual(feed.items[0].link, "https://example.org/3")
        self.assertEqual(feed.items[0].key, rssfeed.item_key("id-3"))            # guid first
        self.assertEqual(feed.items[1].key, rssfeed.item_key("https://example.org/2"))  # then link
        self.assertEqual(feed.items[0].published, 1704276000.0)
        self.assertEqual(feed.items[2].published, 1704103200.0)               # dc:date

    def test_rss1(self):
        feed = parse_feed(RSS1)
        self.assertEqual((feed.kind, feed.title), ("rss1", "RDF Site"))
        self.assertEqual([(i.title, i.link) for i in feed.items],
                         [("B", "https://rdf.example/b"), ("A", "https://rdf.example/a")])
        self.assertEqual(feed.items[0].key, rssfeed.item_key("https://rdf.example/b"))
        self.assertEqual(feed.items[0].published, 1706828400.0)
        self.assertIsNone(feed.items[1].published)

    def test_atom(self):
        feed = parse_feed(ATOM)
        self.assertEqual((feed.kind, feed.title), ("atom", "Atom Blog"))
        self.assertEqual([(i.title, i.link) for i in feed.items],
                         [("Newer", "https://atom.example/2"), ("Older one", "https://atom.example/1")])
        self.assertEqual(feed.items[0].key, rssfeed.item_key("urn:uuid:2"))
        self.assertEqual(feed.items[1].published, 1709294400.0)  # published wins over updated

    def test_items_without_identity_or_title(self):
        feed = parse_feed(b"<rss><channel><item><description>x</description></item></channel></rss>")
        self.assertEqual(feed.items[0].title, "(untitled)")
        self.assertEqual(feed.items[0].link, "")
        self.assertEqual(len(feed.items[0].key), 32)

    def test_bad_documents(self):
        cases = [(b"<rss><channel><item>", "malformed XML"),
                 (b"not xml at all", "malformed XML"),
                 (b"<html><body/></html>", "not an RSS or Atom feed"),
                 (b"<rss version='2.0'/>", "without <channel>"),
                 (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><rss><channel/></rss>',
                  "entity declarations"),
                 (b" " * (rssfeed.MAX_BODY_BYTES + 1), "larger than")]
        for body, reason in cases:
            with self.subTest(reason=reason):
                with self.assertRaises(FeedError) as ctx:
                    parse_feed(body)
                self.assertIn(reason, str(ctx.exception))


class SelectionTest(unittest.TestCase):
    def test_new_items_oldest_first_by_date(self):
        feed = parse_feed(RSS2)
        state = FeedState(True, [feed.items[2].key])
        post, skipped = new_items(feed, state, 5)
        self.assertEqual([i.title for i in post], ["Second", "Third & newest"])
        self.assertEqual(skipped, [])

    def test_without_dates_reverse_document_order_and_cap(self):
        feed = parse_feed(RSS1)                        # one item has no date
        post, skipped = new_items(feed, FeedState(), 5)
        self.assertEqual([i.title for i in post], ["A", "B"])
        post, skipped = new_items(feed, FeedState(), 1)  # only the newest is posted
        self.assertEqual(([i.title for i in post], [i.title for i in skipped]), (["B"], ["A"]))

    def test_message_and_names(self):
        item = parse_feed(ATOM).items[0]
        self.assertEqual(rssfeed.message_for("Blog", item), "Blog: Newer\nhttps://atom.example/2")
        item.link = ""
        self.assertEqual(rssfeed.message_for("Blog", item), "Blog: Newer")
        self.assertEqual(rssfeed.display_name("Mine", None, "https://x.org/f"), "Mine")
        self.assertEqual(rssfeed.display_name(None, parse_feed(RSS2), "https://x.org/f"), "Example News")
        self.assertEqual(rssfeed.display_name(None, None, "https://x.org:8080/f"), "x.org:8080")


class StateTest(unittest.TestCase):
    def test_round_trip_and_broken_files(self):
        s = FeedState(True, ["a", "b"], '"e1"', "Tue, 02 Jan 2024 10:00:00 GMT")
        self.assertEqual(FeedState.from_json(s.to_json()), s)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "state.json")
            self.assertEqual(rssfeed.read_state(path), FeedState())
            with open(path, "wb") as f:
                f.write(b"{broken")
            with self.assertRaises(ValueError):
                rssfeed.read_state(path)

    def test_mark_seen_keeps_current_items_and_bounds_old_ones(self):
        s = FeedState(True, [])
        old = [f"old{i}" for i in range(rssfeed.MAX_OLD_KEYS + 10)]
        s.mark_seen(old, ["old0"])
        s.mark_seen(["cur1", "cur2", "cur1"], ["cur1", "cur2", "old0"])
        self.assertTrue("old0" in s.seen)       # still in the feed: kept
        self.assertFalse("old1" in s.seen)      # the oldest others are dropped
        self.assertTrue(old[-1] in s.seen)
        self.assertEqual(s.seen.count("cur1"), 1)
        self.assertEqual(len([k for k in s.seen if k.startswith("old") and k != "old0"]), rssfeed.MAX_OLD_KEYS)
        s.forget(["cur2"])
        self.assertFalse("cur2" in s.seen)

    def test_state_file_names_differ_per_conversation(self):
        a = rssfeed.state_file_name("https://x/f", "irc:#a")
        self.assertNotEqual(a, rssfeed.state_file_name("https://x/f", "irc:#b"))
        self.assertRegex(a, r"^feed-[0-9a-f]{24}\.json$")


class _Handler(http.server.BaseHTTPRequestHandler):
    routes = {}
    seen_headers = []

    def do_GET(self):
        type(self).seen_headers.append(dict(self.headers))
        status, headers, body = type(self).routes.get(self.path, (404, {}, b"nope"))
        if status == 200 and "ETag" in headers and self.headers.get("If-None-Match") == headers["ETag"]:
            status, body = 304, b""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class FetchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()
        cls.base = f"http://127.0.0.1:{cls.server.server_address[1]}"
        _Handler.routes = {"/feed": (200, {"ETag": '"v1"', "Last-Modified": "Tue, 02 Jan 2024 10:00:00 GMT"}, RSS2),
                           "/big": (200, {}, b"x" * 2000),
                           "/fail": (500, {}, b"boom")}

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def test_200_then_conditional_304(self):
        r = rssfeed.fetch(self.base + "/feed", None, None, 5)
        self.assertEqual((r.status, r.body, r.etag), (200, RSS2, '"v1"'))
        self.assertEqual(r.last_modified, "Tue, 02 Jan 2024 10:00:00 GMT")
        again = rssfeed.fetch(self.base + "/feed", r.etag, r.last_modified, 5)
        self.assertEqual((again.status, again.body), (304, b""))
        sent = _Handler.seen_headers[-1]
        self.assertEqual(sent["If-None-Match"], '"v1"')
        self.assertEqual(sent["If-Modified-Since"], "Tue, 02 Jan 2024 10:00:00 GMT")
        self.assertEqual(sent["User-Agent"], rssfeed.USER_AGENT)

    def test_errors(self):
        cases = [(self.base + "/fail", "HTTP 500"), (self.base + "/missing", "HTTP 404"),
                 ("file:///etc/passwd", "only http and https"),
                 ("http://127.0.0.1:1/closed", "cannot fetch")]
        for url, reason in cases:
            with self.subTest(url=url):
                with self.assertRaises(FeedError) as ctx:
                    rssfeed.fetch(url, None, None, 5)
                self.assertIn(reason, str(ctx.exception))
        with self.assertRaises(FeedError) as ctx:
            rssfeed.fetch(self.base + "/big", None, None, 5, max_bytes=1000)
        self.assertIn("larger than 1000", str(ctx.exception))


class SettingsTest(unittest.TestCase):
    def test_defaults_and_bad_entries(self):
        import main  # the app module: importable without starting it
        log = logging.getLogger("rss-test")
        s = main.read_settings({"feeds": [{"url": "https://a/f", "sessionKey": "irc:#news"}]}, log)
        (fc,) = s.feeds.values()
        self.assertEqual((fc.url, fc.session_key, fc.interval, fc.name), ("https://a/f", "irc:#news", 900, None))
        self.assertEqual((s.max_items, s.announce_existing, s.timeout), (5, False, 20.0))
        with self.assertLogs("rss-test", "WARNING") as logs:
            s = main.read_settings({"feeds": [{"url": "ftp://a", "sessionKey": "irc:#x"},
                                              {"url": "https://b", "sessionKey": "nocolon"},
                                              {"url": "https://c", "sessionKey": "t:1", "intervalSec": 0},
                                              "junk",
                                              {"url": "https://d", "sessionKey": "t:1", "intervalSec": 60,
                                               "name": "D"}],
                                    "maxItemsPerPoll": 2, "announceExisting": True}, log)
        self.assertEqual(len(logs.output), 4)
        self.assertEqual([(f.url, f.interval, f.name) for f in s.feeds.values()], [("https://d", 60, "D")])
        self.assertEqual((s.max_items, s.announce_existing), (2, True))
        self.assertEqual(main.read_settings(None, log).feeds, {})


if __name__ == "__main__":
    unittest.main()
