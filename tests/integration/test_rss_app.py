"""The shipped RSS/Atom app (@openclawos/rss, Python SDK, docs/APP-RSS.md) in a real gateway: feeds
served by an HTTP server in this test, new items posted through message.dispatch to the test
channel app (its deliveries are logged to $TEST_CHANNEL_LOG), first poll silent, conditional GETs
answered 304, no item posted twice across a SIGKILL, a broken feed logged while the other feed
keeps delivering, and a feed added to the config file picked up live."""
import hashlib
import http.server
import json
import os
import signal
import threading
import time

from harness import Kernel, KernelTest, fast_supervisor, wait_for

PACKAGES = os.environ.get("OPENCLAW_PACKAGES", "")
TEST_PACKAGES = os.environ.get("OPENCLAW_TEST_PACKAGES", "")
ALPHA = os.path.join(TEST_PACKAGES, "test-channel-alpha")
RSS = "@openclawos/rss"


def rss2(title, items):
    """items: [(guid, title, day)] oldest first; written newest first, as feeds do."""
    body = "".join(f"<item><title>{t}</title><link>http://news.example/{g}</link><guid>{g}</guid>"
                   f"<pubDate>{day:02d} Jan 2024 10:00:00 +0000</pubDate></item>" for g, t, day in reversed(items))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'.encode()


def atom(title, entries):
    body = "".join(f'<entry><title>{t}</title><id>urn:{i}</id><link href="http://atom.example/{i}"/>'
                   f"<updated>2024-02-{day:02d}T10:00:00Z</updated></entry>" for i, t, day in reversed(entries))
    return f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>{title}</title>{body}</feed>'.encode()


def rdf(entries):
    body = "".join(f'<item rdf:about="http://rdf.example/{i}"><title>{t}</title><link>http://rdf.example/{i}</link></item>'
                   for i, t in reversed(entries))
    return ('<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            f'xmlns="http://purl.org/rss/1.0/"><channel><title>RDF</title></channel>{body}</rdf:RDF>').encode()


class FeedServer:
    """Serves feeds from a dict: path → {body, status, conditional}. With `conditional`, a GET whose
    If-None-Match equals the body's ETag gets 304. Records (path, status) of every answer."""

    def __init__(self):
        self.feeds = {}
        self.answers = []
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with server.lock:
                    feed = dict(server.feeds.get(self.path, {"body": b"no such feed", "status": 404}))
                etag = '"' + hashlib.sha1(feed["body"]).hexdigest()[:16] + '"'
                status, body = feed.get("status", 200), feed["body"]
                if status == 200 and feed.get("conditional", True) and self.headers.get("If-None-Match") == etag:
                    status, body = 304, b""
                with server.lock:
                    server.answers.append((self.path, status))
                self.send_response(status)
                self.send_header("ETag", etag)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def set(self, path, body, status=200, conditional=True):
        with self.lock:
            self.feeds[path] = {"body": body, "status": status, "conditional": conditional}

    def count(self, path, status):
        with self.lock:
            return sum(1 for p, s in self.answers if p == path and s == status)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class RssAppTest(KernelTest):
    def setUp(self):
        self.feeds = FeedServer()
        self.addCleanup(self.feeds.stop)

    def start(self):
        self.log_path = None
        k = Kernel({"apps": {"supervisor": fast_supervisor()}}, env={"OPENCLAWOS_SHIPPED_PACKAGES": PACKAGES})
        self.addCleanup(k.cleanup)
        self.log_path = os.path.join(k.home, "apps", "test-channel-alpha", "deliveries.jsonl")
        k.config["apps"].update({
            "test-channel-alpha": {"env": {"TEST_CHANNEL_LOG": self.log_path}},
            RSS: {"enabled": True, "feeds": [
                {"url": self.feeds.url("/news.xml"), "sessionKey": "alpha:news", "intervalSec": 1, "name": "News"},
                {"url": self.feeds.url("/blog.atom"), "sessionKey": "alpha:blog", "intervalSec": 1}]},
        })
        k.write_config()
        k.install(ALPHA)
        k.start()
        k.wait_state("test-channel-alpha", "ready")
        k.wait_state(RSS, "ready", timeout=15)
        return k

    def deliveries(self, target):
        try:
            with open(self.log_path) as f:
                records = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []
        return [r["content"] for r in records if r.get("delivered") and r["target"] == target]

    def wait_deliveries(self, target, expected, timeout=15):
        wait_for(lambda: self.deliveries(target) == expected, timeout, 0.1,
                 f"deliveries to {target} == {expected} (got {self.deliveries(target)})")

    def status(self, k, url):
        feeds = {f["url"]: f for f in k.control().call("rss.status")["feeds"]}
        return feeds.get(self.feeds.url(url))

    def wait_polls(self, k, url, polls, result=None, timeout=15):
        return wait_for(lambda: (lambda s: s if s and s["polls"] >= polls and (result is None or s["lastResult"] == result)
                                 else None)(self.status(k, url)), timeout, 0.1,
                        f"{url}: {polls} poll(s) ending in {result} (now {self.status(k, url)})")

    def test_feeds_post_new_items_once_in_order(self):
        news = [("n1", "Old news", 1), ("n2", "Older news", 2)]
        blog = [("b1", "Hello", 1)]
        self.feeds.set("/news.xml", rss2("News site", news))
        self.feeds.set("/blog.atom", atom("Atom Blog", blog))
        k = self.start()

        # First poll: everything already there is marked seen, nothing is posted; then 304s.
        self.wait_polls(k, "/news.xml", 1, "first-poll")
        self.wait_polls(k, "/blog.atom", 1, "first-poll")
        self.wait_polls(k, "/news.xml", 3, "not-modified")
        self.assertGreaterEqual(self.feeds.count("/news.xml", 304), 2)
        self.assertEqual((self.deliveries("news"), self.deliveries("blog")), ([], []))

        # New items: posted oldest first, each once.
        news += [("n3", "Third", 3), ("n4", "Fourth &amp; last", 4)]
        blog += [("b2", "Second post", 2)]
        self.feeds.set("/news.xml", rss2("News site", news))
        self.feeds.set("/blog.atom", atom("Atom Blog", blog))
        expected_news = ["News: Third\nhttp://news.example/n3", "News: Fourth & last\nhttp://news.example/n4"]
        self.wait_deliveries("news", expected_news)
        self.wait_deliveries("blog", ["Atom Blog: Second post\nhttp://atom.example/b2"])
        polls = self.status(k, "/news.xml")["polls"]
        self.wait_polls(k, "/news.xml", polls + 2)
        self.assertEqual(self.deliveries("news"), expected_news)
        self.assertEqual(self.status(k, "/news.xml")["posted"], 2)

        # SIGKILL, with the server ignoring the validators: the stored keys alone prevent reposts.
        self.feeds.set("/news.xml", rss2("News site", news), conditional=False)
        before = k.status_of(RSS)
        os.kill(before["pid"], signal.SIGKILL)
        wait_for(lambda: k.status_of(RSS).get("restartCount", 0) > before["restartCount"]
                 and k.status_of(RSS).get("state") == "ready", 15, 0.1, "the rss app to come back")
        self.wait_polls(k, "/news.xml", 2, "no-new-items")
        self.assertEqual(self.deliveries("news"), expected_news)
        self.assertEqual(len(self.deliveries("blog")), 1)
        news.append(("n5", "After the restart", 5))
        self.feeds.set("/news.xml", rss2("News site", news), conditional=False)
        expected_news.append("News: After the restart\nhttp://news.example/n5")
        self.wait_deliveries("news", expected_news)

        # An item that appears while the app is stopped is new after the start, not a first poll:
        # what was seen is kept in the app's data directory.
        self.assertTrue(k.control().call("rss.status")["persistent"])
        state_files = os.listdir(os.path.join(k.home, "apps", RSS.replace("/", "_")))
        self.assertEqual(len([f for f in state_files if f.startswith("feed-")]), 2, state_files)
        k.control().call("apps.stop", {"id": RSS})
        news.append(("n6", "While stopped", 6))
        self.feeds.set("/news.xml", rss2("News site", news))
        k.control().call("apps.start", {"id": RSS})
        k.wait_state(RSS, "ready", timeout=15)
        expected_news.append("News: While stopped\nhttp://news.example/n6")
        self.wait_deliveries("news", expected_news)

        # A failing feed is logged with its URL and reason; the app and the other feed carry on.
        pid = k.status_of(RSS)["pid"]
        self.feeds.set("/blog.atom", b"gone", status=500)
        self.wait_polls(k, "/blog.atom", 1, "error")
        self.feeds.set("/blog.atom", b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>x')
        wait_for(lambda: "malformed XML" in (self.status(k, "/blog.atom")["lastError"] or ""), 10, 0.1,
                 "the malformed feed to be reported")
        news.append(("n7", "Still flowing", 7))
        self.feeds.set("/news.xml", rss2("News site", news))
        expected_news.append("News: Still flowing\nhttp://news.example/n7")
        self.wait_deliveries("news", expected_news)
        log = "\n".join(k.app_log(RSS))
        self.assertIn(f"feed {self.feeds.url('/blog.atom')} failed: HTTP 500", log)
        self.assertIn(f"feed {self.feeds.url('/blog.atom')} failed: malformed XML", log)
        self.assertEqual(k.status_of(RSS)["pid"], pid)
        self.assertEqual(k.status_of(RSS)["state"], "ready")
        # repaired: only the entry that is new is posted
        blog.append(("b3", "Back again", 3))
        self.feeds.set("/blog.atom", atom("Atom Blog", blog))
        self.wait_deliveries("blog", ["Atom Blog: Second post\nhttp://atom.example/b2",
                                      "Atom Blog: Back again\nhttp://atom.example/b3"])

        # A feed added to the config file is watched at once (config.watch), first poll silent.
        self.feeds.set("/site.rdf", rdf([("r1", "Existing")]))
        k.config["apps"][RSS]["feeds"].append(
            {"url": self.feeds.url("/site.rdf"), "sessionKey": "alpha:rdf", "intervalSec": 1, "name": "RDF"})
        k.write_config()
        self.wait_polls(k, "/site.rdf", 1, "first-poll")
        self.feeds.set("/site.rdf", rdf([("r1", "Existing"), ("r2", "Fresh")]))
        self.wait_deliveries("rdf", ["RDF: Fresh\nhttp://rdf.example/r2"])
        self.assertEqual(k.status_of(RSS)["pid"], pid)  # applied live, no restart
        time.sleep(1.5)
        self.assertEqual(self.deliveries("news"), expected_news)

    def test_invalid_config_keeps_the_app_from_starting(self):
        k = Kernel({"apps": {"supervisor": fast_supervisor(), RSS: {
            "enabled": True, "feeds": [{"url": "ftp://nope", "sessionKey": "alpha:x"}]}}},
            env={"OPENCLAWOS_SHIPPED_PACKAGES": PACKAGES})
        self.addCleanup(k.cleanup)
        k.start()
        st = k.wait_state(RSS, "error", timeout=15)
        self.assertIn("feeds[0].url", st.get("lastError", ""))


if __name__ == "__main__":
    import unittest
    unittest.main()
